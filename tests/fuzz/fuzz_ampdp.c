/*
 * fuzz_ampdp.c - libFuzzer target for workers/ampdp_proto.c: the input
 * is one AM.PDP byte stream, parsed once in one piece and once in
 * pieces whose sizes come from the input itself; both parses must give
 * the same requests. Checked on every request: attribute and recipient
 * counts within the (small) limits, names without NUL/CR/LF, values
 * NUL-terminated at value_len, and the first attribute is "request"
 * unless the request carries an error. Every value is also written back
 * with ampdp_put() and must parse to the same value.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "workers/ampdp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXREQ 64

static const struct ampdp_limits lim = { 200, 40, 10, 4000 };

/* a digest of the requests of one parse, to compare two parses */
struct sums {
	size_t n;
	unsigned long h[MAXREQ];
};

/* hash - FNV-1a over len bytes */
static unsigned long hash(unsigned long h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--)
		h = (h ^ *c++) * 1099511628211UL;
	return h;
}

/* check - the invariants of one request; its digest */
static unsigned long check(const struct ampdp_request *r)
{
	unsigned long h = 14695981039346656037UL;
	size_t i, nr = 0;

	if (r->nattrs > lim.attrs_max || r->nrcpts > lim.rcpts_max)
		abort();
	if (r->error == NULL && (r->nattrs == 0 || strcmp(r->attrs[0].name, "request") != 0))
		abort();
	for (i = 0; i < r->nattrs; i++) {
		const struct ampdp_attr *a = &r->attrs[i];

		if (strpbrk(a->name, "\r\n") || a->value[a->value_len] != 0 || a->value_len > lim.line_max)
			abort();
		if (strcmp(a->name, "recipient") == 0)
			nr++;
		h = hash(h, a->name, strlen(a->name) + 1);
		h = hash(h, a->value, a->value_len + 1);
		if (!a->unsafe) {
			struct buf b = BUF_INIT;
			char *out;
			size_t n;

			ampdp_put1(&b, "v", a->value);
			if (b.len < 4 || memcmp(b.data, "v=", 2) != 0 || memchr(b.data, ' ', b.len))
				abort();
			out = malloc(b.len);
			n = ampdp_decode(b.data + 2, b.len - 4, out);
			if (n != a->value_len || memcmp(out, a->value, n) != 0)
				abort();
			free(out);
			buf_free(&b);
		}
	}
	if (nr != r->nrcpts)
		abort();
	h = hash(h, r->error ? r->error : "-", strlen(r->error ? r->error : "-"));
	return hash(h, &r->ignored_lines, sizeof(r->ignored_lines));
}

/* run - parse data in pieces (step 0: one piece; else sizes from seed) */
static void run(const uint8_t *data, size_t size, size_t step, struct sums *s)
{
	struct ampdp_parser *p = ampdp_parser_create(&lim);
	size_t off = 0, k = 0;

	s->n = 0;
	while (off < size) {
		size_t n = step ? 1 + (data[k++ % size] % step) : size;
		size_t used = 0;

		if (n > size - off)
			n = size - off;
		while (n > 0) {
			if (ampdp_parser_feed(p, (const char *)data + off, n, &used) == AMPDP_REQUEST) {
				if (s->n < MAXREQ)
					s->h[s->n] = check(ampdp_parser_request(p));
				s->n++;
			}
			if (used == 0 || used > n)
				abort();
			off += used;
			n -= used;
		}
	}
	ampdp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sums one, many;
	size_t i;
	char code[4], enh[16];
	const char *text;
	char *z;

	run(data, size, 0, &one);
	run(data, size, 13, &many);
	if (one.n != many.n)
		abort();
	for (i = 0; i < one.n && i < MAXREQ; i++)
		if (one.h[i] != many.h[i])
			abort();
	z = malloc(size + 1);
	memcpy(z, data, size);
	z[size] = 0;
	ampdp_split_reply(z, code, enh, &text);
	if (strlen(code) != 3 || strlen(enh) < 5 || ((text < z || text > z + size) && *text != 0))
		abort();
	free(z);
	return 0;
}
