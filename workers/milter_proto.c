/*
 * milter_proto.c - framing, decoding and building of milter packets
 * (see milter_proto.h). Pure: no I/O, no logging, no session state, so
 * it can be unit-tested and fuzzed on its own.
 *
 * Left out: the filter → MTA requests we never send (ADDRCPT,
 * REPLBODY, CHGFROM, SETSYMLIST) and the macro-list part of an OPTNEG
 * answer; the MTA's default macros are enough for us.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "workers/milter_proto.h"

#define FOLD_COLUMN 78		/* fold edited header fields past this column */
#define FOLD_WORD_MAX 900	/* a longer word is cut, to stay under 998 */

/* be32 - read a big-endian 32-bit number */
static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* put_be32 - append a big-endian 32-bit number */
static void put_be32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
		(unsigned char)v };

	buf_append(b, p, 4);
}

/* is_body - a command whose data is message body */
static int is_body(unsigned char cmd)
{
	return cmd == SMFIC_BODY || cmd == SMFIC_BODYEOB;
}

void milter_reader_init(struct milter_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->buf = xmalloc(MILTER_PACKET_MAX + 1);
}

void milter_reader_free(struct milter_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

int milter_reader_idle(const struct milter_reader *r)
{
	return r->head_len == 0 && r->have == 0;
}

/*
 * milter_reader_push - see milter_proto.h. The length is checked as
 * soon as its 4 bytes are in, and the body limit as soon as the command
 * byte is: nothing is buffered beyond a limit, whatever the peer claims.
 */
int milter_reader_push(struct milter_reader *r, const void *data, size_t len, size_t *used_r,
    struct milter_packet *pkt_r, const char **error_r)
{
	const unsigned char *p = data;
	size_t used = 0;

	*used_r = 0;
	if (r->buf == NULL) {
		*error_r = "reader not initialised or failed";
		return -1;
	}
	while (r->head_len < 4 && used < len)
		r->head[r->head_len++] = p[used++];
	if (r->head_len < 4) {
		*used_r = used;
		return 0;
	}
	if (r->have == 0 && r->len == 0) {
		r->len = be32(r->head);
		if (r->len == 0 || r->len > MILTER_PACKET_MAX) {
			*used_r = used;
			*error_r = r->len == 0 ? "packet without a command byte" : "packet too long";
			milter_reader_free(r);
			return -1;
		}
	}
	while (r->have < r->len && used < len) {
		size_t k = r->len - r->have;

		if (k > len - used)
			k = len - used;
		memcpy(r->buf + r->have, p + used, k);
		if (r->have == 0 && is_body(r->buf[0]) && r->len - 1 > MILTER_BODY_MAX) {
			*used_r = used + 1;
			*error_r = "body chunk too long";
			milter_reader_free(r);
			return -1;
		}
		r->have += k;
		used += k;
	}
	*used_r = used;
	if (r->have < r->len)
		return 0;
	r->buf[r->len] = 0;	/* a NUL past the end, never counted as data */
	pkt_r->cmd = r->buf[0];
	pkt_r->data = r->buf + 1;
	pkt_r->len = r->len - 1;
	r->head_len = 0;
	r->have = 0;
	r->len = 0;
	return 1;
}

/*
 * split_strings - data[0..len) as NUL-terminated strings: it must end
 * in a NUL (or be empty), and hold at most max of them. 0 with *n_r,
 * -1 with *error_r.
 */
static int split_strings(const unsigned char *data, size_t len, const char **v, size_t max, size_t *n_r,
    const char **error_r)
{
	size_t n = 0, pos = 0;

	*n_r = 0;
	if (len == 0)
		return 0;
	if (data[len - 1] != 0) {
		*error_r = "string not NUL-terminated";
		return -1;
	}
	while (pos < len) {
		const unsigned char *nul = memchr(data + pos, 0, len - pos);

		if (n == max) {
			*error_r = "too many strings";
			return -1;
		}
		v[n++] = (const char *)data + pos;
		pos = (size_t)(nul - data) + 1;
	}
	*n_r = n;
	return 0;
}

/* exact_strings - exactly want strings in the data */
static int exact_strings(const struct milter_packet *p, const char **v, size_t want, const char **error_r)
{
	size_t n;

	if (split_strings(p->data, p->len, v, want, &n, error_r) < 0)
		return -1;
	if (n != want) {
		*error_r = "wrong number of strings";
		return -1;
	}
	return 0;
}

/* header_name_ok - RFC 5322 field name: printable, no ':' */
static int header_name_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 || *s == ':')
			return 0;
	return 1;
}

