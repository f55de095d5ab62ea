/*
 * maps.c - ordered lists of tables, as Postfix's maps: the first table
 * that answers wins, a failure stops the search; and the address lookup
 * keys of table.h (maps_lookup_addr, maps_addr_keys): amavisd-new's
 * lookup_hash() order, as its make_query_keys() builds it, plus
 * Postfix's "@domain".
 *
 * A failure follows the table's failure action (table.h): tempfail stops
 * the search with TABLE_FAIL; ignore skips that table for the rest of
 * the search (so a dead Redis is not asked once per key form); default
 * ends the search as "not found". Each failure is logged once.
 *
 * Limits: the list is split on white space and commas outside braces,
 * so inline:{ a=b, c=d } can be one element; lib/cfg.c's list splitting
 * does not know about braces, so maps settings are read as strings.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table_private.h"

struct maps {
	char *title;
	struct table **tables;
	size_t n;
};

/* maps_create - open each element of list in order */
int maps_create(struct maps **maps_r, const char *title, const char *list,
    const struct table_opts *opts, int flags, const char **error_r)
{
	struct maps *m = xcalloc(1, sizeof(*m));
	const char *p = list ? list : "", *s;
	int depth;

	m->title = xstrdup(title ? title : "maps");
	while (*p) {
		if (isspace((unsigned char)*p) || *p == ',') {
			p++;
			continue;
		}
		for (s = p, depth = 0; *p; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && depth > 0)
				depth--;
			else if (depth == 0 && (isspace((unsigned char)*p) || *p == ','))
				break;
		}
		if (depth != 0) {
			table_error(error_r, "%s: unbalanced '{' in \"%.100s\"", m->title, s);
			maps_free(&m);
			return -1;
		}
		{
			char *spec = xstrndup(s, (size_t)(p - s));
			const char *err;
			struct table *t;

			if (table_open(&t, spec, opts, flags, &err) < 0) {
				char why[1024];

				free(spec);
				strlcpy(why, err, sizeof(why));	/* err may be the buffer table_error fills */
				table_error(error_r, "%s: %s", m->title, why);
				maps_free(&m);
				return -1;
			}
			free(spec);
			m->tables = xreallocarray(m->tables, m->n + 1, sizeof(*m->tables));
			m->tables[m->n++] = t;
		}
	}
	*maps_r = m;
	return 0;
}

/*
 * maps_ask - one table, failure action applied. Returns TABLE_FOUND,
 * TABLE_NOTFOUND, TABLE_FAIL, or 2 for "stop, not found" (default).
 * An ignored table is marked in skip[] for the rest of the search.
 */
static int maps_ask(struct maps *m, size_t i, const char *key, struct arena *a,
    const char **value_r, const char **error_r, unsigned char *skip)
{
	struct table *t = m->tables[i];
	int rc = table_lookup_raw(t, key, a, value_r, error_r);

	if (rc != TABLE_FAIL)
		return rc;
	table_log_failure(t, key, *error_r);
	*value_r = NULL;
	if (t->surrogate_reason != NULL)
		return TABLE_FAIL;
	switch (t->fail_action) {
	case TABLE_FAILURE_IGNORE:
		if (skip != NULL)
			skip[i] = 1;
		return TABLE_NOTFOUND;
	case TABLE_FAILURE_DEFAULT:
		return 2;
	case TABLE_FAILURE_TEMPFAIL:
		break;
	}
	return TABLE_FAIL;
}

/* maps_lookup - the first table that answers */
int maps_lookup(struct maps *m, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	size_t i;
	int rc;

	*value_r = NULL;
	for (i = 0; i < m->n; i++) {
		rc = maps_ask(m, i, key, a, value_r, error_r, NULL);
		if (rc == TABLE_FOUND || rc == TABLE_FAIL)
			return rc;
		if (rc == 2)
			return TABLE_NOTFOUND;
	}
	return TABLE_NOTFOUND;
}

/* maps_add_key - append key to the list unless it is there already */
static void maps_add_key(const char **keys, size_t *n, const char *key)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(keys[i], key) == 0)
			return;
	keys[(*n)++] = key;
}

/*
 * maps_split_local - where the extension of a (folded) local part
 * starts, or 0 for none: at the first delimiter character after the
 * first character. As amavisd's split_localpart() and Postfix's
 * split_addr(): postmaster, mailer-daemon and double-bounce are never
 * split, and when '-' is a delimiter neither are owner-foo nor
 * foo-request.
 */
static size_t maps_split_local(const char *local, const char *delim)
{
	size_t len = strlen(local), pos;

	if (delim == NULL || *delim == 0 || len < 2)
		return 0;
	if (strcmp(local, "postmaster") == 0 || strcmp(local, "mailer-daemon") == 0 ||
	    strcmp(local, "double-bounce") == 0)
		return 0;
	if (strchr(delim, '-') != NULL &&
	    ((len > 6 && strncmp(local, "owner-", 6) == 0) ||
	    (len > 8 && strcmp(local + len - 8, "-request") == 0)))
		return 0;
	pos = 1 + strcspn(local + 1, delim);
	return pos < len ? pos : 0;
}

