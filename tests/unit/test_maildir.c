/*
 * test_maildir: deliver/maildir.c, the one owner of the Maildir layout.
 * A mailbox's path from its address (and the addresses that make no safe
 * path), making a Maildir, a direct delivery's three names (its file in
 * tmp/, its name in new/ and the directory to fsync) with ENOENT when the
 * Maildir is gone and ENAMETOOLONG when a name does not fit, the size
 * added to a final name, the trace fields, a failed new/ fsync turned
 * into a temporary failure, and a whole delivery from a queue file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "deliver/maildir.h"

static char root[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/tern-maildir-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static bool
is_dir(const char *fmt, const char *a, const char *b)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), fmt, a, b);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
test_path(void **state)
{
	static const struct {
		const char *addr;
		const char *want;    /* NULL: refused */
	} t[] = {
		{ "alice@example.org", "/m/example.org/alice" },
		{ "a.b+c@sub.example.org", "/m/sub.example.org/a.b+c" },
		{ "odd@local@example.org", "/m/example.org/odd@local" },
		{ "alice", NULL },
		{ "@example.org", NULL },
		{ ".alice@example.org", NULL },
		{ "alice@.example.org", NULL },
		{ "../x@example.org", NULL },
		{ "alice@example.org/..", NULL },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = maildir_path("/m", t[i].addr, out, sizeof(out));

		if (t[i].want == NULL) {
			if (rc != -1)
				fail_msg("%s: got %s, want refused", t[i].addr, out);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out, t[i].want);
	}
	/* too long for out */
	assert_int_equal(maildir_path("/m", "alice@example.org", out, 10), -1);
}

