/*
 * fuzz_dkim_verify: a whole DKIM verification over the replay model.
 *
 * Input: byte 0 the number of signatures to evaluate (0..8), byte 1 the
 * seed of the chunk sizes, byte 2 the number of key answers (0..3), then
 * each answer as a status octet (0 TXT, 1 NXDOMAIN, 2 NODATA, 3 TEMP), a
 * two-octet length and that much record text; the rest is the message.
 * The answers go, in order, to whatever names the verifier asks for; past
 * the last one every name is NXDOMAIN.
 *
 * The message is fed once in one piece and once in chunks of 1..64
 * octets drawn from the seed, keys asked for as soon as the header ends
 * (as the daemon does) and again at the end. Checked: both runs give the
 * same results; no result is left unsettled; a pass has no reason and
 * everything else has one, of printable ASCII; the strings are
 * NUL-terminated; the count is within the bound.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_dkim_common.h"
#include "policy/dkim_verify.h"
#include "proto/dnsq.h"

#define NOW 1764057992
#define MAX_KEYS 3

struct input {
	size_t max;
	uint8_t seed;
	struct fuzz_keys keys;
	const char *msg;
	size_t len;
};

static int
parse_input(const uint8_t *d, size_t size, struct input *in)
{
	if (size < 3)
		return -1;
	memset(in, 0, sizeof(*in));
	in->max = d[0] % 9;
	in->seed = d[1];
	return fuzz_keys_parse(d, size, 2, MAX_KEYS, &in->keys, &in->msg, &in->len);
}

static void
check_until_done(struct dkim_verify *v, struct dnsq_cache *c, const struct input *in,
    size_t *next)
{
	int rc, rounds = 0;

	while ((rc = dkim_verify_check(v, c)) == DNSQ_NEED) {
		fuzz_keys_answer(c, &in->keys, next);
		CHECK(++rounds <= 16);
	}
	CHECK(rc == 0);
}

static struct dkim_verify *
run(const struct input *in, int chunked, struct dnsq_cache *c)
{
	struct dkim_verify *v = dkim_verify_new(in->max, NOW);
	uint32_t x = fuzz_chunk_start(in->seed);
	size_t i = 0, next = 0;
	int asked = 0;

	CHECK(v != NULL);
	while (i < in->len) {
		size_t n = chunked ? fuzz_chunk_next(&x, in->len - i) : in->len - i;

		dkim_verify_feed(v, in->msg + i, n);
		i += n;
		if (!asked && dkim_verify_header_done(v)) {
			check_until_done(v, c, in, &next);
			asked = 1;
		}
	}
	dkim_verify_end(v);
	CHECK(dkim_verify_header_done(v));
	check_until_done(v, c, in, &next);
	return v;
}

static void
check_result(const struct dkim_result *r)
{
	size_t i;

	fuzz_check_str(r->domain, sizeof(r->domain));
	fuzz_check_str(r->selector, sizeof(r->selector));
	fuzz_check_str(r->identity, sizeof(r->identity));
	fuzz_check_str(r->algorithm, sizeof(r->algorithm));
	fuzz_check_str(r->b_prefix, sizeof(r->b_prefix));
	fuzz_check_str(r->reason, sizeof(r->reason));
	CHECK(r->result != DKIM_NONE);
	if (r->result == DKIM_PASS)
		CHECK(r->reason[0] == '\0' && r->domain[0] != '\0' && r->key_bits > 0);
	else
		CHECK(r->reason[0] != '\0');
	CHECK(strcmp(r->reason, "not verified") != 0 && strcmp(r->reason, "key not fetched") != 0);
	for (i = 0; r->reason[i]; i++)
		CHECK(r->reason[i] >= 0x20 && r->reason[i] < 0x7f);
	for (i = 0; r->domain[i]; i++)
		CHECK(!(r->domain[i] >= 'A' && r->domain[i] <= 'Z'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct dnsq_cache c1, c2;
	struct dkim_verify *a, *b;
	size_t i;

	if (parse_input(data, size, &in) != 0)
		return 0;
	dnsq_init(&c1);
	dnsq_init(&c2);
	a = run(&in, 0, &c1);
	b = run(&in, 1, &c2);
	CHECK(dkim_verify_count(a) == dkim_verify_count(b));
	CHECK(dkim_verify_count(a) <= in.max);
	for (i = 0; i < dkim_verify_count(a); i++) {
		const struct dkim_result *ra = dkim_verify_result(a, i);
		const struct dkim_result *rb = dkim_verify_result(b, i);

		check_result(ra);
		CHECK(ra->result == rb->result);
		CHECK(strcmp(ra->reason, rb->reason) == 0);
		CHECK(strcmp(ra->domain, rb->domain) == 0);
		CHECK(ra->key_bits == rb->key_bits && ra->testing == rb->testing);
	}
	CHECK(dkim_verify_result(a, dkim_verify_count(a)) == NULL);
	dkim_verify_free(&a);
	dkim_verify_free(&b);
	CHECK(a == NULL && b == NULL);
	dnsq_release(&c1);
	dnsq_release(&c2);
	return 0;
}
