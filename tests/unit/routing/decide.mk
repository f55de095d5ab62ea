# unit tests of routing/decide.c, notify.c, quarantine.c (TAP via tests/unit/check_tap.h)
if HAVE_CHECK
check_PROGRAMS += tests/unit/routing/test_decide
TESTS += tests/unit/routing/test_decide
tests_unit_routing_test_decide_SOURCES = tests/unit/routing/test_decide.c
tests_unit_routing_test_decide_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_decide_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)

check_PROGRAMS += tests/unit/routing/test_notify
TESTS += tests/unit/routing/test_notify
tests_unit_routing_test_notify_SOURCES = tests/unit/routing/test_notify.c
tests_unit_routing_test_notify_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_notify_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)
endif
