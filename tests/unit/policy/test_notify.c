/*
 * test_notify.c - policy/notify.c: the DSN (its MIME structure and
 * RFC 3464 fields, when it is sent and when suppressed) and the admin
 * notification (amavisd's shape).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "policy/decide.h"
#include "tests/unit/check_tap.h"

#define T_NOW 1795277997	/* Sat, 21 Nov 2026 */

static struct arena *arena;
static const char *const eicar[] = { "Eicar-Signature" };
static const char content[] =
	"Return-Path: <ignored@example.net>\r\n"
	"From: Sender <sender@example.net>\r\n"
	"To: <user1@example.com>\r\n"
	"Subject: eicar test\r\n"
	"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	"Message-ID: <eicar-test.1@example.net>\r\n"
	"\r\n"
	"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";

static void setup(void)
{
	arena = arena_create(0);
}

static void teardown(void)
{
	arena_free(&arena);
}

static struct message *mkmsg(const char *sender, const char *const *rcpts)
{
	struct message *msg = arena_alloc(arena, sizeof(*msg));
	size_t i;

	msg->arena = arena;
	msg->lmtp = 1;
	msg->sender = sender;
	msg->size_declared = -1;
	msg->client_addr = "127.0.0.1";
	msg->client_port = "40001";
	msg->helo = "mx.example.com";
	msg->xf.addr = "192.0.2.1";
	msg->xf.port = "4321";
	msg->xf.name = "client.example.net";
	msg->envid = "env+2Bid1";
	strlcpy(msg->am_id, "30522-03", sizeof(msg->am_id));
	strlcpy(msg->mail_id, "duh83mfsE33R", sizeof(msg->mail_id));
	msg->spool = spool_create(arena, "/tmp", 65536);
	ck_assert_int_eq(spool_write(msg->spool, content, sizeof(content) - 1), 0);
	ck_assert_int_eq(spool_finish(msg->spool), 0);
	for (i = 0; rcpts[i]; i++)
		message_add_rcpt(msg, rcpts[i]);
	return msg;
}

static const char *const one[] = { "user1@example.com", NULL };
static const char *const three[] = { "user1@example.com", "user2@example.com", "user3@example.com", NULL };

static const struct notify_opts nopts = { "mx.example.com", NULL, NULL, 0, T_NOW };

/* ---- a small MIME reader for the checks ---- */

struct part {
	const char *hdr;	/* header section, NUL-terminated */
	const char *body;
};

/* header_value - the unfolded value of name in a CRLF header section */
static const char *header_value(const char *hdr, const char *name)
{
	size_t nl = strlen(name);
	const char *p = hdr;

	while (p && *p) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			struct buf b = BUF_INIT;
			const char *q = p + nl + 1, *out;

			for (;;) {
				const char *e = strstr(q, "\r\n");

				ck_assert_ptr_nonnull(e);
				buf_append(&b, q, (size_t)(e - q));
				if (e[2] != ' ' && e[2] != '\t')
					break;
				q = e + 2;
			}
			out = arena_strdup(arena, b.data[0] == ' ' ? b.data + 1 : b.data);
			buf_free(&b);
			return out;
		}
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
	return NULL;
}

/* split - top header and parts of a multipart message; returns the part count */
static size_t split(const char *msgtext, const char **top_r, struct part *parts, size_t max)
{
	const char *end = strstr(msgtext, "\r\n\r\n"), *ct, *bs, *p;
	char *boundary, *delim, *close;
	size_t n = 0;

	ck_assert_ptr_nonnull(end);
	*top_r = arena_strndup(arena, msgtext, (size_t)(end - msgtext) + 2);
	ct = header_value(*top_r, "Content-Type");
	ck_assert_ptr_nonnull(ct);
	bs = strstr(ct, "boundary=\"");
	ck_assert_ptr_nonnull(bs);
	bs += 10;
	boundary = arena_strndup(arena, bs, strcspn(bs, "\""));
	delim = arena_printf(arena, "\r\n--%s\r\n", boundary);
	close = arena_printf(arena, "\r\n--%s--\r\n", boundary);
	/* the boundary must not occur inside any part */
	ck_assert_ptr_nonnull(strstr(msgtext, close));
	ck_assert_str_eq(strstr(msgtext, close) + strlen(close), "");
	p = strstr(end, delim);
	while (p && n < max) {
		const char *start = p + strlen(delim), *next = strstr(start, delim), *hend;

		if (next == NULL)
			next = strstr(start, close);
		ck_assert_ptr_nonnull(next);
		hend = strstr(start, "\r\n\r\n");
		ck_assert_ptr_nonnull(hend);
		ck_assert(hend < next);
		parts[n].hdr = arena_strndup(arena, start, (size_t)(hend - start) + 2);
		parts[n].body = arena_strndup(arena, hend + 4, (size_t)(next - hend - 4) + 2);
		n++;
		p = strstr(next, delim) == next ? next : NULL;
	}
	return n;
}

