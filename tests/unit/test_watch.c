/*
 * test_watch: src/mailbox/watch.c on a real event loop and real
 * directories: a file delivered into new/, a rename into cur/ and an
 * unlink each wake every watcher of that folder once, and no watcher of
 * another; a watcher that removes itself (or another) in its callback is
 * safe; after the last watcher goes, the folder is no longer watched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "mailbox/watch.h"

static char root[64];
static unsigned calls[8];
static struct mbox_watch *self_removing;

static void
count(uint64_t cookie)
{
	calls[cookie]++;
}

static void
remove_self(uint64_t cookie)
{
	calls[cookie]++;
	mbox_watch_remove(&self_removing);
}

static void
mkfolder(const char *dir)
{
	char path[256];

	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/cur", dir);
	assert_int_equal(mkdir(path, 0700), 0);
}

/* Runs the loop until the counts stop changing (inotify is immediate:
 * a few short turns). */
static void
settle(struct event_base *base)
{
	struct timeval tv = { 0, 20000 };
	int i;

	for (i = 0; i < 5; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void
touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static void
test_watch(void **state)
{
	struct event_base *base = event_base_new();
	struct mbox_watch *a, *b, *c;
	char inbox[128], other[128], p1[256], p2[256];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/tern-watch-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(inbox, sizeof(inbox), "%s/inbox", root);
	snprintf(other, sizeof(other), "%s/other", root);
	mkfolder(inbox);
	mkfolder(other);
	assert_non_null(base);
	assert_int_equal(mbox_watch_init(base), 0);
	assert_non_null(a = mbox_watch_add(inbox, count, 1));
	assert_non_null(b = mbox_watch_add(inbox, count, 2));
	assert_non_null(c = mbox_watch_add(other, count, 3));
	assert_null(mbox_watch_add("/nonexistent/folder", count, 4));

	/* A delivery: once to each watcher of that folder, none of another. */
	snprintf(p1, sizeof(p1), "%s/new/1.M1P1.x", inbox);
	touch(p1);
	settle(base);
	assert_int_equal(calls[1], 1);
	assert_int_equal(calls[2], 1);
	assert_int_equal(calls[3], 0);

	/* A reader moves it to cur/, another expunges it. */
	snprintf(p2, sizeof(p2), "%s/cur/1.M1P1.x:2,S", inbox);
	assert_int_equal(rename(p1, p2), 0);
	settle(base);
	assert_int_equal(calls[1], 2);
	assert_int_equal(unlink(p2), 0);
	settle(base);
	assert_int_equal(calls[1], 3);
	assert_int_equal(calls[2], 3);

	/* A watcher that removes itself in its callback. */
	mbox_watch_remove(&b);
	assert_null(b);
	assert_non_null(self_removing = mbox_watch_add(inbox, remove_self, 5));
	touch(p1);
	settle(base);
	assert_int_equal(calls[5], 1);
	assert_null(self_removing);
	assert_int_equal(calls[2], 3);   /* removed: not told */
	assert_int_equal(calls[1], 4);

	/* The last watcher of inbox gone: nothing more is told. */
	mbox_watch_remove(&a);
	assert_int_equal(unlink(p1), 0);
	settle(base);
	assert_int_equal(calls[1], 4);
	mbox_watch_remove(&c);
	mbox_watch_shutdown();
	event_base_free(base);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
