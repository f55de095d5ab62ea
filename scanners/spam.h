/*
 * spam.h - spam scoring through an external daemon: SpamAssassin's
 * spamd (SPAMC/1.5 protocol, spam_spamd.c) or rspamd (HTTP protocol,
 * POST /checkv2, spam_rspamd.c). Optional and off by default
 * (spam_scanner = none).
 *
 * One call scores one whole raw message: connect, send, read one reply,
 * close. There is no connection reuse and no state between calls, so a
 * worker may call either client any number of times; nothing needs
 * init or free. The caller (the worker's decision step) compares
 * r->score with its own levels (spam_tag_level, spam_tag2_level,
 * spam_kill_level, as amavisd does); r->required is the daemon's own
 * threshold, kept for logs and headers only.
 *
 * Outcomes (return value and result):
 *    0, scored = 1   the daemon scored the message: score, required,
 *                    tests (and autolearn, action where the daemon
 *                    says) are set;
 *    0, scored = 0   the message was not scanned on purpose: it is
 *                    bigger than max_size (amavisd's
 *                    sa_mail_body_size_limit) or the daemon skipped it
 *                    (rspamd is_skipped without a score; rspamd's GTUBE
 *                    answer is is_skipped WITH a score and counts as
 *                    scored); skip_reason says which;
 *   -1               the daemon could not be used (connect, timeout,
 *                    protocol error, malformed or oversized reply, an
 *                    error reply): error says why; scored = 0.
 * What to do on -1 is the caller's decision. amavisd passes the mail
 * unscored when SpamAssassin fails (it logs and goes on), and that is
 * the recommended default here: spam scoring is advisory, unlike a
 * virus scan whose failure is a temporary failure.
 *
 * Ownership: every string in a result is allocated from the arena
 * passed in (or is static) and lives as long as that arena. Strings
 * from the daemon (tests, autolearn, action, error) are peer data cut
 * to SPAM_TESTS_MAX / SPAM_TEXT_MAX bytes and restricted to printable
 * ASCII (others become '?'); still cut them before logging.
 *
 * Timeouts: timeout_ms bounds the whole exchange (connect, send, wait
 * for the score, read the reply), not each step. spamd may take
 * seconds on a big message; amavisd's default for SpamAssassin is 30 s.
 */
#ifndef TG_SPAM_H
#define TG_SPAM_H

#include <stddef.h>

struct arena;

#define SPAM_TESTS_MAX 4096	/* bytes kept of the test list */
#define SPAM_TEXT_MAX 256	/* bytes kept of autolearn, action, error text */
#define SPAM_REPLY_HEADERS_MAX 64	/* header lines accepted in a reply */
#define SPAM_REPLY_LINE_MAX 8192	/* bytes of one reply header line */
#define SPAM_JSON_DEPTH_MAX 16	/* nesting of rspamd's JSON */
#define SPAM_SYMBOLS_MAX 512	/* symbols read from rspamd's reply */
#define SPAM_REPLY_MAX (1024 * 1024)	/* bytes of one rspamd reply */

struct spam_opts {
	const char *spamd_address;	/* "127.0.0.1:783" or "unix:/run/spamd.sock" */
	const char *rspamd_url;		/* "http://127.0.0.1:11333" or "unix:/run/rspamd.sock" */
	int timeout_ms;			/* whole exchange; <= 0: 30000 */
	size_t max_size;		/* bigger messages are not scanned; 0: no cap */
};

/* what the client tells rspamd about the message (all optional: NULL = not sent) */
struct spam_envelope {
	const char *from;		/* envelope sender ("" for <>) */
	const char *const *rcpts;	/* envelope recipients */
	unsigned n_rcpts;
	const char *client_ip;		/* SMTP client address */
	const char *helo;		/* SMTP client HELO name */
	const char *queue_id;		/* Postfix queue id or ours */
	const char *user;		/* authenticated user (rspamd's User) */
	const char *deliver_to;		/* the one recipient when there is just one */
};

