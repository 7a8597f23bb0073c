/*
 * store_msg: what a reader does to the messages of a synced folder
 * (store.h): open one (found again by its base when another reader
 * renamed it), add flags (a rename that keeps the flags others set), and
 * the all-or-nothing expunge through the tern-expunge journal, which the
 * next sync finishes after a crash (docs/mailbox.md).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* Finishes an expunge a crash interrupted: every name in the journal goes. */
void
store_replay_expunge(const char *dir)
{
	char path[MBOX_PATH_MAX], victim[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	size_t i, start = 0;
	int fd;

	if (store_path(path, sizeof(path), dir, NULL, EXPUNGE_LOG) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	(void)fileio_read_all(fd, &b);
	close(fd);
	for (i = 0; i < b.len; i++) {
		if (b.data[i] != '\n')
			continue;
		/* "cur/<name>" or "new/<name>", one a line; a torn last line
		 * (no LF) was never acted on. */
		if (i > start + 4 && memchr(b.data + start + 4, '/', i - start - 4) == NULL &&
		    (memcmp(b.data + start, "cur/", 4) == 0 || memcmp(b.data + start, "new/", 4) == 0) &&
		    str_fmt(victim, sizeof(victim), "%s/%.*s", dir, (int)(i - start), b.data + start) == 0)
			(void)unlink(victim);
		start = i + 1;
	}
	buf_release(&b);
	store_fsync_dir(dir);
	log_info("event=mailbox-expunge-replayed dir=\"%s\"", dir);
	(void)unlink(path);
}

/* Finds message i's file by its base after a rename by someone else. */
static int
refind(struct mbox *mb, size_t i)
{
	struct mbox_msg *m = &mb->msgs[i];
	static const char *const subs[] = { "cur", "new" };
	char path[MBOX_PATH_MAX];
	size_t k;

	for (k = 0; k < 2; k++) {
		struct dirent *de;
		DIR *d;

		if (store_path(path, sizeof(path), mb->dir, subs[k], NULL) == -1 ||
		    (d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			char *nn;

			if (len < m->base_len || memcmp(de->d_name, m->name, m->base_len) != 0 ||
			    (len > m->base_len && de->d_name[m->base_len] != ':'))
				continue;
			if ((nn = strdup(de->d_name)) == NULL)
				break;
			free(m->name);
			m->name = nn;
			m->in_new = k == 1;
			closedir(d);
			return 0;
		}
		closedir(d);
	}
	errno = ENOENT;
	return -1;
}

int
mbox_open_msg(struct mbox *mb, size_t i)
{
	char path[MBOX_PATH_MAX];
	struct mbox_msg *m = &mb->msgs[i];
	int fd, tries, k;

	for (tries = 0; tries < 2; tries++) {
		k = m->in_new ? 1 : 0;
		if (mb->subfd[k] == 0) {
			if (store_path(path, sizeof(path), mb->dir, k ? "new" : "cur", NULL) == -1) {
				errno = ENAMETOOLONG;
				return -1;
			}
			if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
				return -1;
			mb->subfd[k] = fd + 1;
		}
		if ((fd = openat(mb->subfd[k] - 1, m->name, O_RDONLY | O_CLOEXEC)) != -1 ||
		    errno != ENOENT)
			return fd;
		if (refind(mb, i) == -1)
			return -1;
	}
	return -1;
}

/* Message i's file with flags add set and clear cleared, in cur/.
 * Another reader (Dovecot's IMAP) may have renamed it since we last
 * looked, with flags of its own: it is found again by its base and the
 * new name is built from the one it has now, so that its flags stay.
 * -1 when the message has gone. */
static int
change_flags(struct mbox *mb, size_t i, unsigned add, unsigned clear)
{
	struct mbox_msg *m = &mb->msgs[i];
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX], nn[MAILDIR_NAME_MAX + 1];
	int tries;

	for (tries = 0; tries < 2; tries++) {
		struct maildir_name mn;
		unsigned want;

		if (maildir_name_parse(m->name, strlen(m->name), &mn) != MAILDIR_NAME_OK ||
		    (mn.info != MAILDIR_INFO_2 && mn.info != MAILDIR_INFO_NONE))
			return 0;   /* an info we must not rewrite: left as it is */
		if (mn.info == MAILDIR_INFO_NONE) {
			mn.info = MAILDIR_INFO_2;
			mn.flags = 0;
			mn.flag_text = mn.tail = "";
			mn.flag_text_len = mn.tail_len = 0;
		}
		want = (mn.flags | add) & ~clear;
		if (want == mn.flags && !m->in_new && mn.info == MAILDIR_INFO_2) {
			m->flags = mn.flags;
			return 0;
		}
		mn.flags = want;
		if (maildir_name_build(&mn, nn, sizeof(nn)) == 0 ||
		    store_path(from, sizeof(from), mb->dir, m->in_new ? "new" : "cur", m->name) == -1 ||
		    store_path(to, sizeof(to), mb->dir, "cur", nn) == -1)
			return 0;
		if (rename(from, to) == 0) {
			free(m->name);
			m->name = strdup(nn);
			if (m->name == NULL)
				m->name = strdup("");   /* next open refinds it by base */
			m->flags = mn.flags;
			m->in_new = false;
			return 0;
		}
		if (errno != ENOENT || refind(mb, i) == -1)
			return -1;   /* expunged meanwhile */
	}
	return 0;
}

static void
add_flags(struct mbox *mb, size_t i, unsigned add)
{
	(void)change_flags(mb, i, add, 0);
}

enum mbox_err
mbox_set_flags(struct mbox *mb, size_t i, unsigned add, unsigned clear)
{
	return change_flags(mb, i, add, clear) == 0 ? MBOX_OK : MBOX_NOENT;
}

enum mbox_err
mbox_expunge(struct mbox *mb, const size_t *del, size_t ndel, const size_t *keep,
    size_t nkeep, unsigned add, const struct mbox_conf *conf)
{
	char path[MBOX_PATH_MAX], victim[MBOX_PATH_MAX], dir[MBOX_PATH_MAX];
	struct buf journal = BUF_INIT;
	enum mbox_err err = MBOX_OK;
	uint64_t freed = 0, nfreed = 0;
	size_t i;
	int lockfd, fd;

	for (i = 0; i < nkeep; i++)
		add_flags(mb, keep[i], add);
	if (ndel == 0)
		return MBOX_OK;
	str_copy(dir, sizeof(dir), mb->dir);
	if ((lockfd = store_lock_take(dir, conf->lock_timeout, &err)) == -1)
		return err;
	/* Whatever was renamed since the sync is found by its base first,
	 * so that the journal names what is there now. */
	for (i = 0; i < ndel; i++) {
		struct mbox_msg *m = &mb->msgs[del[i]];
		struct stat st;

		if (store_path(victim, sizeof(victim), dir, m->in_new ? "new" : "cur", m->name) == 0 &&
		    stat(victim, &st) == -1 && errno == ENOENT)
			(void)refind(mb, del[i]);
		buf_printf(&journal, "%s/%s\n", m->in_new ? "new" : "cur", m->name);
	}
	if (journal.len == 0 && ndel) {
		err = MBOX_NOMEM;
		goto out;
	}
	if (store_path(path, sizeof(path), dir, NULL, EXPUNGE_LOG) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		err = MBOX_IO;
		goto out;
	}
	if (fileio_write_all(fd, journal.data, journal.len) == -1 || fsync(fd) == -1) {
		close(fd);
		(void)unlink(path);
		err = MBOX_IO;
		goto out;
	}
	close(fd);
	store_fsync_dir(dir);
	/* From here on the expunge happens, crash or not. */
	for (i = 0; i < ndel; i++) {
		struct mbox_msg *m = &mb->msgs[del[i]];

		if (store_path(victim, sizeof(victim), dir, m->in_new ? "new" : "cur", m->name) == 0 &&
		    unlink(victim) == 0) {
			freed += m->size;
			nfreed++;
		}
	}
	if (store_path(victim, sizeof(victim), dir, "cur", NULL) == 0)
		store_fsync_dir(victim);
	(void)unlink(path);
	/* Only what this call removed: a file another server expunged first
	 * was counted off by that server. */
	if (quota_expunged(dir, freed, nfreed) == -1)
		log_warn("quota: %s", dir);
out:
	buf_release(&journal);
	store_lock_drop(dir, lockfd);
	return err;
}
