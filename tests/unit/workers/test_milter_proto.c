/*
 * test_milter_proto.c - unit tests of workers/milter_proto.c, the milter
 * packet reader, decoder and builder: every command, malformed sizes,
 * strings without their NUL, wrong counts, the length limits (exactly
 * at, one past, far past), a packet stream fed in one piece, a byte at
 * a time and split at every position, negotiation, and the builders.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tests/unit/check_tap.h"
#include "workers/milter_proto.h"

static struct milter_cmd cmd;
static const char *err;

/* decode - decode one packet given as cmd + data */
static int decode(unsigned char c, const void *data, size_t len)
{
	struct milter_packet p = { c, data, len };

	err = NULL;
	return milter_decode(&p, &cmd, &err);
}

#define DEC(c, lit) decode((c), (lit), sizeof(lit) - 1)

/* expect_bad - the packet is refused with a reason */
#define expect_bad(c, lit) do { \
	ck_assert_int_eq(DEC(c, lit), -1); \
	ck_assert_ptr_nonnull(err); \
} while (0)

/* ---- decoding, command by command ---- */

START_TEST(dec_optneg)
{
	ck_assert_int_eq(DEC(SMFIC_OPTNEG, "\0\0\0\6\0\0\x01\xff\0\x1f\xff\xff"), 0);
	ck_assert_uint_eq(cmd.version, 6);
	ck_assert_uint_eq(cmd.actions, 0x1ff);
	ck_assert_uint_eq(cmd.protocol, 0x1fffff);
	expect_bad(SMFIC_OPTNEG, "\0\0\0\6\0\0\x01\xff\0\x1f\xff");
	expect_bad(SMFIC_OPTNEG, "\0\0\0\6\0\0\x01\xff\0\x1f\xff\xff\0");
	expect_bad(SMFIC_OPTNEG, "");
}
END_TEST

START_TEST(dec_macro)
{
	ck_assert_int_eq(DEC(SMFIC_MACRO, "Cj\0mx.example\0{daemon_name}\0smtpd-in\0"), 0);
	ck_assert_int_eq(cmd.macro_stage, 'C');
	ck_assert_uint_eq(cmd.nmacros, 2);
	ck_assert_str_eq(cmd.macro_name[0], "j");
	ck_assert_str_eq(cmd.macro_value[0], "mx.example");
	ck_assert_str_eq(cmd.macro_name[1], "{daemon_name}");
	ck_assert_str_eq(cmd.macro_value[1], "smtpd-in");
	/* a stage with no macros, an empty value */
	ck_assert_int_eq(DEC(SMFIC_MACRO, "M"), 0);
	ck_assert_uint_eq(cmd.nmacros, 0);
	ck_assert_int_eq(DEC(SMFIC_MACRO, "Mi\0\0"), 0);
	ck_assert_str_eq(cmd.macro_value[0], "");
	expect_bad(SMFIC_MACRO, "");			/* no stage */
	expect_bad(SMFIC_MACRO, "Mi\0");		/* name without value */
	expect_bad(SMFIC_MACRO, "Mi\0val");		/* value without NUL */
	expect_bad(SMFIC_MACRO, "M\0val\0");		/* empty name */
}
END_TEST

START_TEST(dec_macro_limit)
{
	struct buf b = BUF_INIT;
	int i;

	buf_putc(&b, 'M');
	for (i = 0; i < MILTER_MACROS_MAX; i++)
		buf_append(&b, "n\0v\0", 4);
	ck_assert_int_eq(decode(SMFIC_MACRO, b.data, b.len), 0);
	ck_assert_uint_eq(cmd.nmacros, MILTER_MACROS_MAX);
	buf_append(&b, "n\0v\0", 4);
	ck_assert_int_eq(decode(SMFIC_MACRO, b.data, b.len), -1);
	buf_free(&b);
}
END_TEST

