/*
 * test_logline: tern's log lines read back (proto/logline.c). A table of
 * lines as ternd, journalctl and syslog write them, and malformed ones,
 * each with the prefix, fields and rest the parser must find; every value
 * log_append_value can write comes back as it was; timestamps to
 * milliseconds; and every prefix of every row parsed from a buffer of its
 * own size, so a read past the length is an ASan report.
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
#include "common/log.h"
#include "proto/logline.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NOTIME INT64_MIN

struct line_case {
	const char *line;
	enum logline_err err;
	const char *stamp;        /* NULL: none */
	const char *host, *prog;  /* NULL: none */
	long pid;
	int64_t ms;               /* NOTIME: no complete time */
	const char *kv[13];       /* key, value, ..., NULL */
	const char *rest;         /* NULL: none */
};

static struct logline L;    /* 8 KiB: not on the stack */

static const struct line_case cases[] = {
	/* ternd on stderr */
	{ "2026-12-02T10:00:00.123Z ternd[42]: id=661154E0EFD7F000 event=queued sid=1 "
	  "client=127.0.0.1 from=<a@b.org> size=28 nrcpt=1 proto=ESMTP msgid=<x@y>",
	  LOGLINE_OK, "2026-12-02T10:00:00.123Z", NULL, "ternd", 42, 1796205600123LL,
	  { "id", "661154E0EFD7F000", "event", "queued", "sid", "1", "client", "127.0.0.1",
	    "from", "<a@b.org>", "size", "28", NULL }, NULL },
	{ "2026-12-02T10:00:00.004Z ternd[42]: id=A event=delivery to=<p@l> relay=local "
	  "delay=0.004 dsn=2.0.0 status=sent detail=\"delivered to maildir\"\n",
	  LOGLINE_OK, "2026-12-02T10:00:00.004Z", NULL, "ternd", 42, 1796205600004LL,
	  { "id", "A", "event", "delivery", "to", "<p@l>", "relay", "local",
	    "delay", "0.004", "dsn", "2.0.0", NULL }, NULL },
	/* escapes undone; '=' inside quotes; an empty quoted value */
	{ "2026-12-02T10:00:00.000Z ternd[1]: sid=3 event=auth-failed client=::1 "
	  "user=\"a b\\\"c\\\\d\\x0d\\x0ae=f\" x=\"\"",
	  LOGLINE_OK, "2026-12-02T10:00:00.000Z", NULL, "ternd", 1, 1796205600000LL,
	  { "sid", "3", "event", "auth-failed", "client", "::1",
	    "user", "a b\"c\\d\r\ne=f", "x", "", NULL }, NULL },
	{ "2026-12-02T10:00:00.000Z ternd[1]: msgid=\"<CAF\\x3dq@mail>\" y=\\x41",
	  LOGLINE_OK, "2026-12-02T10:00:00.000Z", NULL, "ternd", 1, 1796205600000LL,
	  { "msgid", "<CAF=q@mail>", "y", "\\x41", NULL }, NULL },
	/* UTF-8 passes through quotes as it is */
	{ "id=B event=queued from=\"<j\xc3\xb6rg@example>\"", LOGLINE_OK, NULL, NULL, NULL, -1,
	  NOTIME, { "id", "B", "event", "queued", "from", "<j\xc3\xb6rg@example>", NULL }, NULL },
	/* free text after the fields (log_warn) */
	{ "2026-12-02T10:00:00.000Z ternd[7]: id=C queue: write: No space left on device",
	  LOGLINE_OK, "2026-12-02T10:00:00.000Z", NULL, "ternd", 7, 1796205600000LL,
	  { "id", "C", NULL }, "queue: write: No space left on device" },
	{ "2026-12-02T10:00:00.000Z ternd[7]: listening on 127.0.0.1", LOGLINE_OK,
	  "2026-12-02T10:00:00.000Z", NULL, "ternd", 7, 1796205600000LL, { NULL },
	  "listening on 127.0.0.1" },
	/* journalctl -o short-iso-precise, both offset spellings */
	{ "2026-12-02T11:00:00.123456+0100 mx1 ternd[99]: id=D event=removed", LOGLINE_OK,
	  "2026-12-02T11:00:00.123456+0100", "mx1", "ternd", 99, 1796205600123LL,
	  { "id", "D", "event", "removed", NULL }, NULL },
	{ "2026-12-02T05:30:00-04:30 mx1 ternd[99]: id=D event=removed", LOGLINE_OK,
	  "2026-12-02T05:30:00-04:30", "mx1", "ternd", 99, 1796205600000LL,
	  { "id", "D", "event", "removed", NULL }, NULL },
	/* a zone-less ISO time: local, not complete */
	{ "2026-12-02 10:00:00,5 ternd: event=started", LOGLINE_OK, "2026-12-02 10:00:00,5",
	  NULL, "ternd", -1, NOTIME, { "event", "started", NULL }, NULL },
	/* traditional syslog: no year, no zone */
	{ "Dec  2 10:00:00 mx1 ternd[5]: id=E event=removed", LOGLINE_OK, "Dec  2 10:00:00",
	  "mx1", "ternd", 5, NOTIME, { "id", "E", "event", "removed", NULL }, NULL },
	{ "Dec 12 10:00:00 mx1 postfix/smtpd[5]: connect from x", LOGLINE_OK,
	  "Dec 12 10:00:00", "mx1", "postfix/smtpd", 5, NOTIME, { NULL }, "connect from x" },
	/* journalctl -o cat: the body alone */
	{ "id=F event=dsn dsn_id=G", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME,
	  { "id", "F", "event", "dsn", "dsn_id", "G", NULL }, NULL },
	{ "ternd[3]: event=stopping", LOGLINE_OK, NULL, NULL, "ternd", 3, NOTIME,
	  { "event", "stopping", NULL }, NULL },
	/* not a prefix: the words are the body */
	{ "2026-12-02T10:00:00Zx ternd[1]: a=b", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME,
	  { NULL }, "2026-12-02T10:00:00Zx ternd[1]: a=b" },
	{ "Foo  2 10:00:00 h p: a=b", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { NULL },
	  "Foo  2 10:00:00 h p: a=b" },
	{ "2026-13-02T10:00:00Z ternd: a=b", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { NULL },
	  "2026-13-02T10:00:00Z ternd: a=b" },
	{ "ternd[]: a=b", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { NULL }, "ternd[]: a=b" },
	{ "", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "\r\n", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	/* bare values may be empty; '=' with no key is text */
	{ "a= b=1 =c", LOGLINE_OK, NULL, NULL, NULL, -1, NOTIME, { "a", "", "b", "1", NULL },
	  "=c" },
	/* malformed quoting */
	{ "id=H detail=\"no end", LOGLINE_E_QUOTE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "id=H detail=\"x\"y", LOGLINE_E_QUOTE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "id=H detail=\"\\q\"", LOGLINE_E_ESCAPE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "id=H detail=\"\\x4\"", LOGLINE_E_ESCAPE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "id=H detail=\"\\xg0\"", LOGLINE_E_ESCAPE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
	{ "id=H detail=\"\\", LOGLINE_E_ESCAPE, NULL, NULL, NULL, -1, NOTIME, { NULL }, NULL },
};

static void
check_str(const char *p, size_t n, const char *want)
{
	if (want == NULL) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, strlen(want));
	assert_memory_equal(p, want, n);
}

static void
check_case(const struct line_case *c)
{
	enum logline_err e = logline_parse(c->line, strlen(c->line), &L);
	size_t i, n = 0;
	int64_t ms;

	assert_int_equal(e, c->err);
	if (e != LOGLINE_OK)
		return;
	check_str(L.stamp, L.stamp_len, c->stamp);
	assert_int_equal(L.t.have, c->stamp != NULL);
	check_str(L.host, L.host_len, c->host);
	check_str(L.prog, L.prog_len, c->prog);
	assert_int_equal(L.pid, c->pid);
	if (c->ms == NOTIME)
		assert_false(logline_time_ms(&L.t, &ms));
	else {
		assert_true(logline_time_ms(&L.t, &ms));
		assert_true(ms == c->ms);
	}
	while (c->kv[2 * n])
		n++;
	if (n < 6)   /* rows list every field, or the first six */
		assert_int_equal(L.nfields, n);
	for (i = 0; i < n; i++) {
		size_t vlen;
		const char *v = logline_get(&L, c->kv[2 * i], &vlen);

		assert_string_equal(L.f[i].key, c->kv[2 * i]);
		assert_non_null(v);
		check_str(L.f[i].val, L.f[i].vlen, c->kv[2 * i + 1]);
		assert_int_equal(L.f[i].val[L.f[i].vlen], '\0');
	}
	check_str(L.rest, L.rest_len, c->rest);
}

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		print_message("row %zu: %s\n", i, cases[i].line);
		check_case(&cases[i]);
	}
	assert_null(logline_get(&L, "nope", NULL));
}

