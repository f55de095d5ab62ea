/*
 * test_decide.c - policy/decide.c and quarantine.c: categories and
 * destinies with their reply texts, LMTP and SMTP replies, header edits
 * and their groups, log tokens, the file quarantine.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "policy/decide.h"
#include "scanners/mime.h"
#include "scanners/scanners.h"
#include "tests/unit/check_tap.h"

static struct arena *arena;
static const char *const eicar[] = { "Eicar-Signature" };

static const char content[] =
	"From: Sender <sender@example.net>\r\n"
	"To: <user1@example.com>\r\n"
	"Subject: test message\r\n"
	"X-Spam-Flag: YES\r\n"
	"Message-ID: <m1@example.net>\r\n"
	"\r\n"
	"Hello.\r\n";

static void setup(void)
{
	arena = arena_create(0);
}

static void teardown(void)
{
	arena_free(&arena);
}

/* mkmsg - a message from sender to the NULL-terminated recipients */
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
	msg->helo = "localhost";
	strlcpy(msg->am_id, "12345-01", sizeof(msg->am_id));
	strlcpy(msg->mail_id, "AbCdEfGhIjKl", sizeof(msg->mail_id));
	strlcpy(msg->secret_id, "SeCrEtSeCrEt", sizeof(msg->secret_id));
	msg->spool = spool_create(arena, "/tmp", 65536);
	ck_assert_int_eq(spool_write(msg->spool, content, sizeof(content) - 1), 0);
	ck_assert_int_eq(spool_finish(msg->spool), 0);
	for (i = 0; rcpts[i]; i++)
		message_add_rcpt(msg, rcpts[i]);
	return msg;
}

static const char *const one[] = { "user1@example.com", NULL };
static const char *const three[] = { "user1@example.com", "user2@example.com", "user3@example.org", NULL };

/* run1 - one recipient with policy p and facts f; returns its reply (NULL: passed) */
static const char *run1(const struct decide_facts *f, const struct decide_policy *p, const char *sender,
    struct decide_result *res)
{
	struct message *msg = mkmsg(sender, one);
	const struct decide_policy *pols[1] = { p };

	decide_recipients(msg, f, pols, res);
	if (res->r[0].blocked)
		ck_assert_int_eq(msg->rcpts[0].code, atoi(msg->rcpts[0].reply));
	else
		ck_assert_int_eq(msg->rcpts[0].code, 0);
	return msg->rcpts[0].reply;
}

static void virus_facts(struct decide_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->virus_names = eicar;
	f->n_virus = 1;
	f->size = 1000;
}

START_TEST(test_virus_destinies)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;

	virus_facts(&f);
	decide_policy_defaults(&p);
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "250 2.7.0 Ok, discarded, id=12345-01 - INFECTED: Eicar-Signature");
	ck_assert_int_eq(res.r[0].destiny, D_DISCARD);
	ck_assert_uint_eq(res.r[0].blocking_ccat, CCAT(CC_VIRUS, 0));
	p.destiny[CC_VIRUS] = D_REJECT;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature");
	p.destiny[CC_VIRUS] = D_BOUNCE;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Bounce, id=12345-01 - INFECTED: Eicar-Signature");
	ck_assert_int_eq(res.r[0].destiny, D_BOUNCE);
	p.destiny[CC_VIRUS] = D_TEMPFAIL;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "450 4.7.0 Temporary failure, id=12345-01 - INFECTED: Eicar-Signature");
	p.destiny[CC_VIRUS] = D_PASS;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_int_eq(res.r[0].destiny, D_PASS);
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_VIRUS, 0));
}
END_TEST

START_TEST(test_virus_lover_bypass_soft)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;
	const char *names[] = { "Eicar-Signature", "Other.Virus" };

	virus_facts(&f);
	decide_policy_defaults(&p);
	p.lovers = DECIDE_LOVER(CC_VIRUS);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_uint_eq(res.r[0].ccat[0], CCAT(CC_VIRUS, 0));

	decide_policy_defaults(&p);
	p.bypass = DECIDE_BYPASS_VIRUS;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_uint_eq(res.r[0].ccat[0], CCAT(CC_CLEAN, 0));

	decide_policy_defaults(&p);
	p.soft_bounce = 1;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "450 4.7.0 Ok, discarded (soft_bounce), id=12345-01 - INFECTED: Eicar-Signature");
	p.destiny[CC_VIRUS] = D_REJECT;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "450 4.7.0 Reject (soft_bounce), id=12345-01 - INFECTED: Eicar-Signature");

	f.virus_names = names;
	f.n_virus = 2;
	decide_policy_defaults(&p);
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "250 2.7.0 Ok, discarded, id=12345-01 - INFECTED: Eicar-Signature, Other.Virus");
}
END_TEST

START_TEST(test_banned)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;

	memset(&f, 0, sizeof(f));
	f.banned_reason = ".exe,.exe-ms,x.exe";
	decide_policy_defaults(&p);
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "250 2.7.0 Ok, discarded, id=12345-01 - BANNED: .exe,.exe-ms,x.exe");
	p.destiny[CC_BANNED] = D_BOUNCE;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Bounce, id=12345-01 - BANNED: .exe,.exe-ms,x.exe");
	p.lovers = DECIDE_LOVER(CC_BANNED);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	decide_policy_defaults(&p);
	p.bypass = DECIDE_BYPASS_BANNED;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));

	/* virus beats banned; a virus lover is still blocked by banned */
	virus_facts(&f);
	f.banned_reason = "x.exe";
	decide_policy_defaults(&p);
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "250 2.7.0 Ok, discarded, id=12345-01 - INFECTED: Eicar-Signature");
	p.lovers = DECIDE_LOVER(CC_VIRUS);
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "250 2.7.0 Ok, discarded, id=12345-01 - BANNED: x.exe");
	ck_assert_uint_eq(res.r[0].blocking_ccat, CCAT(CC_BANNED, 0));
}
END_TEST

