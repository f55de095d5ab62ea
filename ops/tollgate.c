/*
 * tollgate.c - the control tool: one subcommand per verb, dispatched
 * from a table. The verbs that talk to a running tollgated (status,
 * stats, reload, stop, version) and check-config are in tollgate_ctl.c,
 * postfix-config in tollgate_postfix.c; "map" is here and answers like
 * postmap -q:
 *
 *   tollgate map [-a] [-d DELIM] [-o NAME=VALUE]... -q KEY TYPE:NAME...
 *   tollgate map ... -q - TYPE:NAME...     keys from stdin, "key<TAB>value" out
 *
 * The tables are searched as one maps list (the first that answers
 * wins). Exit status: 0 found (with -q -: at least one key found), 1 not
 * found, 2 a table failed to open or a lookup failed (reason on stderr).
 *
 * stats --redis, quarantine list and release are in tollgate_state.c;
 * explain in tollgate_explain.c.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "ops/tollgate.h"
#include "lib/tables/table.h"

#define MAP_MAX_KEY 65536		/* bytes per key read from stdin */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static int cmd_map(int argc, char **argv);

static const struct command commands[] = {
	{ "status", cmd_status, "the workers of a running tollgated, like amavisd-nanny" },
	{ "stats", cmd_stats_any, "message counters and rates of a running tollgated (--redis: of every node)" },
	{ "reload", cmd_reload, "re-read the configuration and signatures (as SIGHUP)" },
	{ "stop", cmd_stop, "drain and stop tollgated (as SIGTERM)" },
	{ "version", cmd_version, "the version of the running tollgated" },
	{ "check-config", cmd_check_config, "check a configuration file (tollgated -t)" },
	{ "config", cmd_config, "print settings: -n set in the file, -a all effective, -d defaults (like postconf)" },
	{ "postfix-config", cmd_postfix_config, "print or --check the Postfix master.cf/main.cf lines" },
	{ "map", cmd_map, "look a key up in lookup tables, like postmap -q" },
	{ "quarantine", cmd_quarantine, "list the quarantined messages (Redis index or quarantine_dir/index)" },
	{ "release", cmd_release, "release a message from the quarantine, like amavisd-release" },
	{ "explain", cmd_explain, "run one message through a worker's decisions without delivering it" },
};

