/*
 * control.c - the master's control socket and metrics listener (see
 * control.h): binding them, authenticating control peers with
 * SO_PEERCRED, and answering one request per connection.
 *
 * Requests and replies (first line "ok" or "error: TEXT"):
 *   status   "master pid=P generation=G target=N workers=W uptime=S version=V"
 *            then "worker slot=I pid=P state=S since=SECS queue_id=Q served=N generation=G"
 *            per slot in use (since: seconds in that state; queue_id "-" when none)
 *   stats    "uptime=S", "bytes=B", "messages=N", then
 *            "category NAME passed=N blocked=N tempfailed=N" per category,
 *            "rate WINDOW msgs_per_s=R bytes_per_s=R" for 1m 5m 15m,
 *            "stage NAME count=N avg_ms=M"
 *   reload   the master reloads as on SIGHUP, then answers: "ok reloading:
 *            configuration and tables accepted, generation G" once the
 *            new configuration and every table in it opened (the ClamAV
 *            signatures compile after that answer: it may take longer
 *            than the tool waits), or "error: reload refused, the running
 *            configuration stays: REASON" (a setting, a table that does
 *            not parse, a listener that does not bind)
 *   stop     "ok stopping": the master then drains and stops as on SIGTERM
 *   version  "ok tollgated VERSION"
 *
 * Deliberately left out: quarantine release and cluster-wide (Redis)
 * statistics; several requests per connection.
 * Limits: the rates need the master to have run for the window; before
 * that they are taken over the time it has run.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/control.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"

#define CONTROL_BACKLOG 16
#define CONTROL_ACCEPT_PER_TURN 8	/* connections served per socket per master turn */
#define CONTROL_RATE_SAMPLES (15 * 60 + 1)	/* one per second, 15 minutes */
#define CONTROL_MAX_GROUPS 256		/* supplementary groups looked at per peer */
#define METRICS_MAX_REQUEST 4096	/* bytes of an HTTP request head */
#define CONTROL_LINGER_MS 200		/* wait for the client's close after a reply */
#define CONTROL_LINGER_BYTES 65536	/* unread request bytes discarded at most */
#define CONTROL_MAX_PENDING 8		/* reload requests waiting for the reload's outcome */

struct rate_sample {
	time_t t;			/* 0: unused */
	uint64_t msgs, bytes;
};

struct control {
	int fd;				/* control socket, -1: none */
	int metrics_fd;			/* metrics listener, -1: none */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid;			/* the socket's group */
	struct rate_sample rate[CONTROL_RATE_SAMPLES];
	time_t last_sample;
	int pending[CONTROL_MAX_PENDING];	/* reload requesters waiting for the answer */
	int npending;
};

/* resolve_group - a group name or number; 0 or -1 */
static int resolve_group(const char *name, gid_t *gid_r)
{
	struct group *gr;
	char *end;
	unsigned long n;

	if ((gr = getgrnam(name)) != NULL) {
		*gid_r = gr->gr_gid;
		return 0;
	}
	n = strtoul(name, &end, 10);
	if (*name && *end == 0) {
		*gid_r = (gid_t)n;
		return 0;
	}
	return -1;
}

/* control_bind - the unix socket: stale files of a dead master are
 * replaced, a live one is not; owner us (root), mode 0600, or 0660 and
 * group gid when control_socket_group gives one */
