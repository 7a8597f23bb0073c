/*
 * test_spf: the SPF record grammar, the macro language (the examples of
 * RFC 7208 §7.4) and check_host() over a filled dnsq cache: every
 * mechanism, include and redirect, the limits (10 DNS terms, 10 MX, 10
 * PTR, 2 void lookups), exp=, IPv6 and CIDR, DNS errors; then the
 * Received-SPF field. Names a case does not list are answered NXDOMAIN
 * when the check asks for them, as a zone would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dnsq.h"
#include "proto/spf.h"
#include "proto/spf_record.h"

/* Record grammar */

struct term_case {
	const char *term;          /* after "v=spf1 " */
	int ok;
	enum spf_kind kind;
	char qual;
	const char *spec;          /* NULL: none */
	int cidr4, cidr6;
};

static const struct term_case term_cases[] = {
	{ "all", 1, SPF_T_ALL, '+', NULL, -1, -1 },
	{ "-all", 1, SPF_T_ALL, '-', NULL, -1, -1 },
	{ "~ALL", 1, SPF_T_ALL, '~', NULL, -1, -1 },
	{ "?all", 1, SPF_T_ALL, '?', NULL, -1, -1 },
	{ "all.", 0, 0, 0, NULL, 0, 0 },
	{ "all:foo", 0, 0, 0, NULL, 0, 0 },
	{ "all/8", 0, 0, 0, NULL, 0, 0 },
	{ "include:_spf.example.com", 1, SPF_T_INCLUDE, '+', "_spf.example.com", -1, -1 },
	{ "include", 0, 0, 0, NULL, 0, 0 },
	{ "include:", 0, 0, 0, NULL, 0, 0 },
	{ "include:ip5.example.com/24", 0, 0, 0, NULL, 0, 0 },
	{ "a", 1, SPF_T_A, '+', NULL, -1, -1 },
	{ "a/24", 1, SPF_T_A, '+', NULL, 24, -1 },
	{ "a//64", 1, SPF_T_A, '+', NULL, -1, 64 },
	{ "a/24//64", 1, SPF_T_A, '+', NULL, 24, 64 },
	{ "a:mail.example.com/0//0", 1, SPF_T_A, '+', "mail.example.com", 0, 0 },
	{ "a:foo:bar/baz.example.com", 1, SPF_T_A, '+', "foo:bar/baz.example.com", -1, -1 },
	{ "a:foo.example.xn--zckzah", 1, SPF_T_A, '+', "foo.example.xn--zckzah", -1, -1 },
	{ "a:%{H}.bar", 1, SPF_T_A, '+', "%{H}.bar", -1, -1 },
	{ "a:%{d}", 1, SPF_T_A, '+', "%{d}", -1, -1 },
	{ "a:mail.example.com.", 1, SPF_T_A, '+', "mail.example.com.", -1, -1 },
	{ "a/24/64", 0, 0, 0, NULL, 0, 0 },
	{ "a/33", 0, 0, 0, NULL, 0, 0 },
	{ "a//129", 0, 0, 0, NULL, 0, 0 },
	{ "a/032", 0, 0, 0, NULL, 0, 0 },
	{ "a:", 0, 0, 0, NULL, 0, 0 },
	{ "a:foo-bar", 0, 0, 0, NULL, 0, 0 },            /* no domain-end */
	{ "a:museum", 0, 0, 0, NULL, 0, 0 },
	{ "a:museum.", 0, 0, 0, NULL, 0, 0 },
	{ "a:abc.123", 0, 0, 0, NULL, 0, 0 },            /* numeric toplabel */
	{ "a:111.222.33.44", 0, 0, 0, NULL, 0, 0 },
	{ "a:example.-com", 0, 0, 0, NULL, 0, 0 },
	{ "a:example.com:8080", 0, 0, 0, NULL, 0, 0 },
	{ "a:%{d}.", 0, 0, 0, NULL, 0, 0 },
	{ "ax", 0, 0, 0, NULL, 0, 0 },
	{ "mx", 1, SPF_T_MX, '+', NULL, -1, -1 },
	{ "-mx:%{d}/27", 1, SPF_T_MX, '-', "%{d}", 27, -1 },
	{ "mx//33", 1, SPF_T_MX, '+', NULL, -1, 33 },
	{ "mx:", 0, 0, 0, NULL, 0, 0 },
	{ "ptr", 1, SPF_T_PTR, '+', NULL, -1, -1 },
	{ "ptr:example.com", 1, SPF_T_PTR, '+', "example.com", -1, -1 },
	{ "ptr/0", 0, 0, 0, NULL, 0, 0 },
	{ "ptr:", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:192.0.2.0/24", 1, SPF_T_IP4, '+', NULL, 24, -1 },
	{ "ip4:1.2.3.4", 1, SPF_T_IP4, '+', NULL, -1, -1 },
	{ "ip4:1.2.3.4/32", 1, SPF_T_IP4, '+', NULL, 32, -1 },
	{ "ip4:1.2.3.4/33", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.3.4/032", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.3.4//32", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.3", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.03.4", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.3.256", 0, 0, 0, NULL, 0, 0 },
	{ "ip4:1.2.3.4:8080", 0, 0, 0, NULL, 0, 0 },
	{ "ip4", 0, 0, 0, NULL, 0, 0 },
	{ "ip6:2001:db8::/32", 1, SPF_T_IP6, '+', NULL, -1, 32 },
	{ "ip6:::1.1.1.1/0", 1, SPF_T_IP6, '+', NULL, -1, 0 },
	{ "ip6:Cafe:Babe:8000::/33", 1, SPF_T_IP6, '+', NULL, -1, 33 },
	{ "ip6:::1.1.1.1/129", 0, 0, 0, NULL, 0, 0 },
	{ "ip6:::1.1.1.1//33", 0, 0, 0, NULL, 0, 0 },
	{ "ip6::CAFE::BABE", 0, 0, 0, NULL, 0, 0 },
	{ "ip6", 0, 0, 0, NULL, 0, 0 },
	{ "exists:%{i}.%{s1}.100/86400.rate.%{d}", 1, SPF_T_EXISTS, '+',
	  "%{i}.%{s1}.100/86400.rate.%{d}", -1, -1 },
	{ "exists", 0, 0, 0, NULL, 0, 0 },
	{ "exists:", 0, 0, 0, NULL, 0, 0 },
	{ "exists:mail.example.com/24", 0, 0, 0, NULL, 0, 0 },
	{ "redirect=_spf.example.com", 1, SPF_T_REDIRECT, '+', "_spf.example.com", -1, -1 },
	{ "REDIRECT=%{d}.d.spf.example.com.", 1, SPF_T_REDIRECT, '+',
	  "%{d}.d.spf.example.com.", -1, -1 },
	{ "redirect=", 0, 0, 0, NULL, 0, 0 },
	{ "redirect=-all", 0, 0, 0, NULL, 0, 0 },
	{ "redirect:t2.example.com", 0, 0, 0, NULL, 0, 0 },
	{ "+redirect=t2.example.com", 0, 0, 0, NULL, 0, 0 },
	{ "exp=explain.%{d}", 1, SPF_T_EXP, '+', "explain.%{d}", -1, -1 },
	{ "exp=", 0, 0, 0, NULL, 0, 0 },
	{ "exp=%{r}.example.com", 0, 0, 0, NULL, 0, 0 },  /* r only in the text */
	{ "moo.cow-far_out=man:dog/cat", 1, SPF_T_UNKNOWN_MOD, '+',
	  "man:dog/cat", -1, -1 },
	{ "default=pass", 1, SPF_T_UNKNOWN_MOD, '+', "pass", -1, -1 },
	{ "empty=", 1, SPF_T_UNKNOWN_MOD, '+', "", -1, -1 },
	{ "moo.cow/far_out=man:dog/cat", 0, 0, 0, NULL, 0, 0 },
	{ "moo.cow:far_out=man:dog/cat", 0, 0, 0, NULL, 0, 0 },
	{ "1up=foo", 0, 0, 0, NULL, 0, 0 },
	{ "=all", 0, 0, 0, NULL, 0, 0 },
	{ "foo=%abc", 0, 0, 0, NULL, 0, 0 },
	{ "moo", 0, 0, 0, NULL, 0, 0 },
	{ "a:foo.example.com\x01", 0, 0, 0, NULL, 0, 0 },
	{ "\x80" "a:example.net", 0, 0, 0, NULL, 0, 0 },
};

static void
test_terms(void **state)
{
	char rec[256], why[128];
	struct spf_term t;
	size_t i, pos;

	(void)state;
	for (i = 0; i < sizeof(term_cases) / sizeof(term_cases[0]); i++) {
		const struct term_case *c = &term_cases[i];
		int r;

		snprintf(rec, sizeof(rec), "v=spf1 %s", c->term);
		pos = 0;
		r = spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why));
		if (r != (c->ok ? 1 : -1))
			fail_msg("%s: got %d", c->term, r);
		if (!c->ok) {
			assert_true(why[0] != '\0');
			continue;
		}
		if (t.kind != c->kind || t.qual != c->qual || t.cidr4 != c->cidr4 ||
		    t.cidr6 != c->cidr6)
			fail_msg("%s: kind %d qual %c cidr %d %d", c->term, t.kind, t.qual,
			    t.cidr4, t.cidr6);
		if (c->spec == NULL)
			assert_null(t.spec);
		else if (t.spec == NULL || t.speclen != strlen(c->spec) ||
		    memcmp(t.spec, c->spec, t.speclen) != 0)
			fail_msg("%s: spec", c->term);
		assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 0);
	}
}

