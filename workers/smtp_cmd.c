/*
 * smtp_cmd.c - parse one SMTP/LMTP command line (see smtp_cmd.h): the
 * verb table with the states each verb is allowed in, and the argument
 * grammars of EHLO/LHLO/HELO, MAIL, RCPT, BDAT and XFORWARD.
 *
 * The grammar and the reply texts follow amavisd-new's In/SMTP.pm, made
 * a little more lenient where Postfix is (bare addresses, blanks after
 * "FROM:", bare LF handled by the reader) and stricter where a C string
 * would otherwise be cut or a header polluted (NUL and control bytes).
 * The line is copied into cmd->buf and cut into NUL-terminated pieces
 * there; nothing is allocated.
 *
 * Deliberately left out: address canonicalisation (quoting is kept as
 * received and forwarded as is), AUTH (the parameter is accepted and
 * ignored, the command is unknown), SIZE limits (the server's policy).
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/text.h"
#include "workers/smtp_cmd.h"

#define R_HELO_FIRST "503 5.5.1 Error: send HELO/EHLO first"
#define R_NESTED "503 5.5.1 Error: nested MAIL command"
#define R_XF_TX "503 5.5.1 Error: XFORWARD not allowed within transaction"
#define R_TLS_TX "503 5.5.1 Error: MAIL transaction in progress"

/* deny[] is indexed by the bit number of the state (INIT 0 ... BDAT 4) */
#define ST_INIT 0
#define ST_IDLE 1
#define ST_MAIL 2
#define ST_RCPT 3
#define ST_BDAT 4
#define ST_COUNT 5

struct verb_row {
	struct smtp_verb_info info;
	const char *deny[ST_COUNT];
};

/* one row per verb: where it is allowed, and the answer where it is not */
static const struct verb_row verb_table[] = {
	{ { "HELO", SMTP_HELO, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "EHLO", SMTP_EHLO, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "LHLO", SMTP_LHLO, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "MAIL", SMTP_MAIL, SMTP_ST_IDLE, 0 },
	  { [ST_INIT] = R_HELO_FIRST, [ST_MAIL] = R_NESTED, [ST_RCPT] = R_NESTED,
	    [ST_BDAT] = R_NESTED } },
	{ { "RCPT", SMTP_RCPT, SMTP_ST_MAIL | SMTP_ST_RCPT, 0 },
	  { [ST_INIT] = "503 5.5.1 Need MAIL command before RCPT",
	    [ST_IDLE] = "503 5.5.1 Need MAIL command before RCPT",
	    [ST_BDAT] = "503 5.5.1 Error: RCPT not allowed after BDAT" } },
	{ { "DATA", SMTP_DATA, SMTP_ST_MAIL | SMTP_ST_RCPT, 0 },
	  { [ST_INIT] = "503 5.5.1 Need MAIL command before DATA",
	    [ST_IDLE] = "503 5.5.1 Need MAIL command before DATA",
	    [ST_BDAT] = "503 5.5.1 Error: DATA not allowed after BDAT" } },
	{ { "BDAT", SMTP_BDAT, SMTP_ST_MAIL | SMTP_ST_RCPT | SMTP_ST_BDAT, 0 },
	  { [ST_INIT] = "503 5.5.1 Need MAIL command before BDAT",
	    [ST_IDLE] = "503 5.5.1 Need MAIL command before BDAT" } },
	{ { "RSET", SMTP_RSET, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "NOOP", SMTP_NOOP, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "QUIT", SMTP_QUIT, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "VRFY", SMTP_VRFY, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "HELP", SMTP_HELP, SMTP_ST_ANY, 0 }, { NULL } },
	{ { "XFORWARD", SMTP_XFORWARD, SMTP_ST_INIT | SMTP_ST_IDLE, 0 },
	  { [ST_MAIL] = R_XF_TX, [ST_RCPT] = R_XF_TX, [ST_BDAT] = R_XF_TX } },
	{ { "STARTTLS", SMTP_STARTTLS, SMTP_ST_INIT | SMTP_ST_IDLE, 0 },
	  { [ST_MAIL] = R_TLS_TX, [ST_RCPT] = R_TLS_TX, [ST_BDAT] = R_TLS_TX } },
	{ { "EXPN", SMTP_EXPN, SMTP_ST_ANY, 1 }, { NULL } },
	{ { "TURN", SMTP_TURN, SMTP_ST_ANY, 1 }, { NULL } },
	{ { "ETRN", SMTP_ETRN, SMTP_ST_ANY, 1 }, { NULL } },
	{ { "SEND", SMTP_SEND, SMTP_ST_ANY, 1 }, { NULL } },
	{ { "SOML", SMTP_SOML, SMTP_ST_ANY, 1 }, { NULL } },
	{ { "SAML", SMTP_SAML, SMTP_ST_ANY, 1 }, { NULL } },
};
#define VERB_TABLE_SIZE (sizeof(verb_table) / sizeof(verb_table[0]))

