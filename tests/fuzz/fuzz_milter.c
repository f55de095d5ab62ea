/*
 * fuzz_milter.c - libFuzzer target for workers/milter_proto.c: the input
 * is a byte stream from the MTA, pushed into the reader in pieces whose
 * sizes the first input byte chooses (so split points vary); each
 * packet is decoded and, when it decodes, checked: every string lies
 * inside the packet and is NUL-terminated there, counts within the
 * limits. The text helpers get the same bytes: CRLF normalisation
 * (no bare LF may come out), the header line and the reply builder
 * (a well-formed 4xx/5xx packet).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "workers/milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* inside - s is a NUL-terminated string within p */
static void inside(const struct milter_packet *p, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (s == NULL)
		return;
	if (u < p->data || u >= p->data + p->len || memchr(u, 0, (size_t)(p->data + p->len - u)) == NULL)
		abort();
}

/* check - a decoded packet keeps to its contract */
static void check(const struct milter_packet *p)
{
	struct milter_cmd c;
	const char *err = NULL;
	size_t i;

	if (milter_decode(p, &c, &err) < 0) {
		if (err == NULL)
			abort();
		return;
	}
	if (c.nargs > MILTER_ARGS_MAX || c.nmacros > MILTER_MACROS_MAX || c.body_len > MILTER_BODY_MAX)
		abort();
	inside(p, c.hostname);
	inside(p, c.address);
	inside(p, c.text);
	inside(p, c.name);
	inside(p, c.value);
	for (i = 0; i < c.nargs; i++)
		inside(p, c.args[i]);
	for (i = 0; i < c.nmacros; i++) {
		inside(p, c.macro_name[i]);
		inside(p, c.macro_value[i]);
	}
	if (c.cmd == SMFIC_MAIL && c.nargs == 0)
		abort();
	(void)milter_reply_expected(c.cmd, c.protocol);
}

/* text - the helpers on arbitrary text */
static void text(const uint8_t *data, size_t size)
{
	struct milter_crlf st = { 0 };
	struct buf b = BUF_INIT;
	char *s = malloc(size + 1);
	size_t i;

	milter_crlf(&st, &b, data, size / 2);
	milter_crlf(&st, &b, data + size / 2, size - size / 2);
	for (i = 0; i < b.len; i++)
		if (b.data[i] == '\n' && (i == 0 || b.data[i - 1] != '\r'))
			abort();
	buf_reset(&b);
	memcpy(s, data, size);
	s[size] = 0;
	milter_put_replycode(&b, s, '5');
	if (b.len < 10 || (b.data[5] != '4' && b.data[5] != '5') || b.data[9] != b.data[5] ||
	    b.data[b.len - 1] != 0 || memchr(b.data + 5, '\n', b.len - 5) || b.len > MILTER_REPLY_MAX + 16)
		abort();
	buf_reset(&b);
	milter_header_line(&b, "X-Fuzz", s, size & 1);
	buf_reset(&b);
	milter_fold_value(&b, "X-Fuzz", s, size & 1);
	buf_free(&b);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_reader r;
	size_t piece, off = 0;

	if (size == 0)
		return 0;
	piece = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	milter_reader_init(&r);
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece, coff = 0;

		while (coff < n) {
			struct milter_packet p;
			const char *err = NULL;
			size_t used = 0;
			int rc = milter_reader_push(&r, data + off + coff, n - coff, &used, &p, &err);

			if (rc < 0)
				goto done;
			if (used > n - coff || (rc == 0 && used != n - coff))
				abort();
			coff += used;
			if (rc == 1) {
				if (p.len + 1 > MILTER_PACKET_MAX)
					abort();
				check(&p);
			}
		}
		off += n;
		piece = piece * 3 % 4099 + 1;
	}
done:
	milter_reader_free(&r);
	text(data, size);
	return 0;
}
