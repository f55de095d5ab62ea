/*
 * table_regexp.c - regexp:/path, Postfix's regexp_table(5) with POSIX
 * extended regular expressions (regcomp), and the rule engine that
 * pcre:/path (table_pcre.c) shares.
 *
 * Rules, one per logical line, tried in file order; the first that
 * matches gives the result:
 *   /pattern/flags result     the key matches pattern
 *   !/pattern/flags result    the key does not match (no $N in result)
 *   if /pattern/flags         the rules up to the matching "endif" are
 *   if !/pattern/flags        tried only when the key matches (or not);
 *   endif                     if/endif nest; keywords in any case
 * The delimiter may be any punctuation character other than '\'; inside
 * the pattern "\<delimiter>" stands for the delimiter. regexp flags
 * toggle: i (case-insensitive matching, on by default), x (extended
 * syntax, on by default; off gives basic REs), m (newline-sensitive).
 * In the result, $1..$99 (also ${N}, $(N)) become the text of that group
 * (empty when the group did not take part) and $$ is a '$'; a group
 * number beyond the pattern's groups is an error at open.
 *
 * Deliberately left out: Postfix's check of the result for unprintable
 * characters, and any match-time limit for POSIX regexec (the glibc
 * matcher has none): pcre: has one.
 */
#include "config.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/tables/table_private.h"

enum { RULE_MATCH, RULE_IF, RULE_ENDIF };

struct pattern_rule {
	int kind;
	int negate;
	int ngroups;
	void *re;
	const char *result;
	size_t endif;			/* for RULE_IF: index of its endif */
};

struct pattern_table {
	const struct pattern_engine *engine;
	struct pattern_rule *rules;
	size_t n, cap;
};

/* pattern_keyword - line starts with word kw followed by a non-alnum */
static int pattern_keyword(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(line, kw, n) == 0 && !isalnum((unsigned char)line[n]) && line[n] != '_';
}

/* pattern_check_result - every $ form valid and in range */
static int pattern_check_result(const char *res, int ngroups, int negate, const char **why_r)
{
	const char *p;
	int n, digits;

	for (p = res; (p = strchr(p, '$')) != NULL;) {
		p++;
		if (*p == '$') {
			p++;
			continue;
		}
		if (*p == '{' || *p == '(') {
			char close = *p == '{' ? '}' : ')';

			p++;
			for (n = 0, digits = 0; isdigit((unsigned char)*p); p++, digits++)
				n = n < 1000 ? n * 10 + (*p - '0') : n;
			if (digits == 0 || *p != close) {
				*why_r = "bad ${N} in result";
				return -1;
			}
			p++;
		} else {
			for (n = 0, digits = 0; isdigit((unsigned char)*p); p++, digits++)
				n = n < 1000 ? n * 10 + (*p - '0') : n;
			if (digits == 0) {
				*why_r = "bad $ in result: write $N for group N, $$ for a '$'";
				return -1;
			}
		}
		if (negate) {
			*why_r = "$N in the result of a negated pattern";
			return -1;
		}
		if (n > ngroups || n >= PATTERN_MAX_GROUPS) {
			*why_r = "$N in result beyond the groups of the pattern";
			return -1;
		}
	}
	return 0;
}

/* pattern_expand - the result with $N replaced from ovec */
static const char *pattern_expand(struct arena *a, const char *res, const char *key,
    const size_t *ovec, int nov)
{
	struct buf b = BUF_INIT;
	const char *p, *out;
	int n;

	if (strchr(res, '$') == NULL)
		return arena_strdup(a, res);
	for (p = res; *p;) {
		if (*p != '$') {
			buf_putc(&b, *p++);
			continue;
		}
		p++;
		if (*p == '$') {
			buf_putc(&b, *p++);
			continue;
		}
		if (*p == '{' || *p == '(')
			p++;
		for (n = 0; isdigit((unsigned char)*p); p++)
			n = n < 1000 ? n * 10 + (*p - '0') : n;
		if (*p == '}' || *p == ')')
			p++;
		if (n < nov && ovec[2 * n] != (size_t)-1 && ovec[2 * n + 1] >= ovec[2 * n])
			buf_append(&b, key + ovec[2 * n], ovec[2 * n + 1] - ovec[2 * n]);
	}
	out = arena_strndup(a, b.data ? b.data : "", b.len);
	buf_free(&b);
	return out;
}

