/*
 * store_cache: tern-cache, what the IMAP server parsed out of a folder's
 * messages (proto/tern_cache.c has the records; docs/mailbox.md the
 * rules). The file is shared: each session appends what it put with one
 * O_APPEND write, reads what others appended by scanning the new end of
 * the file, and finds a record by (uid, field) in a table of offsets.
 * A record is used only when its checksum holds and its base is the
 * message's (a UID of another UIDVALIDITY is another message). When most
 * of the file is garbage (records of messages gone, or put again), the
 * session that notices writes the live ones to a new file (in tmp/) and
 * renames it over; appends to the old file meanwhile are lost, which a cache may
 * do. Records are read with pread, not mapped: a file someone truncates
 * must not bring the server down with SIGBUS.
 */
#include "store.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../proto/tern_cache.h"
#include "store_int.h"

/* Offsets are 31 bits: the top one marks a record still in `pending`. */
#define PENDING_BIT 0x80000000u
#define FILE_MAX 0x7fffffffu
/* What waits in memory before it is written anyway. */
#define PENDING_MAX (1u << 20)
/* Compaction: a file this big, at least half garbage. */
#define COMPACT_MIN (256u << 10)

struct cache_ent {
	uint32_t uid;                     /* 0: an empty slot */
	uint32_t off[TERN_CACHE_FIELDS];  /* record offset + 1, or PENDING_BIT | offset; 0 none */
};

struct mbox_cache {
	int fd;                  /* tern-cache open for appends, -1 when not (yet) */
	uint64_t ino;            /* the file fd is */
	uint64_t scanned;        /* records read up to here */
	bool broken;             /* the record at `scanned` is not one: all after is garbage */
	uint64_t checked_at;     /* file size when garbage was last counted */
	struct cache_ent *ents;  /* open addressing by uid */
	size_t nents, nslots;
	struct buf pending;      /* records put, not written yet */
};

static atomic_ulong compact_seq;

void
store_cache_free(struct mbox *mb)
{
	struct mbox_cache *c = mb->cache;

	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->ents);
	buf_release(&c->pending);
	free(c);
	mb->cache = NULL;
}

static size_t
slot_of(uint32_t uid, size_t nslots)
{
	return (size_t)(((uint64_t)uid * 0x9e3779b97f4a7c15ull) >> 32) & (nslots - 1);
}

static struct cache_ent *
ent_find(struct mbox_cache *c, uint32_t uid)
{
	size_t s;

	if (c->nslots == 0)
		return NULL;
	for (s = slot_of(uid, c->nslots); c->ents[s].uid != 0; s = (s + 1) & (c->nslots - 1)) {
		if (c->ents[s].uid == uid)
			return &c->ents[s];
	}
	return NULL;
}

static struct cache_ent *
ent_get(struct mbox_cache *c, uint32_t uid)
{
	struct cache_ent *e = ent_find(c, uid);
	size_t s, i;

	if (e != NULL)
		return e;
	if ((c->nents + 1) * 2 > c->nslots) {
		size_t nslots = c->nslots ? c->nslots * 2 : 256;
		struct cache_ent *ne = calloc(nslots, sizeof(*ne));

		if (ne == NULL)
			return NULL;
		for (i = 0; i < c->nslots; i++) {
			if (c->ents[i].uid == 0)
				continue;
			for (s = slot_of(c->ents[i].uid, nslots); ne[s].uid != 0; s = (s + 1) & (nslots - 1))
				;
			ne[s] = c->ents[i];
		}
		free(c->ents);
		c->ents = ne;
		c->nslots = nslots;
	}
	for (s = slot_of(uid, c->nslots); c->ents[s].uid != 0; s = (s + 1) & (c->nslots - 1))
		;
	c->ents[s].uid = uid;
	c->nents++;
	return &c->ents[s];
}

/* Forgets every offset into the file (another file is there now). */
static void
ents_drop_file(struct mbox_cache *c)
{
	size_t i, k;

	for (i = 0; i < c->nslots; i++) {
		for (k = 0; k < TERN_CACHE_FIELDS; k++) {
			if (!(c->ents[i].off[k] & PENDING_BIT))
				c->ents[i].off[k] = 0;
		}
	}
	c->scanned = TERN_CACHE_HEADER_LEN;
	c->broken = false;
	c->checked_at = 0;
}

