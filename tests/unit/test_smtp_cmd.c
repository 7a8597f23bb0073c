/*
 * test_smtp_cmd: command line splitting and the ESMTP parameters of MAIL,
 * RCPT and BDAT. Table driven: each row is one wire line and what the
 * parser must make of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/smtp_cmd.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* smtp_cmd_parse */

struct line_case {
	const char *line;
	size_t len;              /* 0: strlen(line) */
	enum smtp_cmd_err err;
	enum smtp_verb verb;
	const char *arg;
};

static const struct line_case line_cases[] = {
	{ "HELO mx.example.org", 0, SMTP_CMD_OK, SMTP_CMD_HELO, "mx.example.org" },
	{ "helo x", 0, SMTP_CMD_OK, SMTP_CMD_HELO, "x" },
	{ "HeLo x", 0, SMTP_CMD_OK, SMTP_CMD_HELO, "x" },
	{ "EHLO [192.0.2.1]", 0, SMTP_CMD_OK, SMTP_CMD_EHLO, "[192.0.2.1]" },
	{ "ehlo client", 0, SMTP_CMD_OK, SMTP_CMD_EHLO, "client" },
	{ "LHLO x", 0, SMTP_CMD_OK, SMTP_CMD_LHLO, "x" },
	{ "MAIL FROM:<a@b>", 0, SMTP_CMD_OK, SMTP_CMD_MAIL, "FROM:<a@b>" },
	{ "mail from:<a@b> SIZE=10", 0, SMTP_CMD_OK, SMTP_CMD_MAIL, "from:<a@b> SIZE=10" },
	{ "RCPT TO:<a@b>", 0, SMTP_CMD_OK, SMTP_CMD_RCPT, "TO:<a@b>" },
	{ "Rcpt TO:<a@b>", 0, SMTP_CMD_OK, SMTP_CMD_RCPT, "TO:<a@b>" },
	{ "DATA", 0, SMTP_CMD_OK, SMTP_CMD_DATA, "" },
	{ "data", 0, SMTP_CMD_OK, SMTP_CMD_DATA, "" },
	{ "BDAT 100 LAST", 0, SMTP_CMD_OK, SMTP_CMD_BDAT, "100 LAST" },
	{ "RSET", 0, SMTP_CMD_OK, SMTP_CMD_RSET, "" },
	{ "NOOP", 0, SMTP_CMD_OK, SMTP_CMD_NOOP, "" },
	{ "NOOP hello there", 0, SMTP_CMD_OK, SMTP_CMD_NOOP, "hello there" },
	{ "QUIT", 0, SMTP_CMD_OK, SMTP_CMD_QUIT, "" },
	{ "quit", 0, SMTP_CMD_OK, SMTP_CMD_QUIT, "" },
	{ "VRFY bob", 0, SMTP_CMD_OK, SMTP_CMD_VRFY, "bob" },
	{ "EXPN list", 0, SMTP_CMD_OK, SMTP_CMD_EXPN, "list" },
	{ "HELP", 0, SMTP_CMD_OK, SMTP_CMD_HELP, "" },
	{ "STARTTLS", 0, SMTP_CMD_OK, SMTP_CMD_STARTTLS, "" },
	{ "starttls", 0, SMTP_CMD_OK, SMTP_CMD_STARTTLS, "" },
	{ "AUTH PLAIN AGJvYgBzZWNyZXQ=", 0, SMTP_CMD_OK, SMTP_CMD_AUTH, "PLAIN AGJvYgBzZWNyZXQ=" },
	/* trailing spaces are dropped; only one SP after the verb is eaten */
	{ "QUIT   ", 0, SMTP_CMD_OK, SMTP_CMD_QUIT, "" },
	{ "HELO x  ", 0, SMTP_CMD_OK, SMTP_CMD_HELO, "x" },
	{ "NOOP  x", 0, SMTP_CMD_OK, SMTP_CMD_NOOP, " x" },
	{ "DATA ", 0, SMTP_CMD_OK, SMTP_CMD_DATA, "" },

	/* unknown verbs */
	{ "", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ " ", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "FOO", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "FOO bar", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ " HELO x", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "HEL", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "HELOX", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "HELOx y", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "MAILFROM:<a@b>", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "MAIL\tFROM:<a@b>", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "STARTTLSX", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "GET / HTTP/1.1", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },
	{ "\xc3\x9cHELO", 0, SMTP_CMD_E_VERB, SMTP_CMD_UNKNOWN, NULL },

	/* NUL, CR and LF anywhere in the line */
	{ "HELO a\0b", 8, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "\0", 1, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "HE\0LO x", 7, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "HELO a\rb", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "HELO a\nb", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "HELO a\r", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "DATA\n", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "\rDATA", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "FOO\r", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
	{ "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>", 0, SMTP_CMD_E_BAD_CHAR, SMTP_CMD_UNKNOWN, NULL },
};

static void
test_cmd_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(line_cases); i++) {
		const struct line_case *c = &line_cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct smtp_cmd cmd;
		enum smtp_cmd_err e;

		e = smtp_cmd_parse(c->line, len, &cmd);
		if (e != c->err)
			fail_msg("case %zu \"%s\": err %d, want %d", i, c->line, e, c->err);
		if (e != SMTP_CMD_OK)
			continue;
		assert_int_equal(cmd.verb, c->verb);
		assert_true(cmd.arg >= c->line && cmd.arg + cmd.arglen <= c->line + len);
		if (cmd.arglen != strlen(c->arg) ||
		    memcmp(cmd.arg, c->arg, cmd.arglen) != 0)
			fail_msg("case %zu \"%s\": arg \"%.*s\", want \"%s\"", i,
			    c->line, (int)cmd.arglen, cmd.arg, c->arg);
	}
}

