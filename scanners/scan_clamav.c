/*
 * scan_clamav.c - the ClamAV scanner: libclamav in-process, one engine
 * compiled in the master and shared copy-on-write by the workers (see
 * scanners.h for the life cycle).
 *
 * A scan hands libclamav the whole raw message from memory
 * (cl_fmap_open_memory, no copy) with mail parsing on, so libclamav
 * decodes MIME, base64/QP/uuencode, nested message/rfc822 and archives
 * itself. A file-inspection callback records every embedded file for the
 * banned-files check. Limit hits are made visible with
 * CL_SCAN_HEURISTIC_EXCEEDS_MAX and turned into UNCHECKED, never CLEAN.
 *
 * Deliberately left out: clamd (we link libclamav), signature updates
 * (freshclam's job; we only notice a changed directory), all-match mode
 * (the first name is enough to decide), PUA signatures.
 *
 * Limits: libclamav takes data for mail only when it starts with one of
 * a fixed set of header names (mail_magic below) or has MIME-Version near
 * the top; anything else it scans as plain text, without MIME decoding.
 * Such messages are shown to it behind a virtual "Received:" line, and
 * a top layer that is still not mail is reported UNCHECKED, not CLEAN.
 * An archive member libclamav cut at max_filesize (it does so silently)
 * is recognised only by its size being within TRUNC_SLACK of the limit,
 * so a file of just under max_filesize also makes a message UNCHECKED.
 * Fail closed: libclamav reports some failures of its own (a temp
 * directory or file it cannot make, a full disk) only through its log
 * callback and then answers CL_CLEAN; such a line during a scan makes
 * the scan a scanner failure (-1, the caller tempfails), never CLEAN.
 * A zip attachment with a member libclamav could not extract (a corrupt
 * stream: it says so only in debug output) is UNCHECKED, undecipherable;
 * other archive formats are not checked that way, nor a zip that only
 * the whole-message fallback met.
 * Bugs: libclamav reports only one heuristic "limit exceeded" per scan,
 * so reason names the first limit hit, not all of them.
 * Why so long: the fail-closed rules (log callback, room check, zip
 * member counts, limits) wrap every libclamav call, and splitting them
 * from the scan steps they guard would make each harder to check.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <clamav.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"

struct clamav_engine {
	struct cl_engine *cl;
	struct clamav_engine_info info;
	char *db_path;
	char *tmp_dir;				/* where libclamav writes (NULL: $TMPDIR or /tmp) */
	int alert_encrypted;
	unsigned long long max_filesize;	/* effective values: truncation, */
	unsigned long long max_scansize;	/* and the per-message budgets */
	unsigned max_recursion;			/* of clamav_scan_mime */
	unsigned max_files;
	unsigned max_scantime_ms;
};

/* per-scan state handed to libclamav callbacks as their context */
struct scan_ctx {
	struct arena *arena;
	struct scan_verdict *v;
	unsigned files_cap;
	int top_is_mail;		/* depth-0 type is one libclamav mail-parses */
	const char *found;		/* first name from virus_found_cb */
	unsigned long long trunc_at;	/* embedded files this big may be cut */
	int truncated;			/* one was: only its head was scanned */
	const char *data;		/* virtual-prefix reader (scan_pread) */
	size_t len;
	/* clamav_scan_mime only */
	int mime;			/* one call per MIME leaf: depths offset */
	int record;			/* files[] entries wanted (not in the frame pass) */
	const char *leaf_name;		/* MIME file name of the leaf being scanned */
	unsigned leaf_depth;		/* its depth as a file (1 = in the message) */
	unsigned max_recursion;		/* 0: none */
	const char *limit;		/* first per-message limit hit, or NULL */
	unsigned long long bytes;	/* bytes of every file met (scansize budget) */
	unsigned long long nfiles;	/* files met (max_files budget) */
	const char *failure;		/* first error libclamav only logged */
	unsigned level1;		/* files met one level below the leaf */
	unsigned long long level1_bytes;	/* and their sizes */
};

/* an embedded file within this many bytes of max_filesize may have been cut */
#define TRUNC_SLACK 8192

/* Virtual first line for messages libclamav would not recognise as mail. */
static const char scan_clamav_prefix[] = "Received: from tollgate (scanner)\r\n";
#define PREFIX_LEN (sizeof(scan_clamav_prefix) - 1)

/* first header names libclamav's built-in magic takes for CL_TYPE_MAIL
 * (case-sensitive; each checked against libclamav 1.4 by hand) */
static const char *const mail_magic[] = {
	"From ", "Received: ", "Return-Path: ", "Delivered-To: ", "X-UIDL: ",
	"X-Apparently-To: ", "X-Envelope-From: ", "X-Original-To: ", "X-Symantec-",
	"X-EVS", "X-Real-To: ", "X-Sieve: ", ">From ", "Date: ", "Message-Id: ",
	"Message-ID: ", "Subject: ", "Return-path: ", "MIME-Version: ", "From: ",
	"To: ",
};

static cl_error_t file_inspect_cb(int fd, const char *type, const char **ancestors,
				  size_t parent_file_size, const char *file_name,
				  size_t file_size, const char *file_buffer,
				  uint32_t recursion_level, uint32_t layer_attributes,
				  void *context);
static void virus_found_cb(int fd, const char *virname, void *context);
static int db_walk(const char *path, uint64_t *sig_r, time_t *newest_r, const char **error_r);
static cl_error_t record_file(struct scan_ctx *c, const char *file_name, const char *type,
			      unsigned depth, size_t file_size);

static int clamav_initialised;
static char clamav_errbuf[1024];

/* the scan under way in this process (workers are single-threaded):
 * libclamav does not always hand its message callback the scan's
 * context, and an error it only logs must still fail that scan */
static struct scan_ctx *scan_current;

/* is_io_failure - a libclamav warning that means content was not examined
 *
 * libclamav reports some failures of its own environment (a temp dir or
 * file it could not make or write, a disk that is full) only as a log
 * line and then answers CL_CLEAN for the part it skipped. Its content
 * warnings (a malformed archive, an odd header) are not in this list:
 * those come with the data and are judged by the scan result.
 */
static int is_io_failure(const char *msg)
{
	static const char *const io[] = {
		"temporary", "tmpdir", "temp file", "tempfile", "mkdir", "mkstemp",
		"No space left", "Disk quota", "Permission denied", "Read-only file system",
		"Can't create", "Can't write", "cannot create", "Unable to create",
		"Failed to create", "failed to create", "Can't make", "Too many open files",
		"Cannot allocate memory", "out of memory", "Out of memory",
	};
	size_t i;

	for (i = 0; i < sizeof(io) / sizeof(io[0]); i++)
		if (strstr(msg, io[i]) != NULL)
			return 1;
	return 0;
}

