/*
 * tollgate_explain.c - "tollgate explain": why a message would go where
 * it goes. One message file runs through the worker's own message path
 * (workers/process.c in its dry-run mode, struct proc_explain) with the
 * policy, policy banks and ClamAV engine built from the configuration as
 * the master builds them; the tool only sets the message up and prints
 * the record.
 *
 *   tollgate explain [-c FILE] [--from ADDR] --to ADDR [--to ADDR...]
 *       [--client IP] [--listener NAME] [--sasl LOGIN] [--json] MESSAGE-FILE
 *
 * Nothing is delivered, quarantined, sent, counted or written to Redis
 * (workers.h says what the dry run leaves out). There is no decision
 * here: a second engine would drift from the worker's.
 *
 * Limits: EXPLAIN_MAX_RCPTS recipients, EXPLAIN_MAX_SIZE bytes of
 * message. The message is read as a file: bare LF line ends become
 * CRLF, as an SMTP client sends them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/spool.h"
#include "ops/tollgate.h"
#include "policy/banks.h"
#include "policy/policy.h"
#include "scanners/scanners.h"
#include "workers/workers.h"

#define EXPLAIN_MAX_RCPTS	1000
#define EXPLAIN_MAX_SIZE	(256u << 20)	/* bytes of message read */
#define EXPLAIN_CLIENT		"127.0.0.1"	/* the Postfix that hands the message over */

struct explain_args {
	const char *conf, *from, *client, *listener, *sasl, *file;
	const char *to[EXPLAIN_MAX_RCPTS];
	size_t nto;
	int json;
};

/* explain_usage - the command line */
static void explain_usage(FILE *fp)
{
	fprintf(fp, "usage: tollgate explain [-c FILE] [--from ADDR] --to ADDR [--to ADDR...]\n"
	    "           [--client IP] [--listener NAME] [--sasl LOGIN] [--json] MESSAGE-FILE\n");
}

/* explain_parse - the arguments; 0, or 2 on a usage error */
static int explain_parse(int argc, char **argv, struct explain_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	a->from = "";
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char **dst = NULL;

		if (strcmp(o, "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			explain_usage(stdout);
			exit(0);
		}
		if (strcmp(o, "-c") == 0)
			dst = &a->conf;
		else if (strcmp(o, "--from") == 0)
			dst = &a->from;
		else if (strcmp(o, "--client") == 0)
			dst = &a->client;
		else if (strcmp(o, "--listener") == 0)
			dst = &a->listener;
		else if (strcmp(o, "--sasl") == 0)
			dst = &a->sasl;
		else if (strcmp(o, "--to") == 0) {
			if (a->nto == EXPLAIN_MAX_RCPTS) {
				fprintf(stderr, "tollgate explain: more than %d recipients\n", EXPLAIN_MAX_RCPTS);
				return 2;
			}
			dst = &a->to[a->nto++];
		} else if (o[0] == '-' && o[1] != 0) {
			fprintf(stderr, "tollgate explain: unknown option %s\n", o);
			explain_usage(stderr);
			return 2;
		} else if (a->file == NULL) {
			a->file = o;
			continue;
		} else {
			fprintf(stderr, "tollgate explain: one message file only\n");
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "tollgate explain: %s needs a value\n", o);
			return 2;
		}
		*dst = argv[++i];
	}
	if (a->nto == 0 || a->file == NULL) {
		fprintf(stderr, "tollgate explain: need at least one --to ADDR and a MESSAGE-FILE\n");
		explain_usage(stderr);
		return 2;
	}
	return 0;
}

/* explain_clamav - the engine from clamav_database with the settings the
 * master compiles it with; *e_r NULL when scanning is off */
static int explain_clamav(const struct cfg *cfg, struct clamav_engine **e_r, const char **error_r)
{
	struct clamav_opts o;

	*e_r = NULL;
	clamav_opts_from_cfg(cfg, &o);
	if (*o.db_path == 0)
		return 0;
	return clamav_engine_load(&o, e_r, error_r);
}

/*
 * explain_listener - the listener spec the message comes in on: NAME as
 * configured in listen, or a configured one whose port is NAME; the
 * first of listen without NAME. Fills the local address and port the
 * worker would see (none for a unix socket). NULL when NAME is no
 * listener of the configuration.
 */
static const char *explain_listener(const struct cfg *cfg, const char *name, struct arena *a,
    const char **addr_r, const char **port_r)
{
	char *const *l;
	const char *spec = NULL, *p, *colon;
	int n, i;

	*addr_r = *port_r = NULL;
	l = cfg_list(cfg, P_LISTEN, &n);
	for (i = 0; i < n && spec == NULL; i++) {
		colon = strrchr(l[i], ':');
		if (name == NULL || strcmp(l[i], name) == 0 || (colon && strcmp(colon + 1, name) == 0))
			spec = l[i];
	}
	if (spec == NULL)
		return NULL;
	p = strchr(spec, ':');
	if (p && strncmp(p + 1, "unix:", 5) != 0 && (colon = strrchr(spec, ':')) > p) {
		const char *h = p + 1;
		size_t hl = (size_t)(colon - h);

		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		*addr_r = arena_strndup(a, h, hl);
		*port_r = arena_strdup(a, colon + 1);
	}
	return arena_strdup(a, spec);
}

