/*
 * sandbox: privilege drop and Landlock (see sandbox.h).
 *
 * Landlock is used through its system calls with our own copies of the
 * kernel's structures: the ABI is stable, and Debian 12's headers stop at
 * ABI 2, before the TCP rules (ABI 4) and scopes (ABI 6) used here.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <seccomp.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

/* The kernel's Landlock ABI (include/uapi/linux/landlock.h). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;     /* ABI 4 */
	uint64_t scoped;                 /* ABI 6 */
};
struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port {
	uint64_t allowed_access;
	uint64_t port;
};
#define LL_CREATE_RULESET_VERSION 1U
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT     2

#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_ABI1        ((1ULL << 13) - 1)   /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER       (1ULL << 13)         /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14)         /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15)         /* ABI 5 */
#define LL_NET_CONNECT_TCP (1ULL << 1)         /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)     /* ABI 6 */
#define LL_SCOPE_SIGNAL   (1ULL << 1)

/* Rights that make sense on a file rather than a directory. */
#define LL_FS_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | \
	LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

int
sandbox_user_lookup(const char *name, struct sandbox_user *u, struct buf *errs)
{
	struct passwd *pw;

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0)
		return 0;
	if (name == NULL || name[0] == '\0')
		name = "tern";
	if ((pw = getpwnam(name)) == NULL) {
		buf_printf(errs, "run_as %s: no such user (create it, e.g. "
		    "`useradd --system --user-group --no-create-home --shell "
		    "/usr/sbin/nologin %s`, or set run_as)\n", name, name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		buf_printf(errs, "run_as %s: refusing to run as uid 0\n", name);
		return -1;
	}
	u->change = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof(u->name), "%s", name);
	return 0;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (st->st_uid == chown_uid && st->st_gid == chown_gid)
		return 0;
	return lchown(path, chown_uid, chown_gid) == -1 ? -1 : 0;
}

int
sandbox_chown(const struct sandbox_user *u, const char *path, bool recurse)
{
	struct stat st;

	if (!u->change)
		return 0;
	if (lstat(path, &st) == -1)
		return -1;
	if (!recurse)
		return (st.st_uid == u->uid && st.st_gid == u->gid) ? 0 :
		    lchown(path, u->uid, u->gid);
	/* Startup only, single-threaded: the statics are safe here. */
	chown_uid = u->uid;
	chown_gid = u->gid;
	return nftw(path, chown_one, 32, FTW_PHYS | FTW_MOUNT);
}

static int
caps_set(bool keep_dac_read)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (keep_dac_read) {
		d[0].effective = d[0].permitted = 1U << CAP_DAC_READ_SEARCH;
	}
	return (int)syscall(SYS_capset, &h, d);
}

int
sandbox_drop(const struct sandbox_user *u, bool keep_dac_read, bool dumpable,
    struct buf *errs)
{
	if (u->change) {
		if (keep_dac_read && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
			buf_printf(errs, "prctl(KEEPCAPS): %s\n", strerror(errno));
			return -1;
		}
		if (setgroups(1, &u->gid) == -1 || setresgid(u->gid, u->gid, u->gid) == -1 ||
		    setresuid(u->uid, u->uid, u->uid) == -1) {
			buf_printf(errs, "becoming %s: %s\n", u->name, strerror(errno));
			return -1;
		}
		/* Without KEEPCAPS the kernel has cleared every capability; with
		 * it, keep the one asked for and drop the rest. */
		if (keep_dac_read && caps_set(true) == -1) {
			buf_printf(errs, "capset: %s\n", strerror(errno));
			return -1;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
		if (setuid(0) != -1 || seteuid(0) != -1) {
			buf_printf(errs, "privileges could be regained after the drop\n");
			return -1;
		}
	}
	/* Ambient and bounding sets: nothing to gain through exec either. */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		buf_printf(errs, "prctl(NO_NEW_PRIVS): %s\n", strerror(errno));
		return -1;
	}
	/* Non-dumpable: no other process of this user may read our memory
	 * (the keeper's keys); the network process stays dumpable for cores. */
	prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0);
	return 0;
}