START_TEST(test_unchecked)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;

	memset(&f, 0, sizeof(f));
	f.unchecked = 1;
	f.unchecked_minor = CC_UNCHECKED_ENCRYPTED;
	decide_policy_defaults(&p);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_UNCHECKED, 1));
	p.destiny[CC_UNCHECKED] = D_REJECT;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Reject, id=12345-01 - UNCHECKED: encrypted");
	f.unchecked_minor = CC_UNCHECKED_LIMITS;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Reject, id=12345-01 - UNCHECKED: over limits");
	f.unchecked_minor = CC_UNCHECKED_OTHER;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Reject, id=12345-01 - UNCHECKED");
	p.lovers = DECIDE_LOVER(CC_UNCHECKED);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	p.lovers = 0;
	p.bypass = DECIDE_BYPASS_VIRUS;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));

	ck_assert_uint_eq(decide_unchecked_minor("encrypted"), CC_UNCHECKED_ENCRYPTED);
	ck_assert_uint_eq(decide_unchecked_minor("limit exceeded: max_scansize"), CC_UNCHECKED_LIMITS);
	ck_assert_uint_eq(decide_unchecked_minor("undecipherable: x"), CC_UNCHECKED_AMBIGUOUS);
	ck_assert_uint_eq(decide_unchecked_minor("scanner failure: tmp"), CC_UNCHECKED_OTHER);
	ck_assert_uint_eq(decide_unchecked_minor(NULL), CC_UNCHECKED_OTHER);
}
END_TEST

START_TEST(test_bad_header)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;

	memset(&f, 0, sizeof(f));
	f.badh = 1;
	f.badh_minor = CC_BADH_8BIT;
	f.badh_text = "Non-encoded 8-bit data: Subject";
	decide_policy_defaults(&p);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	p.destiny[CC_BADH] = D_REJECT;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "554 5.6.3 Reject, id=12345-01 - BAD HEADER: nonencoded 8-bit character");
	f.badh_minor = CC_BADH_MISSING;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "554 5.6.0 Reject, id=12345-01 - BAD HEADER: missing required header field");
	/* bounce: blocked for a real sender, mercy for <> and bulk mail */
	p.destiny[CC_BADH] = D_BOUNCE;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res),
	    "554 5.6.0 Bounce, id=12345-01 - BAD HEADER: missing required header field");
	ck_assert_ptr_null(run1(&f, &p, "", &res));
	ck_assert_int_eq(res.r[0].mercy, 1);
	f.bulk = 1;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	f.bulk = 0;
	/* no mercy for reject */
	p.destiny[CC_BADH] = D_REJECT;
	ck_assert_ptr_nonnull(run1(&f, &p, "", &res));
	p.lovers = DECIDE_LOVER(CC_BADH);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	p.lovers = 0;
	p.bypass = DECIDE_BYPASS_HEADER;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_int_eq(res.r[0].nccat, 1);
}
END_TEST

START_TEST(test_oversized)
{
	struct message *msg = mkmsg("s@x", three);
	struct decide_facts f;
	struct decide_policy pa, pb, pc;
	const struct decide_policy *pols[3] = { &pa, &pb, &pc };
	struct decide_result res;

	memset(&f, 0, sizeof(f));
	f.size = 200000;
	decide_policy_defaults(&pa);
	decide_policy_defaults(&pb);
	decide_policy_defaults(&pc);
	pa.message_size_limit = 100000;
	pc.message_size_limit = 1000;	/* raised to 64 KiB: still over */
	ck_assert_uint_eq(decide_recipients(msg, &f, pols, &res), 2);
	ck_assert_str_eq(msg->rcpts[0].reply, "552 5.3.4 Bounce, id=12345-01 - Message size exceeds recipient's size limit");
	ck_assert_int_eq(msg->rcpts[0].code, 552);
	ck_assert_int_eq(msg->rcpts[1].code, 0);
	ck_assert_int_eq(msg->rcpts[2].code, 552);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "OVERSIZED");

	/* a limit below 64 KiB counts as 64 KiB */
	msg = mkmsg("s@x", one);
	f.size = 50000;
	pols[0] = &pc;
	ck_assert_uint_eq(decide_recipients(msg, &f, pols, &res), 0);
	/* oversize discarded */
	msg = mkmsg("s@x", one);
	f.size = 200000;
	pc.destiny[CC_OVERSIZED] = D_DISCARD;
	decide_recipients(msg, &f, pols, &res);
	ck_assert_str_eq(msg->rcpts[0].reply,
	    "250 2.3.4 Ok, discarded, id=12345-01 - Message size exceeds recipient's size limit");
}
END_TEST

static void spam_policy(struct decide_policy *p)
{
	decide_policy_defaults(p);
	p->tag_level = 2.0;
	p->tag2_level = 6.31;
	p->kill_level = 6.31;
	p->dsn_cutoff_level = 10;
	p->spam_subject_tag = "***SPAM*** ";
}

