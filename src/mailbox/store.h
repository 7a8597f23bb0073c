/*
 * store: the mailbox store, read side. A user's mail is a Maildir
 * (deliver/maildir.c writes it); its folders are Maildir++ subfolders
 * (".Sent", ...). Every reader — POP3 now, IMAP next — and Dovecot, if a
 * site runs it on the same Maildir, sees one set of UIDs per folder kept
 * in Dovecot's own `dovecot-uidlist`, under Dovecot's dotlock
 * (`dovecot-uidlist.lock`), so clients keep their UIDs whichever server
 * answers them (docs/mailbox.md has the formats, the steps and a crash
 * analysis of each).
 *
 * Every function here blocks on the disk: call it on the I/O pool
 * (common/iopool.h), never on the loop thread. A struct mbox is owned by
 * one session and touched by one thread at a time.
 */
#ifndef TERN_MAILBOX_STORE_H
#define TERN_MAILBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../proto/tern_index.h"


#define MBOX_PATH_MAX 1024
#define MBOX_VSIZE_UNKNOWN UINT64_MAX
#define MBOX_KEYWORDS_MAX 26     /* Dovecot's Maildir keyword letters a-z */
/* The expunges remembered for QRESYNC: beyond this many ranges the oldest
 * go into vanished_floor. */
#define MBOX_VANISHED_MAX 10000

enum mbox_err {
	MBOX_OK = 0,
	MBOX_NOENT,      /* no such folder */
	MBOX_LOCKED,     /* the uidlist lock stayed taken (another writer) */
	MBOX_IO,         /* the disk said no: errno-like detail in the log */
	MBOX_NOMEM,
	MBOX_EXISTS,     /* a folder of that name is there already */
	MBOX_BADNAME,    /* not a name a folder may have */
};

/* One message of a folder, as the last sync saw it. */
struct mbox_msg {
	uint32_t uid;
	char *name;          /* owned: its file name in cur/ (or new/) */
	size_t base_len;     /* the name's unique part: its first base_len octets */
	bool in_new;         /* still in new/ (a read-only sync) */
	uint64_t size;       /* octets of the file */
	uint64_t vsize;      /* with every line end CR LF (RFC822.SIZE, POP3
	                      * LIST); MBOX_VSIZE_UNKNOWN after a read-only
	                      * sync of a message never read */
	unsigned flags;      /* enum maildir_flag */
	char *pop3_uidl;     /* owned: a UIDL kept in dovecot-uidlist (its P
	                      * field, from a migration), or NULL */
	uint64_t modseq;     /* RFC 7162: the last change of this message (>= 1) */
	uint32_t keywords;   /* bit n: mb->keywords[n] (the name letter 'a' + n) */
	int64_t internal_date;  /* the file's mtime, seconds: IMAP INTERNALDATE */
	bool recent;         /* this sync moved it from new/ to cur/ (IMAP4rev1
	                      * \Recent: the session whose sync did it is the
	                      * first to see it); false on a read_only sync */
};

/* UIDs lo..hi expunged at modseq. A range may also cover UIDs that were
 * expunged earlier or never given (RFC 7162 lets VANISHED (EARLIER) name
 * more than the client knew). */
struct mbox_vanished { uint32_t lo, hi; uint64_t modseq; };

struct mbox_cache;   /* store_cache.c */

