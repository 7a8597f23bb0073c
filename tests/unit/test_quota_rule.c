/*
 * test_quota_rule: a user's quota from the users file: Dovecot's
 * quota_rule values as Dovecot 2.3 reads them for the "*" rule (storage
 * without a unit is kilobytes, bytes and messages are plain, 0 is no
 * limit, units b k m g t in either case, relative forms refused on "*"),
 * tern's quota=<size>, and the extra fields of a passwd-file line: which
 * keys count, the last one winning, quota=none overriding a default, and
 * the field named when it is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/quota_rule.h"

#define K 1024ull
#define M (1024ull * 1024)
#define G (1024ull * 1024 * 1024)

static void
test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t unit;
		bool ok;
		uint64_t want;
	} t[] = {
		{ "0", 1, true, 0 },
		{ "1024", 1, true, 1024 },
		{ "1024", 1024, true, 1024 * K },
		{ "100M", 1, true, 100 * M },
		{ "100m", 1024, true, 100 * M },
		{ "1K", 1, true, K },
		{ "2g", 1, true, 2 * G },
		{ "1T", 1, true, 1024 * G },
		{ "512B", 1024, true, 512 },
		{ "512b", 1024, true, 512 },
		{ "9223372036854775807", 1, true, QUOTA_RULE_MAX },
		{ "9223372036854775808", 1, false, 0 },      /* over int64 */
		{ "8388608T", 1, false, 0 },                 /* 2^63 octets */
		{ "8388607T", 1, true, 8388607ull << 40 },
		{ "99999999999999999999", 1, false, 0 },
		{ "", 1, false, 0 },
		{ "M", 1, false, 0 },
		{ "100MB", 1, false, 0 },   /* Dovecot reads 100M; we refuse */
		{ "100Mx", 1, false, 0 },
		{ "1.5G", 1, false, 0 },
		{ "-1", 1, false, 0 },
		{ "+1", 1, false, 0 },
		{ " 1", 1, false, 0 },
		{ "1 ", 1, false, 0 },
		{ "10x", 1, false, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 12345;
		bool ok = quota_size_parse(t[i].s, strlen(t[i].s), t[i].unit, &v);

		if (ok != t[i].ok || (ok && v != t[i].want))
			fail_msg("%zu \"%s\": ok %d value %llu", i, t[i].s, ok, (unsigned long long)v);
	}
}

