/*
 * dmarc: DMARC evaluation (RFC 9989, with RFC 7489's pct=) over the dnsq
 * replay model, and the From: domains it is asked about. Pure: SPF and
 * DKIM results come in as inputs, DNS answers from the dnsq cache, and
 * the verdict goes out; what to do with it is the caller's business.
 */
#ifndef TERN_DMARC_H
#define TERN_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dmarc_record.h"
#include "dnsq.h"

#define DMARC_DOMAIN_MAX 256     /* dotted, no final dot, NUL included */

enum dmarc_result {
	DMARC_NONE,              /* no usable policy record: DMARC does not apply */
	DMARC_PASS,
	DMARC_FAIL,
	DMARC_TEMPERROR,         /* a DNS lookup failed, or an SPF/DKIM temperror
	                          * with nothing aligned */
	DMARC_PERMERROR,         /* the From domain is no domain name */
};

/* "none", "pass", "fail", "temperror", "permerror". */
const char *dmarc_result_name(enum dmarc_result r);

struct dmarc_input {
	const char *from_domain;                 /* RFC5322.From domain, one */
	bool spf_pass;                           /* SPF result was pass */
	const char *spf_domain;                  /* the domain SPF checked (MAIL FROM's, or HELO's for <>) */
	const char *const *dkim_pass_domains;    /* d= of every passing signature */
	size_t ndkim;
	bool auth_temperror;                     /* SPF or some DKIM had temperror */
	unsigned sample;                         /* 0..99, random, for pct= */
};

struct dmarc_verdict {
	enum dmarc_result result;
	/*
	 * What to apply: none unless the result is fail; then p, sp or np of
	 * the record, one step lower (reject to quarantine, quarantine to
	 * none) when the record has t=y (RFC 9989 §4.7) or when pct= sampled
	 * the message out (RFC 7489 §6.6.4); never lowered twice.
	 */
	enum dmarc_policy policy;
	char policy_domain[DMARC_DOMAIN_MAX];    /* where the record was found, "" if none */
	/*
	 * The From domain's organizational domain, "" when it was not needed:
	 * with the record at the From domain itself and only strict or
	 * identical identifiers, no tree walk is made (RFC 9989 §4.10.2).
	 */
	char org_domain[DMARC_DOMAIN_MAX];
	struct dmarc_record rec;                 /* the policy record (zero if none) */
	bool spf_aligned, dkim_aligned;
	char problem[128];                       /* printable, "" if nothing to say */
};

/*
 * Evaluates DMARC for one From domain. 0 with *out set, or DNSQ_NEED: put
 * the answer c->need asks for in the cache and call again (replay from
 * the start). Every lookup is a TXT at _dmarc.NAME, plus an A query for
 * the From domain when an np= policy depends on its existence.
 */
int dmarc_check(const struct dmarc_input *in, struct dnsq_cache *c,
    struct dmarc_verdict *out);

/*
 * The domains of the addresses in a From field value (after "From:"),
 * unfolded or not, lower-cased, each once, in order: 0, or -1 if the value
 * does not parse as an RFC 5322 address-list (mailbox-list, groups
 * allowed as RFC 6854 does, and the obsolete forms of §4.4) or a domain
 * is too long or there are more than max distinct ones. An empty group
 * ("undisclosed-recipients:;") gives no domain, so 0 with *n == 0 is
 * possible. A domain-literal comes out as written ("[192.0.2.1]").
 */
int dmarc_from_domains(const char *value, size_t len,
    char out[][DMARC_DOMAIN_MAX], size_t max, size_t *n);

#endif