START_TEST(dec_connect)
{
	ck_assert_int_eq(DEC(SMFIC_CONNECT, "client.example\0" "4\x30\x39" "192.0.2.1\0"), 0);
	ck_assert_str_eq(cmd.hostname, "client.example");
	ck_assert_int_eq(cmd.family, '4');
	ck_assert_uint_eq(cmd.port, 12345);
	ck_assert_str_eq(cmd.address, "192.0.2.1");
	ck_assert_int_eq(DEC(SMFIC_CONNECT, "[2001:db8::1]\0" "6\0\x19" "2001:db8::1\0"), 0);
	ck_assert_int_eq(cmd.family, '6');
	ck_assert_uint_eq(cmd.port, 25);
	ck_assert_int_eq(DEC(SMFIC_CONNECT, "localhost\0" "L\0\0" "/run/x\0"), 0);
	ck_assert_str_eq(cmd.address, "/run/x");
	ck_assert_int_eq(DEC(SMFIC_CONNECT, "unknown\0U"), 0);
	ck_assert_int_eq(cmd.family, 'U');
	ck_assert_ptr_null(cmd.address);
	expect_bad(SMFIC_CONNECT, "unknown\0U\0");	/* data after U */
	expect_bad(SMFIC_CONNECT, "host");		/* no NUL */
	expect_bad(SMFIC_CONNECT, "host\0");		/* no family */
	expect_bad(SMFIC_CONNECT, "host\0X\0\0a\0");	/* bad family */
	expect_bad(SMFIC_CONNECT, "host\0" "4\0");	/* port cut */
	expect_bad(SMFIC_CONNECT, "host\0" "4\0\x19");	/* no address */
	expect_bad(SMFIC_CONNECT, "host\0" "4\0\x19" "1.2.3.4");	/* address without NUL */
	expect_bad(SMFIC_CONNECT, "host\0" "4\0\x19" "1.2.3.4\0x\0");	/* trailing string */
}
END_TEST

START_TEST(dec_helo_unknown)
{
	ck_assert_int_eq(DEC(SMFIC_HELO, "mx.example\0"), 0);
	ck_assert_str_eq(cmd.text, "mx.example");
	expect_bad(SMFIC_HELO, "mx.example");
	expect_bad(SMFIC_HELO, "a\0b\0");
	expect_bad(SMFIC_HELO, "");
	ck_assert_int_eq(DEC(SMFIC_UNKNOWN, "XYZZY\0"), 0);
	ck_assert_str_eq(cmd.text, "XYZZY");
	expect_bad(SMFIC_UNKNOWN, "XYZZY");
}
END_TEST

START_TEST(dec_mail_rcpt)
{
	ck_assert_int_eq(DEC(SMFIC_MAIL, "<a@example.net>\0SIZE=100\0BODY=8BITMIME\0"), 0);
	ck_assert_uint_eq(cmd.nargs, 3);
	ck_assert_str_eq(cmd.args[0], "<a@example.net>");
	ck_assert_str_eq(cmd.args[2], "BODY=8BITMIME");
	ck_assert_int_eq(DEC(SMFIC_RCPT, "<b@example.com>\0"), 0);
	ck_assert_uint_eq(cmd.nargs, 1);
	ck_assert_int_eq(DEC(SMFIC_MAIL, "<>\0"), 0);
	ck_assert_str_eq(cmd.args[0], "<>");
	expect_bad(SMFIC_MAIL, "");
	expect_bad(SMFIC_MAIL, "<a@b>");
	expect_bad(SMFIC_RCPT, "<a@b>\0SIZE=1");
}
END_TEST

START_TEST(dec_args_limit)
{
	struct buf b = BUF_INIT;
	int i;

	buf_append(&b, "<a@b>\0", 6);
	for (i = 1; i < MILTER_ARGS_MAX; i++)
		buf_append(&b, "X=1\0", 4);
	ck_assert_int_eq(decode(SMFIC_MAIL, b.data, b.len), 0);
	ck_assert_uint_eq(cmd.nargs, MILTER_ARGS_MAX);
	buf_append(&b, "X=1\0", 4);
	ck_assert_int_eq(decode(SMFIC_MAIL, b.data, b.len), -1);
	buf_free(&b);
}
END_TEST

