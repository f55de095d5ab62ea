/*
 * milter.c - one milter connection (listen = milter:ADDR:PORT or
 * milter:unix:PATH): the MTA (Postfix smtpd_milters) streams each SMTP
 * session's events to us, we rebuild the message into the spool as the
 * LMTP path would have received it, and at end of body process_milter()
 * scans and decides; the verdict goes back as edit requests and one
 * final reply. Nothing before end of body is ever refused.
 *
 * Each packet is decoded (milter_proto.c), checked against the session
 * state (one row per command in milter_verbs[]) and only then acted on.
 * Any protocol error, an out-of-sequence command, a timeout or too many
 * unknown commands closes the connection: the MTA then applies its
 * milter_default_action (tempfail is what docs/milter.md asks for).
 *
 * Memory: a session arena holds this struct, the macro table (fixed
 * space per stage, replaced as the MTA resends a stage) and the
 * connection facts in fixed buffers; a transaction arena holds the
 * struct message, its recipients and its spool, and is reset after end
 * of body and after SMFIC_ABORT.
 *
 * The client MTA keeps the message until we answer end of body, so a
 * crash or a lost connection before that loses nothing: the MTA applies
 * its default action. Personalised copies delivered here (see workers.h)
 * are at-least-once, as on the LMTP path.
 *
 * Limits: those of milter_proto.h per packet; MILTER_MACRO_BYTES of
 * macros per stage and MILTER_MACRO_STAGES stages; MILTER_ERROR_LIMIT
 * unknown commands; max_recipients, message_size_limit; milter_timeout
 * per read. Left out: SMFIR_PROGRESS while scanning (scanning must fit
 * Postfix's milter_content_timeout), per-connection replies (CONNECT,
 * HELO are never refused), body replacement.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/netio.h"
#include "lib/scoreboard.h"
#include "lib/spool.h"
#include "policy/decide.h"
#include "workers/milter_proto.h"
#include "workers/smtp_cmd.h"
#include "workers/workers.h"

#define MILTER_READ 16384		/* bytes taken off the socket per read */
#define MILTER_STAGE_SIZE 65536		/* content goes to the spool in blocks of this */
#define MILTER_ERROR_LIMIT 10		/* unknown commands before the connection is closed */
#define MILTER_MACRO_STAGES 12		/* distinct macro stages kept */
#define MILTER_MACRO_BYTES 4096		/* name\0value\0 bytes kept per stage */

/* session states, one bit each; milter_verbs[] says where a command may come */
enum {
	MS_NEG = 1 << 0,		/* connected, before SMFIC_OPTNEG */
	MS_CONN = 1 << 1,		/* negotiated, no transaction */
	MS_MAIL = 1 << 2,		/* after MAIL */
	MS_RCPT = 1 << 3,		/* after a RCPT */
	MS_HDR = 1 << 4,		/* in the header section */
	MS_BODY = 1 << 5		/* after EOH or the first body chunk */
};
#define MS_ANY (MS_NEG | MS_CONN | MS_MAIL | MS_RCPT | MS_HDR | MS_BODY)
#define MS_UP (MS_ANY & ~MS_NEG)
#define MS_CONTENT (MS_RCPT | MS_HDR | MS_BODY)

struct milter_macros {
	unsigned char stage;		/* 0: slot free */
	size_t len;
	char data[MILTER_MACRO_BYTES];	/* name\0value\0..., names without braces */
};

struct milter {
	struct worker *w;
	const struct listener *l;
	struct conn *c;
	struct arena *sess;
	struct arena *tx;
	struct milter_reader rd;
	struct milter_cmd cmd;
	struct smtp_cmd scmd;		/* MAIL/RCPT arguments, through the SMTP parser */
	struct buf out;			/* replies not yet handed to the connection */
	struct buf line;		/* scratch */
	unsigned state;
	int done;
	unsigned errors;
	unsigned long packets;
	uint32_t version, actions, protocol;
	int leadspc;			/* SMFIP_HDR_LEADSPC: header values come as they are */
	struct milter_macros macros[MILTER_MACRO_STAGES];
	char peer[80];			/* the MTA, for logs */
	char client_name[256], client_addr[64], client_port[16];
	char helo[SMTP_HELO_MAX + 1];

	/* transaction: all of it dies with arena_reset(tx) */
	struct message *msg;
	int begun;			/* content started: ids, spool */
	int eoh;			/* the empty line is written */
	int too_many_rcpts;
	unsigned long long rx_size;
	int oversized;
	int spool_failed;
	long long size_limit;
	long long max_rcpts;
	struct buf stage;		/* content on its way to the spool */
	struct milter_crlf crlf;
	const char *subject;		/* first Subject value as the MTA sent it */
};

