/*
 * ampdp.c - the AM.PDP server side of one session (listener "ampdp:"):
 * amavisd's policy delegation protocol as amavisd-milter and
 * amavisd-release speak it (amavisd-new In/AMPDP.pm, README.protocol).
 *
 * Requests (ampdp_proto.c parses them), one table row each:
 *   AM.PDP            the client (amavisd-milter) stored the message in
 *                     a file under its tempdir: it is read into a spool,
 *                     scanned and decided by process_milter(), and the
 *                     answer tells the client what to do with its copy:
 *                     continue (with recipient and header edits),
 *                     reject, discard or tempfail;
 *   release, requeue  a message from the quarantine (the file store or
 *                     Redis, policy/release.h's release_message, the
 *                     same path as "tollgate release") goes to its
 *                     recipients through the usual forward methods; one
 *                     setreply per recipient.
 * Several requests may follow each other on one connection.
 *
 * Security: the message file must lie under one of ampdp_tempdir_base
 * (after symlinks are resolved) and is opened without following a
 * final symlink, as the worker's user (daemon_user). A release needs
 * the secret_id stored with the message, except from root or from the
 * worker's own user over a unix socket (SO_PEERCRED): both can read the
 * index anyway.
 *
 * Limits: ampdp_proto.h (line, attributes, request size), max_recipients
 * per request, message_size_limit for the message file, smtpd_timeout
 * per read. Left out: delivery_care_of=server (answered with a
 * tempfail), request=report, quarantine types other than F (file) and
 * Q (amavisd's SQL; here the Redis store),
 * addrcpt (tollgate never rewrites recipient addresses).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cfg.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/message.h"
#include "lib/netio.h"
#include "lib/scoreboard.h"
#include "lib/spool.h"
#include "policy/decide.h"
#include "policy/policy.h"
#include "policy/release.h"
#include "routing/routing.h"
#include "workers/ampdp_proto.h"
#include "workers/workers.h"

#define AMPDP_READ	16384		/* bytes taken off the wire per read */
#define AMPDP_FILE_READ	65536		/* bytes of the message file per read */
#define AMPDP_ID_MAX	64		/* mail_id / secret_id length accepted */

struct ampdp {
	struct worker *w;
	const struct listener *l;
	struct conn *c;
	struct arena *a;		/* one request and its message; reset after each */
	struct buf out;			/* the response being built */
	int is_unix;
	int trusted;			/* unix peer is root or our own user */
	long peer_uid;			/* -1: unknown (TCP) */
	char local_addr[64], local_port[16];
	char client_addr[64], client_port[16];
};

/* ---- small helpers ---- */

/* ampdp_cfg - the configuration of this worker */
static const struct cfg *ampdp_cfg(const struct ampdp *s)
{
	return s->w->cfg ? s->w->cfg : s->w->env->cfg;
}

/* ampdp_val - a known attribute's first value; NULL when absent. A
 * value holding NUL, CR or LF sets *bad_r to its name. */
static const char *ampdp_val(const struct ampdp_request *r, const char *name, const char **bad_r)
{
	const struct ampdp_attr *at = ampdp_get(r, name, NULL);

	if (at == NULL)
		return NULL;
	if (at->unsafe && *bad_r == NULL)
		*bad_r = name;
	return at->value;
}

/* ampdp_unbracket - "<a@b>" → "a@b" (a copy in the arena); other text as it is */
static const char *ampdp_unbracket(struct arena *a, const char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		return arena_strndup(a, s + 1, n - 2);
	return arena_strdup(a, s);
}

/* ampdp_bracket - the address as amavisd echoes it: "<...>" */
static const char *ampdp_bracket(struct arena *a, const char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		return s;
	return arena_printf(a, "<%s>", s);
}

/* ampdp_setreply - setreply=<code> <enh> <text> from a reply line */
static void ampdp_setreply(struct buf *b, const char *reply)
{
	char code[4], enh[16];
	const char *text, *f[3];

	ampdp_split_reply(reply, code, enh, &text);
	f[0] = code;
	f[1] = enh;
	f[2] = text;
	ampdp_put(b, "setreply", f, 3);
}

/*
 * ampdp_failure - amavisd's answer to a request it could not serve:
 * "450 4.5.0 Failure: why", tempfail, exit code 75. AM.PDP requests
 * get version_server and log_id in front, as amavisd's.
 */
