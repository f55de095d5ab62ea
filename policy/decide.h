/*
 * decide.h - the destiny of a message (docs/design.md, a message's walk:
 * decide, quarantine, forward, reply, log): each recipient's contents
 * categories and destiny (decide.c) and what follows from them: reply
 * texts (decide_reply.c), header edits (decide_edits.c), log tokens
 * (decide_log.c), DSNs and admin notices (notify.c), the quarantined
 * copy (quarantine.c; the stores are in quarantine.h). The categories
 * themselves (CC_*, CCAT) are in lib/category.h, below every layer.
 * Pure logic plus file writing; no network. Behaviour follows
 * amavisd-new 2.13 (its Amavis::Conf defaults and the destiny rules of
 * amavisd's do_virus/do_banned/do_spam, as its documentation describes
 * them).
 *
 * Contract - one message, in this order (process.c):
 *
 *   1. facts     the caller fills struct decide_facts from the scanners:
 *                virus names (scan_verdict), banned reason (banned_check),
 *                unchecked minor (decide_unchecked_minor), bad-header minor
 *                and text (badh_from_mime), spam score (optional),
 *                size. Strings must live as long as msg->arena.
 *   2. policy    one struct decide_policy per recipient (policy bank and
 *                per-recipient maps resolved by the caller; the same
 *                pointer may serve every recipient). Start from
 *                decide_policy_defaults(), which holds amavisd's defaults.
 *   3. decide    decide_recipients(msg, facts, pols, &res). Blocked
 *                recipients get msg->rcpts[i].code/.reply (the raw amavisd
 *                status "554 5.7.0 Reject, id=..."), so the routing step
 *                skips them as it skips every recipient with a code;
 *                passed ones keep code 0 for delivery to fill.
 *   4. quarantine decide_quarantine_ccat() says which category (if any)
 *                the message is quarantined under; quarantine_write()
 *                stores it and appends the index line; pass the id to
 *                decide_header_groups().
 *   5. notify    notify_dsn() composes the DSN for the recipients that
 *                need one (bounce, or reject with SMTP input when not all
 *                were rejected), marking each DECIDE_DSN_PENDING or
 *                _SUPPRESSED; notify_admin() composes an admin notice.
 *                After sending a DSN with notify_method, call
 *                decide_dsn_done(res, ok): with ok == 0 the pending
 *                recipients become 451 (nothing is lost: Postfix retries).
 *   6. forward   decide_header_groups() clusters the passed recipients by
 *                identical header edits (amavisd's forwarding loop); each
 *                group is then split by forward method and delivered,
 *                with decide_edits_apply() giving the bytes to send.
 *   7. after     decide_after_delivery() turns downstream 4xx/5xx into
 *                amavisd's CC_MTA outcomes (D_TEMPFAIL / D_REJECT).
 *   8. reply     LMTP: decide_lmtp_reply() per recipient. SMTP:
 *                decide_smtp_reply() (amavisd's one_response_for_all,
 *                with destinies; see the note at reply_one_for_all).
 *   9. log       decide_log_verdict() and decide_log_actions() give the
 *                pieces of the "Passed/Blocked ..." line.
 *
 * Ownership: everything returned lives in msg->arena (or the caller's
 * struct buf for notify_*); nothing is freed on its own. The compiled
 * banned patterns (struct banned_re, scanners/content.h) outlive
 * messages: the policy compiles them once per config with
 * banned_compile() and frees them with banned_free().
 *
 * Differences from stock amavisd, deliberate:
 *   - the blocking ccat keeps the recipient's highest minor of the
 *     blocking major, so the reply uses the minor-specific code and text
 *     amavisd gives them ("554 5.6.3 ... BAD HEADER: nonencoded 8-bit character",
 *     "UNCHECKED: encrypted"); stock amavisd, whose destiny tables have
 *     major keys only, says "554 5.6.0 ... BAD HEADER" and "UNCHECKED".
 *   - LMTP rewriting of a 5xx is decided per recipient (its own DSN
 *     state), not by one message-wide "DSN sent" flag, so a D_REJECT
 *     recipient keeps its 5xx even when another one was bounced.
 */
#ifndef TG_POLICY_DECIDE_H
#define TG_POLICY_DECIDE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/category.h"
#include "lib/message.h"


/* ---- destinies ---- */

enum destiny {
	D_PASS = 0,
	D_DISCARD,
	D_BOUNCE,
	D_REJECT,
	D_TEMPFAIL
};

