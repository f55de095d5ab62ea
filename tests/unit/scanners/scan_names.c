/*
 * scan_names.c - what tollgate's ClamAV scanner finds in message files,
 * one line each, for tests/integration/t_detect_equiv.sh to set beside
 * clamscan's.
 *
 *   scan_names -d DBDIR [-t TMPDIR] MSG...
 *
 * Each message is scanned the way a worker scans it (workers/process.c
 * proc_scan): mime_parse with the default mime_max_depth and
 * mime_max_parts, then clamav_scan_mime over the tree, or
 * clamav_scan_buffer when there is none. Prints "FILE: NAME FOUND",
 * "FILE: OK" or "FILE: UNCHECKED reason" (clamscan's shape), and
 * "FILE: ERROR reason" for a scanner failure. Exit 0, 1 when the engine
 * does not load or a scan failed, 2 on usage.
 * Built by make check (tests/unit/Makemodule.am), never installed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

/* the worker's defaults (lib/params.def mime_max_depth, mime_max_parts) */
#define DEF_MAX_DEPTH 20
#define DEF_MAX_PARTS 1500

/* read_all - a whole file in malloc'd memory; NULL when it cannot be read */
static char *read_all(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (fp == NULL)
		return NULL;
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

/* scan_file - one message: its line on stdout; 0, or -1 when the scan failed */
static int scan_file(struct clamav_engine *e, const char *path)
{
	struct arena *a = arena_create(0);
	struct mime_limits lim;
	struct mime_msg *m = NULL;
	struct scan_verdict v;
	const char *err = NULL;
	size_t len = 0;
	char *data = read_all(path, &len);
	int r;

	if (data == NULL) {
		printf("%s: ERROR cannot read\n", path);
		arena_free(&a);
		return -1;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = DEF_MAX_DEPTH;
	lim.max_parts = DEF_MAX_PARTS;
	if (mime_parse(a, data, len, &lim, &m, &err) < 0)
		m = NULL;
	r = m ? clamav_scan_mime(e, data, len, m, a, &v) : clamav_scan_buffer(e, data, len, a, &v);
	if (r < 0)
		printf("%s: ERROR %s\n", path, v.reason ? v.reason : "scanner failure");
	else if (v.status == SCAN_INFECTED)
		printf("%s: %s FOUND\n", path, v.names[0]);
	else if (v.status == SCAN_UNCHECKED)
		printf("%s: UNCHECKED %s\n", path, v.reason ? v.reason : "");
	else
		printf("%s: OK\n", path);
	free(data);
	arena_free(&a);
	return r;
}

int main(int argc, char **argv)
{
	struct clamav_opts o;
	struct clamav_engine *e = NULL;
	const char *err = NULL;
	int opt, i, ret = 0;

	memset(&o, 0, sizeof(o));
	while ((opt = getopt(argc, argv, "d:t:")) != -1) {
		switch (opt) {
		case 'd': o.db_path = optarg; break;
		case 't': o.tmp_dir = optarg; break;
		default:
			fprintf(stderr, "usage: scan_names -d DBDIR [-t TMPDIR] MSG...\n");
			return 2;
		}
	}
	if (o.db_path == NULL || optind >= argc) {
		fprintf(stderr, "usage: scan_names -d DBDIR [-t TMPDIR] MSG...\n");
		return 2;
	}
	log_open("scan_names", 1, NULL);
	if (clamav_engine_load(&o, &e, &err) < 0) {
		fprintf(stderr, "scan_names: %s\n", err);
		return 1;
	}
	for (i = optind; i < argc; i++)
		if (scan_file(e, argv[i]) < 0)
			ret = 1;
	clamav_engine_free(&e);
	return ret;
}
