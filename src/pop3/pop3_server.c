/*
 * pop3_server: the POP3 session (see pop3_server.h).
 *
 * States (RFC 1939 §3): AUTHORIZATION until a login succeeds and the
 * maildrop is open, then TRANSACTION; QUIT there is the UPDATE state,
 * which applies the deletions in one step (mailbox/store.c journals them)
 * and only then says +OK. A session that ends any other way deletes
 * nothing.
 *
 * Everything that touches the disk is a job on the I/O pool: opening the
 * maildrop (sync, sizes), each piece of a RETR/TOP, and the UPDATE. A job
 * owns the maildrop while it runs (the session's pointer is NULL) and
 * gives it back by connection id: a client gone meanwhile is harmless,
 * and a QUIT's deletions happen whether or not the client waits for the
 * +OK. While a job runs the handler has returned CONN_PENDING, so
 * pipelined commands (RFC 2449 PIPELINING) wait their turn.
 */
#include "pop3_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../auth/authsvc.h"
#include "../common/buf.h"
#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../maillog/maillog.h"
#include "../net/conn.h"
#include "../net/listener.h"
#include "../proto/line.h"
#include "../proto/maildir_name.h"
#include "../proto/pop3_cmd.h"
#include "../proto/pop3_out.h"
#include "../proto/sasl.h"

/* Lines: RFC 2449 allows 255 octets, but an AUTH PLAIN initial response
 * with a long password is longer; Dovecot takes such lines too. */
#define POP3_LINE_MAX 8192
/* RFC 1939 §3: the autologout timer is at least 10 minutes. */
#define POP3_IDLE_TIMEOUT 600
/* A RETR is read and sent in pieces of this. */
#define RETR_PIECE (128 * 1024)

enum pop3_state { P_AUTHORIZATION, P_TRANSACTION };

struct pop3_session {
	uint64_t id;
	struct pop3_server_env *env;
	struct conn *conn;
	enum pop3_state state;
	struct buf out;               /* replies not yet handed to the conn */
	unsigned errors, ncmds;
	bool utf8;

	/* AUTHORIZATION */
	char user[SASL_USER_MAX + 1]; /* USER's argument */
	bool user_given;
	bool in_sasl;                 /* the next line answers our "+ " */
	struct sasl_server sasl;

	/* TRANSACTION */
	char login[SASL_USER_MAX + 1];
	bool drop_locked;             /* holds login's drop_lock */
	struct mbox *mb;              /* NULL while a job holds it */
	uint64_t *wire;               /* per message: the size LIST announces */
	bool *deleted, *retrieved;
	size_t ndeleted;
	bool streaming;               /* a RETR/TOP job is on the pool */
	bool wait_drain;              /* its next piece waits for the client */
	struct retr_job *next_piece;
	const char *close_reason;
};

/* One maildrop in use by a session of this process: RFC 1939 §8 lets a
 * server refuse a second, which keeps two QUITs from fighting. */
struct drop_lock {
	char login[SASL_USER_MAX + 1];
	struct drop_lock *next;
};
static struct drop_lock *drop_locks;   /* loop thread only */

