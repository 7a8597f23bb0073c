/*
 * faultinj: an LD_PRELOAD shim for the fault drill (tests/durability/
 * test_faults.py, docs/testing.md "Fault injection"). Not installed.
 *
 * It wraps the calls through which ternd makes a message durable (open
 * with O_CREAT, write and its kin, the syncs, rename, unlink, mkdir, link,
 * close) and looks only at calls on paths below TERN_FAULT_DIR (for
 * descriptors, the path /proc/self/fd/N names). Environment:
 *
 *   TERN_FAULT_DIR=/abs/dir   the data_dir; nothing else counts
 *   TERN_FAULT_LOG=/file      one line per counted call: "KIND N PID PATH"
 *                             (N: the call's index within its kind, from 1)
 *                             and " FAIL" appended when this call failed
 *   TERN_FAULT=KIND:N:ERR     the Nth call of KIND fails once, with ERR one
 *                             of EIO ENOSPC EDQUOT EINTR, or SHORT (a write
 *                             that writes half and returns that)
 *
 * KIND is one of open write fsync fdatasync syncfs sync_file_range rename
 * unlink mkdir link close ("write" covers write, pwrite, writev and
 * copy_file_range). Counters are per process: the keeper, forked from
 * ternd, inherits the shim but touches nothing below the data_dir.
 *
 * The log is written with raw system calls on a descriptor opened before
 * main (so neither the sandbox nor the wrappers get in the way); each
 * line is one write(2) to an O_APPEND file, so threads do not interleave.
 */
/* The plain and the 64 names are separate symbols here: both are wrapped. */
#undef _FILE_OFFSET_BITS

#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind {
	K_OPEN, K_WRITE, K_FSYNC, K_FDATASYNC, K_SYNCFS, K_SFR, K_RENAME,
	K_UNLINK, K_MKDIR, K_LINK, K_CLOSE, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"open", "write", "fsync", "fdatasync", "syncfs", "sync_file_range",
	"rename", "unlink", "mkdir", "link", "close",
};

/* Set once by the constructor, before any thread exists; read-only after. */
static struct {
	char dir[PATH_MAX];       /* TERN_FAULT_DIR as given */
	char real[PATH_MAX];      /* and resolved */
	size_t dirlen, reallen;
	int logfd;                /* -1: no log */
	int fail_kind;            /* -1: count only */
	long fail_n;
	int fail_err;             /* 0: a short write */
	bool active;
} cfg = { .logfd = -1, .fail_kind = -1 };

static atomic_long counters[K_COUNT];

static int
parse_kind(const char *s, size_t len)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strlen(kind_names[k]) == len && memcmp(kind_names[k], s, len) == 0)
			return k;
	return -1;
}

static void
parse_fault(const char *spec)
{
	const char *c1 = strchr(spec, ':'), *c2;
	char *end;
	int k;

	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
		return;
	if ((k = parse_kind(spec, (size_t)(c1 - spec))) < 0)
		return;
	cfg.fail_n = strtol(c1 + 1, &end, 10);
	if (end != c2 || cfg.fail_n < 1)
		return;
	if (strcmp(c2 + 1, "EIO") == 0)
		cfg.fail_err = EIO;
	else if (strcmp(c2 + 1, "ENOSPC") == 0)
		cfg.fail_err = ENOSPC;
	else if (strcmp(c2 + 1, "EDQUOT") == 0)
		cfg.fail_err = EDQUOT;
	else if (strcmp(c2 + 1, "EINTR") == 0)
		cfg.fail_err = EINTR;
	else if (strcmp(c2 + 1, "SHORT") == 0)
		cfg.fail_err = 0;
	else
		return;
	cfg.fail_kind = k;
}

__attribute__((constructor)) static void
faultinj_init(void)
{
	const char *dir = getenv("TERN_FAULT_DIR");
	const char *log = getenv("TERN_FAULT_LOG");
	const char *fault = getenv("TERN_FAULT");

	if (dir == NULL || dir[0] != '/' || strlen(dir) >= sizeof(cfg.dir))
		return;
	strcpy(cfg.dir, dir);
	cfg.dirlen = strlen(cfg.dir);
	while (cfg.dirlen > 1 && cfg.dir[cfg.dirlen - 1] == '/')
		cfg.dir[--cfg.dirlen] = '\0';
	if (realpath(cfg.dir, cfg.real) != NULL)
		cfg.reallen = strlen(cfg.real);
	if (log != NULL && log[0] != '\0')
		cfg.logfd = (int)syscall(SYS_openat, AT_FDCWD, log,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fault != NULL && fault[0] != '\0')
		parse_fault(fault);
	cfg.active = true;
}

