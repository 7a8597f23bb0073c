/*
 * test_mime_decode: base64 and quoted-printable bodies, fed whole, cut
 * in two at every position and one octet at a time (all must agree), and
 * RFC 2047 encoded words to UTF-8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/mime_decode.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct dec_case {
	const char *in;
	const char *want;
};

static const struct dec_case b64_cases[] = {
	{ "", "" },
	{ "aGVsbG8=", "hello" },
	{ "aGVsbG8", "hello" },                 /* padding missing */
	{ "aGVs\r\nbG8gd29y\r\nbGQ=\r\n", "hello world" },
	{ "aGVs bG8*!", "hello" },              /* garbage skipped */
	{ "YQ==YWJj", "a" },                    /* nothing after "=" */
	{ "/+/+", "\xff\xef\xfe" },
};

static const struct dec_case qp_cases[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "caf=C3=A9", "caf\xc3\xa9" },
	{ "caf=c3=a9", "caf\xc3\xa9" },        /* lower-case hex */
	{ "soft=\r\nbreak", "softbreak" },
	{ "soft=\nbreak", "softbreak" },
	{ "soft=  \r\nbreak", "softbreak" },    /* WSP after the "=" */
	{ "trail   \r\nx", "trail\r\nx" },      /* WSP at a line end goes */
	{ "trail \t", "trail" },                /* ... and at the end */
	{ "a b\r\n", "a b\r\n" },
	{ "=\r\n", "" },
	{ "x=", "x" },                           /* soft break at the end */
	{ "=ZZ", "=ZZ" },                        /* no escape: kept */
	{ "=4", "=4" },
	{ "=4\r\n", "=4\r\n" },
	{ "=4g", "=4g" },
	{ "==41", "=A" },
	{ "= x", "= x" },
	{ "a\rb", "a\rb" },                      /* a bare CR is text */
	{ "a \rb", "a \rb" },
	{ "a\r", "a\r" },
};

static void
b64_all(const char *in, size_t n, size_t cut, struct buf *out)
{
	struct b64_dec d;

	b64_dec_init(&d);
	assert_int_equal(b64_dec_feed(&d, in, cut, out), 0);
	assert_int_equal(b64_dec_feed(&d, in + cut, n - cut, out), 0);
}

static void
qp_all(const char *in, size_t n, size_t cut, struct buf *out)
{
	struct qp_dec d;

	qp_dec_init(&d);
	assert_int_equal(qp_dec_feed(&d, in, cut, out), 0);
	assert_int_equal(qp_dec_feed(&d, in + cut, n - cut, out), 0);
	assert_int_equal(qp_dec_finish(&d, out), 0);
}

static void
run(const struct dec_case *c, size_t nc,
    void (*all)(const char *, size_t, size_t, struct buf *),
    int (*feed1)(const char *, size_t, struct buf *))
{
	size_t i, cut;

	for (i = 0; i < nc; i++) {
		size_t n = strlen(c[i].in);

		for (cut = 0; cut <= n; cut++) {
			struct buf out = BUF_INIT;

			all(c[i].in, n, cut, &out);
			if (out.len != strlen(c[i].want) ||
			    (out.len && memcmp(out.data, c[i].want, out.len) != 0))
				fail_msg("\"%s\" cut at %zu: got \"%s\"", c[i].in, cut,
				    buf_cstr(&out));
			buf_release(&out);
		}
		{
			struct buf out = BUF_INIT;

			assert_int_equal(feed1(c[i].in, n, &out), 0);
			assert_string_equal(buf_cstr(&out), c[i].want);
			buf_release(&out);
		}
	}
}

/* One octet at a time. */
static int
b64_bytes(const char *in, size_t n, struct buf *out)
{
	struct b64_dec d;
	size_t i;

	b64_dec_init(&d);
	for (i = 0; i < n; i++)
		if (b64_dec_feed(&d, in + i, 1, out) < 0)
			return -1;
	return 0;
}

static int
qp_bytes(const char *in, size_t n, struct buf *out)
{
	struct qp_dec d;
	size_t i;

	qp_dec_init(&d);
	for (i = 0; i < n; i++)
		if (qp_dec_feed(&d, in + i, 1, out) < 0)
			return -1;
	return qp_dec_finish(&d, out);
}

static void
test_base64(void **state)
{
	struct b64_dec d;
	struct buf out = BUF_INIT;

	(void)state;
	run(b64_cases, NELEM(b64_cases), b64_all, b64_bytes);
	b64_dec_init(&d);
	assert_int_equal(b64_dec_feed(&d, "YW\r\nJj", 6, &out), 0);
	assert_int_equal(d.skipped, 2);
	buf_release(&out);
}

static void
test_qp(void **state)
{
	(void)state;
	run(qp_cases, NELEM(qp_cases), qp_all, qp_bytes);
}

/*
 * Encoded words. Python's email.header (str(make_header(decode_header(s))))
 * gives the same text for the nine rows from "caf" to "two"; it refuses
 * the charset with a language, which RFC 2231 §5 allows.
 */
static const struct dec_case words_cases[] = {
	{ "plain text", "plain text" },
	{ "=?UTF-8?Q?caf=C3=A9?=", "caf\xc3\xa9" },
	{ "=?utf-8?b?Y2Fmw6k=?=", "caf\xc3\xa9" },
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	{ "a =?ISO-8859-1?Q?b?= c", "a b c" },
	/* WSP between words goes, in any charset mix */
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?=\r\n =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a_b?=", "a b" },
	/* a character split across two words */
	{ "=?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?=", "caf\xc3\xa9" },
	{ "=?UTF-8?B?w6k=?= two", "\xc3\xa9 two" },
	/* charset with a language (RFC 2231 §5) */
	{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
	/* unknown charset or malformed: kept */
	{ "=?x-no-such?Q?abc?=", "=?x-no-such?Q?abc?=" },
	{ "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=" },
	{ "=?UTF-8?Q?abc", "=?UTF-8?Q?abc" },
	{ "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=" },
	{ "x=?UTF-8?Q?a?=", "xa" },
	/* octets the charset cannot convert: U+FFFD */
	{ "=?UTF-8?Q?a=FFb?=", "a\xef\xbf\xbd" "b" },
	{ "=?UTF-8?Q?a=C3?=", "a\xef\xbf\xbd" },
	{ "", "" },
	{ "  lead", "  lead" },
	{ "trail  ", "trail  " },
};

static void
test_words(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(words_cases); i++) {
		struct buf out = BUF_INIT;

		assert_int_equal(mime_decode_words(words_cases[i].in,
		    strlen(words_cases[i].in), &out), 0);
		if (strcmp(buf_cstr(&out), words_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\" want \"%s\"", words_cases[i].in,
			    buf_cstr(&out), words_cases[i].want);
		buf_release(&out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
