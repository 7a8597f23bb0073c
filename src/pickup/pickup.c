/*
 * pickup: see pickup.h; the maildrop, its file format and what a crash
 * leaves are in docs/sendmail.md.
 *
 * One batch at a time: a pool job lists the directory and reads up to
 * BATCH_MAX files (open without following links, a regular file with one
 * link, its owner from fstat, its content decoded and checked by
 * proto/maildrop.c); the loop then queues each message (recipients routed
 * as RCPTs are, our Received field, and the fields a submission gets:
 * Date, Message-ID, and From when there is none) and, when every commit
 * has come back, a second pool job removes the files that are queued or
 * refused. A file whose message could not be queued (disk full) stays for
 * the next listing. inotify or the minute's timer start the next batch;
 * one that comes during a batch is remembered, not lost.
 */
#include "pickup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../common/timefmt.h"
#include "../config/config.h"
#include "../maillog/maillog.h"
#include "../policy/submission.h"
#include "../proto/maildrop.h"
#include "../proto/rfc5322.h"
#include "../proto/smtp_addr.h"
#include "../proto/smtp_cmd.h"
#include "../queue/queue.h"
#include "../route/router.h"

#define BATCH_MAX 32
#define RESCAN_S 60
#define STALE_TMP_S (24 * 3600)   /* a dot file no tern-sendmail will finish */
#define HEADER_SLACK ((uint64_t)MAILDROP_RCPT_MAX * MAILDROP_HDR_LINE_MAX + 8 * MAILDROP_HDR_LINE_MAX)
#define NO_LIMIT_SIZE ((uint64_t)1 << 30)

struct item {
	struct batch *b;
	char name[NAME_MAX + 1];
	unsigned uid;
	char user[64];
	struct buf file;          /* the whole file; md points into it */
	struct maildrop md;
	enum { IT_SKIP, IT_REFUSE, IT_QUEUE } st;   /* after reading */
	const char *why;          /* refused or skipped: the reason, logged */
	struct hdr_scan hs;       /* the message's header */
	bool eightbit;
	bool remove;              /* queued or refused: the file goes */
};

struct batch {
	struct pickup *p;
	struct item *items;
	size_t n;
	size_t pending;           /* commits not yet back */
	bool full;                /* BATCH_MAX files read: there may be more */
	/* The limits, copied on the loop: the pool never reads the
	 * configuration, which a reload replaces. */
	uint64_t max_file, max_size;
	size_t max_line;
};

struct pickup {
	struct event_base *base;
	struct iopool *pool;
	struct queue *q;
	const struct config *cfg;
	char dir[CONFIG_PATH_MAX + 16];
	int ifd;
	struct event *ev_watch, *ev_timer;
	bool busy, again, stopping;
};

static void scan(struct pickup *p);

