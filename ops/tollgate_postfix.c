/*
 * tollgate_postfix.c - "tollgate postfix-config": the Postfix side of a
 * tollgate set-up, derived from tollgate's own configuration, as the
 * integration guide lays it out (README.md "The Postfix side"):
 *
 *   master.cf  the feed transport (amavisfeed, lmtp or smtp after the
 *              listener's protocol) with maxproc = max_servers,
 *              lmtp_data_done_timeout = max(1200, 2 x child_timeout),
 *              XFORWARD on; the re-injection smtpd on forward_method's
 *              address with the guide's overrides
 *   main.cf    content_filter (--mode global), or the -o line to put on
 *              chosen smtpd services (--mode service), or, before the
 *              queue (--mode milter), smtpd_milters pointing at the
 *              milter listener with milter_default_action = tempfail and
 *              a milter_content_timeout above child_timeout; then no
 *              feed transport is needed, and the re-injection smtpd only
 *              takes the DSNs and notices tollgate sends itself
 *
 * --nodes HOST:PORT,HOST:PORT,... (several tollgate hosts behind this
 * Postfix, README.md "Several hosts"): the feed's nexthop is the list of
 * the nodes' LMTP listeners, in order (Postfix 3.5 and later try the
 * nexthops of a list in turn, so a node that is down or answers 421 costs
 * a retry on the next one); maxproc is the nodes' total, each node taken
 * to have this configuration's max_servers; the re-injection smtpd's
 * mynetworks and smtpd_authorized_xforward_hosts take the nodes in too,
 * and a comment says what forward_method each node needs.
 *
 * --check asks postconf (-c DIR) -M / -h / -P of the running
 * configuration and reports every difference that matters, maxproc
 * against max_servers first; exit 1 when there is one. With --nodes it
 * compares the content_filter's nexthop list with the nodes, in order.
 *
 * postconf runs through lib/postconf.c: no shell, bounded in time and output.
 * Limits: overrides whose value has blanks ({ ... }) are not compared.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/netio.h"
#include "lib/postconf.h"
#include "ops/tollgate.h"

#define PF_DATA_DONE_MIN 1200		/* the guide's lmtp_data_done_timeout */
#define PF_MILTER_MARGIN 60		/* seconds of milter_content_timeout over child_timeout */
#define PF_MAX_NODES 32			/* --nodes entries */

/* the re-injection smtpd's overrides (integration guide, README.md);
 * "$NETS" stands for the loopback networks of forward_method */
static const char *const reinject_overrides[][2] = {
	{ "content_filter", "" },
	{ "smtpd_delay_reject", "no" },
	{ "smtpd_client_restrictions", "permit_mynetworks,reject" },
	{ "smtpd_helo_restrictions", "" },
	{ "smtpd_sender_restrictions", "" },
	{ "smtpd_recipient_restrictions", "permit_mynetworks,reject" },
	{ "smtpd_data_restrictions", "reject_unauth_pipelining" },
	{ "smtpd_end_of_data_restrictions", "" },
	{ "smtpd_restriction_classes", "" },
	{ "mynetworks", "$NETS" },
	{ "smtpd_error_sleep_time", "0" },
	{ "smtpd_soft_error_limit", "1001" },
	{ "smtpd_hard_error_limit", "1000" },
	{ "smtpd_client_connection_count_limit", "0" },
	{ "smtpd_client_connection_rate_limit", "0" },
	{ "receive_override_options", "no_header_body_checks,no_unknown_recipient_checks,no_milters" },
	{ "local_header_rewrite_clients", "" },
	{ "smtpd_milters", "" },
	{ "local_recipient_maps", "" },
	{ "relay_recipient_maps", "" },
	{ "smtpd_authorized_xforward_hosts", "$NETS" },
};

/* what the Postfix side should look like */
struct pf_plan {
	char service[64];		/* "amavisfeed" */
	const char *proto;		/* "lmtp" or "smtp": the feed transport's client */
	char nexthop[PF_MAX_NODES * 80];	/* "[127.0.0.1]:10024", "unix:/path" or
					 * with --nodes "[h1]:p1,[h2]:p2" */
	int nnodes;			/* --nodes entries, 0 without */
	int maxproc;			/* -1: max_servers = postfix (keep Postfix's) */
	long long data_done;
	long long child_timeout;
	int reinject;			/* 1: forward_method is an smtpd we can describe */
	char reinject_addr[300];	/* "127.0.0.1:10025" */
	char nets[PF_MAX_NODES * 80];
	char why_no_reinject[300];
	char milter[400];		/* "inet:127.0.0.1:10030" or "unix:/path"; "" none */
	long long milter_timeout;	/* milter_content_timeout wanted, seconds */
};

