/*
 * spam_spamd.c - client of SpamAssassin's spamd (SPAMC/1.5 protocol),
 * plus the exchange and reply-splitting helpers both spam clients share.
 *
 * One request per connection: "HEADERS SPAMC/1.5", Content-length,
 * optional User, blank line, the message; spamd answers
 * "SPAMD/1.1 0 EX_OK", Content-length, "Spam: True ; 1000.0 / 5.0",
 * blank line, the message's rewritten header section, and closes.
 * HEADERS rather than SYMBOLS because only the rewritten X-Spam-Status
 * field carries autolearn; it carries the test names as well.
 *
 * Left out: compression (Compress: zlib), TELL/learning, PING, the
 * Message-class/Set/Remove headers, and SSL to spamd.
 * Limits: the reply is read whole, up to max_size + 64 KiB (the header
 * section of a message we sent, plus SpamAssassin's fields).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "scanners/spam.h"

#define SPAMD_REPLY_SLACK (64 * 1024)	/* reply bytes beyond the message size */
#define SPAMD_REPLY_FLOOR (256 * 1024)	/* smallest reply limit */
#define SPAMD_USER_MAX 256		/* longest User: value sent */
#define SPAM_WRITE_CHUNK 16384		/* bytes per timed write */
#define SPAM_DEFAULT_TIMEOUT 30000

