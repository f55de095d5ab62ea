/*
 * fake_peer.h - an in-process fake server for the fuzz targets of
 * network clients (fuzz_smtp_reply, fuzz_state): a thread accepts the
 * client's first connection, sends it the whole input at once, closes
 * its sending side and reads (and drops) what the client sends until
 * the client closes. Later connections (a client that reconnects) are
 * closed at once. The client's parse does not depend on how the bytes
 * arrive, so a run is reproducible. Header-only: each target is one
 * .c file (automake's default source).
 */
#ifndef TG_FUZZ_FAKE_PEER_H
#define TG_FUZZ_FAKE_PEER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FAKE_PEER_INPUT_MAX 16384	/* fits a socket buffer: sending never blocks long */
#define FAKE_PEER_WAIT_MS 10000	/* a stuck client: libFuzzer's -timeout reports it first */

struct fake_peer {
	int lfd;
	char path[108];			/* unix socket, "" for TCP */
	int port;			/* TCP */
	const uint8_t *data;
	size_t len;
	int stop;			/* __atomic: set by the client's thread */
	int wake[2];			/* a byte here ends the thread's wait */
	pthread_t th;
};

/* fake_peer_listen - listen on 127.0.0.1:0 (dir NULL) or on the unix
 * socket dir/name; aborts on failure (the target cannot run) */
static void fake_peer_listen(struct fake_peer *p, const char *dir, const char *name)
{
	memset(p, 0, sizeof(*p));
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	if (dir == NULL) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(p->lfd, 8) < 0 ||
		    getsockname(p->lfd, (struct sockaddr *)&sin, &sl) < 0)
			abort();
		p->port = ntohs(sin.sin_port);
	} else {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(p->path, sizeof(p->path), "%s/%s", dir, name);
		strlcpy(sun.sun_path, p->path, sizeof(sun.sun_path));
		p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(p->lfd, 8) < 0)
			abort();
	}
}

/* fake_peer_wait - 1 when fd has input (or EOF), 0 when told to stop */
static int fake_peer_wait(struct fake_peer *p, int fd)
{
	struct pollfd pf[2] = { { fd, POLLIN, 0 }, { p->wake[0], POLLIN, 0 } };

	for (;;) {
		if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
			return 0;
		if (poll(pf, 2, FAKE_PEER_WAIT_MS) <= 0 || (pf[1].revents & POLLIN))
			return 0;
		if (pf[0].revents)
			return 1;
	}
}

/* fake_peer_main - the server thread */
static void *fake_peer_main(void *arg)
{
	struct fake_peer *p = arg;
	char tmp[4096];
	int served = 0, fd;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		size_t off = 0;

		if (!fake_peer_wait(p, p->lfd))
			break;
		if ((fd = accept(p->lfd, NULL, NULL)) < 0)
			continue;
		if (served++) {
			close(fd);
			continue;
		}
		while (off < p->len) {
			ssize_t w = send(fd, p->data + off, p->len - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		(void)shutdown(fd, SHUT_WR);
		while (fake_peer_wait(p, fd) && recv(fd, tmp, sizeof(tmp), 0) > 0)
			;
		close(fd);
	}
	return NULL;
}

/* fake_peer_start - serve data[0..len) to the next client */
static void fake_peer_start(struct fake_peer *p, const uint8_t *data, size_t len)
{
	p->data = data;
	p->len = len;
	__atomic_store_n(&p->stop, 0, __ATOMIC_RELEASE);
	if (pthread_create(&p->th, NULL, fake_peer_main, p) != 0)
		abort();
}

/* fake_peer_stop - after the client closed: end the thread, drop any
 * connection nobody served */
static void fake_peer_stop(struct fake_peer *p)
{
	char c = 0;
	int fd;

	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	if (write(p->wake[1], &c, 1) != 1)
		abort();
	pthread_join(p->th, NULL);
	while (read(p->wake[0], &c, 1) == 1)
		;
	while ((fd = accept(p->lfd, NULL, NULL)) >= 0)
		close(fd);
}

#endif