static void
test_record_select(void **state)
{
	(void)state;
	assert_true(spf_record_is_spf("v=spf1", 6));
	assert_true(spf_record_is_spf("v=spf1 -all", 11));
	assert_true(spf_record_is_spf("V=SpF1 ~all", 11));
	assert_false(spf_record_is_spf("v=spf10", 7));
	assert_false(spf_record_is_spf("v=spf1mx", 8));
	assert_false(spf_record_is_spf("v=spf", 5));
	assert_false(spf_record_is_spf(" v=spf1", 7));
	assert_false(spf_record_is_spf("v=spf1\t-all", 11));
}

static void
test_record_walk(void **state)
{
	const char *rec = "v=spf1  a  mx:example.org   -all exp=why.%{d} ";
	struct spf_term t;
	size_t pos = 0;
	char why[64];

	(void)state;
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 1);
	assert_int_equal(t.kind, SPF_T_A);
	assert_int_equal(t.textlen, 1);
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 1);
	assert_int_equal(t.kind, SPF_T_MX);
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 1);
	assert_int_equal(t.kind, SPF_T_ALL);
	assert_int_equal(t.qual, '-');
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 1);
	assert_int_equal(t.kind, SPF_T_EXP);
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), 0);
	/* a control character is no separator */
	rec = "v=spf1 a:ctrl.example.com\rptr -all";
	pos = 0;
	assert_int_equal(spf_record_next(rec, strlen(rec), &pos, &t, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "ctrl.example.com?ptr"));
	/* nor is a NUL a qualifier (found by fuzz_spf) */
	pos = 0;
	assert_int_equal(spf_record_next("v=spf1 \0all", 11, &pos, &t, why, sizeof(why)), -1);
}

