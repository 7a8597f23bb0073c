/*
 * mime_section: BODY[section] of a parsed message (see mime.h): the part
 * a section number names, and its HEADER, HEADER.FIELDS (.NOT), TEXT or
 * MIME, as a range of the stored file or header lines rebuilt.
 */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_int.h"

#define NONE MIME_NONE

/* ---- BODY[section] ---- */

/* The nth child (from 1) of a multipart, or NONE. */
static size_t
nth_child(const struct mime_msg *m, size_t pi, uint32_t n)
{
	size_t c = m->parts[pi].first_child;

	while (c != NONE && --n > 0)
		c = m->parts[c].next;
	return n == 0 ? c : NONE;
}

static bool
field_listed(const struct mime_section *sec, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++)
		if (mime_named(name, nlen, sec->fields[i]))
			return true;
	return false;
}

/* Appends d[s, e) with every line end made CR LF. */
static int
append_crlf(struct buf *out, const char *d, size_t s, size_t e)
{
	size_t i;

	for (i = s; i < e; i++) {
		if (d[i] == '\n' && (i == s || d[i - 1] != '\r') &&
		    buf_append_char(out, '\r') < 0)
			return -1;
		if (buf_append_char(out, d[i]) < 0)
			return -1;
	}
	return 0;
}

enum mime_sect_res
mime_section(const struct mime_msg *m, const struct mime_section *sec,
    size_t *start, size_t *end, struct buf *out)
{
	size_t msg = 0, part = 0, i, pos;
	bool single = false;
	const struct mime_part *p;
	const char *d = m->data;

	if (m->nparts == 0)
		return MIME_SECT_NONE;
	/* Numbers address the parts of a message: the children of a
	 * multipart, or, for a single part, 1 for its body. Past a
	 * message/rfc822 they go on in the enclosed message. */
	for (i = 0; i < sec->nparts; i++) {
		uint32_t n = sec->parts[i];

		if (n == 0)
			return MIME_SECT_NONE;
		if (m->parts[msg].multipart)
			part = nth_child(m, msg, n);
		else if (n == 1 && !single)
			part = msg;
		else
			part = NONE;
		if (part == NONE)
			return MIME_SECT_NONE;
		/* A part of a multipart, not itself one, is its own 1 (as
		 * Dovecot answers BODY[1.1] of a text part), once: the 1
		 * of a single-part message has no parts below it. */
		single = part == msg;
		if (i + 1 < sec->nparts)
			msg = m->parts[part].message &&
			    m->parts[part].first_child != NONE ?
			    m->parts[part].first_child : part;
	}
	p = &m->parts[part];
	switch (sec->text) {
	case MIME_SECT_ALL:
		if (sec->nparts == 0) {
			*start = 0;
			*end = m->len;
		} else {
			*start = p->body_start;
			*end = p->body_end;
		}
		return MIME_SECT_RANGE;
	case MIME_SECT_MIME:
		if (sec->nparts == 0)
			return MIME_SECT_NONE;
		*start = p->hdr_start;
		*end = p->hdr_end;
		return MIME_SECT_RANGE;
	default:
		break;
	}
	/* HEADER, FIELDS, TEXT: of the message itself, or of the message
	 * that a message/rfc822 part encloses. */
	if (sec->nparts > 0) {
		if (!p->message || p->first_child == NONE)
			return MIME_SECT_NONE;
		p = &m->parts[p->first_child];
	}
	if (sec->text == MIME_SECT_TEXT) {
		*start = p->body_start;
		*end = p->body_end;
		return MIME_SECT_RANGE;
	}
	if (sec->text == MIME_SECT_HEADER) {
		*start = p->hdr_start;
		*end = p->hdr_end;
		return MIME_SECT_RANGE;
	}
	pos = p->hdr_start;
	while (pos < p->hdr_end && !mime_is_empty_line(d, p->hdr_end, pos)) {
		size_t nlen, vs, ve, next;
		bool listed;

		next = mime_field_at(d, p->hdr_end, pos, &nlen, &vs, &ve);
		listed = nlen && field_listed(sec, d + pos, nlen);
		/* .NOT keeps the lines that are no field too, as they are
		 * part of the header that is not excluded */
		if (sec->text == MIME_SECT_FIELDS ? listed : !listed) {
			if (append_crlf(out, d, pos, next) < 0)
				return MIME_SECT_ERR;
			/* a last line without its line end gets one under
			 * FIELDS, not under .NOT (Dovecot's answers) */
			if (sec->text == MIME_SECT_FIELDS && d[next - 1] != '\n' &&
			    buf_append_str(out, "\r\n") < 0)
				return MIME_SECT_ERR;
		}
		pos = next;
	}
	/* the empty line that ends the header, when it has one */
	if (mime_is_empty_line(d, p->hdr_end, pos) && buf_append_str(out, "\r\n") < 0)
		return MIME_SECT_ERR;
	return MIME_SECT_BUILT;
}
