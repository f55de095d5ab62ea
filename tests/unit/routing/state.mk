# unit tests of the shared state in Redis (routing/state.h), against a
# private redis-server (skipped when redis-server is not installed)
if HAVE_CHECK
check_PROGRAMS += tests/unit/routing/test_state
TESTS += tests/unit/routing/test_state
tests_unit_routing_test_state_SOURCES = tests/unit/routing/test_state.c
tests_unit_routing_test_state_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_state_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)
endif