static void ampdp_failure(struct ampdp *s, const char *log_id, const char *why)
{
	char esc[220];

	log_info("AM.PDP: request failed: %s", log_printable(esc, sizeof(esc), why, strlen(why)));
	if (log_id) {
		ampdp_put1(&s->out, "version_server", "2");
		ampdp_put1(&s->out, "log_id", log_id);
	}
	ampdp_setreply(&s->out, arena_printf(s->a, "450 4.5.0 Failure: %s", why));
	ampdp_put1(&s->out, "return_value", "tempfail");
	ampdp_put1(&s->out, "exit_code", "75");
}

/* ampdp_path_under - the real path of path when it lies below one of
 * the allowed bases (ampdp_tempdir_base), else NULL with *why_r */
static const char *ampdp_path_under(struct ampdp *s, const char *path, const char **why_r)
{
	const struct cfg *cfg = ampdp_cfg(s);
	char real[PATH_MAX], base[PATH_MAX];
	char *const *bases;
	int i, n = 0;

	if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") ||
	    (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0)) {
		*why_r = "mail_file is not a plain absolute path";
		return NULL;
	}
	if (realpath(path, real) == NULL) {
		*why_r = arena_printf(s->a, "File %.200s inaccessible: %s", path, strerror(errno));
		return NULL;
	}
	bases = cfg_list(cfg, P_AMPDP_TEMPDIR_BASE, &n);
	for (i = 0; i < n; i++) {
		size_t bl;

		if (realpath(bases[i], base) == NULL)
			continue;
		bl = strlen(base);
		if (bl > 1 && strncmp(real, base, bl) == 0 && real[bl] == '/' && real[bl + 1] != 0)
			return arena_strdup(s->a, real);
	}
	*why_r = arena_printf(s->a, "Suspicious mail file name '%.200s' (not under ampdp_tempdir_base)", path);
	return NULL;
}

/* ampdp_spool_crlf - copy the file on fd into the spool with every bare
 * LF made CR LF (amavisd-milter writes LF lines; CR LF stays as it is);
 * -1 with *why_r on a read or spool error */
