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

#define UIDLIST       "dovecot-uidlist"
#define UIDLIST_LOCK  "dovecot-uidlist.lock"
#define UIDLIST_TMP   "tern-uidlist.tmp"   /* the next list, the lock holder's */
#define EXPUNGE_LOG   "tern-expunge"
/* Dovecot breaks a uidlist lock that has not changed for two minutes. */
#define LOCK_STALE_SECS 120

static const char *const default_folders[] = { "Drafts", "Sent", "Trash", "Junk", "Archive" };

const char *
mbox_strerror(enum mbox_err e)
{
	switch (e) {
	case MBOX_OK:     return "ok";
	case MBOX_NOENT:  return "no such folder";
	case MBOX_LOCKED: return "mailbox is locked";
	case MBOX_IO:     return "i/o error";
	case MBOX_NOMEM:  return "out of memory";
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

/* dir/sub/name into out; -1 when it does not fit. */
static int
path3(char *out, size_t outsize, const char *dir, const char *sub, const char *name)
{
	if (sub && name)
		return str_fmt(out, outsize, "%s/%s/%s", dir, sub, name);
	return str_fmt(out, outsize, "%s/%s", dir, sub ? sub : name);
}

static void
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/* This machine's name as gethostname() gives it (what Dovecot and other
 * programs write in their Maildir names and dotlocks); "" if unknown. */
static void
this_host(char *out, size_t outsize)
{
	if (gethostname(out, outsize) != 0)
		out[0] = '\0';
	out[outsize - 1] = '\0';
}

/* ------------------------------------------------------------- lock ---- */

/* Says who holds a lock just taken: "<pid>:<host>", what Dovecot's
 * dotlocks hold, for as long as it is held. */
static void
lock_mark(int fd)
{
	char host[256], who[300];
	int n;

	this_host(host, sizeof(host));
	n = snprintf(who, sizeof(who), "%ld:%s", (long)getpid(), host);
	if (host[0] == '\0' || n < 0 || (size_t)n >= sizeof(who) ||
	    fileio_write_all(fd, who, (size_t)n) == -1)
		(void)ftruncate(fd, 0);   /* anonymous: only the age rule then */
}

/* The pid of a process of this host that held the lock seen as *st and no
 * longer runs, or 0. A lock without a holder (empty, or a list being
 * written), another host's, ours (another thread's) or a live process's
 * is not stale by this rule. */
static long
lock_dead_holder(const char *path, const struct stat *st)
{
	char buf[300], host[256], *colon, *end;
	struct stat again;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	this_host(host, sizeof(host));
	if ((colon = strchr(buf, ':')) == NULL || host[0] == '\0' || strcmp(colon + 1, host) != 0)
		return 0;
	*colon = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (end == buf || *end != '\0' || errno != 0 || pid <= 0 || pid == (long)getpid() ||
	    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0;
	/* Still the file we read, not one taken anew since. */
	if (stat(path, &again) == -1 || again.st_ino != st->st_ino ||
	    again.st_size != st->st_size || again.st_mtime != st->st_mtime)
		return 0;
	return pid;
}

/* The uidlist lock: its descriptor (the new list is written into it), or
 * -1 with *err set. A lock is broken when its holder is a process of this
 * host that has died (ternd after a kill -9: at once, not after two
 * minutes; Dovecot reads the same "<pid>:<host>"), or when nobody has
 * touched it for two minutes (a holder we cannot name: Dovecot's own
 * uidlist locks carry no pid). */
static int
lock_take(const char *dir, int timeout, enum mbox_err *err)
{
	char path[MBOX_PATH_MAX];
	struct timespec nap = { 0, 5 * 1000 * 1000 };
	time_t give_up = time(NULL) + (timeout > 0 ? timeout : 1);
	struct stat st;
	long dead = 0;
	int fd;

	if (path3(path, sizeof(path), dir, NULL, UIDLIST_LOCK) == -1) {
		*err = MBOX_IO;
		return -1;
	}
	for (;;) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) != -1) {
			lock_mark(fd);
			return fd;
		}
		if (errno == ENOENT) {
			*err = MBOX_NOENT;
			return -1;
		}
		if (errno != EEXIST) {
			log_warn("mailbox: %s", path);
			*err = MBOX_IO;
			return -1;
		}
		if (stat(path, &st) == 0 && ((dead = lock_dead_holder(path, &st)) > 0 ||
		    st.st_mtime + LOCK_STALE_SECS < time(NULL))) {
			if (dead > 0)
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld dead_pid=%ld",
				    path, (long long)(time(NULL) - st.st_mtime), dead);
			else
				log_info("event=mailbox-lock-broken path=\"%s\" age=%lld", path,
				    (long long)(time(NULL) - st.st_mtime));
			(void)unlink(path);
			continue;
		}
		if (time(NULL) >= give_up) {
			*err = MBOX_LOCKED;
			return -1;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 100 * 1000 * 1000)
			nap.tv_nsec *= 2;
	}
}

