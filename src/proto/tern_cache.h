/*
 * tern_cache: the records of a folder's `tern-cache` file, where the
 * store keeps what the IMAP server parsed out of a message (ENVELOPE,
 * BODYSTRUCTURE, BODY, the header block) so that the next FETCH or
 * SEARCH need not read it again (docs/mailbox-formats.md). The file is
 * shared by the sessions of a folder and only appended to, one write(2)
 * per batch with O_APPEND; a crash can leave a torn record at its end,
 * and a record torn in the middle hides the ones after it, so each
 * carries its length and a checksum. Nothing in it is needed for
 * correctness. Pure: records to bytes and back.
 *
 *     "tern-cache 1\n"
 *     then records, each:
 *       4  "TCR1"
 *       4  data length, little-endian
 *       4  uid
 *       1  field (0 envelope, 1 bodystructure, 2 body, 3 headers)
 *       1  base length
 *       2  zero
 *       8  checksum (tern_index_sum) of the 16 octets above, the base and the data
 *       base (the message file's unique part: uid and base are its key), data
 */
#ifndef TERN_TERN_CACHE_H
#define TERN_TERN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

#define TERN_CACHE_HEADER "tern-cache 1\n"
#define TERN_CACHE_HEADER_LEN 13
#define TERN_CACHE_REC_HDR 24
#define TERN_CACHE_FIELDS 4
/* One record's data: more is not worth keeping (a header block of a
 * message with a megabyte of headers is read from the file). */
#define TERN_CACHE_DATA_MAX (1u << 24)

struct tern_cache_rec {
	uint32_t uid;
	unsigned field;        /* < TERN_CACHE_FIELDS */
	const char *base;      /* spans into the bytes read */
	size_t base_len;
	const char *data;
	size_t data_len;
	uint64_t sum;          /* as read; tern_cache_rec_ok checks it */
};

/* One record appended to out. -1 when out of memory or the record
 * cannot be one (field, base of 1-255 octets, data over the maximum). */
int tern_cache_rec_encode(const struct tern_cache_rec *r, struct buf *out);

/* The length of the record whose first TERN_CACHE_REC_HDR octets are at
 * hdr, or 0 when they are not a record's. */
size_t tern_cache_rec_size(const char *hdr);

/* The record at p[0..avail): its length, or 0 when there is none whole
 * there (torn, another file's bytes). The checksum is not checked. */
size_t tern_cache_rec_read(const char *p, size_t avail, struct tern_cache_rec *r);

/* The record's checksum holds. */
bool tern_cache_rec_ok(const struct tern_cache_rec *r);

#endif
