/*
 * fuzz_smtp_data: the DATA reader against a plain reference model.
 *
 * Input: byte 0 picks the split point, byte 1 the line limit; the rest is
 * the stream after "354". It is fed in two pieces, also in discard mode,
 * and must match feeding it whole, and the reference model: the message
 * ends right after the first CR LF "." CR LF (or ".\r\n" at the start),
 * a leading dot is removed from every line, bare CR and LF are data.
 * The same input is BDAT content too (smtp_data_check_raw): in the same
 * pieces it must give what it gives whole, and what a plain model says
 * (a bare CR or LF anywhere, a CRLF-ended line longer than the limit).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/smtp_data.h"

struct model {
	size_t end;          /* bytes up to and including the terminator; 0 */
	struct buf out;
	bool bare_eol, long_line;
};

/* The reference: simple, slow, obviously right. */
static void
model_run(const char *s, size_t n, size_t max_line, struct model *m)
{
	size_t i = 0, line_len = 0;
	bool bol = true;

	memset(m, 0, sizeof(*m));
	if (n >= 3 && memcmp(s, ".\r\n", 3) == 0) {
		m->end = 3;
		return;
	}
	for (i = 0; i + 4 < n; i++) {
		if (memcmp(s + i, "\r\n.\r\n", 5) == 0) {
			m->end = i + 5;
			break;
		}
	}
	/* body: everything before the final ".\r\n" (all of it if no end) */
	n = m->end ? m->end - 3 : n;
	for (i = 0; i < n; i++) {
		if (bol) {
			bol = false;
			line_len = 0;
			if (s[i] == '.')
				continue;
		}
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			buf_append(&m->out, "\r\n", 2);
			line_len += 2;
			i++;
			bol = true;
		} else {
			if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n))
				m->bare_eol = true;
			buf_append(&m->out, s + i, 1);
			line_len++;
		}
		if (max_line && line_len > max_line)
			m->long_line = true;
	}
}

/* BDAT content: every octet counts, only CR LF ends a line. */
static void
raw_model(const char *s, size_t n, size_t max_line, bool *bare_eol, bool *long_line)
{
	size_t i, line_len = 0;

	*bare_eol = *long_line = false;
	for (i = 0; i < n; i++) {
		line_len++;
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			line_len++;
			i++;
			if (max_line && line_len > max_line)
				*long_line = true;
			line_len = 0;
			continue;
		}
		if (s[i] == '\r' || s[i] == '\n')
			*bare_eol = true;
		if (max_line && line_len > max_line)
			*long_line = true;
	}
}

static void
raw_check(const char *s, size_t n, size_t cut, size_t max_line)
{
	struct smtp_data whole, two;
	bool bare_eol, long_line;

	smtp_data_init(&whole, max_line);
	smtp_data_check_raw(&whole, s, n);
	smtp_data_raw_end(&whole);
	smtp_data_init(&two, max_line);
	smtp_data_check_raw(&two, s, cut);
	smtp_data_check_raw(&two, s + cut, 0);
	smtp_data_check_raw(&two, s + cut, n - cut);
	smtp_data_raw_end(&two);
	CHECK(whole.bare_eol == two.bare_eol && whole.long_line == two.long_line);
	raw_model(s, n, max_line, &bare_eol, &long_line);
	CHECK(whole.bare_eol == bare_eol);
	CHECK(whole.long_line == long_line);
}

struct run {
	struct smtp_data d;
	struct buf out;
	size_t consumed;
};

static void
feed(struct run *r, const char *s, size_t n)
{
	size_t used;
	uint64_t size = r->d.size;
	size_t len = r->out.len;
	bool was_done = r->d.done;

	used = smtp_data_feed(&r->d, s, n, &r->out);
	CHECK(used != (size_t)-1);
	CHECK(used <= n);
	if (used < n)
		CHECK(r->d.done);
	if (was_done) {
		/* once done, it stays done and takes nothing */
		CHECK(used == 0 && r->d.done && r->d.size == size &&
		    r->out.len == len);
	}
	if (r->d.discard)
		CHECK(r->out.len == len);
	r->consumed += used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, two, drop;
	struct model m;
	const char *s;
	size_t n, cut, max_line;

	if (size < 2)
		return 0;
	s = (const char *)data + 2;
	n = size - 2;
	cut = n ? data[0] % (n + 1) : 0;
	max_line = (data[1] & 0x7f) < 4 ? 0 : (data[1] & 0x7f);

	memset(&whole, 0, sizeof(whole));
	smtp_data_init(&whole.d, max_line);
	feed(&whole, s, n);

	memset(&two, 0, sizeof(two));
	smtp_data_init(&two.d, max_line);
	feed(&two, s, cut);
	/* the session stops feeding once done; feeding more must be a no-op */
	feed(&two, s + two.consumed, n - two.consumed);

	memset(&drop, 0, sizeof(drop));
	smtp_data_init(&drop.d, max_line);
	drop.d.discard = true;
	feed(&drop, s, cut);
	feed(&drop, s + drop.consumed, n - drop.consumed);

	/* chunking does not matter */
	CHECK(whole.consumed == two.consumed);
	CHECK(whole.d.done == two.d.done);
	CHECK(whole.d.size == two.d.size);
	CHECK(whole.d.bare_eol == two.d.bare_eol);
	CHECK(whole.d.long_line == two.d.long_line);
	CHECK(whole.out.len == two.out.len &&
	    memcmp(buf_cstr(&whole.out), buf_cstr(&two.out), whole.out.len) == 0);
	/* discard counts the same and stores nothing */
	CHECK(drop.consumed == whole.consumed && drop.d.done == whole.d.done);
	CHECK(drop.d.size == whole.d.size && drop.out.len == 0);
	CHECK(drop.d.long_line == whole.d.long_line);
	/* size is the output length */
	CHECK(whole.d.size == whole.out.len);

	/* the reference */
	model_run(s, n, max_line, &m);
	if (m.end) {
		CHECK(whole.d.done && whole.consumed == m.end);
		CHECK(whole.out.len == m.out.len &&
		    memcmp(buf_cstr(&whole.out), buf_cstr(&m.out), m.out.len) == 0);
		CHECK(whole.d.bare_eol == m.bare_eol);
		CHECK(whole.d.long_line == m.long_line);
	} else {
		CHECK(!whole.d.done && whole.consumed == n);
		/* a trailing CR or "." may still be held back, nothing else */
		CHECK(whole.out.len <= m.out.len && m.out.len - whole.out.len <= 1);
		CHECK(memcmp(buf_cstr(&whole.out), buf_cstr(&m.out),
		    whole.out.len) == 0);
		if (whole.d.bare_eol)
			CHECK(m.bare_eol);
	}

	raw_check(s, n, cut, max_line);

	buf_release(&whole.out);
	buf_release(&two.out);
	buf_release(&drop.out);
	buf_release(&m.out);
	return 0;
}
