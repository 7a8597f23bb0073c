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
#include <sys/stat.h>

#include "store.h"

struct uidlist;

#define UIDLIST       "dovecot-uidlist"
#define UIDLIST_LOCK  "dovecot-uidlist.lock"
#define UIDLIST_TMP   "tern-uidlist.tmp"   /* the next list, the lock holder's */
#define EXPUNGE_LOG   "tern-expunge"
#define INDEX_FILE    "tern-index"
#define INDEX_TMP     "tern-index.tmp"     /* the next index, the lock holder's */
#define INDEX_LOG     "tern-index.log"     /* changes since the index, appended */
#define KEYWORDS_FILE "dovecot-keywords"
#define KEYWORDS_TMP  "tern-keywords.tmp"  /* the next one, the lock holder's */
#define CACHE_FILE    "tern-cache"
/* Dovecot breaks a uidlist lock that has not changed for two minutes. */
#define LOCK_STALE_SECS 120
/* A directory's mtime says nothing of a change made in the same clock
 * tick as the stat that saw it (the change keeps the mtime). So a stat
 * counts only when taken this long after the mtime it saw: a later
 * change then has a later mtime. A second covers filesystems with whole
 * second times and a clock's coarse tick (Dovecot's MAILDIR_SYNC_SECS). */
#define STORE_TICK_NS 1000000000LL

/* msgs[0..n) and their names freed. */
void store_msgs_free(struct mbox_msg *msgs, size_t n);

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
 * with errno. Under the lock. st_r (or NULL): the file as read. */
int store_uidlist_load(const char *dir, struct uidlist *ul, bool *dirty,
    struct tern_index_stat *st_r);
/* ul becomes dovecot-uidlist (temp file, fdatasync, rename, folder fsync);
 * the lock stays taken. */
enum mbox_err store_uidlist_write(const char *dir, const struct uidlist *ul);

/* ------------------------------------------- listing (store_list.c) */

/* A file found in new/ or cur/. */
struct found {
	char *name;          /* owned until a message takes it */
	size_t base_len;
	bool in_new;
	bool matched;
	bool has_date;       /* date is the file's mtime (a stat was needed) */
	unsigned flags;
	uint32_t keywords;
	uint64_t size;
	uint64_t vsize;      /* MBOX_VSIZE_UNKNOWN until the name, the record
	                      * or a read says */
	int64_t date;
};

struct listing {
	struct found *f;
	size_t n, cap;
	/* open addressing by base: indexes + 1, 0 empty */
	size_t *slots;
	size_t nslots;
};

/* Adds the messages of dir/sub to l. -1 with errno. */
int store_listing_read(struct listing *l, const char *dir, const char *sub);
/* Makes l searchable by base (after the reads). -1 no memory. */
int store_listing_index(struct listing *l);
/* The unmatched file with this base, or NULL. */
struct found *store_listing_find(struct listing *l, const char *base, size_t len);
/* Moves f (from another listing: f->name is taken) into the indexed l. */
struct found *store_listing_take(struct listing *l, struct found *f);
void store_listing_free(struct listing *l);

/* ------------------------------------------------ tern-index (store_index.c) */

int64_t store_now_ns(void);
/* What fstat/stat said, taken at now_ns; !valid when it failed. */
void store_stat_fill(struct tern_index_stat *st, const struct stat *sb, int64_t now_ns);
void store_stat_path(const char *path, struct tern_index_stat *st, int64_t now_ns);
/* rec (as recorded) still says how the file is (now): the same file,
 * size and mtime, and rec was taken a tick after that mtime. */
bool store_stat_trusted(const struct tern_index_stat *rec, const struct tern_index_stat *now);
/* The same file, size and mtime (the index file as loaded). */
bool store_stat_same(const struct tern_index_stat *a, const struct tern_index_stat *b);

/* The system's boot id as tern-index keeps it (32 hex digits, "" when
 * unknown). An index written before the last boot may have lost its last
 * writes (no fsync): what it says of MODSEQs is not trusted. */
