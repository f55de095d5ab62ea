/*
 * ampdp_proto.h - amavisd's policy delegation protocol (AM.PDP) on the
 * wire, without any I/O: an incremental request parser and the response
 * line builder (amavisd-new README.protocol, In/AMPDP.pm).
 *
 * A request is "name=value" lines (LF or CR LF), ended by an empty line;
 * names and values are %XX-encoded, a value may hold several fields
 * separated by one raw space, and a name may repeat (recipient=...). The
 * same connection may carry any number of requests.
 *
 * Life cycle: ampdp_parser_create() → ampdp_parser_feed() with whatever
 * bytes arrived (any split point works) until it returns AMPDP_REQUEST →
 * read the request with ampdp_parser_request() and answer it → feed the
 * rest → ... → ampdp_parser_free(). The parser owns the request: its
 * strings stay valid until the next ampdp_parser_feed() call.
 *
 * Errors never break the framing: a line over the limit is skipped to
 * its end, attributes past the limits are dropped, and the request is
 * still delivered at its empty line, with req->error saying what was
 * wrong (the session answers it with a tempfail). Lines without '=' are
 * ignored and counted, as amavisd does.
 */
#ifndef TG_AMPDP_PROTO_H
#define TG_AMPDP_PROTO_H

#include <stddef.h>

struct buf;

#define AMPDP_LINE_MAX		16384	/* encoded bytes of one line, without LF */
#define AMPDP_ATTRS_MAX		2200	/* attributes per request, recipients included */
#define AMPDP_RCPTS_MAX		1100	/* recipient= attributes per request */
#define AMPDP_REQUEST_MAX	(4u << 20) /* encoded bytes of one request */

struct ampdp_limits {
	size_t line_max;	/* 0: AMPDP_LINE_MAX */
	size_t attrs_max;	/* 0: AMPDP_ATTRS_MAX */
	size_t rcpts_max;	/* 0: AMPDP_RCPTS_MAX */
	size_t request_max;	/* 0: AMPDP_REQUEST_MAX */
};

struct ampdp_attr {
	const char *name;	/* decoded, NUL-terminated */
	const char *value;	/* decoded, NUL-terminated (may hold more NULs: see len) */
	size_t value_len;
	int unsafe;		/* the decoded name or value holds NUL, CR or LF */
};

struct ampdp_request {
	const struct ampdp_attr *attrs;	/* in arrival order; attrs[0] is "request" unless error */
	size_t nattrs;
	size_t nrcpts;			/* recipient= among them */
	size_t ignored_lines;		/* lines without '=' or ':' */
	const char *error;		/* NULL, or why the request cannot be served */
	size_t bytes;			/* encoded size, including line ends */
};

enum { AMPDP_MORE = 0, AMPDP_REQUEST = 1 };

struct ampdp_parser;

/* ampdp_parser_create - a parser with these limits (NULL: the defaults) */
struct ampdp_parser *ampdp_parser_create(const struct ampdp_limits *lim);
void ampdp_parser_free(struct ampdp_parser **pp);

/*
 * ampdp_parser_feed - push len bytes. Returns AMPDP_REQUEST when a
 * request ended inside them (*used_r says how many bytes were taken, up
 * to and including its empty line; feed the rest afterwards), or
 * AMPDP_MORE when all len bytes were taken and no request is complete.
 */
int ampdp_parser_feed(struct ampdp_parser *p, const char *data, size_t len, size_t *used_r);

/* ampdp_parser_request - the request completed by the last feed */
const struct ampdp_request *ampdp_parser_request(const struct ampdp_parser *p);

/* ampdp_parser_pending - bytes of an unfinished request held so far
 * (0 between requests): lets the session tell a clean EOF from a cut one */
size_t ampdp_parser_pending(const struct ampdp_parser *p);

/* ampdp_get - the first value of name (NULL when absent); *n_r (may be
 * NULL) the number of times it appears */
const struct ampdp_attr *ampdp_get(const struct ampdp_request *r, const char *name, size_t *n_r);

/* ampdp_decode - %XX decoding of len bytes into out (room for len + 1);
 * a '%' not followed by two hex digits stays as it is. Returns the
 * decoded length; out is NUL-terminated. */
size_t ampdp_decode(const char *in, size_t len, char *out);

/*
 * ampdp_put - one response line "name=f1 f2 ...\r\n": the name encoded
 * except for [0-9A-Za-z_-], each field encoded except for printable
 * ASCII other than '%' and space (amavisd's proto_encode), fields joined
 * by one raw space.
 */
void ampdp_put(struct buf *b, const char *name, const char *const *fields, size_t nfields);
/* ampdp_put1 - ampdp_put() of a single field */
void ampdp_put1(struct buf *b, const char *name, const char *value);
/* ampdp_end - the empty line that ends a response */
void ampdp_end(struct buf *b);

/* ampdp_split_reply - "554 5.7.0 text" into its three setreply fields;
 * a reply without an enhanced code gets "X.0.0" from its class digit,
 * one without a valid code is "451 4.5.0 <reply>". Writes into code
 * (4 bytes), enh (16 bytes); *text_r points into reply or is "". */
void ampdp_split_reply(const char *reply, char code[4], char enh[16], const char **text_r);

#endif
