/*
 * fuzz_spf: the SPF record grammar, the macro expander and check_host().
 *
 * The input's first line is an SPF record ("v=spf1 " is put in front when
 * it does not start so). It is walked term by term, each term's text
 * must lie inside the record, and every domain-spec or modifier value is
 * expanded in both modes, which must succeed for text that checked and
 * stay within the buffer (a target within 253 octets or refused by
 * spf_target_ok). Then the record is the TXT of example.com and the
 * further lines fill the rest of the zone, "NAME T DATA" with T one of
 *   A 6 (an address), M (an MX name), P (a PTR name), T (TXT text),
 *   N (NXDOMAIN), D (no data), E (DNS error),
 *   m p t (raw rdata for MX, PTR, TXT: DATA as it is);
 * names not given are NXDOMAIN. The first octet picks the client (IPv4,
 * IPv6 or IPv4-mapped). The verdict must be consistent and printable and
 * the Received-SPF field well formed.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "common/buf.h"
#include "proto/dnsq.h"
#include "proto/spf.h"
#include "proto/spf_record.h"

#define INPUT_MAX 8192
#define REPLAYS_MAX 400

static void
check_printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	for (; *s; s++)
		CHECK(*s >= 0x20 && *s <= 0x7e);
}

static void
macros(const char *s, size_t n)
{
	static const int modes[] = { 0, SPF_MACRO_DOMAIN, SPF_MACRO_EXP };
	struct spf_macros m;
	char out[SPF_TARGET_MAX], small[7];
	size_t i;

	memset(&m, 0, sizeof(m));
	m.val['s' - 'a'] = "strong-bad@email.example.com";
	m.val['l' - 'a'] = "strong-bad";
	m.val['o' - 'a'] = "email.example.com";
	m.val['d' - 'a'] = "email.example.com";
	m.val['i' - 'a'] = "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1";
	m.val['c' - 'a'] = "2001:db8::1";
	m.val['v' - 'a'] = "ip6";
	m.val['h' - 'a'] = "JUMPIN' JUPITER";
	m.val['p' - 'a'] = "unknown";
	m.val['r' - 'a'] = "mx.example.org";
	m.val['t' - 'a'] = "1400000000";
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (spf_macro_check(s, n, modes[i]) == -1)
			continue;
		CHECK(spf_macro_expand(s, n, &m, modes[i], out, sizeof(out)) == 0);
		CHECK(strlen(out) < sizeof(out));
		if (modes[i] == SPF_MACRO_DOMAIN) {
			CHECK(strlen(out) <= 253 || !spf_target_ok(out));
		} else {
			CHECK(spf_macro_expand(s, n, &m, modes[i], small, sizeof(small)) == 0);
			CHECK(strlen(small) < sizeof(small));
			CHECK(strncmp(out, small, strlen(small)) == 0);
		}
	}
}

static void
walk(const char *rec, size_t len)
{
	struct spf_term t;
	char why[128];
	size_t pos = 0, last = 0;
	int r, terms = 0;

	while ((r = spf_record_next(rec, len, &pos, &t, why, sizeof(why))) == 1) {
		CHECK(pos > last && pos <= len);
		last = pos;
		CHECK(t.text >= rec && t.text + t.textlen <= rec + len && t.textlen > 0);
		CHECK(t.qual == '+' || t.qual == '-' || t.qual == '~' || t.qual == '?');
		CHECK(t.cidr4 <= 32 && t.cidr6 <= 128);
		if (t.spec) {
			CHECK(t.spec >= t.text && t.spec + t.speclen <= t.text + t.textlen);
			macros(t.spec, t.speclen);
		}
		CHECK(++terms <= (int)len);
	}
	if (r == -1)
		check_printable(why, sizeof(why));
}

static int
type_of(char c)
{
	switch (c) {
	case 'A':
		return DNSQ_A;
	case '6':
		return DNSQ_AAAA;
	case 'M':
	case 'm':
		return DNSQ_MX;
	case 'P':
	case 'p':
		return DNSQ_PTR;
	default:
		return DNSQ_TXT;
	}
}

/* A dotted name to wire form; 0 if it does not fit. */
static size_t
wire_name(const char *name, uint8_t *out, size_t outsize)
{
	size_t o = 0, l;
	const char *p = name, *dot;

	while (*p) {
		dot = strchr(p, '.');
		l = dot ? (size_t)(dot - p) : strlen(p);
		if (l > 63 || o + l + 2 > outsize)
			return 0;
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.')
			p++;
	}
	if (o + 1 > outsize)
		return 0;
	out[o++] = 0;
	return o;
}

