/*
 * fuzz_quota_rule: quota values from the users file. A size that parses
 * is at most QUOTA_RULE_MAX and reads back the same written in octets; a
 * rule that parses is one for the whole mailbox ("*:" or "?:") and reads
 * back the same written as bytes= and messages=; anything refused leaves
 * the limits zero. Walking the input as extra fields never names a
 * field outside it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/quota_rule.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct quota_rule r, again;
	char out[128];
	const char *bad = NULL;
	size_t badlen = 0;
	uint64_t v, w;
	bool found;
	int n;

	if (quota_size_parse(s, size, 1024, &v)) {
		CHECK(v <= QUOTA_RULE_MAX);
		n = snprintf(out, sizeof(out), "%" PRIu64 "b", v);
		CHECK(quota_size_parse(out, (size_t)n, 7, &w) && w == v);
	}
	if (quota_rule_parse(s, size, &r) == QUOTA_RULE_OK) {
		CHECK(size >= 2 && (s[0] == '*' || s[0] == '?') && s[1] == ':');
		n = snprintf(out, sizeof(out), "*:bytes=%" PRIu64 ":messages=%" PRIu64,
		    r.bytes, r.messages);
		CHECK(quota_rule_parse(out, (size_t)n, &again) == QUOTA_RULE_OK);
		CHECK(again.bytes == r.bytes && again.messages == r.messages);
	} else
		CHECK(r.bytes == 0 && r.messages == 0);
	if (quota_rule_parse_short(s, size, &r) != QUOTA_RULE_OK)
		CHECK(r.bytes == 0 && r.messages == 0);
	else
		CHECK(r.messages == 0);
	if (quota_rule_from_extra(s, size, &r, &found, &bad, &badlen) != QUOTA_RULE_OK) {
		CHECK(!found && r.bytes == 0 && r.messages == 0);
		CHECK(bad >= s && badlen > 0 && bad + badlen <= s + size);
	} else if (!found)
		CHECK(r.bytes == 0 && r.messages == 0);
	return 0;
}