/* ---- output ---- */

/* milter_send - hand the queued replies to the connection */
static void milter_send(struct milter *m)
{
	if (m->out.len) {
		conn_write(m->c, m->out.data, m->out.len);
		buf_reset(&m->out);
	}
}

/* ---- macros ---- */

/* milter_macro_clear - forget the macros of the stages in list ("" all) */
static void milter_macro_clear(struct milter *m, const char *list)
{
	size_t i;

	for (i = 0; i < MILTER_MACRO_STAGES; i++)
		if (*list == 0 || (m->macros[i].stage && strchr(list, m->macros[i].stage)))
			m->macros[i].stage = 0;
}

/* milter_macro_find - value of macro name in one stage, NULL if not there */
static const char *milter_macro_find(const struct milter_macros *mm, const char *name)
{
	size_t pos = 0;

	while (pos < mm->len) {
		const char *n = mm->data + pos, *v = n + strlen(n) + 1;

		if (strcmp(n, name) == 0)
			return v;
		pos = (size_t)(v + strlen(v) + 1 - mm->data);
	}
	return NULL;
}

/*
 * milter_macro - a macro's latest value (name without braces: "i",
 * "auth_authen"), NULL if the MTA never sent it or sent it empty. The
 * stages are searched from the latest (end of message) back to connect.
 */
static const char *milter_macro(const struct milter *m, const char *name)
{
	static const char order[] = { SMFIC_BODYEOB, SMFIC_BODY, SMFIC_EOH, SMFIC_HEADER, SMFIC_DATA,
		SMFIC_RCPT, SMFIC_MAIL, SMFIC_HELO, SMFIC_CONNECT, 0 };
	size_t i, k;

	for (k = 0; k < sizeof(order); k++)
		for (i = 0; i < MILTER_MACRO_STAGES; i++) {
			const struct milter_macros *mm = &m->macros[i];
			const char *v;

			if (mm->stage == 0 || (order[k] ? mm->stage != order[k] : strchr(order, mm->stage) != NULL))
				continue;
			v = milter_macro_find(mm, name);
			if (v)
				return *v ? v : NULL;
		}
	return NULL;
}

/* milter_macro_store - SMFIC_MACRO: the stage's set is replaced */
static void milter_macro_store(struct milter *m, const struct milter_cmd *c)
{
	struct milter_macros *mm = NULL;
	size_t i;

	for (i = 0; i < MILTER_MACRO_STAGES && mm == NULL; i++)
		if (m->macros[i].stage == c->macro_stage)
			mm = &m->macros[i];
	for (i = 0; i < MILTER_MACRO_STAGES && mm == NULL; i++)
		if (m->macros[i].stage == 0)
			mm = &m->macros[i];
	if (mm == NULL || c->macro_stage == 0) {
		log_warning("milter: too many macro stages from %s, macros of stage 0x%02x ignored", m->peer,
		    c->macro_stage);
		return;
	}
	mm->stage = c->macro_stage;
	mm->len = 0;
	for (i = 0; i < c->nmacros; i++) {
		const char *n = c->macro_name[i];
		size_t nl = strlen(n), vl = strlen(c->macro_value[i]);

		if (nl > 2 && n[0] == '{' && n[nl - 1] == '}') {
			n++;
			nl -= 2;
		}
		if (mm->len + nl + vl + 2 > sizeof(mm->data)) {
			log_warning("milter: macros of stage '%c' from %s exceed %d bytes, the rest ignored",
			    c->macro_stage, m->peer, MILTER_MACRO_BYTES);
			break;
		}
		memcpy(mm->data + mm->len, n, nl);
		mm->data[mm->len + nl] = 0;
		memcpy(mm->data + mm->len + nl + 1, c->macro_value[i], vl + 1);
		mm->len += nl + vl + 2;
	}
}

/* ---- transaction ---- */

/* milter_tx_reset - drop the transaction; its macros too unless a new
 * one starts (the MTA sends MAIL's macros just before MAIL) */
static void milter_tx_reset(struct milter *m, int keep_macros)
{
	arena_reset(m->tx);
	m->msg = NULL;
	m->begun = 0;
	m->eoh = 0;
	m->too_many_rcpts = 0;
	m->rx_size = 0;
	m->oversized = 0;
	m->spool_failed = 0;
	m->subject = NULL;
	m->crlf.cr = 0;
	buf_reset(&m->stage);
	if (!keep_macros)
		milter_macro_clear(m, "RTLNBE");
	if (m->state & (MS_MAIL | MS_RCPT | MS_HDR | MS_BODY))
		m->state = MS_CONN;
}

