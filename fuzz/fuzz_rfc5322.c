/*
 * fuzz_rfc5322: the streaming header scanner. Byte 0 picks a split point;
 * the rest is fed in two pieces and must give what feeding it whole and
 * feeding it one octet at a time give. When the header is done, end_off
 * lies before pos and points at the empty line (CR LF or a bare LF).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rfc5322.h"

#define CHECK(x) do { \
	if (!(x)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

static void
same(const struct hdr_scan *a, const struct hdr_scan *b)
{
	CHECK(a->received == b->received);
	CHECK(a->has_message_id == b->has_message_id);
	CHECK(a->has_date == b->has_date);
	CHECK(a->done == b->done);
	CHECK(a->pos == b->pos);
	if (a->done)
		CHECK(a->end_off == b->end_off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_scan whole, two, bytes;
	const char *m;
	size_t n, cut, i;

	if (size < 1)
		return 0;
	m = (const char *)data + 1;
	n = size - 1;
	cut = n ? data[0] % (n + 1) : 0;

	hdr_scan_init(&whole);
	hdr_scan_feed(&whole, m, n);
	CHECK(whole.pos == n);
	CHECK(whole.end_off <= whole.pos);
	if (whole.done) {
		CHECK(whole.end_off < whole.pos);
		CHECK(m[whole.end_off] == '\r' || m[whole.end_off] == '\n');
		/* at the start of a line */
		CHECK(whole.end_off == 0 || m[whole.end_off - 1] == '\n');
		/* no more fields than lines before it */
		{
			size_t lines = 0;

			for (i = 0; i < whole.end_off; i++)
				lines += m[i] == '\n';
			CHECK(whole.received <= lines);
		}
	}

	hdr_scan_init(&two);
	hdr_scan_feed(&two, m, cut);
	CHECK(two.end_off <= two.pos);
	hdr_scan_feed(&two, m + cut, n - cut);
	CHECK(two.end_off <= two.pos);
	same(&whole, &two);

	hdr_scan_init(&bytes);
	for (i = 0; i < n; i++) {
		hdr_scan_feed(&bytes, m + i, 1);
		CHECK(bytes.end_off <= bytes.pos);
	}
	same(&whole, &bytes);
	return 0;
}
