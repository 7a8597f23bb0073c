/*
 * pickup: turns the files tern-sendmail leaves in data_dir/maildrop into
 * queued messages (docs/sendmail.md). The directory is watched with
 * inotify and listed again every minute and at start, so what was written
 * while ternd was down goes out once it is up. Files are read and checked
 * on the I/O pool; a file is removed only once its message is durable in
 * the queue (or, refused, once that is logged).
 */
#ifndef TERN_PICKUP_H
#define TERN_PICKUP_H

struct config;
struct event_base;
struct iopool;
struct queue;
struct pickup;

/* Starts watching data_dir/maildrop (made by pickup_prepare) and takes
 * what is there now. NULL when out of memory or the directory cannot be
 * watched (logged). */
struct pickup *pickup_new(struct event_base *base, struct iopool *pool, struct queue *q,
    const struct config *cfg);
/* Starts no further batch; one in flight finishes with the pool. */
/* A reload's new configuration (loop thread; jobs in flight keep the
 * limits they were given). */
void pickup_set_config(struct pickup *p, const struct config *cfg);
void pickup_stop(struct pickup *p);
/* Once the I/O pool is idle. */
void pickup_free(struct pickup **pp);

/*
 * Before the sandbox, as root or as the user ternd runs as: makes
 * data_dir/maildrop if missing, owned by uid/gid (when change), mode 1733:
 * anyone may add a file, nobody but its owner (or ternd, the directory's
 * owner) may remove it, nobody but ternd may list it. 0, or -1 (errno).
 */
#include <stdbool.h>
#include <sys/types.h>
int pickup_prepare(const char *data_dir, bool change, uid_t uid, gid_t gid);

#endif
