/*
 * process.c - one received message, from the end of DATA to the
 * per-recipient outcome: loop check, MIME parse, ClamAV scan, banned
 * and bad-header checks, the per-recipient decision (policy/decide),
 * quarantine, the headers we add, re-injection of the passed recipients
 * grouped by header edits and forward method, DSNs and the admin
 * notice, the replies, and the one log line per message in amavisd's
 * shape.
 *
 * Every recipient leaves with a code and a reply. Whatever goes wrong
 * on our side is a 4xx (scanner failure, quarantine failure, a failed
 * policy lookup, a DSN that could not be sent); a 2xx for a passed
 * recipient comes only from the downstream server's acknowledgement of
 * the final dot (routing/deliver_smtp.c).
 *
 * Exactly once: with state_redis_server, the recipients of each
 * delivery are recorded as delivered right after the downstream's 2xx
 * (a retry by Postfix skips them), and every delivery of a message ends
 * by one deadline inside child_timeout (proc_opts), so a slow
 * downstream gets 451 4.4.2 from a live worker, not the master's kill.
 *
 * Dry run (worker.explain set, for tollgate explain): the same code
 * path takes every decision, and where it would act - deliver, write
 * the quarantine, send a DSN or an admin notice, count in the
 * scoreboard or in Redis, log - it records what it would do in struct
 * proc_explain instead (workers.h). Rate limits are not checked then
 * (checking one counts the message in Redis); the note says so.
 *
 * Left out (later issues): local_domains (the direction in the log is
 * always "Inbound").
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
#include "policy/banks.h"
#include "policy/decide.h"
#include "policy/policy.h"
#include "policy/quarantine.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "state/state.h"
#include "lib/tables/table.h"
#include "scanners/content.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"
#include "scanners/spam.h"
#include "workers/workers.h"

#define PROC_MAX_HOPS		100	/* more Received headers than this: a loop */
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
	struct tls_policy tls;
	size_t *idx;
	size_t n;
};

static struct proc_explain *proc_ex;	/* the dry run's record, NULL: for real */
static struct bank_choice proc_bank;	/* banks of the message being processed */
static char proc_hits[32] = "-";	/* its spam score for the log, "-" unscored */

/* proc_note - a line for the dry run's notes (facts not consulted) */
static void proc_note(struct message *msg, const char *text)
{
	size_t k;

	if (proc_ex == NULL)
		return;
	for (k = 0; k < proc_ex->nnotes; k++)
		if (strcmp(proc_ex->notes[k], text) == 0)
			return;
	if (proc_ex->nnotes < EXPLAIN_NOTES_MAX)
		proc_ex->notes[proc_ex->nnotes++] = arena_strdup(msg->arena, text);
}

/* proc_state - scoreboard state and process title, not in a dry run */
static void proc_state(struct worker *w, enum sb_state st, const char *qid)
{
	if (w->explain == NULL)
		worker_set_state(w, st, qid);
}

/* proc_observe - one stage's duration into the scoreboard, not in a dry run */
static void proc_observe(struct worker *w, enum sb_stage stage, const struct timespec *since)
{
	if (w->explain == NULL)
		scoreboard_observe(w->env->sb, w->env->slot, stage, scoreboard_usec_since(since));
}

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

/*
 * proc_received - the value of our Received header, unfolded (the edit
 * code folds it), in amavisd's shape:
 *
 *   from <helo> ([<client ip>]) by localhost (<myhostname> [<local addr>])
 *   (tollgate, port <port>) with ESMTP id <mail_id> for <rcpt>; <date>
 *
 * The helo and client ip are XFORWARD's when Postfix sent them, else
 * those of our own session; "for <rcpt>" only with exactly one
 * recipient.
 */