/* now_ms - monotonic clock in milliseconds */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* remaining - milliseconds left before deadline, at least 0 */
static int remaining(long long deadline)
{
	long long left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/* spam_printable - arena copy of at most max bytes, non-printables as '?' */
static char *spam_printable(struct arena *a, const char *s, size_t len, size_t max)
{
	char *out;
	size_t i;

	if (len > max)
		len = max;
	out = arena_alloc(a, len + 1);	/* not strndup: a NUL in s becomes '?' too */
	memcpy(out, s, len);
	for (i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return out;
}

/* find_header_end - offset of the body after "\n\r\n" or "\n\n", or 0 */
static size_t find_header_end(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* parse_length - a decimal Content-length no bigger than max; -1 if not */
static long long parse_length(const char *s, size_t len, size_t max)
{
	unsigned long long v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return -1;
	}
	return (long long)v;
}

/*
 * reply_complete - 1 once the header block and Content-length body are
 * in; 0 for "read more". Scans the raw header block for
 * Content-length (any case) without the full split, so it can run after
 * every read.
 */
static int reply_complete(const char *p, size_t len)
{
	size_t end = find_header_end(p, len), i = 0;

	if (end == 0)
		return 0;
	while (i < end) {
		const char *nl = memchr(p + i, '\n', end - i);
		size_t ll = nl ? (size_t)(nl - (p + i)) : end - i;

		if (ll > 15 && strncasecmp(p + i, "content-length:", 15) == 0) {
			const char *v = p + i + 15;
			size_t vl = ll - 15;
			long long cl;

			while (vl && (*v == ' ' || *v == '\t'))
				v++, vl--;
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			cl = parse_length(v, vl, SIZE_MAX / 2);
			return cl >= 0 && len - end >= (size_t)cl;
		}
		i += ll + 1;
	}
	return 0;	/* no length: read to EOF */
}

/*
 * spam_exchange - one request and its reply within one deadline
 *
 * The deadline covers the connect, every write and every read: each
 * step gets only what is left of timeout_ms, and the message goes out
 * in SPAM_WRITE_CHUNK pieces so that a peer that stops reading cannot
 * hold us past it. A write error does not end the exchange at once:
 * the daemon may have answered with an error before reading all of the
 * message, and that answer is the better reason.
 */
int spam_exchange(const char *addr, const char *head, size_t head_len, const char *body,
		  size_t body_len, int timeout_ms, size_t max_reply, struct arena *a,
		  const char **reply_r, size_t *reply_len_r, const char **error_r)
{
	long long deadline = now_ms() + timeout_ms;
	struct endpoint ep;
	struct conn *c;
	struct buf in = BUF_INIT;
	const char *err;
	const char *write_err = NULL;
	int fd, rc = -1;
	size_t off;

	if (endpoint_parse(addr, &ep, &err) < 0) {
		*error_r = arena_printf(a, "bad address %.100s: %s", addr, err);
		return -1;
	}
	if ((fd = net_connect(&ep, timeout_ms, &err)) < 0) {
		*error_r = arena_strdup(a, err);
		return -1;
	}
	c = conn_create(fd);
	conn_set_timeout(c, remaining(deadline));
	conn_write(c, head, head_len);
	for (off = 0; off < body_len && write_err == NULL; off += SPAM_WRITE_CHUNK) {
		size_t n = body_len - off < SPAM_WRITE_CHUNK ? body_len - off : SPAM_WRITE_CHUNK;

		conn_set_timeout(c, remaining(deadline));
		conn_write(c, body + off, n);
		if (conn_flush(c) < 0)
			write_err = arena_printf(a, "sending: %s", conn_error(c));
	}
	if (write_err == NULL) {
		conn_set_timeout(c, remaining(deadline));
		if (conn_flush(c) < 0)
			write_err = arena_printf(a, "sending: %s", conn_error(c));
	}
	conn_discard_output(c);
	for (;;) {
		ssize_t n;
		int left = remaining(deadline);

		if (left == 0) {
			*error_r = "timeout waiting for the reply";
			goto out;
		}
		conn_set_timeout(c, left);
		buf_reserve(&in, 16384);
		n = conn_read_some(c, in.data + in.len, in.cap - in.len - 1);
		if (n == CONN_EOF)
			break;
		if (n < 0) {
			*error_r = write_err ? write_err : arena_printf(a, "%s", conn_error(c));
			goto out;
		}
		in.len += (size_t)n;
		in.data[in.len] = 0;
		if (in.len > max_reply) {
			*error_r = arena_printf(a, "reply longer than %zu bytes", max_reply);
			goto out;
		}
		if (reply_complete(in.data, in.len))
			break;
	}
	if (in.len == 0) {
		*error_r = write_err ? write_err : "connection closed without a reply";
		goto out;
	}
	*reply_r = arena_strndup(a, in.data, in.len);
	*reply_len_r = in.len;
	rc = 0;
out:
	buf_free(&in);
	conn_free(&c);
	return rc;
}

/* trim - drop leading and trailing blanks (and CR) of s[0..*len) */
static const char *trim(const char *s, size_t *len)
{
	while (*len && (*s == ' ' || *s == '\t'))
		s++, (*len)--;
	while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
		(*len)--;
	return s;
}

/*
 * spam_reply_split - status line, "Name: value" headers, body
 *
 * Lines end in LF or CR LF. A header line without a colon, more than
 * SPAM_REPLY_HEADERS_MAX headers, a line over SPAM_REPLY_LINE_MAX, a
 * missing blank line, or a body shorter than its Content-length is an
 * error; a longer body is cut to Content-length.
 */
int spam_reply_split(const char *p, size_t len, struct arena *a, struct spam_reply *sr,
		     const char **error_r)
{
	size_t i = 0, end;
	int first = 1;
	long long cl = -1;

	memset(sr, 0, sizeof(*sr));
	end = find_header_end(p, len);
	if (end == 0) {
		*error_r = len == 0 ? "empty reply" : "truncated reply (no end of headers)";
		return -1;
	}
	while (i < end) {
		const char *nl = memchr(p + i, '\n', end - i);
		size_t ll = (size_t)(nl - (p + i));
		const char *line = p + i, *colon;

		i += ll + 1;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll > SPAM_REPLY_LINE_MAX) {
			*error_r = "reply line too long";
			return -1;
		}
		line = trim(line, &ll);
		if (first) {
			if (ll == 0) {
				*error_r = "empty status line";
				return -1;
			}
			sr->status = spam_printable(a, line, ll, ll);
			first = 0;
			continue;
		}
		if (ll == 0)
			break;	/* the blank line */
		if (sr->n_headers == SPAM_REPLY_HEADERS_MAX) {
			*error_r = "too many reply headers";
			return -1;
		}
		colon = memchr(line, ':', ll);
		if (colon == NULL || colon == line) {
			*error_r = "reply header without a name";
			return -1;
		}
		{
			size_t nl_len = (size_t)(colon - line), vl = ll - nl_len - 1;
			const char *v = trim(colon + 1, &vl);

			sr->name[sr->n_headers] = spam_printable(a, line, nl_len, nl_len);
			sr->value[sr->n_headers] = spam_printable(a, v, vl, vl);
			if (strcasecmp(sr->name[sr->n_headers], "content-length") == 0) {
				cl = parse_length(v, vl, SIZE_MAX / 2);
				if (cl < 0) {
					*error_r = "bad Content-length in reply";
					return -1;
				}
			}
			sr->n_headers++;
		}
	}
	sr->body = p + end;
	sr->body_len = len - end;
	if (cl >= 0) {
		if (sr->body_len < (size_t)cl) {
			*error_r = "truncated reply (body shorter than Content-length)";
			return -1;
		}
		sr->body_len = (size_t)cl;
	}
	return 0;
}

/* parse_double - a finite decimal number filling all of s[0..len); -1 if not */
static int parse_double(const char *s, size_t len, double *d_r)
{
	char tmp[64], *end;
	size_t i;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	for (i = 0; i < len; i++)
		if (!strchr("0123456789.-+eE", s[i]))
			return -1;
	memcpy(tmp, s, len);
	tmp[len] = 0;
	errno = 0;
	*d_r = strtod(tmp, &end);
	if (*end != 0 || errno == ERANGE || *d_r != *d_r)
		return -1;
	return 0;
}

/* parse_spam_line - "True ; 1000.0 / 5.0" (also Yes/No); -1 if malformed */
static int parse_spam_line(const char *v, struct spam_result *r)
{
	const char *semi = strchr(v, ';'), *slash;
	size_t l;

	if (semi == NULL || (slash = strchr(semi, '/')) == NULL)
		return -1;
	l = (size_t)(semi - v);
	v = trim(v, &l);
	if ((l == 4 && strncasecmp(v, "true", 4) == 0) || (l == 3 && strncasecmp(v, "yes", 3) == 0))
		r->is_spam = 1;
	else if ((l == 5 && strncasecmp(v, "false", 5) == 0) || (l == 2 && strncasecmp(v, "no", 2) == 0))
		r->is_spam = 0;
	else
		return -1;
	{
		const char *s = semi + 1;
		size_t sl = (size_t)(slash - s), rl = strlen(slash + 1);
		const char *rq = trim(slash + 1, &rl);

		s = trim(s, &sl);
		if (parse_double(s, sl, &r->score) < 0 || parse_double(rq, rl, &r->required) < 0)
			return -1;
	}
	return 0;
}

/*
 * status_field - unfolded value of the first X-Spam-Status field in a
 * header section, cut at SPAM_REPLY_LINE_MAX; NULL if there is none.
 * SpamAssassin folds its test list after commas; unfolding drops the
 * line break and the blanks after it, so the list comes back whole.
 */
static char *status_field(const char *h, size_t len, struct arena *a)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(h + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (h + i)) : len - i;

		if (ll >= 14 && strncasecmp(h + i, "x-spam-status:", 14) == 0) {
			struct buf b = BUF_INIT;
			size_t j = i + 14, line_end = i + ll;
			char *out;

			for (;;) {
				for (; j < line_end && b.len < SPAM_REPLY_LINE_MAX; j++)
					if (h[j] != '\r')
						buf_putc(&b, h[j] == '\t' ? ' ' : h[j]);
				/* continuation lines start with a blank */
				if (line_end + 1 >= len || (h[line_end + 1] != ' ' && h[line_end + 1] != '\t'))
					break;
				j = line_end + 1;
				while (j < len && (h[j] == ' ' || h[j] == '\t'))
					j++;
				if (b.len && b.data[b.len - 1] != ',')
					buf_putc(&b, ' ');
				nl = memchr(h + j, '\n', len - j);
				line_end = nl ? (size_t)(nl - h) : len;
			}
			out = spam_printable(a, b.data ? b.data : "", b.len, SPAM_REPLY_LINE_MAX);
			buf_free(&b);
			return out;
		}
		i += ll + 1;
	}
	return NULL;
}

