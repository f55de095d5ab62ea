/*
 * fuzz_values.c - libFuzzer target for the small value parsers: the
 * address matcher that sees peer data (cidr_match() of a client address
 * from XFORWARD or the milter), and the parsers of setting and map
 * values, which a Redis-backed map (table_redis) hands over from the
 * network: endpoint_parse, cidr_parse, method_parse, listener_parse,
 * state_rate_spec_parse, cfg_parse_time/size/bool, tls_level_parse,
 * decide_destiny_parse, table_failure_parse.
 *
 * The input is cut at LF into values (at most 16); each goes through
 * every parser, and cidr_match() pairs each value as a network with
 * each value as an address. Checked: a success leaves a result within
 * its bounds (bits within the family's, ports and paths NUL-terminated
 * in their fields, a positive rate window), a failure an error text;
 * an address matches the /32 or /128 made of itself and every /0 of
 * its family; endpoint_format() of a parsed endpoint (a unix path, or a
 * host name or address) parses again to the same endpoint.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/netio.h"
#include "policy/decide.h"
#include "routing/routing.h"
#include "state/state.h"
#include "lib/tables/table.h"
#include "workers/workers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 16

/* terminated - s has a NUL within n bytes */
static void terminated(const char *s, size_t n)
{
	if (memchr(s, 0, n) == NULL)
		abort();
}

/* check_ep - a parsed endpoint is sane and survives endpoint_format() */
static void check_ep(const struct endpoint *ep)
{
	struct endpoint again;
	const char *err = NULL;
	char out[512];

	terminated(ep->host, sizeof(ep->host));
	terminated(ep->port, sizeof(ep->port));
	terminated(ep->path, sizeof(ep->path));
	if (endpoint_format(ep, out, sizeof(out)) == NULL)
		abort();
	/* only for host names and addresses: "[[x]:1" is taken as host "[x",
	 * "[unix]:25" as host "unix" - nonsense either way */
	if (ep->is_unix ? 0 : strspn(ep->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
	    strlen(ep->host) || strcmp(ep->host, "unix") == 0)
		return;
	if (endpoint_parse(out, &again, &err) < 0)
		abort();
	if (again.is_unix != ep->is_unix || strcmp(again.host, ep->host) != 0 ||
	    strcmp(again.port, ep->port) != 0 || strcmp(again.path, ep->path) != 0)
		abort();
}

/* one - every parser on one value */
static void one(const char *v)
{
	const char *err = NULL;
	struct endpoint ep;
	struct cidr n;
	struct fwd_method m;
	struct listener l;
	struct state_rate_spec rs;
	enum tls_level tl;
	enum destiny d;
	enum table_failure tf;
	long long x;

	memset(&ep, 0, sizeof(ep));
	if (endpoint_parse(v, &ep, &err) == 0)
		check_ep(&ep);
	else if (err == NULL)
		abort();
	if (cidr_parse(v, &n) == 0 &&
	    (n.bits < 0 || n.bits > (n.family == AF_INET ? 32 : 128) ||
	     (n.family != AF_INET && n.family != AF_INET6)))
		abort();
	err = NULL;
	if (method_parse(v, &m, &err) == 0) {
		terminated(m.spec, sizeof(m.spec));
		check_ep(&m.ep);
	} else if (err == NULL) {
		abort();
	}
	err = NULL;
	memset(&ep, 0, sizeof(ep));
	if (listener_parse(v, &l, &ep, &err) == 0) {
		terminated(l.spec, sizeof(l.spec));
		check_ep(&ep);
	} else if (err == NULL) {
		abort();
	}
	err = NULL;
	if (state_rate_spec_parse(v, &rs, &err) == 0) {
		if (rs.window_s == 0)
			abort();
	} else if (err == NULL) {
		abort();
	}
	(void)cfg_parse_time(v, &x);
	(void)cfg_parse_size(v, &x);
	(void)cfg_parse_bool(v, &x);
	if (tls_level_parse(v, &tl) == 0 && tls_level_name(tl) == NULL)
		abort();
	if (decide_destiny_parse(v, &d) == 0 && decide_destiny_name(d) == NULL)
		abort();
	(void)table_failure_parse(v, &tf);
}

/* self_match - an address (as peers give it: no brackets) matches
 * itself as a host network and /0 */
static void self_match(const char *v)
{
	struct cidr n;
	char net[160];
	const char *a = v;

	if (strncasecmp(a, "IPv6:", 5) == 0)
		a += 5;
	if (strlen(a) > 100 || strpbrk(a, "/[") != NULL || cidr_parse(a, &n) < 0)
		return;
	if (!cidr_match(&n, v))
		abort();
	snprintf(net, sizeof(net), n.family == AF_INET ? "%s/0" : "[%s]/0", a);
	if (cidr_parse(net, &n) < 0 || !cidr_match(&n, v))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char *vals[MAXV], *copy, *p;
	size_t nv = 0, i, j;

	if (size > 4096)
		return 0;
	if (!ready) {
		log_open("fuzz", 1, NULL);
		ready = 1;
	}
	copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = 0;
	for (p = copy; nv < MAXV;) {
		char *nl = strchr(p, '\n');

		/* each value in an exact-size heap copy: reads past it are caught */
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		vals[nv] = malloc(n + 1);
		memcpy(vals[nv], p, n);
		vals[nv++][n] = 0;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	for (i = 0; i < nv; i++) {
		struct cidr n;

		one(vals[i]);
		self_match(vals[i]);
		if (cidr_parse(vals[i], &n) < 0)
			continue;
		for (j = 0; j < nv; j++)
			(void)cidr_match(&n, vals[j]);
	}
	for (i = 0; i < nv; i++)
		free(vals[i]);
	free(copy);
	return 0;
}
