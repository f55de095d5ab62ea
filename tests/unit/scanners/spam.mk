# unit tests of scanners/spam_spamd.c and spam_rspamd.c (fake daemons on
# loopback; with TG_SPAMD_ADDRESS set, also against a real spamd: t_spamd.sh)
if HAVE_CHECK
check_PROGRAMS += tests/unit/scanners/test_spam
TESTS += tests/unit/scanners/test_spam
tests_unit_scanners_test_spam_SOURCES = tests/unit/scanners/test_spam.c
tests_unit_scanners_test_spam_CFLAGS = $(UNIT_CFLAGS)
tests_unit_scanners_test_spam_LDADD = scanners/libtgspam.a lib/libtgbase.a $(UNIT_LIBS)
endif
