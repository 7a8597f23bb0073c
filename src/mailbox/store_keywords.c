/*
 * store_keywords: the names of a folder's keyword letters, in Dovecot's
 * dovecot-keywords (proto/dovecot_keywords.c). Read again whenever the
 * file changed; a new name is added under the uidlist lock (Dovecot adds
 * them under the same lock) with a temp file and a rename. Dovecot takes
 * the file as unchanged while its mtime, in seconds, is what it read
 * last: every write here leaves a later second than the file it replaces.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/dovecot_keywords.h"
#include "store_int.h"

void
store_keywords_free(struct mbox *mb)
{
	size_t i;

	for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
		free(mb->keywords[i]);
		mb->keywords[i] = NULL;
	}
	memset(&mb->kw_file, 0, sizeof(mb->kw_file));
}

/* The file read into kw, and its stat; a missing file is no keywords.
 * -1 on an I/O error or no memory. */
static int
keywords_read(const char *dir, struct dovecot_keywords *kw, struct tern_index_stat *st)
{
	char path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	struct stat sb;
	int fd, rc;

	memset(kw, 0, sizeof(*kw));
	memset(st, 0, sizeof(*st));
	if (store_path(path, sizeof(path), dir, NULL, KEYWORDS_FILE) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) == -1 || fileio_read_all(fd, &b) == -1) {
		close(fd);
		buf_release(&b);
		return -1;
	}
	close(fd);
	store_stat_fill(st, &sb, 0);
	rc = dovecot_keywords_parse(b.data ? b.data : "", b.len, kw);
	buf_release(&b);
	return rc;
}

static void
keywords_take(struct mbox *mb, struct dovecot_keywords *kw, const struct tern_index_stat *st)
{
	size_t i;

	store_keywords_free(mb);
	for (i = 0; i < MBOX_KEYWORDS_MAX; i++)
		mb->keywords[i] = kw->names[i];
	memset(kw, 0, sizeof(*kw));
	mb->kw_file = *st;
}

void
store_keywords_refresh(struct mbox *mb)
{
	struct dovecot_keywords kw;
	struct tern_index_stat st;
	char path[MBOX_PATH_MAX];

	if (store_path(path, sizeof(path), mb->dir, NULL, KEYWORDS_FILE) == -1)
		return;
	store_stat_path(path, &st, 0);
	if (st.valid ? store_stat_same(&st, &mb->kw_file) : !mb->kw_file.valid)
		return;
	if (keywords_read(mb->dir, &kw, &st) == -1)
		return;   /* the names we had stay */
	keywords_take(mb, &kw, &st);
}

/* kw becomes dir's dovecot-keywords; *st_r its stat. Under the lock. */
static int
keywords_write(const char *dir, const struct dovecot_keywords *kw,
    const struct tern_index_stat *old, struct tern_index_stat *st_r)
{
	char tmp[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	struct stat sb;
	int fd = -1, rc = -1;

	if (store_path(tmp, sizeof(tmp), dir, NULL, KEYWORDS_TMP) == -1 ||
	    store_path(path, sizeof(path), dir, NULL, KEYWORDS_FILE) == -1 ||
	    dovecot_keywords_encode(kw, &b) == -1)
		goto out;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_write_all(fd, b.data, b.len) == -1 || fstat(fd, &sb) == -1)
		goto fail;
	/* Dovecot reads the file again only when its mtime's second moves. */
	if (old->valid && sb.st_mtim.tv_sec <= old->mtime_ns / 1000000000LL) {
		struct timespec ts[2] = { { 0, UTIME_OMIT },
			{ (time_t)(old->mtime_ns / 1000000000LL) + 1, 0 } };

		if (futimens(fd, ts) == -1 || fstat(fd, &sb) == -1)
			goto fail;
	}
	/* The letters in file names mean these names: made durable before
	 * any name uses a new one. */
	if (fdatasync(fd) == -1 || rename(tmp, path) == -1)
		goto fail;
	store_fsync_dir(dir);
	store_stat_fill(st_r, &sb, 0);
	rc = 0;
	goto out;
fail:
	log_warn("mailbox: writing %s", path);
	(void)unlink(tmp);
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	return rc;
}

