/*
 * master.c - tollgated's master process.
 *
 * Owns: the configuration and what is built from it once for all
 * workers (content policy, policy banks, the ClamAV engine), the
 * listening sockets (bound before any worker starts, kept across
 * reloads when unchanged), the TLS server context, the scoreboard, the
 * workers' directories, the control socket and metrics endpoint, and
 * the pipe whose closing tells workers the master is gone. Does no mail
 * work itself.
 *
 * Loop: wait for a signal, a control request or a one-second tick;
 * reap dead workers and replace them at once (slowing down when workers
 * die right after they start); kill any worker busy with one message
 * past child_timeout; reload a ClamAV database that changed on disk;
 * start workers until max_servers of the current generation run.
 *
 * SIGHUP (or "tollgate reload"): build the new configuration beside
 * the old; if it loads and its listeners bind, swap, bump the
 * generation, start new workers and tell old ones (SIGTERM) to leave
 * after their current session. A bad configuration keeps the old one
 * running, with an error in the log. SIGTERM/SIGINT (or "tollgate
 * stop"): tell every worker to drain, wait up to shutdown_timeout, kill
 * what is left, remove the pid file, exit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "lib/scoreboard.h"
#include "policy/banks.h"
#include "policy/policy.h"
#include "lib/tables/table.h"
#include "scanners/scanners.h"
#include "workers/workers.h"

#define MASTER_SLOTS 1024		/* 2 x the largest max_servers: room for a reload */
#define MASTER_TICK_MS 1000
#define THROTTLE_EARLY_DEATH 2		/* seconds: a worker dying sooner counts as a failure */
#define THROTTLE_MAX_DELAY 30

struct master;
static void signal_generation(struct master *m, int sig, int only_old);

struct master {
	const struct master_opts *opts;
	struct cfg *cfg;
	struct listener *listeners;
	int nlisteners;
	struct ssl_ctx_st *tls;
	struct scoreboard *sb;
	time_t started[MASTER_SLOTS];	/* fork time per slot */
	int target;			/* max_servers now */
	unsigned generation;
	int alive[2];			/* workers hold alive[0]; EOF there = master gone */
	int sigpipe[2];			/* self-pipe for signals */
	int fails;			/* consecutive early deaths */
	time_t next_spawn;		/* throttle: no forks before this */
	struct policy *policy;		/* content policy of the current configuration */
	struct banks *banks;		/* its policy banks */
	struct clamav_engine *clam;	/* NULL: virus scanning off */
	char clam_path[1024];		/* database the engine was loaded from */
	uint64_t clam_sig;		/* its fingerprint at load time */
	uint64_t clam_bad_sig;		/* fingerprint of a database that failed to load */
	time_t clam_checked;		/* last fingerprint check */
	struct control *ctl;		/* control socket, metrics (daemon/control.c) */
	struct workdirs *wd;		/* the workers' private directories */
	time_t t0;			/* when the master started */
};

static volatile sig_atomic_t got_hup, got_term, got_chld;
static int sig_wfd = -1;

/* on_signal - note the signal and wake the loop */
static void on_signal(int sig)
{
	int e = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
	if (sig_wfd >= 0)
		(void)!write(sig_wfd, &c, 1);
	errno = e;
}

