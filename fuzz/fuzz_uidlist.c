/*
 * fuzz_uidlist: dovecot-uidlist files. What parses is a valid list
 * (uids ascending, non-zero, below next_uid; names and fields that read
 * back) and so encodes; the encoding parses to the same list (names cut
 * at their first ':', as Dovecot writes them) and encodes to itself
 * (parse -> encode -> parse). Failed parses must leave a list that
 * clears without leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/uidlist.h"

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0') :
	    (b != NULL && strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A small record limit, so the fuzzer reaches it too. */
	static const struct uidlist_limits lim = { .line_max = 512, .records_max = 64 };
	struct uidlist ul, again;
	struct buf out = BUF_INIT, out2 = BUF_INIT;
	size_t line, i;

	if (uidlist_parse((const char *)data, size, &lim, &ul, &line) != UIDLIST_OK) {
		CHECK(line >= 1);
		uidlist_clear(&ul);
		return 0;
	}
	CHECK(line == 0);
	CHECK(ul.version == 1 || ul.version == 3);
	CHECK(ul.uidvalidity != 0 && ul.next_uid >= ul.hdr_next_uid);
	CHECK(ul.nrecs <= lim.records_max);
	for (i = 0; i < ul.nrecs; i++) {
		CHECK(ul.recs[i].uid != 0 && ul.recs[i].uid < ul.next_uid);
		CHECK(i == 0 || ul.recs[i].uid > ul.recs[i - 1].uid);
		CHECK(ul.recs[i].name[0] != '\0' && ul.recs[i].name[0] != ':');
		CHECK(strchr(ul.recs[i].name, '/') == NULL);
	}
	CHECK(uidlist_encode(&ul, &out) == 0);
	CHECK(uidlist_parse(out.data, out.len, &lim, &again, &line) == UIDLIST_OK);
	CHECK(again.version == 3 && !again.torn && again.dropped_ext == 0);
	CHECK(again.uidvalidity == ul.uidvalidity && again.next_uid == ul.next_uid);
	CHECK(again.has_guid == ul.has_guid &&
	    (!ul.has_guid || memcmp(again.guid, ul.guid, UIDLIST_GUID_LEN) == 0));
	CHECK(str_eq(again.hdr_ext, ul.hdr_ext));
	CHECK(again.nrecs == ul.nrecs);
	for (i = 0; i < ul.nrecs; i++) {
		size_t n = strcspn(ul.recs[i].name, ":");

		CHECK(again.recs[i].uid == ul.recs[i].uid);
		CHECK(str_eq(again.recs[i].ext, ul.recs[i].ext));
		CHECK(strlen(again.recs[i].name) == n &&
		    memcmp(again.recs[i].name, ul.recs[i].name, n) == 0);
	}
	CHECK(uidlist_encode(&again, &out2) == 0);
	CHECK(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);
	/* the lookups agree with the array */
	for (i = 0; i < ul.nrecs; i++)
		CHECK(uidlist_find(&ul, ul.recs[i].uid) == &ul.recs[i]);
	buf_release(&out);
	buf_release(&out2);
	uidlist_clear(&again);
	uidlist_clear(&ul);
	return 0;
}
