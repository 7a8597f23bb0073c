/*
 * test_store_index: the folder index of the store (mailbox/store_index.c,
 * store.c, store_msg.c, store_keywords.c, store_cache.c) on real Maildirs
 * in /tmp. The clock's tick is simulated by moving mtimes: a folder whose
 * new/, cur/ and dovecot-uidlist were last changed ten seconds ago is one
 * a sync may trust.
 *
 * - a sync that finds nothing changed lists nothing (mb->fast), warm or
 *   from the index file (cold), with the same UIDs and MODSEQs;
 * - a change in the same clock tick as the stat that recorded the folder
 *   (the mtime stays) is still found: that stat is not trusted;
 * - a flag renamed by someone else gets a MODSEQ above all before;
 *   mbox_store gives one to what it changes, not again at the next sync;
 *   UNCHANGEDSINCE leaves a newer message (or one someone else changed)
 *   alone; an expunged one is reported gone; STORE and EXPUNGE append to
 *   the index's log (not a new index), which a new session reads and the
 *   next full sync folds in;
 * - keywords: made in dovecot-keywords, found without case, 26 at most;
 * - expunges go into vanished[] at a new MODSEQ, in ranges that hold no
 *   UID still there; a lost or torn index is rebuilt above every MODSEQ
 *   handed out, and so is one written before a reboot (its last writes
 *   may be lost); the vanished list keeps 10,000 ranges at most;
 * - APPEND and COPY are seen by the next sync of a trusted folder, with
 *   their keywords by name in the other folder's letters;
 * - a read-only sync moves nothing and leaves the index asking for a
 *   listing; \Recent goes to the sync that moves a message;
 * - tern-cache: put, flushed, read by another session, checked against
 *   the message's base, torn and foreign files survived, compacted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "mailbox/store.h"
#include "maildir_fixture.h"
#include "mailbox/store_int.h"
#include "proto/maildir_name.h"
#include "proto/tern_index.h"

static char root[64], box[128];
static const struct mbox_conf conf = { .hostname = "test.example", .lock_timeout = 2 };

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/tern-storeix-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(box, sizeof(box), "%s/box", root);
	fixture_mkfolder(box);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return fixture_remove(root);
}

static void
set_mtime(const char *dir, const char *name, const struct timespec *when)
{
	char path[256];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, *when };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* As if nothing had touched the folder for ten seconds. */
static void
backdate(const char *dir)
{
	struct timespec then = { time(NULL) - 10, 0 };

	set_mtime(dir, "new", &then);
	set_mtime(dir, "cur", &then);
	set_mtime(dir, UIDLIST, &then);
}

static struct timespec
mtime_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim;
}

/* Renames message i's file in cur/ to carry flag letters (someone else's
 * change, as Dovecot or a shell would make it). */
static void
outside_rename(const struct mbox *mb, size_t i, const char *flags)
{
	char from[1400], to[1400];

	snprintf(from, sizeof(from), "%s/cur/%s", mb->dir, mb->msgs[i].name);
	snprintf(to, sizeof(to), "%s/cur/%.*s:2,%s", mb->dir, (int)mb->msgs[i].base_len,
	    mb->msgs[i].name, flags);
	assert_int_equal(rename(from, to), 0);
}

static size_t
at_uid(const struct mbox *mb, uint32_t uid)
{
	size_t i;

	for (i = 0; i < mb->n; i++) {
		if (mb->msgs[i].uid == uid)
			return i;
	}
	fail_msg("uid %u not found", uid);
	return 0;
}

static void
five(void)
{
	fixture_put(box, "new", "1700000001.M1P1.a", "Subject: 1\r\n\r\nx\r\n");
	fixture_put(box, "new", "1700000002.M2P1.a", "Subject: 2\r\n\r\nxx\r\n");
	fixture_put(box, "new", "1700000003.M3P1.a", "Subject: 3\r\n\r\nxxx\r\n");
	fixture_put(box, "new", "1700000004.M4P1.a", "Subject: 4\r\n\r\nxxxx\r\n");
	fixture_put(box, "new", "1700000005.M5P1.a", "Subject: 5\r\n\r\nxxxxx\r\n");
}

