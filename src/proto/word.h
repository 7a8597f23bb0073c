/*
 * word: the escaped-word encoding that the queue's envelope block and the
 * control socket's lines share. A word is one space-free token: octets
 * below 0x21, 0x7f, '%' and a leading '-' are written %XX, and an empty
 * value is written "-". So any string is one word, and a line of words
 * splits at its spaces. Pure.
 */
#ifndef TERN_WORD_H
#define TERN_WORD_H

#include <stddef.h>

#include "../common/buf.h"

/* The value of an upper-case hex digit, or -1. */
int word_hexval(char c);
/* Appends s as one word. */
int word_put(struct buf *out, const char *s);
/* Decodes one word in place; NULL on a bad escape or an escaped NUL. */
char *word_get(char *tok);
/* Splits line (NUL-terminated) in place at single spaces into at most max
 * words; -1 when there are more, or an empty word (a leading, doubled or
 * trailing space): an encoder never writes one. */
int word_split(char *line, char **tok, int max);

#endif