/*
 * pattern_parse_rule - one "[!]/pattern/flags" at *pp: compile it into
 * r, leave *pp after the flags. Escaped delimiters are kept escaped: both
 * engines read "\/" as a literal '/'.
 */
static int pattern_parse_rule(struct table *t, const struct pattern_engine *e, char **pp,
    struct pattern_rule *r, const char *label, int ln, const char **error_r)
{
	char *p = *pp, *pat, *end, delim;
	unsigned flags = e->default_flags;
	const char *err;

	while (*p == '!') {
		r->negate = !r->negate;
		for (p++; isspace((unsigned char)*p); p++)
			;
	}
	delim = *p;
	if (!ispunct((unsigned char)delim) || delim == '\\')
		return table_error(error_r, "%s:%d: expected /pattern/ (delimiter: any punctuation "
		    "but '\\')", label, ln), -1;
	pat = ++p;
	for (; *p && *p != delim; p++)
		if (*p == '\\' && p[1] != 0)
			p++;
	if (*p != delim)
		return table_error(error_r, "%s:%d: no closing '%c' after the pattern", label, ln,
		    delim), -1;
	end = p++;
	for (; *p && !isspace((unsigned char)*p); p++) {
		if (strchr(e->flag_chars, *p) == NULL)
			return table_error(error_r, "%s:%d: unknown flag '%c' (known: %s)", label, ln,
			    *p, e->flag_chars), -1;
		flags = e->flag_toggle(flags, *p);
	}
	*end = 0;
	if ((r->re = e->compile(pat, flags, &r->ngroups, t->mem, &err)) == NULL)
		return table_error(error_r, "%s:%d: bad pattern /%.100s/: %s", label, ln, pat, err), -1;
	*pp = p;
	return 0;
}

/* pattern_parse - read the rules of a regexp or pcre file */
int pattern_parse(struct table *t, const struct pattern_engine *e, const char *label,
    const char *text, size_t len, const char **error_r)
{
	struct pattern_table *pt = arena_alloc(t->mem, sizeof(*pt));
	struct table_reader rd;
	size_t *stack = NULL, depth = 0, *iflines = NULL;
	char *line, *p;
	const char *why = "";
	int ln, rc;

	pt->engine = e;
	t->priv = pt;
	table_reader_init(&rd, label, text, len);
	while ((rc = table_reader_next(&rd, &line, &ln, error_r)) > 0) {
		struct pattern_rule r;

		memset(&r, 0, sizeof(r));
		p = line;
		if (pattern_keyword(p, "endif")) {
			for (p += 5; isspace((unsigned char)*p); p++)
				;
			if (*p != 0 || depth == 0) {
				table_error(error_r, "%s:%d: %s", label, ln, *p ? "text after endif" :
				    "endif without if");
				rc = -1;
				break;
			}
			r.kind = RULE_ENDIF;
			pt->rules[stack[--depth]].endif = pt->n;
		} else if (pattern_keyword(p, "if")) {
			for (p += 2; isspace((unsigned char)*p); p++)
				;
			r.kind = RULE_IF;
			if (pattern_parse_rule(t, e, &p, &r, label, ln, error_r) < 0) {
				rc = -1;
				break;
			}
			while (isspace((unsigned char)*p))
				p++;
			if (*p != 0) {
				e->free(r.re);
				table_error(error_r, "%s:%d: text after if /pattern/", label, ln);
				rc = -1;
				break;
			}
			stack = xreallocarray(stack, depth + 1, sizeof(*stack));
			iflines = xreallocarray(iflines, depth + 1, sizeof(*iflines));
			stack[depth] = pt->n;
			iflines[depth++] = (size_t)ln;
		} else {
			r.kind = RULE_MATCH;
			if (pattern_parse_rule(t, e, &p, &r, label, ln, error_r) < 0) {
				rc = -1;
				break;
			}
			while (isspace((unsigned char)*p))
				p++;
			if (*p == 0 || pattern_check_result(p, r.ngroups, r.negate, &why) < 0) {
				e->free(r.re);
				table_error(error_r, "%s:%d: %s", label, ln, *p ? why :
				    "expected a result after /pattern/");
				rc = -1;
				break;
			}
			r.result = arena_strdup(t->mem, p);
		}
		if (pt->n == pt->cap) {
			pt->cap = pt->cap ? pt->cap * 2 : 16;
			pt->rules = xreallocarray(pt->rules, pt->cap, sizeof(*pt->rules));
		}
		pt->rules[pt->n++] = r;
	}
	if (rc == 0 && depth > 0) {
		table_error(error_r, "%s:%zu: if without endif", label, iflines[depth - 1]);
		rc = -1;
	}
	free(stack);
	free(iflines);
	table_reader_free(&rd);
	return rc < 0 ? -1 : 0;
}

