/*
 * attempt: one delivery attempt at one queued message (struct attempt,
 * queue_int.h), from start to the outcome on disk.
 *
 * attempt_start() takes a due message from the scheduler and splits its
 * pending recipients into parts: every local one in one I/O-pool job
 * (maildir_deliver, which asks the recipient's quota first, then a shared
 * fsync of each directory it names, then the deliveries added to the
 * mailboxes' maildirsize), or, with local_transport LMTP, in one LMTP
 * transaction through remote.c; and one remote part per domain
 * (remote.c), after DKIM signatures are made on the pool for mail that
 * leaves signed. When the last part reports, finish_attempt() logs each
 * recipient, has dsn.c queue the notifications owed, and
 * attempt_record_outcome() appends the state file (queue_state.c) or
 * removes the finished message, then hands the message back to the
 * scheduler.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../common/iopool.h"
#include "../deliver/courier.h"
#include "../deliver/maildir.h"
#include "../deliver/remote.h"
#include "../maillog/maillog.h"
#include "../policy/arc_seal.h"
#include "../policy/dkim_sign.h"
#include "../proto/authres.h"
#include "../privsep/keeper_client.h"
#include "queue_int.h"
#include "queue_state.h"

static void finish_attempt(struct attempt *a);
static void finish_done(void *arg);
static void launch_parts(struct attempt *a);

/* ------------------------------------------------------------ DKIM ----- */

/* True when the message leaves signed: a key for the sender's domain. */
static bool
dkim_wanted(const struct queue *q, const struct config *cfg, const struct qmsg *m)
{
	const char *at = strrchr(m->env.sender, '@');
	size_t i;

	if (!m->env.dkim || at == NULL || q->signer == NULL)
		return false;
	for (i = 0; i < q->ndkim; i++) {
		if (str_ieq(cfg->dkim[i].domain, at + 1))
			return true;
	}
	return false;
}

/* The key that seals forwarded mail (arc_seal's domain), or -1. */
static int
arc_key(const struct queue *q, const struct config *cfg, const struct qmsg *m)
{
	size_t i;

	if (!m->env.arc || cfg->arc_seal[0] == '\0' || q->signer == NULL)
		return -1;
	for (i = 0; i < q->ndkim; i++)
		if (str_ieq(cfg->dkim[i].domain, cfg->arc_seal))
			return (int)i;
	return -1;
}

struct arc_signer {
	struct keeper_signer *signer;
	uint32_t key;
};

static int
arc_sign_keeper(void *arg, const uint8_t digest[DKIM_DIGEST_LEN], uint8_t *sig,
    size_t *siglen)
{
	const struct arc_signer *as = arg;

	return keeper_signer_sign(as->signer, as->key, digest, sig, siglen);
}

/*
 * What the seal records (RFC 8617 §4.1.1): the results of our checks on
 * arrival, which are our own Authentication-Results field at the top of
 * the message, and the chain's status as we found it ("arc=" there).
 */
static void
arc_arrival(const struct config *cfg, const char *msg, size_t len, struct buf *authres,
    enum arc_cv *cv)
{
	const char *id = cfg->authserv_id[0] ? cfg->authserv_id : cfg->hostname;
	static const char name[] = "Authentication-Results:";
	size_t at = 0, end, i;

