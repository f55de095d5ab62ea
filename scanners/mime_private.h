/*
 * mime_private.h - what the files of the MIME parser share and nobody
 * else may use: the parse context, finding recording, the header-section
 * reader (mime_header.c) and the raw decoders (mime_decode.c).
 */
#ifndef TG_SCANNERS_MIME_PRIVATE_H
#define TG_SCANNERS_MIME_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "scanners/mime.h"

/* RFC 5322 2.1.1: a header line must not exceed 998 bytes */
#define MIME_MAX_HEADER_LINE	998
/* parameters kept per Content-Type / Content-Disposition field */
#define MIME_MAX_PARAMS		64
/* RFC 2231 sections per parameter (filename*0 .. filename*N) */
#define MIME_MAX_PARAM_SECTIONS	64
/* characters of a charset name in an encoded word or RFC 2231 value */
#define MIME_MAX_CHARSET	64
/* RFC 2046 5.1.1 allows 70; we accept some more, longer is "no boundary" */
#define MIME_MAX_BOUNDARY	200
/* bytes of peer text quoted in a finding's detail */
#define MIME_DETAIL_QUOTE	60

/* mime_ctx - one parse in progress */
struct mime_ctx {
	struct arena *a;
	struct mime_msg *msg;
	const char *data;
	size_t len;
	const struct mime_limits *lim;
	int parts_full;		/* max_parts reached: make no more parts */
	unsigned headers_total;	/* fields kept so far, all parts */
};

/* mime_finding - record finding f for part p (may be NULL); the detail
 * text (printf format) is kept only for the first finding of each kind */
void mime_finding(struct mime_msg *msg, struct mime_part *p, enum mime_finding f,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* mime_quote - peer text cut and escaped for the detail text of finding
 * f (arena); "" when f has its detail already */
const char *mime_quote(struct mime_msg *msg, enum mime_finding f, const char *s, size_t n);

/* mime_header_section - read the header section of p starting at start,
 * not past end; fill p->headers and the Content-* fields; returns the
 * offset where the body starts */
size_t mime_header_section(struct mime_ctx *c, struct mime_part *p, size_t start, size_t end);

/* mime_content_fields - interpret Content-Type, -Transfer-Encoding and
 * -Disposition of p (defaults: deftype/defsub, 7bit) */
void mime_content_fields(struct mime_ctx *c, struct mime_part *p,
    const char *deftype, const char *defsub);

/* mime_charset_to_utf8 - convert n bytes in charset (lower- or mixed-case,
 * NULL: us-ascii) into UTF-8 in the arena; unknown charsets are copied
 * and flagged in *findings */
char *mime_charset_to_utf8(struct arena *a, const char *charset, size_t cslen,
    const char *in, size_t n, size_t *outlen_r, uint32_t *findings);

/* raw decoders: decode in[0..n) into out (room for outmax bytes); return
 * the bytes written; *bad_r set on malformed input, *trunc_r when out
 * filled up before the input ended */
size_t mime_b64_decode(const char *in, size_t n, char *out, size_t outmax,
    int *bad_r, int *trunc_r);
size_t mime_qp_decode(const char *in, size_t n, char *out, size_t outmax,
    int *bad_r, int *trunc_r);

/* case-insensitive ASCII helpers (no locale) */
static inline unsigned char mime_lc(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int mime_eq_nocase(const char *a, size_t alen, const char *b, size_t blen);

#endif