/* milter_msg_done - the transaction is over, answered or not */
static void milter_msg_done(struct milter *m)
{
	if (m->begun)
		m->w->messages++;
	milter_tx_reset(m, 0);
	milter_macro_clear(m, "M");
	log_set_session(NULL);
	worker_set_state(m->w, SB_SESSION, NULL);
}

/* milter_stage_flush - staged content to the spool; a failure is remembered */
static void milter_stage_flush(struct milter *m)
{
	if (m->stage.len > 0 && !m->spool_failed && spool_write(m->msg->spool, m->stage.data, m->stage.len) < 0)
		m->spool_failed = 1;
	buf_reset(&m->stage);
}

/*
 * milter_begin - the content starts: ids, the log prefix, the
 * scoreboard (child_timeout runs from here to our reply), the spool.
 */
static void milter_begin(struct milter *m)
{
	struct message *msg = m->msg;
	struct worker *w = m->w;
	const char *qid;

	if (m->begun)
		return;
	m->begun = 1;
	clock_gettime(CLOCK_MONOTONIC, &msg->t_start);
	message_new_ids(msg);
	(void)snprintf(msg->am_id, sizeof(msg->am_id), "%05d-%02lu", (int)getpid(), w->messages + 1);
	msg->spool = spool_create(m->tx, w->env->tmp_dir, (size_t)cfg_int(w->cfg, P_SPOOL_MEMORY_LIMIT));
	qid = milter_macro(m, "i");
	log_set_session(msg->am_id);
	worker_set_state(w, SB_RECEIVING, qid ? qid : msg->am_id);
}

/*
 * milter_content - content bytes, as they are to stand in the spool:
 * counted always, kept while within message_size_limit and the spool
 * works; a bare LF is made CRLF on the way.
 */
static void milter_content(struct milter *m, const void *data, size_t len, int normalise)
{
	size_t before = m->stage.len;

	if (m->oversized || m->spool_failed) {
		m->rx_size += len;
		return;
	}
	if (normalise)
		milter_crlf(&m->crlf, &m->stage, data, len);
	else
		buf_append(&m->stage, data, len);
	m->rx_size += m->stage.len - before;
	if (m->size_limit > 0 && m->rx_size > (unsigned long long)m->size_limit) {
		m->oversized = 1;
		buf_reset(&m->stage);
		return;
	}
	if (m->stage.len >= MILTER_STAGE_SIZE)
		milter_stage_flush(m);
}

/* milter_eoh_write - the empty line between header and body, once */
static void milter_eoh_write(struct milter *m)
{
	if (m->eoh)
		return;
	milter_begin(m);
	m->eoh = 1;
	m->crlf.cr = 0;
	milter_content(m, "\r\n", 2, 0);
}

/* ---- commands ---- */

/* milter_optneg - SMFIC_OPTNEG: agree on version, actions and protocol */
static void milter_optneg(struct milter *m, const struct milter_cmd *c)
{
	const char *err = NULL;

	if (milter_negotiate(c->version, c->actions, c->protocol, &m->version, &m->actions, &m->protocol,
	    &err) < 0) {
		log_warning("milter: negotiation with %s failed: %s (version %u, actions 0x%x)", m->peer, err,
		    (unsigned)c->version, (unsigned)c->actions);
		m->done = 1;
		return;
	}
	m->leadspc = (m->protocol & SMFIP_HDR_LEADSPC) != 0;
	milter_put_optneg(&m->out, m->version, m->actions, m->protocol);
	m->state = MS_CONN;
	log_debug(LOG_DBG_SMTPD, "milter: %s version %u actions 0x%x protocol 0x%x", m->peer,
	    (unsigned)m->version, (unsigned)m->actions, (unsigned)m->protocol);
}

/* milter_macro_cmd - SMFIC_MACRO */
static void milter_macro_cmd(struct milter *m, const struct milter_cmd *c)
{
	milter_macro_store(m, c);
}

