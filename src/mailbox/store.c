/*
 * store: the mailbox store, read side (see store.h, docs/mailbox.md).
 *
 * A sync is: take dovecot-uidlist.lock (created O_EXCL, as Dovecot's
 * dotlock, holding "<pid>:<host>"; one whose holder has died, or older
 * than two minutes, is a crashed writer's and is broken), read
 * dovecot-uidlist, list new/ and cur/, match files to UIDs by their base
 * name, give the rest new UIDs, move new/ to cur/, and, if anything
 * changed, write the new list to tern-uidlist.tmp, fsync it, rename it
 * over dovecot-uidlist, remove the lock and fsync the folder: a UID a
 * client has seen is never given to another message. Nothing changed:
 * the lock is just removed.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "../proto/uidlist.h"
#include "quota.h"
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
mbox_free(struct mbox *mb)
{
	size_t i;

	for (i = 0; i < mb->n; i++) {
		free(mb->msgs[i].name);
		free(mb->msgs[i].pop3_uidl);
	}
	free(mb->msgs);
	mb->msgs = NULL;
	mb->n = mb->cap = 0;
	for (i = 0; i < 2; i++) {
		if (mb->subfd[i] > 0)
			close(mb->subfd[i] - 1);
		mb->subfd[i] = 0;
	}
}

/* ------------------------------------------------------------- lock ---- */

/* ---------------------------------------------------------- listing ---- */

/* A file found in new/ or cur/. */
struct found {
	char *name;
	size_t base_len;
	bool in_new;
	bool matched;
	uint64_t size;
	uint64_t vsize;     /* MBOX_VSIZE_UNKNOWN until the name, the record
	                     * or a read says */
	unsigned flags;
};

struct listing {
	struct found *f;
	size_t n, cap;
	/* open addressing by base: indexes + 1, 0 empty */
	size_t *slots;
	size_t nslots;
};

static uint64_t
hash_base(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 1099511628211ull;
	return h;
}

static void
listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->f[i].name);
	free(l->f);
	free(l->slots);
	memset(l, 0, sizeof(*l));
}

static int
read_sub(struct listing *l, const char *dir, const char *sub)
{
	char path[MBOX_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int dfd;

	if (store_path(path, sizeof(path), dir, sub, NULL) == -1)
		return -1;
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		struct maildir_name mn;
		struct found *f;
		size_t len = strlen(de->d_name);

		if (maildir_name_parse(de->d_name, len, &mn) != MAILDIR_NAME_OK)
			continue;   /* ".", "..", dot files, junk */
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct found *nf = reallocarray(l->f, cap, sizeof(*nf));

			if (nf == NULL)
				goto fail;
			l->f = nf;
			l->cap = cap;
		}
		f = &l->f[l->n];
		memset(f, 0, sizeof(*f));
		if ((f->name = strdup(de->d_name)) == NULL)
			goto fail;
		f->base_len = mn.base_len;
		f->in_new = sub[0] == 'n';
		f->flags = mn.info == MAILDIR_INFO_2 ? mn.flags : 0;
		f->vsize = mn.has_vsize ? mn.vsize : MBOX_VSIZE_UNKNOWN;
		if (mn.has_size)
			f->size = mn.size;
		else {
			struct stat st;

			if (fstatat(dfd, de->d_name, &st, 0) == -1) {
				free(f->name);
				continue;   /* gone meanwhile */
			}
			f->size = (uint64_t)st.st_size;
		}
		l->n++;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	errno = ENOMEM;
	return -1;
}

static int
listing_index(struct listing *l)
{
	size_t i;

	l->nslots = 16;
	while (l->nslots < l->n * 2)
		l->nslots *= 2;
	if ((l->slots = calloc(l->nslots, sizeof(*l->slots))) == NULL)
		return -1;
	for (i = 0; i < l->n; i++) {
		size_t s = hash_base(l->f[i].name, l->f[i].base_len) & (l->nslots - 1);

		while (l->slots[s])
			s = (s + 1) & (l->nslots - 1);
		l->slots[s] = i + 1;
	}
	return 0;
}

/* The file with this base, or NULL. A base in both new/ and cur/ (a
 * crash between link and unlink elsewhere) matches the first. */
static struct found *
listing_find(struct listing *l, const char *base, size_t len)
{
	size_t s = hash_base(base, len) & (l->nslots - 1);

	for (; l->slots[s]; s = (s + 1) & (l->nslots - 1)) {
		struct found *f = &l->f[l->slots[s] - 1];

		if (f->base_len == len && memcmp(f->name, base, len) == 0 && !f->matched)
			return f;
	}
	return NULL;
}

