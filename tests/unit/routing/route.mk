# unit tests of routing/route.c and of TLS in routing/deliver_smtp.c
# (TAP via tests/unit/check_tap.h)
if HAVE_CHECK
check_PROGRAMS += tests/unit/routing/test_route
TESTS += tests/unit/routing/test_route
tests_unit_routing_test_route_SOURCES = tests/unit/routing/test_route.c
tests_unit_routing_test_route_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_route_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)

check_PROGRAMS += tests/unit/routing/test_deliver_tls
TESTS += tests/unit/routing/test_deliver_tls
tests_unit_routing_test_deliver_tls_SOURCES = tests/unit/routing/test_deliver_tls.c
tests_unit_routing_test_deliver_tls_CFLAGS = $(UNIT_CFLAGS)
tests_unit_routing_test_deliver_tls_LDADD = routing/libtgrouting.a lib/libtgbase.a $(UNIT_LIBS)
endif
