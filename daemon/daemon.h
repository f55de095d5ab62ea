/*
 * daemon.h - tollgated's master process: binds the listeners, owns the
 * configuration and the scoreboard, preforks the workers and supervises
 * them (replace the dead, recycle, kill the stuck), reloads on SIGHUP
 * and drains on SIGTERM.
 *
 * main.c parses the command line and calls master_run(), which returns
 * only when the daemon stops (exit status to use); postfix.c asks
 * Postfix for the feed's maxproc and data-done timeout.
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
 * *data_done_r gets its lmtp/smtp_data_done_timeout in seconds (its -o
 * override, else main.cf's, where Postfix's default is 600) when it can
 * be told, else -1. postconf runs through lib/postconf.h. */
int postfix_maxproc(const char *service, const char *config_dir, int *data_done_r,
    const char **error_r);

/* resolve_max_servers - "N", "postfix" or "postfix:SERVICE" → a count,
 * with warnings when Postfix's maxproc and data-done timeout disagree,
 * and those of policy_warnings() (every tollgated -t, start and reload) */
int resolve_max_servers(const struct cfg *cfg, const char **error_r);


/*
 * The directories the workers write (workdirs.c). The master (root)
 * makes a private directory per worker slot under tmp_dir (and
 * clamav_tmp_dir when that differs), owned by daemon_user, mode 0700,
 * and removes it with its content when it reaps the worker; it makes
 * quarantine_dir when missing. Life cycle: workdirs_open at start (it
 * sweeps what dead masters left and tries each directory as
 * daemon_user) → workdirs_make before each fork → workdirs_remove at
 * each reap → workdirs_close at exit.
 */
#define WORKDIRS_SLOTS 1024
struct workdirs;

/* workdirs_open - check (and with dry 0, make) the directories; -1 with
 * *error_r naming the directory and the user when the workers could not
 * write there and the master cannot fix it */
int workdirs_open(const struct cfg *cfg, int dry, struct workdirs **wd_r, const char **error_r);

/* workdirs_check - the checks of workdirs_open, for tollgated -t (make
 * 0: nothing is made) and for a reload (make 1: a new quarantine_dir or
 * base is made now, so that a bad one refuses the reload); it never
 * sweeps, as the running workers' directories carry this master's pid */
int workdirs_check(const struct cfg *cfg, int make, const char **error_r);

/* workdirs_make - fresh private directories for the worker in slot;
 * *tmp_r (spool) and *clam_r (libclamav's temp files; may equal *tmp_r)
 * stay valid until workdirs_remove of that slot */
int workdirs_make(struct workdirs *wd, const struct cfg *cfg, int slot, const char **tmp_r,
		  const char **clam_r, const char **error_r);

/* workdirs_remove - remove the slot's directories and what is in them */
void workdirs_remove(struct workdirs *wd, int slot);

/* workdirs_close - remove every directory still made; sets *wdp to NULL */
void workdirs_close(struct workdirs **wdp);
#endif
