/*
 * imap_folder: the commands on folders as names, on the pool: LIST and
 * LSUB (LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC
 * 6154), CREATE, DELETE, RENAME (INBOX's special case), SUBSCRIBE,
 * UNSUBSCRIBE, STATUS (STATUS=SIZE RFC 8438, CONDSTORE) and the QUOTA
 * commands (RFC 9208). Names travel as UTF-8 inside the session; on disk
 * they are modified UTF-7, as Dovecot keeps them (mailbox/store).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../proto/imap_mutf7.h"
#include "imap_session.h"

/* A disk name (mUTF-7) into UTF-8; false when it is not valid. */
static bool
to_utf8(const char *disk, char *out, size_t outsize)
{
	size_t n;

	if (imap_mutf7_decode(disk, strlen(disk), out, outsize - 1, &n) != IMAP_MUTF7_OK)
		return false;
	out[n] = '\0';
	return true;
}

static bool
to_disk(const char *name, char *out, size_t outsize)
{
	size_t n;

	if (imap_mutf7_encode(name, strlen(name), out, outsize - 1, &n) != IMAP_MUTF7_OK)
		return false;
	out[n] = '\0';
	return true;
}

/* RFC 9051 §6.3.9: '*' matches anything, '%' anything but the
 * hierarchy separator. */
static bool
match(const char *pat, const char *name)
{
	for (; *pat; pat++) {
		if (*pat == '*' || *pat == '%') {
			const char *p = name;

			for (;;) {
				if (match(pat + 1, p))
					return true;
				if (*p == '\0' || (*pat == '%' && *p == '.'))
					return false;
				p++;
			}
		}
		if (*pat != *name)
			return false;
		name++;
	}
	return *name == '\0';
}

/* The pattern with the reference before it, "INBOX" in any case made
 * "INBOX" (its name is case-insensitive, RFC 9051 §5.1). */
static void
full_pattern(const char *ref, const struct imap_str *pat, char *out, size_t outsize)
{
	str_fmt(out, outsize, "%s%.*s", ref, (int)pat->len, pat->p);
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '.' ||
	    out[5] == '*' || out[5] == '%'))
		memcpy(out, "INBOX", 5);
}

static const char *
special_use(const char *name)
{
	static const char *const uses[][2] = {
		{ "Drafts", "\\Drafts" }, { "Sent", "\\Sent" }, { "Trash", "\\Trash" },
		{ "Junk", "\\Junk" }, { "Archive", "\\Archive" },
	};
	size_t i;

	for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (strcmp(name, uses[i][0]) == 0)
			return uses[i][1];
	}
	return NULL;
}

struct folder {
	char *name;          /* UTF-8 */
	bool exists;         /* a folder, not only a parent of one */
	bool children;
	bool subscribed;
};

struct folders {
	struct folder *f;
	size_t n, cap;
};

static void
folders_free(struct folders *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->f[i].name);
	free(fs->f);
	memset(fs, 0, sizeof(*fs));
}

static struct folder *
folders_find(struct folders *fs, const char *name)
{
	size_t i;

	for (i = 0; i < fs->n; i++) {
		if (strcmp(fs->f[i].name, name) == 0)
			return &fs->f[i];
	}
	return NULL;
}

static struct folder *
folders_add(struct folders *fs, const char *name)
{
	struct folder *f = folders_find(fs, name);

	if (f)
		return f;
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 32;
		struct folder *nf = reallocarray(fs->f, cap, sizeof(*nf));

		if (nf == NULL)
			return NULL;
		fs->f = nf;
		fs->cap = cap;
	}
	f = &fs->f[fs->n];
	memset(f, 0, sizeof(*f));
	if ((f->name = strdup(name)) == NULL)
		return NULL;
	fs->n++;
	return f;
}

