/*
 * queue_int: what the files of src/queue/ share, private to them. The
 * public API is queue.h. The files, by job:
 *
 *   queue.c       the API, receiving (queue_tx_*), direct delivery's start,
 *                 the cache of known Maildirs
 *   commit.c      the group commit: a message's steps in both sync modes
 *                 and the batches of syncs on the I/O pool
 *   scheduler.c   where each message waits (heap, ready, held), the pump
 *   attempt.c     one delivery attempt: parts, outcomes, the state file
 *   dsn.c         notifications of an attempt's outcomes (dsn_select is
 *                 the pure choice, dsn_select.c)
 *   recover.c     startup: tmp/, msg/ and state/ as a crash left them
 *   admin.c       the administrator's view and actions (ternctl queue)
 *   queue_state.c the state file's format (pure)
 */
#ifndef TERN_QUEUE_INT_H
#define TERN_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../common/buf.h"
#include "../common/ids.h"
#include "../mailbox/quota.h"
#include "../proto/envelope.h"
#include "queue.h"

#define QPATH_MAX 1200
#define BOX_CACHE 1024

struct commit_group;
struct config;
struct courier_result;
struct maildir_result;
struct remote_job;

/* Where a queued message is; exactly one place at a time. */
enum qmsg_where {
	QMSG_NOWHERE = 0,   /* being made, loaded or rescheduled */
	QMSG_HEAP,          /* waiting for next_try (q->heap[heap_idx]) */
	QMSG_READY,         /* due, waiting for an attempt slot (q->ready) */
	QMSG_HELD,          /* due, every destination saturated (q->held) */
	QMSG_RUNNING,       /* an attempt (struct attempt) owns it */
	QMSG_ONHOLD,        /* put on hold by the administrator (q->onhold) */
};

/* An action of the administrator that the next attempt carries out
 * instead of a delivery (admin.c, attempt.c). */
enum qmsg_admin {
	QADMIN_NONE = 0,
	QADMIN_DELETE,      /* remove, no notification */
	QADMIN_BOUNCE,      /* fail every pending recipient: DSN to the sender */
};

struct qmsg {
	struct envelope env;
	uint64_t body_off;      /* where the message starts in msg/<id> */
	uint64_t body_len;
	double arrival;         /* for delay= in the logs */
	int64_t next_try;       /* unix seconds */
	unsigned attempts;
	enum qmsg_where where;
	size_t heap_idx;        /* while QMSG_HEAP; SIZE_MAX otherwise */
	TAILQ_ENTRY(qmsg) link; /* while QMSG_READY or QMSG_HELD */
	bool warned;            /* a delay DSN went out ("w" in state/<id>) */
	bool state_suspect;     /* the last append to state/<id> failed: rewrite it whole */
	bool has_state;         /* state/<id> exists */
	char held_domain[256];  /* while QMSG_HELD */
	bool on_hold;           /* hold/<id> exists or is being made */
	enum qmsg_admin admin;  /* carried out at the next attempt, which is due now */
	char **last_error;      /* per recipient: the last deferral's reason, or NULL */
};

TAILQ_HEAD(qmsg_list, qmsg);

struct attempt;
LIST_HEAD(attempt_list, attempt);

struct queue {
	struct event_base *base;
	struct iopool *pool;
	const struct config *cfg;       /* the running one (loop thread; a reload
	                                 * sets it: pool work reads its job's) */
	bool syncfs;                    /* commit_sync at start (a restart changes it) */
	char mailhost[256];             /* the host name in Maildir file names, at start */
	struct commit_group *group;
	struct ids ids;
	char tmpdir[QPATH_MAX], msgdir[QPATH_MAX], statedir[QPATH_MAX];
	char corruptdir[QPATH_MAX], mailroot[QPATH_MAX], holddir[QPATH_MAX];

	struct qmsg **heap;
	size_t nheap, heapcap;
	struct qmsg_list ready;
	/* Due messages whose every destination is saturated (remote.c's
	 * per-destination limit): they wait here, not in attempt slots, and
	 * go back to ready when a delivery to held_domain ends. */
	struct qmsg_list held;
	struct qmsg_list onhold;        /* held by the administrator */
	int inflight, max_inflight;
	struct event *timer;
	size_t nmsgs;
	bool stopping;          /* no new deliveries: shutting down */
	struct remote *remote;  /* NULL: remote recipients wait */
	struct keeper_signer *signer;   /* DKIM keys live in the keeper */
	const uint8_t *dkim_kinds;      /* per cfg->dkim[]: KEEPER_KEY_* */
	size_t ndkim;
	const struct directory *dir;
	struct attempt_list running;    /* attempts; they own their messages */
	uint64_t boxes[BOX_CACHE];  /* hashes of Maildirs known to exist */
};

struct queue_tx {
	struct queue *q;
	struct envelope env;
	int fd;
	uint64_t hdr_len, body_len;
	enum queue_err err;
	int sys_errno;
	queue_commit_cb cb;
	uint64_t cookie;
	/* Where the octets go, where they end up and the directory whose
	 * fsync makes that name durable. A queued message goes tmp/<id> ->
	 * msg/<id>; a direct delivery (see queue_tx_begin) goes where
	 * maildir_open_tmp says, the size added to the final name at the
	 * commit (maildir_name_add_size). */
	char tmp_path[QPATH_MAX], final_path[QPATH_MAX], sync_dir[QPATH_MAX];
	char box[QPATH_MAX];    /* direct: the Maildir (maildir_path) */
	char folder[32];        /* direct: its subfolder to take it (".Junk"), "" = inbox */
	struct quota_limits quota;   /* direct: the recipient's */
	bool direct;
	bool redone;            /* direct: the rename was tried again */
	size_t prefix_len;
	double started;
	/* queue-internal commits (DSNs) report here instead */
	void (*icb)(void *arg, enum queue_err err, const char *id);
	void *iarg;
};

