/*
 * deliver_tls.c - TLS for the delivery client (deliver_smtp.c): the
 * policy levels by name, STARTTLS and what a required level does when
 * TLS is not available, the client contexts (one per CA file and
 * match name, cached in the deliver_cache), the handshake with SNI and
 * the certificate check (chain, names or IP address). The policy
 * itself is chosen by route.c; what the levels mean is in routing.h.
 *
 * Left out: DANE and fingerprint levels, session resumption, client
 * certificates.
 * Limits: client TLS contexts DLV_TLS_CTX_MAX per worker.
 */
#include "config.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/netio.h"
#include "routing/deliver_private.h"

#define DLV_TLS_CTX_MAX		16	/* client TLS contexts (CA file, names) per worker */

/* tls_level_parse - a level name into its enum */
int tls_level_parse(const char *s, enum tls_level *r)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify", "secure" };
	size_t i;

	for (i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*r = (enum tls_level)i;
			return 0;
		}
	}
	return -1;
}

/* tls_level_name - the name of a level */
const char *tls_level_name(enum tls_level l)
{
	switch (l) {
	case TLS_NONE: return "none";
	case TLS_MAY: return "may";
	case TLS_ENCRYPT: return "encrypt";
	case TLS_VERIFY: return "verify";
	case TLS_SECURE: return "secure";
	}
	return "?";
}

/* the first certificate problem of the handshake in progress (workers
 * are single-threaded; cleared before each handshake) */
static char dlv_verify_err[200];

/* dlv_verify_cb - remember why verification failed, for the reply */
static int dlv_verify_cb(int ok, X509_STORE_CTX *x)
{
	if (!ok && dlv_verify_err[0] == 0) {
		int e = X509_STORE_CTX_get_error(x);

		snprintf(dlv_verify_err, sizeof(dlv_verify_err), "certificate verification failed: %s (depth %d)",
		    X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(x));
	}
	return ok;
}

/* dlv_is_ip - 1 when s is an IPv4 or IPv6 address literal */
static int dlv_is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/*
 * dlv_tls_ctx_new - a client context. Without verification any
 * certificate is accepted (encrypt/may, as Postfix). With it the chain
 * must lead to ca_file (or the default store) and, when match is set,
 * the certificate must name one of match's ':'-separated names (or the
 * IP address, when match is one literal). NULL with *error_r.
 */
