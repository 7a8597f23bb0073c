/*
 * maildir: Maildirs and delivery into them (see maildir.h).
 *
 * Unique names follow the Maildir convention: "<sec>.M<usec>P<pid>Q<n>.<host>"
 * with ",S=<size>" so readers need no stat. The body is copied with
 * copy_file_range, so the message never passes through user space.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../mailbox/quota.h"

static atomic_ulong maildir_seq;

static void
fail(struct maildir_result *res, const char *what, int err)
{
	res->status = (err == ENAMETOOLONG) ? DELIVER_PERM : DELIVER_TEMP;
	snprintf(res->error, sizeof(res->error), "%s: %s", what, strerror(err));
}

int
maildir_create(const char *path)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char dir[1024];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (snprintf(dir, sizeof(dir), "%s/%s", path, subs[i]) >= (int)sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (fileio_mkdirs(dir) == -1)
			return -1;
	}
	return 0;
}

void
maildir_unique_name(const char *hostname, char *out, size_t outsize)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(out, outsize, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(),
	    (unsigned long)atomic_fetch_add(&maildir_seq, 1), hostname);
}

void
maildir_name_add_size(char *name, size_t size, uint64_t total)
{
	size_t n = strlen(name);

	snprintf(name + n, size - n, ",S=%llu", (unsigned long long)total);
}

int
maildir_path(const char *mailroot, const char *addr, char *out, size_t outsize)
{
	const char *at = strrchr(addr, '@');
	int n;

	/* The names come from the users file, but a path is a path. */
	if (at == NULL || at == addr || addr[0] == '.' || at[1] == '.' ||
	    strchr(addr, '/') != NULL)
		return -1;
	n = snprintf(out, outsize, "%s/%s/%.*s", mailroot, at + 1,
	    (int)(at - addr), addr);
	return (n < 0 || (size_t)n >= outsize) ? -1 : 0;
}

int
maildir_trace_prefix(struct buf *out, const char *sender, const char *rcpt)
{
	return buf_printf(out, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	    sender, rcpt);
}

void
maildir_sync_failed(struct maildir_result *res, int err)
{
	res->status = DELIVER_TEMP;
	snprintf(res->error, sizeof(res->error), "fsync of new/: %s", strerror(err));
}

int
maildir_open_tmp(const char *box, const char *hostname, char *tmp_r,
    char *final_r, char *newdir_r, size_t size)
{
	char name[256];

	maildir_unique_name(hostname, name, sizeof(name));
	if (str_fmt(newdir_r, size, "%s/new", box) == -1 ||
	    str_fmt(tmp_r, size, "%s/tmp/%s", box, name) == -1 ||
	    str_fmt(final_r, size, "%s/new/%s", box, name) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(tmp_r, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int
maildir_quota_check(const char *box, const struct quota_limits *quota, uint64_t size,
    struct maildir_result *res)
{
	struct quota_usage u;
	enum quota_verdict v;

	if (quota == NULL || !quota_limited(quota))
		return 0;
	if (quota_check_maildir(box, quota, size, &u, &v) == -1) {
		log_warn("quota: counting %s", box);
		return 0;
	}
	switch (v) {
	case QUOTA_OK:
		return 0;
	case QUOTA_NEVER:
		/* RFC 3463 5.2.2: mailbox full, and it never will hold this. */
		res->status = DELIVER_PERM;
		str_copy(res->dsn, sizeof(res->dsn), "5.2.2");
		snprintf(res->error, sizeof(res->error),
		    "message of %llu octets is larger than the mailbox quota of %llu",
		    (unsigned long long)size, (unsigned long long)quota->bytes);
		return -1;
	case QUOTA_OVER_TEMP:
		break;
	}
	res->status = DELIVER_TEMP;
	str_copy(res->dsn, sizeof(res->dsn), "4.2.2");
	if (quota->messages != 0 && u.messages >= quota->messages)
		snprintf(res->error, sizeof(res->error),
		    "mailbox full: %llu of %llu messages", (unsigned long long)u.messages,
		    (unsigned long long)quota->messages);
	else
		snprintf(res->error, sizeof(res->error),
		    "mailbox full: %llu of %llu octets used, message of %llu",
		    (unsigned long long)u.bytes, (unsigned long long)quota->bytes,
		    (unsigned long long)size);
	return -1;
}

/* Where a message for folder goes: path/folder when it is a Maildir,
 * else the inbox (a folder nobody made is not made here). */
static const char *
folder_dir(const char *path, const char *folder, char *out, size_t outsize)
{
	struct stat st;
	char newdir[1100];

	if (folder == NULL || folder[0] != '.' || strchr(folder, '/') ||
	    snprintf(out, outsize, "%s/%s", path, folder) >= (int)outsize ||
	    snprintf(newdir, sizeof(newdir), "%s/new", out) >= (int)sizeof(newdir) ||
	    stat(newdir, &st) == -1 || !S_ISDIR(st.st_mode))
		return path;
	return out;
}

void
maildir_deliver(const char *path, const char *folder, const char *hostname,
    const char *prefix, size_t prefix_len, int src_fd, off_t off, uint64_t len,
    const struct quota_limits *quota, struct maildir_result *res)
{
	char tmpdir[1024], name[512], tmpf[1600], newf[1600], fbuf[1024];
	const char *dir;
	int fd;

	memset(res, 0, sizeof(*res));
	if (maildir_create(path) == -1) {
		fail(res, "create maildir", errno);
		return;
	}
	dir = folder_dir(path, folder, fbuf, sizeof(fbuf));
	if (snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", dir) >= (int)sizeof(tmpdir) ||
	    snprintf(res->newdir, sizeof(res->newdir), "%s/new", dir) >= (int)sizeof(res->newdir)) {
		fail(res, "maildir path", ENAMETOOLONG);
		return;
	}
	if (maildir_quota_check(path, quota, prefix_len + len, res) == -1)
		return;
	maildir_unique_name(hostname, name, sizeof(name));
	maildir_name_add_size(name, sizeof(name), prefix_len + len);
	snprintf(tmpf, sizeof(tmpf), "%s/%s", tmpdir, name);
	snprintf(newf, sizeof(newf), "%s/%s", res->newdir, name);

	if ((fd = open(tmpf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		fail(res, "create", errno);
		return;
	}
	if (fileio_write_all(fd, prefix, prefix_len) == -1 ||
	    fileio_copy_range(src_fd, off, fd, len) == -1) {
		fail(res, "write", errno);
		goto unlink_out;
	}
	if (fsync(fd) == -1) {
		/* Never retry fsync on the same file: the pages may be gone. */
		fail(res, "fsync", errno);
		goto unlink_out;
	}
	if (close(fd) == -1) {
		fd = -1;
		fail(res, "close", errno);
		goto unlink_out;
	}
	fd = -1;
	if (rename(tmpf, newf) == -1) {
		fail(res, "rename", errno);
		goto unlink_out;
	}
	res->status = DELIVER_OK;
	res->size = prefix_len + len;
	return;
unlink_out:
	if (fd != -1)
		close(fd);
	unlink(tmpf);
}
