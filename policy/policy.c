/*
 * policy.c - the content policy of one configuration (see policy.h):
 * settings turned into a struct decide_policy template, the banned-name
 * rules compiled, the per-recipient maps opened.
 *
 * A map value counts as "yes" unless it is one of 0, no, false, off,
 * DUNNO (amavisd reads a found value as a boolean the same way).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "policy/policy.h"
#include "policy/quarantine.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "scanners/content.h"
#include "state/state.h"
#include "lib/tables/table.h"

#define POLICY_MAX_PATTERNS 1000	/* rules in a banned_filename_re file */

static const struct {
	enum param_id param;
	const char *title;
} policy_map_params[PM__COUNT] = {
	[PM_BYPASS_VIRUS] = { P_BYPASS_VIRUS_CHECKS_MAPS, "bypass_virus_checks_maps" },
	[PM_BYPASS_BANNED] = { P_BYPASS_BANNED_CHECKS_MAPS, "bypass_banned_checks_maps" },
	[PM_BYPASS_HEADER] = { P_BYPASS_HEADER_CHECKS_MAPS, "bypass_header_checks_maps" },
	[PM_LOVERS_VIRUS] = { P_VIRUS_LOVERS_MAPS, "virus_lovers_maps" },
	[PM_LOVERS_BANNED] = { P_BANNED_FILES_LOVERS_MAPS, "banned_files_lovers_maps" },
	[PM_LOVERS_BADH] = { P_BAD_HEADER_LOVERS_MAPS, "bad_header_lovers_maps" },
	[PM_LOVERS_UNCHECKED] = { P_UNCHECKED_LOVERS_MAPS, "unchecked_lovers_maps" },
	[PM_BYPASS_SPAM] = { P_BYPASS_SPAM_CHECKS_MAPS, "bypass_spam_checks_maps" },
	[PM_LOVERS_SPAM] = { P_SPAM_LOVERS_MAPS, "spam_lovers_maps" },
	[PM_SPAM_TAG] = { P_SPAM_TAG_LEVEL_MAPS, "spam_tag_level_maps" },
	[PM_SPAM_TAG2] = { P_SPAM_TAG2_LEVEL_MAPS, "spam_tag2_level_maps" },
	[PM_SPAM_KILL] = { P_SPAM_KILL_LEVEL_MAPS, "spam_kill_level_maps" },
	[PM_SPAM_DSN_CUTOFF] = { P_SPAM_DSN_CUTOFF_LEVEL_MAPS, "spam_dsn_cutoff_level_maps" },
};

static char policy_err[600];

/* policy_fail - the reason in policy_err; returns -1 */
#define policy_fail(error_r, ...) error_fmt(policy_err, sizeof(policy_err), (error_r), __VA_ARGS__)

/* policy_destiny - one final_*_destiny setting */
static int policy_destiny(const struct cfg *cfg, enum param_id id, enum destiny *d_r, const char **error_r)
{
	if (decide_destiny_parse(cfg_str(cfg, id), d_r) < 0)
		return policy_fail(error_r, "%s: \"%.60s\" is not pass, discard, bounce, reject or tempfail",
		    param_table[id].name, cfg_str(cfg, id));
	return 0;
}

