/*
 * state.c - shared policy state in Redis (state/state.h): counters,
 * rate limits, pen pals, completed deliveries and the quarantine index.
 *
 * The connection is lib/redisconn.h's, as for redis: tables: one per
 * state object in each process, made at the first call and remade when
 * the pid changed (the object is created in the master and forked), AUTH
 * and SELECT after connect, a timeout on connect and on every reply, and
 * with a sentinel: server the master the sentinels name (checked with
 * ROLE), asked again after a failure or a -READONLY reply. Each public
 * call builds its commands into a batch and sends them as one pipeline,
 * so a call is one round trip (state_quarantine_list: two, three when
 * it prunes). Unlike redis: tables, a failed connect or a timeout opens
 * a short window (retry_ms) in which calls fail at once, so a dead or
 * hung server costs one timeout per retry_ms and not one per call; and
 * a broken connection is retried only when nothing can have been
 * executed (see state_run).
 *
 * Deliberately left out: Cluster redirections, TLS, MULTI/EXEC
 * (no call needs atomicity across its commands: each is correct, if
 * incomplete, when cut short).
 * Limits: a host name in server is resolved by getaddrinfo(), which the
 * timeout does not bound; use an address. hiredis writes with write(),
 * so the process must ignore SIGPIPE (workers and the master do).
 * Why so long: one file per Redis key family would scatter the pipeline
 * batching (state_run) and the failure window every call shares; the
 * families (counters, rate limits, pen pals, delivered records, the
 * quarantine index and store) are each a short section below.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/redisconn.h"
#include "lib/scoreboard.h"
#include "state/state.h"

#define STATE_KEYPART_MAX 128		/* longer peer data in a key is hashed */
#define STATE_ID_MAX 32			/* mail_id, secret_id */
#define STATE_NAME_MAX 64		/* bank and category in a stats field */
#define STATE_STATS_ROWS_MAX 4096	/* distinct bank/category pairs read */
#define STATE_QLIST_MAX 10000		/* entries per state_quarantine_list */
#define STATE_RCPTS_MAX 100000		/* recipients in one call */
#define STATE_MINUTE_TTL (17 * 60)	/* a minute bucket outlives the 15-min rate */
#define STATE_RL_SKEW 60		/* rate window keys outlive their window */
#define STATE_NODES_MAX 1024		/* nodes read from P{stats}:seen */

struct state {
	char *server;			/* as configured, for messages */
	struct redisconn *rc;		/* the connection, its back-off and Sentinel */
	char *prefix;
	char *node;			/* field of P{stats}:seen */
	unsigned delivered_ttl, penpals_ttl, quarantine_ttl;
	struct arena *tmp;		/* per call: commands, keys */
	char err[512];
};

/* one command of a pipeline, arguments binary-safe */
struct cmd {
	int argc, cap;
	const char **argv;
	size_t *len;
};

struct batch {
	struct cmd *cmds;
	size_t n, cap;
	redisReply **replies;		/* after state_run, one per command */
};

void state_opts_init(struct state_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 1000;
	o->retry_ms = 1000;
	o->delivered_ttl = 5 * 86400;
	o->penpals_ttl = 30 * 86400;
	o->quarantine_ttl = 30 * 86400;
}

void state_opts_from_cfg(struct state_opts *o, const struct cfg *cfg)
{
	state_opts_init(o);
	o->server = cfg_str(cfg, P_STATE_REDIS_SERVER);
	o->password = cfg_str(cfg, P_STATE_REDIS_PASSWORD);
	o->sentinel_password = cfg_str(cfg, P_REDIS_SENTINEL_PASSWORD);
	o->db = (int)cfg_int(cfg, P_STATE_REDIS_DB);
	o->key_prefix = cfg_str(cfg, P_STATE_KEY_PREFIX);
	o->timeout_ms = (int)cfg_int(cfg, P_STATE_REDIS_TIMEOUT) * 1000;
	o->penpals_ttl = (unsigned)cfg_int(cfg, P_PENPALS_TTL);
	o->delivered_ttl = (unsigned)cfg_int(cfg, P_DELIVERED_TTL);
	o->quarantine_ttl = (unsigned)cfg_int(cfg, P_QUARANTINE_TTL);
	o->node = cfg_str(cfg, P_MYHOSTNAME);	/* its name in `tollgate stats --redis` */
}

/* fail - set st->err, return -1 */
#define fail(st, error_r, ...) error_fmt((st)->err, sizeof((st)->err), (error_r), __VA_ARGS__)

