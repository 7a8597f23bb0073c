/*
 * queue: receive, commit, recover, schedule and deliver (see queue.h).
 *
 * Every message in the queue has a struct qmsg in memory holding its
 * envelope and per-recipient state, so the spool is read only at startup.
 * Waiting messages sit in a binary heap by next attempt time, with one
 * libevent timer for the earliest: the cost per tick does not grow with the
 * number of waiting messages. Deliveries run on the I/O pool, at most
 * max_inflight at a time; new-/ directory fsyncs are batched by dirsync,
 * exactly as commits are.
 */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../daemon/iopool.h"
#include "../deliver/maildir.h"
#include "../deliver/remote.h"
#include "../proto/smtp_cmd.h"
#include "../route/router.h"
#include "../policy/dkim_sign.h"
#include "../privsep/keeper_client.h"
#include "bounce.h"
#include "dsn.h"
#include "../maillog/maillog.h"
#include "dirsync.h"
#include "queue_state.h"

#define QPATH_MAX 1200
#define BOX_CACHE 1024

struct qmsg {
	struct envelope env;
	uint64_t body_off;      /* where the message starts in msg/<id> */
	uint64_t body_len;
	double arrival;         /* for delay= in the logs */
	int64_t next_try;       /* unix seconds */
	unsigned attempts;
	size_t heap_idx;        /* SIZE_MAX when not in the heap */
	bool busy;              /* a delivery job owns it */
	bool warned;            /* a delay DSN went out ("w" in state/<id>) */
	bool has_state;         /* state/<id> exists */
	struct qmsg *ready_next;
	char held_domain[256];  /* while on the held list */
};

struct queue {
	struct event_base *base;
	struct iopool *pool;
	const struct config *cfg;
	struct dirsync *ds;
	struct ids ids;
	char tmpdir[QPATH_MAX], msgdir[QPATH_MAX], statedir[QPATH_MAX];
	char corruptdir[QPATH_MAX], mailroot[QPATH_MAX];

	struct qmsg **heap;
	size_t nheap, heapcap;
	struct qmsg *ready_head, *ready_tail;
	/* Due messages whose every destination is saturated (remote.c's
	 * per-destination limit): they wait here, not in attempt slots, and
	 * go back to ready when a delivery to held_domain ends. */
	struct qmsg *held_head, *held_tail;
	int inflight, max_inflight;
	struct event *timer;
	size_t nmsgs;
	bool stopping;          /* no new deliveries: shutting down */
	struct remote *remote;  /* NULL: remote recipients wait */
	struct keeper_signer *signer;   /* DKIM keys live in the keeper */
	const uint8_t *dkim_kinds;      /* per cfg->dkim[]: KEEPER_KEY_* */
	size_t ndkim;
	const struct directory *dir;
	struct djob *djobs;     /* attempts running; they own their messages */
	uint64_t boxes[BOX_CACHE];  /* hashes of Maildirs known to exist */
};

struct queue_tx {
	struct queue *q;
	struct envelope env;
	int fd;
	uint64_t hdr_len, body_len;
	enum queue_err err;
	int sys_errno;
	queue_commit_cb cb;
	uint64_t cookie;
	/* Where the octets go and where they end up. A queued message goes
	 * tmp/<id> -> msg/<id>; a direct delivery (see queue_tx_begin) goes
	 * <maildir>/tmp/<name> -> <maildir>/new/<name>,S=<size>. */
	char tmp_path[QPATH_MAX], final_path[QPATH_MAX], sync_dir[QPATH_MAX];
	bool direct;
	bool redone;            /* direct: the rename was tried again */
	size_t prefix_len;
	double started;
	/* queue-internal commits (DSNs) report here instead */
	void (*icb)(void *arg, enum queue_err err, const char *id);
	void *iarg;
};

struct djob;

static void pump(struct queue *q);
static void commit_report(struct queue_tx *tx, enum queue_err err, const char *id);
static void commit_fail(struct queue_tx *tx, bool after_rename);
static void commit_synced(void *arg, int err);
static void queue_tx_commit_internal(struct queue_tx *tx,
    void (*cb)(void *, enum queue_err, const char *), void *arg);
static void schedule(struct queue *q, struct qmsg *m, int64_t when);
static void finish_attempt(struct djob *j);
static void finish_done(void *arg);
static void free_running(struct queue *q);

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum queue_err
classify(int err)
{
	return (err == ENOSPC || err == EDQUOT) ? QUEUE_ENOSPC : QUEUE_EIO;
}

static void
path_of(char *out, const char *dir, const char *id)
{
	snprintf(out, QPATH_MAX, "%s/%s", dir, id);
}

static void
qmsg_free(struct qmsg *m)
{
	envelope_clear(&m->env);
	free(m);
}

/* ------------------------------------------------------------ the heap -- */

static void
heap_swap(struct queue *q, size_t a, size_t b)
{
	struct qmsg *t = q->heap[a];

	q->heap[a] = q->heap[b];
	q->heap[b] = t;
	q->heap[a]->heap_idx = a;
	q->heap[b]->heap_idx = b;
}

static void
heap_up(struct queue *q, size_t i)
{
	while (i > 0 && q->heap[(i - 1) / 2]->next_try > q->heap[i]->next_try) {
		heap_swap(q, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct queue *q, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < q->nheap && q->heap[l]->next_try < q->heap[m]->next_try)
			m = l;
		if (r < q->nheap && q->heap[r]->next_try < q->heap[m]->next_try)
			m = r;
		if (m == i)
			return;
		heap_swap(q, i, m);
		i = m;
	}
}