/* pattern_lookup - first matching rule, skipping if-blocks that fail */
int pattern_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	struct pattern_table *pt = t->priv;
	size_t ovec[2 * PATTERN_MAX_GROUPS];
	size_t i;
	int m, nov;

	for (i = 0; i < pt->n; i++) {
		struct pattern_rule *r = &pt->rules[i];

		if (r->kind == RULE_ENDIF)
			continue;
		nov = r->negate || r->kind == RULE_IF ? 0 :
		    r->ngroups + 1 < PATTERN_MAX_GROUPS ? r->ngroups + 1 : PATTERN_MAX_GROUPS;
		if ((m = pt->engine->match(r->re, key, ovec, nov, error_r)) < 0)
			return TABLE_FAIL;
		if (r->negate)
			m = !m;
		if (r->kind == RULE_IF) {
			if (!m)
				i = r->endif;
			continue;
		}
		if (m) {
			*value_r = pattern_expand(a, r->result, key, ovec, nov);
			return TABLE_FOUND;
		}
	}
	return TABLE_NOTFOUND;
}

void pattern_close(struct table *t)
{
	struct pattern_table *pt = t->priv;
	size_t i;

	if (pt == NULL)
		return;
	for (i = 0; i < pt->n; i++)
		if (pt->rules[i].re != NULL)
			pt->engine->free(pt->rules[i].re);
	free(pt->rules);
}

/* The POSIX engine. */
#define RX_ICASE 0x1
#define RX_EXTENDED 0x2
#define RX_NEWLINE 0x4

static unsigned regexp_flag_toggle(unsigned flags, char c)
{
	switch (c) {
	case 'i': return flags ^ RX_ICASE;
	case 'x': return flags ^ RX_EXTENDED;
	case 'm': return flags ^ RX_NEWLINE;
	}
	return flags;
}

/*
 * regex_sane - refuse POSIX EREs that glibc's regcomp() compiles into
 * exponential state: adjacent quantifiers ("a++", "a*{2}", undefined in
 * POSIX anyway), repetition counts above REGEX_MAX_COUNT, more than
 * REGEX_MAX_BRACES counted repetitions, patterns over REGEX_MAX_LEN
 * bytes. Found by fuzzing: "x+++...+" took gigabytes to compile.
 */
#define REGEX_MAX_LEN 4096
#define REGEX_MAX_COUNT 100
#define REGEX_MAX_BRACES 8

