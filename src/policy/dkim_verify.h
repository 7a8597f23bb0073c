/*
 * dkim_verify: DKIM signature verification (RFC 6376, with RFC 8463's
 * ed25519-sha256 and RFC 8301's algorithm and key-size rules) of one
 * message as it streams in: the header is kept (up to a bound), and
 * every signature hashes the body as it passes, so the message is never
 * read twice. Keys come through the dnsq replay model (proto/dnsq.h): the
 * module is pure, and tests and fuzzers fill the cache themselves.
 * docs/dkim.md lists what is checked, the limits and the reasons given.
 */
#ifndef TERN_DKIM_VERIFY_H
#define TERN_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/dnsq.h"

enum dkim_res { DKIM_NONE, DKIM_PASS, DKIM_FAIL, DKIM_NEUTRAL, DKIM_POLICY,
		DKIM_TEMPERROR, DKIM_PERMERROR };

struct dkim_result {
	enum dkim_res result;
	char domain[256];      /* d= (lower-cased) */
	char selector[64];     /* s= (longer → permerror, truncated here) */
	char identity[256];    /* i= or "@d" */
	char algorithm[32];    /* a= */
	char b_prefix[16];     /* first 8 chars of b=, for A-R header.b */
	char reason[128];      /* why not pass, short printable ASCII, "" on pass */
	bool l_used;           /* l= present: body partially signed (reported) */
	bool testing;          /* key t=y */
	unsigned key_bits;
};

/* The header kept in memory; the signatures of a longer one are
 * permerror "header too large". */
#define DKIM_VERIFY_HEADER_MAX (1024 * 1024)
/* Header fields looked at; more is "header too large" too. */
#define DKIM_VERIFY_FIELDS_MAX 10000

struct dkim_verify;

/* Up to max_sigs DKIM-Signature fields are evaluated (the first ones);
 * now = unix time for x=. NULL on ENOMEM. */
struct dkim_verify *dkim_verify_new(size_t max_sigs, int64_t now);
void dkim_verify_free(struct dkim_verify **vp);

/* The message exactly as received: header, blank line, body; CRLF line
 * ends; dot-unstuffed; any chunking (a CR and its LF may be split). */
void dkim_verify_feed(struct dkim_verify *v, const char *p, size_t n);
/* No more input (a message without a body/blank line is fine). */
void dkim_verify_end(struct dkim_verify *v);

/*
 * Fetches keys through the cache (TXT at SELECTOR._domainkey.DOMAIN):
 * returns DNSQ_NEED while a key is missing from the cache, 0 when every
 * key needed is there. Called once the header has ended (may be before
 * dkim_verify_end: it then only fetches keys) and again after
 * dkim_verify_end, when it settles every result. Before the header has
 * ended and before end, it returns 0 doing nothing. A key, once found in
 * the cache, is kept: later calls pass the same cache (or one holding at
 * least the same answers).
 */
int dkim_verify_check(struct dkim_verify *v, struct dnsq_cache *c);

bool dkim_verify_header_done(const struct dkim_verify *v);
/* Signatures found (<= max). */
size_t dkim_verify_count(const struct dkim_verify *v);
/* Result i < count. Until settled, a signature waiting for its key reads
 * temperror "key not fetched". */
const struct dkim_result *dkim_verify_result(const struct dkim_verify *v, size_t i);
/* "pass", "fail", "neutral", "policy", "temperror", "permerror", "none" */
const char *dkim_result_name(enum dkim_res r);

#endif
