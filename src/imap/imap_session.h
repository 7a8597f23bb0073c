/*
 * imap_session: what the IMAP server's files share, private to src/imap/.
 *
 * imap_server.c is the session on the loop: the greeting, reading
 * commands and their literals, logging in, STARTTLS, ENABLE, IDLE, and
 * handing every command that touches the mailbox to the I/O pool as a
 * job (imap_job.c). A job borrows the session's struct imap_box (the
 * user's mailboxes, the selected folder and what its client has been
 * told) for as long as it runs, builds the whole answer into a buffer
 * and gives both back by connection id; the session has returned
 * CONN_PENDING meanwhile, so pipelined commands wait their turn and
 * nothing on the loop touches the box while a job has it.
 *
 * The commands themselves, each run on the pool:
 *   imap_mailbox.c  SELECT EXAMINE CLOSE UNSELECT EXPUNGE CHECK NOOP, and
 *                   the untagged updates (EXISTS, EXPUNGE/VANISHED, FETCH
 *                   FLAGS) a selected folder owes its client;
 *   imap_folder.c   LIST LSUB CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE
 *                   STATUS NAMESPACE GETQUOTA GETQUOTAROOT SETQUOTA;
 *   imap_fetch.c    FETCH;
 *   imap_write.c    STORE COPY MOVE APPEND;
 *   imap_query.c    SEARCH SORT THREAD.
 */
#ifndef TERN_IMAP_SESSION_H
#define TERN_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../mailbox/quota.h"
#include "../mailbox/store.h"
#include "../proto/maildir_name.h"
#include "../net/conn.h"
#include "../proto/imap_cmd.h"
#include "../proto/sasl.h"
#include "imap_server.h"

/* RFC 9051 §5.4: an autologout timer of at least 30 minutes once logged
 * in; a client that has not logged in gets less. */
#define IMAP_IDLE_TIMEOUT (30 * 60)
#define IMAP_PREAUTH_TIMEOUT 180
/* A job stops adding FETCH responses past this much output and goes on
 * once the client has taken it: memory per session stays one piece. */
#define IMAP_OUT_PIECE (256 * 1024)
/* The longest line the conn frames (the parser's own limit, 8 KiB a line
 * as RFC 7162 §4 asks, answers BAD below it). */
#define IMAP_LINE_MAX (64 * 1024)
/* A mailbox name, UTF-8. */
#define IMAP_NAME_MAX 512

enum imap_state { I_NOT_AUTH, I_AUTH, I_SELECTED };

/* One message of the selected folder as its client knows it: sequence
 * number n is view[n - 1]. */
struct imap_seen {
	uint32_t uid;
	unsigned flags;      /* enum maildir_flag, as last told */
	uint32_t keywords;   /* as last told */
	uint64_t modseq;     /* as last told */
	bool recent;         /* \Recent in this session (IMAP4rev1) */
	size_t mi;           /* its index in box->mb.msgs; SIZE_MAX: expunged
	                      * on disk, not yet told (a ghost) */
};

/* A session's mailboxes: the session's, lent to a job while one runs. */
struct imap_box {
	const struct imap_server_env *env;
	uint64_t max_message_size;       /* APPENDLIMIT: the session's, for the pool */
	char user[SASL_USER_MAX + 1];
	char root[MBOX_PATH_MAX];        /* the user's Maildir: INBOX */
	struct quota_limits quota;       /* from the users file */

	/* What the client enabled (RFC 5161). */
	bool rev2, condstore, qresync, utf8;

	/* The selected folder. */
	bool selected, read_only;
	char name[IMAP_NAME_MAX];        /* UTF-8, "INBOX" for the INBOX */
	char dir[MBOX_PATH_MAX];
	struct mbox mb;                  /* its state at the last sync; owned */
	struct imap_seen *view;          /* owned */
	size_t nview, capview;
	size_t nkw_told;                 /* keywords announced in FLAGS */
	uint64_t told_modseq;            /* HIGHESTMODSEQ as last told */
	uint32_t *saved;                 /* SEARCHRES "$" (RFC 5182): UIDs; owned */
	size_t nsaved;
};