static void
test_rules(void **state)
{
	static const struct {
		const char *s;
		enum quota_rule_err want;
		uint64_t bytes, messages;
	} t[] = {
		{ "*:storage=100M", QUOTA_RULE_OK, 100 * M, 0 },
		{ "*:storage=1G:messages=1000", QUOTA_RULE_OK, G, 1000 },
		{ "*:messages=10", QUOTA_RULE_OK, 0, 10 },
		{ "*:storage=1024", QUOTA_RULE_OK, 1024 * K, 0 },     /* kilobytes */
		{ "*:storage=1K", QUOTA_RULE_OK, K, 0 },
		{ "*:storage=512B", QUOTA_RULE_OK, 512, 0 },
		{ "*:bytes=1000", QUOTA_RULE_OK, 1000, 0 },
		{ "*:bytes=1k", QUOTA_RULE_OK, K, 0 },
		{ "*:storage=0", QUOTA_RULE_OK, 0, 0 },
		{ "*:storage=1M:storage=2M", QUOTA_RULE_OK, 2 * M, 0 },   /* the last */
		{ "?:storage=5M", QUOTA_RULE_OK, 5 * M, 0 },
		/* rules for folders, not the whole mailbox */
		{ "Trash:storage=+100M", QUOTA_RULE_NOT_OURS, 0, 0 },
		{ "INBOX:storage=1M", QUOTA_RULE_NOT_OURS, 0, 0 },
		{ ":storage=1M", QUOTA_RULE_NOT_OURS, 0, 0 },
		{ "**:storage=1M", QUOTA_RULE_NOT_OURS, 0, 0 },
		/* what Dovecot refuses too, or what tern does not do */
		{ "storage=1M", QUOTA_RULE_SYNTAX, 0, 0 },
		{ "", QUOTA_RULE_SYNTAX, 0, 0 },
		{ "*", QUOTA_RULE_SYNTAX, 0, 0 },
		{ "*:", QUOTA_RULE_BAD_NAME, 0, 0 },
		{ "*:storage=1M:", QUOTA_RULE_BAD_NAME, 0, 0 },
		{ "*:size=1M", QUOTA_RULE_BAD_NAME, 0, 0 },
		{ "*:Storage=1M", QUOTA_RULE_BAD_NAME, 0, 0 },
		{ "*:=1M", QUOTA_RULE_BAD_NAME, 0, 0 },
		{ "*:storage", QUOTA_RULE_BAD_VALUE, 0, 0 },
		{ "*:storage=", QUOTA_RULE_BAD_VALUE, 0, 0 },
		{ "*:storage=lots", QUOTA_RULE_BAD_VALUE, 0, 0 },
		{ "*:storage=100MB", QUOTA_RULE_BAD_VALUE, 0, 0 },
		{ "*:storage=9007199254740992", QUOTA_RULE_BAD_VALUE, 0, 0 },  /* 2^53 K */
		{ "*:messages=1x", QUOTA_RULE_BAD_VALUE, 0, 0 },
		{ "*:storage=+100M", QUOTA_RULE_UNSUPPORTED, 0, 0 },
		{ "*:storage=-1", QUOTA_RULE_UNSUPPORTED, 0, 0 },
		{ "*:storage=10%", QUOTA_RULE_UNSUPPORTED, 0, 0 },
		{ "*:ignore", QUOTA_RULE_UNSUPPORTED, 0, 0 },
		{ "*:backend=1000S", QUOTA_RULE_UNSUPPORTED, 0, 0 },
		/* a bad part spoils the whole rule */
		{ "*:storage=1M:messages=x", QUOTA_RULE_BAD_VALUE, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct quota_rule r = { 7, 7 };
		enum quota_rule_err e = quota_rule_parse(t[i].s, strlen(t[i].s), &r);

		if (e != t[i].want || r.bytes != t[i].bytes || r.messages != t[i].messages)
			fail_msg("%zu \"%s\": %d (%s) %llu %llu", i, t[i].s, e, quota_rule_strerror(e),
			    (unsigned long long)r.bytes, (unsigned long long)r.messages);
	}
}

static void
test_short(void **state)
{
	static const struct {
		const char *s;
		enum quota_rule_err want;
		uint64_t bytes;
	} t[] = {
		{ "100M", QUOTA_RULE_OK, 100 * M },
		{ "1K", QUOTA_RULE_OK, K },
		{ "1024", QUOTA_RULE_OK, 1024 },      /* octets, unlike storage= */
		{ "0", QUOTA_RULE_OK, 0 },
		{ "none", QUOTA_RULE_OK, 0 },
		{ "maildir:User", QUOTA_RULE_NOT_OURS, 0 },   /* Dovecot's backend */
		{ "", QUOTA_RULE_BAD_VALUE, 0 },
		{ "None", QUOTA_RULE_BAD_VALUE, 0 },
		{ "big", QUOTA_RULE_BAD_VALUE, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct quota_rule r = { 7, 7 };
		enum quota_rule_err e = quota_rule_parse_short(t[i].s, strlen(t[i].s), &r);

		if (e != t[i].want || r.bytes != t[i].bytes || r.messages != 0)
			fail_msg("%zu \"%s\": %d %llu", i, t[i].s, e, (unsigned long long)r.bytes);
	}
}

static void
test_extra(void **state)
{
	static const struct {
		const char *extra;
		enum quota_rule_err want;
		bool found;
		uint64_t bytes, messages;
		const char *bad;
	} t[] = {
		{ "", QUOTA_RULE_OK, false, 0, 0, NULL },
		{ "home=/x mail=maildir:~/Maildir", QUOTA_RULE_OK, false, 0, 0, NULL },
		{ "userdb_quota_rule=*:storage=100M", QUOTA_RULE_OK, true, 100 * M, 0, NULL },
		{ "quota_rule=*:storage=1G:messages=5", QUOTA_RULE_OK, true, G, 5, NULL },
		{ "quota=1K", QUOTA_RULE_OK, true, K, 0, NULL },
		{ "quota=none", QUOTA_RULE_OK, true, 0, 0, NULL },
		/* the last one counts, whole */
		{ "quota=1K quota_rule=*:messages=3", QUOTA_RULE_OK, true, 0, 3, NULL },
		{ "quota_rule=*:messages=3 quota=1K", QUOTA_RULE_OK, true, K, 0, NULL },
		/* Dovecot's other settings are not ours */
		{ "quota_rule2=Trash:storage=+10M quota=2M", QUOTA_RULE_OK, true, 2 * M, 0, NULL },
		{ "quota_rule=Trash:storage=+10M", QUOTA_RULE_OK, false, 0, 0, NULL },
		{ "quota=maildir:User", QUOTA_RULE_OK, false, 0, 0, NULL },
		{ "userdb_quota=1M", QUOTA_RULE_OK, false, 0, 0, NULL },
		/* errors name their field */
		{ "x=1 quota=lots y=2", QUOTA_RULE_BAD_VALUE, false, 0, 0, "quota=lots" },
		{ "quota=1M userdb_quota_rule=*:storage=+1M", QUOTA_RULE_UNSUPPORTED, false, 0, 0,
		  "userdb_quota_rule=*:storage=+1M" },
		{ "quota_rule", QUOTA_RULE_SYNTAX, false, 0, 0, "quota_rule" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct quota_rule r = { 7, 7 };
		const char *bad = NULL;
		size_t badlen = 0;
		bool found = true;
		enum quota_rule_err e = quota_rule_from_extra(t[i].extra, strlen(t[i].extra), &r,
		    &found, &bad, &badlen);

		if (e != t[i].want || found != t[i].found || r.bytes != t[i].bytes ||
		    r.messages != t[i].messages)
			fail_msg("%zu \"%s\": %d found %d %llu %llu", i, t[i].extra, e, found,
			    (unsigned long long)r.bytes, (unsigned long long)r.messages);
		if (t[i].bad != NULL && (bad == NULL || badlen != strlen(t[i].bad) ||
		    memcmp(bad, t[i].bad, badlen) != 0))
			fail_msg("%zu: named \"%.*s\"", i, (int)badlen, bad ? bad : "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_short),
		cmocka_unit_test(test_extra),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