static int
heap_push(struct queue *q, struct qmsg *m)
{
	if (q->nheap == q->heapcap) {
		size_t cap = q->heapcap ? q->heapcap * 2 : 64;
		struct qmsg **p = realloc(q->heap, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		q->heap = p;
		q->heapcap = cap;
	}
	q->heap[q->nheap] = m;
	m->heap_idx = q->nheap++;
	heap_up(q, m->heap_idx);
	return 0;
}

static struct qmsg *
heap_pop(struct queue *q)
{
	struct qmsg *m = q->heap[0];

	heap_swap(q, 0, --q->nheap);
	if (q->nheap)
		heap_down(q, 0);
	m->heap_idx = SIZE_MAX;
	return m;
}

static void
arm_timer(struct queue *q)
{
	struct timeval tv = { 0, 0 };
	int64_t now = (int64_t)time(NULL);

	if (q->nheap == 0) {
		event_del(q->timer);
		return;
	}
	if (q->heap[0]->next_try > now)
		tv.tv_sec = q->heap[0]->next_try - now;
	event_add(q->timer, &tv);
}

static void
ready_push(struct queue *q, struct qmsg *m)
{
	m->ready_next = NULL;
	if (q->ready_tail)
		q->ready_tail->ready_next = m;
	else
		q->ready_head = m;
	q->ready_tail = m;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	int64_t now = (int64_t)time(NULL);

	(void)fd;
	(void)what;
	while (q->nheap && q->heap[0]->next_try <= now)
		ready_push(q, heap_pop(q));
	arm_timer(q);
	pump(q);
}

static void
schedule(struct queue *q, struct qmsg *m, int64_t when)
{
	m->next_try = when;
	if (when <= (int64_t)time(NULL)) {
		ready_push(q, m);
		return;
	}
	if (heap_push(q, m) == -1) {
		/* Out of memory: try again now rather than forget it. */
		ready_push(q, m);
		return;
	}
	if (m->heap_idx == 0)
		arm_timer(q);
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
	/* Remote attempts mostly wait on the network, and remote.c limits
	 * their connections; local ones keep the I/O pool busy. */
	q->max_inflight = cfg->io_threads * 2 + cfg->max_outbound * 2;
	snprintf(root, sizeof(root), "%s/queue", cfg->data_dir);
	snprintf(q->tmpdir, QPATH_MAX, "%s/tmp", root);
	snprintf(q->msgdir, QPATH_MAX, "%s/msg", root);
	snprintf(q->statedir, QPATH_MAX, "%s/state", root);
	snprintf(q->corruptdir, QPATH_MAX, "%s/corrupt", root);
	snprintf(q->mailroot, QPATH_MAX, "%s/mail", cfg->data_dir);
	if (make_dir(q->tmpdir, errs) || make_dir(q->msgdir, errs) ||
	    make_dir(q->statedir, errs) || make_dir(q->corruptdir, errs) ||
	    make_dir(q->mailroot, errs) ||
	    (q->ds = dirsync_new(pool)) == NULL ||
	    (q->timer = evtimer_new(base, on_timer, q)) == NULL) {
		queue_free(&q);
		return NULL;
	}
	return q;
}

void
queue_free(struct queue **qp)
{
	struct queue *q = *qp;
	struct qmsg *m, *next;
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < q->nheap; i++)
		qmsg_free(q->heap[i]);
	free(q->heap);
	for (m = q->ready_head; m; m = next) {
		next = m->ready_next;
		qmsg_free(m);
	}
	for (m = q->held_head; m; m = next) {
		next = m->ready_next;
		qmsg_free(m);
	}
	free_running(q);
	if (q->timer)
		event_free(q->timer);
	dirsync_free(&q->ds);
	free(q);
	*qp = NULL;
}

size_t
queue_count(const struct queue *q)
{
	return q->nmsgs;
}

/* ------------------------------------------------------- receiving ------ */

static uint64_t
box_hash(const char *box)
{
	uint64_t h = 1469598103934665603ull;

	for (; *box; box++)
		h = (h ^ (unsigned char)*box) * 1099511628211ull;
	return h | 1;   /* 0 marks an empty slot */
}

static bool
box_known(const struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	return q->boxes[h % BOX_CACHE] == h;
}

static void
box_remember(struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	q->boxes[h % BOX_CACHE] = h;
}

static void
box_forget(struct queue *q, const char *box)
{
	uint64_t h = box_hash(box);

	if (q->boxes[h % BOX_CACHE] == h)
		q->boxes[h % BOX_CACHE] = 0;
}

/*
 * A message with one local recipient that asked for no success report is
 * written straight into that Maildir: its commit (fsync, rename into new/,
 * fsync of new/) is its delivery, so a 250 still means "on stable
 * storage", and the queue file, its fsync and its removal are saved. Any
 * failure to set this up falls back to the queue.
 */
