/*
 * pop3_out: the multi-line body of a RETR or TOP response (RFC 1939 §3,
 * §7). The session sends "+OK ..." and then feeds the stored message in
 * chunks of any size; this gives the wire form into a buf: every line end
 * made CR LF, a "." that starts a line doubled, and at the end "." CR LF
 * (after a CR LF of its own when the message did not end a line). For TOP
 * it stops after the header, the empty line and n body lines. Pure: the
 * state is the struct, so a chunk boundary anywhere, even between a CR
 * and its LF, gives the same octets as one whole feed.
 */
#ifndef TERN_POP3_OUT_H
#define TERN_POP3_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

struct pop3_out {
	bool bol;            /* at the start of a line: nothing of it sent */
	bool cr;             /* a CR seen, not yet sent: a line end either way */
	bool in_body;        /* past the empty line that ends the header */
	bool top;            /* TOP: stop after top_left more body lines */
	uint32_t top_left;
	bool done;           /* TOP has all it sends: stop reading the message */
	uint64_t stuffed;    /* dots added by the stuffing: RFC 1939 §11 leaves
	                        them out of the size LIST and STAT announce */
};

/* RETR: the whole message. */
void pop3_out_init(struct pop3_out *o);
/* TOP: the header, the empty line after it and body_lines lines of the
 * body (0: none); the whole message when it is shorter. */
void pop3_out_init_top(struct pop3_out *o, uint32_t body_lines);

/*
 * Appends the wire form of n octets of message to out. Once o->done,
 * takes nothing more (and appends nothing). Returns 0, or -1 when out
 * cannot grow: the response is then broken and the session must drop
 * the connection.
 */
int pop3_out_feed(struct pop3_out *o, const char *in, size_t n,
    struct buf *out);

/* The message is over: appends the last line end if one is missing and
 * the terminating "." CR LF. Returns 0 or -1 as pop3_out_feed. */
int pop3_out_finish(struct pop3_out *o, struct buf *out);

#endif
