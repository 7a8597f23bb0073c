/*
 * test_dmarc_report: the DMARC aggregate report module. The results line
 * (exact form, round trip of hostile text, a table of malformed lines),
 * the aggregation (rows, counts, the latest policy, limits), the XML
 * (exact for a small case, escaping), the message (headers, base64 line
 * lengths, the gzip decoded back with zlib), rua= parsing and the
 * external-destination helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/buf.h"
#include "proto/dmarc_report.h"

/* A plain result: example.org, p=reject, both aligned, one signature. */
static void
base(struct dmarc_report_result *r)
{
	memset(r, 0, sizeof(*r));
	r->time = 1767225600;
	strcpy(r->source_ip, "192.0.2.1");
	strcpy(r->header_from, "example.org");
	strcpy(r->envelope_from, "example.org");
	strcpy(r->policy_domain, "example.org");
	r->p = DMARC_P_REJECT;
	r->sp = DMARC_P_UNSET;
	r->np = DMARC_P_UNSET;
	r->pct = 100;
	r->disposition = DMARC_P_NONE;
	r->dmarc = DMARC_PASS;
	r->dkim_aligned = true;
	r->spf_aligned = true;
	strcpy(r->spf_domain, "example.org");
	strcpy(r->spf_result, "pass");
	strcpy(r->rua, "mailto:dmarc@example.org");
	r->ndkim = 1;
	strcpy(r->dkim[0].domain, "example.org");
	strcpy(r->dkim[0].selector, "s1");
	strcpy(r->dkim[0].result, "pass");
}

static void
assert_same(const struct dmarc_report_result *a, const struct dmarc_report_result *b)
{
	size_t i;

	assert_int_equal(a->time, b->time);
	assert_string_equal(a->source_ip, b->source_ip);
	assert_string_equal(a->header_from, b->header_from);
	assert_string_equal(a->envelope_from, b->envelope_from);
	assert_string_equal(a->policy_domain, b->policy_domain);
	assert_int_equal(a->p, b->p);
	assert_int_equal(a->sp, b->sp);
	assert_int_equal(a->np, b->np);
	assert_int_equal(a->adkim_strict, b->adkim_strict);
	assert_int_equal(a->aspf_strict, b->aspf_strict);
	assert_int_equal(a->pct, b->pct);
	assert_int_equal(a->testing, b->testing);
	assert_int_equal(a->disposition, b->disposition);
	assert_int_equal(a->reason, b->reason);
	assert_int_equal(a->dmarc, b->dmarc);
	assert_int_equal(a->dkim_aligned, b->dkim_aligned);
	assert_int_equal(a->spf_aligned, b->spf_aligned);
	assert_string_equal(a->spf_domain, b->spf_domain);
	assert_int_equal(a->spf_helo, b->spf_helo);
	assert_string_equal(a->spf_result, b->spf_result);
	assert_string_equal(a->rua, b->rua);
	assert_int_equal(a->ndkim, b->ndkim);
	for (i = 0; i < a->ndkim; i++) {
		assert_string_equal(a->dkim[i].domain, b->dkim[i].domain);
		assert_string_equal(a->dkim[i].selector, b->dkim[i].selector);
		assert_string_equal(a->dkim[i].result, b->dkim[i].result);
	}
}

static const char base_line[] =
    "tern-dmarc-1\t1767225600\t192.0.2.1\texample.org\texample.org\texample.org"
    "\treject\t\t\tr\tr\t100\tn\tnone\tnone\tpass\tpass\tpass"
    "\texample.org\tmfrom\tpass\tmailto:dmarc@example.org\t1"
    "\texample.org\ts1\tpass\n";

static void
test_line_exact(void **state)
{
	struct dmarc_report_result r, back;
	struct buf b = BUF_INIT;

	(void)state;
	base(&r);
	assert_int_equal(dmarc_report_line_write(&r, &b), 0);
	assert_string_equal(buf_cstr(&b), base_line);
	assert_int_equal(dmarc_report_line_parse(b.data, b.len, &back), 0);
	assert_same(&r, &back);
	/* without its newline too */
	assert_int_equal(dmarc_report_line_parse(b.data, b.len - 1, &back), 0);
	assert_same(&r, &back);
	buf_release(&b);
}

