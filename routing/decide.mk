# per-recipient decisions, notifications and the file quarantine (routing/decide.h)
routing_libtgrouting_a_SOURCES += routing/decide.h routing/decide.c routing/notify.c routing/quarantine.c
