/*
 * test_route.c - route_method_for(): the precedence of recipient map,
 * sender-dependent map, policy bank and global method; DUNNO; the null
 * sender key; @domain and extension keys; interning (equal methods,
 * same pointer); the TLS policy from method attributes,
 * forward_tls_policy_maps (keyed by next hop) and the global level.
 * Tables are inline: so the tests need no files, except the surrogate.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/message.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "lib/tables/table.h"
#include "tests/unit/check_tap.h"

#define GLOBAL	"smtp:[127.0.0.1]:10025"

static struct arena *arena;
static struct route_ctx *rc;

static void setup(void)
{
	arena = arena_create(0);
	rc = NULL;
}

static void teardown(void)
{
	route_free(&rc);
	arena_free(&arena);
}

/* conf - a configuration with the global method and nothing else */
static struct route_conf conf(void)
{
	struct route_conf c;

	memset(&c, 0, sizeof(c));
	c.forward_method = GLOBAL;
	c.recipient_delimiter = "+";
	return c;
}

/* make - route_create that must succeed */
static void make(const struct route_conf *c)
{
	const char *err = NULL;

	ck_assert_msg(route_create(c, &rc, &err) == 0, "route_create: %s", err);
}

/* mkmsg - a message from sender to the recipients */
static struct message *mkmsg(const char *sender, const char *const *rcpts, size_t n)
{
	struct message *msg = arena_alloc(arena, sizeof(*msg));
	size_t i;

	msg->arena = arena;
	msg->sender = sender;
	strlcpy(msg->am_id, "1-01", sizeof(msg->am_id));
	for (i = 0; i < n; i++)
		message_add_rcpt(msg, rcpts[i]);
	return msg;
}

/* route - method spec for recipient i (asserting success) */
static const char *route(struct message *msg, size_t i, const char *bank, struct tls_policy *tls)
{
	const struct fwd_method *m = NULL;
	struct tls_policy t;
	const char *err = NULL;

	ck_assert_msg(route_method_for(rc, msg, i, bank, &m, tls ? tls : &t, &err) == 0, "route: %s", err);
	ck_assert_ptr_nonnull(m);
	return m->spec;
}

START_TEST(test_global_only)
{
	struct route_conf c = conf();
	const char *r[] = { "a@example.com" };
	struct message *msg;
	struct tls_policy tls;

	make(&c);
	msg = mkmsg("s@example.net", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, &tls), GLOBAL);
	ck_assert_int_eq(tls.level, TLS_NONE);
	ck_assert_int_eq(tls.bounce, 0);
	ck_assert_str_eq(route(msg, 0, "", NULL), GLOBAL);
}
END_TEST

START_TEST(test_precedence)
{
	struct route_conf c = conf();
	const char *r[] = { "vip@rcpt.example", "other@rcpt.example" };
	struct message *msg;

	c.forward_method_maps = "inline:{ vip@rcpt.example=smtp:[127.0.0.1]:10001 }";
	c.sender_dependent_forward_method_maps = "inline:{ @tls-sender.example=smtp:[127.0.0.1]:10002 }";
	make(&c);

	/* recipient map beats the sender map and the bank */
	msg = mkmsg("x@tls-sender.example", r, 2);
	ck_assert_str_eq(route(msg, 0, "smtp:[127.0.0.1]:10003", NULL), "smtp:[127.0.0.1]:10001");
	/* sender map beats the bank */
	ck_assert_str_eq(route(msg, 1, "smtp:[127.0.0.1]:10003", NULL), "smtp:[127.0.0.1]:10002");
	/* bank beats the global method */
	msg = mkmsg("x@elsewhere.example", r, 2);
	ck_assert_str_eq(route(msg, 1, "smtp:[127.0.0.1]:10003", NULL), "smtp:[127.0.0.1]:10003");
	/* global when nothing else applies */
	ck_assert_str_eq(route(msg, 1, NULL, NULL), GLOBAL);
}
END_TEST

START_TEST(test_rcpt_map_order)
{
	struct route_conf c = conf();
	const char *r[] = { "User+Ext@Sub.Example.COM", "u@sub.example.com", "x@deep.sub.example.com",
	    "u@other.example" };
	struct message *msg;

	c.forward_method_maps = "inline:{ user@sub.example.com=smtp:[127.0.0.1]:10001, "
	    "@sub.example.com=smtp:[127.0.0.1]:10002, .example.com=smtp:[127.0.0.1]:10003, "
	    ".=smtp:[127.0.0.1]:10004 }";
	make(&c);
	msg = mkmsg("s@example.net", r, 4);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10001");
	ck_assert_str_eq(route(msg, 1, NULL, NULL), "smtp:[127.0.0.1]:10002");
	ck_assert_str_eq(route(msg, 2, NULL, NULL), "smtp:[127.0.0.1]:10003");
	ck_assert_str_eq(route(msg, 3, "smtp:[127.0.0.1]:10009", NULL), "smtp:[127.0.0.1]:10004");
}
END_TEST

