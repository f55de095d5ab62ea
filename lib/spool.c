/*
 * spool.c - memory-then-file message spool (see spool.h).
 * The file is created with mkstemp (0600) and unlinked by the arena
 * cleanup; the data view of a file spool is a read-only private mmap.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fdio.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/spool.h"

struct spool {
	struct buf mem;
	size_t mem_limit;
	const char *tmp_dir;
	char *path;
	int fd;
	size_t size;
	void *map;
	int failed;
	char err[160];
};

static void spool_cleanup(void *ctx)
{
	struct spool *s = ctx;

	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->size);
	if (s->fd >= 0)
		close(s->fd);
	if (s->path)
		(void)unlink(s->path);
	free(s->path);
	buf_free(&s->mem);
}

struct spool *spool_create(struct arena *a, const char *tmp_dir, size_t mem_limit)
{
	struct spool *s = arena_alloc(a, sizeof(*s));

	buf_init(&s->mem);
	s->mem_limit = mem_limit;
	s->tmp_dir = arena_strdup(a, tmp_dir);
	s->fd = -1;
	arena_add_cleanup(a, spool_cleanup, s);
	return s;
}

static int spool_fail(struct spool *s, const char *what)
{
	if (!s->failed)
		snprintf(s->err, sizeof(s->err), "%s %s: %s", what, s->path ? s->path : s->tmp_dir,
		    strerror(errno));
	s->failed = 1;
	return -1;
}

/* spool_to_file - move what is in memory to a new file in tmp_dir */
static int spool_to_file(struct spool *s)
{
	s->path = xasprintf("%s/tollgate-XXXXXX", s->tmp_dir);
	if ((s->fd = mkstemp(s->path)) < 0) {
		int e = errno;

		free(s->path);
		s->path = NULL;
		errno = e;
		return spool_fail(s, "cannot create spool file in");
	}
	(void)fcntl(s->fd, F_SETFD, FD_CLOEXEC);
	if (fd_write_all(s->fd, s->mem.data, s->mem.len) < 0)
		return spool_fail(s, "cannot write");
	buf_free(&s->mem);
	return 0;
}

int spool_write(struct spool *s, const void *data, size_t len)
{
	if (s->failed)
		return -1;
	s->size += len;
	if (s->fd < 0 && s->mem.len + len <= s->mem_limit) {
		buf_append(&s->mem, data, len);
		return 0;
	}
	if (s->fd < 0 && spool_to_file(s) < 0)
		return -1;
	if (fd_write_all(s->fd, data, len) < 0)
		return spool_fail(s, "cannot write");
	return 0;
}

int spool_finish(struct spool *s)
{
	if (s->failed)
		return -1;
	if (s->fd >= 0 && s->size > 0) {
		/* a full disk can surface only at close time on some file systems */
		if (fdatasync(s->fd) < 0 && errno != EINVAL)
			return spool_fail(s, "cannot sync");
		s->map = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, s->fd, 0);
		if (s->map == MAP_FAILED) {
			s->map = NULL;
			return spool_fail(s, "cannot map");
		}
	}
	return 0;
}

const char *spool_data(struct spool *s, size_t *len_r)
{
	*len_r = s->size;
	if (s->failed)
		return NULL;
	if (s->fd >= 0)
		return s->map ? s->map : "";
	return s->mem.data ? s->mem.data : "";
}

size_t spool_size(const struct spool *s)
{
	return s->size;
}

const char *spool_error(const struct spool *s)
{
	return s->err[0] ? s->err : "no error";
}
