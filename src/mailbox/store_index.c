/*
 * store_index: the folder's tern-index (proto/tern_index.c has the
 * format; docs/mailbox.md the steps and the crash analysis): read into a
 * struct mbox, written from one, and the sync that needs nothing else.
 *
 * The index says how new/, cur/ and dovecot-uidlist looked (inode, size,
 * mtime in ns, and when that was seen) when it was written. A sync that
 * finds all three as the index says, each seen at least a tick
 * (STORE_TICK_NS) after its mtime, takes the index for the folder: no
 * listing, no uidlist. Every change to those three changes what a stat
 * says: a file into or out of new/ or cur/, a rename there (a flag
 * change, new/ -> cur/) changes the directory's mtime; dovecot-uidlist is
 * replaced by a rename (a new inode) or appended to (a new size). Only a
 * change in the same clock tick as the stat keeps the mtime, and that is
 * what the tick rule is for.
 *
 * The index is written under the uidlist lock, after dovecot-uidlist
 * (which is on stable storage before), with a temp file and a rename and
 * no fsync: a torn or lost index is rebuilt, its MODSEQs all set to a
 * floor above anything handed out before (the clock in microseconds).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "store_int.h"

/* ---------------------------------------------------------------- stats -- */

int64_t
store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
store_stat_fill(struct tern_index_stat *st, const struct stat *sb, int64_t now_ns)
{
	st->valid = true;
	st->ino = (uint64_t)sb->st_ino;
	st->size = (uint64_t)sb->st_size;
	st->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
	st->check_ns = now_ns;
}

void
store_stat_path(const char *path, struct tern_index_stat *st, int64_t now_ns)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) == 0)
		store_stat_fill(st, &sb, now_ns);
}

bool
store_stat_same(const struct tern_index_stat *a, const struct tern_index_stat *b)
{
	return a->valid && b->valid && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns;
}

bool
store_stat_trusted(const struct tern_index_stat *rec, const struct tern_index_stat *now)
{
	return store_stat_same(rec, now) && rec->check_ns - STORE_TICK_NS >= rec->mtime_ns;
}

/* ----------------------------------------------------------- boot id -- */

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static char boot_id[TERN_INDEX_BOOT_LEN + 1];

/* /proc/sys/kernel/random/boot_id without its dashes, or "". */
static void
boot_read(void)
{
	char raw[64];
	size_t i, k = 0;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, raw, sizeof(raw) - 1);
	close(fd);
	for (i = 0; n > 0 && i < (size_t)n && k < TERN_INDEX_BOOT_LEN; i++) {
		if ((raw[i] >= '0' && raw[i] <= '9') || (raw[i] >= 'a' && raw[i] <= 'f'))
			boot_id[k++] = raw[i];
		else if (raw[i] != '-')
			break;
	}
	boot_id[k == TERN_INDEX_BOOT_LEN ? k : 0] = '\0';
}

const char *
store_boot_id(void)
{
	pthread_once(&boot_once, boot_read);
	return boot_id;
}

bool
store_ix_this_boot(const struct tern_index *ix)
{
	return strcmp(ix->boot, store_boot_id()) == 0;
}

/* ------------------------------------------------------------- reading -- */

void
store_ix_free(struct store_ix *x)
{
	tern_index_clear(&x->ix);
	buf_release(&x->data);
	buf_release(&x->logdata);
	memset(x, 0, sizeof(*x));
}

