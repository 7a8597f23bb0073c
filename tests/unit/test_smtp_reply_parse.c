/*
 * test_smtp_reply_parse: replies of a remote SMTP/LMTP server (RFC 5321
 * §4.2). Multi-line replies are joined, the enhanced status code (RFC 3463)
 * of the first line is split off, a line whose code differs from the first
 * one's is refused, EHLO keywords are found with their parameters, and
 * the text never carries a control octet, DEL or an 8-bit octet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_reply_parse.h"

#define S(lit) lit, sizeof(lit) - 1

static enum smtp_reply_status
feed(struct smtp_reply_parser *p, const char *line)
{
	return smtp_reply_parser_feed(p, line, strlen(line));
}

/* Feeds lines until one is not MORE; returns that status and checks that
 * exactly the last line ended it. */
static enum smtp_reply_status
feed_all(struct smtp_reply_parser *p, const char *const *lines, size_t n)
{
	enum smtp_reply_status st = SMTP_REPLY_BAD;
	size_t i;

	for (i = 0; i < n; i++) {
		st = feed(p, lines[i]);
		if (st != SMTP_REPLY_MORE)
			break;
	}
	return st;
}

static void
test_single_line(void **state)
{
	struct smtp_reply_parser p = { 0 };

	(void)state;
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "250 OK"), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 250);
	assert_int_equal(p.lines, 1);
	assert_string_equal(p.esc, "");
	assert_string_equal(buf_cstr(&p.text), "OK");

	/* code only, no text */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "354"), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 354);
	assert_string_equal(buf_cstr(&p.text), "");

	/* code and a space, no text */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "221 "), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 221);
	assert_string_equal(buf_cstr(&p.text), "");
	smtp_reply_parser_release(&p);
}

static void
test_multi_line(void **state)
{
	static const char *const lines[] = {
		"250-mx.example.org greets you",
		"250-PIPELINING",
		"250-",
		"250 8BITMIME",
	};
	struct smtp_reply_parser p = { 0 };

	(void)state;
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, lines[0]), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, lines[1]), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, lines[2]), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, lines[3]), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 250);
	assert_int_equal(p.lines, 4);
	assert_string_equal(buf_cstr(&p.text),
	    "mx.example.org greets you\nPIPELINING\n\n8BITMIME");

	/* reset: the next reply starts clean, with another code */
	smtp_reply_parser_reset(&p);
	assert_int_equal(p.code, 0);
	assert_int_equal(p.lines, 0);
	assert_string_equal(buf_cstr(&p.text), "");
	assert_int_equal(feed(&p, "354 go ahead"), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 354);
	assert_string_equal(buf_cstr(&p.text), "go ahead");
	smtp_reply_parser_release(&p);
}

static void
test_enhanced_codes(void **state)
{
	struct smtp_reply_parser p = { 0 };

	(void)state;
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "250 2.1.0 Sender OK"), SMTP_REPLY_DONE);
	assert_string_equal(p.esc, "2.1.0");
	assert_string_equal(buf_cstr(&p.text), "Sender OK");

	/* three-digit subject and detail */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "550 5.123.456 no"), SMTP_REPLY_DONE);
	assert_string_equal(p.esc, "5.123.456");
	assert_string_equal(buf_cstr(&p.text), "no");

	/* the code alone */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "250 2.0.0"), SMTP_REPLY_DONE);
	assert_string_equal(p.esc, "2.0.0");
	assert_string_equal(buf_cstr(&p.text), "");

	/* class must match the reply's first digit: text, not a code */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "550 4.1.1 odd"), SMTP_REPLY_DONE);
	assert_string_equal(p.esc, "");
	assert_string_equal(buf_cstr(&p.text), "4.1.1 odd");

	/* four digits in a part, letters, missing part, no space after */
	static const char *const notcodes[] = {
		"550 5.1234.1 x", "550 5.a.1 x", "550 5.1 x", "550 5.1.1x",
		"550 5..1 x", "550 5.1. x", "550 51.1.1 x", "550 5-1-1 x",
	};
	for (size_t i = 0; i < sizeof(notcodes) / sizeof(notcodes[0]); i++) {
		smtp_reply_parser_reset(&p);
		assert_int_equal(feed(&p, notcodes[i]), SMTP_REPLY_DONE);
		assert_string_equal(p.esc, "");
		assert_string_equal(buf_cstr(&p.text), notcodes[i] + 4);
	}

	/* multi-line: the first line's code counts; later ones stay text */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "550-5.1.1 The email account that you tried"), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, "550-5.1.1 to reach does not exist."), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, "550 5.1.1 Please try again"), SMTP_REPLY_DONE);
	assert_int_equal(p.code, 550);
	assert_string_equal(p.esc, "5.1.1");
	assert_string_equal(buf_cstr(&p.text), "The email account that you tried\n"
	    "5.1.1 to reach does not exist.\n5.1.1 Please try again");
	smtp_reply_parser_release(&p);
}