	*cv = ARC_NONE;
	/* Our fields come first, before our Received field. */
	while (at + 9 <= len && strncasecmp(msg + at, "Received:", 9) != 0) {
		for (end = at; end + 1 < len; end++)
			if (msg[end] == '\r' && msg[end + 1] == '\n' &&
			    (end + 2 >= len || (msg[end + 2] != ' ' && msg[end + 2] != '\t')))
				break;
		if (end + 1 >= len)
			break;
		if (end - at > sizeof(name) - 1 && strncasecmp(msg + at, name, sizeof(name) - 1) == 0 &&
		    authres_id_is(msg + at + sizeof(name) - 1, end - at - (sizeof(name) - 1), id)) {
			const char *v = msg + at + sizeof(name) - 1;
			size_t vlen = end - at - (sizeof(name) - 1);

			for (i = 0; i < vlen; i++)
				if (v[i] != '\r' && v[i] != '\n')
					buf_append_char(authres, v[i] == '\t' ? ' ' : v[i]);
			if (strstr(buf_cstr(authres), "arc=pass"))
				*cv = ARC_PASS;
			else if (strstr(buf_cstr(authres), "arc=fail"))
				*cv = ARC_FAIL;
			break;
		}
		at = end + 2;
	}
	/* The id first, without the blank an unfolded field starts with. */
	while (authres->len > 0 && authres->data[0] == ' ')
		buf_cut(authres, 0, 1);
	if (authres->len == 0)
		buf_printf(authres, "%s; none", id);
}

/* Pool thread: tern's ARC set on top of what leaves (DKIM fields too, as
 * the seal's message signature covers them). */
static void
arc_work(struct attempt *a, const struct buf *msg)
{
	const struct queue *q = a->q;
	const struct config *cfg = a->cfg;
	int k = arc_key(q, cfg, a->m);
	struct arc_signer as;
	struct buf whole = BUF_INIT, authres = BUF_INIT, seal = BUF_INIT;
	enum arc_cv cv;

	if (k < 0)
		return;
	as.signer = q->signer;
	as.key = (uint32_t)k;
	arc_arrival(cfg, msg->data, msg->len, &authres, &cv);
	if (buf_append(&whole, a->dkim.data, a->dkim.len) == 0 &&
	    buf_append(&whole, msg->data, msg->len) == 0 &&
	    arc_seal(cfg->dkim[k].domain, cfg->dkim[k].selector,
	    q->dkim_kinds[k] == KEEPER_KEY_ED25519, whole.data, whole.len, cv,
	    buf_cstr(&authres), (int64_t)time(NULL), arc_sign_keeper, &as, &seal) == 0 &&
	    buf_append(&seal, a->dkim.data, a->dkim.len) == 0) {
		buf_release(&a->dkim);
		a->dkim = seal;
		seal = (struct buf)BUF_INIT;
		a->sealed = true;
	}
	buf_release(&seal);
	buf_release(&whole);
	buf_release(&authres);
}

/*
 * Pool thread: DKIM-Signature fields for every key of the sender's domain.
 * Reading and hashing a message of up to max_message_size is whole-message
 * work, kept off the loop; the keeper signs the digest.
 */
static void
dkim_work(void *arg)
{
	struct attempt *a = arg;
	const struct qmsg *m = a->m;
	const struct queue *q = a->q;
	const char *at = strrchr(m->env.sender, '@');
	struct buf msg = BUF_INIT;
	size_t i;

	if (a->fd == -1 || buf_reserve(&msg, m->body_len + 1) == -1 ||
	    pread(a->fd, msg.data, m->body_len, (off_t)m->body_off) != (ssize_t)m->body_len) {
		buf_release(&msg);
		return;
	}
	msg.len = m->body_len;
	for (i = 0; dkim_wanted(q, a->cfg, m) && at != NULL && i < q->ndkim; i++) {
		const struct config_dkim *cd = &a->cfg->dkim[i];
		struct dkim_pending p;
		uint8_t sig[DKIM_SIG_MAX];
		size_t siglen = sizeof(sig);

		if (!str_ieq(cd->domain, at + 1))
			continue;
		if (dkim_sign_prepare(cd->domain, cd->selector,
		    q->dkim_kinds[i] == KEEPER_KEY_ED25519, msg.data, msg.len,
		    (int64_t)time(NULL), &p) == -1)
			continue;   /* too many fields: sent unsigned (logged below) */
		if (keeper_signer_sign(q->signer, (uint32_t)i, p.digest, sig, &siglen) == 0)
			dkim_sign_finish(&p, sig, siglen, &a->dkim);
		dkim_pending_release(&p);
	}
	a->signed_dkim = a->dkim.len > 0;
	arc_work(a, &msg);
	buf_release(&msg);
}

