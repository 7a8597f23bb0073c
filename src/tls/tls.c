/*
 * tls: build and reload the OpenSSL contexts (see tls.h).
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../config/config.h"

struct tls {
	SSL_CTX *server;
	SSL_CTX *client;
};

static void
ssl_errors(struct buf *errs, const char *what)
{
	unsigned long e;
	char msg[256];

	buf_printf(errs, "%s", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, msg, sizeof(msg));
		buf_printf(errs, ": %s", msg);
	}
	buf_append_char(errs, '\n');
}

int
tls_make_self_signed(const char *hostname, const char *cert_path,
    const char *key_path, struct buf *errs)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	FILE *f = NULL;
	unsigned char serial[16];
	char san[300];
	int rc = -1, fd;

	if ((key = EVP_RSA_gen(2048)) == NULL || (x = X509_new()) == NULL) {
		ssl_errors(errs, "tls: key generation");
		goto out;
	}
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	{
		BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);

		BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
		BN_free(bn);
	}
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)) == NULL ||
	    !X509_add_ext(x, ext, -1) || !X509_sign(x, key, EVP_sha256())) {
		ssl_errors(errs, "tls: certificate");
		goto out;
	}
	/* The key is written 0600 from the start, never readable by others. */
	if ((fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		buf_printf(errs, "tls: write %s: %s\n", key_path, strerror(errno));
		f = NULL;
		goto out;
	}
	if ((f = fopen(cert_path, "w")) == NULL || !PEM_write_X509(f, x) || fclose(f) != 0) {
		buf_printf(errs, "tls: write %s: %s\n", cert_path, strerror(errno));
		f = NULL;
		goto out;
	}
	f = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

void
tls_paths(const struct config *cfg, char *cert, char *key, size_t n)
{
	if (cfg->tls_cert[0])
		snprintf(cert, n, "%s", cfg->tls_cert);
	else
		snprintf(cert, n, "%s/tls/cert.pem", cfg->data_dir);
	if (cfg->tls_key[0])
		snprintf(key, n, "%s", cfg->tls_key);
	else
		snprintf(key, n, "%s/tls/key.pem", cfg->data_dir);
}

int
tls_ensure_cert(const struct config *cfg, struct buf *errs)
{
	char cert[CONFIG_PATH_MAX], key[CONFIG_PATH_MAX], dir[CONFIG_PATH_MAX + 8];

	tls_paths(cfg, cert, key, sizeof(cert));
	if (cfg->tls_cert[0] || access(cert, F_OK) == 0)
		return 0;
	/* First run: make a pair so that TLS works at once. */
	snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir);
	if (fileio_mkdirs(dir) == -1) {
		buf_printf(errs, "tls: mkdir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (tls_make_self_signed(cfg->hostname, cert, key, errs) == -1)
		return -1;
	log_info("event=tls-self-signed cert=%s key=%s hostname=%s "
	    "note=\"generated; configure tls_cert and tls_key for a real certificate\"",
	    cert, key, cfg->hostname);
	return 0;
}

/* The certificate chain and key, read from descriptors the keeper opened. */
static SSL_CTX *
server_ctx(int cert_fd, int key_fd, struct buf *errs)
{
	BIO *cb = NULL, *kb = NULL;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_errors(errs, "tls: SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ternd", 5);
	if ((cb = BIO_new_fd(cert_fd, BIO_NOCLOSE)) == NULL ||
	    (kb = BIO_new_fd(key_fd, BIO_NOCLOSE)) == NULL ||
	    (x = PEM_read_bio_X509_AUX(cb, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto fail;
	/* The rest of the file is the chain, in order. */
	for (;;) {
		X509 *ca = PEM_read_bio_X509(cb, NULL, NULL, NULL);

		if (ca == NULL)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto fail;
		}
	}
	ERR_clear_error();   /* the end of the chain reads as an error */
	if ((pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	return ctx;
fail:
	buf_printf(errs, "tls: certificate or key");
	ssl_errors(errs, "");
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls *
tls_new(int cert_fd, int key_fd, struct buf *errs)
{
	struct tls *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	if ((t->server = server_ctx(cert_fd, key_fd, errs)) == NULL ||
	    (t->client = SSL_CTX_new(TLS_client_method())) == NULL) {
		if (t->server && !t->client)
			ssl_errors(errs, "tls: client context");
		tls_free(&t);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->client, TLS1_2_VERSION);
	/* Opportunistic: never refuse a peer for its certificate; the
	 * outcome is logged (verified=yes|no). */
	SSL_CTX_set_verify(t->client, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_default_verify_paths(t->client);
	return t;
}

int
tls_reload(struct tls *t, int cert_fd, int key_fd, struct buf *errs)
{
	SSL_CTX *ctx = server_ctx(cert_fd, key_fd, errs);

	if (ctx == NULL)
		return -1;
	/* Connections in progress hold their own reference to the old one. */
	SSL_CTX_free(t->server);
	t->server = ctx;
	return 0;
}

void
tls_free(struct tls **tp)
{
	struct tls *t = *tp;

	if (t == NULL)
		return;
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t);
	*tp = NULL;
}

SSL *
tls_server_ssl(struct tls *t)
{
	return SSL_new(t->server);
}

SSL *
tls_client_ssl(struct tls *t, const char *sni)
{
	SSL *ssl = SSL_new(t->client);

	if (ssl && sni && sni[0]) {
		SSL_set_tlsext_host_name(ssl, sni);
		SSL_set1_host(ssl, sni);
	}
	return ssl;
}

void
tls_describe(SSL *ssl, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

bool
tls_peer_verified(SSL *ssl)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	bool ok = cert != NULL && SSL_get_verify_result(ssl) == X509_V_OK;

	X509_free(cert);
	return ok;
}