/* postconf_h - "postconf -h NAME" into v (trailing blanks cut); 0 or -1 */
static int postconf_h(const char *dir, const char *name, char *v, size_t vsz)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;
	int rc = postconf_value(dir, name, &out, &err);

	if (rc == 0)
		strlcpy(v, out.data, vsz);
	buf_free(&out);
	return rc;
}

/* override_of - value of "-o name=value" among the entry's tokens */
static const char *override_of(char **tok, int n, const char *name)
{
	size_t nl = strlen(name);
	int i;

	for (i = 8; i + 1 < n; i++)
		if (strcmp(tok[i], "-o") == 0 && strncmp(tok[i + 1], name, nl) == 0 && tok[i + 1][nl] == '=')
			return tok[i + 1] + nl + 1;
	return NULL;
}

/* plan_nodes - --nodes HOST:PORT,...: the feed's nexthop list and the
 * nodes' addresses for the re-injection smtpd's networks; 0 or -1 (printed) */
static int plan_nodes(struct pf_plan *p, const char *nodes)
{
	char item[300], hop[300];
	const char *s = nodes, *e = NULL;
	struct endpoint ep;
	size_t k;

	p->nexthop[0] = 0;
	while (*s) {
		k = strcspn(s, ", \t");
		if (k == 0) {
			s++;
			continue;
		}
		if (k >= sizeof(item) || p->nnodes == PF_MAX_NODES) {
			fprintf(stderr, "tollgate postfix-config: --nodes: at most %d nodes of at most %zu characters\n",
			    PF_MAX_NODES, sizeof(item) - 1);
			return -1;
		}
		memcpy(item, s, k);
		item[k] = 0;
		s += k;
		if (endpoint_parse(item, &ep, &e) < 0 || ep.is_unix || !*ep.host || !*ep.port) {
			fprintf(stderr, "tollgate postfix-config: --nodes %s: %s\n", item,
			    e ? e : "expected HOST:PORT (the node's LMTP listener)");
			return -1;
		}
		snprintf(hop, sizeof(hop), "[%s]:%s", ep.host, ep.port);
		if (strlcat(p->nexthop, p->nnodes ? "," : "", sizeof(p->nexthop)) >= sizeof(p->nexthop) ||
		    strlcat(p->nexthop, hop, sizeof(p->nexthop)) >= sizeof(p->nexthop)) {
			fprintf(stderr, "tollgate postfix-config: --nodes: too long\n");
			return -1;
		}
		p->nnodes++;
		if (strncmp(ep.host, "127.", 4) == 0 || strcmp(ep.host, "::1") == 0)
			continue;	/* loopback is in nets already */
		snprintf(hop, sizeof(hop), strchr(ep.host, ':') ? ",[%s]/128" : ",%s", ep.host);
		if (strstr(p->nets, hop) == NULL)
			strlcat(p->nets, hop, sizeof(p->nets));
	}
	if (p->nnodes == 0) {
		fprintf(stderr, "tollgate postfix-config: --nodes: no node given\n");
		return -1;
	}
	if (p->maxproc > 0)
		p->maxproc *= p->nnodes;
	return 0;
}

/* plan_milter - the milter listener, as Postfix's smtpd_milters names
 * it ("" when listen has none); -1 (printed) when it does not parse */
static int plan_milter(struct pf_plan *p, char *const *ls, int n)
{
	struct endpoint ep;
	const char *e = NULL;
	int i;

	for (i = 0; i < n; i++) {
		if (strncmp(ls[i], "milter:", 7) != 0)
			continue;
		if (endpoint_parse(ls[i] + 7, &ep, &e) < 0) {
			fprintf(stderr, "tollgate postfix-config: listen %s: %s\n", ls[i], e);
			return -1;
		}
		if (ep.is_unix)
			snprintf(p->milter, sizeof(p->milter), "unix:%s", ep.path);
		else if (strchr(ep.host, ':'))
			snprintf(p->milter, sizeof(p->milter), "inet:[%s]:%s", ep.host, ep.port);
		else
			snprintf(p->milter, sizeof(p->milter), "inet:%s:%s", ep.host, ep.port);
		break;
	}
	return 0;
}

