/*
 * fuzz_mime_decode: base64 and quoted-printable fed whole, in two pieces
 * cut where byte 0 says and one octet at a time must give the same
 * octets; the decoded size stays within the input's bound; RFC 2047
 * decoding of the same bytes runs to its end (ASan/UBSan watch it), and
 * text without "=?" comes out unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/mime_decode.h"

static void
same(const struct buf *a, const struct buf *b)
{
	CHECK(a->len == b->len);
	CHECK(a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, two = BUF_INIT, bytes = BUF_INIT;
	struct b64_dec b;
	struct qp_dec q;
	const char *in;
	size_t n, cut, i;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	n = size - 1;
	cut = n ? data[0] % (n + 1) : 0;

	b64_dec_init(&b);
	CHECK(b64_dec_feed(&b, in, n, &whole) == 0);
	CHECK(whole.len <= n * 3 / 4);
	b64_dec_init(&b);
	CHECK(b64_dec_feed(&b, in, cut, &two) == 0);
	CHECK(b64_dec_feed(&b, in + cut, n - cut, &two) == 0);
	same(&whole, &two);
	b64_dec_init(&b);
	for (i = 0; i < n; i++)
		CHECK(b64_dec_feed(&b, in + i, 1, &bytes) == 0);
	same(&whole, &bytes);

	buf_reset(&whole);
	buf_reset(&two);
	buf_reset(&bytes);
	qp_dec_init(&q);
	CHECK(qp_dec_feed(&q, in, n, &whole) == 0);
	CHECK(qp_dec_finish(&q, &whole) == 0);
	CHECK(whole.len <= n);
	qp_dec_init(&q);
	CHECK(qp_dec_feed(&q, in, cut, &two) == 0);
	CHECK(qp_dec_feed(&q, in + cut, n - cut, &two) == 0);
	CHECK(qp_dec_finish(&q, &two) == 0);
	same(&whole, &two);
	qp_dec_init(&q);
	for (i = 0; i < n; i++)
		CHECK(qp_dec_feed(&q, in + i, 1, &bytes) == 0);
	CHECK(qp_dec_finish(&q, &bytes) == 0);
	same(&whole, &bytes);

	buf_reset(&whole);
	CHECK(mime_decode_words(in, n, &whole) == 0);
	if (memmem(in, n, "=?", 2) == NULL) {
		CHECK(whole.len == n);
		CHECK(n == 0 || memcmp(whole.data, in, n) == 0);
	}
	buf_release(&whole);
	buf_release(&two);
	buf_release(&bytes);
	return 0;
}
