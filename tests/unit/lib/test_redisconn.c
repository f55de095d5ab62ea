/*
 * test_redisconn.c - unit tests of lib/redisconn.c: the server syntax
 * (one server, sentinel:NAME@HOST:PORT,...; good and bad strings), and
 * Sentinel discovery against fake sentinels and a fake master (a thread
 * per connection answering RESP on loopback): a sentinel that is down or
 * does not know the master is skipped, the one that answered is asked
 * first next time, a master whose ROLE is not "master" is refused,
 * -READONLY drops the connection, every sentinel down is an error that
 * names the failure, and the back-off fails at once.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/redisconn.h"
#include "tests/unit/check_tap.h"

/*
 * The fake server: SENTINEL gets the address 127.0.0.1:master_port (nil
 * when 0), ROLE gets role, SET gets -READONLY when readonly, anything
 * else +OK. sentinel_asked counts SENTINEL commands. With password set
 * (a sentinel with requirepass), every command but AUTH gets -NOAUTH
 * until the connection sent AUTH with that password (-WRONGPASS for
 * another).
 */
struct fake {
	int lfd, port;
	int master_port;
	const char *role;
	int readonly;
	const char *password;
	volatile int sentinel_asked;
};

struct fake_conn {
	struct fake *f;
	int fd;
	int authed;
};

/* fake_reply - the answer to a command named cmd (arg: its first argument) */
static void fake_reply(struct fake_conn *fc, const char *cmd, const char *arg)
{
	struct fake *f = fc->f;
	int fd = fc->fd;
	char out[256];
	char port[16];

	if (f->password != NULL && strcasecmp(cmd, "AUTH") == 0) {
		fc->authed = strcmp(arg, f->password) == 0;
		snprintf(out, sizeof(out), "%s\r\n", fc->authed ? "+OK" :
		    "-WRONGPASS invalid username-password pair or user is disabled.");
	} else if (f->password != NULL && !fc->authed) {
		snprintf(out, sizeof(out), "-NOAUTH Authentication required.\r\n");
	} else if (strcasecmp(cmd, "SENTINEL") == 0) {
		__sync_fetch_and_add(&f->sentinel_asked, 1);
		if (f->master_port == 0) {
			snprintf(out, sizeof(out), "*-1\r\n");
		} else {
			snprintf(port, sizeof(port), "%d", f->master_port);
			snprintf(out, sizeof(out), "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%s\r\n", strlen(port), port);
		}
	} else if (strcasecmp(cmd, "ROLE") == 0) {
		snprintf(out, sizeof(out), "*1\r\n$%zu\r\n%s\r\n", strlen(f->role), f->role);
	} else if (strcasecmp(cmd, "SET") == 0 && f->readonly) {
		snprintf(out, sizeof(out), "-READONLY You can't write against a read only replica.\r\n");
	} else {
		snprintf(out, sizeof(out), "+OK\r\n");
	}
	if (write(fd, out, strlen(out)) < 0)
		return;
}

/* fake_parse - the name of the first complete command in buf (RESP
 * array of bulk strings); its length in *used, 0 when incomplete */
static int fake_parse(const char *buf, size_t len, char *name, size_t namesz, char *arg, size_t argsz,
    size_t *used)
{
	size_t pos = 0, i;
	long n, l;
	char *end;

	*used = 0;
	if (len < 4 || buf[0] != '*' || memchr(buf, '\n', len) == NULL)
		return 0;
	n = strtol(buf + 1, &end, 10);
	pos = (size_t)(strchr(buf, '\n') - buf) + 1;
	name[0] = '\0';
	arg[0] = '\0';
	for (i = 0; i < (size_t)n; i++) {
		if (pos >= len || buf[pos] != '$' || memchr(buf + pos, '\n', len - pos) == NULL)
			return 0;
		l = strtol(buf + pos + 1, &end, 10);
		pos = (size_t)((const char *)memchr(buf + pos, '\n', len - pos) - buf) + 1;
		if (pos + (size_t)l + 2 > len)
			return 0;
		if (i == 0)
			snprintf(name, namesz, "%.*s", (int)l, buf + pos);
		else if (i == 1)
			snprintf(arg, argsz, "%.*s", (int)l, buf + pos);
		pos += (size_t)l + 2;
	}
	*used = pos;
	return 1;
}

