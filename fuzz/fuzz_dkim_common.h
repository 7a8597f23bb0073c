/*
 * fuzz_dkim_common: what the DKIM and ARC verification fuzzers
 * (fuzz_dkim_verify.c, fuzz_arc.c) share: the key answers read from the
 * input and handed out, in order, to whatever TXT names the verifier asks
 * for; the chunk sizes drawn from a seed; the CHECK that aborts. Included
 * by those fuzzers only (static functions).
 */
#ifndef TERN_FUZZ_DKIM_COMMON_H
#define TERN_FUZZ_DKIM_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dnsq.h"

#define FUZZ_KEYS_MAX 4

struct fuzz_key {
	enum dnsq_status st;
	const uint8_t *txt;
	size_t len;
};

struct fuzz_keys {
	struct fuzz_key k[FUZZ_KEYS_MAX];
	size_t n;
};

/*
 * The answers from d[at] on: the count (that octet modulo max + 1, max
 * at most FUZZ_KEYS_MAX), then each answer as a status octet (0 TXT,
 * 1 NXDOMAIN, 2 NODATA, 3 TEMP), a two-octet length and that much record
 * text. The rest of d is the message. -1 when d ends before that.
 */
static int
fuzz_keys_parse(const uint8_t *d, size_t size, size_t at, size_t max,
    struct fuzz_keys *ks, const char **msg, size_t *len)
{
	size_t i = at + 1, k;

	if (size <= at)
		return -1;
	memset(ks, 0, sizeof(*ks));
	ks->n = d[at] % (max + 1);
	for (k = 0; k < ks->n; k++) {
		size_t l;

		if (i + 3 > size)
			return -1;
		ks->k[k].st = (enum dnsq_status)(d[i] % 4);
		l = (size_t)d[i + 1] << 8 | d[i + 2];
		i += 3;
		if (l > size - i)
			return -1;
		ks->k[k].txt = d + i;
		ks->k[k].len = l;
		i += l;
	}
	*msg = (const char *)d + i;
	*len = size - i;
	return 0;
}

/* Answers the query c asks for with answer *next, NXDOMAIN past the last. */
static void
fuzz_keys_answer(struct dnsq_cache *c, const struct fuzz_keys *ks, size_t *next)
{
	uint8_t rr[4096];
	const uint8_t *rrs[1] = { rr };
	size_t rrlen[1], o = 0, i = 0;
	const struct fuzz_key *k;

	CHECK(c->need);
	CHECK(c->need_type == DNSQ_TXT);
	if (*next >= ks->n) {
		CHECK(dnsq_put(c, c->need_name, DNSQ_TXT, DNSQ_NXDOMAIN, NULL, NULL, 0) == 0);
		return;
	}
	k = &ks->k[(*next)++];
	/* the text as TXT character-strings of up to 255 octets */
	do {
		size_t l = k->len - i > 255 ? 255 : k->len - i;

		if (o + 1 + l > sizeof(rr))
			break;
		rr[o++] = (uint8_t)l;
		memcpy(rr + o, k->txt + i, l);
		o += l;
		i += l;
	} while (i < k->len);
	rrlen[0] = o;
	CHECK(dnsq_put(c, c->need_name, DNSQ_TXT, k->st, rrs, rrlen, 1) == 0);
}

/* The state of the chunk sizes for a seed. */
static uint32_t
fuzz_chunk_start(uint8_t seed)
{
	return seed * 2654435761u + 1;
}

/* The next chunk of the n octets left: 1..64 of them, drawn from *x. */
static size_t
fuzz_chunk_next(uint32_t *x, size_t n)
{
	*x = *x * 1103515245u + 12345u;
	return n > 1 + (*x >> 16) % 64 ? 1 + (*x >> 16) % 64 : n;
}

/* A fixed string field is NUL-terminated. */
static void
fuzz_check_str(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

#endif
