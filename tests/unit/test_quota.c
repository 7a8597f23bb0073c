/*
 * test_quota: src/mailbox/quota.c. The decision (a table: fits, over for
 * now, never fits; a mailbox exactly full is within its quota, as in
 * Dovecot), and the maildirsize file on a real Maildir: made by counting
 * new/ and cur/ of the INBOX and its folders (sizes from ",S=" or stat,
 * what is not a folder left out) and written as Dovecot writes it,
 * trusted while it may be (Dovecot's own file included), counted again
 * when it may not (5120 octets, a bad line, a negative sum, other limits,
 * an over-quota sum Dovecot would distrust, and before a delivery is
 * refused on what the file says), appended to after a
 * delivery or an expunge (the store's, of what it removed itself), and
 * left alone where there is none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailbox/quota.h"
#include "mailbox/store.h"

static char root[64];
static char box[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/tern-quota-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(box, sizeof(box), "%s/alice", root);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
mkdirs(const char *folder)
{
	static const char *const subs[] = { "", "/new", "/cur", "/tmp" };
	char path[256];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s%s", box, folder, subs[i]);
		assert_true(mkdir(path, 0700) == 0);
	}
}

/* A file of size octets at box/rel. */
static void
put(const char *rel, size_t size)
{
	char path[512], *data = calloc(1, size + 1);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", box, rel);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
	free(data);
}