/*
 * One attempt at one message. Its pending recipients are split into
 * parts: all local ones in one I/O-pool job (or one LMTP job with
 * local_transport), the remote ones one part per domain. When every part has reported, attempt.c's finish logs, has
 * dsn.c queue any notification, and records the outcome on disk.
 */
struct attempt {
	struct queue *q;
	const struct config *cfg;        /* a reference: the one it started under */
	struct qmsg *m;
	struct courier_result *res;      /* per recipient */
	struct maildir_result *mres;     /* per recipient, local part */
	struct quota_limits *quota;      /* per recipient, local part */
	bool *tried;                     /* recipients this attempt covers */
	int parts;                       /* parts still running (+1 guard) */
	int syncs;                       /* Maildir fsyncs still running */
	int fd;                          /* queue file for remote parts */
	struct remote_job *rjobs;
	size_t *ridx;                    /* recipient indexes, grouped by domain */
	bool remove;                     /* finish: unlink instead of append */
	bool unlink_state;               /* removal, second step: state/<id> */
	bool state_new;                  /* finish_work created state/<id> */
	bool warned_now;                 /* this attempt queued the delay warning */
	int finish_err;
	struct buf dkim;                 /* signatures for remote parts (ARC set, DKIM) */
	bool signed_dkim;                /* dkim holds DKIM-Signature fields */
	bool sealed;                     /* dkim begins with our ARC set */
	bool unhold;                     /* removal: the hold marker goes too */
	bool admin_run;                  /* a delete or bounce instead of a delivery */
	bool state_rewritten;            /* finish_work replaced a suspect state file */
	size_t ndom;                     /* remote parts (domains) */
	bool lmtp_local;                 /* local recipients: rjobs[ndom], LMTP */
	LIST_ENTRY(attempt) link;        /* q->running */
	int64_t next_try;                /* when deferred: the next attempt */
};

/* queue.c */
double queue_now(void);
enum queue_err queue_err_of(int err);
void queue_path(char out[QPATH_MAX], const char *dir, const char *id);
void queue_msg_free(struct qmsg *m);
/* The cache of Maildirs known to exist (direct delivery goes only there). */
bool queue_box_known(const struct queue *q, const char *box);
void queue_box_remember(struct queue *q, const char *box);
void queue_box_forget(struct queue *q, const char *box);
/* The quota of local mailbox addr (route/directory: the user's own, or
 * quota_default); zero limits when there is none. On the loop. */
void queue_quota_of(const struct queue *q, const char *addr, struct quota_limits *l);

/* commit.c: a message's commit, and the batches of syncs it shares. */
typedef void (*commit_group_cb)(void *arg, int err);
struct commit_group *commit_group_new(struct iopool *pool);
void commit_group_free(struct commit_group **gp);
/* cb(arg, 0) once dir's entries are on stable storage, or cb(arg, errno).
 * Returns -1 (cb not called) when out of memory. */
int commit_group_sync_dir(struct commit_group *g, const char *dir,
    commit_group_cb cb, void *arg);
/* The syncfs mode's batched rename (see commit.c); takes fd. */
int commit_group_rename(struct commit_group *g, int fd, const char *tmp,
    const char *final, commit_group_cb cb, void *arg);
/* queue_tx_commit for the queue's own messages (DSNs). */
void queue_tx_commit_internal(struct queue_tx *tx,
    void (*cb)(void *, enum queue_err, const char *), void *arg);

/* scheduler.c */
int scheduler_init(struct queue *q);
/* Frees the waiting messages (heap, ready, held) and the timer. */
void scheduler_free(struct queue *q);
/* m (QMSG_NOWHERE) is due at when: the heap, or ready if already due. */
void scheduler_add(struct queue *q, struct qmsg *m, int64_t when);
/* Starts attempts for ready messages while slots are free. */
void scheduler_pump(struct queue *q);
/* Takes a waiting m (heap, ready, held, on hold) out: QMSG_NOWHERE. */
void scheduler_take(struct queue *q, struct qmsg *m);
/* A delivery to domain ended: its first held message is ready again. */
void scheduler_release_held(struct queue *q, const char *domain);
/* The delay before the next attempt after attempts tries. */
int64_t scheduler_backoff(const struct queue *q, unsigned attempts);

/* attempt.c */
void attempt_start(struct queue *q, struct qmsg *m);
/* Records the outcome on disk (state file or removal), then reschedules. */
void attempt_record_outcome(struct attempt *a);
/* Shutdown: frees running attempts and their messages. */
void attempt_free_running(struct queue *q);

/* admin.c: a deferral's reason for recipient i, for the queue listing. */
void admin_note_error(struct qmsg *m, size_t i, const char *detail);
/* recover.c: the hold/ markers at startup (before msg/ is loaded) */
bool admin_hold_marked(const struct queue *q, const char *id);

/* dsn.c: queues the attempt's notification, which then calls
 * attempt_record_outcome; false (nothing queued) when none is owed or it
 * cannot be. */
bool dsn_send(struct attempt *a, int64_t now);

#endif
