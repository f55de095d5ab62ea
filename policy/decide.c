/*
 * decide.c - contents categories, per-recipient destinies and the texts
 * that follow from them (replies, header edits, log tokens), plus the
 * banned-name check. amavisd-new 2.13's check_mail (§2.4) is the model;
 * decide.h states where we differ and why.
 *
 * Left out: defanging and disclaimers, penpals, white/blacklists,
 * X-Spam-Report, per-recipient spam scores (one score per message).
 * Bugs: HDR_PREPEND_SUBJECT edits the first Subject field only, as
 * amavisd does.
 */
#include "config.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "lib/tables/table.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

#define DECIDE_REPLY_MAX	510	/* a reply line without CRLF */
#define DECIDE_REASON_MAX	450	/* amavisd cuts the reason text here (plus "...") */
#define DECIDE_FOLD		78	/* fold added header fields past this column */
#define DECIDE_WORD_MAX		900	/* a longer word is cut by a fold */
#define DECIDE_BANNED_KEYS	6	/* keys checked per banned item */
#define DECIDE_MIN_SIZE_LIMIT	65536	/* RFC 5321: a size limit is at least 64 KiB */

/* ---- names ---- */

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

/* ---- small helpers ---- */

/* reply_code3 - the 3-digit code at the start of s, or 0 */
static int reply_code3(const char *s)
{
	if (s == NULL || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9' || (s[3] != 0 && s[3] != ' ' && s[3] != '-'))
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* clean_text - s as printable ASCII ('?' for anything else), at most max bytes */
static char *clean_text(struct arena *a, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;
	char *out;

	if (n > max)
		n = max;
	out = arena_strndup(a, s ? s : "", n);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			out[i] = (out[i] == '\t') ? ' ' : '?';
	return out;
}

/* fmt_num - a level or score as amavisd prints 0+sprintf("%.3f"): no
 * trailing zeros ("7.5", "5", "-1.25") */
static char *fmt_num(struct arena *a, double v)
{
	char tmp[64];
	size_t n;

	snprintf(tmp, sizeof(tmp), "%.3f", v);
	n = strlen(tmp);
	while (n > 0 && tmp[n - 1] == '0')
		tmp[--n] = 0;
	if (n > 0 && tmp[n - 1] == '.')
		tmp[--n] = 0;
	if (strcmp(tmp, "-0") == 0)
		strlcpy(tmp, "0", sizeof(tmp));
	return arena_strdup(a, tmp);
}

/* virus_list - the virus names joined by ", " (amavisd's %V) */
static const char *virus_list(struct arena *a, const struct decide_facts *f)
{
	struct buf b = BUF_INIT;
	const char *out;
	unsigned i;

	for (i = 0; i < f->n_virus; i++) {
		if (i)
			buf_puts(&b, ", ");
		buf_puts(&b, f->virus_names[i] ? f->virus_names[i] : "");
	}
	out = clean_text(a, b.data ? b.data : "", 300);
	buf_free(&b);
	return out;
}

/* ccat_add - insert c into the descending list (no duplicates); amavisd
 * always inserts "maj" and also "maj,min" when min > 0 */
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

static void ccat_add(unsigned *list, unsigned *n, unsigned maj, unsigned min)
{
	if (min > 0)
		ccat_add1(list, n, CCAT(maj, min));
	ccat_add1(list, n, CCAT(maj, 0));
}

/* ccat_has - is there a ccat of major maj (any minor, or exactly min when min >= 0)? */
static int ccat_has(const unsigned *list, unsigned n, unsigned maj, int min)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (CCAT_MAJOR(list[i]) == maj && (min < 0 || CCAT_MINOR(list[i]) == (unsigned)min))
			return 1;
	return 0;
}

static int level_set(double v)
{
	return !isnan(v);
}

/* ---- status text ---- */

/* status_base - amavisd's base code by blocking ccat (§2.2) */
static const char *status_base(unsigned ccat)
{
	switch (CCAT_MAJOR(ccat)) {
	case CC_BADH:
		return CCAT_MINOR(ccat) == CC_BADH_8BIT ? "554 5.6.3" : "554 5.6.0";
	case CC_OVERSIZED:
		return "552 5.3.4";
	case CC_MTA:
		return "550 5.3.5";
	default:
		return "554 5.7.0";
	}
}

/* status_reason - amavisd's %smtp_reason_by_ccat, expanded */
static const char *status_reason(struct arena *a, const char *am_id, const struct decide_facts *f,
    unsigned ccat)
{
	unsigned min = CCAT_MINOR(ccat);

	switch (CCAT_MAJOR(ccat)) {
	case CC_VIRUS:
		return arena_printf(a, "id=%s - INFECTED: %s", am_id, virus_list(a, f));
	case CC_BANNED:
		return arena_printf(a, "id=%s - BANNED: %s", am_id,
		    clean_text(a, f->banned_reason ? f->banned_reason : "", 300));
	case CC_UNCHECKED:
		return arena_printf(a, "id=%s - UNCHECKED%s", am_id,
		    min == 1 ? ": encrypted" : min == 2 ? ": over limits" :
		    min == 3 ? ": ambiguous content" : "");
	case CC_SPAM:
		return arena_printf(a, "id=%s - spam", am_id);
	case CC_SPAMMY:
		return arena_printf(a, "id=%s - spammy%s", am_id, min == 1 ? " (tag3)" : "");
	case CC_BADH: {
		static const char *const t[] = { "", ": MIME error", ": nonencoded 8-bit character",
			": contains invalid control character", ": line made up entirely of whitespace",
			": line longer than RFC 5322 limit", ": syntax error",
			": missing required header field", ": duplicate header field" };

		return arena_printf(a, "id=%s - BAD HEADER%s", am_id, min < sizeof(t) / sizeof(t[0]) ? t[min] : "");
	}
	case CC_OVERSIZED:
		return arena_printf(a, "id=%s - Message size exceeds recipient's size limit", am_id);
	case CC_MTA:
		return arena_printf(a, "id=%s - %s", am_id, min == 1 ? "Temporary MTA failure on relaying" :
		    min == 2 ? "Rejected by next-hop MTA on relaying" : "Unable to relay message back to MTA");
	case CC_CLEAN:
		return arena_printf(a, "id=%s - CLEAN", am_id);
	default:
		return arena_printf(a, "id=%s - OTHER", am_id);
	}
}

/* decide_status - the status line of a blocked recipient.
 *
 * amavisd order matters: a destiny of TEMPFAIL gives 450 first; else
 * soft_bounce turns any blocked status (discard included) into 450 with
 * " (soft_bounce)"; else DISCARD gives 250. The enhanced code keeps its
 * subject and detail and takes the new class.
 */
const char *decide_status(struct arena *a, const char *am_id, const struct decide_facts *f,
    unsigned blocking_ccat, enum destiny d, int soft_bounce)
{
	const char *base = status_base(blocking_ccat), *what, *soft = "";
	char code[16];
	char *reason, *out;

	strlcpy(code, base, sizeof(code));
	if (d == D_TEMPFAIL) {
		memcpy(code, "450 4", 5);
	} else if (soft_bounce) {
		memcpy(code, "450 4", 5);
		soft = " (soft_bounce)";
	} else if (d == D_DISCARD) {
		memcpy(code, "250 2", 5);
	}
	what = d == D_PASS ? "Ok" : d == D_DISCARD ? "Ok, discarded" : d == D_REJECT ? "Reject" :
	    d == D_BOUNCE ? "Bounce" : "Temporary failure";
	reason = (char *)status_reason(a, am_id ? am_id : "", f, blocking_ccat);
	if (strlen(reason) > DECIDE_REASON_MAX + 3)
		strlcpy(reason + DECIDE_REASON_MAX, "...", 4);
	out = arena_printf(a, "%s %s%s, %s", code, what, soft, reason);
	if (strlen(out) > DECIDE_REPLY_MAX)
		out[DECIDE_REPLY_MAX] = 0;
	return out;
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

		if (!level_set(p->tag_level) || s >= p->tag_level)
			ccat_add(l, n, CC_CLEAN, 1);
		if ((level_set(p->tag2_level) && s >= p->tag2_level) ||
		    (level_set(p->tag3_level) && s >= p->tag3_level))
			ccat_add(l, n, CC_SPAMMY, 0);
		if (level_set(p->tag3_level) && s >= p->tag3_level)
			ccat_add(l, n, CC_SPAMMY, 1);
		if (level_set(p->kill_level) && s >= p->kill_level)
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

/* rcpt_walk - §2.4 step 2: the first blocking major ccat wins */
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

/* ---- replies ---- */

/* decide_lmtp_reply - see decide.h */
const char *decide_lmtp_reply(struct message *msg, const struct decide_result *res, size_t i)
{
	const struct rcpt *r = &msg->rcpts[i];
	const struct decide_rcpt *rr = res && i < res->n ? &res->r[i] : NULL;
	const char *what;
	char *out;
	int code = reply_code3(r->reply);

	if (r->code == 0 || code == 0)
		return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: no outcome for a recipient",
		    msg->am_id);
	if (code / 100 != 5)
		return r->reply;
	if (rr == NULL || rr->destiny == D_REJECT)
		return r->reply;
	switch (rr->dsn) {
	case DECIDE_DSN_SENT:
		what = "DSN was sent";
		break;
	case DECIDE_DSN_SUPPRESSED:
		what = "DSN suppressed";
		break;
	case DECIDE_DSN_PENDING:
	case DECIDE_DSN_FAILED:
		/* the caller did not confirm the DSN: do not claim it */
		return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s, DSN not confirmed",
		    msg->am_id);
	default:
		what = "DSN suppressed_2";
		break;
	}
	out = arena_printf(msg->arena, "250 2.5.0 Ok <%s>, %s (%s)", clean_text(msg->arena, r->addr, 256),
	    what, r->reply);
	if (strlen(out) > DECIDE_REPLY_MAX) {
		out[DECIDE_REPLY_MAX - 1] = ')';
		out[DECIDE_REPLY_MAX] = 0;
	}
	return out;
}

