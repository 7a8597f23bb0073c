/*
 * smtp_data: dot-unstuffing and strict end-of-data detection (see the
 * header for the smuggling argument).
 */
#include "smtp_data.h"

#include <string.h>

enum {
	D_BOL,     /* at the start of a line: after CR LF, or at the start */
	D_TEXT,    /* inside a line */
	D_CR,      /* a CR was seen; not yet emitted */
	D_DOT,     /* "." at the start of a line; not yet emitted */
	D_DOTCR,   /* "." CR at the start of a line */
};

void
smtp_data_init(struct smtp_data *d, size_t max_line)
{
	memset(d, 0, sizeof(*d));
	d->state = D_BOL;
	d->max_line = max_line;
}

static int
emit(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	d->size += n;
	d->line_len += n;
	if (d->max_line && d->line_len > d->max_line)
		d->long_line = true;
	if (d->discard)
		return 0;
	return buf_append(out, p, n);
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t n,
    struct buf *out)
{
	size_t i = 0;

	/* After the end, the bytes belong to the next command. */
	if (d->done)
		return 0;
	while (i < n) {
		char c = in[i];

		switch (d->state) {
		case D_BOL:
			d->line_len = 0;
			if (c == '.') {
				d->state = D_DOT;
				i++;
				continue;
			}
			d->state = D_TEXT;
			continue;  /* handle c as text */
		case D_TEXT: {
			/* Copy the run up to the next CR or LF in one go. */
			size_t j = i;

			while (j < n && in[j] != '\r' && in[j] != '\n')
				j++;
			if (j > i && emit(d, out, in + i, j - i) == -1)
				return (size_t)-1;
			i = j;
			if (i == n)
				break;
			if (in[i] == '\r')
				d->state = D_CR;
			else {
				d->bare_eol = true;   /* bare LF: not a line end */
				if (emit(d, out, "\n", 1) == -1)
					return (size_t)-1;
			}
			i++;
			break;
		}
		case D_CR:
			if (c == '\n') {
				if (emit(d, out, "\r\n", 2) == -1)
					return (size_t)-1;
				d->state = D_BOL;
				i++;
			} else {
				/* Bare CR: keep it as data, stay inside the line. */
				d->bare_eol = true;
				if (emit(d, out, "\r", 1) == -1)
					return (size_t)-1;
				d->state = D_TEXT;
				if (c == '\r') {
					d->state = D_CR;
					i++;
				}
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOTCR;
				i++;
			} else {
				/* RFC 5321 §4.5.2: drop the leading dot. */
				d->state = D_TEXT;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				d->done = true;
				return i + 1;
			}
			/* "." CR x: the dot was stuffing; the CR is bare. */
			d->bare_eol = true;
			if (emit(d, out, "\r", 1) == -1)
				return (size_t)-1;
			d->state = D_TEXT;
			if (c == '\r') {
				d->state = D_CR;
				i++;
			}
			break;
		}
	}
	return n;
}

void
smtp_data_check_raw(struct smtp_data *d, const char *in, size_t n)
{
	size_t i;

	/* D_CR: the last octet was a CR; any other state: inside a line. */
	for (i = 0; i < n; i++) {
		char c = in[i];

		d->line_len++;
		if (d->max_line && d->line_len > d->max_line)
			d->long_line = true;
		if (d->state == D_CR) {
			d->state = D_TEXT;
			if (c == '\n') {
				d->line_len = 0;   /* CR LF: the line ends */
				continue;
			}
			d->bare_eol = true;
		}
		if (c == '\r')
			d->state = D_CR;
		else if (c == '\n')
			d->bare_eol = true;
	}
}

void
smtp_data_raw_end(struct smtp_data *d)
{
	if (d->state == D_CR)
		d->bare_eol = true;
	d->state = D_TEXT;
}
