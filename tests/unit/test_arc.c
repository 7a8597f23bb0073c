/*
 * test_arc: ARC verification and sealing (RFC 8617).
 *
 * - chains sealed by dkimpy (tests/unit/data/arc/, made by make.py there,
 *   found through TERN_ARC_DATA): 1, 2, 3 and 50 sets, and the broken
 *   ones (a seal, the newest AMS, the body, a missing or doubled set,
 *   cv=fail newest and earlier, i=51, oldest-pass), each fed in chunks of
 *   several sizes, keys in the cache from the start or answered one query
 *   at a time, checked as soon as the header ends or only at the end;
 * - tern's own seals verified by tern: 1, 2, 3 hops in a row with RSA,
 *   Ed25519 and both, on top of dkimpy's chain, up to the 50th set;
 *   what arc_seal refuses;
 * - the fields that are refused and the keys that are missing.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "policy/arc.h"
#include "policy/arc_seal.h"
#include "policy/dkim_sign.h"
#include "proto/dnsq.h"

#include "dkim_fixture.h"

#define NOW 1764057992           /* t= of make.py's seals */
/* make.py's files; meson sets the variable */
#define DATA_ENV "TERN_ARC_DATA"
#define DATA_DIR "tests/unit/data/arc"

static EVP_PKEY *rsa_key, *ed_key;

/* ------------------------------------------------------------ helpers -- */

static void
put_pkey(struct dnsq_cache *c, const char *name, EVP_PKEY *k)
{
	struct buf txt = BUF_INIT;

	assert_int_equal(dkim_txt_record(k, &txt), 0);
	dkim_fixture_put_key(c, name, buf_cstr(&txt));
	buf_release(&txt);
}

enum when { CHECK_EARLY, CHECK_LATE, CHECK_LAZY };

/*
 * Verifies msg fed in chunks of chunk octets (0: at once). EARLY asks
 * for keys as soon as the header is done, as the daemon does, LATE only
 * after the end; both with every key in c. LAZY answers one query at a
 * time from c into a cache of its own, replaying as the daemon does.
 */
static struct arc_verify *
run(const char *msg, size_t len, size_t chunk, struct dnsq_cache *c, enum when w,
    int64_t now)
{
	struct arc_verify *v = arc_verify_new(now);
	struct dnsq_cache mine, *use = c;
	size_t i = 0;
	bool asked = false;
	int rounds = 0, rc;

	assert_non_null(v);
	if (w == CHECK_LAZY) {
		dnsq_init(&mine);
		use = &mine;
	}
	if (chunk == 0)
		chunk = len ? len : 1;
	while (i < len) {
		size_t n = len - i < chunk ? len - i : chunk;

		arc_verify_feed(v, msg + i, n);
		i += n;
		if (w == CHECK_EARLY && !asked && arc_verify_header_done(v)) {
			assert_int_equal(arc_verify_check(v, c), 0);
			asked = true;
		}
	}
	arc_verify_end(v);
	assert_true(arc_verify_header_done(v));
	while ((rc = arc_verify_check(v, use)) == DNSQ_NEED) {
		const struct dnsq_answer *a;

		assert_true(w == CHECK_LAZY);
		assert_true(use->need);
		assert_int_equal(use->need_type, DNSQ_TXT);
		a = dnsq_get(c, use->need_name, DNSQ_TXT);
		if (a == NULL)
			dkim_fixture_put_status(use, use->need_name, DNSQ_NXDOMAIN);
		else
			assert_int_equal(dnsq_put(use, a->name, DNSQ_TXT, a->st,
			    (const uint8_t *const *)a->rr, a->rrlen, a->n), 0);
		assert_true(++rounds <= 2 * ARC_MAX_SETS);
	}
	assert_int_equal(rc, 0);
	if (w == CHECK_LAZY)
		dnsq_release(&mine);
	return v;
}

static void
expect(const struct arc_verify *v, const char *what, enum arc_cv cv,
    const char *reason, unsigned n)
{
	const struct arc_result *r = arc_verify_result(v);

	if (r->cv != cv || strcmp(r->reason, reason) != 0 || r->n != n)
		fail_msg("%s: %s \"%s\" n=%u, expected %s \"%s\" n=%u", what,
		    arc_cv_name(r->cv), r->reason, r->n, arc_cv_name(cv), reason, n);
}