START_TEST(test_spam_levels)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;

	memset(&f, 0, sizeof(f));
	f.spam_scored = 1;
	f.spam_score = 7.5;
	spam_policy(&p);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));	/* final_spam_destiny PASS */
	ck_assert_uint_eq(res.r[0].ccat[0], CCAT(CC_SPAM, 0));
	ck_assert_uint_eq(res.r[0].ccat[1], CCAT(CC_SPAMMY, 0));
	ck_assert_uint_eq(res.r[0].ccat[2], CCAT(CC_CLEAN, 1));
	p.destiny[CC_SPAM] = D_DISCARD;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "250 2.7.0 Ok, discarded, id=12345-01 - spam");
	p.destiny[CC_SPAM] = D_BOUNCE;
	ck_assert_str_eq(run1(&f, &p, "s@x", &res), "554 5.7.0 Bounce, id=12345-01 - spam");
	p.lovers = DECIDE_LOVER(CC_SPAM);
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	p.lovers = 0;
	p.bypass = DECIDE_BYPASS_SPAM;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_uint_eq(res.r[0].nccat, 1);
	/* below kill: SPAMMY never blocks */
	spam_policy(&p);
	p.kill_level = 20;
	p.destiny[CC_SPAM] = D_REJECT;
	ck_assert_ptr_null(run1(&f, &p, "s@x", &res));
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_SPAMMY, 0));
	/* below tag2: CLEAN,1 only; below tag: nothing */
	f.spam_score = 3;
	run1(&f, &p, "s@x", &res);
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_CLEAN, 1));
	f.spam_score = 1;
	run1(&f, &p, "s@x", &res);
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_CLEAN, 0));
	/* tag level unset: any score tags */
	p.tag_level = DECIDE_LEVEL_UNSET;
	f.spam_score = -5;
	run1(&f, &p, "s@x", &res);
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_CLEAN, 1));
	/* not scored: nothing */
	f.spam_scored = 0;
	run1(&f, &p, "s@x", &res);
	ck_assert_uint_eq(res.ccat[0], CCAT(CC_CLEAN, 0));
}
END_TEST

START_TEST(test_multi_recipient)
{
	struct message *msg = mkmsg("sender@example.net", three);
	struct decide_facts f;
	struct decide_policy p0, p1, p2;
	const struct decide_policy *pols[3] = { &p0, &p1, &p2 };
	struct decide_result res;

	virus_facts(&f);
	decide_policy_defaults(&p0);
	decide_policy_defaults(&p1);
	decide_policy_defaults(&p2);
	p1.lovers = DECIDE_LOVER(CC_VIRUS);
	p2.destiny[CC_VIRUS] = D_REJECT;
	ck_assert_uint_eq(decide_recipients(msg, &f, pols, &res), 2);
	ck_assert_str_eq(msg->rcpts[0].reply, "250 2.7.0 Ok, discarded, id=12345-01 - INFECTED: Eicar-Signature");
	ck_assert_int_eq(msg->rcpts[1].code, 0);
	ck_assert_str_eq(msg->rcpts[2].reply, "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature");
	ck_assert_int_eq(res.blocked, 1);
	ck_assert_uint_eq(res.blocking_ccat, CCAT(CC_VIRUS, 0));
	/* NULL policies are the defaults; a code already set is kept */
	msg = mkmsg("sender@example.net", three);
	msg->rcpts[1].code = 451;
	msg->rcpts[1].reply = "451 4.5.0 earlier";
	decide_recipients(msg, &f, NULL, &res);
	ck_assert_int_eq(msg->rcpts[0].code, 250);
	ck_assert_str_eq(msg->rcpts[1].reply, "451 4.5.0 earlier");
}
END_TEST

/* outcome - set a recipient's reply as delivery would */
static void outcome(struct message *msg, size_t i, const char *reply)
{
	msg->rcpts[i].reply = reply;
	msg->rcpts[i].code = atoi(reply);
}

