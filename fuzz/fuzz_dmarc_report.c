/*
 * fuzz_dmarc_report: the results line parser, and what is built on what
 * it accepts. The input is lines of a results file. Each line must parse
 * or be refused without harm; one that parses must write back as one
 * line of printable ASCII and tabs that parses to the same result. The
 * lines accepted are aggregated: the rows must add up to the lines, and
 * each domain's XML must be UTF-8 without a control octet but LF. A
 * report message, when one can be made, must keep every header line a
 * header line. The rua= of each line is split, and no address may carry
 * a space or a line end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dmarc_report.h"
#include "proto/smtp_addr.h"

#define MAX_LINES 32

static void
check_written(const struct dmarc_report_result *r)
{
	struct dmarc_report_result back;
	struct buf b = BUF_INIT;
	size_t i;

	CHECK(dmarc_report_line_write(r, &b) == 0);
	CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
	for (i = 0; i + 1 < b.len; i++)
		CHECK(b.data[i] == '\t' || (b.data[i] > 0x20 && b.data[i] < 0x7f));
	CHECK(dmarc_report_line_parse(b.data, b.len, &back) == 0);
	CHECK(memcmp(r, &back, sizeof(back)) == 0);
	buf_release(&b);
}

static void
check_rua(const char *rua)
{
	struct dmarc_report_uri u[4];
	size_t n, skipped, i;

	dmarc_report_rua_parse(rua, u, 4, &n, &skipped);
	CHECK(n <= 4);
	for (i = 0; i < n; i++) {
		CHECK(u[i].addr[0] != '\0' && strchr(u[i].addr, '@') != NULL);
		CHECK(strpbrk(u[i].addr, " \t\r\n") == NULL);
	}
}

/* Every line of the header is a field or its continuation. */
static void
check_message(const struct buf *m)
{
	const char *p = m->data, *end = m->data + m->len;

	while (p < end) {
		const char *e = strstr(p, "\r\n");

		CHECK(e != NULL);
		if (e == p)
			break;
		CHECK(*p == ' ' || memchr(p, ':', (size_t)(e - p)) != NULL);
		p = e + 2;
	}
	CHECK(p < end);
}

static void
check_reports(const struct dmarc_report_agg *a, size_t accepted)
{
	static const struct dmarc_report_meta meta = {
		"mx.example.net", "postmaster@example.net", "example.net",
		"1767225600r0123456789abcdef", 1767225600, 1767311999, "tern",
	};
	uint64_t rows = 0, msgs = 0;
	size_t i, k;

	for (i = 0; i < a->nrows; i++)
		rows += a->rows[i].count;
	for (i = 0; i < a->ndoms; i++) {
		const struct dmarc_report_domain *d = &a->doms[i];
		struct dmarc_report_mail m;
		struct buf x = BUF_INIT, msg = BUF_INIT;

		msgs += d->messages;
		CHECK(d->nrows > 0);
		CHECK(dmarc_report_agg_find(a, d->domain) == d);
		CHECK(dmarc_report_xml(&meta, a, d, &x) == 0);
		CHECK(smtp_utf8_valid(x.data, x.len));
		for (k = 0; k < x.len; k++)
			CHECK(x.data[k] == '\n' || ((unsigned char)x.data[k] >= 0x20 && x.data[k] != 0x7f));
		memset(&m, 0, sizeof(m));
		m.meta = &meta;
		m.policy_domain = d->domain;
		m.from = "dmarc@example.net";
		m.to = "rua@example.org";
		m.now = 1767312000;
		m.xml = x.data;
		m.xml_len = x.len;
		if (i == 0 && dmarc_report_message(&m, &msg) == 0)
			check_message(&msg);
		buf_release(&x);
		buf_release(&msg);
	}
	CHECK(rows == accepted && msgs == accepted);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size;
	struct dmarc_report_result *r = malloc(sizeof(*r));
	struct dmarc_report_agg a;
	size_t lines = 0, accepted = 0;
	char name[300];

	CHECK(r != NULL);
	dmarc_report_agg_init(&a, 0, 0);
	while (s < end && lines++ < MAX_LINES) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);

		if (dmarc_report_line_parse(s, len, r) == 0) {
			CHECK(r->ndkim <= DMARC_REPORT_DKIM_MAX);
			CHECK(r->header_from[0] && r->policy_domain[0]);
			check_written(r);
			check_rua(r->rua);
			if (dmarc_report_ext_name(r->policy_domain, r->header_from, name,
			    sizeof(name)) == 0)
				CHECK(strlen(name) <= 253 && strstr(name, "._report._dmarc.") != NULL);
			CHECK(dmarc_report_agg_add(&a, r) == 0);
			accepted++;
		}
		s += len;
	}
	CHECK(dmarc_report_agg_sort(&a) == 0);
	check_reports(&a, accepted);
	dmarc_report_agg_release(&a);
	free(r);
	return 0;
}