START_TEST(dec_header)
{
	ck_assert_int_eq(DEC(SMFIC_HEADER, "Subject\0 hello\0"), 0);
	ck_assert_str_eq(cmd.name, "Subject");
	ck_assert_str_eq(cmd.value, " hello");
	ck_assert_int_eq(DEC(SMFIC_HEADER, "X-Empty\0\0"), 0);
	ck_assert_str_eq(cmd.value, "");
	ck_assert_int_eq(DEC(SMFIC_HEADER, "Received\0 from a\n\tby b\0"), 0);
	ck_assert_str_eq(cmd.value, " from a\n\tby b");
	expect_bad(SMFIC_HEADER, "Subject\0hello");		/* value without NUL */
	expect_bad(SMFIC_HEADER, "Subject\0");			/* no value */
	expect_bad(SMFIC_HEADER, "Subject\0a\0b\0");		/* one too many */
	expect_bad(SMFIC_HEADER, "\0value\0");			/* empty name */
	expect_bad(SMFIC_HEADER, "Sub ject\0v\0");		/* blank in name */
	expect_bad(SMFIC_HEADER, "Sub:ject\0v\0");		/* colon in name */
	expect_bad(SMFIC_HEADER, "Sub\x80ject\0v\0");		/* 8-bit name */
}
END_TEST

START_TEST(dec_empty_commands)
{
	const unsigned char c[] = { SMFIC_EOH, SMFIC_ABORT, SMFIC_QUIT, SMFIC_QUIT_NC, SMFIC_DATA };
	size_t i;

	for (i = 0; i < sizeof(c); i++) {
		ck_assert_int_eq(decode(c[i], "", 0), 0);
		ck_assert_int_eq(cmd.known, 1);
		ck_assert_int_eq(decode(c[i], "x", 1), -1);
	}
}
END_TEST

START_TEST(dec_body)
{
	static unsigned char big[MILTER_BODY_MAX + 1];

	ck_assert_int_eq(DEC(SMFIC_BODY, "line\r\n\0bin\r\n"), 0);
	ck_assert_uint_eq(cmd.body_len, 12);
	ck_assert_int_eq(memcmp(cmd.body, "line\r\n\0bin\r\n", 12), 0);
	ck_assert_int_eq(decode(SMFIC_BODY, big, MILTER_BODY_MAX), 0);
	ck_assert_int_eq(decode(SMFIC_BODY, big, MILTER_BODY_MAX + 1), -1);
	ck_assert_int_eq(decode(SMFIC_BODYEOB, "", 0), 0);
	ck_assert_uint_eq(cmd.body_len, 0);
	ck_assert_int_eq(DEC(SMFIC_BODYEOB, "last\r\n"), 0);
	ck_assert_uint_eq(cmd.body_len, 6);
}
END_TEST

START_TEST(dec_unknown_byte)
{
	ck_assert_int_eq(DEC('Z', "whatever"), 0);
	ck_assert_int_eq(cmd.known, 0);
	ck_assert_int_eq(cmd.cmd, 'Z');
	ck_assert_str_eq(milter_cmd_name('Z'), "unknown");
	ck_assert_str_eq(milter_cmd_name(SMFIC_BODYEOB), "SMFIC_BODYEOB");
}
END_TEST

/* ---- the reader ---- */

/* push_all - feed data in one piece; collect the packets as "cmd:len;" */
static int push_all(struct milter_reader *r, const unsigned char *data, size_t len, size_t piece, struct buf *sig)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = len - off < piece ? len - off : piece, coff = 0;

		while (coff < chunk) {
			struct milter_packet p;
			size_t used = 0;
			int rc = milter_reader_push(r, data + off + coff, chunk - coff, &used, &p, &err);

			if (rc < 0)
				return -1;
			ck_assert_uint_le(used, chunk - coff);
			coff += used;
			if (rc == 1) {
				struct milter_cmd c;
				const char *e = NULL;

				buf_printf(sig, "%c:%zu:", p.cmd, p.len);
				if (milter_decode(&p, &c, &e) < 0)
					buf_printf(sig, "bad(%s)", e);
				else if (c.cmd == SMFIC_HEADER)
					buf_printf(sig, "%s=%s", c.name, c.value);
				else if (c.cmd == SMFIC_MAIL || c.cmd == SMFIC_RCPT)
					buf_printf(sig, "%s/%zu", c.args[0], c.nargs);
				else if (c.cmd == SMFIC_BODY)
					buf_append(sig, c.body, c.body_len);
				buf_putc(sig, ';');
			} else {
				ck_assert_uint_eq(coff, chunk);
			}
		}
		off += chunk;
	}
	return 0;
}

