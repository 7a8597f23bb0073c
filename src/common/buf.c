/*
 * buf: growable byte string with checked growth (see buf.h).
 */
#include "buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for extra more octets and the NUL, doubling the capacity
 * (from 64). wipe: the data moves to a new block and the old one is
 * zeroed before it is freed, where realloc could leave a copy behind. */
static int
grow(struct buf *b, size_t extra, bool wipe)
{
	size_t need, cap;
	char *p;

	if (__builtin_add_overflow(b->len, extra, &need) ||
	    __builtin_add_overflow(need, 1, &need))
		return -1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (__builtin_mul_overflow(cap, 2, &cap))
			return -1;
	}
	if (!wipe)
		p = realloc(b->data, cap);
	else if ((p = malloc(cap)) != NULL) {
		if (b->data) {
			memcpy(p, b->data, b->len);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		p[b->len] = '\0';
	}
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	return grow(b, extra, false);
}

int
buf_append_stream(struct buf *b, FILE *f)
{
	for (;;) {
		size_t want, got;

		if (grow(b, 4096, true) == -1) {
			errno = ENOMEM;
			return -1;
		}
		want = b->cap - b->len - 1;
		got = fread(b->data + b->len, 1, want, f);
		b->len += got;
		b->data[b->len] = '\0';
		if (got < want)
			return ferror(f) ? -1 : 0;
	}
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_wipe(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_release(b);
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

void
buf_cut(struct buf *b, size_t off, size_t n)
{
	if (off >= b->len)
		return;
	if (n > b->len - off)
		n = b->len - off;
	memmove(b->data + off, b->data + off + n, b->len - off - n);
	b->len -= n;
	if (b->data)
		b->data[b->len] = '\0';
}