/* master_signals - the handlers, and the self-pipe they write to */
static void master_signals(struct master *m)
{
	struct sigaction sa;

	if (pipe2(m->sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		log_fatal("pipe: %m");
	sig_wfd = m->sigpipe[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

/* tls_server_context - STARTTLS for listeners, when a cert and key are set */
static int tls_server_context(const struct cfg *cfg, struct ssl_ctx_st **ctx_r, const char **error_r)
{
	static char err[300];
	const char *cert = cfg_str(cfg, P_SMTPD_TLS_CERT_FILE), *key = cfg_str(cfg, P_SMTPD_TLS_KEY_FILE);
	SSL_CTX *ctx;

	*ctx_r = NULL;
	if (*cert == 0 && *key == 0)
		return 0;
	if (*cert == 0 || *key == 0) {
		*error_r = "smtpd_tls_cert_file and smtpd_tls_key_file must be set together";
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*error_r = "cannot create a TLS context";
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, sizeof(err), "TLS certificate %s / key %s: %s", cert, key,
		    ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		*error_r = err;
		return -1;
	}
	*ctx_r = ctx;
	return 0;
}

/* unix_socket_owner - a unix listener belongs to daemon_user and
 * daemon_group (mode 0660), so the local clients that run as that user
 * (amavisd-milter, amavisd-release) can connect */
static void unix_socket_owner(const struct cfg *cfg, const char *path)
{
	const char *user = cfg_str(cfg, P_DAEMON_USER), *group = cfg_str(cfg, P_DAEMON_GROUP);
	struct passwd *pw = *user ? getpwnam(user) : NULL;
	struct group *gr = *group ? getgrnam(group) : NULL;

	if (geteuid() != 0 || (pw == NULL && gr == NULL))
		return;
	if (chown(path, pw ? pw->pw_uid : (uid_t)-1, gr ? gr->gr_gid : pw ? pw->pw_gid : (gid_t)-1) < 0)
		log_warning("cannot give %s to %s:%s: %m", path, user, group);
}

/* bind_listeners - open every "listen" entry, reusing sockets of old
 * that have the same spec; on failure nothing new stays open */
static int bind_listeners(const struct cfg *cfg, struct listener *old, int nold,
    struct listener **new_r, int *nnew_r, const char **error_r)
{
	static char err[400];
	char *const *specs;
	int n, i, j;
	struct listener *ls;

	specs = cfg_list(cfg, P_LISTEN, &n);
	if (n == 0) {
		*error_r = "listen: no listeners configured";
		return -1;
	}
	ls = xcalloc((size_t)n, sizeof(*ls));
	for (i = 0; i < n; i++) {
		struct endpoint ep;
		const char *e = NULL;

		if (listener_parse(specs[i], &ls[i], &ep, &e) < 0) {
			snprintf(err, sizeof(err), "listen: %.300s: %s", specs[i], e);
			goto fail;
		}
		for (j = 0; j < nold; j++)
			if (old[j].fd >= 0 && strcmp(old[j].spec, ls[i].spec) == 0)
				ls[i].fd = old[j].fd;
		if (ls[i].fd < 0) {
			if ((ls[i].fd = net_listen(&ep, 1024, &e)) < 0) {
				snprintf(err, sizeof(err), "cannot listen on %.300s: %s", specs[i], e);
				goto fail;
			}
			if (ep.is_unix)
				unix_socket_owner(cfg, ep.path);
		}
	}
	*new_r = ls;
	*nnew_r = n;
	return 0;
fail:
	for (j = 0; j < i; j++) {
		int reused = 0, k;

		for (k = 0; k < nold; k++)
			reused |= old[k].fd == ls[j].fd;
		if (!reused && ls[j].fd >= 0)
			close(ls[j].fd);
	}
	free(ls);
	*error_r = err;
	return -1;
}

/* close_unused_listeners - close old sockets the new set does not reuse */
static void close_unused_listeners(struct listener *old, int nold, struct listener *cur, int ncur)
{
	int i, j;

	for (i = 0; i < nold; i++) {
		int kept = 0;

		for (j = 0; j < ncur; j++)
			kept |= cur[j].fd == old[i].fd;
		if (!kept && old[i].fd >= 0) {
			close(old[i].fd);
			log_info("stopped listening on %s", old[i].spec);
		}
	}
}

/*
 * clamav_load - compile a new engine from cfg's database (in the master,
 * before forking). 0 with *e_r (NULL when scanning is off), or -1 with a
 * message that names the path and what to do about it.
 */
static int clamav_load(const struct cfg *cfg, struct clamav_engine **e_r, uint64_t *sig_r,
    int startup, const char **error_r)
{
	static char err[700];
	struct clamav_opts o;
	const char *e = NULL;

	*e_r = NULL;
	*sig_r = 0;
	clamav_opts_from_cfg(cfg, &o);
	if (*o.db_path == 0)
		return 0;
	(void)clamav_db_signature(o.db_path, sig_r, &e);
	if (clamav_engine_load(&o, e_r, &e) < 0) {
		if (startup)
			snprintf(err, sizeof(err), "clamav_database %s: %s (install clamav-freshclam to fetch "
			    "signatures, or set \"clamav_database =\" to run without virus scanning)", o.db_path, e);
		else
			snprintf(err, sizeof(err), "clamav_database %s: %s", o.db_path, e);
		*error_r = err;
		return -1;
	}
	return 0;
}

/* clamav_swap - make e the engine new workers get; the master's copy of
 * the old one is freed at once: workers forked with it keep their own
 * copy-on-write image of it until they exit */
static void clamav_swap(struct master *m, struct clamav_engine *e, uint64_t sig)
{
	if (m->clam)
		clamav_engine_free(&m->clam);
	m->clam = e;
	m->clam_sig = sig;
	m->clam_bad_sig = 0;
	strlcpy(m->clam_path, cfg_str(m->cfg, P_CLAMAV_DATABASE), sizeof(m->clam_path));
}

/* roll_workers - a new generation: old workers leave after their session */
static void roll_workers(struct master *m, const char *why)
{
	m->generation++;
	m->fails = 0;
	m->next_spawn = 0;
	signal_generation(m, SIGTERM, 1);
	log_info("%s: generation %u, %d workers", why, m->generation, m->target);
}

/* clamav_check - the database changed on disk: compile it beside the
 * running engine and roll the workers; a database that does not load
 * keeps the old engine serving, loudly, until it changes again */
static void clamav_check(struct master *m)
{
	long long every = cfg_int(m->cfg, P_CLAMAV_DB_CHECK_INTERVAL);
	struct clamav_engine *e = NULL;
	const char *err = NULL;
	uint64_t sig = 0;
	time_t now = time(NULL);

	if (m->clam == NULL || every == 0 || now - m->clam_checked < every)
		return;
	m->clam_checked = now;
	if (clamav_db_signature(m->clam_path, &sig, &err) < 0 || sig == m->clam_sig || sig == m->clam_bad_sig)
		return;
	log_info("ClamAV database %s changed: loading it", m->clam_path);
	if (clamav_load(m->cfg, &e, &sig, 0, &err) < 0) {
		log_error("ClamAV database reload FAILED, the previous signatures stay in service: %s", err);
		m->clam_bad_sig = sig;
		return;
	}
	clamav_swap(m, e, sig);
	roll_workers(m, "ClamAV database reloaded");
}

/* spawn_worker - fork one worker into a free slot; -1 when none started */
static int spawn_worker(struct master *m)
{
	const char *tmp_dir = NULL, *clam_dir = NULL, *err = NULL;
	struct worker_env env;
	int slot;
	pid_t pid;

	for (slot = 0; slot < MASTER_SLOTS; slot++)
		if (m->sb->slot[slot].pid == 0)
			break;
	if (slot == MASTER_SLOTS) {
		log_warning("scoreboard full; not starting a worker");
		m->next_spawn = time(NULL) + 1;
		return -1;
	}
	/* its private directories first: a worker that could not spool or
	 * let libclamav write would only tempfail mail */
	if (workdirs_make(m->wd, m->cfg, slot, &tmp_dir, &clam_dir, &err) < 0) {
		log_error("not starting a worker: %s", err);
		m->next_spawn = time(NULL) + 1;
		return -1;
	}
	memset(&m->sb->slot[slot], 0, sizeof(m->sb->slot[slot]));
	m->sb->slot[slot].state = SB_STARTING;
	m->sb->slot[slot].generation = m->generation;
	if ((pid = fork()) < 0) {
		log_error("fork: %m");
		workdirs_remove(m->wd, slot);
		m->sb->slot[slot].state = SB_EMPTY;
		m->next_spawn = time(NULL) + 1;
		return -1;
	}
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &sa, NULL);
		close(m->sigpipe[0]);
		close(m->sigpipe[1]);
		close(m->alive[1]);
		control_close_child(m->ctl);	/* workers must not hold the control sockets */
		sig_wfd = -1;
		m->sb->slot[slot].pid = getpid();
		env.cfg = m->cfg;
		env.listeners = m->listeners;
		env.nlisteners = m->nlisteners;
		env.sb = m->sb;
		env.slot = slot;
		env.master_fd = m->alive[0];
		env.generation = m->generation;
		env.tls_server = m->tls;
		env.myhostname = cfg_str(m->cfg, P_MYHOSTNAME);	/* never empty: lib/cfg.c */
		env.mydomain = cfg_str(m->cfg, P_MYDOMAIN);
		env.clamav = m->clam;
		env.policy = m->policy;
		env.banks = m->banks;
		env.tmp_dir = tmp_dir;
		scoreboard_attach(m->sb);	/* failure counters (scoreboard_event) */
		/* libclamav's temp files into the worker's own directory: this
		 * process's copy-on-write view of the engine only */
		if (m->clam && clamav_engine_set_tmpdir(m->clam, clam_dir, &err) < 0)
			log_fatal("%s", err);
		worker_main(&env);
	}
	m->sb->slot[slot].pid = pid;
	m->started[slot] = time(NULL);
	log_debug(LOG_DBG_MASTER, "started worker %ld in slot %d", (long)pid, slot);
	return 0;
}

/* count_current - workers of the current generation still alive */
static int count_current(struct master *m)
{
	int i, n = 0;

	for (i = 0; i < MASTER_SLOTS; i++)
		if (m->sb->slot[i].pid && m->sb->slot[i].generation == m->generation)
			n++;
	return n;
}

/* count_all - workers alive, of any generation */
static int count_all(struct master *m)
{
	int i, n = 0;

	for (i = 0; i < MASTER_SLOTS; i++)
		n += m->sb->slot[i].pid != 0;
	return n;
}

/* reap - collect dead workers; an early death without a clean exit
 * counts toward the spawn throttle */
static void reap(struct master *m)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MASTER_SLOTS; i++)
			if (m->sb->slot[i].pid == pid)
				break;
		if (i == MASTER_SLOTS)
			continue;
		if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
			if (WIFSIGNALED(status))
				log_warning("worker %ld died of signal %d (%s, %s)", (long)pid, WTERMSIG(status),
				    scoreboard_state_name(m->sb->slot[i].state),
				    m->sb->slot[i].queue_id[0] ? m->sb->slot[i].queue_id : "no message");
			else
				log_warning("worker %ld exited with status %d", (long)pid, WEXITSTATUS(status));
			if (time(NULL) - m->started[i] < THROTTLE_EARLY_DEATH) {
				int delay;

				m->fails++;
				delay = m->fails > 5 ? THROTTLE_MAX_DELAY : 1 << (m->fails - 1);
				if (delay > THROTTLE_MAX_DELAY)
					delay = THROTTLE_MAX_DELAY;
				m->next_spawn = time(NULL) + delay;
				log_warning("workers die right after start (%d in a row): next start in %d s",
				    m->fails, delay);
			}
		} else {
			m->fails = 0;
		}
		/* what it spooled or libclamav left, also after a SIGKILL */
		workdirs_remove(m->wd, i);
		memset(&m->sb->slot[i], 0, sizeof(m->sb->slot[i]));
	}
}