static const char *const xf_names[SMTP_XF_COUNT] = {
	"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE",
};

/* is_blank - SP or HTAB, the only separators of the command grammar */
static int is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* is_ctl - control characters (and DEL) that never belong in a command */
static int is_ctl(int c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/* quote_peer - peer text for a reply: at most max bytes, non-printables as \xNN */
static const char *quote_peer(char *out, size_t outsz, const char *in, size_t max)
{
	return log_printable(out, outsz, in, strnlen(in, max));
}

/* fail - record the failure kind and reply; always -1 */
static int fail(struct smtp_cmd *cmd, enum smtp_cmd_err err, const char *reply, const char **error_r)
{
	cmd->err = err;
	*error_r = reply;
	return -1;
}

/* failf - like fail() with a reply built in cmd->reply */
static int failf(struct smtp_cmd *cmd, enum smtp_cmd_err err, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int failf(struct smtp_cmd *cmd, enum smtp_cmd_err err, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd->reply, sizeof(cmd->reply), fmt, ap);	/* cutting is fine */
	va_end(ap);
	return fail(cmd, err, cmd->reply, error_r);
}

/* upcase - upper-case a NUL-terminated token in place */
static char *upcase(char *s)
{
	char *p;

	for (p = s; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return s;
}

/* next_token - cut the next blank-separated token from *pp, NULL at end */
static char *next_token(char **pp)
{
	char *p = *pp, *tok;

	while (is_blank(*p))
		p++;
	if (*p == 0) {
		*pp = p;
		return NULL;
	}
	tok = p;
	while (*p && !is_blank(*p))
		p++;
	if (*p)
		*p++ = 0;
	*pp = p;
	return tok;
}

/* smtp_verb_lookup - the table row of a verb name, or NULL */
const struct smtp_verb_info *smtp_verb_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < VERB_TABLE_SIZE; i++) {
		const char *v = verb_table[i].info.name;

		if (strlen(v) == len && strncasecmp(v, name, len) == 0)
			return &verb_table[i].info;
	}
	return NULL;
}

/* smtp_cmd_check_state - is the verb allowed in this state? else its deny reply */
int smtp_cmd_check_state(enum smtp_verb verb, unsigned state, const char **error_r)
{
	size_t i;
	int bit;

	for (i = 0; i < VERB_TABLE_SIZE; i++)
		if (verb_table[i].info.verb == verb)
			break;
	if (i == VERB_TABLE_SIZE) {
		*error_r = "500 5.5.2 Error: bad syntax";
		return -1;
	}
	if (verb_table[i].info.states & state)
		return 0;
	for (bit = 0; bit < ST_COUNT; bit++)
		if (state == (1u << bit))
			break;
	*error_r = bit < ST_COUNT && verb_table[i].deny[bit] ? verb_table[i].deny[bit]
	    : "503 5.5.1 Error: bad sequence of commands";
	return -1;
}

/* smtp_xtext_valid - RFC 3461 xtext: printable ASCII but '+' and '=', "+XX" escapes */
int smtp_xtext_valid(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (i + 2 >= len)
				return 0;
			if (text_hex_pair(s + i + 1) < 0)
				return 0;
			i += 2;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			return 0;
		}
	}
	return 1;
}