/* Whether a command is followed by a sync and the untagged updates it
 * finds (EXISTS, FETCH FLAGS, EXPUNGE/VANISHED). FETCH, STORE, SEARCH
 * and COPY are not (U_NONE): no EXPUNGE may come while they answer by
 * sequence number (RFC 9051 §7.5.1), and a sync after a change costs a
 * directory scan; NOOP, IDLE, CHECK, EXPUNGE, APPEND and the folder
 * commands are (U_ALL). */
enum imap_updates { U_NONE, U_ALL };

struct imap_job;
struct mbox_watch;
typedef void (*imap_exec_fn)(struct imap_job *j);

#define IMAP_TAG_MAX 128

struct imap_session {
	uint64_t id;
	const struct imap_server_env *env;
	const struct config *cfg;        /* the one the session started with (a reference) */
	struct conn *conn;
	enum imap_state state;
	struct buf out;                  /* answers not yet handed to the conn */
	unsigned errors, ncmds;
	struct imap_box *box;            /* NULL before a login */
	bool lent;                       /* a job has the box */
	char login[SASL_USER_MAX + 1];
	bool counted;                    /* in the per-user session count */

	/* The command being read: its lines and literals so far. */
	struct buf cmd;
	enum imap_cmd_err skip;          /* a literal was refused: the rest of
	                                  * the command is read and dropped */
	bool literal8;
	/* AUTHENTICATE: the next line answers our "+ ". */
	bool in_sasl;
	struct sasl_server sasl;
	char sasl_tag[IMAP_TAG_MAX + 1];
	/* IDLE (RFC 2177) */
	bool idling;
	char idle_tag[IMAP_TAG_MAX + 1];
	struct mbox_watch *watch;        /* the selected folder's */
	bool wake_pending;               /* a change came while a job ran */
	bool idle_done;                  /* DONE came while a wake-up ran */
	/* A FETCH answer going out in pieces. */
	struct imap_job *next_piece;
	const char *close_reason;
};

struct imap_session *imap_session_find(uint64_t id);
/* Hands the answers built so far to the conn. */
void imap_flush(struct imap_session *s);
/* Back from a job: the box returns to the session; watches follow the
 * selected folder. */
void imap_session_box_back(struct imap_session *s, struct imap_job *j);

/* A command on the pool. */
struct imap_job {
	uint64_t sid;
	char tag[IMAP_TAG_MAX + 1];      /* "" for an IDLE wake-up */
	struct imap_box *box;            /* lent by the session */
	struct buf text;                 /* owned: the command as it came */
	struct imap_cmd cmd;             /* parsed from text */
	bool parsed;
	imap_exec_fn fn;
	enum imap_updates updates;
	struct buf out;                  /* owned: the answer built */
	/* After fn: the tagged status ("OK", "NO", "BAD") with its text, or
	 * none (an IDLE wake-up has no tag). */
	const char *status;
	struct buf status_text;
	bool close;                      /* BYE: end the session after out */
	bool more;                       /* out is a piece; run again once
	                                  * the client has taken it */
	/* FETCH's place when it goes on in pieces; its message list. */
	size_t *idx;
	size_t nidx, cursor;
	bool ghosts;                     /* some asked-for message had gone */
	bool want_select;                /* the session enters I_SELECTED */
	bool want_unselect;
	bool write_failed;
};

/* imap_job.c */
/* Runs fn on the pool with the session's box; the session returns the
 * step this gives (CONN_PENDING) and hears back by id. */
enum conn_step imap_job_start(struct imap_session *s, const char *tag,
    struct buf *text, struct imap_cmd *cmd, imap_exec_fn fn, enum imap_updates updates);
