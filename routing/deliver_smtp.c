/*
 * deliver_smtp.c - the SMTP/LMTP client that re-injects a message into
 * Postfix (or hands it to an LMTP server), with a per-worker cache of
 * open connections. The contract is in routing.h.
 *
 * One transaction: [XFORWARD...] MAIL RCPT... DATA, content, end of
 * data. With PIPELINING the group goes out in one write and the replies
 * are read in order; without it, one command at a time. The content is
 * the caller's prepended header lines and then the spool, dot-stuffed
 * span by span (memchr over line starts), big spans written straight
 * from the spool without a copy.
 *
 * Safety rules, in the order they matter:
 *   - a recipient gets a 2xx only from the server's reply after the
 *     final dot (per recipient for LMTP);
 *   - a failure of the whole transaction (connect, timeout, lost
 *     connection, 421, malformed reply) gives every listed recipient a
 *     451 and drops the connection; LMTP replies already received after
 *     the dot stand (they are final downstream);
 *   - a cached connection that fails before the final dot is replaced
 *     once and the whole transaction redone; after the dot nothing is
 *     retried (a duplicate is worse than a delay);
 *   - the caller's deadline (deliver_opts.deadline, inside child_timeout)
 *     bounds the whole delivery: connect, each read and write are cut to
 *     what is left of it, and when it is reached the connection is
 *     closed and the recipients get 451 4.4.2 from a live worker, rather
 *     than the master killing the worker while downstream may still
 *     accept (Postfix would retry and deliver twice).
 *
 *   - when the TLS policy requires TLS (encrypt, verify, secure), no
 *     MAIL goes out before the handshake (and the certificate check)
 *     succeeded; otherwise every listed recipient gets the TLS failure
 *     reply and the connection is closed (STARTTLS, the contexts and the
 *     certificate check are in deliver_tls.c).
 *
 * Left out: CHUNKING/BDAT, AUTH, HELO fallback details beyond "EHLO
 * refused → HELO" for SMTP (and what deliver_tls.c leaves out).
 * Limits: reply lines DLV_LINE_MAX, lines per reply DLV_REPLY_LINES,
 * XFORWARD lines DLV_XF_LINE_MAX, other commands DLV_CMD_MAX, commands
 * in flight DLV_PIPELINE_MAX, cached connections DLV_CACHE_MAX.
 * Why so long: one SMTP/LMTP client transaction is one state machine
 * (greeting, EHLO/LHLO, XFORWARD, MAIL, RCPT, DATA or BDAT, the
 * per-recipient LMTP replies, the cache of open sessions) whose steps
 * share the session struct; TLS, its one separable part, is in
 * deliver_tls.c.
 */
#include "config.h"

#include <limits.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "lib/spool.h"
#include "routing/deliver_private.h"

#define DLV_LINE_MAX		2048	/* one reply line from the server */
#define DLV_REPLY_LINES		100	/* lines in one multi-line reply */
#define DLV_XF_LINE_MAX		512	/* one XFORWARD command, with CRLF */
#define DLV_CMD_MAX		2048	/* MAIL/RCPT with their parameters, with CRLF */
#define DLV_CACHE_MAX		8	/* cached connections per worker */
#define DLV_QUEUEID_MAX		64	/* "queued as" id kept for the log */
#define DLV_CHECK_EVERY		65536	/* content bytes between write-error checks */
#define DLV_QUIT_TIMEOUT_MS	1000
#define DLV_DEADLINE_SLACK_MS	100	/* a timeout this close to the deadline is the deadline's */
#define DLV_MARGIN_MIN_MS	2000	/* deliver_margin_ms bounds */
#define DLV_MARGIN_MAX_MS	30000
#define DLV_FRESH_MS		1000	/* a cached connection used this recently is not polled */

/* XFORWARD attributes in the order Postfix sends them */
enum { XF_NAME, XF_ADDR, XF_PORT, XF_PROTO, XF_HELO, XF_IDENT, XF_SOURCE, XF__COUNT };
static const char *const xf_names[XF__COUNT] = {
	"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE",
};


