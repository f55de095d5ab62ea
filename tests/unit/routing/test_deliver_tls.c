/*
 * test_deliver_tls.c - deliver() against a fake SMTP/LMTP server
 * forked by the test on a free 127.0.0.1 port, which can offer
 * STARTTLS (OpenSSL, with a throwaway CA and server certificate made
 * by the openssl CLI at test time) or speak plaintext only.
 *
 * The server forks one child per connection, so cached connections can
 * stay open beside new ones, and exits when all nconn have ended. Connection k behaves as srv_conf k says.
 * Every command line it receives is appended to DIR/log as
 * "k T line" (under TLS) or "k P line" (plaintext) before it answers,
 * and "k HANDSHAKE-FAILED" when the client's handshake fails.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "routing/routing.h"
#include "tests/unit/check_tap.h"

#define MAX_CONNS 4
#define CERT_NAME "mx.test.example"

/* how one connection of the fake server behaves */
struct srv_conf {
	int starttls;			/* offer STARTTLS */
	int starttls_code;		/* reply to STARTTLS (0: 220) */
	int tls_garbage;		/* after 220, send garbage instead of a handshake */
};

struct fake {
	pid_t pid;
	int port;
	char spec[64];
};

static char certdir[64];		/* ca.pem srv.pem srv.key other-ca.pem */
static char logpath[128];
static struct arena *arena;
static pid_t fake_pid;

/* ---- the fake server (child side) ---- */

struct fsrv {
	int fd, k, log;
	SSL *ssl;
	char buf[65536];
	size_t len;
};

/* fs_logf - one log line, in one write */
static void fs_logf(struct fsrv *s, const char *what, const char *line, size_t n)
{
	char out[1200];
	int l = snprintf(out, sizeof(out), "%d %s %.*s\n", s->k, what, (int)(n > 1000 ? 1000 : n), line);

	if (write(s->log, out, (size_t)l) != l)
		_exit(3);
}

/* fs_send - a reply, over TLS when it is on */
static void fs_send(struct fsrv *s, const char *r)
{
	if (s->ssl != NULL)
		(void)SSL_write(s->ssl, r, (int)strlen(r));
	else
		(void)send(s->fd, r, strlen(r), MSG_NOSIGNAL);
}

/* fs_line - the next line without CRLF into out; 0 on EOF/timeout */
static int fs_line(struct fsrv *s, char *out, size_t outsz)
{
	for (;;) {
		char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;
		struct pollfd p = { s->fd, POLLIN, 0 };
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - s->buf) + 1, c = l;

			while (c > 0 && (s->buf[c - 1] == '\n' || s->buf[c - 1] == '\r'))
				c--;
			if (c >= outsz)
				c = outsz - 1;
			memcpy(out, s->buf, c);
			out[c] = 0;
			memmove(s->buf, s->buf + l, s->len - l);
			s->len -= l;
			return 1;
		}
		if (s->len == sizeof(s->buf))
			return 0;
		if ((s->ssl == NULL || SSL_pending(s->ssl) == 0) && poll(&p, 1, 10000) <= 0)
			return 0;
		if (s->ssl != NULL)
			n = SSL_read(s->ssl, s->buf + s->len, (int)(sizeof(s->buf) - s->len));
		else
			n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
		if (n <= 0)
			return 0;
		s->len += (size_t)n;
	}
}