/* Macros */

struct macro_case {
	const char *in;
	int flags;
	const char *out;           /* NULL: a syntax error */
};

/* RFC 7208 §7.4: sender strong-bad@email.example.com, client 192.0.2.3. */
static const struct macro_case macro_cases[] = {
	{ "%{s}", 0, "strong-bad@email.example.com" },
	{ "%{o}", 0, "email.example.com" },
	{ "%{d}", 0, "email.example.com" },
	{ "%{d4}", 0, "email.example.com" },
	{ "%{d3}", 0, "email.example.com" },
	{ "%{d2}", 0, "example.com" },
	{ "%{d1}", 0, "com" },
	{ "%{dr}", 0, "com.example.email" },
	{ "%{d2r}", 0, "example.email" },
	{ "%{l}", 0, "strong-bad" },
	{ "%{l-}", 0, "strong.bad" },
	{ "%{lr}", 0, "strong-bad" },
	{ "%{lr-}", 0, "bad.strong" },
	{ "%{l1r-}", 0, "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN,
	  "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN,
	  "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net", SPF_MACRO_DOMAIN,
	  "example.com.trusted-domains.example.net" },
	{ "%{d2}.trusted-domains.example.net.", SPF_MACRO_DOMAIN,
	  "example.com.trusted-domains.example.net" },
	{ "%{D2}", SPF_MACRO_DOMAIN, "example.com" },
	{ "%{L}", 0, "strong-bad" },
	{ "%{S}", 0, "strong-bad%40email.example.com" },
	{ "%{d200}", 0, "email.example.com" },
	{ "%{l+-=}", 0, "strong.bad" },
	{ "%%%_%-", 0, "% %20" },
	{ "macro%%percent%_%_space%-url-space.example.com", SPF_MACRO_DOMAIN,
	  "macro%percent  space%20url-space.example.com" },
	{ "%{c} is %{r} at %{t}", SPF_MACRO_EXP, "192.0.2.3 is mx.example.org at 1400000000" },
	{ "%{p}.x", 0, "mx.example.org.x" },
	{ "%", 0, NULL },
	{ "a%", 0, NULL },
	{ "%x", 0, NULL },
	{ "%(ir).sbl.example.com", 0, NULL },
	{ "%{", 0, NULL },
	{ "%{d", 0, NULL },
	{ "%{a}", 0, NULL },
	{ "%{d0}", 0, NULL },
	{ "%{dx}", 0, NULL },
	{ "%{d2r2}", 0, NULL },
	{ "%{c}", 0, NULL },
	{ "%{r}", SPF_MACRO_DOMAIN, NULL },
	{ "%{t}", 0, NULL },
	{ "two words", 0, NULL },
	{ "two words", SPF_MACRO_EXP, "two words" },
	{ "", SPF_MACRO_DOMAIN, NULL },
};

static void
macros_7_4(struct spf_macros *m)
{
	memset(m, 0, sizeof(*m));
	m->val['s' - 'a'] = "strong-bad@email.example.com";
	m->val['l' - 'a'] = "strong-bad";
	m->val['o' - 'a'] = "email.example.com";
	m->val['d' - 'a'] = "email.example.com";
	m->val['i' - 'a'] = "192.0.2.3";
	m->val['c' - 'a'] = "192.0.2.3";
	m->val['v' - 'a'] = "in-addr";
	m->val['h' - 'a'] = "mx.example.org";
	m->val['p' - 'a'] = "mx.example.org";
	m->val['r' - 'a'] = "mx.example.org";
	m->val['t' - 'a'] = "1400000000";
}

static void
test_macros(void **state)
{
	struct spf_macros m;
	char out[SPF_TARGET_MAX];
	size_t i;

	(void)state;
	macros_7_4(&m);
	for (i = 0; i < sizeof(macro_cases) / sizeof(macro_cases[0]); i++) {
		const struct macro_case *c = &macro_cases[i];
		int ok = spf_macro_check(c->in, strlen(c->in), c->flags) == 0;

		if (ok != (c->out != NULL))
			fail_msg("%s: check %d", c->in, ok);
		if (!ok)
			continue;
		assert_int_equal(spf_macro_expand(c->in, strlen(c->in), &m, c->flags,
		    out, sizeof(out)), 0);
		if (strcmp(out, c->out) != 0)
			fail_msg("%s: got \"%s\"", c->in, out);
	}
	assert_true(spf_macro_uses("a.%{p2}.b", 9, 'p'));
	assert_false(spf_macro_uses("a.%%{p}.b", 9, 'p'));
}

