/*
 * milter_proto.h - the Sendmail milter wire protocol (versions 2 to 6),
 * as pure functions: framing, decoding and validating what the MTA
 * sends, building what we answer. No I/O and no session state; the
 * session (workers/milter.c) owns the socket and decides what to do.
 *
 * A packet is a 4-byte big-endian length, then that many bytes: one
 * command byte and its data. Strings inside are NUL-terminated.
 *
 * Life cycle of the reader: milter_reader_init() → milter_reader_push()
 * with whatever bytes arrived (any split works; it takes what it needs
 * and says how much) → one complete packet at a time → milter_decode()
 * → milter_reader_free(). The packet and every string decoded from it
 * point into the reader's buffer and stay valid until the next push.
 *
 * Limits: a body packet (SMFIC_BODY, SMFIC_BODYEOB) carries at most
 * MILTER_BODY_MAX bytes of data (Postfix and Sendmail send 65535), any
 * other packet at most MILTER_PACKET_MAX; MAIL and RCPT at most
 * MILTER_ARGS_MAX strings, a macro packet at most MILTER_MACROS_MAX
 * pairs. Going past any of them is a protocol error: the caller closes
 * the connection and the MTA applies its milter_default_action.
 */
#ifndef TG_MILTER_PROTO_H
#define TG_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* commands, MTA → filter */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_QUIT_NC	'K'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'
#define SMFIC_UNKNOWN	'U'

/* replies and edit requests, filter → MTA */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'

/* actions the filter may take (SMFIC_OPTNEG) */
#define SMFIF_ADDHDRS	0x01u
#define SMFIF_CHGBODY	0x02u
#define SMFIF_ADDRCPT	0x04u
#define SMFIF_DELRCPT	0x08u
#define SMFIF_CHGHDRS	0x10u
#define SMFIF_QUARANTINE 0x20u

/* protocol steps: what the MTA may leave out, and replies it need not wait for */
#define SMFIP_NOCONNECT	0x01u
#define SMFIP_NOHELO	0x02u
#define SMFIP_NOMAIL	0x04u
#define SMFIP_NORCPT	0x08u
#define SMFIP_NOBODY	0x10u
#define SMFIP_NOHDRS	0x20u
#define SMFIP_NOEOH	0x40u
#define SMFIP_NR_HDR	0x80u
#define SMFIP_NOUNKNOWN	0x100u
#define SMFIP_NODATA	0x200u
#define SMFIP_SKIP	0x400u
#define SMFIP_RCPT_REJ	0x800u
#define SMFIP_NR_CONN	0x1000u
#define SMFIP_NR_HELO	0x2000u
#define SMFIP_NR_MAIL	0x4000u
#define SMFIP_NR_RCPT	0x8000u
#define SMFIP_NR_DATA	0x10000u
#define SMFIP_NR_UNKN	0x20000u
#define SMFIP_NR_EOH	0x40000u
#define SMFIP_NR_BODY	0x80000u
#define SMFIP_HDR_LEADSPC 0x100000u

#define MILTER_VERSION_MIN 2
#define MILTER_VERSION	6
/* actions we must have, and the ones we ask for when offered */
#define MILTER_ACTIONS_NEED (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT)
#define MILTER_ACTIONS_WANT (MILTER_ACTIONS_NEED | SMFIF_QUARANTINE)
/* version 6: no reply before end of body, no DATA/unknown events,
 * header values as they are (the space after the colon included) */
#define MILTER_PROTO_WANT (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | \
    SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_HDR | \
    SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_HDR_LEADSPC)

#define MILTER_PACKET_MAX (128 * 1024)	/* command byte + data; Postfix's header_size_limit is 100 KiB */
#define MILTER_BODY_MAX	65535		/* data of one body packet */
#define MILTER_ARGS_MAX	64		/* strings in SMFIC_MAIL / SMFIC_RCPT */
#define MILTER_MACROS_MAX 64		/* name/value pairs in one SMFIC_MACRO */
#define MILTER_REPLY_MAX 480		/* text of an SMFIR_REPLYCODE */

/* one framed packet; data points into the reader's buffer */
struct milter_packet {
	unsigned char cmd;
	const unsigned char *data;
	size_t len;
};

struct milter_reader {
	unsigned char head[4];
	size_t head_len;		/* bytes of head[] filled */
	uint32_t len;			/* announced length (command byte + data) */
	size_t have;			/* bytes of the packet in buf */
	unsigned char *buf;		/* MILTER_PACKET_MAX + 1 bytes, owned */
};

void milter_reader_init(struct milter_reader *r);
void milter_reader_free(struct milter_reader *r);
/*
 * milter_reader_push - take bytes from data[0..len) until a packet is
 * complete. Returns 1 with *pkt_r (the bytes taken are in *used_r; the
 * rest is for the next call), 0 when all were taken and no packet is
 * complete yet, -1 with *error_r (static) on a bad length: zero, over
 * MILTER_PACKET_MAX, or a body packet over MILTER_BODY_MAX. After -1
 * the reader is unusable.
 */
