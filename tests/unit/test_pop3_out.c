/*
 * test_pop3_out: the RETR/TOP encoder. Each row is a stored message and
 * the exact octets that must follow "+OK"; every row is also fed in three
 * pieces cut at every pair of positions (empty pieces included, so every
 * boundary, e.g. between a CR and its LF, is crossed) and one octet at a
 * time, and must give the same octets, and count the same stuffed dots
 * (the sizes LIST announces leave them out).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/pop3_out.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define RETR (-1)

struct out_case {
	long top;              /* RETR, or TOP's line count */
	const char *msg;
	size_t len;            /* 0: strlen(msg) */
	const char *want;
	size_t want_len;       /* 0: strlen(want) */
};

#define HDR "From: a@example.org\r\nSubject: x\r\n"

static const struct out_case cases[] = {
	/* line ends: CR LF kept, bare LF and bare CR made CR LF */
	{ RETR, "", 0, ".\r\n", 0 },
	{ RETR, "a", 0, "a\r\n.\r\n", 0 },
	{ RETR, "a\r\n", 0, "a\r\n.\r\n", 0 },
	{ RETR, "a\n", 0, "a\r\n.\r\n", 0 },
	{ RETR, "a\r", 0, "a\r\n.\r\n", 0 },
	{ RETR, "a\rb", 0, "a\r\nb\r\n.\r\n", 0 },
	{ RETR, "a\nb\n", 0, "a\r\nb\r\n.\r\n", 0 },
	{ RETR, "a\r\r\n", 0, "a\r\n\r\n.\r\n", 0 },
	{ RETR, "a\n\r", 0, "a\r\n\r\n.\r\n", 0 },
	{ RETR, "a\n\r\n", 0, "a\r\n\r\n.\r\n", 0 },
	{ RETR, "\r\n", 0, "\r\n.\r\n", 0 },
	{ RETR, "\n\n", 0, "\r\n\r\n.\r\n", 0 },
	{ RETR, "\r\r", 0, "\r\n\r\n.\r\n", 0 },
	{ RETR, "\r\n\r\n", 0, "\r\n\r\n.\r\n", 0 },
	{ RETR, HDR "\r\nbody\r\n", 0, HDR "\r\nbody\r\n.\r\n", 0 },
	{ RETR, "a: b\n\nbody\nmore", 0, "a: b\r\n\r\nbody\r\nmore\r\n.\r\n", 0 },

	/* dot-stuffing: a "." that starts a line, and only that */
	{ RETR, ".", 0, "..\r\n.\r\n", 0 },
	{ RETR, ".\r\n", 0, "..\r\n.\r\n", 0 },
	{ RETR, "..", 0, "...\r\n.\r\n", 0 },
	{ RETR, ".x\r\n", 0, "..x\r\n.\r\n", 0 },
	{ RETR, "a\r\n.\r\nb", 0, "a\r\n..\r\nb\r\n.\r\n", 0 },
	{ RETR, "a\r\n.\r\n", 0, "a\r\n..\r\n.\r\n", 0 },
	{ RETR, "a\n.\n", 0, "a\r\n..\r\n.\r\n", 0 },
	{ RETR, "a\r.\r\n", 0, "a\r\n..\r\n.\r\n", 0 },
	{ RETR, "a\r.\rb", 0, "a\r\n..\r\nb\r\n.\r\n", 0 },
	{ RETR, "a.b\r\n. .\r\n", 0, "a.b\r\n.. .\r\n.\r\n", 0 },
	{ RETR, " .\r\n", 0, " .\r\n.\r\n", 0 },
	{ RETR, "\r\n.\r\n.\r\n", 0, "\r\n..\r\n..\r\n.\r\n", 0 },
	{ RETR, "x\r\n..\r\n...", 0, "x\r\n...\r\n....\r\n.\r\n", 0 },
	/* the terminator inside a message, with a reply after it */
	{ RETR, "a\r\n.\r\n+OK fake\r\n", 0, "a\r\n..\r\n+OK fake\r\n.\r\n", 0 },
	/* other octets pass as they are: NUL, 8-bit, controls */
	{ RETR, "\0.\r\n.\0", 6, "\0.\r\n..\0\r\n.\r\n", 12 },
	{ RETR, "\xc3\xbc\r\n.\xc3\xbc", 0, "\xc3\xbc\r\n..\xc3\xbc\r\n.\r\n", 0 },
	{ RETR, "\t.\x1b\r\n", 0, "\t.\x1b\r\n.\r\n", 0 },

	/* TOP: the header, the empty line, then n body lines */
	{ 0, HDR "\r\nb1\r\nb2\r\n", 0, HDR "\r\n.\r\n", 0 },
	{ 1, HDR "\r\nb1\r\nb2\r\n", 0, HDR "\r\nb1\r\n.\r\n", 0 },
	{ 2, HDR "\r\nb1\r\nb2\r\n", 0, HDR "\r\nb1\r\nb2\r\n.\r\n", 0 },
	{ 3, HDR "\r\nb1\r\nb2\r\n", 0, HDR "\r\nb1\r\nb2\r\n.\r\n", 0 },
	{ 2147483647, HDR "\r\nb1\r\nb2", 0, HDR "\r\nb1\r\nb2\r\n.\r\n", 0 },
	{ 0, "a: 1\nb: 2\n\nb1\n", 0, "a: 1\r\nb: 2\r\n\r\n.\r\n", 0 },
	{ 1, "a: 1\r\rb1\rb2\r", 0, "a: 1\r\n\r\nb1\r\n.\r\n", 0 },
	{ 1, "a: 1\r\n\r\nb1\rb2\r\n", 0, "a: 1\r\n\r\nb1\r\n.\r\n", 0 },
	/* the rest after the last line asked for is never looked at */
	{ 1, "a: 1\r\n\r\nb1\r\nrest", 0, "a: 1\r\n\r\nb1\r\n.\r\n", 0 },
	{ 0, "a: 1\r\n\r\n\0\r", 9, "a: 1\r\n\r\n.\r\n", 0 },
	/* empty body lines count */
	{ 1, "a: 1\r\n\r\n\r\nb\r\n", 0, "a: 1\r\n\r\n\r\n.\r\n", 0 },
	{ 2, "a: 1\r\n\r\n\r\n\r\n\r\n", 0, "a: 1\r\n\r\n\r\n\r\n.\r\n", 0 },
	/* an unended last body line still counts, and gets its CR LF */
	{ 2, "a: 1\r\n\r\nb1", 0, "a: 1\r\n\r\nb1\r\n.\r\n", 0 },
	{ 1, "a: 1\r\n\r\nb1\r", 0, "a: 1\r\n\r\nb1\r\n.\r\n", 0 },
	/* no body, no empty line, no line end at all */
	{ 0, "a: 1\r\n", 0, "a: 1\r\n.\r\n", 0 },
	{ 5, "a: 1\r\nb: 2", 0, "a: 1\r\nb: 2\r\n.\r\n", 0 },
	{ 0, "", 0, ".\r\n", 0 },
	{ 3, "", 0, ".\r\n", 0 },
	/* no header: the first line is the empty one */
	{ 0, "\r\nbody\r\n", 0, "\r\n.\r\n", 0 },
	{ 1, "\nbody\nmore\n", 0, "\r\nbody\r\n.\r\n", 0 },
	/* a folded header line is not the end of the header */
	{ 0, "a: x\r\n y\r\n\r\nb", 0, "a: x\r\n y\r\n\r\n.\r\n", 0 },
	/* a line of spaces is not empty */
	{ 0, "a: x\r\n \r\nb: y\r\n\r\nbody", 0, "a: x\r\n \r\nb: y\r\n\r\n.\r\n", 0 },
	/* stuffing in the header and in the body */
	{ 1, ".a: 1\r\n\r\n.b\r\n.c\r\n", 0, "..a: 1\r\n\r\n..b\r\n.\r\n", 0 },
	{ 1, "a: 1\r\n\r\n.\r\n.\r\n", 0, "a: 1\r\n\r\n..\r\n.\r\n", 0 },
};