/* plan_feed - the feed transport's client (lmtp or smtp) and nexthop
 * from the first lmtp: or smtp: listener; none is fine for --mode
 * milter only; -1 (printed) on an error */
static int plan_feed(struct pf_plan *p, char *const *ls, int n, int milter_mode)
{
	struct endpoint ep;
	const char *e = NULL;
	int i;

	for (i = 0; i < n; i++)
		if (strncmp(ls[i], "lmtp:", 5) == 0 || strncmp(ls[i], "smtp:", 5) == 0)
			break;
	if (i == n) {
		if (milter_mode)
			return 0;
		fprintf(stderr, "tollgate postfix-config: no lmtp: or smtp: listener in \"listen\"\n");
		return -1;
	}
	p->proto = strncmp(ls[i], "lmtp:", 5) == 0 ? "lmtp" : "smtp";
	if (endpoint_parse(ls[i] + 5, &ep, &e) < 0) {
		fprintf(stderr, "tollgate postfix-config: listen %s: %s\n", ls[i], e);
		return -1;
	}
	if (ep.is_unix)
		snprintf(p->nexthop, sizeof(p->nexthop), "unix:%s", ep.path);
	else
		snprintf(p->nexthop, sizeof(p->nexthop), "[%s]:%s", ep.host, ep.port);
	return 0;
}

/* plan_max_servers - maxproc from max_servers: a number, or -1 for
 * "postfix" (Postfix's own stays), whose ":SERVICE" names the feed;
 * -1 (printed) when it is neither */
static int plan_max_servers(struct pf_plan *p, const char *ms)
{
	p->maxproc = -1;
	if (strncmp(ms, "postfix", 7) == 0 && (ms[7] == 0 || ms[7] == ':')) {
		if (ms[7] == ':' && ms[8]) {
			size_t k = strcspn(ms + 8, "/");

			snprintf(p->service, sizeof(p->service), "%.*s", (int)(k < 60 ? k : 60), ms + 8);
		}
		return 0;
	}
	p->maxproc = atoi(ms);
	if (p->maxproc < 1) {
		fprintf(stderr, "tollgate postfix-config: max_servers \"%s\" is not a number\n", ms);
		return -1;
	}
	return 0;
}

/* plan_reinject - the re-injection smtpd, for forward_method
 * smtp:HOST:PORT only; otherwise why there is none */
static void plan_reinject(struct pf_plan *p, const char *fwd)
{
	struct endpoint ep;
	const char *e = NULL;

	if (strncmp(fwd, "smtp:", 5) != 0) {
		snprintf(p->why_no_reinject, sizeof(p->why_no_reinject),
		    "forward_method %.200s is not smtp:HOST:PORT: add its receiving service yourself", fwd);
		return;
	}
	if (endpoint_parse(fwd + 5, &ep, &e) < 0 || ep.is_unix) {
		snprintf(p->why_no_reinject, sizeof(p->why_no_reinject),
		    "forward_method %.200s: %s", fwd, e ? e : "a unix socket: add its service yourself");
		return;
	}
	p->reinject = 1;
	if (strchr(ep.host, ':')) {
		snprintf(p->reinject_addr, sizeof(p->reinject_addr), "[%s]:%s", ep.host, ep.port);
		strlcpy(p->nets, "127.0.0.0/8,[::1]/128", sizeof(p->nets));
	} else {
		snprintf(p->reinject_addr, sizeof(p->reinject_addr), "%s:%s", ep.host, ep.port);
		strlcpy(p->nets, "127.0.0.0/8", sizeof(p->nets));
	}
}

/* plan_make - the wanted Postfix settings from tollgate's config; 0, or
 * -1 with the reason printed */