/* New messages get their UIDs in the order they arrived (the time in
 * their names, as numbers: see maildir_name_arrival_cmp). */
static int
cmp_found_arrival(const void *a, const void *b)
{
	const struct found *x = *(struct found *const *)a, *y = *(struct found *const *)b;

	return maildir_name_arrival_cmp(x->name, x->base_len, y->name, y->base_len);
}

/* ------------------------------------------------------------ expunge -- */

/* --------------------------------------------------------------- sync -- */

int
store_uidlist_load(const char *dir, struct uidlist *ul, bool *dirty)
{
	const struct uidlist_limits lim = UIDLIST_LIMITS_DEFAULT;
	char path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	size_t line = 0;
	enum uidlist_err e;
	int fd;

	memset(ul, 0, sizeof(*ul));
	if (store_path(path, sizeof(path), dir, NULL, UIDLIST) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			return -1;
		goto fresh;
	}
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

static int
file_vsize(const char *dir, const struct found *f, uint64_t *vsize_r)
{
	char path[MBOX_PATH_MAX], in[16384];
	struct store_vsize v = { 0 };
	ssize_t got;
	int fd;

	if (store_path(path, sizeof(path), dir, f->in_new ? "new" : "cur", f->name) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
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
 * The fields a record is written with: the old ones, and W<vsize> when the
 * virtual size had to be read (not when the name carries it, as Dovecot
 * does). *ext_r is owned by the caller (NULL: none); *dirty is set when a
 * field was added. -1 when out of memory.
 */
static int
rec_fields(const char *dir, struct found *f, const struct uidlist_rec *r,
    bool read_only, char **ext_r, bool *dirty)
{
	const char *old = r ? r->ext : NULL;
	uint64_t v;

	*ext_r = NULL;
	if (f->vsize == MBOX_VSIZE_UNKNOWN && rec_vsize(r, &v))
		f->vsize = v;
	if (f->vsize == MBOX_VSIZE_UNKNOWN && !read_only && file_vsize(dir, f, &v) == 0) {
		struct buf b = BUF_INIT;

		f->vsize = v;
		if (buf_printf(&b, "%s%sW%llu", old ? old : "", old ? " " : "",
		    (unsigned long long)v) == -1) {
			buf_release(&b);
			return -1;
		}
		*ext_r = b.data;   /* the buf's memory is the string now */
		*dirty = true;
		return 0;
	}
	if (old && (*ext_r = strdup(old)) == NULL)
		return -1;
	return 0;
}

/* RFC 1939 §7: a UIDL is 1 to 70 octets 0x21-0x7E. */
static bool
uidl_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 70)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
	}
	return true;
}

