/*
 * store_folder: a user's folders and subscriptions (see store.h), in the
 * Maildir++ layout Dovecot uses: the INBOX is the root Maildir, "A.B" is
 * root/.A.B, each with new/ cur/ tmp/ and a maildirfolder marker; the
 * subscriptions file holds one name a line. Deleting a folder first
 * renames it out of sight (a crash leaves a hidden directory, never a
 * half-empty folder a client can see), then empties it.
 */
#include "store.h"

#include <dirent.h>
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
#include "store_int.h"

#define SUBSCRIPTIONS "subscriptions"
#define DELETED_PREFIX "..tern-deleted."

static atomic_ulong deleted_seq;

static bool
name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[0] != '.' && name[n - 1] != '.' && strchr(name, '/') == NULL &&
	    strstr(name, "..") == NULL && strcmp(name, "INBOX") != 0;
}

int
mbox_folder_dir(const char *root, const char *name, char *out, size_t outsize)
{
	if (strcmp(name, "INBOX") == 0)
		return str_copy(out, outsize, root);
	if (!name_ok(name))
		return -1;
	return str_fmt(out, outsize, "%s/.%s", root, name);
}

enum mbox_err
mbox_folder_create(const char *root, const char *name)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char dir[MBOX_PATH_MAX], path[MBOX_PATH_MAX];
	size_t k;
	int fd;

	if (strcmp(name, "INBOX") == 0)
		return MBOX_EXISTS;
	if (mbox_folder_dir(root, name, dir, sizeof(dir)) == -1)
		return MBOX_BADNAME;
	if (mkdir(dir, 0700) == -1)
		return errno == EEXIST ? MBOX_EXISTS : errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	for (k = 0; k < 3; k++) {
		if (store_path(path, sizeof(path), dir, subs[k], NULL) == -1 ||
		    fileio_mkdirs(path) == -1)
			return MBOX_IO;
	}
	if (store_path(path, sizeof(path), dir, NULL, "maildirfolder") == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
	store_fsync_dir(root);
	return MBOX_OK;
}

/* rm -r of a directory we own (a deleted folder, out of sight). */
static void
remove_tree(int parent, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1 && (errno == EISDIR || errno == EPERM))
			remove_tree(dirfd(d), de->d_name);
	}
	closedir(d);
	(void)unlinkat(parent, name, AT_REMOVEDIR);
}

enum mbox_err
mbox_folder_delete(const char *root, const char *name)
{
	char dir[MBOX_PATH_MAX], gone[MBOX_PATH_MAX], hidden[64];
	int rfd;

	if (strcmp(name, "INBOX") == 0 || mbox_folder_dir(root, name, dir, sizeof(dir)) == -1)
		return MBOX_BADNAME;
	snprintf(hidden, sizeof(hidden), DELETED_PREFIX "%ld.%lu", (long)getpid(),
	    (unsigned long)atomic_fetch_add(&deleted_seq, 1));
	if (store_path(gone, sizeof(gone), root, NULL, hidden) == -1)
		return MBOX_IO;
	if (rename(dir, gone) == -1)
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	store_fsync_dir(root);
	if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		remove_tree(rfd, hidden);
		close(rfd);
	}
	return MBOX_OK;
}

enum mbox_err
mbox_folder_rename(const char *root, const char *from, const char *to)
{
	char src[MBOX_PATH_MAX], dst[MBOX_PATH_MAX];
	size_t flen = strlen(from);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (strcmp(from, "INBOX") == 0 || strcmp(to, "INBOX") == 0 ||
	    mbox_folder_dir(root, from, src, sizeof(src)) == -1 ||
	    mbox_folder_dir(root, to, dst, sizeof(dst)) == -1)
		return MBOX_BADNAME;
	if (stat(dst, &st) == 0)
		return MBOX_EXISTS;
	if (rename(src, dst) == -1)
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	/* The folders below it follow: ".from.x" -> ".to.x". */
	if ((d = opendir(root)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char nsrc[MBOX_PATH_MAX], ndst[MBOX_PATH_MAX];

			if (de->d_name[0] != '.' || strncmp(de->d_name + 1, from, flen) != 0 ||
			    de->d_name[1 + flen] != '.')
				continue;
			if (str_fmt(nsrc, sizeof(nsrc), "%s/%s", root, de->d_name) == -1 ||
			    str_fmt(ndst, sizeof(ndst), "%s/.%s%s", root, to, de->d_name + 1 + flen) == -1 ||
			    rename(nsrc, ndst) == -1)
				log_warn("mailbox: renaming %s", de->d_name);
		}
		closedir(d);
	}
	store_fsync_dir(root);
	return MBOX_OK;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
names_add(char ***names, size_t *n, size_t *cap, const char *s, size_t len)
{
	char *dup;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		char **nn = reallocarray(*names, nc, sizeof(*nn));

		if (nn == NULL)
			return -1;
		*names = nn;
		*cap = nc;
	}
	if ((dup = str_dupn(s, len)) == NULL)
		return -1;
	(*names)[(*n)++] = dup;
	return 0;
}

