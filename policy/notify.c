/*
 * notify.c - the messages we write ourselves: the DSN to the envelope
 * sender of a bounced recipient (RFC 3464 inside an RFC 6522
 * multipart/report) and the admin notification in the shape of
 * amavisd-new 2.13's template-virus-admin. Both are composed, part by
 * part, into a struct buf with CRLF lines; sending them (notify_method)
 * is the caller's.
 *
 * Left out: success and delay DSNs (NOTIFY=SUCCESS is passed on
 * downstream), RET=FULL (amavisd too returns the header section only),
 * message/global-* for SMTPUTF8, the sender and recipient notification
 * templates, and amavisd's per-ccat template choice (one neutral DSN
 * text serves every ccat).
 * Limits: NOTIFY_HDR_MAX bytes of the original header section are
 * returned; text taken from the message is cut and made printable.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/mem.h"
#include "policy/decide.h"
#include "policy/decide_private.h"

#define NOTIFY_HDR_MAX	(64 * 1024)	/* original header bytes returned */
#define NOTIFY_FIELD_MAX 300		/* bytes kept of a header value we quote */
#define NOTIFY_ADDR_MAX	320		/* bytes kept of an address */

/* ---- helpers ---- */

/* xtext_decode - RFC 3461 xtext ("+2B" → '+'), made printable */
static char *xtext_decode(struct arena *a, const char *s)
{
	struct buf b = BUF_INIT;
	char *out;

	for (; s && *s; s++) {
		if (s[0] == '+' && s[1] && s[2]) {
			char hex[3] = { s[1], s[2], 0 };
			char *end;
			long v = strtol(hex, &end, 16);

			if (*end == 0) {
				buf_putc(&b, (char)v);
				s += 2;
				continue;
			}
		}
		buf_putc(&b, *s);
	}
	out = arena_printable(a, b.data ? b.data : "", NOTIFY_ADDR_MAX);
	buf_free(&b);
	return out;
}

/* orig_header - the original header section (without the empty line),
 * at most NOTIFY_HDR_MAX bytes, ending in CRLF; *has8_r: 8-bit bytes */
static const char *orig_header(struct message *msg, size_t *len_r, int *has8_r)
{
	size_t len = 0, n = 0, i;
	const char *data = msg->spool ? spool_data(msg->spool, &len) : NULL;

	*has8_r = 0;
	*len_r = 0;
	if (data == NULL)
		return "";
	while (n < len) {
		const char *nl = memchr(data + n, '\n', len - n);
		size_t ll = nl ? (size_t)(nl - (data + n)) : len - n;

		if (ll == 0 || (ll == 1 && data[n] == '\r'))
			break;
		if (n + ll + 1 > NOTIFY_HDR_MAX)
			break;
		n += nl ? ll + 1 : ll;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)data[i] >= 0x80)
			*has8_r = 1;
	*len_r = n;
	return data;
}

/* put_lines - append text with every line end made CRLF; a missing
 * final line end is added */
static void put_lines(struct buf *b, const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (s[i] != '\n')
			continue;
		buf_append(b, s + start, (i > start && s[i - 1] == '\r') ? i - 1 - start : i - start);
		buf_puts(b, "\r\n");
		start = i + 1;
	}
	if (start < len) {
		buf_append(b, s + start, len - start);
		buf_puts(b, "\r\n");
	}
}

/* host_of - our host name in notices ("localhost" when unset) */
static const char *host_of(const struct notify_opts *o)
{
	return o && o->myhostname && *o->myhostname ? o->myhostname : "localhost";
}

/* hdr_from - the From: of our messages (amavisd's hdrfrom_notify_*) */
static const char *hdr_from(struct arena *a, const struct notify_opts *o)
{
	if (o && o->hdr_from && *o->hdr_from)
		return o->hdr_from;
	return arena_printf(a, "\"Content-filter at %s\" <postmaster@%s>", host_of(o), host_of(o));
}

/* client_ip - the original client, from XFORWARD, else our peer */
static const char *client_ip(struct message *msg, const char **port_r)
{
	const char *ip = msg->xf.addr ? msg->xf.addr : msg->client_addr;

	*port_r = msg->xf.addr ? msg->xf.port : msg->client_port;
	if (ip && strncasecmp(ip, "IPV6:", 5) == 0)
		ip += 5;
	return ip && *ip ? ip : NULL;
}