/* The parser must not read past len: the line is not NUL-terminated. */
static void
test_cmd_parse_no_overread(void **state)
{
	char line[] = "MAIL FROM:<a@b>XXXX";
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_cmd_parse(line, 4, &cmd), SMTP_CMD_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_MAIL);
	assert_int_equal(cmd.arglen, 0);
	assert_int_equal(smtp_cmd_parse(line, 3, &cmd), SMTP_CMD_E_VERB);
}

/* smtp_xtext_valid */

static void
test_xtext(void **state)
{
	static const char *good[] = {
		"", "a", "QQ314159", "a+2Bb", "+2B", "+00", "<>", "!~",
		"bob+40example.org", "+41+42",
	};
	static const char *bad[] = {
		"+", "+4", "+4a", "+zz", "a+", "a+2", "a=b", "a b", "\x7f",
		"\x01", "\xc3\xbc", "+G0",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(good); i++) {
		if (!smtp_xtext_valid(good[i], strlen(good[i])))
			fail_msg("xtext \"%s\" should be valid", good[i]);
	}
	for (i = 0; i < NELEM(bad); i++) {
		if (smtp_xtext_valid(bad[i], strlen(bad[i])))
			fail_msg("xtext \"%s\" should be invalid", bad[i]);
	}
	/* Length is authoritative: "+4" followed by more bytes not in len. */
	assert_false(smtp_xtext_valid("a+41", 3));
}

/* smtp_cmd_parse_mail */

#define NOSIZE UINT64_MAX

struct mail_ok {
	const char *arg;
	bool null;
	const char *local, *domain;
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid, *auth;
};

#define ENVID100 \
	"0123456789012345678901234567890123456789012345678901234567890123456789" \
	"012345678901234567890123456789"

