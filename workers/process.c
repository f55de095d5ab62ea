/*
 * process.c - one received message, from the end of DATA to the
 * per-recipient outcome, in named steps (process_message_banked): loop
 * check, the content scanners (MIME parse, ClamAV, banned names and
 * types, bad headers, behind scanners/scanners.h) and the spam score,
 * each recipient's policy, the decision (policy/decide), quarantine,
 * delivery of the passed recipients (process_deliver.c), DSNs and the
 * admin notice, the replies, and the one log line per message in
 * amavisd's shape. The policy banks are chosen first (process_common).
 *
 * Every recipient leaves with a code and a reply. Whatever goes wrong
 * on our side is a 4xx (scanner failure, quarantine failure, a failed
 * policy lookup, a DSN that could not be sent); a 2xx for a passed
 * recipient comes only from the downstream server's acknowledgement of
 * the final dot (routing/deliver_smtp.c).
 *
 * Exactly once: with state_redis_server, the recipients of each
 * delivery are recorded as delivered right after the downstream's 2xx
 * (process_state.c), and every delivery of a message ends by one
 * deadline inside child_timeout, so a slow downstream gets 451 4.4.2
 * from a live worker, not the master's kill.
 *
 * Dry run (worker.explain set, for tollgate explain): the same code
 * path takes every decision, and where it would act - deliver, write
 * the quarantine, send a DSN or an admin notice, count in the
 * scoreboard or in Redis, log - it records what it would do in struct
 * proc_explain instead (workers.h, process_explain.c). Rate limits are
 * not checked then (checking one counts the message in Redis); the
 * note says so.
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
#include "scanners/content.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"
#include "scanners/spam.h"
#include "workers/process_private.h"
#include "workers/workers.h"

#define PROC_MAX_HOPS		100	/* more Received headers than this: a loop */
#define PROC_LOG_RCPTS		50	/* recipients named in the log line */
#define PROC_LOG_ADDR		256	/* bytes of one address in the log line */

/* proc_set_all - the same outcome for every recipient still undecided */
void proc_set_all(struct message *msg, const char *reply)
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
static void proc_log(struct proc_ctx *c, const char *head, const char *quarantine_id)
{
	struct message *msg = c->msg;
	struct buf b = BUF_INIT;
	size_t i, nq = 0;
	const char *ip, *port, *mid;
	char pr[300];
	struct timespec now;
	long long ms = 0;

	buf_printf(&b, "%s,", head);
	if (c->bank.path && *c->bank.path)
		buf_printf(&b, " %s", c->bank.path);
	if (c->bank.mynets)
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
	buf_printf(&b, ", mail_id: %s, Hits: %s, size: %zu", msg->mail_id, c->hits,
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
	if (c->w->explain)
		c->w->explain->log_line = arena_strndup(msg->arena, b.data, b.len);
	else
		log_info("%s", b.data);
	buf_free(&b);
}

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

/* proc_fail - the end of a message no content decision was made for
 * (unreadable, a loop, a scanner, bank, rate limit or quarantine
 * failure): every undecided recipient gets reply, then the log line
 * and the count */
static void proc_fail(struct proc_ctx *c, const char *reply, int blocked)
{
	proc_set_all(c->msg, reply);
	proc_log(c, proc_head_mta(c->msg), NULL);
	proc_count(c->w, c->msg, 0, blocked);
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
static int proc_scan(struct proc_ctx *c, const char **error_r)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	struct decide_facts *f = &c->facts;
	const char *data = c->data;
	size_t len = c->len;
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

/* proc_scan_failed - a scanner failed: 451 to everyone, never a pass */
static void proc_scan_failed(struct proc_ctx *c, const char *err)
{
	struct message *msg = c->msg;

	log_error("id=%s: virus scanner failure: %s", msg->am_id, err);
	if (c->w->explain == NULL)
		scoreboard_event(SB_EV_SCANNER_FAILURE);
	else
		c->w->explain->clamav = arena_printf(msg->arena, "FAILURE: %s", err);
	proc_fail(c, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: virus scanner failure",
	    msg->am_id), 0);
}

/* proc_policies - each recipient's policy; a failed lookup tempfails
 * that recipient (its policy stays NULL) */
static void proc_policies(struct proc_ctx *c)
{
	struct message *msg = c->msg;
	const char *err = NULL;
	size_t i;

	c->pols = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*c->pols));
	for (i = 0; i < msg->nrcpts; i++) {
		c->pols[i] = NULL;
		if (c->w->policy && policy_for_rcpt(c->w->policy, msg, i, &c->pols[i], &err) < 0) {
			log_warning("id=%s: <%.200s>: policy lookup failed: %s", msg->am_id, msg->rcpts[i].addr, err);
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "lookup failed", msg->am_id);
			c->pols[i] = NULL;
		}
	}
}