/* decide_destiny_name - "PASS", "DISCARD", ... */
const char *decide_destiny_name(enum destiny d);
/* decide_destiny_parse - "pass", "discard", "bounce", "reject",
 * "tempfail" (any case, also amavisd's D_PASS ...); 0 or -1 */
int decide_destiny_parse(const char *s, enum destiny *d_r);

/* ---- per-recipient policy (caller fills; decide_policy_defaults first) ---- */

#define DECIDE_BYPASS_VIRUS	0x01	/* no CC_VIRUS, CC_UNCHECKED; no X-Virus-Scanned */
#define DECIDE_BYPASS_BANNED	0x02	/* no CC_BANNED */
#define DECIDE_BYPASS_SPAM	0x04	/* no CC_CLEAN,1 / SPAMMY / SPAM, no spam headers */
#define DECIDE_BYPASS_HEADER	0x08	/* no CC_BADH */

#define DECIDE_LOVER(maj)	(1u << (maj))	/* lovers bit of a major ccat */

#define DECIDE_LEVEL_UNSET	NAN		/* a spam level that is not set */

struct decide_policy {
	unsigned bypass;		/* DECIDE_BYPASS_* */
	unsigned lovers;		/* DECIDE_LOVER(CC_VIRUS) | ...; SPAM covers SPAMMY */
	double tag_level;		/* spam headers from here on (unset: any score) */
	double tag2_level;		/* CC_SPAMMY, X-Spam-Flag: YES, subject tag */
	double tag3_level;		/* CC_SPAMMY,1 */
	double kill_level;		/* CC_SPAM: final_spam_destiny applies */
	double dsn_cutoff_level;	/* no DSN at or above this score */
	/* final destiny per major ccat; SPAMMY is never blocking in amavisd
	 * (no final_destiny entry) and CC_MTA is fixed: 4xx TEMPFAIL, 5xx REJECT */
	enum destiny destiny[CC_MAJORS];
	unsigned long long message_size_limit;	/* bytes, 0: none; at least 64 KiB when set */
	int is_local;			/* recipient in local_domains */
	int soft_bounce;		/* blocked 5xx become 450 "(soft_bounce)" */
	int remove_existing_spam_headers;	/* delete X-Spam-* of the message when we score */
	const char *spam_subject_tag;	/* at tag2 ("***SPAM*** "), NULL/"": none */
	const char *spam_subject_tag3;	/* at tag3, NULL: as tag2 */
	const char *spam_subject_tag1;	/* at tag level, usually NULL */
	const char *undecipherable_subject_tag;	/* CC_UNCHECKED ("***UNCHECKED*** ") */
	const char *virus_subject_tag;	/* CC_VIRUS passed to a lover ("***INFECTED*** ") */
};

/* decide_policy_defaults - amavisd's defaults (Debian spam levels unset:
 * the lead's config supplies them): virus DISCARD, banned DISCARD,
 * unchecked PASS, spam PASS, bad_header PASS, oversized BOUNCE */
void decide_policy_defaults(struct decide_policy *p);

/* ---- message facts (caller fills) ---- */

struct decide_facts {
	const char *const *virus_names;	/* INFECTED names, n_virus of them */
	unsigned n_virus;
	const char *scanner_name;	/* for the admin notice ("ClamAV"), may be NULL */
	const char *banned_reason;	/* %F from banned_check(), NULL: nothing banned */
	int unchecked;			/* 1: not fully checked */
	unsigned unchecked_minor;	/* CC_UNCHECKED_* */
	const char *unchecked_reason;	/* for logs/notice, may be NULL */
	int badh;			/* 1: bad header section */
	unsigned badh_minor;		/* CC_BADH_* */
	const char *badh_text;		/* first bad-header text, may be NULL */
	int spam_scored;		/* 1: spam_score is valid */
	double spam_score;
	const char *spam_tests;		/* "TEST1=1.2,TEST2=0.5" or NULL */
	const char *spam_autolearn;	/* NULL: "unavailable" */
	unsigned long long size;	/* message size in bytes */
	int originating;		/* from our own users (MYNETS/ORIGINATING bank) */
	int bulk;			/* Precedence: bulk/list/junk: DSN and mercy as for <> */
};

/* ---- result ---- */

#define DECIDE_MAX_CCATS 16

