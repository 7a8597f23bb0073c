/*
 * fuzz_pop3_out: the RETR/TOP encoder against a plain reference model.
 *
 * Input: byte 0 picks RETR or TOP (bit 0) and how the second run is cut
 * into pieces; byte 1 is TOP's line count (0xff: the largest); the rest
 * is the stored message. The message is encoded whole and in pieces (the
 * sizes from a small generator, empty pieces included), which must give
 * the same octets. The output must be CR LF lines only, ending with the
 * "." line, and un-stuffing it must give the model: the message with
 * every CR LF, bare CR and bare LF made CR LF, cut after the header and
 * n body lines for TOP, and a last CR LF when it did not end a line. The
 * dots it counts as stuffed are exactly those unstuffing removes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/pop3_out.h"

/* The reference: simple, slow, obviously right. */
static void
model(const char *s, size_t n, bool top, uint32_t top_lines, struct buf *m)
{
	struct buf norm = BUF_INIT;
	size_t i, start;
	bool in_body = false;
	uint32_t body = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			CHECK(buf_append(&norm, "\r\n", 2) == 0);
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else if (s[i] == '\n')
			CHECK(buf_append(&norm, "\r\n", 2) == 0);
		else
			CHECK(buf_append(&norm, s + i, 1) == 0);
	}
	/* line by line: each with its CR LF, the last maybe without */
	for (start = 0; start < norm.len; ) {
		const char *eol = memmem(norm.data + start, norm.len - start, "\r\n", 2);
		size_t end = eol ? (size_t)(eol - norm.data) + 2 : norm.len;
		bool empty = end - start == 2 && eol;

		if (top && in_body && body == top_lines)
			break;
		CHECK(buf_append(m, norm.data + start, end - start) == 0);
		if (in_body)
			body++;
		else if (empty) {
			in_body = true;
			if (top && top_lines == 0)
				break;
		}
		start = end;
	}
	if (m->len && (m->len < 2 || memcmp(m->data + m->len - 2, "\r\n", 2)))
		CHECK(buf_append(m, "\r\n", 2) == 0);
	buf_release(&norm);
}

/* Undoes the stuffing: every line ends with CR LF, the last is "." */
static void
unstuff(const struct buf *out, struct buf *u)
{
	size_t start = 0;

	CHECK(out->len >= 3);
	CHECK(memcmp(out->data + out->len - 3, ".\r\n", 3) == 0);
	while (start < out->len - 3) {
		const char *eol = memmem(out->data + start, out->len - start, "\r\n", 2);
		size_t end, i;

		CHECK(eol != NULL);
		end = (size_t)(eol - out->data);
		/* no bare CR or LF inside a line */
		for (i = start; i < end; i++)
			CHECK(out->data[i] != '\r' && out->data[i] != '\n');
		if (out->data[start] == '.') {
			/* a stuffed line; a lone "." would have ended it all */
			CHECK(end - start >= 2 && out->data[start + 1] == '.');
			start++;
		}
		CHECK(buf_append(u, out->data + start, end + 2 - start) == 0);
		start = end + 2;
	}
	CHECK(start == out->len - 3);
}

static void
init(struct pop3_out *o, bool top, uint32_t top_lines)
{
	if (top)
		pop3_out_init_top(o, top_lines);
	else
		pop3_out_init(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, pieces = BUF_INIT, m = BUF_INIT, u = BUF_INIT;
	struct pop3_out o;
	const char *s;
	size_t n, at, len;
	uint64_t stuffed;
	uint32_t top_lines, seed;
	bool top;

	if (size < 2)
		return 0;
	top = data[0] & 1;
	seed = data[0] >> 1;
	top_lines = data[1] == 0xff ? 2147483647u : data[1];
	s = (const char *)data + 2;
	n = size - 2;

	init(&o, top, top_lines);
	CHECK(pop3_out_feed(&o, s, n, &whole) == 0);
	CHECK(pop3_out_finish(&o, &whole) == 0);
	CHECK(o.done);
	stuffed = o.stuffed;
	/* each octet gives at most two, and the end five */
	CHECK(whole.len <= 2 * n + 5);

	init(&o, top, top_lines);
	for (at = 0; at < n; at += len) {
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 9;
		if (len > n - at)
			len = n - at;
		len = o.done ? n - at : len;
		CHECK(pop3_out_feed(&o, s + at, len, &pieces) == 0);
	}
	CHECK(pop3_out_finish(&o, &pieces) == 0);
	CHECK(whole.len == pieces.len &&
	    memcmp(buf_cstr(&whole), buf_cstr(&pieces), whole.len) == 0);
	CHECK(o.stuffed == stuffed);

	model(s, n, top, top_lines, &m);
	unstuff(&whole, &u);
	CHECK(u.len == m.len && memcmp(buf_cstr(&u), buf_cstr(&m), m.len) == 0);
	/* The size LIST announces: the output less the terminator and the
	 * stuffed dots is the message the client ends up with. */
	CHECK(whole.len - 3 - stuffed == m.len);

	buf_release(&whole);
	buf_release(&pieces);
	buf_release(&m);
	buf_release(&u);
	return 0;
}
