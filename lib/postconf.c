/*
 * postconf.c - running postconf(1) and reading its answers (see
 * postconf.h): one runner for the daemon and the control tool.
 *
 * The child is started with fork/execvp and a fixed argument vector (no
 * shell, nothing of the configuration is interpreted); the parent reads
 * its standard output with poll() against one deadline for the whole
 * run, so a postconf that hangs (a stuck NFS mount under /etc/postfix)
 * costs POSTCONF_TIMEOUT_MS at most and is then killed and reaped.
 *
 * Leaves out: parsing main.cf or master.cf ourselves; postconf knows
 * Postfix's defaults and its $name expansion, we do not.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postconf.h"

static char postconf_err[200];

/* postconf_fail - set *error_r to a formatted reason; returns -1 */
#define postconf_fail(error_r, ...) error_fmt(postconf_err, sizeof(postconf_err), (error_r), __VA_ARGS__)

/* postconf_now_ms - a monotonic clock in milliseconds */
static long long postconf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* postconf_child - in the forked child: stdout to the pipe, stderr to
 * /dev/null, then exec postconf; never returns */
static void postconf_child(int pfd[2], char *const argv[])
{
	int devnull = open("/dev/null", O_WRONLY);

	dup2(pfd[1], STDOUT_FILENO);
	if (devnull >= 0)
		dup2(devnull, STDERR_FILENO);
	close(pfd[0]);
	close(pfd[1]);
	execvp("postconf", argv);
	_exit(127);
}

/* postconf_read - the child's output into out until EOF, the deadline
 * or the size bound; 0 at EOF, -1 with *error_r otherwise */
static int postconf_read(int fd, struct buf *out, const char **error_r)
{
	long long deadline = postconf_now_ms() + POSTCONF_TIMEOUT_MS, left;
	size_t got = 0;
	char chunk[4096];
	ssize_t n;

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if ((left = deadline - postconf_now_ms()) <= 0)
			return postconf_fail(error_r, "postconf did not finish within %ds", POSTCONF_TIMEOUT_MS / 1000);
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return postconf_fail(error_r, "poll: %s", strerror(errno));
		}
		if (pfd.revents == 0)
			continue;
		if ((n = read(fd, chunk, sizeof(chunk))) == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return postconf_fail(error_r, "reading postconf's output: %s", strerror(errno));
		}
		if ((got += (size_t)n) > POSTCONF_MAX_OUTPUT)
			return postconf_fail(error_r, "postconf wrote more than %d bytes", POSTCONF_MAX_OUTPUT);
		buf_append(out, chunk, (size_t)n);
	}
}

/* postconf_run - run postconf, collect its output (see postconf.h) */
int postconf_run(const char *dir, const char *const *args, struct buf *out, const char **error_r)
{
	const char *argv[POSTCONF_MAX_ARGS + 4];
	int pfd[2], status = 0, i = 0, k, rc;
	pid_t pid;

	argv[i++] = "postconf";
	if (dir && *dir) {
		argv[i++] = "-c";
		argv[i++] = dir;
	}
	for (k = 0; args[k]; k++) {
		if (k == POSTCONF_MAX_ARGS)
			return postconf_fail(error_r, "postconf: more than %d arguments", POSTCONF_MAX_ARGS);
		argv[i++] = args[k];
	}
	argv[i] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return postconf_fail(error_r, "pipe: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return postconf_fail(error_r, "fork: %s", strerror(errno));
	}
	if (pid == 0)
		postconf_child(pfd, (char *const *)argv);
	close(pfd[1]);
	buf_append(out, "", 0);	/* NUL-terminated even when postconf says nothing */
	rc = postconf_read(pfd[0], out, error_r);
	close(pfd[0]);
	if (rc < 0)
		kill(pid, SIGKILL);	/* our own child: timed out or too talkative */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return postconf_fail(error_r, "cannot run postconf (not on PATH?)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return postconf_fail(error_r, "postconf %.60s %.100s failed (%s %d)", args[0] ? args[0] : "",
		    args[0] && args[1] ? args[1] : "", WIFEXITED(status) ? "status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return 0;
}

/* postconf_value - one main.cf value */
int postconf_value(const char *dir, const char *name, struct buf *out, const char **error_r)
{
	const char *args[] = { "-h", name, NULL };

	buf_reset(out);
	if (postconf_run(dir, args, out, error_r) < 0)
		return -1;
	while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
		out->data[--out->len] = 0;
	return 0;
}

/* postconf_service - one master.cf entry in tokens */
int postconf_service(const char *dir, const char *service, struct buf *out, char **tok, int max,
    const char **error_r)
{
	const char *args[] = { "-M", service, NULL };
	char *save = NULL, *t;
	int n = 0;

	buf_reset(out);
	if (postconf_run(dir, args, out, error_r) < 0)
		return -1;
	for (t = strtok_r(out->data, " \t\n", &save); t && n < max; t = strtok_r(NULL, " \t\n", &save))
		tok[n++] = t;
	return n;
}

/* postconf_maxproc - a maxproc field as a number */
int postconf_maxproc(const char *dir, const char *field)
{
	struct buf v = BUF_INIT;
	const char *err = NULL;
	int n = -1;

	if (strcmp(field, "-") != 0)
		return atoi(field);
	if (postconf_value(dir, "default_process_limit", &v, &err) == 0 && v.len)
		n = atoi(v.data);
	buf_free(&v);
	return n;
}