const char *store_boot_id(void);
bool store_ix_this_boot(const struct tern_index *ix);

/* A tern-index file as read, its log applied: ix spans data and logdata. */
struct store_ix {
	bool ok;                   /* ix holds a good file */
	bool missing;
	enum tern_index_err err;   /* why not, when !ok && !missing */
	struct buf data;
	struct buf logdata;
	struct tern_index ix;
	struct tern_index_stat file;
	struct tern_index_stat log_file;   /* !valid: no log */
};
/* Reads dir's tern-index and applies its log. -1 with errno on an I/O
 * error or no memory. */
int store_ix_read(const char *dir, struct store_ix *x);
/* mb holds the index and its log as they are now (a few stats). */
bool store_ix_holds(const struct mbox *mb);
/* x is good and is the index and log as they are now. */
bool store_ix_current(const char *dir, const struct store_ix *x);
/* The records rs[0..n) appended to dir's log of the index of generation
 * gen (made anew when it is missing or another index's); *log_r: the
 * log's stat after. Under the lock. -1 on an I/O error: the index and
 * log are removed then (they no longer say all that was handed out). */
int store_ix_log(const char *dir, uint64_t gen, const struct tern_index_logrec *rs, size_t n,
    struct tern_index_stat *log_r);
void store_ix_free(struct store_ix *x);
/* mb's messages, numbers and stats become x's (mb->ix_same). -1 no memory. */
int store_ix_adopt(struct mbox *mb, const struct store_ix *x);
/* ix's msgs (allocated; tern_index_clear frees them) and ranges become
 * views of mb's, less the UIDs in mb->gone. -1 no memory. */
int store_ix_from_mb(const struct mbox *mb, struct tern_index *ix);
/* Writes ix as dir's tern-index (temp file, rename; no fsync: it is
 * never needed for correctness) with a new generation (ix->gen), and
 * removes the log of the old one. Under the lock. 0 and *file_r, or -1:
 * the old index is removed then, so that nobody trusts what it says of
 * MODSEQs handed out since. */
int store_ix_write(const char *dir, struct tern_index *ix, struct tern_index_stat *file_r);
/* The sync without a listing: true when mb is current, from what it
 * held or from the index file (read into x, which the full sync then
 * uses either way). Not when a writer (!read_only) has messages in new/
 * to move. */
bool store_fast_sync(struct mbox *mb, bool read_only, struct store_ix *x);
/* The index's ranges as mb keeps them, and back (*out_r allocated;
 * NULL for none on the way in). -1 no memory. */
int store_ranges_in(const struct tern_index_range *r, size_t n, struct mbox_vanished **out_r);
int store_ranges_out(const struct mbox_vanished *v, size_t n, struct tern_index_range **out_r);
/* The message of uid in ix (ascending by uid), or NULL. */
struct tern_index_msg *store_ix_find(struct tern_index *ix, uint32_t uid);
/* Adds the ranges add[0..nadd) (ascending, disjoint) to v[0..*n), merging
 * what overlaps, and keeps MBOX_VANISHED_MAX ranges at most by moving
 * the oldest into *floor. -1 no memory (v unchanged). */
int store_vanished_add(struct mbox_vanished **v, size_t *n, uint64_t *floor,
    const struct mbox_vanished *add, size_t nadd);

/* --------------------------------------- dovecot-keywords (store_keywords.c) */

/* The letters of keywords kw[0..nkw) in dir's dovecot-keywords, names it
 * lacks added (the file written again): *bits_r. Names that cannot be
 * keywords, or do not fit, are left out. Under dir's uidlist lock. -1 on
 * an I/O error. */
int store_keywords_map(const char *dir, const struct mbox_kw *kw, size_t nkw, uint32_t *bits_r);
/* Reads dovecot-keywords again if it changed since mb read it. */
void store_keywords_refresh(struct mbox *mb);
void store_keywords_free(struct mbox *mb);

/* -------------------------------------------- tern-cache (store_cache.c) */

void store_cache_free(struct mbox *mb);

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
