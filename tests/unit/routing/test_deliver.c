/*
 * test_deliver.c - deliver() without TLS against a scripted fake SMTP/LMTP server
 * forked by the test on a free 127.0.0.1 port.
 *
 * The fake server takes its connections one after another; connection
 * k follows script k: entry 0 is the greeting, then one entry per
 * command (or per end of data), sent as written (several lines for an
 * LMTP end of data). RSET and QUIT are answered on their own. Special
 * entries: "CLOSE" drops the connection when the next command (or end
 * of data) arrives, "HANGUP" drops it right after the previous reply,
 * "SILENT" answers nothing. Every byte the client sends is written to
 * DIR/connK, protocol faults to DIR/connK.err: a command that arrived
 * before the previous reply without PIPELINING, or, with PIPELINING,
 * a first group that did not reach DATA in one go.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "routing/routing.h"
#include "tests/unit/check_tap.h"

#define MAX_CONNS 4

struct fake {
	pid_t pid;
	int port;
	char dir[64];
	char spec[64];
};

static struct arena *arena;
static pid_t fake_pid;		/* server still running, killed by teardown */

/* ---- the fake server (child side) ---- */

struct fsrv {
	int fd, log, err;
	char *buf;
	size_t len, cap;
};

/* fs_log - write all of p to fd (the test harness cannot go on otherwise) */
static void fs_log(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			_exit(3);
		p += w;
		n -= (size_t)w;
	}
}

/* fs_send - one scripted reply to the client */
static void fs_send(struct fsrv *s, const char *r)
{
	(void)send(s->fd, r, strlen(r), MSG_NOSIGNAL);
}

/* fs_fill - read more; 0 on EOF/error, waiting at most ms (-1: forever) */
static int fs_fill(struct fsrv *s, int ms)
{
	struct pollfd p = { s->fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	if (s->cap - s->len < 65536) {
		s->cap = s->cap * 2 + 65536;
		s->buf = realloc(s->buf, s->cap);
	}
	n = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
	if (n <= 0)
		return 0;
	s->len += (size_t)n;
	return 1;
}

/* fs_line - the next CRLF line (with it) into *line, removed from the
 * buffer; 0 on EOF */
static int fs_line(struct fsrv *s, char **line, size_t *llen)
{
	for (;;) {
		char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;

		if (nl != NULL) {
			*llen = (size_t)(nl - s->buf) + 1;
			*line = malloc(*llen + 1);
			memcpy(*line, s->buf, *llen);
			(*line)[*llen] = 0;
			memmove(s->buf, nl + 1, s->len - *llen);
			s->len -= *llen;
			fs_log(s->log, *line, *llen);
			return 1;
		}
		if (!fs_fill(s, 10000))
			return 0;
	}
}

/* fs_fault - note a protocol fault of the client */
static void fs_fault(struct fsrv *s, const char *what)
{
	fs_log(s->err, what, strlen(what));
	fs_log(s->err, "\n", 1);
}

/* fs_serve - one connection by its script */
static void fs_serve(struct fsrv *s, const char *const *script, int pipelining)
{
	size_t e = 0, llen;
	int data = 0, ehlo_done = 0, group_checked = 0;
	char *line;

	fs_send(s, script[e++]);
	for (;;) {
		const char *r;

		if (script[e] && strcmp(script[e], "HANGUP") == 0)
			return;
		if (!data && ehlo_done && pipelining && !group_checked) {
			/* the first group after EHLO must arrive whole, up to DATA */
			int i;

			group_checked = 1;
			for (i = 0; i < 50 && !memmem(s->buf, s->len, "DATA\r\n", 6) &&
			    !memmem(s->buf, s->len, "QUIT\r\n", 6); i++)
				if (!fs_fill(s, 20) && i > 10)
					break;
			if (!memmem(s->buf, s->len, "DATA\r\n", 6) && !memmem(s->buf, s->len, "QUIT\r\n", 6))
				fs_fault(s, "no pipelined group");
		}
		if (!fs_line(s, &line, &llen))
			return;
		if (data) {
			int end = strcmp(line, ".\r\n") == 0;

			free(line);
			if (!end)
				continue;
			data = 0;
		} else {
			if (!pipelining && s->len > 0)
				fs_fault(s, "command before reply without PIPELINING");
			if (strncasecmp(line, "QUIT", 4) == 0) {
				free(line);
				fs_send(s, "221 2.0.0 Bye\r\n");
				return;
			}
			if (strncasecmp(line, "RSET", 4) == 0) {
				free(line);
				fs_send(s, "250 2.0.0 Ok\r\n");
				continue;
			}
			if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "LHLO", 4) == 0)
				ehlo_done = 1;
			if (strncasecmp(line, "DATA", 4) == 0 && script[e] && strncmp(script[e], "354", 3) == 0)
				data = 1;
			free(line);
		}
		r = script[e];
		if (r == NULL || strcmp(r, "CLOSE") == 0)
			return;
		e++;
		if (strcmp(r, "SILENT") != 0)
			fs_send(s, r);
	}
}

