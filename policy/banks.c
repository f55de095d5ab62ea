/*
 * banks.c - choosing policy banks per message and building the merged
 * configuration and policy of a bank path (see banks.h).
 *
 * mynetworks is a plain list setting, as in Postfix's main.cf, matched
 * with lib/netio.h's cidr_match(); interface_policy,
 * client_ipaddr_policy and local_domains_maps are lookup tables.
 *
 * Limits: BANKS_MAX_PATHS merged paths are kept per process; a further
 * distinct path is built for that one message and freed after.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "policy/banks.h"
#include "policy/policy.h"
#include "lib/tables/table.h"

#define BANKS_MAX_PATHS 64
#define BANKS_MAX_NETS 256
#define BANKS_MAX_DEPTH 4	/* banks in one path */

struct bank_path {
	char *path;
	struct cfg *cfg;		/* owned unless it is the base */
	struct policy *pol;
	int owned;
};

struct banks {
	const struct cfg *base;
	const struct policy *base_pol;
	struct cidr nets[BANKS_MAX_NETS];
	int nnets;
	struct maps *interface_policy;
	struct maps *client_policy;
	struct maps *local_domains;
	char **defined;			/* names of defined banks */
	int ndefined;
	struct bank_path paths[BANKS_MAX_PATHS];
	int npaths;
};

static char banks_err[600];

static int banks_defined(const struct banks *b, const char *name)
{
	int i;

	for (i = 0; i < b->ndefined; i++)
		if (strcmp(b->defined[i], name) == 0)
			return 1;
	return 0;
}

/* banks_merge - base cfg with each bank of path applied; the policy of it */
static int banks_merge(const struct cfg *base, const char *path, struct cfg **cfg_r, struct policy **pol_r,
    const char **error_r)
{
	char tmp[512], *tok, *save = NULL;
	struct cfg *cur = NULL;

	strlcpy(tmp, path, sizeof(tmp));
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct cfg *next = NULL;

		if (cfg_bank(cur ? cur : base, tok, &next, error_r) < 0) {
			cfg_free(&cur);
			return -1;
		}
		cfg_free(&cur);
		cur = next;
	}
	if (cur == NULL) {
		*error_r = "empty bank path";
		return -1;
	}
	if (policy_build(cur, pol_r, error_r) < 0) {
		cfg_free(&cur);
		return -1;
	}
	*cfg_r = cur;
	return 0;
}

int banks_build(const struct cfg *cfg, const struct policy *base_policy, struct banks **b_r,
    const char **error_r)
{
	struct banks *b = xcalloc(1, sizeof(*b));
	struct table_opts topts;
	char *const *nets;
	int n, i;
	const char *err = NULL;

	b->base = cfg;
	b->base_pol = base_policy;
	nets = cfg_list(cfg, P_MYNETWORKS, &n);
	for (i = 0; i < n; i++) {
		if (b->nnets >= BANKS_MAX_NETS || cidr_parse(nets[i], &b->nets[b->nnets]) < 0) {
			snprintf(banks_err, sizeof(banks_err), "mynetworks: \"%.60s\" is not an address or network "
			    "(or more than %d entries)", nets[i], BANKS_MAX_NETS);
			goto fail;
		}
		b->nnets++;
	}
	table_opts_init(&topts);
	(void)table_opts_set(&topts, "redis_server", cfg_str(cfg, P_REDIS_SERVER), &err);
	(void)table_opts_set(&topts, "redis_failure_action", cfg_str(cfg, P_REDIS_FAILURE_ACTION), &err);
	if (maps_create(&b->interface_policy, "interface_policy", cfg_str(cfg, P_INTERFACE_POLICY), &topts, 0, &err) < 0 ||
	    maps_create(&b->client_policy, "client_ipaddr_policy", cfg_str(cfg, P_CLIENT_IPADDR_POLICY), &topts, 0, &err) < 0 ||
	    maps_create(&b->local_domains, "local_domains_maps", cfg_str(cfg, P_LOCAL_DOMAINS_MAPS), &topts, 0, &err) < 0) {
		snprintf(banks_err, sizeof(banks_err), "%s", err);
		goto fail;
	}
	b->ndefined = cfg_banks(cfg, &b->defined);
	/* every defined bank must build on its own: a start-up error, not a 451 later */
	for (i = 0; i < b->ndefined; i++) {
		struct bank_path *bp = &b->paths[b->npaths];

		if (b->npaths >= BANKS_MAX_PATHS) {
			snprintf(banks_err, sizeof(banks_err), "more than %d policy banks", BANKS_MAX_PATHS);
			goto fail;
		}
		if (banks_merge(cfg, b->defined[i], &bp->cfg, &bp->pol, &err) < 0) {
			snprintf(banks_err, sizeof(banks_err), "policy bank %.60s: %s", b->defined[i], err);
			goto fail;
		}
		bp->path = xstrdup(b->defined[i]);
		bp->owned = 1;
		b->npaths++;
	}
	*b_r = b;
	return 0;
fail:
	*error_r = banks_err;
	banks_free(&b);
	return -1;
}

