/*
 * fuzz_dmarc_check: the whole evaluation over a zone read from the input,
 * replayed as the daemon's dns_eval does.
 *
 * The input is lines: "F name" the From domain, "S name" a passing SPF
 * domain, "D name" a passing DKIM d= (up to 8), "E" an SPF/DKIM
 * temperror, "P n" the pct sample; "T name text" a TXT record, "A name"
 * an A record, "X name" a name that answers SERVFAIL. Other names are
 * NXDOMAIN unless some record's name is at or below them (NODATA).
 *
 * The evaluation must end (each replay asks for a new answer, and there
 * are few: one walk from the From domain, bounded identifier walks, one A
 * query), and its verdict must hold together: a pass has an aligned
 * identifier and applies nothing; only a fail applies a policy, and it
 * has a policy domain; the policy and organizational domains are the
 * From domain or its ancestors; the problem text is printable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "proto/dmarc.h"

#define MAX_LINES 64
#define MAX_DKIM 8
/* 1 + 8 for the From walk, 8 identifier walks of 8, one A: 74 */
#define MAX_QUERIES 80

struct line {
	char kind;
	char name[DNSQ_NAME_MAX];
	const char *txt;
	size_t txtlen;
};

struct zone {
	struct line l[MAX_LINES];
	size_t n;
};

static bool
at_or_below(const char *d, const char *a)
{
	size_t dn = strlen(d), an = strlen(a);

	if (dn == an)
		return strcasecmp(d, a) == 0;
	return dn > an && d[dn - an - 1] == '.' && strcasecmp(d + dn - an, a) == 0;
}

static void
answer(struct dnsq_cache *c, const struct zone *z)
{
	static uint8_t buf[MAX_LINES][1300];
	const uint8_t *rr[MAX_LINES];
	size_t rrlen[MAX_LINES], n = 0, i;
	enum dnsq_status st = DNSQ_NXDOMAIN;
	char name[DNSQ_NAME_MAX];

	memcpy(name, c->need_name, sizeof(name));
	for (i = 0; i < z->n; i++) {
		const struct line *l = &z->l[i];

		if (l->kind == 'X' && strcasecmp(l->name, name) == 0) {
			CHECK(dnsq_put(c, name, c->need_type, DNSQ_TEMP, NULL, NULL, 0) == 0);
			return;
		}
	}
	for (i = 0; i < z->n; i++) {
		const struct line *l = &z->l[i];
		int type = l->kind == 'T' ? DNSQ_TXT : DNSQ_A;

		if (l->kind != 'T' && l->kind != 'A')
			continue;
		if (at_or_below(l->name, name) && st == DNSQ_NXDOMAIN)
			st = DNSQ_NODATA;
		if (strcasecmp(l->name, name) != 0 || type != c->need_type)
			continue;
		st = DNSQ_OK;
		if (type == DNSQ_A) {
			memcpy(buf[n], "\xc0\x00\x02\x01", 4);
			rrlen[n] = 4;
		} else {
			size_t left = l->txtlen, o = 0;
			const char *t = l->txt;

			do {
				size_t k = left > 255 ? 255 : left;

				buf[n][o++] = (uint8_t)k;
				memcpy(buf[n] + o, t, k);
				o += k;
				t += k;
				left -= k;
			} while (left > 0);
			rrlen[n] = o;
		}
		rr[n] = buf[n];
		n++;
	}
	CHECK(dnsq_put(c, name, c->need_type, st, rr, rrlen, n) == 0);
}

