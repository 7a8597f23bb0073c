/*
 * control: ternctl's requests, one line each, on the shared connection
 * layer (net/conn) over a unix socket. Nothing here touches the queue's
 * files: the queue module acts (queue/admin.c) and logs each action with
 * the uid that asked.
 *
 *   request                       answer lines, then "ok ..." / "err TEXT"
 *   status                        status KEY VALUE ; listener SERVICE ADDRESS
 *   list [ID...]                  msg ID SIZE ARRIVAL STATE NEXT ATTEMPTS
 *                                     SENDER CLIENT PROTO
 *                                 rcpt ADDR ORIG STATE LAST-ERROR  (each)
 *   hold|release|delete|bounce|requeue|flush ID...
 *                                 result ID OUTCOME  (each)
 *   flush-all [DOMAIN]            ok N
 *   reload                        ok / err ERRORS, once the reload is over
 *
 * Every field is one escaped word (proto/word.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../net/listener.h"
#include "../proto/envelope.h"
#include "../proto/word.h"
#include "../queue/queue.h"
#include "../route/directory.h"
#include "control.h"
#include "metrics_endpoint.h"

#define CONTROL_LINE_MAX (64 * 1024)
#define CONTROL_MAX_WORDS 1001          /* a verb and up to 1000 ids */
#define CONTROL_TIMEOUT 60

struct control_session {
	struct conn *c;
	struct control_env *env;
	bool allowed;
	char by[16];                    /* the peer's uid, for the logs */
	char *words[CONTROL_MAX_WORDS];
};

static void
reply(struct control_session *s, struct buf *b)
{
	conn_write(s->c, b->data, b->len);
	buf_reset(b);
}

/* A final line: "ok TEXT" or "err TEXT", the text one word. */
static enum conn_step
finish(struct control_session *s, const char *verdict, const char *text)
{
	struct buf b = BUF_INIT;

	if (buf_printf(&b, "%s ", verdict) == 0 && word_put(&b, text) == 0 &&
	    buf_append_char(&b, '\n') == 0)
		reply(s, &b);
	buf_release(&b);
	return CONN_DONE;
}

static void *
control_greet(struct conn *c, const struct listener_conf *lc)
{
	struct control_session *s;
	uid_t uid;

	(void)lc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->c = c;
	s->env = lc->env;
	if (conn_peer_uid(c, &uid) == 0) {
		s->allowed = uid == 0 || uid == getuid();
		snprintf(s->by, sizeof(s->by), "%u", (unsigned)uid);
	}
	conn_set_line_max(c, CONTROL_LINE_MAX);
	conn_set_timeout(c, CONTROL_TIMEOUT);
	return s;
}

/* ------------------------------------------------------------ status --- */

static void
put_status(struct buf *b, const char *key, long long value)
{
	buf_printf(b, "status %s %lld\n", key, value);
}

/*
 * The allocator's view of this process: octets handed out (in use) and
 * held free inside its arenas. Beside RSS it tells a growing heap (a list
 * or cache that keeps growing) from fragmentation (free octets held).
 */
static void
heap_status(struct buf *b)
{
	struct metrics_process p;

	metrics_endpoint_process(&p);
	put_status(b, "heap-in-use", (long long)p.heap_in_use);
	put_status(b, "heap-free", (long long)p.heap_free);
}

static enum conn_step
do_status(struct control_session *s)
{
	const struct control_env *env = s->env;
	struct queue_summary q;
	struct buf b = BUF_INIT;
	size_t i;

	queue_summarize(env->queue, &q);
	put_status(&b, "pid", (long long)getpid());
	put_status(&b, "started", (long long)env->started);
	put_status(&b, "uptime", (long long)(time(NULL) - env->started));
	/* Not counting this one. */
	put_status(&b, "connections", (long long)conn_count() - 1);
	for (i = 0; i < METRICS_CONTROL; i++) {
		uint64_t n = metrics_sessions_active((enum metrics_service)i);

		if (n > 0)
			buf_printf(&b, "status sessions-%s %llu\n",
			    metrics_service_name((enum metrics_service)i), (unsigned long long)n);
	}
	put_status(&b, "users", (long long)directory_user_count(*env->dir));
	put_status(&b, "queue-messages", (long long)q.messages);
	put_status(&b, "queue-octets", (long long)q.octets);
	put_status(&b, "queue-deferred", (long long)q.deferred);
	put_status(&b, "queue-delivering", (long long)q.delivering);
	put_status(&b, "queue-hold", (long long)q.on_hold);
	put_status(&b, "queue-oldest", (long long)q.oldest);
	heap_status(&b);
	buf_printf(&b, "status hostname ");
	word_put(&b, env->cfg->hostname);
	buf_append_char(&b, '\n');
	for (i = 0; i < env->nlisteners; i++) {
		const struct listener_conf *lc = listener_conf(env->listeners[i]);

		buf_printf(&b, "listener %s ", lc->service);
		if (lc->path)
			buf_printf(&b, "unix:");
		word_put(&b, lc->path ? lc->path : lc->host);
		if (!lc->path)
			buf_printf(&b, "%s%d", strchr(lc->host, ':') ? "." : ":", lc->port);
		buf_append_char(&b, '\n');
	}
	reply(s, &b);
	buf_release(&b);
	return finish(s, "ok", "");
}

