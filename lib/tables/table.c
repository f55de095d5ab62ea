/*
 * table.c - the registry of table types, the open-once cache, the
 * surrogate that stands in for a table that would not open, and the
 * helpers the types share: reading a table file into logical lines and a
 * seeded hash of keys.
 *
 * Deliberately left out: Postfix's proxymap and the hash:/lmdb: indexed
 * formats (texthash is read into memory instead), and dict "updates":
 * tables are read-only. A table file is read whole into memory (at most
 * TABLE_MAX_FILE bytes) and parsed from there, which is also how the
 * parsers are fuzzed.
 *
 * Limits: the cache is a list, searched linearly: fine for the few dozen
 * tables a configuration names.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table_private.h"

static const struct table_driver *const table_drivers[] = {
	&table_inline_driver, &table_texthash_driver, &table_regexp_driver,
	&table_pcre_driver, &table_cidr_driver, &table_redis_driver,
};

static struct table *table_cache;	/* open tables, for sharing */
static unsigned table_gen;		/* generation that opens share */
static unsigned table_gen_last;		/* highest generation handed out */
static char table_errbuf[1024];

/* table_error - format into the static error buffer */
const char *table_error(const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(table_errbuf, sizeof(table_errbuf), fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = table_errbuf;
	return table_errbuf;
}

/* table_opts_init - the built-in defaults */
void table_opts_init(struct table_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->redis.server = "127.0.0.1:6379";
	o->redis.db = 0;
	o->redis.key_prefix = "tollgate:";
	o->redis.password = NULL;
	o->redis.timeout_ms = 2000;
	o->redis.failure_action = TABLE_FAILURE_TEMPFAIL;
}

/* table_failure_parse - the words of redis_failure_action */
int table_failure_parse(const char *s, enum table_failure *r)
{
	if (strcmp(s, "tempfail") == 0)
		*r = TABLE_FAILURE_TEMPFAIL;
	else if (strcmp(s, "default") == 0)
		*r = TABLE_FAILURE_DEFAULT;
	else if (strcmp(s, "ignore") == 0)
		*r = TABLE_FAILURE_IGNORE;
	else
		return -1;
	return 0;
}

/* table_opts_set - one redis_* setting by name */
int table_opts_set(struct table_opts *o, const char *name, const char *value, const char **error_r)
{
	long long n;

	if (strcmp(name, "redis_server") == 0) {
		if (*value == 0) {
			*error_r = "redis_server: empty value";
			return -1;
		}
		o->redis.server = value;
	} else if (strcmp(name, "redis_db") == 0) {
		char *end;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (*value == 0 || *end || errno || n < 0 || n > 65535) {
			*error_r = "redis_db: expected a number from 0 to 65535";
			return -1;
		}
		o->redis.db = (int)n;
	} else if (strcmp(name, "redis_key_prefix") == 0) {
		o->redis.key_prefix = value;
	} else if (strcmp(name, "redis_password") == 0) {
		o->redis.password = value;
	} else if (strcmp(name, "redis_sentinel_password") == 0) {
		o->redis.sentinel_password = value;
	} else if (strcmp(name, "redis_timeout") == 0) {
		if (cfg_parse_time(value, &n) < 0 || n < 1 || n > 3600) {
			*error_r = "redis_timeout: expected a time from 1s to 1h";
			return -1;
		}
		o->redis.timeout_ms = (int)(n * 1000);
	} else if (strcmp(name, "redis_failure_action") == 0) {
		if (table_failure_parse(value, &o->redis.failure_action) < 0) {
			*error_r = "redis_failure_action: expected tempfail, default or ignore";
			return -1;
		}
	} else {
		*error_r = "unknown table setting (expected redis_server, redis_db, redis_key_prefix, "
		    "redis_password, redis_timeout or redis_failure_action)";
		return -1;
	}
	return 0;
}

/* table_driver_find - the type of "type:name"; len is the type's length */
static const struct table_driver *table_driver_find(const char *type, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(table_drivers) / sizeof(table_drivers[0]); i++)
		if (strlen(table_drivers[i]->type) == len &&
		    strncasecmp(table_drivers[i]->type, type, len) == 0)
			return table_drivers[i];
	return NULL;
}

/* table_new - an empty table object for spec */
static struct table *table_new(const struct table_driver *drv, const char *spec, size_t typelen)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->drv = drv;
	t->spec = xstrdup(spec);
	t->name = t->spec + typelen + 1;
	t->flags = drv ? drv->flags : 0;
	t->fail_action = TABLE_FAILURE_TEMPFAIL;
	t->mem = arena_create(0);
	t->refs = 1;
	t->gen = table_gen;
	return t;
}