static const char *proc_received(struct worker *w, struct message *msg)
{
	const struct cfg *cfg = proc_cfg(w);
	struct arena *a = msg->arena;
	const char *helo, *ip, *host, *local;
	struct buf b = BUF_INIT;
	char date[64];
	const char *out;

	ip = proc_ip(a, msg->xf.addr ? msg->xf.addr : msg->client_addr, 1);
	helo = msg->xf.helo ? msg->xf.helo : msg->helo;
	if (helo == NULL || *helo == 0)
		helo = msg->xf.name;
	if (helo != NULL && *helo)
		helo = proc_token(a, helo, PROC_HELO_MAX);
	else
		helo = ip ? arena_printf(a, "[%s]", ip) : "unknown";
	buf_printf(&b, "from %s", helo);
	if (ip)
		buf_printf(&b, " ([%s])", ip);
	host = w->env && w->env->myhostname && *w->env->myhostname ? w->env->myhostname : cfg_str(cfg, P_MYHOSTNAME);
	host = proc_token(a, *host ? host : "localhost", PROC_HELO_MAX);
	local = proc_ip(a, msg->local_addr, 1);
	buf_puts(&b, " by localhost");
	if (local)
		buf_printf(&b, " (%s [%s])", host, local);
	else
		buf_printf(&b, " (%s)", host);
	if (msg->local_port && *msg->local_port)
		buf_printf(&b, " (tollgate, port %s)", proc_token(a, msg->local_port, 16));
	else
		buf_puts(&b, " (tollgate)");
	buf_puts(&b, msg->lmtp ? (msg->tls ? " with LMTPS" : " with LMTP") :
	    (msg->tls ? " with ESMTPS" : " with ESMTP"));
	buf_printf(&b, " id %s", msg->mail_id);
	if (msg->nrcpts == 1)
		buf_printf(&b, " for <%s>", proc_token(a, msg->rcpts[0].addr, 512));
	message_date(date, sizeof(date), time(NULL));
	buf_printf(&b, "; %s", date);
	out = arena_strndup(a, b.data, b.len);
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

/*
 * proc_opts - delivery settings from the config, and the message's
 * deadline: child_timeout runs from the start of DATA (the master kills
 * a worker past it), so every delivery of the message (groups, DSN,
 * admin notice) ends deliver_margin_ms before that and the 451 4.4.2 of
 * a downstream too slow still reaches Postfix from a live worker.
 */
static void proc_opts(struct worker *w, const struct message *msg, struct deliver_opts *o)
{
	const struct cfg *cfg = proc_cfg(w);
	long long ms;

	memset(o, 0, sizeof(*o));
	if (msg->t_start.tv_sec != 0 || msg->t_start.tv_nsec != 0)
		o->deadline = msg->t_start;
	else
		clock_gettime(CLOCK_MONOTONIC, &o->deadline);
	/* the master's child_timeout, not a bank's (the master kills by it) */
	ms = cfg_int(w->env->cfg, P_CHILD_TIMEOUT) * 1000 - deliver_margin_ms(cfg_int(w->env->cfg, P_CHILD_TIMEOUT));
	o->deadline.tv_sec += ms / 1000;
	o->deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (o->deadline.tv_nsec >= 1000000000) {
		o->deadline.tv_sec++;
		o->deadline.tv_nsec -= 1000000000;
	}
	o->connect_timeout = (int)cfg_int(cfg, P_FORWARD_CONNECT_TIMEOUT);
	o->command_timeout = (int)cfg_int(cfg, P_FORWARD_COMMAND_TIMEOUT);
	o->data_done_timeout = (int)cfg_int(cfg, P_FORWARD_DATA_DONE_TIMEOUT);
	o->cache_time = (int)cfg_int(cfg, P_FORWARD_CONNECTION_CACHE_TIME);
	o->helo_name = cfg_str(cfg, P_FORWARD_HELO_NAME);
}

/*
 * proc_explain_route - the dry run's record of recipient i's route. A
 * policy bank that sets forward_method has it as its own global method
 * (the bank's routing context), so "forward_method" from a bank whose
 * value differs from the base configuration's is named as the bank's.
 */
static void proc_explain_route(struct worker *w, struct message *msg, size_t i, const struct route_why *why,
    const struct tls_policy *tls)
{
	struct explain_rcpt *er = &w->explain->rcpts[i];
	const struct cfg *cfg = proc_cfg(w);

	er->method = why->method;
	er->method_by = why->source;
	er->method_key = why->key;
	er->dunno = why->dunno;
	er->tls = tls_level_name(tls->level);
	er->tls_by = why->tls_source;
	if (why->source && strcmp(why->source, "forward_method") == 0 && cfg != w->env->cfg &&
	    strcmp(cfg_str(cfg, P_FORWARD_METHOD), cfg_str(w->env->cfg, P_FORWARD_METHOD)) != 0)
		er->method_by = arena_printf(msg->arena, "forward_method of policy bank %s", proc_bank.path);
}

/*
 * proc_route - group the selected recipients by forward method, in
 * recipient order: each recipient's method comes from
 * routing/route.c (forward_method_maps, then the sender-dependent maps,
 * then the global forward_method), with the TLS policy that goes with
 * it. Equal methods are one pointer, so a pointer compare groups them.
 * A recipient whose method cannot be looked up gets a 451 and is left
 * out. Returns the number of groups in *groups_r (arena).
 */
static size_t proc_route(struct worker *w, struct message *msg, const size_t *sel, size_t nsel,
    struct proc_group **groups_r)
{
	struct proc_group *g = arena_allocarray(msg->arena, nsel ? nsel : 1, sizeof(*g));
	const struct policy *pol = w->policy;
	size_t ng = 0, j, k;

	for (j = 0; j < nsel; j++) {
		size_t i = sel[j];
		const struct fwd_method *m = NULL;
		struct tls_policy tls;
		struct route_why why;
		const char *err = NULL;

		if (msg->rcpts[i].code != 0)
			continue;
		memset(&tls, 0, sizeof(tls));
		memset(&why, 0, sizeof(why));
		if (pol == NULL || pol->route == NULL) {
			m = proc_method(w, &err);
			why.source = "forward_method";
			why.method = m ? m->spec : NULL;
			why.tls_source = "none (no routing context)";
		} else if (route_method_explain(pol->route, msg, i, NULL, &m, &tls, &why, &err) < 0) {
			m = NULL;
		}
		if (m != NULL && w->explain)
			proc_explain_route(w, msg, i, &why, &tls);
		if (m == NULL) {
			log_warning("id=%s: <%.200s>: no forward method: %s", msg->am_id, msg->rcpts[i].addr,
			    err ? err : "?");
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena, "451 4.3.5 Error in processing, id=%s: "
			    "forward method lookup failed", msg->am_id);
			continue;
		}
		for (k = 0; k < ng && g[k].m != m; k++)
			;
		if (k == ng) {
			g[ng].m = m;
			g[ng].tls = tls;
			g[ng].idx = arena_allocarray(msg->arena, nsel, sizeof(size_t));
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
 * proc_head_mta - the verdict and actions of a message no content
 * decision was made for (it could not be read, looped, or the scanner
 * failed): "Passed CLEAN {RelayedInbound}" when some recipient was
 * relayed, else "Blocked MTA-BLOCKED {TempFailedInbound}" and the like.
 */
static const char *proc_head_mta(struct message *msg)
{
	size_t i, n2 = 0, n4 = 0, n5 = 0;
	struct buf b = BUF_INIT;
	const char *dir = "Inbound", *out;

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
	buf_puts(&b, "}");
	out = arena_strndup(msg->arena, b.data, b.len);
	buf_free(&b);
	return out;
}

/*
 * proc_log - the one info line per message, in amavisd's shape:
 *
 *   Passed CLEAN {RelayedInbound}, [ip]:port [ip] <from> -> <to1>,<to2>,
 *   Queue-ID: X, Message-ID: <..>, mail_id: M, size: N, queued_as: Q, T ms
 *   Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}, ...,
 *   quarantine: virus-M, ...
 *
 * head is "Passed|Blocked <verdict> {actions}" (policy/decide.c's log
 * pieces, or proc_head_mta). The ip is XFORWARD ADDR (with its PORT)
 * when Postfix sent it, else our TCP peer; both bracketed ips are the
 * same (amavisd's second one is the originating ip guessed from Received
 * headers: not done yet). Queue-ID (XFORWARD IDENT), Message-ID,
 * quarantine and queued_as are left out when unknown; distinct
 * queued_as ids are joined with ",". At most PROC_LOG_RCPTS recipients
 * are named, then ",...(N more)".
 */

static void proc_log(struct message *msg, const char *head, const char *quarantine_id)
{
	struct buf b = BUF_INIT;
	size_t i, nq = 0;
	const char *ip, *port, *mid;
	char pr[300];
	struct timespec now;
	long long ms = 0;

	buf_printf(&b, "%s,", head);
	if (proc_bank.path && *proc_bank.path)
		buf_printf(&b, " %s", proc_bank.path);
	if (proc_bank.mynets)
		buf_puts(&b, " LOCAL");
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
	/* amavisd always logs Hits ("-" when not scored); log tools key on it */
	buf_printf(&b, ", mail_id: %s, Hits: %s, size: %zu", msg->mail_id, proc_hits,
	    msg->spool ? spool_size(msg->spool) : (size_t)0);
	if (quarantine_id)
		buf_printf(&b, ", quarantine: %s", quarantine_id);
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
	if (proc_ex)
		proc_ex->log_line = arena_strndup(msg->arena, b.data, b.len);
	else
		log_info("%s", b.data);
	buf_free(&b);
}


/* the notify method, parsed once per config */
static struct {
	const struct cfg *cfg;
	int ok;
	struct fwd_method m;
} proc_ntf;

/* proc_send_notice - send a composed notification (DSN or admin notice)
 * through notify_method with the delivery client; 1 when every
 * recipient of it was accepted downstream */
static int proc_send_notice(struct worker *w, struct message *msg, struct notify_msg *nm,
    const struct deliver_opts *o)
{
	const struct cfg *cfg = proc_cfg(w);
	struct message *n;
	size_t i, *idx;
	const char *err;
	int accepted;

	const struct fwd_method *nmeth = NULL;
	struct tls_policy tls;

	memset(&tls, 0, sizeof(tls));
	if (w->policy && w->policy->route) {
		if (route_notify_method(w->policy->route, msg->arena, NULL, &nmeth, &tls, &err) < 0) {
			log_error("notify_method: %s", err);
			return 0;
		}
	} else {
		if (proc_ntf.cfg != cfg) {
			proc_ntf.cfg = cfg;
			proc_ntf.ok = method_parse(cfg_str(cfg, P_NOTIFY_METHOD), &proc_ntf.m, &err) == 0;
			if (!proc_ntf.ok)
				log_error("notify_method: %s", err);
		}
		nmeth = proc_ntf.ok ? &proc_ntf.m : NULL;
	}
	if (nmeth == NULL || nm->nrcpts == 0)
		return 0;
	/* a message of our own: same arena, no XFORWARD of the original client */
	n = arena_alloc(msg->arena, sizeof(*n));
	n->arena = msg->arena;
	n->client_addr = "127.0.0.1";
	n->helo = "localhost";
	n->sender = nm->env_from ? nm->env_from : "";
	n->envid = nm->envid;
	n->size_declared = -1;
	memcpy(n->am_id, msg->am_id, sizeof(n->am_id));
	memcpy(n->mail_id, msg->mail_id, sizeof(n->mail_id));
	n->spool = spool_create(msg->arena, w->env->tmp_dir, (size_t)cfg_int(cfg, P_SPOOL_MEMORY_LIMIT));
	if (spool_write(n->spool, nm->data.data, nm->data.len) < 0 || spool_finish(n->spool) < 0) {
		log_error("id=%s: cannot spool a notification: %s", msg->am_id, spool_error(n->spool));
		return 0;
	}
	idx = arena_allocarray(msg->arena, nm->nrcpts, sizeof(*idx));
	for (i = 0; i < nm->nrcpts; i++) {
		(void)message_add_rcpt(n, nm->rcpts[i]);
		idx[i] = i;
	}
	accepted = deliver_tls(w->dcache, o, nmeth, &tls, n, idx, nm->nrcpts, "", 0, 0);
	for (i = 0; i < n->nrcpts; i++)
		log_info("id=%s: notification (%s) to <%.200s>: %s", msg->am_id, *n->sender ? "admin" : "DSN",
		    n->rcpts[i].addr, n->rcpts[i].reply ? n->rcpts[i].reply : "-");
	return accepted == (int)nm->nrcpts;
}

/* proc_bulk - Precedence: bulk, list or junk (no DSN, mercy as for <>) */
static int proc_bulk(struct message *msg)
{
	const char *p = message_header(msg, "Precedence");

	return p && (strncasecmp(p, "bulk", 4) == 0 || strncasecmp(p, "list", 4) == 0 ||
	    strncasecmp(p, "junk", 4) == 0);
}

/*
 * proc_spam - score the message with spamd or rspamd when configured.
 * A failure or a skipped (too large) message leaves it unscored and is
 * logged: amavisd passes mail unscored when its spam scanner fails.
 */
static void proc_spam(struct worker *w, struct message *msg, const char *data, size_t len,
    struct decide_facts *f)
{
	const struct cfg *cfg = proc_cfg(w);
	struct spam_opts so;
	struct spam_result r;
	int rc;

	memset(&so, 0, sizeof(so));
	so.spamd_address = cfg_str(cfg, P_SPAMD_ADDRESS);
	so.rspamd_url = cfg_str(cfg, P_RSPAMD_ADDRESS);
	so.timeout_ms = (int)cfg_int(cfg, P_SPAM_TIMEOUT) * 1000;
	so.max_size = (size_t)cfg_int(cfg, P_SPAM_MAX_SIZE);
	memset(&r, 0, sizeof(r));
	if (w->policy->spam_scanner == 1) {
		rc = spamd_check(&so, data, len, msg->nrcpts == 1 ? msg->rcpts[0].addr : NULL, msg->arena, &r);
	} else {
		struct spam_envelope env;
		const char **rcpts = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*rcpts));
		size_t i;

		for (i = 0; i < msg->nrcpts; i++)
			rcpts[i] = msg->rcpts[i].addr;
		memset(&env, 0, sizeof(env));
		env.from = msg->sender;
		env.rcpts = rcpts;
		env.n_rcpts = (unsigned)msg->nrcpts;
		env.client_ip = msg->xf.addr ? msg->xf.addr : msg->client_addr;
		env.helo = msg->xf.helo ? msg->xf.helo : msg->helo;
		env.queue_id = msg->xf.ident ? msg->xf.ident : msg->am_id;
		env.deliver_to = msg->nrcpts == 1 ? msg->rcpts[0].addr : NULL;
		rc = rspamd_check(&so, data, len, &env, msg->arena, &r);
	}
	if (rc < 0) {
		log_warning("id=%s: spam check failed, passed unscored: %s", msg->am_id, r.error ? r.error : "?");
		return;
	}
	if (!r.scored)
		return;
	f->spam_scored = 1;
	f->spam_score = r.score;
	f->spam_tests = r.tests;
	f->spam_autolearn = r.autolearn;
}

/* the content scanners of one message, in the order they run */
#define PROC_SCANNERS 3

struct proc_scanners {
	struct scanner s[PROC_SCANNERS];
	unsigned n;
};

/* proc_scanners - this worker's content scanners: ClamAV (when
 * configured), banned names and types (when the policy has rules), bad
 * headers. ClamAV runs first: the banned check reads the files it met. */
static void proc_scanners(const struct worker *w, struct proc_scanners *ps)
{
	ps->n = 0;
	if (w->env->clamav)
		clamav_scanner(w->env->clamav, &ps->s[ps->n++]);
	if (w->policy && w->policy->banned)
		banned_scanner(w->policy->banned, &ps->s[ps->n++]);
	badh_scanner(&ps->s[ps->n++]);
}

/* proc_verdict_facts - one scanner's verdict into the decision's facts */
static void proc_verdict_facts(const struct scanner *s, const struct scan_verdict *v, struct decide_facts *f)
{
	if (strcmp(s->name, "clamav") == 0)
		f->scanner_name = "ClamAV";
	switch (v->status) {
	case SCAN_INFECTED:
		f->virus_names = v->names;
		f->n_virus = v->n_names;
		break;
	case SCAN_UNCHECKED:
		f->unchecked = 1;
		f->unchecked_minor = decide_unchecked_minor(v->reason);
		f->unchecked_reason = v->reason;
		break;
	case SCAN_BANNED:
		f->banned_reason = v->reason;
		break;
	case SCAN_BAD_HEADER:
		f->badh = 1;
		f->badh_minor = v->kind;
		f->badh_text = v->reason;
		break;
	case SCAN_CLEAN:
		break;
	}
}

/*
 * proc_scan - the content facts: the MIME tree parsed once, then every
 * content scanner through the interface of scanners/scanners.h (ClamAV,
 * banned names and types, bad headers), then the spam score. -1 when a
 * scanner failed: the message must be tempfailed (reason in *error_r),
 * never passed as if it had been checked.
 */
static int proc_scan(struct worker *w, struct message *msg, const char *data, size_t len,
    struct decide_facts *f, const char **error_r)
{
	const struct cfg *cfg = proc_cfg(w);
	struct scan_verdict *v;
	struct proc_scanners ps;
	struct mime_limits lim;
	struct mime_msg *mm = NULL;
	struct scan_input in;
	const char *err = NULL;
	unsigned k;

	memset(f, 0, sizeof(*f));
	f->size = len;
	f->bulk = proc_bulk(msg);
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = (unsigned)cfg_int(cfg, P_MIME_MAX_DEPTH);
	lim.max_parts = (unsigned)cfg_int(cfg, P_MIME_MAX_PARTS);
	if (mime_parse(msg->arena, data, len, &lim, &mm, &err) < 0)
		mm = NULL;
	proc_scanners(w, &ps);
	v = arena_allocarray(msg->arena, ps.n, sizeof(*v));
	memset(&in, 0, sizeof(in));
	in.data = data;
	in.len = len;
	in.mime = mm;
	in.earlier = v;
	in.arena = msg->arena;
	for (k = 0; k < ps.n; k++) {
		in.n_earlier = k;
		if (scanner_scan(&ps.s[k], &in, &v[k]) < 0) {
			*error_r = v[k].reason ? v[k].reason : "virus scanner failure";
			return -1;
		}
		proc_verdict_facts(&ps.s[k], &v[k], f);
	}
	if (w->policy && w->policy->spam_scanner)
		proc_spam(w, msg, data, len, f);
	return 0;
}

/*
 * proc_record - exactly once: the recipients of one delivery (idx[0..n-1])
 * that the downstream server has just accepted are recorded as delivered
 * at once, before the next group, the DSN or the reply (a worker that
 * dies after this point costs a retry, not a second copy for them).
 * Marks them in recorded[] so the end of the message does not record
 * them again. Without state or a queue id there is nothing to record.
 */
static void proc_record(struct worker *w, struct message *msg, const char *digest, const size_t *idx,
    size_t n, unsigned char *recorded)
{
	const struct policy *pol = w->policy;
	const char **rcpts, *err = NULL, *note = NULL;
	size_t k, m = 0;

	if (pol == NULL || pol->state == NULL || digest == NULL || *digest == 0 || msg->xf.ident == NULL ||
	    *msg->xf.ident == 0 || n == 0)
		return;
	rcpts = arena_allocarray(msg->arena, n, sizeof(*rcpts));
	for (k = 0; k < n; k++) {
		struct rcpt *r = &msg->rcpts[idx[k]];

		if (r->code / 100 != 2 || recorded[idx[k]])
			continue;
		rcpts[m++] = r->addr;
		if (note == NULL && r->queued_as && *r->queued_as)
			note = r->queued_as;
	}
	if (m == 0)
		return;
	note = note ? arena_printf(msg->arena, "%s queued as %s", msg->am_id, note) : msg->am_id;
	if (state_delivered_set(pol->state, msg->xf.ident, digest, rcpts, m, note, time(NULL), &err) < 0) {
		log_warning("id=%s: delivery not recorded (Redis: %s): a retry may deliver again", msg->am_id, err);
		return;
	}
	for (k = 0; k < n; k++)
		if (msg->rcpts[idx[k]].code / 100 == 2)
			recorded[idx[k]] = 1;
}

/*
 * proc_explain_delivery - a dry run's delivery of group g: its
 * recipients get the header edits they would get and the reply a
 * downstream acknowledgement of the final dot would give them
 * (reply_from_mta, the downstream's own words elided as "...").
 */
static void proc_explain_delivery(struct message *msg, struct proc_explain *ex, const struct proc_group *g,
    const struct hdr_edit *edits, size_t nedits)
{
	const char **h = arena_allocarray(msg->arena, nedits ? nedits : 1, sizeof(*h));
	size_t k;

	for (k = 0; k < nedits; k++) {
		if (edits[k].op == HDR_DELETE)
			h[k] = arena_printf(msg->arena, "-%s", edits[k].name);
		else if (edits[k].op == HDR_PREPEND_SUBJECT)
			h[k] = arena_printf(msg->arena, "Subject: %s...", edits[k].value);
		else
			h[k] = arena_printf(msg->arena, "%s: %s", edits[k].name, edits[k].value);
	}
	for (k = 0; k < g->n; k++) {
		struct rcpt *r = &msg->rcpts[g->idx[k]];

		ex->rcpts[g->idx[k]].headers = h;
		ex->rcpts[g->idx[k]].nheaders = nedits;
		r->code = 250;
		r->reply = reply_from_mta(msg->arena, g->m->spec, "250 2.0.0 Ok: queued as ...");
	}
}

/* proc_forward - deliver the passed recipients: one transaction per
 * (identical header edits × forward method), amavisd's forwarding loop;
 * each delivery's accepted recipients are recorded right after it */
static void proc_forward(struct worker *w, struct message *msg, struct decide_result *res,
    const char *data, size_t len, const struct deliver_opts *o, struct milter_verdict *mv,
    const char *digest, unsigned char *recorded)
{
	const struct cfg *cfg = proc_cfg(w);
	struct decide_hdr_opts ho;
	struct decide_group *groups = NULL;
	size_t ng, g, k;

	memset(&ho, 0, sizeof(ho));
	if (w->env->clamav) {	/* "scanned" only when it was */
		ho.x_header_tag = cfg_str(cfg, P_X_HEADER_TAG);
		ho.x_header_line = cfg_str(cfg, P_X_HEADER_LINE);
	}
	ho.quarantine_id = res->quarantine_id ? msg->mail_id : NULL;
	ng = decide_header_groups(msg, res, &ho, &groups);
	if (mv) {
		/* before the queue: the largest group stays in the client's
		 * message (its edits go back to the MTA); only the others are
		 * delivered here, as personalised copies */
		size_t gmax = 0;

		for (g = 1; g < ng; g++)
			if (groups[g].n > groups[gmax].n)
				gmax = g;
		if (ng) {
			mv->edits = groups[gmax].edits;
			mv->nedits = groups[gmax].nedits;
			for (k = 0; k < groups[gmax].n; k++) {
				msg->rcpts[groups[gmax].idx[k]].code = 250;
				msg->rcpts[groups[gmax].idx[k]].reply = "250 2.0.0 Ok, accepted by the client MTA";
			}
			groups[gmax].n = 0;
		}
	}
	for (g = 0; g < ng; g++) {
		if (groups[g].n == 0)
			continue;
		struct hdr_edit *edits = arena_allocarray(msg->arena, groups[g].nedits + 1, sizeof(*edits));
		struct proc_group *mg = NULL;
		const char *out = NULL;
		size_t outlen = 0, skip = 0, nm;

		/* our Received goes last of the added fields: right above the
		 * original header section, with X-Virus-Scanned & co. above it */
		if (groups[g].nedits)
			memcpy(edits, groups[g].edits, groups[g].nedits * sizeof(*edits));
		edits[groups[g].nedits].op = HDR_ADD;
		edits[groups[g].nedits].name = "Received";
		edits[groups[g].nedits].value = proc_received(w, msg);
		decide_edits_apply(msg->arena, data, len, edits, groups[g].nedits + 1, &out, &outlen, &skip);
		nm = proc_route(w, msg, groups[g].idx, groups[g].n, &mg);
		for (k = 0; k < nm; k++) {
			if (w->explain) {
				proc_explain_delivery(msg, w->explain, &mg[k], edits, groups[g].nedits + 1);
				continue;
			}
			(void)deliver_tls(w->dcache, o, mg[k].m, &mg[k].tls, msg, mg[k].idx, mg[k].n, out, outlen, skip);
			proc_record(w, msg, digest, mg[k].idx, mg[k].n, recorded);
		}
	}
}

/* proc_rcpt_list - the addresses of the recipients selected by want
 * (code equal to want, or any code when want < 0), in the arena */
static const char **proc_rcpt_list(struct message *msg, int want2xx, size_t *n_r)
{
	const char **l = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*l));
	size_t i, n = 0;

	for (i = 0; i < msg->nrcpts; i++)
		if (want2xx ? msg->rcpts[i].code / 100 == 2 : msg->rcpts[i].code == 0)
			l[n++] = msg->rcpts[i].addr;
	*n_r = n;
	return l;
}

