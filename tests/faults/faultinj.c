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
 *   TERN_FAULT_RECORD=/file   the power-loss drill's recording (tests/
 *                             durability/powerloss.py): every change that
 *                             succeeded below the data_dir, with the data
 *                             written, and each "queued as ID" ternd sent
 *                             on a socket; see "Recording" below
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
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
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
	int recfd;                /* -1: not recording */
	int fail_kind;            /* -1: count only */
	long fail_n;
	int fail_err;             /* 0: a short write */
	bool active;
} cfg = { .logfd = -1, .recfd = -1, .fail_kind = -1 };

static atomic_long counters[K_COUNT];

static void rec_fork_prepare(void);
static void rec_fork_done(void);

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
	const char *rec = getenv("TERN_FAULT_RECORD");

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
	if (rec != NULL && rec[0] != '\0')
		cfg.recfd = (int)syscall(SYS_openat, AT_FDCWD, rec,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (cfg.recfd >= 0)
		pthread_atfork(rec_fork_prepare, rec_fork_done, rec_fork_done);
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

/* ----------------------------------------------------------- Recording --
 *
 * One record per change that succeeded, appended after the call returned
 * (so a change is in the file before anything that depends on it can
 * happen: an acknowledgement, another thread's sync of the same file):
 *
 *   C INO MODE UID GID PATH    open(O_CREAT) of PATH gave inode INO
 *   W INO OFF LEN\n + LEN octets   data written at OFF (write, pwrite,
 *                               writev, copy_file_range: read back)
 *   T INO SIZE                  truncated (ftruncate, O_TRUNC)
 *   S INO                       fsync of INO (file or directory): its data,
 *                               its names and its inode (mode, owner, times)
 *   Y INO                       fdatasync of INO: its data, not its inode
 *   A                           syncfs: everything
 *   N FLAGS OLD\tNEW            rename (renameat2's flags)
 *   L OLD\tNEW                  link
 *   U PATH / D PATH             unlink / rmdir
 *   M INO MODE UID GID PATH     mkdir
 *   P INO MODE UID GID          chmod, chown and their kin: the inode's
 *                               mode and owner, read back
 *   I INO SEC NSEC              futimens, utimensat: the mtime, read back
 *   K ID                        "queued as ID" (SMTP) or "delivered as ID"
 *                               (LMTP) about to go out on a socket
 *   K A<UIDVALIDITY>.<UID>      and an IMAP APPEND's "[APPENDUID V UID]"
 *
 * Each record is one writev(2) to an O_APPEND file: whole, in the order
 * the calls completed, whatever the thread or the process. Recording, a
 * change and its record are made under one lock (rec_begin, rec_end), so
 * that no thread can see a change (a new directory, say) and record its
 * own use of it before the change's record is in: the file's order is
 * the order of the changes. The lock is a mutex for the threads and an
 * flock(2) of the recording for the processes (tern-sendmail renames a
 * file into the maildrop; ternd's pickup must not read it and record
 * its queue file before that rename's record is in).
 */

static bool
recording(void)
{
	return cfg.active && cfg.recfd >= 0;
}

/* The watched path of fd into p, or false. */
static bool
rec_fd_path(int fd, char *p, size_t cap)
{
	return fd_path(fd, p, cap) && watched(p);
}

static bool
rec_stat_fd(int fd, struct stat *st)
{
	return syscall(SYS_fstat, fd, st) == 0;
}

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;

static bool
rec_begin(void)
{
	if (!recording())
		return false;
	pthread_mutex_lock(&rec_mu);
	(void)syscall(SYS_flock, cfg.recfd, LOCK_EX);
	return true;
}

/* The same for a write on fd: only when fd is a file below the data_dir.
 * A signal handler writes to its pipe through these wrappers (libevent's),
 * and must not wait for a lock the thread it interrupted holds. */
static bool
rec_begin_fd(int fd)
{
	char p[PATH_MAX];

	return recording() && rec_fd_path(fd, p, sizeof(p)) && rec_begin();
}

static void
rec_end(bool held)
{
	int err = errno;

	if (held) {
		(void)syscall(SYS_flock, cfg.recfd, LOCK_UN);
		pthread_mutex_unlock(&rec_mu);
	}
	errno = err;
}

/* A fork while another thread holds the lock must not leave the child
 * with it held. */
static void
rec_fork_prepare(void)
{
	pthread_mutex_lock(&rec_mu);
}

static void
rec_fork_done(void)
{
	pthread_mutex_unlock(&rec_mu);
}

static void
rec_emit(const char *head, int headlen, const void *data, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)head, .iov_len = (size_t)headlen },
		{ .iov_base = (void *)data, .iov_len = len },
	};

	if (headlen > 0 && headlen < PATH_MAX * 2 + 128)
		(void)syscall(SYS_writev, cfg.recfd, iov, len > 0 ? 2 : 1);
}

