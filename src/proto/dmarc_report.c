/*
 * dmarc_report: DMARC aggregate reports (see the header).
 *
 * The results file is ours, but it is written by a daemon that may die
 * between two write()s and read back by code that must not trust it: a
 * line is a version tag and a fixed number of tab-separated fields (23,
 * then 3 per DKIM signature), every value escaped so that a tab, a line
 * end or a control octet from DNS or the message cannot split or forge a
 * field, and the parser checks each one against its field's size and
 * grammar before anything else sees it.
 *
 * Aggregation keeps one row per distinct combination and a count, found
 * through an open-addressing index, so a day of a busy server costs the
 * distinct rows, not the lines. The XML follows RFC 9990's tables in
 * their order; the message is what its "Email" section asks (Subject
 * format, application/gzip, the "receiver!domain!begin!end!id" filename).
 */
#include "dmarc_report.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "../common/str.h"
#include "../common/timefmt.h"
#include "smtp_addr.h"

#define LINE_FIXED_FIELDS 23
#define LINE_DKIM_FIELDS  3
#define LINE_FIELDS_MAX   (LINE_FIXED_FIELDS + LINE_DKIM_FIELDS * DMARC_REPORT_DKIM_MAX)
#define TIME_MAX          ((int64_t)1 << 40)  /* far past any real clock */
#define B64_LINE_IN       57                  /* octets per 76-character line */

/* RFC 8601 §2.7.1 and §2.7.2: the result names a report may carry. */
static const char *const dkim_results[] = {
	"none", "pass", "fail", "policy", "neutral", "temperror", "permerror", NULL,
};
static const char *const spf_results[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror", NULL,
};

struct field {
	const char *p;
	size_t len;
};

static int put_value(struct buf *b, const char *s, bool first);
static int get_text(const struct field *f, char *out, size_t outsize);

const char *
dmarc_report_reason_name(enum dmarc_report_reason r)
{
	switch (r) {
	case DMARC_REASON_LOCAL_POLICY:
		return "local_policy";
	case DMARC_REASON_TEST_MODE:
		return "policy_test_mode";
	case DMARC_REASON_SAMPLED_OUT:
		return "sampled_out";
	case DMARC_REASON_OTHER:
		return "other";
	case DMARC_REASON_NONE:
		break;
	}
	return "none";
}

void
dmarc_report_set_verdict(struct dmarc_report_result *r,
    const struct dmarc_verdict *v)
{
	(void)str_copy(r->policy_domain, sizeof(r->policy_domain), v->policy_domain);
	r->p = v->rec.p;
	r->sp = v->rec.sp;
	r->np = v->rec.np;
	r->adkim_strict = v->rec.adkim_strict;
	r->aspf_strict = v->rec.aspf_strict;
	r->pct = v->rec.pct;
	r->testing = v->rec.testing;
	(void)str_copy(r->rua, sizeof(r->rua), v->rec.rua);
	r->dmarc = v->result;
	r->dkim_aligned = v->dkim_aligned;
	r->spf_aligned = v->spf_aligned;
	r->disposition = DMARC_P_NONE;
	if (v->result == DMARC_FAIL && v->policy != DMARC_P_UNSET)
		r->disposition = v->policy;
	r->reason = DMARC_REASON_NONE;
}

/* ---- the line ---------------------------------------------------------- */

static bool
nul_in(const char *a, size_t size)
{
	return memchr(a, '\0', size) != NULL;
}

static const char *
policy_kw(enum dmarc_policy p)
{
	return p == DMARC_P_UNSET ? "" : dmarc_policy_name(p);
}

static bool
known(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Escapes what could break a line or a field: "\xHH" (lower case). */
static int
put_value(struct buf *b, const char *s, bool first)
{
	static const char hex[] = "0123456789abcdef";

	if (!first && buf_append_char(b, '\t') == -1)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c > 0x20 && c < 0x7f && c != '\\') {
			if (buf_append_char(b, (char)c) == -1)
				return -1;
		} else {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			if (buf_append(b, e, sizeof(e)) == -1)
				return -1;
		}
	}
	return 0;
}

static int
put_num(struct buf *b, long long v)
{
	char n[24];

	(void)str_fmt(n, sizeof(n), "%lld", v);
	return put_value(b, n, false);
}

/* What write may put in a line: exactly what parse takes back. */
static bool
result_ok(const struct dmarc_report_result *r)
{
	unsigned char ip[16];
	size_t i;

	if (r->ndkim > DMARC_REPORT_DKIM_MAX || r->time < 0 || r->time > TIME_MAX ||
	    r->pct < 0 || r->pct > 100 ||
	    r->p > DMARC_P_REJECT || r->sp > DMARC_P_REJECT || r->np > DMARC_P_REJECT ||
	    r->disposition < DMARC_P_NONE || r->disposition > DMARC_P_REJECT ||
	    r->reason > DMARC_REASON_OTHER || r->dmarc > DMARC_PERMERROR)
		return false;
	if (!nul_in(r->source_ip, sizeof(r->source_ip)) ||
	    !nul_in(r->header_from, sizeof(r->header_from)) ||
	    !nul_in(r->envelope_from, sizeof(r->envelope_from)) ||
	    !nul_in(r->policy_domain, sizeof(r->policy_domain)) ||
	    !nul_in(r->spf_domain, sizeof(r->spf_domain)) ||
	    !nul_in(r->spf_result, sizeof(r->spf_result)) ||
	    !nul_in(r->rua, sizeof(r->rua)) || !known(r->spf_result, spf_results) ||
	    r->header_from[0] == '\0' || r->policy_domain[0] == '\0' ||
	    (inet_pton(AF_INET, r->source_ip, ip) != 1 &&
	    inet_pton(AF_INET6, r->source_ip, ip) != 1))
		return false;
	for (i = 0; i < r->ndkim; i++)
		if (!nul_in(r->dkim[i].domain, sizeof(r->dkim[i].domain)) ||
		    !nul_in(r->dkim[i].selector, sizeof(r->dkim[i].selector)) ||
		    !nul_in(r->dkim[i].result, sizeof(r->dkim[i].result)) ||
		    !known(r->dkim[i].result, dkim_results))
			return false;
	return true;
}

