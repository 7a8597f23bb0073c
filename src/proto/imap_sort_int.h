/*
 * imap_sort_int: what imap_sort.c and imap_thread.c share. Private.
 */
#ifndef TERN_IMAP_SORT_INT_H
#define TERN_IMAP_SORT_INT_H

#include <stdbool.h>
#include <stddef.h>

/* s (len octets) starts with lit, ASCII case ignored. */
bool imap_sort_ieq_prefix(const char *s, size_t len, const char *lit);

#endif
