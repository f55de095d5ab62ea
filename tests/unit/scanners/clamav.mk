# unit tests of scanners/scan_clamav.c (need python3 and clamav-testfiles;
# the database comes from tests/data/make-sigdb, found through $top_srcdir
# or the source tree of the build: TG_TOP_SRCDIR)
if HAVE_CHECK
check_PROGRAMS += tests/unit/scanners/test_clamav
TESTS += tests/unit/scanners/test_clamav
tests_unit_scanners_test_clamav_SOURCES = tests/unit/scanners/test_clamav.c
tests_unit_scanners_test_clamav_CFLAGS = $(UNIT_CFLAGS)
tests_unit_scanners_test_clamav_CPPFLAGS = $(AM_CPPFLAGS) -DTG_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_scanners_test_clamav_LDADD = scanners/libtgclamav.a scanners/libtgmime.a lib/libtgbase.a $(UNIT_LIBS)
endif
