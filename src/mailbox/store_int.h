/*
 * store_int: what the store's files share (store.c: sync; store_lock.c:
 * the uidlist lock and path helpers; store_msg.c: reading, flags,
 * expunge; store_maint.c: folders and tmp/). Private to src/mailbox/.
 */
#ifndef TERN_MAILBOX_STORE_INT_H
#define TERN_MAILBOX_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct uidlist;

#define UIDLIST       "dovecot-uidlist"
#define UIDLIST_LOCK  "dovecot-uidlist.lock"
#define UIDLIST_TMP   "tern-uidlist.tmp"   /* the next list, the lock holder's */
#define EXPUNGE_LOG   "tern-expunge"
/* Dovecot breaks a uidlist lock that has not changed for two minutes. */
#define LOCK_STALE_SECS 120

/* dir/sub/name (sub or name may be NULL) into out; -1 when too long. */
int store_path(char *out, size_t outsize, const char *dir, const char *sub,
    const char *name);
void store_fsync_dir(const char *dir);
/* gethostname(), "" when unknown. */
void store_this_host(char *out, size_t outsize);

/* The uidlist lock of dir: a descriptor, or -1 with *err set. */
int store_lock_take(const char *dir, int timeout, enum mbox_err *err);
void store_lock_drop(const char *dir, int fd);
/* ul becomes dovecot-uidlist and the lock goes (fd is consumed). */
enum mbox_err store_lock_commit(const char *dir, int fd, const struct uidlist *ul);

/* dir's dovecot-uidlist into ul (a new one, with a new UIDVALIDITY, when
 * it is missing or unreadable); *dirty when it must be written back. -1
 * with errno. Under the lock. */
int store_uidlist_load(const char *dir, struct uidlist *ul, bool *dirty);

/* A message's virtual size (every line end CR LF: a bare LF or CR counts
 * as two octets, as readers send it), counted over pieces of any size. */
struct store_vsize {
	uint64_t n;
	bool cr;             /* the last octet was a CR */
};
void store_vsize_feed(struct store_vsize *v, const char *p, size_t n);
uint64_t store_vsize_end(const struct store_vsize *v);

/* Finishes an expunge a crash left in dir's journal. */
void store_replay_expunge(const char *dir);

#endif
