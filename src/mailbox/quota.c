/*
 * quota: Maildir++ quota (see quota.h, docs/mailbox.md).
 *
 * The counting follows Dovecot's "maildir" quota backend, so that both
 * servers come to the same numbers on the same Maildir: every entry of
 * new/ and cur/ of the INBOX and of each ".<folder>" counts as a message,
 * of the size its name gives after ",S=" or else its stat size. After the
 * count each directory is looked at again; if one changed meanwhile (a
 * delivery, an expunge), the sums may be off and are not written down,
 * as Dovecot does: the next reader counts again.
 *
 * Appends are not locked: O_APPEND puts each line whole at the end, and
 * a line lost to a rename of a recalculation that ran at the same moment
 * makes the file wrong in a way its next recalculation repairs (the
 * Maildir++ trade-off: the file is a cache, never the truth).
 */
#include "quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/maildir_name.h"
#include "../proto/maildirsize.h"

#define MAILDIRSIZE "maildirsize"
#define QUOTA_PATH_MAX 1024

static atomic_ulong quota_seq;

bool
quota_limited(const struct quota_limits *l)
{
	return l->bytes != 0 || l->messages != 0;
}

enum quota_verdict
quota_check(const struct quota_limits *l, const struct quota_usage *u,
    uint64_t msg_size)
{
	uint64_t after;

	if (l->bytes != 0 && msg_size > l->bytes)
		return QUOTA_NEVER;
	if (l->bytes != 0 && (__builtin_add_overflow(u->bytes, msg_size, &after) ||
	    after > l->bytes))
		return QUOTA_OVER_TEMP;
	if (l->messages != 0 && u->messages >= l->messages)
		return QUOTA_OVER_TEMP;
	return QUOTA_OK;
}

/* ----------------------------------------------------------- counting -- */

/* What one walk over the mail directories found, or looks for. */
struct count {
	uint64_t bytes, messages;
	struct timespec *mtimes;   /* per directory visited, in order */
	size_t n, cap;
	size_t at;                 /* the second walk: where it compares */
	bool changed;
};

typedef int dir_fn(struct count *c, int dfd);

/* A directory's mtime, {-1, 0} when it is not there. */
static struct timespec
mtime_of(int dfd)
{
	struct stat st;

	if (dfd == -1 || fstat(dfd, &st) == -1)
		return (struct timespec){ -1, 0 };
	return st.st_mtim;
}

/* The first walk: the sizes and count of one new/ or cur/. */
static int
sum_dir(struct count *c, int dfd)
{
	struct timespec *nm;
	struct dirent *de;
	DIR *d;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;

		if ((nm = reallocarray(c->mtimes, cap, sizeof(*nm))) == NULL)
			return -1;
		c->mtimes = nm;
		c->cap = cap;
	}
	/* Before the listing: a change after this moment shows up below. */
	c->mtimes[c->n++] = mtime_of(dfd);
	if (dfd == -1)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct maildir_name mn;
		struct stat st;
		uint64_t size;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (maildir_name_parse(de->d_name, strlen(de->d_name), &mn) == MAILDIR_NAME_OK &&
		    mn.has_size)
			size = mn.size;
		else if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			size = (uint64_t)st.st_size;
		else if (errno == ENOENT)
			continue;   /* expunged meanwhile */
		else {
			closedir(d);
			return -1;
		}
		c->bytes += size;
		c->messages++;
	}
	closedir(d);
	return 0;
}

/* The second walk: has any directory changed since the first? */
static int
same_dir(struct count *c, int dfd)
{
	struct timespec now = mtime_of(dfd);

	if (dfd != -1)
		close(dfd);
	if (c->at >= c->n || c->mtimes[c->at].tv_sec != now.tv_sec ||
	    c->mtimes[c->at].tv_nsec != now.tv_nsec)
		c->changed = true;
	c->at++;
	return 0;
}

/* fn on <dir>/new and <dir>/cur (an fd, or -1 when missing; fn owns it). */
static int
visit_folder(struct count *c, int dirfd_, dir_fn *fn)
{
	static const char *const subs[] = { "new", "cur" };
	size_t i;

	for (i = 0; i < 2; i++) {
		int fd = openat(dirfd_, subs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd == -1 && errno != ENOENT && errno != ENOTDIR)
			return -1;
		if (fn(c, fd) == -1)
			return -1;
	}
	return 0;
}

