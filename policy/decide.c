/*
 * decide.c - the destiny decision itself: each recipient's contents
 * categories (ccats), the walk that finds the first blocking one under
 * that recipient's policy, the message's ccats, the outcomes after
 * delivery (downstream 4xx/5xx as amavisd's CC_MTA) and the DSN
 * bookkeeping, and the category a message is quarantined under. The
 * banned-name and bad-header checks are content scanners
 * (scanners/content.h). amavisd-new 2.13's check_mail is the model; decide.h states
 * where we differ and why. The texts that follow from a decision are
 * apart: replies (decide_reply.c), header edits (decide_edits.c), log
 * tokens (decide_log.c), DSNs and notices (notify.c).
 *
 * Left out: penpals, white/blacklists (their maps are the caller's),
 * per-recipient spam scores (one score per message).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/decide_private.h"

#define DECIDE_MIN_SIZE_LIMIT	65536	/* RFC 5321: a size limit is at least 64 KiB */

/* ---- destinies and the defaults ---- */

static const char *const destiny_names[] = { "PASS", "DISCARD", "BOUNCE", "REJECT", "TEMPFAIL" };

/* decide_destiny_name - "PASS", "DISCARD", ... */
const char *decide_destiny_name(enum destiny d)
{
	return (unsigned)d < sizeof(destiny_names) / sizeof(destiny_names[0]) ? destiny_names[d] : "?";
}

/* decide_destiny_parse - a destiny from config text */
int decide_destiny_parse(const char *s, enum destiny *d_r)
{
	size_t i;

	if (s == NULL)
		return -1;
	if ((s[0] == 'D' || s[0] == 'd') && s[1] == '_')
		s += 2;
	for (i = 0; i < sizeof(destiny_names) / sizeof(destiny_names[0]); i++) {
		if (strcasecmp(s, destiny_names[i]) == 0) {
			*d_r = (enum destiny)i;
			return 0;
		}
	}
	return -1;
}

/* decide_policy_defaults - amavisd's defaults (decide.h) */
void decide_policy_defaults(struct decide_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->tag_level = DECIDE_LEVEL_UNSET;
	p->tag2_level = DECIDE_LEVEL_UNSET;
	p->tag3_level = DECIDE_LEVEL_UNSET;
	p->kill_level = DECIDE_LEVEL_UNSET;
	p->dsn_cutoff_level = DECIDE_LEVEL_UNSET;
	p->destiny[CC_VIRUS] = D_DISCARD;
	p->destiny[CC_BANNED] = D_DISCARD;
	p->destiny[CC_UNCHECKED] = D_PASS;
	p->destiny[CC_SPAM] = D_PASS;
	p->destiny[CC_BADH] = D_PASS;
	p->destiny[CC_OVERSIZED] = D_BOUNCE;
	p->destiny[CC_MTA] = D_TEMPFAIL;
	p->is_local = 1;
	p->remove_existing_spam_headers = 1;
	p->undecipherable_subject_tag = "***UNCHECKED*** ";
	p->virus_subject_tag = "***INFECTED*** ";
}

/* ---- a recipient's contents categories ---- */

/* ccat_add1 - insert c into the descending list (no duplicates) */
static void ccat_add1(unsigned *list, unsigned *n, unsigned c)
{
	unsigned j, k;

	for (j = 0; j < *n && list[j] > c; j++)
		;
	if (j < *n && list[j] == c)
		return;
	if (*n >= DECIDE_MAX_CCATS)
		return;		/* cannot happen: at most 16 distinct ccats are made */
	for (k = *n; k > j; k--)
		list[k] = list[k - 1];
	list[j] = c;
	(*n)++;
}

/* ccat_add - insert "maj" and, when min > 0, "maj,min" as amavisd does */
static void ccat_add(unsigned *list, unsigned *n, unsigned maj, unsigned min)
{
	if (min > 0)
		ccat_add1(list, n, CCAT(maj, min));
	ccat_add1(list, n, CCAT(maj, 0));
}

/* ---- the decision ---- */

/* rcpt_ccats - the ccats of one recipient (and, ORed in, the message's) */
static void rcpt_ccats(const struct decide_facts *f, const struct decide_policy *p,
    struct decide_rcpt *rr, struct decide_result *res)
{
	unsigned *l = rr->ccat;
	unsigned *n = &rr->nccat;

