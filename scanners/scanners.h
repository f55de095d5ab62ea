/*
 * scanners.h - the scanner interface: every content scanner turns one
 * whole message into one verdict; ClamAV (libclamav, in-process) is the
 * first scanner behind it.
 *
 * Verdict. A scan fills a struct scan_verdict:
 *   SCAN_CLEAN      the scanner looked at everything and found nothing;
 *   SCAN_INFECTED   names[] holds what was found (at least one name);
 *   SCAN_UNCHECKED  the message could not be fully checked: a limit was
 *                   hit (max_scansize, max_filesize, max_recursion,
 *                   max_files, max_scantime), an encrypted archive, or
 *                   the engine failed. reason says which, e.g.
 *                   "limit exceeded: max_scansize". UNCHECKED is never
 *                   to be read as clean (amavisd's CC_UNCHECKED).
 * files[] lists every embedded file the engine met (name, detected
 * type, depth) for the banned-files check; the top-level message itself
 * (depth 0) is not listed. Names are raw peer data (cut to
 * SCAN_NAME_MAX bytes): escape them before logging. Everything in a
 * verdict is allocated from the arena the caller passed and lives as
 * long as that arena (the message).
 *
 * ClamAV life cycle (DESIGN.md "Process model"):
 *   master:  clamav_engine_load() once, BEFORE forking the workers; the
 *            compiled engine (hundreds of MB with a full database) is
 *            then shared copy-on-write by every worker;
 *   workers: only clamav_scan_buffer() / clamav_scan_mime() (and
 *            clamav_engine_info()).
 *            They never load, compile, change or free the engine;
 *   reload:  the master polls clamav_db_signature() (or reloads on
 *            SIGHUP), builds a NEW engine with clamav_engine_load()
 *            beside the old one, and on success swaps the pointer so
 *            newly forked workers get the new engine; on failure it
 *            keeps the old engine and logs the error. The old engine is
 *            freed with clamav_engine_free() only after every worker
 *            forked with it has been rolled (exited). Until then the
 *            master holds both, so a reload briefly needs twice the
 *            engine's memory. Signature reload never stops service.
 * libclamav's global state (cl_init, its log hook) is set up once per
 * process by the first clamav_engine_load().
 *
 * Errors: functions return 0 on success and -1 on error with a reason in
 * *error_r (static storage, valid until the next call of the same
 * function); scans report through the verdict, see clamav_scan_buffer.
 */
#ifndef TG_SCANNERS_H
#define TG_SCANNERS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct arena;

/* bounds of one verdict */
#define SCAN_MAX_NAMES 8	/* names[] kept; more are counted, not kept */
#define SCAN_MAX_FILES 512	/* files[] kept; more are counted in files_dropped */
#define SCAN_NAME_MAX 255	/* bytes kept of one file name or virus name */

enum scan_status {
	SCAN_CLEAN = 0,
	SCAN_INFECTED,
	SCAN_UNCHECKED,
	SCAN_BANNED,		/* banned_scanner: reason is amavisd's %F (content.h) */
	SCAN_BAD_HEADER,	/* badh_scanner: reason is the text, kind the CC_BADH_* minor */
};

/* one embedded file as the engine saw it */
struct scan_file {
	const char *name;	/* attachment or archive member name; NULL if none */
	const char *type;	/* engine's type from magic, e.g. "CL_TYPE_ZIP" */
	unsigned depth;		/* 1 = directly in the message, 2 = inside that, ... */
	size_t size;		/* bytes after decoding/extraction */
};

struct scan_verdict {
	const char *scanner;		/* "clamav" */
	enum scan_status status;
	const char *names[SCAN_MAX_NAMES];	/* INFECTED: what was found */
	unsigned n_names;
	const char *reason;		/* UNCHECKED: why; else NULL */
	struct scan_file *files;	/* embedded files, in scan order */
	unsigned n_files;
	unsigned files_dropped;		/* files met beyond SCAN_MAX_FILES */
	unsigned elapsed_us;		/* wall-clock time of the scan */
	unsigned kind;			/* BAD_HEADER: its CC_BADH_* minor (lib/category.h) */
};

/* scan_status_name - "CLEAN", "INFECTED", "UNCHECKED", "BANNED" or "BAD-HEADER" */
static inline const char *scan_status_name(enum scan_status s)
{
	return s == SCAN_CLEAN ? "CLEAN" : s == SCAN_INFECTED ? "INFECTED" : s == SCAN_BANNED ? "BANNED" :
	    s == SCAN_BAD_HEADER ? "BAD-HEADER" : "UNCHECKED";
}

