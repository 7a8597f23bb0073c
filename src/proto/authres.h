/*
 * authres: the Authentication-Results header field (RFC 8601), written for
 * the results of our inbound checks and read just far enough to tell
 * whether a field already in a message claims to be ours (§5: such fields
 * are forgeries and are removed before ours goes on top). Pure.
 */
#ifndef TERN_AUTHRES_H
#define TERN_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"

/* One property of a result: ptype.property=value, e.g. smtp.mailfrom. */
struct authres_prop {
	const char *ptype;      /* "smtp", "header", "policy" */
	const char *property;
	const char *value;      /* quoted in the output when it must be */
};

/* The field being written; out is the caller's and is appended to. */
struct authres {
	struct buf *out;
	size_t nresults;
	size_t col;             /* octets on the current line, for folding */
};

/* "Authentication-Results: ID;" ... then every result on its own folded
 * line; authres_end writes "none" if no result was added, and the CRLF. */
void authres_begin(struct authres *ar, struct buf *out, const char *authserv_id);
/*
 * method=result [(comment)] [reason="..."] ptype.property=value...
 * comment and reason may be NULL. Octets outside printable ASCII become
 * '?', so no input can break the field open.
 */
void authres_add(struct authres *ar, const char *method, const char *result,
    const char *comment, const char *reason, const struct authres_prop *props,
    size_t nprops);
void authres_end(struct authres *ar);

/*
 * Whether a field's value (after the colon, folded or not) begins with the
 * authserv-id id, compared without regard to case; comments before it
 * are skipped, a quoted-string id is unquoted. A value that cannot be read
 * that far is not ours (false).
 */
bool authres_id_is(const char *value, size_t len, const char *id);

#endif
