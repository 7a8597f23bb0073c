/*
 * dnsq: the DNS answers a policy evaluation has seen, for the replay model.
 *
 * SPF, DMARC and DKIM key checks need DNS answers in the middle of their
 * logic. Rather than turn each into a callback state machine, they are
 * written as plain functions over a dnsq_cache: a lookup whose answer is in
 * the cache returns it; one that is not records what is needed and the
 * evaluation returns DNSQ_NEED. The caller (verify/, on the loop) fetches
 * that answer, puts it in the cache and runs the evaluation again from the
 * start. Replays are cheap (a few record parses) and keep the evaluators
 * pure: unit tables and fuzzers fill the cache themselves. Lookup counts
 * (SPF's limit of 10) come out right because every replay counts afresh.
 */
#ifndef TERN_DNSQ_H
#define TERN_DNSQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dnsq_type {
	DNSQ_A = 1,
	DNSQ_PTR = 12,
	DNSQ_MX = 15,
	DNSQ_TXT = 16,
	DNSQ_AAAA = 28,
};

enum dnsq_status {
	DNSQ_OK,         /* records follow (n may still be 0 only if NODATA) */
	DNSQ_NXDOMAIN,   /* RCODE 3: the name does not exist */
	DNSQ_NODATA,     /* the name exists, no record of that type */
	DNSQ_TEMP,       /* SERVFAIL, timeout, REFUSED: try later */
};

/* What an evaluation returns when it needs an answer it has not got. */
#define DNSQ_NEED (-2)

#define DNSQ_NAME_MAX 256     /* dotted, no final dot, NUL included */
#define DNSQ_MAX_RR 64        /* records kept per answer; the rest dropped */

/* One answer. Records are rdata in wire form as libunbound gives it
 * (proto/dns_rdata.h decodes them): A 4 octets, AAAA 16, MX and PTR
 * uncompressed names, TXT character-strings. */
struct dnsq_answer {
	char name[DNSQ_NAME_MAX];
	int type;
	enum dnsq_status st;
	size_t n;
	uint8_t *rr[DNSQ_MAX_RR];
	size_t rrlen[DNSQ_MAX_RR];
};

struct dnsq_cache {
	struct dnsq_answer **a;
	size_t n, cap;
	/* Set by dnsq_get when the answer is missing: the next query. */
	bool need;
	char need_name[DNSQ_NAME_MAX];
	int need_type;
};

void dnsq_init(struct dnsq_cache *c);
void dnsq_release(struct dnsq_cache *c);

/*
 * The answer for (name, type), names compared without case and without a
 * final dot; NULL if not in the cache, and then c->need says which query
 * to make (the first such miss since the last dnsq_put wins). A name
 * longer than a DNS name can be is answered NXDOMAIN-free: callers check
 * dnsq_name_ok first.
 */
const struct dnsq_answer *dnsq_get(struct dnsq_cache *c, const char *name, int type);

/* Stores an answer (rdata copied) and clears c->need. 0 or -1 (ENOMEM). */
int dnsq_put(struct dnsq_cache *c, const char *name, int type,
    enum dnsq_status st, const uint8_t *const *rr, const size_t *rrlen, size_t n);

/* A query name we can send: 1..253 octets, labels 1..63, no empty label. */
bool dnsq_name_ok(const char *name);

/*
 * A name in presentation form for a resolver library: every octet but
 * letters, digits, '-', '_' and the dots between labels escaped as \DDD.
 * SPF targets can hold anything a macro put there (spaces, '%', '\\'),
 * and libunbound would read a backslash as an escape of its own.
 * 0, or -1 when out is too small (DNSQ_QNAME_MAX always suffices).
 */
#define DNSQ_QNAME_MAX (4 * DNSQ_NAME_MAX + 1)
int dnsq_qname_escape(const char *name, char *out, size_t outsize);

/*
 * TXT rdata to text: its character-strings concatenated with nothing in
 * between (RFC 7208 §3.3, RFC 6376 §3.6.2.2). Returns the length written
 * (NUL-terminated) or -1 if malformed or longer than outsize - 1.
 */
int dnsq_txt(const uint8_t *rd, size_t len, char *out, size_t outsize);

#endif
