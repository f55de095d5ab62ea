/*
 * postconf.h - asking Postfix about its configuration by running
 * postconf(1): the one runner tollgated (max_servers = postfix, the
 * data-done timeout check) and "tollgate postfix-config" share.
 *
 * postconf runs without a shell, from a fixed argument vector found on
 * PATH, with its standard error thrown away; it gets POSTCONF_TIMEOUT_MS
 * to finish (then it is killed) and may write at most
 * POSTCONF_MAX_OUTPUT bytes. Each function blocks until postconf has
 * exited: call them where a pause of that length is fine (start, reload,
 * the control tool), never on a message's path.
 *
 * The caller owns the struct buf it passes in and frees it, also on
 * failure; its content on failure is unspecified.
 */
#ifndef TG_LIB_POSTCONF_H
#define TG_LIB_POSTCONF_H

#include "lib/buf.h"

#ifndef POSTCONF_TIMEOUT_MS		/* a unit test sets a shorter one */
#define POSTCONF_TIMEOUT_MS 10000	/* postconf must finish within this */
#endif
#define POSTCONF_MAX_OUTPUT (256 * 1024)	/* bytes of its output kept; more is an error */
#define POSTCONF_MAX_ARGS 8		/* args of postconf_run */
#define POSTCONF_MAX_FIELDS 128		/* tokens of one master.cf entry */

/* postconf_run - "postconf [-c DIR] ARGS..." (args NULL-terminated, at
 * most POSTCONF_MAX_ARGS; dir NULL or "" for Postfix's default); its
 * standard output appended to out (NUL-terminated). 0 when postconf
 * exited with status 0, else -1 with *error_r (it could not run, timed
 * out, wrote too much, or exited with another status). */
int postconf_run(const char *dir, const char *const *args, struct buf *out, const char **error_r);

/* postconf_value - "postconf [-c DIR] -h NAME" into out (reset first),
 * trailing newlines and blanks cut; 0, or -1 with *error_r */
int postconf_value(const char *dir, const char *name, struct buf *out, const char **error_r);

/* postconf_service - "postconf [-c DIR] -M SERVICE/TYPE" split at blanks
 * into tok[0..max-1], pointing into out (reset first): service, type,
 * private, unpriv, chroot, wakeup, maxproc, command, then the command's
 * arguments ("-o", "name=value", ...). The number of tokens: 0 when
 * there is no such service; -1 with *error_r when postconf failed. */
int postconf_service(const char *dir, const char *service, struct buf *out, char **tok, int max,
    const char **error_r);

/* postconf_maxproc - the number a master.cf maxproc field stands for:
 * "-" is default_process_limit (asked of postconf); -1 when that cannot
 * be told */
int postconf_maxproc(const char *dir, const char *field);

#endif
