/*
 * test_mime.c - unit tests of the MIME parser (scanners/mime.h): the tree
 * of well-formed messages, header and parameter decoding, and an attack
 * on the parser with every malformation it must report, limits at
 * exactly the bound and one past it, every truncation of a message, and
 * hostile input that would be quadratic in a naive parser.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "scanners/mime.h"
#include "tests/unit/check_tap.h"

static struct arena *arena;

#define HDRS "From: a@example.org\r\nTo: b@example.net\r\n" \
	"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: test\r\n" \
	"Message-ID: <1@example.org>\r\n"

static void setup(void)
{
	arena = arena_create(0);
}

static void teardown(void)
{
	arena_free(&arena);
}

/* parse_lim - parse a message held in s[0..len) with limits lim */
static struct mime_msg *parse_lim(const char *s, size_t len, const struct mime_limits *lim)
{
	struct mime_msg *msg = NULL;
	const char *err = NULL;

	ck_assert_int_eq(mime_parse(arena, s, len, lim, &msg, &err), 0);
	ck_assert_ptr_nonnull(msg);
	return msg;
}

static struct mime_msg *parse(const char *s)
{
	return parse_lim(s, strlen(s), NULL);
}

/* has - is finding f set in msg */
static int has(const struct mime_msg *msg, enum mime_finding f)
{
	return (msg->findings & MIME_FBIT(f)) != 0;
}

/* decoded - the decoded body of part i as a NUL-terminated arena string */
static const char *decoded(struct mime_msg *msg, unsigned i, size_t *len_r)
{
	const char *out;
	size_t len;

	ck_assert_uint_lt(i, msg->nparts);
	mime_part_decode(arena, msg, msg->parts[i], 0, &out, &len, NULL);
	if (len_r)
		*len_r = len;
	return arena_strndup(arena, out, len);
}

/* body - the raw body of part i as a string */
static const char *body(struct mime_msg *msg, unsigned i)
{
	const struct mime_part *p = msg->parts[i];

	return arena_strndup(arena, msg->data + p->body_offset, p->body_len);
}

/* to_lf - s with every CRLF made LF (malloc'd) */
static char *to_lf(const char *s)
{
	char *out = xstrdup(s), *o = out;

	for (; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n'))
			*o++ = *s;
	*o = 0;
	return out;
}

static const char *msg_mixed =
	HDRS
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed;\r\n"
	"\tboundary=\"=_outer_\"\r\n"
	"\r\n"
	"This is a preamble.\r\n"
	"--=_outer_\r\n"
	"Content-Type: multipart/alternative; boundary=alt\r\n"
	"\r\n"
	"--alt\r\n"
	"Content-Type: text/plain; charset=\"UTF-8\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=C3=A9 au lait, soft =\r\n"
	"break.\r\n"
	"--alt\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<p>Caf&eacute;</p>\r\n"
	"--alt--\r\n"
	"--=_outer_\r\n"
	"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
	"\r\n"
	"SGVsbG8sIHdvcmxkIQ==\r\n"
	"--=_outer_\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"From: inner@example.org\r\n"
	"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/mixed; boundary=in\r\n"
	"\r\n"
	"--in\r\n"
	"\r\n"
	"inner text\r\n"
	"--in\r\n"
	"Content-Type: application/zip; name=inner.zip\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"UEsDBA==\r\n"
	"--in--\r\n"
	"--=_outer_--\r\n"
	"This is the epilogue.\r\n";

START_TEST(test_simple_text)
{
	struct mime_msg *msg = parse(HDRS "X-Folded: one\r\n two\r\n\tthree\r\n\r\nHello world.\r\n");
	struct mime_part *p = msg->root;
	const struct mime_header *h;

	ck_assert_uint_eq(msg->nparts, 1);
	ck_assert_uint_eq(msg->findings, 0);
	ck_assert_str_eq(p->type, "text");
	ck_assert_str_eq(p->subtype, "plain");
	ck_assert_int_eq(p->cte, MIME_CTE_7BIT);
	ck_assert_uint_eq(p->nheaders, 6);
	ck_assert_ptr_null(p->filename);
	ck_assert(mime_part_is_leaf(p));
	ck_assert_str_eq(body(msg, 0), "Hello world.\r\n");
	h = mime_header_first(p, "x-folded");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h->name, "X-Folded");
	ck_assert_str_eq(h->value, "one two\tthree");
	ck_assert_uint_eq(h->raw_len, strlen(" one\r\n two\r\n\tthree"));
	ck_assert_str_eq(mime_header_first(p, "SUBJECT")->value, "test");
	ck_assert_ptr_null(mime_header_first(p, "x-missing"));
	ck_assert_str_eq(decoded(msg, 0, NULL), "Hello world.\r\n");
}
END_TEST

START_TEST(test_header_next)
{
	struct mime_msg *msg = parse(HDRS "Received: one\r\nX-A: a\r\nreceived: two\r\n"
	    "RECEIVED: three\r\n\r\n");
	const struct mime_header *h = mime_header_first(msg->root, "Received");

	ck_assert_str_eq(h->value, "one");
	h = mime_header_next(h);
	ck_assert_str_eq(h->value, "two");
	h = mime_header_next(h);
	ck_assert_str_eq(h->value, "three");
	ck_assert_ptr_null(mime_header_next(h));
	ck_assert(!has(msg, MIME_F_DUPLICATE_HEADER));
}
END_TEST

