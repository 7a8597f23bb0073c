/*
 * test_imap_search: SEARCH keys of RFC 9051 / RFC 3501, ESEARCH RETURN
 * options, CHARSET and MODSEQ, parsed from tokens and evaluated against
 * a mailbox of five messages (each row gives which ones match); the
 * errors and where they are; the limits; IMAP dates; Unicode case-folded
 * matching.
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

#include "proto/imap_search.h"

/* The command line's tokens as the grammar would give them: atoms,
 * "quoted" strings (no escapes), parentheses. */
static size_t
tokenize(const char *s, struct imap_tok *t, size_t max)
{
	size_t n = 0;

	while (*s != '\0' && n < max) {
		if (*s == ' ') {
			s++;
		} else if (*s == '(' || *s == ')') {
			t[n].type = *s == '(' ? IMAP_TOK_LPAREN : IMAP_TOK_RPAREN;
			t[n].s = s++;
			t[n++].len = 1;
		} else if (*s == '"') {
			const char *e = strchr(s + 1, '"');

			assert_non_null(e);
			t[n].type = IMAP_TOK_STRING;
			t[n].s = s + 1;
			t[n++].len = (size_t)(e - s - 1);
			s = e + 1;
		} else {
			size_t l = strcspn(s, " ()");

			t[n].type = IMAP_TOK_ATOM;
			t[n].s = s;
			t[n++].len = l;
			s += l;
		}
	}
	return n;
}

/* Five messages; text lives in "headers" and "body" below. */
struct fake {
	const char *subject, *from, *body;
};

static const struct fake fakes[5] = {
	{ "Hello world", "alice@example.org", "first body" },
	{ "Re: Grüße aus KÖLN", "bob@example.org", "zweiter Text" },
	{ "ΣΊΣΥΦΟΣ report", "carol@example.net", "STRASSE" },
	{ "meeting", "dave@example.org", "straße" },
	{ "", "", "" },
};

static bool
header_cb(void *ctx, const char *field, size_t flen, const char *needle, size_t nlen)
{
	const struct fake *f = ctx;
	const char *v;

	if (flen == 7 && strncasecmp(field, "subject", 7) == 0)
		v = f->subject;
	else if (flen == 4 && strncasecmp(field, "from", 4) == 0)
		v = f->from;
	else
		return false;
	if (*v == '\0')   /* no such field */
		return false;
	return imap_search_match(needle, nlen, v, strlen(v));
}

static bool
body_cb(void *ctx, const char *needle, size_t nlen)
{
	const struct fake *f = ctx;

	return imap_search_match(needle, nlen, f->body, strlen(f->body));
}

static bool
text_cb(void *ctx, const char *needle, size_t nlen)
{
	const struct fake *f = ctx;

	return imap_search_match(needle, nlen, f->subject, strlen(f->subject)) ||
	    imap_search_match(needle, nlen, f->from, strlen(f->from)) ||
	    body_cb(ctx, needle, nlen);
}

static const struct imap_tok kw_work[] = { { IMAP_TOK_ATOM, "$Work", 5 } };

static void
fill(struct imap_search_msg *m, unsigned i)
{
	static const uint32_t flags[5] = {
		IMAP_FLAG_SEEN,
		IMAP_FLAG_RECENT,
		IMAP_FLAG_RECENT | IMAP_FLAG_SEEN | IMAP_FLAG_FLAGGED,
		IMAP_FLAG_ANSWERED | IMAP_FLAG_SEEN | IMAP_FLAG_DELETED,
		IMAP_FLAG_DRAFT,
	};
	int32_t jan1 = imap_days_from_civil(2024, 1, 1);

	memset(m, 0, sizeof(*m));
	m->seq = i + 1;
	m->uid = (i + 1) * 10;
	m->max_seq = 5;
	m->max_uid = 50;
	m->flags = flags[i];
	m->keywords = i % 2 == 0 ? kw_work : NULL;
	m->nkeywords = i % 2 == 0 ? 1 : 0;
	m->size = 1000 * (i + 1);
	m->internal_day = jan1 + (int32_t)i;       /* 1-Jan-2024 ... 5-Jan */
	m->sent_day = jan1 - 1 + (int32_t)i;       /* a day earlier */
	m->modseq = 100 + i;
	m->in_saved = i == 1 || i == 4;
	m->ctx = (void *)&fakes[i];
	m->header_contains = header_cb;
	m->body_contains = body_cb;
	m->text_contains = text_cb;
}

static void
run_matches(const struct imap_search *s, char *out, size_t outsz)
{
	struct imap_search_msg m;
	size_t len = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < 5; i++) {
		fill(&m, i);
		if (imap_search_eval(s, &m))
			len += (size_t)snprintf(out + len, outsz - len, "%s%u", len ? "," : "", i + 1);
	}
}