static bool
drop_lock_take(const char *login)
{
	struct drop_lock *l;

	for (l = drop_locks; l; l = l->next) {
		if (strcmp(l->login, login) == 0)
			return false;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return false;
	str_copy(l->login, sizeof(l->login), login);
	l->next = drop_locks;
	drop_locks = l;
	return true;
}

static void
drop_lock_release(const char *login)
{
	struct drop_lock **pp, *l;

	for (pp = &drop_locks; (l = *pp) != NULL; pp = &l->next) {
		if (strcmp(l->login, login) == 0) {
			*pp = l->next;
			free(l);
			return;
		}
	}
}

static struct pop3_session *
session_find(uint64_t id)
{
	return conn_ctx(conn_find(id), &pop3_server_proto);
}

/* ------------------------------------------------------------ replies -- */

static void
flush(struct pop3_session *s)
{
	if (s->out.len) {
		conn_write(s->conn, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

static void reply(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
}

/* A client error: -ERR, counted; too many ends the session. */
static enum conn_step refuse(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum conn_step
refuse(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_append_str(&s->out, "-ERR ");
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
	if (++s->errors < (unsigned)s->env->cfg->max_errors)
		return CONN_DONE;
	reply(s, "-ERR Too many bad commands");
	s->close_reason = "too many errors";
	return CONN_CLOSE;
}

static bool
auth_allowed(const struct pop3_session *s)
{
	bool loopback = (conn_family(s->conn) == AF_INET && conn_addr(s->conn)[0] == 127) ||
	    (conn_family(s->conn) == AF_INET6 &&
	    memcmp(conn_addr(s->conn), "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);

	return conn_tls(s->conn) || (s->env->cfg->auth_cleartext_loopback && loopback);
}

/* ------------------------------------------------------ open the drop -- */

struct open_job {
	uint64_t sid;
	const struct pop3_server_env *env;
	char dir[MBOX_PATH_MAX];
	struct mbox *mb;
	uint64_t *wire;
	enum mbox_err err;
	size_t cleaned;
};

static void
open_work(void *arg)
{
	struct open_job *j = arg;
	size_t i;

	j->cleaned = mbox_clean_tmp(j->dir, time(NULL), MBOX_TMP_MAX_AGE, j->env->store.hostname);
	if (maildir_create(j->dir) == -1) {
		j->err = MBOX_IO;
		return;
	}
	(void)mbox_create_defaults(j->dir);
	if ((j->err = mbox_sync(j->mb, j->dir, false, &j->env->store)) != MBOX_OK)
		return;
	if ((j->wire = calloc(j->mb->n ? j->mb->n : 1, sizeof(*j->wire))) == NULL) {
		j->err = MBOX_NOMEM;
		return;
	}
	/* The size LIST and STAT announce is the message's with CR LF line
	 * ends, without the stuffed dots (RFC 1939 §11: the client removes
	 * them; Dovecot announces the same): the store's virtual size, read
	 * once per message and kept in dovecot-uidlist as Dovecot keeps it,
	 * so that a login reads no message. */
	for (i = 0; i < j->mb->n; i++)
		j->wire[i] = j->mb->msgs[i].vsize != MBOX_VSIZE_UNKNOWN ?
		    j->mb->msgs[i].vsize : j->mb->msgs[i].size;
}

static void
open_done(void *arg)
{
	struct open_job *j = arg;
	struct pop3_session *s = session_find(j->sid);
	uint64_t total = 0;
	size_t i;

	if (s == NULL) {
		mbox_free(j->mb);
		free(j->mb);
		free(j->wire);
		free(j);
		return;
	}
	if (j->cleaned)
		log_info("event=mailbox-tmp-cleaned sid=%llu user=%s files=%zu",
		    (unsigned long long)s->id, s->login, j->cleaned);
	if (j->err != MBOX_OK) {
		log_warnx("event=pop3-open-failed sid=%llu user=%s reason=\"%s\"",
		    (unsigned long long)s->id, s->login, mbox_strerror(j->err));
		reply(s, "-ERR [%s] Cannot open the mailbox, try again later",
		    j->err == MBOX_LOCKED ? "IN-USE" : "SYS/TEMP");
		drop_lock_release(s->login);
		s->drop_locked = false;
		s->login[0] = '\0';
		mbox_free(j->mb);
		free(j->mb);
		free(j->wire);
		free(j);
		flush(s);
		conn_resume(s->conn, CONN_DONE);
		return;
	}
	s->mb = j->mb;
	s->wire = j->wire;
	s->deleted = calloc(s->mb->n ? s->mb->n : 1, sizeof(bool));
	s->retrieved = calloc(s->mb->n ? s->mb->n : 1, sizeof(bool));
	free(j);
	if (s->deleted == NULL || s->retrieved == NULL) {
		reply(s, "-ERR [SYS/TEMP] Out of memory");
		flush(s);
		conn_resume(s->conn, CONN_CLOSE);
		return;
	}
	for (i = 0; i < s->mb->n; i++)
		total += s->wire[i];
	s->state = P_TRANSACTION;
	log_info("event=pop3-login sid=%llu client=%s user=%s messages=%zu octets=%llu new_uids=%zu",
	    (unsigned long long)s->id, conn_ip(s->conn), s->login, s->mb->n,
	    (unsigned long long)total, s->mb->new_uids);
	reply(s, "+OK Logged in, %zu messages (%llu octets)", s->mb->n,
	    (unsigned long long)total);
	flush(s);
	conn_resume(s->conn, CONN_DONE);
}

/* The password was right: the maildrop, unless another session has it. */
static enum conn_step
logged_in(struct pop3_session *s, const char *user)
{
	struct open_job *j;

	if (!drop_lock_take(user)) {
		reply(s, "-ERR [IN-USE] Mailbox is in use by another POP3 session");
		return CONN_DONE;
	}
	str_copy(s->login, sizeof(s->login), user);
	s->drop_locked = true;
	if ((j = calloc(1, sizeof(*j))) != NULL) {
		/* All set before the pool may run it. */
		j->sid = s->id;
		j->env = s->env;
	}
	if (j == NULL || (j->mb = calloc(1, sizeof(*j->mb))) == NULL ||
	    maildir_path(s->env->mailroot, user, j->dir, sizeof(j->dir)) == -1 ||
	    iopool_submit(s->env->pool, open_work, open_done, j) == -1) {
		if (j)
			free(j->mb);
		free(j);
		drop_lock_release(s->login);
		s->drop_locked = false;
		s->login[0] = '\0';
		reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox, try again later");
		return CONN_DONE;
	}
	return CONN_PENDING;
}

/* ----------------------------------------------------------- logging in -- */

static enum conn_step
verdict(struct pop3_session *s, enum authsvc_verdict v, const char *user)
{
	switch (v) {
	case AUTHSVC_OK:
		return logged_in(s, user);
	case AUTHSVC_FAILED:
		return refuse(s, "[AUTH] Authentication failed");
	case AUTHSVC_NETWORK_LOCKED:
		reply(s, "-ERR [AUTH] Too many failed logins from your address");
		s->close_reason = "auth locked";
		return CONN_CLOSE;
	case AUTHSVC_TEMPFAIL:
		reply(s, "-ERR [SYS/TEMP] Temporary authentication failure");
		return CONN_DONE;
	case AUTHSVC_PENDING:
		return CONN_PENDING;
	}
	return CONN_DONE;
}

static void
auth_done(uint64_t sid, enum authsvc_verdict v, const char *user)
{
	struct pop3_session *s = session_find(sid);
	enum conn_step step;

	if (s == NULL)
		return;
	step = verdict(s, v, user);
	flush(s);
	if (step != CONN_PENDING)
		conn_resume(s->conn, step);
}

static enum conn_step
check_login(struct pop3_session *s, const char *user, const char *pass)
{
	struct authsvc_peer peer = {
		.family = conn_family(s->conn),
		.addr = conn_addr(s->conn),
		.ip = conn_ip(s->conn),
	};

	return verdict(s, authsvc_check(s->env->auth, &peer, user, pass, auth_done, s->id), user);
}

static enum conn_step
sasl_next(struct pop3_session *s, enum sasl_result r)
{
	enum conn_step step = CONN_DONE;

	s->in_sasl = false;
	switch (r) {
	case SASL_CHALLENGE:
		s->in_sasl = true;
		reply(s, "+ %s", s->sasl.challenge);
		return CONN_DONE;
	case SASL_DONE:
		step = check_login(s, s->sasl.user, s->sasl.pass);
		break;
	case SASL_CANCELLED:
		reply(s, "-ERR Authentication cancelled");
		break;
	case SASL_BAD:
	case SASL_MALFORMED:
		step = refuse(s, "[AUTH] Invalid authentication response");
		break;
	case SASL_UNKNOWN_MECH:
		step = refuse(s, "Unsupported authentication mechanism");
		break;
	}
	sasl_server_clear(&s->sasl);
	return step;
}

/* ------------------------------------------------------------ commands -- */

/* Message n (1-based) that is there and not deleted, or -1 with the -ERR. */
static long
msg_index(struct pop3_session *s, uint32_t n)
{
	if (n == 0 || n > s->mb->n) {
		reply(s, "-ERR There is no message %u", n);
		return -1;
	}
	if (s->deleted[n - 1]) {
		reply(s, "-ERR Message %u is deleted", n);
		return -1;
	}
	return (long)n - 1;
}

static void
uidl_line(struct pop3_session *s, size_t i, bool multi)
{
	const struct mbox_msg *m = &s->mb->msgs[i];

	/* A UIDL kept from a migration, else Dovecot's default
	 * pop3_uidl_format, %08Xu%08Xv, as Dovecot writes it: its %X is
	 * lower-case hex (2.3.19: "000000016b0e5044"). Clients compare
	 * UIDLs as strings, so a switch between the two servers must not
	 * change a letter's case. */
	if (m->pop3_uidl)
		buf_printf(&s->out, "%s%zu %s\r\n", multi ? "" : "+OK ", i + 1, m->pop3_uidl);
	else
		buf_printf(&s->out, "%s%zu %08x%08x\r\n", multi ? "" : "+OK ", i + 1,
		    (unsigned)m->uid, (unsigned)s->mb->uidvalidity);
}

static enum conn_step
cmd_capa(struct pop3_session *s)
{
	reply(s, "+OK Capability list follows");
	reply(s, "CAPA");
	reply(s, "TOP");
	reply(s, "UIDL");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	if (s->state == P_AUTHORIZATION && conn_tls_possible(s->conn) && !conn_tls(s->conn))
		reply(s, "STLS");
	if (s->state == P_AUTHORIZATION && auth_allowed(s)) {
		reply(s, "USER");
		reply(s, "SASL PLAIN LOGIN");
	}
	reply(s, "UTF8");
	reply(s, "IMPLEMENTATION tern");
	reply(s, ".");
	return CONN_DONE;
}

static enum conn_step
cmd_stls(struct pop3_session *s)
{
	struct buf ready = BUF_INIT;
	enum conn_starttls r;

	if (!conn_tls_possible(s->conn))
		return refuse(s, "STLS not available");
	if (conn_tls(s->conn))
		return refuse(s, "TLS already active");
	buf_append_str(&ready, "+OK Begin TLS negotiation now\r\n");
	flush(s);
	r = conn_starttls(s->conn, &s->out, ready.data, ready.len);
	buf_release(&ready);
	if (r == CONN_STARTTLS_UNAVAILABLE) {
		reply(s, "-ERR [SYS/TEMP] TLS not available now");
		return CONN_DONE;
	}
	if (r == CONN_STARTTLS_BROKEN)
		return CONN_CLOSE;
	/* RFC 2595 §4: nothing learned before TLS counts after it. */
	s->user_given = false;
	s->user[0] = '\0';
	return CONN_DONE;
}

static enum conn_step
authorization(struct pop3_session *s, const struct pop3_cmd *c)
{
	switch (c->verb) {
	case POP3_CMD_CAPA:
		return cmd_capa(s);
	case POP3_CMD_QUIT:
		reply(s, "+OK Bye");
		return CONN_CLOSE;
	case POP3_CMD_NOOP:
		reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_STLS:
		return cmd_stls(s);
	case POP3_CMD_UTF8:
		/* RFC 6856 §2: user names and passwords may be UTF-8 now. */
		s->utf8 = true;
		reply(s, "+OK UTF8 enabled");
		return CONN_DONE;
	case POP3_CMD_USER:
		if (!auth_allowed(s))
			return refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		if (c->arglen > SASL_USER_MAX)
			return refuse(s, "User name too long");
		str_copyn(s->user, sizeof(s->user), c->arg, c->arglen);
		s->user_given = true;
		reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_PASS: {
		char pass[SASL_PASS_MAX + 1];
		enum conn_step step;

		if (!auth_allowed(s))
			return refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		if (!s->user_given)
			return refuse(s, "No USER given");
		s->user_given = false;
		if (c->arglen > SASL_PASS_MAX)
			return refuse(s, "[AUTH] Authentication failed");
		str_copyn(pass, sizeof(pass), c->arg, c->arglen);
		step = check_login(s, s->user, pass);
		explicit_bzero(pass, sizeof(pass));
		return step;
	}
	case POP3_CMD_AUTH:
		if (c->arg == NULL) {
			/* RFC 1734's listing, which clients still probe with. */
			reply(s, "+OK");
			if (auth_allowed(s)) {
				reply(s, "PLAIN");
				reply(s, "LOGIN");
			}
			reply(s, ".");
			return CONN_DONE;
		}
		if (!auth_allowed(s))
			return refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		return sasl_next(s, sasl_server_start(&s->sasl, c->arg, c->arglen, c->arg2, c->arg2len));
	default:
		return refuse(s, "Not allowed before a login");
	}
}

/* ---------------------------------------------------------- RETR/TOP --- */

struct retr_job {
	uint64_t sid;
	struct mbox *mb;
	size_t index;
	int fd;                 /* -1 until the first piece opens it */
	off_t off;
	struct pop3_out po;
	struct buf out;
	bool failed;            /* opening or reading failed */
	bool finished;
	bool ok_sent;           /* the +OK line is out: no -ERR possible */
	uint64_t wire;          /* for the +OK line */
};

static void retr_done(void *arg);

static void
retr_work(void *arg)
{
	struct retr_job *j = arg;
	char in[16384];
	size_t got = 0;
	ssize_t n;

	if (j->fd == -1 && (j->fd = mbox_open_msg(j->mb, j->index)) == -1) {
		j->failed = true;
		return;
	}
	while (got < RETR_PIECE && !j->po.done) {
		if ((n = pread(j->fd, in, sizeof(in), j->off)) <= 0) {
			if (n < 0) {
				j->failed = true;
				return;
			}
			break;
		}
		j->off += n;
		got += (size_t)n;
		if (pop3_out_feed(&j->po, in, (size_t)n, &j->out) == -1) {
			j->failed = true;
			return;
		}
	}
	if (got < RETR_PIECE || j->po.done) {
		if (pop3_out_finish(&j->po, &j->out) == -1) {
			j->failed = true;
			return;
		}
		j->finished = true;
	}
}

static void
retr_free(struct retr_job *j)
{
	if (j->fd != -1)
		close(j->fd);
	buf_release(&j->out);
	free(j);
}

/* The next piece goes to the pool; -1 (out of memory): the session ends. */
static int
retr_submit(struct pop3_session *s, struct retr_job *j)
{
	buf_reset(&j->out);
	if (iopool_submit(s->env->pool, retr_work, retr_done, j) == 0)
		return 0;
	s->mb = j->mb;
	retr_free(j);
	s->streaming = false;
	s->close_reason = "out of memory";
	return -1;
}

static void
retr_done(void *arg)
{
	struct retr_job *j = arg;
	struct pop3_session *s = session_find(j->sid);

	if (s == NULL) {
		mbox_free(j->mb);
		free(j->mb);
		retr_free(j);
		return;
	}
	if (j->failed) {
		s->mb = j->mb;
		s->streaming = false;
		if (!j->ok_sent) {
			/* Nothing sent yet: a plain -ERR. */
			reply(s, "-ERR [SYS/TEMP] Message %zu has gone or cannot be read", j->index + 1);
			flush(s);
			retr_free(j);
			conn_resume(s->conn, CONN_DONE);
			return;
		}
		/* Part of it is out after a +OK: the only honest end is to
		 * drop the connection (the client retries; nothing is lost). */
		log_warnx("event=pop3-retr-failed sid=%llu user=%s msg=%zu",
		    (unsigned long long)s->id, s->login, j->index + 1);
		retr_free(j);
		s->close_reason = "message unreadable";
		conn_resume(s->conn, CONN_CLOSE);
		return;
	}
	if (!j->ok_sent) {
		reply(s, "+OK %llu octets", (unsigned long long)j->wire);
		flush(s);
		j->ok_sent = true;
	}
	conn_write(s->conn, j->out.data, j->out.len);
	if (j->finished) {
		s->mb = j->mb;
		s->streaming = false;
		retr_free(j);
		conn_resume(s->conn, CONN_DONE);
		return;
	}
	/* Next piece once the client has taken this one. */
	s->next_piece = j;
	s->wait_drain = true;
}

static enum conn_step
session_writable(void *ctx)
{
	struct pop3_session *s = ctx;
	struct retr_job *j = s->next_piece;

	if (!s->wait_drain || j == NULL)
		return CONN_DONE;
	s->wait_drain = false;
	s->next_piece = NULL;
	return retr_submit(s, j) == 0 ? CONN_DONE : CONN_CLOSE;
}

static enum conn_step
start_retr(struct pop3_session *s, size_t i, bool top, uint32_t lines)
{
	struct retr_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return refuse(s, "[SYS/TEMP] Out of memory");
	j->sid = s->id;
	j->mb = s->mb;
	j->index = i;
	j->fd = -1;
	j->wire = s->wire[i];
	if (top)
		pop3_out_init_top(&j->po, lines);
	else {
		pop3_out_init(&j->po);
		s->retrieved[i] = true;
	}
	s->mb = NULL;
	s->streaming = true;
	return retr_submit(s, j) == 0 ? CONN_PENDING : CONN_CLOSE;
}

/* ------------------------------------------------------------- UPDATE --- */

struct update_job {
	uint64_t sid;
	struct mbox *mb;
	const struct mbox_conf *conf;
	size_t *del, ndel, *keep, nkeep;
	enum mbox_err err;
	char login[SASL_USER_MAX + 1];
};

static void
update_work(void *arg)
{
	struct update_job *j = arg;

	j->err = mbox_expunge(j->mb, j->del, j->ndel, j->keep, j->nkeep,
	    MAILDIR_FLAG_SEEN, j->conf);
}

static void
update_done(void *arg)
{
	struct update_job *j = arg;
	struct pop3_session *s = session_find(j->sid);

	if (j->err != MBOX_OK)
		log_warnx("event=pop3-update-failed user=%s reason=\"%s\"", j->login,
		    mbox_strerror(j->err));
	else if (j->ndel)
		log_info("event=pop3-expunged user=%s messages=%zu", j->login, j->ndel);
	if (s) {
		/* The maildrop is free once UPDATE is over, not when the
		 * connection is (TLS's close may linger). */
		drop_lock_release(s->login);
		s->drop_locked = false;
		if (j->err != MBOX_OK)
			/* RFC 2449 §8.1.2: the deletions did not all happen. */
			reply(s, "-ERR [SYS/TEMP] Some deleted messages were not removed");
		else
			reply(s, "+OK Logging out, %zu messages deleted", j->ndel);
		flush(s);
		conn_resume(s->conn, CONN_CLOSE);
	}
	mbox_free(j->mb);
	free(j->mb);
	free(j->del);
	free(j->keep);
	free(j);
}

static enum conn_step
cmd_quit_update(struct pop3_session *s)
{
	struct update_job *j;
	size_t i;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->del = calloc(s->mb->n + 1, sizeof(size_t))) == NULL ||
	    (j->keep = calloc(s->mb->n + 1, sizeof(size_t))) == NULL) {
		if (j)
			free(j->del);
		free(j);
		reply(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted");
		return CONN_CLOSE;
	}
	for (i = 0; i < s->mb->n; i++) {
		if (s->deleted[i])
			j->del[j->ndel++] = i;
		else if (s->retrieved[i])
			j->keep[j->nkeep++] = i;
	}
	j->sid = s->id;
	j->mb = s->mb;
	j->conf = &s->env->store;
	str_copy(j->login, sizeof(j->login), s->login);
	if (iopool_submit(s->env->pool, update_work, update_done, j) == -1) {
		free(j->del);
		free(j->keep);
		free(j);
		reply(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted");
		return CONN_CLOSE;
	}
	s->mb = NULL;   /* the job's now, whatever happens to the session */
	return CONN_PENDING;
}

static enum conn_step
transaction(struct pop3_session *s, const struct pop3_cmd *c)
{
	uint64_t total = 0;
	size_t i, n = 0;
	long k;

	switch (c->verb) {
	case POP3_CMD_CAPA:
		return cmd_capa(s);
	case POP3_CMD_NOOP:
		reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_QUIT:
		return cmd_quit_update(s);
	case POP3_CMD_STAT:
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i]) {
				n++;
				total += s->wire[i];
			}
		}
		reply(s, "+OK %zu %llu", n, (unsigned long long)total);
		return CONN_DONE;
	case POP3_CMD_LIST:
		if (c->has_msg) {
			if ((k = msg_index(s, c->msg)) < 0)
				return CONN_DONE;
			reply(s, "+OK %ld %llu", k + 1, (unsigned long long)s->wire[k]);
			return CONN_DONE;
		}
		reply(s, "+OK %zu messages", s->mb->n - s->ndeleted);
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i])
				buf_printf(&s->out, "%zu %llu\r\n", i + 1, (unsigned long long)s->wire[i]);
		}
		reply(s, ".");
		return CONN_DONE;
	case POP3_CMD_UIDL:
		if (c->has_msg) {
			if ((k = msg_index(s, c->msg)) >= 0)
				uidl_line(s, (size_t)k, false);
			return CONN_DONE;
		}
		reply(s, "+OK");
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i])
				uidl_line(s, i, true);
		}
		reply(s, ".");
		return CONN_DONE;
	case POP3_CMD_DELE:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		s->deleted[k] = true;
		s->ndeleted++;
		reply(s, "+OK Marked to be deleted");
		return CONN_DONE;
	case POP3_CMD_RSET:
		memset(s->deleted, 0, s->mb->n * sizeof(bool));
		s->ndeleted = 0;
		reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_RETR:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		return start_retr(s, (size_t)k, false, 0);
	case POP3_CMD_TOP:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		return start_retr(s, (size_t)k, true, c->top_lines);
	default:
		return refuse(s, "Not allowed after login");
	}
}

