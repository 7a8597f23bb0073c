/*
 * maildirsize: the Maildir++ quota file at the root of a Maildir, which
 * Dovecot's quota plugin (backend "maildir"), Courier, maildrop and Exim
 * share (docs/mailbox-formats.md):
 *
 *     <bytes>S,<count>C          the limits; either part optional, 0 = none
 *     <bytes> <count>            the usage when it was last recalculated
 *     <bytes delta> <count delta>   one line appended per change
 *
 * The usage is the sum of the lines after the first. The file is thrown
 * away and recalculated from the directories when it has grown to 5120
 * octets, or what it says cannot be trusted. Pure: bytes in, sums and the
 * reasons to recalculate out; lines out into the caller's array.
 */
#ifndef TERN_MAILDIRSIZE_H
#define TERN_MAILDIRSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A file of this many octets or more is recalculated (Dovecot reads
 * 5120 octets and recalculates when there is more or exactly that). */
#define MAILDIRSIZE_RECALC_SIZE 5120
/* A sum over a limit is believed for this long after a recalculation. */
#define MAILDIRSIZE_STALE_SECS (15 * 60)
/* The longest line the encoders write, its LF and a NUL included. */
#define MAILDIRSIZE_LINE_MAX 48

enum maildirsize_recalc {
	MAILDIRSIZE_RECALC_SIZE_REACHED = 1 << 0,  /* MAILDIRSIZE_RECALC_SIZE octets or more */
	MAILDIRSIZE_RECALC_MALFORMED = 1 << 1,     /* a line not two integers, a NUL, an overflow */
	MAILDIRSIZE_RECALC_NEGATIVE = 1 << 2,      /* a sum below zero */
	MAILDIRSIZE_RECALC_EMPTY = 1 << 3,         /* no header, or no line after it */
};

struct maildirsize {
	uint64_t bytes_limit;  /* 0: no limit */
	uint64_t count_limit;
	bool header_ok;        /* every part of the first line was <n>S or <n>C */
	int64_t bytes;         /* the sums of the lines after the first */
	int64_t count;
	size_t lines;          /* how many lines were summed */
	unsigned recalc;       /* enum maildirsize_recalc; 0: the sums stand */
};

/*
 * Reads a whole file. A last line without its LF is ignored (an append
 * cut by a crash). The limits are read even when the sums cannot be
 * used, as a reader without its own limits takes them from the file.
 * Returns out->recalc.
 */
unsigned maildirsize_parse(const char *data, size_t len, struct maildirsize *out);

/* Dovecot's second check, with the limits in force: a sum over a limit
 * is believed only from a file recalculated less than
 * MAILDIRSIZE_STALE_SECS ago (mtime, now: unix seconds) that has one
 * line after the header; otherwise recalculate (true). */
bool maildirsize_over_quota_stale(const struct maildirsize *m,
    uint64_t bytes_limit, uint64_t count_limit, int64_t mtime, int64_t now);

/* The first line, as Dovecot writes it: "<bytes>S", ",<count>C" when
 * there is a count limit, "0S" when there is no limit at all; LF ended.
 * Returns the length, or 0 when it does not fit out[outsize]. */
size_t maildirsize_header(uint64_t bytes_limit, uint64_t count_limit,
    char *out, size_t outsize);
/* "<bytes> <count>\n": a change, or the totals after the header. Returns
 * the length, or 0 when it does not fit or count is outside what Dovecot
 * reads (a 32-bit int). */
size_t maildirsize_delta(int64_t bytes, int64_t count, char *out,
    size_t outsize);

#endif
