/*
 * process.c - one received message, from the end of DATA to the
 * per-recipient outcome: loop check, [scanning: not yet], the headers
 * we add (X-Virus-Scanned, Received), routing of the recipients by
 * forward method, re-injection through routing/, and the one log line
 * per message in amavisd's shape.
 *
 * Every recipient leaves with a code and a reply. Whatever goes wrong
 * on our side is a 4xx; a 2xx comes only from the downstream server's
 * acknowledgement of the final dot (routing/deliver_smtp.c).
 *
 * Left out (later issues): scanning and the per-recipient decision,
 * per-recipient forward_method_maps, local_domains (the direction in the
 * log is always "Inbound"), DSNs for recipients rejected downstream when
 * the client speaks SMTP (see process_warn_lost).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "routing/routing.h"
#include "workers/workers.h"

#define PROC_MAX_HOPS		100	/* more Received headers than this: a loop */
#define PROC_FOLD		78	/* fold added header lines past this column */
#define PROC_HELO_MAX		255	/* HELO name kept in our Received header */
#define PROC_LOG_RCPTS		50	/* recipients named in the log line */
#define PROC_LOG_ADDR		256	/* bytes of one address in the log line */

/* the forward method, parsed once per config */
static struct {
	const struct cfg *cfg;
	int ok;
	struct fwd_method m;
	char err[200];
} proc_fwd;

/* recipients that share one forward method share one transaction */
struct proc_group {
	const struct fwd_method *m;
	size_t *idx;
	size_t n;
};

/* proc_cfg - the config this worker runs with */
static const struct cfg *proc_cfg(const struct worker *w)
{
	return w->cfg ? w->cfg : w->env->cfg;
}

/* proc_set_all - the same outcome for every recipient still undecided */
static void proc_set_all(struct message *msg, const char *reply)
{
	size_t i;

	for (i = 0; i < msg->nrcpts; i++) {
		if (msg->rcpts[i].code != 0)
			continue;
		msg->rcpts[i].code = atoi(reply);
		msg->rcpts[i].reply = reply;
	}
}

/* proc_hops - Received headers in the header section, counted up to
 * limit + 1 (enough to know there are too many) */
static int proc_hops(const char *data, size_t len, int limit)
{
	const char *p = data, *end = data + len;
	int n = 0;

	while (p < end && n <= limit) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (llen == 0 || (llen == 1 && p[0] == '\r'))
			break;		/* end of the header section */
		if (llen >= 9 && strncasecmp(p, "Received:", 9) == 0)
			n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/* proc_token - peer text made safe for a header: printable ASCII
 * without white space or parentheses, at most max bytes */
static char *proc_token(struct arena *a, const char *s, size_t max)
{
	size_t n = strlen(s), i;
	char *out;

	if (n > max)
		n = max;
	out = arena_strndup(a, s, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')')
			out[i] = '?';
	}
	return out;
}

/* proc_ip - an address as written between brackets: Postfix's
 * "IPV6:" tag removed; tagged (tag != 0) as "IPv6:" for a header */
static const char *proc_ip(struct arena *a, const char *addr, int tag)
{
	if (addr == NULL || *addr == 0)
		return NULL;
	if (strncasecmp(addr, "IPV6:", 5) == 0)
		addr += 5;
	addr = proc_token(a, addr, 64);
	if (tag && strchr(addr, ':'))
		return arena_printf(a, "IPv6:%s", addr);
	return addr;
}

/* proc_date - RFC 5322 date in local time, "Sat, 21 Nov 2026 16:19:55
 * +0000 (UTC)", independent of the locale */
static void proc_date(char *out, size_t outsz, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
		"Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(out, outsz, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    sign, off / 3600, (off % 3600) / 60, tm.tm_zone ? tm.tm_zone : "UTC");
}

/* proc_fold_add - append one unbreakable token to a header, folding
 * (CRLF SP) before it when the line would pass PROC_FOLD */
static void proc_fold_add(struct buf *b, size_t *col, const char *tok)
{
	size_t tl = strlen(tok);

	if (*col > 1 && *col + 1 + tl > PROC_FOLD) {
		buf_puts(b, "\r\n");
		*col = 0;
	}
	buf_putc(b, ' ');
	buf_puts(b, tok);
	*col += 1 + tl;
}

/*
 * proc_prepend - the header lines we add, CRLF-terminated, in the
 * order amavisd adds them: X-Virus-Scanned (none when x_header_tag is
 * empty), then our Received header:
 *
 *   Received: from <helo> ([<client ip>])
 *    by localhost (<myhostname> [<local addr>]) (tollgate, port <port>) with ESMTP
 *    id <mail_id> for <rcpt>;
 *    <date>
 *
 * The helo and client ip are XFORWARD's when Postfix sent them, else
 * those of our own session; "for <rcpt>" only with exactly one
 * recipient. Tokens are folded at PROC_FOLD columns, never inside one.
 */
