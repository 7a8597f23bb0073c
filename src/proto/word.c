/*
 * word: see word.h. The envelope block (docs/queue.md) and the control
 * socket (docs/operations.md) are read by these three functions.
 */
#include "word.h"

#include <string.h>

int
word_put(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	if (*s == '\0')
		return buf_append_char(out, '-');
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '%' || (i == 0 && c == '-')) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			if (buf_append(out, e, 3) == -1)
				return -1;
		} else if (buf_append_char(out, (char)c) == -1)
			return -1;
	}
	return 0;
}

int
word_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
word_get(char *tok)
{
	char *r = tok, *w = tok;

	if (strcmp(tok, "-") == 0) {
		*tok = '\0';
		return tok;
	}
	while (*r) {
		if (*r == '%') {
			int hi = word_hexval(r[1]), lo = hi < 0 ? -1 : word_hexval(r[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else
			*w++ = *r++;
	}
	*w = '\0';
	return tok;
}

int
word_split(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;

	while (*p && n < max) {
		tok[n++] = p;
		while (*p && *p != ' ')
			p++;
		if (p == tok[n - 1] || (*p && p[1] == '\0'))
			return -1;
		if (*p)
			*p++ = '\0';
	}
	return *p ? -1 : n;
}
