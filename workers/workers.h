/*
 * workers.h - the worker side: one process serving one connection at a
 * time (SMTP or LMTP in, or milter or AM.PDP before the queue),
 * processing each message to its end, and only then answering the
 * client.
 *
 * The master (daemon/) builds a struct worker_env before forking and
 * calls worker_main() in the child; the child never returns from it.
 * Inside the worker:
 *   worker.c     the loop: accept a session, serve it, report, count,
 *                leave after max_requests, on master death or on drain
 *   listener.c   the listener spec ("lmtp:ADDR:PORT", ...)
 *   smtpd.c      the SMTP/LMTP server state machine for one session
 *   smtp_cmd.c   the pure command-line parser (unit-tested, fuzzed)
 *   milter.c     a milter session (milter_proto.c: its packets)
 *   ampdp.c      an AM.PDP session (ampdp_proto.c: its requests)
 *   process.c    one received message in named steps: scanners,
 *                policy, decision, quarantine, notices, replies, the
 *                amavisd-shape log line (process_private.h); delivery
 *                in process_deliver.c, the Redis steps in
 *                process_state.c, the dry run's record in
 *                process_explain.c
 *
 * Ownership: env and everything it points to belong to the master's
 * image (copied into the child by fork) and are read-only here. A
 * struct worker is the child's own state and lives until it exits.
 */
#ifndef TG_WORKERS_H
#define TG_WORKERS_H

#include <stddef.h>
#include <time.h>

#include "lib/cfg.h"
#include "lib/message.h"
#include "lib/scoreboard.h"

struct ssl_ctx_st;
struct conn;
struct deliver_cache;
struct clamav_engine;
struct policy;
struct banks;

enum listener_proto { LISTEN_SMTP, LISTEN_LMTP, LISTEN_MILTER, LISTEN_AMPDP };

struct listener {
	int fd;
	enum listener_proto proto;
	char spec[300];			/* as configured, e.g. "lmtp:127.0.0.1:10024" */
};

/* listener_parse - "lmtp:ADDR:PORT", "smtp:[V6]:PORT", "lmtp:unix:PATH";
 * fills proto and spec (fd = -1) and the endpoint to bind */
struct endpoint;
int listener_parse(const char *spec, struct listener *l, struct endpoint *ep, const char **error_r);

struct worker_env {
	const struct cfg *cfg;
	struct listener *listeners;
	int nlisteners;
	struct scoreboard *sb;
	int slot;
	int master_fd;			/* read end of the master-alive pipe: EOF = master gone */
	unsigned generation;
	struct ssl_ctx_st *tls_server;	/* NULL: no STARTTLS offered */
	const char *myhostname;
	const char *mydomain;
	struct clamav_engine *clamav;	/* NULL: virus scanning off */
	const struct policy *policy;	/* content policy of this configuration */
	struct banks *banks;		/* policy banks of this configuration */
	const char *tmp_dir;		/* this worker's private spool directory (made by the master) */
};

/*
 * A dry run (tollgate explain): with worker.explain set, process.c takes
 * every decision as it does for real and, instead of acting, records
 * here what it would do. Nothing is delivered, quarantined, sent
 * (DSN, admin notice), counted (scoreboard, Redis counters) or written
 * to Redis; lookups without side effects run as usual. A passed
 * recipient's reply is the downstream's acknowledgement assumed:
 * "250 2.0.0 from MTA(<method>): 250 2.0.0 Ok: queued as ...".
 * Everything lives in the message's arena.
 */
#define EXPLAIN_NOTES_MAX 16

struct explain_rcpt {
	const char *ccat;		/* this recipient's content category ("Virus", "Clean") */
	const char *destiny;		/* "PASS", "DISCARD", "BOUNCE", "REJECT", "TEMPFAIL" */
	const char *destiny_by;		/* the setting or map that made it, e.g. "final_virus_destiny = discard" */
	const char *method;		/* forward method of its delivery, NULL: not forwarded */
	const char *method_by;		/* "forward_method_maps", ... (routing/route.h struct route_why) */
	const char *method_key;		/* key that matched, NULL for a setting */
	const char *dunno;		/* a DUNNO passed over on the way, or NULL */
	const char *tls;		/* TLS level required of that delivery */
	const char *tls_by;
	const char **headers;		/* header edits: "Name: value", "Subject: TAG..." (prefix),
					 * "-Name" (removed) */
	size_t nheaders;
};