START_TEST(test_mixed_tree)
{
	struct mime_msg *msg = parse(msg_mixed);
	struct mime_part **p = msg->parts;
	size_t len;

	ck_assert_uint_eq(msg->findings, 0);
	ck_assert_uint_eq(msg->nparts, 9);
	/* pre-order: 0 mixed, 1 alternative, 2 plain, 3 html, 4 bin,
	 * 5 rfc822, 6 inner message (mixed), 7 inner text, 8 zip */
	ck_assert_str_eq(p[0]->subtype, "mixed");
	ck_assert_uint_eq(p[0]->nchildren, 3);
	ck_assert_str_eq(p[0]->boundary, "=_outer_");
	ck_assert_str_eq(p[1]->subtype, "alternative");
	ck_assert_uint_eq(p[1]->depth, 1);
	ck_assert_ptr_eq(p[1]->parent, p[0]);
	ck_assert_ptr_eq(p[2]->parent, p[1]);
	ck_assert_uint_eq(p[2]->depth, 2);
	ck_assert_str_eq(p[2]->charset, "utf-8");
	ck_assert_int_eq(p[2]->cte, MIME_CTE_QP);
	ck_assert_str_eq(decoded(msg, 2, NULL), "Caf\xc3\xa9 au lait, soft break.");
	ck_assert_str_eq(p[3]->subtype, "html");
	ck_assert_ptr_eq(p[2]->next, p[3]);
	ck_assert_ptr_eq(p[1]->next, p[4]);
	ck_assert_str_eq(p[4]->filename, "report.pdf");	/* disposition wins over name */
	ck_assert_str_eq(mime_param_get(p[4]->params, "name"), "data.bin");
	ck_assert_str_eq(p[4]->disposition, "attachment");
	ck_assert_str_eq(decoded(msg, 4, &len), "Hello, world!");
	ck_assert_uint_eq(len, 13);
	ck_assert(p[5]->flags & MIME_PART_RFC822);
	ck_assert_uint_eq(p[5]->nchildren, 1);
	ck_assert(p[6]->flags & MIME_PART_MESSAGE);
	ck_assert_uint_eq(p[6]->depth, 2);
	ck_assert_str_eq(mime_header_first(p[6], "subject")->value, "inner");
	ck_assert_str_eq(p[6]->subtype, "mixed");
	ck_assert_str_eq(p[7]->type, "text");	/* no header: text/plain */
	ck_assert_str_eq(body(msg, 7), "inner text");
	ck_assert_str_eq(p[8]->filename, "inner.zip");
	ck_assert_uint_eq(p[8]->depth, 3);
	ck_assert_str_eq(decoded(msg, 8, &len), "PK\x03\x04");
	ck_assert(mime_part_is_leaf(p[8]));
	ck_assert(!mime_part_is_leaf(p[5]));
}
END_TEST

START_TEST(test_preamble_epilogue)
{
	struct mime_msg *msg = parse(msg_mixed);
	struct mime_part *r = msg->root;

	ck_assert_str_eq(arena_strndup(arena, msg->data + r->preamble_offset, r->preamble_len),
	    "This is a preamble.");
	ck_assert_str_eq(arena_strndup(arena, msg->data + r->epilogue_offset, r->epilogue_len),
	    "This is the epilogue.\r\n");
	/* the line break before a delimiter belongs to the delimiter */
	ck_assert_str_eq(body(msg, 4), "SGVsbG8sIHdvcmxkIQ==");
}
END_TEST

START_TEST(test_lf_same_tree)
{
	char *lf = to_lf(msg_mixed);
	struct mime_msg *a = parse(msg_mixed), *b = parse(lf);
	unsigned i;

	ck_assert_uint_eq(a->nparts, b->nparts);
	ck_assert_uint_eq(a->findings, b->findings);
	for (i = 0; i < a->nparts; i++) {
		struct mime_part *x = a->parts[i], *y = b->parts[i];
		const char *dx, *dy;
		size_t lx, ly;

		ck_assert_str_eq(x->type, y->type);
		ck_assert_str_eq(x->subtype, y->subtype);
		ck_assert_uint_eq(x->depth, y->depth);
		ck_assert_uint_eq(x->nchildren, y->nchildren);
		ck_assert_uint_eq(x->nheaders, y->nheaders);
		ck_assert_int_eq(x->cte, y->cte);
		ck_assert_int_eq(x->parent ? (int)x->parent->index : -1,
		    y->parent ? (int)y->parent->index : -1);
		if (x->filename || y->filename)
			ck_assert_str_eq(x->filename, y->filename);
		dx = decoded(a, i, &lx);
		dy = decoded(b, i, &ly);
		{
			char *nx = to_lf(dx);

			ck_assert_str_eq(nx, dy);
			free(nx);
		}
	}
	free(lf);
}
END_TEST

START_TEST(test_rfc2231_continuation)
{
	struct mime_msg *msg = parse(HDRS
	    "Content-Type: application/pdf; name*1=\"t.pdf\"; name*0*=iso-8859-1'fr'r%E9por\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename*0*=utf-8''%E2%82%AC%20rep;\r\n"
	    " filename*1=\"ort\";\r\n"
	    " filename*2*=%2Epdf\r\n"
	    "\r\nx\r\n");

	ck_assert_str_eq(msg->root->filename, "\xe2\x82\xac report.pdf");
	ck_assert_str_eq(mime_param_get(msg->root->params, "name"), "r\xc3\xa9port.pdf");
	ck_assert_uint_eq(msg->findings & ~MIME_FBIT(MIME_F_MISSING_HEADER), 0);
}
END_TEST