static int ampdp_spool_crlf(struct ampdp *s, int fd, struct spool *sp, const char **why_r)
{
	char *in = arena_alloc(s->a, AMPDP_FILE_READ);
	char *out = arena_alloc(s->a, 2 * AMPDP_FILE_READ);
	int prev_cr = 0;

	for (;;) {
		ssize_t r = read(fd, in, AMPDP_FILE_READ);
		size_t i, o = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why_r = arena_printf(s->a, "reading mail file: %s", strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		for (i = 0; i < (size_t)r; i++) {
			if (in[i] == '\n' && !prev_cr)
				out[o++] = '\r';
			out[o++] = in[i];
			prev_cr = in[i] == '\r';
		}
		if (spool_write(sp, out, o) < 0) {
			*why_r = arena_printf(s->a, "spool: %s", spool_error(sp));
			return -1;
		}
	}
	if (spool_finish(sp) < 0) {
		*why_r = arena_printf(s->a, "spool: %s", spool_error(sp));
		return -1;
	}
	return 0;
}

/* ampdp_open_regular - open path read-only, not through a final symlink,
 * and make sure it is a regular file; fd or -1 with *why_r */
static int ampdp_open_regular(struct ampdp *s, const char *path, struct stat *st, const char **why_r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		*why_r = errno == ENOENT ? arena_printf(s->a, "File %.200s does not exist", path) :
		    arena_printf(s->a, "Can't open file %.200s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		*why_r = arena_printf(s->a, "File %.200s is not a plain file", path);
		return -1;
	}
	return fd;
}

/* ---- request=AM.PDP ---- */

/* ampdp_count_fields - header fields called name in msg's header section */
static unsigned ampdp_count_fields(struct message *msg, const char *name)
{
	size_t len, nlen = strlen(name);
	const char *p = spool_data(msg->spool, &len), *end;
	unsigned n = 0;

	if (p == NULL)
		return 0;
	for (end = p + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t k = nlen;

		if (llen == 0 || (llen == 1 && p[0] == '\r'))
			break;
		if (llen > nlen && strncasecmp(p, name, nlen) == 0) {
			while (k < llen && (p[k] == ' ' || p[k] == '\t'))
				k++;
			if (k < llen && p[k] == ':')
				n++;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/*
 * ampdp_edits - the header edits of an accepted message in amavisd's
 * order: deletions and the Subject change first (delheader, chgheader),
 * then the added fields as insheader at index 0, the one to end up on
 * top listed last. A field deleted everywhere is deleted from its last
 * occurrence up, so the indexes stay valid whichever way the MTA counts.
 */
static void ampdp_edits(struct ampdp *s, struct message *msg, const struct milter_verdict *v)
{
	const char **ins = arena_allocarray(s->a, v->nedits + 1, 2 * sizeof(char *));
	size_t i, nins = 0;

	for (i = 0; i < v->nedits; i++) {
		const struct hdr_edit *e = &v->edits[i];
		const char *f[3];

		if (e->op == HDR_DELETE) {
			unsigned k = ampdp_count_fields(msg, e->name);

			for (; k > 0; k--) {
				f[0] = arena_printf(s->a, "%u", k);
				f[1] = e->name;
				ampdp_put(&s->out, "delheader", f, 2);
			}
		} else if (e->op == HDR_PREPEND_SUBJECT) {
			const char *subj = message_header(msg, "Subject");

			if (subj == NULL) {
				ins[2 * nins] = "Subject";
				ins[2 * nins + 1] = e->value;
				nins++;
				continue;
			}
			while (*subj == ' ' || *subj == '\t')
				subj++;
			f[0] = "1";
			f[1] = "Subject";
			f[2] = arena_printf(s->a, "%s%s", e->value, subj);
			ampdp_put(&s->out, "chgheader", f, 3);
		} else {
			ins[2 * nins] = e->name;
			ins[2 * nins + 1] = e->value;
			nins++;
		}
	}
	while (nins > 0) {
		const char *f[3];

		nins--;
		f[0] = "0";
		f[1] = ins[2 * nins];
		f[2] = ins[2 * nins + 1];
		ampdp_put(&s->out, "insheader", f, 3);
	}
}

/* ampdp_answer - the response to a processed message (In/AMPDP.pm's
 * check_ampdp_policy): setreply, then the action and its edits */
static void ampdp_answer(struct ampdp *s, struct message *msg, const char *const *orig_rcpt,
    const struct milter_verdict *v)
{
	size_t i, j;

	ampdp_put1(&s->out, "version_server", "2");
	ampdp_put1(&s->out, "log_id", msg->am_id);
	switch (v->action) {
	case MV_TEMPFAIL:
		ampdp_setreply(&s->out, v->reply && v->reply[0] == '4' ? v->reply :
		    arena_printf(s->a, "451 4.5.0 Error in processing, id=%s", msg->am_id));
		ampdp_put1(&s->out, "return_value", "tempfail");
		ampdp_put1(&s->out, "exit_code", "75");
		break;
	case MV_REJECT:
		ampdp_setreply(&s->out, v->reply && v->reply[0] == '5' ? v->reply :
		    arena_printf(s->a, "554 5.7.0 Reject, id=%s", msg->am_id));
		ampdp_put1(&s->out, "return_value", "reject");
		ampdp_put1(&s->out, "exit_code", "69");
		break;
	case MV_DISCARD: {
		const char *r = msg->smtp_reply;

		for (i = 0; (r == NULL || r[0] != '2') && i < msg->nrcpts; i++)
			r = msg->rcpts[i].reply;
		ampdp_setreply(&s->out, r && r[0] == '2' ? r :
		    arena_printf(s->a, "250 2.7.0 Ok, discarded, id=%s", msg->am_id));
		ampdp_put1(&s->out, "return_value", "discard");
		ampdp_put1(&s->out, "exit_code", "99");
		break;
	}
	case MV_ACCEPT:
	default:
		ampdp_setreply(&s->out, arena_printf(s->a, "250 2.5.0 Ok, id=%s, continue delivery", msg->am_id));
		for (i = 0; i < v->ndelrcpt; i++) {
			for (j = 0; j < msg->nrcpts && msg->rcpts[j].addr != v->delrcpt[i]; j++)
				;
			ampdp_put1(&s->out, "delrcpt", j < msg->nrcpts ? orig_rcpt[j] :
			    ampdp_bracket(s->a, v->delrcpt[i]));
		}
		ampdp_edits(s, msg, v);
		ampdp_put1(&s->out, "return_value", "continue");
		ampdp_put1(&s->out, "exit_code", "0");
		break;
	}
}

/* ampdp_banks - policy_bank=A, B ,C → "A,B,C" (blanks around names
 * dropped, empty names skipped), NULL when none */
static const char *ampdp_banks(struct arena *a, const char *v)
{
	struct buf b = BUF_INIT;
	const char *out = NULL;

	while (v && *v) {
		const char *comma = strchr(v, ',');
		const char *e = comma ? comma : v + strlen(v);

		while (v < e && isspace((unsigned char)*v))
			v++;
		while (e > v && isspace((unsigned char)e[-1]))
			e--;
		if (e > v) {
			if (b.len)
				buf_putc(&b, ',');
			buf_append(&b, v, (size_t)(e - v));
		}
		v = comma ? comma + 1 : v + strlen(v);
	}
	if (b.len)
		out = arena_strndup(a, b.data, b.len);
	buf_free(&b);
	return out;
}

/*
 * ampdp_check - request=AM.PDP: check the request (attributes, the
 * file's place), then build the message, process it and answer. The
 * client's files are removed afterwards only when it left that to us
 * (tempdir_removed_by=server, amavisd's default) and the message was
 * processed: never a path we refused.
 */
static void ampdp_check(struct ampdp *s, const struct ampdp_request *r)
{
	struct worker *w = s->w;
	const struct cfg *cfg = ampdp_cfg(s);
	struct message *msg = arena_alloc(s->a, sizeof(*msg));
	const char *bad = NULL, *why = NULL, *tempdir, *mail_file, *dco, *rmby, *sender, *path;
	const char **orig_rcpt;
	struct milter_verdict v;
	struct stat st;
	size_t i, nr = 0;
	int fd;

	msg->arena = s->a;
	message_new_ids(msg);
	(void)snprintf(msg->am_id, sizeof(msg->am_id), "%05d-%02lu", (int)getpid(), w->messages + 1);
	log_set_session(msg->am_id);
	clock_gettime(CLOCK_MONOTONIC, &msg->t_start);
	tempdir = ampdp_val(r, "tempdir", &bad);
	mail_file = ampdp_val(r, "mail_file", &bad);
	dco = ampdp_val(r, "delivery_care_of", &bad);
	rmby = ampdp_val(r, "tempdir_removed_by", &bad);
	sender = ampdp_val(r, "sender", &bad);
	msg->xf.ident = ampdp_val(r, "queue_id", &bad);
	msg->xf.proto = ampdp_val(r, "protocol_name", &bad);
	msg->xf.helo = ampdp_val(r, "helo_name", &bad);
	msg->xf.addr = ampdp_val(r, "client_address", &bad);
	msg->xf.port = ampdp_val(r, "client_port", &bad);
	msg->xf.name = ampdp_val(r, "client_name", &bad);
	msg->xf.source = ampdp_val(r, "client_source", &bad);
	msg->requested_banks = ampdp_banks(s->a, ampdp_val(r, "policy_bank", &bad));
	(void)ampdp_get(r, "recipient", &nr);
	for (i = 0; i < r->nattrs; i++)
		if (strcmp(r->attrs[i].name, "recipient") == 0 && r->attrs[i].unsafe)
			bad = "recipient";
	if (msg->xf.source && strcasecmp(msg->xf.source, "[UNAVAILABLE]") == 0)
		msg->xf.source = NULL;
	if (bad) {
		ampdp_failure(s, msg->am_id, arena_printf(s->a, "attribute %s holds NUL, CR or LF", bad));
		return;
	}
	if (dco && strcasecmp(dco, "client") != 0) {
		ampdp_failure(s, msg->am_id, arena_printf(s->a, "delivery_care_of=%.40s is not supported "
		    "by tollgate (use delivery_care_of=client)", dco));
		return;
	}
	if (nr == 0 || (tempdir == NULL && mail_file == NULL)) {
		/* amavisd's own words for it, without "Failure:" */
		log_info("AM.PDP: incomplete request (%s)", nr == 0 ? "no recipient" : "no tempdir");
		ampdp_put1(&s->out, "version_server", "2");
		ampdp_put1(&s->out, "log_id", msg->am_id);
		ampdp_setreply(&s->out, "450 4.5.0 Incomplete request");
		ampdp_put1(&s->out, "return_value", "tempfail");
		ampdp_put1(&s->out, "exit_code", "75");
		return;
	}
	if (tempdir && ampdp_path_under(s, tempdir, &why) == NULL) {
		ampdp_failure(s, msg->am_id, arena_printf(s->a, "tempdir: %s", why));
		return;
	}
	if (mail_file == NULL)
		mail_file = arena_printf(s->a, "%s/email.txt", tempdir);
	if ((path = ampdp_path_under(s, mail_file, &why)) == NULL ||
	    (fd = ampdp_open_regular(s, path, &st, &why)) < 0) {
		ampdp_failure(s, msg->am_id, why);
		return;
	}
	if (cfg_int(cfg, P_MESSAGE_SIZE_LIMIT) > 0 && st.st_size > cfg_int(cfg, P_MESSAGE_SIZE_LIMIT)) {
		close(fd);
		log_info("AM.PDP REJECT: message size %lld B exceeds size limit", (long long)st.st_size);
		ampdp_put1(&s->out, "version_server", "2");
		ampdp_put1(&s->out, "log_id", msg->am_id);
		ampdp_setreply(&s->out, arena_printf(s->a, "552 5.3.4 Message size (%lld B) exceeds size limit",
		    (long long)st.st_size));
		ampdp_put1(&s->out, "return_value", "reject");
		ampdp_put1(&s->out, "exit_code", "69");
		return;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

	/* the message, as the LMTP path builds it */
	msg->listener = s->l->spec;
	msg->local_addr = arena_strdup(s->a, s->local_addr);
	msg->local_port = arena_strdup(s->a, s->local_port);
	msg->client_addr = arena_strdup(s->a, s->client_addr);
	msg->client_port = arena_strdup(s->a, s->client_port);
	msg->sender = sender ? ampdp_unbracket(s->a, sender) : "";
	msg->size_declared = -1;
	orig_rcpt = arena_allocarray(s->a, nr, sizeof(*orig_rcpt));
	for (i = 0; i < r->nattrs; i++) {
		if (strcmp(r->attrs[i].name, "recipient") != 0)
			continue;
		orig_rcpt[msg->nrcpts] = ampdp_bracket(s->a, r->attrs[i].value);
		(void)message_add_rcpt(msg, ampdp_unbracket(s->a, r->attrs[i].value));
	}
	worker_set_state(w, SB_RECEIVING, msg->xf.ident ? msg->xf.ident : msg->am_id);
	msg->spool = spool_create(s->a, w->env->tmp_dir, (size_t)cfg_int(cfg, P_SPOOL_MEMORY_LIMIT));
	if (ampdp_spool_crlf(s, fd, msg->spool, &why) < 0) {
		close(fd);
		ampdp_failure(s, msg->am_id, why);
		return;
	}
	close(fd);

	process_milter(w, msg, &v);
	w->messages++;
	ampdp_answer(s, msg, orig_rcpt, &v);
	if (rmby == NULL || strcasecmp(rmby, "client") != 0) {
		if (unlink(path) < 0)
			log_debug(LOG_DBG_SMTPD, "AM.PDP: unlink %s: %m", path);
		if (tempdir && rmdir(tempdir) < 0)
			log_debug(LOG_DBG_SMTPD, "AM.PDP: rmdir %s: %m", tempdir);
	}
}

/* ---- request=release / requeue ---- */

/* ampdp_id_ok - an id as amavisd-release sends it: base64url and the
 * file name characters, bounded */
static int ampdp_id_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+.=");

	return n > 0 && n <= AMPDP_ID_MAX && s[n] == 0;
}

/*
 * ampdp_release - request=release (or requeue): check the request, then
 * release_message() (policy/release.h: find, secret, load, deliver) and
 * one setreply per recipient. A peer that is root or our own user over
 * a unix socket needs no secret.
 */
static void ampdp_release(struct ampdp *s, const struct ampdp_request *r, const char *req)
{
	struct worker *w = s->w;
	const char *bad = NULL, *quar_type, **rcpts;
	struct release_ctx ctx;
	struct release_req rq;
	struct release_result res;
	char esc[200];
	size_t i, nr = 0;

	memset(&rq, 0, sizeof(rq));
	rq.id = ampdp_val(r, "mail_id", &bad);
	rq.secret_id = ampdp_val(r, "secret_id", &bad);
	quar_type = ampdp_val(r, "quar_type", &bad);
	rq.mail_file = ampdp_val(r, "mail_file", &bad);
	rq.sender = ampdp_val(r, "sender", &bad);
	(void)ampdp_get(r, "recipient", &nr);
	rcpts = arena_allocarray(s->a, nr ? nr : 1, sizeof(*rcpts));
	for (i = 0, nr = 0; i < r->nattrs; i++)
		if (strcmp(r->attrs[i].name, "recipient") == 0) {
			if (r->attrs[i].unsafe)
				bad = "recipient";
			rcpts[nr++] = ampdp_unbracket(s->a, r->attrs[i].value);
		}
	if (bad) {
		ampdp_failure(s, NULL, arena_printf(s->a, "attribute %s holds NUL, CR or LF", bad));
		return;
	}
	if (rq.id == NULL) {
		ampdp_failure(s, NULL, "Missing 'mail_id' field");
		return;
	}
	if (!ampdp_id_ok(rq.id)) {
		ampdp_failure(s, NULL, arena_printf(s->a, "Invalid mail_id '%s'",
		    log_printable(esc, sizeof(esc), rq.id, strlen(rq.id) > 80 ? 80 : strlen(rq.id))));
		return;
	}
	/* F: amavisd's file quarantine; Q: its SQL one, whose place the Redis store takes */
	if (quar_type && *quar_type && strcmp(quar_type, "F") != 0 && strcmp(quar_type, "Q") != 0) {
		ampdp_failure(s, NULL, arena_printf(s->a, "quar_type %.10s is not supported by tollgate "
		    "(F, the file quarantine, or Q, the Redis one)", quar_type));
		return;
	}
	if (rq.sender)
		rq.sender = ampdp_unbracket(s->a, rq.sender);
	rq.rcpts = rcpts;
	rq.nrcpts = nr;
	rq.need_secret = !s->trusted;
	rq.listener = s->l->spec;
	rq.local_addr = arena_strdup(s->a, s->local_addr);
	rq.local_port = arena_strdup(s->a, s->local_port);
	rq.client_addr = arena_strdup(s->a, s->client_addr);
	rq.client_port = arena_strdup(s->a, s->client_port);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = ampdp_cfg(s);
	ctx.pol = w->env->policy;
	if (w->dcache == NULL)
		w->dcache = deliver_cache_create();
	ctx.dc = w->dcache;
	ctx.tmp_dir = w->env->tmp_dir;
	log_set_session(arena_printf(s->a, "rel-%.20s", rq.id));
	worker_set_state(w, SB_FORWARDING, rq.id);
	release_message(s->a, &ctx, &rq, &res);
	if (res.status != RELEASE_DONE) {
		ampdp_failure(s, NULL, res.why);
		return;
	}
	if (res.msg->nrcpts == 0) {
		ampdp_setreply(&s->out, "250 2.5.0 No recipients, nothing to do");
		return;
	}
	log_info("Quarantined message %s: %s-%s <%.200s> -> %zu recipient(s)%s%s", req, res.category,
	    res.mail_id, res.msg->sender, res.msg->nrcpts, res.from_redis ? " (from Redis)" : "",
	    s->trusted && (rq.secret_id == NULL || *rq.secret_id == 0) ? " (no secret: local root)" : "");
	w->messages++;
	for (i = 0; i < res.msg->nrcpts; i++) {
		const struct rcpt *rp = &res.msg->rcpts[i];

		log_info("%s: <%.200s>: %s", req, rp->addr, rp->reply ? rp->reply : "?");
		ampdp_setreply(&s->out, rp->reply ? rp->reply : "450 4.5.0 ERROR: no outcome");
	}
}

/* ---- the session ---- */

/* one row per request verb: check, then act */
static const struct {
	const char *name;
	int release;
} ampdp_requests[] = {
	{ "AM.PDP", 0 },
	{ "release", 1 },
	{ "requeue", 1 },
};

/* ampdp_request - answer one complete request into s->out */
static void ampdp_request(struct ampdp *s, const struct ampdp_request *r)
{
	const char *req = r->nattrs ? r->attrs[0].value : "";
	char esc[120];
	size_t i;

	if (r->error) {
		ampdp_failure(s, NULL, r->error);
		return;
	}
	if (r->ignored_lines)
		log_info("AM.PDP: INVALID AM.PDP ATTRIBUTE LINE(S): %zu ignored", r->ignored_lines);
	for (i = 0; i < sizeof(ampdp_requests) / sizeof(ampdp_requests[0]); i++) {
		if (strcasecmp(req, ampdp_requests[i].name) != 0)
			continue;
		if (ampdp_requests[i].release)
			ampdp_release(s, r, ampdp_requests[i].name);
		else
			ampdp_check(s, r);
		return;
	}
	ampdp_failure(s, NULL, arena_printf(s->a, "unknown 'request' value: %s",
	    log_printable(esc, sizeof(esc), req, strlen(req) > 60 ? 60 : strlen(req))));
}

/* ampdp_peer - who is on the other end: addresses, and for a unix
 * socket the peer's uid (root and our own user are trusted) */
static void ampdp_peer(struct ampdp *s, int fd)
{
	s->peer_uid = -1;
	net_peer(fd, s->client_addr, sizeof(s->client_addr), s->client_port, sizeof(s->client_port));
	net_local(fd, s->local_addr, sizeof(s->local_addr), s->local_port, sizeof(s->local_port));
	s->is_unix = strstr(s->l->spec, ":unix:") != NULL;
	if (s->is_unix) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && clen == sizeof(cred)) {
			s->peer_uid = (long)cred.uid;
			s->trusted = cred.uid == 0 || cred.uid == getuid();
		}
	}
}

void ampdp_session(struct worker *w, int fd, const struct listener *l)
{
	const struct cfg *cfg = w->cfg ? w->cfg : w->env->cfg;
	struct ampdp s;
	struct ampdp_limits lim;
	struct ampdp_parser *p;
	char *in = xmalloc(AMPDP_READ);

	memset(&s, 0, sizeof(s));
	s.w = w;
	s.l = l;
	s.c = conn_create(fd);
	s.a = arena_create(0);
	conn_set_timeout(s.c, (int)cfg_int(cfg, P_SMTPD_TIMEOUT) * 1000);
	ampdp_peer(&s, fd);
	memset(&lim, 0, sizeof(lim));
	lim.rcpts_max = (size_t)cfg_int(cfg, P_MAX_RECIPIENTS);
	p = ampdp_parser_create(&lim);
	log_debug(LOG_DBG_SMTPD, "AM.PDP: connection on %s from %s%s uid %ld", l->spec,
	    s.client_addr[0] ? s.client_addr : "unix", s.client_port[0] ? "" : "", s.peer_uid);

	while (!w->draining || ampdp_parser_pending(p) > 0) {
		ssize_t n = 0;
		size_t off = 0;

		/* between requests the wait is woken by the drain signal */
		if (ampdp_parser_pending(p) == 0) {
			n = conn_wait_input(s.c, cfg_int(cfg, P_SMTPD_TIMEOUT) * 1000, &w->draining);
			if (n == 0 && w->draining && !conn_input_ready(s.c))
				break;
		}
		if (n == 0)
			n = conn_read_some(s.c, in, AMPDP_READ);

		if (n < 0) {
			if (ampdp_parser_pending(p) > 0 || n != CONN_EOF)
				log_info("AM.PDP: %s with %zu bytes of a request unanswered",
				    n == CONN_TIMEOUT ? "timeout" : n == CONN_EOF ? "lost connection" :
				    conn_error(s.c), ampdp_parser_pending(p));
			break;
		}
		while (off < (size_t)n) {
			size_t used = 0;

			if (ampdp_parser_feed(p, in + off, (size_t)n - off, &used) == AMPDP_REQUEST) {
				ampdp_request(&s, ampdp_parser_request(p));
				ampdp_end(&s.out);
				conn_write(s.c, s.out.data, s.out.len);
				buf_reset(&s.out);
				log_set_session(NULL);
				worker_set_state(w, SB_SESSION, NULL);
				arena_reset(s.a);
				if (conn_flush(s.c) < 0)
					goto out;
			}
			off += used;
		}
	}
out:
	ampdp_parser_free(&p);
	buf_free(&s.out);
	arena_free(&s.a);
	free(in);
	conn_free(&s.c);
}
