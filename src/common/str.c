/*
 * str: bounded copies and ASCII helpers (see str.h).
 */
#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
str_copyn(char *dst, size_t dstsize, const char *src, size_t n)
{
	size_t k;

	if (dstsize == 0)
		return -1;
	k = n < dstsize - 1 ? n : dstsize - 1;
	memcpy(dst, src, k);
	dst[k] = '\0';
	return k == n ? 0 : -1;
}

int
str_copy(char *dst, size_t dstsize, const char *src)
{
	return str_copyn(dst, dstsize, src, strlen(src));
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool
str_ieqn(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		if (b[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	}
	return b[alen] == '\0';
}

bool
str_ieq(const char *a, const char *b)
{
	return str_ieqn(a, strlen(a), b);
}

void
str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)lower((unsigned char)*s);
}

char *
str_dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
str_dup(const char *s)
{
	return str_dupn(s, strlen(s));
}

char *
str_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int
str_fmt(char *dst, size_t dstsize, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, dstsize, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= dstsize) ? -1 : 0;
}

int
str_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
