# per-recipient routing: forward method and TLS policy (routing/route.h)
routing_libtgrouting_a_SOURCES += routing/route.h routing/route.c