/* The encoder for the row's command, after the session's "+OK" line:
 * what it appends must not disturb what is there. */
static void
begin(const struct out_case *c, struct pop3_out *o, struct buf *out)
{
	if (c->top == RETR)
		pop3_out_init(o);
	else
		pop3_out_init_top(o, (uint32_t)c->top);
	buf_reset(out);
	assert_int_equal(buf_append_str(out, "+OK\r\n"), 0);
}

/* Feeds msg in three pieces, cut at i and j; returns the dots stuffed. */
static uint64_t
encode(const struct out_case *c, size_t len, size_t i, size_t j, struct buf *out)
{
	struct pop3_out o;

	begin(c, &o, out);
	assert_int_equal(pop3_out_feed(&o, c->msg, i, out), 0);
	assert_int_equal(pop3_out_feed(&o, c->msg + i, j - i, out), 0);
	assert_int_equal(pop3_out_feed(&o, c->msg + j, len - j, out), 0);
	assert_int_equal(pop3_out_finish(&o, out), 0);
	assert_true(o.done);
	return o.stuffed;
}

/* The stuffed lines of a wanted output: those that start with a dot,
 * but the terminator. */
static uint64_t
stuffed_in(const char *want, size_t len)
{
	uint64_t n = 0;
	size_t p;

	for (p = 0; p + 3 < len; p++) {
		if (want[p] == '.' && (p == 0 || (p >= 2 && want[p - 2] == '\r' && want[p - 1] == '\n')))
			n++;
	}
	return n;
}