/*
 * proc_rate - rate_limit_maps (shared in Redis, so every worker and node
 * counts together), looked up with "sender:ADDRESS", "sender:@DOMAIN"
 * and "client:IP"; each value is "COUNT/WINDOW ACTION". Returns 0 (go
 * on), 1 (tempfail the message) or 2 (quarantine it instead of
 * delivering); *why_r names the limit.
 */
static int proc_rate(struct worker *w, struct message *msg, const char **why_r)
{
	const struct policy *pol = w->policy;
	const char *client = msg->xf.addr ? msg->xf.addr : msg->client_addr;
	const char *at = msg->sender ? strrchr(msg->sender, '@') : NULL;
	const char *keys[3][2];
	size_t nk = 0, k;
	int result = 0;

	if (pol == NULL || pol->state == NULL || pol->rate_limits == NULL || *cfg_str(w->cfg, P_RATE_LIMIT_MAPS) == 0)
		return 0;
	if (w->explain) {
		/* state_rate_hit counts while it checks: no dry run of it */
		proc_note(msg, "rate_limit_maps not consulted: checking a limit counts the message in Redis");
		return 0;
	}
	if (msg->sender && *msg->sender) {
		keys[nk][0] = "sender";
		keys[nk++][1] = msg->sender;
		if (at) {
			keys[nk][0] = "sender";
			keys[nk++][1] = at;
		}
	}
	if (client && *client) {
		keys[nk][0] = "client";
		keys[nk++][1] = client;
	}
	for (k = 0; k < nk; k++) {
		const char *v = NULL, *err = NULL;
		struct state_rate_spec spec;
		unsigned long count = 0;
		int rc = maps_lookup(pol->rate_limits, arena_printf(msg->arena, "%s:%s", keys[k][0], keys[k][1]),
		    msg->arena, &v, &err);

		if (rc == TABLE_FAIL) {
			log_warning("id=%s: rate_limit_maps lookup failed: %s", msg->am_id, err);
			if (pol->rate_fail_tempfail) {
				*why_r = "rate limit lookup failed";
				return 1;
			}
			continue;
		}
		if (rc != TABLE_FOUND || strcasecmp(v, "DUNNO") == 0)
			continue;
		if (state_rate_spec_parse(v, &spec, &err) < 0) {
			log_warning("id=%s: rate_limit_maps %s:%s: %s", msg->am_id, keys[k][0], keys[k][1], err);
			continue;
		}
		if (state_rate_hit(pol->state, keys[k][0], keys[k][1], spec.window_s, time(NULL), &count, &err) < 0) {
			log_warning("id=%s: rate limit not counted (Redis: %s): %s", msg->am_id, err,
			    pol->rate_fail_tempfail ? "tempfail" : "continue without it");
			if (pol->rate_fail_tempfail) {
				*why_r = "rate limit state unavailable";
				return 1;
			}
			continue;
		}
		if (count > spec.count) {
			*why_r = arena_printf(msg->arena, "rate limit %s for %s:%.200s (%lu in %us)", v, keys[k][0],
			    keys[k][1], count, spec.window_s);
			log_warning("id=%s: %s", msg->am_id, *why_r);
			if (spec.action == STATE_RATE_TEMPFAIL)
				return 1;
			result = 2;
		}
	}
	return result;
}

