/*
 * fuzz_smtp_cmd.c - libFuzzer target for workers/smtp_cmd.c: the input
 * is cut at LF into command lines (as the server's reader does, one CR
 * before the LF dropped) and each line is parsed; the whole input is
 * also parsed as one line, so the length limit is hit too. Checked on
 * every parse: an error has a one-line reply starting with a 3-digit
 * code, and every string a success yields lies inside cmd.buf.
 *
 * Run with tests/fuzz/run smtp_cmd (built by automake: configure
 * --enable-fuzzers; corpus tests/fuzz/corpus/smtp_cmd/, dictionary
 * tests/fuzz/smtp_cmd.dict).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smtp_cmd cmd;

/* inside - s is a NUL-terminated string within cmd.buf (or a literal "") */
static void inside(const char *s)
{
	if (s == NULL || *s == 0)
		return;
	if (s < cmd.buf || s >= cmd.buf + sizeof(cmd.buf))
		abort();
	if (memchr(s, 0, (size_t)(cmd.buf + sizeof(cmd.buf) - s)) == NULL)
		abort();
}

/* one - parse one line and check what came out */
static void one(const char *line, size_t len)
{
	const char *err = NULL;
	int rc = smtp_cmd_parse(&cmd, line, len, &err);
	unsigned st;
	int i;

	if (rc < 0) {
		if (err == NULL || cmd.err == SMTP_ERR_NONE)
			abort();
		if (err[0] < '2' || err[0] > '5' || err[1] < '0' || err[1] > '9' || err[2] < '0' ||
		    err[2] > '9' || err[3] != ' ' || strpbrk(err, "\r\n") != NULL || strlen(err) > 200)
			abort();
	} else {
		if (rc != 0 || cmd.info == NULL || cmd.verb == SMTP_VERB_NONE)
			abort();
		inside(cmd.arg);
		inside(cmd.helo);
		inside(cmd.addr);
		inside(cmd.envid);
		inside(cmd.orcpt);
		for (i = 0; i < SMTP_XF_COUNT; i++)
			inside(cmd.xf[i]);
		if (cmd.addr && strlen(cmd.addr) > SMTP_ADDR_MAX)
			abort();
		if (cmd.helo && strlen(cmd.helo) > SMTP_HELO_MAX)
			abort();
	}
	for (st = SMTP_ST_INIT; st <= SMTP_ST_BDAT; st <<= 1) {
		const char *r = NULL;

		if (smtp_cmd_check_state(cmd.verb, st, &r) < 0 && (r == NULL || r[0] != '5'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char out[512];

	one(p, size);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > 0 && p[len - 1] == '\r')
			len--;
		one(p, len);
		p = nl ? nl + 1 : end;
	}
	if (smtp_xtext_decode((const char *)data, size, out, sizeof(out)) == 0 && strlen(out) >= sizeof(out))
		abort();
	(void)smtp_xtext_valid((const char *)data, size);
	return 0;
}
