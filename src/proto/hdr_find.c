/*
 * hdr_find: a header field ends at a CRLF not followed by WSP (RFC 5322
 * §2.2.3); the header at the first empty line. Only each field's first
 * octets are kept, for its name and the start of its value.
 */
#include "hdr_find.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rfc5322.h"

enum {
	F_START,      /* at the start of a line that begins a field */
	F_FIELD,      /* inside a field */
	F_CR,         /* a CR inside a field */
	F_CRLF,       /* CRLF: a fold if WSP follows, else the field's end */
	F_BLANK_CR,   /* a CR at the start of a line */
	F_DONE,
};

void
hdr_find_init(struct hdr_find *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	strncpy(f->name, name, sizeof(f->name) - 1);
}

void
hdr_find_release(struct hdr_find *f)
{
	free(f->found);
	f->found = NULL;
	f->nfound = f->cap = 0;
}

/* The field that began at f->start ends before f->pos + extra. */
static void
field_end(struct hdr_find *f, uint64_t end)
{
	size_t colon, nlen = rfc5322_field_name(f->head, f->hlen, &colon);
	struct hdr_found *h;
	size_t vlen;

	if (nlen == 0 || nlen != strlen(f->name) || strncasecmp(f->head, f->name, nlen) != 0)
		return;
	if (f->nfound == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct hdr_found *nf = realloc(f->found, cap * sizeof(*nf));

		if (nf == NULL) {
			f->nomem = true;
			return;
		}
		f->found = nf;
		f->cap = cap;
	}
	h = &f->found[f->nfound++];
	h->off = f->start;
	h->len = end - f->start;
	vlen = f->hlen - (colon + 1);
	h->cut = f->head_cut || vlen > HDR_FIND_HEAD;
	if (vlen > HDR_FIND_HEAD)
		vlen = HDR_FIND_HEAD;
	memcpy(h->value, f->head + colon + 1, vlen);
	h->value[vlen] = '\0';
	h->vlen = vlen;
}

static void
keep(struct hdr_find *f, char c)
{
	if (f->hlen < sizeof(f->head))
		f->head[f->hlen++] = c;
	else
		f->head_cut = true;
}

static void
field_begin(struct hdr_find *f, uint64_t at)
{
	f->start = at;
	f->hlen = 0;
	f->head_cut = false;
}

void
hdr_find_feed(struct hdr_find *f, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && f->state != F_DONE; i++, f->pos++) {
		char c = p[i];

		switch (f->state) {
		case F_CRLF:
			if (c == ' ' || c == '\t') {
				keep(f, '\r');
				keep(f, '\n');
				keep(f, c);
				f->state = F_FIELD;
				break;
			}
			/* This octet starts the next line. */
			field_end(f, f->pos);
			/* FALLTHROUGH */
		case F_START:
			if (c == '\r') {
				f->state = F_BLANK_CR;
				break;
			}
			field_begin(f, f->pos);
			keep(f, c);
			f->state = F_FIELD;
			break;
		case F_BLANK_CR:
			if (c == '\n') {
				f->state = F_DONE;
				f->done = true;
				break;
			}
			/* A lone CR starting a line: part of a (broken) field. */
			field_begin(f, f->pos - 1);
			keep(f, '\r');
			keep(f, c);
			f->state = c == '\r' ? F_CR : F_FIELD;
			break;
		case F_FIELD:
			if (c == '\r')
				f->state = F_CR;
			else
				keep(f, c);
			break;
		case F_CR:
			if (c == '\n')
				f->state = F_CRLF;
			else {
				keep(f, '\r');
				if (c != '\r') {
					keep(f, c);
					f->state = F_FIELD;
				}
			}
			break;
		}
	}
}

void
hdr_find_end(struct hdr_find *f)
{
	if (f->state == F_CRLF)
		field_end(f, f->pos);
	else if (f->state == F_FIELD || f->state == F_CR)
		field_end(f, f->pos);
	f->state = F_DONE;
}