static const struct mail_ok mail_ok[] = {
	{ "FROM:<alice@example.org>", false, "alice", "example.org", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "from:<alice@example.org>", false, "alice", "example.org", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM: <alice@example.org>", false, "alice", "example.org", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<>", true, "", "", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM: <>", true, "", "", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<> SIZE=0", true, "", "", true, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> SIZE=12345", false, "a", "b", true, 12345,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> size=18446744073709551615", false, "a", "b", true, UINT64_MAX,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> SIZE=00000000000000000042", false, "a", "b", true, 42,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> BODY=8BITMIME", false, "a", "b", false, 0,
	  SMTP_BODY_8BITMIME, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> body=8bitmime", false, "a", "b", false, 0,
	  SMTP_BODY_8BITMIME, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> BODY=7BIT", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> BODY=BINARYMIME", false, "a", "b", false, 0,
	  SMTP_BODY_BINARYMIME, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> SMTPUTF8", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, true, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> smtputf8", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, true, SMTP_RET_UNSET, "", "" },
	{ "FROM:<\xc3\xbc@b> SMTPUTF8", false, "\xc3\xbc", "b", false, 0,
	  SMTP_BODY_7BIT, true, SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@\xe4\xbe\x8b.example> SMTPUTF8 BODY=8BITMIME", false, "a",
	  "\xe4\xbe\x8b.example", false, 0, SMTP_BODY_8BITMIME, true,
	  SMTP_RET_UNSET, "", "" },
	{ "FROM:<a@b> RET=FULL", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_FULL, "", "" },
	{ "FROM:<a@b> ret=hdrs", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_HDRS, "", "" },
	{ "FROM:<a@b> ENVID=QQ314159", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "QQ314159", "" },
	{ "FROM:<a@b> ENVID=a+2Bb", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "a+2Bb", "" },
	{ "FROM:<a@b> ENVID=" ENVID100, false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, ENVID100, "" },
	{ "FROM:<a@b> AUTH=<>", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "<>" },
	{ "FROM:<a@b> AUTH=bob+40example.org", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "bob+40example.org" },
	{ "FROM:<a@b> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2B", false,
	  "a", "b", true, 100, SMTP_BODY_8BITMIME, true, SMTP_RET_HDRS, "x+2B", "" },
	{ "FROM:<@r1.example,@r2.example:a@b>", false, "a", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<\"a b\"@b>", false, "\"a b\"", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
	{ "FROM:<postmaster@b>", false, "postmaster", "b", false, 0,
	  SMTP_BODY_7BIT, false, SMTP_RET_UNSET, "", "" },
};

static void
test_mail_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(mail_ok); i++) {
		const struct mail_ok *c = &mail_ok[i];
		struct smtp_path from;
		struct smtp_mail_params p;
		enum smtp_addr_err pe = SMTP_ADDR_SYNTAX;
		enum smtp_cmd_err e;

		e = smtp_cmd_parse_mail(c->arg, strlen(c->arg), &from, &p, &pe);
		if (e != SMTP_CMD_OK)
			fail_msg("case %zu \"%s\": err %d (path %d)", i, c->arg, e, pe);
		assert_int_equal(pe, SMTP_ADDR_OK);
		assert_int_equal(from.null, c->null);
		assert_string_equal(from.local, c->local);
		assert_string_equal(from.domain, c->domain);
		assert_int_equal(p.has_size, c->has_size);
		if (c->has_size)
			assert_true(p.size == c->size);
		assert_int_equal(p.body, c->body);
		assert_int_equal(p.smtputf8, c->smtputf8);
		assert_int_equal(p.ret, c->ret);
		assert_string_equal(p.envid, c->envid);
		assert_string_equal(p.auth, c->auth);
	}
}

struct bad_case {
	const char *arg;
	enum smtp_cmd_err err;
	enum smtp_addr_err perr;   /* checked when err == SMTP_CMD_E_PATH */
};