/* clamav_msg_cb - route libclamav's own messages into our log
 *
 * context is the scan context during a scan and NULL otherwise (load,
 * compile). Outside a scan libclamav's errors become warnings: the
 * caller gets the failure through our return value and logs it with its
 * own weight (a failed reload keeps the old engine); these lines add
 * the detail. During a scan an error, or a warning that says the scan
 * could not write what it needed (is_io_failure), fails the scan
 * (struct scan_ctx.failure): libclamav goes on after those and would
 * have the part called clean. Other scan-time warnings are about the
 * message's content, peer driven and frequent: debug.
 */
static void clamav_msg_cb(enum cl_msg severity, const char *fullmsg, const char *msg, void *context)
{
	struct scan_ctx *c = context ? context : scan_current;
	char line[512];
	size_t n;

	(void)fullmsg;
	if (msg == NULL)
		return;
	/* the text may quote names out of the message: escape and cut it */
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	log_printable(line, sizeof(line), msg, n);
	if (c != NULL && (severity >= CL_MSG_ERROR || (severity >= CL_MSG_WARN && is_io_failure(line)))) {
		if (c->failure == NULL)
			c->failure = arena_strdup(c->arena, line);
		log_warning("libclamav: %s (the scan fails)", line);
	} else if (severity >= CL_MSG_ERROR || (severity >= CL_MSG_WARN && c == NULL)) {
		log_warning("libclamav: %s", line);
	} else {
		log_debug(LOG_DBG_SCAN, "libclamav: %s", line);
	}
}

/* scan_call - cl_scanmap_callback with c as the current scan */
static cl_error_t scan_call(struct clamav_engine *e, cl_fmap_t *map, const char **virname_r,
			    struct cl_scan_options *opts, struct scan_ctx *c)
{
	unsigned long scanned = 0;
	cl_error_t rc;

	scan_current = c;
	rc = cl_scanmap_callback(map, NULL, virname_r, &scanned, e->cl, opts, c);
	scan_current = NULL;
	return rc;
}

/* clamav_global_init - cl_init and the log hook, once per process */
static int clamav_global_init(const char **error_r)
{
	cl_error_t rc;

	if (clamav_initialised)
		return 0;
	cl_set_clcb_msg(clamav_msg_cb);
	rc = cl_init(CL_INIT_DEFAULT);
	if (rc != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "cl_init: %s", cl_strerror(rc));
		*error_r = clamav_errbuf;
		return -1;
	}
	clamav_initialised = 1;
	return 0;
}

/* ms_since - wall-clock milliseconds since t0 */
static unsigned ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (unsigned)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/* us_since - wall-clock microseconds since t0 */
static unsigned us_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (unsigned)((t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000);
}

/* engine_set - set one numeric limit when the option asks for it */
static int engine_set(struct cl_engine *cl, enum cl_engine_field f, const char *what,
		      unsigned long long v)
{
	cl_error_t rc;

	if (v == 0)
		return 0;
	if (v > (unsigned long long)INT64_MAX)
		v = (unsigned long long)INT64_MAX;
	rc = cl_engine_set_num(cl, f, (long long)v);
	if (rc != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "clamav: setting %s=%llu: %s",
			 what, v, cl_strerror(rc));
		return -1;
	}
	return 0;
}

int clamav_engine_load(const struct clamav_opts *o, struct clamav_engine **eng_r,
		       const char **error_r)
{
	struct clamav_engine *e;
	struct cl_engine *cl;
	struct timespec t0;
	const char *sig_err;
	unsigned sigs = 0;
	uint64_t dbsig = 0;
	time_t dbtime = 0;
	cl_error_t rc;

	if (o == NULL || o->db_path == NULL || *o->db_path == 0) {
		*error_r = "clamav: no database path configured";
		return -1;
	}
	if (clamav_global_init(error_r) < 0)
		return -1;
	/* fingerprint before loading: a change during the load shows up as
	 * a difference at the next poll and causes one extra reload, never
	 * a missed one */
	if (db_walk(o->db_path, &dbsig, &dbtime, &sig_err) < 0) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "%s", sig_err);
		*error_r = clamav_errbuf;
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((cl = cl_engine_new()) == NULL) {
		*error_r = "clamav: cl_engine_new failed (out of memory)";
		return -1;
	}
	if (engine_set(cl, CL_ENGINE_MAX_FILESIZE, "max_filesize", o->max_filesize) < 0 ||
	    engine_set(cl, CL_ENGINE_MAX_SCANSIZE, "max_scansize", o->max_scansize) < 0 ||
	    engine_set(cl, CL_ENGINE_MAX_RECURSION, "max_recursion", o->max_recursion) < 0 ||
	    engine_set(cl, CL_ENGINE_MAX_FILES, "max_files", o->max_files) < 0 ||
	    engine_set(cl, CL_ENGINE_MAX_SCANTIME, "max_scantime", o->max_scantime_ms) < 0 ||
	    engine_set(cl, CL_ENGINE_DISABLE_CACHE, "disable_cache", o->enable_cache ? 0 : 1) < 0)
		goto fail_msg;
	if (o->tmp_dir && *o->tmp_dir &&
	    (rc = cl_engine_set_str(cl, CL_ENGINE_TMPDIR, o->tmp_dir)) != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "clamav: tmp_dir %s: %s",
			 o->tmp_dir, cl_strerror(rc));
		goto fail_msg;
	}
	/* the per-file callback is set here, once: workers must not write
	 * to the shared engine; its per-scan context comes with each
	 * cl_scanmap_callback call */
	cl_engine_set_clcb_file_inspection(cl, file_inspect_cb);
	cl_engine_set_clcb_virus_found(cl, virus_found_cb);
	rc = cl_load(o->db_path, cl, &sigs, CL_DB_STDOPT);
	if (rc != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "clamav: loading database %s: %s",
			 o->db_path, cl_strerror(rc));
		goto fail_msg;
	}
	if (sigs == 0) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf),
			 "clamav: loading database %s: no signatures found", o->db_path);
		goto fail_msg;
	}
	rc = cl_engine_compile(cl);
	if (rc != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "clamav: compiling database %s: %s",
			 o->db_path, cl_strerror(rc));
		goto fail_msg;
	}

	e = xcalloc(1, sizeof(*e));
	e->cl = cl;
	e->db_path = xstrdup(o->db_path);
	e->tmp_dir = o->tmp_dir && *o->tmp_dir ? xstrdup(o->tmp_dir) : NULL;
	e->alert_encrypted = o->alert_encrypted;
	e->max_filesize = (unsigned long long)cl_engine_get_num(cl, CL_ENGINE_MAX_FILESIZE, NULL);
	e->max_scansize = (unsigned long long)cl_engine_get_num(cl, CL_ENGINE_MAX_SCANSIZE, NULL);
	e->max_recursion = (unsigned)cl_engine_get_num(cl, CL_ENGINE_MAX_RECURSION, NULL);
	e->max_files = (unsigned)cl_engine_get_num(cl, CL_ENGINE_MAX_FILES, NULL);
	e->max_scantime_ms = (unsigned)cl_engine_get_num(cl, CL_ENGINE_MAX_SCANTIME, NULL);
	e->info.db_path = e->db_path;
	e->info.signatures = sigs;
	e->info.load_ms = ms_since(&t0);
	e->info.db_signature = dbsig;
	e->info.version = cl_retver();
	e->info.loaded_at = time(NULL);
	e->info.db_time = (time_t)cl_engine_get_num(cl, CL_ENGINE_DB_TIME, NULL);
	if (e->info.db_time <= 0)
		e->info.db_time = dbtime;
	log_info("clamav: loaded %u signatures from %s in %u ms (libclamav %s)",
		 sigs, o->db_path, e->info.load_ms, e->info.version);
	*eng_r = e;
	return 0;

