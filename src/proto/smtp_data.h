/*
 * smtp_data: the DATA body reader (RFC 5321 §4.1.1.4, §4.5.2).
 *
 * Fed the bytes after "354" in any chunking, it removes dot-stuffing and
 * finds the end of data. Only CR LF "." CR LF ends the message, and only
 * when that first CR LF is a real line end: a bare LF or bare CR never
 * starts a line, so no sequence built from them can end a message or
 * smuggle a second one. Bare CR/LF and over-long lines are recorded; the
 * session refuses such a message once the real end arrives.
 */
#ifndef TERN_SMTP_DATA_H
#define TERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

struct smtp_data {
	int state;
	size_t max_line;     /* octets including CRLF; 0 = no limit */
	size_t line_len;
	uint64_t size;       /* octets produced (after unstuffing) */
	bool bare_eol;       /* saw a bare CR or LF */
	bool long_line;
	bool done;
	bool discard;        /* set by the caller: count, don't store */
};

void smtp_data_init(struct smtp_data *d, size_t max_line);

/*
 * Consumes up to n bytes of in, appending the unstuffed message to out
 * (unless discard). Returns the number of bytes consumed, which is less
 * than n only when the end of data was reached (d->done): the rest belongs
 * to the next command. Returns (size_t)-1 when out cannot grow.
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n,
    struct buf *out);

/*
 * BDAT content (RFC 3030): not dot-stuffed, no end mark, stored as it is,
 * but held to the same line rules as DATA: records a bare CR or LF and a
 * line longer than max_line (CRLF included), counting across calls, since
 * a line or its CR LF may span chunks. Touches only bare_eol, long_line
 * and the line state. smtp_data_raw_end() once the content is complete.
 */
void smtp_data_check_raw(struct smtp_data *d, const char *in, size_t n);
/* The content ended: a CR still waiting for its LF was bare. */
void smtp_data_raw_end(struct smtp_data *d);

#endif
