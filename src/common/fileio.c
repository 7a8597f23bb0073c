/*
 * fileio: see fileio.h.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fileio_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
fileio_read_all(int fd, struct buf *out)
{
	for (;;) {
		ssize_t r;

		if (buf_reserve(out, 4096) == -1) {
			errno = ENOMEM;
			return -1;
		}
		r = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (r == 0)
			return 0;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		out->len += (size_t)r;
		out->data[out->len] = '\0';
	}
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
fileio_mkdirs(const char *dir)
{
	char path[1024], *slash;
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0700) == 0) {
		memcpy(path, dir, n + 1);
		if ((slash = strrchr(path, '/')) != NULL && slash != path) {
			*slash = '\0';
			return fsync_dir(path);
		}
		return fsync_dir(".");
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	memcpy(path, dir, n + 1);
	if ((slash = strrchr(path, '/')) == NULL || slash == path)
		return -1;
	*slash = '\0';
	if (fileio_mkdirs(path) == -1)
		return -1;
	return fileio_mkdirs(dir);
}

int
fileio_copy_range(int src, off_t off, int dst, uint64_t len)
{
	char buf[65536];

	while (len > 0) {
		ssize_t n = copy_file_range(src, &off, dst, NULL, len, 0);

		if (n > 0) {
			len -= (uint64_t)n;
			continue;
		}
		if (n == 0) {
			errno = EIO;   /* the source is shorter than promised */
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -1;
		/* Fallback for filesystems without copy_file_range. */
		while (len > 0) {
			size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
			ssize_t r = pread(src, buf, want, off);

			if (r <= 0) {
				if (r == -1 && errno == EINTR)
					continue;
				if (r == 0)
					errno = EIO;
				return -1;
			}
			if (fileio_write_all(dst, buf, (size_t)r) == -1)
				return -1;
			off += r;
			len -= (uint64_t)r;
		}
	}
	return 0;
}
