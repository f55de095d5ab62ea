/*
 * test_postconf.c - unit tests of lib/postconf.c with a stand-in
 * "postconf" (a shell script in a private directory put first on PATH):
 * the argument vector, -h values, -M entries, a "-" maxproc, a failing
 * exit, no postconf at all, the timeout and the output bound.
 *
 * lib/postconf.c is compiled into this test with a short
 * POSTCONF_TIMEOUT_MS, so that the timeout case takes half a second.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/postconf.h"
#include "tests/unit/check_tap.h"

static char dir[64];
static char argsfile[300];
static char *path0;		/* PATH as the test started */

/* fake - install a postconf that runs the shell text body */
static void fake(const char *body)
{
	char path[300];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/postconf", dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "#!/bin/sh\necho \"$@\" >%s\n%s\n", argsfile, body);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

/* args_seen - what the stand-in was called with */
static const char *args_seen(void)
{
	static char line[400];
	FILE *fp = fopen(argsfile, "r");

	line[0] = 0;
	if (fp) {
		if (fgets(line, sizeof(line), fp) == NULL)
			line[0] = 0;
		fclose(fp);
	}
	line[strcspn(line, "\n")] = 0;
	return line;
}

static void setup(void)
{
	char path[4200];

	if (path0 == NULL)
		path0 = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	strlcpy(dir, "/tmp/tg-postconf-XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(argsfile, sizeof(argsfile), "%s/args", dir);
	snprintf(path, sizeof(path), "%s:%s", dir, path0);
	setenv("PATH", path, 1);
}

static void teardown(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/postconf", dir);
	unlink(path);
	unlink(argsfile);
	rmdir(dir);
}

START_TEST(test_value)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;

	fake("printf '600s \\n\\n'");
	ck_assert_int_eq(postconf_value("/etc/pf", "lmtp_data_done_timeout", &out, &err), 0);
	ck_assert_str_eq(out.data, "600s");
	ck_assert_str_eq(args_seen(), "-c /etc/pf -h lmtp_data_done_timeout");
	/* no directory: no -c; an empty answer is an empty string */
	fake("true");
	ck_assert_int_eq(postconf_value("", "content_filter", &out, &err), 0);
	ck_assert_str_eq(out.data, "");
	ck_assert_str_eq(args_seen(), "-h content_filter");
	buf_free(&out);
}
END_TEST

START_TEST(test_service)
{
	struct buf out = BUF_INIT;
	char *tok[POSTCONF_MAX_FIELDS];
	const char *err = NULL;
	int n;

	fake("echo 'amavisfeed unix  -       -       n       -       4       lmtp'\n"
	    "echo '  -o lmtp_data_done_timeout=1200 -o lmtp_send_xforward_command=yes'");
	n = postconf_service(NULL, "amavisfeed/unix", &out, tok, POSTCONF_MAX_FIELDS, &err);
	ck_assert_int_eq(n, 12);
	ck_assert_str_eq(args_seen(), "-M amavisfeed/unix");
	ck_assert_str_eq(tok[0], "amavisfeed");
	ck_assert_str_eq(tok[6], "4");
	ck_assert_str_eq(tok[7], "lmtp");
	ck_assert_str_eq(tok[9], "lmtp_data_done_timeout=1200");
	ck_assert_int_eq(postconf_maxproc(NULL, tok[6]), 4);
	/* at most max tokens */
	ck_assert_int_eq(postconf_service(NULL, "amavisfeed/unix", &out, tok, 3, &err), 3);
	/* no such service: nothing printed */
	fake("true");
	ck_assert_int_eq(postconf_service(NULL, "nosuch/unix", &out, tok, POSTCONF_MAX_FIELDS, &err), 0);
	buf_free(&out);
}
END_TEST

START_TEST(test_maxproc_default)
{
	fake("echo 100");
	ck_assert_int_eq(postconf_maxproc("/etc/pf", "-"), 100);
	ck_assert_str_eq(args_seen(), "-c /etc/pf -h default_process_limit");
	fake("exit 1");
	ck_assert_int_eq(postconf_maxproc(NULL, "-"), -1);
}
END_TEST

START_TEST(test_failure)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;

	fake("echo half; exit 3");
	ck_assert_int_eq(postconf_value(NULL, "x", &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "status 3"));
	/* not on PATH at all */
	teardown();
	setenv("PATH", "/nonexistent-tollgate-dir", 1);
	err = NULL;
	ck_assert_int_eq(postconf_value(NULL, "x", &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot run postconf"));
	buf_free(&out);
}
END_TEST

START_TEST(test_timeout)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;
	time_t t0 = time(NULL);

	fake("echo started; exec sleep 30");
	ck_assert_int_eq(postconf_value(NULL, "x", &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "did not finish"));
	ck_assert_int_lt(time(NULL) - t0, 5);
	buf_free(&out);
}
END_TEST

START_TEST(test_output_bound)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;
	char body[100];

	snprintf(body, sizeof(body), "exec head -c %d /dev/zero", POSTCONF_MAX_OUTPUT + 1);
	fake(body);
	ck_assert_int_eq(postconf_value(NULL, "x", &out, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	/* exactly the bound is fine */
	snprintf(body, sizeof(body), "exec head -c %d /dev/zero", POSTCONF_MAX_OUTPUT);
	fake(body);
	ck_assert_int_eq(postconf_value(NULL, "x", &out, &err), 0);
	buf_free(&out);
}
END_TEST

static Suite *postconf_suite(void)
{
	Suite *s = suite_create("postconf");
	TCase *tc = tcase_create("postconf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_value);
	tcase_add_test(tc, test_service);
	tcase_add_test(tc, test_maxproc_default);
	tcase_add_test(tc, test_failure);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_output_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(postconf_suite());
}
