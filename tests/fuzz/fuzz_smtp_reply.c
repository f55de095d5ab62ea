/*
 * fuzz_smtp_reply.c - libFuzzer target for the downstream reply reader:
 * deliver() (routing/deliver_smtp.c) talks to a fake server whose whole
 * byte stream is the input, so every reply it reads - the greeting, the
 * EHLO/LHLO capabilities (SIZE, XFORWARD attributes...), multi-line
 * replies with enhanced status codes, the pipelined MAIL/RCPT/DATA
 * replies, the end-of-data reply (one per recipient for LMTP) and its
 * "queued as" - comes from the fuzzer; routing/reply.c then turns them
 * into our replies. No change to deliver_smtp.c is needed for this.
 *
 * The first input byte picks SMTP (TCP on 127.0.0.1) or LMTP (a unix
 * socket), 1 to 4 recipients, XFORWARD facts and DSN parameters; the
 * rest is what the server (tests/fuzz/fake_peer.h) sends: all of it at
 * once, then end of file.
 *
 * Checked after each delivery: every recipient got a 2xx/4xx/5xx reply
 * of printable ASCII within 512 bytes whose code is its .code; the
 * return value counts the 2xx; a 2xx needs a "354" somewhere in the
 * input (nothing is accepted without the end of data); queued_as is
 * short and printable; reply_one_for_all() gives a clean 2xx/4xx/5xx.
 * Each input line also goes straight through reply_from_mta().
 * TG_FUZZ_VERBOSE=1 in the environment prints each recipient's reply.
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "routing/routing.h"
#include "tests/fuzz/fake_peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* one listening fake server per protocol, made once */
static struct fake_peer smtp_srv, lmtp_srv;
static struct fwd_method smtp_m, lmtp_m;
static char sock_dir[64];

/* fake_init - SMTP on TCP 127.0.0.1, LMTP on a unix socket */
static void fake_init(void)
{
	const char *err;
	char spec[200];

	fake_peer_listen(&smtp_srv, NULL, NULL);
	snprintf(spec, sizeof(spec), "smtp:[127.0.0.1]:%d", smtp_srv.port);
	if (method_parse(spec, &smtp_m, &err) < 0)
		abort();
	strlcpy(sock_dir, "/tmp/tg-fuzz-reply-XXXXXX", sizeof(sock_dir));
	if (mkdtemp(sock_dir) == NULL)
		abort();
	fake_peer_listen(&lmtp_srv, sock_dir, "lmtp");
	snprintf(spec, sizeof(spec), "lmtp:unix:%s", lmtp_srv.path);
	if (method_parse(spec, &lmtp_m, &err) < 0)
		abort();
}

/* fake_cleanup - remove the unix socket and its directory at exit */
static void fake_cleanup(void)
{
	(void)unlink(lmtp_srv.path);
	(void)rmdir(sock_dir);
}

/* check_line - printable ASCII, at most max bytes, starting with a
 * 2xx/4xx/5xx code and a space; returns the code */
static int check_line(const char *s, size_t max)
{
	size_t i, n;
	int code;

	if (s == NULL)
		abort();
	n = strlen(s);
	if (n > max || n < 4 || s[3] != ' ')
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
	code = atoi(s);
	if (code < 200 || code > 599 || code / 100 == 3)
		abort();
	return code;
}

