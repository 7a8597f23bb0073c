/*
 * test_smtp_addr: RFC 5321 paths and mailboxes, with the RFC 6531 UTF-8
 * extension and the §4.5.3.1 size limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/smtp_addr.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define FWD SMTP_PATH_FORWARD      /* RCPT's path */
#define REV SMTP_PATH_REVERSE      /* MAIL's path */

struct path_ok {
	const char *in;
	enum smtp_path_kind kind;
	bool allow_utf8;
	const char *local, *domain;
	bool null, utf8;
	size_t consumed;          /* 0: strlen(in) */
};

static const struct path_ok path_ok[] = {
	{ "<a@b>", FWD, false, "a", "b", false, false, 0 },
	{ "<alice@example.org>", FWD, false, "alice", "example.org", false, false, 0 },
	{ "<Alice.Smith@Example.ORG>", FWD, false, "Alice.Smith", "Example.ORG", false, false, 0 },
	{ "<a@b> SIZE=100", FWD, false, "a", "b", false, false, 5 },
	{ "<a@b>>", FWD, false, "a", "b", false, false, 5 },
	{ "<a.b.c@x.y.z>", FWD, false, "a.b.c", "x.y.z", false, false, 0 },
	{ "<!#$%&'*+-/=?^_`{|}~@x>", FWD, false, "!#$%&'*+-/=?^_`{|}~", "x", false, false, 0 },
	{ "<a+tag@b>", FWD, false, "a+tag", "b", false, false, 0 },
	/* quoted local parts are kept as on the wire */
	{ "<\"a b\"@x>", FWD, false, "\"a b\"", "x", false, false, 0 },
	{ "<\"a\\\"b\"@x>", FWD, false, "\"a\\\"b\"", "x", false, false, 0 },
	{ "<\"a\\\\b\"@x>", FWD, false, "\"a\\\\b\"", "x", false, false, 0 },
	{ "<\"a>b\"@x>", FWD, false, "\"a>b\"", "x", false, false, 0 },
	{ "<\"a\\>b\"@x>", FWD, false, "\"a\\>b\"", "x", false, false, 0 },
	{ "<\"a@b\"@x>", FWD, false, "\"a@b\"", "x", false, false, 0 },
	{ "<\"\"@x>", FWD, false, "\"\"", "x", false, false, 0 },
	{ "<\"a.\"@x>", FWD, false, "\"a.\"", "x", false, false, 0 },
	{ "<\"..\"@x>", FWD, false, "\"..\"", "x", false, false, 0 },
	/* source routes are parsed and dropped */
	{ "<@a:u@d>", FWD, false, "u", "d", false, false, 0 },
	{ "<@a,@b:u@d>", FWD, false, "u", "d", false, false, 0 },
	{ "<@a.example,@b.example,@[1.2.3.4]:u@d>", FWD, false, "u", "d", false, false, 0 },
	/* RCPT's <postmaster> without a domain, any case */
	{ "<postmaster>", FWD, false, "postmaster", "", false, false, 0 },
	{ "<POSTMASTER>", FWD, false, "POSTMASTER", "", false, false, 0 },
	{ "<PostMaster>", FWD, false, "PostMaster", "", false, false, 0 },
	{ "<postmaster@example.org>", FWD, false, "postmaster", "example.org", false, false, 0 },
	{ "<postmaster@example.org>", REV, false, "postmaster", "example.org", false, false, 0 },
	/* the null path */
	{ "<>", REV, false, "", "", true, false, 0 },
	{ "<> SIZE=1", REV, true, "", "", true, false, 2 },
	/* address literals */
	{ "<a@[1.2.3.4]>", FWD, false, "a", "[1.2.3.4]", false, false, 0 },
	{ "<a@[IPv6:2001:db8::1]>", FWD, false, "a", "[IPv6:2001:db8::1]", false, false, 0 },
	/* hyphens inside labels, digits anywhere */
	{ "<a@x-y.z>", FWD, false, "a", "x-y.z", false, false, 0 },
	{ "<a@x--y.z>", FWD, false, "a", "x--y.z", false, false, 0 },
	{ "<a@1.2.3.4>", FWD, false, "a", "1.2.3.4", false, false, 0 },
	{ "<a@3com.example>", FWD, false, "a", "3com.example", false, false, 0 },
	{ "<a-@x>", FWD, false, "a-", "x", false, false, 0 },
	/* UTF-8 with SMTPUTF8 */
	{ "<\xc3\xbc@b>", FWD, true, "\xc3\xbc", "b", false, true, 0 },
	{ "<a@\xe4\xbe\x8b.example>", FWD, true, "a", "\xe4\xbe\x8b.example", false, true, 0 },
	{ "<\xf0\x9f\x98\x80@x>", FWD, true, "\xf0\x9f\x98\x80", "x", false, true, 0 },
	{ "<\"\xc3\xbc x\"@b>", FWD, true, "\"\xc3\xbc x\"", "b", false, true, 0 },
	{ "<\xe2\x82\xac.\xc3\xa9@\xc3\xa9t\xc3\xa9.fr>", FWD, true,
	  "\xe2\x82\xac.\xc3\xa9", "\xc3\xa9t\xc3\xa9.fr", false, true, 0 },
	{ "<\xf4\x8f\xbf\xbf@x>", FWD, true, "\xf4\x8f\xbf\xbf", "x", false, true, 0 },
	{ "<a@b>", FWD, true, "a", "b", false, false, 0 },
};

