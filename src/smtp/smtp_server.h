/*
 * smtp_server: the SMTP server session (RFC 5321) on the libevent loop.
 * One struct smtp_session per connection (a struct conn below it), driven
 * by a state enum and a command table. Listeners start sessions through
 * smtp_server_proto; async completions find them by the conn's id.
 */
#ifndef TERN_SMTP_SERVER_H
#define TERN_SMTP_SERVER_H

#include "../config/config.h"

struct event_base;
struct directory;
struct queue;
struct authsvc;
struct limtab;
struct iopool;
struct conn_proto;
struct dns;

/* What sessions need from the daemon; owned by ternd, outlives sessions. */
struct smtp_server_env {
	struct event_base *base;
	const struct config *cfg;
	const struct directory *dir;
	struct queue *queue;
	struct authsvc *auth;          /* login checks, failure limits */
	struct limtab *rates;          /* submission messages per user and
	                                * hour; NULL: no submission_rate_limit */
	struct iopool *pool;           /* disk questions (a mailbox's quota at
	                                * RCPT); NULL: none asked */
	char mailroot[1024];           /* data_dir/mail */
	struct dns *dns;               /* the inbound checks' lookups (verify/) */
};

/* The protocol table a listener_conf names; its env is a struct
 * smtp_server_env. */
extern const struct conn_proto smtp_server_proto;
/* LMTP (RFC 2033) on the same session code; the same env. */
extern const struct conn_proto lmtp_server_proto;

/* Closes every connection (shutdown) and frees what sessions share. */
void smtp_server_close_all(void);

#endif
