/*
 * test_dkim_verify: DKIM verification (RFC 6376, RFC 8463, RFC 8301).
 *
 * - the streaming body canonicalizers against the one-shot forms, at
 *   every split of the input;
 * - tern's own signer, then the verifier, for RSA and Ed25519 keys, the
 *   message fed in chunks of every small size; then the message changed
 *   in the ways that must fail, and every key record problem;
 * - messages signed by dkimpy (tests/unit/data/dkim/, made by make.py
 *   there, found through TERN_DKIM_DATA), among them RFC 8463 Appendix A;
 * - the limits: a header too large, more signatures than asked for.
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
#include "policy/dkim_canon.h"
#include "policy/dkim_sign.h"
#include "policy/dkim_verify.h"
#include "proto/dnsq.h"

#include "dkim_fixture.h"

#define NOW 1764057992
/* make.py's files; meson sets the variable */
#define DATA_ENV "TERN_DKIM_DATA"
#define DATA_DIR "tests/unit/data/dkim"

static EVP_PKEY *rsa_key, *ed_key;

/* ------------------------------------------------------------ helpers -- */

/*
 * Verifies msg fed in chunks of chunk octets (0: at once), asking for
 * keys as soon as the header is done, as the daemon does; the cache must
 * hold every key. Returns the verifier (the caller frees it).
 */
static struct dkim_verify *
run_now(const char *msg, size_t len, size_t chunk, struct dnsq_cache *c,
    size_t max, int64_t now)
{
	struct dkim_verify *v = dkim_verify_new(max, now);
	size_t i = 0;
	bool asked = false;

	assert_non_null(v);
	if (chunk == 0)
		chunk = len ? len : 1;
	while (i < len) {
		size_t n = len - i < chunk ? len - i : chunk;

		dkim_verify_feed(v, msg + i, n);
		i += n;
		if (!asked && dkim_verify_header_done(v)) {
			assert_int_equal(dkim_verify_check(v, c), 0);
			asked = true;
		}
	}
	dkim_verify_end(v);
	assert_true(dkim_verify_header_done(v));
	assert_int_equal(dkim_verify_check(v, c), 0);
	return v;
}

static struct dkim_verify *
run(const char *msg, size_t len, size_t chunk, struct dnsq_cache *c)
{
	return run_now(msg, len, chunk, c, 8, NOW);
}

static void
expect(const struct dkim_verify *v, size_t i, enum dkim_res r, const char *reason)
{
	const struct dkim_result *res;

	assert_true(i < dkim_verify_count(v));
	res = dkim_verify_result(v, i);
	if (res->result != r || (reason && strcmp(res->reason, reason) != 0))
		fail_msg("signature %zu: %s \"%s\", expected %s \"%s\"", i,
		    dkim_result_name(res->result), res->reason,
		    dkim_result_name(r), reason ? reason : "*");
}

/* One verification of msg with one key record: the first result. */
static void
expect_one(const char *msg, size_t len, const char *name, const char *txt,
    enum dkim_res r, const char *reason)
{
	struct dnsq_cache c;
	struct dkim_verify *v;

	dnsq_init(&c);
	if (txt)
		dkim_fixture_put_key(&c, name, txt);
	else
		dkim_fixture_put_status(&c, name, DNSQ_NXDOMAIN);
	v = run(msg, len, 0, &c);
	assert_int_equal(dkim_verify_count(v), 1);
	expect(v, 0, r, reason);
	dkim_verify_free(&v);
	dnsq_release(&c);
}

/* ------------------------------------------------------ canonicalizer -- */

static const char *const bodies[] = {
	"",
	"\r\n",
	"\r\n\r\n\r\n",
	"a",
	"a\r\n",
	"a\r\n\r\n",
	"  a  b\t\tc \t\r\n\r\n \t \r\n",
	" \r\n\t\r\nx\r\n",
	"line\rbare cr\r\nline\nbare lf\r\n",
	"trailing cr\r",
	"\r",
	"\r\r\n\r\n",
	"a \r\n \r\n\r\nb\t\r\n\r\n",
	"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n",
};

struct sink {
	struct buf out;
};

static void
sink_fn(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	buf_append(&s->out, p, n);
}

