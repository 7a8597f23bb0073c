/*
 * smtp_client_int: what smtp_client.c (the connection: handshake,
 * STARTTLS, reading replies, the libevent callbacks) and smtp_client_tx.c
 * (one transaction: the command list, the body) share; private to them.
 */
#ifndef TERN_SMTP_CLIENT_INT_H
#define TERN_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/smtp_reply_parse.h"
#include "smtp_client.h"

struct bufferevent;
struct event;

#define T_GREETING  300
#define T_COMMAND   300
#define T_DATA_INIT 120
#define T_BLOCK     180
#define T_DOT       600

#define BODY_PIECE (64 * 1024)

enum client_state {
	C_CONNECTING,
	C_GREETING,
	C_EHLO,       /* EHLO, or LHLO in LMTP */
	C_HELO,
	C_STARTTLS,   /* STARTTLS sent, waiting for 220 */
	C_TLS,        /* handshake running */
	C_READY,      /* between transactions: usable */
	C_TX,         /* commands of a transaction sent, replies pending */
	C_BODY,       /* writing the message */
	C_DOT,        /* waiting for the reply to the final "." */
	C_QUIT,
	C_BROKEN,     /* unusable; error says why */
};

struct smtp_client {
	struct event_base *base;
	const struct config *cfg;
	struct bufferevent *bev;
	enum client_state state;
	char host[256];
	char relay[320];
	struct tls *tls_ctx;          /* NULL: plain SMTP only */
	bool lmtp;                    /* RFC 2033: LHLO, a reply per recipient */
	bool local_socket;            /* AF_UNIX: never STARTTLS */
	bool tls;
	char tls_info[128];           /* "TLSv1.3 CIPHER verified=yes" or "none" */
	struct smtp_reply_parser rp;

	/* what the peer offers */
	bool esmtp, pipelining, dsn, eightbit, smtputf8;
	bool size;                    /* SIZE offered (RFC 1870) */
	uint64_t size_limit;          /* 0 = no limit announced */

	/* the current transaction */
	struct smtp_client_tx *tx;
	size_t next_send;             /* command index: 0 MAIL, 1..n RCPT, n+1 DATA */
	size_t next_reply;
	size_t accepted;
	size_t lmtp_next;             /* LMTP, after the data: the recipient
	                               * whose reply comes next (RFC 2033 §4.2) */
	bool mail_failed;
	uint64_t body_sent;
	bool at_bol;                  /* body: the next octet starts a line */
	char last2[2];                /* body: last two octets sent */

	char error[600];
	char error_dsn[16];
	bool error_perm;

	smtp_client_cb cb;
	void *cb_arg;
	/* Callbacks run from this event, never from inside our own libevent
	 * callbacks, so the owner may free the client in them. */
	struct event *done_ev;
};

void smtp_client_set_timeout(struct smtp_client *c, int secs);
/* Puts text made of reply lines on one line: for logs, DSN fields and
 * error lines, where a line break would start a new field or command. */
void smtp_client_one_line(char *s);
/* A result tern decides itself (no reply from the peer behind it). */
void smtp_client_result_set(struct smtp_client *c, struct courier_result *r,
    enum deliver_status st, const char *dsn, const char *detail);
/* Runs the owner's callback from the loop (never from inside our own
 * libevent callbacks, so the owner may free the client in it). */
void smtp_client_finish(struct smtp_client *c);
/* The connection is unusable: why (printf-style), the RFC 3463 code, and
 * whether it is permanent; the recipients of a running transaction that
 * have no final answer get the same. Calls smtp_client_finish. */
void smtp_client_broken(struct smtp_client *c, const char *dsn, bool perm,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Queues one command line; the CRLF is added. */
void smtp_client_send_line(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* smtp_client_tx.c: the replies of a transaction as they come (state
 * C_TX, then C_DOT), and the body as the socket drains (C_BODY). */
void smtp_client_tx_reply(struct smtp_client *c);
void smtp_client_dot_reply(struct smtp_client *c);
void smtp_client_body_pump(struct smtp_client *c);

#endif