static SSL_CTX *dlv_tls_ctx_new(int verify, const char *ca_file, const char *match, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *vp;

	if (ctx == NULL) {
		*error_r = "cannot create a TLS context";
		return NULL;
	}
	if (!verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (ca_file != NULL && *ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			*error_r = "cannot load the TLS CA file";
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		*error_r = "cannot load the default TLS trust store";
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, dlv_verify_cb);
	if (match != NULL && *match) {
		vp = SSL_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (dlv_is_ip(match)) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, match) != 1) {
				*error_r = "bad TLS match address";
				goto fail;
			}
		} else {
			const char *p = match;

			while (*p) {
				size_t len = strcspn(p, ":");

				if (len > 0 && X509_VERIFY_PARAM_add1_host(vp, p, len) != 1) {
					*error_r = "bad TLS match name";
					goto fail;
				}
				p += len;
				if (*p == ':')
					p++;
			}
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* dlv_tls_ctx - the cached context for these settings, made on first
 * use; the oldest goes when there are DLV_TLS_CTX_MAX (connections
 * that use it keep their reference) */
static SSL_CTX *dlv_tls_ctx(struct deliver_cache *cache, int verify, const char *ca_file, const char *match,
    const char **error_r)
{
	struct dlv_tls_ctx *t, **pp;
	SSL_CTX *ctx;

	if (ca_file == NULL)
		ca_file = "";
	if (match == NULL || !verify)
		match = "";
	for (t = cache->tls_head; t != NULL; t = t->next)
		if (t->verify == verify && strcmp(t->ca_file, ca_file) == 0 && strcmp(t->match, match) == 0)
			return t->ctx;
	if ((ctx = dlv_tls_ctx_new(verify, ca_file, match, error_r)) == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->verify = verify;
	t->ca_file = xstrdup(ca_file);
	t->match = xstrdup(match);
	t->ctx = ctx;
	t->next = cache->tls_head;
	cache->tls_head = t;
	if (++cache->tls_n > DLV_TLS_CTX_MAX) {
		for (pp = &cache->tls_head; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		t = *pp;
		*pp = NULL;
		cache->tls_n--;
		SSL_CTX_free(t->ctx);
		free(t->ca_file);
		free(t->match);
		free(t);
	}
	return ctx;
}

/* dlv_tls_unavailable - the server does not do TLS (what and why make
 * the reason): a failure when the policy requires TLS (tx->tls_failed,
 * -1), else 0 to go on in plaintext */
static int dlv_tls_unavailable(struct dlv_tx *tx, const char *what, const char *why)
{
	if (tx->tls->level < TLS_ENCRYPT)
		return 0;
	tx->tls_failed = 1;
	tx->quit_ok = 1;
	return dlv_fail(tx, "%s%s", what, why);
}

/*
 * dlv_starttls - STARTTLS on a connection past EHLO, by tx->tls.
 *
 * Returns 0 when the session may go on (under TLS, or in plaintext at
 * level may), -1 with tx->reason otherwise; tx->tls_failed says that
 * required TLS was not available, tx->tls_fallback that a "may"
 * handshake failed (the session is unusable; the caller reconnects
 * without TLS). Under TLS the client speaks EHLO again and forgets what
 * it learnt before (RFC 3207).
 */
int dlv_starttls(struct dlv_tx *tx, struct dlv_conn *dc)
{
	const struct tls_policy *tls = tx->tls;
	int verify = tls->level >= TLS_VERIFY;
	const char *match = tls->match_name, *sni, *err = "TLS setup failed";
	struct dlv_reply r;
	SSL_CTX *ctx;

	if (tls->level == TLS_SECURE && (match == NULL || *match == 0)) {
		if (tx->m->ep.is_unix) {
			tx->tls_failed = 1;
			return dlv_fail(tx, "%s", "level secure needs a name to match for a unix socket");
		}
		match = tx->m->ep.host;
	}
	if (!(dc->caps & CAP_STARTTLS))
		return dlv_tls_unavailable(tx, "STARTTLS not offered by ", dc->spec);
	dlv_send(dc, "STARTTLS");
	if (dlv_read_reply(tx, dc, &r, NULL, "STARTTLS") < 0)
		return -1;
	if (r.code != 220) {
		if (r.code == 421)
			return dlv_fail(tx, "STARTTLS: %s", r.line);
		return dlv_tls_unavailable(tx, "STARTTLS refused: ", r.line);
	}
	if ((ctx = dlv_tls_ctx(tx->cache, verify, tls->ca_file, match, &err)) == NULL)
		return dlv_fail(tx, "%s", err);
	/* SNI: the first name we match on, else the method's host name */
	sni = NULL;
	if (match != NULL && *match && !dlv_is_ip(match))
		sni = arena_strndup(tx->msg->arena, match, strcspn(match, ":"));
	else if (!tx->m->ep.is_unix && !dlv_is_ip(tx->m->ep.host))
		sni = tx->m->ep.host;
	dlv_verify_err[0] = 0;
	if (conn_starttls(dc->conn, ctx, 0, sni) < 0) {
		const char *why = dlv_verify_err[0] ? dlv_verify_err : conn_error(dc->conn);

		if (tls->level < TLS_ENCRYPT) {
			tx->tls_fallback = 1;
			return dlv_fail(tx, "%s", why);
		}
		tx->tls_failed = 1;
		return dlv_fail(tx, "%s", why);
	}
	log_debug(LOG_DBG_DELIVER, "%s: TLS established (%s, level %s)", dc->spec, conn_tls_cipher(dc->conn),
	    tls_level_name(tls->level));
	return dlv_hello(tx, dc);
}
