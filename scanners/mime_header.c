/*
 * mime_header.c - header sections of the MIME parser: fields and folding,
 * the Content-Type / Content-Transfer-Encoding / Content-Disposition
 * fields with their parameters (RFC 2045, RFC 2183, RFC 2231
 * continuations and charsets), RFC 2047 encoded words, and the few
 * charset conversions to UTF-8 we do ourselves.
 *
 * Deliberately left out: iconv (charsets other than utf-8, us-ascii,
 * iso-8859-1, iso-8859-15 and windows-1252 are kept as they are and
 * flagged), address parsing, and any header semantics beyond what the
 * tree and the bad-header findings need.
 *
 * Limits: MIME_MAX_PARAMS, MIME_MAX_PARAM_SECTIONS, MIME_MAX_CHARSET
 * (mime_private.h) and the section limits in struct mime_limits.
 */
#include "config.h"

#include <string.h>

#include "lib/mem.h"
#include "lib/text.h"
#include "scanners/mime_private.h"

/* byte classes of header text */
enum { HC_OK = 0, HC_8BIT, HC_CTL, HC_NUL };

/* fields that may occur once (RFC 5322 3.6, RFC 2045); K_MSG: checked only
 * in a message header, K_PART: also in a body part header */
#define K_MSG	0x01
#define K_PART	0x02

enum known_field {
	KF_FROM, KF_SENDER, KF_REPLY_TO, KF_TO, KF_CC, KF_BCC, KF_DATE,
	KF_SUBJECT, KF_MESSAGE_ID, KF_IN_REPLY_TO, KF_REFERENCES,
	KF_MIME_VERSION, KF_CONTENT_TYPE, KF_CTE, KF_CONTENT_DISPOSITION,
	KF_COUNT, KF_NONE = KF_COUNT
};

static const struct {
	const char *name;
	size_t len;
	unsigned where;
} known_fields[KF_COUNT] = {
	[KF_FROM] = { "from", 4, K_MSG },
	[KF_SENDER] = { "sender", 6, K_MSG },
	[KF_REPLY_TO] = { "reply-to", 8, K_MSG },
	[KF_TO] = { "to", 2, K_MSG },
	[KF_CC] = { "cc", 2, K_MSG },
	[KF_BCC] = { "bcc", 3, K_MSG },
	[KF_DATE] = { "date", 4, K_MSG },
	[KF_SUBJECT] = { "subject", 7, K_MSG },
	[KF_MESSAGE_ID] = { "message-id", 10, K_MSG },
	[KF_IN_REPLY_TO] = { "in-reply-to", 11, K_MSG },
	[KF_REFERENCES] = { "references", 10, K_MSG },
	[KF_MIME_VERSION] = { "mime-version", 12, K_MSG },
	[KF_CONTENT_TYPE] = { "content-type", 12, K_MSG | K_PART },
	[KF_CTE] = { "content-transfer-encoding", 25, K_MSG | K_PART },
	[KF_CONTENT_DISPOSITION] = { "content-disposition", 19, K_MSG | K_PART },
};

/* section - state of one header section being read */
struct section {
	struct mime_part *p;
	struct mime_header **tail;
	unsigned seen;			/* bits of known fields met */
	const char *name;		/* field being collected, or NULL */
	size_t name_len;
	size_t raw_start, raw_end;	/* its value in the message */
	int limit_noted;
};

static unsigned char hdr_class[256];
static int tables_ready;

/* tables_init - byte class tables, built once (idempotent) */
static void tables_init(void)
{
	int i;

	if (tables_ready)
		return;
	for (i = 0; i < 256; i++) {
		hdr_class[i] = i >= 0x80 ? HC_8BIT : (i < 0x20 || i == 0x7f) ? HC_CTL : HC_OK;
	}
	hdr_class['\t'] = HC_OK;
	hdr_class[0] = HC_NUL;
	tables_ready = 1;
}

/* mime_eq_nocase - ASCII case-insensitive equality of two byte strings */
int mime_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (mime_lc((unsigned char)a[i]) != mime_lc((unsigned char)b[i]))
			return 0;
	return 1;
}

/* known_field - index of a field that may occur once, or KF_NONE */
static enum known_field known_field(const char *name, size_t len)
{
	int i;