/* "d" is "from" or one of its ancestors. */
static bool
ancestor_or_self(const char *d, const char *from)
{
	size_t fn = strlen(from);

	if (fn > 0 && from[fn - 1] == '.')
		fn--;
	if (strlen(d) > fn)
		return false;
	if (strlen(d) == fn)
		return strncasecmp(d, from, fn) == 0;
	return from[fn - strlen(d) - 1] == '.' &&
	    strncasecmp(from + fn - strlen(d), d, strlen(d)) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zone z;
	char from[DNSQ_NAME_MAX] = "", spf[DNSQ_NAME_MAX] = "";
	static char dkim[MAX_DKIM][DNSQ_NAME_MAX];
	const char *dk[MAX_DKIM];
	struct dmarc_input in = { 0 };
	struct dmarc_verdict v;
	struct dnsq_cache c;
	const char *p = (const char *)data, *end = p + size;
	size_t i, queries = 0;
	int rc;

	if (size > 8192)
		return 0;
	z.n = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end, *sp;
		size_t nl;
		char kind = *p;

		if (le - p >= 2 && p[1] == ' ') {
			const char *nm = p + 2;

			sp = memchr(nm, ' ', (size_t)(le - nm));
			nl = (size_t)((sp ? sp : le) - nm);
			if (nl < DNSQ_NAME_MAX) {
				char name[DNSQ_NAME_MAX];

				memcpy(name, nm, nl);
				name[nl] = '\0';
				if (kind == 'F')
					memcpy(from, name, nl + 1);
				else if (kind == 'S') {
					memcpy(spf, name, nl + 1);
					in.spf_pass = true;
				} else if (kind == 'D' && in.ndkim < MAX_DKIM) {
					memcpy(dkim[in.ndkim], name, nl + 1);
					dk[in.ndkim] = dkim[in.ndkim];
					in.ndkim++;
				} else if (kind == 'P')
					in.sample = (unsigned)atoi(name) % 100;
				else if ((kind == 'T' || kind == 'A' || kind == 'X') &&
				    z.n < MAX_LINES) {
					struct line *l = &z.l[z.n++];

					l->kind = kind;
					memcpy(l->name, name, nl + 1);
					l->txt = sp ? sp + 1 : le;
					l->txtlen = (size_t)(le - l->txt);
					if (l->txtlen > 1000)
						l->txtlen = 1000;
				}
			}
		} else if (kind == 'E')
			in.auth_temperror = true;
		p = eol ? eol + 1 : end;
	}
	in.from_domain = from;
	in.spf_domain = in.spf_pass ? spf : NULL;
	in.dkim_pass_domains = dk;

	dnsq_init(&c);
	while ((rc = dmarc_check(&in, &c, &v)) == DNSQ_NEED) {
		CHECK(c.need);
		/* the cache answers everything asked before: never asked twice */
		CHECK(++queries <= MAX_QUERIES);
		answer(&c, &z);
	}
	CHECK(rc == 0);
	dnsq_release(&c);

	CHECK(v.result >= DMARC_NONE && v.result <= DMARC_PERMERROR);
	CHECK(strcmp(dmarc_result_name(v.result), "permerror") != 0 ||
	    v.result == DMARC_PERMERROR);
	CHECK(v.policy != DMARC_P_UNSET);
	if (v.result != DMARC_FAIL)
		CHECK(v.policy == DMARC_P_NONE);
	if (v.result == DMARC_PASS)
		CHECK(v.spf_aligned || v.dkim_aligned);
	else
		CHECK(!v.spf_aligned && !v.dkim_aligned);
	if (v.spf_aligned)
		CHECK(in.spf_pass);
	if (v.result == DMARC_FAIL || v.result == DMARC_PASS) {
		CHECK(v.policy_domain[0] != '\0');
		CHECK(!v.rec.unusable);
	}
	if (v.result == DMARC_PERMERROR)
		CHECK(queries == 0);
	CHECK(memchr(v.policy_domain, '\0', sizeof(v.policy_domain)) != NULL);
	CHECK(memchr(v.org_domain, '\0', sizeof(v.org_domain)) != NULL);
	CHECK(memchr(v.problem, '\0', sizeof(v.problem)) != NULL);
	if (v.policy_domain[0] != '\0')
		CHECK(ancestor_or_self(v.policy_domain, from));
	if (v.org_domain[0] != '\0')
		CHECK(ancestor_or_self(v.org_domain, from));
	for (i = 0; v.problem[i] != '\0'; i++)
		CHECK(v.problem[i] >= 0x20 && v.problem[i] < 0x7f);
	return 0;
}
