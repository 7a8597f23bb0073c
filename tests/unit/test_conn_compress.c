/*
 * test_conn_compress: COMPRESS on the real conn layer (conn_start over one
 * end of a socketpair, a real event loop), apart from any protocol.
 * A toy line protocol stands in for IMAP: COMPRESS answers "OK go" and
 * calls conn_compress_start(), ECHO, BIG (a streamed response through the
 * writable callback), PAUSE (a handler that waits for an async answer),
 * STARTTLS, IDLE1 (a one-second idle timeout), QUIT. The client runs in
 * a thread with zlib's own deflate and inflate, in the clear, over
 * implicit TLS and after STARTTLS.
 *
 * Checked: what the client pipelined behind COMPRESS is read (inflated);
 * every response can be read without waiting for more (the end of a burst
 * is flushed), the last one too before the close (and TLS's close_notify
 * after it); a second COMPRESS and a STARTTLS after it are refused; a
 * streamed response leaves at most a few pieces buffered in all layers
 * (without compression too, after STARTTLS as well);
 * input that inflates enormously is held to the line limit and the input
 * high watermark, and none of it is lost once the handler resumes;
 * corrupt input closes the connection ("compression error"); the idle
 * timeout still fires.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/log.h"
#include "net/conn.h"
#include "net/listener.h"
#include "tls/tls.h"

/* Generous bounds on what the conn may hold (its input high watermark is
 * 256 KiB; 64 KiB of compressed output may wait in each layer below the
 * filter, and a piece of 64 KiB in the filter). */
#define IN_BOUND (640 * 1024)
#define OUT_BOUND (400 * 1024)
#define PIECE (64 * 1024)

/* ------------------------------------------------------------ server --- */

struct zsess {
	struct conn *c;
	uint64_t id;
	uint64_t big_left;
	uint32_t big_x;
	unsigned noops;
	struct event *resume;
	struct buf pending;
};

static struct {
	struct event_base *base;
	struct tls *tls;
	bool closed;
	bool reason_null;
	char reason[64];
	uint64_t id;
	size_t max_in, max_out;
	bool sampling;            /* max_out only while BIG streams */
} srv;

static uint32_t
xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void
say(struct zsess *s, const char *text)
{
	conn_write(s->c, text, strlen(text));
}

static void
big_piece(struct zsess *s)
{
	static unsigned char piece[PIECE];
	size_t n = s->big_left < PIECE ? (size_t)s->big_left : PIECE;

	for (size_t i = 0; i < n; i++)
		piece[i] = (unsigned char)(xorshift(&s->big_x) >> 7);
	conn_write(s->c, piece, n);
	s->big_left -= n;
	if (s->big_left == 0) {
		say(s, "\r\nEND\r\n");
		srv.sampling = false;
	}
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct zsess *s = arg;
	struct conn *c = conn_find(s->id);

	(void)fd;
	(void)what;
	if (c) {
		say(s, "RESUMED\r\n");
		conn_resume(c, CONN_DONE);
	}
}

static void *
z_greet(struct conn *c, const struct listener_conf *lc)
{
	struct zsess *s = calloc(1, sizeof(*s));

	(void)lc;
	if (s == NULL)
		return NULL;
	s->c = c;
	s->id = srv.id = conn_id(c);
	s->resume = evtimer_new(srv.base, on_resume, s);
	conn_set_line_max(c, 1000);
	conn_set_timeout(c, 30);
	say(s, "* OK ztest\r\n");
	return s;
}

