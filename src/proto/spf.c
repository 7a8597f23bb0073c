/*
 * spf: check_host() of RFC 7208 over the dnsq replay model (see the
 * header).
 *
 * One call evaluates from the start with the answers the cache holds; the
 * first one missing ends it with DNSQ_NEED. All the state of a check
 * lives in one heap context, so a replay starts clean and the counts of
 * DNS-querying terms and void lookups come out right (§4.6.4).
 *
 * include and redirect recurse, one frame each; a frame holds the domain
 * and the record text its terms point into. The term limit bounds the
 * depth at 11 frames. Whether we are inside an include travels down with
 * the recursion: there a fail is only "no match" to the includer, so no
 * explanation is fetched and the matching mechanism is not reported.
 */
#include "spf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/str.h"
#include "spf_record.h"

#define SPF_TERMS_MAX 10          /* DNS-querying terms per check (§4.6.4) */
#define SPF_MX_MAX 10             /* MX names per "mx"; more is a permerror */
#define SPF_PTR_MAX 10            /* PTR names looked at per "ptr" and %{p} */
#define SPF_VOID_MAX 2            /* void lookups; the third is a permerror */
#define SPF_DEPTH_MAX (SPF_TERMS_MAX + 1)
#define SPF_SENDER_MAX 1024       /* an SMTP path is at most 256 (RFC 5321) */
#define SPF_ADDR_TEXT 80          /* 32 nibbles and their dots, or inet_ntop */
#define SPF_FOLD 78               /* header line length (RFC 5322 §2.1.1) */

/* Outcomes of one mechanism; the errors are negative like DNSQ_NEED. */
enum {
	M_NOMATCH = 0,
	M_MATCH = 1,
	M_TEMP = -3,
	M_PERM = -4,
};

/* fetch_record(): the record is in the frame. */
#define HAVE_RECORD 100

struct frame {
	char domain[DNSQ_NAME_MAX];
	char target[SPF_TARGET_MAX];      /* the current term's target name */
	char rec[SPF_RECORD_MAX + 1];
	size_t reclen;
};

struct spf_ctx {
	struct dnsq_cache *c;
	struct spf_verdict *out;
	const char *helo;
	const char *receiver;
	int family;
	uint8_t ip[16];
	int terms;                        /* DNS-querying terms so far */
	int voids;                        /* void lookups so far */
	char sender[SPF_SENDER_MAX];      /* %{s}: local@domain */
	char local[SPF_SENDER_MAX];       /* %{l} */
	char sdomain[SPF_SENDER_MAX];     /* %{o} */
	char istr[SPF_ADDR_TEXT];         /* %{i} */
	char cstr[SPF_ADDR_TEXT];         /* %{c} */
	char tstr[24];                    /* %{t} */
	char pname[DNSQ_NAME_MAX];        /* %{p}, computed when used */
	char text[SPF_RECORD_MAX + 1];    /* an explanation record */
	struct frame f[SPF_DEPTH_MAX];
};

static int check_host(struct spf_ctx *x, const char *domain, int depth, bool included);

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

/* Printable ASCII only: what we report may hold DNS data. */
static void
printable(char *s)
{
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
	}
}

/* The first cause wins: errors are set where they happen, deepest first. */
static void __attribute__((format(printf, 2, 3)))
problem(struct spf_ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->out->problem[0] != '\0')
		return;
	va_start(ap, fmt);
	/* A cut reason is still a reason. */
	(void)vsnprintf(x->out->problem, sizeof(x->out->problem), fmt, ap);
	va_end(ap);
	printable(x->out->problem);
}

static bool
cidr_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rem = bits % 8;
	unsigned mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (0xffu << (8 - rem)) & 0xffu;
	return ((a[full] ^ b[full]) & mask) == 0;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as IPv4 (§5). */
