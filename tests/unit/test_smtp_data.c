/*
 * test_smtp_data: the DATA body reader. Dot-unstuffing must be byte-exact,
 * the end is CR LF "." CR LF and nothing else (SMTP smuggling), and the
 * result must not depend on how the bytes were chunked. BDAT content is
 * held to the same line rules, across chunks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_data.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) lit, sizeof(lit) - 1

struct result {
	struct buf out;
	size_t consumed;
	uint64_t size;
	bool done, bare_eol, long_line;
};

/* Feeds in[0..n) in pieces of at most step bytes (0: all at once), as the
 * session does: stops at the first call that ends the message. */
static void
run(const char *in, size_t n, size_t step, size_t max_line, bool discard,
    struct result *r)
{
	struct smtp_data d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&d, max_line);
	d.discard = discard;
	while (off < n) {
		size_t k = step && n - off > step ? step : n - off, used;

		used = smtp_data_feed(&d, in + off, k, &r->out);
		assert_true(used != (size_t)-1);
		assert_true(used <= k);
		if (used < k)
			assert_true(d.done);
		off += used;
		if (d.done)
			break;
	}
	r->consumed = off;
	r->size = d.size;
	r->done = d.done;
	r->bare_eol = d.bare_eol;
	r->long_line = d.long_line;
}

static void
result_free(struct result *r)
{
	buf_release(&r->out);
}

static void
assert_bytes(const struct buf *b, const char *want, size_t wn)
{
	if (b->len != wn || (wn && memcmp(b->data, want, wn) != 0))
		fail_msg("output \"%.*s\" (%zu), want \"%.*s\" (%zu)",
		    (int)b->len, buf_cstr(b), b->len, (int)wn, want, wn);
}

/* Complete messages: input, expected output. */
static const struct {
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
} unstuff[] = {
	{ S(".\r\n"), S("") },
	{ S("\r\n.\r\n"), S("\r\n") },
	{ S("a\r\n.\r\n"), S("a\r\n") },
	{ S("Subject: hi\r\n\r\nhello\r\n.\r\n"), S("Subject: hi\r\n\r\nhello\r\n") },
	{ S("..\r\n.\r\n"), S(".\r\n") },
	{ S("...\r\n.\r\n"), S("..\r\n") },
	{ S("..foo\r\n.\r\n"), S(".foo\r\n") },
	{ S(".foo\r\n.\r\n"), S("foo\r\n") },
	{ S("a.b\r\n.\r\n"), S("a.b\r\n") },
	{ S("a.\r\n.\r\n"), S("a.\r\n") },
	{ S("a\r\n..\r\n.\r\n"), S("a\r\n.\r\n") },
	{ S("a\r\n..\r\n..\r\n.\r\n"), S("a\r\n.\r\n.\r\n") },
	{ S("a\r\n. \r\n.\r\n"), S("a\r\n \r\n") },
	{ S(" .\r\n.\r\n"), S(" .\r\n") },
	{ S("\r\n\r\n.\r\n"), S("\r\n\r\n") },
	{ S("x\0y\r\n.\r\n"), S("x\0y\r\n") },
	{ S("\xff\xfe\r\n.\r\n"), S("\xff\xfe\r\n") },
	{ S("a\r\n.\r\r\n.\r\n"), S("a\r\n\r\r\n") },
};

static void
test_unstuff(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(unstuff); i++) {
		struct result r;

		run(unstuff[i].in, unstuff[i].inlen, 0, 0, false, &r);
		if (!r.done)
			fail_msg("case %zu: not done", i);
		assert_int_equal(r.consumed, unstuff[i].inlen);
		assert_bytes(&r.out, unstuff[i].out, unstuff[i].outlen);
		assert_int_equal(r.size, r.out.len);
		result_free(&r);
	}
}

static void
test_empty_message(void **state)
{
	struct result r;

	(void)state;
	run(S(".\r\n"), 0, 0, false, &r);
	assert_true(r.done);
	assert_int_equal(r.consumed, 3);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.size, 0);
	assert_false(r.bare_eol);
	result_free(&r);
}