/* Every octet, alone and in company, as log_append_value writes it. */
static void
test_round_trip(void **state)
{
	struct buf b = BUF_INIT;
	char v[8];
	size_t vlen;
	const char *got;
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		v[0] = 'a';
		v[1] = (char)c;
		v[2] = ' ';
		v[3] = '=';
		buf_reset(&b);
		buf_append_str(&b, "2026-12-02T10:00:00.000Z ternd[1]: id=X k=");
		assert_int_equal(log_append_value(&b, v + 1, 1), 0);
		buf_append_str(&b, " j=");
		assert_int_equal(log_append_value(&b, v, 4), 0);
		buf_append_str(&b, " end=1");
		assert_int_equal(logline_parse(b.data, b.len, &L), LOGLINE_OK);
		got = logline_get(&L, "k", &vlen);
		assert_non_null(got);
		assert_int_equal(vlen, 1);
		assert_int_equal((unsigned char)got[0], c);
		got = logline_get(&L, "j", &vlen);
		assert_int_equal(vlen, 4);
		assert_memory_equal(got, v, 4);
		assert_non_null(logline_get(&L, "end", NULL));
	}
	buf_release(&b);
}

static void
test_limits(void **state)
{
	char *big = malloc(LOGLINE_MAX + 2);
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', LOGLINE_MAX + 1);
	big[0] = 'a';
	big[1] = '=';
	assert_int_equal(logline_parse(big, LOGLINE_MAX, &L), LOGLINE_OK);
	assert_int_equal(L.f[0].vlen, LOGLINE_MAX - 2);
	assert_int_equal(logline_parse(big, LOGLINE_MAX + 1, &L), LOGLINE_E_TOO_LONG);
	/* the line end does not count */
	big[LOGLINE_MAX] = '\n';
	assert_int_equal(logline_parse(big, LOGLINE_MAX + 1, &L), LOGLINE_OK);
	free(big);

	for (i = 0; i < LOGLINE_MAX_FIELDS; i++)
		buf_append_str(&b, "k= ");
	assert_int_equal(logline_parse(b.data, b.len, &L), LOGLINE_OK);
	assert_int_equal(L.nfields, LOGLINE_MAX_FIELDS);
	buf_append_str(&b, "k=");
	assert_int_equal(logline_parse(b.data, b.len, &L), LOGLINE_E_FIELDS);
	buf_release(&b);
}

