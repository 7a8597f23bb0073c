/*
 * test_uidlist: dovecot-uidlist read and written as Dovecot does.
 *
 * The files marked "Dovecot 2.3.19" were written by Dovecot 2.3.19.1 on
 * this project's machine, run as in docs/mailbox-formats.md (a
 * dovecot.conf of our own, mail_location = maildir:..., a passwd-file
 * userdb; dovecot-lda for deliveries, doveadm for flags, expunges and
 * status, `doveadm exec imap` for SELECT and FETCH). Where a file is
 * marked "in -> Dovecot out", we wrote "in" into the Maildir (with a
 * rename, as Dovecot's own writers do), had Dovecot read it, and "out" is
 * what Dovecot made of it: our encoder must write the same bytes, and our
 * reader must fail where Dovecot logged "Broken file".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/uidlist.h"

static const struct uidlist_limits lim = UIDLIST_LIMITS_DEFAULT;

#define GUID "d07c6621dc4a0e6b152d000083ecc375"
#define NAME1 "1796098780.M560313P11541.vm,S=100,W=106"
#define NAME2 "1796098780.M580543P11546.vm,S=100,W=106"
#define NAME3 "1796098780.M596782P11548.vm,S=100,W=106"
#define NAME4 "1796098780.M613125P11550.vm,S=100,W=106"
#define NAME5 "1796098859.M340289P14169.vm,S=62,W=66"
#define NAME8 "1796098872.M563625P14972.vm,S=44,W=48"

/* Dovecot 2.3.19: four deliveries by dovecot-lda. Each appended its line
 * and left the header's N at 1, as the first one wrote it. */
static const char delivered[] =
	"3 V1796098780 N1 G" GUID "\n"
	"1 :" NAME1 "\n"
	"2 :" NAME2 "\n"
	"3 :" NAME3 "\n"
	"4 :" NAME4 "\n";

/* Dovecot 2.3.19: `doveadm expunge ... uid 4` after `doveadm flags add`
 * on all four: the file rewritten, N raised, names without their ":2,". */
static const char expunged[] =
	"3 V1796098780 N5 G" GUID "\n"
	"1 :" NAME1 "\n"
	"2 :" NAME2 "\n"
	"3 :" NAME3 "\n";

/* Dovecot 2.3.19: then one more delivery, appended behind N5. */
static const char appended[] =
	"3 V1796098780 N5 G" GUID "\n"
	"1 :" NAME1 "\n"
	"2 :" NAME2 "\n"
	"3 :" NAME3 "\n"
	"5 :" NAME5 "\n";

/* in -> Dovecot 2.3.19 out (`doveadm mailbox status`): unknown header
 * fields kept in order after G, unknown record fields with an A-Z key
 * kept, "w12" dropped ("Invalid extension record, removing: w12"), a
 * name's ":2,Sab" dropped, N raised past the last uid. */
static const char ext_in[] =
	"3 V1796098780 N5 G" GUID " Xfoo Yb\n"
	"1 W106 Xabc :" NAME1 "\n"
	"2 w12 :" NAME2 "\n"
	"3 :" NAME3 ":2,Sab\n"
	"5 :" NAME5 "\n";
static const char ext_out[] =
	"3 V1796098780 N6 G" GUID " Xfoo Yb\n"
	"1 W106 Xabc :" NAME1 "\n"
	"2 :" NAME2 "\n"
	"3 :" NAME3 "\n"
	"5 :" NAME5 "\n";

/* in -> Dovecot 2.3.19 out (SELECT, index files removed first): version
 * 1 read with whole names, written as version 3 with a new GUID. */
static const char v1_in[] =
	"1 1796098780 12\n"
	"1 " NAME1 ":2,S\n"
	"2 " NAME2 ":2,DFR\n"
	"3 " NAME3 ":2,Sab\n"
	"5 " NAME5 ":2,\n"
	"8 " NAME8 ":2,\n";
static const char v1_out[] =
	"3 V1796098780 N12 G000499173e4b0e6b063b000083ecc375\n"
	"1 :" NAME1 "\n"
	"2 :" NAME2 "\n"
	"3 :" NAME3 "\n"
	"5 :" NAME5 "\n"
	"8 :" NAME8 "\n";