int
pickup_prepare(const char *data_dir, bool change, uid_t uid, gid_t gid)
{
	char dir[CONFIG_PATH_MAX + 16];
	struct stat st;

	if (str_fmt(dir, sizeof(dir), "%s/maildrop", data_dir) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	/* The owner, not root: a sticky directory lets only a file's owner,
	 * the directory's owner or CAP_FOWNER remove a file, and the pickup
	 * (run_as, no capability) removes everyone's. */
	if (change && (st.st_uid != uid || st.st_gid != gid) && chown(dir, uid, gid) == -1)
		return -1;
	return (st.st_mode & 07777) == 01733 ? 0 : chmod(dir, 01733);
}

/* --------------------------------------------------------- pool: read -- */

/* Pool thread: one file, opened by name in the directory fd. */
static void
read_one(const struct batch *b, int dfd, struct item *it)
{
	struct stat st;
	struct passwd pw, *pwr = NULL;
	char pwbuf[1024];
	enum maildrop_err e;
	size_t i;
	int fd = openat(dfd, it->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	it->st = IT_REFUSE;
	if (fd == -1) {
		/* Gone already, or a symbolic link or a FIFO someone put
		 * there: not ours to read. */
		it->why = "cannot be opened (not a regular file?)";
		if (errno == ENOENT)
			it->st = IT_SKIP, it->why = NULL;
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		it->why = "not a regular file";
		goto out;
	}
	/* Who sent it: the kernel's word, never the file's. */
	it->uid = (unsigned)st.st_uid;
	if (getpwuid_r(st.st_uid, &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr != NULL)
		str_copy(it->user, sizeof(it->user), pw.pw_name);
	if (st.st_nlink != 1) {
		it->why = "has more than one link";
		goto out;
	}
	if ((uint64_t)st.st_size > b->max_file) {
		it->why = "too large";
		goto out;
	}
	if (fileio_read_all(fd, &it->file) == -1 || buf_append_char(&it->file, '\0') == -1) {
		it->why = "cannot be read";
		it->st = IT_SKIP;   /* maybe next time */
		goto out;
	}
	it->file.len--;
	e = maildrop_decode(it->file.data, it->file.len, b->max_size, b->max_line, &it->md);
	if (e != MAILDROP_OK) {
		it->why = maildrop_strerror(e);
		goto out;
	}
	hdr_scan_init(&it->hs);
	hdr_scan_feed(&it->hs, it->md.msg, it->md.msglen);
	for (i = 0; i < it->md.msglen && !it->eightbit; i++)
		it->eightbit = (unsigned char)it->md.msg[i] >= 0x80;
	it->st = IT_QUEUE;
out:
	close(fd);
}

/* Pool thread: the batch's files, and the dot files left too long. */
static void
read_work(void *arg)
{
	struct batch *b = arg;
	struct pickup *p = b->p;
	DIR *d = opendir(p->dir);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while (!b->full && (de = readdir(d)) != NULL) {
		struct item *it;

		if (de->d_name[0] == '.') {
			struct stat st;

			/* A tern-sendmail that died between its write and its
			 * rename leaves a dot file nobody will finish. */
			if (strncmp(de->d_name, ".tmp.", 5) == 0 &&
			    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime < now - STALE_TMP_S)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		it = &b->items[b->n++];
		it->b = b;
		str_copy(it->name, sizeof(it->name), de->d_name);
		read_one(b, dirfd(d), it);
		b->full = b->n == BATCH_MAX;
	}
	closedir(d);
}

/* ------------------------------------------------------- loop: queue -- */

static void batch_end(struct batch *b);

/* Pool thread: removes the files whose part is over. The queue's commit
 * is durable before this runs; a crash before the unlink (or before it
 * reaches the disk) picks the file up again: at least once, never lost. */
static void
remove_work(void *arg)
{
	struct batch *b = arg;
	size_t i;
	int dfd = open(b->p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd == -1)
		return;
	for (i = 0; i < b->n; i++)
		if (b->items[i].remove && unlinkat(dfd, b->items[i].name, 0) == -1 && errno != ENOENT)
			log_warn("pickup: unlink %s/%s", b->p->dir, b->items[i].name);
	close(dfd);
}

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		maildrop_clear(&b->items[i].md);
		buf_release(&b->items[i].file);
	}
	free(b->items);
	free(b);
}

static void
remove_done(void *arg)
{
	struct batch *b = arg;
	struct pickup *p = b->p;
	bool more = false;
	size_t i;

	/* A full batch that removed something: there may be more now. */
	for (i = 0; i < b->n && b->full; i++)
		more |= b->items[i].remove;

	batch_free(b);
	p->busy = false;
	if (more || p->again)
		scan(p);
}

static void
on_commit(uint64_t cookie, enum queue_err err, const char *id)
{
	struct item *it = (struct item *)(uintptr_t)cookie;

	if (err == QUEUE_OK) {
		maillog_pickup(id, it->name, it->uid, it->user, it->md.sender, it->md.msglen,
		    it->md.nrcpts);
		it->remove = true;
	} else
		log_warnx("event=pickup-deferred file=%s reason=\"%s\"", it->name,
		    err == QUEUE_ENOSPC ? "disk full" : "queue write failed");
	if (--it->b->pending == 0)
		batch_end(it->b);
}

static bool
addr_ok(const char *a)
{
	struct smtp_path path;

	return smtp_addr_parse_mailbox(a, strlen(a), true, &path) == SMTP_ADDR_OK;
}

static bool
non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Our Received field, what the header lacks, the message. */
static void
write_message(struct pickup *p, struct item *it, struct queue_tx *tx)
{
	const struct maildrop *md = &it->md;
	const char *id = queue_tx_id(tx);
	struct buf h = BUF_INIT;
	char date[64];
	size_t split = it->hs.done ? (size_t)it->hs.end_off : md->msglen, first, colon;
	time_t now = time(NULL);
	const char *nl = memchr(md->msg, '\n', md->msglen);
	bool body_only;

	/* "echo text | sendmail user": a first line that is no header field
	 * starts the body; the fields we add get an empty line after them
	 * (as Postfix's cleanup does). */
	first = nl ? (size_t)(nl - md->msg) + 1 : md->msglen;
	body_only = md->msglen > 0 && md->msg[0] != '\r' &&
	    rfc5322_field_name(md->msg, first, &colon) == 0;
	if (body_only)
		split = 0;

	/* RFC 5321 §4.4; the user is the file's owner (Postfix writes "from
	 * userid N" in the same place). */
	rfc5322_date((int64_t)now, date, sizeof(date));
	buf_printf(&h, "Received: (from %s, uid %u)\r\n\tby %s (tern) with LOCAL id %s;\r\n\t%s\r\n",
	    it->user[0] ? it->user : "unknown", it->uid, p->cfg->hostname, id, date);
	queue_tx_write(tx, h.data, h.len);
	queue_tx_write(tx, md->msg, split);
	buf_reset(&h);
	if (!body_only && !it->hs.done && !hdr_scan_at_line_start(&it->hs))
		buf_append(&h, "\r\n", 2);
	/* sendmail(1): a message without From: is from the sender, with the
	 * -F name. The name goes quoted, its quotes and backslashes escaped. */
	if (it->hs.nfrom == 0) {
		buf_append_str(&h, "From: ");
		if (md->fullname[0]) {
			const char *s;

			buf_append_char(&h, '"');
			for (s = md->fullname; *s; s++) {
				if (*s == '"' || *s == '\\')
					buf_append_char(&h, '\\');
				buf_append_char(&h, *s);
			}
			buf_append_str(&h, "\" ");
		}
		buf_printf(&h, "<%s>\r\n", md->sender);
	}
	submission_missing_fields(&it->hs, id, p->cfg->hostname, now, &h);
	if (body_only)
		buf_append(&h, "\r\n", 2);
	queue_tx_write(tx, h.data, h.len);
	queue_tx_write(tx, md->msg + split, md->msglen - split);
	buf_release(&h);
}

/* Loop: one decoded file into the queue. False when nothing was queued. */
static bool
queue_one(struct pickup *p, struct item *it)
{
	const struct maildrop *md = &it->md;
	struct envelope env = { 0 };
	struct queue_tx *tx;
	enum queue_err qe;
	const char *at = strrchr(md->sender, '@');
	size_t i;

	if (md->sender[0] && !addr_ok(md->sender)) {
		it->why = "bad sender address";
		return false;
	}
	env.arrival = (int64_t)time(NULL);
	env.body = it->eightbit ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	env.ret = md->ret;
	env.smtputf8 = non_ascii(md->sender);
	/* The machine's users are trusted as relay_networks clients are:
	 * mail from an own domain leaves signed. */
	env.dkim = at != NULL && config_dkim_domain(p->cfg, at + 1);
	if (envelope_set(&env.sender, md->sender) || envelope_set(&env.helo, p->cfg->hostname) ||
	    envelope_set(&env.client, "127.0.0.1") || envelope_set(&env.proto, "LOCAL") ||
	    envelope_set(&env.envid, md->envid)) {
		goto fail;
	}
	for (i = 0; i < md->nrcpts; i++) {
		enum route_status st = addr_ok(md->rcpts[i]) ?
		    queue_add_rcpt(p->q, &env, md->rcpts[i], md->notify) : ROUTE_UNKNOWN_USER;

		if (st == ROUTE_NOMEM)
			goto fail;   /* kept for the next listing */
		if (st != ROUTE_OK && st != ROUTE_NOT_LOCAL)
			maillog_pickup_rcpt("", it->name, it->uid, md->rcpts[i],
			    st == ROUTE_LOOP ? "alias loop" : st == ROUTE_TOO_MANY ?
			    "alias expansion too large" : "no such user or bad address");
		env.smtputf8 |= non_ascii(md->rcpts[i]);
	}
	if (env.nrcpts == 0) {
		it->why = "no deliverable recipient";
		goto fail;
	}
	if ((tx = queue_tx_begin(p->q, &env, &qe)) == NULL) {
		log_warnx("event=pickup-deferred file=%s reason=\"%s\"", it->name,
		    qe == QUEUE_ENOSPC ? "disk full" : "queue write failed");
		goto fail;
	}
	write_message(p, it, tx);
	it->b->pending++;
	queue_tx_commit(tx, on_commit, (uint64_t)(uintptr_t)it);
	return true;
fail:
	envelope_clear(&env);
	return false;
}

static void
read_done(void *arg)
{
	struct batch *b = arg;
	size_t i;

	/* Held while queueing, so that no commit coming back at once
	 * ends the batch before the last file is handed over. */
	b->pending = 1;
	for (i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];

		if (it->st == IT_QUEUE && !queue_one(b->p, it) && it->why)
			it->st = IT_REFUSE;
		if (it->st == IT_REFUSE) {
			maillog_pickup_refused(it->name, it->uid, it->why);
			it->remove = true;
		} else if (it->st == IT_SKIP && it->why)
			log_warnx("event=pickup-deferred file=%s reason=\"%s\"", it->name, it->why);
	}
	if (--b->pending == 0)
		batch_end(b);
}

static void
batch_end(struct batch *b)
{
	size_t i;
	bool any = false;

	for (i = 0; i < b->n; i++)
		any |= b->items[i].remove;
	if (any && iopool_submit(b->p->pool, remove_work, remove_done, b) == 0)
		return;
	remove_done(b);
}

/* ------------------------------------------------------------ events -- */

static void
scan(struct pickup *p)
{
	struct batch *b;

	if (p->stopping)
		return;
	if (p->busy) {
		p->again = true;
		return;
	}
	p->again = false;
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->items = calloc(BATCH_MAX, sizeof(*b->items))) == NULL) {
		free(b);
		return;   /* the timer tries again */
	}
	b->p = p;
	b->max_size = p->cfg->max_message_size;
	b->max_line = p->cfg->max_line_length;
	b->max_file = (b->max_size ? b->max_size : NO_LIMIT_SIZE) + HEADER_SLACK;
	if (iopool_submit(p->pool, read_work, read_done, b) == -1) {
		free(b->items);
		free(b);
		return;
	}
	p->busy = true;
}

