/*
 * fuzz_cfg.c - libFuzzer target for the configuration parser
 * (lib/cfg.c): any bytes must give a config or an error, never a crash,
 * a hang or a leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cfg.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *cfg = NULL;
	const char *err = NULL;
	char *text;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;	/* the file reader refuses NULs; the string API sees up to one */
	log_open("fuzz", 1, NULL);
	if (cfg_load_string(&cfg, text, "fuzz.conf", &err) == 0) {
		int n;

		(void)cfg_list(cfg, P_LISTEN, &n);
		(void)cfg_str(cfg, P_FORWARD_METHOD);
		cfg_free(&cfg);
	}
	free(text);
	return 0;
}
