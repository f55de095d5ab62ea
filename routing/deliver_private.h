/*
 * deliver_private.h - what the delivery client's two files share:
 * deliver_smtp.c (the transaction, the connection cache) and
 * deliver_tls.c (STARTTLS, client TLS contexts, certificate checks).
 * Not for callers: routing.h is the contract.
 */
#ifndef TG_DELIVER_PRIVATE_H
#define TG_DELIVER_PRIVATE_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#include "routing/routing.h"

#define DLV_REPLY_TEXT		1000	/* joined text kept of one reply */
#define DLV_PIPELINE_MAX	100	/* commands sent before their replies are read */
#define DLV_REASON_MAX		256

enum {
	CAP_PIPELINING = 1 << 0,
	CAP_SIZE = 1 << 1,
	CAP_8BITMIME = 1 << 2,
	CAP_SMTPUTF8 = 1 << 3,
	CAP_DSN = 1 << 4,
	CAP_XFORWARD = 1 << 5,
	CAP_ENHSC = 1 << 6,
	CAP_STARTTLS = 1 << 7,
};

/* one open connection and what its server offered */
struct dlv_conn {
	struct dlv_conn *next;
	char spec[300];
	char *key;			/* cache key: method and TLS policy */
	enum fwd_proto proto;
	struct conn *conn;
	unsigned caps;			/* CAP_* */
	unsigned xf_attrs;		/* bit XF_*: attribute offered */
	long long size_max;		/* SIZE limit announced, 0: none */
	time_t last_used;
	long long used_ms;		/* CLOCK_MONOTONIC ms of the last transaction */
	unsigned long transactions;	/* completed on this connection */
};

/* one client TLS context: verification settings are per context */
struct dlv_tls_ctx {
	struct dlv_tls_ctx *next;
	int verify;
	char *ca_file, *match;
	SSL_CTX *ctx;
};

struct deliver_cache {
	struct dlv_conn *head;
	size_t n;
	struct dlv_tls_ctx *tls_head;
	size_t tls_n;
};

/* one reply, possibly multi-line, joined as "250 2.0.0 text more-text" */
struct dlv_reply {
	int code;
	char line[DLV_REPLY_TEXT + 1];
};

enum dlv_pending_kind { PEND_XFORWARD, PEND_MAIL, PEND_RCPT, PEND_DATA };

struct dlv_pending {
	enum dlv_pending_kind kind;
	size_t i;			/* recipient (index into tx->idx) */
};

/* the state of one transaction attempt */
struct dlv_tx {
	const struct deliver_opts *o;
	const struct fwd_method *m;
	const struct tls_policy *tls;	/* never NULL */
	struct deliver_cache *cache;
	struct message *msg;
	const size_t *idx;
	size_t n;
	struct dlv_conn *dc;
	const char **rline;		/* per listed recipient: downstream reply */
	unsigned char *accepted;	/* RCPT got a 2xx */
	unsigned char *final;		/* got its end-of-data reply (LMTP: stands after failure) */
	size_t naccepted;
	int mail_done, mail_ok;
	const char *mail_line;
	int data_sent, data_code;
	const char *data_line;
	int abnormal;			/* transaction left open: RSET before reuse */
	int broken;			/* connection unusable afterwards */
	int dot_sent;			/* the final "." may have reached the server */
	int tls_failed;			/* TLS required and not available: tls failure reply */
	int tls_fallback;		/* "may": handshake failed, retry in plaintext */
	int quit_ok;			/* failed in a sane plaintext session: QUIT */
	int deadline_hit;		/* o->deadline cut the delivery short */
	struct dlv_pending pend[DLV_PIPELINE_MAX + 1];
	size_t npend;
	char reason[DLV_REASON_MAX];
};

/* in deliver_smtp.c */
int dlv_fail(struct dlv_tx *tx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* dlv_read_reply - one complete (multi-line) reply; 0, or -1 with tx->reason */
int dlv_read_reply(struct dlv_tx *tx, struct dlv_conn *dc, struct dlv_reply *r,
    struct dlv_conn *caps, const char *stage);
/* dlv_send - queue one command line (without CRLF) and log it */
void dlv_send(struct dlv_conn *dc, const char *cmd);
/* dlv_hello - EHLO (LHLO for LMTP) and the capabilities; 0, or -1 with tx->reason */
int dlv_hello(struct dlv_tx *tx, struct dlv_conn *dc);

/* in deliver_tls.c */
/* dlv_starttls - STARTTLS on a connection past EHLO, by tx->tls; 0 to go
 * on, -1 with tx->reason (and tx->tls_failed or tx->tls_fallback) */
int dlv_starttls(struct dlv_tx *tx, struct dlv_conn *dc);

#endif
