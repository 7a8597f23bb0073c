/*
 * fuzz_word: the escaped-word lines of the control socket and the queue
 * envelope (proto/word.c). Any input is split and decoded without reading
 * past it; every word that decodes must encode back to one word that
 * decodes to the same value; and the whole input, encoded as one word,
 * must come back as itself up to its first NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/word.h"

#define MAX_WORDS 64

static void
round_trip(const char *value)
{
	struct buf b = BUF_INIT;
	char *tok[2];

	CHECK(word_put(&b, value) == 0 && buf_append_char(&b, '\0') == 0);
	CHECK(strchr(b.data, ' ') == NULL && strchr(b.data, '\n') == NULL);
	CHECK(word_split(b.data, tok, 2) == 1);
	CHECK(word_get(tok[0]) != NULL);
	CHECK(strcmp(tok[0], value) == 0);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), *tok[MAX_WORDS];
	int n, i;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	round_trip(line);
	n = word_split(line, tok, MAX_WORDS);
	CHECK(n >= -1 && n <= MAX_WORDS);
	for (i = 0; i < n; i++) {
		CHECK(tok[i][0] != '\0');
		if (word_get(tok[i]) != NULL)
			round_trip(tok[i]);
	}
	free(line);
	return 0;
}
