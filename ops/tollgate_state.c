/*
 * tollgate_state.c - the subcommands that work on the shared state
 * (state/state.h) and the quarantine rather than on one running
 * daemon:
 *
 *   tollgate stats --redis [-c FILE]
 *       the counters of every node sharing state_redis_server, per
 *       policy bank and content category: messages, bytes, and msgs/s
 *       and bytes/s over the last 1, 5 and 15 minutes; then each node
 *       (its myhostname) with the time of its last counted message,
 *       "stale" when that is STATS_STALE_S or more ago (without --redis:
 *       the local daemon's counters, tollgate_ctl.c)
 *   tollgate quarantine list [-c FILE] [--since SECONDS] [--max N]
 *       the quarantined messages, newest first: from the Redis index
 *       when state_redis_server is set (every host's, with the host that
 *       stored each and its location: a path on that host, or "redis"),
 *       else from quarantine_dir/index. Secrets are never printed.
 *   tollgate release MAIL_ID [RECIPIENT...] [-c FILE]
 *       like amavisd-release: release_message() (policy/release.h, the
 *       same path as the AM.PDP release request; root needs no secret)
 *       finds the message in the Redis index or quarantine_dir/index,
 *       reads it from Redis or from the file on this host, and sends it
 *       without the envelope lines quarantine_prepend() put on top to
 *       the given recipients (else the blocked ones, else all) through
 *       forward_method / forward_method_maps. One line per recipient
 *       with the downstream reply. A message in the file store of
 *       another host is not released here: the answer names that host.
 *
 * Exit status: 0 done (release: every recipient accepted), 1 the
 * message was not found, is on another host, or a recipient was not
 * accepted, 2 usage, the configuration, or Redis / the index / the
 * file could not be read.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "ops/tollgate.h"
#include "policy/policy.h"
#include "policy/release.h"
#include "state/state.h"

#define QLIST_MAX_DEFAULT 10000		/* entries listed from Redis without --max */
#define STATS_STALE_S 300		/* a node silent this long is marked stale */

/* ---- common ---- */

/* state_open - a state object for state_redis_server of cfg; 0, or 2
 * (printed) when it is empty or wrong */
static int state_open(const struct cfg *cfg, struct state **st_r)
{
	struct state_opts so;
	const char *err = NULL;

	*st_r = NULL;
	if (*cfg_str(cfg, P_STATE_REDIS_SERVER) == 0) {
		fprintf(stderr, "tollgate: state_redis_server is empty in the configuration: no shared state\n");
		return 2;
	}
	state_opts_from_cfg(&so, cfg);
	so.retry_ms = 0;	/* one command: no back-off window */
	if (state_create(st_r, &so, &err) < 0) {
		fprintf(stderr, "tollgate: state_redis_server: %s\n", err);
		return 2;
	}
	return 0;
}

/* printable - s for a terminal: non-printables escaped, bounded */
static const char *printable(char *out, size_t outsz, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return log_printable(out, outsz, s ? s : "", n > 320 ? 320 : n);
}

/* unbracket - "<a@b>" → "a@b" (in place: argv); other text as it is */
static const char *unbracket(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s[n - 1] = 0;
		return s + 1;
	}
	return s;
}

/* ---- stats --redis ---- */

