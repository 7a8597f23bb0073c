/*
 * dirsync: group commit of directory entries. Callers that renamed a file
 * into a directory ask for that directory to be fsync'd; requests that
 * arrive while one batch is on the I/O pool wait and go together in the
 * next, so N concurrent commits cost one directory fsync, not N.
 */
#ifndef TERN_DIRSYNC_H
#define TERN_DIRSYNC_H

struct dirsync;
struct iopool;

typedef void (*dirsync_cb)(void *arg, int err);

struct dirsync *dirsync_new(struct iopool *pool);
void dirsync_free(struct dirsync **dsp);
/* cb(arg, 0) once dir's entries are on stable storage, or cb(arg, errno).
 * Returns -1 (cb not called) when out of memory. */
int dirsync_request(struct dirsync *ds, const char *dir, dirsync_cb cb,
    void *arg);

#endif
