/*
 * test_state.c - shared state in Redis (state/state.h) against a
 * private redis-server on a unix socket, started for each test and
 * killed by its pid: counters from several nodes (state objects and a
 * forked process) add up, rate limits count across nodes and reset with the window, pen
 * pals with their TTL, delivered records, the quarantine index and its
 * secret check, the quarantine of several hosts (an entry's host, the
 * message itself in Redis with its TTL), Redis stopped or hung (every call fails within the
 * timeout, and the same object recovers), and the hash tags of every
 * key. redis-server is a required peer: without it the Redis tests
 * fail (they are never skipped).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/mem.h"
#include "state/state.h"
#include "tests/unit/check_tap.h"

static char tmpdir[] = "/tmp/test_state.XXXXXX";
static char redis_sock[300];
static pid_t redis_pid;
static int have_redis;
static struct arena *ar;

/* redis_start - run redis-server in the foreground, wait for its socket;
 * 0 or -1 (no ck_assert: main calls this outside any test) */
static int redis_start(void)
{
	redisContext *c;
	int i, fd;

	if ((redis_pid = fork()) < 0)
		return -1;
	if (redis_pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock,
		    "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir,
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		c = redisConnectUnix(redis_sock);
		if (c != NULL && !c->err) {
			redisFree(c);
			return 0;
		}
		if (c != NULL)
			redisFree(c);
		usleep(50000);
	}
	return -1;
}

/* redis_stop - kill our server by its pid and reap it */
static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
	unlink(redis_sock);
}

/* rcmd - one command on a connection of our own; the reply (free it) */
static redisReply *rcmd(const char *fmt, ...)
{
	redisContext *c = redisConnectUnix(redis_sock);
	redisReply *r;
	va_list ap;

	ck_assert(c != NULL && !c->err);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(r);
	redisFree(c);
	return r;
}