/* policy_banned - compile banned_filename_re: "default", a file, or "" */
static int policy_banned(const char *v, struct banned_re **re_r, const char **error_r)
{
	const char *err = NULL;
	char **pats = NULL;
	size_t n = 0, i;
	int rc;

	*re_r = NULL;
	if (*v == 0)
		return 0;
	if (strcmp(v, "default") == 0) {
		for (n = 0; banned_default[n]; n++)
			;
		rc = banned_compile(banned_default, n, re_r, &err);
	} else {
		FILE *fp = fopen(v, "r");
		char line[4096];
		int lineno = 0;

		if (fp == NULL) {
			snprintf(policy_err, sizeof(policy_err), "banned_filename_re: %s: %s", v, strerror(errno));
			*error_r = policy_err;
			return -1;
		}
		while (fgets(line, sizeof(line), fp)) {
			char *s = line, *e;

			lineno++;
			while (isspace((unsigned char)*s))
				s++;
			e = s + strlen(s);
			while (e > s && isspace((unsigned char)e[-1]))
				*--e = 0;
			if (*s == 0 || *s == '#')
				continue;
			if (n >= POLICY_MAX_PATTERNS) {
				snprintf(policy_err, sizeof(policy_err), "%s:%d: more than %d rules", v, lineno,
				    POLICY_MAX_PATTERNS);
				fclose(fp);
				for (i = 0; i < n; i++)
					free(pats[i]);
				free(pats);
				*error_r = policy_err;
				return -1;
			}
			pats = xreallocarray(pats, n + 1, sizeof(*pats));
			pats[n++] = xstrdup(s);
		}
		fclose(fp);
		rc = banned_compile((const char *const *)pats, n, re_r, &err);
		for (i = 0; i < n; i++)
			free(pats[i]);
		free(pats);
	}
	if (rc < 0) {
		snprintf(policy_err, sizeof(policy_err), "banned_filename_re: %s", err);
		*error_r = policy_err;
		return -1;
	}
	return 0;
}

/* policy_level - a spam level setting: a number, or empty for unset */
static int policy_level(const struct cfg *cfg, enum param_id id, double *d_r, const char **error_r)
{
	const char *v = cfg_str(cfg, id);
	char *end;

	if (*v == 0) {
		*d_r = DECIDE_LEVEL_UNSET;
		return 0;
	}
	errno = 0;
	*d_r = strtod(v, &end);
	if (end == v || *end || errno)
		return policy_fail(error_r, "%s: \"%.40s\" is not a number", param_table[id].name, v);
	return 0;
}

/* policy_quarantine_mask - quarantine_categories as DECIDE_LOVER bits */
static int policy_quarantine_mask(const struct cfg *cfg, unsigned *mask_r, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned major;
	} cats[] = {
		{ "virus", CC_VIRUS }, { "banned", CC_BANNED }, { "unchecked", CC_UNCHECKED },
		{ "spam", CC_SPAM }, { "spammy", CC_SPAMMY }, { "bad_header", CC_BADH },
		{ "oversized", CC_OVERSIZED },
	};
	char *const *l;
	int n, i;
	size_t k;

	*mask_r = 0;
	l = cfg_list(cfg, P_QUARANTINE_CATEGORIES, &n);
	for (i = 0; i < n; i++) {
		for (k = 0; k < sizeof(cats) / sizeof(cats[0]); k++)
			if (strcasecmp(l[i], cats[k].name) == 0)
				break;
		if (k == sizeof(cats) / sizeof(cats[0]))
			return policy_fail(error_r, "quarantine_categories: unknown category \"%.40s\"", l[i]);
		*mask_r |= DECIDE_LOVER(cats[k].major);
		if (cats[k].major == CC_SPAM)
			*mask_r |= DECIDE_LOVER(CC_SPAMMY);
	}
	return 0;
}

/* policy_table_opts - Redis settings for redis: tables */
static int policy_table_opts(const struct cfg *cfg, struct table_opts *o, const char **error_r)
{
	static const enum param_id ids[] = { P_REDIS_SERVER, P_REDIS_DB, P_REDIS_KEY_PREFIX,
		P_REDIS_PASSWORD, P_REDIS_SENTINEL_PASSWORD, P_REDIS_TIMEOUT, P_REDIS_FAILURE_ACTION };
	size_t i;

	table_opts_init(o);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const char *err = NULL;

		if (table_opts_set(o, param_table[ids[i]].name, cfg_str(cfg, ids[i]), &err) < 0)
			return policy_fail(error_r, "%s: %s", param_table[ids[i]].name, err);
	}
	return 0;
}

