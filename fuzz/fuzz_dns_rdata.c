/*
 * fuzz_dns_rdata: MX record data. Whatever decodes must be a plain host
 * name (letters, digits, '-', '_', dots between non-empty labels, at most
 * DNS_NAME_MAX) that encodes back to exactly the input. Byte 0 also picks
 * a small output size for dns_name_to_text, which must then either give
 * the same name or refuse, and never write past it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dns_rdata.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[DNS_NAME_MAX + 1];
	unsigned char wire[600];
	int pref = -1, used;
	size_t small, o, i, start;

	if (dns_rdata_mx(data, size, &pref, name, sizeof(name)) == 0) {
		size_t n = strlen(name);

		CHECK(size >= 3);
		CHECK(pref == (data[0] << 8 | data[1]));
		CHECK(n <= DNS_NAME_MAX);
		/* re-encode: preference, labels, root */
		wire[0] = data[0];
		wire[1] = data[1];
		o = 2;
		start = 0;
		for (i = 0; i <= n; i++) {
			if (i == n || name[i] == '.') {
				size_t l = i - start;

				if (n == 0)
					break;
				CHECK(l >= 1 && l <= 63);
				wire[o++] = (unsigned char)l;
				memcpy(wire + o, name + start, l);
				o += l;
				start = i + 1;
			} else {
				char c = name[i];

				CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || c == '-' || c == '_');
			}
		}
		wire[o++] = 0;
		CHECK(o == size && memcmp(wire, data, size) == 0);
	}

	/* a small buffer: refused or the same answer, never an overflow */
	if (size >= 1) {
		char *out, big[DNS_NAME_MAX + 1];
		int ub;

		small = data[0] % 64;
		out = malloc(small ? small : 1);
		CHECK(out != NULL);
		used = dns_name_to_text(data + 1, size - 1, out, small);
		ub = dns_name_to_text(data + 1, size - 1, big, sizeof(big));
		if (used >= 0) {
			CHECK(ub == used);
			CHECK(strlen(out) < small && strcmp(out, big) == 0);
		}
		if (ub >= 0)
			CHECK((size_t)ub <= size - 1);
		free(out);
	}
	return 0;
}