START_TEST(test_lmtp_replies)
{
	struct message *msg = mkmsg("sender@example.net", three);
	struct decide_facts f;
	struct decide_policy pb, pr, pp;
	const struct decide_policy *pols[3] = { &pb, &pr, &pp };
	struct decide_result res;

	virus_facts(&f);
	decide_policy_defaults(&pb);
	decide_policy_defaults(&pr);
	decide_policy_defaults(&pp);
	pb.destiny[CC_VIRUS] = D_BOUNCE;
	pr.destiny[CC_VIRUS] = D_REJECT;
	pp.lovers = DECIDE_LOVER(CC_VIRUS);
	decide_recipients(msg, &f, pols, &res);
	outcome(msg, 2, "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4ABC");
	decide_after_delivery(msg, &res);

	/* bounce whose DSN went out */
	res.r[0].dsn = DECIDE_DSN_SENT;
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "250 2.5.0 Ok <user1@example.com>, DSN was sent (554 5.7.0 Bounce, id=12345-01 - INFECTED: Eicar-Signature)");
	res.r[0].dsn = DECIDE_DSN_SUPPRESSED;
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "250 2.5.0 Ok <user1@example.com>, DSN suppressed (554 5.7.0 Bounce, id=12345-01 - INFECTED: Eicar-Signature)");
	res.r[0].dsn = DECIDE_DSN_NONE;
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "250 2.5.0 Ok <user1@example.com>, DSN suppressed_2 (554 5.7.0 Bounce, id=12345-01 - INFECTED: Eicar-Signature)");
	/* only D_REJECT keeps its 5xx */
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 1), "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature");
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 2),
	    "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 4ABC");
	/* a DSN that was not confirmed, or failed, is never claimed */
	res.r[0].dsn = DECIDE_DSN_PENDING;
	ck_assert_int_eq(atoi(decide_lmtp_reply(msg, &res, 0)), 451);
	decide_dsn_done(msg, &res, 0);
	ck_assert_int_eq(res.r[0].dsn, DECIDE_DSN_FAILED);
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0),
	    "451 4.5.0 Error in processing, id=12345-01, DSN could not be sent");
	/* downstream 5xx: CC_MTA,2, D_REJECT, kept; 4xx passes */
	msg = mkmsg("sender@example.net", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pp, &pp }, &res);
	outcome(msg, 0, "550 5.1.1 from MTA(smtp:[127.0.0.1]:10025): 550 5.1.1 unknown user");
	outcome(msg, 1, "451 4.3.0 from MTA(smtp:[127.0.0.1]:10025): 451 4.3.0 try later");
	outcome(msg, 2, "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok");
	decide_after_delivery(msg, &res);
	ck_assert_int_eq(res.r[0].destiny, D_REJECT);
	ck_assert_uint_eq(res.r[0].blocking_ccat, CCAT(CC_MTA, 2));
	ck_assert_int_eq(res.r[1].destiny, D_TEMPFAIL);
	ck_assert_int_eq(res.r[2].delivered, 1);
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 0), msg->rcpts[0].reply);
	ck_assert_str_eq(decide_lmtp_reply(msg, &res, 1), msg->rcpts[1].reply);
	/* no outcome */
	msg->rcpts[2].code = 0;
	ck_assert_int_eq(atoi(decide_lmtp_reply(msg, &res, 2)), 451);
}
END_TEST

START_TEST(test_smtp_reply)
{
	struct message *msg;
	struct decide_facts f;
	struct decide_policy pd, pr, pb, pp;
	struct decide_result res;
	int dsn;

	virus_facts(&f);
	decide_policy_defaults(&pd);
	decide_policy_defaults(&pr);
	decide_policy_defaults(&pb);
	decide_policy_defaults(&pp);
	pr.destiny[CC_VIRUS] = D_REJECT;
	pb.destiny[CC_VIRUS] = D_BOUNCE;
	pp.lovers = DECIDE_LOVER(CC_VIRUS);

	/* all discarded: the first discard reply */
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, NULL, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn),
	    "250 2.7.0 Ok, discarded, id=12345-01 - INFECTED: Eicar-Signature");
	/* discard + pass: the genuine pass reply, but 1 DISCARD */
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pd, &pp, &pp }, &res);
	outcome(msg, 1, "250 2.0.0 from MTA(x): 250 2.0.0 Ok: queued as A");
	outcome(msg, 2, "250 2.0.0 from MTA(x): 250 2.0.0 Ok: queued as A");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn),
	    "250 2.0.0 from MTA(x): 250 2.0.0 Ok: queued as A, but 1 DISCARD");
	ck_assert_int_eq(dsn, 0);
	/* all bounced: we bounce, the client gets a 2xx */
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pb }, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn), "250 2.5.0 Ok, id=12345-01, BOUNCE");
	ck_assert_int_eq(dsn, 1);
	res.r[0].dsn = DECIDE_DSN_SUPPRESSED;
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn), "250 2.5.0 Ok, id=12345-01, DISCARD(bounce.suppressed)");
	/* reject + discard: a 5xx */
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pd, &pr, &pd }, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn), "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature");
	/* downstream's 5xx is preferred over ours */
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr, &pp, &pd }, &res);
	outcome(msg, 1, "550 5.1.1 from MTA(x): 550 5.1.1 no such user");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn), "550 5.1.1 from MTA(x): 550 5.1.1 no such user");
	/* pass + reject + bounce: 2xx, but 1 REJECT, and 1 BOUNCE; DSN owed */
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pr, &pb }, &res);
	outcome(msg, 0, "250 2.0.0 from MTA(x): 250 2.0.0 Ok");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_smtp_reply(msg, &res, &dsn),
	    "250 2.0.0 from MTA(x): 250 2.0.0 Ok, but 1 REJECT, and 1 BOUNCE");
	ck_assert_int_eq(dsn, 1);
	/* the first 4xx wins */
	outcome(msg, 2, "451 4.5.0 Error in processing, id=12345-01, DSN could not be sent");
	ck_assert_str_eq(decide_smtp_reply(msg, &res, NULL), "451 4.5.0 Error in processing, id=12345-01, DSN could not be sent");
}
END_TEST

/* edit_find - the value of the first edit with op and name, or NULL */
static const char *edit_find(const struct decide_group *g, enum hdr_edit_op op, const char *name)
{
	size_t i;

	for (i = 0; i < g->nedits; i++)
		if (g->edits[i].op == op && strcmp(g->edits[i].name, name) == 0)
			return g->edits[i].value ? g->edits[i].value : "";
	return NULL;
}