fail_msg:
	cl_engine_free(cl);
	*error_r = clamav_errbuf;
	return -1;
}

void clamav_engine_free(struct clamav_engine **ep)
{
	struct clamav_engine *e = *ep;

	if (e == NULL)
		return;
	cl_engine_free(e->cl);
	free(e->db_path);
	free(e->tmp_dir);
	free(e);
	*ep = NULL;
}

int clamav_engine_set_tmpdir(struct clamav_engine *e, const char *dir, const char **error_r)
{
	cl_error_t rc = cl_engine_set_str(e->cl, CL_ENGINE_TMPDIR, dir);

	if (rc != CL_SUCCESS) {
		snprintf(clamav_errbuf, sizeof(clamav_errbuf), "clamav: tmp_dir %s: %s", dir,
			 cl_strerror(rc));
		*error_r = clamav_errbuf;
		return -1;
	}
	free(e->tmp_dir);
	e->tmp_dir = xstrdup(dir);
	return 0;
}

/* tmp_room - can libclamav write what a len-byte message needs?
 *
 * libclamav's mail parser writes the decoded parts to temp files and,
 * on a full disk, skips what it could not write without a word (the
 * part is then called clean). So before a scan the temp directory must
 * have room for twice the message plus 1 MiB (a decoded part is never
 * bigger than its encoded form; archives that expand past that are left
 * to the log-callback check, as is a directory that cannot be written:
 * libclamav says so when it cannot make its scan directory). One
 * statvfs() per scan. NULL when there is room, else the reason, in a.
 */
static const char *tmp_room(const struct clamav_engine *e, size_t len, struct arena *a)
{
	const char *dir = e->tmp_dir;
	unsigned long long need = 2ULL * len + (1ULL << 20), avail;
	struct statvfs sv;

	if (dir == NULL && ((dir = getenv("TMPDIR")) == NULL || *dir == 0))
		dir = "/tmp";
	if (statvfs(dir, &sv) < 0)
		return arena_printf(a, "scanner failure: temp dir %s: %s", dir, strerror(errno));
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail < need || sv.f_favail == 0)
		return arena_printf(a, "scanner failure: temp dir %s: %llu bytes free, %llu needed",
				    dir, avail, need);
	return NULL;
}

const struct clamav_engine_info *clamav_engine_info(const struct clamav_engine *e)
{
	return &e->info;
}

/* is_clamav_tmpname - libclamav's own temp file name ("clamav-<32 hex>.tmp"),
 * given for body parts that have no name of their own */
static int is_clamav_tmpname(const char *name)
{
	size_t i;

	if (strncmp(name, "clamav-", 7) != 0)
		return 0;
	for (i = 7; i < 7 + 32; i++)
		if (!isxdigit((unsigned char)name[i]))
			return 0;
	return name[i] == 0 || name[i] == '.';
}

/* file_inspect_cb - record one file libclamav is about to scan
 *
 * Called for every layer, the message itself at depth 0. Always answers
 * CL_CLEAN ("go on scanning"): this callback observes, it never decides.
 */
static cl_error_t file_inspect_cb(int fd, const char *type, const char **ancestors,
				  size_t parent_file_size, const char *file_name,
				  size_t file_size, const char *file_buffer,
				  uint32_t recursion_level, uint32_t layer_attributes,
				  void *context)
{
	struct scan_ctx *c = context;

	if (c == NULL)
		return CL_CLEAN;
	if (c->mime) {
		unsigned depth = c->leaf_depth + recursion_level;

		c->bytes += file_size;
		c->nfiles++;
		if (recursion_level == 1) {
			c->level1++;
			c->level1_bytes += file_size;
		}
		if (recursion_level > 0 && c->trunc_at && file_size >= c->trunc_at)
			c->truncated = 1;
		if (!c->record)
			return CL_CLEAN;	/* frame pass: the leaves list their files */
		/* libclamav counts recursion from the leaf; the message's
		 * limit counts from the message */
		if (c->max_recursion && depth > c->max_recursion) {
			if (c->limit == NULL)
				c->limit = "limit exceeded: max_recursion";
			return CL_BREAK;	/* not scanned: the verdict says so */
		}
		return record_file(c, recursion_level == 0 ? c->leaf_name : file_name, type,
				   depth, file_size);
	}
	if (recursion_level == 0) {
		/* MHTML is what libclamav calls a message whose first lines
		 * carry MIME-Version: it is mail-parsed all the same */
		c->top_is_mail = type && (strcmp(type, "CL_TYPE_MAIL") == 0 ||
					  strcmp(type, "CL_TYPE_MHTML") == 0);
		return CL_CLEAN;
	}
	if (c->trunc_at && file_size >= c->trunc_at)
		c->truncated = 1;
	return record_file(c, file_name, type, recursion_level, file_size);
}

