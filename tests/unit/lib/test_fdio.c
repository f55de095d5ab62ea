/*
 * test_fdio.c - unit tests of lib/fdio.c: a write larger than a pipe's
 * buffer arrives whole while a timer signal (no SA_RESTART) keeps
 * interrupting it (short writes and EINTR are resumed), and a failed
 * write is -1 with errno.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fdio.h"
#include "tests/unit/check_tap.h"

#define BIG (1024 * 1024)	/* well past a pipe's 64 KiB */

/* tick - a signal handler that only interrupts */
static void tick(int sig)
{
	(void)sig;
}

START_TEST(test_whole_write)
{
	char *data = malloc(BIG), *got = malloc(BIG);
	size_t have = 0, i;
	int pfd[2], status;
	pid_t pid;

	for (i = 0; i < BIG; i++)
		data[i] = (char)(i * 7);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction sa;
		struct itimerval it = { { 0, 500 }, { 0, 500 } };

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = tick;	/* no SA_RESTART: write() returns short or EINTR */
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		close(pfd[0]);
		_exit(fd_write_all(pfd[1], data, BIG) == 0 ? 0 : 1);
	}
	close(pfd[1]);
	while (have < BIG) {
		ssize_t n = read(pfd[0], got + have, BIG - have < 4096 ? BIG - have : 4096);

		usleep(50);	/* a slow reader: the writer waits, and is interrupted */

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(have, BIG);
	ck_assert(memcmp(data, got, BIG) == 0);
	free(data);
	free(got);
}
END_TEST

START_TEST(test_failure)
{
	int pfd[2];

	ck_assert_int_eq(pipe(pfd), 0);
	close(pfd[1]);
	errno = 0;
	ck_assert_int_eq(fd_write_all(pfd[1], "x", 1), -1);
	ck_assert_int_eq(errno, EBADF);
	close(pfd[0]);
	ck_assert_int_eq(fd_write_all(-1, "", 0), 0);	/* nothing to write */
}
END_TEST

static Suite *fdio_suite(void)
{
	Suite *s = suite_create("fdio");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_whole_write);
	tcase_add_test(tc, test_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(fdio_suite());
}