	ccat_add(l, n, CC_CLEAN, 0);
	if (f->spam_scored && !(p->bypass & DECIDE_BYPASS_SPAM)) {
		double s = f->spam_score;

		if (!decide_level_set(p->tag_level) || s >= p->tag_level)
			ccat_add(l, n, CC_CLEAN, 1);
		if ((decide_level_set(p->tag2_level) && s >= p->tag2_level) ||
		    (decide_level_set(p->tag3_level) && s >= p->tag3_level))
			ccat_add(l, n, CC_SPAMMY, 0);
		if (decide_level_set(p->tag3_level) && s >= p->tag3_level)
			ccat_add(l, n, CC_SPAMMY, 1);
		if (decide_level_set(p->kill_level) && s >= p->kill_level)
			ccat_add(l, n, CC_SPAM, 0);
	}
	if (p->message_size_limit) {
		unsigned long long lim = p->message_size_limit;

		if (lim < DECIDE_MIN_SIZE_LIMIT)
			lim = DECIDE_MIN_SIZE_LIMIT;
		if (f->size > lim)
			ccat_add(l, n, CC_OVERSIZED, 0);
	}
	if (f->badh && !(p->bypass & DECIDE_BYPASS_HEADER))
		ccat_add(l, n, CC_BADH, f->badh_minor);
	if (f->unchecked && !(p->bypass & DECIDE_BYPASS_VIRUS))
		ccat_add(l, n, CC_UNCHECKED, f->unchecked_minor);
	if (f->banned_reason && !(p->bypass & DECIDE_BYPASS_BANNED))
		ccat_add(l, n, CC_BANNED, 0);
	if (f->n_virus && !(p->bypass & DECIDE_BYPASS_VIRUS))
		ccat_add(l, n, CC_VIRUS, 0);
	/* the message level has everything any recipient has */
	{
		unsigned i;

		for (i = 0; i < rr->nccat; i++)
			ccat_add1(res->ccat, &res->nccat, rr->ccat[i]);
	}
}

/* ccat_destiny - the final destiny of a major ccat for policy p; SPAMMY
 * and CLEAN have none (pass), MTA's depends on the minor */
static enum destiny ccat_destiny(const struct decide_policy *p, unsigned ccat)
{
	unsigned maj = CCAT_MAJOR(ccat);

	switch (maj) {
	case CC_MTA:
		return CCAT_MINOR(ccat) == 2 ? D_REJECT : D_TEMPFAIL;
	case CC_VIRUS:
	case CC_BANNED:
	case CC_UNCHECKED:
	case CC_SPAM:
	case CC_BADH:
	case CC_OVERSIZED:
		return p->destiny[maj];
	default:
		return D_PASS;
	}
}

/* ccat_loved - does the recipient love this major ccat? */
static int ccat_loved(const struct decide_policy *p, unsigned maj)
{
	switch (maj) {
	case CC_VIRUS:
	case CC_BANNED:
	case CC_UNCHECKED:
	case CC_BADH:
		return (p->lovers & DECIDE_LOVER(maj)) != 0;
	case CC_SPAM:
	case CC_SPAMMY:
		return (p->lovers & (DECIDE_LOVER(CC_SPAM) | DECIDE_LOVER(CC_SPAMMY))) != 0;
	default:
		return 0;
	}
}

/* rcpt_walk - the recipient's destiny: the first blocking major ccat wins */
static void rcpt_walk(const struct message *msg, const struct decide_facts *f,
    const struct decide_policy *p, struct decide_rcpt *rr)
{
	unsigned i, prev = ~0u;

	rr->destiny = D_PASS;
	rr->blocked = 0;
	for (i = 0; i < rr->nccat; i++) {
		unsigned maj = CCAT_MAJOR(rr->ccat[i]);
		enum destiny d;

		if (maj == prev)
			continue;	/* the major was looked at with its highest minor */
		prev = maj;
		d = ccat_destiny(p, rr->ccat[i]);
		if (d == D_PASS || ccat_loved(p, maj))
			continue;
		if (d == D_BOUNCE && maj == CC_BADH && ((msg->sender && *msg->sender == 0) || f->bulk)) {
			rr->mercy = 1;	/* a bounce of it would be suppressed anyway */
			continue;
		}
		rr->destiny = d;
		rr->blocked = 1;
		rr->blocking_ccat = rr->ccat[i];
		return;
	}
}

