/*
 * fuzz_imap_mutf7: modified UTF-7 mailbox names. The input is tried both
 * as a wire name and as UTF-8. Whatever decodes must encode back to the
 * same octets (decode accepts one form only), and whatever encodes must
 * decode back to the input. Output buffers are exactly the documented
 * maximum, so an overrun is an ASan report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/imap_mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t dcap = IMAP_MUTF7_DECODED_MAX(size), ecap = IMAP_MUTF7_ENCODED_MAX(size);
	char *d = malloc(dcap ? dcap : 1), *e = malloc(ecap ? ecap : 1);
	char *back;
	size_t dn, en, bn;

	if (d == NULL || e == NULL)
		goto out;
	if (imap_mutf7_decode(s, size, d, dcap, &dn) == IMAP_MUTF7_OK) {
		if ((back = malloc(IMAP_MUTF7_ENCODED_MAX(dn) + 1)) == NULL)
			goto out;
		CHECK(imap_mutf7_encode(d, dn, back, IMAP_MUTF7_ENCODED_MAX(dn),
		    &bn) == IMAP_MUTF7_OK);
		CHECK(bn == size && memcmp(back, s, size) == 0);
		free(back);
	}
	if (imap_mutf7_encode(s, size, e, ecap, &en) == IMAP_MUTF7_OK) {
		for (size_t i = 0; i < en; i++)
			CHECK(e[i] >= 0x20 && e[i] <= 0x7e);
		if ((back = malloc(IMAP_MUTF7_DECODED_MAX(en) + 1)) == NULL)
			goto out;
		CHECK(imap_mutf7_decode(e, en, back, IMAP_MUTF7_DECODED_MAX(en),
		    &bn) == IMAP_MUTF7_OK);
		CHECK(bn == size && memcmp(back, s, size) == 0);
		free(back);
	}
out:
	free(d);
	free(e);
	return 0;
}