/* A folder of five messages a sync may trust, synced into mb. */
static void
trusted_five(struct mbox *mb)
{
	five();
	assert_int_equal(mbox_sync(mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb->n, 5);
	backdate(box);
	assert_int_equal(mbox_sync(mb, box, false, &conf), MBOX_OK);
	assert_false(mb->fast);      /* the stats moved: looked again, now trusted */
}

static void
test_fast_and_the_tick(void **state)
{
	struct mbox mb = { 0 }, cold = { 0 };
	struct timespec m;
	uint64_t hms, ms;
	size_t i;

	(void)state;
	trusted_five(&mb);
	hms = mb.highestmodseq;
	assert_true(hms > 1000000000000000ull);   /* a floor from the clock */
	for (i = 0; i < 5; i++) {
		assert_int_equal(mb.msgs[i].uid, i + 1);
		assert_true(mb.msgs[i].modseq == hms);
		assert_false(mb.msgs[i].recent);
	}
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_true(mb.fast);
	/* cold: a new session reads the index, not the folder */
	assert_int_equal(mbox_sync(&cold, box, false, &conf), MBOX_OK);
	assert_true(cold.fast);
	assert_int_equal(cold.n, 5);
	assert_int_equal(cold.uidvalidity, mb.uidvalidity);
	assert_int_equal(cold.uidnext, 6);
	assert_true(cold.highestmodseq == hms);
	for (i = 0; i < 5; i++) {
		assert_string_equal(cold.msgs[i].name, mb.msgs[i].name);
		assert_true(cold.msgs[i].modseq == mb.msgs[i].modseq);
		assert_true(cold.msgs[i].internal_date == mb.msgs[i].internal_date);
		assert_true(cold.msgs[i].size == mb.msgs[i].size);
		assert_true(cold.msgs[i].vsize == mb.msgs[i].vsize);
	}

	/* Someone else flags message 1: seen, with a MODSEQ above all. */
	outside_rename(&mb, 0, "S");
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.fast);
	assert_true(mb.msgs[0].modseq > hms);
	assert_int_equal(mb.msgs[0].flags, MAILDIR_FLAG_SEEN);
	assert_true(mb.msgs[1].modseq == hms);
	assert_true(mb.highestmodseq == mb.msgs[0].modseq);
	ms = mb.highestmodseq;
	/* That sync saw cur/ within a tick of its change. Another change in
	 * the same tick keeps the mtime (simulated: put back): found all the
	 * same, because a stat that close to the mtime is not trusted. */
	m = mtime_of(box, "cur");
	outside_rename(&mb, 1, "F");
	set_mtime(box, "cur", &m);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.fast);
	assert_int_equal(mb.msgs[1].flags, MAILDIR_FLAG_FLAGGED);
	assert_true(mb.msgs[1].modseq > ms);
	/* the cold session, too */
	assert_int_equal(mbox_sync(&cold, box, false, &conf), MBOX_OK);
	assert_int_equal(cold.msgs[1].flags, MAILDIR_FLAG_FLAGGED);
	assert_true(cold.msgs[1].modseq == mb.msgs[1].modseq);
	assert_true(cold.msgs[0].modseq == mb.msgs[0].modseq);
	mbox_free(&mb);
	mbox_free(&cold);
}