/* stream - a whole session's packets */
static void stream(struct buf *b)
{
	milter_put(b, SMFIC_OPTNEG, "\0\0\0\6\0\0\x01\xff\0\x1f\xff\xff", 12);
	milter_put(b, SMFIC_MACRO, "Cj\0mx\0", 6);
	milter_put(b, SMFIC_CONNECT, "c.example\0" "4\0\x19" "192.0.2.7\0", 23);
	milter_put_str(b, SMFIC_HELO, "helo.example");
	milter_put(b, SMFIC_MAIL, "<s@x>\0SIZE=9\0", 13);
	milter_put_str(b, SMFIC_RCPT, "<r@y>");
	milter_put(b, SMFIC_HEADER, "Subject\0 hi\0", 12);
	milter_put(b, SMFIC_EOH, NULL, 0);
	milter_put(b, SMFIC_BODY, "body\r\nline\r\n", 12);
	milter_put(b, SMFIC_BODYEOB, NULL, 0);
	milter_put(b, SMFIC_QUIT, NULL, 0);
}

START_TEST(reader_split_everywhere)
{
	struct buf in = BUF_INIT, one = BUF_INIT, sig = BUF_INIT;
	struct milter_reader r;
	size_t cut;

	stream(&in);
	milter_reader_init(&r);
	ck_assert_int_eq(push_all(&r, (unsigned char *)in.data, in.len, in.len, &one), 0);
	ck_assert_int_eq(milter_reader_idle(&r), 1);
	milter_reader_free(&r);
	ck_assert_ptr_nonnull(strstr(one.data, "L:12:Subject= hi;"));
	ck_assert_ptr_nonnull(strstr(one.data, "M:13:<s@x>/2;"));
	ck_assert_ptr_nonnull(strstr(one.data, "B:12:body\r\nline\r\n;"));
	/* a byte at a time */
	milter_reader_init(&r);
	ck_assert_int_eq(push_all(&r, (unsigned char *)in.data, in.len, 1, &sig), 0);
	milter_reader_free(&r);
	ck_assert_str_eq(sig.data, one.data);
	/* two pieces, cut at every position */
	for (cut = 1; cut < in.len; cut++) {
		size_t used = 0;

		buf_reset(&sig);
		milter_reader_init(&r);
		ck_assert_int_eq(push_all(&r, (unsigned char *)in.data, cut, cut, &sig), 0);
		ck_assert_int_eq(push_all(&r, (unsigned char *)in.data + cut, in.len - cut, in.len, &sig), 0);
		(void)used;
		milter_reader_free(&r);
		ck_assert_msg(strcmp(sig.data, one.data) == 0, "cut at %zu differs", cut);
	}
	buf_free(&in);
	buf_free(&one);
	buf_free(&sig);
}
END_TEST

/* push_head - a reader fed one packet header: len, then cmd; rc of the push */
static int push_head(uint32_t len, unsigned char c)
{
	unsigned char h[5] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
		(unsigned char)len, c };
	struct milter_reader r;
	struct milter_packet p;
	size_t used;
	int rc;

	milter_reader_init(&r);
	rc = milter_reader_push(&r, h, 5, &used, &p, &err);
	milter_reader_free(&r);
	return rc;
}

START_TEST(reader_limits)
{
	ck_assert_int_eq(push_head(0, 'Q'), -1);			/* no command byte */
	ck_assert_int_eq(push_head(1, SMFIC_QUIT), 1);
	ck_assert_int_eq(push_head(MILTER_PACKET_MAX, SMFIC_HEADER), 0);	/* at the limit: waits */
	ck_assert_int_eq(push_head(MILTER_PACKET_MAX + 1, SMFIC_HEADER), -1);
	ck_assert_int_eq(push_head(0xffffffffu, SMFIC_HEADER), -1);
	ck_assert_int_eq(push_head(MILTER_BODY_MAX + 1, SMFIC_BODY), 0);	/* 65535 data bytes */
	ck_assert_int_eq(push_head(MILTER_BODY_MAX + 2, SMFIC_BODY), -1);
	ck_assert_int_eq(push_head(MILTER_BODY_MAX + 2, SMFIC_BODYEOB), -1);
	ck_assert_int_eq(push_head(MILTER_BODY_MAX + 2, SMFIC_HEADER), 0);
}
END_TEST

