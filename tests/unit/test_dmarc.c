/*
 * test_dmarc: DMARC evaluation over a filled dnsq cache, and the From
 * field's domains.
 *
 * Each evaluation case has a small zone: TXT and A records by name, and
 * names that answer SERVFAIL. The driver replays dmarc_check as the
 * daemon's dns_eval does, answering every query from the zone the way a
 * server would (records; NODATA for a name that exists, as an empty
 * non-terminal too; NXDOMAIN otherwise), and keeps the queries made so
 * the tree walk's path and its eight-query limit can be checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/dmarc.h"

#define U DMARC_P_UNSET
#define N DMARC_P_NONE
#define Q DMARC_P_QUARANTINE
#define R DMARC_P_REJECT

struct rr {
	const char *name;
	int type;            /* DNSQ_TXT or DNSQ_A */
	const char *txt;
};

#define TXT(n, t) { n, DNSQ_TXT, t }
#define A(n) { n, DNSQ_A, NULL }
#define END { NULL, 0, NULL }

#define MAXQ 64

struct queries {
	size_t n;
	char q[MAXQ][DNSQ_NAME_MAX + 8];
};

static bool
below_or_at(const char *d, const char *a)
{
	size_t dn = strlen(d), an = strlen(a);

	if (dn == an)
		return strcasecmp(d, a) == 0;
	return dn > an && d[dn - an - 1] == '.' && strcasecmp(d + dn - an, a) == 0;
}