/* ---------------------------------------------------------------- input -- */

static enum conn_step
command_line(struct pop3_session *s, char *line, size_t len)
{
	struct pop3_cmd_limits lim = { .max_line = POP3_LINE_MAX, .max_arg = SASL_USER_MAX };
	struct pop3_cmd c;
	enum pop3_cmd_err e;

	if (line == NULL)
		return refuse(s, "Line too long");
	s->ncmds++;
	if (s->in_sasl) {
		size_t n = len;
		enum conn_step step;

		/* A SASL response: never logged, wiped after use. */
		if (line_check(line, &n, LINE_REJECT_NUL) != LINE_OK) {
			s->in_sasl = false;
			sasl_server_clear(&s->sasl);
			step = refuse(s, "[AUTH] Invalid authentication response");
		} else
			step = sasl_next(s, sasl_server_step(&s->sasl, line, n));
		explicit_bzero(line, len);
		return step;
	}
	/* Bare LF ends a line too: POP3 clients are not held to CRLF as
	 * SMTP's are, there is nothing to smuggle into. */
	if (len && line[len - 1] == '\r')
		len--;
	e = pop3_cmd_parse(line, len, &lim, &c);
	if (c.verb == POP3_CMD_PASS || c.verb == POP3_CMD_AUTH) {
		enum conn_step step;

		if (e != POP3_CMD_OK)
			step = refuse(s, "Syntax error");
		else if (s->state != P_AUTHORIZATION)
			step = refuse(s, "Already logged in");
		else
			step = authorization(s, &c);
		explicit_bzero(line, len);
		return step;
	}
	switch (e) {
	case POP3_CMD_OK:
		break;
	case POP3_CMD_E_UNKNOWN:
		return refuse(s, "Unknown command");
	case POP3_CMD_E_NUMBER:
		return refuse(s, "Invalid message number");
	case POP3_CMD_E_TOO_LONG:
		return refuse(s, "Argument too long");
	case POP3_CMD_E_BAD_CHAR:
		return refuse(s, "Bad character in command");
	default:
		return refuse(s, "Syntax error");
	}
	if (c.verb == POP3_CMD_APOP || c.verb == POP3_CMD_LANG)
		return refuse(s, "Unknown command");
	return s->state == P_AUTHORIZATION ? authorization(s, &c) : transaction(s, &c);
}

