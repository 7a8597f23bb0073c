/*
 * test_dns_rdata: MX record data (RFC 1035 §3.3.9) from libunbound's
 * uncompressed wire format. A valid exchange comes out dotted without the
 * final dot, the root (a null MX, RFC 7505) as "", and everything else is
 * refused: truncation, long labels, odd octets, compression pointers,
 * trailing bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dns_rdata.h"

#define S(lit) (const unsigned char *)lit, sizeof(lit) - 1

/* Builds MX rdata: preference, then the dotted name in wire form. */
static size_t
mx_wire(unsigned char *out, int pref, const char *name)
{
	size_t o = 2;
	const char *p = name;

	out[0] = (unsigned char)(pref >> 8);
	out[1] = (unsigned char)pref;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		out[o++] = (unsigned char)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.')
			p++;
	}
	out[o++] = 0;
	return o;
}

static void
test_mx_valid(void **state)
{
	unsigned char rd[600];
	char name[DNS_NAME_MAX + 1];
	int pref = -1;
	size_t n;

	(void)state;
	n = mx_wire(rd, 10, "mx1.example.org");
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(name, "mx1.example.org");

	n = mx_wire(rd, 65535, "A-b_c.EXAMPLE9.net");
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 65535);
	assert_string_equal(name, "A-b_c.EXAMPLE9.net");

	n = mx_wire(rd, 0x0102, "localhost");
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 258);
	assert_string_equal(name, "localhost");

	/* the raw bytes, as libunbound hands them over */
	assert_int_equal(dns_rdata_mx(S("\x00\x05\x02mx\x07" "example\x03" "com\x00"),
	    &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 5);
	assert_string_equal(name, "mx.example.com");

	/* dns_name_to_text reports the octets used */
	assert_int_equal(dns_name_to_text(S("\x02mx\x03org\x00" "trailing"), name,
	    sizeof(name)), 8);
	assert_string_equal(name, "mx.org");
}

static void
test_mx_null(void **state)
{
	char name[DNS_NAME_MAX + 1] = "junk";
	int pref = -1;

	(void)state;
	/* RFC 7505: preference 0, exchange "." */
	assert_int_equal(dns_rdata_mx(S("\x00\x00\x00"), &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 0);
	assert_string_equal(name, "");
	assert_int_equal(dns_name_to_text(S("\x00"), name, sizeof(name)), 1);
	assert_string_equal(name, "");
	/* even with a one-byte output */
	assert_int_equal(dns_name_to_text(S("\x00"), name, 1), 1);
	assert_string_equal(name, "");
}

static void
test_mx_truncated(void **state)
{
	unsigned char rd[600];
	char name[DNS_NAME_MAX + 1];
	int pref;
	size_t n, cut;

	(void)state;
	n = mx_wire(rd, 10, "mx1.example.org");
	/* every proper prefix is refused */
	for (cut = 0; cut < n; cut++)
		assert_int_equal(dns_rdata_mx(rd, cut, &pref, name, sizeof(name)), -1);
	/* trailing octets after the name too */
	rd[n] = 'x';
	assert_int_equal(dns_rdata_mx(rd, n + 1, &pref, name, sizeof(name)), -1);
	/* a label running past the end */
	assert_int_equal(dns_rdata_mx(S("\x00\x01\x05" "ab"), &pref, name, sizeof(name)), -1);
	assert_int_equal(dns_rdata_mx(S("\x00\x01\x02" "ab"), &pref, name, sizeof(name)), -1);
	assert_int_equal(dns_name_to_text(S(""), name, sizeof(name)), -1);
}

static void
test_label_length(void **state)
{
	unsigned char rd[600];
	char label[80], nm[200], name[DNS_NAME_MAX + 1];
	int pref;
	size_t n;

	(void)state;
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(nm, sizeof(nm), "%s.org", label);
	n = mx_wire(rd, 1, nm);
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), 0);
	assert_string_equal(name, nm);

	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(nm, sizeof(nm), "%s.org", label);
	n = mx_wire(rd, 1, nm);
	assert_int_equal(rd[2], 64);
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), -1);

	/* a name longer than DNS_NAME_MAX in text is refused */
	{
		unsigned char w[600];
		size_t o = 2, i;

		w[0] = 0;
		w[1] = 1;
		for (i = 0; i < 5; i++) {       /* 5 * 64 octets: 5*63 + 4 dots = 319 */
			w[o++] = 63;
			memset(w + o, 'b', 63);
			o += 63;
		}
		w[o++] = 0;
		assert_int_equal(dns_rdata_mx(w, o, &pref, name, sizeof(name)), -1);
	}
	/* and a small output buffer */
	n = mx_wire(rd, 1, "mx.example.org");
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, 14), -1);
	assert_int_equal(dns_rdata_mx(rd, n, &pref, name, 15), 0);
	assert_string_equal(name, "mx.example.org");
	assert_int_equal(dns_name_to_text(rd + 2, n - 2, name, 0), -1);
}

static void
test_bad_chars(void **state)
{
	static const char *const bad[] = {
		"m x.org", "mx\x01.org", "mx/.org", "mx\x80.org", "m\xff.org",
		"mx;.org", "mx..org", "m\".org", "m\\.org", "m*.org", "m@x.org",
	};
	unsigned char rd[600];
	char name[DNS_NAME_MAX + 1];
	int pref;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* "mx..org": an empty label ends the name early, rest is junk */
		n = mx_wire(rd, 1, bad[i]);
		assert_int_equal(dns_rdata_mx(rd, n, &pref, name, sizeof(name)), -1);
	}
	/* a dot inside a label */
	assert_int_equal(dns_rdata_mx(S("\x00\x01\x04mx.a\x00"), &pref, name, sizeof(name)), -1);
	/* NUL inside a label */
	assert_int_equal(dns_rdata_mx(S("\x00\x01\x03m\x00x\x00"), &pref, name, sizeof(name)), -1);
}

static void
test_compression_refused(void **state)
{
	char name[DNS_NAME_MAX + 1];
	int pref;
	unsigned l;

	(void)state;
	/* a pointer to offset 12, as in a DNS message */
	assert_int_equal(dns_rdata_mx(S("\x00\x0a\xc0\x0c"), &pref, name, sizeof(name)), -1);
	/* a label, then a pointer */
	assert_int_equal(dns_rdata_mx(S("\x00\x0a\x02mx\xc0\x0c"), &pref, name, sizeof(name)), -1);
	/* the reserved label types 01 and 10 (RFC 6891) */
	assert_int_equal(dns_rdata_mx(S("\x00\x0a\x41" "a\x00"), &pref, name, sizeof(name)), -1);
	assert_int_equal(dns_rdata_mx(S("\x00\x0a\x80" "a\x00"), &pref, name, sizeof(name)), -1);
	/* every length byte above 63 */
	for (l = 64; l < 256; l++) {
		unsigned char w[300];

		memset(w, 'a', sizeof(w));
		w[0] = 0;
		w[1] = 1;
		w[2] = (unsigned char)l;
		w[3 + (l & 0x3f)] = 0;
		assert_int_equal(dns_rdata_mx(w, 4 + (l & 0x3f), &pref, name, sizeof(name)), -1);
		w[3 + l] = 0;
		assert_int_equal(dns_rdata_mx(w, 4 + l, &pref, name, sizeof(name)), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_valid),
		cmocka_unit_test(test_mx_null),
		cmocka_unit_test(test_mx_truncated),
		cmocka_unit_test(test_label_length),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_compression_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
