/*
 * store_lock: the uidlist lock of a folder (see store.c for the sync it
 * guards, docs/mailbox.md for the crash analysis). dovecot-uidlist.lock
 * is a dotlock made by link(2) from a file of tmp/ that already holds
 * "<pid>:<host>", so that it never exists naming nobody: one
 * whose holder has died is broken at once, and one last changed before
 * this boot (a power cut can leave it empty, or naming a pid that is
 * someone else's now), and one naming this process that none of its
 * threads holds (its unlink failed), one nobody has touched for two
 * minutes (Dovecot's own carry no pid) then. The next list is written to
 * tern-uidlist.tmp, synced, renamed over dovecot-uidlist, then the lock
 * goes and the folder is synced. Also the path and fsync helpers the
 * store's files share.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/maildir_name.h"
#include "../proto/uidlist.h"
#include "quota.h"
#include "store_int.h"

/* dir/sub/name into out; -1 when it does not fit. */
int
store_path(char *out, size_t outsize, const char *dir, const char *sub, const char *name)
{
	if (sub && name)
		return str_fmt(out, outsize, "%s/%s/%s", dir, sub, name);
	return str_fmt(out, outsize, "%s/%s", dir, sub ? sub : name);
}

void
store_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/* This machine's name as gethostname() gives it (what Dovecot and other
 * programs write in their Maildir names and dotlocks); "" if unknown. */
void
store_this_host(char *out, size_t outsize)
{
	if (gethostname(out, outsize) != 0)
		out[0] = '\0';
	out[outsize - 1] = '\0';
}

/*
 * The locks this process holds, by the lock file's inode: a lock naming
 * this process that is not among them was left by a failed unlink (an
 * I/O error) and has no holder. Without this it looked held by another
 * thread, and the folder refused every change for two minutes (found by
 * the fault drill, docs/testing.md). A multiset: an inode number freed by
 * one lock's unlink may come back for the next one before the first is
 * forgotten. This table is the one piece of state the module owns.
 */
static struct {
	pthread_mutex_t mu;
	struct held_lock { dev_t dev; ino_t ino; } *v;
	size_t n, cap;
} held = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Registered before the lock says whose it is, so that no thread reads
 * our pid in a lock that is not in the table yet. -1: out of memory. */
static int
held_add(const struct stat *st)
{
	int rc = 0;

	pthread_mutex_lock(&held.mu);
	if (held.n == held.cap) {
		size_t cap = held.cap ? held.cap * 2 : 8;
		struct held_lock *v = realloc(held.v, cap * sizeof(*v));

		if (v == NULL)
			rc = -1;
		else
			held.v = v, held.cap = cap;
	}
	if (rc == 0)
		held.v[held.n++] = (struct held_lock){ st->st_dev, st->st_ino };
	pthread_mutex_unlock(&held.mu);
	return rc;
}

static void
held_remove(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&held.mu);
	for (size_t i = 0; i < held.n; i++) {
		if (held.v[i].dev == dev && held.v[i].ino == ino) {
			held.v[i] = held.v[--held.n];
			break;
		}
	}
	pthread_mutex_unlock(&held.mu);
}

static bool
held_has(const struct stat *st)
{
	bool found = false;

	pthread_mutex_lock(&held.mu);
	for (size_t i = 0; i < held.n && !found; i++)
		found = held.v[i].dev == st->st_dev && held.v[i].ino == st->st_ino;
	pthread_mutex_unlock(&held.mu);
	return found;
}

/* Says who holds a lock just taken: "<pid>:<host>", what Dovecot's
 * dotlocks hold, for as long as it is held. */
static void
lock_mark(int fd)
{
	char host[256], who[300];
	int n;

	store_this_host(host, sizeof(host));
	n = snprintf(who, sizeof(who), "%ld:%s", (long)getpid(), host);
	if (host[0] == '\0' || n < 0 || (size_t)n >= sizeof(who) ||
	    fileio_write_all(fd, who, (size_t)n) == -1)
		(void)ftruncate(fd, 0);   /* anonymous: only the age rule then */
}

/* The new lock's inode joins the held table before the lock names this
 * process: another thread that read our pid in a lock not in the table
 * would break it as left by a failed unlink. 0, or -1 with errno. */