/* part_start - a MIME body part header */
static void part_start(struct buf *b, const char *boundary, const char *type, const char *disp,
    const char *cte, const char *descr)
{
	buf_printf(b, "\r\n--%s\r\n", boundary);
	buf_printf(b, "Content-Type: %s\r\n", type);
	if (disp)
		buf_printf(b, "Content-Disposition: %s\r\n", disp);
	buf_printf(b, "Content-Transfer-Encoding: %s\r\n", cte);
	if (descr)
		buf_printf(b, "Content-Description: %s\r\n", descr);
	buf_puts(b, "\r\n");
}

/* orig_fields - Return-Path, From, Sender, Message-ID, Subject of the
 * original, as amavisd's templates quote them */
static void orig_fields(struct buf *b, struct message *msg)
{
	static const char *const names[] = { "From", "Sender", "Message-ID", "Subject" };
	size_t k;

	buf_printf(b, "Return-Path: <%s>\r\n", arena_printable(msg->arena, msg->sender, NOTIFY_ADDR_MAX));
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const char *v = message_header(msg, names[k]);

		if (v && *v)
			buf_printf(b, "%s: %s\r\n", names[k], arena_printable(msg->arena, v, NOTIFY_FIELD_MAX));
	}
}

/* returned_headers - the text/rfc822-headers part (amavisd's header.hdr) */
static void returned_headers(struct buf *b, struct message *msg, const char *boundary)
{
	size_t hlen;
	int has8;
	const char *h = orig_header(msg, &hlen, &has8);

	part_start(b, boundary, "text/rfc822-headers; name=\"header.hdr\"",
	    "inline; filename=\"header.hdr\"", has8 ? "8bit" : "7bit", "Message header section");
	buf_printf(b, "Return-Path: <%s>\r\n", arena_printable(msg->arena, msg->sender, NOTIFY_ADDR_MAX));
	put_lines(b, h, hlen);
}

/* one notice being composed: its message, buffer, date and MIME boundary */
struct notice {
	struct message *msg;
	struct arena *a;
	struct buf *b;			/* the notify_msg's data */
	const char *host;		/* host_of() */
	time_t now;
	char date[80];
	char boundary[128];
};

/* notice_start - clear *n_r and begin a notice into its buffer */
static void notice_start(struct notice *nc, struct message *msg, const struct notify_opts *o,
    struct notify_msg *n_r)
{
	nc->msg = msg;
	nc->a = msg->arena;
	nc->host = host_of(o);
	nc->now = o && o->now ? o->now : time(NULL);
	memset(n_r, 0, sizeof(*n_r));
	nc->b = &n_r->data;
	buf_init(nc->b);
	message_date(nc->date, sizeof(nc->date), nc->now);
	snprintf(nc->boundary, sizeof(nc->boundary), "----------=_%lld-%s-%s", (long long)nc->now, msg->am_id,
	    msg->mail_id);
}

/* notice_end - the returned header section as the last part, and the
 * closing boundary */
static void notice_end(struct notice *nc)
{
	returned_headers(nc->b, nc->msg, nc->boundary);
	buf_printf(nc->b, "\r\n--%s--\r\n", nc->boundary);
}

/* ---- DSN ---- */

/*
 * virus_fakes_sender - 1 when a virus of the message is one that forges
 * its envelope sender, so a DSN would go to an innocent (amavisd's
 * @viruses_that_fake_sender_maps as Debian's 20-debian_defaults sets
 * it: a name with the word EICAR, any case, does not; every other name
 * does). o->virus_dsn turns the rule off: DSNs for every virus.
 */