static void
test_line_hostile(void **state)
{
	struct dmarc_report_result r, back;
	struct buf b = BUF_INIT;
	size_t i, tabs = 0;

	(void)state;
	base(&r);
	strcpy(r.header_from, "evil\texample\n.org\r\\x41\\\x01\x7f\xff\xc3\xa9 <&>");
	strcpy(r.envelope_from, "");
	strcpy(r.rua, "mailto:a@b.example!10m, mailto:c@d.example\t\n");
	strcpy(r.source_ip, "2001:db8::1");
	r.sp = DMARC_P_QUARANTINE;
	r.np = DMARC_P_NONE;
	r.adkim_strict = r.aspf_strict = r.testing = r.spf_helo = true;
	r.pct = 0;
	r.disposition = DMARC_P_QUARANTINE;
	r.reason = DMARC_REASON_TEST_MODE;
	r.dmarc = DMARC_TEMPERROR;
	r.dkim_aligned = false;
	strcpy(r.spf_result, "softfail");
	r.ndkim = DMARC_REPORT_DKIM_MAX;
	for (i = 0; i < r.ndkim; i++) {
		snprintf(r.dkim[i].domain, sizeof(r.dkim[i].domain), "d%zu\\\t.example", i);
		snprintf(r.dkim[i].selector, sizeof(r.dkim[i].selector), "sel %zu\n", i);
		strcpy(r.dkim[i].result, i % 2 ? "permerror" : "neutral");
	}
	memset(r.policy_domain, 'a', sizeof(r.policy_domain) - 1);
	r.policy_domain[sizeof(r.policy_domain) - 1] = '\0';
	assert_int_equal(dmarc_report_line_write(&r, &b), 0);
	/* one line; nothing but printable ASCII and the separators */
	for (i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		if (c == '\t')
			tabs++;
		else if (i == b.len - 1)
			assert_int_equal(c, '\n');
		else
			assert_true(c > 0x20 && c < 0x7f);
	}
	assert_int_equal(tabs, 22 + 3 * DMARC_REPORT_DKIM_MAX);
	assert_int_equal(dmarc_report_line_parse(b.data, b.len, &back), 0);
	assert_same(&r, &back);
	buf_release(&b);
}

static void
test_line_write_refuses(void **state)
{
	struct dmarc_report_result r;
	struct buf b = BUF_INIT;

	(void)state;
	buf_append_str(&b, "kept");
	base(&r);
	r.ndkim = DMARC_REPORT_DKIM_MAX + 1;
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	strcpy(r.spf_result, "maybe");
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	strcpy(r.dkim[0].result, "");
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	r.disposition = DMARC_P_UNSET;
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	memset(r.header_from, 'x', sizeof(r.header_from));  /* no NUL */
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	strcpy(r.source_ip, "192.0.2");
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	r.policy_domain[0] = '\0';
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	r.header_from[0] = '\0';
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	base(&r);
	r.time = -1;
	assert_int_equal(dmarc_report_line_write(&r, &b), -1);
	assert_string_equal(buf_cstr(&b), "kept");
	buf_release(&b);
}

/* Replaces field n (0-based) of base_line with v. */
static char *
with_field(int n, const char *v)
{
	static char out[4096];
	const char *s = base_line;
	size_t o = 0;
	int f = 0;

	for (; *s; s++) {
		if (f == n) {
			size_t l = strlen(v);

			memcpy(out + o, v, l);
			o += l;
			while (*s && *s != '\t' && *s != '\n')
				s++;
			f++;
			if (!*s)
				break;
		}
		out[o++] = *s;
		if (*s == '\t')
			f++;
	}
	out[o] = '\0';
	return out;
}