/* Things that look like an end but are not. */
static void
test_not_the_end(void **state)
{
	static const struct {
		const char *in;
		size_t n;
	} cases[] = {
		{ S("") },
		{ S(".") },
		{ S(".\r") },
		{ S("a\r\n.") },
		{ S("a\r\n.\r") },
		{ S("a.\r\n") },
		{ S("a\r\n. \r\n") },
		{ S("a\r\n .\r\n") },
		{ S("a\r\n..\r\n") },
		{ S("a\r\n.x\r\n") },
		{ S(".\n") },
		{ S(".\r.\r\n") },
		{ S("a\r\n.\r.\r\n") },
		{ S("a\r\r\n") },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct result r;

		run(cases[i].in, cases[i].n, 0, 0, false, &r);
		if (r.done)
			fail_msg("case %zu: ended", i);
		assert_int_equal(r.consumed, cases[i].n);
		result_free(&r);
	}
}

/* The end is found however the bytes were chunked, with the same output. */
static void
test_chunking(void **state)
{
	size_t i, step, cut;

	(void)state;
	for (i = 0; i < NELEM(unstuff); i++) {
		struct result one;

		run(unstuff[i].in, unstuff[i].inlen, 0, 0, false, &one);
		for (step = 1; step <= unstuff[i].inlen; step++) {
			struct result r;

			run(unstuff[i].in, unstuff[i].inlen, step, 0, false, &r);
			assert_true(r.done);
			assert_int_equal(r.consumed, one.consumed);
			assert_bytes(&r.out, one.out.data, one.out.len);
			assert_int_equal(r.bare_eol, one.bare_eol);
			result_free(&r);
		}
		/* every two-piece split */
		for (cut = 0; cut <= unstuff[i].inlen; cut++) {
			struct smtp_data d;
			struct buf out = BUF_INIT;
			size_t a, b = 0;

			smtp_data_init(&d, 0);
			a = smtp_data_feed(&d, unstuff[i].in, cut, &out);
			if (!d.done)
				b = smtp_data_feed(&d, unstuff[i].in + cut,
				    unstuff[i].inlen - cut, &out);
			assert_true(d.done);
			assert_int_equal(a + b, unstuff[i].inlen);
			assert_bytes(&out, one.out.data, one.out.len);
			buf_release(&out);
		}
		result_free(&one);
	}
}

/* What follows the terminator is the next command, not message data. */
static void
test_consumed_stops(void **state)
{
	static const char in[] = "a\r\n.\r\nQUIT\r\n";
	static const char in2[] = ".\r\nMAIL FROM:<>\r\n";
	struct smtp_data d;
	struct buf out = BUF_INIT;
	size_t used, off;

	(void)state;
	smtp_data_init(&d, 0);
	used = smtp_data_feed(&d, in, sizeof(in) - 1, &out);
	assert_true(d.done);
	assert_int_equal(used, 6);
	assert_bytes(&out, S("a\r\n"));
	assert_int_equal(d.size, 3);
	/* once done, it stays done and takes nothing more */
	assert_int_equal(smtp_data_feed(&d, in + used, sizeof(in) - 1 - used,
	    &out), 0);
	assert_int_equal(smtp_data_feed(&d, "\n.\r\n", 4, &out), 0);
	assert_true(d.done);
	assert_bytes(&out, S("a\r\n"));
	assert_int_equal(d.size, 3);
	buf_release(&out);

	smtp_data_init(&d, 0);
	assert_int_equal(smtp_data_feed(&d, in2, sizeof(in2) - 1, &out), 3);
	assert_true(d.done);
	assert_int_equal(out.len, 0);
	buf_release(&out);

	/* byte by byte: the call with the final LF returns 1 and ends */
	smtp_data_init(&d, 0);
	for (off = 0; off < sizeof(in) - 1 && !d.done; off++)
		assert_int_equal(smtp_data_feed(&d, in + off, 1, &out), 1);
	assert_int_equal(off, 6);
	assert_bytes(&out, S("a\r\n"));
	buf_release(&out);
}