int
dmarc_report_line_write(const struct dmarc_report_result *r, struct buf *out)
{
	size_t start = out->len, i;
	int rc = 0;

	if (!result_ok(r))
		return -1;
	rc |= put_value(out, DMARC_REPORT_TAG, true);
	rc |= put_num(out, (long long)r->time);
	rc |= put_value(out, r->source_ip, false);
	rc |= put_value(out, r->header_from, false);
	rc |= put_value(out, r->envelope_from, false);
	rc |= put_value(out, r->policy_domain, false);
	rc |= put_value(out, policy_kw(r->p), false);
	rc |= put_value(out, policy_kw(r->sp), false);
	rc |= put_value(out, policy_kw(r->np), false);
	rc |= put_value(out, r->adkim_strict ? "s" : "r", false);
	rc |= put_value(out, r->aspf_strict ? "s" : "r", false);
	rc |= put_num(out, r->pct);
	rc |= put_value(out, r->testing ? "y" : "n", false);
	rc |= put_value(out, dmarc_policy_name(r->disposition), false);
	rc |= put_value(out, dmarc_report_reason_name(r->reason), false);
	rc |= put_value(out, dmarc_result_name(r->dmarc), false);
	rc |= put_value(out, r->dkim_aligned ? "pass" : "fail", false);
	rc |= put_value(out, r->spf_aligned ? "pass" : "fail", false);
	rc |= put_value(out, r->spf_domain, false);
	rc |= put_value(out, r->spf_helo ? "helo" : "mfrom", false);
	rc |= put_value(out, r->spf_result, false);
	rc |= put_value(out, r->rua, false);
	rc |= put_num(out, (long long)r->ndkim);
	for (i = 0; i < r->ndkim; i++) {
		rc |= put_value(out, r->dkim[i].domain, false);
		rc |= put_value(out, r->dkim[i].selector, false);
		rc |= put_value(out, r->dkim[i].result, false);
	}
	rc |= buf_append_char(out, '\n');
	if (rc != 0) {
		buf_cut(out, start, out->len - start);
		return -1;
	}
	return 0;
}

/* Undoes put_value into out[outsize]; -1 on a raw control octet, a bad
 * or NUL escape, or a value that does not fit. */