/* decode_connect - hostname\0 family [port(2) address\0] */
static int decode_connect(const struct milter_packet *p, struct milter_cmd *c, const char **error_r)
{
	const unsigned char *nul = p->len ? memchr(p->data, 0, p->len) : NULL;
	size_t pos;

	if (nul == NULL) {
		*error_r = "connect: host name not NUL-terminated";
		return -1;
	}
	c->hostname = (const char *)p->data;
	pos = (size_t)(nul - p->data) + 1;
	if (pos >= p->len) {
		*error_r = "connect: no address family";
		return -1;
	}
	c->family = (char)p->data[pos++];
	if (c->family == 'U') {
		if (pos != p->len) {
			*error_r = "connect: data after unknown family";
			return -1;
		}
		return 0;
	}
	if (c->family != '4' && c->family != '6' && c->family != 'L') {
		*error_r = "connect: bad address family";
		return -1;
	}
	if (p->len - pos < 3) {
		*error_r = "connect: truncated";
		return -1;
	}
	c->port = (unsigned)p->data[pos] << 8 | p->data[pos + 1];
	pos += 2;
	nul = memchr(p->data + pos, 0, p->len - pos);
	if (nul == NULL || (size_t)(nul - p->data) + 1 != p->len) {
		*error_r = "connect: address not one NUL-terminated string";
		return -1;
	}
	c->address = (const char *)p->data + pos;
	return 0;
}

/* decode_macro - stage byte, then name\0value\0 pairs */
static int decode_macro(const struct milter_packet *p, struct milter_cmd *c, const char **error_r)
{
	const char *v[2 * MILTER_MACROS_MAX];
	size_t n, i;

	if (p->len < 1) {
		*error_r = "macro: no stage";
		return -1;
	}
	c->macro_stage = p->data[0];
	if (split_strings(p->data + 1, p->len - 1, v, 2 * MILTER_MACROS_MAX, &n, error_r) < 0)
		return -1;
	if (n % 2) {
		*error_r = "macro: name without value";
		return -1;
	}
	for (i = 0; i < n / 2; i++) {
		if (*v[2 * i] == 0) {
			*error_r = "macro: empty name";
			return -1;
		}
		c->macro_name[i] = v[2 * i];
		c->macro_value[i] = v[2 * i + 1];
	}
	c->nmacros = n / 2;
	return 0;
}

int milter_decode(const struct milter_packet *p, struct milter_cmd *c, const char **error_r)
{
	const char *v[2];

	memset(c, 0, sizeof(*c));
	c->cmd = p->cmd;
	c->known = 1;
	switch (p->cmd) {
	case SMFIC_OPTNEG:
		if (p->len != 12) {
			*error_r = "optneg: not 12 bytes";
			return -1;
		}
		c->version = be32(p->data);
		c->actions = be32(p->data + 4);
		c->protocol = be32(p->data + 8);
		return 0;
	case SMFIC_MACRO:
		return decode_macro(p, c, error_r);
	case SMFIC_CONNECT:
		return decode_connect(p, c, error_r);
	case SMFIC_HELO:
	case SMFIC_UNKNOWN:
		if (exact_strings(p, v, 1, error_r) < 0)
			return -1;
		c->text = v[0];
		return 0;
	case SMFIC_MAIL:
	case SMFIC_RCPT:
		if (split_strings(p->data, p->len, c->args, MILTER_ARGS_MAX, &c->nargs, error_r) < 0)
			return -1;
		if (c->nargs == 0) {
			*error_r = "no address";
			return -1;
		}
		return 0;
	case SMFIC_HEADER:
		if (exact_strings(p, v, 2, error_r) < 0)
			return -1;
		if (!header_name_ok(v[0])) {
			*error_r = "header: bad field name";
			return -1;
		}
		c->name = v[0];
		c->value = v[1];
		return 0;
	case SMFIC_BODY:
	case SMFIC_BODYEOB:
		if (p->len > MILTER_BODY_MAX) {
			*error_r = "body chunk too long";
			return -1;
		}
		c->body = p->data;
		c->body_len = p->len;
		return 0;
	case SMFIC_EOH:
	case SMFIC_ABORT:
	case SMFIC_QUIT:
	case SMFIC_QUIT_NC:
	case SMFIC_DATA:
		if (p->len != 0) {
			*error_r = "unexpected data";
			return -1;
		}
		return 0;
	default:
		c->known = 0;
		return 0;
	}
}