static bool
begin_direct(struct queue *q, struct queue_tx *tx, const struct envelope *env)
{
	const struct envelope_rcpt *r = &env->rcpts[0];
	char box[QPATH_MAX];
	struct buf prefix = BUF_INIT;

	if (!q->cfg->direct_delivery || env->nrcpts != 1 || !r->local ||
	    (r->notify & SMTP_NOTIFY_SUCCESS) ||
	    maildir_path(q->mailroot, r->addr, box, sizeof(box)) == -1)
		return false;
	snprintf(tx->sync_dir, QPATH_MAX, "%s/new", box);
	/* Only into a Maildir known to exist: making one (mkdir, fsync of the
	 * parents) is disk work the loop must not wait for, so a mailbox's
	 * first message goes through the queue, whose delivery on the pool
	 * makes the Maildir (local_done then remembers it). A Maildir removed
	 * behind the cache's back shows as ENOENT here: forget it and take
	 * the queue, which makes it again. (A new/ removed after the open is
	 * dealt with at the rename: redo_work.) */
	if (!box_known(q, box))
		return false;
	tx->fd = maildir_open_tmp(box, q->cfg->hostname, tx->tmp_path,
	    tx->final_path, QPATH_MAX);
	if (tx->fd == -1) {
		if (errno == ENOENT)
			box_forget(q, box);
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
	tx->direct = true;
	return true;
}

struct queue_tx *
queue_tx_begin(struct queue *q, struct envelope *env, enum queue_err *err_r)
{
	struct queue_tx *tx = calloc(1, sizeof(*tx));
	struct buf hdr = BUF_INIT;
	int tries;

	*err_r = QUEUE_EIO;
	if (tx == NULL)
		return NULL;
	tx->q = q;
	tx->fd = -1;
	tx->started = now_real();
	ids_next_queue_id(&q->ids, env->id);
	if (begin_direct(q, tx, env))
		goto ok;
	for (tries = 0; tries < 100; tries++) {
		if (tries > 0)
			ids_next_queue_id(&q->ids, env->id);
		path_of(tx->tmp_path, q->tmpdir, env->id);
		tx->fd = open(tx->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (tx->fd != -1 || errno != EEXIST)
			break;
	}
	if (tx->fd == -1) {
		*err_r = classify(errno);
		log_warn("queue: create %s", tx->tmp_path);
		free(tx);
		return NULL;
	}
	path_of(tx->final_path, q->msgdir, env->id);
	str_copy(tx->sync_dir, QPATH_MAX, q->msgdir);
	if (envelope_encode(env, &hdr) == -1 ||
	    fileio_write_all(tx->fd, hdr.data, hdr.len) == -1) {
		*err_r = hdr.data ? classify(errno) : QUEUE_EIO;
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
		tx->err = classify(errno);
		log_warn("id=%s queue: write", tx->env.id);
		return tx->err;
	}
	tx->body_len += n;
	return QUEUE_OK;
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

/* Pool thread: trailer, fsync, rename into msg/ (or new/). */
static void
commit_work(void *arg)
{
	struct queue_tx *tx = arg;
	char trailer[ENVELOPE_TRAILER_LEN + 1];
	bool batched = tx->q->cfg->commit_syncfs;

	if (tx->err != QUEUE_OK)
		return;
	envelope_trailer(tx->body_len, trailer);
	if ((!tx->direct && fileio_write_all(tx->fd, trailer, ENVELOPE_TRAILER_LEN) == -1) ||
	    (!batched && fsync(tx->fd) == -1)) {
		/* Never fsync this file again: the kernel may have dropped the
		 * dirty pages. It is discarded and the client told 4xx. */
		tx->sys_errno = errno;
		tx->err = classify(errno);
		return;
	}
	if (tx->direct)
		maildir_name_add_size(tx->final_path, QPATH_MAX,
		    tx->prefix_len + tx->body_len);
	/* Batched, the data and the rename are made durable by dirsync's
	 * syncfs-rename-syncfs (commit_done), which takes the descriptor to
	 * check this file's own writeback errors. */
	if (batched)
		return;
	if (close(tx->fd) == -1) {
		tx->fd = -1;
		tx->sys_errno = errno;
		tx->err = classify(errno);
		return;
	}
	tx->fd = -1;
	/* RENAME_NOREPLACE: an id (or Maildir name) is never reused, even if
	 * the clock stepped back; a clash is a failed commit, not a loss. */
	if (renameat2(AT_FDCWD, tx->tmp_path, AT_FDCWD, tx->final_path,
	    RENAME_NOREPLACE) == -1) {
		tx->sys_errno = errno;
		tx->err = classify(errno);
	}
}

/* The Maildir of a direct delivery: sync_dir without its "/new". */
static void
direct_box(const struct queue_tx *tx, char box[QPATH_MAX])
{
	size_t n = strlen(tx->sync_dir);

	str_copyn(box, QPATH_MAX, tx->sync_dir, n > 4 ? n - 4 : 0);
}

/* Pool thread: the Maildir again, then the rename once more. The file's
 * data was made durable before the first rename was tried. */
static void
redo_work(void *arg)
{
	struct queue_tx *tx = arg;
	char box[QPATH_MAX];

	direct_box(tx, box);
	if (maildir_create(box) == -1 || renameat2(AT_FDCWD, tx->tmp_path,
	    AT_FDCWD, tx->final_path, RENAME_NOREPLACE) == -1) {
		tx->sys_errno = errno;
		tx->err = classify(errno);
		return;
	}
	tx->err = QUEUE_OK;
}

static void
redo_done(void *arg)
{
	struct queue_tx *tx = arg;
	char box[QPATH_MAX];

	if (tx->err != QUEUE_OK) {
		commit_fail(tx, false);
		return;
	}
	direct_box(tx, box);
	box_remember(tx->q, box);
	if (dirsync_request(tx->q->ds, tx->sync_dir, commit_synced, tx) == -1) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, true);
	}
}

/*
 * A direct delivery whose rename found no new/ (ENOENT): its Maildir was
 * removed or damaged behind the cache of known Maildirs. Rather than
 * answer 451 until a restart, the cache entry goes and the rename is
 * tried once more after the directories are created again.
 */
static bool
redo_direct(struct queue_tx *tx)
{
	char box[QPATH_MAX];

	if (!tx->direct || tx->redone || tx->sys_errno != ENOENT || tx->fd != -1)
		return false;
	tx->redone = true;
	direct_box(tx, box);
	box_forget(tx->q, box);
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
	if (after_rename || tx->q->cfg->commit_syncfs)
		unlink(tx->final_path);
	if (!after_rename || tx->q->cfg->commit_syncfs)
		unlink(tx->tmp_path);
	commit_report(tx, tx->err, tx->env.id);
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
		tx->err = classify(err);
		commit_fail(tx, true);
		return;
	}
	if (tx->direct) {
		const struct envelope_rcpt *r = &tx->env.rcpts[0];

		commit_report(tx, QUEUE_OK, tx->env.id);
		maillog_delivery(tx->env.id, r->addr, r->orig, "local", NULL,
		    now_real() - tx->started, "2.0.0", "sent", "delivered to maildir");
		envelope_clear(&tx->env);
		free(tx);
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
	m->arrival = now_real();
	m->heap_idx = SIZE_MAX;
	q->nmsgs++;
	commit_report(tx, QUEUE_OK, m->env.id);
	free(tx);
	schedule(q, m, 0);
	pump(q);
}

static void
commit_done(void *arg)
{
	struct queue_tx *tx = arg;

	if (tx->err != QUEUE_OK) {
		commit_fail(tx, false);
		return;
	}
	if (tx->q->cfg->commit_syncfs) {
		int fd = tx->fd;

		tx->fd = -1;   /* dirsync_commit closes it */
		if (dirsync_commit(tx->q->ds, fd, tx->tmp_path, tx->final_path,
		    commit_synced, tx) == 0)
			return;
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, false);
		return;
	}
	if (dirsync_request(tx->q->ds, tx->sync_dir, commit_synced, tx) == -1) {
		tx->sys_errno = ENOMEM;
		tx->err = QUEUE_EIO;
		commit_fail(tx, true);
	}
}

static void
commit_report(struct queue_tx *tx, enum queue_err err, const char *id)
{
	if (tx->icb)
		tx->icb(tx->iarg, err, id);
	else
		tx->cb(tx->cookie, err, id);
}