static int virus_fakes_sender(const struct decide_facts *f, const struct notify_opts *o)
{
	unsigned i;

	if (f == NULL || f->n_virus == 0 || (o && o->virus_dsn))
		return 0;
	for (i = 0; i < f->n_virus; i++) {
		const char *n = f->virus_names ? f->virus_names[i] : NULL, *p;
		int test = 0;

		for (p = n; p && *p && !test; p++) {
			if (strncasecmp(p, "eicar", 5) != 0)
				continue;
			test = (p == n || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
			    !(isalnum((unsigned char)p[5]) || p[5] == '_');
		}
		if (!test)
			return 1;	/* amavisd: any faking virus suppresses the DSN */
	}
	return 0;
}

/* dsn_state - whether recipient i is owed a DSN (amavisd's
 * delivery_status_notification rules, in its order) */
static enum decide_dsn dsn_state(struct message *msg, const struct decide_result *res, size_t i,
    const struct notify_opts *o, int all_rejected)
{
	const struct decide_rcpt *rr = &res->r[i];
	const struct decide_facts *f = res->facts;
	const struct rcpt *r = &msg->rcpts[i];
	unsigned notify = r->notify;

	if (r->code / 100 != 5)
		return DECIDE_DSN_NONE;		/* 2xx: no failure; 4xx: not reported */
	if (rr->destiny == D_REJECT && (msg->lmtp || all_rejected))
		return DECIDE_DSN_NONE;		/* the 5xx goes back to the client */
	if ((notify != 0 && !(notify & DSN_NOTIFY_FAILURE)) || (notify & DSN_NOTIFY_NEVER))
		return DECIDE_DSN_SUPPRESSED;
	if (msg->sender == NULL || *msg->sender == 0)
		return DECIDE_DSN_SUPPRESSED;
	if (rr->blocked && rr->destiny == D_DISCARD)
		return DECIDE_DSN_SUPPRESSED;
	if (virus_fakes_sender(f, o))
		return DECIDE_DSN_SUPPRESSED;	/* it would go to an innocent */
	if (f && f->spam_scored && rr->pol && decide_level_set(rr->pol->dsn_cutoff_level) &&
	    f->spam_score >= rr->pol->dsn_cutoff_level)
		return DECIDE_DSN_SUPPRESSED;
	if (f && f->bulk && rr->nccat && CCAT_MAJOR(rr->ccat[0]) > CC_CLEAN)
		return DECIDE_DSN_SUPPRESSED;
	return DECIDE_DSN_PENDING;
}

/* dsn_subject - amavisd's template-dsn Subject */
static const char *dsn_subject(struct message *msg, const struct decide_result *res, int any_delivered)
{
	static const char *const badh[] = { "", ": bad MIME", ": unencoded 8-bit character",
		": improper use of control char", ": all-whitespace header line",
		": header line longer than 998 characters", ": header field syntax error",
		": missing required header field", ": duplicate header field" };
	const struct decide_facts *f = res->facts;
	unsigned c = decide_msg_ccat(res), min = CCAT_MINOR(c);
	const char *head = any_delivered ? "Delivery status notification" : "Undeliverable mail";
	struct arena *a = msg->arena;

	switch (CCAT_MAJOR(c)) {
	case CC_MTA:
		return arena_printf(a, "%s, MTA-BLOCKED", head);
	case CC_OVERSIZED:
		return arena_printf(a, "%s, OVERSIZED message", head);
	case CC_BADH:
		return arena_printf(a, "%s, invalid header section%s", head,
		    min < sizeof(badh) / sizeof(badh[0]) ? badh[min] : "");
	case CC_SPAMMY:
	case CC_SPAM:
		return arena_printf(a, "%s, UNSOLICITED BULK EMAIL apparently from you", head);
	case CC_UNCHECKED:
		return arena_printf(a, "%s, contents UNCHECKED", head);
	case CC_BANNED:
		return arena_printf(a, "%s, BANNED contents type (%s)", head,
		    arena_printable(a, f && f->banned_reason ? f->banned_reason : "", NOTIFY_FIELD_MAX));
	case CC_VIRUS:
		return arena_printf(a, "%s, VIRUS in message apparently from you (%s)", head, decide_virus_list(a, f));
	default:
		return head;
	}
}

/* dsn_mark - each recipient's DSN state (dsn_state) into res; returns
 * how many are owed one (PENDING); *any_delivered_r: some recipient passed */
static size_t dsn_mark(struct message *msg, struct decide_result *res, const struct notify_opts *o,
    int *any_delivered_r)
{
	int all_rejected = msg->nrcpts > 0;
	size_t i, nin = 0;

	*any_delivered_r = 0;
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		if (!(res->r[i].destiny == D_REJECT && msg->rcpts[i].code / 100 == 5))
			all_rejected = 0;
		if (!res->r[i].blocked && msg->rcpts[i].code / 100 == 2)
			*any_delivered_r = 1;
	}
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		enum decide_dsn d = dsn_state(msg, res, i, o, all_rejected);

		if (d != DECIDE_DSN_NONE)
			res->r[i].dsn = d;
		if (d == DECIDE_DSN_PENDING)
			nin++;
	}
	return nin;
}

