/*
 * test_maildirsize: the Maildir++ quota file as Dovecot writes and
 * trusts it.
 *
 * "Dovecot 2.3.19" files were written by Dovecot 2.3.19.1 on this
 * project's machine, quota plugin with `quota = maildir:User quota` and
 * `quota_rule = *:storage=1M` (docs/mailbox-formats.md): dovecot-lda
 * deliveries of 100, 62 and 44 octets, a `doveadm expunge`, and
 * `doveadm quota recalc` under the rules named. "Dovecot trusted" and
 * "Dovecot recalculated" say what `doveadm quota get` did when we put
 * the file in place: trusted shows the file's sums, recalculated shows
 * the real 406 octets in 5 messages and rewrites the file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/maildirsize.h"

#define SIZE MAILDIRSIZE_RECALC_SIZE_REACHED
#define BAD MAILDIRSIZE_RECALC_MALFORMED
#define NEG MAILDIRSIZE_RECALC_NEGATIVE
#define EMPTY MAILDIRSIZE_RECALC_EMPTY

static void
test_files(void **state)
{
	static const struct {
		const char *data;
		unsigned recalc;
		uint64_t bytes_limit, count_limit;
		bool header_ok;
		int64_t bytes, count;
		size_t lines;
	} t[] = {
		/* Dovecot 2.3.19: created on the first delivery (an empty
		 * Maildir recalculated: "0 0"), then one line per delivery, one
		 * per expunge */
		{ "1048576S\n0 0\n100 1\n100 1\n100 1\n100 1\n-100 -1\n62 1\n44 1\n",
		  0, 1048576, 0, true, 406, 5, 8 },
		/* Dovecot 2.3.19: `doveadm quota recalc` under each rule */
		{ "1048576S\n406 5\n", 0, 1048576, 0, true, 406, 5, 1 },       /* storage=1M */
		{ "1048576S,10C\n406 5\n", 0, 1048576, 10, true, 406, 5, 1 },  /* storage=1M:messages=10 */
		{ "10C\n406 5\n", 0, 0, 10, true, 406, 5, 1 },                /* messages=10 */
		{ "0S\n406 5\n", 0, 0, 0, true, 406, 5, 1 },                  /* storage=0 */
		/* the header in either order, and what is not a header part */
		{ "10C,2048S\n0 0\n", 0, 2048, 10, true, 0, 0, 1 },
		{ "abcS\n0 0\n", 0, 0, 0, false, 0, 0, 1 },
		{ "10X,5S\n0 0\n", 0, 5, 0, false, 0, 0, 1 },
		{ "5S,\n0 0\n", 0, 5, 0, false, 0, 0, 1 },
		{ "S\n0 0\n", 0, 0, 0, false, 0, 0, 1 },
		{ "\n0 0\n", 0, 0, 0, false, 0, 0, 1 },
		{ "99999999999999999999S\n0 0\n", 0, 0, 0, false, 0, 0, 1 },
		{ "18446744073709551615S\n0 0\n", 0, INT64_MAX, 0, true, 0, 0, 1 },
		/* Dovecot trusted: 1000 octets, 1 message */
		{ "1048576S\n5000 9\n-4000 -8\n", 0, 1048576, 0, true, 1000, 1, 2 },
		/* Dovecot trusted, ignoring the cut last line */
		{ "1048576S\n999 9\n5 1", 0, 1048576, 0, true, 999, 9, 1 },
		/* Dovecot recalculated: a line that is not two numbers */
		{ "1048576S\n999 9\nabc\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n5\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n0x10 1\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n1e3 1\n", BAD, 1048576, 0, true, 999, 9, 1 },
		/* Dovecot trusted these (sscanf); we recalculate, which is
		 * always safe: only what the writers write is taken */
		{ "1048576S\n999 9\n5 1 junk\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n 5 1\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n+5 +1\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n5\t1\n", BAD, 1048576, 0, true, 999, 9, 1 },
		{ "1048576S\n999 9\n5 1\r\n", BAD, 1048576, 0, true, 999, 9, 1 },
		/* Dovecot recalculated: a negative sum */
		{ "1048576S\n999 9\n-2000 -1\n", NEG, 1048576, 0, true, -1001, 8, 2 },
		{ "1048576S\n999 -9\n", NEG, 1048576, 0, true, 999, -9, 1 },
		/* Dovecot read these as 0 octets in 0 messages, though its code
		 * means to rebuild a file without usage: we recalculate */
		{ "1048576S\n", EMPTY, 1048576, 0, true, 0, 0, 0 },
		{ "1048576S\n999 9", EMPTY, 1048576, 0, true, 0, 0, 0 },
		{ "", EMPTY, 0, 0, false, 0, 0, 0 },
		{ "1048576S", EMPTY, 0, 0, false, 0, 0, 0 },
		/* sums past 64 bits, counts past Dovecot's int */
		{ "0S\n9223372036854775807 0\n1 0\n", BAD, 0, 0, true, INT64_MAX, 0, 1 },
		{ "0S\n-9223372036854775808 0\n9223372036854775807 1\n", NEG, 0, 0, true, -1, 1, 2 },
		{ "0S\n9223372036854775808 0\n", BAD, 0, 0, true, 0, 0, 0 },
		{ "0S\n0 2147483647\n", 0, 0, 0, true, 0, INT32_MAX, 1 },
		{ "0S\n0 2147483648\n", BAD, 0, 0, true, 0, 0, 0 },
		{ "0S\n0 -2147483648\n", NEG, 0, 0, true, 0, INT32_MIN, 1 },
		{ "0S\n- 1\n", BAD, 0, 0, true, 0, 0, 0 },
		{ "0S\n1 -\n", BAD, 0, 0, true, 0, 0, 0 },
		{ "0S\n1  1\n", BAD, 0, 0, true, 0, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct maildirsize m;
		unsigned r = maildirsize_parse(t[i].data, strlen(t[i].data), &m);

		if (r != t[i].recalc || m.recalc != r)
			fail_msg("%zu \"%s\": recalc %#x want %#x", i, t[i].data, r, t[i].recalc);
		if (m.bytes_limit != t[i].bytes_limit || m.count_limit != t[i].count_limit ||
		    m.header_ok != t[i].header_ok)
			fail_msg("%zu \"%s\": limits %llu %llu ok %d", i, t[i].data,
			    (unsigned long long)m.bytes_limit,
			    (unsigned long long)m.count_limit, m.header_ok);
		if (r & BAD)
			continue;   /* the sums stop at the bad line */
		if (m.bytes != t[i].bytes || m.count != t[i].count || m.lines != t[i].lines)
			fail_msg("%zu \"%s\": %lld %lld in %zu lines", i, t[i].data,
			    (long long)m.bytes, (long long)m.count, m.lines);
	}
	/* a NUL: Dovecot recalculated */
	{
		static const char nul[] = "1048576S\n0 0\n1\0 1\n";
		struct maildirsize m;

		assert_int_equal(maildirsize_parse(nul, sizeof(nul) - 1, &m), BAD);
	}
}

