/*
 * fuzz_sasl: AUTH responses. Base64 decoding is compared with a strict
 * reference (RFC 4648 §4: length a multiple of 4, the alphabet, "=" only
 * as the last one or two octets); what decodes encodes to a string that
 * decodes to the same octets. Then the PLAIN split, of the decoded octets
 * and of the raw input, against a reference reading of RFC 4616.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/sasl.h"

static int
val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* The reference: -1 or the decoded length in out. */
static long
ref_decode(const char *in, size_t len, unsigned char *out)
{
	size_t i, pad = 0, o = 0;

	if (len % 4 || len > 65536)
		return -1;
	if (len && in[len - 1] == '=')
		pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (val(in[i]) < 0)
			return -1;
	}
	for (i = 0; i < len; i += 4) {
		int a = val(in[i]), b = val(in[i + 1]);
		int c = in[i + 2] == '=' ? 0 : val(in[i + 2]);
		int d = in[i + 3] == '=' ? 0 : val(in[i + 3]);
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;

		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	return (long)(o - pad);
}

static void
check_plain(const char *m, size_t len)
{
	char user[32], pass[32];
	const char *n1 = NULL, *n2 = NULL;
	int rc = sasl_plain_split(m, len, user, sizeof(user), pass, sizeof(pass));
	int want = -1;
	size_t zl = 0, ul = 0, pl = 0;

	/* the reference: exactly two NULs, non-empty authcid and passwd,
	 * authzid empty or equal to the authcid, both fit */
	if ((n1 = memchr(m, '\0', len)) != NULL &&
	    (n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 - m) - 1)) != NULL &&
	    memchr(n2 + 1, '\0', len - (size_t)(n2 - m) - 1) == NULL) {
		zl = (size_t)(n1 - m);
		ul = (size_t)(n2 - n1 - 1);
		pl = len - (size_t)(n2 - m) - 1;
		if (ul > 0 && pl > 0 && (zl == 0 || (zl == ul && memcmp(m, n1 + 1, ul) == 0)) &&
		    ul < sizeof(user) && pl < sizeof(pass))
			want = 0;
	}
	CHECK(rc == want);
	if (rc == 0) {
		CHECK(strlen(user) == ul && memcmp(user, n1 + 1, ul) == 0);
		CHECK(strlen(pass) == pl && memcmp(pass, n2 + 1, pl) == 0);
	}
}

/* The server exchange fed the input as its lines (split at LF): whatever
 * it says, a DONE has a NUL-free user of 1..max octets and a password
 * within its bound, and a CHALLENGE names one of the two constants. */
static void
check_server(const char *in, size_t size)
{
	static const char *const mechs[] = { "PLAIN", "LOGIN" };
	size_t m;

	for (m = 0; m < 2; m++) {
		struct sasl_server ss;
		const char *p = in, *end = in + size;
		enum sasl_result r = sasl_server_start(&ss, mechs[m], 5, NULL, 0);
		int steps = 0;

		while (r == SASL_CHALLENGE && p <= end && steps++ < 4) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			CHECK(strcmp(ss.challenge, "") == 0 || strcmp(ss.challenge, "VXNlcm5hbWU6") == 0 ||
			    strcmp(ss.challenge, "UGFzc3dvcmQ6") == 0);
			r = sasl_server_step(&ss, p, n);
			p += n + 1;
		}
		if (r == SASL_DONE) {
			CHECK(strlen(ss.user) >= 1 && strlen(ss.user) <= SASL_USER_MAX);
			CHECK(strlen(ss.pass) <= SASL_PASS_MAX);
		}
		CHECK(r != SASL_UNKNOWN_MECH);
		sasl_server_clear(&ss);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf d = BUF_INIT, e = BUF_INIT, d2 = BUF_INIT;
	unsigned char *ref = malloc(size / 4 * 3 + 3);
	long rl;
	int rc;

	CHECK(ref != NULL);
	rl = ref_decode(in, size, ref);
	rc = sasl_base64_decode(in, size, &d);
	CHECK((rc == 0) == (rl >= 0));
	if (rc == 0) {
		CHECK(d.len == (size_t)rl);
		CHECK(d.len == 0 || memcmp(d.data, ref, d.len) == 0);
		/* the buffer is terminated, as buf promises */
		CHECK(d.data != NULL && d.data[d.len] == '\0');
		sasl_base64_encode(d.data, d.len, &e);
		CHECK(e.len == (d.len + 2) / 3 * 4 && e.len <= size);
		CHECK(sasl_base64_decode(e.data ? e.data : "", e.len, &d2) == 0);
		CHECK(d2.len == d.len && (d.len == 0 || memcmp(d.data, d2.data, d.len) == 0));
		check_plain(d.data, d.len);
	}
	check_plain(in, size);
	check_server(in, size);
	free(ref);
	buf_release(&d);
	buf_release(&e);
	buf_release(&d2);
	return 0;
}