/*
 * SMTP smuggling: a second transaction hidden behind an end-of-data that
 * only some receivers honour. None of these may end the message; each
 * must be recorded as a bare line end.
 */
static const char *smuggle[] = {
	"\n.\n", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r", "\r.\r\n", "\n.\r",
	"\r\n.\r\r\n", "\r.\n", "\r\r.\r\n", "\n\n.\n\n",
};

static void
test_smuggling(void **state)
{
	static const char tail[] = "MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n"
	    "Subject: smuggled\r\n\r\nevil\r\n";
	size_t i, step;

	(void)state;
	for (i = 0; i < NELEM(smuggle); i++) {
		char in[512];
		size_t n, total;
		int k;

		/* mid-message, and right at the start of the data */
		for (k = 0; k < 2; k++) {
			n = (size_t)snprintf(in, sizeof(in), "%s%s%s",
			    k == 0 ? "Subject: hi\r\n\r\nhello" : "", smuggle[i], tail);
			total = n + 3;
			memcpy(in + n, ".\r\n", 4);
			for (step = 0; step <= 3; step++) {
				struct result r;

				/* without the real end, nothing ends */
				run(in, n, step, 0, false, &r);
				if (r.done)
					fail_msg("smuggle[%zu] k=%d step=%zu ended early",
					    i, k, step);
				assert_true(r.bare_eol);
				result_free(&r);

				/* with it, the end is the real one */
				run(in, total, step, 0, false, &r);
				if (!r.done || r.consumed != total)
					fail_msg("smuggle[%zu] k=%d step=%zu: done %d "
					    "consumed %zu of %zu", i, k, step, r.done,
					    r.consumed, total);
				assert_true(r.bare_eol);
				assert_int_equal(r.size, r.out.len);
				/* the smuggled commands are message data */
				assert_non_null(memmem(r.out.data, r.out.len,
				    "MAIL FROM:<evil@x>\r\n", 20));
				assert_true(r.out.len >= 6 && memcmp(r.out.data +
				    r.out.len - 6, "evil\r\n", 6) == 0);
				result_free(&r);
			}
		}
	}
}

/* Bare line ends are kept as data, byte for byte. */
static void
test_bare_eol_bytes(void **state)
{
	static const struct {
		const char *in;
		size_t inlen;
		const char *out;
		size_t outlen;
	} cases[] = {
		{ S("a\nb\r\n.\r\n"), S("a\nb\r\n") },
		{ S("a\rb\r\n.\r\n"), S("a\rb\r\n") },
		{ S("a\n.\nb\r\n.\r\n"), S("a\n.\nb\r\n") },
		{ S("a\r.\rb\r\n.\r\n"), S("a\r.\rb\r\n") },
		{ S("a\r\r\n.\r\n"), S("a\r\r\n") },
		{ S("a\r\n.\nb\r\n.\r\n"), S("a\r\n\nb\r\n") },
		{ S("a\r\n.\rb\r\n.\r\n"), S("a\r\n\rb\r\n") },
		{ S("\n.\r\n.\r\n"), S("\n.\r\n") },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct result r;

		run(cases[i].in, cases[i].inlen, 0, 0, false, &r);
		assert_true(r.done);
		assert_true(r.bare_eol);
		assert_bytes(&r.out, cases[i].out, cases[i].outlen);
		result_free(&r);
	}
	/* plain CRLF text never sets it */
	{
		struct result r;

		run(S("a\r\nb\r\n\r\n..\r\n.\r\n"), 0, 0, false, &r);
		assert_false(r.bare_eol);
		result_free(&r);
	}
}