/* Dovecot 2.3.19 recalculated a file of 5120 octets and trusted one of
 * 5119 ("1048576S\n406 5\n", then "0 0" lines, then "0 00" or "0 0"). */
static void
test_size(void **state)
{
	char data[MAILDIRSIZE_RECALC_SIZE + 8];
	size_t len = 0, i;
	struct maildirsize m;

	(void)state;
	len += (size_t)snprintf(data, sizeof(data), "1048576S\n406 5\n");
	for (i = 0; i < 1275; i++) {
		memcpy(data + len, "0 0\n", 4);
		len += 4;
	}
	memcpy(data + len, "0 00\n", 5);
	assert_int_equal(len + 5, 5120);
	assert_int_equal(maildirsize_parse(data, len + 5, &m), SIZE);
	/* the sums and limits are still there for a reader that takes the
	 * limits from the file */
	assert_int_equal(m.bytes, 406);
	assert_int_equal(m.count, 5);
	assert_int_equal(m.bytes_limit, 1048576);
	memcpy(data + len, "0 0\n", 4);
	assert_int_equal(maildirsize_parse(data, len + 4, &m), 0);
	assert_int_equal(m.lines, 1277);
}

/* Dovecot 2.3.19 (quota_rule = *:storage=1M): "1048576S\n2000000 9\n"
 * was trusted (a recalculated file, fresh), "1048576S\n2000000 9\n0 0\n"
 * recalculated (over quota, more than one line). */
