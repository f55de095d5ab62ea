/*
 * test_content.c - scanners/banned.c and badheader.c: banned names and
 * types against the default and custom rules, the items a message
 * offers the check, bad headers from MIME findings, and both checks
 * behind the scanner interface (scanners.h).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/category.h"
#include "lib/mem.h"
#include "scanners/content.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"
#include "tests/unit/check_tap.h"

static struct arena *arena;

static void setup(void)
{
	arena = arena_create(0);
}

static void teardown(void)
{
	arena_free(&arena);
}

START_TEST(test_banned_patterns)
{
	struct banned_re *re = NULL;
	const char *err;
	size_t n = 0;
	struct banned_item items[4];

	while (banned_default[n])
		n++;
	ck_assert_int_eq(banned_compile(banned_default, n, &re, &err), 0);
	/* clean names pass */
	items[0] = (struct banned_item){ "report.pdf", "CL_TYPE_PDF", "application/pdf" };
	items[1] = (struct banned_item){ "photo.jpg", NULL, "image/jpeg" };
	items[2] = (struct banned_item){ "notes.txt", "CL_TYPE_TEXT_ASCII", NULL };
	items[3] = (struct banned_item){ "archive.zip", "CL_TYPE_ZIP", "application/zip" };
	ck_assert_ptr_null(banned_check(arena, items, 4, re));
	/* double extension */
	items[0] = (struct banned_item){ "invoice.pdf.exe", NULL, NULL };
	ck_assert_str_eq(banned_check(arena, items, 1, re), "invoice.pdf.exe");
	items[0] = (struct banned_item){ "Invoice.PDF.scr.", NULL, "application/octet-stream" };
	ck_assert_str_eq(banned_check(arena, items, 1, re), "application/octet-stream,Invoice.PDF.scr.");
	/* an .exe inside a zip, as the scanner lists it */
	items[0] = (struct banned_item){ "archive.zip", "CL_TYPE_ZIP", NULL };
	items[1] = (struct banned_item){ "x.exe", "CL_TYPE_MSEXE", NULL };
	ck_assert_str_eq(banned_check(arena, items, 2, re), ".exe,.exe-ms,x.exe");
	/* by content type alone, whatever the name */
	items[0] = (struct banned_item){ "harmless.txt", "CL_TYPE_MSEXE", NULL };
	ck_assert_str_eq(banned_check(arena, items, 1, re), ".exe,.exe-ms,harmless.txt");
	items[0] = (struct banned_item){ NULL, "CL_TYPE_ELF", NULL };
	ck_assert_str_eq(banned_check(arena, items, 1, re), ".elf");
	/* MIME type, CLSID, script extensions */
	items[0] = (struct banned_item){ "setup", NULL, "application/x-msdownload" };
	ck_assert_str_eq(banned_check(arena, items, 1, re), "application/x-msdownload,setup");
	items[0] = (struct banned_item){ "doc.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}", NULL, NULL };
	ck_assert_ptr_nonnull(banned_check(arena, items, 1, re));
	items[0] = (struct banned_item){ "run.JS", NULL, NULL };
	ck_assert_ptr_nonnull(banned_check(arena, items, 1, re));
	items[0] = (struct banned_item){ ".exe", NULL, NULL };	/* nothing before the dot */
	ck_assert_ptr_null(banned_check(arena, items, 1, re));
	banned_free(&re);
	ck_assert_ptr_null(re);

	/* an allow rule first exempts; a bad pattern is an error */
	{
		const char *pats[] = { "!^\\.exe-ms$", "\\.exe$" };

		ck_assert_int_eq(banned_compile(pats, 2, &re, &err), 0);
		items[0] = (struct banned_item){ "ok.exe", "CL_TYPE_MSEXE", NULL };
		ck_assert_ptr_null(banned_check(arena, items, 1, re));
		items[0] = (struct banned_item){ "bad.exe", NULL, NULL };
		ck_assert_str_eq(banned_check(arena, items, 1, re), "bad.exe");
		banned_free(&re);
		pats[1] = "a(b";
		ck_assert_int_eq(banned_compile(pats, 2, &re, &err), -1);
		ck_assert_ptr_nonnull(strstr(err, "a(b"));
	}
}
END_TEST

START_TEST(test_banned_items)
{
	struct scan_verdict v;
	struct scan_file files[2] = { { "a.zip", "CL_TYPE_ZIP", 1, 10 }, { "x.exe", "CL_TYPE_MSEXE", 2, 5 } };
	struct mime_part root, text, att;
	struct mime_part *parts[3] = { &root, &text, &att };
	struct mime_msg m;
	struct banned_item *it;

	memset(&v, 0, sizeof(v));
	v.files = files;
	v.n_files = 2;
	memset(&root, 0, sizeof(root));
	memset(&text, 0, sizeof(text));
	memset(&att, 0, sizeof(att));
	root.children = &text;
	text.type = "text";
	text.subtype = "plain";
	att.type = "application";
	att.subtype = "zip";
	att.filename = "a.zip";
	memset(&m, 0, sizeof(m));
	m.root = &root;
	m.parts = parts;
	m.nparts = 3;
	ck_assert_uint_eq(banned_items(arena, &v, 1, &m, &it), 3);
	ck_assert_str_eq(it[1].name, "x.exe");
	ck_assert_str_eq(it[1].type, "CL_TYPE_MSEXE");
	ck_assert_str_eq(it[2].mime_type, "application/zip");
	ck_assert_uint_eq(banned_items(arena, NULL, 0, NULL, &it), 0);
}
END_TEST