/* table_destroy - free a table whatever its state */
static void table_destroy(struct table *t)
{
	if (t->drv != NULL && t->drv->close != NULL && t->surrogate_reason == NULL)
		t->drv->close(t);
	arena_free(&t->mem);
	free(t->surrogate_reason);
	free(t->spec);
	free(t);
}

/*
 * table_read_file - the whole file into a malloc()ed, NUL-terminated
 * buffer. The open is O_NONBLOCK so that a FIFO cannot hang start-up,
 * and only regular files are accepted.
 */
static int table_read_file(const char *path, char **text_r, size_t *len_r, const char **error_r)
{
	struct stat st;
	char *text;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		table_error(error_r, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		table_error(error_r, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > TABLE_MAX_FILE) {
		table_error(error_r, "%s: larger than %d bytes", path, TABLE_MAX_FILE);
		close(fd);
		return -1;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			table_error(error_r, "%s: read error: %s", path, strerror(errno));
			free(text);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;			/* shrank meanwhile: take what is there */
		len += (size_t)n;
	}
	close(fd);
	text[len] = 0;
	*text_r = text;
	*len_r = len;
	return 0;
}

/* table_open_fresh - open one new, uncached instance of spec */
static int table_open_fresh(struct table **t_r, const char *spec, const struct table_opts *o,
    const char **error_r)
{
	const char *colon = strchr(spec, ':');
	const struct table_driver *drv;
	struct table *t;
	int rc;

	if (colon == NULL || colon == spec) {
		table_error(error_r, "%.200s: expected type:name (inline:, texthash:, regexp:, pcre:, "
		    "cidr:, redis:)", spec);
		return -1;
	}
	if ((drv = table_driver_find(spec, (size_t)(colon - spec))) == NULL) {
		table_error(error_r, "%.200s: unsupported table type \"%.*s\" (expected inline, texthash, "
		    "regexp, pcre, cidr or redis)", spec, (int)(colon - spec > 40 ? 40 : colon - spec), spec);
		return -1;
	}
	if (colon[1] == 0) {
		table_error(error_r, "%.200s: empty table name", spec);
		return -1;
	}
	t = table_new(drv, spec, (size_t)(colon - spec));
	if (drv->parse != NULL) {
		char *text;
		size_t len;

		if (t->name[0] != '/') {
			table_error(error_r, "%.200s: the path of a %s table must be absolute", spec, drv->type);
			table_destroy(t);
			return -1;
		}
		if (table_read_file(t->name, &text, &len, error_r) < 0) {
			table_destroy(t);
			return -1;
		}
		rc = drv->parse(t, t->name, text, len, error_r);
		free(text);
	} else {
		rc = drv->open(t, t->name, o, error_r);
	}
	if (rc < 0) {
		table_destroy(t);
		return -1;
	}
	*t_r = t;
	return 0;
}

/* table_open - shared instance from the cache, else a new one */
int table_open(struct table **t_r, const char *spec, const struct table_opts *opts, int flags,
    const char **error_r)
{
	struct table_opts defaults;
	struct table *t;
	const char *err;

	for (t = table_cache; t != NULL; t = t->next) {
		if (t->gen == table_gen && strcmp(t->spec, spec) == 0) {
			if (t->surrogate_reason != NULL && !(flags & TABLE_OPEN_SURROGATE)) {
				table_error(error_r, "%s", t->surrogate_reason);
				return -1;
			}
			t->refs++;
			*t_r = t;
			return 0;
		}
	}
	if (opts == NULL) {
		table_opts_init(&defaults);
		opts = &defaults;
	}
	if (table_open_fresh(&t, spec, opts, &err) < 0) {
		if (!(flags & TABLE_OPEN_SURROGATE)) {
			*error_r = err;
			return -1;
		}
		/* The stand-in: same spec, so a later open shares it too,
		 * and every lookup fails with the reason it did not open. */
		log_error("table %.200s will not open, every lookup of it will tempfail: %s", spec, err);
		t = table_new(NULL, spec, 0);
		t->name = t->spec;
		t->surrogate_reason = xasprintf("table %.200s is unavailable: %s", spec, err);
	}
	t->cached = 1;
	t->next = table_cache;
	table_cache = t;
	*t_r = t;
	return 0;
}

/* table_open_text - parse text as a file of the given type, uncached */
int table_open_text(struct table **t_r, const char *type, const char *label, const char *text,
    size_t len, const char **error_r)
{
	const struct table_driver *drv = table_driver_find(type, strlen(type));
	struct table *t;
	char *spec;

	if (drv == NULL || drv->parse == NULL) {
		table_error(error_r, "%s: not a file table type", type);
		return -1;
	}
	spec = xasprintf("%s:%s", drv->type, label);
	t = table_new(drv, spec, strlen(drv->type));
	free(spec);
	if (drv->parse(t, label, text, len, error_r) < 0) {
		table_destroy(t);
		return -1;
	}
	*t_r = t;
	return 0;
}

/* table_close - drop a reference; free and uncache at the last one */
void table_close(struct table **tp)
{
	struct table *t = *tp, **pp;

	if (t == NULL)
		return;
	*tp = NULL;
	if (--t->refs > 0)
		return;
	if (t->cached) {
		for (pp = &table_cache; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == t) {
				*pp = t->next;
				break;
			}
		}
	}
	table_destroy(t);
}

