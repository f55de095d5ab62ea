# MIME parser: message tree, header fields, transfer decoding (scanners/mime.h)
noinst_LIBRARIES += scanners/libtgmime.a
scanners_libtgmime_a_SOURCES = scanners/mime.h scanners/mime_private.h \
	scanners/mime.c scanners/mime_header.c scanners/mime_decode.c
SCANNER_LIBS_A += scanners/libtgmime.a
