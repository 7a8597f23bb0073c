/*
 * fuzz_line: the line discipline against a plain reference model.
 *
 * Input: byte 0 picks the line limit (1..64), byte 1 the piece size
 * (0: whole); the rest is the stream. Fed through a buffer in pieces the
 * way a session reads, the framer must give exactly what the model says:
 * every complete line of at most the limit (LF included) as it is, every
 * longer one as a single "too long", and for an unfinished last line a
 * "too long" only when it is already past the limit. Each line also goes
 * through line_check, which must agree with a direct look at its octets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "common/buf.h"
#include "proto/line.h"

static void
event(struct buf *out, char kind, const char *p, size_t n)
{
	buf_append_char(out, kind);
	buf_printf(out, "%zu:", n);
	buf_append(out, p, n);
}

static void
model(const char *s, size_t n, size_t max, struct buf *out)
{
	size_t start = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] != '\n')
			continue;
		if (i - start + 1 <= max)
			event(out, 'R', s + start, i - start);
		else
			event(out, 'T', "", 0);
		start = i + 1;
	}
	if (n - start > max)
		event(out, 'T', "", 0);
}

static void
check_line(const char *p, size_t n)
{
	size_t len = n;
	enum line_err e = line_check(p, &len, LINE_REJECT_NUL | LINE_REJECT_BARE_CR);

	if (n == 0 || p[n - 1] != '\r') {
		CHECK(e == LINE_E_BARE_LF && len == n);
		return;
	}
	if (memchr(p, '\0', n - 1))
		CHECK(e == LINE_E_NUL);
	else if (memchr(p, '\r', n - 1))
		CHECK(e == LINE_E_BARE_CR);
	else
		CHECK(e == LINE_OK && len == n - 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line_framer f = { 0 };
	struct buf want = BUF_INIT, got = BUF_INIT, in = BUF_INIT;
	const char *s;
	size_t max, piece, n, fed = 0;

	if (size < 2)
		return 0;
	max = (size_t)(data[0] % 64) + 1;
	piece = data[1] % 32;
	s = (const char *)data + 2;
	n = size - 2;
	model(s, n, max, &want);
	while (fed < n) {
		size_t take = piece && n - fed > piece ? piece : n - fed, len;
		enum line_event ev;

		buf_append(&in, s + fed, take);
		fed += take;
		for (;;) {
			const char *lf = in.len ? memchr(in.data, '\n', in.len) : NULL;

			ev = line_frame(&f, lf ? lf - in.data : -1, in.len, max, &len);
			if (ev == LINE_NEED_MORE)
				break;
			CHECK(len <= in.len);
			if (ev == LINE_READY) {
				CHECK(len < max && in.data[len] == '\n');
				event(&got, 'R', in.data, len);
				check_line(in.data, len);
				len++;
			} else if (ev == LINE_TOO_LONG)
				event(&got, 'T', "", 0);
			memmove(in.data, in.data + len, in.len - len);
			in.len -= len;
		}
		/* Never more buffered than one line may hold. */
		CHECK(in.len <= max);
	}
	CHECK(got.len == want.len && (got.len == 0 || memcmp(got.data, want.data, got.len) == 0));
	buf_release(&want);
	buf_release(&got);
	buf_release(&in);
	return 0;
}