/* proc_penpals - a reply to someone our users wrote to gets
 * penpals_bonus_score off its spam score */
static void proc_penpals(struct worker *w, struct message *msg, struct decide_facts *f)
{
	const struct policy *pol = w->policy;
	const char **rcpts;
	int *seen;
	size_t n, i;
	const char *err = NULL;

	if (pol == NULL || pol->state == NULL || pol->penpals_bonus == 0 || !f->spam_scored ||
	    msg->sender == NULL || *msg->sender == 0)
		return;
	rcpts = proc_rcpt_list(msg, 0, &n);
	seen = arena_allocarray(msg->arena, n ? n : 1, sizeof(*seen));
	proc_note(msg, "pen pals read from Redis (read only)");
	if (state_penpals_seen(pol->state, msg->sender, rcpts, n, seen, &err) < 0) {
		log_warning("id=%s: pen pals unavailable (Redis: %s): continuing without", msg->am_id, err);
		return;
	}
	for (i = 0; i < n; i++)
		if (seen[i]) {
			log_info("id=%s: pen pals: <%.200s> wrote to <%.200s>, score %.3f - %.3f", msg->am_id,
			    rcpts[i], msg->sender, f->spam_score, pol->penpals_bonus);
			f->spam_score -= pol->penpals_bonus;
			return;
		}
}

