/*
 * queue: the API of queue.h, and receiving: a transaction writes the
 * envelope and the message into tmp/<id> (or, for a direct delivery,
 * straight into the recipient's Maildir) until commit.c takes it over.
 *
 * Every message in the queue has a struct qmsg in memory holding its
 * envelope and per-recipient state, so the spool is read only at startup
 * (recover.c). The other jobs are in their own files (queue_int.h lists
 * them): commit.c makes a message durable, scheduler.c decides when it is
 * tried, attempt.c tries it, dsn.c reports on it.
 */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../deliver/maildir.h"
#include "../proto/smtp_cmd.h"
#include "../route/directory.h"
#include "queue_int.h"

double
queue_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum queue_err
queue_err_of(int err)
{
	return (err == ENOSPC || err == EDQUOT) ? QUEUE_ENOSPC : QUEUE_EIO;
}

void
queue_path(char out[QPATH_MAX], const char *dir, const char *id)
{
	snprintf(out, QPATH_MAX, "%s/%s", dir, id);
}

void
queue_msg_free(struct qmsg *m)
{
	size_t i;

	for (i = 0; m->last_error && i < m->env.nrcpts; i++)
		free(m->last_error[i]);
	free(m->last_error);
	envelope_clear(&m->env);
	free(m);
}

/* ------------------------------------------------------------- setup ---- */

