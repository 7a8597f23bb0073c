/*
 * smtp_client: one outbound SMTP connection (RFC 5321 client side), on the
 * libevent loop. It connects, reads the greeting, says EHLO (HELO when
 * EHLO is refused) and then carries messages, one transaction at a time;
 * after a clean transaction the connection can carry the next message.
 * STARTTLS is used whenever the peer offers it and smtp_tls is on
 * (opportunistic, RFC 3207); the certificate is checked and the outcome
 * logged, never enforced.
 *
 * With lmtp the same client speaks LMTP (RFC 2033) to a mailbox server,
 * over TCP or a unix socket: LHLO, no HELO fallback, no loop check on the
 * greeting (the server may well carry our host name), no STARTTLS on a
 * unix socket, no DSN parameters (tern keeps the duty to notify), and
 * after the data one reply per accepted recipient, each its own result.
 */
#ifndef TERN_SMTP_CLIENT_H
#define TERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "courier.h"

struct config;
struct event_base;
struct smtp_client;
struct tls;

/* One message for one connection. The caller owns every pointer and keeps
 * them alive until on_done. */
struct smtp_client_tx {
	const char *sender;          /* "" for <> */
	const char *envid;           /* "" if none */
	int ret;                     /* enum smtp_ret */
	int body;                    /* enum smtp_body */
	bool smtputf8;
	size_t nrcpt;
	const char *const *rcpt;
	const unsigned *notify;      /* SMTP_NOTIFY_* per recipient */
	const char *const *orcpt;    /* "" if none */
	struct courier_result *res;  /* nrcpt results, written by the client */
	int fd;                      /* the message octets: fd, off, len */
	uint64_t off, len;
	const char *prefix;          /* header fields sent first (DKIM); may be NULL */
	size_t prefix_len;
};

typedef void (*smtp_client_cb)(struct smtp_client *c, void *arg);

/* Starts connecting; on_ready runs once the peer greeted and answered
 * EHLO/HELO (LHLO), or the attempt failed (smtp_client_usable() says
 * which). sa may be AF_UNIX (LMTP only). */
struct smtp_client *smtp_client_connect(struct event_base *base,
    const struct config *cfg, struct tls *tls, const struct sockaddr *sa,
    socklen_t salen, const char *host, bool lmtp, smtp_client_cb on_ready,
    void *arg);

/* Runs one transaction; on_done runs when every recipient has a result.
 * The connection is usable again afterwards unless something broke. */
void smtp_client_send(struct smtp_client *c, struct smtp_client_tx *tx,
    smtp_client_cb on_done, void *arg);

bool smtp_client_usable(const struct smtp_client *c);
/* Why the connection is unusable, and whether that is permanent (a 5xx
 * greeting, a mail loop) rather than worth another host. */
const char *smtp_client_error(const struct smtp_client *c);
const char *smtp_client_error_dsn(const struct smtp_client *c);
bool smtp_client_error_is_perm(const struct smtp_client *c);
/* "host[ip]:port", for logs and Remote-MTA; LMTP: "lmtp:host[ip]:port"
 * or "lmtp:unix:PATH". */
const char *smtp_client_relay(const struct smtp_client *c);
const char *smtp_client_host(const struct smtp_client *c);

/* Says QUIT if the connection is usable, then frees it (asynchronously). */
void smtp_client_quit(struct smtp_client **cp);
/* Closes at once, without QUIT (shutdown). */
void smtp_client_close(struct smtp_client **cp);

#endif