/*
 * proc_already_delivered - exactly once under partial failure: when
 * Postfix retries a message (same queue id, same content) some of whose
 * recipients were delivered on an earlier try, those are answered 250
 * without delivering again. Keyed by XFORWARD IDENT and the content's
 * digest; without a queue id there is nothing to match. A Redis failure
 * delivers to all (a possible duplicate, never a loss).
 */
static void proc_already_delivered(struct worker *w, struct message *msg, const char *digest)
{
	const struct policy *pol = w->policy;
	const char **rcpts, **done, *err = NULL;
	size_t n, i, j;

	if (pol != NULL && pol->state != NULL && (msg->xf.ident == NULL || *msg->xf.ident == 0))
		proc_note(msg, "delivered records (exactly once) not consulted in Redis: no Postfix queue id");
	if (pol == NULL || pol->state == NULL || msg->xf.ident == NULL || *msg->xf.ident == 0)
		return;
	rcpts = proc_rcpt_list(msg, 0, &n);
	if (n == 0)
		return;
	done = arena_allocarray(msg->arena, n, sizeof(*done));
	if (state_delivered_get(pol->state, msg->xf.ident, digest, rcpts, n, msg->arena, done, &err) < 0) {
		log_warning("id=%s: delivered records unavailable (Redis: %s): delivering to all", msg->am_id, err);
		return;
	}
	for (i = 0, j = 0; i < msg->nrcpts && j < n; i++) {
		if (msg->rcpts[i].code != 0)
			continue;
		if (done[j]) {
			msg->rcpts[i].code = 250;
			msg->rcpts[i].reply = arena_printf(msg->arena, "250 2.0.0 Ok, id=%s, delivered on an earlier "
			    "try (%.100s)", msg->am_id, done[j]);
			log_info("id=%s: <%.200s> was delivered on an earlier try of %s: not again", msg->am_id,
			    msg->rcpts[i].addr, msg->xf.ident);
		}
		j++;
	}
}

/* proc_state_after - record the deliveries done now that proc_record
 * has not (recipients accepted by the milter's client MTA), the pen
 * pals of originating mail, and the counters */
static void proc_state_after(struct worker *w, struct message *msg, const char *digest,
    const char **before, size_t nbefore, const unsigned char *recorded, unsigned ccat)
{
	const struct policy *pol = w->policy;
	const char *err = NULL;
	const char **now, **rest;
	size_t i, k, m = 0, nrest = 0;

	if (pol == NULL || pol->state == NULL || w->explain)
		return;
	now = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*now));
	rest = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*rest));
	/* only those that were undecided before delivery: delivered now */
	for (i = 0; i < msg->nrcpts; i++) {
		if (msg->rcpts[i].code / 100 != 2)
			continue;
		for (k = 0; k < nbefore; k++)
			if (before[k] == msg->rcpts[i].addr)
				break;
		if (k == nbefore)
			continue;
		now[m++] = msg->rcpts[i].addr;
		if (!recorded[i])
			rest[nrest++] = msg->rcpts[i].addr;
	}
	if (nrest && msg->xf.ident && *msg->xf.ident &&
	    state_delivered_set(pol->state, msg->xf.ident, digest, rest, nrest, msg->am_id, time(NULL), &err) < 0)
		log_warning("id=%s: delivery not recorded (Redis: %s): a retry may deliver again", msg->am_id, err);
	if (m && proc_bank.originating && msg->sender && *msg->sender &&
	    state_penpals_record(pol->state, msg->sender, now, m, time(NULL), &err) < 0)
		log_warning("id=%s: pen pals not recorded (Redis: %s)", msg->am_id, err);
	if (state_count_message(pol->state, proc_bank.path && *proc_bank.path ? proc_bank.path : "default",
	    decide_ccat_name(ccat), msg->spool ? spool_size(msg->spool) : 0, time(NULL), &err) < 0)
		log_debug(LOG_DBG_ROUTE, "id=%s: not counted (Redis: %s)", msg->am_id, err);
}

