/*
 * dmarc_log: appending DMARC result lines (see dmarc_log.h).
 */
#include "dmarc_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"

int
dmarc_log_path(const char *data_dir, int64_t t, char *out, size_t outsize)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int n;

	if (gmtime_r(&tt, &tm) == NULL)
		return -1;
	n = snprintf(out, outsize, "%s/dmarc/%04d-%02d-%02d.log", data_dir,
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

int
dmarc_log_append(const char *data_dir, const struct dmarc_report_result *r)
{
	struct buf line = BUF_INIT;
	char path[4096];
	int fd, rc = -1, err;

	if (dmarc_log_path(data_dir, r->time, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (dmarc_report_line_write(r, &line) == -1) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1 && errno == ENOENT) {
		/* The first result: make DATA_DIR/dmarc. */
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s/dmarc", data_dir);
		if (mkdir(dir, 0750) == 0 || errno == EEXIST)
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	}
	if (fd != -1) {
		rc = fileio_write_all(fd, line.data, line.len);
		err = errno;
		close(fd);
		errno = err;
	}
	buf_release(&line);
	return rc;
}