int state_create(struct state **st_r, const struct state_opts *o, const char **error_r)
{
	const char *server = o->server ? o->server : "127.0.0.1:6379";
	const char *prefix = o->key_prefix ? o->key_prefix : "tollgate:";
	struct redisconn_opts ro;
	struct redisconn *rc;
	struct state *st;

	*st_r = NULL;
	if (strpbrk(prefix, "{} \t\r\n") != NULL || strlen(prefix) > 64) {
		*error_r = "key prefix: at most 64 characters, no braces or white space";
		return -1;
	}
	if (o->delivered_ttl == 0 || o->penpals_ttl == 0) {
		*error_r = "delivered_ttl and penpals_ttl must be positive";
		return -1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.server = server;
	ro.db = o->db;
	ro.password = o->password;
	ro.sentinel_password = o->sentinel_password;
	ro.timeout_ms = o->timeout_ms;
	ro.retry_ms = o->retry_ms;
	ro.down_text = "shared state in Redis is unavailable: each use goes on without it or tempfails, "
	    "as configured";
	if (redisconn_create(&rc, &ro, error_r) < 0)
		return -1;
	st = xcalloc(1, sizeof(*st));
	st->server = xstrdup(server);
	st->rc = rc;
	st->prefix = xstrdup(prefix);
	if (o->node && *o->node) {
		st->node = xstrdup(o->node);
	} else {
		char host[256];

		if (gethostname(host, sizeof(host)) < 0)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = 0;
		st->node = xstrdup(host);
	}
	st->delivered_ttl = o->delivered_ttl;
	st->penpals_ttl = o->penpals_ttl;
	st->quarantine_ttl = o->quarantine_ttl;
	st->tmp = arena_create(0);
	*st_r = st;
	return 0;
}

void state_free(struct state **stp)
{
	struct state *st = *stp;

	if (st == NULL)
		return;
	*stp = NULL;
	redisconn_free(&st->rc);
	arena_free(&st->tmp);
	free(st->prefix);
	free(st->node);
	free(st->server);
	free(st);
}

void state_digest(const void *data, size_t len, char out[STATE_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		log_panic("state_digest: SHA-256 failed");
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
}

/*
 * Batches: commands built in st->tmp, which each public call resets.
 */

/* begin - a fresh batch for one public call */
static struct batch *begin(struct state *st)
{
	arena_reset(st->tmp);
	st->err[0] = '\0';
	return arena_alloc(st->tmp, sizeof(struct batch));
}

/* cmd_new - start a command */
static struct cmd *cmd_new(struct state *st, struct batch *b)
{
	struct cmd *nc;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 8;
		nc = arena_allocarray(st->tmp, b->cap, sizeof(*nc));
		if (b->n)
			memcpy(nc, b->cmds, b->n * sizeof(*nc));
		b->cmds = nc;
	}
	return &b->cmds[b->n++];
}

/* arg_n - append an argument of len bytes (not copied: must outlive the call) */
static void arg_n(struct state *st, struct cmd *c, const char *s, size_t len)
{
	const char **nv;
	size_t *nl;

	if (c->argc == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		nv = arena_allocarray(st->tmp, c->cap, sizeof(*nv));
		nl = arena_allocarray(st->tmp, c->cap, sizeof(*nl));
		if (c->argc) {
			memcpy(nv, c->argv, c->argc * sizeof(*nv));
			memcpy(nl, c->len, c->argc * sizeof(*nl));
		}
		c->argv = nv;
		c->len = nl;
	}
	c->argv[c->argc] = s;
	c->len[c->argc++] = len;
}

static void arg(struct state *st, struct cmd *c, const char *s)
{
	arg_n(st, c, s, strlen(s));
}

static void argf(struct state *st, struct cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void argf(struct state *st, struct cmd *c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(st->tmp, fmt, ap);
	va_end(ap);
	arg(st, c, s);
}

/* free_reply - arena cleanup for one reply */
static void free_reply(void *r)
{
	freeReplyObject(r);
}

/* key_part - peer data made safe for a key (state.h: "Keys") */
static const char *key_part(struct state *st, const char *s, int fold)
{
	size_t len = strlen(s), i;
	char *out, hex[STATE_DIGEST_HEX];
	int plain = len > 0 && len <= STATE_KEYPART_MAX;

	if (len == 0)
		return "<>";
	out = arena_strndup(st->tmp, s, len);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)out[i];

		if (fold && ch >= 'A' && ch <= 'Z')
			out[i] = (char)(ch - 'A' + 'a');
		if (ch <= 0x20 || ch >= 0x7f || ch == '{' || ch == '}')
			plain = 0;
	}
	if (plain && out[0] != '#')
		return out;
	state_digest(out, len, hex);
	hex[32] = '\0';
	return arena_printf(st->tmp, "#%s", hex);
}

/* name_part - a bank or category name for a stats field */
static const char *name_part(struct state *st, const char *s)
{
	char *out;
	size_t i;

	if (s == NULL || *s == '\0')
		return "-";
	out = arena_strndup(st->tmp, s, STATE_NAME_MAX);
	for (i = 0; out[i]; i++)
		if (out[i] == '|' || (unsigned char)out[i] <= 0x20 || (unsigned char)out[i] >= 0x7f)
			out[i] = '_';
	return out;
}