/* §7.3: over 253 octets, labels go from the left until it fits. */
static void
test_macro_truncation(void **state)
{
	struct spf_macros m;
	char out[SPF_TARGET_MAX], spec[256], want[300];
	const char *o = "somewhat.long.exp.example.com";
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.val['o' - 'a'] = o;
	strcpy(spec, "foobar");
	want[0] = '\0';
	for (i = 0; i < 8; i++) {
		strcat(spec, ".%{o}");
		strcat(want, o);
		strcat(want, ".");
	}
	strcat(spec, ".example.com");
	strcat(want, "example.com");
	assert_int_equal(spf_macro_check(spec, strlen(spec), SPF_MACRO_DOMAIN), 0);
	assert_int_equal(spf_macro_expand(spec, strlen(spec), &m, SPF_MACRO_DOMAIN,
	    out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_true(strlen(out) <= 253);

	/* far longer than the buffer: only the tail is kept on the way */
	spec[0] = '\0';
	for (i = 0; i < 40; i++)
		strcat(spec, "%{o}.");
	strcat(spec, "example.com");
	assert_int_equal(spf_macro_expand(spec, strlen(spec), &m, SPF_MACRO_DOMAIN,
	    out, sizeof(out)), 0);
	assert_true(strlen(out) <= 253);
	assert_true(spf_target_ok(out));
	assert_non_null(strstr(out, ".example.com.somewhat."));
	assert_int_equal(strncmp(out, "somewhat.", 9) == 0 || strncmp(out, "long.", 5) == 0 ||
	    strncmp(out, "exp.", 4) == 0 || strncmp(out, "example.", 8) == 0 ||
	    strncmp(out, "com.", 4) == 0, 1);

	/* explanation text keeps the head, cut at the buffer */
	assert_int_equal(spf_macro_expand(spec, strlen(spec), &m, 0, out, 16), 0);
	assert_string_equal(out, "somewhat.long.e");
}

static void
test_targets(void **state)
{
	char label64[80];

	(void)state;
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".com");
	assert_true(spf_target_ok("a.b"));
	assert_true(spf_target_ok("com"));
	assert_false(spf_target_ok(""));
	assert_false(spf_target_ok("a..b"));
	assert_false(spf_target_ok(".a"));
	assert_false(spf_target_ok(label64));
	assert_true(spf_domain_ok("example.com"));
	assert_true(spf_domain_ok("foo.xn--zckzah"));
	assert_false(spf_domain_ok("A2345678"));
	assert_false(spf_domain_ok("[1.2.3.5]"));
	assert_false(spf_domain_ok("1.2.3.5"));
	assert_false(spf_domain_ok("A...example.com"));
}

/* check_host() over a cache */

/* One record of a test zone: A/AAAA an address, MX "PREF NAME", PTR a
 * name, TXT the text (cut in 255-octet strings), or the status alone. */
struct zrec {
	const char *name;
	int type;
	const char *data;
	enum dnsq_status st;       /* DNSQ_OK unless data is NULL */
};

#define TXT(n, d) { n, DNSQ_TXT, d, DNSQ_OK }
#define A4(n, d) { n, DNSQ_A, d, DNSQ_OK }
#define A6(n, d) { n, DNSQ_AAAA, d, DNSQ_OK }
#define MXR(n, d) { n, DNSQ_MX, d, DNSQ_OK }
#define PTRR(n, d) { n, DNSQ_PTR, d, DNSQ_OK }
#define TEMP(n, t) { n, t, NULL, DNSQ_TEMP }
#define ZEND { NULL, 0, NULL, DNSQ_OK }

static size_t
wire_name(const char *name, uint8_t *out)
{
	size_t o = 0;
	const char *p = name;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.')
			p++;
	}
	out[o++] = 0;
	return o;
}

static size_t
rdata_of(const struct zrec *z, uint8_t *out)
{
	size_t n, o = 0, l;
	const char *p;

	switch (z->type) {
	case DNSQ_A:
		assert_int_equal(inet_pton(AF_INET, z->data, out), 1);
		return 4;
	case DNSQ_AAAA:
		assert_int_equal(inet_pton(AF_INET6, z->data, out), 1);
		return 16;
	case DNSQ_MX:
		n = (size_t)atoi(z->data);
		out[0] = (uint8_t)(n >> 8);
		out[1] = (uint8_t)n;
		return 2 + wire_name(strchr(z->data, ' ') + 1, out + 2);
	case DNSQ_PTR:
		return wire_name(z->data, out);
	default:
		p = z->data;
		n = strlen(p);
		do {
			l = n > 255 ? 255 : n;
			out[o++] = (uint8_t)l;
			memcpy(out + o, p, l);
			o += l;
			p += l;
			n -= l;
		} while (n > 0);
		return o;
	}
}

/* Puts every (name, type) of the zone, its records together. */
static void
fill(struct dnsq_cache *c, const struct zrec *zone)
{
	static uint8_t store[DNSQ_MAX_RR][4200];
	const uint8_t *rr[DNSQ_MAX_RR];
	size_t len[DNSQ_MAX_RR], n, i, j;
	bool done[64] = { false };

	for (i = 0; zone[i].name; i++) {
		assert_true(i < 64);
		if (done[i])
			continue;
		if (zone[i].data == NULL) {
			assert_int_equal(dnsq_put(c, zone[i].name, zone[i].type, zone[i].st,
			    NULL, NULL, 0), 0);
			continue;
		}
		for (j = i, n = 0; zone[j].name; j++) {
			if (done[j] || zone[j].type != zone[i].type ||
			    strcasecmp(zone[j].name, zone[i].name) != 0)
				continue;
			done[j] = true;
			len[n] = rdata_of(&zone[j], store[n]);
			rr[n] = store[n];
			n++;
		}
		assert_int_equal(dnsq_put(c, zone[i].name, zone[i].type, DNSQ_OK, rr, len, n), 0);
	}
}

struct check_case {
	const char *desc;
	const struct zrec *zone;
	const char *ip;
	const char *sender;        /* the domain is what follows '@' */
	enum spf_result want;
	const char *mechanism;     /* NULL: not checked */
	const char *explanation;   /* NULL: must be "" */
};

static const char *const result_names[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
};

