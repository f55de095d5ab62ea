/*
 * state.h - policy state shared in Redis by every worker of every node:
 * counters per policy bank, rate limits, pen pals, the record of
 * completed deliveries (exactly-once across Postfix retries) and the
 * quarantine index.
 *
 * Life cycle: state_create() in the master (no connection is made) →
 * fork → any state_*() call in a worker connects lazily; a connection
 * made by another pid is never used (it is dropped and remade), so one
 * state object may be created before fork and shared by all workers →
 * state_free(&st). One connection per state object per process.
 *
 * Every call is bounded: connect and each reply wait at most timeout_ms.
 * A call that finds its connection broken (server restarted) reconnects
 * once and retries, but only when the server closed the connection
 * (nothing was executed); a timeout is never retried, so a counter is
 * not counted twice. After a failed connect or a timeout, calls fail at
 * once for retry_ms (a dead or hung server costs one timeout per
 * retry_ms, not one per call); the next call after
 * that tries again, so a restarted server is found without recreating
 * the object. The process must ignore SIGPIPE (hiredis uses write()).
 * The module logs a warning when Redis goes away and an info
 * line when it is back; the caller logs what it did about a failure
 * (each function below says what that should be).
 *
 * Return values: 0 success, -1 failure of Redis (unreachable, timeout,
 * error reply) with *error_r set to text owned by st, valid until the
 * next call on st. Functions with a found/not found outcome say so.
 * A failure is never reported as "not found".
 *
 * Keys (P = key_prefix, default "tollgate:"; {...} is the Redis Cluster
 * hash tag, so keys that are used together share a slot):
 *
 *   P{stats}:total            hash  fields "m|BANK|CAT" (messages) and
 *                                   "b|BANK|CAT" (bytes); no TTL
 *   P{stats}:min:MINUTE       hash  same fields for one minute (MINUTE =
 *                                   unix time / 60); TTL 17 minutes
 *   P{stats}:seen             hash  field NODE = unix time of NODE's last
 *                                   counted message; no TTL
 *   P{rl:KIND:KEY}:WIN:START  string  counter of the fixed window of WIN
 *                                   seconds that began at START;
 *                                   TTL WIN + 60 s (clock skew)
 *   P{pp:RCPT}:SENDER         string  unix time of the last outgoing mail
 *                                   from SENDER to RCPT; TTL penpals_ttl
 *   P{dlv:QID}:DIGEST         hash  field RCPT = "UNIXTIME NOTE": RCPT was
 *                                   delivered; TTL delivered_ttl
 *   P{q:MAIL_ID}              hash  one quarantined message (fields
 *                                   secret, category, sender, location,
 *                                   host, time, size, nrcpt, rcpt:0 ...
 *                                   rcpt:N-1); TTL quarantine_ttl (0: none)
 *   P{q:MAIL_ID}:msg          string  the quarantined message itself
 *                                   (quarantine_store = redis: envelope
 *                                   lines and message, LF line ends, as
 *                                   the file would hold it); same TTL
 *   P{qidx}                   zset  member MAIL_ID, score time of
 *                                   quarantine; trimmed to quarantine_ttl
 *
 * KEY, RCPT and SENDER come from peers: they are lower-cased (rate limit
 * and pen pal keys; a delivered RCPT field is kept as given) and used as
 * they are when at most 128 bytes of printable ASCII without space, '{'
 * or '}'; otherwise they become "#" plus the first 32 hex digits of
 * their SHA-256, so a key never holds spaces, control characters, a
 * second hash tag or unbounded peer data. The hashing is deliberately
 * unseeded: every node must compute the same key. The null sender is
 * "<>". BANK and CAT come from the configuration; '|' in them is
 * replaced by '_'. The key prefix may not contain '{' or '}'.
 *
 * Deliberately left out: Redis Cluster redirections (MOVED/ASK; the keys
 * are ready for a cluster proxy or a future cluster client), Sentinel,
 * TLS to Redis.
 */
#ifndef TG_STATE_H
#define TG_STATE_H

#include <stddef.h>
#include <time.h>

struct arena;
struct state;

#define STATE_DIGEST_HEX 65		/* SHA-256 in hex plus NUL */

