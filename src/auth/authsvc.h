/*
 * authsvc: login checks for every protocol (SMTP AUTH now, IMAP and POP3
 * next), on the event loop. One service, owned by ternd: it keeps the
 * failed-login counters in one bounded table (common/limtab.c) per client
 * network (IPv4 /32, IPv6 /64) and per account from that network only, so
 * nobody can lock an account for everyone; refuses a locked network or
 * account before any hash; asks the password backend (the keeper) for the
 * rest; delays a refusal by a time that grows with the network's failures;
 * and writes the protocol-independent log lines (event=auth,
 * event=auth-failed, event=auth-table-full). The protocol only turns the
 * verdict into its reply. Credentials are never logged.
 *
 * The answer comes by connection id, never by pointer: a session that went
 * away meanwhile is simply not found.
 */
#ifndef TERN_AUTHSVC_H
#define TERN_AUTHSVC_H

#include <stdint.h>

#include "../proto/sasl.h"

struct config;
struct event_base;
struct authsvc;

enum authsvc_verdict {
	AUTHSVC_OK,              /* logged in */
	AUTHSVC_FAILED,          /* bad credentials or a locked account */
	AUTHSVC_NETWORK_LOCKED,  /* the client's network is over its limit */
	AUTHSVC_TEMPFAIL,        /* no check possible now (keeper gone, memory) */
	AUTHSVC_PENDING,         /* authsvc_check only: the callback will say */
};

/* The client, as the protocol knows it. */
struct authsvc_peer {
	int family;                  /* AF_INET or AF_INET6 */
	const unsigned char *addr;   /* 16 octets (IPv4 in the first 4) */
	const char *ip;              /* text, for the log */
};

/* The password backend: check starts one check and returns 0, then calls
 * done(arg, ...) later on the loop, once; or returns -1 without calling it.
 * ternd plugs the keeper in (privsep/keeper_client.c): the service does
 * not include it, as the keeper itself uses src/auth/. */
enum authsvc_password { AUTHSVC_PASSWORD_GOOD, AUTHSVC_PASSWORD_BAD, AUTHSVC_PASSWORD_TEMP };
typedef void (*authsvc_password_cb)(void *arg, enum authsvc_password pw);
struct authsvc_backend {
	int (*check)(void *ctx, const char *user, const char *pass,
	    authsvc_password_cb done, void *arg);
	void *ctx;
};

/* The verdict for connection conn_id, on the loop; user (lowercased) is
 * valid during the call. */
typedef void (*authsvc_cb)(uint64_t conn_id, enum authsvc_verdict v, const char *user);

/* NULL on ENOMEM. cfg and the backend's ctx outlive the service. */
struct authsvc *authsvc_new(struct event_base *base, const struct config *cfg,
    const struct authsvc_backend *backend);
/* A reload's configuration (the failure limits; the table's size stays). */
void authsvc_set_config(struct authsvc *svc, const struct config *cfg);
/* Frees pending refusal delays (without calling back). Call it after the
 * backend has finished its checks (keeper_client_free fails them). */
void authsvc_free(struct authsvc **svcp);

/*
 * Checks user and pass for connection conn_id from peer. Returns
 * AUTHSVC_PENDING when cb will give the verdict, or the verdict now:
 * NETWORK_LOCKED (logged, no hash), TEMPFAIL, or FAILED (only when no
 * delay timer could be made). user is at most SASL_USER_MAX octets.
 */
enum authsvc_verdict authsvc_check(struct authsvc *svc, const struct authsvc_peer *peer,
    const char *user, const char *pass, authsvc_cb cb, uint64_t conn_id);

#endif