static const struct bad_case mail_bad[] = {
	{ "", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM<a@b>", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM :<a@b>", SMTP_CMD_E_SYNTAX, 0 },
	{ "TO:<a@b>", SMTP_CMD_E_SYNTAX, 0 },
	{ "FRO:<a@b>", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM:", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM: ", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:a@b", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<a@b", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:  <a@b>", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<a@@b>", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<a@b>x", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM:<a@b> ", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM:<a@b>> SIZE=1", SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM:<a@b>  SIZE=1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=1 ", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=abc", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=-1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=+1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=1k", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=18446744073709551616", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=000000000000000000001", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE=1 SIZE=1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SIZE==1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> BODY", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> BODY=9BIT", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> BODY=8BITMIMEX", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> BODY=8BITMIME BODY=7BIT", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> BODY=7BIT BODY=7BIT", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SMTPUTF8=yes", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SMTPUTF8 SMTPUTF8", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> RET", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> RET=ALL", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> RET=FULL RET=HDRS", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> RET=FULL RET=FULL", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=+4", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=a+", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=+zz", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=+4a", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=a=b", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=" ENVID100 "0", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=a ENVID=b", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=a ENVID=a", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> ENVID=\xc3\xbc", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> AUTH", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> AUTH=+4", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> AUTH=<> AUTH=<>", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> -SIZE=1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> SI_ZE=1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> =1", SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "FROM:<a@b> FOO=bar", SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "FROM:<a@b> XYZ", SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "FROM:<a@b> SIZE=1 X-FOO", SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "FROM:<a@b> NOTIFY=NEVER", SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "FROM:<a@b> ORCPT=rfc822;a", SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	/* "<Postmaster>" without a domain is RCPT's alone (RFC 5321 §4.1.1.3) */
	{ "FROM:<postmaster>", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<PostMaster>", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM: <postmaster> SIZE=1", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<@a:postmaster>", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	/* UTF-8 addresses need SMTPUTF8 among the parameters */
	{ "FROM:<\xc3\xbc@b>", SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "FROM:<\xc3\xbc@b> BODY=8BITMIME", SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "FROM:<a@\xe4\xbe\x8b.example>", SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "FROM:<\"\xc3\xbc x\"@b>", SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	/* malformed UTF-8 is a syntax error even with SMTPUTF8 */
	{ "FROM:<a\xff@b> SMTPUTF8", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<a\xc0\xaf@b> SMTPUTF8", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "FROM:<a\xed\xa0\x80@b> SMTPUTF8", SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
};

static void
test_mail_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(mail_bad); i++) {
		const struct bad_case *c = &mail_bad[i];
		struct smtp_path from;
		struct smtp_mail_params p;
		enum smtp_addr_err pe = SMTP_ADDR_OK;
		enum smtp_cmd_err e;

		e = smtp_cmd_parse_mail(c->arg, strlen(c->arg), &from, &p, &pe);
		if (e != c->err)
			fail_msg("case %zu \"%s\": err %d, want %d", i, c->arg, e, c->err);
		if (e == SMTP_CMD_E_PATH && pe != c->perr)
			fail_msg("case %zu \"%s\": path err %d, want %d", i, c->arg,
			    pe, c->perr);
	}
}

/* Parameters after a long path; the line is not NUL-terminated. */
static void
test_mail_not_terminated(void **state)
{
	char arg[] = "FROM:<a@b> SIZE=10xxxx";
	struct smtp_path from;
	struct smtp_mail_params p;
	enum smtp_addr_err pe;

	(void)state;
	assert_int_equal(smtp_cmd_parse_mail(arg, 18, &from, &p, &pe), SMTP_CMD_OK);
	assert_true(p.has_size && p.size == 10);
	assert_int_equal(smtp_cmd_parse_mail(arg, 9, &from, &p, &pe), SMTP_CMD_E_PATH);
}

/* smtp_cmd_parse_rcpt */

struct rcpt_ok {
	const char *arg;
	bool allow_utf8;
	const char *local, *domain;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_ok rcpt_ok[] = {
	{ "TO:<bob@example.org>", false, "bob", "example.org", 0, "" },
	{ "to:<bob@example.org>", false, "bob", "example.org", 0, "" },
	{ "To: <bob@example.org>", false, "bob", "example.org", 0, "" },
	{ "TO:<postmaster>", false, "postmaster", "", 0, "" },
	{ "TO:<Postmaster>", false, "Postmaster", "", 0, "" },
	{ "TO:<@relay.example:bob@example.org>", false, "bob", "example.org", 0, "" },
	{ "TO:<b@x> NOTIFY=NEVER", false, "b", "x", SMTP_NOTIFY_NEVER, "" },
	{ "TO:<b@x> notify=never", false, "b", "x", SMTP_NOTIFY_NEVER, "" },
	{ "TO:<b@x> NOTIFY=SUCCESS", false, "b", "x", SMTP_NOTIFY_SUCCESS, "" },
	{ "TO:<b@x> NOTIFY=failure", false, "b", "x", SMTP_NOTIFY_FAILURE, "" },
	{ "TO:<b@x> NOTIFY=DELAY", false, "b", "x", SMTP_NOTIFY_DELAY, "" },
	{ "TO:<b@x> NOTIFY=SUCCESS,FAILURE,DELAY", false, "b", "x",
	  SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, "" },
	{ "TO:<b@x> NOTIFY=DELAY,SUCCESS", false, "b", "x",
	  SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, "" },
	{ "TO:<b@x> ORCPT=rfc822;a+40b", false, "b", "x", 0, "rfc822;a+40b" },
	{ "TO:<b@x> ORCPT=rfc822;bob@example.org", false, "b", "x", 0,
	  "rfc822;bob@example.org" },
	{ "TO:<b@x> ORCPT=utf-8;b+C3+BC", false, "b", "x", 0, "utf-8;b+C3+BC" },
	{ "TO:<b@x> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+40x", false, "b", "x",
	  SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, "rfc822;b+40x" },
	{ "TO:<b@x> ORCPT=rfc822;b+40x NOTIFY=NEVER", false, "b", "x",
	  SMTP_NOTIFY_NEVER, "rfc822;b+40x" },
	{ "TO:<\xc3\xbc@x>", true, "\xc3\xbc", "x", 0, "" },
	{ "TO:<b@\xe4\xbe\x8b.example>", true, "b", "\xe4\xbe\x8b.example", 0, "" },
};

static void
test_rcpt_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rcpt_ok); i++) {
		const struct rcpt_ok *c = &rcpt_ok[i];
		struct smtp_path to;
		struct smtp_rcpt_params p;
		enum smtp_addr_err pe = SMTP_ADDR_SYNTAX;
		enum smtp_cmd_err e;

		e = smtp_cmd_parse_rcpt(c->arg, strlen(c->arg), c->allow_utf8, &to,
		    &p, &pe);
		if (e != SMTP_CMD_OK)
			fail_msg("case %zu \"%s\": err %d (path %d)", i, c->arg, e, pe);
		assert_int_equal(pe, SMTP_ADDR_OK);
		assert_false(to.null);
		assert_string_equal(to.local, c->local);
		assert_string_equal(to.domain, c->domain);
		assert_int_equal(p.notify, c->notify);
		assert_string_equal(p.orcpt, c->orcpt);
	}
}

