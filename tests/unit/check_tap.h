/*
 * check_tap.h - run a Check suite and report each test case as TAP, so
 * that automake's TAP driver counts single tests (the project's
 * "N passed, M failed" line sums them).
 *
 * Use: in a unit test file, build a Suite and end with
 *     int main(void) { return check_tap_run(my_suite()); }
 * Tests run in the same process (CK_NOFORK) unless CK_FORK is set in the
 * environment, so ASan and leak checking see them.
 */
#ifndef TG_CHECK_TAP_H
#define TG_CHECK_TAP_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static inline int check_tap_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (getenv("CK_FORK") == NULL)
		srunner_set_fork_status(sr, CK_NOFORK);
	/* "-" is stdout: Check writes "1..N" and one "ok N - file:tcase:test:0" per test */
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fflush(stdout);
	return failed ? 1 : 0;
}

#endif