static void
test_eval(void **state)
{
	static const struct {
		const char *cmd;
		const char *want;   /* sequence numbers that match */
	} t[] = {
		{ "ALL", "1,2,3,4,5" },
		{ "SEEN", "1,3,4" },
		{ "unseen", "2,5" },
		{ "ANSWERED", "4" }, { "UNANSWERED", "1,2,3,5" },
		{ "DELETED", "4" }, { "UNDELETED", "1,2,3,5" },
		{ "DRAFT", "5" }, { "UNDRAFT", "1,2,3,4" },
		{ "FLAGGED", "3" }, { "UNFLAGGED", "1,2,4,5" },
		{ "RECENT", "2,3" }, { "OLD", "1,4,5" },
		{ "NEW", "2" },
		{ "KEYWORD $work", "1,3,5" }, { "UNKEYWORD $Work", "2,4" },
		{ "KEYWORD $Other", "" },
		{ "1", "1" }, { "2:4", "2,3,4" }, { "4:2", "2,3,4" },
		{ "*", "5" }, { "4:*", "4,5" }, { "9:*", "5" }, { "1,3,5", "1,3,5" },
		{ "6", "" },
		{ "UID 20:30", "2,3" }, { "UID *", "5" }, { "UID 45:*", "5" },
		{ "UID 1:15,41", "1" },
		{ "$", "2,5" }, { "UID $", "2,5" },
		{ "LARGER 2000", "3,4,5" }, { "SMALLER 2000", "1" },
		{ "LARGER 0", "1,2,3,4,5" },
		{ "BEFORE 3-Jan-2024", "1,2" }, { "ON 3-jan-2024", "3" },
		{ "SINCE 03-JAN-2024", "3,4,5" }, { "SINCE \"3-Jan-2024\"", "3,4,5" },
		{ "SENTBEFORE 1-Jan-2024", "1" }, { "SENTON 1-Jan-2024", "2" },
		{ "SENTSINCE 3-Jan-2024", "4,5" },
		{ "MODSEQ 102", "3,4,5" },
		{ "MODSEQ \"/flags/\\\\Seen\" all 104", "5" },
		{ "NOT SEEN", "2,5" }, { "NOT NOT SEEN", "1,3,4" },
		{ "OR SEEN DRAFT", "1,3,4,5" }, { "OR (SEEN FLAGGED) 2", "2,3" },
		{ "SEEN UNFLAGGED", "1,4" }, { "(SEEN) (UNFLAGGED)", "1,4" },
		{ "((((SEEN))))", "1,3,4" },
		{ "NOT (OR 1 5)", "2,3,4" },
		{ "SUBJECT hello", "1" }, { "SUBJECT \"HELLO WORLD\"", "1" },
		{ "SUBJECT grüße", "2" }, { "SUBJECT GRÜSSE", "2" },   /* ß folds to ss */
		{ "SUBJECT köln", "2" },
		{ "SUBJECT σίσυφος", "3" },      /* final sigma folds as the rest */
		{ "BODY strasse", "3,4" },       /* ß folds to ss */
		{ "BODY Straße", "3,4" },
		{ "BODY \"\"", "1,2,3,4,5" },
		{ "FROM example.org", "1,2,4" }, { "FROM EXAMPLE.NET", "3" },
		{ "HEADER Subject \"\"", "1,2,3,4" },   /* has the field */
		{ "HEADER X-Nothing \"\"", "" },
		{ "HEADER from carol", "3" },
		{ "TO anyone", "" }, { "CC x", "" }, { "BCC x", "" },
		{ "TEXT zweiter", "2" }, { "TEXT ALICE", "1" },
		{ "CHARSET UTF-8 SUBJECT köln", "2" },
		{ "CHARSET us-ascii SEEN", "1,3,4" },
		{ "RETURN (MIN MAX) SEEN", "1,3,4" },
		{ "RETURN () CHARSET UTF-8 OR 1 2", "1,2" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_tok toks[32];
		struct imap_search s;
		size_t n = tokenize(t[i].cmd, toks, 32), bad = 99;
		enum imap_search_err e = imap_search_parse(toks, n, NULL, &s, &bad);
		char got[64];

		if (e != IMAP_SEARCH_OK)
			fail_msg("%zu \"%s\": %s at token %zu", i, t[i].cmd,
			    imap_search_strerror(e), bad);
		run_matches(&s, got, sizeof(got));
		if (strcmp(got, t[i].want) != 0)
			fail_msg("%zu \"%s\": matched \"%s\", want \"%s\"", i, t[i].cmd,
			    got, t[i].want);
		imap_search_free(&s);
	}
}

static void
test_errors(void **state)
{
	static const struct {
		const char *cmd;
		enum imap_search_err want;
		size_t tok;     /* the token at fault */
	} t[] = {
		{ "", IMAP_SEARCH_SYNTAX, 0 },
		{ "FOO", IMAP_SEARCH_SYNTAX, 0 },
		{ "SEEN FOO", IMAP_SEARCH_SYNTAX, 1 },
		{ "()", IMAP_SEARCH_SYNTAX, 1 },
		{ "(SEEN", IMAP_SEARCH_SYNTAX, 2 },
		{ "SEEN)", IMAP_SEARCH_SYNTAX, 1 },
		{ ")", IMAP_SEARCH_SYNTAX, 0 },
		{ "NOT", IMAP_SEARCH_SYNTAX, 1 },
		{ "OR SEEN", IMAP_SEARCH_SYNTAX, 2 },
		{ "SUBJECT", IMAP_SEARCH_SYNTAX, 1 },
		{ "HEADER Subject", IMAP_SEARCH_SYNTAX, 2 },
		{ "HEADER \"\" x", IMAP_SEARCH_SYNTAX, 1 },
		{ "KEYWORD \"x\"", IMAP_SEARCH_SYNTAX, 1 },
		{ "KEYWORD (x)", IMAP_SEARCH_SYNTAX, 1 },
		{ "0", IMAP_SEARCH_SYNTAX, 0 },
		{ "01", IMAP_SEARCH_SYNTAX, 0 },
		{ "1:", IMAP_SEARCH_SYNTAX, 0 },
		{ ":1", IMAP_SEARCH_SYNTAX, 0 },
		{ "1,", IMAP_SEARCH_SYNTAX, 0 },
		{ ",1", IMAP_SEARCH_SYNTAX, 0 },
		{ "1::2", IMAP_SEARCH_SYNTAX, 0 },
		{ "4294967296", IMAP_SEARCH_SYNTAX, 0 },
		{ "**", IMAP_SEARCH_SYNTAX, 0 },
		{ "UID", IMAP_SEARCH_SYNTAX, 1 },
		{ "UID SEEN", IMAP_SEARCH_SYNTAX, 1 },
		{ "LARGER -1", IMAP_SEARCH_SYNTAX, 1 },
		{ "LARGER 9223372036854775808", IMAP_SEARCH_SYNTAX, 1 },
		{ "SMALLER x", IMAP_SEARCH_SYNTAX, 1 },
		{ "BEFORE 32-Jan-2024", IMAP_SEARCH_SYNTAX, 1 },
		{ "BEFORE 29-Feb-2023", IMAP_SEARCH_SYNTAX, 1 },
		{ "ON 1-Foo-2024", IMAP_SEARCH_SYNTAX, 1 },
		{ "ON 2024-01-01", IMAP_SEARCH_SYNTAX, 1 },
		{ "MODSEQ \"/flags/x\" bogus 5", IMAP_SEARCH_SYNTAX, 2 },
		{ "MODSEQ \"/flags/x\" 5", IMAP_SEARCH_SYNTAX, 2 },
		{ "CHARSET ISO-8859-1 SEEN", IMAP_SEARCH_BADCHARSET, 1 },
		{ "CHARSET", IMAP_SEARCH_SYNTAX, 1 },
		{ "CHARSET UTF-8", IMAP_SEARCH_SYNTAX, 2 },
		{ "RETURN SEEN", IMAP_SEARCH_SYNTAX, 1 },
		{ "RETURN (BOGUS) SEEN", IMAP_SEARCH_SYNTAX, 2 },
		{ "RETURN (MIN", IMAP_SEARCH_SYNTAX, 3 },
		{ "SUBJECT \"\xff\"", IMAP_SEARCH_BAD_UTF8, 1 },
		{ "BODY \"\xc3\"", IMAP_SEARCH_BAD_UTF8, 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_tok toks[32];
		struct imap_search s;
		size_t n = tokenize(t[i].cmd, toks, 32), bad = 99;
		enum imap_search_err e = imap_search_parse(toks, n, NULL, &s, &bad);

		if (e != t[i].want || bad != t[i].tok)
			fail_msg("%zu \"%s\": %s at %zu", i, t[i].cmd, imap_search_strerror(e), bad);
		assert_null(s.nodes);
		assert_int_equal(s.nnodes, 0);
	}
}

static void
test_return(void **state)
{
	struct imap_tok toks[16];
	struct imap_search s;
	size_t n;

	(void)state;
	n = tokenize("RETURN (MIN COUNT SAVE) MODSEQ 5", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, NULL, &s, NULL), IMAP_SEARCH_OK);
	assert_true(s.esearch);
	assert_true(s.has_modseq);
	assert_int_equal(s.ret, IMAP_RET_MIN | IMAP_RET_COUNT | IMAP_RET_SAVE);
	imap_search_free(&s);
	n = tokenize("RETURN () ALL", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, NULL, &s, NULL), IMAP_SEARCH_OK);
	assert_int_equal(s.ret, IMAP_RET_ALL);
	imap_search_free(&s);
	n = tokenize("ALL", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, NULL, &s, NULL), IMAP_SEARCH_OK);
	assert_false(s.esearch);
	assert_false(s.has_modseq);
	imap_search_free(&s);
}

