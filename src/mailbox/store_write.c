/*
 * store_write: new messages a reader puts into a folder (IMAP APPEND and
 * COPY; see store.h). The file is made complete and durable first (tmp/,
 * fsync; or a hard link of a message that already is), then, under the
 * uidlist lock, renamed (or linked) into cur/ and given the next UID in
 * the same critical section, so that no sync in between can number it
 * first; the list is written back as a sync writes it (store_lock.c), and
 * the folder synced, before the UID is returned to the client.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/maildir_name.h"
#include "../proto/uidlist.h"
#include "store_int.h"

static atomic_ulong write_seq;   /* several names in one microsecond */

/* A new unique name with its sizes and the :2, flags and keyword letters. */
static int
new_name(const struct mbox_conf *conf, uint64_t size, uint64_t vsize, unsigned flags,
    uint32_t keywords, char *out, size_t outsize)
{
	char base[MAILDIR_NAME_MAX + 1];
	struct maildir_name mn = { 0 };
	struct maildir_uniq u = { 0 };
	struct timeval tv;
	size_t n;

	gettimeofday(&tv, NULL);
	u.secs = (int64_t)tv.tv_sec;
	u.usecs = (uint32_t)tv.tv_usec;
	u.pid = (uint64_t)getpid();
	u.with_seq = true;
	u.seq = atomic_fetch_add(&write_seq, 1);
	u.host = conf->hostname;
	u.host_len = strlen(conf->hostname);
	u.with_size = true;
	u.size = size;
	u.with_vsize = vsize != size;
	u.vsize = vsize;
	if ((n = maildir_name_new_base(&u, base, sizeof(base))) == 0)
		return -1;
	mn.base = base;
	mn.base_len = n;
	mn.info = MAILDIR_INFO_2;
	mn.flags = flags;
	mn.keywords = keywords;
	mn.flag_text = mn.tail = "";
	return maildir_name_build(&mn, out, outsize) == 0 ? -1 : 0;
}

/* Under dir's lock (consumed): the record of the file named name (in
 * cur/) with the next UID, and the list written back. */
static enum mbox_err
record(const char *dir, int lockfd, const char *name, uint32_t *uidvalidity_r,
    uint32_t *uid_r)
{
	struct uidlist ul;
	struct maildir_name mn;
	enum mbox_err err;
	bool dirty = false;

	if (maildir_name_parse(name, strlen(name), &mn) != MAILDIR_NAME_OK) {
		store_lock_drop(dir, lockfd);
		return MBOX_IO;
	}
	if (store_uidlist_load(dir, &ul, &dirty, NULL) == -1) {
		store_lock_drop(dir, lockfd);
		return errno == ENOMEM ? MBOX_NOMEM : MBOX_IO;
	}
	*uid_r = ul.next_uid;
	*uidvalidity_r = ul.uidvalidity;
	if (ul.next_uid == 0 || ul.next_uid >= UINT32_MAX - 1 ||
	    uidlist_append(&ul, ul.next_uid, NULL, mn.base, mn.base_len) == -1) {
		uidlist_clear(&ul);
		store_lock_drop(dir, lockfd);
		return MBOX_NOMEM;
	}
	err = store_lock_commit(dir, lockfd, &ul);
	uidlist_clear(&ul);
	return err;
}

/* Copies size octets of src (from 0) to dst, counting the virtual size. */
static int
copy_counting(int src, int dst, uint64_t size, uint64_t *vsize_r)
{
	char in[16384];
	struct store_vsize v = { 0 };
	uint64_t off = 0;
	ssize_t n;

	while (off < size) {
		size_t want = size - off < sizeof(in) ? (size_t)(size - off) : sizeof(in);

		if ((n = pread(src, in, want, (off_t)off)) <= 0) {
			if (n == 0)
				errno = EIO;   /* shorter than announced */
			return -1;
		}
		store_vsize_feed(&v, in, (size_t)n);
		if (fileio_write_all(dst, in, (size_t)n) == -1)
			return -1;
		off += (uint64_t)n;
	}
	*vsize_r = store_vsize_end(&v);
	return 0;
}

enum mbox_err
mbox_append(const char *dir, int src_fd, uint64_t size, unsigned flags, time_t internal_date,
    const struct mbox_conf *conf, uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	return mbox_append_kw(dir, src_fd, size, flags, NULL, 0, internal_date, conf,
	    uidvalidity_r, uid_r);
}