/* kill_stuck - a worker busy with one message past child_timeout is
 * killed; its client (Postfix) sees the connection drop and keeps the
 * message queued */
static void kill_stuck(struct master *m)
{
	time_t now = time(NULL);
	long long limit = cfg_int(m->cfg, P_CHILD_TIMEOUT);
	int i;

	for (i = 0; i < MASTER_SLOTS; i++) {
		struct sb_slot *s = &m->sb->slot[i];
		time_t t = s->task_since;

		if (s->pid && t && now - t > limit) {
			log_warning("worker %ld: task exceeded child_timeout of %llds (%s, %s): killed",
			    (long)s->pid, limit, scoreboard_state_name(s->state),
			    s->queue_id[0] ? s->queue_id : "-");
			kill(s->pid, SIGKILL);
			s->task_since = 0;
		}
	}
}

/* signal_generation - sig to every worker, or (only_old) to those of
 * older generations */
static void signal_generation(struct master *m, int sig, int only_old)
{
	int i;

	for (i = 0; i < MASTER_SLOTS; i++)
		if (m->sb->slot[i].pid && (!only_old || m->sb->slot[i].generation != m->generation))
			kill(m->sb->slot[i].pid, sig);
}

/* reload_refused - a reload that changes nothing: say why in the log
 * and to a "tollgate reload" waiting for the answer */