struct rcpt_bad {
	const char *arg;
	bool allow_utf8;
	enum smtp_cmd_err err;
	enum smtp_addr_err perr;
};

static const struct rcpt_bad rcpt_bad[] = {
	{ "", false, SMTP_CMD_E_SYNTAX, 0 },
	{ "TO", false, SMTP_CMD_E_SYNTAX, 0 },
	{ "FROM:<a@b>", false, SMTP_CMD_E_SYNTAX, 0 },
	{ "TO:", false, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<>", false, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<>", true, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<@a:postmaster>", false, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:bob@x", false, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<bob>", false, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<b@x>x", false, SMTP_CMD_E_SYNTAX, 0 },
	{ "TO:<\xc3\xbc@x>", false, SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "TO:<b@\xe4\xbe\x8b.example>", false, SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "TO:<\xc3\xbc@x> SMTPUTF8", false, SMTP_CMD_E_PATH, SMTP_ADDR_NEED_UTF8 },
	{ "TO:<b\xc3@x>", true, SMTP_CMD_E_PATH, SMTP_ADDR_SYNTAX },
	{ "TO:<b@x> NOTIFY", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=NEVER,SUCCESS", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=SUCCESS,NEVER", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=NEVER,NEVER", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=SUCCESS,", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=,SUCCESS", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=SUCCESS,,FAILURE", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=SUCCESS,SUCCESS", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=ALWAYS", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=SUCCESSX", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=NEVER NOTIFY=NEVER", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> NOTIFY=DELAY NOTIFY=FAILURE", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=rfc822", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=;a", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=rfc822;", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=rfc822;a+4", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=rfc822;a+zz", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> ORCPT=rfc822;a+40b ORCPT=rfc822;a", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
	{ "TO:<b@x> SIZE=1", false, SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "TO:<b@x> BODY=8BITMIME", false, SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "TO:<b@x> FOO", false, SMTP_CMD_E_PARAM_UNKNOWN, 0 },
	{ "TO:<b@x>  NOTIFY=NEVER", false, SMTP_CMD_E_PARAM_SYNTAX, 0 },
};

static void
test_rcpt_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(rcpt_bad); i++) {
		const struct rcpt_bad *c = &rcpt_bad[i];
		struct smtp_path to;
		struct smtp_rcpt_params p;
		enum smtp_addr_err pe = SMTP_ADDR_OK;
		enum smtp_cmd_err e;

		e = smtp_cmd_parse_rcpt(c->arg, strlen(c->arg), c->allow_utf8, &to,
		    &p, &pe);
		if (e != c->err)
			fail_msg("case %zu \"%s\": err %d, want %d", i, c->arg, e, c->err);
		if (e == SMTP_CMD_E_PATH && pe != c->perr)
			fail_msg("case %zu \"%s\": path err %d, want %d", i, c->arg,
			    pe, c->perr);
	}
}

