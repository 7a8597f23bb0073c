/*
 * test_dns_cache: answers kept for their TTL (capped), names without case
 * or final dot, temporary errors and TTL 0 never kept, a collision
 * replacing the older answer, empty records, every slot freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns/dns_cache.h"

static const uint8_t txt[] = { 6, 'v', '=', 's', 'p', 'f', '1' };

static void
put_txt(struct dns_cache *c, const char *name, unsigned ttl, int64_t now)
{
	const uint8_t *rr[1] = { txt };
	size_t len[1] = { sizeof(txt) };

	dns_cache_put(c, name, DNSQ_TXT, DNSQ_OK, rr, len, 1, ttl, now);
}

static void
test_kept_for_ttl(void **state)
{
	struct dns_cache *c = dns_cache_new();
	const struct dnsq_answer *a;
	(void)state;

	assert_non_null(c);
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, 100));
	put_txt(c, "Example.ORG.", 60, 100);
	a = dns_cache_get(c, "example.org", DNSQ_TXT, 159);
	assert_non_null(a);
	assert_int_equal(a->st, DNSQ_OK);
	assert_int_equal(a->n, 1);
	assert_memory_equal(a->rr[0], txt, sizeof(txt));
	assert_null(dns_cache_get(c, "example.org", DNSQ_A, 120));    /* another type */
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, 160));  /* expired */
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, 120));  /* and gone */
	/* a TTL of a day is held an hour at most */
	put_txt(c, "example.org", 86400, 0);
	assert_non_null(dns_cache_get(c, "example.org", DNSQ_TXT, DNS_CACHE_TTL_MAX - 1));
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, DNS_CACHE_TTL_MAX));
	dns_cache_free(&c);
	assert_null(c);
}

static void
test_not_kept(void **state)
{
	struct dns_cache *c = dns_cache_new();
	(void)state;

	put_txt(c, "example.org", 0, 0);
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, 0));
	dns_cache_put(c, "example.org", DNSQ_TXT, DNSQ_TEMP, NULL, NULL, 0, 60, 0);
	assert_null(dns_cache_get(c, "example.org", DNSQ_TXT, 0));
	/* negative answers are kept like others */
	dns_cache_put(c, "nx.example.org", DNSQ_TXT, DNSQ_NXDOMAIN, NULL, NULL, 0, 60, 0);
	assert_int_equal(dns_cache_get(c, "nx.example.org", DNSQ_TXT, 1)->st, DNSQ_NXDOMAIN);
	dns_cache_free(&c);
}

/* More names than slots: each get answers its own name or nothing. */
static void
test_collisions(void **state)
{
	struct dns_cache *c = dns_cache_new();
	char name[64];
	const uint8_t *rr[1];
	size_t len[1];
	unsigned i, found = 0;
	(void)state;

	for (i = 0; i < 3 * DNS_CACHE_SLOTS; i++) {
		snprintf(name, sizeof(name), "n%u.example", i);
		rr[0] = (const uint8_t *)name;
		len[0] = strlen(name);
		dns_cache_put(c, name, DNSQ_TXT, DNSQ_OK, rr, len, 1, 60, 0);
	}
	for (i = 0; i < 3 * DNS_CACHE_SLOTS; i++) {
		const struct dnsq_answer *a;

		snprintf(name, sizeof(name), "n%u.example", i);
		if ((a = dns_cache_get(c, name, DNSQ_TXT, 1)) == NULL)
			continue;
		found++;
		assert_int_equal(a->rrlen[0], strlen(name));
		assert_memory_equal(a->rr[0], name, strlen(name));
	}
	assert_true(found > 0 && found <= DNS_CACHE_SLOTS);
	dns_cache_free(&c);
}

static void
test_empty_record(void **state)
{
	struct dns_cache *c = dns_cache_new();
	static const uint8_t one = 0;
	const uint8_t *rr[2] = { NULL, &one };
	size_t len[2] = { 0, 1 };
	const struct dnsq_answer *a;
	(void)state;

	dns_cache_put(c, "e.example", DNSQ_TXT, DNSQ_OK, rr, len, 2, 60, 0);
	a = dns_cache_get(c, "e.example", DNSQ_TXT, 0);
	assert_non_null(a);
	assert_int_equal(a->n, 2);
	assert_int_equal(a->rrlen[0], 0);
	assert_int_equal(a->rrlen[1], 1);
	dns_cache_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_for_ttl),
		cmocka_unit_test(test_not_kept),
		cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_empty_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
