/*
 * redisconn.h - one Redis connection of one process, made and remade the
 * way every user of Redis in tollgate needs it: over TCP or a unix
 * socket with a timeout on connect and on every reply, AUTH and SELECT
 * after connect, remade in a forked child (a socket is never shared
 * between processes), an optional back-off after a failure, and Redis
 * Sentinel: the master of a monitored group is asked of the sentinels
 * before every connect and checked with ROLE, so a failover is followed
 * and a replica is never written to.
 *
 * Server syntax (redisconn_parse):
 *   HOST:PORT, [IPV6]:PORT, unix:/PATH, /PATH    one server
 *   sentinel:MASTERNAME@HOST:PORT[,HOST:PORT...]  the master MASTERNAME
 *                                                 as the sentinels see it
 * The password and db apply to the master; the sentinels get AUTH with
 * sentinel_password when one is set.
 *
 * Life cycle: redisconn_create (no I/O: it may run in a parent that
 * forks) -> redisconn_connect when redisconn_context is NULL -> commands
 * on the context -> redisconn_drop after an I/O error, redisconn_failed
 * when the failure should start the back-off -> redisconn_free. The
 * struct redisconn owns its hiredis context; the context stays valid
 * until the next redisconn_drop/connect/free.
 *
 * Error texts start "redis SERVER: " (SERVER as configured) and stay
 * valid until the next call on the same object.
 */
#ifndef TG_REDISCONN_H
#define TG_REDISCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "lib/netio.h"

#define REDISCONN_SENTINELS_MAX 16	/* sentinels in one sentinel: spec */
#define REDISCONN_NAME_MAX 64		/* length of a sentinel master name */

/* a parsed server setting */
struct redisconn_spec {
	char master[REDISCONN_NAME_MAX + 1];	/* "": one server, eps[0] */
	struct endpoint eps[REDISCONN_SENTINELS_MAX];
	size_t n;				/* servers in eps: 1, or the sentinels */
};

struct redisconn_opts {
	const char *server;	/* the syntax above */
	int db;			/* SELECTed when not 0 */
	const char *password;	/* AUTH when not NULL or empty */
	const char *sentinel_password;	/* AUTH to each sentinel when not NULL or empty */
	int timeout_ms;		/* connect, and each reply; > 0 */
	int retry_ms;		/* after redisconn_failed, connects fail at once this long; 0: no back-off */
	const char *down_text;	/* logged (warning) when the server becomes
				   unavailable, with "available again" (info)
				   when it comes back; NULL: not logged */
};

struct redisconn;

/* redisconn_parse - parse a server setting; 0 or -1 with *error_r */
int redisconn_parse(const char *server, struct redisconn_spec *spec, const char **error_r);
/* redisconn_create - an unconnected object; 0 or -1 with *error_r (bad server syntax) */
int redisconn_create(struct redisconn **rc_r, const struct redisconn_opts *o, const char **error_r);
/* redisconn_free - close and free, wiping the password; sets *rcp to NULL */
void redisconn_free(struct redisconn **rcp);
/* redisconn_context - the live connection this process made, or NULL
 * (none, broken, or inherited from a parent: then dropped here) */
redisContext *redisconn_context(struct redisconn *rc);
/* redisconn_connect - a new connection (for sentinel: ask the sentinels,
 * connect to the master, check ROLE); 0, or -1 with *error_r, after
 * which the back-off runs; inside the back-off -1 at once */
int redisconn_connect(struct redisconn *rc, const char **error_r);
/* redisconn_drop - close this process's connection (after an I/O error) */
void redisconn_drop(struct redisconn *rc);
/* redisconn_failed - a failure (why: its text) starts the back-off and is logged once */
void redisconn_failed(struct redisconn *rc, const char *why);
/* redisconn_reply_error - r is an error reply: drop the connection when
 * it says the server is not (or no longer) a writable master
 * (-READONLY, -MASTERDOWN), so the next connect asks the sentinels
 * again; 1 when dropped, else 0 */
int redisconn_reply_error(struct redisconn *rc, const redisReply *r);

#endif