static void
test_line_malformed(void **state)
{
	static const struct {
		int field;
		const char *value;
	} bad[] = {
		{ 0, "tern-dmarc-2" }, { 0, "" }, { 0, "tern-dmarc-1x" },
		{ 1, "" }, { 1, "-1" }, { 1, "+5" }, { 1, "99999999999999999999" },
		{ 1, "1e9" }, { 1, "2000000000000" },
		{ 2, "192.0.2.256" }, { 2, "" }, { 2, "example.org" }, { 2, "::g" },
		{ 3, "" }, { 5, "" },
		{ 3, "a\\x00b" }, { 3, "a\\x0" }, { 3, "a\\xZZ" }, { 3, "a\\n" },
		{ 3, "a\\" }, { 3, "a\\X41" }, { 3, "a b" }, { 3, "a\x01" },
		{ 3, "a\x7f" }, { 3, "\xc3\xa9" }, { 3, "a\r" },
		{ 6, "REJECT" }, { 6, "none " }, { 7, "x" }, { 9, "" }, { 9, "strict" },
		{ 11, "101" }, { 11, "" }, { 11, "-0" }, { 12, "yes" },
		{ 13, "pass" }, { 13, "" }, { 14, "sampled" }, { 15, "softfail" },
		{ 16, "true" }, { 17, "" }, { 19, "rcpt" }, { 20, "bogus" }, { 20, "" },
		{ 22, "2" }, { 22, "0" }, { 22, "9" }, { 22, "" }, { 22, "01x" },
		{ 25, "passed" }, { 25, "" },
	};
	struct dmarc_report_result r;
	char line[8192], longv[600];
	size_t i;

	(void)state;
	assert_int_equal(dmarc_report_line_parse(base_line, strlen(base_line), &r), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *l = with_field(bad[i].field, bad[i].value);

		if (dmarc_report_line_parse(l, strlen(l), &r) != -1)
			fail_msg("accepted field %d = \"%s\"", bad[i].field, bad[i].value);
	}
	/* the field count: one short, one more, a torn line, nothing */
	snprintf(line, sizeof(line), "%.*s", (int)(strrchr(base_line, '\t') - base_line), base_line);
	assert_int_equal(dmarc_report_line_parse(line, strlen(line), &r), -1);
	snprintf(line, sizeof(line), "%.*s\textra\n", (int)strlen(base_line) - 1, base_line);
	assert_int_equal(dmarc_report_line_parse(line, strlen(line), &r), -1);
	assert_int_equal(dmarc_report_line_parse(base_line, 40, &r), -1);
	assert_int_equal(dmarc_report_line_parse("", 0, &r), -1);
	assert_int_equal(dmarc_report_line_parse("\n", 1, &r), -1);
	/* a raw newline inside, a NUL inside */
	strcpy(line, base_line);
	line[20] = '\n';
	assert_int_equal(dmarc_report_line_parse(line, strlen(base_line), &r), -1);
	line[20] = '\0';
	assert_int_equal(dmarc_report_line_parse(line, strlen(base_line), &r), -1);
	/* values too long for their fields (the domain: 255 octets fit) */
	memset(longv, 'a', 256);
	longv[256] = '\0';
	assert_int_equal(dmarc_report_line_parse(with_field(3, longv), strlen(with_field(3, longv)), &r), -1);
	longv[255] = '\0';
	assert_int_equal(dmarc_report_line_parse(with_field(3, longv), strlen(with_field(3, longv)), &r), 0);
	memset(longv, 'a', 64);
	longv[64] = '\0';
	assert_int_equal(dmarc_report_line_parse(with_field(24, longv), strlen(with_field(24, longv)), &r), -1);
	/* the IP comes out in inet_ntop's form */
	assert_int_equal(dmarc_report_line_parse(with_field(2, "2001:DB8:0::01"),
	    strlen(with_field(2, "2001:DB8:0::01")), &r), 0);
	assert_string_equal(r.source_ip, "2001:db8::1");
	/* escapes in either case */
	assert_int_equal(dmarc_report_line_parse(with_field(3, "a\\x2Cb"),
	    strlen(with_field(3, "a\\x2Cb")), &r), 0);
	assert_string_equal(r.header_from, "a,b");
}