static void
dkim_done(void *arg)
{
	struct attempt *a = arg;

	if (dkim_wanted(a->q, a->cfg, a->m) && (a->dkim.len == 0 || (a->sealed && !a->signed_dkim)))
		log_warnx("id=%s event=dkim-failed sender=%s note=\"sent unsigned\"",
		    a->m->env.id, a->m->env.sender);
	if (arc_key(a->q, a->cfg, a->m) >= 0 && !a->sealed)
		log_warnx("id=%s event=arc-seal-failed note=\"forwarded without tern's ARC set\"",
		    a->m->env.id);
	launch_parts(a);
}

/* ------------------------------------------------------- the parts ---- */

static bool
is_local_rcpt(const struct attempt *a, size_t i)
{
	return a->tried[i] && a->m->env.rcpts[i].local;
}

/* Local recipients go to a mailbox server over LMTP, not to a Maildir. */
static bool
local_by_lmtp(const struct attempt *a)
{
	return config_transport_is_lmtp(&a->cfg->local_transport);
}

/*
 * Whether our inbound checks quarantined the message: X-Tern-Quarantine
 * among the fields tern put on top, before its own Received field (the
 * same name further down came with the message and means nothing).
 */
static bool
quarantined(int fd, const struct qmsg *m)
{
	static const char name[] = "X-Tern-Quarantine:";
	char head[16384];
	ssize_t got;
	size_t n, at = 0;

	got = pread(fd, head, sizeof(head), (off_t)m->body_off);
	if (got <= 0)
		return false;
	n = (size_t)got < m->body_len ? (size_t)got : (size_t)m->body_len;
	while (at + sizeof(name) - 1 <= n && strncasecmp(head + at, "Received:", 9) != 0) {
		if (strncasecmp(head + at, name, sizeof(name) - 1) == 0)
			return true;
		/* the next field: after a CRLF not followed by folding */
		for (; at + 2 < n; at++)
			if (head[at] == '\r' && head[at + 1] == '\n' &&
			    head[at + 2] != ' ' && head[at + 2] != '\t')
				break;
		if (at + 2 >= n)
			return false;
		at += 2;
	}
	return false;
}