/* milter_connect - SMFIC_CONNECT: who the SMTP client is */
static void milter_connect(struct milter *m, const struct milter_cmd *c)
{
	const char *addr = c->address ? c->address : "";

	/* Postfix names an unresolved client "[addr]"; XFORWARD calls it "unknown" */
	if (c->hostname[0] == '[' || c->hostname[0] == 0)
		(void)strlcpy(m->client_name, "unknown", sizeof(m->client_name));
	else
		(void)strlcpy(m->client_name, c->hostname, sizeof(m->client_name));
	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	if (c->family == '4' || c->family == '6') {
		(void)strlcpy(m->client_addr, addr, sizeof(m->client_addr));
		(void)snprintf(m->client_port, sizeof(m->client_port), "%u", c->port);
	} else {
		m->client_addr[0] = 0;
		m->client_port[0] = 0;
	}
}

/* milter_helo - SMFIC_HELO */
static void milter_helo(struct milter *m, const struct milter_cmd *c)
{
	(void)strlcpy(m->helo, c->text, sizeof(m->helo));
}

/*
 * milter_args_line - "VERB:<addr> arg..." for the SMTP parser, so that
 * MAIL and RCPT parameters mean here what they mean on the LMTP path.
 * With all=0 only the address is given (the fallback when the MTA
 * passed a parameter we do not know).
 */
static int milter_args(struct milter *m, const char *verb, const struct milter_cmd *c, int all)
{
	const char *err = NULL;
	size_t i;

	buf_reset(&m->line);
	buf_puts(&m->line, verb);
	if (c->args[0][0] != '<')
		buf_putc(&m->line, '<');
	buf_puts(&m->line, c->args[0]);
	if (c->args[0][0] != '<')
		buf_putc(&m->line, '>');
	for (i = 1; all && i < c->nargs; i++) {
		buf_putc(&m->line, ' ');
		buf_puts(&m->line, c->args[i]);
	}
	return smtp_cmd_parse(&m->scmd, m->line.data, m->line.len, &err);
}

/* milter_mail - SMFIC_MAIL: a new transaction */
static void milter_mail(struct milter *m, const struct milter_cmd *c)
{
	struct message *msg;

	milter_tx_reset(m, 1);
	msg = m->msg = arena_alloc(m->tx, sizeof(*msg));
	msg->arena = m->tx;
	msg->size_declared = -1;
	if (milter_args(m, "MAIL FROM:", c, 1) == 0 || milter_args(m, "MAIL FROM:", c, 0) == 0) {
		msg->sender = arena_strdup(m->tx, m->scmd.addr);
		msg->envid = m->scmd.envid ? arena_strdup(m->tx, m->scmd.envid) : NULL;
		msg->ret = m->scmd.ret;
		msg->body = m->scmd.body;
		msg->smtputf8 = m->scmd.smtputf8;
		msg->size_declared = m->scmd.size;
	} else {
		char esc[120];

		/* the MTA accepted it; keep what is between the brackets */
		log_warning("milter: sender %s from %s does not parse; taken as it is",
		    log_printable(esc, sizeof(esc), c->args[0], strlen(c->args[0])), m->peer);
		msg->sender = arena_strndup(m->tx, c->args[0] + (c->args[0][0] == '<'),
		    strcspn(c->args[0] + (c->args[0][0] == '<'), ">"));
	}
	m->state = MS_MAIL;
}

/* milter_rcpt - SMFIC_RCPT: one accepted recipient */
static void milter_rcpt(struct milter *m, const struct milter_cmd *c)
{
	struct rcpt *r;

	m->state = MS_RCPT;
	if ((long long)m->msg->nrcpts >= m->max_rcpts) {
		m->too_many_rcpts = 1;
		return;
	}
	if (milter_args(m, "RCPT TO:", c, 1) == 0 || milter_args(m, "RCPT TO:", c, 0) == 0) {
		r = message_add_rcpt(m->msg, m->scmd.addr);
		r->notify = m->scmd.notify;
		r->orcpt = m->scmd.orcpt ? arena_strdup(m->tx, m->scmd.orcpt) : NULL;
	} else {
		char esc[120];

		log_warning("milter: recipient %s from %s does not parse; taken as it is",
		    log_printable(esc, sizeof(esc), c->args[0], strlen(c->args[0])), m->peer);
		message_add_rcpt(m->msg, arena_strndup(m->tx, c->args[0] + (c->args[0][0] == '<'),
		    strcspn(c->args[0] + (c->args[0][0] == '<'), ">")));
	}
}

/* milter_data - SMFIC_DATA (only when the MTA sends it anyway) */
static void milter_data(struct milter *m, const struct milter_cmd *c)
{
	(void)c;
	milter_begin(m);
	m->state = MS_HDR;
}