static void
test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"", "2", "25", "2500 x", "250x", "250_", "abc def", "150 x",
		"650 x", "099 x", "2a0 x", "25a x", " 250 x", "250\tx",
	};
	struct smtp_reply_parser p = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_parser_reset(&p);
		assert_int_equal(feed(&p, bad[i]), SMTP_REPLY_BAD);
	}
	/* a NUL or other octets in the text are data, not damage */
	smtp_reply_parser_reset(&p);
	assert_int_equal(smtp_reply_parser_feed(&p, S("250 a\0b")), SMTP_REPLY_DONE);
	assert_int_equal(p.text.len, 3);
	smtp_reply_parser_release(&p);
}

/* What the text may hold: a hostile server's reply is quoted in DSNs and
 * logs, so control octets (CR above all) and DEL become spaces, 8-bit
 * octets '?'; printable ASCII stays as it is. */
static void
test_text_cleaned(void **state)
{
	static const struct {
		const char *line;
		size_t len;
		const char *esc, *text;
	} cases[] = {
		/* the reply: lone CRs would start lines in a DSN */
		{ S("550 x\r.\rMAIL FROM:<a@b>"), "", "x . MAIL FROM:<a@b>" },
		{ S("550 5.1.1 a\rb"), "5.1.1", "a b" },
		{ S("550 5.1.1\rb"), "", "5.1.1 b" },       /* not a code: CR is no SP */
		{ S("550 a\r"), "", "a " },
		{ S("550 \r\r"), "", "  " },
		{ S("550 a\0b"), "", "a b" },
		{ S("550 \0\0"), "", "  " },
		{ S("550 a\tb"), "", "a b" },               /* HT: RFC 5321 allows it; spaces are simpler */
		{ S("550 \x1b[31mred\x1b[0m"), "", " [31mred [0m" },
		{ S("550 a\x01\x02\x1f\x7f b"), "", "a     b" },
		{ S("550 a\x0b\x0c\x08" "b"), "", "a   b" },
		{ S("550 a\nb"), "", "a b" },               /* an LF inside a fed line */
		/* 8-bit: UTF-8, Latin-1, GBK all become '?' */
		{ S("550 5.1.1 m\xc3\xbcller"), "5.1.1", "m??ller" },
		{ S("550 caf\xe9"), "", "caf?" },
		{ S("535 \xc7\xeb\xca\xb9"), "", "????" },
		{ S("550 \x80\xff"), "", "??" },
		/* printable ASCII untouched, edges included */
		{ S("550 ~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"), "", "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}" },
	};
	struct smtp_reply_parser p = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_reply_parser_reset(&p);
		assert_int_equal(smtp_reply_parser_feed(&p, cases[i].line, cases[i].len),
		    SMTP_REPLY_DONE);
		assert_string_equal(p.esc, cases[i].esc);
		assert_int_equal(p.text.len, strlen(cases[i].text));
		assert_string_equal(buf_cstr(&p.text), cases[i].text);
	}

	/* multi-line: each line cleaned, "\n" only between lines */
	smtp_reply_parser_reset(&p);
	assert_int_equal(smtp_reply_parser_feed(&p, S("550-5.7.1 one\r")), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_parser_feed(&p, S("550-\rRCPT TO:<x@y>\0")), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_parser_feed(&p, S("550 thr\xe9" "e")), SMTP_REPLY_DONE);
	assert_string_equal(p.esc, "5.7.1");
	assert_string_equal(buf_cstr(&p.text), "one \n RCPT TO:<x@y> \nthr?e");

	/* EHLO keywords after a CR still match, as keywords with parameters */
	smtp_reply_parser_reset(&p);
	assert_int_equal(smtp_reply_parser_feed(&p, S("250-mx\r")), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_parser_feed(&p, S("250-PIPELINING\r")), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_parser_feed(&p, S("250 SIZE\t1000")), SMTP_REPLY_DONE);
	{
		const char *param = NULL;

		assert_true(smtp_reply_ehlo_has(&p, "PIPELINING", &param));
		assert_true(smtp_reply_ehlo_has(&p, "SIZE", &param));
		assert_string_equal(param, "1000");
	}
	smtp_reply_parser_release(&p);
}