struct time_case {
	const char *s;
	size_t used;
	int64_t ms;     /* NOTIME: none or incomplete */
};

static const struct time_case times[] = {
	{ "1970-01-01T00:00:00Z", 20, 0 },
	{ "1969-12-31T23:59:59Z", 20, -1000 },
	{ "2000-02-29T12:00:00.5Z", 22, 951825600500LL },
	{ "2024-03-01T00:00:00+00:00", 25, 1709251200000LL },
	{ "2024-03-01T01:00:00+01", 22, 1709251200000LL },
	{ "2024-03-01T00:00:00.999999999Z", 30, 1709251200999LL },
	{ "2024-03-01 00:00:00", 19, NOTIME },
	{ "Mar  1 00:00:00", 15, NOTIME },
	{ "2024-03-01T24:00:00Z", 0, NOTIME },
	{ "2024-00-01T00:00:00Z", 0, NOTIME },
	{ "2024-03-01T00:00", 0, NOTIME },
	{ "Mar 32 00:00:00", 0, NOTIME },
	{ "mar  1 00:00:00", 0, NOTIME },
	/* a zone that is not one is left unread */
	{ "2024-03-01T00:00:00+2", 19, NOTIME },
	{ "2024-03-01T00:00:00+25:00", 19, NOTIME },
};

static void
test_times(void **state)
{
	struct logline_time t;
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < NELEM(times); i++) {
		const struct time_case *c = &times[i];

		print_message("time %s\n", c->s);
		assert_int_equal(logline_parse_time(c->s, strlen(c->s), &t), c->used);
		assert_int_equal(t.have, c->used > 0);
		if (c->ms == NOTIME)
			assert_false(logline_time_ms(&t, &ms));
		else {
			assert_true(logline_time_ms(&t, &ms));
			assert_true(ms == c->ms);
		}
	}
}

/* Every prefix of every row, from a buffer of exactly its size. */
static void
test_no_overread(void **state)
{
	struct logline_time t;
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		size_t len = strlen(cases[i].line);

		for (n = 0; n <= len; n++) {
			char *p = malloc(n ? n : 1);

			assert_non_null(p);
			memcpy(p, cases[i].line, n);
			(void)logline_parse(p, n, &L);
			(void)logline_parse_time(p, n, &t);
			free(p);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_no_overread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
