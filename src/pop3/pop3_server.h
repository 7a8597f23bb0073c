/*
 * pop3_server: the POP3 server session (RFC 1939; CAPA and response codes
 * RFC 2449, STLS RFC 2595, AUTH RFC 5034, UTF8 RFC 6856) on a conn. A
 * maildrop is the user's INBOX in the mailbox store (mailbox/store.h),
 * opened once at login on the I/O pool; UIDLs are Dovecot's default form,
 * so that clients keep them when a site moves between tern and Dovecot.
 */
#ifndef TERN_POP3_SERVER_H
#define TERN_POP3_SERVER_H

#include "../config/config.h"
#include "../mailbox/store.h"

struct authsvc;
struct conn_proto;
struct event_base;
struct iopool;

/* What sessions need from the daemon; owned by ternd, outlives sessions. */
struct pop3_server_env {
	struct event_base *base;
	const struct config *cfg;
	struct iopool *pool;
	struct authsvc *auth;
	char mailroot[MBOX_PATH_MAX];   /* data_dir/mail */
	struct mbox_conf store;
};

extern const struct conn_proto pop3_server_proto;

#endif
