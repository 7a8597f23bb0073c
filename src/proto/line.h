/*
 * line: the line discipline of line-based protocols (SMTP commands now;
 * POP3 and IMAP next). Pure: the caller finds the first LF in what it has
 * buffered and asks what to do; no buffer of its own, no I/O.
 *
 * A line longer than the limit is reported once and skipped up to its LF
 * (RFC 5321 §4.5.3.1.4: 500, and the session goes on), also when the
 * limit is passed before the LF has arrived: what was read is dropped at
 * once, so a client cannot make us buffer an endless line. Raw mode
 * passes a counted number of octets through unframed (BDAT chunks; IMAP
 * literals later).
 */
#ifndef TERN_LINE_H
#define TERN_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct line_framer {
	bool skipping;       /* dropping the rest of a too-long line */
	uint64_t raw_left;   /* raw mode: octets still to pass through */
};

enum line_event {
	LINE_NEED_MORE,      /* no complete line: keep what is buffered */
	LINE_READY,          /* a line of *n_r octets, LF excluded; consume n + 1 */
	LINE_TOO_LONG,       /* over the limit: drop *n_r octets, report it */
	LINE_SKIP,           /* drop *n_r octets silently (the rest of one) */
};

/*
 * lf: offset of the first LF in the buffered input, -1 when there is none;
 * avail: octets buffered; max: the longest line allowed, LF included
 * (greater than 0).
 */
enum line_event line_frame(struct line_framer *f, ssize_t lf, size_t avail,
    size_t max, size_t *n_r);

/* What a complete line may not hold. */
#define LINE_REJECT_NUL     0x1u
#define LINE_REJECT_BARE_CR 0x2u   /* a CR that does not end the line */

enum line_err {
	LINE_OK,
	LINE_E_BARE_LF,      /* the line did not end with CR LF (RFC 5321 §2.3.8) */
	LINE_E_NUL,
	LINE_E_BARE_CR,
};

/* A line as line_frame gave it (without its LF): checks it against the
 * policy and, when it is LINE_OK, takes the CR off *len. */
enum line_err line_check(const char *line, size_t *len, unsigned policy);

/* Raw mode: the next n octets are passed through unframed. */
void line_raw_begin(struct line_framer *f, uint64_t n);
/* Of avail octets buffered, how many to take now (0: raw mode is over,
 * or nothing is buffered). */
size_t line_raw_take(struct line_framer *f, size_t avail);
bool line_raw_active(const struct line_framer *f);

#endif
