/*
 * deflate: raw deflate both ways for a connection (see deflate.h).
 *
 * The filters move octets between evbuffers through zlib in pieces: each
 * zlib call gets one contiguous chunk of the source (evbuffer_peek) and
 * space reserved in the destination (evbuffer_reserve_space), and only
 * what zlib took is drained and what it made committed. zlib's memory
 * comes through our allocator so that its size is known (and tested).
 */
#include "deflate.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* Octets asked of zlib per call. */
#define CHUNK (16 * 1024)
/* Output space per call while draining what the inflater holds past the
 * limit (see deflate_filter_in). */
#define HELD_CHUNK 1024
/* The most input given to one zlib call. */
#define IN_MAX (1024 * 1024)

struct deflate_stream {
	z_stream in;             /* inflater: the client's stream */
	z_stream out;            /* deflater: ours */
	bool in_ready, out_ready;  /* inflateInit2/deflateInit2 done */
	bool in_held;            /* the last inflate filled its output: it may hold more */
	bool in_ended;           /* the client ended its stream (final block) */
	bool unflushed;          /* deflated since the last sync flush */
	bool failed;
	void (*notify)(void *);
	void *arg;
	size_t mem;              /* octets zlib holds */
	struct deflate_stats st;
};

/* ----------------------------------------------------------- memory ---- */

/* Each block carries its size in front, so that it can be counted off. */
union zblock {
	size_t size;
	max_align_t align;
};

static voidpf
zalloc(voidpf opaque, uInt items, uInt size)
{
	struct deflate_stream *ds = opaque;
	union zblock *b;
	size_t n;

	if (__builtin_mul_overflow((size_t)items, (size_t)size, &n) ||
	    __builtin_add_overflow(n, sizeof(*b), &n) || (b = malloc(n)) == NULL)
		return Z_NULL;
	b->size = n;
	ds->mem += n;
	return b + 1;
}

static void
zfree(voidpf opaque, voidpf p)
{
	struct deflate_stream *ds = opaque;
	union zblock *b;

	if (p == NULL)
		return;
	b = (union zblock *)p - 1;
	ds->mem -= b->size;
	free(b);
}

/* ---------------------------------------------------------- lifetime --- */

