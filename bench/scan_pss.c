/*
 * scan_pss.c - how much memory N workers sharing one ClamAV engine
 * really cost, and how long one scan takes.
 *
 * Loads the engine once (as the master does), then for each N given
 * forks N children that each scan a sample ~4 KiB MIME message K times
 * with clamav_scan_buffer(). When all children are done (and still
 * alive) it reads /proc/PID/smaps_rollup of the master and every child
 * and prints RSS, PSS and private memory per process, the total PSS
 * (what the machine actually pays) next to the sum of RSS (what top(1)
 * suggests), and microseconds per scan (wall clock and CPU time).
 *
 * Built by `make check` (or `make bench/scan_pss` in a build directory;
 * tests/Makemodule.am), never installed. A database to run it on comes
 * from the project's generator, e.g. the bench's million signatures:
 *
 *   python3 SRCDIR/tests/data/make-sigdb sigdb-1m 1000000
 *   bench/scan_pss -d sigdb-1m -n 1,8 -k 2000
 *
 * Options: -d DBDIR (required), -n LIST of worker counts (default 1,8),
 * -k scans per child (default 2000), -c libclamav's clean-file cache on
 * (default off, as in tollgated; each scan then gets a fresh top layer),
 * -t TMPDIR for libclamav's extracted parts.
 * Limits: Linux only (smaps_rollup, kernel >= 4.14). With more children
 * than CPUs the wall-clock figure includes waiting for a CPU; the CPU
 * figure is the cost of one scan.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "scanners/scanners.h"

#define MAX_CHILDREN 64

/* what a child reports through its pipe */
struct child_result {
	pid_t pid;
	unsigned scans;
	unsigned not_clean;
	double wall_us;		/* total over all scans */
	double cpu_us;
};

struct mem {
	double rss_kb, pss_kb, private_kb;
};

/* now_us - a clock in microseconds */
static double now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* read_mem - Rss, Pss and Private_* of pid from smaps_rollup; -1 on error */
static int read_mem(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	double v;
	FILE *fp;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "Rss: %lf", &v) == 1)
			m->rss_kb = v;
		else if (sscanf(line, "Pss: %lf", &v) == 1)
			m->pss_kb = v;
		else if (sscanf(line, "Private_Clean: %lf", &v) == 1 ||
			 sscanf(line, "Private_Dirty: %lf", &v) == 1)
			m->private_kb += v;
	}
	fclose(fp);
	return 0;
}

/* build_sample - a ~4 KiB multipart message: text, html, base64 pdf-like part */
static char *build_sample(size_t *len_r)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf_s {
		char *p;
		size_t len, cap;
	} b = { xmalloc(8192), 0, 8192 };
	unsigned char att[1560];
	size_t i, j;
	unsigned x = 12345;