/* Opens tern-cache (making it, with its header, when there is none).
 * A file that does not start with the header is someone else's: it is
 * not read, and the next flush replaces it. */
static void
cache_open(struct mbox *mb, struct mbox_cache *c)
{
	char path[MBOX_PATH_MAX], head[TERN_CACHE_HEADER_LEN];
	struct stat st;
	int fd;

	if (store_path(path, sizeof(path), mb->dir, NULL, CACHE_FILE) == -1)
		return;
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) != -1) {
		if (fileio_write_all(fd, TERN_CACHE_HEADER, TERN_CACHE_HEADER_LEN) == -1) {
			close(fd);
			return;
		}
	} else if (errno != EEXIST ||
	    (fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = fd;
	c->ino = (uint64_t)st.st_ino;
	ents_drop_file(c);
	if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
	    memcmp(head, TERN_CACHE_HEADER, sizeof(head)) != 0)
		c->broken = true;   /* foreign, or its maker has not written the header yet */
}

/* Reads the records appended since the last look (and a new file, if
 * another session compacted it). */
static void
cache_refresh(struct mbox *mb, struct mbox_cache *c)
{
	char path[MBOX_PATH_MAX], *win = NULL;
	uint64_t size, wstart = 0, wlen = 0;
	struct stat st;

	if (store_path(path, sizeof(path), mb->dir, NULL, CACHE_FILE) == -1)
		return;
	if (c->fd == -1 || stat(path, &st) == -1 || (uint64_t)st.st_ino != c->ino)
		cache_open(mb, c);
	if (c->fd == -1 || c->broken || fstat(c->fd, &st) == -1)
		return;
	size = (uint64_t)st.st_size;
	if (size > FILE_MAX)
		size = FILE_MAX;
	while (c->scanned + TERN_CACHE_REC_HDR <= size) {
		struct cache_ent *e;
		size_t len;
		uint32_t uid;
		unsigned field;

		/* The headers come through a window of a megabyte: one read
		 * for many records. */
		if (c->scanned < wstart || c->scanned + TERN_CACHE_REC_HDR > wstart + wlen) {
			ssize_t got;

			if (win == NULL && (win = malloc(1u << 20)) == NULL)
				break;
			if ((got = pread(c->fd, win, 1u << 20, (off_t)c->scanned)) < TERN_CACHE_REC_HDR)
				break;
			wstart = c->scanned;
			wlen = (uint64_t)got;
		}
		if ((len = tern_cache_rec_size(win + (c->scanned - wstart))) == 0) {
			c->broken = true;   /* not a record: nothing after it is read */
			break;
		}
		if (c->scanned + len > size)
			break;   /* still being written, or torn: looked at again later */
		memcpy(&uid, win + (c->scanned - wstart) + 8, 4);
		uid = le32toh(uid);
		field = (unsigned char)win[c->scanned - wstart + 12];
		/* A record put here and not written yet is newer than the file's. */
		if ((e = ent_get(c, uid)) != NULL && !(e->off[field] & PENDING_BIT))
			e->off[field] = (uint32_t)c->scanned + 1;
		c->scanned += len;
	}
	free(win);
}

static struct mbox_cache *
cache_of(struct mbox *mb)
{
	struct mbox_cache *c = mb->cache;

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		c->fd = -1;
		c->scanned = TERN_CACHE_HEADER_LEN;
		mb->cache = c;
		cache_refresh(mb, c);
	}
	return c;
}

/* The record at off (an offset as kept in an entry) into b; false when
 * it cannot be read or is not whole. */
static bool
rec_load(struct mbox_cache *c, uint32_t off, struct buf *b, struct tern_cache_rec *r)
{
	char hdr[TERN_CACHE_REC_HDR];
	size_t len;

	if (off & PENDING_BIT) {
		off &= ~PENDING_BIT;
		return tern_cache_rec_read(c->pending.data + off, c->pending.len - off, r) != 0;
	}
	off--;
	if (pread(c->fd, hdr, sizeof(hdr), off) != (ssize_t)sizeof(hdr) ||
	    (len = tern_cache_rec_size(hdr)) == 0 || buf_reserve(b, len) == -1 ||
	    pread(c->fd, b->data, len, off) != (ssize_t)len)
		return false;
	b->len = len;
	return tern_cache_rec_read(b->data, len, r) != 0 && tern_cache_rec_ok(r);
}