/* proc_score - the last facts: originating, the pen pals' bonus, the
 * score for the log line; the dry run records the scanners' verdicts */
static void proc_score(struct proc_ctx *c)
{
	c->facts.originating = c->bank.originating;
	proc_penpals(c->w, c->msg, &c->facts);
	if (c->facts.spam_scored)
		snprintf(c->hits, sizeof(c->hits), "%.3f", c->facts.spam_score);
	proc_explain_facts(c->w, c->msg, &c->facts);
}

/*
 * proc_rate_limits - rate_limit_maps: -1 when the message was
 * tempfailed (a limit with action tempfail, or action quarantine
 * without a quarantine_dir: "quarantined" promises a copy, so no 2xx
 * without one), else 0 with c->rate_why set when it is to be held in
 * the quarantine
 */
static int proc_rate_limits(struct proc_ctx *c)
{
	struct message *msg = c->msg;
	const struct policy *pol = c->w->policy;
	const char *why = NULL;
	int rl = proc_rate(c->w, msg, &why);

	if (rl == 1) {
		proc_fail(c, arena_printf(msg->arena, "451 4.7.1 Try again later, id=%s: %s", msg->am_id, why), 0);
		return -1;
	}
	if (rl == 2 && (pol == NULL || *pol->quarantine_dir == 0)) {
		log_error("id=%s: %s: action quarantine but no quarantine_dir: tempfailed", msg->am_id, why);
		proc_fail(c, arena_printf(msg->arena, "451 4.7.1 Try again later, id=%s: %s "
		    "(no quarantine to hold it)", msg->am_id, why), 0);
		return -1;
	}
	if (rl == 2)
		c->rate_why = why;
	return 0;
}

/* proc_locals - each recipient's local_domains_maps answer into its
 * policy (with policy banks); a failed lookup tempfails it */
static void proc_locals(struct proc_ctx *c)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	size_t i;

	for (i = 0; i < msg->nrcpts; i++) {
		int local;

		if (c->pols[i] == NULL || w->env->banks == NULL)
			continue;
		local = banks_is_local(w->env->banks, w->cfg, msg, msg->rcpts[i].addr);
		if (local < 0) {
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "local_domains_maps lookup failed", msg->am_id);
			continue;
		}
		c->pols[i]->is_local = local;
	}
}

/* proc_decide - the decision (policy/decide.c); a rate limit with
 * action quarantine then holds every undecided recipient */
static void proc_decide(struct proc_ctx *c)
{
	struct message *msg = c->msg;
	size_t i;

	(void)decide_recipients(msg, &c->facts, (const struct decide_policy *const *)c->pols, &c->res);
	if (c->rate_why == NULL)
		return;
	for (i = 0; i < msg->nrcpts; i++)
		if (msg->rcpts[i].code == 0) {
			msg->rcpts[i].code = 250;
			msg->rcpts[i].reply = arena_printf(msg->arena, "250 2.7.0 Ok, discarded, id=%s - "
			    "quarantined: %s", msg->am_id, c->rate_why);
		}
}

/*
 * proc_quarantine - a copy under the quarantine category (the blocking
 * one, or CATCHALL for a rate limit's hold) when quarantine_dir and the
 * mask want one, stored and indexed by quarantine_store
 * (policy/quarantine.c). -1 when that failed: everyone is tempfailed (a
 * blocked message must not vanish unquarantined).
 */