static void
rec_line(const char *fmt, ...)
{
	char line[PATH_MAX * 2 + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		rec_emit(line, n, NULL, 0);
}

/* A new or reopened file: C, and T when it was truncated. */
static void
rec_open(int fd, int flags)
{
	char p[PATH_MAX];
	struct stat st;

	if (!recording() || fd < 0 || !(flags & (O_CREAT | O_TRUNC)) ||
	    !rec_fd_path(fd, p, sizeof(p)) || !rec_stat_fd(fd, &st) || !S_ISREG(st.st_mode))
		return;
	rec_line("C %lu %o %u %u %s\n", (unsigned long)st.st_ino, (unsigned)st.st_mode & 07777,
	    (unsigned)st.st_uid, (unsigned)st.st_gid, p);
	if (flags & O_TRUNC)
		rec_line("T %lu 0\n", (unsigned long)st.st_ino);
}

/* Whether b[i..n) starts with the string key; i is moved past it if so. */
static bool
rec_skip(const char *b, size_t n, size_t *i, const char *key)
{
	size_t len = strlen(key);

	if (*i + len > n || memcmp(b + *i, key, len) != 0)
		return false;
	*i += len;
	return true;
}

/* An acknowledgement about to go out: a socket's data saying "queued as
 * ID" (SMTP), "delivered as ID" (LMTP) or "[APPENDUID V UID]" (IMAP, in
 * the clear). */
static void
rec_socket(int fd, const char *b, size_t n)
{
	struct stat st;
	size_t i, j, k;

	if (!recording() || !rec_stat_fd(fd, &st) || !S_ISSOCK(st.st_mode))
		return;
	for (i = 0; i < n; i++) {
		if (rec_skip(b, n, &i, "queued as ") || rec_skip(b, n, &i, "delivered as ")) {
			for (j = i; j < n && b[j] != '\r' && b[j] != '\n' && b[j] != ' '; j++)
				;
			rec_line("K %.*s\n", (int)(j - i), b + i);
		} else if (rec_skip(b, n, &i, "[APPENDUID ")) {
			for (j = i; j < n && b[j] != ' ' && b[j] != ']'; j++)
				;
			for (k = j + 1; k < n && b[k] != ']'; k++)
				;
			if (k < n)
				rec_line("K A%.*s.%.*s\n", (int)(j - i), b + i, (int)(k - j - 1), b + j + 1);
		}
	}
}

static void
rec_socket_iov(int fd, const struct iovec *iov, int cnt)
{
	for (int i = 0; i < cnt; i++)
		rec_socket(fd, iov[i].iov_base, iov[i].iov_len);
}

/* n octets now at off in fd's file; data is NULL when they must be read
 * from src at srcoff (copy_file_range: fd is often write-only). */
static void
rec_write_from(int fd, const void *data, size_t n, off_t off, int src, off_t srcoff)
{
	char p[PATH_MAX], head[128], *copy = NULL;
	struct stat st;
	int len;

	if (!recording() || n == 0 || !rec_fd_path(fd, p, sizeof(p)) ||
	    !rec_stat_fd(fd, &st) || !S_ISREG(st.st_mode))
		return;
	if (data == NULL) {
		if ((copy = malloc(n)) == NULL ||
		    syscall(SYS_pread64, src, copy, n, srcoff) != (long)n) {
			free(copy);
			return;
		}
		data = copy;
	}
	len = snprintf(head, sizeof(head), "W %lu %lld %zu\n", (unsigned long)st.st_ino,
	    (long long)off, n);
	rec_emit(head, len, data, n);
	free(copy);
}

static void
rec_write(int fd, const void *data, size_t n, off_t off)
{
	rec_write_from(fd, data, n, off, -1, 0);
}

/* After a write(2) kind of call: where it wrote is where the offset is now,
 * less what it wrote (O_APPEND too). */
static void
rec_write_here(int fd, const void *data, ssize_t n)
{
	off_t end;

	if (!recording() || n <= 0)
		return;
	if ((end = (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR)) < n)
		return;
	rec_write(fd, data, (size_t)n, end - n);
}

static void
rec_writev(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
	char *flat;
	size_t done = 0;

	if (!recording() || n <= 0 || (flat = malloc((size_t)n)) == NULL)
		return;
	for (int i = 0; i < cnt && done < (size_t)n; i++) {
		size_t take = iov[i].iov_len < (size_t)n - done ? iov[i].iov_len : (size_t)n - done;
		memcpy(flat + done, iov[i].iov_base, take);
		done += take;
	}
	rec_write_here(fd, flat, n);
	free(flat);
}

static void
rec_fd_op(int fd, const char *op, long long arg, bool with_arg)
{
	char p[PATH_MAX];
	struct stat st;

	if (!recording() || !rec_fd_path(fd, p, sizeof(p)) || !rec_stat_fd(fd, &st))
		return;
	if (with_arg)
		rec_line("%s %lu %lld\n", op, (unsigned long)st.st_ino, arg);
	else
		rec_line("%s %lu\n", op, (unsigned long)st.st_ino);
}

/* A change of names: op with one path, or two (tab between). */
static void
rec_names(const char *op, int da, const char *a, int db, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX];

	if (!recording() || !at_path(da, a, pa, sizeof(pa)) || !watched(pa))
		return;
	if (b == NULL)
		rec_line("%s %s\n", op, pa);
	else if (at_path(db, b, pb, sizeof(pb)))
		rec_line("%s %s\t%s\n", op, pa, pb);
}

