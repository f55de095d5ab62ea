/*
 * fuzz_mime.c - libFuzzer target for the MIME parser (scanners/mime.h):
 * parse with small limits, decode every part, look at every header and
 * parameter, RFC 2047-decode every header value. Any crash, sanitizer
 * report, hang or arena blow-up is a bug in the parser.
 *
 * Run with tests/fuzz/run mime (built by automake: configure
 * --enable-fuzzers; corpus tests/fuzz/corpus/mime/, dictionary
 * tests/fuzz/mime.dict).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "scanners/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* touch - read every byte, so ASan sees any out-of-bounds window */
static size_t touch(const char *s, size_t n)
{
	size_t i, sum = 0;

	for (i = 0; i < n; i++)
		sum += (unsigned char)s[i];
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct mime_limits lim = {
		.max_depth = 8, .max_parts = 64, .max_header_bytes = 4096,
		.max_headers = 64, .max_decoded_size = 8192, .max_decoded_total = 65536,
	};
	struct mime_msg *msg;
	const char *err;
	char *copy;
	unsigned i, f;
	volatile size_t sink = 0;

	if (a == NULL)
		a = arena_create(0);
	/* an exact-size heap copy: reads past the end are caught */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (mime_parse(a, copy, size, &lim, &msg, &err) < 0)
		abort();
	for (i = 0; i < msg->nparts; i++) {
		struct mime_part *p = msg->parts[i];
		const struct mime_header *h;
		const struct mime_param *mp;
		const char *out;
		size_t len;

		if (p->index != i || (p->parent && p->depth != p->parent->depth + 1) ||
		    p->depth > lim.max_depth || p->body_offset + p->body_len > size ||
		    p->offset + p->length > size)
			abort();
		for (h = p->headers; h; h = h->next) {
			sink += touch(h->raw, h->raw_len) + strlen(h->value);
			sink += strlen(mime_decode_words(a, h->value, h->value_len, NULL));
		}
		for (mp = p->params; mp; mp = mp->next)
			sink += strlen(mp->name) + strlen(mp->value);
		for (mp = p->disp_params; mp; mp = mp->next)
			sink += strlen(mp->name) + strlen(mp->value);
		if (p->filename)
			sink += strlen(p->filename);
		if ((h = mime_header_first(p, "received")) != NULL)
			while ((h = mime_header_next(h)) != NULL)
				sink++;
		if (mime_part_decode(a, msg, p, 0, &out, &len, NULL) < 0 ||
		    len > lim.max_decoded_size)
			abort();
		sink += touch(out, len);
	}
	if (msg->nparts > lim.max_parts)
		abort();
	for (f = 0; f < MIME_F_COUNT; f++)
		if (msg->detail[f])
			sink += strlen(msg->detail[f]);
	(void)sink;
	arena_reset(a);
	free(copy);
	return 0;
}