static void
test_path_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(path_ok); i++) {
		const struct path_ok *c = &path_ok[i];
		struct smtp_path p;
		size_t used = 0, want = c->consumed ? c->consumed : strlen(c->in);
		enum smtp_addr_err e;

		e = smtp_addr_parse_path(c->in, strlen(c->in), c->kind,
		    c->allow_utf8, &p, &used);
		if (e != SMTP_ADDR_OK)
			fail_msg("case %zu \"%s\": %s", i, c->in, smtp_addr_strerror(e));
		assert_string_equal(p.local, c->local);
		assert_string_equal(p.domain, c->domain);
		assert_int_equal(p.null, c->null);
		assert_int_equal(p.utf8, c->utf8);
		if (used != want)
			fail_msg("case %zu \"%s\": consumed %zu, want %zu", i, c->in,
			    used, want);
	}
}

struct path_bad {
	const char *in;
	size_t len;               /* 0: strlen(in) */
	enum smtp_path_kind kind;
	bool allow_utf8;
	enum smtp_addr_err err;
};

static const struct path_bad path_bad[] = {
	{ "", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ ">", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "a@b", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@b", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ " <a@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<>", 0, FWD, true, SMTP_ADDR_SYNTAX },
	{ "<a>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<postmasterx>", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* "<Postmaster>" is RCPT's form alone (RFC 5321 §4.1.1.3) */
	{ "<postmaster>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<PostMaster>", 0, REV, false, SMTP_ADDR_SYNTAX },
	{ "<@a:postmaster>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a:postmaster>", 0, FWD, true, SMTP_ADDR_SYNTAX },
	{ "<@a,@b:Postmaster>", 0, FWD, false, SMTP_ADDR_SYNTAX },
	{ "<postmaster>", 1, FWD, false, SMTP_ADDR_SYNTAX },
	{ "<postmaster@>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@b@c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a b@c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@b c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "< a@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@b >", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a\0b@c>", 7, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@b\0>", 6, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a(b)@c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a,b@c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a\x7f@c>", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* dots in the local part */
	{ "<a..b@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<.a@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a.@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<.@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* domains */
	{ "<a@-x.com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x-.com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x.-com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x.com->", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@->", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x..com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@.x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x.>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x_y.com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@x!y.com>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[]>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[1.2.3.4>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[1.2[3]>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[1.2 3]>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[1\\.2]>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@[1.2.3.4]x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* quoted strings */
	{ "<\"a@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\"b@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a\"b\"@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\x01\"@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\\\x01\"@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\x7f\"@x>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\\", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"a\"", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* source routes */
	{ "<@a,@b u@d>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a,u@d>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@:u@d>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a,@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a,>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a:>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@a:@b:u@d>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<@-a:u@d>", 0, REV, true, SMTP_ADDR_SYNTAX },
	/* UTF-8 without SMTPUTF8 */
	{ "<\xc3\xbc@b>", 0, REV, false, SMTP_ADDR_NEED_UTF8 },
	{ "<a@\xc3\xbc.b>", 0, REV, false, SMTP_ADDR_NEED_UTF8 },
	{ "<\"\xc3\xbc\"@b>", 0, REV, false, SMTP_ADDR_NEED_UTF8 },
	/* malformed UTF-8, even with SMTPUTF8 */
	{ "<\xc0\xaf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },          /* overlong '/' */
	{ "<\xc1\xbf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },          /* overlong */
	{ "<\xe0\x80\xaf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },      /* overlong */
	{ "<\xe0\x9f\xbf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },      /* overlong U+7FF */
	{ "<\xf0\x80\x80\xaf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },  /* overlong */
	{ "<\xf0\x8f\xbf\xbf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },  /* overlong U+FFFF */
	{ "<\xed\xa0\x80@b>", 0, REV, true, SMTP_ADDR_SYNTAX },      /* U+D800 */
	{ "<\xed\xbf\xbf@b>", 0, REV, true, SMTP_ADDR_SYNTAX },      /* U+DFFF */
	{ "<\xf4\x90\x80\x80@b>", 0, REV, true, SMTP_ADDR_SYNTAX },  /* U+110000 */
	{ "<\xf5\x80\x80\x80@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\xf8\x88\x80\x80\x80@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\xc3@b>", 0, REV, true, SMTP_ADDR_SYNTAX },              /* truncated */
	{ "<a\xe4\xbe@b>", 0, REV, true, SMTP_ADDR_SYNTAX },         /* truncated */
	{ "<\xf0\x9f\x98@b>", 0, REV, true, SMTP_ADDR_SYNTAX },      /* truncated */
	{ "<a@b\xc3>", 0, REV, true, SMTP_ADDR_SYNTAX },             /* truncated at '>' */
	{ "<\x80@b>", 0, REV, true, SMTP_ADDR_SYNTAX },              /* lone continuation */
	{ "<\xff@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<a@\xed\xa0\x80.b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"\xc0\xaf\"@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
	{ "<\"\xc3\"@b>", 0, REV, true, SMTP_ADDR_SYNTAX },
};

static void
test_path_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(path_bad); i++) {
		const struct path_bad *c = &path_bad[i];
		size_t len = c->len ? c->len : strlen(c->in), used = 12345;
		struct smtp_path p;
		enum smtp_addr_err e;

		e = smtp_addr_parse_path(c->in, len, c->kind, c->allow_utf8,
		    &p, &used);
		if (e != c->err)
			fail_msg("case %zu \"%s\": %s, want %s", i, c->in,
			    smtp_addr_strerror(e), smtp_addr_strerror(c->err));
	}
}

/* Builds a dot-separated domain of exactly n octets from 63-octet labels. */
static void
make_domain(char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (i % 64 == 63) ? '.' : 'a' + (char)(i % 26);
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = 'z';
	out[n] = '\0';
}

static enum smtp_addr_err
parse_built(size_t local_len, size_t domain_len, size_t *used)
{
	char s[1024], dom[600];
	struct smtp_path p;
	size_t n = 0;

	s[n++] = '<';
	memset(s + n, 'l', local_len);
	n += local_len;
	s[n++] = '@';
	make_domain(dom, domain_len);
	memcpy(s + n, dom, domain_len);
	n += domain_len;
	s[n++] = '>';
	s[n] = '\0';
	return smtp_addr_parse_path(s, n, FWD, false, &p, used);
}

static void
test_length_limits(void **state)
{
	char s[1024], dom[600];
	struct smtp_path p;
	size_t used;

	(void)state;
	/* local part: 64 ok, 65 too long */
	assert_int_equal(parse_built(64, 10, &used), SMTP_ADDR_OK);
	assert_int_equal(used, 1 + 64 + 1 + 10 + 1);
	assert_int_equal(parse_built(65, 10, &used), SMTP_ADDR_LOCAL_LONG);
	assert_int_equal(parse_built(200, 10, &used), SMTP_ADDR_LOCAL_LONG);

	/* quoted local part counts its quotes */
	snprintf(s, sizeof(s), "<\"%062d\"@x>", 0);
	assert_int_equal(smtp_addr_parse_path(s, strlen(s), FWD, false, &p,
	    &used), SMTP_ADDR_OK);
	assert_int_equal(strlen(p.local), 64);
	snprintf(s, sizeof(s), "<\"%063d\"@x>", 0);
	assert_int_equal(smtp_addr_parse_path(s, strlen(s), FWD, false, &p,
	    &used), SMTP_ADDR_LOCAL_LONG);

	/* whole path: "<" 64 "@" 189 ">" = 256 ok; one more is too long */
	assert_int_equal(parse_built(64, 189, &used), SMTP_ADDR_OK);
	assert_int_equal(used, 256);
	assert_int_equal(parse_built(64, 190, &used), SMTP_ADDR_PATH_LONG);
	assert_int_equal(parse_built(1, 300, &used), SMTP_ADDR_PATH_LONG);

	/* the path limit applies before the content is looked at */
	memset(s, 'x', 400);
	s[0] = '<';
	s[399] = '>';
	assert_int_equal(smtp_addr_parse_path(s, 400, FWD, false, &p, &used),
	    SMTP_ADDR_PATH_LONG);
	/* and with no '>' at all it is plain syntax */
	assert_int_equal(smtp_addr_parse_path(s, 399, FWD, false, &p, &used),
	    SMTP_ADDR_SYNTAX);

	/* domain: 255 ok, 256 too long (only reachable in a bare mailbox) */
	s[0] = 'a';
	s[1] = '@';
	make_domain(dom, 255);
	memcpy(s + 2, dom, 256);
	assert_int_equal(smtp_addr_parse_mailbox(s, strlen(s), false, &p),
	    SMTP_ADDR_OK);
	assert_string_equal(p.domain, dom);
	make_domain(dom, 256);
	memcpy(s + 2, dom, 257);
	assert_int_equal(smtp_addr_parse_mailbox(s, strlen(s), false, &p),
	    SMTP_ADDR_DOMAIN_LONG);
	make_domain(dom, 500);
	memcpy(s + 2, dom, 501);
	assert_int_equal(smtp_addr_parse_mailbox(s, strlen(s), false, &p),
	    SMTP_ADDR_DOMAIN_LONG);
}

/* The path is not NUL-terminated: only len bytes may be read. */
static void
test_path_bounded(void **state)
{
	const char s[] = "<a@b>";
	struct smtp_path p;
	size_t used, n;

	(void)state;
	for (n = 0; n < sizeof(s) - 1; n++)
		assert_int_equal(smtp_addr_parse_path(s, n, REV, true, &p, &used),
		    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_parse_path(s, 5, REV, true, &p, &used),
	    SMTP_ADDR_OK);
}

static void
test_mailbox(void **state)
{
	static const struct {
		const char *in;
		bool utf8;
		enum smtp_addr_err err;
		const char *local, *domain;
	} cases[] = {
		{ "a@b", false, SMTP_ADDR_OK, "a", "b" },
		{ "postmaster@example.org", false, SMTP_ADDR_OK, "postmaster", "example.org" },
		{ "\"a b\"@x", false, SMTP_ADDR_OK, "\"a b\"", "x" },
		{ "a@[1.2.3.4]", false, SMTP_ADDR_OK, "a", "[1.2.3.4]" },
		{ "\xc3\xbc@b", true, SMTP_ADDR_OK, "\xc3\xbc", "b" },
		{ "\xc3\xbc@b", false, SMTP_ADDR_NEED_UTF8, NULL, NULL },
		{ "", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "postmaster", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "<a@b>", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a@b>", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a@b ", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ " a@b", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a@b.", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a..b@c", false, SMTP_ADDR_SYNTAX, NULL, NULL },
		{ "a@b,c@d", false, SMTP_ADDR_SYNTAX, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct smtp_path p;
		enum smtp_addr_err e;

		e = smtp_addr_parse_mailbox(cases[i].in, strlen(cases[i].in),
		    cases[i].utf8, &p);
		if (e != cases[i].err)
			fail_msg("case %zu \"%s\": %s", i, cases[i].in,
			    smtp_addr_strerror(e));
		if (e == SMTP_ADDR_OK) {
			assert_string_equal(p.local, cases[i].local);
			assert_string_equal(p.domain, cases[i].domain);
			assert_false(p.null);
		}
	}
}

static void
test_utf8_valid(void **state)
{
	static const char *good[] = {
		"", "abc", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
		"\xe4\xbe\x8b", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
		"\xee\x80\x80", "\xed\x9f\xbf", "a\xc3\xbc" "b",
	};
	static const char *bad[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x41",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xe0\xa0", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
		"\xf0\x90\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80", "\xfe", "\xff", "a\xc3",
		"\xe4\xbe\x8b\x8b",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(good); i++) {
		if (!smtp_utf8_valid(good[i], strlen(good[i])))
			fail_msg("utf8 good[%zu] rejected", i);
	}
	for (i = 0; i < NELEM(bad); i++) {
		if (smtp_utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("utf8 bad[%zu] accepted", i);
	}
	/* NUL is ASCII, and the length is authoritative */
	assert_true(smtp_utf8_valid("a\0b", 3));
	assert_false(smtp_utf8_valid("\xc3\xbc", 1));
}

static void
test_unquote(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "abc", "abc" },
		{ "a.b", "a.b" },
		{ "\"a b\"", "a b" },
		{ "\"a\\\"b\"", "a\"b" },
		{ "\"a\\\\b\"", "a\\b" },
		{ "\"\\a\"", "a" },
		{ "\"\"", "" },
		{ "\"a.\"", "a." },
		{ "\"\xc3\xbc x\"", "\xc3\xbc x" },
	};
	char out[SMTP_LOCAL_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		assert_int_equal(smtp_addr_unquote_local(cases[i].in, out,
		    sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
	}
	/* exact fit, then one short */
	assert_int_equal(smtp_addr_unquote_local("\"ab\"", out, 3), 0);
	assert_string_equal(out, "ab");
	assert_int_equal(smtp_addr_unquote_local("\"abc\"", out, 3), -1);
	assert_int_equal(smtp_addr_unquote_local("ab", out, 3), 0);
	assert_int_equal(smtp_addr_unquote_local("abc", out, 3), -1);
}

/* What the parser accepts, unquote turns into the mailbox name. */
static void
test_parse_then_unquote(void **state)
{
	const char *in = "<\"john \\\"jd\\\" doe\"@example.org>";
	char out[SMTP_LOCAL_MAX + 1];
	struct smtp_path p;
	size_t used;

	(void)state;
	assert_int_equal(smtp_addr_parse_path(in, strlen(in), FWD, false, &p,
	    &used), SMTP_ADDR_OK);
	assert_int_equal(smtp_addr_unquote_local(p.local, out, sizeof(out)), 0);
	assert_string_equal(out, "john \"jd\" doe");
}

static void
test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = SMTP_ADDR_OK; e <= SMTP_ADDR_NEED_UTF8; e++) {
		const char *s = smtp_addr_strerror((enum smtp_addr_err)e);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_path_invalid),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_path_bounded),
		cmocka_unit_test(test_mailbox),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_unquote),
		cmocka_unit_test(test_parse_then_unquote),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