/* rint - an integer command */
static long long rint_(const char *fmt, const char *key)
{
	redisReply *r = rcmd(fmt, key);
	long long v;

	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void flushall(void)
{
	freeReplyObject(rcmd("FLUSHALL"));
}

/* create - state_create on our server, which must succeed */
static struct state *create(struct state_opts *o)
{
	struct state *st = NULL;
	const char *err = NULL;

	o->server = redis_sock;
	ck_assert_msg(state_create(&st, o, &err) == 0, "state_create: %s", err);
	return st;
}

/* new_state - a state object on our server ("a node") */
static struct state *new_state(int timeout_ms, int retry_ms)
{
	struct state_opts o;

	state_opts_init(&o);
	o.timeout_ms = timeout_ms;
	o.retry_ms = retry_ms;
	return create(&o);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define NEED_REDIS() do { \
	ck_assert_msg(have_redis, "%s: redis-server is not installed (apt-get install redis-server)", \
	    __func__); \
	flushall(); \
} while (0)

START_TEST(test_offline)
{
	struct state_rate_spec rs;
	struct state_opts o;
	struct state *st = NULL;
	const char *err = NULL;
	char hex[STATE_DIGEST_HEX];

	state_digest("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	ck_assert_int_eq(state_rate_spec_parse("100/1h tempfail", &rs, &err), 0);
	ck_assert_uint_eq(rs.count, 100);
	ck_assert_uint_eq(rs.window_s, 3600);
	ck_assert_int_eq(rs.action, STATE_RATE_TEMPFAIL);
	ck_assert_int_eq(state_rate_spec_parse(" 20/10m  quarantine ", &rs, &err), 0);
	ck_assert_uint_eq(rs.window_s, 600);
	ck_assert_int_eq(rs.action, STATE_RATE_QUARANTINE);
	ck_assert_int_eq(state_rate_spec_parse("5/30", &rs, &err), 0);
	ck_assert_uint_eq(rs.window_s, 30);
	ck_assert_int_eq(state_rate_spec_parse("5/1d", &rs, &err), 0);
	ck_assert_uint_eq(rs.window_s, 86400);
	ck_assert_int_eq(state_rate_spec_parse("5/0s", &rs, &err), -1);
	ck_assert_int_eq(state_rate_spec_parse("5/1w", &rs, &err), -1);
	ck_assert_int_eq(state_rate_spec_parse("x/1h", &rs, &err), -1);
	ck_assert_int_eq(state_rate_spec_parse("5/1h bounce", &rs, &err), -1);
	ck_assert_int_eq(state_rate_spec_parse("5/1h tempfail x", &rs, &err), -1);
	ck_assert_int_eq(state_rate_spec_parse("", &rs, &err), -1);
	ck_assert_ptr_nonnull(err);

	state_opts_init(&o);
	o.server = "no-port";
	ck_assert_int_eq(state_create(&st, &o, &err), -1);
	o.server = "unix:relative";
	ck_assert_int_eq(state_create(&st, &o, &err), -1);
	o.server = "127.0.0.1:6379";
	o.key_prefix = "bad{prefix}:";
	ck_assert_int_eq(state_create(&st, &o, &err), -1);
	o.key_prefix = NULL;
	o.timeout_ms = 0;
	ck_assert_int_eq(state_create(&st, &o, &err), -1);
	o.timeout_ms = 100;
	ck_assert_int_eq(state_create(&st, &o, &err), 0);
	ck_assert_ptr_nonnull(st);
	state_free(&st);
	ck_assert_ptr_null(st);
	state_free(&st);
}
END_TEST

START_TEST(test_counters)
{
	struct state *n1, *n2;
	struct state_stats s;
	const char *err = NULL;
	time_t now = time(NULL);
	pid_t child;
	int status;

	NEED_REDIS();
	n1 = new_state(1000, 1000);
	n2 = new_state(1000, 1000);
	ck_assert_int_eq(state_count_message(n1, "MYNETS", "clean", 1000, now, &err), 0);
	ck_assert_int_eq(state_count_message(n2, "MYNETS", "clean", 500, now, &err), 0);
	ck_assert_int_eq(state_count_message(n2, "MYNETS", "spam", 7, now - 120, &err), 0);
	ck_assert_int_eq(state_count_message(n1, "default", "virus", 10, now - 600, &err), 0);
	ck_assert_int_eq(state_count_message(n1, "default", "virus", 10, now - 3600, &err), 0);
	ck_assert_int_eq(state_count_message(n1, "we|ird bank", "clean", 1, now, &err), 0);

	/* a worker forked after n1 connected counts on its own connection */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(state_count_message(n1, "MYNETS", "clean", 100, now, &err) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ck_assert_int_eq(state_stats_read(n2, now, ar, &s, &err), 0);
	ck_assert_uint_eq(s.n, 4);
	ck_assert_str_eq(s.rows[0].bank, "MYNETS");
	ck_assert_str_eq(s.rows[0].category, "clean");
	ck_assert_uint_eq(s.rows[0].msgs, 3);
	ck_assert_uint_eq(s.rows[0].bytes, 1600);
	ck_assert_uint_eq(s.rows[0].msgs_1m, 3);
	ck_assert_uint_eq(s.rows[0].bytes_15m, 1600);
	ck_assert_str_eq(s.rows[1].category, "spam");
	ck_assert_uint_eq(s.rows[1].msgs, 1);
	ck_assert_uint_eq(s.rows[1].msgs_1m, 0);
	ck_assert_uint_eq(s.rows[1].msgs_5m, 1);
	ck_assert_uint_eq(s.rows[1].msgs_15m, 1);
	ck_assert_str_eq(s.rows[2].bank, "default");
	ck_assert_uint_eq(s.rows[2].msgs, 2);
	ck_assert_uint_eq(s.rows[2].bytes, 20);
	ck_assert_uint_eq(s.rows[2].msgs_5m, 0);
	ck_assert_uint_eq(s.rows[2].msgs_15m, 1);	/* 10 minutes ago; 60 is out */
	ck_assert_str_eq(s.rows[3].bank, "we_ird_bank");

	/* minute buckets expire, the totals do not */
	{
		char k[64];

		snprintf(k, sizeof(k), "tollgate:{stats}:min:%lld", (long long)now / 60);
		ck_assert_int_gt(rint_("TTL %s", k), 15 * 60);
		ck_assert_int_eq(rint_("TTL %s", "tollgate:{stats}:total"), -1);
	}
	state_free(&n1);
	state_free(&n2);
}
END_TEST

START_TEST(test_rate)
{
	struct state *n1 = NULL, *n2 = NULL;
	unsigned long cnt = 0;
	const char *err = NULL;
	time_t now = 1700000000;	/* a multiple of 60 plus 20 */
	long long ttl;

	NEED_REDIS();
	n1 = new_state(1000, 1000);
	n2 = new_state(1000, 1000);
	ck_assert_int_eq(state_rate_hit(n1, "sender", "Zombie@Example.COM", 60, now, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(state_rate_hit(n2, "sender", "zombie@example.com", 60, now + 30, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_int_eq(state_rate_hit(n1, "sender", "zombie@example.com", 60, now + 39, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 3);
	/* the next window starts from zero */
	ck_assert_int_eq(state_rate_hit(n2, "sender", "zombie@example.com", 60, now + 40, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 1);
	/* other kinds and keys are counted apart */
	ck_assert_int_eq(state_rate_hit(n1, "sasl", "zombie@example.com", 60, now, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(state_rate_hit(n1, "client", "2001:db8::1", 3600, now, &cnt, &err), 0);
	ck_assert_uint_eq(cnt, 1);
	/* the window key expires after its window */
	ttl = rint_("TTL %s", "tollgate:{rl:sender:zombie@example.com}:60:1699999980");
	ck_assert_int_gt(ttl, 60);
	ck_assert_int_le(ttl, 120);
	ck_assert_int_eq(state_rate_hit(n1, "Sender", "x", 60, now, &cnt, &err), -1);
	ck_assert_int_eq(state_rate_hit(n1, "sender", "x", 0, now, &cnt, &err), -1);
	ck_assert_ptr_nonnull(err);
	state_free(&n1);
	state_free(&n2);
}
END_TEST

START_TEST(test_penpals)
{
	const char *rcpts[2] = { "Bob@Remote.example", "dave@remote.example" };
	const char *in_rcpts[3] = { "alice@local.example", "carol@local.example",
		"ALICE@local.example" };
	const char *erin[1] = { "erin@local.example" };
	struct state_opts o;
	struct state *st = NULL, *brief = NULL;
	const char *err = NULL;
	int seen[3];

	NEED_REDIS();
	st = new_state(1000, 1000);
	ck_assert_int_eq(state_penpals_record(st, "alice@local.example", rcpts, 2, time(NULL), &err), 0);
	/* bob replies to alice and carol */
	ck_assert_int_eq(state_penpals_seen(st, "bob@remote.example", in_rcpts, 3, seen, &err), 0);
	ck_assert_int_eq(seen[0], 1);
	ck_assert_int_eq(seen[1], 0);
	ck_assert_int_eq(seen[2], 1);
	/* the other direction is not a pen pal */
	ck_assert_int_eq(state_penpals_seen(st, "alice@local.example", rcpts, 2, seen, &err), 0);
	ck_assert_int_eq(seen[0], 0);
	ck_assert_int_eq(seen[1], 0);
	/* the null sender records nothing and is nobody's pen pal */
	ck_assert_int_eq(state_penpals_record(st, "", rcpts, 2, time(NULL), &err), 0);
	ck_assert_int_eq(state_penpals_seen(st, "", in_rcpts, 1, seen, &err), 0);
	ck_assert_int_eq(seen[0], 0);
	ck_assert_int_gt(rint_("TTL %s", "tollgate:{pp:bob@remote.example}:alice@local.example"),
	    30 * 86400 - 10);

	/* with a TTL of one second the pen pal is forgotten */
	state_opts_init(&o);
	o.server = redis_sock;
	o.penpals_ttl = 1;
	ck_assert_int_eq(state_create(&brief, &o, &err), 0);
	ck_assert_int_eq(state_penpals_record(brief, "erin@local.example", rcpts, 1, time(NULL), &err), 0);
	ck_assert_int_eq(state_penpals_seen(brief, "bob@remote.example", erin, 1, seen, &err), 0);
	ck_assert_int_eq(seen[0], 1);
	usleep(1500000);
	ck_assert_int_eq(state_penpals_seen(brief, "bob@remote.example", erin, 1, seen, &err), 0);
	ck_assert_int_eq(seen[0], 0);
	state_free(&brief);
	state_free(&st);
}
END_TEST

START_TEST(test_delivered)
{
	const char *group1[2] = { "a@x.example", "b@x.example" };
	const char *all[3] = { "a@x.example", "b@x.example", "c@y.example" };
	const char *done[3];
	struct state *n1, *n2;
	const char *err = NULL;
	char dg[STATE_DIGEST_HEX], dg2[STATE_DIGEST_HEX], key[200];

	NEED_REDIS();
	n1 = new_state(1000, 1000);
	n2 = new_state(1000, 1000);
	state_digest("message", 7, dg);
	state_digest("message2", 8, dg2);
	ck_assert_int_eq(state_delivered_get(n1, "4XyZ1abc", dg, all, 3, ar, done, &err), 0);
	ck_assert(done[0] == NULL && done[1] == NULL && done[2] == NULL);
	/* group 1 delivered on node 1; group 2 tempfailed */
	ck_assert_int_eq(state_delivered_set(n1, "4XyZ1abc", dg, group1, 2, "queued as 9F00", 1700000000,
	    &err), 0);
	/* Postfix retries on node 2: only c is left */
	ck_assert_int_eq(state_delivered_get(n2, "4XyZ1abc", dg, all, 3, ar, done, &err), 0);
	ck_assert_str_eq(done[0], "1700000000 queued as 9F00");
	ck_assert_str_eq(done[1], "1700000000 queued as 9F00");
	ck_assert_ptr_null(done[2]);
	/* another content or queue id is another message */
	ck_assert_int_eq(state_delivered_get(n2, "4XyZ1abc", dg2, all, 3, ar, done, &err), 0);
	ck_assert_ptr_null(done[0]);
	ck_assert_int_eq(state_delivered_get(n2, "4XyZ1abd", dg, all, 3, ar, done, &err), 0);
	ck_assert_ptr_null(done[0]);
	/* no queue id: off, nothing stored */
	ck_assert_int_eq(state_delivered_set(n2, NULL, dg, all, 3, NULL, 1, &err), 0);
	ck_assert_int_eq(state_delivered_get(n2, "", dg, all, 3, ar, done, &err), 0);
	ck_assert_ptr_null(done[0]);
	snprintf(key, sizeof(key), "tollgate:{dlv:4XyZ1abc}:%s", dg);
	ck_assert_int_gt(rint_("TTL %s", key), 5 * 86400 - 10);
	ck_assert_int_eq(rint_("HLEN %s", key), 2);
	state_free(&n1);
	state_free(&n2);
}
END_TEST

START_TEST(test_quarantine)
{
	const char *rcpts[2] = { "a@x.example", "b@x.example" };
	struct state_qentry e, got, *list;
	struct state *n1, *n2;
	const char *err = NULL;
	time_t now = time(NULL);
	size_t n;

	NEED_REDIS();
	n1 = new_state(1000, 1000);
	n2 = new_state(1000, 1000);
	memset(&e, 0, sizeof(e));
	e.mail_id = "AbC-12_xyZ09";
	e.secret_id = "s3cr3tS3cr3t";
	e.category = "virus";
	e.sender = "";
	e.location = "/var/lib/tollgate/quarantine/virus-AbC-12_xyZ09";
	e.rcpts = rcpts;
	e.nrcpts = 2;
	ck_assert_int_eq(state_quarantine_put(n1, &e, now - 100, &err), 0);
	e.mail_id = "second";
	e.category = "spam";
	e.nrcpts = 1;
	ck_assert_int_eq(state_quarantine_put(n1, &e, now, &err), 0);

	/* released from another node, with the secret */
	ck_assert_int_eq(state_quarantine_get(n2, "AbC-12_xyZ09", "s3cr3tS3cr3t", ar, &got, &err), 1);
	ck_assert_str_eq(got.category, "virus");
	ck_assert_str_eq(got.sender, "");
	ck_assert_str_eq(got.location, "/var/lib/tollgate/quarantine/virus-AbC-12_xyZ09");
	ck_assert_uint_eq(got.nrcpts, 2);
	ck_assert_str_eq(got.rcpts[1], "b@x.example");
	ck_assert_int_eq(got.time, now - 100);
	ck_assert_int_eq(state_quarantine_get(n2, "AbC-12_xyZ09", "s3cr3tS3cr3u", ar, &got, &err),
	    STATE_BAD_SECRET);
	ck_assert_ptr_null(got.location);
	ck_assert_int_eq(state_quarantine_get(n2, "AbC-12_xyZ09", "", ar, &got, &err), STATE_BAD_SECRET);
	/* the administrator's release needs no secret */
	ck_assert_int_eq(state_quarantine_get(n2, "AbC-12_xyZ09", NULL, ar, &got, &err), 1);
	ck_assert_str_eq(got.secret_id, "s3cr3tS3cr3t");
	ck_assert_int_eq(state_quarantine_get(n2, "nosuchid", NULL, ar, &got, &err), 0);
	ck_assert_int_eq(state_quarantine_get(n2, "bad id\r\n", NULL, ar, &got, &err), 0);
	e.mail_id = "bad{id}";
	ck_assert_int_eq(state_quarantine_put(n1, &e, now, &err), -1);

	/* a second put of the same id replaces the entry, no stale rcpt */
	e.mail_id = "AbC-12_xyZ09";
	e.nrcpts = 1;
	ck_assert_int_eq(state_quarantine_put(n1, &e, now - 100, &err), 0);
	ck_assert_int_eq(state_quarantine_get(n2, "AbC-12_xyZ09", NULL, ar, &got, &err), 1);
	ck_assert_uint_eq(got.nrcpts, 1);
	ck_assert_int_eq(rint_("HLEN %s", "tollgate:{q:AbC-12_xyZ09}"), 9);
	ck_assert_int_gt(rint_("TTL %s", "tollgate:{q:AbC-12_xyZ09}"), 30 * 86400 - 10);

	ck_assert_int_eq(state_quarantine_list(n2, 0, 10, ar, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].mail_id, "second");	/* newest first */
	ck_assert_str_eq(list[0].category, "spam");
	ck_assert_ptr_null(list[0].secret_id);
	ck_assert_str_eq(list[1].mail_id, "AbC-12_xyZ09");
	ck_assert_int_eq(state_quarantine_list(n2, now - 10, 10, ar, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(state_quarantine_list(n2, 0, 1, ar, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	/* an entry that expired is dropped from the index */
	ck_assert_int_eq(rint_("DEL %s", "tollgate:{q:second}"), 1);
	ck_assert_int_eq(state_quarantine_list(n2, 0, 10, ar, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(rint_("ZCARD %s", "tollgate:{qidx}"), 1);
	state_free(&n1);
	state_free(&n2);
}
END_TEST

/* new_node - a state object named like a host, with a quarantine TTL */
static struct state *new_node(const char *node, unsigned quarantine_ttl)
{
	struct state_opts o;

	state_opts_init(&o);
	o.node = node;
	o.quarantine_ttl = quarantine_ttl;
	return create(&o);
}

START_TEST(test_quarantine_hosts)
{
	static const char body[] = "X-Quarantine-ID: <MsgInRedis1>\n\nbinary \0 and \r\n kept\n";
	const char *rcpts[1] = { "v@x.example" };
	struct state_qentry e, got, *list;
	struct state *a, *b;
	const char *err = NULL;
	time_t now = time(NULL);
	char *data;
	size_t n, len;

	NEED_REDIS();
	a = new_node("host-a.example", 3600);
	b = new_node("host-b.example", 3600);
	ck_assert_str_eq(state_node(a), "host-a.example");
	memset(&e, 0, sizeof(e));
	e.mail_id = "MsgInRedis1";
	e.secret_id = "sec1";
	e.category = "virus";
	e.sender = "s@x.example";
	e.location = "redis";
	e.rcpts = rcpts;
	e.nrcpts = 1;
	/* host A stores the message itself in Redis; host B finds and reads it */
	ck_assert_int_eq(state_quarantine_put_msg(a, &e, body, sizeof(body) - 1, now, &err), 0);
	ck_assert_int_eq(state_quarantine_get(b, "MsgInRedis1", NULL, ar, &got, &err), 1);
	ck_assert_str_eq(got.host, "host-a.example");
	ck_assert_str_eq(got.location, "redis");
	ck_assert_uint_eq(got.size, sizeof(body) - 1);
	ck_assert_int_eq(state_quarantine_msg(b, "MsgInRedis1", ar, &data, &len, &err), 1);
	ck_assert_uint_eq(len, sizeof(body) - 1);
	ck_assert_int_eq(memcmp(data, body, len), 0);	/* binary-safe: NUL, CR LF */
	ck_assert_int_eq(data[len], 0);
	/* the message and its entry expire together (quarantine_ttl) */
	ck_assert_int_gt(rint_("TTL %s", "tollgate:{q:MsgInRedis1}:msg"), 3600 - 10);
	ck_assert_int_le(rint_("TTL %s", "tollgate:{q:MsgInRedis1}:msg"), 3600);
	ck_assert_int_gt(rint_("TTL %s", "tollgate:{q:MsgInRedis1}"), 3600 - 10);

	/* host B quarantines a message in its file store: indexed with its host, no message in Redis */
	e.mail_id = "MsgInFileB";
	e.location = "/var/lib/tollgate/quarantine/virus-MsgInFileB";
	ck_assert_int_eq(state_quarantine_put(b, &e, now + 1, &err), 0);
	ck_assert_int_eq(state_quarantine_get(a, "MsgInFileB", NULL, ar, &got, &err), 1);
	ck_assert_str_eq(got.host, "host-b.example");
	ck_assert_uint_eq(got.size, 0);
	ck_assert_int_eq(state_quarantine_msg(a, "MsgInFileB", ar, &data, &len, &err), 0);
	ck_assert_ptr_null(data);
	ck_assert_int_eq(state_quarantine_msg(a, "nosuchid", ar, &data, &len, &err), 0);
	ck_assert_int_eq(state_quarantine_msg(a, "bad id{x}", ar, &data, &len, &err), 0);

	/* the list shows every host's entries with their host */
	ck_assert_int_eq(state_quarantine_list(a, 0, 10, ar, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].mail_id, "MsgInFileB");
	ck_assert_str_eq(list[0].host, "host-b.example");
	ck_assert_str_eq(list[1].host, "host-a.example");
	ck_assert_str_eq(list[1].location, "redis");

	/* a put without the message of the same id leaves no stale message */
	e.mail_id = "MsgInRedis1";
	ck_assert_int_eq(state_quarantine_put(a, &e, now, &err), 0);
	ck_assert_int_eq(state_quarantine_msg(b, "MsgInRedis1", ar, &data, &len, &err), 0);
	ck_assert_int_eq(rint_("EXISTS %s", "tollgate:{q:MsgInRedis1}:msg"), 0);

	/* an entry written before the host field: host "" (released as before, on any host) */
	ck_assert_int_eq(rint_("HDEL %s host", "tollgate:{q:MsgInFileB}"), 1);
	ck_assert_int_eq(state_quarantine_get(a, "MsgInFileB", NULL, ar, &got, &err), 1);
	ck_assert_str_eq(got.host, "");
	state_free(&a);
	state_free(&b);
}
END_TEST

/* all_fail - every call fails; returns the slowest call in ms */
static long long all_fail(struct state *st)
{
	const char *rc1[1] = { "a@b" }, *done[1];
	struct state_qentry e = { .mail_id = "m1", .secret_id = "s1" }, *list;
	struct state_stats s;
	unsigned long cnt;
	const char *err;
	long long t0, worst = 0, d;
	int seen[1], i;
	char *data;
	size_t n;

	for (i = 0; i < 10; i++) {
		err = NULL;
		t0 = mono_ms();
		switch (i) {
		case 0: ck_assert_int_eq(state_count_message(st, "b", "clean", 1, time(NULL), &err), -1); break;
		case 1: ck_assert_int_eq(state_stats_read(st, time(NULL), ar, &s, &err), -1); break;
		case 2: ck_assert_int_eq(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err), -1); break;
		case 3: ck_assert_int_eq(state_penpals_record(st, "a@b", rc1, 1, time(NULL), &err), -1); break;
		case 4: ck_assert_int_eq(state_penpals_seen(st, "a@b", rc1, 1, seen, &err), -1); break;
		case 5: ck_assert_int_eq(state_delivered_get(st, "Q1", "d", rc1, 1, ar, done, &err), -1); break;
		case 6: ck_assert_int_eq(state_delivered_set(st, "Q1", "d", rc1, 1, NULL, 1, &err), -1); break;
		case 7: ck_assert_int_eq(state_quarantine_put(st, &e, time(NULL), &err), -1); break;
		case 8: ck_assert_int_eq(state_quarantine_list(st, 0, 5, ar, &list, &n, &err), -1); break;
		case 9: ck_assert_int_eq(state_quarantine_msg(st, "m1", ar, &data, &n, &err), -1); break;
		}
		ck_assert_ptr_nonnull(err);
		ck_assert_int_gt(strlen(err), 0);
		d = mono_ms() - t0;
		if (d > worst)
			worst = d;
	}
	ck_assert_int_eq(state_quarantine_get(st, "m1", NULL, ar, &e, &err), -1);
	return worst;
}

START_TEST(test_down)
{
	struct state *st;
	unsigned long cnt = 0;
	const char *err = NULL;
	long long t0;
	int i;

	NEED_REDIS();
	st = new_state(300, 200);
	ck_assert_int_eq(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err), 0);

	/* stopped: the connection breaks, then connect fails; all fast */
	redis_stop();
	ck_assert_int_lt(all_fail(st), 350);
	ck_assert_int_eq(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "connect"));

	/* back: the same object recovers once retry_ms has passed */
	ck_assert_int_eq(redis_start(), 0);
	usleep(250000);
	ck_assert_msg(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err) == 0, "%s", err);
	ck_assert_uint_eq(cnt, 1);

	/* a restart behind an open connection: the call reconnects once */
	redis_stop();
	ck_assert_int_eq(redis_start(), 0);
	ck_assert_msg(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err) == 0, "%s", err);
	ck_assert_uint_eq(cnt, 1);

	/* hung (SIGSTOP): every call is bounded by the timeout; a timeout
	 * is not retried, and the dead window then answers at once */
	kill(redis_pid, SIGSTOP);
	t0 = mono_ms();
	ck_assert_int_eq(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err), -1);
	ck_assert_int_lt(mono_ms() - t0, 900);
	ck_assert_int_lt(all_fail(st), 100);
	usleep(250000);			/* past retry_ms: one more timeout, bounded */
	t0 = mono_ms();
	ck_assert_int_eq(state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err), -1);
	ck_assert_int_lt(mono_ms() - t0, 900);
	kill(redis_pid, SIGCONT);
	for (i = 0; i < 20; i++) {
		if (state_rate_hit(st, "sender", "a@b", 60, time(NULL), &cnt, &err) == 0)
			break;
		usleep(100000);
	}
	ck_assert_int_lt(i, 20);
	state_free(&st);
}
END_TEST

START_TEST(test_keys)
{
	const char *rc1[1] = { "Bob@Remote.example" };
	char hostile[400], hostile_hash[40], dg[STATE_DIGEST_HEX], want[200];
	struct state_qentry e = { .mail_id = "m1", .secret_id = "s1", .rcpts = rc1, .nrcpts = 1 };
	struct state *st;
	unsigned long cnt;
	const char *err = NULL;
	redisReply *r;
	size_t i, j;
	int hits = 0;

	NEED_REDIS();
	st = new_state(1000, 1000);
	memset(hostile, 'A', sizeof(hostile));
	memcpy(hostile, "x y\r\n{tag}", 10);
	hostile[sizeof(hostile) - 1] = '\0';
	ck_assert_int_eq(state_count_message(st, "b", "clean", 1, 1700000000, &err), 0);
	ck_assert_int_eq(state_rate_hit(st, "client", "192.0.2.1", 60, 1700000000, &cnt, &err), 0);
	ck_assert_int_eq(state_rate_hit(st, "sender", hostile, 60, 1700000000, &cnt, &err), 0);
	ck_assert_int_eq(state_penpals_record(st, "alice@local.example", rc1, 1, 1, &err), 0);
	ck_assert_int_eq(state_delivered_set(st, "QID1", "abcdef", rc1, 1, NULL, 1, &err), 0);
	ck_assert_int_eq(state_quarantine_put(st, &e, time(NULL), &err), 0);

	/* the hostile key: lower-cased, hashed, "#" plus 32 hex digits */
	for (i = 0; hostile[i]; i++)
		if (hostile[i] >= 'A' && hostile[i] <= 'Z')
			hostile[i] = (char)(hostile[i] - 'A' + 'a');
	state_digest(hostile, strlen(hostile), dg);
	snprintf(hostile_hash, sizeof(hostile_hash), "#%.32s", dg);

	r = rcmd("KEYS *");
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 9);
	for (i = 0; i < r->elements; i++) {
		const char *k = r->element[i]->str;
		static const char *const want_fixed[] = {
			"tollgate:{stats}:total",
			"tollgate:{stats}:min:28333333",
			"tollgate:{stats}:seen",
			"tollgate:{rl:client:192.0.2.1}:60:1699999980",
			"tollgate:{pp:bob@remote.example}:alice@local.example",
			"tollgate:{dlv:QID1}:abcdef",
			"tollgate:{q:m1}",
			"tollgate:{qidx}",
		};

		ck_assert_msg(strncmp(k, "tollgate:{", 10) == 0 && strchr(k, '}') != NULL,
		    "no hash tag: %s", k);
		for (j = 0; k[j]; j++)
			ck_assert_msg(k[j] > 0x20 && k[j] < 0x7f, "bad byte in key %s", k);
		ck_assert_int_lt(strlen(k), 200);
		for (j = 0; j < sizeof(want_fixed) / sizeof(want_fixed[0]); j++)
			if (strcmp(k, want_fixed[j]) == 0)
				hits++;
		snprintf(want, sizeof(want), "tollgate:{rl:sender:%s}:60:1699999980", hostile_hash);
		if (strcmp(k, want) == 0)
			hits++;
	}
	freeReplyObject(r);
	ck_assert_int_eq(hits, 9);
	state_free(&st);
}
END_TEST

/* setup, teardown - a fresh server for each test, in the test's own
 * process (also with CK_FORK), so a test that stops and restarts it
 * leaves nothing behind */
static void setup(void)
{
	if (have_redis)
		ck_assert_msg(redis_start() == 0, "redis-server did not start");
}

static void teardown(void)
{
	redis_stop();
}

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_offline);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_penpals);
	tcase_add_test(tc, test_delivered);
	tcase_add_test(tc, test_quarantine);
	tcase_add_test(tc, test_quarantine_hosts);
	tcase_add_test(tc, test_down);
	tcase_add_test(tc, test_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);	/* as in workers: hiredis writes with write() */
	ar = arena_create(0);
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	snprintf(redis_sock, sizeof(redis_sock), "%s/r.sock", tmpdir);
	have_redis = system("command -v redis-server >/dev/null 2>&1") == 0;
	rc = check_tap_run(state_suite());
	arena_free(&ar);
	rmdir(tmpdir);
	return rc;
}