static bool
under(const char *p, const char *dir, size_t len)
{
	return len > 0 && strncmp(p, dir, len) == 0 && (p[len] == '/' || p[len] == '\0');
}

static bool
watched(const char *p)
{
	return under(p, cfg.dir, cfg.dirlen) || under(p, cfg.real, cfg.reallen);
}

/* The path of descriptor fd (AT_FDCWD: the working directory) into out;
 * false when it cannot be told. Raw readlinkat: no wrapper, no libc state. */
static bool
fd_path(int fd, char *out, size_t cap)
{
	char proc[64];
	long n;

	if (fd == AT_FDCWD)
		snprintf(proc, sizeof(proc), "/proc/self/cwd");
	else
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlinkat, AT_FDCWD, proc, out, cap - 1);
	if (n <= 0)
		return false;
	out[n] = '\0';
	return true;
}

/* The absolute path of (dirfd, path) into out; false when unknown. */
static bool
at_path(int dirfd, const char *path, char *out, size_t cap)
{
	size_t len;

	if (path == NULL)
		return false;
	if (path[0] == '/') {
		if (strlen(path) >= cap)
			return false;
		strcpy(out, path);
		return true;
	}
	if (!fd_path(dirfd, out, cap))
		return false;
	len = strlen(out);
	return snprintf(out + len, cap - len, "/%s", path) < (int)(cap - len);
}

static void
log_call(enum kind k, long n, const char *path, bool failed)
{
	char line[PATH_MAX + 128];
	int len;

	if (cfg.logfd < 0)
		return;
	len = snprintf(line, sizeof(line), "%s %ld %ld %s%s\n", kind_names[k], n,
	    (long)syscall(SYS_getpid), path, failed ? " FAIL" : "");
	if (len > 0 && (size_t)len < sizeof(line))
		(void)syscall(SYS_write, cfg.logfd, line, (size_t)len);
}

/*
 * Counts a call of kind k on path (NULL: not watched); returns the errno to
 * fail it with, 0 to let it through, or -1 for a short write.
 */
static int
decide(enum kind k, const char *path)
{
	long n;
	int verdict = 0;

	if (!cfg.active || path == NULL || !watched(path))
		return 0;
	n = atomic_fetch_add(&counters[k], 1) + 1;
	if ((int)k == cfg.fail_kind && n == cfg.fail_n)
		verdict = cfg.fail_err == 0 ? (k == K_WRITE ? -1 : EIO) : cfg.fail_err;
	log_call(k, n, path, verdict != 0);
	return verdict;
}

static int
decide_fd(enum kind k, int fd)
{
	char p[PATH_MAX];

	if (!cfg.active)
		return 0;
	return decide(k, fd_path(fd, p, sizeof(p)) ? p : NULL);
}

static int
decide_at(enum kind k, int dirfd, const char *path)
{
	char p[PATH_MAX];

	if (!cfg.active)
		return 0;
	return decide(k, at_path(dirfd, path, p, sizeof(p)) ? p : NULL);
}

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define FAIL_WITH(v) do { errno = (v); return -1; } while (0)

/* ---------------------------------------------------------------- open -- */

static int
open_common(int dirfd, const char *path, int flags, mode_t mode,
    int (*real)(int, const char *, int, ...))
{
	int v;

	if ((flags & O_CREAT) && (v = decide_at(K_OPEN, dirfd, path)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real(dirfd, path, flags, mode);
}

static mode_t
mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	REAL(openat);

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode, real_openat);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	REAL(openat64);

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode, real_openat64);
}

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	REAL(openat);

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode, real_openat);
}

int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	REAL(openat64);

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode, real_openat64);
}

/* _FORTIFY_SOURCE's checked entries (no O_CREAT: no mode, nothing counted). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int
__open_2(const char *path, int flags)
{
	REAL(__open_2);
	return real___open_2(path, flags);
}

int
__open64_2(const char *path, int flags)
{
	REAL(__open64_2);
	return real___open64_2(path, flags);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	REAL(__openat_2);
	return real___openat_2(dirfd, path, flags);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
	REAL(__openat64_2);
	return real___openat64_2(dirfd, path, flags);
}

/* --------------------------------------------------------------- write -- */

