# spam scoring clients: spamd (SPAMC/1.5) and rspamd (HTTP); see scanners/spam.h
noinst_LIBRARIES += scanners/libtgspam.a
scanners_libtgspam_a_SOURCES = scanners/spam.h scanners/spam_spamd.c scanners/spam_rspamd.c
SCANNER_LIBS_A += scanners/libtgspam.a
