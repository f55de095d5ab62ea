/*
 * scan_cpu.c - CPU cost of one ClamAV scan of a message: the whole raw
 * message (clamav_scan_buffer, libclamav parses the mail) against our
 * MIME tree part by part (clamav_scan_mime).
 *
 * Loads the engine once, reads each message file given, checks that
 * both ways reach the same verdict, then scans it K times each way and
 * prints CPU and wall-clock microseconds per scan. "mime" includes
 * mime_parse (the worker parses every message anyway: "mime-scan"
 * is the scan alone, the tree parsed once).
 *
 * Built by `make check` (or `make bench/scan_cpu` in a build directory;
 * tests/Makemodule.am), never installed. Run from the build directory,
 * with a database from the project's generator:
 *
 *   python3 SRCDIR/tests/data/make-sigdb sigdb-1m 1000000
 *   bench/scan_cpu -d sigdb-1m -k 2000 msg1.eml msg2.eml
 *
 * Options: -d DBDIR (required), -k scans per message and way (default
 * 1000), -t TMPDIR for libclamav's extracted parts, -w WAYS to time
 * (letters r = raw, m = mime, s = mime-scan; default rms).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

/* now_us - a clock in microseconds */
static double now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* read_all - a whole file in malloc'd memory */
static char *read_all(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	do {
		if (n == cap)
			buf = xreallocarray(buf, cap = cap ? cap * 2 : 65536, 1);
		r = fread(buf + n, 1, cap - n, fp);
		n += r;
	} while (r > 0);
	fclose(fp);
	*len_r = n;
	return buf;
}

enum way { RAW, MIME, MIME_SCAN };

/* one_scan - one scan the given way; the verdict in *v (arena a) */
static void one_scan(struct clamav_engine *e, enum way w, const char *data, size_t len,
		     const struct mime_msg *tree, struct arena *a, struct scan_verdict *v)
{
	struct mime_msg *m = NULL;
	const char *err;

	if (w == RAW) {
		if (clamav_scan_buffer(e, data, len, a, v) < 0)
			fprintf(stderr, "scan failed: %s\n", v->reason);
		return;
	}
	if (w == MIME_SCAN)
		m = (struct mime_msg *)tree;
	else if (mime_parse(a, data, len, NULL, &m, &err) < 0)
		m = NULL;
	if (clamav_scan_mime(e, data, len, m, a, v) < 0)
		fprintf(stderr, "scan failed: %s\n", v->reason);
}

int main(int argc, char **argv)
{
	static const char *const wname[] = { "raw", "mime", "mime-scan" };
	struct clamav_opts o;
	struct clamav_engine *e = NULL;
	const char *err = NULL;
	const char *ways = "rms";
	unsigned k = 1000, i;
	int opt, ai;

	memset(&o, 0, sizeof(o));
	while ((opt = getopt(argc, argv, "d:k:t:w:")) != -1) {
		switch (opt) {
		case 'd': o.db_path = optarg; break;
		case 'k': k = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o.tmp_dir = optarg; break;
		case 'w': ways = optarg; break;
		default:
			fprintf(stderr, "usage: scan_cpu -d DBDIR [-k N] [-t TMPDIR] [-w rms] MSG...\n");
			return 2;
		}
	}
	if (o.db_path == NULL || optind >= argc) {
		fprintf(stderr, "usage: scan_cpu -d DBDIR [-k N] [-t TMPDIR] [-w rms] MSG...\n");
		return 2;
	}
	log_open("scan_cpu", 1, NULL);
	if (clamav_engine_load(&o, &e, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("engine: %u signatures, %u ms to load\n", clamav_engine_info(e)->signatures,
	       clamav_engine_info(e)->load_ms);
	for (ai = optind; ai < argc; ai++) {
		size_t len;
		char *data = read_all(argv[ai], &len);
		struct arena *ta = arena_create(0), *a = arena_create(0);
		struct mime_msg *tree = NULL;
		struct scan_verdict v[3];
		enum way w;

		if (mime_parse(ta, data, len, NULL, &tree, &err) < 0)
			tree = NULL;
		for (w = RAW; w <= MIME_SCAN; w++) {
			one_scan(e, w, data, len, tree, ta, &v[w]);
			printf("%s (%zu bytes) %-9s %s %s files=%u\n", argv[ai], len, wname[w],
			       scan_status_name(v[w].status),
			       v[w].n_names ? v[w].names[0] : v[w].reason ? v[w].reason : "",
			       v[w].n_files);
		}
		if (v[RAW].status != v[MIME].status)
			printf("  NOTE: verdicts differ\n");
		for (w = RAW; w <= MIME_SCAN; w++) {
			if (strchr(ways, "rms"[w]) == NULL)
				continue;
			double c0 = now_us(CLOCK_PROCESS_CPUTIME_ID), t0 = now_us(CLOCK_MONOTONIC);
			struct scan_verdict sv;

			for (i = 0; i < k; i++) {
				one_scan(e, w, data, len, tree, a, &sv);
				arena_reset(a);
			}
			printf("  %-9s %8.1f us CPU/scan %8.1f us wall/scan (%u scans)\n", wname[w],
			       (now_us(CLOCK_PROCESS_CPUTIME_ID) - c0) / k,
			       (now_us(CLOCK_MONOTONIC) - t0) / k, k);
		}
		arena_free(&a);
		arena_free(&ta);
		free(data);
	}
	clamav_engine_free(&e);
	return 0;
}