void banks_free(struct banks **bp)
{
	struct banks *b = *bp;
	int i;

	if (b == NULL)
		return;
	for (i = 0; i < b->npaths; i++) {
		free(b->paths[i].path);
		if (b->paths[i].owned) {
			policy_free(&b->paths[i].pol);
			cfg_free(&b->paths[i].cfg);
		}
	}
	for (i = 0; i < b->ndefined; i++)
		free(b->defined[i]);
	free(b->defined);
	maps_free(&b->interface_policy);
	maps_free(&b->client_policy);
	maps_free(&b->local_domains);
	free(b);
	*bp = NULL;
}

/* banks_add - append name to the path when that bank is defined */
static void banks_add(struct banks *b, struct buf *path, int *depth, const char *name)
{
	if (*depth >= BANKS_MAX_DEPTH || !banks_defined(b, name))
		return;
	if (path->len)
		buf_putc(path, ',');
	buf_puts(path, name);
	(*depth)++;
}

int banks_choose(struct banks *b, struct message *msg, struct bank_choice *c_r, const char **error_r)
{
	const char *client = msg->xf.addr ? msg->xf.addr : msg->client_addr;
	struct buf path = BUF_INIT, why = BUF_INIT;
	const char *v = NULL, *err = NULL, *key = NULL;
	int depth = 0, rc, i;

	memset(c_r, 0, sizeof(*c_r));
	/* 1. the listener */
	if (msg->listener) {
		const char *port = strrchr(msg->listener, ':');

		key = msg->listener;
		rc = maps_lookup(b->interface_policy, key, msg->arena, &v, &err);
		if (rc == TABLE_NOTFOUND && msg->daemon_name && *msg->daemon_name)
			rc = maps_lookup(b->interface_policy, key = arena_printf(msg->arena, "milter:%s", msg->daemon_name),
			    msg->arena, &v, &err);
		if (rc == TABLE_NOTFOUND && port && port[1])
			rc = maps_lookup(b->interface_policy, key = port + 1, msg->arena, &v, &err);
		if (rc == TABLE_FAIL)
			goto failed;
		if (rc == TABLE_FOUND && strcasecmp(v, "DUNNO") != 0) {
			if (!banks_defined(b, v))
				log_warning("interface_policy names policy bank %.60s, which is not defined", v);
			banks_add(b, &path, &depth, v);
			buf_printf(&why, "%s%s: interface_policy %s = %s%s", why.len ? "; " : "", v, key, v,
			    banks_defined(b, v) ? "" : " (not defined: skipped)");
		}
	}
	/* 2. MYNETS */
	if (client && *client) {
		for (i = 0; i < b->nnets; i++)
			if (cidr_match(&b->nets[i], client)) {
				c_r->mynets = 1;
				banks_add(b, &path, &depth, "MYNETS");
				buf_printf(&why, "%sMYNETS: client %s in mynetworks%s", why.len ? "; " : "", client,
				    banks_defined(b, "MYNETS") ? "" : " (no such bank defined)");
				break;
			}
		/* 3. client_ipaddr_policy */
		rc = maps_lookup(b->client_policy, strncasecmp(client, "IPv6:", 5) == 0 ? client + 5 : client,
		    msg->arena, &v, &err);
		if (rc == TABLE_FAIL)
			goto failed;
		if (rc == TABLE_FOUND && strcasecmp(v, "DUNNO") != 0) {
			if (!banks_defined(b, v))
				log_warning("client_ipaddr_policy names policy bank %.60s, which is not defined", v);
			banks_add(b, &path, &depth, v);
			buf_printf(&why, "%s%s: client_ipaddr_policy %s = %s%s", why.len ? "; " : "", v, client, v,
			    banks_defined(b, v) ? "" : " (not defined: skipped)");
		}
	}
	/* 3b. banks the client asked for: AM.PDP policy_bank=A,B (undefined
	 * names are skipped, as amavisd does); a milter SASL login selects
	 * sasl_policy_bank */
	if (msg->requested_banks) {
		char tmp[256], *tok, *save = NULL;

		strlcpy(tmp, msg->requested_banks, sizeof(tmp));
		for (tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			banks_add(b, &path, &depth, tok);
			buf_printf(&why, "%s%s: requested by the client (policy_bank=)", why.len ? "; " : "", tok);
		}
	}
	if (msg->sasl_login && *msg->sasl_login && *cfg_str(b->base, P_SASL_POLICY_BANK)) {
		banks_add(b, &path, &depth, cfg_str(b->base, P_SASL_POLICY_BANK));
		c_r->originating = 1;
		buf_printf(&why, "%s%s: sasl_policy_bank (SASL login %.100s)", why.len ? "; " : "",
		    cfg_str(b->base, P_SASL_POLICY_BANK), msg->sasl_login);
	}
	/* a bank declares its mail originating (amavisd's originating => 1) */
	if (path.len) {
		const struct cfg *cfg;
		const struct policy *pol;

		if (banks_get(b, path.data, &cfg, &pol, &err) < 0)
			goto failed;
		c_r->originating |= (int)cfg_int(cfg, P_ORIGINATING);
	}
	/* 4. ORIGINATING */
	if (c_r->originating && banks_defined(b, "ORIGINATING"))
		buf_printf(&why, "%sORIGINATING: the mail is originating", why.len ? "; " : "");
	if (c_r->originating)
		banks_add(b, &path, &depth, "ORIGINATING");
	c_r->path = arena_strdup(msg->arena, path.len ? path.data : "");
	c_r->why = arena_strdup(msg->arena, why.len ? why.data : "");
	buf_free(&path);
	buf_free(&why);
	return 0;
failed:
	buf_free(&path);
	buf_free(&why);
	*error_r = err ? err : "lookup failed";
	return -1;
}

