/*
 * dirsync: batched directory fsyncs (see dirsync.h). At most one batch is
 * on the pool at a time; that is what makes the batching happen.
 */
#include "dirsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/str.h"
#include "../daemon/iopool.h"

struct ds_req {
	char *dir;
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

/* Pool thread: fsync each distinct directory of the batch once. */
static void
batch_work(void *arg)
{
	struct dirsync *ds = arg;
	struct ds_req *r, *q;

	for (r = ds->batch; r; r = r->next) {
		int fd;

		for (q = ds->batch; q != r; q = q->next) {
			if (strcmp(q->dir, r->dir) == 0)
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

int
dirsync_request(struct dirsync *ds, const char *dir, dirsync_cb cb, void *arg)
{
	struct ds_req *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->dir = str_dup(dir)) == NULL) {
		free(r);
		return -1;
	}
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
