/*
 * test_text.c - unit tests of lib/text.c: hex digits, hex pairs (and
 * that a NUL stops a pair before its second byte), %XX unescaping at
 * the end of the input, with stray escapes flagged.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/text.h"
#include "tests/unit/check_tap.h"

START_TEST(test_hex_value)
{
	ck_assert_int_eq(text_hex_value('0'), 0);
	ck_assert_int_eq(text_hex_value('9'), 9);
	ck_assert_int_eq(text_hex_value('a'), 10);
	ck_assert_int_eq(text_hex_value('F'), 15);
	ck_assert_int_eq(text_hex_value('g'), -1);
	ck_assert_int_eq(text_hex_value('G'), -1);
	ck_assert_int_eq(text_hex_value('/'), -1);
	ck_assert_int_eq(text_hex_value(':'), -1);
	ck_assert_int_eq(text_hex_value(0), -1);
	ck_assert_int_eq(text_hex_value(0xe9), -1);
}
END_TEST

START_TEST(test_hex_pair)
{
	/* the second byte past a NUL is never read: the buffer ends there */
	char *p = strdup("");

	ck_assert_int_eq(text_hex_pair("4a"), 0x4a);
	ck_assert_int_eq(text_hex_pair("fF"), 0xff);
	ck_assert_int_eq(text_hex_pair("00"), 0);
	ck_assert_int_eq(text_hex_pair("4g"), -1);
	ck_assert_int_eq(text_hex_pair("x4"), -1);
	ck_assert_int_eq(text_hex_pair("4"), -1);
	ck_assert_int_eq(text_hex_pair(p), -1);
	free(p);
}
END_TEST

START_TEST(test_unescape)
{
	char out[32];
	int bad = 0;
	size_t n;

	n = text_unescape_hex("a%41b%2f", 8, '%', out, &bad);
	ck_assert_uint_eq(n, 4);
	ck_assert(memcmp(out, "aAb/", 4) == 0);
	ck_assert_int_eq(bad, 0);
	/* a stray or short escape is kept and flagged; the end is respected */
	n = text_unescape_hex("%4x%4", 5, '%', out, &bad);
	ck_assert_uint_eq(n, 5);
	ck_assert(memcmp(out, "%4x%4", 5) == 0);
	ck_assert_int_eq(bad, 1);
	/* the escape byte is a parameter; NULL bad_r is allowed */
	n = text_unescape_hex("=3D=00", 6, '=', out, NULL);
	ck_assert_uint_eq(n, 2);
	ck_assert(memcmp(out, "=\0", 2) == 0);
	/* two bytes of input left after the escape, not more */
	n = text_unescape_hex("%41", 2, '%', out, NULL);
	ck_assert_uint_eq(n, 2);
	ck_assert(memcmp(out, "%4", 2) == 0);
}
END_TEST

static Suite *text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_hex_value);
	tcase_add_test(tc, test_hex_pair);
	tcase_add_test(tc, test_unescape);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(text_suite());
}