/* fn on the mail directories of the Maildir open at rootfd: the INBOX's,
 * then those of each Maildir++ folder ".<name>" in the order listed. */
static int
walk(int rootfd, struct count *c, dir_fn *fn)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (visit_folder(c, rootfd, fn) == -1 ||
	    (fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		int sub;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;   /* a file, or removed meanwhile */
			rc = -1;
			break;
		}
		rc = visit_folder(c, sub, fn);
		close(sub);
	}
	closedir(d);
	return rc;
}

/* The recalculated file into tmp/, renamed over maildirsize. */
static void
write_file(int rootfd, const char *root, const struct quota_limits *l,
    const struct quota_usage *u)
{
	char text[2 * MAILDIRSIZE_LINE_MAX], name[MAILDIR_NAME_MAX + 1], tmp[MAILDIR_NAME_MAX + 8];
	char host[256];
	struct maildir_uniq uq = { 0 };
	struct timespec now;
	size_t h, d;
	int fd;

	h = maildirsize_header(l->bytes, l->messages, text, sizeof(text));
	d = h && u->messages <= INT32_MAX ? maildirsize_delta((int64_t)u->bytes,
	    (int64_t)u->messages, text + h, sizeof(text) - h) : 0;
	if (d == 0 || gethostname(host, sizeof(host)) == -1)
		return;
	host[sizeof(host) - 1] = '\0';
	/* A name like a delivery's, so that the store's tmp/ cleaning knows
	 * the writer (mbox_clean_tmp) should this one die half way. */
	clock_gettime(CLOCK_REALTIME, &now);
	uq.secs = now.tv_sec;
	uq.usecs = (uint32_t)(now.tv_nsec / 1000);
	uq.pid = (uint64_t)getpid();
	uq.with_seq = true;
	uq.seq = atomic_fetch_add(&quota_seq, 1);
	uq.host = host;
	uq.host_len = strlen(host);
	if (maildir_name_new_base(&uq, name, sizeof(name)) == 0 ||
	    str_fmt(tmp, sizeof(tmp), "tmp/%s", name) == -1)
		return;
	if ((fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		if (errno != ENOENT)
			log_warn("quota: %s/%s", root, tmp);
		return;
	}
	if (fileio_write_all(fd, text, h + d) == -1 || close(fd) == -1 ||
	    renameat(rootfd, tmp, rootfd, MAILDIRSIZE) == -1) {
		log_warn("quota: writing %s/%s", root, MAILDIRSIZE);
		(void)unlinkat(rootfd, tmp, 0);
	}
}

static int
recalculate(int rootfd, const char *root, const struct quota_limits *l,
    struct quota_usage *u, const char *why)
{
	struct count c = { 0 };
	int rc;

	if ((rc = walk(rootfd, &c, sum_dir)) == 0)
		rc = walk(rootfd, &c, same_dir);
	if (rc == 0) {
		u->bytes = c.bytes;
		u->messages = c.messages;
		u->recalculated = u->fresh = true;
		if (!c.changed && c.at == c.n)
			write_file(rootfd, root, l, u);
		log_info("event=quota-recalculated path=\"%s\" reason=%s bytes=%llu messages=%llu%s",
		    root, why, (unsigned long long)u->bytes, (unsigned long long)u->messages,
		    c.changed || c.at != c.n ? " written=no" : "");
	}
	free(c.mtimes);
	return rc;
}

/* ------------------------------------------------------------- usage --- */

/* Why a read file cannot be used as it is, or NULL. */
static const char *
distrust(const struct maildirsize *m, const struct quota_limits *l, int64_t mtime)
{
	if (m->recalc & MAILDIRSIZE_RECALC_SIZE_REACHED)
		return "size";
	if (m->recalc & MAILDIRSIZE_RECALC_MALFORMED)
		return "malformed";
	if (m->recalc & MAILDIRSIZE_RECALC_NEGATIVE)
		return "negative";
	if (m->recalc & MAILDIRSIZE_RECALC_EMPTY)
		return "empty";
	/* Limits that changed are written into the header at once, as
	 * Dovecot does when its rule (not the file) sets them. */
	if (!m->header_ok || m->bytes_limit != l->bytes || m->count_limit != l->messages)
		return "limits";
	if (maildirsize_over_quota_stale(m, l->bytes, l->messages, mtime, (int64_t)time(NULL)))
		return "over-quota";
	return NULL;
}

/* quota_usage; force: count even a file that could be trusted. */
static int
usage(const char *root, const struct quota_limits *l, struct quota_usage *u,
    bool force)
{
	char data[MAILDIRSIZE_RECALC_SIZE];
	struct maildirsize m;
	const char *why = "missing";
	size_t len = 0;
	struct stat st;
	int rootfd, fd, rc, err;

	memset(u, 0, sizeof(*u));
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (force)
		why = "recount";
	else if ((fd = openat(rootfd, MAILDIRSIZE, O_RDONLY | O_CLOEXEC)) != -1) {
		ssize_t n;

		/* Only a file below MAILDIRSIZE_RECALC_SIZE is read: a full
		 * buffer is a recalculation anyway. */
		while (len < sizeof(data) &&
		    ((n = read(fd, data + len, sizeof(data) - len)) > 0 ||
		    (n == -1 && errno == EINTR)))
			len += n > 0 ? (size_t)n : 0;
		if (fstat(fd, &st) == -1)
			st.st_mtime = 0;
		close(fd);
		maildirsize_parse(data, len, &m);
		if ((why = distrust(&m, l, (int64_t)st.st_mtime)) == NULL) {
			u->bytes = (uint64_t)m.bytes;
			u->messages = (uint64_t)m.count;
			u->fresh = m.lines == 1 &&
			    (int64_t)st.st_mtime >= (int64_t)time(NULL) - MAILDIRSIZE_STALE_SECS;
			close(rootfd);
			return 0;
		}
	} else if (errno != ENOENT) {
		err = errno;
		close(rootfd);
		errno = err;
		return -1;
	}
	rc = recalculate(rootfd, root, l, u, why);
	err = errno;
	close(rootfd);
	errno = err;
	return rc;
}

int
quota_usage(const char *root, const struct quota_limits *l, struct quota_usage *u)
{
	return usage(root, l, u, false);
}

int
quota_check_maildir(const char *root, const struct quota_limits *l,
    uint64_t msg_size, struct quota_usage *u, enum quota_verdict *v_r)
{
	*v_r = QUOTA_OK;
	if (usage(root, l, u, false) == -1)
		return -1;
	*v_r = quota_check(l, u, msg_size);
	/* A file can be too high in a way it trusts (the line of an expunge
	 * lost to a crash, or to a count replacing the file at that moment),
	 * and a deferral on such a sum would last until the message
	 * bounced: before saying no, count, unless a count just did. */
	if (*v_r == QUOTA_OVER_TEMP && !u->fresh) {
		if (usage(root, l, u, true) == -1)
			return -1;
		*v_r = quota_check(l, u, msg_size);
	}
	return 0;
}

/* ------------------------------------------------------------ changes -- */

int
quota_add(const char *root, int64_t bytes, int64_t count)
{
	char path[QUOTA_PATH_MAX], line[MAILDIRSIZE_LINE_MAX];
	size_t len;
	ssize_t n;
	int fd, err;

	if (bytes == 0 && count == 0)
		return 0;   /* Dovecot writes no empty change either */
	if ((len = maildirsize_delta(bytes, count, line, sizeof(line))) == 0) {
		errno = ERANGE;
		return -1;
	}
	if (str_fmt(path, sizeof(path), "%s/%s", root, MAILDIRSIZE) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	/* One write: with O_APPEND the line lands whole after whatever
	 * another writer appended (a short one would be torn, and the torn
	 * line makes the next reader recalculate). */
	n = write(fd, line, len);
	err = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n == -1 ? err : EIO;
		return -1;
	}
	return 0;
}

int
quota_expunged(const char *dir, uint64_t bytes, uint64_t count)
{
	char root[QUOTA_PATH_MAX];
	const char *slash = strrchr(dir, '/');

	if (count == 0)
		return 0;
	/* A folder ".Name" lives in the root; the root's own name never
	 * starts with a dot (deliver/maildir.c's maildir_path refuses it). */
	if (slash != NULL && slash[1] == '.') {
		if (str_copyn(root, sizeof(root), dir, (size_t)(slash - dir)) == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
	} else if (str_copy(root, sizeof(root), dir) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return quota_add(root, bytes > INT64_MAX ? INT64_MIN + 1 : -(int64_t)bytes,
	    count > INT32_MAX ? INT32_MIN + 1 : -(int64_t)count);
}
