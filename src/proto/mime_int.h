/*
 * mime_int: what the files of the MIME parser share (mime.c: the part
 * tree; mime_write.c: the IMAP forms BODY, BODYSTRUCTURE and ENVELOPE;
 * mime_section.c: BODY[section]). Private to them.
 */
#ifndef TERN_MIME_INT_H
#define TERN_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"
#include "mime.h"

#define MIME_NONE SIZE_MAX

bool mime_is_wsp(char c);
int mime_unfold(const char *v, size_t n, struct buf *out);
size_t mime_field_at(const char *d, size_t end, size_t pos, size_t *nlen, size_t *vstart, size_t *vend);
bool mime_is_empty_line(const char *d, size_t len, size_t pos);
bool mime_is_token(char c);
size_t mime_skip_cfws(const char *v, size_t n, size_t i);
bool mime_str_is(const struct mime_msg *m, struct mime_str s, const char *lit);
bool mime_named(const char *d, size_t nlen, const char *name);
struct mime_str mime_param(const struct mime_msg *m, size_t first, size_t n, const char *name);

#endif
