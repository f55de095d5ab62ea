/*
 * postfix.c - what tollgated asks Postfix: the maxproc of the feed
 * transport (master.cf) so that max_servers can follow it, and the
 * data-done timeout, which must stay above child_timeout.
 *
 * postconf is run with fork/execvp and a fixed argument vector: no
 * shell is involved.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "policy/policy.h"

#define POSTCONF_MAX_OUTPUT (64 * 1024)

/* run_postconf - run postconf with args, collect stdout; 0 or -1 */
static int run_postconf(char *const argv[], struct buf *out)
{
	int pfd[2], status;
	pid_t pid;
	char chunk[4096];
	ssize_t n;

	if (pipe(pfd) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", 0);

		dup2(pfd[1], STDOUT_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execvp("postconf", argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (out->len < POSTCONF_MAX_OUTPUT)
			buf_append(out, chunk, (size_t)n);
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* postconf_value - "postconf [-c DIR] -h NAME" */
static int postconf_value(const char *config_dir, const char *name, struct buf *out)
{
	char *argv[6];
	int i = 0;

	argv[i++] = "postconf";
	if (*config_dir) {
		argv[i++] = "-c";
		argv[i++] = (char *)config_dir;
	}
	argv[i++] = "-h";
	argv[i++] = (char *)name;
	argv[i] = NULL;
	if (run_postconf(argv, out) < 0)
		return -1;
	while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
		out->data[--out->len] = 0;
	return 0;
}

int postfix_maxproc(const char *service, const char *config_dir, int *data_done_r,
    const char **error_r)
{
	static char err[200];
	struct buf out = BUF_INIT;
	char *argv[6], *fields[9], *tok, *save = NULL, *cmd;
	int i = 0, nf = 0, maxproc = -1;
	long long t;

	*data_done_r = -1;
	/* no Postfix here: postconf would fail and sleep a second doing so */
	{
		char mc[1024];

		snprintf(mc, sizeof(mc), "%s/main.cf", *config_dir ? config_dir : "/etc/postfix");
		if (access(mc, R_OK) < 0) {
			snprintf(err, sizeof(err), "no Postfix configuration at %.150s", mc);
			*error_r = err;
			return -1;
		}
	}
	argv[i++] = "postconf";
	if (*config_dir) {
		argv[i++] = "-c";
		argv[i++] = (char *)config_dir;
	}
	argv[i++] = "-M";
	argv[i++] = (char *)service;
	argv[i] = NULL;
	if (run_postconf(argv, &out) < 0 || out.len == 0) {
		snprintf(err, sizeof(err), "postconf -M %s: no such Postfix service (or postconf failed)", service);
		*error_r = err;
		buf_free(&out);
		return -1;
	}
	/* fields[0..7]: service type private unpriv chroot wakeup maxproc command */
	for (tok = strtok_r(out.data, " \t\n", &save); tok && nf < 8; tok = strtok_r(NULL, " \t\n", &save))
		fields[nf++] = tok;
	if (nf < 8) {
		snprintf(err, sizeof(err), "postconf -M %s: cannot parse the master.cf entry", service);
		*error_r = err;
		buf_free(&out);
		return -1;
	}
	cmd = fields[7];
	if (strcmp(fields[6], "-") == 0) {
		struct buf v = BUF_INIT;

		if (postconf_value(config_dir, "default_process_limit", &v) == 0 && v.len)
			maxproc = atoi(v.data);
		buf_free(&v);
	} else {
		maxproc = atoi(fields[6]);
	}
	/* "-o lmtp_data_done_timeout=1200" on the service wins over main.cf */
	{
		char key[64];
		const char *p;

		snprintf(key, sizeof(key), "%s_data_done_timeout=", strcmp(cmd, "smtp") == 0 ? "smtp" : "lmtp");
		for (tok = strtok_r(NULL, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
			if ((p = strstr(tok, key)) != NULL && cfg_parse_time(p + strlen(key), &t) == 0)
				*data_done_r = (int)t;
		if (*data_done_r < 0) {
			struct buf v = BUF_INIT;

			key[strlen(key) - 1] = 0;
			if (postconf_value(config_dir, key, &v) == 0 && v.len && cfg_parse_time(v.data, &t) == 0)
				*data_done_r = (int)t;
			buf_free(&v);
		}
	}
	buf_free(&out);
	if (maxproc <= 0) {
		snprintf(err, sizeof(err), "Postfix service %s has no usable maxproc", service);
		*error_r = err;
		return -1;
	}
	return maxproc;
}

int resolve_max_servers(const struct cfg *cfg, const char **error_r)
{
	static char err[256];
	const char *v = cfg_str(cfg, P_MAX_SERVERS);
	const char *dir = cfg_str(cfg, P_POSTFIX_CONFIG_DIRECTORY);
	long long child_timeout = cfg_int(cfg, P_CHILD_TIMEOUT);
	const char *service = "amavisfeed/unix";
	int from_postfix = 0, n = -1, pf, data_done = -1;
	const char *perr = NULL;

	if (strncmp(v, "postfix", 7) == 0 && (v[7] == 0 || v[7] == ':')) {
		from_postfix = 1;
		if (v[7] == ':' && v[8])
			service = v + 8;
	} else {
		char *end;

		n = (int)strtol(v, &end, 10);
		if (end == v || *end || n < 1 || n > 500) {
			snprintf(err, sizeof(err), "max_servers: \"%.40s\" is not a number 1..500, postfix or postfix:SERVICE", v);
			*error_r = err;
			return -1;
		}
	}
	pf = postfix_maxproc(service, dir, &data_done, &perr);
	if (from_postfix) {
		if (pf < 0) {
			snprintf(err, sizeof(err), "max_servers = %s: %s", v, perr);
			*error_r = err;
			return -1;
		}
		if (pf > 500) {
			log_warning("Postfix maxproc %d for %s is above 500; using 500", pf, service);
			pf = 500;
		}
		n = pf;
		log_info("max_servers = %d, from Postfix's maxproc of %s", n, service);
	} else if (pf > 0 && pf != n) {
		log_warning("max_servers = %d but Postfix's %s has maxproc %d: set them equal "
		    "(or max_servers = postfix)", n, service, pf);
	}
	policy_warnings(cfg);
	if (data_done > 0 && child_timeout >= data_done)
		log_warning("child_timeout (%llds) is not below Postfix's data-done timeout of %s (%ds): "
		    "Postfix may give up on a message tollgate is still working on", child_timeout, service,
		    data_done);
	return n;
}
