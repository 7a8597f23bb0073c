/*
 * loadgen.h — what the load generators (smtpload.c, pop3load.c) share:
 * a monotonic clock, a TCP connection with timeouts, read and write
 * loops, a receive buffer's compaction, the first error of a run, sorted latencies and the process's CPU time.
 * Each generator is one file compiled by the bench script
 * (`cc -O2 -o X X.c ...`), so this is a header of static functions.
 */
#ifndef TERN_BENCH_LOADGEN_H
#define TERN_BENCH_LOADGEN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline double
lg_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A connected TCP socket to addr:port (IPv4) with read and write
 * timeouts and TCP_NODELAY; -1 with a message in err. */
static inline int
lg_connect(const char *addr, int port, int timeout_s, char *err, size_t errsize)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		snprintf(err, errsize, "bad address %s", addr);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		snprintf(err, errsize, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes all n octets (retrying short writes and EINTR); -1 on error. */
static inline int
lg_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read(2), retried on EINTR. */
static inline ssize_t
lg_read(int fd, char *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* A receive buffer buf[0..size) holding unread octets at [*off, *len):
 * moves them to the front; returns the room left after them (0: full). */
static inline size_t
lg_compact(char *buf, size_t size, size_t *off, size_t *len)
{
	if (*off > 0) {
		memmove(buf, buf + *off, *len - *off);
		*len -= *off;
		*off = 0;
	}
	return size - *len;
}

/* The run's first error, "<who>: <message>", kept once for stderr. */
static pthread_mutex_t lg_errlock = PTHREAD_MUTEX_INITIALIZER;
static char lg_first_error[512];

static inline void
lg_vfail(const char *who, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&lg_errlock);
	if (lg_first_error[0] == '\0') {
		int n = snprintf(lg_first_error, sizeof(lg_first_error), "%s: ", who);

		if (n > 0 && (size_t)n < sizeof(lg_first_error))
			vsnprintf(lg_first_error + n, sizeof(lg_first_error) - (size_t)n, fmt, ap);
	}
	pthread_mutex_unlock(&lg_errlock);
}

static inline void
lg_print_error(const char *prog)
{
	if (lg_first_error[0])
		fprintf(stderr, "%s: first error: %s\n", prog, lg_first_error);
}

static inline int
lg_dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Compacts the values of v[0..n) that are >= 0 (the successful ones) to
 * its front and sorts them; returns how many. */
static inline int
lg_ok_sorted(double *v, int n)
{
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (v[i] >= 0)
			v[k++] = v[i];
	}
	qsort(v, (size_t)k, sizeof(*v), lg_dcmp);
	return k;
}

/* The p-th quantile (0..1) of n sorted values; 0 for none. */
static inline double
lg_pct(const double *v, int n, double p)
{
	int i = (int)(p * n + 0.5);

	if (n == 0)
		return 0;
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/* CPU seconds (user + system) this process used so far. */
static inline double
lg_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	    ru.ru_stime.tv_usec / 1e6;
}

#endif