struct mbox {
	char dir[MBOX_PATH_MAX];   /* the folder: holds new/ cur/ tmp/ */
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct mbox_msg *msgs;     /* ascending by uid; owned */
	size_t n;
	size_t cap;
	/* cur/ and new/, opened (O_PATH) at the first message read, so that
	 * each open walks one name, not the whole path; descriptor + 1, 0
	 * when not open. mbox_free closes them. */
	int subfd[2];
	/* What the last sync did, for the log. */
	size_t new_uids;           /* messages that got a UID */
	size_t moved;              /* new/ -> cur/ */
	/* MODSEQ (RFC 7162), kept in the folder's tern-index. */
	uint64_t highestmodseq;    /* >= every msg's modseq and every vanished modseq */
	char *keywords[MBOX_KEYWORDS_MAX];  /* owned; dovecot-keywords; NULL unused */
	struct mbox_vanished *vanished;     /* owned; ascending by lo; may be trimmed */
	size_t nvanished;
	uint64_t vanished_floor;   /* expunges at modseq <= this may be missing from vanished[] */
	bool fast;                 /* this sync neither listed new/ and cur/ nor read
	                            * dovecot-uidlist: the index said nothing changed */

	/* The store's own, between calls: */
	bool ix_same;              /* msgs is what tern-index (as ix_file) and its
	                            * log (as log_file; !valid: none) hold */
	struct tern_index_stat ix_file;
	struct tern_index_stat log_file;
	uint64_t ix_gen;           /* that index's generation */
	struct tern_index_stat seen[TERN_INDEX_NSTAT];  /* new/ cur/ uidlist as last looked at */
	struct tern_index_stat kw_file;    /* dovecot-keywords as read */
	uint32_t *gone;            /* owned: UIDs mbox_expunge removed from the index */
	size_t ngone;              /* that are still in msgs until the next sync */
	struct mbox_cache *cache;  /* owned: tern-cache, once used */
	int lock_timeout;          /* the last sync's conf->lock_timeout */
	bool has_new;              /* some message may be in new/ */
	bool has_recent;           /* some message has recent set */
};

/* The store's limits and identity, fixed at start. */
struct mbox_conf {
	const char *hostname;      /* for unique names */
	int lock_timeout;          /* seconds to wait for the uidlist lock */
};

/*
 * Brings mb up to date with the folder at dir: reads dovecot-uidlist,
 * lists new/ and cur/, gives each message without a UID the next ones
 * (in the order of their names, which start with the arrival time),
 * moves new/ to cur/ unless read_only (a message seen by a client is no
 * longer new, Maildir says), and writes the uidlist back when it changed.
 * A message that has gone (another session expunged it) leaves mb.
 * mb may be a fresh zeroed struct or the result of an earlier sync (of
 * the same dir: another dir starts afresh).
 *
 * Each change since the folder's tern-index was written (a flag or
 * keyword renamed by anyone, a new message, an expunge) gets a MODSEQ
 * above every one before; the index is written back. When new/, cur/ and
 * dovecot-uidlist have not changed since the index was written, nothing
 * is listed or read but the index (mb->fast), and nothing at all when mb
 * already holds it. On an error mb is left as it was.
 */
enum mbox_err mbox_sync(struct mbox *mb, const char *dir, bool read_only,
    const struct mbox_conf *conf);

/* Opens message i for reading (O_RDONLY|O_CLOEXEC). A message whose
 * flags another session changed meanwhile has a new name: it is looked
 * up by its base. -1 with errno ENOENT when it was expunged. */
int mbox_open_msg(struct mbox *mb, size_t i);

/*
 * Removes messages (by index into mb->msgs; ascending, no repeats) as one
 * step that a crash cannot cut in half: their names go into a journal
 * file first (fsynced), then they are unlinked, then the journal goes; a
 * sync that finds a journal finishes it. Also sets flags `add` on the
 * messages in keep[] (POP3 marks what it retrieved \Seen). Counts
 * the freed octets for the quota file. Their UIDs go into vanished[] and
 * the index with a new MODSEQ (highestmodseq); they stay in mb->msgs
 * until the next sync.
 */
enum mbox_err mbox_expunge(struct mbox *mb, const size_t *del, size_t ndel,
    const size_t *keep, size_t nkeep, unsigned add, const struct mbox_conf *conf);

/* Sets the flags add and clears the flags clear (enum maildir_flag) of
 * message i: a rename in cur/ that keeps the flags another reader gave it
 * meanwhile. MBOX_NOENT when it has been expunged. Its MODSEQ comes at
 * the next sync. */