/*
 * policy_timeouts - a message's deliveries must end inside child_timeout
 * less the reply margin (deliver_margin_ms): a forward timeout set in
 * the file that does not fit could never fire as written (the message's
 * deadline would cut it, or the master would kill the worker first) and
 * is refused. Defaults are left to the deadline, so a short
 * child_timeout alone stays valid.
 */
static int policy_timeouts(const struct cfg *cfg, const char **error_r)
{
	static const enum param_id ids[] = { P_FORWARD_CONNECT_TIMEOUT, P_FORWARD_COMMAND_TIMEOUT,
		P_FORWARD_DATA_DONE_TIMEOUT };
	long long child = cfg_int(cfg, P_CHILD_TIMEOUT);
	long long budget = child * 1000 - deliver_margin_ms(child);
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		long long t = cfg_int(cfg, ids[i]);

		if (!cfg_is_set(cfg, ids[i]) || t * 1000 < budget)
			continue;
		return policy_fail(error_r, "%s = %llds cannot fit in child_timeout = %llds: a "
		    "message's deliveries must end %.1fs before it (the reply margin), so set it below %.1fs",
		    param_table[ids[i]].name, t, child, deliver_margin_ms(child) / 1000.0, budget / 1000.0);
	}
	return 0;
}

/* policy_mentions - 1 when text (len bytes) holds word, any case */
static int policy_mentions(const char *text, size_t len, const char *word)
{
	size_t wl = strlen(word), i;

	for (i = 0; i + wl <= len; i++)
		if (strncasecmp(text + i, word, wl) == 0)
			return 1;
	return 0;
}

/*
 * policy_warnings - warn when rate_limit_maps may use the action
 * quarantine but there is no quarantine_dir: such a message is
 * tempfailed (it cannot be held anywhere), not accepted. The setting
 * and the files of its file tables (first 1 MB) are searched for the
 * word; a redis: table cannot be read here and is not checked.
 */
void policy_warnings(const struct cfg *cfg)
{
	const char *v = cfg_str(cfg, P_RATE_LIMIT_MAPS), *p;
	int found = policy_mentions(v, strlen(v), "quarantine");

	if (*v == 0 || *cfg_str(cfg, P_QUARANTINE_DIR))
		return;
	for (p = v; !found && (p = strstr(p, ":/")) != NULL; p++) {
		char path[1024], *buf;
		size_t n = strcspn(p + 1, " \t,}"), got;
		FILE *fp;

		if (n >= sizeof(path))
			continue;
		memcpy(path, p + 1, n);
		path[n] = 0;
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		buf = xmalloc(1 << 20);
		got = fread(buf, 1, 1 << 20, fp);
		fclose(fp);
		found = policy_mentions(buf, got, "quarantine");
		free(buf);
	}
	if (found)
		log_warning("rate_limit_maps has the action quarantine but quarantine_dir is empty: a message "
		    "over such a limit is tempfailed (451), never accepted without its quarantined copy");
}

/* policy_destinies - the final_*_destiny settings */
static int policy_destinies(const struct cfg *cfg, struct policy *p, const char **error_r)
{
	static const struct {
		enum param_id id;
		int ccat;
	} d[] = {
		{ P_FINAL_VIRUS_DESTINY, CC_VIRUS }, { P_FINAL_BANNED_DESTINY, CC_BANNED },
		{ P_FINAL_UNCHECKED_DESTINY, CC_UNCHECKED }, { P_FINAL_SPAM_DESTINY, CC_SPAM },
		{ P_FINAL_BAD_HEADER_DESTINY, CC_BADH },
	};
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (policy_destiny(cfg, d[i].id, &p->defaults.destiny[d[i].ccat], error_r) < 0)
			return -1;
	return 0;
}