/* fake_serve - one connection: answer each command until EOF */
static void *fake_serve(void *arg)
{
	struct fake_conn *fc = arg;
	char buf[4096], name[64], first[128];
	size_t len = 0, used;
	ssize_t n;

	while ((n = read(fc->fd, buf + len, sizeof(buf) - len)) > 0) {
		len += (size_t)n;
		while (fake_parse(buf, len, name, sizeof(name), first, sizeof(first), &used) && used > 0) {
			fake_reply(fc, name, first);
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (len == sizeof(buf))
			break;
	}
	close(fc->fd);
	free(fc);
	return NULL;
}

/* fake_accept - accept connections, a thread each */
static void *fake_accept(void *arg)
{
	struct fake *f = arg;
	struct fake_conn *fc;
	pthread_t t;
	int fd;

	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		fc = calloc(1, sizeof(*fc));
		fc->f = f;
		fc->fd = fd;
		if (pthread_create(&t, NULL, fake_serve, fc) != 0) {
			close(fd);
			free(fc);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

/* fake_start - a fake server on a free loopback port */
static struct fake *fake_start(int master_port, const char *role)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t t;

	f->master_port = master_port;
	f->role = role;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&t, NULL, fake_accept, f), 0);
	pthread_detach(t);
	return f;
}

/* dead_port - a loopback port nobody listens on (bound, not listening) */
static int dead_port(int *fd_r)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	*fd_r = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(*fd_r, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(*fd_r, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

/* conn_for_pw - a redisconn for server, 500 ms timeout, sentinel password */
static struct redisconn *conn_for_pw(const char *server, int retry_ms, const char *sentinel_password)
{
	struct redisconn_opts o;
	struct redisconn *rc = NULL;
	const char *err = NULL;

	memset(&o, 0, sizeof(o));
	o.server = server;
	o.sentinel_password = sentinel_password;
	o.timeout_ms = 500;
	o.retry_ms = retry_ms;
	ck_assert_msg(redisconn_create(&rc, &o, &err) == 0, "create %s: %s", server, err);
	return rc;
}

/* conn_for - a redisconn for server, 500 ms timeout */
static struct redisconn *conn_for(const char *server, int retry_ms)
{
	return conn_for_pw(server, retry_ms, NULL);
}

START_TEST(test_parse_good)
{
	struct redisconn_spec s;
	const char *err = NULL;

	ck_assert_int_eq(redisconn_parse("127.0.0.1:6379", &s, &err), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.master, "");
	ck_assert_str_eq(s.eps[0].host, "127.0.0.1");
	ck_assert_str_eq(s.eps[0].port, "6379");
	ck_assert_int_eq(redisconn_parse("/run/redis/redis.sock", &s, &err), 0);
	ck_assert_int_eq(s.eps[0].is_unix, 1);
	ck_assert_str_eq(s.eps[0].path, "/run/redis/redis.sock");
	ck_assert_int_eq(redisconn_parse("unix:/run/redis.sock", &s, &err), 0);
	ck_assert_int_eq(s.eps[0].is_unix, 1);
	ck_assert_int_eq(redisconn_parse("sentinel:mymaster@127.0.0.1:26379", &s, &err), 0);
	ck_assert_str_eq(s.master, "mymaster");
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.eps[0].port, "26379");
	ck_assert_int_eq(redisconn_parse("sentinel:a.b_c-1@10.0.0.1:26379,[::1]:26380,sent.example:26381", &s, &err), 0);
	ck_assert_str_eq(s.master, "a.b_c-1");
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.eps[1].host, "::1");
	ck_assert_str_eq(s.eps[1].port, "26380");
	ck_assert_str_eq(s.eps[2].host, "sent.example");
	/* 16 sentinels and a 64-character name are the limits */
	ck_assert_int_eq(redisconn_parse("sentinel:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@"
	    "h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8,h:9,h:10,h:11,h:12,h:13,h:14,h:15,h:16", &s, &err), 0);
	ck_assert_int_eq(s.n, 16);
	ck_assert_uint_eq(strlen(s.master), 64);
}
END_TEST