/*
 * state_run - send the batch as one pipeline and read every reply.
 *
 * A connection that worked before may have been closed by the server
 * (restart, idle timeout): if the very first reply fails with EOF or a
 * reset, the server executed nothing of ours, so we reconnect and send
 * the batch once more. Any other failure - a timeout above all, after
 * which the server may have executed some commands - is final, so a
 * counter is never incremented twice. After a final failure of the
 * connection, calls fail at once for retry_ms. An error reply to any
 * command is a failure of the call but leaves the connection up, except
 * -READONLY and -MASTERDOWN: the server is no writable master (any more),
 * so the connection is dropped, the back-off starts and the next connect
 * asks the sentinels again.
 * Replies are freed at the next begin().
 */
static int state_run_batch(struct state *st, struct batch *b, const char *what, const char **error_r)
{
	redisContext *c;
	redisReply *r;
	size_t i, j;
	int attempt, fresh, retry, saved;

	b->replies = arena_allocarray(st->tmp, b->n ? b->n : 1, sizeof(*b->replies));
	for (attempt = 0; attempt < 2; attempt++) {
		fresh = 0;
		if ((c = redisconn_context(st->rc)) == NULL) {
			if (redisconn_connect(st->rc, error_r) < 0)
				return -1;	/* logged once, back-off running */
			c = redisconn_context(st->rc);
			fresh = 1;
		}
		for (i = 0; i < b->n; i++)
			if (redisAppendCommandArgv(c, b->cmds[i].argc, b->cmds[i].argv,
			    b->cmds[i].len) != REDIS_OK)
				break;
		for (j = 0; i == b->n && j < b->n; j++) {
			r = NULL;
			errno = 0;
			if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
				break;
			arena_add_cleanup(st->tmp, free_reply, r);
			b->replies[j] = r;
		}
		if (i == b->n && j == b->n)
			break;
		saved = errno;
		retry = !fresh && j == 0 && (c->err == REDIS_ERR_EOF ||
		    saved == EPIPE || saved == ECONNRESET);
		fail(st, error_r, "redis %s: %s: %s", st->server, what,
		    c->errstr[0] ? c->errstr : "I/O error");
		redisconn_drop(st->rc);
		if (!retry) {
			/* a hung server costs one timeout per retry_ms */
			redisconn_failed(st->rc, st->err);
			return -1;
		}
	}
	if (attempt == 2)
		return -1;
	for (j = 0; j < b->n; j++) {
		if (b->replies[j]->type != REDIS_REPLY_ERROR)
			continue;
		fail(st, error_r, "redis %s: %s: %.200s", st->server, what, b->replies[j]->str);
		/* a master demoted to a replica (failover): leave it, ask the sentinels again */
		if (redisconn_reply_error(st->rc, b->replies[j]))
			redisconn_failed(st->rc, st->err);
		return -1;
	}
	return 0;
}

/* state_run - state_run_batch, a failure counted for the metrics
 * (tollgate_failures_total{kind="redis_error"}) */
static int state_run(struct state *st, struct batch *b, const char *what, const char **error_r)
{
	if (state_run_batch(st, b, what, error_r) < 0) {
		scoreboard_event(SB_EV_REDIS_ERROR);
		return -1;
	}
	return 0;
}

/* reply_int - the integer of reply r, or -1 when r is not one */
static int reply_int(const redisReply *r, long long *v_r)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return -1;
	*v_r = r->integer;
	return 0;
}

/*
 * Counters.
 */

int state_count_message(struct state *st, const char *bank, const char *category, size_t bytes,
    time_t now, const char **error_r)
{
	struct batch *b = begin(st);
	const char *bk = name_part(st, bank), *cat = name_part(st, category);
	const char *total = arena_printf(st->tmp, "%s{stats}:total", st->prefix);
	const char *minute = arena_printf(st->tmp, "%s{stats}:min:%lld", st->prefix,
	    (long long)now / 60);
	const char *fm = arena_printf(st->tmp, "m|%s|%s", bk, cat);
	const char *fb = arena_printf(st->tmp, "b|%s|%s", bk, cat);
	const char *keys[2] = { total, minute };
	struct cmd *c;
	int k;

	for (k = 0; k < 2; k++) {
		c = cmd_new(st, b);
		arg(st, c, "HINCRBY");
		arg(st, c, keys[k]);
		arg(st, c, fm);
		arg(st, c, "1");
		c = cmd_new(st, b);
		arg(st, c, "HINCRBY");
		arg(st, c, keys[k]);
		arg(st, c, fb);
		argf(st, c, "%zu", bytes);
	}
	c = cmd_new(st, b);
	arg(st, c, "EXPIRE");
	arg(st, c, minute);
	argf(st, c, "%d", STATE_MINUTE_TTL);
	c = cmd_new(st, b);
	arg(st, c, "HSET");
	argf(st, c, "%s{stats}:seen", st->prefix);
	arg(st, c, name_part(st, st->node));
	argf(st, c, "%lld", (long long)now);
	return state_run(st, b, "count", error_r);
}

