/*
 * badheader.c - a bad header section, amavisd's check_header_validity:
 * the MIME parser's findings about the header sections (8-bit data,
 * control characters, over-long lines, bad syntax, missing and
 * duplicate fields, broken MIME structure) as one kind and one text.
 * The check and its adapter to the scanner interface (scanners.h).
 *
 * Left out: CC_BADH_SPACE (a folded line of white space only) has no MIME
 * finding yet, so it is never reported.
 */
#include "config.h"

#include <string.h>

#include "lib/category.h"
#include "lib/mem.h"
#include "scanners/content.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

/* badh_from_mime - bad-header facts from the MIME findings.
 *
 * Mapping (kind, amavisd's text): MISSING_BOUNDARY, BAD_CTE → 1 "MIME
 * error"; 8BIT_HEADER → 2; NUL (in a header) and CONTROL_CHAR → 3 (NUL
 * in a body → 1); LONG_HEADER_LINE → 5; BAD_HEADER_SYNTAX and
 * UNTERMINATED_HEADER → 6; MISSING_HEADER → 7; DUPLICATE_HEADER → 8.
 * Not bad headers: HEADER/DEPTH/PARTS/DECODED_LIMIT (the caller may make
 * them UNCHECKED over limits), BAD_ENCODED_WORD, UNKNOWN_CHARSET,
 * BAD_BASE64, BAD_QP (amavisd does not flag them either).
 */
int badh_from_mime(struct arena *a, const struct mime_msg *m, unsigned *kind_r, const char **text_r)
{
	static const struct {
		enum mime_finding f;
		unsigned kind;
		const char *text;
	} map[] = {
		{ MIME_F_MISSING_BOUNDARY, CC_BADH_MIME, "MIME error" },
		{ MIME_F_BAD_CTE, CC_BADH_MIME, "MIME error" },
		{ MIME_F_8BIT_HEADER, CC_BADH_8BIT, "Non-encoded 8-bit data" },
		{ MIME_F_NUL, CC_BADH_CHAR, "Improper use of control character" },
		{ MIME_F_CONTROL_CHAR, CC_BADH_CHAR, "Improper use of control character" },
		{ MIME_F_LONG_HEADER_LINE, CC_BADH_LONG, "Header line longer than 998 characters" },
		{ MIME_F_BAD_HEADER_SYNTAX, CC_BADH_SYNTAX, "Invalid header field syntax" },
		{ MIME_F_UNTERMINATED_HEADER, CC_BADH_SYNTAX, "Invalid header field syntax" },
		{ MIME_F_MISSING_HEADER, CC_BADH_MISSING, "Missing required header field" },
		{ MIME_F_DUPLICATE_HEADER, CC_BADH_DUPL, "Duplicate header field" },
	};
	unsigned best = 0, k;
	const char *text = NULL;
	int found = 0;

	if (m == NULL)
		return 0;
	for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		const char *detail, *t = map[k].text;
		unsigned kind = map[k].kind;

		if (!(m->findings & MIME_FBIT(map[k].f)))
			continue;
		detail = m->detail[map[k].f];
		if (map[k].f == MIME_F_NUL && detail && !strstr(detail, "header") && !strstr(detail, "parameter")) {
			kind = CC_BADH_MIME;
			t = "MIME error";
		}
		if (!found || kind > best) {
			best = kind;
			text = detail && *detail ? arena_printf(a, "%s: %s", t, detail) : t;
		}
		found = 1;
	}
	if (!found)
		return 0;
	*kind_r = best;
	*text_r = arena_printable(a, text, CONTENT_TEXT_MAX);
	return 1;
}

/* badh_scan - struct scanner adapter: the findings of in->mime */
static int badh_scan(void *ctx, const struct scan_input *in, struct scan_verdict *v_r)
{
	unsigned kind = 0;
	const char *text = NULL;

	(void)ctx;
	memset(v_r, 0, sizeof(*v_r));
	v_r->scanner = "badh";
	if (badh_from_mime(in->arena, in->mime, &kind, &text)) {
		v_r->status = SCAN_BAD_HEADER;
		v_r->kind = kind;
		v_r->reason = text;
	}
	return 0;
}

/* badh_scanner - see content.h */
void badh_scanner(struct scanner *s_r)
{
	s_r->name = "badh";
	s_r->scan = badh_scan;
	s_r->ctx = NULL;
}
