/*
 * uidlist: Dovecot's dovecot-uidlist, the file that gives the messages of
 * a Maildir their IMAP UIDs (and so POP3 UIDLs), read and written so that
 * Dovecot and tern can take turns on one Maildir and clients keep their
 * UIDs (docs/mailbox-formats.md). Pure: bytes in, a struct out; struct
 * to bytes. The store does the locking (dovecot-uidlist.lock), the
 * appends and the rename.
 *
 * Version 3, as Dovecot 1.1 and later write it:
 *
 *     3 V<uidvalidity> N<next uid> G<mailbox guid, 32 hex> [<key><value> ...]
 *     <uid> [<key><value> ...] :<base name>
 *
 * Version 1 (Courier's courierimapuiddb, Dovecot 1.0) is read, never
 * written:
 *
 *     1 <uidvalidity> <next uid>
 *     <uid> <file name>
 */
#ifndef TERN_UIDLIST_H
#define TERN_UIDLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

#define UIDLIST_GUID_LEN 16

struct uidlist_limits {
	size_t line_max;      /* octets of a line, its LF not counted */
	size_t records_max;
};

/* A name is at most 255 octets; the rest of a line is a few fields. */
#define UIDLIST_LIMITS_DEFAULT { .line_max = 8192, .records_max = 10000000 }

struct uidlist_rec {
	uint32_t uid;
	char *ext;            /* owned: "W1234 S1200", NULL for none; keys A-Z */
	char *name;           /* owned: the (base) file name */
};

struct uidlist {
	unsigned version;     /* 1 or 3 as read; always 3 written */
	uint32_t uidvalidity;
	/* The next UID to give: the header's N, raised above the last record
	 * (Dovecot appends records without rewriting the header, so N in a
	 * file is routinely at or below its last UIDs). */
	uint32_t next_uid;
	uint32_t hdr_next_uid;    /* N as the header said it */
	bool has_guid;
	uint8_t guid[UIDLIST_GUID_LEN];
	char *hdr_ext;        /* owned: the header's other fields, NULL for none */
	/* Ascending by uid; owned. */
	struct uidlist_rec *recs;
	size_t nrecs;
	size_t cap;
	/* What reading found that Dovecot would rewrite the file for: */
	bool torn;            /* a last line without its LF, ignored */
	size_t dropped_ext;   /* record fields with a key outside A-Z, dropped */
};

enum uidlist_err {
	UIDLIST_OK = 0,
	UIDLIST_ERR_HEADER,     /* no header line, or V/N missing or 0, bad G */
	UIDLIST_ERR_VERSION,    /* a version other than 1 and 3 */
	UIDLIST_ERR_BYTES,      /* a NUL or a CR */
	UIDLIST_ERR_LONG,       /* a line over line_max */
	UIDLIST_ERR_UID,        /* not "<uid> ": no digits, 0, 2^32-1 or more */
	UIDLIST_ERR_ORDER,      /* a uid not above the one before */
	UIDLIST_ERR_NEXT_UID,   /* version 1: a uid at or above the header's */
	UIDLIST_ERR_NAME,       /* no name, an empty base, or a '/' */
	UIDLIST_ERR_TOO_MANY,   /* more than records_max records */
	UIDLIST_ERR_NOMEM,
};

/*
 * Reads a whole file into ul (zeroed, or cleared). On an error *line_r is
 * the 1-based line it is on, and ul keeps the records before that line
 * (Dovecot keeps those UIDs and gives the rest new ones). ul must be
 * cleared either way.
 */
enum uidlist_err uidlist_parse(const char *data, size_t len,
    const struct uidlist_limits *lim, struct uidlist *ul, size_t *line_r);

/* The version 3 file of ul: 0, or -1 when out of memory or ul is not a
 * valid list (uidvalidity or next_uid 0, uids not ascending or not below
 * next_uid, names or fields that would not read back). Names are written
 * up to their first ':', as Dovecot writes them. */
int uidlist_encode(const struct uidlist *ul, struct buf *out);
/* One record's line, for an append: 0 or -1 as above. */
int uidlist_encode_rec(const struct uidlist_rec *r, struct buf *out);

/* Adds a record at the end: uid above the last and below 2^32-1; next_uid
 * is raised past it. ext may be NULL. 0, or -1 (invalid, or no memory). */
int uidlist_append(struct uidlist *ul, uint32_t uid, const char *ext,
    const char *name, size_t name_len);
struct uidlist_rec *uidlist_find(struct uidlist *ul, uint32_t uid);
/* Drops the record of uid (an expunge); false when there is none. */
bool uidlist_remove(struct uidlist *ul, uint32_t uid);
/* The value of the record's field key (e.g. 'W'); false without one. */
bool uidlist_rec_ext(const struct uidlist_rec *r, char key, const char **val_r,
    size_t *len_r);

void uidlist_clear(struct uidlist *ul);

#endif