static void
test_limits(void **state)
{
	struct imap_search_limits lim = { .max_depth = 4, .max_nodes = 6, .max_ranges = 3 };
	struct imap_tok toks[4096];
	struct imap_search s;
	size_t i, n;

	(void)state;
	n = tokenize("NOT NOT NOT SEEN", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_OK);
	imap_search_free(&s);
	n = tokenize("NOT NOT NOT NOT SEEN", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_TOO_DEEP);
	n = tokenize("((((SEEN))))", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_TOO_DEEP);
	n = tokenize("SEEN SEEN SEEN SEEN SEEN", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_OK);
	imap_search_free(&s);
	n = tokenize("SEEN SEEN SEEN SEEN SEEN SEEN", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_TOO_BIG);
	n = tokenize("1,2 3", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_OK);
	imap_search_free(&s);
	n = tokenize("1,2,3,4", toks, 16);
	assert_int_equal(imap_search_parse(toks, n, &lim, &s, NULL), IMAP_SEARCH_TOO_BIG);

	/* the default depth stops a deep nest before the stack does */
	for (i = 0; i < 4000; i++)
		toks[i] = (struct imap_tok){ IMAP_TOK_ATOM, "NOT", 3 };
	toks[i++] = (struct imap_tok){ IMAP_TOK_ATOM, "ALL", 3 };
	assert_int_equal(imap_search_parse(toks, i, NULL, &s, NULL), IMAP_SEARCH_TOO_DEEP);
}

