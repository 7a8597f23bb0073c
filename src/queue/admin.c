/*
 * admin: the administrator's view of the queue and actions on it (ternctl
 * queue, through the daemon's control socket). docs/queue.md, "The
 * administrator's actions", has the rules; in short:
 *
 * - hold: the message waits on q->onhold until released, across restarts
 *   (an empty marker hold/<id>); release puts it back, due now.
 * - delete and bounce are carried out by the message's next attempt
 *   (attempt.c) instead of a delivery, so they take the same path to disk
 *   as any finished message: removal after a batched msg/ sync, or a DSN
 *   queued first. A message being delivered finishes that attempt first;
 *   recipients it delivers stay delivered.
 * - flush and requeue make a waiting message due now (requeue also
 *   restarts its backoff).
 *
 * Nothing here waits: a message in an attempt gets its action when the
 * attempt ends, and the caller is told so (QUEUE_ADMIN_LATER). Loop thread
 * only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../maillog/maillog.h"
#include "queue_int.h"

void
admin_note_error(struct qmsg *m, size_t i, const char *detail)
{
	char *copy;

	if (m->last_error == NULL &&
	    (m->last_error = calloc(m->env.nrcpts, sizeof(char *))) == NULL)
		return;
	if ((copy = strdup(detail)) == NULL)
		return;
	free(m->last_error[i]);
	m->last_error[i] = copy;
}

bool
admin_hold_marked(const struct queue *q, const char *id)
{
	char path[QPATH_MAX];

	queue_path(path, q->holddir, id);
	return access(path, F_OK) == 0;
}

/* ------------------------------------------------------------ walking -- */

/* Calls fn for every message the queue holds, wherever it waits or runs.
 * fn must not move messages: callers collect first, then act. */
static void
walk(struct queue *q, void (*fn)(void *, struct qmsg *), void *arg)
{
	struct attempt *a;
	struct qmsg *m;
	size_t i;

	for (i = 0; i < q->nheap; i++)
		fn(arg, q->heap[i]);
	TAILQ_FOREACH(m, &q->ready, link)
		fn(arg, m);
	TAILQ_FOREACH(m, &q->held, link)
		fn(arg, m);
	TAILQ_FOREACH(m, &q->onhold, link)
		fn(arg, m);
	LIST_FOREACH(a, &q->running, link)
		fn(arg, a->m);
}

static const char *
where_name(const struct qmsg *m)
{
	if (m->admin == QADMIN_DELETE)
		return "deleting";
	if (m->admin == QADMIN_BOUNCE)
		return "bouncing";
	switch (m->where) {
	case QMSG_HEAP:
		return m->attempts ? "deferred" : "waiting";
	case QMSG_READY:
		return "ready";
	case QMSG_HELD:
		return "busy";      /* every destination at its connection limit */
	case QMSG_RUNNING:
		return "delivering";
	case QMSG_ONHOLD:
		return "hold";
	case QMSG_NOWHERE:
		break;
	}
	return "moving";
}

struct view_walk {
	queue_view_cb cb;
	void *arg;
};

static void
view_one(void *arg, struct qmsg *m)
{
	struct view_walk *w = arg;
	struct queue_view v = {
		.env = &m->env,
		.size = m->body_len,
		.state = where_name(m),
		.next_try = m->next_try,
		.attempts = m->attempts,
		.on_hold = m->on_hold,
		.last_error = (const char *const *)m->last_error,
	};

	w->cb(w->arg, &v);
}

void
queue_view(struct queue *q, queue_view_cb cb, void *arg)
{
	struct view_walk w = { cb, arg };

	walk(q, view_one, &w);
}

static void
sum_one(void *arg, struct qmsg *m)
{
	struct queue_summary *s = arg;

	s->messages++;
	s->octets += m->body_len;
	s->on_hold += m->on_hold;
	s->delivering += m->where == QMSG_RUNNING;
	s->deferred += m->attempts > 0 && m->where != QMSG_RUNNING;
	if (s->oldest == 0 || m->env.arrival < s->oldest)
		s->oldest = m->env.arrival;
}

void
queue_summarize(struct queue *q, struct queue_summary *s)
{
	memset(s, 0, sizeof(*s));
	walk(q, sum_one, s);
}

/* ------------------------------------------------------------ actions -- */

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct find_walk {
	const char **ids;       /* sorted */
	size_t nids;
	struct qmsg **found;    /* found[i] is ids[i]'s message */
};

static void
find_one(void *arg, struct qmsg *m)
{
	struct find_walk *f = arg;
	const char *key = m->env.id;
	const char **hit = bsearch(&key, f->ids, f->nids, sizeof(*f->ids), cmp_id);

	if (hit != NULL)
		f->found[hit - f->ids] = m;
}

/* The marker of a hold, made or removed here on the loop (one metadata
 * operation, and an action of a person, so rare); the directory's sync,
 * which takes the disk's time, is batched on the I/O pool. Done in this
 * order on the loop, a hold and a release that follow each other cannot
 * overtake one another. */
static void
marker_synced(void *arg, int err)
{
	(void)arg;
	if (err != 0) {
		errno = err;
		log_warn("queue: sync of hold/");
	}
}

static int
marker_set(struct queue *q, const char *id, bool on)
{
	char path[QPATH_MAX];
	int fd;

	queue_path(path, q->holddir, id);
	if (on) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
			return -1;
		close(fd);
	} else if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	if (commit_group_sync_dir(q->group, q->holddir, marker_synced, NULL) == -1)
		log_warnx("queue: hold/ not synced (out of memory)");
	return 0;
}

