/*
 * passwd: one line of a Dovecot-style passwd-file,
 *   user@domain:password:uid:gid:gecos:home:shell:extra fields
 * where only the user is required, the password is "{SCHEME}hash" or
 * empty, and the extra fields are space-separated key=value pairs
 * (per-user settings such as a quota rule). Pure: bytes in, spans out.
 */
#ifndef TERN_PASSWD_H
#define TERN_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

enum passwd_line {
	PASSWD_ENTRY,      /* e is filled in */
	PASSWD_SKIP,       /* blank or a comment */
	PASSWD_BAD_USER,   /* the first field is not local@domain */
	PASSWD_BAD_BYTES,  /* a control octet or NUL */
};

struct passwd_entry {
	const char *user;      /* trimmed; not lower-cased */
	size_t user_len;
	const char *pass;      /* "" when absent */
	size_t pass_len;
	const char *extra;     /* the 8th field, "" when absent */
	size_t extra_len;
};

/* line without its line end. The spans point into line. */
enum passwd_line passwd_parse_line(const char *line, size_t len,
    struct passwd_entry *e);

/*
 * One line of a passwd-file as passwd_file_each hands it over: its number
 * (from 1, counting every line), the line without its line end, and what
 * passwd_parse_line made of it; e is filled in for PASSWD_ENTRY. A
 * nonzero return stops the walk.
 */
typedef int passwd_line_fn(void *arg, size_t lineno, const char *line,
    size_t len, enum passwd_line kind, const struct passwd_entry *e);

/* Walks the lines of a whole passwd-file: a line ends at LF, CRs before
 * it are dropped, and the last line may lack its LF. Every line that is
 * not PASSWD_SKIP goes to fn, in order. Returns fn's first nonzero
 * return, or 0 when every line was seen. */
int passwd_file_each(const char *text, size_t len, passwd_line_fn *fn,
    void *arg);

/* The next "key=value" (or "key") of an extra field from *pos; false at
 * the end. A pair without '=' has an empty value. */
bool passwd_next_extra(const char *extra, size_t len, size_t *pos,
    const char **key, size_t *key_len, const char **val, size_t *val_len);

#endif
