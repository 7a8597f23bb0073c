/*
 * test_mime: the MIME part tree and its IMAP forms.
 *
 * The table is real-world shaped mail written for this test (simple
 * text, alternative, mixed with an attachment and every Content-*
 * field, nested message/rfc822, broken boundaries, missing headers,
 * 8-bit, encoded words, RFC 2231 parameters, route and group addresses,
 * a digest, a header without its end, a multipart without parts). Each
 * expected ENVELOPE and BODYSTRUCTURE is Dovecot 2.3's own answer: the
 * messages were put in a Maildir, /usr/lib/dovecot/imap run on it
 * preauthenticated (-o mail_location=maildir:DIR) and "FETCH n
 * (ENVELOPE BODYSTRUCTURE)" sent; the responses are pasted here
 * unchanged, byte for byte. Then offsets, limits and string quoting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mime.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct msg_case {
	const char *name;
	const char *msg;
	const char *envelope;
	const char *bodystructure;
};

static const struct msg_case cases[] = {
	{ "01_simple",
	    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
	    "Subject: afternoon meeting\r\n"
	    "To: mooch@owatagu.siam.edu.example\r\n"
	    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	    "\r\n"
	    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
	    "",
	    "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL \"<B27397-0100000@Blurdybloop.example>\")",
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 NIL NIL NIL NIL)" },
	{ "02_alt",
	    "From: \"Doe, Jane\" <jane@example.com>\n"
	    "To: a@example.com, \"B B\" <b@example.com>\n"
	    "Cc: undisclosed-recipients:;\n"
	    "Subject: =?UTF-8?Q?caf=C3=A9?=\n"
	    "Content-Type: multipart/alternative; boundary=\"XX\"\n"
	    "\n"
	    "preamble\n"
	    "--XX\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "caf=C3=A9\n"
	    "--XX\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "\n"
	    "<p>cafe</p>\n"
	    "--XX--\n"
	    "epilogue\n"
	    "",
	    "(NIL \"=?UTF-8?Q?caf=C3=A9?=\" ((\"Doe, Jane\" NIL \"jane\" \"example.com\")) ((\"Doe, Jane\" NIL \"jane\" \"example.com\")) ((\"Doe, Jane\" NIL \"jane\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")(\"B B\" NIL \"b\" \"example.com\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)",
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 9 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"XX\") NIL NIL NIL)" },
	{ "03_mixed",
	    "From: a@example.com\n"
	    "To: Team: x@example.com, y@example.com;, z@example.com\n"
	    "Subject: files\n"
	    "Content-Type: multipart/mixed; boundary=b1\n"
	    "\n"
	    "--b1\n"
	    "\n"
	    "text with default type\n"
	    "--b1\n"
	    "Content-Type: application/pdf; name=\"doc.pdf\"\n"
	    "Content-Disposition: attachment; filename=\"doc.pdf\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-ID: <id1@example.com>\n"
	    "Content-Description: a document\n"
	    "Content-Language: en, de\n"
	    "Content-Location: http://example.com/doc.pdf\n"
	    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	    "\n"
	    "JVBERi0xLjQK\n"
	    "--b1--\n"
	    "",
	    "(NIL \"files\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"Team\" NIL)(NIL NIL \"x\" \"example.com\")(NIL NIL \"y\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"z\" \"example.com\")) NIL NIL NIL NIL)",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 22 0 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"doc.pdf\") \"<id1@example.com>\" \"a document\" \"base64\" 12 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"doc.pdf\")) (\"en\" \"de\") \"http://example.com/doc.pdf\") \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)" },
	{ "04_nested",
	    "From: outer@example.com\n"
	    "Subject: fwd\n"
	    "Content-Type: multipart/mixed; boundary=\"o\"\n"
	    "\n"
	    "--o\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "see attached\n"
	    "--o\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "From: inner@example.com\n"
	    "To: x@example.org\n"
	    "Subject: inner\n"
	    "Content-Type: multipart/alternative; boundary=\"i\"\n"
	    "\n"
	    "--i\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "inner text\n"
	    "--i\n"
	    "Content-Type: text/html\n"
	    "\n"
	    "<b>x</b>\n"
	    "--i--\n"
	    "\n"
	    "--o--\n"
	    "",
	    "(NIL \"fwd\" ((NIL NIL \"outer\" \"example.com\")) ((NIL NIL \"outer\" \"example.com\")) ((NIL NIL \"outer\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 207 (NIL \"inner\" ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"i\") NIL NIL NIL) 14 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)" },
	{ "05_broken",
	    "From: a@example.com\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
	    "\n"
	    "--outer\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\n"
	    "\n"
	    "--inner\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "never closed\n"
	    "--outer\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "second\n"
	    "",
	    "(NIL NIL ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)" },
	{ "06_missing",
	    "Subject: no from\n"
	    "\n"
	    "body only\n"
	    "",
	    "(NIL \"no from\" NIL NIL NIL NIL NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL)" },
	{ "07_8bit",
	    "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
	    "Subject: caf\xc3""\xa9"" 8bit\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n"
	    "caf\xc3""\xa9""\n"
	    "",
	    "(NIL {10}\r\n"
	    "caf\xc3""\xa9"" 8bit ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.com\")) ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.com\")) ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 7 1 NIL NIL NIL NIL)" },
	{ "08_2231",
	    "From: a@example.com\n"
	    "Subject: rfc2231\n"
	    "Content-Type: application/octet-stream;\n"
	    " name*0=\"long\";\n"
	    " name*1=\"name.txt\"\n"
	    "Content-Disposition: attachment;\n"
	    " filename*=utf-8''%E2%82%AC.txt\n"
	    "\n"
	    "xx\n"
	    "",
	    "(NIL \"rfc2231\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(\"application\" \"octet-stream\" (\"name\" \"longname.txt\") NIL NIL \"7bit\" 4 NIL (\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC.txt\")) NIL NIL)" },
	{ "09_addr",
	    "From: <@route.example:user@example.com>\n"
	    "Sender: bad address\n"
	    "Reply-To: (comment) plain@example.com (Plain Name)\n"
	    "To: \"quoted local\"@example.com\n"
	    "In-Reply-To: <x@y>\n"
	    "Subject: routes\n"
	    "\n"
	    "\n"
	    "",
	    "(NIL \"routes\" ((NIL \"@route.example\" \"user\" \"example.com\")) ((\"bad address\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((\"Plain Name\" NIL \"plain\" \"example.com\")) ((NIL NIL \"quoted local\" \"example.com\")) NIL NIL \"<x@y>\" NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 1 NIL NIL NIL NIL)" },
	{ "10_digest",
	    "From: a@example.com\n"
	    "Content-Type: multipart/digest; boundary=d\n"
	    "\n"
	    "--d\n"
	    "\n"
	    "From: d1@example.com\n"
	    "Subject: d1\n"
	    "\n"
	    "one\n"
	    "--d\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "two\n"
	    "--d--\n"
	    "",
	    "(NIL NIL ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 40 (NIL \"d1\" ((NIL NIL \"d1\" \"example.com\")) ((NIL NIL \"d1\" \"example.com\")) ((NIL NIL \"d1\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)" },
	{ "11_nohdrend",
	    "From: a@example.com\n"
	    "Subject: no header end",
	    "(NIL \"no header end\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)" },
	{ "12_noparts",
	    "Content-Type: multipart/mixed; boundary=z\n"
	    "\n"
	    "no parts at all\n"
	    "",
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"z\") NIL NIL NIL)" },
	{ "13_addr2",
	    "From: foo\n"
	    "Sender: a@\n"
	    "Reply-To: Grp: a@b.example\n"
	    "To: <>, \"\" <x@y.example>, (only comment)\n"
	    "Cc: Name <a@b.example> (trailing), c@d.example (C D), \"E \\\"F\\\"\" <e@f.example>\n"
	    "Subject: =?utf-8?B?w6k=?= two\n"
	    " spaced   folded\n"
	    "Message-ID:\n"
	    " <folded@id>\n"
	    "Content-Type: text/plain; name*0*=utf-8''%E2; name*1*=%82%AC; format=flowed\n"
	    "\n"
	    "x\r\n"
	    "y\n"
	    "",
	    "(NIL {34}\r\n"
	    "=?utf-8?B?w6k=?= two spaced folded ((NIL NIL \"foo\" \"MISSING_DOMAIN\")) ((NIL NIL \"a\" \"MISSING_DOMAIN\")) ((NIL NIL \"Grp\" NIL)(NIL NIL \"a\" \"b.example\")(NIL NIL NIL NIL)) ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"x\" \"y.example\")) ((\"Name\" NIL \"a\" \"b.example\")(\"C D\" NIL \"c\" \"d.example\")({5}\r\n"
	    "E \"F\" NIL \"e\" \"f.example\")) NIL NIL \" <folded@id>\")",
	    "(\"text\" \"plain\" (\"format\" \"flowed\" \"name*\" \"utf-8''%E2%82%AC\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 2 NIL NIL NIL NIL)" },
};

static void
check_out(const char *name, const char *what, const struct buf *got,
    const char *want)
{
	if (got->len != strlen(want) || memcmp(got->data, want, got->len)) {
		print_error("%s %s:\n got: %.*s\nwant: %s\n", name, what,
		    (int)got->len, got->data, want);
		fail();
	}
}

static void
test_dovecot_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct mime_msg m;
		struct buf out = BUF_INIT;

		assert_int_equal(mime_parse(&m, cases[i].msg, strlen(cases[i].msg),
		    NULL), 0);
		assert_int_equal(mime_write_envelope(&m, 0, &out), 0);
		check_out(cases[i].name, "ENVELOPE", &out, cases[i].envelope);
		buf_reset(&out);
		assert_int_equal(mime_write_body(&m, 0, true, &out), 0);
		check_out(cases[i].name, "BODYSTRUCTURE", &out,
		    cases[i].bodystructure);
		buf_release(&out);
		mime_free(&m);
	}
}

/* Offsets of a nested message: headers, bodies, the line end before a
 * boundary left to the boundary. */
