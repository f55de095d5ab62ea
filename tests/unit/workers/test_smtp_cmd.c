/*
 * test_smtp_cmd.c - unit tests of workers/smtp_cmd.c, the SMTP/LMTP
 * command-line parser: every verb, the state table, MAIL/RCPT
 * parameters, XFORWARD, BDAT, xtext, and the limits (exactly at the
 * limit, one past it, far past it), NUL bytes, case and blanks.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check_tap.h"
#include "workers/smtp_cmd.h"

static struct smtp_cmd cmd;
static const char *err;

/* parse - parse a NUL-terminated line into the shared cmd */
static int parse(const char *line)
{
	return smtp_cmd_parse(&cmd, line, strlen(line), &err);
}

/* expect_reply - the line fails with exactly this reply */
#define expect_reply(line, reply) do { \
	ck_assert_int_eq(parse(line), -1); \
	ck_assert_ptr_nonnull(err); \
	ck_assert_str_eq(err, reply); \
} while (0)

/* expect_ok - the line parses */
#define expect_ok(line) do { \
	int rc_ = parse(line); \
	ck_assert_msg(rc_ == 0, "'%s' failed: %s", line, err ? err : "?"); \
} while (0)

/* repeat - a malloc'd string of n copies of c */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = 0;
	return s;
}

/* ---- verbs ---- */