START_TEST(test_parse_bad)
{
	static const struct {
		const char *spec, *err;
	} bad[] = {
		{ "no-port", "" },
		{ "sentinel:", "sentinel:MASTERNAME@" },
		{ "sentinel:mymaster", "sentinel:MASTERNAME@" },
		{ "sentinel:@127.0.0.1:26379", "sentinel:MASTERNAME@" },
		{ "sentinel:my master@127.0.0.1:26379", "sentinel:MASTERNAME@" },
		{ "sentinel:my{m}@127.0.0.1:26379", "sentinel:MASTERNAME@" },
		{ "sentinel:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@h:1", "sentinel:MASTERNAME@" },
		{ "sentinel:m@", "empty sentinel address" },
		{ "sentinel:m@127.0.0.1:26379,", "empty sentinel address" },
		{ "sentinel:m@,127.0.0.1:26379", "empty sentinel address" },
		{ "sentinel:m@127.0.0.1:26379,,127.0.0.1:26380", "empty sentinel address" },
		{ "sentinel:m@127.0.0.1", "sentinel \"127.0.0.1\"" },
		{ "sentinel:m@127.0.0.1:26379,h", "sentinel \"h\"" },
		{ "sentinel:m@unix:/run/sentinel.sock", "TCP" },
		{ "sentinel:m@/run/sentinel.sock", "TCP" },
		{ "sentinel:m@h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8,h:9,h:10,h:11,h:12,h:13,h:14,h:15,h:16,h:17",
		    "more than 16" },
	};
	struct redisconn_spec s;
	struct redisconn *rc = NULL;
	struct redisconn_opts o;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		ck_assert_msg(redisconn_parse(bad[i].spec, &s, &err) < 0, "accepted: %s", bad[i].spec);
		ck_assert_msg(err != NULL && strstr(err, bad[i].err) != NULL, "%s: error \"%s\", expected \"%s\"",
		    bad[i].spec, err ? err : "(null)", bad[i].err);
	}
	memset(&o, 0, sizeof(o));
	o.server = "sentinel:m@127.0.0.1";
	o.timeout_ms = 100;
	ck_assert_int_lt(redisconn_create(&rc, &o, &err), 0);
	ck_assert_ptr_null(rc);
	o.server = "127.0.0.1:6379";
	o.timeout_ms = 0;
	ck_assert_int_lt(redisconn_create(&rc, &o, &err), 0);
	ck_assert_str_eq(err, "redis timeout must be positive");
}
END_TEST

START_TEST(test_discovery)
{
	struct fake *master = fake_start(0, "master");
	struct fake *unknowing = fake_start(0, "master");	/* nil: does not know the master */
	struct fake *knowing = fake_start(master->port, "master");
	struct redisconn *rc;
	const char *err = NULL;
	char spec[256];
	int dfd, dead = dead_port(&dfd);
	redisReply *r;

	snprintf(spec, sizeof(spec), "sentinel:mymaster@127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
	    dead, unknowing->port, knowing->port);
	rc = conn_for(spec, 0);
	ck_assert_ptr_null(redisconn_context(rc));
	ck_assert_msg(redisconn_connect(rc, &err) == 0, "connect: %s", err);
	ck_assert_ptr_nonnull(redisconn_context(rc));
	ck_assert_int_eq(unknowing->sentinel_asked, 1);
	ck_assert_int_eq(knowing->sentinel_asked, 1);
	/* the sentinel that answered is asked first the next time */
	redisconn_drop(rc);
	ck_assert_int_eq(redisconn_connect(rc, &err), 0);
	ck_assert_int_eq(unknowing->sentinel_asked, 1);
	ck_assert_int_eq(knowing->sentinel_asked, 2);
	/* -READONLY drops the connection: the sentinels are asked again */
	master->readonly = 1;
	r = redisCommand(redisconn_context(rc), "SET k v");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(redisconn_reply_error(rc, r), 1);
	freeReplyObject(r);
	ck_assert_ptr_null(redisconn_context(rc));
	/* a replica in the master's place is refused */
	master->role = "slave";
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	ck_assert_msg(strstr(err, "is not a master (ROLE slave)") != NULL, "%s", err);
	ck_assert_ptr_null(redisconn_context(rc));
	ck_assert_int_eq(knowing->sentinel_asked, 3);
	/* other error replies leave the connection */
	master->role = "master";
	ck_assert_int_eq(redisconn_connect(rc, &err), 0);
	r = redisCommand(redisconn_context(rc), "GET k");
	ck_assert_int_eq(redisconn_reply_error(rc, r), 0);
	freeReplyObject(r);
	ck_assert_ptr_nonnull(redisconn_context(rc));
	redisconn_free(&rc);
	ck_assert_ptr_null(rc);
	close(dfd);
}
END_TEST

