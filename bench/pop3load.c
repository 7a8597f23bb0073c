/*
 * pop3load — POP3 retrieval load generator for bench/retrieval.sh.
 *
 * Retrieval (the default): one thread per client, each client its own
 * user (-U is a printf format taking the client's number, from -f on).
 * Every session: connect, greeting, USER, PASS, STAT, LIST, UIDL, RETR of
 * every message in turn (one command at a time, as mail clients do), QUIT.
 * Nothing is deleted. Checks, each a failure of the session:
 *   - STAT's count and size agree with LIST (count, sum of sizes) and
 *     with UIDL (count, every UIDL distinct);
 *   - with -m, the maildrop holds exactly that many messages;
 *   - every RETR sends exactly the octets LIST announced for it: the
 *     octets between the +OK line and the terminating ".", as sent
 *     (retrieval.sh's messages have no line starting with ".", so the
 *     sent and the unstuffed counts are the same for either reading of
 *     RFC 1939's "exact size").
 *
 * Idle (-I): the clients log in one after the other (USER, PASS, STAT)
 * and stay connected; "ready n=N" is printed once all are in, and they
 * stay until standard input ends; then each sends QUIT.
 *
 *   cc -O2 -o pop3load pop3load.c -lpthread
 *   pop3load -p 110 -U 'u%03d@example.test' -w PASS -c 50 [-f 1] [-m 1000]
 *            [-a 127.0.0.1] [-T timeout_s] [-v]
 *   pop3load -I -p 110 -U 'i%04d@example.test' -w PASS -c 1000
 *
 * Prints one line of key=value: ok, failed, messages (RETRs checked),
 * octets, elapsed_s, msgs_per_s, mib_per_s, login and session latency
 * p50/max in ms, and this process's CPU seconds (user+sys); the first
 * error (if any) goes to stderr.
 */
#include <stdatomic.h>

#include "loadgen.h"

static const char *addr = "127.0.0.1", *user_fmt, *pass;
static int port = 110, conc = 50, first_user = 1, timeout_s = 60, verbose, idle_mode;
static long want_msgs = -1;

static atomic_int nok, nfail;
static atomic_llong nmsgs, noctets;
static double *login_ms, *sess_ms;      /* per client (-1 when failed) */

struct conn {
	int fd;
	int idx;
	char user[256];
	char buf[65536];
	size_t off, len;
};

static void
fail(struct conn *c, const char *fmt, ...)
{
	char who[300];
	va_list ap;

	snprintf(who, sizeof(who), "client %d (%s)", c->idx, c->user);
	va_start(ap, fmt);
	lg_vfail(who, fmt, ap);
	va_end(ap);
}

static int
c_write(struct conn *c, const char *p, size_t n)
{
	if (verbose)
		fprintf(stderr, "%d C: %.*s", c->idx, (int)n, p);
	return lg_write_all(c->fd, p, n);
}