/* record_file - add one entry to the verdict's files[] (CL_CLEAN, for the callback) */
static cl_error_t record_file(struct scan_ctx *c, const char *file_name, const char *type,
			      unsigned depth, size_t file_size)
{
	struct scan_verdict *v = c->v;
	struct scan_file *f;

	if (v->n_files >= SCAN_MAX_FILES) {
		v->files_dropped++;
		return CL_CLEAN;
	}
	if (v->n_files == c->files_cap) {
		/* grow in the arena; the old array is simply left behind */
		unsigned ncap = c->files_cap ? c->files_cap * 2 : 16;
		struct scan_file *nf;

		if (ncap > SCAN_MAX_FILES)
			ncap = SCAN_MAX_FILES;
		nf = arena_allocarray(c->arena, ncap, sizeof(*nf));
		if (v->n_files)
			memcpy(nf, v->files, v->n_files * sizeof(*nf));
		v->files = nf;
		c->files_cap = ncap;
	}
	f = &v->files[v->n_files++];
	f->name = file_name && !is_clamav_tmpname(file_name) ?
	    arena_strndup(c->arena, file_name, SCAN_NAME_MAX) : NULL;
	f->type = arena_strdup(c->arena, type ? type : "CL_TYPE_ANY");
	f->depth = depth;
	f->size = file_size;
	if (log_debug_mask & LOG_DBG_SCAN) {
		char name[128];

		log_printable(name, sizeof(name), f->name ? f->name : "", f->name ? strlen(f->name) : 0);
		log_debug_line("clamav: file depth=%u type=%s size=%zu name=%s",
			       f->depth, f->type, f->size, f->name ? name : "(none)");
	}
	return CL_CLEAN;
}

/* virus_found_cb - remember the first name libclamav reports
 *
 * Needed because some results never reach cl_scanmap_callback's virname:
 * a message larger than max_filesize ends with CL_VIRUS and the name
 * "Heuristics.Limits.Exceeded.MaxFileSize" only here.
 */
static void virus_found_cb(int fd, const char *virname, void *context)
{
	struct scan_ctx *c = context;

	if (c != NULL && c->found == NULL && virname != NULL)
		c->found = arena_strndup(c->arena, virname, SCAN_NAME_MAX);
}

/* limit_reason - "limit exceeded: ..." for a libclamav limit heuristic, else NULL */
static const char *limit_reason(const char *virname)
{
	static const struct {
		const char *sig, *reason;
	} limits[] = {
		{ "MaxFileSize", "limit exceeded: max_filesize" },
		{ "MaxScanSize", "limit exceeded: max_scansize" },
		{ "MaxRecursion", "limit exceeded: max_recursion" },
		{ "MaxFiles", "limit exceeded: max_files" },
		{ "MaxScanTime", "limit exceeded: max_scantime" },
	};
	static const char pfx[] = "Heuristics.Limits.Exceeded.";
	size_t i;

	if (strncmp(virname, pfx, sizeof(pfx) - 1) != 0)
		return NULL;
	virname += sizeof(pfx) - 1;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (strncmp(virname, limits[i].sig, strlen(limits[i].sig)) == 0)
			return limits[i].reason;
	return "limit exceeded";
}

/* looks_like_mail - would libclamav's magic take data as CL_TYPE_MAIL? */
static int looks_like_mail(const char *data, size_t len)
{
	size_t i, n;

	for (i = 0; i < sizeof(mail_magic) / sizeof(mail_magic[0]); i++) {
		n = strlen(mail_magic[i]);
		if (len >= n && memcmp(data, mail_magic[i], n) == 0)
			return 1;
	}
	return 0;
}

/* scan_pread - read callback that shows scan_clamav_prefix before the message */
static off_t scan_pread(void *handle, void *buf, size_t count, off_t offset)
{
	struct scan_ctx *c = handle;
	size_t off = (size_t)offset, done = 0, n;
	size_t total = PREFIX_LEN + c->len;

	if (offset < 0 || off >= total)
		return 0;
	if (count > total - off)
		count = total - off;
	if (off < PREFIX_LEN) {
		n = PREFIX_LEN - off < count ? PREFIX_LEN - off : count;
		memcpy(buf, scan_clamav_prefix + off, n);
		done = n;
		off += n;
	}
	if (done < count)
		memcpy((char *)buf + done, c->data + (off - PREFIX_LEN), count - done);
	return (off_t)count;
}

/* verdict_unchecked - mark v UNCHECKED with reason */
static void verdict_unchecked(struct scan_verdict *v, const char *reason)
{
	v->status = SCAN_UNCHECKED;
	v->reason = reason;
}

int clamav_scan_buffer(struct clamav_engine *e, const char *data, size_t len,
		       struct arena *a, struct scan_verdict *v_r)
{
	struct cl_scan_options opts;
	struct scan_ctx c;
	struct timespec t0;
	const char *virname = NULL, *why;
	cl_fmap_t *map;
	cl_error_t rc;
	int ret = 0;

	memset(v_r, 0, sizeof(*v_r));
	v_r->scanner = "clamav";
	memset(&c, 0, sizeof(c));
	c.arena = a;
	c.v = v_r;
	c.data = data;
	c.len = len;
	/* libclamav cuts an archive member larger than max_filesize down to
	 * about max_filesize (a multiple of 4 KiB) and scans only that head,
	 * without any alert; a member this close to the limit may have been
	 * cut, so it makes the verdict UNCHECKED rather than CLEAN */
	if (e->max_filesize > TRUNC_SLACK)
		c.trunc_at = e->max_filesize - TRUNC_SLACK;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	if (len == 0) {
		v_r->status = SCAN_CLEAN;	/* nothing to scan; libclamav cannot map 0 bytes */
		return 0;
	}
	if ((why = tmp_room(e, len, a)) != NULL) {
		verdict_unchecked(v_r, why);
		log_error("clamav: %s", why);
		return -1;
	}

	/* Without a known first header libclamav scans the message as
	 * plain text and never decodes its attachments, so such messages
	 * are shown to it behind one virtual header line, read through a
	 * callback (libclamav then pages the message into its own map: one
	 * copy, for these rare messages only). */
	if (looks_like_mail(data, len))
		map = cl_fmap_open_memory(data, len);
	else
		map = cl_fmap_open_handle(&c, 0, PREFIX_LEN + len, scan_pread, 0);
	if (map == NULL) {
		verdict_unchecked(v_r, "scanner failure: cannot map message (out of memory)");
		log_error("clamav: cannot map a %zu-byte message", len);
		return -1;
	}

	memset(&opts, 0, sizeof(opts));
	opts.general = CL_SCAN_GENERAL_HEURISTICS;	/* clamd's default; no all-match */
	opts.parse = ~0u;				/* every parser, mail included */
	opts.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;	/* limit hits become visible */
	if (e->alert_encrypted)
		opts.heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE | CL_SCAN_HEURISTIC_ENCRYPTED_DOC;

	rc = scan_call(e, map, &virname, &opts, &c);
	cl_fmap_close(map);