	for (i = 0; i < KF_COUNT; i++)
		if (known_fields[i].len == len &&
		    mime_eq_nocase(name, len, known_fields[i].name, len))
			return (enum known_field)i;
	return KF_NONE;
}

/* unfold - copy a raw value without its line breaks, trimmed, into the arena */
static char *unfold(struct arena *a, const char *raw, size_t n, size_t *len_r)
{
	char *out = arena_alloc(a, n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char ch = raw[i];

		if (ch == '\n')
			continue;
		if (ch == '\r' && i + 1 < n && raw[i + 1] == '\n')
			continue;
		out[o++] = ch;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\r'))
		o--;
	i = 0;
	while (i < o && (out[i] == ' ' || out[i] == '\t'))
		i++;
	if (i)
		memmove(out, out + i, o - i);
	o -= i;
	out[o] = 0;
	*len_r = o;
	return out;
}

/* field_finish - store the field being collected (if any) in the part */
static void field_finish(struct mime_ctx *c, struct section *s)
{
	struct mime_part *p = s->p;
	struct mime_header *h;
	enum known_field k;

	if (s->name == NULL)
		return;
	if (p->nheaders >= c->lim->max_headers ||
	    c->headers_total >= c->lim->max_headers_total) {
		if (!s->limit_noted)
			mime_finding(c->msg, p, MIME_F_HEADER_LIMIT,
			    "part %u: more than %u header fields in the part or %u in the message",
			    p->index, c->lim->max_headers, c->lim->max_headers_total);
		s->limit_noted = 1;
		s->name = NULL;
		return;
	}
	h = arena_alloc(c->a, sizeof(*h));
	h->name = arena_strndup(c->a, s->name, s->name_len);
	h->name_len = strlen(h->name);
	h->raw = c->data + s->raw_start;
	h->raw_len = s->raw_end - s->raw_start;
	h->value = unfold(c->a, h->raw, h->raw_len, &h->value_len);
	*s->tail = h;
	s->tail = &h->next;
	p->nheaders++;
	c->headers_total++;
	s->name = NULL;

	k = known_field(h->name, h->name_len);
	if (k == KF_NONE)
		return;
	if (!(known_fields[k].where & ((p->flags & MIME_PART_MESSAGE) ? K_MSG : K_PART)))
		return;
	if (s->seen & (1u << k))
		mime_finding(c->msg, p, MIME_F_DUPLICATE_HEADER,
		    "part %u: duplicate header field %s", p->index, known_fields[k].name);
	s->seen |= 1u << k;
}

/* line_check - flag 8-bit bytes, NULs and control bytes in one header line */
static void line_check(struct mime_ctx *c, struct mime_part *p, size_t pos, size_t end)
{
	const unsigned char *d = (const unsigned char *)c->data;
	unsigned seen = 0;
	size_t i;

	for (i = pos; i < end; i++)
		seen |= 1u << hdr_class[d[i]];
	if (!(seen & ~1u))
		return;
	if (seen & (1u << HC_8BIT))
		mime_finding(c->msg, p, MIME_F_8BIT_HEADER,
		    "part %u: 8-bit byte in header: %s", p->index,
		    mime_quote(c->msg, MIME_F_8BIT_HEADER, c->data + pos, end - pos));
	if (seen & (1u << HC_NUL))
		mime_finding(c->msg, p, MIME_F_NUL, "part %u: NUL byte in header", p->index);
	if (seen & (1u << HC_CTL))
		mime_finding(c->msg, p, MIME_F_CONTROL_CHAR,
		    "part %u: control character in header: %s", p->index,
		    mime_quote(c->msg, MIME_F_CONTROL_CHAR, c->data + pos, end - pos));
}

/* field_name_len - length of a valid field name before ':' in line, or 0
 * when the line is not a header field. Obsolete white space before the
 * colon (RFC 5322 4.5.) is allowed and not part of the name. */
static size_t field_name_len(const char *line, size_t n, size_t *colon_r)
{
	size_t i, name_end;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == ':' || ch == ' ' || ch == '\t')
			break;
		if (ch < 33 || ch > 126)
			return 0;
	}
	name_end = i;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= n || line[i] != ':' || name_end == 0)
		return 0;
	*colon_r = i;
	return name_end;
}