#define PUT(...) (b.len += (size_t)snprintf(b.p + b.len, b.cap - b.len, __VA_ARGS__))
	PUT("Received: from client.example.org (client.example.org [192.0.2.10])\r\n"
	    "\tby mx.example.net (Postfix) with ESMTPS id 4ABCDEF123\r\n"
	    "\tfor <bob@example.net>; Mon,  3 Jun 2024 10:00:00 +0200 (CEST)\r\n"
	    "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n"
	    "Subject: quarterly figures\r\nDate: Mon, 3 Jun 2024 10:00:00 +0200\r\n"
	    "Message-ID: <bench-0000000000@example.org>\r\nX-Bench-Seq: 0000000000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_bench_boundary\"\r\n\r\n"
	    "--=_bench_boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
	for (i = 0; i < 16; i++)
		PUT("Line %02zu of the body: please find the figures attached, regards.\r\n", i);
	PUT("--=_bench_boundary\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	    "<html><body><p>Please find the <b>figures</b> attached.</p>"
	    "<p><a href=\"https://www.example.org/report\">online version</a></p>"
	    "</body></html>\r\n");
	PUT("--=_bench_boundary\r\nContent-Type: application/pdf; name=\"figures.pdf\"\r\n"
	    "Content-Disposition: attachment; filename=\"figures.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	memcpy(att, "%PDF-1.4\n", 9);
	for (i = 9; i < sizeof(att); i++) {
		x = x * 1103515245 + 12345;
		att[i] = (unsigned char)(x >> 16);
	}
	for (i = 0, j = 0; i + 3 <= sizeof(att); i += 3) {
		unsigned v = (unsigned)att[i] << 16 | (unsigned)att[i + 1] << 8 | att[i + 2];

		PUT("%c%c%c%c", b64[v >> 18], b64[(v >> 12) & 63], b64[(v >> 6) & 63], b64[v & 63]);
		if (++j == 19) {
			PUT("\r\n");
			j = 0;
		}
	}
	PUT("\r\n--=_bench_boundary--\r\n");
#undef PUT
	*len_r = b.len;
	return b.p;
}

/* set_seq - write n into the sample's sequence fields so each scan sees a new message */
static void set_seq(char *msg, unsigned n)
{
	char digits[11], *p;

	snprintf(digits, sizeof(digits), "%010u", n);
	if ((p = strstr(msg, "<bench-")) != NULL)
		memcpy(p + 7, digits, 10);
	if ((p = strstr(msg, "X-Bench-Seq: ")) != NULL)
		memcpy(p + 13, digits, 10);
}

/* child_main - scan k times, report, then wait until the parent has measured */
static void child_main(struct clamav_engine *e, char *msg, size_t len, unsigned k,
		       int res_fd, int go_fd)
{
	struct child_result r;
	struct scan_verdict v;
	struct arena *a = arena_create(0);
	double w0, c0;
	char c;
	unsigned i;

	memset(&r, 0, sizeof(r));
	r.pid = getpid();
	w0 = now_us(CLOCK_MONOTONIC);
	c0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < k; i++) {
		set_seq(msg, (unsigned)r.pid * 100000u + i);
		if (clamav_scan_buffer(e, msg, len, a, &v) < 0 || v.status != SCAN_CLEAN)
			r.not_clean++;
		arena_reset(a);
	}
	r.wall_us = now_us(CLOCK_MONOTONIC) - w0;
	r.cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.scans = k;
	if (write(res_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	/* stay alive (memory mapped as it is) until the parent closes go_fd */
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	arena_free(&a);
	_exit(0);
}

/* run_round - fork n children, measure, report; 0 ok, -1 error */
static int run_round(struct clamav_engine *e, char *msg, size_t len, unsigned n, unsigned k)
{
	struct child_result res[MAX_CHILDREN];
	struct mem mm, cm;
	int res_pipe[2], go_pipe[2];
	double tot_pss, tot_rss, wall_max = 0, wall_sum = 0, cpu_sum = 0;
	unsigned i, not_clean = 0;
	pid_t pid;

	if (pipe(res_pipe) < 0 || pipe(go_pipe) < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((pid = fork()) < 0) {
			log_error("fork: %s", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			close(res_pipe[0]);
			close(go_pipe[1]);
			child_main(e, msg, len, k, res_pipe[1], go_pipe[0]);
		}
	}
	close(res_pipe[1]);
	close(go_pipe[0]);
	for (i = 0; i < n; i++) {
		size_t got = 0;
		ssize_t r;

		while (got < sizeof(res[i])) {
			r = read(res_pipe[0], (char *)&res[i] + got, sizeof(res[i]) - got);
			if (r <= 0) {
				log_error("child result: %s", r < 0 ? strerror(errno) : "early EOF");
				return -1;
			}
			got += (size_t)r;
		}
	}
	/* every child is done scanning and still alive: measure now */
	if (read_mem(getpid(), &mm) < 0) {
		log_error("smaps_rollup of self: %s", strerror(errno));
		return -1;
	}
	printf("\nN=%u workers, %u scans each\n", n, k);
	printf("  %-8s %-7s %10s %10s %12s %7s %14s %13s\n", "pid", "role", "RSS MiB",
	       "PSS MiB", "Private MiB", "scans", "us/scan wall", "us/scan cpu");
	printf("  %-8ld %-7s %10.1f %10.1f %12.1f %7s %14s %13s\n", (long)getpid(), "master",
	       mm.rss_kb / 1024, mm.pss_kb / 1024, mm.private_kb / 1024, "-", "-", "-");
	tot_pss = mm.pss_kb;
	tot_rss = mm.rss_kb;
	for (i = 0; i < n; i++) {
		if (read_mem(res[i].pid, &cm) < 0) {
			log_error("smaps_rollup of %ld: %s", (long)res[i].pid, strerror(errno));
			return -1;
		}
		tot_pss += cm.pss_kb;
		tot_rss += cm.rss_kb;
		printf("  %-8ld %-7s %10.1f %10.1f %12.1f %7u %14.1f %13.1f\n", (long)res[i].pid,
		       "worker", cm.rss_kb / 1024, cm.pss_kb / 1024, cm.private_kb / 1024,
		       res[i].scans, res[i].wall_us / res[i].scans, res[i].cpu_us / res[i].scans);
		if (res[i].wall_us > wall_max)
			wall_max = res[i].wall_us;
		wall_sum += res[i].wall_us / res[i].scans;
		cpu_sum += res[i].cpu_us / res[i].scans;
		not_clean += res[i].not_clean;
	}
	printf("  total PSS (master + %u): %.1f MiB   (sum of RSS: %.1f MiB)\n", n,
	       tot_pss / 1024, tot_rss / 1024);
	printf("  mean us/scan: wall %.1f, cpu %.1f; throughput %.0f scans/s; not clean: %u\n",
	       wall_sum / n, cpu_sum / n, wall_max > 0 ? n * (double)k / (wall_max / 1e6) : 0.0,
	       not_clean);
	fflush(stdout);
	close(go_pipe[1]);
	close(res_pipe[0]);
	for (i = 0; i < n; i++)
		waitpid(res[i].pid, NULL, 0);
	return not_clean ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct clamav_opts o;
	struct clamav_engine *e = NULL;
	const struct clamav_engine_info *info;
	const char *err, *list = "1,8";
	char *msg, *tok, *save = NULL, listbuf[128];
	unsigned k = 2000, n;
	struct mem mm;
	size_t len;
	int ch, rc = 0;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt(argc, argv, "d:n:k:ct:")) != -1) {
		switch (ch) {
		case 'd': o.db_path = optarg; break;
		case 'n': list = optarg; break;
		case 'k': k = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': o.enable_cache = 1; break;
		case 't': o.tmp_dir = optarg; break;
		default:
			fprintf(stderr, "usage: %s -d DBDIR [-n 1,8] [-k SCANS] [-c] [-t TMPDIR]\n", argv[0]);
			return 2;
		}
	}
	if (o.db_path == NULL || k == 0) {
		fprintf(stderr, "usage: %s -d DBDIR [-n 1,8] [-k SCANS] [-c] [-t TMPDIR]\n", argv[0]);
		return 2;
	}
	log_open("scan_pss", 1, NULL);
	if (clamav_engine_load(&o, &e, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	info = clamav_engine_info(e);
	msg = build_sample(&len);
	printf("engine: %u signatures from %s, load+compile %u ms, libclamav %s\n",
	       info->signatures, info->db_path, info->load_ms, info->version);
	printf("sample: %zu-byte MIME message (text + html + base64 pdf-like part), cache %s\n",
	       len, o.enable_cache ? "on" : "off");
	if (read_mem(getpid(), &mm) == 0)
		printf("master after load, before fork: RSS %.1f MiB, PSS %.1f MiB\n",
		       mm.rss_kb / 1024, mm.pss_kb / 1024);
	fflush(stdout);
	snprintf(listbuf, sizeof(listbuf), "%s", list);
	for (tok = strtok_r(listbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		n = (unsigned)strtoul(tok, NULL, 10);
		if (n == 0 || n > MAX_CHILDREN) {
			fprintf(stderr, "worker count %s out of range 1..%d\n", tok, MAX_CHILDREN);
			return 2;
		}
		if (run_round(e, msg, len, n, k) < 0)
			rc = 1;
	}
	clamav_engine_free(&e);
	free(msg);
	return rc;
}