	switch (rc) {
	case CL_CLEAN:
		v_r->status = SCAN_CLEAN;
		break;
	case CL_VIRUS:
		if (virname == NULL)
			virname = c.found;
		if (virname == NULL)
			virname = "Unknown";	/* libclamav said virus without a name */
		if ((why = limit_reason(virname)) != NULL) {
			verdict_unchecked(v_r, why);
		} else if (strncmp(virname, "Heuristics.Encrypted.", 21) == 0) {
			verdict_unchecked(v_r, "encrypted");
		} else {
			v_r->status = SCAN_INFECTED;
			v_r->names[v_r->n_names++] = arena_strndup(a, virname, SCAN_NAME_MAX);
		}
		break;
	case CL_EMAXSIZE:
		verdict_unchecked(v_r, "limit exceeded: max_scansize");
		break;
	case CL_EMAXFILES:
		verdict_unchecked(v_r, "limit exceeded: max_files");
		break;
	case CL_EMAXREC:
		verdict_unchecked(v_r, "limit exceeded: max_recursion");
		break;
	case CL_ETIMEOUT:
		verdict_unchecked(v_r, "limit exceeded: max_scantime");
		break;
	case CL_EFORMAT:
	case CL_EPARSE:
	case CL_EUNPACK:
		/* the content, not the engine: a retry would fail the same way */
		verdict_unchecked(v_r, arena_printf(a, "undecipherable: %s", cl_strerror(rc)));
		break;
	default:
		verdict_unchecked(v_r, arena_printf(a, "scanner failure: %s", cl_strerror(rc)));
		log_error("clamav: scanning a %zu-byte message failed: %s", len, cl_strerror(rc));
		ret = -1;
		break;
	}
	/* an error libclamav only logged: what it skipped was not examined
	 * (a virus it did find stands) */
	if (ret == 0 && c.failure && v_r->status != SCAN_INFECTED) {
		verdict_unchecked(v_r, arena_printf(a, "scanner failure: %s", c.failure));
		log_error("clamav: scanning a %zu-byte message failed: %s", len, c.failure);
		ret = -1;
	}
	if (ret == 0 && v_r->status == SCAN_CLEAN && c.truncated)
		verdict_unchecked(v_r, "limit exceeded: max_filesize");
	/* a top layer that is still not mail means no MIME decoding took
	 * place: never call that clean */
	if (ret == 0 && v_r->status == SCAN_CLEAN && !c.top_is_mail)
		verdict_unchecked(v_r, "not recognised as a mail message");
	v_r->elapsed_us = us_since(&t0);
	log_debug(LOG_DBG_SCAN, "clamav: %s%s%s files=%u %u us",
		  scan_status_name(v_r->status),
		  v_r->n_names ? " " : v_r->reason ? " " : "",
		  v_r->n_names ? v_r->names[0] : v_r->reason ? v_r->reason : "",
		  v_r->n_files, v_r->elapsed_us);
	return ret;
}

/* ---- clamav_scan_mime: one scan per leaf of our own MIME tree ---- */

/* Findings after which our tree may not be what a mail client (or
 * libclamav) sees: the parts were not all split, a body is not decoded
 * the way it claims, or a header section is ambiguous. Such a message is
 * scanned the old way, whole, with libclamav's own MIME parser. */
#define MIME_UNTRUSTED (MIME_FBIT(MIME_F_MISSING_BOUNDARY) | MIME_FBIT(MIME_F_DEPTH_LIMIT) | \
			MIME_FBIT(MIME_F_PARTS_LIMIT) | MIME_FBIT(MIME_F_BAD_CTE) | \
			MIME_FBIT(MIME_F_DECODED_LIMIT) | MIME_FBIT(MIME_F_UNTERMINATED_HEADER) | \
			MIME_FBIT(MIME_F_HEADER_LIMIT) | MIME_FBIT(MIME_F_BAD_HEADER_SYNTAX) | \
			MIME_FBIT(MIME_F_CONTROL_CHAR) | MIME_FBIT(MIME_F_NUL) | \
			MIME_FBIT(MIME_F_BAD_BASE64) | MIME_FBIT(MIME_F_BAD_QP))

/* mime_ambiguous - a part with two Content-Type or Content-Transfer-Encoding fields */
static int mime_ambiguous(const struct mime_msg *m)
{
	const struct mime_header *h;
	unsigned i;

	if (!(m->findings & MIME_FBIT(MIME_F_DUPLICATE_HEADER)))
		return 0;
	for (i = 0; i < m->nparts; i++) {
		h = mime_header_first(m->parts[i], "content-type");
		if (h && mime_header_next(h))
			return 1;
		h = mime_header_first(m->parts[i], "content-transfer-encoding");
		if (h && mime_header_next(h))
			return 1;
	}
	return 0;
}

/* line_prefix - s[0..n) starts with the NUL-terminated pfx, ASCII case ignored */
static int line_prefix(const char *s, size_t n, const char *pfx)
{
	size_t k = strlen(pfx);

	return n >= k && strncasecmp(s, pfx, k) == 0;
}

/* inline_encoded - text that libclamav's mail parser would decode inside a
 * body part: uuencode ("begin 644 name"), yEnc, BinHex 4.0, or a header
 * section (a bounce or an inline forward carrying its own attachments).
 * Scanned as a plain file such text would only be matched as it is. */
static int inline_encoded(const char *s, size_t n)
{
	const char *p = s, *end = s + n, *nl;
	size_t l;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		l = (size_t)((nl ? nl : end) - p);
		if (l >= 7 && (*p == 'b' || *p == 'B') && line_prefix(p, l, "begin ") &&
		    p[6] >= '0' && p[6] <= '7')
			return 1;
		if (*p == '=' && line_prefix(p, l, "=ybegin"))
			return 1;
		if (*p == '(' && line_prefix(p, l, "(This file must be converted with BinHex"))
			return 1;
		if ((*p == 'c' || *p == 'C') && (line_prefix(p, l, "content-type:") ||
						 line_prefix(p, l, "content-transfer-encoding:")))
			return 1;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}

/* leaf_depth - depth of a part as a file: 1 in the message, + 1 per
 * enclosing message/rfc822 (libclamav's numbering for the same message) */
static unsigned leaf_depth(const struct mime_part *p)
{
	unsigned d = 1;

	for (p = p->parent; p; p = p->parent)
		if (p->flags & MIME_PART_RFC822)
			d++;
	return d;
}

/* le16, le32 - little-endian fields of zip records */
static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static unsigned long le32(const unsigned char *p)
{
	return (unsigned long)le16(p) | (unsigned long)le16(p + 2) << 16;
}

/*
 * zip_members - members of a zip archive libclamav must hand to the file
 * inspection callback: not a directory, not empty, not encrypted (those
 * are the clamav_alert_encrypted policy's), and their uncompressed sizes
 * (*bytes_r). Read from the central directory; -1 when data is not a zip
 * with a readable one.
 *
 * libclamav skips a member it cannot inflate (a corrupt stream), or
 * scans only what inflated before the error, with a debug line only, and
 * calls the archive clean; comparing these with the files it did inspect
 * turns that into "undecipherable".
 */
