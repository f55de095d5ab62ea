/*
 * route.c - per-recipient routing: forward method by recipient map,
 * sender-dependent map, policy bank and global setting, and the TLS
 * policy of the next hop. The rules are in route.h.
 *
 * Deliberately left out: amavisd's forward_method_maps_by_ccat (routing
 * by contents category) and $number substitution from regexp tables in
 * method values (Postfix refuses it for sender-dependent transports too:
 * a table value is taken literally). Method values are interned, never
 * freed before the ctx: a table that returns a new method for every
 * lookup runs into ROUTE_METHODS_MAX and then tempfails.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "lib/tables/table.h"

#define ROUTE_ERR_MAX	300

/* one interned method: the parsed method and its own TLS attributes */
struct route_method {
	struct route_method *next;
	char *text;			/* normalised value: tokens joined by one space */
	struct fwd_method m;
	int has_tls;			/* tls= given */
	enum tls_level level;
	char *ca_file, *match;		/* NULL: not given */
};

struct route_ctx {
	struct maps *rcpt_maps, *sender_maps, *tls_maps;
	char *empty_key;
	char *delim;
	enum tls_level level;
	char *ca_file;
	int bounce;
	struct route_method *methods;
	size_t nmethods;
	const struct route_method *global, *notify;
};

static char route_err[ROUTE_ERR_MAX];

/* route_is_dunno - the "no override" result */
static int route_is_dunno(const char *v)
{
	v += strspn(v, " \t");
	return strncasecmp(v, "DUNNO", 5) == 0 && v[5 + strspn(v + 5, " \t")] == 0;
}

/* route_tokens - split s on white space into at most max tokens in
 * buf; returns the count, or -1 when s is too long or has too many */
static int route_tokens(const char *s, char *buf, size_t bufsz, char **tok, int max)
{
	int n = 0;
	char *p, *save = NULL;

	if (strlcpy(buf, s, bufsz) >= bufsz)
		return -1;
	for (p = strtok_r(buf, " \t\r\n", &save); p != NULL; p = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		tok[n++] = p;
	}
	return n;
}

/* route_attr - value of "name=..." in tok (name case-insensitive), or NULL */
static const char *route_attr(const char *tok, const char *name)
{
	size_t len = strlen(name);

	return strncasecmp(tok, name, len) == 0 && tok[len] == '=' ? tok + len + 1 : NULL;
}

/*
 * route_method_parse - a method value with its TLS attributes into e.
 * 0, or -1 with *error_r (static or in route_err).
 */
static int route_method_parse(const char *value, struct route_method *e, const char **error_r)
{
	char buf[ROUTE_VALUE_MAX], *tok[8];
	int n, k;

	n = route_tokens(value, buf, sizeof(buf), tok, 8);
	if (n < 0) {
		*error_r = "method value too long or too many attributes";
		return -1;
	}
	if (n == 0) {
		*error_r = "empty forward method";
		return -1;
	}
	if (method_parse(tok[0], &e->m, error_r) < 0)
		return -1;
	for (k = 1; k < n; k++) {
		const char *v;

		if ((v = route_attr(tok[k], "tls")) != NULL) {
			if (tls_level_parse(v, &e->level) < 0) {
				*error_r = "tls= takes none, may, encrypt, verify or secure";
				return -1;
			}
			e->has_tls = 1;
		} else if ((v = route_attr(tok[k], "tls_CAfile")) != NULL && *v) {
			free(e->ca_file);
			e->ca_file = xstrdup(v);
		} else if ((v = route_attr(tok[k], "tls_match")) != NULL && *v) {
			free(e->match);
			e->match = xstrdup(v);
		} else {
			snprintf(route_err, sizeof(route_err), "unknown method attribute \"%.60s\" "
			    "(expected tls=, tls_CAfile=, tls_match=)", tok[k]);
			*error_r = route_err;
			return -1;
		}
	}
	if ((e->ca_file || e->match) && !e->has_tls) {
		*error_r = "tls_CAfile= and tls_match= need tls=";
		return -1;
	}
	return 0;
}

