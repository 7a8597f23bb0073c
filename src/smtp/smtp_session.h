/*
 * smtp_session: what the files of the SMTP server share, and nothing
 * outside them sees. smtp_server.c owns sessions (registry, I/O, the
 * command table, HELO/EHLO/RSET/..., STARTTLS); smtp_server_tx.c one mail
 * transaction (MAIL, RCPT, DATA, BDAT, the queue commit);
 * smtp_server_auth.c SMTP AUTH (the replies; auth/authsvc.c decides) and
 * the submission rules.
 */
#ifndef TERN_SMTP_SESSION_H
#define TERN_SMTP_SESSION_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../net/conn.h"
#include "../proto/line.h"
#include "../proto/rfc5322.h"
#include "../proto/sasl.h"
#include "../proto/smtp_addr.h"
#include "../proto/smtp_cmd.h"
#include "../proto/smtp_data.h"
#include "../proto/envelope.h"
#include "../proto/hdr_find.h"
#include "smtp_server.h"

struct conn;
struct event;
struct queue_tx;

/* Buffered message octets are written to the queue file in pieces of this. */
#define FLUSH_AT (64 * 1024)
/* The first octets of a message are held back in memory up to this. */
#define HOLD_MAX (64 * 1024)

enum smtp_state {
	S_CONNECTED,   /* greeting sent; no HELO/EHLO yet */
	S_READY,       /* HELO/EHLO done, no transaction */
	S_MAIL,        /* MAIL accepted */
	S_RCPT,        /* at least one RCPT accepted */
	S_DATA,        /* reading the DATA body */
	S_BDAT,        /* reading a BDAT chunk */
	S_AUTH,        /* AUTH: the next line is a SASL response */
};
/* (Waiting for the queue's commit or the auth service's verdict is no
 * state: the handler returned CONN_PENDING and the conn reads nothing
 * until conn_resume.) */

static const char *const state_names[] = {
	"CONNECTED", "READY", "MAIL", "RCPT", "DATA", "BDAT", "AUTH",
};

/* LMTP (RFC 2033): one accepted RCPT command and the envelope recipients
 * it became (an alias: several; a mailbox named twice: an earlier one's). */
struct lmtp_rcpt {
	char orig[SMTP_PATH_MAX + 8];
	size_t *idx;
	size_t nidx;
};

/* One mail transaction: MAIL .. end of data. RSET frees it. */
struct smtp_tx {
	struct smtp_mail_params mp;
	struct envelope env;         /* until the queue takes it at DATA/BDAT */
	size_t rcpts_given;          /* accepted RCPT commands */
	struct queue_tx *qtx;        /* the queue file once DATA/BDAT began */
	struct smtp_data data;
	struct buf chunk;            /* message octets not yet written */
	uint64_t size;               /* octets received so far */
	bool too_big;
	bool chunking;               /* BDAT used: DATA is no longer allowed */
	bool held_cr;                /* a CR scanned but not yet written */
	struct buf bdat_error;       /* set: the transaction failed; this reply */
	struct hdr_scan hs;          /* Received count for loop detection */
	bool submission;             /* authenticated: add Date/Message-ID */
	const char *hostname;
	char sender[SMTP_PATH_MAX + 8];  /* copies for the log after the */
	size_t nrcpt;                    /* envelope moved to the queue */
	struct lmtp_rcpt *lr;            /* LMTP: per accepted RCPT */
	size_t nlr;
	struct verify *verify;           /* inbound checks; NULL: none */
	/* Until HOLD_MAX octets have come, nothing is written: fields known
	 * only at the end (Authentication-Results) then go on top at no
	 * cost; a longer message is rewritten (queue_tx_rewrite). */
	struct buf trace;                /* our Received field */
	struct buf held;                 /* the message so far, while holding */
	bool holding;
	struct hdr_find arf;             /* Authentication-Results fields */
};

