/*
 * release.c - a message out of the quarantine and back on its way (see
 * release.h): release_message() is the one release path of the AM.PDP
 * release request and "tollgate release"; below it the readers of the
 * file index, the envelope lines and the file, and one delivery loop.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/spool.h"
#include "policy/policy.h"
#include "policy/quarantine.h"
#include "policy/release.h"
#include "routing/route.h"
#include "routing/routing.h"
#include "state/state.h"

#define RELEASE_CHUNK 65536		/* spool writes of this size */

/* unescape - an index address "<...>" with %XX escapes, without the
 * brackets, in a */
static const char *unescape(struct arena *a, const char *s, size_t n)
{
	char *out = arena_alloc(a, n + 1), *o = out;
	size_t i;

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	for (i = 0; i < n; i++) {
		unsigned v;

		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };

			v = (unsigned)strtoul(hex, NULL, 16);
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

/* index_parse - one index line (modified in place) into e; 0 or -1 */
static int index_parse(struct arena *a, char *line, struct release_index *e)
{
	char *f[7], *save = NULL, *tok, *end;
	const char *p;
	size_t n = 0, cap = 0;
	int k = 0;

	/* time mail_id secret_id category sender rcpts path */
	for (tok = strtok_r(line, " \n", &save); tok && k < 7; tok = strtok_r(NULL, " \n", &save))
		f[k++] = tok;
	if (k != 7 || strtok_r(NULL, " \n", &save) != NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	e->time = (time_t)strtoll(f[0], &end, 10);
	if (*end != 0)
		return -1;
	e->mail_id = arena_strdup(a, f[1]);
	e->secret_id = arena_strdup(a, f[2]);
	e->category = arena_strdup(a, f[3]);
	e->sender = unescape(a, f[4], strlen(f[4]));
	e->path = arena_strdup(a, f[6]);
	for (p = f[5]; *p;) {
		size_t l = strcspn(p, ",");

		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			const char **nl = arena_allocarray(a, nc, sizeof(*nl));

			if (n)
				memcpy(nl, e->rcpts, n * sizeof(*nl));
			e->rcpts = nl;
			cap = nc;
		}
		e->rcpts[n++] = unescape(a, p, l);
		p += l;
		if (*p == ',')
			p++;
	}
	e->nrcpts = n;
	return 0;
}

/* index_open - dir/index for reading; NULL with *why_r (and errno) */
static FILE *index_open(struct arena *a, const char *dir, const char **why_r)
{
	const char *idx = arena_printf(a, "%s/index", dir);
	FILE *fp = fopen(idx, "re");

	if (fp == NULL) {
		int saved = errno;

		*why_r = arena_printf(a, "quarantine index %s: %s", idx, strerror(saved));
		errno = saved;
	}
	return fp;
}

int release_index_find(struct arena *a, const char *dir, const char *mail_id, const char *mail_file,
    struct release_index *e_r, const char **why_r)
{
	const char *base = mail_file ? strrchr(mail_file, '/') : NULL;
	FILE *fp = index_open(a, dir, why_r);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int found = 0;

	base = base ? base + 1 : mail_file;
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	while (!found && (n = getline(&line, &cap, fp)) > 0) {
		struct release_index e;
		const char *fb;

		if (n > RELEASE_INDEX_LINE || index_parse(a, line, &e) < 0)
			continue;
		fb = strrchr(e.path, '/');
		fb = fb ? fb + 1 : e.path;
		if (strcmp(e.mail_id, mail_id) == 0 || (base && *base && strcmp(fb, base) == 0)) {
			*e_r = e;
			found = 1;
		}
	}
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	return found;
}

int release_index_list(struct arena *a, const char *dir, time_t since, struct release_index **list_r,
    size_t *n_r, const char **why_r)
{
	FILE *fp = index_open(a, dir, why_r);
	struct release_index *l = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0, lcap = 0, i;
	ssize_t r;

	*list_r = NULL;
	*n_r = 0;
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((r = getline(&line, &cap, fp)) > 0) {
		struct release_index e;

		if (r > RELEASE_INDEX_LINE || index_parse(a, line, &e) < 0 || (since && e.time < since))
			continue;
		if (n == lcap) {
			size_t nc = lcap ? lcap * 2 : 32;
			struct release_index *nl = arena_allocarray(a, nc, sizeof(*nl));

			if (n)
				memcpy(nl, l, n * sizeof(*nl));
			l = nl;
			lcap = nc;
		}
		l[n++] = e;
	}
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	/* appended in time order: newest first is the reverse */
	for (i = 0; i < n / 2; i++) {
		struct release_index t = l[i];

		l[i] = l[n - 1 - i];
		l[n - 1 - i] = t;
	}
	*list_r = l;
	*n_r = n;
	return 0;
}

/* env_addrs - the <...> addresses of an unfolded header value */
static void env_addrs(struct arena *a, const char *v, const char ***list, size_t *n, size_t *cap)
{
	while ((v = strchr(v, '<')) != NULL) {
		const char *e = strchr(v, '>');

		if (e == NULL)
			return;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			const char **nl = arena_allocarray(a, nc, sizeof(*nl));

			if (*n)
				memcpy(nl, *list, *n * sizeof(*nl));
			*list = nl;
			*cap = nc;
		}
		(*list)[(*n)++] = arena_strndup(a, v + 1, (size_t)(e - v - 1));
		v = e + 1;
	}
}