static int
c_fill(struct conn *c)
{
	ssize_t r;

	if (lg_compact(c->buf, sizeof(c->buf), &c->off, &c->len) == 0)
		return -1;      /* a line longer than the buffer */
	if ((r = lg_read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len)) <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

/* The next line, CRLF included: *line points into the buffer (valid until
 * the next call), its length is returned; -1 at EOF or error. */
static long
c_line(struct conn *c, char **line)
{
	char *nl;

	while ((nl = memchr(c->buf + c->off, '\n', c->len - c->off)) == NULL) {
		if (c_fill(c) == -1)
			return -1;
	}
	size_t n = (size_t)(nl - (c->buf + c->off)) + 1;

	*line = c->buf + c->off;
	c->off += n;
	return (long)n;
}

/* Sends cmd (NULL: none) and reads a one-line reply; 0 on +OK, with the
 * line (NUL-terminated, CRLF removed) in out if given. */
static int
cmd(struct conn *c, const char *cmdline, const char *what, char *out, size_t outsize)
{
	char *line;
	long n;

	if (cmdline && c_write(c, cmdline, strlen(cmdline)) == -1) {
		fail(c, "%s: write failed: %s", what, strerror(errno));
		return -1;
	}
	if ((n = c_line(c, &line)) == -1) {
		fail(c, "%s: connection closed", what);
		return -1;
	}
	if (verbose)
		fprintf(stderr, "%d S: %.*s", c->idx, (int)n, line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n < 3 || memcmp(line, "+OK", 3) != 0) {
		fail(c, "%s: %.*s", what, (int)(n > 200 ? 200 : n), line);
		return -1;
	}
	if (out) {
		size_t k = (size_t)n < outsize ? (size_t)n : outsize - 1;

		memcpy(out, line, k);
		out[k] = '\0';
	}
	return 0;
}

/* Reads a multi-line body up to the "." line; calls each(arg, line, len)
 * for every line (CRLF included, dot-stuffing as sent) unless NULL, and
 * returns the octets of the lines (as sent), -1 on error. */
static long long
multiline(struct conn *c, const char *what, int (*each)(void *, const char *, size_t), void *arg)
{
	long long total = 0;

	for (;;) {
		char *line;
		long n = c_line(c, &line);

		if (n == -1) {
			fail(c, "%s: connection closed inside the reply", what);
			return -1;
		}
		if ((n == 3 && memcmp(line, ".\r\n", 3) == 0) || (n == 2 && memcmp(line, ".\n", 2) == 0))
			return total;
		if (each && each(arg, line, (size_t)n) == -1) {
			fail(c, "%s: bad line %.*s", what, (int)(n > 100 ? 100 : n), line);
			return -1;
		}
		total += n;
	}
}

struct listing {
	long n;               /* messages in STAT */
	long got;             /* lines seen */
	long long *size;      /* per message, from LIST */
	long long sum;
	char **uidl;          /* per message, from UIDL */
};

static int
list_line(void *arg, const char *line, size_t len)
{
	struct listing *l = arg;
	char tmp[64];
	long i;
	long long sz;

	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, line, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%ld %lld", &i, &sz) != 2 || i < 1 || i > l->n || l->size[i - 1] != -1)
		return -1;
	l->size[i - 1] = sz;
	l->sum += sz;
	l->got++;
	return 0;
}

static int
uidl_line(void *arg, const char *line, size_t len)
{
	struct listing *l = arg;
	char tmp[128], u[96];
	long i;

	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, line, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%ld %95s", &i, u) != 2 || i < 1 || i > l->n || l->uidl[i - 1] != NULL)
		return -1;
	if ((l->uidl[i - 1] = strdup(u)) == NULL)
		return -1;
	l->got++;
	return 0;
}

static int
strpcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
listing_free(struct listing *l)
{
	long i;

	for (i = 0; l->uidl && i < l->n; i++)
		free(l->uidl[i]);
	free(l->uidl);
	free(l->size);
}

static int
connect_login(struct conn *c)
{
	char line[600];

	if ((c->fd = lg_connect(addr, port, timeout_s, line, sizeof(line))) == -1) {
		fail(c, "%s", line);
		return -1;
	}
	if (cmd(c, NULL, "greeting", NULL, 0))
		return -1;
	snprintf(line, sizeof(line), "USER %s\r\n", c->user);
	if (cmd(c, line, "USER", NULL, 0))
		return -1;
	snprintf(line, sizeof(line), "PASS %s\r\n", pass);
	return cmd(c, line, "PASS", NULL, 0);
}

/* STAT: the count and size; -1 on error. */
static int
stat_drop(struct conn *c, long *n, long long *octets)
{
	char line[256];

	if (cmd(c, "STAT\r\n", "STAT", line, sizeof(line)))
		return -1;
	if (sscanf(line, "+OK %ld %lld", n, octets) != 2 || *n < 0) {
		fail(c, "STAT: cannot parse %s", line);
		return -1;
	}
	if (want_msgs >= 0 && *n != want_msgs) {
		fail(c, "STAT: %ld messages, expected %ld", *n, want_msgs);
		return -1;
	}
	return 0;
}

static void
user_name(struct conn *c, int k)
{
	snprintf(c->user, sizeof(c->user), user_fmt, first_user + k);
}

static int
session(int k)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct listing l = { 0 };
	char line[64];
	long long stat_octets, got;
	double t0 = lg_mono();
	long i;
	int rc = -1;

	if (c == NULL)
		return -1;
	c->fd = -1;
	c->idx = k;
	user_name(c, k);
	if (connect_login(c))
		goto out;
	login_ms[k] = (lg_mono() - t0) * 1000;
	if (stat_drop(c, &l.n, &stat_octets))
		goto out;
	if ((l.size = malloc((size_t)(l.n ? l.n : 1) * sizeof(*l.size))) == NULL ||
	    (l.uidl = calloc((size_t)(l.n ? l.n : 1), sizeof(*l.uidl))) == NULL) {
		fail(c, "out of memory");
		goto out;
	}
	for (i = 0; i < l.n; i++)
		l.size[i] = -1;
	if (cmd(c, "LIST\r\n", "LIST", NULL, 0) || multiline(c, "LIST", list_line, &l) < 0)
		goto out;
	if (l.got != l.n || l.sum != stat_octets) {
		fail(c, "LIST: %ld messages, %lld octets; STAT said %ld, %lld", l.got, l.sum, l.n,
		    stat_octets);
		goto out;
	}
	l.got = 0;
	if (cmd(c, "UIDL\r\n", "UIDL", NULL, 0) || multiline(c, "UIDL", uidl_line, &l) < 0)
		goto out;
	if (l.got != l.n) {
		fail(c, "UIDL: %ld messages, STAT said %ld", l.got, l.n);
		goto out;
	}
	if (l.n > 1) {
		char **sorted = malloc((size_t)l.n * sizeof(*sorted));

		if (sorted == NULL) {
			fail(c, "out of memory");
			goto out;
		}
		memcpy(sorted, l.uidl, (size_t)l.n * sizeof(*sorted));
		qsort(sorted, (size_t)l.n, sizeof(*sorted), strpcmp);
		for (i = 1; i < l.n && strcmp(sorted[i - 1], sorted[i]) != 0; i++)
			;
		free(sorted);
		if (i < l.n) {
			fail(c, "UIDL: a UIDL given twice");
			goto out;
		}
	}
	for (i = 0; i < l.n; i++) {
		snprintf(line, sizeof(line), "RETR %ld\r\n", i + 1);
		if (cmd(c, line, "RETR", NULL, 0) || (got = multiline(c, "RETR", NULL, NULL)) < 0)
			goto out;
		if (got != l.size[i]) {
			fail(c, "RETR %ld: %lld octets, LIST said %lld", i + 1, got, l.size[i]);
			goto out;
		}
		atomic_fetch_add(&nmsgs, 1);
		atomic_fetch_add(&noctets, got);
	}
	if (cmd(c, "QUIT\r\n", "QUIT", NULL, 0))
		goto out;
	sess_ms[k] = (lg_mono() - t0) * 1000;
	rc = 0;
out:
	listing_free(&l);
	if (c->fd != -1)
		close(c->fd);
	free(c);
	return rc;
}

