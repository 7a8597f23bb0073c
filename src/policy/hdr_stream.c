/*
 * hdr_stream: the header of a streaming message (see the header).
 *
 * The scan is a four-state machine over octets: at a line's start, in a
 * line, after a CR in a line, after a CR at a line's start. Only CR LF
 * ends a line (RFC 5322 §2.2; a bare CR or LF is content), so a CR is
 * held in the state until the next octet says what it was, and the
 * header ends at the first CR LF at a line's start. The first octets of
 * a line that does not start with WSP are its field name, read up to the
 * colon for the callback.
 */
#include "hdr_stream.h"

#include <string.h>

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

void
hdr_stream_init(struct hdr_stream *hs, size_t max, hdr_stream_name_fn name_fn,
    void *arg)
{
	memset(hs, 0, sizeof(*hs));
	hs->max = max;
	hs->st = HDR_LS;
	hs->name_fn = name_fn;
	hs->arg = arg;
}

void
hdr_stream_release(struct hdr_stream *hs)
{
	buf_release(&hs->hdr);
}

/* An octet of a line while its name may still be read. */
static void
name_octet(struct hdr_stream *hs, char c)
{
	size_t l = hs->nmlen;

	if (!hs->nm_on)
		return;
	if (c == ':') {
		while (l > 0 && wsp(hs->nm[l - 1]))
			l--;
		if (hs->name_fn != NULL)
			hs->name_fn(hs->arg, hs->nm, l);
		hs->nm_on = false;
	} else if (c == '\r' || c == '\n' || hs->nmlen == sizeof(hs->nm))
		hs->nm_on = false;
	else
		hs->nm[hs->nmlen++] = c;
}

/* The octets of p up to the empty line ending the header (included). */
static size_t
scan(struct hdr_stream *hs, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		switch (hs->st) {
		case HDR_LS:
			if (c == '\r')
				hs->st = HDR_CR_LS;
			else {
				hs->st = HDR_IN;
				/* A line starting with WSP continues a field. */
				hs->nm_on = !wsp(c);
				hs->nmlen = 0;
				name_octet(hs, c);
			}
			break;
		case HDR_IN:
			name_octet(hs, c);
			if (c == '\r')
				hs->st = HDR_CR_IN;
			break;
		case HDR_CR_IN:
			if (c == '\n')
				hs->st = HDR_LS;
			else if (c != '\r') {
				hs->st = HDR_IN;
				name_octet(hs, c);
			}
			break;
		case HDR_CR_LS:
			if (c == '\n') {
				hs->done = true;
				return i + 1;
			}
			hs->nm_on = false;
			hs->st = c == '\r' ? HDR_CR_IN : HDR_IN;
			break;
		}
	}
	return n;
}

size_t
hdr_stream_feed(struct hdr_stream *hs, const char *p, size_t n)
{
	size_t used;

	if (hs->done)
		return 0;
	used = scan(hs, p, n);
	if (!hs->too_large && (hs->hdr.len + used > hs->max ||
	    buf_append(&hs->hdr, p, used) != 0)) {
		/* The fields a signature covers may be the ones dropped: the
		 * caller can check none, so nothing is kept. */
		hs->too_large = true;
		buf_release(&hs->hdr);
	}
	return used;
}

void
hdr_stream_end(struct hdr_stream *hs)
{
	hs->done = true;
}