/* fs_main - the server process: its connections one after another */
static void fs_main(int lfd, const char *dir, const char *const *const *scripts, int nconn, int pipelining)
{
	int k, null = open("/dev/null", O_RDWR);

	/* never outlive the test, never hold its output open */
	alarm(20);
	dup2(null, 1);
	dup2(null, 2);
	for (k = 0; k < nconn; k++) {
		struct fsrv s;
		char path[128];

		memset(&s, 0, sizeof(s));
		s.fd = accept(lfd, NULL, NULL);
		if (s.fd < 0)
			_exit(2);
		snprintf(path, sizeof(path), "%s/conn%d", dir, k);
		s.log = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		snprintf(path, sizeof(path), "%s/conn%d.err", dir, k);
		s.err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		fs_serve(&s, scripts[k], pipelining);
		close(s.fd);
		close(s.log);
		close(s.err);
		free(s.buf);
	}
	_exit(0);
}

/* ---- test side ---- */

/* fake_start - listen on 127.0.0.1:0 and fork the server */
static void fake_start(struct fake *f, const char *proto, const char *const *const *scripts, int nconn,
    int pipelining)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	strlcpy(f->dir, "/tmp/tg-test-deliver-XXXXXX", sizeof(f->dir));
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->spec, sizeof(f->spec), "%s:[127.0.0.1]:%d", proto, f->port);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0)
		fs_main(lfd, f->dir, scripts, nconn, pipelining);
	fake_pid = f->pid;
	close(lfd);
}

/* fake_stop - wait for the server to finish its scripts (kill it after
 * 2 s: it was waiting for a connection that never came) */