static void
test_over_quota(void **state)
{
	struct maildirsize m;
	const char *one = "1048576S\n2000000 9\n", *two = "1048576S\n2000000 9\n0 0\n";

	(void)state;
	assert_int_equal(maildirsize_parse(one, strlen(one), &m), 0);
	assert_false(maildirsize_over_quota_stale(&m, 1048576, 0, 1000, 1000));
	assert_false(maildirsize_over_quota_stale(&m, 1048576, 0, 1000,
	    1000 + MAILDIRSIZE_STALE_SECS));
	assert_true(maildirsize_over_quota_stale(&m, 1048576, 0, 1000,
	    1001 + MAILDIRSIZE_STALE_SECS));
	assert_int_equal(maildirsize_parse(two, strlen(two), &m), 0);
	assert_true(maildirsize_over_quota_stale(&m, 1048576, 0, 1000, 1000));
	/* not over: nothing to distrust */
	assert_false(maildirsize_over_quota_stale(&m, 0, 0, 0, 1000000));
	assert_false(maildirsize_over_quota_stale(&m, 2000000, 9, 0, 1000000));
	assert_true(maildirsize_over_quota_stale(&m, 0, 8, 0, 1000000));
	assert_true(maildirsize_over_quota_stale(&m, 1999999, 0, 0, 1000000));
}

static void
test_encode(void **state)
{
	static const struct {
		uint64_t bytes, count;
		const char *want;
	} h[] = {
		/* Dovecot 2.3.19's headers, from the rules in test_files */
		{ 1048576, 0, "1048576S\n" },
		{ 1048576, 10, "1048576S,10C\n" },
		{ 0, 10, "10C\n" },
		{ 0, 0, "0S\n" },
		{ UINT64_MAX, UINT64_MAX, "18446744073709551615S,18446744073709551615C\n" },
	};
	static const struct {
		int64_t bytes, count;
		const char *want;
	} d[] = {
		/* Dovecot 2.3.19's lines */
		{ 100, 1, "100 1\n" },
		{ -100, -1, "-100 -1\n" },
		{ 0, 0, "0 0\n" },
		{ INT64_MIN, INT32_MIN, "-9223372036854775808 -2147483648\n" },
		{ INT64_MAX, INT32_MAX, "9223372036854775807 2147483647\n" },
		{ 1, (int64_t)INT32_MAX + 1, NULL },
		{ 1, (int64_t)INT32_MIN - 1, NULL },
	};
	char out[2 * MAILDIRSIZE_LINE_MAX];   /* a header and a line */
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		struct maildirsize m;

		n = maildirsize_header(h[i].bytes, h[i].count, out, sizeof(out));
		assert_int_equal(n, strlen(h[i].want));
		assert_string_equal(out, h[i].want);
		/* a header and the totals read back as a fresh file */
		assert_int_equal(maildirsize_delta(406, 5, out + n, sizeof(out) - n), 6);
		assert_int_equal(maildirsize_parse(out, n + 6, &m), 0);
		assert_true(m.header_ok);
		assert_true(m.bytes_limit == (h[i].bytes > INT64_MAX ? INT64_MAX : h[i].bytes));
		assert_true(m.count_limit == (h[i].count > INT64_MAX ? INT64_MAX : h[i].count));
	}
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		n = maildirsize_delta(d[i].bytes, d[i].count, out, sizeof(out));
		if (d[i].want == NULL) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_equal(n, strlen(d[i].want));
		assert_string_equal(out, d[i].want);
	}
	/* too small an array */
	assert_int_equal(maildirsize_header(1048576, 0, out, 9), 0);
	assert_int_equal(maildirsize_header(1048576, 0, out, 10), 9);
	assert_int_equal(maildirsize_delta(100, 1, out, 6), 0);
	assert_int_equal(maildirsize_delta(100, 1, out, 7), 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_over_quota),
		cmocka_unit_test(test_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