static void
test_offsets(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=o\r\n"
	    "\r\n"
	    "pre\r\n"
	    "--o\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: in\r\n"
	    "\r\n"
	    "inner body\r\n"
	    "--o--\r\n"
	    "epi\r\n";
	struct mime_msg m;
	const struct mime_part *p;
	const char *s;

	(void)state;
	assert_int_equal(mime_parse(&m, msg, sizeof(msg) - 1, NULL), 0);
	assert_int_equal(m.nparts, 3);
	p = &m.parts[0];
	assert_true(p->multipart);
	assert_int_equal(p->hdr_start, 0);
	assert_int_equal(p->body_start, strstr(msg, "pre") - msg);
	assert_int_equal(p->body_end, sizeof(msg) - 1);
	p = &m.parts[1];
	assert_true(p->message);
	assert_int_equal(p->parent, 0);
	s = strstr(msg, "Content-Type: message");
	assert_int_equal(p->hdr_start, s - msg);
	assert_int_equal(p->body_start, strstr(msg, "Subject") - msg);
	assert_int_equal(p->body_end, strstr(msg, "\r\n--o--") - msg);
	p = &m.parts[2];
	assert_int_equal(p->parent, 1);
	assert_int_equal(p->hdr_start, strstr(msg, "Subject") - msg);
	assert_int_equal(p->body_start, strstr(msg, "inner") - msg);
	assert_int_equal(p->body_end, strstr(msg, "\r\n--o--") - msg);
	assert_int_equal(p->body_vsize, strlen("inner body"));
	mime_free(&m);
}

