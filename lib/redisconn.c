/*
 * redisconn.c - the Redis connection helper (lib/redisconn.h) shared by
 * the shared state (state/state.c) and redis: tables
 * (lib/tables/table_redis.c): connect with timeouts, AUTH, SELECT, a new
 * connection after fork, back-off, and Redis Sentinel discovery.
 *
 * Sentinel follows the rules of Redis's "Sentinel client spec": the
 * sentinels are asked in turn, SENTINEL get-master-addr-by-name NAME;
 * one that cannot be reached, times out or does not know the master is
 * skipped; the first that answers is moved to the front of the list
 * (this process's copy), so the next discovery asks it first. The
 * address it gives is connected to (AUTH, SELECT as for one server) and
 * asked ROLE: anything but "master" (a replica during a failover, or an
 * old master not yet reconfigured) fails this connect, and the next
 * connect, after the back-off, starts again from the sentinels. An
 * established connection is given up on an I/O error or an error reply
 * -READONLY / -MASTERDOWN (redisconn_reply_error), so a master demoted
 * under our feet is left at the next command.
 *
 * Deliberately left out: Sentinel's pub/sub notifications (+switch-master):
 * a connection is only remade when it fails, which a demoted master makes
 * it do (it closes its clients' connections, then says -READONLY);
 * Cluster; TLS.
 * Limits: a host name is resolved by getaddrinfo(), which the timeout
 * does not bound; use addresses. Each unreachable or hung sentinel costs
 * up to timeout_ms in one discovery.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/redisconn.h"

struct redisconn {
	char *server;			/* as configured, for messages */
	struct redisconn_spec spec;
	int db;
	char *password;
	char *sentinel_password;
	int timeout_ms, retry_ms;
	char *down_text;
	redisContext *c;
	pid_t pid;			/* the process that made c */
	long long down_until;		/* monotonic ms: connects fail at once before this */
	int down;			/* the last attempt failed (logged once) */
	char down_err[256];		/* why */
	char master_addr[300];		/* sentinel: the master last connected to */
	char err[512];
	size_t plen;			/* length of "redis SERVER: " in err */
};