/* One zone line "NAME T DATA" into the cache. */
static void
zone_line(struct dnsq_cache *c, char *line)
{
	uint8_t rd[1100];
	const uint8_t *rr[1] = { rd };
	size_t len = 0, n;
	char *sp, *data;
	int type;

	if ((sp = strchr(line, ' ')) == NULL || sp[1] == '\0')
		return;
	*sp = '\0';
	data = sp + 2;
	if (*data == ' ')
		data++;
	type = type_of(sp[1]);
	if (!dnsq_name_ok(line))
		return;
	switch (sp[1]) {
	case 'N':
	case 'D':
	case 'E':
		(void)dnsq_put(c, line, type, sp[1] == 'N' ? DNSQ_NXDOMAIN :
		    sp[1] == 'D' ? DNSQ_NODATA : DNSQ_TEMP, NULL, NULL, 0);
		return;
	case 'A':
		if (inet_pton(AF_INET, data, rd) != 1)
			return;
		len = 4;
		break;
	case '6':
		if (inet_pton(AF_INET6, data, rd) != 1)
			return;
		len = 16;
		break;
	case 'M':
		rd[0] = 0;
		rd[1] = 10;
		if ((len = wire_name(data, rd + 2, sizeof(rd) - 2)) == 0)
			return;
		len += 2;
		break;
	case 'P':
		if ((len = wire_name(data, rd, sizeof(rd))) == 0)
			return;
		break;
	case 'T':
		n = strlen(data);
		if (n > 1000)
			return;
		do {
			size_t l = n > 255 ? 255 : n;

			rd[len++] = (uint8_t)l;
			memcpy(rd + len, data, l);
			len += l;
			data += l;
			n -= l;
		} while (n > 0);
		break;
	default:
		/* m p t: the data as raw rdata */
		if ((len = strlen(data)) > sizeof(rd))
			return;
		memcpy(rd, data, len);
		break;
	}
	(void)dnsq_put(c, line, type, DNSQ_OK, rr, &len, 1);
}

static void
evaluate(const char *rec, size_t reclen, char *rest, uint8_t pick)
{
	struct dnsq_cache c;
	struct spf_query q;
	struct spf_verdict v;
	struct buf field = BUF_INIT;
	uint8_t rd[SPF_RECORD_MAX + 64];
	const uint8_t *rr[1] = { rd };
	size_t len = 0, i, n = reclen;
	char *line, *next;
	int r = DNSQ_NEED;

	dnsq_init(&c);
	/* the record as one TXT record of 255-octet strings */
	for (i = 0; len + 256 < sizeof(rd); ) {
		size_t l = n - i > 255 ? 255 : n - i;

		rd[len++] = (uint8_t)l;
		memcpy(rd + len, rec + i, l);
		len += l;
		i += l;
		if (i >= n)
			break;
	}
	(void)dnsq_put(&c, "example.com", DNSQ_TXT, DNSQ_OK, rr, &len, 1);
	for (line = rest; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		zone_line(&c, line);
	}

	memset(&q, 0, sizeof(q));
	if (pick % 3 == 0) {
		q.family = AF_INET;
		inet_pton(AF_INET, "192.0.2.0", q.ip);
		q.ip[3] = pick;
	} else {
		q.family = AF_INET6;
		inet_pton(AF_INET6, pick % 3 == 1 ? "2001:db8::1" : "::ffff:192.0.2.1", q.ip);
		q.ip[15] = pick;
	}
	q.helo = "mail.example.org";
	q.sender = (pick & 0x40) ? "@example.com" : "user+tag@example.com";
	q.domain = "example.com";
	q.receiver = (pick & 0x80) ? NULL : "mx.example.net";
	q.now = 1400000000;
	for (i = 0; i < REPLAYS_MAX; i++) {
		c.need = false;
		if ((r = spf_check(&q, &c, &v)) != DNSQ_NEED)
			break;
		CHECK(c.need);
		CHECK(dnsq_put(&c, c.need_name, c.need_type, DNSQ_NXDOMAIN, NULL, NULL, 0) == 0);
	}
	/* at most 10 terms, 10 names each, and the record's own lookups */
	CHECK(r == 0);
	CHECK(v.result >= SPF_NONE && v.result <= SPF_PERMERROR);
	check_printable(v.mechanism, sizeof(v.mechanism));
	check_printable(v.explanation, sizeof(v.explanation));
	check_printable(v.problem, sizeof(v.problem));
	CHECK((v.result == SPF_TEMPERROR || v.result == SPF_PERMERROR) == (v.problem[0] != '\0'));
	CHECK(v.result == SPF_FAIL || v.explanation[0] == '\0');
	spf_received_field(&q, &v, (pick & 0x20) != 0, &field);
	CHECK(field.len > 2 && memcmp(field.data + field.len - 2, "\r\n", 2) == 0);
	for (i = 0; i < field.len; i++) {
		char ch = field.data[i];

		if (ch == '\r')
			CHECK(i + 2 < field.len ? field.data[i + 1] == '\n' && field.data[i + 2] == ' ' :
			    i + 2 == field.len);
		else if (ch != '\n')
			CHECK(ch >= 0x20 && ch <= 0x7e);
	}
	buf_release(&field);
	dnsq_release(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[INPUT_MAX + 1], rec[INPUT_MAX + 8];
	char *nl, *rest = NULL;
	size_t reclen, first;

	if (size == 0 || size > INPUT_MAX)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	first = (nl = memchr(in, '\n', size)) ? (size_t)(nl - in) : size;
	if (nl) {
		*nl = '\0';
		rest = nl + 1;
	}
	if (spf_record_is_spf(in, first)) {
		memcpy(rec, in, first);
		reclen = first;
	} else {
		memcpy(rec, "v=spf1 ", 7);
		memcpy(rec + 7, in, first);
		reclen = first + 7;
	}
	rec[reclen] = '\0';
	walk(rec, reclen);
	macros(in, first);
	if (reclen <= SPF_RECORD_MAX)
		evaluate(rec, reclen, rest, data[0]);
	return 0;
}
