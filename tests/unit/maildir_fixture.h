/*
 * maildir_fixture: what the store's unit tests (test_store.c,
 * test_store_index.c) make their Maildirs with, in a directory of their
 * own under /tmp. Included by a test file only (static functions).
 */
#ifndef TERN_TEST_MAILDIR_FIXTURE_H
#define TERN_TEST_MAILDIR_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* dir with new/ cur/ tmp/. */
static void
fixture_mkfolder(const char *dir)
{
	static const char *const subs[] = { "", "/new", "/cur", "/tmp" };
	char path[256];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, subs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

/* The file dir/sub/name holding body. */
static void
fixture_put(const char *dir, const char *sub, const char *name, const char *body)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(body, f);
	fclose(f);
}

static int
fixture_remove(const char *root)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
