/*
 * content.h - the content checks that read the message's own structure
 * rather than match signatures: banned file names and types (banned.c)
 * and a bad header section (badheader.c). Both are scanners behind the
 * interface of scanners.h (banned_scanner, badh_scanner); their plain
 * functions below are what the adapters call, and what tests call.
 *
 * Life cycle: compiled banned patterns (struct banned_re) outlive
 * messages: the policy builds them once per configuration with
 * banned_compile() and frees them with banned_free(). Everything a check
 * returns lives in the arena it was given (the message's).
 *
 * Scanners know nothing of the policy: a bad header is reported by
 * its amavisd minor (CC_BADH_*, lib/category.h, below every layer); the
 * policy turns the findings into categories and destinies.
 */
#ifndef TG_SCANNERS_CONTENT_H
#define TG_SCANNERS_CONTENT_H

#include <stddef.h>

struct arena;
struct mime_msg;
struct scan_verdict;
struct scanner;

#define CONTENT_TEXT_MAX 300	/* bytes kept of a banned reason or a bad-header text */

/* ---- bad header section (badheader.c) ---- */

/* badh_from_mime - bad-header facts from MIME findings: returns 1 and
 * the highest kind (CC_BADH_*, the highest found wins) and a text ("Duplicate header field: ...") when some
 * finding is a bad header (limit findings and encoding findings are
 * not), else 0. m may be NULL (0). */
int badh_from_mime(struct arena *a, const struct mime_msg *m, unsigned *kind_r, const char **text_r);

/* badh_scanner - the bad-header check as a scanner: SCAN_BAD_HEADER with
 * kind (CC_BADH_*) and reason (the text), or SCAN_CLEAN (also without a MIME tree) */
void badh_scanner(struct scanner *s_r);

/* ---- banned names and types (banned.c) ---- */

/* one thing a name/type check looks at */
struct banned_item {
	const char *name;	/* declared file name, or NULL */
	const char *type;	/* libclamav type ("CL_TYPE_MSEXE"), or NULL */
	const char *mime_type;	/* declared MIME type ("application/x-msdownload"), or NULL */
};

struct banned_re;

/* amavisd's (Debian) default banned_filename_re set, in spirit: NULL-terminated */
extern const char *const banned_default[];

/*
 * banned_compile - compile POSIX EREs (case-insensitive), in order; a
 * pattern starting with '!' is an allow rule: the first rule that
 * matches decides (allow → not banned). 0, or -1 with *error_r
 * (static) naming the bad pattern.
 */
int banned_compile(const char *const *patterns, size_t n, struct banned_re **re_r, const char **error_r);
/* banned_free - release compiled patterns; sets *rep to NULL */
void banned_free(struct banned_re **rep);

/* banned_items - the items to check: the embedded files of the verdicts
 * v[0..nv) (name, type) first, then every leaf MIME part with a file
 * name or a non-text type (name, declared type). v or m may be NULL. */
size_t banned_items(struct arena *a, const struct scan_verdict *v, size_t nv, const struct mime_msg *m,
    struct banned_item **items_r);

/*
 * banned_check - check each item's keys (".<short type>", the libclamav
 * type, the MIME type, the name) against the rules; the first banned
 * item gives amavisd's %F: its keys joined by ',' (".exe,x.exe",
 * "application/x-msdownload,setup.exe"). NULL when nothing is banned.
 */
const char *banned_check(struct arena *a, const struct banned_item *items, size_t n, const struct banned_re *re);

/* banned_scanner - the check as a scanner over the MIME tree and the
 * files the earlier scanners met: SCAN_BANNED with the %F as reason, or
 * SCAN_CLEAN (re must outlive s) */
void banned_scanner(const struct banned_re *re, struct scanner *s_r);

#endif
