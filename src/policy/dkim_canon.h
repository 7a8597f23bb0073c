/*
 * dkim_canon: DKIM canonicalization (RFC 6376 §3.4), shared by the signer
 * and the verifier. The body canonicalizers stream: they take the body in
 * any chunking (a CR and its LF may come in different calls), hold back
 * empty lines until a non-empty one shows they were not trailing, and
 * write the canonical form to an EVP_MD_CTX or a callback, cut at l= when
 * asked; dkim_body_hash puts one in front of a SHA-256 for the bh= of a
 * signature. Header fields are canonicalized one at a time into a buf.
 * Pure.
 */
#ifndef TERN_DKIM_CANON_H
#define TERN_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../common/buf.h"

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* SHA-256, the only hash tern signs or verifies with (RFC 8301). */
#define DKIM_DIGEST_LEN 32

/* Where canonical octets go when not to a digest. */
typedef void (*dkim_canon_sink)(void *arg, const char *p, size_t n);

#define DKIM_CANON_OBUF 512

struct dkim_canon_body {
	enum dkim_canon alg;
	EVP_MD_CTX *md;             /* the output: md, or else sink(arg) */
	dkim_canon_sink sink;
	void *arg;
	bool limited;               /* l=: only the first limit octets go out */
	uint64_t limit;
	uint64_t total;             /* canonical octets so far, cut or not
	                             * (saturates at UINT64_MAX) */
	uint64_t blank;             /* empty lines held back */
	bool cr;                    /* the last octet was a CR, not yet placed */
	bool ws;                    /* relaxed: a WSP run not yet placed */
	bool in_line;               /* the current line has content out */
	bool any;                   /* some line had content */
	bool ended;
	size_t olen;
	char obuf[DKIM_CANON_OBUF];
};

/*
 * Starts a body canonicalizer writing to md (already initialised with its
 * digest) or, with md NULL, to sink(arg). limit NULL: no l=; else only the
 * first *limit canonical octets are written.
 */
void dkim_canon_body_init(struct dkim_canon_body *bc, enum dkim_canon alg,
    const uint64_t *limit, EVP_MD_CTX *md, dkim_canon_sink sink, void *arg);
void dkim_canon_body_feed(struct dkim_canon_body *bc, const char *p, size_t n);
/* The body is over: the last line is ended, trailing empty lines dropped
 * (simple: an empty body becomes one CRLF). Afterwards bc->total is the
 * whole canonical length. Feeding after this does nothing. */
void dkim_canon_body_end(struct dkim_canon_body *bc);

/* A body hash (bh=, RFC 6376 §3.7): the SHA-256 of the canonical body. */
struct dkim_body_hash {
	EVP_MD_CTX *md;
	struct dkim_canon_body bc;
	uint8_t digest[DKIM_DIGEST_LEN];
	bool ok;                    /* after end: digest computed */
	bool cut;                   /* after end: l= was more than the body */
};

/* Starts one (limit as for dkim_canon_body_init); 0, or -1 when out of
 * memory, with nothing to release. */
int dkim_body_hash_start(struct dkim_body_hash *bh, enum dkim_canon alg,
    const uint64_t *limit);
void dkim_body_hash_feed(struct dkim_body_hash *bh, const char *p, size_t n);
/* The body is over: sets digest, ok and cut. Only once. */
void dkim_body_hash_end(struct dkim_body_hash *bh);
void dkim_body_hash_release(struct dkim_body_hash *bh);

/* A whole body at once, appended to out (RFC 6376 §3.4.3, §3.4.4). */
void dkim_canon_body_simple(const char *body, size_t len, struct buf *out);
void dkim_canon_body_relaxed(const char *body, size_t len, struct buf *out);

/*
 * One header field as it stands in the message (folding CRLFs included,
 * the final CRLF not), canonicalized and appended to out with a final
 * CRLF. Simple (§3.4.1) appends it unchanged. Relaxed (§3.4.2) lower-cases
 * the name, unfolds, reduces WSP runs to one SP and trims the value; a
 * field without a colon appends nothing there.
 */
void dkim_canon_header_simple(const char *field, size_t len, struct buf *out);
void dkim_canon_header_relaxed(const char *field, size_t len, struct buf *out);
void dkim_canon_header(enum dkim_canon alg, const char *field, size_t len,
    struct buf *out);
/* The signature field itself, hashed last and so without the final CRLF
 * (RFC 6376 §3.7): as dkim_canon_header, the CRLF then taken off. false
 * when nothing was appended (no memory; relaxed and no colon). */
bool dkim_canon_header_self(enum dkim_canon alg, const char *field, size_t len,
    struct buf *out);

#endif