START_TEST(verbs_all_known)
{
	static const struct { const char *line; enum smtp_verb verb; } t[] = {
		{ "HELO h", SMTP_HELO }, { "EHLO h", SMTP_EHLO }, { "LHLO h", SMTP_LHLO },
		{ "MAIL FROM:<a@b>", SMTP_MAIL }, { "RCPT TO:<a@b>", SMTP_RCPT },
		{ "DATA", SMTP_DATA }, { "BDAT 1", SMTP_BDAT }, { "RSET", SMTP_RSET },
		{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY x", SMTP_VRFY },
		{ "HELP", SMTP_HELP }, { "XFORWARD NAME=x", SMTP_XFORWARD },
		{ "STARTTLS", SMTP_STARTTLS },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		expect_ok(t[i].line);
		ck_assert_int_eq(cmd.verb, t[i].verb);
		ck_assert_ptr_nonnull(cmd.info);
		ck_assert_int_eq(cmd.err, SMTP_ERR_NONE);
	}
}
END_TEST

START_TEST(verbs_case_insensitive)
{
	expect_ok("ehlo h");
	ck_assert_int_eq(cmd.verb, SMTP_EHLO);
	expect_ok("eHlO h");
	ck_assert_int_eq(cmd.verb, SMTP_EHLO);
	expect_ok("mail from:<a@b>");
	ck_assert_str_eq(cmd.addr, "a@b");
	expect_ok("rcpt To:<c@d> notify=never");
	ck_assert_int_eq(cmd.notify, DSN_NOTIFY_NEVER);
	expect_ok("xforward name=x");
	ck_assert_str_eq(cmd.xf[SMTP_XF_NAME], "x");
	expect_ok("bdat 3 last");
	ck_assert_int_eq(cmd.bdat_last, 1);
	ck_assert_ptr_nonnull(smtp_verb_lookup("starttls", 8));
	ck_assert_ptr_null(smtp_verb_lookup("START", 5));
	ck_assert_ptr_null(smtp_verb_lookup("STARTTLSX", 9));
}
END_TEST

START_TEST(verbs_not_implemented)
{
	expect_reply("EXPN list", "502 5.5.1 Error: command EXPN not implemented");
	ck_assert_int_eq(cmd.err, SMTP_ERR_NOT_IMPL);
	ck_assert_int_eq(cmd.verb, SMTP_EXPN);
	expect_reply("turn", "502 5.5.1 Error: command TURN not implemented");
	expect_reply("ETRN example.com", "502 5.5.1 Error: command ETRN not implemented");
	expect_reply("SEND FROM:<a>", "502 5.5.1 Error: command SEND not implemented");
	expect_reply("SOML FROM:<a>", "502 5.5.1 Error: command SOML not implemented");
	expect_reply("saml FROM:<a>", "502 5.5.1 Error: command SAML not implemented");
}
END_TEST

START_TEST(verbs_unknown)
{
	char line[200];

	expect_reply("FOOBAR", "500 5.5.2 Error: command FOOBAR not recognized");
	ck_assert_int_eq(cmd.err, SMTP_ERR_UNKNOWN);
	ck_assert_int_eq(cmd.verb, SMTP_VERB_NONE);
	expect_reply("foobar x y", "500 5.5.2 Error: command FOOBAR not recognized");
	expect_reply("AUTH PLAIN xx", "500 5.5.2 Error: command AUTH not recognized");
	expect_reply("XCLIENT NAME=x", "500 5.5.2 Error: command XCLIENT not recognized");
	/* a long verb is cut before it is echoed */
	memset(line, 'A', 100);
	line[100] = 0;
	ck_assert_int_eq(parse(line), -1);
	ck_assert_int_eq(cmd.err, SMTP_ERR_UNKNOWN);
	ck_assert_uint_eq(strlen(err), strlen("500 5.5.2 Error: command  not recognized") + SMTP_VERB_MAX);
}
END_TEST

START_TEST(bad_syntax)
{
	expect_reply("", "500 5.5.2 Error: bad syntax");
	ck_assert_int_eq(cmd.err, SMTP_ERR_SYNTAX);
	expect_reply("   ", "500 5.5.2 Error: bad syntax");
	expect_reply("1MAIL", "500 5.5.2 Error: bad syntax");
	expect_reply("MAIL:FROM:<a>", "500 5.5.2 Error: bad syntax");
	expect_reply("NOOP\r", "500 5.5.2 Error: bad syntax");
	expect_reply("\x80NOOP", "500 5.5.2 Error: bad syntax");
	expect_reply("-", "500 5.5.2 Error: bad syntax");
}
END_TEST

START_TEST(nul_bytes)
{
	static const char l1[] = "NOOP\0x";
	static const char l2[] = "MAIL FROM:<a\0b@c>";
	static const char l3[] = "\0";

	ck_assert_int_eq(smtp_cmd_parse(&cmd, l1, sizeof(l1) - 1, &err), -1);
	ck_assert_str_eq(err, "500 5.5.2 Error: bad syntax");
	ck_assert_int_eq(cmd.err, SMTP_ERR_SYNTAX);
	ck_assert_int_eq(smtp_cmd_parse(&cmd, l2, sizeof(l2) - 1, &err), -1);
	ck_assert_str_eq(err, "500 5.5.2 Error: bad syntax");
	ck_assert_int_eq(smtp_cmd_parse(&cmd, l3, 1, &err), -1);
	/* only len bytes are looked at: no NUL needed at the end */
	ck_assert_int_eq(smtp_cmd_parse(&cmd, "NOOPXYZ", 4, &err), 0);
	ck_assert_int_eq(cmd.verb, SMTP_NOOP);
}
END_TEST

START_TEST(blanks_lenient)
{
	expect_ok("  \tNOOP  \t ");
	ck_assert_int_eq(cmd.verb, SMTP_NOOP);
	ck_assert_str_eq(cmd.arg, "");
	expect_ok("MAIL\tFROM:<a@b>\t SIZE=10 \t");
	ck_assert_str_eq(cmd.addr, "a@b");
	ck_assert_int_eq(cmd.size, 10);
	expect_ok("MAIL FROM: <a@b>");
	ck_assert_str_eq(cmd.addr, "a@b");
	expect_ok("MAIL FROM:\t <a@b>   BODY=8BITMIME");
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	expect_ok("RCPT TO:   <c@d>");
	ck_assert_str_eq(cmd.addr, "c@d");
	expect_ok("VRFY   user  ");
	ck_assert_str_eq(cmd.arg, "user");
	expect_ok("DATA   ");
}
END_TEST

START_TEST(line_limit)
{
	char *line = repeat('x', SMTP_LINE_MAX + 100);

	/* exactly SMTP_LINE_MAX bytes: parsed */
	memcpy(line, "NOOP ", 5);
	ck_assert_int_eq(smtp_cmd_parse(&cmd, line, SMTP_LINE_MAX, &err), 0);
	ck_assert_uint_eq(strlen(cmd.arg), SMTP_LINE_MAX - 5);
	/* one more: refused */
	ck_assert_int_eq(smtp_cmd_parse(&cmd, line, SMTP_LINE_MAX + 1, &err), -1);
	ck_assert_str_eq(err, "500 5.5.2 Error: line too long");
	ck_assert_int_eq(cmd.err, SMTP_ERR_TOO_LONG);
	/* huge */
	ck_assert_int_eq(smtp_cmd_parse(&cmd, line, SMTP_LINE_MAX + 100, &err), -1);
	ck_assert_int_eq(cmd.err, SMTP_ERR_TOO_LONG);
	free(line);
}
END_TEST

/* ---- simple verbs ---- */

START_TEST(no_argument_verbs)
{
	expect_reply("DATA x", "501 5.5.4 Error: DATA does not accept arguments");
	ck_assert_int_eq(cmd.err, SMTP_ERR_ARGS);
	ck_assert_int_eq(cmd.verb, SMTP_DATA);
	expect_reply("RSET now", "501 5.5.4 Error: RSET does not accept arguments");
	expect_reply("QUIT bye", "501 5.5.4 Error: QUIT does not accept arguments");
	expect_reply("STARTTLS x", "501 5.5.4 Error: STARTTLS does not accept arguments");
	expect_ok("NOOP anything at all");
	expect_ok("HELP MAIL");
	expect_reply("VRFY", "501 5.5.2 Syntax: VRFY address");
	expect_reply("VRFY   ", "501 5.5.2 Syntax: VRFY address");
	expect_ok("VRFY <postmaster>");
}
END_TEST

START_TEST(helo_names)
{
	char line[SMTP_HELO_MAX + 64];

	expect_ok("EHLO client.example.net");
	ck_assert_str_eq(cmd.helo, "client.example.net");
	expect_ok("LHLO [127.0.0.1]");
	ck_assert_str_eq(cmd.helo, "[127.0.0.1]");
	expect_ok("HELO first second");
	ck_assert_str_eq(cmd.helo, "first");
	expect_reply("EHLO", "501 5.5.4 Syntax: EHLO hostname");
	expect_reply("helo  ", "501 5.5.4 Syntax: HELO hostname");
	expect_reply("LHLO a\x01" "b", "501 5.5.4 Syntax: LHLO hostname");
	/* exactly at the limit, and one past it */
	strcpy(line, "EHLO ");
	memset(line + 5, 'h', SMTP_HELO_MAX);
	line[5 + SMTP_HELO_MAX] = 0;
	expect_ok(line);
	ck_assert_uint_eq(strlen(cmd.helo), SMTP_HELO_MAX);
	line[5 + SMTP_HELO_MAX] = 'h';
	line[6 + SMTP_HELO_MAX] = 0;
	expect_reply(line, "501 5.5.4 Syntax: EHLO hostname");
}
END_TEST

/* ---- MAIL ---- */

START_TEST(mail_addresses)
{
	expect_ok("MAIL FROM:<sender@example.net>");
	ck_assert_str_eq(cmd.addr, "sender@example.net");
	ck_assert_int_eq(cmd.size, -1);
	ck_assert_int_eq(cmd.body, BODY_NONE);
	ck_assert_int_eq(cmd.ret, DSN_RET_NONE);
	ck_assert_ptr_null(cmd.envid);
	expect_ok("MAIL FROM:<>");
	ck_assert_str_eq(cmd.addr, "");
	expect_ok("MAIL FROM:<> SIZE=10");
	ck_assert_str_eq(cmd.addr, "");
	expect_ok("MAIL FROM:bare@example.net");
	ck_assert_str_eq(cmd.addr, "bare@example.net");
	expect_ok("MAIL FROM: bare@example.net SIZE=5");
	ck_assert_str_eq(cmd.addr, "bare@example.net");
	ck_assert_int_eq(cmd.size, 5);
	expect_ok("MAIL FROM:<\"odd > local\"@example.net>");
	ck_assert_str_eq(cmd.addr, "\"odd > local\"@example.net");
	expect_ok("MAIL FROM:<a\\b@example.net>");
	ck_assert_str_eq(cmd.addr, "a\\b@example.net");
	expect_ok("MAIL FROM:<user@[192.0.2.1]>");
	ck_assert_str_eq(cmd.addr, "user@[192.0.2.1]");
	expect_ok("MAIL FROM:<@relay.example:user@example.net>");
	ck_assert_str_eq(cmd.addr, "@relay.example:user@example.net");
	expect_ok("MAIL FROM:<j\xc3\xbcrgen@example.net> SMTPUTF8");
	ck_assert_str_eq(cmd.addr, "j\xc3\xbcrgen@example.net");
}
END_TEST

START_TEST(mail_bad_syntax)
{
	static const char *const bad[] = {
		"MAIL", "MAIL FROM", "MAIL FROM:", "MAIL FROM :<a>", "MAIL TO:<a>",
		"MAIL FROMX:<a>", "MAIL FROM:<a", "MAIL FROM:<a b>", "MAIL FROM:<a>b",
		"MAIL FROM:<\"unterminated@x>", "MAIL FROM:<a\x01@b>", "MAIL FROM:<a@b>\x7f",
		"MAIL FROM:a<b", "MAIL FROM:<a\rb>", "MAIL FROM:<a@[1.2.3.4>",
		"MAIL FROM:<a\\", "MAIL FROM:<a\\ >x", "MAIL FROM:<a\\ b@c>",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i]) == -1, "'%s' parsed", bad[i]);
		ck_assert_int_eq(cmd.verb, SMTP_MAIL);
		ck_assert_int_eq(cmd.err, SMTP_ERR_ARGS);
	}
	expect_reply("MAIL FROM <a@b>", "501 5.5.2 Syntax: MAIL FROM:<address>");
	expect_reply("MAIL FROM:<a b@c>", "501 5.5.2 Syntax: MAIL FROM:<address>");
}
END_TEST