static enum conn_step
z_line(void *ctx, char *line, size_t len)
{
	struct zsess *s = ctx;
	char text[64];

	if (line == NULL) {
		say(s, "TOOLONG\r\n");
		return CONN_DONE;
	}
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strcmp(line, "NOOP") == 0) {
		s->noops++;
		return CONN_DONE;
	}
	if (strcmp(line, "COMPRESS") == 0) {
		if (conn_compressed(s->c)) {
			say(s, "NO active\r\n");
			return CONN_DONE;
		}
		say(s, "OK go\r\n");
		return conn_compress_start(s->c) == 0 ? CONN_DONE : CONN_CLOSE;
	}
	if (strncmp(line, "ECHO ", 5) == 0) {
		conn_write(s->c, line + 5, len - 5);
		say(s, "\r\n");
		return CONN_DONE;
	}
	if (strncmp(line, "BIG ", 4) == 0) {
		s->big_left = strtoull(line + 4, NULL, 10);
		s->big_x = 2463534242u;
		srv.sampling = true;
		big_piece(s);
		return CONN_DONE;
	}
	if (strcmp(line, "PAUSE") == 0) {
		struct timeval tv = { 0, 300000 };

		evtimer_add(s->resume, &tv);
		return CONN_PENDING;
	}
	if (strcmp(line, "COUNT") == 0) {
		snprintf(text, sizeof(text), "%u\r\n", s->noops);
		say(s, text);
		return CONN_DONE;
	}
	if (strcmp(line, "STARTTLS") == 0) {
		switch (conn_starttls(s->c, &s->pending, "OK tls\r\n", 8)) {
		case CONN_STARTTLS_OK:
			return CONN_DONE;
		case CONN_STARTTLS_UNAVAILABLE:
			say(s, "NO tls\r\n");
			return CONN_DONE;
		case CONN_STARTTLS_BROKEN:
			return CONN_CLOSE;
		}
	}
	if (strcmp(line, "IDLE1") == 0) {
		conn_set_timeout(s->c, 1);
		say(s, "OK\r\n");
		return CONN_DONE;
	}
	if (strcmp(line, "QUIT") == 0) {
		say(s, "BYE\r\n");
		return CONN_CLOSE;
	}
	say(s, "BAD\r\n");
	return CONN_DONE;
}

static enum conn_step
z_writable(void *ctx)
{
	struct zsess *s = ctx;

	if (s->big_left > 0)
		big_piece(s);
	return CONN_DONE;
}

static enum conn_step
z_timer(void *ctx, enum conn_timer which)
{
	(void)which;
	say(ctx, "* BYE idle\r\n");
	return CONN_CLOSE;
}

static void
z_closed(void *ctx, const char *reason)
{
	struct zsess *s = ctx;

	srv.closed = true;
	srv.reason_null = reason == NULL;
	snprintf(srv.reason, sizeof(srv.reason), "%s", reason ? reason : "");
	event_free(s->resume);
	buf_release(&s->pending);
	free(s);
	/* A turn or two more: the bufferevents go at the end of this one. */
	event_base_loopexit(srv.base, &(struct timeval){ 0, 50000 });
}

static const struct conn_proto ztest_proto = {
	.name = "ztest",
	.greet = z_greet,
	.line = z_line,
	.writable = z_writable,
	.timer = z_timer,
	.closed = z_closed,
};

static void
on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = conn_find(srv.id);
	size_t in, out;

	(void)fd;
	(void)what;
	(void)arg;
	if (c == NULL)
		return;
	conn_buffered(c, &in, &out);
	if (in > srv.max_in)
		srv.max_in = in;
	if (srv.sampling && out > srv.max_out)
		srv.max_out = out;
}

/* ------------------------------------------------------------ client --- */

enum tls_way { NO_TLS, IMPLICIT, STARTTLS };

struct client {
	int fd;
	enum tls_way tls;
	SSL_CTX *ctx;
	SSL *ssl;
	bool z;                  /* compressing */
	z_stream def, inf;
	struct buf plain;        /* what was read (inflated), from off on unread */
	size_t off;
	char err[256];
	void (*script)(struct client *);
	uint64_t big;            /* BIG's size */
};

#define FAIL(cl, ...) do { \
		if ((cl)->err[0] == '\0') \
			snprintf((cl)->err, sizeof((cl)->err), __VA_ARGS__); \
		return; \
	} while (0)
#define FAILED(cl) ((cl)->err[0] != '\0')