START_TEST(test_sender_keys)
{
	struct route_conf c = conf();
	const char *r[] = { "a@rcpt.example" };
	struct message *msg;

	c.sender_dependent_forward_method_maps = "inline:{ full+tag@s.example=smtp:[127.0.0.1]:10001, "
	    "bare@s.example=smtp:[127.0.0.1]:10002, @s.example=smtp:[127.0.0.1]:10003 }";
	make(&c);
	/* full address first */
	msg = mkmsg("full+tag@s.example", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10001");
	/* the address without extension */
	msg = mkmsg("Bare+anything@S.Example", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10002");
	/* @domain */
	msg = mkmsg("someone@s.example", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10003");
	/* no parent domains and no catch-all for the sender (Postfix: address and @domain) */
	msg = mkmsg("someone@sub.s.example", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), GLOBAL);
	/* a sender without a domain */
	msg = mkmsg("postmaster", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), GLOBAL);
}
END_TEST

START_TEST(test_dunno)
{
	struct route_conf c = conf();
	const char *r[] = { "dunno@rcpt.example", "plain@rcpt.example" };
	struct message *msg;

	c.forward_method_maps = "inline:{ dunno@rcpt.example=DUNNO }";
	c.sender_dependent_forward_method_maps = "inline:{ @s.example=smtp:[127.0.0.1]:10002, "
	    "quiet@s.example=dunno }";
	make(&c);
	/* DUNNO in the recipient map: the sender map decides */
	msg = mkmsg("x@s.example", r, 2);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10002");
	/* DUNNO for the sender address ends the search: @domain is not
	 * tried, and the bank (or the global method) applies */
	msg = mkmsg("quiet@s.example", r, 2);
	ck_assert_str_eq(route(msg, 1, "smtp:[127.0.0.1]:10003", NULL), "smtp:[127.0.0.1]:10003");
	ck_assert_str_eq(route(msg, 0, NULL, NULL), GLOBAL);
}
END_TEST

START_TEST(test_null_sender)
{
	struct route_conf c = conf();
	const char *r[] = { "a@rcpt.example" };
	struct message *msg;

	c.sender_dependent_forward_method_maps = "inline:{ <>=smtp:[127.0.0.1]:10001, "
	    "mailer-daemon=smtp:[127.0.0.1]:10002 }";
	make(&c);
	msg = mkmsg("", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10001");
	route_free(&rc);

	c.empty_address_sender_key = "mailer-daemon";
	make(&c);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), "smtp:[127.0.0.1]:10002");
	route_free(&rc);

	/* empty key: the null sender is not looked up */
	c.empty_address_sender_key = "";
	make(&c);
	ck_assert_str_eq(route(msg, 0, NULL, NULL), GLOBAL);
}
END_TEST