/* Pool thread: every local recipient of the attempt. */
static void
local_work(void *arg)
{
	struct attempt *a = arg;
	struct qmsg *m = a->m;
	char path[QPATH_MAX], box[QPATH_MAX];
	struct buf prefix = BUF_INIT;
	size_t i;
	bool junk;
	int fd;

	queue_path(path, a->q->msgdir, m->env.id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	junk = fd != -1 && quarantined(fd, m);
	for (i = 0; i < m->env.nrcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		struct maildir_result *res = &a->mres[i];

		if (!is_local_rcpt(a, i))
			continue;
		if (fd == -1) {
			res->status = DELIVER_TEMP;
			snprintf(res->error, sizeof(res->error), "open queue file: %s",
			    strerror(errno));
			continue;
		}
		if (maildir_path(a->q->mailroot, r->addr, box, sizeof(box)) == -1) {
			res->status = DELIVER_PERM;
			snprintf(res->error, sizeof(res->error), "bad mailbox name");
			continue;
		}
		buf_reset(&prefix);
		maildir_trace_prefix(&prefix, m->env.sender, r->addr);
		maildir_deliver(box, junk ? ".Junk" : NULL, a->q->mailhost, prefix.data,
		    prefix.len, fd, (off_t)m->body_off, m->body_len, &a->quota[i], res);
	}
	buf_release(&prefix);
	if (fd != -1)
		close(fd);
}

static void
attempt_free(struct attempt *a)
{
	if (a->q)
		LIST_REMOVE(a, link);
	if (a->fd != -1)
		close(a->fd);
	free(a->res);
	free(a->mres);
	free(a->quota);
	free(a->tried);
	free(a->rjobs);
	free(a->ridx);
	buf_release(&a->dkim);
	config_unref(a->cfg);
	free(a);
}

/* Shutdown with attempts still running (remote ones never finish once the
 * loop stops): their messages are theirs to free. */
void
attempt_free_running(struct queue *q)
{
	struct attempt *a;

	while ((a = LIST_FIRST(&q->running)) != NULL) {
		struct qmsg *m = a->m;

		attempt_free(a);
		queue_msg_free(m);
	}
}

static void
part_done(struct attempt *a)
{
	if (--a->parts == 0) {
		if (a->fd != -1) {
			close(a->fd);
			a->fd = -1;
		}
		finish_attempt(a);
	}
}

/* Delivered to local recipient i, who has a quota. */
static bool
counted(const struct attempt *a, size_t i)
{
	return is_local_rcpt(a, i) && a->res[i].status == DELIVER_OK &&
	    quota_limited(&a->quota[i]);
}

/* Pool thread: each delivery is added to its mailbox's quota file, now
 * that it is durable (docs/queue.md: the file is a cache, not synced). */
static void
quota_work(void *arg)
{
	struct attempt *a = arg;
	char box[QPATH_MAX];
	size_t i;

	for (i = 0; i < a->m->env.nrcpts; i++) {
		if (counted(a, i) &&
		    maildir_path(a->q->mailroot, a->m->env.rcpts[i].addr, box, sizeof(box)) == 0 &&
		    quota_add(box, (int64_t)a->mres[i].size, 1) == -1)
			log_warn("id=%s quota: %s", a->m->env.id, box);
	}
}

static void
quota_done(void *arg)
{
	part_done(arg);
}

static void
local_synced(void *arg, int err)
{
	struct attempt *a = arg;
	size_t i;

	if (err != 0) {
		/* The renames may not be durable: deliver again later. A copy
		 * already delivered may become a duplicate; never a loss. */
		for (i = 0; i < a->m->env.nrcpts; i++) {
			if (is_local_rcpt(a, i) && a->mres[i].status == DELIVER_OK)
				maildir_sync_failed(&a->mres[i], err);
		}
	}
	if (--a->syncs > 0)
		return;
	for (i = 0; i < a->m->env.nrcpts; i++) {
		struct courier_result *r = &a->res[i];

		if (!is_local_rcpt(a, i))
			continue;
		r->status = a->mres[i].status;
		str_copy(r->relay, sizeof(r->relay), "local");
		str_copy(r->dsn, sizeof(r->dsn), r->status == DELIVER_OK ? "2.0.0" :
		    a->mres[i].dsn[0] ? a->mres[i].dsn :
		    r->status == DELIVER_TEMP ? "4.3.0" : "5.3.0");
		str_copy(r->detail, sizeof(r->detail), r->status == DELIVER_OK ?
		    "delivered to maildir" : a->mres[i].error);
	}
	for (i = 0; i < a->m->env.nrcpts && !counted(a, i); i++)
		;
	if (i < a->m->env.nrcpts && iopool_submit(a->q->pool, quota_work, quota_done, a) == 0)
		return;
	part_done(a);
}

static void
local_done(void *arg)
{
	struct attempt *a = arg;
	size_t i;

	/* One hold so the first batch cannot finish us early. */
	a->syncs = 1;
	for (i = 0; i < a->m->env.nrcpts; i++) {
		if (is_local_rcpt(a, i) && a->mres[i].status == DELIVER_OK) {
			char box[QPATH_MAX];

			/* It exists now: the next message may go direct. */
			if (maildir_path(a->q->mailroot, a->m->env.rcpts[i].addr, box,
			    sizeof(box)) == 0)
				queue_box_remember(a->q, box);
			a->syncs++;
			if (commit_group_sync_dir(a->q->group, a->mres[i].newdir, local_synced, a) == -1) {
				a->syncs--;
				a->mres[i].status = DELIVER_TEMP;
				snprintf(a->mres[i].error, sizeof(a->mres[i].error), "out of memory");
			}
		}
	}
	local_synced(a, 0);
}

static void
remote_part_done(void *arg)
{
	struct remote_job *rj = arg;
	struct attempt *a = rj->owner;
	struct queue *q = a->q;
	char domain[256];

	/* Copied first: the message (and its envelope) may be gone after. */
	str_copy(domain, sizeof(domain), rj->domain);
	part_done(a);
	scheduler_release_held(q, domain);
	scheduler_pump(q);
}

/* -------------------------------------------------------- the end ----- */

/*
 * Pool thread: the last append to this state file failed, so what of it
 * reached the disk is unknown (after a failed fdatasync the kernel may
 * have dropped the pages, and a second fdatasync of the same file would
 * report success for data that is gone). A complete new file replaces
 * it: every recipient's state as known in memory, written to
 * state/<id>.new, synced, renamed over; finish_done syncs the directory.
 * A leftover .new has no message of its name: recovery removes it.
 */
static void
rewrite_state(struct attempt *a, const char *path, const struct queue_state_update *last)
{
	struct qmsg *m = a->m;
	struct queue_state_update u = *last;
	char tmp[QPATH_MAX + 8];
	struct buf lines = BUF_INIT;
	bool *all;
	int fd = -1;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((all = malloc(m->env.nrcpts ? m->env.nrcpts : 1)) == NULL) {
		a->finish_err = ENOMEM;
		return;
	}
	memset(all, 1, m->env.nrcpts);
	u.tried = all;
	u.new_file = true;
	u.warned = m->warned || last->warned;
	if (queue_state_encode(&u, &lines) == -1)
		a->finish_err = ENOMEM;
	else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_write_all(fd, lines.data, lines.len) == -1 || fdatasync(fd) == -1 ||
	    rename(tmp, path) == -1) {
		a->finish_err = errno;
		(void)unlink(tmp);
	} else
		a->state_new = a->state_rewritten = true;
	if (fd != -1)
		close(fd);
	buf_release(&lines);
	free(all);
}

