/*
 * postfix.c - what tollgated asks Postfix: the maxproc of the feed
 * transport (master.cf) so that max_servers can follow it, and the
 * data-done timeout, which must stay above child_timeout.
 *
 * postconf runs through lib/postconf.c: no shell, a bounded time and
 * output; tollgated asks at start, on reload and for -t, never while a
 * message waits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/postconf.h"
#include "policy/policy.h"

/* postfix_data_done - the feed's data-done timeout in seconds: a
 * "-o lmtp_data_done_timeout=1200" on the service wins over main.cf
 * (postconf -h, which knows Postfix's default); -1 when unknown */
static int postfix_data_done(const char *config_dir, const char *command, char **tok, int ntok)
{
	struct buf v = BUF_INIT;
	const char *p, *err = NULL;
	char key[64];
	long long t;
	int i, secs = -1;

	snprintf(key, sizeof(key), "%s_data_done_timeout=", strcmp(command, "smtp") == 0 ? "smtp" : "lmtp");
	for (i = 8; i < ntok; i++)
		if ((p = strstr(tok[i], key)) != NULL && cfg_parse_time(p + strlen(key), &t) == 0)
			secs = (int)t;
	if (secs < 0) {
		key[strlen(key) - 1] = 0;
		if (postconf_value(config_dir, key, &v, &err) == 0 && v.len && cfg_parse_time(v.data, &t) == 0)
			secs = (int)t;
		buf_free(&v);
	}
	return secs;
}

/* postfix_maxproc - maxproc and data-done timeout of a master.cf
 * service (see daemon.h) */
int postfix_maxproc(const char *service, const char *config_dir, int *data_done_r,
    const char **error_r)
{
	static char err[200];
	struct buf out = BUF_INIT;
	char *tok[POSTCONF_MAX_FIELDS], mc[1024];
	const char *perr = NULL;
	int n, maxproc;

	*data_done_r = -1;
	/* no Postfix here: postconf would fail and sleep a second doing so */
	snprintf(mc, sizeof(mc), "%s/main.cf", *config_dir ? config_dir : "/etc/postfix");
	if (access(mc, R_OK) < 0) {
		snprintf(err, sizeof(err), "no Postfix configuration at %.150s", mc);
		*error_r = err;
		return -1;
	}
	if ((n = postconf_service(config_dir, service, &out, tok, POSTCONF_MAX_FIELDS, &perr)) <= 0) {
		snprintf(err, sizeof(err), "postconf -M %s: no such Postfix service (or postconf failed)", service);
		*error_r = err;
		buf_free(&out);
		return -1;
	}
	/* tok[0..7]: service type private unpriv chroot wakeup maxproc command */
	if (n < 8) {
		snprintf(err, sizeof(err), "postconf -M %s: cannot parse the master.cf entry", service);
		*error_r = err;
		buf_free(&out);
		return -1;
	}
	maxproc = postconf_maxproc(config_dir, tok[6]);
	*data_done_r = postfix_data_done(config_dir, tok[7], tok, n);
	buf_free(&out);
	if (maxproc <= 0) {
		snprintf(err, sizeof(err), "Postfix service %s has no usable maxproc", service);
		*error_r = err;
		return -1;
	}
	return maxproc;
}

/* resolve_max_servers - max_servers as a count (see daemon.h) */
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