static void
lock_drop(const char *dir, int fd)
{
	char path[MBOX_PATH_MAX];

	close(fd);
	if (path3(path, sizeof(path), dir, NULL, UIDLIST_LOCK) == 0)
		(void)unlink(path);
}

/* The list in ul becomes dovecot-uidlist: written to tern-uidlist.tmp,
 * synced, renamed over the old one; then the lock goes and the folder is
 * synced. Dovecot writes its list into the lock file and renames that;
 * we keep the lock naming its holder to the end instead, so that a crash
 * at any step leaves a lock that is broken at once, not one holding a
 * list and no pid, which waits out the two minutes. */
static enum mbox_err
lock_commit(const char *dir, int fd, const struct uidlist *ul)
{
	char tmp[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	enum mbox_err err = MBOX_OK;
	int tfd = -1;

	if (path3(tmp, sizeof(tmp), dir, NULL, UIDLIST_TMP) == -1 ||
	    path3(path, sizeof(path), dir, NULL, UIDLIST) == -1)
		err = MBOX_IO;
	else if (uidlist_encode(ul, &b) == -1)
		err = MBOX_NOMEM;
	else if ((tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    fileio_write_all(tfd, b.data, b.len) == -1 || fdatasync(tfd) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("mailbox: writing %s", path);
		err = MBOX_IO;
		if (tfd != -1)
			(void)unlink(tmp);
	}
	if (tfd != -1)
		close(tfd);
	buf_release(&b);
	lock_drop(dir, fd);
	if (err == MBOX_OK)
		fsync_dir(dir);
	return err;
}

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

	if (path3(path, sizeof(path), dir, sub, NULL) == -1)
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

/* Finishes an expunge a crash interrupted: every name in the journal goes. */
static void
replay_expunge_log(const char *dir)
{
	char path[MBOX_PATH_MAX], victim[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	size_t i, start = 0;
	int fd;

	if (path3(path, sizeof(path), dir, NULL, EXPUNGE_LOG) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	(void)fileio_read_all(fd, &b);
	close(fd);
	for (i = 0; i < b.len; i++) {
		if (b.data[i] != '\n')
			continue;
		/* "cur/<name>" or "new/<name>", one a line; a torn last line
		 * (no LF) was never acted on. */
		if (i > start + 4 && memchr(b.data + start + 4, '/', i - start - 4) == NULL &&
		    (memcmp(b.data + start, "cur/", 4) == 0 || memcmp(b.data + start, "new/", 4) == 0) &&
		    str_fmt(victim, sizeof(victim), "%s/%.*s", dir, (int)(i - start), b.data + start) == 0)
			(void)unlink(victim);
		start = i + 1;
	}
	buf_release(&b);
	fsync_dir(dir);
	log_info("event=mailbox-expunge-replayed dir=\"%s\"", dir);
	(void)unlink(path);
}

/* --------------------------------------------------------------- sync -- */

static int
uidlist_load(const char *dir, struct uidlist *ul, bool *dirty)
{
	const struct uidlist_limits lim = UIDLIST_LIMITS_DEFAULT;
	char path[MBOX_PATH_MAX];
	struct buf b = BUF_INIT;
	size_t line = 0;
	enum uidlist_err e;
	int fd;

	memset(ul, 0, sizeof(*ul));
	if (path3(path, sizeof(path), dir, NULL, UIDLIST) == -1)
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
static int
file_vsize(const char *dir, const struct found *f, uint64_t *vsize_r)
{
	char path[MBOX_PATH_MAX], in[16384];
	uint64_t n = 0;
	bool cr = false;
	ssize_t got, k;
	int fd;

	if (path3(path, sizeof(path), dir, f->in_new ? "new" : "cur", f->name) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((got = read(fd, in, sizeof(in))) > 0) {
		for (k = 0; k < got; k++) {
			if (in[k] == '\n') {
				n += 2;          /* CR LF, or a bare LF made one */
				cr = false;
				continue;
			}
			if (cr)
				n += 2;          /* a bare CR made CR LF */
			cr = in[k] == '\r';
			if (!cr)
				n++;
		}
	}
	close(fd);
	if (got < 0)
		return -1;
	*vsize_r = n + (cr ? 2 : 0);
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

	if (path3(from, sizeof(from), dir, "new", f->name) == -1 ||
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
	if ((lockfd = lock_take(dir, conf->lock_timeout, &err)) == -1)
		return err;
	if (!read_only)
		replay_expunge_log(dir);
	if (uidlist_load(dir, &ul, &dirty) == -1) {
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
		err = lock_commit(dir, lockfd, &nu);
		lockfd = -1;
	}
out:
	if (lockfd != -1)
		lock_drop(dir, lockfd);
	free(fresh);
	listing_free(&l);
	uidlist_clear(&ul);
	uidlist_clear(&nu);
	if (err != MBOX_OK)
		mbox_free(mb);
	return err;
}

/* ------------------------------------------------------------ reading -- */

/* Finds message i's file by its base after a rename by someone else. */
static int
refind(struct mbox *mb, size_t i)
{
	struct mbox_msg *m = &mb->msgs[i];
	static const char *const subs[] = { "cur", "new" };
	char path[MBOX_PATH_MAX];
	size_t k;

	for (k = 0; k < 2; k++) {
		struct dirent *de;
		DIR *d;

		if (path3(path, sizeof(path), mb->dir, subs[k], NULL) == -1 ||
		    (d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			char *nn;

			if (len < m->base_len || memcmp(de->d_name, m->name, m->base_len) != 0 ||
			    (len > m->base_len && de->d_name[m->base_len] != ':'))
				continue;
			if ((nn = strdup(de->d_name)) == NULL)
				break;
			free(m->name);
			m->name = nn;
			m->in_new = k == 1;
			closedir(d);
			return 0;
		}
		closedir(d);
	}
	errno = ENOENT;
	return -1;
}

int
mbox_open_msg(struct mbox *mb, size_t i)
{
	char path[MBOX_PATH_MAX];
	struct mbox_msg *m = &mb->msgs[i];
	int fd, tries, k;

	for (tries = 0; tries < 2; tries++) {
		k = m->in_new ? 1 : 0;
		if (mb->subfd[k] == 0) {
			if (path3(path, sizeof(path), mb->dir, k ? "new" : "cur", NULL) == -1) {
				errno = ENAMETOOLONG;
				return -1;
			}
			if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
				return -1;
			mb->subfd[k] = fd + 1;
		}
		if ((fd = openat(mb->subfd[k] - 1, m->name, O_RDONLY | O_CLOEXEC)) != -1 ||
		    errno != ENOENT)
			return fd;
		if (refind(mb, i) == -1)
			return -1;
	}
	return -1;
}

/* Message i's file with flags |= add, in cur/. Another reader (Dovecot's
 * IMAP) may have renamed it since we last looked, with flags of its own:
 * it is found again by its base and the new name is built from the one it
 * has now, so that its flags stay. */
static void
add_flags(struct mbox *mb, size_t i, unsigned add)
{
	struct mbox_msg *m = &mb->msgs[i];
	char from[MBOX_PATH_MAX], to[MBOX_PATH_MAX], nn[MAILDIR_NAME_MAX + 1];
	int tries;

	for (tries = 0; tries < 2; tries++) {
		struct maildir_name mn;

		if (maildir_name_parse(m->name, strlen(m->name), &mn) != MAILDIR_NAME_OK ||
		    (mn.info != MAILDIR_INFO_2 && mn.info != MAILDIR_INFO_NONE))
			return;
		if (mn.info == MAILDIR_INFO_NONE) {
			mn.info = MAILDIR_INFO_2;
			mn.flag_text = mn.tail = "";
			mn.flag_text_len = mn.tail_len = 0;
		} else if ((mn.flags & add) == add && !m->in_new) {
			m->flags = mn.flags;
			return;
		}
		mn.flags |= add;
		if (maildir_name_build(&mn, nn, sizeof(nn)) == 0 ||
		    path3(from, sizeof(from), mb->dir, m->in_new ? "new" : "cur", m->name) == -1 ||
		    path3(to, sizeof(to), mb->dir, "cur", nn) == -1)
			return;
		if (rename(from, to) == 0) {
			free(m->name);
			m->name = strdup(nn);
			if (m->name == NULL)
				m->name = strdup("");   /* next open refinds it by base */
			m->flags = mn.flags;
			m->in_new = false;
			return;
		}
		if (errno != ENOENT || refind(mb, i) == -1)
			return;   /* expunged meanwhile: nothing to flag */
	}
}

enum mbox_err
mbox_expunge(struct mbox *mb, const size_t *del, size_t ndel, const size_t *keep,
    size_t nkeep, unsigned add, const struct mbox_conf *conf)
{
	char path[MBOX_PATH_MAX], victim[MBOX_PATH_MAX], dir[MBOX_PATH_MAX];
	struct buf journal = BUF_INIT;
	enum mbox_err err = MBOX_OK;
	uint64_t freed = 0, nfreed = 0;
	size_t i;
	int lockfd, fd;

	for (i = 0; i < nkeep; i++)
		add_flags(mb, keep[i], add);
	if (ndel == 0)
		return MBOX_OK;
	str_copy(dir, sizeof(dir), mb->dir);
	if ((lockfd = lock_take(dir, conf->lock_timeout, &err)) == -1)
		return err;
	/* Whatever was renamed since the sync is found by its base first,
	 * so that the journal names what is there now. */
	for (i = 0; i < ndel; i++) {
		struct mbox_msg *m = &mb->msgs[del[i]];
		struct stat st;

		if (path3(victim, sizeof(victim), dir, m->in_new ? "new" : "cur", m->name) == 0 &&
		    stat(victim, &st) == -1 && errno == ENOENT)
			(void)refind(mb, del[i]);
		buf_printf(&journal, "%s/%s\n", m->in_new ? "new" : "cur", m->name);
	}
	if (journal.len == 0 && ndel) {
		err = MBOX_NOMEM;
		goto out;
	}
	if (path3(path, sizeof(path), dir, NULL, EXPUNGE_LOG) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		err = MBOX_IO;
		goto out;
	}
	if (fileio_write_all(fd, journal.data, journal.len) == -1 || fsync(fd) == -1) {
		close(fd);
		(void)unlink(path);
		err = MBOX_IO;
		goto out;
	}
	close(fd);
	fsync_dir(dir);
	/* From here on the expunge happens, crash or not. */
	for (i = 0; i < ndel; i++) {
		struct mbox_msg *m = &mb->msgs[del[i]];

		if (path3(victim, sizeof(victim), dir, m->in_new ? "new" : "cur", m->name) == 0 &&
		    unlink(victim) == 0) {
			freed += m->size;
			nfreed++;
		}
	}
	if (path3(victim, sizeof(victim), dir, "cur", NULL) == 0)
		fsync_dir(victim);
	(void)unlink(path);
	/* Only what this call removed: a file another server expunged first
	 * was counted off by that server. */
	if (quota_expunged(dir, freed, nfreed) == -1)
		log_warn("quota: %s", dir);
out:
	buf_release(&journal);
	lock_drop(dir, lockfd);
	return err;
}

/* ------------------------------------------------------------ folders -- */

enum mbox_err
mbox_create_defaults(const char *root)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[MBOX_PATH_MAX], folder[MBOX_PATH_MAX];
	struct buf add = BUF_INIT;
	struct stat st;
	size_t i, k;
	int fd;

	for (i = 0; i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
		if (str_fmt(folder, sizeof(folder), "%s/.%s", root, default_folders[i]) == -1)
			return MBOX_IO;
		if (stat(folder, &st) == 0)
			continue;
		for (k = 0; k < 3; k++) {
			if (path3(path, sizeof(path), folder, subs[k], NULL) == -1 ||
			    fileio_mkdirs(path) == -1) {
				buf_release(&add);
				return MBOX_IO;
			}
		}
		/* Dovecot's maildirfolder marker: this is a Maildir++ folder. */
		if (path3(path, sizeof(path), folder, NULL, "maildirfolder") == 0 &&
		    (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
			close(fd);
		buf_printf(&add, "%s\n", default_folders[i]);
	}
	if (add.len == 0)
		return MBOX_OK;
	/* Subscribed once, when created: a user who unsubscribes later is
	 * not overridden. */
	if (path3(path, sizeof(path), root, NULL, "subscriptions") == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) != -1) {
		(void)fileio_write_all(fd, add.data, add.len);
		close(fd);
	}
	buf_release(&add);
	fsync_dir(root);
	return MBOX_OK;
}

/* ---------------------------------------------------------------- tmp -- */

/* "<secs>.M<usecs>P<pid>[Q<n>].<host>": the writer's pid, if the host is
 * one of this machine's names; 0 otherwise. */
static long
tmp_writer(const char *name, const char *host, const char *sys_host)
{
	const char *p = strchr(name, 'P'), *dot;
	long pid = 0;

	if (p == NULL || (dot = strchr(p, '.')) == NULL ||
	    (strcmp(dot + 1, host) != 0 && (sys_host == NULL || strcmp(dot + 1, sys_host) != 0)))
		return 0;
	for (p++; *p >= '0' && *p <= '9' && pid < 1000000000; p++)
		pid = pid * 10 + (*p - '0');
	return (*p == 'Q' || *p == '.') ? pid : 0;
}

size_t
mbox_clean_tmp(const char *dir, time_t now, int max_age, const char *host)
{
	char path[MBOX_PATH_MAX], sys_host[256];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (path3(path, sizeof(path), dir, "tmp", NULL) == -1 || (d = opendir(path)) == NULL)
		return 0;
	/* ternd names its files by its hostname setting; other programs on
	 * this machine (Dovecot's LDA and LMTP) by the system's name. */
	this_host(sys_host, sizeof(sys_host));
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		long pid;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* A writer of this host that is gone (kill -9, power loss)
		 * never finishes its file; anyone's file is given 36 hours. */
		pid = host ? tmp_writer(de->d_name, host, sys_host[0] ? sys_host : NULL) : 0;
		if (st.st_mtime + max_age < now ||
		    (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == -1 && errno == ESRCH)) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				n++;
		}
	}
	closedir(d);
	return n;
}
