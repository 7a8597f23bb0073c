/*
 * test_rfc5322: the streaming header scanner. It counts Received fields
 * (loop detection), notes Date and Message-ID, keeps the From value, and
 * finds the empty line that ends the header; none of it may depend on how
 * the octets arrive. Also the one definition of a field name, which the
 * scanner and the DKIM signer share, and the From address list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "proto/rfc5322.h"

#define S(lit) lit, sizeof(lit) - 1

struct expect {
	size_t received;
	bool mid, date, done;
	unsigned long long end_off;
};

/* Feeds in pieces of step octets (0: whole). */
static void
scan(const char *m, size_t n, size_t step, struct hdr_scan *h)
{
	size_t off = 0;

	hdr_scan_init(h);
	if (step == 0)
		step = n ? n : 1;
	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		hdr_scan_feed(h, m + off, k);
		off += k;
	}
	assert_true(h->pos == n);
	if (h->done)
		assert_true(h->end_off <= h->pos);
}

/* Everything a scan found; a and b read the same octets. */
static void
same(const struct hdr_scan *a, const struct hdr_scan *b)
{
	assert_int_equal(a->received, b->received);
	assert_int_equal(a->has_message_id, b->has_message_id);
	assert_int_equal(a->has_date, b->has_date);
	assert_int_equal(a->nfrom, b->nfrom);
	assert_int_equal(a->from_len, b->from_len);
	assert_memory_equal(a->from, b->from, a->from_len);
	assert_int_equal(a->from_long, b->from_long);
	assert_int_equal(a->msgid_len, b->msgid_len);
	assert_memory_equal(a->msgid, b->msgid, a->msgid_len);
	assert_int_equal(a->msgid_long, b->msgid_long);
	assert_int_equal(a->done, b->done);
	assert_true(a->pos == b->pos);
	if (a->done)
		assert_true(a->end_off == b->end_off);
	assert_int_equal(hdr_scan_at_line_start(a), hdr_scan_at_line_start(b));
	assert_int_equal(hdr_scan_cr_pending(a), hdr_scan_cr_pending(b));
}

/* Every chunk size, every two-piece and every three-piece split give
 * what feeding the whole gives, and that is e. */
static void
check(const char *m, size_t n, const struct expect *e)
{
	struct hdr_scan whole, h;
	size_t step, cut, cut2;

	scan(m, n, 0, &whole);
	assert_int_equal(whole.received, e->received);
	assert_int_equal(whole.has_message_id, e->mid);
	assert_int_equal(whole.has_date, e->date);
	assert_int_equal(whole.done, e->done);
	if (e->done)
		assert_int_equal(whole.end_off, e->end_off);
	for (step = 1; step <= n + 1; step++) {
		scan(m, n, step, &h);
		same(&whole, &h);
	}
	for (cut = 0; cut <= n; cut++) {
		hdr_scan_init(&h);
		hdr_scan_feed(&h, m, cut);
		hdr_scan_feed(&h, m + cut, n - cut);
		same(&whole, &h);
		for (cut2 = cut; cut2 <= n && n < 200; cut2++) {
			hdr_scan_init(&h);
			hdr_scan_feed(&h, m, cut);
			hdr_scan_feed(&h, m + cut, cut2 - cut);
			hdr_scan_feed(&h, m + cut2, n - cut2);
			same(&whole, &h);
		}
	}
}

static void
test_basic(void **state)
{
	static const char m[] =
	    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Received: from c by d; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "From: a@example.org\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <1@example.org>\r\n"
	    "\r\n"
	    "Received: in the body, not counted\r\n"
	    "Date: neither\r\n";
	struct expect e = { 2, true, true, true, 0 };

	(void)state;
	e.end_off = (unsigned long long)(strstr(m, "\r\n\r\n") + 2 - m);
	check(S(m), &e);
}

