/*
 * test_mime: the MIME part tree and its IMAP forms.
 *
 * The table is real-world shaped mail written for this test (simple
 * text, alternative, mixed with an attachment and every Content-*
 * field, nested message/rfc822, broken boundaries, missing headers,
 * 8-bit, encoded words, RFC 2231 parameters, route and group addresses,
 * a digest, a header without its end, a multipart without parts,
 * message/global, RFC 2231 sections mixing encoded and plain, a boundary
 * that begins with another). Each
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
	{ "14_global",
	    "From: a@example.com\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b b\"\r\n"
	    "Content-Language: fr\r\n"
	    "Content-Disposition: inline\r\n"
	    "\r\n"
	    "--b b  \r\n"
	    "Content-Type: message/global\r\n"
	    "\r\n"
	    "From: =?utf-8?Q?x?= <\xc3""\xa9""@example.com>\r\n"
	    "Subject: \xc3""\xa9""\r\n"
	    "\r\n"
	    "body\r\n"
	    "--b b--\r\n"
	    "",
	    "(NIL NIL ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "((\"message\" \"global\" NIL NIL NIL \"7bit\" 57 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b b\") (\"inline\" NIL) (\"fr\") NIL)" },
	{ "15_mix2231",
	    "From: a@example.com\n"
	    "Content-Type: text/plain; title*0*=us-ascii'en'This%20is; title*1=\" fun\"; title*2*=%2A; Charset=\"ISO-8859-1\"\n"
	    "Content-Type: text/html\n"
	    "\n"
	    "x",
	    "(NIL NIL ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"Charset\" \"ISO-8859-1\" \"title*\" \"us-ascii'en'This%20is fun%2A\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)" },
	{ "16_prefix",
	    "From: a@example.com\n"
	    "Content-Type: multipart/mixed; boundary=a\n"
	    "\n"
	    "--a\n"
	    "Content-Type: multipart/mixed; boundary=aa\n"
	    "\n"
	    "--aa\n"
	    "\n"
	    "inner\n"
	    "--aa--\n"
	    "--a\n"
	    "\n"
	    "second\n"
	    "--a--\n"
	    "",
	    "(NIL NIL ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"aa\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"a\") NIL NIL NIL)" },
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

/*
 * BODY[section]: each row is a message of the table, a section as a
 * client writes it, and Dovecot's answer (BODY.PEEK[section] fetched as
 * for the table), which the range must give once its bare LFs are made
 * CR LF, as the session sends it.
 */
static const struct {
	size_t msg;
	const char *spec;
	const char *want;
} sections[] = {
	{ 3, "", "From: outer@example.com\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nTo: x@example.org\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--i--\r\n\r\n--o--\r\n" },
	{ 3, "1", "see attached" },
	{ 3, "2", "From: inner@example.com\r\nTo: x@example.org\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--i--\r\n" },
	{ 3, "2.HEADER", "From: inner@example.com\r\nTo: x@example.org\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n" },
	{ 3, "2.TEXT", "--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--i--\r\n" },
	{ 3, "2.1", "inner text" },
	{ 3, "2.1.MIME", "Content-Type: text/plain\r\n\r\n" },
	{ 3, "2.2", "<b>x</b>" },
	{ 3, "2.MIME", "Content-Type: message/rfc822\r\n\r\n" },
	{ 3, "3", "" },
	{ 3, "1.HEADER", "" },
	{ 3, "1.1", "see attached" },
	{ 3, "HEADER.FIELDS (FROM subject)", "From: outer@example.com\r\nSubject: fwd\r\n\r\n" },
	{ 3, "HEADER.FIELDS.NOT (From)", "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n" },
	{ 3, "TEXT", "--o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.com\r\nTo: x@example.org\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--i--\r\n\r\n--o--\r\n" },
	{ 3, "HEADER", "From: outer@example.com\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n" },
	{ 3, "2.HEADER.FIELDS (to)", "To: x@example.org\r\n\r\n" },
	{ 3, "2.1.1", "inner text" },
	{ 3, "1.MIME", "Content-Type: text/plain\r\n\r\n" },
	{ 3, "1.TEXT", "" },
	{ 0, "", "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n" },
	{ 0, "1", "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n" },
	{ 0, "2", "" },
	{ 0, "2.HEADER", "" },
	{ 0, "2.TEXT", "" },
	{ 0, "2.1", "" },
	{ 0, "2.1.MIME", "" },
	{ 0, "2.2", "" },
	{ 0, "2.MIME", "" },
	{ 0, "3", "" },
	{ 0, "1.HEADER", "" },
	{ 0, "1.1", "" },
	{ 0, "HEADER.FIELDS (FROM subject)", "From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\n" },
	{ 0, "HEADER.FIELDS.NOT (From)", "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" },
	{ 0, "TEXT", "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n" },
	{ 0, "HEADER", "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" },
	{ 0, "2.HEADER.FIELDS (to)", "" },
	{ 0, "2.1.1", "" },
	{ 0, "1.MIME", "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n" },
	{ 0, "1.TEXT", "" },
	{ 10, "", "From: a@example.com\r\nSubject: no header end" },
	{ 10, "1", "" },
	{ 10, "2", "" },
	{ 10, "2.HEADER", "" },
	{ 10, "2.TEXT", "" },
	{ 10, "2.1", "" },
	{ 10, "2.1.MIME", "" },
	{ 10, "2.2", "" },
	{ 10, "2.MIME", "" },
	{ 10, "3", "" },
	{ 10, "1.HEADER", "" },
	{ 10, "1.1", "" },
	{ 10, "HEADER.FIELDS (FROM subject)", "From: a@example.com\r\nSubject: no header end\r\n" },
	{ 10, "HEADER.FIELDS.NOT (From)", "Subject: no header end" },
	{ 10, "TEXT", "" },
	{ 10, "HEADER", "From: a@example.com\r\nSubject: no header end" },
	{ 10, "2.HEADER.FIELDS (to)", "" },
	{ 10, "2.1.1", "" },
	{ 10, "1.MIME", "From: a@example.com\r\nSubject: no header end" },
	{ 10, "1.TEXT", "" },
	{ 9, "", "From: a@example.com\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: d1@example.com\r\nSubject: d1\r\n\r\none\r\n--d\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--d--\r\n" },
	{ 9, "1", "From: d1@example.com\r\nSubject: d1\r\n\r\none" },
	{ 9, "2", "two" },
	{ 9, "2.HEADER", "" },
	{ 9, "2.TEXT", "" },
	{ 9, "2.1", "two" },
	{ 9, "2.1.MIME", "Content-Type: text/plain\r\n\r\n" },
	{ 9, "2.2", "" },
	{ 9, "2.MIME", "Content-Type: text/plain\r\n\r\n" },
	{ 9, "3", "" },
	{ 9, "1.HEADER", "From: d1@example.com\r\nSubject: d1\r\n\r\n" },
	{ 9, "1.1", "one" },
	{ 9, "HEADER.FIELDS (FROM subject)", "From: a@example.com\r\n\r\n" },
	{ 9, "HEADER.FIELDS.NOT (From)", "Content-Type: multipart/digest; boundary=d\r\n\r\n" },
	{ 9, "TEXT", "--d\r\n\r\nFrom: d1@example.com\r\nSubject: d1\r\n\r\none\r\n--d\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--d--\r\n" },
	{ 9, "HEADER", "From: a@example.com\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n" },
	{ 9, "2.HEADER.FIELDS (to)", "" },
	{ 9, "2.1.1", "" },
	{ 9, "1.MIME", "\r\n" },
	{ 9, "1.TEXT", "one" },
};