static void
test_store_modseq(void **state)
{
	struct mbox mb = { 0 }, other = { 0 };
	struct mbox_flag_change seen = { .add = MAILDIR_FLAG_SEEN };
	size_t idx[3];
	bool modified[3], gone[3];
	uint64_t hms, ms2;
	char path[512];

	(void)state;
	trusted_five(&mb);
	hms = mb.highestmodseq;
	idx[0] = 0;
	idx[1] = 1;
	assert_int_equal(mbox_store(&mb, idx, 2, &seen, 0, modified, gone), MBOX_OK);
	assert_false(modified[0] || modified[1] || gone[0] || gone[1]);
	assert_true(mb.msgs[0].modseq == hms + 1 && mb.msgs[1].modseq == hms + 2);
	assert_true(mb.highestmodseq == hms + 2);
	assert_string_equal(mb.msgs[0].name, "1700000001.M1P1.a:2,S");
	/* Storing what is there already changes nothing, no MODSEQ. */
	assert_int_equal(mbox_store(&mb, idx, 1, &seen, 0, modified, gone), MBOX_OK);
	assert_true(mb.msgs[0].modseq == hms + 1 && mb.highestmodseq == hms + 2);
	/* The next sync lists cur/ (it changed) and finds what the index
	 * says: no new MODSEQs. Another session agrees. */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.fast);
	assert_true(mb.msgs[0].modseq == hms + 1 && mb.highestmodseq == hms + 2);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_true(other.msgs[1].modseq == hms + 2 && other.highestmodseq == hms + 2);

	/* The other session stores on message 3; ours, not synced since,
	 * stores on it with UNCHANGEDSINCE from before: modified, left. */
	idx[0] = 2;
	assert_int_equal(mbox_store(&other, idx, 1, &seen, 0, NULL, NULL), MBOX_OK);
	assert_true(other.msgs[2].modseq == hms + 3);
	{
		struct mbox_flag_change flag = { .add = MAILDIR_FLAG_FLAGGED };

		assert_int_equal(mbox_store(&mb, idx, 1, &flag, hms, modified, gone), MBOX_OK);
		assert_true(modified[0]);
		assert_int_equal(mb.msgs[2].flags, 0);
		/* with a MODSEQ at or above it, it is changed, above the other's */
		assert_int_equal(mbox_store(&mb, idx, 1, &flag, hms + 3, modified, gone), MBOX_OK);
		assert_false(modified[0]);
		assert_int_equal(mb.msgs[2].flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED);
		assert_true(mb.msgs[2].modseq == hms + 4);
		ms2 = hms + 4;
		/* someone else renames message 4: its change is newer than any
		 * MODSEQ the client knows, so UNCHANGEDSINCE leaves it */
		outside_rename(&mb, 3, "R");
		idx[0] = 3;
		assert_int_equal(mbox_store(&mb, idx, 1, &flag, ms2, modified, gone), MBOX_OK);
		assert_true(modified[0]);
		assert_string_equal(mb.msgs[3].name, "1700000004.M4P1.a:2,R");
		/* and an expunged one is gone */
		snprintf(path, sizeof(path), "%s/cur/%s", box, mb.msgs[4].name);
		assert_int_equal(unlink(path), 0);
		idx[0] = 4;
		assert_int_equal(mbox_store(&mb, idx, 1, &flag, 0, modified, gone), MBOX_OK);
		assert_true(gone[0]);
		assert_false(modified[0]);
	}
	/* replace: exactly these, keywords too */
	{
		struct mbox_flag_change rep = { .replace = true, .add = MAILDIR_FLAG_DRAFT,
			.kw_add = 1u << 2 };

		idx[0] = 0;
		assert_int_equal(mbox_store(&mb, idx, 1, &rep, 0, modified, gone), MBOX_OK);
		assert_string_equal(mb.msgs[0].name, "1700000001.M1P1.a:2,Dc");
		assert_int_equal(mb.msgs[0].keywords, 1u << 2);
	}
	mbox_free(&mb);
	mbox_free(&other);
}