static void reload_refused(struct master *m, const char *err)
{
	log_error("reload failed, old configuration stays: %s", err);
	control_reload_reply(m->ctl, err, 0);
}

/* the pieces a reload builds beside the running ones */
struct master_next {
	struct cfg *cfg;
	struct policy *policy;
	struct banks *banks;
	struct ssl_ctx_st *tls;
	struct listener *listeners;
	int nlisteners;
	int target;
};

/* reload_build - everything of nx->cfg but the ClamAV engine, checked
 * as at start, the listeners bound (reusing the running sockets of the
 * same spec); -1 with *error_r at the first that fails */
static int reload_build(struct master *m, struct master_next *nx, const char **error_r)
{
	if ((nx->target = resolve_max_servers(nx->cfg, error_r)) < 0 ||
	    policy_build(nx->cfg, &nx->policy, error_r) < 0 ||
	    banks_build(nx->cfg, nx->policy, &nx->banks, error_r) < 0 ||
	    tls_server_context(nx->cfg, &nx->tls, error_r) < 0 ||
	    workdirs_check(nx->cfg, 1, error_r) < 0)
		return -1;
	return bind_listeners(nx->cfg, m->listeners, m->nlisteners, &nx->listeners, &nx->nlisteners, error_r);
}

/* reload_discard - a refused reload: free what it built, close the
 * sockets it opened, and go back to the running table generation tgen */