int regex_sane(const char *p, const char **error_r)
{
	int prev_quant = 0, braces = 0, in_bracket = 0;
	size_t len = strlen(p);

	if (len > REGEX_MAX_LEN) {
		*error_r = "regular expression too long";
		return -1;
	}
	for (; *p; p++) {
		int quant = 0;

		if (in_bracket) {
			if (*p == ']' && in_bracket > 1)
				in_bracket = 0;
			else
				in_bracket++;
			continue;
		}
		switch (*p) {
		case '\\':
			if (p[1])
				p++;
			break;
		case '[':
			in_bracket = 1;
			if (p[1] == '^')
				p++;
			if (p[1] == ']')
				p++, in_bracket++;
			break;
		case '*': case '+': case '?':
			quant = 1;
			break;
		case '{': {
			char *end;
			long n = strtol(p + 1, &end, 10);
			long m = n;

			if (end == p + 1)
				break;	/* a literal brace */
			if (*end == ',') {
				m = end[1] == '}' ? 0 : strtol(end + 1, &end, 10);
				if (*end == ',')
					end++;
			}
			if (n > REGEX_MAX_COUNT || m > REGEX_MAX_COUNT || ++braces > REGEX_MAX_BRACES) {
				*error_r = "repetition count too large (at most 100, and 8 counted repetitions)";
				return -1;
			}
			quant = 1;
			break;
		}
		default:
			break;
		}
		if (quant && prev_quant) {
			*error_r = "adjacent quantifiers (e.g. \"a++\") are not allowed";
			return -1;
		}
		prev_quant = quant;
	}
	return 0;
}

static void *regexp_compile(const char *pattern, unsigned flags, int *ngroups_r, struct arena *a,
    const char **error_r)
{
	static char errbuf[256];
	regex_t *re = arena_alloc(a, sizeof(*re));
	int cflags = 0, rc;

	if (flags & RX_ICASE)
		cflags |= REG_ICASE;
	if (flags & RX_EXTENDED)
		cflags |= REG_EXTENDED;
	if (flags & RX_NEWLINE)
		cflags |= REG_NEWLINE;
	if (regex_sane(pattern, error_r) < 0)
		return NULL;
	if ((rc = regcomp(re, pattern, cflags)) != 0) {
		regerror(rc, re, errbuf, sizeof(errbuf));
		*error_r = errbuf;
		return NULL;
	}
	*ngroups_r = re->re_nsub > 1000 ? 1000 : (int)re->re_nsub;
	return re;
}

static int regexp_match(void *re, const char *key, size_t *ovec, int nov, const char **error_r)
{
	regmatch_t pm[PATTERN_MAX_GROUPS];
	int rc, i;

	rc = regexec(re, key, (size_t)nov, nov ? pm : NULL, 0);
	if (rc == REG_NOMATCH)
		return 0;
	if (rc != 0) {
		*error_r = "regexec failed (out of memory?)";
		return -1;
	}
	for (i = 0; i < nov; i++) {
		ovec[2 * i] = pm[i].rm_so < 0 ? (size_t)-1 : (size_t)pm[i].rm_so;
		ovec[2 * i + 1] = pm[i].rm_eo < 0 ? (size_t)-1 : (size_t)pm[i].rm_eo;
	}
	return 1;
}

static void regexp_free(void *re)
{
	regfree(re);
}

static const struct pattern_engine regexp_engine = {
	.flag_chars = "ixm",
	.default_flags = RX_ICASE | RX_EXTENDED,
	.flag_toggle = regexp_flag_toggle,
	.compile = regexp_compile,
	.match = regexp_match,
	.free = regexp_free,
};

static int regexp_parse(struct table *t, const char *label, const char *text, size_t len,
    const char **error_r)
{
	return pattern_parse(t, &regexp_engine, label, text, len, error_r);
}

const struct table_driver table_regexp_driver = {
	.type = "regexp",
	.flags = TABLE_F_PATTERN,
	.parse = regexp_parse,
	.lookup = pattern_lookup,
	.close = pattern_close,
};
