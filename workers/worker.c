/*
 * worker.c - a worker's whole life, top to bottom: signals → drop
 * privileges → tell the master "ready" (scoreboard) → loop: wait for a
 * connection on any listener, serve that one session to its end, count;
 * leave after max_requests, when the master is gone, or when told to
 * drain → clean up → exit.
 *
 * One connection at a time, blocking, like a Postfix service child: the
 * number of workers is exactly the concurrency offered to Postfix.
 * Several workers wait on the same listening sockets; a worker that
 * loses the race to accept() just waits again.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "lib/log.h"
#include "lib/netio.h"
#include "routing/routing.h"
#include "workers/workers.h"

#define WORKER_POLL_MS 1000	/* wake-up to expire cached connections */

static struct worker *the_worker;

/* on_term - drain: an idle worker leaves at once, a busy one after its session */
static void on_term(int sig)
{
	(void)sig;
	if (the_worker)
		the_worker->draining = 1;
}

/* worker_signals - SIGTERM drains; no SA_RESTART so a waiting poll() wakes */
static void worker_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
}

/*
 * worker_dumpable - a worker holds the STARTTLS key, the Redis password
 * and mail: not dumpable, so no other process of daemon_user may ptrace
 * it or read its /proc files, and no core file carries them. The
 * setuid() of the privilege drop already cleared the flag (unless
 * fs.suid_dumpable says otherwise); it is cleared here whatever the
 * sysctl says, and also when no drop took place. debug_dumpable = yes
 * turns it on, for core files and a debugger.
 */
static void worker_dumpable(const struct cfg *cfg)
{
#ifdef HAVE_SYS_PRCTL_H
	int on = cfg_int(cfg, P_DEBUG_DUMPABLE) != 0;

	if (prctl(PR_SET_DUMPABLE, on ? 1 : 0) < 0)
		log_fatal("prctl(PR_SET_DUMPABLE, %d): %m", on);
	if (on)
		log_debug(LOG_DBG_MASTER, "debug_dumpable = yes: worker %ld is dumpable", (long)getpid());
#else
	(void)cfg;
#endif
}

/* worker_drop_privileges - become daemon_user/daemon_group; a worker that
 * cannot must not serve mail as root, so failure is fatal */
