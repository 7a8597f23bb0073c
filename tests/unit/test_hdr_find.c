/*
 * test_hdr_find: the fields of one name found in a streaming header, with
 * their exact offsets and lengths (what the SMTP server cuts out), their
 * values' beginnings, folding, the end of the header, a message that is
 * all header, and every chunking giving the same answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/buf.h"
#include "proto/hdr_find.h"

static void
feed_split(struct hdr_find *f, const char *msg, size_t step)
{
	size_t len = strlen(msg), i;

	hdr_find_init(f, "Authentication-Results");
	for (i = 0; i < len; i += step)
		hdr_find_feed(f, msg + i, len - i < step ? len - i : step);
	hdr_find_end(f);
}

static void
test_finds_fields(void **state)
{
	static const char msg[] =
	    "Received: x\r\n"
	    "Authentication-Results: mx.example; spf=pass\r\n"
	    "Subject: hi\r\n"
	    "authentication-results : (c)\r\n mx.example;\r\n\tdkim=pass\r\n"
	    "From: a@b\r\n"
	    "\r\n"
	    "Authentication-Results: in the body\r\n";
	size_t step;

	(void)state;
	for (step = 1; step <= sizeof(msg); step++) {
		struct hdr_find f;

		feed_split(&f, msg, step);
		assert_true(f.done);
		assert_int_equal(f.nfound, 2);
		assert_int_equal(f.found[0].off, 13);
		assert_int_equal(f.found[0].len, 46);
		assert_memory_equal(msg + f.found[0].off, "Authentication-Results: mx", 26);
		assert_string_equal(f.found[0].value, " mx.example; spf=pass");
		assert_false(f.found[0].cut);
		assert_memory_equal(msg + f.found[1].off, "authentication-results :", 24);
		assert_memory_equal(msg + f.found[1].off + f.found[1].len, "From:", 5);
		assert_string_equal(f.found[1].value, " (c)\r\n mx.example;\r\n\tdkim=pass");
		hdr_find_release(&f);
	}
}

static void
test_cut_out(void **state)
{
	/* What the server does with the offsets: the rest stays intact. */
	static const char msg[] =
	    "A: 1\r\nAuthentication-Results: x; none\r\nB: 2\r\n\r\nbody\r\n";
	struct hdr_find f;
	struct buf b = BUF_INIT;

	(void)state;
	feed_split(&f, msg, 7);
	assert_int_equal(f.nfound, 1);
	buf_append(&b, msg, strlen(msg));
	buf_cut(&b, f.found[0].off, f.found[0].len);
	assert_string_equal(buf_cstr(&b), "A: 1\r\nB: 2\r\n\r\nbody\r\n");
	buf_release(&b);
	hdr_find_release(&f);
}

static void
test_long_value_cut(void **state)
{
	struct buf m = BUF_INIT;
	struct hdr_find f;
	size_t i;

	(void)state;
	buf_append_str(&m, "Authentication-Results: (");
	for (i = 0; i < 2000; i++)
		buf_append_char(&m, 'x');
	buf_append_str(&m, ") mx.example; spf=pass\r\n\r\n");
	feed_split(&f, buf_cstr(&m), 100);
	assert_int_equal(f.nfound, 1);
	assert_true(f.found[0].cut);
	assert_int_equal(f.found[0].len, m.len - 2);
	hdr_find_release(&f);
	buf_release(&m);
}

static void
test_all_header(void **state)
{
	struct hdr_find f;

	(void)state;
	/* No empty line: the last field ends with the message. */
	feed_split(&f, "X: 1\r\nAuthentication-Results: a; none\r\n", 3);
	assert_false(f.done);
	assert_int_equal(f.nfound, 1);
	assert_int_equal(f.found[0].off, 6);
	assert_int_equal(f.found[0].len, 33);
	hdr_find_release(&f);
	feed_split(&f, "Authentication-Results: a; none", 5);
	assert_int_equal(f.nfound, 1);
	assert_int_equal(f.found[0].len, 31);
	hdr_find_release(&f);
}

static void
test_not_a_field(void **state)
{
	struct hdr_find f;

	(void)state;
	feed_split(&f, "Authentication-Results-X: a\r\nAuthentication-Result: b\r\n"
	    "Authentication-Results\r\n\r\n", 4);
	assert_int_equal(f.nfound, 0);
	hdr_find_release(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_fields),
		cmocka_unit_test(test_cut_out),
		cmocka_unit_test(test_long_value_cut),
		cmocka_unit_test(test_all_header),
		cmocka_unit_test(test_not_a_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