/* fs_serve - one connection */
static void fs_serve(struct fsrv *s, const struct srv_conf *c, SSL_CTX *ctx, int lmtp)
{
	char line[2048];
	int nrcpt = 0, i;

	fs_send(s, "220 fake ESMTP\r\n");
	while (fs_line(s, line, sizeof(line))) {
		fs_logf(s, s->ssl ? "T" : "P", line, strlen(line));
		if (strncasecmp(line, "EHLO", 4) == 0 || strncasecmp(line, "LHLO", 4) == 0) {
			fs_send(s, "250-fake\r\n250-ENHANCEDSTATUSCODES\r\n");
			if (c->starttls && s->ssl == NULL)
				fs_send(s, "250-STARTTLS\r\n");
			fs_send(s, "250 8BITMIME\r\n");
		} else if (strcasecmp(line, "STARTTLS") == 0) {
			if (s->ssl != NULL || !c->starttls) {
				fs_send(s, "503 5.5.1 no\r\n");
			} else if (c->starttls_code != 0 && c->starttls_code != 220) {
				char r[64];

				snprintf(r, sizeof(r), "%d 4.7.0 TLS not available now\r\n", c->starttls_code);
				fs_send(s, r);
			} else {
				fs_send(s, "220 2.0.0 go ahead\r\n");
				if (c->tls_garbage) {
					/* after the client's ClientHello, so that
					 * the handshake (not the pipelining check) fails */
					usleep(100000);
					fs_send(s, "this is not TLS at all\r\n");
					return;
				}
				s->ssl = SSL_new(ctx);
				SSL_set_fd(s->ssl, s->fd);
				if (SSL_accept(s->ssl) != 1) {
					fs_logf(s, "HANDSHAKE-FAILED", "", 0);
					return;
				}
				s->len = 0;
			}
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			nrcpt = 0;
			fs_send(s, "250 2.1.0 Ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			nrcpt++;
			fs_send(s, "250 2.1.5 Ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			fs_send(s, "354 go\r\n");
			while (fs_line(s, line, sizeof(line)) && strcmp(line, ".") != 0)
				;
			fs_logf(s, s->ssl ? "T" : "P", ".", 1);
			for (i = 0; i < (lmtp ? nrcpt : 1); i++)
				fs_send(s, s->ssl ? "250 2.0.0 Ok: queued as TLSQ\r\n" : "250 2.0.0 Ok: queued as PLAINQ\r\n");
		} else if (strcasecmp(line, "RSET") == 0) {
			fs_send(s, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			fs_send(s, "221 2.0.0 Bye\r\n");
			return;
		} else {
			fs_send(s, "502 5.5.2 what\r\n");
		}
	}
}

/* fs_main - accept up to nconn connections, one child each */
static void fs_main(int lfd, const struct srv_conf *conf, int nconn, int lmtp)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char path[128], kpath[128];
	int k;

	snprintf(path, sizeof(path), "%s/srv.pem", certdir);
	snprintf(kpath, sizeof(kpath), "%s/srv.key", certdir);
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, kpath, SSL_FILETYPE_PEM) != 1)
		_exit(4);
	SSL_CTX_set_num_tickets(ctx, 0);
	for (k = 0; k < nconn; k++) {
		struct fsrv s;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(5);
		if (fork() == 0) {
			memset(&s, 0, sizeof(s));
			s.fd = fd;
			s.k = k;
			s.log = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
			fs_serve(&s, &conf[k], ctx, lmtp);
			_exit(0);
		}
		close(fd);
	}
	while (wait(NULL) > 0)
		;
	_exit(0);
}

/* fake_start - listen on 127.0.0.1:0 and fork the server */
static void fake_start(struct fake *f, const char *proto, const struct srv_conf *conf, int nconn)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	unlink(logpath);
	ck_assert_int_ge(lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	snprintf(f->spec, sizeof(f->spec), "%s:[127.0.0.1]:%d", proto, f->port);
	fflush(NULL);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0) {
		setpgid(0, 0);
		fs_main(lfd, conf, nconn, strcmp(proto, "lmtp") == 0);
	}
	setpgid(f->pid, f->pid);
	fake_pid = f->pid;
	close(lfd);
}

/* fake_stop - let the server finish (it exits once its nconn
 * connections have ended, so everything it received is logged), and
 * kill it and its children after 10 s */
static void fake_stop(struct fake *f)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			fake_pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(-f->pid, SIGKILL);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	fake_pid = 0;
}

/* fake_log - what the server received, in the arena */
static const char *fake_log(void)
{
	char buf[65536];
	int fd = open(logpath, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return arena_strdup(arena, buf);
}

/* certs_make - a CA, a server certificate for CERT_NAME signed by it,
 * and an unrelated CA, with the openssl command-line tool */
static void certs_make(void)
{
	char cmd[2048];
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

	strlcpy(certdir, "/tmp/tg-tls-XXXXXX", sizeof(certdir));
	if (mkdtemp(certdir) == NULL)
		abort();
	snprintf(logpath, sizeof(logpath), "%s/log", certdir);
	snprintf(cmd, sizeof(cmd),
	    "cd %s && ( "
	    "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=tollgate-test-ca && "
	    "openssl req -new %s -keyout srv.key -out srv.csr -subj /CN=" CERT_NAME
	    " -addext subjectAltName=DNS:" CERT_NAME " && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 "
	    "-copy_extensions copy && "
	    "openssl req -x509 %s -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca"
	    ") >openssl.log 2>&1 || { cat openssl.log >&2; exit 1; }",
	    certdir, ec, ec, ec);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot make test certificates\n");
		exit(99);
	}
}

