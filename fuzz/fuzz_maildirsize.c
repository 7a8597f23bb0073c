/*
 * fuzz_maildirsize: Maildir++ quota files. The verdict is consistent
 * with the sums (no usable file with a negative sum or without a line
 * after the header; a file of 5120 octets or more never usable); a
 * usable file, written back as its header and one totals line (what a
 * recalculation writes), parses to the same limits and sums
 * (parse -> encode -> parse).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/maildirsize.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildirsize m, again;
	char out[2 * MAILDIRSIZE_LINE_MAX];
	size_t n, d;
	unsigned r = maildirsize_parse((const char *)data, size, &m);

	CHECK(r == m.recalc);
	if (size >= MAILDIRSIZE_RECALC_SIZE)
		CHECK(r & MAILDIRSIZE_RECALC_SIZE_REACHED);
	if (!(r & MAILDIRSIZE_RECALC_MALFORMED)) {
		CHECK(((m.bytes < 0 || m.count < 0) != 0) ==
		    ((r & MAILDIRSIZE_RECALC_NEGATIVE) != 0));
		CHECK((m.lines == 0) == ((r & MAILDIRSIZE_RECALC_EMPTY) != 0));
	}
	CHECK(m.bytes_limit <= INT64_MAX && m.count_limit <= INT64_MAX);
	if (r != 0)
		return 0;
	CHECK(m.lines > 0 && m.bytes >= 0 && m.count >= 0);
	n = maildirsize_header(m.bytes_limit, m.count_limit, out, sizeof(out));
	CHECK(n > 0);
	/* the count sum may pass Dovecot's int; the encoder refuses that */
	d = maildirsize_delta(m.bytes, m.count, out + n, sizeof(out) - n);
	if (m.count > INT32_MAX) {
		CHECK(d == 0);
		return 0;
	}
	CHECK(d > 0);
	CHECK(maildirsize_parse(out, n + d, &again) == 0);
	CHECK(again.header_ok && again.lines == 1);
	CHECK(again.bytes_limit == m.bytes_limit && again.count_limit == m.count_limit);
	CHECK(again.bytes == m.bytes && again.count == m.count);
	/* a fresh file of one totals line is believed, over quota or not */
	CHECK(!maildirsize_over_quota_stale(&again, again.bytes_limit,
	    again.count_limit, 0, 0));
	return 0;
}