START_TEST(test_header_groups)
{
	struct message *msg = mkmsg("s@x", three);
	struct decide_facts f;
	struct decide_policy pl, pn, pbyp;
	const struct decide_policy *pols[3] = { &pl, &pbyp, &pn };
	struct decide_result res;
	struct decide_group *g;
	struct decide_hdr_opts o = { "X-Virus-Scanned", "tollgate at example.com", NULL };
	size_t ng;

	memset(&f, 0, sizeof(f));
	f.spam_scored = 1;
	f.spam_score = 7.5;
	f.spam_tests = "BAYES_99=3.5,URIBL_BLOCKED=0.001";
	spam_policy(&pl);
	spam_policy(&pn);
	spam_policy(&pbyp);
	pn.is_local = 0;
	pbyp.bypass = DECIDE_BYPASS_SPAM;
	decide_recipients(msg, &f, pols, &res);
	ng = decide_header_groups(msg, &res, &o, &g);
	ck_assert_uint_eq(ng, 2);
	/* the local one: spam headers and subject tag */
	ck_assert_uint_eq(g[0].n, 1);
	ck_assert_uint_eq(g[0].idx[0], 0);
	ck_assert_uint_eq(g[0].edits[0].op, HDR_DELETE);
	ck_assert_str_eq(g[0].edits[0].name, "X-Spam-Flag");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Virus-Scanned"), "tollgate at example.com");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Flag"), "YES");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Score"), "7.5");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Level"), "*******");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Status"),
	    "Yes, score=7.5 tagged_above=2 required=6.31 tests=[BAYES_99=3.5,URIBL_BLOCKED=0.001] autolearn=unavailable");
	ck_assert_str_eq(edit_find(&g[0], HDR_PREPEND_SUBJECT, "Subject"), "***SPAM*** ");
	ck_assert_int_eq(res.r[0].tagged, 1);
	/* bypass (local) and not local share: deletion and X-Virus-Scanned only */
	ck_assert_uint_eq(g[1].n, 2);
	ck_assert_uint_eq(g[1].idx[0], 1);
	ck_assert_uint_eq(g[1].idx[1], 2);
	ck_assert_uint_eq(g[1].nedits, 2);
	ck_assert_ptr_null(edit_find(&g[1], HDR_ADD, "X-Spam-Flag"));

	/* below tag2: flag NO, no subject tag; X-Spam-Level empty below 1 */
	msg = mkmsg("s@x", one);
	f.spam_score = 0.5;
	pl.tag_level = DECIDE_LEVEL_UNSET;
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pl }, &res);
	ng = decide_header_groups(msg, &res, NULL, &g);
	ck_assert_uint_eq(ng, 1);
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Flag"), "NO");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Level"), "");
	ck_assert_str_eq(edit_find(&g[0], HDR_ADD, "X-Spam-Status"),
	    "No, score=0.5 required=6.31 tests=[BAYES_99=3.5,URIBL_BLOCKED=0.001] autolearn=unavailable");
	ck_assert_ptr_null(edit_find(&g[0], HDR_PREPEND_SUBJECT, "Subject"));
	ck_assert_int_eq(res.r[0].tagged, 0);
}
END_TEST

START_TEST(test_header_alerts)
{
	struct message *msg = mkmsg("s@x", three);
	struct decide_facts f;
	struct decide_policy plove, pdef;
	const struct decide_policy *pols[3] = { &plove, &pdef, &plove };
	struct decide_result res;
	struct decide_group *g;
	struct decide_hdr_opts o = { NULL, NULL, "AbCdEfGhIjKl" };
	size_t ng;

	virus_facts(&f);
	f.banned_reason = ".exe,.exe-ms,x.exe";
	f.badh = 1;
	f.badh_minor = CC_BADH_DUPL;
	f.badh_text = "Duplicate header field: \"Subject\"";
	decide_policy_defaults(&plove);
	decide_policy_defaults(&pdef);
	plove.lovers = DECIDE_LOVER(CC_VIRUS) | DECIDE_LOVER(CC_BANNED);
	ck_assert_uint_eq(decide_recipients(msg, &f, pols, &res), 1);
	ng = decide_header_groups(msg, &res, &o, &g);
	ck_assert_uint_eq(ng, 1);
	ck_assert_uint_eq(g[0].n, 2);
	ck_assert_uint_eq(g[0].nedits, 5);
	ck_assert_str_eq(g[0].edits[0].name, "X-Quarantine-ID");
	ck_assert_str_eq(g[0].edits[0].value, "<AbCdEfGhIjKl>");
	ck_assert_str_eq(g[0].edits[1].value, "INFECTED, message contains virus: Eicar-Signature");
	ck_assert_str_eq(g[0].edits[2].value, "BANNED, message contains .exe,.exe-ms,x.exe");
	ck_assert_str_eq(g[0].edits[3].value, "BAD HEADER SECTION, Duplicate header field: \"Subject\"");
	ck_assert_uint_eq(g[0].edits[4].op, HDR_PREPEND_SUBJECT);
	ck_assert_str_eq(g[0].edits[4].value, "***INFECTED*** ");
	ck_assert_int_eq(res.r[0].tagged, 1);
	/* not local: no X-Quarantine-ID, no subject tag, alerts stay */
	plove.is_local = 0;
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &plove }, &res);
	ng = decide_header_groups(msg, &res, &o, &g);
	ck_assert_uint_eq(g[0].nedits, 3);
	ck_assert_ptr_null(edit_find(&g[0], HDR_PREPEND_SUBJECT, "Subject"));
	/* unchecked passed: the undecipherable tag */
	memset(&f, 0, sizeof(f));
	f.unchecked = 1;
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, NULL, &res);
	ng = decide_header_groups(msg, &res, NULL, &g);
	ck_assert_str_eq(edit_find(&g[0], HDR_PREPEND_SUBJECT, "Subject"), "***UNCHECKED*** ");
}
END_TEST