/* One verification, early, at once. */
static const struct arc_result *
verify1(struct arc_verify **vp, const char *msg, size_t len, struct dnsq_cache *c)
{
	*vp = run(msg, len, 0, c, CHECK_EARLY, NOW);
	return arc_verify_result(*vp);
}

/* ------------------------------------------------------------ dkimpy -- */

static char *
read_data(const char *name, size_t *len)
{
	return dkim_fixture_read(DATA_ENV, DATA_DIR, name, len);
}

static void
test_dkimpy(void **state)
{
	static const struct {
		const char *file;
		enum arc_cv cv;
		const char *reason;
		unsigned n, oldest;
		const char *sealer;
	} t[] = {
		{ "unsealed.eml", ARC_NONE, "", 0, 0, "" },
		{ "pass1.eml", ARC_PASS, "", 1, 0, "example.org" },
		{ "pass2.eml", ARC_PASS, "", 2, 0, "lists.example.org" },
		{ "pass3.eml", ARC_PASS, "", 3, 0, "example.net" },
		{ "pass50.eml", ARC_PASS, "", 50, 0, "lists.example.org" },
		{ "oldest_pass.eml", ARC_PASS, "", 3, 2, "example.net" },
		{ "broken_as.eml", ARC_FAIL, "ARC-Seal i=2: signature did not verify", 2, 0,
		    "lists.example.org" },
		{ "broken_as_sig.eml", ARC_FAIL, "ARC-Seal i=2: signature did not verify", 2, 0,
		    "lists.example.org" },
		{ "broken_ams.eml", ARC_FAIL,
		    "ARC-Message-Signature i=2: signature did not verify", 2, 0,
		    "lists.example.org" },
		{ "broken_body.eml", ARC_FAIL, "ARC-Message-Signature i=2: body hash mismatch",
		    2, 0, "lists.example.org" },
		{ "missing.eml", ARC_FAIL, "ARC set i=2 lacks its ARC-Authentication-Results",
		    3, 0, "" },
		{ "duplicate.eml", ARC_FAIL,
		    "ARC set i=1 has 2 ARC-Authentication-Results fields", 2, 0, "" },
		{ "cv_fail_newest.eml", ARC_FAIL, "ARC-Seal i=2 says cv=fail", 2, 0,
		    "lists.example.org" },
		{ "cv_fail_earlier.eml", ARC_FAIL, "ARC-Seal i=2: cv=fail", 3, 0,
		    "example.net" },
		{ "i51.eml", ARC_FAIL, "more than 50 ARC sets", 0, 0, "" },
	};
	static const size_t chunks[] = { 0, 1, 7, 64, 1000 };
	static const enum when whens[] = { CHECK_EARLY, CHECK_LATE, CHECK_LAZY };
	struct dnsq_cache c;
	size_t i, k, w;

	(void)state;
	dnsq_init(&c);
	dkim_fixture_load_keys(&c, DATA_ENV, DATA_DIR);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len;
		char *m = read_data(t[i].file, &len);

		for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++)
			for (w = 0; w < sizeof(whens) / sizeof(whens[0]); w++) {
				struct arc_verify *v;
				const struct arc_result *r;

				/* byte by byte through 57 KiB is slow and adds little */
				if (len > 10000 && chunks[k] == 1)
					continue;
				v = run(m, len, chunks[k], &c, whens[w], NOW);
				r = arc_verify_result(v);
				expect(v, t[i].file, t[i].cv, t[i].reason, t[i].n);
				assert_int_equal(r->oldest_pass, t[i].oldest);
				assert_string_equal(r->sealer_domain, t[i].sealer);
				assert_false(r->temperror);
				arc_verify_free(&v);
				assert_null(v);
			}
		free(m);
	}

	/* the newest AAR, for trusted-sealer decisions */
	{
		size_t len;
		char *m = read_data("pass2.eml", &len);
		struct arc_verify *v;
		const struct arc_result *r = verify1(&v, m, len, &c);

		assert_string_equal(r->aar,
		    "mx2.example; spf=pass smtp.mailfrom=example.com;  arc=pass");
		arc_verify_free(&v);
		free(m);
	}
	dnsq_release(&c);
}

