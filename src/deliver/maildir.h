/*
 * maildir: deliver one message into a Maildir (https://cr.yp.to/proto/maildir.html):
 * write tmp/<unique>, fsync, rename into new/. The caller makes the rename
 * durable with an fsync of new/ (batched, see queue/dirsync.c) before it
 * counts the delivery as done. Runs on an I/O thread.
 */
#ifndef TERN_MAILDIR_H
#define TERN_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum deliver_status { DELIVER_OK = 0, DELIVER_TEMP, DELIVER_PERM };

struct maildir_result {
	enum deliver_status status;
	char newdir[1024];      /* the new/ directory written, for the fsync */
	char error[256];        /* why, when not OK */
};

/*
 * Delivers prefix (trace headers) followed by len octets of src_fd from
 * offset off into the Maildir at path, creating it if needed.
 */
void maildir_deliver(const char *path, const char *hostname,
    const char *prefix, size_t prefix_len, int src_fd, off_t off,
    uint64_t len, struct maildir_result *res);

/* A Maildir unique name: "<sec>.M<usec>P<pid>Q<n>.<host>" (thread-safe). */
void maildir_unique_name(const char *hostname, char *out, size_t outsize);

/* Creates dir and missing parents (mode 0700), fsyncing each parent that
 * gained an entry. Returns 0 or -1 with errno. */
int maildir_mkdirs(const char *dir);

/* Creates whatever is missing of the Maildir at path: tmp/, new/, cur/
 * and their parents (maildir_mkdirs). Returns 0 or -1 with errno. */
int maildir_create(const char *path);

#endif