struct state_opts {
	const char *server;		/* "host:port", "[v6]:port", "unix:/path" or "/path";
					 * NULL: 127.0.0.1:6379 */
	int db;				/* SELECT db when not 0 */
	const char *password;		/* AUTH when not NULL or "" */
	const char *sentinel_password;	/* AUTH to the sentinels of a sentinel: server */
	const char *key_prefix;		/* NULL: "tollgate:" */
	int timeout_ms;			/* connect and each reply; default 1000 */
	int retry_ms;			/* fail at once this long after a failed
					 * connect; default 1000, 0: always retry */
	unsigned delivered_ttl;		/* seconds; default 5 days (> Postfix's
					 * maximal_queue_lifetime) */
	unsigned penpals_ttl;		/* seconds; default 30 days */
	unsigned quarantine_ttl;	/* seconds; default 30 days, 0: no expiry */
	const char *node;		/* this host's name in P{stats}:seen;
					 * NULL or "": gethostname() */
};

/* state_opts_init - the defaults above */
void state_opts_init(struct state_opts *o);

struct cfg;
/* state_opts_from_cfg - the defaults, then what cfg sets: state_redis_*
 * (server, password, db, timeout), redis_sentinel_password,
 * state_key_prefix, the TTLs, myhostname as the node's name. The strings
 * stay cfg's. */
void state_opts_from_cfg(struct state_opts *o, const struct cfg *cfg);

/* state_create - check o and copy it; no connection yet. 0, or -1 with
 * *error_r (static text) on a bad server or prefix */
int state_create(struct state **st_r, const struct state_opts *o, const char **error_r);
/* state_free - close our connection (only ours after fork), set *stp NULL */
void state_free(struct state **stp);

/* state_digest - SHA-256 of data as 64 lower-case hex digits into out;
 * the DIGEST of a delivered key, computed over the spooled content */
void state_digest(const void *data, size_t len, char out[STATE_DIGEST_HEX]);

/*
 * Counters. state_count_message adds one message of bytes bytes to the
 * total and to the current minute of BANK/CATEGORY and sets this node's
 * last-seen time, in one pipeline (one round trip). On failure: continue, the message is not counted
 * (log a warning).
 */
int state_count_message(struct state *st, const char *bank, const char *category, size_t bytes,
    time_t now, const char **error_r);

struct state_stat_row {
	const char *bank, *category;
	unsigned long long msgs, bytes;			/* since the counters began */
	unsigned long long msgs_1m, msgs_5m, msgs_15m;	/* in the last 1/5/15 minutes */
	unsigned long long bytes_1m, bytes_5m, bytes_15m;
};

struct state_stats {
	struct state_stat_row *rows;	/* sorted by bank, then category */
	size_t n;
};

/* state_stats_read - totals and recent counts of every node sharing the
 * Redis, rows in a (one round trip). "Last N minutes" is the current,
 * partial minute plus the N-1 before it, so a rate per minute is
 * msgs_Nm / N at best approximate. On failure: `tollgate stats` reports
 * the error. */
int state_stats_read(struct state *st, time_t now, struct arena *a, struct state_stats *out,
    const char **error_r);

struct state_node {
	const char *name;
	time_t last_seen;		/* unix time of its last counted message */
};

/* state_nodes_read - every node that has counted a message, with its
 * last-seen time, sorted by name, in a (one round trip) */
int state_nodes_read(struct state *st, struct arena *a, struct state_node **nodes_r, size_t *n_r,
    const char **error_r);

/*
 * Rate limits: a fixed window of window_s seconds, starting at a
 * multiple of window_s (unix time), counted across all nodes. kind is a
 * short lower-case word ("sender", "client", "sasl"), key the sender
 * address, client IP or SASL login. state_rate_hit counts one hit
 * (SET NX EX + INCR in one round trip) and gives the count in the
 * window including this hit. On failure: rate_limit_failure_action,
 * i.e. continue without the limit (default) or tempfail.
 */
int state_rate_hit(struct state *st, const char *kind, const char *key, unsigned window_s,
    time_t now, unsigned long *count_r, const char **error_r);

/*
 * Pen pals. state_penpals_record: outgoing mail from sender to each of
 * rcpts (one round trip); the null sender ("") records nothing. On
 * failure: continue (log a warning); only the bonus of later replies is
 * lost.
 * state_penpals_seen: for incoming mail from sender to each of rcpts,
 * seen_r[i] = 1 when rcpts[i] sent mail to sender within penpals_ttl
 * (one round trip); the null sender is never a pen pal. On failure:
 * continue without the bonus; seen_r is all 0.
 */
int state_penpals_record(struct state *st, const char *sender, const char *const *rcpts,
    size_t n, time_t now, const char **error_r);
int state_penpals_seen(struct state *st, const char *sender, const char *const *rcpts,
    size_t n, int *seen_r, const char **error_r);

