/*
 * directory_file: directory_load, which opens the users and aliases files
 * and hands the streams to directory_load_files (directory.c, pure).
 */
#include "directory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct directory *
directory_load(const char *users_path, const char *aliases_path,
    struct buf *errs)
{
	struct directory *d;
	FILE *u, *a = NULL;

	if ((u = fopen(users_path, "r")) == NULL) {
		buf_printf(errs, "%s: %s\n", users_path, strerror(errno));
		return NULL;
	}
	if ((a = fopen(aliases_path, "r")) == NULL && errno != ENOENT) {
		buf_printf(errs, "%s: %s\n", aliases_path, strerror(errno));
		fclose(u);
		return NULL;
	}
	d = directory_load_files(u, users_path, a, aliases_path, errs);
	fclose(u);
	if (a)
		fclose(a);
	return d;
}