/* table_generation_next - a fresh generation, never used before */
unsigned table_generation_next(void)
{
	unsigned prev = table_gen;

	table_gen = ++table_gen_last;
	return prev;
}

/* table_generation_restore - share the tables of gen again */
void table_generation_restore(unsigned gen)
{
	table_gen = gen;
}

/* table_fold - lower-case copy in the arena */
char *table_fold(struct arena *a, const char *s)
{
	char *f = arena_strdup(a, s), *p;

	for (p = f; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return f;
}

/* table_log_failure - one warning per failed lookup, with the action */
void table_log_failure(const struct table *t, const char *key, const char *reason)
{
	static const char *const action[] = { "tempfail", "default", "ignore" };
	char pkey[256];

	log_printable(pkey, sizeof(pkey), key, strlen(key) > 100 ? 100 : strlen(key));
	log_warning("table %.200s: lookup of \"%s\" failed: %s; action=%s", t->spec, pkey, reason,
	    t->surrogate_reason ? "tempfail" : action[t->fail_action]);
}

/* table_lookup_raw - surrogate or driver, key folded when the type wants */
int table_lookup_raw(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	*value_r = NULL;
	if (t->surrogate_reason != NULL) {
		*error_r = t->surrogate_reason;
		return TABLE_FAIL;
	}
	if (t->flags & TABLE_F_FOLD)
		key = table_fold(a, key);
	return t->drv->lookup(t, key, a, value_r, error_r);
}

/* table_lookup - one table, failure action applied and logged */
int table_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	int rc = table_lookup_raw(t, key, a, value_r, error_r);

	if (rc != TABLE_FAIL)
		return rc;
	table_log_failure(t, key, *error_r);
	if (t->surrogate_reason == NULL && t->fail_action != TABLE_FAILURE_TEMPFAIL) {
		*value_r = NULL;
		return TABLE_NOTFOUND;
	}
	return TABLE_FAIL;
}

/* table_reader_init - logical lines from text (not copied) */
void table_reader_init(struct table_reader *r, const char *label, const char *text, size_t len)
{
	r->label = label;
	r->p = text;
	r->end = text + len;
	r->lineno = 1;
	buf_init(&r->line);
}

void table_reader_free(struct table_reader *r)
{
	buf_free(&r->line);
}

/* table_reader_physical - the next physical line [*s, *e) without LF */
static int table_reader_physical(struct table_reader *r, const char **s, const char **e)
{
	const char *nl;

	if (r->p >= r->end)
		return 0;
	*s = r->p;
	nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	*e = nl ? nl : r->end;
	r->p = nl ? nl + 1 : r->end;
	return 1;
}

static int table_blank_or_comment(const char *s, const char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	return s == e || *s == '#';
}

/*
 * table_reader_next - join a line and its continuations. A line is
 * looked at before it is consumed, so the first line of the next logical
 * line stays for the next call.
 */
