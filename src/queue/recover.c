/*
 * recover: the queue at startup, as a crash may have left it
 * (docs/queue.md, "States and what a crash leaves").
 *
 * tmp/ holds only files no client got a 250 for: they go. Every msg/<id>
 * is checked (a valid name, its trailer, an envelope of the right length
 * and id) and loaded with what its state file says; a file that fails is
 * moved to corrupt/ for a human, never delivered half-read. State files
 * and hold markers whose message is gone are leftovers of a removal and
 * go too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../maillog/maillog.h"
#include "queue_int.h"
#include "queue_state.h"

static void
move_corrupt(struct queue *q, const char *name, const char *why)
{
	char from[QPATH_MAX], to[QPATH_MAX];

	queue_path(from, q->msgdir, name);
	queue_path(to, q->corruptdir, name);
	maillog_corrupt(from, why);
	if (rename(from, to) == -1)
		log_warn("queue: rename %s", from);
	/* Its state file, if any, goes with it, for the same human. */
	queue_path(from, q->statedir, name);
	if (str_fmt(to, QPATH_MAX, "%s/%s.state", q->corruptdir, name) == 0 &&
	    rename(from, to) == -1 && errno != ENOENT)
		log_warn("queue: rename %s", from);
}

/* Applies state/<name>, if there is one, to m. -1: a later version. */
static int
load_state(struct queue *q, const char *name, struct qmsg *m)
{
	char path[QPATH_MAX];
	struct buf data = BUF_INIT;
	struct queue_state st;
	int fd, rc;

	queue_path(path, q->statedir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	m->has_state = true;
	/* A read error ends the file where it struck, as a tear would. */
	(void)fileio_read_all(fd, &data);
	close(fd);
	rc = queue_state_decode(data.data ? data.data : "", data.len, &m->env, &st);
	buf_release(&data);
	m->next_try = st.next_try;
	m->attempts = st.attempts;
	m->warned = st.warned;
	return rc;
}

/* Reads msg/<name>: envelope, trailer, state file. */
static struct qmsg *
load_one(struct queue *q, const char *name, const char **why)
{
	char path[QPATH_MAX], trailer[ENVELOPE_TRAILER_LEN];
	struct qmsg *m = NULL;
	struct buf head = BUF_INIT;
	struct stat st;
	size_t hdrlen, used;
	int64_t blen;
	int fd;

	*why = "unreadable";
	queue_path(path, q->msgdir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1)
		goto out;
	*why = "no valid trailer (incomplete file)";
	if (st.st_size < ENVELOPE_TRAILER_LEN ||
	    pread(fd, trailer, sizeof(trailer), st.st_size - ENVELOPE_TRAILER_LEN) !=
	    ENVELOPE_TRAILER_LEN ||
	    (blen = envelope_trailer_parse(trailer, sizeof(trailer))) < 0)
		goto out;
	/* The envelope is what precedes the message and the trailer. */
	*why = "bad envelope";
	if ((uint64_t)blen + ENVELOPE_TRAILER_LEN > (uint64_t)st.st_size)
		goto out;
	hdrlen = (size_t)((uint64_t)st.st_size - (uint64_t)blen - ENVELOPE_TRAILER_LEN);
	if (hdrlen > (64u << 20) || buf_reserve(&head, hdrlen) == -1 ||
	    pread(fd, head.data, hdrlen, 0) != (ssize_t)hdrlen)
		goto out;
	head.len = hdrlen;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	if (envelope_decode(head.data, head.len, &m->env, &used) == -1 ||
	    used != hdrlen || strcmp(m->env.id, name) != 0) {
		queue_msg_free(m);
		m = NULL;
		goto out;
	}
	m->body_off = hdrlen;
	m->body_len = (uint64_t)blen;
	m->arrival = (double)m->env.arrival;
	m->heap_idx = SIZE_MAX;
	/* Records of a later version are not guessed at. */
	if (load_state(q, name, m) == -1) {
		*why = "state file of a later version";
		queue_msg_free(m);
		m = NULL;
		goto out;
	}
	*why = NULL;
out:
	if (fd != -1)
		close(fd);
	buf_release(&head);
	return m;
}

/* Removes each entry of dir that names no message in msg/. */
static void
remove_orphans(struct queue *q, const char *dir)
{
	char path[QPATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		queue_path(path, q->msgdir, de->d_name);
		if (stat(path, &st) == -1 && errno == ENOENT) {
			queue_path(path, dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

int
queue_recover(struct queue *q)
{
	size_t loaded = 0, removed = 0, corrupt = 0;
	struct dirent *de;
	char path[QPATH_MAX];
	DIR *d;

	/* tmp/: never acknowledged, so never promised. */
	if ((d = opendir(q->tmpdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		queue_path(path, q->tmpdir, de->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if ((d = opendir(q->msgdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		const char *why;
		struct qmsg *m;
		uint64_t v;

		if (de->d_name[0] == '.')
			continue;
		if (!ids_valid_queue_id(de->d_name)) {
			move_corrupt(q, de->d_name, "not a queue file name");
			corrupt++;
			continue;
		}
		if ((m = load_one(q, de->d_name, &why)) == NULL) {
			move_corrupt(q, de->d_name, why);
			corrupt++;
			continue;
		}
		q->nmsgs++;
		loaded++;
		/* New ids must sort above every queued one, even if the clock
		 * stepped back since they were made. */
		v = strtoull(m->env.id, NULL, 16);
		if (v > q->ids.last)
			q->ids.last = v;
		m->on_hold = admin_hold_marked(q, m->env.id);
		scheduler_add(q, m, m->next_try);
	}
	closedir(d);
	/* state/ files and hold/ markers whose message is gone are leftovers
	 * of a removal (a crash between its unlinks, or a hold asked for
	 * while the message was being removed). */
	remove_orphans(q, q->statedir);
	remove_orphans(q, q->holddir);
	maillog_recovered(loaded, removed, corrupt);
	scheduler_pump(q);
	return 0;
}