/* dsn_head - the DSN's header section and MIME preamble */
static void dsn_head(struct notice *nc, const struct decide_result *res, const struct notify_opts *o,
    int any_delivered)
{
	struct buf *b = nc->b;
	struct message *msg = nc->msg;

	decide_fold_field(b, "From", hdr_from(nc->a, o));
	buf_printf(b, "To: <%s>\r\n", arena_printable(nc->a, msg->sender, NOTIFY_ADDR_MAX));
	buf_printf(b, "Date: %s\r\n", nc->date);
	decide_fold_field(b, "Subject", dsn_subject(msg, res, any_delivered));
	buf_printf(b, "Message-ID: <DSN%s@%s>\r\n", msg->mail_id, nc->host);
	buf_puts(b, "MIME-Version: 1.0\r\n");
	buf_printf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"%s\"\r\n",
	    nc->boundary);
	buf_puts(b, "Content-Transfer-Encoding: 7bit\r\n\r\n");
	buf_puts(b, "This is a multi-part message in MIME format...\r\n");
}

/* dsn_text - part 1, for people: who did not get it and why */
static void dsn_text(struct notice *nc, const struct decide_result *res)
{
	const struct decide_facts *f = res->facts;
	struct message *msg = nc->msg;
	struct buf *b = nc->b;
	struct arena *a = nc->a;
	size_t i;

	part_start(b, nc->boundary, "text/plain; charset=\"us-ascii\"", "inline", "7bit", NULL);
	buf_puts(b, "The message WAS NOT relayed to:\r\n");
	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		if (res->r[i].dsn != DECIDE_DSN_PENDING)
			continue;
		buf_printf(b, "  <%s>:\r\n    %s\r\n", arena_printable(a, msg->rcpts[i].addr, NOTIFY_ADDR_MAX),
		    arena_printable(a, msg->rcpts[i].reply, 512));
	}
	buf_printf(b, "\r\nThis nondelivery report was generated by the program tollgate\r\n"
	    "at host %s. Our internal reference code for your message\r\nis %s/%s\r\n\r\n",
	    nc->host, msg->am_id, msg->mail_id);
	if (CCAT_MAJOR(decide_msg_ccat(res)) == CC_BADH && f && f->badh_text)
		buf_printf(b, "INVALID HEADER\r\n  %s\r\n\r\n", arena_printable(a, f->badh_text, NOTIFY_FIELD_MAX));
	orig_fields(b, msg);
}

/* dsn_status_code - the enhanced code of our 5xx reply ("5.7.0"), else "5.0.0" */
static void dsn_status_code(const char *reply, char *status, size_t size)
{
	size_t el = 0;

	if (strlen(reply) > 4 && reply[4] == '5' && reply[5] == '.') {
		el = strcspn(reply + 4, " ");
		if (el >= size)
			el = 0;
	}
	if (el) {
		memcpy(status, reply + 4, el);
		status[el] = 0;
	} else {
		strlcpy(status, "5.0.0", size);
	}
}

