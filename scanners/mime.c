/*
 * mime.c - the MIME parser's tree: entry point, parts, multipart
 * splitting, message/rfc822 nesting, limits and findings.
 *
 * The whole message is in memory (the spool hands us one buffer), so the
 * parser is a recursive descent over byte ranges rather than an
 * incremental push parser: each entity is [start, end) of the buffer,
 * its header section is read (mime_header.c), and a multipart body is cut
 * at its delimiter lines, found with memmem() on "\n--boundary". A
 * multipart only ever searches inside its own range, so the work is the
 * message size times the nesting depth, and the depth is bounded.
 *
 * Deliberately left out: transfer decoding (mime_decode.c, on demand),
 * charset conversion of bodies, and judging what the findings mean (the
 * bad-header scanner does that).
 *
 * Limits: struct mime_limits (mime.h), MIME_MAX_BOUNDARY (mime_private.h).
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem */
#endif
#include <stdarg.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "scanners/mime_private.h"

static const char *const finding_names[MIME_F_COUNT] = {
	[MIME_F_8BIT_HEADER] = "8bit-header",
	[MIME_F_NUL] = "nul",
	[MIME_F_CONTROL_CHAR] = "control-char",
	[MIME_F_LONG_HEADER_LINE] = "long-header-line",
	[MIME_F_BAD_HEADER_SYNTAX] = "bad-header-syntax",
	[MIME_F_UNTERMINATED_HEADER] = "unterminated-header",
	[MIME_F_HEADER_LIMIT] = "header-limit",
	[MIME_F_DUPLICATE_HEADER] = "duplicate-header",
	[MIME_F_MISSING_HEADER] = "missing-header",
	[MIME_F_MISSING_BOUNDARY] = "missing-boundary",
	[MIME_F_DEPTH_LIMIT] = "depth-limit",
	[MIME_F_PARTS_LIMIT] = "parts-limit",
	[MIME_F_BAD_CTE] = "bad-cte",
	[MIME_F_BAD_ENCODED_WORD] = "bad-encoded-word",
	[MIME_F_UNKNOWN_CHARSET] = "unknown-charset",
	[MIME_F_BAD_BASE64] = "bad-base64",
	[MIME_F_BAD_QP] = "bad-qp",
	[MIME_F_DECODED_LIMIT] = "decoded-limit",
};

/* mime_finding - set f on the part and the message; keep the first detail */
void mime_finding(struct mime_msg *msg, struct mime_part *p, enum mime_finding f,
    const char *fmt, ...)
{
	va_list ap;

	if (p)
		p->findings |= MIME_FBIT(f);
	if (msg->findings & MIME_FBIT(f))
		return;
	msg->findings |= MIME_FBIT(f);
	va_start(ap, fmt);
	msg->detail[f] = arena_vprintf(msg->arena, fmt, ap);
	va_end(ap);
	log_debug(LOG_DBG_MIME, "mime: %s: %s", finding_names[f], msg->detail[f]);
}

/* mime_quote - escaped prefix of peer text for a detail, only when needed */
const char *mime_quote(struct mime_msg *msg, enum mime_finding f, const char *s, size_t n)
{
	char *out;

	/* only the first detail of a kind is kept: do not pay for the others */
	if (s == NULL || (msg->findings & MIME_FBIT(f)))
		return "";
	out = arena_alloc(msg->arena, MIME_DETAIL_QUOTE * 4 + 1);
	return log_printable(out, MIME_DETAIL_QUOTE * 4 + 1, s,
	    n > MIME_DETAIL_QUOTE ? MIME_DETAIL_QUOTE : n);
}

/* mime_header_first - first field of that name; linear, sections are bounded */
const struct mime_header *mime_header_first(const struct mime_part *part, const char *name)
{
	const struct mime_header *h;
	size_t len = strlen(name);

	for (h = part->headers; h; h = h->next)
		if (mime_eq_nocase(h->name, h->name_len, name, len))
			return h;
	return NULL;
}

/* mime_header_next - next field with the name of prev */
const struct mime_header *mime_header_next(const struct mime_header *prev)
{
	const struct mime_header *h;

	for (h = prev->next; h; h = h->next)
		if (mime_eq_nocase(h->name, h->name_len, prev->name, prev->name_len))
			return h;
	return NULL;
}

/* part_new - a part under parent (NULL: the root), or NULL when max_parts
 * parts exist already */
static struct mime_part *part_new(struct mime_ctx *c, struct mime_part *parent,
    struct mime_part ***tail_r)
{
	struct mime_part *p;

	if (c->msg->nparts >= c->lim->max_parts) {
		if (!c->parts_full)
			mime_finding(c->msg, parent, MIME_F_PARTS_LIMIT,
			    "more than %u parts: the rest is not split", c->lim->max_parts);
		c->parts_full = 1;
		return NULL;
	}
	p = arena_alloc(c->a, sizeof(*p));
	p->index = c->msg->nparts++;
	p->parent = parent;
	if (parent) {
		p->depth = parent->depth + 1;
		**tail_r = p;
		*tail_r = &p->next;
		parent->nchildren++;
	}
	return p;
}