/* The record for message m in field f, checked: its data appended to out. */
static bool
lookup(struct mbox_cache *c, const struct mbox_msg *m, unsigned f, struct buf *out)
{
	struct cache_ent *e = ent_find(c, m->uid);
	struct buf b = BUF_INIT;
	struct tern_cache_rec r;
	bool ok = false;

	if (e == NULL || e->off[f] == 0)
		return false;
	if (rec_load(c, e->off[f], &b, &r) && r.uid == m->uid && r.field == f &&
	    r.base_len == m->base_len && memcmp(r.base, m->name, m->base_len) == 0)
		ok = buf_append(out, r.data, r.data_len) == 0;
	buf_release(&b);
	return ok;
}

bool
mbox_cache_get(struct mbox *mb, size_t i, enum mbox_cache_field f, struct buf *out)
{
	struct mbox_cache *c;

	if (i >= mb->n || (unsigned)f >= TERN_CACHE_FIELDS || (c = cache_of(mb)) == NULL)
		return false;
	if (lookup(c, &mb->msgs[i], f, out))
		return true;
	/* Maybe another session has put it since we looked. */
	cache_refresh(mb, c);
	return lookup(c, &mb->msgs[i], f, out);
}

int
mbox_cache_put(struct mbox *mb, size_t i, enum mbox_cache_field f, const char *p, size_t n)
{
	const struct mbox_msg *m;
	struct tern_cache_rec r = { 0 };
	struct mbox_cache *c;
	struct cache_ent *e;
	size_t at;

	if (i >= mb->n || (unsigned)f >= TERN_CACHE_FIELDS || n > TERN_CACHE_DATA_MAX ||
	    (c = cache_of(mb)) == NULL)
		return -1;
	m = &mb->msgs[i];
	r.uid = m->uid;
	r.field = f;
	r.base = m->name;
	r.base_len = m->base_len;
	r.data = p;
	r.data_len = n;
	at = c->pending.len;
	if (at >= PENDING_BIT || (e = ent_get(c, m->uid)) == NULL ||
	    tern_cache_rec_encode(&r, &c->pending) == -1)
		return -1;
	e->off[f] = PENDING_BIT | (uint32_t)at;
	if (c->pending.len >= PENDING_MAX)
		mbox_cache_flush(mb);
	return 0;
}

static int
cmp_uid(const void *key, const void *elem)
{
	uint32_t k = *(const uint32_t *)key, u = ((const struct mbox_msg *)elem)->uid;

	return k < u ? -1 : k > u;
}

/* The octets of the file's records that still count: the latest of each
 * (uid, field) of a message still here. Only headers are read. */
static uint64_t
live_bytes(struct mbox *mb, struct mbox_cache *c)
{
	char hdr[TERN_CACHE_REC_HDR];
	uint64_t live = 0;
	size_t i, k;

	for (i = 0; i < c->nslots; i++) {
		const struct cache_ent *e = &c->ents[i];

		if (e->uid == 0 || bsearch(&e->uid, mb->msgs, mb->n, sizeof(*mb->msgs), cmp_uid) == NULL)
			continue;
		for (k = 0; k < TERN_CACHE_FIELDS; k++) {
			if (e->off[k] == 0 || (e->off[k] & PENDING_BIT) ||
			    pread(c->fd, hdr, sizeof(hdr), e->off[k] - 1) != (ssize_t)sizeof(hdr))
				continue;
			live += tern_cache_rec_size(hdr);
		}
	}
	return live;
}

/* Writes the live records and what is pending to a new file, renamed
 * over tern-cache. */
