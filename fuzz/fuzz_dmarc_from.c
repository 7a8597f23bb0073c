/*
 * fuzz_dmarc_from: the From field's domains. Byte 0 picks the most
 * domains allowed (1..8); the rest is the field value. What comes out
 * must be at most that many distinct, non-empty, lower-case domains of
 * atext labels between single dots (or a domain-literal), each
 * NUL-terminated within DMARC_DOMAIN_MAX; and the same value read with
 * room for 16 must give the same list (a bigger limit never fails what a
 * smaller one passed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dmarc.h"

static void
check_domain(const char *d)
{
	size_t n = strnlen(d, DMARC_DOMAIN_MAX), i;

	CHECK(n > 0 && n < DMARC_DOMAIN_MAX);
	if (d[0] == '[') {
		CHECK(d[n - 1] == ']');
		return;
	}
	CHECK(d[0] != '.' && d[n - 1] != '.');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		CHECK(!(c >= 'A' && c <= 'Z'));
		CHECK(c > ' ' && c != 0x7f);
		CHECK(strchr("()<>[]:;@\\,\"", c) == NULL);
		if (c == '.')
			CHECK(d[i + 1] != '.');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[8][DMARC_DOMAIN_MAX], big[16][DMARC_DOMAIN_MAX];
	size_t max, n = 99, nb = 99, i, k;
	const char *v;
	int rc, rcb;

	if (size < 1)
		return 0;
	max = (size_t)(data[0] % 8) + 1;
	v = (const char *)data + 1;
	rc = dmarc_from_domains(v, size - 1, out, max, &n);
	CHECK(rc == 0 || rc == -1);
	rcb = dmarc_from_domains(v, size - 1, big, 16, &nb);
	if (rc != 0) {
		CHECK(n == 0);
		return 0;
	}
	CHECK(n <= max);
	CHECK(rcb == 0 && nb == n);
	for (i = 0; i < n; i++) {
		check_domain(out[i]);
		CHECK(strcmp(out[i], big[i]) == 0);
		for (k = 0; k < i; k++)
			CHECK(strcmp(out[i], out[k]) != 0);
	}
	return 0;
}
