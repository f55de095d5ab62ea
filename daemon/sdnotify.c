/*
 * sdnotify.c - service manager notifications without libsystemd: one
 * datagram to the unix socket named by $NOTIFY_SOCKET ("@name" is an
 * abstract socket), as sd_notify(3) describes. The master sends
 * READY=1 when its workers are starting, RELOADING=1 / READY=1 around a
 * reload and STOPPING=1 when it drains, each with a STATUS= line.
 *
 * Deliberately left out: the watchdog (WATCHDOG=1) and file descriptor
 * passing. Without $NOTIFY_SOCKET every call is a no-op.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/control.h"
#include "lib/log.h"

#define SD_NOTIFY_MAX 1024		/* bytes of one notification */

void sd_notify_send(const char *fmt, ...)
{
	static int warned;
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t slen;
	char msg[SD_NOTIFY_MAX];
	va_list ap;
	size_t plen;
	int fd, n;

	if (path == NULL || *path == 0)
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		if (!warned++)
			log_warning("NOTIFY_SOCKET=%.100s: not a unix socket path: no notifications", path);
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = 0;	/* abstract namespace: no terminating NUL counted */
	slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, slen) < 0 && !warned++)
		log_warning("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}
