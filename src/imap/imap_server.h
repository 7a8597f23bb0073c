/*
 * imap_server: the IMAP4rev2 (RFC 9051) / IMAP4rev1 (RFC 3501) server
 * session on a conn, over the mailbox store (mailbox/store.h): the same
 * Maildirs, UIDs and flags as POP3, LMTP delivery and Dovecot.
 * docs/imap.md has what it serves and how.
 */
#ifndef TERN_IMAP_SERVER_H
#define TERN_IMAP_SERVER_H

#include "../config/config.h"
#include "../mailbox/store.h"

struct authsvc;
struct directory;
struct conn_proto;
struct event_base;
struct iopool;

/* What sessions need from the daemon; owned by ternd, outlives sessions. */
struct imap_server_env {
	struct event_base *base;
	const struct config *cfg;
	struct iopool *pool;
	struct authsvc *auth;
	const struct directory *dir;    /* users and quotas; swapped on reload */
	char mailroot[MBOX_PATH_MAX];   /* data_dir/mail */
	struct mbox_conf store;
};

extern const struct conn_proto imap_server_proto;

#endif
