/*
 * imap_write: the commands that change messages, on the pool: STORE
 * (RFC 9051 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3), COPY and MOVE
 * (RFC 6851, COPYUID RFC 4315) and APPEND (MULTIAPPEND RFC 3502,
 * APPENDUID RFC 4315). Flags live in the Maildir file names (renames by
 * mailbox/store), new messages are written and synced by the store
 * before the OK.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../proto/imap_search.h"
#include "imap_session.h"

/* The view entries of the command's set that are still on disk, as
 * indexes into mb (mis) and into the view (vis). -1: BAD or no memory
 * (the status is set). */
static int
resolve(struct imap_job *j, size_t **vis_r, size_t **mis_r, size_t *n_r)
{
	struct imap_box *b = j->box;
	size_t *vis, *mis, n, k, w = 0;
	int r = imap_seqset_resolve(b, &j->cmd.seq, j->cmd.uid, &vis, &n);

	*vis_r = *mis_r = NULL;
	*n_r = 0;
	if (r == -2) {
		imap_job_status(j, "BAD", "Invalid message sequence number");
		return -1;
	}
	if (r == -1 || (n && (mis = malloc(n * sizeof(*mis))) == NULL)) {
		free(vis);
		imap_job_status(j, "NO", "[LIMIT] Out of memory");
		return -1;
	}
	if (n == 0)
		mis = NULL;
	for (k = 0; k < n; k++) {
		if (b->view[vis[k]].mi == SIZE_MAX) {
			j->ghosts = true;
			continue;
		}
		vis[w] = vis[k];
		mis[w++] = b->view[vis[k]].mi;
	}
	*vis_r = vis;
	*mis_r = mis;
	*n_r = w;
	return 0;
}

/* The keyword bits of a flag list in mb; -1 when a new one does not fit. */
static int
keyword_bits(struct mbox *mb, const struct imap_flags *fl, bool create, uint32_t *bits_r)
{
	size_t i;

	*bits_r = 0;
	for (i = 0; i < fl->nkw; i++) {
		int bit;

		if (fl->kw[i].len && fl->kw[i].p[0] == '\\')
			continue;   /* \Recent and unknown system flags */
		bit = mbox_keyword(mb, fl->kw[i].p, fl->kw[i].len, create);
		if (bit < 0) {
			if (create)
				return -1;
			continue;
		}
		*bits_r |= 1u << bit;
	}
	return 0;
}

