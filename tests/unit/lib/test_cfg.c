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
	/* units: time letters in lower case only and nothing after them; a
	 * size letter in either case, then at most one b; no overflow */
	ck_assert_int_eq(cfg_parse_time("8M", &v), -1);
	ck_assert_int_eq(cfg_parse_time("2hh", &v), -1);
	ck_assert_int_eq(cfg_parse_time("0s", &v), 0); ck_assert_int_eq(v, 0);
	ck_assert_int_eq(cfg_parse_time("8m", &v), 0); ck_assert_int_eq(v, 480);
	ck_assert_int_eq(cfg_parse_time("1d", &v), 0); ck_assert_int_eq(v, 86400);
	ck_assert_int_eq(cfg_parse_time("9223372036854775807w", &v), -1);
	ck_assert_int_eq(cfg_parse_size("1Kb", &v), 0); ck_assert_int_eq(v, 1024);
	ck_assert_int_eq(cfg_parse_size("2M", &v), 0); ck_assert_int_eq(v, 2097152);
	ck_assert_int_eq(cfg_parse_size("77", &v), 0); ck_assert_int_eq(v, 77);
	ck_assert_int_eq(cfg_parse_size("10b", &v), -1);
	ck_assert_int_eq(cfg_parse_size("1kbb", &v), -1);
	ck_assert_int_eq(cfg_parse_size("1kx", &v), -1);
	ck_assert_int_eq(cfg_parse_size("-1k", &v), -1);
	ck_assert_int_eq(cfg_parse_size("9223372036854775807g", &v), -1);
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

/* every value error names file:line of the setting, continuation lines included */
START_TEST(test_error_lines)
{
	ck_assert_str_eq(load_err("# one\n\nmax_requests = many\n"),
	    "t.conf:3: max_requests: \"many\" is not a number");
	ck_assert_str_eq(load_err("max_requests = 1\nchild_timeout =\n   9w\n"),
	    "t.conf:2: child_timeout: 5443200 is out of range 1..86400");
	ck_assert_str_eq(load_err("listen = lmtp:127.0.0.1:1\n\n# x\nspool_memory_limit = 1q\n"),
	    "t.conf:4: spool_memory_limit: \"1q\" is not a size (e.g. 10240000, 10m)");
	ck_assert_str_eq(load_err("a = 1\nb = 2\nx_header_line = at $nosuch\n"),
	    "t.conf:3: x_header_line: reference to undefined parameter $nosuch");
	/* the line of the definition that counts: the last one */
	ck_assert_str_eq(load_err("max_requests = x\nmax_requests = y\n"),
	    "t.conf:2: max_requests: \"y\" is not a number");
}
END_TEST

/* values checked after loading (by the module using them) still get their line */
START_TEST(test_where_late)
{
	struct cfg *cfg = load_ok("# late checks\n"
	    "forward_method = smtp:[127.0.0.1]:99999\n"
	    "\n"
	    "final_virus_destiny =\n"
	    "    sometimes\n"
	    "clamav_database = /nonexistent\n"
	    "policy_bank_BAD = { final_spam_destiny = never }\n"
	    "forward_method = smtp:[127.0.0.1]:99998\n");

	ck_assert_int_eq(cfg_line(cfg, P_FORWARD_METHOD), 8);
	ck_assert_str_eq(cfg_where(cfg, P_FORWARD_METHOD), "t.conf:8");
	ck_assert_str_eq(cfg_where(cfg, P_FINAL_VIRUS_DESTINY), "t.conf:4");
	ck_assert_int_eq(cfg_line(cfg, P_LISTEN), 0);
	ck_assert_str_eq(cfg_where(cfg, P_LISTEN), "t.conf");
	/* reasons as route.c, policy.c, banks.c and master.c give them */
	ck_assert_str_eq(cfg_error(cfg, "forward_method: bad port number"),
	    "t.conf:8: forward_method: bad port number");
	ck_assert_str_eq(cfg_error(cfg, "final_virus_destiny: \"sometimes\" is not pass, discard, bounce, reject or tempfail"),
	    "t.conf:4: final_virus_destiny: \"sometimes\" is not pass, discard, bounce, reject or tempfail");
	ck_assert_str_eq(cfg_error(cfg, "clamav_database /nonexistent: No such file or directory"),
	    "t.conf:6: clamav_database /nonexistent: No such file or directory");
	ck_assert_str_eq(cfg_error(cfg, "policy bank BAD: final_spam_destiny: \"never\" is not pass"),
	    "t.conf:7: policy bank BAD: final_spam_destiny: \"never\" is not pass");
	/* a setting left at its default, or no setting named: the file alone */
	ck_assert_str_eq(cfg_error(cfg, "listen: lmtp:x: bad address"), "t.conf: listen: lmtp:x: bad address");
	ck_assert_str_eq(cfg_error(cfg, "cannot listen on lmtp:127.0.0.1:1: in use"),
	    "t.conf: cannot listen on lmtp:127.0.0.1:1: in use");
	/* already placed: as it is */
	ck_assert_str_eq(cfg_error(cfg, "t.conf:3: something"), "t.conf:3: something");
	ck_assert_str_eq(cfg_error(NULL, "forward_method: bad"), "(defaults): forward_method: bad");
	cfg_free(&cfg);
	/* no file */
	ck_assert_int_eq(cfg_load_string(&cfg, "", NULL, &(const char *){ NULL }), 0);
	ck_assert_str_eq(cfg_where(cfg, P_FORWARD_METHOD), "(defaults)");
	cfg_free(&cfg);
}
END_TEST

