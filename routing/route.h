/*
 * route.h - the routing decision: which forward method (and which TLS
 * policy) each recipient's delivery takes.
 *
 * Precedence of the forward method, first that applies wins:
 *   1. forward_method_maps, searched by recipient address with the keys
 *      of maps_lookup_addr() (lib/tables/table.h, amavisd-new's order): full
 *      address, address without extension, local part, domain, @domain,
 *      .domain, parent domains, ".";
 *   2. sender_dependent_forward_method_maps, searched by the envelope
 *      sender address, the address without its extension, then
 *      @domain (Postfix's sender_dependent_default_transport_maps). The
 *      null sender is looked up as empty_address_sender_key (default
 *      "<>"; empty: not looked up);
 *   3. the policy bank's forward_method (bank_method);
 *   4. the global forward_method.
 * A result of DUNNO (any case) in either map ends that map's search
 * without an override: the next level decides (for the sender map this
 * is Postfix's rule, "DUNNO terminates the search").
 *
 * A method value is "PROTO:NEXTHOP" as method_parse() takes it,
 * optionally followed by TLS attributes separated by white space:
 *   smtp:[10.0.0.5]:25 tls=verify tls_CAfile=/etc/ssl/ours.pem tls_match=mx.example.com
 * tls= takes none, may, encrypt, verify or secure; tls_match= one name
 * or several separated by ':'.
 *
 * TLS policy of a delivery, first that applies wins:
 *   1. the method's own tls= attribute;
 *   2. forward_tls_policy_maps, searched by next hop as Postfix's
 *      smtp_tls_policy_maps: the method without its "smtp:"/"lmtp:"
 *      prefix, brackets and port as written ("[127.0.0.1]:10025"), then,
 *      when the port is the protocol's default (25 smtp, 24 lmtp), the
 *      same without ":port". Values as in Postfix: a level (none, may,
 *      encrypt, verify, secure), then optional match=NAME[:NAME...]
 *      (nexthop, hostname: the next-hop host; dot-nexthop: its
 *      subdomains) and CAfile=/path (our extension). The levels dane,
 *      dane-only and fingerprint and any other attribute are refused;
 *   3. forward_tls_security_level (default none).
 * The CA file is the policy's own, else forward_tls_CAfile. At level
 * secure with no match name, the next-hop host must match.
 * tls_failure_action decides what a recipient gets when its delivery
 * requires TLS and TLS was not available: 4xx (tempfail, the default)
 * or 5xx (bounce); see routing.h.
 *
 * Life cycle: route_create() once per configuration (in the master,
 * before the workers fork: maps are opened there, with TABLE_OPEN_SURROGATE
 * in workers' configurations and without it for the config check) →
 * route_method_for() per recipient → route_free().
 *
 * Ownership: methods are parsed once and interned in the ctx: every
 * equal method value (same text up to white space) yields the same
 * struct fwd_method pointer for the ctx's life, so a caller groups
 * recipients by comparing pointers. The TLS policy is a function of
 * the method (and of the tables), so grouping by method also groups by
 * policy. The strings of a returned tls_policy live in the ctx or in
 * msg->arena: valid until the arena is reset or the ctx freed.
 * Interning mutates the ctx: one ctx per process (forked copies are
 * fine), never shared between threads. At most ROUTE_METHODS_MAX
 * distinct methods are interned; more fail the lookup (tempfail).
 */
#ifndef TG_ROUTING_ROUTE_H
#define TG_ROUTING_ROUTE_H

#include <stddef.h>

#include "lib/message.h"
#include "routing/routing.h"
#include "lib/tables/table.h"

#define ROUTE_METHODS_MAX	1000	/* distinct methods interned per ctx */
#define ROUTE_VALUE_MAX		1024	/* bytes of one method or policy value */

/* the settings, as raw strings (NULL or "" means the default/none);
 * copied where kept, so they need not outlive route_create() */
struct route_conf {
	const char *forward_method;		/* required */
	const char *notify_method;		/* NULL/"": forward_method */
	const char *forward_method_maps;
	const char *sender_dependent_forward_method_maps;
	const char *empty_address_sender_key;	/* NULL: "<>"; "": not looked up */
	const char *forward_tls_policy_maps;
	const char *forward_tls_security_level;	/* NULL/"": none */
	const char *forward_tls_CAfile;
	const char *tls_failure_action;		/* 4xx|tempfail (default), 5xx|bounce */
	const char *recipient_delimiter;	/* for forward_method_maps and the sender */
	const struct table_opts *table_opts;	/* NULL: defaults */
	int table_flags;			/* for maps_create(): TABLE_OPEN_SURROGATE or 0 */
};

struct route_ctx;

/* route_create - parse the methods and levels and open the maps; 0
 * with *rc_r, or -1 with *error_r naming the setting (static until the
 * next call) */
int route_create(const struct route_conf *conf, struct route_ctx **rc_r, const char **error_r);
/* route_free - close the maps and free the interned methods; sets *rcp NULL */
void route_free(struct route_ctx **rcp);

/*
 * route_method_for - the forward method and TLS policy for recipient
 * rcpt_index of msg (precedence above). bank_method is the policy
 * bank's forward_method value, NULL or "" when the bank sets none.
 * 0 with *m_r (interned) and *tls_r, or -1 with *error_r (in the
 * arena) when a table failed or a value found does not parse: the
 * caller tempfails that recipient.
 */
int route_method_for(struct route_ctx *rc, struct message *msg, size_t rcpt_index, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, const char **error_r);

/* why route_method_explain() chose a method, for tollgate explain:
 * strings static, in the ctx or in msg->arena */
struct route_why {
	const char *source;	/* "forward_method_maps", "sender_dependent_forward_method_maps",
				 * "policy bank forward_method" or "forward_method" */
	const char *key;	/* the key that matched in source's table; NULL for a setting */
	const char *method;	/* the method value as interned (white space normalised) */
	const char *dunno;	/* "TABLE: KEY = DUNNO" when a map said DUNNO, else NULL */
	const char *tls_source;	/* "tls= of the method", "forward_tls_policy_maps: KEY"
				 * or "forward_tls_security_level" */
};

/* route_method_explain - route_method_for() that also says why in
 * *why_r (the same lookups: a dry run routes as a worker does) */
int route_method_explain(struct route_ctx *rc, struct message *msg, size_t rcpt_index, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, struct route_why *why_r, const char **error_r);

/* route_notify_method - notify_method (bank_method as above overrides
 * it when set) and its TLS policy; returns as route_method_for() */
int route_notify_method(struct route_ctx *rc, struct arena *a, const char *bank_method,
    const struct fwd_method **m_r, struct tls_policy *tls_r, const char **error_r);


#endif