/* dlv_fail - record why the whole transaction failed; returns -1 */
int dlv_fail(struct dlv_tx *tx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tx->reason, sizeof(tx->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* deliver_margin_ms - the reply margin inside child_timeout (routing.h) */
long long deliver_margin_ms(long long child_timeout_s)
{
	long long child = child_timeout_s * 1000, m = child / 10;

	if (m < DLV_MARGIN_MIN_MS)
		m = DLV_MARGIN_MIN_MS;
	if (m > DLV_MARGIN_MAX_MS)
		m = DLV_MARGIN_MAX_MS;
	if (m > child / 2)
		m = child / 2;
	return m;
}

/* dlv_left_ms - milliseconds left before o's deadline; LLONG_MAX
 * without one, <= 0 once it has passed */
static long long dlv_left_ms(const struct deliver_opts *o)
{
	struct timespec now;

	if (o->deadline.tv_sec == 0)
		return LLONG_MAX;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(o->deadline.tv_sec - now.tv_sec) * 1000 +
	    (o->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

/* dlv_timeout_ms - a timeout of secs seconds, cut to what is left
 * before the deadline (at least 1 ms) */
static int dlv_timeout_ms(const struct deliver_opts *o, int secs)
{
	long long t = (long long)secs * 1000, left = dlv_left_ms(o);

	if (left < t)
		t = left;
	return t < 1 ? 1 : (int)t;
}

/* dlv_arm - put the deadline on a connection (every later read and
 * write stops at it); -1 with tx->reason when it has passed already */
static int dlv_arm(struct dlv_tx *tx, struct conn *c)
{
	long long left = dlv_left_ms(tx->o);

	if (left == LLONG_MAX)
		return 0;
	if (left <= 0) {
		tx->deadline_hit = 1;
		return dlv_fail(tx, "%s", "time limit of the message reached (inside child_timeout) "
		    "before delivery");
	}
	conn_set_deadline(c, left > INT_MAX ? INT_MAX : (int)left);
	return 0;
}

/* dlv_deadline_check - after a failure: was it the deadline? Then say
 * so in tx->reason and set tx->deadline_hit */
static void dlv_deadline_check(struct dlv_tx *tx)
{
	char why[DLV_REASON_MAX];

	if (tx->deadline_hit || dlv_left_ms(tx->o) > DLV_DEADLINE_SLACK_MS)
		return;
	tx->deadline_hit = 1;
	strlcpy(why, tx->reason, sizeof(why));
	dlv_fail(tx, "time limit of the message reached (inside child_timeout): %s", why);
}

/* dlv_clean - printable-ASCII copy of n bytes of s (others become '?') */
static void dlv_clean(char *out, size_t outsz, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = 0;
}

/* dlv_line_code - code of one reply line "NNN[ -]...", 0 if malformed */
static int dlv_line_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-'))
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* dlv_enh_len - length of an enhanced status code at the start of s */
static size_t dlv_enh_len(const char *s, size_t len)
{
	size_t p = 0;
	int part, digits;

	if (len < 5 || s[0] < '2' || s[0] > '5')
		return 0;
	p = 1;
	for (part = 0; part < 2; part++) {
		if (p >= len || s[p++] != '.')
			return 0;
		for (digits = 0; p < len && s[p] >= '0' && s[p] <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
	}
	if (p < len && s[p] != ' ')
		return 0;
	return p;
}

/* dlv_parse_cap - one EHLO keyword line into dc's capabilities */
static void dlv_parse_cap(struct dlv_conn *dc, const char *t, size_t len)
{
	size_t kw = 0;

	while (kw < len && t[kw] != ' ' && t[kw] != '=')
		kw++;
#define KW(s) (kw == sizeof(s) - 1 && strncasecmp(t, s, kw) == 0)
	if (KW("PIPELINING")) {
		dc->caps |= CAP_PIPELINING;
	} else if (KW("SIZE")) {
		dc->caps |= CAP_SIZE;
		dc->size_max = kw < len ? strtoll(t + kw + 1, NULL, 10) : 0;
		if (dc->size_max < 0)
			dc->size_max = 0;
	} else if (KW("8BITMIME")) {
		dc->caps |= CAP_8BITMIME;
	} else if (KW("SMTPUTF8")) {
		dc->caps |= CAP_SMTPUTF8;
	} else if (KW("DSN")) {
		dc->caps |= CAP_DSN;
	} else if (KW("ENHANCEDSTATUSCODES")) {
		dc->caps |= CAP_ENHSC;
	} else if (KW("STARTTLS")) {
		dc->caps |= CAP_STARTTLS;
	} else if (KW("XFORWARD")) {
		size_t p = kw;

		dc->caps |= CAP_XFORWARD;
		while (p < len) {
			size_t s, e;
			int a;

			while (p < len && t[p] == ' ')
				p++;
			s = p;
			while (p < len && t[p] != ' ')
				p++;
			e = p;
			for (a = 0; a < XF__COUNT; a++)
				if (e - s == strlen(xf_names[a]) && strncasecmp(t + s, xf_names[a], e - s) == 0)
					dc->xf_attrs |= 1u << a;
		}
	}
#undef KW
}

/*
 * dlv_read_reply - read one complete (multi-line) reply.
 *
 * Every line must carry the same code; the texts are joined with a
 * space (a repeated enhanced code is dropped) and cut at DLV_REPLY_TEXT.
 * With caps != NULL the lines after the first are EHLO keywords.
 * Returns 0, or -1 with tx->reason (I/O error, timeout, too long a
 * line, too many lines, malformed).
 */
int dlv_read_reply(struct dlv_tx *tx, struct dlv_conn *dc, struct dlv_reply *r,
    struct dlv_conn *caps, const char *stage)
{
	const char *line;
	size_t len, nlines = 0, o = 0, enh = 0;
	int rc, code = 0;
	char pr[120];

	r->code = 0;
	r->line[0] = 0;
	for (;;) {
		const char *text;
		size_t tlen;
		int lc;

		rc = conn_read_line(dc->conn, DLV_LINE_MAX, &line, &len);
		if (rc == CONN_PART)
			return dlv_fail(tx, "%s: reply line longer than %d bytes", stage, DLV_LINE_MAX);
		if (rc < 0)
			return dlv_fail(tx, "%s: %s", stage, conn_error(dc->conn));
		log_debug(LOG_DBG_DELIVER, "%s < %s", dc->spec, log_printable(pr, sizeof(pr), line, len));
		if (++nlines > DLV_REPLY_LINES)
			return dlv_fail(tx, "%s: reply of more than %d lines", stage, DLV_REPLY_LINES);
		lc = dlv_line_code(line, len);
		if (lc == 0 || (code != 0 && lc != code)) {
			dlv_clean(pr, 80, line, len);
			return dlv_fail(tx, "%s: malformed reply: %s", stage, pr);
		}
		code = lc;
		text = len > 4 ? line + 4 : "";
		tlen = len > 4 ? len - 4 : 0;
		if (nlines == 1) {
			enh = dlv_enh_len(text, tlen);
			r->line[0] = line[0];
			r->line[1] = line[1];
			r->line[2] = line[2];
			r->line[3] = ' ';
			o = 4;
		} else {
			if (caps != NULL)
				dlv_parse_cap(caps, text, tlen);
			if (enh > 0 && tlen >= enh && memcmp(text, r->line + 4, enh) == 0) {
				text += enh;
				tlen -= enh;
				while (tlen > 0 && *text == ' ')
					text++, tlen--;
			}
			if (o < DLV_REPLY_TEXT && tlen > 0)
				r->line[o++] = ' ';
		}
		if (o < DLV_REPLY_TEXT) {
			dlv_clean(r->line + o, DLV_REPLY_TEXT + 1 - o, text, tlen);
			o += strlen(r->line + o);
		}
		if (len == 3 || line[3] == ' ')
			break;
	}
	while (o > 3 && r->line[o - 1] == ' ')
		o--;
	r->line[o] = 0;
	r->code = code;
	return 0;
}

/* dlv_send - queue one command line (without CRLF) and log it */
void dlv_send(struct dlv_conn *dc, const char *cmd)
{
	char pr[200];

	log_debug(LOG_DBG_DELIVER, "%s > %s", dc->spec, log_printable(pr, sizeof(pr), cmd, strlen(cmd)));
	conn_puts(dc->conn, cmd);
	conn_write(dc->conn, "\r\n", 2);
}

/* dlv_close - close a connection, politely (QUIT, not waiting for the
 * 221) when quit is set; frees it and sets *dcp to NULL */
static void dlv_close(struct dlv_conn **dcp, int quit)
{
	struct dlv_conn *dc = *dcp;

	if (dc == NULL)
		return;
	if (dc->conn != NULL) {
		conn_discard_output(dc->conn);
		if (quit) {
			conn_set_timeout(dc->conn, DLV_QUIT_TIMEOUT_MS);
			dlv_send(dc, "QUIT");
			(void)conn_flush(dc->conn);
		}
		conn_free(&dc->conn);
	}
	free(dc->key);
	free(dc);
	*dcp = NULL;
}

/* dlv_mono_ms - CLOCK_MONOTONIC in milliseconds (vDSO: no system call) */
static long long dlv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * dlv_conn_dead - an idle cached connection with something to read
 * (EOF, or an unsolicited 421) is of no more use. One used within
 * DLV_FRESH_MS is taken as alive without a poll(): if the server did
 * close it meanwhile, the first reply of the next transaction says so
 * before any of the message went out, and deliver() retries once
 * on a fresh connection.
 */
static int dlv_conn_dead(struct dlv_conn *dc)
{
	struct pollfd pfd;

	if (conn_pending(dc->conn) > 0)
		return 1;
	if (dc->used_ms > 0 && dlv_mono_ms() - dc->used_ms < DLV_FRESH_MS)
		return 0;
	pfd.fd = conn_fd(dc->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) != 0;
}

/* dlv_hello - EHLO (LHLO for LMTP) and the capabilities; an SMTP
 * server that refuses EHLO with a 5xx gets HELO and is used without
 * extensions. 0, or -1 with tx->reason. */
int dlv_hello(struct dlv_tx *tx, struct dlv_conn *dc)
{
	const struct deliver_opts *o = tx->o;
	const char *verb = dc->proto == FWD_LMTP ? "LHLO" : "EHLO";
	const char *name = o->helo_name && *o->helo_name ? o->helo_name : "localhost";
	struct dlv_reply r;
	char cmd[300];

	dc->caps = dc->xf_attrs = 0;
	dc->size_max = 0;
	snprintf(cmd, sizeof(cmd), "%s %s", verb, name);
	dlv_send(dc, cmd);
	if (dlv_read_reply(tx, dc, &r, dc, verb) < 0)
		return -1;
	if (r.code / 100 == 5 && r.code != 554 && dc->proto == FWD_SMTP) {
		dc->caps = dc->xf_attrs = 0;
		snprintf(cmd, sizeof(cmd), "HELO %s", name);
		dlv_send(dc, cmd);
		if (dlv_read_reply(tx, dc, &r, NULL, "HELO") < 0)
			return -1;
	}
	if (r.code / 100 != 2)
		return dlv_fail(tx, "%s: %s", verb, r.line);
	return 0;
}

/*
 * dlv_open - connect, read the greeting, EHLO (LHLO for LMTP) and learn
 * the capabilities, then STARTTLS as the TLS policy says (none when
 * plain is set: the "may" fallback). 0, or -1 with tx->reason (and
 * tx->tls_failed or tx->tls_fallback as dlv_starttls sets them).
 */
static int dlv_open(struct dlv_tx *tx, struct dlv_conn **dcp, const char *key, int plain)
{
	const struct fwd_method *m = tx->m;
	const struct deliver_opts *o = tx->o;
	struct dlv_conn *dc;
	struct dlv_reply r;
	const char *err;
	int fd;

	*dcp = NULL;
	if (dlv_left_ms(o) <= 0) {
		tx->deadline_hit = 1;
		return dlv_fail(tx, "%s", "time limit of the message reached (inside child_timeout) before connecting");
	}
	fd = net_connect(&m->ep, dlv_timeout_ms(o, o->connect_timeout), &err);
	if (fd < 0) {
		dlv_fail(tx, "%s", err);
		dlv_deadline_check(tx);
		return -1;
	}
	dc = xcalloc(1, sizeof(*dc));
	strlcpy(dc->spec, m->spec, sizeof(dc->spec));
	dc->key = xstrdup(key);
	dc->proto = m->proto;
	dc->conn = conn_create(fd);
	conn_set_timeout(dc->conn, o->command_timeout * 1000);
	if (dlv_arm(tx, dc->conn) < 0)
		goto fail;
	log_debug(LOG_DBG_DELIVER, "%s: connected", dc->spec);
	if (dlv_read_reply(tx, dc, &r, NULL, "greeting") < 0)
		goto fail;
	if (r.code != 220) {
		dlv_fail(tx, "greeting: %s", r.line);
		goto fail;
	}
	if (dlv_hello(tx, dc) < 0)
		goto fail;
	if (!plain && tx->tls->level != TLS_NONE && dlv_starttls(tx, dc) < 0)
		goto fail;
	*dcp = dc;
	return 0;
fail:
	/* a session refused for want of TLS ends politely; nothing was sent */
	dlv_close(&dc, tx->quit_ok);
	dlv_deadline_check(tx);
	return -1;
}

/* dlv_xtext - append value xtext-encoded (RFC 3461) to out; returns
 * the new length, or outsz when it does not fit */
static size_t dlv_xtext(char *out, size_t o, size_t outsz, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c < '!' || c > '~' || c == '+' || c == '=') {
			if (o + 3 >= outsz)
				return outsz;
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= outsz)
				return outsz;
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
	return o;
}

/*
 * dlv_xf_value - what we tell the server for one XFORWARD attribute.
 *
 * When Postfix sent us XFORWARD, its values are passed on as they are
 * (a missing one as [UNAVAILABLE]). When it did not, the facts of the
 * TCP session we received on stand in: peer address and port, HELO and
 * protocol; NAME (we do no reverse lookup), IDENT and SOURCE are then
 * [UNAVAILABLE]. NULL means [UNAVAILABLE].
 */
static const char *dlv_xf_value(const struct message *msg, int attr, char *tmp, size_t tmpsz)
{
	const struct xforward *xf = &msg->xf;
	int got = xf->name || xf->addr || xf->port || xf->proto || xf->helo || xf->ident || xf->source;
	const char *v = NULL;

	switch (attr) {
	case XF_NAME:
		v = xf->name;
		break;
	case XF_ADDR:
		v = got ? xf->addr : msg->client_addr;
		/* Postfix wants IPv6 addresses tagged */
		if (v && strchr(v, ':') && strncasecmp(v, "IPV6:", 5) != 0) {
			snprintf(tmp, tmpsz, "IPV6:%s", v);
			v = tmp;
		}
		break;
	case XF_PORT:
		v = got ? xf->port : msg->client_port;
		break;
	case XF_PROTO:
		v = got ? xf->proto : (msg->lmtp ? "LMTP" : "ESMTP");
		break;
	case XF_HELO:
		v = got ? xf->helo : msg->helo;
		break;
	case XF_IDENT:
		v = xf->ident;
		break;
	case XF_SOURCE:
		v = xf->source;
		break;
	}
	return v && *v ? v : NULL;
}

static int dlv_drain(struct dlv_tx *tx);

/* dlv_queue - one command sent; read the replies of everything in
 * flight now unless pipelining lets more commands join the group */
static int dlv_queue(struct dlv_tx *tx, const char *cmd, enum dlv_pending_kind kind, size_t i)
{
	dlv_send(tx->dc, cmd);
	tx->pend[tx->npend].kind = kind;
	tx->pend[tx->npend].i = i;
	tx->npend++;
	if (!(tx->dc->caps & CAP_PIPELINING) || kind == PEND_DATA || tx->npend >= DLV_PIPELINE_MAX)
		return dlv_drain(tx);
	return 0;
}

/* dlv_send_xforward - the XFORWARD commands for the attributes the
 * server offered, packed into lines of at most DLV_XF_LINE_MAX bytes */
static int dlv_send_xforward(struct dlv_tx *tx)
{
	char line[DLV_XF_LINE_MAX], item[DLV_XF_LINE_MAX], tmp[300];
	size_t llen = 0;
	int a;

	for (a = 0; a < XF__COUNT; a++) {
		const char *v;
		size_t ilen;

		if (!(tx->dc->xf_attrs & (1u << a)))
			continue;
		v = dlv_xf_value(tx->msg, a, tmp, sizeof(tmp));
		ilen = (size_t)snprintf(item, sizeof(item), " %s=", xf_names[a]);
		if (v != NULL)
			ilen = dlv_xtext(item, ilen, sizeof(item), v);
		/* a value that cannot fit one line is not known as far as the server is concerned */
		if (v == NULL || ilen + strlen("XFORWARD") + 2 > DLV_XF_LINE_MAX)
			ilen = (size_t)snprintf(item, sizeof(item), " %s=[UNAVAILABLE]", xf_names[a]);
		if (llen > 0 && llen + ilen + 2 > DLV_XF_LINE_MAX) {
			if (dlv_queue(tx, line, PEND_XFORWARD, 0) < 0)
				return -1;
			llen = 0;
		}
		if (llen == 0)
			llen = (size_t)snprintf(line, sizeof(line), "XFORWARD");
		memcpy(line + llen, item, ilen + 1);
		llen += ilen;
	}
	if (llen > 0 && dlv_queue(tx, line, PEND_XFORWARD, 0) < 0)
		return -1;
	return 0;
}

/* dlv_safe_addr - an address we may put between angle brackets */
static int dlv_safe_addr(const char *a)
{
	return a != NULL && strpbrk(a, "\r\n<>") == NULL && strlen(a) < 1000;
}

/* dlv_mail_cmd - MAIL FROM with the parameters the server offers; the
 * optional ENVID is left out rather than exceed DLV_CMD_MAX */
static void dlv_mail_cmd(struct dlv_tx *tx, size_t size, char *cmd, size_t cmdsz)
{
	const struct message *msg = tx->msg;
	unsigned caps = tx->dc->caps;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		size_t l = (size_t)snprintf(cmd, cmdsz, "MAIL FROM:<%s>", msg->sender ? msg->sender : "");

		if (l < cmdsz && (caps & CAP_SIZE))
			l += (size_t)snprintf(cmd + l, cmdsz - l, " SIZE=%zu", size);
		if (l < cmdsz && (caps & CAP_8BITMIME) && msg->body != BODY_NONE)
			l += (size_t)snprintf(cmd + l, cmdsz - l, " BODY=%s",
			    msg->body == BODY_7BIT ? "7BIT" : "8BITMIME");
		if (l < cmdsz && (caps & CAP_SMTPUTF8) && msg->smtputf8)
			l += (size_t)snprintf(cmd + l, cmdsz - l, " SMTPUTF8");
		if (l < cmdsz && (caps & CAP_DSN) && msg->ret != DSN_RET_NONE)
			l += (size_t)snprintf(cmd + l, cmdsz - l, " RET=%s", msg->ret == DSN_RET_FULL ? "FULL" : "HDRS");
		if (l < cmdsz && (caps & CAP_DSN) && msg->envid && *msg->envid && pass == 0)
			l += (size_t)snprintf(cmd + l, cmdsz - l, " ENVID=%s", msg->envid);
		if (l + 2 < cmdsz)
			return;
		log_warning("ENVID too long to forward; left out");
	}
}

/* dlv_rcpt_cmd - RCPT TO with NOTIFY/ORCPT when the server offers DSN;
 * the optional ORCPT is left out rather than exceed DLV_CMD_MAX */
static void dlv_rcpt_cmd(struct dlv_tx *tx, const struct rcpt *r, char *cmd, size_t cmdsz)
{
	int dsn = (tx->dc->caps & CAP_DSN) != 0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		size_t l = (size_t)snprintf(cmd, cmdsz, "RCPT TO:<%s>", r->addr);

		if (l < cmdsz && dsn && r->notify) {
			if (r->notify & DSN_NOTIFY_NEVER) {
				l += (size_t)snprintf(cmd + l, cmdsz - l, " NOTIFY=NEVER");
			} else {
				const char *sep = " NOTIFY=";

				if (r->notify & DSN_NOTIFY_SUCCESS)
					l += (size_t)snprintf(cmd + l, cmdsz - l, "%sSUCCESS", sep), sep = ",";
				if (l < cmdsz && (r->notify & DSN_NOTIFY_FAILURE))
					l += (size_t)snprintf(cmd + l, cmdsz - l, "%sFAILURE", sep), sep = ",";
				if (l < cmdsz && (r->notify & DSN_NOTIFY_DELAY))
					l += (size_t)snprintf(cmd + l, cmdsz - l, "%sDELAY", sep);
			}
		}
		if (l < cmdsz && dsn && r->orcpt && *r->orcpt && pass == 0)
			l += (size_t)snprintf(cmd + l, cmdsz - l, " ORCPT=%s", r->orcpt);
		if (l + 2 < cmdsz)
			return;
		log_warning("ORCPT too long to forward; left out");
	}
}

/*
 * dlv_drain - read the replies of the commands in flight, in order,
 * and record what each means. A 421 anywhere, or a reply of a class
 * that makes no sense for the command, fails the whole transaction.
 */
static int dlv_drain(struct dlv_tx *tx)
{
	struct dlv_reply r;
	size_t k;

	for (k = 0; k < tx->npend; k++) {
		const struct dlv_pending *p = &tx->pend[k];
		static const char *const stage[] = { "XFORWARD", "MAIL FROM", "RCPT TO", "DATA" };

		if (dlv_read_reply(tx, tx->dc, &r, NULL, stage[p->kind]) < 0)
			return -1;
		if (r.code == 421)
			return dlv_fail(tx, "%s: %s", stage[p->kind], r.line);
		switch (p->kind) {
		case PEND_XFORWARD:
			if (r.code / 100 != 2)
				log_warning("%s refused XFORWARD: %s", tx->dc->spec, r.line);
			break;
		case PEND_MAIL:
			tx->mail_done = 1;
			tx->mail_ok = r.code / 100 == 2;
			if (!tx->mail_ok)
				tx->mail_line = arena_strdup(tx->msg->arena, r.line);
			break;
		case PEND_RCPT:
			if (r.code / 100 == 3)
				return dlv_fail(tx, "RCPT TO: unexpected reply: %s", r.line);
			if (!tx->mail_ok) {
				/* answered for a refused MAIL: MAIL's reply says it all */
				tx->rline[p->i] = tx->mail_line;
			} else if (r.code / 100 == 2) {
				tx->accepted[p->i] = 1;
				tx->naccepted++;
			} else {
				tx->rline[p->i] = arena_strdup(tx->msg->arena, r.line);
			}
			break;
		case PEND_DATA:
			if (r.code / 100 == 2)
				return dlv_fail(tx, "DATA: unexpected reply: %s", r.line);
			tx->data_code = r.code;
			tx->data_line = arena_strdup(tx->msg->arena, r.line);
			break;
		}
	}
	tx->npend = 0;
	return 0;
}

/* content writer: tracks what should have gone out, to notice a write
 * that failed inside conn_write (which does not report it) */
struct dlv_out {
	struct conn *c;
	unsigned long long base, written;
	size_t unchecked;
	int any;			/* something was written */
	char last;			/* last byte written */
};

/* dlv_put - write bytes of content; -1 once a write has failed */
static int dlv_put(struct dlv_out *w, const char *p, size_t len)
{
	if (len == 0)
		return 0;
	conn_write(w->c, p, len);
	w->written += len;
	w->unchecked += len;
	w->last = p[len - 1];
	w->any = 1;
	if (w->unchecked >= DLV_CHECK_EVERY) {
		if (conn_flush(w->c) < 0 || conn_bytes_out(w->c) != w->base + w->written)
			return -1;
		w->unchecked = 0;
	}
	return 0;
}

/* dlv_put_stuffed - write p dot-stuffed: a line that starts with '.'
 * gets one more. Whole spans between such lines go out in one call;
 * *bol says whether p starts a line and is updated for the next call */
static int dlv_put_stuffed(struct dlv_out *w, const char *p, size_t len, int *bol)
{
	const char *end = p + len, *seg = p, *q = p;

	while (q < end) {
		const char *nl;

		if (*bol && *q == '.') {
			if (dlv_put(w, seg, (size_t)(q - seg)) < 0 || dlv_put(w, ".", 1) < 0)
				return -1;
			seg = q;
		}
		nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL) {
			*bol = 0;
			break;
		}
		q = nl + 1;
		*bol = 1;
	}
	return dlv_put(w, seg, (size_t)(end - seg));
}

/* dlv_send_content - prepend and spool, dot-stuffed, a final CRLF if
 * the content lacks one, then the final dot */
static int dlv_send_content(struct dlv_tx *tx, const char *prepend, size_t plen, const char *data,
    size_t dlen)
{
	struct dlv_out w;
	int bol = 1;

	memset(&w, 0, sizeof(w));
	w.c = tx->dc->conn;
	if (conn_flush(w.c) < 0)
		return dlv_fail(tx, "sending content: %s", conn_error(w.c));
	w.base = conn_bytes_out(w.c);
	log_debug(LOG_DBG_DELIVER, "%s > (%zu + %zu bytes of content)", tx->dc->spec, plen, dlen);
	if (dlv_put_stuffed(&w, prepend, plen, &bol) < 0 || dlv_put_stuffed(&w, data, dlen, &bol) < 0)
		return dlv_fail(tx, "sending content: %s", conn_error(w.c));
	if (w.any && w.last == '\r' && dlv_put(&w, "\n", 1) < 0)
		return dlv_fail(tx, "sending content: %s", conn_error(w.c));
	if (w.any && w.last != '\n' && dlv_put(&w, "\r\n", 2) < 0)
		return dlv_fail(tx, "sending content: %s", conn_error(w.c));
	/* from here on the server may have the whole message: never retry */
	tx->dot_sent = 1;
	log_debug(LOG_DBG_DELIVER, "%s > .", tx->dc->spec);
	conn_write(w.c, ".\r\n", 3);
	w.written += 3;
	if (conn_flush(w.c) < 0 || conn_bytes_out(w.c) != w.base + w.written)
		return dlv_fail(tx, "sending content: %s", conn_error(w.c));
	return 0;
}

/* dlv_queued_as - the id after "queued as " in a reply, or NULL */
static const char *dlv_queued_as(struct arena *a, const char *line)
{
	const char *p;

	for (p = line; *p; p++) {
		size_t n = 0;

		if (strncasecmp(p, "queued as ", 10) != 0)
			continue;
		p += 10;
		while (n < DLV_QUEUEID_MAX && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'A' && p[n] <= 'Z') ||
		    (p[n] >= 'a' && p[n] <= 'z') || p[n] == '.' || p[n] == '-' || p[n] == '_'))
			n++;
		return n ? arena_strndup(a, p, n) : NULL;
	}
	return NULL;
}

