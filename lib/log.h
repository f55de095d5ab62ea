/*
 * log.h - logging with one meaning per severity.
 *
 *   info     a normal event (one line per message goes here)
 *   warning  something unexpected that was handled
 *   error    one message or session failed
 *   fatal    this process cannot go on: log and exit(1); the master
 *            replaces a worker that does this
 *   panic    a broken invariant: log and abort() for a core dump
 *
 * Network input must never lead to log_fatal or log_panic.
 * Output goes to syslog (facility from log_open) or, in the foreground,
 * to stderr with a timestamp. Each line carries the process ident and
 * an optional per-session prefix (log_set_session), e.g. "(12345-01)".
 *
 * log_debug(module, ...) costs one branch when that module's debugging
 * is off; modules are enabled with log_debug_enable("smtpd,deliver").
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_dbg {
	LOG_DBG_SMTPD = 1 << 0,
	LOG_DBG_DELIVER = 1 << 1,
	LOG_DBG_MASTER = 1 << 2,
	LOG_DBG_CONFIG = 1 << 3,
	LOG_DBG_SCAN = 1 << 4,
	LOG_DBG_MIME = 1 << 5,
	LOG_DBG_ROUTE = 1 << 6,
};

extern unsigned log_debug_mask;

/* log_open - ident for every line; to_stderr: foreground; facility: syslog name ("mail") */
void log_open(const char *ident, int to_stderr, const char *facility);
/* log_set_session - prefix for lines of the current session, NULL to clear */
void log_set_session(const char *id);
/* log_debug_enable - comma list of module names; returns -1 on an unknown name */
int log_debug_enable(const char *list);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_debug_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_debug(mod, ...) \
	do { if (log_debug_mask & (mod)) log_debug_line(__VA_ARGS__); } while (0)

/* error_fmt - format a reason into buf (size bytes), point *error_r at it
 * (when error_r is not NULL); returns -1, so that a failing function can
 * end with "return error_fmt(...)". The buffer is the caller's (a static
 * one of its module, or one in its object). */
int error_fmt(char *buf, size_t size, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* log_printable - copy at most max bytes of peer text into out (size
 * outsz), escaping non-printables as \xNN; returns out */
char *log_printable(char *out, size_t outsz, const char *in, size_t inlen);

#endif
