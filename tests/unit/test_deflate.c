/*
 * test_deflate: src/net/deflate.c's two filters on evbuffers, against
 * zlib's own inflate and deflate in the test: our output decodes to what
 * was written, at every flush and not before it is needed; the client's
 * stream (any window, any level, cut anywhere) inflates to what it
 * carried; corrupt input and data after the final block are errors; a
 * small input that inflates enormously comes out a limit at a time; and
 * the memory zlib holds stays within its bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "net/deflate.h"

static unsigned notified;

static void
on_notify(void *arg)
{
	(void)arg;
	notified++;
}

/* Text that compresses like IMAP output, n octets. */
static unsigned char *
sample(size_t n)
{
	static const char *words[] = { "FETCH", "(UID", "FLAGS", "(\\Seen)", "From:",
	    "alice@example.org", "Subject:", "Re:", "meeting", "\r\n", "BODY[]", "{512}" };
	unsigned char *p = malloc(n);
	size_t i = 0, k = 7;

	assert_non_null(p);
	while (i < n) {
		const char *w = words[k % 12];
		size_t m = strlen(w);

		k = k * 1103515245 + 12345;
		k &= 0x7fffffff;
		for (size_t j = 0; j < m && i < n; j++)
			p[i++] = (unsigned char)w[j];
		if (i < n)
			p[i++] = (k >> 8) % 5 == 0 ? (unsigned char)('0' + (k >> 12) % 10) : ' ';
	}
	return p;
}

/* zlib's raw inflater, as a client has it. */
struct reader {
	z_stream z;
	unsigned char *out;
	size_t len, cap;
};

static void
reader_init(struct reader *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(inflateInit2(&r->z, -15), Z_OK);
	r->cap = cap;
	r->out = malloc(cap);
	assert_non_null(r->out);
}

/* Feeds everything in b (drained) and returns what it decoded so far. */
static size_t
reader_feed(struct reader *r, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	unsigned char *in = malloc(n ? n : 1);
	int rc;

	assert_non_null(in);
	evbuffer_remove(b, in, n);
	r->z.next_in = in;
	r->z.avail_in = (uInt)n;
	r->z.next_out = r->out + r->len;
	r->z.avail_out = (uInt)(r->cap - r->len);
	rc = inflate(&r->z, Z_SYNC_FLUSH);
	assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
	assert_int_equal(r->z.avail_in, 0);
	r->len = r->cap - r->z.avail_out;
	free(in);
	return r->len;
}

static void
reader_end(struct reader *r)
{
	inflateEnd(&r->z);
	free(r->out);
}

/* Our deflater, written in bursts of uneven pieces, each burst flushed:
 * after each flush the client decodes exactly what was written so far,
 * and the flush ends in the empty stored block of a sync flush. */
