/*
 * table_pcre.c - pcre:/path, Postfix's pcre_table(5) with PCRE2: the
 * rule syntax, if/endif and $N substitution of table_regexp.c, matched
 * by PCRE2 in byte (not UTF) mode.
 *
 * Flags toggle as in Postfix: i (caseless, on by default), m
 * (multiline), s (dot matches newline), x (extended), A (anchored), E
 * (dollar matches only at the end), U (ungreedy); X (PCRE1's "extra") is
 * accepted and ignored, as PCRE2 has no such option.
 *
 * Every match runs under a match and depth limit, so a pathological
 * pattern costs bounded time; hitting the limit is a failed lookup
 * (TABLE_FAIL, so a tempfail), never "not found".
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/tables/table_private.h"

#define PCRE_MATCH_LIMIT 1000000	/* backtracking steps per match */
#define PCRE_DEPTH_LIMIT 10000
#define PCRE_HEAP_LIMIT (16 * 1024)	/* KiB */

#define PX_CASELESS 0x01
#define PX_MULTILINE 0x02
#define PX_DOTALL 0x04
#define PX_EXTENDED 0x08
#define PX_ANCHORED 0x10
#define PX_DOLLAR_ENDONLY 0x20
#define PX_UNGREEDY 0x40

struct pcre_re {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mc;
};

static unsigned pcre_flag_toggle(unsigned flags, char c)
{
	switch (c) {
	case 'i': return flags ^ PX_CASELESS;
	case 'm': return flags ^ PX_MULTILINE;
	case 's': return flags ^ PX_DOTALL;
	case 'x': return flags ^ PX_EXTENDED;
	case 'A': return flags ^ PX_ANCHORED;
	case 'E': return flags ^ PX_DOLLAR_ENDONLY;
	case 'U': return flags ^ PX_UNGREEDY;
	}
	return flags;			/* 'X': nothing in PCRE2 */
}

static void pcre_free_re(void *p)
{
	struct pcre_re *re = p;

	pcre2_match_context_free(re->mc);
	pcre2_match_data_free(re->md);
	pcre2_code_free(re->code);
}

static void *pcre_compile_re(const char *pattern, unsigned flags, int *ngroups_r, struct arena *a,
    const char **error_r)
{
	static char errbuf[256];
	struct pcre_re *re = arena_alloc(a, sizeof(*re));
	uint32_t opts = 0, ncap = 0;
	PCRE2_SIZE erroff;
	int err;

	if (flags & PX_CASELESS)
		opts |= PCRE2_CASELESS;
	if (flags & PX_MULTILINE)
		opts |= PCRE2_MULTILINE;
	if (flags & PX_DOTALL)
		opts |= PCRE2_DOTALL;
	if (flags & PX_EXTENDED)
		opts |= PCRE2_EXTENDED;
	if (flags & PX_ANCHORED)
		opts |= PCRE2_ANCHORED;
	if (flags & PX_DOLLAR_ENDONLY)
		opts |= PCRE2_DOLLAR_ENDONLY;
	if (flags & PX_UNGREEDY)
		opts |= PCRE2_UNGREEDY;
	re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &erroff, NULL);
	if (re->code == NULL) {
		char msg[200];

		pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(errbuf, sizeof(errbuf), "%s at offset %zu", msg, (size_t)erroff);
		*error_r = errbuf;
		return NULL;
	}
	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	*ngroups_r = ncap > 1000 ? 1000 : (int)ncap;
	re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mc = pcre2_match_context_create(NULL);
	if (re->md == NULL || re->mc == NULL) {
		pcre_free_re(re);
		*error_r = "out of memory";
		return NULL;
	}
	pcre2_set_match_limit(re->mc, PCRE_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mc, PCRE_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mc, PCRE_HEAP_LIMIT);
	return re;
}

static int pcre_match_re(void *p, const char *key, size_t *ovec, int nov, const char **error_r)
{
	static char errbuf[200];
	struct pcre_re *re = p;
	PCRE2_SIZE *ov;
	uint32_t have;
	int rc, i;

	rc = pcre2_match(re->code, (PCRE2_SPTR)key, strlen(key), 0, 0, re->md, re->mc);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		pcre2_get_error_message(rc, (PCRE2_UCHAR *)errbuf, sizeof(errbuf));
		*error_r = errbuf;
		return -1;
	}
	ov = pcre2_get_ovector_pointer(re->md);
	have = pcre2_get_ovector_count(re->md);
	for (i = 0; i < nov; i++) {
		if ((uint32_t)i < have && ov[2 * i] != PCRE2_UNSET) {
			ovec[2 * i] = ov[2 * i];
			ovec[2 * i + 1] = ov[2 * i + 1];
		} else {
			ovec[2 * i] = ovec[2 * i + 1] = (size_t)-1;
		}
	}
	return 1;
}

static const struct pattern_engine pcre_engine = {
	.flag_chars = "imsxAEUX",
	.default_flags = PX_CASELESS,
	.flag_toggle = pcre_flag_toggle,
	.compile = pcre_compile_re,
	.match = pcre_match_re,
	.free = pcre_free_re,
};

static int pcre_parse(struct table *t, const char *label, const char *text, size_t len,
    const char **error_r)
{
	return pattern_parse(t, &pcre_engine, label, text, len, error_r);
}

const struct table_driver table_pcre_driver = {
	.type = "pcre",
	.flags = TABLE_F_PATTERN,
	.parse = pcre_parse,
	.lookup = pattern_lookup,
	.close = pattern_close,
};