void release_envelope(struct arena *a, const char *data, size_t len, struct release_env *e)
{
	static const char *const skipped[] = {
		"Delivered-To:", "X-Amavis-Hold:", "X-Amavis-Alert:", "X-Amavis-Modified:",
		"X-Amavis-PenPals:", "X-Amavis-PolicyBank:", "X-Amavis-OS-Fingerprint:",
	};
	const char *p = data, *end = data + len;

	memset(e, 0, sizeof(*e));
	while (p < end) {
		const char *q = p, *fe;
		struct buf v = BUF_INIT;
		size_t i, known = 0;
		const char *val;

		/* one field with its continuation lines */
		for (;;) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));

			q = nl ? nl + 1 : end;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		fe = q;
		for (i = 0; p + i < fe; i++)
			if (p[i] != '\r' && p[i] != '\n')
				buf_putc(&v, p[i]);
		val = strchr(v.data ? v.data : "", ':');
		if (v.len == 0 || val == NULL) {
			buf_free(&v);
			break;
		}
		val++;
		if (strncasecmp(v.data, "Return-Path:", 12) == 0 || strncasecmp(v.data, "X-Envelope-From:", 16) == 0) {
			if (e->sender == NULL) {
				const char **l = NULL;
				size_t n = 0, c = 0;

				env_addrs(a, val, &l, &n, &c);
				e->sender = n ? l[0] : "";
			}
			known = 1;
		} else if (strncasecmp(v.data, "X-Envelope-To:", 14) == 0) {
			env_addrs(a, val, &e->all, &e->nall, &e->cap_all);
			known = 1;
		} else if (strncasecmp(v.data, "X-Envelope-To-Blocked:", 22) == 0) {
			env_addrs(a, val, &e->blocked, &e->nblocked, &e->cap_blocked);
			known = 1;
		} else if (strncasecmp(v.data, "X-Quarantine-ID:", 16) == 0) {
			while (*val == ' ' || *val == '\t')
				val++;
			e->qid = arena_strdup(a, val);
			if (e->qid[0] == '<' && e->qid[strlen(e->qid) - 1] == '>')
				e->qid = arena_strndup(a, e->qid + 1, strlen(e->qid) - 2);
			known = 1;
		} else if (strncasecmp(v.data, "X-Spam-", 7) == 0 || strncasecmp(v.data, "X-CRM114-", 9) == 0) {
			known = 1;
		}
		for (i = 0; !known && i < sizeof(skipped) / sizeof(skipped[0]); i++)
			known = strncasecmp(v.data, skipped[i], strlen(skipped[i])) == 0;
		buf_free(&v);
		if (!known)
			break;
		p = fe;
		e->skip = (size_t)(p - data);
	}
}

