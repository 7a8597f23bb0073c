/*
 * dsn: the notifications an attempt owes (RFC 3461, RFC 3464), queued as
 * messages of their own.
 *
 * dsn_select() (dsn_select.c, pure) picks the recipients and the kind of
 * notice; the pool composes the notification with the original as the
 * queue file holds it (bounce.c); the loop routes it like any RCPT and
 * queues it; its commit ends the attempt (attempt_record_outcome). A
 * failure is recorded only once its notification is durably queued
 * (DESIGN.md durability 2).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../common/iopool.h"
#include "../proto/smtp_cmd.h"
#include "../route/router.h"
#include "bounce.h"
#include "dsn.h"
#include "queue_int.h"

struct dsn_ctx {
	struct attempt *a;
	struct dsn_selection sel;      /* who hears of what, and who reads it */
	int64_t now;
	/* Composed on the pool (the original is read there, not on the loop). */
	struct buf msg;
	bool eightbit, composed;
};

static void
dsn_ctx_free(struct dsn_ctx *d)
{
	if (d == NULL)
		return;
	free(d->sel.failed);
	free(d->sel.items);
	buf_release(&d->msg);
	free(d);
}

/* Without its bounce a failure may not be recorded (DESIGN.md durability
 * 2): those recipients stay pending and are tried, and reported, again
 * later. For every local failure to make the notification durable. */
static void
dsn_not_queued(struct dsn_ctx *d)
{
	struct attempt *a = d->a;
	size_t i;

	for (i = 0; i < d->sel.nfailed; i++)
		a->m->env.rcpts[d->sel.failed[i]].state = RCPT_PENDING;
	log_warnx("id=%s event=dsn-failed reason=\"cannot queue the notification\"",
	    a->m->env.id);
	metrics_dsn(false);
}

static void
dsn_committed(void *arg, enum queue_err err, const char *id)
{
	struct dsn_ctx *d = arg;
	struct attempt *a = d->a;

	if (err != QUEUE_OK) {
		dsn_not_queued(d);
	} else {
		log_info("id=%s event=dsn dsn_id=%s", a->m->env.id, id);
		metrics_dsn(true);
		if (d->sel.delay_warning)
			a->m->warned = a->warned_now = true;
	}
	dsn_ctx_free(d);
	attempt_record_outcome(a);
}

/* Final recipient of a notification to addr, routed like any RCPT. */
static int
dsn_route(struct queue *q, const char *addr, struct envelope *env)
{
	/* NOTIFY unset: a notification that fails is itself reported, to
	 * the postmaster (dsn_select's rule for the null sender), and no
	 * further. */
	enum route_status st = queue_add_rcpt(q, env, addr, 0);

	return st == ROUTE_OK || st == ROUTE_NOT_LOCAL ? 0 : -1;
}

enum route_status
queue_add_rcpt(struct queue *q, struct envelope *env, const char *addr, unsigned notify)
{
	struct route_list rl = { 0 };
	const char *at = strrchr(addr, '@');
	char local[SMTP_PATH_MAX];
	enum route_status st;
	size_t i;

	if (at == NULL || at == addr || str_copyn(local, sizeof(local), addr,
	    (size_t)(at - addr)) == -1)
		return ROUTE_UNKNOWN_USER;
	st = router_expand(q->cfg, q->dir, local, at + 1, &rl);
	if (st == ROUTE_NOT_LOCAL) {
		if (envelope_add_rcpt(env, addr, addr, "", notify, false) == -1)
			st = ROUTE_NOMEM;
	} else if (st == ROUTE_OK) {
		for (i = 0; i < rl.n && st == ROUTE_OK; i++)
			if (envelope_add_rcpt(env, rl.dests[i].address, addr, "", notify,
			    rl.dests[i].local) == -1)
				st = ROUTE_NOMEM;
	}
	route_list_clear(&rl);
	return st;
}

/* Pool thread: the notification's text, with the original (or its
 * header) as the queue file holds it. Touches only d and what the finished
 * attempt no longer changes (the envelope, the results, the config). */
static void
dsn_compose_work(void *arg)
{
	struct dsn_ctx *d = arg;
	struct attempt *a = d->a;
	struct qmsg *m = a->m;
	struct buf orig = BUF_INIT;
	char path[QPATH_MAX];
	int fd;

	queue_path(path, a->q->msgdir, m->env.id);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (buf_reserve(&orig, m->body_len + 1) == 0 &&
	    pread(fd, orig.data, m->body_len, (off_t)m->body_off) == (ssize_t)m->body_len)
		orig.len = m->body_len;
	close(fd);
	d->composed = orig.len == m->body_len &&
	    bounce_compose(a->cfg->hostname, m->env.id, &m->env, d->sel.items,
	    d->sel.n, d->sel.to,
	    orig.data ? orig.data : "", orig.len, d->now, &d->msg, &d->eightbit) == 0;
	buf_release(&orig);
}

