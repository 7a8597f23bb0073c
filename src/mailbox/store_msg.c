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
#include "../proto/tern_index.h"
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

/* What a flag change did to a message. */
enum applied {
	APPLIED_SAME,      /* nothing to change (or a name that must not be rewritten) */
	APPLIED_CHANGED,   /* flags or keywords changed: a new MODSEQ */
	APPLIED_GONE,      /* expunged */
	APPLIED_OUTSIDE,   /* check: someone else changed them since; left alone */
};

#define KEYWORD_BITS ((uint32_t)((1u << MBOX_KEYWORDS_MAX) - 1))
#define FLAG_BITS 0x3fu

/*
 * Message i's file renamed to carry the flags and keywords ch makes of
 * the ones it has now, in cur/. Another reader (Dovecot's IMAP) may have
 * renamed it since we last looked, with flags of its own: it is found
 * again by its base and the new name is built from the one it has now,
 * so that its flags stay. With check, a file whose flags are not
 * (flags, kw) when found (someone else's change) is left alone.
 */
static enum applied
apply(struct mbox *mb, size_t i, const struct mbox_flag_change *ch, bool check,
    unsigned flags, uint32_t kw)
{
	struct mbox_msg *m = &mb->msgs[i];
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX], nn[MAILDIR_NAME_MAX + 1];
	int tries;

	for (tries = 0; tries < 3; tries++) {
		struct maildir_name mn;
		unsigned want, was;
		uint32_t want_kw, was_kw;
		char *dup;

		if (check && tries == 0 && (store_path(from, sizeof(from), mb->dir,
		    m->in_new ? "new" : "cur", m->name) == -1 || access(from, F_OK) == -1)) {
			if (refind(mb, i) == -1)
				return APPLIED_GONE;
		}
		if (maildir_name_parse(m->name, strlen(m->name), &mn) != MAILDIR_NAME_OK ||
		    (mn.info != MAILDIR_INFO_2 && mn.info != MAILDIR_INFO_NONE))
			return APPLIED_SAME;   /* an info we must not rewrite: left as it is */
		if (mn.info == MAILDIR_INFO_NONE) {
			mn.info = MAILDIR_INFO_2;
			mn.flags = 0;
			mn.keywords = 0;
			mn.flag_text = mn.tail = "";
			mn.flag_text_len = mn.tail_len = 0;
		}
		was = mn.flags;
		was_kw = mn.keywords;
		if (check && (was != flags || was_kw != kw))
			return APPLIED_OUTSIDE;
		want = ch->replace ? ch->add : (was | ch->add) & ~ch->clear;
		want_kw = ch->replace ? ch->kw_add : (was_kw | ch->kw_add) & ~ch->kw_clear;
		want &= FLAG_BITS;
		want_kw &= KEYWORD_BITS;
		m->flags = was;
		m->keywords = was_kw;
		if (want == was && want_kw == was_kw && !m->in_new && mn.info == MAILDIR_INFO_2)
			return APPLIED_SAME;
		mn.flags = want;
		mn.keywords = want_kw;
		if (maildir_name_build(&mn, nn, sizeof(nn)) == 0 ||
		    store_path(from, sizeof(from), mb->dir, m->in_new ? "new" : "cur", m->name) == -1 ||
		    store_path(to, sizeof(to), mb->dir, "cur", nn) == -1)
			return APPLIED_SAME;
		if (rename(from, to) == 0) {
			if ((dup = strdup(nn)) != NULL) {
				free(m->name);
				m->name = dup;
			}   /* else the old name stays: the next open finds it by base */
			m->flags = want;
			m->keywords = want_kw;
			m->in_new = false;
			return want != was || want_kw != was_kw ? APPLIED_CHANGED : APPLIED_SAME;
		}
		if (errno != ENOENT || refind(mb, i) == -1)
			return APPLIED_GONE;   /* expunged meanwhile */
	}
	return APPLIED_SAME;
}

