/*
 * ampdp_proto.c - the AM.PDP request parser and response builder (see
 * ampdp_proto.h); pure: no I/O, no configuration, no logging.
 *
 * The parser copies at most one line (line_max + 1 bytes) before it
 * decodes it into the request arena, and stops storing attributes at
 * the limits, so one request costs at most about request_max bytes
 * whatever the peer sends. Like amavisd, a line is "name=value" or
 * "name: value" (the Postfix policy form), LF-terminated with an
 * optional CR, and a line that is neither is ignored.
 *
 * Left out: the old AM.CL protocol (amavisd dropped it too).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/text.h"
#include "workers/ampdp_proto.h"

struct ampdp_parser {
	struct ampdp_limits lim;
	struct arena *a;		/* the strings of the current request */
	char *line;			/* line_max + 1 bytes (room for a CR) */
	size_t line_len;
	int skipping;			/* the current line is too long: drop to its LF */
	int oversize;			/* the request passed request_max: drop to its end */
	size_t raw_len;			/* bytes of the current line so far, kept or not */
	int cr_only;			/* ... and they are exactly one CR */
	struct ampdp_attr *attrs;	/* malloc'd, grows up to attrs_max */
	size_t cap;
	struct ampdp_request req;
	int ready;			/* req was handed out: start afresh on the next feed */
};

/* parser_fail - remember the first thing wrong with the request */
static void parser_fail(struct ampdp_parser *p, const char *why)
{
	if (p->req.error == NULL)
		p->req.error = why;
}

struct ampdp_parser *ampdp_parser_create(const struct ampdp_limits *lim)
{
	struct ampdp_parser *p = xcalloc(1, sizeof(*p));

	if (lim)
		p->lim = *lim;
	if (p->lim.line_max == 0)
		p->lim.line_max = AMPDP_LINE_MAX;
	if (p->lim.attrs_max == 0)
		p->lim.attrs_max = AMPDP_ATTRS_MAX;
	if (p->lim.rcpts_max == 0)
		p->lim.rcpts_max = AMPDP_RCPTS_MAX;
	if (p->lim.request_max == 0)
		p->lim.request_max = AMPDP_REQUEST_MAX;
	p->a = arena_create(0);
	p->line = xmalloc(p->lim.line_max + 2);
	return p;
}

void ampdp_parser_free(struct ampdp_parser **pp)
{
	struct ampdp_parser *p = *pp;

	if (p == NULL)
		return;
	arena_free(&p->a);
	free(p->line);
	free(p->attrs);
	free(p);
	*pp = NULL;
}

/* parser_restart - forget the request handed out last time */
static void parser_restart(struct ampdp_parser *p)
{
	arena_reset(p->a);
	memset(&p->req, 0, sizeof(p->req));
	p->ready = 0;
}

size_t ampdp_decode(const char *in, size_t len, char *out)
{
	size_t o = text_unescape_hex(in, len, '%', out, NULL);

	out[o] = 0;
	return o;
}

