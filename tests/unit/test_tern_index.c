/*
 * test_tern_index: the tern-index file (proto/tern_index.c). A folder's
 * state written and read back the same, byte for byte as the format says
 * (docs/mailbox-formats.md); and a table of files that must not be used:
 * another program's, another version, torn (no end line, a checksum that
 * differs), and each rule of the header, the stat lines, the message and
 * vanished lines and the counts broken once; the log of changes since
 * an index (tern-index.log) read and written, tied to its index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/maildir_name.h"
#include "proto/tern_index.h"

static const struct tern_index_limits lim = TERN_INDEX_LIMITS_DEFAULT;

#define HDR "tern-index 1\n"
#define STATS \
	"new 1 11 4096 1796109718248524240 1796109722308846359\n" \
	"cur 1 12 4096 1796109722301185336 1796109722308846359\n" \
	"uidlist 0 0 0 0 0\n"

/* body + its end line. */
static char *
with_end(const char *body)
{
	size_t n = strlen(body);
	char *out = malloc(n + 22);

	assert_non_null(out);
	memcpy(out, body, n);
	snprintf(out + n, 22, "end %016llx\n", (unsigned long long)tern_index_sum(body, n));
	return out;
}

/* A folder of three messages and two vanished ranges, and its file. */
static const char file_body[] =
	HDR
	"V1796109718 N9 M1796109718248462 F1796109718248458 C3 X2 B0123456789abcdef0123456789abcdef G00000000000000ab\n"
	STATS
	"m 3 1796109718248460 17 20 1796109718 c - 1700000003.M3P1.host:2,Fa\n"
	"m 4 1796109718248458 100 - -5 n P0000000474a1b2c3 1700000004.M4P1.host,S=100\n"
	"m 7 1796109718248461 5 6 0 c - 1700000007.M7P1.a b:2,DFPRST,tail\n"
	"x 1 2 1796109718248459\n"
	"x 5 6 1796109718248462\n";

static void
fill(struct tern_index *ix, struct tern_index_msg *m, struct tern_index_range *r)
{
	memset(ix, 0, sizeof(*ix));
	memcpy(ix->boot, "0123456789abcdef0123456789abcdef", 33);
	ix->gen = 0xab;
	ix->uidvalidity = 1796109718;
	ix->uidnext = 9;
	ix->highestmodseq = 1796109718248462ull;
	ix->vanished_floor = 1796109718248458ull;
	ix->st[TERN_INDEX_NEW] = (struct tern_index_stat){ true, 11, 4096,
		1796109718248524240ll, 1796109722308846359ll };
	ix->st[TERN_INDEX_CUR] = (struct tern_index_stat){ true, 12, 4096,
		1796109722301185336ll, 1796109722308846359ll };
	memset(m, 0, 3 * sizeof(*m));
	m[0] = (struct tern_index_msg){ .uid = 3, .modseq = 1796109718248460ull, .size = 17,
		.vsize = 20, .date = 1796109718, .name = "1700000003.M3P1.host:2,Fa" };
	m[1] = (struct tern_index_msg){ .uid = 4, .in_new = true, .modseq = 1796109718248458ull,
		.size = 100, .vsize = TERN_INDEX_VSIZE_UNKNOWN, .date = -5,
		.uidl = "0000000474a1b2c3", .uidl_len = 16, .name = "1700000004.M4P1.host,S=100" };
	m[2] = (struct tern_index_msg){ .uid = 7, .modseq = 1796109718248461ull, .size = 5,
		.vsize = 6, .date = 0, .name = "1700000007.M7P1.a b:2,DFPRST,tail" };
	for (size_t i = 0; i < 3; i++)
		m[i].name_len = strlen(m[i].name);
	r[0] = (struct tern_index_range){ 1, 2, 1796109718248459ull };
	r[1] = (struct tern_index_range){ 5, 6, 1796109718248462ull };
	ix->msgs = m;
	ix->nmsgs = 3;
	ix->vanished = r;
	ix->nvanished = 2;
}