/* status_value - value of "key=" in an unfolded X-Spam-Status (up to a blank), or NULL */
static const char *status_value(const char *st, const char *key, size_t max, struct arena *a)
{
	size_t kl = strlen(key);
	const char *p = st;

	while ((p = strstr(p, key)) != NULL) {
		if (p == st || p[-1] == ' ' || p[-1] == ',') {
			const char *v = p + kl;

			return spam_printable(a, v, strcspn(v, " "), max);
		}
		p += kl;
	}
	return NULL;
}

int spamd_reply_parse(const char *p, size_t len, struct arena *a, struct spam_result *r)
{
	struct spam_reply sr;
	const char *err, *spam = NULL, *st, *nl, *sp;
	char *status;
	size_t sl;
	unsigned i;

	memset(r, 0, sizeof(*r));
	/*
	 * The status line first, on its own: spamd's protocol errors are a
	 * lone "SPAMD/1.0 76 Bad header line: ..." and EOF, with no header
	 * block. "SPAMD/1.1 0 EX_OK" is success; any other code is an error.
	 */
	nl = memchr(p, '\n', len < SPAM_REPLY_LINE_MAX ? len : SPAM_REPLY_LINE_MAX);
	sl = nl ? (size_t)(nl - p) : (len < SPAM_REPLY_LINE_MAX ? len : SPAM_REPLY_LINE_MAX);
	status = spam_printable(a, p, sl, sl);
	if (sl && status[sl - 1] == '?' && p[sl - 1] == '\r')
		status[sl - 1] = 0;
	if (strncmp(status, "SPAMD/", 6) != 0 || (sp = strchr(status, ' ')) == NULL) {
		r->error = len == 0 ? "empty reply" : arena_printf(a, "not a spamd reply: %.80s", status);
		return -1;
	}
	sp++;
	if (strncmp(sp, "0 ", 2) != 0 && strcmp(sp, "0") != 0) {
		r->error = arena_printf(a, "spamd error: %.120s", sp);
		return -1;
	}
	if (spam_reply_split(p, len, a, &sr, &err) < 0) {
		r->error = err;
		return -1;
	}
	for (i = 0; i < sr.n_headers; i++)
		if (strcasecmp(sr.name[i], "spam") == 0)
			spam = sr.value[i];
	if (spam == NULL) {
		r->error = "spamd reply without a Spam: line";
		return -1;
	}
	if (parse_spam_line(spam, r) < 0) {
		r->error = arena_printf(a, "malformed Spam: line: %.80s", spam);
		return -1;
	}
	r->scored = 1;
	r->tests = "";
	if ((st = status_field(sr.body, sr.body_len, a)) != NULL) {
		const char *t = status_value(st, "tests=", SPAM_TESTS_MAX, a);

		r->tests = t && strcmp(t, "none") != 0 ? t : "";
		r->autolearn = status_value(st, "autolearn=", SPAM_TEXT_MAX, a);
	}
	return 0;
}