static void reload_discard(struct master *m, struct master_next *nx, unsigned tgen)
{
	close_unused_listeners(nx->listeners, nx->nlisteners, m->listeners, m->nlisteners);
	free(nx->listeners);
	if (nx->tls)
		SSL_CTX_free(nx->tls);
	banks_free(&nx->banks);
	policy_free(&nx->policy);
	cfg_free(&nx->cfg);
	table_generation_restore(tgen);
}

/*
 * reload_engine - signatures are reloaded with the configuration. A
 * database that does not load keeps the old engine, loudly (service
 * never stops), and *bad_sig_r is its fingerprint, which the poll must
 * not retry; -1 when there is no old engine to keep while the new
 * configuration wants one.
 */
static int reload_engine(struct master *m, const struct cfg *ncfg, struct clamav_engine **e_r, uint64_t *sig_r,
    uint64_t *bad_sig_r)
{
	const char *err = NULL;

	*bad_sig_r = 0;
	if (clamav_load(ncfg, e_r, sig_r, 0, &err) == 0)
		return 0;
	*bad_sig_r = *sig_r;
	log_error("ClamAV database reload FAILED, the previous signatures stay in service: %s", err);
	if (m->clam == NULL && *cfg_str(ncfg, P_CLAMAV_DATABASE)) {
		log_error("reload failed: no virus scanner to keep; old configuration stays");
		return -1;
	}
	*e_r = m->clam;
	*sig_r = m->clam_sig;
	m->clam = NULL;
	return 0;
}