/* certs_remove - remove the throwaway directory */
static void certs_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", certdir);
}

/* path_in - a file of the cert directory, in the arena */
static const char *path_in(const char *name)
{
	return arena_printf(arena, "%s/%s", certdir, name);
}

static void setup(void)
{
	arena = arena_create(0);
}

static void teardown(void)
{
	if (fake_pid > 0) {
		kill(-fake_pid, SIGKILL);
		kill(fake_pid, SIGKILL);
		waitpid(fake_pid, NULL, 0);
		fake_pid = 0;
	}
	arena_free(&arena);
}

/* mkmsg - a small message to the recipients */
static struct message *mkmsg(const char *const *rcpts, size_t n)
{
	static const char content[] = "Subject: t\r\n\r\nbody\r\n";
	struct message *msg = arena_alloc(arena, sizeof(*msg));
	size_t i;

	msg->arena = arena;
	msg->sender = "sender@example.net";
	msg->size_declared = -1;
	strlcpy(msg->am_id, "1234-01", sizeof(msg->am_id));
	msg->spool = spool_create(arena, "/tmp", 65536);
	ck_assert_int_eq(spool_write(msg->spool, content, sizeof(content) - 1), 0);
	ck_assert_int_eq(spool_finish(msg->spool), 0);
	for (i = 0; i < n; i++)
		message_add_rcpt(msg, rcpts[i]);
	return msg;
}

static const struct deliver_opts opts = {
	.connect_timeout = 5, .command_timeout = 5, .data_done_timeout = 5, .cache_time = 0,
	.helo_name = "tg.example",
};
static const struct deliver_opts opts_cache = {
	.connect_timeout = 5, .command_timeout = 5, .data_done_timeout = 5, .cache_time = 30,
	.helo_name = "tg.example",
};
static const size_t idx_all[] = { 0, 1, 2, 3 };
static const char *const rcpts2[] = { "a@example.com", "b@example.com" };

/* run - one delivery to a fake with conf, at policy tls; returns the msg */
static struct message *run(const char *proto, const struct srv_conf *conf, int nconn, const struct tls_policy *tls)
{
	struct fake f;
	struct fwd_method m;
	struct message *msg = mkmsg(rcpts2, 2);
	const char *err;

	fake_start(&f, proto, conf, nconn);
	ck_assert_int_eq(method_parse(f.spec, &m, &err), 0);
	(void)deliver(NULL, &opts, &m, tls, msg, idx_all, 2, "", 0, 0);
	fake_stop(&f);
	return msg;
}

/* expect_tls_failure - both recipients got the TLS failure reply with
 * reason_part, and the server never saw MAIL */
static void expect_tls_failure(const struct message *msg, int code, const char *reason_part, const char *log)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(msg->rcpts[i].code, code);
		const char *want = code == 450 ? "450 4.7.4 TLS is required but was not available: " :
		    "554 5.7.4 TLS is required but was not available: ";

		ck_assert_msg(strncmp(msg->rcpts[i].reply, want, strlen(want)) == 0, "reply: %s", msg->rcpts[i].reply);
		ck_assert_msg(strstr(msg->rcpts[i].reply, reason_part) != NULL, "reply: %s", msg->rcpts[i].reply);
		ck_assert_ptr_null(msg->rcpts[i].queued_as);
	}
	ck_assert_msg(strstr(log, "MAIL") == NULL, "MAIL went out: %s", log);
	ck_assert_msg(strstr(log, "RCPT") == NULL, "RCPT went out: %s", log);
}

/* expect_ok - both recipients accepted; under TLS when tls is set */
static void expect_ok(const struct message *msg, int tls)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		ck_assert_msg(msg->rcpts[i].code == 250, "reply: %s", msg->rcpts[i].reply);
		ck_assert_str_eq(msg->rcpts[i].queued_as, tls ? "TLSQ" : "PLAINQ");
	}
}

START_TEST(test_may_uses_tls_when_offered)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct tls_policy p = { TLS_MAY, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);
	const char *log = fake_log();

	expect_ok(msg, 1);
	ck_assert_ptr_nonnull(strstr(log, "0 P STARTTLS"));
	ck_assert_ptr_nonnull(strstr(log, "0 T EHLO tg.example"));	/* EHLO again under TLS */
	ck_assert_ptr_nonnull(strstr(log, "0 T MAIL FROM:<sender@example.net>"));
	ck_assert_ptr_null(strstr(log, "0 P MAIL"));
}
END_TEST