static void
test_store_log(void **state)
{
	struct mbox mb = { 0 }, cold = { 0 };
	struct mbox_flag_change seen = { .add = MAILDIR_FLAG_SEEN };
	char ix[256], lg[256];
	struct stat a, b;
	size_t idx[1] = { 2 };
	uint64_t hms;
	int i;

	(void)state;
	trusted_five(&mb);
	hms = mb.highestmodseq;
	snprintf(ix, sizeof(ix), "%s/tern-index", box);
	snprintf(lg, sizeof(lg), "%s/tern-index.log", box);
	assert_int_equal(stat(ix, &a), 0);
	assert_int_equal(access(lg, F_OK), -1);
	/* STOREs one message at a time (IMAP's implicit \Seen): the index is
	 * not written again, its log has each change */
	for (i = 0; i < 5; i++) {
		idx[0] = (size_t)i;
		assert_int_equal(mbox_store(&mb, idx, 1, &seen, 0, NULL, NULL), MBOX_OK);
	}
	assert_int_equal(stat(ix, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_size == b.st_size);
	assert_int_equal(access(lg, F_OK), 0);
	assert_true(mb.highestmodseq == hms + 5);
	/* a new session reads both */
	assert_int_equal(mbox_sync(&cold, box, true, &conf), MBOX_OK);
	assert_true(cold.highestmodseq == hms + 5);
	for (i = 0; i < 5; i++) {
		assert_true(cold.msgs[i].modseq == hms + 1 + (uint64_t)i);
		assert_int_equal(cold.msgs[i].flags, MAILDIR_FLAG_SEEN);
		assert_string_equal(cold.msgs[i].name, mb.msgs[i].name);
	}
	/* and an expunge goes into the log too */
	idx[0] = 4;
	assert_int_equal(mbox_expunge(&mb, idx, 1, NULL, 0, 0, &conf), MBOX_OK);
	mbox_free(&cold);
	assert_int_equal(mbox_sync(&cold, box, true, &conf), MBOX_OK);
	assert_int_equal(cold.n, 4);
	assert_int_equal(cold.nvanished, 1);
	assert_true(cold.vanished[0].modseq == hms + 6 && cold.highestmodseq == hms + 6);
	/* the next full sync folds the log into a new index, and nothing
	 * gets a MODSEQ twice */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.fast);
	assert_int_equal(access(lg, F_OK), -1);
	assert_true(mb.highestmodseq == hms + 6);
	assert_int_equal(mb.n, 4);
	assert_true(mb.msgs[3].modseq == hms + 4);
	/* a log left by a crash between a new index and its unlink belongs
	 * to the old index: nothing to the new one */
	{
		FILE *f;

		assert_non_null(f = fopen(lg, "w"));
		fputs("tern-index-log 1 G0000000000000001\nx 1 3 99999999999999999\n", f);
		fclose(f);
	}
	mbox_free(&cold);
	assert_int_equal(mbox_sync(&cold, box, true, &conf), MBOX_OK);
	assert_int_equal(cold.n, 4);
	assert_true(cold.highestmodseq == hms + 6);
	mbox_free(&mb);
	mbox_free(&cold);
}

static void
test_keywords(void **state)
{
	struct mbox mb = { 0 }, other = { 0 };
	char path[256], data[512], name[16];
	struct mbox_flag_change ch = { 0 };
	size_t idx[1] = { 1 };
	int fd, i;
	ssize_t n;

	(void)state;
	trusted_five(&mb);
	assert_int_equal(mbox_keyword(&mb, "$Forwarded", 10, false), -1);
	assert_int_equal(mbox_keyword(&mb, "$Forwarded", 10, true), 0);
	assert_int_equal(mbox_keyword(&mb, "$forwarded", 10, false), 0);
	assert_int_equal(mbox_keyword(&mb, "NonJunk", 7, true), 1);
	assert_int_equal(mbox_keyword(&mb, "\\Seen", 5, true), -1);
	assert_int_equal(mbox_keyword(&mb, "a b", 3, true), -1);
	assert_string_equal(mb.keywords[0], "$Forwarded");
	snprintf(path, sizeof(path), "%s/dovecot-keywords", box);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	assert_true(n > 0);
	data[n] = '\0';
	assert_string_equal(data, "0 $Forwarded\n1 NonJunk\n");
	/* a second session sees them, and STORE puts the letters on */
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_string_equal(other.keywords[1], "NonJunk");
	ch.kw_add = 1u << 1;
	assert_int_equal(mbox_store(&other, idx, 1, &ch, 0, NULL, NULL), MBOX_OK);
	assert_string_equal(other.msgs[1].name, "1700000002.M2P1.a:2,b");
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.msgs[1].keywords, 1u << 1);
	/* a letter on a file but without a name is not given to a new one */
	outside_rename(&mb, 2, "d");
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.msgs[2].keywords, 1u << 3);
	assert_int_equal(mbox_keyword(&mb, "kw2", 3, true), 2);
	assert_int_equal(mbox_keyword(&mb, "kw4", 3, true), 4);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	/* 26 letters: the 27th name has none */
	for (i = 5; i < MBOX_KEYWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "kw%d", i);
		assert_int_equal(mbox_keyword(&other, name, strlen(name), true), i);
	}
	assert_int_equal(mbox_keyword(&other, "one-more", 8, true), -1);
	assert_int_equal(mbox_keyword(&mb, "kw25", 4, false), 25);
	mbox_free(&mb);
	mbox_free(&other);
}

