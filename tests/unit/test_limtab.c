/*
 * test_limtab: the bounded table of expiring counters that AUTH failures
 * are counted in. Counts per key, expiry after the window, a capacity that
 * never grows (the least recently touched key goes), and the address
 * prefixes clients are counted under (IPv4 /32, IPv6 /64).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/limtab.h"

#define K(lit) lit, sizeof(lit) - 1

static void
test_counts_and_expiry(void **state)
{
	struct limtab *t = limtab_new(8, 900);

	(void)state;
	assert_non_null(t);
	assert_int_equal(limtab_count(t, K("a"), 1000), 0);
	assert_int_equal(limtab_add(t, K("a"), 1000), 1);
	assert_int_equal(limtab_add(t, K("a"), 1001), 2);
	assert_int_equal(limtab_add(t, K("b"), 1001), 1);
	assert_int_equal(limtab_count(t, K("a"), 1899), 2);
	/* The window runs from the first count, not the last. */
	assert_int_equal(limtab_count(t, K("a"), 1900), 0);
	assert_int_equal(limtab_add(t, K("a"), 1900), 1);
	/* Keys are bytes: NULs and prefixes do not merge. */
	assert_int_equal(limtab_add(t, "a\0x", 3, 1900), 1);
	assert_int_equal(limtab_add(t, "a\0", 2, 1900), 1);
	assert_int_equal(limtab_count(t, K("a"), 1900), 1);
	/* A clock that went back does not keep an old count forever. */
	assert_int_equal(limtab_count(t, K("b"), 10), 0);
	limtab_free(&t);
	assert_null(t);
}

static void
test_capacity_is_fixed(void **state)
{
	struct limtab *t = limtab_new(64, 900);
	struct limtab_stats st;
	char key[32];
	int i;

	(void)state;
	assert_non_null(t);
	/* A key counted often and recently survives a flood of new ones. */
	for (i = 0; i < 10000; i++) {
		int n = snprintf(key, sizeof(key), "user%d", i);

		assert_int_equal(limtab_add(t, key, (size_t)n, 100), 1);
		if (i % 16 == 0)
			limtab_add(t, K("hot"), 100);
		limtab_stats(t, &st);
		assert_true(st.used <= 64);
	}
	limtab_stats(t, &st);
	assert_int_equal(st.capacity, 64);
	assert_int_equal(st.used, 64);
	assert_true(st.evicted >= 10000 - 64);
	assert_int_equal(limtab_count(t, K("hot"), 100), 10000 / 16);
	/* The oldest keys went, the newest are there. */
	assert_int_equal(limtab_count(t, K("user0"), 100), 0);
	assert_int_equal(limtab_count(t, K("user9999"), 100), 1);
	/* Every chain is still intact: each of the last keys is found. */
	for (i = 10000 - 40; i < 10000; i++) {
		int n = snprintf(key, sizeof(key), "user%d", i);

		assert_int_equal(limtab_count(t, key, (size_t)n, 100), 1);
	}
	limtab_free(&t);
}

static void
test_expired_evictions_not_counted(void **state)
{
	struct limtab *t = limtab_new(2, 10);
	struct limtab_stats st;

	(void)state;
	limtab_add(t, K("a"), 0);
	limtab_add(t, K("b"), 0);
	limtab_add(t, K("c"), 20);     /* "a" had expired: nothing lost */
	limtab_stats(t, &st);
	assert_int_equal(st.evicted, 0);
	limtab_add(t, K("d"), 21);     /* "b" expired too */
	limtab_add(t, K("e"), 22);     /* "c" was live */
	limtab_stats(t, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(limtab_count(t, K("e"), 22), 1);
	assert_int_equal(limtab_count(t, K("d"), 22), 1);
	assert_int_equal(limtab_count(t, K("c"), 22), 0);
	limtab_free(&t);
}

static void
test_looking_keeps_alive(void **state)
{
	struct limtab *t = limtab_new(4, 900);
	char key[16];
	int i;

	(void)state;
	limtab_add(t, K("locked"), 0);
	limtab_add(t, K("locked"), 0);
	for (i = 0; i < 100; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);

		limtab_add(t, key, (size_t)n, 1);
		/* A locked client trying again only looks its count up. */
		assert_int_equal(limtab_count(t, K("locked"), 1), 2);
	}
	limtab_free(&t);
}

static void
test_long_keys_cut(void **state)
{
	struct limtab *t = limtab_new(4, 10);
	char big[LIMTAB_KEY_MAX + 50];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(limtab_add(t, big, sizeof(big), 0), 1);
	assert_int_equal(limtab_add(t, big, LIMTAB_KEY_MAX, 0), 2);
	assert_null(limtab_new(0, 10));
	limtab_free(&t);
}

static void
test_addr_prefix(void **state)
{
	static const struct { int family; const char *a, *b; int same; } cases[] = {
		{ AF_INET, "192.0.2.1", "192.0.2.1", 1 },
		{ AF_INET, "192.0.2.1", "192.0.2.2", 0 },           /* /32 */
		{ AF_INET6, "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 1 },   /* one /64 */
		{ AF_INET6, "2001:db8:1:2::1", "2001:db8:1:3::1", 0 },
		{ AF_INET6, "::1", "::2", 1 },
	};
	unsigned char ra[16], rb[16], pa[9], pb[9];
	size_t i, la, lb;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(ra, 0, sizeof(ra));
		memset(rb, 0, sizeof(rb));
		assert_int_equal(inet_pton(cases[i].family, cases[i].a, ra), 1);
		assert_int_equal(inet_pton(cases[i].family, cases[i].b, rb), 1);
		la = limtab_addr_prefix(cases[i].family, ra, pa);
		lb = limtab_addr_prefix(cases[i].family, rb, pb);
		assert_int_equal(la, cases[i].family == AF_INET ? 5 : 9);
		assert_int_equal(la == lb && memcmp(pa, pb, la) == 0, cases[i].same);
	}
	/* IPv4-mapped IPv6 is the IPv4 address. */
	memset(ra, 0, sizeof(ra));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", ra), 1);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", rb), 1);
	la = limtab_addr_prefix(AF_INET6, ra, pa);
	lb = limtab_addr_prefix(AF_INET, rb, pb);
	assert_int_equal(la, 5);
	assert_memory_equal(pa, pb, 5);
	assert_int_equal(limtab_addr_prefix(AF_UNIX, ra, pa), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_expiry),
		cmocka_unit_test(test_capacity_is_fixed),
		cmocka_unit_test(test_expired_evictions_not_counted),
		cmocka_unit_test(test_looking_keeps_alive),
		cmocka_unit_test(test_long_keys_cut),
		cmocka_unit_test(test_addr_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