START_TEST(reader_error_sticks)
{
	struct milter_reader r;
	struct milter_packet p;
	size_t used;

	milter_reader_init(&r);
	ck_assert_int_eq(milter_reader_push(&r, "\0\0\0\0", 4, &used, &p, &err), -1);
	ck_assert_int_eq(milter_reader_push(&r, "\0\0\0\1Q", 5, &used, &p, &err), -1);
	milter_reader_free(&r);
}
END_TEST

START_TEST(reader_exact_packet)
{
	struct buf b = BUF_INIT;
	struct milter_reader r;
	struct milter_packet p;
	char *big = malloc(MILTER_PACKET_MAX);
	size_t used, off = 0;
	int rc = 0;

	/* a header packet of exactly MILTER_PACKET_MAX, fed in odd pieces */
	memset(big, 'a', MILTER_PACKET_MAX - 1);
	memcpy(big, "X-Big\0", 6);
	big[MILTER_PACKET_MAX - 2] = 0;
	milter_put(&b, SMFIC_HEADER, big, MILTER_PACKET_MAX - 1);
	milter_reader_init(&r);
	while (off < b.len) {
		size_t n = b.len - off < 7777 ? b.len - off : 7777;

		rc = milter_reader_push(&r, b.data + off, n, &used, &p, &err);
		ck_assert_int_ge(rc, 0);
		off += used;
	}
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(milter_decode(&p, &cmd, &err), 0);
	ck_assert_str_eq(cmd.name, "X-Big");
	ck_assert_uint_eq(strlen(cmd.value), MILTER_PACKET_MAX - 2 - 6);
	milter_reader_free(&r);
	buf_free(&b);
	free(big);
}
END_TEST

/* ---- negotiation ---- */

START_TEST(negotiate)
{
	uint32_t v, a, p;

	ck_assert_int_eq(milter_negotiate(6, 0x1ff, 0x1fffff, &v, &a, &p, &err), 0);
	ck_assert_uint_eq(v, 6);
	ck_assert_uint_eq(a, MILTER_ACTIONS_WANT);
	ck_assert_uint_eq(p, MILTER_PROTO_WANT);
	ck_assert_int_eq(milter_negotiate(7, 0x1ff, 0x1fffff, &v, &a, &p, &err), 0);
	ck_assert_uint_eq(v, 6);
	/* only what is offered */
	ck_assert_int_eq(milter_negotiate(6, 0x19, SMFIP_NR_HDR | SMFIP_NOCONNECT, &v, &a, &p, &err), 0);
	ck_assert_uint_eq(a, 0x19);
	ck_assert_uint_eq(p, SMFIP_NR_HDR);
	/* old versions: no reply-skipping */
	ck_assert_int_eq(milter_negotiate(2, 0x1f, 0x7f, &v, &a, &p, &err), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(milter_negotiate(4, 0x3f, 0x3ff, &v, &a, &p, &err), 0);
	ck_assert_uint_eq(p, SMFIP_NOUNKNOWN | SMFIP_NODATA);
	ck_assert_uint_eq(a, MILTER_ACTIONS_WANT);
	ck_assert_int_eq(milter_negotiate(1, 0x1ff, 0, &v, &a, &p, &err), -1);
	ck_assert_int_eq(milter_negotiate(0, 0x1ff, 0, &v, &a, &p, &err), -1);
	ck_assert_int_eq(milter_negotiate(6, SMFIF_ADDHDRS | SMFIF_CHGHDRS, 0, &v, &a, &p, &err), -1);
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(reply_expected)
{
	ck_assert_int_eq(milter_reply_expected(SMFIC_MACRO, 0), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_ABORT, 0), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_QUIT, 0), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_QUIT_NC, 0), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_HEADER, 0), 1);
	ck_assert_int_eq(milter_reply_expected(SMFIC_HEADER, SMFIP_NR_HDR), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_CONNECT, SMFIP_NR_CONN), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_RCPT, SMFIP_NR_MAIL), 1);
	ck_assert_int_eq(milter_reply_expected(SMFIC_BODY, MILTER_PROTO_WANT), 0);
	ck_assert_int_eq(milter_reply_expected(SMFIC_BODYEOB, MILTER_PROTO_WANT), 1);
	ck_assert_int_eq(milter_reply_expected(SMFIC_OPTNEG, MILTER_PROTO_WANT), 1);
}
END_TEST

