/*
 * mime_decode.c - transfer decoding of part bodies on demand: base64 and
 * quoted-printable into the arena, 7bit / 8bit / binary as a window on
 * the message buffer. Output is cut at a byte limit; nothing is sized
 * from what the message claims.
 *
 * Deliberately left out: charset conversion of bodies (scanners want
 * bytes), uuencode and BinHex inside text parts, and decoding of
 * multiparts that were transfer-encoded against RFC 2046 (flagged by the
 * parser, decoded here as a leaf if a scanner asks).
 *
 * Both decoders are lenient the way mail clients are: they skip what they
 * cannot read, flag it, and go on.
 */
#include "config.h"

#include <string.h>

#include "lib/mem.h"
#include "lib/text.h"
#include "scanners/mime_private.h"

/* base64 alphabet as value + 1, so that 0 (the default) means invalid */
#define B64_SPACE   65
#define B64_PAD     66

static const unsigned char b64_tab[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
	[' '] = B64_SPACE, ['\t'] = B64_SPACE, ['\r'] = B64_SPACE, ['\n'] = B64_SPACE,
	['='] = B64_PAD,
};

/* mime_b64_decode - RFC 2045 6.8 base64. White space is skipped; other
 * bytes outside the alphabet, a quantum cut short, and data after the
 * padding are flagged (*bad_r) but decoding goes on, so that concatenated
 * or sloppily wrapped base64 still yields its bytes. */
size_t mime_b64_decode(const char *in, size_t n, char *out, size_t outmax,
    int *bad_r, int *trunc_r)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned long acc = 0;
	unsigned q = 0;		/* sextets in acc */
	int pad = 0;		/* padding seen, quantum finished */
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned v;

		/* fast path: a whole quantum of alphabet bytes (invalid ones
		 * wrap to huge values, so one OR tests all four) */
		if (q == 0 && !pad && n - i >= 4 && outmax - o >= 3) {
			unsigned a0 = b64_tab[s[i]] - 1u, a1 = b64_tab[s[i + 1]] - 1u;
			unsigned a2 = b64_tab[s[i + 2]] - 1u, a3 = b64_tab[s[i + 3]] - 1u;

			if ((a0 | a1 | a2 | a3) < 64) {
				unsigned long w = (a0 << 18) | (a1 << 12) | (a2 << 6) | a3;

				out[o++] = (char)(w >> 16);
				out[o++] = (char)(w >> 8);
				out[o++] = (char)w;
				i += 3;
				continue;
			}
		}
		v = b64_tab[s[i]];
		if (v - 1 < 64) {
			v--;
			if (pad) {
				*bad_r = 1;	/* data after padding */
				pad = 0;
			}
			acc = (acc << 6) | v;
			if (++q == 4) {
				if (outmax - o < 3) {
					/* fill up to the limit exactly, then stop */
					if (outmax - o >= 1)
						out[o++] = (char)(acc >> 16);
					if (outmax - o >= 1)
						out[o++] = (char)(acc >> 8);
					*trunc_r = 1;
					return o;
				}
				out[o++] = (char)(acc >> 16);
				out[o++] = (char)(acc >> 8);
				out[o++] = (char)acc;
				acc = 0;
				q = 0;
			}
			continue;
		}
		if (v == B64_SPACE)
			continue;
		if (v == B64_PAD) {
			if (pad)
				continue;
			/* flush a partial quantum: 2 sextets → 1 byte, 3 → 2 */
			if (q == 2 || q == 3) {
				size_t k = q - 1;

				acc <<= 6 * (4 - q);
				if (outmax - o < k) {
					if (outmax - o >= 1)
						out[o++] = (char)(acc >> 16);
					*trunc_r = 1;
					return o;
				}
				out[o++] = (char)(acc >> 16);
				if (k == 2)
					out[o++] = (char)(acc >> 8);
			} else {
				*bad_r = 1;
			}
			acc = 0;
			q = 0;
			pad = 1;
			continue;
		}
		*bad_r = 1;	/* not base64 */
	}
	if (q) {
		/* unpadded end: keep what the sextets hold */
		*bad_r = 1;
		if (q >= 2) {
			size_t k = q - 1;

			acc <<= 6 * (4 - q);
			if (outmax - o < k) {
				*trunc_r = 1;
				k = outmax - o;
			}
			if (k >= 1)
				out[o++] = (char)(acc >> 16);
			if (k >= 2)
				out[o++] = (char)(acc >> 8);
		}
	}
	return o;
}