static void
queue_tx_commit_internal(struct queue_tx *tx,
    void (*cb)(void *, enum queue_err, const char *), void *arg)
{
	tx->icb = cb;
	tx->iarg = arg;
	queue_tx_commit(tx, NULL, 0);
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

/* ------------------------------------------------------- delivering ----- */

/*
 * One attempt at one message. Its pending recipients are split into
 * parts: all local ones in one I/O-pool job, the remote ones one part per
 * domain. When every part has reported, finish_attempt() logs, queues any
 * DSN, and records the outcome on disk.
 */
struct djob {
	struct queue *q;
	struct qmsg *m;
	struct courier_result *res;      /* per recipient */
	struct maildir_result *mres;     /* per recipient, local part */
	bool *tried;                     /* recipients this attempt covers */
	int parts;                       /* parts still running (+1 guard) */
	int syncs;                       /* new/ fsyncs still running */
	int fd;                          /* queue file for remote parts */
	struct remote_job *rjobs;
	size_t *ridx;                    /* recipient indexes, grouped by domain */
	bool remove;                     /* finish: unlink instead of append */
	bool unlink_state;               /* removal, second step: state/<id> */
	bool state_new;                  /* finish_work created state/<id> */
	bool warned_now;                 /* this attempt queued the delay warning */
	int finish_err;
	struct buf dkim;                 /* signatures for remote parts */
	size_t ndom;                     /* remote parts (domains) */
	struct djob *prev, *next;        /* q->djobs: running attempts */
	int64_t next_try;                /* when deferred: the next attempt */
};

/* True when the message leaves signed: a key for the sender's domain. */
static bool
dkim_wanted(const struct queue *q, const struct qmsg *m)
{
	const char *at = strrchr(m->env.sender, '@');
	size_t i;

	if (!m->env.dkim || at == NULL || q->signer == NULL)
		return false;
	for (i = 0; i < q->ndkim; i++) {
		if (str_ieq(q->cfg->dkim[i].domain, at + 1))
			return true;
	}
	return false;
}

/*
 * Pool thread: DKIM-Signature fields for every key of the sender's domain.
 * Reading and hashing a message of up to max_message_size is whole-message
 * work, kept off the loop; the keeper signs the digest.
 */
static void
dkim_work(void *arg)
{
	struct djob *j = arg;
	const struct qmsg *m = j->m;
	const struct queue *q = j->q;
	const char *at = strrchr(m->env.sender, '@');
	struct buf msg = BUF_INIT;
	size_t i;

	if (at == NULL || j->fd == -1 || buf_reserve(&msg, m->body_len + 1) == -1 ||
	    pread(j->fd, msg.data, m->body_len, (off_t)m->body_off) != (ssize_t)m->body_len) {
		buf_release(&msg);
		return;
	}
	msg.len = m->body_len;
	for (i = 0; i < q->ndkim; i++) {
		const struct config_dkim *cd = &q->cfg->dkim[i];
		struct dkim_pending p;
		uint8_t sig[DKIM_SIG_MAX];
		size_t siglen = sizeof(sig);

		if (!str_ieq(cd->domain, at + 1))
			continue;
		if (dkim_sign_prepare(cd->domain, cd->selector,
		    q->dkim_kinds[i] == KEEPER_KEY_ED25519, msg.data, msg.len,
		    (int64_t)time(NULL), &p) == -1)
			continue;   /* too many fields: sent unsigned (logged below) */
		if (keeper_signer_sign(q->signer, (uint32_t)i, p.digest, sig, &siglen) == 0)
			dkim_sign_finish(&p, sig, siglen, &j->dkim);
		dkim_pending_release(&p);
	}
	buf_release(&msg);
}

static void launch_parts(struct djob *j);

static void
dkim_done(void *arg)
{
	struct djob *j = arg;

	if (j->dkim.len == 0)
		log_warnx("id=%s event=dkim-failed sender=%s note=\"sent unsigned\"",
		    j->m->env.id, j->m->env.sender);
	launch_parts(j);
}

static bool
is_local_rcpt(const struct djob *j, size_t i)
{
	return j->tried[i] && j->m->env.rcpts[i].local;
}

/* Pool thread: every local recipient of the attempt. */
static void
local_work(void *arg)
{
	struct djob *j = arg;
	struct qmsg *m = j->m;
	char path[QPATH_MAX], box[QPATH_MAX];
	struct buf prefix = BUF_INIT;
	size_t i;
	int fd;

	path_of(path, j->q->msgdir, m->env.id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	for (i = 0; i < m->env.nrcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		struct maildir_result *res = &j->mres[i];

		if (!is_local_rcpt(j, i))
			continue;
		if (fd == -1) {
			res->status = DELIVER_TEMP;
			snprintf(res->error, sizeof(res->error), "open queue file: %s",
			    strerror(errno));
			continue;
		}
		if (maildir_path(j->q->mailroot, r->addr, box, sizeof(box)) == -1) {
			res->status = DELIVER_PERM;
			snprintf(res->error, sizeof(res->error), "bad mailbox name");
			continue;
		}
		buf_reset(&prefix);
		maildir_trace_prefix(&prefix, m->env.sender, r->addr);
		maildir_deliver(box, j->q->cfg->hostname, prefix.data, prefix.len,
		    fd, (off_t)m->body_off, m->body_len, res);
	}
	buf_release(&prefix);
	if (fd != -1)
		close(fd);
}

static void
djob_free(struct djob *j)
{
	if (j->q) {
		if (j->prev)
			j->prev->next = j->next;
		else
			j->q->djobs = j->next;
		if (j->next)
			j->next->prev = j->prev;
	}
	if (j->fd != -1)
		close(j->fd);
	free(j->res);
	free(j->mres);
	free(j->tried);
	free(j->rjobs);
	free(j->ridx);
	buf_release(&j->dkim);
	free(j);
}

/* Shutdown with attempts still running (remote ones never finish once the
 * loop stops): their messages are theirs to free. */
static void
free_running(struct queue *q)
{
	while (q->djobs) {
		struct djob *j = q->djobs;
		struct qmsg *m = j->m;

		djob_free(j);
		qmsg_free(m);
	}
}

static void
part_done(struct djob *j)
{
	if (--j->parts == 0) {
		if (j->fd != -1) {
			close(j->fd);
			j->fd = -1;
		}
		finish_attempt(j);
	}
}

static void
local_synced(void *arg, int err)
{
	struct djob *j = arg;
	size_t i;

	if (err != 0) {
		/* The renames may not be durable: deliver again later. A copy
		 * already in new/ may become a duplicate; never a loss. */
		for (i = 0; i < j->m->env.nrcpts; i++) {
			if (is_local_rcpt(j, i) && j->mres[i].status == DELIVER_OK) {
				j->mres[i].status = DELIVER_TEMP;
				snprintf(j->mres[i].error, sizeof(j->mres[i].error),
				    "fsync of new/: %s", strerror(err));
			}
		}
	}
	if (--j->syncs > 0)
		return;
	for (i = 0; i < j->m->env.nrcpts; i++) {
		struct courier_result *r = &j->res[i];

		if (!is_local_rcpt(j, i))
			continue;
		r->status = j->mres[i].status;
		str_copy(r->relay, sizeof(r->relay), "local");
		str_copy(r->dsn, sizeof(r->dsn), r->status == DELIVER_OK ? "2.0.0" :
		    r->status == DELIVER_TEMP ? "4.3.0" : "5.3.0");
		str_copy(r->detail, sizeof(r->detail), r->status == DELIVER_OK ?
		    "delivered to maildir" : j->mres[i].error);
	}
	part_done(j);
}

static void
local_done(void *arg)
{
	struct djob *j = arg;
	size_t i;

	/* One hold so the first batch cannot finish us early. */
	j->syncs = 1;
	for (i = 0; i < j->m->env.nrcpts; i++) {
		if (is_local_rcpt(j, i) && j->mres[i].status == DELIVER_OK) {
			char box[QPATH_MAX];

			/* It exists now: the next message may go direct. */
			if (maildir_path(j->q->mailroot, j->m->env.rcpts[i].addr, box,
			    sizeof(box)) == 0)
				box_remember(j->q, box);
			j->syncs++;
			if (dirsync_request(j->q->ds, j->mres[i].newdir, local_synced, j) == -1) {
				j->syncs--;
				j->mres[i].status = DELIVER_TEMP;
				snprintf(j->mres[i].error, sizeof(j->mres[i].error), "out of memory");
			}
		}
	}
	local_synced(j, 0);
}

/* The first held message waiting for domain goes back to ready. */
static void
release_held(struct queue *q, const char *domain)
{
	struct qmsg **pp = &q->held_head, *m, *prev = NULL;

	for (; (m = *pp) != NULL; prev = m, pp = &m->ready_next) {
		if (!str_ieq(m->held_domain, domain))
			continue;
		*pp = m->ready_next;
		if (q->held_tail == m)
			q->held_tail = prev;
		ready_push(q, m);
		return;
	}
}

static void
remote_part_done(void *arg)
{
	struct remote_job *rj = arg;
	struct djob *j = rj->owner;
	struct queue *q = j->q;
	char domain[256];

	/* Copied first: the message (and its envelope) may be gone after. */
	str_copy(domain, sizeof(domain), rj->domain);
	part_done(j);
	release_held(q, domain);
	pump(q);
}

/* Whether m should wait: all its pending recipients are remote, and every
 * one of their domains is saturated. Sets m->held_domain. */
static bool
must_hold(struct queue *q, struct qmsg *m)
{
	size_t i;
	bool any = false;

	if (q->remote == NULL)
		return false;
	for (i = 0; i < m->env.nrcpts; i++) {
		const struct envelope_rcpt *r = &m->env.rcpts[i];
		const char *dom;

		if (r->state != RCPT_PENDING)
			continue;
		if (r->local)
			return false;
		dom = strrchr(r->addr, '@');
		dom = dom ? dom + 1 : "";
		if (!remote_domain_saturated(q->remote, dom))
			return false;
		if (!any)
			str_copy(m->held_domain, sizeof(m->held_domain), dom);
		any = true;
	}
	return any;
}

static int64_t
backoff(const struct queue *q, unsigned attempts)
{
	int64_t d = q->cfg->retry_initial;
	unsigned i;

	for (i = 1; i < attempts && d < q->cfg->retry_max; i++)
		d *= 2;
	return d < q->cfg->retry_max ? d : q->cfg->retry_max;
}

/* Pool thread: record outcomes, or remove a finished message. */
static void
finish_work(void *arg)
{
	struct djob *j = arg;
	struct qmsg *m = j->m;
	char path[QPATH_MAX];
	struct buf lines = BUF_INIT;
	struct queue_state_update u;
	int fd;

	path_of(path, j->q->statedir, m->env.id);
	if (j->remove) {
		char mpath[QPATH_MAX];

		/* Second step (finish_synced): msg/<id> is gone for good. */
		if (j->unlink_state) {
			if (unlink(path) == -1 && errno != ENOENT)
				j->finish_err = errno;
			return;
		}
		path_of(mpath, j->q->msgdir, m->env.id);
		if (unlink(mpath) == -1 && errno != ENOENT)
			j->finish_err = errno;
		return;
	}
	/* A new state file starts with its version; finish_done makes its
	 * name durable. */
	u = (struct queue_state_update){ .env = &m->env, .tried = j->tried,
	    .next_try = j->next_try, .attempts = m->attempts,
	    .warned = j->warned_now, .now = (int64_t)time(NULL) };
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) != -1)
		j->state_new = u.new_file = true;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd == -1)
		j->finish_err = errno;
	else if (queue_state_encode(&u, &lines) == -1)
		j->finish_err = ENOMEM;
	else if (fileio_write_all(fd, lines.data, lines.len) == -1 || fdatasync(fd) == -1)
		j->finish_err = errno;
	if (fd != -1)
		close(fd);
	buf_release(&lines);
}

