/*
 * table_redis.c - redis:NAME: GET key_prefix+key on a Redis server, at
 * lookup time, so a change in Redis applies to the next lookup with no
 * reload. NAME selects per-name settings from struct table_opts (server,
 * db, key prefix, password, timeout, failure action), else the defaults.
 *
 * Connections (lib/redisconn.h): one per server, db, password and
 * timeout in each process, made at the first lookup, not at open: tables
 * are opened in the master and forked into workers, and a socket must
 * never be shared between processes, so a connection made by another pid
 * is dropped and remade. A server "sentinel:NAME@HOST:PORT,..." is the
 * master the sentinels name, found again at each new connection. A
 * lookup that fails on an established connection reconnects once and
 * tries again; an unreachable server is a TABLE_FAIL, which the failure
 * action then turns into a tempfail, a skip (ignore) or the default.
 *
 * Replies: a string is found, nil is not found, an error reply
 * (WRONGTYPE, NOAUTH...) or any other type is a failure.
 *
 * Deliberately left out: Redis Cluster, TLS, pipelining of the several
 * keys of one address lookup, and a back-off after failures (each lookup
 * against a dead server costs up to the connect timeout, per sentinel
 * with a sentinel: server).
 */
#include "config.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/redisconn.h"
#include "lib/tables/table_private.h"

struct redis_conn {
	char *id;			/* server, db, password, timeout: what may be shared */
	char *server;			/* as configured, for error messages */
	struct redisconn *rc;		/* the connection of this process */
	int refs;
	struct redis_conn *next;
};

struct redis_table {
	struct redis_conn *conn;
	char *prefix;
};

static struct redis_conn *redis_conns;	/* the per-process connections */

/* redis_conf_for - the settings of redis:NAME */
static const struct table_redis_conf *redis_conf_for(const struct table_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_redis_named; i++)
		if (o->redis_named[i].name != NULL && strcmp(o->redis_named[i].name, name) == 0)
			return &o->redis_named[i];
	return &o->redis;
}

static int redis_open(struct table *t, const char *name, const struct table_opts *o,
    const char **error_r)
{
	const struct table_redis_conf *conf = redis_conf_for(o, name);
	struct redis_table *rt = arena_alloc(t->mem, sizeof(*rt));
	struct redis_conn *rc;
	struct redisconn_spec spec;
	struct redisconn_opts ro;
	const char *err, *server = conf->server ? conf->server : "127.0.0.1:6379";
	char *id;

	if (redisconn_parse(server, &spec, &err) < 0) {
		if (server[0] == '/')
			return table_error(error_r, "%.200s: %s", t->spec, err), -1;
		return table_error(error_r, "%.200s: redis server \"%.200s\": %s", t->spec, server, err), -1;
	}
	if (conf->timeout_ms <= 0)
		return table_error(error_r, "%.200s: redis timeout must be positive", t->spec), -1;
	t->priv = rt;
	t->fail_action = conf->failure_action;
	rt->prefix = arena_strdup(t->mem, conf->key_prefix ? conf->key_prefix : "");
	id = xasprintf("%s\n%d\n%s\n%d", server, conf->db,
	    conf->password && *conf->password ? conf->password : "", conf->timeout_ms);
	for (rc = redis_conns; rc != NULL; rc = rc->next)
		if (strcmp(rc->id, id) == 0)
			break;
	if (rc != NULL) {
		free(id);
	} else {
		memset(&ro, 0, sizeof(ro));
		ro.server = server;
		ro.db = conf->db;
		ro.password = conf->password;
		ro.sentinel_password = conf->sentinel_password;
		ro.timeout_ms = conf->timeout_ms;
		ro.retry_ms = 0;	/* as before the helper: every lookup tries */
		rc = xcalloc(1, sizeof(*rc));
		if (redisconn_create(&rc->rc, &ro, &err) < 0) {
			explicit_bzero(id, strlen(id));
			free(id);
			free(rc);
			return table_error(error_r, "%.200s: redis server \"%.200s\": %s", t->spec, server, err), -1;
		}
		rc->id = id;
		rc->server = xstrdup(server);
		rc->next = redis_conns;
		redis_conns = rc;
	}
	rc->refs++;
	rt->conn = rc;
	return 0;
}

/* redis_lookup - GET prefix+key, reconnecting once on a broken connection */
static int redis_lookup(struct table *t, const char *key, struct arena *a, const char **value_r,
    const char **error_r)
{
	struct redis_table *rt = t->priv;
	struct redis_conn *rc = rt->conn;
	const char *full = arena_printf(a, "%s%s", rt->prefix, key), *err;
	redisContext *c;
	redisReply *r;
	int attempt, fresh, found;

	for (attempt = 0; attempt < 2; attempt++) {
		fresh = 0;
		if ((c = redisconn_context(rc->rc)) == NULL) {
			if (redisconn_connect(rc->rc, &err) < 0) {
				*error_r = arena_strdup(a, err);
				return TABLE_FAIL;
			}
			c = redisconn_context(rc->rc);
			fresh = 1;
		}
		r = redisCommand(c, "GET %b", full, strlen(full));
		if (r == NULL) {
			*error_r = arena_printf(a, "redis %s: GET: %s", rc->server,
			    c->errstr[0] ? c->errstr : "I/O error");
			redisconn_drop(rc->rc);
			if (fresh)
				return TABLE_FAIL;
			continue;		/* a stale connection: once more on a new one */
		}
		if (r->type == REDIS_REPLY_NIL) {
			found = TABLE_NOTFOUND;
		} else if (r->type == REDIS_REPLY_STRING) {
			*value_r = arena_strndup(a, r->str, r->len);
			found = TABLE_FOUND;
		} else if (r->type == REDIS_REPLY_ERROR) {
			*error_r = arena_printf(a, "redis %s: GET: %.200s", rc->server, r->str);
			(void)redisconn_reply_error(rc->rc, r);	/* -MASTERDOWN: ask again */
			found = TABLE_FAIL;
		} else {
			*error_r = arena_printf(a, "GET: unexpected reply type %d", r->type);
			found = TABLE_FAIL;
		}
		freeReplyObject(r);
		return found;
	}
	return TABLE_FAIL;
}

static void redis_close(struct table *t)
{
	struct redis_table *rt = t->priv;
	struct redis_conn **pp;

	if (rt == NULL || rt->conn == NULL || --rt->conn->refs > 0)
		return;
	for (pp = &redis_conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == rt->conn) {
			*pp = rt->conn->next;
			break;
		}
	}
	redisconn_free(&rt->conn->rc);
	explicit_bzero(rt->conn->id, strlen(rt->conn->id));	/* holds the password */
	free(rt->conn->id);
	free(rt->conn->server);
	free(rt->conn);
}

const struct table_driver table_redis_driver = {
	.type = "redis",
	.flags = TABLE_F_FOLD,
	.open = redis_open,
	.lookup = redis_lookup,
	.close = redis_close,
};
