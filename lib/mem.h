/*
 * mem.h - allocation wrappers and the per-message arena.
 *
 * x*() allocators never return NULL: on out-of-memory or an overflowing
 * size they log a fatal error and exit, and the master replaces the worker.
 *
 * The arena is the owner of everything that lives for one message or one
 * session: create it when the session starts, allocate from it freely,
 * register cleanups for non-memory resources (files, fds), and
 * arena_reset() between messages or arena_free() at the end. Nothing
 * allocated from an arena may be free()d on its own.
 */
#ifndef TG_MEM_H
#define TG_MEM_H

#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct arena;

/* arena_create - new arena whose blocks are at least chunk bytes (0: 16 KiB) */
struct arena *arena_create(size_t chunk);
/* arena_alloc - size bytes, aligned for any type, zero-filled */
void *arena_alloc(struct arena *a, size_t size);
void *arena_allocarray(struct arena *a, size_t nmemb, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* arena_printable - a copy of at most max bytes of s (NULL: "") made
 * printable ASCII, for text the peer or a message controls: tab → ' ',
 * other control and 8-bit bytes → '?' */
char *arena_printable(struct arena *a, const char *s, size_t max);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);
/* arena_add_cleanup - run fn(ctx) at reset/free, last registered first */
void arena_add_cleanup(struct arena *a, void (*fn)(void *), void *ctx);
/* arena_reset - run cleanups, drop all allocations, keep the first block */
void arena_reset(struct arena *a);
/* arena_free - reset, release every block, set *ap to NULL */
void arena_free(struct arena **ap);

#endif