static void
finish_end(struct djob *j)
{
	struct queue *q = j->q;
	struct qmsg *m = j->m;

	q->inflight--;
	if (j->remove) {
		maillog_removed(m->env.id);
		q->nmsgs--;
		qmsg_free(m);
	} else {
		m->busy = false;
		schedule(q, m, j->next_try);
	}
	djob_free(j);
	pump(q);
}

static void
finish_synced(void *arg, int err)
{
	struct djob *j = arg;

	if (err != 0) {
		/* A removal keeps the state file: should the message come
		 * back after a crash, its record comes back with it. */
		errno = err;
		log_warn("id=%s queue: sync of %s", j->m->env.id,
		    j->remove ? "msg/" : "state/");
	} else if (j->remove) {
		j->unlink_state = true;
		if (iopool_submit(j->q->pool, finish_work, finish_done, j) == 0)
			return;
	}
	finish_end(j);
}

/*
 * The state file's name must be durable like the records in it (a batched
 * fsync of state/ after it was created); and it may go only once the
 * message's removal is durable (a batched fsync of msg/ between the two
 * unlinks), or a crash could bring the message back without the record of
 * who already has it. A state file left behind by a crash after that is
 * an orphan, removed at startup; ids are never reused.
 */
static void
finish_done(void *arg)
{
	struct djob *j = arg;
	struct queue *q = j->q;
	struct qmsg *m = j->m;
	bool sync;

	if (j->finish_err) {
		errno = j->finish_err;
		log_warn("id=%s queue: %s", m->env.id,
		    j->remove ? "remove" : "record recipient state");
	}
	if (j->state_new)
		m->has_state = true;
	sync = j->finish_err == 0 &&
	    (j->remove ? m->has_state && !j->unlink_state : j->state_new);
	if (sync && dirsync_request(q->ds, j->remove ? q->msgdir : q->statedir,
	    finish_synced, j) == 0)
		return;
	finish_end(j);
}