/* has_ctl - the decoded bytes hold NUL, CR or LF */
static int has_ctl(const char *s, size_t n)
{
	return memchr(s, 0, n) != NULL || memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

/* parser_line - one complete line (no LF, no final CR): an attribute,
 * an ignored line, or (empty) the end of the request */
static void parser_line(struct ampdp_parser *p, const char *s, size_t n)
{
	const char *sep = NULL, *v;
	size_t i, nlen, vlen;
	struct ampdp_attr *at;
	char *name, *value;

	for (i = 0; i < n; i++) {
		if (s[i] == '=' || s[i] == ':') {
			sep = s + i;
			break;
		}
		if (s[i] == 0)
			break;
	}
	if (sep == NULL) {
		p->req.ignored_lines++;
		return;
	}
	nlen = (size_t)(sep - s);
	v = sep + 1;
	if (*sep == ':')
		while (v < s + n && (*v == ' ' || *v == '\t'))
			v++;
	vlen = (size_t)(s + n - v);
	name = arena_alloc(p->a, nlen + 1);
	nlen = ampdp_decode(s, nlen, name);
	if (has_ctl(name, nlen)) {
		p->req.ignored_lines++;
		return;
	}
	if (p->req.nattrs == 0 && strcmp(name, "request") != 0)
		parser_fail(p, "'request' must be the first attribute");
	else if (p->req.nattrs > 0 && strcmp(name, "request") == 0)
		parser_fail(p, "'request' given twice");
	if (p->req.nattrs >= p->lim.attrs_max) {
		parser_fail(p, "too many attributes");
		return;
	}
	if (strcmp(name, "recipient") == 0) {
		if (p->req.nrcpts >= p->lim.rcpts_max) {
			parser_fail(p, "too many recipients");
			return;
		}
		p->req.nrcpts++;
	}
	if (p->req.nattrs == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;

		if (cap > p->lim.attrs_max)
			cap = p->lim.attrs_max;
		p->attrs = xreallocarray(p->attrs, cap, sizeof(*p->attrs));
		p->cap = cap;
	}
	value = arena_alloc(p->a, vlen + 1);
	vlen = ampdp_decode(v, vlen, value);
	at = &p->attrs[p->req.nattrs++];
	at->name = name;
	at->value = value;
	at->value_len = vlen;
	at->unsafe = has_ctl(value, vlen);
}

int ampdp_parser_feed(struct ampdp_parser *p, const char *data, size_t len, size_t *used_r)
{
	size_t off = 0;

	if (p->ready)
		parser_restart(p);
	while (off < len) {
		const char *seg = data + off;
		const char *lf = memchr(seg, '\n', len - off);
		size_t n = lf ? (size_t)(lf - seg) : len - off;
		int empty;

		/* every byte counts, also those of dropped lines */
		p->req.bytes += n + (lf != NULL);
		if (p->req.bytes > p->lim.request_max && !p->oversize) {
			parser_fail(p, "request too large");
			p->oversize = 1;
		}
		if (n > 0)
			p->cr_only = p->raw_len == 0 && n == 1 && seg[0] == '\r';
		p->raw_len += n;
		if (!p->skipping && !p->oversize) {
			if (p->line_len + n > p->lim.line_max + 1) {
				parser_fail(p, "line too long");
				p->skipping = 1;
			} else {
				memcpy(p->line + p->line_len, seg, n);
				p->line_len += n;
			}
		}
		off += n;
		if (lf == NULL)
			break;
		off++;		/* the LF */
		empty = p->raw_len == 0 || (p->raw_len == 1 && p->cr_only);
		p->raw_len = 0;
		p->cr_only = 0;
		if (!empty) {
			size_t l = p->line_len;

			p->line_len = 0;
			if (p->skipping || p->oversize) {
				p->skipping = 0;
				continue;
			}
			if (p->line[l - 1] == '\r')
				l--;
			if (l > p->lim.line_max) {
				parser_fail(p, "line too long");
				continue;
			}
			parser_line(p, p->line, l);
			continue;
		}
		/* the empty line: the request is complete */
		p->line_len = 0;
		p->skipping = 0;
		p->oversize = 0;
		if (p->req.nattrs == 0)
			parser_fail(p, "missing 'request' attribute");
		p->req.attrs = p->attrs;
		p->ready = 1;
		*used_r = off;
		return AMPDP_REQUEST;
	}
	*used_r = len;
	return AMPDP_MORE;
}

const struct ampdp_request *ampdp_parser_request(const struct ampdp_parser *p)
{
	return p->ready ? &p->req : NULL;
}

size_t ampdp_parser_pending(const struct ampdp_parser *p)
{
	return p->ready ? 0 : p->req.bytes;
}

const struct ampdp_attr *ampdp_get(const struct ampdp_request *r, const char *name, size_t *n_r)
{
	const struct ampdp_attr *first = NULL;
	size_t i, n = 0;

	for (i = 0; i < r->nattrs; i++) {
		if (strcmp(r->attrs[i].name, name) != 0)
			continue;
		if (first == NULL)
			first = &r->attrs[i];
		n++;
	}
	if (n_r)
		*n_r = n;
	return first;
}

/* put_enc - s with every byte outside keep() as "%xx" (lower case, as amavisd) */
static void put_enc(struct buf *b, const char *s, int is_name)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int keep = is_name ? ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '_' || c == '-') : (c >= 0x21 && c <= 0x7e && c != '%');

		if (keep) {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

void ampdp_put(struct buf *b, const char *name, const char *const *fields, size_t nfields)
{
	size_t i;

	put_enc(b, name, 1);
	buf_putc(b, '=');
	for (i = 0; i < nfields; i++) {
		if (i)
			buf_putc(b, ' ');
		put_enc(b, fields[i] ? fields[i] : "", 0);
	}
	buf_puts(b, "\r\n");
}

void ampdp_put1(struct buf *b, const char *name, const char *value)
{
	ampdp_put(b, name, &value, 1);
}

void ampdp_end(struct buf *b)
{
	buf_puts(b, "\r\n");
}

/* digits - n decimal digits at s, 1..max of them; returns how many */
static size_t digits(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

void ampdp_split_reply(const char *reply, char code[4], char enh[16], const char **text_r)
{
	const char *p = reply ? reply : "";
	size_t a, b;

	if (!(p[0] >= '1' && p[0] <= '5' && digits(p, 3) == 3 && (p[3] == ' ' || p[3] == 0))) {
		memcpy(code, "451", 4);
		memcpy(enh, "4.5.0", 6);
		*text_r = p;
		return;
	}
	memcpy(code, p, 3);
	code[3] = 0;
	p += 3;
	if (*p == ' ')
		p++;
	/* [245].d{1,3}.d{1,3} followed by a space or the end */
	if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.' && (a = digits(p + 2, 3)) > 0 &&
	    p[2 + a] == '.' && (b = digits(p + 3 + a, 3)) > 0 && (p[3 + a + b] == ' ' || p[3 + a + b] == 0)) {
		memcpy(enh, p, 3 + a + b);
		enh[3 + a + b] = 0;
		p += 3 + a + b;
		if (*p == ' ')
			p++;
	} else {
		enh[0] = code[0] == '1' || code[0] == '3' ? '2' : code[0];
		memcpy(enh + 1, ".0.0", 5);
	}
	*text_r = p;
}