/* dsn_rcpt_fields - the per-recipient fields of RFC 3464 for r */
static void dsn_rcpt_fields(struct notice *nc, const struct rcpt *r)
{
	struct buf *b = nc->b;
	struct arena *a = nc->a;
	const char *reply = arena_printable(a, r->reply, 512);
	char status[16];

	dsn_status_code(reply, status, sizeof(status));
	buf_puts(b, "\r\n");
	if (r->orcpt && *r->orcpt)
		buf_printf(b, "Original-Recipient: %s\r\n", xtext_decode(a, r->orcpt));
	buf_printf(b, "Final-Recipient: rfc822;%s\r\n", arena_printable(a, r->addr, NOTIFY_ADDR_MAX));
	buf_puts(b, "Action: failed\r\n");
	buf_printf(b, "Status: %s\r\n", status);
	decide_fold_field(b, "Diagnostic-Code", arena_printf(a, "smtp; %s", reply));
	buf_printf(b, "Last-Attempt-Date: %s\r\n", nc->date);
	buf_printf(b, "Final-Log-ID: %s/%s\r\n", nc->msg->am_id, nc->msg->mail_id);
}

/* dsn_report - part 2, message/delivery-status (RFC 3464) */
static void dsn_report(struct notice *nc, const struct decide_result *res)
{
	struct message *msg = nc->msg;
	struct buf *b = nc->b;
	struct arena *a = nc->a;
	size_t i;

	part_start(b, nc->boundary, "message/delivery-status", "inline; filename=\"dsn_status.dsn\"", "7bit",
	    "Delivery error report");
	buf_printf(b, "Reporting-MTA: dns; %s\r\n", nc->host);
	if (msg->helo && *msg->helo)
		buf_printf(b, "Received-From-MTA: dns; %s ([%s])\r\n", arena_printable(a, msg->helo, 255),
		    arena_printable(a, msg->client_addr ? msg->client_addr : "", 64));
	buf_printf(b, "Arrival-Date: %s\r\n", nc->date);
	if (msg->envid && *msg->envid)
		buf_printf(b, "Original-Envelope-Id: %s\r\n", xtext_decode(a, msg->envid));
	for (i = 0; i < msg->nrcpts && i < res->n; i++)
		if (res->r[i].dsn == DECIDE_DSN_PENDING)
			dsn_rcpt_fields(nc, &msg->rcpts[i]);
}

/* notify_dsn - see decide.h: mark who is owed one, then the header, the
 * text, the report and the returned header section */
int notify_dsn(struct message *msg, struct decide_result *res, const struct notify_opts *o,
    struct notify_msg *n_r)
{
	struct notice nc;
	int any_delivered;

	if (dsn_mark(msg, res, o, &any_delivered) == 0)
		return 0;
	notice_start(&nc, msg, o, n_r);
	dsn_head(&nc, res, o, any_delivered);
	dsn_text(&nc, res);
	dsn_report(&nc, res);
	notice_end(&nc);
	n_r->env_from = "";
	n_r->rcpts = arena_allocarray(nc.a, 1, sizeof(char *));
	n_r->rcpts[0] = msg->sender;
	n_r->nrcpts = 1;
	n_r->envid = NULL;
	return 1;
}

/* ---- admin notification ---- */

/* admin_subject - template-virus-admin's Subject */
static const char *admin_subject(struct message *msg, const struct decide_result *res)
{
	static const char *const what[CC_MAJORS] = { "Clean mail", "Clean mail", "MTA-blocked mail",
		"OVERSIZED mail", "INVALID HEADER in mail", "Spammy", "Spam", "UNCHECKED contents in mail",
		NULL, NULL };
	const struct decide_facts *f = res->facts;
	struct arena *a = msg->arena;
	unsigned maj = CCAT_MAJOR(decide_msg_ccat(res));
	const char *port, *ip = client_ip(msg, &port), *w;
	struct buf b = BUF_INIT;
	const char *out;

	if (maj == CC_VIRUS)
		w = arena_printf(a, "VIRUS (%s) in mail", decide_virus_list(a, f));
	else if (maj == CC_BANNED)
		w = arena_printf(a, "BANNED contents (%s) in mail",
		    arena_printable(a, f && f->banned_reason ? f->banned_reason : "", NOTIFY_FIELD_MAX));
	else
		w = what[maj < CC_MAJORS ? maj : 0];
	buf_printf(&b, "%s FROM ", w);
	if (f && f->originating)
		buf_puts(&b, "LOCAL ");
	if (ip) {
		buf_printf(&b, "[%s]", arena_printable(a, ip, 64));
		if (port && *port)
			buf_printf(&b, ":%s", arena_printable(a, port, 8));
		buf_putc(&b, ' ');
	}
	buf_printf(&b, "<%s>", arena_printable(a, msg->sender, NOTIFY_ADDR_MAX));
	out = arena_strndup(a, b.data, b.len);
	buf_free(&b);
	return out;
}