static void
test_received_byte_by_byte(void **state)
{
	struct buf m = BUF_INIT;
	struct hdr_scan h;
	size_t i, k;

	(void)state;
	/* many fields of different lengths so that boundaries fall everywhere */
	for (i = 0; i < 37; i++) {
		buf_printf(&m, "Received: from host%zu.example by mx", i);
		for (k = 0; k < i; k++)
			buf_append_char(&m, 'x');
		buf_append_str(&m, "\r\n");
		if (i % 5 == 0)
			buf_append_str(&m, "X-Other: y\r\n");
	}
	buf_append_str(&m, "\r\nbody\r\n");

	hdr_scan_init(&h);
	for (i = 0; i < m.len; i++)
		hdr_scan_feed(&h, m.data + i, 1);
	assert_int_equal(h.received, 37);
	assert_true(h.done);
	assert_true(h.end_off == m.len - 8);
	assert_true(h.pos == m.len);
	assert_false(h.has_date);
	assert_false(h.has_message_id);

	/* with empty feeds in between, too */
	hdr_scan_init(&h);
	for (i = 0; i < m.len; i++) {
		hdr_scan_feed(&h, m.data + i, 0);
		hdr_scan_feed(&h, m.data + i, 1);
	}
	assert_int_equal(h.received, 37);

	{
		struct expect e = { 37, false, false, true, m.len - 8 };

		check(m.data, m.len, &e);
	}
	buf_release(&m);
}

static void
test_case_and_names(void **state)
{
	static const char m[] =
	    "RECEIVED: a\r\n"
	    "received:b\r\n"
	    "ReCeIvEd:\r\n"
	    "Received-SPF: pass\r\n"     /* another field */
	    "X-Received: x\r\n"
	    "Receive: x\r\n"
	    "Receivedd: x\r\n"
	    "message-id: <x@y>\r\n"
	    "DATE: now\r\n"
	    "\r\n";
	struct expect e = { 3, true, true, true, sizeof(m) - 1 - 2 };

	(void)state;
	check(S(m), &e);
}

static void
test_folded_not_fields(void **state)
{
	static const char m[] =
	    "Subject: a long subject\r\n"
	    " Received: this is folded, not a field\r\n"
	    "\tReceived: nor this\r\n"
	    "Received: from x\r\n"
	    "  by y\r\n"
	    "\tReceived: folded again\r\n"
	    "X-Note:\r\n"
	    " Date: folded\r\n"
	    " Message-ID: folded\r\n"
	    "\r\n";
	struct expect e = { 1, false, false, true, sizeof(m) - 1 - 2 };

	(void)state;
	check(S(m), &e);
}

static void
test_end_offset(void **state)
{
	struct expect e = { 0, false, false, true, 0 };

	(void)state;
	/* no header at all: the empty line is the first thing */
	check(S("\r\nReceived: body\r\n"), &e);
	/* bare LF ends a header too */
	e.end_off = 6;
	check(S("A: b\r\n\nReceived: x\r\n"), &e);
	e.end_off = 0;
	check(S("\nbody"), &e);
	/* the empty line right at the end of the input */
	e.received = 1;
	e.end_off = 13;
	check(S("Received: x\r\n\r\n"), &e);

	/* no empty line yet: not done, still counting */
	{
		struct expect e2 = { 2, false, true, false, 0 };

		check(S("Received: a\r\nReceived: b\r\nDate: x\r\n"), &e2);
		check(S("Received: a\r\nReceived: b\r\nDate: x\r\n\r"), &e2);
	}
	/* CR at the start of a line, then not LF: not the end */
	{
		struct expect e3 = { 1, false, false, true, 0 };
		static const char m[] = "A: b\r\n\rX: c\r\nReceived: d\r\n\r\n";

		e3.end_off = sizeof(m) - 1 - 2;
		check(S(m), &e3);
	}
	/* after done, further octets change nothing but pos */
	{
		struct hdr_scan h;

		hdr_scan_init(&h);
		hdr_scan_feed(&h, S("Date: x\r\n\r\n"));
		assert_true(h.done);
		assert_true(h.end_off == 9);
		hdr_scan_feed(&h, S("Received: y\r\nMessage-ID: z\r\n\r\n"));
		assert_int_equal(h.received, 0);
		assert_false(h.has_message_id);
		assert_true(h.end_off == 9);
		assert_true(h.pos == 11 + 30);
	}
}