enum mbox_err
mbox_append_kw(const char *dir, int src_fd, uint64_t size, unsigned flags,
    const struct mbox_kw *kw, size_t nkw, time_t internal_date, const struct mbox_conf *conf,
    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	char tmp[MBOX_PATH_MAX], name[MAILDIR_NAME_MAX + 1], dst[MBOX_PATH_MAX];
	char cur[MBOX_PATH_MAX], tname[64];
	struct timespec times[2] = { { internal_date, 0 }, { internal_date, 0 } };
	enum mbox_err err = MBOX_OK;
	uint64_t vsize = 0;
	uint32_t kwbits = 0;
	int fd, lockfd;

	snprintf(tname, sizeof(tname), "append.%ld.%lu", (long)getpid(),
	    (unsigned long)atomic_fetch_add(&write_seq, 1));
	if (store_path(tmp, sizeof(tmp), dir, "tmp", tname) == -1 ||
	    store_path(cur, sizeof(cur), dir, "cur", NULL) == -1)
		return MBOX_IO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	/* The internal date is the mtime: set before the fsync, which makes
	 * the inode durable with the data (a date set after it could be lost
	 * to a power cut while the message survives). */
	if (copy_counting(src_fd, fd, size, &vsize) == -1 || futimens(fd, times) == -1 ||
	    fsync(fd) == -1) {
		log_warn("mailbox: append to %s", dir);
		close(fd);
		(void)unlink(tmp);
		return MBOX_IO;
	}
	close(fd);
	if ((lockfd = store_lock_take(dir, conf->lock_timeout, &err)) == -1) {
		(void)unlink(tmp);
		return err;
	}
	/* The letters are the folder's: looked up (and added) under its lock. */
	if (store_keywords_map(dir, kw, nkw, &kwbits) == -1 ||
	    new_name(conf, size, vsize, flags, kwbits, name, sizeof(name)) == -1 ||
	    store_path(dst, sizeof(dst), dir, "cur", name) == -1 || rename(tmp, dst) == -1) {
		(void)unlink(tmp);
		store_lock_drop(dir, lockfd);
		return MBOX_IO;
	}
	store_fsync_dir(cur);
	return record(dir, lockfd, name, uidvalidity_r, uid_r);
}

/* The names of message m's keywords in mb (letters without a name are
 * left out: they mean nothing elsewhere). */
static size_t
kw_names(const struct mbox *mb, const struct mbox_msg *m, struct mbox_kw *out)
{
	size_t k, n = 0;

	for (k = 0; k < MBOX_KEYWORDS_MAX; k++) {
		if ((m->keywords >> k & 1) && mb->keywords[k] != NULL) {
			out[n].name = mb->keywords[k];
			out[n++].len = strlen(mb->keywords[k]);
		}
	}
	return n;
}

/*
 * Message i of mb into the folder at dir under a new name with its flags,
 * keywords (by name: each folder has its letters) and date: linked (COPY)
 * or renamed (MOVE), its UID recorded there under that folder's lock. A
 * rename leaves the message in one folder or the other at every instant,
 * so a crash can neither lose it nor show it twice; the source's next sync
 * finds it gone and records it vanished. Where the two folders cannot
 * share the file (another filesystem, no links) it is copied as APPEND
 * copies, and for a move the original removed after (a crash between
 * leaves both).
 */
static enum mbox_err
place(struct mbox *mb, size_t i, const char *dir, bool move, const struct mbox_conf *conf,
    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	struct mbox_msg *m = &mb->msgs[i];
	struct mbox_kw kw[MBOX_KEYWORDS_MAX];
	char src[MBOX_PATH_MAX], dst[MBOX_PATH_MAX], cur[MBOX_PATH_MAX], srcdir[MBOX_PATH_MAX];
	char name[MAILDIR_NAME_MAX + 1];
	enum mbox_err err = MBOX_OK;
	size_t nkw = kw_names(mb, m, kw);
	uint32_t kwbits = 0;
	struct stat st;
	int fd, lockfd, e;

	/* Open it first: that finds it again after another reader's rename. */
	if ((fd = mbox_open_msg(mb, i)) == -1)
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	if (fstat(fd, &st) == -1 ||
	    store_path(src, sizeof(src), mb->dir, m->in_new ? "new" : "cur", m->name) == -1 ||
	    store_path(srcdir, sizeof(srcdir), mb->dir, m->in_new ? "new" : "cur", NULL) == -1 ||
	    store_path(cur, sizeof(cur), dir, "cur", NULL) == -1) {
		close(fd);
		return MBOX_IO;
	}
	if ((lockfd = store_lock_take(dir, conf->lock_timeout, &err)) == -1) {
		close(fd);
		return err;
	}
	if (store_keywords_map(dir, kw, nkw, &kwbits) == -1 ||
	    new_name(conf, (uint64_t)st.st_size, m->vsize != MBOX_VSIZE_UNKNOWN ? m->vsize :
	    (uint64_t)st.st_size, m->flags, kwbits, name, sizeof(name)) == -1 ||
	    store_path(dst, sizeof(dst), dir, "cur", name) == -1) {
		store_lock_drop(dir, lockfd);
		close(fd);
		return MBOX_IO;
	}
	/* The source is durable already: a link or rename needs only the
	 * folders synced. */
	if ((move ? rename(src, dst) : link(src, dst)) == -1) {
		e = errno;
		store_lock_drop(dir, lockfd);
		if (e != EXDEV && (move || (e != EPERM && e != EMLINK))) {
			close(fd);
			return e == ENOENT ? MBOX_NOENT : MBOX_IO;
		}
		err = mbox_append_kw(dir, fd, (uint64_t)st.st_size, m->flags, kw, nkw, st.st_mtime,
		    conf, uidvalidity_r, uid_r);
		close(fd);
		if (move && err == MBOX_OK && unlink(src) == 0)
			store_fsync_dir(srcdir);
		return err;
	}
	close(fd);
	store_fsync_dir(cur);
	if (move)
		store_fsync_dir(srcdir);
	return record(dir, lockfd, name, uidvalidity_r, uid_r);
}

enum mbox_err
mbox_copy(struct mbox *mb, size_t i, const char *dir, const struct mbox_conf *conf,
    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	return place(mb, i, dir, false, conf, uidvalidity_r, uid_r);
}

enum mbox_err
mbox_move(struct mbox *mb, size_t i, const char *dir, const struct mbox_conf *conf,
    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	return place(mb, i, dir, true, conf, uidvalidity_r, uid_r);
}
