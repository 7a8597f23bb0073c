/*
 * fuzz_hdr_find: the Authentication-Results finder. Byte 0 picks a chunk
 * size; the rest is a message. Fed whole and in chunks, it must find the
 * same fields; every field found lies inside what was fed, in order,
 * apart, begins with its name, and cutting them all out of the message
 * (what the SMTP server does) leaves exactly the octets between them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "common/buf.h"
#include "proto/hdr_find.h"

static const char NAME[] = "Authentication-Results";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_find a, b;
	struct buf m = BUF_INIT;
	const char *msg;
	size_t step, i, n, kept = 0;
	uint64_t at = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	msg = (const char *)data + 1;
	n = size - 1;
	hdr_find_init(&a, NAME);
	hdr_find_feed(&a, msg, n);
	hdr_find_end(&a);
	hdr_find_init(&b, NAME);
	for (i = 0; i < n; i += step)
		hdr_find_feed(&b, msg + i, n - i < step ? n - i : step);
	hdr_find_end(&b);
	CHECK(a.nfound == b.nfound && a.done == b.done);
	for (i = 0; i < a.nfound; i++) {
		const struct hdr_found *f = &a.found[i];

		CHECK(f->off == b.found[i].off && f->len == b.found[i].len);
		CHECK(f->vlen == b.found[i].vlen && memcmp(f->value, b.found[i].value, f->vlen) == 0);
		CHECK(f->off >= at && f->len > 0 && f->off + f->len <= n);
		CHECK(strncasecmp(msg + f->off, NAME, strlen(NAME)) == 0);
		CHECK(f->vlen <= HDR_FIND_HEAD && strlen(f->value) <= f->vlen);
		at = f->off + f->len;
	}
	buf_append(&m, msg, n);
	for (i = a.nfound; i-- > 0;)
		buf_cut(&m, (size_t)a.found[i].off, (size_t)a.found[i].len);
	for (i = 0; i < a.nfound; i++)
		kept += a.found[i].len;
	CHECK(m.len == n - kept);
	hdr_find_release(&a);
	hdr_find_release(&b);
	buf_release(&m);
	return 0;
}