START_TEST(test_interning)
{
	struct route_conf c = conf();
	const char *r[] = { "a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example" };
	const struct fwd_method *m[5];
	struct tls_policy tls;
	struct message *msg;
	const char *err;
	size_t i;

	c.forward_method_maps = "inline:{ a@x.example=smtp:[127.0.0.1]:10001, "
	    "{ b@x.example = smtp:[127.0.0.1]:10001 }, c@x.example=smtp:[127.0.0.1]:10002, "
	    "{ d@x.example = smtp:[127.0.0.1]:10001   tls=encrypt } }";
	c.sender_dependent_forward_method_maps = "inline:{ @s.example=smtp:[127.0.0.1]:10001 }";
	make(&c);
	msg = mkmsg("x@s.example", r, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(route_method_for(rc, msg, i, NULL, &m[i], &tls, &err), 0);
	ck_assert_ptr_eq(m[0], m[1]);		/* same value, different keys */
	ck_assert_ptr_eq(m[0], m[4]);		/* same value from the sender map */
	ck_assert_ptr_ne(m[0], m[2]);		/* another method */
	ck_assert_ptr_ne(m[0], m[3]);		/* same next hop, other TLS: another delivery */
	/* and the same again for the next message */
	msg = mkmsg("x@s.example", r, 5);
	ck_assert_int_eq(route_method_for(rc, msg, 0, NULL, &m[2], &tls, &err), 0);
	ck_assert_ptr_eq(m[0], m[2]);
	/* the bank's value written differently (white space) is the same method */
	ck_assert_int_eq(route_method_for(rc, msg, 3, NULL, &m[1], &tls, &err), 0);
	ck_assert_int_eq(route_method_for(rc, mkmsg("", r, 5), 4, " smtp:[127.0.0.1]:10001\ttls=encrypt ", &m[2],
	    &tls, &err), 0);
	ck_assert_ptr_eq(m[1], m[2]);
	/* the global method is interned too */
	ck_assert_int_eq(route_method_for(rc, mkmsg("", r, 5), 4, GLOBAL, &m[1], &tls, &err), 0);
	ck_assert_int_eq(route_method_for(rc, mkmsg("", r, 5), 4, NULL, &m[2], &tls, &err), 0);
	ck_assert_ptr_eq(m[1], m[2]);
}
END_TEST

START_TEST(test_tls_policy_maps)
{
	struct route_conf c = conf();
	const char *r[] = { "a@x.example", "b@x.example", "c@x.example", "d@x.example" };
	struct tls_policy tls;
	struct message *msg;

	c.forward_method_maps = "inline:{ b@x.example=smtp:relay.example.com:25, "
	    "c@x.example=smtp:[127.0.0.1]:10099, "
	    "{ d@x.example = smtp:[127.0.0.1]:10025 tls=may } }";
	c.forward_tls_policy_maps = "inline:{ [127.0.0.1]:10025=encrypt, "
	    "{ relay.example.com = secure match=nexthop:dot-nexthop CAfile=/etc/relay-ca.pem } }";
	c.forward_tls_security_level = "may";
	c.forward_tls_CAfile = "/etc/ca.pem";
	make(&c);
	msg = mkmsg("s@example.net", r, 4);
	/* keyed by next hop as written */
	ck_assert_str_eq(route(msg, 0, NULL, &tls), GLOBAL);
	ck_assert_int_eq(tls.level, TLS_ENCRYPT);
	ck_assert_str_eq(tls.ca_file, "/etc/ca.pem");
	/* the default port is left out of the key; match words expanded */
	ck_assert_str_eq(route(msg, 1, NULL, &tls), "smtp:relay.example.com:25");
	ck_assert_int_eq(tls.level, TLS_SECURE);
	ck_assert_str_eq(tls.match_name, "relay.example.com:.relay.example.com");
	ck_assert_str_eq(tls.ca_file, "/etc/relay-ca.pem");
	/* no entry: the global level */
	route(msg, 2, NULL, &tls);
	ck_assert_int_eq(tls.level, TLS_MAY);
	ck_assert_ptr_null(tls.match_name);
	/* the method's own tls= beats the map */
	route(msg, 3, NULL, &tls);
	ck_assert_int_eq(tls.level, TLS_MAY);
	ck_assert_int_eq(tls.bounce, 0);
}
END_TEST

START_TEST(test_tls_method_attrs_and_bounce)
{
	struct route_conf c = conf();
	const char *r[] = { "a@x.example" };
	struct tls_policy tls;
	struct message *msg;

	c.forward_method = "smtp:[127.0.0.1]:10025 tls=verify tls_CAfile=/etc/own.pem tls_match=mx.example";
	c.tls_failure_action = "bounce";
	c.forward_tls_policy_maps = "inline:{ [127.0.0.1]:10025=none }";
	make(&c);
	msg = mkmsg("s@example.net", r, 1);
	ck_assert_str_eq(route(msg, 0, NULL, &tls), "smtp:[127.0.0.1]:10025");
	ck_assert_int_eq(tls.level, TLS_VERIFY);
	ck_assert_str_eq(tls.ca_file, "/etc/own.pem");
	ck_assert_str_eq(tls.match_name, "mx.example");
	ck_assert_int_eq(tls.bounce, 1);
	route_free(&rc);

	c.tls_failure_action = "5xx";
	make(&c);
	ck_assert_str_eq(route(msg, 0, NULL, &tls), "smtp:[127.0.0.1]:10025");
	ck_assert_int_eq(tls.bounce, 1);
	route_free(&rc);
	c.tls_failure_action = "4xx";
	make(&c);
	ck_assert_str_eq(route(msg, 0, NULL, &tls), "smtp:[127.0.0.1]:10025");
	ck_assert_int_eq(tls.bounce, 0);
}
END_TEST

START_TEST(test_notify_method)
{
	struct route_conf c = conf();
	const struct fwd_method *m, *g;
	struct tls_policy tls;
	const char *err, *r[] = { "a@x.example" };

	make(&c);
	ck_assert_int_eq(route_notify_method(rc, arena, NULL, &m, &tls, &err), 0);
	ck_assert_int_eq(route_method_for(rc, mkmsg("", r, 1), 0, NULL, &g, &tls, &err), 0);
	ck_assert_ptr_eq(m, g);		/* empty notify_method: forward_method */
	route_free(&rc);
	c.notify_method = "lmtp:[127.0.0.1]:10026";
	make(&c);
	ck_assert_int_eq(route_notify_method(rc, arena, NULL, &m, &tls, &err), 0);
	ck_assert_str_eq(m->spec, "lmtp:[127.0.0.1]:10026");
	ck_assert_int_eq(route_notify_method(rc, arena, "smtp:[127.0.0.1]:10027", &m, &tls, &err), 0);
	ck_assert_str_eq(m->spec, "smtp:[127.0.0.1]:10027");
}
END_TEST

START_TEST(test_errors)
{
	struct route_conf c = conf();
	const char *err, *r[] = { "bad@x.example", "pol@x.example", "ok@x.example" };
	const struct fwd_method *m;
	struct tls_policy tls;
	struct message *msg;

	c.forward_method = "pipe:/bin/true";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "forward_method"));
	c = conf();
	c.forward_tls_security_level = "dane";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "forward_tls_security_level"));
	c = conf();
	c.tls_failure_action = "discard";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "tls_failure_action"));
	c = conf();
	c.forward_method = GLOBAL " tls=sometimes";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	c = conf();
	c.forward_method = GLOBAL " tls_match=x";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	c = conf();
	c.sender_dependent_forward_method_maps = "texthash:/nonexistent/tollgate/route";
	ck_assert_int_eq(route_create(&c, &rc, &err), -1);
	ck_assert_ptr_null(rc);

	/* a bad value or policy found at run time fails that recipient only */
	c = conf();
	c.forward_method_maps = "inline:{ bad@x.example=smtp:*:25, pol@x.example=smtp:[127.0.0.1]:10001 }";
	c.forward_tls_policy_maps = "inline:{ { [127.0.0.1]:10001 = verify ciphers=high } }";
	make(&c);
	msg = mkmsg("s@example.net", r, 3);
	ck_assert_int_eq(route_method_for(rc, msg, 0, NULL, &m, &tls, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad@x.example"));
	ck_assert_int_eq(route_method_for(rc, msg, 1, NULL, &m, &tls, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "ciphers=high"));
	ck_assert_int_eq(route_method_for(rc, msg, 2, NULL, &m, &tls, &err), 0);
	ck_assert_int_eq(route_method_for(rc, msg, 3, NULL, &m, &tls, &err), -1);
	ck_assert_int_eq(route_method_for(rc, msg, 2, "lmtp:nowhere", &m, &tls, &err), -1);
}
END_TEST

START_TEST(test_table_failure)
{
	struct route_conf c = conf();
	const char *err, *r[] = { "a@x.example" };
	const struct fwd_method *m;
	struct tls_policy tls;
	struct message *msg;

	/* a table that would not open in a worker: its surrogate fails
	 * every lookup, which must not fall through to the global method */
	c.table_flags = TABLE_OPEN_SURROGATE;
	c.sender_dependent_forward_method_maps = "texthash:/nonexistent/tollgate/route";
	make(&c);
	msg = mkmsg("s@example.net", r, 1);
	ck_assert_int_eq(route_method_for(rc, msg, 0, NULL, &m, &tls, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "sender_dependent_forward_method_maps"));
	route_free(&rc);
	c.sender_dependent_forward_method_maps = NULL;
	c.forward_tls_policy_maps = "texthash:/nonexistent/tollgate/route";
	make(&c);
	ck_assert_int_eq(route_method_for(rc, msg, 0, NULL, &m, &tls, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "forward_tls_policy_maps"));
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("route");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_global_only);
	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_rcpt_map_order);
	tcase_add_test(tc, test_sender_keys);
	tcase_add_test(tc, test_dunno);
	tcase_add_test(tc, test_null_sender);
	tcase_add_test(tc, test_interning);
	tcase_add_test(tc, test_tls_policy_maps);
	tcase_add_test(tc, test_tls_method_attrs_and_bounce);
	tcase_add_test(tc, test_notify_method);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_table_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_tap_run(route_suite());
}