static void
test_expunge_and_rebuild(void **state)
{
	struct mbox mb = { 0 };
	size_t del[3];
	uint64_t hms, ms;
	char path[512];
	FILE *f;

	(void)state;
	trusted_five(&mb);
	fixture_put(box, "new", "1700000006.M6P1.a", "Subject: 6\r\n\r\nx\r\n");
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 6);
	assert_true(mb.msgs[5].recent);
	assert_true(mb.msgs[5].modseq > mb.msgs[4].modseq);
	hms = mb.highestmodseq;
	/* 2 and 3 are neighbours: one range; 5 another (4 is still there) */
	del[0] = 1;
	del[1] = 2;
	del[2] = 4;
	assert_int_equal(mbox_expunge(&mb, del, 3, NULL, 0, 0, &conf), MBOX_OK);
	ms = mb.highestmodseq;
	assert_true(ms == hms + 1);
	assert_int_equal(mb.nvanished, 2);
	assert_int_equal(mb.vanished[0].lo, 2);
	assert_int_equal(mb.vanished[0].hi, 3);
	assert_true(mb.vanished[0].modseq == ms);
	assert_int_equal(mb.vanished[1].lo, 5);
	assert_int_equal(mb.vanished[1].hi, 5);
	assert_int_equal(mb.n, 6);   /* until the next sync */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 3);
	assert_true(mb.highestmodseq == ms);   /* recorded once, not again */
	assert_int_equal(mb.nvanished, 2);
	/* an unlink by someone else: vanished at the next sync, one range
	 * from 6 back to... 4 is there: just 6 */
	snprintf(path, sizeof(path), "%s/cur/%s", box, mb.msgs[at_uid(&mb, 6)].name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 2);
	assert_true(mb.highestmodseq == ms + 1);
	assert_int_equal(mb.nvanished, 3);
	assert_int_equal(mb.vanished[2].lo, 6);
	assert_true(mb.vanished[2].modseq == ms + 1);

	/* The index lost: rebuilt above every MODSEQ handed out, all at the
	 * floor, and what was expunged before it is below the floor. */
	hms = mb.highestmodseq;
	snprintf(path, sizeof(path), "%s/tern-index", box);
	assert_int_equal(unlink(path), 0);
	{
		struct mbox cold = { 0 };

		assert_int_equal(mbox_sync(&cold, box, false, &conf), MBOX_OK);
		assert_true(cold.highestmodseq > hms);
		assert_true(cold.vanished_floor == cold.highestmodseq);
		assert_int_equal(cold.nvanished, 0);
		assert_true(cold.msgs[0].modseq == cold.highestmodseq);
		hms = cold.highestmodseq;
		mbox_free(&cold);
	}
	/* torn (a power cut: the rename kept, half the data lost) */
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_true(mb.highestmodseq > hms);
	hms = mb.highestmodseq;
	/* another program's file */
	assert_non_null(f = fopen(path, "w"));
	fputs("3 V1 N1\n", f);
	fclose(f);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_true(mb.highestmodseq > hms);
	/* the log of what was done since the index lost: the index is then
	 * behind what this session handed out, and not used */
	{
		struct mbox cold = { 0 };

		hms = mb.highestmodseq;
		del[0] = 0;
		assert_int_equal(mbox_expunge(&mb, del, 1, NULL, 0, 0, &conf), MBOX_OK);
		assert_true(mb.highestmodseq == hms + 1);
		snprintf(path, sizeof(path), "%s/tern-index.log", box);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
		assert_true(mb.highestmodseq > hms + 1);
		assert_int_equal(mb.n, 1);
		assert_int_equal(mbox_sync(&cold, box, false, &conf), MBOX_OK);
		assert_true(cold.highestmodseq == mb.highestmodseq);
		mbox_free(&cold);
	}
	mbox_free(&mb);
}

/* The folder's index as if written before a reboot (another boot id). */
static void
index_from_another_boot(void)
{
	const struct tern_index_limits lim = TERN_INDEX_LIMITS_DEFAULT;
	struct tern_index ix;
	struct buf in = BUF_INIT, out = BUF_INIT;
	char path[256];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/tern-index", box);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(buf_reserve(&in, 1 << 16), 0);
	in.len = (size_t)read(fd, in.data, 1 << 16);
	close(fd);
	assert_int_equal(tern_index_parse(in.data, in.len, &lim, &ix), TERN_INDEX_OK);
	assert_string_equal(ix.boot, store_boot_id());
	memcpy(ix.boot, "00000000000000000000000000000001", sizeof(ix.boot));
	assert_int_equal(tern_index_encode(&ix, &out), 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(out.data, 1, out.len, f), out.len);
	fclose(f);
	tern_index_clear(&ix);
	buf_release(&in);
	buf_release(&out);
}

