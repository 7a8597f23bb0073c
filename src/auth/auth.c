/*
 * auth: verify and make password hashes (see auth.h).
 */
#include "auth.h"

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * A valid yescrypt hash at libxcrypt's default cost (the cost auth_hash
 * and so ternctl use), of a password nobody knows. Checking a password for
 * an unknown user, or one without a password, against it costs what a
 * real check costs, so the time of a refusal does not tell whether the
 * account exists.
 */
static const char dummy_hash[] =
    "$y$j9T$5s1QGbbN4aUrEtmVVzUF4/$67rY/u5yxZ9WZGQ95MI0u7yt3OFWNl5qkf.NKe8SqY6";

static bool crypt_matches(const char *hash, const char *password);

bool
auth_verify(const char *stored, const char *password)
{
	const char *hash = stored;
	size_t n;

	if (stored == NULL || stored[0] == '\0') {
		/* No such user, or no password: this user cannot log in. */
		(void)crypt_matches(dummy_hash, password);
		return false;
	}
	if (stored[0] == '{') {
		const char *close = strchr(stored, '}');

		if (close == NULL)
			return false;
		hash = close + 1;
		if (strncmp(stored, "{PLAIN}", 7) == 0) {
			n = strlen(hash);
			return strlen(password) == n && CRYPTO_memcmp(hash, password, n) == 0;
		}
	}
	if (hash[0] != '$')
		return false;   /* DES crypt and friends: refused as too weak */
	return crypt_matches(hash, password);
}

static bool
crypt_matches(const char *hash, const char *password)
{
	struct crypt_data cd;
	const char *res;
	bool ok;

	memset(&cd, 0, sizeof(cd));
	res = crypt_r(password, hash, &cd);
	/* libxcrypt returns a string starting with '*' on failure. */
	ok = res != NULL && res[0] != '*' && strlen(res) == strlen(hash) &&
	    CRYPTO_memcmp(res, hash, strlen(hash)) == 0;
	OPENSSL_cleanse(&cd, sizeof(cd));
	return ok;
}

int
auth_hash(const char *password, char *out, size_t outsize)
{
	struct crypt_data cd;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *res;
	int n;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return -1;
	memset(&cd, 0, sizeof(cd));
	if ((res = crypt_r(password, salt, &cd)) == NULL || res[0] == '*') {
		OPENSSL_cleanse(&cd, sizeof(cd));
		return -1;
	}
	n = snprintf(out, outsize, "{CRYPT}%s", res);
	OPENSSL_cleanse(&cd, sizeof(cd));
	return (n < 0 || (size_t)n >= outsize) ? -1 : 0;
}