static int control_bind(struct control *c, const char *path, const char **error_r)
{
	static char err[400];
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		snprintf(err, sizeof(err), "control_socket %.200s: path too long", path);
		goto fail;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, sizeof(err), "control_socket: socket: %s", strerror(errno));
		goto fail;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, sizeof(err), "control_socket %.200s: exists and is not a socket", path);
			close(fd);
			goto fail;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN) {
			snprintf(err, sizeof(err), "control_socket %.200s: in use by a running tollgated", path);
			close(fd);
			goto fail;
		}
		(void)unlink(path);
		close(fd);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
			snprintf(err, sizeof(err), "control_socket: socket: %s", strerror(errno));
			goto fail;
		}
	}
	old = umask(0177);		/* nobody else may connect before the chown */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		snprintf(err, sizeof(err), "control_socket %.200s: bind: %s (set \"control_socket =\" to "
		    "run without one)", path, strerror(errno));
		close(fd);
		goto fail;
	}
	umask(old);
	if (chown(path, geteuid(), c->gid == (gid_t)-1 ? getegid() : c->gid) < 0 ||
	    chmod(path, c->gid == (gid_t)-1 ? 0600 : 0660) < 0 || listen(fd, CONTROL_BACKLOG) < 0) {
		snprintf(err, sizeof(err), "control_socket %.200s: %s", path, strerror(errno));
		(void)unlink(path);
		close(fd);
		goto fail;
	}
	c->fd = fd;
	strlcpy(c->path, path, sizeof(c->path));
	return 0;
fail:
	*error_r = err;
	return -1;
}

/*
 * control_group - control_socket_group to a gid: (gid_t)-1 when empty
 * (root only). Whoever may connect may stop or reload the filter, so the
 * workers' group (daemon_group, or daemon_user's primary group) is
 * refused: a compromised worker must not be able to. 0 or -1 with err.
 */
static int control_group(const struct cfg *cfg, gid_t *gid_r, char *err, size_t errsz)
{
	const char *group = cfg_str(cfg, P_CONTROL_SOCKET_GROUP), *dgroup = cfg_str(cfg, P_DAEMON_GROUP);
	const char *duser = cfg_str(cfg, P_DAEMON_USER);
	struct passwd *pw;
	gid_t gid, wgid;

	*gid_r = (gid_t)-1;
	if (*group == 0)
		return 0;
	if (resolve_group(group, &gid) < 0) {
		snprintf(err, errsz, "control_socket_group: no such group \"%.100s\"", group);
		return -1;
	}
	if (*dgroup && resolve_group(dgroup, &wgid) == 0 && wgid == gid) {
		snprintf(err, errsz, "control_socket_group = %.100s is daemon_group, the workers' group: "
		    "a worker could stop or reload the filter; use another group, or none (root only)", group);
		return -1;
	}
	if (*duser && (pw = getpwnam(duser)) != NULL && pw->pw_gid == gid) {
		snprintf(err, errsz, "control_socket_group = %.100s is the group of daemon_user %.100s: "
		    "a worker could stop or reload the filter; use another group, or none (root only)", group, duser);
		return -1;
	}
	*gid_r = gid;
	return 0;
}

int control_open(const struct cfg *cfg, struct control **ctl_r, const char **error_r)
{
	static char err[400];
	const char *path = cfg_str(cfg, P_CONTROL_SOCKET);
	const char *mlisten = cfg_str(cfg, P_METRICS_LISTEN), *e = NULL;
	struct control *c = xcalloc(1, sizeof(*c));

	c->fd = c->metrics_fd = -1;
	if (control_group(cfg, &c->gid, err, sizeof(err)) < 0) {
		*error_r = err;
		free(c);
		return -1;
	}
	if (*path && control_bind(c, path, error_r) < 0) {
		free(c);
		return -1;
	}
	if (*mlisten) {
		struct endpoint ep;

		if (endpoint_parse(mlisten, &ep, &e) < 0 || ep.is_unix) {
			snprintf(err, sizeof(err), "metrics_listen %.200s: %s", mlisten,
			    e ? e : "expected ADDR:PORT");
			goto fail;
		}
		if ((c->metrics_fd = net_listen(&ep, CONTROL_BACKLOG, &e)) < 0) {
			snprintf(err, sizeof(err), "cannot listen on metrics_listen %.200s: %s", mlisten, e);
			goto fail;
		}
		log_info("metrics on http://%s/metrics", mlisten);
	}
	if (c->fd >= 0)
		log_info("control socket %s", c->path);
	*ctl_r = c;
	return 0;
fail:
	*error_r = err;
	control_close(&c);
	return -1;
}