int banks_get(struct banks *b, const char *path, const struct cfg **cfg_r, const struct policy **pol_r,
    const char **error_r)
{
	struct bank_path *bp;
	int i;

	if (path == NULL || *path == 0) {
		*cfg_r = b->base;
		*pol_r = b->base_pol;
		return 0;
	}
	for (i = 0; i < b->npaths; i++)
		if (strcmp(b->paths[i].path, path) == 0) {
			*cfg_r = b->paths[i].cfg;
			*pol_r = b->paths[i].pol;
			return 0;
		}
	if (b->npaths >= BANKS_MAX_PATHS) {
		*error_r = "too many distinct policy bank paths";
		return -1;
	}
	/* a stacked path: built here, once per process */
	bp = &b->paths[b->npaths];
	if (banks_merge(b->base, path, &bp->cfg, &bp->pol, error_r) < 0)
		return -1;
	bp->path = xstrdup(path);
	bp->owned = 1;
	b->npaths++;
	*cfg_r = bp->cfg;
	*pol_r = bp->pol;
	return 0;
}

int banks_is_local(struct banks *b, const struct cfg *cfg, struct message *msg, const char *addr)
{
	const char *v = NULL, *err = NULL;
	int rc;

	(void)cfg;
	if (*cfg_str(b->base, P_LOCAL_DOMAINS_MAPS) == 0)
		return 1;
	rc = maps_lookup_addr(b->local_domains, addr, cfg_str(b->base, P_RECIPIENT_DELIMITER), msg->arena, &v,
	    NULL, &err);
	if (rc == TABLE_FAIL)
		return -1;
	return rc == TABLE_FOUND && strcasecmp(v, "no") != 0 && strcmp(v, "0") != 0 && strcasecmp(v, "DUNNO") != 0;
}
