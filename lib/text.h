/*
 * text.h - small text helpers the protocol parsers share: the value of
 * a hex digit, of a two-digit hex escape, and the decoding of "%XX"
 * style escapes (RFC 2231 parameters, AM.PDP attribute values).
 *
 * Nothing here allocates; every function reads only the bytes it is
 * given a length for (text_hex_pair reads its second byte only when the
 * first is a hex digit, so a NUL-terminated string is safe to pass).
 */
#ifndef TG_TEXT_H
#define TG_TEXT_H

#include <stddef.h>

/* text_hex_value - value of an upper- or lower-case hex digit, or -1 */
int text_hex_value(int c);
/* text_hex_pair - the byte p[0] p[1] stand for as two hex digits, or -1 */
int text_hex_pair(const char *p);
/*
 * text_unescape_hex - copy n bytes of in to out, each esc followed by
 * two hex digits decoded into the byte they stand for; an esc without
 * them is copied as it is and sets *bad_r (when bad_r is not NULL).
 * out must hold n bytes (the result is never longer); no NUL is added.
 * Returns the bytes written.
 */
size_t text_unescape_hex(const char *in, size_t n, char esc, char *out, int *bad_r);

#endif
