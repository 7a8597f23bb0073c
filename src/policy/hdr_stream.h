/*
 * hdr_stream: the header section of a message as it streams in, for the
 * verifiers that need the whole header before they can start (DKIM and
 * ARC). It finds the empty line that ends the header in any chunking (a
 * CR and its LF may come in different calls) and keeps the header in a
 * buf up to a bound. Past the bound the text is dropped, but the field
 * names still pass by a callback, so that a caller can tell what a header
 * too large to keep held (its DKIM signatures, whether it had ARC
 * fields). Pure.
 */
#ifndef TERN_HDR_STREAM_H
#define TERN_HDR_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"

/* Field names longer than this (WSP before the colon included) are not
 * reported: the names the callers look for are all shorter. */
#define HDR_STREAM_NAME_MAX 32

/* A field name seen by the scan, WSP before the colon trimmed, in the
 * case it was written in. */
typedef void (*hdr_stream_name_fn)(void *arg, const char *name, size_t len);

/* Where in a line the last octet left the scan. */
enum hdr_stream_state { HDR_LS, HDR_IN, HDR_CR_IN, HDR_CR_LS };

struct hdr_stream {
	struct buf hdr;             /* the header so far, its empty line too */
	size_t max;                 /* kept at most */
	bool too_large;             /* over max (or no memory): hdr released */
	bool done;                  /* the empty line (or the end) was seen */
	enum hdr_stream_state st;
	char nm[HDR_STREAM_NAME_MAX];
	size_t nmlen;
	bool nm_on;                 /* the line's name is being read */
	hdr_stream_name_fn name_fn; /* may be NULL */
	void *arg;
};

/* Keeps up to max octets of header; name_fn(arg) sees the field names. */
void hdr_stream_init(struct hdr_stream *hs, size_t max, hdr_stream_name_fn name_fn,
    void *arg);
/*
 * Takes the next octets of the message: returns how many of p belong to
 * the header (the empty line included), which are kept unless too large.
 * Once done is set the rest of p, and all later input, is the body.
 */
size_t hdr_stream_feed(struct hdr_stream *hs, const char *p, size_t n);
/* The message ended in its header: done, with what was kept. */
void hdr_stream_end(struct hdr_stream *hs);
void hdr_stream_release(struct hdr_stream *hs);

#endif