static void
test_date_and_message_id(void **state)
{
	struct expect e = { 0, false, false, true, 0 };

	(void)state;
	e.end_off = 21;
	check(S("From: a@example.org\r\n\r\n"), &e);
	e.date = true;
	e.end_off = 9;
	check(S("Date: x\r\n\r\n"), &e);
	e.date = false;
	e.mid = true;
	e.end_off = 15;
	check(S("Message-ID: x\r\n\r\n"), &e);
	/* WSP before the colon is the obsolete syntax (RFC 5322 §4.5): the
	 * same field */
	check(S("Date : x\r\n\r\n"), &(struct expect){ 0, false, true, true, 10 });
	check(S("Date\t \t:x\r\n\r\n"), &(struct expect){ 0, false, true, true, 11 });
	check(S("Date\r\n : x\r\n\r\n"), &(struct expect){ 0, false, true, true, 12 });
	/* not the names: no colon, WSP inside, a longer name */
	check(S("Message-ID\r\n\r\n"), &(struct expect){ 0, false, false, true, 12 });
	check(S("Da te: x\r\n\r\n"), &(struct expect){ 0, false, false, true, 10 });
	check(S("Message-IDs: x\r\n\r\n"), &(struct expect){ 0, false, false, true, 16 });
	check(S("Dates: x\r\n\r\n"), &(struct expect){ 0, false, false, true, 10 });
	/* very long names are truncated but never match by their prefix */
	check(S("Received-and-more-and-more: x\r\n\r\n"),
	    &(struct expect){ 0, false, false, true, 31 });
	check(S("message-id-0123456789abcdef: x\r\n\r\n"),
	    &(struct expect){ 0, false, false, true, 32 });
}


/*
 * The header split the way the DKIM signer splits it (a field runs to a
 * CRLF not followed by WSP), each field named by rfc5322_field_name():
 * how many are called name. The scanner must count the same.
 */
static unsigned
count_named(const char *m, size_t n, const char *name)
{
	size_t i = 0, start, colon, nl;
	unsigned k = 0;

	while (i < n) {
		if (n - i >= 2 && m[i] == '\r' && m[i + 1] == '\n')
			break;
		start = i;
		for (;;) {
			while (i < n && !(m[i] == '\r' && i + 1 < n && m[i + 1] == '\n'))
				i++;
			if (i + 2 < n && (m[i + 2] == ' ' || m[i + 2] == '\t')) {
				i += 2;
				continue;
			}
			break;
		}
		nl = rfc5322_field_name(m + start, i - start, &colon);
		if (nl == strlen(name) && strncasecmp(m + start, name, nl) == 0)
			k++;
		i = i < n ? i + 2 : n;
	}
	return k;
}

static const struct {
	const char *m;
	unsigned nfrom;
	const char *from;      /* the first From value, unfolded */
} from_cases[] = {
	{ "From: <a@example.org>\r\n\r\n", 1, " <a@example.org>" },
	{ "from:a@example.org\r\n\r\n", 1, "a@example.org" },
	/* obsolete syntax: WSP before the colon, folding there too */
	{ "From : \"CEO\" <ceo@example.org>\r\nFrom: <a@example.org>\r\n\r\n", 2,
	  " \"CEO\" <ceo@example.org>" },
	{ "From: <a@example.org>\r\nFROM\t:<ceo@example.org>\r\n\r\n", 2, " <a@example.org>" },
	{ "From\r\n :<b@example.org>\r\n\r\n", 1, "<b@example.org>" },
	{ "From \r\n\t\r\n : x\r\n\r\n", 1, " x" },
	/* a folded value, unfolded */
	{ "From: A\r\n <a@example.org>,\r\n\tb@example.org\r\n\r\n", 1,
	  " A <a@example.org>, b@example.org" },
	/* not From: no colon, other names, bad octets, a folded line */
	{ "From <a@example.org>\r\nSubject: x\r\n\r\n", 0, "" },
	{ "Fr om: x\r\n\r\n", 0, "" },
	{ "From\x01: x\r\n\r\n", 0, "" },
	{ "From\xc2\xa0: x\r\n\r\n", 0, "" },
	{ ":From: x\r\n\r\n", 0, "" },
	{ "X-From: x\r\nFromx: y\r\nResent-From: z\r\n\r\n", 0, "" },
	{ "Subject: x\r\n From: folded, not a field\r\n\r\n", 0, "" },
	{ "From\r\nFrom: <a@example.org>\r\n\r\n", 1, " <a@example.org>" },
	{ "From \r\nX: y\r\n\r\n", 0, "" },
	/* after the header: the body */
	{ "Subject: x\r\n\r\nFrom: <b@example.org>\r\n", 0, "" },
	{ "From\r\n\r\nFrom: <b@example.org>\r\n", 0, "" },
	/* three, and the first is the one kept */
	{ "From: 1\r\nFrom: 2\r\nfrom :3\r\n\r\n", 3, " 1" },
};