/* stat_row - the row of bank/category in out, added when new; NULL when full */
static struct state_stat_row *stat_row(struct state_stats *out, size_t *cap, struct arena *a,
    const char *bank, size_t blen, const char *cat)
{
	struct state_stat_row *nr;
	size_t i;

	for (i = 0; i < out->n; i++)
		if (strlen(out->rows[i].bank) == blen && strncmp(out->rows[i].bank, bank, blen) == 0 &&
		    strcmp(out->rows[i].category, cat) == 0)
			return &out->rows[i];
	if (out->n == STATE_STATS_ROWS_MAX)
		return NULL;
	if (out->n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		nr = arena_allocarray(a, *cap, sizeof(*nr));
		if (out->n)
			memcpy(nr, out->rows, out->n * sizeof(*nr));
		out->rows = nr;
	}
	nr = &out->rows[out->n++];
	memset(nr, 0, sizeof(*nr));
	nr->bank = arena_strndup(a, bank, blen);
	nr->category = arena_strdup(a, cat);
	return nr;
}

static int stat_row_cmp(const void *x, const void *y)
{
	const struct state_stat_row *a = x, *b = y;
	int d = strcmp(a->bank, b->bank);

	return d ? d : strcmp(a->category, b->category);
}

int state_stats_read(struct state *st, time_t now, struct arena *a, struct state_stats *out,
    const char **error_r)
{
	struct batch *b = begin(st);
	long long cur = (long long)now / 60, v;
	struct state_stat_row *row;
	const redisReply *r;
	const char *f, *bar, *cat;
	struct cmd *c;
	size_t cap = 0, i, j;
	char *end;
	int k;

	memset(out, 0, sizeof(*out));
	c = cmd_new(st, b);
	arg(st, c, "HGETALL");
	argf(st, c, "%s{stats}:total", st->prefix);
	for (k = 0; k < 15; k++) {
		c = cmd_new(st, b);
		arg(st, c, "HGETALL");
		argf(st, c, "%s{stats}:min:%lld", st->prefix, cur - k);
	}
	if (state_run(st, b, "stats", error_r) < 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		r = b->replies[i];
		if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
			return fail(st, error_r, "redis %s: stats: unexpected reply", st->server);
		for (j = 0; j + 1 < r->elements; j += 2) {
			if (r->element[j]->type != REDIS_REPLY_STRING ||
			    r->element[j + 1]->type != REDIS_REPLY_STRING)
				continue;
			f = r->element[j]->str;
			if ((f[0] != 'm' && f[0] != 'b') || f[1] != '|' ||
			    (bar = strchr(f + 2, '|')) == NULL)
				continue;		/* not ours */
			cat = bar + 1;
			errno = 0;
			v = strtoll(r->element[j + 1]->str, &end, 10);
			if (errno || *end || v < 0)
				continue;
			if ((row = stat_row(out, &cap, a, f + 2, (size_t)(bar - f - 2), cat)) == NULL)
				continue;
			if (i == 0) {
				*(f[0] == 'm' ? &row->msgs : &row->bytes) += (unsigned long long)v;
				continue;
			}
			k = (int)i - 1;		/* minutes ago */
			if (f[0] == 'm') {
				row->msgs_15m += (unsigned long long)v;
				if (k < 5)
					row->msgs_5m += (unsigned long long)v;
				if (k < 1)
					row->msgs_1m += (unsigned long long)v;
			} else {
				row->bytes_15m += (unsigned long long)v;
				if (k < 5)
					row->bytes_5m += (unsigned long long)v;
				if (k < 1)
					row->bytes_1m += (unsigned long long)v;
			}
		}
	}
	if (out->n > 1)
		qsort(out->rows, out->n, sizeof(*out->rows), stat_row_cmp);
	return 0;
}

static int state_node_cmp(const void *x, const void *y)
{
	return strcmp(((const struct state_node *)x)->name, ((const struct state_node *)y)->name);
}

int state_nodes_read(struct state *st, struct arena *a, struct state_node **nodes_r, size_t *n_r,
    const char **error_r)
{
	struct batch *b = begin(st);
	struct state_node *nodes;
	const redisReply *r;
	struct cmd *c;
	long long v;
	size_t j, n = 0;
	char *end;

	*nodes_r = NULL;
	*n_r = 0;
	c = cmd_new(st, b);
	arg(st, c, "HGETALL");
	argf(st, c, "%s{stats}:seen", st->prefix);
	if (state_run(st, b, "nodes", error_r) < 0)
		return -1;
	r = b->replies[0];
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return fail(st, error_r, "redis %s: nodes: unexpected reply", st->server);
	if (r->elements == 0)
		return 0;
	nodes = arena_allocarray(a, r->elements / 2 < STATE_NODES_MAX ? r->elements / 2 : STATE_NODES_MAX,
	    sizeof(*nodes));
	for (j = 0; j + 1 < r->elements && n < STATE_NODES_MAX; j += 2) {
		if (r->element[j]->type != REDIS_REPLY_STRING || r->element[j + 1]->type != REDIS_REPLY_STRING)
			continue;
		errno = 0;
		v = strtoll(r->element[j + 1]->str, &end, 10);
		if (errno || *end || v < 0)
			continue;
		nodes[n].name = arena_strndup(a, r->element[j]->str,
		    r->element[j]->len < STATE_NAME_MAX ? r->element[j]->len : STATE_NAME_MAX);
		nodes[n].last_seen = (time_t)v;
		n++;
	}
	if (n > 1)
		qsort(nodes, n, sizeof(*nodes), state_node_cmp);
	*nodes_r = nodes;
	*n_r = n;
	return 0;
}