static void
check(size_t n, const struct out_case *c, const struct buf *out, size_t i,
    size_t j, uint64_t stuffed)
{
	size_t want_len = c->want_len ? c->want_len : strlen(c->want);

	if (out->len != want_len + 5 || memcmp(out->data, "+OK\r\n", 5) != 0 ||
	    memcmp(out->data + 5, c->want, want_len) != 0)
		fail_msg("case %zu, cut at %zu and %zu: got %zu octets \"%.*s\"",
		    n, i, j, out->len, (int)out->len, out->data);
	/* The count the sizes leave out (RFC 1939 §11). */
	if (stuffed != stuffed_in(c->want, want_len))
		fail_msg("case %zu, cut at %zu and %zu: %llu dots stuffed, want %llu", n, i, j,
		    (unsigned long long)stuffed,
		    (unsigned long long)stuffed_in(c->want, want_len));
}

static void
test_table(void **state)
{
	struct buf out = BUF_INIT;
	size_t n, i, j;

	(void)state;
	for (n = 0; n < NELEM(cases); n++) {
		const struct out_case *c = &cases[n];
		size_t len = c->len ? c->len : strlen(c->msg);

		for (i = 0; i <= len; i++) {
			for (j = i; j <= len; j++) {
				uint64_t stuffed = encode(c, len, i, j, &out);

				check(n, c, &out, i, j, stuffed);
			}
		}
	}
	buf_release(&out);
}

/* One octet per call, as a slow reader might. */
static void
test_bytewise(void **state)
{
	struct buf out = BUF_INIT;
	size_t n, i;

	(void)state;
	for (n = 0; n < NELEM(cases); n++) {
		const struct out_case *c = &cases[n];
		size_t len = c->len ? c->len : strlen(c->msg);
		struct pop3_out o;

		begin(c, &o, &out);
		for (i = 0; i < len; i++)
			assert_int_equal(pop3_out_feed(&o, c->msg + i, 1, &out), 0);
		assert_int_equal(pop3_out_finish(&o, &out), 0);
		check(n, c, &out, len, len, o.stuffed);
	}
	buf_release(&out);
}

/* TOP says when it has all it sends, so the session stops reading; what
 * is fed after that adds nothing. RETR is never done before the end. */
static void
test_done(void **state)
{
	static const char msg[] = "a: 1\r\n\r\nb1\r\nb2\r\n";
	struct buf out = BUF_INIT;
	struct pop3_out o;
	size_t len;

	(void)state;
	pop3_out_init_top(&o, 1);
	assert_int_equal(pop3_out_feed(&o, msg, 10, &out), 0);
	assert_false(o.done);
	assert_int_equal(pop3_out_feed(&o, msg + 10, 1, &out), 0);
	assert_false(o.done);   /* the CR: its line is not over yet */
	assert_int_equal(pop3_out_feed(&o, msg + 11, 1, &out), 0);
	assert_true(o.done);
	len = out.len;
	assert_int_equal(pop3_out_feed(&o, msg + 12, sizeof(msg) - 13, &out), 0);
	assert_int_equal(out.len, len);
	assert_int_equal(pop3_out_finish(&o, &out), 0);
	assert_string_equal(buf_cstr(&out), "a: 1\r\n\r\nb1\r\n.\r\n");

	buf_reset(&out);
	pop3_out_init(&o);
	assert_int_equal(pop3_out_feed(&o, msg, sizeof(msg) - 1, &out), 0);
	assert_false(o.done);
	assert_int_equal(pop3_out_finish(&o, &out), 0);
	assert_string_equal(buf_cstr(&out), "a: 1\r\n\r\nb1\r\nb2\r\n.\r\n");
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
