/*
 * deliver_now: LMTP's delivery (see queue_tx_deliver_now in queue.h).
 *
 * The spooled message is copied into each recipient's Maildir on the I/O
 * pool (maildir_deliver: tmp/, fsync, rename into new/), the spool file is
 * removed, then each new/ is synced through the commit group, batched with
 * every other commit of that moment. Only then are the outcomes reported,
 * so a 250 to an LMTP client means what it means to an SMTP one: on stable
 * storage. A crash before that leaves at most a Maildir copy the client
 * will send again (a duplicate, never a loss) and a spool file that
 * recovery removes with the rest of tmp/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../deliver/maildir.h"
#include "../maillog/maillog.h"
#include "queue.h"
#include "queue_int.h"

struct now_job {
	struct queue_tx *tx;
	queue_now_cb cb;
	uint64_t cookie;
	struct maildir_result *mres;     /* one per recipient */
	struct quota_limits *quota;      /* one per recipient */
	struct queue_now_result *res;
	unsigned syncs;                  /* new/ syncs outstanding (+1 held) */
};

static void
now_work(void *arg)
{
	struct now_job *j = arg;
	struct queue_tx *tx = j->tx;
	struct queue *q = tx->q;
	struct buf prefix = BUF_INIT;
	char box[QPATH_MAX];
	size_t i;
	int fd;

	fd = open(tx->tmp_path, O_RDONLY | O_CLOEXEC);
	for (i = 0; i < tx->env.nrcpts; i++) {
		const struct envelope_rcpt *r = &tx->env.rcpts[i];
		struct maildir_result *mr = &j->mres[i];

		if (fd == -1) {
			mr->status = DELIVER_TEMP;
			snprintf(mr->error, sizeof(mr->error), "open spool: %s", strerror(errno));
		} else if (!r->local || maildir_path(q->mailroot, r->addr, box, sizeof(box)) == -1) {
			mr->status = DELIVER_PERM;
			snprintf(mr->error, sizeof(mr->error), "not a local mailbox");
		} else {
			buf_reset(&prefix);
			if (maildir_trace_prefix(&prefix, tx->env.sender, r->addr) == -1) {
				mr->status = DELIVER_TEMP;
				snprintf(mr->error, sizeof(mr->error), "out of memory");
				continue;
			}
			maildir_deliver(box, NULL, q->mailhost, prefix.data, prefix.len, fd,
			    (off_t)tx->hdr_len, tx->body_len, &j->quota[i], mr);
		}
	}
	buf_release(&prefix);
	if (fd != -1)
		close(fd);
	/* The copies are in the Maildirs (or failed): the spool has served. */
	(void)unlink(tx->tmp_path);
}

static void
now_report(struct now_job *j)
{
	struct queue_tx *tx = j->tx;
	size_t i;

	for (i = 0; i < tx->env.nrcpts; i++) {
		struct queue_now_result *r = &j->res[i];
		const struct maildir_result *mr = &j->mres[i];

		r->status = mr->status == DELIVER_OK ? QUEUE_NOW_OK :
		    mr->status == DELIVER_PERM ? QUEUE_NOW_PERM : QUEUE_NOW_TEMP;
		str_copy(r->detail, sizeof(r->detail),
		    mr->status == DELIVER_OK ? "delivered to maildir" : mr->error);
		str_copy(r->dsn, sizeof(r->dsn), mr->status == DELIVER_OK ? "2.0.0" :
		    mr->dsn[0] ? mr->dsn : mr->status == DELIVER_PERM ? "5.3.0" : "4.3.0");
		maillog_delivery(tx->env.id, tx->env.rcpts[i].addr, tx->env.rcpts[i].orig,
		    "local", NULL, queue_now() - tx->started, r->dsn,
		    r->status == QUEUE_NOW_OK ? "sent" : r->status == QUEUE_NOW_PERM ?
		    "bounced" : "deferred", r->detail);
	}
	j->cb(j->cookie, tx->env.id, j->res, tx->env.nrcpts);
	envelope_clear(&tx->env);
	free(tx);
	free(j->mres);
	free(j->quota);
	free(j->res);
	free(j);
}

static bool
counted(const struct now_job *j, size_t i)
{
	return j->mres[i].status == DELIVER_OK && quota_limited(&j->quota[i]);
}

/* Pool thread: the deliveries, durable now, go into their mailboxes'
 * maildirsize (a cache: appended, not synced; docs/queue.md). */