/* crlf_only - every line ends in CRLF, no bare CR or LF, 7-bit, lines <= 998 */
static void crlf_only(const struct buf *b)
{
	size_t i, col = 0;

	ck_assert_uint_ge(b->len, 2);
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			ck_assert(i > 0 && b->data[i - 1] == '\r');
			col = 0;
			continue;
		}
		if (b->data[i] == '\r')
			ck_assert(i + 1 < b->len && b->data[i + 1] == '\n');
		ck_assert_uint_lt((unsigned char)b->data[i], 0x80);
		ck_assert_uint_le(++col, 999);
	}
	ck_assert_str_eq(b->data + b->len - 2, "\r\n");
}

static void bounce_facts(struct decide_facts *f)
{
	memset(f, 0, sizeof(f[0]));
	f->banned_reason = ".exe,.exe-ms,x.exe";
}

START_TEST(test_dsn_structure)
{
	struct message *msg = mkmsg("sender@example.net", three);
	struct decide_facts f;
	struct decide_policy pb, pp;
	const struct decide_policy *pols[3] = { &pb, &pp, &pb };
	struct decide_result res;
	struct notify_msg n;
	struct part parts[5];
	const char *top, *ds;
	size_t np;

	bounce_facts(&f);
	decide_policy_defaults(&pb);
	decide_policy_defaults(&pp);
	pb.destiny[CC_BANNED] = D_BOUNCE;
	pp.lovers = DECIDE_LOVER(CC_BANNED);
	msg->rcpts[0].orcpt = "rfc822;User1+2Bext@example.com";
	decide_recipients(msg, &f, pols, &res);
	decide_header_groups(msg, &res, NULL, &(struct decide_group *){ NULL });
	msg->rcpts[1].code = 250;
	msg->rcpts[1].reply = "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok";
	decide_after_delivery(msg, &res);
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 1);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_PENDING);
	ck_assert_int_eq(res.r[1].dsn, DECIDE_DSN_NONE);
	ck_assert_int_eq(res.r[2].dsn, DECIDE_DSN_PENDING);
	ck_assert_str_eq(n.env_from, "");
	ck_assert_uint_eq(n.nrcpts, 1);
	ck_assert_str_eq(n.rcpts[0], "sender@example.net");
	crlf_only(&n.data);

	np = split(n.data.data, &top, parts, 5);
	ck_assert_uint_eq(np, 3);
	ck_assert_str_eq(header_value(top, "From"), "\"Content-filter at mx.example.com\" <postmaster@mx.example.com>");
	ck_assert_str_eq(header_value(top, "To"), "<sender@example.net>");
	ck_assert_str_eq(header_value(top, "Subject"),
	    "Delivery status notification, BANNED contents type (.exe,.exe-ms,x.exe)");
	ck_assert_str_eq(header_value(top, "Message-ID"), "<DSNduh83mfsE33R@mx.example.com>");
	ck_assert_str_eq(header_value(top, "MIME-Version"), "1.0");
	ck_assert_ptr_nonnull(header_value(top, "Date"));
	ck_assert_ptr_nonnull(strstr(header_value(top, "Content-Type"), "multipart/report; report-type=delivery-status;"));

	ck_assert_ptr_nonnull(strstr(header_value(parts[0].hdr, "Content-Type"), "text/plain"));
	ck_assert_ptr_nonnull(strstr(parts[0].body,
	    "The message WAS NOT relayed to:\r\n  <user1@example.com>:\r\n    554 5.7.0 Bounce, id=30522-03 - BANNED: .exe,.exe-ms,x.exe\r\n"));
	ck_assert_ptr_null(strstr(parts[0].body, "user2@"));
	ck_assert_ptr_nonnull(strstr(parts[0].body, "30522-03/duh83mfsE33R"));

	ck_assert_str_eq(header_value(parts[1].hdr, "Content-Type"), "message/delivery-status");
	ds = parts[1].body;
	ck_assert_ptr_nonnull(strstr(ds, "Reporting-MTA: dns; mx.example.com\r\n"));
	ck_assert_ptr_nonnull(strstr(ds, "Received-From-MTA: dns; mx.example.com ([127.0.0.1])\r\n"));
	ck_assert_ptr_nonnull(strstr(ds, "Arrival-Date: "));
	ck_assert_ptr_nonnull(strstr(ds, "Original-Envelope-Id: env+id1\r\n"));
	ck_assert_ptr_nonnull(strstr(ds, "\r\n\r\nOriginal-Recipient: rfc822;User1+ext@example.com\r\n"
	    "Final-Recipient: rfc822;user1@example.com\r\nAction: failed\r\nStatus: 5.7.0\r\n"
	    "Diagnostic-Code: smtp; 554 5.7.0 Bounce, id=30522-03 - BANNED:\r\n .exe,.exe-ms,x.exe\r\n"));
	ck_assert_ptr_nonnull(strstr(ds, "\r\n\r\nFinal-Recipient: rfc822;user3@example.com\r\nAction: failed\r\n"));
	ck_assert_ptr_null(strstr(ds, "user2@"));
	ck_assert_ptr_nonnull(strstr(ds, "Final-Log-ID: 30522-03/duh83mfsE33R\r\n"));

	ck_assert_ptr_nonnull(strstr(header_value(parts[2].hdr, "Content-Type"), "text/rfc822-headers"));
	ck_assert_ptr_nonnull(strstr(parts[2].body, "Return-Path: <sender@example.net>\r\n"));
	ck_assert_ptr_nonnull(strstr(parts[2].body, "Subject: eicar test\r\n"));
	ck_assert_ptr_null(strstr(parts[2].body, "EICAR-STANDARD"));	/* headers only */

	decide_dsn_done(msg, &res, 1);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_SENT);
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "250 2.5.0 Ok <user1@example.com>, DSN was sent (554 5.7.0 Bounce, id=30522-03 - BANNED: .exe,.exe-ms,x.exe)");
	ck_assert_str_eq(decide_log_actions(msg, &res), "{BouncedInbound,RelayedTaggedInbound}");
	buf_free(&n.data);
}
END_TEST

