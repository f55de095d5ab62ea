/*
 * netio.c - sockets and buffered, timed, optionally TLS connections.
 *
 * Reads wait with poll() under the connection's timeout; before waiting
 * for input, pending output is flushed, so pipelined replies leave in
 * one write. Input is kept in one buffer that is compacted, not grown
 * past what the longest allowed line needs.
 *
 * Limits: the input buffer never holds more than maxlen + CONN_READ_CHUNK
 * bytes for line reads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"

#define CONN_READ_CHUNK 16384

struct conn {
	int fd;
	SSL *ssl;
	int timeout_ms;
	struct timespec deadline;	/* tv_sec 0: none */
	char *in;
	size_t in_start, in_end, in_cap;
	struct buf out;
	char err[160];
	unsigned long long bytes_out;
	struct sockaddr_storage local;	/* getsockname() once, at conn_create */
	socklen_t local_len;
};

int endpoint_parse(const char *s, struct endpoint *ep, const char **error_r)
{
	const char *colon;
	size_t hlen;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(s, "unix:", 5) == 0) {
		if (strlcpy(ep->path, s + 5, sizeof(ep->path)) >= sizeof(ep->path) || ep->path[0] != '/') {
			*error_r = "unix socket path must be absolute and shorter than 108 bytes";
			return -1;
		}
		ep->is_unix = 1;
		return 0;
	}
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			*error_r = "expected [ADDRESS]:PORT";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(ep->host)) {
			*error_r = "bad address in brackets";
			return -1;
		}
		memcpy(ep->host, s + 1, hlen);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s) {
			*error_r = "expected HOST:PORT, [ADDRESS]:PORT or unix:PATH";
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(ep->host) || memchr(s, ':', hlen)) {
			*error_r = "bad host (write IPv6 addresses in brackets)";
			return -1;
		}
		memcpy(ep->host, s, hlen);
	}
	if (strlcpy(ep->port, colon + 1, sizeof(ep->port)) >= sizeof(ep->port) || ep->port[0] == 0 ||
	    strspn(ep->port, "0123456789") != strlen(ep->port) || atoi(ep->port) > 65535) {
		*error_r = "bad port number";
		return -1;
	}
	return 0;
}

const char *endpoint_format(const struct endpoint *ep, char *out, size_t outsz)
{
	if (ep->is_unix)
		snprintf(out, outsz, "unix:%s", ep->path);
	else if (strchr(ep->host, ':'))
		snprintf(out, outsz, "[%s]:%s", ep->host, ep->port);
	else
		snprintf(out, outsz, "%s:%s", ep->host, ep->port);
	return out;
}

static char net_errbuf[256];

/* net_set_flags - O_NONBLOCK on or off and FD_CLOEXEC; F_SETFL only when
 * the mode changes (accept4 already made the worker's sockets nonblocking) */