enum decide_dsn {
	DECIDE_DSN_NONE = 0,	/* no DSN concerns this recipient */
	DECIDE_DSN_PENDING,	/* in a composed DSN, not yet sent */
	DECIDE_DSN_SENT,	/* in a DSN that was sent */
	DECIDE_DSN_SUPPRESSED,	/* needed one, deliberately not sent */
	DECIDE_DSN_FAILED	/* in a DSN that could not be sent */
};

struct decide_rcpt {
	unsigned ccat[DECIDE_MAX_CCATS];	/* this recipient's ccats, most important first */
	unsigned nccat;
	enum destiny destiny;		/* D_PASS unless blocked (or MTA outcome) */
	int blocked;			/* 1: blocking_ccat is valid */
	unsigned blocking_ccat;
	int mercy;			/* 1: a BADH bounce let through for <> / bulk */
	int delivered;			/* 1: relayed downstream (decide_after_delivery) */
	int tagged;			/* 1: header edits flag it (alert or spam YES) */
	enum decide_dsn dsn;
	const struct decide_policy *pol;
};

struct decide_result {
	struct decide_rcpt *r;		/* one per msg->rcpts[], same order */
	size_t n;
	unsigned ccat[DECIDE_MAX_CCATS];	/* message level, most important first */
	unsigned nccat;
	int blocked;			/* 1: some recipient is blocked */
	unsigned blocking_ccat;		/* highest blocking ccat of all recipients */
	const char *quarantine_id;	/* set by the caller after quarantine_write */
	const struct decide_facts *facts;
};

/* ---- the decision (decide.c) ---- */

/*
 * decide_recipients - every recipient's ccats, destiny and (when
 * blocked) its status line, as amavisd's check_mail:
 *
 *   ccats   CLEAN always; CLEAN,1 / SPAMMY(,1) / SPAM from the score and
 *           that recipient's levels; OVERSIZED from its size limit;
 *           VIRUS, BANNED, UNCHECKED, BADH from the facts - each unless
 *           bypassed for it (virus bypass drops VIRUS and UNCHECKED).
 *   walk    most important ccat first: destiny PASS → next; the
 *           recipient loves that ccat → next; D_BOUNCE on BADH with a
 *           null sender or bulk mail → next ("mercy"); else blocked,
 *           first blocking ccat wins.
 *   status  "<code> <enh> <Ok, discarded|Reject|Bounce|Temporary
 *           failure>[ (soft_bounce)], id=<am_id> - <reason>", amavisd's
 *           codes by ccat (554 5.7.0; 554 5.6.x bad header; 552 5.3.4
 *           oversized), 250 for discard, 450 for tempfail and soft_bounce.
 *
 * pols[i] is recipient i's policy (NULL: the defaults). Sets
 * msg->rcpts[i].code/.reply of blocked recipients that had no code yet.
 * Returns the number of blocked recipients.
 */
size_t decide_recipients(struct message *msg, const struct decide_facts *f,
    const struct decide_policy *const *pols, struct decide_result *res_r);

/* decide_after_delivery - after delivery: a passed recipient whose
 * downstream reply is 4xx becomes D_TEMPFAIL (CC_MTA,1), 5xx D_REJECT
 * (CC_MTA,2), 2xx is marked delivered. Call once all deliveries ran. */
void decide_after_delivery(struct message *msg, struct decide_result *res);

/* decide_dsn_done - the composed DSN was sent (ok 1) or not (0):
 * PENDING → SENT, or → FAILED with a 451 reply (msg->rcpts updated) */
void decide_dsn_done(struct message *msg, struct decide_result *res, int ok);

/* ---- replies (decide_reply.c) ---- */

/*
 * decide_lmtp_reply - the LMTP reply of recipient i: 2xx and 4xx
 * as they are; a 5xx of a D_REJECT recipient as it is; any other 5xx
 * becomes "250 2.5.0 Ok <rcpt>, DSN was sent (<orig>)" (its DSN went
 * out), "... DSN suppressed (<orig>)" (deliberately not sent), or
 * "... DSN suppressed_2 (<orig>)" (neither). A recipient without an
 * outcome gets a 451. Line without CRLF, in the arena.
 */
const char *decide_lmtp_reply(struct message *msg, const struct decide_result *res, size_t i);