static enum conn_step
session_line(void *ctx, char *line, size_t len)
{
	struct pop3_session *s = ctx;
	enum conn_step step = command_line(s, line, len);

	flush(s);
	return step;
}

static enum conn_step
session_timer(void *ctx, enum conn_timer which)
{
	struct pop3_session *s = ctx;

	(void)which;
	/* RFC 1939 §3: an autologout ends the session without UPDATE. */
	s->close_reason = which == CONN_TIMER_IDLE ? "idle timeout" : "session deadline";
	reply(s, "-ERR Disconnected for inactivity");
	flush(s);
	return CONN_CLOSE;
}

static void
session_closed(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;

	log_info("event=disconnect sid=%llu client=%s service=pop3 user=%s commands=%u reason=\"%s\"",
	    (unsigned long long)s->id, conn_ip(s->conn), s->login[0] ? s->login : "-",
	    s->ncmds, reason ? reason : s->close_reason ? s->close_reason : "quit");
	if (s->drop_locked)
		drop_lock_release(s->login);
	if (s->next_piece) {
		struct retr_job *j = s->next_piece;

		s->mb = j->mb;
		retr_free(j);
	}
	if (s->mb) {
		mbox_free(s->mb);
		free(s->mb);
	}
	free(s->wire);
	free(s->deleted);
	free(s->retrieved);
	sasl_server_clear(&s->sasl);
	buf_release(&s->out);
	free(s);
}

static void *
session_greet(struct conn *c, const struct listener_conf *lc)
{
	struct pop3_server_env *env = lc->env;
	struct pop3_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conn = c;
	s->id = conn_id(c);
	s->env = env;
	s->state = P_AUTHORIZATION;
	maillog_connect(s->id, conn_ip(c), conn_port(c), lc->service);
	conn_set_timeout(c, POP3_IDLE_TIMEOUT);
	conn_set_line_max(c, POP3_LINE_MAX);
	reply(s, "+OK %s POP3 ready", env->cfg->hostname);
	flush(s);
	return s;
}

static int
session_busy(const struct listener_conf *lc, bool per_ip, char *out, size_t outsize)
{
	(void)lc;
	return snprintf(out, outsize, "-ERR [SYS/TEMP] Too many connections%s\r\n",
	    per_ip ? " from your address" : "");
}

const struct conn_proto pop3_server_proto = {
	.name = "pop3",
	.greet = session_greet,
	.line = session_line,
	.raw = NULL,
	.tls_ready = NULL,
	.writable = session_writable,
	.timer = session_timer,
	.closed = session_closed,
	.busy = session_busy,
};
