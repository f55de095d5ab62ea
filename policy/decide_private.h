/*
 * decide_private.h - what the pieces of the destiny decision share
 * (decide.c, decide_reply.c, decide_edits.c, decide_log.c, notify.c).
 * Not for use outside policy/: the interface is policy/decide.h.
 */
#ifndef TG_POLICY_DECIDE_PRIVATE_H
#define TG_POLICY_DECIDE_PRIVATE_H

#include <math.h>

#include "lib/mem.h"
#include "policy/decide.h"

/* decide_level_set - is a spam level set (not DECIDE_LEVEL_UNSET)? */
static inline int decide_level_set(double v)
{
	return !isnan(v);
}

/* decide_msg_ccat - the ccat a message-level text is about: the highest
 * blocking one when some recipient is blocked, else the main one */
static inline unsigned decide_msg_ccat(const struct decide_result *res)
{
	return res->blocked ? res->blocking_ccat : res->ccat[0];
}

/* decide_status - the status line of a blocked recipient, as
 * decide_recipients() sets it (decide.h), in the arena (decide_reply.c) */
const char *decide_status(struct arena *a, const char *am_id, const struct decide_facts *f,
    unsigned blocking_ccat, enum destiny d, int soft_bounce);

/* decide_virus_list - the virus names joined by ", ", printable, at
 * most 300 bytes (amavisd's %V); "" when f is NULL (decide_reply.c) */
const char *decide_virus_list(struct arena *a, const struct decide_facts *f);

/* decide_fold_field - "Name: value" CRLF into b, folded at spaces past
 * column 78, runs of spaces made one, a word over 900 bytes cut by a
 * fold; an empty value gives "Name: " (decide_edits.c) */
void decide_fold_field(struct buf *b, const char *name, const char *value);

#endif
