/*
 * table.h - lookup tables and maps: one abstraction for every policy
 * lookup, named "type:name" as in Postfix.
 *
 * Types (the registry lives in lib/tables/table.c):
 *
 *   inline:{ key=value, { key = value with spaces, or commas } }
 *   texthash:/path   "key whitespace value" lines (texthash(5))
 *   regexp:/path     POSIX ERE rules "/pattern/flags result" (regexp_table(5))
 *   pcre:/path       PCRE2 rules, same syntax (pcre_table(5))
 *   cidr:/path       "network/mask result" and "address result", IPv4 and
 *                    IPv6, first match in file order (cidr_table(5))
 *   redis:NAME       GET prefix+key on a Redis server, read at lookup time
 *
 * File syntax shared by texthash, regexp, pcre and cidr: a logical line
 * starts with non-white text; a line that starts with white space
 * continues it; blank lines and lines whose first non-blank character is
 * '#' are ignored; a logical line may be at most TABLE_MAX_LINE bytes. A
 * file that cannot be read or parsed is refused with "file:line: reason".
 *
 * Key case: inline, texthash and redis fold the lookup key (and, for
 * inline and texthash, the keys of the table) to lower case, as Postfix
 * does for its indexed tables; values are never changed. regexp and pcre
 * see the key as given and match case-insensitively unless the rule says
 * otherwise (flag "i" toggles). cidr keys are addresses, where case does
 * not matter.
 *
 * Life cycle:
 *   table_open() → table_lookup()... → table_close()
 *   Each "type:name" is opened once per process and shared: a second
 *   table_open() of the same spec returns the same pointer with its
 *   reference count raised, and table_close() drops one reference. Tables
 *   are read-only after open, so forked workers share them copy-on-write.
 *   A reload calls table_generation_next() first: opens after that build
 *   new tables beside the old ones (a file is read again even when its
 *   spec is unchanged); callers swap their maps only when the whole new
 *   set opened, then close the old ones. When any open fails, the caller
 *   closes what it opened and calls table_generation_restore(), so later
 *   opens (a worker building a stacked policy bank) share the old tables
 *   again instead of reading the files that just failed.
 *   Redis tables connect lazily in the process that looks up (one
 *   connection per server, db and password in each process), so a table
 *   opened by the master connects again in each worker. The process must
 *   ignore SIGPIPE (hiredis writes with write(2); the daemon and the
 *   control tool do).
 *
 * Lookup results (int):
 *   TABLE_FOUND     *value_r is a NUL-terminated copy allocated in the
 *                   caller's arena: valid until that arena is reset.
 *   TABLE_NOTFOUND  *value_r is NULL.
 *   TABLE_FAIL      the table could not answer (Redis down, surrogate of
 *                   a table that would not open, PCRE match limit);
 *                   *error_r says why (arena or static text). The caller
 *                   must tempfail (4xx), never treat it as "not found".
 *
 * A Redis lookup that fails follows its failure action:
 *   TABLE_FAILURE_TEMPFAIL  TABLE_FAIL (the default)
 *   TABLE_FAILURE_IGNORE    this table answers "not found"; a maps search
 *                           goes on with the next table
 *   TABLE_FAILURE_DEFAULT   the whole maps search answers "not found" at
 *                           once, so the caller uses its built-in default
 * Every failure is logged (warning, with the action taken).
 *
 * Maps (ordered lists of tables, like Postfix's maps):
 *   maps_create("texthash:/etc/a, redis:fwd", ...) → maps_lookup() /
 *   maps_lookup_addr() → maps_free(). The list is split on white space
 *   and commas outside braces. The first table that answers wins; a
 *   TABLE_FAIL stops the search and is returned.
 *
 * Address lookup keys (maps_lookup_addr, maps_addr_keys): amavisd-new's
 * order for its hash lookups (make_query_keys() in its
 * Amavis::rfc2821_2822_Tools, as lookup_hash() calls it), because the
 * *_maps settings carry amavisd's names and an amavisd admin's tables
 * keep meaning what they meant; plus Postfix's "@domain". For
 * "User+Ext@Sub.Example.COM" with recipient delimiter "+", every key in
 * all tables of a maps before the next key:
 *   1. user+ext@sub.example.com   the address as is (folded, as the
 *                                 tables fold their keys)
 *   2. user@sub.example.com       without the extension
 *   3. user+ext@                  the local part, for every address
 *   4. user@                        (amavisd's hash lookups do not limit
 *                                 these to local_domains_maps; only its
 *                                 SQL and LDAP lookups do)
 *   5. sub.example.com            the domain itself
 *   6. @sub.example.com           the same, Postfix style
 *   7. .sub.example.com           the domain and its subdomains
 *   8. .example.com               each parent domain, nearest first
 *   9. .com
 *  10. .                          catch-all
 * So "example.com", "@example.com" and ".example.com" all match
 * user@example.com; ".example.com" also matches its subdomains. A key
 * form that repeats an earlier one is skipped. The extension starts at
 * the first delimiter character (the delimiter is a set, like Postfix's
 * recipient_delimiter "+-") after the first character of the local
 * part and ends at the '@'; postmaster, mailer-daemon and double-bounce
 * are never split, nor, when '-' is a delimiter, owner-foo and
 * foo-request. The domain is what follows the last '@', trailing dots
 * cut; an address literal ("[192.0.2.1]") has no parents (5, 6, then
 * "."); of forms 7-10 only the last MAPS_MAX_DOMAIN_KEYS are kept, as
 * amavisd does. An address without '@' is looked up as "user+ext",
 * "user+ext@", "user@", "."; the null address "" as "<>", "@", "."
 * (amavisd's "" becomes "<>", which no table can hold otherwise).
 * Pattern tables (regexp, pcre, cidr) are asked with the full address as
 * given (case kept, for $1 substitution) and with nothing else, as
 * Postfix and amavisd's regexp lookups do.
 * Differences from amavisd: it keeps a mixed-case key of a Perl hash
 * distinct where tollgate folds every key; it converts an international
 * domain name to ASCII (IDNA) first, tollgate looks it up as given
 * (folded in ASCII only).
 */