/* milter_header - SMFIC_HEADER: the field back into the spool as it was */
static void milter_header(struct milter *m, const struct milter_cmd *c)
{
	milter_begin(m);
	m->state = MS_HDR;
	if (m->subject == NULL && strcasecmp(c->name, "Subject") == 0)
		m->subject = arena_strdup(m->tx, c->value);
	buf_reset(&m->line);
	milter_header_line(&m->line, c->name, c->value, m->leadspc);
	milter_content(m, m->line.data, m->line.len, 0);
}

/* milter_eoh - SMFIC_EOH */
static void milter_eoh(struct milter *m, const struct milter_cmd *c)
{
	(void)c;
	milter_eoh_write(m);
	m->state = MS_BODY;
}

/* milter_body - SMFIC_BODY: a chunk, CRLF lines already, split anywhere */
static void milter_body(struct milter *m, const struct milter_cmd *c)
{
	milter_eoh_write(m);
	m->state = MS_BODY;
	milter_content(m, c->body, c->body_len, 1);
}

/* milter_count_fields - fields called name in the spooled header section */
static uint32_t milter_count_fields(const char *data, size_t len, const char *name)
{
	size_t pos = 0, nl = strlen(name);
	uint32_t n = 0;

	while (pos < len && !(data[pos] == '\r' || data[pos] == '\n')) {
		const char *eol = memchr(data + pos, '\n', len - pos);
		size_t end = eol ? (size_t)(eol - data) + 1 : len;

		if (data[pos] != ' ' && data[pos] != '\t' && end - pos > nl && data[pos + nl] == ':' &&
		    strncasecmp(data + pos, name, nl) == 0)
			n++;
		pos = end;
	}
	return n;
}

/* milter_value - a header value for an edit request (folded, leading space per leadspc) */
static const char *milter_value(struct milter *m, const char *name, const char *value)
{
	buf_reset(&m->line);
	milter_fold_value(&m->line, name, value, m->leadspc);
	return arena_strndup(m->tx, m->line.data ? m->line.data : "", m->line.len);
}

/*
 * milter_edits - the header edits of an accepted message. Changes to
 * the fields the MTA showed us go first (deletions from the last
 * occurrence up, so an index never shifts under us; then the Subject
 * tag on the first Subject), insertions after: at the top in list
 * order, as amavisd does (index 0 is above the MTA's own Received).
 */
static void milter_edits(struct milter *m, const struct milter_verdict *v, const char *data, size_t len)
{
	uint32_t ins = 0, k;
	size_t i;

	for (i = 0; i < v->nedits; i++) {
		const struct hdr_edit *e = &v->edits[i];

		if (e->op == HDR_DELETE) {
			for (k = milter_count_fields(data, len, e->name); k >= 1; k--)
				milter_put_header(&m->out, SMFIR_CHGHEADER, k, e->name, "");
		} else if (e->op == HDR_PREPEND_SUBJECT && m->subject) {
			const char *orig = m->subject;

			if (m->leadspc && *orig == ' ')
				orig++;
			milter_put_header(&m->out, SMFIR_CHGHEADER, 1, "Subject",
			    arena_printf(m->tx, "%s%s%s", m->leadspc ? " " : "", e->value ? e->value : "", orig));
		}
	}
	for (i = 0; i < v->nedits; i++) {
		const struct hdr_edit *e = &v->edits[i];

		if (e->op == HDR_ADD) {
			milter_put_header(&m->out, SMFIR_INSHEADER, ins++, e->name, milter_value(m, e->name, e->value));
		} else if (e->op == HDR_PREPEND_SUBJECT && m->subject == NULL) {
			/* no Subject: add one with the tag, trailing blanks trimmed */
			const char *t = e->value ? e->value : "";
			size_t tl = strlen(t);

			while (tl > 0 && t[tl - 1] == ' ')
				tl--;
			milter_put_header(&m->out, SMFIR_ADDHEADER, 0, "Subject",
			    milter_value(m, "Subject", arena_strndup(m->tx, t, tl)));
		}
	}
}