static void worker_drop_privileges(const struct cfg *cfg)
{
	const char *user = cfg_str(cfg, P_DAEMON_USER), *group = cfg_str(cfg, P_DAEMON_GROUP);
	struct passwd *pw;
	gid_t gid;

	if (*user == 0 || geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		log_fatal("daemon_user %s: no such user", user);
	gid = pw->pw_gid;
	if (*group) {
		struct group *gr = getgrnam(group);

		if (gr == NULL)
			log_fatal("daemon_group %s: no such group", group);
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
		log_fatal("cannot drop privileges to %s: %m", user);
	if (setuid(0) == 0)
		log_fatal("privilege drop to %s did not stick", user);
}

void worker_set_state(struct worker *w, enum sb_state st, const char *queue_id)
{
	const struct worker_env *env = w->env;

	scoreboard_set(env->sb, env->slot, st, queue_id);
	if (queue_id && *queue_id)
		setproctitle("-tollgated: worker %s %s", scoreboard_state_name(st), queue_id);
	else
		setproctitle("-tollgated: worker %s", scoreboard_state_name(st));
}

#define WORKER_MAX_ACL 256

static struct cidr worker_acl[WORKER_MAX_ACL];
static int worker_nacl;

/* worker_acl_load - inet_acl, parsed once per worker (the master already
 * refused a configuration whose list does not parse) */
static void worker_acl_load(const struct cfg *cfg)
{
	char *const *l;
	int n, i;

	l = cfg_list(cfg, P_INET_ACL, &n);
	for (i = 0; i < n && worker_nacl < WORKER_MAX_ACL; i++)
		if (cidr_parse(l[i], &worker_acl[worker_nacl]) == 0)
			worker_nacl++;
}

/*
 * worker_allowed - inet_acl for an inet listener's client (w->client_addr,
 * from accept), as amavisd's @inet_acl: anyone else gets "554 5.7.1"
 * (SMTP/LMTP) or just the close (milter, AM.PDP), and a DENIED ACCESS
 * log line. Unix sockets are guarded by their file permissions instead.
 */
static int worker_allowed(const struct worker *w, int fd, const struct listener *l)
{
	const char *addr = w->client_addr;
	int i;

	if (addr[0] == 0)
		return 1;	/* a unix socket */
	for (i = 0; i < worker_nacl; i++)
		if (cidr_match(&worker_acl[i], addr))
			return 1;
	log_warning("DENIED ACCESS from IP %s, listener %s", addr, l->spec);
	if (l->proto == LISTEN_SMTP || l->proto == LISTEN_LMTP) {
		static const char deny[] = "554 5.7.1 Access denied\r\n";

		(void)!write(fd, deny, sizeof(deny) - 1);
	}
	return 0;
}

/* worker_accept - one connection from whichever listener is ready, its
 * peer's address in w->client_addr/client_port (accept's, so no
 * getpeername() per session); -1 when there is none (lost the race,
 * timeout, or a signal) */
static int worker_accept(struct worker *w, const struct listener **l_r, int *master_gone)
{
	const struct worker_env *env = w->env;
	struct pollfd pfd[env->nlisteners + 1];
	int i, n;

	for (i = 0; i < env->nlisteners; i++) {
		pfd[i].fd = env->listeners[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	pfd[i].fd = env->master_fd;
	pfd[i].events = POLLIN;
	pfd[i].revents = 0;
	n = poll(pfd, (nfds_t)env->nlisteners + 1, WORKER_POLL_MS);
	if (n <= 0)
		return -1;
	if (pfd[env->nlisteners].revents) {
		*master_gone = 1;
		return -1;
	}
	for (i = 0; i < env->nlisteners; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd;

		if (!(pfd[i].revents & POLLIN))
			continue;
		fd = accept4(pfd[i].fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warning("accept on %s: %m", env->listeners[i].spec);
			continue;
		}
		net_addr_numeric((struct sockaddr *)&ss, sslen, w->client_addr, sizeof(w->client_addr),
		    w->client_port, sizeof(w->client_port));
		*l_r = &env->listeners[i];
		return fd;
	}
	return -1;
}

void worker_main(const struct worker_env *env)
{
	static struct worker w;
	const struct cfg *cfg = env->cfg;
	long long max_requests = cfg_int(cfg, P_MAX_REQUESTS);
	struct deliver_opts dopts;
	int master_gone = 0;

	memset(&w, 0, sizeof(w));
	w.env = env;
	w.cfg = cfg;
	the_worker = &w;
	w.pid = getpid();
	worker_signals();
	close(STDIN_FILENO);
	worker_drop_privileges(cfg);
	worker_dumpable(cfg);
	w.dcache = deliver_cache_create();
	worker_acl_load(cfg);
	memset(&dopts, 0, sizeof(dopts));
	dopts.cache_time = (int)cfg_int(cfg, P_FORWARD_CONNECTION_CACHE_TIME);
	worker_set_state(&w, SB_IDLE, NULL);

	while (!w.draining && !master_gone &&
	    (max_requests == 0 || w.messages < (unsigned long)max_requests)) {
		const struct listener *l = NULL;
		int fd = worker_accept(&w, &l, &master_gone);

		if (fd < 0) {
			deliver_cache_expire(w.dcache, &dopts, time(NULL));
			continue;
		}
		if (!worker_allowed(&w, fd, l)) {
			close(fd);
			continue;
		}
		w.sessions++;
		worker_set_state(&w, SB_SESSION, NULL);
		if (l->proto == LISTEN_MILTER)
			milter_session(&w, fd, l);
		else if (l->proto == LISTEN_AMPDP)
			ampdp_session(&w, fd, l);
		else
			smtpd_session(&w, fd, l);
		log_set_session(NULL);
		worker_set_state(&w, SB_IDLE, NULL);
	}

	if (master_gone)
		log_warning("master process went away: worker exits");
	else if (!w.draining)
		log_debug(LOG_DBG_MASTER, "worker retires after %lu messages", w.messages);
	worker_set_state(&w, SB_EXITING, NULL);
	deliver_cache_free(&w.dcache);
	exit(0);
}