START_TEST(test_edits_apply)
{
	static const char m[] = "From: a@b\r\nSubject: hello\r\n  world\r\nX-Spam-Flag: YES\r\nX-Spam-Flag:\r\n NO\r\n\r\nbody\r\n";
	static const char nosubj[] = "From: a@b\r\n\r\nbody\r\n";
	const struct hdr_edit adds[] = { { HDR_ADD, "X-A", "1" }, { HDR_ADD, "X-B", "" } };
	const struct hdr_edit all[] = { { HDR_DELETE, "x-spam-flag", NULL }, { HDR_ADD, "X-Spam-Flag", "NO" },
		{ HDR_PREPEND_SUBJECT, "Subject", "***SPAM*** " } };
	const char *out;
	size_t olen, skip;
	char *longv = arena_alloc(arena, 201);

	decide_edits_apply(arena, m, sizeof(m) - 1, adds, 2, &out, &olen, &skip);
	ck_assert_str_eq(out, "X-A: 1\r\nX-B: \r\n");
	ck_assert_uint_eq(skip, 0);
	decide_edits_apply(arena, m, sizeof(m) - 1, all, 3, &out, &olen, &skip);
	ck_assert_str_eq(out, "X-Spam-Flag: NO\r\nFrom: a@b\r\nSubject: ***SPAM*** hello\r\n  world\r\n");
	ck_assert_uint_eq(olen, strlen(out));
	ck_assert_str_eq(m + skip, "\r\nbody\r\n");
	decide_edits_apply(arena, nosubj, sizeof(nosubj) - 1, all + 2, 1, &out, &olen, &skip);
	ck_assert_str_eq(out, "From: a@b\r\nSubject: ***SPAM***\r\n");
	ck_assert_str_eq(nosubj + skip, "\r\nbody\r\n");
	/* a header-only message */
	decide_edits_apply(arena, "Subject: x\r\n", 12, all + 2, 1, &out, &olen, &skip);
	ck_assert_str_eq(out, "Subject: ***SPAM*** x\r\n");
	ck_assert_uint_eq(skip, 12);
	/* long values fold at white space */
	memset(longv, 'a', 200);
	longv[40] = ' ';
	longv[120] = ' ';
	{
		const struct hdr_edit e = { HDR_ADD, "X-Long", longv };

		decide_edits_apply(arena, m, sizeof(m) - 1, &e, 1, &out, &olen, &skip);
		ck_assert_ptr_nonnull(strstr(out, "\r\n aaa"));
		ck_assert_int_eq(out[olen - 1], '\n');
	}
	/* a word too long for one line is cut: no line over 998 */
	{
		char *huge = arena_alloc(arena, 3001);
		const struct hdr_edit e = { HDR_ADD, "X-Huge", huge };
		const char *p;

		memset(huge, 'b', 3000);
		decide_edits_apply(arena, m, sizeof(m) - 1, &e, 1, &out, &olen, &skip);
		for (p = out; (p = strstr(p, "\r\n")) != NULL && p[2]; p += 2)
			ck_assert_uint_le(strcspn(p + 2, "\r"), 998);
		ck_assert_uint_le(strcspn(out, "\r"), 998);
		ck_assert_uint_gt(olen, 3000);
	}
}
END_TEST

START_TEST(test_log_verdicts)
{
	struct decide_facts f;
	struct decide_policy p;
	struct decide_result res;
	struct message *msg;

	memset(&f, 0, sizeof(f));
	decide_policy_defaults(&p);
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "CLEAN");
	virus_facts(&f);
	decide_recipients(msg = mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "INFECTED (Eicar-Signature)");
	memset(&f, 0, sizeof(f));
	f.banned_reason = ".exe,x.exe";
	decide_recipients(msg = mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "BANNED (.exe,x.exe)");
	memset(&f, 0, sizeof(f));
	f.unchecked = 1;
	decide_recipients(msg = mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "UNCHECKED");
	f.unchecked_minor = CC_UNCHECKED_ENCRYPTED;
	decide_recipients(msg = mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "UNCHECKED-ENCRYPTED");
	memset(&f, 0, sizeof(f));
	f.badh = 1;
	f.badh_minor = 2;
	decide_recipients(msg = mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "BAD-HEADER-2");
	memset(&f, 0, sizeof(f));
	f.spam_scored = 1;
	f.spam_score = 7;
	spam_policy(&p);
	decide_recipients(msg = mkmsg("s@x", one), &f, (const struct decide_policy *const[]){ &p }, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "SPAM");
	p.kill_level = 10;
	decide_recipients(msg = mkmsg("s@x", one), &f, (const struct decide_policy *const[]){ &p }, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "SPAMMY");
	/* a blocking ccat below the main one is what the log names */
	virus_facts(&f);
	f.badh = 1;
	decide_policy_defaults(&p);
	p.lovers = DECIDE_LOVER(CC_VIRUS);
	p.destiny[CC_BADH] = D_REJECT;
	decide_recipients(msg = mkmsg("s@x", one), &f, (const struct decide_policy *const[]){ &p }, &res);
	ck_assert_str_eq(decide_log_verdict(msg, &res), "BAD-HEADER-0");
	ck_assert_str_eq(category_name(CCAT(CC_BADH, 2)), "BadHdr8bit");
	ck_assert_str_eq(category_name(CCAT(CC_VIRUS, 0)), "Virus");
}
END_TEST

