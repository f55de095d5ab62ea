/*
 * quarantine.h - where a quarantined message is kept: the file store
 * (quarantine_dir, one file per message and quarantine_dir/index; see
 * quarantine_write() in decide.h) or, with quarantine_store = redis, the
 * shared Redis (state/state.h, P{q:MAIL_ID}:msg), so that every host
 * sharing state_redis_server can release it. With state_redis_server
 * set, every quarantined message is also indexed in Redis with the host
 * that stored it, whichever the store.
 *
 * quarantine_store = redis keeps a message in the file store instead
 * when it is larger than quarantine_redis_max_size or when Redis cannot
 * take it (it is then released on this host only); both are logged.
 */
#ifndef TG_POLICY_QUARANTINE_H
#define TG_POLICY_QUARANTINE_H

#include <stddef.h>

#include "lib/cfg.h"
#include "lib/message.h"
#include "policy/decide.h"

struct policy;

#define QUARANTINE_REDIS_LOCATION "redis"	/* location of a Redis-stored message */

/* quarantine_check - the quarantine settings of cfg make sense
 * (quarantine_store is file or redis; redis needs state_redis_server);
 * 0, or -1 with *error_r (static text) */
int quarantine_check(const struct cfg *cfg, const char **error_r);

/*
 * quarantine_store - quarantine prepend + data (CR LF lines) of msg
 * under category major as cfg's quarantine_store says, and index it in
 * Redis when pol->state is set. 0 with *ref_r (the path of a file, or
 * "redis" as path), or -1 with *error_r when the message could be kept
 * nowhere (the caller tempfails it). A failed Redis index is logged,
 * not returned: the message is safe in its file.
 */
int quarantine_store(struct message *msg, const struct policy *pol, const struct cfg *cfg, unsigned major,
    const char *prepend, size_t prepend_len, const char *data, size_t len, struct quarantine_ref *ref_r,
    const char **error_r);

#endif