static void
test_dates(void **state)
{
	int32_t d;

	(void)state;
	assert_true(imap_date_parse("1-Jan-1970", 10, &d));
	assert_int_equal(d, 0);
	assert_true(imap_date_parse("01-jan-1970", 11, &d));
	assert_int_equal(d, 0);
	assert_true(imap_date_parse("29-Feb-2000", 11, &d));
	assert_int_equal(d, 11016);
	assert_true(imap_date_parse("31-Dec-1969", 11, &d));
	assert_int_equal(d, -1);
	assert_false(imap_date_parse("29-Feb-1900", 11, &d));
	assert_false(imap_date_parse("31-Apr-2024", 11, &d));
	assert_false(imap_date_parse("0-Jan-2024", 10, &d));
	assert_false(imap_date_parse("1-Jan-24", 8, &d));
	assert_false(imap_date_parse("1-Janu-2024", 11, &d));
	assert_false(imap_date_parse("123-Jan-2024", 12, &d));
	assert_false(imap_date_parse("1 Jan 2024", 10, &d));
	assert_false(imap_date_parse("", 0, &d));
	assert_int_equal(imap_days_from_civil(2024, 1, 1), 19723);
}

static void
test_match(void **state)
{
	size_t n;
	char *f;

	(void)state;
	f = imap_search_fold("ÄBC", strlen("ÄBC"), &n);
	assert_non_null(f);
	assert_int_equal(n, strlen("äbc"));
	assert_memory_equal(f, "äbc", n);
	assert_true(imap_search_match(f, n, "xxÄbCxx", strlen("xxÄbCxx")));
	assert_false(imap_search_match(f, n, "abc", 3));
	free(f);
	assert_null(imap_search_fold("\xff", 1, &n));
	/* text that is not UTF-8 still matches in ASCII */
	assert_true(imap_search_match("abc", 3, "\xff" "ABC", 4));
	assert_false(imap_search_match("abd", 3, "\xff" "ABC", 4));
	assert_true(imap_search_match("", 0, "", 0));
	assert_false(imap_search_match("a", 1, "", 0));
	/* ASCII text: the case-blind scan (first octet in either case, a
	 * near miss before the match, the match at the very end) */
	assert_true(imap_search_match("zebra", 5, "zebrZEBRA", 9));
	assert_true(imap_search_match("zebra", 5, "zzzzzebra", 9));
	assert_false(imap_search_match("zebra", 5, "zebr", 4));
	assert_true(imap_search_match("1+1", 3, "x1+1", 4));
	assert_false(imap_search_match("zebra", 5, "ZEBRB zebrb", 11));
	assert_true(imap_search_match("ss", 2, "STRASSE", 7));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_return),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