static void
quota_work(void *arg)
{
	struct now_job *j = arg;
	char box[QPATH_MAX];
	size_t i;

	for (i = 0; i < j->tx->env.nrcpts; i++) {
		if (counted(j, i) &&
		    maildir_path(j->tx->q->mailroot, j->tx->env.rcpts[i].addr, box, sizeof(box)) == 0 &&
		    quota_add(box, (int64_t)j->mres[i].size, 1) == -1)
			log_warn("id=%s quota: %s", j->tx->env.id, box);
	}
}

static void
quota_done(void *arg)
{
	now_report(arg);
}

/* Every copy is durable (or failed): count the quota, then report. */
static void
now_durable(struct now_job *j)
{
	size_t i;

	for (i = 0; i < j->tx->env.nrcpts; i++) {
		if (counted(j, i)) {
			if (iopool_submit(j->tx->q->pool, quota_work, quota_done, j) == 0)
				return;
			break;   /* out of memory: the file is recounted when wrong */
		}
	}
	now_report(j);
}

/* One new/ is synced (or failed: err). */
static void
now_synced(void *arg, int err)
{
	struct now_job *j = arg;

	if (err) {
		size_t i;

		/* Which Maildir the failed sync was for is not known here:
		 * every copy not yet reported is in doubt, and a 4xx makes the
		 * client send it again (a duplicate at worst). */
		for (i = 0; i < j->tx->env.nrcpts; i++) {
			if (j->mres[i].status == DELIVER_OK) {
				j->mres[i].status = DELIVER_TEMP;
				snprintf(j->mres[i].error, sizeof(j->mres[i].error),
				    "fsync of new/: %s", strerror(err));
			}
		}
	}
	if (--j->syncs == 0)
		now_durable(j);
}

static void
now_done(void *arg)
{
	struct now_job *j = arg;
	struct queue_tx *tx = j->tx;
	size_t i;

	j->syncs = 1;   /* held until every sync is asked for */
	for (i = 0; i < tx->env.nrcpts; i++) {
		char box[QPATH_MAX];

		if (j->mres[i].status != DELIVER_OK)
			continue;
		if (maildir_path(tx->q->mailroot, tx->env.rcpts[i].addr, box, sizeof(box)) == 0)
			queue_box_remember(tx->q, box);
		j->syncs++;
		if (commit_group_sync_dir(tx->q->group, j->mres[i].newdir, now_synced, j) == -1) {
			j->syncs--;
			j->mres[i].status = DELIVER_TEMP;
			snprintf(j->mres[i].error, sizeof(j->mres[i].error), "out of memory");
		}
	}
	now_synced(j, 0);
}

void
queue_tx_deliver_now(struct queue_tx *tx, queue_now_cb cb, uint64_t cookie)
{
	struct now_job *j = calloc(1, sizeof(*j));
	size_t n = tx->env.nrcpts ? tx->env.nrcpts : 1;

	if (tx->fd != -1) {
		close(tx->fd);
		tx->fd = -1;
	}
	if (j == NULL || (j->mres = calloc(n, sizeof(*j->mres))) == NULL ||
	    (j->res = calloc(n, sizeof(*j->res))) == NULL ||
	    (j->quota = calloc(n, sizeof(*j->quota))) == NULL || tx->direct || tx->err != QUEUE_OK) {
		struct queue_now_result fail[64];
		size_t i, k = tx->env.nrcpts < 64 ? tx->env.nrcpts : 64;

		for (i = 0; i < k; i++) {
			fail[i].status = QUEUE_NOW_TEMP;
			str_copy(fail[i].dsn, sizeof(fail[i].dsn), "4.3.0");
			str_copy(fail[i].detail, sizeof(fail[i].detail), tx->err == QUEUE_ENOSPC ?
			    "insufficient system storage" : "local error");
		}
		if (j) {
			free(j->mres);
			free(j->quota);
			free(j->res);
			free(j);
		}
		(void)unlink(tx->tmp_path);
		cb(cookie, tx->env.id, fail, k);
		envelope_clear(&tx->env);
		free(tx);
		return;
	}
	j->tx = tx;
	j->cb = cb;
	j->cookie = cookie;
	{
		size_t i;

		/* Asked on the loop, where the directory lives. */
		for (i = 0; i < tx->env.nrcpts; i++)
			queue_quota_of(tx->q, tx->env.rcpts[i].addr, &j->quota[i]);
	}
	if (iopool_submit(tx->q->pool, now_work, now_done, j) == -1) {
		size_t i;

		for (i = 0; i < tx->env.nrcpts; i++) {
			j->mres[i].status = DELIVER_TEMP;
			snprintf(j->mres[i].error, sizeof(j->mres[i].error), "out of memory");
		}
		(void)unlink(tx->tmp_path);
		now_report(j);
	}
}