static long zip_members(const unsigned char *d, size_t n, unsigned long long *bytes_r)
{
	size_t i, eocd = SIZE_MAX, off, end, k;
	unsigned long cd_off, cd_size;
	unsigned total;
	long count = 0;

	*bytes_r = 0;
	if (n < 22 || memcmp(d, "PK\003\004", 4) != 0)
		return -1;
	/* the end record: within the last 64 KiB + 22 bytes (its comment) */
	for (i = n - 22 + 1; i-- > 0 && n - i <= 65557;)
		if (memcmp(d + i, "PK\005\006", 4) == 0) {
			eocd = i;
			break;
		}
	if (eocd == SIZE_MAX)
		return -1;
	total = le16(d + eocd + 10);
	cd_size = le32(d + eocd + 12);
	cd_off = le32(d + eocd + 16);
	if (cd_off == 0xffffffffUL || cd_off > eocd || cd_size > eocd - cd_off)
		return -1;	/* zip64 or inconsistent: not judged */
	off = cd_off;
	end = cd_off + cd_size;
	for (k = 0; k < total; k++) {
		unsigned flags, nlen, xlen, clen;
		unsigned long usize;

		if (off + 46 > end || memcmp(d + off, "PK\001\002", 4) != 0)
			return -1;
		flags = le16(d + off + 8);
		usize = le32(d + off + 24);
		nlen = le16(d + off + 28);
		xlen = le16(d + off + 30);
		clen = le16(d + off + 32);
		if (off + 46 + nlen + xlen + clen > end)
			return -1;
		if (!(flags & 1) && usize != 0 && !(nlen > 0 && d[off + 46 + nlen - 1] == '/')) {
			count++;
			*bytes_r += usize;
		}
		off += 46 + nlen + xlen + clen;
	}
	return count;
}

/* scan_one - one cl_scanmap_callback over map, folded into the verdict:
 * 1 a virus (v INFECTED), 0 go on (*reason_r set to the first limit,
 * "encrypted" or "undecipherable" met), -1 scanner failure (v UNCHECKED) */
static int scan_one(struct clamav_engine *e, cl_fmap_t *map, struct cl_scan_options *opts,
		    struct scan_ctx *c, const char **reason_r)
{
	const char *virname = NULL, *why = NULL;
	cl_error_t rc;

	c->found = NULL;
	rc = scan_call(e, map, &virname, opts, c);
	switch (rc) {
	case CL_CLEAN:
		break;
	case CL_VIRUS:
		if (virname == NULL)
			virname = c->found;
		if (virname == NULL)
			virname = "Unknown";
		if ((why = limit_reason(virname)) == NULL) {
			if (strncmp(virname, "Heuristics.Encrypted.", 21) == 0) {
				why = "encrypted";
			} else {
				c->v->status = SCAN_INFECTED;
				c->v->reason = NULL;
				c->v->names[c->v->n_names++] = arena_strndup(c->arena, virname, SCAN_NAME_MAX);
				return 1;
			}
		}
		break;
	case CL_EMAXSIZE:
		why = "limit exceeded: max_scansize";
		break;
	case CL_EMAXFILES:
		why = "limit exceeded: max_files";
		break;
	case CL_EMAXREC:
		why = "limit exceeded: max_recursion";
		break;
	case CL_ETIMEOUT:
		why = "limit exceeded: max_scantime";
		break;
	case CL_EFORMAT:
	case CL_EPARSE:
	case CL_EUNPACK:
		why = arena_printf(c->arena, "undecipherable: %s", cl_strerror(rc));
		break;
	default:
		verdict_unchecked(c->v, arena_printf(c->arena, "scanner failure: %s", cl_strerror(rc)));
		log_error("clamav: scanning a part failed: %s", cl_strerror(rc));
		return -1;
	}
	if (c->failure) {
		/* libclamav logged an error and went on: what it skipped was
		 * not examined (a virus it did find has returned above) */
		verdict_unchecked(c->v, arena_printf(c->arena, "scanner failure: %s", c->failure));
		log_error("clamav: scanning a part failed: %s", c->failure);
		return -1;
	}
	if (why != NULL && *reason_r == NULL)
		*reason_r = why;
	return 0;
}

/* scan_whole - the fallback: clamav_scan_buffer, with why in the debug log */
static int scan_whole(struct clamav_engine *e, const char *data, size_t len, struct arena *a,
		      struct scan_verdict *v_r, const char *why)
{
	log_debug(LOG_DBG_SCAN, "clamav: whole-message scan: %s", why);
	return clamav_scan_buffer(e, data, len, a, v_r);
}

/* one clamav_scan_mime: what its steps share */
struct mime_scan {
	struct clamav_engine *e;
	const char *data;
	size_t len;
	struct mime_msg mc;		/* the caller's tree, copied: decoding spends its budget */
	struct cl_scan_options opts;
	struct scan_ctx c;
	struct arena *scratch;		/* decoded parts, one at a time */
	struct timespec t0;
	const char *reason;		/* first limit, "encrypted" or "undecipherable" met */
	const char *fallback;		/* why the message goes to clamav_scan_buffer instead */
};

/* LEAF_STOP: scan_leaf's "no more leaves" (a limit or a fallback, in s) */
#define LEAF_STOP 2

/* whole_message_why - why m cannot be scanned by its parts, or NULL */
static const char *whole_message_why(const char *data, size_t len, const struct mime_msg *m)
{
	if (m == NULL || m->data != data || m->len != len || len == 0)
		return "no MIME tree";
	if (m->findings & MIME_UNTRUSTED)
		return "MIME structure not trusted";
	if (mime_ambiguous(m))
		return "two Content-Type or -Transfer-Encoding fields";
	return NULL;
}

/* mime_scan_init - s ready for the first pass over (data, len), verdict v_r empty */
static void mime_scan_init(struct mime_scan *s, struct clamav_engine *e, const char *data,
			   size_t len, const struct mime_msg *m, struct arena *a,
			   struct scan_verdict *v_r)
{
	memset(s, 0, sizeof(*s));
	s->e = e;
	s->data = data;
	s->len = len;
	s->mc = *m;
	s->c.arena = a;
	s->c.v = v_r;
	s->c.data = data;
	s->c.len = len;
	s->c.mime = 1;
	s->c.max_recursion = e->max_recursion;
	if (e->max_filesize > TRUNC_SLACK)
		s->c.trunc_at = e->max_filesize - TRUNC_SLACK;
	s->opts.general = CL_SCAN_GENERAL_HEURISTICS;
	s->opts.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
}

