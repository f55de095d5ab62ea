/*
 * test_category.c - unit tests of lib/category.c: the majors' numbers
 * and order, amavisd's display names with their minors, and the labels
 * that `tollgate stats` and the metrics endpoint print for the
 * scoreboard's counters (tests/integration/t_prometheus.sh and t_ops.sh
 * look for category="virus" and category="clean").
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "lib/category.h"
#include "lib/scoreboard.h"
#include "tests/unit/check_tap.h"

/* the metrics labels, in the order of the majors */
static const char *const labels[CC_MAJORS] = { "other", "clean", "mta_error", "oversized",
	"bad_header", "spammy", "spam", "unchecked", "banned", "virus" };

/* the majors keep amavisd's numbers, which the counters are indexed by */
START_TEST(test_major_numbers)
{
	ck_assert_int_eq(CC_CATCHALL, 0);
	ck_assert_int_eq(CC_CLEAN, 1);
	ck_assert_int_eq(CC_MTA, 2);
	ck_assert_int_eq(CC_OVERSIZED, 3);
	ck_assert_int_eq(CC_BADH, 4);
	ck_assert_int_eq(CC_SPAMMY, 5);
	ck_assert_int_eq(CC_SPAM, 6);
	ck_assert_int_eq(CC_UNCHECKED, 7);
	ck_assert_int_eq(CC_BANNED, 8);
	ck_assert_int_eq(CC_VIRUS, 9);
	ck_assert_int_eq(CC_MAJORS, 10);
}
END_TEST

/* a ccat packs major and minor; a larger value is more important */
START_TEST(test_ccat_packing)
{
	unsigned c = CCAT(CC_BADH, CC_BADH_8BIT);

	ck_assert_uint_eq(CCAT_MAJOR(c), CC_BADH);
	ck_assert_uint_eq(CCAT_MINOR(c), CC_BADH_8BIT);
	ck_assert_uint_gt(c, CCAT(CC_BADH, 0));
	ck_assert_uint_lt(c, CCAT(CC_SPAMMY, 0));
	ck_assert_uint_gt(CCAT(CC_VIRUS, 0), CCAT(CC_BANNED, 255));
	ck_assert_uint_eq(CCAT_MINOR(CCAT(CC_CLEAN, 0x101)), 1);
}
END_TEST

/* the labels, one per major, and "?" past the last */
START_TEST(test_labels)
{
	unsigned i;

	for (i = 0; i < CC_MAJORS; i++)
		ck_assert_str_eq(category_label(i), labels[i]);
	ck_assert_str_eq(category_label(CC_MAJORS), "?");
	ck_assert_str_eq(category_label(~0u), "?");
}
END_TEST

/* what the scoreboard counts under CCAT_MAJOR(ccat) is what the label
 * of that major names; a category out of range counts as "other" */
START_TEST(test_scoreboard_agrees)
{
	struct scoreboard *sb = scoreboard_create(2);
	struct sb_counters k;

	scoreboard_count(sb, 0, CCAT_MAJOR(CCAT(CC_VIRUS, 0)), SB_BLOCKED, 100);
	scoreboard_count(sb, 1, CCAT_MAJOR(CCAT(CC_BADH, CC_BADH_DUPL)), SB_PASSED, 10);
	scoreboard_count(sb, 1, 42, SB_PASSED, 1);
	scoreboard_read(sb, &k);
	ck_assert_uint_eq(k.messages[CC_VIRUS][SB_BLOCKED], 1);
	ck_assert_str_eq(category_label(CC_VIRUS), "virus");
	ck_assert_str_eq(scoreboard_action_name(SB_BLOCKED), "blocked");
	ck_assert_uint_eq(k.messages[CC_BADH][SB_PASSED], 1);
	ck_assert_str_eq(category_label(CC_BADH), "bad_header");
	ck_assert_uint_eq(k.messages[CC_CATCHALL][SB_PASSED], 1);
	ck_assert_str_eq(category_label(CC_CATCHALL), "other");
	ck_assert_uint_eq(k.bytes, 111);
}
END_TEST

/* amavisd's display names: the major's, or the minor's where it has one */
START_TEST(test_display_names)
{
	static const char *const majors[CC_MAJORS] = { "CatchAll", "Clean", "MtaFailed", "Oversized",
		"BadHdr", "Spammy", "Spam", "Unchecked", "Banned", "Virus" };
	unsigned i;

	for (i = 0; i < CC_MAJORS; i++)
		ck_assert_str_eq(category_name(CCAT(i, 0)), majors[i]);
	ck_assert_str_eq(category_name(CCAT(CC_CLEAN, 1)), "CleanTag");
	ck_assert_str_eq(category_name(CCAT(CC_MTA, 1)), "MtaTempFailed");
	ck_assert_str_eq(category_name(CCAT(CC_MTA, 2)), "MtaRejected");
	ck_assert_str_eq(category_name(CCAT(CC_SPAMMY, 1)), "Spammy3");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_MIME)), "BadHdrMime");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_8BIT)), "BadHdr8bit");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_CHAR)), "BadHdrChar");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_SPACE)), "BadHdrSpace");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_LONG)), "BadHdrLong");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_SYNTAX)), "BadHdrSyntax");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_MISSING)), "BadHdrMissing");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, CC_BADH_DUPL)), "BadHdrDupl");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, 99)), "BadHdr");
	ck_assert_str_eq(category_name(CCAT(CC_UNCHECKED, CC_UNCHECKED_ENCRYPTED)), "UncheckedEncrypted");
	ck_assert_str_eq(category_name(CCAT(CC_UNCHECKED, CC_UNCHECKED_LIMITS)), "UncheckedOverLimits");
	ck_assert_str_eq(category_name(CCAT(CC_UNCHECKED, CC_UNCHECKED_AMBIGUOUS)),
	    "UncheckedAmbiguousContent");
	ck_assert_str_eq(category_name(CCAT(CC_UNCHECKED, 99)), "Unchecked");
	ck_assert_str_eq(category_name(CCAT(CC_VIRUS, 3)), "Virus");
	ck_assert_str_eq(category_name(CCAT(CC_MAJORS, 0)), "CatchAll");
	ck_assert_str_eq(category_name(CCAT(200, 1)), "CatchAll");
}
END_TEST

static Suite *category_suite(void)
{
	Suite *s = suite_create("category");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_major_numbers);
	tcase_add_test(tc, test_ccat_packing);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_scoreboard_agrees);
	tcase_add_test(tc, test_display_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(category_suite());
}