/* usage - the whole command line help */
static void usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: tollgate COMMAND [ARGS]\n"
	    "       tollgate --help\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n"
	    "tollgate status [-s SOCKET | -c FILE] [--watch [SECS]]\n"
	    "tollgate stats | reload | stop | version [-s SOCKET | -c FILE]\n"
	    "  -s SOCKET     the control socket (default: control_socket of -c FILE, of\n"
	    "                " SYSCONFDIR "/tollgate/tollgate.conf when it exists, else\n"
	    "                /run/tollgated.ctl); root or the socket's group only\n"
	    "  --watch SECS  repeat every SECS seconds (default 2) until interrupted\n"
	    "  exit status: 0 done, 1 the daemon refused, 2 it cannot be reached\n"
	    "\n"
	    "tollgate stats --redis [-c FILE]\n"
	    "  the counters of every node sharing state_redis_server, per policy bank\n"
	    "  and category: messages, bytes, msgs/s and bytes/s over 1, 5, 15 minutes;\n"
	    "  exit 2 when Redis cannot be read or state_redis_server is empty\n"
	    "\n"
	    "tollgate quarantine list [-c FILE] [--since SECONDS] [--max N]\n"
	    "  mail_id, time, category, sender, recipients, location, newest first:\n"
	    "  from the Redis index when state_redis_server is set (every host's, with\n"
	    "  the host that stored it), else from quarantine_dir/index\n"
	    "\n"
	    "tollgate release MAIL_ID [RECIPIENT...] [-c FILE]\n"
	    "  like amavisd-release (MAIL_ID or CATEGORY-MAIL_ID): the quarantined message\n"
	    "  without its envelope lines, to the RECIPIENTs (else the blocked ones,\n"
	    "  else all) through forward_method; one line per recipient with the\n"
	    "  downstream reply (a file stored on another host: \"release it there\").\n"
	    "  Exit 0 all accepted, 1 not found, on another host or not accepted,\n"
	    "  2 failure\n"
	    "\n"
	    "tollgate check-config [-c FILE]\n"
	    "  runs tollgated -t (found via $TOLLGATED, next to tollgate, or PATH):\n"
	    "  exit 1 with file:line: reason on an error\n"
	    "\n"
	    "tollgate config -n | -a | -d [-c FILE]\n"
	    "  the settings as postconf -n (set in the file), postconf (all\n"
	    "  effective) and postconf -d (built-in defaults) print them\n"
	    "\n"
	    "tollgate postfix-config [-c FILE] [--mode global|service|milter] [--check [--postfix-dir DIR]]\n"
	    "  prints the master.cf services (the amavisfeed transport with maxproc =\n"
	    "  max_servers, the re-injection smtpd) and the main.cf content_filter;\n"
	    "  --check compares them with postconf [-c DIR] and exits 1 on a mismatch\n"
	    "  (DIR default: postfix_config_directory)\n"
	    "\n"
	    "tollgate explain [-c FILE] [--from ADDR] --to ADDR [--to ADDR...] [--client IP]\n"
	    "                 [--listener NAME] [--sasl LOGIN] [--json] MESSAGE-FILE\n"
	    "  what a worker would do with the message, without doing it: policy banks\n"
	    "  and why, scanner verdicts, category, per recipient the destiny and the\n"
	    "  setting or map behind it, forward method and the table and key that\n"
	    "  chose it, TLS, the reply, the headers added; nothing is delivered,\n"
	    "  quarantined, counted or written to Redis. --client: the XFORWARD ADDR\n"
	    "  (default: none, the client is 127.0.0.1); --listener: a listen entry or\n"
	    "  its port (default: the first). Exit 0 explained, 2 failure\n"
	    "\n"
	    "tollgate map [-a] [-d DELIM] [-o NAME=VALUE]... -q KEY TYPE:NAME...\n"
	    "  -q KEY        the key to look up; \"-\" reads one key per line from stdin\n"
	    "                and prints \"key<TAB>value\" for each key found\n"
	    "  -a            look KEY up as an address, with amavisd-new's keys: full\n"
	    "                address, address without +extension, user+ext@, user@,\n"
	    "                domain, @domain, .domain, parent domains (.com), then \".\"\n"
	    "                (see lib/tables/table.h)\n"
	    "  -d DELIM      recipient delimiter characters for -a (default \"+\")\n"
	    "  -o NAME=VALUE a Redis setting: redis_server (127.0.0.1:6379, [::1]:6379,\n"
	    "                unix:/path), redis_db (0), redis_key_prefix (tollgate:),\n"
	    "                redis_password, redis_timeout (2s), redis_failure_action\n"
	    "                (tempfail, default, ignore)\n"
	    "  TYPE:NAME     inline:{ k=v, ... }, texthash:/path, regexp:/path, pcre:/path,\n"
	    "                cidr:/path, redis:NAME; several are searched in order\n"
	    "  exit status: 0 found, 1 not found, 2 failure (reason on stderr)\n");
}

/* map_one - look one key up; prints per mode; returns the TABLE_* code */
static int map_one(struct maps *m, const char *key, int addr, const char *delim, int with_key,
    struct arena *a)
{
	const char *value, *err = NULL;
	int rc;

	if (addr)
		rc = maps_lookup_addr(m, key, delim, a, &value, NULL, &err);
	else
		rc = maps_lookup(m, key, a, &value, &err);
	if (rc == TABLE_FOUND) {
		if (with_key)
			printf("%s\t%s\n", key, value);
		else
			printf("%s\n", value);
	} else if (rc == TABLE_FAIL) {
		fprintf(stderr, "tollgate: lookup of \"%.200s\" failed: %s\n", key, err ? err : "?");
	}
	arena_reset(a);
	return rc;
}

/* the command line of tollgate map */
struct map_args {
	struct table_opts opts;		/* -o NAME=VALUE: Redis settings */
	const char *query;		/* -q KEY, "-" for stdin */
	const char *delim;		/* -d DELIM */
	int addr;			/* -a */
	char **tables;			/* TYPE:NAME... */
	int ntables;
};

