/*
 * mime: a stored message's MIME structure for IMAP FETCH (RFC 9051
 * §7.5.2: BODY, BODYSTRUCTURE, ENVELOPE). The store hands the whole file;
 * this gives a tree of parts with their octet offsets and the header
 * fields IMAP reports, and serializes BODYSTRUCTURE and ENVELOPE. Like
 * Dovecot it never fails on malformed mail: a missing boundary, a broken
 * header or a part past the limits still gives a tree (the rest of the
 * message taken as opaque body). Pure: bytes and limits in, a struct out.
 *
 * Line ends may be CR LF or a bare LF (Maildirs hold LF); the sizes IMAP
 * announces count a bare LF as CR LF, as the session sends it.
 */
#ifndef TERN_MIME_H
#define TERN_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

struct mime_limits {
	unsigned max_depth;   /* nesting of multiparts and message/rfc822 */
	unsigned max_parts;   /* parts in the whole tree */
};

#define MIME_LIMITS_DEFAULT { 100, 10000 }

/* A string kept in the message's arena: (off, len) into mime_msg.arena,
 * so that growing the arena moves nothing. len == SIZE_MAX: absent. */
struct mime_str {
	size_t off;
	size_t len;
};

struct mime_param {
	struct mime_str name;
	struct mime_str value;
};

/* A header field value: unfolded (CR LF before WSP removed), the rest
 * as it stands, encoded words included (IMAP sends them raw). */
struct mime_part {
	/* Octet offsets into the message. The header is [hdr_start,
	 * hdr_end), hdr_end after the empty line that ends it (or where the
	 * part ends, when it has none); the body is [body_start, body_end),
	 * without the line end that belongs to the next boundary. */
	size_t hdr_start, hdr_end;
	size_t body_start, body_end;
	uint64_t hdr_vsize, body_vsize;   /* bare LF counted as CR LF */
	uint64_t body_lines;              /* lines of the body */

	struct mime_str type, subtype;    /* lower case; defaults applied */
	size_t params_first, nparams;     /* into mime_msg.params */
	struct mime_str id, description, encoding, md5, language, location;
	struct mime_str disposition;      /* its token, as written */
	size_t dparams_first, ndparams;

	bool multipart;                   /* has children[] (maybe none) */
	bool message;                     /* message/rfc822 or /global: one
	                                     child, the enclosed message */
	size_t parent;                    /* SIZE_MAX for the root */
	size_t first_child, next;         /* SIZE_MAX: none */
	size_t nchildren;
};

struct mime_msg {
	const char *data;        /* the message, borrowed: must outlive this */
	size_t len;
	struct mime_part *parts; /* owned; parts[0] is the whole message */
	size_t nparts, cap;
	struct mime_param *params; /* owned */
	size_t nparams, pcap;
	struct buf arena;        /* owned: the strings of mime_str */
	bool truncated;          /* a limit was hit: some of it opaque */
};

/*
 * Parses msg (len octets). Returns 0, or -1 when memory runs out (m is
 * then empty but may be freed). Malformed mail is not an error.
 */
int mime_parse(struct mime_msg *m, const char *msg, size_t len,
    const struct mime_limits *lim);
void mime_free(struct mime_msg *m);

/* A string of the arena, not NUL-terminated (len) or NULL when absent. */
const char *mime_str_ptr(const struct mime_msg *m, struct mime_str s);

/*
 * The IMAP forms, appended to out. BODYSTRUCTURE (extended: true) adds
 * the extension data (md5, disposition, language, location; for
 * multiparts the parameters, disposition, language, location). The
 * envelope is that of a message (part 0 or a message/rfc822's child).
 * Return 0, or -1 when out cannot grow.
 */
int mime_write_body(const struct mime_msg *m, size_t part, bool extended,
    struct buf *out);
int mime_write_envelope(const struct mime_msg *m, size_t part,
    struct buf *out);

/* An IMAP string (RFC 9051 §4.3): quoted when it can be, a literal
 * otherwise; NIL when s is NULL. */
int mime_write_string(struct buf *out, const char *s, size_t len);

/* ---- FETCH BODY[section] (RFC 9051 §6.4.5) ---- */

enum mime_sect_text {
	MIME_SECT_ALL,          /* BODY[] or BODY[1.2]: the part's content */
	MIME_SECT_HEADER,       /* of the message (or enclosed message) */
	MIME_SECT_FIELDS,       /* HEADER.FIELDS (list) */
	MIME_SECT_FIELDS_NOT,   /* HEADER.FIELDS.NOT (list) */
	MIME_SECT_TEXT,         /* the message's body */
	MIME_SECT_MIME,         /* the part's own MIME header (needs parts) */
};

struct mime_section {
	const uint32_t *parts;   /* part numbers, each >= 1 */
	size_t nparts;
	enum mime_sect_text text;
	const char *const *fields;   /* for FIELDS(_NOT): names, any case */
	size_t nfields;
};

enum mime_sect_res {
	MIME_SECT_ERR = -1,     /* out could not grow */
	MIME_SECT_RANGE = 0,    /* [*start, *end) of the message, as stored:
	                           the session sends it with bare LFs made
	                           CR LF, as the sizes count them */
	MIME_SECT_BUILT,        /* the selected header lines, their empty
	                           line after them, in out (CR LF line ends) */
	MIME_SECT_NONE,         /* no such part, or HEADER/TEXT of a part
	                           that is no message: an empty string, as
	                           Dovecot answers */
};

enum mime_sect_res mime_section(const struct mime_msg *m,
    const struct mime_section *sec, size_t *start, size_t *end,
    struct buf *out);

#endif
