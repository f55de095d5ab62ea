/*
 * spam_rspamd.c - client of rspamd's HTTP protocol: one
 * "POST /checkv2 HTTP/1.1" per connection with the envelope in request
 * headers, "Connection: close", and the JSON reply read whole.
 *
 * The JSON reader is a small recursive-descent scanner written for this
 * one reply shape: it validates the whole document, keeps the top-level
 * "score", "required_score", "action", "is_skipped", "error" and the
 * names and scores of "symbols", and skips everything else. It is
 * bounded in depth (SPAM_JSON_DEPTH_MAX), in size (SPAM_REPLY_MAX) and
 * in symbols kept (SPAM_SYMBOLS_MAX).
 *
 * Left out: HTTPS, the Password header (controller only), rspamd's
 * zstd-compressed and encrypted (HTTPCrypt) modes, chunked replies
 * (rspamd sends Content-Length; a chunked reply is an error), and the
 * "milter" block (header rewrites that rspamd proposes).
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
#include "lib/text.h"
#include "scanners/spam.h"

#define RSPAMD_HDR_MAX 512		/* longest envelope header value sent */
#define RSPAMD_RCPTS_MAX 1000		/* Rcpt headers sent */
#define RSPAMD_NAME_MAX 128		/* bytes kept of one symbol name */
#define RSPAMD_DEFAULT_TIMEOUT 30000

/* ---------------------------------------------------------------- JSON */

struct json {
	const char *p, *end;
	unsigned depth;
	const char *err;
	struct arena *a;
};

struct sym {
	const char *name;
	double score;
};

static int json_value(struct json *j, const char **str_r, double *num_r);

/* json_fail - first error wins */
static int json_fail(struct json *j, const char *err)
{
	if (j->err == NULL)
		j->err = err;
	return -1;
}

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/*
 * json_string - a string at j->p; with out, its first max bytes go
 * there (escapes decoded, non-ASCII and controls as '?'). Validates the
 * whole string either way.
 */
static int json_string(struct json *j, struct buf *out, size_t max)
{
	if (j->p >= j->end || *j->p != '"')
		return json_fail(j, "JSON: expected a string");
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return json_fail(j, "JSON: control character in a string");
		if (c == '\\') {
			if (j->p >= j->end)
				break;
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': case 'f': case 'n': case 'r': case 't': c = '?'; break;
			case 'u': {
				unsigned v = 0;
				int k;

				if (j->end - j->p < 4)
					return json_fail(j, "JSON: truncated \\u escape");
				for (k = 0; k < 4; k++) {
					int h = text_hex_value((unsigned char)j->p[k]);

					if (h < 0)
						return json_fail(j, "JSON: bad \\u escape");
					v = v * 16 + (unsigned)h;
				}
				j->p += 4;
				c = v >= 0x20 && v < 0x7f ? (unsigned char)v : '?';
				break;
			}
			default:
				return json_fail(j, "JSON: bad escape");
			}
		} else if (c >= 0x7f) {
			c = '?';
		}
		if (out && out->len < max)
			buf_putc(out, (char)c);
	}
	return json_fail(j, "JSON: unterminated string");
}

/* json_number - RFC 8259 number syntax, converted with strtod */
static int json_number(struct json *j, double *num_r)
{
	const char *s = j->p;
	char tmp[64];
	size_t n;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return json_fail(j, "JSON: bad number");
	if (*j->p == '0')
		j->p++;
	else
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return json_fail(j, "JSON: bad number");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return json_fail(j, "JSON: bad number");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	n = (size_t)(j->p - s);
	if (n >= sizeof(tmp))
		return json_fail(j, "JSON: number too long");
	if (num_r) {
		memcpy(tmp, s, n);
		tmp[n] = 0;
		errno = 0;
		*num_r = strtod(tmp, NULL);
		if (errno == ERANGE && (*num_r > 1 || *num_r < -1))
			return json_fail(j, "JSON: number out of range");
	}
	return 0;
}

/* json_literal - true, false or null */
static int json_literal(struct json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return json_fail(j, "JSON: unexpected token");
	j->p += n;
	return 0;
}

/*
 * json_members - walk an object (array when is_array): for each member
 * call fn(j, key, ctx) positioned at the value; fn must consume it
 * (NULL: every value is skipped). The depth limit is checked here, so
 * every nesting path goes through it.
 */
