/*
 * fuzz_maildrop: the maildrop file the pickup reads from any local user.
 * Whatever decodes must encode to the same octets (one spelling per file)
 * and hold only CRLF lines within the limits. The same bytes also go
 * through the input conversion (in two pieces, split at the first byte's
 * value), whose output must be CRLF lines that decode once written, and
 * through -t's recipient reader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/maildrop.h"

#define MAX_LINE 80

static int
count(void *arg, const char *addr)
{
	size_t *n = arg;

	CHECK(addr[0] != '\0' && strlen(addr) <= MAILDROP_VALUE_MAX);
	return ++*n > 50 ? -1 : 0;
}

static void
decode_encode(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	struct maildrop md = { 0 };
	struct buf again = BUF_INIT;

	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (maildrop_decode(copy, size, 1 << 20, MAX_LINE, &md) == MAILDROP_OK) {
		CHECK(maildrop_encode(&md, &again) == 0);
		CHECK(again.len == size && memcmp(again.data, data, size) == 0);
	}
	maildrop_clear(&md);
	buf_release(&again);
	free(copy);
}

static void
convert(const uint8_t *data, size_t size)
{
	struct maildrop_input in;
	struct maildrop md = { 0 };
	struct buf out = BUF_INIT, file = BUF_INIT, cut = BUF_INIT;
	size_t split = size ? data[0] % (size + 1) : 0, n = 0;
	char *copy;

	maildrop_input_init(&in, size && (data[0] & 1), MAX_LINE);
	CHECK(maildrop_input_feed(&in, (const char *)data, split, &out) == 0);
	CHECK(maildrop_input_feed(&in, (const char *)data + split, size - split, &out) == 0);
	CHECK(maildrop_input_end(&in, &out) == 0);
	CHECK(in.size == out.len);
	maildrop_header_rcpts(out.data ? out.data : "", out.len, &cut, count, &n);
	CHECK(cut.len <= out.len);
	md.sender = "a@b";
	md.fullname = md.envid = "";
	md.msg = out.data ? out.data : "";
	md.msglen = out.len;
	CHECK(maildrop_add_rcpt(&md, "c@d") == 0);
	CHECK(maildrop_encode(&md, &file) == 0);
	maildrop_clear(&md);
	copy = malloc(file.len + 1);
	CHECK(copy != NULL);
	memcpy(copy, file.data, file.len);
	CHECK(maildrop_decode(copy, file.len, 0, in.long_line ? 0 : MAX_LINE, &md) == MAILDROP_OK);
	maildrop_clear(&md);
	free(copy);
	buf_release(&out);
	buf_release(&file);
	buf_release(&cut);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_encode(data, size);
	convert(data, size);
	return 0;
}
