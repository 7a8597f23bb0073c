/*
 * rfc5322: header-section scanner (see the header). A field starts at the
 * beginning of a line that is not folded (does not start with WSP); its
 * name is read by name_step(), the one definition of a field name, which
 * rfc5322_field_name() applies to a whole field. A line whose start is
 * not a name and a colon is no field, and is skipped. The header ends at
 * the first empty line.
 */
#include "rfc5322.h"

#include <string.h>

enum { H_BOL, H_NAME, H_REST, H_CR_EMPTY };

/* Inside a field name: the name, WSP after it, a folding CR LF there. */
enum { N_NAME, N_WSP, N_CR, N_LF };

enum name_res {
	NAME_CHAR,    /* c is an octet of the name */
	NAME_MORE,    /* c is allowed between the name and the colon */
	NAME_FIELD,   /* c is the colon: the line is a field */
	NAME_BAD,     /* c cannot be there: the line is not a field */
	NAME_ENDED,   /* the line ended before a colon; c starts the next */
};

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One octet of a line's start. *st starts at N_NAME; nlen is the number
 * of name octets before c. field-name = 1*ftext (ftext: %d33-57 /
 * %d59-126), then obs-optional's *WSP, in which unfolding (RFC 5322
 * §2.2.3) lets a CR LF stand before more WSP, then ":".
 */
static enum name_res
name_step(int *st, size_t nlen, unsigned char c)
{
	switch (*st) {
	case N_NAME:
		if (c >= 33 && c <= 126 && c != ':')
			return NAME_CHAR;
		if (nlen == 0)
			return NAME_BAD;
		break;
	case N_CR:
		if (c != '\n')
			return NAME_BAD;
		*st = N_LF;
		return NAME_MORE;
	case N_LF:
		if (!is_wsp(c))
			return NAME_ENDED;
		*st = N_WSP;
		return NAME_MORE;
	}
	/* After the name (N_NAME with nlen > 0, or N_WSP). */
	if (c == ':')
		return NAME_FIELD;
	if (is_wsp(c)) {
		*st = N_WSP;
		return NAME_MORE;
	}
	if (c == '\r') {
		*st = N_CR;
		return NAME_MORE;
	}
	return NAME_BAD;
}

size_t
rfc5322_field_name(const char *field, size_t len, size_t *colon_r)
{
	int st = N_NAME;
	size_t i, nlen = 0;

	for (i = 0; i < len; i++) {
		switch (name_step(&st, nlen, (unsigned char)field[i])) {
		case NAME_CHAR:
			nlen++;
			break;
		case NAME_MORE:
			break;
		case NAME_FIELD:
			*colon_r = i;
			return nlen;
		case NAME_BAD:
		case NAME_ENDED:
			return 0;
		}
	}
	return 0;
}

void
hdr_scan_init(struct hdr_scan *h)
{
	memset(h, 0, sizeof(*h));
	h->state = H_BOL;
}

static void
field_done(struct hdr_scan *h)
{
	if (h->nlen >= sizeof(h->name))
		return;   /* longer than any name we look for */
	h->name[h->nlen] = '\0';
	if (strcmp(h->name, "received") == 0)
		h->received++;
	else if (strcmp(h->name, "message-id") == 0)
		h->has_message_id = true;
	else if (strcmp(h->name, "date") == 0)
		h->has_date = true;
	else if (strcmp(h->name, "from") == 0)
		h->in_from = h->nfrom++ == 0;
}

/* The first From's value, unfolded; never cut short without saying so. */
static void
from_char(struct hdr_scan *h, char c)
{
	if (!h->in_from)
		return;
	if (h->from_len == RFC5322_FROM_MAX) {
		h->from_long = true;
		return;
	}
	h->from[h->from_len++] = (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
	h->from[h->from_len] = '\0';
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
				h->nstate = N_NAME;
				h->state = H_NAME;
				i--;                   /* reread as a name octet */
			}
			break;
		case H_NAME:
			switch (name_step(&h->nstate, h->nlen, (unsigned char)c)) {
			case NAME_CHAR:
				if (h->nlen < sizeof(h->name))
					h->name[h->nlen] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
				h->nlen++;
				break;
			case NAME_MORE:
				break;
			case NAME_FIELD:
				field_done(h);
				h->state = H_REST;
				break;
			case NAME_BAD:
				h->state = H_REST;     /* not a field; skip the line */
				i--;
				break;
			case NAME_ENDED:
				h->state = H_BOL;      /* not a field; c starts a line */
				i--;
				break;
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

/* v[start .. end) is the address; the next one is looked for at next. */
static enum rfc5322_addr
take(const char *v, size_t len, size_t start, size_t end, size_t next,
    size_t *pos, char *out, size_t outsize)
{
	if (end - start >= outsize) {
		*pos = len;   /* nothing after it was read */
		return RFC5322_ADDR_BAD;
	}
	memcpy(out, v + start, end - start);
	out[end - start] = '\0';
	*pos = next;
	return RFC5322_ADDR_OK;
}

enum rfc5322_addr
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
			if (i >= len)
				goto bad;
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
			if (depth)
				goto bad;
			continue;
		}
		if (v[i] == '<') {
			start = ++i;
			while (i < len && v[i] != '>')
				i++;
			if (i >= len)
				goto bad;
			return take(v, len, start, i, i + 1, pos, out, outsize);
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
		if (memchr(v + start, '@', i - start) != NULL)
			return take(v, len, start, i, i, pos, out, outsize);
	}
	*pos = len;
	return RFC5322_ADDR_END;
bad:
	*pos = len;
	return RFC5322_ADDR_BAD;
}

bool
hdr_scan_at_line_start(const struct hdr_scan *h)
{
	/* A "name" line that ended without a colon ended all the same. */
	return h->state == H_BOL || (h->state == H_NAME && h->nstate == N_LF);
}

bool
hdr_scan_cr_pending(const struct hdr_scan *h)
{
	return !h->done && h->state == H_CR_EMPTY;
}