int control_pollfds(const struct control *ctl, struct pollfd *pfd)
{
	int n = 0;

	if (ctl == NULL)
		return 0;
	if (ctl->fd >= 0) {
		pfd[n].fd = ctl->fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (ctl->metrics_fd >= 0) {
		pfd[n].fd = ctl->metrics_fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	return n;
}

/* ms_left - milliseconds until deadline (CLOCK_MONOTONIC), at least 0 */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* io_read_until - read into b until it holds end (a terminator) or max
 * bytes, the peer closes, or the deadline; 0 found, -1 otherwise */
static int io_read_until(int fd, struct buf *b, const char *end, size_t max, const struct timespec *dl)
{
	char chunk[512];
	ssize_t n;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (b->len && memmem(b->data, b->len, end, strlen(end)) != NULL)
			return 0;
		if (b->len >= max)
			return -1;
		if (poll(&p, 1, ms_left(dl)) <= 0)
			return -1;
		n = read(fd, chunk, sizeof(chunk) < max - b->len ? sizeof(chunk) : max - b->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return b->len && n == 0 && strcmp(end, "\n") == 0 ? 0 : -1;
		buf_append(b, chunk, (size_t)n);
	}
}

/* io_deadline - the deadline of one control exchange: now + CONTROL_IO_TIMEOUT_MS */
static void io_deadline(struct timespec *dl)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += CONTROL_IO_TIMEOUT_MS / 1000;
	dl->tv_nsec += (CONTROL_IO_TIMEOUT_MS % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

/* io_write_all - all of data before the deadline; 0 or -1 */
static int io_write_all(int fd, const char *data, size_t len, const struct timespec *dl)
{
	while (len) {
		struct pollfd p = { fd, POLLOUT, 0 };
		ssize_t n;

		if (poll(&p, 1, ms_left(dl)) <= 0)
			return -1;
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* io_linger - after the reply: half-close, then take what the client
 * still sends (an over-long or unread request) until it closes, briefly.
 * Closing with unread input would reset the connection and the client
 * could lose the reply. */
static void io_linger(int fd)
{
	struct timespec dl;
	char junk[4096];
	size_t total = 0;
	ssize_t n;

	(void)shutdown(fd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += CONTROL_LINGER_MS * 1000000L;
	while (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	while (total < CONTROL_LINGER_BYTES) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, ms_left(&dl)) <= 0)
			return;
		n = read(fd, junk, sizeof(junk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		total += (size_t)n;
	}
}

/* peer_allowed - root, or with control_socket_group that group as
 * primary group or a member of it; what the kernel says about the peer,
 * not what it claims */
static int peer_allowed(const struct control *c, int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	struct passwd *pw;
	gid_t groups[CONTROL_MAX_GROUPS];
	int ng = CONTROL_MAX_GROUPS, i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0 || len != sizeof(*cred))
		return 0;
	if (cred->uid == 0)
		return 1;
	if (c->gid == (gid_t)-1)
		return 0;
	if (cred->gid == c->gid)
		return 1;
	if ((pw = getpwuid(cred->uid)) == NULL)
		return 0;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0)
		ng = CONTROL_MAX_GROUPS;
	for (i = 0; i < ng; i++)
		if (groups[i] == c->gid)
			return 1;
	return 0;
}

/* rate_sample_now - remember the totals once per second */
static void rate_sample_now(struct control *c, const struct control_info *info, time_t now)
{
	struct sb_counters k;
	struct rate_sample *s;
	int i, j;

	if (now == c->last_sample || info->sb == NULL)
		return;
	c->last_sample = now;
	scoreboard_read(info->sb, &k);
	s = &c->rate[(size_t)now % CONTROL_RATE_SAMPLES];
	s->t = now;
	s->msgs = 0;
	for (i = 0; i < CC_MAJORS; i++)
		for (j = 0; j < SB_ACTIONS; j++)
			s->msgs += k.messages[i][j];
	s->bytes = k.bytes;
}

/* rate_over - messages and bytes per second over the last window seconds */
static void rate_over(const struct control *c, time_t now, int window, double *msgs_r, double *bytes_r)
{
	const struct rate_sample *cur = &c->rate[(size_t)now % CONTROL_RATE_SAMPLES], *old = NULL;
	int i;

	*msgs_r = *bytes_r = 0;
	if (cur->t != now)
		return;
	for (i = 0; i < CONTROL_RATE_SAMPLES; i++) {
		const struct rate_sample *s = &c->rate[i];

		if (s->t && s->t >= now - window && s->t < now && (old == NULL || s->t < old->t))
			old = s;
	}
	if (old == NULL)
		return;
	*msgs_r = (double)(cur->msgs - old->msgs) / (double)(now - old->t);
	*bytes_r = (double)(cur->bytes - old->bytes) / (double)(now - old->t);
}

/* reply_status - the scoreboard, one line per slot in use */
static void reply_status(struct buf *out, const struct control_info *info, time_t now)
{
	int i, n = 0;

	for (i = 0; i < info->nslots; i++)
		n += info->sb->slot[i].pid != 0;
	buf_printf(out, "ok\nmaster pid=%ld generation=%u target=%d workers=%d uptime=%lld version=%s\n",
	    (long)getpid(), info->generation, info->target, n, (long long)(now - info->started),
	    PACKAGE_VERSION);
	for (i = 0; i < info->nslots; i++) {
		const struct sb_slot *s = &info->sb->slot[i];
		char qid[sizeof(s->queue_id)], pr[2 * sizeof(s->queue_id)];
		pid_t pid = s->pid;
		time_t since = s->since;
		size_t k;

		if (pid == 0)
			continue;
		memcpy(qid, s->queue_id, sizeof(qid));
		qid[sizeof(qid) - 1] = 0;
		log_printable(pr, sizeof(pr), qid, strlen(qid));
		for (k = 0; pr[k]; k++)		/* one token: no blanks inside */
			if (pr[k] == ' ' || pr[k] == '=')
				pr[k] = '_';
		buf_printf(out, "worker slot=%d pid=%ld state=%s since=%lld queue_id=%s served=%lu generation=%u\n",
		    i, (long)pid, scoreboard_state_name(s->state),
		    since ? (long long)(now - since) : 0LL, pr[0] ? pr : "-", s->served, s->generation);
	}
}

/* reply_stats - local counters and rates */
static void reply_stats(struct control *c, struct buf *out, const struct control_info *info, time_t now)
{
	static const int windows[] = { 60, 300, 900 };
	static const char *wnames[] = { "1m", "5m", "15m" };
	struct sb_counters k;
	uint64_t total = 0;
	int i, j;

	scoreboard_read(info->sb, &k);
	for (i = 0; i < CC_MAJORS; i++)
		for (j = 0; j < SB_ACTIONS; j++)
			total += k.messages[i][j];
	buf_printf(out, "ok\nuptime=%lld\nmessages=%llu\nbytes=%llu\n", (long long)(now - info->started),
	    (unsigned long long)total, (unsigned long long)k.bytes);
	for (i = 0; i < CC_MAJORS; i++) {
		buf_printf(out, "category %s", category_label((unsigned)i));
		for (j = 0; j < SB_ACTIONS; j++)
			buf_printf(out, " %s=%llu", scoreboard_action_name(j), (unsigned long long)k.messages[i][j]);
		buf_putc(out, '\n');
	}
	for (i = 0; i < 3; i++) {
		double m, b;

		rate_over(c, now, windows[i], &m, &b);
		buf_printf(out, "rate %s msgs_per_s=%.3f bytes_per_s=%.1f\n", wnames[i], m, b);
	}
	for (i = 0; i < SB_STAGES; i++)
		buf_printf(out, "stage %s count=%llu avg_ms=%.1f\n", scoreboard_stage_name(i),
		    (unsigned long long)k.stage_count[i],
		    k.stage_count[i] ? (double)k.stage_sum_usec[i] / 1000.0 / (double)k.stage_count[i] : 0.0);
}

/* control_serve - one control connection: check the peer, read one
 * line, answer; *keep_r set when the connection waits for the outcome
 * of a reload (control_reload_reply() answers and closes it) */
static enum control_action control_serve(struct control *c, int fd, const struct control_info *info,
    int *keep_r)
{
	enum control_action act = CONTROL_NONE;
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct timespec dl;
	struct ucred cred;
	char *nl;
	time_t now = time(NULL);

	io_deadline(&dl);
	memset(&cred, 0, sizeof(cred));
	if (!peer_allowed(c, fd, &cred)) {
		log_warning("control: refused uid %ld pid %ld (not root nor in the socket's group)",
		    (long)cred.uid, (long)cred.pid);
		buf_puts(&out, "error: permission denied\n");
		goto reply;
	}
	if (io_read_until(fd, &in, "\n", CONTROL_MAX_REQUEST, &dl) < 0) {
		buf_puts(&out, in.len >= CONTROL_MAX_REQUEST ? "error: request too long\n" :
		    "error: incomplete request\n");
		goto reply;
	}
	if ((nl = memchr(in.data, '\n', in.len)) != NULL)
		*nl = 0;
	else
		buf_putc(&in, 0);
	if ((nl = strchr(in.data, '\r')) != NULL)
		*nl = 0;
	if (strcmp(in.data, "status") == 0) {
		reply_status(&out, info, now);
	} else if (strcmp(in.data, "stats") == 0) {
		reply_stats(c, &out, info, now);
	} else if (strcmp(in.data, "reload") == 0) {
		log_info("control: reload requested (uid %ld, pid %ld)", (long)cred.uid, (long)cred.pid);
		act = CONTROL_RELOAD;
		if (c->npending < CONTROL_MAX_PENDING) {
			c->pending[c->npending++] = fd;		/* answered after the reload */
			*keep_r = 1;
			buf_free(&in);
			return act;
		}
		/* more requesters than we keep: they share the reload, unanswered in detail */
		buf_printf(&out, "ok reloading (generation %u now; see the log for the outcome)\n",
		    info->generation);
	} else if (strcmp(in.data, "stop") == 0) {
		log_info("control: stop requested (uid %ld, pid %ld)", (long)cred.uid, (long)cred.pid);
		buf_puts(&out, "ok stopping\n");
		act = CONTROL_STOP;
	} else if (strcmp(in.data, "version") == 0) {
		buf_puts(&out, "ok tollgated " PACKAGE_VERSION "\n");
	} else {
		char pr[64];

		buf_printf(&out, "error: unknown request \"%s\" (status, stats, reload, stop, version)\n",
		    log_printable(pr, sizeof(pr), in.data, strlen(in.data)));
	}
reply:
	if (io_write_all(fd, out.data ? out.data : "", out.len, &dl) < 0)
		log_warning("control: the client did not take the reply");
	else
		io_linger(fd);
	buf_free(&in);
	buf_free(&out);
	return act;
}

/* metrics_serve - one HTTP/1.x request: GET /metrics, else 404/405 */
static void metrics_serve(int fd, const struct control_info *info)
{
	struct buf in = BUF_INIT, body = BUF_INIT, out = BUF_INIT;
	struct timespec dl;
	const char *status = "200 OK";
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += CONTROL_IO_TIMEOUT_MS / 1000 + 1;
	if (io_read_until(fd, &in, "\r\n\r\n", METRICS_MAX_REQUEST, &dl) < 0 &&
	    (in.len == 0 || memmem(in.data, in.len, "\n\n", 2) == NULL)) {
		status = "400 Bad Request";
		buf_puts(&body, "bad request\n");
	} else if (in.len < 4 || memcmp(in.data, "GET ", 4) != 0) {
		status = "405 Method Not Allowed";
		buf_puts(&body, "only GET\n");
	} else {
		for (i = 4; i < in.len && in.data[i] != ' ' && in.data[i] != '\r' && in.data[i] != '\n'; i++)
			;
		if ((i - 4 == 8 && memcmp(in.data + 4, "/metrics", 8) == 0) ||
		    (i - 4 > 8 && memcmp(in.data + 4, "/metrics?", 9) == 0)) {
			metrics_render(&body, info);
		} else {
			status = "404 Not Found";
			buf_puts(&body, "try /metrics\n");
		}
	}
	buf_printf(&out, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, body.len);
	buf_append(&out, body.data ? body.data : "", body.len);
	if (io_write_all(fd, out.data, out.len, &dl) < 0)
		log_debug(LOG_DBG_MASTER, "metrics: the client did not take the reply");
	else
		io_linger(fd);
	buf_free(&in);
	buf_free(&body);
	buf_free(&out);
}

enum control_action control_handle(struct control *ctl, const struct pollfd *pfd, int npfd,
    const struct control_info *info)
{
	enum control_action act = CONTROL_NONE, a;
	time_t now = time(NULL);
	int i, k, fd;

	if (ctl == NULL)
		return CONTROL_NONE;
	rate_sample_now(ctl, info, now);
	for (i = 0; i < npfd; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		for (k = 0; k < CONTROL_ACCEPT_PER_TURN; k++) {
			if ((fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
				break;
			if (pfd[i].fd == ctl->fd) {
				int keep = 0;

				a = control_serve(ctl, fd, info, &keep);
				if (a == CONTROL_STOP || (a == CONTROL_RELOAD && act == CONTROL_NONE))
					act = a;
				if (keep)
					continue;
			} else {
				metrics_serve(fd, info);
			}
			close(fd);
		}
	}
	return act;
}

/* control_reload_reply - the outcome of a reload to every "reload"
 * requester waiting for it; error NULL: accepted, generation is the
 * one the new workers get */
void control_reload_reply(struct control *ctl, const char *error, unsigned generation)
{
	struct buf out = BUF_INIT;
	struct timespec dl;
	char pr[600];
	int i;

	if (ctl == NULL || ctl->npending == 0)
		return;
	if (error != NULL)
		buf_printf(&out, "error: reload refused, the running configuration stays: %s\n",
		    log_printable(pr, sizeof(pr), error, strlen(error)));
	else
		buf_printf(&out, "ok reloading: configuration and tables accepted, generation %u\n", generation);
	for (i = 0; i < ctl->npending; i++) {
		io_deadline(&dl);
		if (io_write_all(ctl->pending[i], out.data, out.len, &dl) < 0)
			log_warning("control: the client did not take the reload reply");
		else
			io_linger(ctl->pending[i]);
		close(ctl->pending[i]);
	}
	ctl->npending = 0;
	buf_free(&out);
}

void control_close_child(struct control *ctl)
{
	int i;

	if (ctl == NULL)
		return;
	for (i = 0; i < ctl->npending; i++)
		close(ctl->pending[i]);
	ctl->npending = 0;
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->metrics_fd >= 0)
		close(ctl->metrics_fd);
	ctl->fd = ctl->metrics_fd = -1;
}

void control_close(struct control **ctlp)
{
	struct control *c = *ctlp;

	if (c == NULL)
		return;
	control_reload_reply(c, "tollgated is stopping", 0);
	if (c->fd >= 0) {
		close(c->fd);
		(void)unlink(c->path);
	}
	if (c->metrics_fd >= 0)
		close(c->metrics_fd);
	free(c);
	*ctlp = NULL;
}