/* mime_header_section - read fields line by line until the empty line.
 * A line that is no field ends the section early (it is the first body
 * line, as mail clients read it); a section over max_header_bytes ends at
 * the limit. Both are flagged. */
size_t mime_header_section(struct mime_ctx *c, struct mime_part *p, size_t start, size_t end)
{
	struct section s;
	size_t pos = start;

	tables_init();
	memset(&s, 0, sizeof(s));
	s.p = p;
	s.tail = &p->headers;

	while (pos < end) {
		const char *line = c->data + pos;
		const char *nl = memchr(line, '\n', end - pos);
		size_t line_end = nl ? (size_t)(nl - c->data) : end;
		size_t next = nl ? line_end + 1 : end;
		size_t cend = line_end, colon, nlen;

		if (cend > pos && c->data[cend - 1] == '\r')
			cend--;
		if (cend == pos) {		/* empty line: the body follows */
			field_finish(c, &s);
			return next;
		}
		if (next - start > c->lim->max_header_bytes) {
			field_finish(c, &s);
			mime_finding(c->msg, p, MIME_F_UNTERMINATED_HEADER,
			    "part %u: header section over %zu bytes", p->index,
			    c->lim->max_header_bytes);
			return pos;
		}
		if (nl == NULL && end == c->len)
			mime_finding(c->msg, p, MIME_F_UNTERMINATED_HEADER,
			    "part %u: message ends inside a header line", p->index);
		if (cend - pos > MIME_MAX_HEADER_LINE)
			mime_finding(c->msg, p, MIME_F_LONG_HEADER_LINE,
			    "part %u: header line of %zu bytes", p->index, cend - pos);
		line_check(c, p, pos, cend);

		if (line[0] == ' ' || line[0] == '\t') {
			size_t i = pos;

			while (i < cend && (c->data[i] == ' ' || c->data[i] == '\t'))
				i++;
			if (s.name == NULL) {
				mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
				    "part %u: continuation line without a field: %s", p->index,
				    mime_quote(c->msg, MIME_F_BAD_HEADER_SYNTAX, line, cend - pos));
			} else {
				if (i == cend)
					mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
					    "part %u: folded line of white space only", p->index);
				s.raw_end = cend;
			}
			pos = next;
			continue;
		}
		nlen = field_name_len(line, cend - pos, &colon);
		if (nlen == 0) {
			/* not a field: the header section ends without its empty
			 * line, and this line is the first of the body */
			field_finish(c, &s);
			if (pos == start)
				p->flags |= MIME_PART_NO_HEADER;
			if (pos != start || (p->flags & MIME_PART_MESSAGE))
				mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
				    "part %u: not a header field: %s", p->index,
				    mime_quote(c->msg, MIME_F_BAD_HEADER_SYNTAX, line, cend - pos));
			return pos;
		}
		field_finish(c, &s);
		s.name = line;
		s.name_len = nlen;
		s.raw_start = pos + colon + 1;
		s.raw_end = cend;
		pos = next;
	}
	field_finish(c, &s);
	return end;
}

/*
 * Structured field values: a tiny RFC 2045 lexer over an unfolded value.
 */

struct lex {
	const char *s, *end;
};

/* is_tspecial - RFC 2045 tspecials, plus white space and controls */
static int is_tspecial(unsigned char ch)
{
	return ch <= ' ' || ch == 0x7f || strchr("()<>@,;:\\\"/[]?=", ch) != NULL;
}

/* lex_cfws - skip white space and (nested) comments */
static void lex_cfws(struct lex *l)
{
	while (l->s < l->end) {
		if (*l->s == ' ' || *l->s == '\t' || *l->s == '\r' || *l->s == '\n') {
			l->s++;
		} else if (*l->s == '(') {
			unsigned depth = 0;

			for (; l->s < l->end; l->s++) {
				if (*l->s == '\\' && l->s + 1 < l->end)
					l->s++;
				else if (*l->s == '(')
					depth++;
				else if (*l->s == ')' && --depth == 0) {
					l->s++;
					break;
				}
			}
		} else {
			break;
		}
	}
}

/* lex_token - a token (lower-cased when lower), or NULL */
static char *lex_token(struct arena *a, struct lex *l, int lower)
{
	const char *b = l->s;
	char *t;
	size_t i;

	while (l->s < l->end && !is_tspecial((unsigned char)*l->s))
		l->s++;
	if (l->s == b)
		return NULL;
	t = arena_strndup(a, b, (size_t)(l->s - b));
	if (lower)
		for (i = 0; t[i]; i++)
			t[i] = (char)mime_lc((unsigned char)t[i]);
	return t;
}