START_TEST(test_may_plaintext_when_not_offered)
{
	struct srv_conf c[1] = { { 0, 0, 0 } };
	struct tls_policy p = { TLS_MAY, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);
	const char *log = fake_log();

	expect_ok(msg, 0);
	ck_assert_ptr_null(strstr(log, "STARTTLS"));
	ck_assert_ptr_nonnull(strstr(log, "0 P MAIL FROM"));
}
END_TEST

START_TEST(test_may_falls_back_after_failed_handshake)
{
	struct srv_conf c[2] = { { 1, 0, 1 }, { 1, 0, 0 } };
	struct tls_policy p = { TLS_MAY, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 2, &p);
	const char *log = fake_log();

	expect_ok(msg, 0);
	ck_assert_ptr_null(strstr(log, "0 P MAIL"));
	ck_assert_ptr_nonnull(strstr(log, "1 P MAIL FROM"));
	ck_assert_ptr_null(strstr(log, "1 P STARTTLS"));
}
END_TEST

START_TEST(test_none_never_starttls)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct message *msg = run("smtp", c, 1, NULL);
	const char *log = fake_log();

	expect_ok(msg, 0);
	ck_assert_ptr_null(strstr(log, "STARTTLS"));
}
END_TEST

START_TEST(test_encrypt_plaintext_server)
{
	struct srv_conf c[1] = { { 0, 0, 0 } };
	struct tls_policy p = { TLS_ENCRYPT, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);
	const char *log = fake_log();

	expect_tls_failure(msg, 450, "STARTTLS not offered", log);
	ck_assert_ptr_nonnull(strstr(log, "0 P QUIT"));
}
END_TEST

START_TEST(test_encrypt_starttls_refused)
{
	struct srv_conf c[1] = { { 1, 454, 0 } };
	struct tls_policy p = { TLS_ENCRYPT, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);

	expect_tls_failure(msg, 450, "STARTTLS refused: 454 4.7.0", fake_log());
}
END_TEST

START_TEST(test_encrypt_handshake_fails)
{
	struct srv_conf c[1] = { { 1, 0, 1 } };
	struct tls_policy p = { TLS_ENCRYPT, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);

	expect_tls_failure(msg, 450, "TLS handshake failed", fake_log());
}
END_TEST

START_TEST(test_encrypt_ok_any_cert)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct tls_policy p = { TLS_ENCRYPT, NULL, NULL, 0 };
	struct message *msg = run("smtp", c, 1, &p);

	expect_ok(msg, 1);
}
END_TEST

START_TEST(test_verify_right_and_wrong_ca)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct tls_policy p = { TLS_VERIFY, NULL, NULL, 0 };
	struct message *msg;
	const char *log;

	p.ca_file = path_in("ca.pem");
	msg = run("smtp", c, 1, &p);
	expect_ok(msg, 1);

	p.ca_file = path_in("other-ca.pem");
	msg = run("smtp", c, 1, &p);
	log = fake_log();
	expect_tls_failure(msg, 450, "certificate verification failed", log);
	ck_assert_ptr_nonnull(strstr(log, "0 HANDSHAKE-FAILED"));
}
END_TEST

START_TEST(test_secure_name_match)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct tls_policy p = { TLS_SECURE, NULL, NULL, 0 };
	struct message *msg;

	p.ca_file = path_in("ca.pem");
	p.match_name = "other.example:" CERT_NAME;
	msg = run("smtp", c, 1, &p);
	expect_ok(msg, 1);

	p.match_name = "other.example";
	msg = run("smtp", c, 1, &p);
	expect_tls_failure(msg, 450, "hostname mismatch", fake_log());

	/* no match name: the next hop, 127.0.0.1, which the certificate
	 * does not name */
	p.match_name = NULL;
	msg = run("smtp", c, 1, &p);
	expect_tls_failure(msg, 450, "mismatch", fake_log());
}
END_TEST

START_TEST(test_bounce_action)
{
	struct srv_conf c[1] = { { 0, 0, 0 } };
	struct tls_policy p = { TLS_SECURE, NULL, CERT_NAME, 1 };
	struct message *msg;

	p.ca_file = path_in("ca.pem");
	msg = run("smtp", c, 1, &p);
	expect_tls_failure(msg, 554, "STARTTLS not offered", fake_log());
}
END_TEST

