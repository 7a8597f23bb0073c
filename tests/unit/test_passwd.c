/*
 * test_passwd: passwd-file lines (Dovecot's format), as the keeper reads
 * passwords and the directory reads users: the user must be local@domain;
 * the password and the extra fields are optional; colons after the 7th
 * belong to the extra field; control octets are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_extra),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