static void
streamed(enum dkim_canon alg, const char *b, size_t len, size_t split,
    const uint64_t *limit, struct buf *out, uint64_t *total)
{
	struct dkim_canon_body bc;
	struct sink s = { BUF_INIT };

	dkim_canon_body_init(&bc, alg, limit, NULL, sink_fn, &s);
	dkim_canon_body_feed(&bc, b, split);
	dkim_canon_body_feed(&bc, b + split, len - split);
	dkim_canon_body_end(&bc);
	dkim_canon_body_feed(&bc, "ignored", 7);
	*out = s.out;
	*total = bc.total;
}

static void
test_canon_streaming(void **state)
{
	size_t i, split;
	int alg;

	(void)state;
	for (alg = 0; alg < 2; alg++) {
		for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			const char *b = bodies[i];
			size_t len = strlen(b);
			struct buf whole = BUF_INIT;

			if (alg == DKIM_CANON_SIMPLE)
				dkim_canon_body_simple(b, len, &whole);
			else
				dkim_canon_body_relaxed(b, len, &whole);
			for (split = 0; split <= len; split++) {
				struct buf part;
				uint64_t total, lim;

				streamed((enum dkim_canon)alg, b, len, split, NULL, &part, &total);
				assert_int_equal(part.len, whole.len);
				assert_int_equal(total, whole.len);
				if (whole.len)
					assert_memory_equal(part.data, whole.data, whole.len);
				buf_release(&part);
				/* l=: the first lim octets, the total still counted */
				for (lim = 0; lim <= whole.len + 1; lim++) {
					streamed((enum dkim_canon)alg, b, len, split, &lim, &part, &total);
					assert_int_equal(total, whole.len);
					assert_int_equal(part.len, lim < whole.len ? lim : whole.len);
					if (part.len)
						assert_memory_equal(part.data, whole.data, part.len);
					buf_release(&part);
				}
			}
			buf_release(&whole);
		}
	}
}

