/*
 * imap_mutf7: modified UTF-7 (RFC 3501 §5.1.3, RFC 2152 with ',' for '/'
 * and '&' as the shift character) to UTF-8 and back.
 */
#include "imap_mutf7.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static bool
put(char *out, size_t outcap, size_t *o, const char *s, size_t n)
{
	size_t i;

	if (outcap - *o < n)
		return false;
	for (i = 0; i < n; i++)
		out[(*o)++] = s[i];
	return true;
}

/* cp as UTF-8; cp is a scalar value here. */
static bool
put_utf8(char *out, size_t outcap, size_t *o, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(out, outcap, o, b, n);
}

/* One base64 run, in[*i] just past the '&' and not at '-'. */
static enum imap_mutf7_err
decode_run(const char *in, size_t inlen, size_t *i, char *out, size_t outcap,
    size_t *o)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	int v;

	for (; *i < inlen && in[*i] != '-'; (*i)++) {
		if ((v = b64_val((unsigned char)in[*i])) < 0)
			return IMAP_MUTF7_E_SYNTAX;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;

		bits &= (1u << nbits) - 1;
		if (high) {
			if (u < 0xdc00 || u > 0xdfff)
				return IMAP_MUTF7_E_SYNTAX;
			u = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
			continue;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return IMAP_MUTF7_E_SYNTAX;
		} else if (u >= 0x20 && u <= 0x7e) {
			/* printable ASCII must stand for itself */
			return IMAP_MUTF7_E_SYNTAX;
		}
		if (!put_utf8(out, outcap, o, u))
			return IMAP_MUTF7_E_SPACE;
	}
	/* Unclosed, a half pair, a whole base64 digit left over, or
	 * padding bits set. */
	if (*i == inlen || high || nbits >= 6 || bits != 0)
		return IMAP_MUTF7_E_SYNTAX;
	return IMAP_MUTF7_OK;
}

enum imap_mutf7_err
imap_mutf7_decode(const char *in, size_t inlen, char *out, size_t outcap,
    size_t *outlen)
{
	size_t i, o = 0;
	bool after_run = false;
	enum imap_mutf7_err e;

	*outlen = 0;
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c > 0x7e)
			return IMAP_MUTF7_E_SYNTAX;
		if (c != '&') {
			if (!put(out, outcap, &o, &in[i], 1))
				return IMAP_MUTF7_E_SPACE;
			after_run = false;
			continue;
		}
		if (++i < inlen && in[i] == '-') {
			if (!put(out, outcap, &o, "&", 1))
				return IMAP_MUTF7_E_SPACE;
			after_run = false;
			continue;
		}
		/* Two runs back to back must have been one. */
		if (after_run)
			return IMAP_MUTF7_E_SYNTAX;
		if ((e = decode_run(in, inlen, &i, out, outcap, &o)) != IMAP_MUTF7_OK)
			return e;
		after_run = true;
	}
	*outlen = o;
	return IMAP_MUTF7_OK;
}

/* The next scalar value of UTF-8 at in[*i], or -1. */
static int32_t
next_utf8(const char *in, size_t inlen, size_t *i)
{
	unsigned char c = (unsigned char)in[*i];
	uint32_t cp, min;
	size_t n, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1; cp = c & 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2; cp = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3; cp = c & 0x07; min = 0x10000;
	} else {
		return -1;
	}
	if (inlen - *i <= n)
		return -1;
	for (k = 1; k <= n; k++) {
		unsigned char d = (unsigned char)in[*i + k];

		if ((d & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (d & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return (int32_t)cp;
}

static bool
direct(int32_t cp)
{
	return cp >= 0x20 && cp <= 0x7e;
}

enum imap_mutf7_err
imap_mutf7_encode(const char *in, size_t inlen, char *out, size_t outcap,
    size_t *outlen)
{
	size_t i = 0, o = 0;
	int32_t cp;

	*outlen = 0;
	while (i < inlen) {
		if ((cp = next_utf8(in, inlen, &i)) < 0)
			return IMAP_MUTF7_E_SYNTAX;
		if (direct(cp)) {
			if (!put(out, outcap, &o, cp == '&' ? "&-" : &in[i - 1],
			    cp == '&' ? 2 : 1))
				return IMAP_MUTF7_E_SPACE;
			continue;
		}
		/* A run: every code point up to the next printable one. */
		uint32_t bits = 0;
		unsigned nbits = 0;

		if (!put(out, outcap, &o, "&", 1))
			return IMAP_MUTF7_E_SPACE;
		for (;;) {
			uint32_t units[2];
			size_t nu = 0, k;

			if (cp >= 0x10000) {
				units[nu++] = 0xd800 + (((uint32_t)cp - 0x10000) >> 10);
				units[nu++] = 0xdc00 + (((uint32_t)cp - 0x10000) & 0x3ff);
			} else {
				units[nu++] = (uint32_t)cp;
			}
			for (k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					if (!put(out, outcap, &o, &b64[(bits >> nbits) & 0x3f], 1))
						return IMAP_MUTF7_E_SPACE;
				}
				bits &= (1u << nbits) - 1;
			}
			if (i == inlen)
				break;
			size_t save = i;

			if ((cp = next_utf8(in, inlen, &i)) < 0)
				return IMAP_MUTF7_E_SYNTAX;
			if (direct(cp)) {
				i = save;
				break;
			}
		}
		if (nbits > 0 &&
		    !put(out, outcap, &o, &b64[(bits << (6 - nbits)) & 0x3f], 1))
			return IMAP_MUTF7_E_SPACE;
		if (!put(out, outcap, &o, "-", 1))
			return IMAP_MUTF7_E_SPACE;
	}
	*outlen = o;
	return IMAP_MUTF7_OK;
}