#ifndef TG_LIB_TABLES_TABLE_H
#define TG_LIB_TABLES_TABLE_H

#include <stddef.h>

struct arena;

enum { TABLE_FAIL = -1, TABLE_NOTFOUND = 0, TABLE_FOUND = 1 };

enum table_failure {
	TABLE_FAILURE_TEMPFAIL,
	TABLE_FAILURE_DEFAULT,
	TABLE_FAILURE_IGNORE,
};

#define TABLE_MAX_LINE (64 * 1024)	/* bytes per logical line of a table file */
#define TABLE_MAX_FILE (256 * 1024 * 1024)	/* bytes per table file */

/* Redis settings; the strings must stay valid until table_open() returns
 * (the table keeps copies). */
struct table_redis_conf {
	const char *name;		/* redis:NAME this applies to; NULL: any */
	const char *server;		/* "host:port", "[v6addr]:port", "unix:/path" or "/path" */
	int db;				/* SELECT db after connecting, when not 0 */
	const char *key_prefix;		/* GET key_prefix + key */
	const char *password;		/* AUTH password; NULL or "": none */
	const char *sentinel_password;	/* AUTH to the sentinels; NULL or "": none */
	int timeout_ms;			/* connect timeout and per-command timeout */
	enum table_failure failure_action;
};

struct table_opts {
	struct table_redis_conf redis;	/* for every redis:NAME not listed below */
	const struct table_redis_conf *redis_named;	/* per-name settings */
	size_t n_redis_named;
};

/* table_opts_init - defaults: redis 127.0.0.1:6379, db 0, prefix
 * "tollgate:", no password, 2 s, tempfail */
