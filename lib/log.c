/*
 * log.c - syslog or stderr logging with severities (see log.h).
 * Deliberately simple: one formatted line per call, no buffering,
 * so a crash loses nothing that was logged before it.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

unsigned log_debug_mask;

static int log_to_stderr = 1;
static char log_ident[64] = "tollgate";
static char log_session[64];
static pid_t log_pid_cached;	/* 0: not known yet, or a fork happened since */
static int log_atfork_set;

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static const struct {
	const char *name;
	unsigned bit;
} debug_names[] = {
	{ "smtpd", LOG_DBG_SMTPD }, { "deliver", LOG_DBG_DELIVER },
	{ "master", LOG_DBG_MASTER }, { "config", LOG_DBG_CONFIG },
	{ "scan", LOG_DBG_SCAN }, { "mime", LOG_DBG_MIME }, { "route", LOG_DBG_ROUTE },
};

void log_open(const char *ident, int to_stderr, const char *facility)
{
	int fac = LOG_MAIL;
	size_t i;

	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_to_stderr = to_stderr;
	for (i = 0; facility && i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(facility, facilities[i].name) == 0)
			fac = facilities[i].value;
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, fac);
}

void log_set_session(const char *id)
{
	if (id == NULL)
		log_session[0] = 0;
	else
		snprintf(log_session, sizeof(log_session), "(%s) ", id);
}

int log_debug_enable(const char *list)
{
	char tmp[256], *tok, *save = NULL;
	size_t i;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s", list);
	for (tok = strtok_r(tmp, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		for (i = 0; i < sizeof(debug_names) / sizeof(debug_names[0]); i++)
			if (strcmp(tok, debug_names[i].name) == 0 || strcmp(tok, "all") == 0)
				log_debug_mask |= debug_names[i].bit;
		if (strcmp(tok, "all") != 0) {
			int found = 0;

			for (i = 0; i < sizeof(debug_names) / sizeof(debug_names[0]); i++)
				found |= strcmp(tok, debug_names[i].name) == 0;
			if (!found)
				rc = -1;
		}
	}
	return rc;
}

/* log_forked - in a new child: the cached pid is the parent's */
static void log_forked(void)
{
	log_pid_cached = 0;
}

/* log_pid - this process's pid, one getpid() per process rather than per
 * line; a fork() resets it (pthread_atfork) */
static pid_t log_pid(void)
{
	if (log_pid_cached == 0) {
		if (!log_atfork_set) {
			(void)pthread_atfork(NULL, NULL, log_forked);
			log_atfork_set = 1;
		}
		log_pid_cached = getpid();
	}
	return log_pid_cached;
}

static void log_emit(int prio, const char *label, const char *fmt, va_list ap)
{
	char line[4096];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_to_stderr) {
		struct timeval tv;
		struct tm tm;
		char ts[32];

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s%s%s\n", ts, (long)tv.tv_usec / 1000,
		    log_ident, (long)log_pid(), log_session, label, line);
	} else {
		syslog(prio, "%s%s%s", log_session, label, line);
	}
}

#define LOG_FN(fn, prio, label) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_emit(prio, label, fmt, ap); \
		va_end(ap); \
	}

LOG_FN(log_info, LOG_INFO, "")
LOG_FN(log_warning, LOG_WARNING, "warning: ")
LOG_FN(log_error, LOG_ERR, "error: ")
LOG_FN(log_debug_line, LOG_DEBUG, "debug: ")

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

char *log_printable(char *out, size_t outsz, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz == 0)
		return out;
	for (i = 0; i < inlen && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			if (o + 5 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return out;
}

int error_fmt(char *buf, size_t size, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = buf;
	return -1;
}