static void
test_agg(void **state)
{
	struct dmarc_report_agg a;
	struct dmarc_report_result r;
	const struct dmarc_report_domain *d;
	size_t i;

	(void)state;
	dmarc_report_agg_init(&a, 0, 0);
	for (i = 0; i < 5; i++) {
		base(&r);
		r.time += (int64_t)i;
		assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	}
	/* another IP; then a failing one */
	base(&r);
	strcpy(r.source_ip, "198.51.100.7");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	base(&r);
	r.dmarc = DMARC_FAIL;
	r.dkim_aligned = r.spf_aligned = false;
	r.disposition = DMARC_P_REJECT;
	strcpy(r.spf_result, "fail");
	strcpy(r.dkim[0].result, "fail");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	/* two signatures, in either order: one row */
	base(&r);
	r.ndkim = 2;
	strcpy(r.dkim[1].domain, "esp.example");
	strcpy(r.dkim[1].selector, "k");
	strcpy(r.dkim[1].result, "pass");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	r.dkim[1] = r.dkim[0];
	strcpy(r.dkim[0].domain, "esp.example");
	strcpy(r.dkim[0].selector, "k");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	/* another domain (case folded), with a later policy in its second line */
	base(&r);
	strcpy(r.policy_domain, "Other.EXAMPLE");
	strcpy(r.header_from, "mail.other.example");
	r.p = DMARC_P_NONE;
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	strcpy(r.policy_domain, "other.example");
	r.time += 100;
	r.p = DMARC_P_QUARANTINE;
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	/* an earlier line does not replace the latest policy */
	r.time -= 1000;
	r.p = DMARC_P_REJECT;
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	assert_int_equal(dmarc_report_agg_sort(&a), 0);

	assert_int_equal(a.ndoms, 2);
	assert_string_equal(a.doms[0].domain, "example.org");
	assert_string_equal(a.doms[1].domain, "other.example");
	d = dmarc_report_agg_find(&a, "EXAMPLE.org");
	assert_ptr_equal(d, &a.doms[0]);
	assert_int_equal(d->messages, 10);
	assert_int_equal(d->nrows, 4);
	assert_int_equal(a.rows[d->rows[0]].count, 5);
	assert_int_equal(a.rows[d->rows[1]].count, 1);
	assert_string_equal(a.rows[d->rows[1]].r.source_ip, "198.51.100.7");
	assert_int_equal(a.rows[d->rows[2]].count, 2);
	assert_int_equal(a.rows[d->rows[2]].r.disposition, DMARC_P_REJECT);
	assert_int_equal(a.rows[d->rows[3]].count, 2);
	/* the aligned pass first */
	assert_string_equal(a.rows[d->rows[3]].r.dkim[0].domain, "example.org");
	assert_string_equal(a.rows[d->rows[3]].r.dkim[1].domain, "esp.example");
	d = dmarc_report_agg_find(&a, "other.example");
	assert_non_null(d);
	assert_int_equal(d->messages, 3);
	assert_int_equal(d->nrows, 1);
	assert_int_equal(d->policy.p, DMARC_P_QUARANTINE);
	assert_null(dmarc_report_agg_find(&a, "nowhere.example"));
	/* adding after the sort still finds the rows */
	base(&r);
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	assert_int_equal(a.rows[a.doms[0].rows[0]].count, 6);
	dmarc_report_agg_release(&a);
	assert_int_equal(a.ndoms, 0);
}

static void
test_agg_many(void **state)
{
	struct dmarc_report_agg a;
	struct dmarc_report_result r;
	uint64_t total = 0;
	size_t i;

	(void)state;
	dmarc_report_agg_init(&a, 0, 0);
	base(&r);
	for (i = 0; i < 20000; i++) {
		snprintf(r.source_ip, sizeof(r.source_ip), "10.%zu.%zu.%zu", i / 5000,
		    (i / 50) % 100, i % 50);
		snprintf(r.policy_domain, sizeof(r.policy_domain), "d%zu.example", i % 37);
		assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
		assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	}
	assert_int_equal(a.ndoms, 37);
	assert_int_equal(a.nrows, 20000);
	for (i = 0; i < a.nrows; i++) {
		assert_int_equal(a.rows[i].count, 2);
		total += a.rows[i].count;
	}
	assert_int_equal(total, 40000);
	dmarc_report_agg_release(&a);

	/* limits: lines past them are dropped, and counted */
	dmarc_report_agg_init(&a, 2, 3);
	for (i = 0; i < 4; i++) {
		base(&r);
		snprintf(r.policy_domain, sizeof(r.policy_domain), "d%zu.example", i);
		assert_int_equal(dmarc_report_agg_add(&a, &r), i < 2 ? 0 : 1);
	}
	base(&r);
	strcpy(r.policy_domain, "d0.example");
	strcpy(r.source_ip, "192.0.2.2");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	strcpy(r.source_ip, "192.0.2.3");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 1);
	strcpy(r.source_ip, "192.0.2.2");
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);   /* its row exists */
	assert_int_equal(a.dropped, 3);
	assert_int_equal(a.nrows, 3);
	dmarc_report_agg_release(&a);
}

static const struct dmarc_report_meta meta = {
	"mx.receiver.example", "postmaster@receiver.example", "receiver.example",
	"1767225600r0123456789abcdef", 1767225600, 1767311999, "tern test",
};