/* route_method_free - one interned entry */
static void route_method_free(struct route_method *e)
{
	free(e->text);
	free(e->ca_file);
	free(e->match);
	free(e);
}

/*
 * route_intern - the interned method for value: the same pointer for
 * every value with the same tokens. 0 with *e_r, or -1 with *error_r.
 */
static int route_intern(struct route_ctx *rc, const char *value, const struct route_method **e_r,
    const char **error_r)
{
	char buf[ROUTE_VALUE_MAX], norm[ROUTE_VALUE_MAX], *tok[8];
	struct route_method *e;
	size_t o = 0;
	int n, k;

	n = route_tokens(value, buf, sizeof(buf), tok, 8);
	if (n < 0) {
		*error_r = "method value too long or too many attributes";
		return -1;
	}
	norm[0] = 0;
	for (k = 0; k < n; k++)
		o += (size_t)snprintf(norm + o, sizeof(norm) - o, "%s%s", k ? " " : "", tok[k]);
	for (e = rc->methods; e != NULL; e = e->next) {
		if (strcmp(e->text, norm) == 0) {
			*e_r = e;
			return 0;
		}
	}
	if (rc->nmethods >= ROUTE_METHODS_MAX) {
		*error_r = "too many distinct forward methods";
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	if (route_method_parse(norm, e, error_r) < 0) {
		route_method_free(e);
		return -1;
	}
	e->text = xstrdup(norm);
	e->next = rc->methods;
	rc->methods = e;
	rc->nmethods++;
	*e_r = e;
	return 0;
}

/* route_failure_action - "4xx"/"tempfail" → 0, "5xx"/"bounce" → 1 */
static int route_failure_action(const char *s, int *bounce_r)
{
	if (s == NULL || *s == 0 || strcasecmp(s, "4xx") == 0 || strcasecmp(s, "tempfail") == 0) {
		*bounce_r = 0;
		return 0;
	}
	if (strcasecmp(s, "5xx") == 0 || strcasecmp(s, "bounce") == 0) {
		*bounce_r = 1;
		return 0;
	}
	return -1;
}

/* route_create - see route.h */
int route_create(const struct route_conf *conf, struct route_ctx **rc_r, const char **error_r)
{
	struct route_ctx *rc = xcalloc(1, sizeof(*rc));
	const char *err;

	*rc_r = NULL;
	if (route_intern(rc, conf->forward_method ? conf->forward_method : "", &rc->global, &err) < 0) {
		snprintf(route_err, sizeof(route_err), "forward_method: %s", err);
		goto fail;
	}
	if (conf->notify_method == NULL || *conf->notify_method == 0) {
		rc->notify = rc->global;
	} else if (route_intern(rc, conf->notify_method, &rc->notify, &err) < 0) {
		snprintf(route_err, sizeof(route_err), "notify_method: %s", err);
		goto fail;
	}
	if (conf->forward_tls_security_level != NULL && *conf->forward_tls_security_level &&
	    tls_level_parse(conf->forward_tls_security_level, &rc->level) < 0) {
		snprintf(route_err, sizeof(route_err),
		    "forward_tls_security_level: expected none, may, encrypt, verify or secure");
		goto fail;
	}
	if (route_failure_action(conf->tls_failure_action, &rc->bounce) < 0) {
		snprintf(route_err, sizeof(route_err), "tls_failure_action: expected 4xx (tempfail) or 5xx (bounce)");
		goto fail;
	}
	rc->ca_file = conf->forward_tls_CAfile && *conf->forward_tls_CAfile ? xstrdup(conf->forward_tls_CAfile) : NULL;
	rc->empty_key = xstrdup(conf->empty_address_sender_key ? conf->empty_address_sender_key : "<>");
	rc->delim = xstrdup(conf->recipient_delimiter ? conf->recipient_delimiter : "");
	if (conf->forward_method_maps && *conf->forward_method_maps &&
	    maps_create(&rc->rcpt_maps, "forward_method_maps", conf->forward_method_maps, conf->table_opts,
	    conf->table_flags, &err) < 0)
		goto fail_maps;
	if (conf->sender_dependent_forward_method_maps && *conf->sender_dependent_forward_method_maps &&
	    maps_create(&rc->sender_maps, "sender_dependent_forward_method_maps",
	    conf->sender_dependent_forward_method_maps, conf->table_opts, conf->table_flags, &err) < 0)
		goto fail_maps;
	if (conf->forward_tls_policy_maps && *conf->forward_tls_policy_maps &&
	    maps_create(&rc->tls_maps, "forward_tls_policy_maps", conf->forward_tls_policy_maps, conf->table_opts,
	    conf->table_flags, &err) < 0)
		goto fail_maps;
	*rc_r = rc;
	return 0;
fail_maps:
	snprintf(route_err, sizeof(route_err), "%s", err);
fail:
	route_free(&rc);
	*error_r = route_err;
	return -1;
}

/* route_free - see route.h */
void route_free(struct route_ctx **rcp)
{
	struct route_ctx *rc = *rcp;

	if (rc == NULL)
		return;
	maps_free(&rc->rcpt_maps);
	maps_free(&rc->sender_maps);
	maps_free(&rc->tls_maps);
	while (rc->methods != NULL) {
		struct route_method *e = rc->methods;

		rc->methods = e->next;
		route_method_free(e);
	}
	free(rc->empty_key);
	free(rc->delim);
	free(rc->ca_file);
	free(rc);
	*rcp = NULL;
}

/*
 * route_sender_lookup - sender_dependent_forward_method_maps by the
 * envelope sender: the address as given, without its extension, then
 * @domain; the null sender only as empty_key. The first key found
 * ends the search (so a DUNNO for the address hides @domain).
 */
static int route_sender_lookup(struct route_ctx *rc, const char *sender, struct arena *a, const char **value_r,
    const char **key_r, const char **error_r)
{
	const char *keys[3], *at;
	int nkeys = 0, k, r;

	*value_r = NULL;
	if (sender == NULL || *sender == 0) {
		if (*rc->empty_key == 0)
			return TABLE_NOTFOUND;
		keys[nkeys++] = rc->empty_key;
	} else {
		keys[nkeys++] = sender;
		at = strrchr(sender, '@');
		if (*rc->delim && at != NULL && at > sender + 1) {
			size_t ext = 1 + strcspn(sender + 1, rc->delim);

			if (sender + ext < at)
				keys[nkeys++] = arena_printf(a, "%.*s%s", (int)ext, sender, at);
		}
		if (at != NULL && at[1] != 0)
			keys[nkeys++] = at;
	}
	for (k = 0; k < nkeys; k++) {
		r = maps_lookup(rc->sender_maps, keys[k], a, value_r, error_r);
		if (r != TABLE_NOTFOUND) {
			*key_r = keys[k];
			return r;
		}
	}
	return TABLE_NOTFOUND;
}

/*
 * route_match_expand - Postfix's match words for the next hop:
 * "nexthop" and "hostname" become the next-hop host, "dot-nexthop" its
 * subdomains ("." + host). In the arena.
 */
static const char *route_match_expand(struct arena *a, const char *match, const struct fwd_method *m)
{
	const char *p = match, *out = "";

	while (*p) {
		size_t len = strcspn(p, ":");
		const char *w = arena_strndup(a, p, len);

		if (strcasecmp(w, "nexthop") == 0 || strcasecmp(w, "hostname") == 0)
			w = m->ep.host;
		else if (strcasecmp(w, "dot-nexthop") == 0)
			w = arena_printf(a, ".%s", m->ep.host);
		if (len > 0)
			out = *out ? arena_printf(a, "%s:%s", out, w) : w;
		p += len;
		if (*p == ':')
			p++;
	}
	return out;
}

/* route_policy_parse - a forward_tls_policy_maps value into *tls_r
 * (strings in the arena); 0, or -1 with *error_r */
static int route_policy_parse(struct route_ctx *rc, const char *value, const struct fwd_method *m,
    struct arena *a, struct tls_policy *tls_r, const char **error_r)
{
	char buf[ROUTE_VALUE_MAX], *tok[8];
	int n, k;

	n = route_tokens(value, buf, sizeof(buf), tok, 8);
	if (n <= 0) {
		*error_r = n < 0 ? "policy too long or too many attributes" : "empty policy";
		return -1;
	}
	if (tls_level_parse(tok[0], &tls_r->level) < 0) {
		*error_r = arena_printf(a, "unsupported TLS level \"%.40s\" (expected none, may, encrypt, "
		    "verify or secure)", tok[0]);
		return -1;
	}
	for (k = 1; k < n; k++) {
		const char *v;

		if ((v = route_attr(tok[k], "match")) != NULL)
			tls_r->match_name = route_match_expand(a, v, m);
		else if ((v = route_attr(tok[k], "CAfile")) != NULL)
			tls_r->ca_file = arena_strdup(a, v);
		else {
			*error_r = arena_printf(a, "unsupported policy attribute \"%.60s\"", tok[k]);
			return -1;
		}
	}
	if (tls_r->ca_file == NULL || *tls_r->ca_file == 0)
		tls_r->ca_file = rc->ca_file;
	return 0;
}

/* route_tls_for - the TLS policy of method e (precedence in route.h) */
static int route_tls_for(struct route_ctx *rc, const struct route_method *e, struct arena *a,
    struct tls_policy *tls_r, const char **src_r, const char **error_r)
{
	const char *keys[2], *v, *err;
	const struct fwd_method *m = &e->m;
	int nkeys = 0, k, r;

	memset(tls_r, 0, sizeof(*tls_r));
	tls_r->bounce = rc->bounce;
	if (e->has_tls) {
		tls_r->level = e->level;
		tls_r->ca_file = e->ca_file ? e->ca_file : rc->ca_file;
		tls_r->match_name = e->match ? route_match_expand(a, e->match, m) : NULL;
		*src_r = "tls= of the method";
		return 0;
	}
	if (rc->tls_maps != NULL) {
		size_t plen;

		keys[nkeys++] = m->spec + 5;	/* after "smtp:" / "lmtp:" */
		plen = strlen(m->ep.port);
		if (!m->ep.is_unix && strcmp(m->ep.port, m->proto == FWD_LMTP ? "24" : "25") == 0 &&
		    strlen(keys[0]) > plen + 1)
			keys[nkeys++] = arena_strndup(a, keys[0], strlen(keys[0]) - plen - 1);
		for (k = 0; k < nkeys; k++) {
			r = maps_lookup(rc->tls_maps, keys[k], a, &v, &err);
			if (r == TABLE_FAIL) {
				*error_r = arena_printf(a, "forward_tls_policy_maps: %s", err);
				return -1;
			}
			if (r == TABLE_NOTFOUND)
				continue;
			if (route_policy_parse(rc, v, m, a, tls_r, &err) < 0) {
				*error_r = arena_printf(a, "forward_tls_policy_maps: %s: %s", keys[k], err);
				return -1;
			}
			*src_r = arena_printf(a, "forward_tls_policy_maps: %s", keys[k]);
			return 0;
		}
	}
	tls_r->level = rc->level;
	tls_r->ca_file = rc->ca_file;
	*src_r = "forward_tls_security_level";
	return 0;
}

/* route_method_for - see route.h */
int route_method_for(struct route_ctx *rc, struct message *msg, size_t rcpt_index, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, const char **error_r)
{
	struct route_why why;

	return route_method_explain(rc, msg, rcpt_index, bank_method, m_r, tls_r, &why, error_r);
}

/* route_method_explain - see route.h; the one implementation of the
 * precedence, route_method_for() only drops the why */
int route_method_explain(struct route_ctx *rc, struct message *msg, size_t rcpt_index, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, struct route_why *why_r, const char **error_r)
{
	struct arena *a = msg->arena;
	const struct route_method *e = NULL;
	const char *v, *key = "", *err;
	int r;

	memset(why_r, 0, sizeof(*why_r));

	if (rcpt_index >= msg->nrcpts) {
		*error_r = "no such recipient";
		return -1;
	}
	if (rc->rcpt_maps != NULL) {
		r = maps_lookup_addr(rc->rcpt_maps, msg->rcpts[rcpt_index].addr, rc->delim, a, &v, &key, &err);
		if (r == TABLE_FAIL) {
			*error_r = arena_printf(a, "forward_method_maps: %s", err);
			return -1;
		}
		if (r == TABLE_FOUND && !route_is_dunno(v) && route_intern(rc, v, &e, &err) < 0) {
			*error_r = arena_printf(a, "forward_method_maps: %s: %s", key, err);
			return -1;
		}
		if (r == TABLE_FOUND && e != NULL) {
			why_r->source = "forward_method_maps";
			why_r->key = key;
		} else if (r == TABLE_FOUND) {
			why_r->dunno = arena_printf(a, "forward_method_maps: %s = DUNNO", key);
		}
	}
	if (e == NULL && rc->sender_maps != NULL) {
		r = route_sender_lookup(rc, msg->sender, a, &v, &key, &err);
		if (r == TABLE_FAIL) {
			*error_r = arena_printf(a, "sender_dependent_forward_method_maps: %s", err);
			return -1;
		}
		if (r == TABLE_FOUND && !route_is_dunno(v) && route_intern(rc, v, &e, &err) < 0) {
			*error_r = arena_printf(a, "sender_dependent_forward_method_maps: %s: %s", key, err);
			return -1;
		}
		if (r == TABLE_FOUND && e != NULL) {
			why_r->source = "sender_dependent_forward_method_maps";
			why_r->key = key;
		} else if (r == TABLE_FOUND) {
			why_r->dunno = arena_printf(a, "%s%ssender_dependent_forward_method_maps: %s = DUNNO",
			    why_r->dunno ? why_r->dunno : "", why_r->dunno ? "; " : "", key);
		}
	}
	if (e == NULL && bank_method != NULL && *bank_method && route_intern(rc, bank_method, &e, &err) < 0) {
		*error_r = arena_printf(a, "policy bank forward_method: %s", err);
		return -1;
	}
	if (e != NULL && why_r->source == NULL)
		why_r->source = "policy bank forward_method";
	if (e == NULL) {
		e = rc->global;
		why_r->source = "forward_method";
	}
	if (route_tls_for(rc, e, a, tls_r, &why_r->tls_source, error_r) < 0)
		return -1;
	why_r->method = e->text;
	*m_r = &e->m;
	log_debug(LOG_DBG_ROUTE, "id=%s: rcpt %zu: %s, tls %s", msg->am_id, rcpt_index, e->text,
	    tls_level_name(tls_r->level));
	return 0;
}

/* route_notify_method - see route.h */
int route_notify_method(struct route_ctx *rc, struct arena *a, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, const char **error_r)
{
	const struct route_method *e = rc->notify;
	const char *err;

	if (bank_method != NULL && *bank_method && route_intern(rc, bank_method, &e, &err) < 0) {
		*error_r = arena_printf(a, "policy bank notify_method: %s", err);
		return -1;
	}
	if (route_tls_for(rc, e, a, tls_r, &err, error_r) < 0)
		return -1;
	*m_r = &e->m;
	return 0;
}
