/*
 * buf: tern's one growable byte string. It carries its length, grows with
 * overflow checks and is always NUL-terminated so it can be logged, but the
 * length is authoritative: data may contain NUL bytes.
 */
#ifndef TERN_BUF_H
#define TERN_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct buf {
	char *data;  /* owned; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* All return 0, or -1 when memory or the size_t range runs out. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Appends what is left to read of f. The memory it outgrows is zeroed
 * before it is freed, so that with buf_wipe no copy of a secret (a users
 * file's password hashes) stays behind in freed memory. 0 at end of file,
 * or -1 (errno) on a read error or out of memory, what was read kept. */
int buf_append_stream(struct buf *b, FILE *f);

/* Removes n octets at off (clamped to what is there). */
void buf_cut(struct buf *b, size_t off, size_t n);
void buf_reset(struct buf *b);            /* len = 0, keeps the memory */
void buf_release(struct buf *b);          /* frees the memory */
void buf_wipe(struct buf *b);             /* zeroes, then frees the memory */
const char *buf_cstr(const struct buf *b); /* "" when empty */

#endif