/* ------------------------------------------------------------ list ----- */

struct list_walk {
	struct control_session *s;
	char **ids;                     /* only these, when nids > 0 */
	size_t nids;
	struct buf b;
};

static const char *const rcpt_states[] = {
	[RCPT_PENDING] = "pending", [RCPT_DELIVERED] = "delivered", [RCPT_FAILED] = "failed",
};

static void
list_one(void *arg, const struct queue_view *v)
{
	struct list_walk *w = arg;
	const struct envelope *env = v->env;
	struct buf *b = &w->b;
	size_t i;

	if (w->nids > 0) {
		for (i = 0; i < w->nids && strcmp(w->ids[i], env->id) != 0; i++)
			;
		if (i == w->nids)
			return;
	}
	buf_printf(b, "msg %s %llu %lld %s %lld %u ", env->id, (unsigned long long)v->size,
	    (long long)env->arrival, v->state, (long long)v->next_try, v->attempts);
	word_put(b, env->sender);
	buf_append_char(b, ' ');
	word_put(b, env->client ? env->client : "");
	buf_append_char(b, ' ');
	word_put(b, env->proto ? env->proto : "");
	buf_append_char(b, '\n');
	for (i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		buf_printf(b, "rcpt ");
		word_put(b, r->addr);
		buf_append_char(b, ' ');
		word_put(b, r->orig ? r->orig : "");
		buf_printf(b, " %s ", rcpt_states[r->state]);
		word_put(b, v->last_error && v->last_error[i] ? v->last_error[i] : "");
		buf_append_char(b, '\n');
	}
	/* Out in pieces: a long queue is not one allocation. */
	if (b->len >= 64 * 1024)
		reply(w->s, b);
}

static enum conn_step
do_list(struct control_session *s, char **ids, size_t nids)
{
	struct list_walk w = { .s = s, .ids = ids, .nids = nids, .b = BUF_INIT };

	queue_view(s->env->queue, list_one, &w);
	reply(s, &w.b);
	buf_release(&w.b);
	return finish(s, "ok", "");
}

/* ------------------------------------------------------------ actions -- */

static const char *const outcomes[] = {
	[QUEUE_ADMIN_DONE] = "done", [QUEUE_ADMIN_LATER] = "later",
	[QUEUE_ADMIN_NOOP] = "noop", [QUEUE_ADMIN_HELD] = "held",
	[QUEUE_ADMIN_BUSY] = "busy", [QUEUE_ADMIN_NOTFOUND] = "notfound",
	[QUEUE_ADMIN_FAILED] = "failed",
};

static enum conn_step
do_action(struct control_session *s, enum queue_admin_op op, char **ids, size_t nids)
{
	enum queue_admin_result *res;
	struct buf b = BUF_INIT;
	size_t i;

	if (nids == 0)
		return finish(s, "err", "no queue id given");
	if ((res = calloc(nids, sizeof(*res))) == NULL ||
	    queue_admin(s->env->queue, op, (const char **)ids, nids, res, s->by) == -1) {
		free(res);
		return finish(s, "err", "out of memory");
	}
	for (i = 0; i < nids; i++) {
		buf_printf(&b, "result ");
		word_put(&b, ids[i]);
		buf_printf(&b, " %s\n", outcomes[res[i]]);
	}
	reply(s, &b);
	buf_release(&b);
	free(res);
	return finish(s, "ok", "");
}