static const char expected_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n"
    "  <version>1.0</version>\n"
    "  <report_metadata>\n"
    "    <org_name>mx.receiver.example</org_name>\n"
    "    <email>postmaster@receiver.example</email>\n"
    "    <report_id>1767225600r0123456789abcdef</report_id>\n"
    "    <date_range>\n"
    "      <begin>1767225600</begin>\n"
    "      <end>1767311999</end>\n"
    "    </date_range>\n"
    "    <generator>tern test</generator>\n"
    "  </report_metadata>\n"
    "  <policy_published>\n"
    "    <domain>example.org</domain>\n"
    "    <discovery_method>treewalk</discovery_method>\n"
    "    <p>reject</p>\n"
    "    <sp>quarantine</sp>\n"
    "    <np>quarantine</np>\n"
    "    <adkim>s</adkim>\n"
    "    <aspf>r</aspf>\n"
    "    <testing>n</testing>\n"
    "  </policy_published>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>192.0.2.1</source_ip>\n"
    "      <count>2</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>pass</dkim>\n"
    "        <spf>pass</spf>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <header_from>example.org</header_from>\n"
    "      <envelope_from>example.org</envelope_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <dkim>\n"
    "        <domain>example.org</domain>\n"
    "        <selector>s1</selector>\n"
    "        <result>pass</result>\n"
    "      </dkim>\n"
    "      <spf>\n"
    "        <domain>example.org</domain>\n"
    "        <scope>mfrom</scope>\n"
    "        <result>pass</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>2001:db8::25</source_ip>\n"
    "      <count>1</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>quarantine</disposition>\n"
    "        <dkim>fail</dkim>\n"
    "        <spf>fail</spf>\n"
    "        <reason>\n"
    "          <type>local_policy</type>\n"
    "        </reason>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <header_from>a&amp;b&lt;c&gt;&quot;&apos;&#9;&#10;\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9</header_from>\n"
    "      <envelope_from></envelope_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <spf>\n"
    "        <domain>helo.example</domain>\n"
    "        <scope>helo</scope>\n"
    "        <result>fail</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "</feedback>\n";

/* The small report: example.org with two rows. */
static void
small_agg(struct dmarc_report_agg *a)
{
	struct dmarc_report_result r;

	dmarc_report_agg_init(a, 0, 0);
	base(&r);
	r.sp = DMARC_P_QUARANTINE;
	r.adkim_strict = true;
	assert_int_equal(dmarc_report_agg_add(a, &r), 0);
	assert_int_equal(dmarc_report_agg_add(a, &r), 0);
	strcpy(r.source_ip, "2001:db8::25");
	strcpy(r.header_from, "a&b<c>\"'\t\n\x01\xff\xc3\xa9");
	strcpy(r.envelope_from, "");
	strcpy(r.spf_domain, "helo.example");
	r.spf_helo = true;
	strcpy(r.spf_result, "fail");
	r.ndkim = 0;
	r.dmarc = DMARC_FAIL;
	r.dkim_aligned = r.spf_aligned = false;
	r.disposition = DMARC_P_QUARANTINE;
	r.reason = DMARC_REASON_LOCAL_POLICY;
	assert_int_equal(dmarc_report_agg_add(a, &r), 0);
	assert_int_equal(dmarc_report_agg_sort(a), 0);
}

static void
test_xml_exact(void **state)
{
	struct dmarc_report_agg a;
	struct buf x = BUF_INIT;

	(void)state;
	small_agg(&a);
	assert_int_equal(dmarc_report_xml(&meta, &a, &a.doms[0], &x), 0);
	assert_string_equal(buf_cstr(&x), expected_xml);
	buf_release(&x);
	dmarc_report_agg_release(&a);
}

static void
test_xml_reasons(void **state)
{
	struct dmarc_report_agg a;
	struct dmarc_report_result r;
	struct buf x = BUF_INIT;

	(void)state;
	dmarc_report_agg_init(&a, 0, 0);
	base(&r);
	r.testing = true;
	r.p = DMARC_P_UNSET;
	r.np = DMARC_P_REJECT;
	r.reason = DMARC_REASON_TEST_MODE;
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	r.reason = DMARC_REASON_SAMPLED_OUT;
	assert_int_equal(dmarc_report_agg_add(&a, &r), 0);
	assert_int_equal(a.nrows, 2);
	assert_int_equal(dmarc_report_xml(&meta, &a, &a.doms[0], &x), 0);
	assert_non_null(strstr(x.data, "<p>none</p>\n    <sp>none</sp>\n    <np>reject</np>\n"));
	assert_non_null(strstr(x.data, "<testing>y</testing>"));
	assert_non_null(strstr(x.data, "<type>policy_test_mode</type>"));
	assert_non_null(strstr(x.data, "<type>other</type>\n          <comment>"));
	buf_release(&x);
	dmarc_report_agg_release(&a);
}

