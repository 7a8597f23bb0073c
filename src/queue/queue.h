/*
 * queue: the durability contract of DESIGN.md lives here and nowhere else.
 *
 * A message is written to tmp/<id> while it arrives, then committed:
 * trailer, fsync, rename into msg/<id>, and an fsync of msg/ shared with
 * every other commit of that moment (commit.c). Only then does the commit
 * callback run, and only then may the session say 250. The queue then
 * delivers it and removes it when every recipient is done. docs/queue.md
 * has the states and what a crash leaves in each.
 */
#ifndef TERN_QUEUE_H
#define TERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../proto/envelope.h"
#include "../route/router.h"

struct config;
struct event_base;
struct iopool;
struct queue;
struct queue_tx;

enum queue_err {
	QUEUE_OK = 0,
	QUEUE_ENOSPC,    /* 452 4.3.1 */
	QUEUE_EIO,       /* 451 4.3.0 */
};

/* Runs on the loop once the message is durable (err == QUEUE_OK) or lost. */
typedef void (*queue_commit_cb)(uint64_t cookie, enum queue_err err,
    const char *id);

struct queue *queue_open(struct event_base *base, struct iopool *pool,
    const struct config *cfg, struct buf *errs);
/* Loads msg/ after a restart, removes tmp/; schedules every message. */
int queue_recover(struct queue *q);
struct remote;
struct directory;
/* A reload's configuration: what deliveries started from now on use
 * (running attempts keep theirs). cfg outlives its use by the queue. */
void queue_set_config(struct queue *q, const struct config *cfg);
/* Where remote recipients go; without one they wait in the queue. */
void queue_set_remote(struct queue *q, struct remote *r);

/* DKIM for mail that leaves: signer asks the keeper; kinds[i] (KEEPER_KEY_*)
 * is cfg->dkim[i]'s. Not copied; both must outlive the queue. */
struct keeper_signer;
void queue_set_dkim(struct queue *q, struct keeper_signer *signer,
    const uint8_t *kinds, size_t n);
/* For routing DSNs; set again after a reload. */
void queue_set_directory(struct queue *q, const struct directory *dir);
/* Starts no further deliveries; running ones finish. For shutdown. */
void queue_stop(struct queue *q);
/* Frees every message; call once the I/O pool is idle. */
void queue_free(struct queue **qp);
size_t queue_count(const struct queue *q);

/*
 * Starts a message: assigns env->id, creates tmp/<id>, writes the envelope.
 * env is moved into the transaction (and zeroed) on success.
 */
struct queue_tx *queue_tx_begin(struct queue *q, struct envelope *env,
    enum queue_err *err_r);
/* The same, always as a file in tmp/, for queue_tx_deliver_now. */
struct queue_tx *queue_tx_begin_spool(struct queue *q, struct envelope *env,
    enum queue_err *err_r);
const char *queue_tx_id(const struct queue_tx *tx);
/* Appends message octets; after an error further writes are ignored and
 * the error is returned again. */
enum queue_err queue_tx_write(struct queue_tx *tx, const void *p, size_t n);
uint64_t queue_tx_size(const struct queue_tx *tx);
/*
 * Puts ins before the first octet queue_tx_write wrote and leaves out the
 * ranges drop[i] = { offset, length } of what it wrote (ascending, apart).
 * For fields known only at the end of the message (Authentication-Results)
 * on a message too big to have been held back: the file is written anew
 * beside the old one (a copy inside the kernel) and renamed over it.
 * Nothing is synced: the commit does that, as for any message.
 */
enum queue_err queue_tx_rewrite(struct queue_tx *tx, const void *ins, size_t inslen,
    const uint64_t (*drop)[2], size_t ndrop);
/*
 * Local delivery into a Maildir++ subfolder (".Junk" for a quarantined
 * message) instead of the inbox, when the folder exists. Only a direct
 * delivery needs telling: a queued one reads the message's own
 * X-Tern-Quarantine field (attempt.c). Before queue_tx_commit.
 */
void queue_tx_set_folder(struct queue_tx *tx, const char *folder);
/* Hands the transaction to the queue; cb(cookie, ...) reports the end. */
void queue_tx_commit(struct queue_tx *tx, queue_commit_cb cb, uint64_t cookie);
void queue_tx_abort(struct queue_tx **txp);