static void
test_canon_values(void **state)
{
	static const struct { int alg; const char *in, *out; } t[] = {
		/* §3.4.3: an empty body is one CRLF; trailing empty lines go */
		{ DKIM_CANON_SIMPLE, "", "\r\n" },
		{ DKIM_CANON_SIMPLE, "\r\n\r\n", "\r\n" },
		{ DKIM_CANON_SIMPLE, "a \r\n\r\n", "a \r\n" },
		{ DKIM_CANON_SIMPLE, "a", "a\r\n" },
		{ DKIM_CANON_SIMPLE, " \r\n", " \r\n" },
		/* §3.4.4: empty stays empty; WSP runs; WSP-only lines are empty */
		{ DKIM_CANON_RELAXED, "", "" },
		{ DKIM_CANON_RELAXED, "\r\n", "" },
		{ DKIM_CANON_RELAXED, " \t\r\n", "" },
		{ DKIM_CANON_RELAXED, " a\t b \r\n\r\nc", " a b\r\n\r\nc\r\n" },
		{ DKIM_CANON_RELAXED, "a\rb \r", "a\rb \r\r\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf o = BUF_INIT;

		if (t[i].alg == DKIM_CANON_SIMPLE)
			dkim_canon_body_simple(t[i].in, strlen(t[i].in), &o);
		else
			dkim_canon_body_relaxed(t[i].in, strlen(t[i].in), &o);
		assert_string_equal(buf_cstr(&o), t[i].out);
		buf_release(&o);
	}
	{
		struct buf o = BUF_INIT;

		dkim_canon_header_simple("Subject :  x\r\n y ", 17, &o);
		assert_string_equal(buf_cstr(&o), "Subject :  x\r\n y \r\n");
		buf_reset(&o);
		dkim_canon_header(DKIM_CANON_RELAXED, "Subject :  x\r\n y ", 17, &o);
		assert_string_equal(buf_cstr(&o), "subject:x y\r\n");
		/* the signature field itself: appended without its CRLF */
		assert_true(dkim_canon_header_self(DKIM_CANON_RELAXED, "B: b= ", 6, &o));
		assert_string_equal(buf_cstr(&o), "subject:x y\r\nb:b=");
		assert_true(dkim_canon_header_self(DKIM_CANON_SIMPLE, "B: b= ", 6, &o));
		assert_string_equal(buf_cstr(&o), "subject:x y\r\nb:b=B: b= ");
		assert_false(dkim_canon_header_self(DKIM_CANON_RELAXED, "no colon", 8, &o));
		assert_int_equal(o.len, 23);
		buf_release(&o);
	}
}

/* ---------------------------------------------------------- round trip -- */

static const char message[] =
    "Received: from x by y; Tue, 25 Nov 2025 10:00:00 +0000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: a folded\r\n"
    "\tsubject line\r\n"
    "Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "X-Other: not signed\r\n"
    "\r\n"
    "Hello Bob,  \r\n"
    "\r\n"
    "  this is\t\tthe body.\r\n"
    "\r\n"
    "\r\n";

/* The message with tern's signature on top, and the key's DNS record. */
static void
signed_message(EVP_PKEY *key, const char *msg, size_t len, struct buf *out,
    struct buf *txt)
{
	struct dkim_key k;

	memset(&k, 0, sizeof(k));
	strcpy(k.domain, "example.org");
	strcpy(k.selector, "sel");
	k.pkey = key;
	assert_int_equal(dkim_sign(&k, msg, len, NOW, out), 0);
	buf_append(out, msg, len);
	assert_int_equal(dkim_txt_record(key, txt), 0);
}

static void
round_trip(EVP_PKEY *key, unsigned bits)
{
	struct buf m = BUF_INIT, txt = BUF_INIT;
	struct dnsq_cache c;
	struct dkim_verify *v;
	const struct dkim_result *r;
	size_t chunk;

	signed_message(key, message, sizeof(message) - 1, &m, &txt);
	dnsq_init(&c);
	dkim_fixture_put_key(&c, "sel._domainkey.example.org", buf_cstr(&txt));
	for (chunk = 0; chunk <= 17; chunk++) {
		v = run(m.data, m.len, chunk, &c);
		assert_int_equal(dkim_verify_count(v), 1);
		expect(v, 0, DKIM_PASS, "");
		r = dkim_verify_result(v, 0);
		assert_string_equal(r->domain, "example.org");
		assert_string_equal(r->selector, "sel");
		assert_string_equal(r->identity, "@example.org");
		assert_string_equal(r->algorithm, bits == 256 ? "ed25519-sha256" : "rsa-sha256");
		assert_int_equal(strlen(r->b_prefix), 8);
		assert_int_equal(r->key_bits, bits);
		assert_false(r->l_used);
		assert_false(r->testing);
		dkim_verify_free(&v);
	}
	dnsq_release(&c);

	/* relaxed/relaxed: whitespace in the body and header may change */
	{
		struct buf m2 = BUF_INIT;
		char *p;

		buf_append(&m2, m.data, m.len);
		p = strstr(m2.data, "Hello Bob,  ");
		memcpy(p, "Hello\tBob, \t", 12);
		p = strstr(m2.data, "Subject: a folded");
		memcpy(p, "SUBJECT:a \tfolded", 17);
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_PASS, "");
		/* a changed body */
		p = strstr(m2.data, "the body");
		*p = 'T';
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_FAIL, "body hash mismatch");
		buf_release(&m2);
	}
	/* a changed signed field */
	{
		struct buf m2 = BUF_INIT;

		buf_append(&m2, m.data, m.len);
		memcpy(strstr(m2.data, "subject line"), "SUBJECT", 7);
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_FAIL, "signature did not verify");
		buf_release(&m2);
	}
	/* an unsigned field may change, and fields may be added on top */
	{
		struct buf m2 = BUF_INIT;

		buf_append_str(&m2, "Received: from z by y; Tue, 25 Nov 2025 10:00:01 +0000\r\n");
		buf_append(&m2, m.data, m.len);
		memcpy(strstr(m2.data, "not signed"), "NOT", 3);
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_PASS, "");
		buf_release(&m2);
	}
	/* but not a second From (over-signed) */
	{
		struct buf m2 = BUF_INIT;

		buf_append_str(&m2, "From: Mallory <m@evil.example>\r\n");
		buf_append(&m2, m.data, m.len);
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_FAIL, "signature did not verify");
		buf_release(&m2);
	}
	/* a body appended */
	{
		struct buf m2 = BUF_INIT;

		buf_append(&m2, m.data, m.len);
		buf_append_str(&m2, "P.S. buy now\r\n");
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_FAIL, "body hash mismatch");
		buf_release(&m2);
	}
	/* trailing empty lines do not count */
	{
		struct buf m2 = BUF_INIT;

		buf_append(&m2, m.data, m.len);
		buf_append_str(&m2, "\r\n\r\n  \r\n");
		expect_one(m2.data, m2.len, "sel._domainkey.example.org", buf_cstr(&txt),
		    DKIM_PASS, "");
		buf_release(&m2);
	}
	buf_release(&m);
	buf_release(&txt);
}