/* Runs the check to the end; missing names become NXDOMAIN. Returns the
 * number of queries asked. */
static int
run(const struct zrec *zone, const char *ip, const char *sender, const char *helo,
    struct spf_verdict *v)
{
	struct dnsq_cache c;
	struct spf_query q;
	int r, asked = 0;

	memset(&q, 0, sizeof(q));
	if (inet_pton(AF_INET, ip, q.ip) == 1)
		q.family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, ip, q.ip), 1);
		q.family = AF_INET6;
	}
	q.helo = helo;
	q.sender = sender;
	q.domain = strrchr(sender, '@') + 1;
	q.receiver = "mx.example.org";
	q.now = 1400000000;
	dnsq_init(&c);
	fill(&c, zone);
	for (;;) {
		c.need = false;
		r = spf_check(&q, &c, v);
		if (r != DNSQ_NEED)
			break;
		assert_true(c.need);
		assert_true(++asked < 200);
		assert_int_equal(dnsq_put(&c, c.need_name, c.need_type, DNSQ_NXDOMAIN,
		    NULL, NULL, 0), 0);
	}
	assert_int_equal(r, 0);
	dnsq_release(&c);
	return asked;
}

static const struct zrec z_basic[] = {
	TXT("example.com", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx ptr "
	    "exists:%{ir}.bl.example.com -all"),
	A4("example.com", "198.51.100.1"),
	A6("example.com", "2001:db8:ffff::1"),
	MXR("example.com", "10 mx1.example.com"),
	MXR("example.com", "20 mx2.example.com"),
	A4("mx2.example.com", "198.51.100.22"),
	A6("mx2.example.com", "2001:db9::22"),
	PTRR("7.113.0.203.in-addr.arpa", "other.example.net"),
	PTRR("7.113.0.203.in-addr.arpa", "host.example.com"),
	A4("host.example.com", "203.0.113.7"),
	PTRR("8.113.0.203.in-addr.arpa", "forged.example.com"),
	A4("forged.example.com", "203.0.113.99"),
	A4("9.113.0.203.bl.example.com", "127.0.0.2"),
	ZEND,
};

static const struct zrec z_include[] = {
	TXT("example.com", "v=spf1 include:pass.example.net include:fail.example.net "
	    "include:soft.example.net include:neutral.example.net -all"),
	TXT("qualified.example.com", "v=spf1 ?include:pass.example.net -all"),
	TXT("pass.example.net", "v=spf1 ip4:192.0.2.1 -all"),
	TXT("fail.example.net", "v=spf1 -ip4:192.0.2.2"),
	TXT("soft.example.net", "v=spf1 ~ip4:192.0.2.3"),
	TXT("neutral.example.net", "v=spf1 ?all"),
	TXT("temp.example.com", "v=spf1 include:broken.example.net +all"),
	TEMP("broken.example.net", DNSQ_TXT),
	TXT("none.example.com", "v=spf1 include:nothing.example.net +all"),
	TXT("perm.example.com", "v=spf1 include:bad.example.net +all"),
	TXT("bad.example.net", "v=spf1 ip4:300.1.1.1"),
	TXT("redir.example.com", "v=spf1 ip4:192.0.2.9 redirect=%{d2}.example.net "
	    "exp=never.example.com"),
	TXT("example.com.example.net", "v=spf1 -ip4:192.0.2.10 ~all exp=why.example.net"),
	TXT("why.example.net", "%{i} is not one of %{d}'s"),
	TXT("never.example.com", "not this one"),
	TXT("redir-none.example.com", "v=spf1 redirect=nothing.example.net"),
	TXT("redir-loop.example.com", "v=spf1 redirect=redir-loop.example.com"),
	ZEND,
};

