/*
 * test_cfg.c - unit tests of lib/cfg.c: syntax, continuation lines,
 * $name expansion, typed values and bounds, errors with file:line.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "lib/cfg.h"
#include "tests/unit/check_tap.h"

static struct cfg *load_ok(const char *text)
{
	struct cfg *cfg = NULL;
	const char *err = NULL;

	ck_assert_msg(cfg_load_string(&cfg, text, "t.conf", &err) == 0, "load failed: %s", err);
	return cfg;
}

static const char *load_err(const char *text)
{
	struct cfg *cfg = NULL;
	const char *err = NULL;

	ck_assert_int_eq(cfg_load_string(&cfg, text, "t.conf", &err), -1);
	ck_assert_ptr_null(cfg);
	return err;
}

START_TEST(test_defaults)
{
	struct cfg *cfg = load_ok("");
	int n;
	char *const *l = cfg_list(cfg, P_LISTEN, &n);

	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(l[0], "lmtp:127.0.0.1:10024");
	ck_assert_str_eq(cfg_str(cfg, P_FORWARD_METHOD), "smtp:[127.0.0.1]:10025");
	ck_assert_str_eq(cfg_str(cfg, P_NOTIFY_METHOD), "smtp:[127.0.0.1]:10025");
	ck_assert_str_eq(cfg_str(cfg, P_MAX_SERVERS), "2");
	ck_assert_int_eq(cfg_int(cfg, P_CHILD_TIMEOUT), 480);
	ck_assert_int_eq(cfg_int(cfg, P_SPOOL_MEMORY_LIMIT), 512 * 1024);
	ck_assert_int_eq(cfg_is_set(cfg, P_LISTEN), 0);
	cfg_free(&cfg);
	ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(test_basic_and_comments)
{
	struct cfg *cfg = load_ok("# comment\n\nmax_requests = 20\n   # indented comment\nchild_timeout=8m\n");

	ck_assert_int_eq(cfg_int(cfg, P_MAX_REQUESTS), 20);
	ck_assert_int_eq(cfg_int(cfg, P_CHILD_TIMEOUT), 480);
	ck_assert_int_eq(cfg_is_set(cfg, P_MAX_REQUESTS), 1);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_continuation)
{
	struct cfg *cfg = load_ok("listen = lmtp:127.0.0.1:10024\n  smtp:[::1]:10026,\n\tlmtp:unix:/run/t.sock\n");
	int n;
	char *const *l = cfg_list(cfg, P_LISTEN, &n);

	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(l[1], "smtp:[::1]:10026");
	ck_assert_str_eq(l[2], "lmtp:unix:/run/t.sock");
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_continuation_without_param)
{
	const char *err = load_err("  orphan = 1\n");

	ck_assert_ptr_nonnull(strstr(err, "t.conf:1:"));
}
END_TEST

START_TEST(test_expansion)
{
	struct cfg *cfg = load_ok("mydomain = example.org\nrelay_port = 20025\n"
	    "forward_method = smtp:[127.0.0.1]:$relay_port\nx_header_line = scanned at ${mydomain} $$5\n");

	ck_assert_str_eq(cfg_str(cfg, P_FORWARD_METHOD), "smtp:[127.0.0.1]:20025");
	/* notify_method defaults to $forward_method and follows it */
	ck_assert_str_eq(cfg_str(cfg, P_NOTIFY_METHOD), "smtp:[127.0.0.1]:20025");
	ck_assert_str_eq(cfg_str(cfg, P_X_HEADER_LINE), "scanned at example.org $5");
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_expansion_loop)
{
	const char *err = load_err("a = $b\nb = $a\nmyhostname = $a\n");

	ck_assert_ptr_nonnull(strstr(err, "too deep"));
}
END_TEST

START_TEST(test_undefined_reference)
{
	const char *err = load_err("myhostname = $nosuch\n");

	ck_assert_ptr_nonnull(strstr(err, "t.conf:1: myhostname"));
	ck_assert_ptr_nonnull(strstr(err, "nosuch"));
}
END_TEST

START_TEST(test_later_wins)
{
	struct cfg *cfg = load_ok("max_requests = 5\nmax_requests = 7\n");

	ck_assert_int_eq(cfg_int(cfg, P_MAX_REQUESTS), 7);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_bad_number)
{
	const char *err = load_err("\n\nmax_requests = lots\n");

	ck_assert_ptr_nonnull(strstr(err, "t.conf:3:"));
	ck_assert_ptr_nonnull(strstr(err, "not a number"));
}
END_TEST