/* dlv_final_reply - record one end-of-data reply for listed recipient i */
static void dlv_final_reply(struct dlv_tx *tx, size_t i, const struct dlv_reply *r)
{
	tx->rline[i] = arena_strdup(tx->msg->arena, r->line);
	tx->final[i] = 1;
	if (r->code / 100 == 2)
		tx->msg->rcpts[tx->idx[i]].queued_as = dlv_queued_as(tx->msg->arena, r->line);
}

/*
 * dlv_transaction - one attempt on an open connection: envelope, data,
 * end-of-data replies. 0 when the server answered for every recipient
 * (tx->rline), -1 with tx->reason when the transaction as a whole
 * failed (tx->dot_sent says whether a retry is still safe).
 */
static int dlv_transaction(struct dlv_tx *tx, const char *prepend, size_t plen, const char *data,
    size_t dlen)
{
	struct dlv_conn *dc = tx->dc;
	struct dlv_reply r;
	char cmd[DLV_CMD_MAX];
	size_t i;

	conn_set_timeout(dc->conn, tx->o->command_timeout * 1000);
	if ((dc->caps & CAP_XFORWARD) && dc->xf_attrs && dlv_send_xforward(tx) < 0)
		return -1;
	dlv_mail_cmd(tx, dlen + plen, cmd, sizeof(cmd));
	if (dlv_queue(tx, cmd, PEND_MAIL, 0) < 0)
		return -1;
	for (i = 0; i < tx->n; i++) {
		if (tx->mail_done && !tx->mail_ok)
			break;
		dlv_rcpt_cmd(tx, &tx->msg->rcpts[tx->idx[i]], cmd, sizeof(cmd));
		if (dlv_queue(tx, cmd, PEND_RCPT, i) < 0)
			return -1;
	}
	/* without pipelining DATA goes only after a RCPT was accepted; with
	 * it, DATA closes the group unless MAIL is already known refused */
	if (!(tx->mail_done && !tx->mail_ok) &&
	    (tx->naccepted > 0 || ((dc->caps & CAP_PIPELINING) && tx->npend > 0))) {
		tx->data_sent = 1;
		if (dlv_queue(tx, "DATA", PEND_DATA, 0) < 0)
			return -1;
	}
	if (tx->npend > 0 && dlv_drain(tx) < 0)
		return -1;

	if (tx->data_sent && tx->data_code == 354 && tx->naccepted == 0) {
		/* DATA accepted with no recipient (pipelined, odd server):
		 * end it empty, which ends the transaction too */
		dlv_send(dc, ".");
		if (dlv_read_reply(tx, dc, &r, NULL, "end of empty data") < 0 || r.code == 421)
			tx->broken = 1;
		tx->reason[0] = 0;
	} else if (!tx->data_sent || tx->data_code != 354) {
		tx->abnormal = 1;	/* transaction left open: RSET */
	}
	/* every recipient without a reply yet: MAIL was refused */
	if (!tx->mail_ok) {
		for (i = 0; i < tx->n; i++)
			if (tx->rline[i] == NULL)
				tx->rline[i] = tx->mail_line;
		return 0;
	}
	if (!tx->data_sent || tx->naccepted == 0)
		return 0;
	if (tx->data_code != 354) {
		/* DATA refused: the accepted recipients get that reply */
		if (tx->data_code / 100 != 4 && tx->data_code / 100 != 5)
			return dlv_fail(tx, "DATA: unexpected reply: %s", tx->data_line);
		for (i = 0; i < tx->n; i++)
			if (tx->accepted[i])
				tx->rline[i] = tx->data_line;
		return 0;
	}
	if (dlv_send_content(tx, prepend, plen, data, dlen) < 0)
		return -1;

	conn_set_timeout(dc->conn, tx->o->data_done_timeout * 1000);
	if (dc->proto == FWD_SMTP) {
		if (dlv_read_reply(tx, dc, &r, NULL, "end of data") < 0)
			return -1;
		if (r.code == 421 || r.code / 100 == 3)
			return dlv_fail(tx, "end of data: %s", r.line);
		for (i = 0; i < tx->n; i++)
			if (tx->accepted[i])
				dlv_final_reply(tx, i, &r);
		return 0;
	}
	/* LMTP: one reply per accepted recipient, in RCPT order; those read
	 * before a failure stand */
	for (i = 0; i < tx->n; i++) {
		if (!tx->accepted[i])
			continue;
		if (dlv_read_reply(tx, dc, &r, NULL, "end of data") < 0)
			return -1;
		if (r.code == 421 || r.code / 100 == 3)
			return dlv_fail(tx, "end of data: %s", r.line);
		dlv_final_reply(tx, i, &r);
	}
	return 0;
}