int milter_negotiate(uint32_t mta_version, uint32_t mta_actions, uint32_t mta_protocol,
    uint32_t *version_r, uint32_t *actions_r, uint32_t *protocol_r, const char **error_r)
{
	if (mta_version < MILTER_VERSION_MIN) {
		*error_r = "MTA protocol version below 2";
		return -1;
	}
	if ((mta_actions & MILTER_ACTIONS_NEED) != MILTER_ACTIONS_NEED) {
		*error_r = "MTA does not allow adding/changing headers and removing recipients";
		return -1;
	}
	*version_r = mta_version > MILTER_VERSION ? MILTER_VERSION : mta_version;
	*actions_r = mta_actions & MILTER_ACTIONS_WANT;
	*protocol_r = *version_r >= 6 ? mta_protocol & MILTER_PROTO_WANT :
	    mta_protocol & (SMFIP_NOUNKNOWN | SMFIP_NODATA);
	return 0;
}

int milter_reply_expected(unsigned char cmd, uint32_t protocol)
{
	switch (cmd) {
	case SMFIC_MACRO:
	case SMFIC_ABORT:
	case SMFIC_QUIT:
	case SMFIC_QUIT_NC:
		return 0;
	case SMFIC_CONNECT:
		return !(protocol & SMFIP_NR_CONN);
	case SMFIC_HELO:
		return !(protocol & SMFIP_NR_HELO);
	case SMFIC_MAIL:
		return !(protocol & SMFIP_NR_MAIL);
	case SMFIC_RCPT:
		return !(protocol & SMFIP_NR_RCPT);
	case SMFIC_DATA:
		return !(protocol & SMFIP_NR_DATA);
	case SMFIC_UNKNOWN:
		return !(protocol & SMFIP_NR_UNKN);
	case SMFIC_HEADER:
		return !(protocol & SMFIP_NR_HDR);
	case SMFIC_EOH:
		return !(protocol & SMFIP_NR_EOH);
	case SMFIC_BODY:
		return !(protocol & SMFIP_NR_BODY);
	default:
		return 1;
	}
}

/* ---- building ---- */

void milter_put(struct buf *b, unsigned char cmd, const void *data, size_t len)
{
	put_be32(b, (uint32_t)(len + 1));
	buf_putc(b, (char)cmd);
	if (len)
		buf_append(b, data, len);
}

void milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions, uint32_t protocol)
{
	put_be32(b, 13);
	buf_putc(b, SMFIC_OPTNEG);
	put_be32(b, version);
	put_be32(b, actions);
	put_be32(b, protocol);
}

void milter_put_str(struct buf *b, unsigned char cmd, const char *s)
{
	milter_put(b, cmd, s, strlen(s) + 1);
}

void milter_put_header(struct buf *b, unsigned char cmd, uint32_t index, const char *name,
    const char *value)
{
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	int with_index = cmd != SMFIR_ADDHEADER;

	put_be32(b, (uint32_t)(1 + (with_index ? 4 : 0) + nl + vl));
	buf_putc(b, (char)cmd);
	if (with_index)
		put_be32(b, index);
	buf_append(b, name, nl);
	buf_append(b, value, vl);
}

/* reply_ok - "[45]dd[ -][same class]": what Postfix takes from SMFIR_REPLYCODE */
static int reply_ok(const char *s)
{
	return (s[0] == '4' || s[0] == '5') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
	    s[3] == ' ' && s[4] == s[0] && s[5] == '.';
}

