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
	else if (strcmp(h->name, "from") == 0)
		h->in_from = h->nfrom++ == 0;
}

static void
from_char(struct hdr_scan *h, char c)
{
	if (h->in_from && h->from_len < sizeof(h->from) - 1) {
		h->from[h->from_len++] = (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
		h->from[h->from_len] = '\0';
	}
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
				from_char(h, ' ');
			} else {
				h->in_from = false;
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
			else if (c != '\r')
				from_char(h, c);
			break;
		case H_CR_EMPTY:
			h->in_from = false;
			if (c == '\n')
				h->done = true;
			else
				h->state = H_REST;
			break;
		}
	}
	h->pos += n;
}

bool
rfc5322_next_address(const char *v, size_t len, size_t *pos, char *out,
    size_t outsize)
{
	size_t i = *pos, start, depth;

	while (i < len) {
		/* Skip what cannot be the address: quoted strings, comments. */
		if (v[i] == '"') {
			for (i++; i < len && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (v[i] == '(') {
			for (depth = 1, i++; i < len && depth; i++) {
				if (v[i] == '\\')
					i++;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')')
					depth--;
			}
			continue;
		}
		if (v[i] == '<') {
			start = ++i;
			while (i < len && v[i] != '>')
				i++;
			*pos = i < len ? i + 1 : len;
			return i - start < outsize && (memcpy(out, v + start, i - start),
			    out[i - start] = '\0', true);
		}
		if (v[i] == ',' || v[i] == ' ' || v[i] == ';' || v[i] == ':') {
			i++;
			continue;
		}
		/* A bare addr-spec: up to a separator. A display name without
		 * angle brackets is not an address; it has no '@'. */
		start = i;
		while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '(' && v[i] != '<' &&
		    v[i] != ';')
			i++;
		if (i < len && v[i] == '<')
			continue;   /* it was a display name word */
		if (memchr(v + start, '@', i - start) != NULL) {
			*pos = i;
			if (i - start >= outsize)
				return false;
			memcpy(out, v + start, i - start);
			out[i - start] = '\0';
			return true;
		}
	}
	*pos = len;
	return false;
}

bool
hdr_scan_at_line_start(const struct hdr_scan *h)
{
	return h->state == H_BOL;
}
