/*
 * test_ampdp_proto.c - unit tests of workers/ampdp_proto.c, the AM.PDP
 * request parser and response builder: %XX decoding and encoding, the
 * line / attribute / recipient / request-size limits (at the limit, one
 * past it, far past it), several requests on one stream, LF and CR LF,
 * NUL and bare CR, and a byte-at-a-time parse against a one-shot parse.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tests/unit/check_tap.h"
#include "workers/ampdp_proto.h"

/* a parsed request, copied out of the parser */
struct got {
	int n;				/* requests seen */
	char text[8][4096];		/* "name=value|name=value|" per request, values with \0 as "\\0" */
	const char *error[8];
	size_t nattrs[8], nrcpts[8], ignored[8];
};

/* record - append request r to g */
static void record(struct got *g, const struct ampdp_request *r)
{
	char *t;
	size_t i, j;

	ck_assert_int_lt(g->n, 8);
	t = g->text[g->n];
	t[0] = 0;
	for (i = 0; i < r->nattrs; i++) {
		size_t o = strlen(t);

		o += (size_t)snprintf(t + o, 4096 - o, "%s=", r->attrs[i].name);
		for (j = 0; j < r->attrs[i].value_len && o + 4 < 4096; j++) {
			if (r->attrs[i].value[j] == 0) {
				t[o++] = '\\';
				t[o++] = '0';
			} else {
				t[o++] = r->attrs[i].value[j];
			}
		}
		t[o++] = '|';
		t[o] = 0;
	}
	g->error[g->n] = r->error;
	g->nattrs[g->n] = r->nattrs;
	g->nrcpts[g->n] = r->nrcpts;
	g->ignored[g->n] = r->ignored_lines;
	g->n++;
}

/* parse_step - feed s in pieces of step bytes (0: all at once) */
static void parse_step(const char *s, size_t len, size_t step, const struct ampdp_limits *lim, struct got *g)
{
	struct ampdp_parser *p = ampdp_parser_create(lim);
	size_t off = 0;

	memset(g, 0, sizeof(*g));
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off;
		size_t used = 0, k = 0;

		while (k < n) {
			if (ampdp_parser_feed(p, s + off + k, n - k, &used) == AMPDP_REQUEST) {
				const struct ampdp_request *r = ampdp_parser_request(p);

				ck_assert_ptr_nonnull(r);
				record(g, r);
			}
			ck_assert_uint_gt(used, 0);
			k += used;
		}
		off += n;
	}
	ampdp_parser_free(&p);
	ck_assert_ptr_null(p);
}

/* parse - one-shot parse of a NUL-terminated string */
static void parse(const char *s, struct got *g)
{
	parse_step(s, strlen(s), 0, NULL, g);
}

/* ---- decoding ---- */

START_TEST(decode_hex)
{
	char out[64];

	ck_assert_uint_eq(ampdp_decode("a%20b%2Fc%2fd", 13, out), 7);
	ck_assert_str_eq(out, "a b/c/d");
	/* not two hex digits: the % stays */
	ck_assert_uint_eq(ampdp_decode("%zz%4%", 6, out), 6);
	ck_assert_str_eq(out, "%zz%4%");
	ck_assert_uint_eq(ampdp_decode("%", 1, out), 1);
	ck_assert_uint_eq(ampdp_decode("100%25", 6, out), 4);
	ck_assert_str_eq(out, "100%");
	/* an encoded NUL comes out as a NUL, counted in the length */
	ck_assert_uint_eq(ampdp_decode("a%00b", 5, out), 3);
	ck_assert_int_eq(out[1], 0);
	ck_assert_int_eq(out[2], 'b');
}
END_TEST