/* A message tern writes itself (DMARC reports), to one address routed as
 * any RCPT; cb as for queue_tx_commit. -1 (cb not called) if it cannot be
 * routed or started. */
int queue_inject(struct queue *q, const char *sender, const char *rcpt,
    const char *msg, size_t len, queue_commit_cb cb, uint64_t cookie);

/* Routes addr as a RCPT is routed (aliases expanded, a remote domain
 * kept as it is) and adds what it delivers to to env, each with notify
 * (SMTP_NOTIFY_*) and addr as the address given. For messages tern
 * composes or picks up itself (pickup/). */
enum route_status queue_add_rcpt(struct queue *q, struct envelope *env, const char *addr,
    unsigned notify);

/*
 * LMTP (RFC 2033): instead of queueing, delivers a spooled transaction
 * (queue_tx_begin_spool) at once into the Maildir of each of its
 * recipients, all local, and reports one outcome per recipient once each
 * delivered copy is on stable storage; the spool file is removed. Nothing
 * is queued: a recipient that failed is the client's to retry (4xx) or
 * bounce (5xx). res[i] is for env.rcpts[i]; n may fall short of the
 * recipients only when memory ran out, and the rest failed too (TEMP).
 */
enum queue_now_status { QUEUE_NOW_OK, QUEUE_NOW_TEMP, QUEUE_NOW_PERM };
struct queue_now_result {
	enum queue_now_status status;
	char dsn[8];         /* RFC 3463: "2.0.0", "4.2.2" over quota, ... */
	char detail[256];
};
typedef void (*queue_now_cb)(uint64_t cookie, const char *id,
    const struct queue_now_result *res, size_t n);
void queue_tx_deliver_now(struct queue_tx *tx, queue_now_cb cb, uint64_t cookie);

/* ------------------------------------------ the administrator (admin.c) */

/* One message as ternctl queue shows it; valid during the callback. */
struct queue_view {
	const struct envelope *env;     /* id, sender, arrival, recipients' states */
	uint64_t size;                  /* the message's octets */
	const char *state;              /* waiting, deferred, ready, busy, delivering,
	                                 * hold, deleting, bouncing */
	int64_t next_try;               /* unix seconds, when waiting */
	unsigned attempts;
	bool on_hold;
	const char *const *last_error;  /* per recipient or NULL: the last deferral */
};
typedef void (*queue_view_cb)(void *arg, const struct queue_view *v);
/* Every message the queue holds (not the direct deliveries in progress). */
void queue_view(struct queue *q, queue_view_cb cb, void *arg);

struct queue_summary {
	size_t messages, deferred, delivering, on_hold;
	uint64_t octets;
	int64_t oldest;                 /* arrival of the oldest; 0 when empty */
};
void queue_summarize(struct queue *q, struct queue_summary *s);

enum queue_admin_op {
	QUEUE_HOLD, QUEUE_RELEASE, QUEUE_DELETE, QUEUE_BOUNCE, QUEUE_REQUEUE, QUEUE_FLUSH,
};
enum queue_admin_result {
	QUEUE_ADMIN_DONE,       /* done (delete, bounce: due now, carried out next) */
	QUEUE_ADMIN_LATER,      /* being delivered: done when that attempt ends */
	QUEUE_ADMIN_NOOP,       /* already so */
	QUEUE_ADMIN_HELD,       /* flush, requeue: on hold, release it first */
	QUEUE_ADMIN_BUSY,       /* a delete or bounce is already under way */
	QUEUE_ADMIN_NOTFOUND,
	QUEUE_ADMIN_FAILED,     /* the hold marker could not be made or removed */
};
const char *queue_admin_op_name(enum queue_admin_op op);
/* op on each of ids (queue ids), res[i] for ids[i]; each action is logged
 * with by (who asked). -1 when out of memory (nothing done). */
int queue_admin(struct queue *q, enum queue_admin_op op, const char **ids, size_t nids,
    enum queue_admin_result *res, const char *by);
/* Every waiting message with a pending recipient in domain (NULL: all)
 * becomes due now; the number, or -1 if memory ran out part way. */
ssize_t queue_flush(struct queue *q, const char *domain, const char *by);

#endif