/*
 * spam_precheck - what both clients check before connecting: r cleared,
 * a message over o->max_size skipped (0, skip_reason), a daemon address
 * not set an error (-1, "no <setting>"); 1 to go on.
 */
int spam_precheck(const struct spam_opts *o, size_t len, const char *addr, const char *setting,
		  struct arena *a, struct spam_result *r)
{
	memset(r, 0, sizeof(*r));
	if (o->max_size && len > o->max_size) {
		r->skip_reason = arena_printf(a, "message size %zu > spam_max_size %zu", len, o->max_size);
		return 0;
	}
	if (addr == NULL || *addr == 0) {
		r->error = arena_printf(a, "no %s", setting);
		return -1;
	}
	return 1;
}

/* user_ok - safe to send as a header value: printable ASCII, bounded, no blanks at the ends */
static int user_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPAMD_USER_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * spamd_check - see spam.h
 *
 * The size cap is checked first and without connecting, so a skipped
 * message costs nothing.
 */
int spamd_check(const struct spam_opts *o, const char *data, size_t len,
		const char *rcpt_or_user, struct arena *a, struct spam_result *r)
{
	long long t0 = now_ms();
	int timeout = o->timeout_ms > 0 ? o->timeout_ms : SPAM_DEFAULT_TIMEOUT;
	size_t max_reply = (o->max_size ? o->max_size : len) + SPAMD_REPLY_SLACK;
	const char *head, *reply, *err;
	size_t reply_len;
	int rc;

	if ((rc = spam_precheck(o, len, o->spamd_address, "spamd_address", a, r)) <= 0)
		return rc;
	if (max_reply < SPAMD_REPLY_FLOOR)
		max_reply = SPAMD_REPLY_FLOOR;
	if (rcpt_or_user && user_ok(rcpt_or_user))
		head = arena_printf(a, "HEADERS SPAMC/1.5\r\nContent-length: %zu\r\nUser: %s\r\n\r\n",
		    len, rcpt_or_user);
	else
		head = arena_printf(a, "HEADERS SPAMC/1.5\r\nContent-length: %zu\r\n\r\n", len);
	if (spam_exchange(o->spamd_address, head, strlen(head), data, len, timeout, max_reply, a,
	    &reply, &reply_len, &err) < 0) {
		r->error = arena_printf(a, "spamd %.120s: %s", o->spamd_address, err);
		rc = -1;
	} else if ((rc = spamd_reply_parse(reply, reply_len, a, r)) < 0) {
		r->error = arena_printf(a, "spamd %.120s: %s", o->spamd_address, r->error);
	}
	r->elapsed_ms = (unsigned)(now_ms() - t0);
	return rc;
}
