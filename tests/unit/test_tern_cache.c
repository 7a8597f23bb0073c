/*
 * test_tern_cache: tern-cache records (proto/tern_cache.c): written and
 * read back; a record cut short, a flipped octet, another file's bytes
 * and each field out of range are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/tern_cache.h"

static void
test_round_trip(void **state)
{
	static const char base[] = "1700000003.M3P1.host,S=17";
	static const char data[] = "(\"Mon, 1 Jan 2024 00:00:00 +0000\" \"hi\" NIL)";
	struct tern_cache_rec r = { .uid = 7, .field = 1, .base = base, .base_len = sizeof(base) - 1,
		.data = data, .data_len = sizeof(data) - 1 }, back;
	struct buf b = BUF_INIT;
	size_t n, i;

	(void)state;
	assert_int_equal(tern_cache_rec_encode(&r, &b), 0);
	/* two records, one after the other, as appends leave them */
	r.uid = 8;
	r.field = 3;
	r.data_len = 0;
	assert_int_equal(tern_cache_rec_encode(&r, &b), 0);
	n = tern_cache_rec_read(b.data, b.len, &back);
	assert_int_equal(n, TERN_CACHE_REC_HDR + sizeof(base) - 1 + sizeof(data) - 1);
	assert_int_equal(tern_cache_rec_size(b.data), n);
	assert_memory_equal(b.data, "TCR1", 4);
	assert_true(tern_cache_rec_ok(&back));
	assert_int_equal(back.uid, 7);
	assert_int_equal(back.field, 1);
	assert_int_equal(back.base_len, sizeof(base) - 1);
	assert_memory_equal(back.base, base, back.base_len);
	assert_int_equal(back.data_len, sizeof(data) - 1);
	assert_memory_equal(back.data, data, back.data_len);
	assert_int_equal(tern_cache_rec_read(b.data + n, b.len - n, &back), b.len - n);
	assert_true(tern_cache_rec_ok(&back));
	assert_int_equal(back.uid, 8);
	assert_int_equal(back.field, 3);
	assert_int_equal(back.data_len, 0);
	/* cut anywhere: not a whole record */
	for (i = 0; i < n; i++)
		assert_int_equal(tern_cache_rec_read(b.data, i, &back), 0);
	/* any octet flipped: refused by the header or the checksum */
	for (i = 0; i < n; i++) {
		b.data[i] ^= 0x20;
		assert_false(tern_cache_rec_read(b.data, b.len, &back) != 0 && tern_cache_rec_ok(&back) &&
		    back.uid == 7 && back.data_len == sizeof(data) - 1 &&
		    memcmp(back.data, data, back.data_len) == 0 &&
		    memcmp(back.base, base, back.base_len) == 0 && back.field == 1);
		b.data[i] ^= 0x20;
	}
	/* another file's bytes */
	assert_int_equal(tern_cache_rec_read(TERN_CACHE_HEADER "xxxxxxxxxxxxxxxxxxxxxxxxxx", 39,
	    &back), 0);
	buf_release(&b);
}

static void
test_refused(void **state)
{
	struct tern_cache_rec r = { .uid = 7, .field = 0, .base = "b", .base_len = 1, .data = "d",
		.data_len = 1 };
	struct buf b = BUF_INIT;
	char hdr[TERN_CACHE_REC_HDR];

	(void)state;
	r.field = TERN_CACHE_FIELDS;
	assert_int_equal(tern_cache_rec_encode(&r, &b), -1);
	r.field = 0;
	r.uid = 0;
	assert_int_equal(tern_cache_rec_encode(&r, &b), -1);
	r.uid = 7;
	r.base_len = 0;
	assert_int_equal(tern_cache_rec_encode(&r, &b), -1);
	r.base_len = 256;
	assert_int_equal(tern_cache_rec_encode(&r, &b), -1);
	r.base_len = 1;
	r.data_len = TERN_CACHE_DATA_MAX + 1;
	assert_int_equal(tern_cache_rec_encode(&r, &b), -1);
	r.data_len = 1;
	assert_int_equal(b.len, 0);
	assert_int_equal(tern_cache_rec_encode(&r, &b), 0);
	/* headers that are not a record's */
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[12] = TERN_CACHE_FIELDS;
	assert_int_equal(tern_cache_rec_size(hdr), 0);
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[13] = 0;
	assert_int_equal(tern_cache_rec_size(hdr), 0);
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[14] = 1;
	assert_int_equal(tern_cache_rec_size(hdr), 0);
	memcpy(hdr, b.data, sizeof(hdr));
	hdr[7] = 0x7f;   /* a data length over the maximum */
	assert_int_equal(tern_cache_rec_size(hdr), 0);
	memcpy(hdr, b.data, sizeof(hdr));
	memset(hdr + 8, 0, 4);   /* uid 0 */
	assert_int_equal(tern_cache_rec_size(hdr), 0);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