/* ---------------------------------------------------- tern's own seal -- */

static const char message[] =
	"Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n"
	"\tby mx.example.net with ESMTPS; Tue, 25 Nov 2025 08:06:32 +0000\r\n"
	"From: Joe SixPack <joe@example.com>\r\n"
	"To: Suzie Q <suzie@example.net>,\r\n"
	"  Bob <bob@example.net>\r\n"
	"Subject:   Is dinner   ready?\r\n"
	"Date: Tue, 25 Nov 2025 08:06:30 +0000\r\n"
	"Message-ID: <20251125080630.1234@example.com>\r\n"
	"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from;\r\n"
	"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.  Are you hungry yet?\t \r\n"
	"\r\n";

struct hop {
	const char *domain, *selector;
	EVP_PKEY *key;
};

/*
 * Passes the message m through one hop: verified (keys in c), sealed
 * with the verdict, the set put on top. The key is published first.
 */
static void
pass_hop(struct buf *m, const struct hop *h, unsigned k, struct dnsq_cache *c)
{
	struct arc_verify *v;
	const struct arc_result *r;
	struct buf set = BUF_INIT, ar = BUF_INIT, next = BUF_INIT;
	char name[DNSQ_NAME_MAX];
	enum arc_cv cv;

	snprintf(name, sizeof(name), "%s._domainkey.%s", h->selector, h->domain);
	if (dnsq_get(c, name, DNSQ_TXT) == NULL)
		put_pkey(c, name, h->key);
	r = verify1(&v, m->data, m->len, c);
	cv = r->cv;
	buf_printf(&ar, "mx%u.example; spf=pass smtp.mailfrom=example.com;\r\n\tarc=%s", k,
	    arc_cv_name(cv));
	arc_verify_free(&v);
	assert_int_equal(arc_seal(h->domain, h->selector,
	    EVP_PKEY_get_base_id(h->key) == EVP_PKEY_ED25519, m->data, m->len, cv,
	    buf_cstr(&ar), NOW + k, arc_sign_pkey, h->key, &set), 0);
	buf_append(&next, set.data, set.len);
	buf_append(&next, m->data, m->len);
	buf_release(m);
	*m = next;
	buf_release(&set);
	buf_release(&ar);
}

static void
seal_chain(const struct hop *hops, size_t nhops)
{
	struct dnsq_cache c;
	struct buf m = BUF_INIT;
	size_t k, chunk;

	dnsq_init(&c);
	buf_append_str(&m, message);
	for (k = 0; k < nhops; k++) {
		struct arc_verify *v;
		const struct arc_result *r;
		char aar[64];

		pass_hop(&m, &hops[k], (unsigned)k + 1, &c);
		for (chunk = 0; chunk < 4; chunk++) {
			v = run(m.data, m.len, chunk * 5, &c, chunk == 3 ? CHECK_LAZY :
			    CHECK_EARLY, NOW);
			r = arc_verify_result(v);
			expect(v, "tern seal", ARC_PASS, "", (unsigned)k + 1);
			assert_string_equal(r->sealer_domain, hops[k].domain);
			assert_int_equal(r->oldest_pass, 0);
			snprintf(aar, sizeof(aar), "mx%zu.example; spf=pass", k + 1);
			assert_memory_equal(r->aar, aar, strlen(aar));
			arc_verify_free(&v);
		}
	}
	/* what the seal covers, changed */
	{
		char *p = strstr(m.data, "Is dinner");
		struct arc_verify *v;

		assert_non_null(p);
		p[3] = 'W';
		verify1(&v, m.data, m.len, &c);
		expect(v, "subject changed", ARC_FAIL, nhops == 1 ?
		    "ARC-Message-Signature i=1: signature did not verify" : nhops == 2 ?
		    "ARC-Message-Signature i=2: signature did not verify" :
		    "ARC-Message-Signature i=3: signature did not verify", (unsigned)nhops);
		arc_verify_free(&v);
		p[3] = 'd';
		p = strstr(m.data, "spf=pass smtp");
		assert_non_null(p);
		p[4] = 'P';
		verify1(&v, m.data, m.len, &c);
		expect(v, "AAR changed", ARC_FAIL, nhops == 1 ?
		    "ARC-Seal i=1: signature did not verify" : nhops == 2 ?
		    "ARC-Seal i=2: signature did not verify" :
		    "ARC-Seal i=3: signature did not verify", (unsigned)nhops);
		arc_verify_free(&v);
	}
	buf_release(&m);
	dnsq_release(&c);
}