static enum conn_step
do_flush_all(struct control_session *s, const char *domain)
{
	char text[32];
	ssize_t n = queue_flush(s->env->queue, domain, s->by);

	if (n < 0)
		return finish(s, "err", "out of memory (some messages were not flushed)");
	snprintf(text, sizeof(text), "%zd", n);
	return finish(s, "ok", text);
}

/* ------------------------------------------------------------ reload --- */

static enum conn_step
do_reload(struct control_session *s)
{
	struct control_env *env = s->env;

	if (env->nreload_waiters == CONTROL_MAX_RELOAD_WAITERS)
		return finish(s, "err", "too many reloads waiting");
	log_info("event=reload-requested uid=%s", s->by);
	if (env->reload(env->reload_arg, s->by) == -1)
		return finish(s, "err", "the reload could not be started (see the log)");
	env->reload_waiters[env->nreload_waiters++] = conn_id(s->c);
	return CONN_PENDING;
}

void
control_reload_done(struct control_env *env, const char *errors, const char *notes)
{
	struct buf ok = BUF_INIT;
	size_t i;

	buf_append_str(&ok, "reloaded");
	if (notes && notes[0]) {
		buf_append_str(&ok, "\n");
		buf_append_str(&ok, notes);
		while (ok.len > 0 && ok.data[ok.len - 1] == '\n')
			buf_cut(&ok, ok.len - 1, 1);
	}

	for (i = 0; i < env->nreload_waiters; i++) {
		struct control_session *s = conn_ctx(conn_find(env->reload_waiters[i]),
		    &control_proto);

		if (s == NULL)
			continue;       /* ternctl gave up */
		if (errors && errors[0])
			finish(s, "err", errors);
		else
			finish(s, "ok", buf_cstr(&ok));
		conn_resume(s->c, CONN_DONE);
	}
	env->nreload_waiters = 0;
	buf_release(&ok);
}

/* ------------------------------------------------------------ dispatch - */

static const struct {
	const char *verb;
	enum queue_admin_op op;
} actions[] = {
	{ "hold", QUEUE_HOLD }, { "release", QUEUE_RELEASE }, { "delete", QUEUE_DELETE },
	{ "bounce", QUEUE_BOUNCE }, { "requeue", QUEUE_REQUEUE }, { "flush", QUEUE_FLUSH },
};

static enum conn_step
control_line(void *ctx, char *line, size_t len)
{
	struct control_session *s = ctx;
	char **w = s->words;
	size_t i, n;
	int nw;

	if (!s->allowed) {
		finish(s, "err", "permission denied: only root and ternd's user may use "
		    "the control socket");
		return CONN_CLOSE;
	}
	if (line == NULL)
		return finish(s, "err", "line too long");
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if ((nw = word_split(line, w, CONTROL_MAX_WORDS)) <= 0)
		return finish(s, "err", nw == 0 ? "empty request" :
		    "malformed request (or more than 1000 ids)");
	for (i = 0; i < (size_t)nw; i++) {
		if (word_get(w[i]) == NULL)
			return finish(s, "err", "malformed word");
	}
	n = (size_t)nw - 1;
	if (strcmp(w[0], "status") == 0 && n == 0)
		return do_status(s);
	if (strcmp(w[0], "list") == 0)
		return do_list(s, w + 1, n);
	if (strcmp(w[0], "flush-all") == 0 && n <= 1)
		return do_flush_all(s, n ? w[1] : NULL);
	if (strcmp(w[0], "reload") == 0 && n == 0)
		return do_reload(s);
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(w[0], actions[i].verb) == 0)
			return do_action(s, actions[i].op, w + 1, n);
	}
	return finish(s, "err", "unknown request");
}

static enum conn_step
control_timer(void *ctx, enum conn_timer which)
{
	(void)ctx;
	(void)which;
	return CONN_CLOSE;
}

static void
control_closed(void *ctx, const char *reason)
{
	(void)reason;
	free(ctx);
}

static int
control_busy(const struct listener_conf *lc, bool per_ip, char *out, size_t outsize)
{
	(void)lc;
	(void)per_ip;
	return snprintf(out, outsize, "err too%%20many%%20connections\n");
}

const struct conn_proto control_proto = {
	.name = "control",
	.greet = control_greet,
	.line = control_line,
	.timer = control_timer,
	.closed = control_closed,
	.busy = control_busy,
};