static int
client_addr(const struct spf_query *q, int *family, uint8_t ip[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(ip, 0, 16);
	if (q->family == AF_INET6 && memcmp(q->ip, mapped, sizeof(mapped)) == 0) {
		*family = AF_INET;
		memcpy(ip, q->ip + 12, 4);
	} else if (q->family == AF_INET) {
		*family = AF_INET;
		memcpy(ip, q->ip, 4);
	} else if (q->family == AF_INET6) {
		*family = AF_INET6;
		memcpy(ip, q->ip, 16);
	} else
		return -1;
	return 0;
}

/* %{c}: the address as people write it. */
static void
addr_text(int family, const uint8_t *ip, char *out, size_t outsize)
{
	if (inet_ntop(family, ip, out, (socklen_t)outsize) == NULL)
		out[0] = '\0';
}

/*
 * %{i}: dotted quad, or for IPv6 the 32 nibbles dot-separated (§7.3).
 * The nibbles are upper case: RFC 7208's own example writes them in lower
 * case, but the RFC 7208 test suite (v-macro-ip6) wants upper case, as
 * pyspf does. Queries do not care; only explanation text shows it.
 */
static void
addr_dots(int family, const uint8_t *ip, char *out, size_t outsize)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	if (family == AF_INET) {
		(void)str_fmt(out, outsize, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
		return;
	}
	for (i = 0; i < 16 && o + 4 < outsize; i++) {
		out[o++] = hex[ip[i] >> 4];
		out[o++] = '.';
		out[o++] = hex[ip[i] & 0xf];
		out[o++] = '.';
	}
	out[o > 0 ? o - 1 : 0] = '\0';
}

/* The reverse-mapping name of the client (in-addr.arpa or ip6.arpa). */
static void
reverse_name(const struct spf_ctx *x, char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	if (x->family == AF_INET) {
		(void)str_fmt(out, outsize, "%u.%u.%u.%u.in-addr.arpa",
		    x->ip[3], x->ip[2], x->ip[1], x->ip[0]);
		return;
	}
	for (i = 15; i >= 0 && o + 4 < outsize; i--) {
		out[o++] = hex[x->ip[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[x->ip[i] >> 4];
		out[o++] = '.';
	}
	out[o] = '\0';
	(void)str_copy(out + o, outsize - o, "ip6.arpa");
}

/*
 * A name from MX or PTR rdata in dotted form. Not dns_name_to_text(): that
 * one keeps to host-name octets, for mail routing, while an SPF target
 * may be any name ("mx:foo:bar/baz.example.com" in the RFC 7208 suite).
 * Labels may hold any printable octet but '.', which the dotted form
 * could not tell from a label boundary. The root gives "". Returns the
 * octets used, or -1.
 */
static int
wire_name(const uint8_t *wire, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0, l, k;

	for (;;) {
		if (i >= len)
			return -1;
		if ((l = wire[i++]) == 0)
			break;
		if (l > 63 || l > len - i || o + l + 1 >= outsize)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (k = 0; k < l; k++) {
			if (wire[i + k] < 0x21 || wire[i + k] > 0x7e || wire[i + k] == '.')
				return -1;
			out[o++] = (char)wire[i + k];
		}
		i += l;
	}
	out[o] = '\0';
	return (int)i;
}

/* PTR rdata is one name; MX rdata a preference, then one. */
static int
rdata_name(const struct dnsq_answer *a, size_t i, char *out, size_t outsize)
{
	const uint8_t *rd = a->rr[i];
	size_t len = a->rrlen[i], skip = a->type == DNSQ_MX ? 2 : 0;
	int used;

	if (len < skip || (used = wire_name(rd + skip, len - skip, out, outsize)) < 0 ||
	    (size_t)used != len - skip)
		return -1;
	return 0;
}

/* 0: name is domain, 1: a subdomain of it, 2: neither (no case, no dots). */
static int
name_relation(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n == d && strcasecmp(name, domain) == 0)
		return 0;
	if (n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, domain) == 0)
		return 1;
	return 2;
}

/* The A or AAAA query that matches the client's family. */
static int
addr_type(const struct spf_ctx *x)
{
	return x->family == AF_INET ? DNSQ_A : DNSQ_AAAA;
}

static bool
answer_has_ip(const struct spf_ctx *x, const struct dnsq_answer *a, int bits)
{
	size_t len = x->family == AF_INET ? 4 : 16, i;

	for (i = 0; i < a->n; i++) {
		if (a->rrlen[i] == len && cidr_match(a->rr[i], x->ip, bits))
			return true;
	}
	return false;
}

/* Whether name has the client's address: 1, 0 (also on DNS errors, as
 * §5.5 says for "ptr"), or DNSQ_NEED. */
static int
validated(struct spf_ctx *x, const char *name)
{
	const struct dnsq_answer *a = dnsq_get(x->c, name, addr_type(x));

	if (a == NULL)
		return DNSQ_NEED;
	return a->st == DNSQ_OK && answer_has_ip(x, a, x->family == AF_INET ? 32 : 128);
}

/*
 * %{p} (§7.3): a validated name of the client, the <domain> itself if it
 * is one, else a subdomain of it, else any; "unknown" when there is none
 * or DNS fails. Candidates are validated in that order, so the lookups
 * stop at the first that validates.
 */
static int
macro_p(struct spf_ctx *x, const char *domain)
{
	char rev[DNSQ_NAME_MAX], name[DNSQ_NAME_MAX];
	const struct dnsq_answer *a;
	size_t i, n;
	int want, r;

	(void)str_copy(x->pname, sizeof(x->pname), "unknown");
	reverse_name(x, rev, sizeof(rev));
	if ((a = dnsq_get(x->c, rev, DNSQ_PTR)) == NULL)
		return DNSQ_NEED;
	if (a->st != DNSQ_OK)
		return 0;
	n = a->n < SPF_PTR_MAX ? a->n : SPF_PTR_MAX;
	for (want = 0; want < 3; want++) {
		for (i = 0; i < n; i++) {
			if (rdata_name(a, i, name, sizeof(name)) == -1 ||
			    !spf_target_ok(name) || name_relation(name, domain) != want)
				continue;
			if ((r = validated(x, name)) == DNSQ_NEED)
				return r;
			if (r == 1) {
				(void)str_copy(x->pname, sizeof(x->pname), name);
				return 0;
			}
		}
	}
	return 0;
}

/* Expands a checked macro-string with the values for this frame. */
static int
expand(struct spf_ctx *x, const char *s, size_t n, int flags, int depth,
    char *out, size_t outsize)
{
	struct spf_macros m;
	int r;

	memset(&m, 0, sizeof(m));
	m.val['s' - 'a'] = x->sender;
	m.val['l' - 'a'] = x->local;
	m.val['o' - 'a'] = x->sdomain;
	m.val['d' - 'a'] = x->f[depth].domain;
	m.val['i' - 'a'] = x->istr;
	m.val['v' - 'a'] = x->family == AF_INET ? "in-addr" : "ip6";
	m.val['h' - 'a'] = x->helo;
	m.val['c' - 'a'] = x->cstr;
	m.val['r' - 'a'] = x->receiver;
	m.val['t' - 'a'] = x->tstr;
	if (spf_macro_uses(s, n, 'p')) {
		if ((r = macro_p(x, x->f[depth].domain)) != 0)
			return r;
		m.val['p' - 'a'] = x->pname;
	}
	if (spf_macro_expand(s, n, &m, flags, out, outsize) == -1) {
		problem(x, "cannot expand macros in the record of %s", x->f[depth].domain);
		return M_PERM;
	}
	return 0;
}

/* A term's <target-name>: its domain-spec expanded, or the <domain>. */
static int
target_of(struct spf_ctx *x, const struct spf_term *t, int depth)
{
	struct frame *f = &x->f[depth];

	if (t->spec == NULL) {
		(void)str_copy(f->target, sizeof(f->target), f->domain);
		return 0;
	}
	return expand(x, t->spec, t->speclen, SPF_MACRO_DOMAIN, depth,
	    f->target, sizeof(f->target));
}

static int
count_term(struct spf_ctx *x)
{
	if (++x->terms > SPF_TERMS_MAX) {
		problem(x, "more than %d DNS-querying terms", SPF_TERMS_MAX);
		return -1;
	}
	return 0;
}

static int
void_lookup(struct spf_ctx *x, const char *name)
{
	if (++x->voids > SPF_VOID_MAX) {
		problem(x, "more than %d void lookups (the last %s)", SPF_VOID_MAX, name);
		return M_PERM;
	}
	return M_NOMATCH;
}

/*
 * The query a term makes for its target: the answer, or NULL with *rc
 * the term's outcome (need, temperror, or no match after a void lookup).
 * A target no query can carry (an empty or long label, which a macro can
 * make) matches nothing, as a name that does not exist would (§4.3 by
 * analogy; RFC 7208 leaves it open and the test suite takes either).
 */
static const struct dnsq_answer *
term_query(struct spf_ctx *x, const char *name, int type, int *rc)
{
	const struct dnsq_answer *a;

	if (!spf_target_ok(name)) {
		*rc = M_NOMATCH;
		return NULL;
	}
	if ((a = dnsq_get(x->c, name, type)) == NULL) {
		*rc = DNSQ_NEED;
		return NULL;
	}
	if (a->st == DNSQ_TEMP) {
		problem(x, "DNS error looking up %s", name);
		*rc = M_TEMP;
		return NULL;
	}
	if (a->st != DNSQ_OK) {
		*rc = void_lookup(x, name);
		return NULL;
	}
	return a;
}

static int
prefix_bits(const struct spf_ctx *x, const struct spf_term *t)
{
	if (x->family == AF_INET)
		return t->cidr4 < 0 ? 32 : t->cidr4;
	return t->cidr6 < 0 ? 128 : t->cidr6;
}

/* "a" (§5.3): A for an IPv4 client, AAAA for IPv6, with the dual CIDR. */
static int
match_a(struct spf_ctx *x, const char *target, const struct spf_term *t)
{
	const struct dnsq_answer *a;
	int rc;

	if ((a = term_query(x, target, addr_type(x), &rc)) == NULL)
		return rc;
	return answer_has_ip(x, a, prefix_bits(x, t)) ? M_MATCH : M_NOMATCH;
}

/* "mx" (§5.4): the addresses of up to 10 MX names; more is a permerror
 * (§4.6.4). No implicit MX: a domain without MX matches nothing. */
static int
match_mx(struct spf_ctx *x, const char *target, const struct spf_term *t)
{
	const struct dnsq_answer *a, *h;
	char name[DNSQ_NAME_MAX];
	size_t i;
	int rc;

	if ((a = term_query(x, target, DNSQ_MX, &rc)) == NULL)
		return rc;
	if (a->n > SPF_MX_MAX) {
		problem(x, "more than %d MX records for %s", SPF_MX_MAX, target);
		return M_PERM;
	}
	for (i = 0; i < a->n; i++) {
		/* A null MX (RFC 7505) names the root: nothing to look up. */
		if (rdata_name(a, i, name, sizeof(name)) == -1 || !spf_target_ok(name))
			continue;
		if ((h = dnsq_get(x->c, name, addr_type(x))) == NULL)
			return DNSQ_NEED;
		if (h->st == DNSQ_TEMP) {
			problem(x, "DNS error looking up %s", name);
			return M_TEMP;
		}
		if (h->st == DNSQ_OK && answer_has_ip(x, h, prefix_bits(x, t)))
			return M_MATCH;
	}
	return M_NOMATCH;
}

/*
 * "ptr" (§5.5): a name of the client's, validated by its addresses, that
 * is the target or under it. Only the first 10 PTR names count; a DNS
 * error on the PTR lookup is no match, and one on a name's addresses
 * skips that name. Names outside the target are not validated at all:
 * they could not match.
 */
static int
match_ptr(struct spf_ctx *x, const char *target)
{
	char rev[DNSQ_NAME_MAX], name[DNSQ_NAME_MAX];
	const struct dnsq_answer *a;
	size_t i, n;
	int r;

	reverse_name(x, rev, sizeof(rev));
	if ((a = dnsq_get(x->c, rev, DNSQ_PTR)) == NULL)
		return DNSQ_NEED;
	if (a->st == DNSQ_TEMP)
		return M_NOMATCH;
	if (a->st != DNSQ_OK)
		return void_lookup(x, rev);
	if (!spf_target_ok(target))
		return M_NOMATCH;
	n = a->n < SPF_PTR_MAX ? a->n : SPF_PTR_MAX;
	for (i = 0; i < n; i++) {
		if (rdata_name(a, i, name, sizeof(name)) == -1 ||
		    !spf_target_ok(name) || name_relation(name, target) == 2)
			continue;
		if ((r = validated(x, name)) != 0)
			return r == 1 ? M_MATCH : r;
	}
	return M_NOMATCH;
}

/* "exists" (§5.7): any A record, whatever the client's family. */
static int
match_exists(struct spf_ctx *x, const char *target)
{
	int rc;

	return term_query(x, target, DNSQ_A, &rc) != NULL ? M_MATCH : rc;
}

/* §5.2: what the included check means to the includer. */
static int
include_outcome(struct spf_ctx *x, int r, const char *target)
{
	switch (r) {
	case SPF_PASS:
		return M_MATCH;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		return M_NOMATCH;
	case SPF_TEMPERROR:
		return M_TEMP;
	case SPF_NONE:
		problem(x, "include:%s has no SPF record", target);
		return M_PERM;
	case SPF_PERMERROR:
		return M_PERM;
	default:
		return r;   /* DNSQ_NEED */
	}
}

static int
eval_mech(struct spf_ctx *x, const struct spf_term *t, int depth)
{
	struct frame *f = &x->f[depth];
	int r;

	switch (t->kind) {
	case SPF_T_ALL:
		return M_MATCH;
	case SPF_T_IP4:
		return x->family == AF_INET && cidr_match(x->ip, t->net,
		    t->cidr4 < 0 ? 32 : t->cidr4) ? M_MATCH : M_NOMATCH;
	case SPF_T_IP6:
		return x->family == AF_INET6 && cidr_match(x->ip, t->net,
		    t->cidr6 < 0 ? 128 : t->cidr6) ? M_MATCH : M_NOMATCH;
	default:
		break;
	}
	/* The rest query DNS and count against the limit when evaluated. */
	if (count_term(x) == -1)
		return M_PERM;
	if ((r = target_of(x, t, depth)) != 0)
		return r;
	switch (t->kind) {
	case SPF_T_INCLUDE:
		r = check_host(x, f->target, depth + 1, true);
		return include_outcome(x, r, f->target);
	case SPF_T_A:
		return match_a(x, f->target, t);
	case SPF_T_MX:
		return match_mx(x, f->target, t);
	case SPF_T_PTR:
		return match_ptr(x, f->target);
	case SPF_T_EXISTS:
		return match_exists(x, f->target);
	default:
		return M_PERM;
	}
}

/*
 * A TXT record's character-strings joined (§3.3) into out[outsize]:
 * 0 with the length, or -1 if the rdata is malformed. *cut says it did
 * not all fit (out then holds the head, enough to tell an SPF record).
 */
static int
txt_join(const uint8_t *rd, size_t len, char *out, size_t outsize,
    size_t *outlen, bool *cut)
{
	size_t i = 0, o = 0, l, take;

	*cut = false;
	while (i < len) {
		l = rd[i++];
		if (l > len - i)
			return -1;
		take = l;
		if (take > outsize - 1 - o) {
			take = outsize - 1 - o;
			*cut = true;
		}
		memcpy(out + o, rd + i, take);
		o += take;
		i += l;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* §4.4, §4.5: the one TXT record of the domain that starts "v=spf1". */
static int
fetch_record(struct spf_ctx *x, struct frame *f)
{
	const struct dnsq_answer *a;
	size_t i, len, found = 0, which = 0;
	bool cut;

	if ((a = dnsq_get(x->c, f->domain, DNSQ_TXT)) == NULL)
		return DNSQ_NEED;
	if (a->st == DNSQ_TEMP) {
		problem(x, "DNS error looking up the TXT records of %s", f->domain);
		return SPF_TEMPERROR;
	}
	if (a->st != DNSQ_OK)
		return SPF_NONE;
	for (i = 0; i < a->n; i++) {
		if (txt_join(a->rr[i], a->rrlen[i], f->rec, sizeof(f->rec), &len, &cut) == -1 ||
		    !spf_record_is_spf(f->rec, len))
			continue;
		if (++found > 1) {
			problem(x, "more than one SPF record for %s", f->domain);
			return SPF_PERMERROR;
		}
		which = i;
	}
	if (found == 0)
		return SPF_NONE;
	(void)txt_join(a->rr[which], a->rrlen[which], f->rec, sizeof(f->rec), &f->reclen, &cut);
	if (cut) {
		problem(x, "the SPF record of %s is too long", f->domain);
		return SPF_PERMERROR;
	}
	return HAVE_RECORD;
}

/*
 * §6.2: the explanation for a fail. Nothing here is an error: a missing
 * or bad explanation only means there is none. Its TXT lookup is not a
 * DNS-querying term and is never a void lookup.
 */
static int
explain(struct spf_ctx *x, const struct spf_term *exp, int depth)
{
	char target[SPF_TARGET_MAX];
	const struct dnsq_answer *a;
	size_t len, i;
	bool cut;
	int r;

	if ((r = expand(x, exp->spec, exp->speclen, SPF_MACRO_DOMAIN, depth,
	    target, sizeof(target))) != 0)
		return r == DNSQ_NEED ? r : 0;
	if (!spf_target_ok(target))
		return 0;
	if ((a = dnsq_get(x->c, target, DNSQ_TXT)) == NULL)
		return DNSQ_NEED;
	if (a->st != DNSQ_OK || a->n != 1 ||
	    txt_join(a->rr[0], a->rrlen[0], x->text, sizeof(x->text), &len, &cut) == -1 || cut)
		return 0;
	/* explain-string = *( macro-string / SP ): printable ASCII only */
	for (i = 0; i < len; i++) {
		if (x->text[i] < 0x20 || x->text[i] > 0x7e)
			return 0;
	}
	if (spf_macro_check(x->text, len, SPF_MACRO_EXP) == -1)
		return 0;
	if ((r = expand(x, x->text, len, SPF_MACRO_EXP, depth, x->out->explanation,
	    sizeof(x->out->explanation))) != 0) {
		x->out->explanation[0] = '\0';
		return r == DNSQ_NEED ? r : 0;
	}
	printable(x->out->explanation);
	return 0;
}

static enum spf_result
qualifier_result(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	default:
		return SPF_PASS;
	}
}

/* check_host() (§4): a result, or DNSQ_NEED. */
static int
check_host(struct spf_ctx *x, const char *domain, int depth, bool included)
{
	struct spf_term t, redirect, exp;
	bool have_redirect = false, have_exp = false;
	char why[SPF_TEXT_MAX];
	struct frame *f;
	size_t pos;
	int r;

	memset(&redirect, 0, sizeof(redirect));
	memset(&exp, 0, sizeof(exp));
	if (depth >= SPF_DEPTH_MAX) {
		problem(x, "records nested too deep");
		return SPF_PERMERROR;
	}
	f = &x->f[depth];
	/* §4.3: a malformed domain, or one that is not multi-label, has no
	 * policy; for include and redirect that "none" is a permerror. */
	if (str_copy(f->domain, sizeof(f->domain), domain) == -1 || !spf_domain_ok(f->domain))
		return SPF_NONE;
	if ((r = fetch_record(x, f)) != HAVE_RECORD)
		return r;

	/* §4.6: the whole record is checked before any term is evaluated;
	 * redirect= and exp= at most once each (§6). */
	pos = 0;
	while ((r = spf_record_next(f->rec, f->reclen, &pos, &t, why, sizeof(why))) == 1) {
		if (t.kind == SPF_T_REDIRECT || t.kind == SPF_T_EXP) {
			bool *have = t.kind == SPF_T_REDIRECT ? &have_redirect : &have_exp;

			if (*have) {
				problem(x, "%s= twice in the record of %s",
				    t.kind == SPF_T_REDIRECT ? "redirect" : "exp", f->domain);
				return SPF_PERMERROR;
			}
			*have = true;
			if (t.kind == SPF_T_REDIRECT)
				redirect = t;
			else
				exp = t;
		}
	}
	if (r == -1) {
		problem(x, "%s in the record of %s", why, f->domain);
		return SPF_PERMERROR;
	}

	pos = 0;
	while (spf_record_next(f->rec, f->reclen, &pos, &t, NULL, 0) == 1) {
		if (t.kind >= SPF_T_REDIRECT)
			continue;
		switch ((r = eval_mech(x, &t, depth))) {
		case M_NOMATCH:
			continue;
		case M_MATCH:
			break;
		case M_TEMP:
			return SPF_TEMPERROR;
		case M_PERM:
			return SPF_PERMERROR;
		default:
			return r;
		}
		r = qualifier_result(t.qual);
		if (!included) {
			(void)str_copyn(x->out->mechanism, sizeof(x->out->mechanism),
			    t.text, t.textlen);
			if (r == SPF_FAIL && have_exp && explain(x, &exp, depth) == DNSQ_NEED)
				return DNSQ_NEED;
		}
		return r;
	}

	/* §6.1: redirect= only when no mechanism matched; its domain's
	 * result is ours, but its lack of a record is a permerror. */
	if (have_redirect) {
		if (count_term(x) == -1)
			return SPF_PERMERROR;
		if ((r = target_of(x, &redirect, depth)) != 0)
			return r == DNSQ_NEED ? r : SPF_PERMERROR;
		r = check_host(x, f->target, depth + 1, included);
		if (r == SPF_NONE) {
			problem(x, "redirect=%s has no SPF record", f->target);
			return SPF_PERMERROR;
		}
		return r;
	}
	if (!included)
		(void)str_copy(x->out->mechanism, sizeof(x->out->mechanism), "default");
	return SPF_NEUTRAL;
}

/* §4.3: a sender without a local-part is "postmaster" at its domain. */
static int
sender_parts(struct spf_ctx *x, const char *sender)
{
	const char *at = strrchr(sender, '@');
	const char *dom = at ? at + 1 : sender;
	size_t llen = at ? (size_t)(at - sender) : 0;

	if (llen == 0) {
		if (str_copy(x->local, sizeof(x->local), "postmaster") == -1)
			return -1;
	} else if (str_copyn(x->local, sizeof(x->local), sender, llen) == -1)
		return -1;
	if (str_copy(x->sdomain, sizeof(x->sdomain), dom) == -1)
		return -1;
	return str_fmt(x->sender, sizeof(x->sender), "%s@%s", x->local, x->sdomain);
}

int
spf_check(const struct spf_query *q, struct dnsq_cache *c, struct spf_verdict *out)
{
	struct spf_ctx *x;
	char domain[DNSQ_NAME_MAX];
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		out->result = SPF_TEMPERROR;
		(void)str_copy(out->problem, sizeof(out->problem), "out of memory");
		return 0;
	}
	x->c = c;
	x->out = out;
	x->helo = q->helo ? q->helo : "";
	x->receiver = q->receiver && q->receiver[0] ? q->receiver : "unknown";
	if (client_addr(q, &x->family, x->ip) == -1) {
		problem(x, "no client address");
		r = SPF_PERMERROR;
		goto out;
	}
	if (sender_parts(x, q->sender ? q->sender : "") == -1) {
		problem(x, "sender too long");
		r = SPF_PERMERROR;
		goto out;
	}
	addr_dots(x->family, x->ip, x->istr, sizeof(x->istr));
	addr_text(x->family, x->ip, x->cstr, sizeof(x->cstr));
	(void)str_fmt(x->tstr, sizeof(x->tstr), "%lld", (long long)q->now);

	/* The domain as given may end with the root's dot. */
	if (str_copy(domain, sizeof(domain), q->domain ? q->domain : "") == -1) {
		r = SPF_NONE;
		goto out;
	}
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		domain[n - 1] = '\0';
	r = check_host(x, domain, 0, false);
out:
	free(x);
	if (r == DNSQ_NEED)
		return DNSQ_NEED;
	out->result = (enum spf_result)r;
	if (r != SPF_TEMPERROR && r != SPF_PERMERROR)
		out->problem[0] = '\0';
	else
		out->mechanism[0] = '\0';
	if (r != SPF_FAIL)
		out->explanation[0] = '\0';
	return 0;
}

/* The Received-SPF field (§9.1). */

struct fold {
	struct buf *b;
	size_t col;
};

/* One item, on this line after a space or on a new folded line. */
static void
fold_item(struct fold *f, const char *item, size_t n)
{
	if (f->col > 1 && f->col + 1 + n > SPF_FOLD) {
		buf_append_str(f->b, "\r\n ");
		f->col = 1;
	} else {
		buf_append_char(f->b, ' ');
		f->col++;
	}
	buf_append(f->b, item, n);
	f->col += n;
}

/* Comment text, a word at a time so it can fold: ( ) \ quoted (ccontent
 * of RFC 5322 §3.2.2), anything unprintable shown as '?'. */
static void
fold_comment(struct fold *f, const char *text)
{
	struct buf w = BUF_INIT;
	const char *p = text;

	while (*p) {
		buf_reset(&w);
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (p == text)
			buf_append_char(&w, '(');
		for (; *p && *p != ' '; p++) {
			if (*p == '(' || *p == ')' || *p == '\\')
				buf_append_char(&w, '\\');
			buf_append_char(&w, (*p >= 0x21 && *p <= 0x7e) ? *p : '?');
		}
		if (*p == '\0' || p[strspn(p, " ")] == '\0')
			buf_append_char(&w, ')');
		fold_item(f, w.data ? w.data : "", w.len);
	}
	buf_release(&w);
}

/* dot-atom = 1*atext *( "." 1*atext ) (RFC 5322 §3.2.3) */
static bool
dot_atom(const char *s)
{
	bool prev_dot = true;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (prev_dot)
				return false;
			prev_dot = true;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", *s)) {
			prev_dot = false;
		} else
			return false;
	}
	return !prev_dot;
}

