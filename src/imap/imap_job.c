/*
 * imap_job: an IMAP command on the I/O pool (see imap_session.h). The job
 * borrows the session's box, runs the command's function on a pool
 * thread, then the selected folder's untagged updates, and on the loop
 * hands the answer to the conn and the box back to the session, found by
 * connection id: a client gone meanwhile only frees the box.
 *
 * A FETCH that has more to say than IMAP_OUT_PIECE stops there (j->more):
 * the piece goes out, and the job runs again once the client has taken
 * it (the conn's writable callback), the box still lent, so a session's
 * memory stays one piece however large the answer.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "imap_session.h"

void
imap_job_free(struct imap_job *j)
{
	if (j->parsed)
		imap_cmd_free(&j->cmd);
	buf_wipe(&j->text);       /* a LOGIN's password may have been in it */
	buf_release(&j->out);
	buf_release(&j->status_text);
	free(j->idx);
	free(j);
}

void
imap_job_status(struct imap_job *j, const char *status, const char *fmt, ...)
{
	va_list ap;

	j->status = status;
	buf_reset(&j->status_text);
	va_start(ap, fmt);
	buf_vprintf(&j->status_text, fmt, ap);
	va_end(ap);
}

static void
job_work(void *arg)
{
	struct imap_job *j = arg;

	j->more = false;
	j->fn(j);
	if (!j->more && j->updates != U_NONE && j->box->selected)
		imap_sync_view(j, j->updates);
}

static void job_done(void *arg);

static int
job_submit(struct imap_session *s, struct imap_job *j)
{
	return iopool_submit(s->env->pool, job_work, job_done, j);
}

static void
job_done(void *arg)
{
	struct imap_job *j = arg;
	struct imap_session *s = imap_session_find(j->sid);

	if (s == NULL) {
		imap_box_free(j->box);
		imap_job_free(j);
		return;
	}
	if (j->out.len) {
		conn_write(s->conn, j->out.data, j->out.len);
		buf_reset(&j->out);
	}
	if (j->more) {
		/* The next piece at once while the client keeps up (less than
		 * a piece still waiting to go out), so the pool works while the
		 * socket drains; else once it has taken what waits (the conn's
		 * writable callback). Memory stays two pieces at most. */
		if (conn_output_waiting(s->conn) < IMAP_OUT_PIECE && job_submit(s, j) == 0)
			return;
		s->next_piece = j;
		return;
	}
	imap_session_box_back(s, j);
	if (j->status && j->tag[0]) {
		buf_printf(&s->out, "%s %s %s\r\n", j->tag, j->status, buf_cstr(&j->status_text));
		if (strcmp(j->status, "BAD") == 0)
			s->errors++;
	}
	imap_session_job_end(s, j);
}

enum conn_step
imap_job_start(struct imap_session *s, const char *tag, struct buf *text,
    struct imap_cmd *cmd, imap_exec_fn fn, enum imap_updates updates)
{
	struct imap_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->sid = s->id;
	if (tag)
		str_copy(j->tag, sizeof(j->tag), tag);
	j->box = s->box;
	j->fn = fn;
	j->updates = updates;
	if (text) {
		/* The parsed command points into text's octets, which move
		 * with the buffer. */
		j->text = *text;
		*text = (struct buf)BUF_INIT;
	}
	if (cmd) {
		j->cmd = *cmd;
		j->parsed = true;
		memset(cmd, 0, sizeof(*cmd));
	}
	s->lent = true;
	if (job_submit(s, j) == -1) {
		s->lent = false;
		imap_job_free(j);
		goto fail;
	}
	return CONN_PENDING;
fail:
	if (tag && *tag)
		buf_printf(&s->out, "%s NO [SERVERBUG] Out of memory\r\n", tag);
	return CONN_DONE;
}

enum conn_step
imap_job_writable(struct imap_session *s)
{
	struct imap_job *j = s->next_piece;

	if (j == NULL)
		return CONN_DONE;
	s->next_piece = NULL;
	if (job_submit(s, j) == -1) {
		log_warnx("event=imap-out-of-memory sid=%llu", (unsigned long long)s->id);
		s->next_piece = j;
		return CONN_CLOSE;
	}
	return CONN_DONE;
}

void
imap_job_abandon(struct imap_session *s)
{
	struct imap_job *j = s->next_piece;

	/* A piece waiting for the client when the session goes: the box is
	 * the job's; both go. (A job on the pool frees its own.) */
	if (j) {
		s->next_piece = NULL;
		imap_box_free(j->box);
		imap_job_free(j);
		s->box = NULL;
	}
}
