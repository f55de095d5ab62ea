/*
 * table_private.h - what the table types (lib/tables/table_*.c) share with
 * the registry (lib/tables/table.c) and maps (lib/tables/maps.c): the driver
 * interface, the table object, the logical-line reader of table files,
 * the seeded hash used by inline and texthash, and the rule engine that
 * regexp and pcre have in common. Not for use outside lib/tables/ (tests
 * and the fuzz target excepted).
 */
#ifndef TG_LIB_TABLES_TABLE_PRIVATE_H
#define TG_LIB_TABLES_TABLE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/tables/table.h"

#define TABLE_F_PATTERN 0x01	/* asked with the full address only (maps_lookup_addr) */
#define TABLE_F_FOLD 0x02	/* lookup keys are folded to lower case first */

struct table;

/*
 * One table type. A file type has parse(): table.c reads the file and
 * passes its text (label: the path, for "path:line: reason"). Other types
 * have open(), which gets the name after "type:". lookup() may assume
 * the key is already folded when the type has TABLE_F_FOLD, and returns
 * the TABLE_* codes; a TABLE_FAIL is then subject to t->fail_action.
 * close() releases what open()/parse() made outside t->mem.
 */
struct table_driver {
	const char *type;
	unsigned flags;
	int (*parse)(struct table *t, const char *label, const char *text, size_t len,
	    const char **error_r);
	int (*open)(struct table *t, const char *name, const struct table_opts *o,
	    const char **error_r);
	int (*lookup)(struct table *t, const char *key, struct arena *a, const char **value_r,
	    const char **error_r);
	void (*close)(struct table *t);
};

struct table {
	const struct table_driver *drv;
	char *spec;			/* "type:name" */
	const char *name;		/* in spec, after the colon */
	unsigned flags;			/* TABLE_F_* */
	enum table_failure fail_action;	/* applied to TABLE_FAIL from lookup() */
	struct arena *mem;		/* everything the table holds; freed at close */
	void *priv;			/* the driver's state */
	char *surrogate_reason;		/* non-NULL: stand-in that fails every lookup */
	int refs;
	unsigned gen;			/* open-once generation */
	int cached;
	struct table *next;		/* in the open-once cache */
};

extern const struct table_driver table_inline_driver, table_texthash_driver,
    table_regexp_driver, table_pcre_driver, table_cidr_driver, table_redis_driver;

/* table_error - format an error into the static open-error buffer and
 * return it (also stores it in *error_r when error_r is not NULL) */
const char *table_error(const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* table_open_text - a table of file type `type` parsed from memory,
 * neither read from disk nor cached (tests and fuzzing); label names it
 * in errors. 0 or -1 with *error_r. Close with table_close(). */
int table_open_text(struct table **t_r, const char *type, const char *label, const char *text,
    size_t len, const char **error_r);

/* table_lookup_raw - the driver's answer without the failure action:
 * maps.c applies the action itself (ignore vs default) */
int table_lookup_raw(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r);
/* table_log_failure - the warning every failed lookup gets */
void table_log_failure(const struct table *t, const char *key, const char *reason);

/* Logical lines of a table file (syntax in table.h). */
struct table_reader {
	const char *label;
	const char *p, *end;
	int lineno;			/* physical line of the next read */
	struct buf line;
};

void table_reader_init(struct table_reader *r, const char *label, const char *text, size_t len);
/* table_reader_next - 1 with the next logical line (trailing white space
 * cut, modifiable until the next call) and the line number it starts
 * on, 0 at the end, -1 with *error_r ("label:line: reason") */
int table_reader_next(struct table_reader *r, char **line_r, int *lineno_r, const char **error_r);
void table_reader_free(struct table_reader *r);

/* Seeded hash of string keys (SipHash-2-4, per-process random key). */
struct table_hash_ent {
	const char *key;
	const char *value;
	uint64_t hash;
	size_t next;			/* index + 1 of the next entry in the bucket; 0: none */
};

struct table_hash {
	struct table_hash_ent *ents;
	size_t n, cap;
	size_t *buckets;		/* index + 1 of the first entry; 0: empty */
	size_t nbuckets;
};

/* table_hash_add - key and value are kept by pointer; 1 if key was
 * already there (the first value stays), else 0 */
int table_hash_add(struct table_hash *h, const char *key, const char *value);
/* table_hash_find - the value, or NULL */
const char *table_hash_find(const struct table_hash *h, const char *key);
void table_hash_free(struct table_hash *h);

/* table_fold - lower-case copy of s in arena a */
char *table_fold(struct arena *a, const char *s);

/* Rule files of regexp and pcre ("/pattern/flags result", "!/pattern/
 * result", "if /pattern/" ... "endif"), with one matching engine each. */
#define PATTERN_MAX_GROUPS 100		/* $0..$99; unset groups are empty */

struct pattern_engine {
	const char *flag_chars;		/* flags the engine accepts */
	unsigned default_flags;
	/* flag_toggle - new flags after flag c (in flag_chars) */
	unsigned (*flag_toggle)(unsigned flags, char c);
	/* compile - the pattern; *ngroups_r capturing groups; NULL with *error_r */
	void *(*compile)(const char *pattern, unsigned flags, int *ngroups_r, struct arena *a,
	    const char **error_r);
	/* match - 1 with ovec[2*i], ovec[2*i+1] = offsets of group i (both
	 * (size_t)-1 when unset) for i < nov, 0 no match, -1 with *error_r */
	int (*match)(void *re, const char *key, size_t *ovec, int nov, const char **error_r);
	void (*free)(void *re);
};

int pattern_parse(struct table *t, const struct pattern_engine *e, const char *label,
    const char *text, size_t len, const char **error_r);
int pattern_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r);
void pattern_close(struct table *t);

#endif
