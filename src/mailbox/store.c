/*
 * store: the mailbox store, read side (see store.h, docs/mailbox.md).
 *
 * A sync first asks the folder's tern-index whether anything changed
 * (store_index.c: a few stats). If something did, the full sync: take
 * dovecot-uidlist.lock (a dotlock linked into place already holding
 * "<pid>:<host>"; one whose holder has died, or older than two minutes,
 * is a crashed writer's and is broken), read dovecot-uidlist, list new/
 * and cur/, match files to UIDs by their base name, give the rest new
 * UIDs, move new/ to cur/, and, if anything changed, write the new list
 * to tern-uidlist.tmp, fsync it, rename it over dovecot-uidlist and fsync
 * the folder: a UID a client has seen is never given to another message.
 * Then what changed against the index (a flag, a new message, one gone)
 * gets its MODSEQ, the index is written, and the lock goes.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/maildir_name.h"
#include "../proto/tern_index.h"
#include "../proto/uidlist.h"
#include "store_int.h"

const char *
mbox_strerror(enum mbox_err e)
{
	switch (e) {
	case MBOX_OK:     return "ok";
	case MBOX_NOENT:  return "no such folder";
	case MBOX_LOCKED: return "mailbox is locked";
	case MBOX_IO:     return "i/o error";
	case MBOX_NOMEM:  return "out of memory";
	case MBOX_EXISTS: return "folder exists";
	case MBOX_BADNAME: return "bad folder name";
	}
	return "?";
}

void
store_msgs_free(struct mbox_msg *msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(msgs[i].name);
		free(msgs[i].pop3_uidl);
	}
	free(msgs);
}

void
mbox_free(struct mbox *mb)
{
	size_t i;

	store_msgs_free(mb->msgs, mb->n);
	for (i = 0; i < 2; i++) {
		if (mb->subfd[i] > 0)
			close(mb->subfd[i] - 1);
	}
	store_keywords_free(mb);
	store_cache_free(mb);
	free(mb->vanished);
	free(mb->gone);
	memset(mb, 0, sizeof(*mb));
}

/* New messages get their UIDs in the order they arrived (the time in
 * their names, as numbers: see maildir_name_arrival_cmp). */
static int
cmp_found_arrival(const void *a, const void *b)
{
	const struct found *x = *(struct found *const *)a, *y = *(struct found *const *)b;

	return maildir_name_arrival_cmp(x->name, x->base_len, y->name, y->base_len);
}

/* ------------------------------------------------------------ helpers -- */

int
store_uidlist_load(const char *dir, struct uidlist *ul, bool *dirty,
    struct tern_index_stat *st_r)
{
	const struct uidlist_limits lim = UIDLIST_LIMITS_DEFAULT;
	char path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	size_t line = 0;
	enum uidlist_err e;
	struct stat sb;
	int fd;

	memset(ul, 0, sizeof(*ul));
	if (st_r)
		memset(st_r, 0, sizeof(*st_r));
	if (store_path(path, sizeof(path), dir, NULL, UIDLIST) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			return -1;
		goto fresh;
	}
	/* What a later sync compares: the file as read here, under the lock. */
	if (st_r && fstat(fd, &sb) == 0)
		store_stat_fill(st_r, &sb, store_now_ns());
	if (fileio_read_all(fd, &b) == -1) {
		close(fd);
		buf_release(&b);
		return -1;
	}
	close(fd);
	e = uidlist_parse(b.data ? b.data : "", b.len, &lim, ul, &line);
	buf_release(&b);
	if (e == UIDLIST_OK) {
		if (ul->torn || ul->dropped_ext || ul->version != 3)
			*dirty = true;
		return 0;
	}
	if (e == UIDLIST_ERR_NOMEM) {
		errno = ENOMEM;
		return -1;
	}
	log_warnx("event=mailbox-uidlist-broken path=\"%s\" line=%zu", path, line);
	*dirty = true;
	if (ul->uidvalidity != 0 && ul->next_uid != 0)
		return 0;   /* the records before the bad line keep their UIDs */
	uidlist_clear(ul);
	memset(ul, 0, sizeof(*ul));
fresh:
	/* A new list: a new UIDVALIDITY, so that no client trusts UIDs it
	 * may have cached from a list that was lost. */
	ul->version = 3;
	ul->uidvalidity = (uint32_t)time(NULL);
	ul->next_uid = 1;
	ul->has_guid = getrandom(ul->guid, sizeof(ul->guid), 0) == (ssize_t)sizeof(ul->guid);
	*dirty = true;
	return 0;
}