static int
lock_register(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	if (held_add(&st) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void
lock_unregister(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0)
		held_remove(st.st_dev, st.st_ino);
}

/* Creates the lock at path already naming its holder: the mark is written
 * into a file of the folder's tmp/ (a name like a delivery's, so that
 * mbox_clean_tmp removes it should we die before the end) and that file
 * is linked as the lock. Created empty and marked after, a kill -9
 * between the two left a lock naming nobody, and the folder waited out
 * the two minutes (found by test_crash_readers.py). The descriptor, or -1
 * with errno (EEXIST: someone holds it). Where tmp/ or hard links are
 * missing, the lock is made in place as before. Should the unlink of the
 * tmp/ name fail, store_lock_drop removes it with the lock. */
static int
lock_create(const char *dir, const char *path)
{
	static _Atomic uint64_t lock_seq;
	char host[256], name[MAILDIR_NAME_MAX + 1], tmp[MBOX_PATH_MAX];
	struct maildir_uniq uq = { 0 };
	struct timespec now;
	int fd, e;

	store_this_host(host, sizeof(host));
	clock_gettime(CLOCK_REALTIME, &now);
	uq.secs = now.tv_sec;
	uq.usecs = (uint32_t)(now.tv_nsec / 1000);
	uq.pid = (uint64_t)getpid();
	uq.with_seq = true;
	uq.seq = atomic_fetch_add(&lock_seq, 1);
	uq.host = host;
	uq.host_len = strlen(host);
	if (host[0] == '\0' || maildir_name_new_base(&uq, name, sizeof(name)) == 0 ||
	    store_path(tmp, sizeof(tmp), dir, "tmp", name) == -1)
		goto in_place;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		if (errno == ENOENT)
			goto in_place;
		return -1;
	}
	if (lock_register(fd) == -1) {
		e = errno;
		(void)unlink(tmp);
		close(fd);
		errno = e;
		return -1;
	}
	lock_mark(fd);
	if (link(tmp, path) == -1) {
		e = errno;
		lock_unregister(fd);
		(void)unlink(tmp);
		close(fd);
		if (e == EPERM || e == EOPNOTSUPP || e == EXDEV || e == EMLINK)
			goto in_place;
		errno = e;
		return -1;
	}
	(void)unlink(tmp);
	return fd;
in_place:
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (lock_register(fd) == -1) {
		e = errno;
		close(fd);
		(void)unlink(path);
		errno = e;
		return -1;
	}
	lock_mark(fd);
	return fd;
}

/* The pid of a process of this host that held the lock seen as *st and no
 * longer runs (or this process, when none of its threads holds it), or 0.
 * A lock without a holder (empty, or a list being written), another
 * host's, another thread's of ours or a live process's is not stale by
 * this rule. */
static long
lock_dead_holder(const char *path, const struct stat *st)
{
	char buf[300], host[256], *colon, *end;
	struct stat again;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	store_this_host(host, sizeof(host));
	if ((colon = strchr(buf, ':')) == NULL || host[0] == '\0' || strcmp(colon + 1, host) != 0)
		return 0;
	*colon = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (end == buf || *end != '\0' || errno != 0 || pid <= 0)
		return 0;
	if (pid == (long)getpid() ? held_has(st) : kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0;
	/* Still the file we read, not one taken anew since. */
	if (stat(path, &again) == -1 || again.st_ino != st->st_ino ||
	    again.st_size != st->st_size || again.st_mtime != st->st_mtime)
		return 0;
	return pid;
}

/* When this boot began, in seconds since the epoch (0 if unknown): no
 * lock older than that has a holder. */
static time_t
boot_began(void)
{
	struct timespec now, up;

	if (clock_gettime(CLOCK_REALTIME, &now) == -1 || clock_gettime(CLOCK_BOOTTIME, &up) == -1)
		return 0;
	return now.tv_sec - up.tv_sec - 1;   /* a second's slack for the two readings */
}

/* The uidlist lock: its descriptor (the new list is written into it), or
 * -1 with *err set. A lock is broken when its holder is a process of this
 * host that has died (ternd after a kill -9: at once, not after two
 * minutes; Dovecot reads the same "<pid>:<host>"), or when nobody has
 * touched it for two minutes (a holder we cannot name: Dovecot's own
 * uidlist locks carry no pid), or when it was last changed before this
 * boot: after a power cut its "<pid>:<host>" may be lost (the lock is not
 * synced, it is a lock) or name a pid reused since, and a reboot can take
 * less than the two minutes. */
int
store_lock_take(const char *dir, int timeout, enum mbox_err *err)
{
	char path[MBOX_PATH_MAX];
	struct timespec nap = { 0, 5 * 1000 * 1000 };
	time_t give_up = time(NULL) + (timeout > 0 ? timeout : 1);
	struct stat st;
	long dead = 0;
	const time_t boot = boot_began();
	int fd;

	if (store_path(path, sizeof(path), dir, NULL, UIDLIST_LOCK) == -1) {
		*err = MBOX_IO;
		return -1;
	}
	for (;;) {
		if ((fd = lock_create(dir, path)) != -1)
			return fd;
		if (errno == ENOENT) {
			*err = MBOX_NOENT;
			return -1;
		}
		if (errno != EEXIST) {
			log_warn("mailbox: %s", path);
			*err = MBOX_IO;
			return -1;
		}
		if (stat(path, &st) == 0 && ((dead = lock_dead_holder(path, &st)) > 0 ||
		    st.st_mtime < boot || st.st_mtime + LOCK_STALE_SECS < time(NULL))) {
			long long age = (long long)(time(NULL) - st.st_mtime);

			if (dead == (long)getpid())
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld "
				    "reason=\"left by this process\"", path, age);
			else if (dead > 0)
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld dead_pid=%ld",
				    path, age, dead);
			else if (st.st_mtime < boot)
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld "
				    "reason=\"made before this boot\"", path, age);
			else
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld", path, age);
			(void)unlink(path);
			continue;
		}
		if (time(NULL) >= give_up) {
			*err = MBOX_LOCKED;
			return -1;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 100 * 1000 * 1000)
			nap.tv_nsec *= 2;
	}
}