/* lex_quoted - a quoted string, unescaped; an unclosed one runs to the end */
static char *lex_quoted(struct arena *a, struct lex *l, int *bad_r)
{
	char *out = arena_alloc(a, (size_t)(l->end - l->s) + 1);
	size_t o = 0;

	l->s++;			/* opening quote */
	while (l->s < l->end && *l->s != '"') {
		if (*l->s == '\\' && l->s + 1 < l->end)
			l->s++;
		out[o++] = *l->s++;
	}
	if (l->s < l->end)
		l->s++;
	else
		*bad_r = 1;
	out[o] = 0;
	return out;
}

/* raw_param - one parameter as written, before RFC 2231 assembly */
struct raw_param {
	char *base;		/* lower-case name without "*N*" */
	int section;		/* -1: not sectioned */
	int extended;		/* value is charset'lang'%XX (section 0) or %XX */
	char *value;
	int used;
};

/* pct_decode - RFC 2231 %XX decoding into out; returns bytes written */
static size_t pct_decode(const char *in, size_t n, char *out, int *bad_r)
{
	return text_unescape_hex(in, n, '%', out, bad_r);
}

/* assemble - join the sections of parameter base (RFC 2231 3., 4.) and
 * convert them to UTF-8. Sections are taken in numeric order; gaps and
 * duplicates are flagged, what exists is used. */
static char *assemble(struct mime_ctx *c, struct mime_part *p, struct raw_param *rp,
    unsigned n, unsigned first)
{
	struct raw_param *sec[MIME_MAX_PARAM_SECTIONS];
	unsigned nsec = 0, i, j;
	size_t total = 0, o = 0, cslen = 0, outlen;
	const char *charset = NULL;
	char *bytes;
	int bad = 0;
	uint32_t f = 0;

	for (i = first; i < n; i++) {
		if (rp[i].used || rp[i].section < 0 || strcmp(rp[i].base, rp[first].base) != 0)
			continue;
		rp[i].used = 1;
		if (nsec == MIME_MAX_PARAM_SECTIONS) {
			bad = 1;
			continue;
		}
		/* insertion sort by section number: at most 64 entries */
		for (j = nsec; j > 0 && sec[j - 1]->section > rp[i].section; j--)
			sec[j] = sec[j - 1];
		sec[j] = &rp[i];
		nsec++;
		total += strlen(rp[i].value);
	}
	for (i = 0; i < nsec; i++)
		if (sec[i]->section != (int)i)
			bad = 1;
	bytes = arena_alloc(c->a, total + 1);
	for (i = 0; i < nsec; i++) {
		const char *v = sec[i]->value;
		size_t vlen = strlen(v);

		if (sec[i]->extended && i == 0 && sec[i]->section == 0) {
			const char *q1 = memchr(v, '\'', vlen), *q2;

			q2 = q1 ? memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v)) : NULL;
			if (q2) {
				charset = v;
				cslen = (size_t)(q1 - v);
				vlen -= (size_t)(q2 + 1 - v);
				v = q2 + 1;
			} else {
				bad = 1;
			}
		}
		if (sec[i]->extended)
			o += pct_decode(v, vlen, bytes + o, &bad);
		else {
			memcpy(bytes + o, v, vlen);
			o += vlen;
		}
	}
	bytes[o] = 0;
	if (bad)
		mime_finding(c->msg, p, MIME_F_BAD_ENCODED_WORD,
		    "part %u: malformed RFC 2231 parameter %s", p->index, rp[first].base);
	if (cslen > MIME_MAX_CHARSET)
		cslen = MIME_MAX_CHARSET;
	if (memchr(bytes, 0, o) != NULL)
		mime_finding(c->msg, p, MIME_F_NUL, "part %u: NUL in parameter %s",
		    p->index, rp[first].base);
	{
		char *u = mime_charset_to_utf8(c->a, charset && cslen ? charset : NULL, cslen,
		    bytes, o, &outlen, &f);

		if (f)
			mime_finding(c->msg, p, MIME_F_UNKNOWN_CHARSET,
			    "part %u: parameter %s in charset %s", p->index, rp[first].base,
			    mime_quote(c->msg, MIME_F_UNKNOWN_CHARSET, charset, cslen));
		return u;
	}
}

