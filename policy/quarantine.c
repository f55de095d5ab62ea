/*
 * quarantine.c - the file quarantine: one blocked (or flagged) message
 * stored as quarantine_dir/<category>-<mail_id>, the names amavisd's
 * local: quarantine methods use (virus-, banned-, spam-, badh-), plus
 * one line per message in quarantine_dir/index for release tooling.
 *
 * A quarantined file is never seen half-written: it is written under a
 * temporary name in the same directory, fsync()ed and renamed; the
 * directory is fsync()ed after the rename.
 *
 * quarantine_store() (quarantine.h) chooses between that file store and
 * the Redis store (quarantine_store = redis: the message in
 * state_redis_server, as amavisd's SQL quarantine serves several hosts)
 * and indexes every quarantined message in Redis with its host.
 *
 * Left out: gzip (amavisd's spam-%m.gz), subdirectory levels
 * ($quarantine_subdir_levels), SQL and mailbox quarantines, release
 * (release.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/fdio.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/policy.h"
#include "policy/quarantine.h"
#include "state/state.h"

#define QUAR_MODE	0640
#define QUAR_ADDR_MAX	320	/* bytes of one address kept in the index */

/* quarantine_prefix - amavisd's file name prefix per major ccat */
const char *quarantine_prefix(unsigned major)
{
	switch (major) {
	case CC_VIRUS:
		return "virus";
	case CC_BANNED:
		return "banned";
	case CC_UNCHECKED:
		return "unchecked";
	case CC_SPAM:
	case CC_SPAMMY:
		return "spam";
	case CC_BADH:
		return "badh";
	case CC_OVERSIZED:
		return "oversized";
	default:
		return "clean";
	}
}

/* hdr_addr - an address for a header line: printable ASCII only */
static void hdr_addr(struct buf *b, const char *s)
{
	size_t i;

	buf_putc(b, '<');
	for (i = 0; s && s[i] && i < QUAR_ADDR_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		buf_putc(b, c > 0x20 && c < 0x7f ? (char)c : '?');
	}
	buf_putc(b, '>');
}

/* quarantine_prepend - amavisd's envelope lines (decide.h) */
const char *quarantine_prepend(struct message *msg, const struct decide_result *res, size_t *len_r)
{
	struct buf b = BUF_INIT;
	size_t i, nb = 0;
	const char *out;

	buf_puts(&b, "Return-Path: ");
	hdr_addr(&b, msg->sender);
	buf_puts(&b, "\r\nX-Envelope-From: ");
	hdr_addr(&b, msg->sender);
	buf_puts(&b, "\r\nX-Envelope-To:");
	for (i = 0; i < msg->nrcpts; i++) {
		buf_puts(&b, i ? ",\r\n " : " ");
		hdr_addr(&b, msg->rcpts[i].addr);
	}
	buf_puts(&b, "\r\n");
	for (i = 0; res && i < msg->nrcpts && i < res->n; i++) {
		if (!res->r[i].blocked)
			continue;
		buf_puts(&b, nb++ ? ",\r\n " : "X-Envelope-To-Blocked: ");
		hdr_addr(&b, msg->rcpts[i].addr);
	}
	if (nb)
		buf_puts(&b, "\r\n");
	buf_printf(&b, "X-Quarantine-ID: <%s>\r\n", msg->mail_id);
	out = arena_strndup(msg->arena, b.data, b.len);
	*len_r = b.len;
	buf_free(&b);
	return out;
}

/* index_addr - an address for the index: <...>, "%XX" for anything
 * outside printable ASCII and for space, ',' and '%' */
static void index_addr(struct buf *b, const char *s)
{
	size_t i;

	buf_putc(b, '<');
	for (i = 0; s && s[i] && i < QUAR_ADDR_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == ',' || c == '%')
			buf_printf(b, "%%%02X", c);
		else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '>');
}

/* sync_dir - fsync the directory so the rename survives a crash */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* write_lf - write with CR LF line ends turned into LF, as amavisd keeps
 * quarantined mail (mbox-style, readable with the usual tools); a bare CR
 * stays. Written in spans between the CRs, not byte by byte. */