START_TEST(test_lmtp_tls_per_rcpt)
{
	struct srv_conf c[1] = { { 1, 0, 0 } };
	struct tls_policy p = { TLS_VERIFY, NULL, NULL, 0 };
	struct message *msg;
	const char *log;

	p.ca_file = path_in("ca.pem");
	msg = run("lmtp", c, 1, &p);
	log = fake_log();
	expect_ok(msg, 1);
	ck_assert_ptr_nonnull(strstr(log, "0 T LHLO tg.example"));
}
END_TEST

START_TEST(test_cache_keyed_by_policy)
{
	struct srv_conf c[2] = { { 1, 0, 0 }, { 1, 0, 0 } };
	struct tls_policy may = { TLS_MAY, NULL, NULL, 0 };
	struct deliver_cache *dc = deliver_cache_create();
	struct message *msg;
	struct fwd_method m;
	struct fake f;
	const char *err, *log;

	fake_start(&f, "smtp", c, 2);
	ck_assert_int_eq(method_parse(f.spec, &m, &err), 0);
	/* TLS connection, kept */
	msg = mkmsg(rcpts2, 2);
	ck_assert_int_eq(deliver(dc, &opts_cache, &m, &may, msg, idx_all, 2, "", 0, 0), 2);
	expect_ok(msg, 1);
	/* a plaintext policy must not use it: a new connection */
	msg = mkmsg(rcpts2, 2);
	ck_assert_int_eq(deliver(dc, &opts_cache, &m, NULL, msg, idx_all, 2, "", 0, 0), 2);
	expect_ok(msg, 0);
	/* and the TLS policy gets its own connection back */
	msg = mkmsg(rcpts2, 2);
	ck_assert_int_eq(deliver(dc, &opts_cache, &m, &may, msg, idx_all, 2, "", 0, 0), 2);
	expect_ok(msg, 1);
	deliver_cache_free(&dc);
	fake_stop(&f);
	log = fake_log();
	ck_assert_ptr_nonnull(strstr(log, "1 P MAIL FROM"));
	ck_assert_ptr_null(strstr(log, "1 P STARTTLS"));
	ck_assert_ptr_null(strstr(log, "2 "));
	ck_assert_ptr_null(strstr(log, "0 P MAIL"));
}
END_TEST

/* one message split in two deliveries by policy: each recipient's
 * reply is its own delivery's (what an LMTP client is told) */
START_TEST(test_split_by_policy)
{
	struct srv_conf c[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	struct tls_policy enc = { TLS_ENCRYPT, NULL, NULL, 0 };
	struct message *msg = mkmsg(rcpts2, 2);
	static const size_t first[] = { 0 }, second[] = { 1 };
	struct fwd_method m;
	struct fake f;
	const char *err, *log;

	fake_start(&f, "smtp", c, 2);
	ck_assert_int_eq(method_parse(f.spec, &m, &err), 0);
	ck_assert_int_eq(deliver(NULL, &opts, &m, &enc, msg, first, 1, "", 0, 0), 0);
	ck_assert_int_eq(deliver(NULL, &opts, &m, NULL, msg, second, 1, "", 0, 0), 1);
	fake_stop(&f);
	log = fake_log();
	ck_assert_int_eq(msg->rcpts[0].code, 450);
	ck_assert_int_eq(msg->rcpts[1].code, 250);
	ck_assert_ptr_null(strstr(log, "RCPT TO:<a@example.com>"));
	ck_assert_ptr_nonnull(strstr(log, "1 P RCPT TO:<b@example.com>"));
}
END_TEST

static Suite *deliver_tls_suite(void)
{
	Suite *s = suite_create("deliver");
	TCase *tc = tcase_create("deliver");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_may_uses_tls_when_offered);
	tcase_add_test(tc, test_may_plaintext_when_not_offered);
	tcase_add_test(tc, test_may_falls_back_after_failed_handshake);
	tcase_add_test(tc, test_none_never_starttls);
	tcase_add_test(tc, test_encrypt_plaintext_server);
	tcase_add_test(tc, test_encrypt_starttls_refused);
	tcase_add_test(tc, test_encrypt_handshake_fails);
	tcase_add_test(tc, test_encrypt_ok_any_cert);
	tcase_add_test(tc, test_verify_right_and_wrong_ca);
	tcase_add_test(tc, test_secure_name_match);
	tcase_add_test(tc, test_bounce_action);
	tcase_add_test(tc, test_lmtp_tls_per_rcpt);
	tcase_add_test(tc, test_cache_keyed_by_policy);
	tcase_add_test(tc, test_split_by_policy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	certs_make();
	rc = check_tap_run(deliver_tls_suite());
	certs_remove();
	return rc;
}