START_TEST(test_rfc2231_single_and_bad)
{
	struct mime_msg *msg = parse(HDRS
	    "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve%2Gx.txt\r\n\r\n");

	ck_assert_str_eq(msg->root->filename, "na\xc3\xafve%2Gx.txt");
	ck_assert(has(msg, MIME_F_BAD_ENCODED_WORD));

	msg = parse(HDRS "Content-Disposition: attachment; filename*0=\"a\"; filename*2=\"c\"\r\n\r\n");
	ck_assert_str_eq(msg->root->filename, "ac");	/* gap: flagged, what exists used */
	ck_assert(has(msg, MIME_F_BAD_ENCODED_WORD));

	msg = parse(HDRS "Content-Disposition: attachment; filename*=koi8-r''%F0%D2\r\n\r\n");
	ck_assert(has(msg, MIME_F_UNKNOWN_CHARSET));
	ck_assert_str_eq(msg->root->filename, "\xf0\xd2");
}
END_TEST

START_TEST(test_params_lenient)
{
	struct mime_msg *msg;

	/* comments around token values are fine */
	msg = parse(HDRS "Content-Type: text/plain; charset=US-ASCII (comment) ; format=flowed\r\n\r\n");
	ck_assert_uint_eq(msg->findings, 0);
	ck_assert_str_eq(msg->root->charset, "us-ascii");
	ck_assert_str_eq(mime_param_get(msg->root->params, "format"), "flowed");

	/* an unquoted name with spaces and specials is read the way clients
	 * read it, and flagged; a second filename does not replace the first */
	msg = parse(HDRS "Content-Disposition: attachment; filename=evil (1) file.exe;"
	    " filename=\"dup.txt\"\r\n\r\n");
	ck_assert_str_eq(msg->root->filename, "evil (1) file.exe");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));

	/* quoted-pair and an unclosed quote */
	msg = parse(HDRS "Content-Type: application/x; name=\"a\\\"b.exe\r\n\r\n");
	ck_assert_str_eq(msg->root->filename, "a\"b.exe");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));

	/* RFC 2231 beats the plain form whatever the order */
	msg = parse(HDRS "Content-Disposition: attachment; filename=\"plain.txt\"; "
	    "filename*=utf-8''real.exe\r\n\r\n");
	ck_assert_str_eq(msg->root->filename, "real.exe");
}
END_TEST

START_TEST(test_rfc2047_subject_filename)
{
	struct mime_msg *msg = parse(HDRS
	    "X-Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?= =?UTF-8?B?4oKs?=\r\n"
	    "\t=?utf-8?Q?_end?= plain =?windows-1252?Q?=80?=\r\n"
	    "Content-Type: application/octet-stream;\r\n"
	    " name=\"=?utf-8?B?csOpc3Vtw6kuZXhl?=\"\r\n\r\n");
	const struct mime_header *h = mime_header_first(msg->root, "x-subject");
	uint32_t f = 0;

	ck_assert_str_eq(mime_decode_words(arena, h->value, h->value_len, &f),
	    "Caf\xc3\xa9 cr\xc3\xa8me\xe2\x82\xac end plain \xe2\x82\xac");
	ck_assert_uint_eq(f, 0);
	ck_assert_str_eq(msg->root->filename, "r\xc3\xa9sum\xc3\xa9.exe");
	ck_assert_uint_eq(msg->findings, 0);
}
END_TEST

START_TEST(test_rfc2047_malformed)
{
	uint32_t f = 0;
	const char *s;

	s = "a =?utf-8?B?not base64?= b";
	ck_assert_str_eq(mime_decode_words(arena, s, strlen(s), &f), s);
	ck_assert(f & MIME_FBIT(MIME_F_BAD_ENCODED_WORD));

	f = 0;
	s = "=?koi8-r?B?8NLJ18XU?=";
	ck_assert_str_eq(mime_decode_words(arena, s, strlen(s), &f), "\xf0\xd2\xc9\xd7\xc5\xd4");
	ck_assert(f & MIME_FBIT(MIME_F_UNKNOWN_CHARSET));

	f = 0;
	s = "=?utf-8?X?abc?= =?utf-8?q?unclosed";
	ck_assert_str_eq(mime_decode_words(arena, s, strlen(s), &f), s);
	ck_assert(f & MIME_FBIT(MIME_F_BAD_ENCODED_WORD));

	f = 0;
	s = "=?utf-8*en?q?lang?=";
	ck_assert_str_eq(mime_decode_words(arena, s, strlen(s), &f), "lang");
	ck_assert_uint_eq(f, 0);

	s = "no words = here ? =";
	ck_assert_str_eq(mime_decode_words(arena, s, strlen(s), NULL), s);
}
END_TEST

START_TEST(test_f_8bit_header)
{
	struct mime_msg *msg = parse(HDRS "X-Name: J\xc3\xb6rg\r\n\r\nx\r\n");

	ck_assert(has(msg, MIME_F_8BIT_HEADER));
	ck_assert_ptr_nonnull(msg->detail[MIME_F_8BIT_HEADER]);
	ck_assert_str_eq(mime_header_first(msg->root, "x-name")->value, "J\xc3\xb6rg");
}
END_TEST

