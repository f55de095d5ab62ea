/*
 * listener.c - the "listen" syntax: PROTO:ENDPOINT, where PROTO is lmtp
 * or smtp and ENDPOINT is ADDR:PORT, [IPV6]:PORT or unix:PATH, e.g.
 *   listen = lmtp:127.0.0.1:10024 smtp:[::1]:10026 lmtp:unix:/run/tollgate/lmtp.sock
 *   listen = milter:127.0.0.1:10030 ampdp:unix:/run/tollgate/ampdp.sock
 * milter: speaks the milter protocol (Postfix smtpd_milters), ampdp:
 * amavisd's AM.PDP (amavisd-milter, amavisd-release).
 * Binding is the master's job (daemon/); this only parses.
 */
#include "config.h"

#include <string.h>

#include "lib/netio.h"
#include "workers/workers.h"

/* listener_parse - split PROTO: off and parse the endpoint */
int listener_parse(const char *spec, struct listener *l, struct endpoint *ep, const char **error_r)
{
	const char *rest;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (strncasecmp(spec, "lmtp:", 5) == 0) {
		l->proto = LISTEN_LMTP;
		rest = spec + 5;
	} else if (strncasecmp(spec, "smtp:", 5) == 0) {
		l->proto = LISTEN_SMTP;
		rest = spec + 5;
	} else if (strncasecmp(spec, "milter:", 7) == 0) {
		l->proto = LISTEN_MILTER;
		rest = spec + 7;
	} else if (strncasecmp(spec, "ampdp:", 6) == 0) {
		l->proto = LISTEN_AMPDP;
		rest = spec + 6;
	} else {
		*error_r = "listener must start with lmtp:, smtp:, milter: or ampdp:";
		return -1;
	}
	if (strlcpy(l->spec, spec, sizeof(l->spec)) >= sizeof(l->spec)) {
		*error_r = "listener specification too long";
		return -1;
	}
	return endpoint_parse(rest, ep, error_r);
}
