# ClamAV scanner (libclamav in-process; see scanners/scanners.h)
noinst_LIBRARIES += scanners/libtgclamav.a
scanners_libtgclamav_a_SOURCES = scanners/scanners.h scanners/scan_clamav.c
SCANNER_LIBS_A += scanners/libtgclamav.a