/* scan_frame - the whole message as it is, matched raw, nothing parsed
 * (header-, mail- and body-text signatures, preambles and epilogues, the
 * hash of the whole message): scan_one's result. Its files are the
 * leaves' to list, and its bytes and files do not count against the
 * leaves' budgets. Runs after the leaves, also when a limit stopped
 * them (a virus it finds still makes the message INFECTED). */
static int scan_frame(struct mime_scan *s)
{
	unsigned long long bytes = s->c.bytes, nfiles = s->c.nfiles;
	cl_fmap_t *map;
	int r;

	map = looks_like_mail(s->data, s->len) ? cl_fmap_open_memory(s->data, s->len) :
	    cl_fmap_open_handle(&s->c, 0, PREFIX_LEN + s->len, scan_pread, 0);
	if (map == NULL) {
		verdict_unchecked(s->c.v, "scanner failure: cannot map message (out of memory)");
		log_error("clamav: cannot map a %zu-byte message", s->len);
		return -1;
	}
	s->opts.parse = 0;
	s->c.record = 0;
	r = scan_one(s->e, map, &s->opts, &s->c, &s->reason);
	cl_fmap_close(map);
	s->c.bytes = bytes;
	s->c.nfiles = nfiles;
	return r;
}

/* leaf_room - how many decoded bytes p may have within the parser's limits */
static size_t leaf_room(const struct mime_scan *s, size_t bound)
{
	size_t eff = bound;

	if (eff > s->mc.limits.max_decoded_size)
		eff = s->mc.limits.max_decoded_size;
	if (s->mc.limits.max_decoded_total) {
		size_t left = s->mc.limits.max_decoded_total > s->mc.decoded_total ?
		    s->mc.limits.max_decoded_total - s->mc.decoded_total : 0;

		if (eff > left)
			eff = left;
	}
	return eff;
}

/* leaf_decode - p transfer-decoded into *out_r: 0 scan it, 1 skip it
 * (empty, or over max_filesize: reason set), LEAF_STOP (fallback set) */
static int leaf_decode(struct mime_scan *s, struct mime_part *p, const char **out_r,
		       size_t *olen_r)
{
	size_t bound = s->e->max_filesize ? (size_t)s->e->max_filesize : SIZE_MAX;
	size_t eff = leaf_room(s, bound);
	uint32_t fnd = 0;
	int cut;

	if (s->scratch == NULL && (p->cte == MIME_CTE_BASE64 || p->cte == MIME_CTE_QP ||
				   p->body_len > eff))
		s->scratch = arena_create(0);
	cut = mime_part_decode(s->scratch ? s->scratch : s->c.arena, &s->mc, p, bound, out_r,
			       olen_r, &fnd);
	if (fnd & MIME_UNTRUSTED & ~MIME_FBIT(MIME_F_DECODED_LIMIT)) {
		s->fallback = "MIME part not decodable as declared";
		return LEAF_STOP;
	}
	if (cut) {
		if (eff < bound) {
			s->fallback = "MIME decoding limit below max_filesize";
			return LEAF_STOP;
		}
		/* libclamav does not scan a file over max_filesize either */
		if (s->reason == NULL)
			s->reason = "limit exceeded: max_filesize";
		return 1;
	}
	if ((p->cte != MIME_CTE_BASE64 || strcmp(p->type, "text") == 0) &&
	    inline_encoded(*out_r, *olen_r)) {
		s->fallback = "encoded data inside a text part";
		return LEAF_STOP;
	}
	return *olen_r == 0;
}

/* leaf_budgets - after a leaf: a zip member libclamav skipped, and the
 * message's max_scansize, max_files and max_scantime. 0 or LEAF_STOP. */
static int leaf_budgets(struct mime_scan *s, const char *out, size_t olen)
{
	const struct clamav_engine *e = s->e;

	if (s->reason == NULL && s->c.limit == NULL && !s->c.truncated) {
		unsigned long long zbytes;
		long zn = zip_members((const unsigned char *)out, olen, &zbytes);

		if (zn > (long)s->c.level1 || (zn > 0 && zbytes > s->c.level1_bytes))
			s->reason = "undecipherable: a zip member libclamav could not extract";
	}
	if (e->max_scansize && s->c.bytes > e->max_scansize) {
		if (s->reason == NULL)
			s->reason = "limit exceeded: max_scansize";
		return LEAF_STOP;
	}
	if (e->max_files && s->c.nfiles > e->max_files) {
		if (s->reason == NULL)
			s->reason = "limit exceeded: max_files";
		return LEAF_STOP;
	}
	if (e->max_scantime_ms && ms_since(&s->t0) > e->max_scantime_ms) {
		if (s->reason == NULL)
			s->reason = "limit exceeded: max_scantime";
		return LEAF_STOP;
	}
	return 0;
}

/* scan_leaf - one leaf, decoded, as a file of its own: 0 go on, 1 a
 * virus, -1 scanner failure, LEAF_STOP (a limit or a fallback, in s) */
static int scan_leaf(struct mime_scan *s, struct mime_part *p)
{
	const char *out = NULL;
	size_t olen = 0;
	cl_fmap_t *map;
	int r;

	if ((r = leaf_decode(s, p, &out, &olen)) != 0)
		return r == LEAF_STOP ? LEAF_STOP : 0;
	if (s->e->max_scansize && s->c.bytes + olen > s->e->max_scansize) {
		if (s->reason == NULL)
			s->reason = "limit exceeded: max_scansize";
		return LEAF_STOP;
	}
	if ((map = cl_fmap_open_memory(out, olen)) == NULL) {
		verdict_unchecked(s->c.v, "scanner failure: cannot map a part (out of memory)");
		log_error("clamav: cannot map a %zu-byte part", olen);
		return -1;
	}
	s->c.leaf_name = p->filename;
	s->c.leaf_depth = leaf_depth(p);
	s->c.level1 = 0;
	s->c.level1_bytes = 0;
	r = scan_one(s->e, map, &s->opts, &s->c, &s->reason);
	cl_fmap_close(map);
	if (r != 0)
		return r;
	return leaf_budgets(s, out, olen);
}

/* scan_leaves - every leaf in tree order, transfer-decoded, every parser
 * on (mail parsing too, for a leaf that is itself mail: an attached .eml
 * sent as application/octet-stream, TNEF); message/rfc822 parts are
 * listed as files. scan_leaf's result for the last leaf scanned. */