static int plan_make(const struct cfg *cfg, int milter_mode, const char *nodes, struct pf_plan *p)
{
	char *const *ls;
	int n;

	memset(p, 0, sizeof(*p));
	strlcpy(p->service, "amavisfeed", sizeof(p->service));
	ls = cfg_list(cfg, P_LISTEN, &n);
	if (plan_milter(p, ls, n) < 0)
		return -1;
	if (milter_mode && p->milter[0] == 0) {
		fprintf(stderr, "tollgate postfix-config: --mode milter: no milter: listener in \"listen\" "
		    "(e.g. milter:127.0.0.1:10030)\n");
		return -1;
	}
	if (plan_feed(p, ls, n, milter_mode) < 0 || plan_max_servers(p, cfg_str(cfg, P_MAX_SERVERS)) < 0)
		return -1;
	p->child_timeout = cfg_int(cfg, P_CHILD_TIMEOUT);
	p->data_done = p->child_timeout * 2 > PF_DATA_DONE_MIN ? p->child_timeout * 2 : PF_DATA_DONE_MIN;
	/* Postfix must wait for the end-of-message answer longer than a
	 * worker may take (it answers within child_timeout) */
	p->milter_timeout = p->child_timeout + PF_MILTER_MARGIN;
	plan_reinject(p, cfg_str(cfg, P_FORWARD_METHOD));
	return nodes && !milter_mode ? plan_nodes(p, nodes) : 0;
}

/* override_value - the wanted value of reinject_overrides[i] */
static const char *override_value(const struct pf_plan *p, size_t i)
{
	return strcmp(reinject_overrides[i][1], "$NETS") == 0 ? p->nets : reinject_overrides[i][1];
}

/* reinject_print - the master.cf entry of the re-injection smtpd, or why there is none */
static void reinject_print(const struct pf_plan *p)
{
	size_t i;

	if (!p->reinject) {
		printf("# %s\n", p->why_no_reinject);
		return;
	}
	printf("%s inet n  -       n       -       -       smtpd\n", p->reinject_addr);
	for (i = 0; i < sizeof(reinject_overrides) / sizeof(reinject_overrides[0]); i++)
		printf("  -o %s=%s\n", reinject_overrides[i][0], override_value(p, i));
}

/* plan_print - the lines to paste */
static void plan_print(const struct pf_plan *p, const char *mode, const char *conf, int pf_maxproc)
{
	char mp[16];

	if (p->maxproc > 0)
		snprintf(mp, sizeof(mp), "%d", p->maxproc);
	else if (pf_maxproc > 0)
		snprintf(mp, sizeof(mp), "%d", pf_maxproc);
	else
		strlcpy(mp, "-", sizeof(mp));
	printf("# Postfix settings for tollgate (tollgate postfix-config --mode %s)\n", mode);
	printf("# from %s\n#\n# master.cf\n", conf ? conf : "the built-in defaults");
	if (strcmp(mode, "milter") == 0) {
		printf("# before the queue there is no feed transport; the re-injection smtpd\n"
		    "# takes the DSNs and notices tollgate sends itself (notify_method)\n");
		reinject_print(p);
		printf("# main.cf\n");
		printf("smtpd_milters = %s\n", p->milter);
		printf("milter_protocol = 6\n");
		printf("milter_default_action = tempfail\n");
		printf("milter_content_timeout = %llds\n", p->milter_timeout);
		printf("# (tollgated's workers are the milter's concurrency: max_servers sessions at once)\n");
		return;
	}
	if (p->maxproc < 0)
		printf("# max_servers = postfix: maxproc is Postfix's own (now %d)\n", pf_maxproc);
	if (p->nnodes) {
		printf("# %d tollgate nodes share this transport, tried in the order of the nexthop list;\n"
		    "# maxproc limits the deliveries to all of them together: it is the sum of the\n"
		    "# nodes' max_servers (%s)\n", p->nnodes, p->maxproc > 0 ? "each node taken to have this max_servers" :
		    "with max_servers = postfix each node would size itself for the whole maxproc: "
		    "set max_servers on each node to its share");
		if (p->reinject)
			printf("# on each node: forward_method = smtp:[THIS-HOST]:PORT, THIS-HOST being the address the\n"
			    "# nodes reach this Postfix on, where the re-injection smtpd below must listen (it\n"
			    "# listens on %s now: right only when the nodes run on this host); it\n"
			    "# accepts XFORWARD and relays from the nodes' addresses (mynetworks below)\n",
			    p->reinject_addr);
	}
	printf("%-10s unix  -       -       n       -       %-7s %s\n", p->service, mp, p->proto);
	printf("  -o %s_data_done_timeout=%lld\n", p->proto, p->data_done);
	printf("  -o %s_send_xforward_command=yes\n", p->proto);
	printf("  -o %s_tls_note_starttls_offer=no\n", p->proto);
	reinject_print(p);
	printf("# main.cf\n");
	if (strcmp(mode, "global") == 0)
		printf("content_filter = %s:%s\n", p->service, p->nexthop);
	else
		printf("# (nothing in main.cf) add to each smtpd service of master.cf whose mail is filtered:\n"
		    "#   -o content_filter=%s:%s\n", p->service, p->nexthop);
}

