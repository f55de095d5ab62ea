/*
 * control.h - the master's operations interfaces: the control socket
 * (the tollgate tool's "status", "stats", "reload", "stop", "version"),
 * the Prometheus metrics endpoint (metrics_listen, GET /metrics) and the
 * service manager notifications (sd_notify over $NOTIFY_SOCKET).
 *
 * Life cycle: control_open() in the master, after the pid file and
 * before the first worker is forked; control_pollfds() and
 * control_handle() once per turn of the master loop; workers call
 * control_close_child() right after fork (they must not hold the
 * sockets); control_close() at exit removes the socket file. The struct
 * control belongs to the master. Both sockets are read at start only: a
 * reload does not move them.
 *
 * Control protocol (unix stream socket, one request per connection):
 * the client sends one line (at most CONTROL_MAX_REQUEST bytes), the
 * master answers and closes. A reply starts with "ok" or "error: TEXT"
 * on its first line; data lines follow (see control.c). Peers are
 * checked with SO_PEERCRED: root, or a member of the socket's group.
 *
 * Limits: the master serves one control or metrics connection at a time
 * and gives each at most CONTROL_IO_TIMEOUT_MS; a slow authorised
 * client can delay supervision by that much per connection.
 */
#ifndef TG_DAEMON_CONTROL_H
#define TG_DAEMON_CONTROL_H

#include <poll.h>
#include <time.h>

#include "lib/cfg.h"
#include "lib/scoreboard.h"

#define CONTROL_MAX_FDS 2		/* pollfds control_pollfds() may fill */
#define CONTROL_MAX_REQUEST 1024	/* bytes of a control request line */
#define CONTROL_IO_TIMEOUT_MS 1000	/* per connection, reading and writing */

struct control;

/* what the master shows: filled by master.c for each control_handle() */
struct control_info {
	struct scoreboard *sb;
	int nslots;
	unsigned generation;
	int target;			/* max_servers now */
	time_t started;			/* when the master started */
	int clamav;			/* virus scanning on: the three below are set */
	unsigned clamav_signatures;	/* signatures in the engine in service */
	time_t clamav_db_time;		/* build time of its database */
	time_t clamav_loaded_at;	/* when it was compiled */
};

/* what a request asks of the master */
enum control_action { CONTROL_NONE = 0, CONTROL_RELOAD, CONTROL_STOP };

/* control_open - bind control_socket and metrics_listen of cfg (either
 * may be off); 0 with *ctl_r, or -1 with *error_r (nothing left open) */
int control_open(const struct cfg *cfg, struct control **ctl_r, const char **error_r);
/* control_pollfds - fill up to CONTROL_MAX_FDS pollfds; returns how many */
int control_pollfds(const struct control *ctl, struct pollfd *pfd);
/* control_handle - sample the rate counters (once a second is enough)
 * and serve every connection whose pollfd (as filled by
 * control_pollfds) is readable; returns what a request asked for */
enum control_action control_handle(struct control *ctl, const struct pollfd *pfd, int npfd,
    const struct control_info *info);
/* control_reload_reply - answer the "reload" requests that wait for the
 * outcome (control_handle() returned CONTROL_RELOAD for them): error
 * NULL: accepted, new workers get generation; else the reason it was
 * refused. The master calls it from its reload, also for SIGHUP (then
 * nobody waits and it does nothing). */
void control_reload_reply(struct control *ctl, const char *error, unsigned generation);
/* control_close_child - in a freshly forked worker: close the sockets */
void control_close_child(struct control *ctl);
/* control_close - close the sockets and remove the socket file */
void control_close(struct control **ctlp);

/* metrics_render - the Prometheus text exposition into out (metrics.c) */
struct buf;
void metrics_render(struct buf *out, const struct control_info *info);

/* sd_notify_send - one notification ("READY=1", "STATUS=...") to the
 * service manager when $NOTIFY_SOCKET is set; a no-op otherwise.
 * Failures are logged at most once (sdnotify.c). */
void sd_notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