/* mime_qp_decode - RFC 2045 6.7 quoted-printable, line by line: trailing
 * white space goes, "=" at the end is a soft break, =XX a byte; a "="
 * followed by anything else is kept as it is and flagged. Line ends are
 * written as they came (CRLF or LF). */
size_t mime_qp_decode(const char *in, size_t n, char *out, size_t outmax,
    int *bad_r, int *trunc_r)
{
	size_t pos = 0, o = 0;

	while (pos < n) {
		const char *nl = memchr(in + pos, '\n', n - pos);
		size_t lend = nl ? (size_t)(nl - in) : n;	/* at '\n' or n */
		size_t cend = lend, i, eol_len;
		int soft = 0;

		if (cend > pos && in[cend - 1] == '\r')
			cend--;
		eol_len = nl ? lend + 1 - cend : 0;
		while (cend > pos && (in[cend - 1] == ' ' || in[cend - 1] == '\t'))
			cend--;
		if (cend > pos && in[cend - 1] == '=') {
			soft = 1;
			cend--;
		}
		for (i = pos; i < cend; i++) {
			unsigned char ch = (unsigned char)in[i];
			int v;

			if (o == outmax) {
				*trunc_r = 1;
				return o;
			}
			if (ch == '=') {
				if (i + 2 < cend && (v = text_hex_pair(in + i + 1)) >= 0) {
					out[o++] = (char)v;
					i += 2;
					continue;
				}
				*bad_r = 1;
			}
			out[o++] = (char)ch;
		}
		if (!soft && eol_len) {
			if (outmax - o < eol_len) {
				*trunc_r = 1;
				return o;
			}
			memcpy(out + o, in + lend + 1 - eol_len, eol_len);
			o += eol_len;
		}
		pos = nl ? lend + 1 : n;
	}
	return o;
}

/* mime_part_decode - decode one body under the per-part and per-message limits */
int mime_part_decode(struct arena *a, struct mime_msg *msg, struct mime_part *part,
    size_t limit, const char **out_r, size_t *len_r, uint32_t *findings_r)
{
	const char *in = msg->data + part->body_offset;
	size_t n = part->body_len, cap, o;
	int bad = 0, trunc = 0;
	uint32_t before = part->findings;
	char *out;

	if (limit == 0 || limit > msg->limits.max_decoded_size)
		limit = msg->limits.max_decoded_size;
	if (msg->limits.max_decoded_total) {
		size_t left = msg->limits.max_decoded_total > msg->decoded_total ?
		    msg->limits.max_decoded_total - msg->decoded_total : 0;

		if (limit > left)
			limit = left;
	}

	switch (part->cte) {
	case MIME_CTE_BASE64:
		cap = n / 4 * 3 + 3;
		if (cap > limit)
			cap = limit;
		out = arena_alloc(a, cap + 1);
		o = mime_b64_decode(in, n, out, cap, &bad, &trunc);
		if (bad)
			mime_finding(msg, part, MIME_F_BAD_BASE64,
			    "part %u: invalid base64", part->index);
		break;
	case MIME_CTE_QP:
		cap = n < limit ? n : limit;
		out = arena_alloc(a, cap + 1);
		o = mime_qp_decode(in, n, out, cap, &bad, &trunc);
		if (bad)
			mime_finding(msg, part, MIME_F_BAD_QP,
			    "part %u: invalid quoted-printable", part->index);
		break;
	default:
		/* identity: a window on the message buffer, no copy; cut at
		 * the limit (the caller then sees a NUL-terminated copy) */
		if (n > limit) {
			out = arena_alloc(a, limit + 1);
			memcpy(out, in, limit);
			o = limit;
			trunc = 1;
		} else {
			*out_r = in;
			*len_r = n;
			msg->decoded_total += n;
			if (findings_r)
				*findings_r |= part->findings & ~before;
			return 0;
		}
		break;
	}
	out[o] = 0;
	*out_r = out;
	*len_r = o;
	msg->decoded_total += o;
	if (trunc)
		mime_finding(msg, part, MIME_F_DECODED_LIMIT,
		    "part %u: decoded body cut at %zu bytes", part->index, limit);
	if (findings_r)
		*findings_r |= part->findings & ~before;
	return trunc ? 1 : 0;
}