/*
 * process_message - the message path after receive (see workers.h).
 *
 * Order: the content must be readable (else 451 4.3.0), the loop check
 * (554 5.4.6), scan (451 on scanner failure), policy per recipient,
 * decision, quarantine (451 for everyone if it fails: a blocked message
 * must not vanish unquarantined; a rate limit's "quarantine" without a
 * quarantine_dir is a 451 too), delivery of the passed recipients (each
 * delivery recorded at once),
 * DSN (451 for the recipients whose DSN could not be sent), admin
 * notice (best effort), the replies, and the log line last.
 */
static void process_message_banked(struct worker *w, struct message *msg, struct milter_verdict *mv);

/* proc_count - the message's outcome in the scoreboard counters (for
 * tollgate stats and the metrics endpoint) */
static void proc_count(struct worker *w, struct message *msg, unsigned major, int blocked)
{
	size_t i;
	int temp = msg->smtp_reply && msg->smtp_reply[0] == '4';

	if (w->explain)
		return;
	for (i = 0; i < msg->nrcpts && !temp; i++)
		temp = msg->rcpts[i].code / 100 == 4;
	scoreboard_count(w->env->sb, w->env->slot, major, temp ? SB_TEMPFAILED : blocked ? SB_BLOCKED : SB_PASSED,
	    msg->spool ? spool_size(msg->spool) : 0);
}

/* the setting that gives a major category its destiny, and its lovers map */
static const char *const proc_destiny_setting[CC_MAJORS] = {
	[CC_OVERSIZED] = "message_size_limit (oversized)", [CC_BADH] = "final_bad_header_destiny",
	[CC_SPAM] = "final_spam_destiny", [CC_UNCHECKED] = "final_unchecked_destiny",
	[CC_BANNED] = "final_banned_destiny", [CC_VIRUS] = "final_virus_destiny",
};
static const char *const proc_lovers_map[CC_MAJORS] = {
	[CC_BADH] = "bad_header_lovers_maps", [CC_SPAMMY] = "spam_lovers_maps", [CC_SPAM] = "spam_lovers_maps",
	[CC_UNCHECKED] = "unchecked_lovers_maps", [CC_BANNED] = "banned_files_lovers_maps",
	[CC_VIRUS] = "virus_lovers_maps",
};

/* proc_destiny_lc - "discard" for D_DISCARD (as the settings write it) */
static const char *proc_destiny_lc(struct arena *a, enum destiny d)
{
	char *s = arena_strdup(a, decide_destiny_name(d));
	char *p;

	for (p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

/* proc_explain_facts - the dry run's record of the scanners' verdicts */
static void proc_explain_facts(struct worker *w, struct message *msg, const struct decide_facts *f)
{
	struct arena *a = msg->arena;
	unsigned k;

	if (w->env->clamav == NULL) {
		proc_ex->clamav = "off (clamav_database is empty)";
	} else if (f->n_virus) {
		const char *names = f->virus_names[0];

		for (k = 1; k < f->n_virus; k++)
			names = arena_printf(a, "%s, %s", names, f->virus_names[k]);
		proc_ex->clamav = arena_printf(a, "INFECTED: %s", names);
	} else if (f->unchecked) {
		proc_ex->clamav = arena_printf(a, "UNCHECKED: %s", f->unchecked_reason ? f->unchecked_reason : "?");
	} else {
		proc_ex->clamav = "CLEAN";
	}
	proc_ex->banned = f->banned_reason;
	proc_ex->bad_header = f->badh ? (f->badh_text ? f->badh_text : "bad header section") : NULL;
	if (w->policy == NULL || w->policy->spam_scanner == 0)
		proc_ex->spam = "off (no spamd_address or rspamd_address)";
	else if (f->spam_scored)
		proc_ex->spam = arena_printf(a, "%.3f (%s)", f->spam_score, f->spam_tests ? f->spam_tests : "");
	else
		proc_ex->spam = "unscored (the spam check failed or was skipped: see the log)";
}

/*
 * proc_explain_destinies - each recipient's category and destiny, and
 * what made it: the final_*_destiny of the blocking category, or for a
 * passed recipient the first of its categories (most important first)
 * that did not block and why (destiny pass, a lovers map, mercy), or a
 * bypass map that kept the category off, else "clean".
 */
static void proc_explain_destinies(struct worker *w, struct message *msg, const struct decide_result *res)
{
	struct arena *a = msg->arena;
	const struct decide_facts *f = res->facts;
	size_t i;
	unsigned k;

	(void)w;
	proc_ex->category = decide_ccat_name(res->blocked ? res->blocking_ccat :
	    res->nccat ? res->ccat[0] : CCAT(CC_CLEAN, 0));
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		const struct decide_rcpt *dr = &res->r[i];
		struct explain_rcpt *er = &proc_ex->rcpts[i];
		unsigned maj;

		er->ccat = decide_ccat_name(dr->blocked ? dr->blocking_ccat : dr->nccat ? dr->ccat[0] : CCAT(CC_CLEAN, 0));
		er->destiny = decide_destiny_name(dr->destiny);
		if (dr->blocked) {
			maj = CCAT_MAJOR(dr->blocking_ccat);
			if (maj == CC_MTA)
				er->destiny_by = "the downstream server's reply";
			else
				er->destiny_by = arena_printf(a, "%s = %s%s", proc_destiny_setting[maj] ?
				    proc_destiny_setting[maj] : decide_ccat_name(dr->blocking_ccat),
				    proc_destiny_lc(a, dr->destiny), dr->pol && dr->pol->soft_bounce ? " (soft_bounce)" : "");
			continue;
		}
		if (msg->rcpts[i].code / 100 == 4) {
			er->destiny = "TEMPFAIL";
			er->destiny_by = "a failure on our side (see the reply)";
			continue;
		}
		for (k = 0; k < dr->nccat && er->destiny_by == NULL; k++) {
			maj = CCAT_MAJOR(dr->ccat[k]);
			if (maj <= CC_MTA || proc_lovers_map[maj] == NULL)
				continue;
			if (dr->pol && dr->pol->destiny[maj] == D_PASS && proc_destiny_setting[maj])
				er->destiny_by = arena_printf(a, "%s = pass", proc_destiny_setting[maj]);
			else if (dr->pol && (dr->pol->lovers & DECIDE_LOVER(maj)))
				er->destiny_by = arena_printf(a, "%s (%s)", proc_lovers_map[maj],
				    decide_ccat_name(dr->ccat[k]));
			else if (dr->mercy)
				er->destiny_by = "mercy: a bounce of a bad header for the null sender or bulk mail";
			else if (maj == CC_SPAMMY)
				er->destiny_by = "spammy: never blocking (below the kill level)";
		}
		if (er->destiny_by == NULL && dr->pol && f) {
			if ((f->n_virus || f->unchecked) && (dr->pol->bypass & DECIDE_BYPASS_VIRUS))
				er->destiny_by = "bypass_virus_checks_maps";
			else if (f->banned_reason && (dr->pol->bypass & DECIDE_BYPASS_BANNED))
				er->destiny_by = "bypass_banned_checks_maps";
			else if (f->badh && (dr->pol->bypass & DECIDE_BYPASS_HEADER))
				er->destiny_by = "bypass_header_checks_maps";
		}
		if (er->destiny_by == NULL)
			er->destiny_by = "clean: nothing blocks it";
	}
}

/* proc_explain_outcome - recipients the decision never reached (the
 * message could not be read, looped, the scanner or a lookup failed)
 * get a destiny from their reply */
static void proc_explain_outcome(struct worker *w, struct message *msg)
{
	size_t i;

	(void)w;
	for (i = 0; i < msg->nrcpts; i++) {
		struct explain_rcpt *er = &proc_ex->rcpts[i];
		int cls = msg->rcpts[i].code / 100;

		if (er->destiny != NULL)
			continue;
		er->destiny = cls == 2 ? "PASS" : cls == 5 ? "REJECT" : "TEMPFAIL";
		er->destiny_by = "before any content decision (see the reply)";
	}
}

/*
 * process_message - choose the policy banks (policy/banks.h), run the
 * message with their configuration and policy, then put the worker's
 * own back. A failed bank lookup tempfails the message.
 */
static void process_common(struct worker *w, struct message *msg, struct milter_verdict *mv);

void process_message(struct worker *w, struct message *msg)
{
	process_common(w, msg, NULL);
}

/* process_milter_verdict - the before-queue outcome from every
 * recipient's (see workers.h) */
static void process_milter_verdict(struct message *msg, struct milter_verdict *v)
{
	size_t i, n4 = 0, n5rej = 0, ndisc = 0, npass = 0, nd = 0;
	const char *first4 = NULL, *first5 = NULL;

	v->delrcpt = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*v->delrcpt));
	for (i = 0; i < msg->nrcpts; i++) {
		const struct rcpt *r = &msg->rcpts[i];
		int cls = r->code / 100;

		if (r->reply && strstr(r->reply, "accepted by the client MTA")) {
			npass++;
		} else if (cls == 4 || r->code == 0) {
			n4++;
			if (!first4)
				first4 = r->reply ? r->reply : "451 4.5.0 Error in processing";
		} else if (cls == 5 && strstr(r->reply, " Reject")) {
			n5rej++;
			if (!first5)
				first5 = r->reply;
			v->delrcpt[nd++] = r->addr;
		} else {
			/* discarded, bounced (DSN from us) or delivered here */
			ndisc++;
			v->delrcpt[nd++] = r->addr;
		}
	}
	v->ndelrcpt = nd;
	if (n4) {
		v->action = MV_TEMPFAIL;
		v->reply = first4;
	} else if (npass) {
		v->action = MV_ACCEPT;
	} else if (n5rej == msg->nrcpts && n5rej) {
		v->action = MV_REJECT;
		v->reply = first5;
	} else {
		v->action = MV_DISCARD;
	}
	if (v->action != MV_ACCEPT) {
		v->edits = NULL;
		v->nedits = 0;
	}
}

