/*
 * test_netio.c - unit tests of lib/netio.c's wait for input between
 * commands: conn_wait_input_or() answers CONN_OTHER when only a watched
 * other descriptor (a listening socket, in smtpd) is readable, 0 when
 * the connection itself is (it wins over the others), 0 at once when
 * *stop is set, and CONN_TIMEOUT when nothing comes.
 */
#include "config.h"

#include <check.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/netio.h"
#include "tests/unit/check_tap.h"

static long long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(test_wait_or)
{
	int sv[2], other[2], fds[1];
	volatile int stop = 0;
	struct conn *c;
	struct timespec t0;
	const char *line;
	size_t len;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);
	c = conn_create(sv[0]);
	fds[0] = other[0];

	/* nothing anywhere: the timeout */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(conn_wait_input_or(c, 50, &stop, fds, 1), CONN_TIMEOUT);
	ck_assert_int_ge(ms_since(&t0), 45);

	/* only the other is readable */
	ck_assert_int_eq(write(other[1], "x", 1), 1);
	ck_assert_int_eq(conn_wait_input_or(c, 5000, &stop, fds, 1), CONN_OTHER);

	/* both: the connection wins, and its line is there */
	ck_assert_int_eq(write(sv[1], "RSET\r\n", 6), 6);
	ck_assert_int_eq(conn_wait_input_or(c, 5000, &stop, fds, 1), 0);
	ck_assert_int_eq(conn_read_line(c, 100, &line, &len), CONN_LINE);
	ck_assert_str_eq(line, "RSET");

	/* no others: as conn_wait_input, the other's byte is not looked at */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(conn_wait_input_or(c, 50, &stop, fds, 0), CONN_TIMEOUT);
	ck_assert_int_eq(conn_wait_input(c, 50, &stop), CONN_TIMEOUT);

	/* *stop set: back at once, 0 */
	stop = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(conn_wait_input_or(c, 5000, &stop, fds, 1), 0);
	ck_assert_int_lt(ms_since(&t0), 1000);

	conn_free(&c);
	close(sv[1]);
	close(other[0]);
	close(other[1]);
}
END_TEST

static Suite *netio_suite(void)
{
	Suite *s = suite_create("netio");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_wait_or);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(netio_suite());
}