/*
 * decide_smtp_reply - the single reply for SMTP input, amavisd's
 * one_response_for_all(): first 4xx; all D_DISCARD → the first discard
 * reply; all discarded or rejected with a 5xx non-bounce → that 5xx
 * (downstream's own preferred); else the first genuine pass reply, or
 * "250 2.5.0 Ok, id=<am_id>", plus ", but N REJECT, and N BOUNCE, and N
 * DISCARD" for what was not passed. *dsn_needed_r (may be NULL) says a
 * DSN is owed for bounces and for rejects hidden behind a 2xx.
 */
const char *decide_smtp_reply(struct message *msg, const struct decide_result *res, int *dsn_needed_r);

/* ---- quarantine selection ---- */

/* decide_quarantine_ccat - the major ccat the message is quarantined
 * under: the blocking ccat when some recipient is blocked, else the main
 * ccat; -1 when that major is not in the mask (bits DECIDE_LOVER(maj)),
 * or is CLEAN/CATCHALL/MTA */
int decide_quarantine_ccat(const struct decide_result *res, unsigned mask);

/* ---- header edits (decide_edits.c) ---- */

enum hdr_edit_op {
	HDR_ADD,		/* add "name: value" at the top (in list order) */
	HDR_PREPEND_SUBJECT,	/* put value before the Subject text (or add a Subject) */
	HDR_DELETE		/* remove every field called name */
};

struct hdr_edit {
	enum hdr_edit_op op;
	const char *name;
	const char *value;	/* unfolded, printable; NULL for HDR_DELETE */
};

struct decide_group {
	size_t *idx;		/* indexes into msg->rcpts */
	size_t n;
	const struct hdr_edit *edits;
	size_t nedits;
};

struct decide_hdr_opts {
	const char *x_header_tag;	/* "X-Virus-Scanned", NULL/"": none */
	const char *x_header_line;	/* its value */
	const char *quarantine_id;	/* mail_id when quarantined (X-Quarantine-ID), else NULL */
};

/*
 * decide_header_groups - the header edits of every passed recipient
 * (code still 0), in amavisd's order: deletions of existing X-Spam-*
 * (remove_existing_spam_headers, only when the message was scored),
 * X-Quarantine-ID (local), X-Virus-Scanned (virus checks not bypassed),
 * X-Amavis-Alert (INFECTED / BANNED / BAD HEADER SECTION, for each such
 * ccat the recipient has), X-Spam-Flag/Score/Level/Status (local, score
 * >= tag level), subject tag (local; first of INFECTED, UNCHECKED,
 * tag3, tag2, tag1 that is set). Recipients with identical edits form
 * one group, in order of their first recipient. Sets r[i].tagged.
 * Returns the number of groups; *groups_r in the arena.
 */
size_t decide_header_groups(struct message *msg, struct decide_result *res,
    const struct decide_hdr_opts *o, struct decide_group **groups_r);

/*
 * decide_edits_apply - the bytes to send instead of the message's
 * beginning. data/len is the whole original message (CRLF or LF lines).
 * When the edits only add fields, *out_r holds the added lines (CRLF,
 * folded at 78) and *skip_r is 0: send out, then data[0..len). When
 * they change or delete existing fields, *out_r holds the added lines
 * and the whole edited header section and *skip_r is where it ended in
 * data (the empty line that separates the body is not part of it):
 * send out, then data[skip..len). In the arena.
 */
void decide_edits_apply(struct arena *a, const char *data, size_t len, const struct hdr_edit *e,
    size_t n, const char **out_r, size_t *outlen_r, size_t *skip_r);

/* ---- log pieces (decide_log.c) ---- */

/* decide_log_verdict - "CLEAN", "INFECTED (Eicar-Signature)", "BANNED
 * (.exe,x.exe)", "UNCHECKED", "UNCHECKED-ENCRYPTED", "BAD-HEADER-2",
 * "SPAM", "SPAMMY", "OVERSIZED", "MTA-BLOCKED", "OTHER": the blocking
 * ccat when any, else the main one (amavisd's [:ccat|major]). In the arena. */
const char *decide_log_verdict(struct message *msg, const struct decide_result *res);

/* decide_log_blocked - 1 when some recipient was not passed (a "Blocked"
 * line is due; else "Passed") */
int decide_log_blocked(const struct message *msg, const struct decide_result *res);

/* decide_log_actions - "{RelayedInbound}", "{DiscardedInbound,Quarantined}",
 * "{RejectedInbound,RelayedInbound}": one entry per status × direction
 * (Inbound/OpenRelay, or Internal/Outbound when originating), sorted as
 * amavisd does, "Quarantined" last when res->quarantine_id is set. In
 * the arena. */
