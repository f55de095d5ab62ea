# unit tests of the lookup tables and maps (routing/table.h)
if HAVE_CHECK
check_PROGRAMS += tests/unit/routing/test_table
TESTS += tests/unit/routing/test_table
tests_unit_routing_test_table_SOURCES = tests/unit/routing/test_table.c
tests_unit_routing_test_table_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_table_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)
endif