/* Pool thread: record outcomes, or remove a finished message. */
static void
finish_work(void *arg)
{
	struct attempt *a = arg;
	struct qmsg *m = a->m;
	char path[QPATH_MAX];
	struct buf lines = BUF_INIT;
	struct queue_state_update u;
	int fd;

	queue_path(path, a->q->statedir, m->env.id);
	if (a->remove) {
		char mpath[QPATH_MAX];

		/* Second step (finish_synced): msg/<id> is gone for good. A
		 * hold marker goes only now, or a crash could bring back the
		 * message of a deleted one without its hold. */
		if (a->unlink_state) {
			if (unlink(path) == -1 && errno != ENOENT)
				a->finish_err = errno;
			queue_path(path, a->q->holddir, m->env.id);
			if (a->unhold && unlink(path) == -1 && errno != ENOENT)
				a->finish_err = errno;
			return;
		}
		queue_path(mpath, a->q->msgdir, m->env.id);
		if (unlink(mpath) == -1 && errno != ENOENT)
			a->finish_err = errno;
		return;
	}
	/* A new state file starts with its version; finish_done makes its
	 * name durable. */
	u = (struct queue_state_update){ .env = &m->env, .tried = a->tried,
	    .next_try = a->next_try, .attempts = m->attempts,
	    .warned = a->warned_now, .now = (int64_t)time(NULL) };
	if (m->state_suspect) {
		rewrite_state(a, path, &u);
		return;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) != -1)
		a->state_new = u.new_file = true;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd == -1)
		a->finish_err = errno;
	else if (queue_state_encode(&u, &lines) == -1)
		a->finish_err = ENOMEM;
	else if (fileio_write_all(fd, lines.data, lines.len) == -1 || fdatasync(fd) == -1)
		a->finish_err = errno;
	if (fd != -1)
		close(fd);
	buf_release(&lines);
}

static void
finish_end(struct attempt *a)
{
	struct queue *q = a->q;
	struct qmsg *m = a->m;

	q->inflight--;
	if (a->remove) {
		if (m->admin == QADMIN_DELETE)
			maillog_admin(m->env.id, "deleted", NULL);
		maillog_removed(m->env.id);
		q->nmsgs--;
		queue_msg_free(m);
	} else {
		m->where = QMSG_NOWHERE;
		scheduler_add(q, m, a->next_try);
	}
	attempt_free(a);
	scheduler_pump(q);
}