static void
test_reboot(void **state)
{
	struct mbox mb = { 0 }, cold = { 0 };
	size_t del[1] = { 4 };
	uint64_t hms;
	int64_t date;

	(void)state;
	assert_int_equal(strlen(store_boot_id()), TERN_INDEX_BOOT_LEN);
	trusted_five(&mb);
	assert_int_equal(mbox_expunge(&mb, del, 1, NULL, 0, 0, &conf), MBOX_OK);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	backdate(box);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_true(mb.fast);
	hms = mb.highestmodseq;
	date = mb.msgs[0].internal_date;
	assert_int_equal(mb.nvanished, 1);
	/* Written before a crash, its last writes maybe lost (no fsync): its
	 * MODSEQs are not trusted even though the folder is as it says. The
	 * messages keep what the index knew of them. */
	index_from_another_boot();
	assert_int_equal(mbox_sync(&cold, box, false, &conf), MBOX_OK);
	assert_false(cold.fast);
	assert_int_equal(cold.n, 4);
	assert_true(cold.highestmodseq > hms);
	assert_true(cold.vanished_floor == cold.highestmodseq);
	assert_int_equal(cold.nvanished, 0);
	assert_true(cold.msgs[3].modseq == cold.highestmodseq);
	assert_true(cold.msgs[0].internal_date == date);
	/* and the index is this boot's now */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_true(mb.highestmodseq == cold.highestmodseq);
	mbox_free(&mb);
	mbox_free(&cold);
}

static void
test_vanished_bounded(void **state)
{
	struct mbox_vanished *v = NULL, add[3];
	size_t n = 0, i;
	uint64_t floor = 5;

	(void)state;
	/* overlapping ranges become one at the later MODSEQ; touching ones
	 * of one MODSEQ too */
	add[0] = (struct mbox_vanished){ 10, 20, 7 };
	assert_int_equal(store_vanished_add(&v, &n, &floor, add, 1), 0);
	add[0] = (struct mbox_vanished){ 1, 3, 8 };
	add[1] = (struct mbox_vanished){ 15, 25, 8 };
	add[2] = (struct mbox_vanished){ 26, 30, 8 };
	assert_int_equal(store_vanished_add(&v, &n, &floor, add, 3), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].lo, 1);
	assert_int_equal(v[0].hi, 3);
	assert_int_equal(v[1].lo, 10);
	assert_int_equal(v[1].hi, 30);
	assert_true(v[1].modseq == 8);
	free(v);
	v = NULL;
	n = 0;
	/* 10,001 ranges: the oldest go under the floor */
	for (i = 0; i <= MBOX_VANISHED_MAX; i++) {
		add[0] = (struct mbox_vanished){ (uint32_t)(2 * i + 1), (uint32_t)(2 * i + 1),
			100 + i };
		assert_int_equal(store_vanished_add(&v, &n, &floor, add, 1), 0);
		assert_true(n <= MBOX_VANISHED_MAX);
	}
	assert_true(floor > 100);
	for (i = 0; i < n; i++) {
		assert_true(v[i].modseq > floor);
		assert_true(i == 0 || v[i].lo > v[i - 1].hi);
	}
	assert_true(v[n - 1].modseq == 100 + MBOX_VANISHED_MAX);
	free(v);
}

