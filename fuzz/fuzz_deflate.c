/*
 * fuzz_deflate: net/deflate.c's filters against zlib itself.
 *
 * Input: byte 0 picks the inflater's limit ((b0 + 1) * 64 octets), byte 1
 * the piece size (low 6 bits, + 1) and where the deflater flushes (high
 * bits); the rest is the data.
 *
 * Inflating: the data taken as the client's stream, fed in pieces, the
 * filter called with the limit and its output drained between calls as
 * the bufferevent does, until the input is gone. No call may pass the
 * limit by more than what zlib holds without input (8 KiB is far above
 * it); and the result must be what zlib gives for the whole input at
 * once: the same octets when the stream is good (nothing left inside
 * zlib once the input is gone), a prefix of them and a broken stream
 * when zlib finds an error or data after the final block.
 *
 * Deflating: the data written in pieces with a small limit and flushed
 * now and then; after each flush zlib decodes exactly what was written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_check.h"
#include "net/deflate.h"

#define OUT_MAX (4u << 20)   /* what zlib's reference may inflate to */

/* zlib on the whole input: the output, and whether the stream is broken
 * (an error, or input after the final block). */
static size_t
reference(const uint8_t *p, size_t n, unsigned char *out, bool *broken_r, bool *capped_r)
{
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	CHECK(inflateInit2(&z, -15) == Z_OK);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = OUT_MAX;
	r = inflate(&z, Z_SYNC_FLUSH);
	*capped_r = z.avail_out == 0;
	*broken_r = !(r == Z_OK || r == Z_BUF_ERROR || (r == Z_STREAM_END && z.avail_in == 0));
	inflateEnd(&z);
	return OUT_MAX - z.avail_out;
}

static void
fuzz_inflate(const uint8_t *p, size_t n, size_t limit, size_t piece)
{
	static unsigned char ref[OUT_MAX];
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	unsigned char *got = malloc(OUT_MAX + 65536);
	size_t off = 0, len = 0, want;
	bool broken, capped;

	CHECK(ds && src && dst && got);
	want = reference(p, n, ref, &broken, &capped);
	while (off < n && !deflate_stream_failed(ds) && len <= OUT_MAX) {
		size_t k = n - off < piece ? n - off : piece, made;

		evbuffer_add(src, p + off, k);
		off += k;
		/* As be_filter_process_input and its inbuf callback do: while
		 * there is input, with the output drained in between. */
		while (evbuffer_get_length(src) > 0 && len <= OUT_MAX) {
			enum bufferevent_filter_result r =
			    deflate_filter_in(src, dst, (ev_ssize_t)limit, BEV_NORMAL, ds);

			made = evbuffer_get_length(dst);
			CHECK(made <= limit + 8192);
			evbuffer_remove(dst, got + len, made);
			len += made;
			if (r != BEV_OK)
				break;
		}
	}
	if (!capped && len <= OUT_MAX) {
		if (deflate_stream_failed(ds)) {
			CHECK(broken);
			CHECK(len <= want && memcmp(got, ref, len) == 0);
		} else {
			CHECK(!broken);
			CHECK(len == want && memcmp(got, ref, len) == 0);
		}
	}
	free(got);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

static void
fuzz_deflate(const uint8_t *p, size_t n, size_t piece, unsigned flush_every)
{
	struct deflate_stream *ds = deflate_stream_new(NULL, NULL);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	unsigned char *plain = malloc(n + 1), *wire = NULL;
	size_t off = 0, plen = 0, pieces = 0;
	z_stream z;

	CHECK(ds && src && dst && plain);
	memset(&z, 0, sizeof(z));
	CHECK(inflateInit2(&z, -15) == Z_OK);
	while (off < n) {
		size_t k = n - off < piece ? n - off : piece;

		evbuffer_add(src, p + off, k);
		off += k;
		while (evbuffer_get_length(src) > 0)
			CHECK(deflate_filter_out(src, dst, 100, BEV_NORMAL, ds) == BEV_OK);
		if (++pieces % flush_every == 0 || off == n) {
			size_t wlen;

			deflate_filter_out(src, dst, -1, BEV_FLUSH, ds);
			CHECK(!deflate_stream_unflushed(ds));
			wlen = evbuffer_get_length(dst);
			wire = realloc(wire, wlen ? wlen : 1);
			CHECK(wire);
			evbuffer_remove(dst, wire, wlen);
			z.next_in = wire;
			z.avail_in = (uInt)wlen;
			z.next_out = plain + plen;
			z.avail_out = (uInt)(n + 1 - plen);
			CHECK(inflate(&z, Z_SYNC_FLUSH) == Z_OK || wlen == 0);
			CHECK(z.avail_in == 0);
			plen = n + 1 - z.avail_out;
			/* Everything written so far, and nothing else. */
			CHECK(plen == off && memcmp(plain, p, off) == 0);
		}
	}
	inflateEnd(&z);
	free(plain);
	free(wire);
	evbuffer_free(src);
	evbuffer_free(dst);
	deflate_stream_free(&ds);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t limit, piece;

	if (size < 2)
		return 0;
	limit = ((size_t)data[0] + 1) * 64;
	piece = (size_t)(data[1] & 63) + 1;
	fuzz_inflate(data + 2, size - 2, limit, piece);
	fuzz_deflate(data + 2, size - 2, piece, (unsigned)(data[1] >> 6) + 1);
	return 0;
}