/* map_parse - the options into a; 0 to go on, or -1 with the exit
 * status in *exit_r (0 after -h, 2 on a usage error) */
static int map_parse(int argc, char **argv, struct map_args *a, int *exit_r)
{
	const char *err = NULL;
	char *eq;
	int c;

	memset(a, 0, sizeof(*a));
	table_opts_init(&a->opts);
	a->delim = "+";
	*exit_r = 2;
	optind = 1;
	while ((c = getopt(argc, argv, "+q:ad:o:h")) != -1) {
		switch (c) {
		case 'q':
			a->query = optarg;
			break;
		case 'a':
			a->addr = 1;
			break;
		case 'd':
			a->delim = optarg;
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL) {
				fprintf(stderr, "tollgate map: -o %s: expected NAME=VALUE\n", optarg);
				return -1;
			}
			*eq = 0;
			if (table_opts_set(&a->opts, optarg, eq + 1, &err) < 0) {
				fprintf(stderr, "tollgate map: -o %s\n", err);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			*exit_r = 0;
			return -1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (a->query == NULL || optind >= argc) {
		fprintf(stderr, "tollgate map: need -q KEY and at least one TYPE:NAME\n");
		usage(stderr);
		return -1;
	}
	a->tables = argv + optind;
	a->ntables = argc - optind;
	return 0;
}

/* map_open - the TYPE:NAME arguments as one maps list (one argument is
 * one table even when it holds spaces, as inline:{ a=b }); 0, or -1
 * with the reason printed */
static int map_open(const struct map_args *a, struct maps **m_r)
{
	struct buf list = BUF_INIT;
	const char *err = NULL;
	int i, rc;

	for (i = 0; i < a->ntables; i++) {
		if (strchr(a->tables[i], '{') == NULL && strpbrk(a->tables[i], " \t,") != NULL) {
			fprintf(stderr, "tollgate map: \"%s\": give one TYPE:NAME per argument\n", a->tables[i]);
			buf_free(&list);
			return -1;
		}
		if (i > 0)
			buf_puts(&list, "\n");
		buf_puts(&list, a->tables[i]);
	}
	if ((rc = maps_create(m_r, "tollgate map", list.data, &a->opts, 0, &err)) < 0)
		fprintf(stderr, "tollgate map: %s\n", err);
	buf_free(&list);
	return rc < 0 ? -1 : 0;
}

/* map_stdin - -q -: one key a line, "key<TAB>value" for each found; the
 * exit status (0 one found, 1 none, 2 a lookup failed or a key was too
 * long) */
static int map_stdin(struct maps *m, const struct map_args *a, struct arena *ar)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int found = 0, failed = 0, rc;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0)
			continue;
		if (n > MAP_MAX_KEY) {
			fprintf(stderr, "tollgate map: key longer than %d bytes skipped\n", MAP_MAX_KEY);
			failed = 1;
			continue;
		}
		rc = map_one(m, line, a->addr, a->delim, 1, ar);
		found |= rc == TABLE_FOUND;
		failed |= rc == TABLE_FAIL;
	}
	free(line);
	return failed ? 2 : found ? 0 : 1;
}

/* cmd_map - "tollgate map": postmap -q for our tables */
static int cmd_map(int argc, char **argv)
{
	struct map_args args;
	struct maps *m = NULL;
	struct arena *ar;
	int status, rc;

	if (map_parse(argc, argv, &args, &status) < 0)
		return status;
	if (map_open(&args, &m) < 0)
		return 2;
	ar = arena_create(0);
	if (strcmp(args.query, "-") != 0) {
		rc = map_one(m, args.query, args.addr, args.delim, 0, ar);
		status = rc == TABLE_FOUND ? 0 : rc == TABLE_NOTFOUND ? 1 : 2;
	} else {
		status = map_stdin(m, &args, ar);
	}
	arena_free(&ar);
	maps_free(&m);
	if (fflush(stdout) != 0) {
		perror("tollgate map: stdout");
		status = 2;
	}
	return status;
}

/* main - dispatch argv[1] to its subcommand */
int main(int argc, char **argv)
{
	size_t i;

	log_open("tollgate", 1, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a Redis server that went away is an error, not a kill */
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tollgate: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
