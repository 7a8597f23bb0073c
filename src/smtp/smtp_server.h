/*
 * smtp_server: the SMTP server session (RFC 5321) on the libevent loop.
 * One struct smtp_session per connection, driven by a state enum and a
 * command table. Sessions are found by 64-bit id from async completions.
 */
#ifndef TERN_SMTP_SERVER_H
#define TERN_SMTP_SERVER_H

#include <sys/socket.h>

#include <event2/util.h>

#include "../config/config.h"

struct event_base;
struct directory;
struct queue;
struct tls;
struct keeper_client;

/* What sessions need from the daemon; owned by ternd, outlives sessions. */
struct smtp_server_env {
	struct event_base *base;
	const struct config *cfg;
	const struct directory *dir;
	struct queue *queue;
	struct tls *tls;             /* NULL: no STARTTLS, no smtps */
	struct keeper_client *keeper;  /* password checks: the keeper process
	                                * alone holds the hashes */
};

/* Takes fd: checks the connection limits, then starts a session (or
 * answers 421 and closes). */
void smtp_server_accept(struct smtp_server_env *env, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, enum listener_kind kind);

/* Sessions open now. */
unsigned smtp_server_sessions(void);

/* Closes every session (shutdown). */
void smtp_server_close_all(void);

#endif