void process_milter(struct worker *w, struct message *msg, struct milter_verdict *v)
{
	memset(v, 0, sizeof(*v));
	process_common(w, msg, v);
	process_milter_verdict(msg, v);
}

static void process_common(struct worker *w, struct message *msg, struct milter_verdict *mv)
{
	const struct cfg *saved = w->cfg;
	const char *err = NULL;

	memset(&proc_bank, 0, sizeof(proc_bank));
	strlcpy(proc_hits, "-", sizeof(proc_hits));
	w->policy = w->env->policy;
	proc_ex = w->explain;
	if (proc_ex) {
		proc_ex->nrcpts = msg->nrcpts;
		proc_ex->rcpts = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*proc_ex->rcpts));
		memset(proc_ex->rcpts, 0, (msg->nrcpts ? msg->nrcpts : 1) * sizeof(*proc_ex->rcpts));
		proc_ex->banks = "";
		proc_ex->banks_why = "";
	}
	if (w->env->banks) {
		const struct cfg *cfg = NULL;
		const struct policy *pol = NULL;

		if (banks_choose(w->env->banks, msg, &proc_bank, &err) < 0 ||
		    banks_get(w->env->banks, proc_bank.path, &cfg, &pol, &err) < 0) {
			log_error("id=%s: policy bank: %s", msg->am_id, err);
			proc_set_all(msg, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "policy bank lookup failed", msg->am_id));
			proc_log(msg, proc_head_mta(msg), NULL);
			proc_count(w, msg, 0, 0);
			if (proc_ex) {
				proc_note(msg, arena_printf(msg->arena, "policy bank lookup failed: %s", err));
				proc_explain_outcome(w, msg);
			}
			proc_ex = NULL;
			return;
		}
		w->cfg = cfg;
		w->policy = pol;
		if (proc_ex) {
			proc_ex->banks = proc_bank.path;
			proc_ex->banks_why = proc_bank.why;
			proc_ex->mynets = proc_bank.mynets;
			proc_ex->originating = proc_bank.originating;
		}
	}
	process_message_banked(w, msg, mv);
	if (proc_ex)
		proc_explain_outcome(w, msg);
	w->cfg = saved;
	w->policy = w->env->policy;
	proc_ex = NULL;
}