/*
 * Completed deliveries, so that Postfix's retry of a message some of
 * whose recipients were already delivered skips those. queue_id is
 * Postfix's (XFORWARD IDENT), digest from state_digest() of the content.
 * A NULL or empty queue_id turns the feature off: get reports none
 * delivered and set records nothing (both return 0, no round trip).
 *
 * state_delivered_get: done_r[i] = the note recorded for rcpts[i] (in a),
 * or NULL when not delivered. On failure: delivered_failure_action,
 * i.e. deliver to all (default: a duplicate is possible, no loss) or
 * tempfail the message.
 * state_delivered_set: record rcpts as delivered, with note (e.g. the
 * downstream "queued as" id, may be NULL); call it right after the
 * downstream success and before replying to Postfix. On failure:
 * continue (log a warning): a later retry may deliver these again.
 */
int state_delivered_get(struct state *st, const char *queue_id, const char *digest,
    const char *const *rcpts, size_t n, struct arena *a, const char **done_r,
    const char **error_r);
int state_delivered_set(struct state *st, const char *queue_id, const char *digest,
    const char *const *rcpts, size_t n, const char *note, time_t now, const char **error_r);

/*
 * Quarantine index (and, with quarantine_store = redis, the quarantined
 * message itself), so a listing and a release work from any node.
 * state_quarantine_put: index one quarantined message (one round trip);
 * its host is this state's node name (the host that holds a file-stored
 * message). mail_id and secret_id: 1 to 32 characters of [A-Za-z0-9_-].
 * On failure the message stays quarantined where it was written, the
 * caller logs an error with mail_id and location (release on that host
 * only).
 * state_quarantine_put_msg: the same plus the message bytes (data, len)
 * under P{q:MAIL_ID}:msg with the same TTL; location should be "redis".
 * On failure nothing usable is left in Redis: the caller keeps the
 * message in the file store instead.
 */
struct state_qentry {
	const char *mail_id, *secret_id, *category, *sender, *location;
	const char **rcpts;
	size_t nrcpts;
	time_t time;
	const char *host;		/* node that quarantined it (get, list); ""
					 * when the entry predates the field */
	size_t size;			/* bytes held in P{q:MAIL_ID}:msg, 0: none */
};

int state_quarantine_put(struct state *st, const struct state_qentry *e, time_t now,
    const char **error_r);
int state_quarantine_put_msg(struct state *st, const struct state_qentry *e, const char *data,
    size_t len, time_t now, const char **error_r);

/* state_quarantine_msg - the message stored with mail_id, in a
 * (NUL-terminated; *len_r without the NUL): 1 found, 0 not (expired, or
 * a file-stored entry), -1 failure */
int state_quarantine_msg(struct state *st, const char *mail_id, struct arena *a, char **data_r,
    size_t *len_r, const char **error_r);

/* state_node - this object's node name (state_opts.node or the system
 * host name) */
const char *state_node(const struct state *st);

#define STATE_BAD_SECRET (-2)

/* state_quarantine_get - the entry of mail_id, strings in a. Returns 1
 * found, 0 not found (also for a malformed mail_id), STATE_BAD_SECRET
 * when secret_id is not NULL and differs (compared in constant time;
 * out is then not filled), -1 failure (the release is refused: try
 * again later). */
int state_quarantine_get(struct state *st, const char *mail_id, const char *secret_id,
    struct arena *a, struct state_qentry *out, const char **error_r);

/* state_quarantine_list - the newest max entries quarantined at or after
 * since (0: all), newest first, in a (two round trips); index members
 * whose entry expired are dropped from the index. secret_id is not
 * filled. -1 on failure. */
int state_quarantine_list(struct state *st, time_t since, size_t max, struct arena *a,
    struct state_qentry **entries_r, size_t *n_r, const char **error_r);

/*
 * A rate limit as written in rate_limit_maps values: "COUNT/WINDOW
 * ACTION", WINDOW a number with s, m, h or d ("100/1h tempfail",
 * "20/10m quarantine"). Returns 0, or -1 with *error_r (static text).
 */
enum state_rate_action { STATE_RATE_TEMPFAIL, STATE_RATE_QUARANTINE };

struct state_rate_spec {
	unsigned long count;		/* hits allowed per window */
	unsigned window_s;
	enum state_rate_action action;	/* for hits past count */
};

int state_rate_spec_parse(const char *s, struct state_rate_spec *out, const char **error_r);

#endif
