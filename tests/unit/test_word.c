/*
 * test_word: the escaped words of the queue envelope and the control
 * socket. A table of values that must survive word_put + word_split +
 * word_get unchanged as one word each, and of lines the splitter or the
 * decoder must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/word.h"

static const char *const round_trips[] = {
	"", "-", "--", "plain", "with space", "100%", "%41", "tab\there", "a\r\nb",
	"-leading-dash", "trailing-", "\x7f", "\x01\x1f", "caf\xc3\xa9", "x y z  ",
	"user@example.org", "<a@b>", "=?utf-8?q?x?=",
};

static void
test_round_trip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
		struct buf b = BUF_INIT;
		char *tok[4];

		assert_int_equal(word_put(&b, round_trips[i]), 0);
		assert_int_equal(buf_append_char(&b, '\0'), 0);
		assert_null(strchr(b.data, ' '));
		assert_int_equal(word_split(b.data, tok, 4), 1);
		assert_non_null(word_get(tok[0]));
		assert_string_equal(tok[0], round_trips[i]);
		buf_release(&b);
	}
}

static void
test_line_of_words(void **state)
{
	char line[] = "result 661A16A0B0DA8000 done";
	char *tok[3];

	(void)state;
	assert_int_equal(word_split(line, tok, 3), 3);
	assert_string_equal(tok[0], "result");
	assert_string_equal(tok[2], "done");
}

static const struct {
	const char *line;
	int max;
	int split;          /* word_split's result */
	int bad_word;       /* index of a word word_get refuses, or -1 */
} lines[] = {
	{ "", 4, 0, -1 },
	{ "a b c", 4, 3, -1 },
	{ "a b c d e", 4, -1, -1 },      /* too many */
	{ " a", 4, -1, -1 },              /* empty words: never written */
	{ "a  b", 4, -1, -1 },
	{ "a ", 4, -1, -1 },
	{ "a %4", 4, 2, 1 },              /* short escape */
	{ "a %4g", 4, 2, 1 },
	{ "%00", 4, 1, 0 },               /* an escaped NUL */
	{ "%41%42 -", 4, 2, -1 },
	{ "%4a", 4, 1, 0 },               /* lower-case hex is not ours */
};

static void
test_refusals(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char buf[64], *tok[8];
		int n, j;

		strcpy(buf, lines[i].line);
		n = word_split(buf, tok, lines[i].max);
		assert_int_equal(n, lines[i].split);
		for (j = 0; j < n; j++) {
			if (j == lines[i].bad_word)
				assert_null(word_get(tok[j]));
			else
				assert_non_null(word_get(tok[j]));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_line_of_words),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