static int
change_flags(struct mbox *mb, size_t i, unsigned add, unsigned clear)
{
	struct mbox_flag_change ch = { .add = add, .clear = clear };

	return apply(mb, i, &ch, false, 0, 0) == APPLIED_GONE ? -1 : 0;
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

/* The index as it is on disk, for a change made without a sync (STORE,
 * EXPUNGE), recorded in its log: mb's own state when it holds the index
 * and log as they are (*disk_r NULL), else the file and log read into x
 * when good, of this boot and not behind mb (*disk_r its index, with the
 * log's records applied; mb is behind it then), else none (return false:
 * nothing is logged, and the next sync rebuilds above what mb hands out). */
static bool
index_now(struct mbox *mb, struct store_ix *x, struct tern_index **disk_r)
{
	*disk_r = NULL;
	if (store_ix_holds(mb))
		return true;
	mb->ix_same = false;
	if (store_ix_read(mb->dir, x) == -1 || !x->ok || x->ix.uidvalidity != mb->uidvalidity ||
	    x->ix.highestmodseq < mb->highestmodseq || !store_ix_this_boot(&x->ix))
		return false;
	*disk_r = &x->ix;
	return true;
}

/* rs[0..n) appended to the index's log. When mb held the index and log,
 * it still does (it has the changes); else it is behind the file. */
static void
index_log(struct mbox *mb, bool have, const struct tern_index *disk,
    const struct tern_index_logrec *rs, size_t n)
{
	struct tern_index_stat log;

	if (!have || n == 0)
		return;
	if (store_ix_log(mb->dir, disk ? disk->gen : mb->ix_gen, rs, n, &log) == 0 && disk == NULL)
		mb->log_file = log;
	else
		mb->ix_same = false;
}

enum mbox_err
mbox_store(struct mbox *mb, const size_t *idx, size_t n, const struct mbox_flag_change *ch,
    uint64_t unchangedsince, bool *modified_r, bool *gone_r)
{
	struct store_ix x = { 0 };
	struct tern_index *disk;
	struct tern_index_logrec *rs;
	enum mbox_err err = MBOX_OK;
	bool have;
	uint64_t hms;
	size_t k, nrs = 0;
	int lockfd;

	for (k = 0; k < n; k++) {
		if (modified_r)
			modified_r[k] = false;
		if (gone_r)
			gone_r[k] = false;
	}
	if ((rs = calloc(n + 1, sizeof(*rs))) == NULL)
		return MBOX_NOMEM;
	if ((lockfd = store_lock_take(mb->dir, mb->lock_timeout > 0 ? mb->lock_timeout : 10,
	    &err)) == -1) {
		free(rs);
		return err;
	}
	have = index_now(mb, &x, &disk);
	hms = mb->highestmodseq;
	if (disk && disk->highestmodseq > hms)
		hms = disk->highestmodseq;
	for (k = 0; k < n; k++) {
		struct mbox_msg *m = &mb->msgs[idx[k]];
		struct tern_index_msg *rec = disk ? store_ix_find(disk, m->uid) : NULL;
		uint64_t known = m->modseq;
		unsigned flags = m->flags;
		uint32_t kw = m->keywords;
		enum applied a;

		/* Another session's change since our sync, in the index. */
		if (rec && rec->modseq > known) {
			known = rec->modseq;
			flags = rec->flags;
			kw = rec->keywords;
		}
		if (unchangedsince && known > unchangedsince) {
			if (modified_r)
				modified_r[k] = true;
			continue;
		}
		a = apply(mb, idx[k], ch, unchangedsince != 0, flags, kw);
		if (a == APPLIED_GONE && gone_r)
			gone_r[k] = true;
		if (a == APPLIED_OUTSIDE && modified_r)
			modified_r[k] = true;
		if (a == APPLIED_SAME && known > m->modseq)
			m->modseq = known;
		if (a != APPLIED_CHANGED)
			continue;
		m->modseq = ++hms;
		rs[nrs].kind = 's';
		rs[nrs].uid = m->uid;
		rs[nrs].modseq = m->modseq;
		rs[nrs].in_new = m->in_new;
		rs[nrs].name = m->name;
		rs[nrs++].name_len = strlen(m->name);
	}
	mb->highestmodseq = hms;
	index_log(mb, have, disk, rs, nrs);
	store_lock_drop(mb->dir, lockfd);
	store_ix_free(&x);
	free(rs);
	return MBOX_OK;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The expunged messages del[] into vanished[] at a new MODSEQ, into mb's
 * gone list (they leave msgs at the next sync) and into the index's log.
 * Under the lock. */
static void
expunge_record(struct mbox *mb, const size_t *del, size_t ndel)
{
	struct store_ix x = { 0 };
	struct tern_index *disk;
	struct mbox_vanished *add;
	struct tern_index_logrec *rs;
	uint32_t *gone;
	size_t i, nadd = 0;
	bool have = index_now(mb, &x, &disk);
	uint64_t ms = mb->highestmodseq;

	if (disk && disk->highestmodseq > ms)
		ms = disk->highestmodseq;
	ms++;
	add = calloc(ndel, sizeof(*add));
	rs = calloc(ndel, sizeof(*rs));
	gone = reallocarray(mb->gone, mb->ngone + ndel, sizeof(*gone));
	if (gone)
		mb->gone = gone;
	if (add == NULL || rs == NULL || gone == NULL) {
		/* Not remembered: the next sync finds them gone and gives
		 * them a MODSEQ then. */
		free(add);
		free(rs);
		store_ix_free(&x);
		return;
	}
	/* Neighbours in msgs make one range: nothing between them is here. */
	for (i = 0; i < ndel; i++) {
		uint32_t uid = mb->msgs[del[i]].uid;

		mb->gone[mb->ngone++] = uid;
		if (nadd > 0 && del[i] == del[i - 1] + 1) {
			add[nadd - 1].hi = uid;
			continue;
		}
		add[nadd].lo = add[nadd].hi = uid;
		add[nadd++].modseq = ms;
	}
	qsort(mb->gone, mb->ngone, sizeof(*mb->gone), cmp_u32);
	mb->highestmodseq = ms;
	if (store_vanished_add(&mb->vanished, &mb->nvanished, &mb->vanished_floor, add, nadd) == -1)
		have = false;
	for (i = 0; i < nadd; i++) {
		rs[i].kind = 'x';
		rs[i].uid = add[i].lo;
		rs[i].hi = add[i].hi;
		rs[i].modseq = ms;
	}
	index_log(mb, have, disk, rs, nadd);
	free(add);
	free(rs);
	store_ix_free(&x);
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
	expunge_record(mb, del, ndel);
	/* Only what this call removed: a file another server expunged first
	 * was counted off by that server. */
	if (quota_expunged(dir, freed, nfreed) == -1)
		log_warn("quota: %s", dir);
out:
	buf_release(&journal);
	store_lock_drop(dir, lockfd);
	return err;
}