/* dlv_tx_reset - forget a failed attempt before the next one */
static void dlv_tx_reset(struct dlv_tx *tx)
{
	struct arena *a = tx->msg->arena;
	size_t i;

	tx->rline = arena_allocarray(a, tx->n, sizeof(*tx->rline));
	tx->accepted = arena_alloc(a, tx->n);
	tx->final = arena_alloc(a, tx->n);
	tx->naccepted = 0;
	tx->mail_done = tx->mail_ok = 0;
	tx->mail_line = NULL;
	tx->data_sent = tx->data_code = 0;
	tx->data_line = NULL;
	tx->abnormal = tx->broken = tx->dot_sent = 0;
	tx->npend = 0;
	tx->reason[0] = 0;
	for (i = 0; i < tx->n; i++)
		tx->msg->rcpts[tx->idx[i]].queued_as = NULL;
}

/* dlv_cache_take - the cached connection for spec, out of the cache;
 * NULL when there is none still fit for use */
static struct dlv_conn *dlv_cache_take(struct deliver_cache *cache, const char *key,
    const struct deliver_opts *o, time_t now)
{
	struct dlv_conn **pp, *dc;

	if (cache == NULL)
		return NULL;
	for (pp = &cache->head; (dc = *pp) != NULL; pp = &dc->next) {
		if (strcmp(dc->key, key) != 0)
			continue;
		*pp = dc->next;
		dc->next = NULL;
		cache->n--;
		if (o->cache_time <= 0 || now - dc->last_used > o->cache_time) {
			dlv_close(&dc, 1);
			return NULL;
		}
		if (dlv_conn_dead(dc)) {
			log_debug(LOG_DBG_DELIVER, "%s: cached connection closed by the server", dc->spec);
			dlv_close(&dc, 0);
			return NULL;
		}
		return dc;
	}
	return NULL;
}