static void *
worker(void *arg)
{
	int k = (int)(intptr_t)arg;

	if (session(k) == 0)
		atomic_fetch_add(&nok, 1);
	else {
		login_ms[k] = sess_ms[k] = -1;
		atomic_fetch_add(&nfail, 1);
	}
	return NULL;
}

/* -I: conc sessions logged in one after the other, kept until stdin ends. */
static void
idle_run(void)
{
	struct conn **cs = calloc((size_t)conc, sizeof(*cs));
	char drain[512];
	long n;
	long long octets;
	int k, in = 0;

	for (k = 0; k < conc; k++) {
		double t0 = lg_mono();

		if ((cs[k] = calloc(1, sizeof(**cs))) == NULL)
			break;
		cs[k]->fd = -1;
		cs[k]->idx = k;
		user_name(cs[k], k);
		if (connect_login(cs[k]) || stat_drop(cs[k], &n, &octets)) {
			login_ms[k] = sess_ms[k] = -1;
			atomic_fetch_add(&nfail, 1);
			continue;
		}
		login_ms[k] = (lg_mono() - t0) * 1000;
		in++;
	}
	printf("ready n=%d failed=%d\n", in, (int)nfail);
	fflush(stdout);
	while (read(0, drain, sizeof(drain)) > 0)
		;
	for (k = 0; k < conc; k++) {
		if (cs[k] == NULL)
			continue;
		if (cs[k]->fd != -1 && login_ms[k] >= 0) {
			if (cmd(cs[k], "QUIT\r\n", "QUIT", NULL, 0) == 0) {
				sess_ms[k] = 0;
				atomic_fetch_add(&nok, 1);
			} else {
				login_ms[k] = sess_ms[k] = -1;
				atomic_fetch_add(&nfail, 1);
			}
		}
		if (cs[k]->fd != -1)
			close(cs[k]->fd);
		free(cs[k]);
	}
	free(cs);
}