/* done_level - amavisd's recip_done: 2 for downstream's reply, 1 for ours */
static int done_level(const struct decide_rcpt *rr)
{
	return rr->delivered || CCAT_MAJOR(rr->blocking_ccat) == CC_MTA ? 2 : 1;
}

/* decide_smtp_reply - amavisd's one_response_for_all (decide.h) */
const char *decide_smtp_reply(struct message *msg, const struct decide_result *res, int *dsn_needed_r)
{
	size_t i, n = msg->nrcpts, rej = 0, bounce = 0, drop = 0;
	const char *resp = NULL;
	int lvl = 0, suppressed = 0, all_discard = 1, notall;
	struct buf b = BUF_INIT;
	char *out;

	if (dsn_needed_r)
		*dsn_needed_r = 0;
	if (n == 0)
		return arena_printf(msg->arena, "250 2.5.0 Ok, id=%s", msg->am_id);
	/* 1. the first 4xx (an undecided recipient counts as one) */
	for (i = 0; i < n; i++) {
		int c = reply_code3(msg->rcpts[i].reply);

		if (msg->rcpts[i].code == 0 || c == 0)
			return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: no outcome for a recipient",
			    msg->am_id);
		if (c / 100 == 4)
			return msg->rcpts[i].reply;
	}
	/* 2. all discarded: the first discard reply */
	for (i = 0; i < n; i++) {
		if (res->r[i].destiny != D_DISCARD || !res->r[i].blocked) {
			all_discard = 0;
			break;
		}
	}
	if (all_discard)
		return msg->rcpts[0].reply;
	/* 3. all discarded or rejected (5xx, not bounce): a 5xx, downstream's preferred */
	notall = 0;
	for (i = 0; i < n; i++) {
		const struct decide_rcpt *rr = &res->r[i];
		const char *rp = msg->rcpts[i].reply;

		if (rr->blocked && rr->destiny == D_DISCARD)
			continue;
		if (rp[0] == '5' && !(rr->blocked && rr->destiny == D_BOUNCE)) {
			if (resp == NULL || done_level(rr) > lvl) {
				resp = rp;
				lvl = done_level(rr);
			}
			continue;
		}
		notall = 1;
		break;
	}
	if (!notall && resp)
		return resp;
	/* 4. mixed: the first genuine pass, and what became of the others */
	resp = NULL;
	for (i = 0; i < n; i++) {
		const struct decide_rcpt *rr = &res->r[i];
		const char *rp = msg->rcpts[i].reply;
		int blocked_discard = rr->blocked && rr->destiny == D_DISCARD;

		if (rp[0] == '2' && !rr->blocked && resp == NULL)
			resp = rp;
		if (blocked_discard)
			drop++;
		if (rp[0] == '5') {
			if (rr->blocked && rr->destiny == D_BOUNCE) {
				bounce++;
				if (rr->dsn == DECIDE_DSN_SUPPRESSED)
					suppressed = 1;
			} else {
				rej++;
			}
		}
	}
	buf_puts(&b, resp ? resp : arena_printf(msg->arena, "250 2.5.0 Ok, id=%s", msg->am_id));
	if (rej + bounce + drop > 0) {
		const char *sep = "";
		struct {
			size_t cnt;
			const char *name;
		} parts[3] = { { rej, "REJECT" }, { bounce, suppressed ? "DISCARD(bounce.suppressed)" : "BOUNCE" },
			{ drop, "DISCARD" } };
		size_t k;

		buf_puts(&b, ", ");
		if (rej + bounce + drop < n)
			buf_puts(&b, "but ");
		for (k = 0; k < 3; k++) {
			if (parts[k].cnt == 0)
				continue;
			if (parts[k].cnt == n)
				buf_printf(&b, "%s%s", sep, parts[k].name);
			else
				buf_printf(&b, "%s%zu %s", sep, parts[k].cnt, parts[k].name);
			sep = ", and ";
		}
	}
	if (dsn_needed_r)
		*dsn_needed_r = bounce > 0 || rej > 0;
	out = arena_strndup(msg->arena, b.data, b.len > DECIDE_REPLY_MAX ? DECIDE_REPLY_MAX : b.len);
	buf_free(&b);
	return out;
}

