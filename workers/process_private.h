/*
 * process_private.h - what the pieces of one message's processing
 * share: process.c (the steps in order, scanning, policy, quarantine,
 * notices, replies, the log line), process_deliver.c (re-injection and
 * notices through the delivery client), process_state.c (rate limits,
 * pen pals and the exactly-once records in Redis) and process_explain.c
 * (the dry run's record for tollgate explain).
 *
 * One struct proc_ctx per message, on process_common's stack: the
 * message, the banks chosen for it, the facts, decisions and delivery
 * settings the steps hand on. Everything it points to lives in the
 * message's arena or in the worker.
 */
#ifndef TG_WORKERS_PROCESS_PRIVATE_H
#define TG_WORKERS_PROCESS_PRIVATE_H

#include <stddef.h>
#include <time.h>

#include "lib/cfg.h"
#include "lib/message.h"
#include "lib/scoreboard.h"
#include "policy/banks.h"
#include "policy/decide.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "state/state.h"
#include "workers/workers.h"

struct proc_ctx {
	struct worker *w;
	struct message *msg;
	struct milter_verdict *mv;	/* before the queue: the verdict to fill; else NULL */
	struct bank_choice bank;	/* the policy banks chosen for the message */
	char hits[32];			/* its spam score for the log, "-" unscored */
	const char *qid;		/* Postfix's queue id, else am_id: the process title */
	const char *data;		/* the spooled message */
	size_t len;
	struct decide_facts facts;
	struct decide_policy **pols;	/* each recipient's policy, NULL: lookup failed */
	struct decide_result res;
	const char *rate_why;		/* a rate limit whose action is quarantine, else NULL */
	struct deliver_opts opts;
	char digest[STATE_DIGEST_HEX];	/* content digest with shared state, else "" */
	const char **before;		/* undecided before delivery (with shared state) */
	size_t nbefore;
	unsigned char *recorded;	/* per recipient: recorded as delivered in Redis */
	struct timespec t_stage;	/* start of the current stage */
};

/* recipients that share one forward method share one transaction */
struct proc_group {
	const struct fwd_method *m;
	struct tls_policy tls;
	size_t *idx;
	size_t n;
};

/* proc_cfg - the config this worker runs with (the bank's, if any) */
static inline const struct cfg *proc_cfg(const struct worker *w)
{
	return w->cfg ? w->cfg : w->env->cfg;
}

/* proc_state - scoreboard state and process title, not in a dry run */
static inline void proc_state(struct worker *w, enum sb_state st, const char *qid)
{
	if (w->explain == NULL)
		worker_set_state(w, st, qid);
}

/* proc_observe - one stage's duration into the scoreboard, not in a dry run */
static inline void proc_observe(struct worker *w, enum sb_stage stage, const struct timespec *since)
{
	if (w->explain == NULL)
		scoreboard_observe(w->env->sb, w->env->slot, stage, scoreboard_usec_since(since));
}

/* process.c */
void proc_set_all(struct message *msg, const char *reply);

/* process_deliver.c */
const char *proc_ip(struct arena *a, const char *addr, int tag);
void proc_deliver(struct proc_ctx *c);
int proc_send_notice(struct worker *w, struct message *msg, struct notify_msg *nm, const struct deliver_opts *o);

/* process_state.c */
const char **proc_rcpt_list(struct message *msg, int want2xx, size_t *n_r);
int proc_rate(struct worker *w, struct message *msg, const char **why_r);
void proc_penpals(struct worker *w, struct message *msg, struct decide_facts *f);
void proc_already_delivered(struct worker *w, struct message *msg, const char *digest);
void proc_record(struct worker *w, struct message *msg, const char *digest, const size_t *idx, size_t n,
    unsigned char *recorded);
void proc_state_after(struct proc_ctx *c, unsigned ccat);

/* process_explain.c: each a no-op unless w->explain is set */
void proc_note(struct worker *w, struct message *msg, const char *text);
void proc_explain_begin(struct worker *w, struct message *msg);
void proc_explain_banks(struct proc_ctx *c);
void proc_explain_route(struct proc_ctx *c, size_t i, const struct route_why *why, const struct tls_policy *tls);
void proc_explain_delivery(struct worker *w, struct message *msg, const struct proc_group *g,
    const struct hdr_edit *edits, size_t nedits);
void proc_explain_facts(struct worker *w, struct message *msg, const struct decide_facts *f);
void proc_explain_destinies(struct worker *w, struct message *msg, const struct decide_result *res);
void proc_explain_outcome(struct worker *w, struct message *msg);

#endif
