/*
 * scheduler: when each queued message is tried (docs/queue.md,
 * "Scheduling").
 *
 * A message not being tried waits in one place (enum qmsg_where): in a
 * binary heap by next attempt time, with one libevent timer for the
 * earliest, so the cost per tick does not grow with the number of waiting
 * messages; on the ready list once due; or on the held list when every
 * destination it needs is saturated. The pump starts attempts from the
 * ready list while fewer than max_inflight run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "../common/str.h"
#include "../config/config.h"
#include "../deliver/remote.h"
#include "queue_int.h"

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
		struct qmsg **p;

		if (cap < q->heapcap ||
		    (p = reallocarray(q->heap, cap, sizeof(*p))) == NULL)
			return -1;
		q->heap = p;
		q->heapcap = cap;
	}
	q->heap[q->nheap] = m;
	m->heap_idx = q->nheap++;
	m->where = QMSG_HEAP;
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
	m->where = QMSG_NOWHERE;
	return m;
}

/* ---------------------------------------------------------- the lists -- */

static void
ready_push(struct queue *q, struct qmsg *m)
{
	TAILQ_INSERT_TAIL(&q->ready, m, link);
	m->where = QMSG_READY;
}

static void
hold(struct queue *q, struct qmsg *m)
{
	TAILQ_INSERT_TAIL(&q->held, m, link);
	m->where = QMSG_HELD;
}

void
scheduler_release_held(struct queue *q, const char *domain)
{
	struct qmsg *m;

	TAILQ_FOREACH(m, &q->held, link) {
		if (str_ieq(m->held_domain, domain)) {
			TAILQ_REMOVE(&q->held, m, link);
			ready_push(q, m);
			return;
		}
	}
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

/* ---------------------------------------------------------- the timer -- */

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
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	int64_t now = (int64_t)time(NULL);

	(void)fd;
	(void)what;
	while (q->nheap && q->heap[0]->next_try <= now)
		ready_push(q, heap_pop(q));
	arm_timer(q);
	scheduler_pump(q);
}

int
scheduler_init(struct queue *q)
{
	q->timer = evtimer_new(q->base, on_timer, q);
	return q->timer ? 0 : -1;
}

void
scheduler_free(struct queue *q)
{
	struct qmsg *m;
	size_t i;

	for (i = 0; i < q->nheap; i++)
		queue_msg_free(q->heap[i]);
	free(q->heap);
	q->heap = NULL;
	q->nheap = q->heapcap = 0;
	while ((m = TAILQ_FIRST(&q->ready)) != NULL) {
		TAILQ_REMOVE(&q->ready, m, link);
		queue_msg_free(m);
	}
	while ((m = TAILQ_FIRST(&q->held)) != NULL) {
		TAILQ_REMOVE(&q->held, m, link);
		queue_msg_free(m);
	}
	while ((m = TAILQ_FIRST(&q->onhold)) != NULL) {
		TAILQ_REMOVE(&q->onhold, m, link);
		queue_msg_free(m);
	}
	if (q->timer)
		event_free(q->timer);
	q->timer = NULL;
}

/* ------------------------------------------------------- scheduling ---- */

/*
 * An action of the administrator (delete, bounce) is due at once, on hold
 * or not; a message on hold otherwise waits on its list until released.
 */
void
scheduler_add(struct queue *q, struct qmsg *m, int64_t when)
{
	if (m->admin != QADMIN_NONE)
		when = 0;
	else if (m->on_hold) {
		m->next_try = when;
		TAILQ_INSERT_TAIL(&q->onhold, m, link);
		m->where = QMSG_ONHOLD;
		return;
	}
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

void
scheduler_take(struct queue *q, struct qmsg *m)
{
	size_t i;

	switch (m->where) {
	case QMSG_HEAP:
		i = m->heap_idx;
		heap_swap(q, i, --q->nheap);
		if (i < q->nheap) {
			heap_up(q, i);
			heap_down(q, i);
		}
		m->heap_idx = SIZE_MAX;
		if (i == 0)
			arm_timer(q);
		break;
	case QMSG_READY:
		TAILQ_REMOVE(&q->ready, m, link);
		break;
	case QMSG_HELD:
		TAILQ_REMOVE(&q->held, m, link);
		break;
	case QMSG_ONHOLD:
		TAILQ_REMOVE(&q->onhold, m, link);
		break;
	case QMSG_NOWHERE:
	case QMSG_RUNNING:
		return;
	}
	m->where = QMSG_NOWHERE;
}

int64_t
scheduler_backoff(const struct queue *q, unsigned attempts)
{
	int64_t d = q->cfg->retry_initial;
	unsigned i;

	for (i = 1; i < attempts && d < q->cfg->retry_max; i++)
		d *= 2;
	return d < q->cfg->retry_max ? d : q->cfg->retry_max;
}

void
scheduler_pump(struct queue *q)
{
	struct qmsg *m;

	while (!q->stopping && q->inflight < q->max_inflight &&
	    (m = TAILQ_FIRST(&q->ready)) != NULL) {
		TAILQ_REMOVE(&q->ready, m, link);
		m->where = QMSG_NOWHERE;
		if (must_hold(q, m)) {
			hold(q, m);
			continue;
		}
		attempt_start(q, m);
	}
}