/* Every folder, every parent of one, and the subscribed names. */
static int
folders_load(struct imap_box *b, struct folders *fs)
{
	char **names = NULL, **subs = NULL, utf[IMAP_NAME_MAX * 2];
	size_t n = 0, ns = 0, i;
	struct folder *f;

	if (mbox_folder_list(b->root, &names, &n) != MBOX_OK)
		return -1;
	for (i = 0; i < n; i++) {
		char *dot;

		if (!to_utf8(names[i], utf, sizeof(utf)) || (f = folders_add(fs, utf)) == NULL)
			continue;
		f->exists = true;
		/* Parents that are no folder themselves (Maildir++ keeps "a.b"
		 * without "a"): listed \Noselect. */
		while ((dot = strrchr(utf, '.')) != NULL) {
			*dot = '\0';
			if ((f = folders_add(fs, utf)) != NULL)
				f->children = true;
		}
	}
	mbox_names_free(names, n);
	if (mbox_subscriptions(b->root, &subs, &ns) == MBOX_OK) {
		for (i = 0; i < ns; i++) {
			if (to_utf8(subs[i], utf, sizeof(utf)) && (f = folders_add(fs, utf)) != NULL)
				f->subscribed = true;
		}
		mbox_names_free(subs, ns);
	}
	/* INBOX always exists. */
	if ((f = folders_add(fs, "INBOX")) != NULL)
		f->exists = true;
	for (i = 0; i < fs->n; i++) {
		size_t len = strlen(fs->f[i].name);
		size_t k;

		for (k = 0; k < fs->n && !fs->f[i].children; k++) {
			if (strncmp(fs->f[k].name, fs->f[i].name, len) == 0 && fs->f[k].name[len] == '.' &&
			    fs->f[k].exists)
				fs->f[i].children = true;
		}
	}
	return 0;
}

static int
cmp_folder(const void *a, const void *b)
{
	const struct folder *x = a, *y = b;

	if (strcmp(x->name, "INBOX") == 0)
		return -1;
	if (strcmp(y->name, "INBOX") == 0)
		return 1;
	return strcmp(x->name, y->name);
}

static void status_line(struct imap_job *j, const char *name, const char *dir, unsigned items);

static bool
has_subscribed_child(const struct folders *fs, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].subscribed && strncmp(fs->f[i].name, name, len) == 0 &&
		    fs->f[i].name[len] == '.')
			return true;
	}
	return false;
}

