/*
 * tls_bev: OpenSSL under libevent's bufferevents (see tls_bev.h). The
 * contexts come from tls.c; this file only makes SSL objects for one
 * connection and hands them to bufferevent_openssl.
 */
#include "tls_bev.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "../common/str.h"
#include "tls.h"

struct bufferevent *
tls_bev_accept(struct tls *t, struct event_base *base, evutil_socket_t fd)
{
	SSL *ssl = t ? tls_server_ssl(t) : NULL;
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

/* An SSL object made before the go-ahead, not yet on a bufferevent. */
struct tls_pending {
	SSL *ssl;
	bool server;
};

struct tls_pending *
tls_bev_prepare(struct tls *t, bool server, const char *sni)
{
	struct tls_pending *p;
	SSL *ssl;

	if (t == NULL || (ssl = server ? tls_server_ssl(t) : tls_client_ssl(t, sni)) == NULL)
		return NULL;
	if ((p = malloc(sizeof(*p))) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	p->ssl = ssl;
	p->server = server;
	return p;
}

struct bufferevent *
tls_bev_starttls(struct tls_pending **pp, struct bufferevent *under)
{
	struct tls_pending *p = *pp;
	struct bufferevent *bev;

	*pp = NULL;
	if (p == NULL)
		return NULL;
	bev = bufferevent_openssl_filter_new(bufferevent_get_base(under), under, p->ssl,
	    p->server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(p->ssl);
	free(p);
	return bev;
}

bool
tls_bev_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

bool
tls_bev_established(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && SSL_is_init_finished(ssl);
}

void
tls_bev_describe(struct bufferevent *bev, bool with_verified, char *out,
    size_t outsize)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	char d[96];

	if (ssl == NULL) {
		str_copy(out, outsize, "");
		return;
	}
	tls_describe(ssl, d, sizeof(d));
	if (with_verified)
		snprintf(out, outsize, "%s verified=%s", d,
		    tls_peer_verified(ssl) ? "yes" : "no");
	else
		str_copy(out, outsize, d);
}

void
tls_bev_error(struct bufferevent *bev, char *out, size_t outsize)
{
	unsigned long e = bufferevent_get_openssl_error(bev);

	str_copy(out, outsize, "handshake failed");
	if (e)
		ERR_error_string_n(e, out, outsize);
}

void
tls_bev_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl)
		SSL_shutdown(ssl);
}
