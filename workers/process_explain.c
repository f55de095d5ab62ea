/*
 * process_explain.c - the dry run's record (tollgate explain): with
 * worker.explain set, process.c takes every decision as it does for
 * real and these functions write down, in struct proc_explain
 * (workers.h), what it would have done and what made each recipient's
 * destiny: the banks, the scanners' verdicts, the category and the
 * setting or map behind each destiny, the route of each delivery and
 * its header edits. Each function does nothing outside a dry run.
 *
 * Left out: what a dry run does not consult (rate limits count while
 * they check) is a note (proc_note), not a field.
 */
#include "config.h"

#include <string.h>

#include "lib/mem.h"
#include "policy/policy.h"
#include "workers/process_private.h"

/* proc_note - a line for the dry run's notes (facts not consulted) */
void proc_note(struct worker *w, struct message *msg, const char *text)
{
	struct proc_explain *ex = w->explain;
	size_t k;

	if (ex == NULL)
		return;
	for (k = 0; k < ex->nnotes; k++)
		if (strcmp(ex->notes[k], text) == 0)
			return;
	if (ex->nnotes < EXPLAIN_NOTES_MAX)
		ex->notes[ex->nnotes++] = arena_strdup(msg->arena, text);
}

/* proc_explain_begin - an empty record for every recipient */
void proc_explain_begin(struct worker *w, struct message *msg)
{
	struct proc_explain *ex = w->explain;
	size_t n = msg->nrcpts ? msg->nrcpts : 1;

	if (ex == NULL)
		return;
	ex->nrcpts = msg->nrcpts;
	ex->rcpts = arena_allocarray(msg->arena, n, sizeof(*ex->rcpts));
	memset(ex->rcpts, 0, n * sizeof(*ex->rcpts));
	ex->banks = "";
	ex->banks_why = "";
}

/* proc_explain_banks - the banks chosen and why */
void proc_explain_banks(struct proc_ctx *c)
{
	struct proc_explain *ex = c->w->explain;

	if (ex == NULL)
		return;
	ex->banks = c->bank.path;
	ex->banks_why = c->bank.why;
	ex->mynets = c->bank.mynets;
	ex->originating = c->bank.originating;
}

/*
 * proc_explain_route - the dry run's record of recipient i's route. A
 * policy bank that sets forward_method has it as its own global method
 * (the bank's routing context), so "forward_method" from a bank whose
 * value differs from the base configuration's is named as the bank's.
 */
void proc_explain_route(struct proc_ctx *c, size_t i, const struct route_why *why, const struct tls_policy *tls)
{
	struct worker *w = c->w;
	const struct cfg *cfg = proc_cfg(w);
	struct explain_rcpt *er;

	if (w->explain == NULL)
		return;
	er = &w->explain->rcpts[i];

	er->method = why->method;
	er->method_by = why->source;
	er->method_key = why->key;
	er->dunno = why->dunno;
	er->tls = tls_level_name(tls->level);
	er->tls_by = why->tls_source;
	if (why->source && strcmp(why->source, "forward_method") == 0 && cfg != w->env->cfg &&
	    strcmp(cfg_str(cfg, P_FORWARD_METHOD), cfg_str(w->env->cfg, P_FORWARD_METHOD)) != 0)
		er->method_by = arena_printf(c->msg->arena, "forward_method of policy bank %s", c->bank.path);
}

/*
 * proc_explain_delivery - a dry run's delivery of group g: its
 * recipients get the header edits they would get and the reply a
 * downstream acknowledgement of the final dot would give them
 * (reply_from_mta, the downstream's own words elided as "...").
 */
void proc_explain_delivery(struct worker *w, struct message *msg, const struct proc_group *g,
    const struct hdr_edit *edits, size_t nedits)
{
	struct proc_explain *ex = w->explain;
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
void proc_explain_facts(struct worker *w, struct message *msg, const struct decide_facts *f)
{
	struct proc_explain *ex = w->explain;
	struct arena *a = msg->arena;
	unsigned k;

	if (ex == NULL)
		return;

	if (w->env->clamav == NULL) {
		ex->clamav = "off (clamav_database is empty)";
	} else if (f->n_virus) {
		const char *names = f->virus_names[0];

		for (k = 1; k < f->n_virus; k++)
			names = arena_printf(a, "%s, %s", names, f->virus_names[k]);
		ex->clamav = arena_printf(a, "INFECTED: %s", names);
	} else if (f->unchecked) {
		ex->clamav = arena_printf(a, "UNCHECKED: %s", f->unchecked_reason ? f->unchecked_reason : "?");
	} else {
		ex->clamav = "CLEAN";
	}
	ex->banned = f->banned_reason;
	ex->bad_header = f->badh ? (f->badh_text ? f->badh_text : "bad header section") : NULL;
	if (w->policy == NULL || w->policy->spam_scanner == 0)
		ex->spam = "off (no spamd_address or rspamd_address)";
	else if (f->spam_scored)
		ex->spam = arena_printf(a, "%.3f (%s)", f->spam_score, f->spam_tests ? f->spam_tests : "");
	else
		ex->spam = "unscored (the spam check failed or was skipped: see the log)";
}

/*
 * proc_explain_destinies - each recipient's category and destiny, and
 * what made it: the final_*_destiny of the blocking category, or for a
 * passed recipient the first of its categories (most important first)
 * that did not block and why (destiny pass, a lovers map, mercy), or a
 * bypass map that kept the category off, else "clean".
 */
void proc_explain_destinies(struct worker *w, struct message *msg, const struct decide_result *res)
{
	struct proc_explain *ex = w->explain;
	struct arena *a = msg->arena;
	const struct decide_facts *f = res->facts;
	size_t i;
	unsigned k;

	if (ex == NULL)
		return;
	ex->category = category_name(res->blocked ? res->blocking_ccat :
	    res->nccat ? res->ccat[0] : CCAT(CC_CLEAN, 0));
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		const struct decide_rcpt *dr = &res->r[i];
		struct explain_rcpt *er = &ex->rcpts[i];
		unsigned maj;

		er->ccat = category_name(dr->blocked ? dr->blocking_ccat : dr->nccat ? dr->ccat[0] : CCAT(CC_CLEAN, 0));
		er->destiny = decide_destiny_name(dr->destiny);
		if (dr->blocked) {
			maj = CCAT_MAJOR(dr->blocking_ccat);
			if (maj == CC_MTA)
				er->destiny_by = "the downstream server's reply";
			else
				er->destiny_by = arena_printf(a, "%s = %s%s", proc_destiny_setting[maj] ?
				    proc_destiny_setting[maj] : category_name(dr->blocking_ccat),
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
				    category_name(dr->ccat[k]));
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
void proc_explain_outcome(struct worker *w, struct message *msg)
{
	struct proc_explain *ex = w->explain;
	size_t i;

	if (ex == NULL)
		return;
	for (i = 0; i < msg->nrcpts; i++) {
		struct explain_rcpt *er = &ex->rcpts[i];
		int cls = msg->rcpts[i].code / 100;

		if (er->destiny != NULL)
			continue;
		er->destiny = cls == 2 ? "PASS" : cls == 5 ? "REJECT" : "TEMPFAIL";
		er->destiny_by = "before any content decision (see the reply)";
	}
}