/* policy_levels - the spam levels of the defaults (empty: unset) */
static int policy_levels(const struct cfg *cfg, struct policy *p, const char **error_r)
{
	if (policy_level(cfg, P_SPAM_TAG_LEVEL, &p->defaults.tag_level, error_r) < 0 ||
	    policy_level(cfg, P_SPAM_TAG2_LEVEL, &p->defaults.tag2_level, error_r) < 0 ||
	    policy_level(cfg, P_SPAM_KILL_LEVEL, &p->defaults.kill_level, error_r) < 0 ||
	    policy_level(cfg, P_SPAM_DSN_CUTOFF_LEVEL, &p->defaults.dsn_cutoff_level, error_r) < 0)
		return -1;
	return 0;
}

/* policy_spam_scanner - spam_scanner: none (or empty), spamd, rspamd */
static int policy_spam_scanner(const struct cfg *cfg, int *scanner_r, const char **error_r)
{
	const char *sc = cfg_str(cfg, P_SPAM_SCANNER);

	if (strcmp(sc, "none") == 0 || *sc == 0)
		*scanner_r = 0;
	else if (strcmp(sc, "spamd") == 0)
		*scanner_r = 1;
	else if (strcmp(sc, "rspamd") == 0)
		*scanner_r = 2;
	else
		return policy_fail(error_r, "spam_scanner: \"%.40s\" is not none, spamd or rspamd", sc);
	return 0;
}

/* policy_inet_acl - every inet_acl entry is an address or a network
 * (the workers match it; a bad entry is a start-up error here) */
static int policy_inet_acl(const struct cfg *cfg, const char **error_r)
{
	char *const *acl;
	struct cidr c;
	int n, i;

	acl = cfg_list(cfg, P_INET_ACL, &n);
	for (i = 0; i < n; i++)
		if (cidr_parse(acl[i], &c) < 0)
			return policy_fail(error_r, "inet_acl: \"%.60s\" is not an address or network", acl[i]);
	return 0;
}

/* policy_route - the forward and notify methods, their maps and the TLS
 * policy (routing/route.h) */
static int policy_route(const struct cfg *cfg, struct policy *p, const struct table_opts *topts,
    const char **error_r)
{
	struct route_conf rc;

	memset(&rc, 0, sizeof(rc));
	rc.forward_method = cfg_str(cfg, P_FORWARD_METHOD);
	rc.notify_method = cfg_str(cfg, P_NOTIFY_METHOD);
	rc.forward_method_maps = cfg_str(cfg, P_FORWARD_METHOD_MAPS);
	rc.sender_dependent_forward_method_maps = cfg_str(cfg, P_SENDER_DEPENDENT_FORWARD_METHOD_MAPS);
	rc.empty_address_sender_key = cfg_str(cfg, P_EMPTY_ADDRESS_SENDER_KEY);
	rc.forward_tls_policy_maps = cfg_str(cfg, P_FORWARD_TLS_POLICY_MAPS);
	rc.forward_tls_security_level = cfg_str(cfg, P_FORWARD_TLS_SECURITY_LEVEL);
	rc.forward_tls_CAfile = cfg_str(cfg, P_FORWARD_TLS_CAFILE);
	rc.tls_failure_action = cfg_str(cfg, P_TLS_FAILURE_ACTION);
	rc.recipient_delimiter = p->delim;
	rc.table_opts = topts;
	rc.table_flags = 0;
	return route_create(&rc, &p->route, error_r);
}

/* policy_state - the shared state in Redis, when state_redis_server is set */
static int policy_state(const struct cfg *cfg, struct policy *p, const char **error_r)
{
	struct state_opts so;
	const char *err = NULL;

	if (*cfg_str(cfg, P_STATE_REDIS_SERVER) == 0)
		return 0;
	state_opts_from_cfg(&so, cfg);
	if (state_create(&p->state, &so, &err) < 0)
		return policy_fail(error_r, "state_redis_server: %s", err);
	return 0;
}

/* policy_rates - rate_limit_maps, what a failed lookup does, the pen
 * pals bonus; both need the shared state */
