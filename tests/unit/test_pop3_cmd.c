/*
 * test_pop3_cmd: POP3 command lines. Table driven: each row is one wire
 * line (without CRLF) and what the parser must make of it, with the
 * RFC 2449 limits; then the limits themselves, and reads past the length.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/pop3_cmd.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define NOMSG (-1)

struct cmd_case {
	const char *line;
	size_t len;              /* 0: strlen(line) */
	enum pop3_cmd_err err;
	enum pop3_verb verb;     /* checked on errors too */
	int64_t msg;             /* NOMSG: has_msg is false */
	uint32_t lines;          /* TOP */
	const char *arg, *arg2;  /* NULL: none */
};

#define A40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D32 "c4c9334bac560ecc979e58001b3e22fb"
#define X8 "xxxxxxxx"
#define X40 X8 X8 X8 X8 X8
#define X240 X40 X40 X40 X40 X40 X40
/* With "PASS " in front, 253 octets: the longest line RFC 2449 allows
 * (255 with its CRLF). */
#define P248 X240 X8

static const struct cmd_case cases[] = {
	/* no argument */
	{ "QUIT", 0, POP3_CMD_OK, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL },
	{ "quit", 0, POP3_CMD_OK, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL },
	{ "QuIt", 0, POP3_CMD_OK, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL },
	{ "STAT", 0, POP3_CMD_OK, POP3_CMD_STAT, NOMSG, 0, NULL, NULL },
	{ "NOOP", 0, POP3_CMD_OK, POP3_CMD_NOOP, NOMSG, 0, NULL, NULL },
	{ "RSET", 0, POP3_CMD_OK, POP3_CMD_RSET, NOMSG, 0, NULL, NULL },
	{ "CAPA", 0, POP3_CMD_OK, POP3_CMD_CAPA, NOMSG, 0, NULL, NULL },
	{ "capa", 0, POP3_CMD_OK, POP3_CMD_CAPA, NOMSG, 0, NULL, NULL },
	{ "STLS", 0, POP3_CMD_OK, POP3_CMD_STLS, NOMSG, 0, NULL, NULL },
	{ "UTF8", 0, POP3_CMD_OK, POP3_CMD_UTF8, NOMSG, 0, NULL, NULL },
	{ "utf8", 0, POP3_CMD_OK, POP3_CMD_UTF8, NOMSG, 0, NULL, NULL },
	{ "QUIT ", 0, POP3_CMD_OK, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL },
	{ "STAT   ", 0, POP3_CMD_OK, POP3_CMD_STAT, NOMSG, 0, NULL, NULL },
	{ "QUIT now", 0, POP3_CMD_E_SYNTAX, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL },
	{ "NOOP x", 0, POP3_CMD_E_SYNTAX, POP3_CMD_NOOP, NOMSG, 0, NULL, NULL },
	{ "STLS x", 0, POP3_CMD_E_SYNTAX, POP3_CMD_STLS, NOMSG, 0, NULL, NULL },
	{ "CAPA  x", 0, POP3_CMD_E_SYNTAX, POP3_CMD_CAPA, NOMSG, 0, NULL, NULL },
	{ "UTF8 1", 0, POP3_CMD_E_SYNTAX, POP3_CMD_UTF8, NOMSG, 0, NULL, NULL },

	/* LIST and UIDL: an optional message number */
	{ "LIST", 0, POP3_CMD_OK, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST ", 0, POP3_CMD_OK, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 1", 0, POP3_CMD_OK, POP3_CMD_LIST, 1, 0, NULL, NULL },
	{ "list 42", 0, POP3_CMD_OK, POP3_CMD_LIST, 42, 0, NULL, NULL },
	{ "LIST 2147483647", 0, POP3_CMD_OK, POP3_CMD_LIST, 2147483647, 0, NULL, NULL },
	{ "LIST 007", 0, POP3_CMD_OK, POP3_CMD_LIST, 7, 0, NULL, NULL },
	{ "LIST 3  ", 0, POP3_CMD_OK, POP3_CMD_LIST, 3, 0, NULL, NULL },
	{ "UIDL", 0, POP3_CMD_OK, POP3_CMD_UIDL, NOMSG, 0, NULL, NULL },
	{ "UIDL 9", 0, POP3_CMD_OK, POP3_CMD_UIDL, 9, 0, NULL, NULL },
	{ "LIST 0", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 000", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 2147483648", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 4294967297", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 18446744073709551617", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 99999999999999999999999999999999999999", 0, POP3_CMD_E_NUMBER,
	  POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST -1", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST +1", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 0x10", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 1a", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 1.0", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST \xd9\xa1", 0, POP3_CMD_E_NUMBER, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST 1 2", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST  1", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LIST, NOMSG, 0, NULL, NULL },
	{ "LIST\t1", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "UIDL 1 x", 0, POP3_CMD_E_SYNTAX, POP3_CMD_UIDL, NOMSG, 0, NULL, NULL },
	{ "UIDL x", 0, POP3_CMD_E_NUMBER, POP3_CMD_UIDL, NOMSG, 0, NULL, NULL },

	/* RETR and DELE: exactly one */
	{ "RETR 1", 0, POP3_CMD_OK, POP3_CMD_RETR, 1, 0, NULL, NULL },
	{ "retr 12345", 0, POP3_CMD_OK, POP3_CMD_RETR, 12345, 0, NULL, NULL },
	{ "DELE 2", 0, POP3_CMD_OK, POP3_CMD_DELE, 2, 0, NULL, NULL },
	{ "Dele 2147483647", 0, POP3_CMD_OK, POP3_CMD_DELE, 2147483647, 0, NULL, NULL },
	{ "RETR", 0, POP3_CMD_E_SYNTAX, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "RETR ", 0, POP3_CMD_E_SYNTAX, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "RETR 1 2", 0, POP3_CMD_E_SYNTAX, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "RETR 0", 0, POP3_CMD_E_NUMBER, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "RETR -0", 0, POP3_CMD_E_NUMBER, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "RETR +5", 0, POP3_CMD_E_NUMBER, POP3_CMD_RETR, NOMSG, 0, NULL, NULL },
	{ "DELE", 0, POP3_CMD_E_SYNTAX, POP3_CMD_DELE, NOMSG, 0, NULL, NULL },
	{ "DELE one", 0, POP3_CMD_E_NUMBER, POP3_CMD_DELE, NOMSG, 0, NULL, NULL },
	{ "DELE 2147483648", 0, POP3_CMD_E_NUMBER, POP3_CMD_DELE, NOMSG, 0, NULL, NULL },

	/* TOP msg n: n may be 0 */
	{ "TOP 1 0", 0, POP3_CMD_OK, POP3_CMD_TOP, 1, 0, NULL, NULL },
	{ "top 3 10", 0, POP3_CMD_OK, POP3_CMD_TOP, 3, 10, NULL, NULL },
	{ "TOP 1 2147483647", 0, POP3_CMD_OK, POP3_CMD_TOP, 1, 2147483647, NULL, NULL },
	{ "TOP 1 000", 0, POP3_CMD_OK, POP3_CMD_TOP, 1, 0, NULL, NULL },
	{ "TOP 2 5 ", 0, POP3_CMD_OK, POP3_CMD_TOP, 2, 5, NULL, NULL },
	{ "TOP", 0, POP3_CMD_E_SYNTAX, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1", 0, POP3_CMD_E_SYNTAX, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1 ", 0, POP3_CMD_E_SYNTAX, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1 2 3", 0, POP3_CMD_E_SYNTAX, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1  2", 0, POP3_CMD_E_SYNTAX, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 0 1", 0, POP3_CMD_E_NUMBER, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1 -1", 0, POP3_CMD_E_NUMBER, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1 +1", 0, POP3_CMD_E_NUMBER, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP 1 2147483648", 0, POP3_CMD_E_NUMBER, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOP x 1", 0, POP3_CMD_E_NUMBER, POP3_CMD_TOP, NOMSG, 0, NULL, NULL },
	{ "TOPS 1 1", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },

	/* USER: one argument of at most 40 octets */
	{ "USER alice", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0, "alice", NULL },
	{ "user alice@example.org", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0,
	  "alice@example.org", NULL },
	{ "USER alice  ", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0, "alice", NULL },
	{ "USER " A40, 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0, A40, NULL },
	{ "USER \xc3\xbc@example.org", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0,
	  "\xc3\xbc@example.org", NULL },
	{ "USER " A40 "a", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_USER, NOMSG, 0, NULL, NULL },
	{ "USER", 0, POP3_CMD_E_SYNTAX, POP3_CMD_USER, NOMSG, 0, NULL, NULL },
	{ "USER ", 0, POP3_CMD_E_SYNTAX, POP3_CMD_USER, NOMSG, 0, NULL, NULL },
	{ "USER a b", 0, POP3_CMD_E_SYNTAX, POP3_CMD_USER, NOMSG, 0, NULL, NULL },
	{ "USER  a", 0, POP3_CMD_E_SYNTAX, POP3_CMD_USER, NOMSG, 0, NULL, NULL },

	/* PASS: the rest of the line, spaces kept, bounded by the line only */
	{ "PASS secret", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, "secret", NULL },
	{ "pass secret", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, "secret", NULL },
	{ "PASS two words", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, "two words", NULL },
	{ "PASS  lead", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, " lead", NULL },
	{ "PASS trail ", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, "trail ", NULL },
	{ "PASS  ", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, " ", NULL },
	{ "PASS " A40 A40, 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, A40 A40, NULL },
	{ "PASS", 0, POP3_CMD_E_SYNTAX, POP3_CMD_PASS, NOMSG, 0, NULL, NULL },
	{ "PASS ", 0, POP3_CMD_E_SYNTAX, POP3_CMD_PASS, NOMSG, 0, NULL, NULL },
	{ "PASSsecret", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },

	/* APOP name digest (RFC 1939 §7) */
	{ "APOP mrose " D32, 0, POP3_CMD_OK, POP3_CMD_APOP, NOMSG, 0, "mrose", D32 },
	{ "apop mrose C4C9334BAC560ECC979E58001B3E22FB", 0, POP3_CMD_OK,
	  POP3_CMD_APOP, NOMSG, 0, "mrose", "C4C9334BAC560ECC979E58001B3E22FB" },
	{ "APOP mrose", 0, POP3_CMD_E_SYNTAX, POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP", 0, POP3_CMD_E_SYNTAX, POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP mrose c4c9334bac560ecc979e58001b3e22f", 0, POP3_CMD_E_SYNTAX,
	  POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP mrose " D32 "0", 0, POP3_CMD_E_SYNTAX, POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP mrose g4c9334bac560ecc979e58001b3e22fb", 0, POP3_CMD_E_SYNTAX,
	  POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP mrose " D32 " x", 0, POP3_CMD_E_SYNTAX, POP3_CMD_APOP, NOMSG, 0, NULL, NULL },
	{ "APOP " A40 "a " D32, 0, POP3_CMD_E_TOO_LONG, POP3_CMD_APOP, NOMSG, 0, NULL, NULL },

	/* AUTH [mechanism [initial-response]] (RFC 5034 §4) */
	{ "AUTH", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH ", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH PLAIN", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "PLAIN", NULL },
	{ "auth plain", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "plain", NULL },
	{ "AUTH PLAIN AGJvYgBzZWNyZXQ=", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0,
	  "PLAIN", "AGJvYgBzZWNyZXQ=" },
	{ "AUTH PLAIN =", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "PLAIN", "" },
	{ "AUTH PLAIN ==", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "PLAIN", "==" },
	{ "AUTH LOGIN dXNlcg== ", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "LOGIN",
	  "dXNlcg==" },
	{ "AUTH SCRAM-SHA-256", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0,
	  "SCRAM-SHA-256", NULL },
	{ "AUTH X_Y-1", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "X_Y-1", NULL },
	{ "AUTH ABCDEFGHIJKLMNOPQRST", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0,
	  "ABCDEFGHIJKLMNOPQRST", NULL },
	{ "AUTH PLAIN " A40 A40 A40, 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0,
	  "PLAIN", A40 A40 A40 },
	{ "AUTH ABCDEFGHIJKLMNOPQRSTU", 0, POP3_CMD_E_SYNTAX, POP3_CMD_AUTH, NOMSG,
	  0, NULL, NULL },
	{ "AUTH PL@IN", 0, POP3_CMD_E_SYNTAX, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH PLAIN a b", 0, POP3_CMD_E_SYNTAX, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH PLAIN  a", 0, POP3_CMD_E_SYNTAX, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH  PLAIN", 0, POP3_CMD_E_SYNTAX, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },
	{ "AUTH " A40 "A", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_AUTH, NOMSG, 0, NULL, NULL },

	/* LANG [lang-range] (RFC 6856 §3) */
	{ "LANG", 0, POP3_CMD_OK, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en", 0, POP3_CMD_OK, POP3_CMD_LANG, NOMSG, 0, "en", NULL },
	{ "lang *", 0, POP3_CMD_OK, POP3_CMD_LANG, NOMSG, 0, "*", NULL },
	{ "LANG de-CH-1996", 0, POP3_CMD_OK, POP3_CMD_LANG, NOMSG, 0, "de-CH-1996", NULL },
	{ "LANG sr-Latn", 0, POP3_CMD_OK, POP3_CMD_LANG, NOMSG, 0, "sr-Latn", NULL },
	{ "LANG 1en", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en-", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG -en", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en--US", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG abcdefghi", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en-abcdefghi", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG **", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en_US", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },
	{ "LANG en fr", 0, POP3_CMD_E_SYNTAX, POP3_CMD_LANG, NOMSG, 0, NULL, NULL },

	/* unknown verbs */
	{ "", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ " ", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ " QUIT", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "QUI", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "QUITX", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "TO 1 1", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "STARTTLS", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "HELO x", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "XTND XMIT", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "GET / HTTP/1.1", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "\xc3\x9cSER a", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },

	/* NUL, CR and LF anywhere */
	{ "USER a\0b", 8, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "PASS a\0b", 8, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "\0", 1, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "QU\0T", 4, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "RETR 1\r", 0, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "RETR 1\n", 0, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "PASS a\rb", 0, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "\rQUIT", 0, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },
	{ "DELE 1\r\nDELE 2", 0, POP3_CMD_E_BAD_CHAR, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL },

	/* the line: 253 octets without CRLF at most, for PASS and AUTH too */
	{ "PASS " P248, 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0, P248, NULL },
	{ "PASS " P248 "x", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG, 0,
	  NULL, NULL },
	{ "AUTH PLAIN " X240 "xx", 0, POP3_CMD_OK, POP3_CMD_AUTH, NOMSG, 0, "PLAIN",
	  X240 "xx" },
	{ "AUTH PLAIN " X240 "xxx", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG,
	  0, NULL, NULL },
	{ "QUIT " X240 X8 "x", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG, 0,
	  NULL, NULL },
	{ "NOOP" X240 X8 " ", 0, POP3_CMD_E_UNKNOWN, POP3_CMD_UNKNOWN, NOMSG, 0,
	  NULL, NULL },
	/* trailing spaces count against the line, not against an argument */
	{ "USER " A40 "        ", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0, A40, NULL },
};

static void
check_case(size_t i, const struct cmd_case *c, const struct pop3_cmd_limits *lim)
{
	size_t len = c->len ? c->len : strlen(c->line);
	struct pop3_cmd cmd;
	enum pop3_cmd_err e;

	e = pop3_cmd_parse(c->line, len, lim, &cmd);
	if (e != c->err)
		fail_msg("case %zu \"%s\": err %d, want %d", i, c->line, e, c->err);
	if (cmd.verb != c->verb)
		fail_msg("case %zu \"%s\": verb %d, want %d", i, c->line, cmd.verb,
		    c->verb);
	if (e != POP3_CMD_OK) {
		/* nothing half-parsed is left for the session to trust */
		assert_false(cmd.has_msg);
		assert_null(cmd.arg);
		assert_null(cmd.arg2);
		return;
	}
	if (c->msg == NOMSG)
		assert_false(cmd.has_msg);
	else {
		assert_true(cmd.has_msg);
		if ((int64_t)cmd.msg != c->msg)
			fail_msg("case %zu \"%s\": msg %u", i, c->line, cmd.msg);
	}
	assert_int_equal(cmd.top_lines, c->lines);
	if (c->arg == NULL)
		assert_null(cmd.arg);
	else if (cmd.arg == NULL || cmd.arglen != strlen(c->arg) ||
	    memcmp(cmd.arg, c->arg, cmd.arglen) != 0)
		fail_msg("case %zu \"%s\": arg \"%.*s\", want \"%s\"", i, c->line,
		    cmd.arg ? (int)cmd.arglen : 6, cmd.arg ? cmd.arg : "(none)", c->arg);
	if (c->arg2 == NULL)
		assert_null(cmd.arg2);
	else if (cmd.arg2 == NULL || cmd.arg2len != strlen(c->arg2) ||
	    memcmp(cmd.arg2, c->arg2, cmd.arg2len) != 0)
		fail_msg("case %zu \"%s\": arg2 \"%.*s\", want \"%s\"", i, c->line,
		    cmd.arg2 ? (int)cmd.arg2len : 6, cmd.arg2 ? cmd.arg2 : "(none)",
		    c->arg2);
	/* arguments point into the line */
	if (cmd.arg)
		assert_true(cmd.arg >= c->line && cmd.arg + cmd.arglen <= c->line + len);
	if (cmd.arg2)
		assert_true(cmd.arg2 >= c->line && cmd.arg2 + cmd.arg2len <= c->line + len);
}

static void
test_parse_table(void **state)
{
	struct pop3_cmd_limits lim;
	size_t i;

	(void)state;
	pop3_cmd_limits_default(&lim);
	assert_int_equal(lim.max_line, 255);
	assert_int_equal(lim.max_arg, 40);
	for (i = 0; i < NELEM(cases); i++)
		check_case(i, &cases[i], &lim);
}

/* The caller's limits, not the RFC's, are what count. */
static const struct {
	size_t max_line, max_arg;
	struct cmd_case c;
} limit_cases[] = {
	{ 12, 40, { "USER abcdefg", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG,
	  0, NULL, NULL } },
	{ 13, 40, { "USER abcdefg", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG,
	  0, NULL, NULL } },
	{ 14, 40, { "USER abcdefg", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0,
	  "abcdefg", NULL } },
	{ 255, 7, { "USER abcdefg", 0, POP3_CMD_OK, POP3_CMD_USER, NOMSG, 0,
	  "abcdefg", NULL } },
	{ 255, 6, { "USER abcdefg", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_USER, NOMSG,
	  0, NULL, NULL } },
	{ 255, 6, { "PASS abcdefg", 0, POP3_CMD_OK, POP3_CMD_PASS, NOMSG, 0,
	  "abcdefg", NULL } },
	{ 255, 2, { "RETR 100", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_RETR, NOMSG, 0,
	  NULL, NULL } },
	{ 255, 2, { "TOP 10 100", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_TOP, NOMSG, 0,
	  NULL, NULL } },
	{ 255, 5, { "AUTH PLAIN AGJvYgBzZWNyZXQ=", 0, POP3_CMD_OK, POP3_CMD_AUTH,
	  NOMSG, 0, "PLAIN", "AGJvYgBzZWNyZXQ=" } },
	{ 255, 4, { "AUTH PLAIN =", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_AUTH, NOMSG, 0,
	  NULL, NULL } },
	/* a longer line for SASL-IR: PLAIN with a long password */
	{ 1024, 40, { "AUTH PLAIN " X240 X240 X240, 0, POP3_CMD_OK, POP3_CMD_AUTH,
	  NOMSG, 0, "PLAIN", X240 X240 X240 } },
	/* a limit that leaves no room even for the CRLF */
	{ 0, 40, { "", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL } },
	{ 1, 40, { "", 0, POP3_CMD_E_TOO_LONG, POP3_CMD_UNKNOWN, NOMSG, 0, NULL, NULL } },
	{ 6, 40, { "QUIT", 0, POP3_CMD_OK, POP3_CMD_QUIT, NOMSG, 0, NULL, NULL } },
};

static void
test_limits(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(limit_cases); i++) {
		struct pop3_cmd_limits lim = {
			limit_cases[i].max_line, limit_cases[i].max_arg,
		};

		check_case(i, &limit_cases[i].c, &lim);
	}
}

/* The line is not NUL-terminated: nothing past len is read. */
static void
test_no_overread(void **state)
{
	char line[] = "RETR 12345 6";
	struct pop3_cmd_limits lim;
	struct pop3_cmd cmd;

	(void)state;
	pop3_cmd_limits_default(&lim);
	assert_int_equal(pop3_cmd_parse(line, 6, &lim, &cmd), POP3_CMD_OK);
	assert_int_equal(cmd.msg, 1);
	assert_int_equal(pop3_cmd_parse(line, 10, &lim, &cmd), POP3_CMD_OK);
	assert_int_equal(cmd.msg, 12345);
	assert_int_equal(pop3_cmd_parse(line, 4, &lim, &cmd), POP3_CMD_E_SYNTAX);
	assert_int_equal(pop3_cmd_parse(line, 3, &lim, &cmd), POP3_CMD_E_UNKNOWN);
	memcpy(line, "PASS ab", 7);
	assert_int_equal(pop3_cmd_parse(line, 7, &lim, &cmd), POP3_CMD_OK);
	assert_int_equal(cmd.arglen, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_overread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