/* in for Dovecot 2.3.19: a last line cut by a crash. Dovecot ignored it
 * (status said uidnext=6, and the next delivery was given uid 6), and
 * that delivery appended its line right after the cut one: */
static const char torn_in[] =
	"3 V1796098780 N6 G" GUID "\n"
	"1 :" NAME1 "\n"
	"5 :" NAME5 "\n"
	"7 :1796098859.M340289P1";
/* ... which made this (the message then got uid 8 in place of 6). */
static const char torn_appended[] =
	"3 V1796098780 N6 G" GUID "\n"
	"1 :" NAME1 "\n"
	"5 :" NAME5 "\n"
	"7 :1796098859.M340289P16 :" NAME8 "\n"
	"8 :" NAME8 "\n";

/* in for Dovecot 2.3.19: "Broken file ... line 4: UIDs not ordered
 * (2 >= 3)". Dovecot kept uids 1 and 3 and gave the rest new ones. */
static const char unordered_in[] =
	"3 V1796098780 N12 G000499173e4b0e6b063b000083ecc375\n"
	"1 :" NAME1 "\n"
	"3 :" NAME2 "\n"
	"2 :" NAME3 "\n"
	"5 :" NAME5 "\n";

static void
parse_ok(const char *data, size_t len, struct uidlist *ul)
{
	size_t line;
	enum uidlist_err err = uidlist_parse(data, len, &lim, ul, &line);

	if (err != UIDLIST_OK)
		fail_msg("error %d on line %zu", err, line);
}

static void
encode_is(const struct uidlist *ul, const char *want)
{
	struct buf b = BUF_INIT;

	assert_int_equal(uidlist_encode(ul, &b), 0);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		fail_msg("encoded:\n%s\nwant:\n%s", buf_cstr(&b), want);
	buf_release(&b);
}