static void
test_round_trip_rsa(void **state)
{
	(void)state;
	round_trip(rsa_key, 2048);
}

static void
test_round_trip_ed25519(void **state)
{
	(void)state;
	round_trip(ed_key, 256);
}

/* Messages at the edges: no body, no blank line, no header. */
static void
test_round_trip_edges(void **state)
{
	static const char *const msgs[] = {
		"From: a@example.org\r\n",
		"From: a@example.org\r\n\r\n",
		"From: a@example.org\r\nSubject: no body and no CRLF",
		"From: a@example.org\r\n\r\n\r\n\r\n",
		"From: a@example.org\r\n\r\nno final CRLF",
		"From: a@example.org\r\n\r\n\r\r\n\r",
	};
	EVP_PKEY *keys[2] = { rsa_key, ed_key };
	size_t i, k, chunk;

	(void)state;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			struct buf m = BUF_INIT, txt = BUF_INIT;
			struct dnsq_cache c;

			signed_message(keys[k], msgs[i], strlen(msgs[i]), &m, &txt);
			dnsq_init(&c);
			dkim_fixture_put_key(&c, "sel._domainkey.example.org", buf_cstr(&txt));
			for (chunk = 0; chunk < 4; chunk++) {
				struct dkim_verify *v = run(m.data, m.len, chunk, &c);

				assert_int_equal(dkim_verify_count(v), 1);
				expect(v, 0, DKIM_PASS, "");
				dkim_verify_free(&v);
			}
			dnsq_release(&c);
			buf_release(&m);
			buf_release(&txt);
		}
	}
}

/* The replay model: keys are asked for once the header is done. */
static void
test_key_fetching(void **state)
{
	struct buf m = BUF_INIT, txt = BUF_INIT;
	struct dnsq_cache c;
	struct dkim_verify *v;
	size_t hdr;

	(void)state;
	signed_message(ed_key, message, sizeof(message) - 1, &m, &txt);
	hdr = (size_t)(strstr(m.data, "\r\n\r\n") + 4 - m.data);
	dnsq_init(&c);
	v = dkim_verify_new(4, NOW);
	assert_non_null(v);
	/* the header not done yet: nothing to do */
	dkim_verify_feed(v, m.data, hdr - 1);
	assert_false(dkim_verify_header_done(v));
	assert_int_equal(dkim_verify_check(v, &c), 0);
	assert_false(c.need);
	dkim_verify_feed(v, m.data + hdr - 1, 1);
	assert_true(dkim_verify_header_done(v));
	assert_int_equal(dkim_verify_count(v), 1);
	assert_int_equal(dkim_verify_check(v, &c), DNSQ_NEED);
	assert_true(c.need);
	assert_string_equal(c.need_name, "sel._domainkey.example.org");
	assert_int_equal(c.need_type, DNSQ_TXT);
	dkim_fixture_put_key(&c, c.need_name, buf_cstr(&txt));
	/* all keys in, the message not over: still not settled */
	assert_int_equal(dkim_verify_check(v, &c), 0);
	expect(v, 0, DKIM_TEMPERROR, NULL);
	dkim_verify_feed(v, m.data + hdr, m.len - hdr);
	dkim_verify_end(v);
	/* the key is kept: settled at the end already */
	expect(v, 0, DKIM_PASS, "");
	assert_int_equal(dkim_verify_check(v, &c), 0);
	expect(v, 0, DKIM_PASS, "");
	dkim_verify_free(&v);
	assert_null(v);
	dnsq_release(&c);

	/* ended without the key: temperror until check has it */
	dnsq_init(&c);
	v = dkim_verify_new(4, NOW);
	dkim_verify_feed(v, m.data, m.len);
	dkim_verify_end(v);
	expect(v, 0, DKIM_TEMPERROR, "key not fetched");
	assert_int_equal(dkim_verify_check(v, &c), DNSQ_NEED);
	dkim_fixture_put_status(&c, c.need_name, DNSQ_TEMP);
	assert_int_equal(dkim_verify_check(v, &c), 0);
	expect(v, 0, DKIM_TEMPERROR, "key lookup failed");
	dkim_verify_free(&v);
	dnsq_release(&c);
	buf_release(&m);
	buf_release(&txt);
}