static void
test_mismatched_codes(void **state)
{
	static const char *const a[] = { "250-first", "251 second" };
	static const char *const b[] = { "250-first", "250-second", "550 third" };
	static const char *const c[] = { "451-busy", "250 ok" };
	struct smtp_reply_parser p = { 0 };

	(void)state;
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed_all(&p, a, 2), SMTP_REPLY_BAD);
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed_all(&p, b, 3), SMTP_REPLY_BAD);
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed_all(&p, c, 2), SMTP_REPLY_BAD);
	/* the first line's code stays */
	assert_int_equal(p.code, 451);
	/* a garbage continuation line too */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "250-a"), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, "hello"), SMTP_REPLY_BAD);
	smtp_reply_parser_release(&p);
}

static void
test_max_lines(void **state)
{
	struct smtp_reply_parser p = { 0 };
	int i;

	(void)state;
	smtp_reply_parser_reset(&p);
	for (i = 0; i < SMTP_REPLY_MAX_LINES - 1; i++)
		assert_int_equal(feed(&p, "250-x"), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, "250 x"), SMTP_REPLY_DONE);
	assert_int_equal(p.lines, SMTP_REPLY_MAX_LINES);

	smtp_reply_parser_reset(&p);
	for (i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		assert_int_equal(feed(&p, "250-x"), SMTP_REPLY_MORE);
	assert_int_equal(feed(&p, "250 x"), SMTP_REPLY_BAD);
	smtp_reply_parser_release(&p);
}

static void
test_ehlo_keywords(void **state)
{
	static const char *const lines[] = {
		"250-mx.example.org Hello SIZE friend",
		"250-PIPELINING",
		"250-SIZE 35882577",
		"250-8BITMIME",
		"250-auth PLAIN LOGIN",
		"250-STARTTLSX",
		"250-DSN ",
		"250 SMTPUTF8",
	};
	struct smtp_reply_parser p = { 0 };
	const char *param = NULL;

	(void)state;
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed_all(&p, lines, 8), SMTP_REPLY_DONE);

	assert_true(smtp_reply_ehlo_has(&p, "SIZE", &param));
	assert_string_equal(param, "35882577\n8BITMIME\nauth PLAIN LOGIN\nSTARTTLSX\nDSN \nSMTPUTF8");
	assert_int_equal(strtoul(param, NULL, 10), 35882577);
	assert_int_equal(strcspn(param, "\n"), 8);

	param = NULL;
	assert_true(smtp_reply_ehlo_has(&p, "PIPELINING", &param));
	assert_string_equal(param, "");
	assert_true(smtp_reply_ehlo_has(&p, "8bitmime", NULL));
	/* case-insensitive, parameters after the keyword */
	assert_true(smtp_reply_ehlo_has(&p, "AUTH", &param));
	assert_memory_equal(param, "PLAIN LOGIN\n", 12);
	/* the last line, without a "\n" after it */
	assert_true(smtp_reply_ehlo_has(&p, "SMTPUTF8", &param));
	assert_string_equal(param, "");
	/* a trailing space: the keyword with empty parameters */
	assert_true(smtp_reply_ehlo_has(&p, "DSN", &param));
	assert_memory_equal(param, "\n", 1);
	/* prefixes and extensions of a keyword do not match */
	assert_false(smtp_reply_ehlo_has(&p, "STARTTLS", &param));
	assert_false(smtp_reply_ehlo_has(&p, "PIPELININGX", &param));
	assert_false(smtp_reply_ehlo_has(&p, "SIZ", &param));
	assert_false(smtp_reply_ehlo_has(&p, "CHUNKING", &param));
	/* the greeting line is not a keyword */
	assert_false(smtp_reply_ehlo_has(&p, "mx.example.org", &param));
	assert_false(smtp_reply_ehlo_has(&p, "Hello", &param));

	/* a one-line reply has no keywords */
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed(&p, "250 SIZE 100"), SMTP_REPLY_DONE);
	assert_false(smtp_reply_ehlo_has(&p, "SIZE", &param));
	/* an empty parser neither */
	smtp_reply_parser_release(&p);
	assert_false(smtp_reply_ehlo_has(&p, "SIZE", &param));

	/* SIZE with no parameter (RFC 1870: no fixed limit) */
	static const char *const l2[] = { "250-hi", "250 SIZE" };
	smtp_reply_parser_reset(&p);
	assert_int_equal(feed_all(&p, l2, 2), SMTP_REPLY_DONE);
	assert_true(smtp_reply_ehlo_has(&p, "SIZE", &param));
	assert_string_equal(param, "");
	smtp_reply_parser_release(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_text_cleaned),
		cmocka_unit_test(test_mismatched_codes),
		cmocka_unit_test(test_max_lines),
		cmocka_unit_test(test_ehlo_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
