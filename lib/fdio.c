/*
 * fdio.c - writes to file descriptors of local files (see fdio.h).
 * Left out: timeouts and non-blocking descriptors (a full disk shows up
 * as an error, not as a wait).
 */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "lib/fdio.h"

/* fd_write_all - write len bytes, retrying short writes and EINTR */
int fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