void
mbox_names_free(char **names, size_t n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

enum mbox_err
mbox_folder_list(const char *root, char ***names_r, size_t *n_r)
{
	char **names = NULL, path[MBOX_PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	*names_r = NULL;
	*n_r = 0;
	if ((d = opendir(root)) == NULL)
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	if (names_add(&names, &n, &cap, "INBOX", 5) == -1)
		goto nomem;
	while ((de = readdir(d)) != NULL) {
		/* ".Name" with a cur/: a folder. ".", "..", hidden deletions,
		 * and files are not. */
		if (de->d_name[0] != '.' || de->d_name[1] == '\0' || de->d_name[1] == '.' ||
		    store_path(path, sizeof(path), root, de->d_name, "cur") == -1 ||
		    stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		if (names_add(&names, &n, &cap, de->d_name + 1, strlen(de->d_name + 1)) == -1)
			goto nomem;
	}
	closedir(d);
	qsort(names + 1, n - 1, sizeof(*names), cmp_names);
	*names_r = names;
	*n_r = n;
	return MBOX_OK;
nomem:
	closedir(d);
	mbox_names_free(names, n);
	return MBOX_NOMEM;
}

enum mbox_err
mbox_subscriptions(const char *root, char ***names_r, size_t *n_r)
{
	char path[MBOX_PATH_MAX], **names = NULL;
	struct buf b = BUF_INIT;
	size_t n = 0, cap = 0, i, start = 0;
	int fd;

	*names_r = NULL;
	*n_r = 0;
	if (store_path(path, sizeof(path), root, NULL, SUBSCRIPTIONS) == -1)
		return MBOX_IO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? MBOX_OK : MBOX_IO;
	if (fileio_read_all(fd, &b) == -1) {
		close(fd);
		buf_release(&b);
		return MBOX_IO;
	}
	close(fd);
	for (i = 0; i <= b.len; i++) {
		if (i < b.len && b.data[i] != '\n')
			continue;
		/* Dovecot 2.x writes a "V\t2" header line and a blank one. */
		if (i > start && !(i - start >= 2 && b.data[start] == 'V' && b.data[start + 1] == '\t') &&
		    names_add(&names, &n, &cap, b.data + start, i - start) == -1) {
			buf_release(&b);
			mbox_names_free(names, n);
			return MBOX_NOMEM;
		}
		start = i + 1;
	}
	buf_release(&b);
	*names_r = names;
	*n_r = n;
	return MBOX_OK;
}

enum mbox_err
mbox_subscribe(const char *root, const char *name, bool on)
{
	char path[MBOX_PATH_MAX], tmp[MBOX_PATH_MAX], **names;
	struct buf b = BUF_INIT;
	enum mbox_err err;
	bool found = false;
	size_t n, i;
	int fd;

	if (strchr(name, '\n') != NULL || name[0] == '\0')
		return MBOX_BADNAME;
	if ((err = mbox_subscriptions(root, &names, &n)) != MBOX_OK)
		return err;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			found = true;
			if (on)
				buf_printf(&b, "%s\n", names[i]);
		} else
			buf_printf(&b, "%s\n", names[i]);
	}
	if (on && !found)
		buf_printf(&b, "%s\n", name);
	mbox_names_free(names, n);
	if (store_path(path, sizeof(path), root, NULL, SUBSCRIPTIONS) == -1 ||
	    store_path(tmp, sizeof(tmp), root, NULL, "tern-subscriptions.tmp") == -1) {
		buf_release(&b);
		return MBOX_IO;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		buf_release(&b);
		return errno == ENOENT ? MBOX_NOENT : MBOX_IO;
	}
	if (fileio_write_all(fd, b.data ? b.data : "", b.len) == -1 || fsync(fd) == -1 ||
	    rename(tmp, path) == -1) {
		close(fd);
		(void)unlink(tmp);
		buf_release(&b);
		return MBOX_IO;
	}
	close(fd);
	buf_release(&b);
	return MBOX_OK;
}
