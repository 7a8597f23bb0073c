/*
 * deflate: the compression layer of a connection (IMAP COMPRESS=DEFLATE,
 * RFC 4978): a raw deflate stream (RFC 1951, no zlib or gzip header) each
 * way, as the two callbacks of a libevent filtering bufferevent
 * (bufferevent_filter_new) that conn.c stacks over the connection. One
 * struct deflate_stream holds both zlib states of one connection; it is
 * made only when compression starts, so an idle connection without it
 * pays nothing.
 *
 * Memory is bounded: our deflater uses a 4 KiB window and memLevel 4
 * (about 30 KiB in all, where zlib's defaults take 256 KiB; the receiver
 * decodes any window, RFC 1951 §3.2.5, so the choice is ours alone). The
 * inflater must take the client's window, up to 32 KiB, which zlib
 * allocates on first use. Inflated output never passes the limit the
 * bufferevent gives (its input high watermark) by more than what zlib
 * holds without new input (a few KiB), so a small input that inflates
 * enormously is taken a watermark at a time, as the reader drains it.
 *
 * Output is deflated as it is written, without a flush; the owner is told
 * (notify) and flushes (bufferevent_flush with BEV_FLUSH: Z_SYNC_FLUSH) at
 * the end of the burst, so the client can decode every response without
 * waiting for more, and a burst of small writes costs one flush.
 */
#ifndef TERN_NET_DEFLATE_H
#define TERN_NET_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Our deflater's window (2^12 octets) and zlib memLevel. */
#define DEFLATE_WINDOW_BITS 12
#define DEFLATE_MEM_LEVEL 4

struct deflate_stream;

struct deflate_stats {
	uint64_t in;          /* compressed octets read */
	uint64_t in_plain;    /* what they inflated to */
	uint64_t out_plain;   /* octets the session wrote */
	uint64_t out;         /* compressed octets sent */
};

/*
 * Both zlib states, or NULL (out of memory). notify(arg) is called from
 * inside a filter callback when output waits unflushed in the deflater,
 * and when the input turned out corrupt: the owner schedules its work
 * (a flush, a close) for later and must not free anything there.
 */
struct deflate_stream *deflate_stream_new(void (*notify)(void *), void *arg);
void deflate_stream_free(struct deflate_stream **dsp);
/* The same, as bufferevent_filter_new's free_context. */
void deflate_stream_free_ctx(void *ds);
/* Changes (or with NULL, stops) the notification. */
void deflate_stream_notify(struct deflate_stream *ds, void (*notify)(void *), void *arg);

/* The filters (bufferevent_filter_cb): in inflates src into dst, at most
 * limit octets (limit < 0: no limit) plus what zlib holds once src is
 * empty; out deflates, Z_SYNC_FLUSH in BEV_FLUSH and BEV_FINISHED mode.
 * BEV_ERROR once the stream is broken (corrupt input, or data after the
 * client ended its stream); BEV_NEED_MORE when nothing moved. */
enum bufferevent_filter_result deflate_filter_in(struct evbuffer *src,
    struct evbuffer *dst, ev_ssize_t limit, enum bufferevent_flush_mode mode,
    void *ds);
enum bufferevent_filter_result deflate_filter_out(struct evbuffer *src,
    struct evbuffer *dst, ev_ssize_t limit, enum bufferevent_flush_mode mode,
    void *ds);

/* Output deflated but not yet flushed. */
bool deflate_stream_unflushed(const struct deflate_stream *ds);
/* The input stream is broken; the connection cannot go on. */
bool deflate_stream_failed(const struct deflate_stream *ds);
void deflate_stream_stats(const struct deflate_stream *ds, struct deflate_stats *st);
/* Octets zlib holds allocated for this stream now. */
size_t deflate_stream_memory(const struct deflate_stream *ds);

#endif
