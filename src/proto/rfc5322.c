/*
 * rfc5322: header-section scanner (see the header). A field starts at the
 * beginning of a line that is not folded (does not start with WSP); its
 * name runs to the colon. The header ends at the first empty line.
 */
#include "rfc5322.h"

#include <string.h>

enum { H_BOL, H_NAME, H_REST, H_CR_EMPTY };

void
hdr_scan_init(struct hdr_scan *h)
{
	memset(h, 0, sizeof(*h));
	h->state = H_BOL;
}

static void
field_done(struct hdr_scan *h)
{
	h->name[h->nlen < sizeof(h->name) ? h->nlen : sizeof(h->name) - 1] = '\0';
	if (strcmp(h->name, "received") == 0)
		h->received++;
	else if (strcmp(h->name, "message-id") == 0)
		h->has_message_id = true;
	else if (strcmp(h->name, "date") == 0)
		h->has_date = true;
}

void
hdr_scan_feed(struct hdr_scan *h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !h->done; i++) {
		char c = p[i];

		switch (h->state) {
		case H_BOL:
			if (c == '\r') {
				h->end_off = h->pos + i;
				h->state = H_CR_EMPTY;
			} else if (c == '\n') {
				h->end_off = h->pos + i;
				h->done = true;
			} else if (c == ' ' || c == '\t') {
				h->state = H_REST;     /* folded continuation */
			} else {
				h->nlen = 0;
				h->state = H_NAME;
				i--;                   /* reread as a name octet */
			}
			break;
		case H_NAME:
			if (c == ':') {
				field_done(h);
				h->state = H_REST;
			} else if (c == '\n') {
				h->state = H_BOL;      /* not a field; ignore */
			} else {
				if (h->nlen < sizeof(h->name) - 1)
					h->name[h->nlen] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
				h->nlen++;
			}
			break;
		case H_REST:
			if (c == '\n')
				h->state = H_BOL;
			break;
		case H_CR_EMPTY:
			if (c == '\n')
				h->done = true;
			else
				h->state = H_REST;
			break;
		}
	}
	h->pos += n;
}