/* milter_msg_fill - the facts process_milter needs, from the connection and the macros */
static void milter_msg_fill(struct milter *m)
{
	struct message *msg = m->msg;
	const char *v;

	msg->lmtp = 0;
	msg->listener = m->l->spec;
	msg->local_addr = arena_strdup(m->tx, (v = milter_macro(m, "daemon_addr")) ? v : "");
	msg->local_port = (v = milter_macro(m, "daemon_port")) ? arena_strdup(m->tx, v) : NULL;
	msg->client_addr = arena_strdup(m->tx, m->client_addr);
	msg->client_port = arena_strdup(m->tx, m->client_port);
	msg->helo = m->helo[0] ? arena_strdup(m->tx, m->helo) : NULL;
	msg->tls = milter_macro(m, "tls_version") != NULL || milter_macro(m, "cipher") != NULL;
	msg->xf.name = m->client_name[0] ? arena_strdup(m->tx, m->client_name) : NULL;
	msg->xf.addr = m->client_addr[0] ? msg->client_addr : NULL;
	msg->xf.port = m->client_port[0] ? msg->client_port : NULL;
	msg->xf.helo = msg->helo;
	msg->xf.proto = (v = milter_macro(m, "r")) ? arena_strdup(m->tx, v) : NULL;
	msg->xf.ident = (v = milter_macro(m, "i")) ? arena_strdup(m->tx, v) : NULL;
	msg->xf.source = NULL;
	msg->sasl_login = (v = milter_macro(m, "auth_authen")) ? arena_strdup(m->tx, v) : NULL;
	msg->daemon_name = (v = milter_macro(m, "daemon_name")) ? arena_strdup(m->tx, v) : NULL;
}

/* milter_final_reply - REPLYCODE of our own (limits, spool) */
static void milter_refuse(struct milter *m, const char *line)
{
	log_info("MILTER %s: %s", line[0] == '5' ? "REJECT" : "TEMPFAIL", line);
	milter_put_replycode(&m->out, line, line[0] == '5' ? '5' : '4');
}

/*
 * milter_answer - the verdict on the wire: edits, removed recipients,
 * the hold request, then the final reply. With milter_quarantine a
 * quarantined message that would be discarded is held instead (the
 * admin releases it with postsuper -H); a rejected one is not held, the
 * client has it.
 */
static void milter_answer(struct milter *m, const struct milter_verdict *v, const char *data, size_t len)
{
	int hold = v->quarantine_id && cfg_int(m->w->cfg, P_MILTER_QUARANTINE) &&
	    (v->action == MV_ACCEPT || v->action == MV_DISCARD);
	size_t i;

	if (hold && !(m->actions & SMFIF_QUARANTINE)) {
		log_warning("milter: %s does not allow SMFIR_QUARANTINE; message not held", m->peer);
		hold = 0;
	}
	if (hold)
		milter_put_str(&m->out, SMFIR_QUARANTINE,
		    arena_printf(m->tx, "tollgate %s, quarantine %s", v->log_verdict ? v->log_verdict : "",
		    v->quarantine_id));
	switch (v->action) {
	case MV_ACCEPT:
		milter_edits(m, v, data, len);
		for (i = 0; i < v->ndelrcpt; i++)
			milter_put_str(&m->out, SMFIR_DELRCPT, arena_printf(m->tx, "<%s>", v->delrcpt[i]));
		milter_put(&m->out, SMFIR_ACCEPT, NULL, 0);
		log_info("MILTER ACCEPT%s: %zu header edits, %zu recipients removed", hold ? " (held)" : "",
		    v->nedits, v->ndelrcpt);
		break;
	case MV_REJECT:
		milter_refuse(m, v->reply ? v->reply : "554 5.7.0 Rejected");
		break;
	case MV_TEMPFAIL:
		milter_refuse(m, v->reply ? v->reply : "451 4.5.0 Error in processing");
		break;
	case MV_DISCARD:
		milter_put(&m->out, hold ? SMFIR_ACCEPT : SMFIR_DISCARD, NULL, 0);
		log_info("MILTER %s", hold ? "HOLD" : "DISCARD");
		break;
	}
}

/*
 * milter_eob - SMFIC_BODYEOB: the message is complete. Refuse it when
 * it broke a limit or the spool, else have it scanned and decided, then
 * answer everything in one write.
 */
static void milter_eob(struct milter *m, const struct milter_cmd *c)
{
	struct message *msg = m->msg;
	struct milter_verdict v;
	char line[200];

	if (c->body_len)
		milter_body(m, c);
	milter_eoh_write(m);
	milter_stage_flush(m);
	if (msg->nrcpts == 0) {
		milter_refuse(m, "451 4.5.0 Error in processing: no recipients");
	} else if (m->oversized) {
		(void)snprintf(line, sizeof(line), "552 5.3.4 Message size (%llu B) exceeds size limit", m->rx_size);
		milter_refuse(m, line);
	} else if (m->too_many_rcpts) {
		milter_refuse(m, "452 4.5.3 Too many recipients");
	} else if (m->spool_failed || spool_finish(msg->spool) < 0) {
		(void)snprintf(line, sizeof(line), "451 4.3.0 Error in processing: %s", spool_error(msg->spool));
		log_error("MILTER TROUBLE: %s", line);
		milter_put_replycode(&m->out, line, '4');
	} else {
		const char *data;
		size_t len = 0;

		milter_msg_fill(m);
		process_milter(m->w, msg, &v);
		data = spool_data(msg->spool, &len);
		milter_answer(m, &v, data ? data : "", data ? len : 0);
	}
	milter_send(m);
	(void)conn_flush(m->c);
	milter_msg_done(m);
}