int milter_reader_push(struct milter_reader *r, const void *data, size_t len, size_t *used_r,
    struct milter_packet *pkt_r, const char **error_r);
/* milter_reader_idle - 1 when no partial packet is buffered */
int milter_reader_idle(const struct milter_reader *r);

/* one decoded command; which fields are set depends on cmd */
struct milter_cmd {
	unsigned char cmd;
	int known;			/* 0: a command byte this parser does not know */
	/* SMFIC_OPTNEG */
	uint32_t version, actions, protocol;
	/* SMFIC_MACRO: the stage (a command byte) and name/value pairs */
	unsigned char macro_stage;
	const char *macro_name[MILTER_MACROS_MAX];
	const char *macro_value[MILTER_MACROS_MAX];
	size_t nmacros;
	/* SMFIC_CONNECT: family '4', '6', 'L' (unix) or 'U' (unknown: no port, no address) */
	const char *hostname;
	char family;
	unsigned port;
	const char *address;
	/* SMFIC_HELO, SMFIC_UNKNOWN */
	const char *text;
	/* SMFIC_MAIL, SMFIC_RCPT: args[0] is the address as given (<a@b>) */
	const char *args[MILTER_ARGS_MAX];
	size_t nargs;
	/* SMFIC_HEADER */
	const char *name, *value;
	/* SMFIC_BODY, SMFIC_BODYEOB */
	const unsigned char *body;
	size_t body_len;
};

/*
 * milter_decode - check and split one packet: exact sizes, every string
 * NUL-terminated inside the packet, counts within the limits, a header
 * name of printable characters other than ':'. 0 with *c_r filled
 * (known 0 for an unknown command byte, whose data is not looked at),
 * or -1 with *error_r (static).
 */
int milter_decode(const struct milter_packet *p, struct milter_cmd *c_r, const char **error_r);

/*
 * milter_negotiate - our answer to the MTA's SMFIC_OPTNEG: its version
 * (if 2..6, else the highest we speak), the actions we want that it
 * offers, and (version 6) the protocol flags we want that it offers.
 * -1 with *error_r when the version is below 2 or an action we need
 * (MILTER_ACTIONS_NEED) is not offered.
 */
int milter_negotiate(uint32_t mta_version, uint32_t mta_actions, uint32_t mta_protocol,
    uint32_t *version_r, uint32_t *actions_r, uint32_t *protocol_r, const char **error_r);

/* milter_reply_expected - 1 when the MTA waits for an answer to cmd
 * under the negotiated protocol flags (never for MACRO, ABORT, QUIT) */
int milter_reply_expected(unsigned char cmd, uint32_t protocol);

/* ---- building (each appends one packet to b) ---- */

void milter_put(struct buf *b, unsigned char cmd, const void *data, size_t len);
void milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions, uint32_t protocol);
/* milter_put_str - cmd with one string (DELRCPT, QUARANTINE) */
void milter_put_str(struct buf *b, unsigned char cmd, const char *s);
/* milter_put_header - ADDHEADER (index ignored), INSHEADER or CHGHEADER */
void milter_put_header(struct buf *b, unsigned char cmd, uint32_t index, const char *name,
    const char *value);
/*
 * milter_put_replycode - SMFIR_REPLYCODE from an SMTP reply line such
 * as "554 5.7.0 Reject, id=... - INFECTED: x": kept when it is a 4xx or
 * 5xx with an enhanced code of the same class, else rebuilt as "<code>
 * <class>.7.0 <text>" (the line's 4xx/5xx code, else 554 or 451 by
 * deflt '5' or '4');
 * CR/LF become spaces, '%' is doubled (Postfix un-doubles it, as
 * Sendmail uses the text as a format), cut at MILTER_REPLY_MAX.
 */
void milter_put_replycode(struct buf *b, const char *reply, char deflt);

/* ---- text helpers ---- */

/* crlf state across calls: 1 when the last byte seen was a CR */
struct milter_crlf {
	int cr;
};

/* milter_crlf - append data to b with every bare LF made CRLF */
void milter_crlf(struct milter_crlf *st, struct buf *b, const void *data, size_t len);

/*
 * milter_header_line - the header field as it was in the message,
 * "Name:" value CRLF, from an SMFIC_HEADER: with leadspc (SMFIP_HDR_LEADSPC
 * negotiated) the value is as it was, else the MTA ate one space after
 * the colon and it is put back; the MTA's LF between the lines of a
 * folded field become CRLF.
 */
void milter_header_line(struct buf *b, const char *name, const char *value, int leadspc);

/*
 * milter_fold_value - a header value to send in an edit request: one
 * leading space when leadspc (the MTA then adds none), folded with
 * "\n " at white space so that lines of "Name: value" stay near 78
 * columns; the MTA turns each LF into a line break.
 */
void milter_fold_value(struct buf *b, const char *name, const char *value, int leadspc);

/* milter_cmd_name - "SMFIC_MAIL" etc. for logs, "unknown" otherwise */
const char *milter_cmd_name(unsigned char cmd);

#endif