static void
test_max_line(void **state)
{
	struct result r;
	char big[3000];
	size_t step;

	(void)state;
	/* max_line counts octets including CRLF: 8 + 2 = 10 fits */
	run(S("12345678\r\n.\r\n"), 0, 10, false, &r);
	assert_false(r.long_line);
	result_free(&r);
	run(S("123456789\r\n.\r\n"), 0, 10, false, &r);
	assert_true(r.long_line);
	assert_true(r.done);
	result_free(&r);
	/* the stuffed dot does not count (RFC 5321 §4.5.3.1.6) */
	run(S(".12345678\r\n.\r\n"), 0, 10, false, &r);
	assert_false(r.long_line);
	result_free(&r);
	/* each line on its own */
	run(S("12345678\r\n12345678\r\n1234\r\n.\r\n"), 0, 10, false, &r);
	assert_false(r.long_line);
	result_free(&r);
	/* the long line may be the last one, or split across chunks */
	for (step = 0; step < 5; step++) {
		run(S("1\r\n12345678901\r\n.\r\n"), step, 10, false, &r);
		assert_true(r.long_line);
		result_free(&r);
	}
	/* bare line ends do not end a line for the count */
	run(S("12345\n12345\r\n.\r\n"), 0, 10, false, &r);
	assert_true(r.long_line);
	result_free(&r);
	/* 0 means no limit */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 5, "\r\n.\r\n", 5);
	run(big, sizeof(big), 0, 0, false, &r);
	assert_false(r.long_line);
	assert_true(r.done);
	result_free(&r);
	run(big, sizeof(big), 0, 1000, false, &r);
	assert_true(r.long_line);
	assert_true(r.done);
	assert_int_equal(r.out.len, sizeof(big) - 3);
	result_free(&r);
}

static void
test_discard(void **state)
{
	static const char in[] = "Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n";
	struct result keep, drop;
	struct smtp_data d;
	struct buf out = BUF_INIT;
	size_t a, b;

	(void)state;
	run(in, sizeof(in) - 1, 0, 0, false, &keep);
	run(in, sizeof(in) - 1, 0, 0, true, &drop);
	assert_true(drop.done);
	assert_int_equal(drop.consumed, keep.consumed);
	assert_int_equal(drop.out.len, 0);
	assert_int_equal(drop.size, keep.size);
	assert_int_equal(keep.size, keep.out.len);
	result_free(&keep);
	result_free(&drop);

	/* switched on mid-message, as the session does past the size limit */
	smtp_data_init(&d, 0);
	a = smtp_data_feed(&d, in, 10, &out);
	assert_int_equal(a, 10);
	assert_int_equal(out.len, 10);
	d.discard = true;
	b = smtp_data_feed(&d, in + a, sizeof(in) - 1 - a, &out);
	assert_true(d.done);
	assert_int_equal(a + b, sizeof(in) - 1 - 6);
	assert_int_equal(out.len, 10);
	assert_int_equal(d.size, strlen("Subject: x\r\n\r\n.dot\r\nbody\r\n"));
	buf_release(&out);
}

/* A large random-ish body: chunking must not matter. */
static void
test_chunking_random(void **state)
{
	static const char alphabet[] = "..\r\n\r\nab \n\r.";
	char in[4096];
	struct result one, r;
	size_t i;
	unsigned seed = 12345;
	size_t steps[] = { 1, 2, 3, 7, 64, 1000 };

	(void)state;
	for (i = 0; i < sizeof(in); i++) {
		seed = seed * 1103515245u + 12345u;
		in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
	}
	run(in, sizeof(in), 0, 20, false, &one);
	for (i = 0; i < NELEM(steps); i++) {
		run(in, sizeof(in), steps[i], 20, false, &r);
		assert_int_equal(r.done, one.done);
		assert_int_equal(r.consumed, one.consumed);
		assert_int_equal(r.bare_eol, one.bare_eol);
		assert_int_equal(r.long_line, one.long_line);
		assert_int_equal(r.size, one.size);
		assert_bytes(&r.out, one.out.data, one.out.len);
		result_free(&r);
	}
	result_free(&one);
}