struct smtp_session {
	uint64_t id;
	struct smtp_server_env *env;
	const struct config *cfg;    /* the one the session started with (a reference) */
	struct conn *conn;           /* socket, peer address, TLS, timers */
	enum smtp_state state;
	bool auth_required;          /* submission: no MAIL without AUTH */
	bool lmtp;                   /* RFC 2033: LHLO, a reply per recipient */
	char helo[256];
	bool esmtp;
	bool bdat_last;
	enum smtp_state bdat_return; /* state after the chunk */
	struct buf bdat_reply;       /* set: discard the chunk, then send this */
	unsigned errors, ncmds, nmsgs;
	struct smtp_tx *tx;
	struct buf out;              /* reply being built */
	const char *cmdline;         /* current command, for reject logs */
	size_t cmdlen;
	unsigned junk, junk_nmsgs;   /* NOOP/RSET/VRFY/EXPN/HELP since message junk_nmsgs */
	bool after_auth;             /* the last line was an AUTH command */
	bool pipelining_logged;      /* improper pipelining seen (logged once) */
	const char *close_reason;    /* for the disconnect line, when not "quit" */

	/* DNS blocklists of the client address, asked when it connects and
	 * answered at its first RCPT (which waits, if need be, in rcpt_wait) */
	enum { BL_NONE, BL_PENDING, BL_CLEAN, BL_LISTED } bl;
	char bl_text[256];
	struct buf rcpt_wait;
	bool rcpt_waiting;

	/* SMTP AUTH (RFC 4954) */
	bool authed;
	char auth_user[SMTP_PATH_MAX + 1];
	struct sasl_server sasl;     /* the AUTH exchange while in S_AUTH */
	enum smtp_state auth_return; /* state to go back to */
};



/*
 * Every handler returns what the conn does next (net/conn.h): CONN_DONE to
 * read on, CONN_PENDING while the queue or the auth service works (its
 * callback replies, then conn_resume), CONN_CLOSE after a final reply.
 */

/* smtp_server.c */
struct smtp_session *smtp_session_find(uint64_t id);
void smtp_session_enter(struct smtp_session *s, enum smtp_state st);
/* The one way a session replies; refusals are logged with the command. */
void smtp_session_reply(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A reply to a client error: counted, and past max_errors a 421 follows
 * and the session ends (CONN_CLOSE). */
enum conn_step smtp_session_refuse(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_session_flush(struct smtp_session *s);
enum conn_step smtp_session_count_error(struct smtp_session *s);
const char *smtp_session_proto(const struct smtp_session *s, const struct smtp_tx *tx);
bool smtp_session_in_tx(const struct smtp_session *s);
void smtp_session_idle_timeout(struct smtp_session *s);
void smtp_tx_free(struct smtp_tx **txp);

/* smtp_server_envelope.c */
/* The session began: starts its blocklist lookups, if any are configured. */
void smtp_session_start_checks(struct smtp_session *s);
/* What the inbound checks need to know of the session. */
struct verify_env;
void smtp_session_verify_env(const struct smtp_session *s, struct verify_env *ve);
/* The client's address is in relay_networks. */
bool smtp_session_relay_allowed(const struct smtp_session *s);
enum conn_step smtp_tx_cmd_mail(struct smtp_session *s, const char *arg, size_t len);
enum conn_step smtp_tx_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len);

/* smtp_server_tx.c */
enum conn_step smtp_tx_cmd_data(struct smtp_session *s, const char *arg, size_t len);
enum conn_step smtp_tx_cmd_bdat(struct smtp_session *s, const char *arg, size_t len);
/* Raw octets in S_DATA / S_BDAT (conn.h's raw handler; for BDAT, n == 0
 * ends the chunk). */
enum conn_step smtp_tx_feed_data(struct smtp_session *s, const char *p, size_t n,
    size_t *used_r);
enum conn_step smtp_tx_feed_bdat(struct smtp_session *s, const char *p, size_t n,
    size_t *used_r);

/* smtp_server_auth.c */
enum conn_step smtp_auth_cmd(struct smtp_session *s, const char *arg, size_t len);
enum conn_step smtp_auth_response(struct smtp_session *s, const char *line, size_t len);
bool smtp_auth_allowed(const struct smtp_session *s);
bool smtp_auth_sender_owned(const struct smtp_session *s, const struct smtp_path *from);
bool smtp_auth_from_owned(const struct smtp_session *s, const struct hdr_scan *hs);
bool smtp_auth_rate_allow(struct smtp_session *s);

#endif
