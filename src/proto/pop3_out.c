/*
 * pop3_out: byte-stuffing and line-end normalisation for RETR and TOP.
 *
 * RFC 1939 §3: each line of a multi-line response ends with CR LF, a line
 * that starts with "." gets another one, and "." CR LF ends the response.
 * Maildir files written by other programs may end lines with a bare LF;
 * those become CR LF. A bare CR becomes CR LF too: the output then has a
 * single kind of line end, so no client's idea of one can differ from
 * ours. Left alone, "\r.\r\n" would end the response early for a client
 * that takes a lone CR as a line end, and the rest of the message would
 * be read as our replies to its next commands.
 *
 * The work is done on the normalised stream: a line end is CR LF, CR or
 * LF; the first empty line ends the header (RFC 5322 §2.1), which TOP
 * sends whole before counting body lines.
 */
#include "pop3_out.h"

#include <string.h>

void
pop3_out_init(struct pop3_out *o)
{
	memset(o, 0, sizeof(*o));
	o->bol = true;
}

void
pop3_out_init_top(struct pop3_out *o, uint32_t body_lines)
{
	pop3_out_init(o);
	o->top = true;
	o->top_left = body_lines;
}

/* A line ends: send CR LF and see where TOP stands. */
static int
line_end(struct pop3_out *o, struct buf *out)
{
	if (buf_append(out, "\r\n", 2) == -1)
		return -1;
	if (!o->in_body) {
		/* An empty line: the header is over (it is the separator). */
		if (o->bol) {
			o->in_body = true;
			if (o->top && o->top_left == 0)
				o->done = true;
		}
	} else if (o->top && --o->top_left == 0)
		o->done = true;
	o->bol = true;
	return 0;
}

int
pop3_out_feed(struct pop3_out *o, const char *in, size_t n, struct buf *out)
{
	size_t i = 0, run;

	while (i < n && !o->done) {
		if (o->cr) {
			/* The CR ends a line whatever follows; an LF is its own. */
			o->cr = false;
			if (line_end(o, out) == -1)
				return -1;
			if (in[i] == '\n')
				i++;
			continue;
		}
		if (in[i] == '\r') {
			o->cr = true;
			i++;
			continue;
		}
		if (in[i] == '\n') {
			if (line_end(o, out) == -1)
				return -1;
			i++;
			continue;
		}
		if (o->bol && in[i] == '.') {
			if (buf_append(out, ".", 1) == -1)
				return -1;
			o->stuffed++;
		}
		o->bol = false;
		/* Copy the rest of the line's text in one go. */
		for (run = i; run < n && in[run] != '\r' && in[run] != '\n'; run++)
			;
		if (buf_append(out, in + i, run - i) == -1)
			return -1;
		i = run;
	}
	return 0;
}

int
pop3_out_finish(struct pop3_out *o, struct buf *out)
{
	/* An empty message is no line at all: just the terminator. */
	if ((o->cr || !o->bol) && buf_append(out, "\r\n", 2) == -1)
		return -1;
	o->cr = false;
	o->bol = true;
	o->done = true;
	return buf_append(out, ".\r\n", 3);
}