/* Bare LFs count as CR LF in the sizes IMAP announces. */
static void
test_vsize(void **state)
{
	static const char msg[] = "Subject: x\n\na\nb\r\nc\n";
	struct mime_msg m;

	(void)state;
	assert_int_equal(mime_parse(&m, msg, sizeof(msg) - 1, NULL), 0);
	assert_int_equal(m.parts[0].body_vsize, 9);   /* a CRLF b CRLF c CRLF */
	assert_int_equal(m.parts[0].body_lines, 3);
	assert_int_equal(m.parts[0].hdr_vsize, 14);
	mime_free(&m);
}

/* Past the limits the rest is opaque, and still a valid BODYSTRUCTURE. */
static void
test_limits(void **state)
{
	static const char deep[] =
	    "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: multipart/mixed; boundary=c\n\n--c\n\nx\n--c--\n"
	    "--b--\n--a--\n";
	static const char many[] =
	    "Content-Type: multipart/mixed; boundary=a\n\n"
	    "--a\n\n1\n--a\n\n2\n--a\n\n3\n--a\n\n4\n--a--\n";
	struct mime_limits lim = { 2, 100 };
	struct mime_msg m;
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(mime_parse(&m, deep, sizeof(deep) - 1, &lim), 0);
	assert_true(m.truncated);
	assert_int_equal(m.nparts, 3);
	/* the third level is opaque: "--c LF LF x LF --c--", 13 octets
	 * and two bare LFs counted as CR LF */
	assert_int_equal(mime_write_body(&m, 0, false, &out), 0);
	assert_string_equal(buf_cstr(&out),
	    "(((\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 15) "
	    "\"mixed\") \"mixed\")");
	mime_free(&m);

	lim.max_depth = 10;
	lim.max_parts = 3;
	assert_int_equal(mime_parse(&m, many, sizeof(many) - 1, &lim), 0);
	assert_true(m.truncated);
	assert_int_equal(m.nparts, 3);
	assert_int_equal(m.parts[0].nchildren, 2);
	mime_free(&m);
	buf_release(&out);
}