/* milter_abort - SMFIC_ABORT: the transaction ends unanswered */
static void milter_abort(struct milter *m, const struct milter_cmd *c)
{
	(void)c;
	milter_msg_done(m);
}

/* milter_quit - SMFIC_QUIT */
static void milter_quit(struct milter *m, const struct milter_cmd *c)
{
	(void)c;
	m->done = 1;
}

/* milter_quit_nc - SMFIC_QUIT_NC: this SMTP session is over, another follows */
static void milter_quit_nc(struct milter *m, const struct milter_cmd *c)
{
	(void)c;
	milter_msg_done(m);
	milter_macro_clear(m, "");
	m->client_name[0] = m->client_addr[0] = m->client_port[0] = m->helo[0] = 0;
	m->state = MS_CONN;
}

/* milter_unknown - SMFIC_UNKNOWN: an SMTP command the MTA did not know */
static void milter_unknown(struct milter *m, const struct milter_cmd *c)
{
	(void)m;
	(void)c;
}

struct milter_verb {
	unsigned char cmd;
	unsigned states;		/* MS_* where it may come */
	void (*act)(struct milter *, const struct milter_cmd *);
};

static const struct milter_verb milter_verbs[] = {
	{ SMFIC_OPTNEG, MS_NEG | MS_CONN, milter_optneg },
	{ SMFIC_MACRO, MS_UP, milter_macro_cmd },
	{ SMFIC_CONNECT, MS_CONN, milter_connect },
	{ SMFIC_HELO, MS_CONN | MS_MAIL | MS_RCPT, milter_helo },
	{ SMFIC_MAIL, MS_CONN, milter_mail },
	{ SMFIC_RCPT, MS_MAIL | MS_RCPT, milter_rcpt },
	{ SMFIC_DATA, MS_RCPT, milter_data },
	{ SMFIC_HEADER, MS_RCPT | MS_HDR, milter_header },
	{ SMFIC_EOH, MS_RCPT | MS_HDR, milter_eoh },
	{ SMFIC_BODY, MS_CONTENT, milter_body },
	{ SMFIC_BODYEOB, MS_CONTENT, milter_eob },
	{ SMFIC_UNKNOWN, MS_CONN | MS_MAIL | MS_RCPT, milter_unknown },
	{ SMFIC_ABORT, MS_UP, milter_abort },
	{ SMFIC_QUIT, MS_ANY, milter_quit },
	{ SMFIC_QUIT_NC, MS_UP, milter_quit_nc },
};

/*
 * milter_packet - one packet: decode (syntax), check (state), act,
 * then SMFIR_CONTINUE where the MTA waits for one. OPTNEG and end of
 * body give their own answer.
 */
static void milter_packet(struct milter *m, const struct milter_packet *p)
{
	struct milter_cmd *c = &m->cmd;
	const struct milter_verb *verb = NULL;
	const char *err = NULL;
	size_t i;

	m->packets++;
	if (milter_decode(p, c, &err) < 0) {
		log_warning("milter: protocol error from %s: %s: %s; closing", m->peer, milter_cmd_name(p->cmd), err);
		m->done = 1;
		return;
	}
	for (i = 0; i < sizeof(milter_verbs) / sizeof(milter_verbs[0]); i++)
		if (milter_verbs[i].cmd == c->cmd)
			verb = &milter_verbs[i];
	if (verb == NULL) {
		m->errors++;
		log_warning("milter: unknown command 0x%02x (%zu bytes) from %s", p->cmd, p->len, m->peer);
		if (m->errors >= MILTER_ERROR_LIMIT) {
			log_warning("milter: too many errors from %s; closing", m->peer);
			m->done = 1;
			return;
		}
		if (m->state != MS_NEG)
			milter_put(&m->out, SMFIR_CONTINUE, NULL, 0);
		return;
	}
	if (!(verb->states & m->state)) {
		log_warning("milter: %s out of sequence from %s; closing", milter_cmd_name(c->cmd), m->peer);
		m->done = 1;
		return;
	}
	log_debug(LOG_DBG_SMTPD, "milter< %s (%zu bytes)", milter_cmd_name(c->cmd), p->len);
	verb->act(m, c);
	if (!m->done && c->cmd != SMFIC_OPTNEG && c->cmd != SMFIC_BODYEOB &&
	    milter_reply_expected(c->cmd, m->protocol))
		milter_put(&m->out, SMFIR_CONTINUE, NULL, 0);
}