static void
put_text(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", box, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* box/maildirsize, or "" when there is none. */
static const char *
sizefile(void)
{
	static char text[8192];
	char path[512];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/maildirsize", box);
	if ((f = fopen(path, "r")) == NULL)
		return "";
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static size_t
tmp_files(void)
{
	char path[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", box);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_check(void **state)
{
	static const struct {
		uint64_t bytes, messages;     /* limits */
		uint64_t ubytes, umessages;   /* usage */
		uint64_t size;
		enum quota_verdict want;
	} t[] = {
		{ 0, 0, 1u << 30, 1000000, 1u << 30, QUOTA_OK },     /* no quota */
		{ 1000, 0, 0, 0, 1000, QUOTA_OK },                   /* exactly full after */
		{ 1000, 0, 0, 0, 1001, QUOTA_NEVER },
		{ 1000, 0, 999, 5, 1001, QUOTA_NEVER },              /* never, whatever is used */
		{ 1000, 0, 500, 5, 500, QUOTA_OK },
		{ 1000, 0, 500, 5, 501, QUOTA_OVER_TEMP },
		{ 1000, 0, 1000, 5, 0, QUOTA_OK },                   /* full, an empty message */
		{ 1000, 0, 1000, 5, 1, QUOTA_OVER_TEMP },
		{ 1000, 0, 5000, 5, 1, QUOTA_OVER_TEMP },            /* already over */
		{ 1000, 0, UINT64_MAX, 5, 10, QUOTA_OVER_TEMP },     /* no overflow */
		{ 0, 3, 1u << 30, 2, 1u << 30, QUOTA_OK },           /* count only */
		{ 0, 3, 0, 3, 1, QUOTA_OVER_TEMP },
		{ 0, 3, 0, 9, 1, QUOTA_OVER_TEMP },
		{ 1000, 3, 100, 3, 10, QUOTA_OVER_TEMP },            /* the count is over */
		{ 1000, 3, 100, 2, 2000, QUOTA_NEVER },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct quota_limits l = { t[i].bytes, t[i].messages };
		struct quota_usage u = { .bytes = t[i].ubytes, .messages = t[i].umessages };
		enum quota_verdict v = quota_check(&l, &u, t[i].size);

		if (v != t[i].want)
			fail_msg("row %zu: %d, want %d", i, v, t[i].want);
	}
	assert_false(quota_limited(&(struct quota_limits){ 0, 0 }));
	assert_true(quota_limited(&(struct quota_limits){ 1, 0 }));
	assert_true(quota_limited(&(struct quota_limits){ 0, 1 }));
}

/* No Maildir, or no file: nothing is made where there is nothing. */
static void
test_missing(void **state)
{
	struct quota_limits l = { 1048576, 0 };
	struct quota_usage u = { 7, 7, true, true };

	(void)state;
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(u.bytes == 0 && u.messages == 0 && !u.recalculated);
	assert_int_equal(quota_add(box, 100, 1), 0);
	mkdirs("");
	/* A delivery without a maildirsize leaves it missing (no quota). */
	assert_int_equal(quota_add(box, 100, 1), 0);
	assert_string_equal(sizefile(), "");
	assert_int_equal(quota_expunged(box, 100, 1), 0);
	assert_string_equal(sizefile(), "");
	/* An empty Maildir with a quota: made as Dovecot makes it. */
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(u.recalculated && u.bytes == 0 && u.messages == 0);
	assert_string_equal(sizefile(), "1048576S\n0 0\n");
	assert_int_equal(tmp_files(), 0);
}

/* The count: sizes from ",S=" (Dovecot's and ours) or stat, every folder. */
static void
test_recalculate(void **state)
{
	struct quota_limits l = { 1048576, 10 };
	struct quota_usage u;

	(void)state;
	mkdirs("");
	mkdirs("/.Sent");
	mkdirs("/.Trash");
	put("new/1796098780.M560313P11541.vm,S=100,W=106", 1);       /* S= wins */
	put("cur/1796098781.M1P2Q3.mx,S=62:2,S", 3);
	put("cur/1796098782.M1P2.mx:2,", 44);                         /* stat */
	put("cur/1796098783.M1P2.mx,S=x1:2,", 7);                     /* bad S=: stat */
	put(".Sent/cur/1796098784.M1P2.mx,S=1000:2,S", 0);
	put(".Trash/new/1796098785.M1P2.mx", 5);
	put("tmp/1796098786.M1P2.mx", 999);                           /* not yet mail */
	put("dovecot-uidlist", 999);
	put(".notafolder", 999);                                      /* a file */
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(u.recalculated);
	assert_true(u.bytes == 100 + 62 + 44 + 7 + 1000 + 5);
	assert_true(u.messages == 6);
	assert_string_equal(sizefile(), "1048576S,10C\n1218 6\n");
	assert_int_equal(tmp_files(), 1);   /* ours is renamed away, the mail stays */
	/* Trusted now: a file added behind its back is not seen. */
	put("new/1796098787.M1P2.mx,S=50", 50);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(!u.recalculated && u.bytes == 1218 && u.messages == 6);
	/* ... until its delivery is added, as delivery does. */
	assert_int_equal(quota_add(box, 50, 1), 0);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(!u.recalculated && u.bytes == 1268 && u.messages == 7);
	assert_string_equal(sizefile(), "1048576S,10C\n1218 6\n50 1\n");
	/* An expunge in a folder counts off the root's file. */
	assert_int_equal(quota_expunged(".Sent", 0, 0), 0);
	{
		char sent[256];

		snprintf(sent, sizeof(sent), "%s/.Sent", box);
		assert_int_equal(quota_expunged(sent, 1000, 1), 0);
	}
	assert_int_equal(quota_expunged(box, 50, 1), 0);
	assert_string_equal(sizefile(), "1048576S,10C\n1218 6\n50 1\n-1000 -1\n-50 -1\n");
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(!u.recalculated && u.bytes == 218 && u.messages == 5);
	/* No change, no line. */
	assert_int_equal(quota_add(box, 0, 0), 0);
	assert_string_equal(sizefile(), "1048576S,10C\n1218 6\n50 1\n-1000 -1\n-50 -1\n");
}

/* What is trusted and what is counted again. */
static void
test_trust(void **state)
{
	static const struct {
		const char *file;
		uint64_t bytes, messages;   /* limits */
		bool recalc;
		uint64_t ubytes, umessages; /* usage when trusted */
	} t[] = {
		/* Dovecot 2.3.19's file after deliveries and an expunge
		 * (proto/maildirsize's vectors) */
		{ "1048576S\n0 0\n100 1\n100 1\n100 1\n100 1\n-100 -1\n62 1\n44 1\n",
		  1048576, 0, false, 406, 5 },
		{ "1048576S\n406 5\n", 1048576, 0, false, 406, 5 },
		{ "10C\n406 5\n", 0, 10, false, 406, 5 },
		/* other limits: written again with ours */
		{ "2097152S\n406 5\n", 1048576, 0, true, 0, 0 },
		{ "1048576S\n406 5\n", 1048576, 10, true, 0, 0 },
		{ "junkS\n406 5\n", 1048576, 0, true, 0, 0 },
		/* what proto/maildirsize says must be counted again */
		{ "1048576S\n406 5\nabc\n", 1048576, 0, true, 0, 0 },
		{ "1048576S\n406 5\n-500 -1\n", 1048576, 0, true, 0, 0 },
		{ "1048576S\n", 1048576, 0, true, 0, 0 },
		{ "", 1048576, 0, true, 0, 0 },
		/* over a limit: believed from a fresh one-line file only */
		{ "100S\n406 5\n", 100, 0, false, 406, 5 },
		{ "100S\n400 4\n6 1\n", 100, 0, true, 0, 0 },
		{ "3C\n406 5\n", 0, 3, false, 406, 5 },
		{ "3C\n0 0\n406 5\n", 0, 3, true, 0, 0 },
	};
	struct quota_usage u;
	size_t i;

	(void)state;
	mkdirs("");
	put("cur/1796098782.M1P2.mx,S=10:2,", 10);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct quota_limits l = { t[i].bytes, t[i].messages };

		put_text("maildirsize", t[i].file);
		assert_int_equal(quota_usage(box, &l, &u), 0);
		if (u.recalculated != t[i].recalc)
			fail_msg("row %zu: recalculated %d", i, u.recalculated);
		if (t[i].recalc) {
			char want[64];

			assert_true(u.bytes == 10 && u.messages == 1);
			if (t[i].messages == 0)
				snprintf(want, sizeof(want), "%lluS\n10 1\n",
				    (unsigned long long)t[i].bytes);
			else if (t[i].bytes == 0)
				snprintf(want, sizeof(want), "%lluC\n10 1\n",
				    (unsigned long long)t[i].messages);
			else
				snprintf(want, sizeof(want), "%lluS,%lluC\n10 1\n",
				    (unsigned long long)t[i].bytes, (unsigned long long)t[i].messages);
			if (strcmp(sizefile(), want) != 0)
				fail_msg("row %zu: wrote \"%s\"", i, sizefile());
		} else if (u.bytes != t[i].ubytes || u.messages != t[i].umessages)
			fail_msg("row %zu: %llu %llu", i, (unsigned long long)u.bytes,
			    (unsigned long long)u.messages);
	}
}

/* An over-quota sum in a one-line file older than 15 minutes, and a file
 * of 5120 octets: counted again. */
static void
test_stale_and_long(void **state)
{
	struct quota_limits l = { 100, 0 };
	struct quota_usage u;
	struct timespec old[2] = { { time(NULL) - 16 * 60, 0 }, { time(NULL) - 16 * 60, 0 } };
	char path[256], *big;
	size_t n;

	(void)state;
	mkdirs("");
	put("new/1.M1P2.mx,S=10", 10);
	put_text("maildirsize", "100S\n406 5\n");
	snprintf(path, sizeof(path), "%s/maildirsize", box);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(u.recalculated && u.bytes == 10 && u.messages == 1);
	assert_string_equal(sizefile(), "100S\n10 1\n");

	/* 5119 octets are read; 5120 are counted again (Dovecot's limit):
	 * the header, 1276 lines "0 0", and a last line to make up the rest. */
	big = malloc(8192);
	l.bytes = 1048576;
	strcpy(big, "1048576S\n");
	for (n = 0; n < 1276; n++)
		strcat(big, "0 0\n");
	strcpy(big + strlen(big), "000 0\n");
	assert_int_equal(strlen(big), 5119);
	put_text("maildirsize", big);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_false(u.recalculated);
	strcpy(big + strlen(big) - 6, "0000 0\n");
	assert_int_equal(strlen(big), 5120);
	put_text("maildirsize", big);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_true(u.recalculated && u.bytes == 10 && u.messages == 1);
	assert_string_equal(sizefile(), "1048576S\n10 1\n");
	free(big);
}

/* A delivery's check: a "no" from the file is asked again of a count. */
static void
test_check_maildir(void **state)
{
	struct quota_limits l = { 1000, 0 };
	struct quota_usage u;
	enum quota_verdict v = QUOTA_NEVER;

	(void)state;
	assert_int_equal(quota_check_maildir(box, &l, 500, &u, &v), 0);   /* no Maildir */
	assert_int_equal(v, QUOTA_OK);
	mkdirs("");
	put("cur/1.M1P2.mx,S=10:2,", 10);
	/* The file says 900 (an expunge's line lost): 200 more fit after all. */
	put_text("maildirsize", "1000S\n100 1\n800 1\n");
	assert_int_equal(quota_check_maildir(box, &l, 200, &u, &v), 0);
	assert_int_equal(v, QUOTA_OK);
	assert_true(u.recalculated && u.bytes == 10);
	assert_string_equal(sizefile(), "1000S\n10 1\n");
	/* Fits by the file: no count. */
	assert_int_equal(quota_check_maildir(box, &l, 990, &u, &v), 0);
	assert_true(v == QUOTA_OK && !u.recalculated);
	/* Really over: still over after the count. */
	put("cur/2.M1P2.mx,S=900:2,", 900);
	assert_int_equal(quota_add(box, 900, 1), 0);
	assert_int_equal(quota_check_maildir(box, &l, 100, &u, &v), 0);
	assert_true(v == QUOTA_OVER_TEMP && u.recalculated && u.bytes == 910);
	/* The file is that count now: the next "no" believes it ... */
	assert_string_equal(sizefile(), "1000S\n910 2\n");
	put("cur/3.M1P2.mx,S=1:2,", 1);   /* unseen: no count */
	assert_int_equal(quota_check_maildir(box, &l, 100, &u, &v), 0);
	assert_true(v == QUOTA_OVER_TEMP && !u.recalculated && u.fresh && u.bytes == 910);
	/* ... for 15 minutes. */
	{
		struct timespec old[2] = { { time(NULL) - 16 * 60, 0 }, { time(NULL) - 16 * 60, 0 } };
		char path[256];

		snprintf(path, sizeof(path), "%s/maildirsize", box);
		assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	}
	assert_int_equal(quota_check_maildir(box, &l, 100, &u, &v), 0);
	assert_true(v == QUOTA_OVER_TEMP && u.recalculated && u.bytes == 911);
	/* Never: no count needed to say so. */
	assert_int_equal(quota_check_maildir(box, &l, 1001, &u, &v), 0);
	assert_true(v == QUOTA_NEVER && !u.recalculated);
}

/* The store's expunge counts off what it removed, and only that. */
static void
test_store_expunge(void **state)
{
	const struct mbox_conf conf = { .hostname = "mx", .lock_timeout = 5 };
	struct quota_limits l = { 1048576, 0 };
	struct quota_usage u;
	struct mbox mb = { 0 };
	size_t del[3], i;
	char path[512];

	(void)state;
	mkdirs("");
	put("new/1796098780.M1P2.mx,S=100", 100);
	put("new/1796098781.M1P2.mx,S=62", 62);
	put("new/1796098782.M1P2.mx", 44);
	assert_int_equal(quota_usage(box, &l, &u), 0);
	assert_string_equal(sizefile(), "1048576S\n206 3\n");
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 3);
	/* The second goes behind our back (another server expunged it and
	 * counted it off itself) before we remove all three. */
	for (i = 0; i < mb.n; i++) {
		del[i] = i;
		if (strncmp(mb.msgs[i].name, "1796098781.", 11) == 0) {
			snprintf(path, sizeof(path), "%s/cur/%s", box, mb.msgs[i].name);
			assert_int_equal(unlink(path), 0);
		}
	}
	assert_int_equal(mbox_expunge(&mb, del, 3, NULL, 0, 0, &conf), MBOX_OK);
	assert_string_equal(sizefile(), "1048576S\n206 3\n-144 -2\n");
	mbox_free(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recalculate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_maildir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_expunge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