/* Every way a key record can be wrong. */
static void
test_key_records(void **state)
{
	struct buf rm = BUF_INIT, rtxt = BUF_INIT, em = BUF_INIT, etxt = BUF_INIT;
	const char *name = "sel._domainkey.example.org";
	const char *rp, *ep;
	char rec[4096];
	EVP_PKEY *small;
	struct buf stxt = BUF_INIT;

	(void)state;
	signed_message(rsa_key, message, sizeof(message) - 1, &rm, &rtxt);
	signed_message(ed_key, message, sizeof(message) - 1, &em, &etxt);
	rp = strstr(buf_cstr(&rtxt), "p=") + 2;
	ep = strstr(buf_cstr(&etxt), "p=") + 2;

	expect_one(rm.data, rm.len, name, NULL, DKIM_PERMERROR, "no key");
	{
		struct dnsq_cache c;
		struct dkim_verify *v;

		dnsq_init(&c);
		dkim_fixture_put_status(&c, name, DNSQ_NODATA);
		v = run(rm.data, rm.len, 0, &c);
		expect(v, 0, DKIM_PERMERROR, "no key");
		dkim_verify_free(&v);
		dnsq_release(&c);
	}
	/* no v= is fine; v= not first, or not DKIM1, is no key record */
	snprintf(rec, sizeof(rec), "k=rsa; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PASS, "");
	snprintf(rec, sizeof(rec), "p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PASS, "");
	snprintf(rec, sizeof(rec), "k=rsa; v=DKIM1; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR,
	    "bad key record: not a DKIM1 key record");
	snprintf(rec, sizeof(rec), "v=DKIM2; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR,
	    "bad key record: not a DKIM1 key record");
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; k=rsa; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR, "bad key record: duplicate tag");
	expect_one(rm.data, rm.len, name, "v=DKIM1; k=rsa", DKIM_PERMERROR,
	    "bad key record: key record without p=");
	expect_one(rm.data, rm.len, name, "v=DKIM1; p=!!!", DKIM_PERMERROR,
	    "bad key record: bad p=");
	/* revoked */
	expect_one(rm.data, rm.len, name, "v=DKIM1; k=rsa; p=", DKIM_PERMERROR, "key revoked");
	expect_one(em.data, em.len, name, "v=DKIM1; k=ed25519; p=", DKIM_PERMERROR, "key revoked");
	/* h= and s= of the key */
	snprintf(rec, sizeof(rec), "v=DKIM1; h=sha1; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR, "key does not allow sha256");
	snprintf(rec, sizeof(rec), "v=DKIM1; h=sha1 : sha256; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PASS, "");
	snprintf(rec, sizeof(rec), "v=DKIM1; s=tlsrpt; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR, "key not for email");
	snprintf(rec, sizeof(rec), "v=DKIM1; s=tlsrpt:*; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PASS, "");
	snprintf(rec, sizeof(rec), "v=DKIM1; s=email; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PASS, "");
	/* key types */
	snprintf(rec, sizeof(rec), "v=DKIM1; k=dsa; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR, "unknown key type");
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", rp);
	expect_one(rm.data, rm.len, name, rec, DKIM_PERMERROR, "key type does not match a=");
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", ep);
	expect_one(em.data, em.len, name, rec, DKIM_PERMERROR, "key type does not match a=");
	snprintf(rec, sizeof(rec), "v=DKIM1; p=%s", ep);
	expect_one(em.data, em.len, name, rec, DKIM_PERMERROR, "key type does not match a=");
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", rp);
	expect_one(em.data, em.len, name, rec, DKIM_PERMERROR, "bad ed25519 key");
	expect_one(rm.data, rm.len, name, "v=DKIM1; k=rsa; p=AAAA", DKIM_PERMERROR, "bad RSA key");
	/* the wrong key of the right type */
	{
		EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		struct buf otxt = BUF_INIT;

		assert_int_equal(dkim_txt_record(other, &otxt), 0);
		expect_one(em.data, em.len, name, buf_cstr(&otxt), DKIM_FAIL,
		    "signature did not verify");
		buf_release(&otxt);
		EVP_PKEY_free(other);
	}
	/* testing and strict flags */
	{
		struct dnsq_cache c;
		struct dkim_verify *v;

		dnsq_init(&c);
		snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; t=y:s; p=%s", ep);
		dkim_fixture_put_key(&c, name, rec);
		v = run(em.data, em.len, 0, &c);
		expect(v, 0, DKIM_PASS, "");
		assert_true(dkim_verify_result(v, 0)->testing);
		dkim_verify_free(&v);
		dnsq_release(&c);
	}
	/* several key records: which is meant is undefined */
	{
		struct dnsq_cache c;
		struct dkim_verify *v;
		const char *two[2];
		char rec2[4096];

		dnsq_init(&c);
		snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", ep);
		snprintf(rec2, sizeof(rec2), "v=DKIM1; k=rsa; p=%s", rp);
		two[0] = rec;
		two[1] = rec2;
		dkim_fixture_put_txt(&c, name, two, 2);
		v = run(em.data, em.len, 0, &c);
		expect(v, 0, DKIM_PERMERROR, "several key records");
		dkim_verify_free(&v);
		dnsq_release(&c);
		/* but another kind of record beside the key is passed over */
		dnsq_init(&c);
		two[1] = "v=spf1 -all";
		dkim_fixture_put_txt(&c, name, two, 2);
		v = run(em.data, em.len, 0, &c);
		expect(v, 0, DKIM_PASS, "");
		dkim_verify_free(&v);
		dnsq_release(&c);
	}
	/* RFC 8301 §3.2: no RSA key under 1024 bits */
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
	assert_non_null(small);
	{
		struct buf sm = BUF_INIT;

		signed_message(small, message, sizeof(message) - 1, &sm, &stxt);
		expect_one(sm.data, sm.len, name, buf_cstr(&stxt), DKIM_PERMERROR,
		    "RSA key under 1024 bits (RFC 8301)");
		buf_release(&sm);
	}
	EVP_PKEY_free(small);
	buf_release(&stxt);
	buf_release(&rm);
	buf_release(&rtxt);
	buf_release(&em);
	buf_release(&etxt);
}

/* --------------------------------------------------------------- limits -- */

static void
test_limits(void **state)
{
	struct buf m = BUF_INIT, txt = BUF_INIT, big = BUF_INIT;
	struct dnsq_cache c;
	struct dkim_verify *v;
	size_t i;

	(void)state;
	signed_message(ed_key, message, sizeof(message) - 1, &m, &txt);
	dnsq_init(&c);
	dkim_fixture_put_key(&c, "sel._domainkey.example.org", buf_cstr(&txt));

	/* max_sigs: the first ones only; 0: none */
	for (i = 0; i < 3; i++) {
		struct buf one = BUF_INIT, t2 = BUF_INIT;

		signed_message(ed_key, message, sizeof(message) - 1, &one, &t2);
		buf_append(&big, one.data, (size_t)(strstr(one.data, "Received:") - one.data));
		buf_release(&one);
		buf_release(&t2);
	}
	buf_append(&big, message, sizeof(message) - 1);
	v = run_now(big.data, big.len, 0, &c, 2, NOW);
	assert_int_equal(dkim_verify_count(v), 2);
	expect(v, 0, DKIM_PASS, "");
	expect(v, 1, DKIM_PASS, "");
	dkim_verify_free(&v);
	v = run_now(big.data, big.len, 0, &c, 0, NOW);
	assert_int_equal(dkim_verify_count(v), 0);
	assert_null(dkim_verify_result(v, 0));
	dkim_verify_free(&v);

	/* a header over the bound: its signatures are permerror */
	buf_reset(&big);
	buf_append(&big, m.data, m.len - (sizeof(message) - 1));
	for (i = 0; big.len <= DKIM_VERIFY_HEADER_MAX; i++)
		buf_printf(&big, "X-Filler-%zu: %0200d\r\n", i, 0);
	buf_append_str(&big, "DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh=; b=\r\n");
	buf_append(&big, message, sizeof(message) - 1);
	v = run(big.data, big.len, 4096, &c);
	assert_int_equal(dkim_verify_count(v), 2);
	expect(v, 0, DKIM_PERMERROR, "header too large");
	expect(v, 1, DKIM_PERMERROR, "header too large");
	dkim_verify_free(&v);

	/* too many fields */
	buf_reset(&big);
	buf_append(&big, m.data, m.len - (sizeof(message) - 1));
	for (i = 0; i <= DKIM_VERIFY_FIELDS_MAX; i++)
		buf_append_str(&big, "X: y\r\n");
	buf_append(&big, message, sizeof(message) - 1);
	v = run(big.data, big.len, 0, &c);
	assert_int_equal(dkim_verify_count(v), 1);
	expect(v, 0, DKIM_PERMERROR, "header too large");
	dkim_verify_free(&v);

	/* no signature, no header, nothing at all */
	v = run(message, sizeof(message) - 1, 0, &c);
	assert_int_equal(dkim_verify_count(v), 0);
	dkim_verify_free(&v);
	v = run("\r\nbody\r\n", 8, 1, &c);
	assert_int_equal(dkim_verify_count(v), 0);
	dkim_verify_free(&v);
	v = run("", 0, 0, &c);
	assert_int_equal(dkim_verify_count(v), 0);
	dkim_verify_free(&v);
	dkim_verify_free(&v);     /* freeing NULL is fine */

	assert_string_equal(dkim_result_name(DKIM_NONE), "none");
	assert_string_equal(dkim_result_name(DKIM_PASS), "pass");
	assert_string_equal(dkim_result_name(DKIM_FAIL), "fail");
	assert_string_equal(dkim_result_name(DKIM_NEUTRAL), "neutral");
	assert_string_equal(dkim_result_name(DKIM_POLICY), "policy");
	assert_string_equal(dkim_result_name(DKIM_TEMPERROR), "temperror");
	assert_string_equal(dkim_result_name(DKIM_PERMERROR), "permerror");
	dnsq_release(&c);
	buf_release(&m);
	buf_release(&txt);
	buf_release(&big);
}

/* Signature fields the verifier refuses before any key is asked for. */
static void
test_bad_fields(void **state)
{
	static const struct { const char *field, *reason; enum dkim_res r; } t[] = {
		{ "v=1; a=rsa-sha1; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA",
		  "rsa-sha1 not accepted (RFC 8301)", DKIM_PERMERROR },
		{ "v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA",
		  "unknown algorithm", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; x=1000",
		  "signature expired", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; t=5000000000; x=4000000000",
		  "x= before t=", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=to; bh=AAAA; b=AAAA",
		  "h= does not sign From", DKIM_PERMERROR },
		{ "a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA",
		  "missing v=", DKIM_PERMERROR },
		{ "v=1; v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA",
		  "duplicate tag", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; i=a@example.com",
		  "i= not within d=", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA; q=http",
		  "q= lacks dns/txt", DKIM_PERMERROR },
		{ "v=1; a=rsa-sha256; d=example.org; s=a234567890123456789012345678901234567890123456789012345678901234; h=from; bh=AAAA; b=AAAA",
		  "s= too long", DKIM_PERMERROR },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf m = BUF_INIT;
		struct dnsq_cache c;
		struct dkim_verify *v;

		buf_printf(&m, "DKIM-Signature: %s\r\n%s", t[i].field, message);
		dnsq_init(&c);
		v = run(m.data, m.len, 0, &c);
		assert_false(c.need);       /* no key asked for */
		assert_int_equal(dkim_verify_count(v), 1);
		expect(v, 0, t[i].r, t[i].reason);
		/* what could be read is reported */
		assert_string_equal(dkim_verify_result(v, 0)->domain,
		    t[i].r == DKIM_PERMERROR && strcmp(t[i].reason, "duplicate tag") == 0 ?
		    "" : "example.org");
		dkim_verify_free(&v);
		dnsq_release(&c);
		buf_release(&m);
	}
}

/* ------------------------------------------------------------ dkimpy -- */

#define FIX_T 1764057992         /* t= of make.py's signatures */

static char *
read_data(const char *name, size_t *len)
{
	return dkim_fixture_read(DATA_ENV, DATA_DIR, name, len);
}

struct want {
	enum dkim_res r;
	const char *reason;
};

static void
test_dkimpy(void **state)
{
	static const struct {
		const char *file;
		int64_t now;
		size_t n;
		struct want w[3];
	} t[] = {
		{ "rsa_rr.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "rsa_rs.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "rsa_sr.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "rsa_ss.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "ed_rr.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "ed_rs.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "ed_sr.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "ed_ss.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "rsa1024.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "identity.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "length.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "length_appended.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "length_cut.eml", FIX_T, 1, { { DKIM_FAIL, "body shorter than l=" } } },
		{ "three.eml", FIX_T, 3, { { DKIM_FAIL, "signature did not verify" },
		    { DKIM_PASS, "" }, { DKIM_PASS, "" } } },
		{ "changed_body.eml", FIX_T, 1, { { DKIM_FAIL, "body hash mismatch" } } },
		{ "changed_subject.eml", FIX_T, 1, { { DKIM_FAIL, "signature did not verify" } } },
		{ "refolded.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "refolded_simple.eml", FIX_T, 1, { { DKIM_FAIL, "signature did not verify" } } },
		{ "oversigned.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "oversigned_from_added.eml", FIX_T, 1, { { DKIM_FAIL, "signature did not verify" } } },
		{ "oversigned_replyto_added.eml", FIX_T, 1, { { DKIM_FAIL, "signature did not verify" } } },
		{ "subject_added_above.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "subject_added_below.eml", FIX_T, 1, { { DKIM_FAIL, "signature did not verify" } } },
		{ "sha1.eml", FIX_T, 1, { { DKIM_PERMERROR, "rsa-sha1 not accepted (RFC 8301)" } } },
		{ "rsa512.eml", FIX_T, 1, { { DKIM_PERMERROR, "RSA key under 1024 bits (RFC 8301)" } } },
		{ "expires.eml", FIX_T, 1, { { DKIM_PASS, "" } } },
		{ "expires.eml", FIX_T + 3600, 1, { { DKIM_PASS, "" } } },
		{ "expires.eml", FIX_T + 3601, 1, { { DKIM_PERMERROR, "signature expired" } } },
		/* RFC 8463 Appendix A: ed25519-sha256 and rsa-sha256, simple/simple */
		{ "rfc8463.eml", FIX_T, 2, { { DKIM_PASS, "" }, { DKIM_PASS, "" } } },
	};
	static const size_t chunks[] = { 0, 1, 2, 7, 64, 1000 };
	struct dnsq_cache c;
	size_t i, j, k;

	(void)state;
	dnsq_init(&c);
	dkim_fixture_load_keys(&c, DATA_ENV, DATA_DIR);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len;
		char *m = read_data(t[i].file, &len);

		for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			struct dkim_verify *v = run_now(m, len, chunks[k], &c, 8, t[i].now);

			if (dkim_verify_count(v) != t[i].n)
				fail_msg("%s: %zu signatures", t[i].file, dkim_verify_count(v));
			for (j = 0; j < t[i].n; j++) {
				const struct dkim_result *r = dkim_verify_result(v, j);

				if (r->result != t[i].w[j].r || strcmp(r->reason, t[i].w[j].reason) != 0)
					fail_msg("%s #%zu: %s \"%s\", expected %s \"%s\"", t[i].file, j,
					    dkim_result_name(r->result), r->reason,
					    dkim_result_name(t[i].w[j].r), t[i].w[j].reason);
			}
			dkim_verify_free(&v);
		}
		free(m);
	}

	/* what is reported */
	{
		size_t len;
		char *m = read_data("identity.eml", &len);
		struct dkim_verify *v = run(m, len, 0, &c);
		const struct dkim_result *r = dkim_verify_result(v, 0);

		assert_string_equal(r->domain, "example.com");
		assert_string_equal(r->selector, "rsa");
		assert_string_equal(r->identity, "joe@news.example.com");
		assert_string_equal(r->algorithm, "rsa-sha256");
		assert_int_equal(r->key_bits, 2048);
		assert_false(r->l_used);
		dkim_verify_free(&v);
		free(m);

		m = read_data("length_appended.eml", &len);
		v = run(m, len, 0, &c);
		assert_true(dkim_verify_result(v, 0)->l_used);
		dkim_verify_free(&v);
		free(m);

		m = read_data("rfc8463.eml", &len);
		v = run(m, len, 0, &c);
		r = dkim_verify_result(v, 0);
		assert_string_equal(r->domain, "football.example.com");
		assert_string_equal(r->selector, "brisbane");
		assert_string_equal(r->identity, "@football.example.com");
		assert_string_equal(r->algorithm, "ed25519-sha256");
		assert_string_equal(r->b_prefix, "9/dsDChY");
		assert_int_equal(r->key_bits, 256);
		r = dkim_verify_result(v, 1);
		assert_string_equal(r->selector, "test");
		assert_string_equal(r->b_prefix, "icKcLSEZ");
		assert_int_equal(r->key_bits, 1024);
		dkim_verify_free(&v);
		free(m);
	}
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
		cmocka_unit_test(test_canon_streaming),
		cmocka_unit_test(test_canon_values),
		cmocka_unit_test(test_round_trip_rsa),
		cmocka_unit_test(test_round_trip_ed25519),
		cmocka_unit_test(test_round_trip_edges),
		cmocka_unit_test(test_key_fetching),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_dkimpy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
