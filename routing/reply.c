/*
 * reply.c - the replies we give upstream, made from what downstream
 * said: reply_from_mta() wraps one downstream reply as amavisd does
 * ("250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued
 * as 4ABC"), reply_one_for_all() folds the per-recipient outcomes into
 * the single reply an SMTP (not LMTP) client gets.
 *
 * Every line made here is bounded (REPLY_MAX) and holds printable
 * ASCII only, so it can go upstream as it is, whatever the downstream
 * server sent.
 *
 * Left out: amavisd's D_DISCARD and D_BOUNCE cases of
 * one_response_for_all (rules 2 and the ", and N BOUNCE" suffix); they
 * come with the policy code that produces such outcomes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mem.h"
#include "routing/routing.h"

/* longest reply line we produce, without CRLF (RFC 5321: 512 with it) */
#define REPLY_MAX 510

/* reply_code - the 3-digit code at the start of s, or 0 */
static int reply_code(const char *s)
{
	if (s == NULL || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9' || (s[3] != 0 && s[3] != ' ' && s[3] != '-'))
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* reply_enh_len - length of an RFC 3463 code "C.SSS.DDD" at s whose
 * class is cls, followed by a space or the end; 0 when there is none */
static size_t reply_enh_len(const char *s, char cls)
{
	const char *p = s;
	int part, digits;

	if (*p != cls)
		return 0;
	p++;
	for (part = 0; part < 2; part++) {
		if (*p++ != '.')
			return 0;
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
	}
	if (*p != 0 && *p != ' ')
		return 0;
	return (size_t)(p - s);
}

/* reply_clean - copy s into out (size outsz), control and non-ASCII
 * bytes as '?'; returns out */
static char *reply_clean(char *out, size_t outsz, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 1 < outsz; s++) {
		unsigned char c = (unsigned char)*s;

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = 0;
	return out;
}

/* reply_from_mta - "<code> <enh> from MTA(<spec>): <line>" in the arena.
 *
 * The code is downstream's own (a 5xx stays that 5xx, a 4xx that 4xx);
 * the enhanced code is downstream's when it gave one of the right
 * class, else "<class>.0.0". A line that is not a reply at all is
 * treated as a temporary failure (451 4.5.0) so nothing is lost.
 */
const char *reply_from_mta(struct arena *a, const char *spec, const char *line)
{
	char text[REPLY_MAX + 1], sp[128], enh[16];
	int code = reply_code(line);
	size_t elen;

	reply_clean(text, sizeof(text), line ? line : "");
	reply_clean(sp, sizeof(sp), spec ? spec : "");
	if (code == 0 || code / 100 == 3) {
		code = 451;
		strlcpy(enh, "4.5.0", sizeof(enh));
	} else if (line[3] == ' ' && (elen = reply_enh_len(line + 4, line[0])) > 0 && elen < sizeof(enh)) {
		memcpy(enh, line + 4, elen);
		enh[elen] = 0;
	} else {
		enh[0] = (char)('0' + code / 100);
		strlcpy(enh + 1, ".0.0", sizeof(enh) - 1);
	}
	/* cut the downstream text so the whole line stays within REPLY_MAX */
	{
		char *out = arena_printf(a, "%d %s from MTA(%s): %s", code, enh, sp, text);

		if (strlen(out) > REPLY_MAX)
			out[REPLY_MAX] = 0;
		return out;
	}
}

/* reply_rcpt_line - the reply of one recipient as a clean line; an
 * undecided recipient (a bug upstream of us) is a temporary failure */
static const char *reply_rcpt_line(struct message *msg, const struct rcpt *r)
{
	if (r->code == 0 || reply_code(r->reply) == 0)
		return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: no outcome for a recipient",
		    msg->am_id);
	return r->reply;
}

/* reply_one_for_all - one reply for all recipients (SMTP input).
 *
 * Rules, in order (amavisd's one_response_for_all, less discard and
 * bounce which we do not produce yet):
 *   1. the first recipient with a 4xx (or no outcome) gives the reply;
 *   2. when every recipient has a 5xx, the first 5xx;
 *   3. else the first 2xx, with ", but N REJECT" appended when N
 *      recipients have a 5xx (they were rejected downstream or by us;
 *      whoever replies 2xx for them owes the sender a DSN).
 * No recipients at all gives a 451 (nothing was delivered).
 */
const char *reply_one_for_all(struct message *msg)
{
	const char *first2 = NULL, *first5 = NULL;
	size_t i, n5 = 0;
	char clean[REPLY_MAX + 1];

	if (msg->nrcpts == 0)
		return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: no recipients",
		    msg->am_id);
	for (i = 0; i < msg->nrcpts; i++) {
		const struct rcpt *r = &msg->rcpts[i];
		const char *line = reply_rcpt_line(msg, r);
		int cls = reply_code(line) / 100;

		if (cls == 2) {
			if (first2 == NULL)
				first2 = line;
		} else if (cls == 5) {
			n5++;
			if (first5 == NULL)
				first5 = line;
		} else {
			/* 4xx, or anything that is not a final 2xx/5xx */
			reply_clean(clean, sizeof(clean), line);
			if (cls != 4)
				return arena_printf(msg->arena, "451 4.5.0 Error in processing, id=%s: bad reply %.40s",
				    msg->am_id, clean);
			return arena_strdup(msg->arena, clean);
		}
	}
	if (first2 == NULL) {
		reply_clean(clean, sizeof(clean), first5);
		return arena_strdup(msg->arena, clean);
	}
	if (n5 == 0) {
		reply_clean(clean, sizeof(clean), first2);
		return arena_strdup(msg->arena, clean);
	}
	{
		char suffix[48];
		size_t slen, keep;

		slen = (size_t)snprintf(suffix, sizeof(suffix), ", but %zu REJECT", n5);
		keep = REPLY_MAX - slen;
		reply_clean(clean, keep + 1 < sizeof(clean) ? keep + 1 : sizeof(clean), first2);
		return arena_printf(msg->arena, "%s%s", clean, suffix);
	}
}
