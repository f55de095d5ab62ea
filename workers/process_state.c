/*
 * process_state.c - one message's steps in the shared state (Redis,
 * state/state.h): rate limits, pen pals, and exactly once - the
 * recipients of each delivery recorded as delivered right after the
 * downstream's 2xx, and a retry by Postfix answered 250 for those
 * without delivering again. Then the counters of the message.
 *
 * Redis down: a rate limit tempfails or is skipped (rate_limit's
 * failure action), pen pals are skipped, a delivery not recorded is
 * logged (a retry may deliver again), a record not read delivers to
 * all: never a loss, at worst a duplicate. A dry run reads what has no
 * side effect and notes the rest (process_explain.c).
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table.h"
#include "policy/policy.h"
#include "workers/process_private.h"

/* proc_rcpt_list - the addresses of the recipients accepted downstream
 * (want2xx) or else of those still undecided (code 0), in the arena */
const char **proc_rcpt_list(struct message *msg, int want2xx, size_t *n_r)
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
int proc_rate(struct worker *w, struct message *msg, const char **why_r)
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
		proc_note(w, msg, "rate_limit_maps not consulted: checking a limit counts the message in Redis");
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
void proc_penpals(struct worker *w, struct message *msg, struct decide_facts *f)
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
	proc_note(w, msg, "pen pals read from Redis (read only)");
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
void proc_already_delivered(struct worker *w, struct message *msg, const char *digest)
{
	const struct policy *pol = w->policy;
	const char **rcpts, **done, *err = NULL;
	size_t n, i, j;

	if (pol != NULL && pol->state != NULL && (msg->xf.ident == NULL || *msg->xf.ident == 0))
		proc_note(w, msg, "delivered records (exactly once) not consulted in Redis: no Postfix queue id");
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

/*
 * proc_record - exactly once: the recipients of one delivery (idx[0..n-1])
 * that the downstream server has just accepted are recorded as delivered
 * at once, before the next group, the DSN or the reply (a worker that
 * dies after this point costs a retry, not a second copy for them).
 * Marks them in recorded[] so the end of the message does not record
 * them again. Without state or a queue id there is nothing to record.
 */
void proc_record(struct worker *w, struct message *msg, const char *digest, const size_t *idx,
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

/* proc_state_after - record the deliveries done now that proc_record
 * has not (recipients accepted by the milter's client MTA), the pen
 * pals of originating mail, and the counters */
void proc_state_after(struct proc_ctx *c, unsigned ccat)
{
	struct worker *w = c->w;
	struct message *msg = c->msg;
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
		for (k = 0; k < c->nbefore; k++)
			if (c->before[k] == msg->rcpts[i].addr)
				break;
		if (k == c->nbefore)
			continue;
		now[m++] = msg->rcpts[i].addr;
		if (!c->recorded[i])
			rest[nrest++] = msg->rcpts[i].addr;
	}
	if (nrest && msg->xf.ident && *msg->xf.ident &&
	    state_delivered_set(pol->state, msg->xf.ident, c->digest, rest, nrest, msg->am_id, time(NULL), &err) < 0)
		log_warning("id=%s: delivery not recorded (Redis: %s): a retry may deliver again", msg->am_id, err);
	if (m && c->bank.originating && msg->sender && *msg->sender &&
	    state_penpals_record(pol->state, msg->sender, now, m, time(NULL), &err) < 0)
		log_warning("id=%s: pen pals not recorded (Redis: %s)", msg->am_id, err);
	if (state_count_message(pol->state, c->bank.path && *c->bank.path ? c->bank.path : "default",
	    category_name(ccat), msg->spool ? spool_size(msg->spool) : 0, time(NULL), &err) < 0)
		log_debug(LOG_DBG_ROUTE, "id=%s: not counted (Redis: %s)", msg->am_id, err);
}