static void
test_dovecot_files(void **state)
{
	struct uidlist ul;
	const char *v, *n;
	size_t vl, line;

	(void)state;
	/* header N behind the records: next_uid past the last */
	parse_ok(delivered, sizeof(delivered) - 1, &ul);
	assert_int_equal(ul.version, 3);
	assert_int_equal(ul.uidvalidity, 1796098780u);
	assert_int_equal(ul.hdr_next_uid, 1);
	assert_int_equal(ul.next_uid, 5);
	assert_true(ul.has_guid);
	assert_int_equal(ul.guid[0], 0xd0);
	assert_int_equal(ul.guid[15], 0x75);
	assert_null(ul.hdr_ext);
	assert_int_equal(ul.nrecs, 4);
	assert_int_equal(ul.recs[3].uid, 4);
	assert_string_equal(ul.recs[3].name, NAME4);
	assert_null(ul.recs[3].ext);
	assert_false(ul.torn);
	/* the expunge, done as Dovecot did it, writes Dovecot's bytes */
	assert_true(uidlist_remove(&ul, 4));
	assert_false(uidlist_remove(&ul, 4));
	encode_is(&ul, expunged);
	/* and the delivery after it is Dovecot's appended line */
	{
		struct buf b = BUF_INIT;

		assert_int_equal(uidlist_append(&ul, ul.next_uid, NULL, NAME5, strlen(NAME5)), 0);
		assert_int_equal(buf_append(&b, expunged, sizeof(expunged) - 1), 0);
		assert_int_equal(uidlist_encode_rec(uidlist_find(&ul, 5), &b), 0);
		assert_int_equal(b.len, sizeof(appended) - 1);
		assert_memory_equal(b.data, appended, b.len);
		buf_release(&b);
	}
	uidlist_clear(&ul);

	parse_ok(appended, sizeof(appended) - 1, &ul);
	assert_int_equal(ul.hdr_next_uid, 5);
	assert_int_equal(ul.next_uid, 6);
	uidlist_clear(&ul);

	/* unknown fields kept, a bad key dropped, names cut at ':' */
	parse_ok(ext_in, sizeof(ext_in) - 1, &ul);
	assert_string_equal(ul.hdr_ext, "Xfoo Yb");
	assert_string_equal(ul.recs[0].ext, "W106 Xabc");
	assert_true(uidlist_rec_ext(&ul.recs[0], 'W', &v, &vl));
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "106", 3);
	assert_true(uidlist_rec_ext(&ul.recs[0], 'X', &v, &vl));
	assert_memory_equal(v, "abc", 3);
	assert_false(uidlist_rec_ext(&ul.recs[0], 'G', &v, &vl));
	assert_false(uidlist_rec_ext(&ul.recs[1], 'W', &v, &vl));
	assert_null(ul.recs[1].ext);
	assert_int_equal(ul.dropped_ext, 1);
	assert_string_equal(ul.recs[2].name, NAME3 ":2,Sab");
	encode_is(&ul, ext_out);
	uidlist_clear(&ul);

	/* version 1: read; written as 3 (the GUID is the caller's to make) */
	parse_ok(v1_in, sizeof(v1_in) - 1, &ul);
	assert_int_equal(ul.version, 1);
	assert_int_equal(ul.next_uid, 12);
	assert_false(ul.has_guid);
	assert_string_equal(ul.recs[4].name, NAME8 ":2,");
	ul.has_guid = true;
	{
		static const uint8_t g[UIDLIST_GUID_LEN] = {
			0x00, 0x04, 0x99, 0x17, 0x3e, 0x4b, 0x0e, 0x6b,
			0x06, 0x3b, 0x00, 0x00, 0x83, 0xec, 0xc3, 0x75 };

		memcpy(ul.guid, g, sizeof(g));
	}
	encode_is(&ul, v1_out);
	uidlist_clear(&ul);

	/* the cut line does not count, and the reader says so */
	parse_ok(torn_in, sizeof(torn_in) - 1, &ul);
	assert_true(ul.torn);
	assert_int_equal(ul.nrecs, 2);
	assert_int_equal(ul.next_uid, 6);
	uidlist_clear(&ul);
	/* what Dovecot's append after it made reads, as it did for Dovecot */
	parse_ok(torn_appended, sizeof(torn_appended) - 1, &ul);
	assert_false(ul.torn);
	assert_int_equal(ul.nrecs, 4);
	assert_string_equal(ul.recs[2].name, "1796098859.M340289P16 :" NAME8);
	assert_int_equal(ul.next_uid, 9);
	uidlist_clear(&ul);

	/* broken where Dovecot said so, the records before it kept */
	assert_int_equal(uidlist_parse(unordered_in, sizeof(unordered_in) - 1, &lim,
	    &ul, &line), UIDLIST_ERR_ORDER);
	assert_int_equal(line, 4);
	assert_int_equal(ul.nrecs, 2);
	assert_int_equal(ul.recs[0].uid, 1);
	assert_int_equal(ul.recs[1].uid, 3);
	n = ul.recs[1].name;
	assert_string_equal(n, NAME2);
	uidlist_clear(&ul);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *data;
		enum uidlist_err err;
		size_t line;
	} t[] = {
		{ "", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1 N1", UIDLIST_ERR_HEADER, 1 },          /* the header cut */
		{ "\n", UIDLIST_ERR_HEADER, 1 },
		{ "3\n", UIDLIST_ERR_HEADER, 1 },
		{ "x V1 N1\n", UIDLIST_ERR_HEADER, 1 },
		{ "2 V1 N1\n", UIDLIST_ERR_VERSION, 1 },
		{ "4 V1 N1\n", UIDLIST_ERR_VERSION, 1 },
		{ "3 N1\n", UIDLIST_ERR_HEADER, 1 },            /* no V */
		{ "3 V1\n", UIDLIST_ERR_HEADER, 1 },            /* no N */
		{ "3 V0 N1\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1 N0\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1x N1\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V4294967296 N1\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1 N1 G00\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1 N1 G" "d07c6621dc4a0e6b152d000083ecc37z" "\n", UIDLIST_ERR_HEADER, 1 },
		{ "1 1\n", UIDLIST_ERR_HEADER, 1 },
		{ "1 1 2 3\n", UIDLIST_ERR_HEADER, 1 },
		{ "1 0 2\n", UIDLIST_ERR_HEADER, 1 },
		{ "3 V1 N1\r\n", UIDLIST_ERR_BYTES, 1 },
		{ "3 V1 N1\n1 :a\r\n", UIDLIST_ERR_BYTES, 2 },
		{ "3 V1 N1\n\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n0 :a\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n1:a\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n1\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n x\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n4294967295 :a\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n4294967296 :a\n", UIDLIST_ERR_UID, 2 },
		{ "3 V1 N1\n2 :a\n2 :b\n", UIDLIST_ERR_ORDER, 3 },
		{ "3 V1 N1\n2 :a\n1 :b\n", UIDLIST_ERR_ORDER, 3 },
		{ "1 1 3\n2 a\n3 b\n", UIDLIST_ERR_NEXT_UID, 3 },
		{ "3 V1 N1\n1 :\n", UIDLIST_ERR_NAME, 2 },
		{ "3 V1 N1\n1 W12\n", UIDLIST_ERR_NAME, 2 },
		{ "3 V1 N1\n1 name\n", UIDLIST_ERR_NAME, 2 },    /* no ':' before it */
		{ "3 V1 N1\n1 :a/b\n", UIDLIST_ERR_NAME, 2 },
		{ "3 V1 N1\n1 ::2,S\n", UIDLIST_ERR_NAME, 2 },
		{ "1 1 3\n1 \n", UIDLIST_ERR_NAME, 2 },
		{ "1 1 3\n1 ../x\n", UIDLIST_ERR_NAME, 2 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct uidlist ul;
		size_t line = 99;
		enum uidlist_err err = uidlist_parse(t[i].data, strlen(t[i].data), &lim,
		    &ul, &line);

		if (err != t[i].err || line != t[i].line)
			fail_msg("%zu \"%s\": error %d line %zu, want %d line %zu", i,
			    t[i].data, err, line, t[i].err, t[i].line);
		uidlist_clear(&ul);
	}
	/* a NUL */
	{
		static const char nul[] = "3 V1 N1\n1 :a\0b\n";
		struct uidlist ul;
		size_t line;

		assert_int_equal(uidlist_parse(nul, sizeof(nul) - 1, &lim, &ul, &line),
		    UIDLIST_ERR_BYTES);
		assert_int_equal(line, 2);
		uidlist_clear(&ul);
	}
}

static void
test_lenient(void **state)
{
	static const char *const ok[] = {
		"3 V1 N1\n",                                /* no records */
		"3 N7 V5\n",                                /* any order, no G */
		"3  V1   N1  \n",                           /* extra spaces */
		"3 V1 N1 G" GUID "\n",
		"3 V1 N1 G" "D07C6621DC4A0E6B152D000083ECC375" "\n",
		"3 V1 N1\n1 :a b c\n",                      /* spaces in a name */
		"3 V1 N1\n1   W5   :a\n",
		"3 V1 N1\n1 :a:2,S\n",
		"3 V4294967295 N4294967295\n4294967294 :a\n",
		"1 1 3\n1 a:2,S\n2 b\n",
		"3 V1 N1\n1 :a\n2 :b",                      /* torn */
		"3 V1 N1\n1 :a\n2 :b\r",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct uidlist ul;
		struct buf b = BUF_INIT;
		size_t line;
		enum uidlist_err err = uidlist_parse(ok[i], strlen(ok[i]), &lim, &ul, &line);

		if (err != UIDLIST_OK)
			fail_msg("%zu \"%s\": error %d line %zu", i, ok[i], err, line);
		/* and what we write of it reads back the same */
		assert_int_equal(uidlist_encode(&ul, &b), 0);
		{
			struct uidlist again;

			parse_ok(b.data, b.len, &again);
			assert_int_equal(again.nrecs, ul.nrecs);
			assert_int_equal(again.next_uid, ul.next_uid);
			assert_int_equal(again.uidvalidity, ul.uidvalidity);
			uidlist_clear(&again);
		}
		buf_release(&b);
		uidlist_clear(&ul);
	}
	{
		struct uidlist ul;

		parse_ok("3 V1 N1\n4294967294 :a\n", 22, &ul);
		assert_int_equal(ul.next_uid, UINT32_MAX);
		uidlist_clear(&ul);
		parse_ok("3 V1 N1\n1 :a b c\n", 17, &ul);
		assert_string_equal(ul.recs[0].name, "a b c");
		uidlist_clear(&ul);
		parse_ok("3 V1 N1\n1 :a\n2 :b\r", 18, &ul);
		assert_true(ul.torn);
		assert_int_equal(ul.nrecs, 1);
		uidlist_clear(&ul);
	}
}

static void
test_limits(void **state)
{
	struct uidlist_limits small = { .line_max = 10, .records_max = 2 };
	struct uidlist ul;
	size_t line;

	(void)state;
	assert_int_equal(uidlist_parse("3 V1 N1\n1 :abcdefg\n", 19, &small, &ul, &line),
	    UIDLIST_OK);
	uidlist_clear(&ul);
	assert_int_equal(uidlist_parse("3 V1 N1\n1 :abcdefgh\n", 20, &small, &ul, &line),
	    UIDLIST_ERR_LONG);
	assert_int_equal(line, 2);
	uidlist_clear(&ul);
	assert_int_equal(uidlist_parse("3 V1 N1\n1 :a\n2 :b\n3 :c\n", 23, &small, &ul, &line),
	    UIDLIST_ERR_TOO_MANY);
	assert_int_equal(line, 4);
	assert_int_equal(ul.nrecs, 2);
	uidlist_clear(&ul);
}

static void
test_edit(void **state)
{
	struct uidlist ul;
	struct buf b = BUF_INIT;
	uint32_t uid;

	(void)state;
	memset(&ul, 0, sizeof(ul));
	/* a new list has no uidvalidity yet: nothing to write */
	assert_int_equal(uidlist_encode(&ul, &b), -1);
	ul.uidvalidity = 1700000000;
	ul.next_uid = 1;
	for (uid = 1; uid <= 200; uid++) {
		char name[32];

		snprintf(name, sizeof(name), "m%u", uid);
		assert_int_equal(uidlist_append(&ul, uid, uid % 2 ? "W10" : NULL, name,
		    strlen(name)), 0);
	}
	assert_int_equal(ul.next_uid, 201);
	assert_non_null(uidlist_find(&ul, 1));
	assert_non_null(uidlist_find(&ul, 200));
	assert_null(uidlist_find(&ul, 201));
	assert_null(uidlist_find(&ul, 0));
	assert_string_equal(uidlist_find(&ul, 77)->name, "m77");
	assert_true(uidlist_remove(&ul, 1));
	assert_true(uidlist_remove(&ul, 200));
	assert_true(uidlist_remove(&ul, 100));
	assert_null(uidlist_find(&ul, 100));
	assert_int_equal(ul.nrecs, 197);
	/* removing never lowers next_uid: a uid is never given twice */
	assert_int_equal(ul.next_uid, 201);
	/* appends that would break the order or the line */
	assert_int_equal(uidlist_append(&ul, 199, NULL, "x", 1), -1);
	assert_int_equal(uidlist_append(&ul, UINT32_MAX, NULL, "x", 1), -1);
	assert_int_equal(uidlist_append(&ul, 300, NULL, "", 0), -1);
	assert_int_equal(uidlist_append(&ul, 300, NULL, "a/b", 3), -1);
	assert_int_equal(uidlist_append(&ul, 300, NULL, "a\nb", 3), -1);
	assert_int_equal(uidlist_append(&ul, 300, NULL, ":2,S", 4), -1);
	assert_int_equal(uidlist_append(&ul, 300, "w1", "x", 1), -1);
	assert_int_equal(uidlist_append(&ul, 300, "W1  S2", "x", 1), -1);
	assert_int_equal(uidlist_append(&ul, 300, "W1 S2", "x", 1), 0);
	assert_int_equal(ul.next_uid, 301);
	assert_int_equal(uidlist_encode(&ul, &b), 0);
	assert_memory_equal(b.data, "3 V1700000000 N301\n2 :m2\n3 W10 :m3\n", 35);
	assert_memory_equal(b.data + b.len - 13, "300 W1 S2 :x\n", 13);
	buf_reset(&b);
	/* a list that is not valid is not written */
	ul.next_uid = 300;
	assert_int_equal(uidlist_encode(&ul, &b), -1);
	ul.next_uid = 301;
	ul.hdr_ext = "N5";    /* would read back as the next uid */
	assert_int_equal(uidlist_encode(&ul, &b), -1);
	ul.hdr_ext = NULL;
	ul.recs[0].uid = 5;   /* not ascending */
	assert_int_equal(uidlist_encode(&ul, &b), -1);
	ul.recs[0].uid = 2;
	buf_release(&b);
	uidlist_clear(&ul);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_files),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_lenient),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
