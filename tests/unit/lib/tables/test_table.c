/*
 * test_table.c - lookup tables and maps (lib/tables/table.h): each type
 * found / not found, syntax errors with file:line, regexp and pcre
 * substitution and negation, cidr over IPv4 and IPv6, the address lookup
 * keys (amavisd-new's order), open-once sharing, the surrogate of an unreadable table, and
 * Redis against a private redis-server started (and killed by pid) here.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table.h"
#include "lib/tables/table_private.h"
#include "tests/unit/check_tap.h"

static char tmpdir[] = "/tmp/test_table.XXXXXX";
static struct arena *ar;

/* write_file - a table file in the test directory; returns its path (static per slot) */
static const char *write_file(const char *name, const char *text)
{
	static char paths[16][256];
	static int slot;
	char *path = paths[slot++ % 16];
	FILE *fp;

	snprintf(path, 256, "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* lookup - one lookup through table_lookup, value or NULL; *rc_r the code */
static const char *lookup(struct table *t, const char *key, int *rc_r)
{
	const char *v = NULL, *err = NULL;
	int rc = table_lookup(t, key, ar, &v, &err);

	if (rc_r != NULL)
		*rc_r = rc;
	if (rc == TABLE_FAIL)
		ck_assert_ptr_nonnull(err);
	return rc == TABLE_FOUND ? v : NULL;
}

/* open_file - open type:path of a fresh file with text; asserts success */
static struct table *open_file(const char *type, const char *name, const char *text)
{
	char spec[300];
	struct table *t = NULL;
	const char *err = NULL;

	snprintf(spec, sizeof(spec), "%s:%s", type, write_file(name, text));
	ck_assert_msg(table_open(&t, spec, NULL, 0, &err) == 0, "%s: %s", spec, err);
	return t;
}

/* open_error - expect text to be refused; the error must contain want */
static void open_error(const char *type, const char *text, const char *want)
{
	struct table *t = NULL;
	const char *err = NULL;
	char spec[300];

	table_generation_next();		/* a fresh open, not a cached one */
	snprintf(spec, sizeof(spec), "%s:%s", type, write_file("bad", text));
	ck_assert_msg(table_open(&t, spec, NULL, 0, &err) == -1, "accepted %s: %s", type, text);
	ck_assert_msg(err != NULL && strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"",
	    err ? err : "(null)", want);
}

static void setup(void)
{
	ar = arena_create(0);
}

static void teardown(void)
{
	arena_free(&ar);
}

START_TEST(test_inline)
{
	struct table *t = NULL;
	const char *err = NULL;
	static const char *const bad[] = {
		"inline:", "inline:{ a=b", "inline:a=b", "inline:{ a }", "inline:{ =b }",
		"inline:{ { a b } }", "inline:{ a={b} }", "inline:{ a=b } x",
	};
	size_t i;

	ck_assert_int_eq(table_open(&t, "inline:{ a=1, B=2 { c = three, with comma } ,d=}",
	    NULL, 0, &err), 0);
	ck_assert_str_eq(lookup(t, "a", NULL), "1");
	ck_assert_str_eq(lookup(t, "b", NULL), "2");
	ck_assert_str_eq(lookup(t, "B", NULL), "2");
	ck_assert_str_eq(lookup(t, "C", NULL), "three, with comma");
	ck_assert_str_eq(lookup(t, "d", NULL), "");
	ck_assert_ptr_null(lookup(t, "e", NULL));
	table_close(&t);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(table_open(&t, "inline:{}", NULL, 0, &err), 0);
	ck_assert_ptr_null(lookup(t, "a", NULL));
	table_close(&t);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		ck_assert_msg(table_open(&t, bad[i], NULL, 0, &err) == -1, "accepted %s", bad[i]);
		ck_assert_msg(err != NULL && strncmp(err, "inline:", 7) == 0, "error for %s: %s", bad[i],
		    err ? err : "(null)");
	}
}
END_TEST

START_TEST(test_texthash)
{
	struct table *t = open_file("texthash", "th",
	    "# comment\n"
	    "User@Example.COM   smtp:[10.0.0.1]:25\n"
	    "\n"
	    "long value\n"
	    "   continued here\n"
	    "    # a comment inside\n"
	    "dup first\n"
	    "dup second\n"
	    "crlf\tvalue\r\n");
	const char *err = NULL;
	int rc;

	ck_assert_str_eq(lookup(t, "user@example.com", NULL), "smtp:[10.0.0.1]:25");
	ck_assert_str_eq(lookup(t, "USER@example.com", NULL), "smtp:[10.0.0.1]:25");
	ck_assert_str_eq(lookup(t, "long", NULL), "value   continued here");
	ck_assert_str_eq(lookup(t, "dup", NULL), "first");
	ck_assert_str_eq(lookup(t, "crlf", NULL), "value");
	ck_assert_ptr_null(lookup(t, "missing", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	ck_assert_ptr_null(lookup(t, "", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	table_close(&t);

	open_error("texthash", "a b\nkeyonly\n", "/bad:2: expected \"key whitespace value\"");
	open_error("texthash", "  indented first\n", "/bad:1: continuation line");
	t = NULL;
	ck_assert_int_eq(table_open_text(&t, "texthash", "mem", "a b\nc\0d e\n", 10, &err), -1);
	ck_assert_str_eq(err, "mem:2: NUL byte in line");
	ck_assert_int_eq(table_open_text(&t, "texthash", "mem", "a b\r\nc d", 8, &err), 0);
	ck_assert_str_eq(lookup(t, "c", NULL), "d");	/* no final newline */
	ck_assert_str_eq(lookup(t, "a", NULL), "b");	/* CR LF */
	table_close(&t);
}
END_TEST

START_TEST(test_texthash_many)
{
	struct buf b = BUF_INIT;
	struct table *t;
	char key[32];
	int i;

	for (i = 0; i < 5000; i++)
		buf_printf(&b, "key%d value%d\n", i, i);
	t = open_file("texthash", "many", b.data);
	for (i = 0; i < 5000; i += 7) {
		char want[32];

		snprintf(key, sizeof(key), "key%d", i);
		snprintf(want, sizeof(want), "value%d", i);
		ck_assert_str_eq(lookup(t, key, NULL), want);
	}
	ck_assert_ptr_null(lookup(t, "key5000", NULL));
	table_close(&t);
	buf_free(&b);
}
END_TEST

START_TEST(test_line_limit)
{
	struct buf b = BUF_INIT;
	struct table *t = NULL;
	const char *err = NULL;

	/* a logical line of exactly TABLE_MAX_LINE bytes is fine, one more is not */
	buf_puts(&b, "k ");
	while (b.len < TABLE_MAX_LINE)
		buf_putc(&b, 'v');
	buf_putc(&b, '\n');
	ck_assert_int_eq(table_open_text(&t, "texthash", "mem", b.data, b.len, &err), 0);
	ck_assert_uint_eq(strlen(lookup(t, "k", NULL)), TABLE_MAX_LINE - 2);
	table_close(&t);
	b.data[--b.len] = 0;
	buf_puts(&b, "v\n");
	ck_assert_int_eq(table_open_text(&t, "texthash", "mem", b.data, b.len, &err), -1);
	ck_assert_str_eq(err, "mem:1: line longer than 65536 bytes");
	buf_free(&b);
}
END_TEST

START_TEST(test_regexp)
{
	struct table *t = open_file("regexp", "re",
	    "# Postfix regexp_table(5) syntax\n"
	    "/^(.*)\\+(.*)@example\\.com$/   user=$1 ext=${2} cost=$$5\n"
	    "/^Case@/i                      sensitive\n"
	    "if /@sub\\.example\\.com$/\n"
	    "/^a/                           in-if-a\n"
	    "if !/^ab/\n"
	    "/./                            not-ab\n"
	    "endif\n"
	    "ENDIF\n"
	    "!/@/                           no-at\n"
	    "#/(unused)/                    x\n"
	    "/^x(y)?z@/                     x[$1]\n"
	    "|^pipe/slash|                  pipe $0\n");
	const char *err = NULL;
	int rc;

	ck_assert_str_eq(lookup(t, "Joe+Ext@EXAMPLE.COM", NULL), "user=Joe ext=Ext cost=$5");
	ck_assert_str_eq(lookup(t, "Case@x", NULL), "sensitive");
	ck_assert_ptr_null(lookup(t, "case@x", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	ck_assert_str_eq(lookup(t, "abc@sub.example.com", NULL), "in-if-a");
	ck_assert_str_eq(lookup(t, "bcd@sub.example.com", NULL), "not-ab");
	ck_assert_str_eq(lookup(t, "localonly", NULL), "no-at");
	ck_assert_str_eq(lookup(t, "xz@h", NULL), "x[]");
	ck_assert_str_eq(lookup(t, "xyz@h", NULL), "x[y]");
	ck_assert_str_eq(lookup(t, "pipe/slash@h", NULL), "pipe pipe/slash");
	table_close(&t);

	t = NULL;
	ck_assert_int_eq(table_open_text(&t, "regexp", "mem", "/a\\/b/ slash\n", 13, &err), 0);
	ck_assert_str_eq(lookup(t, "xa/b", NULL), "slash");
	table_close(&t);

	open_error("regexp", "/ok/ fine\n/a(/ bad\n", "/bad:2: bad pattern");
	open_error("regexp", "/(a)/ $2\n", "/bad:1: $N in result beyond");
	open_error("regexp", "!/(a)/ $1\n", "/bad:1: $N in the result of a negated");
	open_error("regexp", "/a/\n", "/bad:1: expected a result");
	open_error("regexp", "/a/q x\n", "/bad:1: unknown flag 'q'");
	open_error("regexp", "/a x\n", "/bad:1: no closing '/'");
	open_error("regexp", "a x\n", "/bad:1: expected /pattern/");
	open_error("regexp", "/a/ x\nendif\n", "/bad:2: endif without if");
	open_error("regexp", "if /a/\n/b/ c\n", "/bad:1: if without endif");
	open_error("regexp", "/a/ $x\n", "/bad:1: bad $ in result");
}
END_TEST

START_TEST(test_pcre)
{
	struct table *t = open_file("pcre", "pcre",
	    "/^(?<user>[^@+]+)(?:\\+([^@]*))?@(.+)$/  u=$1 e=$2 d=$3\n"
	    "!/^\\d+$/ notdigits\n"
	    "/^\\d{3}$/ three\n");
	struct table *t2;
	int rc;

	ck_assert_str_eq(lookup(t, "Joe+x@Example.Com", NULL), "u=Joe e=x d=Example.Com");
	ck_assert_str_eq(lookup(t, "joe@h", NULL), "u=joe e= d=h");
	ck_assert_str_eq(lookup(t, "abc", NULL), "notdigits");
	ck_assert_ptr_null(lookup(t, "1234", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	table_close(&t);

	/* catastrophic backtracking hits the match limit: a failure, not "not found" */
	t2 = open_file("pcre", "pcre2", "/^(a+)+$/ x\n");
	ck_assert_ptr_null(lookup(t2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", &rc));
	ck_assert_int_eq(rc, TABLE_FAIL);
	ck_assert_str_eq(lookup(t2, "aaaa", NULL), "x");
	table_close(&t2);

	open_error("pcre", "/a(?/ x\n", "/bad:1: bad pattern");
	open_error("pcre", "/a/ ok\n/(b)/ $2\n", "/bad:2: $N in result beyond");
	open_error("pcre", "/a/Z x\n", "/bad:1: unknown flag 'Z'");
}
END_TEST

START_TEST(test_cidr)
{
	struct table *t = open_file("cidr", "cidr",
	    "192.0.2.1            host\n"
	    "192.0.2.0/24         net24\n"
	    "10.0.0.0/8           ten\n"
	    "2001:db8::1          v6host\n"
	    "[2001:db8:1::]/48    v6net48\n"
	    "2001:db8::/32        v6net32\n"
	    "0.0.0.0/0            any4\n"
	    "::/0                 any6\n"
	    "198.51.100.0/24      never (after /0)\n");
	const char *err = NULL;
	int rc;

	ck_assert_str_eq(lookup(t, "192.0.2.1", NULL), "host");
	ck_assert_str_eq(lookup(t, "192.0.2.2", NULL), "net24");
	ck_assert_str_eq(lookup(t, "10.255.1.1", NULL), "ten");
	ck_assert_str_eq(lookup(t, "198.51.100.1", NULL), "any4");
	ck_assert_str_eq(lookup(t, "2001:DB8::1", NULL), "v6host");
	ck_assert_str_eq(lookup(t, "2001:db8:1:2::5", NULL), "v6net48");
	ck_assert_str_eq(lookup(t, "2001:db8:ffff::5", NULL), "v6net32");
	ck_assert_str_eq(lookup(t, "::1", NULL), "any6");
	ck_assert_ptr_null(lookup(t, "not-an-address", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	ck_assert_ptr_null(lookup(t, "192.0.2.1/24", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);
	table_close(&t);

	t = NULL;
	ck_assert_int_eq(table_open_text(&t, "cidr", "mem", "192.0.2.0/25 low\n", 17, &err), 0);
	ck_assert_str_eq(lookup(t, "192.0.2.127", NULL), "low");
	ck_assert_ptr_null(lookup(t, "192.0.2.128", NULL));
	ck_assert_ptr_null(lookup(t, "::ffff:192.0.2.1", NULL));
	table_close(&t);

	open_error("cidr", "192.0.2.1/24 x\n", "/bad:1: non-null host address bits");
	open_error("cidr", "192.0.2.0/33 x\n", "/bad:1: bad mask length");
	open_error("cidr", "2001:db8::/129 x\n", "/bad:1: bad mask length");
	open_error("cidr", "192.0.2.0/ x\n", "/bad:1: bad mask length");
	open_error("cidr", "1.2.3.4 a\n192.0.2.300 x\n", "/bad:2: bad network address");
	open_error("cidr", "192.0.2.0/24\n", "/bad:1: expected \"network/mask result\"");
}
END_TEST

START_TEST(test_open_errors)
{
	struct table *t = NULL;
	const char *err = NULL;

	ck_assert_int_eq(table_open(&t, "hash:/etc/aliases", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unsupported table type \"hash\""));
	ck_assert_int_eq(table_open(&t, "noprefix", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected type:name"));
	ck_assert_int_eq(table_open(&t, "texthash:relative/path", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "must be absolute"));
	ck_assert_int_eq(table_open(&t, "cidr:/nonexistent/x", NULL, 0, &err), -1);
	ck_assert_str_eq(err, "/nonexistent/x: cannot open: No such file or directory");
	ck_assert_int_eq(table_open(&t, "regexp:/", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert_int_eq(table_open(&t, "redis:x:", NULL, 0, &err), 0);	/* name "x:" */
	table_close(&t);
	ck_assert_int_eq(table_open(&t, "texthash:", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty table name"));
}
END_TEST

START_TEST(test_open_once)
{
	struct table *a = NULL, *b = NULL, *c = NULL;
	const char *err = NULL, *path = write_file("once", "k v\n");
	char spec[300];

	snprintf(spec, sizeof(spec), "texthash:%s", path);
	ck_assert_int_eq(table_open(&a, spec, NULL, 0, &err), 0);
	ck_assert_int_eq(table_open(&b, spec, NULL, 0, &err), 0);
	ck_assert_ptr_eq(a, b);
	table_close(&b);
	ck_assert_str_eq(lookup(a, "k", NULL), "v");	/* still open for the other user */

	/* reload: a new generation builds a new table beside the old one */
	write_file("once", "k v2\n");
	table_generation_next();
	ck_assert_int_eq(table_open(&c, spec, NULL, 0, &err), 0);
	ck_assert_ptr_ne(a, c);
	ck_assert_str_eq(lookup(a, "k", NULL), "v");
	ck_assert_str_eq(lookup(c, "k", NULL), "v2");
	table_close(&a);

	/* a reload that fails goes back: the running tables are shared
	 * again, and a later reload never shares what the failed one read */
	{
		struct table *d = NULL, *e = NULL;
		unsigned g;

		write_file("once", "k v3\n");
		g = table_generation_next();
		ck_assert_int_eq(table_open(&d, spec, NULL, 0, &err), 0);
		ck_assert_str_eq(lookup(d, "k", NULL), "v3");
		table_generation_restore(g);
		ck_assert_int_eq(table_open(&e, spec, NULL, 0, &err), 0);
		ck_assert_ptr_eq(e, c);
		ck_assert_str_eq(lookup(e, "k", NULL), "v2");
		table_close(&e);
		write_file("once", "k v4\n");
		(void)table_generation_next();
		ck_assert_int_eq(table_open(&e, spec, NULL, 0, &err), 0);
		ck_assert_ptr_ne(e, c);
		ck_assert_ptr_ne(e, d);
		ck_assert_str_eq(lookup(e, "k", NULL), "v4");
		table_close(&d);
		table_close(&e);
	}
	table_close(&c);
}
END_TEST

START_TEST(test_surrogate)
{
	struct table *t = NULL, *t2 = NULL;
	const char *err = NULL, *v = NULL, *path = write_file("unreadable", "k v\n");
	struct maps *m = NULL;
	char spec[300];
	int rc;

	snprintf(spec, sizeof(spec), "texthash:%s", path);
	ck_assert_int_eq(chmod(path, 0), 0);
	if (access(path, R_OK) == 0)		/* root reads anything: make it unreadable otherwise */
		ck_assert_int_eq(unlink(path), 0);
	table_generation_next();
	ck_assert_int_eq(table_open(&t, spec, NULL, 0, &err), -1);	/* the config check */
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(table_open(&t, spec, NULL, TABLE_OPEN_SURROGATE, &err), 0);	/* a worker */
	ck_assert_ptr_null(lookup(t, "k", &rc));
	ck_assert_int_eq(rc, TABLE_FAIL);
	ck_assert_int_eq(table_lookup(t, "other", ar, &v, &err), TABLE_FAIL);
	ck_assert_ptr_nonnull(strstr(err, "is unavailable"));
	ck_assert_ptr_nonnull(strstr(err, path));
	/* shared like any table; a hard open still refuses it */
	ck_assert_int_eq(table_open(&t2, spec, NULL, TABLE_OPEN_SURROGATE, &err), 0);
	ck_assert_ptr_eq(t, t2);
	table_close(&t2);
	ck_assert_int_eq(table_open(&t2, spec, NULL, 0, &err), -1);

	/* in maps it stops the search with a failure (4xx), before later tables */
	snprintf(spec, sizeof(spec), "inline:{a=1} texthash:%s inline:{b=2}", path);
	ck_assert_int_eq(maps_create(&m, "test_maps", spec, NULL, TABLE_OPEN_SURROGATE, &err), 0);
	ck_assert_int_eq(maps_lookup(m, "a", ar, &v, &err), TABLE_FOUND);
	ck_assert_int_eq(maps_lookup(m, "b", ar, &v, &err), TABLE_FAIL);
	maps_free(&m);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(maps_create(&m, "test_maps", spec, NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "test_maps: "));
	table_close(&t);
}
END_TEST

START_TEST(test_maps)
{
	struct maps *m = NULL;
	const char *err = NULL, *v = NULL;

	ck_assert_int_eq(maps_create(&m, "fwd", "inline:{ a=first }, inline:{ { a = second }, b=2 }",
	    NULL, 0, &err), 0);
	ck_assert_int_eq(maps_lookup(m, "a", ar, &v, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "first");
	ck_assert_int_eq(maps_lookup(m, "B", ar, &v, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "2");
	ck_assert_int_eq(maps_lookup(m, "c", ar, &v, &err), TABLE_NOTFOUND);
	ck_assert_ptr_null(v);
	maps_free(&m);

	ck_assert_int_eq(maps_create(&m, "empty", "", NULL, 0, &err), 0);
	ck_assert_int_eq(maps_lookup(m, "a", ar, &v, &err), TABLE_NOTFOUND);
	maps_free(&m);
	ck_assert_int_eq(maps_create(&m, "bad", "inline:{ a=b", NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unbalanced"));
}
END_TEST

/* check_order - for each i, a table holding forms[i..] answers with forms[i] */
static void check_order(const char *addr, const char *delim, const char *const *forms, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct buf spec = BUF_INIT;
		struct maps *m = NULL;
		const char *err = NULL, *v = NULL, *key = NULL;

		buf_puts(&spec, "inline:{");
		for (j = n; j-- > i;)		/* reversed, so file order does not decide */
			buf_printf(&spec, " { %s = %zu }", forms[j], j);
		buf_puts(&spec, " }");
		table_generation_next();
		ck_assert_msg(maps_create(&m, "order", spec.data, NULL, 0, &err) == 0, "%s", err);
		ck_assert_int_eq(maps_lookup_addr(m, addr, delim, ar, &v, &key, &err), TABLE_FOUND);
		ck_assert_msg(strcmp(key, forms[i]) == 0, "%s: expected key %s, got %s", addr, forms[i], key);
		ck_assert_uint_eq(strtoul(v, NULL, 10), i);
		maps_free(&m);
		buf_free(&spec);
	}
}

START_TEST(test_addr_order)
{
	static const char *const ext[] = {
		"user+ext@sub.example.com", "user@sub.example.com", "user+ext@", "user@",
		"sub.example.com", "@sub.example.com", ".sub.example.com", ".example.com", ".com", ".",
	};
	static const char *const noext[] = {
		"user@sub.example.com", "user@", "sub.example.com", "@sub.example.com",
		".sub.example.com", ".example.com", ".com", ".",
	};
	static const char *const nodelim[] = {
		"user+ext@sub.example.com", "user+ext@", "sub.example.com", "@sub.example.com",
		".sub.example.com", ".example.com", ".com", ".",
	};
	static const char *const multi[] = {
		"user-a+b@x.org", "user@x.org", "user-a+b@", "user@", "x.org", "@x.org", ".x.org", ".org", ".",
	};
	static const char *const nodomain[] = { "postmaster+x", "postmaster+x@", "postmaster@", "." };
	static const char *const null[] = { "<>", "@", "." };
	static const char *const leading[] = { "+x@h", "+x@", "h", "@h", ".h", "." };
	static const char *const literal[] = { "a@[192.0.2.1]", "a@", "[192.0.2.1]", "@[192.0.2.1]", "." };
	struct maps *m = NULL;
	const char *err = NULL, *v = NULL, *key = NULL;

	check_order("User+Ext@Sub.Example.COM", "+", ext, 10);
	check_order("User@Sub.Example.COM", "+", noext, 8);
	check_order("User+Ext@Sub.Example.COM", NULL, nodelim, 8);
	check_order("User+Ext@Sub.Example.COM", "", nodelim, 8);
	check_order("user-a+b@x.org", "+-", multi, 9);
	check_order("postmaster+x", "+", nodomain, 4);
	check_order("", "+", null, 3);
	check_order("+x@h", "+", leading, 6);	/* a leading delimiter is no extension */
	check_order("a@[192.0.2.1]", "+", literal, 5);	/* an address literal has no parents */

	/* every key form is tried in all tables before the next form */
	ck_assert_int_eq(maps_create(&m, "o", "inline:{ .=catchall @example.com=dom } "
	    "inline:{ joe@example.com=full }", NULL, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "joe@example.com", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "full");
	ck_assert_int_eq(maps_lookup_addr(m, "ann@example.com", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "dom");
	ck_assert_int_eq(maps_lookup_addr(m, "ann@example.org", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "catchall");
	maps_free(&m);

	/* amavisd's keys: the bare domain, and ".domain" matches the domain itself */
	ck_assert_int_eq(maps_create(&m, "a", "inline:{ example.com=bare, .example.org=dot }", NULL, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "user@example.com", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "bare");
	ck_assert_int_eq(maps_lookup_addr(m, "user@sub.example.com", "+", ar, &v, &key, &err), TABLE_NOTFOUND);
	ck_assert_int_eq(maps_lookup_addr(m, "user@example.org", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "dot");
	ck_assert_int_eq(maps_lookup_addr(m, "user@a.b.example.org", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(key, ".example.org");
	maps_free(&m);
}
END_TEST

/* check_keys - maps_addr_keys(addr, delim) is exactly want[0..n) */
static void check_keys(const char *addr, const char *delim, const char *const *want, size_t n)
{
	const char **keys;
	size_t nkeys = maps_addr_keys(addr, delim, ar, &keys), i;

	for (i = 0; i < n && i < nkeys; i++)
		ck_assert_msg(strcmp(keys[i], want[i]) == 0, "%s: key %zu is %s, expected %s", addr, i, keys[i],
		    want[i]);
	ck_assert_msg(nkeys == n, "%s: %zu keys, expected %zu", addr, nkeys, n);
}

START_TEST(test_addr_keys)
{
	static const char *const owner[] = { "owner-list@example.com", "owner-list@", "example.com",
		"@example.com", ".example.com", ".com", "." };
	static const char *const owner_plus[] = { "owner-list+x@example.com", "owner-list+x@", "example.com",
		"@example.com", ".example.com", ".com", "." };
	static const char *const request[] = { "list-request@example.com", "list-request@", "example.com",
		"@example.com", ".example.com", ".com", "." };
	static const char *const daemon[] = { "mailer-daemon@example.com", "mailer-daemon@", "example.com",
		"@example.com", ".example.com", ".com", "." };
	static const char *const dots[] = { "a@example.com.", "a@example.com", "a@", "example.com",
		"@example.com", ".example.com", ".com", "." };
	static const char *const emptylocal[] = { "@example.com", "@", "example.com", ".example.com",
		".com", "." };
	static const char *const empty_ext[] = { "user+@example.com", "user@example.com", "user+@", "user@",
		"example.com", "@example.com", ".example.com", ".com", "." };
	char deep[200], *p = deep;
	const char **keys;
	size_t n, i;

	check_keys("Owner-List@Example.COM", "+-", owner, 7);	/* owner-foo: not split at '-' */
	check_keys("owner-list+x@example.com", "+-", owner_plus, 7);	/* ... at '+' neither */
	check_keys("list-request@example.com", "+-", request, 7);
	check_keys("list-request@example.com", "-", request, 7);
	check_keys("list-request@example.com", "+", request, 7);	/* no '-' delimiter: no rule needed */
	check_keys("mailer-daemon@example.com", "-", daemon, 7);
	check_keys("a@Example.COM.", "+", dots, 8);
	check_keys("@example.com", "+", emptylocal, 6);
	check_keys("user+@example.com", "+", empty_ext, 9);

	/* more than MAPS_MAX_DOMAIN_KEYS domain keys: the most specific go */
	p += sprintf(p, "u@");
	for (i = 0; i < 25; i++)
		p += sprintf(p, "l%zu.", i);
	sprintf(p, "org");
	n = maps_addr_keys(deep, "+", ar, &keys);
	ck_assert_uint_eq(n, 4 + MAPS_MAX_DOMAIN_KEYS);
	ck_assert_str_eq(keys[n - 1], ".");
	ck_assert_str_eq(keys[n - 2], ".org");
	ck_assert_str_eq(keys[4], ".l7.l8.l9.l10.l11.l12.l13.l14.l15.l16.l17.l18.l19.l20.l21.l22.l23.l24.org");
}
END_TEST

START_TEST(test_addr_pattern)
{
	struct maps *m = NULL;
	const char *err = NULL, *v = NULL, *key = NULL;
	char spec[600];

	/* pattern tables see the full address as given, and nothing else */
	snprintf(spec, sizeof(spec), "regexp:%s inline:{ @example.com=dom }",
	    write_file("addr.re", "/^([^@]+)@Example\\.COM$/ local=$1\n/^@/ partial-key\n/^\\.$/ dot\n"));
	ck_assert_int_eq(maps_create(&m, "p", spec, NULL, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "Joe+X@Example.COM", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "local=Joe+X");
	ck_assert_str_eq(key, "Joe+X@Example.COM");
	ck_assert_int_eq(maps_lookup_addr(m, "joe@example.com", "+", ar, &v, &key, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "local=joe");		/* case-insensitive by default */
	ck_assert_int_eq(maps_lookup_addr(m, "joe@sub.example.org", "+", ar, &v, &key, &err),
	    TABLE_NOTFOUND);
	maps_free(&m);
}
END_TEST

/*
 * Redis: a private redis-server on a unix socket in the test directory.
 */
static pid_t redis_pid;
static char redis_sock[300];

static int have_redis(void)
{
	return access("/usr/bin/redis-server", X_OK) == 0 || system("command -v redis-server >/dev/null 2>&1") == 0;
}

/* redis_start - run redis-server in the foreground, wait for its socket */
static void redis_start(void)
{
	redisContext *c;
	int i, fd;

	snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", tmpdir);
	redis_pid = fork();
	ck_assert_int_ge(redis_pid, 0);
	if (redis_pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock,
		    "--save", "", "--appendonly", "no", "--dir", tmpdir, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		c = redisConnectUnix(redis_sock);
		if (c != NULL && !c->err) {
			redisFree(c);
			return;
		}
		if (c != NULL)
			redisFree(c);
		usleep(50000);
	}
	ck_abort_msg("redis-server did not start");
}

/* redis_stop - kill our server by its pid and reap it */
static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
	unlink(redis_sock);
}

/* redis_set - SET (value NULL: DEL) through a connection of our own */
static void redis_set(int db, const char *key, const char *value)
{
	redisContext *c = redisConnectUnix(redis_sock);
	redisReply *r;

	ck_assert(c != NULL && !c->err);
	r = redisCommand(c, "SELECT %d", db);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	r = value ? redisCommand(c, "SET %s %s", key, value) : redisCommand(c, "DEL %s", key);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	redisFree(c);
}

/* regex_sane - patterns that make glibc's regcomp explode are refused
 * (the fuzzer's out-of-memory input), ordinary ones pass */
START_TEST(test_regex_sane)
{
	const char *err = NULL;

	ck_assert_int_eq(regex_sane("^(.*)\\+(.*)@example\\.com$", &err), 0);
	ck_assert_int_eq(regex_sane("^[a-z]{2,3}\\.x?$", &err), 0);
	ck_assert_int_eq(regex_sane("[+*]+", &err), 0);
	ck_assert_int_eq(regex_sane("a{}", &err), 0);
	ck_assert_int_eq(regex_sane("amp++++++", &err), -1);
	ck_assert_int_eq(regex_sane("a*{2}", &err), -1);
	ck_assert_int_eq(regex_sane("(a{101})", &err), -1);
	ck_assert_int_eq(regex_sane("a{1}b{1}c{1}d{1}e{1}f{1}g{1}h{1}i{1}", &err), -1);
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_redis)
{
	struct table_opts o;
	struct table_redis_conf named;
	struct table *t = NULL, *tn = NULL;
	struct maps *m = NULL;
	const char *err = NULL, *v = NULL;
	int rc, status;
	pid_t child;

	ck_assert_msg(have_redis(), "redis-server is not installed (apt-get install redis-server)");
	redis_start();
	table_opts_init(&o);
	ck_assert_int_eq(table_opts_set(&o, "redis_server", redis_sock, &err), 0);
	ck_assert_int_eq(table_opts_set(&o, "redis_timeout", "1s", &err), 0);
	ck_assert_int_eq(table_opts_set(&o, "redis_timeout", "0", &err), -1);
	ck_assert_int_eq(table_opts_set(&o, "redis_failure_action", "sometimes", &err), -1);
	ck_assert_int_eq(table_opts_set(&o, "redis_nonsense", "x", &err), -1);
	named = o.redis;
	named.name = "other";
	named.db = 3;
	named.key_prefix = "p2:";
	o.redis_named = &named;
	o.n_redis_named = 1;
	table_generation_next();

	ck_assert_int_eq(table_open(&t, "redis:fwd", &o, 0, &err), 0);
	ck_assert_int_eq(table_open(&tn, "redis:other", &o, 0, &err), 0);
	redis_set(0, "tollgate:user@example.com", "smtp:[10.0.0.1]:25");
	redis_set(3, "p2:k", "in db 3");
	ck_assert_str_eq(lookup(t, "User@Example.COM", NULL), "smtp:[10.0.0.1]:25");
	ck_assert_str_eq(lookup(tn, "k", NULL), "in db 3");
	ck_assert_ptr_null(lookup(tn, "user@example.com", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);

	/* a change in Redis applies to the next lookup, no reload */
	redis_set(0, "tollgate:user@example.com", "smtp:[10.0.0.2]:25");
	ck_assert_str_eq(lookup(t, "user@example.com", NULL), "smtp:[10.0.0.2]:25");
	redis_set(0, "tollgate:user@example.com", NULL);
	ck_assert_ptr_null(lookup(t, "user@example.com", &rc));
	ck_assert_int_eq(rc, TABLE_NOTFOUND);

	/* a forked worker gets its own connection */
	redis_set(0, "tollgate:child", "yes");
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		const char *cv = NULL, *cerr = NULL;

		_exit(table_lookup(t, "child", ar, &cv, &cerr) == TABLE_FOUND && strcmp(cv, "yes") == 0 ?
		    0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_str_eq(lookup(t, "child", NULL), "yes");	/* ours still works */

	/* a wrong-type key is a failure, not "not found" */
	{
		redisContext *c = redisConnectUnix(redis_sock);
		redisReply *r = redisCommand(c, "LPUSH tollgate:list x");

		freeReplyObject(r);
		redisFree(c);
	}
	ck_assert_ptr_null(lookup(t, "list", &rc));
	ck_assert_int_eq(rc, TABLE_FAIL);

	/* server gone: tempfail; back: found again on the next lookup */
	redis_stop();
	ck_assert_ptr_null(lookup(t, "user@example.com", &rc));
	ck_assert_int_eq(rc, TABLE_FAIL);
	ck_assert_int_eq(table_lookup(t, "user@example.com", ar, &v, &err), TABLE_FAIL);
	ck_assert_ptr_nonnull(strstr(err, "connect"));
	redis_start();
	redis_set(0, "tollgate:user@example.com", "back");
	ck_assert_str_eq(lookup(t, "user@example.com", NULL), "back");
	/* a restart behind an open connection: that lookup reconnects once */
	redis_stop();
	redis_start();
	redis_set(0, "tollgate:user@example.com", "again");
	ck_assert_str_eq(lookup(t, "user@example.com", NULL), "again");
	table_close(&t);
	table_close(&tn);

	/* failure actions inside maps, with the server down */
	redis_stop();
	table_generation_next();
	ck_assert_int_eq(table_opts_set(&o, "redis_failure_action", "ignore", &err), 0);
	ck_assert_int_eq(maps_create(&m, "m", "redis:fwd inline:{ a@b=fallback }", &o, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "a@b", "+", ar, &v, NULL, &err), TABLE_FOUND);
	ck_assert_str_eq(v, "fallback");
	maps_free(&m);
	table_generation_next();
	ck_assert_int_eq(table_opts_set(&o, "redis_failure_action", "default", &err), 0);
	ck_assert_int_eq(maps_create(&m, "m", "redis:fwd inline:{ a@b=fallback }", &o, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "a@b", "+", ar, &v, NULL, &err), TABLE_NOTFOUND);
	ck_assert_int_eq(maps_lookup(m, "a@b", ar, &v, &err), TABLE_NOTFOUND);
	maps_free(&m);
	table_generation_next();
	ck_assert_int_eq(table_opts_set(&o, "redis_failure_action", "tempfail", &err), 0);
	ck_assert_int_eq(maps_create(&m, "m", "redis:fwd inline:{ a@b=fallback }", &o, 0, &err), 0);
	ck_assert_int_eq(maps_lookup_addr(m, "a@b", "+", ar, &v, NULL, &err), TABLE_FAIL);
	maps_free(&m);

	/* a bad server setting is an open error */
	table_generation_next();
	ck_assert_int_eq(table_opts_set(&o, "redis_server", "no-port", &err), 0);
	ck_assert_int_eq(table_open(&t, "redis:fwd", &o, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "redis server"));
}
END_TEST

static Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_inline);
	tcase_add_test(tc, test_texthash);
	tcase_add_test(tc, test_texthash_many);
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_regexp);
	tcase_add_test(tc, test_pcre);
	tcase_add_test(tc, test_cidr);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_open_once);
	tcase_add_test(tc, test_surrogate);
	tcase_add_test(tc, test_maps);
	tcase_add_test(tc, test_addr_order);
	tcase_add_test(tc, test_addr_keys);
	tcase_add_test(tc, test_addr_pattern);
	tcase_add_test(tc, test_regex_sane);
	tcase_add_test(tc, test_redis);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char cmd[400];
	int rc;

	log_open("test_table", 1, NULL);
	signal(SIGPIPE, SIG_IGN);	/* as the daemon: hiredis writes to a server that went away */
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = check_tap_run(table_suite());
	redis_stop();			/* if a failed test left it running */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
