/*
 * dkim_key: reading a DKIM private key from its PEM file (the keeper does,
 * at startup). The signing itself is pure, in dkim_sign.c.
 */
#include "dkim_sign.h"

#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include "../common/str.h"

int
dkim_key_load(struct dkim_key *k, const char *domain, const char *selector,
    const char *path, struct buf *errs)
{
	FILE *f = fopen(path, "r");

	memset(k, 0, sizeof(*k));
	if (f == NULL) {
		buf_printf(errs, "dkim: %s: cannot open\n", path);
		return -1;
	}
	k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k->pkey == NULL || (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA &&
	    EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_ED25519)) {
		buf_printf(errs, "dkim: %s: not an RSA or Ed25519 private key\n", path);
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		return -1;
	}
	if (str_copy(k->domain, sizeof(k->domain), domain) == -1 ||
	    str_copy(k->selector, sizeof(k->selector), selector) == -1) {
		buf_printf(errs, "dkim: domain or selector too long\n");
		dkim_key_release(k);
		return -1;
	}
	str_lower(k->domain);
	return 0;
}