static char *proc_prepend(struct worker *w, struct message *msg, size_t *len_r)
{
	const struct cfg *cfg = proc_cfg(w);
	struct arena *a = msg->arena;
	const char *tag = cfg_str(cfg, P_X_HEADER_TAG);
	const char *helo, *ip, *host, *local;
	struct buf b = BUF_INIT;
	char date[64];
	size_t col;
	char *out;

	if (*tag) {
		const char *line = cfg_str(cfg, P_X_HEADER_LINE);

		buf_printf(&b, "%s: ", tag);
		for (; *line; line++)
			if (*line != '\r' && *line != '\n')
				buf_putc(&b, *line);
		buf_puts(&b, "\r\n");
	}

	ip = proc_ip(a, msg->xf.addr ? msg->xf.addr : msg->client_addr, 1);
	helo = msg->xf.helo ? msg->xf.helo : msg->helo;
	if (helo == NULL || *helo == 0)
		helo = msg->xf.name;
	if (helo != NULL && *helo)
		helo = proc_token(a, helo, PROC_HELO_MAX);
	else
		helo = ip ? arena_printf(a, "[%s]", ip) : "unknown";
	buf_printf(&b, "Received: from %s", helo);
	if (ip)
		buf_printf(&b, " ([%s])", ip);
	buf_puts(&b, "\r\n");

	col = 0;
	proc_fold_add(&b, &col, "by localhost");
	host = w->env && w->env->myhostname && *w->env->myhostname ? w->env->myhostname : cfg_str(cfg, P_MYHOSTNAME);
	host = proc_token(a, *host ? host : "localhost", PROC_HELO_MAX);
	local = proc_ip(a, msg->local_addr, 1);
	proc_fold_add(&b, &col, local ? arena_printf(a, "(%s [%s])", host, local) : arena_printf(a, "(%s)", host));
	proc_fold_add(&b, &col, msg->local_port && *msg->local_port ?
	    arena_printf(a, "(tollgate, port %s)", proc_token(a, msg->local_port, 16)) : "(tollgate)");
	proc_fold_add(&b, &col, msg->lmtp ? (msg->tls ? "with LMTPS" : "with LMTP") :
	    (msg->tls ? "with ESMTPS" : "with ESMTP"));
	if (msg->nrcpts == 1) {
		proc_fold_add(&b, &col, arena_printf(a, "id %s", msg->mail_id));
		proc_fold_add(&b, &col, arena_printf(a, "for <%s>;", proc_token(a, msg->rcpts[0].addr, 512)));
	} else {
		proc_fold_add(&b, &col, arena_printf(a, "id %s;", msg->mail_id));
	}
	proc_date(date, sizeof(date), time(NULL));
	proc_fold_add(&b, &col, date);
	buf_puts(&b, "\r\n");

	out = arena_strndup(a, b.data, b.len);
	*len_r = b.len;
	buf_free(&b);
	return out;
}

/* proc_method - the global forward method, parsed once per config;
 * NULL (with the reason logged once) when it does not parse */
static const struct fwd_method *proc_method(struct worker *w, const char **error_r)
{
	const struct cfg *cfg = proc_cfg(w);

	if (proc_fwd.cfg != cfg) {
		const char *err;

		proc_fwd.cfg = cfg;
		proc_fwd.ok = method_parse(cfg_str(cfg, P_FORWARD_METHOD), &proc_fwd.m, &err) == 0;
		if (!proc_fwd.ok) {
			snprintf(proc_fwd.err, sizeof(proc_fwd.err), "forward_method: %s", err);
			log_error("%s", proc_fwd.err);
		}
	}
	*error_r = proc_fwd.err;
	return proc_fwd.ok ? &proc_fwd.m : NULL;
}

/* proc_opts - delivery settings from the config */
static void proc_opts(struct worker *w, struct deliver_opts *o)
{
	const struct cfg *cfg = proc_cfg(w);

	o->connect_timeout = (int)cfg_int(cfg, P_FORWARD_CONNECT_TIMEOUT);
	o->command_timeout = (int)cfg_int(cfg, P_FORWARD_COMMAND_TIMEOUT);
	o->data_done_timeout = (int)cfg_int(cfg, P_FORWARD_DATA_DONE_TIMEOUT);
	o->cache_time = (int)cfg_int(cfg, P_FORWARD_CONNECTION_CACHE_TIME);
	o->helo_name = cfg_str(cfg, P_FORWARD_HELO_NAME);
}

/*
 * proc_route - group the undecided recipients by forward method, in
 * recipient order. Today every recipient takes the global method;
 * forward_method_maps will choose per recipient here. Returns the
 * number of groups in *groups_r (arena).
 */