START_TEST(test_f_nul)
{
	static const char m1[] = HDRS "X-Nul: a\0b\r\n\r\nx\r\n";
	static const char m2[] = HDRS "\r\nbody\0nul\r\n";
	static const char m3[] = HDRS "Content-Transfer-Encoding: binary\r\n\r\nbody\0nul\r\n";
	struct mime_msg *msg;

	msg = parse_lim(m1, sizeof(m1) - 1, NULL);
	ck_assert(has(msg, MIME_F_NUL));
	ck_assert_uint_eq(msg->root->nheaders, 6);
	msg = parse_lim(m2, sizeof(m2) - 1, NULL);
	ck_assert(has(msg, MIME_F_NUL));
	msg = parse_lim(m3, sizeof(m3) - 1, NULL);
	ck_assert(!has(msg, MIME_F_NUL));	/* binary may hold NULs */
}
END_TEST

START_TEST(test_f_control_char)
{
	struct mime_msg *msg = parse(HDRS "X-CR: a\rb\r\n\r\nx\r\n");

	ck_assert(has(msg, MIME_F_CONTROL_CHAR));
}
END_TEST

START_TEST(test_f_long_line)
{
	struct buf b = BUF_INIT;
	struct mime_msg *msg;
	size_t i;

	/* exactly 998 bytes: fine */
	buf_puts(&b, HDRS "X-Long: ");
	for (i = strlen("X-Long: "); i < 998; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, "\r\n\r\n");
	msg = parse_lim(b.data, b.len, NULL);
	ck_assert(!has(msg, MIME_F_LONG_HEADER_LINE));
	/* 999 bytes: flagged */
	buf_reset(&b);
	buf_puts(&b, HDRS "X-Long: ");
	for (i = strlen("X-Long: "); i < 999; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, "\r\n\r\n");
	msg = parse_lim(b.data, b.len, NULL);
	ck_assert(has(msg, MIME_F_LONG_HEADER_LINE));
	buf_free(&b);
}
END_TEST

START_TEST(test_f_bad_syntax)
{
	struct mime_msg *msg;

	/* a line that is no field ends the header section */
	msg = parse(HDRS "This is not a header\r\nX-After: x\r\n\r\n");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));
	ck_assert_ptr_null(mime_header_first(msg->root, "x-after"));
	ck_assert_str_eq(body(msg, 0), "This is not a header\r\nX-After: x\r\n\r\n");

	msg = parse(" leading continuation\r\n" HDRS "\r\n");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));
	ck_assert_uint_eq(msg->root->nheaders, 5);

	msg = parse(HDRS "X-Ws: a\r\n   \r\n b\r\n\r\n");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));

	msg = parse(HDRS ": no name\r\n\r\n");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));

	msg = parse(HDRS "Content-Type: garbage\r\n\r\n");
	ck_assert(has(msg, MIME_F_BAD_HEADER_SYNTAX));
	ck_assert_str_eq(msg->root->type, "text");
	ck_assert_str_eq(msg->root->subtype, "plain");

	/* obsolete white space before the colon is accepted */
	msg = parse(HDRS "X-Obs : value\r\n\r\n");
	ck_assert_uint_eq(msg->findings, 0);
	ck_assert_str_eq(mime_header_first(msg->root, "x-obs")->value, "value");
}
END_TEST

START_TEST(test_f_unterminated_header)
{
	struct mime_limits lim = { .max_header_bytes = 1024 };
	struct buf b = BUF_INIT;
	struct mime_msg *msg;
	size_t i;

	/* message ends in the middle of a header line */
	msg = parse(HDRS "X-Cut: no line end");
	ck_assert(has(msg, MIME_F_UNTERMINATED_HEADER));
	ck_assert_str_eq(mime_header_first(msg->root, "x-cut")->value, "no line end");

	/* a header section that never ends: cut at the limit */
	buf_puts(&b, HDRS);
	for (i = 0; i < 200; i++)
		buf_printf(&b, "X-H%zu: value value value\r\n", i);
	buf_puts(&b, "\r\nbody\r\n");
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert(has(msg, MIME_F_UNTERMINATED_HEADER));
	ck_assert_uint_le(msg->root->body_offset, 1024);
	ck_assert_uint_eq(msg->root->body_offset + msg->root->body_len, b.len);

	/* exactly at the limit: fine */
	lim.max_header_bytes = strlen(HDRS "\r\n");
	msg = parse_lim(HDRS "\r\nx", strlen(HDRS "\r\nx"), &lim);
	ck_assert(!has(msg, MIME_F_UNTERMINATED_HEADER));
	lim.max_header_bytes--;
	msg = parse_lim(HDRS "X: y\r\n\r\nx", strlen(HDRS "X: y\r\n\r\nx"), &lim);
	ck_assert(has(msg, MIME_F_UNTERMINATED_HEADER));
	buf_free(&b);
}
END_TEST