static void fake_stop(struct fake *f)
{
	int i, st;

	fake_pid = 0;
	for (i = 0; i < 200; i++) {
		if (waitpid(f->pid, &st, WNOHANG) == f->pid)
			return;
		usleep(10000);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
}

/* fake_read - what the server logged for connection k (NULL: no such
 * connection) and its fault file */
static char *fake_read(const struct fake *f, const char *suffix, int k)
{
	char path[128];
	struct buf b = BUF_INIT;
	char tmp[65536];
	ssize_t n;
	int fd;
	char *out;

	snprintf(path, sizeof(path), "%s/conn%d%s", f->dir, k, suffix);
	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(&b, tmp, (size_t)n);
	close(fd);
	out = arena_strndup(arena, b.data ? b.data : "", b.len);
	buf_free(&b);
	return out;
}

/* fake_cleanup - remove the server's log directory */
static void fake_cleanup(struct fake *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	(void)system(cmd);
}

/* fake_no_faults - the server saw no protocol faults on connection k */
static void fake_no_faults(const struct fake *f, int k)
{
	char *e = fake_read(f, ".err", k);

	ck_assert_ptr_nonnull(e);
	ck_assert_msg(*e == 0, "server faults on conn%d: %s", k, e);
}

/* setup - a fresh arena per test */
static void setup(void)
{
	arena = arena_create(0);
}

/* teardown - kill a server left running by a failed test, free the arena */
static void teardown(void)
{
	int st;

	if (fake_pid > 0) {
		/* the test failed before fake_stop() */
		kill(fake_pid, SIGKILL);
		waitpid(fake_pid, &st, 0);
		fake_pid = 0;
	}
	arena_free(&arena);
}

/* mkmsg - a message with content and recipients */
static struct message *mkmsg(const char *content, size_t clen, const char *const *rcpts, size_t n)
{
	struct message *msg = arena_alloc(arena, sizeof(*msg));
	size_t i;

	msg->arena = arena;
	msg->sender = "sender@example.net";
	msg->size_declared = -1;
	msg->client_addr = "127.0.0.1";
	msg->client_port = "40001";
	msg->local_addr = "127.0.0.1";
	msg->local_port = "10024";
	msg->helo = "localhost";
	strlcpy(msg->am_id, "1234-01", sizeof(msg->am_id));
	strlcpy(msg->mail_id, "AbCdEfGhIjKl", sizeof(msg->mail_id));
	msg->spool = spool_create(arena, "/tmp", 65536);	/* big ones go to a file */
	ck_assert_int_eq(spool_write(msg->spool, content, clen), 0);
	ck_assert_int_eq(spool_finish(msg->spool), 0);
	for (i = 0; i < n; i++)
		message_add_rcpt(msg, rcpts[i]);
	return msg;
}

static const struct deliver_opts opts = { 5, 5, 5, 30, "tg.example", { 0, 0 } };
static const size_t idx_all[] = { 0, 1, 2, 3, 4, 5, 6, 7 };

/* method - the forward method that reaches fake f */
static struct fwd_method method(const struct fake *f)
{
	struct fwd_method m;
	const char *err;

	ck_assert_int_eq(method_parse(f->spec, &m, &err), 0);
	return m;
}

/* expect_reply - rcpt i's reply is "<ours> from MTA(spec): <down>" */
static void expect_reply(const struct message *msg, size_t i, const char *ours, const struct fake *f,
    const char *down)
{
	char want[600];

	snprintf(want, sizeof(want), "%s from MTA(%s): %s", ours, f->spec, down);
	ck_assert_str_eq(msg->rcpts[i].reply, want);
	ck_assert_int_eq(msg->rcpts[i].code, atoi(ours));
}

/* expect_451 - rcpt i got our whole-transaction failure */
static void expect_451(const struct message *msg, size_t i, const char *reason_part)
{
	static const char prefix[] = "451 4.5.0 Error in processing, id=1234-01, forwarding err: ";

	ck_assert_int_eq(msg->rcpts[i].code, 451);
	ck_assert_msg(strncmp(msg->rcpts[i].reply, prefix, sizeof(prefix) - 1) == 0, "reply: %s",
	    msg->rcpts[i].reply);
	ck_assert_msg(strstr(msg->rcpts[i].reply, reason_part) != NULL, "reply: %s", msg->rcpts[i].reply);
	ck_assert_ptr_null(msg->rcpts[i].queued_as);
}

#define EHLO_FULL "250-fake.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n" \
	"250-SMTPUTF8\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250 XFORWARD NAME ADDR PROTO HELO\r\n"
#define EHLO_PIPE "250-fake.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
#define BODY1 "S: x\r\n\r\nbody\r\n"
#define MSG1 "S: 1\r\n\r\nfirst\r\n"
#define MSG2 "S: 2\r\n\r\nsecond\r\n"
#define CONTENT "Subject: t\r\n\r\n.leading dot\r\nmid\r\n..two\r\nlast line without CRLF"

START_TEST(test_pipelined_happy)
{
	static const char *const s0[] = { "220 fake ESMTP\r\n", EHLO_FULL, "250 2.0.0 Ok\r\n",
		"250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "250 2.1.5 Ok\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n",
		"250 2.0.0 Ok: queued as 4XYZ\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(CONTENT, strlen(CONTENT), rc, 2);
	const char *prepend = "X-Test: 1\r\n";
	char want[2048];
	char *got;

	msg->xf.name = "client.example.net";
	msg->xf.addr = "192.0.2.1";
	msg->xf.port = "4321";
	msg->xf.proto = "ESMTP";
	msg->xf.helo = "mail example=x";
	msg->xf.ident = "4ABC";
	msg->body = BODY_8BITMIME;
	msg->ret = DSN_RET_FULL;
	msg->envid = "abc+2Bdef";
	msg->rcpts[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	msg->rcpts[0].orcpt = "rfc822;a@example.com";
	msg->rcpts[1].notify = DSN_NOTIFY_NEVER;

	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, prepend, strlen(prepend), 0), 2);
	expect_reply(msg, 0, "250 2.0.0", &f, "250 2.0.0 Ok: queued as 4XYZ");
	expect_reply(msg, 1, "250 2.0.0", &f, "250 2.0.0 Ok: queued as 4XYZ");
	ck_assert_str_eq(msg->rcpts[0].queued_as, "4XYZ");
	deliver_cache_free(&dc);
	ck_assert_ptr_null(dc);
	fake_stop(&f);

	snprintf(want, sizeof(want),
	    "EHLO tg.example\r\n"
	    "XFORWARD NAME=client.example.net ADDR=192.0.2.1 PROTO=ESMTP HELO=mail+20example+3Dx\r\n"
	    "MAIL FROM:<sender@example.net> SIZE=%zu BODY=8BITMIME RET=FULL ENVID=abc+2Bdef\r\n"
	    "RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.com\r\n"
	    "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
	    "DATA\r\n"
	    "X-Test: 1\r\n"
	    "Subject: t\r\n\r\n..leading dot\r\nmid\r\n...two\r\nlast line without CRLF\r\n.\r\n"
	    "QUIT\r\n", strlen(CONTENT) + strlen(prepend));
	got = fake_read(&f, "", 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_lmtp_per_rcpt)
{
	static const char *const s0[] = { "220 fake LMTP\r\n", EHLO_PIPE, "250 2.1.0 Ok\r\n",
		"250 2.1.5 Ok\r\n", "250 2.1.5 Ok\r\n", "550 5.1.1 <d@example.com> User unknown\r\n",
		"250 2.1.5 Ok\r\n", "354 go\r\n",
		"250 2.0.0 <a@example.com> Ok: queued as AAA1\r\n"
		"451 4.2.0 <b@example.com> try later\r\n"
		"552-5.2.2 <c@example.com> over\r\n552 5.2.2 quota\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com", "d@example.com", "c@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 4);
	char *got;

	fake_start(&f, "lmtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 4, "", 0, 0), 1);
	expect_reply(msg, 0, "250 2.0.0", &f, "250 2.0.0 <a@example.com> Ok: queued as AAA1");
	expect_reply(msg, 1, "451 4.2.0", &f, "451 4.2.0 <b@example.com> try later");
	expect_reply(msg, 2, "550 5.1.1", &f, "550 5.1.1 <d@example.com> User unknown");
	expect_reply(msg, 3, "552 5.2.2", &f, "552 5.2.2 <c@example.com> over quota");
	ck_assert_str_eq(msg->rcpts[0].queued_as, "AAA1");
	ck_assert_ptr_null(msg->rcpts[1].queued_as);
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	ck_assert_str_eq(got, "LHLO tg.example\r\nMAIL FROM:<sender@example.net>\r\n"
	    "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<d@example.com>\r\n"
	    "RCPT TO:<c@example.com>\r\nDATA\r\nS: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_no_pipelining)
{
	static const char *const s0[] = { "220 fake\r\n", "250-fake\r\n250 SIZE\r\n", "250 Ok\r\n",
		"250 Ok\r\n", "250 Ok\r\n", "354 go\r\n", "250 Ok: queued as 77\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);
	struct deliver_opts o = opts;
	char *got;

	o.cache_time = 0;	/* QUIT right after the transaction */
	msg->xf.addr = "192.0.2.1";
	msg->body = BODY_8BITMIME;	/* 8BITMIME not offered: no BODY= */
	msg->rcpts[0].notify = DSN_NOTIFY_SUCCESS;	/* DSN not offered: no NOTIFY= */
	fake_start(&f, "smtp", scripts, 1, 0);
	m = method(&f);
	ck_assert_int_eq(deliver(NULL, &o, &m, NULL, msg, idx_all, 2, "", 0, 0), 2);
	expect_reply(msg, 0, "250 2.0.0", &f, "250 Ok: queued as 77");
	expect_reply(msg, 1, "250 2.0.0", &f, "250 Ok: queued as 77");
	ck_assert_str_eq(msg->rcpts[1].queued_as, "77");
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	ck_assert_str_eq(got, "EHLO tg.example\r\nMAIL FROM:<sender@example.net> SIZE=14\r\n"
	    "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nS: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_all_rejected_pipelined)
{
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, "250 2.1.0 Ok\r\n",
		"550 5.1.1 no such user\r\n", "450 4.7.1 greylisted\r\n",
		"554 5.5.1 Error: no valid recipients\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);
	char *got;

	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, "X: y\r\n", 6, 0), 0);
	expect_reply(msg, 0, "550 5.1.1", &f, "550 5.1.1 no such user");
	expect_reply(msg, 1, "450 4.7.1", &f, "450 4.7.1 greylisted");
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	/* DATA was part of the group, but no content followed: RSET */
	ck_assert_str_eq(got, "EHLO tg.example\r\nMAIL FROM:<sender@example.net>\r\n"
	    "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nRSET\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_all_rejected_no_pipelining)
{
	static const char *const s0[] = { "220 fake\r\n", "250 fake\r\n", "250 2.1.0 Ok\r\n",
		"550 5.1.1 no such user\r\n", "550 5.1.1 nor this one\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);
	char *got;

	fake_start(&f, "smtp", scripts, 1, 0);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, "", 0, 0), 0);
	expect_reply(msg, 0, "550 5.1.1", &f, "550 5.1.1 no such user");
	expect_reply(msg, 1, "550 5.1.1", &f, "550 5.1.1 nor this one");
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	ck_assert_str_eq(got, "EHLO tg.example\r\nMAIL FROM:<sender@example.net>\r\n"
	    "RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRSET\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_mail_refused)
{
	/* a plain 5xx on MAIL (not 421) is every recipient's answer */
	static const char *const s0[] = { "220 fake\r\n", "250 fake\r\n", "553 5.1.8 bad sender\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);

	fake_start(&f, "smtp", scripts, 1, 0);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, "", 0, 0), 0);
	expect_reply(msg, 0, "553 5.1.8", &f, "553 5.1.8 bad sender");
	expect_reply(msg, 1, "553 5.1.8", &f, "553 5.1.8 bad sender");
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_str_eq(fake_read(&f, "", 0), "EHLO tg.example\r\nMAIL FROM:<sender@example.net>\r\nRSET\r\nQUIT\r\n");
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_421_on_mail)
{
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, "421 4.3.0 fake shutting down\r\n",
		"HANGUP", NULL };
	static const char *const s1[] = { "220 fake\r\n", NULL };
	static const char *const *const scripts[] = { s0, s1 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);

	fake_start(&f, "smtp", scripts, 2, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, "", 0, 0), 0);
	expect_451(msg, 0, "MAIL FROM: 421 4.3.0 fake shutting down");
	expect_451(msg, 1, "MAIL FROM: 421 4.3.0 fake shutting down");
	deliver_cache_free(&dc);
	fake_stop(&f);
	/* a fresh connection is not retried, and no data went out */
	ck_assert_ptr_null(fake_read(&f, "", 1));
	ck_assert_ptr_null(strstr(fake_read(&f, "", 0), "body"));
	fake_cleanup(&f);
}
END_TEST

#define OK_TX "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 go\r\n"

START_TEST(test_drop_after_dot)
{
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as ONE\r\n",
		OK_TX, "CLOSE", NULL };
	static const char *const s1[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as DUP\r\n", NULL };
	static const char *const *const scripts[] = { s0, s1 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc, 1);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc, 1);
	char *got;

	fake_start(&f, "smtp", scripts, 2, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg1, idx_all, 1, "", 0, 0), 1);
	ck_assert_str_eq(msg1->rcpts[0].queued_as, "ONE");
	/* on the cached connection: the server takes the data, then drops */
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg2, idx_all, 1, "", 0, 0), 0);
	expect_451(msg2, 0, "end of data: lost connection");
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	ck_assert_ptr_nonnull(strstr(got, "second\r\n.\r\n"));
	ck_assert_ptr_null(fake_read(&f, "", 1));	/* never retried */
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_dead_cached_conn)
{
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as ONE\r\n",
		"HANGUP", NULL };
	static const char *const s1[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as TWO\r\n", NULL };
	static const char *const *const scripts[] = { s0, s1 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc, 1);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc, 1);

	fake_start(&f, "smtp", scripts, 2, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg1, idx_all, 1, "", 0, 0), 1);
	usleep(200000);		/* the server closes the idle connection */
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg2, idx_all, 1, "", 0, 0), 1);
	expect_reply(msg2, 0, "250 2.0.0", &f, "250 2.0.0 Ok: queued as TWO");
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_ptr_null(strstr(fake_read(&f, "", 0), "second"));
	ck_assert_ptr_nonnull(strstr(fake_read(&f, "", 1), "second\r\n.\r\nQUIT\r\n"));
	ck_assert_ptr_null(fake_read(&f, "", 2));
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_cached_conn_421_retried)
{
	/* the cached connection answers 421 to MAIL: one fresh connection,
	 * the whole transaction again, success */
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as ONE\r\n",
		"421 4.4.2 idle too long\r\n", "HANGUP", NULL };
	static const char *const s1[] = { "220 fake\r\n", EHLO_PIPE, "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n",
		"250 2.1.5 Ok\r\n", "354 go\r\n", "250 2.0.0 Ok: queued as TWO\r\n", NULL };
	static const char *const s2[] = { "220 fake\r\n", NULL };
	static const char *const *const scripts[] = { s0, s1, s2 };
	static const char *const rc1[] = { "a@example.com" };
	static const char *const rc2[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc1, 1);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc2, 2);

	fake_start(&f, "smtp", scripts, 3, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg1, idx_all, 1, "", 0, 0), 1);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg2, idx_all, 2, "", 0, 0), 2);
	expect_reply(msg2, 0, "250 2.0.0", &f, "250 2.0.0 Ok: queued as TWO");
	expect_reply(msg2, 1, "250 2.0.0", &f, "250 2.0.0 Ok: queued as TWO");
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_ptr_nonnull(strstr(fake_read(&f, "", 1), "second\r\n.\r\nQUIT\r\n"));
	ck_assert_ptr_null(fake_read(&f, "", 2));	/* exactly one reconnect */
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_connect_refused)
{
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 2);
	char spec[64];
	const char *err;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port that was free a moment ago and has no listener */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%d", ntohs(sin.sin_port));
	ck_assert_int_eq(method_parse(spec, &m, &err), 0);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 2, "", 0, 0), 0);
	expect_451(msg, 0, "Connection refused");
	expect_451(msg, 1, "Connection refused");
	deliver_cache_free(&dc);
}
END_TEST

