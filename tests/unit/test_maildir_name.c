/*
 * test_maildir_name: Maildir file names as Dovecot writes and reads them.
 *
 * The names marked "Dovecot 2.3.19" were written by Dovecot 2.3.19.1 on
 * this project's machine: dovecot-lda delivering to a Maildir
 * (mail_location = maildir:..., quota plugin on), then `doveadm flags add`
 * of \Seen; of \Flagged \Answered \Draft; of $Junk NonJunk \Seen (the
 * keywords became a and b in dovecot-keywords); of \Deleted \Seen; then
 * an IMAP SELECT (doveadm exec imap) that moved them to cur/. The
 * commands are in docs/mailbox-formats.md. Names marked "Dovecot docs"
 * are the examples of Dovecot's Maildir documentation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/maildir_name.h"

#define D MAILDIR_FLAG_DRAFT
#define F MAILDIR_FLAG_FLAGGED
#define P MAILDIR_FLAG_PASSED
#define R MAILDIR_FLAG_REPLIED
#define S MAILDIR_FLAG_SEEN
#define T MAILDIR_FLAG_TRASHED
#define KW(c) (UINT32_C(1) << ((c) - 'a'))
#define NO UINT64_MAX   /* no ,S= / ,W= */

static void
test_parse(void **state)
{
	static const struct {
		const char *name;
		enum maildir_name_err err;
		const char *base;
		uint64_t size, vsize;
		enum maildir_info info;
		unsigned flags;
		uint32_t keywords;
		const char *flag_text, *tail, *raw;
	} t[] = {
		/* Dovecot 2.3.19: dovecot-lda into new/ */
		{ "1796098780.M560313P11541.vm,S=100,W=106", MAILDIR_NAME_OK,
		  "1796098780.M560313P11541.vm,S=100,W=106", 100, 106,
		  MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		/* Dovecot 2.3.19: doveadm flags add (the file stays in new/) */
		{ "1796098780.M560313P11541.vm,S=100,W=106:2,S", MAILDIR_NAME_OK,
		  "1796098780.M560313P11541.vm,S=100,W=106", 100, 106,
		  MAILDIR_INFO_2, S, 0, "S", "", "" },
		{ "1796098780.M580543P11546.vm,S=100,W=106:2,DFR", MAILDIR_NAME_OK,
		  "1796098780.M580543P11546.vm,S=100,W=106", 100, 106,
		  MAILDIR_INFO_2, D | F | R, 0, "DFR", "", "" },
		{ "1796098780.M596782P11548.vm,S=100,W=106:2,Sab", MAILDIR_NAME_OK,
		  "1796098780.M596782P11548.vm,S=100,W=106", 100, 106,
		  MAILDIR_INFO_2, S, KW('a') | KW('b'), "Sab", "", "" },
		{ "1796098780.M613125P11550.vm,S=100,W=106:2,ST", MAILDIR_NAME_OK,
		  "1796098780.M613125P11550.vm,S=100,W=106", 100, 106,
		  MAILDIR_INFO_2, S | T, 0, "ST", "", "" },
		/* Dovecot 2.3.19: moved to cur/ by a SELECT, no flags */
		{ "1796098859.M340289P14169.vm,S=62,W=66:2,", MAILDIR_NAME_OK,
		  "1796098859.M340289P14169.vm,S=62,W=66", 62, 66,
		  MAILDIR_INFO_2, 0, 0, "", "", "" },
		/* Dovecot docs */
		{ "1491941793.M41850P8566V0000000000000015I0000000004F3030E_0.mx1.example.com,S=10956:2,STln",
		  MAILDIR_NAME_OK,
		  "1491941793.M41850P8566V0000000000000015I0000000004F3030E_0.mx1.example.com,S=10956",
		  10956, NO, MAILDIR_INFO_2, S | T, KW('l') | KW('n'), "STln", "", "" },
		{ "1035478339.27041_118.foo.org,S=1000,W=1030:2,S", MAILDIR_NAME_OK,
		  "1035478339.27041_118.foo.org,S=1000,W=1030", 1000, 1030,
		  MAILDIR_INFO_2, S, 0, "S", "", "" },
		/* qmail's own names: no sizes */
		{ "1204680122.27284_1.example.net", MAILDIR_NAME_OK,
		  "1204680122.27284_1.example.net", NO, NO, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		/* passed, every flag, unknown octets and a tail kept */
		{ "x:2,P", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_2, P, 0, "P", "", "" },
		{ "x:2,DFPRSTaz", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_2,
		  D | F | P | R | S | T, KW('a') | KW('z'), "DFPRSTaz", "", "" },
		{ "x:2,SX3", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_2, S, 0, "SX3", "", "" },
		{ "x:2,S,Z=1,foo", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_2, S, 0,
		  "S", ",Z=1,foo", "" },
		{ "x:2,,", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_2, 0, 0, "", ",", "" },
		/* experimental and unknown info: kept raw */
		{ "x:1,whatever", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_1, 0, 0, "", "", "1,whatever" },
		{ "x:3,S", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_OTHER, 0, 0, "", "", "3,S" },
		{ "x:2", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_OTHER, 0, 0, "", "", "2" },
		{ "x:", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_OTHER, 0, 0, "", "", "" },
		{ "x:2,S:2,T", MAILDIR_NAME_OK, "x", NO, NO, MAILDIR_INFO_OTHER, 0, 0, "", "", "2,S:2,T" },
		/* sizes: the first field of each kind, digits to ',' or the end */
		{ "a,S=12x,S=5", MAILDIR_NAME_OK, "a,S=12x,S=5", NO, NO, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		{ "a,S=,W=7", MAILDIR_NAME_OK, "a,S=,W=7", NO, 7, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		{ "a,W=7,S=8", MAILDIR_NAME_OK, "a,W=7,S=8", 8, 7, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		{ "a,S=18446744073709551614", MAILDIR_NAME_OK, "a,S=18446744073709551614",
		  UINT64_MAX - 1, NO, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		{ "a,S=18446744073709551616", MAILDIR_NAME_OK, "a,S=18446744073709551616",
		  NO, NO, MAILDIR_INFO_NONE, 0, 0, "", "", "" },
		{ "a,S=9:2,S", MAILDIR_NAME_OK, "a,S=9", 9, NO, MAILDIR_INFO_2, S, 0, "S", "", "" },
		/* what is not a message name */
		{ "", MAILDIR_NAME_EMPTY, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ ".", MAILDIR_NAME_HIDDEN, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ ".nfs000123", MAILDIR_NAME_HIDDEN, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ ":2,S", MAILDIR_NAME_NO_BASE, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ "a/b", MAILDIR_NAME_BAD_OCTET, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ "a\rb", MAILDIR_NAME_BAD_OCTET, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
		{ "a:2,S\n", MAILDIR_NAME_BAD_OCTET, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct maildir_name n;
		enum maildir_name_err err = maildir_name_parse(t[i].name, strlen(t[i].name), &n);

		if (err != t[i].err)
			fail_msg("%zu %s: err %d want %d", i, t[i].name, err, t[i].err);
		if (err != MAILDIR_NAME_OK)
			continue;
		assert_int_equal(n.base_len, strlen(t[i].base));
		assert_memory_equal(n.base, t[i].base, n.base_len);
		assert_int_equal(n.has_size, t[i].size != NO);
		if (n.has_size)
			assert_true(n.size == t[i].size);
		assert_int_equal(n.has_vsize, t[i].vsize != NO);
		if (n.has_vsize)
			assert_true(n.vsize == t[i].vsize);
		if (n.info != t[i].info)
			fail_msg("%zu %s: info %d want %d", i, t[i].name, n.info, t[i].info);
		assert_int_equal(n.flags, t[i].flags);
		assert_int_equal(n.keywords, t[i].keywords);
		assert_int_equal(n.flag_text_len, strlen(t[i].flag_text));
		assert_memory_equal(n.flag_text, t[i].flag_text, n.flag_text_len);
		assert_int_equal(n.tail_len, strlen(t[i].tail));
		assert_memory_equal(n.tail, t[i].tail, n.tail_len);
		assert_int_equal(n.raw_len, strlen(t[i].raw));
		assert_memory_equal(n.raw, t[i].raw, n.raw_len);
	}
	/* a NUL inside */
	{
		struct maildir_name n;

		assert_int_equal(maildir_name_parse("a\0b", 3, &n), MAILDIR_NAME_BAD_OCTET);
	}
	/* the longest name a filesystem holds, and one more */
	{
		char name[MAILDIR_NAME_MAX + 2];
		struct maildir_name n;

		memset(name, 'a', sizeof(name));
		assert_int_equal(maildir_name_parse(name, MAILDIR_NAME_MAX, &n), MAILDIR_NAME_OK);
		assert_int_equal(maildir_name_parse(name, MAILDIR_NAME_MAX + 1, &n),
		    MAILDIR_NAME_TOO_LONG);
	}
}

/* A flag change is: parse, set flags and keywords, build. */
static void
test_rename(void **state)
{
	static const struct {
		const char *from;
		unsigned add, del;
		uint32_t kw_add;
		const char *to;     /* NULL: build refuses */
	} t[] = {
		/* Dovecot 2.3.19 did these renames (flags add of \Seen etc.) */
		{ "1796098780.M560313P11541.vm,S=100,W=106", S, 0, 0,
		  "1796098780.M560313P11541.vm,S=100,W=106:2,S" },
		{ "1796098780.M580543P11546.vm,S=100,W=106", F | R | D, 0, 0,
		  "1796098780.M580543P11546.vm,S=100,W=106:2,DFR" },
		{ "1796098780.M596782P11548.vm,S=100,W=106", S, 0, KW('a') | KW('b'),
		  "1796098780.M596782P11548.vm,S=100,W=106:2,Sab" },
		{ "1796098780.M613125P11550.vm,S=100,W=106:2,S", T, 0, 0,
		  "1796098780.M613125P11550.vm,S=100,W=106:2,ST" },
		/* sorted and each once, whatever the order found */
		{ "x:2,TSS", 0, 0, 0, "x:2,ST" },
		{ "x:2,zaS", 0, 0, 0, "x:2,Saz" },
		{ "x:2,S", 0, S, 0, "x:2," },
		{ "x:2,", P, 0, 0, "x:2,P" },
		/* octets we do not know are kept, in ASCII order with the rest */
		{ "x:2,SX3", D, 0, 0, "x:2,3DSX" },
		{ "x:2,X", 0, 0, KW('c'), "x:2,Xc" },
		/* the tail after the flags is kept */
		{ "x:2,S,Z=1,foo", R, 0, 0, "x:2,RS,Z=1,foo" },
		/* experimental or unknown info cannot take flags: never lost */
		{ "x:1,abc", 0, 0, 0, "x:1,abc" },
		{ "x:1,abc", S, 0, 0, NULL },
		{ "x:3,S", 0, 0, 0, "x:3,S" },
		{ "x:2,S:2,T", 0, 0, 0, "x:2,S:2,T" },
		{ "x:", 0, 0, 0, "x:" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct maildir_name n;
		char out[MAILDIR_NAME_MAX + 1];
		size_t len;

		assert_int_equal(maildir_name_parse(t[i].from, strlen(t[i].from), &n),
		    MAILDIR_NAME_OK);
		if ((t[i].add || t[i].kw_add) && n.info == MAILDIR_INFO_NONE)
			n.info = MAILDIR_INFO_2;   /* as a move from new/ to cur/ does */
		n.flags = (n.flags | t[i].add) & ~t[i].del;
		n.keywords |= t[i].kw_add;
		len = maildir_name_build(&n, out, sizeof(out));
		if (t[i].to == NULL) {
			if (len != 0)
				fail_msg("%zu %s: built %s", i, t[i].from, out);
			continue;
		}
		if (len == 0 || strcmp(out, t[i].to) != 0)
			fail_msg("%zu %s: built \"%s\" want \"%s\"", i, t[i].from,
			    len ? out : "", t[i].to);
		assert_int_equal(len, strlen(t[i].to));
	}
}

static void
test_build_refuses(void **state)
{
	struct maildir_name n;
	char out[MAILDIR_NAME_MAX + 1], big[MAILDIR_NAME_MAX + 8];

	(void)state;
	memset(&n, 0, sizeof(n));
	n.base = "x";
	n.base_len = 1;
	n.flag_text = n.tail = n.raw = "";
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 1);
	assert_string_equal(out, "x");
	/* flags on a name without info would be lost */
	n.flags = MAILDIR_FLAG_SEEN;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.info = MAILDIR_INFO_2;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 5);
	assert_string_equal(out, "x:2,S");
	/* no room for the NUL */
	assert_int_equal(maildir_name_build(&n, out, 5), 0);
	assert_int_equal(maildir_name_build(&n, out, 6), 5);
	/* flag bits that name no letter, keyword bits past z */
	n.flags = 1u << 6;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.flags = 0;
	n.keywords = UINT32_C(1) << 26;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.keywords = 0;
	/* bases that are not one */
	n.base = ".x";
	n.base_len = 2;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.base = "a:b";
	n.base_len = 3;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.base = "a/b";
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.base = "";
	n.base_len = 0;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	/* octets that would end the flags or the name */
	n.base = "x";
	n.base_len = 1;
	n.flag_text = "S,";
	n.flag_text_len = 2;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.flag_text = "";
	n.flag_text_len = 0;
	n.tail = "x";      /* a tail starts with its ',' */
	n.tail_len = 1;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.tail = ",a:b";
	n.tail_len = 4;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.tail = "";
	n.tail_len = 0;
	/* raw info that would read back as another kind */
	n.info = MAILDIR_INFO_OTHER;
	n.raw = "2,S";
	n.raw_len = 3;
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	n.info = MAILDIR_INFO_1;
	n.raw = "3,S";
	assert_int_equal(maildir_name_build(&n, out, sizeof(out)), 0);
	/* longer than a file name may be */
	memset(big, 'a', sizeof(big));
	n.info = MAILDIR_INFO_NONE;
	n.base = big;
	n.base_len = MAILDIR_NAME_MAX + 1;
	{
		char large[2 * MAILDIR_NAME_MAX];

		assert_int_equal(maildir_name_build(&n, large, sizeof(large)), 0);
		n.base_len = MAILDIR_NAME_MAX;
		assert_int_equal(maildir_name_build(&n, large, sizeof(large)), MAILDIR_NAME_MAX);
	}
}

static void
test_new_base(void **state)
{
	static const struct {
		struct maildir_uniq u;
		const char *want;   /* NULL: refused */
	} t[] = {
		/* Dovecot 2.3.19 named its delivery of 100 octets (106 with
		 * CRLF) by pid 11541 at 1796098780.560313 on host "vm" so: */
		{ { 1796098780, 560313, 11541, false, 0, "vm", 2, true, 100, true, 106 },
		  "1796098780.M560313P11541.vm,S=100,W=106" },
		/* ... and its name in tmp/, before the size was known */
		{ { 1796098780, 560313, 11541, false, 0, "vm", 2, false, 0, false, 0 },
		  "1796098780.M560313P11541.vm" },
		/* tern's deliveries count within the microsecond */
		{ { 1700000000, 0, 42, true, 7, "mx.example.test", 15, true, 0, false, 0 },
		  "1700000000.M0P42Q7.mx.example.test,S=0" },
		/* the Maildir escapes, and ours for ',' and odd octets */
		{ { 1, 999999, 1, false, 0, "a/b:c", 5, false, 0, false, 0 },
		  "1.M999999P1.a\\057b\\072c" },
		{ { 1, 2, 3, false, 0, "h,S=5", 5, true, 9, false, 0 },
		  "1.M2P3.h\\054S=5,S=9" },
		{ { 1, 2, 3, false, 0, "a b\tc\x7f\xc3", 7, false, 0, false, 0 },
		  "1.M2P3.a\\040b\\011c\\177\\303" },
		{ { 0, 0, 0, false, 0, "h", 1, false, 0, false, 0 }, "0.M0P0.h" },
		{ { INT64_MAX, 999999, UINT64_MAX, true, UINT64_MAX, "h", 1, true, UINT64_MAX,
		    true, UINT64_MAX },
		  "9223372036854775807.M999999P18446744073709551615Q18446744073709551615.h"
		  ",S=18446744073709551615,W=18446744073709551615" },
		/* refused */
		{ { 1, 2, 3, false, 0, "", 0, false, 0, false, 0 }, NULL },
		{ { 1, 1000000, 3, false, 0, "h", 1, false, 0, false, 0 }, NULL },
		{ { -1, 2, 3, false, 0, "h", 1, false, 0, false, 0 }, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[MAILDIR_NAME_MAX + 1];
		size_t len = maildir_name_new_base(&t[i].u, out, sizeof(out));
		struct maildir_name n;

		if (t[i].want == NULL) {
			assert_int_equal(len, 0);
			continue;
		}
		if (len == 0 || strcmp(out, t[i].want) != 0)
			fail_msg("%zu: got \"%s\" want \"%s\"", i, len ? out : "", t[i].want);
		assert_int_equal(len, strlen(out));
		/* what it makes is a base, with the sizes it was given */
		assert_int_equal(maildir_name_parse(out, len, &n), MAILDIR_NAME_OK);
		assert_int_equal(n.info, MAILDIR_INFO_NONE);
		assert_int_equal(n.base_len, len);
		assert_int_equal(n.has_size, t[i].u.with_size);
		if (n.has_size)
			assert_true(n.size == t[i].u.size);
		assert_int_equal(n.has_vsize, t[i].u.with_vsize);
	}
	/* a host too long for a name */
	{
		char host[300], out[MAILDIR_NAME_MAX + 1], big[1024];
		struct maildir_uniq u = { 1, 2, 3, false, 0, host, sizeof(host), false, 0, false, 0 };

		memset(host, 'h', sizeof(host));
		assert_int_equal(maildir_name_new_base(&u, out, sizeof(out)), 0);
		assert_int_equal(maildir_name_new_base(&u, big, sizeof(big)), 0);
		u.host_len = 3;
		assert_int_equal(maildir_name_new_base(&u, out, 10), 0);
		assert_int_equal(maildir_name_new_base(&u, out, 11), 10);
		assert_string_equal(out, "1.M2P3.hhh");
	}
}

static int
sign(int x)
{
	return (x > 0) - (x < 0);
}

static void
test_arrival_cmp(void **state)
{
	static const struct {
		const char *a, *b;
		int want;           /* the sign of cmp(a, b) */
	} t[] = {
		/* microseconds are not zero-padded: by value, not as text */
		{ "1700000000.M99999P7Q1.mx", "1700000000.M100000P7Q2.mx", -1 },
		{ "1700000000.M999999P7.vm", "1700000001.M0P7.vm", -1 },
		/* seconds of different lengths */
		{ "999999999.M0P1.h", "1000000000.M0P1.h", -1 },
		/* tern's counter within one microsecond */
		{ "1700000000.M5P1Q9.h", "1700000000.M5P1Q10.h", -1 },
		/* Dovecot's name and tern's, a microsecond apart */
		{ "1796098780.M560313P11541.vm,S=100,W=106",
		  "1796098780.M560314P9Q1.mx.example.test,S=5", -1 },
		/* equal times: the rest decides, numbers by value */
		{ "1.M2P30.h", "1.M2P4.h", 1 },
		{ "1.M2P3.a", "1.M2P3.b", -1 },
		{ "1.M2P3.h", "1.M2P3.h,S=4", -1 },
		{ "10", "9a", 1 },
		{ "1a", "1.", 1 },
		{ "a", "", 1 },
		{ "", "", 0 },
		{ "1.M2P3.h", "1.M2P3.h", 0 },
		/* equal values: the octets decide, never 0 for two names */
		{ "1.M05P1.h", "1.M5P1.h", -1 },
		{ "0", "00", -1 },
		{ "x007y", "x7y", -1 },
		{ "x007y", "x7z", -1 },
	};
	/* Five deliveries in arrival order, shuffled: sorted back. */
	static const char *const arrived[] = {
		"999999999.M999999P9Q1.h", "1700000000.M9P9Q1.h", "1700000000.M9P9Q2.h",
		"1700000000.M9P9Q10.h", "1700000000.M10P1.vm",
	};
	const char *v[5] = { arrived[3], arrived[4], arrived[0], arrived[2], arrived[1] };
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t al = strlen(t[i].a), bl = strlen(t[i].b);

		if (sign(maildir_name_arrival_cmp(t[i].a, al, t[i].b, bl)) != t[i].want ||
		    sign(maildir_name_arrival_cmp(t[i].b, bl, t[i].a, al)) != -t[i].want)
			fail_msg("%zu: \"%s\" vs \"%s\"", i, t[i].a, t[i].b);
	}
	/* insertion sort, by the comparison alone */
	for (i = 1; i < 5; i++) {
		for (k = i; k > 0 && maildir_name_arrival_cmp(v[k - 1], strlen(v[k - 1]), v[k],
		    strlen(v[k])) > 0; k--) {
			const char *x = v[k];

			v[k] = v[k - 1];
			v[k - 1] = x;
		}
	}
	for (i = 0; i < 5; i++)
		assert_string_equal(v[i], arrived[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_build_refuses),
		cmocka_unit_test(test_new_base),
		cmocka_unit_test(test_arrival_cmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
