/*
 * test_dnsq: the replay model's answer cache (a miss records the query
 * wanted, names compare without case or final dot), the query-name
 * check, TXT character-strings joined, and query names escaped for the
 * resolver so that no octet a macro put there changes the name asked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/dnsq.h"

static void
test_cache(void **state)
{
	struct dnsq_cache c;
	const struct dnsq_answer *a;
	static const uint8_t ip[4] = { 192, 0, 2, 1 };
	const uint8_t *rr[1] = { ip };
	size_t len[1] = { 4 };
	(void)state;

	dnsq_init(&c);
	assert_null(dnsq_get(&c, "Example.ORG.", DNSQ_A));
	assert_true(c.need);
	assert_string_equal(c.need_name, "Example.ORG");   /* final dot dropped */
	assert_int_equal(c.need_type, DNSQ_A);
	/* the first miss wins until an answer is put */
	assert_null(dnsq_get(&c, "other.example", DNSQ_TXT));
	assert_string_equal(c.need_name, "Example.ORG");   /* final dot dropped */
	assert_int_equal(dnsq_put(&c, "example.org", DNSQ_A, DNSQ_OK, rr, len, 1), 0);
	assert_false(c.need);
	a = dnsq_get(&c, "EXAMPLE.org.", DNSQ_A);
	assert_non_null(a);
	assert_int_equal(a->st, DNSQ_OK);
	assert_int_equal(a->n, 1);
	assert_memory_equal(a->rr[0], ip, 4);
	assert_null(dnsq_get(&c, "example.org", DNSQ_AAAA));   /* another type */
	assert_int_equal(dnsq_put(&c, "example.org", DNSQ_AAAA, DNSQ_NODATA, NULL, NULL, 0), 0);
	assert_int_equal(dnsq_get(&c, "example.org", DNSQ_AAAA)->st, DNSQ_NODATA);
	dnsq_release(&c);
}

static void
test_name_ok(void **state)
{
	char long_label[80], long_name[300];
	size_t i;
	(void)state;

	assert_true(dnsq_name_ok("a.example"));
	assert_true(dnsq_name_ok("a.example."));
	assert_false(dnsq_name_ok(""));
	assert_false(dnsq_name_ok("a..example"));
	assert_false(dnsq_name_ok(".example"));
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".example");
	assert_false(dnsq_name_ok(long_label));
	for (i = 0; i < 127; i++)
		memcpy(long_name + 2 * i, "a.", 2);
	strcpy(long_name + 254, "b");
	assert_false(dnsq_name_ok(long_name));
}

static void
test_txt(void **state)
{
	static const uint8_t two[] = { 3, 'v', '=', 's', 4, 'p', 'f', '1', ' ' };
	static const uint8_t bad[] = { 5, 'a', 'b' };
	char out[16];
	(void)state;

	assert_int_equal(dnsq_txt(two, sizeof(two), out, sizeof(out)), 7);
	assert_string_equal(out, "v=spf1 ");
	assert_int_equal(dnsq_txt(bad, sizeof(bad), out, sizeof(out)), -1);
	assert_int_equal(dnsq_txt(two, sizeof(two), out, 5), -1);
}

static void
test_qname_escape(void **state)
{
	char out[DNSQ_QNAME_MAX];
	(void)state;

	assert_int_equal(dnsq_qname_escape("_spf.Example-1.org", out, sizeof(out)), 0);
	assert_string_equal(out, "_spf.Example-1.org");
	assert_int_equal(dnsq_qname_escape("a b\\c%d.e", out, sizeof(out)), 0);
	assert_string_equal(out, "a\\032b\\092c\\037d.e");
	assert_int_equal(dnsq_qname_escape("\xff", out, sizeof(out)), 0);
	assert_string_equal(out, "\\255");
	assert_int_equal(dnsq_qname_escape("a b", out, 5), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_qname_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