static void
usage(void)
{
	fprintf(stderr, "usage: pop3load -U USER_FMT -w PASS [-I] [-a ADDR] [-p PORT] [-c CLIENTS] "
	    "[-f FIRST] [-m MSGS] [-T TIMEOUT] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	double t0, el;
	int ch, i;

	while ((ch = getopt(argc, argv, "a:p:c:f:U:w:m:T:Iv")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'f': first_user = atoi(optarg); break;
		case 'U': user_fmt = optarg; break;
		case 'w': pass = optarg; break;
		case 'm': want_msgs = atol(optarg); break;
		case 'T': timeout_s = atoi(optarg); break;
		case 'I': idle_mode = 1; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (!user_fmt || !pass || conc < 1 || strlen(pass) > 400 || strstr(user_fmt, "%") == NULL)
		usage();
	login_ms = calloc((size_t)conc, sizeof(*login_ms));
	sess_ms = calloc((size_t)conc, sizeof(*sess_ms));
	th = calloc((size_t)conc, sizeof(*th));
	if (!login_ms || !sess_ms || !th)
		return 1;
	t0 = lg_mono();
	if (idle_mode)
		idle_run();
	else {
		pthread_attr_t at;

		/* Small stacks: the buffers are on the heap. */
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		for (i = 0; i < conc; i++) {
			if (pthread_create(&th[i], &at, worker, (void *)(intptr_t)i) != 0) {
				fprintf(stderr, "pop3load: pthread_create failed\n");
				return 1;
			}
		}
		for (i = 0; i < conc; i++)
			pthread_join(th[i], NULL);
	}
	el = lg_mono() - t0;
	int nl = lg_ok_sorted(login_ms, conc), ns = lg_ok_sorted(sess_ms, conc);
	printf("ok=%d failed=%d messages=%lld octets=%lld elapsed_s=%.3f msgs_per_s=%.1f "
	    "mib_per_s=%.2f login_p50_ms=%.2f login_max_ms=%.2f session_p50_ms=%.1f "
	    "session_max_ms=%.1f cpu_s=%.3f\n",
	    (int)nok, (int)nfail, (long long)nmsgs, (long long)noctets, el, nmsgs / el,
	    noctets / el / 1048576.0, lg_pct(login_ms, nl, 0.5), nl ? login_ms[nl - 1] : 0,
	    lg_pct(sess_ms, ns, 0.5), ns ? sess_ms[ns - 1] : 0, lg_cpu_seconds());
	lg_print_error("pop3load");
	return nfail ? 1 : 0;
}
