/*
 * fuzz_arc: ARC verification over the replay model, and tern's own seal
 * of what it verified.
 *
 * Input: byte 0 the seed of the chunk sizes, byte 1 the number of key
 * answers (0..4), then each answer as a status octet (0 TXT, 1 NXDOMAIN,
 * 2 NODATA, 3 TEMP), a two-octet length and that much record text; the
 * rest is the message. The answers go, in order, to whatever names the
 * verifier asks for; past the last one every name is NXDOMAIN.
 *
 * The message is verified once fed in one piece with keys asked for as
 * soon as the header ends (as the daemon does), and once in chunks of
 * 1..64 octets drawn from the seed with keys asked for only at the end.
 * Checked: both give the same result; it is settled; pass and none have
 * no reason, fail has one, of printable ASCII; the strings end in NUL;
 * n is at most 50. Then, when the message has no chain, it is sealed
 * with a fixed Ed25519 key and the sealed message must verify: pass, one
 * set, sealed by us.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "fuzz_dkim_common.h"
#include "policy/arc.h"
#include "policy/arc_seal.h"
#include "policy/dkim_sign.h"
#include "proto/dnsq.h"

#define NOW 1764057992
#define MAX_KEYS 4
#define SEAL_MAX (64 * 1024)     /* messages sealed at most */

static const char seal_name[] = "fz._domainkey.fuzz.example";

struct input {
	uint8_t seed;
	struct fuzz_keys keys;
	const char *msg;
	size_t len;
};

static int
parse_input(const uint8_t *d, size_t size, struct input *in)
{
	if (size < 2)
		return -1;
	memset(in, 0, sizeof(*in));
	in->seed = d[0];
	return fuzz_keys_parse(d, size, 1, MAX_KEYS, &in->keys, &in->msg, &in->len);
}

static void
check_until_done(struct arc_verify *v, struct dnsq_cache *c, const struct input *in,
    size_t *next)
{
	int rc, rounds = 0;

	while ((rc = arc_verify_check(v, c)) == DNSQ_NEED) {
		fuzz_keys_answer(c, &in->keys, next);
		CHECK(++rounds <= 2 * ARC_MAX_SETS);
	}
	CHECK(rc == 0);
}

static struct arc_verify *
run(const struct input *in, const char *msg, size_t len, int chunked,
    struct dnsq_cache *c)
{
	struct arc_verify *v = arc_verify_new(NOW);
	uint32_t x = fuzz_chunk_start(in->seed);
	size_t i = 0, next = 0;
	int asked = 0;

	CHECK(v != NULL);
	while (i < len) {
		size_t n = chunked ? fuzz_chunk_next(&x, len - i) : len - i;

		arc_verify_feed(v, msg + i, n);
		i += n;
		if (!chunked && !asked && arc_verify_header_done(v)) {
			check_until_done(v, c, in, &next);
			asked = 1;
		}
	}
	arc_verify_end(v);
	CHECK(arc_verify_header_done(v));
	check_until_done(v, c, in, &next);
	return v;
}

static void
check_result(const struct arc_result *r)
{
	size_t i;

	fuzz_check_str(r->reason, sizeof(r->reason));
	fuzz_check_str(r->sealer_domain, sizeof(r->sealer_domain));
	fuzz_check_str(r->aar, sizeof(r->aar));
	CHECK(r->n <= ARC_MAX_SETS);
	CHECK(r->oldest_pass <= r->n);
	if (r->cv == ARC_FAIL)
		CHECK(r->reason[0] != '\0' && strcmp(r->reason, "not verified") != 0);
	else
		CHECK(r->reason[0] == '\0' && !r->temperror);
	if (r->cv == ARC_NONE)
		CHECK(r->n == 0);
	if (r->cv == ARC_PASS)
		CHECK(r->n >= 1 && r->sealer_domain[0] != '\0');
	else
		CHECK(r->oldest_pass == 0);
	for (i = 0; r->reason[i]; i++)
		CHECK(r->reason[i] >= 0x20 && r->reason[i] < 0x7f);
}

static EVP_PKEY *
seal_key(void)
{
	static EVP_PKEY *k;
	uint8_t seed[32];

	if (k == NULL) {
		memset(seed, 0x5a, sizeof(seed));
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
		CHECK(k != NULL);
	}
	return k;
}

/* Seals a message that has no chain; tern must take its own seal. */
static void
seal_round_trip(const struct input *in)
{
	struct buf set = BUF_INIT, txt = BUF_INIT;
	struct input none = *in;
	struct dnsq_cache c;
	struct arc_verify *v;
	const struct arc_result *r;
	const uint8_t *rrs[1];
	size_t rrlen[1];
	uint8_t rr[256];

	if (in->len > SEAL_MAX)
		return;
	if (arc_seal("fuzz.example", "fz", true, in->msg, in->len, ARC_NONE,
	    "mx.fuzz.example; spf=pass smtp.mailfrom=fuzz.example", NOW,
	    arc_sign_pkey, seal_key(), &set) != 0)
		return;
	CHECK(buf_append(&set, in->msg, in->len) == 0);
	CHECK(dkim_txt_record(seal_key(), &txt) == 0 && txt.len < 255);
	rr[0] = (uint8_t)txt.len;
	memcpy(rr + 1, txt.data, txt.len);
	rrs[0] = rr;
	rrlen[0] = txt.len + 1;
	dnsq_init(&c);
	CHECK(dnsq_put(&c, seal_name, DNSQ_TXT, DNSQ_OK, rrs, rrlen, 1) == 0);
	none.keys.n = 0;
	v = run(&none, set.data, set.len, 0, &c);
	r = arc_verify_result(v);
	if (r->cv != ARC_PASS)
		fprintf(stderr, "own seal: %s \"%s\"\n", arc_cv_name(r->cv), r->reason);
	CHECK(r->cv == ARC_PASS && r->n == 1);
	CHECK(strcmp(r->sealer_domain, "fuzz.example") == 0);
	CHECK(strncmp(r->aar, "mx.fuzz.example; spf=pass", 25) == 0);
	arc_verify_free(&v);
	dnsq_release(&c);
	buf_release(&set);
	buf_release(&txt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct dnsq_cache c1, c2;
	struct arc_verify *a, *b;
	const struct arc_result *ra, *rb;

	if (parse_input(data, size, &in) != 0)
		return 0;
	dnsq_init(&c1);
	dnsq_init(&c2);
	a = run(&in, in.msg, in.len, 0, &c1);
	b = run(&in, in.msg, in.len, 1, &c2);
	ra = arc_verify_result(a);
	rb = arc_verify_result(b);
	check_result(ra);
	check_result(rb);
	CHECK(ra->cv == rb->cv && ra->n == rb->n && ra->oldest_pass == rb->oldest_pass);
	CHECK(ra->temperror == rb->temperror);
	CHECK(strcmp(ra->reason, rb->reason) == 0);
	CHECK(strcmp(ra->sealer_domain, rb->sealer_domain) == 0);
	CHECK(strcmp(ra->aar, rb->aar) == 0);
	if (ra->cv == ARC_NONE)
		seal_round_trip(&in);
	arc_verify_free(&a);
	arc_verify_free(&b);
	CHECK(a == NULL && b == NULL);
	dnsq_release(&c1);
	dnsq_release(&c2);
	return 0;
}
