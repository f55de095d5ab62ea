/*
 * mime.h - the MIME parser: one message in, one tree of parts out.
 *
 * Contract
 *   mime_parse() reads a whole message held in one contiguous, read-only
 *   buffer (data, len), with CRLF or bare LF line ends (both accepted, also
 *   mixed), and builds the tree of its parts. The tree refers to the buffer
 *   by offsets and pointers: the buffer is not copied and must stay
 *   unchanged and alive as long as the tree is used. Everything the parser
 *   makes - parts, header lists, unfolded and decoded values, decoded
 *   bodies - is allocated from the caller's arena and lives until that
 *   arena is reset; nothing here is freed on its own.
 *
 *   Life cycle: arena_create → mime_parse → walk msg->parts[] or the tree,
 *   mime_header_first/next, mime_part_decode on demand → arena_reset.
 *
 *   Malformed input is never an error: it is a finding (MIME_F_* bits in
 *   msg->findings and part->findings, with the first detail text of each
 *   kind in msg->detail[]), and the parser carries on the way a mail
 *   client would. mime_parse() fails (-1) only for a caller bug (NULL
 *   arguments); the bad-header scanner turns findings into a category.
 *
 *   Every input-driven quantity has a bound (struct mime_limits): nesting
 *   depth, number of parts, header bytes and fields per header section,
 *   header fields per message, decoded bytes per part and per message.
 *   Work is linear in the input times the nesting depth, whatever the
 *   input; the arena grows by at most a small multiple of the input plus
 *   what mime_part_decode() is asked to produce.
 *
 * Tree
 *   msg->root is the message itself (depth 0, MIME_PART_MESSAGE). A
 *   multipart's children are its body parts in order; a message/rfc822
 *   (or message/global) part has one child, the embedded message
 *   (MIME_PART_MESSAGE, depth + 1). msg->parts[0 .. nparts-1] lists every
 *   part in pre-order, so msg->parts[i]->index == i. Parts without
 *   children are the leaves scanners decode; a multipart that could not be
 *   split (no delimiter, depth limit) is a leaf too and keeps its raw body.
 *
 * Strings
 *   Header names are as in the message; type, subtype, parameter names,
 *   disposition and charset are lower-cased. Decoded texts (RFC 2047
 *   words, RFC 2231 parameters, file names) are UTF-8 when the charset is
 *   utf-8, us-ascii, iso-8859-1, iso-8859-15 or windows-1252; text in any
 *   other charset is kept as it is and flagged MIME_F_UNKNOWN_CHARSET.
 *   All strings are NUL-terminated; embedded NULs are flagged (MIME_F_NUL).
 */
#ifndef TG_SCANNERS_MIME_H
#define TG_SCANNERS_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/mem.h"

/* Defaults used for a limit given as 0, and hard caps no limit may exceed
 * (the parser recurses once per nesting level). */
#define MIME_DEFAULT_MAX_DEPTH		20
#define MIME_HARD_MAX_DEPTH		100
#define MIME_DEFAULT_MAX_PARTS		1500
#define MIME_DEFAULT_MAX_HEADER_BYTES	(256 * 1024)
#define MIME_DEFAULT_MAX_HEADERS	1000
#define MIME_DEFAULT_MAX_HEADERS_TOTAL	10000
#define MIME_DEFAULT_MAX_DECODED	(64 * 1024 * 1024)

struct mime_limits {
	unsigned max_depth;	/* deepest part allowed (root is 0) */
	unsigned max_parts;	/* parts in the tree, the root included */
	size_t max_header_bytes; /* bytes in one header section */
	unsigned max_headers;	/* fields kept per header section */
	unsigned max_headers_total; /* fields kept in the whole message */
	size_t max_decoded_size; /* decoded bytes of one part */
	size_t max_decoded_total; /* decoded bytes of all parts, 0: unbounded */
};

/* Findings: one bit per kind of malformation. */
enum mime_finding {
	MIME_F_8BIT_HEADER = 0,	/* non-encoded 8-bit byte in a header */
	MIME_F_NUL,		/* NUL byte in a header or a non-binary body */
	MIME_F_CONTROL_CHAR,	/* bare CR or other control byte in a header */
	MIME_F_LONG_HEADER_LINE, /* header line over 998 bytes */
	MIME_F_BAD_HEADER_SYNTAX, /* not a header field, bad name, bad Content-Type */
	MIME_F_UNTERMINATED_HEADER, /* section over max_header_bytes, or data ends in a header line */
	MIME_F_HEADER_LIMIT,	/* more than max_headers(_total) fields: the rest not kept */
	MIME_F_DUPLICATE_HEADER, /* second From, Date, Subject, Message-ID, To, ... */
	MIME_F_MISSING_HEADER,	/* no From or no Date in the message header */
	MIME_F_MISSING_BOUNDARY, /* multipart without boundary, delimiter or final delimiter */
	MIME_F_DEPTH_LIMIT,	/* nesting deeper than max_depth: not descended */
	MIME_F_PARTS_LIMIT,	/* more than max_parts parts: the rest not split */
	MIME_F_BAD_CTE,		/* unknown transfer encoding, or encoded multipart/message */
	MIME_F_BAD_ENCODED_WORD, /* malformed RFC 2047 word or RFC 2231 value */
	MIME_F_UNKNOWN_CHARSET,	/* text in a charset we do not convert */
	MIME_F_BAD_BASE64,	/* (decode) invalid base64 */
	MIME_F_BAD_QP,		/* (decode) invalid quoted-printable */
	MIME_F_DECODED_LIMIT,	/* (decode) output cut at a decoded-size limit */
	MIME_F_COUNT
};
#define MIME_FBIT(f) ((uint32_t)1 << (f))