/* Answers the query the cache asks for from the zone. */
static void
answer(struct dnsq_cache *c, const struct rr *zone, const char *const *temp)
{
	const uint8_t *rr[DNSQ_MAX_RR];
	size_t rrlen[DNSQ_MAX_RR], n = 0, i;
	static uint8_t buf[DNSQ_MAX_RR][1200];
	enum dnsq_status st = DNSQ_NXDOMAIN;
	char name[DNSQ_NAME_MAX];

	strcpy(name, c->need_name);
	for (i = 0; temp != NULL && temp[i] != NULL; i++)
		if (strcasecmp(temp[i], name) == 0) {
			assert_int_equal(dnsq_put(c, name, c->need_type, DNSQ_TEMP,
			    NULL, NULL, 0), 0);
			return;
		}
	for (i = 0; zone[i].name != NULL; i++) {
		if (below_or_at(zone[i].name, name) && st == DNSQ_NXDOMAIN)
			st = DNSQ_NODATA;
		if (strcasecmp(zone[i].name, name) != 0 || zone[i].type != c->need_type)
			continue;
		st = DNSQ_OK;
		if (zone[i].type == DNSQ_A) {
			memcpy(buf[n], "\x7f\x00\x00\x01", 4);
			rrlen[n] = 4;
		} else {
			/* character-strings of at most 255 octets */
			const char *t = zone[i].txt;
			size_t left = strlen(t), o = 0;

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
	assert_int_equal(dnsq_put(c, name, c->need_type, st, rr, rrlen, n), 0);
}

/* Replays dmarc_check until it has all its answers. */
static void
run(const struct rr *zone, const char *const *temp, const struct dmarc_input *in,
    struct dmarc_verdict *v, struct queries *qs)
{
	struct dnsq_cache c;
	int rc, rounds = 0;

	dnsq_init(&c);
	qs->n = 0;
	while ((rc = dmarc_check(in, &c, v)) == DNSQ_NEED) {
		assert_true(c.need);
		assert_true(qs->n < MAXQ);
		snprintf(qs->q[qs->n++], sizeof(qs->q[0]), "%s %s",
		    c.need_type == DNSQ_A ? "A" : "TXT", c.need_name);
		answer(&c, zone, temp);
		assert_true(++rounds < MAXQ);
	}
	assert_int_equal(rc, 0);
	dnsq_release(&c);
}

struct ecase {
	const char *what;
	const struct rr *zone;
	const char *const *temp;
	const char *from;
	bool spf_pass;
	const char *spf_domain;
	const char *dkim[4];
	bool auth_temp;
	unsigned sample;
	enum dmarc_result result;
	enum dmarc_policy policy;
	const char *policy_domain;
	const char *org_domain;
	bool spf_aligned, dkim_aligned;
	int nq;              /* queries made, or -1 not checked */
};

static const struct rr z_simple[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine"),
	TXT("_dmarc.example.com", "v=spf1 -all"),      /* not a DMARC record */
	A("example.com"), A("mail.example.com"), A("bounce.example.com"),
	END
};

static const struct rr z_strict[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject; aspf=s; adkim=s"),
	END
};

static const struct rr z_np[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=none; np=quarantine"),
	A("example.com"), A("exists.example.com"),
	TXT("_dmarc.child.example.com", "hello"),     /* exists by its child */
	A("www.empty.example.com"),                   /* empty non-terminal */
	END
};

static const struct rr z_np_same[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject; np=reject"),
	END
};

static const struct rr z_psd[] = {
	TXT("_dmarc.bank.example", "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y"),
	TXT("_dmarc.giant.bank.example", "v=DMARC1; p=none"),
	TXT("_dmarc.example", "v=DMARC1; p=reject"),   /* above the PSD: not reached */
	A("mega.bank.example"), A("mail.giant.bank.example"),
	END
};

static const struct rr z_psd_n[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject"),
	TXT("_dmarc.dept.example.com", "v=DMARC1; p=quarantine; psd=n"),
	A("a.dept.example.com"),
	END
};

static const struct rr z_psd_y_start[] = {
	TXT("_dmarc.example", "v=DMARC1; p=reject; psd=y"),
	TXT("_dmarc.com", "v=DMARC1; p=none"),
	END
};

static const struct rr z_layers[] = {
	TXT("_dmarc.mail.example.com", "v=DMARC1; p=none"),
	TXT("_dmarc.example.com", "v=DMARC1; p=reject"),
	A("a.mail.example.com"),
	END
};

static const struct rr z_deep[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine"),
	/* skipped by the jump to seven labels, never seen */
	TXT("_dmarc.f.g.h.i.j.mail.example.com", "v=DMARC1; p=none; psd=n"),
	A("a.b.c.d.e.f.g.h.i.j.mail.example.com"),
	END
};

static const struct rr z_several[] = {
	TXT("_dmarc.mail.example.com", "v=DMARC1; p=none"),
	TXT("_dmarc.mail.example.com", "v=DMARC1; p=quarantine"),
	TXT("_dmarc.example.com", "v=DMARC1; p=reject"),
	TXT("_dmarc.other.example", "v=DMARC1; p=none"),
	TXT("_dmarc.other.example", "v=DMARC1; p=reject"),
	A("mail.example.com"),
	END
};

static const struct rr z_nothing[] = {
	A("example.com"),
	END
};

static const struct rr z_t[] = {
	TXT("_dmarc.r.example", "v=DMARC1; p=reject; t=y"),
	TXT("_dmarc.q.example", "v=DMARC1; p=quarantine; t=y"),
	TXT("_dmarc.pct.example", "v=DMARC1; p=reject; pct=50"),
	TXT("_dmarc.pct0.example", "v=DMARC1; p=quarantine; pct=0"),
	TXT("_dmarc.both.example", "v=DMARC1; p=reject; pct=0; t=y"),
	TXT("_dmarc.bad.example", "v=DMARC1; p=bogus"),
	TXT("_dmarc.badrua.example", "v=DMARC1; p=bogus; rua=mailto:d@badrua.example"),
	TXT("_dmarc.nop.example", "v=DMARC1; rua=mailto:d@nop.example"),
	TXT("_dmarc.sponly.example", "v=DMARC1; sp=reject"),
	A("sub.sponly.example"),
	END
};

static const struct rr z_multi_dkim[] = {
	TXT("_dmarc.example.com", "v=DMARC1; p=reject"),
	TXT("_dmarc.news.example.com", "v=DMARC1; p=reject; psd=n"),
	END
};

static const char *const t_example[] = { "_dmarc.example.com", NULL };
static const char *const t_x[] = { "_dmarc.x.r.example", NULL };
static const char *const t_a[] = { "gone.example.com", NULL };

static const struct ecase ecases[] = {
	{ "record at the From domain, SPF the same domain",
	  z_simple, NULL, "example.com", true, "example.com", { NULL }, false, 0,
	  DMARC_PASS, N, "example.com", "", true, false, 1 },
	{ "nothing passes: p",
	  z_simple, NULL, "example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "", false, false, 1 },
	{ "SPF fails: its domain does not count",
	  z_simple, NULL, "example.com", false, "example.com", { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "", false, false, 1 },
	{ "case and a final dot do not matter",
	  z_simple, NULL, "Example.COM.", true, "EXAMPLE.com", { NULL }, false, 0,
	  DMARC_PASS, N, "example.com", "", true, false, 1 },
	{ "relaxed SPF: a subdomain of the same organization",
	  z_simple, NULL, "example.com", true, "bounce.example.com", { NULL }, false, 0,
	  DMARC_PASS, N, "example.com", "example.com", true, false, 3 },
	{ "relaxed DKIM: the parent signs for a subdomain",
	  z_simple, NULL, "mail.example.com", false, NULL, { "example.com" }, false, 0,
	  DMARC_PASS, N, "example.com", "example.com", false, true, 3 },
	{ "relaxed: another organization does not align, and costs no walk",
	  z_simple, NULL, "example.com", true, "example.net", { "example.org" }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 2 },
	{ "relaxed: a longer name ending in the same text is no subdomain",
	  z_simple, NULL, "example.com", true, "badexample.com", { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 2 },
	{ "strict: the subdomain does not align",
	  z_strict, NULL, "example.com", true, "bounce.example.com",
	  { "mail.example.com" }, false, 0,
	  DMARC_FAIL, R, "example.com", "", false, false, 1 },
	{ "strict: the same name aligns",
	  z_strict, NULL, "example.com", false, NULL, { "Example.com" }, false, 0,
	  DMARC_PASS, N, "example.com", "", false, true, 1 },
	{ "a subdomain takes sp= from its organizational domain",
	  z_simple, NULL, "mail.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, Q, "example.com", "example.com", false, false, 3 },
	{ "np=: a From domain that does not exist",
	  z_np, NULL, "gone.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, Q, "example.com", "example.com", false, false, 4 },
	{ "np=: one that exists (A) takes sp=",
	  z_np, NULL, "exists.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "example.com", "example.com", false, false, 4 },
	{ "np=: one that exists by a name below it needs no A query",
	  z_np, NULL, "child.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "example.com", "example.com", false, false, 3 },
	{ "np=: an empty non-terminal exists",
	  z_np, NULL, "empty.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "example.com", "example.com", false, false, 4 },
	{ "np=: the A query fails",
	  z_np, t_a, "gone.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_TEMPERROR, N, "example.com", "example.com", false, false, 4 },
	{ "np=: not asked when it changes nothing",
	  z_np_same, NULL, "gone.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 3 },
	{ "np= is not for the policy domain itself",
	  z_np, NULL, "example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "", false, false, 1 },
	{ "psd=y: the organizational domain is one label below",
	  z_psd, NULL, "mail.giant.bank.example", true, "giant.bank.example", { NULL },
	  false, 0, DMARC_PASS, N, "giant.bank.example", "giant.bank.example", true,
	  false, 3 },
	{ "psd=y: another organization under the same PSD does not align",
	  z_psd, NULL, "giant.bank.example", false, NULL, { "mail.mega.bank.example" },
	  false, 0, DMARC_FAIL, N, "giant.bank.example", "giant.bank.example", false,
	  false, 2 },
	{ "psd=y: no organizational record, the PSD's sp=",
	  z_psd, NULL, "mega.bank.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, Q, "bank.example", "mega.bank.example", false, false, 3 },
	{ "psd=y: the PSD's np= for a domain that does not exist",
	  z_psd, NULL, "nosuch.bank.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "bank.example", "nosuch.bank.example", false, false, 3 },
	{ "psd=y at the From domain itself: it is its own organization",
	  z_psd_y_start, NULL, "example", true, "example", { NULL }, false, 0,
	  DMARC_PASS, N, "example", "", true, false, 1 },
	{ "psd=n: the organizational domain stops there",
	  z_psd_n, NULL, "a.dept.example.com", false, NULL, { "example.com" }, false, 0,
	  DMARC_FAIL, Q, "dept.example.com", "dept.example.com", false, false, 2 },
	{ "psd=n: a sibling below it aligns",
	  z_psd_n, NULL, "a.dept.example.com", false, NULL, { "b.dept.example.com" },
	  false, 0, DMARC_PASS, N, "dept.example.com", "dept.example.com", false, true, 3 },
	{ "psd=n: the organizational domain of an identifier above it",
	  z_psd_n, NULL, "example.com", true, "dept.example.com", { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 3 },
	{ "records at two levels: the shortest name is the organization",
	  z_layers, NULL, "a.mail.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 4 },
	{ "records at two levels: its own record wins at the From domain",
	  z_layers, NULL, "mail.example.com", true, "example.com", { NULL }, false, 0,
	  DMARC_PASS, N, "mail.example.com", "example.com", true, false, 3 },
	{ "more than eight labels: eight queries, the jump to seven",
	  z_deep, NULL, "a.b.c.d.e.f.g.h.i.j.mail.example.com", false, NULL, { NULL },
	  false, 0, DMARC_FAIL, Q, "example.com", "example.com", false, false, 8 },
	{ "several DMARC records at the From domain: walk up",
	  z_several, NULL, "mail.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 3 },
	{ "several DMARC records and nothing else: none",
	  z_several, NULL, "other.example", true, "other.example", { NULL }, false, 0,
	  DMARC_NONE, N, "", "other.example", false, false, 2 },
	{ "no record anywhere: none, no alignment work",
	  z_nothing, NULL, "example.com", true, "example.com", { "example.com" }, false, 0,
	  DMARC_NONE, N, "", "example.com", false, false, 2 },
	{ "no record and an SPF/DKIM temperror: still none",
	  z_nothing, NULL, "example.com", false, NULL, { NULL }, true, 0,
	  DMARC_NONE, N, "", "example.com", false, false, 2 },
	{ "the From domain's lookup fails: temperror",
	  z_simple, t_example, "example.com", true, "example.com", { NULL }, false, 0,
	  DMARC_TEMPERROR, N, "", "", false, false, 1 },
	{ "a lookup in the walk fails: temperror",
	  z_simple, t_example, "mail.example.com", false, NULL, { NULL }, false, 0,
	  DMARC_TEMPERROR, N, "", "", false, false, 2 },
	{ "a failed walk for one identifier, another aligns: pass",
	  z_t, t_x, "r.example", true, "x.r.example", { "r.example" }, false, 0,
	  DMARC_PASS, N, "r.example", "r.example", false, true, 3 },
	{ "a failed walk and nothing aligned: temperror",
	  z_t, t_x, "r.example", true, "x.r.example", { NULL }, false, 0,
	  DMARC_TEMPERROR, N, "r.example", "r.example", false, false, 3 },
	{ "SPF/DKIM temperror, nothing aligned: temperror",
	  z_simple, NULL, "example.com", false, NULL, { NULL }, true, 0,
	  DMARC_TEMPERROR, N, "example.com", "", false, false, 1 },
	{ "SPF/DKIM temperror, but something aligned: pass",
	  z_simple, NULL, "example.com", true, "example.com", { NULL }, true, 0,
	  DMARC_PASS, N, "example.com", "", true, false, 1 },
	{ "t=y: reject becomes quarantine",
	  z_t, NULL, "r.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, Q, "r.example", "", false, false, 1 },
	{ "t=y: quarantine becomes none",
	  z_t, NULL, "q.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "q.example", "", false, false, 1 },
	{ "pct=50: sampled in",
	  z_t, NULL, "pct.example", false, NULL, { NULL }, false, 49,
	  DMARC_FAIL, R, "pct.example", "", false, false, 1 },
	{ "pct=50: sampled out, one step lower",
	  z_t, NULL, "pct.example", false, NULL, { NULL }, false, 50,
	  DMARC_FAIL, Q, "pct.example", "", false, false, 1 },
	{ "pct=0: quarantine becomes none",
	  z_t, NULL, "pct0.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "pct0.example", "", false, false, 1 },
	{ "pct=0 and t=y: one step only",
	  z_t, NULL, "both.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, Q, "both.example", "", false, false, 1 },
	{ "invalid p= and no rua=: the record is not applied",
	  z_t, NULL, "bad.example", false, NULL, { NULL }, false, 0,
	  DMARC_NONE, N, "bad.example", "", false, false, 1 },
	{ "invalid p= with a valid rua=: p=none",
	  z_t, NULL, "badrua.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "badrua.example", "", false, false, 1 },
	{ "no p=: p=none",
	  z_t, NULL, "nop.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, N, "nop.example", "", false, false, 1 },
	{ "no p=, sp=reject: a subdomain gets reject",
	  z_t, NULL, "sub.sponly.example", false, NULL, { NULL }, false, 0,
	  DMARC_FAIL, R, "sponly.example", "sponly.example", false, false, 3 },
	{ "several DKIM domains: the one that aligns counts",
	  z_multi_dkim, NULL, "example.com", false, NULL,
	  { "example.net", "news.example.com", "example.com" }, false, 0,
	  DMARC_PASS, N, "example.com", "example.com", false, true, 3 },
	{ "several DKIM domains, none aligned",
	  z_multi_dkim, NULL, "example.com", true, "news.example.com",
	  { "example.net", "news.example.com", "bad domain" }, false, 0,
	  DMARC_FAIL, R, "example.com", "example.com", false, false, 3 },
	{ "not a domain name: permerror",
	  z_simple, NULL, "exa mple.com", true, "exa mple.com", { NULL }, false, 0,
	  DMARC_PERMERROR, N, "", "", false, false, 0 },
	{ "a domain-literal: permerror",
	  z_simple, NULL, "[192.0.2.1]", false, NULL, { NULL }, false, 0,
	  DMARC_PERMERROR, N, "", "", false, false, 0 },
	{ "an empty label: permerror",
	  z_simple, NULL, "a..example.com", false, NULL, { NULL }, false, 0,
	  DMARC_PERMERROR, N, "", "", false, false, 0 },
	{ "empty: permerror",
	  z_simple, NULL, "", false, NULL, { NULL }, false, 0,
	  DMARC_PERMERROR, N, "", "", false, false, 0 },
};

static void
test_eval_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		const struct ecase *e = &ecases[i];
		struct dmarc_input in = { 0 };
		struct dmarc_verdict v;
		struct queries qs;

		in.from_domain = e->from;
		in.spf_pass = e->spf_pass;
		in.spf_domain = e->spf_domain;
		for (k = 0; k < 4 && e->dkim[k] != NULL; k++)
			;
		in.dkim_pass_domains = e->dkim;
		in.ndkim = k;
		in.auth_temperror = e->auth_temp;
		in.sample = e->sample;
		run(e->zone, e->temp, &in, &v, &qs);
		if (v.result != e->result || v.policy != e->policy ||
		    strcmp(v.policy_domain, e->policy_domain) != 0 ||
		    strcmp(v.org_domain, e->org_domain) != 0 ||
		    v.spf_aligned != e->spf_aligned || v.dkim_aligned != e->dkim_aligned ||
		    (e->nq >= 0 && (size_t)e->nq != qs.n)) {
			for (k = 0; k < qs.n; k++)
				fprintf(stderr, "  query %s\n", qs.q[k]);
			fail_msg("%s: got %s/%s at \"%s\" org \"%s\" spf %d dkim %d, "
			    "%zu queries (\"%s\")", e->what, dmarc_result_name(v.result),
			    dmarc_policy_name(v.policy), v.policy_domain, v.org_domain,
			    v.spf_aligned, v.dkim_aligned, qs.n, v.problem);
		}
	}
}

/* RFC 9989 §4.10's own example: the eight queries of a deep walk. */
static void
test_walk_path(void **state)
{
	static const char *const want[] = {
		"TXT _dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
		"TXT _dmarc.g.h.i.j.mail.example.com",
		"TXT _dmarc.h.i.j.mail.example.com",
		"TXT _dmarc.i.j.mail.example.com",
		"TXT _dmarc.j.mail.example.com",
		"TXT _dmarc.mail.example.com",
		"TXT _dmarc.example.com",
		"TXT _dmarc.com",
	};
	static const struct rr none[] = { END };
	struct dmarc_input in = { 0 };
	struct dmarc_verdict v;
	struct queries qs;
	size_t i;

	(void)state;
	in.from_domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com";
	run(none, NULL, &in, &v, &qs);
	assert_int_equal(v.result, DMARC_NONE);
	assert_int_equal(qs.n, 8);
	for (i = 0; i < 8; i++)
		assert_string_equal(qs.q[i], want[i]);

	/* exactly eight labels: the jump to seven is the same as one step */
	in.from_domain = "b.c.d.e.f.g.example.com";
	run(none, NULL, &in, &v, &qs);
	assert_int_equal(qs.n, 8);
	assert_string_equal(qs.q[1], "TXT _dmarc.c.d.e.f.g.example.com");
	assert_string_equal(qs.q[7], "TXT _dmarc.com");

	/* a From domain too long for _dmarc. in front: no query for it */
	char longd[DMARC_DOMAIN_MAX];
	memset(longd, 'a', 63);
	memset(longd + 64, 'b', 63);
	memset(longd + 128, 'c', 63);
	memset(longd + 192, 'd', 51);
	memcpy(longd + 243, ".com", 5);
	longd[63] = longd[127] = longd[191] = '.';
	assert_int_equal(strlen(longd), 247);
	in.from_domain = longd;
	run(none, NULL, &in, &v, &qs);
	assert_int_equal(v.result, DMARC_NONE);
	assert_true(qs.n == 4);
	assert_true(strncmp(qs.q[0], "TXT _dmarc.bbb", 14) == 0);
}

/* Identifier walks are bounded: many signers inside the organization. */
static void
test_many_dkim(void **state)
{
	static const struct rr zone[] = {
		TXT("_dmarc.example.com", "v=DMARC1; p=reject"),
		TXT("_dmarc.d1.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d2.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d3.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d4.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d5.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d6.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d7.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d8.example.com", "v=DMARC1; psd=n"),
		TXT("_dmarc.d9.example.com", "v=DMARC1; psd=n"),
		END
	};
	static const char *const d[] = {
		"d1.example.com", "d2.example.com", "d3.example.com", "d4.example.com",
		"d5.example.com", "d6.example.com", "d7.example.com", "d8.example.com",
		"d9.example.com", "example.com",
	};
	struct dmarc_input in = { 0 };
	struct dmarc_verdict v;
	struct queries qs;

	(void)state;
	in.from_domain = "example.com";
	in.dkim_pass_domains = d;
	in.ndkim = 9;
	run(zone, NULL, &in, &v, &qs);
	assert_int_equal(v.result, DMARC_FAIL);
	assert_int_equal(qs.n, 2 + 8);
	assert_non_null(strstr(v.problem, "DKIM domains"));
	/* the exact match needs no walk, even after the limit */
	in.ndkim = 10;
	run(zone, NULL, &in, &v, &qs);
	assert_int_equal(v.result, DMARC_PASS);
	assert_true(v.dkim_aligned);
}

/* A long TXT record in several character-strings is one record. */
static void
test_split_txt(void **state)
{
	static char rec[700];
	static struct rr zone[] = {
		TXT("_dmarc.example.com", rec),
		END
	};
	struct dmarc_input in = { 0 };
	struct dmarc_verdict v;
	struct queries qs;
	size_t o;

	(void)state;
	o = (size_t)snprintf(rec, sizeof(rec), "v=DMARC1; rua=");
	while (o < 600)
		o += (size_t)snprintf(rec + o, sizeof(rec) - o, "mailto:x@example.com,");
	snprintf(rec + o, sizeof(rec) - o, "mailto:x@example.com; p=quarantine");
	in.from_domain = "example.com";
	run(zone, NULL, &in, &v, &qs);
	assert_int_equal(v.result, DMARC_FAIL);
	assert_int_equal(v.policy, DMARC_P_QUARANTINE);
	assert_true(v.rec.rua_cut);
	assert_true(v.rec.rua_valid);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(dmarc_result_name(DMARC_NONE), "none");
	assert_string_equal(dmarc_result_name(DMARC_PASS), "pass");
	assert_string_equal(dmarc_result_name(DMARC_FAIL), "fail");
	assert_string_equal(dmarc_result_name(DMARC_TEMPERROR), "temperror");
	assert_string_equal(dmarc_result_name(DMARC_PERMERROR), "permerror");
}

/* ---- From ---- */

struct fcase {
	const char *value;
	int rc;
	const char *d[4];    /* the domains expected, in order */
};

static const struct fcase fcases[] = {
	{ "user@example.com", 0, { "example.com" } },
	{ "John Doe <john@Example.COM>", 0, { "example.com" } },
	{ "\"Doe, John\" <john@example.com>", 0, { "example.com" } },
	{ "john@example.com (John Doe)", 0, { "example.com" } },
	{ "(c) john (d) @ (e) example . com (f)", 0, { "example.com" } },
	{ "(nested (comment) \\) here) a@example.com", 0, { "example.com" } },
	{ "\"quoted local\"@example.com", 0, { "example.com" } },
	{ "\"a\\\"b@evil.example\"@example.com", 0, { "example.com" } },
	{ "\"a@evil.example\" <b@example.com>", 0, { "example.com" } },
	{ "first.last@sub.example.com", 0, { "sub.example.com" } },
	{ "J. Q. Public <jqp@example.com>", 0, { "example.com" } },
	{ "=?utf-8?q?J=C3=B6rg?= <j@example.com>", 0, { "example.com" } },
	{ "J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.example>", 0, { "b\xc3\xbc" "cher.example" } },
	{ "a@example.com, b@example.org, c@EXAMPLE.com", 0, { "example.com", "example.org" } },
	{ "a@example.com, b@example.com", 0, { "example.com" } },
	{ "Friends: a@x.example, B <b@y.example>;", 0, { "x.example", "y.example" } },
	{ "undisclosed-recipients:;", 0, { NULL } },
	{ "G: a@x.example;, c@z.example", 0, { "x.example", "z.example" } },
	{ "G:,a@x.example,,;", 0, { "x.example" } },
	{ "<@route.example,@other.example:user@example.com>", 0, { "example.com" } },
	{ "user@[192.0.2.1]", 0, { "[192.0.2.1]" } },
	{ "John\r\n Doe\r\n\t<j@example.com>\r\n", 0, { "example.com" } },
	{ ", a@example.com,,", 0, { "example.com" } },
	{ "<a@example.com>", 0, { "example.com" } },
	/* garbage */
	{ "", -1, { NULL } },
	{ "   ", -1, { NULL } },
	{ "(comment only)", -1, { NULL } },
	{ ",", -1, { NULL } },
	{ "john", -1, { NULL } },
	{ "john@", -1, { NULL } },
	{ "@example.com", -1, { NULL } },
	{ "<john@example.com", -1, { NULL } },
	{ "john@example.com>", -1, { NULL } },
	{ "John <john@example.com> extra", -1, { NULL } },
	{ "John Smith john@example.com", -1, { NULL } },
	{ "Doe, John <j@example.com>", -1, { NULL } },
	{ "a@b@c", -1, { NULL } },
	{ "a@example..com", -1, { NULL } },
	{ "a@example.com.", -1, { NULL } },
	{ "a.@example.com", -1, { NULL } },
	{ ".a@example.com", -1, { NULL } },
	{ "a..b@example.com", -1, { NULL } },
	{ "(unterminated a@example.com", -1, { NULL } },
	{ "\"unterminated@example.com", -1, { NULL } },
	{ "a@example.com (x", -1, { NULL } },
	{ "john@exa mple.com", -1, { NULL } },
	{ "G: a@b.example", -1, { NULL } },
	{ "G: H: a@b.example;;", -1, { NULL } },
	{ "<>", -1, { NULL } },
	{ "<@route.example>", -1, { NULL } },
	{ "<@:a@example.com>", -1, { NULL } },
	{ "a@example.com; c@d.example", -1, { NULL } },
	{ "a@example.com\r\nb@example.org", -1, { NULL } },
	{ "a@example.com\n", -1, { NULL } },
	{ "a@exam\rple.com", -1, { NULL } },
	{ "a@[192.0.2.1", -1, { NULL } },
	{ "a@[1[2]", -1, { NULL } },
	{ "a\\b@example.com", -1, { NULL } },
	{ "a@example.com)", -1, { NULL } },
	{ "John <a@example.com>, Doe", -1, { NULL } },
};

static void
test_from_table(void **state)
{
	char out[4][DMARC_DOMAIN_MAX];
	size_t i, k, n;

	(void)state;
	for (i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
		const struct fcase *f = &fcases[i];
		int rc = dmarc_from_domains(f->value, strlen(f->value), out, 4, &n);

		if (rc != f->rc)
			fail_msg("\"%s\": rc %d, expected %d", f->value, rc, f->rc);
		if (rc != 0) {
			assert_int_equal(n, 0);
			continue;
		}
		for (k = 0; k < 4 && f->d[k] != NULL; k++)
			;
		if (n != k)
			fail_msg("\"%s\": %zu domains, expected %zu", f->value, n, k);
		for (k = 0; k < n; k++)
			if (strcmp(out[k], f->d[k]) != 0)
				fail_msg("\"%s\": domain %zu is \"%s\", expected \"%s\"",
				    f->value, k, out[k], f->d[k]);
	}
}

static void
test_from_limits(void **state)
{
	char out[2][DMARC_DOMAIN_MAX], v[700];
	const char *s;
	size_t n, o;

	(void)state;
	/* more distinct domains than max */
	s = "a@x.example, b@y.example, c@z.example";
	assert_int_equal(dmarc_from_domains(s, strlen(s), out, 2, &n), -1);
	s = "a@x.example, b@y.example, c@X.example";
	assert_int_equal(dmarc_from_domains(s, strlen(s), out, 2, &n), 0);
	assert_int_equal(n, 2);

	/* a domain of 255 octets fits, 256 does not */
	o = (size_t)snprintf(v, sizeof(v), "a@");
	memset(v + o, 'x', 255);
	v[o + 255] = '\0';
	for (size_t i = o + 60; i < o + 255; i += 61)
		v[i] = '.';
	assert_int_equal(dmarc_from_domains(v, o + 255, out, 2, &n), 0);
	assert_int_equal(strlen(out[0]), 255);
	memset(v + o, 'x', 256);
	assert_int_equal(dmarc_from_domains(v, o + 256, out, 2, &n), -1);

	/* the length counts: a NUL inside is refused, text after len unread */
	assert_int_equal(dmarc_from_domains("a@b.example\0c", 13, out, 2, &n), -1);
	assert_int_equal(dmarc_from_domains("a@b.example, junk", 11, out, 2, &n), 0);
	assert_string_equal(out[0], "b.example");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_table),
		cmocka_unit_test(test_walk_path),
		cmocka_unit_test(test_many_dkim),
		cmocka_unit_test(test_split_txt),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_from_table),
		cmocka_unit_test(test_from_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