static int proc_quarantine(struct proc_ctx *c)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	const struct policy *pol = w->policy;
	struct quarantine_ref ref;
	const char *qp, *err = NULL, *reply;
	size_t qlen, i;
	int maj = c->rate_why ? (int)CC_CATCHALL : -1;

	if (pol == NULL || *pol->quarantine_dir == 0 ||
	    (maj < 0 && (maj = decide_quarantine_ccat(&c->res, pol->quarantine_mask)) < 0))
		return 0;
	qp = quarantine_prepend(msg, &c->res, &qlen);
	if (w->explain) {
		/* the name quarantine_write would give it; nothing written */
		ref.id = arena_printf(msg->arena, "%s-%s", quarantine_prefix((unsigned)maj), msg->mail_id);
		ref.path = arena_printf(msg->arena, "%s/%s", pol->quarantine_dir, ref.id);
		w->explain->quarantine = ref.path;
	} else if (quarantine_store(msg, pol, proc_cfg(w), (unsigned)maj, qp, qlen, c->data, c->len, &ref,
	    &err) < 0) {
		log_error("id=%s: quarantine failed, message tempfailed: %s", msg->am_id, err);
		reply = arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: quarantine failed", msg->am_id);
		for (i = 0; i < msg->nrcpts; i++) {
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = reply;
		}
		proc_fail(c, reply, 0);
		return -1;
	}
	c->res.quarantine_id = ref.id;
	return 0;
}

/* proc_dsn - the DSN for the recipients owed one, through
 * notify_method; those it could not reach get 451 (decide_dsn_done) */
static void proc_dsn(struct proc_ctx *c, const struct notify_opts *nopts)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	struct notify_msg nm;

	memset(&nm, 0, sizeof(nm));
	buf_init(&nm.data);
	if (!notify_dsn(msg, &c->res, nopts, &nm))
		return;
	if (w->explain) {
		/* as if notify_method accepted it */
		w->explain->dsn = arena_printf(msg->arena, "to <%s> for %zu recipient(s), via notify_method",
		    msg->sender ? msg->sender : "", nm.nrcpts);
		decide_dsn_done(msg, &c->res, 1);
	} else {
		decide_dsn_done(msg, &c->res, proc_send_notice(w, msg, &nm, &c->opts));
	}
	buf_free(&nm.data);
}

/* proc_admin_notice - virus_admin's notice of a blocked virus or banned
 * message (best effort) */
static void proc_admin_notice(struct proc_ctx *c, const struct notify_opts *nopts)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	const struct policy *pol = w->policy;
	unsigned maj = CCAT_MAJOR(c->res.blocking_ccat);
	struct notify_msg nm;

	if (pol == NULL || *pol->virus_admin == 0 || !c->res.blocked || (maj != CC_VIRUS && maj != CC_BANNED))
		return;
	memset(&nm, 0, sizeof(nm));
	buf_init(&nm.data);
	notify_admin(msg, &c->res, nopts, pol->virus_admin, &nm);
	if (w->explain)
		w->explain->admin_notice = arena_printf(msg->arena, "to <%s>, via notify_method", pol->virus_admin);
	else if (!proc_send_notice(w, msg, &nm, &c->opts))
		log_warning("id=%s: admin notification to %s not sent", msg->am_id, pol->virus_admin);
	buf_free(&nm.data);
}

/* proc_notify - the DSN, then the admin notice */
static void proc_notify(struct proc_ctx *c)
{
	struct notify_opts nopts;

	memset(&nopts, 0, sizeof(nopts));
	nopts.myhostname = c->w->env->myhostname;
	proc_dsn(c, &nopts);
	proc_admin_notice(c, &nopts);
}

/* proc_reply - the final replies: one per recipient for LMTP, one for
 * SMTP; before the queue, the verdict's quarantine id and log verdict */
static void proc_reply(struct proc_ctx *c)
{
	struct message *msg = c->msg;
	size_t i;

	if (msg->lmtp) {
		for (i = 0; i < msg->nrcpts; i++) {
			msg->rcpts[i].reply = decide_lmtp_reply(msg, &c->res, i);
			msg->rcpts[i].code = atoi(msg->rcpts[i].reply);
		}
	} else {
		msg->smtp_reply = decide_smtp_reply(msg, &c->res, NULL);
	}
	if (c->mv) {
		c->mv->quarantine_id = c->res.quarantine_id;
		c->mv->log_verdict = decide_log_verdict(msg, &c->res);
	}
}

/* proc_finish - the log line, the dry run's destinies, the counters in
 * the scoreboard and in Redis */