/* decide_quarantine_ccat - see decide.h */
int decide_quarantine_ccat(const struct decide_result *res, unsigned mask)
{
	unsigned maj = CCAT_MAJOR(res->blocked ? res->blocking_ccat : res->ccat[0]);

	if (maj == CC_CATCHALL || maj == CC_CLEAN || maj == CC_MTA || maj >= CC_MAJORS)
		return -1;
	return (mask & DECIDE_LOVER(maj)) ? (int)maj : -1;
}

/* ---- header edits ---- */

static const char *const spam_headers[] = { "X-Spam-Flag", "X-Spam-Score", "X-Spam-Level", "X-Spam-Status",
	"X-Spam-Report", "X-Spam-Checker-Version", "X-Spam-Tests" };

struct edit_list {
	struct hdr_edit *e;
	size_t n, cap;
};

static void edit_push(struct arena *a, struct edit_list *l, enum hdr_edit_op op, const char *name,
    const char *value)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct hdr_edit *ne = arena_allocarray(a, cap, sizeof(*ne));

		if (l->n)
			memcpy(ne, l->e, l->n * sizeof(*ne));
		l->e = ne;
		l->cap = cap;
	}
	l->e[l->n].op = op;
	l->e[l->n].name = name;
	l->e[l->n].value = value;
	l->n++;
}

/* subject_tag - the first non-empty tag along the recipient's ccats
 * (amavisd's %subject_tag_maps_by_ccat), with _SCORE_, _REQD_, _YESNO_
 * and _YESNOCAPS_ expanded; NULL when none */
