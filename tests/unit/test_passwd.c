/*
 * test_passwd: passwd-file lines (Dovecot's format), as the keeper reads
 * passwords and the directory reads users: the user must be local@domain;
 * the password and the extra fields are optional; colons after the 7th
 * belong to the extra field; control octets are refused. And whole files
 * as passwd_file_each walks them: line ends, numbers, blank and comment
 * lines skipped, stopping when the callback says so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "proto/passwd.h"

static void
test_lines(void **state)
{
	static const struct {
		const char *line;
		enum passwd_line want;
		const char *user, *pass, *extra;
	} t[] = {
		{ "alice@example.test", PASSWD_ENTRY, "alice@example.test", "", "" },
		{ "  alice@example.test  ", PASSWD_ENTRY, "alice@example.test", "", "" },
		{ "alice@example.test:{PLAIN}pw", PASSWD_ENTRY, "alice@example.test", "{PLAIN}pw", "" },
		{ "a@b:{CRYPT}$y$j9T$salt$hash:1000:1000::/home/a::userdb_quota_rule=*:storage=1G",
		  PASSWD_ENTRY, "a@b", "{CRYPT}$y$j9T$salt$hash", "userdb_quota_rule=*:storage=1G" },
		{ "a@b::::::: quota=1G  x=y ", PASSWD_ENTRY, "a@b", "", "quota=1G  x=y" },
		{ "a@b:pw:", PASSWD_ENTRY, "a@b", "pw", "" },
		{ "", PASSWD_SKIP, NULL, NULL, NULL },
		{ "   \t ", PASSWD_SKIP, NULL, NULL, NULL },
		{ "# comment: x@y", PASSWD_SKIP, NULL, NULL, NULL },
		{ "  # indented comment", PASSWD_SKIP, NULL, NULL, NULL },
		{ "alice", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ "@example.test", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ "alice@", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ "a@b@c", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ "al ice@example.test", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ ":pw", PASSWD_BAD_USER, NULL, NULL, NULL },
		{ "a@b:p\x01w", PASSWD_BAD_BYTES, NULL, NULL, NULL },
		{ "a@b\x7f", PASSWD_BAD_BYTES, NULL, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct passwd_entry e;
		enum passwd_line got = passwd_parse_line(t[i].line, strlen(t[i].line), &e);

		if (got != t[i].want)
			fail_msg("line %zu %s: got %d want %d", i, t[i].line, got, t[i].want);
		if (got != PASSWD_ENTRY)
			continue;
		assert_int_equal(e.user_len, strlen(t[i].user));
		assert_memory_equal(e.user, t[i].user, e.user_len);
		assert_int_equal(e.pass_len, strlen(t[i].pass));
		assert_memory_equal(e.pass, t[i].pass, e.pass_len);
		assert_int_equal(e.extra_len, strlen(t[i].extra));
		assert_memory_equal(e.extra, t[i].extra, e.extra_len);
	}
	/* NUL inside the line */
	{
		struct passwd_entry e;

		assert_int_equal(passwd_parse_line("a@b\0x", 5, &e), PASSWD_BAD_BYTES);
	}
}

static void
test_extra(void **state)
{
	const char *x = " quota=1G  flag key=a=b ";
	const char *k, *v;
	size_t kl, vl, pos = 0;

	(void)state;
	assert_true(passwd_next_extra(x, strlen(x), &pos, &k, &kl, &v, &vl));
	assert_int_equal(kl, 5);
	assert_memory_equal(k, "quota", 5);
	assert_int_equal(vl, 2);
	assert_memory_equal(v, "1G", 2);
	assert_true(passwd_next_extra(x, strlen(x), &pos, &k, &kl, &v, &vl));
	assert_int_equal(kl, 4);
	assert_memory_equal(k, "flag", 4);
	assert_int_equal(vl, 0);
	assert_true(passwd_next_extra(x, strlen(x), &pos, &k, &kl, &v, &vl));
	assert_memory_equal(k, "key", 3);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "a=b", 3);
	assert_false(passwd_next_extra(x, strlen(x), &pos, &k, &kl, &v, &vl));
	pos = 0;
	assert_false(passwd_next_extra("", 0, &pos, &k, &kl, &v, &vl));
}

/* Records each line handed over as "<n> <kind> <user or line>;". */
static int
record(void *arg, size_t lineno, const char *line, size_t len,
    enum passwd_line kind, const struct passwd_entry *e)
{
	struct buf *out = arg;

	if (kind == PASSWD_ENTRY) {
		assert_true(e->user >= line && e->user + e->user_len <= line + len);
		buf_printf(out, "%zu E %.*s;", lineno, (int)e->user_len, e->user);
	} else
		buf_printf(out, "%zu %c %.*s;", lineno, kind == PASSWD_BAD_USER ? 'U' : 'B',
		    (int)len, line);
	return 0;
}

static void
test_file_each(void **state)
{
	static const struct {
		const char *text;
		size_t len;          /* 0: strlen(text) */
		const char *want;
	} t[] = {
		{ "", 0, "" },
		{ "\n\n\n", 0, "" },
		{ "a@b", 0, "1 E a@b;" },
		{ "a@b\n", 0, "1 E a@b;" },
		{ "a@b\nc@d:{PLAIN}x\n", 0, "1 E a@b;2 E c@d;" },
		/* numbers count blank and comment lines too */
		{ "# users\n\na@b:x\n  \t\n#c@d\ne@f", 0, "3 E a@b;6 E e@f;" },
		/* CRLF and a CR run before the LF end a line; a lone CR does not */
		{ "a@b:x\r\nc@d\r\r\ne@f\r", 0, "1 E a@b;2 E c@d;3 E e@f;" },
		{ "a@b\rc@d\n", 0, "1 B a@b\rc@d;" },
		/* bad lines are handed over whole, without their line end */
		{ "alice:{PLAIN}x\r\nb@c\n", 0, "1 U alice:{PLAIN}x;2 E b@c;" },
		{ "a@b\x01\nc@d\n", 0, "1 B a@b\x01;2 E c@d;" },
		/* a NUL is inside a line, not its end */
		{ "a@b\0x\nc@d", 9, "1 B a@b;2 E c@d;" },
		/* the last line without its LF */
		{ "a@b\n# last", 0, "1 E a@b;" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf got = BUF_INIT;
		size_t len = t[i].len ? t[i].len : strlen(t[i].text);

		assert_int_equal(passwd_file_each(t[i].text, len, record, &got), 0);
		if (strcmp(buf_cstr(&got), t[i].want) != 0)
			fail_msg("case %zu: got \"%s\" want \"%s\"", i, buf_cstr(&got), t[i].want);
		buf_release(&got);
	}
	/* no text at all */
	assert_int_equal(passwd_file_each(NULL, 0, record, NULL), 0);
}

/* Stops at the second line handed over, with its own return value. */
static int
stop_second(void *arg, size_t lineno, const char *line, size_t len,
    enum passwd_line kind, const struct passwd_entry *e)
{
	size_t *seen = arg;

	(void)lineno;
	(void)line;
	(void)len;
	(void)kind;
	(void)e;
	return ++*seen == 2 ? -7 : 0;
}

static void
test_file_each_stops(void **state)
{
	const char *text = "a@b\n#\nbad\nc@d\ne@f\n";
	size_t seen = 0;

	(void)state;
	assert_int_equal(passwd_file_each(text, strlen(text), stop_second, &seen), -7);
	assert_int_equal(seen, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_extra),
		cmocka_unit_test(test_file_each),
		cmocka_unit_test(test_file_each_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