/*
 * The scanner interface: the worker runs a message's content scanners
 * one after the other, each through a struct scanner, and reads each
 * one's verdict: ClamAV (clamav_scanner), banned names and types
 * (banned_scanner) and a bad header section (badh_scanner, content.h).
 * Each is given the whole message as a struct scan_input: the raw
 * bytes, the MIME tree parsed once for all of them, and the verdicts of
 * the scanners that ran before it (the banned check reads the files
 * ClamAV met inside archives). Returns as clamav_scan_buffer(): 0 with
 * a verdict (*v_r always filled from in->arena), -1 when the scanner
 * itself failed (UNCHECKED, "scanner failure: ..."): the message is
 * tempfailed, never passed as if it had been checked.
 *
 * Spam scoring (spam.h) is not behind this interface, on purpose: its
 * answer depends on the envelope (recipients, client, HELO, queue id;
 * spamd's per-user settings for a single recipient), it is a score that
 * each recipient's levels read, not a verdict, and its failure passes
 * the message unscored where a scanner failure here tempfails it.
 *
 * A handle is a name, a function and a context (the engine, the
 * compiled rules): cheap, so the worker fills its handles per message
 * from the engine and the policy of the banks chosen for it. Its ctx
 * must outlive it; scanning never changes it.
 */
struct mime_msg;

struct scan_input {
	const char *data;		/* the whole raw message */
	size_t len;
	const struct mime_msg *mime;	/* mime_parse()'s tree of (data, len); NULL: none */
	const struct scan_verdict *earlier;	/* verdicts of the scanners run before, in order */
	unsigned n_earlier;
	struct arena *arena;		/* the message's: verdicts are allocated here */
};

struct scanner {
	const char *name;		/* "clamav", "banned", "badh" */
	int (*scan)(void *ctx, const struct scan_input *in, struct scan_verdict *v_r);
	void *ctx;
};

/* scanner_scan - run one scanner on one message */
static inline int scanner_scan(const struct scanner *s, const struct scan_input *in, struct scan_verdict *v_r)
{
	return s->scan(s->ctx, in, v_r);
}

/* ---- ClamAV (scan_clamav.c) ---- */

/* Engine settings; a 0 limit keeps libclamav's own default (shown). */
struct clamav_opts {
	const char *db_path;		/* database directory, or one database file */
	unsigned long long max_filesize;	/* largest single file scanned (100M) */
	unsigned long long max_scansize;	/* most bytes scanned per message (400M) */
	unsigned max_recursion;		/* deepest nesting of containers (17) */
	unsigned max_files;		/* most files per message (10000) */
	unsigned max_scantime_ms;	/* wall-clock budget per message (120000) */
	const char *tmp_dir;		/* where libclamav writes extracted parts (NULL: $TMPDIR or /tmp) */
	int alert_encrypted;		/* 1: encrypted archives/documents are UNCHECKED ("encrypted") */
	/* 1: libclamav's cache of clean-file hashes. Off by default: a layer
	 * found in the cache is not opened again, so files[] would miss the
	 * members of an archive already seen clean, and the cache is written
	 * by every worker (copy-on-write pages). */
	int enable_cache;
};

struct cfg;

/* clamav_opts_from_cfg - o from the clamav_* settings of cfg (strings
 * point into cfg); an empty db_path means scanning is off
 * (clamav_cfg.c) */
void clamav_opts_from_cfg(const struct cfg *cfg, struct clamav_opts *o);

struct clamav_engine;

/* what a loaded engine is, for logs and the control tool */
struct clamav_engine_info {
	const char *db_path;
	unsigned signatures;		/* as counted by cl_load */
	unsigned load_ms;		/* cl_load + cl_engine_compile, wall clock */
	uint64_t db_signature;		/* clamav_db_signature() before loading */
	const char *version;		/* libclamav version string */
	time_t db_time;			/* build time of the signatures (newest .cvd/.cld
					 * header, else newest file's mtime) */
	time_t loaded_at;		/* when this engine was compiled */
};

/*
 * clamav_engine_load - build and compile an engine from o->db_path
 *
 * cl_init (first call only), cl_engine_new, limits from o, cl_load with
 * CL_DB_STDOPT, cl_engine_compile. Logs one info line with the
 * signature count and load time. Call in the master, never in a worker.
 * On error (*error_r names the path and libclamav's reason) nothing is
 * allocated and *eng_r is untouched.
 */
int clamav_engine_load(const struct clamav_opts *o, struct clamav_engine **eng_r,
		       const char **error_r);

/* clamav_engine_free - release an engine no process scans with any more; sets *ep to NULL */
void clamav_engine_free(struct clamav_engine **ep);

/* clamav_engine_set_tmpdir - in a worker, after fork: libclamav's temp
 * files go to dir (the worker's private directory, which the master
 * removes when it reaps the worker). Changes only this process's
 * copy-on-write view of the engine (one page). 0, or -1 with *error_r. */
int clamav_engine_set_tmpdir(struct clamav_engine *e, const char *dir, const char **error_r);

/* clamav_engine_info - facts about a loaded engine (owned by it) */
const struct clamav_engine_info *clamav_engine_info(const struct clamav_engine *e);