/* maps_addr_keys - the lookup keys of addr, in order (table.h) */
size_t maps_addr_keys(const char *addr, const char *delim, struct arena *a, const char ***keys_r)
{
	const char *at = strrchr(addr, '@'), **keys, **dkeys;
	char *local, *domain, *ext = NULL, *d, *e;
	size_t nkeys = 0, ndkeys = 0, first, i, pos;

	keys = arena_allocarray(a, 8 + MAPS_MAX_DOMAIN_KEYS, sizeof(*keys));
	local = table_fold(a, addr);
	if (*addr == 0)
		maps_add_key(keys, &nkeys, "<>");	/* amavisd's "" (no table can hold it) */
	else
		maps_add_key(keys, &nkeys, arena_strdup(a, local));	/* the address as is (tables fold) */
	domain = local + strlen(local);
	if (at != NULL) {
		local[at - addr] = 0;
		domain = local + (at - addr) + 1;
	}
	/* the domain without trailing dots */
	for (e = domain + strlen(domain); e > domain && e[-1] == '.'; e--)
		e[-1] = 0;
	if ((pos = maps_split_local(local, delim)) > 0) {
		ext = local + pos;
		local = arena_strndup(a, local, pos);
		maps_add_key(keys, &nkeys, arena_printf(a, "%s%s@%s", local, ext, domain));
	}
	maps_add_key(keys, &nkeys, arena_printf(a, "%s@%s", local, domain));
	if (ext != NULL)
		maps_add_key(keys, &nkeys, arena_printf(a, "%s%s@", local, ext));
	maps_add_key(keys, &nkeys, arena_printf(a, "%s@", local));
	if (*domain) {
		maps_add_key(keys, &nkeys, domain);
		maps_add_key(keys, &nkeys, arena_printf(a, "@%s", domain));	/* Postfix's form */
	}
	/* ".domain" (the domain and its subdomains), each parent, "."; an
	 * address literal is not split; amavisd keeps only the last
	 * MAPS_MAX_DOMAIN_KEYS of these */
	dkeys = arena_allocarray(a, strlen(domain) + 2, sizeof(*dkeys));
	if (*domain && strchr(domain, '[') == NULL) {
		dkeys[ndkeys++] = arena_printf(a, ".%s", domain);
		for (d = strchr(domain, '.'); d != NULL; d = strchr(d + 1, '.'))
			dkeys[ndkeys++] = d[1] ? d : ".";
		if (strcmp(dkeys[ndkeys - 1], ".") != 0)
			dkeys[ndkeys++] = ".";
	} else {
		dkeys[ndkeys++] = ".";
	}
	first = ndkeys > MAPS_MAX_DOMAIN_KEYS ? ndkeys - MAPS_MAX_DOMAIN_KEYS : 0;
	for (i = first; i < ndkeys; i++)
		maps_add_key(keys, &nkeys, dkeys[i]);
	*keys_r = keys;
	return nkeys;
}

/* maps_lookup_addr - every key of maps_addr_keys() in turn */
int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, struct arena *a,
    const char **value_r, const char **key_r, const char **error_r)
{
	unsigned char *skip = arena_alloc(a, m->n + 1);
	const char **keys;
	size_t nkeys, f, i;
	int rc;

	*value_r = NULL;
	if (key_r != NULL)
		*key_r = NULL;
	nkeys = maps_addr_keys(addr, delim, a, &keys);

	/* Each key in every table before the next key, as Postfix. */
	for (f = 0; f < nkeys; f++) {
		for (i = 0; i < m->n; i++) {
			const char *k = keys[f];

			if (skip[i])
				continue;
			if (m->tables[i]->flags & TABLE_F_PATTERN) {
				if (f != 0)
					continue;
				if (*addr != 0)
					k = addr;	/* pattern tables: the full address as given */
			}
			rc = maps_ask(m, i, k, a, value_r, error_r, skip);
			if (rc == TABLE_FOUND) {
				if (key_r != NULL)
					*key_r = k;
				log_debug(LOG_DBG_ROUTE, "%s: %.200s found in %s", m->title, k,
				    m->tables[i]->spec);
				return TABLE_FOUND;
			}
			if (rc == TABLE_FAIL)
				return TABLE_FAIL;
			if (rc == 2)
				return TABLE_NOTFOUND;
		}
	}
	return TABLE_NOTFOUND;
}

/* maps_free - close the tables (shared ones stay open for other users) */
void maps_free(struct maps **mp)
{
	struct maps *m = *mp;
	size_t i;

	if (m == NULL)
		return;
	*mp = NULL;
	for (i = 0; i < m->n; i++)
		table_close(&m->tables[i]);
	free(m->tables);
	free(m->title);
	free(m);
}