static int policy_rates(const struct cfg *cfg, struct policy *p, const struct table_opts *topts,
    const char **error_r)
{
	const char *err = NULL, *fa = cfg_str(cfg, P_RATE_LIMIT_FAILURE_ACTION);
	double bonus = 0;

	if (maps_create(&p->rate_limits, "rate_limit_maps", cfg_str(cfg, P_RATE_LIMIT_MAPS), topts, 0, &err) < 0)
		return policy_fail(error_r, "rate_limit_maps: %s", err);
	if (strcmp(fa, "tempfail") == 0)
		p->rate_fail_tempfail = 1;
	else if (strcmp(fa, "continue") != 0)
		return policy_fail(error_r, "rate_limit_failure_action: \"%.40s\" is not continue or tempfail", fa);
	if (*cfg_str(cfg, P_PENPALS_BONUS_SCORE) && policy_level(cfg, P_PENPALS_BONUS_SCORE, &bonus, error_r) < 0)
		return -1;
	p->penpals_bonus = bonus;
	if ((*cfg_str(cfg, P_RATE_LIMIT_MAPS) || bonus != 0) && p->state == NULL) {
		*error_r = "rate_limit_maps and penpals_bonus_score need state_redis_server";
		return -1;
	}
	return 0;
}

/* policy_maps - the per-recipient maps of policy_map_params */
static int policy_maps(const struct cfg *cfg, struct policy *p, const struct table_opts *topts,
    const char **error_r)
{
	int i;

	for (i = 0; i < PM__COUNT; i++) {
		const char *err = NULL;

		if (maps_create(&p->maps[i], policy_map_params[i].title, cfg_str(cfg, policy_map_params[i].param),
		    topts, 0, &err) < 0)
			return policy_fail(error_r, "%s: %s", policy_map_params[i].title, err);
	}
	return 0;
}

/*
 * policy_build - each step checks its settings and opens its tables, in
 * the order that decides which error a file with several is reported
 * with: timeouts, destinies, banned names, quarantine categories, Redis
 * table settings, levels, spam scanner, inet_acl, the quarantine store,
 * routes, state, rate limits, the per-recipient maps.
 */
int policy_build(const struct cfg *cfg, struct policy **p_r, const char **error_r)
{
	struct policy *p = xcalloc(1, sizeof(*p));
	struct table_opts topts;

	decide_policy_defaults(&p->defaults);
	p->defaults.spam_subject_tag = cfg_str(cfg, P_SPAM_SUBJECT_TAG);
	p->defaults.soft_bounce = (int)cfg_int(cfg, P_SOFT_BOUNCE);
	p->quarantine_dir = cfg_str(cfg, P_QUARANTINE_DIR);
	p->virus_admin = cfg_str(cfg, P_VIRUS_ADMIN);
	p->delim = cfg_str(cfg, P_RECIPIENT_DELIMITER);
	if (policy_timeouts(cfg, error_r) < 0 ||
	    policy_destinies(cfg, p, error_r) < 0 ||
	    policy_banned(cfg_str(cfg, P_BANNED_FILENAME_RE), &p->banned, error_r) < 0 ||
	    policy_quarantine_mask(cfg, &p->quarantine_mask, error_r) < 0 ||
	    policy_table_opts(cfg, &topts, error_r) < 0 ||
	    policy_levels(cfg, p, error_r) < 0 ||
	    policy_spam_scanner(cfg, &p->spam_scanner, error_r) < 0 ||
	    policy_inet_acl(cfg, error_r) < 0 ||
	    quarantine_check(cfg, error_r) < 0 ||
	    policy_route(cfg, p, &topts, error_r) < 0 ||
	    policy_state(cfg, p, error_r) < 0 ||
	    policy_rates(cfg, p, &topts, error_r) < 0 ||
	    policy_maps(cfg, p, &topts, error_r) < 0) {
		policy_free(&p);
		return -1;
	}
	*p_r = p;
	return 0;
}

