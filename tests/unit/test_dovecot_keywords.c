/*
 * test_dovecot_keywords: dovecot-keywords read as Dovecot 2.3 reads it
 * and written as it writes it (proto/dovecot_keywords.c). The file
 * marked "Dovecot 2.3.19" was written by Dovecot 2.3.19.1 on this
 * project's machine (tests/integration/test_store_keywords.py makes it:
 * IMAP STORE +FLAGS on two messages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/dovecot_keywords.h"

/* Dovecot 2.3.19: STORE +FLAGS ($Forwarded), then (NonJunk $label1). */
static const char dovecot_file[] = "0 $Forwarded\n1 NonJunk\n2 $label1\n";

static void
test_dovecot_file(void **state)
{
	struct dovecot_keywords kw;
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(dovecot_keywords_parse(dovecot_file, sizeof(dovecot_file) - 1, &kw), 0);
	assert_string_equal(kw.names[0], "$Forwarded");
	assert_string_equal(kw.names[1], "NonJunk");
	assert_string_equal(kw.names[2], "$label1");
	assert_null(kw.names[3]);
	/* IMAP keywords compare without case */
	assert_int_equal(dovecot_keywords_find(&kw, "$forwarded", 10), 0);
	assert_int_equal(dovecot_keywords_find(&kw, "NONJUNK", 7), 1);
	assert_int_equal(dovecot_keywords_find(&kw, "NonJun", 6), -1);
	assert_int_equal(dovecot_keywords_find(&kw, "NonJunkX", 8), -1);
	assert_int_equal(dovecot_keywords_encode(&kw, &b), 0);
	assert_int_equal(b.len, sizeof(dovecot_file) - 1);
	assert_memory_equal(b.data, dovecot_file, b.len);
	buf_release(&b);
	dovecot_keywords_clear(&kw);
}

static void
test_lenient_as_dovecot(void **state)
{
	static const char in[] =
		"nospace\n"           /* no space: skipped (an old .customflags line) */
		"x1 bad\n"            /* not a number */
		"26 toobig\n"         /* 26 letters only */
		"3 \n"                /* no name */
		" 4 lead\n"           /* a leading space: no number */
		"5 has space\r\n"     /* the CR before the LF goes */
		"7 first\n"
		"7 second\n"          /* the later line wins */
		"25 last\n"
		"1 torn";             /* no LF: not read */
	static const char out[] = "5 has space\n7 second\n25 last\n";
	struct dovecot_keywords kw;
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	assert_int_equal(dovecot_keywords_parse(in, sizeof(in) - 1, &kw), 0);
	for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++) {
		if (i == 5)
			assert_string_equal(kw.names[i], "has space");
		else if (i == 7)
			assert_string_equal(kw.names[i], "second");
		else if (i == 25)
			assert_string_equal(kw.names[i], "last");
		else
			assert_null(kw.names[i]);
	}
	assert_int_equal(dovecot_keywords_encode(&kw, &b), 0);
	assert_int_equal(b.len, sizeof(out) - 1);
	assert_memory_equal(b.data, out, b.len);
	buf_release(&b);
	dovecot_keywords_clear(&kw);
	assert_int_equal(dovecot_keywords_parse("", 0, &kw), 0);
	assert_null(kw.names[0]);
	dovecot_keywords_clear(&kw);
}

static void
test_names(void **state)
{
	char long_name[DOVECOT_KEYWORD_LEN_MAX + 1];

	(void)state;
	memset(long_name, 'a', sizeof(long_name));
	assert_true(dovecot_keyword_name_ok("$Forwarded", 10));
	assert_true(dovecot_keyword_name_ok("x", 1));
	assert_true(dovecot_keyword_name_ok(long_name, DOVECOT_KEYWORD_LEN_MAX));
	assert_false(dovecot_keyword_name_ok(long_name, DOVECOT_KEYWORD_LEN_MAX + 1));
	assert_false(dovecot_keyword_name_ok("", 0));
	assert_false(dovecot_keyword_name_ok("\\Seen", 5));
	assert_false(dovecot_keyword_name_ok("a b", 3));
	assert_false(dovecot_keyword_name_ok("a\nb", 3));
	assert_false(dovecot_keyword_name_ok("a\0b", 3));
	assert_false(dovecot_keyword_name_ok("caf\xc3\xa9", 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_file),
		cmocka_unit_test(test_lenient_as_dovecot),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
