/*
 * fuzz_envelope: the queue file's envelope block. Whatever decodes must
 * encode again, decode to the same fields, and re-encode to the same bytes
 * (the encoding is canonical). Also the trailer parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/envelope.h"

#define S(x) ((x) ? (x) : "")

static void
check_equal(const struct envelope *a, const struct envelope *b)
{
	size_t i;

	CHECK(strcmp(a->id, b->id) == 0);
	CHECK(a->arrival == b->arrival);
	CHECK(strcmp(S(a->sender), S(b->sender)) == 0);
	CHECK(strcmp(S(a->helo), S(b->helo)) == 0);
	CHECK(strcmp(S(a->client), S(b->client)) == 0);
	CHECK(strcmp(S(a->proto), S(b->proto)) == 0);
	CHECK(strcmp(S(a->envid), S(b->envid)) == 0);
	CHECK(a->body == b->body && a->ret == b->ret);
	CHECK(a->smtputf8 == b->smtputf8);
	CHECK(a->nrcpts == b->nrcpts);
	for (i = 0; i < a->nrcpts; i++) {
		CHECK(strcmp(a->rcpts[i].addr, b->rcpts[i].addr) == 0);
		CHECK(strcmp(a->rcpts[i].orig, b->rcpts[i].orig) == 0);
		CHECK(strcmp(a->rcpts[i].orcpt, b->rcpts[i].orcpt) == 0);
		CHECK(a->rcpts[i].notify == b->rcpts[i].notify);
		CHECK(a->rcpts[i].local == b->rcpts[i].local);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope a, b, c;
	struct buf e1 = BUF_INIT, e2 = BUF_INIT;
	size_t hdrlen = 0, h2 = 0;
	int64_t tl;

	/* the trailer parser reads exactly its length */
	if ((tl = envelope_trailer_parse((const char *)data, size)) >= 0) {
		char t[ENVELOPE_TRAILER_LEN + 1];

		envelope_trailer((uint64_t)tl, t);
		CHECK(size == ENVELOPE_TRAILER_LEN && memcmp(t, data, size) == 0);
	}

	memset(&a, 0, sizeof(a));
	if (envelope_decode((const char *)data, size, &a, &hdrlen) != 0) {
		envelope_clear(&a);
		return 0;
	}
	CHECK(hdrlen > 0 && hdrlen <= size && data[hdrlen - 1] == '\n');
	CHECK(a.nrcpts > 0 && a.sender != NULL);

	/* a block that decoded may still be too long to encode */
	if (envelope_encode(&a, &e1) == 0) {
		memset(&b, 0, sizeof(b));
		CHECK(envelope_decode(e1.data, e1.len, &b, &h2) == 0);
		CHECK(h2 == e1.len);
		check_equal(&a, &b);
		CHECK(envelope_encode(&b, &e2) == 0);
		CHECK(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
		/* the decoder stops at "end": a message may follow */
		CHECK(buf_append(&e2, data, size) == 0);
		memset(&c, 0, sizeof(c));
		CHECK(envelope_decode(e2.data, e2.len, &c, &h2) == 0);
		CHECK(h2 == e1.len);
		check_equal(&a, &c);
		envelope_clear(&b);
		envelope_clear(&c);
	}
	envelope_clear(&a);
	buf_release(&e1);
	buf_release(&e2);
	return 0;
}