static int write_lf(int fd, const char *p, size_t len)
{
	const char *end = p + len;

	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));

		if (cr == NULL)
			return fd_write_all(fd, p, (size_t)(end - p));
		if (cr + 1 < end && cr[1] == '\n') {
			if (fd_write_all(fd, p, (size_t)(cr - p)) < 0)
				return -1;
			p = cr + 1;	/* the LF is written with the next span */
		} else {
			if (fd_write_all(fd, p, (size_t)(cr + 1 - p)) < 0)
				return -1;
			p = cr + 1;
		}
	}
	return 0;
}

/* quarantine_write - see decide.h.
 *
 * The temporary name starts with '.' and ends in the pid, so a release
 * tool listing the directory never takes it for a quarantined message,
 * and two workers never share one. The index line goes out in one
 * write() on an O_APPEND descriptor, so concurrent workers' lines do
 * not interleave.
 */
int quarantine_write(struct message *msg, const char *dir, unsigned major, const char *prepend,
    size_t prepend_len, const char *data, size_t len, struct quarantine_ref *ref_r,
    const char **error_r)
{
	struct arena *a = msg->arena;
	const char *prefix = quarantine_prefix(major);
	const char *id = arena_printf(a, "%s-%s", prefix, msg->mail_id);
	const char *path = arena_printf(a, "%s/%s", dir, id);
	const char *tmp = arena_printf(a, "%s/.%s.%ld.tmp", dir, id, (long)getpid());
	const char *idx = arena_printf(a, "%s/index", dir);
	struct buf line = BUF_INIT;
	int fd, saved;
	size_t i;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, QUAR_MODE);
	if (fd < 0) {
		*error_r = arena_printf(a, "quarantine: create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, QUAR_MODE) < 0 || (prepend_len && write_lf(fd, prepend, prepend_len) < 0) ||
	    (len && write_lf(fd, data, len) < 0) || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		*error_r = arena_printf(a, "quarantine: write %s: %s", tmp, strerror(saved));
		return -1;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(tmp);
		*error_r = arena_printf(a, "quarantine: close %s: %s", tmp, strerror(saved));
		return -1;
	}
	if (rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		*error_r = arena_printf(a, "quarantine: rename to %s: %s", path, strerror(saved));
		return -1;
	}
	if (sync_dir(dir) < 0) {
		saved = errno;
		unlink(path);
		*error_r = arena_printf(a, "quarantine: fsync %s: %s", dir, strerror(saved));
		return -1;
	}

	/* the index line: time mail_id secret_id category sender rcpts path */
	buf_printf(&line, "%lld %s %s %s ", (long long)time(NULL), msg->mail_id, msg->secret_id, prefix);
	index_addr(&line, msg->sender);
	buf_putc(&line, ' ');
	for (i = 0; i < msg->nrcpts; i++) {
		if (i)
			buf_putc(&line, ',');
		index_addr(&line, msg->rcpts[i].addr);
	}
	buf_printf(&line, " %s\n", path);
	fd = open(idx, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, QUAR_MODE);
	if (fd < 0) {
		saved = errno;
		goto index_failed;
	}
	for (;;) {
		ssize_t w = write(fd, line.data, line.len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || (size_t)w != line.len) {
			saved = w < 0 ? errno : EIO;
			close(fd);
			goto index_failed;
		}
		break;
	}
	close(fd);
	buf_free(&line);
	ref_r->id = id;
	ref_r->path = path;
	return 0;

index_failed:
	buf_free(&line);
	unlink(path);
	*error_r = arena_printf(a, "quarantine: append to %s: %s", idx, strerror(saved));
	return -1;
}

/* ---- the store: file or Redis, and the shared index ---- */

/* quarantine_check - see quarantine.h */
int quarantine_check(const struct cfg *cfg, const char **error_r)
{
	const char *store = cfg_str(cfg, P_QUARANTINE_STORE);

	if (strcmp(store, "file") == 0)
		return 0;
	if (strcmp(store, "redis") != 0) {
		*error_r = "quarantine_store: not file or redis";
		return -1;
	}
	if (*cfg_str(cfg, P_STATE_REDIS_SERVER) == 0) {
		*error_r = "quarantine_store = redis needs state_redis_server";
		return -1;
	}
	return 0;
}

