/*
 * fuzz_spam_reply.c - libFuzzer target for the two spam reply parsers
 * (scanners/spam.h): every input is parsed as a spamd reply and as an
 * rspamd HTTP reply. Any crash, sanitizer report or hang is a bug; so
 * is a result that breaks the contract (scored without return 0, an
 * error without -1, strings over their limits or not printable).
 *
 * Run with tests/fuzz/run spam_reply (corpus tests/fuzz/corpus/spam_reply/,
 * dictionary tests/fuzz/spam_reply.dict).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "scanners/spam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_text - bounded, printable ASCII, or abort */
static void check_text(const char *s, size_t max)
{
	size_t i, n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (n > max)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

/* check_result - the contract of spam.h for one parse */
static void check_result(int rc, const struct spam_result *r)
{
	if (rc == 0 && r->error)
		abort();
	if (rc < 0 && (r->error == NULL || r->scored))
		abort();
	if (r->scored && r->tests == NULL)
		abort();
	check_text(r->tests, SPAM_TESTS_MAX);
	check_text(r->autolearn, SPAM_TEXT_MAX);
	check_text(r->action, SPAM_TEXT_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct spam_result r;
	char *copy;
	int rc;

	if (a == NULL)
		a = arena_create(0);
	/* an exact-size heap copy: reads past the end are caught */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	rc = spamd_reply_parse(copy, size, a, &r);
	check_result(rc, &r);
	rc = rspamd_reply_parse(copy, size, a, &r);
	check_result(rc, &r);
	arena_reset(a);
	free(copy);
	return 0;
}