/* sentinels with requirepass: asked with redis_sentinel_password, and
 * without it (or with a wrong one) their refusal is the reason given */
START_TEST(test_sentinel_password)
{
	struct fake *master = fake_start(0, "master");
	struct fake *sentinel = fake_start(master->port, "master");
	struct redisconn *rc;
	const char *err = NULL;
	char spec[256];

	sentinel->password = "s3cret";
	snprintf(spec, sizeof(spec), "sentinel:mymaster@127.0.0.1:%d", sentinel->port);
	rc = conn_for(spec, 0);
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	ck_assert_msg(strstr(err, "NOAUTH") != NULL, "%s", err);
	ck_assert_int_eq(sentinel->sentinel_asked, 0);
	redisconn_free(&rc);
	rc = conn_for_pw(spec, 0, "wrong");
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	ck_assert_msg(strstr(err, "AUTH: WRONGPASS") != NULL, "%s", err);
	ck_assert_int_eq(sentinel->sentinel_asked, 0);
	redisconn_free(&rc);
	rc = conn_for_pw(spec, 0, "s3cret");
	ck_assert_msg(redisconn_connect(rc, &err) == 0, "connect: %s", err);
	ck_assert_int_eq(sentinel->sentinel_asked, 1);
	ck_assert_ptr_nonnull(redisconn_context(rc));
	redisconn_free(&rc);
}
END_TEST

START_TEST(test_all_down)
{
	struct redisconn *rc;
	const char *err = NULL;
	char spec[256], want[128];
	int d1, d2, p1 = dead_port(&d1), p2 = dead_port(&d2);

	snprintf(spec, sizeof(spec), "sentinel:mymaster@127.0.0.1:%d,127.0.0.1:%d", p1, p2);
	rc = conn_for(spec, 60000);
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	snprintf(want, sizeof(want), "no sentinel gave the master mymaster (sentinel 127.0.0.1:%d: connect: ", p2);
	ck_assert_msg(strncmp(err, "redis sentinel:mymaster@", 24) == 0 && strstr(err, want) != NULL, "%s", err);
	/* the back-off: at once, with the same reason */
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	ck_assert_msg(strstr(err, want) != NULL && strstr(err, "(next attempt in ") != NULL, "%s", err);
	redisconn_free(&rc);
	/* one server down: the old texts */
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", p1);
	rc = conn_for(spec, 0);
	ck_assert_int_lt(redisconn_connect(rc, &err), 0);
	snprintf(want, sizeof(want), "redis 127.0.0.1:%d: connect: ", p1);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	redisconn_free(&rc);
	close(d1);
	close(d2);
}
END_TEST

static Suite *redisconn_suite(void)
{
	Suite *s = suite_create("redisconn");
	TCase *tc = tcase_create("redisconn");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_discovery);
	tcase_add_test(tc, test_all_down);
	tcase_add_test(tc, test_sentinel_password);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* as the daemon: hiredis writes with write() */
	return check_tap_run(redisconn_suite());
}