/* Inflates a gzip stream (zlib, windowBits 15 + 32 detects the header). */
static void
gunzip(const char *in, size_t len, struct buf *out)
{
	z_stream z;
	char chunk[4096];
	int rc;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 32), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	do {
		z.next_out = (Bytef *)chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		assert_true(rc == Z_OK || rc == Z_STREAM_END);
		buf_append(out, chunk, sizeof(chunk) - z.avail_out);
	} while (rc != Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	inflateEnd(&z);
}

static int
b64val(char c)
{
	const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(al, c);

	return c && p ? (int)(p - al) : -1;
}

static void
b64_decode(const char *s, size_t len, struct buf *out)
{
	unsigned v = 0;
	int bits = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		int d = b64val(s[i]);

		if (d < 0)
			continue;
		v = v << 6 | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_char(out, (char)(v >> bits & 0xff));
		}
	}
}

static void
test_message(void **state)
{
	struct dmarc_report_agg a;
	struct buf x = BUF_INIT, msg = BUF_INIT, raw = BUF_INIT, xml = BUF_INIT;
	struct dmarc_report_mail m;
	const char *p, *body, *end, *line;
	char fname[512];

	(void)state;
	small_agg(&a);
	/* big enough for several base64 lines */
	assert_int_equal(dmarc_report_xml(&meta, &a, &a.doms[0], &x), 0);
	memset(&m, 0, sizeof(m));
	m.meta = &meta;
	m.policy_domain = "example.org";
	m.from = "dmarc-reports@receiver.example";
	m.to = "dmarc@example.org";
	m.now = 1767312000;
	m.xml = x.data;
	m.xml_len = x.len;
	assert_int_equal(dmarc_report_message(&m, &msg), 0);
	p = msg.data;
	assert_non_null(strstr(p, "From: <dmarc-reports@receiver.example>\r\n"));
	assert_non_null(strstr(p, "To: <dmarc@example.org>\r\n"));
	/* folded: it would be 104 characters on one line */
	assert_non_null(strstr(p, "Subject: Report Domain: example.org\r\n Submitter: receiver.example"
	    "\r\n Report-ID: <1767225600r0123456789abcdef>\r\n"));
	assert_non_null(strstr(p, "Date: Fri, 02 Jan 2026 00:00:00 +0000\r\n"));
	assert_non_null(strstr(p, "Message-ID: <1767225600r0123456789abcdef@receiver.example>\r\n"));
	assert_non_null(strstr(p, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(p, "Content-Type: multipart/mixed;"));
	assert_non_null(strstr(p, "Content-Type: text/plain"));
	assert_non_null(strstr(p, "Content-Type: application/gzip"));
	assert_int_equal(dmarc_report_filename(&meta, "example.org", fname, sizeof(fname)), 0);
	assert_string_equal(fname, "receiver.example!example.org!1767225600!1767311999!"
	    "1767225600r0123456789abcdef.xml.gz");
	assert_non_null(strstr(p, "filename=\"receiver.example!example.org!1767225600!"));
	/* CRLF only, no line past 998, header before the empty line */
	for (line = p; line < p + msg.len; line = end + 2) {
		end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 998);
		assert_null(memchr(line, '\n', (size_t)(end - line)));
	}
	/* the base64 body: lines of 76 but the last, and it decodes back */
	body = strstr(p, "Content-Transfer-Encoding: base64\r\n\r\n");
	assert_non_null(body);
	body += strlen("Content-Transfer-Encoding: base64\r\n\r\n");
	end = strstr(body, "\r\n\r\n--=_tern-dmarc-");
	assert_non_null(end);
	for (line = body; line < end; line += 78) {
		const char *e = strstr(line, "\r\n");

		assert_true(e - line == 76 || e == end);
		assert_true(e - line <= 76);
		if (e == end)
			break;
	}
	b64_decode(body, (size_t)(end - body), &raw);
	assert_true(raw.len > 18 && (unsigned char)raw.data[0] == 0x1f &&
	    (unsigned char)raw.data[1] == 0x8b);
	gunzip(raw.data, raw.len, &xml);
	assert_int_equal(xml.len, x.len);
	assert_memory_equal(xml.data, x.data, x.len);
	assert_non_null(strstr(p, "\r\n--=_tern-dmarc-1767225600r0123456789abcdef--\r\n"));

	/* header values that could break the header are refused */
	m.policy_domain = "example.org\r\nBcc: x@y.example";
	assert_int_equal(dmarc_report_message(&m, &msg), -1);
	m.policy_domain = "exa\"mple.org";
	assert_int_equal(dmarc_report_message(&m, &msg), -1);
	m.policy_domain = "example.org";
	m.to = "a@b.example>\r\nX: y";
	assert_int_equal(dmarc_report_message(&m, &msg), -1);
	m.to = "nobody";
	assert_int_equal(dmarc_report_message(&m, &msg), -1);
	buf_release(&x);
	buf_release(&msg);
	buf_release(&raw);
	buf_release(&xml);
	dmarc_report_agg_release(&a);
}

