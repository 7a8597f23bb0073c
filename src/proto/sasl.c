/*
 * sasl: decode AUTH responses (see the header). Base64 itself is
 * OpenSSL's EVP_DecodeBlock; we add the strictness it lacks (alphabet,
 * length, padding) so that garbage is refused rather than half-decoded.
 */
#include "sasl.h"

#include <stdbool.h>
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

static bool
mech_is(const char *m, size_t n, const char *name)
{
	size_t i;

	if (n != strlen(name))
		return false;
	for (i = 0; i < n; i++) {
		char c = m[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != name[i])
			return false;
	}
	return true;
}

/* Decodes one response into a NUL-free string of at most max octets. */
static int
decode_string(const char *in, size_t len, char *out, size_t max, bool nonempty)
{
	struct buf dec = BUF_INIT;
	int rc = -1;

	if (sasl_base64_decode(in, len, &dec) == 0 && dec.len <= max &&
	    (!nonempty || dec.len > 0) &&
	    (dec.len == 0 || memchr(dec.data, '\0', dec.len) == NULL)) {
		if (dec.len)
			memcpy(out, dec.data, dec.len);
		out[dec.len] = '\0';
		rc = 0;
	}
	if (dec.data)
		explicit_bzero(dec.data, dec.cap);
	buf_release(&dec);
	return rc;
}

/* One client response; "" stands for an empty one (from "=" or a line). */
static enum sasl_result
respond(struct sasl_server *ss, const char *in, size_t len)
{
	struct buf dec = BUF_INIT;
	int rc;

	switch (ss->mech) {
	case SASL_MECH_PLAIN:
		if (sasl_base64_decode(in, len, &dec) == -1) {
			buf_release(&dec);
			return SASL_BAD;
		}
		rc = sasl_plain_split(dec.data ? dec.data : "", dec.len, ss->user,
		    sizeof(ss->user), ss->pass, sizeof(ss->pass));
		if (dec.data)
			explicit_bzero(dec.data, dec.cap);
		buf_release(&dec);
		return rc == 0 ? SASL_DONE : SASL_MALFORMED;
	case SASL_MECH_LOGIN:
		if (ss->step == 0) {
			if (decode_string(in, len, ss->user, SASL_USER_MAX, true) == -1)
				return SASL_BAD;
			ss->step = 1;
			ss->challenge = "UGFzc3dvcmQ6";   /* "Password:" */
			return SASL_CHALLENGE;
		}
		return decode_string(in, len, ss->pass, SASL_PASS_MAX, false) == 0 ?
		    SASL_DONE : SASL_BAD;
	}
	return SASL_BAD;
}

enum sasl_result
sasl_server_start(struct sasl_server *ss, const char *mech, size_t mech_len,
    const char *initial, size_t initial_len)
{
	memset(ss, 0, sizeof(*ss));
	if (mech_is(mech, mech_len, "PLAIN")) {
		ss->mech = SASL_MECH_PLAIN;
		ss->challenge = "";
	} else if (mech_is(mech, mech_len, "LOGIN")) {
		ss->mech = SASL_MECH_LOGIN;
		ss->challenge = "VXNlcm5hbWU6";   /* "Username:" */
	} else
		return SASL_UNKNOWN_MECH;
	if (initial == NULL)
		return SASL_CHALLENGE;
	if (initial_len == 1 && initial[0] == '=')
		return respond(ss, "", 0);
	return respond(ss, initial, initial_len);
}

enum sasl_result
sasl_server_step(struct sasl_server *ss, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*')
		return SASL_CANCELLED;
	return respond(ss, line, len);
}

void
sasl_server_clear(struct sasl_server *ss)
{
	explicit_bzero(ss, sizeof(*ss));
}