static int
raw_write(struct client *cl, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = cl->ssl ? SSL_write(cl->ssl, s, (int)(n > 65536 ? 65536 : n)) :
		    write(cl->fd, s, n);

		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t
raw_read(struct client *cl, void *p, size_t n)
{
	if (cl->ssl) {
		int r = SSL_read(cl->ssl, p, (int)n);

		if (r > 0)
			return r;
		return SSL_get_error(cl->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	}
	return read(cl->fd, p, n);
}

/* Deflates p (sync flush, as a client ends a command) and appends it to
 * wire. */
static void
zput(struct client *cl, struct buf *wire, const void *p, size_t n, int flush)
{
	unsigned char tmp[16384];

	cl->def.next_in = (unsigned char *)p;
	cl->def.avail_in = (uInt)n;
	do {
		cl->def.next_out = tmp;
		cl->def.avail_out = sizeof(tmp);
		deflate(&cl->def, flush);
		buf_append(wire, tmp, sizeof(tmp) - cl->def.avail_out);
	} while (cl->def.avail_out == 0 || cl->def.avail_in > 0);
}

static void
send_line(struct client *cl, const char *line)
{
	struct buf wire = BUF_INIT;

	if (cl->z)
		zput(cl, &wire, line, strlen(line), Z_SYNC_FLUSH);
	else
		buf_append_str(&wire, line);
	if (raw_write(cl, wire.data, wire.len) == -1 && !FAILED(cl))
		snprintf(cl->err, sizeof(cl->err), "write failed sending %s", line);
	buf_release(&wire);
}

/* Appends inflated (or plain) octets to cl->plain. */
static int
take(struct client *cl, const unsigned char *p, size_t n)
{
	unsigned char tmp[65536];

	if (!cl->z)
		return buf_append(&cl->plain, p, n);
	cl->inf.next_in = (unsigned char *)p;
	cl->inf.avail_in = (uInt)n;
	do {
		int r;

		cl->inf.next_out = tmp;
		cl->inf.avail_out = sizeof(tmp);
		r = inflate(&cl->inf, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		buf_append(&cl->plain, tmp, sizeof(tmp) - cl->inf.avail_out);
	} while (cl->inf.avail_out == 0 || cl->inf.avail_in > 0);
	return 0;
}

/* More from the server: 1, 0 at its end, -1 on an error or timeout. */
static int
fill(struct client *cl)
{
	unsigned char tmp[65536];
	ssize_t n = raw_read(cl, tmp, sizeof(tmp));

	if (n <= 0)
		return (int)n;
	return take(cl, tmp, (size_t)n) == 0 ? 1 : -1;
}

/* The next line (CR LF off) into out: 1, or 0 at the end, -1 on error. */
static int
read_line(struct client *cl, char *out, size_t outsize)
{
	for (;;) {
		char *start = cl->plain.data ? cl->plain.data + cl->off : NULL;
		char *lf = start ? memchr(start, '\n', cl->plain.len - cl->off) : NULL;

		if (lf) {
			size_t n = (size_t)(lf - start);

			if (n > 0 && start[n - 1] == '\r')
				n--;
			snprintf(out, outsize, "%.*s", (int)n, start);
			cl->off += (size_t)(lf - start) + 1;
			return 1;
		}
		{
			int r = fill(cl);

			if (r <= 0)
				return r;
		}
	}
}

static void
expect(struct client *cl, const char *want)
{
	char got[1100];
	int r;

	if (FAILED(cl))
		return;
	if ((r = read_line(cl, got, sizeof(got))) != 1)
		FAIL(cl, "wanted \"%s\", got %s", want, r == 0 ? "the end" : "an error or timeout");
	if (strcmp(got, want) != 0)
		FAIL(cl, "wanted \"%s\", got \"%.200s\"", want, got);
}

static void
expect_end(struct client *cl)
{
	int r;

	if (FAILED(cl))
		return;
	while ((r = fill(cl)) == 1)
		;
	if (r != 0)
		FAIL(cl, "wanted the end, got an error or timeout");
	if (cl->plain.len != cl->off)
		FAIL(cl, "wanted the end, got %zu more octets", cl->plain.len - cl->off);
}

static void
zinit(struct client *cl)
{
	memset(&cl->def, 0, sizeof(cl->def));
	memset(&cl->inf, 0, sizeof(cl->inf));
	deflateInit2(&cl->def, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	inflateInit2(&cl->inf, -15);
}

/* The OK has been read: what follows it is compressed. */
static void
zswitch(struct client *cl)
{
	struct buf rest = BUF_INIT;

	buf_append(&rest, cl->plain.data + cl->off, cl->plain.len - cl->off);
	buf_reset(&cl->plain);
	cl->off = 0;
	cl->z = true;
	if (take(cl, (unsigned char *)rest.data, rest.len) == -1 && !FAILED(cl))
		snprintf(cl->err, sizeof(cl->err), "inflate failed after the OK");
	buf_release(&rest);
}

static void
tls_handshake(struct client *cl)
{
	cl->ssl = SSL_new(cl->ctx);
	SSL_set_fd(cl->ssl, cl->fd);
	if (SSL_connect(cl->ssl) != 1)
		FAIL(cl, "TLS handshake failed");
}

/* COMPRESS with a command pipelined behind it in the same write. */
static void
start_compress(struct client *cl)
{
	struct buf wire = BUF_INIT;

	if (FAILED(cl))
		return;
	zinit(cl);
	buf_append_str(&wire, "COMPRESS\r\n");
	zput(cl, &wire, "ECHO behind\r\n", 13, Z_SYNC_FLUSH);
	if (raw_write(cl, wire.data, wire.len) == -1)
		snprintf(cl->err, sizeof(cl->err), "write failed");
	buf_release(&wire);
	expect(cl, "OK go");
	zswitch(cl);
	expect(cl, "behind");
}

static void
greet(struct client *cl)
{
	if (cl->tls == IMPLICIT)
		tls_handshake(cl);
	expect(cl, "* OK ztest");
	if (cl->tls == STARTTLS) {
		send_line(cl, "STARTTLS\r\n");
		expect(cl, "OK tls");
		if (FAILED(cl))
			return;
		buf_reset(&cl->plain);
		cl->off = 0;
		tls_handshake(cl);
	}
}

/* Reads BIG's n octets and checks them against the server's generator. */
static void
read_big(struct client *cl, uint64_t n)
{
	uint32_t x = 2463534242u;
	uint64_t seen = 0;

	while (!FAILED(cl) && seen < n) {
		while (cl->off < cl->plain.len && seen < n) {
			if ((unsigned char)cl->plain.data[cl->off] !=
			    (unsigned char)(xorshift(&x) >> 7))
				FAIL(cl, "BIG: octet %llu differs", (unsigned long long)seen);
			cl->off++;
			seen++;
		}
		if (cl->off == cl->plain.len) {
			buf_reset(&cl->plain);
			cl->off = 0;
		}
		if (seen < n && fill(cl) != 1)
			FAIL(cl, "BIG: ended after %llu octets", (unsigned long long)seen);
	}
	expect(cl, "");
	expect(cl, "END");
}

static void
script_basic(struct client *cl)
{
	greet(cl);
	start_compress(cl);
	send_line(cl, "ECHO hello\r\n");
	expect(cl, "hello");
	send_line(cl, "COMPRESS\r\n");
	expect(cl, "NO active");
	send_line(cl, "STARTTLS\r\n");
	expect(cl, "NO tls");
	/* The server streams while nobody reads. */
	send_line(cl, "BIG 8000000\r\n");
	usleep(300000);
	read_big(cl, 8000000);
	send_line(cl, "ECHO after\r\n");
	expect(cl, "after");
	send_line(cl, "QUIT\r\n");
	expect(cl, "BYE");
	expect_end(cl);
}

/* The same streamed response without compression. */
static void
script_big_plain(struct client *cl)
{
	greet(cl);
	send_line(cl, "BIG 8000000\r\n");
	usleep(300000);
	read_big(cl, 8000000);
	send_line(cl, "QUIT\r\n");
	expect(cl, "BYE");
	expect_end(cl);
}

/* 32 MiB on one line, 32 KiB on the wire. */
static void
script_long_line(struct client *cl)
{
	static unsigned char a[1 << 20];
	struct buf wire = BUF_INIT;

	greet(cl);
	start_compress(cl);
	if (FAILED(cl))
		return;
	memset(a, 'a', sizeof(a));
	zput(cl, &wire, "ECHO ", 5, Z_NO_FLUSH);
	for (int i = 0; i < 32; i++)
		zput(cl, &wire, a, sizeof(a), Z_NO_FLUSH);
	zput(cl, &wire, "\r\nECHO ok\r\n", 11, Z_SYNC_FLUSH);
	if (wire.len > 256 * 1024)
		FAIL(cl, "the bomb is %zu octets", wire.len);
	if (raw_write(cl, wire.data, wire.len) == -1)
		FAIL(cl, "write failed");
	buf_release(&wire);
	expect(cl, "TOOLONG");
	expect(cl, "ok");
	send_line(cl, "QUIT\r\n");
	expect(cl, "BYE");
	expect_end(cl);
}

/* 1.5 million commands (9 MiB inflated) while the handler waits: the
 * conn holds a watermark of them, the rest waits compressed, and every
 * one is handled after the answer. */
static void
script_pause(struct client *cl)
{
	static const char noop[] = "NOOP\r\n";
	char block[6 * 1024];
	struct buf wire = BUF_INIT;

	greet(cl);
	start_compress(cl);
	if (FAILED(cl))
		return;
	for (size_t i = 0; i < sizeof(block); i += 6)
		memcpy(block + i, noop, 6);
	zput(cl, &wire, "PAUSE\r\n", 7, Z_NO_FLUSH);
	/* 1.8 MiB inflated, three times the input bound; no more: the
	 * answers go out when the burst of NOOPs is done, which under the
	 * sanitizers at 1.5 million took longer than the client waits. */
	for (int i = 0; i < 300; i++)
		zput(cl, &wire, block, sizeof(block), Z_NO_FLUSH);
	zput(cl, &wire, "COUNT\r\n", 7, Z_SYNC_FLUSH);
	if (raw_write(cl, wire.data, wire.len) == -1)
		FAIL(cl, "write failed");
	buf_release(&wire);
	expect(cl, "RESUMED");
	expect(cl, "307200");
	send_line(cl, "QUIT\r\n");
	expect(cl, "BYE");
	expect_end(cl);
}

/* Octets that are no deflate stream: the server hangs up. */
static void
script_corrupt(struct client *cl)
{
	greet(cl);
	start_compress(cl);
	if (FAILED(cl))
		return;
	if (raw_write(cl, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == -1)
		FAIL(cl, "write failed");
	expect_end(cl);
}

/* The idle timeout, on the filter now: its 421-like line arrives
 * compressed and flushed, then the end. */
static void
script_idle(struct client *cl)
{
	greet(cl);
	start_compress(cl);
	send_line(cl, "IDLE1\r\n");
	expect(cl, "OK");
	expect(cl, "* BYE idle");
	expect_end(cl);
}

/* The same without compression. */
static void
script_idle_plain(struct client *cl)
{
	greet(cl);
	send_line(cl, "IDLE1\r\n");
	expect(cl, "OK");
	expect(cl, "* BYE idle");
	expect_end(cl);
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	struct timeval tv = { 10, 0 };

	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cl->script(cl);
	/* Whatever happened, the server sees the end. */
	shutdown(cl->fd, SHUT_RDWR);
	return NULL;
}

/* ----------------------------------------------------------- harness --- */

static char tmpdir[64];

static void
make_tls(void)
{
	char cert[128], key[128];
	struct buf errs = BUF_INIT;
	int cfd, kfd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-ztest-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	assert_int_equal(tls_make_self_signed("mx.example.test", cert, key, &errs), 0);
	cfd = open(cert, O_RDONLY);
	kfd = open(key, O_RDONLY);
	srv.tls = tls_new(cfd, kfd, &errs);
	assert_non_null(srv.tls);
	close(cfd);
	close(kfd);
	unlink(cert);
	unlink(key);
	rmdir(tmpdir);
	buf_release(&errs);
}

/* One connection through conn_start, the client's script in a thread;
 * returns once the session has closed. */
static void
run(enum tls_way way, void (*script)(struct client *), struct client *cl)
{
	struct listener_conf lc = { .proto = &ztest_proto, .service = "ztest" };
	struct conn_peer peer = { .family = AF_INET, .port = 1, .addr = { 127, 0, 0, 1 },
	    .ip = "127.0.0.1" };
	struct event *sampler;
	pthread_t th;
	int sv[2];

	memset(cl, 0, sizeof(*cl));
	srv.closed = srv.reason_null = srv.sampling = false;
	srv.reason[0] = '\0';
	srv.id = 0;
	srv.max_in = srv.max_out = 0;
	cl->tls = way;
	cl->script = script;
	if (way != NO_TLS) {
		if (srv.tls == NULL)
			make_tls();
		cl->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_NONE, NULL);
	}
	lc.tls_mode = way == IMPLICIT ? LISTENER_TLS_IMPLICIT :
	    way == STARTTLS ? LISTENER_TLS_STARTTLS : LISTENER_TLS_NONE;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
	srv.base = event_base_new();
	sampler = event_new(srv.base, -1, EV_PERSIST, on_sample, NULL);
	event_add(sampler, &(struct timeval){ 0, 1000 });
	assert_non_null(conn_start(srv.base, sv[0], &peer, &lc, srv.tls, "127.0.0.1"));
	cl->fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, client_main, cl), 0);
	event_base_loopexit(srv.base, &(struct timeval){ 60, 0 });
	event_base_dispatch(srv.base);
	pthread_join(th, NULL);
	conn_close_all();
	event_free(sampler);
	event_base_free(srv.base);
	if (cl->ssl)
		SSL_free(cl->ssl);
	if (cl->ctx)
		SSL_CTX_free(cl->ctx);
	close(sv[1]);
	if (cl->z) {
		deflateEnd(&cl->def);
		inflateEnd(&cl->inf);
	}
	buf_release(&cl->plain);
	if (cl->err[0])
		fail_msg("client: %s (server: %s%s)", cl->err,
		    !srv.closed ? "still open" : srv.reason_null ? "closed by the session" :
		    "closed: ", srv.reason);
	assert_true(srv.closed);
}

static void
test_basic(void **state)
{
	struct client cl;

	(void)state;
	run(NO_TLS, script_basic, &cl);
	assert_true(srv.reason_null);
	assert_true(srv.max_out > 0);
	assert_true(srv.max_out <= OUT_BOUND);
}

static void
test_implicit_tls(void **state)
{
	struct client cl;

	(void)state;
	run(IMPLICIT, script_basic, &cl);
	assert_true(srv.reason_null);
	assert_true(srv.max_out <= OUT_BOUND);
}

/* Three layers: the filter over TLS's filter over the socket. */
static void
test_starttls(void **state)
{
	struct client cl;

	(void)state;
	run(STARTTLS, script_basic, &cl);
	assert_true(srv.reason_null);
	assert_true(srv.max_out <= OUT_BOUND);
}

/* Without compression the same bound holds, also after STARTTLS: TLS's
 * filter hands its records to the socket's bufferevent, which without a
 * watermark took a whole 8 MB response (6.5 MB seen) while the client
 * was not reading. */
static void
test_big_plain(void **state)
{
	struct client cl;

	(void)state;
	run(NO_TLS, script_big_plain, &cl);
	assert_true(srv.max_out <= OUT_BOUND);
	run(IMPLICIT, script_big_plain, &cl);
	assert_true(srv.max_out <= OUT_BOUND);
	run(STARTTLS, script_big_plain, &cl);
	assert_true(srv.max_out <= OUT_BOUND);
}

static void
test_long_line(void **state)
{
	struct client cl;

	(void)state;
	run(NO_TLS, script_long_line, &cl);
	assert_true(srv.reason_null);
	assert_true(srv.max_in <= IN_BOUND);
}

static void
test_pause(void **state)
{
	struct client cl;

	(void)state;
	run(STARTTLS, script_pause, &cl);
	assert_true(srv.max_in > 0);
	assert_true(srv.max_in <= IN_BOUND);
}

static void
test_corrupt(void **state)
{
	struct client cl;

	(void)state;
	run(NO_TLS, script_corrupt, &cl);
	assert_string_equal(srv.reason, "compression error");
}

static void
test_idle(void **state)
{
	struct client cl;

	(void)state;
	run(NO_TLS, script_idle, &cl);
	assert_true(srv.reason_null);
	run(IMPLICIT, script_idle, &cl);
	assert_true(srv.reason_null);
	run(STARTTLS, script_idle, &cl);
	assert_true(srv.reason_null);
	/* Not compressing, after STARTTLS: the filter is TLS's. */
	run(STARTTLS, script_idle_plain, &cl);
	assert_true(srv.reason_null);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_big_plain),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_idle),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_conn_compress", getenv("TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_WARN, 0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tls_free(&srv.tls);
	return rc;
}