/* dsn_for - run decide and notify_dsn on one recipient; returns notify_dsn's value */
static int dsn_for(struct message *msg, const struct decide_facts *f, const struct decide_policy *p,
    struct decide_result *res, const struct notify_opts *o)
{
	struct notify_msg n;
	int rc;

	decide_recipients(msg, f, (const struct decide_policy *const[]){ p, p, p }, res);
	rc = notify_dsn(msg, res, o, &n);
	if (rc)
		buf_free(&n.data);
	return rc;
}

START_TEST(test_dsn_suppressed)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;
	struct message *msg;
	struct notify_opts o = nopts;
	static const char *const worm[] = { "Win.Worm.Mydoom-1" };
	static const char *const eicar_names[] = { "Eicar-Signature", "Eicar-Test-Signature.UNOFFICIAL",
		"EICAR", "Test.EICAR", "eicar test" };
	static const char *const not_eicar[] = { "Win.Test.EICAR_HDB-1", "Xeicar", "EICAR2", "" };
	static const char *const eicar_and_worm[] = { "Eicar-Signature", "Win.Worm.Mydoom-1" };
	size_t k;

	bounce_facts(&f);
	decide_policy_defaults(&p);
	p.destiny[CC_BANNED] = D_BOUNCE;
	/* null sender */
	msg = mkmsg("", one);
	ck_assert_int_eq(dsn_for(msg, &f, &p, &res, &o), 0);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_SUPPRESSED);
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "250 2.5.0 Ok <user1@example.com>, DSN suppressed (554 5.7.0 Bounce, id=30522-03 - BANNED: .exe,.exe-ms,x.exe)");
	ck_assert_str_eq(decide_log_actions(msg, &res), "{NoBounceInbound}");
	/* NOTIFY=NEVER, NOTIFY=SUCCESS without FAILURE */
	msg = mkmsg("s@example.net", one);
	msg->rcpts[0].notify = DSN_NOTIFY_NEVER;
	ck_assert_int_eq(dsn_for(msg, &f, &p, &res, &o), 0);
	msg = mkmsg("s@example.net", one);
	msg->rcpts[0].notify = DSN_NOTIFY_SUCCESS;
	ck_assert_int_eq(dsn_for(msg, &f, &p, &res, &o), 0);
	msg = mkmsg("s@example.net", one);
	msg->rcpts[0].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE;
	ck_assert_int_eq(dsn_for(msg, &f, &p, &res, &o), 1);
	/* spam at or above the cutoff */
	f.spam_scored = 1;
	f.spam_score = 12;
	p.dsn_cutoff_level = 10;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 0);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_SUPPRESSED);
	f.spam_score = 9.9;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 1);
	/* viruses fake the sender, except EICAR (Debian's viruses_that_fake_sender_maps) */
	f.spam_scored = 0;
	f.virus_names = worm;
	f.n_virus = 1;
	p.destiny[CC_VIRUS] = D_BOUNCE;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 0);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_SUPPRESSED);
	f.virus_names = eicar;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 1);
	for (k = 0; k < sizeof(eicar_names) / sizeof(eicar_names[0]); k++) {
		f.virus_names = eicar_names + k;
		ck_assert_msg(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o) == 1, "%s", eicar_names[k]);
	}
	f.virus_names = not_eicar;
	for (k = 0; k < sizeof(not_eicar) / sizeof(not_eicar[0]); k++) {
		f.virus_names = not_eicar + k;
		ck_assert_msg(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o) == 0, "%s", not_eicar[k]);
	}
	/* one faking virus among several is enough */
	f.virus_names = eicar_and_worm;
	f.n_virus = 2;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 0);
	o.virus_dsn = 1;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 1);
	f.virus_names = worm;
	f.n_virus = 1;
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 1);
	/* discard: no DSN at all */
	bounce_facts(&f);
	decide_policy_defaults(&p);
	ck_assert_int_eq(dsn_for(mkmsg("s@example.net", one), &f, &p, &res, &o), 0);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_NONE);
}
END_TEST

