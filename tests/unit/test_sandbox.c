/*
 * test_sandbox: Landlock as ternd uses it. In a child process (the rules
 * are for life), allow writing below one directory, reading below
 * another, TCP connections to one port; then check that everything else is
 * refused. Skipped (as passing) where the kernel has no Landlock. Then
 * the seccomp deny list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "privsep/sandbox.h"

static int
connect_to(int port)
{
	struct sockaddr_in sin = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	rc = rc == 0 ? 0 : errno;
	close(fd);
	return rc;
}

/* Runs in the child: exit 0 when every check holds, else the check's number. */
static int
child(const char *rw, const char *ro, const char *outside, int port_ok, int port_no)
{
	struct sandbox_rules r = { 0 };
	struct buf errs = BUF_INIT;
	char path[512];
	int abi, fd;

	r.write[r.nwrite++] = rw;
	r.read[r.nread++] = ro;
	r.restrict_tcp = true;
	r.ports[r.nports++] = (unsigned short)port_ok;
	if ((abi = sandbox_landlock(&r, &errs)) <= 0)
		return abi == 0 ? 0 : 1;   /* no Landlock here: nothing to check */
	snprintf(path, sizeof(path), "%s/new", rw);
	if ((fd = open(path, O_CREAT | O_WRONLY, 0600)) == -1)
		return 2;
	close(fd);
	snprintf(path, sizeof(path), "%s/file", ro);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 3;
	close(fd);
	if (open(path, O_WRONLY) != -1 || errno != EACCES)
		return 4;
	snprintf(path, sizeof(path), "%s/new", ro);
	if (open(path, O_CREAT | O_WRONLY, 0600) != -1 || errno != EACCES)
		return 5;
	snprintf(path, sizeof(path), "%s/file", outside);
	if (open(path, O_RDONLY) != -1 || errno != EACCES)
		return 6;
	if (abi >= 4) {
		/* Refused by the rules, not by the (closed) port. */
		if (connect_to(port_no) != EACCES)
			return 7;
		if (connect_to(port_ok) == EACCES)
			return 8;
	}
	buf_release(&errs);
	return 0;
}

static void
test_landlock(void **state)
{
	char base[] = "/tmp/tern-sandbox-XXXXXX", rw[64], ro[64], out[64], f[96];
	int st, fd;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(rw, sizeof(rw), "%s/rw", base);
	snprintf(ro, sizeof(ro), "%s/ro", base);
	snprintf(out, sizeof(out), "%s/out", base);
	assert_int_equal(mkdir(rw, 0700), 0);
	assert_int_equal(mkdir(ro, 0700), 0);
	assert_int_equal(mkdir(out, 0700), 0);
	snprintf(f, sizeof(f), "%s/file", ro);
	assert_true((fd = open(f, O_CREAT | O_WRONLY, 0600)) != -1);
	close(fd);
	snprintf(f, sizeof(f), "%s/file", out);
	assert_true((fd = open(f, O_CREAT | O_WRONLY, 0600)) != -1);
	close(fd);
	if ((pid = fork()) == 0)
		_exit(child(rw, ro, out, 1, 2));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* tidy up */
	snprintf(f, sizeof(f), "rm -rf %s", base);
	assert_int_equal(system(f), 0);
}

/* After the filter: no program can be run, no process looked into;
 * ordinary calls still work. */
static void
test_seccomp(void **state)
{
	int st;
	pid_t pid;

	(void)state;
	if ((pid = fork()) == 0) {
		struct buf errs = BUF_INIT;
		char *argv[] = { "/bin/true", NULL };
		int fd, rc = sandbox_seccomp(false, &errs);

		if (rc == -1)
			_exit(1);
		if (rc == 0)
			_exit(0);   /* no seccomp in this kernel: nothing to check */
		if (execve("/bin/true", argv, NULL) != -1 || errno != EPERM)
			_exit(2);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
			_exit(3);
		if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
			_exit(4);
		if ((fd = open("/dev/null", O_RDONLY)) == -1)
			_exit(5);
		close(fd);
		_exit(getpid() > 0 ? 0 : 6);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_landlock),
		cmocka_unit_test(test_seccomp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
