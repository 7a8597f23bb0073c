/*
 * test_buf: the growable string. Appends keep a NUL after the data, also
 * across growth; a stream is read whole however it grows, after what the
 * buffer held; a read error is reported with what was read kept; wiping
 * leaves an empty buffer that can be used again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/buf.h"

static void
test_append(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_append_char(&b, 'x'), 0);
	assert_int_equal(b.len, 1003);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "y"), 0);
	assert_string_equal(buf_cstr(&b), "42-y");
	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len + b.cap, 0);
}

static void
test_append_stream(void **state)
{
	/* Sizes around the 4096-octet reads and the doubling from 64. */
	static const struct {
		size_t before, size;
	} t[] = {
		{ 0, 0 }, { 0, 1 }, { 0, 63 }, { 0, 64 }, { 0, 4095 }, { 0, 4096 },
		{ 0, 4097 }, { 0, 8191 }, { 0, 100000 },
		{ 5, 0 }, { 5, 4091 }, { 60, 5000 }, { 3000, 100000 },
	};
	static char text[100000], head[3000];
	size_t i, k;

	(void)state;
	for (k = 0; k < sizeof(text); k++)
		text[k] = (char)(k * 31 % 251);   /* NULs included */
	memset(head, 'h', sizeof(head));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf b = BUF_INIT;
		/* fmemopen wants a size of 1 at least: read that octet first. */
		FILE *f = fmemopen(text, t[i].size ? t[i].size : 1, "r");

		assert_non_null(f);
		if (t[i].size == 0)
			assert_int_equal(fgetc(f), text[0]);
		assert_int_equal(buf_append(&b, head, t[i].before), 0);
		assert_int_equal(buf_append_stream(&b, f), 0);
		fclose(f);
		assert_int_equal(b.len, t[i].before + t[i].size);
		assert_memory_equal(b.data, head, t[i].before);
		if (t[i].size)
			assert_memory_equal(b.data + t[i].before, text, t[i].size);
		assert_int_equal(b.data[b.len], '\0');
		buf_wipe(&b);
		assert_null(b.data);
		assert_int_equal(b.len + b.cap, 0);
		assert_int_equal(buf_append(&b, "again", 5), 0);
		assert_string_equal(buf_cstr(&b), "again");
		buf_wipe(&b);
	}
	buf_wipe(&(struct buf)BUF_INIT);   /* nothing to wipe */
}

/* A stream that cannot be read (opened for writing): -1, and what the
 * buffer held stays. */
static void
test_append_stream_error(void **state)
{
	struct buf b = BUF_INIT;
	FILE *f = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(buf_append(&b, "kept", 4), 0);
	assert_int_equal(buf_append_stream(&b, f), -1);
	assert_string_equal(buf_cstr(&b), "kept");
	fclose(f);
	buf_wipe(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_append_stream),
		cmocka_unit_test(test_append_stream_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
