/*
 * fuzz_dmarc_record: the DMARC record grammar. Whatever the input, the
 * parse must be the same twice, keep every field in its range, keep the
 * URI lists NUL-terminated within their arrays and no longer than the
 * input, and accept only text that starts (after spaces) with a "v" tag.
 * A record that is accepted stays accepted, and unchanged, with ";" and
 * an unknown tag appended.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dmarc_record.h"

static bool
policy_ok(enum dmarc_policy p)
{
	return p == DMARC_P_UNSET || p == DMARC_P_NONE ||
	    p == DMARC_P_QUARANTINE || p == DMARC_P_REJECT;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	struct dmarc_record a, b;
	int rc = dmarc_record_parse(txt, size, &a);
	size_t i;

	CHECK(rc == 0 || rc == -1);
	CHECK(dmarc_record_parse(txt, size, &b) == rc);
	if (rc != 0)
		return 0;
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	for (i = 0; i < size && (txt[i] == ' ' || txt[i] == '\t'); i++)
		;
	CHECK(i < size && (txt[i] | 0x20) == 'v');
	CHECK(policy_ok(a.p) && policy_ok(a.sp) && policy_ok(a.np));
	CHECK(a.pct >= 0 && a.pct <= 100);
	CHECK(a.psd == 0 || a.psd == 'y' || a.psd == 'n');
	CHECK(memchr(a.rua, '\0', sizeof(a.rua)) != NULL);
	CHECK(memchr(a.ruf, '\0', sizeof(a.ruf)) != NULL);
	CHECK(strlen(a.rua) <= size && strlen(a.ruf) <= size);
	CHECK(a.fo != 0 && (a.fo & ~0x0fu) == 0);
	CHECK(a.ri <= 0x7fffffffUL);
	if (a.unusable)
		CHECK(!a.rua_valid && a.bad_tags);
	CHECK(strlen(dmarc_policy_name(a.p)) >= 4);

	/* an unknown tag after a separator changes nothing */
	if (size < 4096) {
		char *more = malloc(size + 16);

		CHECK(more != NULL);
		memcpy(more, data, size);
		memcpy(more + size, ";zz=1", 5);
		CHECK(dmarc_record_parse(more, size + 5, &b) == 0);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		free(more);
	}
	return 0;
}
