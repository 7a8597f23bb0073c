/*
 * tls: OpenSSL contexts for ternd. The server context carries the
 * certificate and key from the configuration (or, on first run without
 * them, a self-signed pair generated under data_dir/tls); the client
 * context is for opportunistic STARTTLS to other servers. TLS 1.2 and 1.3
 * only. Sessions never call SSL_* themselves beyond what is declared here.
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "../common/buf.h"

struct config;
struct tls;

/* Where the certificate and key are: tls_cert/tls_key, or the self-signed
 * pair under data_dir/tls. */
void tls_paths(const struct config *cfg, char *cert, char *key, size_t n);
/* First run without tls_cert: makes the self-signed pair if missing. */
int tls_ensure_cert(const struct config *cfg, struct buf *errs);

/* Contexts with the certificate chain and key read from descriptors (the
 * keeper opens the files; the network process may not). */
struct tls *tls_new(int cert_fd, int key_fd, struct buf *errs);
/* Reloads certificate and key (SIGHUP); on error the old ones stay. */
int tls_reload(struct tls *t, int cert_fd, int key_fd, struct buf *errs);
void tls_free(struct tls **tp);

/* A new SSL object for an accepted or an outgoing connection; NULL on
 * error. sni may be NULL. */
SSL *tls_server_ssl(struct tls *t);
SSL *tls_client_ssl(struct tls *t, const char *sni);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
void tls_describe(SSL *ssl, char *out, size_t outsize);
/* The peer's certificate verified against the system trust store (and the
 * name given to tls_client_ssl). */
bool tls_peer_verified(SSL *ssl);

/* Writes a self-signed certificate and key for hostname (RSA 2048, 10
 * years); used on first run and by ternctl. */
int tls_make_self_signed(const char *hostname, const char *cert_path,
    const char *key_path, struct buf *errs);

#endif