static const char *subject_tag(struct arena *a, const struct decide_facts *f, const struct decide_rcpt *rr)
{
	const struct decide_policy *p = rr->pol;
	const char *tag = NULL;
	unsigned i;
	int yes = ccat_has(rr->ccat, rr->nccat, CC_SPAMMY, -1);
	struct buf b = BUF_INIT;
	const char *s, *out;

	for (i = 0; i < rr->nccat && (tag == NULL || *tag == 0); i++) {
		unsigned c = rr->ccat[i];

		if (c == CCAT(CC_VIRUS, 0))
			tag = p->virus_subject_tag;
		else if (CCAT_MAJOR(c) == CC_UNCHECKED && CCAT_MINOR(c) == 0)
			tag = p->undecipherable_subject_tag;
		else if (c == CCAT(CC_SPAMMY, 1))
			tag = p->spam_subject_tag3;
		else if (c == CCAT(CC_SPAMMY, 0))
			tag = p->spam_subject_tag;
		else if (c == CCAT(CC_CLEAN, 1))
			tag = p->spam_subject_tag1;
	}
	if (tag == NULL || *tag == 0)
		return NULL;
	for (s = tag; *s;) {
		if (strncmp(s, "_SCORE_", 7) == 0) {
			buf_puts(&b, f->spam_scored ? fmt_num(a, f->spam_score) : "-");
			s += 7;
		} else if (strncmp(s, "_REQD_", 6) == 0) {
			buf_puts(&b, level_set(p->tag2_level) ? fmt_num(a, p->tag2_level) : "-");
			s += 6;
		} else if (strncmp(s, "_YESNO_", 7) == 0) {
			buf_puts(&b, yes ? "Yes" : "No");
			s += 7;
		} else if (strncmp(s, "_YESNOCAPS_", 11) == 0) {
			buf_puts(&b, yes ? "YES" : "NO");
			s += 11;
		} else {
			buf_putc(&b, *s++);
		}
	}
	out = clean_text(a, b.data, 200);
	buf_free(&b);
	return out;
}

/* rcpt_edits - the header edits of one passed recipient (decide.h) */
static void rcpt_edits(struct message *msg, struct decide_result *res, struct decide_rcpt *rr,
    const struct decide_hdr_opts *o, const int *present, struct edit_list *l)
{
	const struct decide_facts *f = res->facts;
	const struct decide_policy *p = rr->pol;
	struct arena *a = msg->arena;
	int local = p->is_local;
	int do_tag = ccat_has(rr->ccat, rr->nccat, CC_CLEAN, 1);
	int do_tag2 = ccat_has(rr->ccat, rr->nccat, CC_SPAMMY, -1);
	const char *tag;
	size_t k;

	if (f->spam_scored && p->remove_existing_spam_headers)
		for (k = 0; k < sizeof(spam_headers) / sizeof(spam_headers[0]); k++)
			if (present[k])
				edit_push(a, l, HDR_DELETE, spam_headers[k], NULL);
	if (local && o && o->quarantine_id && *o->quarantine_id)
		edit_push(a, l, HDR_ADD, "X-Quarantine-ID", arena_printf(a, "<%s>", o->quarantine_id));
	if (o && o->x_header_tag && *o->x_header_tag && !(p->bypass & DECIDE_BYPASS_VIRUS))
		edit_push(a, l, HDR_ADD, o->x_header_tag, o->x_header_line ? o->x_header_line : "");
	if (ccat_has(rr->ccat, rr->nccat, CC_VIRUS, -1)) {
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert",
		    arena_printf(a, "INFECTED, message contains virus: %s", virus_list(a, f)));
		rr->tagged = 1;
	}
	if (ccat_has(rr->ccat, rr->nccat, CC_BANNED, -1)) {
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert", arena_printf(a, "BANNED, message contains %s",
		    clean_text(a, f->banned_reason ? f->banned_reason : "", 300)));
		rr->tagged = 1;
	}
	if (ccat_has(rr->ccat, rr->nccat, CC_BADH, -1))
		edit_push(a, l, HDR_ADD, "X-Amavis-Alert", arena_printf(a, "BAD HEADER SECTION, %s",
		    clean_text(a, f->badh_text && *f->badh_text ? f->badh_text : "bad header", 300)));
	if (local && do_tag && f->spam_scored) {
		double s = f->spam_score;
		struct buf bar = BUF_INIT;
		int stars = s >= 64 ? 64 : s >= 1 ? (int)s : 0, j;

		edit_push(a, l, HDR_ADD, "X-Spam-Flag", do_tag2 ? "YES" : "NO");
		edit_push(a, l, HDR_ADD, "X-Spam-Score", fmt_num(a, s));
		for (j = 0; j < stars; j++)
			buf_putc(&bar, '*');
		edit_push(a, l, HDR_ADD, "X-Spam-Level", arena_strdup(a, bar.data ? bar.data : ""));
		buf_free(&bar);
		edit_push(a, l, HDR_ADD, "X-Spam-Status", arena_printf(a, "%s, score=%s%s%s%s%s tests=[%s] autolearn=%s",
		    do_tag2 ? "Yes" : "No", fmt_num(a, s),
		    level_set(p->tag_level) ? " tagged_above=" : "", level_set(p->tag_level) ? fmt_num(a, p->tag_level) : "",
		    level_set(p->tag2_level) ? " required=" : "", level_set(p->tag2_level) ? fmt_num(a, p->tag2_level) : "",
		    clean_text(a, f->spam_tests ? f->spam_tests : "", 2000),
		    clean_text(a, f->spam_autolearn ? f->spam_autolearn : "unavailable", 64)));
		if (do_tag2)
			rr->tagged = 1;
	}
	if (local && (tag = subject_tag(a, f, rr)) != NULL)
		edit_push(a, l, HDR_PREPEND_SUBJECT, "Subject", tag);
}