/*
 * Rate limits.
 */

int state_rate_hit(struct state *st, const char *kind, const char *key, unsigned window_s,
    time_t now, unsigned long *count_r, const char **error_r)
{
	struct batch *b = begin(st);
	long long start, v;
	const char *k;
	struct cmd *c;
	size_t i;

	*count_r = 0;
	for (i = 0; kind[i]; i++)
		if (kind[i] < 'a' || kind[i] > 'z')
			break;
	if (i == 0 || kind[i] != '\0' || i > 16)
		return fail(st, error_r, "rate limit: bad kind \"%.20s\"", kind);
	if (window_s == 0)
		return fail(st, error_r, "rate limit: zero window");
	start = (long long)now - (long long)now % window_s;
	k = arena_printf(st->tmp, "%s{rl:%s:%s}:%u:%lld", st->prefix, kind, key_part(st, key, 1),
	    window_s, start);
	/* SET NX EX then INCR: the TTL is set once, by the first hit, on
	 * every Redis version (no EXPIRE NX, which needs 7.0) */
	c = cmd_new(st, b);
	arg(st, c, "SET");
	arg(st, c, k);
	arg(st, c, "0");
	arg(st, c, "EX");
	argf(st, c, "%u", window_s + STATE_RL_SKEW);
	arg(st, c, "NX");
	c = cmd_new(st, b);
	arg(st, c, "INCR");
	arg(st, c, k);
	if (state_run(st, b, "rate limit", error_r) < 0)
		return -1;
	if (reply_int(b->replies[1], &v) < 0 || v < 0)
		return fail(st, error_r, "redis %s: INCR: unexpected reply", st->server);
	*count_r = (unsigned long)v;
	return 0;
}

int state_rate_spec_parse(const char *s, struct state_rate_spec *out, const char **error_r)
{
	unsigned long long n, w;
	char *end;

	memset(out, 0, sizeof(*out));
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return *error_r = "expected COUNT/WINDOW [tempfail|quarantine]", -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end != '/' || n > 1000000000ULL)
		return *error_r = "bad COUNT (expected COUNT/WINDOW)", -1;
	s = end + 1;
	if (!isdigit((unsigned char)*s))
		return *error_r = "bad WINDOW (a number with s, m, h or d)", -1;
	w = strtoull(s, &end, 10);
	switch (*end) {
	case 's': end++; break;
	case 'm': w *= 60; end++; break;
	case 'h': w *= 3600; end++; break;
	case 'd': w *= 86400; end++; break;
	default: break;
	}
	if (errno || w == 0 || w > 366ULL * 86400 || (*end && !isspace((unsigned char)*end)))
		return *error_r = "bad WINDOW (1s to 366d: a number with s, m, h or d)", -1;
	s = end;
	while (isspace((unsigned char)*s))
		s++;
	end = (char *)s + strcspn(s, " \t");
	if (*s == '\0' || (end - s == 8 && strncmp(s, "tempfail", 8) == 0))
		out->action = STATE_RATE_TEMPFAIL;
	else if (end - s == 10 && strncmp(s, "quarantine", 10) == 0)
		out->action = STATE_RATE_QUARANTINE;
	else
		return *error_r = "bad action (tempfail or quarantine)", -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return *error_r = "trailing text after the action", -1;
	out->count = (unsigned long)n;
	out->window_s = (unsigned)w;
	return 0;
}

/*
 * Pen pals.
 */

int state_penpals_record(struct state *st, const char *sender, const char *const *rcpts,
    size_t n, time_t now, const char **error_r)
{
	struct batch *b = begin(st);
	const char *s;
	struct cmd *c;
	size_t i;

	if (sender == NULL || *sender == '\0' || n == 0)
		return 0;
	if (n > STATE_RCPTS_MAX)
		n = STATE_RCPTS_MAX;
	s = key_part(st, sender, 1);
	for (i = 0; i < n; i++) {
		c = cmd_new(st, b);
		arg(st, c, "SET");
		argf(st, c, "%s{pp:%s}:%s", st->prefix, key_part(st, rcpts[i], 1), s);
		argf(st, c, "%lld", (long long)now);
		arg(st, c, "EX");
		argf(st, c, "%u", st->penpals_ttl);
	}
	return state_run(st, b, "penpals", error_r);
}