static void
rec_mkdir(int d, const char *path)
{
	char p[PATH_MAX];
	struct stat st;

	if (!recording() || !at_path(d, path, p, sizeof(p)) || !watched(p) ||
	    syscall(SYS_newfstatat, AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	rec_line("M %lu %o %u %u %s\n", (unsigned long)st.st_ino, (unsigned)st.st_mode & 07777,
	    (unsigned)st.st_uid, (unsigned)st.st_gid, p);
}

/* A name change's result, recorded when it succeeded. */
static int
rec_done(bool held, int rc, const char *op, int da, const char *a, int db, const char *b)
{
	if (rc == 0) {
		int err = errno;

		rec_names(op, da, a, db, b);
		errno = err;
	}
	rec_end(held);
	return rc;
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
	int v, fd;
	bool held;

	if ((flags & O_CREAT) && (v = decide_at(K_OPEN, dirfd, path)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	fd = real(dirfd, path, flags, mode);
	rec_open(fd, flags);
	rec_end(held);
	return fd;
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

	ssize_t r;
	bool held;

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	rec_socket(fd, b, n);
	held = rec_begin_fd(fd);
	r = real_write(fd, b, v < 0 && n > 1 ? n / 2 : n);
	rec_write_here(fd, b, r);
	rec_end(held);
	return r;
}

ssize_t
pwrite(int fd, const void *b, size_t n, off_t off)
{
	int v;
	REAL(pwrite);

	ssize_t r;
	bool held;

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	held = rec_begin_fd(fd);
	r = real_pwrite(fd, b, v < 0 && n > 1 ? n / 2 : n, off);
	if (r > 0)
		rec_write(fd, b, (size_t)r, off);
	rec_end(held);
	return r;
}

ssize_t
pwrite64(int fd, const void *b, size_t n, off64_t off)
{
	int v;
	REAL(pwrite64);

	ssize_t r;
	bool held;

	if ((v = decide_fd(K_WRITE, fd)) > 0)
		FAIL_WITH(v);
	held = rec_begin_fd(fd);
	r = real_pwrite64(fd, b, v < 0 && n > 1 ? n / 2 : n, off);
	if (r > 0)
		rec_write(fd, b, (size_t)r, off);
	rec_end(held);
	return r;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	int v;
	ssize_t r;
	bool held;
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
			bool held = rec_begin_fd(fd);
			ssize_t w = real_write(fd, iov[i].iov_base, take);

			rec_write_here(fd, iov[i].iov_base, w);
			rec_end(held);
			if (w < 0)
				return done > 0 ? (ssize_t)done : -1;
			done += (size_t)w;
			if ((size_t)w < take)
				break;
		}
		return (ssize_t)done;
	}
	rec_socket_iov(fd, iov, cnt);
	held = rec_begin_fd(fd);
	r = real_writev(fd, iov, cnt);
	rec_writev(fd, iov, cnt, r);
	rec_end(held);
	return r;
}

ssize_t
copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned int flags)
{
	int v;
	REAL(copy_file_range);

	off64_t at = -1, from = -1;
	ssize_t r;
	bool held;

	if ((v = decide_fd(K_WRITE, out)) > 0)
		FAIL_WITH(v);
	held = rec_begin_fd(out);
	if (held) {
		at = outoff != NULL ? *outoff : (off64_t)syscall(SYS_lseek, out, 0, SEEK_CUR);
		from = inoff != NULL ? *inoff : (off64_t)syscall(SYS_lseek, in, 0, SEEK_CUR);
	}
	r = real_copy_file_range(in, inoff, out, outoff, v < 0 && n > 1 ? n / 2 : n, flags);
	if (r > 0 && at >= 0 && from >= 0)
		rec_write_from(out, NULL, (size_t)r, at, in, from);
	rec_end(held);
	return r;
}

/* --------------------------------------------------------------- syncs -- */

int
fsync(int fd)
{
	int v;
	bool held;
	REAL(fsync);

	if ((v = decide_fd(K_FSYNC, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	if (real_fsync(fd) == -1) {
		rec_end(held);
		return -1;
	}
	rec_fd_op(fd, "S", 0, false);
	rec_end(held);
	return 0;
}

int
fdatasync(int fd)
{
	int v;
	bool held;
	REAL(fdatasync);

	if ((v = decide_fd(K_FDATASYNC, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	if (real_fdatasync(fd) == -1) {
		rec_end(held);
		return -1;
	}
	rec_fd_op(fd, "Y", 0, false);
	rec_end(held);
	return 0;
}

int
syncfs(int fd)
{
	int v;
	bool held;
	REAL(syncfs);

	if ((v = decide_fd(K_SYNCFS, fd)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	if (real_syncfs(fd) == -1) {
		rec_end(held);
		return -1;
	}
	if (held)
		rec_line("A\n");
	rec_end(held);
	return 0;
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
	bool held;
	REAL(rename);

	if ((v = decide_at(K_RENAME, AT_FDCWD, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_rename(a, b), "N 0", AT_FDCWD, a, AT_FDCWD, b);
}

int
renameat(int da, const char *a, int db, const char *b)
{
	int v;
	bool held;
	REAL(renameat);

	if ((v = decide_at(K_RENAME, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_renameat(da, a, db, b), "N 0", da, a, db, b);
}

int
renameat2(int da, const char *a, int db, const char *b, unsigned int flags)
{
	int v;
	bool held;
	REAL(renameat2);

	char op[16];

	if ((v = decide_at(K_RENAME, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	snprintf(op, sizeof(op), "N %u", flags);
	held = rec_begin();
	return rec_done(held, real_renameat2(da, a, db, b, flags), op, da, a, db, b);
}

int
unlink(const char *p)
{
	int v;
	bool held;
	REAL(unlink);

	if ((v = decide_at(K_UNLINK, AT_FDCWD, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_unlink(p), "U", AT_FDCWD, p, AT_FDCWD, NULL);
}

int
unlinkat(int d, const char *p, int flags)
{
	int v;
	bool held;
	REAL(unlinkat);

	if ((v = decide_at(K_UNLINK, d, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_unlinkat(d, p, flags), flags & AT_REMOVEDIR ? "D" : "U", d, p,
	    AT_FDCWD, NULL);
}

int
mkdir(const char *p, mode_t mode)
{
	int v;
	bool held;
	REAL(mkdir);

	if ((v = decide_at(K_MKDIR, AT_FDCWD, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	if (real_mkdir(p, mode) == -1) {
		rec_end(held);
		return -1;
	}
	rec_mkdir(AT_FDCWD, p);
	rec_end(held);
	return 0;
}

int
mkdirat(int d, const char *p, mode_t mode)
{
	int v;
	bool held;
	REAL(mkdirat);

	if ((v = decide_at(K_MKDIR, d, p)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	if (real_mkdirat(d, p, mode) == -1) {
		rec_end(held);
		return -1;
	}
	rec_mkdir(d, p);
	rec_end(held);
	return 0;
}

int
link(const char *a, const char *b)
{
	int v;
	bool held;
	REAL(link);

	if ((v = decide_at(K_LINK, AT_FDCWD, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_link(a, b), "L", AT_FDCWD, a, AT_FDCWD, b);
}

int
linkat(int da, const char *a, int db, const char *b, int flags)
{
	int v;
	bool held;
	REAL(linkat);

	if ((v = decide_at(K_LINK, da, a)) != 0)
		FAIL_WITH(v > 0 ? v : EIO);
	held = rec_begin();
	return rec_done(held, real_linkat(da, a, db, b, flags), "L", da, a, db, b);
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

/* --------------------------------------- recorded only, never failed -- */

int
rmdir(const char *p)
{
	bool held;
	REAL(rmdir);

	held = rec_begin();
	return rec_done(held, real_rmdir(p), "D", AT_FDCWD, p, AT_FDCWD, NULL);
}

int
ftruncate(int fd, off_t len)
{
	REAL(ftruncate);

	bool held = rec_begin();

	if (real_ftruncate(fd, len) == -1) {
		rec_end(held);
		return -1;
	}
	rec_fd_op(fd, "T", (long long)len, true);
	rec_end(held);
	return 0;
}

int
ftruncate64(int fd, off64_t len)
{
	REAL(ftruncate64);

	bool held = rec_begin();

	if (real_ftruncate64(fd, len) == -1) {
		rec_end(held);
		return -1;
	}
	rec_fd_op(fd, "T", (long long)len, true);
	rec_end(held);
	return 0;
}

ssize_t
send(int fd, const void *b, size_t n, int flags)
{
	REAL(send);

	rec_socket(fd, b, n);
	return real_send(fd, b, n, flags);
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(sendmsg);

	if (m != NULL)
		rec_socket_iov(fd, m->msg_iov, (int)m->msg_iovlen);
	return real_sendmsg(fd, m, flags);
}

/* A change of an inode's mode, owner or times (what = 'P' or 'I'): its
 * number and the new values, read back. */
static int
rec_meta(bool held, int rc, char what, int fd, int dirfd, const char *path, int atflags)
{
	char p[PATH_MAX];
	struct stat st;
	int err = errno;

	if (rc != 0 || !recording()) {
		rec_end(held);
		return rc;
	}
	if (path == NULL ? rec_fd_path(fd, p, sizeof(p)) && rec_stat_fd(fd, &st) :
	    at_path(dirfd, path, p, sizeof(p)) && watched(p) &&
	    syscall(SYS_newfstatat, AT_FDCWD, p, &st, atflags & AT_SYMLINK_NOFOLLOW) == 0) {
		if (what == 'P')
			rec_line("P %lu %o %u %u\n", (unsigned long)st.st_ino,
			    (unsigned)st.st_mode & 07777, (unsigned)st.st_uid, (unsigned)st.st_gid);
		else
			rec_line("I %lu %lld %ld\n", (unsigned long)st.st_ino,
			    (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	}
	rec_end(held);
	errno = err;
	return rc;
}

int
fchmod(int fd, mode_t mode)
{
	REAL(fchmod);
	bool held = rec_begin();

	return rec_meta(held, real_fchmod(fd, mode), 'P', fd, -1, NULL, 0);
}

int
chmod(const char *path, mode_t mode)
{
	REAL(chmod);
	bool held = rec_begin();

	return rec_meta(held, real_chmod(path, mode), 'P', -1, AT_FDCWD, path, 0);
}

int
fchmodat(int d, const char *path, mode_t mode, int flags)
{
	REAL(fchmodat);
	bool held = rec_begin();

	return rec_meta(held, real_fchmodat(d, path, mode, flags), 'P', -1, d, path, flags);
}

int
fchown(int fd, uid_t uid, gid_t gid)
{
	REAL(fchown);
	bool held = rec_begin();

	return rec_meta(held, real_fchown(fd, uid, gid), 'P', fd, -1, NULL, 0);
}

int
chown(const char *path, uid_t uid, gid_t gid)
{
	REAL(chown);
	bool held = rec_begin();

	return rec_meta(held, real_chown(path, uid, gid), 'P', -1, AT_FDCWD, path, 0);
}

int
lchown(const char *path, uid_t uid, gid_t gid)
{
	REAL(lchown);
	bool held = rec_begin();

	return rec_meta(held, real_lchown(path, uid, gid), 'P', -1, AT_FDCWD, path,
	    AT_SYMLINK_NOFOLLOW);
}

int
fchownat(int d, const char *path, uid_t uid, gid_t gid, int flags)
{
	REAL(fchownat);
	bool held = rec_begin();

	return rec_meta(held, real_fchownat(d, path, uid, gid, flags), 'P', -1, d, path, flags);
}

int
futimens(int fd, const struct timespec times[2])
{
	REAL(futimens);
	bool held = rec_begin();

	return rec_meta(held, real_futimens(fd, times), 'I', fd, -1, NULL, 0);
}

int
utimensat(int d, const char *path, const struct timespec times[2], int flags)
{
	REAL(utimensat);
	bool held = rec_begin();

	return rec_meta(held, real_utimensat(d, path, times, flags), 'I', -1, d, path, flags);
}