static void entity(struct mime_ctx *c, struct mime_part *p, size_t start, size_t end,
    const char *deftype, const char *defsub);

/* delimiter_at - is there a boundary delimiter line at pos ("--" already
 * matched)? Sets *close_r for "--boundary--" and *next_r to the start of
 * the following line. Trailing white space is allowed (RFC 2046
 * transport padding). */
static int delimiter_at(const char *d, size_t pos, size_t end, size_t blen,
    int *close_r, size_t *next_r)
{
	size_t i = pos + 2 + blen;

	*close_r = 0;
	if (i + 1 < end && d[i] == '-' && d[i + 1] == '-') {
		*close_r = 1;
		i += 2;
	}
	while (i < end && (d[i] == ' ' || d[i] == '\t'))
		i++;
	if (i < end && d[i] == '\r' && i + 1 < end && d[i + 1] == '\n')
		i++;
	if (i < end && d[i] != '\n')
		return 0;
	*next_r = i < end ? i + 1 : end;
	return 1;
}

/* find_delimiter - next delimiter line in [from, end) for boundary b; from
 * is the start of a line. Returns its offset (the first '-'), or end. */
static size_t find_delimiter(struct mime_ctx *c, const char *needle, size_t nlen,
    size_t from, size_t end, int *close_r, size_t *next_r)
{
	const char *d = c->data;
	size_t blen = nlen - 3;		/* needle is "\n--" boundary */
	size_t pos = from;

	/* a delimiter on the very first line has no '\n' before it */
	if (end - from >= nlen - 1 && memcmp(d + from, needle + 1, nlen - 1) == 0 &&
	    delimiter_at(d, from, end, blen, close_r, next_r))
		return from;
	while (pos < end) {
		const char *m = memmem(d + pos, end - pos, needle, nlen);

		if (m == NULL)
			break;
		pos = (size_t)(m - d) + 1;
		if (delimiter_at(d, pos, end, blen, close_r, next_r))
			return pos;
	}
	return end;
}

/* body_end - end of the content before a delimiter at dpos: the line
 * break in front of the delimiter belongs to it (RFC 2046 5.1.1) */
static size_t body_end(const char *d, size_t start, size_t dpos)
{
	if (dpos > start && d[dpos - 1] == '\n') {
		dpos--;
		if (dpos > start && d[dpos - 1] == '\r')
			dpos--;
	}
	return dpos;
}

/* multipart - cut the body of multipart p at its delimiters and parse
 * each body part. Without a usable boundary, or without any delimiter,
 * p stays a leaf. */
static void multipart(struct mime_ctx *c, struct mime_part *p)
{
	const char *b = p->boundary;
	size_t blen = b ? strlen(b) : 0, start = p->body_offset;
	size_t end = p->body_offset + p->body_len, dpos, next = 0, nlen;
	struct mime_part **tail = &p->children;
	int close = 0;
	char *needle;
	int digest = strcmp(p->subtype, "digest") == 0;

	if (blen == 0 || blen > MIME_MAX_BOUNDARY) {
		mime_finding(c->msg, p, MIME_F_MISSING_BOUNDARY,
		    "part %u: multipart/%s without a usable boundary", p->index, p->subtype);
		return;
	}
	nlen = blen + 3;
	needle = arena_alloc(c->a, nlen + 1);
	memcpy(needle, "\n--", 3);
	memcpy(needle + 3, b, blen);

	dpos = find_delimiter(c, needle, nlen, start, end, &close, &next);
	if (dpos == end) {
		mime_finding(c->msg, p, MIME_F_MISSING_BOUNDARY,
		    "part %u: no delimiter line for boundary %s", p->index,
		    mime_quote(c->msg, MIME_F_MISSING_BOUNDARY, b, blen));
		return;
	}
	p->preamble_offset = start;
	p->preamble_len = body_end(c->data, start, dpos) - start;

	while (!close) {
		struct mime_part *child;
		size_t cstart = next, cend;

		dpos = find_delimiter(c, needle, nlen, cstart, end, &close, &next);
		cend = body_end(c->data, cstart, dpos);
		if (dpos == end) {
			mime_finding(c->msg, p, MIME_F_MISSING_BOUNDARY,
			    "part %u: no final delimiter for boundary %s", p->index,
			    mime_quote(c->msg, MIME_F_MISSING_BOUNDARY, b, blen));
			cend = end;
		}
		child = part_new(c, p, &tail);
		if (child == NULL)
			return;
		entity(c, child, cstart, cend, digest ? "message" : "text",
		    digest ? "rfc822" : "plain");
		if (dpos == end)
			return;
	}
	p->epilogue_offset = next;
	p->epilogue_len = end - next;
}

/* entity - parse the entity [start, end) into p: header section, content
 * fields, then its children if it is a container and the limits allow */