START_TEST(test_dsn_reject)
{
	struct decide_facts f;
	struct decide_policy pr, pp;
	struct decide_result res;
	struct message *msg;
	struct notify_msg n;

	bounce_facts(&f);
	decide_policy_defaults(&pr);
	decide_policy_defaults(&pp);
	pr.destiny[CC_BANNED] = D_REJECT;
	pp.lovers = DECIDE_LOVER(CC_BANNED);
	/* LMTP: the 5xx goes back, no DSN */
	msg = mkmsg("s@example.net", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr, &pp, &pp }, &res);
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 0);
	/* SMTP, all rejected: the 5xx goes back, no DSN */
	msg = mkmsg("s@example.net", one);
	msg->lmtp = 0;
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr }, &res);
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 0);
	/* SMTP, mixed: the client gets a 2xx, so we owe the DSN */
	msg = mkmsg("s@example.net", three);
	msg->lmtp = 0;
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr, &pp, &pp }, &res);
	msg->rcpts[1].code = msg->rcpts[2].code = 250;
	msg->rcpts[1].reply = msg->rcpts[2].reply = "250 2.0.0 Ok";
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 1);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_PENDING);
	ck_assert_ptr_nonnull(strstr(n.data.data, "Diagnostic-Code: smtp; 554 5.7.0 Reject,"));
	buf_free(&n.data);
	/* before the queue (milter), EICAR: final_virus_destiny = reject, one
	 * virus lover kept by the client MTA, the other removed: we owe the DSN */
	memset(&f, 0, sizeof(f));
	f.virus_names = eicar;
	f.n_virus = 1;
	decide_policy_defaults(&pr);
	decide_policy_defaults(&pp);
	pr.destiny[CC_VIRUS] = D_REJECT;
	pp.destiny[CC_VIRUS] = D_REJECT;
	pp.lovers = DECIDE_LOVER(CC_VIRUS);
	msg = mkmsg("s@example.net", three);
	msg->lmtp = 0;
	msg->rcpts[2].notify = DSN_NOTIFY_NEVER;
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pr, &pr }, &res);
	msg->rcpts[0].code = 250;
	msg->rcpts[0].reply = "250 2.0.0 Ok, accepted by the client MTA";
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 1);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_NONE);
	ck_assert_int_eq(res.r[1].dsn, DECIDE_DSN_PENDING);
	ck_assert_int_eq(res.r[2].dsn, DECIDE_DSN_SUPPRESSED);
	ck_assert_ptr_nonnull(strstr(n.data.data, "Final-Recipient: rfc822;user2@example.com\r\n"));
	ck_assert_ptr_null(strstr(n.data.data, "user1@example.com>:"));
	ck_assert_ptr_null(strstr(n.data.data, "Final-Recipient: rfc822;user3@example.com"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "Status: 5.7.0\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data,
	    "Subject: Delivery status notification, VIRUS in message apparently from you\r\n (Eicar-Signature)\r\n"));
	ck_assert_str_eq(n.rcpts[0], "s@example.net");
	ck_assert_str_eq(n.env_from, "");
	buf_free(&n.data);
	decide_dsn_done(msg, &res, 1);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RejectedInbound,RelayedInbound}");
	/* downstream 5xx with SMTP input in a mixed outcome */
	msg = mkmsg("s@example.net", three);
	msg->lmtp = 0;
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pp, &pp }, &res);
	msg->rcpts[0].code = 550;
	msg->rcpts[0].reply = "550 5.1.1 from MTA(smtp:[127.0.0.1]:10025): 550 5.1.1 unknown";
	msg->rcpts[1].code = msg->rcpts[2].code = 250;
	msg->rcpts[1].reply = msg->rcpts[2].reply = "250 2.0.0 Ok";
	decide_after_delivery(msg, &res);
	ck_assert_int_eq(notify_dsn(msg, &res, &nopts, &n), 1);
	ck_assert_ptr_nonnull(strstr(n.data.data, "Status: 5.1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "Subject: Delivery status notification, MTA-BLOCKED\r\n"));
	buf_free(&n.data);
}
END_TEST

START_TEST(test_admin_notice)
{
	struct message *msg = mkmsg("sender@example.net", three);
	struct decide_facts f;
	struct decide_result res;
	struct notify_msg n;
	struct part parts[4];
	const char *top, *body;
	size_t np;

	memset(&f, 0, sizeof(f));
	f.virus_names = eicar;
	f.n_virus = 1;
	f.scanner_name = "ClamAV";
	decide_recipients(msg, &f, NULL, &res);
	res.quarantine_id = "virus-duh83mfsE33R";
	notify_admin(msg, &res, &nopts, "postmaster@example.com", &n);
	crlf_only(&n.data);
	ck_assert_str_eq(n.env_from, "postmaster@mx.example.com");
	ck_assert_uint_eq(n.nrcpts, 1);
	ck_assert_str_eq(n.rcpts[0], "postmaster@example.com");
	ck_assert_str_eq(n.envid, "AM.duh83mfsE33R.20261121T161957Z@mx.example.com");

	np = split(n.data.data, &top, parts, 4);
	ck_assert_uint_eq(np, 2);
	ck_assert_str_eq(header_value(top, "Subject"),
	    "VIRUS (Eicar-Signature) in mail FROM [192.0.2.1]:4321 <sender@example.net>");
	ck_assert_ptr_nonnull(strstr(n.data.data, "Subject: VIRUS (Eicar-Signature) in mail FROM [192.0.2.1]:4321\r\n <sender@example.net>\r\n"));
	ck_assert_str_eq(header_value(top, "To"), "<postmaster@example.com>");
	ck_assert_str_eq(header_value(top, "From"), "\"Content-filter at mx.example.com\" <postmaster@mx.example.com>");
	ck_assert_str_eq(header_value(top, "Message-ID"), "<VAduh83mfsE33R@mx.example.com>");
	ck_assert_ptr_nonnull(strstr(header_value(top, "Content-Type"), "multipart/mixed"));
	body = parts[0].body;
	ck_assert_ptr_nonnull(strstr(body,
	    "A virus was found: Eicar-Signature\r\n\r\nScanner detecting a virus: ClamAV\r\n\r\n"
	    "Content type: Virus\r\nInternal reference code for the message is 30522-03/duh83mfsE33R\r\n\r\n"
	    "First upstream SMTP client IP address: [192.0.2.1] client.example.net\r\n\r\n"
	    "Return-Path: <sender@example.net>\r\nFrom: Sender <sender@example.net>\r\n"
	    "Message-ID: <eicar-test.1@example.net>\r\nSubject: eicar test\r\n"
	    "The message has been quarantined as: virus-duh83mfsE33R\r\n\r\n"));
	ck_assert_ptr_nonnull(strstr(body,
	    "The message WAS NOT relayed to:\r\n"
	    "<user1@example.com>:\r\n   250 2.7.0 Ok, discarded, id=30522-03 - INFECTED: Eicar-Signature\r\n"
	    "<user2@example.com>:\r\n   250 2.7.0 Ok, discarded, id=30522-03 - INFECTED: Eicar-Signature\r\n"
	    "<user3@example.com>:\r\n   250 2.7.0 Ok, discarded, id=30522-03 - INFECTED: Eicar-Signature\r\n\r\n"
	    "Virus scanner output:\r\n  ClamAV: Eicar-Signature FOUND\r\n"));
	ck_assert_ptr_null(strstr(body, "WILL BE relayed"));
	ck_assert_ptr_nonnull(strstr(header_value(parts[1].hdr, "Content-Type"), "text/rfc822-headers"));
	ck_assert_str_eq(header_value(parts[1].hdr, "Content-Description"), "Message header section");
	ck_assert_ptr_nonnull(strstr(parts[1].body, "Return-Path: <sender@example.net>\r\nReturn-Path: <ignored@example.net>\r\nFrom: "));
	buf_free(&n.data);
}
END_TEST

START_TEST(test_admin_unchecked)
{
	struct message *msg = mkmsg("", one);
	struct decide_facts f;
	struct decide_result res;
	struct notify_msg n;
	struct notify_opts o = nopts;

	memset(&f, 0, sizeof(f));
	f.unchecked = 1;
	msg->xf.port = NULL;
	msg->xf.name = NULL;
	o.from_addr = "virusalert@example.com";
	o.hdr_from = "Admin <virusalert@example.com>";
	decide_recipients(msg, &f, NULL, &res);
	msg->rcpts[0].code = 250;
	msg->rcpts[0].reply = "250 2.0.0 Ok";
	notify_admin(msg, &res, &o, "postmaster@example.com", &n);
	crlf_only(&n.data);
	ck_assert_str_eq(n.env_from, "virusalert@example.com");
	ck_assert_ptr_nonnull(strstr(n.data.data, "From: Admin <virusalert@example.com>\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "Subject: UNCHECKED contents in mail FROM [192.0.2.1] <>\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "No viruses were found.\r\n\r\nContent type: Unchecked\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "First upstream SMTP client IP address: [192.0.2.1] \r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "Not quarantined.\r\n"));
	ck_assert_ptr_nonnull(strstr(n.data.data, "The message WILL BE relayed to:\r\n<user1@example.com>\r\n"));
	ck_assert_ptr_null(strstr(n.data.data, "WAS NOT relayed"));
	buf_free(&n.data);
}
END_TEST

static Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dsn_structure);
	tcase_add_test(tc, test_dsn_suppressed);
	tcase_add_test(tc, test_dsn_reject);
	tcase_add_test(tc, test_admin_notice);
	tcase_add_test(tc, test_admin_unchecked);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(notify_suite());
}
