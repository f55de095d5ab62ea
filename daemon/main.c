/*
 * main.c - tollgated's command line: read the configuration, print it
 * (-n, -d, -a) or check it (-t), else run the master (daemon/master.c).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "policy/banks.h"
#include "policy/policy.h"

extern char **environ;

/* usage - the command line help */
static void usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tollgated [-f] [-c FILE] [-D MODULES]\n"
	    "       tollgated [-c FILE] -n | -a | -d | -r | -t\n"
	    "\n"
	    "  -c FILE     configuration file (Postfix-style name = value); without it,\n"
	    "              the built-in defaults: listen = lmtp:127.0.0.1:10024,\n"
	    "              forward_method = smtp:[127.0.0.1]:10025, max_servers = 2\n"
	    "  -f          stay in the foreground and log to stderr\n"
	    "  -D MODULES  debug logging for modules: smtpd,deliver,master,config,scan,mime,route,all\n"
	    "  -n          print the settings the file sets (like postconf -n)\n"
	    "  -a          print every effective setting\n"
	    "  -d          print the built-in defaults (like postconf -d)\n"
	    "  -r          print the commented reference of every setting (ops/tollgate.conf)\n"
	    "  -t          check the configuration and exit (1 with file:line on error)\n"
	    "  -V          print the version\n"
	    "  -h          this help\n"
	    "\n"
	    "Signals: SIGHUP reloads the configuration; SIGTERM drains and stops.\n"
	    "Every setting is described in tollgate.conf(5) and by tollgated -d.\n");
}

/* check_config - -t: build what the master builds from cfg (taken
 * over) without starting anything; the exit status, 1 with "file:line:
 * reason" (the line of the setting the reason names) on stderr */
static int check_config(struct cfg *cfg)
{
	struct policy *pol = NULL;
	struct banks *banks = NULL;
	const char *err = NULL;
	int rc = 0;

	if (resolve_max_servers(cfg, &err) < 0 || policy_build(cfg, &pol, &err) < 0 ||
	    banks_build(cfg, pol, &banks, &err) < 0 || workdirs_check(cfg, 0, &err) < 0) {
		fprintf(stderr, "tollgated: %s\n", cfg_error(cfg, err));
		rc = 1;
	}
	banks_free(&banks);
	policy_free(&pol);
	cfg_free(&cfg);
	return rc;
}

/* main - options, then print (-n/-a/-d/-r), check (-t) or run the master */
int main(int argc, char **argv)
{
	struct master_opts o;
	struct cfg *cfg = NULL;
	const char *err = NULL, *debug = NULL;
	int c, print = 0, check = 0;

	setproctitle_init(argc, argv, environ);
	memset(&o, 0, sizeof(o));
	while ((c = getopt(argc, argv, "c:fD:nadrtVh")) != -1) {
		switch (c) {
		case 'c': o.config_path = optarg; break;
		case 'f': o.foreground = 1; break;
		case 'D': debug = optarg; break;
		case 'n': case 'a': case 'd': case 'r': print = c; break;
		case 't': check = 1; break;
		case 'V': printf("tollgated %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_open("tollgated", o.foreground || print || check, "mail");
	if (cfg_load(&cfg, o.config_path, &err) < 0) {
		fprintf(stderr, "tollgated: %s\n", err);
		return 1;
	}
	if (print) {
		cfg_print(cfg, stdout, print);
		cfg_free(&cfg);
		return 0;
	}
	if (check)
		return check_config(cfg);
	if (!o.foreground)
		log_open(cfg_str(cfg, P_SYSLOG_IDENT), 0, cfg_str(cfg, P_SYSLOG_FACILITY));
	else
		log_open(cfg_str(cfg, P_SYSLOG_IDENT), 1, NULL);
	if (debug && log_debug_enable(debug) < 0)
		log_warning("-D %s: unknown module name ignored", debug);
	return master_run(&o, cfg);
}
