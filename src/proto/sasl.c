/*
 * sasl: decode AUTH responses (see the header). Base64 itself is
 * OpenSSL's EVP_DecodeBlock; we add the strictness it lacks (alphabet,
 * length, padding) so that garbage is refused rather than half-decoded.
 */
#include "sasl.h"

#include <string.h>

#include <openssl/evp.h>

#include "../common/str.h"

static int
b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
sasl_base64_decode(const char *in, size_t len, struct buf *out)
{
	size_t i, pad = 0;
	int n;

	if (len % 4 != 0 || len > 65536)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '=' && i >= len - 2) {
			pad++;
			continue;
		}
		if (pad || !b64char(in[i]))
			return -1;
	}
	if (pad == 2 && in[len - 2] != '=')
		return -1;
	if (buf_reserve(out, len / 4 * 3) == -1)
		return -1;
	if (len == 0) {
		/* buf_reserve may just have allocated: keep the NUL promise */
		out->data[out->len] = '\0';
		return 0;
	}
	n = EVP_DecodeBlock((unsigned char *)out->data + out->len,
	    (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	out->len += (size_t)n - pad;
	out->data[out->len] = '\0';
	return 0;
}

void
sasl_base64_encode(const char *in, size_t len, struct buf *out)
{
	if (buf_reserve(out, (len + 2) / 3 * 4) == -1)
		return;
	out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->data + out->len,
	    (const unsigned char *)in, (int)len);
	out->data[out->len] = '\0';
}

int
sasl_plain_split(const char *msg, size_t len, char *user, size_t usize,
    char *pass, size_t psize)
{
	const char *nul1 = memchr(msg, '\0', len), *nul2;
	size_t zlen, ulen, plen;

	if (nul1 == NULL)
		return -1;
	zlen = (size_t)(nul1 - msg);
	if ((nul2 = memchr(nul1 + 1, '\0', len - zlen - 1)) == NULL)
		return -1;
	ulen = (size_t)(nul2 - nul1 - 1);
	plen = len - zlen - ulen - 2;
	if (ulen == 0 || plen == 0 || memchr(nul2 + 1, '\0', plen) != NULL)
		return -1;
	if (zlen > 0 && (zlen != ulen || memcmp(msg, nul1 + 1, ulen) != 0))
		return -1;
	if (str_copyn(user, usize, nul1 + 1, ulen) == -1 ||
	    str_copyn(pass, psize, nul2 + 1, plen) == -1)
		return -1;
	return 0;
}