static int stats_redis(const char *conf)
{
	struct cfg *cfg = NULL;
	struct state *st = NULL;
	struct arena *a;
	struct state_stats ss;
	struct state_node *nodes = NULL;
	size_t nnodes = 0;
	time_t now = time(NULL);
	unsigned long long tm = 0, tb = 0;
	const char *err = NULL;
	size_t i;
	int rc;

	if (tollgate_load_config(conf, &cfg) < 0)
		return 2;
	if ((rc = state_open(cfg, &st)) != 0) {
		cfg_free(&cfg);
		return rc;
	}
	a = arena_create(0);
	if (state_stats_read(st, now, a, &ss, &err) < 0 || state_nodes_read(st, a, &nodes, &nnodes, &err) < 0) {
		fprintf(stderr, "tollgate: cannot read the counters from Redis %s: %s\n",
		    cfg_str(cfg, P_STATE_REDIS_SERVER), err ? err : "?");
		arena_free(&a);
		state_free(&st);
		cfg_free(&cfg);
		return 2;
	}
	for (i = 0; i < ss.n; i++) {
		tm += ss.rows[i].msgs;
		tb += ss.rows[i].bytes;
	}
	printf("shared state %s (key prefix %s): every node\n", cfg_str(cfg, P_STATE_REDIS_SERVER),
	    cfg_str(cfg, P_STATE_KEY_PREFIX));
	printf("messages %llu\nbytes %llu\n\n%-16s %-12s %10s %14s\n", tm, tb, "BANK", "CATEGORY", "MESSAGES", "BYTES");
	for (i = 0; i < ss.n; i++)
		printf("%-16s %-12s %10llu %14llu\n", ss.rows[i].bank, ss.rows[i].category, ss.rows[i].msgs,
		    ss.rows[i].bytes);
	printf("\n%-16s %-12s %-5s %10s %12s\n", "BANK", "CATEGORY", "RATE", "MSGS/S", "BYTES/S");
	for (i = 0; i < ss.n; i++) {
		const struct state_stat_row *r = &ss.rows[i];

		printf("%-16s %-12s %-5s %10.3f %12.1f\n", r->bank, r->category, "1m", r->msgs_1m / 60.0,
		    r->bytes_1m / 60.0);
		printf("%-16s %-12s %-5s %10.3f %12.1f\n", r->bank, r->category, "5m", r->msgs_5m / 300.0,
		    r->bytes_5m / 300.0);
		printf("%-16s %-12s %-5s %10.3f %12.1f\n", r->bank, r->category, "15m", r->msgs_15m / 900.0,
		    r->bytes_15m / 900.0);
	}
	printf("\n%-32s %-19s %8s %s\n", "NODE", "LAST-SEEN", "AGO", "STATE");
	for (i = 0; i < nnodes; i++) {
		char e1[400], ts[32];
		struct tm lt;
		long long ago = (long long)(now - nodes[i].last_seen);

		if (localtime_r(&nodes[i].last_seen, &lt) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &lt) == 0)
			snprintf(ts, sizeof(ts), "%lld", (long long)nodes[i].last_seen);
		printf("%-32s %-19s %7llds %s\n", printable(e1, sizeof(e1), nodes[i].name), ts, ago < 0 ? 0 : ago,
		    ago >= STATS_STALE_S ? "stale" : "ok");
	}
	arena_free(&a);
	state_free(&st);
	cfg_free(&cfg);
	if (fflush(stdout) != 0) {
		perror("tollgate: stdout");
		return 2;
	}
	return 0;
}

/* cmd_stats_any - "tollgate stats": --redis here, else the control socket */
int cmd_stats_any(int argc, char **argv)
{
	const char *conf = NULL;
	int i, redis = 0;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--redis") == 0)
			redis = 1;
	if (!redis)
		return cmd_stats(argc, argv);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--redis") == 0)
			continue;
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf = argv[++i];
			continue;
		}
		fprintf(stderr, "usage: tollgate stats --redis [-c FILE]\n");
		return 2;
	}
	return stats_redis(conf);
}

/* ---- quarantine list ---- */