/* dlv_cache_put - keep dc for the next message; the oldest goes when
 * the cache is full */
static void dlv_cache_put(struct deliver_cache *cache, struct dlv_conn *dc)
{
	dc->next = cache->head;
	cache->head = dc;
	cache->n++;
	if (cache->n > DLV_CACHE_MAX) {
		struct dlv_conn **pp = &cache->head;

		while ((*pp)->next != NULL)
			pp = &(*pp)->next;
		dlv_close(pp, 1);
		cache->n--;
	}
}

/* deliver_cache_create - an empty connection cache */
struct deliver_cache *deliver_cache_create(void)
{
	return xcalloc(1, sizeof(struct deliver_cache));
}

/* deliver_cache_expire - QUIT and close connections idle past
 * cache_time, and those the server has closed meanwhile */
void deliver_cache_expire(struct deliver_cache *cache, const struct deliver_opts *o, time_t now)
{
	struct dlv_conn **pp, *dc;

	if (cache == NULL)
		return;
	for (pp = &cache->head; (dc = *pp) != NULL;) {
		int idle = o->cache_time <= 0 || now - dc->last_used >= o->cache_time;

		if (idle || dlv_conn_dead(dc)) {
			*pp = dc->next;
			cache->n--;
			log_debug(LOG_DBG_DELIVER, "%s: closing cached connection (%s)", dc->spec,
			    idle ? "idle" : "closed by server");
			dlv_close(&dc, idle);
		} else {
			pp = &dc->next;
		}
	}
}