/* lf_copy - prepend + data as quarantine_write() would write them (CR LF
 * made LF), in the arena */
static char *lf_copy(struct arena *a, const char *prepend, size_t plen, const char *data, size_t len,
    size_t *len_r)
{
	char *out = arena_alloc(a, plen + len + 1), *o = out;
	const char *parts[2] = { prepend, data };
	size_t lens[2] = { plen, len }, k, i;

	for (k = 0; k < 2; k++)
		for (i = 0; i < lens[k]; i++)
			if (!(parts[k][i] == '\r' && i + 1 < lens[k] && parts[k][i + 1] == '\n'))
				*o++ = parts[k][i];
	*o = 0;
	*len_r = (size_t)(o - out);
	return out;
}

/* qentry - the index entry of msg */
static void qentry(struct message *msg, unsigned major, const char *location, struct state_qentry *e)
{
	size_t i;

	memset(e, 0, sizeof(*e));
	e->mail_id = msg->mail_id;
	e->secret_id = msg->secret_id;
	e->category = quarantine_prefix(major);
	e->sender = msg->sender;
	e->location = location;
	e->rcpts = arena_allocarray(msg->arena, msg->nrcpts ? msg->nrcpts : 1, sizeof(*e->rcpts));
	for (i = 0; i < msg->nrcpts; i++)
		e->rcpts[i] = msg->rcpts[i].addr;
	e->nrcpts = msg->nrcpts;
}

/*
 * quarantine_store - see quarantine.h.
 *
 * With quarantine_store = redis the message goes to Redis when it fits;
 * otherwise (too large, or Redis failed) it falls back to the file
 * store, so that a quarantine never turns into a tempfail while the
 * disk is there, and the log says the message can be released on this
 * host only.
 */
int quarantine_store(struct message *msg, const struct policy *pol, const struct cfg *cfg, unsigned major,
    const char *prepend, size_t prepend_len, const char *data, size_t len, struct quarantine_ref *ref_r,
    const char **error_r)
{
	struct state_qentry e;
	const char *err = NULL;

	if (pol->state && strcmp(cfg_str(cfg, P_QUARANTINE_STORE), "redis") == 0) {
		size_t max = (size_t)cfg_int(cfg, P_QUARANTINE_REDIS_MAX_SIZE), blen;
		char *body;

		if (prepend_len + len <= max) {
			body = lf_copy(msg->arena, prepend, prepend_len, data, len, &blen);
			qentry(msg, major, QUARANTINE_REDIS_LOCATION, &e);
			if (state_quarantine_put_msg(pol->state, &e, body, blen, time(NULL), &err) == 0) {
				ref_r->id = arena_printf(msg->arena, "%s-%s", quarantine_prefix(major), msg->mail_id);
				ref_r->path = QUARANTINE_REDIS_LOCATION;
				return 0;
			}
			log_warning("id=%s: quarantine in Redis failed (%s): kept in quarantine_dir on this host "
			    "(%s) instead, release it here", msg->am_id, err, state_node(pol->state));
		} else {
			log_info("id=%s: quarantined message of %zu bytes is over quarantine_redis_max_size "
			    "(%zu): kept in quarantine_dir on this host (%s), release it here", msg->am_id,
			    prepend_len + len, max, state_node(pol->state));
		}
	}
	if (quarantine_write(msg, pol->quarantine_dir, major, prepend, prepend_len, data, len, ref_r, error_r) < 0)
		return -1;
	if (pol->state == NULL)
		return 0;
	qentry(msg, major, ref_r->path, &e);
	if (state_quarantine_put(pol->state, &e, time(NULL), &err) < 0)
		log_error("id=%s: quarantine index in Redis not written (%s): %s is at %s; release it "
		    "from this host", msg->am_id, err, msg->mail_id, ref_r->path);
	return 0;
}
