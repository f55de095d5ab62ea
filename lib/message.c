/*
 * message.c - helpers on struct message: recipients, ids, header lookup.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/message.h"

struct rcpt *message_add_rcpt(struct message *msg, const char *addr)
{
	struct rcpt *r;

	if (msg->nrcpts == msg->rcpt_cap) {
		size_t cap = msg->rcpt_cap ? msg->rcpt_cap * 2 : 8;
		struct rcpt *n = arena_allocarray(msg->arena, cap, sizeof(*n));

		if (msg->nrcpts)
			memcpy(n, msg->rcpts, msg->nrcpts * sizeof(*n));
		msg->rcpts = n;
		msg->rcpt_cap = cap;
	}
	r = &msg->rcpts[msg->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = arena_strdup(msg->arena, addr);
	return r;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* random_id - nchars of base64url from rnd (one byte each) */
static void random_id(char *out, size_t nchars, const unsigned char *rnd)
{
	size_t i;

	for (i = 0; i < nchars; i++)
		out[i] = b64url[rnd[i] & 63];
	out[nchars] = 0;
}

/* random_alnum - one of the 62 letters and digits: the first byte of rnd
 * below 248 (= 4 * 62, so no bias), else a fresh draw */
static char random_alnum(const unsigned char *rnd, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rnd[i] < 248)
			return b64url[rnd[i] % 62];
	return b64url[arc4random_uniform(62)];
}

/* message_new_ids - fresh ids; a mail_id starts and ends with a letter or
 * digit, as amavisd's do (amavisd-release splits quarantine file names
 * on '-' and relies on it). All the randomness in one arc4random_buf():
 * libbsd's arc4random checks for a fork (getpid()) on every call. */
void message_new_ids(struct message *msg)
{
	unsigned char rnd[12 + 12 + 2 * 4];

	arc4random_buf(rnd, sizeof(rnd));
	random_id(msg->mail_id, 12, rnd);
	random_id(msg->secret_id, 12, rnd + 12);
	msg->mail_id[0] = random_alnum(rnd + 24, 4);
	msg->mail_id[11] = random_alnum(rnd + 28, 4);
}

const char *message_header(struct message *msg, const char *name)
{
	size_t len, nlen = strlen(name);
	const char *data = msg->spool ? spool_data(msg->spool, &len) : NULL;
	const char *p, *end;

	if (data == NULL)
		return NULL;
	end = data + len;
	for (p = data; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t llen = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (llen == 0 || (llen == 1 && p[0] == '\r'))
			return NULL;	/* end of the header section */
		if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			struct buf v = BUF_INIT;
			const char *q = p + nlen + 1;
			char *out;

			for (;;) {
				const char *le = eol ? eol : end;

				if (le > q && le[-1] == '\r')
					le--;
				buf_append(&v, q, (size_t)(le - q));
				if (!eol || eol + 1 >= end || (eol[1] != ' ' && eol[1] != '\t'))
					break;
				q = eol + 1;
				eol = memchr(q, '\n', (size_t)(end - q));
			}
			{
				char *s = v.data ? v.data : "";

				while (*s == ' ' || *s == '\t')
					s++;
				out = arena_strdup(msg->arena, s);
			}
			buf_free(&v);
			return out;
		}
		p = eol ? eol + 1 : end;
	}
	return NULL;
}

/* message_date - "Sat, 21 Nov 2026 16:19:55 +0000 (UTC)", locale-independent */
void message_date(char *out, size_t outsz, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
		"Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(out, outsz, "%s, %02d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    sign, off / 3600, (off % 3600) / 60, tm.tm_zone ? tm.tm_zone : "UTC");
}