START_TEST(test_badh_from_mime)
{
	struct mime_msg m;
	unsigned kind;
	const char *text;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(badh_from_mime(arena, &m, &kind, &text), 0);
	m.findings = MIME_FBIT(MIME_F_8BIT_HEADER) | MIME_FBIT(MIME_F_MISSING_HEADER) | MIME_FBIT(MIME_F_DEPTH_LIMIT);
	m.detail[MIME_F_MISSING_HEADER] = "no Date header field";
	ck_assert_int_eq(badh_from_mime(arena, &m, &kind, &text), 1);
	ck_assert_uint_eq(kind, CC_BADH_MISSING);
	ck_assert_str_eq(text, "Missing required header field: no Date header field");
	m.findings = MIME_FBIT(MIME_F_NUL);
	m.detail[MIME_F_NUL] = "part 1: NUL byte in body";
	ck_assert_int_eq(badh_from_mime(arena, &m, &kind, &text), 1);
	ck_assert_uint_eq(kind, CC_BADH_MIME);
	m.detail[MIME_F_NUL] = "part 0: NUL byte in header";
	badh_from_mime(arena, &m, &kind, &text);
	ck_assert_uint_eq(kind, CC_BADH_CHAR);
	m.findings = MIME_FBIT(MIME_F_BAD_BASE64) | MIME_FBIT(MIME_F_UNKNOWN_CHARSET) | MIME_FBIT(MIME_F_PARTS_LIMIT);
	ck_assert_int_eq(badh_from_mime(arena, &m, &kind, &text), 0);
	m.findings = MIME_FBIT(MIME_F_DUPLICATE_HEADER) | MIME_FBIT(MIME_F_LONG_HEADER_LINE);
	badh_from_mime(arena, &m, &kind, &text);
	ck_assert_uint_eq(kind, CC_BADH_DUPL);
	ck_assert_str_eq(text, "Duplicate header field");
}
END_TEST

START_TEST(test_scanners)
{
	struct banned_re *re = NULL;
	struct scanner s;
	struct scan_verdict v[2];
	struct scan_file files[1] = { { "x.exe", "CL_TYPE_MSEXE", 2, 5 } };
	struct scan_input in;
	struct mime_msg m;
	const char *err;
	size_t n = 0;

	memset(&m, 0, sizeof(m));
	memset(&in, 0, sizeof(in));
	in.arena = arena;
	/* bad header: CLEAN without a tree or a finding, BAD_HEADER with one */
	badh_scanner(&s);
	ck_assert_str_eq(s.name, "badh");
	ck_assert_int_eq(scanner_scan(&s, &in, &v[0]), 0);
	ck_assert_int_eq(v[0].status, SCAN_CLEAN);
	in.mime = &m;
	m.findings = MIME_FBIT(MIME_F_8BIT_HEADER);
	ck_assert_int_eq(scanner_scan(&s, &in, &v[0]), 0);
	ck_assert_int_eq(v[0].status, SCAN_BAD_HEADER);
	ck_assert_uint_eq(v[0].kind, CC_BADH_8BIT);
	ck_assert_str_eq(v[0].reason, "Non-encoded 8-bit data");
	ck_assert_str_eq(scan_status_name(v[0].status), "BAD-HEADER");
	/* banned: the files an earlier scanner met count */
	while (banned_default[n])
		n++;
	ck_assert_int_eq(banned_compile(banned_default, n, &re, &err), 0);
	banned_scanner(re, &s);
	ck_assert_str_eq(s.name, "banned");
	m.findings = 0;
	ck_assert_int_eq(scanner_scan(&s, &in, &v[1]), 0);
	ck_assert_int_eq(v[1].status, SCAN_CLEAN);
	ck_assert_ptr_null(v[1].reason);
	memset(&v[0], 0, sizeof(v[0]));
	v[0].files = files;
	v[0].n_files = 1;
	in.earlier = v;
	in.n_earlier = 1;
	ck_assert_int_eq(scanner_scan(&s, &in, &v[1]), 0);
	ck_assert_int_eq(v[1].status, SCAN_BANNED);
	ck_assert_str_eq(v[1].reason, ".exe,.exe-ms,x.exe");
	ck_assert_str_eq(scan_status_name(v[1].status), "BANNED");
	banned_free(&re);
}
END_TEST

static Suite *content_suite(void)
{
	Suite *s = suite_create("content");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_banned_patterns);
	tcase_add_test(tc, test_banned_items);
	tcase_add_test(tc, test_badh_from_mime);
	tcase_add_test(tc, test_scanners);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(content_suite());
}