struct deflate_stream *
deflate_stream_new(void (*notify)(void *), void *arg)
{
	struct deflate_stream *ds = calloc(1, sizeof(*ds));

	if (ds == NULL)
		return NULL;
	ds->notify = notify;
	ds->arg = arg;
	ds->in.zalloc = ds->out.zalloc = zalloc;
	ds->in.zfree = ds->out.zfree = zfree;
	ds->in.opaque = ds->out.opaque = ds;
	/* Negative window bits: raw deflate, no header or trailer (RFC 4978
	 * §3). The inflater takes any window up to 32 KiB. */
	if (inflateInit2(&ds->in, -MAX_WBITS) != Z_OK)
		goto fail;
	ds->in_ready = true;
	if (deflateInit2(&ds->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -DEFLATE_WINDOW_BITS,
	    DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		goto fail;
	ds->out_ready = true;
	return ds;
fail:
	deflate_stream_free(&ds);
	return NULL;
}

void
deflate_stream_free(struct deflate_stream **dsp)
{
	struct deflate_stream *ds = *dsp;

	if (ds == NULL)
		return;
	if (ds->in_ready)
		inflateEnd(&ds->in);
	if (ds->out_ready)
		deflateEnd(&ds->out);
	free(ds);
	*dsp = NULL;
}

void
deflate_stream_free_ctx(void *p)
{
	struct deflate_stream *ds = p;

	deflate_stream_free(&ds);
}

void
deflate_stream_notify(struct deflate_stream *ds, void (*notify)(void *), void *arg)
{
	ds->notify = notify;
	ds->arg = arg;
}

bool
deflate_stream_unflushed(const struct deflate_stream *ds)
{
	return ds->unflushed;
}

bool
deflate_stream_failed(const struct deflate_stream *ds)
{
	return ds->failed;
}

void
deflate_stream_stats(const struct deflate_stream *ds, struct deflate_stats *st)
{
	*st = ds->st;
}

size_t
deflate_stream_memory(const struct deflate_stream *ds)
{
	return ds->mem;
}

static void
fail(struct deflate_stream *ds)
{
	ds->failed = true;
	if (ds->notify)
		ds->notify(ds->arg);
}

/* What one zlib call did. */
struct step {
	int r;          /* zlib's answer */
	size_t used;    /* octets taken from src */
	size_t made;    /* octets put into dst */
	bool full;      /* it filled the space it was given */
};

/*
 * One zlib call (inflate or deflate, flush as zlib takes it) from the
 * first chunk of src (if any) into up to want octets of dst.
 */
static struct step
zstep(z_stream *zs, bool inflating, struct evbuffer *src, struct evbuffer *dst,
    size_t want, int flush)
{
	struct evbuffer_iovec in = { NULL, 0 }, out;
	struct step s = { Z_MEM_ERROR, 0, 0, false };

	if (evbuffer_peek(src, -1, NULL, &in, 1) < 1)
		in.iov_len = 0;
	if (in.iov_len > IN_MAX)
		in.iov_len = IN_MAX;   /* avail_in is an unsigned int */
	if (evbuffer_reserve_space(dst, (ev_ssize_t)want, &out, 1) < 1)
		return s;
	if (out.iov_len > want)
		out.iov_len = want;
	zs->next_in = in.iov_base;
	zs->avail_in = (uInt)in.iov_len;
	zs->next_out = out.iov_base;
	zs->avail_out = (uInt)out.iov_len;
	s.r = inflating ? inflate(zs, flush) : deflate(zs, flush);
	s.used = in.iov_len - zs->avail_in;
	s.made = out.iov_len - zs->avail_out;
	s.full = zs->avail_out == 0;
	out.iov_len = s.made;
	evbuffer_commit_space(dst, &out, 1);
	evbuffer_drain(src, s.used);
	return s;
}

/* ---------------------------------------------------------- inflate ---- */

enum bufferevent_filter_result
deflate_filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *p)
{
	struct deflate_stream *ds = p;
	size_t room = limit < 0 ? SIZE_MAX : (size_t)limit;
	bool progress = false;

	(void)mode;
	if (ds->failed)
		return BEV_ERROR;
	for (;;) {
		bool more_in = evbuffer_get_length(src) > 0;
		size_t want;
		struct step s;

		if (ds->in_ended) {
			if (more_in) {
				/* Nothing may follow the final block. */
				fail(ds);
				return BEV_ERROR;
			}
			break;
		}
		if (room > 0 && (more_in || ds->in_held))
			want = room < CHUNK ? room : CHUNK;
		else if (room == 0 && !more_in && ds->in_held)
			/* src is empty, so the filter will not be called again
			 * until the client sends more, and zlib may still hold
			 * output (a match cut short, codes already read: a few
			 * KiB at most; a burst flushed with Z_BLOCK ends so).
			 * It goes out now, past the limit, or a command could
			 * wait for input that never comes. */
			want = HELD_CHUNK;
		else
			break;
		s = zstep(&ds->in, true, src, dst, want, Z_SYNC_FLUSH);
		ds->st.in += s.used;
		ds->st.in_plain += s.made;
		/* A full output buffer: zlib may hold more. */
		ds->in_held = s.full;
		if (room != SIZE_MAX)
			room -= s.made < room ? s.made : room;
		if (s.r == Z_STREAM_END)
			ds->in_ended = true;
		else if (s.r != Z_OK && s.r != Z_BUF_ERROR) {
			fail(ds);
			return BEV_ERROR;
		}
		if (s.used == 0 && s.made == 0) {
			ds->in_held = false;
			if (s.r != Z_STREAM_END)
				break;   /* zlib needs more input */
		} else
			progress = true;
	}
	return progress ? BEV_OK : BEV_NEED_MORE;
}

/* ---------------------------------------------------------- deflate ---- */

enum bufferevent_filter_result
deflate_filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *p)
{
	struct deflate_stream *ds = p;
	size_t room = limit < 0 ? SIZE_MAX : (size_t)limit;
	bool progress = false;
	struct step s;

	if (ds->failed)
		return BEV_ERROR;
	while (evbuffer_get_length(src) > 0 && room > 0) {
		s = zstep(&ds->out, false, src, dst, room < CHUNK ? room : CHUNK, Z_NO_FLUSH);
		ds->st.out_plain += s.used;
		ds->st.out += s.made;
		if (s.r != Z_OK && s.r != Z_BUF_ERROR) {
			fail(ds);
			return BEV_ERROR;
		}
		if (s.used == 0 && s.made == 0)
			break;
		if (s.used > 0)
			ds->unflushed = true;
		progress = true;
		if (room != SIZE_MAX)
			room -= s.made < room ? s.made : room;
	}
	if (mode != BEV_NORMAL && ds->unflushed && evbuffer_get_length(src) == 0) {
		/* The end of a burst: everything out, on a byte boundary,
		 * the window kept (Z_SYNC_FLUSH, RFC 4978 §4). */
		do {
			s = zstep(&ds->out, false, src, dst, CHUNK, Z_SYNC_FLUSH);
			ds->st.out += s.made;
			if (s.r != Z_OK && s.r != Z_BUF_ERROR) {
				fail(ds);
				return BEV_ERROR;
			}
		} while (s.full);
		ds->unflushed = false;
		progress = true;
	} else if (ds->unflushed && ds->notify)
		ds->notify(ds->arg);
	return progress ? BEV_OK : BEV_NEED_MORE;
}