static int edits_equal(const struct hdr_edit *x, size_t nx, const struct hdr_edit *y, size_t ny)
{
	size_t i;

	if (nx != ny)
		return 0;
	for (i = 0; i < nx; i++) {
		if (x[i].op != y[i].op || strcasecmp(x[i].name, y[i].name) != 0)
			return 0;
		if ((x[i].value == NULL) != (y[i].value == NULL))
			return 0;
		if (x[i].value && strcmp(x[i].value, y[i].value) != 0)
			return 0;
	}
	return 1;
}

/* decide_header_groups - see decide.h */
size_t decide_header_groups(struct message *msg, struct decide_result *res,
    const struct decide_hdr_opts *o, struct decide_group **groups_r)
{
	struct decide_group *g = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*g));
	int present[sizeof(spam_headers) / sizeof(spam_headers[0])];
	size_t ng = 0, i, k;

	memset(present, 0, sizeof(present));
	if (res->facts && res->facts->spam_scored)
		for (k = 0; k < sizeof(spam_headers) / sizeof(spam_headers[0]); k++)
			present[k] = message_header(msg, spam_headers[k]) != NULL;
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		struct edit_list l = { NULL, 0, 0 };

		if (msg->rcpts[i].code != 0 || res->r[i].blocked)
			continue;
		rcpt_edits(msg, res, &res->r[i], o, present, &l);
		for (k = 0; k < ng; k++)
			if (edits_equal(g[k].edits, g[k].nedits, l.e, l.n))
				break;
		if (k == ng) {
			g[ng].idx = arena_allocarray(msg->arena, msg->nrcpts, sizeof(size_t));
			g[ng].n = 0;
			g[ng].edits = l.e;
			g[ng].nedits = l.n;
			ng++;
		}
		g[k].idx[g[k].n++] = i;
	}
	*groups_r = g;
	return ng;
}

/* fold_field - "Name: value" CRLF, folded at white space past DECIDE_FOLD */
static void fold_field(struct buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	const char *p = value ? value : "";

	buf_puts(b, name);
	buf_putc(b, ':');
	if (*p == 0)
		buf_putc(b, ' ');
	while (*p) {
		const char *sp = p;
		size_t wl;

		while (*sp == ' ')
			sp++;
		wl = strcspn(sp, " ");
		if (wl > DECIDE_WORD_MAX)
			wl = DECIDE_WORD_MAX;	/* keep lines under RFC 5322's 998 */
		if (col > 1 + strlen(name) && col + 1 + wl > DECIDE_FOLD) {
			buf_puts(b, "\r\n");
			col = 0;
		}
		buf_putc(b, ' ');
		buf_append(b, sp, wl);
		col += 1 + wl;
		p = sp + wl;
		while (*p == ' ')
			p++;
	}
	buf_puts(b, "\r\n");
}

