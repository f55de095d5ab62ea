/*
 * tollgate_ctl.c - the subcommands that talk to a running tollgated
 * over its control socket (status, stats, reload, stop, version), and
 * check-config, which runs "tollgated -t" so that there is exactly one
 * configuration check.
 *
 * The socket is -s PATH, else control_socket of -c FILE, else of the
 * default configuration file, else the built-in default. The protocol
 * is in daemon/control.c: one request line, a reply whose first line is
 * "ok..." or "error: ...", then the connection closes.
 *
 * Limits: a reply is read up to CTL_MAX_REPLY bytes within
 * CTL_TIMEOUT_S seconds.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "ops/tollgate.h"

#define CTL_MAX_REPLY (4 * 1024 * 1024)
#define CTL_TIMEOUT_S 10
#define CTL_MAX_FIELDS 16

#ifndef SBINDIR
#define SBINDIR "/usr/local/sbin"
#endif

/* tollgate_default_config - the installed configuration file, if any */
const char *tollgate_default_config(void)
{
	static const char path[] = SYSCONFDIR "/tollgate/tollgate.conf";

	return access(path, R_OK) == 0 ? path : NULL;
}

/* tollgate_load_config - path, else the default file, else the defaults */
int tollgate_load_config(const char *path, struct cfg **cfg_r)
{
	const char *err = NULL;

	if (path == NULL)
		path = tollgate_default_config();
	if (cfg_load(cfg_r, path, &err) < 0) {
		fprintf(stderr, "tollgate: %s\n", err);
		return -1;
	}
	return 0;
}

/* ctl_options - -s SOCKET / -c FILE; the socket path into sock (static
 * or argv storage); 0, or 2 on a usage error. *next_r: first operand */
static int ctl_options(int argc, char **argv, const char **sock_r, int *next_r)
{
	static char path[PATH_MAX];
	const char *sock = NULL, *conf = NULL;
	struct cfg *cfg = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			sock = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else
			break;
	}
	*next_r = i;
	if (sock == NULL) {
		if (tollgate_load_config(conf, &cfg) < 0)
			return 2;
		strlcpy(path, cfg_str(cfg, P_CONTROL_SOCKET), sizeof(path));
		cfg_free(&cfg);
		if (*path == 0) {
			fprintf(stderr, "tollgate: control_socket is empty in the configuration: no control socket\n");
			return 2;
		}
		sock = path;
	}
	*sock_r = sock;
	return 0;
}

/* ctl_request - send one request, read the whole reply into out; 0 when
 * its first line starts with "ok", 1 on "error:" (printed), 2 when the
 * daemon cannot be reached */
static int ctl_request(const char *sock, const char *req, struct buf *out)
{
	struct sockaddr_un sun;
	struct timeval tv = { CTL_TIMEOUT_S, 0 };
	char chunk[4096];
	ssize_t n;
	int fd, send_errno;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, sock, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tollgate: %s: socket path too long\n", sock);
		return 2;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		perror("tollgate: socket");
		return 2;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "tollgate: cannot connect to %s: %s%s\n", sock, strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED ? " (is tollgated running?)" :
		    errno == EACCES ? " (root or the socket's group only)" : "");
		close(fd);
		return 2;
	}
	snprintf(chunk, sizeof(chunk), "%s\n", req);
	/* a refusal may come before the request is taken: read the reply anyway */
	send_errno = send(fd, chunk, strlen(chunk), MSG_NOSIGNAL) < 0 ? errno : 0;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (send_errno)
				errno = send_errno;
			fprintf(stderr, "tollgate: %s: %s\n", sock, errno == EAGAIN ? "no reply in time" : strerror(errno));
			close(fd);
			return 2;
		}
		if (out->len + (size_t)n > CTL_MAX_REPLY) {
			fprintf(stderr, "tollgate: %s: reply too long\n", sock);
			close(fd);
			return 2;
		}
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	buf_putc(out, 0);
	out->len--;
	if (out->len >= 2 && strncmp(out->data, "ok", 2) == 0)
		return 0;
	fprintf(stderr, "tollgate: %s\n", out->len ? strtok(out->data, "\n") : "empty reply (permission denied?)");
	return 1;
}

/* field - value of "key=" in a space-separated line, copied into v */
static const char *field(const char *line, const char *key, char *v, size_t vsz)
{
	size_t kl = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, " \n");

			if (n >= vsz)
				n = vsz - 1;
			memcpy(v, p + kl + 1, n);
			v[n] = 0;
			return v;
		}
		p += kl;
	}
	strlcpy(v, "?", vsz);
	return v;
}