/* explain_read - the message file ("-": stdin) into the spool, bare LF
 * made CRLF; 0, or -1 with a message printed */
static int explain_read(const char *path, struct spool *sp)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char in[8192], out[16384];
	size_t n, k, o, total = 0;
	int prev = 0;

	if (fp == NULL) {
		fprintf(stderr, "tollgate explain: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(in, 1, sizeof(in), fp)) > 0) {
		for (k = 0, o = 0; k < n; k++) {
			if (in[k] == '\n' && prev != '\r')
				out[o++] = '\r';
			out[o++] = in[k];
			prev = (unsigned char)in[k];
		}
		total += n;
		if (total > EXPLAIN_MAX_SIZE || spool_write(sp, out, o) < 0) {
			fprintf(stderr, "tollgate explain: %s: %s\n", path, total > EXPLAIN_MAX_SIZE ?
			    "larger than the tool reads" : spool_error(sp));
			if (fp != stdin)
				fclose(fp);
			return -1;
		}
	}
	if (ferror(fp) || spool_finish(sp) < 0) {
		fprintf(stderr, "tollgate explain: %s: read failed\n", path);
		if (fp != stdin)
			fclose(fp);
		return -1;
	}
	if (fp != stdin)
		fclose(fp);
	return 0;
}

/* ---- output ---- */

/* json_str - s as a JSON string, or null */
static void json_str(struct buf *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		buf_puts(b, "null");
		return;
	}
	buf_putc(b, '"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else if (*p == '\r')
			buf_puts(b, "\\r");
		else if (*p == '\t')
			buf_puts(b, "\\t");
		else if (*p < 0x20)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_putc(b, (char)*p);
	}
	buf_putc(b, '"');
}

/* json_kv - "key": "value" with a separating comma unless first */
static void json_kv(struct buf *b, int *first, const char *key, const char *v)
{
	buf_printf(b, "%s\"%s\": ", *first ? "" : ", ", key);
	*first = 0;
	json_str(b, v);
}

/* json_split - the "; "-separated list s as a JSON array */
static void json_split(struct buf *b, const char *s)
{
	int first = 1;

	buf_putc(b, '[');
	while (s && *s) {
		const char *e = strstr(s, "; ");
		size_t len = e ? (size_t)(e - s) : strlen(s);
		char *one = xstrndup(s, len);

		buf_puts(b, first ? "" : ", ");
		json_str(b, one);
		free(one);
		first = 0;
		s = e ? e + 2 : NULL;
	}
	buf_putc(b, ']');
}