/* parse_params - the ";"-separated parameters of a structured value into
 * a list, RFC 2231 sections joined. Lenient on purpose: an unquoted value
 * with spaces or specials runs to the next ";" (mail clients do read it so,
 * and a file name must not hide behind a parser difference). */
static struct mime_param *parse_params(struct mime_ctx *c, struct mime_part *p,
    struct lex *l, const char *field)
{
	struct raw_param rp[MIME_MAX_PARAMS];
	struct mime_param *head = NULL, **tail = &head;
	unsigned n = 0, i;
	int bad = 0, many = 0;

	for (;;) {
		char *name, *star, *value;
		int section = -1, extended = 0;

		lex_cfws(l);
		while (l->s < l->end && *l->s == ';') {
			l->s++;
			lex_cfws(l);
		}
		if (l->s >= l->end)
			break;
		name = lex_token(c->a, l, 1);
		if (name == NULL)
			name = (char *)"";
		lex_cfws(l);
		if (name[0] == 0 || l->s >= l->end || *l->s != '=') {
			bad = 1;	/* skip to the next parameter */
			while (l->s < l->end && *l->s != ';')
				l->s++;
			continue;
		}
		l->s++;
		lex_cfws(l);
		if (l->s < l->end && *l->s == '"') {
			value = lex_quoted(c->a, l, &bad);
		} else {
			const char *b = l->s;
			size_t vlen;

			value = lex_token(c->a, l, 0);
			lex_cfws(l);
			if (value == NULL || (l->s < l->end && *l->s != ';')) {
				/* not a token: take all up to ";" */
				l->s = b;
				while (l->s < l->end && *l->s != ';')
					l->s++;
				vlen = (size_t)(l->s - b);
				while (vlen > 0 && (b[vlen - 1] == ' ' || b[vlen - 1] == '\t'))
					vlen--;
				value = arena_strndup(c->a, b, vlen);
				bad = 1;
			}
		}
		/* name*N*, name*N, name* */
		if ((star = strchr(name, '*')) != NULL) {
			char *q = star + 1;

			*star = 0;
			if (*q >= '0' && *q <= '9') {
				section = 0;
				while (*q >= '0' && *q <= '9' && section < 10000)
					section = section * 10 + (*q++ - '0');
				if (*q == '*') {
					extended = 1;
					q++;
				}
			} else {
				extended = 1;	/* name*=: one extended section */
				section = 0;
			}
			if (*q != 0)
				bad = 1;
		}
		if (n == MIME_MAX_PARAMS) {
			many = 1;
			continue;
		}
		rp[n].base = name;
		rp[n].section = section;
		rp[n].extended = extended;
		rp[n].value = value;
		rp[n].used = 0;
		n++;
	}
	if (bad)
		mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
		    "part %u: malformed %s parameters", p->index, field);
	if (many)
		mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
		    "part %u: more than %u %s parameters", p->index, MIME_MAX_PARAMS, field);

	for (i = 0; i < n; i++) {
		struct mime_param *mp, *old;
		const char *v;

		if (rp[i].used)
			continue;
		v = rp[i].section >= 0 ? assemble(c, p, rp, n, i) : rp[i].value;
		rp[i].used = 1;
		for (old = head; old; old = old->next)
			if (strcmp(old->name, rp[i].base) == 0)
				break;
		if (old) {
			/* RFC 2231 form wins over the plain one, else the first */
			mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
			    "part %u: duplicate %s parameter %s", p->index, field, rp[i].base);
			if (rp[i].section >= 0)
				old->value = v;
			continue;
		}
		mp = arena_alloc(c->a, sizeof(*mp));
		mp->name = rp[i].base;
		mp->value = v;
		*tail = mp;
		tail = &mp->next;
	}
	return head;
}

/* file_name - a name parameter as UTF-8: RFC 2231 values are decoded
 * already; a plain value may carry RFC 2047 words (Outlook writes them) */