START_TEST(test_malformed_and_timeout)
{
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, "250 2.1.0 Ok\r\n", "2x0 what\r\n",
		"HANGUP", NULL };
	static const char *const s1[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "SILENT", NULL };
	static const char *const *const scripts[] = { s0, s1 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc, 1);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc, 1);
	struct deliver_opts o = opts;

	o.data_done_timeout = 1;
	fake_start(&f, "smtp", scripts, 2, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &o, &m, NULL, msg1, idx_all, 1, "", 0, 0), 0);
	expect_451(msg1, 0, "RCPT TO: malformed reply: 2x0 what");
	ck_assert_int_eq(deliver(dc, &o, &m, NULL, msg2, idx_all, 1, "", 0, 0), 0);
	expect_451(msg2, 0, "end of data: timeout");
	deliver_cache_free(&dc);
	fake_stop(&f);
	fake_cleanup(&f);
}
END_TEST

/* deadline_in - a deliver_opts deadline ms from now */
static void deadline_in(struct deliver_opts *o, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &o->deadline);
	o->deadline.tv_sec += ms / 1000;
	o->deadline.tv_nsec += (ms % 1000) * 1000000;
	if (o->deadline.tv_nsec >= 1000000000) {
		o->deadline.tv_sec++;
		o->deadline.tv_nsec -= 1000000000;
	}
}