/* policy_free - the policy and the tables it opened; sets *pp to NULL */
void policy_free(struct policy **pp)
{
	struct policy *p = *pp;
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < PM__COUNT; i++)
		maps_free(&p->maps[i]);
	route_free(&p->route);
	state_free(&p->state);
	maps_free(&p->rate_limits);
	banned_free(&p->banned);
	free(p);
	*pp = NULL;
}

/* policy_yes - a found map value read as a boolean */
static int policy_yes(const char *v)
{
	return !(strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0 || strcasecmp(v, "DUNNO") == 0);
}

/* policy_for_rcpt - the defaults with recipient i's map answers (see policy.h) */
int policy_for_rcpt(const struct policy *p, struct message *msg, size_t i,
    struct decide_policy **pol_r, const char **error_r)
{
	static const struct {
		enum policy_map map;
		int lover;
		unsigned bit;
	} bits[] = {
		{ PM_BYPASS_VIRUS, 0, DECIDE_BYPASS_VIRUS },
		{ PM_BYPASS_BANNED, 0, DECIDE_BYPASS_BANNED },
		{ PM_BYPASS_HEADER, 0, DECIDE_BYPASS_HEADER },
		{ PM_LOVERS_VIRUS, 1, DECIDE_LOVER(CC_VIRUS) },
		{ PM_LOVERS_BANNED, 1, DECIDE_LOVER(CC_BANNED) },
		{ PM_LOVERS_BADH, 1, DECIDE_LOVER(CC_BADH) },
		{ PM_LOVERS_UNCHECKED, 1, DECIDE_LOVER(CC_UNCHECKED) },
		{ PM_BYPASS_SPAM, 0, DECIDE_BYPASS_SPAM },
		{ PM_LOVERS_SPAM, 1, DECIDE_LOVER(CC_SPAM) },
	};
	struct decide_policy *pol = arena_alloc(msg->arena, sizeof(*pol));
	size_t k;

	*pol = p->defaults;
	for (k = 0; k < sizeof(bits) / sizeof(bits[0]); k++) {
		const char *v = NULL, *err = NULL;
		int rc = maps_lookup_addr(p->maps[bits[k].map], msg->rcpts[i].addr, p->delim, msg->arena,
		    &v, NULL, &err);

		if (rc == TABLE_FAIL) {
			*error_r = arena_printf(msg->arena, "%s: %s", policy_map_params[bits[k].map].title,
			    err ? err : "lookup failed");
			return -1;
		}
		if (rc == TABLE_FOUND && policy_yes(v)) {
			if (bits[k].lover)
				pol->lovers |= bits[k].bit;
			else
				pol->bypass |= bits[k].bit;
		}
	}
	/* per-recipient spam levels: a number found overrides the bank's */
	{
		static const enum policy_map lv[] = { PM_SPAM_TAG, PM_SPAM_TAG2, PM_SPAM_KILL, PM_SPAM_DSN_CUTOFF };
		double *dst[] = { &pol->tag_level, &pol->tag2_level, &pol->kill_level, &pol->dsn_cutoff_level };

		for (k = 0; k < sizeof(lv) / sizeof(lv[0]); k++) {
			const char *v = NULL, *err = NULL;
			char *end;
			double d;
			int rc = maps_lookup_addr(p->maps[lv[k]], msg->rcpts[i].addr, p->delim, msg->arena, &v, NULL, &err);

			if (rc == TABLE_FAIL) {
				*error_r = arena_printf(msg->arena, "%s: %s", policy_map_params[lv[k]].title,
				    err ? err : "lookup failed");
				return -1;
			}
			if (rc != TABLE_FOUND || strcasecmp(v, "DUNNO") == 0)
				continue;
			d = strtod(v, &end);
			if (end == v || *end) {
				log_warning("%s: <%.200s>: \"%.40s\" is not a score; ignored", policy_map_params[lv[k]].title,
				    msg->rcpts[i].addr, v);
				continue;
			}
			*dst[k] = d;
		}
	}
	*pol_r = pol;
	return 0;
}