/* now_ms - monotonic milliseconds */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* rc_fail - set rc->err ("redis SERVER: " + text), return -1 */
static int rc_fail(struct redisconn *rc, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rc_fail(struct redisconn *rc, const char **error_r, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(rc->err, sizeof(rc->err), "redis %.200s: ", rc->server);
	if (n < 0 || (size_t)n >= sizeof(rc->err))
		n = 0;
	rc->plen = (size_t)n;
	va_start(ap, fmt);
	vsnprintf(rc->err + n, sizeof(rc->err) - (size_t)n, fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = rc->err;
	return -1;
}

/* master_name_ok - a sentinel master name: letters, digits, . _ - */
static int master_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > REDISCONN_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* parse_one - one server: /PATH, or what endpoint_parse takes */
static int parse_one(const char *s, struct endpoint *ep, const char **error_r)
{
	if (s[0] == '/') {
		memset(ep, 0, sizeof(*ep));
		ep->is_unix = 1;
		if (strlcpy(ep->path, s, sizeof(ep->path)) >= sizeof(ep->path)) {
			*error_r = "redis server path too long";
			return -1;
		}
		return 0;
	}
	return endpoint_parse(s, ep, error_r);
}

int redisconn_parse(const char *server, struct redisconn_spec *spec, const char **error_r)
{
	static char errbuf[160];	/* a sentinel endpoint's error, quoted */
	const char *at, *p, *comma, *err;
	char one[300];
	size_t len;

	memset(spec, 0, sizeof(*spec));
	if (strncmp(server, "sentinel:", 9) != 0) {
		if (parse_one(server, &spec->eps[0], error_r) < 0)
			return -1;
		spec->n = 1;
		return 0;
	}
	p = server + 9;
	if ((at = strchr(p, '@')) == NULL || !master_name_ok(p, (size_t)(at - p))) {
		*error_r = "expected sentinel:MASTERNAME@HOST:PORT[,HOST:PORT...] "
		    "(a name of 1 to 64 letters, digits, '.', '_' or '-')";
		return -1;
	}
	memcpy(spec->master, p, (size_t)(at - p));
	spec->master[at - p] = '\0';
	for (p = at + 1;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0) {
			*error_r = "sentinel: an empty sentinel address";
			return -1;
		}
		if (spec->n == REDISCONN_SENTINELS_MAX) {
			*error_r = "sentinel: more than 16 sentinels";
			return -1;
		}
		if (len >= sizeof(one)) {
			*error_r = "sentinel: a sentinel address is too long";
			return -1;
		}
		memcpy(one, p, len);
		one[len] = '\0';
		if (one[0] == '/' || strncmp(one, "unix:", 5) == 0) {
			*error_r = "sentinel: sentinels are HOST:PORT (TCP)";
			return -1;
		}
		if (endpoint_parse(one, &spec->eps[spec->n], &err) < 0) {
			snprintf(errbuf, sizeof(errbuf), "sentinel \"%.60s\": %.80s", one, err);
			*error_r = errbuf;
			return -1;
		}
		spec->n++;
		if (comma == NULL)
			break;
	}
	return 0;
}

int redisconn_create(struct redisconn **rc_r, const struct redisconn_opts *o, const char **error_r)
{
	struct redisconn *rc;

	*rc_r = NULL;
	if (o->timeout_ms <= 0) {
		*error_r = "redis timeout must be positive";
		return -1;
	}
	rc = xcalloc(1, sizeof(*rc));
	if (redisconn_parse(o->server, &rc->spec, error_r) < 0) {
		free(rc);
		return -1;
	}
	rc->server = xstrdup(o->server);
	rc->db = o->db;
	rc->password = o->password && *o->password ? xstrdup(o->password) : NULL;
	rc->sentinel_password = o->sentinel_password && *o->sentinel_password ? xstrdup(o->sentinel_password) : NULL;
	rc->timeout_ms = o->timeout_ms;
	rc->retry_ms = o->retry_ms < 0 ? 0 : o->retry_ms;
	rc->down_text = o->down_text ? xstrdup(o->down_text) : NULL;
	*rc_r = rc;
	return 0;
}

void redisconn_drop(struct redisconn *rc)
{
	if (rc->c != NULL)
		redisFree(rc->c);	/* in a child: closes only our copy */
	rc->c = NULL;
}

void redisconn_free(struct redisconn **rcp)
{
	struct redisconn *rc = *rcp;

	if (rc == NULL)
		return;
	*rcp = NULL;
	redisconn_drop(rc);
	if (rc->sentinel_password != NULL) {
		explicit_bzero(rc->sentinel_password, strlen(rc->sentinel_password));
		free(rc->sentinel_password);
	}
	if (rc->password != NULL) {
		explicit_bzero(rc->password, strlen(rc->password));
		free(rc->password);
	}
	free(rc->down_text);
	free(rc->server);
	free(rc);
}

redisContext *redisconn_context(struct redisconn *rc)
{
	if (rc->c != NULL && rc->pid != getpid())
		redisconn_drop(rc);	/* made by the parent: not ours */
	if (rc->c != NULL && rc->c->err)
		redisconn_drop(rc);
	return rc->c;
}

/* open_ep - a connection to ep with the timeouts; NULL with rc->err
 * ("redis SERVER: " + what + ": " + why) */
static redisContext *open_ep(struct redisconn *rc, const struct endpoint *ep, const char *what)
{
	struct timeval tv = { rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000 };
	redisContext *c;

	if (ep->is_unix)
		c = redisConnectUnixWithTimeout(ep->path, tv);
	else
		c = redisConnectWithTimeout(ep->host, atoi(ep->port), tv);
	if (c == NULL) {
		rc_fail(rc, NULL, "%s: out of memory", what);
		return NULL;
	}
	if (c->err) {
		rc_fail(rc, NULL, "%s: %s", what, c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		rc_fail(rc, NULL, "cannot set the command timeout");
		redisFree(c);
		return NULL;
	}
	return c;
}

/* command_ok - r is a reply that is not an error; else rc->err and r freed */
static int command_ok(struct redisconn *rc, redisContext *c, redisReply *r, const char *what)
{
	if (r == NULL)
		return rc_fail(rc, NULL, "%s: %s", what, c->errstr[0] ? c->errstr : "I/O error");
	if (r->type == REDIS_REPLY_ERROR) {
		rc_fail(rc, NULL, "%s: %.200s", what, r->str);
		freeReplyObject(r);
		return -1;
	}
	return 0;
}

/*
 * ask_sentinels - the master's address, from the first sentinel that
 * knows it (moved to the front); 0, or -1 with rc->err naming the last
 * sentinel's failure.
 */
static int ask_sentinels(struct redisconn *rc, struct endpoint *master_r, char *from, size_t fromsz)
{
	struct redisconn_spec *s = &rc->spec;
	char why[400], where[300];
	redisContext *c;
	redisReply *r;
	struct endpoint ep;
	size_t i;
	int ok;

	snprintf(why, sizeof(why), "no sentinel");
	for (i = 0; i < s->n; i++) {
		endpoint_format(&s->eps[i], where, sizeof(where));
		if ((c = open_ep(rc, &s->eps[i], "connect")) == NULL) {
			snprintf(why, sizeof(why), "sentinel %.100s: %.250s", where, rc->err + rc->plen);
			continue;
		}
		ok = 0;
		r = NULL;
		if (rc->sentinel_password != NULL) {
			r = redisCommand(c, "AUTH %s", rc->sentinel_password);
			if (r == NULL || r->type == REDIS_REPLY_ERROR) {
				snprintf(why, sizeof(why), "sentinel %.100s: AUTH: %.200s", where,
				    r != NULL ? r->str : c->errstr[0] ? c->errstr : "I/O error");
				if (r != NULL)
					freeReplyObject(r);
				redisFree(c);
				continue;
			}
			freeReplyObject(r);
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->master);
		if (r == NULL) {
			snprintf(why, sizeof(why), "sentinel %.100s: %.250s", where,
			    c->errstr[0] ? c->errstr : "I/O error");
		} else if (r->type == REDIS_REPLY_NIL) {
			snprintf(why, sizeof(why), "sentinel %.100s does not know master %s", where, s->master);
		} else if (r->type == REDIS_REPLY_ERROR) {
			snprintf(why, sizeof(why), "sentinel %.100s: %.120s", where, r->str);
		} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len == 0 || r->element[0]->len >= sizeof(ep.host) ||
		    r->element[1]->len == 0 || r->element[1]->len >= sizeof(ep.port) ||
		    strspn(r->element[1]->str, "0123456789") != r->element[1]->len) {
			snprintf(why, sizeof(why), "sentinel %.100s: unexpected reply to get-master-addr-by-name", where);
		} else {
			memset(&ep, 0, sizeof(ep));
			memcpy(ep.host, r->element[0]->str, r->element[0]->len);
			memcpy(ep.port, r->element[1]->str, r->element[1]->len);
			ok = 1;
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (!ok)
			continue;
		if (i > 0) {		/* the one that answered goes first */
			struct endpoint first = s->eps[i];

			memmove(&s->eps[1], &s->eps[0], i * sizeof(s->eps[0]));
			s->eps[0] = first;
		}
		*master_r = ep;
		strlcpy(from, where, fromsz);
		return 0;
	}
	return rc_fail(rc, NULL, "no sentinel gave the master %s (%s)", s->master, why);
}

/* check_role - ROLE says master; 0 or -1 with rc->err */
static int check_role(struct redisconn *rc, redisContext *c, const char *addr)
{
	redisReply *r = redisCommand(c, "ROLE");
	int ok;

	if (command_ok(rc, c, r, "ROLE") < 0)
		return -1;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
	if (!ok)
		rc_fail(rc, NULL, "%s is not a master (ROLE %.20s); the sentinels will be asked again", addr,
		    r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING ?
		    r->element[0]->str : "?");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

/* connect_now - one connect, AUTH, SELECT (and for sentinel discovery and ROLE); 0 or -1 */
static int connect_now(struct redisconn *rc)
{
	struct endpoint master;
	char addr[300], from[300], what[320];
	redisReply *r;
	redisContext *c;

	redisconn_drop(rc);
	if (rc->spec.master[0] != '\0') {
		if (ask_sentinels(rc, &master, from, sizeof(from)) < 0)
			return -1;
		endpoint_format(&master, addr, sizeof(addr));
	} else {
		master = rc->spec.eps[0];
		addr[0] = '\0';
	}
	snprintf(what, sizeof(what), "%s%s%sconnect", addr[0] ? "master " : "", addr, addr[0] ? ": " : "");
	if ((c = open_ep(rc, &master, what)) == NULL)
		return -1;
	if (rc->password != NULL) {
		r = redisCommand(c, "AUTH %s", rc->password);
		if (command_ok(rc, c, r, "AUTH") < 0)
			goto fail;
		freeReplyObject(r);
	}
	if (rc->db != 0) {
		r = redisCommand(c, "SELECT %d", rc->db);
		if (command_ok(rc, c, r, "SELECT") < 0)
			goto fail;
		freeReplyObject(r);
	}
	if (addr[0]) {
		if (check_role(rc, c, addr) < 0)
			goto fail;
		if (strcmp(addr, rc->master_addr) != 0) {
			log_info("redis %s: connected to master %s at %s (from sentinel %s%s%s)", rc->server,
			    rc->spec.master, addr, from, rc->master_addr[0] ? "; it was at " : "",
			    rc->master_addr);
			strlcpy(rc->master_addr, addr, sizeof(rc->master_addr));
		}
	}
	rc->c = c;
	rc->pid = getpid();
	return 0;
fail:
	redisFree(c);
	return -1;
}

int redisconn_connect(struct redisconn *rc, const char **error_r)
{
	long long now = now_ms();

	if (rc->down && now < rc->down_until) {
		snprintf(rc->err, sizeof(rc->err), "%s (next attempt in %lld ms)", rc->down_err,
		    rc->down_until - now);
		if (error_r != NULL)
			*error_r = rc->err;
		return -1;
	}
	if (connect_now(rc) < 0) {
		redisconn_failed(rc, rc->err);
		if (error_r != NULL)
			*error_r = rc->err;
		return -1;
	}
	if (rc->down && rc->down_text != NULL)
		log_info("redis %s: available again", rc->server);
	rc->down = 0;
	return 0;
}

void redisconn_failed(struct redisconn *rc, const char *why)
{
	rc->down_until = now_ms() + rc->retry_ms;
	if (why != rc->down_err)
		strlcpy(rc->down_err, why, sizeof(rc->down_err));
	if (!rc->down && rc->down_text != NULL)
		log_warning("%s; %s", why, rc->down_text);
	rc->down = 1;
}

int redisconn_reply_error(struct redisconn *rc, const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
		return 0;
	if (strncmp(r->str, "READONLY", 8) != 0 && strncmp(r->str, "MASTERDOWN", 10) != 0)
		return 0;
	redisconn_drop(rc);
	return 1;
}