enum mbox_err mbox_set_flags(struct mbox *mb, size_t i, unsigned add, unsigned clear);

/* STORE on many messages: one lock, one index write. For each idx[k]
 * (ascending, no repeats): sys flags and keywords become
 * replace ? (set, kw_set) : ((flags|add)&~clear, (kw|kw_add)&~kw_clear)
 * -- add/clear are given as (sys,kw) pairs below. unchangedsince != 0
 * (CONDSTORE UNCHANGEDSINCE): a message whose modseq is above it is not
 * changed and modified_r[k] = true. A message that actually changes gets
 * a new modseq (mb->msgs[i].modseq updated, highestmodseq too). Expunged
 * meanwhile: skipped (gone_r[k] = true). modified_r and gone_r have n
 * entries each (or are NULL). A message whose flags someone else changed
 * since the last sync counts as modified under unchangedsince: its
 * change has a MODSEQ above anything the client knows. */
struct mbox_flag_change {
	bool replace;
	unsigned add, clear;          /* enum maildir_flag */
	uint32_t kw_add, kw_clear;    /* bits of mb->keywords */
};
enum mbox_err mbox_store(struct mbox *mb, const size_t *idx, size_t n,
    const struct mbox_flag_change *ch, uint64_t unchangedsince,
    bool *modified_r, bool *gone_r);

/* The bit of keyword name (case-insensitive compare, as IMAP), adding it
 * to dovecot-keywords (Dovecot's format: "<n> <name>" lines, under the
 * uidlist lock, tmp + rename) when create. -1 when absent (!create) or
 * all 26 are taken, or the name cannot be one (dovecot_keyword_name_ok),
 * or the file cannot be written. */
int mbox_keyword(struct mbox *mb, const char *name, size_t len, bool create);

/* A cache of what the IMAP server parsed out of a message, in the
 * folder's tern-cache (shared by sessions, never needed for correctness). */
enum mbox_cache_field { MBOX_CACHE_ENVELOPE, MBOX_CACHE_BODYSTRUCTURE, MBOX_CACHE_BODY,
	MBOX_CACHE_HEADERS /* the header block, for SEARCH/SORT */ };
struct buf;
/* What was stored for message i, appended to out (common/buf.h); false when absent. */
bool mbox_cache_get(struct mbox *mb, size_t i, enum mbox_cache_field f, struct buf *out);
/* Remembers it (in memory until mbox_cache_flush, or until a megabyte
 * waits). 0, or -1 (out of memory, or too big to keep: 16 MiB). */
int mbox_cache_put(struct mbox *mb, size_t i, enum mbox_cache_field f, const char *p, size_t n);
/* Appends what was put to the folder's cache file `tern-cache` (append-only,
 * records keyed by uid+base; compacted when mostly garbage). */
void mbox_cache_flush(struct mbox *mb);

/*
 * IMAP APPEND: size octets of src_fd (from offset 0) become a new message
 * of the folder at dir, with flags and internal_date (the file's mtime),
 * written to tmp/, synced, and renamed into cur/ under the uidlist lock,
 * which then records its UID: *uidvalidity_r and *uid_r (APPENDUID, RFC
 * 4315). The copy is on stable storage when MBOX_OK returns.
 */
enum mbox_err mbox_append(const char *dir, int src_fd, uint64_t size, unsigned flags,
    time_t internal_date, const struct mbox_conf *conf, uint32_t *uidvalidity_r,
    uint32_t *uid_r);
/* A keyword by its name (APPEND's flag list). */
struct mbox_kw {
	const char *name;
	size_t len;
};
/* mbox_append with keywords kw[0..nkw) too: given their letters in that
 * folder's dovecot-keywords (names it lacks are added, under the same
 * lock). Names that cannot be keywords (\Recent, ...) are left out, and
 * so are new ones when its 26 letters are taken. */
