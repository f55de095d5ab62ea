/*
 * message.h - one message in flight: envelope, recipients, the client
 * facts Postfix forwarded, the spooled content, and the outcome per
 * recipient.
 *
 * Everything here is allocated from msg->arena and lives until the
 * worker resets the arena after the session's transaction ends. The
 * server (workers/) fills the envelope and the spool; scanning and
 * routing read them and fill rcpt outcomes; the server turns the
 * outcomes into replies.
 */
#ifndef TG_MESSAGE_H
#define TG_MESSAGE_H

#include <stddef.h>
#include <time.h>

#include "lib/mem.h"
#include "lib/spool.h"

/* DSN NOTIFY bits (RFC 3461); 0 means the client gave no NOTIFY */
#define DSN_NOTIFY_NEVER   0x01
#define DSN_NOTIFY_SUCCESS 0x02
#define DSN_NOTIFY_FAILURE 0x04
#define DSN_NOTIFY_DELAY   0x08

enum dsn_ret { DSN_RET_NONE, DSN_RET_FULL, DSN_RET_HDRS };
enum body_type { BODY_NONE, BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

struct rcpt {
	const char *addr;	/* as given, without the angle brackets */
	const char *orcpt;	/* ORCPT= value as received (xtext), or NULL */
	unsigned notify;	/* DSN_NOTIFY_* bits */
	/* outcome, filled while the message is processed */
	int code;		/* reply code for this recipient, 0 = undecided */
	const char *reply;	/* full reply line, "250 2.0.0 ..." without CRLF */
	const char *queued_as;	/* downstream queue id, for the log */
};

/* what Postfix told us with XFORWARD; NULL where not given or [UNAVAILABLE] */
struct xforward {
	const char *name, *addr, *port, *proto, *helo, *ident, *source;
};

struct message {
	struct arena *arena;
	int lmtp;			/* 1: session is LMTP, replies per recipient */
	const char *listener;		/* listener spec, e.g. "lmtp:127.0.0.1:10024" */
	const char *local_addr, *local_port;
	const char *client_addr, *client_port;	/* the TCP peer (Postfix) */
	const char *helo;		/* EHLO/LHLO/HELO argument */
	int tls;			/* session under TLS */
	struct xforward xf;
	const char *sasl_login;		/* milter {auth_authen}: SASL login, or NULL */
	const char *daemon_name;	/* milter {daemon_name}: the MTA's smtpd, or NULL */
	const char *sender;		/* "" for the null sender */
	const char *envid;		/* ENVID= as received (xtext), or NULL */
	enum dsn_ret ret;
	enum body_type body;
	int smtputf8;
	long long size_declared;	/* SIZE=, -1 when absent */
	struct rcpt *rcpts;
	size_t nrcpts;
	size_t rcpt_cap;
	struct spool *spool;		/* message content, CRLF lines, unstuffed */
	char am_id[32];			/* "PID-NN": this worker's session/message id */
	char mail_id[16];		/* 12 base64url chars, 72 random bits */
	char secret_id[16];		/* for release from quarantine */
	struct timespec t_start;	/* DATA/BDAT began */
	const char *smtp_reply;		/* SMTP input: the single reply, when
					 * processing decided it (else the server
					 * derives it with reply_one_for_all) */
	const char *requested_banks;	/* AM.PDP policy_bank=: "A,B" to load after MYNETS, or NULL */
};

/* message_add_rcpt - append a recipient (grows the array in the arena) */
struct rcpt *message_add_rcpt(struct message *msg, const char *addr);
/* message_new_ids - fresh mail_id and secret_id */
void message_new_ids(struct message *msg);
/* message_header - the first header named name (case-insensitive),
 * unfolded, in the arena; NULL when absent */
const char *message_header(struct message *msg, const char *name);

/* message_date - RFC 5322 date in local time, "Sat, 21 Nov 2026
 * 16:19:55 +0000 (UTC)", independent of the locale */
void message_date(char *out, size_t outsz, time_t t);

#endif
