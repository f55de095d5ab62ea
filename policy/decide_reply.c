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

/* status_base - amavisd's base reply code by blocking ccat */
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

/* reply_no_outcome - the reply when a recipient has no outcome at the
 * end (fail closed: Postfix keeps the message) */
static const char *reply_no_outcome(struct message *msg)
{
	return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: no outcome for a recipient",
	    msg->am_id);
}

/* decide_lmtp_reply - see decide.h */
const char *decide_lmtp_reply(struct message *msg, const struct decide_result *res, size_t i)
{
	const struct rcpt *r = &msg->rcpts[i];
	const struct decide_rcpt *rr = res && i < res->n ? &res->r[i] : NULL;
	const char *what;
	char *out;
	int code = reply_code3(r->reply);

	if (r->code == 0 || code == 0)
		return reply_no_outcome(msg);
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

/* smtp_first_tempfail - step 1: the first 4xx, an undecided recipient
 * counting as one; NULL when there is none */
static const char *smtp_first_tempfail(struct message *msg)
{
	size_t i;

	for (i = 0; i < msg->nrcpts; i++) {
		int c = reply_code3(msg->rcpts[i].reply);

		if (msg->rcpts[i].code == 0 || c == 0)
			return reply_no_outcome(msg);
		if (c / 100 == 4)
			return msg->rcpts[i].reply;
	}
	return NULL;
}

/* smtp_all_discarded - step 2: was every recipient blocked with D_DISCARD? */
static int smtp_all_discarded(const struct message *msg, const struct decide_result *res)
{
	size_t i;

	for (i = 0; i < msg->nrcpts; i++)
		if (res->r[i].destiny != D_DISCARD || !res->r[i].blocked)
			return 0;
	return 1;
}

/* smtp_all_refused - step 3: when every recipient was discarded or got a
 * 5xx that is not a bounce, that 5xx (the downstream's own before ours,
 * else the first); NULL otherwise */
static const char *smtp_all_refused(const struct message *msg, const struct decide_result *res)
{
	const char *resp = NULL;
	int lvl = 0;
	size_t i;

	for (i = 0; i < msg->nrcpts; i++) {
		const struct decide_rcpt *rr = &res->r[i];
		const char *rp = msg->rcpts[i].reply;

		if (rr->blocked && rr->destiny == D_DISCARD)
			continue;
		if (rp[0] != '5' || (rr->blocked && rr->destiny == D_BOUNCE))
			return NULL;
		if (resp == NULL || done_level(rr) > lvl) {
			resp = rp;
			lvl = done_level(rr);
		}
	}
	return resp;
}

/* what became of the recipients of a mixed outcome (step 4) */
struct smtp_tally {
	const char *pass;		/* the first genuine pass reply, or NULL */
	size_t rej, bounce, drop;	/* 5xx not bounced, bounced, discarded */
	int suppressed;			/* a bounce's DSN was suppressed */
};

/* smtp_count - the tally of step 4 */
static void smtp_count(const struct message *msg, const struct decide_result *res, struct smtp_tally *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < msg->nrcpts; i++) {
		const struct decide_rcpt *rr = &res->r[i];
		const char *rp = msg->rcpts[i].reply;

		if (rp[0] == '2' && !rr->blocked && t->pass == NULL)
			t->pass = rp;
		if (rr->blocked && rr->destiny == D_DISCARD)
			t->drop++;
		if (rp[0] != '5')
			continue;
		if (rr->blocked && rr->destiny == D_BOUNCE) {
			t->bounce++;
			if (rr->dsn == DECIDE_DSN_SUPPRESSED)
				t->suppressed = 1;
		} else {
			t->rej++;
		}
	}
}

/* smtp_put_others - ", but N REJECT, and N BOUNCE, and N DISCARD" (no
 * count where it is all n recipients, no "but" where none passed) */
static void smtp_put_others(struct buf *b, const struct smtp_tally *t, size_t n)
{
	const struct {
		size_t cnt;
		const char *name;
	} parts[3] = { { t->rej, "REJECT" }, { t->bounce, t->suppressed ? "DISCARD(bounce.suppressed)" : "BOUNCE" },
		{ t->drop, "DISCARD" } };
	const char *sep = "";
	size_t k;

	if (t->rej + t->bounce + t->drop == 0)
		return;
	buf_puts(b, ", ");
	if (t->rej + t->bounce + t->drop < n)
		buf_puts(b, "but ");
	for (k = 0; k < 3; k++) {
		if (parts[k].cnt == 0)
			continue;
		if (parts[k].cnt == n)
			buf_printf(b, "%s%s", sep, parts[k].name);
		else
			buf_printf(b, "%s%zu %s", sep, parts[k].cnt, parts[k].name);
		sep = ", and ";
	}
}

/* decide_smtp_reply - amavisd's one_response_for_all (decide.h), in its
 * order: the first 4xx; all discarded; all refused; else mixed */
const char *decide_smtp_reply(struct message *msg, const struct decide_result *res, int *dsn_needed_r)
{
	struct smtp_tally t;
	struct buf b = BUF_INIT;
	const char *r;
	char *out;

	if (dsn_needed_r)
		*dsn_needed_r = 0;
	if (msg->nrcpts == 0)
		return arena_printf(msg->arena, "250 2.5.0 Ok, id=%s", msg->am_id);
	if ((r = smtp_first_tempfail(msg)) != NULL)
		return r;
	if (smtp_all_discarded(msg, res))
		return msg->rcpts[0].reply;
	if ((r = smtp_all_refused(msg, res)) != NULL)
		return r;
	/* 4. mixed: the first genuine pass, and what became of the others */
	smtp_count(msg, res, &t);
	buf_puts(&b, t.pass ? t.pass : arena_printf(msg->arena, "250 2.5.0 Ok, id=%s", msg->am_id));
	smtp_put_others(&b, &t, msg->nrcpts);
	if (dsn_needed_r)
		*dsn_needed_r = t.bounce > 0 || t.rej > 0;
	out = arena_strndup(msg->arena, b.data, b.len > DECIDE_REPLY_MAX ? DECIDE_REPLY_MAX : b.len);
	buf_free(&b);
	return out;
}
