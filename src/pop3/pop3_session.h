/*
 * pop3_session: what the POP3 server's two files share, private to
 * src/pop3/. pop3_server.c is the session (replies, logging in, the
 * commands, input); pop3_drop.c the maildrop's jobs on the I/O pool
 * (opening it, RETR/TOP in pieces, UPDATE) and the one-session-per-
 * maildrop rule.
 */
#ifndef TERN_POP3_SESSION_H
#define TERN_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../net/conn.h"
#include "../proto/sasl.h"
#include "pop3_server.h"

struct retr_job;

/* Lines: RFC 2449 allows 255 octets, but an AUTH PLAIN initial response
 * with a long password is longer; Dovecot takes such lines too. */
#define POP3_LINE_MAX 8192
/* RFC 1939 §3: the autologout timer is at least 10 minutes. */
#define POP3_IDLE_TIMEOUT 600
/* A RETR is read and sent in pieces of this. */
#define RETR_PIECE (128 * 1024)

enum pop3_state { P_AUTHORIZATION, P_TRANSACTION };

struct pop3_session {
	uint64_t id;
	struct pop3_server_env *env;
	const struct config *cfg;     /* the one the session started with (a reference) */
	struct conn *conn;
	enum pop3_state state;
	struct buf out;               /* replies not yet handed to the conn */
	unsigned errors, ncmds;
	bool utf8;

	/* AUTHORIZATION */
	char user[SASL_USER_MAX + 1]; /* USER's argument */
	bool user_given;
	bool in_sasl;                 /* the next line answers our "+ " */
	struct sasl_server sasl;

	/* TRANSACTION */
	char login[SASL_USER_MAX + 1];
	bool drop_locked;             /* holds login's drop_lock */
	struct mbox *mb;              /* NULL while a job holds it */
	uint64_t *wire;               /* per message: the size LIST announces */
	bool *deleted, *retrieved;
	size_t ndeleted;
	bool streaming;               /* a RETR/TOP job is on the pool */
	bool wait_drain;              /* its next piece waits for the client */
	struct retr_job *next_piece;
	const char *close_reason;
};

/* pop3_server.c */
struct pop3_session *pop3_session_find(uint64_t id);
/* Hands the replies built so far to the conn. */
void pop3_flush(struct pop3_session *s);
void pop3_reply(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A client error: -ERR, counted; too many end the session (CONN_CLOSE). */
enum conn_step pop3_refuse(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* pop3_drop.c */
/* The password was right: the maildrop, unless another session holds it
 * ([IN-USE]). CONN_PENDING while it is opened on the pool. */
enum conn_step pop3_drop_open(struct pop3_session *s, const char *user);
/* The session no longer holds login's maildrop. */
void pop3_drop_release(const char *login);
/* RETR (top false) or TOP n lines of message i, streamed from the pool. */
enum conn_step pop3_drop_retr(struct pop3_session *s, size_t i, bool top, uint32_t lines);
/* The conn's writable callback: the next RETR piece once the client has
 * taken the last. */
enum conn_step pop3_drop_writable(void *ctx);
/* The session is going: a RETR piece waiting for the client, and the
 * maildrop, are freed (a job on the pool frees its own when it ends). */
void pop3_drop_close(struct pop3_session *s);
/* QUIT in TRANSACTION: UPDATE on the pool, then +OK and close. */
enum conn_step pop3_drop_update(struct pop3_session *s);

#endif