static int
get_text(const struct field *f, char *out, size_t outsize)
{
	size_t i, o = 0;

	for (i = 0; i < f->len; i++) {
		unsigned char c = (unsigned char)f->p[i];

		if (c == '\\') {
			int hi, lo;

			if (f->len - i < 4 || f->p[i + 1] != 'x' ||
			    (hi = str_hexval(f->p[i + 2])) < 0 || (lo = str_hexval(f->p[i + 3])) < 0 ||
			    (hi | lo) == 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 3;
		} else if (c < 0x21 || c > 0x7e)
			return -1;
		if (o + 1 >= outsize)
			return -1;
		out[o++] = (char)c;
	}
	if (outsize == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

/* A keyword field: its (unescaped) text must be one of list; the index. */
static int
get_kw(const struct field *f, const char *const *list)
{
	char s[32];
	int i;

	if (get_text(f, s, sizeof(s)) == -1)
		return -1;
	for (i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return i;
	return -1;
}

/* Decimal, no sign, at most max; -1 if not. */
static long long
get_num(const struct field *f, long long max)
{
	long long v = 0;
	size_t i;

	if (f->len == 0 || f->len > 19)
		return -1;
	for (i = 0; i < f->len; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return -1;
		if (v > (max - (f->p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (f->p[i] - '0');
	}
	return v;
}

/* The IP as inet_ntop writes it, so that one address is one row. */
static int
get_ip(const struct field *f, char *out, size_t outsize)
{
	unsigned char a[16];
	char s[DMARC_REPORT_IP_MAX];

	if (get_text(f, s, sizeof(s)) == -1)
		return -1;
	if (inet_pton(AF_INET, s, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)outsize) ? 0 : -1;
	if (inet_pton(AF_INET6, s, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)outsize) ? 0 : -1;
	return -1;
}

int
dmarc_report_line_parse(const char *line, size_t len,
    struct dmarc_report_result *r)
{
	static const char *const pol[] = { "", "none", "quarantine", "reject", NULL };
	static const char *const disp[] = { "none", "quarantine", "reject", NULL };
	static const char *const align[] = { "r", "s", NULL };
	static const char *const yn[] = { "n", "y", NULL };
	static const char *const pf[] = { "fail", "pass", NULL };
	static const char *const scope[] = { "mfrom", "helo", NULL };
	static const char *const reasons[] = { "none", "local_policy",
	    "policy_test_mode", "sampled_out", "other", NULL };
	static const char *const results[] = { "none", "pass", "fail",
	    "temperror", "permerror", NULL };
	struct field f[LINE_FIELDS_MAX];
	size_t nf = 0, i, start = 0;
	long long n;
	int k[12];

	memset(r, 0, sizeof(*r));
	if (len > 0 && line[len - 1] == '\n')
		len--;
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		if (nf == LINE_FIELDS_MAX)
			return -1;
		f[nf].p = line + start;
		f[nf].len = i - start;
		nf++;
		start = i + 1;
	}
	if (nf < LINE_FIXED_FIELDS || f[0].len != strlen(DMARC_REPORT_TAG) ||
	    memcmp(f[0].p, DMARC_REPORT_TAG, f[0].len) != 0)
		return -1;
	if ((n = get_num(&f[22], DMARC_REPORT_DKIM_MAX)) < 0 ||
	    nf != LINE_FIXED_FIELDS + LINE_DKIM_FIELDS * (size_t)n)
		return -1;
	r->ndkim = (size_t)n;
	if ((n = get_num(&f[1], TIME_MAX)) < 0)
		return -1;
	r->time = n;
	if (get_ip(&f[2], r->source_ip, sizeof(r->source_ip)) == -1 ||
	    get_text(&f[3], r->header_from, sizeof(r->header_from)) == -1 ||
	    get_text(&f[4], r->envelope_from, sizeof(r->envelope_from)) == -1 ||
	    get_text(&f[5], r->policy_domain, sizeof(r->policy_domain)) == -1 ||
	    r->header_from[0] == '\0' || r->policy_domain[0] == '\0')
		return -1;
	if ((k[0] = get_kw(&f[6], pol)) < 0 || (k[1] = get_kw(&f[7], pol)) < 0 ||
	    (k[2] = get_kw(&f[8], pol)) < 0 || (k[3] = get_kw(&f[9], align)) < 0 ||
	    (k[4] = get_kw(&f[10], align)) < 0 || (k[5] = get_kw(&f[12], yn)) < 0 ||
	    (k[6] = get_kw(&f[13], disp)) < 0 || (k[7] = get_kw(&f[14], reasons)) < 0 ||
	    (k[8] = get_kw(&f[15], results)) < 0 || (k[9] = get_kw(&f[16], pf)) < 0 ||
	    (k[10] = get_kw(&f[17], pf)) < 0 || (k[11] = get_kw(&f[19], scope)) < 0)
		return -1;
	/* the tables above follow the enums' order */
	r->p = (enum dmarc_policy)k[0];
	r->sp = (enum dmarc_policy)k[1];
	r->np = (enum dmarc_policy)k[2];
	r->adkim_strict = k[3] == 1;
	r->aspf_strict = k[4] == 1;
	r->testing = k[5] == 1;
	r->disposition = (enum dmarc_policy)(k[6] + DMARC_P_NONE);
	r->reason = (enum dmarc_report_reason)k[7];
	r->dmarc = (enum dmarc_result)k[8];
	r->dkim_aligned = k[9] == 1;
	r->spf_aligned = k[10] == 1;
	r->spf_helo = k[11] == 1;
	if ((n = get_num(&f[11], 100)) < 0)
		return -1;
	r->pct = (int)n;
	if (get_text(&f[18], r->spf_domain, sizeof(r->spf_domain)) == -1 ||
	    get_kw(&f[20], spf_results) < 0 ||
	    get_text(&f[20], r->spf_result, sizeof(r->spf_result)) == -1 ||
	    get_text(&f[21], r->rua, sizeof(r->rua)) == -1)
		return -1;
	for (i = 0; i < r->ndkim; i++) {
		const struct field *d = &f[LINE_FIXED_FIELDS + LINE_DKIM_FIELDS * i];

		if (get_text(&d[0], r->dkim[i].domain, sizeof(r->dkim[i].domain)) == -1 ||
		    get_text(&d[1], r->dkim[i].selector, sizeof(r->dkim[i].selector)) == -1 ||
		    get_kw(&d[2], dkim_results) < 0 ||
		    get_text(&d[2], r->dkim[i].result, sizeof(r->dkim[i].result)) == -1)
			return -1;
	}
	return 0;
}

/* ---- aggregation -------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a of s and a separator, so that "ab","c" and "a","bc" differ. */
static uint64_t
fnv(uint64_t h, const char *s, bool fold)
{
	for (; *s; s++) {
		h ^= (unsigned char)(fold ? lower(*s) : *s);
		h *= FNV_PRIME;
	}
	h ^= 0xff;
	return h * FNV_PRIME;
}

static uint64_t
fnv_int(uint64_t h, unsigned v)
{
	h ^= v & 0xff;
	return h * FNV_PRIME;
}

/*
 * The report's order of signatures (RFC 9990, "DKIM Signatures in
 * Aggregate Reports"): passing and strictly aligned, passing and relaxed
 * aligned, other passes, the rest. Relaxed is approximated as one name
 * under the other: the organizational domain is not known here.
 */
static int
dkim_rank(const struct dmarc_report_dkim *d, const char *from)
{
	size_t dl = strlen(d->domain), fl = strlen(from);

	if (strcmp(d->result, "pass") != 0)
		return 3;
	if (strcasecmp(d->domain, from) == 0)
		return 0;
	if ((fl > dl && from[fl - dl - 1] == '.' && strcasecmp(from + fl - dl, d->domain) == 0) ||
	    (dl > fl && d->domain[dl - fl - 1] == '.' && strcasecmp(d->domain + dl - fl, from) == 0))
		return 1;
	return 2;
}

static int
dkim_cmp(const struct dmarc_report_dkim *a, const struct dmarc_report_dkim *b,
    const char *from)
{
	int c;

	if ((c = dkim_rank(a, from) - dkim_rank(b, from)) != 0)
		return c;
	if ((c = strcmp(a->domain, b->domain)) != 0)
		return c;
	if ((c = strcmp(a->selector, b->selector)) != 0)
		return c;
	return strcmp(a->result, b->result);
}

/* Insertion sort: at most DMARC_REPORT_DKIM_MAX entries. */
static void
dkim_sort(struct dmarc_report_result *r)
{
	struct dmarc_report_dkim t;
	size_t i, j;

	for (i = 1; i < r->ndkim; i++) {
		t = r->dkim[i];
		for (j = i; j > 0 && dkim_cmp(&r->dkim[j - 1], &t, r->header_from) > 0; j--)
			r->dkim[j] = r->dkim[j - 1];
		r->dkim[j] = t;
	}
}

static uint64_t
dom_hash(const char *d)
{
	return fnv(FNV_OFFSET, d, true);
}

static uint64_t
row_hash(const struct dmarc_report_result *k)
{
	uint64_t h = fnv(FNV_OFFSET, k->policy_domain, true);
	size_t i;

	h = fnv(h, k->source_ip, false);
	h = fnv_int(h, (unsigned)k->disposition);
	h = fnv_int(h, (unsigned)k->reason);
	h = fnv_int(h, (unsigned)k->dkim_aligned << 1 | (unsigned)k->spf_aligned);
	h = fnv(h, k->header_from, false);
	h = fnv(h, k->envelope_from, false);
	h = fnv(h, k->spf_domain, false);
	h = fnv_int(h, k->spf_helo);
	h = fnv(h, k->spf_result, false);
	h = fnv_int(h, (unsigned)k->ndkim);
	for (i = 0; i < k->ndkim; i++) {
		h = fnv(h, k->dkim[i].domain, false);
		h = fnv(h, k->dkim[i].selector, false);
		h = fnv(h, k->dkim[i].result, false);
	}
	return h;
}

/* Both with their signatures sorted. */
static bool
row_eq(const struct dmarc_report_result *a, const struct dmarc_report_result *b)
{
	size_t i;

	if (strcasecmp(a->policy_domain, b->policy_domain) != 0 ||
	    strcmp(a->source_ip, b->source_ip) != 0 ||
	    a->disposition != b->disposition || a->reason != b->reason ||
	    a->dkim_aligned != b->dkim_aligned || a->spf_aligned != b->spf_aligned ||
	    strcmp(a->header_from, b->header_from) != 0 ||
	    strcmp(a->envelope_from, b->envelope_from) != 0 ||
	    strcmp(a->spf_domain, b->spf_domain) != 0 || a->spf_helo != b->spf_helo ||
	    strcmp(a->spf_result, b->spf_result) != 0 || a->ndkim != b->ndkim)
		return false;
	for (i = 0; i < a->ndkim; i++)
		if (strcmp(a->dkim[i].domain, b->dkim[i].domain) != 0 ||
		    strcmp(a->dkim[i].selector, b->dkim[i].selector) != 0 ||
		    strcmp(a->dkim[i].result, b->dkim[i].result) != 0)
			return false;
	return true;
}

static uint64_t
dom_hash_at(const struct dmarc_report_agg *a, size_t i)
{
	return dom_hash(a->doms[i].domain);
}

static uint64_t
row_hash_at(const struct dmarc_report_agg *a, size_t i)
{
	return row_hash(&a->rows[i].r);
}

/*
 * Makes a table of at least twice want slots (a power of two, so the
 * load stays at most one half and probing ends) holding entries 0..n-1.
 */
static int
tab_build(const struct dmarc_report_agg *a, uint32_t **tab, size_t *size,
    size_t n, size_t want, uint64_t (*hash)(const struct dmarc_report_agg *, size_t))
{
	size_t sz = 16, i, j;
	uint32_t *t;

	while (sz < want * 2) {
		if (sz > SIZE_MAX / 4 / sizeof(*t))
			return -1;
		sz *= 2;
	}
	if ((t = calloc(sz, sizeof(*t))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		for (j = (size_t)hash(a, i) & (sz - 1); t[j] != 0; j = (j + 1) & (sz - 1))
			;
		t[j] = (uint32_t)(i + 1);
	}
	free(*tab);
	*tab = t;
	*size = sz;
	return 0;
}

static size_t
dom_lookup(const struct dmarc_report_agg *a, const char *domain)
{
	size_t j, mask = a->dtab_size - 1;

	if (a->dtab == NULL)
		return SIZE_MAX;
	for (j = (size_t)dom_hash(domain) & mask; a->dtab[j] != 0; j = (j + 1) & mask)
		if (strcasecmp(a->doms[a->dtab[j] - 1].domain, domain) == 0)
			return a->dtab[j] - 1;
	return SIZE_MAX;
}

static size_t
row_lookup(const struct dmarc_report_agg *a, const struct dmarc_report_result *k)
{
	size_t j, mask = a->rtab_size - 1;

	if (a->rtab == NULL)
		return SIZE_MAX;
	for (j = (size_t)row_hash(k) & mask; a->rtab[j] != 0; j = (j + 1) & mask)
		if (row_eq(&a->rows[a->rtab[j] - 1].r, k))
			return a->rtab[j] - 1;
	return SIZE_MAX;
}

static void
tab_put(uint32_t *tab, size_t size, uint64_t h, size_t idx)
{
	size_t j;

	for (j = (size_t)h & (size - 1); tab[j] != 0; j = (j + 1) & (size - 1))
		;
	tab[j] = (uint32_t)(idx + 1);
}

/* Room for one more element in an array of n, of cap, of size each. */
static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	if (nc > SIZE_MAX / size)
		return -1;
	if ((p = realloc(*arr, nc * size)) == NULL)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

void
dmarc_report_agg_init(struct dmarc_report_agg *a, size_t max_domains,
    size_t max_rows)
{
	memset(a, 0, sizeof(*a));
	a->max_domains = max_domains;
	a->max_rows = max_rows;
}

int
dmarc_report_agg_add(struct dmarc_report_agg *a,
    const struct dmarc_report_result *r)
{
	struct dmarc_report_result key, *k = &key;
	struct dmarc_report_domain *d;
	size_t di, ri;

	if (!result_ok(r))
		return -1;
	*k = *r;
	dkim_sort(k);
	di = dom_lookup(a, k->policy_domain);
	ri = row_lookup(a, k);
	if (ri == SIZE_MAX) {
		/* Everything that can fail is done before anything changes. */
		bool newdom = di == SIZE_MAX;
		size_t *rows = NULL;

		if ((a->max_rows && a->nrows >= a->max_rows) || a->nrows >= UINT32_MAX - 1 ||
		    (newdom && ((a->max_domains && a->ndoms >= a->max_domains) ||
		    a->ndoms >= UINT32_MAX - 1))) {
			a->dropped++;
			return 1;
		}
		if (grow((void **)&a->rows, &a->rcap, a->nrows, sizeof(*a->rows)) == -1 ||
		    ((a->nrows + 1) * 2 > a->rtab_size &&
		    tab_build(a, &a->rtab, &a->rtab_size, a->nrows, a->nrows + 1, row_hash_at) == -1) ||
		    (newdom && (grow((void **)&a->doms, &a->dcap, a->ndoms, sizeof(*a->doms)) == -1 ||
		    ((a->ndoms + 1) * 2 > a->dtab_size &&
		    tab_build(a, &a->dtab, &a->dtab_size, a->ndoms, a->ndoms + 1, dom_hash_at) == -1))) ||
		    (newdom && (rows = malloc(16 * sizeof(*rows))) == NULL)) {
			return -1;
		}
		if (newdom) {
			d = &a->doms[a->ndoms];
			memset(d, 0, sizeof(*d));
			(void)str_copy(d->domain, sizeof(d->domain), k->policy_domain);
			str_lower(d->domain);
			d->policy = *r;
			d->rows = rows;
			d->rcap = 16;
			tab_put(a->dtab, a->dtab_size, dom_hash(d->domain), a->ndoms);
			di = a->ndoms++;
		}
		d = &a->doms[di];
		if (grow((void **)&d->rows, &d->rcap, d->nrows, sizeof(*d->rows)) == -1) {
			return -1;
		}
		a->rows[a->nrows].r = *k;
		a->rows[a->nrows].count = 0;
		tab_put(a->rtab, a->rtab_size, row_hash(k), a->nrows);
		d->rows[d->nrows++] = a->nrows;
		ri = a->nrows++;
	}
	d = &a->doms[di];
	a->rows[ri].count++;
	d->messages++;
	if (r->time >= d->policy.time)
		d->policy = *r;
	return 0;
}

static int
dom_cmp(const void *x, const void *y)
{
	const struct dmarc_report_domain *a = x, *b = y;

	return strcmp(a->domain, b->domain);
}

int
dmarc_report_agg_sort(struct dmarc_report_agg *a)
{
	if (a->ndoms == 0)
		return 0;
	qsort(a->doms, a->ndoms, sizeof(*a->doms), dom_cmp);
	return tab_build(a, &a->dtab, &a->dtab_size, a->ndoms, a->ndoms, dom_hash_at);
}

const struct dmarc_report_domain *
dmarc_report_agg_find(const struct dmarc_report_agg *a, const char *domain)
{
	size_t i = dom_lookup(a, domain);

	return i == SIZE_MAX ? NULL : &a->doms[i];
}

void
dmarc_report_agg_release(struct dmarc_report_agg *a)
{
	size_t i;

	for (i = 0; i < a->ndoms; i++)
		free(a->doms[i].rows);
	free(a->doms);
	free(a->rows);
	free(a->dtab);
	free(a->rtab);
	dmarc_report_agg_init(a, a->max_domains, a->max_rows);
}

/* ---- the XML report ----------------------------------------------------- */

/* A writer that remembers the first allocation failure. */
struct xw {
	struct buf *b;
	int err;
};

static void
x_raw(struct xw *w, const char *s, size_t n)
{
	if (buf_append(w->b, s, n) == -1)
		w->err = -1;
}

static void
x_str(struct xw *w, const char *s)
{
	x_raw(w, s, strlen(s));
}

/*
 * The length of the valid UTF-8 sequence at s whose code point is an XML
 * 1.0 Char (§2.2: no surrogates, no U+FFFE or U+FFFF), or 0.
 */
static size_t
utf8_char(const unsigned char *s)
{
	unsigned cp;
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)   /* the NUL ends it here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

/*
 * Text content: the five markup characters as entities, TAB, LF, CR and
 * DEL as character references (a parser would fold a raw CR), and what
 * XML cannot hold at all (other controls, broken UTF-8) as U+FFFD.
 */
static void
x_esc(struct xw *w, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	char ref[8];
	size_t n;

	while (*s) {
		switch (*s) {
		case '&':
			x_str(w, "&amp;");
			break;
		case '<':
			x_str(w, "&lt;");
			break;
		case '>':
			x_str(w, "&gt;");
			break;
		case '"':
			x_str(w, "&quot;");
			break;
		case '\'':
			x_str(w, "&apos;");
			break;
		case '\t': case '\n': case '\r': case 0x7f:
			(void)str_fmt(ref, sizeof(ref), "&#%u;", *s);
			x_str(w, ref);
			break;
		default:
			if (*s >= 0x20 && *s < 0x7f)
				x_raw(w, (const char *)s, 1);
			else if (*s >= 0x80 && (n = utf8_char(s)) > 0) {
				x_raw(w, (const char *)s, n);
				s += n;
				continue;
			} else
				x_str(w, "\xef\xbf\xbd");
		}
		s++;
	}
}

static void
x_indent(struct xw *w, int depth)
{
	static const char sp[] = "                ";

	x_raw(w, sp, (size_t)depth * 2 < sizeof(sp) - 1 ? (size_t)depth * 2 : sizeof(sp) - 1);
}

static void
x_open(struct xw *w, int depth, const char *name)
{
	x_indent(w, depth);
	x_str(w, "<");
	x_str(w, name);
	x_str(w, ">\n");
}

static void
x_close(struct xw *w, int depth, const char *name)
{
	x_indent(w, depth);
	x_str(w, "</");
	x_str(w, name);
	x_str(w, ">\n");
}

static void
x_elem(struct xw *w, int depth, const char *name, const char *text)
{
	x_indent(w, depth);
	x_str(w, "<");
	x_str(w, name);
	x_str(w, ">");
	x_esc(w, text);
	x_str(w, "</");
	x_str(w, name);
	x_str(w, ">\n");
}

static void
x_num(struct xw *w, int depth, const char *name, long long v)
{
	char n[24];

	(void)str_fmt(n, sizeof(n), "%lld", v);
	x_elem(w, depth, name, n);
}

static void
x_record(struct xw *w, const struct dmarc_report_row *row)
{
	const struct dmarc_report_result *r = &row->r;
	size_t i;

	x_open(w, 1, "record");
	x_open(w, 2, "row");
	x_elem(w, 3, "source_ip", r->source_ip);
	x_num(w, 3, "count", (long long)row->count);
	x_open(w, 3, "policy_evaluated");
	x_elem(w, 4, "disposition", dmarc_policy_name(r->disposition));
	x_elem(w, 4, "dkim", r->dkim_aligned ? "pass" : "fail");
	x_elem(w, 4, "spf", r->spf_aligned ? "pass" : "fail");
	if (r->reason != DMARC_REASON_NONE) {
		/* pct= is gone from RFC 9989, and sampled_out from the types */
		x_open(w, 4, "reason");
		if (r->reason == DMARC_REASON_SAMPLED_OUT) {
			x_elem(w, 5, "type", "other");
			x_elem(w, 5, "comment", "sampled out by pct=");
		} else
			x_elem(w, 5, "type", dmarc_report_reason_name(r->reason));
		x_close(w, 4, "reason");
	}
	x_close(w, 3, "policy_evaluated");
	x_close(w, 2, "row");
	x_open(w, 2, "identifiers");
	x_elem(w, 3, "header_from", r->header_from);
	x_elem(w, 3, "envelope_from", r->envelope_from);
	x_close(w, 2, "identifiers");
	x_open(w, 2, "auth_results");
	for (i = 0; i < r->ndkim; i++) {
		x_open(w, 3, "dkim");
		x_elem(w, 4, "domain", r->dkim[i].domain);
		x_elem(w, 4, "selector", r->dkim[i].selector);
		x_elem(w, 4, "result", r->dkim[i].result);
		x_close(w, 3, "dkim");
	}
	if (r->spf_domain[0]) {
		x_open(w, 3, "spf");
		x_elem(w, 4, "domain", r->spf_domain);
		x_elem(w, 4, "scope", r->spf_helo ? "helo" : "mfrom");
		x_elem(w, 4, "result", r->spf_result);
		x_close(w, 3, "spf");
	}
	x_close(w, 2, "auth_results");
	x_close(w, 1, "record");
}

int
dmarc_report_xml(const struct dmarc_report_meta *m,
    const struct dmarc_report_agg *a, const struct dmarc_report_domain *d,
    struct buf *out)
{
	const struct dmarc_report_result *pol = &d->policy;
	/* "Unspecified tags have their default values": sp is p's, np sp's */
	enum dmarc_policy p = pol->p == DMARC_P_UNSET ? DMARC_P_NONE : pol->p;
	enum dmarc_policy sp = pol->sp == DMARC_P_UNSET ? p : pol->sp;
	enum dmarc_policy np = pol->np == DMARC_P_UNSET ? sp : pol->np;
	struct xw w = { out, 0 };
	size_t start = out->len, i;

	x_str(&w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n");
	x_elem(&w, 1, "version", "1.0");
	x_open(&w, 1, "report_metadata");
	x_elem(&w, 2, "org_name", m->org_name);
	x_elem(&w, 2, "email", m->email);
	x_elem(&w, 2, "report_id", m->report_id);
	x_open(&w, 2, "date_range");
	x_num(&w, 3, "begin", (long long)m->begin);
	x_num(&w, 3, "end", (long long)m->end);
	x_close(&w, 2, "date_range");
	if (m->generator)
		x_elem(&w, 2, "generator", m->generator);
	x_close(&w, 1, "report_metadata");
	x_open(&w, 1, "policy_published");
	x_elem(&w, 2, "domain", d->domain);
	/* dmarc.c finds records by RFC 9989's DNS tree walk */
	x_elem(&w, 2, "discovery_method", "treewalk");
	x_elem(&w, 2, "p", dmarc_policy_name(p));
	x_elem(&w, 2, "sp", dmarc_policy_name(sp));
	x_elem(&w, 2, "np", dmarc_policy_name(np));
	x_elem(&w, 2, "adkim", pol->adkim_strict ? "s" : "r");
	x_elem(&w, 2, "aspf", pol->aspf_strict ? "s" : "r");
	x_elem(&w, 2, "testing", pol->testing ? "y" : "n");
	x_close(&w, 1, "policy_published");
	for (i = 0; i < d->nrows; i++)
		x_record(&w, &a->rows[d->rows[i]]);
	x_str(&w, "</feedback>\n");
	if (w.err) {
		buf_cut(out, start, out->len - start);
		return -1;
	}
	return 0;
}

int
dmarc_report_id(const char *receiver, const char *policy_domain,
    int64_t begin, char *out, size_t outsize)
{
	uint64_t h = fnv(fnv(FNV_OFFSET, receiver, true), policy_domain, true);

	return str_fmt(out, outsize, "%llur%016llx",
	    (unsigned long long)(begin < 0 ? 0 : begin), (unsigned long long)h);
}

/* ---- the message -------------------------------------------------------- */

int
dmarc_report_gzip(const char *in, size_t len, struct buf *out)
{
	z_stream z;
	size_t start = out->len;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer, not zlib's */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)in;
	do {
		uInt chunk_in = len > UINT_MAX ? UINT_MAX : (uInt)len;

		z.avail_in = chunk_in;
		len -= chunk_in;
		do {
			if (buf_reserve(out, 65536) == -1) {
				deflateEnd(&z);
				buf_cut(out, start, out->len - start);
				return -1;
			}
			z.next_out = (Bytef *)out->data + out->len;
			z.avail_out = 65536;
			rc = deflate(&z, len == 0 ? Z_FINISH : Z_NO_FLUSH);
			out->len += 65536 - z.avail_out;
			out->data[out->len] = '\0';
			if (rc == Z_STREAM_ERROR) {
				deflateEnd(&z);
				buf_cut(out, start, out->len - start);
				return -1;
			}
		} while (z.avail_out == 0);
	} while (len > 0);
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

/* base64 (RFC 2045 §6.8) in lines of 76 characters, CRLF after each. */
static int
b64_lines(struct buf *out, const unsigned char *in, size_t len)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, k;

	for (i = 0; i < len; i += B64_LINE_IN) {
		size_t n = len - i < B64_LINE_IN ? len - i : B64_LINE_IN;
		char line[80];
		size_t o = 0;

		for (k = 0; k < n; k += 3) {
			unsigned v = (unsigned)in[i + k] << 16;

			if (k + 1 < n)
				v |= (unsigned)in[i + k + 1] << 8;
			if (k + 2 < n)
				v |= in[i + k + 2];
			line[o++] = al[v >> 18 & 63];
			line[o++] = al[v >> 12 & 63];
			line[o++] = k + 1 < n ? al[v >> 6 & 63] : '=';
			line[o++] = k + 2 < n ? al[v & 63] : '=';
		}
		line[o++] = '\r';
		line[o++] = '\n';
		if (buf_append(out, line, o) == -1)
			return -1;
	}
	return 0;
}

/* What may stand in a header unquoted and in the quoted filename. */
static bool
token_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

static bool
mailbox_ok(const char *s)
{
	struct smtp_path p;

	return smtp_addr_parse_mailbox(s, strlen(s), false, &p) == SMTP_ADDR_OK &&
	    p.domain[0] != '\0';
}

int
dmarc_report_filename(const struct dmarc_report_meta *m,
    const char *policy_domain, char *out, size_t outsize)
{
	return str_fmt(out, outsize, "%s!%s!%lld!%lld!%s.xml.gz", m->receiver,
	    policy_domain, (long long)m->begin, (long long)m->end, m->report_id);
}

int
dmarc_report_message(const struct dmarc_report_mail *m, struct buf *out)
{
	const struct dmarc_report_meta *meta = m->meta;
	struct buf gz = BUF_INIT;
	char date[RFC5322_DATE_MAX], from[RFC5322_DATE_MAX], to[RFC5322_DATE_MAX];
	char fname[1024], boundary[128];
	const char *id = meta->report_id;
	size_t start = out->len, subj;
	int rc = 0;

	if (!token_ok(m->policy_domain) || !token_ok(meta->receiver) || !token_ok(id) ||
	    strlen(id) >= DMARC_REPORT_ID_MAX || !mailbox_ok(m->from) || !mailbox_ok(m->to) ||
	    dmarc_report_filename(meta, m->policy_domain, fname, sizeof(fname)) == -1 ||
	    str_fmt(boundary, sizeof(boundary), "=_tern-dmarc-%s", id) == -1)
		return -1;
	if (dmarc_report_gzip(m->xml, m->xml_len, &gz) == -1) {
		buf_release(&gz);
		return -1;
	}
	rfc5322_date(m->now, date, sizeof(date));
	rfc5322_date(meta->begin, from, sizeof(from));
	rfc5322_date(meta->end, to, sizeof(to));
	rc |= buf_printf(out, "From: <%s>\r\nTo: <%s>\r\n", m->from, m->to);
	/* RFC 9990's dmarc-subject: FWS between the parts, folded if long */
	subj = strlen("Subject: Report Domain: ") + strlen(m->policy_domain) +
	    strlen(" Submitter: ") + strlen(meta->receiver) + strlen(" Report-ID: <>") +
	    strlen(id);
	rc |= buf_printf(out, "Subject: Report Domain: %s%sSubmitter: %s%sReport-ID: <%s>\r\n",
	    m->policy_domain, subj > 78 ? "\r\n " : " ", meta->receiver,
	    subj > 78 ? "\r\n " : " ", id);
	rc |= buf_printf(out, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", date, id, meta->receiver);
	/* RFC 3834: no vacation replies to a report */
	rc |= buf_printf(out, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n", boundary);
	rc |= buf_printf(out, "This is a DMARC aggregate report in MIME format.\r\n\r\n"
	    "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n", boundary);
	rc |= buf_printf(out, "This is a DMARC aggregate report (RFC 9990) from %s\r\n"
	    "for the domain %s.\r\n\r\nPeriod: %s\r\n    to %s\r\nReport-ID: %s\r\n\r\n",
	    meta->receiver, m->policy_domain, from, to, id);
	rc |= buf_printf(out, "--%s\r\nContent-Type: application/gzip;\r\n name=\"%s\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", boundary, fname, fname);
	rc |= b64_lines(out, (const unsigned char *)gz.data, gz.len);
	rc |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	buf_release(&gz);
	if (rc != 0) {
		buf_cut(out, start, out->len - start);
		return -1;
	}
	return 0;
}

/* ---- rua= and external destinations -------------------------------------- */

/* "1*DIGIT [ "k" / "m" / "g" / "t" ]" (RFC 9989's dmarc-uri size). */
static int
size_parse(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	bool sat = false;
	size_t i;

	if (n > 0) {
		switch (lower(s[n - 1])) {
		case 'k':
			mul = 1ULL << 10;
			n--;
			break;
		case 'm':
			mul = 1ULL << 20;
			n--;
			break;
		case 'g':
			mul = 1ULL << 30;
			n--;
			break;
		case 't':
			mul = 1ULL << 40;
			n--;
			break;
		}
	}
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		/* a limit past 2^64 octets is no limit: saturate */
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			sat = true;
		else
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = sat || v > UINT64_MAX / mul ? UINT64_MAX : v * mul;
	return 0;
}

/* One URI (trimmed) into u; -1 to skip it. */
static int
uri_parse(const char *s, size_t n, struct dmarc_report_uri *u)
{
	char addr[DMARC_REPORT_ADDR_MAX];
	struct smtp_path p;
	const char *bang, *q;
	size_t i, o = 0, alen;

	memset(u, 0, sizeof(*u));
	if (n < 7 || strncasecmp(s, "mailto:", 7) != 0)
		return -1;
	s += 7;
	n -= 7;
	/* "!" and "," inside the URI are %-encoded (RFC 9989 §4.7) */
	if ((bang = memchr(s, '!', n)) != NULL) {
		if (size_parse(bang + 1, n - (size_t)(bang + 1 - s), &u->limit) == -1)
			return -1;
		u->has_limit = true;
		n = (size_t)(bang - s);
	}
	alen = (q = memchr(s, '?', n)) != NULL ? (size_t)(q - s) : n;
	for (i = 0; i < alen; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (alen - i < 3 || (hi = str_hexval(s[i + 1])) < 0 ||
			    (lo = str_hexval(s[i + 2])) < 0 || (hi | lo) == 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= sizeof(addr))
			return -1;
		addr[o++] = c;
	}
	addr[o] = '\0';
	if (smtp_addr_parse_mailbox(addr, o, false, &p) != SMTP_ADDR_OK ||
	    p.domain[0] == '\0' ||
	    str_fmt(u->addr, sizeof(u->addr), "%s@%s", p.local, p.domain) == -1)
		return -1;
	return 0;
}

void
dmarc_report_rua_parse(const char *rua, struct dmarc_report_uri *out,
    size_t max, size_t *n, size_t *skipped)
{
	const char *s = rua;

	*n = 0;
	if (skipped)
		*skipped = 0;
	while (*s) {
		size_t len = strcspn(s, ","), b = 0, e = len;

		while (b < e && (s[b] == ' ' || s[b] == '\t'))
			b++;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e > b) {
			if (*n < max && uri_parse(s + b, e - b, &out[*n]) == 0)
				(*n)++;
			else if (skipped)
				(*skipped)++;
		}
		s += len;
		if (*s == ',')
			s++;
	}
}

bool
dmarc_report_uri_fits(const struct dmarc_report_uri *u, size_t size)
{
	return !u->has_limit || (uint64_t)size <= u->limit;
}

/* A host name for the query: LDH labels (and "_"), 1..63 octets each. */
static bool
name_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0' || *s == '.')
		return false;
	for (; *s; s++) {
		char c = *s;

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_') || ++label > 63)
			return false;
	}
	return true;
}

int
dmarc_report_ext_name(const char *policy_dom, const char *rua_dom,
    char *out, size_t n)
{
	char p[DMARC_DOMAIN_MAX], r[DMARC_DOMAIN_MAX];
	size_t pl, rl;

	/* a final dot is the same name */
	if (str_copy(p, sizeof(p), policy_dom) == -1 || str_copy(r, sizeof(r), rua_dom) == -1)
		return -1;
	if ((pl = strlen(p)) > 0 && p[pl - 1] == '.')
		p[--pl] = '\0';
	if ((rl = strlen(r)) > 0 && r[rl - 1] == '.')
		r[--rl] = '\0';
	/* 253 octets of text is the 255 of the wire form (RFC 1035 §2.3.4) */
	if (!name_ok(p) || !name_ok(r) || pl + strlen("._report._dmarc.") + rl > 253)
		return -1;
	return str_fmt(out, n, "%s._report._dmarc.%s", p, r);
}

bool
dmarc_report_ext_ok(const char *txt)
{
	struct dmarc_record rec;

	return dmarc_record_parse(txt, strlen(txt), &rec) == 0;
}
