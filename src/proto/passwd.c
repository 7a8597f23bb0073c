/*
 * passwd: passwd-file lines (see passwd.h).
 */
#include "passwd.h"

#include <string.h>

static bool
space(char c)
{
	return c == ' ' || c == '\t';
}

/* The span [*s, *s + *n) without leading and trailing blanks. */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && space((*s)[*n - 1]))
		(*n)--;
}

enum passwd_line
passwd_parse_line(const char *line, size_t len, struct passwd_entry *e)
{
	const char *f[8], *at;
	size_t flen[8], nf = 0, i, start = 0;

	memset(e, 0, sizeof(*e));
	e->user = e->pass = e->extra = "";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return PASSWD_BAD_BYTES;
	}
	{
		const char *s = line;
		size_t n = len;

		trim(&s, &n);
		if (n == 0 || s[0] == '#')
			return PASSWD_SKIP;
	}
	/* Seven ':' at most split fields; the 8th (extra) keeps its colons. */
	for (i = 0; i <= len && nf < 8; i++) {
		if (i == len || (line[i] == ':' && nf < 7)) {
			f[nf] = line + start;
			flen[nf] = i - start;
			nf++;
			start = i + 1;
		}
	}
	trim(&f[0], &flen[0]);
	at = flen[0] ? memchr(f[0], '@', flen[0]) : NULL;
	if (at == NULL || at == f[0] || at == f[0] + flen[0] - 1 ||
	    memchr(at + 1, '@', flen[0] - (size_t)(at + 1 - f[0])) != NULL ||
	    memchr(f[0], ' ', flen[0]) != NULL || memchr(f[0], '\t', flen[0]) != NULL)
		return PASSWD_BAD_USER;
	e->user = f[0];
	e->user_len = flen[0];
	if (nf > 1) {
		trim(&f[1], &flen[1]);
		e->pass = f[1];
		e->pass_len = flen[1];
	}
	if (nf > 7) {
		trim(&f[7], &flen[7]);
		e->extra = f[7];
		e->extra_len = flen[7];
	}
	return PASSWD_ENTRY;
}

int
passwd_file_each(const char *text, size_t len, passwd_line_fn *fn, void *arg)
{
	size_t pos = 0, lineno = 0;

	while (pos < len) {
		const char *line = text + pos, *lf = memchr(line, '\n', len - pos);
		size_t n = lf ? (size_t)(lf - line) : len - pos;
		struct passwd_entry e;
		enum passwd_line kind;
		int rc;

		pos += lf ? n + 1 : n;
		lineno++;
		/* Files edited on Windows: "\r\n" (and "\r\r\n") end a line too. */
		while (n > 0 && line[n - 1] == '\r')
			n--;
		kind = passwd_parse_line(line, n, &e);
		if (kind != PASSWD_SKIP && (rc = fn(arg, lineno, line, n, kind, &e)) != 0)
			return rc;
	}
	return 0;
}

bool
passwd_next_extra(const char *extra, size_t len, size_t *pos, const char **key,
    size_t *key_len, const char **val, size_t *val_len)
{
	size_t i = *pos, start;
	const char *eq;

	while (i < len && space(extra[i]))
		i++;
	if (i >= len) {
		*pos = len;
		return false;
	}
	start = i;
	while (i < len && !space(extra[i]))
		i++;
	*pos = i;
	*key = extra + start;
	eq = memchr(extra + start, '=', i - start);
	if (eq == NULL) {
		*key_len = i - start;
		*val = extra + i;
		*val_len = 0;
	} else {
		*key_len = (size_t)(eq - (extra + start));
		*val = eq + 1;
		*val_len = (size_t)(extra + i - (eq + 1));
	}
	return true;
}