START_TEST(test_f_header_limit)
{
	struct mime_limits lim = { .max_headers = 7 };
	struct mime_msg *msg;

	msg = parse_lim(HDRS "X-1: a\r\nX-2: b\r\n\r\n", strlen(HDRS "X-1: a\r\nX-2: b\r\n\r\n"), &lim);
	ck_assert(!has(msg, MIME_F_HEADER_LIMIT));
	ck_assert_uint_eq(msg->root->nheaders, 7);
	lim.max_headers = 6;
	msg = parse_lim(HDRS "X-1: a\r\nX-2: b\r\n\r\n", strlen(HDRS "X-1: a\r\nX-2: b\r\n\r\n"), &lim);
	ck_assert(has(msg, MIME_F_HEADER_LIMIT));
	ck_assert_uint_eq(msg->root->nheaders, 6);

	/* the message-wide bound: 7 in the root + 2 in the part */
	lim.max_headers = 0;
	lim.max_headers_total = 9;
	msg = parse_lim(HDRS "Content-Type: multipart/mixed; boundary=b\r\nX: 1\r\n\r\n"
	    "--b\r\nA: 1\r\nB: 2\r\n\r\n--b--\r\n", strlen(HDRS
	    "Content-Type: multipart/mixed; boundary=b\r\nX: 1\r\n\r\n"
	    "--b\r\nA: 1\r\nB: 2\r\n\r\n--b--\r\n"), &lim);
	ck_assert(!has(msg, MIME_F_HEADER_LIMIT));
	ck_assert_uint_eq(msg->parts[1]->nheaders, 2);
	lim.max_headers_total = 8;
	msg = parse_lim(HDRS "Content-Type: multipart/mixed; boundary=b\r\nX: 1\r\n\r\n"
	    "--b\r\nA: 1\r\nB: 2\r\n\r\n--b--\r\n", strlen(HDRS
	    "Content-Type: multipart/mixed; boundary=b\r\nX: 1\r\n\r\n"
	    "--b\r\nA: 1\r\nB: 2\r\n\r\n--b--\r\n"), &lim);
	ck_assert(has(msg, MIME_F_HEADER_LIMIT));
	ck_assert_uint_eq(msg->parts[1]->nheaders, 1);
	ck_assert_uint_eq(msg->parts[1]->findings, MIME_FBIT(MIME_F_HEADER_LIMIT));
}
END_TEST

START_TEST(test_f_duplicate_missing)
{
	struct mime_msg *msg;

	msg = parse(HDRS "Subject: again\r\n\r\n");
	ck_assert(has(msg, MIME_F_DUPLICATE_HEADER));
	ck_assert_ptr_nonnull(strstr(msg->detail[MIME_F_DUPLICATE_HEADER], "subject"));
	ck_assert(!has(msg, MIME_F_MISSING_HEADER));

	msg = parse("To: x@y\r\nSubject: s\r\n\r\n");
	ck_assert(has(msg, MIME_F_MISSING_HEADER));
	ck_assert(!has(msg, MIME_F_DUPLICATE_HEADER));

	/* Content-Type twice in a body part; Subject twice there is fine */
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Subject: a\r\nSubject: b\r\n\r\nx\r\n--b--\r\n");
	ck_assert(!has(msg, MIME_F_DUPLICATE_HEADER));
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\nContent-type: text/html\r\n\r\nx\r\n--b--\r\n");
	ck_assert(has(msg, MIME_F_DUPLICATE_HEADER));
	ck_assert_uint_eq(msg->parts[1]->findings, MIME_FBIT(MIME_F_DUPLICATE_HEADER));
	ck_assert_str_eq(msg->parts[1]->subtype, "plain");	/* the first one counts */
}
END_TEST

START_TEST(test_f_missing_boundary)
{
	struct mime_msg *msg;

	/* no final delimiter: the last part runs to the end */
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\none\r\n"
	    "--q\r\n\r\ntwo, cut");
	ck_assert(has(msg, MIME_F_MISSING_BOUNDARY));
	ck_assert_uint_eq(msg->nparts, 3);
	ck_assert_str_eq(body(msg, 2), "two, cut");

	/* no delimiter at all: a leaf */
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=q\r\n\r\n--qq\r\nnothing\r\n");
	ck_assert(has(msg, MIME_F_MISSING_BOUNDARY));
	ck_assert_uint_eq(msg->nparts, 1);
	ck_assert(mime_part_is_leaf(msg->root));

	/* no boundary parameter */
	msg = parse(HDRS "Content-Type: multipart/mixed\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n");
	ck_assert(has(msg, MIME_F_MISSING_BOUNDARY));
	ck_assert_uint_eq(msg->nparts, 1);

	/* delimiters with transport padding, a boundary in a comment-laden field */
	msg = parse(HDRS "Content-Type: (c) multipart/mixed (d); (e) boundary = \"w w\"\r\n\r\n"
	    "--w w  \r\n\r\none\r\n--w wx\r\nstill one\r\n--w w--\t\r\n");
	ck_assert_uint_eq(msg->findings, 0);
	ck_assert_uint_eq(msg->nparts, 2);
	ck_assert_str_eq(body(msg, 1), "one\r\n--w wx\r\nstill one");
}
END_TEST

/* nested - a message nested n multiparts deep */
static void nested(struct buf *b, unsigned n)
{
	unsigned i;

	buf_reset(b);
	buf_puts(b, HDRS);
	for (i = 0; i < n; i++)
		buf_printf(b, "Content-Type: multipart/mixed; boundary=d%u\r\n\r\n--d%u\r\n", i, i);
	buf_puts(b, "Content-Type: text/plain\r\n\r\nleaf\r\n");
	for (i = n; i-- > 0;)
		buf_printf(b, "--d%u--\r\n", i);
}

