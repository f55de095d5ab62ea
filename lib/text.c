/*
 * text.c - hex digits and "%XX"-style escapes for the parsers of peer
 * data (see text.h). Each parser keeps its own rules for what an escape
 * may decode to (xtext refuses controls, quoted-printable works line by
 * line); what they share is here.
 */
#include "config.h"

#include "lib/text.h"

/* text_hex_value - value of an upper- or lower-case hex digit, or -1 */
int text_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* text_hex_pair - the byte two hex digits stand for, or -1; p[1] is
 * read only when p[0] is a digit */
int text_hex_pair(const char *p)
{
	int hi = text_hex_value((unsigned char)p[0]), lo;

	if (hi < 0 || (lo = text_hex_value((unsigned char)p[1])) < 0)
		return -1;
	return hi << 4 | lo;
}

/* text_unescape_hex - esc XX decoded, everything else copied (text.h) */
size_t text_unescape_hex(const char *in, size_t n, char esc, char *out, int *bad_r)
{
	size_t i, o = 0;
	int v;

	for (i = 0; i < n; i++) {
		if (in[i] == esc && i + 2 < n && (v = text_hex_pair(in + i + 1)) >= 0) {
			out[o++] = (char)v;
			i += 2;
		} else {
			if (in[i] == esc && bad_r != NULL)
				*bad_r = 1;
			out[o++] = in[i];
		}
	}
	return o;
}