static void entity(struct mime_ctx *c, struct mime_part *p, size_t start, size_t end,
    const char *deftype, const char *defsub)
{
	int is_multi, is_msg;

	p->offset = start;
	p->length = end - start;
	p->body_offset = mime_header_section(c, p, start, end);
	p->body_len = end - p->body_offset;
	mime_content_fields(c, p, deftype, defsub);

	is_multi = strcmp(p->type, "multipart") == 0;
	is_msg = strcmp(p->type, "message") == 0 &&
	    (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0);
	if (is_multi)
		p->flags |= MIME_PART_MULTIPART;
	if (is_msg)
		p->flags |= MIME_PART_RFC822;
	if ((is_multi || is_msg) && p->cte != MIME_CTE_7BIT && p->cte != MIME_CTE_8BIT &&
	    p->cte != MIME_CTE_BINARY) {
		/* RFC 2046 5.1.1, 5.2.1: containers are never encoded */
		mime_finding(c->msg, p, MIME_F_BAD_CTE,
		    "part %u: %s/%s with a transfer encoding", p->index, p->type, p->subtype);
		is_multi = is_msg = 0;
	}
	if ((is_multi || is_msg) && p->depth >= c->lim->max_depth) {
		mime_finding(c->msg, p, MIME_F_DEPTH_LIMIT,
		    "part %u: nesting deeper than %u", p->index, c->lim->max_depth);
		is_multi = is_msg = 0;
	}
	if (is_multi && !c->parts_full) {
		multipart(c, p);
	} else if (is_msg && !c->parts_full) {
		struct mime_part **tail = &p->children, *child;

		if ((child = part_new(c, p, &tail)) != NULL) {
			child->flags |= MIME_PART_MESSAGE;
			entity(c, child, p->body_offset, end, "text", "plain");
		}
	}
	if (p->children == NULL && p->cte != MIME_CTE_BINARY &&
	    memchr(c->data + p->body_offset, 0, p->body_len) != NULL)
		mime_finding(c->msg, p, MIME_F_NUL, "part %u: NUL byte in body", p->index);
}

/* limits_fill - the caller's limits with defaults for zeros, capped */
static void limits_fill(struct mime_limits *l, const struct mime_limits *in)
{
	if (in)
		*l = *in;
	else
		memset(l, 0, sizeof(*l));
	if (l->max_depth == 0)
		l->max_depth = MIME_DEFAULT_MAX_DEPTH;
	if (l->max_depth > MIME_HARD_MAX_DEPTH)
		l->max_depth = MIME_HARD_MAX_DEPTH;
	if (l->max_parts == 0)
		l->max_parts = MIME_DEFAULT_MAX_PARTS;
	if (l->max_header_bytes == 0)
		l->max_header_bytes = MIME_DEFAULT_MAX_HEADER_BYTES;
	if (l->max_headers == 0)
		l->max_headers = MIME_DEFAULT_MAX_HEADERS;
	if (l->max_headers_total == 0)
		l->max_headers_total = MIME_DEFAULT_MAX_HEADERS_TOTAL;
	if (l->max_decoded_size == 0)
		l->max_decoded_size = MIME_DEFAULT_MAX_DECODED;
}

/* mime_parse - build the tree, then the flat pre-order array */
int mime_parse(struct arena *a, const char *data, size_t len,
    const struct mime_limits *lim, struct mime_msg **msg_r, const char **error_r)
{
	struct mime_ctx c;
	struct mime_msg *msg;
	struct mime_part *p;
	unsigned i;

	if (a == NULL || msg_r == NULL || (data == NULL && len != 0)) {
		if (error_r)
			*error_r = "mime_parse: invalid arguments";
		return -1;
	}
	if (data == NULL)
		data = "";
	msg = arena_alloc(a, sizeof(*msg));
	msg->data = data;
	msg->len = len;
	msg->arena = a;
	limits_fill(&msg->limits, lim);

	memset(&c, 0, sizeof(c));
	c.a = a;
	c.msg = msg;
	c.data = data;
	c.len = len;
	c.lim = &msg->limits;

	msg->root = part_new(&c, NULL, NULL);
	msg->root->flags |= MIME_PART_MESSAGE;
	entity(&c, msg->root, 0, len, "text", "plain");

	if (mime_header_first(msg->root, "from") == NULL)
		mime_finding(msg, msg->root, MIME_F_MISSING_HEADER, "no From header field");
	if (mime_header_first(msg->root, "date") == NULL)
		mime_finding(msg, msg->root, MIME_F_MISSING_HEADER, "no Date header field");

	/* flat pre-order array: indexes were given in creation (pre-)order;
	 * walk without recursion */
	msg->parts = arena_allocarray(a, msg->nparts, sizeof(*msg->parts));
	for (p = msg->root; p != NULL;) {
		msg->parts[p->index] = p;
		if (p->children) {
			p = p->children;
			continue;
		}
		while (p != NULL && p->next == NULL)
			p = p->parent;
		if (p != NULL)
			p = p->next;
	}
	for (i = 0; i < msg->nparts; i++)
		if (msg->parts[i] == NULL)
			log_panic("mime_parse: part %u missing from the walk", i);
	*msg_r = msg;
	return 0;
}