static void
test_seal_rsa(void **state)
{
	const struct hop hops[] = {
		{ "example.org", "arc", rsa_key },
		{ "lists.example.org", "seal", rsa_key },
		{ "example.net", "s1", rsa_key },
	};

	(void)state;
	seal_chain(hops, 1);
	seal_chain(hops, 2);
	seal_chain(hops, 3);
}

static void
test_seal_ed25519(void **state)
{
	const struct hop hops[] = {
		{ "example.org", "arc", ed_key },
		{ "lists.example.org", "seal", ed_key },
		{ "example.net", "s1", ed_key },
	};

	(void)state;
	seal_chain(hops, 1);
	seal_chain(hops, 2);
	seal_chain(hops, 3);
}

static void
test_seal_mixed(void **state)
{
	const struct hop hops[] = {
		{ "example.org", "arc", ed_key },
		{ "lists.example.org", "rsa", rsa_key },
		{ "example.net", "ed", ed_key },
	};

	(void)state;
	seal_chain(hops, 3);
}

/* tern's set on top of dkimpy's chain, and on top of a broken one. */
static void
test_seal_over_dkimpy(void **state)
{
	const struct hop h = { "tern.example", "arc", rsa_key };
	struct dnsq_cache c;
	struct arc_verify *v;
	struct buf m = BUF_INIT, set = BUF_INIT;
	size_t len;
	char *d;

	(void)state;
	dnsq_init(&c);
	dkim_fixture_load_keys(&c, DATA_ENV, DATA_DIR);
	d = read_data("pass2.eml", &len);
	buf_append(&m, d, len);
	free(d);
	pass_hop(&m, &h, 3, &c);
	verify1(&v, m.data, m.len, &c);
	expect(v, "over pass2", ARC_PASS, "", 3);
	arc_verify_free(&v);
	buf_release(&m);

	/* a failed chain: the new set says so and covers itself only */
	d = read_data("broken_as.eml", &len);
	buf_append(&m, d, len);
	free(d);
	pass_hop(&m, &h, 3, &c);
	assert_non_null(strstr(m.data, "ARC-Seal: i=3; cv=fail;"));
	verify1(&v, m.data, m.len, &c);
	expect(v, "over broken_as", ARC_FAIL, "ARC-Seal i=3 says cv=fail", 3);
	arc_verify_free(&v);
	/* and nothing goes on top of 50 sets */
	buf_release(&m);
	d = read_data("pass50.eml", &len);
	assert_int_equal(arc_seal("tern.example", "arc", false, d, len, ARC_PASS,
	    "mx.example; arc=pass", NOW, arc_sign_pkey, rsa_key, &set), -1);
	assert_int_equal(set.len, 0);
	free(d);
	dnsq_release(&c);
}

/* 50 sets by tern, each verified, then no 51st. */
static void
test_seal_fifty(void **state)
{
	const struct hop h = { "example.org", "ed", ed_key };
	struct dnsq_cache c;
	struct arc_verify *v;
	struct buf m = BUF_INIT, set = BUF_INIT;
	unsigned k;

	(void)state;
	dnsq_init(&c);
	buf_append_str(&m, message);
	for (k = 1; k <= ARC_MAX_SETS; k++)
		pass_hop(&m, &h, k, &c);
	verify1(&v, m.data, m.len, &c);
	expect(v, "fifty", ARC_PASS, "", 50);
	arc_verify_free(&v);
	assert_int_equal(arc_seal("example.org", "ed", true, m.data, m.len, ARC_PASS,
	    "mx.example; arc=pass", NOW, arc_sign_pkey, ed_key, &set), -1);
	buf_release(&m);
	dnsq_release(&c);
}

static int
sign_fails(void *arg, const uint8_t digest[DKIM_DIGEST_LEN], uint8_t *sig,
    size_t *siglen)
{
	(void)arg;
	(void)digest;
	(void)sig;
	(void)siglen;
	return -1;
}

