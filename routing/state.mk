# Shared policy state in Redis (routing/state.h): counters, rate limits,
# pen pals, completed deliveries, the quarantine index.
routing_libtgrouting_a_SOURCES += routing/state.h routing/state.c