static const char *file_name(struct mime_ctx *c, struct mime_part *p, const char *v)
{
	uint32_t f = 0;
	const char *out;

	if (v == NULL)
		return NULL;
	out = strstr(v, "=?") ? mime_decode_words(c->a, v, strlen(v), &f) : v;
	if (f & MIME_FBIT(MIME_F_BAD_ENCODED_WORD))
		mime_finding(c->msg, p, MIME_F_BAD_ENCODED_WORD,
		    "part %u: malformed encoded word in file name", p->index);
	if (f & MIME_FBIT(MIME_F_UNKNOWN_CHARSET))
		mime_finding(c->msg, p, MIME_F_UNKNOWN_CHARSET,
		    "part %u: file name in an unknown charset", p->index);
	return out;
}

/* mime_content_fields - type, parameters, encoding, disposition, file name */
void mime_content_fields(struct mime_ctx *c, struct mime_part *p,
    const char *deftype, const char *defsub)
{
	const struct mime_header *h;
	struct lex l;

	tables_init();
	p->type = deftype;
	p->subtype = defsub;
	p->cte = MIME_CTE_7BIT;

	if ((h = mime_header_first(p, "content-type")) != NULL) {
		char *type, *sub = NULL;

		l.s = h->value;
		l.end = h->value + h->value_len;
		lex_cfws(&l);
		type = lex_token(c->a, &l, 1);
		lex_cfws(&l);
		if (type && l.s < l.end && *l.s == '/') {
			l.s++;
			lex_cfws(&l);
			sub = lex_token(c->a, &l, 1);
		}
		if (type && sub) {
			p->type = type;
			p->subtype = sub;
		} else {
			/* RFC 2045 5.2: an invalid type means text/plain */
			mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
			    "part %u: bad Content-Type: %s", p->index,
			    mime_quote(c->msg, MIME_F_BAD_HEADER_SYNTAX, h->value, h->value_len));
			p->type = "text";
			p->subtype = "plain";
			while (l.s < l.end && *l.s != ';')
				l.s++;
		}
		p->params = parse_params(c, p, &l, "Content-Type");
		p->charset = mime_param_get(p->params, "charset");
		if (p->charset) {
			char *cs = arena_strdup(c->a, p->charset);
			size_t i;

			for (i = 0; cs[i]; i++)
				cs[i] = (char)mime_lc((unsigned char)cs[i]);
			p->charset = cs;
		}
		p->boundary = mime_param_get(p->params, "boundary");
	}

	if ((h = mime_header_first(p, "content-transfer-encoding")) != NULL) {
		const char *v;

		l.s = h->value;
		l.end = h->value + h->value_len;
		lex_cfws(&l);
		v = lex_token(c->a, &l, 1);
		if (v == NULL || strcmp(v, "7bit") == 0)
			p->cte = MIME_CTE_7BIT;
		else if (strcmp(v, "8bit") == 0)
			p->cte = MIME_CTE_8BIT;
		else if (strcmp(v, "binary") == 0)
			p->cte = MIME_CTE_BINARY;
		else if (strcmp(v, "quoted-printable") == 0)
			p->cte = MIME_CTE_QP;
		else if (strcmp(v, "base64") == 0)
			p->cte = MIME_CTE_BASE64;
		else
			p->cte = MIME_CTE_UNKNOWN;
		if (v == NULL || p->cte == MIME_CTE_UNKNOWN)
			mime_finding(c->msg, p, MIME_F_BAD_CTE,
			    "part %u: unknown Content-Transfer-Encoding: %s", p->index,
			    mime_quote(c->msg, MIME_F_BAD_CTE, h->value, h->value_len));
	}

	if ((h = mime_header_first(p, "content-disposition")) != NULL) {
		l.s = h->value;
		l.end = h->value + h->value_len;
		lex_cfws(&l);
		p->disposition = lex_token(c->a, &l, 1);
		if (p->disposition == NULL)
			mime_finding(c->msg, p, MIME_F_BAD_HEADER_SYNTAX,
			    "part %u: bad Content-Disposition: %s", p->index,
			    mime_quote(c->msg, MIME_F_BAD_HEADER_SYNTAX, h->value, h->value_len));
		while (l.s < l.end && *l.s != ';')
			l.s++;
		p->disp_params = parse_params(c, p, &l, "Content-Disposition");
	}

	p->filename = file_name(c, p, mime_param_get(p->disp_params, "filename"));
	if (p->filename == NULL || p->filename[0] == 0)
		p->filename = file_name(c, p, mime_param_get(p->params, "name"));
}