START_TEST(mail_address_limit)
{
	char *addr = repeat('a', 5000);
	char line[6000];

	/* exactly SMTP_ADDR_MAX */
	snprintf(line, sizeof(line), "MAIL FROM:<%.*s>", SMTP_ADDR_MAX, addr);
	expect_ok(line);
	ck_assert_uint_eq(strlen(cmd.addr), SMTP_ADDR_MAX);
	/* one more */
	snprintf(line, sizeof(line), "MAIL FROM:<%.*s>", SMTP_ADDR_MAX + 1, addr);
	expect_reply(line, "501 5.1.7 Sender address too long");
	/* bare, one more */
	snprintf(line, sizeof(line), "MAIL FROM:%.*s", SMTP_ADDR_MAX + 1, addr);
	expect_reply(line, "501 5.1.7 Sender address too long");
	/* huge, still within the line limit */
	snprintf(line, sizeof(line), "RCPT TO:<%.*s>", 4000, addr);
	expect_reply(line, "501 5.1.3 Recipient address too long");
	snprintf(line, sizeof(line), "RCPT TO:<%.*s>", SMTP_ADDR_MAX, addr);
	expect_ok(line);
	free(addr);
}
END_TEST

START_TEST(mail_size)
{
	expect_ok("MAIL FROM:<a@b> SIZE=227");
	ck_assert_int_eq(cmd.size, 227);
	expect_ok("MAIL FROM:<a@b> size=0");
	ck_assert_int_eq(cmd.size, 0);
	expect_ok("MAIL FROM:<a@b> SIZE");	/* no value: ignored, as amavisd */
	ck_assert_int_eq(cmd.size, -1);
	expect_ok("MAIL FROM:<a@b> SIZE=5 SIZE=7");	/* the first counts */
	ck_assert_int_eq(cmd.size, 5);
	expect_ok("MAIL FROM:<a@b> SIZE=99999999999999999999");	/* 20 digits saturate */
	ck_assert_int_eq(cmd.size, LLONG_MAX);
	expect_ok("MAIL FROM:<a@b> SIZE=9223372036854775807");
	ck_assert_int_eq(cmd.size, LLONG_MAX);
	expect_ok("MAIL FROM:<a@b> SIZE=9223372036854775806");
	ck_assert_int_eq(cmd.size, LLONG_MAX - 1);
	expect_reply("MAIL FROM:<a@b> SIZE=999999999999999999999", "501 5.5.4 Syntax error in MAIL parameter: SIZE");
	expect_reply("MAIL FROM:<a@b> SIZE=12k", "501 5.5.4 Syntax error in MAIL parameter: SIZE");
	expect_reply("MAIL FROM:<a@b> SIZE=-1", "501 5.5.4 Syntax error in MAIL parameter: SIZE");
}
END_TEST

