/*
 * str: bounded string helpers. str_copy and str_fmt are how tern writes
 * into a fixed array, and they always report truncation.
 */
#ifndef TERN_STR_H
#define TERN_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src (n bytes) into dst[dstsize] with a NUL. Returns 0, or -1 when
 * it did not fit (dst then holds the truncated prefix). */
int str_copyn(char *dst, size_t dstsize, const char *src, size_t n);
int str_copy(char *dst, size_t dstsize, const char *src);
/* snprintf into dst[dstsize] that reports truncation the same way: 0, or
 * -1 when the text did not fit (or could not be formatted). */
int str_fmt(char *dst, size_t dstsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool str_ieq(const char *a, const char *b);           /* ASCII case-insensitive */
bool str_ieqn(const char *a, size_t alen, const char *b);
void str_lower(char *s);                              /* ASCII only */
char *str_dup(const char *s);                         /* NULL on ENOMEM */
char *str_dupn(const char *s, size_t n);
/* The value of a hex digit of either case, or -1. */
int str_hexval(char c);
/* Trims ASCII whitespace in place; returns the first non-space character. */
char *str_trim(char *s);

#endif
