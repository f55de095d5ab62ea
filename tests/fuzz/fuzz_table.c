/*
 * fuzz_table.c - libFuzzer target for the table parsers (lib/tables/table_*.c)
 * and maps: the first byte picks texthash, regexp, pcre, cidr (parsed from
 * memory with table_open_text) or an inline:{...} list opened through
 * maps_create; the rest is the table text. Any bytes must give a table or
 * a "file:line: reason" error, never a crash, hang or leak; a table that
 * opens is then asked a few keys, some taken from the input itself.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tables/table.h"
#include "lib/tables/table_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
	"user+ext@sub.example.com", "User@Example.COM", "192.0.2.1", "2001:db8::1", "a", "", ".",
	"@example.com", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "texthash", "regexp", "pcre", "cidr" };
	static struct arena *a;
	const char *v, *err = NULL, *text = (const char *)data + 1;
	size_t len, i;
	char *first;
	unsigned sel;

	if (size < 1 || size > 4096)
		return 0;
	if (a == NULL) {
		log_open("fuzz", 1, NULL);
		a = arena_create(0);
	}
	sel = data[0] % 5;
	len = size - 1;
	/* a key from the input: its first line */
	first = strndup(text, len);
	first[strcspn(first, "\n")] = 0;
	if (sel < 4) {
		struct table *t = NULL;

		if (table_open_text(&t, types[sel], "fuzz", text, len, &err) == 0) {
			for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				(void)table_lookup(t, keys[i], a, &v, &err);
			(void)table_lookup(t, first, a, &v, &err);
			table_close(&t);
		}
	} else {
		struct maps *m = NULL;
		char *spec = malloc(len + 8);

		memcpy(spec, "inline:", 7);
		memcpy(spec + 7, text, len);
		spec[len + 7] = 0;
		table_generation_next();
		if (maps_create(&m, "fuzz", spec, NULL, 0, &err) == 0) {
			for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				(void)maps_lookup_addr(m, keys[i], "+-", a, &v, NULL, &err);
			(void)maps_lookup(m, first, a, &v, &err);
			(void)maps_lookup_addr(m, first, "+", a, &v, NULL, &err);
			maps_free(&m);
		}
		free(spec);
	}
	free(first);
	arena_reset(a);
	return 0;
}
