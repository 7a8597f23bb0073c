/*
 * fuzz_tern_cache: a tern-cache file's records, read one after another as
 * the store scans them. A record that reads and whose checksum holds is
 * written back to the same octets; tern_cache_rec_size agrees with
 * tern_cache_rec_read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/tern_cache.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t off = 0, n;

	if (size >= TERN_CACHE_HEADER_LEN && memcmp(p, TERN_CACHE_HEADER, TERN_CACHE_HEADER_LEN) == 0)
		off = TERN_CACHE_HEADER_LEN;
	while (off < size) {
		struct tern_cache_rec r;
		struct buf b = BUF_INIT;

		if ((n = tern_cache_rec_read(p + off, size - off, &r)) == 0)
			break;
		CHECK(n == tern_cache_rec_size(p + off));
		CHECK(n == TERN_CACHE_REC_HDR + r.base_len + r.data_len);
		CHECK(r.field < TERN_CACHE_FIELDS && r.base_len >= 1 && r.uid != 0);
		if (tern_cache_rec_ok(&r)) {
			CHECK(tern_cache_rec_encode(&r, &b) == 0);
			CHECK(b.len == n && memcmp(b.data, p + off, n) == 0);
		}
		buf_release(&b);
		off += n;
	}
	return 0;
}