START_TEST(test_depth_limit)
{
	struct mime_limits lim = { .max_depth = 5 };
	struct buf b = BUF_INIT;
	struct mime_msg *msg;

	nested(&b, 5);		/* leaf at depth 5 = the limit */
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert(!has(msg, MIME_F_DEPTH_LIMIT));
	ck_assert_uint_eq(msg->nparts, 6);
	ck_assert_uint_eq(msg->parts[5]->depth, 5);
	ck_assert_str_eq(body(msg, 5), "leaf");

	nested(&b, 6);		/* leaf at depth 6: not reached */
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert(has(msg, MIME_F_DEPTH_LIMIT));
	ck_assert_uint_eq(msg->nparts, 6);
	ck_assert(mime_part_is_leaf(msg->parts[5]));
	ck_assert_str_eq(msg->parts[5]->type, "multipart");

	/* message/rfc822 nesting counts too */
	buf_reset(&b);
	buf_puts(&b, HDRS "Content-Type: message/rfc822\r\n\r\n"
	    HDRS "Content-Type: message/rfc822\r\n\r\n" HDRS "\r\ninner\r\n");
	lim.max_depth = 2;
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert_uint_eq(msg->nparts, 3);
	ck_assert(!has(msg, MIME_F_DEPTH_LIMIT));
	lim.max_depth = 1;
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert_uint_eq(msg->nparts, 2);
	ck_assert(has(msg, MIME_F_DEPTH_LIMIT));
	buf_free(&b);
}
END_TEST

/* many - a multipart with n body parts */
static void many(struct buf *b, unsigned n)
{
	unsigned i;

	buf_reset(b);
	buf_puts(b, HDRS "Content-Type: multipart/mixed; boundary=m\r\n\r\n");
	for (i = 0; i < n; i++)
		buf_printf(b, "--m\r\nContent-Type: text/plain\r\n\r\npart %u\r\n", i);
	buf_puts(b, "--m--\r\n");
}

START_TEST(test_parts_limit)
{
	struct mime_limits lim = { .max_parts = 10 };
	struct buf b = BUF_INIT;
	struct mime_msg *msg;

	many(&b, 9);		/* root + 9 = the limit */
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert(!has(msg, MIME_F_PARTS_LIMIT));
	ck_assert_uint_eq(msg->nparts, 10);

	many(&b, 10);
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert(has(msg, MIME_F_PARTS_LIMIT));
	ck_assert_uint_eq(msg->nparts, 10);
	ck_assert_str_eq(body(msg, 9), "part 8");
	buf_free(&b);
}
END_TEST

START_TEST(test_f_bad_cte)
{
	struct mime_msg *msg;

	msg = parse(HDRS "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n");
	ck_assert(has(msg, MIME_F_BAD_CTE));
	ck_assert_int_eq(msg->root->cte, MIME_CTE_UNKNOWN);
	ck_assert_str_eq(decoded(msg, 0, NULL), "begin\r\n");

	/* an encoded multipart is not split */
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=e\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nLS1lDQoNCngNCi0tZS0tDQo=\r\n");
	ck_assert(has(msg, MIME_F_BAD_CTE));
	ck_assert_uint_eq(msg->nparts, 1);
	ck_assert_str_eq(decoded(msg, 0, NULL), "--e\r\n\r\nx\r\n--e--\r\n");
}
END_TEST

START_TEST(test_f_bad_base64)
{
	struct mime_msg *msg;
	uint32_t f = 0;
	const char *out;
	size_t len;

	msg = parse(HDRS "Content-Transfer-Encoding: base64\r\n\r\nSGVs!bG8=\r\n");
	ck_assert(!has(msg, MIME_F_BAD_BASE64));	/* found on decoding */
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, &f), 0);
	ck_assert(f & MIME_FBIT(MIME_F_BAD_BASE64));
	ck_assert(has(msg, MIME_F_BAD_BASE64));
	ck_assert_str_eq(arena_strndup(arena, out, len), "Hello");

	/* cut short and unpadded: what is there is kept */
	msg = parse(HDRS "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8\r\n");
	ck_assert_str_eq(decoded(msg, 0, NULL), "Hello");
	ck_assert(has(msg, MIME_F_BAD_BASE64));

	/* a lone sextet at the end */
	msg = parse(HDRS "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8hS\r\n");
	ck_assert_str_eq(decoded(msg, 0, NULL), "Hello!");
	ck_assert(has(msg, MIME_F_BAD_BASE64));

	/* well-formed, wrapped, padded: clean */
	msg = parse(HDRS "Content-Transfer-Encoding: BASE64\r\n\r\nSGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n");
	ck_assert_str_eq(decoded(msg, 0, NULL), "Hello, world!");
	ck_assert_uint_eq(msg->findings, 0);
}
END_TEST

/* b64_encode - base64 of in[0..n) wrapped at wrap characters (0: none) */
static void b64_encode(struct buf *b, const unsigned char *in, size_t n, size_t wrap)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;

	for (i = 0; i < n; i += 3) {
		unsigned long w = (unsigned long)in[i] << 16;
		char q[4];

		if (i + 1 < n)
			w |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < n)
			w |= in[i + 2];
		q[0] = al[(w >> 18) & 63];
		q[1] = al[(w >> 12) & 63];
		q[2] = i + 1 < n ? al[(w >> 6) & 63] : '=';
		q[3] = i + 2 < n ? al[w & 63] : '=';
		buf_append(b, q, 4);
		col += 4;
		if (wrap && col >= wrap) {
			buf_puts(b, "\r\n");
			col = 0;
		}
	}
	buf_puts(b, "\r\n");
}