/* What arc_seal refuses. */
static void
test_seal_refused(void **state)
{
	struct buf out = BUF_INIT, one = BUF_INIT;
	const char *m = message;
	size_t len = strlen(message);

	(void)state;
	/* cv must fit the message */
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_PASS,
	    "mx.example; arc=pass", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_FAIL,
	    "mx.example; arc=fail", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(out.len, 0);
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "mx.example; spf=pass smtp.mailfrom=example.com", NOW, arc_sign_pkey,
	    ed_key, &one), 0);
	buf_append_str(&one, message);
	assert_int_equal(arc_seal("example.org", "arc", true, one.data, one.len, ARC_NONE,
	    "mx.example; arc=none", NOW, arc_sign_pkey, ed_key, &out), -1);
	/* bad arguments */
	assert_int_equal(arc_seal("example.org; x=1", "arc", true, m, len, ARC_NONE,
	    "mx.example; none", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(arc_seal("example.org", "", true, m, len, ARC_NONE,
	    "mx.example; none", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "mx.example; spf=pass\r\nX-Injected: yes", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "mx.example; spf=pass\n", NOW, arc_sign_pkey, ed_key, &out), -1);
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "", NOW, arc_sign_pkey, ed_key, &out), -1);
	/* the key process said no */
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "mx.example; none", NOW, sign_fails, NULL, &out), -1);
	assert_int_equal(out.len, 0);
	/* more From fields than the AMS signs: its over-signing "from"
	 * would take the fifth; four are fine */
	{
		struct buf many = BUF_INIT;
		struct dnsq_cache c;
		struct arc_verify *v;
		int i;

		for (i = 0; i < 4; i++)
			buf_printf(&many, "From: a%d@example.com\r\n", i);
		buf_append_str(&many, message);
		assert_int_equal(arc_seal("example.org", "arc", true, many.data, many.len,
		    ARC_NONE, "mx.example; none", NOW, arc_sign_pkey, ed_key, &out), -1);
		assert_int_equal(out.len, 0);
		dnsq_init(&c);
		put_pkey(&c, "arc._domainkey.example.org", ed_key);
		assert_int_equal(arc_seal("example.org", "arc", true, many.data + 22,
		    many.len - 22, ARC_NONE, "mx.example; none", NOW, arc_sign_pkey, ed_key,
		    &out), 0);
		buf_append(&out, many.data + 22, many.len - 22);
		verify1(&v, out.data, out.len, &c);
		expect(v, "four From", ARC_PASS, "", 1);
		arc_verify_free(&v);
		buf_reset(&out);
		dnsq_release(&c);
		buf_release(&many);
	}
	/* folded A-R text is fine */
	assert_int_equal(arc_seal("example.org", "arc", true, m, len, ARC_NONE,
	    "mx.example;\r\n\tspf=pass smtp.mailfrom=example.com", NOW, arc_sign_pkey,
	    ed_key, &out), 0);
	buf_release(&out);
	buf_release(&one);
}

/* -------------------------------------------------- refused and keys -- */

/* pass1.eml with one string replaced; verified at now. */
static void
expect_edit_at(struct dnsq_cache *c, int64_t now, const char *from, const char *to,
    enum arc_cv cv, const char *reason)
{
	size_t len, fl = strlen(from), tl = strlen(to);
	char *d = read_data("pass1.eml", &len), *p = strstr(d, from);
	struct buf m = BUF_INIT;
	struct arc_verify *v;

	if (p == NULL)
		fail_msg("no \"%s\" in pass1.eml", from);
	buf_append(&m, d, (size_t)(p - d));
	buf_append(&m, to, tl);
	buf_append(&m, p + fl, len - (size_t)(p - d) - fl);
	v = run(m.data, m.len, 0, c, CHECK_EARLY, now);
	expect(v, to, cv, reason, arc_verify_result(v)->n);
	arc_verify_free(&v);
	buf_release(&m);
	free(d);
}

static void
expect_edit(struct dnsq_cache *c, const char *from, const char *to, enum arc_cv cv,
    const char *reason)
{
	expect_edit_at(c, NOW, from, to, cv, reason);
}

