/*
 * test_rfc5322: the streaming header scanner. It counts Received fields
 * (loop detection), notes Date and Message-ID, and finds the empty line
 * that ends the header; none of it may depend on how the octets arrive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Every chunk size and every two-piece split give the same result. */
static void
check(const char *m, size_t n, const struct expect *e)
{
	struct hdr_scan h;
	size_t step, cut;

	for (step = 0; step <= n + 1; step++) {
		scan(m, n, step, &h);
		assert_int_equal(h.received, e->received);
		assert_int_equal(h.has_message_id, e->mid);
		assert_int_equal(h.has_date, e->date);
		assert_int_equal(h.done, e->done);
		if (e->done)
			assert_int_equal(h.end_off, e->end_off);
	}
	for (cut = 0; cut <= n; cut++) {
		hdr_scan_init(&h);
		hdr_scan_feed(&h, m, cut);
		hdr_scan_feed(&h, m + cut, n - cut);
		assert_int_equal(h.received, e->received);
		assert_int_equal(h.has_message_id, e->mid);
		assert_int_equal(h.has_date, e->date);
		assert_int_equal(h.done, e->done);
		if (e->done)
			assert_int_equal(h.end_off, e->end_off);
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
	/* not the names: no colon, a space before the colon (obsolete
	 * syntax, not recognized), a longer name */
	check(S("Message-ID\r\n\r\n"), &(struct expect){ 0, false, false, true, 12 });
	check(S("Date : x\r\n\r\n"), &(struct expect){ 0, false, false, true, 10 });
	check(S("Message-IDs: x\r\n\r\n"), &(struct expect){ 0, false, false, true, 16 });
	check(S("Dates: x\r\n\r\n"), &(struct expect){ 0, false, false, true, 10 });
	/* very long names are truncated but never match by their prefix */
	check(S("Received-and-more-and-more: x\r\n\r\n"),
	    &(struct expect){ 0, false, false, true, 31 });
	check(S("message-id-0123456789abcdef: x\r\n\r\n"),
	    &(struct expect){ 0, false, false, true, 32 });
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