static void process_message_banked(struct worker *w, struct message *msg, struct milter_verdict *mv)
{
	const struct policy *pol = w->policy;
	const char *qid = msg->xf.ident && *msg->xf.ident ? msg->xf.ident : msg->am_id;
	struct decide_policy **pols;
	struct decide_facts facts;
	struct decide_result res;
	struct deliver_opts opts;
	struct notify_opts nopts;
	struct notify_msg nm;
	struct timespec t_stage;
	char digest[STATE_DIGEST_HEX] = "";
	const char *rate_why = NULL;
	const char **before = NULL;
	unsigned char *recorded;
	size_t nbefore = 0;
	const char *data, *err = NULL, *head;
	size_t len, i;
	int maj;

	proc_state(w, SB_SCANNING, qid);
	data = msg->spool ? spool_data(msg->spool, &len) : NULL;
	if (data == NULL) {
		err = msg->spool ? spool_error(msg->spool) : "no spool";
		log_error("id=%s: message content unavailable: %s", msg->am_id, err);
		proc_set_all(msg, arena_printf(msg->arena, "451 4.3.0 Error in processing, id=%s: %s",
		    msg->am_id, err));
		proc_log(msg, proc_head_mta(msg), NULL);
		proc_count(w, msg, 0, 0);
		return;
	}
	proc_observe(w, SB_STAGE_RECEIVE, &msg->t_start);
	clock_gettime(CLOCK_MONOTONIC, &t_stage);
	if (proc_hops(data, len, PROC_MAX_HOPS) > PROC_MAX_HOPS) {
		log_warning("id=%s: more than %d Received headers: mail loop", msg->am_id, PROC_MAX_HOPS);
		proc_set_all(msg, "554 5.4.6 Too many hops");
		proc_log(msg, proc_head_mta(msg), NULL);
		proc_count(w, msg, 0, 1);
		return;
	}
	if (proc_scan(w, msg, data, len, &facts, &err) < 0) {
		log_error("id=%s: virus scanner failure: %s", msg->am_id, err);
		if (w->explain == NULL)
			scoreboard_event(SB_EV_SCANNER_FAILURE);
		else
			proc_ex->clamav = arena_printf(msg->arena, "FAILURE: %s", err);
		proc_set_all(msg, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
		    "virus scanner failure", msg->am_id));
		proc_log(msg, proc_head_mta(msg), NULL);
		proc_count(w, msg, 0, 0);
		return;
	}

	/* each recipient's policy; a failed lookup tempfails that recipient */
	pols = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*pols));
	for (i = 0; i < msg->nrcpts; i++) {
		pols[i] = NULL;
		if (pol && policy_for_rcpt(pol, msg, i, &pols[i], &err) < 0) {
			log_warning("id=%s: <%.200s>: policy lookup failed: %s", msg->am_id, msg->rcpts[i].addr, err);
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "lookup failed", msg->am_id);
			pols[i] = NULL;
		}
	}
	facts.originating = proc_bank.originating;
	proc_penpals(w, msg, &facts);
	if (facts.spam_scored)
		snprintf(proc_hits, sizeof(proc_hits), "%.3f", facts.spam_score);
	if (proc_ex)
		proc_explain_facts(w, msg, &facts);
	{
		const char *why = NULL;
		int rl = proc_rate(w, msg, &why);

		if (rl == 1) {
			proc_set_all(msg, arena_printf(msg->arena, "451 4.7.1 Try again later, id=%s: %s", msg->am_id, why));
			proc_log(msg, proc_head_mta(msg), NULL);
			proc_count(w, msg, 0, 0);
			return;
		}
		if (rl == 2 && (pol == NULL || *pol->quarantine_dir == 0)) {
			/* "quarantined" is a promise of a copy: without a
			 * quarantine there is none, so no 2xx (Postfix keeps it) */
			log_error("id=%s: %s: action quarantine but no quarantine_dir: tempfailed", msg->am_id, why);
			proc_set_all(msg, arena_printf(msg->arena, "451 4.7.1 Try again later, id=%s: %s "
			    "(no quarantine to hold it)", msg->am_id, why));
			proc_log(msg, proc_head_mta(msg), NULL);
			proc_count(w, msg, 0, 0);
			return;
		}
		if (rl == 2)
			rate_why = why;
	}
	for (i = 0; i < msg->nrcpts; i++) {
		int local;

		if (pols[i] == NULL || w->env->banks == NULL)
			continue;
		local = banks_is_local(w->env->banks, w->cfg, msg, msg->rcpts[i].addr);
		if (local < 0) {
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "local_domains_maps lookup failed", msg->am_id);
			continue;
		}
		pols[i]->is_local = local;
	}
	(void)decide_recipients(msg, &facts, (const struct decide_policy *const *)pols, &res);
	if (rate_why) {
		/* rate limit with action quarantine: held in the quarantine, not delivered */
		for (i = 0; i < msg->nrcpts; i++)
			if (msg->rcpts[i].code == 0) {
				msg->rcpts[i].code = 250;
				msg->rcpts[i].reply = arena_printf(msg->arena, "250 2.7.0 Ok, discarded, id=%s - "
				    "quarantined: %s", msg->am_id, rate_why);
			}
	}

	maj = rate_why ? (int)CC_CATCHALL : -1;
	if (pol && *pol->quarantine_dir && (maj >= 0 || (maj = decide_quarantine_ccat(&res, pol->quarantine_mask)) >= 0)) {
		struct quarantine_ref ref;
		size_t qlen;
		const char *qp = quarantine_prepend(msg, &res, &qlen);

		if (w->explain) {
			/* the name quarantine_write would give it; nothing written */
			ref.id = arena_printf(msg->arena, "%s-%s", quarantine_prefix((unsigned)maj), msg->mail_id);
			ref.path = arena_printf(msg->arena, "%s/%s", pol->quarantine_dir, ref.id);
			w->explain->quarantine = ref.path;
			(void)qp;
			(void)qlen;
		} else if (quarantine_store(msg, pol, proc_cfg(w), (unsigned)maj, qp, qlen, data, len, &ref, &err) < 0) {
			log_error("id=%s: quarantine failed, message tempfailed: %s", msg->am_id, err);
			for (i = 0; i < msg->nrcpts; i++) {
				msg->rcpts[i].code = 451;
				msg->rcpts[i].reply = arena_printf(msg->arena,
				    "451 4.5.0 Error in processing, id=%s: quarantine failed", msg->am_id);
			}
			proc_log(msg, proc_head_mta(msg), NULL);
			proc_count(w, msg, 0, 0);
			return;
		}
		res.quarantine_id = ref.id;
	}

	proc_observe(w, SB_STAGE_SCAN, &t_stage);
	clock_gettime(CLOCK_MONOTONIC, &t_stage);
	proc_state(w, SB_FORWARDING, qid);
	proc_opts(w, msg, &opts);
	if (w->explain == NULL) {
		if (w->dcache == NULL)
			w->dcache = deliver_cache_create();
		deliver_cache_expire(w->dcache, &opts, time(NULL));
	}
	if (pol && pol->state) {
		state_digest(data, len, digest);
		proc_already_delivered(w, msg, digest);
		before = proc_rcpt_list(msg, 0, &nbefore);
	}
	recorded = arena_alloc(msg->arena, msg->nrcpts ? msg->nrcpts : 1);
	proc_forward(w, msg, &res, data, len, &opts, mv, digest, recorded);
	proc_observe(w, SB_STAGE_FORWARD, &t_stage);
	/* nobody may leave without an outcome; an undecided one is ours to retry */
	proc_set_all(msg, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: not delivered",
	    msg->am_id));
	decide_after_delivery(msg, &res);

	memset(&nopts, 0, sizeof(nopts));
	nopts.myhostname = w->env->myhostname;
	memset(&nm, 0, sizeof(nm));
	buf_init(&nm.data);
	if (notify_dsn(msg, &res, &nopts, &nm)) {
		if (w->explain) {
			/* as if notify_method accepted it */
			w->explain->dsn = arena_printf(msg->arena, "to <%s> for %zu recipient(s), via notify_method",
			    msg->sender ? msg->sender : "", nm.nrcpts);
			decide_dsn_done(msg, &res, 1);
		} else {
			decide_dsn_done(msg, &res, proc_send_notice(w, msg, &nm, &opts));
		}
		buf_free(&nm.data);
	}
	if (pol && *pol->virus_admin && res.blocked &&
	    (CCAT_MAJOR(res.blocking_ccat) == CC_VIRUS || CCAT_MAJOR(res.blocking_ccat) == CC_BANNED)) {
		memset(&nm, 0, sizeof(nm));
		buf_init(&nm.data);
		notify_admin(msg, &res, &nopts, pol->virus_admin, &nm);
		if (w->explain)
			w->explain->admin_notice = arena_printf(msg->arena, "to <%s>, via notify_method", pol->virus_admin);
		else if (!proc_send_notice(w, msg, &nm, &opts))
			log_warning("id=%s: admin notification to %s not sent", msg->am_id, pol->virus_admin);
		buf_free(&nm.data);
	}

	if (msg->lmtp) {
		for (i = 0; i < msg->nrcpts; i++) {
			msg->rcpts[i].reply = decide_lmtp_reply(msg, &res, i);
			msg->rcpts[i].code = atoi(msg->rcpts[i].reply);
		}
	} else {
		msg->smtp_reply = decide_smtp_reply(msg, &res, NULL);
	}
	if (mv) {
		mv->quarantine_id = res.quarantine_id;
		mv->log_verdict = decide_log_verdict(msg, &res);
	}
	head = arena_printf(msg->arena, "%s %s %s", decide_log_blocked(msg, &res) ? "Blocked" : "Passed",
	    decide_log_verdict(msg, &res), decide_log_actions(msg, &res));
	proc_log(msg, head, res.quarantine_id);
	if (proc_ex)
		proc_explain_destinies(w, msg, &res);
	proc_count(w, msg, CCAT_MAJOR(res.blocked ? res.blocking_ccat : (res.nccat ? res.ccat[0] : 0)), res.blocked);
	proc_state_after(w, msg, digest, before, nbefore, recorded, res.blocked ? res.blocking_ccat : (res.nccat ? res.ccat[0] : 0));
}