START_TEST(test_log_actions)
{
	struct decide_facts f;
	struct decide_policy pr, pp, pb, pn;
	struct decide_result res;
	struct message *msg;

	memset(&f, 0, sizeof(f));
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, NULL, &res);
	outcome(msg, 0, "250 2.0.0 from MTA(x): 250 Ok");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RelayedInbound}");
	ck_assert_int_eq(decide_log_blocked(msg, &res), 0);

	virus_facts(&f);
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, NULL, &res);
	res.quarantine_id = "virus-AbCdEfGhIjKl";
	ck_assert_str_eq(decide_log_actions(msg, &res), "{DiscardedInbound,Quarantined}");
	ck_assert_int_eq(decide_log_blocked(msg, &res), 1);

	decide_policy_defaults(&pr);
	decide_policy_defaults(&pp);
	decide_policy_defaults(&pb);
	decide_policy_defaults(&pn);
	pr.destiny[CC_VIRUS] = D_REJECT;
	pb.destiny[CC_VIRUS] = D_BOUNCE;
	pp.lovers = DECIDE_LOVER(CC_VIRUS);
	pn.lovers = DECIDE_LOVER(CC_VIRUS);
	pn.is_local = 0;
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr }, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RejectedInbound}");
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pb }, &res);
	res.r[0].dsn = DECIDE_DSN_SENT;
	ck_assert_str_eq(decide_log_actions(msg, &res), "{BouncedInbound}");
	res.r[0].dsn = DECIDE_DSN_SUPPRESSED;
	ck_assert_str_eq(decide_log_actions(msg, &res), "{NoBounceInbound}");
	pr.destiny[CC_VIRUS] = D_TEMPFAIL;
	msg = mkmsg("s@x", one);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr }, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{TempFailedInbound}");
	/* mixed, sorted as amavisd sorts; a tagged relay; open relay */
	pr.destiny[CC_VIRUS] = D_REJECT;
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pr, &pn }, &res);
	decide_header_groups(msg, &res, NULL, &(struct decide_group *){ NULL });
	outcome(msg, 0, "250 2.0.0 from MTA(x): 250 Ok");
	outcome(msg, 2, "250 2.0.0 from MTA(x): 250 Ok");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RejectedInbound,RelayedTaggedInbound,RelayedTaggedOpenRelay}");
	/* untagged relays and a downstream reject: Rejected sorts before Relayed */
	memset(&f, 0, sizeof(f));
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pr, &pn, &pn }, &res);
	outcome(msg, 0, "550 5.1.1 from MTA(x): 550 5.1.1 unknown");
	outcome(msg, 1, "250 2.0.0 Ok");
	outcome(msg, 2, "250 2.0.0 Ok");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RejectedInbound,RelayedOpenRelay}");
	ck_assert_str_eq(decide_log_verdict(msg, &res), "MTA-BLOCKED");
	/* originating: Internal / Outbound */
	memset(&f, 0, sizeof(f));
	f.originating = 1;
	decide_policy_defaults(&pn);
	pn.is_local = 0;
	msg = mkmsg("s@x", three);
	decide_recipients(msg, &f, (const struct decide_policy *const[]){ &pp, &pn, &pp }, &res);
	outcome(msg, 0, "250 2.0.0 Ok");
	outcome(msg, 1, "250 2.0.0 Ok");
	outcome(msg, 2, "451 4.3.0 later");
	decide_after_delivery(msg, &res);
	ck_assert_str_eq(decide_log_actions(msg, &res), "{RelayedInternal,RelayedOutbound,TempFailedInternal}");
}
END_TEST

