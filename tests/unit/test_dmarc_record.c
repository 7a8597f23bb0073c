/*
 * test_dmarc_record: the DMARC record grammar (RFC 9989 §4.7-4.8, RFC
 * 7489's pct, ri, rf). A table of records and what comes out: v=DMARC1
 * must come first and exact, unknown and malformed tags are ignored (the
 * tag's default stands), and a bad p, sp or np makes the record p=none
 * when rua= has a valid URI, unusable otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/dmarc_record.h"

#define U DMARC_P_UNSET
#define N DMARC_P_NONE
#define Q DMARC_P_QUARANTINE
#define R DMARC_P_REJECT

struct rcase {
	const char *txt;
	int rc;
	enum dmarc_policy p, sp, np;
	bool adkim_s, aspf_s;
	int pct;
	bool testing;
	int psd;
	bool unusable, bad_tags;
};

#define NOT_DMARC(t) { t, -1, U, U, U, false, false, 0, false, 0, false, false }

static const struct rcase cases[] = {
	/* not DMARC records at all */
	NOT_DMARC(""),
	NOT_DMARC("v=spf1 -all"),
	NOT_DMARC("p=reject; v=DMARC1"),               /* v not first */
	NOT_DMARC("v=DMARC2; p=reject"),
	NOT_DMARC("v=dmarc1; p=reject"),               /* the value is case-sensitive */
	NOT_DMARC("v=DMARC1 p=reject"),                /* the value runs to ";" */
	NOT_DMARC("v=DMARC10"),
	NOT_DMARC("v:DMARC1; p=reject"),
	NOT_DMARC("; v=DMARC1; p=reject"),
	NOT_DMARC("xv=DMARC1; p=reject"),
	/* the plain ones */
	{ "v=DMARC1", 0, U, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1;", 0, U, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=none", 0, N, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=quarantine", 0, Q, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=reject;", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "V = DMARC1 ;P = Reject", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "  v=DMARC1;\tp=reject\t;  ", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1;p=REJECT;sp=quarantine;np=none", 0, R, Q, N, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=none; adkim=s; aspf=S", 0, N, U, U, true, true, 100, false, 0, false, false },
	{ "v=DMARC1; p=none; adkim=r; aspf=r", 0, N, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=reject; pct=0", 0, R, U, U, false, false, 0, false, 0, false, false },
	{ "v=DMARC1; p=reject; pct=50", 0, R, U, U, false, false, 50, false, 0, false, false },
	{ "v=DMARC1; p=reject; pct=100", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=reject; t=y", 0, R, U, U, false, false, 100, true, 0, false, false },
	{ "v=DMARC1; p=reject; t=n", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=reject; psd=y", 0, R, U, U, false, false, 100, false, 'y', false, false },
	{ "v=DMARC1; p=reject; psd=N", 0, R, U, U, false, false, 100, false, 'n', false, false },
	{ "v=DMARC1; p=reject; psd=u", 0, R, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; psd=y", 0, U, U, U, false, false, 100, false, 'y', false, false },
	/* unknown tags are ignored, not errors */
	{ "v=DMARC1; p=reject; foo=bar; x=1", 0, R, U, U, false, false, 100, false, 0, false, false },
	/* malformed tags: the default stands, the rest counts */
	{ "v=DMARC1; p=reject; garbage; sp=none", 0, R, N, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; =x", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; adkim=x; aspf=strict", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; pct=101", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; pct=-1", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; pct=5x", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; pct=", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; t=yes", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; psd=maybe", 0, R, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; fo=2", 0, R, U, U, false, false, 100, false, 0, false, true },
	/* a repeated tag: the first one counts */
	{ "v=DMARC1; p=none; p=reject", 0, N, U, U, false, false, 100, false, 0, false, false },
	{ "v=DMARC1; p=reject; v=DMARC1", 0, R, U, U, false, false, 100, false, 0, false, false },
	/* bad p / sp / np: with a valid rua= it is p=none ... */
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.com", 0, N, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com", 0, N, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=reject; np=; rua=mailto:d@example.com", 0, N, U, U, false, false, 100, false, 0, false, true },
	{ "v=DMARC1; p=; rua=x, mailto:d@example.com", 0, N, U, U, false, false, 100, false, 0, false, true },
	/* ... and without one, unusable */
	{ "v=DMARC1; p=bogus", 0, U, U, U, false, false, 100, false, 0, true, true },
	{ "v=DMARC1; p=reject; sp=rejet", 0, R, U, U, false, false, 100, false, 0, true, true },
	{ "v=DMARC1; p=bogus; rua=not a uri", 0, U, U, U, false, false, 100, false, 0, true, true },
	{ "v=DMARC1; p=bogus; rua=mailto:", 0, U, U, U, false, false, 100, false, 0, true, true },
	{ "v=DMARC1; p=reject quarantine", 0, U, U, U, false, false, 100, false, 0, true, true },
};

static void
test_record_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *k = &cases[i];
		struct dmarc_record r;
		int rc = dmarc_record_parse(k->txt, strlen(k->txt), &r);

		if (rc != k->rc)
			fail_msg("\"%s\": rc %d, expected %d", k->txt, rc, k->rc);
		if (rc != 0)
			continue;
		if (r.p != k->p || r.sp != k->sp || r.np != k->np)
			fail_msg("\"%s\": p/sp/np %d/%d/%d, expected %d/%d/%d", k->txt,
			    r.p, r.sp, r.np, k->p, k->sp, k->np);
		if (r.adkim_strict != k->adkim_s || r.aspf_strict != k->aspf_s)
			fail_msg("\"%s\": alignment modes", k->txt);
		if (r.pct != k->pct || r.testing != k->testing || r.psd != k->psd)
			fail_msg("\"%s\": pct %d t %d psd %d", k->txt, r.pct, r.testing,
			    r.psd);
		if (r.unusable != k->unusable || r.bad_tags != k->bad_tags)
			fail_msg("\"%s\": unusable %d bad_tags %d", k->txt, r.unusable,
			    r.bad_tags);
	}
}

/* The length given counts, not a NUL: a record is read to len only. */
static void
test_record_len(void **state)
{
	struct dmarc_record r;
	const char txt[] = "v=DMARC1; p=reject; sp=none";

	(void)state;
	assert_int_equal(dmarc_record_parse(txt, 19, &r), 0);
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.sp, DMARC_P_UNSET);
	assert_int_equal(dmarc_record_parse(txt, 7, &r), -1);
	/* a NUL inside a value makes that tag malformed */
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=re\0ject", 19, &r), 0);
	assert_true(r.unusable);
}

static void
test_record_uris(void **state)
{
	struct dmarc_record r;
	const char *t;
	char big[1200];
	size_t o, v0;

	(void)state;
	t = "v=DMARC1; p=none; rua=mailto:a@example.com, mailto:b@example.net!10m;"
	    " ruf=mailto:f@example.com";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_string_equal(r.rua, "mailto:a@example.com, mailto:b@example.net!10m");
	assert_string_equal(r.ruf, "mailto:f@example.com");
	assert_true(r.rua_valid);
	assert_false(r.rua_cut);

	/* "!" and "," must be encoded; a bad size suffix spoils the URI */
	t = "v=DMARC1; p=x; rua=mailto:a@example.com!x";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_false(r.rua_valid);
	assert_true(r.unusable);
	t = "v=DMARC1; p=x; rua=mailto:a%21b@example.com!25k";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_true(r.rua_valid);
	assert_int_equal(r.p, DMARC_P_NONE);
	t = "v=DMARC1; p=x; rua=mailto:a%2@example.com";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_false(r.rua_valid);
	t = "v=DMARC1; p=x; rua=https://reports.example.com/dmarc?d=1";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_true(r.rua_valid);
	t = "v=DMARC1; p=x; rua=1mailto:a@b";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_false(r.rua_valid);
	t = "v=DMARC1; p=x; rua=mailto:a b@c";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_false(r.rua_valid);

	/* a list too long keeps the URIs that fit whole */
	o = v0 = (size_t)snprintf(big, sizeof(big), "v=DMARC1; p=none; rua=");
	while (o < 1000)
		o += (size_t)snprintf(big + o, sizeof(big) - o,
		    "mailto:reports-%03zu@example.com, ", o);
	o += (size_t)snprintf(big + o, sizeof(big) - o, "mailto:last@example.com");
	assert_int_equal(dmarc_record_parse(big, o, &r), 0);
	assert_true(r.rua_cut);
	assert_true(r.rua_valid);
	assert_true(strlen(r.rua) < DMARC_URILIST_MAX);
	assert_true(strlen(r.rua) > DMARC_URILIST_MAX - 40);
	assert_memory_equal(r.rua, big + v0, strlen(r.rua));
	assert_int_equal(big[v0 + strlen(r.rua)], ',');

	/* one URI too long for the field: nothing kept, but it was valid */
	o = (size_t)snprintf(big, sizeof(big), "v=DMARC1; p=none; rua=mailto:");
	while (o < 800)
		big[o++] = 'a';
	o += (size_t)snprintf(big + o, sizeof(big) - o, "@example.com");
	assert_int_equal(dmarc_record_parse(big, o, &r), 0);
	assert_true(r.rua_cut);
	assert_string_equal(r.rua, "");
	assert_true(r.rua_valid);
}

static void
test_record_report_tags(void **state)
{
	struct dmarc_record r;
	const char *t;

	(void)state;
	t = "v=DMARC1; p=none";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_int_equal(r.fo, DMARC_FO_0);
	assert_int_equal(r.ri, 86400);
	assert_true(r.rf_afrf);
	assert_string_equal(r.rua, "");
	assert_false(r.rua_valid);

	t = "v=DMARC1; p=none; fo=1:d:s; ri=3600; rf=iodef";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_int_equal(r.fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S);
	assert_int_equal(r.ri, 3600);
	assert_false(r.rf_afrf);

	t = "v=DMARC1; p=none; fo=d; rf=iodef , AFRF";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_int_equal(r.fo, DMARC_FO_D);
	assert_true(r.rf_afrf);

	/* 0 and 1 together, a repeat, a dangling colon: the default */
	static const char *const bad_fo[] = {
		"v=DMARC1; fo=0:1", "v=DMARC1; fo=d:d", "v=DMARC1; fo=d:",
		"v=DMARC1; fo=:d", "v=DMARC1; fo=ds", "v=DMARC1; fo=0::s",
	};
	for (size_t i = 0; i < sizeof(bad_fo) / sizeof(bad_fo[0]); i++) {
		assert_int_equal(dmarc_record_parse(bad_fo[i], strlen(bad_fo[i]), &r), 0);
		assert_int_equal(r.fo, DMARC_FO_0);
		assert_true(r.bad_tags);
	}
	t = "v=DMARC1; ri=99999999999";
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
	assert_int_equal(r.ri, 86400);
	assert_true(r.bad_tags);
}

static void
test_policy_name(void **state)
{
	(void)state;
	assert_string_equal(dmarc_policy_name(DMARC_P_UNSET), "none");
	assert_string_equal(dmarc_policy_name(DMARC_P_NONE), "none");
	assert_string_equal(dmarc_policy_name(DMARC_P_QUARANTINE), "quarantine");
	assert_string_equal(dmarc_policy_name(DMARC_P_REJECT), "reject");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_record_len),
		cmocka_unit_test(test_record_uris),
		cmocka_unit_test(test_record_report_tags),
		cmocka_unit_test(test_policy_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