/* decide_recipients - see decide.h */
size_t decide_recipients(struct message *msg, const struct decide_facts *f,
    const struct decide_policy *const *pols, struct decide_result *res_r)
{
	static struct decide_policy defaults;
	static int defaults_set;
	size_t i, nblocked = 0;

	if (!defaults_set) {
		decide_policy_defaults(&defaults);
		defaults_set = 1;
	}
	memset(res_r, 0, sizeof(*res_r));
	res_r->facts = f;
	res_r->n = msg->nrcpts;
	res_r->r = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*res_r->r));
	ccat_add(res_r->ccat, &res_r->nccat, CC_CLEAN, 0);
	for (i = 0; i < msg->nrcpts; i++) {
		struct decide_rcpt *rr = &res_r->r[i];
		const struct decide_policy *p = pols && pols[i] ? pols[i] : &defaults;

		rr->pol = p;
		rcpt_ccats(f, p, rr, res_r);
		rcpt_walk(msg, f, p, rr);
		if (!rr->blocked)
			continue;
		nblocked++;
		if (!res_r->blocked || rr->blocking_ccat > res_r->blocking_ccat)
			res_r->blocking_ccat = rr->blocking_ccat;
		res_r->blocked = 1;
		if (msg->rcpts[i].code == 0) {
			const char *st = decide_status(msg->arena, msg->am_id, f, rr->blocking_ccat,
			    rr->destiny, p->soft_bounce);

			msg->rcpts[i].reply = st;
			msg->rcpts[i].code = atoi(st);
		}
	}
	return nblocked;
}

/* decide_after_delivery - downstream outcomes as amavisd's CC_MTA */
void decide_after_delivery(struct message *msg, struct decide_result *res)
{
	size_t i;

	for (i = 0; i < res->n && i < msg->nrcpts; i++) {
		struct decide_rcpt *rr = &res->r[i];
		int cls = msg->rcpts[i].code / 100;

		if (rr->blocked || rr->delivered)
			continue;
		if (cls == 2) {
			rr->delivered = 1;
		} else if (cls == 4 || cls == 5) {
			unsigned c = CCAT(CC_MTA, cls == 4 ? 1 : 2);

			ccat_add(rr->ccat, &rr->nccat, CC_MTA, cls == 4 ? 1 : 2);
			ccat_add(res->ccat, &res->nccat, CC_MTA, cls == 4 ? 1 : 2);
			rr->destiny = cls == 4 ? D_TEMPFAIL : D_REJECT;
			rr->blocked = 1;
			rr->blocking_ccat = c;
			if (!res->blocked || c > res->blocking_ccat)
				res->blocking_ccat = c;
			res->blocked = 1;
		}
	}
}

/* decide_dsn_done - confirm or fail the pending DSN */
void decide_dsn_done(struct message *msg, struct decide_result *res, int ok)
{
	size_t i;

	for (i = 0; i < res->n && i < msg->nrcpts; i++) {
		if (res->r[i].dsn != DECIDE_DSN_PENDING)
			continue;
		if (ok) {
			res->r[i].dsn = DECIDE_DSN_SENT;
		} else {
			res->r[i].dsn = DECIDE_DSN_FAILED;
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(msg->arena,
			    "451 4.5.0 Error in processing, id=%s, DSN could not be sent", msg->am_id);
		}
	}
}

/* ---- quarantine selection ---- */

/* decide_quarantine_ccat - see decide.h */
int decide_quarantine_ccat(const struct decide_result *res, unsigned mask)
{
	unsigned maj = CCAT_MAJOR(decide_msg_ccat(res));

	if (maj == CC_CATCHALL || maj == CC_CLEAN || maj == CC_MTA || maj >= CC_MAJORS)
		return -1;
	return (mask & DECIDE_LOVER(maj)) ? (int)maj : -1;
}


/* ---- scanner facts ---- */

/* decide_unchecked_minor - CC_UNCHECKED_* from a verdict reason */
unsigned decide_unchecked_minor(const char *reason)
{
	if (reason == NULL)
		return CC_UNCHECKED_OTHER;
	if (strncasecmp(reason, "encrypted", 9) == 0)
		return CC_UNCHECKED_ENCRYPTED;
	if (strncasecmp(reason, "limit", 5) == 0)
		return CC_UNCHECKED_LIMITS;
	if (strncasecmp(reason, "undecipherable", 14) == 0)
		return CC_UNCHECKED_AMBIGUOUS;
	return CC_UNCHECKED_OTHER;
}