/* human_secs - "42s", "3m07s", "2h05m", "4d03h" */
static const char *human_secs(const char *s, char *out, size_t outsz)
{
	long long t = atoll(s);

	if (t < 60)
		snprintf(out, outsz, "%llds", t);
	else if (t < 3600)
		snprintf(out, outsz, "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(out, outsz, "%lldh%02lldm", t / 3600, t % 3600 / 60);
	else
		snprintf(out, outsz, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
	return out;
}

/* print_status - the reply of "status" as a table */
static void print_status(char *reply)
{
	char *line, *save = NULL;
	char a[64], b[64], c[64], d[64], e[64], f[64], g[64];

	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "master ", 7) == 0) {
			printf("tollgated %s: master pid %s, generation %s, %s workers (max_servers %s), up %s\n",
			    field(line, "version", a, sizeof(a)), field(line, "pid", b, sizeof(b)),
			    field(line, "generation", c, sizeof(c)), field(line, "workers", d, sizeof(d)),
			    field(line, "target", e, sizeof(e)), human_secs(field(line, "uptime", f, sizeof(f)), g,
			    sizeof(g)));
			printf("%-8s %-11s %7s  %-20s %7s %4s\n", "PID", "STATE", "SINCE", "QUEUE-ID", "SERVED", "GEN");
		} else if (strncmp(line, "worker ", 7) == 0) {
			printf("%-8s %-11s %7s  %-20s %7s %4s\n", field(line, "pid", a, sizeof(a)),
			    field(line, "state", b, sizeof(b)), human_secs(field(line, "since", c, sizeof(c)), g,
			    sizeof(g)), field(line, "queue_id", d, sizeof(d)), field(line, "served", e, sizeof(e)),
			    field(line, "generation", f, sizeof(f)));
		}
	}
}

/* cmd_status - "tollgate status": the workers, like amavisd-nanny */
int cmd_status(int argc, char **argv)
{
	const char *sock;
	int i, rc, watch = 0, every = 2;

	if ((rc = ctl_options(argc, argv, &sock, &i)) != 0)
		return rc;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--watch") == 0 || strcmp(argv[i], "-w") == 0) {
			watch = 1;
			if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
				every = atoi(argv[++i]);
				if (every < 1)
					every = 1;
			}
		} else {
			fprintf(stderr, "usage: tollgate status [-s SOCKET | -c FILE] [--watch [SECS]]\n");
			return 2;
		}
	}
	for (;;) {
		struct buf out = BUF_INIT;

		rc = ctl_request(sock, "status", &out);
		if (watch && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		if (rc == 0)
			print_status(out.data);
		buf_free(&out);
		if (!watch)
			return rc;
		if (fflush(stdout) != 0)
			return 2;
		sleep((unsigned)every);
		if (!isatty(STDOUT_FILENO))
			putchar('\n');
	}
}

/* cmd_stats - "tollgate stats": the counters of this node */
int cmd_stats(int argc, char **argv)
{
	struct buf out = BUF_INIT;
	const char *sock;
	char *line, *save = NULL, a[64], b[64], c[64], d[64];
	int i, rc;

	if ((rc = ctl_options(argc, argv, &sock, &i)) != 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "usage: tollgate stats [-s SOCKET | -c FILE]\n");
		return 2;
	}
	if ((rc = ctl_request(sock, "stats", &out)) != 0) {
		buf_free(&out);
		return rc;
	}
	for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "uptime=", 7) == 0) {
			printf("uptime %s\n", human_secs(line + 7, a, sizeof(a)));
		} else if (strncmp(line, "messages=", 9) == 0) {
			printf("messages %s\n", line + 9);
		} else if (strncmp(line, "bytes=", 6) == 0) {
			printf("bytes %s\n\n%-12s %10s %10s %10s\n", line + 6, "CATEGORY", "PASSED", "BLOCKED",
			    "TEMPFAILED");
		} else if (strncmp(line, "category ", 9) == 0) {
			size_t n = strcspn(line + 9, " ");

			printf("%-12.*s %10s %10s %10s\n", (int)n, line + 9, field(line, "passed", a, sizeof(a)),
			    field(line, "blocked", b, sizeof(b)), field(line, "tempfailed", c, sizeof(c)));
		} else if (strncmp(line, "rate ", 5) == 0) {
			size_t n = strcspn(line + 5, " ");

			if (strncmp(line + 5, "1m ", 3) == 0)
				printf("\n%-12s %10s %12s\n", "RATE", "MSGS/S", "BYTES/S");
			printf("%-12.*s %10s %12s\n", (int)n, line + 5, field(line, "msgs_per_s", a, sizeof(a)),
			    field(line, "bytes_per_s", b, sizeof(b)));
		} else if (strncmp(line, "stage ", 6) == 0) {
			size_t n = strcspn(line + 6, " ");

			if (strncmp(line + 6, "receive ", 8) == 0)
				printf("\n%-12s %10s %10s\n", "STAGE", "COUNT", "AVG-MS");
			printf("%-12.*s %10s %10s\n", (int)n, line + 6, field(line, "count", c, sizeof(c)),
			    field(line, "avg_ms", d, sizeof(d)));
		}
	}
	buf_free(&out);
	return 0;
}