static void
test_gzip_large(void **state)
{
	struct buf in = BUF_INIT, gz = BUF_INIT, back = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 200000; i++)
		buf_printf(&in, "<row>%zu</row>\n", i * 7919 % 100003);
	assert_int_equal(dmarc_report_gzip(in.data, in.len, &gz), 0);
	assert_true(gz.len < in.len);
	gunzip(gz.data, gz.len, &back);
	assert_int_equal(back.len, in.len);
	assert_memory_equal(back.data, in.data, in.len);
	buf_reset(&gz);
	assert_int_equal(dmarc_report_gzip("", 0, &gz), 0);
	buf_reset(&back);
	gunzip(gz.data, gz.len, &back);
	assert_int_equal(back.len, 0);
	buf_release(&in);
	buf_release(&gz);
	buf_release(&back);
}

static void
test_report_id(void **state)
{
	char a[DMARC_REPORT_ID_MAX], b[DMARC_REPORT_ID_MAX];
	size_t i;

	(void)state;
	assert_int_equal(dmarc_report_id("receiver.example", "example.org", 1767225600, a, sizeof(a)), 0);
	assert_int_equal(dmarc_report_id("RECEIVER.example", "example.ORG", 1767225600, b, sizeof(b)), 0);
	assert_string_equal(a, b);
	for (i = 0; a[i]; i++)
		assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'z'));
	assert_int_equal(dmarc_report_id("receiver.example", "example.net", 1767225600, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(dmarc_report_id("receiver.example", "example.org", 1767312000, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(dmarc_report_id("r", "d", 1, b, 8), -1);
}

static void
test_rua(void **state)
{
	struct dmarc_report_uri u[4];
	size_t n, skipped;

	(void)state;
	dmarc_report_rua_parse("mailto:dmarc@example.org", u, 4, &n, &skipped);
	assert_int_equal(n, 1);
	assert_int_equal(skipped, 0);
	assert_string_equal(u[0].addr, "dmarc@example.org");
	assert_false(u[0].has_limit);
	assert_true(dmarc_report_uri_fits(&u[0], SIZE_MAX));

	dmarc_report_rua_parse(" mailto:a@b.example!10k ,https://x.example/r,"
	    "MAILTO:c%21d@e.example?subject=x,mailto:bad,mailto:f@g.example?subject=hi!1,"
	    "mailto:h@i.example!,mailto:j@k.example!5x,,mailto:l@m.example!0", u, 4, &n, &skipped);
	assert_int_equal(n, 4);
	assert_int_equal(skipped, 4);
	assert_string_equal(u[0].addr, "a@b.example");
	assert_true(u[0].has_limit);
	assert_int_equal(u[0].limit, 10240);
	assert_true(dmarc_report_uri_fits(&u[0], 10240));
	assert_false(dmarc_report_uri_fits(&u[0], 10241));
	/* the size follows the whole URI, the query part included */
	assert_string_equal(u[1].addr, "c!d@e.example");
	assert_false(u[1].has_limit);
	assert_string_equal(u[2].addr, "f@g.example");
	assert_int_equal(u[2].limit, 1);
	assert_string_equal(u[3].addr, "l@m.example");
	assert_true(u[3].has_limit);
	assert_false(dmarc_report_uri_fits(&u[3], 1));

	/* more than max: the rest skipped; a huge size saturates */
	dmarc_report_rua_parse("mailto:a@b.example!99999999999999999999999t,mailto:c@d.example",
	    u, 1, &n, &skipped);
	assert_int_equal(n, 1);
	assert_int_equal(skipped, 1);
	assert_int_equal(u[0].limit, UINT64_MAX);
	/* hostile addresses */
	dmarc_report_rua_parse("mailto:a%0d%0aBcc:x@b.example,mailto:a%00@b.example,"
	    "mailto:a b@c.example,mailto:a@[192.0.2.1],mailto:@b.example,mailto:a@,mailto:",
	    u, 4, &n, &skipped);
	for (size_t i = 0; i < n; i++)
		assert_null(strpbrk(u[i].addr, "\r\n "));
	dmarc_report_rua_parse("", u, 4, &n, NULL);
	assert_int_equal(n, 0);
}

static void
test_ext(void **state)
{
	char name[300];
	char longl[80], longn[300];

	(void)state;
	assert_int_equal(dmarc_report_ext_name("blue.example.com", "red.example.net",
	    name, sizeof(name)), 0);
	assert_string_equal(name, "blue.example.com._report._dmarc.red.example.net");
	assert_int_equal(dmarc_report_ext_name("blue.example.com.", "red.example.net.",
	    name, sizeof(name)), 0);
	assert_string_equal(name, "blue.example.com._report._dmarc.red.example.net");
	assert_int_equal(dmarc_report_ext_name("", "red.example.net", name, sizeof(name)), -1);
	assert_int_equal(dmarc_report_ext_name("a..b", "red.example.net", name, sizeof(name)), -1);
	assert_int_equal(dmarc_report_ext_name("a b", "red.example.net", name, sizeof(name)), -1);
	assert_int_equal(dmarc_report_ext_name("a.example", "[192.0.2.1]", name, sizeof(name)), -1);
	memset(longl, 'a', 64);
	longl[64] = '\0';
	assert_int_equal(dmarc_report_ext_name(longl, "red.example.net", name, sizeof(name)), -1);
	longl[63] = '\0';
	assert_int_equal(dmarc_report_ext_name(longl, "red.example.net", name, sizeof(name)), 0);
	/* 253 octets in all, and one more */
	snprintf(longn, sizeof(longn), "%s.%s.%s.%.36s", longl, longl, longl, longl);
	assert_int_equal(strlen(longn), 228);
	assert_int_equal(dmarc_report_ext_name(longn, "r.example", name, sizeof(name)), 0);
	assert_int_equal(strlen(name), 253);
	snprintf(longn, sizeof(longn), "%s.%s.%s.%.37s", longl, longl, longl, longl);
	assert_int_equal(dmarc_report_ext_name(longn, "r.example", name, sizeof(name)), -1);
	assert_int_equal(dmarc_report_ext_name("a.example", "r.example", name, 10), -1);

	assert_true(dmarc_report_ext_ok("v=DMARC1"));
	assert_true(dmarc_report_ext_ok("v=DMARC1;"));
	assert_true(dmarc_report_ext_ok("v=DMARC1; rua=mailto:x@red.example.net"));
	assert_false(dmarc_report_ext_ok("v=spf1 -all"));
	assert_false(dmarc_report_ext_ok("rua=mailto:x@y; v=DMARC1"));
	assert_false(dmarc_report_ext_ok(""));
	assert_false(dmarc_report_ext_ok("v=DMARC1x"));
}

static void
test_set_verdict(void **state)
{
	struct dmarc_verdict v;
	struct dmarc_report_result r;

	(void)state;
	memset(&v, 0, sizeof(v));
	memset(&r, 0, sizeof(r));
	v.result = DMARC_FAIL;
	v.policy = DMARC_P_QUARANTINE;
	strcpy(v.policy_domain, "example.org");
	v.rec.p = DMARC_P_REJECT;
	v.rec.pct = 50;
	v.rec.testing = true;
	strcpy(v.rec.rua, "mailto:x@example.org");
	v.spf_aligned = true;
	dmarc_report_set_verdict(&r, &v);
	assert_string_equal(r.policy_domain, "example.org");
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.pct, 50);
	assert_true(r.testing);
	assert_int_equal(r.disposition, DMARC_P_QUARANTINE);
	assert_int_equal(r.dmarc, DMARC_FAIL);
	assert_true(r.spf_aligned);
	assert_false(r.dkim_aligned);
	assert_string_equal(r.rua, "mailto:x@example.org");
	v.result = DMARC_PASS;
	dmarc_report_set_verdict(&r, &v);
	assert_int_equal(r.disposition, DMARC_P_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_exact),
		cmocka_unit_test(test_line_hostile),
		cmocka_unit_test(test_line_write_refuses),
		cmocka_unit_test(test_line_malformed),
		cmocka_unit_test(test_agg),
		cmocka_unit_test(test_agg_many),
		cmocka_unit_test(test_xml_exact),
		cmocka_unit_test(test_xml_reasons),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_gzip_large),
		cmocka_unit_test(test_report_id),
		cmocka_unit_test(test_rua),
		cmocka_unit_test(test_ext),
		cmocka_unit_test(test_set_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