/* smtp_xtext_decode - strict xtext decoding into a bounded buffer */
int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;

	if (!smtp_xtext_valid(in, len))
		return -1;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '+') {
			c = text_hex_pair(in + i + 1);
			i += 2;
			if (c == 0 || is_ctl(c))
				return -1;
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	if (outsz == 0)
		return -1;
	out[o] = 0;
	return 0;
}

/*
 * parse_path - the address of MAIL FROM / RCPT TO, at *pp (blanks after
 * the colon already skipped): "<...>" with quoted strings, backslash
 * pairs and domain literals, or a bare token. The closing '>' is
 * replaced by NUL and *pp moved to the parameters. Returns 0, -1 on
 * bad syntax, -2 when the address is longer than SMTP_ADDR_MAX.
 */
static int parse_path(char **pp, const char **addr_r)
{
	char *p = *pp, *start, *q;

	if (*p == '<') {
		start = q = p + 1;
		for (;;) {
			int c = (unsigned char)*q;

			if (c == 0 || is_blank(c) || is_ctl(c))
				return -1;
			if (c == '>')
				break;
			if (c == '"' || c == '[') {
				int close = c == '"' ? '"' : ']';

				for (q++; *q != close; q++) {
					if (*q == 0 || is_ctl(*q))
						return -1;
					if (*q == '\\') {
						q++;
						if (*q == 0 || is_ctl(*q))
							return -1;
					}
				}
				q++;
				continue;
			}
			if (c == '\\') {
				q++;
				if (*q == 0 || is_blank(*q) || is_ctl(*q))
					return -1;
			}
			q++;
		}
		*q++ = 0;
		if (*q != 0 && !is_blank(*q))
			return -1;
		*pp = q;
	} else {
		start = q = p;
		while (*q && !is_blank(*q)) {
			if (is_ctl(*q) || *q == '<' || *q == '>')
				return -1;
			q++;
		}
		if (q == start)
			return -1;
		if (*q)
			*q++ = 0;
		*pp = q;
	}
	if (strlen(start) > SMTP_ADDR_MAX)
		return -2;
	*addr_r = start;
	return 0;
}

/* split_param - check "KEYWORD[=VALUE]" (amavisd's grammar), cut at '=';
 * 0 or -1 */
static int split_param(char *tok, char **name_r, char **value_r)
{
	char *p = tok;

	if (!isalnum((unsigned char)*p))
		return -1;
	while (isalnum((unsigned char)*p) || *p == '-')
		p++;
	*name_r = tok;
	*value_r = NULL;
	if (*p == 0)
		return 0;
	if (*p != '=' || p[1] == 0)
		return -1;
	*p++ = 0;
	*value_r = p;
	for (; *p; p++)
		if (*p == '=' || is_blank(*p) || is_ctl(*p))
			return -1;
	return 0;
}

/* parse_size - SIZE value, 1-20 digits, saturating; 0 or -1 */
static int parse_size(const char *v, long long *size_r)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 0; v[i]; i++) {
		if (!isdigit((unsigned char)v[i]) || i >= 20)
			return -1;
		unsigned d = (unsigned)(v[i] - '0');

		if (n > ((unsigned long long)LLONG_MAX - d) / 10)
			n = (unsigned long long)LLONG_MAX;
		else
			n = n * 10 + d;
	}
	if (i == 0)
		return -1;
	*size_r = n > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)n;
	return 0;
}

