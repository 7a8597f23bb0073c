/*
 * test_store: src/mailbox/store*.c on real Maildirs in /tmp: a sync gives
 * UIDs in arrival order and keeps them, writes each message's virtual
 * size into the record's W field; flags set and cleared by rename, keeping
 * what another reader set; APPEND writes a complete file into cur/ with
 * its flags, internal date and sizes in the name and records the next
 * UID at once (no later sync numbers it again); COPY links the file into
 * another folder under a new name with the next UID there; an expunge
 * removes files and the next sync drops their records; folders are made,
 * listed, renamed with the folders below them, deleted (never the INBOX),
 * and subscriptions kept (Dovecot's header line skipped).
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
#include <unistd.h>

#include "mailbox/store.h"
#include "maildir_fixture.h"
#include "proto/maildir_name.h"

static char root[64];
static const struct mbox_conf conf = { .hostname = "test.example", .lock_timeout = 2 };

static int
setup(void **state)
{
	char path[128];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/tern-store-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/box", root);
	fixture_mkfolder(path);
	snprintf(path, sizeof(path), "%s/box/.Archive", root);
	fixture_mkfolder(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return fixture_remove(root);
}

static size_t
index_of_uid(const struct mbox *mb, uint32_t uid)
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
read_file(const char *path, char *out, size_t outsize)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, out, outsize - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
}

static void
test_sync_uids_vsize_flags(void **state)
{
	struct mbox mb = { 0 };
	char dir[128], list[4096];
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/box", root);
	/* Arrival order is the numbers in the names, not strcmp's. */
	fixture_put(dir, "new", "1700000000.M99999P1.a", "Subject: b\r\n\r\nsecond\r\n");
	fixture_put(dir, "new", "1700000000.M100000P1.a", "Subject: c\n\nthird, LF only\n");
	fixture_put(dir, "new", "1699999999.M5P1.a", "Subject: a\r\n\r\nfirst\r\n");
	assert_int_equal(mbox_sync(&mb, dir, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 3);
	assert_int_equal(mb.moved, 3);
	assert_string_equal(mb.msgs[0].name, "1699999999.M5P1.a:2,");
	assert_string_equal(mb.msgs[1].name, "1700000000.M99999P1.a:2,");
	assert_string_equal(mb.msgs[2].name, "1700000000.M100000P1.a:2,");
	for (i = 0; i < 3; i++)
		assert_int_equal(mb.msgs[i].uid, i + 1);
	/* LF-only: the virtual size counts CR LF. */
	assert_int_equal(mb.msgs[2].vsize, mb.msgs[2].size + 3);   /* three LFs */
	snprintf(list, sizeof(list), "%s/dovecot-uidlist", dir);
	read_file(list, list, sizeof(list));
	assert_non_null(strstr(list, "3 W"));

	/* Flags: set two, clear one, another reader's flag kept. */
	assert_int_equal(mbox_set_flags(&mb, 0, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED, 0), MBOX_OK);
	assert_string_equal(mb.msgs[0].name, "1699999999.M5P1.a:2,FS");
	{
		char from[256], to[256];

		/* "Dovecot" marks it replied behind our back. */
		snprintf(from, sizeof(from), "%s/cur/1699999999.M5P1.a:2,FS", dir);
		snprintf(to, sizeof(to), "%s/cur/1699999999.M5P1.a:2,FRS", dir);
		assert_int_equal(rename(from, to), 0);
	}
	assert_int_equal(mbox_set_flags(&mb, 0, 0, MAILDIR_FLAG_FLAGGED), MBOX_OK);
	assert_string_equal(mb.msgs[0].name, "1699999999.M5P1.a:2,RS");

	/* The same UIDs next time, and a new message gets the next. */
	fixture_put(dir, "new", "1800000000.M1P1.a", "Subject: d\r\n\r\nfourth\r\n");
	assert_int_equal(mbox_sync(&mb, dir, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 4);
	assert_int_equal(mb.msgs[3].uid, 4);
	assert_int_equal(mb.msgs[0].flags, MAILDIR_FLAG_REPLIED | MAILDIR_FLAG_SEEN);
	mbox_free(&mb);
}

static void
test_append_copy_expunge(void **state)
{
	struct mbox mb = { 0 }, arch = { 0 };
	char dir[128], adir[128], path[256];
	const char msg[] = "Subject: appended\r\n\r\nbody\r\n";
	uint32_t uidv, uid, auidv, auid;
	size_t del[1];
	struct stat st;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/box", root);
	snprintf(adir, sizeof(adir), "%s/box/.Archive", root);
	fixture_put(dir, "new", "1700000000.M1P1.a", "Subject: one\r\n\r\nx\r\n");
	assert_int_equal(mbox_sync(&mb, dir, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 1);

	snprintf(path, sizeof(path), "%s/src", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, sizeof(msg) - 1), (ssize_t)(sizeof(msg) - 1));
	assert_int_equal(mbox_append(dir, fd, sizeof(msg) - 1, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT,
	    1600000000, &conf, &uidv, &uid), MBOX_OK);
	close(fd);
	assert_int_equal(uidv, mb.uidvalidity);
	assert_int_equal(uid, 2);
	/* A sync sees it with that UID, its flags and its date. */
	assert_int_equal(mbox_sync(&mb, dir, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 2);
	assert_int_equal(mb.msgs[1].uid, 2);
	assert_int_equal(mb.msgs[1].flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT);
	assert_int_equal(mb.msgs[1].size, sizeof(msg) - 1);
	assert_int_equal(mb.uidnext, 3);
	snprintf(path, sizeof(path), "%s/cur/%s", dir, mb.msgs[1].name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtime, 1600000000);

	/* COPY: a link under a new name, UID 1 in the other folder. */
	assert_int_equal(mbox_copy(&mb, 1, adir, &conf, &auidv, &auid), MBOX_OK);
	assert_int_equal(auid, 1);
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	assert_int_equal(arch.n, 1);
	assert_int_equal(arch.uidvalidity, auidv);
	assert_int_equal(arch.msgs[0].flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT);
	fd = mbox_open_msg(&arch, 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 2);   /* the same file, linked */
	close(fd);

	/* Expunge the original: the copy stays, the record goes. */
	del[0] = index_of_uid(&mb, 2);
	assert_int_equal(mbox_expunge(&mb, del, 1, NULL, 0, 0, &conf), MBOX_OK);
	assert_int_equal(mbox_sync(&mb, dir, false, &conf), MBOX_OK);
	assert_int_equal(mb.n, 1);
	assert_int_equal(mb.uidnext, 3);   /* never given again */
	assert_int_equal(mbox_sync(&arch, adir, false, &conf), MBOX_OK);
	assert_int_equal(arch.n, 1);
	mbox_free(&mb);
	mbox_free(&arch);
}

static void
test_folders_and_subscriptions(void **state)
{
	char rootbox[128], dir[256], **names;
	size_t n;

	(void)state;
	snprintf(rootbox, sizeof(rootbox), "%s/box", root);
	assert_int_equal(mbox_folder_create(rootbox, "Work"), MBOX_OK);
	assert_int_equal(mbox_folder_create(rootbox, "Work.2026"), MBOX_OK);
	assert_int_equal(mbox_folder_create(rootbox, "Work"), MBOX_EXISTS);
	assert_int_equal(mbox_folder_create(rootbox, "INBOX"), MBOX_EXISTS);
	assert_int_equal(mbox_folder_create(rootbox, "../x"), MBOX_BADNAME);
	assert_int_equal(mbox_folder_create(rootbox, ".hidden"), MBOX_BADNAME);
	assert_int_equal(mbox_folder_create(rootbox, "a/b"), MBOX_BADNAME);
	assert_int_equal(mbox_folder_create(rootbox, ""), MBOX_BADNAME);
	assert_int_equal(mbox_folder_dir(rootbox, "Work.2026", dir, sizeof(dir)), 0);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/maildirfolder");
	assert_int_equal(access(dir, F_OK), 0);

	assert_int_equal(mbox_folder_list(rootbox, &names, &n), MBOX_OK);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "Archive");
	assert_string_equal(names[2], "Work");
	assert_string_equal(names[3], "Work.2026");
	mbox_names_free(names, n);

	/* RENAME takes the folders below along. */
	assert_int_equal(mbox_folder_rename(rootbox, "Work", "Job"), MBOX_OK);
	assert_int_equal(mbox_folder_rename(rootbox, "Job", "Archive"), MBOX_EXISTS);
	assert_int_equal(mbox_folder_rename(rootbox, "Nope", "Other"), MBOX_NOENT);
	assert_int_equal(mbox_folder_list(rootbox, &names, &n), MBOX_OK);
	assert_int_equal(n, 4);
	assert_string_equal(names[2], "Job");
	assert_string_equal(names[3], "Job.2026");
	mbox_names_free(names, n);

	/* DELETE: gone, messages and all; the INBOX cannot go. */
	fixture_put(rootbox, ".Job/cur", "1.M1P1.a:2,S", "x");
	assert_int_equal(mbox_folder_delete(rootbox, "Job"), MBOX_OK);
	assert_int_equal(mbox_folder_delete(rootbox, "Job"), MBOX_NOENT);
	assert_int_equal(mbox_folder_delete(rootbox, "INBOX"), MBOX_BADNAME);
	assert_int_equal(mbox_folder_list(rootbox, &names, &n), MBOX_OK);
	assert_int_equal(n, 3);   /* INBOX Archive Job.2026 */
	mbox_names_free(names, n);

	/* Subscriptions: Dovecot's header line skipped, changes kept. */
	snprintf(dir, sizeof(dir), "%s/subscriptions", rootbox);
	{
		FILE *f = fopen(dir, "w");

		assert_non_null(f);
		fputs("V\t2\n\nArchive\n", f);
		fclose(f);
	}
	assert_int_equal(mbox_subscribe(rootbox, "Job.2026", true), MBOX_OK);
	assert_int_equal(mbox_subscribe(rootbox, "Job.2026", true), MBOX_OK);
	assert_int_equal(mbox_subscribe(rootbox, "Archive", false), MBOX_OK);
	assert_int_equal(mbox_subscriptions(rootbox, &names, &n), MBOX_OK);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "Job.2026");
	mbox_names_free(names, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_uids_vsize_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_copy_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folders_and_subscriptions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
