/*
 * pop3_drop: a POP3 session's maildrop on the I/O pool (see
 * pop3_server.c for the session). Each job owns the maildrop while it
 * runs (the session's pointer is NULL) and gives it back by connection
 * id: a client gone meanwhile is harmless, and a QUIT's deletions happen
 * whether or not the client waits for the +OK.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../net/conn.h"
#include "../proto/maildir_name.h"
#include "../proto/pop3_out.h"
#include "pop3_session.h"

/* One maildrop in use by a session of this process: RFC 1939 §8 lets a
 * server pop3_refuse a second, which keeps two QUITs from fighting. */
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

void
pop3_drop_release(const char *login)
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
	struct pop3_session *s = pop3_session_find(j->sid);
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
		pop3_reply(s, "-ERR [%s] Cannot open the mailbox, try again later",
		    j->err == MBOX_LOCKED ? "IN-USE" : "SYS/TEMP");
		pop3_drop_release(s->login);
		s->drop_locked = false;
		s->login[0] = '\0';
		mbox_free(j->mb);
		free(j->mb);
		free(j->wire);
		free(j);
		pop3_flush(s);
		conn_resume(s->conn, CONN_DONE);
		return;
	}
	s->mb = j->mb;
	s->wire = j->wire;
	s->deleted = calloc(s->mb->n ? s->mb->n : 1, sizeof(bool));
	s->retrieved = calloc(s->mb->n ? s->mb->n : 1, sizeof(bool));
	free(j);
	if (s->deleted == NULL || s->retrieved == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		pop3_flush(s);
		conn_resume(s->conn, CONN_CLOSE);
		return;
	}
	for (i = 0; i < s->mb->n; i++)
		total += s->wire[i];
	s->state = P_TRANSACTION;
	log_info("event=pop3-login sid=%llu client=%s user=%s messages=%zu octets=%llu new_uids=%zu",
	    (unsigned long long)s->id, conn_ip(s->conn), s->login, s->mb->n,
	    (unsigned long long)total, s->mb->new_uids);
	pop3_reply(s, "+OK Logged in, %zu messages (%llu octets)", s->mb->n,
	    (unsigned long long)total);
	pop3_flush(s);
	conn_resume(s->conn, CONN_DONE);
}

/* The password was right: the maildrop, unless another session has it. */
enum conn_step
pop3_drop_open(struct pop3_session *s, const char *user)
{
	struct open_job *j;

	if (!drop_lock_take(user)) {
		pop3_reply(s, "-ERR [IN-USE] Mailbox is in use by another POP3 session");
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
		pop3_drop_release(s->login);
		s->drop_locked = false;
		s->login[0] = '\0';
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox, try again later");
		return CONN_DONE;
	}
	return CONN_PENDING;
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
	struct pop3_session *s = pop3_session_find(j->sid);

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
			pop3_reply(s, "-ERR [SYS/TEMP] Message %zu has gone or cannot be read", j->index + 1);
			pop3_flush(s);
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
		pop3_reply(s, "+OK %llu octets", (unsigned long long)j->wire);
		pop3_flush(s);
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

enum conn_step
pop3_drop_writable(void *ctx)
{
	struct pop3_session *s = ctx;
	struct retr_job *j = s->next_piece;

	if (!s->wait_drain || j == NULL)
		return CONN_DONE;
	s->wait_drain = false;
	s->next_piece = NULL;
	return retr_submit(s, j) == 0 ? CONN_DONE : CONN_CLOSE;
}

enum conn_step
pop3_drop_retr(struct pop3_session *s, size_t i, bool top, uint32_t lines)
{
	struct retr_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return pop3_refuse(s, "[SYS/TEMP] Out of memory");
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
	struct pop3_session *s = pop3_session_find(j->sid);

	if (j->err != MBOX_OK)
		log_warnx("event=pop3-update-failed user=%s reason=\"%s\"", j->login,
		    mbox_strerror(j->err));
	else if (j->ndel)
		log_info("event=pop3-expunged user=%s messages=%zu", j->login, j->ndel);
	if (s) {
		/* The maildrop is free once UPDATE is over, not when the
		 * connection is (TLS's close may linger). */
		pop3_drop_release(s->login);
		s->drop_locked = false;
		if (j->err != MBOX_OK)
			/* RFC 2449 §8.1.2: the deletions did not all happen. */
			pop3_reply(s, "-ERR [SYS/TEMP] Some deleted messages were not removed");
		else
			pop3_reply(s, "+OK Logging out, %zu messages deleted", j->ndel);
		pop3_flush(s);
		conn_resume(s->conn, CONN_CLOSE);
	}
	mbox_free(j->mb);
	free(j->mb);
	free(j->del);
	free(j->keep);
	free(j);
}

enum conn_step
pop3_drop_update(struct pop3_session *s)
{
	struct update_job *j;
	size_t i;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->del = calloc(s->mb->n + 1, sizeof(size_t))) == NULL ||
	    (j->keep = calloc(s->mb->n + 1, sizeof(size_t))) == NULL) {
		if (j)
			free(j->del);
		free(j);
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted");
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
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted");
		return CONN_CLOSE;
	}
	s->mb = NULL;   /* the job's now, whatever happens to the session */
	return CONN_PENDING;
}

void
pop3_drop_close(struct pop3_session *s)
{
	if (s->next_piece) {
		struct retr_job *j = s->next_piece;

		s->mb = j->mb;
		s->next_piece = NULL;
		retr_free(j);
	}
	if (s->mb) {
		mbox_free(s->mb);
		free(s->mb);
		s->mb = NULL;
	}
}