static size_t proc_route(struct message *msg, const struct fwd_method *def, struct proc_group **groups_r)
{
	struct proc_group *g = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*g));
	size_t ng = 0, i, k;

	for (i = 0; i < msg->nrcpts; i++) {
		const struct fwd_method *m = def;	/* per-recipient maps go here */

		if (msg->rcpts[i].code != 0)
			continue;
		for (k = 0; k < ng && g[k].m != m; k++)
			;
		if (k == ng) {
			g[ng].m = m;
			g[ng].idx = arena_allocarray(msg->arena, msg->nrcpts, sizeof(size_t));
			g[ng].n = 0;
			ng++;
		}
		g[k].idx[g[k].n++] = i;
	}
	*groups_r = g;
	return ng;
}

/* proc_log_addr - one address for the log line, escaped and cut */
static void proc_log_addr(struct buf *b, const char *addr)
{
	char pr[PROC_LOG_ADDR + 8];

	addr = addr ? addr : "";
	buf_printf(b, "<%s>", log_printable(pr, sizeof(pr), addr, strlen(addr)));
}

/*
 * proc_log - the one info line per message, in amavisd's shape:
 *
 *   Passed CLEAN {RelayedInbound}, [ip]:port [ip] <from> -> <to1>,<to2>,
 *   Queue-ID: X, Message-ID: <..>, mail_id: M, size: N, queued_as: Q, T ms
 *
 * Verdict: "Passed CLEAN" when at least one recipient was relayed (no
 * scanner runs yet, so the content category is CLEAN, as amavisd logs
 * with checks bypassed); "Blocked MTA-BLOCKED" when none was, as amavisd
 * logs a message that its MTA would not take.
 * Actions: "Relayed" if any recipient got a 2xx, "Rejected" if any a
 * 5xx, "TempFailed" if any a 4xx, in that order, comma-separated; the
 * first carries the direction, always "Inbound" until local_domains
 * exist: {RelayedInbound}, {RelayedInbound,TempFailed},
 * {TempFailedInbound}, {RejectedInbound,TempFailed}.
 * The ip is XFORWARD ADDR (with its PORT) when Postfix sent it, else our
 * TCP peer; both bracketed ips are the same (amavisd's second one is the
 * originating ip guessed from Received headers: not done yet). Queue-ID
 * (XFORWARD IDENT), Message-ID and queued_as are left out when unknown;
 * distinct queued_as ids are joined with ",". At most PROC_LOG_RCPTS
 * recipients are named, then ",...(N more)".
 */
static void proc_log(struct message *msg)
{
	struct buf b = BUF_INIT;
	size_t i, n2 = 0, n4 = 0, n5 = 0, nq = 0;
	const char *ip, *port, *mid;
	char pr[300];
	struct timespec now;
	long long ms = 0;
	const char *dir = "Inbound";

	for (i = 0; i < msg->nrcpts; i++) {
		int cls = msg->rcpts[i].code / 100;

		if (cls == 2)
			n2++;
		else if (cls == 5)
			n5++;
		else
			n4++;
	}
	buf_puts(&b, n2 ? "Passed CLEAN {" : "Blocked MTA-BLOCKED {");
	if (n2) {
		buf_printf(&b, "Relayed%s", dir);
		dir = "";
	}
	if (n5) {
		buf_printf(&b, "%sRejected%s", n2 ? "," : "", dir);
		dir = "";
	}
	if (n4)
		buf_printf(&b, "%sTempFailed%s", n2 || n5 ? "," : "", dir);
	buf_puts(&b, "},");

	if (msg->xf.addr) {
		ip = proc_ip(msg->arena, msg->xf.addr, 0);
		port = msg->xf.port;
	} else {
		ip = proc_ip(msg->arena, msg->client_addr, 0);
		port = msg->client_port;
	}
	if (ip) {
		buf_printf(&b, " [%s]", ip);
		if (port && *port)
			buf_printf(&b, ":%s", log_printable(pr, 16, port, strlen(port)));
		buf_printf(&b, " [%s]", ip);
	}
	buf_putc(&b, ' ');
	proc_log_addr(&b, msg->sender);
	buf_puts(&b, " ->");
	for (i = 0; i < msg->nrcpts && i < PROC_LOG_RCPTS; i++) {
		buf_putc(&b, i ? ',' : ' ');
		proc_log_addr(&b, msg->rcpts[i].addr);
	}
	if (msg->nrcpts > PROC_LOG_RCPTS)
		buf_printf(&b, ",...(%zu more)", msg->nrcpts - PROC_LOG_RCPTS);
	if (msg->xf.ident && *msg->xf.ident)
		buf_printf(&b, ", Queue-ID: %s", log_printable(pr, 64, msg->xf.ident, strlen(msg->xf.ident)));
	if ((mid = message_header(msg, "Message-ID")) != NULL && *mid)
		buf_printf(&b, ", Message-ID: %s", log_printable(pr, sizeof(pr), mid, strlen(mid)));
	buf_printf(&b, ", mail_id: %s, size: %zu", msg->mail_id, msg->spool ? spool_size(msg->spool) : (size_t)0);
	for (i = 0; i < msg->nrcpts; i++) {
		const char *q = msg->rcpts[i].queued_as;
		size_t k;

		if (q == NULL || *q == 0)
			continue;
		for (k = 0; k < i; k++)
			if (msg->rcpts[k].queued_as && strcmp(msg->rcpts[k].queued_as, q) == 0)
				break;
		if (k < i)
			continue;
		buf_printf(&b, "%s%s", nq++ ? "," : ", queued_as: ", log_printable(pr, 80, q, strlen(q)));
	}
	if (msg->t_start.tv_sec != 0 || msg->t_start.tv_nsec != 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(now.tv_sec - msg->t_start.tv_sec) * 1000 +
		    (now.tv_nsec - msg->t_start.tv_nsec) / 1000000;
		if (ms < 0)
			ms = 0;
	}
	buf_printf(&b, ", %lld ms", ms);
	log_info("%s", b.data);
	buf_free(&b);
}

