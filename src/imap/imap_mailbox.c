/*
 * imap_mailbox: the selected folder on the pool (see imap_session.h):
 * SELECT and EXAMINE, CLOSE and UNSELECT, EXPUNGE, NOOP/CHECK, and the
 * untagged updates.
 *
 * The client's view of the folder (box->view, sequence number n is
 * view[n - 1]) changes only through what it is told. After each command
 * the folder is synced (mailbox/store: other sessions, Dovecot and
 * deliveries may have changed it) and the differences go out: new
 * messages as EXISTS, changed flags as FETCH, and messages gone as
 * EXPUNGE (VANISHED under QRESYNC) -- except while answering a FETCH,
 * STORE or SEARCH by sequence numbers, when a message gone stays in the
 * view as a ghost (mi == SIZE_MAX) until a command that may renumber.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../proto/imap_mutf7.h"
#include "imap_session.h"

void
imap_box_unselect(struct imap_box *b)
{
	mbox_free(&b->mb);
	memset(&b->mb, 0, sizeof(b->mb));
	free(b->view);
	b->view = NULL;
	b->nview = b->capview = 0;
	free(b->saved);
	b->saved = NULL;
	b->nsaved = 0;
	b->nkw_told = 0;
	b->told_modseq = 0;
	b->selected = false;
	b->read_only = false;
	b->name[0] = '\0';
	b->dir[0] = '\0';
}

void
imap_box_free(struct imap_box *b)
{
	if (b == NULL)
		return;
	imap_box_unselect(b);
	free(b);
}

int
imap_folder_dir(const struct imap_box *b, const char *name, char *out, size_t outsize)
{
	char enc[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX)];
	size_t n = strlen(name), elen;

	if (strcmp(name, "INBOX") == 0)
		return str_copy(out, outsize, b->root);
	/* On disk names are modified UTF-7, as Dovecot keeps them. */
	if (n > IMAP_NAME_MAX || imap_mutf7_encode(name, n, enc, sizeof(enc) - 1, &elen) != IMAP_MUTF7_OK)
		return -1;
	enc[elen] = '\0';
	return mbox_folder_dir(b->root, enc, out, outsize);
}

/* ------------------------------------------------------------ the view -- */

static int
view_reserve(struct imap_box *b, size_t n)
{
	size_t cap;
	struct imap_seen *v;

	if (b->nview + n <= b->capview)
		return 0;
	cap = b->capview ? b->capview : 64;
	while (cap < b->nview + n)
		cap *= 2;
	if ((v = reallocarray(b->view, cap, sizeof(*v))) == NULL)
		return -1;
	b->view = v;
	b->capview = cap;
	return 0;
}

/* Each view entry's place in mb (both ascending by UID). */
void
imap_view_map(struct imap_box *b)
{
	size_t i = 0, k;

	for (k = 0; k < b->nview; k++) {
		while (i < b->mb.n && b->mb.msgs[i].uid < b->view[k].uid)
			i++;
		b->view[k].mi = i < b->mb.n && b->mb.msgs[i].uid == b->view[k].uid ? i : SIZE_MAX;
	}
}

static size_t
keyword_count(const struct imap_box *b)
{
	size_t i, n = 0;

	for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
		if (b->mb.keywords[i])
			n = i + 1;
	}
	return n;
}

static void
put_flag_list(struct buf *out, const struct imap_box *b, bool permanent)
{
	size_t i;

	buf_append_str(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
		if (b->mb.keywords[i])
			buf_printf(out, " %s", b->mb.keywords[i]);
	}
	if (permanent)
		buf_append_str(out, " \\*");
}