void imap_job_free(struct imap_job *j);
/* The conn's writable callback: the next piece of a long answer. */
enum conn_step imap_job_writable(struct imap_session *s);
/* The session is going with a piece waiting: the job and box go. */
void imap_job_abandon(struct imap_session *s);
/* imap_server.c: a job has finished and its answer is written. */
void imap_session_job_end(struct imap_session *s, struct imap_job *j);
/* The tagged answer of j: status "OK"/"NO"/"BAD" and a text. */
void imap_job_status(struct imap_job *j, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* imap_out.c: writing IMAP data */
/* A mailbox name (UTF-8) as the client reads it: mUTF-7 unless UTF8=ACCEPT
 * is on, as a quoted string or a literal. */
void imap_put_mailbox(struct buf *out, const char *name, bool utf8);
/* A string: quoted when it can be, else a literal. */
void imap_put_string(struct buf *out, const char *s, size_t len);
/* The flags of a message: "(\Seen \Answered kw ...)". */
void imap_put_flags(struct buf *out, const struct imap_box *b, unsigned flags,
    uint32_t keywords, bool recent);
/* A sequence set of uids (ascending, no repeats): "1:3,7". */
void imap_put_uidset(struct buf *out, const uint32_t *uids, size_t n);
/* A FETCH response's date: "dd-Mon-yyyy hh:mm:ss +zzzz". */
void imap_put_date(struct buf *out, int64_t t);
/* IMAP's system flags <-> Maildir's letters. */
unsigned imap_flags_to_maildir(unsigned imap);
unsigned imap_flags_from_maildir(unsigned md);

/* imap_mailbox.c */
/* Brings the folder's state up to date and tells the client what
 * changed since it last heard (with what updates allows). */
void imap_sync_view(struct imap_job *j, enum imap_updates updates);
/* The view indexes a sequence set (by UID or by number) names, in order;
 * *idx_r owned by the caller. -1 when memory runs out. */
int imap_seqset_resolve(const struct imap_box *b, const struct imap_seqset *set,
    bool uid, size_t **idx_r, size_t *n_r);
/* The folder dir of a name (UTF-8): -1 when it cannot be one. */
int imap_folder_dir(const struct imap_box *b, const char *name, char *out, size_t outsize);
/* Each view entry's place in box->mb, after mb has changed. */
void imap_view_map(struct imap_box *b);
/* "* n FETCH (FLAGS ...)" for view entry k, as last told. */
void imap_put_fetch_flags(struct imap_job *j, size_t k);
/* "* VANISHED (EARLIER) uids": the UIDs of within (all when it is
 * empty) expunged after MODSEQ since, as far as the index remembers. */
void imap_put_vanished(struct imap_job *j, uint64_t since, const struct imap_seqset *within);
/* Forgets the selected folder. */
void imap_box_unselect(struct imap_box *b);
void imap_box_free(struct imap_box *b);
/* Removes view entries (ascending indexes) and tells the client: EXPUNGE
 * per message, or VANISHED with QRESYNC. */
void imap_view_remove(struct imap_job *j, const size_t *vi, size_t n);

void imap_cmd_select(struct imap_job *j);
void imap_cmd_close(struct imap_job *j);
void imap_cmd_expunge(struct imap_job *j);
void imap_cmd_noop(struct imap_job *j);
void imap_cmd_idle_done(struct imap_job *j);
/* The login's first step: the Maildir and its default folders. */
void imap_cmd_open(struct imap_job *j);

/* imap_folder.c */
void imap_cmd_list(struct imap_job *j);
void imap_cmd_create(struct imap_job *j);
void imap_cmd_delete(struct imap_job *j);
void imap_cmd_rename(struct imap_job *j);
void imap_cmd_subscribe(struct imap_job *j);
void imap_cmd_status(struct imap_job *j);
void imap_cmd_quota(struct imap_job *j);

/* imap_fetch.c */
void imap_cmd_fetch(struct imap_job *j);

/* imap_write.c */
void imap_cmd_store(struct imap_job *j);
void imap_cmd_copy(struct imap_job *j);
void imap_cmd_append(struct imap_job *j);

/* imap_query.c */
void imap_cmd_search(struct imap_job *j);

#endif