enum mime_cte {
	MIME_CTE_7BIT = 0,	/* also when absent */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN	/* decoded as binary, flagged MIME_F_BAD_CTE */
};

/* part flags */
#define MIME_PART_MESSAGE	0x01	/* header section is a message header (root, rfc822 child) */
#define MIME_PART_MULTIPART	0x02	/* type is multipart/ (children are its body parts) */
#define MIME_PART_RFC822	0x04	/* message/rfc822 or message/global: one child */
#define MIME_PART_NO_HEADER	0x08	/* no header section at all (body starts at once) */

struct mime_header {
	struct mime_header *next;	/* next field of the section, in order */
	const char *name;		/* as in the message, NUL-terminated */
	size_t name_len;
	const char *raw;		/* value in the message buffer, folding kept */
	size_t raw_len;
	const char *value;		/* unfolded, trimmed, NUL-terminated */
	size_t value_len;
};

struct mime_param {
	struct mime_param *next;
	const char *name;	/* lower-case, RFC 2231 section suffixes removed */
	const char *value;	/* unquoted; RFC 2231 values joined and decoded to UTF-8 */
};

struct mime_part {
	struct mime_part *parent, *children, *next;
	unsigned index;		/* position in msg->parts[] (pre-order) */
	unsigned depth;		/* root 0, each multipart/rfc822 level + 1 */
	unsigned flags;		/* MIME_PART_* */
	unsigned nchildren;
	uint32_t findings;	/* MIME_FBIT()s found in this part's own headers/structure */

	size_t offset, length;	/* whole part, header section included */
	size_t body_offset, body_len;	/* body (for a multipart: all of it) */
	size_t preamble_offset, preamble_len;	/* multipart only */
	size_t epilogue_offset, epilogue_len;	/* multipart only */

	struct mime_header *headers;	/* header fields in order */
	unsigned nheaders;

	const char *type, *subtype;	/* lower-case; default text/plain */
	struct mime_param *params;	/* Content-Type parameters */
	const char *charset;		/* lower-case charset parameter or NULL */
	const char *boundary;		/* multipart boundary or NULL */
	enum mime_cte cte;
	const char *disposition;	/* lower-case ("attachment", "inline") or NULL */
	struct mime_param *disp_params;	/* Content-Disposition parameters */
	const char *filename;		/* UTF-8: disposition filename, else type name; or NULL */
};

struct mime_msg {
	const char *data;		/* the caller's buffer */
	size_t len;
	struct mime_part *root;
	struct mime_part **parts;	/* pre-order, nparts entries */
	unsigned nparts;
	struct mime_limits limits;	/* as used (defaults filled in) */
	uint32_t findings;		/* MIME_FBIT()s of all parts and decodes */
	const char *detail[MIME_F_COUNT]; /* first detail text per finding, or NULL */
	size_t decoded_total;		/* bytes produced by mime_part_decode so far */
	struct arena *arena;
};

/* mime_parse - build the tree of the message in data[0..len) into the arena.
 * lim may be NULL (defaults). Returns 0 and *msg_r (findings inside), or -1
 * with *error_r for an invalid call. */
int mime_parse(struct arena *a, const char *data, size_t len,
    const struct mime_limits *lim, struct mime_msg **msg_r, const char **error_r);

/* mime_part_decode - the transfer-decoded body of a part, at most limit
 * bytes (0: msg->limits.max_decoded_size; also bounded by what is left of
 * max_decoded_total). Use *len_r, not a NUL: for 7bit, 8bit, binary and
 * unknown encodings *out_r points into the message buffer (no copy);
 * decoded output is in the arena. Works on any part; for a multipart it
 * is the raw body. Malformations found while decoding are ORed into *findings_r
 * (may be NULL) and recorded in msg. Returns 0 when complete, 1 when the
 * output was cut at the limit (MIME_F_DECODED_LIMIT). */
int mime_part_decode(struct arena *a, struct mime_msg *msg, struct mime_part *part,
    size_t limit, const char **out_r, size_t *len_r, uint32_t *findings_r);

/* mime_header_first - first header field of part named name (ASCII
 * case-insensitive), or NULL */
const struct mime_header *mime_header_first(const struct mime_part *part, const char *name);
/* mime_header_next - next field after h with the same name, or NULL */
const struct mime_header *mime_header_next(const struct mime_header *h);

/* mime_param_get - value of parameter name (lower-case) in list, or NULL */
const char *mime_param_get(const struct mime_param *list, const char *name);

/* mime_decode_words - RFC 2047 decode an unfolded header value into UTF-8
 * (arena). Malformed words stay as they are. Findings (BAD_ENCODED_WORD,
 * UNKNOWN_CHARSET) are ORed into *findings_r (may be NULL). Returns the
 * decoded, NUL-terminated text. */
const char *mime_decode_words(struct arena *a, const char *in, size_t len, uint32_t *findings_r);


/* mime_part_is_leaf - a part without children, whose body scanners decode */
static inline int mime_part_is_leaf(const struct mime_part *p)
{
	return p->children == NULL;
}

#endif