struct spam_result {
	int scored;			/* 1: score and required are valid */
	int is_spam;			/* the daemon's own verdict (spamd True, rspamd action) */
	double score;
	double required;		/* the daemon's threshold (rspamd: required_score) */
	/* comma-separated tests hit: spamd "GTUBE,MISSING_DATE" (names only:
	 * the protocol does not give per-test scores unless the site's
	 * X-Spam-Status template shows them), rspamd "GTUBE=0.00,..." */
	const char *tests;
	const char *autolearn;		/* spamd: "no", "ham", "spam", "disabled", ...; else NULL */
	const char *action;		/* rspamd: "no action", "add header", "reject", ...; else NULL */
	const char *skip_reason;	/* scored == 0 and return 0: why not scanned */
	const char *error;		/* return -1: why */
	unsigned elapsed_ms;		/* wall clock of the whole call */
};

/*
 * spamd_check - score one message with spamd (SPAMC/1.5 HEADERS)
 *
 * Sends "HEADERS SPAMC/1.5" with Content-length and, when
 * rcpt_or_user is a safe printable string, "User:" (spamd's per-user
 * preferences; amavisd-style callers pass the recipient or NULL).
 * The score comes from the reply's "Spam: True ; 1000.0 / 5.0" line,
 * tests and autolearn from the X-Spam-Status field of the returned
 * headers (absent if the site removed that field: tests is then "").
 */
int spamd_check(const struct spam_opts *o, const char *data, size_t len,
		const char *rcpt_or_user, struct arena *a, struct spam_result *r_r);

/*
 * rspamd_check - score one message with rspamd (POST /checkv2)
 *
 * Envelope facts go in rspamd's request headers (From, Rcpt per
 * recipient, IP, Helo, Queue-Id, User, Deliver-To); header values that
 * are not printable ASCII are left out, never sent. env may be NULL.
 */
int rspamd_check(const struct spam_opts *o, const char *data, size_t len,
		 const struct spam_envelope *env, struct arena *a, struct spam_result *r_r);

/*
 * The reply parsers, exposed for the unit tests and the fuzz target.
 * Each takes one complete reply as read from the socket (status line,
 * header lines, blank line, body), fills *r_r (cleared first) and
 * returns 0, or -1 with r_r->error. Bounded by the SPAM_*_MAX limits.
 */
int spamd_reply_parse(const char *p, size_t len, struct arena *a, struct spam_result *r_r);
int rspamd_reply_parse(const char *p, size_t len, struct arena *a, struct spam_result *r_r);

/* ---- shared by spam_spamd.c and spam_rspamd.c; not for callers ---- */

/*
 * spam_exchange - connect to endpoint text addr, send head then body,
 * read one reply (header block + Content-length body, or up to EOF) of
 * at most max_reply bytes into *reply_r (arena), all within timeout_ms.
 */
int spam_exchange(const char *addr, const char *head, size_t head_len, const char *body,
		  size_t body_len, int timeout_ms, size_t max_reply, struct arena *a,
		  const char **reply_r, size_t *reply_len_r, const char **error_r);
/* spam_reply_split - locate status line, header block and body; -1 with *error_r */
struct spam_reply {
	const char *status;		/* first line, NUL-free copy (arena) */
	unsigned n_headers;
	const char *name[SPAM_REPLY_HEADERS_MAX];	/* header names (arena) */
	const char *value[SPAM_REPLY_HEADERS_MAX];	/* values, trimmed (arena) */
	const char *body;		/* points into the reply */
	size_t body_len;
};
int spam_reply_split(const char *p, size_t len, struct arena *a, struct spam_reply *sr_r,
		     const char **error_r);
/* spam_precheck - r cleared; 0 (skip_reason) when len is over
 * o->max_size, -1 (error "no <setting>") when addr is unset, else 1 */
int spam_precheck(const struct spam_opts *o, size_t len, const char *addr, const char *setting,
		  struct arena *a, struct spam_result *r_r);

#endif