static int scan_leaves(struct mime_scan *s)
{
	unsigned i;
	int r = 0;

	s->opts.parse = ~0u;
	if (s->e->alert_encrypted)
		s->opts.heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
		    CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	s->c.record = 1;
	for (i = 0; i < s->mc.nparts && r == 0; i++) {
		struct mime_part *p = s->mc.parts[i];

		if (!mime_part_is_leaf(p)) {
			if (p->flags & MIME_PART_RFC822)
				(void)record_file(&s->c, p->filename, "CL_TYPE_MAIL", leaf_depth(p),
						  p->body_len);
			continue;
		}
		r = scan_leaf(s, p);
		if (s->scratch)
			arena_reset(s->scratch);
	}
	if (s->scratch)
		arena_free(&s->scratch);
	return r;
}

/* mime_scan_finish - the verdict from the passes' result r (1 a virus,
 * -1 a failure, else clean unless a limit was met); the return value */
static int mime_scan_finish(struct mime_scan *s, int r)
{
	struct scan_verdict *v = s->c.v;
	const char *reason = s->reason;

	if (r < 0)
		goto out;
	if (r != 1) {
		if (reason == NULL)
			reason = s->c.limit;
		if (reason == NULL && s->c.truncated)
			reason = "limit exceeded: max_filesize";
		if (reason)
			verdict_unchecked(v, reason);
		else
			v->status = SCAN_CLEAN;
	}
out:
	v->elapsed_us = us_since(&s->t0);
	log_debug(LOG_DBG_SCAN, "clamav: %s%s%s files=%u %u us (by MIME part)",
		  scan_status_name(v->status),
		  v->n_names ? " " : v->reason ? " " : "",
		  v->n_names ? v->names[0] : v->reason ? v->reason : "",
		  v->n_files, v->elapsed_us);
	return r < 0 ? -1 : 0;
}

int clamav_scan_mime(struct clamav_engine *e, const char *data, size_t len,
		     const struct mime_msg *m, struct arena *a, struct scan_verdict *v_r)
{
	struct mime_scan s;
	const char *why;
	int r;

	if ((why = whole_message_why(data, len, m)) != NULL)
		return scan_whole(e, data, len, a, v_r, why);
	memset(v_r, 0, sizeof(*v_r));
	v_r->scanner = "clamav";
	if ((why = tmp_room(e, len, a)) != NULL) {
		verdict_unchecked(v_r, why);
		log_error("clamav: %s", why);
		return -1;
	}
	mime_scan_init(&s, e, data, len, m, a, v_r);
	/* the leaves first, the frame last: libclamav's own mail scanning
	 * (cli_magic_scan) parses the mail before its raw pass, so a message
	 * that matches both is named as clamscan names it; and a message
	 * that goes to the fallback or has a virus in a part costs no frame */
	r = scan_leaves(&s);
	if (s.fallback)
		return scan_whole(e, data, len, a, v_r, s.fallback);
	if (r == 0 || r == LEAF_STOP) {
		int fr = scan_frame(&s);

		if (fr != 0)
			r = fr;
	}
	return mime_scan_finish(&s, r);
}

/* clamav_scanner_scan - struct scanner adapter: by the MIME tree when there is one */
static int clamav_scanner_scan(void *ctx, const struct scan_input *in, struct scan_verdict *v_r)
{
	if (in->mime != NULL)
		return clamav_scan_mime(ctx, in->data, in->len, in->mime, in->arena, v_r);
	return clamav_scan_buffer(ctx, in->data, in->len, in->arena, v_r);
}

void clamav_scanner(struct clamav_engine *e, struct scanner *s_r)
{
	s_r->name = "clamav";
	s_r->scan = clamav_scanner_scan;
	s_r->ctx = e;
}

/* is_db_file - a file name libclamav's cl_load would read (CLI_DBEXT) */
static int is_db_file(const char *name)
{
	static const char *const ext[] = {
		".db", ".hdb", ".hdu", ".fp", ".sfp", ".mdb", ".mdu", ".hsb", ".hsu",
		".msb", ".msu", ".ndb", ".ndu", ".ldb", ".ldu", ".sdb", ".zmd", ".rmd",
		".pdb", ".gdb", ".wdb", ".cbc", ".ftm", ".cfg", ".cvd", ".cld", ".cud",
		".cdb", ".cat", ".crb", ".idb", ".ioc", ".yar", ".yara", ".pwdb",
		".ign", ".ign2", ".imp", ".sign",
	};
	size_t i, n = strlen(name), m;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		m = strlen(ext[i]);
		if (n > m && strcasecmp(name + n - m, ext[i]) == 0)
			return 1;
	}
	return 0;
}

/* fnv1a - 64-bit FNV-1a over len bytes, continuing from h */
static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len--) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* file_fingerprint - hash of one file's name and stat facts */
static uint64_t file_fingerprint(const char *name, const struct stat *st)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int64_t f[7];

	f[0] = (int64_t)st->st_size;
	f[1] = (int64_t)st->st_mtim.tv_sec;
	f[2] = (int64_t)st->st_mtim.tv_nsec;
	f[3] = (int64_t)st->st_ctim.tv_sec;
	f[4] = (int64_t)st->st_ctim.tv_nsec;
	f[5] = (int64_t)st->st_ino;
	f[6] = (int64_t)st->st_dev;
	h = fnv1a(h, name, strlen(name) + 1);
	return fnv1a(h, f, sizeof(f));
}

/* db_walk - clamav_db_signature's fingerprint, and in *newest_r the newest
 * modification time of the database files (0: none read) */
static int db_walk(const char *path, uint64_t *sig_r, time_t *newest_r, const char **error_r)
{
	static char errbuf[1024];
	struct dirent *de;
	struct stat st;
	char full[4096];
	uint64_t sum = 0;
	unsigned nfiles = 0;
	DIR *d;

	*newest_r = 0;
	if (stat(path, &st) < 0) {
		snprintf(errbuf, sizeof(errbuf), "clamav: database %s: %s", path, strerror(errno));
		*error_r = errbuf;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*sig_r = file_fingerprint(path, &st);
		*newest_r = st.st_mtime;
		return 0;
	}
	if ((d = opendir(path)) == NULL) {
		snprintf(errbuf, sizeof(errbuf), "clamav: database directory %s: %s", path,
			 strerror(errno));
		*error_r = errbuf;
		return -1;
	}
	/* readdir order is not defined: combine the per-file hashes with an
	 * order-independent sum (names make every term distinct) */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !is_db_file(de->d_name))
			continue;
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", path, de->d_name) >= sizeof(full))
			continue;
		if (stat(full, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		sum += file_fingerprint(de->d_name, &st);
		nfiles++;
		if (st.st_mtime > *newest_r)
			*newest_r = st.st_mtime;
	}
	closedir(d);
	*sig_r = fnv1a(sum, &nfiles, sizeof(nfiles));
	return 0;
}

int clamav_db_signature(const char *path, uint64_t *sig_r, const char **error_r)
{
	time_t newest;

	return db_walk(path, sig_r, &newest, error_r);
}
