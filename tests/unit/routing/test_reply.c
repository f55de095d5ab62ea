/*
 * test_reply.c - reply_from_mta() and reply_one_for_all(): the reply
 * codes we give upstream for what downstream said.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/message.h"
#include "routing/routing.h"
#include "tests/unit/check_tap.h"

#define SPEC "smtp:[127.0.0.1]:10025"

static struct arena *arena;

/* setup - a fresh arena per test */
static void setup(void)
{
	arena = arena_create(0);
}

/* teardown - free the arena */
static void teardown(void)
{
	arena_free(&arena);
}

START_TEST(test_mta_queued)
{
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "250 2.0.0 Ok: queued as 4ABC"),
	    "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4ABC");
}
END_TEST

START_TEST(test_mta_no_enh)
{
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "250 Ok"),
	    "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 Ok");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "452 Too many recipients"),
	    "452 4.0.0 from MTA(smtp:[127.0.0.1]:10025): 452 Too many recipients");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "250"), "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250");
}
END_TEST

START_TEST(test_mta_5xx_4xx)
{
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "550 5.1.1 <x@y>: Recipient address rejected"),
	    "550 5.1.1 from MTA(smtp:[127.0.0.1]:10025): 550 5.1.1 <x@y>: Recipient address rejected");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "554 5.7.1 Rejected"),
	    "554 5.7.1 from MTA(smtp:[127.0.0.1]:10025): 554 5.7.1 Rejected");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "451 4.3.0 Temporary lookup failure"),
	    "451 4.3.0 from MTA(smtp:[127.0.0.1]:10025): 451 4.3.0 Temporary lookup failure");
	ck_assert_str_eq(reply_from_mta(arena, "lmtp:unix:/run/lmtp", "452 4.2.2 Mailbox full"),
	    "452 4.2.2 from MTA(lmtp:unix:/run/lmtp): 452 4.2.2 Mailbox full");
}
END_TEST

START_TEST(test_mta_wrong_class_enh)
{
	/* an enhanced code of another class is not believed */
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "550 4.1.1 odd"),
	    "550 5.0.0 from MTA(smtp:[127.0.0.1]:10025): 550 4.1.1 odd");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "250 2.0.0000 x"),
	    "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0000 x");
}
END_TEST

START_TEST(test_mta_malformed)
{
	/* not a reply, or a 3xx where a final reply belongs: tempfail */
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "hello"),
	    "451 4.5.0 from MTA(smtp:[127.0.0.1]:10025): hello");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "354 go ahead"),
	    "451 4.5.0 from MTA(smtp:[127.0.0.1]:10025): 354 go ahead");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, "650 x"),
	    "451 4.5.0 from MTA(smtp:[127.0.0.1]:10025): 650 x");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, ""), "451 4.5.0 from MTA(smtp:[127.0.0.1]:10025): ");
	ck_assert_str_eq(reply_from_mta(arena, SPEC, NULL), "451 4.5.0 from MTA(smtp:[127.0.0.1]:10025): ");
}
END_TEST

START_TEST(test_mta_clean_and_bounded)
{
	char big[3000];
	const char *r;

	r = reply_from_mta(arena, SPEC, "250 2.0.0 ok\r\nfoo\x01\xff");
	ck_assert_str_eq(r, "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 ok??foo??");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "250 2.0.0 ", 10);
	r = reply_from_mta(arena, SPEC, big);
	ck_assert_uint_eq(strlen(r), 510);
	ck_assert(strncmp(r, "250 2.0.0 from MTA(", 19) == 0);
}
END_TEST

/* msg_with - a message whose recipients have the given replies */
static struct message *msg_with(const char *const *replies, size_t n)
{
	struct message *msg = arena_alloc(arena, sizeof(*msg));
	size_t i;

	msg->arena = arena;
	strlcpy(msg->am_id, "4242-07", sizeof(msg->am_id));
	for (i = 0; i < n; i++) {
		struct rcpt *r = message_add_rcpt(msg, "r@example.com");

		r->reply = replies[i];
		r->code = replies[i] ? atoi(replies[i]) : 0;
	}
	return msg;
}

START_TEST(test_one_all_2xx)
{
	static const char *const rp[] = { "250 2.0.0 from MTA(x): 250 2.0.0 Ok: queued as A",
		"250 2.0.0 from MTA(x): 250 2.0.0 Ok: queued as B" };

	ck_assert_str_eq(reply_one_for_all(msg_with(rp, 2)), rp[0]);
}
END_TEST

START_TEST(test_one_first_4xx_wins)
{
	static const char *const rp[] = { "250 2.0.0 ok", "550 5.1.1 no", "450 4.2.0 later", "451 4.3.0 other" };

	ck_assert_str_eq(reply_one_for_all(msg_with(rp, 4)), "450 4.2.0 later");
}
END_TEST

START_TEST(test_one_all_5xx)
{
	static const char *const rp[] = { "550 5.1.1 first", "554 5.7.1 second" };

	ck_assert_str_eq(reply_one_for_all(msg_with(rp, 2)), "550 5.1.1 first");
}
END_TEST

START_TEST(test_one_some_rejected)
{
	static const char *const rp[] = { "550 5.1.1 no", "250 2.0.0 from MTA(x): 250 2.0.0 Ok",
		"554 5.7.1 no", "250 2.0.0 second" };

	ck_assert_str_eq(reply_one_for_all(msg_with(rp, 4)),
	    "250 2.0.0 from MTA(x): 250 2.0.0 Ok, but 2 REJECT");
}
END_TEST

START_TEST(test_one_undecided)
{
	static const char *const rp[] = { "250 2.0.0 ok", NULL };
	const char *r = reply_one_for_all(msg_with(rp, 2));

	ck_assert(strncmp(r, "451 4.5.0 Error in processing, id=4242-07", 41) == 0);
	r = reply_one_for_all(msg_with(rp, 0));
	ck_assert(strncmp(r, "451 4.5.0 ", 10) == 0);
}
END_TEST

START_TEST(test_one_bounded)
{
	char big[600];
	const char *rp[2];
	const char *r;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "250 2.0.0 ", 10);
	rp[0] = big;
	rp[1] = "550 5.0.0 no";
	r = reply_one_for_all(msg_with(rp, 2));
	ck_assert_uint_eq(strlen(r), 510);
	ck_assert_str_eq(r + strlen(r) - 14, ", but 1 REJECT");
}
END_TEST

/* reply_suite - reply_from_mta and reply_one_for_all cases */
static Suite *reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc = tcase_create("reply");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mta_queued);
	tcase_add_test(tc, test_mta_no_enh);
	tcase_add_test(tc, test_mta_5xx_4xx);
	tcase_add_test(tc, test_mta_wrong_class_enh);
	tcase_add_test(tc, test_mta_malformed);
	tcase_add_test(tc, test_mta_clean_and_bounded);
	tcase_add_test(tc, test_one_all_2xx);
	tcase_add_test(tc, test_one_first_4xx_wins);
	tcase_add_test(tc, test_one_all_5xx);
	tcase_add_test(tc, test_one_some_rejected);
	tcase_add_test(tc, test_one_undecided);
	tcase_add_test(tc, test_one_bounded);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite, TAP output */
int main(void)
{
	return check_tap_run(reply_suite());
}
