/*
 * dovecot_keywords: Dovecot's `dovecot-keywords` file, which names the
 * keyword letters a-z of a Maildir folder's file names (docs/
 * mailbox-formats.md):
 *
 *     <n> <name>        one a line; letter 'a' + n, 0 <= n < 26
 *
 * Read as Dovecot 2.3 reads it (lib-storage/index/maildir/
 * maildir-keywords.c): a line without a space, a number that is not
 * digits or is 26 or more, or an empty name is skipped; a later line
 * for the same number wins; a last line without its LF is not read.
 * Names compare without case (IMAP keywords do). Pure.
 */
#ifndef TERN_DOVECOT_KEYWORDS_H
#define TERN_DOVECOT_KEYWORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"

#define DOVECOT_KEYWORDS_MAX 26
/* A name is an IMAP atom; longer ones are not worth a letter. */
#define DOVECOT_KEYWORD_LEN_MAX 255

struct dovecot_keywords {
	char *names[DOVECOT_KEYWORDS_MAX];   /* owned; NULL: letter unused */
};

/* Reads a whole file into kw (zeroed first). 0, or -1 when out of memory
 * (kw is cleared then). */
int dovecot_keywords_parse(const char *data, size_t len, struct dovecot_keywords *kw);

/* The file of kw, as Dovecot writes it: "<n> <name>\n" by n. -1 when out
 * of memory or a name would not read back. */
int dovecot_keywords_encode(const struct dovecot_keywords *kw, struct buf *out);

/* A name a keyword may have here: 1 to DOVECOT_KEYWORD_LEN_MAX octets
 * 0x21-0x7e, not starting with '\' (a system flag). The IMAP layer asks
 * more (an atom); this keeps the file readable. */
bool dovecot_keyword_name_ok(const char *name, size_t len);

/* The number of name (compared without ASCII case), or -1. */
int dovecot_keywords_find(const struct dovecot_keywords *kw, const char *name, size_t len);

void dovecot_keywords_clear(struct dovecot_keywords *kw);

#endif
