/*
 * table_inline.c - inline:{ key=value, { key = value with spaces } }:
 * a small table written in the configuration itself, as Postfix's
 * inline: type.
 *
 * Elements are separated by white space or commas. An element is either
 * key=value without white space or commas, or a braced group
 * "{ key = value }" whose value may hold white space, commas and
 * balanced braces; white space around the key and value of a group is
 * dropped. Keys are folded to lower case; a repeated key keeps its first
 * value (with a warning). Values may be empty.
 *
 * Limits: the whole table is at most TABLE_MAX_LINE bytes.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table_private.h"

/* inline_close_brace - the '}' matching the '{' at p, or NULL */
static const char *inline_close_brace(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return p;
	}
	return NULL;
}

/* inline_trim - cut white space from both ends of [*s, *e) */
static void inline_trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* inline_add - one key=value pair from [s, e) */
static int inline_add(struct table *t, struct table_hash *h, const char *s, const char *e,
    int braced, const char **error_r)
{
	const char *eq = memchr(s, '=', (size_t)(e - s)), *ke, *vs;
	char *key, *p;

	if (eq == NULL)
		return table_error(error_r, "%.200s: expected key=value in \"%.*s\"", t->spec,
		    (int)(e - s > 60 ? 60 : e - s), s), -1;
	ke = eq;
	vs = eq + 1;
	if (braced) {
		inline_trim(&s, &ke);
		inline_trim(&vs, &e);
	}
	if (ke == s)
		return table_error(error_r, "%.200s: empty key in \"%.*s\"", t->spec,
		    (int)(e - s > 60 ? 60 : e - s), s), -1;
	key = arena_strndup(t->mem, s, (size_t)(ke - s));
	for (p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (table_hash_add(h, key, arena_strndup(t->mem, vs, (size_t)(e - vs))))
		log_warning("%.200s: duplicate key \"%.100s\": the first value is used", t->spec, key);
	return 0;
}

static int inline_open(struct table *t, const char *name, const struct table_opts *o,
    const char **error_r)
{
	const char *p = name, *end = name + strlen(name), *close, *s;
	struct table_hash *h;

	if (end - p > TABLE_MAX_LINE)
		return table_error(error_r, "inline table longer than %d bytes", TABLE_MAX_LINE), -1;
	inline_trim(&p, &end);
	if (p == end || *p != '{' || (close = inline_close_brace(p, end)) == NULL ||
	    close != end - 1)
		return table_error(error_r, "%.200s: expected inline:{ key=value, ... } with "
		    "balanced braces", t->spec), -1;
	h = arena_alloc(t->mem, sizeof(*h));
	t->priv = h;
	for (p++, end--; p < end;) {
		if (isspace((unsigned char)*p) || *p == ',') {
			p++;
			continue;
		}
		if (*p == '{') {
			if ((close = inline_close_brace(p, end)) == NULL)
				return table_error(error_r, "%.200s: unbalanced '{'", t->spec), -1;
			if (inline_add(t, h, p + 1, close, 1, error_r) < 0)
				return -1;
			p = close + 1;
			continue;
		}
		for (s = p; p < end && !isspace((unsigned char)*p) && *p != ','; p++)
			if (*p == '{' || *p == '}')
				return table_error(error_r, "%.200s: brace inside \"%.*s\": put the whole "
				    "element in braces: { key = value }", t->spec,
				    (int)(p - s + 1 > 60 ? 60 : p - s + 1), s), -1;
		if (inline_add(t, h, s, p, 0, error_r) < 0)
			return -1;
	}
	return 0;
}

static int inline_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	const char *v = table_hash_find(t->priv, key);

	if (v == NULL)
		return TABLE_NOTFOUND;
	*value_r = arena_strdup(a, v);
	return TABLE_FOUND;
}

static void inline_close(struct table *t)
{
	if (t->priv != NULL)
		table_hash_free(t->priv);
}

const struct table_driver table_inline_driver = {
	.type = "inline",
	.flags = TABLE_F_FOLD,
	.open = inline_open,
	.lookup = inline_lookup,
	.close = inline_close,
};