START_TEST(test_base64_roundtrip)
{
	static const size_t wraps[] = { 0, 4, 64, 76, 78 };
	unsigned char data[1000];
	struct buf b = BUF_INIT;
	size_t i, w, n;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + (i >> 3));
	for (w = 0; w < sizeof(wraps) / sizeof(wraps[0]); w++) {
		for (n = 0; n < 40; n++) {
			struct mime_msg *msg;
			const char *out;
			size_t len, total = n < 20 ? n : 980 + n - 20;

			buf_reset(&b);
			buf_puts(&b, HDRS "Content-Transfer-Encoding: base64\r\n\r\n");
			b64_encode(&b, data, total, wraps[w]);
			msg = parse_lim(b.data, b.len, NULL);
			ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, NULL), 0);
			ck_assert_uint_eq(len, total);
			ck_assert(memcmp(out, data, total) == 0);
			ck_assert_uint_eq(msg->findings, 0);
			/* and cut at every limit near the end */
			if (total > 3) {
				ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, total - 1,
				    &out, &len, NULL), 1);
				ck_assert_uint_eq(len, total - 1);
				ck_assert(memcmp(out, data, total - 1) == 0);
				ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, total - 2,
				    &out, &len, NULL), 1);
				ck_assert_uint_eq(len, total - 2);
			}
			arena_reset(arena);
		}
	}
	buf_free(&b);
}
END_TEST

START_TEST(test_f_bad_qp)
{
	struct mime_msg *msg;

	msg = parse(HDRS "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "a=3Db=3d =ZZ end=\r\ntrail   \r\nlast=\r\n");
	ck_assert_str_eq(decoded(msg, 0, NULL), "a=b= =ZZ endtrail\r\nlast");
	ck_assert(has(msg, MIME_F_BAD_QP));
}
END_TEST

START_TEST(test_decoded_limit)
{
	struct mime_limits lim = { .max_decoded_size = 13 };
	static const char m[] = HDRS "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIHdvcmxkIQ==\r\n";
	static const char q[] = HDRS "Content-Transfer-Encoding: quoted-printable\r\n\r\nabc=3Ddef\r\n";
	static const char t[] = HDRS "\r\n0123456789";
	struct mime_msg *msg;
	const char *out;
	size_t len;

	/* exactly the decoded size: complete */
	msg = parse_lim(m, sizeof(m) - 1, &lim);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, NULL), 0);
	ck_assert_uint_eq(len, 13);
	ck_assert(!has(msg, MIME_F_DECODED_LIMIT));
	/* one less: cut at the limit exactly */
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 12, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 12);
	ck_assert(memcmp(out, "Hello, world", 12) == 0);
	ck_assert(has(msg, MIME_F_DECODED_LIMIT));
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 4, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 4);

	msg = parse_lim(q, sizeof(q) - 1, NULL);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 9, &out, &len, NULL), 0);
	ck_assert_uint_eq(len, 9);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 5, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(out, "abc=d", 5) == 0);

	msg = parse_lim(t, sizeof(t) - 1, NULL);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 10, &out, &len, NULL), 0);
	ck_assert_ptr_eq(out, msg->data + msg->root->body_offset);	/* no copy */
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 9, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 9);

	/* the per-message total */
	lim.max_decoded_size = 0;
	lim.max_decoded_total = 15;
	msg = parse_lim(t, sizeof(t) - 1, &lim);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, NULL), 0);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(mime_part_decode(arena, msg, msg->root, 0, &out, &len, NULL), 1);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_digest_default)
{
	struct mime_msg *msg = parse(HDRS "Content-Type: multipart/digest; boundary=g\r\n\r\n"
	    "--g\r\n\r\nFrom: x@y\r\nSubject: d1\r\n\r\none\r\n--g--\r\n");

	ck_assert_uint_eq(msg->nparts, 3);
	ck_assert_str_eq(msg->parts[1]->type, "message");
	ck_assert(msg->parts[2]->flags & MIME_PART_MESSAGE);
	ck_assert_str_eq(mime_header_first(msg->parts[2], "subject")->value, "d1");
}
END_TEST

START_TEST(test_empty_and_odd)
{
	struct mime_msg *msg;
	const char *err = NULL;

	msg = parse_lim("", 0, NULL);
	ck_assert_uint_eq(msg->nparts, 1);
	ck_assert(has(msg, MIME_F_MISSING_HEADER));
	msg = parse_lim(NULL, 0, NULL);
	ck_assert_uint_eq(msg->nparts, 1);
	ck_assert_int_eq(mime_parse(arena, "x", 1, NULL, NULL, &err), -1);
	ck_assert_ptr_nonnull(err);

	/* header only, no body */
	msg = parse(HDRS);
	ck_assert_uint_eq(msg->root->body_len, 0);
	ck_assert(!has(msg, MIME_F_UNTERMINATED_HEADER));

	/* empty body parts and delimiters back to back */
	msg = parse(HDRS "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n\r\n--b--");
	ck_assert_uint_eq(msg->nparts, 3);
	ck_assert_uint_eq(msg->parts[1]->body_len, 0);
	ck_assert_uint_eq(msg->parts[2]->body_len, 0);
	ck_assert(!has(msg, MIME_F_MISSING_BOUNDARY));
}
END_TEST