/* deliver_cache_free - QUIT and close every cached connection */
void deliver_cache_free(struct deliver_cache **cachep)
{
	struct deliver_cache *cache = *cachep;

	if (cache == NULL)
		return;
	while (cache->head != NULL) {
		struct dlv_conn *dc = cache->head;

		cache->head = dc->next;
		dlv_close(&dc, 1);
	}
	while (cache->tls_head != NULL) {
		struct dlv_tls_ctx *t = cache->tls_head;

		cache->tls_head = t->next;
		SSL_CTX_free(t->ctx);
		free(t->ca_file);
		free(t->match);
		free(t);
	}
	free(cache);
	*cachep = NULL;
}

/* dlv_tempfail_all - the whole transaction failed: 451 for every listed
 * recipient that has no final reply from the server, or the TLS failure
 * reply for all when required TLS was not available (nothing was sent) */
static void dlv_tempfail_all(struct dlv_tx *tx)
{
	struct message *msg = tx->msg;
	const char *reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s, forwarding err: %s",
	    msg->am_id, tx->reason);
	size_t i;

	if (tx->deadline_hit)
		reply = arena_printf(msg->arena, "451 4.4.2 Error in processing, id=%s, forwarding err: %s",
		    msg->am_id, tx->reason);
	if (tx->tls_failed) {
		int bounce = tx->tls->bounce;

		reply = arena_printf(msg->arena, "%s TLS is required but was not available: %s",
		    bounce ? "554 5.7.4" : "450 4.7.4", tx->reason);
		for (i = 0; i < tx->n; i++) {
			msg->rcpts[tx->idx[i]].code = bounce ? 554 : 450;
			msg->rcpts[tx->idx[i]].reply = reply;
			msg->rcpts[tx->idx[i]].queued_as = NULL;
		}
		return;
	}
	for (i = 0; i < tx->n; i++) {
		struct rcpt *r = &msg->rcpts[tx->idx[i]];

		if (tx->final[i] && tx->rline[i] != NULL) {
			r->reply = reply_from_mta(msg->arena, tx->m->spec, tx->rline[i]);
			r->code = atoi(r->reply);
		} else {
			r->code = 451;
			r->reply = reply;
			r->queued_as = NULL;
		}
	}
}