static const struct zrec z_limits[] = {
	/* addresses and MX, or the a and mx terms would be void lookups */
	TXT("ten.example.com", "v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.1 -all"),
	A4("ten.example.com", "198.51.100.10"),
	MXR("ten.example.com", "10 ten.example.com"),
	TXT("eleven.example.com", "v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.1 -all"),
	A4("eleven.example.com", "198.51.100.11"),
	MXR("eleven.example.com", "10 eleven.example.com"),
	TXT("unused.example.com", "v=spf1 ip4:192.0.2.1 a a a a a a a a a a a a"),
	TXT("mx11.example.com", "v=spf1 mx -all"),
	MXR("mx11.example.com", "0 a.example.com"), MXR("mx11.example.com", "1 b.example.com"),
	MXR("mx11.example.com", "2 c.example.com"), MXR("mx11.example.com", "3 d.example.com"),
	MXR("mx11.example.com", "4 e.example.com"), MXR("mx11.example.com", "5 f.example.com"),
	MXR("mx11.example.com", "6 g.example.com"), MXR("mx11.example.com", "7 h.example.com"),
	MXR("mx11.example.com", "8 i.example.com"), MXR("mx11.example.com", "9 j.example.com"),
	MXR("mx11.example.com", "10 k.example.com"),
	A4("a.example.com", "192.0.2.1"),
	TXT("void3.example.com", "v=spf1 a:n1.example.com a:n2.example.com "
	    "a:n3.example.com ?all"),
	TXT("void2.example.com", "v=spf1 a:n1.example.com a:n2.example.com ?all "
	    "exp=n3.example.com"),
	TXT("ptr11.example.com", "v=spf1 ptr -all"),
	PTRR("5.2.0.192.in-addr.arpa", "p1.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p2.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p3.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p4.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p5.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p6.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p7.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p8.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p9.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "p10.example.com"),
	PTRR("5.2.0.192.in-addr.arpa", "ptr11.example.com"),
	A4("ptr11.example.com", "192.0.2.5"),
	ZEND,
};

static const struct zrec z_records[] = {
	TXT("two.example.com", "v=spf1 +all"),
	TXT("two.example.com", "V=SPF1 -all"),
	TXT("other.example.com", "google-site-verification=abc"),
	TXT("other.example.com", "v=spf1 ~all"),
	TXT("notspf.example.com", "v=spf10 +all"),
	TXT("empty.example.com", "v=spf1"),
	TXT("late.example.com", "v=spf1 +all moo"),
	TXT("late2.example.com", "v=spf1 +all exp=a exp=b.example.com"),
	TXT("temp-a.example.com", "v=spf1 a:down.example.net -all"),
	TEMP("down.example.net", DNSQ_A),
	TEMP("tempdomain.example.com", DNSQ_TXT),
	TXT("ptrtemp.example.com", "v=spf1 ptr ?all"),
	TEMP("9.2.0.192.in-addr.arpa", DNSQ_PTR),
	TXT("exists6.example.com", "v=spf1 exists:%{d} -all"),
	A4("exists6.example.com", "192.0.2.200"),
	TXT("mapped.example.com", "v=spf1 -ip6:::ffff:0:0/96 ip4:192.0.2.0/24 -all"),
	TXT("cidr6.example.com", "v=spf1 a//48 -all"),
	A6("cidr6.example.com", "2001:db8:1:2::1"),
	TXT("dual.example.com", "v=spf1 a/30//126 -all"),
	A4("dual.example.com", "192.0.2.64"),
	A6("dual.example.com", "2001:db8::4"),
	TXT("nolocal.example.com", "v=spf1 -all exp=e.nolocal.example.com"),
	TXT("e.nolocal.example.com", "%{l} from %{o} via %{h}: see %{S}"),
	TXT("pmacro.example.com", "v=spf1 -all exp=e.pmacro.example.com"),
	TXT("e.pmacro.example.com", "from %{p}"),
	PTRR("7.2.0.192.in-addr.arpa", "elsewhere.example.org"),
	PTRR("7.2.0.192.in-addr.arpa", "mx.pmacro.example.com"),
	A4("elsewhere.example.org", "192.0.2.7"),
	A4("mx.pmacro.example.com", "192.0.2.7"),
	TXT("badexp.example.com", "v=spf1 -all exp=e.badexp.example.com"),
	TXT("e.badexp.example.com", "100%{x} wrong"),
	TXT("longlabel.example.com", "v=spf1 a:%{l}.example.com -all"),
	TXT("long.example.com", "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ip4:192.0.2.3 "
	    "ip4:192.0.2.4 ip4:192.0.2.5 ip4:192.0.2.6 ip4:192.0.2.7 ip4:192.0.2.8 "
	    "ip4:192.0.2.9 ip4:192.0.2.10 ip4:192.0.2.11 ip4:192.0.2.12 "
	    "ip4:192.0.2.13 ip4:192.0.2.14 ip4:192.0.2.15 ip4:192.0.2.16 "
	    "ip4:192.0.2.17 ip4:192.0.2.18 ip4:192.0.2.19 ip4:192.0.2.20 ~all"),
	ZEND,
};

static const struct check_case check_cases[] = {
	/* each mechanism */
	{ "ip4", z_basic, "192.0.2.77", "a@example.com", SPF_PASS, "ip4:192.0.2.0/24", NULL },
	{ "ip6", z_basic, "2001:db8:1::1", "a@example.com", SPF_PASS, "ip6:2001:db8::/32", NULL },
	{ "a v4", z_basic, "198.51.100.1", "a@example.com", SPF_PASS, "a", NULL },
	{ "a v6", z_basic, "2001:db8:ffff::1", "a@example.com", SPF_PASS, "ip6:2001:db8::/32", NULL },
	{ "mx v4", z_basic, "198.51.100.22", "a@example.com", SPF_PASS, "mx", NULL },
	{ "mx v6", z_basic, "2001:db9::22", "a@example.com", SPF_PASS, "mx", NULL },
	{ "ptr validated", z_basic, "203.0.113.7", "a@example.com", SPF_PASS, "ptr", NULL },
	{ "ptr not validated", z_basic, "203.0.113.8", "a@example.com", SPF_FAIL, "-all", NULL },
	{ "exists", z_basic, "203.0.113.9", "a@example.com", SPF_PASS,
	  "exists:%{ir}.bl.example.com", NULL },
	{ "all", z_basic, "198.51.100.99", "a@example.com", SPF_FAIL, "-all", NULL },
	{ "no record", z_basic, "192.0.2.1", "a@nothing.example.org", SPF_NONE, "", NULL },
	{ "bad domain", z_basic, "192.0.2.1", "a@[192.0.2.1]", SPF_NONE, "", NULL },
	/* include (§5.2) and redirect (§6.1) */
	{ "include pass", z_include, "192.0.2.1", "a@example.com", SPF_PASS,
	  "include:pass.example.net", NULL },
	{ "include fail", z_include, "192.0.2.2", "a@example.com", SPF_FAIL, "-all", NULL },
	{ "include softfail", z_include, "192.0.2.3", "a@example.com", SPF_FAIL, "-all", NULL },
	{ "include neutral", z_include, "192.0.2.4", "a@example.com", SPF_FAIL, "-all", NULL },
	{ "include qualified", z_include, "192.0.2.1", "a@qualified.example.com", SPF_NEUTRAL,
	  "?include:pass.example.net", NULL },
	{ "include temperror", z_include, "192.0.2.1", "a@temp.example.com", SPF_TEMPERROR, "", NULL },
	{ "include none", z_include, "192.0.2.1", "a@none.example.com", SPF_PERMERROR, "", NULL },
	{ "include permerror", z_include, "192.0.2.1", "a@perm.example.com", SPF_PERMERROR, "", NULL },
	{ "redirect not taken", z_include, "192.0.2.9", "a@redir.example.com", SPF_PASS,
	  "ip4:192.0.2.9", NULL },
	{ "redirect with its exp", z_include, "192.0.2.10", "a@redir.example.com", SPF_FAIL,
	  "-ip4:192.0.2.10", "192.0.2.10 is not one of example.com.example.net's" },
	{ "redirect softfail", z_include, "192.0.2.11", "a@redir.example.com", SPF_SOFTFAIL,
	  "~all", NULL },
	{ "redirect none", z_include, "192.0.2.1", "a@redir-none.example.com", SPF_PERMERROR, "", NULL },
	{ "redirect loop", z_include, "192.0.2.1", "a@redir-loop.example.com", SPF_PERMERROR, "", NULL },
	/* limits (§4.6.4) */
	{ "10 terms", z_limits, "192.0.2.1", "a@ten.example.com", SPF_PASS, "ip4:192.0.2.1", NULL },
	{ "11 terms", z_limits, "192.0.2.1", "a@eleven.example.com", SPF_PERMERROR, "", NULL },
	{ "terms after a match", z_limits, "192.0.2.1", "a@unused.example.com", SPF_PASS, NULL, NULL },
	{ "11 MX", z_limits, "192.0.2.1", "a@mx11.example.com", SPF_PERMERROR, "", NULL },
	{ "3 void lookups", z_limits, "192.0.2.1", "a@void3.example.com", SPF_PERMERROR, "", NULL },
	{ "2 void lookups", z_limits, "192.0.2.1", "a@void2.example.com", SPF_NEUTRAL, "?all", NULL },
	{ "11th PTR ignored", z_limits, "192.0.2.5", "a@ptr11.example.com", SPF_FAIL, "-all", NULL },
	/* records and errors */
	{ "two records", z_records, "192.0.2.1", "a@two.example.com", SPF_PERMERROR, "", NULL },
	{ "other TXT ignored", z_records, "192.0.2.1", "a@other.example.com", SPF_SOFTFAIL, "~all", NULL },
	{ "v=spf10", z_records, "192.0.2.1", "a@notspf.example.com", SPF_NONE, "", NULL },
	{ "empty record", z_records, "192.0.2.1", "a@empty.example.com", SPF_NEUTRAL, "default", NULL },
	{ "error after a match", z_records, "192.0.2.1", "a@late.example.com", SPF_PERMERROR, "", NULL },
	{ "exp twice", z_records, "192.0.2.1", "a@late2.example.com", SPF_PERMERROR, "", NULL },
	{ "DNS error in a", z_records, "192.0.2.1", "a@temp-a.example.com", SPF_TEMPERROR, "", NULL },
	{ "DNS error for the record", z_records, "192.0.2.1", "a@tempdomain.example.com",
	  SPF_TEMPERROR, "", NULL },
	{ "DNS error in ptr", z_records, "192.0.2.9", "a@ptrtemp.example.com", SPF_NEUTRAL,
	  "?all", NULL },
	{ "exists is A for IPv6", z_records, "2001:db8::1", "a@exists6.example.com", SPF_PASS,
	  "exists:%{d}", NULL },
	{ "IPv4-mapped is IPv4", z_records, "::ffff:192.0.2.1", "a@mapped.example.com", SPF_PASS,
	  "ip4:192.0.2.0/24", NULL },
	{ "a//48", z_records, "2001:db8:1:ffff::9", "a@cidr6.example.com", SPF_PASS, "a//48", NULL },
	{ "a//48 miss", z_records, "2001:db8:2::9", "a@cidr6.example.com", SPF_FAIL, "-all", NULL },
	{ "a/30 v4", z_records, "192.0.2.67", "a@dual.example.com", SPF_PASS, "a/30//126", NULL },
	{ "a/30 v4 miss", z_records, "192.0.2.68", "a@dual.example.com", SPF_FAIL, "-all", NULL },
	{ "a//126 v6", z_records, "2001:db8::7", "a@dual.example.com", SPF_PASS, "a/30//126", NULL },
	{ "no local-part", z_records, "192.0.2.1", "@nolocal.example.com", SPF_FAIL, "-all",
	  "postmaster from nolocal.example.com via mail.example.org: see "
	  "postmaster%40nolocal.example.com" },
	{ "%{p} prefers the domain", z_records, "192.0.2.7", "a@pmacro.example.com", SPF_FAIL,
	  "-all", "from mx.pmacro.example.com" },
	{ "%{p} unknown", z_records, "192.0.2.8", "a@pmacro.example.com", SPF_FAIL,
	  "-all", "from unknown" },
	{ "bad explanation ignored", z_records, "192.0.2.1", "a@badexp.example.com", SPF_FAIL,
	  "-all", NULL },
	{ "long label from a macro", z_records, "192.0.2.1",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@longlabel.example.com", SPF_FAIL, "-all", NULL },
	{ "record over 255 octets", z_records, "192.0.2.20", "a@long.example.com", SPF_PASS,
	  "ip4:192.0.2.20", NULL },
};

static void
test_check(void **state)
{
	struct spf_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];

		run(c->zone, c->ip, c->sender, "mail.example.org", &v);
		if (v.result != c->want)
			fail_msg("%s: %s, want %s (problem: %s)", c->desc, result_names[v.result],
			    result_names[c->want], v.problem);
		if (c->mechanism && strcmp(v.mechanism, c->mechanism) != 0)
			fail_msg("%s: mechanism \"%s\"", c->desc, v.mechanism);
		if (strcmp(v.explanation, c->explanation ? c->explanation : "") != 0)
			fail_msg("%s: explanation \"%s\"", c->desc, v.explanation);
		if ((v.result == SPF_PERMERROR || v.result == SPF_TEMPERROR) != (v.problem[0] != '\0'))
			fail_msg("%s: problem \"%s\"", c->desc, v.problem);
	}
}