/* direct - every input line through reply_from_mta() */
static void direct(struct arena *a, const char *spec, const uint8_t *p, size_t len)
{
	int lines = 0;

	while (len > 0 && lines++ < 8) {
		const uint8_t *nl = memchr(p, '\n', len);
		size_t n = nl ? (size_t)(nl - p) : len;
		char *line = arena_strndup(a, (const char *)p, n);	/* stops at a NUL, as a C caller would */

		(void)check_line(reply_from_mta(a, spec, line), 510);
		if (nl == NULL)
			break;
		p += n + 1;
		len -= n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const addrs[] = { "a@example.com", "b@example.org", "c@example.net", "" };
	static const struct deliver_opts opts = {
		.connect_timeout = 2, .command_timeout = 2, .data_done_timeout = 2, .helo_name = "fuzz.example",
	};
	static const size_t idx[] = { 0, 1, 2, 3 };
	static int ready, verbose;
	static const char content[] = "Subject: fuzz\r\n\r\n.dot\r\nbody\r\n";
	struct deliver_cache *dc;
	struct message *msg;
	struct arena *a;
	struct fake_peer *f;
	const struct fwd_method *m;
	unsigned flags;
	size_t i, n, n2 = 0;
	int got;

	if (size < 1 || size > FAKE_PEER_INPUT_MAX)
		return 0;
	if (!ready) {
		signal(SIGPIPE, SIG_IGN);
		log_open("fuzz", 1, NULL);
		fake_init();
		atexit(fake_cleanup);
		verbose = getenv("TG_FUZZ_VERBOSE") != NULL;
		ready = 1;
	}
	flags = data[0];
	f = (flags & 1) ? &lmtp_srv : &smtp_srv;
	m = (flags & 1) ? &lmtp_m : &smtp_m;
	n = 1 + ((flags >> 1) & 3);

	a = arena_create(0);
	msg = arena_alloc(a, sizeof(*msg));
	memset(msg, 0, sizeof(*msg));
	msg->arena = a;
	msg->sender = (flags & 0x20) ? "" : "sender@example.net";
	msg->size_declared = -1;
	msg->client_addr = "127.0.0.1";
	msg->client_port = "40001";
	msg->local_addr = "127.0.0.1";
	msg->local_port = "10024";
	msg->helo = "localhost";
	strlcpy(msg->am_id, "1234-01", sizeof(msg->am_id));
	strlcpy(msg->mail_id, "AbCdEfGhIjKl", sizeof(msg->mail_id));
	msg->spool = spool_create(a, "/tmp", 65536);
	if (spool_write(msg->spool, content, sizeof(content) - 1) < 0 || spool_finish(msg->spool) < 0)
		abort();
	for (i = 0; i < n; i++) {
		struct rcpt *r = message_add_rcpt(msg, addrs[i]);

		if (flags & 0x10) {
			r->notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
			r->orcpt = "rfc822;a+2Bb@example.com";
		}
	}
	if (flags & 0x08) {
		msg->xf.name = "client.example.net";
		msg->xf.addr = "192.0.2.1";
		msg->xf.port = "4321";
		msg->xf.proto = "ESMTP";
		msg->xf.helo = "helo.example";
		msg->xf.ident = "4ABC";
		msg->envid = "env+2Bid";
		msg->ret = DSN_RET_HDRS;
		msg->body = BODY_8BITMIME;
	}

	fake_peer_start(f, data + 1, size - 1);
	dc = deliver_cache_create();
	got = deliver(dc, &opts, m, NULL, msg, idx, n, (flags & 0x40) ? "X-Fuzz: 1\r\n" : "", (flags & 0x40) ? 11 : 0, 0);
	deliver_cache_free(&dc);	/* closes the connection: the server sees EOF */
	fake_peer_stop(f);

	for (i = 0; i < n; i++) {
		const struct rcpt *r = &msg->rcpts[i];

		if (verbose)
			fprintf(stderr, "rcpt %zu: %s [queued as %s]\n", i, r->reply ? r->reply : "(null)",
			    r->queued_as ? r->queued_as : "-");
		if (check_line(r->reply, 512) != r->code)
			abort();
		if (r->code / 100 == 2) {
			n2++;
			if (memmem(data + 1, size - 1, "354", 3) == NULL)
				abort();
		}
		if (r->queued_as != NULL && strlen(r->queued_as) > 64)
			abort();
		for (const char *q = r->queued_as; q && *q; q++)
			if ((unsigned char)*q <= 0x20 || (unsigned char)*q > 0x7e)
				abort();
	}
	if (got < 0 || (size_t)got != n2)
		abort();
	if (!(flags & 1))
		(void)check_line(reply_one_for_all(msg), 512);
	direct(a, m->spec, data + 1, size - 1);
	arena_free(&a);
	return 0;
}