static void
test_from(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		const char *m = from_cases[i].m;
		size_t n = strlen(m);
		struct hdr_scan h;
		struct expect e = { 0, false, false, true, 0 };

		scan(m, n, 0, &h);
		if (h.nfrom != from_cases[i].nfrom || strcmp(h.from, from_cases[i].from) != 0)
			fail_msg("case %zu: %u From, \"%s\"", i, h.nfrom, h.from);
		assert_int_equal(h.from_len, strlen(h.from));
		assert_false(h.from_long);
		/* the signer's reading of the same header */
		assert_int_equal(count_named(m, n, "from"), h.nfrom);
		e.end_off = h.end_off;
		check(m, n, &e);
	}
}

/* A From value longer than the scan keeps is said to be so, not cut. */
static void
test_from_long(void **state)
{
	struct buf m = BUF_INIT;
	struct hdr_scan h;
	size_t i, fill;

	(void)state;
	for (fill = RFC5322_FROM_MAX - 2; fill <= RFC5322_FROM_MAX + 2; fill++) {
		buf_reset(&m);
		buf_append_str(&m, "From: ");
		/* folded every 70 octets: the fold is one octet, unfolded */
		for (i = 1; i < fill; i++)
			buf_append_str(&m, i % 70 ? "x" : "\r\n ");
		buf_append_str(&m, "\r\nSubject: after\r\n\r\n");
		scan(m.data, m.len, 0, &h);
		assert_int_equal(h.nfrom, 1);
		/* the value is " " and fill - 1 octets */
		assert_int_equal(h.from_long, fill > RFC5322_FROM_MAX);
		assert_int_equal(h.from_len, fill > RFC5322_FROM_MAX ? RFC5322_FROM_MAX : fill);
		assert_true(h.done);
		for (i = 0; i <= m.len; i += 97) {
			struct hdr_scan two;

			hdr_scan_init(&two);
			hdr_scan_feed(&two, m.data, i);
			hdr_scan_feed(&two, m.data + i, m.len - i);
			same(&h, &two);
		}
	}
	/* only the first From is kept, so only its length counts */
	buf_reset(&m);
	buf_append_str(&m, "From: a\r\nFrom: ");
	for (i = 0; i < 3 * RFC5322_FROM_MAX; i++)
		buf_append_str(&m, i % 70 ? "x" : "\r\n ");
	buf_append_str(&m, "\r\n\r\n");
	scan(m.data, m.len, 0, &h);
	assert_int_equal(h.nfrom, 2);
	assert_false(h.from_long);
	assert_string_equal(h.from, " a");
	buf_release(&m);
}

/* The first Message-ID's value for the log: unfolded, blanks trimmed;
 * none when empty or longer than RFC5322_MSGID_MAX. */
static const struct {
	const char *m;
	const char *want;   /* NULL: hdr_scan_message_id gives none */
} msgid_cases[] = {
	{ "Message-ID: <a@b>\r\n\r\n", "<a@b>" },
	{ "message-id:<a@b>\r\n\r\nMessage-ID: <body@x>\r\n", "<a@b>" },
	{ "Message-ID:  \t<a=b@c> \r\n\r\n", "<a=b@c>" },
	{ "Message-ID:\r\n <folded@x>\r\nFrom: f\r\n\r\n", "<folded@x>" },
	{ "Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n", "<first@x>" },
	{ "From: a\r\nMessage-ID: <m@x>\r\n (comment)\r\nSubject: s\r\n\r\n",
	  "<m@x> (comment)" },
	{ "Message-ID:   \r\n\r\n", NULL },
	{ "Subject: Message-ID: <no@x>\r\n\r\n", NULL },
	{ "X-Message-ID: <no@x>\r\n\r\n", NULL },
	{ "Message-ID: <cut", "<cut" },
};

