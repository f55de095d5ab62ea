/*
 * banks.h - policy banks: named sets of overrides of any setting
 * (lib/cfg.h: policy_bank_NAME = { name = value } ...), chosen per
 * message, as amavisd-new's policy banks.
 *
 * Which banks apply, in this order (each later one overrides the
 * earlier ones where both set something):
 *   1. interface_policy: the listener the message came in on, looked up
 *      by its spec ("lmtp:127.0.0.1:10026"), then for milter sessions by
 *      "milter:" and the MTA's {daemon_name}, then by the port ("10026")
 *      - amavisd's %interface_policy;
 *   2. MYNETS: the client (XFORWARD ADDR, else the TCP peer) is in
 *      mynetworks ("LOCAL" in the log line, as amavisd);
 *   3. client_ipaddr_policy: lookup tables keyed by the client address
 *      (cidr: typically) whose value names a bank; then the banks an
 *      AM.PDP client asks for (policy_bank=A,B), and sasl_policy_bank
 *      when the milter reports a SASL login (which also makes the mail
 *      originating);
 *   4. ORIGINATING: when the mail is originating (a bank chosen above
 *      sets originating = yes, as amavisd's MYNETS bank usually does)
 *      and a bank of that name is defined.
 * A name without a definition is skipped (a table naming one is logged
 * as a warning). Originating mail is logged as Internal/Outbound
 * instead of Inbound/OpenRelay.
 *
 * Life cycle: the master builds a struct banks per configuration
 * (banks_build, which also checks every defined bank: a broken bank is a
 * start-up error); workers choose per message and get the merged
 * configuration and content policy for the chosen path; a path of more
 * than one defined bank is built on first use in the worker and kept.
 */
#ifndef TG_POLICY_BANKS_H
#define TG_POLICY_BANKS_H

#include "lib/cfg.h"
#include "lib/message.h"

struct banks;
struct policy;

/* the banks chosen for one message */
struct bank_choice {
	const char *path;	/* "MYNETS,RELAY" as applied, "" none (arena) */
	int originating;	/* mail from our own users */
	int mynets;		/* client in mynetworks ("LOCAL" in the log) */
	const char *why;	/* what chose each bank, "; "-separated, "" none (arena;
				 * for tollgate explain) */
};

int banks_build(const struct cfg *cfg, const struct policy *base_policy, struct banks **b_r,
    const char **error_r);
void banks_free(struct banks **bp);

/* banks_choose - which banks apply to msg; -1 when a lookup failed
 * (the message is tempfailed) */
int banks_choose(struct banks *b, struct message *msg, struct bank_choice *c_r, const char **error_r);

/* banks_get - configuration and content policy for a chosen path (the
 * base ones for ""); -1 with *error_r when a stacked path cannot be
 * built in this process */
int banks_get(struct banks *b, const char *path, const struct cfg **cfg_r, const struct policy **pol_r,
    const char **error_r);

/* banks_is_local - recipient in local_domains (empty: every recipient
 * is local); -1 on a failed lookup */
int banks_is_local(struct banks *b, const struct cfg *cfg, struct message *msg, const char *addr);

#endif