/* mime_param_get - look a parameter up by its lower-case name */
const char *mime_param_get(const struct mime_param *list, const char *name)
{
	for (; list; list = list->next)
		if (strcmp(list->name, name) == 0)
			return list->value;
	return NULL;
}

/*
 * Charsets.
 */

/* windows-1252 0x80..0x9f as Unicode (0: undefined, kept as U+FFFD) */
static const unsigned short cp1252_hi[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

enum cs { CS_COPY, CS_LATIN1, CS_LATIN9, CS_CP1252, CS_UNKNOWN };

/* charset_kind - how to convert charset name cs[0..n) */
static enum cs charset_kind(const char *cs, size_t n)
{
	static const struct {
		const char *name;
		enum cs kind;
	} names[] = {
		{ "utf-8", CS_COPY }, { "utf8", CS_COPY }, { "us-ascii", CS_COPY },
		{ "ascii", CS_COPY }, { "ansi_x3.4-1968", CS_COPY },
		{ "iso-8859-1", CS_LATIN1 }, { "iso8859-1", CS_LATIN1 },
		{ "iso_8859-1", CS_LATIN1 }, { "latin1", CS_LATIN1 }, { "l1", CS_LATIN1 },
		{ "iso-8859-15", CS_LATIN9 }, { "iso8859-15", CS_LATIN9 },
		{ "latin9", CS_LATIN9 },
		{ "windows-1252", CS_CP1252 }, { "cp1252", CS_CP1252 },
	};
	const char *star;
	size_t i;

	if (cs == NULL)
		return CS_COPY;
	/* RFC 2231 5.: charset*language */
	if ((star = memchr(cs, '*', n)) != NULL)
		n = (size_t)(star - cs);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (mime_eq_nocase(cs, n, names[i].name, strlen(names[i].name)))
			return names[i].kind;
	return CS_UNKNOWN;
}

/* put_utf8 - encode code point u (BMP) at out; returns bytes */
static size_t put_utf8(char *out, unsigned u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | (u >> 6));
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | (u >> 12));
	out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
	out[2] = (char)(0x80 | (u & 0x3f));
	return 3;
}

/* mime_charset_to_utf8 - table conversion; at most 3 output bytes per input byte */
char *mime_charset_to_utf8(struct arena *a, const char *charset, size_t cslen,
    const char *in, size_t n, size_t *outlen_r, uint32_t *findings)
{
	enum cs kind = charset_kind(charset, cslen);
	char *out;
	size_t i, o = 0;

	if (kind == CS_UNKNOWN)
		*findings |= MIME_FBIT(MIME_F_UNKNOWN_CHARSET);
	if (kind == CS_COPY || kind == CS_UNKNOWN) {
		out = arena_alloc(a, n + 1);
		memcpy(out, in, n);
		*outlen_r = n;
		return out;
	}
	out = arena_allocarray(a, n + 1, 3);
	for (i = 0; i < n; i++) {
		unsigned u = (unsigned char)in[i];

		if (kind == CS_CP1252 && u >= 0x80 && u < 0xa0)
			u = cp1252_hi[u - 0x80] ? cp1252_hi[u - 0x80] : 0xfffd;
		else if (kind == CS_LATIN9) {
			switch (u) {
			case 0xa4: u = 0x20ac; break;
			case 0xa6: u = 0x0160; break;
			case 0xa8: u = 0x0161; break;
			case 0xb4: u = 0x017d; break;
			case 0xb8: u = 0x017e; break;
			case 0xbc: u = 0x0152; break;
			case 0xbd: u = 0x0153; break;
			case 0xbe: u = 0x0178; break;
			}
		}
		o += put_utf8(out + o, u);
	}
	out[o] = 0;
	*outlen_r = o;
	return out;
}

/*
 * RFC 2047 encoded words.
 */

/* q_decode - the Q encoding of an encoded word ("_" is a space) */
static size_t q_decode(const char *in, size_t n, char *out, int *bad_r)
{
	size_t i, o = 0;
	int v;

	for (i = 0; i < n; i++) {
		if (in[i] == '_') {
			out[o++] = ' ';
		} else if (in[i] == '=' && i + 2 < n && (v = text_hex_pair(in + i + 1)) >= 0) {
			out[o++] = (char)v;
			i += 2;
		} else {
			if (in[i] == '=')
				*bad_r = 1;
			out[o++] = in[i];
		}
	}
	return o;
}