static int json_members(struct json *j, int is_array,
			int (*fn)(struct json *j, const char *key, void *ctx), void *ctx)
{
	char close = is_array ? ']' : '}';

	if (++j->depth > SPAM_JSON_DEPTH_MAX)
		return json_fail(j, "JSON: nested too deep");
	j->p++;	/* the opening bracket */
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		struct buf kb = BUF_INIT;
		int rc;

		json_ws(j);
		if (!is_array) {
			rc = json_string(j, &kb, RSPAMD_NAME_MAX);
			key = kb.data ? kb.data : "";
			if (rc == 0) {
				json_ws(j);
				if (j->p >= j->end || *j->p != ':')
					rc = json_fail(j, "JSON: expected ':'");
				else
					j->p++;
			}
			json_ws(j);
			if (rc == 0)
				rc = fn ? fn(j, key, ctx) : json_value(j, NULL, NULL);
		} else {
			rc = json_value(j, NULL, NULL);
		}
		buf_free(&kb);
		if (rc < 0)
			return -1;
		json_ws(j);
		if (j->p >= j->end)
			return json_fail(j, "JSON: truncated");
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		if (*j->p != ',')
			return json_fail(j, "JSON: expected ',' or end of container");
		j->p++;
	}
}

/*
 * json_value - any value; a string's text (cut to SPAM_TEXT_MAX) goes
 * to *str_r and a number to *num_r when asked for (and left alone when
 * the value has another type).
 */
static int json_value(struct json *j, const char **str_r, double *num_r)
{
	json_ws(j);
	if (j->p >= j->end)
		return json_fail(j, "JSON: truncated");
	switch (*j->p) {
	case '{':
		return json_members(j, 0, NULL, NULL);
	case '[':
		return json_members(j, 1, NULL, NULL);
	case '"': {
		struct buf b = BUF_INIT;
		int rc = json_string(j, str_r ? &b : NULL, SPAM_TEXT_MAX);

		if (rc == 0 && str_r)
			*str_r = arena_strndup(j->a, b.data ? b.data : "", b.len);
		buf_free(&b);
		return rc;
	}
	case 't':
		return json_literal(j, "true");
	case 'f':
		return json_literal(j, "false");
	case 'n':
		return json_literal(j, "null");
	default:
		return json_number(j, num_r);
	}
}

/* what one reply yields */
struct rspamd_reply {
	int have_score, have_required, skipped;
	double score, required;
	const char *action, *error;
	struct sym *syms;
	unsigned n_syms, syms_dropped;
};

/* sym_member - inside one symbol's object: keep "score" */
static int sym_member(struct json *j, const char *key, void *ctx)
{
	return json_value(j, NULL, strcmp(key, "score") == 0 ? (double *)ctx : NULL);
}

/* symbols_member - one "NAME": {...} of "symbols" */
static int symbols_member(struct json *j, const char *key, void *ctx)
{
	struct rspamd_reply *rr = ctx;
	double score = 0;

	if (j->p < j->end && *j->p == '{') {
		if (json_members(j, 0, sym_member, &score) < 0)
			return -1;
	} else if (json_value(j, NULL, NULL) < 0) {
		return -1;
	}
	if (rr->n_syms == SPAM_SYMBOLS_MAX) {
		rr->syms_dropped++;
		return 0;
	}
	rr->syms[rr->n_syms].name = arena_strdup(j->a, key);
	rr->syms[rr->n_syms].score = score;
	rr->n_syms++;
	return 0;
}

