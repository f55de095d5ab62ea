/*
 * tollgate.h - the control tool's pieces: one function per subcommand,
 * called by main() in tollgate.c with argv[0] = the command name.
 * Each returns the process exit status (0 success, 1 the check or the
 * request failed, 2 usage or local failure).
 *
 *   tollgate_ctl.c      status, stats, reload, stop, version (control
 *                       socket), check-config (runs tollgated -t)
 *   tollgate_postfix.c  postfix-config (master.cf/main.cf lines, --check)
 *   tollgate_state.c    stats --redis, quarantine list, release (shared
 *                       state in Redis, the quarantine)
 *   tollgate_explain.c  explain (a worker's dry run of one message)
 */
#ifndef TG_OPS_TOLLGATE_H
#define TG_OPS_TOLLGATE_H

struct cfg;

int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_postfix_config(int argc, char **argv);
/* tollgate_state.c: stats (--redis there, else cmd_stats), quarantine, release */
int cmd_stats_any(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_release(int argc, char **argv);
/* tollgate_explain.c: explain */
int cmd_explain(int argc, char **argv);

/* tollgate_default_config - $(sysconfdir)/tollgate/tollgate.conf when it
 * exists, else NULL (the built-in defaults) */
const char *tollgate_default_config(void);
/* tollgate_load_config - path, or the default file, or the built-in
 * defaults; prints the error and returns -1 on failure */
int tollgate_load_config(const char *path, struct cfg **cfg_r);

#endif