/* Records the outcome on disk (state file or removal), then reschedules. */
static void
record_outcome(struct djob *j)
{
	struct qmsg *m = j->m;
	size_t i, left = 0;

	for (i = 0; i < m->env.nrcpts; i++)
		left += m->env.rcpts[i].state == RCPT_PENDING;
	j->remove = left == 0;
	j->next_try = (int64_t)time(NULL) + backoff(j->q, m->attempts);
	if (iopool_submit(j->q->pool, finish_work, finish_done, j) == -1) {
		/* Keep it in memory and try later; the files are unchanged. */
		j->q->inflight--;
		m->busy = false;
		schedule(j->q, m, (int64_t)time(NULL) + backoff(j->q, m->attempts));
		djob_free(j);
	}
}

/* ---------------------------------------------------------- DSNs ------- */

struct dsn_ctx {
	struct djob *j;
	struct dsn_selection sel;      /* who hears of what, and who reads it */
	int64_t now;
	/* Composed on the pool (the original is read there, not on the loop). */
	struct buf msg;
	bool eightbit, composed;
};

static void
dsn_ctx_free(struct dsn_ctx *d)
{
	if (d == NULL)
		return;
	free(d->sel.failed);
	free(d->sel.items);
	buf_release(&d->msg);
	free(d);
}

static void
dsn_committed(void *arg, enum queue_err err, const char *id)
{
	struct dsn_ctx *d = arg;
	struct djob *j = d->j;
	size_t i;

	if (err != QUEUE_OK) {
		/* Without its bounce a failure may not be recorded (DESIGN.md
		 * durability 2): those recipients stay pending and are tried,
		 * and reported, again later. */
		for (i = 0; i < d->sel.nfailed; i++)
			j->m->env.rcpts[d->sel.failed[i]].state = RCPT_PENDING;
		log_warnx("id=%s event=dsn-failed reason=\"cannot queue the notification\"",
		    j->m->env.id);
	} else {
		log_info("id=%s event=dsn dsn_id=%s", j->m->env.id, id);
		if (d->sel.delay_warning)
			j->m->warned = j->warned_now = true;
	}
	dsn_ctx_free(d);
	record_outcome(j);
}

/* Final recipient of a notification to addr, routed like any RCPT. */
static int
dsn_route(struct queue *q, const char *addr, struct envelope *env)
{
	struct route_list rl = { 0 };
	const char *at = strrchr(addr, '@');
	char local[SMTP_PATH_MAX];
	enum route_status st;
	size_t i;
	int rc = -1;

	if (at == NULL || at == addr)
		return -1;
	str_copyn(local, sizeof(local), addr, (size_t)(at - addr));
	st = router_expand(q->cfg, q->dir, local, at + 1, &rl);
	/* NOTIFY unset: a notification that fails is itself reported, to
	 * the postmaster (dsn_select's rule for the null sender), and no
	 * further. */
	if (st == ROUTE_NOT_LOCAL)
		rc = envelope_add_rcpt(env, addr, addr, "", 0, false);
	else if (st == ROUTE_OK) {
		for (i = 0, rc = 0; i < rl.n && rc == 0; i++)
			rc = envelope_add_rcpt(env, rl.dests[i].address, addr, "",
			    0, rl.dests[i].local);
	}
	route_list_clear(&rl);
	return rc;
}

/* Pool thread: the notification's text, with the original (or its
 * header) as the queue file holds it. Touches only d and what the finished
 * attempt no longer changes (the envelope, the results, the config). */
static void
dsn_compose_work(void *arg)
{
	struct dsn_ctx *d = arg;
	struct djob *j = d->j;
	struct qmsg *m = j->m;
	struct buf orig = BUF_INIT;
	char path[QPATH_MAX];
	int fd;

	path_of(path, j->q->msgdir, m->env.id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (buf_reserve(&orig, m->body_len + 1) == 0 &&
	    pread(fd, orig.data, m->body_len, (off_t)m->body_off) == (ssize_t)m->body_len)
		orig.len = m->body_len;
	close(fd);
	d->composed = orig.len == m->body_len &&
	    bounce_compose(j->q->cfg->hostname, m->env.id, &m->env, d->sel.items,
	    d->sel.n, d->sel.to,
	    orig.data ? orig.data : "", orig.len, d->now, &d->msg, &d->eightbit) == 0;
	buf_release(&orig);
}

/* Loop: routes and queues the composed notification; its commit ends the
 * attempt (dsn_committed). Without it the attempt ends here. */
static void
dsn_composed(void *arg)
{
	struct dsn_ctx *d = arg;
	struct djob *j = d->j;
	struct queue *q = j->q;
	struct envelope env = { 0 };
	struct queue_tx *tx;
	enum queue_err qe;
	bool is_bounce = j->m->env.sender[0] == '\0';

	if (!d->composed)
		goto none;
	env.arrival = d->now;
	env.body = d->eightbit ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	if (envelope_set(&env.sender, "") || envelope_set(&env.helo, q->cfg->hostname) ||
	    envelope_set(&env.client, "127.0.0.1") || envelope_set(&env.proto, "DSN") ||
	    envelope_set(&env.envid, ""))
		goto none;
	/* Undeliverable sender: the postmaster reads it instead. */
	if (dsn_route(q, d->sel.to, &env) == -1 || env.nrcpts == 0) {
		if (is_bounce || dsn_route(q, q->cfg->postmaster, &env) == -1 || env.nrcpts == 0)
			goto none;
	}
	if ((tx = queue_tx_begin(q, &env, &qe)) == NULL)
		goto none;
	queue_tx_write(tx, d->msg.data, d->msg.len);
	buf_release(&d->msg);
	queue_tx_commit_internal(tx, dsn_committed, d);
	return;
none:
	log_warnx("id=%s event=dsn-failed reason=\"cannot compose or route the notification\"",
	    j->m->env.id);
	/* Failures stay failures: with nobody to tell, retrying won't help. */
	envelope_clear(&env);
	dsn_ctx_free(d);
	record_outcome(j);
}

/*
 * Queues one notification covering this attempt's outcomes that the sender
 * asked to hear about (RFC 3461 §4.1 NOTIFY), or returns false when there
 * is none to send. A failed message from the null sender (a bounce that
 * bounced) goes to the postmaster instead, and never further.
 */
static bool
send_dsn(struct djob *j, int64_t now)
{
	struct queue *q = j->q;
	struct qmsg *m = j->m;
	struct dsn_ctx *d = NULL;
	struct dsn_input in = { .env = &m->env, .tried = j->tried,
	    .res = j->res, .warned = m->warned, .postmaster = q->cfg->postmaster,
	    .delay_warning = q->cfg->delay_warning, .now = now };

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->sel.items = calloc(m->env.nrcpts, sizeof(*d->sel.items))) == NULL ||
	    (d->sel.failed = calloc(m->env.nrcpts, sizeof(size_t))) == NULL ||
	    dsn_select(&in, &d->sel) == 0)
		goto none;
	d->j = j;
	d->now = now;
	/* Reading the original (up to max_message_size) and composing is
	 * whole-message work: the pool does it, dsn_composed queues it. */
	if (iopool_submit(q->pool, dsn_compose_work, dsn_composed, d) == 0)
		return true;
	log_warnx("id=%s event=dsn-failed reason=\"out of memory\"", m->env.id);