int state_penpals_seen(struct state *st, const char *sender, const char *const *rcpts,
    size_t n, int *seen_r, const char **error_r)
{
	struct batch *b = begin(st);
	const char *tag;
	struct cmd *c;
	long long v;
	size_t i;

	for (i = 0; i < n; i++)
		seen_r[i] = 0;
	if (sender == NULL || *sender == '\0' || n == 0)
		return 0;
	if (n > STATE_RCPTS_MAX)
		return fail(st, error_r, "penpals: too many recipients");
	/* the reply goes from sender to rcpts[i]: look for mail from rcpts[i] to sender */
	tag = key_part(st, sender, 1);
	for (i = 0; i < n; i++) {
		c = cmd_new(st, b);
		arg(st, c, "EXISTS");
		argf(st, c, "%s{pp:%s}:%s", st->prefix, tag, key_part(st, rcpts[i], 1));
	}
	if (state_run(st, b, "penpals", error_r) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (reply_int(b->replies[i], &v) < 0) {
			memset(seen_r, 0, n * sizeof(*seen_r));
			return fail(st, error_r, "redis %s: EXISTS: unexpected reply", st->server);
		}
		seen_r[i] = v > 0;
	}
	return 0;
}

/*
 * Completed deliveries.
 */

/* dlv_key - P{dlv:QID}:DIGEST */
static const char *dlv_key(struct state *st, const char *queue_id, const char *digest)
{
	return arena_printf(st->tmp, "%s{dlv:%s}:%s", st->prefix, key_part(st, queue_id, 0),
	    key_part(st, digest, 1));
}

int state_delivered_get(struct state *st, const char *queue_id, const char *digest,
    const char *const *rcpts, size_t n, struct arena *a, const char **done_r,
    const char **error_r)
{
	struct batch *b = begin(st);
	const redisReply *r, *e;
	struct cmd *c;
	size_t i;

	for (i = 0; i < n; i++)
		done_r[i] = NULL;
	if (queue_id == NULL || *queue_id == '\0' || n == 0)
		return 0;
	if (n > STATE_RCPTS_MAX)
		return fail(st, error_r, "delivered: too many recipients");
	c = cmd_new(st, b);
	arg(st, c, "HMGET");
	arg(st, c, dlv_key(st, queue_id, digest ? digest : ""));
	for (i = 0; i < n; i++)
		arg(st, c, key_part(st, rcpts[i], 0));
	if (state_run(st, b, "delivered", error_r) < 0)
		return -1;
	r = b->replies[0];
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
		return fail(st, error_r, "redis %s: HMGET: unexpected reply", st->server);
	for (i = 0; i < n; i++) {
		e = r->element[i];
		if (e->type == REDIS_REPLY_STRING)
			done_r[i] = arena_strndup(a, e->str, e->len);
	}
	return 0;
}

int state_delivered_set(struct state *st, const char *queue_id, const char *digest,
    const char *const *rcpts, size_t n, const char *note, time_t now, const char **error_r)
{
	struct batch *b = begin(st);
	const char *key, *val;
	struct cmd *c;
	size_t i;

	if (queue_id == NULL || *queue_id == '\0' || n == 0)
		return 0;
	if (n > STATE_RCPTS_MAX)
		return fail(st, error_r, "delivered: too many recipients");
	key = dlv_key(st, queue_id, digest ? digest : "");
	val = arena_printf(st->tmp, "%lld %.200s", (long long)now, note && *note ? note : "-");
	c = cmd_new(st, b);
	arg(st, c, "HSET");		/* several fields: Redis 4.0 or later */
	arg(st, c, key);
	for (i = 0; i < n; i++) {
		arg(st, c, key_part(st, rcpts[i], 0));
		arg(st, c, val);
	}
	c = cmd_new(st, b);
	arg(st, c, "EXPIRE");
	arg(st, c, key);
	argf(st, c, "%u", st->delivered_ttl);
	return state_run(st, b, "delivered", error_r);
}

/*
 * Quarantine index.
 */

/* id_ok - 1 to STATE_ID_MAX characters of [A-Za-z0-9_-] */
static int id_ok(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return i > 0 && i <= STATE_ID_MAX;
}

/* quarantine_put - state_quarantine_put and _put_msg: the entry (and,
 * when data is not NULL, the message) in one pipeline. The hash is
 * written last but for the index, so a reader who finds the hash with
 * a size finds the message too. */
