/*
 * method.c - parse a forward method ("smtp:[127.0.0.1]:10025",
 * "smtp:host:25", "lmtp:unix:/path", "lmtp:[::1]:24") into a protocol
 * and an endpoint.
 *
 * Deliberately left out: amavisd's other method kinds (pipe:, bsmtp:,
 * sql:, local:) and the "smtp:*:*" forms that take the address from the
 * incoming connection; they are refused with a clear error. A name
 * written "[host]" is taken as written, without MX lookup (we never look
 * up MX records: the re-injection target is always a fixed host).
 */
#include "config.h"

#include <string.h>

#include "lib/netio.h"
#include "routing/routing.h"

/* method_parse - split "proto:endpoint" and check both parts */
int method_parse(const char *spec, struct fwd_method *m, const char **error_r)
{
	const char *rest;
	const char *err;

	memset(m, 0, sizeof(*m));
	if (spec == NULL || *spec == 0) {
		*error_r = "empty forward method";
		return -1;
	}
	if (strlcpy(m->spec, spec, sizeof(m->spec)) >= sizeof(m->spec)) {
		*error_r = "forward method too long";
		return -1;
	}
	if (strncasecmp(spec, "smtp:", 5) == 0) {
		m->proto = FWD_SMTP;
	} else if (strncasecmp(spec, "lmtp:", 5) == 0) {
		m->proto = FWD_LMTP;
	} else {
		*error_r = "unsupported forward method: expected smtp:HOST:PORT, smtp:[ADDR]:PORT, "
		    "lmtp:HOST:PORT, lmtp:[ADDR]:PORT or lmtp:unix:PATH";
		return -1;
	}
	rest = spec + 5;
	if (strpbrk(rest, " \t\r\n") != NULL) {
		*error_r = "white space in forward method";
		return -1;
	}
	if (strncmp(rest, "unix:", 5) == 0 && m->proto != FWD_LMTP) {
		*error_r = "unix sockets are supported for lmtp: methods only";
		return -1;
	}
	if (endpoint_parse(rest, &m->ep, &err) < 0) {
		*error_r = err;
		return -1;
	}
	if (!m->ep.is_unix) {
		if (m->ep.host[0] == '*' || strcmp(m->ep.port, "*") == 0) {
			*error_r = "wildcard host or port in forward method is not supported";
			return -1;
		}
		if (strcmp(m->ep.port, "0") == 0 || m->ep.port[0] == '0') {
			*error_r = "bad port number in forward method";
			return -1;
		}
	}
	return 0;
}