struct proc_explain {
	const char *banks;		/* policy bank path, "" none */
	const char *banks_why;		/* what chose each bank (policy/banks.h) */
	int mynets, originating;
	const char *clamav;		/* "CLEAN", "INFECTED: N1, N2", "UNCHECKED: why", "off" */
	const char *banned;		/* banned reason, NULL: nothing banned */
	const char *bad_header;		/* first bad-header finding, NULL: none */
	const char *spam;		/* "5.300 (TESTS)", "unscored", "off" */
	const char *category;		/* message's main or blocking category */
	const char *quarantine;		/* "DIR/virus-MAILID", NULL: not quarantined */
	const char *dsn;		/* "<rcpts> via notify_method", NULL: none */
	const char *admin_notice;	/* "to ADDR", NULL: none */
	const char *log_line;		/* the info line the worker would log */
	const char *notes[EXPLAIN_NOTES_MAX];	/* facts not consulted (Redis) and the like */
	size_t nnotes;
	struct explain_rcpt *rcpts;	/* one per msg->rcpts[], same order */
	size_t nrcpts;
};

struct worker {
	const struct worker_env *env;
	const struct cfg *cfg;
	struct deliver_cache *dcache;	/* cached re-injection connections */
	const struct policy *policy;	/* of the banks chosen for this message */
	unsigned long sessions;		/* sessions served, for am_id "PID-NN" */
	unsigned long messages;		/* messages served */
	volatile int draining;		/* set by SIGTERM: finish this session, exit */
	pid_t pid;			/* getpid() once: workers never fork */
	char client_addr[64];		/* peer of the session, from accept() ("" unix) */
	char client_port[16];
	struct proc_explain *explain;	/* non-NULL: dry run, record instead of acting */
};

/* worker_main - the child's whole life; never returns */
void worker_main(const struct worker_env *env) __attribute__((noreturn));

/* worker_set_state - scoreboard slot and process title, e.g.
 * "tollgated: worker scanning 4ABC123" */
void worker_set_state(struct worker *w, enum sb_state st, const char *queue_id);

/* milter_session - serve one milter connection (workers/milter.c) */
void milter_session(struct worker *w, int fd, const struct listener *l);
/* ampdp_session - serve one AM.PDP connection (workers/ampdp.c) */
void ampdp_session(struct worker *w, int fd, const struct listener *l);

/* smtpd_session - serve one accepted connection until QUIT, EOF,
 * timeout or a fatal protocol error; closes fd */
void smtpd_session(struct worker *w, int fd, const struct listener *l);

/* process_message - called by smtpd_session once a message is fully
 * received (spool finished, msg->rcpts accepted). On return every
 * msg->rcpts[i].code and .reply is set: what this recipient's LMTP reply
 * is, and from which the single SMTP reply is derived
 * (reply_one_for_all in routing/). Never acknowledges anything that is
 * not safely downstream: every failure of ours is a 4xx. */
void process_message(struct worker *w, struct message *msg);

/*
 * Before the queue (milter, AM.PDP): the same scan and decision, but the
 * client MTA keeps the message. process_milter() fills a verdict:
 *   ACCEPT    with header edits for the message as accepted, and the
 *             recipients to remove from it (SMFIR_DELRCPT): those that
 *             were blocked (discarded, or bounced/rejected with a DSN
 *             from us) and those whose copy needed other headers and
 *             was delivered here through forward_method, with the usual
 *             data-done safety, before this returns;
 *   REJECT    every recipient's destiny is reject (reply is the 5xx);
 *   DISCARD   every recipient was discarded (or blocked with a DSN);
 *   TEMPFAIL  something of ours failed, or a recipient is to be
 *             tempfailed: the client answers 4xx and keeps nothing.
 * There is no per-recipient routing before the queue except for those
 * personalised copies: the accepted message goes where the MTA sends it.
 */
enum milter_action { MV_ACCEPT, MV_REJECT, MV_TEMPFAIL, MV_DISCARD };

struct hdr_edit;

struct milter_verdict {
	enum milter_action action;
	const char *reply;		/* REJECT/TEMPFAIL: "554 5.7.0 ...", else NULL */
	const struct hdr_edit *edits;	/* ACCEPT: edits to apply (policy/decide.h) */
	size_t nedits;
	const char **delrcpt;		/* ACCEPT: recipients to remove */
	size_t ndelrcpt;
	const char *quarantine_id;	/* quarantined under this id, or NULL */
	const char *log_verdict;	/* "CLEAN", "INFECTED (...)" for the caller's log */
};

/* process_milter - scan and decide msg for a before-queue client; msg
 * is built by the milter or AM.PDP session as for the LMTP path */
void process_milter(struct worker *w, struct message *msg, struct milter_verdict *v);

#endif
