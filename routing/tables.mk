# Lookup tables and maps (routing/table.h): the type registry, one file
# per table type, and the ordered maps search.
routing_libtgrouting_a_SOURCES += routing/table.h routing/table_private.h \
	routing/table.c routing/table_inline.c routing/table_texthash.c \
	routing/table_regexp.c routing/table_pcre.c routing/table_cidr.c \
	routing/table_redis.c routing/maps.c
