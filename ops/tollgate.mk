# tollgate - the control tool (ops/tollgate.c); for now "tollgate map"
bin_PROGRAMS += tollgate
tollgate_SOURCES = ops/tollgate.c
tollgate_LDADD = routing/libtgrouting.a lib/libtgbase.a $(BASE_LIBS)
