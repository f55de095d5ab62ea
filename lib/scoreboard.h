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
 */
#ifndef TG_SCOREBOARD_H
#define TG_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

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

struct scoreboard {
	int nslots;
	struct sb_slot slot[];
};

/* scoreboard_create - shared table of n slots (fatal on failure) */
struct scoreboard *scoreboard_create(int n);
/* scoreboard_set - a worker's state change (updates since) */
void scoreboard_set(struct scoreboard *sb, int slot, enum sb_state st, const char *queue_id);
const char *scoreboard_state_name(int state);

#endif
