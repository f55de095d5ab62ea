/*
 * fuzz_state.c - libFuzzer target for what state/state.c makes of
 * Redis replies: the input (after its first byte) is the whole RESP
 * stream a fake Redis server (tests/fuzz/fake_peer.h, a unix socket)
 * sends, and the shared-state calls read their replies from it in turn -
 * stats (HGETALL of the counters, numbers parsed from text), the
 * quarantine list and entry (index members, hash fields, nrcpt and
 * rcpt:N parsed from text, the secret compared), delivered records, a
 * rate-limit hit, pen pals, and the writes whose replies only say ok or
 * error. The first byte picks which call reads first, and whether AUTH
 * and SELECT go out on connect. hiredis parses RESP; this is about what
 * state.c does with any reply shape it can get: wrong types, nil,
 * arrays of the wrong length, huge numbers, embedded NULs.
 *
 * Inputs announcing arrays of more than 100000 elements are skipped
 * (huge_array: a limit of hiredis 0.14).
 *
 * Checked: every call returns what state.h allows (0/-1, and 1/0/-2 for
 * the quarantine entry), a failure with an error text; what the calls
 * return is complete (no NULL recipient or bank below its count,
 * counts within state.c's recipient limit and the list's max).
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "state/state.h"
#include "tests/fuzz/fake_peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOPS 11
#define LIST_MAX 8
#define RCPTS_MAX 100000	/* STATE_RCPTS_MAX of state.c */

static struct fake_peer srv;
static char sock_dir[64];

/* cleanup - remove the unix socket and its directory at exit */
static void cleanup(void)
{
	(void)unlink(srv.path);
	(void)rmdir(sock_dir);
}

/* check_rc - rc is one of the allowed values; a failure says why */
static void check_rc(int rc, int lo, int hi, const char *err)
{
	if (rc < lo || rc > hi)
		abort();
	if (rc == -1 && (err == NULL || *err == 0))
		abort();
}

/* check_entry - a quarantine entry is complete */
static void check_entry(const struct state_qentry *e)
{
	size_t k;

	if (e->nrcpts > RCPTS_MAX || (e->nrcpts > 0 && e->rcpts == NULL))
		abort();
	for (k = 0; k < e->nrcpts; k++)
		if (e->rcpts[k] == NULL)
			abort();
	if (e->mail_id == NULL)
		abort();
}

/* huge_array - the input announces an array of more than 100000
 * elements: hiredis 0.14 (Debian 12) callocs the whole array as soon
 * as it reads "*N" (its maxelements limit came in 1.0), so "*1600000000"
 * asks for 12.8 GB before anything of it arrived. A limit of hiredis,
 * not of state.c: such inputs are skipped. */
static int huge_array(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		unsigned long long n = 0;
		size_t j;

		if (p[i] != '*' && p[i] != '%' && p[i] != '~' && p[i] != '>')
			continue;
		for (j = i + 1; j < len && p[j] >= '0' && p[j] <= '9' && n <= 100000; j++)
			n = n * 10 + (p[j] - '0');
		if (n > 100000)
			return 1;
	}
	return 0;
}

/* op - call number i of the sequence */
static void op(struct state *st, struct arena *a, int i, int secret)
{
	static const char *const rcpts[] = { "a@example.com", "B@Example.ORG", "c d{x}@example.net" };
	const char *err = NULL, *done[3];
	struct state_stats stats;
	struct state_qentry e, *list;
	struct state_qentry put = {
		"AbCdEfGhIjKl", "s3cr3t", "virus", "s@example.net", "virus-AbCdEfGhIjKl",
		(const char **)rcpts, 3, 1700000000, NULL, 0,
	};
	unsigned long count = 0;
	int seen[3] = { 7, 7, 7 }, rc;
	char *msg = NULL;
	size_t n = 0, k;

	switch (i) {
	case 0:
		rc = state_stats_read(st, 1700000000, a, &stats, &err);
		check_rc(rc, -1, 0, err);
		for (k = 0; rc == 0 && k < stats.n; k++)
			if (stats.rows[k].bank == NULL || stats.rows[k].category == NULL)
				abort();
		break;
	case 1:
		rc = state_quarantine_list(st, 0, LIST_MAX, a, &list, &n, &err);
		check_rc(rc, -1, 0, err);
		if (rc == 0 && n > LIST_MAX)
			abort();
		for (k = 0; rc == 0 && k < n; k++)
			check_entry(&list[k]);
		break;
	case 2:
		rc = state_quarantine_get(st, "AbCdEfGhIjKl", secret ? "s3cr3t" : NULL, a, &e, &err);
		check_rc(rc, STATE_BAD_SECRET, 1, err);
		if (rc == 1)
			check_entry(&e);
		break;
	case 3:
		rc = state_delivered_get(st, "4ABC123DEF", "0123abcd", rcpts, 3, a, done, &err);
		check_rc(rc, -1, 0, err);
		break;
	case 4:
		rc = state_rate_hit(st, "sender", "S@Example.NET", 3600, 1700000000, &count, &err);
		check_rc(rc, -1, 0, err);
		break;
	case 5:
		rc = state_penpals_seen(st, "s@example.net", rcpts, 3, seen, &err);
		check_rc(rc, -1, 0, err);
		for (k = 0; k < 3; k++)
			if (seen[k] != 0 && seen[k] != 1)
				abort();
		break;
	case 6:
		check_rc(state_count_message(st, "MYNETS", "Clean", 1234, 1700000000, &err), -1, 0, err);
		break;
	case 7:
		check_rc(state_delivered_set(st, "4ABC123DEF", "0123abcd", rcpts, 3, "queued as X", 1700000000,
		    &err), -1, 0, err);
		break;
	case 8:
		check_rc(state_penpals_record(st, "s@example.net", rcpts, 3, 1700000000, &err), -1, 0, err);
		break;
	case 9:
		rc = state_quarantine_msg(st, "AbCdEfGhIjKl", a, &msg, &n, &err);
		check_rc(rc, -1, 1, err);
		if (rc == 1 && (msg == NULL || msg[n] != 0))
			abort();
		break;
	default:
		check_rc(state_quarantine_put(st, &put, 1700000000, &err), -1, 0, err);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct state_opts o;
	struct state *st = NULL;
	struct arena *a;
	const char *err;
	unsigned flags;
	int i;

	if (size < 1 || size > FAKE_PEER_INPUT_MAX || huge_array(data + 1, size - 1))
		return 0;
	if (!ready) {
		signal(SIGPIPE, SIG_IGN);
		log_open("fuzz", 1, NULL);
		strlcpy(sock_dir, "/tmp/tg-fuzz-state-XXXXXX", sizeof(sock_dir));
		if (mkdtemp(sock_dir) == NULL)
			abort();
		fake_peer_listen(&srv, sock_dir, "redis");
		atexit(cleanup);
		ready = 1;
	}
	flags = data[0];
	state_opts_init(&o);
	o.server = srv.path;
	o.timeout_ms = 2000;
	o.retry_ms = 600000;	/* after a failure, the rest fail at once */
	if (flags & 0x10)
		o.password = "pw";
	if (flags & 0x20)
		o.db = 3;
	if (state_create(&st, &o, &err) < 0)
		abort();
	a = arena_create(0);
	fake_peer_start(&srv, data + 1, size - 1);
	for (i = 0; i < NOPS; i++)
		op(st, a, (int)((flags & 0x0f) + (unsigned)i) % NOPS, flags & 0x40);
	state_free(&st);	/* closes the connection: the server sees EOF */
	fake_peer_stop(&srv);
	arena_free(&a);
	return 0;
}
