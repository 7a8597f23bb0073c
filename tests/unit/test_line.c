/*
 * test_line: the line discipline. A stream fed in pieces (a table of
 * cases) must give the same lines and the same single "too long" report
 * per over-long line as a whole feed; the CRLF/NUL policy; raw mode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/line.h"

/* Feeds stream in pieces of piece octets (0: whole) through a buffer the
 * way a session does; writes the events as "R<line>|" and "T|". */
static void
run(const char *stream, size_t piece, size_t max, char *out, size_t outsize)
{
	struct line_framer f = { 0 };
	char buf[256];
	size_t have = 0, fed = 0, total = strlen(stream), o = 0;

	out[0] = '\0';
	while (fed < total || have) {
		size_t n = piece && total - fed > piece ? piece : total - fed, len;
		enum line_event ev;
		bool progress = n > 0;

		memcpy(buf + have, stream + fed, n);
		have += n;
		fed += n;
		for (;;) {
			const char *lf = memchr(buf, '\n', have);

			ev = line_frame(&f, lf ? lf - buf : -1, have, max, &len);
			if (ev == LINE_NEED_MORE)
				break;
			if (ev == LINE_READY) {
				o += (size_t)snprintf(out + o, outsize - o, "R%.*s|", (int)len, buf);
				len++;
			} else if (ev == LINE_TOO_LONG)
				o += (size_t)snprintf(out + o, outsize - o, "T|");
			memmove(buf, buf + len, have - len);
			have -= len;
		}
		if (!progress)
			break;   /* the end: an unfinished line stays */
	}
}

static const struct {
	const char *stream;
	size_t max;
	const char *want;
} cases[] = {
	{ "", 10, "" },
	{ "a\n", 10, "Ra|" },
	{ "ab\r\ncd\r\n", 10, "Rab\r|Rcd\r|" },
	{ "\n\n", 10, "R|R|" },
	/* 9 octets and the LF: exactly the limit. */
	{ "123456789\nx\n", 10, "R123456789|Rx|" },
	/* One more: too long, reported once, the next line is served. */
	{ "1234567890\nx\n", 10, "T|Rx|" },
	{ "12345678901234567890123456789\nok\n", 10, "T|Rok|" },
	{ "1234567890123\n1234567890123\nz\n", 10, "T|T|Rz|" },
	/* An unfinished line is kept, until it passes the limit. */
	{ "abc", 10, "" },
	{ "abcdefghijklmnop", 10, "T|" },
};

static void
test_frame_table(void **state)
{
	static const size_t pieces[] = { 0, 1, 2, 3, 7, 11 };
	char got[512];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
			run(cases[i].stream, pieces[j], cases[i].max, got, sizeof(got));
			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu piece %zu: got \"%s\" want \"%s\"", i,
				    pieces[j], got, cases[i].want);
		}
	}
}

static void
test_skip_state(void **state)
{
	struct line_framer f = { 0 };
	size_t n;

	(void)state;
	/* No LF, over the limit: drop all, report once. */
	assert_int_equal(line_frame(&f, -1, 11, 10, &n), LINE_TOO_LONG);
	assert_int_equal(n, 11);
	assert_int_equal(line_frame(&f, -1, 50, 10, &n), LINE_SKIP);
	assert_int_equal(n, 50);
	/* Even a short remainder is still the same line. */
	assert_int_equal(line_frame(&f, -1, 3, 10, &n), LINE_NEED_MORE);
	assert_int_equal(line_frame(&f, 2, 3, 10, &n), LINE_SKIP);
	assert_int_equal(n, 3);
	/* Then lines again. */
	assert_int_equal(line_frame(&f, 2, 3, 10, &n), LINE_READY);
	assert_int_equal(n, 2);
}

static void
test_check(void **state)
{
	static const struct {
		const char *line;
		size_t len;
		unsigned policy;
		enum line_err want;
		size_t want_len;
	} t[] = {
		{ "NOOP\r", 5, 0, LINE_OK, 4 },
		{ "\r", 1, 0, LINE_OK, 0 },
		{ "", 0, 0, LINE_E_BARE_LF, 0 },
		{ "NOOP", 4, 0, LINE_E_BARE_LF, 4 },
		{ "NO\0OP\r", 6, 0, LINE_OK, 5 },
		{ "NO\0OP\r", 6, LINE_REJECT_NUL, LINE_E_NUL, 6 },
		{ "NO\rOP\r", 6, 0, LINE_OK, 5 },
		{ "NO\rOP\r", 6, LINE_REJECT_BARE_CR, LINE_E_BARE_CR, 6 },
		{ "NOOP\r\r", 6, LINE_REJECT_BARE_CR, LINE_E_BARE_CR, 6 },
		{ "NOOP\r", 5, LINE_REJECT_NUL | LINE_REJECT_BARE_CR, LINE_OK, 4 },
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = t[i].len;
		assert_int_equal(line_check(t[i].line, &len, t[i].policy), t[i].want);
		assert_int_equal(len, t[i].want_len);
	}
}

static void
test_raw(void **state)
{
	struct line_framer f = { 0 };

	(void)state;
	assert_false(line_raw_active(&f));
	assert_int_equal(line_raw_take(&f, 100), 0);
	line_raw_begin(&f, 10);
	assert_true(line_raw_active(&f));
	assert_int_equal(line_raw_take(&f, 0), 0);
	assert_int_equal(line_raw_take(&f, 4), 4);
	assert_int_equal(line_raw_take(&f, 100), 6);
	assert_false(line_raw_active(&f));
	/* Sizes past size_t's reach on 32 bits, and near 2^64. */
	line_raw_begin(&f, UINT64_MAX);
	assert_int_equal(line_raw_take(&f, 5), 5);
	assert_true(f.raw_left == UINT64_MAX - 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_table),
		cmocka_unit_test(test_skip_state),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