/* RFC 3461 §4.2: ORCPT at most 500 characters. */
static void
test_rcpt_orcpt_limit(void **state)
{
	char arg[600], want[SMTP_ORCPT_MAX + 1];
	struct smtp_path to;
	struct smtp_rcpt_params p;
	enum smtp_addr_err pe;
	size_t n;

	(void)state;
	/* "TO:<b@x> ORCPT=" + "rfc822;" + 493 'a' = 500-character value */
	n = (size_t)snprintf(arg, sizeof(arg), "TO:<b@x> ORCPT=rfc822;");
	memset(arg + n, 'a', SMTP_ORCPT_MAX - 7);
	n += SMTP_ORCPT_MAX - 7;
	arg[n] = '\0';
	assert_int_equal(smtp_cmd_parse_rcpt(arg, n, false, &to, &p, &pe),
	    SMTP_CMD_OK);
	assert_int_equal(strlen(p.orcpt), SMTP_ORCPT_MAX);
	memcpy(want, arg + 15, SMTP_ORCPT_MAX + 1);
	assert_string_equal(p.orcpt, want);
	arg[n++] = 'a';
	arg[n] = '\0';
	assert_int_equal(smtp_cmd_parse_rcpt(arg, n, false, &to, &p, &pe),
	    SMTP_CMD_E_PARAM_SYNTAX);
}

/* smtp_cmd_parse_bdat */

static void
test_bdat(void **state)
{
	static const struct {
		const char *arg;
		uint64_t size;
		bool last;
	} ok[] = {
		{ "0", 0, false },
		{ "0 LAST", 0, true },
		{ "100", 100, false },
		{ "100 LAST", 100, true },
		{ "100 last", 100, true },
		{ "18446744073709551615", UINT64_MAX, false },
		{ "18446744073709551615 LAST", UINT64_MAX, true },
	};
	static const char *bad[] = {
		"", " ", "LAST", "-1", "+1", "1x", "0x10", " 100", "100 ",
		"100  LAST", "100 LASTX", "100 LAS", "100 LAST x", "100 FIRST",
		"18446744073709551616", "99999999999999999999999", "1 2",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		uint64_t size = 1234;
		bool last = !ok[i].last;

		if (smtp_cmd_parse_bdat(ok[i].arg, strlen(ok[i].arg), &size,
		    &last) != SMTP_CMD_OK)
			fail_msg("bdat \"%s\" should parse", ok[i].arg);
		assert_true(size == ok[i].size);
		assert_int_equal(last, ok[i].last);
	}
	for (i = 0; i < NELEM(bad); i++) {
		uint64_t size;
		bool last;

		if (smtp_cmd_parse_bdat(bad[i], strlen(bad[i]), &size,
		    &last) != SMTP_CMD_E_SYNTAX)
			fail_msg("bdat \"%s\" should be a syntax error", bad[i]);
	}
}

/* A whole line through smtp_cmd_parse then the argument parser, as the
 * session does it. */
static void
test_line_then_args(void **state)
{
	const char *line = "MAIL FROM:<alice@example.org> SIZE=1000 BODY=8BITMIME  ";
	struct smtp_cmd cmd;
	struct smtp_path from;
	struct smtp_mail_params p;
	enum smtp_addr_err pe;
	uint64_t size;
	bool last;

	(void)state;
	assert_int_equal(smtp_cmd_parse(line, strlen(line), &cmd), SMTP_CMD_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_MAIL);
	assert_int_equal(smtp_cmd_parse_mail(cmd.arg, cmd.arglen, &from, &p, &pe),
	    SMTP_CMD_OK);
	assert_string_equal(from.local, "alice");
	assert_true(p.has_size && p.size == 1000);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);

	line = "BDAT 4096 LAST ";
	assert_int_equal(smtp_cmd_parse(line, strlen(line), &cmd), SMTP_CMD_OK);
	assert_int_equal(smtp_cmd_parse_bdat(cmd.arg, cmd.arglen, &size, &last),
	    SMTP_CMD_OK);
	assert_true(size == 4096 && last);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_parse_table),
		cmocka_unit_test(test_cmd_parse_no_overread),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_mail_valid),
		cmocka_unit_test(test_mail_invalid),
		cmocka_unit_test(test_mail_not_terminated),
		cmocka_unit_test(test_rcpt_valid),
		cmocka_unit_test(test_rcpt_invalid),
		cmocka_unit_test(test_rcpt_orcpt_limit),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_line_then_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
