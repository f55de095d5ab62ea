/*
 * routing.h - where a message goes and how it gets there: forward
 * methods, the SMTP/LMTP delivery client with its connection cache, and
 * the mapping of downstream replies to the replies we give upstream.
 *
 * Life cycle: a worker creates one deliver_cache at start and frees it
 * at exit; deliver() may leave a connection in it for the next message
 * (forward_connection_cache_time). Methods are parsed once per config.
 * The cache also owns the client TLS contexts deliver() builds (one
 * per distinct CA file and match name), freed with it.
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

/*
 * TLS towards the next hop (routing/deliver_tls.c), Postfix's smtp_tls_security_level:
 *   TLS_NONE     never STARTTLS
 *   TLS_MAY      STARTTLS when offered, no certificate check; if the
 *                server refuses STARTTLS or the handshake fails, the
 *                message goes in plaintext (a failed handshake costs a
 *                fresh plaintext connection)
 *   TLS_ENCRYPT  TLS required, no certificate check
 *   TLS_VERIFY   TLS required, certificate chain verified against ca_file
 *                (NULL or "": the system's default trust store); the
 *                name is checked too when match_name is given
 *   TLS_SECURE   as verify, and the certificate must match match_name
 *                (one name, or several separated by ':'; an IP address
 *                literal is matched against IP SANs); NULL or "": the
 *                next-hop host of the method
 * At encrypt and above a recipient never goes out in plaintext: when
 * STARTTLS is not offered, refused, or fails (handshake, verification),
 * no MAIL is sent and every recipient of that delivery gets
 *   "450 4.7.4 TLS is required but was not available: <reason>"
 * or, with bounce set, "554 5.7.4 ..." (tls_failure_action).
 * The strings are not copied: they must stay valid during the call.
 */
enum tls_level { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY, TLS_SECURE };

struct tls_policy {
	enum tls_level level;
	const char *ca_file;
	const char *match_name;
	int bounce;			/* TLS required but unavailable: 5xx, not 4xx */
};

/* tls_level_parse - "none", "may", "encrypt", "verify", "secure"
 * (case-insensitive); 0, or -1 when s is none of them */
int tls_level_parse(const char *s, enum tls_level *r);
/* tls_level_name - the name of a level */
const char *tls_level_name(enum tls_level l);

struct deliver_opts {
	int connect_timeout;		/* seconds */
	int command_timeout;
	int data_done_timeout;
	int cache_time;			/* 0: close after each message */
	const char *helo_name;
	struct timespec deadline;	/* CLOCK_MONOTONIC: every connect, read and
					 * write of a delivery ends by then, whatever
					 * the timeouts above (tv_sec 0: none) */
};

/*
 * deliver_margin_ms - how long before child_timeout (seconds) the
 * deliveries of a message must be over, so that the state writes, the
 * log line and the reply still reach the client before the master
 * kills the worker: a tenth of child_timeout, at least 2 s and at most
 * 30 s, but never more than half of it. A message's deadline is the
 * start of its DATA + child_timeout - this margin.
 */
long long deliver_margin_ms(long long child_timeout_s);

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
 * err: <reason>", or "451 4.4.2 ..." when o->deadline cut it short (the
 * connection is then closed at once, whatever was sent). A cached
 * connection found dead before the end of data was sent is replaced
 * once before anything is tempfailed.
 * Returns the number of recipients accepted downstream (2xx).
 *
 * tls is the TLS policy for the next hop (NULL: TLS_NONE). STARTTLS is
 * sent after EHLO/LHLO when the level is may or above and the server
 * offers it, and EHLO/LHLO is sent again under TLS (capabilities from
 * before TLS are forgotten). Cached connections are kept per method and
 * policy: a connection opened under one policy is never reused for
 * another.
 */
int deliver(struct deliver_cache *dc, const struct deliver_opts *o, const struct fwd_method *m,
    const struct tls_policy *tls, struct message *msg, const size_t *idx, size_t n,
    const char *prepend, size_t prepend_len, size_t skip);

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
