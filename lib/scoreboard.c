/*
 * scoreboard.c - shared worker table (see scoreboard.h).
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include "lib/log.h"
#include "lib/scoreboard.h"

struct scoreboard *scoreboard_create(int n)
{
	size_t size = sizeof(struct scoreboard) + (size_t)n * sizeof(struct sb_slot);
	struct scoreboard *sb;

	sb = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		log_fatal("cannot create scoreboard of %d slots: %m", n);
	memset(sb, 0, size);
	sb->nslots = n;
	return sb;
}

void scoreboard_set(struct scoreboard *sb, int slot, enum sb_state st, const char *queue_id)
{
	struct sb_slot *s = &sb->slot[slot];

	time_t now = time(NULL);

	s->state = st;
	s->since = now;
	/* child_timeout runs per message: from the start of its data to the reply */
	if (st == SB_RECEIVING)
		s->task_since = now;
	else if (st == SB_IDLE || st == SB_SESSION)
		s->task_since = 0;
	if (queue_id)
		strlcpy(s->queue_id, queue_id, sizeof(s->queue_id));
	else if (st == SB_IDLE)
		s->queue_id[0] = 0;
}

const char *scoreboard_state_name(int state)
{
	static const char *names[] = { "empty", "starting", "idle", "session", "receiving", "scanning",
		"forwarding", "exiting" };

	return state >= 0 && state <= SB_EXITING ? names[state] : "?";
}
