/*
 * fdio.h - plain blocking writes to a file descriptor, for files (the
 * spool, the quarantine) rather than peers: no timeout, no buffering.
 * Network peers go through struct conn (netio.h) instead.
 */
#ifndef TG_FDIO_H
#define TG_FDIO_H

#include <stddef.h>

/* fd_write_all - write all len bytes, retrying short writes and EINTR;
 * 0, or -1 with errno from the failed write() */
int fd_write_all(int fd, const void *data, size_t len);

#endif