static void
test_fields(void **state)
{
	struct dnsq_cache c;

	(void)state;
	dnsq_init(&c);
	dkim_fixture_load_keys(&c, DATA_ENV, DATA_DIR);
	expect_edit(&c, "h=from : to", "h=arc-seal : from : to", ARC_FAIL,
	    "ARC-Message-Signature i=1: h= names ARC-Seal");
	expect_edit(&c, " bh=", " xh=", ARC_FAIL, "ARC-Message-Signature i=1: missing bh=");
	expect_edit(&c, "ARC-Seal: i=1; cv=none;", "ARC-Seal: i=1; cv=none; h=from;",
	    ARC_FAIL, "ARC-Seal i=1: h= in ARC-Seal");
	expect_edit(&c, "ARC-Seal: i=1; cv=none;", "ARC-Seal: i=1;", ARC_FAIL,
	    "ARC-Seal i=1: missing cv=");
	expect_edit(&c, "ARC-Seal: i=1; cv=none;", "ARC-Seal: i=1; cv=pass;", ARC_FAIL,
	    "ARC-Seal i=1: cv=pass");
	expect_edit(&c, "ARC-Seal: i=1; cv=none;", "ARC-Seal: i=1; cv=maybe;", ARC_FAIL,
	    "ARC-Seal i=1: bad cv=");
	expect_edit(&c, "ARC-Seal: i=1; cv=none; a=rsa-sha256",
	    "ARC-Seal: i=1; cv=none; a=rsa-sha1", ARC_FAIL,
	    "ARC-Seal i=1: rsa-sha1 not accepted (RFC 8301)");
	/* read, but the seal covers its own text */
	expect_edit(&c, "ARC-Seal: i=1;", "ARC-Seal: i=01;", ARC_FAIL,
	    "ARC-Seal i=1: signature did not verify");
	expect_edit(&c, "ARC-Seal: i=1;", "ARC-Seal: i=x;", ARC_FAIL,
	    "ARC field without a valid i=");
	expect_edit(&c, "ARC-Seal: i=1;", "ARC-Seal: i=0;", ARC_FAIL,
	    "ARC field without a valid i=");
	expect_edit(&c, "ARC-Seal: i=1;", "ARC-Seal: i=1; i=1;", ARC_FAIL,
	    "ARC field without a valid i=");
	expect_edit(&c, "ARC-Seal: i=1;", "ARC-Seal: i=2;", ARC_FAIL,
	    "ARC set i=1 lacks its ARC-Seal");
	expect_edit(&c, "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results: mx1.example;", ARC_FAIL,
	    "ARC field without a valid i=");
	expect_edit(&c, "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results:\r\n i = 1 ;", ARC_FAIL,
	    "ARC-Seal i=1: signature did not verify");
	expect_edit(&c, "ARC-Authentication-Results: i=1;",
	    "ARC-Authentication-Results: i=999999999999999;", ARC_FAIL,
	    "more than 50 ARC sets");
	expect_edit(&c, "ARC-Message-Signature: i=1;", "arc-message-signature :i=1;",
	    ARC_PASS, "");
	expect_edit(&c, "ARC-Message-Signature: i=1;", "ARC-Message-Signature: i=1; x=1;",
	    ARC_FAIL, "ARC-Message-Signature i=1: x= before t=");
	expect_edit_at(&c, NOW + 11, "ARC-Message-Signature: i=1;",
	    "ARC-Message-Signature: i=1; x=1764058002;", ARC_FAIL,
	    "ARC-Message-Signature i=1: signature expired");
	expect_edit_at(&c, NOW + 10, "ARC-Message-Signature: i=1;",
	    "ARC-Message-Signature: i=1; x=1764058002;", ARC_FAIL,
	    "ARC-Message-Signature i=1: signature did not verify");
	expect_edit(&c, "ARC-Message-Signature: i=1;",
	    "ARC-Message-Signature: i=1; v=2;", ARC_FAIL,
	    "ARC-Message-Signature i=1: signature did not verify");
	dnsq_release(&c);
}