/* process_warn_lost - with SMTP input a single reply covers all
 * recipients: a 2xx for a message some recipients of which were
 * rejected downstream acknowledges them too, and until tollgate sends
 * its own DSNs nobody tells the sender. Say so in the log. */
static void process_warn_lost(struct message *msg)
{
	size_t i, n2 = 0, n5 = 0;

	if (msg->lmtp)
		return;
	for (i = 0; i < msg->nrcpts; i++) {
		if (msg->rcpts[i].code / 100 == 2)
			n2++;
		else if (msg->rcpts[i].code / 100 == 5)
			n5++;
	}
	if (n2 && n5 && n2 + n5 == msg->nrcpts)
		log_warning("id=%s: %zu recipients rejected downstream are acknowledged to the SMTP client "
		    "with the others; no DSN is sent for them (not implemented)", msg->am_id, n5);
}

/*
 * process_message - the message path after receive (see workers.h).
 *
 * Order: the content must be readable (else 451 4.3.0), then the loop
 * check (554 5.4.6), [scan], headers, routing, one delivery per forward
 * method, and the log line last, once every recipient has its outcome.
 */
void process_message(struct worker *w, struct message *msg)
{
	const struct fwd_method *def;
	struct proc_group *groups;
	struct deliver_opts opts;
	const char *data, *err, *prepend;
	size_t len, plen, ng, k;

	worker_set_state(w, SB_FORWARDING, msg->xf.ident && *msg->xf.ident ? msg->xf.ident : msg->am_id);

	data = msg->spool ? spool_data(msg->spool, &len) : NULL;
	if (data == NULL) {
		err = msg->spool ? spool_error(msg->spool) : "no spool";
		log_error("id=%s: message content unavailable: %s", msg->am_id, err);
		proc_set_all(msg, arena_printf(msg->arena, "451 4.3.0 Error in processing, id=%s: %s",
		    msg->am_id, err));
		proc_log(msg);
		return;
	}
	if (proc_hops(data, len, PROC_MAX_HOPS) > PROC_MAX_HOPS) {
		log_warning("id=%s: more than %d Received headers: mail loop", msg->am_id, PROC_MAX_HOPS);
		proc_set_all(msg, "554 5.4.6 Too many hops");
		proc_log(msg);
		return;
	}

	/*
	 * SCAN STEP (not implemented yet): parse the MIME tree, run the
	 * scanners, decide per recipient. Blocked recipients get their code
	 * and reply here (and are then skipped by proc_route); the verdict
	 * and the headers it adds feed proc_prepend and proc_log. Until
	 * then no verdict is made up: every recipient is forwarded as is.
	 */

	prepend = proc_prepend(w, msg, &plen);

	def = proc_method(w, &err);
	if (def == NULL) {
		proc_set_all(msg, arena_printf(msg->arena, "451 4.3.5 Error in processing, id=%s: %s",
		    msg->am_id, err));
		proc_log(msg);
		return;
	}
	proc_opts(w, &opts);
	if (w->dcache == NULL)
		w->dcache = deliver_cache_create();
	deliver_cache_expire(w->dcache, &opts, time(NULL));

	ng = proc_route(msg, def, &groups);
	for (k = 0; k < ng; k++)
		(void)deliver(w->dcache, &opts, groups[k].m, msg, groups[k].idx, groups[k].n, prepend, plen);

	/* nobody may leave without an outcome; an undecided one is ours to retry */
	proc_set_all(msg, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: not delivered",
	    msg->am_id));
	process_warn_lost(msg);
	proc_log(msg);
}