/* reload_swap - the new pieces become the running ones; the old are
 * freed (policy_free closes the tables of the old generation) */
static void reload_swap(struct master *m, struct master_next *nx)
{
	close_unused_listeners(m->listeners, m->nlisteners, nx->listeners, nx->nlisteners);
	free(m->listeners);
	m->listeners = nx->listeners;
	m->nlisteners = nx->nlisteners;
	if (m->tls)
		SSL_CTX_free(m->tls);
	m->tls = nx->tls;
	banks_free(&m->banks);
	policy_free(&m->policy);
	cfg_free(&m->cfg);
	m->cfg = nx->cfg;
	m->policy = nx->policy;
	m->banks = nx->banks;
	m->target = nx->target;
}

/*
 * reload - SIGHUP: new config beside the old, swap only on success.
 * Every lookup table is opened anew in a new table generation (a file
 * table is read again even when its setting did not change), so a
 * table that no longer parses refuses the whole reload; then the table
 * generation goes back to the running one, so that what workers open
 * later (stacked policy banks) shares the running tables, not the files
 * that just failed.
 */
static void reload(struct master *m)
{
	struct master_next nx;
	struct clamav_engine *neng = NULL;
	uint64_t nsig = 0, bad_sig = 0;
	const char *err = NULL;
	unsigned tgen;

	log_info("reloading configuration %s", m->opts->config_path ? m->opts->config_path : "(defaults)");
	memset(&nx, 0, sizeof(nx));
	if (cfg_load(&nx.cfg, m->opts->config_path, &err) < 0) {
		reload_refused(m, err);
		return;
	}
	tgen = table_generation_next();
	if (reload_build(m, &nx, &err) < 0) {
		reload_refused(m, err);
		reload_discard(m, &nx, tgen);
		return;
	}
	/* configuration and tables are good: answer "tollgate reload" now,
	 * as compiling the signatures may take longer than it waits */
	control_reload_reply(m->ctl, NULL, m->generation + 1);
	if (reload_engine(m, nx.cfg, &neng, &nsig, &bad_sig) < 0) {
		reload_discard(m, &nx, tgen);
		return;
	}
	reload_swap(m, &nx);
	clamav_swap(m, neng, nsig);
	m->clam_bad_sig = bad_sig;
	log_debug_mask = 0;
	(void)log_debug_enable(cfg_str(m->cfg, P_DEBUG_MODULES));
	roll_workers(m, "configuration reloaded");
}

/* master_control - serve the control socket and metrics endpoint;
 * a "reload" or "stop" request sets the flag the signal would set */
static void master_control(struct master *m, const struct pollfd *pfd, int n)
{
	struct control_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.sb = m->sb;
	ci.nslots = MASTER_SLOTS;
	ci.generation = m->generation;
	ci.target = m->target;
	ci.started = m->t0;
	ci.clamav = m->clam != NULL;
	if (m->clam) {
		const struct clamav_engine_info *ei = clamav_engine_info(m->clam);

		ci.clamav_signatures = ei->signatures;
		ci.clamav_db_time = ei->db_time;
		ci.clamav_loaded_at = ei->loaded_at;
	}
	switch (control_handle(m->ctl, pfd, n, &ci)) {
	case CONTROL_RELOAD:
		got_hup = 1;
		break;
	case CONTROL_STOP:
		got_term = 1;
		break;
	default:
		break;
	}
}

/* master_notify - tell the service manager (systemd) our state */
static void master_notify(struct master *m, const char *state)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notify_send("%s\nMONOTONIC_USEC=%llu\nSTATUS=%s: %d workers, generation %u", state,
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL,
	    strcmp(state, "READY=1") == 0 ? "running" : strcmp(state, "RELOADING=1") == 0 ? "reloading" :
	    "stopping", m->target, m->generation);
}