int release_read_file(struct arena *a, const char *path, char **data_r, size_t *len_r, const char **why_r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *raw;
	size_t len;

	if (fd < 0) {
		*why_r = errno == ENOENT ? arena_printf(a, "File %.200s does not exist", path) :
		    arena_printf(a, "Can't open file %.200s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why_r = arena_printf(a, "File %.200s is not a plain file", path);
		return -1;
	}
	if ((unsigned long long)st.st_size > RELEASE_FILE_MAX) {
		close(fd);
		*why_r = arena_printf(a, "File %.200s is too large (%lld bytes)", path, (long long)st.st_size);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	raw = arena_alloc(a, (size_t)st.st_size + 1);
	for (len = 0; len < (size_t)st.st_size;) {
		ssize_t k = read(fd, raw + len, (size_t)st.st_size - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	if (len != (size_t)st.st_size) {
		*why_r = arena_printf(a, "reading %.200s: short read", path);
		return -1;
	}
	raw[len] = 0;
	*data_r = raw;
	*len_r = len;
	return 0;
}

/* release_check_id - the envelope lines of data, whose X-Quarantine-ID
 * must be mail_id; 0, or -1 with *why_r */
static int release_check_id(struct arena *a, const char *data, size_t len, const char *mail_id,
    struct release_env *env, const char **why_r)
{
	release_envelope(a, data, len, env);
	if (env->qid == NULL || strcmp(env->qid, mail_id) != 0) {
		*why_r = arena_printf(a, "Stored quarantine ID '%.40s' does not match requested ID '%s'",
		    env->qid ? env->qid : "", mail_id);
		return -1;
	}
	return 0;
}

int release_load(struct arena *a, const char *path, const char *mail_id, char **data_r, size_t *len_r,
    struct release_env *env, const char **why_r)
{
	if (release_read_file(a, path, data_r, len_r, why_r) < 0)
		return -1;
	return release_check_id(a, *data_r, *len_r, mail_id, env, why_r);
}

int release_path_ok(const char *path, const char *dir, const char *mail_id)
{
	const char *slash = strrchr(path, '/'), *dash;
	size_t dl = strlen(dir);

	if (slash == NULL || slash[1] == '.' || slash[1] == 0)
		return 0;
	if (dl) {
		while (dl > 1 && dir[dl - 1] == '/')
			dl--;
		return (size_t)(slash - path) == dl && strncmp(path, dir, dl) == 0;
	}
	/* no quarantine_dir here: an absolute path without dot segments,
	 * named as quarantine_write() names the files */
	if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./"))
		return 0;
	dash = strchr(slash + 1, '-');
	return dash && strcmp(dash + 1, mail_id) == 0;
}

int release_spool(struct message *msg, const char *tmp_dir, size_t mem_limit, const char *data, size_t len,
    size_t skip, const char **why_r)
{
	struct buf b = BUF_INIT;
	int prev_cr = 0, rc = 0;
	size_t i;

	msg->spool = spool_create(msg->arena, tmp_dir, mem_limit);
	for (i = skip; i < len && rc == 0; i++) {
		if (data[i] == '\n' && !prev_cr)
			buf_putc(&b, '\r');
		buf_putc(&b, data[i]);
		prev_cr = data[i] == '\r';
		if (b.len >= RELEASE_CHUNK) {
			rc = spool_write(msg->spool, b.data, b.len);
			b.len = 0;
		}
	}
	if (rc == 0 && b.len)
		rc = spool_write(msg->spool, b.data, b.len);
	buf_free(&b);
	if (rc < 0 || spool_finish(msg->spool) < 0) {
		*why_r = arena_printf(msg->arena, "spool: %s", spool_error(msg->spool));
		return -1;
	}
	return 0;
}

void release_deliver(struct deliver_cache *dc, const struct cfg *cfg, const struct policy *pol,
    struct message *msg)
{
	struct arena *a = msg->arena;
	const struct fwd_method **ms;
	struct tls_policy *tls;
	size_t *idx;
	struct fwd_method *fm = NULL;
	struct deliver_opts o;
	size_t i, j, n;

	if (msg->nrcpts == 0)
		return;
	ms = arena_allocarray(a, msg->nrcpts, sizeof(*ms));
	tls = arena_allocarray(a, msg->nrcpts, sizeof(*tls));
	idx = arena_allocarray(a, msg->nrcpts, sizeof(*idx));
	memset(&o, 0, sizeof(o));
	o.connect_timeout = (int)cfg_int(cfg, P_FORWARD_CONNECT_TIMEOUT);
	o.command_timeout = (int)cfg_int(cfg, P_FORWARD_COMMAND_TIMEOUT);
	o.data_done_timeout = (int)cfg_int(cfg, P_FORWARD_DATA_DONE_TIMEOUT);
	o.cache_time = (int)cfg_int(cfg, P_FORWARD_CONNECTION_CACHE_TIME);
	o.helo_name = cfg_str(cfg, P_FORWARD_HELO_NAME);
	for (i = 0; i < msg->nrcpts; i++) {
		const char *err = NULL;

		memset(&tls[i], 0, sizeof(tls[i]));
		ms[i] = NULL;
		if (pol && pol->route) {
			if (route_method_for(pol->route, msg, i, NULL, &ms[i], &tls[i], &err) < 0)
				ms[i] = NULL;
		} else {
			if (fm == NULL) {
				fm = arena_alloc(a, sizeof(*fm));
				if (method_parse(cfg_str(cfg, P_FORWARD_METHOD), fm, &err) < 0)
					fm = NULL;
			}
			ms[i] = fm;
		}
		if (ms[i] == NULL && msg->rcpts[i].code == 0) {
			msg->rcpts[i].code = 451;
			msg->rcpts[i].reply = arena_printf(a, "451 4.3.5 Error in processing, id=%s: "
			    "forward method lookup failed: %s", msg->am_id, err ? err : "?");
		}
	}
	for (i = 0; i < msg->nrcpts; i++) {
		if (ms[i] == NULL || msg->rcpts[i].code != 0)
			continue;
		for (n = 0, j = i; j < msg->nrcpts; j++)
			if (ms[j] == ms[i] && msg->rcpts[j].code == 0)
				idx[n++] = j;
		(void)deliver(dc, &o, ms[i], &tls[i], msg, idx, n, "", 0, 0);
		for (j = 0; j < n; j++)
			if (msg->rcpts[idx[j]].code == 0) {
				msg->rcpts[idx[j]].code = 451;
				msg->rcpts[idx[j]].reply = "451 4.5.0 Error in processing: not delivered";
			}
	}
}

/* ---- one release ---- */

/* where a message was found */
struct release_loc {
	struct release_index e;		/* mail_id, secret, category, sender, path */
	const char *host;		/* "" unknown (file index, older entry) */
	const char *dir;		/* the path must lie in it ("": any, see release_path_ok) */
	int redis;			/* stored in Redis */
};

/* release_secret_eq - constant-time comparison of two secrets */
static int release_secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* release_strip - the MAIL_ID of a file name CATEGORY-MAIL_ID (as
 * amavisd-release takes it), NULL when id has no category prefix */
static const char *release_strip(const char *id)
{
	static const char *const prefixes[] = {
		"virus-", "banned-", "spam-", "badh-", "unchecked-", "oversized-", "clean-",
	};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(id, prefixes[i], strlen(prefixes[i])) == 0 && id[strlen(prefixes[i])])
			return id + strlen(prefixes[i]);
	return NULL;
}

/* release_locate - mail_id in the Redis index, else in quarantine_dir/index;
 * 1 found, 0 not, -1 failure with *why_r */
static int release_locate(struct arena *a, const struct release_ctx *ctx, const char *mail_id,
    const char *mail_file, struct release_loc *l, const char **why_r)
{
	const char *dir = cfg_str(ctx->cfg, P_QUARANTINE_DIR), *err = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	l->host = "";
	if (ctx->pol && ctx->pol->state) {
		struct state_qentry q;

		rc = state_quarantine_get(ctx->pol->state, mail_id, NULL, a, &q, &err);
		if (rc < 0) {
			*why_r = arena_printf(a, "cannot read the quarantine index from Redis: %s", err);
			return -1;
		}
		if (rc == 1) {
			l->e.time = q.time;
			l->e.mail_id = q.mail_id;
			l->e.secret_id = q.secret_id ? q.secret_id : "";
			l->e.category = q.category ? q.category : "";
			l->e.sender = q.sender ? q.sender : "";
			l->e.path = q.location ? q.location : "";
			l->e.rcpts = q.rcpts;
			l->e.nrcpts = q.nrcpts;
			l->host = q.host ? q.host : "";
			l->dir = "";
			l->redis = strcmp(l->e.path, QUARANTINE_REDIS_LOCATION) == 0;
			return 1;
		}
	}
	if (*dir == 0)
		return 0;
	rc = release_index_find(a, dir, mail_id, mail_file, &l->e, why_r);
	l->dir = dir;
	return rc;
}

/* release_fetch - the stored bytes of l: from Redis, or the file on this
 * host; RELEASE_DONE or the status with res->why */
static enum release_status release_fetch(struct arena *a, const struct release_ctx *ctx,
    const struct release_loc *l, char **data_r, size_t *len_r, struct release_result *res)
{
	const char *err = NULL, *me = ctx->pol && ctx->pol->state ? state_node(ctx->pol->state) : "";
	int rc;

	if (l->redis) {
		rc = state_quarantine_msg(ctx->pol->state, l->e.mail_id, a, data_r, len_r, &err);
		if (rc < 0)
			res->why = arena_printf(a, "cannot read the message from Redis: %s", err);
		else if (rc == 0)
			res->why = arena_printf(a, "mail_id %s is indexed but its message is gone from Redis "
			    "(expired)", l->e.mail_id);
		return rc < 0 ? RELEASE_FAILED : rc == 0 ? RELEASE_NOT_FOUND : RELEASE_DONE;
	}
	if (*l->host && strcmp(l->host, me) != 0) {
		res->why = arena_printf(a, "mail_id %s was quarantined on host %.200s in its file store "
		    "(%.300s): release it there (tollgate release on %.200s, or AM.PDP to it); while that "
		    "host is down the message waits on its disk", l->e.mail_id, l->host, l->e.path, l->host);
		return RELEASE_ELSEWHERE;
	}
	if (!release_path_ok(l->e.path, l->dir, l->e.mail_id)) {
		res->why = arena_printf(a, "the quarantine index names %.300s for %s: not a quarantine file%s",
		    l->e.path, l->e.mail_id, *l->dir ? " in quarantine_dir" : "");
		return RELEASE_FAILED;
	}
	if (release_read_file(a, l->e.path, data_r, len_r, &res->why) < 0)
		return RELEASE_FAILED;
	return RELEASE_DONE;
}

/* release_build - the message to deliver: ids, origin, sender and
 * recipients as release.h's struct release_req says */
static struct message *release_build(struct arena *a, const struct release_req *rq, const char *mail_id,
    const struct release_env *env)
{
	struct message *msg = arena_alloc(a, sizeof(*msg));
	size_t i;

	msg->arena = a;
	message_new_ids(msg);
	(void)snprintf(msg->am_id, sizeof(msg->am_id), "rel-%.20s", mail_id);
	clock_gettime(CLOCK_MONOTONIC, &msg->t_start);
	msg->listener = rq->listener ? rq->listener : "release";
	msg->client_addr = rq->client_addr ? rq->client_addr : "127.0.0.1";
	msg->client_port = rq->client_port;
	msg->local_addr = rq->local_addr;
	msg->local_port = rq->local_port;
	msg->helo = "localhost";
	msg->size_declared = -1;
	msg->sender = rq->sender ? rq->sender : env->sender ? env->sender : "";
	if (rq->nrcpts) {
		for (i = 0; i < rq->nrcpts; i++)
			(void)message_add_rcpt(msg, rq->rcpts[i]);
	} else if (env->nblocked) {
		for (i = 0; i < env->nblocked; i++)
			(void)message_add_rcpt(msg, env->blocked[i]);
	} else {
		for (i = 0; i < env->nall; i++)
			(void)message_add_rcpt(msg, env->all[i]);
	}
	return msg;
}

void release_message(struct arena *a, const struct release_ctx *ctx, const struct release_req *rq,
    struct release_result *res)
{
	const char *ids[2] = { rq->id, release_strip(rq->id) };
	struct deliver_cache *dc = ctx->dc;
	struct release_loc l;
	struct release_env env;
	char *data = NULL;
	size_t len = 0, i;
	int rc = 0, k;

	memset(res, 0, sizeof(*res));
	res->host = "";
	for (k = 0; k < 2 && rc == 0 && ids[k] && *ids[k]; k++)
		rc = release_locate(a, ctx, ids[k], rq->mail_file, &l, &res->why);
	if (rc <= 0) {
		res->status = rc < 0 ? RELEASE_FAILED : RELEASE_NOT_FOUND;
		if (rc == 0)
			res->why = !(ctx->pol && ctx->pol->state) && *cfg_str(ctx->cfg, P_QUARANTINE_DIR) == 0 ?
			    "neither state_redis_server nor quarantine_dir is set: no quarantine" :
			    arena_printf(a, "mail_id %.80s is not in the quarantine index", rq->id);
		return;
	}
	res->mail_id = l.e.mail_id;
	res->category = l.e.category;
	res->host = l.host;
	res->from_redis = l.redis;
	if (rq->secret_id && *rq->secret_id) {
		if (!release_secret_eq(rq->secret_id, l.e.secret_id)) {
			res->status = RELEASE_DENIED;
			res->why = arena_printf(a, "Secret_id does not match mail_id %s", l.e.mail_id);
			return;
		}
	} else if (rq->need_secret) {
		res->status = RELEASE_DENIED;
		res->why = "Secret_id is required, but missing";
		return;
	}
	if ((res->status = release_fetch(a, ctx, &l, &data, &len, res)) != RELEASE_DONE)
		return;
	if (release_check_id(a, data, len, l.e.mail_id, &env, &res->why) < 0) {
		res->status = RELEASE_FAILED;
		return;
	}
	res->msg = release_build(a, rq, l.e.mail_id, &env);
	if (res->msg->nrcpts == 0)
		return;
	if (release_spool(res->msg, ctx->tmp_dir, (size_t)cfg_int(ctx->cfg, P_SPOOL_MEMORY_LIMIT), data, len,
	    env.skip, &res->why) < 0) {
		res->status = RELEASE_FAILED;
		return;
	}
	if (dc == NULL)
		dc = deliver_cache_create();
	release_deliver(dc, ctx->cfg, ctx->pol, res->msg);
	if (ctx->dc == NULL)
		deliver_cache_free(&dc);
	for (i = 0; i < res->msg->nrcpts; i++)
		res->accepted += res->msg->rcpts[i].code / 100 == 2;
}
