/*
 * spool.h - where a message's content waits while it is scanned and
 * forwarded: memory up to a bound, then a file in tmp_dir.
 *
 * Life cycle: spool_create() in the message arena → spool_write() any
 * number of times → spool_finish() → spool_data() for a read-only view
 * of the whole content (memory or mmap). The arena cleanup closes,
 * unmaps and unlinks; nothing survives the message.
 *
 * spool_write() returns -1 (and keeps failing) once a write to the file
 * failed, e.g. on a full disk: the message must then be tempfailed.
 */
#ifndef TG_SPOOL_H
#define TG_SPOOL_H

#include <stddef.h>

struct arena;
struct spool;

struct spool *spool_create(struct arena *a, const char *tmp_dir, size_t mem_limit);
int spool_write(struct spool *s, const void *data, size_t len);
int spool_finish(struct spool *s);
/* spool_data - the content after spool_finish(), NULL on error */
const char *spool_data(struct spool *s, size_t *len_r);
size_t spool_size(const struct spool *s);
/* spool_error - text of the first failure */
const char *spool_error(const struct spool *s);

#endif
