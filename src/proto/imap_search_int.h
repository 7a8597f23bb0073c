/*
 * imap_search_int: what imap_search.c (the parser) and imap_search_eval.c
 * (evaluation, matching, dates) share. Private.
 */
#ifndef TERN_IMAP_SEARCH_INT_H
#define TERN_IMAP_SEARCH_INT_H

#include <stdbool.h>
#include <stddef.h>

char imap_search_lower(char c);
bool imap_search_ieq(const char *a, size_t alen, const char *b, size_t blen);

#endif