ssize_t
write(int fd, const void *b, size_t n)
{
	int v;
	REAL(write);

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	return real_write(fd, b, v < 0 && n > 1 ? n / 2 : n);
}

ssize_t
pwrite(int fd, const void *b, size_t n, off_t off)
{
	int v;
	REAL(pwrite);

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	return real_pwrite(fd, b, v < 0 && n > 1 ? n / 2 : n, off);
}

ssize_t
pwrite64(int fd, const void *b, size_t n, off64_t off)
{
	int v;
	REAL(pwrite64);

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	return real_pwrite64(fd, b, v < 0 && n > 1 ? n / 2 : n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	int v;
	REAL(writev);
	REAL(write);

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	if (v < 0 && cnt > 0) {
		/* Short: half of the whole, which may end inside any buffer. */
		size_t total = 0, half, done = 0;
		for (int i = 0; i < cnt; i++)
			total += iov[i].iov_len;
		half = total / 2;
		for (int i = 0; i < cnt && done < half; i++) {
			size_t take = iov[i].iov_len < half - done ? iov[i].iov_len : half - done;
			ssize_t w = real_write(fd, iov[i].iov_base, take);
			if (w < 0)
				return done > 0 ? (ssize_t)done : -1;
			done += (size_t)w;
			if ((size_t)w < take)
				break;
		}
		return (ssize_t)done;
	}
	return real_writev(fd, iov, cnt);
}

ssize_t
copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned int flags)
{
	int v;
	REAL(copy_file_range);

	if ((v = decide_fd(K_WRITE, out)) > 0)
		FAIL_WITH(v);
	return real_copy_file_range(in, inoff, out, outoff, v < 0 && n > 1 ? n / 2 : n, flags);
}

/* --------------------------------------------------------------- syncs -- */

int
fsync(int fd)
{
	int v;
	REAL(fsync);

	if ((v = decide_fd(K_FSYNC, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	int v;
	REAL(fdatasync);

	if ((v = decide_fd(K_FDATASYNC, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_fdatasync(fd);
}

int
syncfs(int fd)
{
	int v;
	REAL(syncfs);

	if ((v = decide_fd(K_SYNCFS, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_syncfs(fd);
}

int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	int v;
	REAL(sync_file_range);

	if ((v = decide_fd(K_SFR, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_sync_file_range(fd, off, n, flags);
}

/* ------------------------------------------------------- names, close -- */

int
rename(const char *a, const char *b)
{
	int v;
	REAL(rename);

	if ((v = decide_at(K_RENAME, AT_FDCWD, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_rename(a, b);
}

int
renameat(int da, const char *a, int db, const char *b)
{
	int v;
	REAL(renameat);

	if ((v = decide_at(K_RENAME, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_renameat(da, a, db, b);
}

int
renameat2(int da, const char *a, int db, const char *b, unsigned int flags)
{
	int v;
	REAL(renameat2);

	if ((v = decide_at(K_RENAME, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_renameat2(da, a, db, b, flags);
}

int
unlink(const char *p)
{
	int v;
	REAL(unlink);

	if ((v = decide_at(K_UNLINK, AT_FDCWD, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_unlink(p);
}

int
unlinkat(int d, const char *p, int flags)
{
	int v;
	REAL(unlinkat);

	if ((v = decide_at(K_UNLINK, d, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_unlinkat(d, p, flags);
}

int
mkdir(const char *p, mode_t mode)
{
	int v;
	REAL(mkdir);

	if ((v = decide_at(K_MKDIR, AT_FDCWD, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_mkdir(p, mode);
}

int
mkdirat(int d, const char *p, mode_t mode)
{
	int v;
	REAL(mkdirat);

	if ((v = decide_at(K_MKDIR, d, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_mkdirat(d, p, mode);
}

int
link(const char *a, const char *b)
{
	int v;
	REAL(link);

	if ((v = decide_at(K_LINK, AT_FDCWD, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_link(a, b);
}

int
linkat(int da, const char *a, int db, const char *b, int flags)
{
	int v;
	REAL(linkat);

	if ((v = decide_at(K_LINK, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return real_linkat(da, a, db, b, flags);
}

/* Linux releases the descriptor even when close reports an error: do the
 * close, then report the injected one. */
int
close(int fd)
{
	int v, r;
	REAL(close);

	v = decide_fd(K_CLOSE, fd);
	r = real_close(fd);
	if (v != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	return r;
}