void table_opts_init(struct table_opts *o);
/* table_opts_set - one "name=value" setting for the default Redis
 * settings: redis_server, redis_db, redis_key_prefix, redis_password,
 * redis_sentinel_password,
 * redis_timeout (seconds, suffix s/m allowed), redis_failure_action
 * (tempfail, default, ignore). value is kept by pointer. 0, or -1 with a
 * static *error_r. */
int table_opts_set(struct table_opts *o, const char *name, const char *value, const char **error_r);
/* table_failure_parse - "tempfail", "default", "ignore"; -1 otherwise */
int table_failure_parse(const char *s, enum table_failure *r);

struct table;

/* Flags for table_open() and maps_create(). */
#define TABLE_OPEN_SURROGATE 0x01	/* on failure log an error and return a
					 * stand-in that fails every lookup */

/*
 * table_open - open "type:name" (or share the already open instance).
 * Returns 0 with *t_r set, or -1 with a "file:line: reason" (or
 * "spec: reason") message in *error_r, static until the next open. With
 * TABLE_OPEN_SURROGATE a table that will not open is logged (error) and
 * replaced by a surrogate: the call returns 0, and every lookup returns
 * TABLE_FAIL with the open error as reason. Use the surrogate in workers
 * and the hard failure in the config check. opts may be NULL (defaults).
 */
int table_open(struct table **t_r, const char *spec, const struct table_opts *opts, int flags,
    const char **error_r);
/* table_lookup - look key up; TABLE_FOUND / TABLE_NOTFOUND / TABLE_FAIL
 * as above (a Redis failure follows its failure action) */
int table_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r);
/* table_close - drop one reference; the last one frees it. Sets *tp NULL. */
void table_close(struct table **tp);
/* table_generation_next - later opens no longer share tables opened so
 * far, so every file table is read again (reload: build new beside old).
 * Returns the generation before, for table_generation_restore(). */
unsigned table_generation_next(void);
/* table_generation_restore - the reload failed: later opens share the
 * tables of generation gen again (those the running configuration
 * holds, as when they were opened). A generation number is never used
 * twice, so a table left open by the failed attempt is never shared. */
void table_generation_restore(unsigned gen);

/* regex_sane - 0 when a POSIX ERE is safe to give to regcomp(), -1 with
 * a static *error_r for patterns that would compile into exponential
 * state (adjacent quantifiers, huge repetition counts); used for every
 * regexp: table and banned_filename_re rule */
int regex_sane(const char *pattern, const char **error_r);

struct maps;

/*
 * maps_create - open every table of a list such as
 * "texthash:/etc/tollgate/fwd, inline:{ a=b, c=d }, redis:fwd".
 * title names the list in logs ("forward_method_maps"). 0 with *maps_r,
 * or -1 with *error_r (static) naming the table that failed; flags as
 * for table_open(). An empty list is valid and finds nothing.
 */
int maps_create(struct maps **maps_r, const char *title, const char *list,
    const struct table_opts *opts, int flags, const char **error_r);
/* maps_lookup - the first table that answers wins; TABLE_FAIL stops */
int maps_lookup(struct maps *m, const char *key, struct arena *a, const char **value_r,
    const char **error_r);
#define MAPS_MAX_DOMAIN_KEYS 20		/* ".domain" ... "." keys of an address */

/* maps_addr_keys - the keys maps_lookup_addr() tries for addr, in order
 * (above); delim as there. Returns how many, *keys_r and the keys in
 * arena a. */
size_t maps_addr_keys(const char *addr, const char *delim, struct arena *a, const char ***keys_r);
/* maps_lookup_addr - address lookup in the order documented above; delim
 * is the recipient delimiter set (NULL or "": no extensions). The key
 * that matched is returned in *key_r when key_r is not NULL. */
int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, struct arena *a,
    const char **value_r, const char **key_r, const char **error_r);
/* maps_free - close every table and free the list; sets *mp NULL */
void maps_free(struct maps **mp);

#endif
