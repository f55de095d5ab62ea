/*
 * test_method.c - method_parse(): the forms tollgate accepts, and the
 * ones it must refuse with an error instead of guessing.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "routing/routing.h"
#include "tests/unit/check_tap.h"

START_TEST(test_smtp_bracketed)
{
	struct fwd_method m;
	const char *err = NULL;

	ck_assert_int_eq(method_parse("smtp:[127.0.0.1]:10025", &m, &err), 0);
	ck_assert_int_eq(m.proto, FWD_SMTP);
	ck_assert_int_eq(m.ep.is_unix, 0);
	ck_assert_str_eq(m.ep.host, "127.0.0.1");
	ck_assert_str_eq(m.ep.port, "10025");
	ck_assert_str_eq(m.spec, "smtp:[127.0.0.1]:10025");
}
END_TEST

START_TEST(test_smtp_host)
{
	struct fwd_method m;
	const char *err = NULL;

	ck_assert_int_eq(method_parse("smtp:relay.example.com:25", &m, &err), 0);
	ck_assert_int_eq(m.proto, FWD_SMTP);
	ck_assert_str_eq(m.ep.host, "relay.example.com");
	ck_assert_str_eq(m.ep.port, "25");
}
END_TEST

START_TEST(test_lmtp_unix)
{
	struct fwd_method m;
	const char *err = NULL;

	ck_assert_int_eq(method_parse("lmtp:unix:/var/run/dovecot/lmtp", &m, &err), 0);
	ck_assert_int_eq(m.proto, FWD_LMTP);
	ck_assert_int_eq(m.ep.is_unix, 1);
	ck_assert_str_eq(m.ep.path, "/var/run/dovecot/lmtp");
	ck_assert_str_eq(m.spec, "lmtp:unix:/var/run/dovecot/lmtp");
}
END_TEST

START_TEST(test_lmtp_ipv6)
{
	struct fwd_method m;
	const char *err = NULL;

	ck_assert_int_eq(method_parse("lmtp:[::1]:24", &m, &err), 0);
	ck_assert_int_eq(m.proto, FWD_LMTP);
	ck_assert_str_eq(m.ep.host, "::1");
	ck_assert_str_eq(m.ep.port, "24");
}
END_TEST

START_TEST(test_bad)
{
	static const char *const bad[] = {
		"", "pipe:flags=q:/usr/sbin/sendmail", "bsmtp:/var/spool/out", "sql:", "local:x",
		"smtp:", "smtp:host", "smtp:[::1]", "smtp:::1:25", "smtp:[127.0.0.1]:", "smtp:host:99999",
		"smtp:host:0", "smtp:host:25x", "smtp:unix:/tmp/s", "lmtp:unix:relative/path",
		"smtp:ho st:25", "smtp:*:*", "smtp:[127.0.0.1]:*", "127.0.0.1:10025", "SMTP",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fwd_method m;
		const char *err = NULL;

		ck_assert_msg(method_parse(bad[i], &m, &err) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_msg(err != NULL && *err, "no error text for \"%s\"", bad[i]);
	}
}
END_TEST

START_TEST(test_too_long)
{
	char spec[400];
	struct fwd_method m;
	const char *err = NULL;

	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = 0;
	memcpy(spec, "smtp:", 5);
	ck_assert_int_eq(method_parse(spec, &m, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(method_parse(NULL, &m, &err), -1);
}
END_TEST

/* method_suite - good and bad method specs */
static Suite *method_suite(void)
{
	Suite *s = suite_create("method");
	TCase *tc = tcase_create("method_parse");

	tcase_add_test(tc, test_smtp_bracketed);
	tcase_add_test(tc, test_smtp_host);
	tcase_add_test(tc, test_lmtp_unix);
	tcase_add_test(tc, test_lmtp_ipv6);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_too_long);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite, TAP output */
int main(void)
{
	return check_tap_run(method_suite());
}