int table_reader_next(struct table_reader *r, char **line_r, int *lineno_r, const char **error_r)
{
	const char *s, *e, *save;
	int start = 0, ln;

	buf_reset(&r->line);
	for (;;) {
		save = r->p;
		ln = r->lineno;
		if (!table_reader_physical(r, &s, &e))
			break;
		if (memchr(s, 0, (size_t)(e - s)) != NULL) {
			table_error(error_r, "%s:%d: NUL byte in line", r->label, ln);
			return -1;
		}
		if (table_blank_or_comment(s, e)) {
			r->lineno++;
			continue;
		}
		if (isspace((unsigned char)*s)) {
			if (start == 0) {
				table_error(error_r, "%s:%d: continuation line (starts with white space) "
				    "without a line before it", r->label, ln);
				return -1;
			}
		} else if (start != 0) {
			r->p = save;		/* the next logical line: leave it */
			break;
		} else {
			start = ln;
		}
		r->lineno++;
		if (r->line.len + (size_t)(e - s) > TABLE_MAX_LINE) {
			table_error(error_r, "%s:%d: line longer than %d bytes", r->label, start,
			    TABLE_MAX_LINE);
			return -1;
		}
		buf_append(&r->line, s, (size_t)(e - s));
	}
	if (start == 0)
		return 0;
	while (r->line.len > 0 && isspace((unsigned char)r->line.data[r->line.len - 1]))
		r->line.data[--r->line.len] = 0;
	*line_r = r->line.data;
	*lineno_r = start;
	return 1;
}

/*
 * SipHash-2-4 (Aumasson and Bernstein), keyed once per process from
 * arc4random: the keys of texthash and inline tables are looked up with
 * text peers choose, so bucket placement must not be predictable.
 */
static uint64_t table_hash_key[2];
static int table_hash_seeded;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

/* table_siphash - SipHash-2-4 of n bytes under the process key */
static uint64_t table_siphash(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t k0, k1, v0, v1, v2, v3, m, b = (uint64_t)n << 56;
	size_t i, left = n & 7;

	if (!table_hash_seeded) {
		arc4random_buf(table_hash_key, sizeof(table_hash_key));
		table_hash_seeded = 1;
	}
	k0 = table_hash_key[0];
	k1 = table_hash_key[1];
	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;
	for (i = 0; i + 8 <= n; i += 8) {
		m = (uint64_t)p[i] | (uint64_t)p[i + 1] << 8 | (uint64_t)p[i + 2] << 16 |
		    (uint64_t)p[i + 3] << 24 | (uint64_t)p[i + 4] << 32 | (uint64_t)p[i + 5] << 40 |
		    (uint64_t)p[i + 6] << 48 | (uint64_t)p[i + 7] << 56;
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	while (left > 0) {
		left--;
		b |= (uint64_t)p[i + left] << (8 * left);
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* table_hash_grow - double the buckets and rechain every entry */
static void table_hash_grow(struct table_hash *h)
{
	size_t nb = h->nbuckets ? h->nbuckets * 2 : 16, i, b;

	free(h->buckets);
	h->buckets = xcalloc(nb, sizeof(*h->buckets));
	h->nbuckets = nb;
	for (i = 0; i < h->n; i++) {
		b = h->ents[i].hash & (nb - 1);
		h->ents[i].next = h->buckets[b];
		h->buckets[b] = i + 1;
	}
}

/* table_hash_add - insert unless present (then 1) */
int table_hash_add(struct table_hash *h, const char *key, const char *value)
{
	uint64_t hv;
	size_t b;

	if (table_hash_find(h, key) != NULL)
		return 1;
	hv = table_siphash(key, strlen(key));
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->ents = xreallocarray(h->ents, h->cap, sizeof(*h->ents));
	}
	h->ents[h->n].key = key;
	h->ents[h->n].value = value;
	h->ents[h->n].hash = hv;
	h->n++;
	if (h->n > h->nbuckets) {
		table_hash_grow(h);		/* rechains the new entry too */
	} else {
		b = hv & (h->nbuckets - 1);
		h->ents[h->n - 1].next = h->buckets[b];
		h->buckets[b] = h->n;
	}
	return 0;
}

/* table_hash_find - O(1) expected */
const char *table_hash_find(const struct table_hash *h, const char *key)
{
	uint64_t hv;
	size_t i;

	if (h->nbuckets == 0)
		return NULL;
	hv = table_siphash(key, strlen(key));
	for (i = h->buckets[hv & (h->nbuckets - 1)]; i != 0; i = h->ents[i - 1].next)
		if (h->ents[i - 1].hash == hv && strcmp(h->ents[i - 1].key, key) == 0)
			return h->ents[i - 1].value;
	return NULL;
}

void table_hash_free(struct table_hash *h)
{
	free(h->ents);
	free(h->buckets);
	memset(h, 0, sizeof(*h));
}