static void
finish_synced(void *arg, int err)
{
	struct attempt *a = arg;

	if (err != 0) {
		/* A removal keeps the state file: should the message come
		 * back after a crash, its record comes back with it. */
		errno = err;
		log_warn("id=%s queue: sync of %s", a->m->env.id,
		    a->remove ? "msg/" : "state/");
	} else if (a->remove) {
		a->unlink_state = true;
		if (iopool_submit(a->q->pool, finish_work, finish_done, a) == 0)
			return;
	}
	finish_end(a);
}

/*
 * The state file's name must be durable like the records in it (a batched
 * fsync of state/ after it was created); and it may go only once the
 * message's removal is durable (a batched fsync of msg/ between the two
 * unlinks), or a crash could bring the message back without the record of
 * who already has it. A state file left behind by a crash after that is
 * an orphan, removed at startup; ids are never reused.
 */
static void
finish_done(void *arg)
{
	struct attempt *a = arg;
	struct queue *q = a->q;
	struct qmsg *m = a->m;
	bool sync;

	if (a->finish_err) {
		errno = a->finish_err;
		log_warn("id=%s queue: %s", m->env.id,
		    a->remove ? "remove" : "record recipient state");
		if (!a->remove)
			m->state_suspect = true;
	} else if (a->state_rewritten)
		m->state_suspect = false;
	if (a->state_new)
		m->has_state = true;
	sync = a->finish_err == 0 &&
	    (a->remove ? (m->has_state || a->unhold) && !a->unlink_state : a->state_new);
	if (sync && commit_group_sync_dir(q->group, a->remove ? q->msgdir : q->statedir,
	    finish_synced, a) == 0)
		return;
	finish_end(a);
}

/* Records the outcome on disk (state file or removal), then reschedules. */
void
attempt_record_outcome(struct attempt *a)
{
	struct qmsg *m = a->m;
	size_t i, left = 0;

	for (i = 0; i < m->env.nrcpts; i++)
		left += m->env.rcpts[i].state == RCPT_PENDING;
	a->remove = left == 0;
	a->unhold = m->on_hold;
	a->next_try = (int64_t)time(NULL) + scheduler_backoff(a->q, m->attempts);
	if (iopool_submit(a->q->pool, finish_work, finish_done, a) == -1) {
		/* Keep it in memory and try later; the files are unchanged. */
		a->q->inflight--;
		m->where = QMSG_NOWHERE;
		scheduler_add(a->q, m, (int64_t)time(NULL) + scheduler_backoff(a->q, m->attempts));
		attempt_free(a);
	}
}

static void
finish_attempt(struct attempt *a)
{
	struct qmsg *m = a->m;
	double now = queue_now();
	double delay = now - m->arrival;
	bool expired = (int64_t)now - m->env.arrival >= a->q->cfg->queue_lifetime;
	size_t i;

	if (a->admin_run && m->admin == QADMIN_DELETE) {
		/* Gone without a notification: no recipient is pending. A
		 * delete asked for during a delivery waits for the next
		 * attempt, so what that delivery did is recorded and logged. */
		for (i = 0; i < m->env.nrcpts; i++)
			if (a->tried[i])
				m->env.rcpts[i].state = RCPT_FAILED;
		attempt_record_outcome(a);
		return;
	}
	for (i = 0; i < m->env.nrcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		struct courier_result *res = &a->res[i];

		if (!a->tried[i])
			continue;
		if (res->status == DELIVER_TEMP && expired) {
			/* RFC 3463 4.4.7: delivery time expired. */
			res->status = DELIVER_PERM;
			str_copy(res->dsn, sizeof(res->dsn), "4.4.7");
			snprintf(res->detail + strlen(res->detail),
			    sizeof(res->detail) - strlen(res->detail),
			    " (gave up: queue lifetime expired)");
		}
		switch (res->status) {
		case DELIVER_OK:
			r->state = RCPT_DELIVERED;
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn, "sent", res->detail);
			break;
		case DELIVER_TEMP:
			admin_note_error(m, i, res->detail);
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn[0] ? res->dsn : "4.0.0", "deferred", res->detail);
			break;
		case DELIVER_PERM:
			r->state = RCPT_FAILED;
			maillog_delivery(m->env.id, r->addr, r->orig, res->relay, res->tls, delay,
			    res->dsn[0] ? res->dsn : "5.0.0", "bounced", res->detail);
			break;
		}
	}
	if (!dsn_send(a, (int64_t)now))
		attempt_record_outcome(a);
}