static void
test_append_copy_read_only(void **state)
{
	struct mbox mb = { 0 }, arch = { 0 }, ro = { 0 };
	const char msg[] = "Subject: appended\r\n\r\nbody\r\n";
	char adir[160], path[256];
	uint32_t uidv, uid;
	uint64_t hms;
	int fd;

	(void)state;
	trusted_five(&mb);
	snprintf(adir, sizeof(adir), "%s/.Archive", box);
	fixture_mkfolder(adir);
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	backdate(adir);
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	assert_true(arch.fast);
	hms = mb.highestmodseq;
	snprintf(path, sizeof(path), "%s/src", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, sizeof(msg) - 1), (ssize_t)(sizeof(msg) - 1));
	assert_int_equal(mbox_append(box, fd, sizeof(msg) - 1, MAILDIR_FLAG_SEEN, 1600000000, &conf,
	    &uidv, &uid), MBOX_OK);
	close(fd);
	assert_int_equal(uid, 6);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.fast);
	assert_int_equal(mb.n, 6);
	assert_int_equal(mb.msgs[5].uid, 6);
	assert_true(mb.msgs[5].modseq > hms);
	assert_int_equal(mb.msgs[5].internal_date, 1600000000);
	assert_false(mb.msgs[5].recent);   /* APPEND puts it in cur/ */
	/* COPY takes keywords by name: the other folder has its own letters */
	{
		struct mbox_flag_change kw = { 0 };
		size_t one[1] = { 0 };
		int a = mbox_keyword(&mb, "first", 5, true), b = mbox_keyword(&mb, "$Keep", 5, true);

		assert_int_equal(a, 0);
		assert_int_equal(b, 1);
		kw.kw_add = 1u << b;
		assert_int_equal(mbox_store(&mb, one, 1, &kw, 0, NULL, NULL), MBOX_OK);
		assert_int_equal(mbox_keyword(&arch, "other", 5, true), 0);
	}
	assert_int_equal(mbox_copy(&mb, 0, adir, &conf, &uidv, &uid), MBOX_OK);
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	assert_false(arch.fast);
	assert_int_equal(arch.n, 1);
	assert_int_equal(arch.msgs[0].uid, uid);
	assert_string_equal(arch.keywords[1], "$Keep");
	assert_int_equal(arch.msgs[0].keywords, 1u << 1);
	/* APPEND with keywords: found or added there, \Recent and junk left out */
	{
		const struct mbox_kw kws[] = { { "$keep", 5 }, { "$Work", 5 }, { "\\Recent", 7 },
			{ "a b", 3 } };

		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(mbox_append_kw(adir, fd, sizeof(msg) - 1, MAILDIR_FLAG_FLAGGED, kws,
		    4, 1600000000, &conf, &uidv, &uid), MBOX_OK);
		close(fd);
		assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
		assert_int_equal(arch.n, 2);
		assert_string_equal(arch.keywords[2], "$Work");
		assert_null(arch.keywords[3]);
		assert_int_equal(arch.msgs[1].keywords, 1u << 1 | 1u << 2);
		assert_int_equal(arch.msgs[1].flags, MAILDIR_FLAG_FLAGGED);
	}

	/* read-only: nothing moved, no UID given, no \Recent; the index asks
	 * the next sync to list new/ again */
	fixture_put(box, "new", "1700000009.M9P1.a", "Subject: 9\r\n\r\nx\r\n");
	assert_int_equal(mbox_sync(&ro, box, true, &conf), MBOX_OK);
	assert_int_equal(ro.n, 6);
	backdate(box);
	assert_int_equal(mbox_sync(&ro, box, true, &conf), MBOX_OK);
	assert_int_equal(mbox_sync(&ro, box, true, &conf), MBOX_OK);
	assert_false(ro.fast);
	assert_int_equal(ro.n, 6);
	/* the writer moves it, and is the one that sees it \Recent */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 7);
	assert_true(mb.msgs[6].recent);
	assert_int_equal(mb.moved, 1);
	assert_int_equal(mbox_sync(&ro, box, true, &conf), MBOX_OK);
	assert_int_equal(ro.n, 7);
	assert_false(ro.msgs[6].recent);
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_false(mb.msgs[6].recent);
	mbox_free(&mb);
	mbox_free(&arch);
	mbox_free(&ro);
}