/* write_pid_file - refuse to start twice; write our pid */
static int write_pid_file(const char *path)
{
	char buf[32];
	FILE *fp;

	if (*path == 0)
		return 0;
	if ((fp = fopen(path, "r")) != NULL) {
		long pid = 0;

		if (fscanf(fp, "%ld", &pid) == 1 && pid > 0 && pid != getpid() && kill((pid_t)pid, 0) == 0) {
			fclose(fp);
			log_error("pid file %s: tollgated already running as pid %ld", path, pid);
			return -1;
		}
		fclose(fp);
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if ((fp = fopen(path, "w")) == NULL || fputs(buf, fp) == EOF || fclose(fp) == EOF) {
		log_error("cannot write pid file %s: %m", path);
		return -1;
	}
	return 0;
}

/* daemonize - detach from the terminal */
static void daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal("fork: %m");
	if (pid > 0)
		_exit(0);
	setsid();
	if ((pid = fork()) < 0)
		log_fatal("fork: %m");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		log_fatal("chdir /: %m");
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > 2)
			close(fd);
	}
}

/* drain - SIGTERM: workers finish their sessions, bounded */
static void drain(struct master *m)
{
	long long limit = cfg_int(m->cfg, P_SHUTDOWN_TIMEOUT);
	time_t deadline = time(NULL) + limit;
	int i;

	log_info("stopping: draining %d workers (at most %llds)", count_all(m), limit);
	for (i = 0; i < m->nlisteners; i++)
		close(m->listeners[i].fd);
	signal_generation(m, SIGTERM, 0);
	while (count_all(m) > 0 && time(NULL) < deadline) {
		struct pollfd pfd = { m->sigpipe[0], POLLIN, 0 };
		char junk[64];

		(void)poll(&pfd, 1, 200);
		while (read(m->sigpipe[0], junk, sizeof(junk)) > 0)
			;
		reap(m);
	}
	if (count_all(m) > 0) {
		log_warning("%d workers still busy after %llds: killing them", count_all(m), limit);
		signal_generation(m, SIGKILL, 0);
		while (count_all(m) > 0 && waitpid(-1, NULL, 0) > 0)
			reap(m);
		reap(m);
	}
}

/* master_build - what the workers will inherit, from the configuration
 * given at start: policy, banks, TLS, the ClamAV engine, the listening
 * sockets, the workers' directories; -1 when tollgated cannot start
 * (logged). The engine is compiled before the sockets are bound, so
 * that Postfix finds nothing listening rather than a backlog that
 * nobody accepts while the signatures load. */
static int master_build(struct master *m)
{
	struct clamav_engine *e = NULL;
	const char *err = NULL;
	uint64_t sig = 0;

	if ((m->target = resolve_max_servers(m->cfg, &err)) < 0 ||
	    policy_build(m->cfg, &m->policy, &err) < 0 ||
	    banks_build(m->cfg, m->policy, &m->banks, &err) < 0 ||
	    tls_server_context(m->cfg, &m->tls, &err) < 0) {
		log_error("%s", cfg_error(m->cfg, err));
		return -1;
	}
	if (clamav_load(m->cfg, &e, &sig, 1, &err) < 0) {
		log_error("cannot start: %s", err);
		return -1;
	}
	clamav_swap(m, e, sig);
	m->clam_checked = time(NULL);
	if (e == NULL)
		log_warning("clamav_database is empty: virus scanning is OFF");
	if (bind_listeners(m->cfg, NULL, 0, &m->listeners, &m->nlisteners, &err) < 0) {
		log_error("%s", cfg_error(m->cfg, err));
		return -1;
	}
	if (workdirs_open(m->cfg, 0, &m->wd, &err) < 0) {
		log_error("cannot start: %s", err);
		return -1;
	}
	return 0;
}

