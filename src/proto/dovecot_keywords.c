/*
 * dovecot_keywords: dovecot-keywords read and written (see
 * dovecot_keywords.h).
 */
#include "dovecot_keywords.h"

#include <stdlib.h>
#include <string.h>

#include "../common/str.h"

bool
dovecot_keyword_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > DOVECOT_KEYWORD_LEN_MAX || name[0] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return false;
	}
	return true;
}

int
dovecot_keywords_parse(const char *data, size_t len, struct dovecot_keywords *kw)
{
	size_t pos = 0;

	memset(kw, 0, sizeof(*kw));
	while (pos < len) {
		const char *l = data + pos, *lf = memchr(l, '\n', len - pos), *sp;
		size_t n, i, idx = 0;
		char *name;

		if (lf == NULL)
			break;   /* a torn last line: Dovecot does not read it either */
		n = (size_t)(lf - l);
		pos += n + 1;
		if (n > 0 && l[n - 1] == '\r')
			n--;     /* Dovecot's line reader drops a CR before the LF */
		if ((sp = memchr(l, ' ', n)) == NULL || sp == l)
			continue;
		for (i = 0; l + i < sp; i++) {
			if (l[i] < '0' || l[i] > '9' || idx >= DOVECOT_KEYWORDS_MAX)
				break;
			idx = idx * 10 + (size_t)(l[i] - '0');
		}
		if (l + i != sp || idx >= DOVECOT_KEYWORDS_MAX || sp + 1 == l + n ||
		    memchr(sp + 1, '\0', (size_t)(l + n - sp - 1)) != NULL)
			continue;
		if ((name = str_dupn(sp + 1, (size_t)(l + n - sp - 1))) == NULL) {
			dovecot_keywords_clear(kw);
			return -1;
		}
		free(kw->names[idx]);
		kw->names[idx] = name;
	}
	return 0;
}

int
dovecot_keywords_encode(const struct dovecot_keywords *kw, struct buf *out)
{
	size_t i;

	for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++) {
		const char *n = kw->names[i];

		if (n == NULL)
			continue;
		if (n[0] == '\0' || strpbrk(n, "\r\n") != NULL ||
		    buf_printf(out, "%zu %s\n", i, n) == -1)
			return -1;
	}
	return 0;
}

int
dovecot_keywords_find(const struct dovecot_keywords *kw, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++) {
		if (kw->names[i] != NULL && str_ieqn(name, len, kw->names[i]))
			return (int)i;
	}
	return -1;
}

void
dovecot_keywords_clear(struct dovecot_keywords *kw)
{
	size_t i;

	for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++)
		free(kw->names[i]);
	memset(kw, 0, sizeof(*kw));
}
