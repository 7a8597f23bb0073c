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

/*
 * The batched commit (commit_sync syncfs): the file at tmp is written, not
 * fsync'd; fd is its descriptor, opened before it was written, which
 * dirsync closes (it asks it for the file's own writeback errors, which a
 * syncfs may have reported to another caller). For a whole batch: syncfs() of each filesystem
 * involved (the files' data and inodes are on disk), then every rename
 * tmp -> final (never replacing), then syncfs() again (the new names are
 * on disk). Two device flushes per batch instead of one per file; the data
 * is durable before its name appears, so no half-written file is ever
 * visible after a crash. A final directory that is missing fails that
 * commit alone (ENOENT), never the batch. cb(arg, errno) as for
 * dirsync_request.
 */
int dirsync_commit(struct dirsync *ds, int fd, const char *tmp,
    const char *final, dirsync_cb cb, void *arg);

#endif
