/*
 * routing.h - where a message goes and how it gets there: forward
 * methods, the SMTP/LMTP delivery client with its connection cache, and
 * the mapping of downstream replies to the replies we give upstream.
 *
 * Life cycle: a worker creates one deliver_cache at start and frees it
 * at exit; deliver() may leave a connection in it for the next message
 * (forward_connection_cache_time). Methods are parsed once per config.
 */
#ifndef TG_ROUTING_H
#define TG_ROUTING_H

#include <stddef.h>
#include <time.h>

#include "lib/message.h"
#include "lib/netio.h"

enum fwd_proto { FWD_SMTP, FWD_LMTP };

struct fwd_method {
	enum fwd_proto proto;
	struct endpoint ep;
	char spec[300];			/* as written, for "from MTA(...)" and logs */
};

/* method_parse - "smtp:[127.0.0.1]:10025", "smtp:host:25",
 * "lmtp:unix:/path", "lmtp:[::1]:24"; 0 or -1 with *error_r */
int method_parse(const char *spec, struct fwd_method *m, const char **error_r);

struct deliver_opts {
	int connect_timeout;		/* seconds */
	int command_timeout;
	int data_done_timeout;
	int cache_time;			/* 0: close after each message */
	const char *helo_name;
};

struct deliver_cache;

struct deliver_cache *deliver_cache_create(void);
/* deliver_cache_expire - close cached connections idle past cache_time */
void deliver_cache_expire(struct deliver_cache *dc, const struct deliver_opts *o, time_t now);
void deliver_cache_free(struct deliver_cache **dcp);

/*
 * deliver - one transaction to method m for the n recipients whose
 * indexes into msg->rcpts are idx[0..n-1]: prepend (CRLF-terminated
 * header lines, may be empty) goes before the spooled content, of
 * which the first skip bytes are left out (an edited header section
 * in prepend replaces them; 0 for none).
 * XFORWARD is sent when the server offers it, DSN parameters when it
 * offers DSN, and commands are pipelined when it offers PIPELINING.
 *
 * Sets msg->rcpts[idx[i]].code, .reply and .queued_as for each listed
 * recipient: a downstream 2xx/4xx/5xx becomes
 * "<code> <enh> from MTA(<method>): <downstream reply>"; a failure of
 * the whole transaction (connect, timeout, 421, lost connection) gives
 * each of them "451 4.5.0 Error in processing, id=<am_id>, forwarding
 * err: <reason>". A cached connection found dead before the end of
 * data was sent is replaced once before anything is tempfailed.
 * Returns the number of recipients accepted downstream (2xx).
 */
int deliver(struct deliver_cache *dc, const struct deliver_opts *o, const struct fwd_method *m,
    struct message *msg, const size_t *idx, size_t n, const char *prepend, size_t prepend_len,
    size_t skip);

/* reply_from_mta - "<code> <enh> from MTA(<spec>): <line>" in the arena;
 * the enhanced code is taken from line, or made from the class digit */
const char *reply_from_mta(struct arena *a, const char *spec, const char *line);

/*
 * reply_one_for_all - the single reply for an SMTP (not LMTP) client,
 * from the recipients' replies, as amavisd's one_response_for_all:
 * the first 4xx wins; else if every recipient is 5xx, the first 5xx;
 * else the first 2xx (with ", but N REJECT" appended when some were
 * rejected). Returns a line without CRLF, in the arena.
 */
const char *reply_one_for_all(struct message *msg);

#endif