static void
test_message_id(void **state)
{
	struct buf m = BUF_INIT;
	struct hdr_scan h;
	const char *v;
	size_t i, n, len = 0;
	struct expect e;

	(void)state;
	for (i = 0; i < sizeof(msgid_cases) / sizeof(msgid_cases[0]); i++) {
		n = strlen(msgid_cases[i].m);
		scan(msgid_cases[i].m, n, 0, &h);
		v = hdr_scan_message_id(&h, &len);
		if (msgid_cases[i].want == NULL)
			assert_null(v);
		else {
			assert_non_null(v);
			assert_int_equal(len, strlen(msgid_cases[i].want));
			assert_memory_equal(v, msgid_cases[i].want, len);
		}
		e = (struct expect){ h.received, h.has_message_id, h.has_date, h.done, h.end_off };
		check(msgid_cases[i].m, n, &e);
	}
	/* at the limit kept, one over not logged at all */
	for (n = RFC5322_MSGID_MAX - 1; n <= RFC5322_MSGID_MAX + 1; n++) {
		buf_reset(&m);
		buf_append_str(&m, "Message-ID: <");
		for (i = 0; i + 3 < n; i++)
			buf_append_char(&m, 'x');
		buf_append_str(&m, ">\r\n\r\n");
		scan(m.data, m.len, 0, &h);
		/* the value is " <", n - 3 octets and ">": n octets */
		v = hdr_scan_message_id(&h, &len);
		assert_int_equal(v != NULL, n <= RFC5322_MSGID_MAX);
		if (v)
			assert_int_equal(len, n - 1);
	}
	buf_release(&m);
}

/* Where fields go when the header ends: before the CR of the empty line,
 * which hdr_scan_cr_pending() says may be the last octet fed. */