/* The tmp/ name a lock was linked from, left by a failed unlink: found
 * by its inode, removed with the lock (else it stays until this process
 * is gone and mbox_clean_tmp sees a dead writer). */
static void
lock_unlink_stray(const char *dir, const struct stat *lock)
{
	char path[MBOX_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (store_path(path, sizeof(path), dir, "tmp", NULL) == -1 || (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_ino == lock->st_ino &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == lock->st_dev && st.st_ino == lock->st_ino) {
			if (unlinkat(dirfd(d), de->d_name, 0) == -1)
				log_warn("mailbox: %s/%s", path, de->d_name);
			break;
		}
	}
	closedir(d);
}

void
store_lock_drop(const char *dir, int fd)
{
	char path[MBOX_PATH_MAX];
	struct stat st;
	bool known = fstat(fd, &st) == 0;

	close(fd);
	/* Unlinked first, forgotten after: forgotten while its file is
	 * there, it would look left behind to another thread, which would
	 * break it, take a new one, and lose it to this unlink. */
	if (store_path(path, sizeof(path), dir, NULL, UIDLIST_LOCK) == 0 &&
	    unlink(path) == -1 && errno != ENOENT)
		log_warn("mailbox: %s (broken at the next sync)", path);
	if (known && st.st_nlink > 1)
		lock_unlink_stray(dir, &st);
	if (known)
		held_remove(st.st_dev, st.st_ino);
}

/* The list in ul becomes dovecot-uidlist: written to tern-uidlist.tmp,
 * synced, renamed over the old one, and the folder synced; the lock stays.
 * Dovecot writes its list into the lock file and renames that; we keep
 * the lock naming its holder to the end instead, so that a crash at any
 * step leaves a lock that is broken at once, not one holding a list and
 * no pid, which waits out the two minutes. */
enum mbox_err
store_uidlist_write(const char *dir, const struct uidlist *ul)
{
	char tmp[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	enum mbox_err err = MBOX_OK;
	int tfd = -1;

	if (store_path(tmp, sizeof(tmp), dir, NULL, UIDLIST_TMP) == -1 ||
	    store_path(path, sizeof(path), dir, NULL, UIDLIST) == -1)
		err = MBOX_IO;
	else if (uidlist_encode(ul, &b) == -1)
		err = MBOX_NOMEM;
	else if ((tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_write_all(tfd, b.data, b.len) == -1 || fdatasync(tfd) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("mailbox: writing %s", path);
		err = MBOX_IO;
		if (tfd != -1)
			(void)unlink(tmp);
	}
	if (tfd != -1)
		close(tfd);
	buf_release(&b);
	/* Before anything (tern-index) says what the new list says. */
	if (err == MBOX_OK)
		store_fsync_dir(dir);
	return err;
}

/* ul becomes dovecot-uidlist, then the lock goes. */
enum mbox_err
store_lock_commit(const char *dir, int fd, const struct uidlist *ul)
{
	enum mbox_err err = store_uidlist_write(dir, ul);

	store_lock_drop(dir, fd);
	return err;
}
