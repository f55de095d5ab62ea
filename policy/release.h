/*
 * release.h - taking a message out of the quarantine (policy/quarantine.c:
 * the file store, or Redis with quarantine_store = redis) and delivering
 * it: one function, release_message(), for the AM.PDP release request
 * (workers/ampdp.c) and "tollgate release" (ops/tollgate_state.c), like
 * amavisd's msg_from_quarantine. As in amavisd, a release leaves the
 * message in the quarantine: it may be released again (to the same or
 * other recipients) until it expires.
 *
 * Finding it: the Redis index (state_redis_server) first, then
 * quarantine_dir/index. A Redis entry says which host stored it; a
 * file-stored message of another host is not read here (a path names a
 * file on its own host): the answer is RELEASE_ELSEWHERE, "release it on
 * that host".
 *
 * The pieces: the index (quarantine_dir/index, one line per message:
 * "time mail_id secret_id category <sender> <rcpt>,<rcpt> path",
 * addresses %XX-escaped), the quarantined file read as it is (LF
 * lines), its envelope lines (Return-Path, X-Envelope-From,
 * X-Envelope-To, X-Envelope-To-Blocked, X-Quarantine-ID, which
 * quarantine_prepend() put on top) found and skipped, the rest turned
 * into a CR LF spool, and the delivery of the recipients through their
 * forward methods (routing as for passed mail).
 *
 * Everything is allocated in the caller's arena. No secret is checked
 * here: the callers decide who may release what.
 */
#ifndef TG_POLICY_RELEASE_H
#define TG_POLICY_RELEASE_H

#include <stddef.h>
#include <time.h>

#include "lib/cfg.h"
#include "lib/message.h"

struct arena;
struct deliver_cache;
struct policy;

#define RELEASE_INDEX_LINE 65536	/* longest index line considered */
#define RELEASE_FILE_MAX (512UL * 1024 * 1024)	/* largest quarantined file read */

/* one line of quarantine_dir/index */
struct release_index {
	time_t time;
	const char *mail_id, *secret_id, *category, *sender, *path;
	const char **rcpts;		/* decoded, without angle brackets */
	size_t nrcpts;
};

/* release_index_find - the index line of mail_id (or, when mail_file is
 * not NULL, of the file with that base name) in dir/index: 1 found, 0
 * not (also when there is no index; *why_r says so), -1 unreadable
 * with *why_r */
int release_index_find(struct arena *a, const char *dir, const char *mail_id, const char *mail_file,
    struct release_index *e_r, const char **why_r);

/* release_index_list - every well-formed line of dir/index with a time
 * at or after since (0: all), newest first; 0, or -1 with *why_r (no
 * index: 0 entries) */
int release_index_list(struct arena *a, const char *dir, time_t since, struct release_index **list_r,
    size_t *n_r, const char **why_r);

/* the envelope lines at the top of a quarantined file */
struct release_env {
	const char *sender;		/* Return-Path / X-Envelope-From, NULL if none */
	const char **all, **blocked;	/* X-Envelope-To, X-Envelope-To-Blocked */
	size_t nall, nblocked, cap_all, cap_blocked;
	const char *qid;		/* X-Quarantine-ID without <> */
	size_t skip;			/* where the original message starts */
};

/* release_envelope - read the envelope lines (and the fields amavisd
 * skips there too: Delivered-To, X-Amavis-*, X-Spam-*, X-CRM114-*) up to
 * the first other field; data has LF (or CR LF) lines */
void release_envelope(struct arena *a, const char *data, size_t len, struct release_env *e);

/* release_read_file - the whole regular file at path (not through a
 * final symlink, at most RELEASE_FILE_MAX bytes), NUL-terminated, in a;
 * 0, or -1 with *why_r ("File ... does not exist", ...) */
int release_read_file(struct arena *a, const char *path, char **data_r, size_t *len_r, const char **why_r);

/* release_load - release_read_file() and release_envelope() of the
 * quarantined file at path, whose X-Quarantine-ID must be mail_id; 0,
 * or -1 with *why_r */
int release_load(struct arena *a, const char *path, const char *mail_id, char **data_r, size_t *len_r,
    struct release_env *env, const char **why_r);

/* release_path_ok - path names a file directly in dir (not a dot file);
 * dir "" accepts any absolute path whose base name is CATEGORY-MAIL_ID
 * of mail_id */
int release_path_ok(const char *path, const char *dir, const char *mail_id);

/* release_spool - msg->spool from data[skip..len) with every bare LF
 * made CR LF (tmp_dir and mem_limit as spool_create()); 0, or -1 with
 * *why_r */
int release_spool(struct message *msg, const char *tmp_dir, size_t mem_limit, const char *data, size_t len,
    size_t skip, const char **why_r);

/* release_deliver - every undecided recipient of msg through its forward
 * method (pol->route when set, else forward_method of cfg), one
 * transaction per method; each recipient ends with a code and reply
 * (a 451 when its method could not be found or nothing answered) */
void release_deliver(struct deliver_cache *dc, const struct cfg *cfg, const struct policy *pol,
    struct message *msg);

/* ---- one release ---- */

enum release_status {
	RELEASE_DONE = 0,		/* delivered: each recipient of msg has its code and reply */
	RELEASE_NOT_FOUND,		/* in no index, or expired */
	RELEASE_DENIED,			/* secret_id missing (when needed) or wrong */
	RELEASE_ELSEWHERE,		/* in the file store of another host */
	RELEASE_FAILED,			/* Redis, the index, the file or the spool failed: try again */
};

/* what the caller brings: its configuration, policy (forward methods and
 * the Redis state) and where to spool */
struct release_ctx {
	const struct cfg *cfg;
	const struct policy *pol;
	struct deliver_cache *dc;	/* NULL: one for this release */
	const char *tmp_dir;		/* spool directory */
};

/* what is asked, as amavisd-release asks it */
struct release_req {
	const char *id;			/* MAIL_ID, or the file name CATEGORY-MAIL_ID */
	const char *mail_file;		/* AM.PDP mail_file (file index only), or NULL */
	const char *secret_id;		/* NULL or "": none given */
	int need_secret;		/* a missing secret_id is refused */
	const char *sender;		/* NULL: the quarantined envelope sender */
	const char *const *rcpts;	/* none: the blocked recipients, else all */
	size_t nrcpts;
	const char *listener, *client_addr, *client_port, *local_addr, *local_port; /* for msg */
};

struct release_result {
	enum release_status status;
	const char *why;		/* anything but RELEASE_DONE: the reason, amavisd's words where it has them */
	const char *mail_id, *category, *host;	/* once found; host "" when unknown */
	int from_redis;			/* the message was stored in Redis */
	struct message *msg;		/* RELEASE_DONE: sender and recipients with replies (nrcpts may be 0) */
	size_t accepted;		/* recipients with a 2xx */
};

/* release_message - find rq->id, check the secret, load the message,
 * deliver it to its recipients through their forward methods; the
 * outcome in *res, everything in a. Logs nothing: the caller does. */
void release_message(struct arena *a, const struct release_ctx *ctx, const struct release_req *rq,
    struct release_result *res);

#endif