static void
test_out_round_trip(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(on_notify, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	size_t n = 300000, off = 0, piece = 1, burst = 0;
	unsigned char *plain = sample(n);
	struct reader r;
	struct deflate_stats st;

	(void)state;
	assert_non_null(ds);
	reader_init(&r, n);
	notified = 0;
	while (off < n) {
		size_t end = off + 7000 + burst * 3001 % 40000;

		if (end > n)
			end = n;
		while (off < end) {
			size_t m = piece < end - off ? piece : end - off;

			evbuffer_add(src, plain + off, m);
			assert_int_equal(deflate_filter_out(src, dst, -1, BEV_NORMAL, ds), BEV_OK);
			assert_int_equal(evbuffer_get_length(src), 0);
			off += m;
			piece = piece * 3 % 997 + 1;
		}
		/* Written but not flushed: the owner was told. */
		assert_true(deflate_stream_unflushed(ds));
		assert_true(notified > 0);
		assert_int_equal(deflate_filter_out(src, dst, -1, BEV_FLUSH, ds), BEV_OK);
		assert_false(deflate_stream_unflushed(ds));
		{
			size_t len = evbuffer_get_length(dst);
			unsigned char *all = malloc(len);

			evbuffer_copyout(dst, all, len);
			assert_memory_equal(all + len - 4, "\x00\x00\xff\xff", 4);
			free(all);
		}
		assert_int_equal(reader_feed(&r, dst), off);
		assert_memory_equal(r.out, plain, off);
		/* A flush with nothing new writes nothing. */
		assert_int_equal(deflate_filter_out(src, dst, -1, BEV_FLUSH, ds), BEV_NEED_MORE);
		assert_int_equal(evbuffer_get_length(dst), 0);
		burst++;
	}
	deflate_stream_stats(ds, &st);
	assert_int_equal(st.out_plain, n);
	assert_true(st.out < n / 4);   /* it did compress */
	reader_end(&r);
	free(plain);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
	assert_null(ds);
}

/* With a limit, the deflater puts no more than it into dst and leaves the
 * rest of src for the next call. */
static void
test_out_limit(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	size_t n = 200000, calls = 0;
	unsigned char *plain = malloc(n);
	struct reader r;

	(void)state;
	uint32_t x = 2463534242u;

	/* Incompressible (xorshift32): the output is as large as the input. */
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		plain[i] = (unsigned char)(x >> 11);
	}
	reader_init(&r, n);
	evbuffer_add(src, plain, n);
	while (evbuffer_get_length(src) > 0) {
		assert_int_equal(deflate_filter_out(src, dst, 5000, BEV_NORMAL, ds), BEV_OK);
		assert_true(evbuffer_get_length(dst) <= 5000);
		reader_feed(&r, dst);
		assert_true(++calls < 1000);
	}
	assert_true(calls > 10);
	assert_int_equal(deflate_filter_out(src, dst, -1, BEV_FLUSH, ds), BEV_OK);
	assert_int_equal(reader_feed(&r, dst), n);
	assert_memory_equal(r.out, plain, n);
	reader_end(&r);
	free(plain);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

/* The client's stream, made by zlib with its largest window, arrives in
 * pieces of every size (even one octet): it inflates to what it carried,
 * and each sync-flushed command is whole as soon as its last octet is in. */
static void
test_in_round_trip(void **state)
{
	static const int levels[] = { 1, 6, 9 };
	size_t n = 200000;
	unsigned char *plain = sample(n);

	(void)state;
	for (size_t li = 0; li < 3; li++) {
		struct deflate_stream *ds = deflate_stream_new(on_notify, NULL);
		struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
		unsigned char *wire = malloc(n + 1024), *got = malloc(n);
		z_stream z;
		size_t wlen = 0, off = 0, piece = 1, cmd = 0;

		memset(&z, 0, sizeof(z));
		assert_int_equal(deflateInit2(&z, levels[li], Z_DEFLATED, -15, 9,
		    Z_DEFAULT_STRATEGY), Z_OK);
		/* Commands of growing size, each sync-flushed as a client does. */
		while (off < n) {
			size_t m = 40 + cmd * 97 % 5000, before = wlen;

			if (m > n - off)
				m = n - off;
			z.next_in = plain + off;
			z.avail_in = (uInt)m;
			z.next_out = wire + wlen;
			z.avail_out = (uInt)(n + 1024 - wlen);
			assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
			wlen = n + 1024 - z.avail_out;
			off += m;
			/* The command's octets, in pieces: all of it is out
			 * once its last octet is in. */
			for (size_t i = before; i < wlen; ) {
				size_t k = piece < wlen - i ? piece : wlen - i;

				evbuffer_add(src, wire + i, k);
				deflate_filter_in(src, dst, -1, BEV_NORMAL, ds);
				assert_int_equal(evbuffer_get_length(src), 0);
				i += k;
				piece = piece * 7 % 301 + 1;
			}
			assert_int_equal(evbuffer_get_length(dst), off);
			cmd++;
		}
		assert_int_equal(evbuffer_get_length(dst), n);
		evbuffer_remove(dst, got, n);
		assert_memory_equal(got, plain, n);
		assert_false(deflate_stream_failed(ds));
		deflateEnd(&z);
		free(wire);
		free(got);
		evbuffer_free(src);
		evbuffer_free(dst);
		deflate_stream_free(&ds);
	}
	free(plain);
}

/* Octets that are no deflate stream: an error, the owner told, and the
 * stream stays broken. */
static void
test_in_corrupt(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(on_notify, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	/* Block type 3 (reserved) in the first header. */
	static const unsigned char bad[] = { 0x07, 0x00, 0x00, 0x00 };

	(void)state;
	notified = 0;
	evbuffer_add(src, bad, sizeof(bad));
	assert_int_equal(deflate_filter_in(src, dst, -1, BEV_NORMAL, ds), BEV_ERROR);
	assert_true(deflate_stream_failed(ds));
	assert_int_equal(notified, 1);
	assert_int_equal(evbuffer_get_length(dst), 0);
	evbuffer_add(src, "more", 4);
	assert_int_equal(deflate_filter_in(src, dst, -1, BEV_NORMAL, ds), BEV_ERROR);
	assert_int_equal(deflate_filter_out(src, dst, -1, BEV_NORMAL, ds), BEV_ERROR);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

/* The client ended its stream (a final block): more after it is an
 * error, the final block itself is not. */
static void
test_in_after_end(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(on_notify, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	unsigned char wire[64];
	uLongf wlen = sizeof(wire);
	z_stream z;

	(void)state;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)"a LOGOUT\r\n";
	z.avail_in = 10;
	z.next_out = wire;
	z.avail_out = sizeof(wire);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	wlen = sizeof(wire) - z.avail_out;
	deflateEnd(&z);
	notified = 0;
	evbuffer_add(src, wire, wlen);
	assert_int_equal(deflate_filter_in(src, dst, -1, BEV_NORMAL, ds), BEV_OK);
	assert_int_equal(evbuffer_get_length(dst), 10);
	assert_false(deflate_stream_failed(ds));
	evbuffer_add(src, wire, wlen);
	assert_int_equal(deflate_filter_in(src, dst, -1, BEV_NORMAL, ds), BEV_ERROR);
	assert_true(deflate_stream_failed(ds));
	assert_int_equal(notified, 1);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

/* 64 MiB of one octet in about 64 KiB on the wire: each call stops at the
 * limit (a few KiB past it at most, what zlib held once the input ran
 * out), and the rest waits compressed until the reader has drained. */
static void
test_in_bomb(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	size_t total = 64u << 20, chunk = 1u << 20, got = 0, calls = 0, limit = 256 * 1024;
	unsigned char *zeros = calloc(1, chunk), *wire = malloc(2 * chunk);
	z_stream z;

	(void)state;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	for (size_t i = 0; i < total / chunk; i++) {
		z.next_in = zeros;
		z.avail_in = (uInt)chunk;
		do {
			z.next_out = wire;
			z.avail_out = (uInt)(2 * chunk);
			deflate(&z, i + 1 == total / chunk ? Z_SYNC_FLUSH : Z_NO_FLUSH);
			evbuffer_add(src, wire, 2 * chunk - z.avail_out);
		} while (z.avail_out == 0);
	}
	deflateEnd(&z);
	assert_true(evbuffer_get_length(src) < 128 * 1024);
	while (got < total) {
		size_t in_before = evbuffer_get_length(src), made;

		assert_int_equal(deflate_filter_in(src, dst, (ev_ssize_t)limit, BEV_NORMAL, ds),
		    BEV_OK);
		made = evbuffer_get_length(dst);
		assert_true(made <= limit + 4096);
		assert_true(made > 0);
		/* Most of the input stays where it was, compressed. */
		if (got + made < total)
			assert_true(evbuffer_get_length(src) > 0 &&
			    evbuffer_get_length(src) < in_before);
		evbuffer_drain(dst, made);
		got += made;
		assert_true(++calls <= total / limit + 2);
	}
	assert_int_equal(got, total);
	assert_int_equal(evbuffer_get_length(src), 0);
	free(zeros);
	free(wire);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

/* The last of the input is taken (into zlib's bit buffer) when the limit
 * is reached: nothing will call the filter again until the client sends
 * more, so what zlib holds comes out now, past the limit. (A sync or
 * partial flush ends in codes that zlib reads only after the output
 * before them; a client flushing with Z_BLOCK ends its burst right
 * after the codes of its last match.) */
static void
test_in_held(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	unsigned char plain[3000], wire[256];
	size_t got = 0, calls = 0;
	z_stream z;

	(void)state;
	memset(plain, 'x', sizeof(plain));
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = plain;
	z.avail_in = sizeof(plain);
	z.next_out = wire;
	z.avail_out = sizeof(wire);
	assert_int_equal(deflate(&z, Z_BLOCK), Z_OK);
	evbuffer_add(src, wire, sizeof(wire) - z.avail_out);
	deflateEnd(&z);
	/* As the bufferevent does: called while there is input, the output
	 * drained in between. */
	while (evbuffer_get_length(src) > 0) {
		got += evbuffer_get_length(dst);
		evbuffer_drain(dst, evbuffer_get_length(dst));
		assert_int_equal(deflate_filter_in(src, dst, 10, BEV_NORMAL, ds), BEV_OK);
		assert_true(++calls < sizeof(plain));
	}
	assert_int_equal(got + evbuffer_get_length(dst), sizeof(plain));
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

/* zlib's memory per stream: our deflater's small window, the inflater's
 * state, and its window once the client's stream needs it. */
static void
test_memory(void **state)
{
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	size_t fresh, used;
	unsigned char *plain = sample(100000), wire[120000];

	(void)state;
	fresh = deflate_stream_memory(ds);
	/* deflate: 2^(12+2) + 2^(4+9) and its state; inflate: its state. */
	assert_true(fresh > 24 * 1024);
	assert_true(fresh < 48 * 1024);
	{
		z_stream z;

		memset(&z, 0, sizeof(z));
		deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
		z.next_in = plain;
		z.avail_in = 100000;
		z.next_out = wire;
		z.avail_out = sizeof(wire);
		deflate(&z, Z_SYNC_FLUSH);
		evbuffer_add(src, wire, sizeof(wire) - z.avail_out);
		deflateEnd(&z);
	}
	assert_int_equal(deflate_filter_in(src, dst, -1, BEV_NORMAL, ds), BEV_OK);
	assert_int_equal(evbuffer_get_length(dst), 100000);
	evbuffer_add_buffer(src, dst);
	deflate_filter_out(src, dst, -1, BEV_FLUSH, ds);
	used = deflate_stream_memory(ds);
	/* + the inflater's 32 KiB window, and nothing else. */
	assert_true(used >= fresh + 32 * 1024);
	assert_true(used < fresh + 36 * 1024);
	free(plain);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_round_trip),
		cmocka_unit_test(test_out_limit),
		cmocka_unit_test(test_in_round_trip),
		cmocka_unit_test(test_in_corrupt),
		cmocka_unit_test(test_in_after_end),
		cmocka_unit_test(test_in_bomb),
		cmocka_unit_test(test_in_held),
		cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