/* simple_request - reload, stop, version: print the reply after "ok " */
static int simple_request(int argc, char **argv, const char *req)
{
	struct buf out = BUF_INIT;
	const char *sock;
	int i, rc;

	if ((rc = ctl_options(argc, argv, &sock, &i)) != 0)
		return rc;
	if (i != argc) {
		fprintf(stderr, "usage: tollgate %s [-s SOCKET | -c FILE]\n", req);
		return 2;
	}
	if ((rc = ctl_request(sock, req, &out)) == 0)
		printf("%s", out.len > 3 ? out.data + 3 : "ok\n");
	buf_free(&out);
	return rc;
}

/* cmd_reload - "tollgate reload": as SIGHUP, waiting for the answer */
int cmd_reload(int argc, char **argv)
{
	return simple_request(argc, argv, "reload");
}

/* cmd_stop - "tollgate stop": as SIGTERM */
int cmd_stop(int argc, char **argv)
{
	return simple_request(argc, argv, "stop");
}

/* cmd_version - "tollgate version": the running daemon's */
int cmd_version(int argc, char **argv)
{
	return simple_request(argc, argv, "version");
}

/* find_tollgated - $TOLLGATED, next to this program, ../sbin of it,
 * the configured sbindir, else "tollgated" from PATH */
static const char *find_tollgated(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX], *slash;
	const char *env = getenv("TOLLGATED");
	ssize_t n;

	if (env && *env)
		return env;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = 0;
			if (snprintf(path, sizeof(path), "%s/tollgated", self) < (int)sizeof(path) &&
			    access(path, X_OK) == 0)
				return path;
			if (snprintf(path, sizeof(path), "%s/../sbin/tollgated", self) < (int)sizeof(path) &&
			    access(path, X_OK) == 0)
				return path;
		}
	}
	if (access(SBINDIR "/tollgated", X_OK) == 0)
		return SBINDIR "/tollgated";
	return "tollgated";
}

/* run_tollgated - exec tollgated [-c FILE] FLAG: the daemon's own
 * configuration code answers, so the tool can never disagree with it */
static int run_tollgated(const char *usage, const char *flag, int argc, char **argv, int first)
{
	const char *conf = NULL, *bin = find_tollgated();
	char *args[5];
	int i, k = 0;

	for (i = first; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf = argv[++i];
		} else {
			fprintf(stderr, "usage: %s\n", usage);
			return 2;
		}
	}
	if (conf == NULL)
		conf = tollgate_default_config();
	args[k++] = "tollgated";
	if (conf) {
		args[k++] = "-c";
		args[k++] = (char *)conf;
	}
	args[k++] = (char *)flag;
	args[k] = NULL;
	fflush(stdout);
	execvp(bin, args);
	fprintf(stderr, "tollgate: cannot run %s: %s (set TOLLGATED=/path/to/tollgated)\n", bin, strerror(errno));
	return 2;
}

/* cmd_check_config - "tollgate check-config": tollgated -t */
int cmd_check_config(int argc, char **argv)
{
	return run_tollgated("tollgate check-config [-c FILE]", "-t", argc, argv, 1);
}

/* cmd_config - "tollgate config -n|-a|-d [-c FILE]": the settings, like
 * postconf -n (set in the file), postconf (all effective), postconf -d */
int cmd_config(int argc, char **argv)
{
	const char *usage = "tollgate config -n | -a | -d [-c FILE]";

	if (argc < 2 || (strcmp(argv[1], "-n") != 0 && strcmp(argv[1], "-a") != 0 && strcmp(argv[1], "-d") != 0)) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	return run_tollgated(usage, argv[1], argc, argv, 2);
}