static void
put_flags_responses(struct buf *out, const struct imap_box *b)
{
	buf_append_str(out, "* FLAGS (");
	put_flag_list(out, b, false);
	buf_append_str(out, ")\r\n");
	if (b->read_only)
		buf_append_str(out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else {
		buf_append_str(out, "* OK [PERMANENTFLAGS (");
		put_flag_list(out, b, true);
		buf_append_str(out, ")] Flags permitted\r\n");
	}
}

void
imap_put_fetch_flags(struct imap_job *j, size_t k)
{
	struct imap_box *b = j->box;
	struct imap_seen *v = &b->view[k];

	buf_printf(&j->out, "* %zu FETCH (", k + 1);
	if (b->qresync)
		buf_printf(&j->out, "UID %u ", (unsigned)v->uid);
	buf_append_str(&j->out, "FLAGS ");
	imap_put_flags(&j->out, b, v->flags, v->keywords, v->recent);
	if (b->condstore)
		buf_printf(&j->out, " MODSEQ (%llu)", (unsigned long long)v->modseq);
	buf_append_str(&j->out, ")\r\n");
}

void
imap_view_remove(struct imap_job *j, const size_t *vi, size_t n)
{
	struct imap_box *b = j->box;
	size_t k, w, r;

	if (n == 0)
		return;
	if (b->qresync) {
		uint32_t *uids = malloc(n * sizeof(*uids));

		if (uids) {
			for (k = 0; k < n; k++)
				uids[k] = b->view[vi[k]].uid;
			buf_append_str(&j->out, "* VANISHED ");
			imap_put_uidset(&j->out, uids, n);
			buf_append_str(&j->out, "\r\n");
			free(uids);
		}
	} else {
		/* Highest first: each number still means what the client
		 * thinks when it reads it. */
		for (k = n; k-- > 0;)
			buf_printf(&j->out, "* %zu EXPUNGE\r\n", vi[k] + 1);
	}
	for (w = r = k = 0; r < b->nview; r++) {
		if (k < n && vi[k] == r) {
			k++;
			continue;
		}
		b->view[w++] = b->view[r];
	}
	b->nview = w;
}

void
imap_sync_view(struct imap_job *j, enum imap_updates updates)
{
	struct imap_box *b = j->box;
	enum mbox_err e;
	size_t k, i, nkw, added = 0, recent = 0, ngone = 0, *gone = NULL;
	uint32_t last;

	if (!b->selected || updates == U_NONE)
		return;
	/* EXAMINE too syncs as a writer: the store's read-only sync gives
	 * new messages no UIDs, and the client must see them. What makes
	 * EXAMINE read-only is that this session changes no flags. */
	e = mbox_sync(&b->mb, b->dir, false, &b->env->store);
	if (e != MBOX_OK) {
		/* Told at the next command; a folder deleted under us has
		 * nothing more to say. */
		if (e != MBOX_NOENT)
			log_warnx("event=imap-sync-failed user=%s folder=\"%s\" reason=\"%s\"",
			    b->user, b->name, mbox_strerror(e));
		return;
	}
	imap_view_map(b);
	if ((nkw = keyword_count(b)) > b->nkw_told) {
		put_flags_responses(&j->out, b);
		b->nkw_told = nkw;
	}
	for (k = 0; k < b->nview; k++) {
		struct imap_seen *v = &b->view[k];
		const struct mbox_msg *m;

		if (v->mi == SIZE_MAX) {
			ngone++;
			continue;
		}
		m = &b->mb.msgs[v->mi];
		if (m->flags != v->flags || m->keywords != v->keywords ||
		    (b->condstore && m->modseq != v->modseq)) {
			v->flags = m->flags;
			v->keywords = m->keywords;
			v->modseq = m->modseq;
			imap_put_fetch_flags(j, k);
		}
	}
	if (ngone && updates == U_ALL && (gone = malloc(ngone * sizeof(*gone))) != NULL) {
		for (i = k = 0; k < b->nview; k++) {
			if (b->view[k].mi == SIZE_MAX)
				gone[i++] = k;
		}
		imap_view_remove(j, gone, ngone);
		free(gone);
	}
	last = b->nview ? b->view[b->nview - 1].uid : 0;
	for (i = 0; i < b->mb.n; i++) {
		const struct mbox_msg *m = &b->mb.msgs[i];

		if (m->uid <= last)
			continue;
		if (view_reserve(b, 1) == -1)
			break;
		b->view[b->nview++] = (struct imap_seen){ .uid = m->uid, .flags = m->flags,
		    .keywords = m->keywords, .modseq = m->modseq, .recent = m->recent, .mi = i };
		added++;
	}
	if (added) {
		buf_printf(&j->out, "* %zu EXISTS\r\n", b->nview);
		if (!b->rev2) {
			for (k = 0; k < b->nview; k++)
				recent += b->view[k].recent;
			buf_printf(&j->out, "* %zu RECENT\r\n", recent);
		}
	}
}

/* ----------------------------------------------------- sequence sets -- */

/* The first view index whose UID is at least uid. */
static size_t
view_lower_bound(const struct imap_box *b, uint32_t uid)
{
	size_t lo = 0, hi = b->nview;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->view[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int
imap_seqset_resolve(const struct imap_box *b, const struct imap_seqset *set, bool uid,
    size_t **idx_r, size_t *n_r)
{
	size_t *idx = NULL, n = 0, cap = 0, r, k;
	uint32_t max = uid ? (b->nview ? b->view[b->nview - 1].uid : 0) : (uint32_t)b->nview;
	bool sorted = true;

	*idx_r = NULL;
	*n_r = 0;
	if (set->saved) {
		/* "$": the saved UIDs that are still in the view. */
		if (b->nsaved && (idx = malloc(b->nsaved * sizeof(*idx))) == NULL)
			return -1;
		for (k = 0; k < b->nsaved; k++) {
			size_t p = view_lower_bound(b, b->saved[k]);

			if (p < b->nview && b->view[p].uid == b->saved[k])
				idx[n++] = p;
		}
		*idx_r = idx;
		*n_r = n;
		return 0;
	}
	for (r = 0; r < set->n; r++) {
		uint32_t lo = set->r[r].lo == IMAP_SEQ_STAR ? max : set->r[r].lo;
		uint32_t hi = set->r[r].hi == IMAP_SEQ_STAR ? max : set->r[r].hi;
		size_t from, to;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (!uid) {
			/* RFC 9051 §6.4.8 leaves UID ranges past the end empty,
			 * but a message number that does not exist is an error. */
			if (hi > max || lo == 0)
				goto bad;
			from = lo - 1;
			to = hi;
		} else {
			from = view_lower_bound(b, lo);
			to = hi == UINT32_MAX ? b->nview : view_lower_bound(b, hi + 1);
		}
		if (to <= from)
			continue;
		if (n + (to - from) > cap) {
			size_t ncap = cap ? cap : 64, *ni;

			while (ncap < n + (to - from))
				ncap *= 2;
			if ((ni = reallocarray(idx, ncap, sizeof(*ni))) == NULL) {
				free(idx);
				return -1;
			}
			idx = ni;
			cap = ncap;
		}
		if (n && from <= idx[n - 1])
			sorted = false;
		for (k = from; k < to; k++)
			idx[n++] = k;
	}
	if (!sorted && n) {
		size_t w = 1;

		qsort(idx, n, sizeof(*idx), cmp_size);
		for (k = 1; k < n; k++) {
			if (idx[k] != idx[w - 1])
				idx[w++] = idx[k];
		}
		n = w;
	}
	*idx_r = idx;
	*n_r = n;
	return 0;
bad:
	free(idx);
	return -2;
}

/* -------------------------------------------------------------- SELECT -- */

struct uidvec {
	uint32_t *u;
	size_t n, cap;
};

static int
uidvec_push(struct uidvec *v, uint32_t uid)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		uint32_t *nu = reallocarray(v->u, cap, sizeof(*nu));

		if (nu == NULL)
			return -1;
		v->u = nu;
		v->cap = cap;
	}
	v->u[v->n++] = uid;
	return 0;
}

static bool
in_set(const struct imap_seqset *set, uint32_t u, uint32_t top)
{
	size_t k;

	if (set == NULL || set->n == 0)
		return true;
	for (k = 0; k < set->n; k++) {
		uint32_t lo = set->r[k].lo == IMAP_SEQ_STAR ? top : set->r[k].lo;

		if (u >= lo && u <= set->r[k].hi)
			return true;
	}
	return false;
}

void
imap_put_vanished(struct imap_job *j, uint64_t since, const struct imap_seqset *within)
{
	struct imap_box *b = j->box;
	uint32_t top = b->mb.uidnext ? b->mb.uidnext - 1 : 0, u;
	struct uidvec v = { 0 };
	size_t i = 0, r;

	if (since < b->mb.vanished_floor) {
		/* Older expunges than the index keeps: every UID below
		 * UIDNEXT that is not here (RFC 7162 §3.2.5.2 allows it). */
		for (u = 1; u <= top && v.n < 1000000; u++) {
			while (i < b->mb.n && b->mb.msgs[i].uid < u)
				i++;
			if ((i < b->mb.n && b->mb.msgs[i].uid == u) || !in_set(within, u, top))
				continue;
			if (uidvec_push(&v, u) == -1)
				break;
		}
	} else {
		for (r = 0; r < b->mb.nvanished; r++) {
			const struct mbox_vanished *x = &b->mb.vanished[r];

			if (x->modseq <= since)
				continue;
			for (u = x->lo; u != 0 && u <= x->hi; u++) {
				if (in_set(within, u, top) && uidvec_push(&v, u) == -1)
					goto out;
				if (u == UINT32_MAX)
					break;
			}
		}
	}
out:
	if (v.n) {
		buf_append_str(&j->out, "* VANISHED (EARLIER) ");
		imap_put_uidset(&j->out, v.u, v.n);
		buf_append_str(&j->out, "\r\n");
	}
	free(v.u);
}

/* SELECT (QRESYNC ...): what went and what changed since the client's
 * MODSEQ (RFC 7162 §3.2.5). */
static void
put_qresync(struct imap_job *j)
{
	struct imap_box *b = j->box;
	uint64_t since = j->cmd.select.modseq;
	size_t k;

	imap_put_vanished(j, since, &j->cmd.select.known_uids);
	for (k = 0; k < b->nview; k++) {
		if (b->view[k].modseq > since)
			imap_put_fetch_flags(j, k);
	}
}

void
imap_cmd_select(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	bool examine = c->verb == IMAP_CMD_EXAMINE;
	bool was = b->selected;
	char dir[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	struct stat st;
	enum mbox_err e;
	size_t i, unseen = 0, recent = 0;

	if (was) {
		imap_box_unselect(b);
		j->want_unselect = true;
		/* RFC 9051 §6.3.2, RFC 7162 §3.2.11 */
		if (b->qresync || b->rev2)
			buf_append_str(&j->out, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	if (imap_folder_dir(b, c->mailbox.p, dir, sizeof(dir)) == -1 ||
	    str_fmt(path, sizeof(path), "%s/cur", dir) == -1 || stat(path, &st) == -1) {
		imap_job_status(j, "NO", "[NONEXISTENT] Mailbox does not exist");
		return;
	}
	if (c->select.condstore || c->select.qresync)
		b->condstore = true;
	if (c->select.qresync && !b->qresync) {
		imap_job_status(j, "BAD", "QRESYNC is not enabled");
		return;
	}
	if ((e = mbox_sync(&b->mb, dir, false, &b->env->store)) != MBOX_OK) {
		mbox_free(&b->mb);
		memset(&b->mb, 0, sizeof(b->mb));
		imap_job_status(j, "NO", "[%s] Cannot open the mailbox",
		    e == MBOX_LOCKED ? "INUSE" : "UNAVAILABLE");
		return;
	}
	if (view_reserve(b, b->mb.n) == -1) {
		imap_box_unselect(b);
		imap_job_status(j, "NO", "[LIMIT] Out of memory");
		return;
	}
	for (i = 0; i < b->mb.n; i++) {
		const struct mbox_msg *m = &b->mb.msgs[i];

		b->view[i] = (struct imap_seen){ .uid = m->uid, .flags = m->flags,
		    .keywords = m->keywords, .modseq = m->modseq, .recent = m->recent, .mi = i };
		recent += m->recent;
		if (!unseen && !(m->flags & MAILDIR_FLAG_SEEN))
			unseen = i + 1;
	}
	b->nview = b->mb.n;
	b->selected = true;
	b->read_only = examine;
	str_copy(b->name, sizeof(b->name), c->mailbox.p);
	str_copy(b->dir, sizeof(b->dir), dir);
	b->nkw_told = keyword_count(b);
	b->told_modseq = b->mb.highestmodseq;
	j->want_select = true;
	j->want_unselect = false;

	put_flags_responses(&j->out, b);
	buf_printf(&j->out, "* %zu EXISTS\r\n", b->nview);
	if (!b->rev2) {
		buf_printf(&j->out, "* %zu RECENT\r\n", recent);
		if (unseen)
			buf_printf(&j->out, "* OK [UNSEEN %zu] First unseen\r\n", unseen);
	}
	buf_printf(&j->out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", (unsigned)b->mb.uidvalidity);
	buf_printf(&j->out, "* OK [UIDNEXT %u] Predicted next UID\r\n", (unsigned)b->mb.uidnext);
	if (b->condstore)
		buf_printf(&j->out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		    (unsigned long long)b->mb.highestmodseq);
	if (b->rev2) {
		/* RFC 9051 §6.3.2: the mailbox's LIST data. */
		buf_append_str(&j->out, "* LIST () \".\" ");
		imap_put_mailbox(&j->out, b->name, b->utf8);
		buf_append_str(&j->out, "\r\n");
	}
	if (c->select.qresync && c->select.uidvalidity == b->mb.uidvalidity)
		put_qresync(j);
	imap_job_status(j, "OK", "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
	    examine ? "EXAMINE" : "SELECT");
}

/* ------------------------------------------- CLOSE, EXPUNGE, NOOP ---- */

/* The view's messages marked \Deleted (within uids, when given), as
 * indexes into mb. */
static size_t
deleted_msgs(struct imap_box *b, const struct imap_seqset *uids, size_t **del_r)
{
	size_t *del, n = 0, k, r;

	*del_r = NULL;
	if (b->mb.n == 0 || (del = malloc(b->mb.n * sizeof(*del))) == NULL)
		return 0;
	for (k = 0; k < b->nview; k++) {
		size_t mi = b->view[k].mi;
		bool in = uids == NULL;

		if (mi == SIZE_MAX || !(b->mb.msgs[mi].flags & MAILDIR_FLAG_TRASHED))
			continue;
		for (r = 0; uids && r < uids->n && !in; r++) {
			uint32_t hi = uids->r[r].hi;
			uint32_t lo = uids->r[r].lo == IMAP_SEQ_STAR ? hi : uids->r[r].lo;

			in = b->view[k].uid >= lo && b->view[k].uid <= hi;
		}
		if (in)
			del[n++] = mi;
	}
	*del_r = del;
	return n;
}

static enum mbox_err
expunge(struct imap_job *j, const struct imap_seqset *uids)
{
	struct imap_box *b = j->box;
	size_t *del, n = deleted_msgs(b, uids, &del);
	enum mbox_err e = MBOX_OK;

	if (n) {
		e = mbox_expunge(&b->mb, del, n, NULL, 0, 0, &b->env->store);
		imap_view_map(b);
		log_info("event=imap-expunge user=%s folder=\"%s\" messages=%zu result=%s",
		    b->user, b->name, n, mbox_strerror(e));
	}
	free(del);
	return e;
}

void
imap_cmd_close(struct imap_job *j)
{
	struct imap_box *b = j->box;

	/* CLOSE removes the \Deleted messages, silently; UNSELECT does not. */
	if (j->cmd.verb == IMAP_CMD_CLOSE && !b->read_only)
		(void)expunge(j, NULL);
	imap_box_unselect(b);
	j->want_unselect = true;
	imap_job_status(j, "OK", "%s completed", j->cmd.verb == IMAP_CMD_CLOSE ? "CLOSE" : "UNSELECT");
}

void
imap_cmd_expunge(struct imap_job *j)
{
	enum mbox_err e;

	if (j->box->read_only) {
		imap_job_status(j, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	e = expunge(j, j->cmd.uid ? &j->cmd.seq : NULL);
	if (e != MBOX_OK)
		imap_job_status(j, "NO", "[%s] Expunge failed", e == MBOX_LOCKED ? "INUSE" : "UNAVAILABLE");
	else
		imap_job_status(j, "OK", "Expunge completed");
}

void
imap_cmd_noop(struct imap_job *j)
{
	imap_job_status(j, "OK", "%s completed", j->cmd.verb == IMAP_CMD_CHECK ? "CHECK" : "NOOP");
}

void
imap_cmd_idle_done(struct imap_job *j)
{
	imap_job_status(j, "OK", "IDLE terminated");
}

void
imap_cmd_open(struct imap_job *j)
{
	struct imap_box *b = j->box;
	size_t cleaned;

	if (maildir_create(b->root) == -1) {
		log_warn("event=imap-open-failed user=%s", b->user);
		imap_job_status(j, "NO", "[UNAVAILABLE] Cannot open the mailbox");
		return;
	}
	(void)mbox_create_defaults(b->root);
	cleaned = mbox_clean_tmp(b->root, time(NULL), MBOX_TMP_MAX_AGE, b->env->store.hostname);
	if (cleaned)
		log_info("event=mailbox-tmp-cleaned user=%s files=%zu", b->user, cleaned);
	imap_job_status(j, "OK", "Logged in");
}