enum mbox_err mbox_append_kw(const char *dir, int src_fd, uint64_t size, unsigned flags,
    const struct mbox_kw *kw, size_t nkw, time_t internal_date, const struct mbox_conf *conf,
    uint32_t *uidvalidity_r, uint32_t *uid_r);

/* IMAP COPY: message i of mb into the folder at dir under a new name,
 * with its flags, keywords (by name: the letters of dir's
 * dovecot-keywords, names it lacks added) and date: a hard link, or a
 * copy where the filesystem cannot link; its UID there in *uid_r
 * (COPYUID). */
enum mbox_err mbox_copy(struct mbox *mb, size_t i, const char *dir,
    const struct mbox_conf *conf, uint32_t *uidvalidity_r, uint32_t *uid_r);

/* IMAP MOVE: as mbox_copy, but the file is renamed into the folder at
 * dir, so that it is in one folder or the other whatever happens (a
 * copy and an expunge would show it twice after a crash between them).
 * mb still lists it: its next sync finds it gone and records it vanished
 * (the caller's view removes it from there). Same filesystem only; on
 * another it is copied, then the original unlinked. */
enum mbox_err mbox_move(struct mbox *mb, size_t i, const char *dir,
    const struct mbox_conf *conf, uint32_t *uidvalidity_r, uint32_t *uid_r);

/*
 * Folders (Maildir++, as Dovecot keeps them): "INBOX" is the root Maildir;
 * any other name, hierarchy separator '.', is the directory root/.<name>,
 * its name as stored on disk (modified UTF-7, Dovecot's default: the IMAP
 * layer converts). A name may not be empty, hold '/', start or end with
 * '.', hold "..", or be longer than the path allows.
 */
int mbox_folder_dir(const char *root, const char *name, char *out, size_t outsize);
/* A new folder, with its maildirfolder marker. MBOX_EXISTS, MBOX_BADNAME. */
enum mbox_err mbox_folder_create(const char *root, const char *name);
/* Removes a folder and its messages (not the INBOX, nor the folders
 * below it): first renamed out of sight, then emptied. */
enum mbox_err mbox_folder_delete(const char *root, const char *name);
/* Renames a folder and the folders below it (A -> B moves A.x to B.x). */
enum mbox_err mbox_folder_rename(const char *root, const char *from, const char *to);
/* The folders of root ("INBOX" first, then the others sorted), as names;
 * *names_r is owned by the caller (mbox_names_free). */
enum mbox_err mbox_folder_list(const char *root, char ***names_r, size_t *n_r);
/* The subscribed names (the subscriptions file, one a line). */
enum mbox_err mbox_subscriptions(const char *root, char ***names_r, size_t *n_r);
/* Subscribes (on) or unsubscribes a name: the file rewritten through a
 * temporary file and a rename. */
enum mbox_err mbox_subscribe(const char *root, const char *name, bool on);
void mbox_names_free(char **names, size_t n);

/* Creates the standard Maildir++ folders of a user's root Maildir
 * (.Drafts .Sent .Trash .Junk .Archive) and subscribes them, once: a
 * folder that exists is left alone. */
enum mbox_err mbox_create_defaults(const char *root);

/* Removes the files in <dir>/tmp/ that no writer will finish: older than
 * max_age seconds (Maildir's 36 hours, for anyone's), or named by a
 * process of this host (the name's P<pid> and host) that no longer runs
 * (ternd's own after a kill -9, any crashed delivery agent's). The host
 * in a name is this one's if it is host (ternd's hostname setting, which
 * its own names carry) or the system's name (gethostname, which other
 * programs' names carry). host NULL: the age rule only. Returns how many
 * went. */
#define MBOX_TMP_MAX_AGE (36 * 3600)
size_t mbox_clean_tmp(const char *dir, time_t now, int max_age, const char *host);

void mbox_free(struct mbox *mb);

const char *mbox_strerror(enum mbox_err e);

#endif
