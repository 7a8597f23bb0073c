/*
 * courier: what every delivery method reports per recipient, so the queue
 * can log, retry and bounce the same way whether a message went to a
 * Maildir or to another server.
 */
#ifndef TERN_COURIER_H
#define TERN_COURIER_H

#include <stdbool.h>

#include "maildir.h"

struct courier_result {
	enum deliver_status status;
	char dsn[16];          /* RFC 3463 code: "2.0.0", "4.4.1", "5.1.1" */
	char relay[300];       /* "local", or host[ip]:port */
	char detail[600];      /* the remote server's reply, or our reason */
	int remote_code;       /* the remote's basic reply code; 0 if none */
	bool peer_dsn;         /* the next hop took our DSN request over */
	bool final_hop;        /* the next hop is the mailbox (LMTP): its 2xx
	                        * is a delivery (RFC 3464 "delivered"), not a
	                        * relay */
	char tls[128];         /* "TLSv1.3 CIPHER verified=no", "none", "" local */
};

#endif
