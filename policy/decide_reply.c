/*
 * decide_reply.c - the texts a decision answers with: the status line
 * of a blocked recipient (amavisd's codes by ccat and its
 * %smtp_reason_by_ccat), the LMTP reply of each recipient (a 5xx whose
 * DSN went out becomes a 250) and the one reply for SMTP input
 * (amavisd's one_response_for_all); also the virus list (%V) every
 * other text quotes.
 *
 * Limits: a reply line is at most DECIDE_REPLY_MAX bytes, its reason
 * DECIDE_REASON_MAX (then "..."); text from the message is made
 * printable and cut.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/decide_private.h"

#define DECIDE_REPLY_MAX	510	/* a reply line without CRLF */
#define DECIDE_REASON_MAX	450	/* amavisd cuts the reason text here (plus "...") */

/* ---- small helpers ---- */

/* reply_code3 - the 3-digit code at the start of s, or 0 */
static int reply_code3(const char *s)
{
	if (s == NULL || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9' || (s[3] != 0 && s[3] != ' ' && s[3] != '-'))
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* decide_virus_list - the virus names joined by ", " (amavisd's %V) */
const char *decide_virus_list(struct arena *a, const struct decide_facts *f)
{
	struct buf b = BUF_INIT;
	const char *out;
	unsigned i;

	for (i = 0; f && i < f->n_virus; i++) {
		if (i)
			buf_puts(&b, ", ");
		buf_puts(&b, f->virus_names[i] ? f->virus_names[i] : "");
	}
	out = arena_printable(a, b.data ? b.data : "", 300);
	buf_free(&b);
	return out;
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
		return arena_printf(a, "id=%s - INFECTED: %s", am_id, decide_virus_list(a, f));
	case CC_BANNED:
		return arena_printf(a, "id=%s - BANNED: %s", am_id,
		    arena_printable(a, f->banned_reason ? f->banned_reason : "", 300));
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
	out = arena_printf(msg->arena, "250 2.5.0 Ok <%s>, %s (%s)", arena_printable(msg->arena, r->addr, 256),
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