/* top_member - one member of the top-level object */
static int top_member(struct json *j, const char *key, void *ctx)
{
	struct rspamd_reply *rr = ctx;

	if (strcmp(key, "score") == 0) {
		rr->have_score = j->p < j->end && (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'));
		return json_value(j, NULL, &rr->score);
	}
	if (strcmp(key, "required_score") == 0) {
		rr->have_required = j->p < j->end && (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'));
		return json_value(j, NULL, &rr->required);
	}
	if (strcmp(key, "action") == 0)
		return json_value(j, &rr->action, NULL);
	if (strcmp(key, "error") == 0)
		return json_value(j, &rr->error, NULL);
	if (strcmp(key, "is_skipped") == 0) {
		rr->skipped = j->p < j->end && *j->p == 't';
		return json_value(j, NULL, NULL);
	}
	if (strcmp(key, "symbols") == 0 && j->p < j->end && *j->p == '{')
		return json_members(j, 0, symbols_member, rr);
	return json_value(j, NULL, NULL);
}

/* sym_cmp - by name, for a stable test list */
static int sym_cmp(const void *x, const void *y)
{
	return strcmp(((const struct sym *)x)->name, ((const struct sym *)y)->name);
}

/* format_tests - "NAME=score,..." with at most 3 decimals, cut to SPAM_TESTS_MAX */
static const char *format_tests(struct arena *a, struct rspamd_reply *rr)
{
	struct buf b = BUF_INIT;
	const char *out;
	unsigned i;

	qsort(rr->syms, rr->n_syms, sizeof(*rr->syms), sym_cmp);
	for (i = 0; i < rr->n_syms; i++) {
		char num[64];
		size_t n;

		snprintf(num, sizeof(num), "%.3f", rr->syms[i].score);
		n = strlen(num);
		while (n > 1 && num[n - 1] == '0')
			num[--n] = 0;
		if (n > 1 && num[n - 1] == '.')
			num[--n] = 0;
		if (strcmp(num, "-0") == 0)
			strcpy(num, "0");
		if (b.len + strlen(rr->syms[i].name) + n + 2 > SPAM_TESTS_MAX)
			break;
		buf_printf(&b, "%s%s=%s", i ? "," : "", rr->syms[i].name, num);
	}
	out = arena_strndup(a, b.data ? b.data : "", b.len);
	buf_free(&b);
	return out;
}

/* ---------------------------------------------------------------- reply */

int rspamd_reply_parse(const char *p, size_t len, struct arena *a, struct spam_result *r)
{
	struct spam_reply sr;
	struct rspamd_reply rr;
	struct json j;
	const char *err, *sp;
	int code;
	unsigned i;

	memset(r, 0, sizeof(*r));
	memset(&rr, 0, sizeof(rr));
	if (len > SPAM_REPLY_MAX) {
		r->error = "reply too long";
		return -1;
	}
	if (spam_reply_split(p, len, a, &sr, &err) < 0) {
		r->error = err;
		return -1;
	}
	/* "HTTP/1.1 200 OK" */
	if (strncmp(sr.status, "HTTP/1.", 7) != 0 || (sp = strchr(sr.status, ' ')) == NULL ||
	    sp[1] < '1' || sp[1] > '5' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' || sp[3] > '9' ||
	    (sp[4] != ' ' && sp[4] != 0)) {
		r->error = arena_printf(a, "not an HTTP reply: %.80s", sr.status);
		return -1;
	}
	code = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
	for (i = 0; i < sr.n_headers; i++)
		if (strcasecmp(sr.name[i], "transfer-encoding") == 0 &&
		    strcasecmp(sr.value[i], "identity") != 0) {
			r->error = "chunked or encoded reply not supported";
			return -1;
		}
	j.p = sr.body;
	j.end = sr.body + sr.body_len;
	j.depth = 0;
	j.err = NULL;
	j.a = a;
	rr.syms = arena_allocarray(a, SPAM_SYMBOLS_MAX, sizeof(*rr.syms));
	json_ws(&j);
	if (j.p < j.end && *j.p == '{') {
		if (json_members(&j, 0, top_member, &rr) == 0) {
			json_ws(&j);
			if (j.p != j.end)
				json_fail(&j, "JSON: data after the reply object");
		}
	} else {
		json_fail(&j, j.p < j.end ? "JSON: reply is not an object" : "empty reply body");
	}
	if (code != 200) {
		r->error = arena_printf(a, "HTTP %d%s%s", code, rr.error && j.err == NULL ? ": " : "",
		    rr.error && j.err == NULL ? rr.error : "");
		return -1;
	}
	if (j.err) {
		r->error = j.err;
		return -1;
	}
	if (rr.error) {
		r->error = arena_printf(a, "rspamd error: %s", rr.error);
		return -1;
	}
	r->action = rr.action;
	/*
	 * is_skipped means rspamd stopped early on a pre-result; with a score
	 * that is still a verdict (GTUBE: is_skipped, score = the reject
	 * threshold, action "reject"). Only without a score is it "not scanned".
	 */
	if (rr.skipped && !rr.have_score) {
		r->skip_reason = "skipped by rspamd";
		return 0;
	}
	if (!rr.have_score) {
		r->error = "rspamd reply without a score";
		return -1;
	}
	r->scored = 1;
	r->score = rr.score;
	r->required = rr.have_required ? rr.required : 0;
	r->is_spam = rr.action && (strcmp(rr.action, "reject") == 0 ||
	    strcmp(rr.action, "add header") == 0 || strcmp(rr.action, "rewrite subject") == 0);
	r->tests = format_tests(a, &rr);
	return 0;
}

/* ---------------------------------------------------------------- request */

/* value_ok - safe as an HTTP header value: printable ASCII, bounded */
static int value_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n > RSPAMD_HDR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* add_header - "Name: value" when value is set and safe */
static void add_header(struct buf *b, const char *name, const char *value)
{
	if (value && *value && value_ok(value))
		buf_printf(b, "%s: %s\r\n", name, value);
}

/*
 * rspamd_address - endpoint text and Host value from rspamd_url:
 * "http://HOST:PORT[/]" (port 80 when left out) or "unix:PATH".
 */
static int rspamd_address(const char *url, struct arena *a, const char **addr_r,
			  const char **host_r, const char **error_r)
{
	const char *h, *slash;
	size_t n;

	if (strncmp(url, "unix:", 5) == 0) {
		*addr_r = url;
		*host_r = "localhost";
		return 0;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		*error_r = "rspamd_url must be http://HOST:PORT or unix:PATH";
		return -1;
	}
	h = url + 7;
	slash = strchr(h, '/');
	n = slash ? (size_t)(slash - h) : strlen(h);
	if (n == 0 || (slash && slash[1] != 0)) {
		*error_r = "rspamd_url must be http://HOST:PORT (no path)";
		return -1;
	}
	*host_r = arena_strndup(a, h, n);
	if (!value_ok(*host_r)) {
		*error_r = "bad host in rspamd_url";
		return -1;
	}
	/* a port is there when the text ends in ":digits" (after any "]") */
	{
		const char *colon = strrchr(*host_r, ':'), *br = strrchr(*host_r, ']');

		if (colon && (br == NULL || colon > br))
			*addr_r = *host_r;
		else
			*addr_r = arena_printf(a, "%s:80", *host_r);
	}
	return 0;
}

int rspamd_check(const struct spam_opts *o, const char *data, size_t len,
		 const struct spam_envelope *env, struct arena *a, struct spam_result *r)
{
	struct timespec t0, t1;
	int timeout = o->timeout_ms > 0 ? o->timeout_ms : RSPAMD_DEFAULT_TIMEOUT;
	struct buf h = BUF_INIT;
	const char *addr, *host, *reply, *err, *head;
	size_t reply_len;
	int rc;

	if ((rc = spam_precheck(o, len, o->rspamd_url, "rspamd_url", a, r)) <= 0)
		return rc;
	if (rspamd_address(o->rspamd_url, a, &addr, &host, &err) < 0) {
		r->error = err;
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	buf_printf(&h, "POST /checkv2 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n", host, len);
	if (env) {
		unsigned i;

		if (env->from)
			add_header(&h, "From", *env->from ? env->from : "<>");
		for (i = 0; i < env->n_rcpts && i < RSPAMD_RCPTS_MAX; i++)
			add_header(&h, "Rcpt", env->rcpts[i]);
		add_header(&h, "IP", env->client_ip);
		add_header(&h, "Helo", env->helo);
		add_header(&h, "Queue-Id", env->queue_id);
		add_header(&h, "User", env->user);
		add_header(&h, "Deliver-To", env->deliver_to);
	}
	buf_puts(&h, "\r\n");
	head = arena_strndup(a, h.data, h.len);
	rc = spam_exchange(addr, head, h.len, data, len, timeout, SPAM_REPLY_MAX, a, &reply,
	    &reply_len, &err);
	buf_free(&h);
	if (rc < 0) {
		r->error = arena_printf(a, "rspamd %.120s: %s", o->rspamd_url, err);
	} else if ((rc = rspamd_reply_parse(reply, reply_len, a, r)) < 0) {
		r->error = arena_printf(a, "rspamd %.120s: %s", o->rspamd_url, r->error);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->elapsed_ms = (unsigned)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	return rc;
}