/* BDAT content in up to three pieces, as chunks arrive. */
static void
raw3(const char *in, size_t n, size_t a, size_t b, size_t max_line,
    struct smtp_data *d)
{
	smtp_data_init(d, max_line);
	smtp_data_check_raw(d, in, a);
	smtp_data_check_raw(d, in + a, b - a);
	smtp_data_check_raw(d, in + b, n - b);
	smtp_data_raw_end(d);
}

static void
test_raw(void **state)
{
	static const struct {
		const char *in;
		size_t max_line;
		bool bare_eol, long_line;
	} cases[] = {
		{ "", 10, false, false },
		{ "12345678\r\n", 10, false, false },
		{ "123456789\r\n", 10, false, true },
		{ "12345678\r\n12345678\r\n1234", 10, false, false },
		{ "1\r\n12345678901\r\n", 10, false, true },
		{ "12345678901", 10, false, true },            /* no CRLF at all */
		{ "1234567890", 10, false, false },
		/* dots are content: no unstuffing, no end */
		{ ".12345678\r\n", 10, false, true },
		{ "x\r\n.\r\ny\r\n", 10, false, false },
		/* bare line ends: refused, and no line end for the count */
		{ "12345\n12345\r\n", 10, true, true },
		{ "12345\r12345\r\n", 10, true, true },
		{ "a\nb\r\n", 0, true, false },
		{ "a\r\rb\r\n", 0, true, false },
		{ "a\r\n\n", 0, true, false },
		{ "a\r", 0, true, false },                     /* CR at the end */
		{ "\r", 0, true, false },
		{ "\n", 0, true, false },
		{ "a\r\n\r\n", 0, false, false },
		/* 0: no limit */
		{ "1234567890123456789012345678901234567890\r\n", 0, false, false },
	};
	size_t i, a, b;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		const char *in = cases[i].in;
		size_t n = strlen(in);

		/* every split into up to three chunks, empty ones too */
		for (a = 0; a <= n; a++) {
			for (b = a; b <= n; b++) {
				struct smtp_data d;

				raw3(in, n, a, b, cases[i].max_line, &d);
				if (d.bare_eol != cases[i].bare_eol || d.long_line != cases[i].long_line)
					fail_msg("case %zu split %zu/%zu: bare %d long %d", i, a, b,
					    d.bare_eol, d.long_line);
			}
		}
		/* and DATA says the same of it, where it is a DATA body too (no
		 * dot to unstuff, ends with CR LF) */
		if (n >= 2 && memcmp(in + n - 2, "\r\n", 2) == 0 && in[0] != '.' &&
		    strstr(in, "\n.") == NULL) {
			struct buf body = BUF_INIT;
			struct result r;

			buf_append(&body, in, n);
			buf_append_str(&body, ".\r\n");
			run(body.data, body.len, 0, cases[i].max_line, false, &r);
			assert_true(r.done);
			assert_int_equal(r.bare_eol, cases[i].bare_eol);
			assert_int_equal(r.long_line, cases[i].long_line);
			result_free(&r);
			buf_release(&body);
		}
	}
}

/* A long BDAT body: the line count runs across any chunking. */
static void
test_raw_long(void **state)
{
	char in[5000];
	struct smtp_data one, d;
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = i % 1001 == 999 ? '\r' : i % 1001 == 1000 ? '\n' : 'k';
	smtp_data_init(&one, 1001);    /* 999 + CR LF = 1001 fits */
	smtp_data_check_raw(&one, in, sizeof(in));
	smtp_data_raw_end(&one);
	assert_false(one.long_line);
	assert_false(one.bare_eol);
	for (step = 1; step < 1100; step += 37) {
		smtp_data_init(&d, 1000);
		for (i = 0; i < sizeof(in); i += step)
			smtp_data_check_raw(&d, in + i, sizeof(in) - i < step ? sizeof(in) - i : step);
		smtp_data_raw_end(&d);
		assert_true(d.long_line);
		assert_false(d.bare_eol);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unstuff),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_not_the_end),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_consumed_stops),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_bare_eol_bytes),
		cmocka_unit_test(test_max_line),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_chunking_random),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_raw_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