none:
	/* Failures stay failures: with nobody to tell, retrying won't help. */
	dsn_ctx_free(d);
	return false;
}

static void
finish_attempt(struct djob *j)
{
	struct qmsg *m = j->m;
	double now = now_real();
	double delay = now - m->arrival;
	bool expired = (int64_t)now - m->env.arrival >= j->q->cfg->queue_lifetime;
	size_t i;

	for (i = 0; i < m->env.nrcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		struct courier_result *res = &j->res[i];

		if (!j->tried[i])
			continue;
		if (res->status == DELIVER_TEMP && expired) {
			/* RFC 3463 4.4.7: delivery time expired. */
			res->status = DELIVER_PERM;
			str_copy(res->dsn, sizeof(res->dsn), "4.4.7");
			snprintf(res->detail + strlen(res->detail),
			    sizeof(res->detail) - strlen(res->detail),
			    " (gave up: queue lifetime expired)");
		}
		switch (res->status) {
		case DELIVER_OK:
			r->state = RCPT_DELIVERED;
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn, "sent", res->detail);
			break;
		case DELIVER_TEMP:
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn[0] ? res->dsn : "4.0.0", "deferred", res->detail);
			break;
		case DELIVER_PERM:
			r->state = RCPT_FAILED;
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn[0] ? res->dsn : "5.0.0", "bounced", res->detail);
			break;
		}
	}
	if (!send_dsn(j, (int64_t)now))
		record_outcome(j);
}

/* The remote part for recipient i's domain (its index in j->rjobs),
 * added when the domain is new. */
static size_t
remote_part_of(struct djob *j, size_t i, size_t *ndom)
{
	const char *dom = strrchr(j->m->env.rcpts[i].addr, '@');
	size_t k;

	dom = dom ? dom + 1 : "";
	for (k = 0; k < *ndom; k++) {
		if (str_ieq(j->rjobs[k].domain, dom))
			return k;
	}
	j->rjobs[k].domain = dom;
	(*ndom)++;
	return k;
}

static void
start_delivery(struct queue *q, struct qmsg *m)
{
	struct djob *j = calloc(1, sizeof(*j));
	size_t i, k, nremote = 0, ndom = 0;
	char path[QPATH_MAX];

	if (j == NULL)
		goto retry;
	j->fd = -1;
	if ((j->res = calloc(m->env.nrcpts, sizeof(*j->res))) == NULL ||
	    (j->mres = calloc(m->env.nrcpts, sizeof(*j->mres))) == NULL ||
	    (j->tried = calloc(m->env.nrcpts, sizeof(bool))) == NULL ||
	    (j->ridx = calloc(m->env.nrcpts, sizeof(size_t))) == NULL ||
	    (j->rjobs = calloc(m->env.nrcpts, sizeof(*j->rjobs))) == NULL)
		goto retry;
	j->q = q;
	j->m = m;
	if ((j->next = q->djobs) != NULL)
		j->next->prev = j;
	q->djobs = j;
	for (i = 0; i < m->env.nrcpts; i++) {
		j->tried[i] = m->env.rcpts[i].state == RCPT_PENDING;
		if (j->tried[i] && !m->env.rcpts[i].local)
			nremote++;
	}
	m->busy = true;
	m->attempts++;
	q->inflight++;
	j->parts = 1;   /* the guard, released at the end */
	/* Remote recipients, grouped by domain: one SMTP transaction each. */
	if (nremote > 0) {
		path_of(path, q->msgdir, m->env.id);
		j->fd = open(path, O_RDONLY | O_CLOEXEC);
		for (i = 0; i < m->env.nrcpts; i++) {
			if (j->tried[i] && !m->env.rcpts[i].local)
				j->rjobs[remote_part_of(j, i, &ndom)].n++;
		}
		/* Lay the index lists out one domain after another. */
		for (k = 0, i = 0; k < ndom; k++) {
			j->rjobs[k].idx = j->ridx + i;
			i += j->rjobs[k].n;
			j->rjobs[k].n = 0;
		}
		for (i = 0; i < m->env.nrcpts; i++) {
			if (j->tried[i] && !m->env.rcpts[i].local) {
				k = remote_part_of(j, i, &ndom);
				((size_t *)j->rjobs[k].idx)[j->rjobs[k].n++] = i;
			}
		}
	}
	j->ndom = ndom;
	/* Signatures first (on the pool), then the parts. */
	if (nremote > 0 && j->fd != -1 && dkim_wanted(q, m) &&
	    iopool_submit(q->pool, dkim_work, dkim_done, j) == 0)
		return;
	launch_parts(j);
	return;
retry:
	if (j)
		djob_free(j);
	schedule(q, m, (int64_t)time(NULL) + q->cfg->retry_initial);
}

/* Starts the local part (one pool job for every local recipient) and one
 * remote part per domain, then releases the guard part. */
static void
launch_parts(struct djob *j)
{
	struct queue *q = j->q;
	struct qmsg *m = j->m;
	size_t i, k, ndom = j->ndom;

	for (i = 0; i < m->env.nrcpts; i++) {
		if (is_local_rcpt(j, i)) {
			j->parts++;
			if (iopool_submit(q->pool, local_work, local_done, j) == -1) {
				j->parts--;
				for (k = 0; k < m->env.nrcpts; k++) {
					if (is_local_rcpt(j, k)) {
						j->res[k].status = DELIVER_TEMP;
						str_copy(j->res[k].detail, sizeof(j->res[k].detail), "out of memory");
					}
				}
			}
			break;
		}
	}
	for (k = 0; k < ndom; k++) {
		struct remote_job *rj = &j->rjobs[k];

		if (j->fd == -1 || q->remote == NULL) {
			for (i = 0; i < rj->n; i++) {
				j->res[rj->idx[i]].status = DELIVER_TEMP;
				str_copy(j->res[rj->idx[i]].detail, sizeof(j->res[0].detail),
				    q->remote ? "cannot open the queue file" :
				    "remote delivery is not configured");
			}
			continue;
		}
		rj->env = &m->env;
		rj->res = j->res;
		rj->fd = j->fd;
		rj->off = m->body_off;
		rj->len = m->body_len;
		rj->prefix = j->dkim.data;
		rj->prefix_len = j->dkim.len;
		rj->done = remote_part_done;
		rj->arg = rj;
		rj->owner = j;
		j->parts++;
		remote_deliver(q->remote, rj);
	}
	part_done(j);
}

