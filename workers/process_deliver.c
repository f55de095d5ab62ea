/*
 * process_deliver.c - one message's re-injection: the passed recipients
 * grouped by identical header edits (amavisd's forwarding loop), each
 * group split by forward method (routing/route.c), our Received header
 * added, each transaction delivered by the delivery client
 * (routing/deliver_smtp.c) and its accepted recipients recorded at once
 * (process_state.c); the DSN and the admin notice through
 * notify_method. Every delivery of the message ends by one deadline
 * inside child_timeout (proc_opts).
 *
 * A dry run delivers nothing: each group gets the reply a downstream
 * acknowledgement would give (process_explain.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/spool.h"
#include "policy/policy.h"
#include "workers/process_private.h"

#define PROC_HELO_MAX		255	/* HELO name kept in our Received header */

/* the forward method, parsed once per config */
static struct {
	const struct cfg *cfg;
	int ok;
	struct fwd_method m;
	char err[200];
} proc_fwd;

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
const char *proc_ip(struct arena *a, const char *addr, int tag)
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
 * proc_route - group the selected recipients by forward method, in
 * recipient order: each recipient's method comes from
 * routing/route.c (forward_method_maps, then the sender-dependent maps,
 * then the global forward_method), with the TLS policy that goes with
 * it. Equal methods are one pointer, so a pointer compare groups them.
 * A recipient whose method cannot be looked up gets a 451 and is left
 * out. Returns the number of groups in *groups_r (arena).
 */
static size_t proc_route(struct proc_ctx *c, const size_t *sel, size_t nsel, struct proc_group **groups_r)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
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
		if (m != NULL)
			proc_explain_route(c, i, &why, &tls);
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

/* proc_forward - deliver the passed recipients: one transaction per
 * (identical header edits × forward method), amavisd's forwarding loop;
 * each delivery's accepted recipients are recorded right after it */
static void proc_forward(struct proc_ctx *c)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
	struct decide_result *res = &c->res;
	struct milter_verdict *mv = c->mv;
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
		decide_edits_apply(msg->arena, c->data, c->len, edits, groups[g].nedits + 1, &out, &outlen, &skip);
		nm = proc_route(c, groups[g].idx, groups[g].n, &mg);
		for (k = 0; k < nm; k++) {
			if (w->explain) {
				proc_explain_delivery(w, msg, &mg[k], edits, groups[g].nedits + 1);
				continue;
			}
			(void)deliver(w->dcache, &c->opts, mg[k].m, &mg[k].tls, msg, mg[k].idx, mg[k].n, out, outlen, skip);
			proc_record(w, msg, c->digest, mg[k].idx, mg[k].n, c->recorded);
		}
	}
}

/*
 * proc_deliver - the delivery step: the deadline and timeouts, the
 * connection cache, with shared state the content digest and the
 * recipients delivered on an earlier try, then the groups. Anyone still
 * undecided afterwards gets 451 (ours to retry), and the downstream's
 * 4xx/5xx become the recipients' MTA outcomes.
 */
void proc_deliver(struct proc_ctx *c)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;

	clock_gettime(CLOCK_MONOTONIC, &c->t_stage);
	proc_state(w, SB_FORWARDING, c->qid);
	proc_opts(w, msg, &c->opts);
	if (w->explain == NULL) {
		if (w->dcache == NULL)
			w->dcache = deliver_cache_create();
		deliver_cache_expire(w->dcache, &c->opts, time(NULL));
	}
	if (w->policy && w->policy->state) {
		state_digest(c->data, c->len, c->digest);
		proc_already_delivered(w, msg, c->digest);
		c->before = proc_rcpt_list(msg, 0, &c->nbefore);
	}
	c->recorded = arena_alloc(msg->arena, msg->nrcpts ? msg->nrcpts : 1);
	proc_forward(c);
	proc_observe(w, SB_STAGE_FORWARD, &c->t_stage);
	/* nobody may leave without an outcome; an undecided one is ours to retry */
	proc_set_all(msg, arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: not delivered",
	    msg->am_id));
	decide_after_delivery(msg, &c->res);
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
int proc_send_notice(struct worker *w, struct message *msg, struct notify_msg *nm, const struct deliver_opts *o)
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
	accepted = deliver(w->dcache, o, nmeth, &tls, n, idx, nm->nrcpts, "", 0, 0);
	for (i = 0; i < n->nrcpts; i++)
		log_info("id=%s: notification (%s) to <%.200s>: %s", msg->am_id, *n->sender ? "admin" : "DSN",
		    n->rcpts[i].addr, n->rcpts[i].reply ? n->rcpts[i].reply : "-");
	return accepted == (int)nm->nrcpts;
}