START_TEST(test_deadline)
{
	/* the dot is never answered: the message's deadline (0.7 s), not
	 * the 5 s data-done timeout, ends it with 451 4.4.2; a deadline
	 * already past fails at once without connecting */
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "SILENT", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com" };
	static const char prefix[] = "451 4.4.2 Error in processing, id=1234-01, forwarding err: time limit";
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc, 1);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc, 1);
	struct deliver_opts o = opts;
	struct timespec t0, t1;
	long ms;

	ck_assert_int_eq(deliver_margin_ms(480), 30000);
	ck_assert_int_eq(deliver_margin_ms(120), 12000);
	ck_assert_int_eq(deliver_margin_ms(8), 2000);
	ck_assert_int_eq(deliver_margin_ms(3), 1500);
	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	deadline_in(&o, 700);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(deliver(dc, &o, &m, NULL, msg1, idx_all, 1, "", 0, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms >= 600 && ms < 2000, "gave up after %ld ms", ms);
	ck_assert_int_eq(msg1->rcpts[0].code, 451);
	ck_assert_msg(strncmp(msg1->rcpts[0].reply, prefix, sizeof(prefix) - 1) == 0, "reply: %s",
	    msg1->rcpts[0].reply);
	ck_assert_ptr_nonnull(strstr(msg1->rcpts[0].reply, "end of data"));
	ck_assert_ptr_null(msg1->rcpts[0].queued_as);
	/* past: no connection at all (the fake took only the first) */
	deadline_in(&o, 0);
	o.deadline.tv_sec -= 1;
	ck_assert_int_eq(deliver(dc, &o, &m, NULL, msg2, idx_all, 1, "", 0, 0), 0);
	ck_assert_msg(strncmp(msg2->rcpts[0].reply, prefix, sizeof(prefix) - 1) == 0, "reply: %s",
	    msg2->rcpts[0].reply);
	ck_assert_ptr_nonnull(strstr(msg2->rcpts[0].reply, "before delivery"));
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_ptr_nonnull(strstr(fake_read(&f, "", 0), "first\r\n.\r\n"));
	ck_assert_ptr_null(strstr(fake_read(&f, "", 0), "second"));
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_xforward_split_and_fallback)
{
	/* every attribute offered; no XFORWARD received: TCP facts stand
	 * in; a 450-byte HELO forces a second XFORWARD line */
	static const char *const s0[] = { "220 fake\r\n",
		"250-fake\r\n250-PIPELINING\r\n250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n",
		"250 2.0.0 Ok\r\n", "250 2.0.0 Ok\r\n", OK_TX, "250 2.0.0 Ok\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg = mkmsg(BODY1, strlen(BODY1), rc, 1);
	char helo[451], want[1024];
	char *got, *p;

	memset(helo, 'h', 450);
	helo[450] = 0;
	msg->helo = helo;
	msg->client_addr = "2001:db8::1";
	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 1, "", 0, 0), 1);
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	snprintf(want, sizeof(want), "EHLO tg.example\r\n"
	    "XFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::1 PORT=40001 PROTO=ESMTP\r\n"
	    "XFORWARD HELO=%s IDENT=[UNAVAILABLE] SOURCE=[UNAVAILABLE]\r\nMAIL FROM:", helo);
	ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "got: %.400s", got);
	for (p = got; (p = strstr(p, "XFORWARD")) != NULL; p++)
		ck_assert_uint_le((size_t)(strchr(p, '\n') - p + 1), 512);
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_big_message_stuffing)
{
	/* 400 KiB with dot lines scattered: spans over 64 KiB go straight
	 * out; the server must see exactly the stuffed content */
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok: queued as BIG\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct buf content = BUF_INIT, want = BUF_INIT;
	struct message *msg;
	char *got;
	size_t i;

	buf_puts(&content, "Subject: big\r\n\r\n");
	for (i = 0; i < 5000; i++) {
		if (i % 1500 == 7)
			buf_puts(&content, ".dot line\r\n");
		buf_printf(&content, "line %06zu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", i);
	}
	buf_puts(&content, ".");	/* a lone dot, last, without CRLF */
	buf_puts(&want, "EHLO tg.example\r\nMAIL FROM:<sender@example.net>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n");
	for (i = 0; i < content.len; i++) {
		if (content.data[i] == '.' && (i == 0 || content.data[i - 1] == '\n'))
			buf_putc(&want, '.');
		buf_putc(&want, content.data[i]);
	}
	buf_puts(&want, "\r\n.\r\nQUIT\r\n");
	msg = mkmsg(content.data, content.len, rc, 1);
	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg, idx_all, 1, "", 0, 0), 1);
	ck_assert_str_eq(msg->rcpts[0].queued_as, "BIG");
	deliver_cache_free(&dc);
	fake_stop(&f);
	got = fake_read(&f, "", 0);
	ck_assert_uint_eq(strlen(got), want.len);
	ck_assert(memcmp(got, want.data, want.len) == 0);
	buf_free(&content);
	buf_free(&want);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_data_refused_then_reuse)
{
	/* DATA refused after one RCPT was accepted: the accepted recipient
	 * gets DATA's reply, the refused one its RCPT reply; RSET, and the
	 * connection serves the next message */
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n",
		"550 5.1.1 unknown\r\n", "451 4.3.0 try again later\r\n", OK_TX, "250 2.0.0 Ok: queued as NEXT\r\n",
		NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com", "b@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg(MSG1, strlen(MSG1), rc, 2);
	struct message *msg2 = mkmsg(MSG2, strlen(MSG2), rc, 1);

	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg1, idx_all, 2, "", 0, 0), 0);
	expect_reply(msg1, 0, "451 4.3.0", &f, "451 4.3.0 try again later");
	expect_reply(msg1, 1, "550 5.1.1", &f, "550 5.1.1 unknown");
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg2, idx_all, 1, "", 0, 0), 1);
	ck_assert_str_eq(msg2->rcpts[0].queued_as, "NEXT");
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_str_eq(fake_read(&f, "", 0), "EHLO tg.example\r\n"
	    "MAIL FROM:<sender@example.net>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	    "RSET\r\n"
	    "MAIL FROM:<sender@example.net>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n" MSG2 ".\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

START_TEST(test_content_edges)
{
	/* a last line ending in a bare CR and starting with a dot; then an
	 * empty message with nothing prepended */
	static const char *const s0[] = { "220 fake\r\n", EHLO_PIPE, OK_TX, "250 2.0.0 Ok\r\n", OK_TX,
		"250 2.0.0 Ok\r\n", NULL };
	static const char *const *const scripts[] = { s0 };
	static const char *const rc[] = { "a@example.com" };
	struct fake f;
	struct fwd_method m;
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg1 = mkmsg("x\r\n.\r", 5, rc, 1);
	struct message *msg2 = mkmsg("", 0, rc, 1);

	msg1->sender = "";
	fake_start(&f, "smtp", scripts, 1, 1);
	m = method(&f);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg1, idx_all, 1, "", 0, 0), 1);
	ck_assert_int_eq(deliver(dc, &opts, &m, NULL, msg2, idx_all, 1, NULL, 0, 0), 1);
	deliver_cache_free(&dc);
	fake_stop(&f);
	ck_assert_str_eq(fake_read(&f, "", 0), "EHLO tg.example\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nx\r\n..\r\n.\r\n"
	    "MAIL FROM:<sender@example.net>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\nQUIT\r\n");
	fake_no_faults(&f, 0);
	fake_cleanup(&f);
}
END_TEST

/* deliver_suite - every plaintext deliver() case, sharing one fixture */
static Suite *deliver_suite(void)
{
	Suite *s = suite_create("deliver");
	TCase *tc = tcase_create("deliver");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pipelined_happy);
	tcase_add_test(tc, test_lmtp_per_rcpt);
	tcase_add_test(tc, test_no_pipelining);
	tcase_add_test(tc, test_all_rejected_pipelined);
	tcase_add_test(tc, test_all_rejected_no_pipelining);
	tcase_add_test(tc, test_mail_refused);
	tcase_add_test(tc, test_421_on_mail);
	tcase_add_test(tc, test_drop_after_dot);
	tcase_add_test(tc, test_dead_cached_conn);
	tcase_add_test(tc, test_cached_conn_421_retried);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_malformed_and_timeout);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_xforward_split_and_fallback);
	tcase_add_test(tc, test_big_message_stuffing);
	tcase_add_test(tc, test_content_edges);
	tcase_add_test(tc, test_data_refused_then_reuse);
	suite_add_tcase(s, tc);
	return s;
}

/* main - TAP output; SIGPIPE ignored as in a worker */
int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return check_tap_run(deliver_suite());
}
