/*
 * test_queue_recovery: what ternd finds on disk after a crash (docs/queue.md).
 * Queue files are written here by hand in the documented format (envelope
 * block, message, 27-octet trailer): complete ones, and ones cut at every
 * point a crash or a bad disk could cut them, with a wrong trailer, a
 * foreign id or a name that is no queue id; plus state files, stray tmp/
 * files and a state file whose message is gone. Then the real queue
 * (queue_open, queue_recover) runs on a real event loop and I/O pool:
 * complete messages are counted and delivered into their Maildirs exactly
 * once and removed, recipients a state file marks done are not delivered
 * again, damaged files are moved to queue/corrupt/, tmp/ is emptied. A
 * second start on the same directory finds nothing left to do. And the
 * state file's versions: version 1 files (no version line, as the spool
 * above has) still load, a delay warning recorded ("w") is not sent
 * again, also after a restart, and a file of a later version puts its
 * message aside.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "common/iopool.h"
#include "proto/smtp_cmd.h"
#include "proto/envelope.h"
#include "queue/queue.h"
#include "route/directory.h"

#define DOMAIN "example.org"
#define SENDER "sender@remote.example"

static char data_dir[64];

/* ------------------------------------------------------------- helpers */

static void
pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < size);
}

static void
mkdir_p(const char *path)
{
	char p[1024], *s;

	pathf(p, sizeof(p), "%s", path);
	for (s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0700) == -1)
				assert_int_equal(errno, EEXIST);
			*s = '/';
		}
	}
	if (mkdir(p, 0700) == -1)
		assert_int_equal(errno, EEXIST);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd != -1);
	assert_true(write(fd, data, len) == (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_true(fread(p, 1, (size_t)n, f) == (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len_r = (size_t)n;
	return p;
}

/* Names in dir, dot files excluded, sorted, joined by "|" (Maildir names
 * hold ","), or "-" when the directory does not exist. */
static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list_dir(const char *dir, char *out, size_t size)
{
	char *names[256];
	size_t n = 0, i, o = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	out[0] = '\0';
	if (d == NULL) {
		assert_int_equal(errno, ENOENT);
		pathf(out, size, "-");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < 256);
		names[n] = strdup(de->d_name);
		assert_non_null(names[n]);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		int k = snprintf(out + o, size - o, "%s%s", i ? "|" : "", names[i]);

		assert_true(k > 0 && (size_t)k < size - o);
		o += (size_t)k;
		free(names[i]);
	}
}

static size_t
count_dir(const char *dir)
{
	char names[8192];
	size_t n = 0;
	const char *p;

	list_dir(dir, names, sizeof(names));
	if (strcmp(names, "-") == 0 || names[0] == '\0')
		return 0;
	for (n = 1, p = names; (p = strchr(p, '|')) != NULL; p++)
		n++;
	return n;
}

static void
rm_rf(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char sub[1024];

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			pathf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

/* ----------------------------------------------------------- queue files */

static const char msg_v1[] =
    "Received: from client.remote.example (client.remote.example [192.0.2.9])\r\n"
    "\tby mx.test with ESMTP id 0000000000000A01\r\n"
    "From: <" SENDER ">\r\n"
    "To: <alice@" DOMAIN ">\r\n"
    "Subject: one\r\n"
    "\r\n"
    "The first message.\r\n";

static const char msg_v2[] =
    "Received: from client.remote.example by mx.test id 0000000000000A02\r\n"
    "Subject: two\r\n"
    "\r\n"
    "The second message,\r\n"
    "for four recipients.\r\n";

static const char msg_v3[] =
    "Received: from client.remote.example by mx.test id 0000000000000A03\r\n"
    "Subject: three\r\n"
    "\r\n"
    "Already delivered before the crash.\r\n";

/* Envelope block + message + trailer, as queue.c writes it, from sender
 * at arrival, every recipient local with the given NOTIFY bits. */
static void
make_queue_file_from(struct buf *out, const char *id, const char *sender,
    int64_t arrival, unsigned notify, const char *const *rcpts, size_t n,
    const char *msg, size_t msglen, size_t *hdrlen_r)
{
	struct envelope env;
	char trailer[ENVELOPE_TRAILER_LEN + 1];
	size_t i;

	memset(&env, 0, sizeof(env));
	assert_int_equal(strlen(id), QUEUE_ID_LEN);
	memcpy(env.id, id, QUEUE_ID_LEN + 1);
	env.arrival = arrival;
	assert_int_equal(envelope_set(&env.sender, sender), 0);
	assert_int_equal(envelope_set(&env.helo, "client.remote.example"), 0);
	assert_int_equal(envelope_set(&env.client, "192.0.2.9"), 0);
	assert_int_equal(envelope_set(&env.proto, "ESMTP"), 0);
	assert_int_equal(envelope_set(&env.envid, ""), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(envelope_add_rcpt(&env, rcpts[i], rcpts[i], "", notify, true), 0);
	assert_int_equal(envelope_encode(&env, out), 0);
	*hdrlen_r = out->len;
	assert_int_equal(buf_append(out, msg, msglen), 0);
	envelope_trailer(msglen, trailer);
	assert_int_equal(strlen(trailer), ENVELOPE_TRAILER_LEN);
	assert_int_equal(buf_append(out, trailer, ENVELOPE_TRAILER_LEN), 0);
	envelope_clear(&env);
}

/* The same from SENDER, arrived now, NOTIFY unset. *hdrlen_r is the
 * envelope block's length. */
static void
make_queue_file(struct buf *out, const char *id, const char *const *rcpts,
    size_t n, const char *msg, size_t msglen, size_t *hdrlen_r)
{
	make_queue_file_from(out, id, SENDER, (int64_t)time(NULL), 0, rcpts, n,
	    msg, msglen, hdrlen_r);
}

static void
put_msg(const char *name, const void *data, size_t len)
{
	char path[1024];

	pathf(path, sizeof(path), "%s/queue/msg/%s", data_dir, name);
	write_file(path, data, len);
}

static void
put_state(const char *name, const char *text)
{
	char path[1024];

	pathf(path, sizeof(path), "%s/queue/state/%s", data_dir, name);
	write_file(path, text, strlen(text));
}

/* The corrupt files written, sorted, joined by "|" (as list_dir gives). */
static char corrupt_expected[8192];
static char *corrupt_names[64];
static size_t ncorrupt;

static void
put_corrupt(const char *name, const void *data, size_t len)
{
	assert_true(ncorrupt < 64);
	corrupt_names[ncorrupt] = strdup(name);
	assert_non_null(corrupt_names[ncorrupt]);
	ncorrupt++;
	put_msg(name, data, len);
}

static void
corrupt_finish(void)
{
	size_t i, o = 0;

	qsort(corrupt_names, ncorrupt, sizeof(corrupt_names[0]), cmp_names);
	corrupt_expected[0] = '\0';
	for (i = 0; i < ncorrupt; i++) {
		int k = snprintf(corrupt_expected + o, sizeof(corrupt_expected) - o,
		    "%s%s", i ? "|" : "", corrupt_names[i]);

		assert_true(k > 0 && (size_t)k < sizeof(corrupt_expected) - o);
		o += (size_t)k;
		free(corrupt_names[i]);
	}
	ncorrupt = 0;
}

/* Writes the whole spool a crash might leave. */
static void
write_spool(void)
{
	static const char *const r1[] = { "alice@" DOMAIN };
	static const char *const r2[] = {
		"bob@" DOMAIN, "carol@" DOMAIN, "dave@" DOMAIN, "erin@" DOMAIN,
	};
	static const char *const r3[] = { "frank@" DOMAIN };
	struct buf f = BUF_INIT, g = BUF_INIT;
	size_t hl, ml = sizeof(msg_v1) - 1, full, k;
	char name[64], tr[ENVELOPE_TRAILER_LEN + 1], path[1024];
	/* where to cut a complete file: inside the envelope, just before and
	 * right after "end\n", inside the body, right after it (no trailer),
	 * inside the trailer, one octet short */
	size_t cuts[12];
	size_t ncuts = 0;

	/* complete ones */
	make_queue_file(&f, "0000000000000A01", r1, 1, msg_v1, ml, &hl);
	put_msg("0000000000000A01", f.data, f.len);
	full = f.len;

	buf_reset(&g);
	make_queue_file(&g, "0000000000000A02", r2, 4, msg_v2, sizeof(msg_v2) - 1, &k);
	put_msg("0000000000000A02", g.data, g.len);
	/* bob delivered, dave failed; the last line ("d 1") is torn: it
	 * could be the start of "d 12\n" and must not count */
	put_state("0000000000000A02", "d 0\nf 2\nd 1");

	buf_reset(&g);
	make_queue_file(&g, "0000000000000A03", r3, 1, msg_v3, sizeof(msg_v3) - 1, &k);
	put_msg("0000000000000A03", g.data, g.len);
	/* every recipient done: only the removal was lost */
	put_state("0000000000000A03", "d 0\n");

	/* truncated copies of A01, each under its own id */
	cuts[ncuts++] = 0;
	cuts[ncuts++] = 1;
	cuts[ncuts++] = 13;                /* "tern-queue 1\n" only */
	cuts[ncuts++] = hl / 2;
	cuts[ncuts++] = hl - 1;            /* "end" without its "\n" */
	cuts[ncuts++] = hl;                /* right after "end\n" */
	cuts[ncuts++] = hl + ml / 2;       /* inside the body */
	cuts[ncuts++] = hl + ml;           /* no trailer at all */
	cuts[ncuts++] = hl + ml + 1;       /* inside the trailer */
	cuts[ncuts++] = hl + ml + 10;
	cuts[ncuts++] = full - 1;          /* trailer without its "\n" */
	for (k = 0; k < ncuts; k++) {
		char id[QUEUE_ID_LEN + 1];

		assert_true(cuts[k] < full);
		pathf(id, sizeof(id), "00000000000C%04zX", k);
		/* the envelope must name the file it is in */
		buf_reset(&g);
		make_queue_file(&g, id, r1, 1, msg_v1, ml, &hl);
		assert_int_equal(g.len, full);
		put_corrupt(id, g.data, cuts[k]);
	}

	/* complete, but the trailer's length is wrong */
	{
		static const uint64_t wrong[] = { 0, 1, sizeof(msg_v1) - 2, sizeof(msg_v1),
			1u << 20, 0x7fffffffffffffffULL, 0xffffffffffffffffULL };

		for (k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++) {
			pathf(name, sizeof(name), "00000000000D%04zX", k);
			buf_reset(&g);
			make_queue_file(&g, name, r1, 1, msg_v1, ml, &hl);
			envelope_trailer(wrong[k], tr);
			memcpy(g.data + g.len - ENVELOPE_TRAILER_LEN, tr, ENVELOPE_TRAILER_LEN);
			put_corrupt(name, g.data, g.len);
		}
	}
	/* a trailer that is no trailer: lower-case hex, a bad magic, junk */
	{
		static const char *const bad_tr[] = {
			"\nTERN-END 00000000000000a4\n",
			"\nTERN-END 00000000000000G4\n",
			"\nTERN-XXX 00000000000000A4\n",
			"xTERN-END 00000000000000A4\n",
			"\nTERN-END 00000000000000A4x",
		};

		for (k = 0; k < sizeof(bad_tr) / sizeof(bad_tr[0]); k++) {
			pathf(name, sizeof(name), "00000000000E%04zX", k);
			buf_reset(&g);
			make_queue_file(&g, name, r1, 1, msg_v1, ml, &hl);
			assert_int_equal(strlen(bad_tr[k]), ENVELOPE_TRAILER_LEN);
			memcpy(g.data + g.len - ENVELOPE_TRAILER_LEN, bad_tr[k], ENVELOPE_TRAILER_LEN);
			put_corrupt(name, g.data, g.len);
		}
	}
	/* complete and consistent, but the envelope names another file */
	put_corrupt("0000000000000F01", f.data, f.len);
	/* an unknown key in the envelope, the trailer adjusted to match */
	{
		const char *end;

		buf_reset(&g);
		make_queue_file(&g, "0000000000000F02", r1, 1, msg_v1, ml, &hl);
		end = strstr(g.data, "\nend\n");
		assert_non_null(end);
		{
			struct buf h = BUF_INIT;

			buf_append(&h, g.data, (size_t)(end - g.data) + 1);
			buf_append_str(&h, "future 1\n");
			buf_append(&h, end + 1, g.len - (size_t)(end + 1 - g.data));
			put_corrupt("0000000000000F02", h.data, h.len);
			buf_release(&h);
		}
	}
	/* a trailer claiming no message: the message would be read as
	 * part of the envelope */
	buf_reset(&g);
	make_queue_file(&g, "0000000000000F03", r1, 1, msg_v1, ml, &hl);
	envelope_trailer(0, tr);
	memcpy(g.data + g.len - ENVELOPE_TRAILER_LEN, tr, ENVELOPE_TRAILER_LEN);
	put_corrupt("0000000000000F03", g.data, g.len);
	/* names that are no queue ids, with good content */
	put_corrupt("garbage-name", f.data, f.len);
	put_corrupt("0000000000000a01", f.data, f.len);    /* lower case */
	put_corrupt("0000000000000A0", f.data, f.len);     /* 15 digits */
	put_corrupt("0000000000000A011", f.data, f.len);   /* 17 digits */
	corrupt_finish();

	/* a dot file is not the queue's business */
	put_msg(".keep", "x", 1);

	/* tmp/: never acknowledged */
	pathf(path, sizeof(path), "%s/queue/tmp/0000000000000B01", data_dir);
	write_file(path, f.data, hl + 5);
	pathf(path, sizeof(path), "%s/queue/tmp/0000000000000B02", data_dir);
	write_file(path, f.data, f.len);
	pathf(path, sizeof(path), "%s/queue/tmp/stray", data_dir);
	write_file(path, "junk", 4);
	/* a state file whose message is gone */
	put_state("0000000000000B03", "d 0\n");

	buf_release(&f);
	buf_release(&g);
}

/* ------------------------------------------------------------ the loop */

struct env {
	struct event_base *base;
	struct iopool *pool;
	struct config cfg;
	struct directory *dir;
	struct queue *q;
};

static void
start(struct env *e)
{
	struct buf errs = BUF_INIT;

	e->base = event_base_new();
	assert_non_null(e->base);
	e->pool = iopool_new(e->base, e->cfg.io_threads);
	assert_non_null(e->pool);
	e->q = queue_open(e->base, e->pool, &e->cfg, &errs);
	if (e->q == NULL)
		fail_msg("queue_open: %s", buf_cstr(&errs));
	queue_set_directory(e->q, e->dir);
	buf_release(&errs);
}

/* Runs the loop in slices of 20 ms until the queue is empty and the pool
 * idle, or max_ms have passed; returns whether it got there. */
static bool
run_until_idle(struct env *e, int max_ms)
{
	int t;

	for (t = 0; t < max_ms; t += 20) {
		struct timeval tv = { 0, 20000 };

		if (queue_count(e->q) == 0 && iopool_pending(e->pool) == 0)
			return true;
		event_base_loopexit(e->base, &tv);
		assert_int_equal(event_base_dispatch(e->base), 0);
	}
	return queue_count(e->q) == 0 && iopool_pending(e->pool) == 0;
}

static void
run_for(struct env *e, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(e->base, &tv);
	assert_true(event_base_dispatch(e->base) >= 0);
}

static void
stop(struct env *e)
{
	assert_int_equal(iopool_pending(e->pool), 0);
	queue_stop(e->q);
	queue_free(&e->q);
	iopool_free(&e->pool);
	event_base_free(e->base);
	e->base = NULL;
}

/* The one message in <data>/mail/<domain>/<user>/new/, checked against the
 * queued message with the trace fields delivery adds. */
static void
check_mailbox(const char *user, const char *msg)
{
	char dir[1024], names[8192], path[2048], want[4096], sz[64];
	size_t len;
	char *got;

	pathf(dir, sizeof(dir), "%s/mail/%s/%s/new", data_dir, DOMAIN, user);
	list_dir(dir, names, sizeof(names));
	if (strchr(names, '|') != NULL || names[0] == '\0' || strcmp(names, "-") == 0)
		fail_msg("%s: want exactly one message in new/, have \"%s\"", user, names);
	pathf(path, sizeof(path), "%s/%s", dir, names);
	got = read_file(path, &len);
	pathf(want, sizeof(want), "Return-Path: <%s>\r\nDelivered-To: %s@%s\r\n%s",
	    SENDER, user, DOMAIN, msg);
	assert_int_equal(len, strlen(want));
	assert_string_equal(got, want);
	/* the Maildir name carries the size */
	pathf(sz, sizeof(sz), ",S=%zu", len);
	assert_non_null(strstr(names, sz));
	assert_int_equal(strcmp(names + strlen(names) - strlen(sz), sz), 0);
	free(got);
	/* tmp/ of the Maildir is clean */
	pathf(dir, sizeof(dir), "%s/mail/%s/%s/tmp", data_dir, DOMAIN, user);
	assert_int_equal(count_dir(dir), 0);
}

static void
check_no_mail(const char *user)
{
	char dir[1024];

	pathf(dir, sizeof(dir), "%s/mail/%s/%s/new", data_dir, DOMAIN, user);
	assert_int_equal(count_dir(dir), 0);
}

static void
check_delivered(void)
{
	check_mailbox("alice", msg_v1);
	check_no_mail("bob");       /* "d 0": delivered before the crash */
	check_mailbox("carol", msg_v2);   /* "d 1" was torn */
	check_no_mail("dave");      /* "f 2": failed before the crash */
	check_mailbox("erin", msg_v2);
	check_no_mail("frank");     /* "d 0", only the removal was lost */
}

/* A fresh data_dir with its queue directories, a config for it and the
 * users file (no aliases). */
static void
setup(struct env *e, const char *users)
{
	struct buf errs = BUF_INIT;
	char path[1024], upath[1024], apath[1024];

	pathf(data_dir, sizeof(data_dir), "/tmp/tern_qrec.XXXXXX");
	assert_non_null(mkdtemp(data_dir));
	memset(e, 0, sizeof(*e));
	config_defaults(&e->cfg);
	pathf(e->cfg.data_dir, sizeof(e->cfg.data_dir), "%s", data_dir);
	pathf(e->cfg.hostname, sizeof(e->cfg.hostname), "mx.test");
	pathf(e->cfg.domains[0], sizeof(e->cfg.domains[0]), DOMAIN);
	e->cfg.ndomains = 1;
	pathf(e->cfg.postmaster, sizeof(e->cfg.postmaster), "postmaster@" DOMAIN);
	e->cfg.io_threads = 2;
	e->cfg.direct_delivery = false;

	pathf(upath, sizeof(upath), "%s/users", data_dir);
	pathf(apath, sizeof(apath), "%s/aliases", data_dir);
	write_file(upath, users, strlen(users));
	write_file(apath, "", 0);
	e->dir = directory_load(upath, apath, &errs);
	if (e->dir == NULL)
		fail_msg("directory_load: %s", buf_cstr(&errs));
	buf_release(&errs);

	pathf(path, sizeof(path), "%s/queue/msg", data_dir);
	mkdir_p(path);
	pathf(path, sizeof(path), "%s/queue/tmp", data_dir);
	mkdir_p(path);
	pathf(path, sizeof(path), "%s/queue/state", data_dir);
	mkdir_p(path);
}

static void
teardown(struct env *e)
{
	directory_free(&e->dir);
	rm_rf(data_dir);
}

/* ------------------------------------------------------------ the test */

static void
test_recovery(void **state)
{
	struct env e;
	char path[1024], names[8192];

	(void)state;
	setup(&e, "alice@" DOMAIN ":{PLAIN}x\n"
	    "bob@" DOMAIN ":\n"
	    "carol@" DOMAIN "\n"
	    "dave@" DOMAIN "\n"
	    "erin@" DOMAIN "\n"
	    "frank@" DOMAIN "\n"
	    "postmaster@" DOMAIN "\n");
	/* the spool as a crash left it */
	write_spool();

	/* restart */
	start(&e);
	assert_int_equal(queue_recover(e.q), 0);
	assert_int_equal(queue_count(e.q), 3);

	/* damaged files moved aside, nothing else */
	pathf(path, sizeof(path), "%s/queue/corrupt", data_dir);
	list_dir(path, names, sizeof(names));
	assert_string_equal(names, corrupt_expected);
	/* tmp/ emptied */
	pathf(path, sizeof(path), "%s/queue/tmp", data_dir);
	assert_int_equal(count_dir(path), 0);
	/* the orphan state file removed, the others kept until done */
	pathf(path, sizeof(path), "%s/queue/state/0000000000000B03", data_dir);
	assert_int_equal(access(path, F_OK), -1);
	/* the dot file left alone */
	pathf(path, sizeof(path), "%s/queue/msg/.keep", data_dir);
	assert_int_equal(access(path, F_OK), 0);

	/* deliver */
	assert_true(run_until_idle(&e, 20000));
	assert_int_equal(queue_count(e.q), 0);
	/* and a little more: nothing is delivered twice */
	run_for(&e, 300);
	check_delivered();
	pathf(path, sizeof(path), "%s/queue/msg", data_dir);
	list_dir(path, names, sizeof(names));
	assert_string_equal(names, "");
	pathf(path, sizeof(path), "%s/queue/state", data_dir);
	assert_int_equal(count_dir(path), 0);
	pathf(path, sizeof(path), "%s/queue/corrupt", data_dir);
	list_dir(path, names, sizeof(names));
	assert_string_equal(names, corrupt_expected);
	stop(&e);

	/* a second start finds nothing to do and delivers nothing again */
	start(&e);
	assert_int_equal(queue_recover(e.q), 0);
	assert_int_equal(queue_count(e.q), 0);
	run_for(&e, 200);
	check_delivered();
	pathf(path, sizeof(path), "%s/queue/corrupt", data_dir);
	list_dir(path, names, sizeof(names));
	assert_string_equal(names, corrupt_expected);
	stop(&e);

	teardown(&e);
}

/* Runs the loop until the I/O pool is idle (at most max_ms), so the
 * queue can be freed; attempts keep coming, so this is not the end. */
static void
run_until_pool_idle(struct env *e, int max_ms)
{
	int t;

	for (t = 0; t < max_ms && iopool_pending(e->pool) != 0; t += 10)
		run_for(e, 10);
	assert_int_equal(iopool_pending(e->pool), 0);
}

static size_t
count_mail(const char *user)
{
	char dir[1024];

	pathf(dir, sizeof(dir), "%s/mail/%s/%s/new", data_dir, DOMAIN, user);
	return count_dir(dir);
}

static void
check_warnings(size_t henry, size_t ivan, size_t jack)
{
	assert_int_equal(count_mail("henry"), henry);
	assert_int_equal(count_mail("ivan"), ivan);
	assert_int_equal(count_mail("jack"), jack);
	assert_int_equal(count_mail("kate"), 0);
}

/*
 * The state file's versions and its delay-warning record ("w"). Four
 * messages for gina, whose Maildir cannot be made (a file is in its
 * place), so they stay queued, each from its own local sender, NOTIFY=
 * DELAY, older than delay_warning: henry's state file (version 2)
 * records the warning as sent; ivan's is version 1, without the version
 * line, as tern wrote them before "w"; jack's has none yet; kate's is of
 * a version from the future. ivan and jack are warned once, henry never,
 * kate's message is put aside; and a restart warns nobody again.
 */
static void
test_state_versions(void **state)
{
	static const char *const gina[] = { "gina@" DOMAIN };
	static const char *const ids[] = {
		"0000000000001001", "0000000000001002", "0000000000001003", "0000000000001004",
	};
	static const char *const senders[] = {
		"henry@" DOMAIN, "ivan@" DOMAIN, "jack@" DOMAIN, "kate@" DOMAIN,
	};
	struct env e;
	struct buf f = BUF_INIT;
	char path[1024], names[8192], *text;
	size_t i, hl, len;
	int round;

	(void)state;
	setup(&e, "gina@" DOMAIN "\nhenry@" DOMAIN "\nivan@" DOMAIN "\njack@" DOMAIN
	    "\nkate@" DOMAIN "\npostmaster@" DOMAIN "\n");
	e.cfg.delay_warning = 1;
	e.cfg.retry_initial = 1;
	e.cfg.retry_max = 1;
	pathf(path, sizeof(path), "%s/mail/%s", data_dir, DOMAIN);
	mkdir_p(path);
	pathf(path, sizeof(path), "%s/mail/%s/gina", data_dir, DOMAIN);
	write_file(path, "not a directory", 15);
	for (i = 0; i < 4; i++) {
		buf_reset(&f);
		make_queue_file_from(&f, ids[i], senders[i], (int64_t)time(NULL) - 100,
		    SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE, gina, 1, msg_v1,
		    sizeof(msg_v1) - 1, &hl);
		put_msg(ids[i], f.data, f.len);
	}
	buf_release(&f);
	put_state(ids[0], "tern-state 2\nt 0 1\nw 1764057992\n");
	put_state(ids[1], "t 0 1\n");
	put_state(ids[3], "tern-state 3\nt 0 1\nw 1764057992\n");

	for (round = 0; round < 2; round++) {
		start(&e);
		assert_int_equal(queue_recover(e.q), 0);
		assert_int_equal(queue_count(e.q), 3);
		/* a few attempts each (retry_initial 1 s) */
		run_for(&e, 2500);
		run_until_pool_idle(&e, 5000);
		check_warnings(0, 1, 1);
		assert_int_equal(queue_count(e.q), 3);
		stop(&e);
	}

	/* the later version put aside whole, for a human */
	pathf(path, sizeof(path), "%s/queue/corrupt", data_dir);
	list_dir(path, names, sizeof(names));
	assert_string_equal(names, "0000000000001004|0000000000001004.state");
	/* the version 1 file was appended to as it is */
	pathf(path, sizeof(path), "%s/queue/state/%s", data_dir, ids[1]);
	text = read_file(path, &len);
	assert_true(strncmp(text, "t 0 1\n", 6) == 0);
	assert_non_null(strstr(text, "\nw "));
	assert_null(strstr(text, "tern-state"));
	free(text);
	/* a new one starts with its version */
	pathf(path, sizeof(path), "%s/queue/state/%s", data_dir, ids[2]);
	text = read_file(path, &len);
	assert_true(strncmp(text, "tern-state 2\n", 13) == 0);
	assert_non_null(strstr(text, "\nw "));
	assert_null(strstr(text + 1, "tern-state"));
	free(text);
	teardown(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_state_versions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