static void
on_watch(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)what;
	/* What changed does not matter: the listing tells. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	scan(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan(arg);
}

struct pickup *
pickup_new(struct event_base *base, struct iopool *pool, struct queue *q,
    const struct config *cfg)
{
	struct pickup *p = calloc(1, sizeof(*p));
	struct timeval every = { RESCAN_S, 0 };

	if (p == NULL)
		return NULL;
	p->base = base;
	p->pool = pool;
	p->q = q;
	p->cfg = cfg;
	p->ifd = -1;
	if (str_fmt(p->dir, sizeof(p->dir), "%s/maildrop", cfg->data_dir) == -1)
		goto fail;
	/* Without inotify the minute's listing still finds every file. */
	if ((p->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(p->ifd, p->dir, IN_MOVED_TO | IN_CLOSE_WRITE) == -1)
		log_warn("event=pickup-watch-unavailable dir=%s", p->dir);
	else if ((p->ev_watch = event_new(base, p->ifd, EV_READ | EV_PERSIST, on_watch, p)) == NULL ||
	    event_add(p->ev_watch, NULL) == -1)
		goto fail;
	if ((p->ev_timer = event_new(base, -1, EV_PERSIST, on_timer, p)) == NULL ||
	    event_add(p->ev_timer, &every) == -1)
		goto fail;
	scan(p);
	return p;
fail:
	pickup_free(&p);
	return NULL;
}

void
pickup_set_config(struct pickup *p, const struct config *cfg)
{
	if (p)
		p->cfg = cfg;
}

void
pickup_stop(struct pickup *p)
{
	if (p)
		p->stopping = true;
}

void
pickup_free(struct pickup **pp)
{
	struct pickup *p = *pp;

	if (p == NULL)
		return;
	if (p->ev_watch)
		event_free(p->ev_watch);
	if (p->ev_timer)
		event_free(p->ev_timer);
	if (p->ifd != -1)
		close(p->ifd);
	free(p);
	*pp = NULL;
}
