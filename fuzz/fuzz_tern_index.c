/*
 * fuzz_tern_index: tern-index files. What parses keeps the rules (uids
 * ascending below uidnext, MODSEQs within highestmodseq, ranges
 * ascending and disjoint) and so encodes; the encoding parses to the
 * same index and encodes to itself (parse -> encode -> parse). Inputs
 * without a good end line are mostly refused by the checksum, so the
 * target also reads each input with its end line made right, to reach
 * the lines behind it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/tern_index.h"

static void
same(const struct tern_index *a, const struct tern_index *b)
{
	size_t i;

	CHECK(a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext);
	CHECK(a->highestmodseq == b->highestmodseq && a->vanished_floor == b->vanished_floor);
	CHECK(memcmp(a->st, b->st, sizeof(a->st)) == 0);
	CHECK(a->nmsgs == b->nmsgs && a->nvanished == b->nvanished);
	for (i = 0; i < a->nmsgs; i++) {
		const struct tern_index_msg *x = &a->msgs[i], *y = &b->msgs[i];

		CHECK(x->uid == y->uid && x->in_new == y->in_new && x->modseq == y->modseq);
		CHECK(x->size == y->size && x->vsize == y->vsize && x->date == y->date);
		CHECK(x->name_len == y->name_len && memcmp(x->name, y->name, x->name_len) == 0);
		CHECK((x->uidl == NULL) == (y->uidl == NULL) && x->uidl_len == y->uidl_len);
		CHECK(x->uidl == NULL || memcmp(x->uidl, y->uidl, x->uidl_len) == 0);
		CHECK(x->base_len == y->base_len && x->flags == y->flags && x->keywords == y->keywords);
	}
	for (i = 0; i < a->nvanished; i++)
		CHECK(memcmp(&a->vanished[i], &b->vanished[i], sizeof(a->vanished[i])) == 0);
}

static void
one(const char *data, size_t size)
{
	static const struct tern_index_limits lim = { .msgs_max = 64, .vanished_max = 64 };
	struct tern_index ix, again;
	struct buf out = BUF_INIT, out2 = BUF_INIT;
	size_t i;

	if (tern_index_parse(data, size, &lim, &ix) != TERN_INDEX_OK) {
		tern_index_clear(&ix);
		return;
	}
	CHECK(ix.uidvalidity != 0 && ix.uidnext != 0 && ix.highestmodseq != 0);
	CHECK(ix.vanished_floor <= ix.highestmodseq);
	for (i = 0; i < ix.nmsgs; i++) {
		CHECK(ix.msgs[i].uid != 0 && ix.msgs[i].uid < ix.uidnext);
		CHECK(i == 0 || ix.msgs[i].uid > ix.msgs[i - 1].uid);
		CHECK(ix.msgs[i].modseq >= 1 && ix.msgs[i].modseq <= ix.highestmodseq);
		CHECK(ix.msgs[i].base_len >= 1 && ix.msgs[i].base_len <= ix.msgs[i].name_len);
	}
	for (i = 0; i < ix.nvanished; i++) {
		CHECK(ix.vanished[i].lo >= 1 && ix.vanished[i].lo <= ix.vanished[i].hi);
		CHECK(ix.vanished[i].hi < ix.uidnext);
		CHECK(i == 0 || ix.vanished[i].lo > ix.vanished[i - 1].hi);
	}
	CHECK(tern_index_encode(&ix, &out) == 0);
	CHECK(tern_index_parse(out.data, out.len, &lim, &again) == TERN_INDEX_OK);
	same(&ix, &again);
	CHECK(tern_index_encode(&again, &out2) == 0);
	CHECK(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);
	buf_release(&out);
	buf_release(&out2);
	tern_index_clear(&again);
	tern_index_clear(&ix);
}

/* The input as an index's log: what reads is written back the same
 * (header, records; a torn last line left out) and reads again. */
static void
one_log(const char *data, size_t size)
{
	static const char magic[] = TERN_INDEX_LOG_MAGIC " 1 G";
	struct tern_index_logrec *rs, *again;
	struct buf out = BUF_INIT;
	uint64_t gen = 0;
	size_t n, n2, i, m = sizeof(magic) - 1;

	if (size < m + 16 || memcmp(data, magic, m) != 0)
		return;
	for (i = 0; i < 16; i++) {
		char c = data[m + i];

		gen = gen << 4 | (uint64_t)(c >= 'a' ? c - 'a' + 10 : c - '0');
	}
	if (tern_index_log_parse(data, size, gen, 64, &rs, &n) != TERN_INDEX_OK)
		return;
	CHECK(tern_index_log_header(gen, &out) == 0);
	for (i = 0; i < n; i++) {
		CHECK(rs[i].kind == 's' || rs[i].kind == 'x');
		CHECK(rs[i].uid != 0 && rs[i].modseq != 0);
		CHECK(rs[i].kind == 's' || rs[i].hi >= rs[i].uid);
		CHECK(tern_index_log_encode(&rs[i], &out) == 0);
	}
	CHECK(tern_index_log_parse(out.data, out.len, gen, 64, &again, &n2) == TERN_INDEX_OK);
	CHECK(n2 == n);
	for (i = 0; i < n; i++) {
		CHECK(again[i].kind == rs[i].kind && again[i].uid == rs[i].uid);
		CHECK(again[i].modseq == rs[i].modseq && again[i].in_new == rs[i].in_new);
		CHECK(rs[i].kind == 'x' ? again[i].hi == rs[i].hi :
		    (again[i].name_len == rs[i].name_len &&
		    memcmp(again[i].name, rs[i].name, rs[i].name_len) == 0 &&
		    again[i].flags == rs[i].flags && again[i].keywords == rs[i].keywords));
	}
	free(again);
	free(rs);
	buf_release(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fixed;
	size_t body;

	one((const char *)data, size);
	one_log((const char *)data, size);
	/* The same bytes with an end line that holds: what is after the
	 * checksum gets fuzzed too. An input that ends with a line "end ..."
	 * has it replaced. */
	body = size;
	if (body >= 21 && data[body - 1] == '\n' && memcmp(data + body - 21, "end ", 4) == 0)
		body -= 21;
	if ((fixed = malloc(body + 22)) == NULL)
		return 0;
	memcpy(fixed, data, body);
	snprintf(fixed + body, 22, "end %016llx\n",
	    (unsigned long long)tern_index_sum(fixed, body));
	one(fixed, body + 21);
	free(fixed);
	return 0;
}
