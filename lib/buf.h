/*
 * buf.h - growable byte buffer, always NUL-terminated past len.
 *
 * A struct buf is owned by whoever embeds it; buf_free() releases the
 * storage. Growth is geometric; sizes that would overflow are a panic.
 */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
/* buf_reserve - make room for extra more bytes (plus the NUL) */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