static void
test_cache(void **state)
{
	struct mbox mb = { 0 }, other = { 0 };
	struct buf b = BUF_INIT;
	char path[256], big[4096];
	struct stat st;
	FILE *f;
	int i;

	(void)state;
	trusted_five(&mb);
	assert_false(mbox_cache_get(&mb, 0, MBOX_CACHE_ENVELOPE, &b));
	assert_int_equal(mbox_cache_put(&mb, 0, MBOX_CACHE_ENVELOPE, "env0", 4), 0);
	assert_int_equal(mbox_cache_put(&mb, 1, MBOX_CACHE_HEADERS, "Subject: 2\r\n", 12), 0);
	assert_int_equal(mbox_cache_put(&mb, 1, 7, "x", 1), -1);
	/* ours before it is written */
	assert_true(mbox_cache_get(&mb, 0, MBOX_CACHE_ENVELOPE, &b));
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "env0", 4);
	buf_reset(&b);
	mbox_cache_flush(&mb);
	/* another session reads it from the file */
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_true(mbox_cache_get(&other, 1, MBOX_CACHE_HEADERS, &b));
	assert_int_equal(b.len, 12);
	buf_reset(&b);
	assert_false(mbox_cache_get(&other, 1, MBOX_CACHE_ENVELOPE, &b));
	assert_false(mbox_cache_get(&other, 2, MBOX_CACHE_HEADERS, &b));
	/* and what we put after it first looked is found too */
	assert_int_equal(mbox_cache_put(&mb, 2, MBOX_CACHE_BODY, "body2", 5), 0);
	mbox_cache_flush(&mb);
	assert_true(mbox_cache_get(&other, 2, MBOX_CACHE_BODY, &b));
	buf_reset(&b);
	/* a record for a UID whose message is another file (the list was
	 * rebuilt) is not this message's */
	snprintf(path, sizeof(path), "%s/cur/%s", box, other.msgs[0].name);
	{
		char to[256];

		snprintf(to, sizeof(to), "%s/cur/1700000001.M1P2.other:2,", box);
		assert_int_equal(rename(path, to), 0);
	}
	mbox_free(&other);
	snprintf(path, sizeof(path), "%s/dovecot-uidlist", box);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	for (i = 0; i < (int)other.n; i++)
		assert_false(mbox_cache_get(&other, (size_t)i, MBOX_CACHE_ENVELOPE, &b));
	mbox_free(&other);
	mbox_free(&mb);

	/* a torn last record (a crash in the append) is not read, the ones
	 * before are; later appends after it are lost until a compaction */
	assert_int_equal(mbox_sync(&mb, box, false, &conf), MBOX_OK);
	assert_int_equal(mbox_cache_put(&mb, 0, MBOX_CACHE_BODY, "b0", 2), 0);
	assert_int_equal(mbox_cache_put(&mb, 1, MBOX_CACHE_BODY, "b1", 2), 0);
	mbox_cache_flush(&mb);
	snprintf(path, sizeof(path), "%s/tern-cache", box);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 1), 0);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_true(mbox_cache_get(&other, 0, MBOX_CACHE_BODY, &b));
	buf_reset(&b);
	assert_false(mbox_cache_get(&other, 1, MBOX_CACHE_BODY, &b));
	mbox_free(&other);
	/* a foreign file: not read, replaced at the next flush */
	assert_non_null(f = fopen(path, "w"));
	fputs("not a cache\n", f);
	fclose(f);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_false(mbox_cache_get(&other, 0, MBOX_CACHE_BODY, &b));
	assert_int_equal(mbox_cache_put(&other, 3, MBOX_CACHE_ENVELOPE, "e3", 2), 0);
	mbox_cache_flush(&other);
	mbox_free(&other);
	assert_int_equal(mbox_sync(&other, box, false, &conf), MBOX_OK);
	assert_true(mbox_cache_get(&other, 3, MBOX_CACHE_ENVELOPE, &b));
	buf_reset(&b);
	/* put again and again: the file is mostly garbage, and compacted */
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 200; i++) {
		big[0] = (char)('a' + i % 26);
		assert_int_equal(mbox_cache_put(&other, 4, MBOX_CACHE_BODYSTRUCTURE, big,
		    sizeof(big)), 0);
		mbox_cache_flush(&other);
	}
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 200 * 4096 / 2);
	assert_true(mbox_cache_get(&other, 4, MBOX_CACHE_BODYSTRUCTURE, &b));
	assert_int_equal(b.len, sizeof(big));
	assert_int_equal(b.data[0], 'a' + 199 % 26);
	buf_reset(&b);
	assert_true(mbox_cache_get(&other, 3, MBOX_CACHE_ENVELOPE, &b));
	buf_release(&b);
	mbox_free(&other);
	mbox_free(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fast_and_the_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_modseq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_and_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reboot, setup, teardown),
		cmocka_unit_test(test_vanished_bounded),
		cmocka_unit_test_setup_teardown(test_append_copy_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