/* explain_json - the record as one JSON object (keys in tollgate(1)) */
static void explain_json(const struct message *msg, const struct proc_explain *ex, const char *file,
    const struct milter_verdict *mv)
{
	static const char *const actions[] = { "accept", "reject", "tempfail", "discard" };
	struct buf b = BUF_INIT;
	size_t i, k;
	int f = 1, g;

	buf_putc(&b, '{');
	json_kv(&b, &f, "file", file);
	json_kv(&b, &f, "mail_id", msg->mail_id);
	json_kv(&b, &f, "listener", msg->listener);
	json_kv(&b, &f, "protocol", mv ? "milter" : msg->lmtp ? "lmtp" : "smtp");
	json_kv(&b, &f, "client", msg->xf.addr ? msg->xf.addr : msg->client_addr);
	json_kv(&b, &f, "sasl_login", msg->sasl_login);
	json_kv(&b, &f, "sender", msg->sender);
	buf_puts(&b, ", \"banks\": {");
	g = 1;
	json_kv(&b, &g, "path", ex->banks);
	buf_puts(&b, ", \"why\": ");
	json_split(&b, ex->banks_why);
	buf_printf(&b, ", \"mynets\": %s, \"originating\": %s}", ex->mynets ? "true" : "false",
	    ex->originating ? "true" : "false");
	buf_puts(&b, ", \"scanners\": {");
	g = 1;
	json_kv(&b, &g, "clamav", ex->clamav);
	json_kv(&b, &g, "banned", ex->banned);
	json_kv(&b, &g, "bad_header", ex->bad_header);
	json_kv(&b, &g, "spam", ex->spam);
	buf_putc(&b, '}');
	json_kv(&b, &f, "category", ex->category);
	json_kv(&b, &f, "quarantine", ex->quarantine);
	json_kv(&b, &f, "dsn", ex->dsn);
	json_kv(&b, &f, "admin_notice", ex->admin_notice);
	json_kv(&b, &f, "smtp_reply", !msg->lmtp && !mv ? msg->smtp_reply : NULL);
	if (mv) {
		buf_puts(&b, ", \"milter\": {");
		g = 1;
		json_kv(&b, &g, "action", actions[mv->action]);
		json_kv(&b, &g, "reply", mv->reply);
		buf_putc(&b, '}');
	}
	buf_puts(&b, ", \"recipients\": [");
	for (i = 0; i < msg->nrcpts; i++) {
		const struct explain_rcpt *er = &ex->rcpts[i];

		buf_puts(&b, i ? ", {" : "{");
		g = 1;
		json_kv(&b, &g, "address", msg->rcpts[i].addr);
		json_kv(&b, &g, "category", er->ccat);
		json_kv(&b, &g, "destiny", er->destiny);
		json_kv(&b, &g, "destiny_by", er->destiny_by);
		json_kv(&b, &g, "reply", msg->rcpts[i].reply);
		json_kv(&b, &g, "forward_method", er->method);
		json_kv(&b, &g, "method_by", er->method_by);
		json_kv(&b, &g, "method_key", er->method_key);
		json_kv(&b, &g, "dunno", er->dunno);
		json_kv(&b, &g, "tls", er->tls);
		json_kv(&b, &g, "tls_by", er->tls_by);
		buf_puts(&b, ", \"headers\": [");
		for (k = 0; k < er->nheaders; k++) {
			buf_puts(&b, k ? ", " : "");
			json_str(&b, er->headers[k]);
		}
		buf_puts(&b, "]}");
	}
	buf_puts(&b, "]");
	json_kv(&b, &f, "log", ex->log_line);
	buf_puts(&b, ", \"notes\": [");
	for (k = 0; k < ex->nnotes; k++) {
		buf_puts(&b, k ? ", " : "");
		json_str(&b, ex->notes[k]);
	}
	buf_puts(&b, "]}\n");
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

/* or_none - s, or "-" */
static const char *or_none(const char *s)
{
	return s && *s ? s : "-";
}

/* explain_text - the record for a person */
static void explain_text(const struct message *msg, const struct proc_explain *ex, const char *file,
    const struct milter_verdict *mv)
{
	static const char *const actions[] = { "ACCEPT", "REJECT", "TEMPFAIL", "DISCARD" };
	size_t i, k;

	printf("message:      %s, mail_id %s\n", file, msg->mail_id);
	printf("listener:     %s (%s)\n", or_none(msg->listener), mv ? "milter" : msg->lmtp ? "LMTP" : "SMTP");
	printf("client:       %s%s\n", msg->xf.addr ? msg->xf.addr : msg->client_addr,
	    msg->xf.addr ? " (as XFORWARD ADDR)" : " (the Postfix handing the message over)");
	if (msg->sasl_login)
		printf("SASL login:   %s\n", msg->sasl_login);
	printf("sender:       <%s>\n", msg->sender);
	printf("policy banks: %s%s%s%s\n", *ex->banks ? ex->banks : "none", *ex->banks_why ? " (" : "",
	    ex->banks_why, *ex->banks_why ? ")" : "");
	printf("ClamAV:       %s\n", or_none(ex->clamav));
	printf("banned:       %s\n", or_none(ex->banned));
	printf("bad header:   %s\n", or_none(ex->bad_header));
	printf("spam:         %s\n", or_none(ex->spam));
	printf("category:     %s\n", or_none(ex->category));
	printf("quarantine:   %s%s\n", ex->quarantine ? ex->quarantine : "-", ex->quarantine ? " (not written)" : "");
	printf("DSN:          %s\n", or_none(ex->dsn));
	printf("admin notice: %s\n", or_none(ex->admin_notice));
	if (mv)
		printf("milter:       %s%s%s\n", actions[mv->action], mv->reply ? " " : "", mv->reply ? mv->reply : "");
	else if (!msg->lmtp)
		printf("SMTP reply:   %s\n", or_none(msg->smtp_reply));
	for (i = 0; i < msg->nrcpts; i++) {
		const struct explain_rcpt *er = &ex->rcpts[i];

		printf("recipient <%s>:\n", msg->rcpts[i].addr);
		printf("  category:   %s\n", or_none(er->ccat));
		printf("  destiny:    %s (%s)\n", or_none(er->destiny), or_none(er->destiny_by));
		if (er->method) {
			printf("  route:      %s (%s%s%s)\n", er->method, or_none(er->method_by), er->method_key ? ": " : "",
			    er->method_key ? er->method_key : "");
			if (er->dunno)
				printf("  passed over: %s\n", er->dunno);
			printf("  TLS:        %s (%s)\n", or_none(er->tls), or_none(er->tls_by));
		} else {
			printf("  route:      not forwarded\n");
		}
		printf("  %s %s\n", msg->lmtp && !mv ? "reply:     " : "status:    ", or_none(msg->rcpts[i].reply));
		for (k = 0; k < er->nheaders; k++)
			printf("  %s %s\n", k ? "           " : "headers:   ", er->headers[k]);
	}
	printf("log:          %s\n", or_none(ex->log_line));
	for (k = 0; k < ex->nnotes; k++)
		printf("%s %s\n", k ? "             " : "notes:       ", ex->notes[k]);
}

/* explain_message - the message as a worker would have it after the
 * last byte of DATA: listener, envelope, ids, the file in the spool;
 * NULL with the reason printed */
static struct message *explain_message(const struct cfg *cfg, const struct explain_args *args)
{
	struct arena *a = arena_create(0);
	struct message *msg = arena_alloc(a, sizeof(*msg));
	size_t i;

	memset(msg, 0, sizeof(*msg));
	msg->arena = a;
	msg->listener = explain_listener(cfg, args->listener, a, &msg->local_addr, &msg->local_port);
	if (msg->listener == NULL) {
		fprintf(stderr, "tollgate explain: --listener %s: not in listen (%s)\n", args->listener,
		    cfg_str(cfg, P_LISTEN));
		return NULL;
	}
	msg->lmtp = strncmp(msg->listener, "lmtp:", 5) == 0;
	msg->client_addr = EXPLAIN_CLIENT;
	msg->xf.addr = args->client;
	msg->sasl_login = args->sasl;
	msg->sender = args->from;
	msg->size_declared = -1;
	for (i = 0; i < args->nto; i++)
		(void)message_add_rcpt(msg, args->to[i]);
	clock_gettime(CLOCK_MONOTONIC, &msg->t_start);
	message_new_ids(msg);
	(void)snprintf(msg->am_id, sizeof(msg->am_id), "%05d-01", (int)getpid());
	msg->spool = spool_create(a, cfg_str(cfg, P_TMP_DIR), (size_t)cfg_int(cfg, P_SPOOL_MEMORY_LIMIT));
	if (explain_read(args->file, msg->spool) < 0)
		return NULL;
	return msg;
}

/* cmd_explain - "tollgate explain" (see the top of the file) */
int cmd_explain(int argc, char **argv)
{
	struct explain_args args;
	struct cfg *cfg = NULL;
	struct policy *pol = NULL;
	struct banks *banks = NULL;
	struct clamav_engine *clam = NULL;
	struct worker_env env;
	struct worker w;
	struct proc_explain ex;
	struct milter_verdict mv;
	struct message *msg;
	struct arena *a;
	const char *err = NULL;
	int rc, milter;

	if ((rc = explain_parse(argc, argv, &args)) != 0)
		return rc;
	log_open("tollgate-explain", 1, NULL);
	if (tollgate_load_config(args.conf, &cfg) < 0 || (msg = explain_message(cfg, &args)) == NULL)
		return 2;
	a = msg->arena;
	milter = strncmp(msg->listener, "milter:", 7) == 0 || strncmp(msg->listener, "ampdp:", 6) == 0;
	/* what the master builds before it forks the workers */
	if (policy_build(cfg, &pol, &err) < 0 || banks_build(cfg, pol, &banks, &err) < 0) {
		fprintf(stderr, "tollgate explain: %s\n", cfg_error(cfg, err));
		return 2;
	}
	if (explain_clamav(cfg, &clam, &err) < 0) {
		fprintf(stderr, "tollgate explain: clamav_database %s: %s\n", cfg_str(cfg, P_CLAMAV_DATABASE), err);
		return 2;
	}

	memset(&env, 0, sizeof(env));
	env.cfg = cfg;
	env.myhostname = cfg_str(cfg, P_MYHOSTNAME);	/* as the master: never empty */
	env.mydomain = cfg_str(cfg, P_MYDOMAIN);
	env.clamav = clam;
	env.policy = pol;
	env.banks = banks;
	env.tmp_dir = cfg_str(cfg, P_TMP_DIR);
	memset(&w, 0, sizeof(w));
	w.env = &env;
	memset(&ex, 0, sizeof(ex));
	w.explain = &ex;
	if (milter)
		process_milter(&w, msg, &mv);
	else
		process_message(&w, msg);

	if (args.json)
		explain_json(msg, &ex, args.file, milter ? &mv : NULL);
	else
		explain_text(msg, &ex, args.file, milter ? &mv : NULL);
	fflush(stdout);
	arena_free(&a);
	clamav_engine_free(&clam);
	banks_free(&banks);
	policy_free(&pol);
	cfg_free(&cfg);
	return 0;
}
