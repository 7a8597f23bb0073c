/*
 * listener: one listening socket and the protocol it serves, and the
 * connection limits all listeners share: max_connections in all, and
 * max_connections_per_ip per client (an IPv4 address, or an IPv6 /64,
 * since one client holds a whole /64). A connection over a limit gets the
 * protocol's refusal line and is closed; any other becomes a struct conn
 * handed to the protocol's greet.
 */
#ifndef TERN_NET_LISTENER_H
#define TERN_NET_LISTENER_H

#include <arpa/inet.h>
#include <stdbool.h>

#include <event2/listener.h>

struct config;
struct conn_proto;
struct event_base;
struct tls;

/* Room for the per-IP key: an address, or an IPv6 prefix "…/64". */
#define LISTENER_KEY_MAX (INET6_ADDRSTRLEN + 4)

enum listener_tls {
	LISTENER_TLS_NONE,
	LISTENER_TLS_STARTTLS,    /* offered after the greeting */
	LISTENER_TLS_IMPLICIT,    /* from the first octet (RFC 8314) */
};

struct listener_conf {
	const struct conn_proto *proto;
	void *env;                  /* the protocol's; outlives the listener */
	enum listener_tls tls_mode;
	bool auth_required;         /* submission: no mail without a login */
	const char *service;        /* for the logs: "smtp", "submission", ... */
	const char *host;
	int port;
	const char *path;           /* a unix socket instead of host:port */
	unsigned unix_mode;         /* its permissions; 0: 0666 (anyone may connect) */
};

struct listener;

/* Binds, not yet accepting. cfg is the daemon's and outlives the
 * listener. NULL on error (logged). */
struct listener *listener_new(struct event_base *base, const struct config *cfg,
    const struct listener_conf *lc);
/* Starts accepting. tls (loaded after binding, kept across reloads)
 * outlives the listener; NULL: no TLS at all. */
void listener_enable(struct listener *l, struct tls *tls);
/* A reload's configuration, for the connection limits (cfg outlives the
 * listener's use of it). */
void listener_set_config(struct listener *l, const struct config *cfg);
/* Whether l listens where lc says (same service, host and port, or path):
 * a reload keeps such a listener open. */
bool listener_same(const struct listener *l, const struct listener_conf *lc);
void listener_free(struct listener **lp);

/* The configuration a connection came in on. */
const struct listener_conf *listener_conf(const struct listener *l);

/* A TCP socket bound to host (numeric) and port, for a listener of any
 * kind (http_serve.c too): not yet accepting, accept errors logged. NULL
 * on error (logged). */
struct evconnlistener *listener_bind_tcp(struct event_base *base, const char *host,
    int port, evconnlistener_cb cb, void *arg);

/* A connection counted under key has ended (conn.c). */
void listener_release(const char *key);

#endif