START_TEST(test_quarantine_select)
{
	struct decide_facts f;
	struct decide_result res;
	struct decide_policy p;
	unsigned mask = DECIDE_LOVER(CC_VIRUS) | DECIDE_LOVER(CC_BANNED) | DECIDE_LOVER(CC_SPAM) | DECIDE_LOVER(CC_BADH);

	virus_facts(&f);
	decide_recipients(mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_int_eq(decide_quarantine_ccat(&res, mask), CC_VIRUS);
	ck_assert_int_eq(decide_quarantine_ccat(&res, DECIDE_LOVER(CC_SPAM)), -1);
	memset(&f, 0, sizeof(f));
	decide_recipients(mkmsg("s@x", one), &f, NULL, &res);
	ck_assert_int_eq(decide_quarantine_ccat(&res, ~0u), -1);
	f.spam_scored = 1;
	f.spam_score = 20;
	spam_policy(&p);
	decide_recipients(mkmsg("s@x", one), &f, (const struct decide_policy *const[]){ &p }, &res);
	ck_assert_int_eq(decide_quarantine_ccat(&res, mask), CC_SPAM);
	ck_assert_str_eq(quarantine_prefix(CC_SPAM), "spam");
	ck_assert_str_eq(quarantine_prefix(CC_BADH), "badh");
	ck_assert_str_eq(quarantine_prefix(CC_BANNED), "banned");
}
END_TEST

START_TEST(test_quarantine_write)
{
	char dir[] = "/tmp/tg-quar-XXXXXX";
	struct message *msg = mkmsg("se nder@example.net", three);
	struct decide_facts f;
	struct decide_result res;
	struct quarantine_ref ref;
	const char *err, *pre, *data;
	size_t plen, len;
	char buf[4096], line[1024];
	struct stat st;
	FILE *fp;
	DIR *d;
	struct dirent *de;
	int fd, nfiles = 0;
	ssize_t got;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	virus_facts(&f);
	decide_recipients(msg, &f, NULL, &res);
	pre = quarantine_prepend(msg, &res, &plen);
	ck_assert_ptr_nonnull(strstr(pre, "X-Envelope-To-Blocked: <user1@example.com>,\r\n <user2@example.com>"));
	ck_assert_ptr_nonnull(strstr(pre, "X-Quarantine-ID: <AbCdEfGhIjKl>\r\n"));
	data = spool_data(msg->spool, &len);
	ck_assert_int_eq(quarantine_write(msg, dir, CC_VIRUS, pre, plen, data, len, &ref, &err), 0);
	ck_assert_str_eq(ref.id, "virus-AbCdEfGhIjKl");
	ck_assert_str_eq(ref.path, arena_printf(arena, "%s/virus-AbCdEfGhIjKl", dir));
	/* complete content, mode 0640 */
	ck_assert_int_eq(stat(ref.path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	{
		/* stored with LF line ends, as amavisd keeps quarantined mail */
		char want[8192];
		size_t wl = 0, k;

		for (k = 0; k < plen; k++)
			if (!(pre[k] == '\r' && k + 1 < plen && pre[k + 1] == '\n'))
				want[wl++] = pre[k];
		for (k = 0; k < len; k++)
			if (!(data[k] == '\r' && k + 1 < len && data[k + 1] == '\n'))
				want[wl++] = data[k];
		ck_assert_uint_eq((size_t)st.st_size, wl);
		fd = open(ref.path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		got = read(fd, buf, sizeof(buf));
		close(fd);
		ck_assert_int_eq(got, (ssize_t)wl);
		ck_assert_int_eq(memcmp(buf, want, wl), 0);
		ck_assert_ptr_null(memchr(buf, '\r', (size_t)got));
	}
	/* no temporary file left: only the message and the index */
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert(strcmp(de->d_name, "virus-AbCdEfGhIjKl") == 0 || strcmp(de->d_name, "index") == 0);
		nfiles++;
	}
	closedir(d);
	ck_assert_int_eq(nfiles, 2);
	/* one index line with every field */
	fp = fopen(arena_printf(arena, "%s/index", dir), "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	ck_assert_ptr_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	{
		char *sp = strchr(line, ' ');

		ck_assert_ptr_nonnull(sp);
		ck_assert_str_eq(sp + 1, arena_printf(arena, "AbCdEfGhIjKl SeCrEtSeCrEt virus <se%%20nder@example.net> "
		    "<user1@example.com>,<user2@example.com>,<user3@example.org> %s/virus-AbCdEfGhIjKl\n", dir));
	}
	/* a second message appends */
	strlcpy(msg->mail_id, "ZzZzZzZzZzZz", sizeof(msg->mail_id));
	ck_assert_int_eq(quarantine_write(msg, dir, CC_BANNED, NULL, 0, data, len, &ref, &err), 0);
	ck_assert_str_eq(ref.id, "banned-ZzZzZzZzZzZz");
	fp = fopen(arena_printf(arena, "%s/index", dir), "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	ck_assert_ptr_nonnull(strstr(line, " banned "));
	fclose(fp);
	/* a directory that does not exist: an error, nothing left */
	ck_assert_int_eq(quarantine_write(msg, arena_printf(arena, "%s/none", dir), CC_VIRUS, NULL, 0, data, len,
	    &ref, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "quarantine: create"));
	unlink(arena_printf(arena, "%s/virus-AbCdEfGhIjKl", dir));
	unlink(arena_printf(arena, "%s/banned-ZzZzZzZzZzZz", dir));
	unlink(arena_printf(arena, "%s/index", dir));
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_destiny_names)
{
	enum destiny d;

	ck_assert_int_eq(decide_destiny_parse("D_BOUNCE", &d), 0);
	ck_assert_int_eq(d, D_BOUNCE);
	ck_assert_int_eq(decide_destiny_parse("discard", &d), 0);
	ck_assert_int_eq(d, D_DISCARD);
	ck_assert_int_eq(decide_destiny_parse("Tempfail", &d), 0);
	ck_assert_int_eq(d, D_TEMPFAIL);
	ck_assert_int_eq(decide_destiny_parse("drop", &d), -1);
	ck_assert_int_eq(decide_destiny_parse(NULL, &d), -1);
	ck_assert_str_eq(decide_destiny_name(D_REJECT), "REJECT");
}
END_TEST

static Suite *decide_suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decide");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_virus_destinies);
	tcase_add_test(tc, test_virus_lover_bypass_soft);
	tcase_add_test(tc, test_banned);
	tcase_add_test(tc, test_unchecked);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_spam_levels);
	tcase_add_test(tc, test_multi_recipient);
	tcase_add_test(tc, test_lmtp_replies);
	tcase_add_test(tc, test_smtp_reply);
	tcase_add_test(tc, test_header_groups);
	tcase_add_test(tc, test_header_alerts);
	tcase_add_test(tc, test_edits_apply);
	tcase_add_test(tc, test_log_verdicts);
	tcase_add_test(tc, test_log_actions);
	tcase_add_test(tc, test_quarantine_select);
	tcase_add_test(tc, test_quarantine_write);
	tcase_add_test(tc, test_destiny_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(decide_suite());
}