/* mail_param - one MAIL FROM parameter into cmd; 0 or -1 */
static int mail_param(struct smtp_cmd *cmd, char *name, char *val, const char **error_r)
{
	char q[80];

	upcase(name);
	if (val == NULL && (strcmp(name, "BODY") == 0 || strcmp(name, "RET") == 0 ||
	    strcmp(name, "ENVID") == 0 || strcmp(name, "AUTH") == 0))
		return failf(cmd, SMTP_ERR_ARGS, error_r,
		    "501 5.5.4 Syntax error in MAIL parameter, value is required: %s", name);
	if (strcmp(name, "SIZE") == 0) {
		long long n;

		if (val == NULL)
			return 0;	/* no value: ignored, as amavisd does */
		if (parse_size(val, &n) < 0)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in MAIL parameter: SIZE", error_r);
		if (cmd->size < 0)
			cmd->size = n;	/* the first one counts */
	} else if (strcmp(name, "SMTPUTF8") == 0) {
		if (val != NULL)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in MAIL parameter: SMTPUTF8", error_r);
		cmd->smtputf8 = 1;
	} else if (strcmp(name, "BODY") == 0) {
		if (strcasecmp(val, "7BIT") == 0)
			cmd->body = BODY_7BIT;
		else if (strcasecmp(val, "8BITMIME") == 0)
			cmd->body = BODY_8BITMIME;
		else if (strcasecmp(val, "BINARYMIME") == 0)
			cmd->body = BODY_BINARYMIME;
		else
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in MAIL parameter: BODY", error_r);
	} else if (strcmp(name, "RET") == 0) {
		if (cmd->ret != DSN_RET_NONE)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in MAIL parameter: RET", error_r);
		if (strcasecmp(val, "FULL") == 0)
			cmd->ret = DSN_RET_FULL;
		else if (strcasecmp(val, "HDRS") == 0)
			cmd->ret = DSN_RET_HDRS;
		else
			return failf(cmd, SMTP_ERR_ARGS, error_r, "501 5.5.4 Syntax error in MAIL parameter RET: %s",
			    quote_peer(q, sizeof(q), val, 32));
	} else if (strcmp(name, "ENVID") == 0) {
		if (cmd->envid != NULL || !smtp_xtext_valid(val, strlen(val)))
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in MAIL parameter: ENVID", error_r);
		cmd->envid = val;
	} else if (strcmp(name, "AUTH") == 0) {
		/* no AUTH offered: accepted and ignored (Postfix pre-queue proxies send it) */
	} else {
		return failf(cmd, SMTP_ERR_PARAM, error_r, "555 5.5.4 MAIL command parameter unrecognized: %s",
		    quote_peer(q, sizeof(q), name, 64));
	}
	return 0;
}

/* parse_notify - NEVER, or a comma list of SUCCESS FAILURE DELAY; 0 or -1 */
static int parse_notify(struct smtp_cmd *cmd, const char *val, const char **error_r)
{
	const char *p = val;
	unsigned bits = 0;
	char q[80];

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		unsigned bit;

		if (n == 5 && strncasecmp(p, "NEVER", 5) == 0)
			bit = DSN_NOTIFY_NEVER;
		else if (n == 7 && strncasecmp(p, "SUCCESS", 7) == 0)
			bit = DSN_NOTIFY_SUCCESS;
		else if (n == 7 && strncasecmp(p, "FAILURE", 7) == 0)
			bit = DSN_NOTIFY_FAILURE;
		else if (n == 5 && strncasecmp(p, "DELAY", 5) == 0)
			bit = DSN_NOTIFY_DELAY;
		else
			return failf(cmd, SMTP_ERR_ARGS, error_r,
			    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal value: %s",
			    quote_peer(q, sizeof(q), val, 64));
		bits |= bit;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER)
		return failf(cmd, SMTP_ERR_ARGS, error_r,
		    "501 5.5.4 Error in RCPT parameter NOTIFY, illegal combination of values: %s",
		    quote_peer(q, sizeof(q), val, 64));
	cmd->notify = bits;
	return 0;
}

/* orcpt_valid - "addr-type;address": an atom, ';', a non-empty address
 * (checked as xtext for rfc822; utf-8 types of RFC 6533 are passed on) */