/* decide_edits_apply - see decide.h */
void decide_edits_apply(struct arena *a, const char *data, size_t len, const struct hdr_edit *e,
    size_t n, const char **out_r, size_t *outlen_r, size_t *skip_r)
{
	struct buf b = BUF_INIT;
	const char *subj_tag = NULL;
	int rewrite = 0, subj_done = 0;
	size_t i, pos = 0, hdr_end = len;

	for (i = 0; i < n; i++) {
		if (e[i].op == HDR_ADD)
			fold_field(&b, e[i].name, e[i].value);
		else
			rewrite = 1;
		if (e[i].op == HDR_PREPEND_SUBJECT && subj_tag == NULL)
			subj_tag = e[i].value ? e[i].value : "";
	}
	if (!rewrite) {
		*skip_r = 0;
		goto done;
	}
	/* walk the header fields (a field is a line plus its continuations) */
	while (pos < len) {
		size_t start = pos, end, nl;
		const char *colon;
		size_t namelen;
		int drop = 0;

		/* empty line: end of the header section */
		if (data[pos] == '\n' || (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n')) {
			hdr_end = pos;
			break;
		}
		for (end = pos;;) {
			const char *q = memchr(data + end, '\n', len - end);

			nl = q ? (size_t)(q - data) + 1 : len;
			end = nl;
			if (end >= len || (data[end] != ' ' && data[end] != '\t'))
				break;
		}
		pos = end;
		colon = memchr(data + start, ':', end - start);
		namelen = colon ? (size_t)(colon - (data + start)) : 0;
		while (namelen > 0 && (data[start + namelen - 1] == ' ' || data[start + namelen - 1] == '\t'))
			namelen--;
		for (i = 0; i < n && colon; i++) {
			if (e[i].op == HDR_DELETE && strlen(e[i].name) == namelen &&
			    strncasecmp(data + start, e[i].name, namelen) == 0)
				drop = 1;
		}
		if (drop)
			continue;
		if (subj_tag && !subj_done && colon && namelen == 7 && strncasecmp(data + start, "Subject", 7) == 0) {
			const char *v = colon + 1;

			if (v < data + end && *v == ' ')
				v++;
			buf_append(&b, data + start, (size_t)(colon - (data + start)));
			buf_puts(&b, ": ");
			buf_puts(&b, subj_tag);
			buf_append(&b, v, (size_t)(data + end - v));
			subj_done = 1;
			continue;
		}
		buf_append(&b, data + start, end - start);
	}
	if (pos >= len)
		hdr_end = len;
	if (subj_tag && !subj_done) {
		/* no Subject: add one with the tag, trailing blanks trimmed */
		size_t tl = strlen(subj_tag);
		char *t;

		while (tl > 0 && subj_tag[tl - 1] == ' ')
			tl--;
		t = arena_strndup(a, subj_tag, tl);
		if (b.len > 0 && b.data[b.len - 1] != '\n')
			buf_puts(&b, "\r\n");	/* the last field had no line end (BDAT) */
		fold_field(&b, "Subject", t);
	}
	*skip_r = hdr_end;
done:
	{
		/* a copy of all b.len bytes: the kept header lines may hold
		 * NULs, where arena_strndup() would stop short of outlen */
		char *o = arena_alloc(a, b.len + 1);

		if (b.len)
			memcpy(o, b.data, b.len);
		o[b.len] = 0;
		*out_r = o;
	}
	*outlen_r = b.len;
	buf_free(&b);
}

/* ---- log pieces ---- */

/* decide_log_verdict - see decide.h */
const char *decide_log_verdict(struct message *msg, const struct decide_result *res)
{
	unsigned c = res->blocked ? res->blocking_ccat : res->ccat[0];
	const struct decide_facts *f = res->facts;

	switch (CCAT_MAJOR(c)) {
	case CC_CLEAN:
		return "CLEAN";
	case CC_MTA:
		return "MTA-BLOCKED";
	case CC_OVERSIZED:
		return "OVERSIZED";
	case CC_BADH:
		return arena_printf(msg->arena, "BAD-HEADER-%u", CCAT_MINOR(c));
	case CC_SPAMMY:
		return "SPAMMY";
	case CC_SPAM:
		return "SPAM";
	case CC_UNCHECKED:
		return CCAT_MINOR(c) == CC_UNCHECKED_ENCRYPTED ? "UNCHECKED-ENCRYPTED" : "UNCHECKED";
	case CC_BANNED:
		return arena_printf(msg->arena, "BANNED (%s)",
		    clean_text(msg->arena, f && f->banned_reason ? f->banned_reason : "", 200));
	case CC_VIRUS:
		return arena_printf(msg->arena, "INFECTED (%s)", f ? virus_list(msg->arena, f) : "");
	default:
		return "OTHER";
	}
}

/* rcpt_passed - passed on (or to be) downstream, not blocked */
static int rcpt_passed(const struct message *msg, const struct decide_result *res, size_t i)
{
	return !res->r[i].blocked && msg->rcpts[i].code / 100 == 2;
}

/* decide_log_passed - a "Passed" line is due */
int decide_log_passed(const struct message *msg, const struct decide_result *res)
{
	size_t i;

	for (i = 0; i < msg->nrcpts && i < res->n; i++)
		if (rcpt_passed(msg, res, i))
			return 1;
	return 0;
}

/* decide_log_blocked - a "Blocked" line is due */
int decide_log_blocked(const struct message *msg, const struct decide_result *res)
{
	size_t i;

	for (i = 0; i < msg->nrcpts && i < res->n; i++)
		if (!rcpt_passed(msg, res, i))
			return 1;
	return 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* decide_log_actions - amavisd's actions_performed (decide.h).
 *
 * Each recipient gives one status (amavisd's InMsgsStatus counters):
 * TempFailed (4xx), Rejected (5xx and D_REJECT), RelayedTagged or
 * RelayedUntagged (delivered), Discarded, Bounced / NoBounce (a bounce
 * whose DSN was sent / suppressed), Accepted (no outcome). The status
 * names with their direction are sorted as strings, as amavisd does,
 * and RelayedUntagged is shown as Relayed.
 */
const char *decide_log_actions(struct message *msg, const struct decide_result *res)
{
	const char **names = arena_allocarray(msg->arena, msg->nrcpts + 1, sizeof(char *));
	const int orig = res->facts && res->facts->originating;
	struct buf b = BUF_INIT;
	size_t i, n = 0, k;
	const char *out;

	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		const struct decide_rcpt *rr = &res->r[i];
		int cls = msg->rcpts[i].code / 100;
		const char *which, *dir;
		const char *name;

		if (msg->rcpts[i].code == 0)
			which = "Accepted";
		else if (cls == 4)
			which = "TempFailed";
		else if (cls == 5 && rr->destiny == D_REJECT)
			which = "Rejected";
		else if (!rr->blocked)
			which = rr->tagged ? "RelayedTagged" : "RelayedUntagged";
		else if (rr->destiny == D_DISCARD)
			which = "Discarded";
		else if (rr->dsn == DECIDE_DSN_SENT || rr->dsn == DECIDE_DSN_PENDING)
			which = "Bounced";
		else
			which = "NoBounce";
		if (orig)
			dir = rr->pol && rr->pol->is_local ? "Internal" : "Outbound";
		else
			dir = !rr->pol || rr->pol->is_local ? "Inbound" : "OpenRelay";
		name = arena_printf(msg->arena, "%s%s", which, dir);
		for (k = 0; k < n && strcmp(names[k], name) != 0; k++)
			;
		if (k == n)
			names[n++] = name;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	buf_putc(&b, '{');
	for (k = 0; k < n; k++) {
		const char *s = names[k];

		if (k)
			buf_putc(&b, ',');
		if (strncmp(s, "RelayedUntagged", 15) == 0)
			buf_printf(&b, "Relayed%s", s + 15);
		else
			buf_puts(&b, s);
	}
	if (res->quarantine_id && *res->quarantine_id)
		buf_puts(&b, n ? ",Quarantined" : "Quarantined");
	buf_putc(&b, '}');
	out = arena_strndup(msg->arena, b.data, b.len);
	buf_free(&b);
	return out;
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

/* decide_badh_from_mime - bad-header facts from the MIME findings.
 *
 * Mapping (minor, amavisd's text): MISSING_BOUNDARY, BAD_CTE → 1 "MIME
 * error"; 8BIT_HEADER → 2; NUL (in a header) and CONTROL_CHAR → 3 (NUL
 * in a body → 1); LONG_HEADER_LINE → 5; BAD_HEADER_SYNTAX and
 * UNTERMINATED_HEADER → 6; MISSING_HEADER → 7; DUPLICATE_HEADER → 8.
 * Not bad headers: HEADER/DEPTH/PARTS/DECODED_LIMIT (the caller may make
 * them UNCHECKED over limits), BAD_ENCODED_WORD, UNKNOWN_CHARSET,
 * BAD_BASE64, BAD_QP (amavisd does not flag them either).
 */
int decide_badh_from_mime(struct arena *a, const struct mime_msg *m, unsigned *minor_r,
    const char **text_r)
{
	static const struct {
		enum mime_finding f;
		unsigned minor;
		const char *text;
	} map[] = {
		{ MIME_F_MISSING_BOUNDARY, CC_BADH_MIME, "MIME error" },
		{ MIME_F_BAD_CTE, CC_BADH_MIME, "MIME error" },
		{ MIME_F_8BIT_HEADER, CC_BADH_8BIT, "Non-encoded 8-bit data" },
		{ MIME_F_NUL, CC_BADH_CHAR, "Improper use of control character" },
		{ MIME_F_CONTROL_CHAR, CC_BADH_CHAR, "Improper use of control character" },
		{ MIME_F_LONG_HEADER_LINE, CC_BADH_LONG, "Header line longer than 998 characters" },
		{ MIME_F_BAD_HEADER_SYNTAX, CC_BADH_SYNTAX, "Invalid header field syntax" },
		{ MIME_F_UNTERMINATED_HEADER, CC_BADH_SYNTAX, "Invalid header field syntax" },
		{ MIME_F_MISSING_HEADER, CC_BADH_MISSING, "Missing required header field" },
		{ MIME_F_DUPLICATE_HEADER, CC_BADH_DUPL, "Duplicate header field" },
	};
	unsigned best = 0, k;
	const char *text = NULL;
	int found = 0;

	if (m == NULL)
		return 0;
	for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		const char *detail, *t = map[k].text;
		unsigned minor = map[k].minor;

		if (!(m->findings & MIME_FBIT(map[k].f)))
			continue;
		detail = m->detail[map[k].f];
		if (map[k].f == MIME_F_NUL && detail && !strstr(detail, "header") && !strstr(detail, "parameter")) {
			minor = CC_BADH_MIME;
			t = "MIME error";
		}
		if (!found || minor > best) {
			best = minor;
			text = detail && *detail ? arena_printf(a, "%s: %s", t, detail) : t;
		}
		found = 1;
	}
	if (!found)
		return 0;
	*minor_r = best;
	*text_r = clean_text(a, text, 300);
	return 1;
}

/* ---- banned names and types ---- */

struct decide_banned_re {
	size_t n;
	regex_t *re;
	int *allow;
};

/* amavisd's Debian default $banned_filename_re, in spirit (decide.h) */
const char *const decide_banned_default[] = {
	/* double extensions anywhere in the name */
	"\\.[^./]*\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\\.?$",
	/* a Windows class id as the extension */
	"\\{[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\\}?$",
	/* declared MIME types */
	"^application/x-msdownload$",
	"^application/x-msdos-program$",
	"^application/hta$",
	/* executable and script extensions */
	".\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|js|jse|wsf|hta|lnk|msi)$",
	/* executables by content type (file(1) ".exe-ms", libclamav's types) */
	"^\\.exe-ms$",
	"^CL_TYPE_(MSEXE|ELF)$",
	NULL
};

/* decide_banned_compile - see decide.h */
int decide_banned_compile(const char *const *patterns, size_t n, struct decide_banned_re **re_r,
    const char **error_r)
{
	static char err[300];
	struct decide_banned_re *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->re = xcalloc(n ? n : 1, sizeof(*r->re));
	r->allow = xcalloc(n ? n : 1, sizeof(*r->allow));
	for (i = 0; i < n; i++) {
		const char *p = patterns[i];
		int rc;

		r->allow[i] = p[0] == '!';
		if (r->allow[i])
			p++;
		{
			const char *why = NULL;

			if (regex_sane(p, &why) < 0) {
				snprintf(err, sizeof(err), "banned_filename_re: \"%.60s\": %s", patterns[i], why);
				r->n = i;
				decide_banned_free(&r);
				*error_r = err;
				return -1;
			}
		}
		rc = regcomp(&r->re[i], p, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc != 0) {
			char e[200];

			regerror(rc, &r->re[i], e, sizeof(e));
			snprintf(err, sizeof(err), "banned_filename_re: \"%.60s\": %s", patterns[i], e);
			r->n = i;
			decide_banned_free(&r);
			*error_r = err;
			return -1;
		}
	}
	r->n = n;
	*re_r = r;
	return 0;
}

/* decide_banned_free - release compiled patterns; sets *rep to NULL */
void decide_banned_free(struct decide_banned_re **rep)
{
	struct decide_banned_re *r = *rep;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		regfree(&r->re[i]);
	free(r->re);
	free(r->allow);
	free(r);
	*rep = NULL;
}

/* short_types - amavisd's file(1) short types for libclamav's types */
static void short_types(const char *type, const char **t1, const char **t2)
{
	static const struct {
		const char *cl, *a, *b;
	} map[] = {
		{ "CL_TYPE_MSEXE", ".exe", ".exe-ms" }, { "CL_TYPE_ELF", ".elf", NULL },
		{ "CL_TYPE_MACHO", ".macho", NULL }, { "CL_TYPE_ZIP", ".zip", NULL },
		{ "CL_TYPE_RAR", ".rar", NULL }, { "CL_TYPE_7Z", ".7z", NULL },
		{ "CL_TYPE_GZ", ".gz", NULL }, { "CL_TYPE_BZ", ".bz2", NULL },
		{ "CL_TYPE_CAB", ".cab", NULL }, { "CL_TYPE_ARJ", ".arj", NULL },
		{ "CL_TYPE_MSOLE2", ".doc", NULL }, { "CL_TYPE_PDF", ".pdf", NULL },
		{ "CL_TYPE_RTF", ".rtf", NULL }, { "CL_TYPE_HTML", ".html", NULL },
		{ "CL_TYPE_TNEF", ".tnef", NULL }, { "CL_TYPE_MSCHM", ".chm", NULL },
		{ "CL_TYPE_ISO9660", ".iso", NULL }, { "CL_TYPE_POSIX_TAR", ".tar", NULL },
		{ "CL_TYPE_OLD_TAR", ".tar", NULL }, { "CL_TYPE_TEXT_ASCII", ".asc", NULL },
	};
	size_t i;

	*t1 = *t2 = NULL;
	if (type == NULL)
		return;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(type, map[i].cl) == 0) {
			*t1 = map[i].a;
			*t2 = map[i].b;
			return;
		}
	}
}

/* decide_banned_items - see decide.h */
size_t decide_banned_items(struct arena *a, const struct scan_verdict *v, const struct mime_msg *m,
    struct banned_item **items_r)
{
	size_t cap = (v ? v->n_files : 0) + (m ? m->nparts : 0), n = 0, i;
	struct banned_item *it = arena_allocarray(a, cap ? cap : 1, sizeof(*it));

	for (i = 0; v && i < v->n_files; i++) {
		it[n].name = v->files[i].name;
		it[n].type = v->files[i].type;
		it[n].mime_type = NULL;
		n++;
	}
	for (i = 0; m && i < m->nparts; i++) {
		const struct mime_part *p = m->parts[i];

		if (!mime_part_is_leaf(p) || p == m->root)
			continue;
		if (p->filename == NULL && p->type && strcmp(p->type, "text") == 0)
			continue;
		it[n].name = p->filename;
		it[n].type = NULL;
		it[n].mime_type = p->type ? arena_printf(a, "%s/%s", p->type, p->subtype ? p->subtype : "") : NULL;
		n++;
	}
	*items_r = it;
	return n;
}

/* decide_banned - see decide.h.
 *
 * Rules are tried in order, each against every key of the item, so an
 * allow rule ('!') placed first can exempt an item whatever its other
 * keys say (amavisd's first-match-wins lookup).
 */
const char *decide_banned(struct arena *a, const struct banned_item *items, size_t n,
    const struct decide_banned_re *re)
{
	size_t i, r, k;

	if (re == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *keys[DECIDE_BANNED_KEYS], *t1, *t2;
		size_t nk = 0, nshow;
		int banned = 0;

		short_types(items[i].type, &t1, &t2);
		if (t1)
			keys[nk++] = t1;
		if (t2)
			keys[nk++] = t2;
		if (items[i].mime_type && *items[i].mime_type)
			keys[nk++] = items[i].mime_type;
		if (items[i].name && *items[i].name)
			keys[nk++] = items[i].name;
		nshow = nk;
		if (items[i].type && *items[i].type)
			keys[nk++] = items[i].type;	/* matched, not shown in %F */
		for (r = 0; r < re->n; r++) {
			for (k = 0; k < nk; k++)
				if (regexec(&re->re[r], keys[k], 0, NULL, 0) == 0)
					break;
			if (k < nk) {
				banned = !re->allow[r];
				break;
			}
		}
		if (banned) {
			struct buf b = BUF_INIT;
			const char *out;

			for (k = 0; k < nshow; k++) {
				if (k)
					buf_putc(&b, ',');
				buf_puts(&b, keys[k]);
			}
			if (nshow == 0)
				buf_puts(&b, keys[0]);
			out = clean_text(a, b.data, 300);
			buf_free(&b);
			return out;
		}
	}
	return NULL;
}