/* A waiting message goes through scheduler_add again, which puts it where
 * its flags now say (on hold, due now for an action, or at when). */
static void
reschedule(struct queue *q, struct qmsg *m, int64_t when)
{
	scheduler_take(q, m);
	scheduler_add(q, m, when);
}

static enum queue_admin_result
act(struct queue *q, struct qmsg *m, enum queue_admin_op op)
{
	int64_t now = (int64_t)time(NULL);
	bool running = m->where == QMSG_RUNNING || m->where == QMSG_NOWHERE;

	if (m->admin != QADMIN_NONE && op != QUEUE_DELETE)
		return QUEUE_ADMIN_BUSY;
	switch (op) {
	case QUEUE_HOLD:
		if (m->on_hold)
			return QUEUE_ADMIN_NOOP;
		if (marker_set(q, m->env.id, true) == -1)
			return QUEUE_ADMIN_FAILED;
		m->on_hold = true;
		if (running)
			return QUEUE_ADMIN_LATER;
		reschedule(q, m, m->next_try);
		return QUEUE_ADMIN_DONE;
	case QUEUE_RELEASE:
		if (!m->on_hold)
			return QUEUE_ADMIN_NOOP;
		if (marker_set(q, m->env.id, false) == -1)
			return QUEUE_ADMIN_FAILED;
		m->on_hold = false;
		if (!running)
			reschedule(q, m, now);
		return QUEUE_ADMIN_DONE;
	case QUEUE_DELETE:
	case QUEUE_BOUNCE:
		if (m->admin == QADMIN_DELETE)
			return QUEUE_ADMIN_NOOP;
		m->admin = op == QUEUE_DELETE ? QADMIN_DELETE : QADMIN_BOUNCE;
		if (running)
			return QUEUE_ADMIN_LATER;
		reschedule(q, m, now);
		return QUEUE_ADMIN_DONE;
	case QUEUE_REQUEUE:
	case QUEUE_FLUSH:
		if (op == QUEUE_REQUEUE)
			m->attempts = 0;
		if (running)
			return QUEUE_ADMIN_LATER;
		if (m->on_hold)
			return QUEUE_ADMIN_HELD;
		if (m->where != QMSG_HEAP)
			return QUEUE_ADMIN_NOOP;    /* already due */
		reschedule(q, m, now);
		return QUEUE_ADMIN_DONE;
	}
	return QUEUE_ADMIN_FAILED;
}

static const char *const op_names[] = {
	[QUEUE_HOLD] = "hold", [QUEUE_RELEASE] = "release", [QUEUE_DELETE] = "delete",
	[QUEUE_BOUNCE] = "bounce", [QUEUE_REQUEUE] = "requeue", [QUEUE_FLUSH] = "flush",
};

const char *
queue_admin_op_name(enum queue_admin_op op)
{
	return op_names[op];
}

int
queue_admin(struct queue *q, enum queue_admin_op op, const char **ids, size_t nids,
    enum queue_admin_result *res, const char *by)
{
	struct find_walk f = { .nids = nids };
	size_t i;

	if (nids == 0)
		return 0;
	if ((f.ids = malloc(nids * sizeof(*f.ids))) == NULL ||
	    (f.found = calloc(nids, sizeof(*f.found))) == NULL) {
		free(f.ids);
		return -1;
	}
	memcpy(f.ids, ids, nids * sizeof(*ids));
	qsort(f.ids, nids, sizeof(*f.ids), cmp_id);
	walk(q, find_one, &f);
	for (i = 0; i < nids; i++) {
		const char **hit = bsearch(&ids[i], f.ids, nids, sizeof(*f.ids), cmp_id);
		struct qmsg *m = f.found[hit - f.ids];

		res[i] = m ? act(q, m, op) : QUEUE_ADMIN_NOTFOUND;
		/* A repeated id finds its message once. */
		f.found[hit - f.ids] = NULL;
		if (res[i] == QUEUE_ADMIN_DONE || res[i] == QUEUE_ADMIN_LATER)
			maillog_admin(ids[i], op_names[op], by);
	}
	free(f.ids);
	free(f.found);
	scheduler_pump(q);
	return 0;
}

/* ------------------------------------------------------------- flush --- */

struct flush_walk {
	const char *domain;     /* NULL: every message */
	struct qmsg **due;
	size_t n, cap;
	bool oom;
};

static bool
wants_domain(const struct qmsg *m, const char *domain)
{
	size_t i;

	for (i = 0; i < m->env.nrcpts; i++) {
		const char *at = strrchr(m->env.rcpts[i].addr, '@');

		if (m->env.rcpts[i].state == RCPT_PENDING && at && str_ieq(at + 1, domain))
			return true;
	}
	return false;
}

static void
flush_one(void *arg, struct qmsg *m)
{
	struct flush_walk *f = arg;

	if (m->where != QMSG_HEAP || (f->domain && !wants_domain(m, f->domain)))
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct qmsg **p = reallocarray(f->due, cap, sizeof(*p));

		if (p == NULL) {
			f->oom = true;
			return;
		}
		f->due = p;
		f->cap = cap;
	}
	f->due[f->n++] = m;
}

ssize_t
queue_flush(struct queue *q, const char *domain, const char *by)
{
	struct flush_walk f = { .domain = domain };
	int64_t now = (int64_t)time(NULL);
	size_t i;

	walk(q, flush_one, &f);
	for (i = 0; i < f.n; i++)
		reschedule(q, f.due[i], now);
	free(f.due);
	maillog_flush(domain, f.n, by);
	scheduler_pump(q);
	return f.oom ? -1 : (ssize_t)i;
}