/* key=value; with the value a dot-atom or a quoted-string. */
static void
fold_pair(struct fold *f, const char *key, const char *value)
{
	struct buf kv = BUF_INIT;
	const char *p;

	buf_printf(&kv, "%s=", key);
	if (dot_atom(value))
		buf_append_str(&kv, value);
	else {
		buf_append_char(&kv, '"');
		for (p = value; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append_char(&kv, '\\');
			buf_append_char(&kv, (*p >= 0x20 && *p <= 0x7e) ? *p : '?');
		}
		buf_append_char(&kv, '"');
	}
	buf_append_char(&kv, ';');
	fold_item(f, kv.data, kv.len);
	buf_release(&kv);
}

void
spf_received_field(const struct spf_query *q, const struct spf_verdict *v,
    bool helo_identity, struct buf *out)
{
	struct fold f = { out, 0 };
	struct buf comment = BUF_INIT;
	const char *helo = q->helo ? q->helo : "";
	const char *sender = q->sender ? q->sender : "";
	const char *who = helo_identity ? helo : sender;
	char ip[SPF_ADDR_TEXT];
	uint8_t addr[16];
	int family;

	if (client_addr(q, &family, addr) == 0)
		addr_text(family, addr, ip, sizeof(ip));
	else
		(void)str_copy(ip, sizeof(ip), "unknown");
	buf_append_str(out, "Received-SPF:");
	f.col = strlen("Received-SPF:");
	fold_item(&f, spf_result_name(v->result), strlen(spf_result_name(v->result)));

	if (q->receiver && q->receiver[0])
		buf_printf(&comment, "%s: ", q->receiver);
	switch (v->result) {
	case SPF_PASS:
		buf_printf(&comment, "domain of %s designates %s as permitted sender", who, ip);
		break;
	case SPF_FAIL:
		buf_printf(&comment, "domain of %s does not designate %s as permitted sender",
		    who, ip);
		break;
	case SPF_SOFTFAIL:
		buf_printf(&comment, "domain of transitioning %s does not designate %s as "
		    "permitted sender", who, ip);
		break;
	case SPF_NEUTRAL:
		buf_printf(&comment, "%s is neither permitted nor denied by domain of %s",
		    ip, who);
		break;
	case SPF_NONE:
		buf_printf(&comment, "domain of %s does not designate permitted sender hosts",
		    who);
		break;
	case SPF_TEMPERROR:
		buf_printf(&comment, "error in processing during lookup of %s", who);
		break;
	case SPF_PERMERROR:
		buf_printf(&comment, "permanent error in processing domain of %s", who);
		break;
	}
	fold_comment(&f, buf_cstr(&comment));
	buf_release(&comment);

	fold_pair(&f, "client-ip", ip);
	fold_pair(&f, "envelope-from", sender);
	fold_pair(&f, "helo", helo);
	if (q->receiver && q->receiver[0])
		fold_pair(&f, "receiver", q->receiver);
	fold_pair(&f, "identity", helo_identity ? "helo" : "mailfrom");
	if (v->mechanism[0])
		fold_pair(&f, "mechanism", v->mechanism);
	if (v->problem[0])
		fold_pair(&f, "problem", v->problem);
	buf_append_str(out, "\r\n");
}