/* problem - one reported mismatch */
static int nproblems;
static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	va_list ap;

	nproblems++;
	printf("MISMATCH: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* plan_verdict - the last line of --check; its exit status */
static int plan_verdict(void)
{
	if (nproblems)
		printf("%d mismatch%s between tollgate and Postfix\n", nproblems, nproblems == 1 ? "" : "es");
	else
		printf("Postfix and tollgate agree\n");
	return nproblems ? 1 : 0;
}

/* plan_check_milter - --check --mode milter: smtpd_milters names the
 * listener, a failure tempfails, Postfix waits long enough */
static void plan_check_milter(const struct pf_plan *p, const char *dir)
{
	char v[1024] = "";
	long long t = -1;

	if (postconf_h(dir, "smtpd_milters", v, sizeof(v)) < 0)
		problem("postconf -h smtpd_milters failed");
	else if (strstr(v, p->milter) == NULL)
		problem("main.cf smtpd_milters is \"%s\": it does not name tollgate's %s", v, p->milter);
	else
		printf("ok: smtpd_milters names %s\n", p->milter);
	if (postconf_h(dir, "milter_default_action", v, sizeof(v)) == 0 && strcmp(v, "tempfail") != 0)
		problem("milter_default_action is %s, not tempfail: %s", v,
		    strcmp(v, "accept") == 0 ? "mail would pass unscanned while tollgated is down" :
		    "a failure of tollgated would not leave the mail with its sender");
	if (postconf_h(dir, "milter_protocol", v, sizeof(v)) == 0 && atoi(v) < 6)
		problem("milter_protocol is %s: tollgate speaks version 6", v);
	if (postconf_h(dir, "milter_content_timeout", v, sizeof(v)) < 0 || cfg_parse_time(v, &t) < 0 ||
	    t <= p->child_timeout)
		problem("milter_content_timeout is %s: it must be above child_timeout (%llds); %llds is suggested",
		    v, p->child_timeout, p->milter_timeout);
}

/* same_filter - whether two transport:nexthop values name the same
 * transport and the same nexthops in the same order (a list may be
 * separated by commas and/or blanks) */
static int same_filter(const char *a, const char *b)
{
	const char *sep = ", \t";
	size_t ka, kb;

	for (;;) {
		a += strspn(a, sep);
		b += strspn(b, sep);
		if (*a == 0 || *b == 0)
			return *a == *b;
		ka = strcspn(a, sep);
		kb = strcspn(b, sep);
		if (ka != kb || strncmp(a, b, ka) != 0)
			return 0;
		a += ka;
		b += kb;
	}
}

/* plan_setting - NAME as the service has it: its -o override, else
 * main.cf's (postconf -h, into v); NULL when it cannot be told */
static const char *plan_setting(const char *dir, char **tok, int n, const char *name, char *v, size_t vsz)
{
	const char *o = override_of(tok, n, name);

	if (o == NULL && postconf_h(dir, name, v, vsz) == 0)
		o = v;
	return o;
}

/* plan_check_feed - the feed transport: maxproc against max_servers, its
 * client protocol, the data-done timeout, XFORWARD; -1 (printed) when
 * postconf cannot be run */
static int plan_check_feed(const struct pf_plan *p, const char *dir)
{
	struct buf out = BUF_INIT;
	char *tok[POSTCONF_MAX_FIELDS], svc[400], v[1024], key[80];
	const char *o, *err = NULL;
	long long t = -1;
	int n, maxproc;

	snprintf(svc, sizeof(svc), "%s/unix", p->service);
	if ((n = postconf_service(dir, svc, &out, tok, POSTCONF_MAX_FIELDS, &err)) < 0) {
		fprintf(stderr, "tollgate postfix-config: postconf%s%s -M %s failed\n", *dir ? " -c " : "", dir, svc);
		buf_free(&out);
		return -1;
	}
	if (n < 8) {
		problem("master.cf has no %s service (the feed transport)", svc);
		buf_free(&out);
		return 0;
	}
	maxproc = postconf_maxproc(dir, tok[6]);
	if (p->maxproc > 0 && maxproc != p->maxproc)
		problem("%s maxproc is %s (%d) but max_servers is %d: set them equal, or max_servers = postfix",
		    svc, tok[6], maxproc, p->maxproc);
	else
		printf("ok: %s maxproc %d%s\n", svc, maxproc, p->maxproc > 0 ? " = max_servers" :
		    " (max_servers = postfix follows it)");
	if (strcmp(tok[7], p->proto) != 0)
		problem("%s runs %s but tollgate's listener speaks %s", svc, tok[7], p->proto);
	snprintf(key, sizeof(key), "%s_data_done_timeout", p->proto);
	o = plan_setting(dir, tok, n, key, v, sizeof(v));
	if (o == NULL || cfg_parse_time(o, &t) < 0 || t <= p->child_timeout)
		problem("%s %s is %s: it must be above child_timeout (%llds); %lld is suggested", svc, key,
		    o ? o : "unknown", p->child_timeout, p->data_done);
	snprintf(key, sizeof(key), "%s_send_xforward_command", p->proto);
	o = plan_setting(dir, tok, n, key, v, sizeof(v));
	if (o == NULL || strcmp(o, "yes") != 0)
		problem("%s %s is %s, not yes: tollgate cannot log the client and queue id", svc, key,
		    o ? o : "unknown");
	buf_free(&out);
	return 0;
}

/* plan_check_reinject - the re-injection smtpd and each of its overrides */
static void plan_check_reinject(const struct pf_plan *p, const char *dir)
{
	struct buf out = BUF_INIT;
	char *tok[POSTCONF_MAX_FIELDS], svc[400];
	const char *o, *err = NULL;
	size_t i;
	int n;

	snprintf(svc, sizeof(svc), "%s/inet", p->reinject_addr);
	n = postconf_service(dir, svc, &out, tok, POSTCONF_MAX_FIELDS, &err);
	if (n < 8) {
		problem("master.cf has no re-injection smtpd %s (forward_method)", svc);
		buf_free(&out);
		return;
	}
	if (strcmp(tok[7], "smtpd") != 0)
		problem("%s runs %s, not smtpd", svc, tok[7]);
	for (i = 0; i < sizeof(reinject_overrides) / sizeof(reinject_overrides[0]); i++) {
		const char *want = override_value(p, i);

		o = override_of(tok, n, reinject_overrides[i][0]);
		if (o == NULL)
			problem("%s lacks -o %s=%s%s", svc, reinject_overrides[i][0], want,
			    i == 0 ? " (mail would loop through the filter)" : "");
		else if (strcmp(o, want) != 0)
			problem("%s has -o %s=%s, expected %s", svc, reinject_overrides[i][0], o, want);
	}
	buf_free(&out);
}

/* plan_service_filter - --mode service: whether some master.cf service
 * has -o content_filter=WANT (postconf -P lists the overrides) */
static int plan_service_filter(const char *dir, const char *want)
{
	static const char tag[] = "/content_filter = ";
	const char *args[] = { "-P", NULL };
	struct buf ps = BUF_INIT;
	const char *l, *err = NULL;
	char v[PF_MAX_NODES * 80 + 100];
	int found = 0;

	if (postconf_run(dir, args, &ps, &err) == 0)
		for (l = ps.data; l && *l && !found; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			const char *eq = strstr(l, tag), *nl = strchr(l, '\n');
			size_t vl;

			if (eq == NULL || (nl && eq > nl))
				continue;
			eq += strlen(tag);
			vl = nl ? (size_t)(nl - eq) : strlen(eq);
			if (vl < sizeof(v)) {
				memcpy(v, eq, vl);
				v[vl] = 0;
				found = same_filter(v, want);
			}
		}
	buf_free(&ps);
	return found;
}

/* plan_check_filter - the content_filter: main.cf's (--mode global) or
 * a service's -o (--mode service) names the feed and its nexthops */
static void plan_check_filter(const struct pf_plan *p, const char *dir, const char *mode)
{
	char want[sizeof(p->nexthop) + 100], v[PF_MAX_NODES * 80 + 100];

	snprintf(want, sizeof(want), "%s:%s", p->service, p->nexthop);
	if (strcmp(mode, "global") != 0) {
		if (!plan_service_filter(dir, want))
			problem("no master.cf service has -o content_filter=%s:%s", p->service, p->nexthop);
		return;
	}
	if (postconf_h(dir, "content_filter", v, sizeof(v)) < 0)
		problem("postconf -h content_filter failed");
	else if (!same_filter(v, want))
		problem("main.cf content_filter is \"%s\", expected \"%s\"%s", v, want,
		    p->nnodes ? " (the nodes, in order)" : "");
	else if (p->nnodes)
		printf("ok: content_filter names the %d nodes in order\n", p->nnodes);
}

/* plan_check - compare with the running Postfix configuration; the exit
 * status: 0 they agree, 1 a mismatch, 2 postconf cannot be run */
static int plan_check(const struct pf_plan *p, const char *dir, const char *mode)
{
	nproblems = 0;
	if (strcmp(mode, "milter") == 0) {
		plan_check_milter(p, dir);
		return plan_verdict();
	}
	if (plan_check_feed(p, dir) < 0)
		return 2;
	if (p->reinject)
		plan_check_reinject(p, dir);
	plan_check_filter(p, dir, mode);
	return plan_verdict();
}

/* cmd_postfix_config - "tollgate postfix-config" (see the top of the file) */
int cmd_postfix_config(int argc, char **argv)
{
	const char *conf = NULL, *mode = "global", *pfdir = NULL, *nodes = NULL;
	struct cfg *cfg = NULL;
	struct pf_plan p;
	int i, check = 0, rc, pf_maxproc = -1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strncmp(argv[i], "--mode=", 7) == 0)
			mode = argv[i] + 7;
		else if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else if (strcmp(argv[i], "--postfix-dir") == 0 && i + 1 < argc)
			pfdir = argv[++i];
		else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
			nodes = argv[++i];
		else if (strncmp(argv[i], "--nodes=", 8) == 0)
			nodes = argv[i] + 8;
		else {
			fprintf(stderr, "usage: tollgate postfix-config [-c FILE] [--mode global|service|milter] "
			    "[--nodes HOST:PORT,HOST:PORT,...] [--check [--postfix-dir DIR]]\n");
			return 2;
		}
	}
	if (strcmp(mode, "global") != 0 && strcmp(mode, "service") != 0 && strcmp(mode, "milter") != 0) {
		fprintf(stderr, "tollgate postfix-config: --mode %s: expected global, service or milter\n", mode);
		return 2;
	}
	if (conf == NULL)
		conf = tollgate_default_config();
	if (tollgate_load_config(conf, &cfg) < 0)
		return 2;
	if (pfdir == NULL)
		pfdir = cfg_str(cfg, P_POSTFIX_CONFIG_DIRECTORY);
	if (nodes && strcmp(mode, "milter") == 0) {
		fprintf(stderr, "tollgate postfix-config: --nodes is for the feed transport, not --mode milter\n");
		cfg_free(&cfg);
		return 2;
	}
	if (plan_make(cfg, strcmp(mode, "milter") == 0, nodes, &p) < 0) {
		cfg_free(&cfg);
		return 2;
	}
	if (check) {
		rc = plan_check(&p, pfdir, mode);
	} else {
		if (p.maxproc < 0 && p.proto != NULL) {
			struct buf out = BUF_INIT;
			char *tok[POSTCONF_MAX_FIELDS], svc[80];
			const char *err = NULL;

			snprintf(svc, sizeof(svc), "%s/unix", p.service);
			if (postconf_service(pfdir, svc, &out, tok, POSTCONF_MAX_FIELDS, &err) >= 8)
				pf_maxproc = atoi(tok[6]);
			buf_free(&out);
		}
		plan_print(&p, mode, conf, pf_maxproc);
		rc = fflush(stdout) == 0 ? 0 : 2;
	}
	cfg_free(&cfg);
	return rc;
}