/* ---- builders ---- */

START_TEST(build_packets)
{
	struct buf b = BUF_INIT;

	milter_put_optneg(&b, 6, 0x39, 0x100080);
	ck_assert_uint_eq(b.len, 17);
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\x0dO\0\0\0\6\0\0\0\x39\0\x10\0\x80", 17), 0);
	buf_reset(&b);
	milter_put(&b, SMFIR_CONTINUE, NULL, 0);
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\1c", 5), 0);
	buf_reset(&b);
	milter_put_header(&b, SMFIR_INSHEADER, 2, "X-A", "v");
	ck_assert_uint_eq(b.len, 4 + 1 + 4 + 4 + 2);
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\x0bi\0\0\0\2X-A\0v\0", 15), 0);
	buf_reset(&b);
	milter_put_header(&b, SMFIR_ADDHEADER, 9, "X-A", "v");
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\x07hX-A\0v\0", 11), 0);
	buf_reset(&b);
	milter_put_header(&b, SMFIR_CHGHEADER, 1, "X-Spam-Flag", "");
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\x12m\0\0\0\1X-Spam-Flag\0\0", 22), 0);
	buf_reset(&b);
	milter_put_str(&b, SMFIR_DELRCPT, "<a@b>");
	ck_assert_int_eq(memcmp(b.data, "\0\0\0\x07-<a@b>\0", 11), 0);
	buf_free(&b);
}
END_TEST

/* replycode - the text of the SMFIR_REPLYCODE built from line */
static char *replycode(const char *line, char deflt)
{
	static char out[1024];
	struct buf b = BUF_INIT;

	milter_put_replycode(&b, line, deflt);
	ck_assert_uint_ge(b.len, 6);
	ck_assert_int_eq(b.data[4], SMFIR_REPLYCODE);
	ck_assert_int_eq(b.data[b.len - 1], 0);
	ck_assert_uint_eq(((unsigned char)b.data[2] << 8 | (unsigned char)b.data[3]), b.len - 4);
	strlcpy(out, b.data + 5, sizeof(out));
	buf_free(&b);
	return out;
}

START_TEST(build_replycode)
{
	char *longl = malloc(2000);

	ck_assert_str_eq(replycode("554 5.7.0 Reject, id=1-01 - INFECTED: Eicar", '5'),
	    "554 5.7.0 Reject, id=1-01 - INFECTED: Eicar");
	ck_assert_str_eq(replycode("450 4.7.0 100% bad", '4'), "450 4.7.0 100%% bad");
	ck_assert_str_eq(replycode("554 5.7.0 a\r\nb", '5'), "554 5.7.0 a  b");
	ck_assert_str_eq(replycode("554 no enhanced code", '5'), "554 5.7.0 no enhanced code");
	ck_assert_str_eq(replycode("554 4.7.0 class differs", '5'), "554 5.7.0 4.7.0 class differs");
	ck_assert_str_eq(replycode("250 2.0.0 Ok", '4'), "451 4.7.0 2.0.0 Ok");
	ck_assert_str_eq(replycode("", '5'), "554 5.7.0 Rejected");
	ck_assert_str_eq(replycode(NULL, '4'), "451 4.7.0 Try again later");
	ck_assert_str_eq(replycode("451", '4'), "451 4.7.0 Try again later");
	memset(longl, 'x', 1999);
	longl[1999] = 0;
	memcpy(longl, "554 5.7.0 ", 10);
	ck_assert_uint_le(strlen(replycode(longl, '5')), MILTER_REPLY_MAX + 1);
	free(longl);
}
END_TEST

/* crlf_of - input fed to milter_crlf in pieces of size piece */
static char *crlf_of(const char *in, size_t piece)
{
	static char out[256];
	struct milter_crlf st = { 0 };
	struct buf b = BUF_INIT;
	size_t len = strlen(in), off;

	for (off = 0; off < len; off += piece)
		milter_crlf(&st, &b, in + off, len - off < piece ? len - off : piece);
	strlcpy(out, b.data ? b.data : "", sizeof(out));
	buf_free(&b);
	return out;
}