/*
 * deliver - one transaction for the listed recipients (see routing.h).
 *
 * A connection from the cache (same method, same TLS policy) is used
 * when there is one; if it fails before the final dot was sent it is
 * closed and the transaction is redone once on a fresh connection. At
 * level may a failed handshake is followed by one plaintext connection.
 * Afterwards the connection goes back to the cache (RSET first when the
 * transaction was left open), or gets QUIT when caching is off.
 */
int deliver(struct deliver_cache *cache, const struct deliver_opts *o, const struct fwd_method *m,
    const struct tls_policy *tls, struct message *msg, const size_t *idx, size_t n,
    const char *prepend, size_t prepend_len, size_t skip)
{
	static const struct tls_policy no_tls = { TLS_NONE, NULL, NULL, 0 };
	struct deliver_cache *tmp_cache = NULL;
	struct dlv_tx tx;
	struct dlv_conn *dc;
	const char *data, *key;
	size_t dlen, i;
	time_t now = time(NULL);
	int attempt, accepted = 0, plain = 0;

	if (n == 0)
		return 0;
	if (tls == NULL)
		tls = &no_tls;
	memset(&tx, 0, sizeof(tx));
	tx.o = o;
	tx.m = m;
	tx.tls = tls;
	/* TLS contexts live in the cache; without one, for this call only */
	tx.cache = cache != NULL ? cache : (tmp_cache = deliver_cache_create());
	/* the policy is part of the cache key: a connection never serves
	 * another policy than the one it was opened (and checked) for */
	key = tls->level == TLS_NONE ? m->spec :
	    arena_printf(msg->arena, "%s\ntls=%s\nca=%s\nmatch=%s", m->spec, tls_level_name(tls->level),
	    tls->ca_file ? tls->ca_file : "", tls->match_name ? tls->match_name : "");
	tx.msg = msg;
	tx.idx = idx;
	tx.n = n;
	dlv_tx_reset(&tx);

	data = msg->spool ? spool_data(msg->spool, &dlen) : NULL;
	if (data == NULL) {
		dlv_fail(&tx, "message content unavailable: %s", msg->spool ? spool_error(msg->spool) : "no spool");
		goto failed;
	}
	if (dlv_left_ms(o) <= 0) {
		tx.deadline_hit = 1;
		dlv_fail(&tx, "%s", "time limit of the message reached (inside child_timeout) before delivery");
		goto failed;
	}
	if (skip > dlen)
		skip = dlen;
	data += skip;
	dlen -= skip;
	if (prepend == NULL)
		prepend_len = 0;
	if (!dlv_safe_addr(msg->sender)) {
		dlv_fail(&tx, "unusable sender address");
		goto failed;
	}
	for (i = 0; i < n; i++) {
		if (idx[i] >= msg->nrcpts || !dlv_safe_addr(msg->rcpts[idx[i]].addr)) {
			dlv_fail(&tx, "unusable recipient address");
			goto failed;
		}
	}

	dc = dlv_cache_take(cache, key, o, now);
	for (attempt = 0;; attempt++) {
		int reused = dc != NULL;

		if (dc == NULL && dlv_open(&tx, &dc, key, plain) < 0) {
			if (!tx.tls_fallback || plain)
				goto failed;
			log_warning("id=%s: TLS with %s failed (%s); trying again without TLS", msg->am_id,
			    m->spec, tx.reason);
			plain = 1;
			tx.tls_fallback = 0;
			if (dlv_open(&tx, &dc, key, plain) < 0)
				goto failed;
		}
		tx.dc = dc;
		if (attempt > 0)
			dlv_tx_reset(&tx);
		if (reused && dlv_arm(&tx, dc->conn) < 0) {
			dlv_cache_put(cache, dc);	/* still good for the next message */
			dc = tx.dc = NULL;
			goto failed;
		}
		if (dlv_transaction(&tx, prepend, prepend_len, data, dlen) == 0)
			break;
		/* whatever was sent: closed now, not when the master kills us */
		dlv_close(&dc, 0);
		tx.dc = NULL;
		dlv_deadline_check(&tx);
		if (tx.deadline_hit)
			goto failed;
		if (reused && attempt == 0 && !tx.dot_sent) {
			log_warning("id=%s: cached connection to %s failed (%s); reconnecting", msg->am_id,
			    m->spec, tx.reason);
			continue;
		}
		goto failed;
	}

	for (i = 0; i < n; i++) {
		struct rcpt *r = &msg->rcpts[idx[i]];

		r->reply = reply_from_mta(msg->arena, m->spec,
		    tx.rline[i] ? tx.rline[i] : "451 4.5.0 no reply for this recipient");
		r->code = atoi(r->reply);
		if (r->code / 100 == 2)
			accepted++;
		else
			r->queued_as = NULL;
	}
	dc->last_used = time(NULL);
	dc->used_ms = dlv_mono_ms();
	dc->transactions++;
	log_debug(LOG_DBG_DELIVER, "%s: %d of %zu recipients accepted", m->spec, accepted, n);

	if (tx.abnormal && !tx.broken && o->cache_time > 0) {
		struct dlv_reply r;

		conn_set_timeout(dc->conn, o->command_timeout * 1000);
		dlv_send(dc, "RSET");
		if (dlv_read_reply(&tx, dc, &r, NULL, "RSET") < 0 || r.code / 100 != 2)
			tx.broken = 1;
	}
	if (tx.broken)
		dlv_close(&dc, 0);
	else if (o->cache_time > 0 && cache != NULL) {
		conn_set_deadline(dc->conn, 0);		/* the next message brings its own */
		dlv_cache_put(cache, dc);
	} else
		dlv_close(&dc, 1);
	deliver_cache_free(&tmp_cache);
	return accepted;

failed:
	if (tx.deadline_hit)
		log_warning("id=%s: forwarding to %s given up: %s", msg->am_id, m->spec, tx.reason);
	else if (tx.tls_failed)
		log_error("id=%s: forwarding to %s: TLS is required (level %s) but was not available: %s",
		    msg->am_id, m->spec, tls_level_name(tls->level), tx.reason);
	else
		log_error("id=%s: forwarding to %s failed: %s", msg->am_id, m->spec, tx.reason);
	dlv_tempfail_all(&tx);
	for (i = 0, accepted = 0; i < n; i++)
		if (msg->rcpts[idx[i]].code / 100 == 2)
			accepted++;
	deliver_cache_free(&tmp_cache);
	return accepted;
}
