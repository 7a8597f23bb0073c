/*
 * commit: a message becomes durable here, and only then may the session
 * say 250 (DESIGN.md durability 1, docs/queue.md "Group commit").
 *
 * The steps, per sync mode (commit_sync):
 *
 *   fsync:   pool:  trailer, fsync(file), close, rename tmp -> final
 *            group: fsync(dir of final), shared by the batch
 *   syncfs:  pool:  trailer (the file is not fsync'd)
 *            group: syncfs, the file's own error check, rename, syncfs,
 *                   shared by the batch
 *
 * then commit_synced() reports the message (queued, or for a direct
 * delivery, delivered). A direct delivery whose recipient is over quota
 * becomes a queued message in the pool step (divert_to_queue). The group
 * keeps at most one batch on the I/O pool; whatever asks while it runs
 * goes in the next, so N concurrent commits cost one directory fsync (or
 * two syncfs), not N. Attempts use the same batches for their Maildir
 * and state/ fsyncs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../common/iopool.h"
#include "../deliver/maildir.h"
#include "../maillog/maillog.h"
#include "../metrics/metrics.h"
#include "queue_int.h"

/* ------------------------------------------------------ the group ------ */

struct group_req {
	char *dir;
	char *tmp, *final;          /* commit_group_rename: rename between syncs */
	int fd;                     /* commit_group_rename: the file, or -1 */
	commit_group_cb cb;
	void *arg;
	int err;
	STAILQ_ENTRY(group_req) link;
};

STAILQ_HEAD(group_reqs, group_req);

struct commit_group {
	struct iopool *pool;
	struct group_reqs pending;  /* for the next batch, FIFO */
	struct group_reqs batch;    /* on the pool (never empty while there) */
	bool freeing;
	double batch_secs;          /* the batch's sync time, set on the pool */
};

static void start_batch(struct commit_group *g);

struct commit_group *
commit_group_new(struct iopool *pool)
{
	struct commit_group *g = calloc(1, sizeof(*g));

	if (g) {
		g->pool = pool;
		STAILQ_INIT(&g->pending);
		STAILQ_INIT(&g->batch);
	}
	return g;
}