/* The remote part for recipient i's domain (its index in a->rjobs),
 * added when the domain is new. */
static size_t
remote_part_of(struct attempt *a, size_t i, size_t *ndom)
{
	const char *dom = strrchr(a->m->env.rcpts[i].addr, '@');
	size_t k;

	dom = dom ? dom + 1 : "";
	for (k = 0; k < *ndom; k++) {
		if (str_ieq(a->rjobs[k].domain, dom))
			return k;
	}
	a->rjobs[k].domain = dom;
	(*ndom)++;
	return k;
}

/* ------------------------------------------------------- the start ---- */

void
attempt_start(struct queue *q, struct qmsg *m)
{
	struct attempt *a = calloc(1, sizeof(*a));
	size_t i, k, nremote = 0, nlocal = 0, ndom = 0;
	char path[QPATH_MAX];

	if (a == NULL)
		goto retry;
	a->fd = -1;
	if ((a->res = calloc(m->env.nrcpts, sizeof(*a->res))) == NULL ||
	    (a->mres = calloc(m->env.nrcpts, sizeof(*a->mres))) == NULL ||
	    (a->quota = calloc(m->env.nrcpts, sizeof(*a->quota))) == NULL ||
	    (a->tried = calloc(m->env.nrcpts, sizeof(bool))) == NULL ||
	    (a->ridx = calloc(m->env.nrcpts, sizeof(size_t))) == NULL ||
	    (a->rjobs = calloc(m->env.nrcpts + 1, sizeof(*a->rjobs))) == NULL)
		goto retry;
	a->q = q;
	a->m = m;
	/* Held to the end: its pool jobs and its LMTP transport read it, and
	 * a reload must not change the rules halfway through an attempt. */
	a->cfg = config_ref(q->cfg);
	LIST_INSERT_HEAD(&q->running, a, link);
	for (i = 0; i < m->env.nrcpts; i++) {
		a->tried[i] = m->env.rcpts[i].state == RCPT_PENDING;
		if (a->tried[i] && !m->env.rcpts[i].local)
			nremote++;
		else if (a->tried[i]) {
			queue_quota_of(q, m->env.rcpts[i].addr, &a->quota[i]);
			nlocal++;
		}
	}
	m->where = QMSG_RUNNING;
	q->inflight++;
	a->parts = 1;   /* the guard, released at the end */
	if (m->admin != QADMIN_NONE) {
		/* The administrator's delete or bounce instead of a delivery:
		 * every pending recipient fails at once (admin.c). */
		a->admin_run = true;
		for (i = 0; i < m->env.nrcpts; i++) {
			if (!a->tried[i])
				continue;
			a->res[i].status = DELIVER_PERM;
			str_copy(a->res[i].dsn, sizeof(a->res[i].dsn), "5.0.0");
			str_copy(a->res[i].relay, sizeof(a->res[i].relay), "none");
			str_fmt(a->res[i].detail, sizeof(a->res[i].detail),
			    "returned to the sender by the postmaster of %s", a->cfg->hostname);
		}
		if (m->admin == QADMIN_BOUNCE)
			maillog_admin(m->env.id, "bounced", NULL);
		part_done(a);
		return;
	}
	m->attempts++;
	a->lmtp_local = nlocal > 0 && local_by_lmtp(a);
	if (nremote > 0 || a->lmtp_local) {
		queue_path(path, q->msgdir, m->env.id);
		a->fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	/* Remote recipients, grouped by domain: one SMTP transaction each. */
	if (nremote > 0) {
		for (i = 0; i < m->env.nrcpts; i++) {
			if (a->tried[i] && !m->env.rcpts[i].local)
				a->rjobs[remote_part_of(a, i, &ndom)].n++;
		}
		/* Lay the index lists out one domain after another. */
		for (k = 0, i = 0; k < ndom; k++) {
			a->rjobs[k].idx = a->ridx + i;
			i += a->rjobs[k].n;
			a->rjobs[k].n = 0;
		}
		for (i = 0; i < m->env.nrcpts; i++) {
			if (a->tried[i] && !m->env.rcpts[i].local) {
				k = remote_part_of(a, i, &ndom);
				((size_t *)a->rjobs[k].idx)[a->rjobs[k].n++] = i;
			}
		}
	}
	/* Local recipients over LMTP: one transaction for all of them, in
	 * the job after the domains', its indexes after theirs. */
	if (a->lmtp_local) {
		struct remote_job *lj = &a->rjobs[ndom];

		lj->domain = "local";
		lj->transport = &a->cfg->local_transport;
		lj->idx = a->ridx + nremote;
		for (i = 0; i < m->env.nrcpts; i++) {
			if (is_local_rcpt(a, i))
				((size_t *)lj->idx)[lj->n++] = i;
		}
	}
	a->ndom = ndom;
	/* Signatures first (on the pool), then the parts. */
	if (nremote > 0 && a->fd != -1 && (dkim_wanted(q, a->cfg, m) || arc_key(q, a->cfg, m) >= 0) &&
	    iopool_submit(q->pool, dkim_work, dkim_done, a) == 0)
		return;
	launch_parts(a);
	return;
retry:
	if (a)
		attempt_free(a);
	scheduler_add(q, m, (int64_t)time(NULL) + q->cfg->retry_initial);
}

/* Starts the local part (one pool job for every local recipient, or the
 * LMTP job) and one remote part per domain, then releases the guard
 * part. */
static void
launch_parts(struct attempt *a)
{
	struct queue *q = a->q;
	struct qmsg *m = a->m;
	size_t i, k, ndom = a->ndom;

	for (i = 0; i < m->env.nrcpts && !a->lmtp_local; i++) {
		if (is_local_rcpt(a, i)) {
			a->parts++;
			if (iopool_submit(q->pool, local_work, local_done, a) == -1) {
				a->parts--;
				for (k = 0; k < m->env.nrcpts; k++) {
					if (is_local_rcpt(a, k)) {
						a->res[k].status = DELIVER_TEMP;
						str_copy(a->res[k].detail, sizeof(a->res[k].detail), "out of memory");
					}
				}
			}
			break;
		}
	}
	for (k = 0; k < ndom + (a->lmtp_local ? 1 : 0); k++) {
		struct remote_job *rj = &a->rjobs[k];

		if (a->fd == -1 || q->remote == NULL) {
			for (i = 0; i < rj->n; i++) {
				a->res[rj->idx[i]].status = DELIVER_TEMP;
				str_copy(a->res[rj->idx[i]].detail, sizeof(a->res[0].detail),
				    q->remote ? "cannot open the queue file" :
				    "remote delivery is not configured");
			}
			continue;
		}
		rj->env = &m->env;
		rj->res = a->res;
		rj->fd = a->fd;
		rj->off = m->body_off;
		rj->len = m->body_len;
		/* Mail that stays (local_transport) is not signed. */
		rj->prefix = k < ndom ? a->dkim.data : NULL;
		rj->prefix_len = k < ndom ? a->dkim.len : 0;
		rj->done = remote_part_done;
		rj->arg = rj;
		rj->owner = a;
		a->parts++;
		remote_deliver(q->remote, rj);
	}
	part_done(a);
}

