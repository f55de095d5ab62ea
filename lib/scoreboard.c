/*
 * scoreboard.c - shared worker table and message counters (see
 * scoreboard.h). Counters are updated with relaxed atomic additions:
 * they are statistics, no other memory is ordered by them.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include "lib/log.h"
#include "lib/scoreboard.h"

/* scoreboard_create - the shared mapping of n slots and the counters */
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

/* scoreboard_set - a worker's new state in its own slot */
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

/* scoreboard_state_name - "idle", "scanning", ... for status */
const char *scoreboard_state_name(int state)
{
	static const char *names[] = { "empty", "starting", "idle", "session", "receiving", "scanning",
		"forwarding", "exiting" };

	return state >= 0 && state <= SB_EXITING ? names[state] : "?";
}

/* histogram bounds: 1 ms .. 60 s, then +Inf */
const uint64_t sb_bucket_usec[SB_BUCKETS] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000
};

/* scoreboard_count - one finished message (see scoreboard.h) */
void scoreboard_count(struct scoreboard *sb, int slot, unsigned category, enum sb_action action,
    uint64_t bytes)
{
	struct sb_counters *c = &sb->counters;

	if (category >= CC_MAJORS)
		category = 0;
	if ((unsigned)action >= SB_ACTIONS)
		action = SB_TEMPFAILED;
	__atomic_fetch_add(&c->messages[category][action], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->bytes, bytes, __ATOMIC_RELAXED);
	if (slot >= 0 && slot < sb->nslots)
		sb->slot[slot].served++;	/* only this worker writes its slot */
}

static struct scoreboard *sb_attached;	/* this worker's, for scoreboard_event */

/* scoreboard_attach - the scoreboard scoreboard_event counts into */
void scoreboard_attach(struct scoreboard *sb)
{
	sb_attached = sb;
}

/* scoreboard_event - one failure of kind ev (see scoreboard.h) */
void scoreboard_event(enum sb_event ev)
{
	if (sb_attached == NULL || (unsigned)ev >= SB_EVENTS)
		return;
	__atomic_fetch_add(&sb_attached->counters.events[ev], 1, __ATOMIC_RELAXED);
}

/* scoreboard_event_name - the metrics label of an event kind */
const char *scoreboard_event_name(int ev)
{
	static const char *const names[SB_EVENTS] = { "scanner_failure", "redis_error" };

	return ev >= 0 && ev < SB_EVENTS ? names[ev] : "unknown";
}

/* scoreboard_observe - one stage duration into its histogram */
void scoreboard_observe(struct scoreboard *sb, int slot, enum sb_stage stage, uint64_t usec)
{
	struct sb_counters *c = &sb->counters;
	int b;

	(void)slot;
	if ((unsigned)stage >= SB_STAGES)
		return;
	for (b = 0; b < SB_BUCKETS && usec > sb_bucket_usec[b]; b++)
		;
	__atomic_fetch_add(&c->stage_bucket[stage][b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->stage_sum_usec[stage], usec, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->stage_count[stage], 1, __ATOMIC_RELAXED);
}

/* scoreboard_usec_since - microseconds since t0 (CLOCK_MONOTONIC) */
uint64_t scoreboard_usec_since(const struct timespec *t0)
{
	struct timespec now;
	long long us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (long long)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_nsec - t0->tv_nsec) / 1000;
	return us < 0 ? 0 : (uint64_t)us;
}

/* scoreboard_read - copy the counters word by word */
void scoreboard_read(const struct scoreboard *sb, struct sb_counters *out)
{
	const uint64_t *src = (const uint64_t *)&sb->counters;
	uint64_t *dst = (uint64_t *)out;
	size_t i;

	for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* scoreboard_action_name - the stats and metrics label of an action */
const char *scoreboard_action_name(int action)
{
	static const char *names[SB_ACTIONS] = { "passed", "blocked", "tempfailed" };

	return action >= 0 && action < SB_ACTIONS ? names[action] : "?";
}

/* scoreboard_stage_name - the metrics label of a stage */
const char *scoreboard_stage_name(int stage)
{
	static const char *names[SB_STAGES] = { "receive", "scan", "forward" };

	return stage >= 0 && stage < SB_STAGES ? names[stage] : "?";
}