static void
req_free(struct group_req *r)
{
	free(r->dir);
	free(r->tmp);
	free(r->final);
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

static void
free_list(struct group_reqs *list)
{
	struct group_req *r;

	while ((r = STAILQ_FIRST(list)) != NULL) {
		STAILQ_REMOVE_HEAD(list, link);
		req_free(r);
	}
}

void
commit_group_free(struct commit_group **gp)
{
	struct commit_group *g = *gp;

	if (g == NULL)
		return;
	free_list(&g->pending);
	/* A batch still on the pool is freed by its completion. */
	if (!STAILQ_EMPTY(&g->batch))
		g->freeing = true;
	else
		free(g);
	*gp = NULL;
}

#define MAX_DEVS 8

/*
 * syncfs() once per filesystem among the batch's commits; a failed one
 * fails them all (it may have lost anyone's pages): returns its errno or
 * 0. Before the renames each file is reached through its own descriptor;
 * after them, through the directory of its new name, for the commits
 * whose rename succeeded. A directory that is not there (a Maildir
 * removed under us) fails its own commit only, never the batch.
 */
static int
sync_filesystems(struct group_reqs *list, bool renamed)
{
	dev_t devs[MAX_DEVS];
	size_t ndevs = 0, i;
	struct group_req *r;
	int err = 0;

	STAILQ_FOREACH(r, list, link) {
		struct stat st;
		int fd = r->fd;

		if (r->tmp == NULL || (renamed && r->err != 0))
			continue;
		if (renamed && (fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			r->err = errno;
			continue;
		}
		if (fstat(fd, &st) == 0) {
			for (i = 0; i < ndevs && devs[i] != st.st_dev; i++)
				;
			if (i == ndevs) {
				if (syncfs(fd) == -1)
					err = errno;
				if (ndevs < MAX_DEVS)
					devs[ndevs++] = st.st_dev;
			}
		}
		if (renamed)
			close(fd);
	}
	return err;
}

/* Pool thread: the batch's renames (sync, rename, sync), then an fsync of
 * each distinct directory named by plain requests. */
static void
batch_work(void *arg)
{
	struct commit_group *g = arg;
	struct group_req *r, *q;
	bool renames = false;
	double start = metrics_now();   /* a clock read: safe on any thread */
	int err;

	STAILQ_FOREACH(r, &g->batch, link)
		renames |= r->tmp != NULL;
	if (renames) {
		err = sync_filesystems(&g->batch, false);
		STAILQ_FOREACH(r, &g->batch, link) {
			if (r->tmp == NULL)
				continue;
			/* A failed syncfs may have lost anyone's pages: fail all.
			 * The file's own check catches an error that a syncfs
			 * reported elsewhere: nothing is left to write, so this
			 * only reads the error state (AS_EIO). */
			if ((r->err = err) == 0 && sync_file_range(r->fd, 0, 0,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) == -1)
				r->err = errno;
			if (close(r->fd) == -1 && r->err == 0)
				r->err = errno;
			r->fd = -1;
			if (r->err == 0 && renameat2(AT_FDCWD, r->tmp, AT_FDCWD,
			    r->final, RENAME_NOREPLACE) == -1)
				r->err = errno;
		}
		if (err == 0 && (err = sync_filesystems(&g->batch, true)) != 0) {
			STAILQ_FOREACH(r, &g->batch, link) {
				if (r->tmp)
					r->err = err;
			}
		}
	}
	STAILQ_FOREACH(r, &g->batch, link) {
		int fd;

		if (r->tmp != NULL)
			continue;
		/* One fsync per directory: an earlier request for it answers. */
		STAILQ_FOREACH(q, &g->batch, link) {
			if (q == r || (q->tmp == NULL && strcmp(q->dir, r->dir) == 0))
				break;
		}
		if (q != r) {
			r->err = q->err;
			continue;
		}
		if ((fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			r->err = errno;
			continue;
		}
		r->err = fsync(fd) == -1 ? errno : 0;
		close(fd);
	}
	/* Read by batch_done on the loop, after the pool hands the job back;
	 * the registry itself is the loop's. */
	g->batch_secs = metrics_now() - start;
}

static void
batch_done(void *arg)
{
	struct commit_group *g = arg;
	struct group_reqs list = STAILQ_HEAD_INITIALIZER(list);
	struct group_req *r;

	STAILQ_CONCAT(&list, &g->batch);
	if (g->freeing) {
		free_list(&list);
		free(g);
		return;
	}
	metrics_commit_observe(g->batch_secs);
	/* Start the next batch first, so its fsync overlaps these callbacks. */
	if (!STAILQ_EMPTY(&g->pending))
		start_batch(g);
	STAILQ_FOREACH(r, &list, link)
		r->cb(r->arg, r->err);
	free_list(&list);
}

static void
start_batch(struct commit_group *g)
{
	STAILQ_CONCAT(&g->batch, &g->pending);
	if (iopool_submit(g->pool, batch_work, batch_done, g) == -1) {
		/* Out of memory: fail the batch rather than hang it. */
		struct group_reqs list = STAILQ_HEAD_INITIALIZER(list);
		struct group_req *r;

		STAILQ_CONCAT(&list, &g->batch);
		STAILQ_FOREACH(r, &list, link)
			r->cb(r->arg, ENOMEM);
		free_list(&list);
	}
}

static int
enqueue(struct commit_group *g, struct group_req *r, commit_group_cb cb,
    void *arg)
{
	r->cb = cb;
	r->arg = arg;
	STAILQ_INSERT_TAIL(&g->pending, r, link);
	if (STAILQ_EMPTY(&g->batch))
		start_batch(g);
	return 0;
}

/*
 * The syncfs mode's step (commit_sync syncfs): the file at tmp is written,
 * not fsync'd; fd is its descriptor, opened before it was written, which
 * the group closes (it asks it for the file's own writeback errors, which
 * a syncfs may have reported to another caller). For a whole batch:
 * syncfs() of each filesystem involved (the files' data and inodes are on
 * disk), then every rename tmp -> final (never replacing), then syncfs()
 * again (the new names are on disk). Two device flushes per batch instead
 * of one per file; the data is durable before its name appears, so no
 * half-written file is ever visible after a crash. A final directory that
 * is missing fails that commit alone (ENOENT), never the batch.
 */
int
commit_group_rename(struct commit_group *g, int fd, const char *tmp,
    const char *final, commit_group_cb cb, void *arg)
{
	struct group_req *r = calloc(1, sizeof(*r));
	const char *slash = strrchr(final, '/');

	if (r != NULL)
		r->fd = fd;
	else
		close(fd);
	if (r == NULL || slash == NULL ||
	    (r->dir = str_dupn(final, (size_t)(slash - final))) == NULL ||
	    (r->tmp = str_dup(tmp)) == NULL || (r->final = str_dup(final)) == NULL) {
		if (r)
			req_free(r);
		return -1;
	}
	return enqueue(g, r, cb, arg);
}

int
commit_group_sync_dir(struct commit_group *g, const char *dir,
    commit_group_cb cb, void *arg)
{
	struct group_req *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->dir = str_dup(dir)) == NULL) {
		free(r);
		return -1;
	}
	r->fd = -1;
	return enqueue(g, r, cb, arg);
}

/* ------------------------------------------------------ a message ------ */

static void commit_fail(struct queue_tx *tx, bool after_rename);

static void
commit_report(struct queue_tx *tx, enum queue_err err, const char *id)
{
	if (tx->icb)
		tx->icb(tx->iarg, err, id);
	else
		tx->cb(tx->cookie, err, id);
}

/*
 * Pool thread: a direct delivery whose recipient is over quota becomes a
 * queued message: the envelope and the body (the Maildir file without the
 * trace fields in front) go into tmp/<id> as queue_tx_begin would have
 * written them, the Maildir file goes, and the commit goes on as a
 * queued one's. Its attempt then defers it (4.2.2) until it fits or its
 * lifetime ends, or bounces it at once (5.2.2), as for any delivery; the
 * client gets its 250 for a message that is durable in the queue. -1
 * with errno when it cannot be done (the client gets a 4xx).
 */
static int
divert_to_queue(struct queue_tx *tx)
{
	struct queue *q = tx->q;
	char qtmp[QPATH_MAX];
	struct buf hdr = BUF_INIT;
	int src = -1, dst, err;

	queue_path(qtmp, q->tmpdir, tx->env.id);
	if ((dst = open(qtmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (envelope_encode(&tx->env, &hdr) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	if (fileio_write_all(dst, hdr.data, hdr.len) == -1 ||
	    (src = open(tx->tmp_path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fileio_copy_range(src, (off_t)tx->prefix_len, dst, tx->body_len) == -1)
		goto fail;
	close(src);
	close(tx->fd);
	(void)unlink(tx->tmp_path);
	tx->fd = dst;
	tx->hdr_len = hdr.len;
	tx->direct = false;
	str_copy(tx->tmp_path, QPATH_MAX, qtmp);
	queue_path(tx->final_path, q->msgdir, tx->env.id);
	str_copy(tx->sync_dir, QPATH_MAX, q->msgdir);
	buf_release(&hdr);
	return 0;
fail:
	err = errno;
	if (src != -1)
		close(src);
	close(dst);
	(void)unlink(qtmp);
	buf_release(&hdr);
	errno = err;
	return -1;
}

void
queue_tx_set_folder(struct queue_tx *tx, const char *folder)
{
	str_copy(tx->folder, sizeof(tx->folder), folder);
}

/* Pool thread: a direct delivery's final name moves into its folder's
 * new/ when that folder is there (the tmp/ file stays where it is: one
 * filesystem, so the rename is as atomic), and that new/ is what gets
 * synced. */
static void
direct_to_folder(struct queue_tx *tx)
{
	char newdir[QPATH_MAX], name[QPATH_MAX];
	const char *slash = strrchr(tx->final_path, '/');
	struct stat st;

	if (slash == NULL || tx->folder[0] != '.' || strchr(tx->folder, '/') ||
	    str_copy(name, sizeof(name), slash + 1) == -1 ||
	    str_fmt(newdir, sizeof(newdir), "%s/%s/new", tx->box, tx->folder) == -1 ||
	    stat(newdir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    str_fmt(tx->final_path, QPATH_MAX, "%s/%s", newdir, name) == -1)
		return;
	str_copy(tx->sync_dir, QPATH_MAX, newdir);
}

/* Pool thread: trailer, fsync, rename to the final name (msg/<id>, or
 * for a direct delivery the one maildir_open_tmp gave). */
static void
commit_work(void *arg)
{
	struct queue_tx *tx = arg;
	char trailer[ENVELOPE_TRAILER_LEN + 1];
	bool batched = tx->q->syncfs;
	struct maildir_result over;

	if (tx->err != QUEUE_OK)
		return;
	/* The quota is asked here, where the size is known; the delivery is
	 * added to it once durable (direct_quota_work). */
	if (tx->direct && maildir_quota_check(tx->box, &tx->quota,
	    tx->prefix_len + tx->body_len, &over) == -1 && divert_to_queue(tx) == -1) {
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
		return;
	}
	envelope_trailer(tx->body_len, trailer);
	if ((!tx->direct && fileio_write_all(tx->fd, trailer, ENVELOPE_TRAILER_LEN) == -1) ||
	    (!batched && fsync(tx->fd) == -1)) {
		/* Never fsync this file again: the kernel may have dropped the
		 * dirty pages. It is discarded and the client told 4xx. */
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
		return;
	}
	if (tx->direct)
		maildir_name_add_size(tx->final_path, QPATH_MAX,
		    tx->prefix_len + tx->body_len);
	if (tx->direct && tx->folder[0])
		direct_to_folder(tx);
	/* Batched, the data and the rename are made durable by the group's
	 * syncfs-rename-syncfs (commit_done), which takes the descriptor to
	 * check this file's own writeback errors. */
	if (batched)
		return;
	if (close(tx->fd) == -1) {
		tx->fd = -1;
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
		return;
	}
	tx->fd = -1;
	/* RENAME_NOREPLACE: an id (or Maildir name) is never reused, even if
	 * the clock stepped back; a clash is a failed commit, not a loss. */
	if (renameat2(AT_FDCWD, tx->tmp_path, AT_FDCWD, tx->final_path,
	    RENAME_NOREPLACE) == -1) {
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
	}
}

/* Pool thread: a direct delivery, durable now, added to its quota. */
static void
direct_quota_work(void *arg)
{
	struct queue_tx *tx = arg;

	if (quota_add(tx->box, (int64_t)(tx->prefix_len + tx->body_len), 1) == -1)
		log_warn("id=%s quota: %s", tx->env.id, tx->box);
}

static void
direct_quota_done(void *arg)
{
	struct queue_tx *tx = arg;

	envelope_clear(&tx->env);
	free(tx);
}

static void
commit_synced(void *arg, int err)
{
	struct queue_tx *tx = arg;
	struct queue *q = tx->q;
	struct qmsg *m;

	if (err != 0) {
		tx->sys_errno = err;
		tx->err = queue_err_of(err);
		commit_fail(tx, true);
		return;
	}
	if (tx->direct) {
		const struct envelope_rcpt *r = &tx->env.rcpts[0];

		commit_report(tx, QUEUE_OK, tx->env.id);
		maillog_delivery(tx->env.id, r->addr, r->orig, "local", NULL,
		    queue_now() - tx->started, "2.0.0", "sent", "delivered to maildir");
		if (quota_limited(&tx->quota) &&
		    iopool_submit(q->pool, direct_quota_work, direct_quota_done, tx) == 0)
			return;
		direct_quota_done(tx);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, true);
		return;
	}
	m->env = tx->env;
	m->body_off = tx->hdr_len;
	m->body_len = tx->body_len;
	m->arrival = queue_now();
	m->heap_idx = SIZE_MAX;
	q->nmsgs++;
	commit_report(tx, QUEUE_OK, m->env.id);
	free(tx);
	scheduler_add(q, m, 0);
	scheduler_pump(q);
}

/* Pool thread: the Maildir again, then the rename once more. The file's
 * data was made durable before the first rename was tried. */
static void
redo_work(void *arg)
{
	struct queue_tx *tx = arg;

	if (maildir_create(tx->box) == -1 || renameat2(AT_FDCWD, tx->tmp_path,
	    AT_FDCWD, tx->final_path, RENAME_NOREPLACE) == -1) {
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
		return;
	}
	tx->err = QUEUE_OK;
}

static void
redo_done(void *arg)
{
	struct queue_tx *tx = arg;

	if (tx->err != QUEUE_OK) {
		commit_fail(tx, false);
		return;
	}
	queue_box_remember(tx->q, tx->box);
	if (commit_group_sync_dir(tx->q->group, tx->sync_dir, commit_synced, tx) == -1) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, true);
	}
}

/*
 * A direct delivery whose rename found no target directory (ENOENT): its
 * Maildir was removed or damaged behind the cache of known Maildirs.
 * Rather than answer 451 until a restart, the cache entry goes and the
 * rename is tried once more after maildir_create made it again.
 */
static bool
redo_direct(struct queue_tx *tx)
{
	if (!tx->direct || tx->redone || tx->sys_errno != ENOENT || tx->fd != -1)
		return false;
	tx->redone = true;
	queue_box_forget(tx->q, tx->box);
	return iopool_submit(tx->q->pool, redo_work, redo_done, tx) == 0;
}

static void
commit_fail(struct queue_tx *tx, bool after_rename)
{
	if (redo_direct(tx))
		return;
	errno = tx->sys_errno;
	log_warn("id=%s queue: commit failed", tx->env.id);
	if (tx->fd != -1)
		close(tx->fd);
	/* After a batched commit failed, either name may be the file. */
	if (after_rename || tx->q->syncfs)
		unlink(tx->final_path);
	if (!after_rename || tx->q->syncfs)
		unlink(tx->tmp_path);
	commit_report(tx, tx->err, tx->env.id);
	envelope_clear(&tx->env);
	free(tx);
}

static void
commit_done(void *arg)
{
	struct queue_tx *tx = arg;

	if (tx->err != QUEUE_OK) {
		commit_fail(tx, false);
		return;
	}
	if (tx->q->syncfs) {
		int fd = tx->fd;

		tx->fd = -1;   /* commit_group_rename closes it */
		if (commit_group_rename(tx->q->group, fd, tx->tmp_path,
		    tx->final_path, commit_synced, tx) == 0)
			return;
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, false);
		return;
	}
	if (commit_group_sync_dir(tx->q->group, tx->sync_dir, commit_synced, tx) == -1) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, true);
	}
}

void
queue_tx_commit(struct queue_tx *tx, queue_commit_cb cb, uint64_t cookie)
{
	tx->cb = cb;
	tx->cookie = cookie;
	if (iopool_submit(tx->q->pool, commit_work, commit_done, tx) == -1) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, false);
	}
}

void
queue_tx_commit_internal(struct queue_tx *tx,
    void (*cb)(void *, enum queue_err, const char *), void *arg)
{
	tx->icb = cb;
	tx->iarg = arg;
	queue_tx_commit(tx, NULL, 0);
}