static void
test_open_tmp(void **state)
{
	char box[256], tmp[512], final[512], newdir[512], name[512], small[48];
	const char *slash;
	int fd;

	(void)state;
	snprintf(box, sizeof(box), "%s/example.org/alice", root);
	/* no Maildir yet */
	errno = 0;
	assert_int_equal(maildir_open_tmp(box, "mx.test", tmp, final, newdir, sizeof(tmp)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_create(box), 0);
	assert_true(is_dir("%s/%s", box, "tmp"));
	assert_true(is_dir("%s/%s", box, "new"));
	assert_true(is_dir("%s/%s", box, "cur"));
	assert_int_equal(maildir_create(box), 0);   /* already there */

	fd = maildir_open_tmp(box, "mx.test", tmp, final, newdir, sizeof(tmp));
	assert_true(fd >= 0);
	close(fd);
	/* <box>/tmp/<name>, <box>/new/<name>, <box>/new: one unique name */
	snprintf(name, sizeof(name), "%s/new", box);
	assert_string_equal(newdir, name);
	slash = strrchr(tmp, '/');
	assert_non_null(slash);
	snprintf(name, sizeof(name), "%s/tmp%s", box, slash);
	assert_string_equal(tmp, name);
	snprintf(name, sizeof(name), "%s/new%s", box, slash);
	assert_string_equal(final, name);
	assert_non_null(strstr(slash, ".mx.test"));
	assert_int_equal(access(tmp, F_OK), 0);
	/* the size, for readers that take it from the name */
	maildir_name_add_size(final, sizeof(final), 1234);
	assert_string_equal(final + strlen(final) - 7, ",S=1234");
	unlink(tmp);

	/* names that do not fit: refused before anything is created */
	errno = 0;
	assert_int_equal(maildir_open_tmp(box, "mx.test", small, small + 16, small + 32, 16), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_unique_names(void **state)
{
	char a[256], b[256];

	(void)state;
	maildir_unique_name("h", a, sizeof(a));
	maildir_unique_name("h", b, sizeof(b));
	assert_string_not_equal(a, b);
	assert_null(strchr(a, '/'));
}

static void
test_trace_and_sync_failed(void **state)
{
	struct buf b = BUF_INIT;
	struct maildir_result res = { .status = DELIVER_OK };

	(void)state;
	assert_int_equal(maildir_trace_prefix(&b, "s@x.test", "r@y.test"), 0);
	assert_string_equal(buf_cstr(&b), "Return-Path: <s@x.test>\r\nDelivered-To: r@y.test\r\n");
	buf_reset(&b);
	assert_int_equal(maildir_trace_prefix(&b, "", "r@y.test"), 0);
	assert_string_equal(buf_cstr(&b), "Return-Path: <>\r\nDelivered-To: r@y.test\r\n");
	buf_release(&b);

	maildir_sync_failed(&res, EIO);
	assert_int_equal(res.status, DELIVER_TEMP);
	assert_string_equal(res.error, "fsync of new/: Input/output error");
}

static void
test_deliver(void **state)
{
	static const char queued[] = "ENVELOPE\r\nSubject: x\r\n\r\nbody\r\nTRAILER";
	const char *prefix = "Return-Path: <s@x.test>\r\n";
	char box[256], qpath[256], want[512], got[512], path[1024];
	struct maildir_result res;
	int qfd, fd;
	ssize_t n;
	FILE *ls;

	(void)state;
	snprintf(box, sizeof(box), "%s/example.org/bob", root);
	snprintf(qpath, sizeof(qpath), "%s/queued", root);
	qfd = open(qpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(qfd >= 0);
	assert_int_equal(write(qfd, queued, sizeof(queued) - 1), (ssize_t)sizeof(queued) - 1);
	/* the message is octets 10..29 of the queue file; the Maildir is made */
	maildir_deliver(box, NULL, "mx.test", prefix, strlen(prefix), qfd, 10, 20, NULL, &res);
	assert_int_equal(res.status, DELIVER_OK);
	snprintf(want, sizeof(want), "%s/new", box);
	assert_string_equal(res.newdir, want);
	snprintf(path, sizeof(path), "ls '%s/new'", box);
	ls = popen(path, "r");
	assert_non_null(ls);
	assert_non_null(fgets(got, sizeof(got), ls));
	pclose(ls);
	got[strcspn(got, "\n")] = '\0';
	snprintf(want, sizeof(want), ",S=%zu", strlen(prefix) + 20);
	assert_non_null(strstr(got, want));
	snprintf(path, sizeof(path), "%s/new/%s", box, got);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, want, sizeof(want));
	close(fd);
	snprintf(got, sizeof(got), "%sSubject: x\r\n\r\nbody\r\n", prefix);
	assert_int_equal(n, (ssize_t)strlen(got));
	assert_memory_equal(want, got, (size_t)n);

	/* a queue file shorter than promised: a temporary failure, nothing left in tmp/ */
	maildir_deliver(box, NULL, "mx.test", prefix, strlen(prefix), qfd, 10, 1000, NULL, &res);
	assert_int_equal(res.status, DELIVER_TEMP);
	snprintf(path, sizeof(path), "%s/tmp", box);
	assert_int_equal(rmdir(path), 0);   /* empty */
	assert_int_equal(mkdir(path, 0700), 0);

	/* a folder that does not exist: the inbox takes it */
	maildir_deliver(box, ".Junk", "mx.test", prefix, strlen(prefix), qfd, 10, 20, NULL, &res);
	assert_int_equal(res.status, DELIVER_OK);
	snprintf(want, sizeof(want), "%s/new", box);
	assert_string_equal(res.newdir, want);
	/* one that does (Maildir++): into its new/ */
	snprintf(path, sizeof(path), "%s/.Junk", box);
	assert_int_equal(maildir_create(path), 0);
	maildir_deliver(box, ".Junk", "mx.test", prefix, strlen(prefix), qfd, 10, 20, NULL, &res);
	assert_int_equal(res.status, DELIVER_OK);
	snprintf(want, sizeof(want), "%s/.Junk/new", box);
	assert_string_equal(res.newdir, want);
	/* no way out of the mailbox */
	maildir_deliver(box, "../x", "mx.test", prefix, strlen(prefix), qfd, 10, 20, NULL, &res);
	assert_int_equal(res.status, DELIVER_OK);
	snprintf(want, sizeof(want), "%s/new", box);
	assert_string_equal(res.newdir, want);
	close(qfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_open_tmp),
		cmocka_unit_test(test_unique_names),
		cmocka_unit_test(test_trace_and_sync_failed),
		cmocka_unit_test(test_deliver),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