/* milter_lost - a read failed: log why, at the level it deserves */
static void milter_lost(struct milter *m, ssize_t rc)
{
	int mid = m->msg != NULL || !milter_reader_idle(&m->rd);

	if (rc == CONN_TIMEOUT)
		log_info("milter: timeout after %lds waiting for %s%s", (long)cfg_int(m->w->cfg, P_MILTER_TIMEOUT),
		    m->peer, mid ? " in a message (the MTA applies milter_default_action)" : "");
	else if (mid)
		log_warning("milter: %s, in a message from %s", conn_error(m->c), m->peer);
	else
		log_debug(LOG_DBG_SMTPD, "milter: %s from %s", conn_error(m->c), m->peer);
}

/*
 * milter_session - negotiate, then packets until QUIT, EOF, timeout or
 * a protocol error. Replies are queued and go out when netio next waits
 * for the MTA (or at once after end of body). A draining worker leaves
 * between messages.
 */
void milter_session(struct worker *w, int fd, const struct listener *l)
{
	struct arena *sess = arena_create(0);
	struct milter *m = arena_alloc(sess, sizeof(*m));
	char addr[64], port[16];
	char rbuf[MILTER_READ];

	m->w = w;
	m->l = l;
	m->sess = sess;
	m->tx = arena_create(0);
	m->c = conn_create(fd);
	m->state = MS_NEG;
	m->size_limit = cfg_int(w->cfg, P_MESSAGE_SIZE_LIMIT);
	m->max_rcpts = cfg_int(w->cfg, P_MAX_RECIPIENTS);
	milter_reader_init(&m->rd);
	buf_init(&m->out);
	buf_init(&m->line);
	buf_init(&m->stage);
	conn_set_timeout(m->c, (int)cfg_int(w->cfg, P_MILTER_TIMEOUT) * 1000);
	net_peer(fd, addr, sizeof(addr), port, sizeof(port));
	(void)snprintf(m->peer, sizeof(m->peer), addr[0] ? "[%s]:%s" : "%s%s", addr[0] ? addr : l->spec,
	    addr[0] ? port : "");
	log_debug(LOG_DBG_SMTPD, "milter: connect from %s to %s", m->peer, l->spec);

	while (!m->done) {
		ssize_t n;
		size_t off = 0;

		/* between messages the wait is woken by the drain signal: a
		 * draining worker leaves an idle milter connection at once
		 * (the MTA applies milter_default_action to what follows) */
		if (m->msg == NULL && milter_reader_idle(&m->rd)) {
			n = conn_wait_input(m->c, cfg_int(w->cfg, P_MILTER_TIMEOUT) * 1000, &w->draining);
			if (n < 0) {
				milter_lost(m, n);
				break;
			}
			if (w->draining && !conn_input_ready(m->c)) {
				log_info("milter: draining, closing the idle connection from %s", m->peer);
				break;
			}
		}
		n = conn_read_some(m->c, rbuf, sizeof(rbuf));
		if (n < 0) {
			milter_lost(m, n);
			break;
		}
		while (off < (size_t)n && !m->done) {
			struct milter_packet pkt;
			const char *err = NULL;
			size_t used = 0;
			int rc = milter_reader_push(&m->rd, rbuf + off, (size_t)n - off, &used, &pkt, &err);

			off += used;
			if (rc < 0) {
				log_warning("milter: protocol error from %s: %s; closing", m->peer, err);
				m->done = 1;
			} else if (rc == 1) {
				milter_packet(m, &pkt);
			}
		}
		milter_send(m);
		if (w->draining && m->msg == NULL && milter_reader_idle(&m->rd))
			m->done = 1;
	}
	if (m->msg)
		milter_msg_done(m);	/* unanswered: the MTA applies its default action */
	(void)conn_flush(m->c);
	log_debug(LOG_DBG_SMTPD, "milter: disconnect from %s packets=%lu errors=%u", m->peer, m->packets,
	    m->errors);
	conn_free(&m->c);
	milter_reader_free(&m->rd);
	buf_free(&m->out);
	buf_free(&m->line);
	buf_free(&m->stage);
	arena_free(&m->tx);
	log_set_session(NULL);
	arena_free(&sess);
}