static int
make_dir(const char *path, struct buf *errs)
{
	if (fileio_mkdirs(path) == -1) {
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

struct queue *
queue_open(struct event_base *base, struct iopool *pool,
    const struct config *cfg, struct buf *errs)
{
	struct queue *q = calloc(1, sizeof(*q));
	char root[QPATH_MAX];

	if (q == NULL)
		return NULL;
	q->base = base;
	q->pool = pool;
	q->cfg = cfg;
	q->syncfs = cfg->commit_syncfs;
	str_copy(q->mailhost, sizeof(q->mailhost), cfg->hostname);
	TAILQ_INIT(&q->ready);
	TAILQ_INIT(&q->held);
	TAILQ_INIT(&q->onhold);
	LIST_INIT(&q->running);
	/* Remote attempts mostly wait on the network, and remote.c limits
	 * their connections; local ones keep the I/O pool busy. */
	q->max_inflight = cfg->io_threads * 2 + cfg->max_outbound * 2;
	if (str_fmt(root, sizeof(root), "%s/queue", cfg->data_dir) == -1 ||
	    str_fmt(q->tmpdir, QPATH_MAX, "%s/tmp", root) == -1 ||
	    str_fmt(q->msgdir, QPATH_MAX, "%s/msg", root) == -1 ||
	    str_fmt(q->statedir, QPATH_MAX, "%s/state", root) == -1 ||
	    str_fmt(q->corruptdir, QPATH_MAX, "%s/corrupt", root) == -1 ||
	    str_fmt(q->holddir, QPATH_MAX, "%s/hold", root) == -1 ||
	    str_fmt(q->mailroot, QPATH_MAX, "%s/mail", cfg->data_dir) == -1) {
		buf_printf(errs, "data_dir %s: too long\n", cfg->data_dir);
		queue_free(&q);
		return NULL;
	}
	if (make_dir(q->tmpdir, errs) || make_dir(q->msgdir, errs) ||
	    make_dir(q->statedir, errs) || make_dir(q->corruptdir, errs) ||
	    make_dir(q->holddir, errs) || make_dir(q->mailroot, errs) ||
	    (q->group = commit_group_new(pool)) == NULL ||
	    scheduler_init(q) == -1) {
		queue_free(&q);
		return NULL;
	}
	return q;
}

void
queue_free(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	scheduler_free(q);
	attempt_free_running(q);
	commit_group_free(&q->group);
	free(q);
	*qp = NULL;
}

size_t
queue_count(const struct queue *q)
{
	return q->nmsgs;
}

void
queue_set_config(struct queue *q, const struct config *cfg)
{
	q->cfg = cfg;
	q->max_inflight = cfg->io_threads * 2 + cfg->max_outbound * 2;
}

void
queue_set_remote(struct queue *q, struct remote *r)
{
	q->remote = r;
}

void
queue_set_dkim(struct queue *q, struct keeper_signer *signer, const uint8_t *kinds,
    size_t n)
{
	q->signer = signer;
	q->dkim_kinds = kinds;
	q->ndkim = n;
}

void
queue_set_directory(struct queue *q, const struct directory *dir)
{
	q->dir = dir;
}

void
queue_stop(struct queue *q)
{
	q->stopping = true;
}

/* -------------------------------------------------- known Maildirs ------ */

static uint64_t
box_hash(const char *box)
{
	uint64_t h = 1469598103934665603ull;

	for (; *box; box++)
		h = (h ^ (unsigned char)*box) * 1099511628211ull;
	return h | 1;   /* 0 marks an empty slot */
}

bool
queue_box_known(const struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	return q->boxes[h % BOX_CACHE] == h;
}

void
queue_box_remember(struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	q->boxes[h % BOX_CACHE] = h;
}

void
queue_box_forget(struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	if (q->boxes[h % BOX_CACHE] == h)
		q->boxes[h % BOX_CACHE] = 0;
}

void
queue_quota_of(const struct queue *q, const char *addr, struct quota_limits *l)
{
	l->bytes = l->messages = 0;
	if (q->dir != NULL)
		(void)directory_quota(q->dir, addr, &l->bytes, &l->messages);
}

/* ------------------------------------------------------- receiving ------ */

/*
 * A message with one local recipient that asked for no success report is
 * written straight into that Maildir (maildir_open_tmp): its commit
 * (fsync, rename to its final name, fsync of that directory) is its
 * delivery, so a 250 still means "on stable storage", and the queue file,
 * its fsync and its removal are saved. Any failure to set this up falls
 * back to the queue.
 */
static bool
begin_direct(struct queue *q, struct queue_tx *tx, const struct envelope *env)
{
	const struct envelope_rcpt *r = &env->rcpts[0];
	struct buf prefix = BUF_INIT;

	/* With local_transport LMTP the Maildir is the mailbox server's. */
	if (!q->cfg->direct_delivery || env->nrcpts != 1 || !r->local ||
	    q->cfg->local_transport.kind != TRANSPORT_MAILDIR ||
	    (r->notify & SMTP_NOTIFY_SUCCESS) ||
	    maildir_path(q->mailroot, r->addr, tx->box, sizeof(tx->box)) == -1)
		return false;
	/* Only into a Maildir known to exist: making one (mkdir, fsync of the
	 * parents) is disk work the loop must not wait for, so a mailbox's
	 * first message goes through the queue, whose delivery on the pool
	 * makes the Maildir (attempt.c then remembers it). A Maildir removed
	 * behind the cache's back shows as ENOENT here: forget it and take
	 * the queue, which makes it again. (A Maildir damaged after the open
	 * is dealt with at the rename: commit.c's redo.) */
	if (!queue_box_known(q, tx->box))
		return false;
	tx->fd = maildir_open_tmp(tx->box, q->mailhost, tx->tmp_path,
	    tx->final_path, tx->sync_dir, QPATH_MAX);
	if (tx->fd == -1) {
		if (errno == ENOENT)
			queue_box_forget(q, tx->box);
		return false;
	}
	if (maildir_trace_prefix(&prefix, env->sender, r->addr) == -1 ||
	    fileio_write_all(tx->fd, prefix.data, prefix.len) == -1) {
		buf_release(&prefix);
		close(tx->fd);
		tx->fd = -1;
		unlink(tx->tmp_path);
		return false;
	}
	tx->prefix_len = prefix.len;
	buf_release(&prefix);
	/* Checked at the commit, when the size is known (commit.c). */
	queue_quota_of(q, r->addr, &tx->quota);
	tx->direct = true;
	return true;
}

static struct queue_tx *
tx_begin(struct queue *q, struct envelope *env, enum queue_err *err_r, bool may_direct)
{
	struct queue_tx *tx = calloc(1, sizeof(*tx));
	struct buf hdr = BUF_INIT;
	int tries;

	*err_r = QUEUE_EIO;
	if (tx == NULL)
		return NULL;
	tx->q = q;
	tx->fd = -1;
	tx->started = queue_now();
	ids_next_queue_id(&q->ids, env->id);
	if (may_direct && begin_direct(q, tx, env))
		goto ok;
	for (tries = 0; tries < 100; tries++) {
		if (tries > 0)
			ids_next_queue_id(&q->ids, env->id);
		queue_path(tx->tmp_path, q->tmpdir, env->id);
		tx->fd = open(tx->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (tx->fd != -1 || errno != EEXIST)
			break;
	}
	if (tx->fd == -1) {
		*err_r = queue_err_of(errno);
		log_warn("queue: create %s", tx->tmp_path);
		free(tx);
		return NULL;
	}
	queue_path(tx->final_path, q->msgdir, env->id);
	str_copy(tx->sync_dir, QPATH_MAX, q->msgdir);
	if (envelope_encode(env, &hdr) == -1 ||
	    fileio_write_all(tx->fd, hdr.data, hdr.len) == -1) {
		*err_r = hdr.data ? queue_err_of(errno) : QUEUE_EIO;
		log_warn("queue: write %s", tx->tmp_path);
		buf_release(&hdr);
		close(tx->fd);
		unlink(tx->tmp_path);
		free(tx);
		return NULL;
	}
	tx->hdr_len = hdr.len;
	buf_release(&hdr);
ok:
	tx->env = *env;
	memset(env, 0, sizeof(*env));
	*err_r = QUEUE_OK;
	return tx;
}

struct queue_tx *
queue_tx_begin(struct queue *q, struct envelope *env, enum queue_err *err_r)
{
	return tx_begin(q, env, err_r, true);
}

struct queue_tx *
queue_tx_begin_spool(struct queue *q, struct envelope *env, enum queue_err *err_r)
{
	return tx_begin(q, env, err_r, false);
}

const char *
queue_tx_id(const struct queue_tx *tx)
{
	return tx->env.id;
}

uint64_t
queue_tx_size(const struct queue_tx *tx)
{
	return tx->body_len;
}

enum queue_err
queue_tx_write(struct queue_tx *tx, const void *p, size_t n)
{
	if (tx->err != QUEUE_OK)
		return tx->err;
	if (fileio_write_all(tx->fd, p, n) == -1) {
		tx->sys_errno = errno;
		tx->err = queue_err_of(errno);
		log_warn("id=%s queue: write", tx->env.id);
		return tx->err;
	}
	tx->body_len += n;
	return QUEUE_OK;
}

enum queue_err
queue_tx_rewrite(struct queue_tx *tx, const void *ins, size_t inslen,
    const uint64_t (*drop)[2], size_t ndrop)
{
	char path[QPATH_MAX + 8];
	uint64_t start = tx->direct ? tx->prefix_len : tx->hdr_len, at = 0, dropped = 0;
	int src = -1, dst = -1;
	size_t i;

	if (tx->err != QUEUE_OK)
		return tx->err;
	if (str_fmt(path, sizeof(path), "%s.new", tx->tmp_path) == -1)
		goto fail;
	/* The file was opened write-only: a second descriptor reads it. */
	if ((src = open(tx->tmp_path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (dst = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_copy_range(src, 0, dst, start) == -1 ||
	    fileio_write_all(dst, ins, inslen) == -1)
		goto fail;
	for (i = 0; i < ndrop; i++) {
		if (drop[i][0] < at || drop[i][0] + drop[i][1] > tx->body_len)
			goto fail;
		if (fileio_copy_range(src, (off_t)(start + at), dst, drop[i][0] - at) == -1)
			goto fail;
		at = drop[i][0] + drop[i][1];
		dropped += drop[i][1];
	}
	if (fileio_copy_range(src, (off_t)(start + at), dst, tx->body_len - at) == -1 ||
	    rename(path, tx->tmp_path) == -1)
		goto fail;
	close(src);
	close(tx->fd);
	tx->fd = dst;
	tx->body_len = tx->body_len - dropped + inslen;
	return QUEUE_OK;
fail:
	tx->sys_errno = errno;
	tx->err = queue_err_of(errno);
	log_warn("id=%s queue: rewrite", tx->env.id);
	if (src != -1)
		close(src);
	if (dst != -1) {
		close(dst);
		unlink(path);
	}
	return tx->err;
}

void
queue_tx_abort(struct queue_tx **txp)
{
	struct queue_tx *tx = *txp;

	if (tx == NULL)
		return;
	if (tx->fd != -1) {
		close(tx->fd);
		unlink(tx->tmp_path);
	}
	envelope_clear(&tx->env);
	free(tx);
	*txp = NULL;
}
