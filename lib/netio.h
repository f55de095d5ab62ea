/*
 * netio.h - endpoints, listening and connecting sockets, and buffered
 * connections with timeouts and optional TLS.
 *
 * Endpoints are written "ADDR:PORT", "[IPV6]:PORT", "HOST:PORT" or
 * "unix:PATH" (the protocol prefix of a listener or method is stripped
 * by the caller).
 *
 * A struct conn owns its fd (and SSL object): conn_free() closes both.
 * Reads are line- or byte-oriented from an input buffer; writes are
 * buffered and go out in one write() at conn_flush(), and automatically
 * before any read that has to wait for the peer. That is how a server
 * answers a pipelined group of commands with one write, and why no
 * caller needs to think about Nagle: TCP_NODELAY is set on every TCP
 * socket anyway.
 *
 * Return values of the read calls: CONN_LINE (complete line), CONN_PART
 * (the line is longer than maxlen: this is a piece, more follows), or a
 * negative CONN_EOF / CONN_TIMEOUT / CONN_ERROR; conn_error() says why.
 */
#ifndef TG_NETIO_H
#define TG_NETIO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ssl_ctx_st;

struct endpoint {
	int is_unix;
	char host[256];		/* address or name, without brackets */
	char port[16];
	char path[108];		/* for unix */
};

/* endpoint_parse - parse one endpoint; 0 or -1 with *error_r */
int endpoint_parse(const char *s, struct endpoint *ep, const char **error_r);
/* endpoint_format - back to "host:port" / "[v6]:port" / "unix:path" */
const char *endpoint_format(const struct endpoint *ep, char *out, size_t outsz);

/* net_listen - bound, listening, non-blocking, close-on-exec socket; -1 on error */
int net_listen(const struct endpoint *ep, int backlog, const char **error_r);
/* net_connect - connected blocking socket within timeout_ms; -1 on error */
int net_connect(const struct endpoint *ep, int timeout_ms, const char **error_r);
/* net_peer - numeric address and port of the peer ("" for unix sockets) */
void net_peer(int fd, char *addr, size_t addrsz, char *port, size_t portsz);
/* net_local - numeric local address of a socket */
void net_local(int fd, char *addr, size_t addrsz, char *port, size_t portsz);
/* net_addr_numeric - numeric address and port of a socket address (as
 * accept() returns it), without a system call; "" for unix sockets */
void net_addr_numeric(const struct sockaddr *sa, socklen_t len, char *addr, size_t addrsz,
    char *port, size_t portsz);

/* an address or network: "10.0.0.0/8", "[2001:db8::]/32", "192.0.2.1", "::1" */
struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

/* cidr_parse - 0, or -1 when s is not an address or network */
int cidr_parse(const char *s, struct cidr *n);
/* cidr_match - 1 when the numeric address addr ("IPv6:" prefix allowed) is inside n */
int cidr_match(const struct cidr *n, const char *addr);

enum { CONN_LINE = 1, CONN_PART = 2, CONN_EOF = -1, CONN_TIMEOUT = -2, CONN_ERROR = -3 };

struct conn;

struct conn *conn_create(int fd);
/* conn_local - numeric local address and port, read once at conn_create */
void conn_local(const struct conn *c, char *addr, size_t addrsz, char *port, size_t portsz);
void conn_free(struct conn **cp);
int conn_fd(const struct conn *c);
/* conn_set_timeout - per-operation timeout in milliseconds */
void conn_set_timeout(struct conn *c, int ms);
/* conn_set_deadline - a bound on everything read or written from now on
 * until the next call (0: none): a peer that trickles a byte at a time
 * cannot stretch one command past it, as the per-read timeout alone
 * would allow (Postfix's smtpd_per_record_deadline) */
void conn_set_deadline(struct conn *c, int ms);
/* conn_read_line - next line without its LF and CR; *line_r stays
 * valid until the next call on c */
int conn_read_line(struct conn *c, size_t maxlen, const char **line_r, size_t *len_r);
/* conn_read_some - up to max bytes of what is there (waiting if nothing
 * is); returns bytes read (>0) or a negative CONN_* */
ssize_t conn_read_some(struct conn *c, void *out, size_t max);
/* conn_wait_input - wait up to timeout_ms for input, woken early when
 * *stop becomes non-zero: SIGTERM and SIGINT (a worker's drain signals,
 * whose handlers set *stop) are blocked from the check of *stop until
 * ppoll() unblocks them atomically, so a signal cannot slip in between
 * and leave the caller asleep. 0: input is there or *stop is set (look
 * at *stop); CONN_TIMEOUT; CONN_ERROR. Buffered output is flushed first. */
int conn_wait_input(struct conn *c, long long timeout_ms, const volatile int *stop);
/* conn_wait_input_or - conn_wait_input that also watches others[0..n)
 * (listening sockets, say): CONN_OTHER when one of them is readable
 * while c has nothing to read */
#define CONN_OTHER 1
#define CONN_WAIT_OTHERS_MAX 16		/* others beyond this are not watched */
int conn_wait_input_or(struct conn *c, long long timeout_ms, const volatile int *stop,
    const int *others, int n);
/* conn_input_ready - 1 when input can be read without waiting */
int conn_input_ready(struct conn *c);
/* conn_pending - bytes already buffered on input (no waiting needed) */
size_t conn_pending(const struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len);
void conn_puts(struct conn *c, const char *s);
/* conn_flush - write all buffered output; 0 or negative CONN_* */
int conn_flush(struct conn *c);
/* conn_discard_output - drop unsent output (after an error) */
void conn_discard_output(struct conn *c);
/* conn_starttls - TLS handshake as server (server != 0) or client */
int conn_starttls(struct conn *c, struct ssl_ctx_st *ctx, int server, const char *sni);
/* conn_tls_active - 1 when TLS is on; conn_tls_cipher - its cipher name */
int conn_tls_active(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
/* conn_error - text of the last failure */
const char *conn_error(const struct conn *c);
/* conn_bytes_out - total bytes written (for the log) */
unsigned long long conn_bytes_out(const struct conn *c);

#endif
