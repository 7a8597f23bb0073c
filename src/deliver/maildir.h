/*
 * maildir: everything tern knows about Maildirs
 * (https://cr.yp.to/proto/maildir.html): where a local mailbox's Maildir
 * is, making one, unique names, the trace fields of a final delivery, and
 * delivering one message: write tmp/<unique>, fsync, rename into new/,
 * after asking the user's quota (mailbox/quota.c) whether it fits.
 * The caller makes the rename durable with an fsync of new/ (batched, see
 * queue/commit.c) before it counts the delivery as done. maildir_deliver
 * runs on an I/O thread. A direct delivery (queue.c) writes the file
 * itself, between maildir_open_tmp and the queue's commit.
 */
#ifndef TERN_MAILDIR_H
#define TERN_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/buf.h"

enum deliver_status { DELIVER_OK = 0, DELIVER_TEMP, DELIVER_PERM };

struct quota_limits;

struct maildir_result {
	enum deliver_status status;
	char dsn[8];            /* when not OK: RFC 3463 code, "" for the usual
	                         * (4.3.0, 5.3.0); "4.2.2"/"5.2.2" over quota */
	uint64_t size;          /* when OK: octets of the file delivered */
	char newdir[1024];      /* the new/ directory written, for the fsync */
	char error[256];        /* why, when not OK */
};

/*
 * Delivers prefix (trace headers) followed by len octets of src_fd from
 * offset off into the Maildir at path, creating it if needed; first
 * checks quota (NULL: none) with maildir_quota_check. The caller adds the
 * delivery to the quota (mailbox/quota.h: quota_add, res->size) once the
 * rename is durable. folder (a Maildir++ subfolder such as ".Junk", or
 * NULL) takes the message instead of the inbox when it exists; the quota
 * is the whole mailbox's either way.
 */
void maildir_deliver(const char *path, const char *folder, const char *hostname,
    const char *prefix, size_t prefix_len, int src_fd, off_t off,
    uint64_t len, const struct quota_limits *quota, struct maildir_result *res);

/*
 * Whether a message of size octets (the whole file) fits the quota of
 * the Maildir at box (mailbox/quota.h, on an I/O thread). 0 when it does,
 * when quota is NULL or limits nothing, or when the usage cannot be read
 * (logged: a quota tern cannot count does not hold mail back); -1 when it
 * does not, with res saying why: DELIVER_TEMP "4.2.2" (over for now) or
 * DELIVER_PERM "5.2.2" (larger than the quota itself).
 */
int maildir_quota_check(const char *box, const struct quota_limits *quota,
    uint64_t size, struct maildir_result *res);

/* A Maildir unique name: "<sec>.M<usec>P<pid>Q<n>.<host>" (thread-safe). */
void maildir_unique_name(const char *hostname, char *out, size_t outsize);

/* Appends ",S=<total>" to a name in new/: readers take the size from it. */
void maildir_name_add_size(char *name, size_t size, uint64_t total);

/* Creates whatever is missing of the Maildir at path: tmp/, new/, cur/
 * and their parents (fileio_mkdirs). Returns 0 or -1 with errno. */
int maildir_create(const char *path);

/* The Maildir of a local mailbox "user@domain": <mailroot>/<domain>/<user>.
 * -1 when the address makes no safe path, or too long a one. */
int maildir_path(const char *mailroot, const char *addr, char *out,
    size_t outsize);

/* Appends the trace fields a final delivery puts in front of the
 * message: Return-Path (RFC 5321 §4.4) and Delivered-To (RFC 9228, for
 * loop detection by later hops). 0 or -1 when out of memory. */
int maildir_trace_prefix(struct buf *out, const char *sender, const char *rcpt);

/* The fsync of res->newdir after a delivery failed with err: the rename
 * may not be durable, so the delivery becomes a temporary failure. */
void maildir_sync_failed(struct maildir_result *res, int err);

/*
 * For a direct delivery: creates <box>/tmp/<unique> (O_EXCL, mode 0600)
 * and returns its descriptor; tmp_r gets its name, final_r the name it
 * takes in <box>/new/ (without its size: maildir_name_add_size) and
 * newdir_r the directory whose fsync makes that rename durable. Each of
 * the three holds size octets. -1 with errno: ENOENT when the Maildir is
 * not (any longer) there, ENAMETOOLONG when a name does not fit.
 */
int maildir_open_tmp(const char *box, const char *hostname, char *tmp_r,
    char *final_r, char *newdir_r, size_t size);

#endif