static int quarantine_put(struct state *st, const struct state_qentry *e, const char *data, size_t len,
    time_t now, const char **error_r)
{
	struct batch *b = begin(st);
	const char *key, *idx, *mkey;
	struct cmd *c;
	size_t i;

	if (!id_ok(e->mail_id) || !id_ok(e->secret_id))
		return fail(st, error_r, "quarantine: bad mail_id or secret_id");
	if (e->nrcpts > STATE_RCPTS_MAX)
		return fail(st, error_r, "quarantine: too many recipients");
	key = arena_printf(st->tmp, "%s{q:%s}", st->prefix, e->mail_id);
	mkey = arena_printf(st->tmp, "%s{q:%s}:msg", st->prefix, e->mail_id);
	idx = arena_printf(st->tmp, "%s{qidx}", st->prefix);
	/* DEL first: a second put of the same mail_id leaves no stale rcpt:N or message */
	c = cmd_new(st, b);
	arg(st, c, "DEL");
	arg(st, c, key);
	arg(st, c, mkey);
	if (data != NULL) {
		c = cmd_new(st, b);
		arg(st, c, "SET");
		arg(st, c, mkey);
		arg_n(st, c, data, len);
		if (st->quarantine_ttl) {
			arg(st, c, "EX");
			argf(st, c, "%u", st->quarantine_ttl);
		}
	}
	c = cmd_new(st, b);
	arg(st, c, "HSET");
	arg(st, c, key);
	arg(st, c, "secret");
	arg(st, c, e->secret_id);
	arg(st, c, "category");
	arg(st, c, e->category ? e->category : "");
	arg(st, c, "sender");
	arg(st, c, e->sender ? e->sender : "");
	arg(st, c, "location");
	arg(st, c, e->location ? e->location : "");
	arg(st, c, "host");
	arg(st, c, st->node);
	arg(st, c, "time");
	argf(st, c, "%lld", (long long)now);
	arg(st, c, "size");
	argf(st, c, "%zu", data != NULL ? len : 0);
	arg(st, c, "nrcpt");
	argf(st, c, "%zu", e->nrcpts);
	for (i = 0; i < e->nrcpts; i++) {
		argf(st, c, "rcpt:%zu", i);
		arg(st, c, e->rcpts[i] ? e->rcpts[i] : "");
	}
	if (st->quarantine_ttl) {
		c = cmd_new(st, b);
		arg(st, c, "EXPIRE");
		arg(st, c, key);
		argf(st, c, "%u", st->quarantine_ttl);
	}
	c = cmd_new(st, b);
	arg(st, c, "ZADD");
	arg(st, c, idx);
	argf(st, c, "%lld", (long long)now);
	arg(st, c, e->mail_id);
	if (st->quarantine_ttl) {
		c = cmd_new(st, b);
		arg(st, c, "ZREMRANGEBYSCORE");
		arg(st, c, idx);
		arg(st, c, "-inf");
		argf(st, c, "(%lld", (long long)now - st->quarantine_ttl);
	}
	return state_run(st, b, "quarantine", error_r);
}

int state_quarantine_put(struct state *st, const struct state_qentry *e, time_t now,
    const char **error_r)
{
	return quarantine_put(st, e, NULL, 0, now, error_r);
}

int state_quarantine_put_msg(struct state *st, const struct state_qentry *e, const char *data,
    size_t len, time_t now, const char **error_r)
{
	return quarantine_put(st, e, data ? data : "", len, now, error_r);
}

/* quarantine_cmd - VERB P{q:MAIL_ID}SUFFIX, its reply in *r_r (freed at
 * the next call); 0 or -1 */
static int quarantine_cmd(struct state *st, const char *verb, const char *mail_id, const char *suffix,
    const redisReply **r_r, const char **error_r)
{
	struct batch *b = begin(st);
	struct cmd *c = cmd_new(st, b);

	arg(st, c, verb);
	argf(st, c, "%s{q:%s}%s", st->prefix, mail_id, suffix);
	if (state_run(st, b, "quarantine", error_r) < 0)
		return -1;
	*r_r = b->replies[0];
	return 0;
}

int state_quarantine_msg(struct state *st, const char *mail_id, struct arena *a, char **data_r,
    size_t *len_r, const char **error_r)
{
	const redisReply *r;

	*data_r = NULL;
	*len_r = 0;
	if (!id_ok(mail_id))
		return 0;
	if (quarantine_cmd(st, "GET", mail_id, ":msg", &r, error_r) < 0)
		return -1;
	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_STRING)
		return fail(st, error_r, "redis %s: GET: unexpected reply", st->server);
	*data_r = arena_alloc(a, r->len + 1);
	memcpy(*data_r, r->str, r->len);
	(*data_r)[r->len] = '\0';
	*len_r = r->len;
	return 1;
}

const char *state_node(const struct state *st)
{
	return st->node;
}

/* qentry_fill - an HGETALL reply into out (strings in a); 0 when empty */
static int qentry_fill(const redisReply *r, const char *mail_id, struct arena *a,
    struct state_qentry *out)
{
	const redisReply *f, *v;
	unsigned long long nr = 0, k;
	size_t j;
	char *end;

	memset(out, 0, sizeof(*out));
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->elements % 2)
		return 0;
	out->mail_id = arena_strdup(a, mail_id);
	for (j = 0; j + 1 < r->elements; j += 2) {
		f = r->element[j];
		v = r->element[j + 1];
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->str, "nrcpt") == 0) {
			nr = strtoull(v->str, &end, 10);
			if (*end || nr > STATE_RCPTS_MAX)
				nr = 0;
		}
	}
	out->rcpts = arena_allocarray(a, nr ? nr : 1, sizeof(*out->rcpts));
	for (j = 0; j + 1 < r->elements; j += 2) {
		f = r->element[j];
		v = r->element[j + 1];
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->str, "secret") == 0)
			out->secret_id = arena_strndup(a, v->str, v->len);
		else if (strcmp(f->str, "category") == 0)
			out->category = arena_strndup(a, v->str, v->len);
		else if (strcmp(f->str, "sender") == 0)
			out->sender = arena_strndup(a, v->str, v->len);
		else if (strcmp(f->str, "location") == 0)
			out->location = arena_strndup(a, v->str, v->len);
		else if (strcmp(f->str, "host") == 0)
			out->host = arena_strndup(a, v->str, v->len);
		else if (strcmp(f->str, "size") == 0)
			out->size = (size_t)strtoull(v->str, NULL, 10);
		else if (strcmp(f->str, "time") == 0)
			out->time = (time_t)strtoll(v->str, NULL, 10);
		else if (strncmp(f->str, "rcpt:", 5) == 0 && isdigit((unsigned char)f->str[5])) {
			k = strtoull(f->str + 5, &end, 10);
			if (*end == '\0' && k < nr)
				out->rcpts[k] = arena_strndup(a, v->str, v->len);
		}
	}
	for (k = 0; k < nr; k++)		/* a damaged entry: no holes for the caller */
		if (out->rcpts[k] == NULL)
			out->rcpts[k] = "";
	out->nrcpts = nr;
	if (out->host == NULL)
		out->host = "";
	return 1;
}