_Static_assert(MBOX_KEYWORDS_MAX == DOVECOT_KEYWORDS_MAX, "one letter a name");

static int
find(const struct mbox *mb, const char *name, size_t len)
{
	struct dovecot_keywords kw;

	memcpy(kw.names, mb->keywords, sizeof(kw.names));
	return dovecot_keywords_find(&kw, name, len);
}

int
mbox_keyword(struct mbox *mb, const char *name, size_t len, bool create)
{
	struct dovecot_keywords kw;
	struct tern_index_stat st;
	enum mbox_err err;
	uint32_t used = 0;
	int bit, lockfd;
	size_t i;

	if (!dovecot_keyword_name_ok(name, len))
		return -1;
	store_keywords_refresh(mb);
	if ((bit = find(mb, name, len)) >= 0 || !create)
		return bit;
	if ((lockfd = store_lock_take(mb->dir, mb->lock_timeout > 0 ? mb->lock_timeout : 10,
	    &err)) == -1)
		return -1;
	/* Under the lock, the file as it is now: another writer may have
	 * added this name, or taken the letter we would. */
	bit = -1;
	if (keywords_read(mb->dir, &kw, &st) == -1)
		goto out;
	keywords_take(mb, &kw, &st);
	if ((bit = find(mb, name, len)) >= 0)
		goto out;
	/* A letter on a file that the file does not name (lost, or another
	 * program's) is not free: Dovecot names it "unknown-<n>". */
	for (i = 0; i < mb->n; i++)
		used |= mb->msgs[i].keywords;
	for (i = 0; i < MBOX_KEYWORDS_MAX && (mb->keywords[i] != NULL || (used >> i & 1)); i++)
		;
	if (i == MBOX_KEYWORDS_MAX)
		goto out;
	memset(&kw, 0, sizeof(kw));
	memcpy(kw.names, mb->keywords, sizeof(kw.names));
	if ((kw.names[i] = str_dupn(name, len)) == NULL)
		goto out;
	if (keywords_write(mb->dir, &kw, &mb->kw_file, &st) == 0) {
		mb->keywords[i] = kw.names[i];
		mb->kw_file = st;
		bit = (int)i;
	} else
		free(kw.names[i]);
out:
	store_lock_drop(mb->dir, lockfd);
	return bit;
}

int
store_keywords_map(const char *dir, const struct mbox_kw *kw, size_t nkw, uint32_t *bits_r)
{
	struct dovecot_keywords names;
	struct tern_index_stat st, nst;
	size_t i, slot;
	bool added = false;
	int k;

	*bits_r = 0;
	if (nkw == 0)
		return 0;
	if (keywords_read(dir, &names, &st) == -1)
		return -1;
	for (i = 0; i < nkw; i++) {
		if (!dovecot_keyword_name_ok(kw[i].name, kw[i].len))
			continue;   /* \Recent, a system flag IMAP does not store, junk */
		if ((k = dovecot_keywords_find(&names, kw[i].name, kw[i].len)) < 0) {
			/* A new name takes a free letter; none left, it is
			 * dropped (Dovecot keeps such names in its own index). */
			for (slot = 0; slot < DOVECOT_KEYWORDS_MAX && names.names[slot]; slot++)
				;
			if (slot == DOVECOT_KEYWORDS_MAX ||
			    (names.names[slot] = str_dupn(kw[i].name, kw[i].len)) == NULL)
				continue;
			k = (int)slot;
			added = true;
		}
		*bits_r |= 1u << k;
	}
	if (added && keywords_write(dir, &names, &st, &nst) == -1) {
		dovecot_keywords_clear(&names);
		return -1;
	}
	dovecot_keywords_clear(&names);
	return 0;
}
