/*
 * fuzz_release.c - libFuzzer target for the parsers of the quarantine
 * release (policy/release.c): the first input byte picks
 *   even: a quarantined file - release_envelope() reads its envelope
 *         lines (folded, CR LF or LF, any bytes), then release_spool()
 *         makes the CR LF spool of the rest;
 *   odd:  the quarantine index - the rest is written as dir/index and
 *         read back by release_index_list() and release_index_find().
 * Checked: the envelope ends at a line boundary or at the end, its
 * address lists have no NULL below their counts; the spool holds the
 * rest of the file with every bare LF made CR LF; every index entry is
 * complete (no NULL field or recipient) and within since, newest first.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "policy/release.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], idx_path[96];

/* cleanup - remove the index and its directory at exit */
static void cleanup(void)
{
	(void)unlink(idx_path);
	(void)rmdir(dir);
}

/* check_list - n non-NULL strings */
static void check_list(const char *const *l, size_t n)
{
	size_t i;

	if (n > 0 && l == NULL)
		abort();
	for (i = 0; i < n; i++)
		if (l[i] == NULL)
			abort();
}

/* check_entry - a complete index entry */
static void check_entry(const struct release_index *e)
{
	if (e->mail_id == NULL || e->secret_id == NULL || e->category == NULL || e->sender == NULL ||
	    e->path == NULL)
		abort();
	check_list(e->rcpts, e->nrcpts);
}

/* envelope - a quarantined file */
static void envelope(struct arena *a, const char *p, size_t len)
{
	struct release_env env;
	struct message msg;
	const char *why = NULL, *sp;
	size_t i, want, got;

	release_envelope(a, p, len, &env);
	if (env.skip > len || (env.skip > 0 && env.skip < len && p[env.skip - 1] != '\n'))
		abort();
	check_list(env.all, env.nall);
	check_list(env.blocked, env.nblocked);
	memset(&msg, 0, sizeof(msg));
	msg.arena = a;
	if (release_spool(&msg, "/tmp", 1 << 20, p, len, env.skip, &why) < 0)
		abort();		/* all in memory: nothing can fail */
	want = len - env.skip;
	for (i = env.skip; i < len; i++)
		if (p[i] == '\n' && (i == env.skip || p[i - 1] != '\r'))
			want++;
	sp = spool_data(msg.spool, &got);
	if (got != want || (got > 0 && sp == NULL))
		abort();
}

/* index - the quarantine index */
static void index_file(struct arena *a, const char *p, size_t len)
{
	struct release_index *list, e;
	const char *why = NULL;
	size_t n = 0, i;
	int fd, rc;

	fd = open(idx_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len || close(fd) < 0)
		abort();
	if (release_index_list(a, dir, 0, &list, &n, &why) < 0)
		abort();
	for (i = 0; i < n; i++)
		check_entry(&list[i]);
	if (release_index_list(a, dir, 1700000000, &list, &n, &why) < 0)
		abort();
	for (i = 0; i < n; i++) {
		check_entry(&list[i]);
		if (list[i].time < 1700000000)
			abort();
	}
	rc = release_index_find(a, dir, "AbCdEfGhIjKl", "/var/lib/q/virus-ZZZZZZZZZZZZ", &e, &why);
	if (rc < 0 || rc > 1)
		abort();
	if (rc == 1)
		check_entry(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct arena *a;
	char *copy;

	if (size < 1 || size > 65536)
		return 0;
	if (!ready) {
		log_open("fuzz", 1, NULL);
		strlcpy(dir, "/tmp/tg-fuzz-release-XXXXXX", sizeof(dir));
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(idx_path, sizeof(idx_path), "%s/index", dir);
		atexit(cleanup);
		ready = 1;
	}
	a = arena_create(0);
	/* an exact-size heap copy: reads past the end are caught */
	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		index_file(a, copy, size - 1);
	else
		envelope(a, copy, size - 1);
	free(copy);
	arena_free(&a);
	return 0;
}
