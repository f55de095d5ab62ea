/*
 * smtpd.c - the SMTP/LMTP server side of one session: greeting, the
 * command loop, the DATA and BDAT transfers into the spool, and the
 * replies once process_message() has decided every recipient.
 *
 * Each command is first parsed (smtp_cmd.c), then checked against the
 * session (smtpd_check: state, limits, what was offered) and only then
 * acted on (smtpd_act). Dialogue and reply texts are amavisd-new's
 * (In/SMTP.pm); LHLO makes a session LMTP and EHLO/HELO make it SMTP,
 * whatever the listener said in the greeting.
 *
 * Memory: a session arena holds the session itself (client facts, the
 * EHLO name and pending XFORWARD values live in fixed buffers there, so
 * a chatty client cannot grow it); a transaction arena holds the struct
 * message, its recipients and its spool, and is reset after each
 * transaction (after the DATA/BDAT reply, RSET, EHLO/LHLO/HELO, STARTTLS).
 *
 * Nothing is acknowledged before process_message() has returned: a lost
 * connection or a timeout during DATA drops the message unanswered, so
 * the client still holds it. A spool failure (disk full) is a 451 after
 * the end of data; an oversized message is read to its end and refused.
 *
 * Limits: command lines SMTP_LINE_MAX (longer ones are read to their
 * end and refused), data lines are read in SMTPD_DATA_PIECE pieces (no
 * limit on their length), SMTPD_ERROR_LIMIT 5xx replies per session,
 * max_recipients, message_size_limit, smtpd_timeout per read.
 * Left out: AUTH, XCLIENT, per-recipient size limits.
 *
 * Draining (SIGTERM: shutdown, reload, signature roll): a transaction in
 * progress runs to its end; between transactions the next command gets
 * "421 4.3.2 Service shutting down" (QUIT still gets its 221) and the
 * session ends. The wait for a command between transactions is a
 * ppoll() that the signal interrupts, so an idle cached connection (as
 * Postfix keeps to its content filter) is closed at once rather than
 * reused for more mail by a worker of the old configuration. Postfix
 * probes a cached connection with RSET before it reuses it, and a 421
 * there only makes it connect anew; but once the probe (or a hello, or
 * XFORWARD) has had its 250, the client's next command starts a
 * transaction, and a 421 to it defers the message; so does a 421
 * greeting. So a drain that comes after such a command, or before a
 * new session's first transaction, waits for that transaction
 * (SMTPD_DRAIN_READ_MS at most, SMTPD_DRAIN_ANNOUNCED commands before
 * MAIL) and serves it; a new RSET then gets the 421.
 *
 * Yielding: a session idle right after a transaction (where Postfix
 * leaves its cached connection) closes with "421 4.3.2" when a client
 * waits on a listener and no other worker takes it within
 * SMTPD_YIELD_GRACE_MS; see smtpd_wait_command.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/netio.h"
#include "lib/scoreboard.h"
#include "lib/spool.h"
#include "routing/routing.h"
#include "workers/smtp_cmd.h"
#include "workers/workers.h"

#define SMTPD_DATA_PIECE 65536		/* DATA is read in pieces of at most this */
#define SMTPD_STAGE_SIZE 65536		/* content is written to the spool in blocks of this */
#define SMTPD_BDAT_READ 16384		/* bytes taken off the wire per BDAT read */
#define SMTPD_ERROR_LIMIT 20		/* 5xx replies before the session is closed */
#define SMTPD_REPLY_MAX (SMTP_ADDR_MAX + 200)
#define SMTPD_DRAIN_READ_MS 5000	/* draining: the rest of a command already begun */
#define SMTPD_DRAIN_ANNOUNCED 4		/* draining: commands served after an announcing one */
#define SMTPD_YIELD_GRACE_MS 10		/* a client left waiting this long: no worker is free */
#define SMTPD_YIELD_STAGGER_MS 3	/* + this x (slot mod 16): one idle session yields, not all */
#define SMTPD_YIELD 1			/* smtpd_wait_command: give the worker to a waiting client */

struct smtpd {
	struct worker *w;
	const struct listener *l;
	struct conn *c;
	int timeout_ms;			/* smtpd_timeout: per read, and per command or data line */
	struct arena *sess;		/* this struct, for the whole session */
	struct arena *tx;		/* the current transaction */
	int lmtp;			/* LHLO seen (or LMTP listener before any hello) */
	unsigned state;			/* one SMTP_ST_* bit */
	int done;			/* leave after this command */
	int announced;			/* the last command (RSET, a hello, XFORWARD) had
					 * its 250 and announces a transaction */
	unsigned drain_served;		/* commands served while draining, before MAIL */
	int yieldable;			/* the last command ended a transaction: idle now,
					 * nothing announced, the client may have cached us */
	unsigned errors;		/* 5xx replies so far */
	unsigned long commands;
	long long size_limit;		/* message_size_limit, 0 = none */
	long long max_rcpts;
	char local_addr[64], local_port[16];
	char client_addr[64], client_port[16];
	char myname[72];		/* "[127.0.0.1]", "[localhost]" for unix sockets */
	char helo[SMTP_HELO_MAX + 1];
	unsigned xf_set;		/* XFORWARD attributes given for the next transaction */
	int xf_null[SMTP_XF_COUNT];	/* given as [UNAVAILABLE] */
	char xf_val[SMTP_XF_COUNT][SMTP_XF_VALUE_MAX + 1];