/* The explanation is looked up only for a fail, and no lookup is made
 * after a match. */
static void
test_lookups(void **state)
{
	static const struct zrec zone[] = {
		TXT("example.com", "v=spf1 ip4:192.0.2.1 a:one.example.com -all exp=e.example.com"),
		TXT("e.example.com", "no"),
		ZEND,
	};
	struct spf_verdict v;

	(void)state;
	assert_int_equal(run(zone, "192.0.2.1", "a@example.com", "h.example.org", &v), 0);
	assert_int_equal(v.result, SPF_PASS);
	/* one.example.com is asked for; e.example.com is in the zone */
	assert_int_equal(run(zone, "192.0.2.2", "a@example.com", "h.example.org", &v), 1);
	assert_int_equal(v.result, SPF_FAIL);
	assert_string_equal(v.explanation, "no");
}

/* A missing answer ends the check with DNSQ_NEED and names the query. */
static void
test_need(void **state)
{
	struct dnsq_cache c;
	struct spf_query q;
	struct spf_verdict v;

	(void)state;
	memset(&q, 0, sizeof(q));
	q.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", q.ip);
	q.helo = "mail.example.org";
	q.sender = "a@example.com.";
	q.domain = "example.com.";
	dnsq_init(&c);
	assert_int_equal(spf_check(&q, &c, &v), DNSQ_NEED);
	assert_true(c.need);
	assert_string_equal(c.need_name, "example.com");
	assert_int_equal(c.need_type, DNSQ_TXT);
	dnsq_release(&c);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(spf_result_name(SPF_NONE), "none");
	assert_string_equal(spf_result_name(SPF_NEUTRAL), "neutral");
	assert_string_equal(spf_result_name(SPF_PASS), "pass");
	assert_string_equal(spf_result_name(SPF_FAIL), "fail");
	assert_string_equal(spf_result_name(SPF_SOFTFAIL), "softfail");
	assert_string_equal(spf_result_name(SPF_TEMPERROR), "temperror");
	assert_string_equal(spf_result_name(SPF_PERMERROR), "permerror");
}

