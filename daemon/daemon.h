/*
 * daemon.h - tollgated's master process: binds the listeners, owns the
 * configuration and the scoreboard, preforks the workers and supervises
 * them (replace the dead, recycle, kill the stuck), reloads on SIGHUP
 * and drains on SIGTERM.
 *
 * main.c parses the command line and calls master_run(), which returns
 * only when the daemon stops (exit status to use).
 */
#ifndef TG_DAEMON_H
#define TG_DAEMON_H

#include "lib/cfg.h"

struct master_opts {
	const char *config_path;	/* NULL: built-in defaults */
	int foreground;
};

/* master_run - the daemon; cfg is the loaded configuration (taken over) */
int master_run(const struct master_opts *o, struct cfg *cfg);

/* postfix_maxproc - maxproc of a master.cf service ("amavisfeed/unix")
 * via postconf -M; config_dir may be empty. Returns the number, or -1
 * with *error_r. A "-" maxproc is resolved to default_process_limit.
 * *data_done_r gets its lmtp/smtp_data_done_timeout in seconds (or the
 * main.cf value, or 600) when it can be told, else -1. */
int postfix_maxproc(const char *service, const char *config_dir, int *data_done_r,
    const char **error_r);

/* resolve_max_servers - "N", "postfix" or "postfix:SERVICE" → a count,
 * with warnings when Postfix's maxproc and data-done timeout disagree */
int resolve_max_servers(const struct cfg *cfg, const char **error_r);

#endif