static void
test_keys(void **state)
{
	static const char name[] = "arc._domainkey.example.org";
	struct dnsq_cache c;
	struct arc_verify *v;
	const struct arc_result *r;
	size_t len;
	char *m = read_data("pass1.eml", &len);

	(void)state;
	dnsq_init(&c);
	dkim_fixture_put_status(&c, name, DNSQ_NXDOMAIN);
	r = verify1(&v, m, len, &c);
	expect(v, "no key", ARC_FAIL, "ARC-Message-Signature i=1: no key", 1);
	assert_false(r->temperror);
	arc_verify_free(&v);
	dnsq_release(&c);

	dnsq_init(&c);
	dkim_fixture_put_status(&c, name, DNSQ_TEMP);
	r = verify1(&v, m, len, &c);
	expect(v, "temp", ARC_FAIL, "ARC-Message-Signature i=1: key lookup failed", 1);
	assert_true(r->temperror);
	arc_verify_free(&v);
	dnsq_release(&c);

	dnsq_init(&c);
	put_pkey(&c, name, rsa_key);
	r = verify1(&v, m, len, &c);
	expect(v, "other key", ARC_FAIL,
	    "ARC-Message-Signature i=1: signature did not verify", 1);
	arc_verify_free(&v);
	dnsq_release(&c);

	dnsq_init(&c);
	put_pkey(&c, name, ed_key);
	r = verify1(&v, m, len, &c);
	expect(v, "ed key", ARC_FAIL,
	    "ARC-Message-Signature i=1: key type does not match a=", 1);
	arc_verify_free(&v);
	dnsq_release(&c);

	/* the result is not final until check has run after the end */
	v = arc_verify_new(NOW);
	arc_verify_feed(v, m, len);
	expect(v, "unsettled", ARC_FAIL, "not verified", 1);
	arc_verify_end(v);
	expect(v, "unsettled", ARC_FAIL, "not verified", 1);
	arc_verify_free(&v);
	free(m);
}

/* A header too large to keep, with and without an ARC field in it. */
static void
test_limits(void **state)
{
	struct dnsq_cache c;
	struct buf m = BUF_INIT;
	struct arc_verify *v;
	size_t i;

	(void)state;
	dnsq_init(&c);
	for (i = 0; i < 20000; i++)
		buf_printf(&m, "X-Filler-%zu: %060zu\r\n", i, i);
	buf_append_str(&m, "From: a@example.com\r\n\r\nbody\r\n");
	verify1(&v, m.data, m.len, &c);
	expect(v, "large, no ARC", ARC_NONE, "", 0);
	arc_verify_free(&v);
	buf_reset(&m);
	buf_append_str(&m, "ARC-Seal: i=1; cv=none; a=rsa-sha256; d=x.example; s=s; b=AA==\r\n");
	for (i = 0; i < 20000; i++)
		buf_printf(&m, "X-Filler-%zu: %060zu\r\n", i, i);
	buf_append_str(&m, "From: a@example.com\r\n\r\nbody\r\n");
	verify1(&v, m.data, m.len, &c);
	expect(v, "large, ARC", ARC_FAIL, "header too large", 0);
	arc_verify_free(&v);
	/* header only, no body */
	buf_reset(&m);
	buf_append_str(&m, "From: a@example.com\r\n");
	verify1(&v, m.data, m.len, &c);
	expect(v, "header only", ARC_NONE, "", 0);
	arc_verify_free(&v);
	verify1(&v, "", 0, &c);
	expect(v, "empty", ARC_NONE, "", 0);
	arc_verify_free(&v);
	assert_string_equal(arc_cv_name(ARC_NONE), "none");
	assert_string_equal(arc_cv_name(ARC_PASS), "pass");
	assert_string_equal(arc_cv_name(ARC_FAIL), "fail");
	buf_release(&m);
	dnsq_release(&c);
}

/* ------------------------------------------------------------ fixtures -- */

static int
setup(void **state)
{
	(void)state;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return rsa_key && ed_key ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dkimpy),
		cmocka_unit_test(test_seal_rsa),
		cmocka_unit_test(test_seal_ed25519),
		cmocka_unit_test(test_seal_mixed),
		cmocka_unit_test(test_seal_over_dkimpy),
		cmocka_unit_test(test_seal_fifty),
		cmocka_unit_test(test_seal_refused),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
