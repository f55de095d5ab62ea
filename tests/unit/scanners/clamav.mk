# unit tests of scanners/scan_clamav.c (need clamav's sigtool, python3;
# clamav-testfiles for the test-file cases)
if HAVE_CHECK
check_PROGRAMS += tests/unit/scanners/test_clamav
TESTS += tests/unit/scanners/test_clamav
tests_unit_scanners_test_clamav_SOURCES = tests/unit/scanners/test_clamav.c
tests_unit_scanners_test_clamav_CFLAGS = $(UNIT_CFLAGS)
tests_unit_scanners_test_clamav_LDADD = scanners/libtgclamav.a scanners/libtgmime.a lib/libtgbase.a $(UNIT_LIBS)
endif