static int
mbox_push(struct mbox *mb, uint32_t uid, const struct found *f, const struct uidlist_rec *r)
{
	const char *uidl;
	size_t uidl_len;
	struct mbox_msg *m;

	if (mb->n == mb->cap) {
		size_t cap = mb->cap ? mb->cap * 2 : 64;
		struct mbox_msg *nm = reallocarray(mb->msgs, cap, sizeof(*nm));

		if (nm == NULL)
			return -1;
		mb->msgs = nm;
		mb->cap = cap;
	}
	m = &mb->msgs[mb->n];
	memset(m, 0, sizeof(*m));
	if ((m->name = strdup(f->name)) == NULL)
		return -1;
	/* Dovecot keeps a migrated POP3 UIDL in the record's P field and
	 * serves it instead of its own form; so does tern. */
	if (r && uidlist_rec_ext(r, 'P', &uidl, &uidl_len) && uidl_ok(uidl, uidl_len) &&
	    (m->pop3_uidl = str_dupn(uidl, uidl_len)) == NULL) {
		free(m->name);
		return -1;
	}
	m->uid = uid;
	m->base_len = f->base_len;
	m->in_new = f->in_new;
	m->size = f->size;
	m->vsize = f->vsize;
	m->flags = f->flags;
	mb->n++;
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

/* The list to write: ul's header, then the records of mb. */
static int
uidlist_header_copy(const struct uidlist *ul, struct uidlist *nu)
{
	memset(nu, 0, sizeof(*nu));
	nu->version = 3;
	nu->uidvalidity = ul->uidvalidity;
	nu->next_uid = ul->next_uid;
	nu->has_guid = ul->has_guid;
	memcpy(nu->guid, ul->guid, sizeof(nu->guid));
	if (ul->hdr_ext && (nu->hdr_ext = strdup(ul->hdr_ext)) == NULL)
		return -1;
	return 0;
}

enum mbox_err
mbox_sync(struct mbox *mb, const char *dir, bool read_only, const struct mbox_conf *conf)
{
	struct listing l = { 0 };
	struct uidlist ul, nu;
	struct found **fresh = NULL;
	char *ext = NULL;
	enum mbox_err err = MBOX_OK;
	bool dirty = false;
	size_t i, nfresh = 0, moved = 0;
	int lockfd;

	mbox_free(mb);
	memset(&nu, 0, sizeof(nu));
	mb->new_uids = mb->moved = 0;
	if (str_copy(mb->dir, sizeof(mb->dir), dir) == -1)
		return MBOX_IO;
	if ((lockfd = store_lock_take(dir, conf->lock_timeout, &err)) == -1)
		return err;
	if (!read_only)
		store_replay_expunge(dir);
	if (store_uidlist_load(dir, &ul, &dirty) == -1) {
		err = errno == ENOMEM ? MBOX_NOMEM : MBOX_IO;
		goto out;
	}
	if (uidlist_header_copy(&ul, &nu) == -1 ||
	    read_sub(&l, dir, "new") == -1 || read_sub(&l, dir, "cur") == -1 ||
	    listing_index(&l) == -1) {
		err = errno == ENOMEM ? MBOX_NOMEM : MBOX_IO;
		goto out;
	}
	/* Known messages keep their UIDs (and Dovecot's fields on them);
	 * a record whose file has gone is dropped. */
	for (i = 0; i < ul.nrecs; i++) {
		const struct uidlist_rec *r = &ul.recs[i];
		size_t blen = strcspn(r->name, ":");
		struct found *f = listing_find(&l, r->name, blen);

		if (f == NULL) {
			dirty = true;
			continue;
		}
		f->matched = true;
		if (!read_only && f->in_new)
			move_to_cur(dir, f, &moved);
		if (rec_fields(dir, f, r, read_only, &ext, &dirty) == -1 ||
		    mbox_push(mb, r->uid, f, r) == -1 ||
		    uidlist_append(&nu, r->uid, ext, f->name, f->base_len) == -1) {
			free(ext);
			err = MBOX_NOMEM;
			goto out;
		}
		free(ext);
	}
	/* The rest are new: UIDs in the order they arrived. A read-only
	 * look gives none: the next writer does. */
	if ((fresh = calloc(l.n ? l.n : 1, sizeof(*fresh))) == NULL) {
		err = MBOX_NOMEM;
		goto out;
	}
	for (i = 0; i < l.n && !read_only; i++) {
		if (!l.f[i].matched)
			fresh[nfresh++] = &l.f[i];
	}
	qsort(fresh, nfresh, sizeof(*fresh), cmp_found_arrival);
	for (i = 0; i < nfresh; i++) {
		struct found *f = fresh[i];
		uint32_t uid = nu.next_uid;

		if (uid == 0 || uid >= UINT32_MAX - 1) {
			log_warnx("event=mailbox-uids-exhausted dir=\"%s\"", dir);
			err = MBOX_IO;
			goto out;
		}
		f->matched = true;
		if (f->in_new)
			move_to_cur(dir, f, &moved);
		if (rec_fields(dir, f, NULL, read_only, &ext, &dirty) == -1 ||
		    mbox_push(mb, uid, f, NULL) == -1 ||
		    uidlist_append(&nu, uid, ext, f->name, f->base_len) == -1) {
			free(ext);
			err = MBOX_NOMEM;
			goto out;
		}
		free(ext);
		dirty = true;
	}
	mb->uidvalidity = nu.uidvalidity;
	mb->uidnext = nu.next_uid;
	mb->new_uids = nfresh;
	mb->moved = moved;
	if (dirty && !read_only) {
		err = store_lock_commit(dir, lockfd, &nu);
		lockfd = -1;
	}
out:
	if (lockfd != -1)
		store_lock_drop(dir, lockfd);
	free(fresh);
	listing_free(&l);
	uidlist_clear(&ul);
	uidlist_clear(&nu);
	if (err != MBOX_OK)
		mbox_free(mb);
	return err;
}

/* ------------------------------------------------------------ reading -- */

/* ------------------------------------------------------------ folders -- */

/* ---------------------------------------------------------------- tmp -- */