static void
compact(struct mbox *mb, struct mbox_cache *c)
{
	char tmp[MBOX_PATH_MAX], path[MBOX_PATH_MAX], name[64];
	struct buf out = BUF_INIT, b = BUF_INIT;
	struct stat st;
	size_t i, k;
	int fd;

	/* In tmp/: a crash's leftover goes with the rest there (36 hours). */
	snprintf(name, sizeof(name), "tern-cache.%ld.%lu", (long)getpid(),
	    (unsigned long)atomic_fetch_add(&compact_seq, 1));
	if (store_path(tmp, sizeof(tmp), mb->dir, "tmp", name) == -1 ||
	    store_path(path, sizeof(path), mb->dir, NULL, CACHE_FILE) == -1 ||
	    buf_append(&out, TERN_CACHE_HEADER, TERN_CACHE_HEADER_LEN) == -1)
		goto out;
	for (i = 0; i < c->nslots; i++) {
		struct cache_ent *e = &c->ents[i];
		struct tern_cache_rec r;

		for (k = 0; k < TERN_CACHE_FIELDS; k++) {
			uint32_t off = e->off[k];

			e->off[k] = 0;
			if (off == 0 || bsearch(&e->uid, mb->msgs, mb->n, sizeof(*mb->msgs),
			    cmp_uid) == NULL || !rec_load(c, off, &b, &r) || !tern_cache_rec_ok(&r))
				continue;
			if (out.len + TERN_CACHE_REC_HDR + r.base_len + r.data_len > FILE_MAX)
				continue;
			e->off[k] = (uint32_t)out.len + 1;
			if (tern_cache_rec_encode(&r, &out) == -1)
				e->off[k] = 0;
		}
	}
	buf_reset(&c->pending);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		goto out;
	if (fileio_write_all(fd, out.data, out.len) == -1 || rename(tmp, path) == -1) {
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	close(fd);
	/* The new file is ours to append to now: its records are what the
	 * table says. */
	if (c->fd != -1)
		close(c->fd);
	c->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (c->fd != -1 && fstat(c->fd, &st) == 0) {
		c->ino = (uint64_t)st.st_ino;
		c->scanned = c->checked_at = out.len;
		c->broken = false;
	}
out:
	buf_release(&b);
	buf_release(&out);
	if (c->fd == -1) {
		/* Nothing trustworthy about offsets now. */
		free(c->ents);
		c->ents = NULL;
		c->nents = c->nslots = 0;
	}
}

void
mbox_cache_flush(struct mbox *mb)
{
	struct mbox_cache *c = mb->cache;
	struct stat st;
	off_t end;
	size_t i, k;

	if (c == NULL || c->pending.len == 0)
		return;
	cache_refresh(mb, c);
	if (c->fd == -1 || fstat(c->fd, &st) == -1)
		goto drop;
	/* Mostly garbage, or not ours to append to (a foreign or broken
	 * file): written anew. */
	if (c->broken || (uint64_t)st.st_size + c->pending.len > FILE_MAX ||
	    ((uint64_t)st.st_size >= COMPACT_MIN &&
	    (uint64_t)st.st_size >= c->checked_at + c->checked_at / 4 &&
	    (c->checked_at = (uint64_t)st.st_size, live_bytes(mb, c) * 2 < (uint64_t)st.st_size))) {
		compact(mb, c);
		return;
	}
	/* One write: with O_APPEND it lands whole after whatever others
	 * appended, and our offset ends just after it. */
	if (fileio_write_all(c->fd, c->pending.data, c->pending.len) == -1 ||
	    (end = lseek(c->fd, 0, SEEK_CUR)) == -1 || (uint64_t)end > FILE_MAX)
		goto drop;
	for (i = 0; i < c->nslots; i++) {
		for (k = 0; k < TERN_CACHE_FIELDS; k++) {
			uint32_t off = c->ents[i].off[k];

			if (off & PENDING_BIT)
				c->ents[i].off[k] = (uint32_t)((uint64_t)end - c->pending.len +
				    (off & ~PENDING_BIT)) + 1;
		}
	}
	buf_reset(&c->pending);
	return;
drop:
	/* A cache may forget. */
	for (i = 0; i < c->nslots; i++) {
		for (k = 0; k < TERN_CACHE_FIELDS; k++) {
			if (c->ents[i].off[k] & PENDING_BIT)
				c->ents[i].off[k] = 0;
		}
	}
	buf_reset(&c->pending);
}