START_TEST(request_basic)
{
	struct got g;

	parse("request=AM.PDP\r\nsender=%3Cme@example.com%3E\r\nrecipient=<a@x>\r\nrecipient=<b@x>\r\n"
	    "tempdir=/var/lib/amavis/tmp/af1\r\n\r\n", &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_ptr_null(g.error[0]);
	ck_assert_uint_eq(g.nattrs[0], 5);
	ck_assert_uint_eq(g.nrcpts[0], 2);
	ck_assert_str_eq(g.text[0], "request=AM.PDP|sender=<me@example.com>|recipient=<a@x>|recipient=<b@x>|"
	    "tempdir=/var/lib/amavis/tmp/af1|");
}
END_TEST

START_TEST(request_lf_only_and_colon_form)
{
	struct got g;

	/* amavisd-milter ends lines with LF alone; "name: value" is Postfix's form */
	parse("request=AM.PDP\nqueue_id: \t4ABC\nhelo_name=h%20x\n\n", &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_ptr_null(g.error[0]);
	ck_assert_str_eq(g.text[0], "request=AM.PDP|queue_id=4ABC|helo_name=h x|");
}
END_TEST

START_TEST(request_get)
{
	struct ampdp_parser *p = ampdp_parser_create(NULL);
	const char *s = "request=release\r\nmail_id=abc\r\nrecipient=<a>\r\nrecipient=<b>\r\n\r\n";
	const struct ampdp_request *r;
	const struct ampdp_attr *a;
	size_t used, n;

	ck_assert_int_eq(ampdp_parser_feed(p, s, strlen(s), &used), AMPDP_REQUEST);
	ck_assert_uint_eq(used, strlen(s));
	r = ampdp_parser_request(p);
	a = ampdp_get(r, "recipient", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(a->value, "<a>");
	ck_assert_ptr_null(ampdp_get(r, "secret_id", &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ampdp_parser_pending(p), 0);
	ampdp_parser_free(&p);
}
END_TEST

START_TEST(request_several_per_connection)
{
	struct got g;

	parse("request=AM.PDP\r\nrecipient=<a@x>\r\n\r\nrequest=release\r\nmail_id=X1\r\n\r\n"
	    "request=requeue\nmail_id=X2\n\n", &g);
	ck_assert_int_eq(g.n, 3);
	ck_assert_str_eq(g.text[0], "request=AM.PDP|recipient=<a@x>|");
	ck_assert_str_eq(g.text[1], "request=release|mail_id=X1|");
	ck_assert_str_eq(g.text[2], "request=requeue|mail_id=X2|");
	ck_assert_ptr_null(g.error[2]);
}
END_TEST

START_TEST(request_must_come_first)
{
	struct got g;

	parse("sender=<a>\r\nrequest=AM.PDP\r\n\r\nrequest=AM.PDP\r\nrequest=release\r\n\r\n\r\n", &g);
	ck_assert_int_eq(g.n, 3);
	ck_assert_str_eq(g.error[0], "'request' must be the first attribute");
	ck_assert_str_eq(g.error[1], "'request' given twice");
	/* a lone empty line is a request without attributes */
	ck_assert_str_eq(g.error[2], "missing 'request' attribute");
}
END_TEST

START_TEST(request_bad_lines)
{
	struct got g;

	/* no '=': ignored and counted; an encoded NUL/CR/LF makes the value
	 * unsafe but keeps it; in a name it drops the attribute */
	parse("request=AM.PDP\r\njunk line\r\nsender=a%00b\r\nrecip%0aient=x\r\nclient_name=a%0db\r\n\r\n", &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_ptr_null(g.error[0]);
	ck_assert_uint_eq(g.ignored[0], 2);
	ck_assert_str_eq(g.text[0], "request=AM.PDP|sender=a\\0b|client_name=a\rb|");
	{
		struct ampdp_parser *p = ampdp_parser_create(NULL);
		const char *s = "request=AM.PDP\nsender=a%00b\nqueue_id=Q\n\n";
		size_t used;
		const struct ampdp_request *r;

		ck_assert_int_eq(ampdp_parser_feed(p, s, strlen(s), &used), AMPDP_REQUEST);
		r = ampdp_parser_request(p);
		ck_assert_int_eq(ampdp_get(r, "sender", NULL)->unsafe, 1);
		ck_assert_uint_eq(ampdp_get(r, "sender", NULL)->value_len, 3);
		ck_assert_int_eq(ampdp_get(r, "queue_id", NULL)->unsafe, 0);
		ampdp_parser_free(&p);
	}
}
END_TEST

START_TEST(request_bare_cr_and_nul)
{
	struct got g;
	const char s[] = "request=AM.PDP\r\nx=a\rb\r\ny=c\0d\r\n\r\n";

	parse_step(s, sizeof(s) - 1, 0, NULL, &g);
	ck_assert_int_eq(g.n, 1);
	/* a bare CR inside a line is data; a raw NUL in a value too */
	ck_assert_str_eq(g.text[0], "request=AM.PDP|x=a\rb|y=c\\0d|");
	/* "\r\r\n" is not an empty line */
	parse("request=AM.PDP\r\n\r\r\n\r\n", &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_uint_eq(g.ignored[0], 1);
}
END_TEST

/* ---- limits ---- */

/* long_request - "request=AM.PDP\nq=<n x's>\n\n" in a malloc'd buffer */
static char *long_request(size_t n, const char *eol)
{
	size_t el = strlen(eol);
	char *s = malloc(32 + n + 3 * el);
	size_t o = 0;

	o += (size_t)sprintf(s, "request=AM.PDP%s", eol);
	memcpy(s + o, "q=", 2);
	o += 2;
	memset(s + o, 'x', n);
	o += n;
	o += (size_t)sprintf(s + o, "%s%s", eol, eol);
	return s;
}

START_TEST(limit_line_exact)
{
	struct ampdp_limits lim = { 100, 0, 0, 0 };
	struct got g;
	char *s;
	size_t i;

	/* "q=" + 98 bytes is exactly 100: fine, with LF and with CR LF,
	 * one-shot and byte by byte */
	for (i = 0; i < 2; i++) {
		s = long_request(98, i ? "\r\n" : "\n");
		parse_step(s, strlen(s), 0, &lim, &g);
		ck_assert_int_eq(g.n, 1);
		ck_assert_ptr_null(g.error[0]);
		ck_assert_uint_eq(g.nattrs[0], 2);
		parse_step(s, strlen(s), 1, &lim, &g);
		ck_assert_int_eq(g.n, 1);
		ck_assert_ptr_null(g.error[0]);
		free(s);
	}
}
END_TEST

START_TEST(limit_line_over)
{
	struct ampdp_limits lim = { 100, 0, 0, 0 };
	struct got g;
	char *s;
	size_t i, n;
	static const size_t lens[] = { 99, 100, 5000 };

	for (n = 0; n < 3; n++)
		for (i = 0; i < 2; i++) {
			s = long_request(lens[n], i ? "\r\n" : "\n");
			parse_step(s, strlen(s), 0, &lim, &g);
			ck_assert_int_eq(g.n, 1);
			ck_assert_str_eq(g.error[0], "line too long");
			ck_assert_uint_eq(g.nattrs[0], 1);
			parse_step(s, strlen(s), 7, &lim, &g);
			ck_assert_int_eq(g.n, 1);
			ck_assert_str_eq(g.error[0], "line too long");
			free(s);
		}
	/* after an overlong request the next one is fine */
	s = long_request(300, "\r\n");
	{
		size_t l = strlen(s);
		char *t = malloc(l + 40);

		memcpy(t, s, l);
		strcpy(t + l, "request=AM.PDP\r\nz=1\r\n\r\n");
		parse_step(t, strlen(t), 3, &lim, &g);
		ck_assert_int_eq(g.n, 2);
		ck_assert_str_eq(g.error[0], "line too long");
		ck_assert_ptr_null(g.error[1]);
		ck_assert_str_eq(g.text[1], "request=AM.PDP|z=1|");
		free(t);
	}
	free(s);
}
END_TEST

/* rcpts_request - a request with n recipients */
static char *rcpts_request(size_t n, size_t extra)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_puts(&b, "request=AM.PDP\r\n");
	for (i = 0; i < n; i++)
		buf_printf(&b, "recipient=<r%zu@example.com>\r\n", i);
	for (i = 0; i < extra; i++)
		buf_printf(&b, "x%zu=1\r\n", i);
	buf_puts(&b, "\r\n");
	return b.data;
}

START_TEST(limit_rcpts)
{
	struct ampdp_limits lim = { 0, 0, 10, 0 };
	struct got g;
	char *s;

	s = rcpts_request(10, 0);
	parse_step(s, strlen(s), 0, &lim, &g);
	ck_assert_ptr_null(g.error[0]);
	ck_assert_uint_eq(g.nrcpts[0], 10);
	free(s);
	s = rcpts_request(11, 0);
	parse_step(s, strlen(s), 0, &lim, &g);
	ck_assert_str_eq(g.error[0], "too many recipients");
	ck_assert_uint_eq(g.nrcpts[0], 10);
	free(s);
	s = rcpts_request(5000, 0);
	parse_step(s, strlen(s), 0, &lim, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.error[0], "too many recipients");
	free(s);
}
END_TEST

START_TEST(limit_attrs)
{
	struct ampdp_limits lim = { 0, 20, 0, 0 };
	struct got g;
	char *s;

	s = rcpts_request(0, 19);	/* request + 19 = 20 */
	parse_step(s, strlen(s), 0, &lim, &g);
	ck_assert_ptr_null(g.error[0]);
	ck_assert_uint_eq(g.nattrs[0], 20);
	free(s);
	s = rcpts_request(0, 20);
	parse_step(s, strlen(s), 0, &lim, &g);
	ck_assert_str_eq(g.error[0], "too many attributes");
	ck_assert_uint_eq(g.nattrs[0], 20);
	free(s);
}
END_TEST

START_TEST(limit_request_size)
{
	struct ampdp_limits lim = { 0, 0, 0, 1000 };
	struct got g;
	char *s, *t;
	size_t l;

	s = rcpts_request(100, 0);	/* ~3 KB */
	l = strlen(s);
	t = malloc(l + 40);
	memcpy(t, s, l);
	strcpy(t + l, "request=AM.PDP\r\nz=1\r\n\r\n");
	parse_step(t, strlen(t), 0, &lim, &g);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.error[0], "request too large");
	ck_assert_ptr_null(g.error[1]);
	parse_step(t, strlen(t), 1, &lim, &g);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.error[0], "request too large");
	ck_assert_str_eq(g.text[1], "request=AM.PDP|z=1|");
	free(t);
	free(s);
}
END_TEST

START_TEST(pending_bytes)
{
	struct ampdp_parser *p = ampdp_parser_create(NULL);
	size_t used;

	ck_assert_uint_eq(ampdp_parser_pending(p), 0);
	ck_assert_int_eq(ampdp_parser_feed(p, "request=AM", 10, &used), AMPDP_MORE);
	ck_assert_uint_eq(used, 10);
	ck_assert_uint_eq(ampdp_parser_pending(p), 10);
	ck_assert_int_eq(ampdp_parser_feed(p, ".PDP\n\nrest", 10, &used), AMPDP_REQUEST);
	ck_assert_uint_eq(used, 6);
	ck_assert_uint_eq(ampdp_parser_pending(p), 0);
	ampdp_parser_free(&p);
}
END_TEST

/* ---- byte at a time vs one shot ---- */

START_TEST(split_anywhere)
{
	static const char *const inputs[] = {
		"request=AM.PDP\r\nsender=%3Ca%20b@x%3E\r\nrecipient=<a@x>\r\n\r\nrequest=release\nmail_id=Z\n\n",
		"junk\n\nrequest=AM.PDP\r\nq:  v\r\n%72equest=x\r\n\r\n",
		"request=AM.PDP\r\nx=%\r\ny=%4\r\nz=%41%\r\n\r\n\r\n",
	};
	size_t i, step;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct got one, many;
		int k;

		parse(inputs[i], &one);
		for (step = 1; step <= 9; step++) {
			parse_step(inputs[i], strlen(inputs[i]), step, NULL, &many);
			ck_assert_int_eq(many.n, one.n);
			for (k = 0; k < one.n; k++) {
				ck_assert_str_eq(many.text[k], one.text[k]);
				ck_assert_uint_eq(many.ignored[k], one.ignored[k]);
				if (one.error[k])
					ck_assert_str_eq(many.error[k], one.error[k]);
				else
					ck_assert_ptr_null(many.error[k]);
			}
		}
	}
}
END_TEST

/* ---- response builder ---- */

START_TEST(put_encoding)
{
	struct buf b = BUF_INIT;
	const char *f[3] = { "554", "5.7.0", "Reject, id=123-01 - INFECTED: 100% bad\x01\xff" };

	ampdp_put(&b, "setreply", f, 3);
	ampdp_put1(&b, "odd name=", "a b");
	ampdp_put1(&b, "delrcpt", "<a@b>");
	ampdp_end(&b);
	ck_assert_str_eq(b.data, "setreply=554 5.7.0 Reject,%20id=123-01%20-%20INFECTED:%20100%25%20bad%01%ff\r\n"
	    "odd%20name%3d=a%20b\r\ndelrcpt=<a@b>\r\n\r\n");
	buf_free(&b);
}
END_TEST

START_TEST(put_roundtrip)
{
	struct buf b = BUF_INIT;
	struct got g;
	const char *v = "X-Virus-Scanned: tollgate at example.com %% \t~";

	ampdp_put1(&b, "request", "AM.PDP");
	ampdp_put1(&b, "h", v);
	ampdp_end(&b);
	parse(b.data, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.text[0], "request=AM.PDP|h=X-Virus-Scanned: tollgate at example.com %% \t~|");
	buf_free(&b);
}
END_TEST

START_TEST(split_reply)
{
	char code[4], enh[16];
	const char *text;

	ampdp_split_reply("554 5.7.0 Reject, id=1-01 - INFECTED: x", code, enh, &text);
	ck_assert_str_eq(code, "554");
	ck_assert_str_eq(enh, "5.7.0");
	ck_assert_str_eq(text, "Reject, id=1-01 - INFECTED: x");
	ampdp_split_reply("250 Ok queued", code, enh, &text);
	ck_assert_str_eq(code, "250");
	ck_assert_str_eq(enh, "2.0.0");
	ck_assert_str_eq(text, "Ok queued");
	ampdp_split_reply("451 4.123.456", code, enh, &text);
	ck_assert_str_eq(enh, "4.123.456");
	ck_assert_str_eq(text, "");
	ampdp_split_reply("451 4.1234.1 x", code, enh, &text);
	ck_assert_str_eq(enh, "4.0.0");
	ck_assert_str_eq(text, "4.1234.1 x");
	ampdp_split_reply("garbage", code, enh, &text);
	ck_assert_str_eq(code, "451");
	ck_assert_str_eq(enh, "4.5.0");
	ck_assert_str_eq(text, "garbage");
	ampdp_split_reply(NULL, code, enh, &text);
	ck_assert_str_eq(code, "451");
	ampdp_split_reply("6000 x", code, enh, &text);
	ck_assert_str_eq(code, "451");
}
END_TEST

static Suite *ampdp_suite(void)
{
	Suite *s = suite_create("ampdp_proto");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, decode_hex);
	tcase_add_test(tc, request_basic);
	tcase_add_test(tc, request_lf_only_and_colon_form);
	tcase_add_test(tc, request_get);
	tcase_add_test(tc, request_several_per_connection);
	tcase_add_test(tc, request_must_come_first);
	tcase_add_test(tc, request_bad_lines);
	tcase_add_test(tc, request_bare_cr_and_nul);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_test(tc, limit_line_exact);
	tcase_add_test(tc, limit_line_over);
	tcase_add_test(tc, limit_rcpts);
	tcase_add_test(tc, limit_attrs);
	tcase_add_test(tc, limit_request_size);
	tcase_add_test(tc, pending_bytes);
	tcase_add_test(tc, split_anywhere);
	suite_add_tcase(s, tc);
	tc = tcase_create("build");
	tcase_add_test(tc, put_encoding);
	tcase_add_test(tc, put_roundtrip);
	tcase_add_test(tc, split_reply);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(ampdp_suite());
}
