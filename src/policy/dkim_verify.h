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

#include <openssl/evp.h>

#include "../common/buf.h"
#include "../proto/dnsq.h"
#include "dkim_tags.h"

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

/* ------------------------------------------ the parts ARC shares -- */

/* arc.c verifies ARC's two signatures the way DKIM signatures are. */

/* One field of a header kept in memory. */
struct dkim_hfield {
	size_t off, len;            /* the field without its final CRLF */
	size_t namelen;             /* rfc5322_field_name(); 0: not a field */
	size_t colon;
	uint32_t hash;              /* of the lower-cased name */
};

/* Splits a header section (h[0..len), its empty line or not) into its
 * fields; *fp is malloc'ed. Returns the count, or SIZE_MAX (*fp NULL)
 * when there are more than DKIM_VERIFY_FIELDS_MAX or no memory. */
size_t dkim_hfields_split(const char *h, size_t len, struct dkim_hfield **fp);
/* The field's name is name (ASCII case ignored). */
bool dkim_hfield_is(const char *h, const struct dkim_hfield *f, const char *name);

/*
 * The SHA-256 of a signature's signed header data (RFC 6376 §3.7): the
 * fields h= names, canonicalized, then the signature field self with b=
 * emptied and without its final CRLF. sig was parsed from self's value.
 * false when out of memory.
 */
bool dkim_header_digest(const char *h, const struct dkim_hfield *f, size_t nf,
    const struct dkim_hfield *self, const struct dkim_sig *sig,
    uint8_t digest[DKIM_DIGEST_LEN]);

/* The signature field self (sig parsed from its value) as its signature
 * covers it: the value of b= and the FWS around it taken out, then
 * canonicalized by sig->hcanon without the final CRLF (§3.7); appended
 * to out. false when out of memory. */
bool dkim_self_form(const char *h, const struct dkim_hfield *self,
    const struct dkim_sig *sig, struct buf *out);

/* The checks of §6.1.1 that need no key: the algorithm (RFC 8301:
 * rsa-sha256 and ed25519-sha256 only) and x= (not before t=, not past
 * now). NULL, or why sig is refused (a permerror). */
const char *dkim_sig_refused(const struct dkim_sig *sig, int64_t now);

/* The name of sig's key record, SELECTOR._domainkey.DOMAIN, into qname;
 * false when it is too long for a DNS name. */
bool dkim_key_qname(const struct dkim_sig *sig, char qname[DNSQ_NAME_MAX]);

struct dkim_pubkey {
	EVP_PKEY *pkey;             /* owned by the caller on success */
	unsigned bits;
	bool testing;               /* t=y */
};

/*
 * The key for sig from the TXT answer at its SELECTOR._domainkey.DOMAIN:
 * the record's checks (RFC 6376 §3.6.1, §6.1.2; RFC 8301 key sizes;
 * RFC 8463 keys). 0, or -1 with *r (temperror or permerror) and a reason
 * in why; bits and testing are filled as far as known either way.
 */
int dkim_key_from_answer(const struct dnsq_answer *a, const struct dkim_sig *sig,
    struct dkim_pubkey *key, enum dkim_res *r, char *why, size_t whysize);

/* sig's b= is the key's signature of digest (rsa-sha256 or, RFC 8463,
 * ed25519-sha256). */
bool dkim_sig_check(EVP_PKEY *pkey, const struct dkim_sig *sig,
    const uint8_t digest[DKIM_DIGEST_LEN]);

#endif