static void
test_line_state(void **state)
{
	static const struct {
		const char *m;
		bool bol, cr;
	} cases[] = {
		{ "", true, false },
		{ "From: a\r\n", true, false },
		{ "From: a\r\n\r", false, true },
		{ "From: a\r", false, false },
		{ "From: a", false, false },
		{ "From", false, false },
		{ "From\r\n", true, false },         /* a line, not a field */
		{ "From\r\n\r", false, true },
		{ "From \r\n", true, false },
		{ "From \r", false, false },
		{ "\r", false, true },
		{ "A: b\r\n\rX", false, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hdr_scan h;

		scan(cases[i].m, strlen(cases[i].m), 0, &h);
		if (hdr_scan_at_line_start(&h) != cases[i].bol ||
		    hdr_scan_cr_pending(&h) != cases[i].cr)
			fail_msg("case %zu \"%s\"", i, cases[i].m);
	}
}

static void
test_field_name(void **state)
{
	static const struct {
		const char *f;
		size_t nlen, colon;
	} cases[] = {
		{ "From: x", 4, 4 },
		{ "From:", 4, 4 },
		{ "From :x", 4, 5 },
		{ "From\t \t: x", 4, 7 },
		{ "From\r\n : x", 4, 7 },
		{ "From \r\n\t\r\n :", 4, 11 },
		{ "X-A!#$%&'*+-/=?^_`{|}~9: y", 23, 23 },
		{ "a:b:c", 1, 1 },
		/* not fields */
		{ "", 0, 0 },
		{ ": x", 0, 0 },
		{ " From: x", 0, 0 },
		{ "\tFrom: x", 0, 0 },
		{ "From", 0, 0 },
		{ "From ", 0, 0 },
		{ "From x: y", 0, 0 },
		{ "From\r: x", 0, 0 },
		{ "From\n: x", 0, 0 },
		{ "From\r\n: x", 0, 0 },       /* CR LF not before WSP: no folding */
		{ "From\r\nx: y", 0, 0 },
		{ "Fr\x7fom: x", 0, 0 },
		{ "Fr\x80om: x", 0, 0 },
		{ "From\xc2\xa0: x", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t colon = 12345, nl;

		nl = rfc5322_field_name(cases[i].f, strlen(cases[i].f), &colon);
		if (nl != cases[i].nlen || (nl && colon != cases[i].colon))
			fail_msg("case %zu \"%s\": %zu, colon %zu", i, cases[i].f, nl, colon);
		if (nl)
			assert_int_equal(cases[i].f[colon], ':');
	}
	/* only len octets are read */
	{
		size_t colon;

		assert_int_equal(rfc5322_field_name("From: x", 4, &colon), 0);
		assert_int_equal(rfc5322_field_name("From: x", 5, &colon), 4);
	}
}

/* The addresses of a From value, in order, then END or BAD. */
static void
addresses(const char *v, size_t outsize, const char *const *want, enum rfc5322_addr last)
{
	char out[300];
	size_t pos = 0, k = 0;
	enum rfc5322_addr r;

	assert_true(outsize <= sizeof(out));
	while ((r = rfc5322_next_address(v, strlen(v), &pos, out, outsize)) == RFC5322_ADDR_OK) {
		if (want[k] == NULL || strcmp(out, want[k]) != 0)
			fail_msg("\"%s\": address %zu is \"%s\"", v, k, out);
		k++;
		assert_true(pos <= strlen(v));
	}
	if (want[k] != NULL || r != last)
		fail_msg("\"%s\": stopped after %zu with %d", v, k, r);
	/* and it stays stopped */
	assert_int_equal(pos, strlen(v));
	assert_int_equal(rfc5322_next_address(v, strlen(v), &pos, out, outsize), RFC5322_ADDR_END);
}

#define A(...) (const char *const[]){ __VA_ARGS__, NULL }
#define NONE (const char *const[]){ NULL }

static void
test_next_address(void **state)
{
	(void)state;
	addresses("<a@b>", 257, A("a@b"), RFC5322_ADDR_END);
	addresses(" \"Name, <x@y>\" <a@b>, c@d (c <e@f>)", 257, A("a@b", "c@d"), RFC5322_ADDR_END);
	addresses("Us: <a@b>, c@d;", 257, A("a@b", "c@d"), RFC5322_ADDR_END);
	addresses("Name <a@b>", 257, A("a@b"), RFC5322_ADDR_END);
	addresses("w@x <a@b>", 257, A("w@x", "a@b"), RFC5322_ADDR_END);
	addresses("no address", 257, NONE, RFC5322_ADDR_END);
	addresses("", 257, NONE, RFC5322_ADDR_END);
	addresses("(a (nested) comment) a@b", 257, A("a@b"), RFC5322_ADDR_END);
	addresses("\"q\\\"uote\" <a@b>", 257, A("a@b"), RFC5322_ADDR_END);
	/* too long for out: BAD, not the end of the list */
	addresses("<a@b>, <0123456789@b>, <c@d>", 12, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, 0123456789@b, c@d", 12, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, <012345678@b>", 12, A("a@b", "012345678@b"), RFC5322_ADDR_END);
	/* unterminated: what follows was not read */
	addresses("<a@b>, \"<c@d>", 257, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, \"x\\", 257, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, (<c@d>", 257, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, ((x) <c@d>", 257, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, (x\\", 257, A("a@b"), RFC5322_ADDR_BAD);
	addresses("<a@b>, <c@d", 257, A("a@b"), RFC5322_ADDR_BAD);
}

static void
test_date(void **state)
{
	static const struct { const char *in; bool ok; int64_t t; } cases[] = {
		{ "Tue, 1 Dec 2026 07:00:00 +0000", true, 1796108400 },
		{ "1 Dec 2026 08:00:00 +0100", true, 1796108400 },
		{ "Tue,  1 Dec 2026 02:00:00 -0500 (EST)", true, 1796108400 },
		{ "Tue, 01 Dec 26 07:00 GMT", true, 1796108400 },
		{ "1 December 2026 02:00:00 EST", true, 1796108400 },
		{ " (comment) Thu, 1 Jan 1970 00:00:00 +0000", true, 0 },
		{ "Sat, 29 Feb 2020 23:59:60 +0000", true, 1583020800 },
		{ "1 Jan 99 00:00:00 +0000", true, 915148800 },
		{ "", false, 0 },
		{ "Tue,", false, 0 },
		{ "1 Foo 2026 07:00:00 +0000", false, 0 },
		{ "1 Dec 2026 25:00:00 +0000", false, 0 },
		{ "1 Dec 2026 07", false, 0 },
		{ "32 Dec 2026 07:00 +0000", false, 0 },
		{ "1 Dec 2026 07:00 +01", false, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -1;
		bool ok = rfc5322_date_parse(cases[i].in, strlen(cases[i].in), &t);

		if (ok != cases[i].ok || (ok && t != cases[i].t))
			fail_msg("case %zu \"%s\": %d %lld", i, cases[i].in, ok, (long long)t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_received_byte_by_byte),
		cmocka_unit_test(test_case_and_names),
		cmocka_unit_test(test_folded_not_fields),
		cmocka_unit_test(test_end_offset),
		cmocka_unit_test(test_date_and_message_id),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_from_long),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_line_state),
		cmocka_unit_test(test_field_name),
		cmocka_unit_test(test_next_address),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