/* eword - try to read an encoded word at in[0..n) ("=?cs?E?text?=");
 * returns its length or 0. When the text had no "?=" before white space
 * or the end, *fail_end_r is where that search stopped: no word starting
 * inside the text can end before it either, which keeps hostile
 * "=?x?q?=?x?q?..." input linear. */
static size_t eword(const char *in, size_t n, size_t *cs_r, char *enc_r,
    size_t *text_r, size_t *textlen_r, size_t *fail_end_r)
{
	size_t i = 2, cs, t;

	while (i < n && i - 2 <= MIME_MAX_CHARSET && in[i] != '?' &&
	    !is_tspecial((unsigned char)in[i]))
		i++;
	cs = i - 2;
	if (cs == 0 || cs > MIME_MAX_CHARSET || i + 3 > n || in[i] != '?' ||
	    in[i + 2] != '?')
		return 0;
	*enc_r = (char)mime_lc((unsigned char)in[i + 1]);
	if (*enc_r != 'b' && *enc_r != 'q')
		return 0;
	t = i + 3;
	for (i = t; i + 1 < n; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')
			break;
		if (in[i] == '?' && in[i + 1] == '=') {
			*cs_r = cs;
			*text_r = t;
			*textlen_r = i - t;
			return i + 2;
		}
	}
	*text_r = t;
	*fail_end_r = i;
	return 0;
}

/* mime_decode_words - RFC 2047 6.: decode each encoded word, drop the
 * white space between adjacent words, keep everything else. Output is
 * at most 3 bytes per input byte (windows-1252 to UTF-8). */
const char *mime_decode_words(struct arena *a, const char *in, size_t len, uint32_t *findings_r)
{
	char *out, *tmp;
	size_t i = 0, o = 0, lit = 0, noclose_from = 0, noclose_to = 0;
	int prev_word = 0;
	uint32_t f = 0;

	if (memmem(in, len, "=?", 2) == NULL) {
		out = arena_alloc(a, len + 1);
		memcpy(out, in, len);
		return out;
	}
	out = arena_allocarray(a, len + 1, 3);
	tmp = arena_alloc(a, len + 1);
	while (i < len) {
		const char *q = memchr(in + i, '=', len - i);
		size_t p, wl, cs = 0, t = 0, tl = 0, dl, ul, k;
		char enc = 0;
		int bad = 0, ws_only = 1;
		char *u;

		if (q == NULL)
			break;
		p = (size_t)(q - in);
		if (p + 1 >= len || in[p + 1] != '?') {
			i = p + 1;
			continue;
		}
		wl = 0;
		if (p < noclose_from || p >= noclose_to) {
			size_t fail_end = 0;

			wl = eword(in + p, len - p, &cs, &enc, &t, &tl, &fail_end);
			if (wl == 0 && fail_end) {
				noclose_from = p + t;
				noclose_to = p + fail_end;
			}
		}
		if (wl == 0) {
			f |= MIME_FBIT(MIME_F_BAD_ENCODED_WORD);
			i = p + 2;
			continue;
		}
		/* literal text before the word; white space between two words goes */
		for (k = lit; k < p; k++)
			if (in[k] != ' ' && in[k] != '\t')
				ws_only = 0;
		if (!(prev_word && ws_only)) {
			memcpy(out + o, in + lit, p - lit);
			o += p - lit;
		}
		if (enc == 'b')
			dl = mime_b64_decode(in + p + t, tl, tmp, len, &bad, &(int){ 0 });
		else
			dl = q_decode(in + p + t, tl, tmp, &bad);
		if (bad)
			f |= MIME_FBIT(MIME_F_BAD_ENCODED_WORD);
		u = mime_charset_to_utf8(a, in + p + 2, cs, tmp, dl, &ul, &f);
		memcpy(out + o, u, ul);
		o += ul;
		i = lit = p + wl;
		prev_word = 1;
	}
	memcpy(out + o, in + lit, len - lit);
	o += len - lit;
	out[o] = 0;
	if (findings_r)
		*findings_r |= f;
	return out;
}
