/*
 * test_dkim_tags: the DKIM tag-list grammar (RFC 6376 §3.2) and the
 * DKIM-Signature (§3.5) and key record (§3.6.1) decoders, as tables of
 * valid and invalid inputs.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/dkim_tags.h"

static void
test_tag_list(void **state)
{
	static const struct {
		const char *in;
		int rc;
		size_t n;
		const char *dump;    /* name=value|... */
	} t[] = {
		{ "", DKIM_TAGS_OK, 0, "" },
		{ "  \r\n ", DKIM_TAGS_OK, 0, "" },
		{ "a=1", DKIM_TAGS_OK, 1, "a=1|" },
		{ "a=1;", DKIM_TAGS_OK, 1, "a=1|" },
		{ "a=1; ", DKIM_TAGS_OK, 1, "a=1|" },
		{ "a=1;\r\n\t", DKIM_TAGS_OK, 1, "a=1|" },
		{ " a = 1 ; b=2", DKIM_TAGS_OK, 2, "a=1|b=2|" },
		{ "a=", DKIM_TAGS_OK, 1, "a=|" },
		{ "a=;b= ;c=\r\n x", DKIM_TAGS_OK, 3, "a=|b=|c=x|" },
		/* FWS inside values is kept, around them trimmed */
		{ "h=from : to;\r\n\tb=ab\r\n cd ", DKIM_TAGS_OK, 2, "h=from : to|b=ab\r\n cd|" },
		{ "x_1=a=b", DKIM_TAGS_OK, 1, "x_1=a=b|" },
		{ "A=1; a=2", DKIM_TAGS_OK, 2, "A=1|a=2|" },      /* case-sensitive */
		/* errors */
		{ "a=1; a=2", DKIM_TAGS_DUP, 0, NULL },
		{ "a=1;;b=2", DKIM_TAGS_SYNTAX, 0, NULL },
		{ ";", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "=1", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "1a=1", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "_a=1", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a-b=1", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a 1=1", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a=1\r\nb=2", DKIM_TAGS_SYNTAX, 0, NULL },    /* CRLF without WSP */
		{ "a=1\rb", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a=\x80", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a=\x01", DKIM_TAGS_SYNTAX, 0, NULL },
		{ "a=1\n", DKIM_TAGS_SYNTAX, 0, NULL },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct dkim_tag tags[DKIM_TAGS_MAX];
		size_t n = 99;
		char dump[256] = "";
		int rc = dkim_tags_parse(t[i].in, strlen(t[i].in), tags, DKIM_TAGS_MAX, &n);

		if (rc != t[i].rc)
			fail_msg("%zu \"%s\": %d, expected %d", i, t[i].in, rc, t[i].rc);
		if (rc != DKIM_TAGS_OK)
			continue;
		assert_int_equal(n, t[i].n);
		for (j = 0; j < n; j++) {
			size_t l = strlen(dump);

			snprintf(dump + l, sizeof(dump) - l, "%.*s=%.*s|", (int)tags[j].nlen,
			    tags[j].name, (int)tags[j].vlen, tags[j].val);
			/* the raw value runs from after "=" to ";" or the end */
			assert_true(tags[j].val >= t[i].in + tags[j].raw_off);
			assert_true(tags[j].val + tags[j].vlen <=
			    t[i].in + tags[j].raw_off + tags[j].raw_len);
			assert_int_equal(t[i].in[tags[j].raw_off - 1], '=');
		}
		assert_string_equal(dump, t[i].dump);
	}
	/* too many */
	{
		char big[DKIM_TAGS_MAX * 8];
		struct dkim_tag tags[DKIM_TAGS_MAX];
		size_t n, l = 0;

		for (i = 0; i <= DKIM_TAGS_MAX; i++)
			l += (size_t)snprintf(big + l, sizeof(big) - l, "t%zu=1;", i);
		assert_int_equal(dkim_tags_parse(big, l, tags, DKIM_TAGS_MAX, &n),
		    DKIM_TAGS_TOO_MANY);
		assert_int_equal(dkim_tags_parse(big, l, tags, 2, &n), DKIM_TAGS_TOO_MANY);
		assert_non_null(dkim_tags_find(tags, n, "t1"));
		assert_null(dkim_tags_find(tags, n, "t2"));
	}
}

