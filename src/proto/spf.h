/*
 * spf: the Sender Policy Framework check, check_host() of RFC 7208, as a
 * pure function over the dnsq replay model (proto/dnsq.h), and the
 * Received-SPF header field (§9.1) that reports it.
 *
 * The record grammar and macros are in proto/spf_record.c. Limits are the
 * RFC's: 10 DNS-querying terms, 10 MX names per "mx" (more is a permerror),
 * the first 10 PTR names per "ptr" and %{p}, 2 void lookups.
 */
#ifndef TERN_SPF_H
#define TERN_SPF_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/buf.h"
#include "dnsq.h"

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

struct spf_query {
	int family;           /* AF_INET or AF_INET6 */
	uint8_t ip[16];       /* 4 octets used for AF_INET */
	const char *helo;     /* HELO/EHLO name as given */
	const char *sender;   /* local@domain; for the null sender the caller
	                         passes "postmaster@HELO" */
	const char *domain;   /* the <domain> check_host() starts from */
	const char *receiver; /* our host name, for %{r}; NULL: "unknown" */
	int64_t now;          /* for %{t} */
};

#define SPF_TEXT_MAX 256

struct spf_verdict {
	enum spf_result result;
	/* The term that decided, as written ("-ip4:192.0.2.0/24"), or
	 * "default" when none matched; "" after an error. */
	char mechanism[SPF_TEXT_MAX];
	/* exp= text for fail (expanded, printable ASCII), else "". */
	char explanation[SPF_TEXT_MAX];
	/* Why permerror/temperror: short, printable; else "". */
	char problem[SPF_TEXT_MAX];
};

/*
 * check_host(): 0 with *out set, or DNSQ_NEED (replay once the answer is
 * in the cache). Pure; never blocks. An IPv4-mapped IPv6 client is
 * checked as the IPv4 address it carries (§5). Out of memory gives 0 and
 * temperror.
 */
int spf_check(const struct spf_query *q, struct dnsq_cache *c,
    struct spf_verdict *out);

/* "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror" */
const char *spf_result_name(enum spf_result r);

/*
 * Appends one complete "Received-SPF: ...\r\n" field (RFC 7208 §9.1):
 * the result, a comment, then client-ip, envelope-from, helo, receiver,
 * identity (mailfrom, or helo when helo_identity), and mechanism or
 * problem when set; values quoted where not dot-atoms, folded so lines
 * stay within 78 octets where the items allow.
 */
void spf_received_field(const struct spf_query *q, const struct spf_verdict *v,
    bool helo_identity, struct buf *out);

#endif
