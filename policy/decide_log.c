/*
 * decide_log.c - the pieces of the per-message log line that come from
 * the decision, in amavisd's shape: the verdict ("CLEAN",
 * "INFECTED (name)", "BAD-HEADER-2"), whether a "Passed" and a
 * "Blocked" line are due, and the actions ("{RelayedInbound}",
 * "{DiscardedInbound,Quarantined}"). The line itself is the worker's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/decide_private.h"

/* ---- log pieces ---- */

/* decide_log_verdict - see decide.h */
const char *decide_log_verdict(struct message *msg, const struct decide_result *res)
{
	unsigned c = decide_msg_ccat(res);
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
		    arena_printable(msg->arena, f && f->banned_reason ? f->banned_reason : "", 200));
	case CC_VIRUS:
		return arena_printf(msg->arena, "INFECTED (%s)", f ? decide_virus_list(msg->arena, f) : "");
	default:
		return "OTHER";
	}
}

/* rcpt_passed - passed on (or to be) downstream, not blocked */
static int rcpt_passed(const struct message *msg, const struct decide_result *res, size_t i)
{
	return !res->r[i].blocked && msg->rcpts[i].code / 100 == 2;
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

/* cmp_str - qsort order of strings */
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