#define SIG_OK "v=1; a=rsa-sha256; d=Example.ORG; s=sel; h=from:to; bh=AAAA; b=AAAA"

static void
test_sig_parse(void **state)
{
	static const struct { const char *in, *why; } bad[] = {
		{ "a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA", "missing v=" },
		{ "v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA", "v= is not 1" },
		{ "v=1; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA", "missing a=" },
		{ "v=1; a=rsa-sha256; s=sel; h=from; bh=AAAA; b=AAAA", "missing d=" },
		{ "v=1; a=rsa-sha256; d=example; s=sel; h=from; bh=AAAA; b=AAAA", "bad d=" },
		{ "v=1; a=rsa-sha256; d=-x.example; s=sel; h=from; bh=AAAA; b=AAAA", "bad d=" },
		{ "v=1; a=rsa-sha256; d=x..example; s=sel; h=from; bh=AAAA; b=AAAA", "bad d=" },
		{ "v=1; a=rsa-sha256; d=x.example.; s=sel; h=from; bh=AAAA; b=AAAA", "bad d=" },
		{ "v=1; a=rsa-sha256; d=ex ample.org; s=sel; h=from; bh=AAAA; b=AAAA", "bad d=" },
		{ "v=1; a=rsa-sha256; d=example.org; h=from; bh=AAAA; b=AAAA", "missing s=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=a/b; h=from; bh=AAAA; b=AAAA", "bad s=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; bh=AAAA; b=AAAA", "missing h=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=; bh=AAAA; b=AAAA", "bad h=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from::to; bh=AAAA; b=AAAA", "bad h=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; bh=AAAA; b=AAAA",
		  "h= does not sign From" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from-x; bh=AAAA; b=AAAA",
		  "h= does not sign From" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; c=relaxed/fancy",
		  "bad c=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; c=", "bad c=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; i=example.org",
		  "i= not within d=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; i=@badexample.org",
		  "i= not within d=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; i=@org",
		  "i= not within d=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; l=-1", "bad l=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; l=", "bad l=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; q=dns", "q= lacks dns/txt" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; t=1234567890123", "bad t=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; x=soon", "bad x=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; b=AAAA", "missing bh=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAA; b=AAAA", "bad bh=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=; b=AAAA", "bad bh=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA", "missing b=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=", "bad b=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=A*AA", "bad b=" },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; b=AAAA", "duplicate tag" },
	};
	static const char sig_ok[] = SIG_OK;
	struct dkim_sig sig;
	char why[64];
	size_t i;

	(void)state;
	assert_int_equal(dkim_sig_parse(SIG_OK, strlen(SIG_OK), &sig, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(sig.alg, DKIM_ALG_RSA_SHA256);
	assert_string_equal(sig.d, "example.org");
	assert_string_equal(sig.s, "sel");
	assert_string_equal(sig.i, "@example.org");
	assert_false(sig.has_i);
	assert_int_equal(sig.hcanon, DKIM_CANON_SIMPLE);
	assert_int_equal(sig.bcanon, DKIM_CANON_SIMPLE);
	assert_int_equal(sig.nh, 2);
	assert_memory_equal(sig_ok + sig.h[0].off, "from", 4);
	assert_memory_equal(sig_ok + sig.h[1].off, "to", 2);
	assert_int_equal(sig.bhlen, 3);
	assert_int_equal(sig.blen, 3);
	assert_string_equal(sig.b_prefix, "AAAA");
	assert_int_equal(sig.b_raw_len, 4);
	assert_memory_equal(sig_ok + sig.b_raw_off, "AAAA", 4);

	{
		static const char full[] =
		    " v=1; a=ed25519-sha256; c=relaxed; d=mail.example.org;\r\n"
		    "\ti=\"joe s\"@sub.mail.example.org; l=12; q=dns/txt; s=s2025;\r\n"
		    "\tt=1700000000; x=1800000000; z=From:foo|To:bar;\r\n"
		    "\th=From : Subject :\r\n dkim-signature;\r\n"
		    "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
		    "\tb=abcd\r\n efgh ijkl ;";

		assert_int_equal(dkim_sig_parse(full, strlen(full), &sig, why, sizeof(why)), 0);
		assert_int_equal(sig.alg, DKIM_ALG_ED25519_SHA256);
		assert_int_equal(sig.hcanon, DKIM_CANON_RELAXED);
		assert_int_equal(sig.bcanon, DKIM_CANON_SIMPLE);
		assert_string_equal(sig.i, "\"joe s\"@sub.mail.example.org");
		assert_true(sig.has_i && sig.has_l && sig.has_t && sig.has_x);
		assert_int_equal(sig.l, 12);
		assert_int_equal(sig.t, 1700000000);
		assert_int_equal(sig.x, 1800000000);
		assert_int_equal(sig.nh, 3);
		assert_memory_equal(full + sig.h[2].off, "dkim-signature", 14);
		assert_int_equal(sig.h[2].len, 14);
		assert_int_equal(sig.bhlen, 32);
		assert_int_equal(sig.blen, 9);
		assert_string_equal(sig.b_prefix, "abcdefgh");
		assert_memory_equal(full + sig.b_raw_off, "abcd\r\n efgh ijkl ", sig.b_raw_len);
	}
	/* an i= too long to keep loses its local part's end, never its domain
	 * (found by fuzz_dkim_tags: the verifier's t=s check reads it) */
	{
		char longi[512];
		int k = snprintf(longi, sizeof(longi), "v=1; a=rsa-sha256; d=example.org; s=sel; "
		    "h=from; bh=AAAA; b=AAAA; i=");

		memset(longi + k, 'j', 300);
		strcpy(longi + k + 300, "@sub.example.org");
		assert_int_equal(dkim_sig_parse(longi, strlen(longi), &sig, why, sizeof(why)), 0);
		assert_true(sig.has_i);
		assert_int_equal(strlen(sig.i), sizeof(sig.i) - 1);
		assert_string_equal(sig.i + sizeof(sig.i) - 1 - 16, "@sub.example.org");
		assert_int_equal(sig.i[0], 'j');
		assert_ptr_equal(strchr(sig.i, '@'), sig.i + sizeof(sig.i) - 1 - 16);
	}
	/* l= saturates, rsa-sha1 and unknown algorithms parse (the verifier refuses) */
	{
		static const char l76[] = "v=1; a=rsa-sha1; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; l="
		    "9999999999999999999999999999999999999999999999999999999999999999999999999999";
		static const char l77[] = "v=1; a=x; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; l="
		    "99999999999999999999999999999999999999999999999999999999999999999999999999999";
		static const char unk[] = "v=1; a=rsa-sha512; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA";

		assert_int_equal(dkim_sig_parse(l76, strlen(l76), &sig, why, sizeof(why)), 0);
		assert_int_equal(sig.l, UINT64_MAX);
		assert_int_equal(sig.alg, DKIM_ALG_RSA_SHA1);
		assert_int_equal(dkim_sig_parse(l77, strlen(l77), &sig, why, sizeof(why)), -1);
		assert_string_equal(why, "bad l=");
		assert_int_equal(dkim_sig_parse(unk, strlen(unk), &sig, why, sizeof(why)), 0);
		assert_int_equal(sig.alg, DKIM_ALG_UNKNOWN);
		assert_string_equal(sig.a, "rsa-sha512");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dkim_sig_parse(bad[i].in, strlen(bad[i].in), &sig, why, sizeof(why));

		if (rc != -1 || strcmp(why, bad[i].why) != 0)
			fail_msg("\"%s\": %d \"%s\", expected \"%s\"", bad[i].in, rc, why,
			    bad[i].why);
	}
	/* the reason is cut to its buffer, and none is fine */
	assert_int_equal(dkim_sig_parse("v=2", 3, &sig, why, 4), -1);
	assert_string_equal(why, "v= ");
	assert_int_equal(dkim_sig_parse("v=2", 3, &sig, NULL, 0), -1);
}

static void
test_keyrec_parse(void **state)
{
	static const struct { const char *in, *why; } bad[] = {
		{ "", "key record without p=" },
		{ "v=DKIM1", "key record without p=" },
		{ "k=rsa; v=DKIM1; p=AAAA", "not a DKIM1 key record" },
		{ "v=DKIM2; p=AAAA", "not a DKIM1 key record" },
		{ "v=dkim1; p=AAAA", "not a DKIM1 key record" },
		{ "v=spf1 -all", "not a DKIM1 key record" },
		{ "v=DKIM1; p=AAAA;;", "tag syntax error" },
		{ "v=DKIM1; p=AAAA; p=AAAA", "duplicate tag" },
		{ "v=DKIM1; p=AA", "bad p=" },
		{ "v=DKIM1; p=A", "bad p=" },
	};
	struct dkim_keyrec k;
	char why[64];
	size_t i;

	(void)state;
	assert_int_equal(dkim_keyrec_parse("p=AAAA", 6, &k, why, sizeof(why)), 0);
	assert_int_equal(k.k, DKIM_KEY_RSA);
	assert_true(k.sha256_ok && k.email_ok);
	assert_false(k.testing || k.strict || k.revoked);
	assert_int_equal(k.plen, 3);
	{
		static const char r[] = "v=DKIM1; k=ed25519; h=sha1:sha256; s=email:tlsrpt;"
		    " t=y:s:q; n=a note; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=; ";

		assert_int_equal(dkim_keyrec_parse(r, strlen(r), &k, why, sizeof(why)), 0);
		assert_int_equal(k.k, DKIM_KEY_ED25519);
		assert_true(k.sha256_ok && k.email_ok && k.testing && k.strict);
		assert_int_equal(k.plen, 32);
	}
	assert_int_equal(dkim_keyrec_parse("k=foo; h=sha1; s=x; p=", 22, &k, why, sizeof(why)), 0);
	assert_int_equal(k.k, DKIM_KEY_UNKNOWN);
	assert_false(k.sha256_ok || k.email_ok);
	assert_true(k.revoked);
	assert_int_equal(dkim_keyrec_parse("s=*; p=AA AA", 12, &k, why, sizeof(why)), 0);
	assert_true(k.email_ok);
	assert_int_equal(k.plen, 3);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dkim_keyrec_parse(bad[i].in, strlen(bad[i].in), &k, why, sizeof(why));

		if (rc != -1 || strcmp(why, bad[i].why) != 0)
			fail_msg("\"%s\": %d \"%s\", expected \"%s\"", bad[i].in, rc, why,
			    bad[i].why);
	}
	/* p= longer than any key we take */
	{
		char big[4 * DKIM_KEY_P_MAX];
		size_t l;

		l = (size_t)snprintf(big, sizeof(big), "p=");
		while (l + 4 < sizeof(big) - 1 && (l - 2) / 4 * 3 <= DKIM_KEY_P_MAX) {
			memcpy(big + l, "AAAA", 4);
			l += 4;
		}
		assert_int_equal(dkim_keyrec_parse(big, l, &k, why, sizeof(why)), -1);
		assert_string_equal(why, "bad p=");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_list),
		cmocka_unit_test(test_sig_parse),
		cmocka_unit_test(test_keyrec_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