START_TEST(mail_body_utf8_ret)
{
	expect_ok("MAIL FROM:<a@b> BODY=7BIT");
	ck_assert_int_eq(cmd.body, BODY_7BIT);
	expect_ok("MAIL FROM:<a@b> body=8bitmime");
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	expect_ok("MAIL FROM:<a@b> BODY=BINARYMIME");
	ck_assert_int_eq(cmd.body, BODY_BINARYMIME);
	expect_reply("MAIL FROM:<a@b> BODY=8BIT", "501 5.5.4 Syntax error in MAIL parameter: BODY");
	expect_reply("MAIL FROM:<a@b> BODY", "501 5.5.4 Syntax error in MAIL parameter, value is required: BODY");
	expect_ok("MAIL FROM:<a@b> SMTPUTF8");
	ck_assert_int_eq(cmd.smtputf8, 1);
	expect_reply("MAIL FROM:<a@b> SMTPUTF8=yes", "501 5.5.4 Syntax error in MAIL parameter: SMTPUTF8");
	expect_ok("MAIL FROM:<a@b> RET=FULL");
	ck_assert_int_eq(cmd.ret, DSN_RET_FULL);
	expect_ok("MAIL FROM:<a@b> ret=hdrs");
	ck_assert_int_eq(cmd.ret, DSN_RET_HDRS);
	expect_reply("MAIL FROM:<a@b> RET=ALL", "501 5.5.4 Syntax error in MAIL parameter RET: ALL");
	expect_reply("MAIL FROM:<a@b> RET=FULL RET=HDRS", "501 5.5.4 Syntax error in MAIL parameter: RET");
	expect_reply("MAIL FROM:<a@b> RET", "501 5.5.4 Syntax error in MAIL parameter, value is required: RET");
	/* peer text in a reply is escaped */
	expect_reply("MAIL FROM:<a@b> RET=\xff\\", "501 5.5.4 Syntax error in MAIL parameter RET: \\xff\\x5c");
}
END_TEST

START_TEST(mail_envid_auth)
{
	expect_ok("MAIL FROM:<a@b> ENVID=QQ314159+2Bx");
	ck_assert_str_eq(cmd.envid, "QQ314159+2Bx");	/* kept as received */
	expect_reply("MAIL FROM:<a@b> ENVID=a+2", "501 5.5.4 Syntax error in MAIL parameter: ENVID");
	expect_reply("MAIL FROM:<a@b> ENVID=a+zz", "501 5.5.4 Syntax error in MAIL parameter: ENVID");
	expect_reply("MAIL FROM:<a@b> ENVID=x ENVID=y", "501 5.5.4 Syntax error in MAIL parameter: ENVID");
	expect_reply("MAIL FROM:<a@b> ENVID", "501 5.5.4 Syntax error in MAIL parameter, value is required: ENVID");
	expect_ok("MAIL FROM:<a@b> AUTH=<>");
	expect_ok("MAIL FROM:<a@b> AUTH=user+40example.com");
	expect_reply("MAIL FROM:<a@b> AUTH", "501 5.5.4 Syntax error in MAIL parameter, value is required: AUTH");
}
END_TEST

