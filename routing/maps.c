/*
 * maps.c - ordered lists of tables, as Postfix's maps: the first table
 * that answers wins, a failure stops the search; and the address lookup
 * order of table.h (maps_lookup_addr).
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
#include "routing/table_private.h"

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

/* maps_lookup_addr - the documented address order (table.h) */
int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, struct arena *a,
    const char **value_r, const char **key_r, const char **error_r)
{
	const char *at = strrchr(addr, '@'), **keys;
	char *local, *domain = NULL, *base = NULL, *d;
	unsigned char *skip = arena_alloc(a, m->n + 1);
	size_t nkeys = 0, maxkeys, f, i, llen;
	int rc;

	*value_r = NULL;
	if (key_r != NULL)
		*key_r = NULL;
	local = table_fold(a, addr);
	if (at != NULL) {
		local[at - addr] = 0;
		domain = local + (at - addr) + 1;
	}
	llen = strlen(local);
	if (delim != NULL && *delim && llen > 1) {
		size_t pos = 1 + strcspn(local + 1, delim);

		if (pos < llen)
			base = arena_strndup(a, local, pos);
	}
	maxkeys = 8 + (domain ? strlen(domain) : 0);
	keys = arena_allocarray(a, maxkeys, sizeof(*keys));
	if (*addr == 0) {
		maps_add_key(keys, &nkeys, "<>");
	} else if (domain != NULL) {
		maps_add_key(keys, &nkeys, arena_printf(a, "%s@%s", local, domain));
		if (base != NULL)
			maps_add_key(keys, &nkeys, arena_printf(a, "%s@%s", base, domain));
		if (*domain)
			maps_add_key(keys, &nkeys, arena_printf(a, "@%s", domain));
		for (d = strchr(domain, '.'); d != NULL; d = strchr(d + 1, '.'))
			if (d[1] != 0)
				maps_add_key(keys, &nkeys, d);
		maps_add_key(keys, &nkeys, arena_printf(a, "%s@", local));
		if (base != NULL)
			maps_add_key(keys, &nkeys, arena_printf(a, "%s@", base));
	} else {
		maps_add_key(keys, &nkeys, local);
		if (base != NULL)
			maps_add_key(keys, &nkeys, base);
		maps_add_key(keys, &nkeys, arena_printf(a, "%s@", local));
		if (base != NULL)
			maps_add_key(keys, &nkeys, arena_printf(a, "%s@", base));
	}
	maps_add_key(keys, &nkeys, ".");

	/* Each key form in every table before the next form, as Postfix. */
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

const char *maps_title(const struct maps *m)
{
	return m->title;
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
