/*
 * fuzz_dkim_canon: relaxed canonicalization (RFC 6376 §3.4.2, §3.4.4) of
 * arbitrary octets as a body and as a header field, and a signature over
 * them as a message. Checked: the canonical body is empty or ends in one
 * CRLF with no empty lines before it, has no WSP runs, no WSP before a
 * CRLF, and canonicalizing it again changes nothing; the canonical field
 * is "name:value" CRLF with a lower-case name and the same properties;
 * signing never fails and gives one folded DKIM-Signature field.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz_check.h"
#include "policy/dkim_sign.h"

static struct dkim_key key;

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_body(const char *in, size_t n)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t i;

	dkim_canon_body_relaxed(in, n, &a);
	if (a.len) {
		CHECK(a.len >= 3 && memcmp(a.data + a.len - 2, "\r\n", 2) == 0);
		/* no empty line at the end */
		CHECK(a.len < 4 || memcmp(a.data + a.len - 4, "\r\n\r\n", 4) != 0);
		CHECK(!(a.len == 2));
	}
	for (i = 0; i < a.len; i++) {
		CHECK(a.data[i] != '\t');
		if (a.data[i] == ' ') {
			CHECK(i + 1 < a.len && a.data[i + 1] != ' ');
			CHECK(!(a.data[i + 1] == '\r' && i + 2 < a.len && a.data[i + 2] == '\n'));
		}
	}
	dkim_canon_body_relaxed(a.data, a.len, &b);
	CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	buf_release(&a);
	buf_release(&b);
}

static void
check_header(const char *in, size_t n)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	const char *colon = memchr(in, ':', n), *c2;
	size_t i, nl;

	dkim_canon_header_relaxed(in, n, &a);
	if (colon == NULL) {
		CHECK(a.len == 0);
		return;
	}
	CHECK(a.len >= 3 && memcmp(a.data + a.len - 2, "\r\n", 2) == 0);
	c2 = memchr(a.data, ':', a.len);
	CHECK(c2 != NULL);
	nl = (size_t)(c2 - a.data);
	CHECK(nl <= (size_t)(colon - in));
	for (i = 0; i < nl; i++)
		CHECK(!(a.data[i] >= 'A' && a.data[i] <= 'Z'));
	CHECK(nl == 0 || !wsp(a.data[nl - 1]));
	/* the value: no CR, LF, tab, leading, trailing or doubled space */
	for (i = nl + 1; i < a.len - 2; i++) {
		CHECK(a.data[i] != '\r' && a.data[i] != '\n' && a.data[i] != '\t');
		if (a.data[i] == ' ')
			CHECK(i > nl + 1 && i + 1 < a.len - 2 && a.data[i + 1] != ' ');
	}
	/* idempotent: the canonical field, without its CRLF, again */
	dkim_canon_header_relaxed(a.data, a.len - 2, &b);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	buf_release(&a);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf sig = BUF_INIT;
	size_t i;

	if (key.pkey == NULL) {
		key.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		CHECK(key.pkey != NULL);
		strcpy(key.domain, "example.org");
		strcpy(key.selector, "fuzz");
	}
	check_body(in, size);
	check_header(in, size);

	CHECK(dkim_sign(&key, in, size, 1764057992, &sig) == 0);
	CHECK(sig.len > 16 && memcmp(sig.data, "DKIM-Signature: ", 16) == 0);
	CHECK(memcmp(sig.data + sig.len - 2, "\r\n", 2) == 0);
	/* one field: every other CRLF is folding */
	for (i = 0; i + 2 < sig.len; i++) {
		if (sig.data[i] == '\r')
			CHECK(sig.data[i + 1] == '\n' && wsp(sig.data[i + 2]));
		if (sig.data[i] == '\n')
			CHECK(i > 0 && sig.data[i - 1] == '\r');
	}
	buf_release(&sig);
	return 0;
}