	/* transaction: all of it dies with arena_reset(tx) */
	struct message *msg;		/* NULL outside a transaction */
	unsigned rcpt_attempts;		/* RCPT commands in this transaction */
	unsigned long long rx_size;	/* content bytes received (unstuffed, CRLF) */
	int oversized;			/* rx_size passed size_limit: discard the rest */
	int spool_failed;
	char *stage;			/* SMTPD_STAGE_SIZE bytes, in sess */
	size_t stage_len;

	struct smtp_cmd cmd;
};

/* smtpd_proto - protocol name for log lines */
static const char *smtpd_proto(const struct smtpd *s)
{
	return s->lmtp ? "LMTP" : "SMTP";
}

/* smtpd_put - queue one reply line: text up to any CR or LF, then CRLF */
static void smtpd_put(struct smtpd *s, const char *text)
{
	size_t n = strcspn(text, "\r\n");

	conn_write(s->c, text, n);
	conn_write(s->c, "\r\n", 2);
}

/* smtpd_putf - smtpd_put() of a formatted line (cut at SMTPD_REPLY_MAX) */
static void smtpd_putf(struct smtpd *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void smtpd_putf(struct smtpd *s, const char *fmt, ...)
{
	char line[SMTPD_REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	smtpd_put(s, line);
}

/* smtpd_refuse - a refused command: reply, count 5xx against the limit, log it */
static void smtpd_refuse(struct smtpd *s, const char *reply, const char *line, size_t len)
{
	smtpd_put(s, reply);
	if (reply[0] == '5') {
		char esc[120];

		s->errors++;
		log_info("%s: %s; command: %s", smtpd_proto(s), reply,
		    log_printable(esc, sizeof(esc), line, len > 100 ? 100 : len));
	}
}

/* smtpd_xf_clear - forget XFORWARD attributes (after a transaction, RSET, EHLO) */
static void smtpd_xf_clear(struct smtpd *s)
{
	s->xf_set = 0;
}

/* smtpd_tx_reset - end the transaction: free its arena, back to IDLE */
static void smtpd_tx_reset(struct smtpd *s)
{
	arena_reset(s->tx);
	s->msg = NULL;
	s->rcpt_attempts = 0;
	s->rx_size = 0;
	s->oversized = 0;
	s->spool_failed = 0;
	s->stage_len = 0;
	if (s->state & (SMTP_ST_MAIL | SMTP_ST_RCPT | SMTP_ST_BDAT))
		s->state = SMTP_ST_IDLE;
}

/* smtpd_xf_get - pending XFORWARD value for the message, NULL if none */
static const char *smtpd_xf_get(struct smtpd *s, enum smtp_xf_attr a)
{
	if (!(s->xf_set & (1u << a)) || s->xf_null[a])
		return NULL;
	return arena_strdup(s->tx, s->xf_val[a]);
}

/*
 * smtpd_msg_begin - DATA or BDAT starts the content: ids, the log
 * prefix, the scoreboard, the facts process_message needs, the spool.
 */
static void smtpd_msg_begin(struct smtpd *s)
{
	struct worker *w = s->w;
	struct message *msg = s->msg;

	clock_gettime(CLOCK_MONOTONIC, &msg->t_start);
	message_new_ids(msg);
	(void)snprintf(msg->am_id, sizeof(msg->am_id), "%05d-%02lu", (int)w->pid, w->messages + 1);
	msg->lmtp = s->lmtp;
	msg->listener = s->l->spec;
	msg->local_addr = arena_strdup(s->tx, s->local_addr);
	msg->local_port = arena_strdup(s->tx, s->local_port);
	msg->client_addr = arena_strdup(s->tx, s->client_addr);
	msg->client_port = arena_strdup(s->tx, s->client_port);
	msg->helo = s->helo[0] ? arena_strdup(s->tx, s->helo) : NULL;
	msg->tls = conn_tls_active(s->c);
	msg->xf.name = smtpd_xf_get(s, SMTP_XF_NAME);
	msg->xf.addr = smtpd_xf_get(s, SMTP_XF_ADDR);
	msg->xf.port = smtpd_xf_get(s, SMTP_XF_PORT);
	msg->xf.proto = smtpd_xf_get(s, SMTP_XF_PROTO);
	msg->xf.helo = smtpd_xf_get(s, SMTP_XF_HELO);
	msg->xf.ident = smtpd_xf_get(s, SMTP_XF_IDENT);
	msg->xf.source = smtpd_xf_get(s, SMTP_XF_SOURCE);
	msg->spool = spool_create(s->tx, w->env->tmp_dir,
	    (size_t)cfg_int(w->cfg, P_SPOOL_MEMORY_LIMIT));
	s->rx_size = 0;
	s->oversized = 0;
	s->spool_failed = 0;
	s->stage_len = 0;
	log_set_session(msg->am_id);
	worker_set_state(w, SB_RECEIVING, msg->xf.ident ? msg->xf.ident : msg->am_id);
}

/* smtpd_stage_flush - staged content to the spool; a failure is remembered */
static void smtpd_stage_flush(struct smtpd *s)
{
	if (s->stage_len > 0 && !s->spool_failed && spool_write(s->msg->spool, s->stage, s->stage_len) < 0)
		s->spool_failed = 1;
	s->stage_len = 0;
}

/*
 * smtpd_msg_write - content bytes: counted always, kept only while the
 * message is within the size limit and the spool works. Staging turns
 * many short lines into few spool writes.
 */
static void smtpd_msg_write(struct smtpd *s, const char *p, size_t n)
{
	s->rx_size += n;
	if (s->oversized || s->spool_failed)
		return;
	if (s->size_limit > 0 && s->rx_size > (unsigned long long)s->size_limit) {
		s->oversized = 1;
		s->stage_len = 0;
		return;
	}
	while (n > 0) {
		size_t room = SMTPD_STAGE_SIZE - s->stage_len;
		size_t k = n < room ? n : room;

		memcpy(s->stage + s->stage_len, p, k);
		s->stage_len += k;
		p += k;
		n -= k;
		if (s->stage_len == SMTPD_STAGE_SIZE)
			smtpd_stage_flush(s);
	}
}

/* smtpd_reply_all - one line for SMTP, the same line per recipient for LMTP */
static void smtpd_reply_all(struct smtpd *s, const char *line)
{
	size_t i, n = s->lmtp && s->msg ? s->msg->nrcpts : 1;

	for (i = 0; i < n; i++)
		smtpd_put(s, line);
}

/* smtpd_msg_done - the transaction is over, answered or not */
static void smtpd_msg_done(struct smtpd *s)
{
	s->w->messages++;
	s->announced = 0;
	smtpd_tx_reset(s);
	smtpd_xf_clear(s);
	log_set_session(NULL);
	worker_set_state(s->w, SB_SESSION, NULL);
}

/* smtpd_msg_abort - a BDAT chunk ended the transaction early: one reply */
static void smtpd_msg_abort(struct smtpd *s, const char *reply)
{
	log_info("%s REJECT: %s", smtpd_proto(s), reply);
	smtpd_put(s, reply);
	smtpd_msg_done(s);
}

/*
 * smtpd_msg_end - the content is complete (final dot, BDAT LAST):
 * refuse it if oversized or unspooled, else have it processed and give
 * the replies: one per accepted recipient in RCPT order for LMTP, the
 * folded one for SMTP, all in one write.
 */
static void smtpd_msg_end(struct smtpd *s)
{
	struct message *msg = s->msg;
	char line[SMTPD_REPLY_MAX];
	size_t i;

	smtpd_stage_flush(s);
	if (s->oversized) {
		(void)snprintf(line, sizeof(line), "552 5.3.4 Message size (%llu B) exceeds size limit", s->rx_size);
		log_info("%s REJECT: %s", smtpd_proto(s), line);
		smtpd_reply_all(s, line);
	} else if (s->spool_failed || spool_finish(msg->spool) < 0) {
		(void)snprintf(line, sizeof(line), "451 4.3.0 Error in processing: %s", spool_error(msg->spool));
		log_error("%s TROUBLE: %s", smtpd_proto(s), line);
		smtpd_reply_all(s, line);
	} else {
		process_message(s->w, msg);
		if (s->lmtp) {
			for (i = 0; i < msg->nrcpts; i++) {
				const struct rcpt *r = &msg->rcpts[i];

				smtpd_put(s, r->code != 0 && r->reply ? r->reply : "451 4.5.0 Error in processing");
			}
		} else {
			const char *reply = msg->smtp_reply ? msg->smtp_reply : reply_one_for_all(msg);

			smtpd_put(s, reply ? reply : "451 4.5.0 Error in processing");
		}
	}
	(void)conn_flush(s->c);
	smtpd_msg_done(s);
	s->yieldable = 1;
}

/* smtpd_lost - a read failed: say why if the client can still hear it, and end */
static void smtpd_lost(struct smtpd *s, int rc, const char *during)
{
	s->done = 1;
	if (s->msg && s->msg->spool)
		s->w->messages++;	/* its am_id was used; keep them unique */
	if (rc == CONN_TIMEOUT) {
		smtpd_putf(s, "421 4.4.2 %s Error: timeout exceeded", s->myname);
		(void)conn_flush(s->c);
		log_info("%s: timeout %s from [%s]", smtpd_proto(s), during, s->client_addr);
	} else if (s->msg && s->msg->spool) {
		log_warning("%s: %s, %s, from [%s]", smtpd_proto(s), conn_error(s->c), during, s->client_addr);
	} else {
		log_debug(LOG_DBG_SMTPD, "%s: %s, %s", smtpd_proto(s), conn_error(s->c), during);
	}
	conn_discard_output(s->c);
}

/*
 * smtpd_data - DATA: read lines until the lone dot. Pieces of an
 * overlong line (CONN_PART) are glued back together; the dot is looked
 * for, and unstuffed, only at the start of a real line.
 */
static void smtpd_data(struct smtpd *s)
{
	int bol = 1;

	smtpd_msg_begin(s);
	smtpd_put(s, "354 End data with <CR><LF>.<CR><LF>");
	for (;;) {
		const char *line;
		size_t len;
		int rc;

		conn_set_deadline(s->c, s->timeout_ms);	/* per record, as Postfix */
		rc = conn_read_line(s->c, SMTPD_DATA_PIECE, &line, &len);
		conn_set_deadline(s->c, 0);

		if (rc < 0) {
			smtpd_lost(s, rc, "in DATA");
			return;
		}
		if (bol && rc == CONN_LINE && len == 1 && line[0] == '.')
			break;
		if (bol && len > 0 && line[0] == '.') {
			line++;
			len--;
		}
		smtpd_msg_write(s, line, len);
		if (rc == CONN_LINE)
			smtpd_msg_write(s, "\r\n", 2);
		bol = rc == CONN_LINE;
	}
	smtpd_msg_end(s);
}

/* smtpd_bdat_read - take one chunk of n bytes off the wire, into the
 * message (keep) or nowhere; 0, or -1 when the session is lost */
static int smtpd_bdat_read(struct smtpd *s, unsigned long long n, int keep)
{
	char buf[SMTPD_BDAT_READ];

	while (n > 0) {
		ssize_t r = conn_read_some(s->c, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));

		if (r < 0) {
			smtpd_lost(s, (int)r, "in BDAT");
			return -1;
		}
		if (keep)
			smtpd_msg_write(s, buf, (size_t)r);
		n -= (unsigned long long)r;
	}
	return 0;
}

/* smtpd_bdat - one BDAT chunk of a transaction that may take it */
static void smtpd_bdat(struct smtpd *s, const struct smtp_cmd *cmd)
{
	char line[SMTPD_REPLY_MAX];

	if (s->state != SMTP_ST_BDAT) {
		smtpd_msg_begin(s);
		s->state = SMTP_ST_BDAT;
	}
	if (smtpd_bdat_read(s, cmd->bdat_size, 1) < 0)
		return;
	if (cmd->bdat_last) {
		smtpd_msg_end(s);
		return;
	}
	if (s->oversized) {
		(void)snprintf(line, sizeof(line), "552 5.3.4 Message size (%llu B) exceeds size limit", s->rx_size);
		smtpd_msg_abort(s, line);
	} else if (s->spool_failed) {
		(void)snprintf(line, sizeof(line), "451 4.3.0 Error in processing: %s", spool_error(s->msg->spool));
		smtpd_msg_abort(s, line);
	} else {
		smtpd_putf(s, "250 2.0.0 Ok: %llu octets", cmd->bdat_size);
	}
}

/* smtpd_ehlo - EHLO/LHLO keywords, in amavisd's order plus CHUNKING */
static void smtpd_ehlo(struct smtpd *s)
{
	smtpd_putf(s, "250-%s", s->myname);
	smtpd_put(s, "250-VRFY");
	smtpd_put(s, "250-PIPELINING");
	if (s->size_limit > 0)
		smtpd_putf(s, "250-SIZE %lld", s->size_limit);
	else
		smtpd_put(s, "250-SIZE");
	smtpd_put(s, "250-ENHANCEDSTATUSCODES");
	smtpd_put(s, "250-8BITMIME");
	smtpd_put(s, "250-SMTPUTF8");
	smtpd_put(s, "250-DSN");
	if (s->w->env->tls_server != NULL && !conn_tls_active(s->c))
		smtpd_put(s, "250-STARTTLS");
	smtpd_put(s, "250-CHUNKING");
	smtpd_put(s, "250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE");
}

/* smtpd_starttls - RFC 3207; the session starts over, unless the handshake fails */
static void smtpd_starttls(struct smtpd *s)
{
	smtpd_tx_reset(s);
	smtpd_xf_clear(s);
	smtpd_put(s, "220 2.0.0 Ready to start TLS");
	if (conn_starttls(s->c, s->w->env->tls_server, 1, NULL) < 0) {
		log_warning("%s: STARTTLS from [%s] failed: %s", smtpd_proto(s), s->client_addr, conn_error(s->c));
		conn_discard_output(s->c);
		s->done = 1;
		return;
	}
	s->state = SMTP_ST_INIT;
	s->helo[0] = 0;
	log_debug(LOG_DBG_SMTPD, "TLS started with [%s], cipher %s", s->client_addr, conn_tls_cipher(s->c));
}

/*
 * smtpd_check - may this command act now? The state table first (so
 * "send HELO first" beats a syntax error, as in amavisd), then the
 * syntax, then what depends on this session: limits, recipients, what
 * was offered. 0, or -1 with the reply.
 */
static int smtpd_check(struct smtpd *s, const struct smtp_cmd *cmd, int parse_rc, const char *perr,
    const char **reply_r)
{
	if (cmd->verb == SMTP_VERB_NONE || cmd->err == SMTP_ERR_NOT_IMPL) {
		*reply_r = perr;
		return -1;
	}
	if (smtp_cmd_check_state(cmd->verb, s->state, reply_r) < 0)
		return -1;
	if (parse_rc < 0) {
		*reply_r = perr;
		return -1;
	}
	switch (cmd->verb) {
	case SMTP_MAIL:
		if (s->size_limit > 0 && cmd->size > s->size_limit) {
			*reply_r = "552 5.3.4 Message size exceeds fixed limit";
			return -1;
		}
		break;
	case SMTP_RCPT:
		if ((long long)s->msg->nrcpts >= s->max_rcpts) {
			*reply_r = "452 4.5.3 Too many recipients";
			return -1;
		}
		break;
	case SMTP_DATA:
	case SMTP_BDAT:
		if (s->state == SMTP_ST_BDAT)
			break;
		if (cmd->verb == SMTP_DATA && s->msg->body == BODY_BINARYMIME) {
			*reply_r = "503 5.5.1 DATA is incompatible with BINARYMIME";
			return -1;
		}
		if (s->rcpt_attempts == 0) {
			*reply_r = cmd->verb == SMTP_DATA ? "503 5.5.1 Need RCPT command before DATA" :
			    "503 5.5.1 Need RCPT command before BDAT";
			return -1;
		}
		if (s->msg->nrcpts == 0) {
			/* RFC 2033 wants 503 for LMTP */
			if (cmd->verb == SMTP_DATA)
				*reply_r = s->lmtp ? "503 5.1.1 Error (DATA): no valid recipients" :
				    "554 5.1.1 Error (DATA): no valid recipients";
			else
				*reply_r = s->lmtp ? "503 5.1.1 Error (BDAT): no valid recipients" :
				    "554 5.1.1 Error (BDAT): no valid recipients";
			return -1;
		}
		break;
	case SMTP_STARTTLS:
		if (s->w->env->tls_server == NULL) {
			*reply_r = "502 5.5.1 Error: command not available";
			return -1;
		}
		if (conn_tls_active(s->c)) {
			*reply_r = "554 5.5.1 Error: TLS already active";
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

/* smtpd_act - carry out a command that passed smtpd_check */
static void smtpd_act(struct smtpd *s, const struct smtp_cmd *cmd)
{
	struct message *msg = s->msg;
	struct rcpt *r;
	int i;

	switch (cmd->verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
	case SMTP_LHLO:
		smtpd_tx_reset(s);
		smtpd_xf_clear(s);
		s->lmtp = cmd->verb == SMTP_LHLO;
		s->state = SMTP_ST_IDLE;
		(void)strlcpy(s->helo, cmd->helo, sizeof(s->helo));
		s->announced = 1;
		if (cmd->verb == SMTP_HELO)
			smtpd_putf(s, "250 %s", s->myname);
		else
			smtpd_ehlo(s);
		break;
	case SMTP_MAIL:
		msg = s->msg = arena_alloc(s->tx, sizeof(*msg));
		msg->arena = s->tx;
		msg->sender = arena_strdup(s->tx, cmd->addr);
		msg->envid = cmd->envid ? arena_strdup(s->tx, cmd->envid) : NULL;
		msg->ret = cmd->ret;
		msg->body = cmd->body;
		msg->smtputf8 = cmd->smtputf8;
		msg->size_declared = cmd->size;
		s->state = SMTP_ST_MAIL;
		smtpd_putf(s, "250 2.1.0 Sender <%s> OK", cmd->addr);
		break;
	case SMTP_RCPT:
		r = message_add_rcpt(msg, cmd->addr);
		r->notify = cmd->notify;
		r->orcpt = cmd->orcpt ? arena_strdup(s->tx, cmd->orcpt) : NULL;
		s->state = SMTP_ST_RCPT;
		smtpd_putf(s, "250 2.1.5 Recipient <%s> OK", cmd->addr);
		break;
	case SMTP_DATA:
		smtpd_data(s);
		break;
	case SMTP_BDAT:
		smtpd_bdat(s, cmd);
		break;
	case SMTP_RSET:
		smtpd_tx_reset(s);
		smtpd_xf_clear(s);
		smtpd_put(s, "250 2.0.0 Ok RSET");
		s->announced = 1;
		break;
	case SMTP_NOOP:
		smtpd_put(s, "250 2.0.0 Ok NOOP");
		break;
	case SMTP_QUIT:
		smtpd_putf(s, "221 2.0.0 %s tollgate closing transmission channel", s->myname);
		s->done = 1;
		break;
	case SMTP_VRFY:
		smtpd_put(s, "252 2.0.0 Argument not checked");
		break;
	case SMTP_HELP:
		smtpd_put(s, "214-2.0.0 tollgate content filter, see tollgated(8)");
		smtpd_put(s, "214 2.0.0 Commands: HELO EHLO LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY XFORWARD");
		break;
	case SMTP_XFORWARD:
		for (i = 0; i < SMTP_XF_COUNT; i++) {
			if (!(cmd->xf_set & (1u << i)))
				continue;
			s->xf_set |= 1u << i;
			s->xf_null[i] = cmd->xf[i] == NULL;
			if (cmd->xf[i])
				(void)strlcpy(s->xf_val[i], cmd->xf[i], sizeof(s->xf_val[i]));
		}
		smtpd_put(s, "250 2.5.0 Ok XFORWARD");
		s->announced = 1;
		break;
	case SMTP_STARTTLS:
		smtpd_starttls(s);
		break;
	default:
		smtpd_put(s, "500 5.5.2 Error: bad syntax");	/* not reached: checked */
		break;
	}
}

/*
 * smtpd_command - one command line: parse, check, act. A BDAT chunk is
 * taken off the wire even when the command is refused, or the next
 * "command" would be message content; a BDAT whose size cannot be read
 * leaves no way to find the next command, so the session ends.
 */
static void smtpd_command(struct smtpd *s, const char *line, size_t len)
{
	struct smtp_cmd *cmd = &s->cmd;
	const char *perr = NULL, *reply = NULL;
	int rc;

	s->commands++;
	s->yieldable = 0;
	if (log_debug_mask & LOG_DBG_SMTPD) {
		char esc[200];

		log_debug_line("%s< %s", smtpd_proto(s), log_printable(esc, sizeof(esc), line, len));
	}
	rc = smtp_cmd_parse(cmd, line, len, &perr);
	if (cmd->verb == SMTP_BDAT && rc < 0) {
		smtpd_refuse(s, perr, line, len);
		s->done = 1;
		return;
	}
	if (cmd->verb == SMTP_RCPT && (s->state & (SMTP_ST_MAIL | SMTP_ST_RCPT)))
		s->rcpt_attempts++;
	if (smtpd_check(s, cmd, rc, perr, &reply) < 0) {
		if (cmd->verb == SMTP_BDAT) {
			char what[64];

			/* reading the chunk moves the input buffer under line */
			(void)snprintf(what, sizeof(what), "BDAT %llu%s", cmd->bdat_size, cmd->bdat_last ? " LAST" : "");
			if (smtpd_bdat_read(s, cmd->bdat_size, 0) < 0)
				return;
			smtpd_refuse(s, reply, what, strlen(what));
			return;
		}
		smtpd_refuse(s, reply, line, len);
		return;
	}
	smtpd_act(s, cmd);
}

/* smtpd_skip_line - read the rest of an overlong command line; 0 or -1 when lost */
static int smtpd_skip_line(struct smtpd *s)
{
	for (;;) {
		const char *piece;
		size_t len;
		int rc = conn_read_line(s->c, SMTP_LINE_MAX + 1, &piece, &len);

		if (rc == CONN_LINE)
			return 0;
		if (rc < 0) {
			smtpd_lost(s, rc, "after a long line");
			return -1;
		}
	}
}

/* smtpd_idle - between transactions: no message, no BDAT in progress */
static int smtpd_idle(const struct smtpd *s)
{
	return s->msg == NULL && (s->state & (SMTP_ST_MAIL | SMTP_ST_RCPT | SMTP_ST_BDAT)) == 0;
}

/* smtpd_client_waiting - 1 when a connection waits on one of the
 * worker's listeners (nobody has accepted it) */
static int smtpd_client_waiting(const int *lfd, int n)
{
	struct pollfd pfd[CONN_WAIT_OTHERS_MAX];
	int i;

	for (i = 0; i < n; i++) {
		pfd[i].fd = lfd[i];
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	if (poll(pfd, (nfds_t)n, 0) <= 0)
		return 0;
	for (i = 0; i < n; i++)
		if (pfd[i].revents & POLLIN)
			return 1;
	return 0;
}

/*
 * smtpd_wait_command - wait for the next command between transactions,
 * woken by the drain signal: 0 input is there (or draining: look at
 * w->draining), or CONN_TIMEOUT / CONN_ERROR. SIGTERM and SIGINT are
 * blocked from the draining check until ppoll() atomically unblocks
 * them, so a signal cannot slip in between and leave us asleep.
 *
 * Right after a transaction (s->yieldable), once the client has been
 * silent for SMTPD_YIELD_GRACE_MS (a client that sends QUIT or its next
 * MAIL at once costs nothing more), the wait also watches the
 * listeners: SMTPD_YIELD when a client has waited there for
 * SMTPD_YIELD_GRACE_MS (+ a stagger by slot) with no worker free to
 * accept it. Postfix keeps its connection to the content filter in its
 * connection cache (scache, lmtp_connection_cache_time_limit, 2 s) and
 * does not always take it from there for the next delivery: it may
 * connect anew. With max_servers = the feed's maxproc, the cached,
 * idle connections can hold every worker, and the new one waits until
 * Postfix drops them, 2 s per stall. A free worker accepts a new
 * connection within microseconds, so one still waiting after the grace
 * means none is free; the stagger makes the first idle session yield
 * and lets the others see that its worker took the client.
 */
static int smtpd_wait_command(struct smtpd *s)
{
	const struct worker_env *env = s->w->env;
	int lfd[CONN_WAIT_OTHERS_MAX], n = 0, i, rc;
	long long grace = SMTPD_YIELD_GRACE_MS + SMTPD_YIELD_STAGGER_MS * (env->slot % 16);
	struct timespec start, now;

	if (!s->yieldable)
		return conn_wait_input(s->c, s->timeout_ms, &s->w->draining);
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* a client that goes on at once (QUIT, its next MAIL) costs no look
	 * at the listeners: only a session idle past the grace is watched */
	rc = conn_wait_input(s->c, SMTPD_YIELD_GRACE_MS, &s->w->draining);
	if (rc != CONN_TIMEOUT)
		return rc;
	for (i = 0; i < env->nlisteners && n < CONN_WAIT_OTHERS_MAX; i++)
		if (env->listeners[i].fd >= 0)
			lfd[n++] = env->listeners[i].fd;
	for (;;) {
		long long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = s->timeout_ms - ((long long)(now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			left = 1;	/* conn_wait_input_or says timeout */
		rc = conn_wait_input_or(s->c, left, &s->w->draining, lfd, n);
		if (rc != CONN_OTHER)
			return rc;
		/* free workers take it at once; ours waits for its client meanwhile */
		rc = conn_wait_input(s->c, grace, &s->w->draining);
		if (rc != CONN_TIMEOUT)
			return rc;
		if (smtpd_client_waiting(lfd, n) && !conn_input_ready(s->c))
			return SMTPD_YIELD;
	}
}

/*
 * smtpd_drain - the worker is draining and no transaction is open: QUIT
 * is answered as usual, anything else (MAIL, RSET, ...) gets the 421 and
 * the session ends. Nothing waiting (buffered or on the socket): the
 * 421 goes out unasked, and the client reads it as the reply to its
 * next command. But after a command that announces a transaction
 * (s->announced: the 250 to Postfix's RSET probe, a hello, XFORWARD)
 * the next command is waited for and served, unless it is RSET (a new
 * probe: the 421 makes the client connect anew, nothing deferred).
 * Returns 1 when the session goes on, 0 when it is over.
 */
static int smtpd_drain(struct smtpd *s)
{
	struct pollfd pfd = { .fd = conn_fd(s->c), .events = POLLIN, .revents = 0 };
	int wait_ms = 0;
	const char *line = NULL;
	size_t len = 0;

	if (s->announced && s->drain_served < SMTPD_DRAIN_ANNOUNCED) {
		wait_ms = s->timeout_ms < SMTPD_DRAIN_READ_MS ? s->timeout_ms : SMTPD_DRAIN_READ_MS;
		if (conn_flush(s->c) < 0) {	/* the 250 the client waits for */
			s->done = 1;
			return 0;
		}
	}
	if (conn_pending(s->c) > 0 || poll(&pfd, 1, wait_ms) > 0) {
		int rc;

		conn_set_deadline(s->c, s->timeout_ms < SMTPD_DRAIN_READ_MS ? s->timeout_ms : SMTPD_DRAIN_READ_MS);
		rc = conn_read_line(s->c, SMTP_LINE_MAX + 1, &line, &len);
		conn_set_deadline(s->c, 0);
		if (rc < 0) {
			smtpd_lost(s, rc, "waiting for a command");
			return 0;
		}
		if (rc == CONN_LINE && len >= 4 && strncasecmp(line, "QUIT", 4) == 0 &&
		    (len == 4 || line[4] == ' ')) {
			smtpd_command(s, line, len);
			s->done = 1;
			return 0;
		}
		if (rc == CONN_LINE && wait_ms > 0 && !(len >= 4 && strncasecmp(line, "RSET", 4) == 0 &&
		    (len == 4 || line[4] == ' '))) {
			/* the transaction the last command announced */
			s->announced = 0;
			s->drain_served++;
			smtpd_command(s, line, len);
			return !s->done;
		}
	}
	if (line != NULL) {
		char esc[120];

		s->commands++;
		log_info("%s: draining, 421 to [%s] for: %s", smtpd_proto(s), s->client_addr,
		    log_printable(esc, sizeof(esc), line, len > 100 ? 100 : len));
	} else {
		log_info("%s: draining, 421 to [%s] on its idle connection", smtpd_proto(s), s->client_addr);
	}
	smtpd_put(s, "421 4.3.2 Service shutting down");
	s->done = 1;
	return 0;
}

/*
 * smtpd_session - greet, then one command at a time until QUIT, EOF,
 * timeout or too many errors. Replies are only queued; netio sends them
 * before it waits for the client, so a pipelined group gets one write.
 */
void smtpd_session(struct worker *w, int fd, const struct listener *l)
{
	struct arena *sess = arena_create(0);
	struct smtpd *s = arena_alloc(sess, sizeof(*s));

	s->w = w;
	s->l = l;
	s->sess = sess;
	s->tx = arena_create(0);
	s->c = conn_create(fd);
	s->stage = arena_alloc(sess, SMTPD_STAGE_SIZE);
	s->lmtp = l->proto == LISTEN_LMTP;
	s->state = SMTP_ST_INIT;
	s->size_limit = cfg_int(w->cfg, P_MESSAGE_SIZE_LIMIT);
	s->max_rcpts = cfg_int(w->cfg, P_MAX_RECIPIENTS);
	s->timeout_ms = (int)cfg_int(w->cfg, P_SMTPD_TIMEOUT) * 1000;
	conn_set_timeout(s->c, s->timeout_ms);
	/* addresses known already: the peer from accept(), the local one from
	 * conn_create(); no getsockname()/getpeername() of our own */
	conn_local(s->c, s->local_addr, sizeof(s->local_addr), s->local_port, sizeof(s->local_port));
	(void)strlcpy(s->client_addr, w->client_addr, sizeof(s->client_addr));
	(void)strlcpy(s->client_port, w->client_port, sizeof(s->client_port));
	(void)snprintf(s->myname, sizeof(s->myname), "[%s]", s->local_addr[0] ? s->local_addr : "localhost");
	log_debug(LOG_DBG_SMTPD, "connect from [%s]:%s to %s", s->client_addr, s->client_port, l->spec);

	/* A connection accepted is served, even if the drain signal came
	 * between the worker's check and its accept(): a 421 greeting makes
	 * Postfix defer the message it connected for. Like a 250 to a hello,
	 * the greeting announces a transaction, which a drain then waits for
	 * (smtpd_drain); the next one gets the 421. */
	smtpd_putf(s, "220 %s %s tollgate service ready", s->myname, s->lmtp ? "LMTP" : "ESMTP");
	s->announced = 1;
	while (!s->done) {
		const char *line;
		size_t len;
		int rc;

		/* a whole command within smtpd_timeout, however slowly it comes;
		 * + 1: a line of exactly SMTP_LINE_MAX with its CR must still fit,
		 * one byte more comes back whole and the parser refuses it */
		conn_set_deadline(s->c, s->timeout_ms);
		if (smtpd_idle(s)) {
			if ((rc = smtpd_wait_command(s)) < 0) {
				conn_set_deadline(s->c, 0);
				smtpd_lost(s, rc, "waiting for a command");
				break;
			}
			if (rc == SMTPD_YIELD) {
				conn_set_deadline(s->c, 0);
				log_info("%s: idle connection from [%s] closed: a client is waiting and no "
				    "other worker is free", smtpd_proto(s), s->client_addr);
				smtpd_putf(s, "421 4.3.2 %s Service busy, closing idle connection", s->myname);
				s->done = 1;
				break;
			}
			if (w->draining) {
				conn_set_deadline(s->c, 0);
				if (!smtpd_drain(s))
					break;
				continue;
			}
		}
		rc = conn_read_line(s->c, SMTP_LINE_MAX + 1, &line, &len);
		if (rc != CONN_PART)
			conn_set_deadline(s->c, 0);

		if (rc == CONN_PART) {
			if (smtpd_skip_line(s) < 0)
				break;
			smtpd_refuse(s, "500 5.5.2 Error: line too long", "(too long)", 10);
		} else if (rc < 0) {
			smtpd_lost(s, rc, "waiting for a command");
			break;
		} else {
			smtpd_command(s, line, len);
		}
		if (!s->done && s->errors >= SMTPD_ERROR_LIMIT) {
			smtpd_putf(s, "421 4.7.0 %s Error: too many errors", s->myname);
			log_info("%s: too many errors from [%s], closing", smtpd_proto(s), s->client_addr);
			s->done = 1;
		}
	}
	(void)conn_flush(s->c);
	log_debug(LOG_DBG_SMTPD, "disconnect from [%s]:%s commands=%lu errors=%u", s->client_addr,
	    s->client_port, s->commands, s->errors);
	conn_free(&s->c);
	arena_free(&s->tx);
	log_set_session(NULL);
	arena_free(&sess);
}
