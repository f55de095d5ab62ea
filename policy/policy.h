/*
 * policy.h - the content policy of one configuration: per-recipient
 * lookup maps (bypass, lovers, spam levels), the compiled banned-name
 * rules, the default destinies, what is quarantined, the routes
 * (routing/route.h), the shared state (state/state.h) and the rate
 * limits. Built once per
 * configuration in the master, before the workers fork, so table files
 * are read with the master's privileges and shared copy-on-write;
 * workers only read it (policy_for_rcpt).
 *
 * Life cycle: policy_build() → policy_for_rcpt() per recipient and
 * message → policy_free() when the configuration is replaced (the
 * master frees its copy after forking the new generation; workers of
 * the old one keep theirs until they exit).
 */
#ifndef TG_POLICY_POLICY_H
#define TG_POLICY_POLICY_H

#include "lib/cfg.h"
#include "lib/message.h"
#include "policy/decide.h"

struct banned_re;
struct maps;
struct route_ctx;
struct state;

enum policy_map {
	PM_BYPASS_VIRUS, PM_BYPASS_BANNED, PM_BYPASS_HEADER,
	PM_LOVERS_VIRUS, PM_LOVERS_BANNED, PM_LOVERS_BADH, PM_LOVERS_UNCHECKED,
	PM_BYPASS_SPAM, PM_LOVERS_SPAM,
	PM_SPAM_TAG, PM_SPAM_TAG2, PM_SPAM_KILL, PM_SPAM_DSN_CUTOFF,
	PM__COUNT
};

struct policy {
	struct maps *maps[PM__COUNT];
	struct banned_re *banned;		/* NULL: no banned check (scanners/content.h) */
	struct decide_policy defaults;		/* destinies etc. from the config */
	unsigned quarantine_mask;		/* DECIDE_LOVER(CC_*) bits */
	const char *quarantine_dir;		/* "" none */
	const char *virus_admin;		/* "" none */
	const char *delim;			/* recipient_delimiter */
	struct route_ctx *route;		/* forward and notify methods per recipient */
	int spam_scanner;			/* 0 none, 1 spamd, 2 rspamd */
	struct state *state;			/* shared state in Redis, NULL: none */
	struct maps *rate_limits;		/* rate_limit_maps */
	int rate_fail_tempfail;			/* rate_limit_failure_action = tempfail */
	double penpals_bonus;			/* 0: pen pals off */
};

/* policy_build - from cfg (which must outlive it); 0, or -1 with a
 * static *error_r naming the setting or the table file and line */
int policy_build(const struct cfg *cfg, struct policy **p_r, const char **error_r);
/* policy_free - the policy and the tables it opened; sets *pp to NULL */
void policy_free(struct policy **pp);
/* policy_warnings - log a warning for settings that work, but not as
 * one may expect (rate_limit_maps action quarantine without a
 * quarantine_dir); for tollgated -t, start and reload, not the tools */
void policy_warnings(const struct cfg *cfg);

/* policy_for_rcpt - recipient i's decide_policy in the message arena:
 * the defaults with bypass and lovers bits and the spam levels the maps
 * give for that address. A failed
 * lookup (Redis down with redis_failure_action = tempfail) returns -1
 * with *error_r: the caller tempfails that recipient. */
int policy_for_rcpt(const struct policy *p, struct message *msg, size_t i,
    struct decide_policy **pol_r, const char **error_r);

#endif