static void
test_round_trip(void **state)
{
	struct tern_index ix, back;
	struct tern_index_msg m[3];
	struct tern_index_range r[2];
	struct buf b = BUF_INIT;
	char *want = with_end(file_body);

	(void)state;
	fill(&ix, m, r);
	assert_int_equal(tern_index_encode(&ix, &b), 0);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		fail_msg("encoded:\n%s\nwant:\n%s", buf_cstr(&b), want);
	assert_int_equal(tern_index_parse(b.data, b.len, &lim, &back), TERN_INDEX_OK);
	assert_string_equal(back.boot, "0123456789abcdef0123456789abcdef");
	assert_true(back.gen == 0xab);
	assert_int_equal(back.uidvalidity, 1796109718u);
	assert_int_equal(back.uidnext, 9);
	assert_true(back.highestmodseq == 1796109718248462ull);
	assert_true(back.vanished_floor == 1796109718248458ull);
	assert_memory_equal(back.st, ix.st, sizeof(ix.st));
	assert_false(back.st[TERN_INDEX_UIDLIST].valid);
	assert_int_equal(back.nmsgs, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(back.msgs[i].uid, m[i].uid);
		assert_int_equal(back.msgs[i].in_new, m[i].in_new);
		assert_true(back.msgs[i].modseq == m[i].modseq);
		assert_true(back.msgs[i].size == m[i].size);
		assert_true(back.msgs[i].vsize == m[i].vsize);
		assert_true(back.msgs[i].date == m[i].date);
		assert_int_equal(back.msgs[i].name_len, m[i].name_len);
		assert_memory_equal(back.msgs[i].name, m[i].name, m[i].name_len);
		assert_int_equal(back.msgs[i].uidl_len, m[i].uidl_len);
		if (m[i].uidl)
			assert_memory_equal(back.msgs[i].uidl, m[i].uidl, m[i].uidl_len);
		else
			assert_null(back.msgs[i].uidl);
	}
	/* what the names say, for the store */
	assert_int_equal(back.msgs[0].base_len, strlen("1700000003.M3P1.host"));
	assert_int_equal(back.msgs[0].flags, MAILDIR_FLAG_FLAGGED);
	assert_int_equal(back.msgs[0].keywords, 1);
	assert_int_equal(back.msgs[1].flags, 0);
	assert_int_equal(back.msgs[2].flags, 0x3f);
	assert_int_equal(back.nvanished, 2);
	assert_memory_equal(back.vanished, r, sizeof(r));
	/* and written again, the same bytes */
	buf_reset(&b);
	assert_int_equal(tern_index_encode(&back, &b), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	tern_index_clear(&back);
	buf_release(&b);
	free(want);

	/* an empty folder */
	memset(&ix, 0, sizeof(ix));
	ix.uidvalidity = ix.uidnext = 1;
	ix.highestmodseq = ix.vanished_floor = 5;
	assert_int_equal(tern_index_encode(&ix, &b), 0);
	assert_int_equal(tern_index_parse(b.data, b.len, &lim, &back), TERN_INDEX_OK);
	assert_int_equal(back.nmsgs, 0);
	assert_null(back.msgs);
	tern_index_clear(&back);
	buf_release(&b);
}

/* The checksum's value is part of the format: files written by one
 * build are read by the next. */
static void
test_sum_vectors(void **state)
{
	(void)state;
	assert_true(tern_index_sum("", 0) == tern_index_sum("", 0));
	assert_true(tern_index_sum("abc", 3) != tern_index_sum("abd", 3));
	assert_true(tern_index_sum("abcdefgh1", 9) != tern_index_sum("abcdefgh2", 9));
	assert_true(tern_index_sum("\0", 1) != tern_index_sum("", 0));
	assert_true(tern_index_sum("", 0) == 0x9ca066f1a4ab2eeaull);
	assert_true(tern_index_sum("tern-index 1\n", 13) == 0x6cab691088bf4876ull);
}

struct bad {
	const char *what;
	const char *body;            /* given its end line, unless raw */
	bool raw;
	enum tern_index_err err;
};

#define V3 "V5 N9 M100 F50 C1 X0 B- G0000000000000001\n"
#define M1 "m 3 60 17 20 1796109718 c - 1700000003.M3P1.host:2,S\n"

static const struct bad bad[] = {
	{ "empty", "", true, TERN_INDEX_ERR_FOREIGN },
	{ "a uidlist", "3 V1 N1\n", true, TERN_INDEX_ERR_FOREIGN },
	{ "no space", "tern-index1\n", true, TERN_INDEX_ERR_FOREIGN },
	{ "version 2", "tern-index 2\n" V3 STATS M1, false, TERN_INDEX_ERR_VERSION },
	{ "version 01", "tern-index 01\n" V3 STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "no end line", HDR V3 STATS M1, true, TERN_INDEX_ERR_TORN },
	{ "cut end line", HDR V3 STATS M1 "end 0123", true, TERN_INDEX_ERR_TORN },
	{ "wrong sum", HDR V3 STATS M1 "end 0123456789abcdef\n", true, TERN_INDEX_ERR_TORN },
	{ "upper-case sum", HDR "V1 N1 M1 F1 C0 X0 B- G0000000000000001\n" STATS "end 9E3779B97F4A7C15\n", true,
	  TERN_INDEX_ERR_TORN },
	{ "V0", HDR "V0 N9 M100 F50 C1 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "N0", HDR "V5 N0 M100 F50 C1 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "M0", HDR "V5 N9 M0 F0 C1 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "F over M", HDR "V5 N9 M100 F101 C1 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "V over 2^32", HDR "V4294967296 N9 M100 F50 C1 X0 B- G0000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_HEADER },
	{ "fields out of order", HDR "N9 V5 M100 F50 C1 X0 B- G0000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_HEADER },
	{ "no X", HDR "V5 N9 M100 F50 C1 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "no B", HDR "V5 N9 M100 F50 C1 X0 G0000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_HEADER },
	{ "no G", HDR "V5 N9 M100 F50 C1 X0 B-\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "G short", HDR "V5 N9 M100 F50 C1 X0 B- G000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_HEADER },
	{ "G long", HDR "V5 N9 M100 F50 C1 X0 B- G00000000000000011\n" STATS M1, false,
	  TERN_INDEX_ERR_HEADER },
	{ "B too short", HDR "V5 N9 M100 F50 C1 X0 B0123456789abcdef0123456789abcde G0000000000000001\n" STATS M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "B upper case", HDR "V5 N9 M100 F50 C1 X0 B0123456789ABCDEF0123456789abcdef G0000000000000001\n" STATS M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "B with dashes", HDR "V5 N9 M100 F50 C1 X0 B01234567-89ab-cdef-0123-456789abcdef G0000000000000001\n"
	  STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "extra field", HDR "V5 N9 M100 F50 C1 X0 B- Y1\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "leading zero", HDR "V05 N9 M100 F50 C1 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_HEADER },
	{ "stats out of order", HDR V3 "cur 1 1 1 1 1\nnew 1 1 1 1 1\nuidlist 1 1 1 1 1\n" M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "stat valid 2", HDR V3 "new 2 1 1 1 1\ncur 1 1 1 1 1\nuidlist 1 1 1 1 1\n" M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "stat negative ino", HDR V3 "new 1 -1 1 1 1\ncur 1 1 1 1 1\nuidlist 1 1 1 1 1\n" M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "stat -0", HDR V3 "new 1 1 1 -0 1\ncur 1 1 1 1 1\nuidlist 1 1 1 1 1\n" M1,
	  false, TERN_INDEX_ERR_HEADER },
	{ "no stats", HDR V3 M1, false, TERN_INDEX_ERR_HEADER },
	{ "uid 0", HDR V3 STATS "m 0 60 17 20 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "uid at uidnext", HDR V3 STATS "m 9 60 17 20 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "modseq 0", HDR V3 STATS "m 3 0 17 20 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "modseq over M", HDR V3 STATS "m 3 101 17 20 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "vsize -1", HDR V3 STATS "m 3 60 17 -1 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "vsize 2^64-1", HDR V3 STATS "m 3 60 17 18446744073709551615 1 c - a\n", false,
	  TERN_INDEX_ERR_MSG },
	{ "size over 2^64", HDR V3 STATS "m 3 60 18446744073709551616 1 1 c - a\n", false,
	  TERN_INDEX_ERR_MSG },
	{ "place x", HDR V3 STATS "m 3 60 17 20 1 x - a\n", false, TERN_INDEX_ERR_MSG },
	{ "uidl empty", HDR V3 STATS "m 3 60 17 20 1 c P a\n", false, TERN_INDEX_ERR_MSG },
	{ "uidl without P", HDR V3 STATS "m 3 60 17 20 1 c abc a\n", false, TERN_INDEX_ERR_MSG },
	{ "uidl over 70", HDR V3 STATS "m 3 60 17 20 1 c P"
	  "12345678901234567890123456789012345678901234567890123456789012345678901 a\n", false,
	  TERN_INDEX_ERR_MSG },
	{ "no name", HDR V3 STATS "m 3 60 17 20 1 c - \n", false, TERN_INDEX_ERR_MSG },
	{ "name with /", HDR V3 STATS "m 3 60 17 20 1 c - a/b\n", false, TERN_INDEX_ERR_MSG },
	{ "dot name", HDR V3 STATS "m 3 60 17 20 1 c - .a\n", false, TERN_INDEX_ERR_MSG },
	{ "name with CR", HDR V3 STATS "m 3 60 17 20 1 c - a\r\n", false, TERN_INDEX_ERR_MSG },
	{ "two spaces", HDR V3 STATS "m 3  60 17 20 1 c - a\n", false, TERN_INDEX_ERR_MSG },
	{ "uids not ascending", HDR "V5 N9 M100 F50 C2 X0 B- G0000000000000001\n" STATS M1 M1, false,
	  TERN_INDEX_ERR_MSG },
	{ "C over the lines", HDR "V5 N9 M100 F50 C2 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_COUNT },
	{ "C under the lines", HDR "V5 N9 M100 F50 C0 X0 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_COUNT },
	{ "C the file cannot hold", HDR "V5 N9 M100 F50 C9999999 X0 B- G0000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_COUNT },
	{ "C over the limit", HDR "V5 N9 M100 F50 C10000001 X0 B- G0000000000000001\n" STATS M1, false,
	  TERN_INDEX_ERR_TOO_MANY },
	{ "X over the lines", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1, false, TERN_INDEX_ERR_COUNT },
	{ "range lo 0", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1 "x 0 1 60\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "range lo over hi", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1 "x 2 1 60\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "range at uidnext", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1 "x 1 9 60\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "range modseq over M", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1 "x 1 2 101\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "ranges overlap", HDR "V5 N9 M100 F50 C1 X2 B- G0000000000000001\n" STATS M1 "x 1 4 60\nx 4 5 60\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "range with a tail", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS M1 "x 1 2 60 7\n", false,
	  TERN_INDEX_ERR_RANGE },
	{ "range before messages", HDR "V5 N9 M100 F50 C1 X1 B- G0000000000000001\n" STATS "x 1 2 60\n" M1, false,
	  TERN_INDEX_ERR_MSG },
};

static void
test_bad_files(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tern_index ix;
		char *data = bad[i].raw ? strdup(bad[i].body) : with_end(bad[i].body);
		enum tern_index_err err = tern_index_parse(data, strlen(data), &lim, &ix);

		if (err != bad[i].err)
			fail_msg("%s: error %d, want %d", bad[i].what, err, bad[i].err);
		tern_index_clear(&ix);
		free(data);
	}
}

static void
test_torn_anywhere(void **state)
{
	struct tern_index ix;
	char *full = with_end(file_body);
	size_t n = strlen(full), cut;

	(void)state;
	/* Every prefix of a good file (a write cut by a power loss) and
	 * every octet flipped is refused, never read as a smaller folder. */
	for (cut = 0; cut < n; cut++) {
		assert_int_not_equal(tern_index_parse(full, cut, &lim, &ix), TERN_INDEX_OK);
		tern_index_clear(&ix);
	}
	for (cut = 0; cut < n; cut++) {
		full[cut] ^= 0x01;
		assert_int_not_equal(tern_index_parse(full, n, &lim, &ix), TERN_INDEX_OK);
		tern_index_clear(&ix);
		full[cut] ^= 0x01;
	}
	assert_int_equal(tern_index_parse(full, n, &lim, &ix), TERN_INDEX_OK);
	tern_index_clear(&ix);
	/* zeroes where the file was (delayed allocation after a crash) */
	memset(full, 0, n);
	assert_int_equal(tern_index_parse(full, n, &lim, &ix), TERN_INDEX_ERR_FOREIGN);
	tern_index_clear(&ix);
	free(full);
}

static void
test_limits(void **state)
{
	static const struct tern_index_limits small = { .msgs_max = 2, .vanished_max = 1 };
	struct tern_index ix;
	char *data = with_end(file_body);

	(void)state;
	assert_int_equal(tern_index_parse(data, strlen(data), &small, &ix), TERN_INDEX_ERR_TOO_MANY);
	tern_index_clear(&ix);
	free(data);
}

static void
test_encode_refuses(void **state)
{
	struct tern_index ix;
	struct tern_index_msg m[3];
	struct tern_index_range r[2];
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(buf_append(&b, "kept", 4), 0);
#define REFUSED(change, undo) do { \
		fill(&ix, m, r); \
		change; \
		assert_int_equal(tern_index_encode(&ix, &b), -1); \
		assert_int_equal(b.len, 4);   /* nothing half-written is left */ \
		undo; \
	} while (0)
	REFUSED(ix.uidvalidity = 0, (void)0);
	REFUSED(ix.boot[3] = 'X', (void)0);
	REFUSED(ix.boot[31] = '\0', (void)0);
	REFUSED(ix.highestmodseq = 0, (void)0);
	REFUSED(ix.vanished_floor = ix.highestmodseq + 1, (void)0);
	REFUSED(m[1].uid = 3, (void)0);
	REFUSED(m[2].uid = 9, (void)0);
	REFUSED(m[0].modseq = ix.highestmodseq + 1, (void)0);
	REFUSED(m[0].modseq = 0, (void)0);
	REFUSED((m[0].name = "a/b", m[0].name_len = 3), (void)0);
	REFUSED((m[0].name = "a\nb", m[0].name_len = 3), (void)0);
	REFUSED(m[0].name_len = 0, (void)0);
	REFUSED((m[1].uidl = "a b", m[1].uidl_len = 3), (void)0);
	REFUSED(r[1].lo = 2, (void)0);
	REFUSED(r[0].hi = 9, (void)0);
	REFUSED(r[0].modseq = ix.highestmodseq + 1, (void)0);
	REFUSED(r[0].lo = 0, (void)0);
	buf_release(&b);
}

static void
test_log(void **state)
{
	static const char log[] =
		"tern-index-log 1 G00000000000000ab\n"
		"s 3 1796109718248463 c 1700000003.M3P1.host:2,FSa\n"
		"x 4 7 1796109718248464\n"
		"s 9 5 n 1700000009.M9P1.host\n"
		"x 8 8 17";     /* an append cut short */
	struct tern_index_logrec *rs;
	struct buf b = BUF_INIT;
	size_t n, i;

	(void)state;
	assert_int_equal(tern_index_log_parse(log, sizeof(log) - 1, 0xab, 100, &rs, &n),
	    TERN_INDEX_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rs[0].kind, 's');
	assert_int_equal(rs[0].uid, 3);
	assert_true(rs[0].modseq == 1796109718248463ull);
	assert_false(rs[0].in_new);
	assert_int_equal(rs[0].flags, MAILDIR_FLAG_FLAGGED | MAILDIR_FLAG_SEEN);
	assert_int_equal(rs[0].keywords, 1);
	assert_int_equal(rs[0].base_len, strlen("1700000003.M3P1.host"));
	assert_int_equal(rs[1].kind, 'x');
	assert_int_equal(rs[1].uid, 4);
	assert_int_equal(rs[1].hi, 7);
	assert_true(rs[2].in_new);
	/* written back: the same lines */
	assert_int_equal(tern_index_log_header(0xab, &b), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(tern_index_log_encode(&rs[i], &b), 0);
	assert_int_equal(b.len, sizeof(log) - 1 - strlen("x 8 8 17"));
	assert_memory_equal(b.data, log, b.len);
	free(rs);
	buf_release(&b);
	/* another index's log, or not a log: nothing to this index */
	assert_int_equal(tern_index_log_parse(log, sizeof(log) - 1, 0xac, 100, &rs, &n),
	    TERN_INDEX_ERR_FOREIGN);
	assert_int_equal(tern_index_log_parse("tern-index-log 1 G00000000000000ab", 34, 0xab, 100,
	    &rs, &n), TERN_INDEX_ERR_FOREIGN);
	assert_int_equal(tern_index_log_parse("tern-index-log 2 G00000000000000ab\n", 35, 0xab, 100,
	    &rs, &n), TERN_INDEX_ERR_FOREIGN);
	/* a bad whole line: the index and log are not trusted */
#define BADLOG(line) do { \
		const char l[] = "tern-index-log 1 G00000000000000ab\n" line "\n"; \
		assert_int_equal(tern_index_log_parse(l, sizeof(l) - 1, 0xab, 100, &rs, &n), \
		    TERN_INDEX_ERR_MSG); \
	} while (0)
	BADLOG("s 0 5 c a");
	BADLOG("s 1 0 c a");
	BADLOG("s 1 5 x a");
	BADLOG("s 1 5 c a/b");
	BADLOG("s 1 5 c ");
	BADLOG("x 0 1 5");
	BADLOG("x 2 1 5");
	BADLOG("x 1 2 0");
	BADLOG("x 1 2 5 6");
	BADLOG("y 1 2 5");
	BADLOG("");
	assert_int_equal(tern_index_log_parse(log, sizeof(log) - 1, 0xab, 2, &rs, &n),
	    TERN_INDEX_ERR_TOO_MANY);
	/* refused on the way out */
	{
		struct tern_index_logrec r = { .kind = 's', .uid = 1, .modseq = 1, .name = "a/b",
			.name_len = 3 };

		assert_int_equal(tern_index_log_encode(&r, &b), -1);
		r.kind = 'x';
		r.hi = 0;
		assert_int_equal(tern_index_log_encode(&r, &b), -1);
		r.kind = 'q';
		assert_int_equal(tern_index_log_encode(&r, &b), -1);
	}
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sum_vectors),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_torn_anywhere),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