void
queue_stop(struct queue *q)
{
	q->stopping = true;
}

static void
pump(struct queue *q)
{
	while (!q->stopping && q->inflight < q->max_inflight && q->ready_head) {
		struct qmsg *m = q->ready_head;

		if ((q->ready_head = m->ready_next) == NULL)
			q->ready_tail = NULL;
		if (must_hold(q, m)) {
			m->ready_next = NULL;
			if (q->held_tail)
				q->held_tail->ready_next = m;
			else
				q->held_head = m;
			q->held_tail = m;
			continue;
		}
		start_delivery(q, m);
	}
}

/* ------------------------------------------------------- recovery ------- */

static void
move_corrupt(struct queue *q, const char *name, const char *why)
{
	char from[QPATH_MAX], to[QPATH_MAX];

	path_of(from, q->msgdir, name);
	path_of(to, q->corruptdir, name);
	maillog_corrupt(from, why);
	if (rename(from, to) == -1)
		log_warn("queue: rename %s", from);
	/* Its state file, if any, goes with it, for the same human. */
	path_of(from, q->statedir, name);
	snprintf(to, QPATH_MAX, "%s/%s.state", q->corruptdir, name);
	if (rename(from, to) == -1 && errno != ENOENT)
		log_warn("queue: rename %s", from);
}

/* Applies state/<name>, if there is one, to m. -1: a later version. */
static int
load_state(struct queue *q, const char *name, struct qmsg *m)
{
	char path[QPATH_MAX];
	struct buf data = BUF_INIT;
	struct queue_state st;
	int fd, rc;

	path_of(path, q->statedir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	m->has_state = true;
	/* A read error ends the file where it struck, as a tear would. */
	(void)fileio_read_all(fd, &data);
	close(fd);
	rc = queue_state_decode(data.data ? data.data : "", data.len, &m->env, &st);
	buf_release(&data);
	m->next_try = st.next_try;
	m->attempts = st.attempts;
	m->warned = st.warned;
	return rc;
}

/* Reads msg/<name>: envelope, trailer, state file. */
static struct qmsg *
load_one(struct queue *q, const char *name, const char **why)
{
	char path[QPATH_MAX], trailer[ENVELOPE_TRAILER_LEN];
	struct qmsg *m = NULL;
	struct buf head = BUF_INIT;
	struct stat st;
	size_t hdrlen;
	int64_t blen;
	int fd;

	*why = "unreadable";
	path_of(path, q->msgdir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
		goto out;
	*why = "no valid trailer (incomplete file)";
	if (st.st_size < ENVELOPE_TRAILER_LEN ||
	    pread(fd, trailer, sizeof(trailer), st.st_size - ENVELOPE_TRAILER_LEN) !=
	    ENVELOPE_TRAILER_LEN ||
	    (blen = envelope_trailer_parse(trailer, sizeof(trailer))) < 0)
		goto out;
	/* The envelope is what precedes the message and the trailer. */
	*why = "bad envelope";
	if ((uint64_t)blen + ENVELOPE_TRAILER_LEN > (uint64_t)st.st_size)
		goto out;
	hdrlen = (size_t)((uint64_t)st.st_size - (uint64_t)blen - ENVELOPE_TRAILER_LEN);
	if (hdrlen > (64u << 20) || buf_reserve(&head, hdrlen) == -1 ||
	    pread(fd, head.data, hdrlen, 0) != (ssize_t)hdrlen)
		goto out;
	head.len = hdrlen;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	{
		size_t used;

		if (envelope_decode(head.data, head.len, &m->env, &used) == -1 ||
		    used != hdrlen || strcmp(m->env.id, name) != 0) {
			qmsg_free(m);
			m = NULL;
			goto out;
		}
	}
	m->body_off = hdrlen;
	m->body_len = (uint64_t)blen;
	m->arrival = (double)m->env.arrival;
	m->heap_idx = SIZE_MAX;
	/* Records of a later version are not guessed at. */
	if (load_state(q, name, m) == -1) {
		*why = "state file of a later version";
		qmsg_free(m);
		m = NULL;
		goto out;
	}
	*why = NULL;
out:
	if (fd != -1)
		close(fd);
	buf_release(&head);
	return m;
}

int
queue_recover(struct queue *q)
{
	size_t loaded = 0, removed = 0, corrupt = 0;
	struct dirent *de;
	char path[QPATH_MAX];
	DIR *d;

	/* tmp/: never acknowledged, so never promised. */
	if ((d = opendir(q->tmpdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path_of(path, q->tmpdir, de->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if ((d = opendir(q->msgdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		const char *why;
		struct qmsg *m;

		if (de->d_name[0] == '.')
			continue;
		if (!ids_valid_queue_id(de->d_name)) {
			move_corrupt(q, de->d_name, "not a queue file name");
			corrupt++;
			continue;
		}
		if ((m = load_one(q, de->d_name, &why)) == NULL) {
			move_corrupt(q, de->d_name, why);
			corrupt++;
			continue;
		}
		q->nmsgs++;
		loaded++;
		/* New ids must sort above every queued one, even if the clock
		 * stepped back since they were made. */
		{
			uint64_t v = strtoull(m->env.id, NULL, 16);

			if (v > q->ids.last)
				q->ids.last = v;
		}
		schedule(q, m, m->next_try);
	}
	closedir(d);
	/* state/ files whose message is gone are leftovers of a removal. */
	if ((d = opendir(q->statedir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			path_of(path, q->msgdir, de->d_name);
			if (stat(path, &st) == -1 && errno == ENOENT) {
				path_of(path, q->statedir, de->d_name);
				unlink(path);
			}
		}
		closedir(d);
	}
	maillog_recovered(loaded, removed, corrupt);
	pump(q);
	return 0;
}