int state_quarantine_get(struct state *st, const char *mail_id, const char *secret_id,
    struct arena *a, struct state_qentry *out, const char **error_r)
{
	const redisReply *r, *f, *v;
	size_t j, slen;

	memset(out, 0, sizeof(*out));
	if (!id_ok(mail_id))
		return 0;
	if (quarantine_cmd(st, "HGETALL", mail_id, "", &r, error_r) < 0)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY)
		return fail(st, error_r, "redis %s: HGETALL: unexpected reply", st->server);
	if (r->elements == 0)
		return 0;
	if (secret_id != NULL) {
		/* compare before copying anything out: a wrong secret learns nothing */
		for (j = 0; j + 1 < r->elements; j += 2) {
			f = r->element[j];
			v = r->element[j + 1];
			if (f->type == REDIS_REPLY_STRING && strcmp(f->str, "secret") == 0)
				break;
		}
		if (j + 1 >= r->elements)
			return STATE_BAD_SECRET;
		slen = strlen(secret_id);
		v = r->element[j + 1];
		if (v->type != REDIS_REPLY_STRING || v->len != slen || slen == 0 ||
		    CRYPTO_memcmp(v->str, secret_id, slen) != 0)
			return STATE_BAD_SECRET;
	}
	return qentry_fill(r, mail_id, a, out);
}

int state_quarantine_list(struct state *st, time_t since, size_t max, struct arena *a,
    struct state_qentry **entries_r, size_t *n_r, const char **error_r)
{
	struct batch *b = begin(st), *b2, *b3 = NULL;
	const char *idx = arena_printf(st->tmp, "%s{qidx}", st->prefix);
	const redisReply *ids, *r;
	struct state_qentry *ents;
	struct cmd *c;
	size_t i, n = 0;

	*entries_r = NULL;
	*n_r = 0;
	if (max == 0)
		return 0;
	if (max > STATE_QLIST_MAX)
		max = STATE_QLIST_MAX;
	c = cmd_new(st, b);
	arg(st, c, "ZREVRANGEBYSCORE");
	arg(st, c, idx);
	arg(st, c, "+inf");
	argf(st, c, "%lld", (long long)since);
	arg(st, c, "LIMIT");
	arg(st, c, "0");
	argf(st, c, "%zu", max);
	if (state_run(st, b, "quarantine list", error_r) < 0)
		return -1;
	ids = b->replies[0];
	if (ids->type != REDIS_REPLY_ARRAY)
		return fail(st, error_r, "redis %s: ZREVRANGEBYSCORE: unexpected reply", st->server);
	if (ids->elements == 0)
		return 0;
	/* the first batch's replies stay alive: st->tmp is not reset here */
	b2 = arena_alloc(st->tmp, sizeof(*b2));
	for (i = 0; i < ids->elements; i++) {
		if (ids->element[i]->type != REDIS_REPLY_STRING || !id_ok(ids->element[i]->str))
			return fail(st, error_r, "redis %s: quarantine index: bad member", st->server);
		c = cmd_new(st, b2);
		arg(st, c, "HGETALL");
		argf(st, c, "%s{q:%s}", st->prefix, ids->element[i]->str);
	}
	if (state_run(st, b2, "quarantine list", error_r) < 0)
		return -1;
	ents = arena_allocarray(a, ids->elements, sizeof(*ents));
	for (i = 0; i < ids->elements; i++) {
		r = b2->replies[i];
		if (r->type != REDIS_REPLY_ARRAY)
			return fail(st, error_r, "redis %s: HGETALL: unexpected reply", st->server);
		if (qentry_fill(r, ids->element[i]->str, a, &ents[n])) {
			ents[n++].secret_id = NULL;
			continue;
		}
		if (b3 == NULL) {		/* expired: drop it from the index */
			b3 = arena_alloc(st->tmp, sizeof(*b3));
			c = cmd_new(st, b3);
			arg(st, c, "ZREM");
			arg(st, c, idx);
		}
		arg(st, c, ids->element[i]->str);
	}
	if (b3 != NULL && state_run(st, b3, "quarantine prune", error_r) < 0)
		log_warning("%s", st->err);	/* the list itself is complete */
	*entries_r = ents;
	*n_r = n;
	return 0;
}