/* admin_head - the notice's header section and MIME preamble */
static void admin_head(struct notice *nc, const struct decide_result *res, const struct notify_opts *o,
    const char *admin)
{
	struct buf *b = nc->b;

	buf_puts(b, "MIME-Version: 1.0\r\n");
	buf_printf(b, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n", nc->boundary);
	buf_puts(b, "Content-Transfer-Encoding: 8bit\r\n");
	decide_fold_field(b, "From", hdr_from(nc->a, o));
	buf_printf(b, "Date: %s\r\n", nc->date);
	decide_fold_field(b, "Subject", admin_subject(nc->msg, res));
	buf_printf(b, "To: <%s>\r\n", arena_printable(nc->a, admin, NOTIFY_ADDR_MAX));
	buf_printf(b, "Message-ID: <VA%s@%s>\r\n\r\n", nc->msg->mail_id, nc->host);
	buf_puts(b, "This is a multi-part message in MIME format...\r\n");
}

/* admin_findings - what was found (viruses, banned name, bad header,
 * the scanner), the content type, the reference and the first upstream
 * client */
static void admin_findings(struct notice *nc, const struct decide_result *res)
{
	const struct decide_facts *f = res->facts;
	struct message *msg = nc->msg;
	struct buf *b = nc->b;
	struct arena *a = nc->a;
	const char *port, *ip = client_ip(msg, &port);
	unsigned mainc = res->ccat[0];

	if (f == NULL || f->n_virus == 0)
		buf_puts(b, "No viruses were found.\r\n");
	else if (f->n_virus == 1)
		buf_printf(b, "A virus was found: %s\r\n", decide_virus_list(a, f));
	else if (f->n_virus == 2)
		buf_printf(b, "Two viruses were found:\r\n  %s\r\n", decide_virus_list(a, f));
	else
		buf_printf(b, "%u viruses were found:\r\n  %s\r\n", f->n_virus, decide_virus_list(a, f));
	buf_puts(b, "\r\n");
	if (f && f->banned_reason)
		buf_printf(b, "Banned name: %s\r\n", arena_printable(a, f->banned_reason, NOTIFY_FIELD_MAX));
	if (f && f->badh)
		buf_printf(b, "Bad header:\r\n  %s\r\n", arena_printable(a, f->badh_text ? f->badh_text : "",
		    NOTIFY_FIELD_MAX));
	/* the template's blank line after the scanner line goes with it */
	if (f && f->n_virus)
		buf_printf(b, "Scanner detecting a virus: %s\r\n\r\n",
		    arena_printable(a, f->scanner_name ? f->scanner_name : "ClamAV", 64));
	buf_printf(b, "Content type: %s", category_name(mainc));
	if (res->blocked && res->blocking_ccat != mainc)
		buf_printf(b, ", blocked for %s", category_name(res->blocking_ccat));
	buf_printf(b, "\r\nInternal reference code for the message is %s/%s\r\n\r\n", msg->am_id, msg->mail_id);
	if (ip) {
		const char *name = msg->xf.name && strcmp(msg->xf.name, "unknown") != 0 ? msg->xf.name : "";

		buf_printf(b, "First upstream SMTP client IP address: [%s] %s\r\n\r\n", arena_printable(a, ip, 64),
		    arena_printable(a, name, 255));
	}
}

/* admin_fate - the original's fields, whether it was quarantined and
 * whether its sender is told */
static void admin_fate(struct notice *nc, const struct decide_result *res, const struct notify_opts *o)
{
	struct message *msg = nc->msg;
	struct buf *b = nc->b;

	orig_fields(b, msg);
	if (res->quarantine_id && *res->quarantine_id)
		buf_printf(b, "The message has been quarantined as: %s\r\n\r\n",
		    arena_printable(nc->a, res->quarantine_id, 200));
	else
		buf_puts(b, "Not quarantined.\r\n\r\n");
	if (msg->sender == NULL || *msg->sender == 0 || virus_fakes_sender(res->facts, o))
		buf_puts(b, "Notification to sender will not be mailed.\r\n\r\n");
}

/* rcpt_relayed - recipient i passed and got no 4xx or 5xx */
static int rcpt_relayed(const struct message *msg, const struct decide_result *res, size_t i)
{
	return !res->r[i].blocked && msg->rcpts[i].code / 100 != 4 && msg->rcpts[i].code / 100 != 5;
}

/* admin_rcpts - the recipients relayed, then those not (with their replies) */
static void admin_rcpts(struct notice *nc, const struct decide_result *res)
{
	struct message *msg = nc->msg;
	struct buf *b = nc->b;
	struct arena *a = nc->a;
	size_t i, npass = 0, nblock = 0;

	for (i = 0; i < msg->nrcpts && i < res->n; i++) {
		if (rcpt_relayed(msg, res, i))
			npass++;
		else
			nblock++;
	}
	if (npass) {
		buf_puts(b, "The message WILL BE relayed to:\r\n");
		for (i = 0; i < msg->nrcpts && i < res->n; i++)
			if (rcpt_relayed(msg, res, i))
				buf_printf(b, "<%s>\r\n", arena_printable(a, msg->rcpts[i].addr, NOTIFY_ADDR_MAX));
		buf_puts(b, "\r\n");
	}
	if (nblock) {
		buf_puts(b, "The message WAS NOT relayed to:\r\n");
		for (i = 0; i < msg->nrcpts && i < res->n; i++)
			if (!rcpt_relayed(msg, res, i))
				buf_printf(b, "<%s>:\r\n   %s\r\n", arena_printable(a, msg->rcpts[i].addr, NOTIFY_ADDR_MAX),
				    arena_printable(a, msg->rcpts[i].reply ? msg->rcpts[i].reply : "", 512));
		buf_puts(b, "\r\n");
	}
}

/* admin_scanner_output - one "<scanner>: <name> FOUND" line per virus */
static void admin_scanner_output(struct notice *nc, const struct decide_facts *f)
{
	struct arena *a = nc->a;
	unsigned k;

	if (f == NULL || f->n_virus == 0)
		return;
	buf_puts(nc->b, "Virus scanner output:\r\n");
	for (k = 0; k < f->n_virus; k++)
		buf_printf(nc->b, "  %s: %s FOUND\r\n", arena_printable(a, f->scanner_name ? f->scanner_name : "ClamAV", 64),
		    arena_printable(a, f->virus_names[k], NOTIFY_FIELD_MAX));
	buf_puts(nc->b, "\r\n");
}

/* admin_envelope - amavisd's envelope: from postmaster@host, ENVID
 * AM.<mail_id>.<UTC stamp>@host */
static void admin_envelope(struct notice *nc, const struct notify_opts *o, const char *admin,
    struct notify_msg *n_r)
{
	struct arena *a = nc->a;
	char stamp[32];
	struct tm tm;

	gmtime_r(&nc->now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	n_r->env_from = o && o->from_addr && *o->from_addr ? o->from_addr :
	    arena_printf(a, "postmaster@%s", nc->host);
	n_r->rcpts = arena_allocarray(a, 1, sizeof(char *));
	n_r->rcpts[0] = arena_strdup(a, admin);
	n_r->nrcpts = 1;
	n_r->envid = arena_printf(a, "AM.%s.%s@%s", nc->msg->mail_id, stamp, nc->host);
}

/* notify_admin - see decide.h: template-virus-admin's parts in its order */
void notify_admin(struct message *msg, const struct decide_result *res, const struct notify_opts *o,
    const char *admin, struct notify_msg *n_r)
{
	struct notice nc;

	notice_start(&nc, msg, o, n_r);
	admin_head(&nc, res, o, admin);
	part_start(nc.b, nc.boundary, "text/plain; charset=\"us-ascii\"", "inline", "7bit", NULL);
	admin_findings(&nc, res);
	admin_fate(&nc, res, o);
	admin_rcpts(&nc, res);
	admin_scanner_output(&nc, res->facts);
	notice_end(&nc);
	admin_envelope(&nc, o, admin, n_r);
}