void
imap_cmd_list(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	bool lsub = c->verb == IMAP_CMD_LSUB;
	unsigned opts = c->list.opts;
	struct folders fs = { 0 };
	size_t i, p;

	if ((opts & IMAP_LIST_SEL_RECURSIVEMATCH) &&
	    !(opts & (IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_SPECIAL_USE))) {
		/* RFC 5258 §3.1: it only qualifies another selection option. */
		imap_job_status(j, "BAD", "RECURSIVEMATCH needs another selection option");
		return;
	}
	if (c->list.npatterns == 1 && c->list.patterns[0].len == 0) {
		/* RFC 9051 §6.3.9: the hierarchy separator and the root. */
		buf_printf(&j->out, "* %s (\\Noselect) \".\" \"\"\r\n", lsub ? "LSUB" : "LIST");
		imap_job_status(j, "OK", "%s completed", lsub ? "LSUB" : "LIST");
		return;
	}
	if (folders_load(b, &fs) == -1) {
		imap_job_status(j, "NO", "[UNAVAILABLE] Cannot list the folders");
		return;
	}
	qsort(fs.f, fs.n, sizeof(*fs.f), cmp_folder);
	for (i = 0; i < fs.n; i++) {
		const struct folder *f = &fs.f[i];
		const char *use = f->exists ? special_use(f->name) : NULL;
		bool want_sub = lsub || (opts & IMAP_LIST_SEL_SUBSCRIBED);
		bool any = false, first = true, childinfo;

		for (p = 0; p < c->list.npatterns && !any; p++) {
			char pat[IMAP_NAME_MAX * 2];

			full_pattern(c->mailbox.p ? c->mailbox.p : "", &c->list.patterns[p], pat, sizeof(pat));
			any = match(pat, f->name);
		}
		if (!any)
			continue;
		/* RFC 5258 §3.5: with RECURSIVEMATCH a folder that is not
		 * subscribed itself is listed for a subscribed one below it,
		 * with CHILDINFO saying so. */
		childinfo = false;
		if (want_sub && (opts & IMAP_LIST_SEL_RECURSIVEMATCH) && !lsub)
			childinfo = has_subscribed_child(&fs, f->name);
		if (want_sub && !f->subscribed && !childinfo)
			continue;
		if (!want_sub && !f->exists && !f->children)
			continue;
		if ((opts & IMAP_LIST_SEL_SPECIAL_USE) && use == NULL)
			continue;
		buf_printf(&j->out, "* %s (", lsub ? "LSUB" : "LIST");
#define ATTR(s) do { buf_printf(&j->out, "%s%s", first ? "" : " ", (s)); first = false; } while (0)
		if (!f->exists)
			ATTR(want_sub && !lsub && f->subscribed ? "\\NonExistent" : "\\Noselect");
		if (!lsub)
			ATTR(f->children ? "\\HasChildren" : "\\HasNoChildren");
		if (f->subscribed && !lsub && (opts & (IMAP_LIST_RET_SUBSCRIBED | IMAP_LIST_SEL_SUBSCRIBED)))
			ATTR("\\Subscribed");
		if (use && !lsub)
			ATTR(use);
#undef ATTR
		buf_append_str(&j->out, ") \".\" ");
		imap_put_mailbox(&j->out, f->name, b->utf8);
		if (childinfo)
			buf_append_str(&j->out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_append_str(&j->out, "\r\n");
		if ((opts & IMAP_LIST_RET_STATUS) && f->exists && !lsub) {
			char dir[MBOX_PATH_MAX];

			if (imap_folder_dir(b, f->name, dir, sizeof(dir)) == 0)
				status_line(j, f->name, dir, c->status);
		}
	}
	folders_free(&fs);
	imap_job_status(j, "OK", "%s completed", lsub ? "LSUB" : "LIST");
}

/* ------------------------------------------------ CREATE DELETE RENAME -- */

static void
mbox_error(struct imap_job *j, enum mbox_err e, const char *what)
{
	switch (e) {
	case MBOX_EXISTS:
		imap_job_status(j, "NO", "[ALREADYEXISTS] Mailbox already exists");
		break;
	case MBOX_NOENT:
		imap_job_status(j, "NO", "[NONEXISTENT] Mailbox does not exist");
		break;
	case MBOX_BADNAME:
		imap_job_status(j, "NO", "[CANNOT] Invalid mailbox name");
		break;
	case MBOX_LOCKED:
		imap_job_status(j, "NO", "[INUSE] Mailbox is in use, try again");
		break;
	default:
		imap_job_status(j, "NO", "[UNAVAILABLE] %s failed", what);
		break;
	}
}

/* The command's name without a trailing separator (RFC 9051 §6.3.4),
 * on disk. */
static bool
disk_name(struct imap_job *j, const char *name, char *out, size_t outsize)
{
	char tmp[IMAP_NAME_MAX + 1];
	size_t n;

	if (str_copy(tmp, sizeof(tmp), name) == -1)
		goto bad;
	n = strlen(tmp);
	if (n && tmp[n - 1] == '.')
		tmp[n - 1] = '\0';
	if (tmp[0] && to_disk(tmp, out, outsize))
		return true;
bad:
	imap_job_status(j, "NO", "[CANNOT] Invalid mailbox name");
	return false;
}

void
imap_cmd_create(struct imap_job *j)
{
	struct imap_box *b = j->box;
	char disk[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX) + 1];
	enum mbox_err e;

	if (strcmp(j->cmd.mailbox.p, "INBOX") == 0) {
		imap_job_status(j, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (!disk_name(j, j->cmd.mailbox.p, disk, sizeof(disk)))
		return;
	if ((e = mbox_folder_create(b->root, disk)) != MBOX_OK) {
		mbox_error(j, e, "CREATE");
		return;
	}
	log_info("event=imap-create user=%s folder=\"%s\"", b->user, j->cmd.mailbox.p);
	imap_job_status(j, "OK", "Create completed");
}

void
imap_cmd_delete(struct imap_job *j)
{
	struct imap_box *b = j->box;
	char disk[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX) + 1];
	enum mbox_err e;

	if (strcmp(j->cmd.mailbox.p, "INBOX") == 0) {
		imap_job_status(j, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (b->selected && strcmp(b->name, j->cmd.mailbox.p) == 0) {
		imap_job_status(j, "NO", "[INUSE] Close the mailbox before deleting it");
		return;
	}
	if (!disk_name(j, j->cmd.mailbox.p, disk, sizeof(disk)))
		return;
	if ((e = mbox_folder_delete(b->root, disk)) != MBOX_OK) {
		mbox_error(j, e, "DELETE");
		return;
	}
	log_info("event=imap-delete user=%s folder=\"%s\"", b->user, j->cmd.mailbox.p);
	imap_job_status(j, "OK", "Delete completed");
}

/* RENAME INBOX x: INBOX's messages move to a new folder x; INBOX stays,
 * empty (RFC 9051 §6.3.6). */
static void
rename_inbox(struct imap_job *j, const char *to_disk)
{
	struct imap_box *b = j->box;
	struct mbox mb = { 0 };
	char dir[MBOX_PATH_MAX];
	size_t i, *all = NULL;
	enum mbox_err e;

	if ((e = mbox_folder_create(b->root, to_disk)) != MBOX_OK) {
		mbox_error(j, e, "RENAME");
		return;
	}
	if (mbox_folder_dir(b->root, to_disk, dir, sizeof(dir)) == -1 ||
	    (e = mbox_sync(&mb, b->root, false, &b->env->store)) != MBOX_OK) {
		mbox_error(j, e == MBOX_OK ? MBOX_IO : e, "RENAME");
		mbox_free(&mb);
		return;
	}
	if (mb.n && (all = malloc(mb.n * sizeof(*all))) == NULL) {
		mbox_free(&mb);
		mbox_error(j, MBOX_NOMEM, "RENAME");
		return;
	}
	for (i = 0, e = MBOX_OK; i < mb.n && e == MBOX_OK; i++) {
		uint32_t uidv, uid;

		all[i] = i;
		e = mbox_copy(&mb, i, dir, &b->env->store, &uidv, &uid);
		if (e == MBOX_NOENT)
			e = MBOX_OK;
	}
	/* Copied first, removed after: a crash between leaves both, never
	 * neither. */
	if (e == MBOX_OK && mb.n)
		e = mbox_expunge(&mb, all, mb.n, NULL, 0, 0, &b->env->store);
	free(all);
	mbox_free(&mb);
	if (e != MBOX_OK)
		mbox_error(j, e, "RENAME");
	else
		imap_job_status(j, "OK", "Rename completed");
}

void
imap_cmd_rename(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	char from[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX) + 1];
	char to[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX) + 1];
	enum mbox_err e;

	if (strcmp(c->mailbox2.p, "INBOX") == 0) {
		imap_job_status(j, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (!disk_name(j, c->mailbox2.p, to, sizeof(to)))
		return;
	if (strcmp(c->mailbox.p, "INBOX") == 0) {
		rename_inbox(j, to);
		return;
	}
	if (b->selected && strcmp(b->name, c->mailbox.p) == 0) {
		imap_job_status(j, "NO", "[INUSE] Close the mailbox before renaming it");
		return;
	}
	if (!disk_name(j, c->mailbox.p, from, sizeof(from)))
		return;
	if ((e = mbox_folder_rename(b->root, from, to)) != MBOX_OK) {
		mbox_error(j, e, "RENAME");
		return;
	}
	log_info("event=imap-rename user=%s from=\"%s\" to=\"%s\"", b->user, c->mailbox.p, c->mailbox2.p);
	imap_job_status(j, "OK", "Rename completed");
}

void
imap_cmd_subscribe(struct imap_job *j)
{
	struct imap_box *b = j->box;
	bool on = j->cmd.verb == IMAP_CMD_SUBSCRIBE;
	char disk[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX) + 1];
	enum mbox_err e;

	if (!disk_name(j, j->cmd.mailbox.p, disk, sizeof(disk)))
		return;
	if ((e = mbox_subscribe(b->root, disk, on)) != MBOX_OK) {
		mbox_error(j, e, on ? "SUBSCRIBE" : "UNSUBSCRIBE");
		return;
	}
	imap_job_status(j, "OK", "%s completed", on ? "Subscribe" : "Unsubscribe");
}

/* -------------------------------------------------------------- STATUS -- */

static void
status_line(struct imap_job *j, const char *name, const char *dir, unsigned items)
{
	struct imap_box *b = j->box;
	struct mbox tmp = { 0 };
	const struct mbox *mb;
	uint64_t size = 0;
	size_t i, unseen = 0, deleted = 0, recent = 0;
	bool first = true;

	if (b->selected && strcmp(b->dir, dir) == 0)
		mb = &b->mb;
	else {
		/* Not read-only: a read-only sync gives new messages no UIDs,
		 * and STATUS must count them. */
		if (mbox_sync(&tmp, dir, false, &b->env->store) != MBOX_OK) {
			mbox_free(&tmp);
			return;
		}
		mb = &tmp;
	}
	for (i = 0; i < mb->n; i++) {
		const struct mbox_msg *m = &mb->msgs[i];

		unseen += !(m->flags & MAILDIR_FLAG_SEEN);
		deleted += !!(m->flags & MAILDIR_FLAG_TRASHED);
		recent += m->in_new || m->recent;
		size += m->vsize != MBOX_VSIZE_UNKNOWN ? m->vsize : m->size;
	}
	buf_append_str(&j->out, "* STATUS ");
	imap_put_mailbox(&j->out, name, b->utf8);
	buf_append_str(&j->out, " (");
#define ITEM(bit, fmt, v) do { if (items & (bit)) { \
	buf_printf(&j->out, "%s" fmt, first ? "" : " ", v); first = false; } } while (0)
	ITEM(IMAP_STATUS_MESSAGES, "MESSAGES %zu", mb->n);
	ITEM(IMAP_STATUS_RECENT, "RECENT %zu", recent);
	ITEM(IMAP_STATUS_UIDNEXT, "UIDNEXT %u", (unsigned)mb->uidnext);
	ITEM(IMAP_STATUS_UIDVALIDITY, "UIDVALIDITY %u", (unsigned)mb->uidvalidity);
	ITEM(IMAP_STATUS_UNSEEN, "UNSEEN %zu", unseen);
	ITEM(IMAP_STATUS_DELETED, "DELETED %zu", deleted);
	ITEM(IMAP_STATUS_SIZE, "SIZE %llu", (unsigned long long)size);
	ITEM(IMAP_STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu", (unsigned long long)mb->highestmodseq);
	ITEM(IMAP_STATUS_APPENDLIMIT, "APPENDLIMIT %llu", (unsigned long long)b->max_message_size);
#undef ITEM
	buf_append_str(&j->out, ")\r\n");
	mbox_free(&tmp);
}

void
imap_cmd_status(struct imap_job *j)
{
	struct imap_box *b = j->box;
	char dir[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	struct stat st;

	if (imap_folder_dir(b, j->cmd.mailbox.p, dir, sizeof(dir)) == -1 ||
	    str_fmt(path, sizeof(path), "%s/cur", dir) == -1 || stat(path, &st) == -1) {
		imap_job_status(j, "NO", "[NONEXISTENT] Mailbox does not exist");
		return;
	}
	if (j->cmd.status & IMAP_STATUS_HIGHESTMODSEQ)
		b->condstore = true;
	status_line(j, j->cmd.mailbox.p, dir, j->cmd.status);
	imap_job_status(j, "OK", "Status completed");
}

/* --------------------------------------------------------------- QUOTA -- */

static void
quota_line(struct imap_job *j)
{
	struct imap_box *b = j->box;
	struct quota_usage u;
	bool first = true;

	if (quota_usage(b->root, &b->quota, &u) == -1)
		memset(&u, 0, sizeof(u));
	buf_append_str(&j->out, "* QUOTA \"\" (");
	if (b->quota.bytes) {
		/* RFC 9208 §5.1: STORAGE counts units of 1024 octets. */
		buf_printf(&j->out, "STORAGE %llu %llu", (unsigned long long)((u.bytes + 1023) / 1024),
		    (unsigned long long)(b->quota.bytes / 1024));
		first = false;
	}
	if (b->quota.messages)
		buf_printf(&j->out, "%sMESSAGE %llu %llu", first ? "" : " ",
		    (unsigned long long)u.messages, (unsigned long long)b->quota.messages);
	buf_append_str(&j->out, ")\r\n");
}

void
imap_cmd_quota(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	bool limited = quota_limited(&b->quota);

	switch (c->verb) {
	case IMAP_CMD_GETQUOTAROOT:
		buf_append_str(&j->out, "* QUOTAROOT ");
		imap_put_mailbox(&j->out, c->mailbox.p, b->utf8);
		buf_append_str(&j->out, limited ? " \"\"\r\n" : "\r\n");
		if (limited)
			quota_line(j);
		imap_job_status(j, "OK", "Getquotaroot completed");
		return;
	case IMAP_CMD_GETQUOTA:
		if (!limited || c->arg1.len != 0) {
			imap_job_status(j, "NO", "[NONEXISTENT] No such quota root");
			return;
		}
		quota_line(j);
		imap_job_status(j, "OK", "Getquota completed");
		return;
	default:
		imap_job_status(j, "NO", "[CANNOT] Quotas are set by the administrator");
		return;
	}
}