START_TEST(test_bounds)
{
	const char *err = load_err("child_timeout = 0\n");

	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	err = load_err("max_recipients = 1000001\n");
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
}
END_TEST

START_TEST(test_time_and_size_units)
{
	long long v;

	ck_assert_int_eq(cfg_parse_time("90", &v), 0); ck_assert_int_eq(v, 90);
	ck_assert_int_eq(cfg_parse_time("2h", &v), 0); ck_assert_int_eq(v, 7200);
	ck_assert_int_eq(cfg_parse_time("1w", &v), 0); ck_assert_int_eq(v, 604800);
	ck_assert_int_eq(cfg_parse_time("5x", &v), -1);
	ck_assert_int_eq(cfg_parse_time("-5", &v), -1);
	ck_assert_int_eq(cfg_parse_time("", &v), -1);
	ck_assert_int_eq(cfg_parse_size("10m", &v), 0); ck_assert_int_eq(v, 10485760);
	ck_assert_int_eq(cfg_parse_size("512k", &v), 0); ck_assert_int_eq(v, 524288);
	ck_assert_int_eq(cfg_parse_size("1GB", &v), 0); ck_assert_int_eq(v, 1073741824LL);
	ck_assert_int_eq(cfg_parse_size("99999999999999999999", &v), -1);
	ck_assert_int_eq(cfg_parse_bool("yes", &v), 0); ck_assert_int_eq(v, 1);
	ck_assert_int_eq(cfg_parse_bool("off", &v), 0); ck_assert_int_eq(v, 0);
	ck_assert_int_eq(cfg_parse_bool("maybe", &v), -1);
}
END_TEST

START_TEST(test_missing_equals)
{
	const char *err = load_err("max_requests 5\n");

	ck_assert_ptr_nonnull(strstr(err, "missing '='"));
}
END_TEST

START_TEST(test_bad_name)
{
	const char *err = load_err("max-requests = 5\n");

	ck_assert_ptr_nonnull(strstr(err, "bad parameter name"));
}
END_TEST

START_TEST(test_dollar_alone)
{
	const char *err = load_err("myhostname = a$ b\n");

	ck_assert_ptr_nonnull(strstr(err, "$$"));
}
END_TEST

START_TEST(test_file_errors)
{
	struct cfg *cfg = NULL;
	const char *err = NULL;
	char path[] = "/tmp/tg-cfg-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_eq(cfg_load(&cfg, "/nonexistent/tollgate.conf", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tollgate.conf"));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "max_requests = 3\n", 17), 17);
	close(fd);
	ck_assert_int_eq(cfg_load(&cfg, path, &err), 0);
	ck_assert_int_eq(cfg_int(cfg, P_MAX_REQUESTS), 3);
	ck_assert_str_eq(cfg_path(cfg), path);
	cfg_free(&cfg);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "a = b\0c\n", 8), 8);
	close(fd);
	ck_assert_int_eq(cfg_load(&cfg, path, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
	unlink(path);
}
END_TEST

START_TEST(test_print)
{
	struct cfg *cfg = load_ok("max_requests = 9\n");
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	cfg_print(cfg, fp, 'n');
	fclose(fp);
	ck_assert_str_eq(out, "max_requests = 9\n");
	free(out);
	fp = open_memstream(&out, &len);
	cfg_print(cfg, fp, 'd');
	fclose(fp);
	ck_assert_ptr_nonnull(strstr(out, "max_requests = 1000\n"));
	ck_assert_ptr_nonnull(strstr(out, "notify_method = $forward_method\n"));
	free(out);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_lookup_id)
{
	ck_assert_int_eq(cfg_lookup_id("listen"), P_LISTEN);
	ck_assert_int_eq(cfg_lookup_id("nosuch"), -1);
}
END_TEST

static Suite *cfg_suite(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc = tcase_create("cfg");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_basic_and_comments);
	tcase_add_test(tc, test_continuation);
	tcase_add_test(tc, test_continuation_without_param);
	tcase_add_test(tc, test_expansion);
	tcase_add_test(tc, test_expansion_loop);
	tcase_add_test(tc, test_undefined_reference);
	tcase_add_test(tc, test_later_wins);
	tcase_add_test(tc, test_bad_number);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_time_and_size_units);
	tcase_add_test(tc, test_missing_equals);
	tcase_add_test(tc, test_bad_name);
	tcase_add_test(tc, test_dollar_alone);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_print);
	tcase_add_test(tc, test_lookup_id);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(cfg_suite());
}
