/*
 * table_texthash.c - texthash:/path, Postfix's texthash(5): "key value"
 * lines read into an in-memory hash at open, so a lookup costs O(1).
 *
 * A key is the first word of a logical line; the value is the rest of
 * the line, white space trimmed, and may not be empty. Keys are folded to
 * lower case. A repeated key keeps its first value with a warning, as
 * postmap does. There is no "key: value" form (that is aliases(5)).
 *
 * Deliberately left out: postmap's -r/-w duplicate modes and the
 * hash:/lmdb: indexed files (texthash reads the source directly).
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table_private.h"

static int texthash_parse(struct table *t, const char *label, const char *text, size_t len,
    const char **error_r)
{
	struct table_reader r;
	struct table_hash *h = arena_alloc(t->mem, sizeof(*h));
	char *line, *p, *key;
	int ln, rc;

	t->priv = h;
	table_reader_init(&r, label, text, len);
	while ((rc = table_reader_next(&r, &line, &ln, error_r)) > 0) {
		for (p = line; *p && !isspace((unsigned char)*p); p++)
			*p = (char)tolower((unsigned char)*p);
		if (*p == 0) {
			table_error(error_r, "%s:%d: expected \"key whitespace value\"", label, ln);
			rc = -1;
			break;
		}
		*p++ = 0;
		while (isspace((unsigned char)*p))
			p++;
		key = arena_strdup(t->mem, line);
		if (table_hash_add(h, key, arena_strdup(t->mem, p)))
			log_warning("%s:%d: duplicate key \"%.100s\": the first value is used",
			    label, ln, key);
	}
	table_reader_free(&r);
	return rc < 0 ? -1 : 0;
}

static int texthash_lookup(struct table *t, const char *key, struct arena *a,
    const char **value_r, const char **error_r)
{
	const char *v = table_hash_find(t->priv, key);

	if (v == NULL)
		return TABLE_NOTFOUND;
	*value_r = arena_strdup(a, v);
	return TABLE_FOUND;
}

static void texthash_close(struct table *t)
{
	if (t->priv != NULL)
		table_hash_free(t->priv);
}

const struct table_driver table_texthash_driver = {
	.type = "texthash",
	.flags = TABLE_F_FOLD,
	.parse = texthash_parse,
	.lookup = texthash_lookup,
	.close = texthash_close,
};
