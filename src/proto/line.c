/*
 * line: line framing and the CRLF policy (see line.h). The framer keeps
 * one bit between calls (inside a too-long line) and the raw count; the
 * caller keeps the octets.
 */
#include "line.h"

#include <string.h>

enum line_event
line_frame(struct line_framer *f, ssize_t lf, size_t avail, size_t max, size_t *n_r)
{
	bool was_skipping = f->skipping;
	size_t len;

	*n_r = 0;
	if (lf < 0) {
		/* No LF yet. Past the limit the line can never be served:
		 * drop what there is now and the rest as it comes. */
		if (avail <= max)
			return LINE_NEED_MORE;
		*n_r = avail;
		f->skipping = true;
		return was_skipping ? LINE_SKIP : LINE_TOO_LONG;
	}
	len = (size_t)lf;
	if (was_skipping || len >= max) {   /* len + LF > max */
		*n_r = len + 1;
		f->skipping = false;
		return was_skipping ? LINE_SKIP : LINE_TOO_LONG;
	}
	*n_r = len;
	return LINE_READY;
}

enum line_err
line_check(const char *line, size_t *len, unsigned policy)
{
	size_t n = *len;

	if (n == 0 || line[n - 1] != '\r')
		return LINE_E_BARE_LF;
	n--;
	if ((policy & LINE_REJECT_NUL) && memchr(line, '\0', n))
		return LINE_E_NUL;
	if ((policy & LINE_REJECT_BARE_CR) && memchr(line, '\r', n))
		return LINE_E_BARE_CR;
	*len = n;
	return LINE_OK;
}

void
line_raw_begin(struct line_framer *f, uint64_t n)
{
	f->raw_left = n;
}

size_t
line_raw_take(struct line_framer *f, size_t avail)
{
	size_t n = (uint64_t)avail < f->raw_left ? avail : (size_t)f->raw_left;

	f->raw_left -= n;
	return n;
}

bool
line_raw_active(const struct line_framer *f)
{
	return f->raw_left > 0;
}
