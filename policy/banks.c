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
#include <stdarg.h>
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

/* banks_defined - whether a bank of that name is defined */
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

/* banks_build - mynetworks, the selector tables, every defined bank built once */
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

/* banks_free - the banks, their built paths and tables; sets *bp to NULL */
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

/* a bank path being chosen for one message */
struct bank_walk {
	struct banks *b;
	struct message *msg;
	struct buf path;		/* "A,B" */
	struct buf why;			/* "; "-separated reasons */
	int depth;			/* banks in path */
};

/* banks_add - append name to the path when that bank is defined */
static void banks_add(struct bank_walk *w, const char *name)
{
	if (w->depth >= BANKS_MAX_DEPTH || !banks_defined(w->b, name))
		return;
	if (w->path.len)
		buf_putc(&w->path, ',');
	buf_puts(&w->path, name);
	w->depth++;
}

/* banks_why - one more reason for tollgate explain */
static void banks_why(struct bank_walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void banks_why(struct bank_walk *w, const char *fmt, ...)
{
	va_list ap;

	if (w->why.len)
		buf_puts(&w->why, "; ");
	va_start(ap, fmt);
	buf_vprintf(&w->why, fmt, ap);
	va_end(ap);
}

/* banks_named - a table named bank v (looked up as key) for this
 * message: add it, say why, warn when no such bank is defined */
static void banks_named(struct bank_walk *w, const char *table, const char *key, const char *v)
{
	int defined = banks_defined(w->b, v);

	if (!defined)
		log_warning("%s names policy bank %.60s, which is not defined", table, v);
	banks_add(w, v);
	banks_why(w, "%s: %s %s = %s%s", v, table, key, v, defined ? "" : " (not defined: skipped)");
}

/* banks_by_listener - 1. interface_policy: the listener's spec, then
 * "milter:" and the MTA's daemon name, then the port; -1 on a failed
 * lookup */
static int banks_by_listener(struct bank_walk *w, const char **error_r)
{
	struct message *msg = w->msg;
	const char *port = strrchr(msg->listener, ':'), *key = msg->listener, *v = NULL;
	struct maps *m = w->b->interface_policy;
	int rc;

	rc = maps_lookup(m, key, msg->arena, &v, error_r);
	if (rc == TABLE_NOTFOUND && msg->daemon_name && *msg->daemon_name)
		rc = maps_lookup(m, key = arena_printf(msg->arena, "milter:%s", msg->daemon_name), msg->arena, &v,
		    error_r);
	if (rc == TABLE_NOTFOUND && port && port[1])
		rc = maps_lookup(m, key = port + 1, msg->arena, &v, error_r);
	if (rc == TABLE_FAIL)
		return -1;
	if (rc == TABLE_FOUND && strcasecmp(v, "DUNNO") != 0)
		banks_named(w, "interface_policy", key, v);
	return 0;
}

/* banks_by_client - 2. MYNETS when the client is in mynetworks, 3.
 * client_ipaddr_policy; -1 on a failed lookup */
static int banks_by_client(struct bank_walk *w, const char *client, struct bank_choice *c, const char **error_r)
{
	const char *v = NULL;
	int rc, i;

	for (i = 0; i < w->b->nnets; i++)
		if (cidr_match(&w->b->nets[i], client)) {
			c->mynets = 1;
			banks_add(w, "MYNETS");
			banks_why(w, "MYNETS: client %s in mynetworks%s", client,
			    banks_defined(w->b, "MYNETS") ? "" : " (no such bank defined)");
			break;
		}
	rc = maps_lookup(w->b->client_policy, strncasecmp(client, "IPv6:", 5) == 0 ? client + 5 : client,
	    w->msg->arena, &v, error_r);
	if (rc == TABLE_FAIL)
		return -1;
	if (rc == TABLE_FOUND && strcasecmp(v, "DUNNO") != 0)
		banks_named(w, "client_ipaddr_policy", client, v);
	return 0;
}

/* banks_by_request - 3b. the banks the client asked for: AM.PDP
 * policy_bank=A,B (undefined names are skipped, as amavisd does); a
 * milter SASL login selects sasl_policy_bank and makes the mail
 * originating */
static void banks_by_request(struct bank_walk *w, struct bank_choice *c)
{
	const struct message *msg = w->msg;
	const char *sasl_bank = cfg_str(w->b->base, P_SASL_POLICY_BANK);

	if (msg->requested_banks) {
		char tmp[256], *tok, *save = NULL;

		strlcpy(tmp, msg->requested_banks, sizeof(tmp));
		for (tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			banks_add(w, tok);
			banks_why(w, "%s: requested by the client (policy_bank=)", tok);
		}
	}
	if (msg->sasl_login && *msg->sasl_login && *sasl_bank) {
		banks_add(w, sasl_bank);
		c->originating = 1;
		banks_why(w, "%s: sasl_policy_bank (SASL login %.100s)", sasl_bank, msg->sasl_login);
	}
}

/* banks_by_originating - a bank chosen so far may declare the mail
 * originating (amavisd's originating => 1); 4. ORIGINATING then; -1
 * when the path so far cannot be built */
static int banks_by_originating(struct bank_walk *w, struct bank_choice *c, const char **error_r)
{
	const struct cfg *cfg;
	const struct policy *pol;

	if (w->path.len) {
		if (banks_get(w->b, w->path.data, &cfg, &pol, error_r) < 0)
			return -1;
		c->originating |= (int)cfg_int(cfg, P_ORIGINATING);
	}
	if (c->originating && banks_defined(w->b, "ORIGINATING"))
		banks_why(w, "ORIGINATING: the mail is originating");
	if (c->originating)
		banks_add(w, "ORIGINATING");
	return 0;
}

/* banks_choose - the steps of banks.h in their order */
int banks_choose(struct banks *b, struct message *msg, struct bank_choice *c_r, const char **error_r)
{
	const char *client = msg->xf.addr ? msg->xf.addr : msg->client_addr, *err = NULL;
	struct bank_walk w = { b, msg, BUF_INIT, BUF_INIT, 0 };
	int rc = 0;

	memset(c_r, 0, sizeof(*c_r));
	if ((msg->listener && banks_by_listener(&w, &err) < 0) ||
	    (client && *client && banks_by_client(&w, client, c_r, &err) < 0))
		rc = -1;
	if (rc == 0) {
		banks_by_request(&w, c_r);
		rc = banks_by_originating(&w, c_r, &err);
	}
	if (rc == 0) {
		c_r->path = arena_strdup(msg->arena, w.path.len ? w.path.data : "");
		c_r->why = arena_strdup(msg->arena, w.why.len ? w.why.data : "");
	} else {
		*error_r = err ? err : "lookup failed";
	}
	buf_free(&w.path);
	buf_free(&w.why);
	return rc;
}

/* banks_get - a path's configuration and policy, built on first use */
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

/* banks_is_local - addr against local_domains_maps (see banks.h) */
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
