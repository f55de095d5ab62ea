/*
 * scoreboard.h - shared-memory table of the workers, one slot each.
 *
 * The master creates it before forking (anonymous shared mapping), so
 * every worker and the master see the same slots. A worker writes only
 * its own slot; the master reads all slots (to kill a worker stuck past
 * child_timeout, and for status) and clears a slot when its worker is
 * reaped. Fields are plain words written by one process and read by
 * another; a torn read of a status display is harmless, and the fields
 * the master acts on (pid, state, since) are each one aligned word.
 *
 * Counters (struct sb_counters) outlive the workers: every worker adds
 * to them with atomic additions, the master only reads them (control
 * socket "stats", the metrics endpoint). They are never reset while the
 * master runs, so they are monotonic as Prometheus expects. Messages
 * are counted by the major content category of lib/category.h (a worker
 * passes CCAT_MAJOR(ccat)); category_label() names them.
 */
#ifndef TG_SCOREBOARD_H
#define TG_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/category.h"

enum sb_state {
	SB_EMPTY = 0,
	SB_STARTING,
	SB_IDLE,		/* waiting for a connection */
	SB_SESSION,		/* connected, between messages */
	SB_RECEIVING,
	SB_SCANNING,
	SB_FORWARDING,
	SB_EXITING,
};

struct sb_slot {
	volatile pid_t pid;
	volatile int state;		/* enum sb_state */
	volatile time_t since;		/* when state was entered */
	volatile time_t task_since;	/* when the current message began (RECEIVING), 0 if none */
	volatile unsigned long served;	/* messages served by this worker */
	volatile unsigned generation;	/* config generation it was started with */
	char queue_id[32];		/* Postfix queue id (XFORWARD IDENT) or our am_id */
};

/* what happened to a counted message */
enum sb_action {
	SB_PASSED = 0,			/* every recipient passed (relayed) */
	SB_BLOCKED,			/* some recipient was blocked (discard, bounce, reject) */
	SB_TEMPFAILED,			/* a 4xx of ours or downstream: Postfix keeps it */
	SB_ACTIONS
};
/* the timed stages of a message */
enum sb_stage {
	SB_STAGE_RECEIVE = 0,		/* DATA/BDAT start to the end of the message */
	SB_STAGE_SCAN,			/* parse, scan, decide */
	SB_STAGE_FORWARD,		/* re-injection until downstream answered */
	SB_STAGES
};
/* histogram bucket upper bounds, microseconds; one more bucket is +Inf */
#define SB_BUCKETS 14
extern const uint64_t sb_bucket_usec[SB_BUCKETS];

/* failures counted apart from the messages they happened to */
enum sb_event {
	SB_EV_SCANNER_FAILURE = 0,	/* a virus scan that could not complete (message tempfailed) */
	SB_EV_REDIS_ERROR,		/* a shared-state (Redis) request that failed */
	SB_EVENTS
};

struct sb_counters {
	uint64_t messages[CC_MAJORS][SB_ACTIONS];	/* by CCAT_MAJOR */
	uint64_t events[SB_EVENTS];
	uint64_t bytes;			/* message bytes received (counted messages) */
	uint64_t stage_bucket[SB_STAGES][SB_BUCKETS + 1];	/* not cumulative; last: +Inf */
	uint64_t stage_sum_usec[SB_STAGES];
	uint64_t stage_count[SB_STAGES];
};

struct scoreboard {
	int nslots;
	struct sb_counters counters;
	struct sb_slot slot[];
};

/* scoreboard_create - shared table of n slots (fatal on failure) */
struct scoreboard *scoreboard_create(int n);
/* scoreboard_set - a worker's state change (updates since) */
void scoreboard_set(struct scoreboard *sb, int slot, enum sb_state st, const char *queue_id);
const char *scoreboard_state_name(int state);

/* scoreboard_count - a worker counts one finished message: category is
 * CCAT_MAJOR of its main (or blocking) content category, action what
 * became of it, bytes its size. Also bumps the slot's "served". Values
 * out of range are counted as category 0 (other) / SB_TEMPFAILED. */
void scoreboard_count(struct scoreboard *sb, int slot, unsigned category, enum sb_action action,
    uint64_t bytes);
/* scoreboard_observe - a worker reports how long one stage of a message
 * took, in microseconds (histogram) */
void scoreboard_observe(struct scoreboard *sb, int slot, enum sb_stage stage, uint64_t usec);
/* scoreboard_attach - in a worker: the scoreboard scoreboard_event()
 * counts into (set once after fork, before any message) */
void scoreboard_attach(struct scoreboard *sb);

/* scoreboard_event - count one failure of kind ev; a no-op in a process
 * that did not attach (the tools, unit tests) */
void scoreboard_event(enum sb_event ev);

/* scoreboard_event_name - "scanner_failure", "redis_error" */
const char *scoreboard_event_name(int ev);

/* scoreboard_usec_since - microseconds from t0 (CLOCK_MONOTONIC) to now */
uint64_t scoreboard_usec_since(const struct timespec *t0);
/* scoreboard_read - a consistent-enough copy of the counters (each word
 * read atomically; the set is not a snapshot) */
void scoreboard_read(const struct scoreboard *sb, struct sb_counters *out);
/* names for display and metrics labels: "passed", "scan" (categories:
 * category_label(), lib/category.h) */
const char *scoreboard_action_name(int action);
const char *scoreboard_stage_name(int stage);

#endif
