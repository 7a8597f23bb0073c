/*
 * sandbox: how ternd's processes give up what they do not need once they
 * are set up: the root user (setgroups/setgid/setuid to run_as), every
 * capability but the ones asked for, the right to gain privileges again
 * (no_new_privs), and, where the kernel has Landlock (Linux >= 5.13), the
 * files and TCP ports outside the ones named here.
 */
#ifndef TERN_SANDBOX_H
#define TERN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/buf.h"

/* The user to become; looked up while /etc/passwd is still reachable. */
struct sandbox_user {
	bool change;           /* false: not started as root, stay who we are */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Resolves run_as when running as root ("" means "tern"); 0, or -1 with a
 * reason in errs. Not root: change stays false and name is ignored. */
int sandbox_user_lookup(const char *name, struct sandbox_user *u, struct buf *errs);

/* Gives path (and, with recurse, everything below it) to the user unless it
 * already belongs to it. No-op when u->change is false. 0 or -1 (errno). */
int sandbox_chown(const struct sandbox_user *u, const char *path, bool recurse);

/*
 * Becomes u (when u->change), keeps only CAP_DAC_READ_SEARCH if keep_dac_read
 * (the keeper re-reads root-only files on reload), sets no_new_privs and
 * the dumpable flag. 0, or -1 with a reason in errs.
 */
int sandbox_drop(const struct sandbox_user *u, bool keep_dac_read, bool dumpable,
    struct buf *errs);

/* Landlock rules: where the process may still go. */
#define SANDBOX_MAX_PATHS 16
#define SANDBOX_MAX_PORTS 72
struct sandbox_rules {
	const char *read[SANDBOX_MAX_PATHS];    /* read files and list dirs beneath */
	size_t nread;
	const char *write[SANDBOX_MAX_PATHS];   /* everything beneath */
	size_t nwrite;
	bool restrict_tcp;                      /* connect only to ports[] */
	unsigned short ports[SANDBOX_MAX_PORTS];
	size_t nports;
};

/*
 * Applies the rules to this thread and every thread and child it makes
 * afterwards (so: before starting threads). Returns the Landlock ABI
 * version used, 0 when the kernel has no Landlock (nothing applied), or -1
 * with a reason in errs. A path that does not exist is skipped.
 */
int sandbox_landlock(const struct sandbox_rules *r, struct buf *errs);

/*
 * A seccomp filter on this thread and those it makes later: execve,
 * mounts, modules, other processes' memory, namespaces and the like fail
 * with EPERM; ptrace too unless allow_ptrace (LeakSanitizer needs it in
 * test builds). 1 when loaded, 0 when the kernel has no seccomp filters
 * (nothing applied), -1 with a reason in errs.
 */
int sandbox_seccomp(bool allow_ptrace, struct buf *errs);

#endif
