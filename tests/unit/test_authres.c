/*
 * test_authres: the Authentication-Results writer (exact output, quoting of
 * values that are not tokens, hostile octets, folding under 78 columns,
 * "none") and the authserv-id reader the SMTP server strips forgeries with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/buf.h"
#include "proto/authres.h"

static void
test_writes_results(void **state)
{
	struct buf b = BUF_INIT;
	struct authres ar;
	struct authres_prop spf = { "smtp", "mailfrom", "alice@example.org" };
	struct authres_prop dk[] = {
		{ "header", "d", "example.org" },
		{ "header", "s", "sel" },
		{ "header", "b", "AbC/+1=" },
	};
	(void)state;

	authres_begin(&ar, &b, "mx.tern.test");
	authres_add(&ar, "spf", "pass", NULL, NULL, &spf, 1);
	authres_add(&ar, "dkim", "fail", NULL, "body hash mismatch", dk, 3);
	authres_add(&ar, "dmarc", "fail", "p=reject dis=reject", NULL, NULL, 0);
	authres_end(&ar);
	assert_string_equal(buf_cstr(&b),
	    "Authentication-Results: mx.tern.test;\r\n"
	    "\tspf=pass smtp.mailfrom=alice@example.org;\r\n"
	    "\tdkim=fail reason=\"body hash mismatch\" header.d=example.org header.s=sel\r\n"
	    "\theader.b=\"AbC/+1=\";\r\n"
	    "\tdmarc=fail (p=reject dis=reject)\r\n");
	buf_release(&b);
}

static void
test_none(void **state)
{
	struct buf b = BUF_INIT;
	struct authres ar;
	(void)state;

	authres_begin(&ar, &b, "mx.tern.test");
	authres_end(&ar);
	assert_string_equal(buf_cstr(&b), "Authentication-Results: mx.tern.test; none\r\n");
	buf_release(&b);
}

/* A value from the network cannot break out of its quotes, its comment or
 * the field: no CR, LF, NUL or 8-bit octet passes, quotes are escaped. */
static void
test_hostile_values(void **state)
{
	struct buf b = BUF_INIT;
	struct authres ar;
	struct authres_prop p[] = {
		{ "smtp", "auth", "bob\"; spf=pass \\" },
		{ "smtp", "helo", "a\r\nX-Evil: 1" },
		{ "smtp", "mailfrom", "" },          /* empty: left out */
	};
	const char *s;
	(void)state;

	authres_begin(&ar, &b, "mx");
	authres_add(&ar, "auth", "pass", "a) (b\x80", "x\"y", p, 3);
	authres_end(&ar);
	s = buf_cstr(&b);
	assert_string_equal(s,
	    "Authentication-Results: mx;\r\n"
	    "\tauth=pass (a\\) \\(b?) reason=\"x\\\"y\" smtp.auth=\"bob\\\"; spf=pass \\\\\"\r\n"
	    "\tsmtp.helo=\"a??X-Evil: 1\"\r\n");
	buf_release(&b);
}

/* Every line of a long field stays within 78 octets when its pieces do. */
static void
test_folds(void **state)
{
	struct buf b = BUF_INIT;
	struct authres ar;
	struct authres_prop p[6];
	const char *s, *nl;
	size_t i;
	(void)state;

	for (i = 0; i < 6; i++) {
		p[i].ptype = "header";
		p[i].property = "d";
		p[i].value = "a-rather-long-domain-name.example.org";
	}
	authres_begin(&ar, &b, "mx.tern.test");
	authres_add(&ar, "dkim", "pass", "a comment of some length here", NULL, p, 6);
	authres_end(&ar);
	for (s = buf_cstr(&b); (nl = strstr(s, "\r\n")) != NULL; s = nl + 2) {
		assert_true(nl - s <= 78);
		if (nl[2] != '\0')
			assert_true(nl[2] == '\t');
	}
	buf_release(&b);
}

static void
test_id_is(void **state)
{
	static const struct {
		const char *value;
		bool ours;
	} t[] = {
		{ " mx.tern.test; spf=pass", true },
		{ "mx.tern.test;spf=pass", true },
		{ " MX.Tern.Test ; none", true },
		{ " (forged (nested) comment)\r\n mx.tern.test; dkim=pass", true },
		{ " \"mx.tern.test\"; none", true },
		{ " \"mx.te\\rn.test\"; none", true },
		{ " mx.tern.test 1; spf=pass", true },       /* with a version */
		{ " mx.tern.test.evil; spf=pass", false },
		{ " mx.tern.tes; spf=pass", false },
		{ " other.example; spf=pass smtp.mailfrom=mx.tern.test", false },
		{ " (unclosed mx.tern.test; none", false },
		{ " \"mx.tern.test; none", false },
		{ "", false },
		{ " ;", false },
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(authres_id_is(t[i].value, strlen(t[i].value), "mx.tern.test"),
		    t[i].ours);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_results),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_folds),
		cmocka_unit_test(test_id_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
