/*
 * store_maint: a user's Maildir kept in shape at login: the standard
 * Maildir++ folders and their subscriptions made once, and tmp/ cleaned
 * of files no writer will finish (docs/mailbox.md).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char *const default_folders[] = { "Drafts", "Sent", "Trash", "Junk", "Archive" };

enum mbox_err
mbox_create_defaults(const char *root)
{
	char path[MBOX_PATH_MAX];
	struct buf add = BUF_INIT;
	enum mbox_err err;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
		if ((err = mbox_folder_create(root, default_folders[i])) == MBOX_EXISTS)
			continue;
		if (err != MBOX_OK) {
			buf_release(&add);
			return err;
		}
		buf_printf(&add, "%s\n", default_folders[i]);
	}
	if (add.len == 0)
		return MBOX_OK;
	/* Subscribed once, when created: a user who unsubscribes later is
	 * not overridden. */
	if (store_path(path, sizeof(path), root, NULL, "subscriptions") == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) != -1) {
		(void)fileio_write_all(fd, add.data, add.len);
		close(fd);
	}
	buf_release(&add);
	return MBOX_OK;
}

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

	if (store_path(path, sizeof(path), dir, "tmp", NULL) == -1 || (d = opendir(path)) == NULL)
		return 0;
	/* ternd names its files by its hostname setting; other programs on
	 * this machine (Dovecot's LDA and LMTP) by the system's name. */
	store_this_host(sys_host, sizeof(sys_host));
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