static void
test_strings(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} t[] = {
		{ "abc", 3, "\"abc\"" },
		{ "", 0, "\"\"" },
		{ "a\"b", 3, "{3}\r\na\"b" },
		{ "a\\b", 3, "{3}\r\na\\b" },
		{ "caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9" },
		{ "a\r\nb", 4, "{4}\r\na\r\nb" },
		{ NULL, 0, "NIL" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		struct buf out = BUF_INIT;

		assert_int_equal(mime_write_string(&out, t[i].in, t[i].len), 0);
		assert_string_equal(buf_cstr(&out), t[i].want);
		buf_release(&out);
	}
}

/* BODY: the same without extension data. */
static void
test_body(void **state)
{
	struct mime_msg m;
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(mime_parse(&m, cases[1].msg, strlen(cases[1].msg),
	    NULL), 0);
	assert_int_equal(mime_write_body(&m, 0, false, &out), 0);
	assert_string_equal(buf_cstr(&out),
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	    "\"quoted-printable\" 9 0)(\"text\" \"html\" (\"charset\" "
	    "\"utf-8\") NIL NIL \"7bit\" 11 0) \"alternative\")");
	buf_release(&out);
	mime_free(&m);
}

/* What the fuzzer found: an enclosed message whose header's empty line
 * is the last line before the boundary, and a header cut by a boundary.
 * The line end before a boundary is the boundary's, so every part must
 * still lie inside its container. */
static void
test_containment(void **state)
{
	static const char *const msgs[] = {
	    "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
	    "Content-Type: message/rfc822\n\nFrom: a@b\n\n--o--\n",
	    "Content-Type: multipart/digest; boundary=d\n\n--d\n"
	    "Subject: x\n--d--\n",
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
	    "Content-Type: message/rfc822\r\n\r\nFrom: a@b\r\n--o--\r\n",
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < NELEM(msgs); i++) {
		struct mime_msg m;

		assert_int_equal(mime_parse(&m, msgs[i], strlen(msgs[i]), NULL), 0);
		for (k = 1; k < m.nparts; k++) {
			const struct mime_part *p = &m.parts[k];
			const struct mime_part *pp = &m.parts[p->parent];

			assert_true(p->hdr_start <= p->hdr_end);
			assert_true(p->body_start <= p->body_end);
			assert_true(p->hdr_start >= pp->body_start);
			assert_true(p->body_end <= pp->body_end);
		}
		mime_free(&m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_table),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_vsize),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_containment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