START_TEST(mail_params_all)
{
	expect_ok("MAIL FROM:<sender@example.net> SIZE=227 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id1 AUTH=<>");
	ck_assert_str_eq(cmd.addr, "sender@example.net");
	ck_assert_int_eq(cmd.size, 227);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	ck_assert_int_eq(cmd.smtputf8, 1);
	ck_assert_int_eq(cmd.ret, DSN_RET_HDRS);
	ck_assert_str_eq(cmd.envid, "id1");
	/* the next parse starts clean */
	expect_ok("RCPT TO:<r@b>");
	ck_assert_int_eq(cmd.size, -1);
	ck_assert_int_eq(cmd.body, BODY_NONE);
	ck_assert_int_eq(cmd.smtputf8, 0);
	ck_assert_ptr_null(cmd.envid);
}
END_TEST

START_TEST(mail_params_bad)
{
	expect_reply("MAIL FROM:<a@b> XYZZY=1", "555 5.5.4 MAIL command parameter unrecognized: XYZZY");
	ck_assert_int_eq(cmd.err, SMTP_ERR_PARAM);
	expect_reply("MAIL FROM:<a@b> foo", "555 5.5.4 MAIL command parameter unrecognized: FOO");
	expect_reply("MAIL FROM:<a@b> =1", "501 5.5.4 Syntax error in MAIL FROM parameters");
	expect_reply("MAIL FROM:<a@b> SIZE=", "501 5.5.4 Syntax error in MAIL FROM parameters");
	expect_reply("MAIL FROM:<a@b> A=b=c", "501 5.5.4 Syntax error in MAIL FROM parameters");
	expect_reply("MAIL FROM:<a@b> -X", "501 5.5.4 Syntax error in MAIL FROM parameters");
	expect_reply("MAIL FROM:<a@b> X_Y", "501 5.5.4 Syntax error in MAIL FROM parameters");
	expect_reply("MAIL FROM:<a@b> SIZE=1\x01", "501 5.5.4 Syntax error in MAIL FROM parameters");
	/* a long unknown name is cut in the reply */
	{
		char *name = repeat('N', 500);
		char line[700];

		snprintf(line, sizeof(line), "MAIL FROM:<a@b> %s", name);
		ck_assert_int_eq(parse(line), -1);
		ck_assert_int_eq(cmd.err, SMTP_ERR_PARAM);
		ck_assert_uint_lt(strlen(err), sizeof(cmd.reply));
		free(name);
	}
}
END_TEST

START_TEST(mail_params_count)
{
	char line[512];
	int i;

	strcpy(line, "MAIL FROM:<a@b>");
	for (i = 0; i < SMTP_PARAMS_MAX; i++)
		strcat(line, " AUTH=<>");
	expect_ok(line);
	strcat(line, " AUTH=<>");
	expect_reply(line, "501 5.5.4 Too many MAIL command parameters");
	strcpy(line, "RCPT TO:<a@b>");
	for (i = 0; i <= SMTP_PARAMS_MAX; i++)
		strcat(line, " X");
	expect_reply(line, "501 5.5.4 Too many RCPT command parameters");
}
END_TEST

/* ---- RCPT ---- */

START_TEST(rcpt_basic)
{
	expect_ok("RCPT TO:<user1@example.com>");
	ck_assert_str_eq(cmd.addr, "user1@example.com");
	ck_assert_int_eq(cmd.notify, 0);
	ck_assert_ptr_null(cmd.orcpt);
	expect_ok("RCPT TO:user1@example.com");
	ck_assert_str_eq(cmd.addr, "user1@example.com");
	expect_ok("RCPT TO:<postmaster>");
	ck_assert_str_eq(cmd.addr, "postmaster");
	expect_reply("RCPT TO:<>", "501 5.1.3 Bad recipient address syntax");
	expect_reply("RCPT FROM:<a@b>", "501 5.5.2 Syntax: RCPT TO:<address>");
	expect_reply("RCPT TO", "501 5.5.2 Syntax: RCPT TO:<address>");
	expect_reply("RCPT TO:", "501 5.5.2 Syntax: RCPT TO:<address>");
	expect_reply("RCPT", "501 5.5.2 Syntax: RCPT TO:<address>");
	ck_assert_int_eq(cmd.verb, SMTP_RCPT);
}
END_TEST