/*
 * clamav_scan_buffer - scan one whole raw RFC 822 message in memory
 *
 * libclamav does the MIME work itself (multipart, base64/QP/uuencode,
 * nested message/rfc822, archives) within the engine's limits. The
 * verdict *v_r is always filled (from arena a). Returns:
 *    0  a verdict was reached: CLEAN, INFECTED, or UNCHECKED because a
 *       limit was hit ("limit exceeded: max_..."), content was encrypted
 *       ("encrypted") or could not be decoded ("undecipherable: ...");
 *   -1  the scanner itself failed (temp files, memory, I/O): status is
 *       UNCHECKED with reason "scanner failure: ...". amavisd answers
 *       that with a temporary failure (451 4.5.0), not with a pass.
 * With the engine's clean-file cache off (the default) files[] is
 * complete up to SCAN_MAX_FILES. libclamav calls a MIME part without a
 * file name "attachment"; its own temp-file names are reported as NULL.
 * Virus names are libclamav's, e.g. "Eicar-Test-Signature"; signatures
 * from unsigned databases (.hdb, .ndb, ... outside a .cvd/.cld) carry
 * libclamav's ".UNOFFICIAL" suffix, as clamd shows them.
 * Read-only on the engine: safe in any number of forked workers.
 * libclamav may write extracted parts under tmp_dir during the scan and
 * removes them before returning.
 */
int clamav_scan_buffer(struct clamav_engine *e, const char *data, size_t len,
		       struct arena *a, struct scan_verdict *v_r);

/*
 * clamav_scan_mime - scan a message by the parts of our own MIME tree
 *
 * m is mime_parse()'s tree of exactly (data, len). Same verdict, return
 * values, names and files[] as clamav_scan_buffer(), at a fraction of the
 * cost: libclamav is not asked to parse the mail (that writes every part
 * to a temp file); instead
 *   1. every leaf part is transfer-decoded (mime_part_decode, at most
 *      max_filesize bytes) and scanned from memory as a file of its own,
 *      every libclamav parser on (archives, documents, executables, and
 *      mail for a leaf that is itself a message); a single-part message
 *      is one leaf, its decoded body. message/rfc822 parts are already
 *      opened by the parser: their leaves are in the tree.
 *   2. then the whole raw message is matched once as it is, nothing
 *      parsed (signatures on headers, mail text, preamble and epilogue,
 *      the whole message's hash), unless a leaf had a virus or the
 *      message goes to the fallback below. This is libclamav's own
 *      order for mail (parsed parts, then the raw pass), so a message
 *      matching signatures in both is named as clamscan names it
 *      (tests/integration/t_detect_equiv.sh).
 * files[] lists each leaf with its MIME file name (NULL if none) and
 * libclamav's type, each message/rfc822 part as "CL_TYPE_MAIL", and what
 * libclamav finds inside a leaf, depths counted from the message (a leaf
 * is at 1, plus 1 per enclosing message/rfc822).
 * The engine's limits hold for the message as a whole: max_scansize and
 * max_files over all parts, max_recursion from the message, a leaf over
 * max_filesize is not scanned (UNCHECKED), max_scantime over all calls.
 * libclamav applies each limit per call as well, so one message may cost
 * up to twice max_scansize / max_scantime of work before it stops.
 *
 * Fallback rule: the message is scanned whole with clamav_scan_buffer()
 * instead (libclamav's own MIME parser, the slow path) whenever the tree
 * may not show what a mail client would see - malformed MIME must never
 * be a way around the scanner:
 *   - m is NULL or not of (data, len);
 *   - any of the findings MISSING_BOUNDARY, DEPTH_LIMIT, PARTS_LIMIT,
 *     BAD_CTE, DECODED_LIMIT, UNTERMINATED_HEADER, HEADER_LIMIT,
 *     BAD_HEADER_SYNTAX, CONTROL_CHAR, NUL, BAD_BASE64, BAD_QP (also when
 *     found while decoding a leaf here);
 *   - a part with two Content-Type or Content-Transfer-Encoding fields;
 *   - a leaf cut by the parser's decoded-size limits below max_filesize;
 *   - a textual leaf holding what libclamav's mail parser would decode
 *     inside a body: uuencode, yEnc, BinHex, or a line starting with
 *     Content-Type: / Content-Transfer-Encoding: (bounce, inline forward).
 * The tree is not changed, except that findings met while decoding are
 * ORed into the parts' own findings (mime_part_decode); m's decoded-size
 * budget is not spent. Decoded parts live in a scratch arena, one part
 * at a time. Read-only on the engine, like clamav_scan_buffer().
 */
struct mime_msg;
int clamav_scan_mime(struct clamav_engine *e, const char *data, size_t len,
		     const struct mime_msg *m, struct arena *a, struct scan_verdict *v_r);

/* clamav_scanner - the generic handle for an engine (e must outlive s) */
void clamav_scanner(struct clamav_engine *e, struct scanner *s_r);

/*
 * clamav_db_signature - cheap fingerprint of a database dir (or file)
 *
 * Combines name, size, mtime, ctime and inode of every file libclamav
 * would load (*.cvd, *.cld, *.hdb, *.ndb, *.ldb, ...), so an updated,
 * replaced, added or removed database file changes the value. Reads
 * directory entries and stat()s only: cheap enough for the master to
 * call every few seconds. A different value means "reload".
 */
int clamav_db_signature(const char *path, uint64_t *sig_r, const char **error_r);

#endif