/* check_all - walk and decode everything; the invariants of any tree */
static void check_all(struct mime_msg *msg, size_t len)
{
	unsigned i;

	for (i = 0; i < msg->nparts; i++) {
		struct mime_part *p = msg->parts[i];
		const struct mime_header *h;
		const char *out;
		size_t olen;

		ck_assert_uint_eq(p->index, i);
		ck_assert_uint_le(p->body_offset + p->body_len, len);
		ck_assert_uint_le(p->offset + p->length, len);
		if (p->parent)
			ck_assert_uint_eq(p->depth, p->parent->depth + 1);
		for (h = p->headers; h; h = h->next)
			mime_decode_words(arena, h->value, h->value_len, NULL);
		ck_assert_int_ge(mime_part_decode(arena, msg, p, 0, &out, &olen, NULL), 0);
	}
}

START_TEST(test_every_truncation)
{
	size_t n = strlen(msg_mixed), i;
	char *lf = to_lf(msg_mixed);

	/* every prefix, as an exact-size heap copy so overreads are caught */
	for (i = 0; i <= n; i++) {
		char *copy = xmalloc(i ? i : 1);

		memcpy(copy, msg_mixed, i);
		check_all(parse_lim(copy, i, NULL), i);
		free(copy);
		arena_reset(arena);
	}
	n = strlen(lf);
	for (i = 0; i <= n; i++) {
		char *copy = xmalloc(i ? i : 1);

		memcpy(copy, lf, i);
		check_all(parse_lim(copy, i, NULL), i);
		free(copy);
		arena_reset(arena);
	}
	free(lf);
}
END_TEST

/* elapsed - seconds since t0 */
static double elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(test_hostile_linear)
{
	struct mime_limits lim = { .max_header_bytes = 4 * 1024 * 1024, .max_headers = 1000000,
		.max_headers_total = 1000000 };
	struct buf b = BUF_INIT;
	struct timespec t0;
	struct mime_msg *msg;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* 2 MB of near-delimiters at full depth */
	buf_puts(&b, HDRS);
	for (i = 0; i < 20; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%zu\r\n\r\n--b%zu\r\n", i, i);
	for (i = 0; i < 100000; i++)
		buf_puts(&b, "--b1x\r\n--b\r\n");
	msg = parse_lim(b.data, b.len, NULL);
	ck_assert(has(msg, MIME_F_MISSING_BOUNDARY));
	check_all(msg, b.len);

	/* 100,000 empty body parts: stops at max_parts */
	buf_reset(&b);
	buf_puts(&b, HDRS "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 100000; i++)
		buf_puts(&b, "--b\r\n");
	msg = parse_lim(b.data, b.len, NULL);
	ck_assert(has(msg, MIME_F_PARTS_LIMIT));
	ck_assert_uint_eq(msg->nparts, MIME_DEFAULT_MAX_PARTS);

	/* a huge header count and a header of unclosed encoded words */
	buf_reset(&b);
	buf_puts(&b, HDRS);
	for (i = 0; i < 100000; i++)
		buf_puts(&b, "X: y\r\n");
	buf_puts(&b, "Subject: ");
	for (i = 0; i < 100000; i++)
		buf_puts(&b, "=?utf-8?q?");
	buf_puts(&b, "\r\n\r\n");
	msg = parse_lim(b.data, b.len, &lim);
	ck_assert_uint_eq(msg->root->nheaders, 100006);
	{
		const struct mime_header *h = mime_header_next(mime_header_first(msg->root, "subject"));
		uint32_t f = 0;

		mime_decode_words(arena, h->value, h->value_len, &f);
		ck_assert(f & MIME_FBIT(MIME_F_BAD_ENCODED_WORD));
	}
	ck_assert_msg(elapsed(&t0) < 2.0, "hostile input took %.2f s", elapsed(&t0));
	buf_free(&b);
}
END_TEST

static Suite *mime_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("mime");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_simple_text);
	tcase_add_test(tc, test_header_next);
	tcase_add_test(tc, test_mixed_tree);
	tcase_add_test(tc, test_preamble_epilogue);
	tcase_add_test(tc, test_lf_same_tree);
	tcase_add_test(tc, test_rfc2231_continuation);
	tcase_add_test(tc, test_rfc2231_single_and_bad);
	tcase_add_test(tc, test_params_lenient);
	tcase_add_test(tc, test_rfc2047_subject_filename);
	tcase_add_test(tc, test_rfc2047_malformed);
	tcase_add_test(tc, test_f_8bit_header);
	tcase_add_test(tc, test_f_nul);
	tcase_add_test(tc, test_f_control_char);
	tcase_add_test(tc, test_f_long_line);
	tcase_add_test(tc, test_f_bad_syntax);
	tcase_add_test(tc, test_f_unterminated_header);
	tcase_add_test(tc, test_f_header_limit);
	tcase_add_test(tc, test_f_duplicate_missing);
	tcase_add_test(tc, test_f_missing_boundary);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_parts_limit);
	tcase_add_test(tc, test_f_bad_cte);
	tcase_add_test(tc, test_f_bad_base64);
	tcase_add_test(tc, test_base64_roundtrip);
	tcase_add_test(tc, test_f_bad_qp);
	tcase_add_test(tc, test_decoded_limit);
	tcase_add_test(tc, test_digest_default);
	tcase_add_test(tc, test_empty_and_odd);
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_hostile_linear);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(mime_suite());
}