static int orcpt_valid(const char *v)
{
	const char *semi = strchr(v, ';');
	const char *p;

	if (semi == NULL || semi == v || semi[1] == 0)
		return 0;
	for (p = v; p < semi; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
	if ((size_t)(semi - v) == 6 && strncasecmp(v, "rfc822", 6) == 0)
		return smtp_xtext_valid(semi + 1, strlen(semi + 1));
	return 1;
}

/* rcpt_param - one RCPT TO parameter into cmd; 0 or -1 */
static int rcpt_param(struct smtp_cmd *cmd, char *name, char *val, const char **error_r)
{
	char q[80];

	upcase(name);
	if (val == NULL && (strcmp(name, "NOTIFY") == 0 || strcmp(name, "ORCPT") == 0))
		return failf(cmd, SMTP_ERR_ARGS, error_r,
		    "501 5.5.4 Syntax error in RCPT parameter, value is required: %s", name);
	if (strcmp(name, "NOTIFY") == 0) {
		if (cmd->notify != 0)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in RCPT parameter NOTIFY", error_r);
		return parse_notify(cmd, val, error_r);
	}
	if (strcmp(name, "ORCPT") == 0) {
		if (cmd->orcpt != NULL || !orcpt_valid(val))
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in RCPT parameter ORCPT", error_r);
		cmd->orcpt = val;
		return 0;
	}
	return failf(cmd, SMTP_ERR_PARAM, error_r, "555 5.5.4 RCPT command parameter unrecognized: %s",
	    quote_peer(q, sizeof(q), name, 64));
}

/* parse_mail_rcpt - "FROM:<addr> params" or "TO:<addr> params" */
static int parse_mail_rcpt(struct smtp_cmd *cmd, char *arg, const char **error_r)
{
	int is_mail = cmd->verb == SMTP_MAIL;
	const char *kw = is_mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	char *p = arg, *tok;
	int rc, nparams = 0;

	if (strncasecmp(p, kw, kwlen) != 0)
		return fail(cmd, SMTP_ERR_ARGS, is_mail ? "501 5.5.2 Syntax: MAIL FROM:<address>" :
		    "501 5.5.2 Syntax: RCPT TO:<address>", error_r);
	p += kwlen;
	while (is_blank(*p))
		p++;
	rc = parse_path(&p, &cmd->addr);
	if (rc == -2)
		return fail(cmd, SMTP_ERR_ARGS, is_mail ? "501 5.1.7 Sender address too long" :
		    "501 5.1.3 Recipient address too long", error_r);
	if (rc < 0)
		return fail(cmd, SMTP_ERR_ARGS, is_mail ? "501 5.5.2 Syntax: MAIL FROM:<address>" :
		    "501 5.5.2 Syntax: RCPT TO:<address>", error_r);
	if (!is_mail && cmd->addr[0] == 0)
		return fail(cmd, SMTP_ERR_ARGS, "501 5.1.3 Bad recipient address syntax", error_r);
	for (tok = p; *tok; nparams++) {
		while (is_blank(*tok))
			tok++;
		if (*tok == 0)
			break;
		while (*tok && !is_blank(*tok))
			tok++;
	}
	if (nparams > SMTP_PARAMS_MAX)
		return fail(cmd, SMTP_ERR_ARGS, is_mail ? "501 5.5.4 Too many MAIL command parameters" :
		    "501 5.5.4 Too many RCPT command parameters", error_r);
	while ((tok = next_token(&p)) != NULL) {
		char *name, *val;

		if (split_param(tok, &name, &val) < 0)
			return fail(cmd, SMTP_ERR_ARGS, is_mail ? "501 5.5.4 Syntax error in MAIL FROM parameters" :
			    "501 5.5.4 Syntax error in RCPT parameters", error_r);
		rc = is_mail ? mail_param(cmd, name, val, error_r) : rcpt_param(cmd, name, val, error_r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* xf_decode - XFORWARD value decoded in place, the lenient way of
 * amavisd and Postfix < 2.3 peers: "+XX" is decoded wherever it is
 * hex, any other '+' is kept; -1 if a control character results */
static int xf_decode(char *v)
{
	char *r = v, *w = v;

	while (*r) {
		int c = (unsigned char)*r;

		if (c == '+' && text_hex_pair(r + 1) >= 0) {
			c = text_hex_pair(r + 1);
			r += 3;
		} else {
			r++;
		}
		if (c == 0 || is_ctl(c))
			return -1;
		*w++ = (char)c;
	}
	*w = 0;
	return 0;
}

/* parse_xforward - "NAME=value ..." attribute list into cmd->xf */
static int parse_xforward(struct smtp_cmd *cmd, char *arg, const char **error_r)
{
	char *p = arg, *tok;
	char q[80];

	while ((tok = next_token(&p)) != NULL) {
		char *eq = strchr(tok, '='), *val, *s;
		int i;

		if (eq == NULL || eq == tok || !isalnum((unsigned char)*tok))
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in XFORWARD parameters", error_r);
		*eq = 0;
		val = eq + 1;
		for (s = tok; *s; s++)
			if (!isalnum((unsigned char)*s) && *s != '-')
				return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in XFORWARD parameters",
				    error_r);
		if (strlen(val) > SMTP_XF_VALUE_MAX)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in XFORWARD parameters", error_r);
		for (s = val; *s; s++)
			if ((unsigned char)*s < 0x21 || *s == 0x7f)
				return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in XFORWARD parameters",
				    error_r);
		upcase(tok);
		for (i = 0; i < SMTP_XF_COUNT; i++)
			if (strcmp(tok, xf_names[i]) == 0)
				break;
		if (i == SMTP_XF_COUNT) {
			char qv[80];

			if (strcmp(tok, "LOGIN") == 0)
				continue;	/* XCLIENT's, accepted by amavisd too */
			return failf(cmd, SMTP_ERR_ARGS, error_r, "501 5.5.4 XFORWARD command parameter error: %s=%s",
			    quote_peer(q, sizeof(q), tok, 32), quote_peer(qv, sizeof(qv), val, 32));
		}
		if (strcasecmp(val, "[UNAVAILABLE]") == 0 || strcasecmp(val, "[TEMPUNAVAIL]") == 0 ||
		    *val == 0) {
			val = NULL;
		} else {
			if (xf_decode(val) < 0)
				return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax error in XFORWARD parameters",
				    error_r);
			if (i == SMTP_XF_ADDR && strncasecmp(val, "IPv6:", 5) == 0)
				val += 5;
			if (*val == 0)
				val = NULL;
		}
		cmd->xf_set |= 1u << i;
		cmd->xf[i] = val;
	}
	return 0;
}

/* parse_bdat - "size [LAST]"; 0 or -1 */
static int parse_bdat(struct smtp_cmd *cmd, char *arg, const char **error_r)
{
	char *p = arg, *num = next_token(&p), *last = next_token(&p);
	unsigned long long n = 0;
	size_t i;

	if (num == NULL || next_token(&p) != NULL || (last != NULL && strcasecmp(last, "LAST") != 0))
		goto bad;
	for (i = 0; num[i]; i++) {
		if (!isdigit((unsigned char)num[i]) || i >= 18)
			goto bad;
		n = n * 10 + (unsigned)(num[i] - '0');
	}
	cmd->bdat_size = n;
	cmd->bdat_last = last != NULL;
	return 0;
bad:
	return fail(cmd, SMTP_ERR_ARGS, "501 5.5.4 Syntax: BDAT count [LAST]", error_r);
}

/* parse_helo - the EHLO/LHLO/HELO name: the first word, printable, bounded */
static int parse_helo(struct smtp_cmd *cmd, char *arg, const char **error_r)
{
	char *p = arg, *name = next_token(&p), *s;

	if (name == NULL || strlen(name) > SMTP_HELO_MAX)
		goto bad;
	for (s = name; *s; s++)
		if (is_ctl(*s))
			goto bad;
	cmd->helo = name;
	return 0;
bad:
	return failf(cmd, SMTP_ERR_ARGS, error_r, "501 5.5.4 Syntax: %s hostname", cmd->info->name);
}

/* no_args - the verbs amavisd refuses arguments for */
static int no_args(struct smtp_cmd *cmd, const char *arg, const char **error_r)
{
	if (*arg == 0)
		return 0;
	return failf(cmd, SMTP_ERR_ARGS, error_r, "501 5.5.4 Error: %s does not accept arguments", cmd->info->name);
}

/*
 * smtp_cmd_parse - the line grammar is amavisd's: optional leading
 * blanks, a verb of a letter and then letters or digits, blanks, the
 * arguments, trailing blanks ignored. Anything else is "bad syntax";
 * a NUL byte anywhere too, since C strings could not see past it.
 */
int smtp_cmd_parse(struct smtp_cmd *cmd, const char *line, size_t len, const char **error_r)
{
	char *p, *verb, *end;
	size_t vlen, i;

	cmd->verb = SMTP_VERB_NONE;
	cmd->info = NULL;
	cmd->err = SMTP_ERR_NONE;
	cmd->arg = "";
	cmd->helo = NULL;
	cmd->addr = NULL;
	cmd->size = -1;
	cmd->body = BODY_NONE;
	cmd->smtputf8 = 0;
	cmd->ret = DSN_RET_NONE;
	cmd->envid = NULL;
	cmd->notify = 0;
	cmd->orcpt = NULL;
	cmd->bdat_size = 0;
	cmd->bdat_last = 0;
	cmd->xf_set = 0;
	for (i = 0; i < SMTP_XF_COUNT; i++)
		cmd->xf[i] = NULL;
	cmd->reply[0] = 0;
	cmd->buf[0] = 0;
	*error_r = NULL;

	if (len > SMTP_LINE_MAX)
		return fail(cmd, SMTP_ERR_TOO_LONG, "500 5.5.2 Error: line too long", error_r);
	if (memchr(line, 0, len) != NULL)
		return fail(cmd, SMTP_ERR_SYNTAX, "500 5.5.2 Error: bad syntax", error_r);
	memcpy(cmd->buf, line, len);
	cmd->buf[len] = 0;

	p = cmd->buf;
	while (is_blank(*p))
		p++;
	verb = p;
	if (!isalpha((unsigned char)*p))
		return fail(cmd, SMTP_ERR_SYNTAX, "500 5.5.2 Error: bad syntax", error_r);
	while (isalnum((unsigned char)*p))
		p++;
	vlen = (size_t)(p - verb);
	if (*p != 0 && !is_blank(*p))
		return fail(cmd, SMTP_ERR_SYNTAX, "500 5.5.2 Error: bad syntax", error_r);
	if (*p)
		*p++ = 0;
	while (is_blank(*p))
		p++;
	for (end = p + strlen(p); end > p && is_blank(end[-1]); end--)
		;
	*end = 0;
	cmd->arg = p;

	cmd->info = smtp_verb_lookup(verb, vlen);
	if (cmd->info == NULL) {
		if (vlen > SMTP_VERB_MAX)
			verb[SMTP_VERB_MAX] = 0;
		return failf(cmd, SMTP_ERR_UNKNOWN, error_r, "500 5.5.2 Error: command %s not recognized",
		    upcase(verb));
	}
	cmd->verb = cmd->info->verb;
	if (cmd->info->not_impl)
		return failf(cmd, SMTP_ERR_NOT_IMPL, error_r, "502 5.5.1 Error: command %s not implemented",
		    cmd->info->name);

	switch (cmd->verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
	case SMTP_LHLO:
		return parse_helo(cmd, p, error_r);
	case SMTP_MAIL:
	case SMTP_RCPT:
		return parse_mail_rcpt(cmd, p, error_r);
	case SMTP_BDAT:
		return parse_bdat(cmd, p, error_r);
	case SMTP_XFORWARD:
		return parse_xforward(cmd, p, error_r);
	case SMTP_DATA:
	case SMTP_RSET:
	case SMTP_QUIT:
	case SMTP_STARTTLS:
		return no_args(cmd, p, error_r);
	case SMTP_VRFY:
		if (*p == 0)
			return fail(cmd, SMTP_ERR_ARGS, "501 5.5.2 Syntax: VRFY address", error_r);
		return 0;
	default:
		return 0;	/* NOOP, HELP: any arguments */
	}
}