/* qlist_row - one entry; host NULL: no host column (file index) */
static void qlist_row(const char *mail_id, time_t t, const char *category, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *location, const char *host)
{
	char ts[32], e1[400], e2[400], e3[400];
	struct tm tm;
	size_t i;

	if (localtime_r(&t, &tm) == NULL || strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(ts, sizeof(ts), "%lld", (long long)t);
	printf("%-14s %-19s %-10s <%s> ", printable(e1, sizeof(e1), mail_id), ts,
	    printable(e2, sizeof(e2), category), printable(e3, sizeof(e3), sender));
	for (i = 0; i < nrcpts; i++)
		printf("%s<%s>", i ? "," : "", printable(e1, sizeof(e1), rcpts[i]));
	if (nrcpts == 0)
		printf("-");
	printf(" %s", printable(e2, sizeof(e2), location));
	if (host)
		printf(" %s", *host ? printable(e3, sizeof(e3), host) : "-");
	printf("\n");
}

static int quarantine_list(int argc, char **argv)
{
	const char *usage = "usage: tollgate quarantine list [-c FILE] [--since SECONDS] [--max N]\n";
	const char *conf = NULL, *err = NULL;
	struct cfg *cfg = NULL;
	struct arena *a;
	time_t since = 0, now = time(NULL);
	size_t max = QLIST_MAX_DEFAULT, n = 0, i;
	int rc = 0;

	for (i = 2; i < (size_t)argc; i++) {
		char *end;

		if (strcmp(argv[i], "-c") == 0 && i + 1 < (size_t)argc) {
			conf = argv[++i];
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < (size_t)argc) {
			long long s = strtoll(argv[++i], &end, 10);

			if (*end || s < 0) {
				fputs(usage, stderr);
				return 2;
			}
			since = s < now ? now - (time_t)s : 1;
		} else if (strcmp(argv[i], "--max") == 0 && i + 1 < (size_t)argc) {
			unsigned long long m = strtoull(argv[++i], &end, 10);

			if (*end || m == 0) {
				fputs(usage, stderr);
				return 2;
			}
			max = (size_t)m;
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (tollgate_load_config(conf, &cfg) < 0)
		return 2;
	a = arena_create(0);
	if (*cfg_str(cfg, P_STATE_REDIS_SERVER)) {
		struct state *st = NULL;
		struct state_qentry *q = NULL;

		if ((rc = state_open(cfg, &st)) == 0) {
			if (state_quarantine_list(st, since, max, a, &q, &n, &err) < 0) {
				fprintf(stderr, "tollgate: cannot read the quarantine index from Redis %s: %s\n",
				    cfg_str(cfg, P_STATE_REDIS_SERVER), err ? err : "?");
				rc = 2;
			} else {
				printf("%-14s %-19s %-10s %s\n", "MAIL_ID", "TIME", "CATEGORY",
				    "SENDER RECIPIENTS LOCATION HOST");
				for (i = 0; i < n; i++)
					qlist_row(q[i].mail_id, q[i].time, q[i].category, q[i].sender,
					    (const char *const *)q[i].rcpts, q[i].nrcpts, q[i].location, q[i].host);
			}
			state_free(&st);
		}
	} else if (*cfg_str(cfg, P_QUARANTINE_DIR)) {
		struct release_index *l = NULL;

		if (release_index_list(a, cfg_str(cfg, P_QUARANTINE_DIR), since, &l, &n, &err) < 0) {
			fprintf(stderr, "tollgate: %s\n", err);
			rc = 2;
		} else {
			printf("%-14s %-19s %-10s %s\n", "MAIL_ID", "TIME", "CATEGORY", "SENDER RECIPIENTS LOCATION");
			for (i = 0; i < n && i < max; i++)
				qlist_row(l[i].mail_id, l[i].time, l[i].category, l[i].sender,
				    (const char *const *)l[i].rcpts, l[i].nrcpts, l[i].path, NULL);
		}
	} else {
		fprintf(stderr, "tollgate: neither state_redis_server nor quarantine_dir is set: no quarantine\n");
		rc = 2;
	}
	arena_free(&a);
	cfg_free(&cfg);
	if (rc == 0 && fflush(stdout) != 0) {
		perror("tollgate: stdout");
		rc = 2;
	}
	return rc;
}

int cmd_quarantine(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return quarantine_list(argc, argv);
	fprintf(stderr, "usage: tollgate quarantine list [-c FILE] [--since SECONDS] [--max N]\n");
	return 2;
}

/* ---- release ---- */

/* release_exit - the exit status of a release outcome (see the top) */
static int release_exit(const struct release_result *res)
{
	switch (res->status) {
	case RELEASE_DONE:
		return res->accepted == res->msg->nrcpts ? 0 : 1;
	case RELEASE_NOT_FOUND:
	case RELEASE_DENIED:
	case RELEASE_ELSEWHERE:
		return 1;
	default:
		return 2;
	}
}

/* cmd_release - "tollgate release": release_message() as root (no
 * secret), one line per recipient */
int cmd_release(int argc, char **argv)
{
	const char *usage = "usage: tollgate release MAIL_ID [RECIPIENT...] [-c FILE]\n";
	const char *conf = NULL, *why = NULL, **given;
	struct cfg *cfg = NULL;
	struct policy *pol = NULL;
	struct arena *a;
	struct release_ctx ctx;
	struct release_req rq;
	struct release_result res;
	char e1[400], e2[800];
	size_t i;
	int rc, k;

	memset(&rq, 0, sizeof(rq));
	given = calloc((size_t)argc, sizeof(*given));
	if (given == NULL) {
		perror("tollgate");
		return 2;
	}
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "-c") == 0 && k + 1 < argc)
			conf = argv[++k];
		else if (argv[k][0] == '-' && argv[k][1] != 0)
			break;
		else if (rq.id == NULL)
			rq.id = argv[k];
		else
			given[rq.nrcpts++] = unbracket(argv[k]);
	}
	if (k < argc || rq.id == NULL || *rq.id == 0) {
		fputs(usage, stderr);
		free(given);
		return 2;
	}
	if (tollgate_load_config(conf, &cfg) < 0) {
		free(given);
		return 2;
	}
	if (policy_build(cfg, &pol, &why) < 0) {
		fprintf(stderr, "tollgate: configuration: %s\n", why);
		cfg_free(&cfg);
		free(given);
		return 2;
	}
	a = arena_create(0);
	rq.rcpts = given;
	rq.listener = "tollgate release";
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.pol = pol;
	ctx.tmp_dir = cfg_str(cfg, P_TMP_DIR);
	release_message(a, &ctx, &rq, &res);
	if (res.status != RELEASE_DONE)
		fprintf(stderr, "tollgate: %s\n", printable(e2, sizeof(e2), res.why));
	else if (res.msg->nrcpts == 0)
		printf("%s: no recipients, nothing to do\n", res.mail_id);
	for (i = 0; res.status == RELEASE_DONE && i < res.msg->nrcpts; i++) {
		const struct rcpt *rp = &res.msg->rcpts[i];

		printf("<%s>: %s\n", printable(e1, sizeof(e1), rp->addr),
		    printable(e2, sizeof(e2), rp->reply ? rp->reply : "450 4.5.0 no outcome"));
	}
	rc = release_exit(&res);
	policy_free(&pol);
	arena_free(&a);
	cfg_free(&cfg);
	free(given);
	if (fflush(stdout) != 0) {
		perror("tollgate: stdout");
		rc = 2;
	}
	return rc;
}