/* A whole file into b, with its stat; *missing when there is none. */
static int
read_whole(const char *path, struct buf *b, struct tern_index_stat *st, bool *missing)
{
	struct stat sb;
	int fd;

	*missing = false;
	memset(st, 0, sizeof(*st));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			return -1;
		*missing = true;
		return 0;
	}
	/* The stat of what is read: a rename meanwhile is another file. */
	if (fstat(fd, &sb) == -1 ||
	    (sb.st_size > 0 && buf_reserve(b, (size_t)sb.st_size + 1) == -1) ||
	    fileio_read_all(fd, b) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	store_stat_fill(st, &sb, 0);
	return 0;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct mbox_vanished *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int
store_ranges_in(const struct tern_index_range *r, size_t n, struct mbox_vanished **out_r)
{
	size_t i;

	*out_r = NULL;
	if (n == 0)
		return 0;
	if ((*out_r = calloc(n, sizeof(**out_r))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		(*out_r)[i] = (struct mbox_vanished){ r[i].lo, r[i].hi, r[i].modseq };
	return 0;
}

int
store_ranges_out(const struct mbox_vanished *v, size_t n, struct tern_index_range **out_r)
{
	size_t i;

	if ((*out_r = calloc(n + 1, sizeof(**out_r))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		(*out_r)[i] = (struct tern_index_range){ v[i].lo, v[i].hi, v[i].modseq };
	return 0;
}

struct tern_index_msg *
store_ix_find(struct tern_index *ix, uint32_t uid)
{
	size_t lo = 0, hi = ix->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->nmsgs && ix->msgs[lo].uid == uid ? &ix->msgs[lo] : NULL;
}

/* The log's records onto the index: new names and MODSEQs, then the
 * expunged messages out and their ranges in. -1 no memory. */
static int
apply_log(struct tern_index *ix, const struct tern_index_logrec *rs, size_t n)
{
	struct mbox_vanished *v = NULL, *add = NULL;
	size_t i, k, a, nv = ix->nvanished, nadd = 0;
	struct tern_index_range *r;

	if (store_ranges_in(ix->vanished, nv, &v) == -1 ||
	    (n && (add = calloc(n, sizeof(*add))) == NULL))
		goto nomem;
	for (i = 0; i < n; i++) {
		const struct tern_index_logrec *l = &rs[i];
		struct tern_index_msg *m;

		if (l->modseq > ix->highestmodseq)
			ix->highestmodseq = l->modseq;
		if (l->kind == 'x') {
			add[nadd].lo = l->uid;
			add[nadd].hi = l->hi;
			add[nadd++].modseq = l->modseq;
			continue;
		}
		if ((m = store_ix_find(ix, l->uid)) == NULL)
			continue;   /* expunged since */
		m->name = l->name;
		m->name_len = l->name_len;
		m->base_len = l->base_len;
		m->flags = l->flags;
		m->keywords = l->keywords;
		m->in_new = l->in_new;
		if (l->modseq > m->modseq)
			m->modseq = l->modseq;
	}
	/* Both by uid: one walk takes the expunged ones out. */
	if (nadd > 1)
		qsort(add, nadd, sizeof(*add), cmp_range);
	for (i = k = a = 0; i < ix->nmsgs; i++) {
		uint32_t uid = ix->msgs[i].uid;
		bool gone = false;

		for (; a < nadd && add[a].hi < uid; a++)
			;
		for (size_t b = a; b < nadd && add[b].lo <= uid && !gone; b++)
			gone = uid <= add[b].hi;
		if (!gone)
			ix->msgs[k++] = ix->msgs[i];
	}
	ix->nmsgs = k;
	if ((nadd && store_vanished_add(&v, &nv, &ix->vanished_floor, add, nadd) == -1) ||
	    store_ranges_out(v, nv, &r) == -1)
		goto nomem;
	free(ix->vanished);
	ix->vanished = r;
	ix->nvanished = nv;
	free(v);
	free(add);
	return 0;
nomem:
	free(v);
	free(add);
	return -1;
}

int
store_ix_read(const char *dir, struct store_ix *x)
{
	const struct tern_index_limits lim = TERN_INDEX_LIMITS_DEFAULT;
	char path[MBOX_PATH_MAX];
	struct tern_index_logrec *rs = NULL;
	size_t nrs = 0;
	bool missing;
	enum tern_index_err le;

	store_ix_free(x);
	if (store_path(path, sizeof(path), dir, NULL, INDEX_FILE) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (read_whole(path, &x->data, &x->file, &x->missing) == -1)
		goto fail;
	if (x->missing)
		return 0;
	x->err = tern_index_parse(x->data.data ? x->data.data : "", x->data.len, &lim, &x->ix);
	if (x->err == TERN_INDEX_ERR_NOMEM)
		goto nomem;
	if (x->err != TERN_INDEX_OK) {
		tern_index_clear(&x->ix);
		return 0;
	}
	/* Its log: another index's (a crash between a new index and the
	 * log's unlink) is nothing to this one. */
	if (store_path(path, sizeof(path), dir, NULL, INDEX_LOG) == -1 ||
	    read_whole(path, &x->logdata, &x->log_file, &missing) == -1)
		goto fail;
	if (!missing) {
		le = tern_index_log_parse(x->logdata.data ? x->logdata.data : "", x->logdata.len,
		    x->ix.gen, lim.msgs_max, &rs, &nrs);
		if (le == TERN_INDEX_ERR_NOMEM)
			goto nomem;
		if (le != TERN_INDEX_OK && le != TERN_INDEX_ERR_FOREIGN) {
			/* What was handed out is not all known: rebuilt. */
			x->err = TERN_INDEX_ERR_MSG;
			tern_index_clear(&x->ix);
			return 0;
		}
		if (nrs > 0 && apply_log(&x->ix, rs, nrs) == -1) {
			free(rs);
			goto nomem;
		}
		free(rs);
	}
	x->ok = true;
	return 0;
nomem:
	errno = ENOMEM;
fail:
	store_ix_free(x);
	return -1;
}

bool
store_ix_holds(const struct mbox *mb)
{
	struct tern_index_stat now;
	char path[MBOX_PATH_MAX];

	if (!mb->ix_same || store_path(path, sizeof(path), mb->dir, NULL, INDEX_FILE) == -1)
		return false;
	store_stat_path(path, &now, 0);
	if (!store_stat_same(&now, &mb->ix_file) ||
	    store_path(path, sizeof(path), mb->dir, NULL, INDEX_LOG) == -1)
		return false;
	store_stat_path(path, &now, 0);
	return now.valid ? store_stat_same(&now, &mb->log_file) : !mb->log_file.valid;
}

bool
store_ix_current(const char *dir, const struct store_ix *x)
{
	struct tern_index_stat now;
	char path[MBOX_PATH_MAX];

	if (!x->ok || store_path(path, sizeof(path), dir, NULL, INDEX_FILE) == -1)
		return false;
	store_stat_path(path, &now, 0);
	if (!store_stat_same(&now, &x->file) ||
	    store_path(path, sizeof(path), dir, NULL, INDEX_LOG) == -1)
		return false;
	store_stat_path(path, &now, 0);
	return now.valid ? store_stat_same(&now, &x->log_file) : !x->log_file.valid;
}

int
store_ix_log(const char *dir, uint64_t gen, const struct tern_index_logrec *rs, size_t n,
    struct tern_index_stat *log_r)
{
	char path[MBOX_PATH_MAX], head[64];
	struct buf want = BUF_INIT, b = BUF_INIT;
	struct stat sb;
	size_t i;
	ssize_t got;
	int fd = -1, rc = -1;

	if (store_path(path, sizeof(path), dir, NULL, INDEX_LOG) == -1 ||
	    tern_index_log_header(gen, &want) == -1)
		goto out;
	if ((fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1)
		goto fail;
	/* Another index's log (or none yet): this index's starts here. */
	got = pread(fd, head, want.len, 0);
	if (got != (ssize_t)want.len || memcmp(head, want.data, want.len) != 0) {
		if (ftruncate(fd, 0) == -1 || buf_append(&b, want.data, want.len) == -1)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		if (tern_index_log_encode(&rs[i], &b) == -1)
			goto out;
	}
	/* One write: under the lock nobody else appends, and a kill cuts
	 * it before its last LF at worst, which the reader leaves out. */
	if (fileio_write_all(fd, b.data, b.len) == -1 || fstat(fd, &sb) == -1)
		goto fail;
	store_stat_fill(log_r, &sb, 0);
	rc = 0;
	goto out;
fail:
	log_warn("mailbox: writing %s", path);
out:
	if (rc == -1) {
		/* An index without all of its log says too little of what was
		 * handed out: both go, and the next sync rebuilds above. */
		(void)unlink(path);
		if (store_path(path, sizeof(path), dir, NULL, INDEX_FILE) == 0)
			(void)unlink(path);
	}
	if (fd != -1)
		close(fd);
	buf_release(&want);
	buf_release(&b);
	return rc;
}

int
store_ix_adopt(struct mbox *mb, const struct store_ix *x)
{
	const struct tern_index *ix = &x->ix;
	struct mbox_msg *msgs = NULL;
	struct mbox_vanished *v = NULL;
	size_t i, n = 0;

	if ((ix->nmsgs && (msgs = calloc(ix->nmsgs, sizeof(*msgs))) == NULL) ||
	    store_ranges_in(ix->vanished, ix->nvanished, &v) == -1)
		goto nomem;
	for (n = 0; n < ix->nmsgs; n++) {
		const struct tern_index_msg *im = &ix->msgs[n];
		struct mbox_msg *m = &msgs[n];

		if ((m->name = str_dupn(im->name, im->name_len)) == NULL ||
		    (im->uidl && (m->pop3_uidl = str_dupn(im->uidl, im->uidl_len)) == NULL)) {
			n++;
			goto nomem;
		}
		m->uid = im->uid;
		m->base_len = im->base_len;
		m->in_new = im->in_new;
		m->size = im->size;
		m->vsize = im->vsize;
		m->flags = im->flags;
		m->keywords = im->keywords;
		m->modseq = im->modseq;
		m->internal_date = im->date;
	}
	store_msgs_free(mb->msgs, mb->n);
	free(mb->vanished);
	free(mb->gone);
	mb->gone = NULL;
	mb->ngone = 0;
	mb->msgs = msgs;
	mb->n = mb->cap = ix->nmsgs;
	mb->vanished = v;
	mb->nvanished = ix->nvanished;
	mb->uidvalidity = ix->uidvalidity;
	mb->uidnext = ix->uidnext;
	mb->highestmodseq = ix->highestmodseq;
	mb->vanished_floor = ix->vanished_floor;
	memcpy(mb->seen, ix->st, sizeof(mb->seen));
	mb->ix_file = x->file;
	mb->log_file = x->log_file;
	mb->ix_gen = ix->gen;
	mb->ix_same = true;
	mb->has_recent = false;
	mb->has_new = false;
	for (i = 0; i < mb->n && !mb->has_new; i++)
		mb->has_new = mb->msgs[i].in_new;
	return 0;
nomem:
	store_msgs_free(msgs, n);
	free(v);
	return -1;
}

/* ------------------------------------------------------------- writing -- */

static bool
is_gone(const struct mbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->ngone;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mb->gone[mid] == uid)
			return true;
		if (mb->gone[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int
store_ix_from_mb(const struct mbox *mb, struct tern_index *ix)
{
	size_t i;

	memset(ix, 0, sizeof(*ix));
	if ((mb->n && (ix->msgs = calloc(mb->n, sizeof(*ix->msgs))) == NULL) ||
	    store_ranges_out(mb->vanished, mb->nvanished, &ix->vanished) == -1) {
		tern_index_clear(ix);
		return -1;
	}
	memcpy(ix->boot, store_boot_id(), sizeof(ix->boot));
	ix->gen = mb->ix_gen;
	ix->uidvalidity = mb->uidvalidity;
	ix->uidnext = mb->uidnext;
	ix->highestmodseq = mb->highestmodseq;
	ix->vanished_floor = mb->vanished_floor;
	memcpy(ix->st, mb->seen, sizeof(ix->st));
	for (i = 0; i < mb->n; i++) {
		const struct mbox_msg *m = &mb->msgs[i];
		struct tern_index_msg *im;

		if (mb->ngone && is_gone(mb, m->uid))
			continue;
		im = &ix->msgs[ix->nmsgs++];
		im->uid = m->uid;
		im->in_new = m->in_new;
		im->modseq = m->modseq;
		im->size = m->size;
		im->vsize = m->vsize;
		im->date = m->internal_date;
		im->uidl = m->pop3_uidl;
		im->uidl_len = m->pop3_uidl ? strlen(m->pop3_uidl) : 0;
		im->name = m->name;
		im->name_len = strlen(m->name);
		im->base_len = m->base_len;
		im->flags = m->flags;
		im->keywords = m->keywords;
	}
	ix->nvanished = mb->nvanished;
	return 0;
}

int
store_ix_write(const char *dir, struct tern_index *ix, struct tern_index_stat *file_r)
{
	char tmp[MBOX_PATH_MAX], path[MBOX_PATH_MAX], logpath[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	struct stat sb;
	uint64_t old = ix->gen;
	int fd = -1, rc = -1;

	if (store_path(tmp, sizeof(tmp), dir, NULL, INDEX_TMP) == -1 ||
	    store_path(path, sizeof(path), dir, NULL, INDEX_FILE) == -1 ||
	    store_path(logpath, sizeof(logpath), dir, NULL, INDEX_LOG) == -1)
		return -1;
	/* A generation no log has yet: the old log is nothing to this index. */
	do {
		if (getrandom(&ix->gen, sizeof(ix->gen), 0) != (ssize_t)sizeof(ix->gen))
			ix->gen = (uint64_t)store_now_ns() ^ ((uint64_t)getpid() << 32);
	} while (ix->gen == old);
	if (tern_index_encode(ix, &b) == -1) {
		log_warnx("event=mailbox-index-unwritable dir=\"%s\" reason=encode", dir);
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_write_all(fd, b.data, b.len) == -1 || fstat(fd, &sb) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("mailbox: writing %s", path);
		if (fd != -1)
			(void)unlink(tmp);
		goto out;
	}
	store_stat_fill(file_r, &sb, 0);
	(void)unlink(logpath);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	/* An index that does not say what was handed out must not be
	 * trusted by the next reader: gone, it is rebuilt with a floor. */
	if (rc == -1) {
		(void)unlink(path);
		(void)unlink(logpath);
	}
	return rc;
}

/* ------------------------------------------------------------ vanished -- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Keeps the newest three quarters of MBOX_VANISHED_MAX ranges when there
 * are more than that: the older ones' MODSEQs go under the floor. */
static void
vanished_trim(struct mbox_vanished *v, size_t *n, uint64_t *floor)
{
	uint64_t *ms, cut;
	size_t i, k = 0, keep = MBOX_VANISHED_MAX * 3 / 4;

	if (*n <= MBOX_VANISHED_MAX || (ms = calloc(*n, sizeof(*ms))) == NULL)
		return;
	for (i = 0; i < *n; i++)
		ms[i] = v[i].modseq;
	qsort(ms, *n, sizeof(*ms), cmp_u64);
	cut = ms[*n - keep - 1];
	free(ms);
	for (i = 0; i < *n; i++) {
		if (v[i].modseq > cut)
			v[k++] = v[i];
	}
	*n = k;
	if (cut > *floor)
		*floor = cut;
}

int
store_vanished_add(struct mbox_vanished **v, size_t *n, uint64_t *floor,
    const struct mbox_vanished *add, size_t nadd)
{
	struct mbox_vanished *out, *old = *v;
	size_t i = 0, j = 0, k = 0;

	if (nadd == 0)
		return 0;
	if ((out = calloc(*n + nadd, sizeof(*out))) == NULL)
		return -1;
	/* Two sorted runs into one; what overlaps (it should not: a range
	 * never holds a UID present when it was made) becomes one range at
	 * the later MODSEQ, and so do touching ranges of one MODSEQ. */
	while (i < *n || j < nadd) {
		struct mbox_vanished r = (j == nadd || (i < *n && old[i].lo <= add[j].lo)) ?
		    old[i++] : add[j++];

		if (k > 0 && (r.lo <= out[k - 1].hi ||
		    (r.lo == out[k - 1].hi + 1 && r.modseq == out[k - 1].modseq))) {
			if (r.hi > out[k - 1].hi)
				out[k - 1].hi = r.hi;
			if (r.modseq > out[k - 1].modseq)
				out[k - 1].modseq = r.modseq;
			continue;
		}
		out[k++] = r;
	}
	vanished_trim(out, &k, floor);
	free(old);
	*v = out;
	*n = k;
	return 0;
}

/* ------------------------------------------------------------ the sync -- */

bool
store_fast_sync(struct mbox *mb, bool read_only, struct store_ix *x)
{
	static const char *const names[TERN_INDEX_NSTAT] = { "new", "cur", UIDLIST };
	struct tern_index_stat now[TERN_INDEX_NSTAT];
	char path[MBOX_PATH_MAX];
	struct stat sb;
	int64_t t = store_now_ns();
	size_t k;

	/* An expunge a crash left half done is the full sync's to finish;
	 * so is dropping what mbox_expunge removed. */
	if (mb->ngone)
		return false;
	if (store_path(path, sizeof(path), mb->dir, NULL, EXPUNGE_LOG) == -1 ||
	    stat(path, &sb) == 0 || errno != ENOENT)
		return false;
	for (k = 0; k < TERN_INDEX_NSTAT; k++) {
		if (store_path(path, sizeof(path), mb->dir, NULL, names[k]) == -1)
			return false;
		store_stat_path(path, &now[k], t);
		if (!now[k].valid)
			return false;
	}
	if (store_ix_holds(mb)) {
		for (k = 0; k < TERN_INDEX_NSTAT; k++) {
			if (!store_stat_trusted(&mb->seen[k], &now[k]))
				return false;
		}
		return read_only || !mb->has_new;
	}
	if (store_ix_read(mb->dir, x) == -1 || !x->ok || !store_ix_this_boot(&x->ix))
		return false;
	/* An index older than what this session has handed out (put back
	 * from a backup, or written before a failed write of ours) is not
	 * used: the full sync rebuilds above both. */
	if (mb->uidvalidity == x->ix.uidvalidity && mb->highestmodseq > x->ix.highestmodseq)
		return false;
	for (k = 0; k < TERN_INDEX_NSTAT; k++) {
		if (!store_stat_trusted(&x->ix.st[k], &now[k]))
			return false;
	}
	return store_ix_adopt(mb, x) == 0 && (read_only || !mb->has_new);
}