void milter_put_replycode(struct buf *b, const char *reply, char deflt)
{
	struct buf t = BUF_INIT;
	const char *text = reply ? reply : "";
	size_t i;

	if (!reply_ok(text)) {
		int coded = (text[0] == '4' || text[0] == '5') && text[1] >= '0' && text[1] <= '9' &&
		    text[2] >= '0' && text[2] <= '9' && (text[3] == ' ' || text[3] == '-' || text[3] == 0);
		char cls = coded ? text[0] : (deflt == '5' ? '5' : '4');

		if (coded) {
			buf_append(&t, text, 3);
			text += text[3] ? 4 : 3;
		} else {
			buf_puts(&t, cls == '5' ? "554" : "451");
			/* a 2xx/3xx code in front means nothing here: drop it */
			if (text[0] >= '2' && text[0] <= '3' && text[1] >= '0' && text[1] <= '9' && text[2] >= '0' &&
			    text[2] <= '9' && (text[3] == ' ' || text[3] == 0))
				text += text[3] ? 4 : 3;
		}
		buf_printf(&t, " %c.7.0 ", cls);
		if (*text == 0)
			text = cls == '5' ? "Rejected" : "Try again later";
	}
	for (i = 0; text[i] && t.len < MILTER_REPLY_MAX; i++) {
		char ch = text[i];

		if (ch == '\r' || ch == '\n' || ch == '\t')
			ch = ' ';
		if (ch == '%')
			buf_putc(&t, '%');
		buf_putc(&t, ch);
	}
	milter_put(b, SMFIR_REPLYCODE, t.data, t.len + 1);
	buf_free(&t);
}

/* ---- text helpers ---- */

void milter_crlf(struct milter_crlf *st, struct buf *b, const void *data, size_t len)
{
	const char *p = data, *end = p + len;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = lf ? (size_t)(lf - p) : (size_t)(end - p);

		if (n > 0) {
			buf_append(b, p, n);
			st->cr = p[n - 1] == '\r';
		}
		if (lf == NULL)
			break;
		buf_append(b, st->cr ? "\n" : "\r\n", st->cr ? 1 : 2);
		st->cr = 0;
		p = lf + 1;
	}
}

void milter_header_line(struct buf *b, const char *name, const char *value, int leadspc)
{
	struct milter_crlf st = { 0 };

	buf_puts(b, name);
	buf_putc(b, ':');
	if (!leadspc)
		buf_putc(b, ' ');
	milter_crlf(&st, b, value, strlen(value));
	if (!st.cr)
		buf_puts(b, "\r\n");
	else
		buf_putc(b, '\n');
}

void milter_fold_value(struct buf *b, const char *name, const char *value, int leadspc)
{
	size_t col = strlen(name) + 1;
	const char *p = value ? value : "";
	int first = 1;

	while (*p) {
		const char *sp = p;
		size_t wl;

		while (*sp == ' ' || *sp == '\t' || *sp == '\r' || *sp == '\n')
			sp++;
		wl = strcspn(sp, " \t\r\n");
		if (wl == 0)
			break;
		if (wl > FOLD_WORD_MAX)
			wl = FOLD_WORD_MAX;
		if (!first && col + 1 + wl > FOLD_COLUMN) {
			buf_puts(b, "\n ");
			col = 1;
		} else if (!first || leadspc) {
			buf_putc(b, ' ');
			col++;
		} else {
			col++;		/* the space the MTA puts after the colon */
		}
		buf_append(b, sp, wl);
		col += wl;
		first = 0;
		p = sp + wl;
	}
	if (first && leadspc)
		buf_putc(b, ' ');
}

const char *milter_cmd_name(unsigned char cmd)
{
	switch (cmd) {
	case SMFIC_ABORT: return "SMFIC_ABORT";
	case SMFIC_BODY: return "SMFIC_BODY";
	case SMFIC_CONNECT: return "SMFIC_CONNECT";
	case SMFIC_MACRO: return "SMFIC_MACRO";
	case SMFIC_BODYEOB: return "SMFIC_BODYEOB";
	case SMFIC_HELO: return "SMFIC_HELO";
	case SMFIC_QUIT_NC: return "SMFIC_QUIT_NC";
	case SMFIC_HEADER: return "SMFIC_HEADER";
	case SMFIC_MAIL: return "SMFIC_MAIL";
	case SMFIC_EOH: return "SMFIC_EOH";
	case SMFIC_OPTNEG: return "SMFIC_OPTNEG";
	case SMFIC_QUIT: return "SMFIC_QUIT";
	case SMFIC_RCPT: return "SMFIC_RCPT";
	case SMFIC_DATA: return "SMFIC_DATA";
	case SMFIC_UNKNOWN: return "SMFIC_UNKNOWN";
	default: return "unknown";
	}
}