/* Loop: routes and queues the composed notification; its commit ends the
 * attempt (dsn_committed). Without it the attempt ends here. */
static void
dsn_composed(void *arg)
{
	struct dsn_ctx *d = arg;
	struct attempt *a = d->a;
	struct queue *q = a->q;
	struct envelope env = { 0 };
	struct queue_tx *tx;
	enum queue_err qe;
	bool is_bounce = a->m->env.sender[0] == '\0';

	/* The original unread (an I/O error), memory, the queue file (a
	 * full or failing disk): all local and passing, so the failures
	 * wait for a notification that can be queued. */
	if (!d->composed)
		goto not_queued;
	env.arrival = d->now;
	env.body = d->eightbit ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	if (envelope_set(&env.sender, "") || envelope_set(&env.helo, q->cfg->hostname) ||
	    envelope_set(&env.client, "127.0.0.1") || envelope_set(&env.proto, "DSN") ||
	    envelope_set(&env.envid, ""))
		goto not_queued;
	/* Undeliverable sender: the postmaster reads it instead. */
	if (dsn_route(q, d->sel.to, &env) == -1 || env.nrcpts == 0) {
		if (is_bounce || dsn_route(q, q->cfg->postmaster, &env) == -1 || env.nrcpts == 0)
			goto none;
	}
	if ((tx = queue_tx_begin(q, &env, &qe)) == NULL)
		goto not_queued;
	queue_tx_write(tx, d->msg.data, d->msg.len);
	buf_release(&d->msg);
	queue_tx_commit_internal(tx, dsn_committed, d);
	return;
not_queued:
	dsn_not_queued(d);
	envelope_clear(&env);
	dsn_ctx_free(d);
	attempt_record_outcome(a);
	return;
none:
	log_warnx("id=%s event=dsn-failed reason=\"cannot compose or route the notification\"",
	    a->m->env.id);
	metrics_dsn(false);
	/* Failures stay failures: with nobody to tell, retrying won't help. */
	envelope_clear(&env);
	dsn_ctx_free(d);
	attempt_record_outcome(a);
}

/*
 * Queues one notification covering this attempt's outcomes that the sender
 * asked to hear about (dsn_select), or returns false when there is none
 * to send.
 */
bool
dsn_send(struct attempt *a, int64_t now)
{
	struct queue *q = a->q;
	struct qmsg *m = a->m;
	struct dsn_ctx *d = NULL;
	struct dsn_input in = { .env = &m->env, .tried = a->tried,
	    .res = a->res, .warned = m->warned, .postmaster = q->cfg->postmaster,
	    .delay_warning = q->cfg->delay_warning, .now = now };

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->sel.items = calloc(m->env.nrcpts, sizeof(*d->sel.items))) == NULL ||
	    (d->sel.failed = calloc(m->env.nrcpts, sizeof(size_t))) == NULL ||
	    dsn_select(&in, &d->sel) == 0)
		goto none;
	d->a = a;
	d->now = now;
	/* Reading the original (up to max_message_size) and composing is
	 * whole-message work: the pool does it, dsn_composed queues it. */
	if (iopool_submit(q->pool, dsn_compose_work, dsn_composed, d) == 0)
		return true;
	log_warnx("id=%s event=dsn-failed reason=\"out of memory\"", m->env.id);
	metrics_dsn(false);
none:
	/* Failures stay failures: with nobody to tell, retrying won't help. */
	dsn_ctx_free(d);
	return false;
}

/* ------------------------------------------- tern's own messages ------ */

/*
 * A message tern writes itself (a DMARC aggregate report): from sender to
 * rcpt, routed like any RCPT, signed on the way out when the sender's
 * domain has a DKIM key, committed like a DSN. cb runs from the loop.
 */
int
queue_inject(struct queue *q, const char *sender, const char *rcpt,
    const char *msg, size_t len, queue_commit_cb cb, uint64_t cookie)
{
	struct envelope env = { 0 };
	struct queue_tx *tx;
	enum queue_err qe;
	const char *at = strrchr(sender, '@');

	env.arrival = (int64_t)time(NULL);
	env.body = SMTP_BODY_7BIT;
	env.dkim = at != NULL && config_dkim_domain(q->cfg, at + 1);
	if (envelope_set(&env.sender, sender) || envelope_set(&env.helo, q->cfg->hostname) ||
	    envelope_set(&env.client, "127.0.0.1") || envelope_set(&env.proto, "LOCAL") ||
	    envelope_set(&env.envid, "") || dsn_route(q, rcpt, &env) == -1 ||
	    env.nrcpts == 0 || (tx = queue_tx_begin(q, &env, &qe)) == NULL) {
		envelope_clear(&env);
		return -1;
	}
	queue_tx_write(tx, msg, len);
	queue_tx_commit(tx, cb, cookie);
	return 0;
}