static int net_set_flags(int fd, int nonblock)
{
	int fl = fcntl(fd, F_GETFL), want;

	if (fl < 0)
		return -1;
	want = nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	if (want != fl && fcntl(fd, F_SETFL, want) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void net_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_listen(const struct endpoint *ep, int backlog, const char **error_r)
{
	int fd, one = 1;

	if (ep->is_unix) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, ep->path, sizeof(sun.sun_path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			goto fail;
		(void)unlink(ep->path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0 ||
		    net_set_flags(fd, 1) < 0) {
			int e = errno;

			close(fd);
			errno = e;
			goto fail;
		}
		(void)chmod(ep->path, 0660);
		return fd;
	} else {
		struct addrinfo hints, *res = NULL;
		int gai;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		if ((gai = getaddrinfo(ep->host, ep->port, &hints, &res)) != 0) {
			snprintf(net_errbuf, sizeof(net_errbuf), "%.200s: %s", ep->host, gai_strerror(gai));
			*error_r = net_errbuf;
			return -1;
		}
		fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (fd < 0) {
			freeaddrinfo(res);
			goto fail;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (res->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0 ||
		    net_set_flags(fd, 1) < 0) {
			int e = errno;

			close(fd);
			freeaddrinfo(res);
			errno = e;
			goto fail;
		}
		freeaddrinfo(res);
		return fd;
	}
fail:
	snprintf(net_errbuf, sizeof(net_errbuf), "%s", strerror(errno));
	*error_r = net_errbuf;
	return -1;
}

/* connect_timed - non-blocking connect bounded by timeout_ms */
static int connect_timed(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct pollfd pfd;
	int err = 0;
	socklen_t elen = sizeof(err);

	if (net_set_flags(fd, 1) < 0)
		return -1;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			int n = poll(&pfd, 1, timeout_ms);

			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (n < 0)
				return -1;
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
	}
	return net_set_flags(fd, 0);
}

int net_connect(const struct endpoint *ep, int timeout_ms, const char **error_r)
{
	int fd = -1;

	if (ep->is_unix) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, ep->path, sizeof(sun.sun_path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
		    connect_timed(fd, (struct sockaddr *)&sun, sizeof(sun), timeout_ms) < 0)
			goto fail;
		return fd;
	} else {
		struct addrinfo hints, *res = NULL, *ai;
		int gai, e = 0;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		if ((gai = getaddrinfo(ep->host, ep->port, &hints, &res)) != 0) {
			snprintf(net_errbuf, sizeof(net_errbuf), "%.200s: %s", ep->host, gai_strerror(gai));
			*error_r = net_errbuf;
			return -1;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, SOCK_STREAM, 0);
			if (fd < 0) {
				e = errno;
				continue;
			}
			if (connect_timed(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0) {
				freeaddrinfo(res);
				net_nodelay(fd);
				return fd;
			}
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		errno = e;
	}
fail:
	snprintf(net_errbuf, sizeof(net_errbuf), "connect to %.120s%s%s: %s",
	    ep->is_unix ? ep->path : ep->host, ep->is_unix ? "" : ":", ep->is_unix ? "" : ep->port,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	*error_r = net_errbuf;
	return -1;
}

static void sockaddr_numeric(struct sockaddr_storage *ss, socklen_t len, char *addr, size_t addrsz,
    char *port, size_t portsz)
{
	addr[0] = port[0] = 0;
	if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
		(void)getnameinfo((struct sockaddr *)ss, len, addr, (socklen_t)addrsz, port,
		    (socklen_t)portsz, NI_NUMERICHOST | NI_NUMERICSERV);
		/* IPv4-mapped addresses are shown as plain IPv4 */
		if (strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
			memmove(addr, addr + 7, strlen(addr + 7) + 1);
	}
}

/* net_addr_numeric - numeric address and port of a socket address, e.g.
 * the one accept() returned ("" for unix sockets) */
void net_addr_numeric(const struct sockaddr *sa, socklen_t len, char *addr, size_t addrsz,
    char *port, size_t portsz)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (sa == NULL || len == 0 || len > sizeof(ss)) {
		ss.ss_family = AF_UNSPEC;
		len = 0;
	} else {
		memcpy(&ss, sa, len);
	}
	sockaddr_numeric(&ss, len, addr, addrsz, port, portsz);
}

/* sock_numeric - numeric form of the address get (getpeername or
 * getsockname) returns for fd; "" when it fails */
static void sock_numeric(int fd, int (*get)(int, struct sockaddr *, socklen_t *), char *addr,
    size_t addrsz, char *port, size_t portsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (get(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	sockaddr_numeric(&ss, len, addr, addrsz, port, portsz);
}

/* net_peer - numeric address and port of the peer */
void net_peer(int fd, char *addr, size_t addrsz, char *port, size_t portsz)
{
	sock_numeric(fd, getpeername, addr, addrsz, port, portsz);
}

/* net_local - numeric local address and port */
void net_local(int fd, char *addr, size_t addrsz, char *port, size_t portsz)
{
	sock_numeric(fd, getsockname, addr, addrsz, port, portsz);
}

/* conn_create - a buffered connection on fd; its local address is read
 * once here (TCP_NODELAY for inet sockets, and conn_local) */
struct conn *conn_create(int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->timeout_ms = 300 * 1000;
	c->in_cap = CONN_READ_CHUNK;
	c->in = xmalloc(c->in_cap);
	buf_init(&c->out);
	(void)net_set_flags(fd, 1);
	c->local_len = sizeof(c->local);
	if (getsockname(fd, (struct sockaddr *)&c->local, &c->local_len) < 0) {
		c->local.ss_family = AF_UNSPEC;
		c->local_len = 0;
	}
	if (c->local.ss_family == AF_INET || c->local.ss_family == AF_INET6)
		net_nodelay(fd);
	return c;
}

/* conn_local - numeric local address and port, from conn_create's
 * getsockname() ("" for unix sockets) */
void conn_local(const struct conn *c, char *addr, size_t addrsz, char *port, size_t portsz)
{
	struct sockaddr_storage ss = c->local;

	sockaddr_numeric(&ss, c->local_len, addr, addrsz, port, portsz);
}

void conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	buf_free(&c->out);
	free(c);
	*cp = NULL;
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

void conn_set_timeout(struct conn *c, int ms)
{
	c->timeout_ms = ms;
}

void conn_set_deadline(struct conn *c, int ms)
{
	if (ms <= 0) {
		c->deadline.tv_sec = 0;
		c->deadline.tv_nsec = 0;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += ms / 1000;
	c->deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000;
	}
}

const char *conn_error(const struct conn *c)
{
	return c->err[0] ? c->err : "no error";
}

unsigned long long conn_bytes_out(const struct conn *c)
{
	return c->bytes_out;
}

static int conn_fail(struct conn *c, int code, const char *what)
{
	if (code == CONN_TIMEOUT)
		snprintf(c->err, sizeof(c->err), "timeout while %s", what);
	else if (code == CONN_EOF)
		snprintf(c->err, sizeof(c->err), "lost connection while %s", what);
	else
		snprintf(c->err, sizeof(c->err), "%s while %s", errno ? strerror(errno) : "I/O error", what);
	return code;
}

/* conn_wait - poll for events within the timeout; 0 ready, <0 CONN_* */
static int conn_wait(struct conn *c, short events)
{
	struct pollfd pfd;
	int n;

	pfd.fd = c->fd;
	pfd.events = events;
	for (;;) {
		int wait = c->timeout_ms;

		if (c->deadline.tv_sec) {
			struct timespec now;
			long long left;

			clock_gettime(CLOCK_MONOTONIC, &now);
			left = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 +
			    (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
			if (left <= 0)
				return CONN_TIMEOUT;
			if (left < wait)
				wait = (int)left;
		}
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CONN_ERROR;
		if (n == 0)
			return CONN_TIMEOUT;
		return 0;
	}
}

/*
 * conn_tls_again - an SSL_read, SSL_write or handshake step returned r
 * (not a success): when TLS wants the socket readable or writable, wait
 * for that and return 1 (try again), or the failed wait's CONN_*
 * (recorded for what); 0 for any other failure, with SSL_get_error's
 * code in *err_r when err_r is not NULL.
 */
static int conn_tls_again(struct conn *c, int r, const char *what, int *err_r)
{
	int e = SSL_get_error(c->ssl, r), rc;

	if (err_r != NULL)
		*err_r = e;
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return 0;
	if ((rc = conn_wait(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) < 0)
		return conn_fail(c, rc, what);
	return 1;
}

/* conn_raw_write - write len bytes, TLS or not; 0 or CONN_* */
static int conn_raw_write(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n;
		int rc;

		if (c->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
			if (r > 0) {
				n = r;
			} else {
				if ((rc = conn_tls_again(c, r, "writing", NULL)) > 0)
					continue;
				if (rc < 0)
					return rc;
				errno = EPIPE;
				return conn_fail(c, CONN_ERROR, "writing (TLS)");
			}
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					if ((rc = conn_wait(c, POLLOUT)) < 0)
						return conn_fail(c, rc, "writing");
					continue;
				}
				return conn_fail(c, CONN_ERROR, "writing");
			}
		}
		p += n;
		len -= (size_t)n;
		c->bytes_out += (unsigned long long)n;
	}
	return 0;
}

int conn_flush(struct conn *c)
{
	int rc;

	if (c->out.len == 0)
		return 0;
	rc = conn_raw_write(c, c->out.data, c->out.len);
	buf_reset(&c->out);
	return rc;
}

void conn_discard_output(struct conn *c)
{
	buf_reset(&c->out);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	/* large payloads go straight out after what is queued */
	if (len >= 65536) {
		if (conn_flush(c) == 0)
			(void)conn_raw_write(c, data, len);
		return;
	}
	buf_append(&c->out, data, len);
	if (c->out.len >= 65536)
		(void)conn_flush(c);
}

void conn_puts(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

size_t conn_pending(const struct conn *c)
{
	return c->in_end - c->in_start + (c->ssl ? (size_t)SSL_pending(c->ssl) : 0);
}

/* conn_fill - read more input into the buffer; >0 bytes, or CONN_* */
static ssize_t conn_fill(struct conn *c)
{
	ssize_t n;
	int rc;

	/* never wait for the peer with our own replies still unsent */
	if (c->out.len && (rc = conn_flush(c)) < 0)
		return rc;
	if (c->in_start > 0 && c->in_start == c->in_end)
		c->in_start = c->in_end = 0;
	if (c->in_cap - c->in_end < CONN_READ_CHUNK / 2 && c->in_start > 0) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_start = 0;
	}
	if (c->in_cap - c->in_end < CONN_READ_CHUNK / 2) {
		c->in_cap *= 2;
		c->in = xreallocarray(c->in, c->in_cap, 1);
	}
	for (;;) {
		if (c->ssl) {
			int r;

			ERR_clear_error();
			r = SSL_read(c->ssl, c->in + c->in_end, (int)(c->in_cap - c->in_end));
			if (r > 0) {
				n = r;
			} else {
				int e;

				if ((rc = conn_tls_again(c, r, "reading", &e)) > 0)
					continue;
				if (rc < 0)
					return rc;
				if (e == SSL_ERROR_ZERO_RETURN)
					return conn_fail(c, CONN_EOF, "reading");
				errno = 0;
				return conn_fail(c, e == SSL_ERROR_SYSCALL ? CONN_EOF : CONN_ERROR, "reading (TLS)");
			}
		} else {
			n = recv(c->fd, c->in + c->in_end, c->in_cap - c->in_end, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					if ((rc = conn_wait(c, POLLIN)) < 0)
						return conn_fail(c, rc, "reading");
					continue;
				}
				return conn_fail(c, errno == ECONNRESET ? CONN_EOF : CONN_ERROR, "reading");
			}
			if (n == 0)
				return conn_fail(c, CONN_EOF, "reading");
		}
		c->in_end += (size_t)n;
		return n;
	}
}

int conn_read_line(struct conn *c, size_t maxlen, const char **line_r, size_t *len_r)
{
	size_t scanned = 0;

	for (;;) {
		char *start = c->in + c->in_start;
		size_t avail = c->in_end - c->in_start;
		char *nl = memchr(start + scanned, '\n', avail - scanned);

		if (nl != NULL && (size_t)(nl - start) <= maxlen) {
			size_t len = (size_t)(nl - start);

			c->in_start += len + 1;
			if (len > 0 && start[len - 1] == '\r')
				len--;
			start[len] = 0;
			*line_r = start;
			*len_r = len;
			return CONN_LINE;
		}
		if (avail > maxlen) {
			/* a piece of an overlong line; keep a trailing CR for the next
			 * piece so that a CR LF split across pieces is still seen */
			size_t len = maxlen;

			if (len > 1 && start[len - 1] == '\r')
				len--;
			c->in_start += len;
			*line_r = start;
			*len_r = len;
			return CONN_PART;
		}
		scanned = avail;
		{
			ssize_t n = conn_fill(c);

			if (n < 0)
				return (int)n;
		}
	}
}

int conn_input_ready(struct conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN, .revents = 0 };

	return c->in_end != c->in_start || (c->ssl && SSL_pending(c->ssl) > 0) || poll(&pfd, 1, 0) > 0;
}

int conn_wait_input(struct conn *c, long long timeout_ms, const volatile int *stop)
{
	return conn_wait_input_or(c, timeout_ms, stop, NULL, 0);
}

int conn_wait_input_or(struct conn *c, long long timeout_ms, const volatile int *stop,
    const int *others, int n)
{
	struct pollfd pfd[1 + CONN_WAIT_OTHERS_MAX];
	struct timespec start, now;
	sigset_t block, old;
	int i, rc = 0;

	if (c->in_end != c->in_start || (c->ssl && SSL_pending(c->ssl) > 0))
		return 0;
	if (conn_flush(c) < 0)
		return CONN_ERROR;
	if (n > CONN_WAIT_OTHERS_MAX)
		n = CONN_WAIT_OTHERS_MAX;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec left;
		long long ms;
		int k;

		if (*stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = timeout_ms - ((long long)(now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (ms <= 0) {
			snprintf(c->err, sizeof(c->err), "timeout");
			rc = CONN_TIMEOUT;
			break;
		}
		left.tv_sec = (time_t)(ms / 1000);
		left.tv_nsec = (long)(ms % 1000) * 1000000;
		pfd[0].fd = c->fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < n; i++) {
			pfd[1 + i].fd = others[i];
			pfd[1 + i].events = POLLIN;
			pfd[1 + i].revents = 0;
		}
		k = ppoll(pfd, (nfds_t)(1 + n), &left, &old);
		if (k > 0) {
			if (pfd[0].revents == 0)
				rc = CONN_OTHER;
			break;
		}
		if (k < 0 && errno != EINTR) {
			snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
			rc = CONN_ERROR;
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

ssize_t conn_read_some(struct conn *c, void *out, size_t max)
{
	size_t avail = c->in_end - c->in_start;

	if (avail == 0) {
		ssize_t n = conn_fill(c);

		if (n < 0)
			return n;
		avail = c->in_end - c->in_start;
	}
	if (avail > max)
		avail = max;
	memcpy(out, c->in + c->in_start, avail);
	c->in_start += avail;
	return (ssize_t)avail;
}

int conn_starttls(struct conn *c, struct ssl_ctx_st *ctx, int server, const char *sni)
{
	int rc;

	if (c->in_end != c->in_start) {
		/* plaintext injected after STARTTLS (CVE-2011-0411 class): refuse */
		snprintf(c->err, sizeof(c->err), "data pipelined after STARTTLS");
		return CONN_ERROR;
	}
	if (conn_flush(c) < 0)
		return CONN_ERROR;
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(c->err, sizeof(c->err), "cannot set up TLS");
		return CONN_ERROR;
	}
	if (!server && sni && *sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	for (;;) {
		int r;

		ERR_clear_error();
		r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		if ((rc = conn_tls_again(c, r, "in TLS handshake", NULL)) > 0)
			continue;
		if (rc < 0)
			return rc;
		{
			unsigned long e = ERR_get_error();
			char eb[120];

			ERR_error_string_n(e, eb, sizeof(eb));
			snprintf(c->err, sizeof(c->err), "TLS handshake failed: %s", e ? eb : "connection closed");
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
		return CONN_ERROR;
	}
}

int conn_tls_active(const struct conn *c)
{
	return c->ssl != NULL;
}

const char *conn_tls_cipher(const struct conn *c)
{
	return c->ssl ? SSL_get_cipher_name(c->ssl) : NULL;
}

/* cidr_parse - "10.0.0.0/8", "[2001:db8::]/32", "192.0.2.1", "::1" */
int cidr_parse(const char *s, struct cidr *n)
{
	char tmp[128], *slash, *a = tmp;
	size_t len;

	if (strlcpy(tmp, s, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	slash = strchr(tmp, '/');
	if (slash)
		*slash = 0;
	if (*a == '[') {
		a++;
		len = strlen(a);
		if (len == 0 || a[len - 1] != ']')
			return -1;
		a[len - 1] = 0;
	}
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, a, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, a, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else {
		return -1;
	}
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);

		if (end == slash + 1 || *end || b < 0 || b > n->bits)
			return -1;
		n->bits = (int)b;
	}
	return 0;
}

/* cidr_match - addr (text) inside n */
int cidr_match(const struct cidr *n, const char *addr)
{
	unsigned char a[16];
	int full, rest;

	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	if (n->family == AF_INET ? inet_pton(AF_INET, addr, a) != 1 : inet_pton(AF_INET6, addr, a) != 1)
		return 0;
	full = n->bits / 8;
	rest = n->bits % 8;
	if (memcmp(a, n->addr, (size_t)full) != 0)
		return 0;
	if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))))
		return 0;
	return 1;
}
