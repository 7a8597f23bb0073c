/*
 * dirsync: batched directory fsyncs (see dirsync.h). At most one batch is
 * on the pool at a time; that is what makes the batching happen.
 */
#include "dirsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/str.h"
#include "../common/iopool.h"

struct ds_req {
	char *dir;
	char *tmp, *final;          /* dirsync_commit: rename between syncs */
	int fd;                     /* dirsync_commit: the file, or -1 */
	dirsync_cb cb;
	void *arg;
	int err;
	struct ds_req *next;
};

struct dirsync {
	struct iopool *pool;
	struct ds_req *pending, *pending_tail;  /* for the next batch, FIFO */
	struct ds_req *batch;                   /* on the pool */
	int freeing;
};

static void start_batch(struct dirsync *ds);

struct dirsync *
dirsync_new(struct iopool *pool)
{
	struct dirsync *ds = calloc(1, sizeof(*ds));

	if (ds)
		ds->pool = pool;
	return ds;
}

static void
free_list(struct ds_req *r)
{
	struct ds_req *next;

	for (; r; r = next) {
		next = r->next;
		free(r->dir);
		free(r->tmp);
		free(r->final);
		if (r->fd != -1)
			close(r->fd);
		free(r);
	}
}

void
dirsync_free(struct dirsync **dsp)
{
	struct dirsync *ds = *dsp;

	if (ds == NULL)
		return;
	free_list(ds->pending);
	ds->pending = ds->pending_tail = NULL;
	/* A batch still on the pool is freed by its completion. */
	if (ds->batch)
		ds->freeing = 1;
	else
		free(ds);
	*dsp = NULL;
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
sync_filesystems(struct ds_req *list, bool renamed)
{
	dev_t devs[MAX_DEVS];
	size_t ndevs = 0, i;
	struct ds_req *r;
	int err = 0;

	for (r = list; r; r = r->next) {
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

/* Pool thread: the batch's commits (sync, rename, sync), then an fsync of
 * each distinct directory named by plain requests. */
static void
batch_work(void *arg)
{
	struct dirsync *ds = arg;
	struct ds_req *r, *q;
	bool commits = false;
	int err;

	for (r = ds->batch; r; r = r->next)
		commits |= r->tmp != NULL;
	if (commits) {
		err = sync_filesystems(ds->batch, false);
		for (r = ds->batch; r; r = r->next) {
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
		if (err == 0 && (err = sync_filesystems(ds->batch, true)) != 0) {
			for (r = ds->batch; r; r = r->next) {
				if (r->tmp)
					r->err = err;
			}
		}
	}
	for (r = ds->batch; r; r = r->next) {
		int fd;

		if (r->tmp != NULL)
			continue;
		for (q = ds->batch; q != r; q = q->next) {
			if (q->tmp == NULL && strcmp(q->dir, r->dir) == 0)
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
}

static void
batch_done(void *arg)
{
	struct dirsync *ds = arg;
	struct ds_req *r, *list = ds->batch;

	ds->batch = NULL;
	if (ds->freeing) {
		free_list(list);
		free(ds);
		return;
	}
	/* Start the next batch first, so its fsync overlaps these callbacks. */
	if (ds->pending)
		start_batch(ds);
	for (r = list; r; r = r->next)
		r->cb(r->arg, r->err);
	free_list(list);
}

static void
start_batch(struct dirsync *ds)
{
	ds->batch = ds->pending;
	ds->pending = ds->pending_tail = NULL;
	if (iopool_submit(ds->pool, batch_work, batch_done, ds) == -1) {
		/* Out of memory: fail the batch rather than hang it. */
		struct ds_req *r, *list = ds->batch;

		ds->batch = NULL;
		for (r = list; r; r = r->next)
			r->cb(r->arg, ENOMEM);
		free_list(list);
	}
}

static int
enqueue(struct dirsync *ds, struct ds_req *r, dirsync_cb cb, void *arg)
{
	r->cb = cb;
	r->arg = arg;
	if (ds->pending_tail)
		ds->pending_tail->next = r;
	else
		ds->pending = r;
	ds->pending_tail = r;
	if (ds->batch == NULL)
		start_batch(ds);
	return 0;
}

int
dirsync_commit(struct dirsync *ds, int fd, const char *tmp, const char *final,
    dirsync_cb cb, void *arg)
{
	struct ds_req *r = calloc(1, sizeof(*r));
	const char *slash = strrchr(final, '/');

	if (r != NULL)
		r->fd = fd;
	else
		close(fd);
	if (r == NULL || slash == NULL ||
	    (r->dir = str_dupn(final, (size_t)(slash - final))) == NULL ||
	    (r->tmp = str_dup(tmp)) == NULL || (r->final = str_dup(final)) == NULL) {
		if (r)
			free_list(r);
		return -1;
	}
	return enqueue(ds, r, cb, arg);
}

int
dirsync_request(struct dirsync *ds, const char *dir, dirsync_cb cb, void *arg)
{
	struct ds_req *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->dir = str_dup(dir)) == NULL) {
		free(r);
		return -1;
	}
	r->fd = -1;
	return enqueue(ds, r, cb, arg);
}
