/*
 * tls_bev: TLS on libevent bufferevents, for the connection layer and the
 * outbound SMTP client. The one place that wraps a socket or an existing
 * bufferevent in OpenSSL (implicit TLS, and the STARTTLS swap of RFC 3207
 * that both the server and the client side do), and that reads the state
 * of a TLS bufferevent. Callers never see an OpenSSL type.
 */
#ifndef TERN_TLS_BEV_H
#define TERN_TLS_BEV_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/util.h>

struct bufferevent;
struct event_base;
struct tls;

/* A server bufferevent on fd that is TLS from the first octet (RFC 8314);
 * closes fd with it. NULL on error (fd is then still the caller's). */
struct bufferevent *tls_bev_accept(struct tls *t, struct event_base *base,
    evutil_socket_t fd);

/*
 * STARTTLS, in two steps so that a refusal (454) can still be sent in the
 * clear when no SSL object can be made: tls_bev_prepare makes it, for a
 * server (accepting) or a client (connecting, sni for the certificate
 * check); NULL on error. tls_bev_starttls puts a TLS filter over under and
 * consumes *p whatever happens; the filter owns under and frees it with
 * itself. NULL on error: under is untouched and still the caller's.
 */
struct tls_pending;
struct tls_pending *tls_bev_prepare(struct tls *t, bool server, const char *sni);
struct bufferevent *tls_bev_starttls(struct tls_pending **p, struct bufferevent *under);

/* bev is a TLS bufferevent (socket or filter). */
bool tls_bev_is_tls(struct bufferevent *bev);
/* Its handshake is over. */
bool tls_bev_established(struct bufferevent *bev);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384"; with_verified appends " verified=yes|no"
 * (the peer's certificate against the system trust store). */
void tls_bev_describe(struct bufferevent *bev, bool with_verified, char *out,
    size_t outsize);
/* The first OpenSSL error of a failed handshake, or "handshake failed". */
void tls_bev_error(struct bufferevent *bev, char *out, size_t outsize);
/* Queues the close_notify alert (RFC 8446 §6.1). */
void tls_bev_close_notify(struct bufferevent *bev);

#endif
