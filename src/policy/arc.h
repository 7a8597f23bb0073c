/*
 * arc: verification of the Authenticated Received Chain (RFC 8617 §5.2)
 * of one message as it streams in, the way dkim_verify checks DKIM: the
 * header is kept (up to a bound), the ARC sets are collected and checked
 * for structure when it ends, the newest ARC-Message-Signature hashes the
 * body as it passes, and keys come through the dnsq replay model
 * (proto/dnsq.h), so the module is pure. arc_seal.h adds a set.
 * docs/arc.md lists what is checked and the reasons given.
 */
#ifndef TERN_ARC_H
#define TERN_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/dnsq.h"
#include "dkim_verify.h"

/* The chain validation status, cv= of RFC 8617 §4.1.3. */
enum arc_cv { ARC_NONE, ARC_PASS, ARC_FAIL };

/* RFC 8617 §4.2.1: instances run 1..50. */
#define ARC_MAX_SETS 50

struct arc_result {
	enum arc_cv cv;              /* the chain's validation status */
	unsigned n;                  /* sets in the chain (the highest i=) */
	char reason[128];            /* why fail, printable ASCII; "" otherwise */
	bool temperror;              /* fail only because a key lookup failed
	                              * for now (DNS): the caller may defer */
	/* The newest set, for trusted-sealer decisions: worth something only
	 * when cv is pass. */
	char sealer_domain[256];     /* d= of ARC-Seal i=n, lower case */
	char aar[1024];              /* ARC-Authentication-Results i=n after
	                              * "i=n;", unfolded (cut if longer) */
	unsigned oldest_pass;        /* RFC 8617 §5.2: the oldest instance whose
	                              * AMS still verifies when an older one
	                              * does not; 0 when all do, or not pass */
};

struct arc_verify;

/* now: unix time, for the AMS's x=. NULL on ENOMEM. */
struct arc_verify *arc_verify_new(int64_t now);
void arc_verify_free(struct arc_verify **vp);

/* The message as received: header, blank line, body; CRLF line ends;
 * dot-unstuffed; any chunking. */
void arc_verify_feed(struct arc_verify *v, const char *p, size_t n);
/* No more input. */
void arc_verify_end(struct arc_verify *v);
bool arc_verify_header_done(const struct arc_verify *v);

/*
 * Fetches keys through the cache (TXT at SELECTOR._domainkey.DOMAIN, as
 * DKIM): DNSQ_NEED while one is missing, 0 when every key needed is
 * there. As dkim_verify_check: called once the header has ended (it then
 * only fetches keys) and after arc_verify_end, when it settles the
 * result; before the header has ended it does nothing.
 */
int arc_verify_check(struct arc_verify *v, struct dnsq_cache *c);

/* Until settled: fail "not verified". */
const struct arc_result *arc_verify_result(const struct arc_verify *v);
/* "none", "pass", "fail" */
const char *arc_cv_name(enum arc_cv cv);

/* ------------------------------------------- shared with arc_seal.c -- */

enum arc_kind { ARC_AAR, ARC_AMS, ARC_AS, ARC_KINDS };

/* The ARC fields of a header by instance. */
struct arc_chain {
	unsigned n;                          /* the highest valid instance */
	size_t nfields;                      /* ARC fields seen */
	bool bad;                            /* a field without a readable i= */
	bool over;                           /* a field with i= over 50 */
	size_t f[ARC_MAX_SETS][ARC_KINDS];   /* field index, instance i at [i-1] */
	unsigned count[ARC_MAX_SETS][ARC_KINDS];
};

/* Collects the ARC fields of h (split into f[nf]). */
void arc_chain_collect(const char *h, const struct dkim_hfield *f, size_t nf,
    struct arc_chain *c);
/* RFC 8617 §5.2 steps 1-3 without cv=: 0 when the sets run 1..n with
 * one field of each kind, else -1 with a reason. */
int arc_chain_structure(const struct arc_chain *c, char *why, size_t whysize);

#endif
