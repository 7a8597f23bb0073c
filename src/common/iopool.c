/*
 * iopool: worker threads fed from a FIFO under one mutex. Finished jobs go
 * on a second list and an eventfd wakes the loop, which runs their done()
 * callbacks. No other state is shared between the threads and the loop.
 */
#include "iopool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/log.h"

struct job {
	iopool_fn work, done;
	void *arg;
	struct job *next;
};

struct iopool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo_head, *todo_tail;
	struct job *done_head, *done_tail;
	int stopping;
	int pending;              /* loop thread only */
	int efd;
	struct event *ev;
	pthread_t *threads;
	int nthreads;
};

static void *
worker(void *arg)
{
	struct iopool *p = arg;
	struct job *j;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->todo_head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->todo_head == NULL) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->todo_head;
		if ((p->todo_head = j->next) == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);

		j->work(j->arg);

		pthread_mutex_lock(&p->mu);
		j->next = NULL;
		if (p->done_tail)
			p->done_tail->next = j;
		else
			p->done_head = j;
		p->done_tail = j;
		pthread_mutex_unlock(&p->mu);
		/* A failed write means the counter is already non-zero. */
		if (write(p->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_warn("iopool: eventfd write");
	}
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct iopool *p = arg;
	struct job *j, *next;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("iopool: eventfd read");
	pthread_mutex_lock(&p->mu);
	j = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; j; j = next) {
		next = j->next;
		p->pending--;
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

struct iopool *
iopool_new(struct event_base *base, int nthreads)
{
	struct iopool *p = calloc(1, sizeof(*p));
	int i;

	if (p == NULL)
		return NULL;
	p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_done, p)) == NULL ||
	    event_add(p->ev, NULL) == -1 ||
	    (p->threads = calloc((size_t)nthreads, sizeof(pthread_t))) == NULL)
		goto fail;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			goto fail;
		p->nthreads++;
	}
	return p;
fail:
	iopool_free(&p);
	return NULL;
}

void
iopool_free(struct iopool **pp)
{
	struct iopool *p = *pp;
	struct job *j, *next;
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (j = p->done_head; j; j = next) {
		next = j->next;
		free(j);
	}
	if (p->ev)
		event_free(p->ev);
	if (p->efd != -1)
		close(p->efd);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	*pp = NULL;
}

int
iopool_submit(struct iopool *p, iopool_fn work, iopool_fn done, void *arg)
{
	struct job *j = malloc(sizeof(*j));

	if (j == NULL)
		return -1;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->todo_tail)
		p->todo_tail->next = j;
	else
		p->todo_head = j;
	p->todo_tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->pending++;
	return 0;
}

int
iopool_pending(const struct iopool *p)
{
	return p->pending;
}