static void proc_finish(struct proc_ctx *c)
{
	struct message *msg = c->msg;
	const struct decide_result *res = &c->res;
	unsigned ccat = res->blocked ? res->blocking_ccat : res->nccat ? res->ccat[0] : 0;
	const char *head;

	head = arena_printf(msg->arena, "%s %s %s", decide_log_blocked(msg, res) ? "Blocked" : "Passed",
	    decide_log_verdict(msg, res), decide_log_actions(msg, res));
	proc_log(c, head, res->quarantine_id);
	proc_explain_destinies(c->w, msg, res);
	proc_count(c->w, msg, CCAT_MAJOR(ccat), res->blocked);
	proc_state_after(c, ccat);
}

/*
 * process_message_banked - the message path after receive, with the
 * banks' configuration and policy (see workers.h). Each step that ends
 * the message early has already answered, logged and counted it.
 *
 * Order: the content must be readable (else 451 4.3.0), the loop check
 * (554 5.4.6), scan (451 on scanner failure), policy per recipient,
 * rate limits, decision, quarantine (451 for everyone if it fails),
 * delivery of the passed recipients (each delivery recorded at once),
 * DSN (451 for the recipients whose DSN could not be sent), admin
 * notice (best effort), the replies, and the log line last.
 */
static void process_message_banked(struct proc_ctx *c)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	const char *err = NULL;

	proc_state(w, SB_SCANNING, c->qid);
	c->data = msg->spool ? spool_data(msg->spool, &c->len) : NULL;
	if (c->data == NULL) {
		err = msg->spool ? spool_error(msg->spool) : "no spool";
		log_error("id=%s: message content unavailable: %s", msg->am_id, err);
		proc_fail(c, arena_printf(msg->arena, "451 4.3.0 Error in processing, id=%s: %s", msg->am_id, err), 0);
		return;
	}
	proc_observe(w, SB_STAGE_RECEIVE, &msg->t_start);
	clock_gettime(CLOCK_MONOTONIC, &c->t_stage);
	if (proc_hops(c->data, c->len, PROC_MAX_HOPS) > PROC_MAX_HOPS) {
		log_warning("id=%s: more than %d Received headers: mail loop", msg->am_id, PROC_MAX_HOPS);
		proc_fail(c, "554 5.4.6 Too many hops", 1);
		return;
	}
	if (proc_scan(c, &err) < 0) {
		proc_scan_failed(c, err);
		return;
	}
	proc_policies(c);
	proc_score(c);
	if (proc_rate_limits(c) < 0)
		return;
	proc_locals(c);
	proc_decide(c);
	if (proc_quarantine(c) < 0)
		return;
	proc_observe(w, SB_STAGE_SCAN, &c->t_stage);
	proc_deliver(c);
	proc_notify(c);
	proc_reply(c);
	proc_finish(c);
}

/*
 * process_common - choose the policy banks (policy/banks.h), run the
 * message with their configuration and policy, then put the worker's
 * own back. A failed bank lookup tempfails the message.
 */
static void process_common(struct worker *w, struct message *msg, struct milter_verdict *mv)
{
	const struct cfg *saved = w->cfg;
	const struct cfg *cfg = NULL;
	const struct policy *pol = NULL;
	const char *err = NULL;
	struct proc_ctx c;

	memset(&c, 0, sizeof(c));
	c.w = w;
	c.msg = msg;
	c.mv = mv;
	c.qid = msg->xf.ident && *msg->xf.ident ? msg->xf.ident : msg->am_id;
	strlcpy(c.hits, "-", sizeof(c.hits));
	w->policy = w->env->policy;
	proc_explain_begin(w, msg);
	if (w->env->banks) {
		if (banks_choose(w->env->banks, msg, &c.bank, &err) < 0 ||
		    banks_get(w->env->banks, c.bank.path, &cfg, &pol, &err) < 0) {
			log_error("id=%s: policy bank: %s", msg->am_id, err);
			proc_fail(&c, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: "
			    "policy bank lookup failed", msg->am_id), 0);
			proc_note(w, msg, arena_printf(msg->arena, "policy bank lookup failed: %s", err));
			proc_explain_outcome(w, msg);
			return;
		}
		w->cfg = cfg;
		w->policy = pol;
		proc_explain_banks(&c);
	}
	process_message_banked(&c);
	proc_explain_outcome(w, msg);
	w->cfg = saved;
	w->policy = w->env->policy;
}

/* process_message - see workers.h */
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

/* process_milter - see workers.h */
void process_milter(struct worker *w, struct message *msg, struct milter_verdict *v)
{
	memset(v, 0, sizeof(*v));
	process_common(w, msg, v);
	process_milter_verdict(msg, v);
}