START_TEST(rcpt_notify)
{
	expect_ok("RCPT TO:<a@b> NOTIFY=NEVER");
	ck_assert_uint_eq(cmd.notify, DSN_NOTIFY_NEVER);
	expect_ok("RCPT TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY");
	ck_assert_uint_eq(cmd.notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
	expect_ok("RCPT TO:<a@b> notify=delay,failure");
	ck_assert_uint_eq(cmd.notify, DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
	expect_ok("RCPT TO:<a@b> NOTIFY=FAILURE,FAILURE");
	ck_assert_uint_eq(cmd.notify, DSN_NOTIFY_FAILURE);
	expect_reply("RCPT TO:<a@b> NOTIFY=NEVER,DELAY",
	    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal combination of values: NEVER,DELAY");
	expect_reply("RCPT TO:<a@b> NOTIFY=SOMETIMES",
	    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal value: SOMETIMES");
	expect_reply("RCPT TO:<a@b> NOTIFY=SUCCESS,",
	    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal value: SUCCESS,");
	expect_reply("RCPT TO:<a@b> NOTIFY=,DELAY",
	    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal value: ,DELAY");
	expect_reply("RCPT TO:<a@b> NOTIFY", "501 5.5.4 Syntax error in RCPT parameter, value is required: NOTIFY");
	expect_reply("RCPT TO:<a@b> NOTIFY=DELAY NOTIFY=SUCCESS", "501 5.5.4 Syntax error in RCPT parameter NOTIFY");
}
END_TEST

START_TEST(rcpt_orcpt)
{
	expect_ok("RCPT TO:<a@b> ORCPT=rfc822;user+40example.com");
	ck_assert_str_eq(cmd.orcpt, "rfc822;user+40example.com");
	expect_ok("RCPT TO:<a@b> NOTIFY=FAILURE ORCPT=RFC822;a@b");
	ck_assert_str_eq(cmd.orcpt, "RFC822;a@b");
	ck_assert_uint_eq(cmd.notify, DSN_NOTIFY_FAILURE);
	expect_ok("RCPT TO:<a@b> ORCPT=utf-8;j\xc3\xbcrgen@b");	/* RFC 6533: passed on */
	expect_reply("RCPT TO:<a@b> ORCPT=rfc822;a+4", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT=rfc822", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT=;a@b", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT=rfc822;", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT=rf.c;a", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", "501 5.5.4 Syntax error in RCPT parameter ORCPT");
	expect_reply("RCPT TO:<a@b> ORCPT", "501 5.5.4 Syntax error in RCPT parameter, value is required: ORCPT");
}
END_TEST

START_TEST(rcpt_params_bad)
{
	expect_reply("RCPT TO:<a@b> SIZE=10", "555 5.5.4 RCPT command parameter unrecognized: SIZE");
	ck_assert_int_eq(cmd.err, SMTP_ERR_PARAM);
	expect_reply("RCPT TO:<a@b> xyz", "555 5.5.4 RCPT command parameter unrecognized: XYZ");
	expect_reply("RCPT TO:<a@b> =", "501 5.5.4 Syntax error in RCPT parameters");
}
END_TEST

/* ---- XFORWARD ---- */

START_TEST(xforward_attrs)
{
	expect_ok("XFORWARD NAME=mail.example.net ADDR=192.0.2.1 PORT=25 PROTO=ESMTP HELO=mail.example.net "
	    "IDENT=4ABC123DEF SOURCE=REMOTE");
	ck_assert_uint_eq(cmd.xf_set, (1u << SMTP_XF_COUNT) - 1);
	ck_assert_str_eq(cmd.xf[SMTP_XF_NAME], "mail.example.net");
	ck_assert_str_eq(cmd.xf[SMTP_XF_ADDR], "192.0.2.1");
	ck_assert_str_eq(cmd.xf[SMTP_XF_PORT], "25");
	ck_assert_str_eq(cmd.xf[SMTP_XF_PROTO], "ESMTP");
	ck_assert_str_eq(cmd.xf[SMTP_XF_HELO], "mail.example.net");
	ck_assert_str_eq(cmd.xf[SMTP_XF_IDENT], "4ABC123DEF");
	ck_assert_str_eq(cmd.xf[SMTP_XF_SOURCE], "REMOTE");
	expect_ok("XFORWARD SOURCE=LOCAL");
	ck_assert_uint_eq(cmd.xf_set, 1u << SMTP_XF_SOURCE);
	ck_assert_ptr_null(cmd.xf[SMTP_XF_NAME]);
	expect_ok("XFORWARD");	/* amavisd accepts an empty list */
	ck_assert_uint_eq(cmd.xf_set, 0);
	expect_ok("XFORWARD name=a NAME=b");	/* the last counts */
	ck_assert_str_eq(cmd.xf[SMTP_XF_NAME], "b");
	expect_ok("XFORWARD LOGIN=someone NAME=x");	/* XCLIENT's LOGIN ignored */
	ck_assert_uint_eq(cmd.xf_set, 1u << SMTP_XF_NAME);
}
END_TEST

START_TEST(xforward_unavailable)
{
	expect_ok("XFORWARD NAME=[UNAVAILABLE] ADDR=[TEMPUNAVAIL] HELO=[unavailable] PORT=");
	ck_assert_uint_eq(cmd.xf_set, (1u << SMTP_XF_NAME) | (1u << SMTP_XF_ADDR) | (1u << SMTP_XF_HELO) |
	    (1u << SMTP_XF_PORT));
	ck_assert_ptr_null(cmd.xf[SMTP_XF_NAME]);
	ck_assert_ptr_null(cmd.xf[SMTP_XF_ADDR]);
	ck_assert_ptr_null(cmd.xf[SMTP_XF_HELO]);
	ck_assert_ptr_null(cmd.xf[SMTP_XF_PORT]);
}
END_TEST

START_TEST(xforward_decode)
{
	expect_ok("XFORWARD HELO=a+20b+2Bc NAME=x+3Dy IDENT=+41+42");
	ck_assert_str_eq(cmd.xf[SMTP_XF_HELO], "a b+c");
	ck_assert_str_eq(cmd.xf[SMTP_XF_NAME], "x=y");
	ck_assert_str_eq(cmd.xf[SMTP_XF_IDENT], "AB");
	expect_ok("XFORWARD HELO=a+zz+ NAME=p+4");	/* not xtext escapes: kept (pre-2.3 Postfix) */
	ck_assert_str_eq(cmd.xf[SMTP_XF_HELO], "a+zz+");
	ck_assert_str_eq(cmd.xf[SMTP_XF_NAME], "p+4");
	expect_ok("XFORWARD ADDR=IPv6:2001:db8::1");
	ck_assert_str_eq(cmd.xf[SMTP_XF_ADDR], "2001:db8::1");
	expect_ok("XFORWARD ADDR=ipv6:::1");
	ck_assert_str_eq(cmd.xf[SMTP_XF_ADDR], "::1");
	expect_ok("XFORWARD HELO=\xc3\xa9t\xc3\xa9");	/* 8-bit allowed */
	expect_reply("XFORWARD HELO=a+0Ab", "501 5.5.4 Syntax error in XFORWARD parameters");
	expect_reply("XFORWARD HELO=a+00b", "501 5.5.4 Syntax error in XFORWARD parameters");
	expect_reply("XFORWARD HELO=a+7F", "501 5.5.4 Syntax error in XFORWARD parameters");
}
END_TEST

START_TEST(xforward_bad)
{
	char line[600];
	char *v = repeat('v', 400);

	expect_reply("XFORWARD FOO=bar", "501 5.5.4 XFORWARD command parameter error: FOO=bar");
	ck_assert_int_eq(cmd.err, SMTP_ERR_ARGS);
	expect_reply("XFORWARD NAME", "501 5.5.4 Syntax error in XFORWARD parameters");
	expect_reply("XFORWARD =x", "501 5.5.4 Syntax error in XFORWARD parameters");
	expect_reply("XFORWARD NA_ME=x", "501 5.5.4 Syntax error in XFORWARD parameters");
	expect_reply("XFORWARD NAME=a\x01", "501 5.5.4 Syntax error in XFORWARD parameters");
	snprintf(line, sizeof(line), "XFORWARD NAME=%.*s", SMTP_XF_VALUE_MAX, v);
	expect_ok(line);
	ck_assert_uint_eq(strlen(cmd.xf[SMTP_XF_NAME]), SMTP_XF_VALUE_MAX);
	snprintf(line, sizeof(line), "XFORWARD NAME=%.*s", SMTP_XF_VALUE_MAX + 1, v);
	expect_reply(line, "501 5.5.4 Syntax error in XFORWARD parameters");
	snprintf(line, sizeof(line), "XFORWARD NAME=%s", v);
	expect_reply(line, "501 5.5.4 Syntax error in XFORWARD parameters");
	free(v);
}
END_TEST

/* ---- BDAT ---- */

START_TEST(bdat_args)
{
	expect_ok("BDAT 100");
	ck_assert_uint_eq(cmd.bdat_size, 100);
	ck_assert_int_eq(cmd.bdat_last, 0);
	expect_ok("BDAT 0 LAST");
	ck_assert_uint_eq(cmd.bdat_size, 0);
	ck_assert_int_eq(cmd.bdat_last, 1);
	expect_ok("bdat 5 last");
	ck_assert_int_eq(cmd.bdat_last, 1);
	expect_ok("BDAT 999999999999999999");	/* 18 digits */
	ck_assert_uint_eq(cmd.bdat_size, 999999999999999999ULL);
	expect_reply("BDAT", "501 5.5.4 Syntax: BDAT count [LAST]");
	ck_assert_int_eq(cmd.verb, SMTP_BDAT);
	expect_reply("BDAT x", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT -1", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT 1x", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT 5 FIRST", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT 5 LAST x", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT LAST", "501 5.5.4 Syntax: BDAT count [LAST]");
	expect_reply("BDAT 1000000000000000000", "501 5.5.4 Syntax: BDAT count [LAST]");
}
END_TEST

/* ---- xtext ---- */

START_TEST(xtext)
{
	char out[64];

	ck_assert_int_eq(smtp_xtext_valid("abc", 3), 1);
	ck_assert_int_eq(smtp_xtext_valid("", 0), 1);
	ck_assert_int_eq(smtp_xtext_valid("a+2Bb", 5), 1);
	ck_assert_int_eq(smtp_xtext_valid("a+2bb", 5), 1);	/* lower-case hex accepted */
	ck_assert_int_eq(smtp_xtext_valid("a+2", 3), 0);
	ck_assert_int_eq(smtp_xtext_valid("a+", 2), 0);
	ck_assert_int_eq(smtp_xtext_valid("+", 1), 0);
	ck_assert_int_eq(smtp_xtext_valid("a+2B", 3), 0);	/* len cuts the escape */
	ck_assert_int_eq(smtp_xtext_valid("a=b", 3), 0);
	ck_assert_int_eq(smtp_xtext_valid("a b", 3), 0);
	ck_assert_int_eq(smtp_xtext_valid("a\x80", 2), 0);
	ck_assert_int_eq(smtp_xtext_decode("a+2Bb+3D", 8, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a+b=");
	ck_assert_int_eq(smtp_xtext_decode("", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(smtp_xtext_decode("a+00", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("a+0D+0A", 7, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("a+G0", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("abc", 3, out, 4), 0);
	ck_assert_int_eq(smtp_xtext_decode("abcd", 4, out, 4), -1);	/* no room for NUL */
	ck_assert_int_eq(smtp_xtext_decode("", 0, out, 0), -1);
}
END_TEST

/* ---- states ---- */

START_TEST(state_table)
{
	static const unsigned all[] = { SMTP_ST_INIT, SMTP_ST_IDLE, SMTP_ST_MAIL, SMTP_ST_RCPT, SMTP_ST_BDAT };
	const char *r;
	size_t i;

	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_EHLO, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_LHLO, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_HELO, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_RSET, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_NOOP, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_QUIT, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_VRFY, all[i], &r), 0);
		ck_assert_int_eq(smtp_cmd_check_state(SMTP_HELP, all[i], &r), 0);
	}
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_MAIL, SMTP_ST_INIT, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: send HELO/EHLO first");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_MAIL, SMTP_ST_IDLE, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_MAIL, SMTP_ST_MAIL, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: nested MAIL command");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_MAIL, SMTP_ST_BDAT, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: nested MAIL command");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_RCPT, SMTP_ST_IDLE, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Need MAIL command before RCPT");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_RCPT, SMTP_ST_INIT, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Need MAIL command before RCPT");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_RCPT, SMTP_ST_MAIL, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_RCPT, SMTP_ST_RCPT, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_RCPT, SMTP_ST_BDAT, &r), -1);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_DATA, SMTP_ST_IDLE, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Need MAIL command before DATA");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_DATA, SMTP_ST_MAIL, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_DATA, SMTP_ST_BDAT, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: DATA not allowed after BDAT");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_BDAT, SMTP_ST_IDLE, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Need MAIL command before BDAT");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_BDAT, SMTP_ST_RCPT, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_BDAT, SMTP_ST_BDAT, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_XFORWARD, SMTP_ST_INIT, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_XFORWARD, SMTP_ST_IDLE, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_XFORWARD, SMTP_ST_RCPT, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: XFORWARD not allowed within transaction");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_STARTTLS, SMTP_ST_IDLE, &r), 0);
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_STARTTLS, SMTP_ST_MAIL, &r), -1);
	ck_assert_str_eq(r, "503 5.5.1 Error: MAIL transaction in progress");
	ck_assert_int_eq(smtp_cmd_check_state(SMTP_VERB_NONE, SMTP_ST_IDLE, &r), -1);
}
END_TEST

START_TEST(verb_kept_on_error)
{
	/* the server needs the verb to put a state error first, and a BDAT's
	 * size to consume the chunk it refuses */
	expect_reply("MAIL FROM:<a b>", "501 5.5.2 Syntax: MAIL FROM:<address>");
	ck_assert_int_eq(cmd.verb, SMTP_MAIL);
	ck_assert_ptr_nonnull(cmd.info);
	ck_assert_str_eq(cmd.info->name, "MAIL");
	expect_ok("BDAT 42");
	ck_assert_uint_eq(cmd.bdat_size, 42);
}
END_TEST

/* add - one TCase per test, so the TAP lines carry the test's name */
#define add(s, fn) do { \
	TCase *tc_ = tcase_create(#fn); \
	tcase_add_test(tc_, fn); \
	suite_add_tcase(s, tc_); \
} while (0)

static Suite *suite(void)
{
	Suite *s = suite_create("smtp_cmd");

	add(s, verbs_all_known);
	add(s, verbs_case_insensitive);
	add(s, verbs_not_implemented);
	add(s, verbs_unknown);
	add(s, bad_syntax);
	add(s, nul_bytes);
	add(s, blanks_lenient);
	add(s, line_limit);
	add(s, no_argument_verbs);
	add(s, helo_names);
	add(s, mail_addresses);
	add(s, mail_bad_syntax);
	add(s, mail_address_limit);
	add(s, mail_size);
	add(s, mail_body_utf8_ret);
	add(s, mail_envid_auth);
	add(s, mail_params_all);
	add(s, mail_params_bad);
	add(s, mail_params_count);
	add(s, rcpt_basic);
	add(s, rcpt_notify);
	add(s, rcpt_orcpt);
	add(s, rcpt_params_bad);
	add(s, xforward_attrs);
	add(s, xforward_unavailable);
	add(s, xforward_decode);
	add(s, xforward_bad);
	add(s, bdat_args);
	add(s, xtext);
	add(s, state_table);
	add(s, verb_kept_on_error);
	return s;
}

int main(void)
{
	return check_tap_run(suite());
}