void
imap_cmd_store(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	struct mbox_flag_change ch = { 0 };
	size_t *vis, *mis, n, k, nmod = 0;
	bool *modified = NULL, *gone = NULL;
	uint32_t kw, *modset = NULL;
	unsigned sys;
	enum mbox_err e;

	if (b->read_only) {
		imap_job_status(j, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (resolve(j, &vis, &mis, &n) == -1)
		return;
	if (c->store.unchangedsince_set)
		b->condstore = true;
	sys = imap_flags_to_maildir(c->store.flags.sys);
	if (keyword_bits(&b->mb, &c->store.flags, c->store.op != IMAP_STORE_REMOVE, &kw) == -1) {
		imap_job_status(j, "NO", "[LIMIT] Too many keywords in this mailbox");
		goto out;
	}
	ch.replace = c->store.op == IMAP_STORE_REPLACE;
	if (c->store.op == IMAP_STORE_REMOVE) {
		ch.clear = sys;
		ch.kw_clear = kw;
	} else {
		ch.add = sys;
		ch.kw_add = kw;
	}
	if (n && ((modified = calloc(n, sizeof(bool))) == NULL ||
	    (gone = calloc(n, sizeof(bool))) == NULL || (modset = calloc(n, sizeof(*modset))) == NULL)) {
		imap_job_status(j, "NO", "[LIMIT] Out of memory");
		goto out;
	}
	e = n ? mbox_store(&b->mb, mis, n, &ch, c->store.unchangedsince_set ?
	    c->store.unchangedsince : 0, modified, gone) : MBOX_OK;
	if (e != MBOX_OK) {
		imap_job_status(j, "NO", "[%s] Cannot change the flags",
		    e == MBOX_LOCKED ? "INUSE" : "UNAVAILABLE");
		goto out;
	}
	for (k = 0; k < n; k++) {
		struct imap_seen *v = &b->view[vis[k]];
		const struct mbox_msg *m = &b->mb.msgs[mis[k]];

		if (gone[k]) {
			j->ghosts = true;
			continue;
		}
		if (modified[k]) {
			modset[nmod++] = c->uid ? v->uid : (uint32_t)(vis[k] + 1);
			continue;
		}
		v->flags = m->flags;
		v->keywords = m->keywords;
		v->modseq = m->modseq;
		if (!c->store.silent || (b->condstore && c->store.unchangedsince_set)) {
			buf_printf(&j->out, "* %zu FETCH (", vis[k] + 1);
			if (c->uid || b->qresync)
				buf_printf(&j->out, "UID %u ", (unsigned)v->uid);
			if (!c->store.silent) {
				buf_append_str(&j->out, "FLAGS ");
				imap_put_flags(&j->out, b, v->flags, v->keywords, v->recent);
			}
			if (b->condstore)
				buf_printf(&j->out, "%sMODSEQ (%llu)", c->store.silent ? "" : " ",
				    (unsigned long long)v->modseq);
			buf_append_str(&j->out, ")\r\n");
		}
	}
	if (nmod) {
		j->status = "OK";
		buf_reset(&j->status_text);
		buf_append_str(&j->status_text, "[MODIFIED ");
		imap_put_uidset(&j->status_text, modset, nmod);
		buf_append_str(&j->status_text, "] Conditional STORE failed");
	} else if (j->ghosts)
		imap_job_status(j, "NO", "[EXPUNGEISSUED] Some of the messages no longer exist");
	else
		imap_job_status(j, "OK", "Store completed");
out:
	free(vis);
	free(mis);
	free(modified);
	free(gone);
	free(modset);
}

/* A folder the command names, which must exist: NO [TRYCREATE] if not. */
static int
target_dir(struct imap_job *j, const char *name, char *dir, size_t dirsize)
{
	char path[MBOX_PATH_MAX];
	struct stat st;

	if (imap_folder_dir(j->box, name, dir, dirsize) == -1) {
		imap_job_status(j, "NO", "[CANNOT] Invalid mailbox name");
		return -1;
	}
	if (str_fmt(path, sizeof(path), "%s/cur", dir) == -1 || stat(path, &st) == -1) {
		imap_job_status(j, "NO", "[TRYCREATE] Mailbox does not exist");
		return -1;
	}
	return 0;
}

static bool
over_quota(struct imap_job *j, uint64_t size)
{
	struct imap_box *b = j->box;
	struct quota_usage u;
	enum quota_verdict v;

	if (!quota_limited(&b->quota))
		return false;
	if (quota_check_maildir(b->root, &b->quota, size, &u, &v) == -1)
		return false;
	return v != QUOTA_OK;
}

void
imap_cmd_copy(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	bool move = c->verb == IMAP_CMD_MOVE;
	char dir[MBOX_PATH_MAX];
	size_t *vis, *mis, n, k, done = 0;
	uint32_t *src = NULL, *dst = NULL, uidv = 0;
	uint64_t total = 0;
	enum mbox_err e = MBOX_OK;

	if (move && b->read_only) {
		imap_job_status(j, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (target_dir(j, c->mailbox.p, dir, sizeof(dir)) == -1)
		return;
	if (resolve(j, &vis, &mis, &n) == -1)
		return;
	for (k = 0; k < n; k++)
		total += b->mb.msgs[mis[k]].size;
	if (n && over_quota(j, total)) {
		imap_job_status(j, "NO", "[OVERQUOTA] Quota exceeded");
		goto out;
	}
	if (n && ((src = malloc(n * sizeof(*src))) == NULL || (dst = malloc(n * sizeof(*dst))) == NULL)) {
		imap_job_status(j, "NO", "[LIMIT] Out of memory");
		goto out;
	}
	for (k = 0; k < n; k++) {
		uint32_t uid;

		e = move ? mbox_move(&b->mb, mis[k], dir, &b->env->store, &uidv, &uid) :
		    mbox_copy(&b->mb, mis[k], dir, &b->env->store, &uidv, &uid);
		if (e == MBOX_NOENT) {
			j->ghosts = true;
			continue;
		}
		if (e != MBOX_OK)
			break;
		src[done] = b->view[vis[k]].uid;
		dst[done] = uid;
		mis[done] = mis[k];
		vis[done++] = vis[k];
	}
	if (done && !move) {
		/* (A move changes nothing in the user's usage.) */
		uint64_t copied = 0;

		for (k = 0; k < done; k++)
			copied += b->mb.msgs[mis[k]].size;
		(void)quota_add(b->root, (int64_t)copied, (int64_t)done);
	}
	if (e != MBOX_OK && e != MBOX_NOENT) {
		log_warnx("event=imap-copy-failed user=%s from=\"%s\" to=\"%s\" copied=%zu reason=\"%s\"",
		    b->user, b->name, c->mailbox.p, done, mbox_strerror(e));
		imap_job_status(j, "NO", "[%s] %s failed", e == MBOX_LOCKED ? "INUSE" : "UNAVAILABLE",
		    move ? "MOVE" : "COPY");
		goto out;
	}
	if (done == 0) {
		if (j->ghosts)
			imap_job_status(j, "NO", "[EXPUNGEISSUED] Some of the messages no longer exist");
		else
			imap_job_status(j, "OK", "No messages %s", move ? "moved" : "copied");
		goto out;
	}
	if (!move) {
		j->status = "OK";
		buf_reset(&j->status_text);
		buf_printf(&j->status_text, "[COPYUID %u ", (unsigned)uidv);
		imap_put_uidset(&j->status_text, src, done);
		buf_append_char(&j->status_text, ' ');
		imap_put_uidset(&j->status_text, dst, done);
		buf_append_str(&j->status_text, "] Copy completed");
		goto out;
	}
	/* RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges. */
	buf_printf(&j->out, "* OK [COPYUID %u ", (unsigned)uidv);
	imap_put_uidset(&j->out, src, done);
	buf_append_char(&j->out, ' ');
	imap_put_uidset(&j->out, dst, done);
	buf_append_str(&j->out, "] Moved\r\n");
	/* The moved messages have left the folder: a sync records them
	 * vanished, and the client is told they went. */
	if (mbox_sync(&b->mb, b->dir, false, &b->env->store) == MBOX_OK)
		imap_view_map(b);
	imap_view_remove(j, vis, done);
	imap_view_map(b);
	imap_job_status(j, "OK", "Move completed");
out:
	free(vis);
	free(mis);
	free(src);
	free(dst);
}

/* An APPEND date-time, already checked by proto/imap_cmd: "dd-Mon-yyyy
 * hh:mm:ss +zzzz" (the day may start with a space). */
static int64_t
date_time_value(const struct imap_str *s)
{
	static const char months[] = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC";
	const char *p = s->p;
	int day, mon = 0, year, hh, mm, ss, zh, zm;
	int64_t t;

	day = (p[0] == ' ' ? 0 : p[0] - '0') * 10 + (p[1] - '0');
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(p + 3, months + 3 * i, 3) == 0)
			mon = i + 1;
	}
	year = (p[7] - '0') * 1000 + (p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0');
	hh = (p[12] - '0') * 10 + (p[13] - '0');
	mm = (p[15] - '0') * 10 + (p[16] - '0');
	ss = (p[18] - '0') * 10 + (p[19] - '0');
	zh = (p[22] - '0') * 10 + (p[23] - '0');
	zm = (p[24] - '0') * 10 + (p[25] - '0');
	t = (int64_t)imap_days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 +
	    hh * 3600 + mm * 60 + ss;
	t -= (p[21] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
	return t;
}

void
imap_cmd_append(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	char dir[MBOX_PATH_MAX];
	uint32_t *uids = NULL, uidv = 0;
	uint64_t total = 0;
	size_t i, done = 0;
	enum mbox_err e = MBOX_OK;

	if (target_dir(j, c->mailbox.p, dir, sizeof(dir)) == -1)
		return;
	for (i = 0; i < c->nappend; i++) {
		if (c->append[i].data.len == 0) {
			imap_job_status(j, "NO", "Cannot save an empty message");
			return;
		}
		total += c->append[i].data.len;
	}
	if (over_quota(j, total)) {
		imap_job_status(j, "NO", "[OVERQUOTA] Quota exceeded");
		return;
	}
	if ((uids = calloc(c->nappend ? c->nappend : 1, sizeof(*uids))) == NULL) {
		imap_job_status(j, "NO", "[LIMIT] Out of memory");
		return;
	}
	for (i = 0; i < c->nappend; i++) {
		const struct imap_append_msg *m = &c->append[i];
		int64_t date = m->date.p ? date_time_value(&m->date) : (int64_t)time(NULL);
		int fd = memfd_create("tern-append", MFD_CLOEXEC);
		const char *p = m->data.p;
		size_t left = m->data.len;

		if (fd == -1) {
			e = MBOX_IO;
			break;
		}
		while (left) {
			ssize_t w = write(fd, p, left);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			p += w;
			left -= (size_t)w;
		}
		if (left) {
			close(fd);
			e = MBOX_IO;
			break;
		}
		{
			struct mbox_kw kw[MBOX_KEYWORDS_MAX];
			size_t nkw = 0, k;

			for (k = 0; k < m->flags.nkw && nkw < MBOX_KEYWORDS_MAX; k++)
				kw[nkw++] = (struct mbox_kw){ m->flags.kw[k].p, m->flags.kw[k].len };
			e = mbox_append_kw(dir, fd, m->data.len, imap_flags_to_maildir(m->flags.sys),
			    kw, nkw, (time_t)date, &b->env->store, &uidv, &uids[done]);
		}
		close(fd);
		if (e != MBOX_OK)
			break;
		done++;
	}
	if (e != MBOX_OK) {
		/* RFC 3502: the messages of a MULTIAPPEND that failed halfway
		 * should not be there; those saved stay (they are whole, and
		 * removing them is riskier than a duplicate). */
		log_warnx("event=imap-append-failed user=%s folder=\"%s\" saved=%zu of=%zu reason=\"%s\"",
		    b->user, c->mailbox.p, done, c->nappend, mbox_strerror(e));
		imap_job_status(j, "NO", "[%s] Append failed", e == MBOX_LOCKED ? "INUSE" : "UNAVAILABLE");
		free(uids);
		return;
	}
	/* Counted in maildirsize as a delivery is (Dovecot's quota plugin
	 * counts APPEND the same way). */
	(void)quota_add(b->root, (int64_t)total, (int64_t)done);
	log_info("event=imap-append user=%s folder=\"%s\" messages=%zu octets=%llu",
	    b->user, c->mailbox.p, done, (unsigned long long)total);
	j->status = "OK";
	buf_reset(&j->status_text);
	buf_printf(&j->status_text, "[APPENDUID %u ", (unsigned)uidv);
	imap_put_uidset(&j->status_text, uids, done);
	buf_append_str(&j->status_text, "] Append completed");
	free(uids);
}