/* The test's own reading of a section spec: "2.1.HEADER.FIELDS (a b)". */
static void
read_spec(const char *spec, struct mime_section *sec, uint32_t *nums,
    char names[][32], const char **fields)
{
	const char *p = spec;

	memset(sec, 0, sizeof(*sec));
	sec->parts = nums;
	while (*p >= '0' && *p <= '9') {
		nums[sec->nparts++] = (uint32_t)strtoul(p, (char **)&p, 10);
		if (*p == '.')
			p++;
	}
	if (*p == '\0')
		sec->text = MIME_SECT_ALL;
	else if (strncmp(p, "HEADER.FIELDS.NOT", 17) == 0)
		sec->text = MIME_SECT_FIELDS_NOT;
	else if (strncmp(p, "HEADER.FIELDS", 13) == 0)
		sec->text = MIME_SECT_FIELDS;
	else if (strcmp(p, "HEADER") == 0)
		sec->text = MIME_SECT_HEADER;
	else if (strcmp(p, "TEXT") == 0)
		sec->text = MIME_SECT_TEXT;
	else if (strcmp(p, "MIME") == 0)
		sec->text = MIME_SECT_MIME;
	else
		fail_msg("spec %s", spec);
	p = strchr(p, '(');
	while (p && *p && *p != ')') {
		size_t n = 0;

		p++;
		while (*p && *p != ' ' && *p != ')' && n < 31)
			names[sec->nfields][n++] = *p++;
		names[sec->nfields][n] = '\0';
		fields[sec->nfields] = names[sec->nfields];
		sec->nfields++;
	}
	sec->fields = fields;
}

static void
test_sections(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(sections); i++) {
		const struct msg_case *c = &cases[sections[i].msg];
		struct mime_section sec;
		uint32_t nums[8];
		char names[8][32];
		const char *fields[8];
		struct mime_msg m;
		struct buf out = BUF_INIT, got = BUF_INIT;
		size_t s = 0, e = 0, k;

		read_spec(sections[i].spec, &sec, nums, names, fields);
		assert_int_equal(mime_parse(&m, c->msg, strlen(c->msg), NULL), 0);
		switch (mime_section(&m, &sec, &s, &e, &out)) {
		case MIME_SECT_RANGE:
			assert_true(s <= e && e <= m.len);
			for (k = s; k < e; k++) {
				if (c->msg[k] == '\n' && (k == s || c->msg[k - 1] != '\r'))
					assert_int_equal(buf_append_char(&got, '\r'), 0);
				assert_int_equal(buf_append_char(&got, c->msg[k]), 0);
			}
			break;
		case MIME_SECT_BUILT:
			assert_int_equal(buf_append(&got, out.data, out.len), 0);
			break;
		case MIME_SECT_NONE:
			break;
		default:
			fail();
		}
		if (strcmp(buf_cstr(&got), sections[i].want) != 0) {
			print_error("%s BODY[%s]:\n got: %s\nwant: %s\n", c->name,
			    sections[i].spec, buf_cstr(&got), sections[i].want);
			fail();
		}
		buf_release(&out);
		buf_release(&got);
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
		cmocka_unit_test(test_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