START_TEST(text_crlf)
{
	static const char *const t[][2] = {
		{ "a\r\nb\r\n", "a\r\nb\r\n" }, { "a\nb\n", "a\r\nb\r\n" }, { "\n\n", "\r\n\r\n" },
		{ "a\rb\n", "a\rb\r\n" }, { "a\r\r\n", "a\r\r\n" }, { "\r\n\n\r\n", "\r\n\r\n\r\n" }, { "", "" },
	};
	size_t i, piece;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (piece = 1; piece <= 8; piece++)
			ck_assert_msg(strcmp(crlf_of(t[i][0], piece), t[i][1]) == 0, "case %zu piece %zu", i, piece);
}
END_TEST

START_TEST(text_header_line)
{
	struct buf b = BUF_INIT;

	milter_header_line(&b, "Subject", "hello", 0);
	ck_assert_str_eq(b.data, "Subject: hello\r\n");
	buf_reset(&b);
	milter_header_line(&b, "Subject", "  two spaces", 1);
	ck_assert_str_eq(b.data, "Subject:  two spaces\r\n");
	buf_reset(&b);
	milter_header_line(&b, "Received", " from a\n\tby b\n\tid c", 1);
	ck_assert_str_eq(b.data, "Received: from a\r\n\tby b\r\n\tid c\r\n");
	buf_reset(&b);
	milter_header_line(&b, "X-Empty", "", 1);
	ck_assert_str_eq(b.data, "X-Empty:\r\n");
	buf_free(&b);
}
END_TEST

START_TEST(text_fold)
{
	struct buf b = BUF_INIT;
	const char *v = "No, score=-1.2 tagged_above=2 required=6.31 tests=[ALL_TRUSTED=-1, "
	    "BAYES_00=-1.9, DKIM_SIGNED=0.1, DKIM_VALID=-0.1] autolearn=ham autolearn_force=no";
	const char *p, *nl;

	milter_fold_value(&b, "X-Virus-Scanned", "tollgate at example.com", 0);
	ck_assert_str_eq(b.data, "tollgate at example.com");
	buf_reset(&b);
	milter_fold_value(&b, "X-Virus-Scanned", "tollgate at example.com", 1);
	ck_assert_str_eq(b.data, " tollgate at example.com");
	buf_reset(&b);
	milter_fold_value(&b, "X-Spam-Status", v, 0);
	ck_assert_ptr_nonnull(strchr(b.data, '\n'));
	/* every line of "X-Spam-Status: value" within 78 columns, continuations start with a space */
	for (p = b.data, nl = strchr(p, '\n'); nl; p = nl + 1, nl = strchr(p, '\n')) {
		ck_assert_uint_le((size_t)(nl - p) + (p == b.data ? strlen("X-Spam-Status: ") : 0), 78);
		ck_assert_int_eq(nl[1], ' ');
	}
	buf_reset(&b);
	milter_fold_value(&b, "X", "", 1);
	ck_assert_str_eq(b.data, " ");
	buf_free(&b);
}
END_TEST

static Suite *milter_proto_suite(void)
{
	Suite *s = suite_create("milter_proto");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, dec_optneg);
	tcase_add_test(tc, dec_macro);
	tcase_add_test(tc, dec_macro_limit);
	tcase_add_test(tc, dec_connect);
	tcase_add_test(tc, dec_helo_unknown);
	tcase_add_test(tc, dec_mail_rcpt);
	tcase_add_test(tc, dec_args_limit);
	tcase_add_test(tc, dec_header);
	tcase_add_test(tc, dec_empty_commands);
	tcase_add_test(tc, dec_body);
	tcase_add_test(tc, dec_unknown_byte);
	suite_add_tcase(s, tc);
	tc = tcase_create("reader");
	tcase_add_test(tc, reader_split_everywhere);
	tcase_add_test(tc, reader_limits);
	tcase_add_test(tc, reader_error_sticks);
	tcase_add_test(tc, reader_exact_packet);
	suite_add_tcase(s, tc);
	tc = tcase_create("negotiate");
	tcase_add_test(tc, negotiate);
	tcase_add_test(tc, reply_expected);
	suite_add_tcase(s, tc);
	tc = tcase_create("build");
	tcase_add_test(tc, build_packets);
	tcase_add_test(tc, build_replycode);
	tcase_add_test(tc, text_crlf);
	tcase_add_test(tc, text_header_line);
	tcase_add_test(tc, text_fold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(milter_proto_suite());
}
