/*
 * smtp_cmd.h - the pure parser for one SMTP/LMTP command line: which
 * verb it is, whether that verb may be used in the session's state, and
 * its arguments (MAIL/RCPT addresses and parameters, XFORWARD
 * attributes, BDAT size, the EHLO name). No I/O and no allocation.
 *
 * Life cycle: the caller owns a struct smtp_cmd (about 4 KiB, reuse it
 * for every line) and calls smtp_cmd_parse() with one line without its
 * CR LF. Every string the parse yields points into cmd->buf and stays
 * valid until the next parse into the same struct; copy what must live
 * longer (into the message arena).
 *
 * Results: smtp_cmd_parse() returns 0 when the line is a well-formed
 * command, or -1 with *error_r set to the complete reply line to send
 * (no CR LF) and cmd->err saying what kind of failure it was. Even on
 * -1, cmd->verb is set when the verb was recognised, so the server can
 * let a state error take precedence over a syntax error (as amavisd
 * and Postfix do) and can consume a BDAT chunk before refusing it.
 *
 * smtp_cmd_check_state() is the state half of "check": the verb table
 * says in which session states a verb is allowed and what to answer
 * otherwise. Session-dependent checks (size limit, recipient limit,
 * STARTTLS offered, no valid recipients) are the server's.
 *
 * Limits: the line (SMTP_LINE_MAX), an address (SMTP_ADDR_MAX), the
 * number of MAIL/RCPT parameters (SMTP_PARAMS_MAX), an EHLO name
 * (SMTP_HELO_MAX), an encoded XFORWARD value (SMTP_XF_VALUE_MAX).
 */
#ifndef TG_SMTP_CMD_H
#define TG_SMTP_CMD_H

#include <stddef.h>

#include "lib/message.h"

#define SMTP_LINE_MAX 4096	/* command line, without CR LF */
#define SMTP_ADDR_MAX 1024	/* address between the angle brackets */
#define SMTP_PARAMS_MAX 16	/* MAIL/RCPT parameters per command */
#define SMTP_HELO_MAX 255	/* EHLO/LHLO/HELO argument */
#define SMTP_XF_VALUE_MAX 255	/* XFORWARD value as sent (xtext) */
#define SMTP_VERB_MAX 32	/* longest verb we echo back in a reply */

enum smtp_verb {
	SMTP_VERB_NONE = 0,	/* not recognised (or no verb at all) */
	SMTP_HELO, SMTP_EHLO, SMTP_LHLO,
	SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_BDAT,
	SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_HELP,
	SMTP_XFORWARD, SMTP_STARTTLS,
	SMTP_EXPN, SMTP_TURN, SMTP_ETRN, SMTP_SEND, SMTP_SOML, SMTP_SAML,
	SMTP_VERB_COUNT
};

/* session states, as bits so that a verb table row lists where it is allowed */
enum smtp_state {
	SMTP_ST_INIT = 1 << 0,	/* connected, no EHLO/LHLO/HELO yet (or after STARTTLS) */
	SMTP_ST_IDLE = 1 << 1,	/* greeted, no transaction */
	SMTP_ST_MAIL = 1 << 2,	/* MAIL accepted, no recipient accepted yet */
	SMTP_ST_RCPT = 1 << 3,	/* at least one recipient accepted */
	SMTP_ST_BDAT = 1 << 4,	/* BDAT chunks (not LAST) received */
};
#define SMTP_ST_ANY (SMTP_ST_INIT | SMTP_ST_IDLE | SMTP_ST_MAIL | SMTP_ST_RCPT | SMTP_ST_BDAT)

/* what kind of failure smtp_cmd_parse() reported */
enum smtp_cmd_err {
	SMTP_ERR_NONE = 0,
	SMTP_ERR_TOO_LONG,	/* 500 line too long */
	SMTP_ERR_SYNTAX,	/* 500 bad syntax: no verb, NUL byte */
	SMTP_ERR_UNKNOWN,	/* 500 command not recognised */
	SMTP_ERR_NOT_IMPL,	/* 502 command not implemented */
	SMTP_ERR_ARGS,		/* 501 bad arguments */
	SMTP_ERR_PARAM,		/* 555 unrecognised MAIL/RCPT parameter */
};

/* XFORWARD attributes, in the order of the EHLO keyword */
enum smtp_xf_attr {
	SMTP_XF_NAME, SMTP_XF_ADDR, SMTP_XF_PORT, SMTP_XF_PROTO,
	SMTP_XF_HELO, SMTP_XF_IDENT, SMTP_XF_SOURCE,
	SMTP_XF_COUNT
};

struct smtp_verb_info {
	const char *name;	/* upper case */
	enum smtp_verb verb;
	unsigned states;	/* SMTP_ST_* bits where the verb is allowed */
	int not_impl;		/* answered 502 whatever the state */
};

struct smtp_cmd {
	enum smtp_verb verb;
	const struct smtp_verb_info *info;	/* NULL when verb is NONE */
	enum smtp_cmd_err err;
	const char *arg;	/* everything after the verb, blanks trimmed ("" if none) */

	/* EHLO / LHLO / HELO */
	const char *helo;

	/* MAIL / RCPT */
	const char *addr;	/* between < and >, as received; "" is the null sender */
	long long size;		/* SIZE=, -1 when absent (saturates at LLONG_MAX) */
	enum body_type body;
	int smtputf8;
	enum dsn_ret ret;
	const char *envid;	/* ENVID= as received (valid xtext), or NULL */
	unsigned notify;	/* DSN_NOTIFY_* bits, 0 when absent */
	const char *orcpt;	/* ORCPT= as received ("type;xtext"), or NULL */

	/* BDAT */
	unsigned long long bdat_size;
	int bdat_last;

	/* XFORWARD: bit i of xf_set says attribute i was given; xf[i] is its
	 * decoded value, NULL for [UNAVAILABLE], [TEMPUNAVAIL] or empty */
	unsigned xf_set;
	const char *xf[SMTP_XF_COUNT];

	char reply[160];	/* error replies that quote the peer are built here */
	char buf[SMTP_LINE_MAX + 1];
};

/* smtp_cmd_parse - parse one command line (without CR LF; may hold any
 * bytes); 0, or -1 with the reply line in *error_r and cmd->err set */
int smtp_cmd_parse(struct smtp_cmd *cmd, const char *line, size_t len, const char **error_r);

/* smtp_cmd_check_state - 0 when verb may be used in state (one SMTP_ST_*
 * bit), else -1 with the reply line in *error_r */
int smtp_cmd_check_state(enum smtp_verb verb, unsigned state, const char **error_r);

/* smtp_verb_lookup - table row for a verb name (case-insensitive, len
 * bytes), NULL when unknown */
const struct smtp_verb_info *smtp_verb_lookup(const char *name, size_t len);

/* smtp_xtext_decode - decode RFC 3461 xtext from in (len bytes) into out
 * (outsz, NUL-terminated); -1 on bad xtext, a decoded control character
 * or NUL, or when out is too small */
int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz);

/* smtp_xtext_valid - 1 when s (len bytes) is well-formed xtext */
int smtp_xtext_valid(const char *s, size_t len);


#endif
