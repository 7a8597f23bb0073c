/*
 * iopool: the small pool of threads that do ternd's blocking disk work
 * (fsync, rename, Maildir delivery). A job's work() runs on a pool thread
 * and must touch nothing owned by the loop; its done() then runs on the
 * loop thread. Jobs are started in submission order.
 */
#ifndef TERN_IOPOOL_H
#define TERN_IOPOOL_H

struct event_base;
struct iopool;

typedef void (*iopool_fn)(void *arg);

struct iopool *iopool_new(struct event_base *base, int nthreads);
/* Waits for queued jobs to finish (their done() are not run), then frees. */
void iopool_free(struct iopool **pp);
/* Returns 0, or -1 when out of memory. */
int iopool_submit(struct iopool *p, iopool_fn work, iopool_fn done, void *arg);
/* Jobs submitted and not yet completed on the loop. */
int iopool_pending(const struct iopool *p);

#endif
