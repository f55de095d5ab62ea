/*
 * mem.c - allocation wrappers (fatal on out-of-memory) and a bump-pointer
 * arena for per-message data. The arena keeps its first block across
 * resets, so a worker serving small messages does no malloc per message
 * once warm. Large requests get a block of their own.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_CHUNK (16 * 1024)

/* oom - the one way out when memory runs out */
static void oom(size_t size)
{
	log_fatal("out of memory allocating %zu bytes", size);
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		log_panic("xreallocarray: size overflow (%zu x %zu)", nmemb, size);
	p = realloc(ptr, (nmemb * size) != 0 ? nmemb * size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p;

	n = strnlen(s, n);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	va_end(ap);
	return s;
}

struct arena_block {
	struct arena_block *next;
	size_t size;		/* usable bytes after the header */
	size_t used;
	/* data follows, aligned */
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *ctx;
};

struct arena {
	struct arena_block *head;	/* current block; list runs to the first */
	struct arena_block *first;	/* kept across resets */
	struct arena_cleanup *cleanups;
	size_t chunk;
};

#define BLOCK_HDR ((sizeof(struct arena_block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b;

	if (size > SIZE_MAX - BLOCK_HDR)
		log_panic("arena: size overflow");
	b = xmalloc(BLOCK_HDR + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct arena *arena_create(size_t chunk)
{
	struct arena *a = xcalloc(1, sizeof(*a));

	a->chunk = chunk ? chunk : ARENA_DEFAULT_CHUNK;
	a->first = a->head = block_new(a->chunk);
	return a;
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need;
	char *p;

	if (size > SIZE_MAX - ARENA_ALIGN)
		log_panic("arena_alloc: size overflow");
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (b->size - b->used < need) {
		b = block_new(need > a->chunk ? need : a->chunk);
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b + BLOCK_HDR + b->used;
	b->used += need;
	memset(p, 0, size);
	return p;
}

void *arena_allocarray(struct arena *a, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		log_panic("arena_allocarray: size overflow (%zu x %zu)", nmemb, size);
	return arena_alloc(a, nmemb * size);
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	n = strnlen(s, n);
	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

/* arena_printable - at most max bytes of s as printable ASCII: a tab
 * becomes a space, any other control or non-ASCII byte '?' */
char *arena_printable(struct arena *a, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;
	char *out;

	if (n > max)
		n = max;
	out = arena_strndup(a, s ? s : "", n);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			out[i] = out[i] == '\t' ? ' ' : '?';
	return out;
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		log_panic("arena_vprintf: bad format");
	p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

void arena_add_cleanup(struct arena *a, void (*fn)(void *), void *ctx)
{
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

	c->fn = fn;
	c->ctx = ctx;
	c->next = a->cleanups;
	a->cleanups = c;
}

void arena_reset(struct arena *a)
{
	struct arena_block *b, *next;

	/* cleanups live in the arena: unlink each before running it */
	while (a->cleanups) {
		struct arena_cleanup *c = a->cleanups;

		a->cleanups = c->next;
		c->fn(c->ctx);
	}
	for (b = a->head; b != a->first; b = next) {
		next = b->next;
		free(b);
	}
	a->head = a->first;
	a->first->used = 0;
	a->first->next = NULL;
}

void arena_free(struct arena **ap)
{
	struct arena *a = *ap;

	if (a == NULL)
		return;
	arena_reset(a);
	free(a->first);
	free(a);
	*ap = NULL;
}