static int
add_path(int rs, const char *path, uint64_t access, struct buf *errs)
{
	struct ll_path_beneath pb;
	struct stat st;
	int fd;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		buf_printf(errs, "landlock: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FS_FILE_RIGHTS;
	pb.allowed_access = access;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) == -1) {
		buf_printf(errs, "landlock: rule for %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
sandbox_landlock(const struct sandbox_rules *r, struct buf *errs)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size, i;
	uint64_t fs_all, read_rights;
	long abi;
	int rs;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 0;   /* no Landlock in this kernel (or disabled) */
	fs_all = LL_FS_ABI1;
	if (abi >= 2)
		fs_all |= LL_FS_REFER;
	if (abi >= 3)
		fs_all |= LL_FS_TRUNCATE;
	if (abi >= 5)
		fs_all |= LL_FS_IOCTL_DEV;
	attr.handled_access_fs = fs_all;
	attr_size = sizeof(uint64_t);
	if (abi >= 4) {
		if (r->restrict_tcp)
			attr.handled_access_net = LL_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)) == -1) {
		buf_printf(errs, "landlock: create: %s\n", strerror(errno));
		return -1;
	}
	read_rights = LL_FS_READ_FILE | LL_FS_READ_DIR;
	for (i = 0; i < r->nread; i++) {
		if (add_path(rs, r->read[i], read_rights, errs) == -1)
			goto fail;
	}
	for (i = 0; i < r->nwrite; i++) {
		/* Execution is never needed below a data directory. */
		if (add_path(rs, r->write[i], fs_all & ~LL_FS_EXECUTE, errs) == -1)
			goto fail;
	}
	if (abi >= 4 && r->restrict_tcp) {
		for (i = 0; i < r->nports; i++) {
			struct ll_net_port np = { LL_NET_CONNECT_TCP, r->ports[i] };

			if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) == -1) {
				buf_printf(errs, "landlock: port %u: %s\n", r->ports[i], strerror(errno));
				goto fail;
			}
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_landlock_restrict_self, rs, 0) == -1) {
		buf_printf(errs, "landlock: restrict: %s\n", strerror(errno));
		goto fail;
	}
	close(rs);
	return (int)abi;
fail:
	close(rs);
	return -1;
}

/*
 * What neither process ever does, whatever an attacker makes of it: run a
 * program, look into another process, change the system or its own view of
 * it. A deny list (EPERM) rather than an allow list: OpenSSL, libunbound,
 * glibc and the sanitizers make system calls that vary by version, and an
 * allow list that misses one kills a mail server in production. Other
 * architectures' calls (i386 through int 0x80) kill the process.
 */
static const char *const denied_syscalls[] = {
	"execve", "execveat", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "move_mount",
	"open_tree", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "bpf", "keyctl", "add_key", "request_key", "unshare", "setns",
	"perf_event_open", "userfaultfd", "iopl", "ioperm", "reboot", "swapon",
	"swapoff", "acct", "syslog", "quotactl", "open_by_handle_at",
	"name_to_handle_at", "lookup_dcookie", "fanotify_init", "clock_settime",
	"settimeofday", "adjtimex", "clock_adjtime", "sethostname", "setdomainname",
	"vhangup", "uselib", "personality",
};

int
sandbox_seccomp(bool allow_ptrace, struct buf *errs)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		buf_printf(errs, "seccomp: init failed\n");
		return -1;
	}
	for (i = 0; i < sizeof(denied_syscalls) / sizeof(denied_syscalls[0]); i++) {
		int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;   /* not on this architecture */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0) {
			buf_printf(errs, "seccomp: %s: %s\n", denied_syscalls[i], strerror(-rc));
			seccomp_release(ctx);
			return -1;
		}
	}
	if (!allow_ptrace &&
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0)) < 0) {
		buf_printf(errs, "seccomp: ptrace: %s\n", strerror(-rc));
		seccomp_release(ctx);
		return -1;
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		seccomp_release(ctx);
		/* A kernel built without seccomp filters: as with Landlock,
		 * run without rather than not at all. */
		if (rc == -ENOSYS || rc == -EINVAL)
			return 0;
		buf_printf(errs, "seccomp: load: %s\n", strerror(-rc));
		return -1;
	}
	seccomp_release(ctx);
	return 1;
}