/* a policy bank's override is placed at its policy_bank_NAME line */
START_TEST(test_where_bank)
{
	struct cfg *cfg = load_ok("max_requests = 5\n\npolicy_bank_B = { forward_method = smtp:[::1]:1 }\n"
	    "   { final_virus_destiny = reject }\n");
	struct cfg *b = NULL;
	const char *err = NULL;

	ck_assert_int_eq(cfg_bank(cfg, "B", &b, &err), 0);
	ck_assert_int_eq(cfg_line(b, P_FORWARD_METHOD), 3);
	ck_assert_int_eq(cfg_line(b, P_FINAL_VIRUS_DESTINY), 3);
	ck_assert_int_eq(cfg_line(b, P_MAX_REQUESTS), 1);
	ck_assert_str_eq(cfg_error(b, "forward_method: bad"), "t.conf:3: forward_method: bad");
	cfg_free(&b);
	cfg_free(&cfg);
}
END_TEST

/* mydomain and myhostname default as in Postfix, and $mydomain sees it */
START_TEST(test_mydomain_default)
{
	struct cfg *cfg = load_ok("myhostname = mx.derived.example\n");
	char host[256];

	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), "derived.example");
	ck_assert_str_eq(cfg_str(cfg, P_X_HEADER_LINE), "tollgate at derived.example");
	ck_assert_int_eq(cfg_is_set(cfg, P_MYDOMAIN), 0);
	cfg_free(&cfg);
	/* no dot (or nothing after it): localdomain */
	cfg = load_ok("myhostname = gateway\n");
	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), "localdomain");
	cfg_free(&cfg);
	cfg = load_ok("myhostname = gateway.\n");
	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), "localdomain");
	cfg_free(&cfg);
	/* set: kept; set empty: computed */
	cfg = load_ok("myhostname = mx.a.example\nmydomain = b.example\n");
	ck_assert_str_eq(cfg_str(cfg, P_X_HEADER_LINE), "tollgate at b.example");
	cfg_free(&cfg);
	cfg = load_ok("myhostname = mx.a.example\nmydomain =\nx_header_line = scanned at ${mydomain}\n");
	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), "a.example");
	ck_assert_str_eq(cfg_str(cfg, P_X_HEADER_LINE), "scanned at a.example");
	cfg_free(&cfg);
	/* myhostname from mydomain, as Postfix allows */
	cfg = load_ok("myhostname = mail.$mydomain\nmydomain = c.example\n");
	ck_assert_str_eq(cfg_str(cfg, P_MYHOSTNAME), "mail.c.example");
	cfg_free(&cfg);
	/* neither set: the system host name, and its domain */
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = 0;
	cfg = load_ok("");
	ck_assert_str_eq(cfg_str(cfg, P_MYHOSTNAME), host);
	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), strchr(host, '.') && strchr(host, '.')[1] ?
	    strchr(host, '.') + 1 : "localdomain");
	ck_assert_ptr_nonnull(strstr(cfg_str(cfg, P_X_HEADER_LINE), "tollgate at "));
	ck_assert_uint_gt(strlen(cfg_str(cfg, P_X_HEADER_LINE)), strlen("tollgate at "));
	cfg_free(&cfg);
	/* a '$' in a host name does not expand again */
	cfg = load_ok("myhostname = mx.$$x.example\n");
	ck_assert_str_eq(cfg_str(cfg, P_MYDOMAIN), "$x.example");
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
	tcase_add_test(tc, test_error_lines);
	tcase_add_test(tc, test_where_late);
	tcase_add_test(tc, test_where_bank);
	tcase_add_test(tc, test_mydomain_default);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(cfg_suite());
}