const char *decide_log_actions(struct message *msg, const struct decide_result *res);

/* ---- scanner facts helpers ---- */

/* decide_unchecked_minor - CC_UNCHECKED_* from a scan_verdict reason
 * ("encrypted", "limit exceeded: ...", "undecipherable: ...", other) */
unsigned decide_unchecked_minor(const char *reason);

/* ---- notifications (notify.c) ---- */

struct notify_opts {
	const char *myhostname;		/* Reporting-MTA, Message-ID domain */
	const char *from_addr;		/* admin notice envelope sender; NULL: postmaster@myhostname */
	const char *hdr_from;		/* From: of both; NULL: "Content-filter at H" <postmaster@H> */
	int virus_dsn;			/* 0 (Debian amavisd): no DSN when a virus fakes senders
					 * (any name but the EICAR test's); 1: DSN for every virus */
	time_t now;			/* 0: time(NULL) */
};

/* one composed message for notify_method */
struct notify_msg {
	struct buf data;		/* whole message, CRLF lines, owned by the caller (buf_free) */
	const char *env_from;		/* "" for a DSN */
	const char **rcpts;		/* envelope recipients */
	size_t nrcpts;
	const char *envid;		/* ENVID to send with, NULL: none */
};

/*
 * notify_dsn - a DSN (RFC 3464, multipart/report; report-type=
 * delivery-status) to the envelope sender for the recipients that are
 * owed one: 5xx from us or downstream that is not passed back to the
 * client as a 5xx (a bounce, or a reject with SMTP input when not all
 * were rejected). Suppressed (DECIDE_DSN_SUPPRESSED) for a null sender,
 * NOTIFY without FAILURE, discard, bulk mail, a score >= that
 * recipient's dsn_cutoff_level, and viruses that fake the sender (every
 * name but the word EICAR, as Debian's amavisd; unless o->virus_dsn).
 * Returns 1 with *n_r filled (the included recipients are marked
 * DECIDE_DSN_PENDING), 0 when no DSN is to be sent.
 */
int notify_dsn(struct message *msg, struct decide_result *res, const struct notify_opts *o,
    struct notify_msg *n_r);

/*
 * notify_admin - amavisd's admin notification (template-virus-admin)
 * to admin: "VIRUS (name) in mail FROM [ip]:port <sender>", the virus,
 * banned name, bad header, content type, reference, first upstream IP,
 * the original Return-Path/From/Message-ID/Subject, the quarantine
 * location, the recipients relayed and not relayed (with their
 * replies), the scanner output, and the original header section as
 * text/rfc822-headers. Call after the recipients have their outcome.
 */
void notify_admin(struct message *msg, const struct decide_result *res, const struct notify_opts *o,
    const char *admin, struct notify_msg *n_r);

/* ---- quarantine (quarantine.c) ---- */

struct quarantine_ref {
	const char *id;		/* "virus-<mail_id>": the name in quarantine_dir */
	const char *path;	/* quarantine_dir/id */
};

/* quarantine_prefix - "virus", "banned", "spam", "badh", "unchecked",
 * "clean", "oversized" for a major ccat */
const char *quarantine_prefix(unsigned major);

/* quarantine_prepend - amavisd's envelope lines for a quarantined copy:
 * Return-Path, X-Envelope-From, X-Envelope-To, X-Envelope-To-Blocked,
 * X-Quarantine-ID (CRLF, in the arena) */
const char *quarantine_prepend(struct message *msg, const struct decide_result *res, size_t *len_r);

/*
 * quarantine_write - store prepend + data (line ends as LF, like amavisd)
 * under dir/<prefix>-<mail_id>,
 * atomically: a temporary name in dir, written in full, fsync()ed, mode
 * 0640, then rename()d; the directory is fsync()ed too. Then one index
 * line is appended to dir/index in one O_APPEND write:
 *   <time> <mail_id> <secret_id> <category> <sender> <rcpt,rcpt> <path>\n
 * (addresses as <...>, "%"-escaped bytes outside printable ASCII, space,
 * comma and '%'). 0 with *ref_r (arena), or -1 with *error_r (arena);
 * on failure no file is left behind.
 */
int quarantine_write(struct message *msg, const char *dir, unsigned major, const char *prepend,
    size_t prepend_len, const char *data, size_t len, struct quarantine_ref *ref_r,
    const char **error_r);

#endif