/* Received-SPF (§9.1) */

static void
assert_lines_fit(const char *field)
{
	const char *p = field, *e;

	while ((e = strstr(p, "\r\n")) != NULL) {
		assert_true(e - p <= 78);
		p = e + 2;
		if (*p)
			assert_true(*p == ' ');
	}
	assert_string_equal(p, "");
}

static void
test_received_field(void **state)
{
	struct spf_query q;
	struct spf_verdict v;
	struct buf b = BUF_INIT;

	(void)state;
	memset(&q, 0, sizeof(q));
	memset(&v, 0, sizeof(v));
	q.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", q.ip);
	q.helo = "foo.example.com";
	q.sender = "myname@example.com";
	q.domain = "example.com";
	q.receiver = "mybox.example.org";
	v.result = SPF_PASS;
	strcpy(v.mechanism, "ip4:192.0.2.0/24");
	spf_received_field(&q, &v, false, &b);
	assert_string_equal(buf_cstr(&b),
	    "Received-SPF: pass (mybox.example.org: domain of myname@example.com designates\r\n"
	    " 192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n"
	    " envelope-from=\"myname@example.com\"; helo=foo.example.com;\r\n"
	    " receiver=mybox.example.org; identity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";\r\n");
	assert_lines_fit(buf_cstr(&b));

	/* helo identity, IPv6 quoted, a problem with quotes, odd sender */
	buf_reset(&b);
	memset(&v, 0, sizeof(v));
	q.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::25", q.ip);
	q.sender = "we(ird)\"\\@example.com";
	q.receiver = NULL;
	v.result = SPF_PERMERROR;
	strcpy(v.problem, "unknown mechanism: \"moo\"");
	spf_received_field(&q, &v, true, &b);
	assert_string_equal(buf_cstr(&b),
	    "Received-SPF: permerror (permanent error in processing domain of\r\n"
	    " foo.example.com) client-ip=\"2001:db8::25\";\r\n"
	    " envelope-from=\"we(ird)\\\"\\\\@example.com\"; helo=foo.example.com; identity=helo;\r\n"
	    " problem=\"unknown mechanism: \\\"moo\\\"\";\r\n");
	assert_lines_fit(buf_cstr(&b));

	/* a comment with parentheses in it stays balanced */
	buf_reset(&b);
	v.result = SPF_FAIL;
	v.problem[0] = '\0';
	spf_received_field(&q, &v, false, &b);
	assert_non_null(strstr(buf_cstr(&b), "domain of we\\(ird\\)\"\\\\@example.com"));
	assert_lines_fit(buf_cstr(&b));
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_record_select),
		cmocka_unit_test(test_record_walk),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_macro_truncation),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_need),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_received_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