/* master_detach - become the daemon: detach (unless foreground), the
 * pid file, the control socket and metrics endpoint, the pipes, the
 * signals and the scoreboard, before any worker starts; -1 (logged)
 * when tollgated cannot start */
static int master_detach(struct master *m)
{
	const char *err = NULL, *pid_file = cfg_str(m->cfg, P_PID_FILE);
	int i;

	if (!m->opts->foreground)
		daemonize();
	if (write_pid_file(pid_file) < 0)
		return -1;
	m->t0 = time(NULL);
	if (control_open(m->cfg, &m->ctl, &err) < 0) {
		log_error("cannot start: %s", err);
		if (*pid_file)
			(void)unlink(pid_file);
		return -1;
	}
	if (pipe2(m->alive, O_CLOEXEC) < 0)
		log_fatal("pipe: %m");
	master_signals(m);
	m->sb = scoreboard_create(MASTER_SLOTS);
	setproctitle("-tollgated: master");
	for (i = 0; i < m->nlisteners; i++)
		log_info("listening on %s", m->listeners[i].spec);
	log_info("tollgated %s started: %d workers, forwarding to %s", PACKAGE_VERSION, m->target,
	    cfg_str(m->cfg, P_FORWARD_METHOD));
	return 0;
}

/* master_loop - one turn a signal, a control request or a tick: serve
 * the control socket, reap, reload, kill the stuck, check the ClamAV
 * database, start workers up to max_servers; until SIGTERM or "stop" */
static void master_loop(struct master *m)
{
	while (!got_term) {
		struct pollfd pfd[1 + CONTROL_MAX_FDS] = { { m->sigpipe[0], POLLIN, 0 } };
		int npfd = 1 + control_pollfds(m->ctl, pfd + 1);
		char junk[64];
		time_t now;

		(void)poll(pfd, (nfds_t)npfd, MASTER_TICK_MS);
		while (read(m->sigpipe[0], junk, sizeof(junk)) > 0)
			;
		master_control(m, pfd + 1, npfd - 1);
		if (got_term)
			break;
		if (got_chld) {
			got_chld = 0;
			reap(m);
		}
		if (got_hup) {
			got_hup = 0;
			master_notify(m, "RELOADING=1");
			reload(m);
			master_notify(m, "READY=1");
		}
		kill_stuck(m);
		clamav_check(m);
		now = time(NULL);
		while (count_current(m) < m->target && now >= m->next_spawn)
			if (spawn_worker(m) < 0)
				break;
	}
}

/* master_stop - drain the workers, remove what the master made (the
 * workers' directories, the control socket, the pid file, unix
 * listeners' sockets) and free the rest */
static void master_stop(struct master *m)
{
	const char *pid_file = cfg_str(m->cfg, P_PID_FILE), *u;
	int i;

	drain(m);
	workdirs_close(&m->wd);
	control_close(&m->ctl);
	if (*pid_file)
		(void)unlink(pid_file);
	for (i = 0; i < m->nlisteners; i++)
		if ((u = strstr(m->listeners[i].spec, ":unix:")) != NULL)
			(void)unlink(u + 6);
	log_info("tollgated stopped");
	clamav_engine_free(&m->clam);
	banks_free(&m->banks);
	policy_free(&m->policy);
	cfg_free(&m->cfg);
	free(m->listeners);
}

/* master_run - the daemon, from start to stop (see daemon.h) */
int master_run(const struct master_opts *o, struct cfg *cfg)
{
	static struct master m;

	memset(&m, 0, sizeof(m));
	m.opts = o;
	m.cfg = cfg;
	(void)log_debug_enable(cfg_str(cfg, P_DEBUG_MODULES));
	if (master_build(&m) < 0 || master_detach(&m) < 0)
		return 1;
	master_notify(&m, "READY=1");
	master_loop(&m);
	master_notify(&m, "STOPPING=1");
	master_stop(&m);
	return 0;
}