/*
 * The message's size with every line end CR LF (Dovecot's "virtual size",
 * IMAP's RFC822.SIZE, POP3's LIST): a bare LF or a bare CR counts as two
 * octets, as readers send it. Read once per message; kept after in the
 * record's W field, where Dovecot keeps it too.
 */
void
store_vsize_feed(struct store_vsize *v, const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (p[k] == '\n') {
			v->n += 2;          /* CR LF, or a bare LF made one */
			v->cr = false;
			continue;
		}
		if (v->cr)
			v->n += 2;          /* a bare CR made CR LF */
		v->cr = p[k] == '\r';
		if (!v->cr)
			v->n++;
	}
}

uint64_t
store_vsize_end(const struct store_vsize *v)
{
	return v->n + (v->cr ? 2 : 0);
}

/* Reads f (in the directory dfd) for its virtual size; its mtime, the
 * internal date, comes with it. */
static int
file_vsize(int dfd, struct found *f, uint64_t *vsize_r)
{
	char in[16384];
	struct store_vsize v = { 0 };
	struct stat st;
	ssize_t got;
	int fd;

	if ((fd = openat(dfd, f->name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (!f->has_date && fstat(fd, &st) == 0) {
		f->date = (int64_t)st.st_mtime;
		f->has_date = true;
	}
	while ((got = read(fd, in, sizeof(in))) > 0)
		store_vsize_feed(&v, in, (size_t)got);
	close(fd);
	if (got < 0)
		return -1;
	*vsize_r = store_vsize_end(&v);
	return 0;
}

/* The record's W field (Dovecot's cached virtual size), if any. */
static bool
rec_vsize(const struct uidlist_rec *r, uint64_t *vsize_r)
{
	const char *v;
	size_t len, i;
	uint64_t n = 0;

	if (r == NULL || !uidlist_rec_ext(r, 'W', &v, &len) || len == 0 || len > 19)
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*vsize_r = n;
	return true;
}

/*
 * f's virtual size: from its name, else the record's W field (ext), else
 * what the index knew (known), else read from the file (not on a read-only sync) and added to the fields as
 * W<vsize>, where Dovecot keeps it too (not when the name carries it, as
 * Dovecot does); *dirty then. *ext is the record's fields (owned; NULL:
 * none). -1 when out of memory.
 */
static int
vsize_fill(const int *dfd, struct found *f, char **ext, uint64_t known, bool read_only,
    bool *dirty)
{
	struct uidlist_rec r = { .ext = *ext };
	struct buf b = BUF_INIT;
	uint64_t v;

	if (f->vsize != MBOX_VSIZE_UNKNOWN)
		return 0;
	if (rec_vsize(&r, &v)) {
		f->vsize = v;
		return 0;
	}
	/* What the index learned: read before, kept there, though not in
	 * the uidlist (a read-only sync's, or a list rewritten by Dovecot). */
	if (known != MBOX_VSIZE_UNKNOWN) {
		f->vsize = known;
		return 0;
	}
	if (read_only || file_vsize(dfd[f->in_new ? 0 : 1], f, &v) == -1)
		return 0;
	f->vsize = v;
	if (buf_printf(&b, "%s%sW%llu", *ext ? *ext : "", *ext ? " " : "",
	    (unsigned long long)v) == -1) {
		buf_release(&b);
		return -1;
	}
	free(*ext);
	*ext = b.data;   /* the buf's memory is the string now */
	*dirty = true;
	return 0;
}

/* new/<name> -> cur/<name>:2, (flags kept if it had any). */
static void
move_to_cur(const char *dir, struct found *f, size_t *moved)
{
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX], *nn;
	size_t len = strlen(f->name);
	bool has_info = len > f->base_len;

	if (store_path(from, sizeof(from), dir, "new", f->name) == -1 ||
	    str_fmt(to, sizeof(to), "%s/cur/%s%s", dir, f->name, has_info ? "" : ":2,") == -1)
		return;
	if (rename(from, to) == -1)
		return;   /* another reader moved it: found by base at open */
	if (!has_info) {
		if ((nn = malloc(len + 4)) == NULL)
			return;
		memcpy(nn, f->name, len);
		memcpy(nn + len, ":2,", 4);
		free(f->name);
		f->name = nn;
	}
	f->in_new = false;
	(*moved)++;
}

/* ---------------------------------------------------------- full sync -- */

struct sync {
	struct mbox *mb;
	const char *dir;
	bool read_only;
	struct listing l;
	struct uidlist ul;
	bool dirty;                 /* dovecot-uidlist must be written */
	/* The last state: tern-index as read, or as mb holds it. */
	struct tern_index base;
	bool have_base;
	bool base_file;             /* it is the file x, unchanged since read */
	bool reset;                 /* its MODSEQs are not to be trusted: all at a new floor */
	bool *bmatched;             /* base.msgs[k] is still there */
	size_t bi;                  /* the next base message by uid */
	/* What the sync makes: */
	struct mbox_msg *out;
	size_t nout;
	uint64_t hms;               /* MODSEQs handed out up to here */
	uint64_t floor;
	bool changed;               /* the index does not say this yet */
	bool unnumbered[2];         /* read-only: files without a UID in new/ cur/ */
	struct tern_index_stat st[TERN_INDEX_NSTAT];
	size_t moved;
	int dfd[2];                 /* new/ and cur/ (O_PATH), -1 if not open */
};

/* A message's internal date: its mtime (Dovecot's received date). */
static int64_t
found_date(struct sync *s, const struct found *f)
{
	struct stat st;

	if (f->has_date)
		return f->date;
	if (fstatat(s->dfd[f->in_new ? 0 : 1], f->name, &st, 0) == 0)
		return (int64_t)st.st_mtime;
	return (int64_t)time(NULL);   /* gone meanwhile: the next sync drops it */
}

/* The base message of uid: records and new UIDs come in ascending order,
 * and so does the base, so a cursor finds it. */
static const struct tern_index_msg *
base_find(struct sync *s, uint32_t uid, size_t *k_r)
{
	if (!s->have_base)
		return NULL;
	while (s->bi < s->base.nmsgs && s->base.msgs[s->bi].uid < uid)
		s->bi++;
	if (s->bi < s->base.nmsgs && s->base.msgs[s->bi].uid == uid) {
		*k_r = s->bi;
		return &s->base.msgs[s->bi];
	}
	return NULL;
}

/* f, with uid (record r, or a new one: NULL), becomes the next message
 * out; its name moves there. */
static int
emit(struct sync *s, uint32_t uid, struct found *f, struct uidlist_rec *r)
{
	const struct tern_index_msg *b = NULL;
	struct mbox_msg *m = &s->out[s->nout];
	const char *uidl;
	size_t uidl_len, k = 0;
	char *ext = NULL;

	memset(m, 0, sizeof(*m));
	if (!s->read_only && f->in_new) {
		move_to_cur(s->dir, f, &s->moved);
		m->recent = !f->in_new;
	}
	if ((b = base_find(s, uid, &k)) != NULL &&
	    (b->base_len != f->base_len || memcmp(b->name, f->name, f->base_len) != 0))
		b = NULL;   /* another file under that UID (a list rebuilt): new to the index */
	if (r) {
		if (vsize_fill(s->dfd, f, &r->ext, b ? b->vsize : MBOX_VSIZE_UNKNOWN, s->read_only,
		    &s->dirty) == -1)
			return -1;
	} else {
		int rc = vsize_fill(s->dfd, f, &ext, MBOX_VSIZE_UNKNOWN, s->read_only, &s->dirty);

		if (rc == 0)
			rc = uidlist_append(&s->ul, uid, ext, f->name, f->base_len);
		free(ext);
		if (rc == -1)
			return -1;
	}
	/* Dovecot keeps a migrated POP3 UIDL in the record's P field and
	 * serves it instead of its own form; so does tern. */
	if (r && uidlist_rec_ext(r, 'P', &uidl, &uidl_len) && tern_index_uidl_ok(uidl, uidl_len) &&
	    (m->pop3_uidl = str_dupn(uidl, uidl_len)) == NULL)
		return -1;
	m->uid = uid;
	m->internal_date = b ? b->date : found_date(s, f);
	m->name = f->name;
	f->name = NULL;
	m->base_len = f->base_len;
	m->in_new = f->in_new;
	m->size = f->size;
	m->vsize = f->vsize;
	m->flags = f->flags;
	m->keywords = f->keywords;
	if (b == NULL) {
		/* New to the index: a new MODSEQ (all at the floor when the
		 * index is rebuilt). */
		m->modseq = s->have_base && !s->reset ? ++s->hms : s->floor;
		s->changed = true;
	} else {
		s->bmatched[k] = true;
		m->modseq = s->reset ? s->floor : b->modseq;
		if (!s->reset && (b->flags != m->flags || b->keywords != m->keywords))
			m->modseq = ++s->hms;   /* flags changed by anyone */
		if (m->modseq != b->modseq || b->in_new != m->in_new || b->vsize != m->vsize ||
		    b->name_len != strlen(m->name) || memcmp(b->name, m->name, b->name_len) != 0 ||
		    (b->uidl == NULL) != (m->pop3_uidl == NULL))
			s->changed = true;
	}
	s->nout++;
	return 0;
}

/* Each record's file in the listing (index + 1; 0: none). A record the
 * listing has no file for is looked for once more: a rename during
 * readdir (another reader's flag change) can hide a file from one pass,
 * and taking it for expunged would announce it vanished and give it a
 * new UID next time. */
static size_t *
find_files(struct sync *s)
{
	struct listing again = { 0 };
	size_t i, missing = 0, *rf;

	if ((rf = calloc(s->ul.nrecs + 1, sizeof(*rf))) == NULL)
		return NULL;
	for (i = 0; i < s->ul.nrecs; i++) {
		const struct uidlist_rec *r = &s->ul.recs[i];
		struct found *f = store_listing_find(&s->l, r->name, strcspn(r->name, ":"));

		if (f != NULL)
			rf[i] = (size_t)(f - s->l.f) + 1;
		else
			missing++;
	}
	if (missing == 0)
		return rf;
	if (store_listing_read(&again, s->dir, "new") == -1 ||
	    store_listing_read(&again, s->dir, "cur") == -1 || store_listing_index(&again) == -1)
		goto fail;
	for (i = 0; i < s->ul.nrecs; i++) {
		const struct uidlist_rec *r = &s->ul.recs[i];
		struct found *f;

		if (rf[i] != 0 ||
		    (f = store_listing_find(&again, r->name, strcspn(r->name, ":"))) == NULL)
			continue;
		f->matched = true;
		if ((f = store_listing_take(&s->l, f)) == NULL)
			goto fail;
		rf[i] = (size_t)(f - s->l.f) + 1;
	}
	store_listing_free(&again);
	return rf;
fail:
	store_listing_free(&again);
	free(rf);
	return NULL;
}

/* The messages: known ones keep their UIDs (and Dovecot's fields on
 * them), a record whose file has gone is dropped, the rest are new. */
static int
match(struct sync *s)
{
	struct found **fresh = NULL;
	size_t i, k = 0, nfresh = 0, *rf;
	int rc = -1;

	if ((rf = find_files(s)) == NULL)
		return -1;
	if ((s->out = calloc(s->ul.nrecs + s->l.n + 1, sizeof(*s->out))) == NULL ||
	    (fresh = calloc(s->l.n + 1, sizeof(*fresh))) == NULL)
		goto out;
	for (i = 0; i < s->ul.nrecs; i++) {
		struct uidlist_rec *r = &s->ul.recs[i];
		struct found *f = rf[i] ? &s->l.f[rf[i] - 1] : NULL;

		/* Two records of one base (Dovecot keeps the later with a
		 * warning): the second one takes another file of it, if any. */
		if (f != NULL && f->matched)
			f = store_listing_find(&s->l, r->name, strcspn(r->name, ":"));
		if (f == NULL) {
			free(r->ext);
			free(r->name);
			s->dirty = true;
			continue;
		}
		f->matched = true;
		if (emit(s, r->uid, f, r) == -1) {
			s->ul.recs[k++] = *r;   /* still owned by the list */
			while (++i < s->ul.nrecs)
				s->ul.recs[k++] = s->ul.recs[i];
			s->ul.nrecs = k;
			goto out;
		}
		s->ul.recs[k++] = *r;
	}
	s->ul.nrecs = k;
	/* The rest are new: UIDs in the order they arrived. A read-only
	 * look gives none: the next writer does. */
	for (i = 0; i < s->l.n; i++) {
		if (s->l.f[i].matched || s->l.f[i].name == NULL)
			continue;
		if (s->read_only)
			s->unnumbered[s->l.f[i].in_new ? 0 : 1] = true;
		else
			fresh[nfresh++] = &s->l.f[i];
	}
	qsort(fresh, nfresh, sizeof(*fresh), cmp_found_arrival);
	for (i = 0; i < nfresh; i++) {
		uint32_t uid = s->ul.next_uid;

		if (uid == 0 || uid >= UINT32_MAX - 1) {
			log_warnx("event=mailbox-uids-exhausted dir=\"%s\"", s->dir);
			errno = EOVERFLOW;
			goto out;
		}
		fresh[i]->matched = true;
		if (emit(s, uid, fresh[i], NULL) == -1)
			goto out;
		s->dirty = true;
	}
	s->mb->new_uids = nfresh;
	rc = 0;
out:
	free(fresh);
	free(rf);
	return rc;
}

/* Base messages not seen again are expunged: one MODSEQ for them all,
 * in ranges that hold no UID still here. */
static int
record_vanished(struct sync *s, struct mbox_vanished **v, size_t *nv)
{
	struct mbox_vanished *add;
	size_t k, n = 0, o = 0;
	uint64_t ms = 0;
	int rc;

	if (!s->have_base || s->reset)
		return 0;   /* below the floor */
	if ((add = calloc(s->base.nmsgs + 1, sizeof(*add))) == NULL)
		return -1;
	for (k = 0; k < s->base.nmsgs; k++) {
		uint32_t uid = s->base.msgs[k].uid;

		if (s->bmatched[k])
			continue;
		if (ms == 0)
			ms = ++s->hms;
		/* out is by uid: is any message still here between the last
		 * range's end and this one? */
		while (o < s->nout && s->out[o].uid < uid)
			o++;
		if (n > 0 && (o == 0 || s->out[o - 1].uid < add[n - 1].hi)) {
			add[n - 1].hi = uid;
			continue;
		}
		add[n].lo = add[n].hi = uid;
		add[n++].modseq = ms;
	}
	rc = store_vanished_add(v, nv, &s->floor, add, n);
	free(add);
	if (n)
		s->changed = true;
	return rc;
}

/* A range that holds a UID still here (a file back after it was taken
 * for expunged) loses that UID: a client told it vanished would drop
 * what is there. */
static int
carve_present(struct sync *s, struct mbox_vanished **v, size_t *nv)
{
	struct mbox_vanished *out;
	size_t i, n = 0, cap = *nv + 8;

	/* Each range present UID splits it in two at most: sized as it goes. */
	if ((out = calloc(cap, sizeof(*out))) == NULL)
		return -1;
	for (i = 0; i < *nv; i++) {
		struct mbox_vanished r = (*v)[i], piece;
		size_t lo = 0, hi = s->nout;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->out[mid].uid < r.lo)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (;; lo++) {
			bool last = lo >= s->nout || s->out[lo].uid > r.hi || r.lo > r.hi;

			piece = r;
			if (!last) {
				piece.hi = s->out[lo].uid - 1;
				r.lo = s->out[lo].uid + 1;
				s->changed = true;
			}
			if (piece.lo <= piece.hi) {
				if (n == cap) {
					struct mbox_vanished *grown;

					cap *= 2;
					if ((grown = reallocarray(out, cap, sizeof(*out))) == NULL) {
						free(out);
						return -1;
					}
					out = grown;
				}
				out[n++] = piece;
			}
			if (last)
				break;
		}
	}
	free(*v);
	*v = out;
	*nv = n;
	return 0;
}

/* The stats to record: what was seen before the listing; a directory
 * with files a read-only sync left without UIDs is to be listed again. */
static bool
stats_changed(const struct sync *s)
{
	size_t k;

	if (!s->have_base)
		return true;
	for (k = 0; k < TERN_INDEX_NSTAT; k++) {
		const struct tern_index_stat *a = &s->base.st[k], *b = &s->st[k];

		if (a->valid != b->valid || !store_stat_same(a, b) ||
		    store_stat_trusted(a, a) != store_stat_trusted(b, b))
			return true;
	}
	return false;
}

/* Where the sync starts from: mb itself when it holds the index as the
 * file is now, else the file (x, read again if it changed), else none
 * (lost, torn, older than what mb handed out: rebuilt). */
static void
choose_base(struct sync *s, struct store_ix *x)
{
	struct mbox *mb = s->mb;
	const char *why = NULL;

	if (store_ix_holds(mb)) {
		if (store_ix_from_mb(mb, &s->base) == 0)
			s->have_base = true;
		return;
	}
	/* x was read before the lock: read again if a writer came between
	 * (a new index, or a record appended to its log). */
	if (!store_ix_current(s->dir, x) && store_ix_read(s->dir, x) == -1)
		why = "unreadable";
	else if (x->missing)
		why = "missing";
	else if (!x->ok)
		why = x->err == TERN_INDEX_ERR_FOREIGN ? "foreign" :
		    x->err == TERN_INDEX_ERR_VERSION ? "version" :
		    x->err == TERN_INDEX_ERR_TORN ? "torn" : "damaged";
	else {
		/* The arrays move here; x keeps the text they point into. */
		s->base = x->ix;
		s->have_base = s->base_file = true;
		x->ix.msgs = NULL;
		x->ix.vanished = NULL;
		/* Its messages, names, dates and sizes hold; not its MODSEQs
		 * when they may be older than what was handed out: written
		 * before a crash that lost the last writes (a reboot since),
		 * or behind this session (put back from a backup). */
		if (!store_ix_this_boot(&s->base))
			why = "reboot";
		else if (mb->uidvalidity == s->base.uidvalidity &&
		    mb->highestmodseq > s->base.highestmodseq)
			why = "behind";
		else
			return;
		s->reset = true;
	}
	if (x->missing && mb->highestmodseq == 0)
		return;   /* a folder's first sync: nothing to say */
	log_info("event=mailbox-index-rebuilt dir=\"%s\" reason=%s", s->dir, why);
}

/* The floor of a rebuilt index: above every MODSEQ handed out before.
 * They grow by one a change from a floor that was the clock once, so the
 * clock in microseconds is above them unless a folder changed more than
 * once a microsecond on average (or the clock went back: then above
 * what this session saw). */
static uint64_t
rebuild_floor(const struct mbox *mb)
{
	uint64_t f = (uint64_t)(store_now_ns() / 1000);

	return f > mb->highestmodseq ? f : mb->highestmodseq + 1;
}

/* The new state into mb (the old one goes), and the index written. */
static void
commit_state(struct sync *s, bool write_index)
{
	struct mbox *mb = s->mb;
	struct tern_index ix;
	struct tern_index_stat file;
	size_t i;

	store_msgs_free(mb->msgs, mb->n);
	mb->msgs = s->out;
	mb->n = mb->cap = s->nout;
	s->out = NULL;
	s->nout = 0;
	free(mb->gone);
	mb->gone = NULL;
	mb->ngone = 0;
	mb->uidvalidity = s->ul.uidvalidity;
	mb->uidnext = s->ul.next_uid;
	mb->highestmodseq = s->hms;
	mb->vanished_floor = s->floor;
	mb->moved = s->moved;
	memcpy(mb->seen, s->st, sizeof(mb->seen));
	mb->has_new = mb->has_recent = false;
	for (i = 0; i < mb->n; i++) {
		mb->has_new |= mb->msgs[i].in_new;
		mb->has_recent |= mb->msgs[i].recent;
	}
	if (!write_index)
		return;
	mb->ix_same = false;
	if (store_ix_from_mb(mb, &ix) == -1)
		return;
	if (store_ix_write(s->dir, &ix, &file) == 0) {
		mb->ix_file = file;
		mb->ix_gen = ix.gen;
		memset(&mb->log_file, 0, sizeof(mb->log_file));
		mb->ix_same = true;
	}
	tern_index_clear(&ix);
}

static enum mbox_err
full_sync(struct mbox *mb, bool read_only, const struct mbox_conf *conf, struct store_ix *x)
{
	struct sync s = { .mb = mb, .dir = mb->dir, .read_only = read_only, .dfd = { -1, -1 } };
	struct mbox_vanished *v = NULL;
	size_t nv = 0;
	char path[MBOX_PATH_MAX];
	enum mbox_err err = MBOX_OK;
	int64_t t;
	int lockfd;

	if ((lockfd = store_lock_take(s.dir, conf->lock_timeout, &err)) == -1)
		return err;
	if (!read_only)
		store_replay_expunge(s.dir);
	store_keywords_refresh(mb);
	choose_base(&s, x);
	/* Seen before the listing: a change during it makes the next sync
	 * look again. */
	t = store_now_ns();
	if (store_path(path, sizeof(path), s.dir, "new", NULL) == 0) {
		store_stat_path(path, &s.st[TERN_INDEX_NEW], t);
		s.dfd[0] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (store_path(path, sizeof(path), s.dir, "cur", NULL) == 0) {
		store_stat_path(path, &s.st[TERN_INDEX_CUR], t);
		s.dfd[1] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (store_uidlist_load(s.dir, &s.ul, &s.dirty, &s.st[TERN_INDEX_UIDLIST]) == -1)
		goto fail;
	if (s.have_base && s.base.uidvalidity != s.ul.uidvalidity) {
		log_info("event=mailbox-index-rebuilt dir=\"%s\" reason=uidvalidity", s.dir);
		s.have_base = s.base_file = false;   /* new UIDs: nothing of the old index holds */
	}
	if (s.have_base) {
		s.hms = s.base.highestmodseq;
		s.floor = s.base.vanished_floor;
		if (s.base.nmsgs && (s.bmatched = calloc(s.base.nmsgs, sizeof(bool))) == NULL)
			goto fail;
		if (s.reset) {
			/* Every message at a floor above all before, and the
			 * expunges before it forgotten: clients look again. */
			s.hms = s.floor = rebuild_floor(mb);
			s.changed = true;
		} else if (store_ranges_in(s.base.vanished, s.base.nvanished, &v) == -1)
			goto fail;
		else
			nv = s.base.nvanished;
	} else {
		s.hms = s.floor = rebuild_floor(mb);
		s.changed = true;
	}
	if (store_listing_read(&s.l, s.dir, "new") == -1 ||
	    store_listing_read(&s.l, s.dir, "cur") == -1 || store_listing_index(&s.l) == -1 ||
	    match(&s) == -1 || record_vanished(&s, &v, &nv) == -1 ||
	    carve_present(&s, &v, &nv) == -1)
		goto fail;
	if (s.dirty && !read_only) {
		if ((err = store_uidlist_write(s.dir, &s.ul)) != MBOX_OK)
			goto out;
		if (store_path(path, sizeof(path), s.dir, NULL, UIDLIST) == 0)
			store_stat_path(path, &s.st[TERN_INDEX_UIDLIST], store_now_ns());
		s.changed = true;
	}
	if (s.unnumbered[0])
		s.st[TERN_INDEX_NEW].valid = false;
	if (s.unnumbered[1])
		s.st[TERN_INDEX_CUR].valid = false;
	if (s.have_base && (s.base.uidnext != s.ul.next_uid || s.base.uidvalidity != s.ul.uidvalidity))
		s.changed = true;
	free(mb->vanished);
	mb->vanished = v;
	mb->nvanished = nv;
	v = NULL;
	if (read_only && !s.st[TERN_INDEX_UIDLIST].valid) {
		/* No dovecot-uidlist yet, and a read-only sync writes none: its
		 * UIDVALIDITY would not hold, nor an index of it. */
		commit_state(&s, false);
		mb->ix_same = false;
	} else if (!s.changed && !stats_changed(&s)) {
		/* The index says all this already. */
		commit_state(&s, false);
		if (s.base_file) {
			mb->ix_file = x->file;
			mb->log_file = x->log_file;
			mb->ix_gen = x->ix.gen;
			mb->ix_same = true;
		}
	} else
		commit_state(&s, true);
	goto out;
fail:
	err = errno == ENOMEM ? MBOX_NOMEM : MBOX_IO;
out:
	store_lock_drop(s.dir, lockfd);
	if (s.dfd[0] != -1)
		close(s.dfd[0]);
	if (s.dfd[1] != -1)
		close(s.dfd[1]);
	store_msgs_free(s.out, s.nout);
	free(v);
	free(s.bmatched);
	store_listing_free(&s.l);
	uidlist_clear(&s.ul);
	tern_index_clear(&s.base);
	return err;
}

enum mbox_err
mbox_sync(struct mbox *mb, const char *dir, bool read_only, const struct mbox_conf *conf)
{
	struct store_ix x = { 0 };
	enum mbox_err err = MBOX_OK;
	size_t i;

	if (strcmp(mb->dir, dir) != 0) {
		mbox_free(mb);
		if (str_copy(mb->dir, sizeof(mb->dir), dir) == -1)
			return MBOX_IO;
	}
	mb->lock_timeout = conf->lock_timeout;
	mb->fast = false;
	mb->new_uids = mb->moved = 0;
	for (i = 0; i < mb->n && mb->has_recent; i++)
		mb->msgs[i].recent = false;
	mb->has_recent = false;
	if (store_fast_sync(mb, read_only, &x)) {
		mb->fast = true;
		store_keywords_refresh(mb);
	} else
		err = full_sync(mb, read_only, conf, &x);
	store_ix_free(&x);
	return err;
}
