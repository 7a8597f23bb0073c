/*
 * imap_fetch: FETCH and UID FETCH on the pool (RFC 9051 §6.4.5, BINARY
 * RFC 3516, CONDSTORE/QRESYNC RFC 7162).
 *
 * Flags, UIDs, sizes and dates come from the synced folder and read no
 * file. A message is read only for what needs its text: only up to the
 * end of its header when that is all the items need (ENVELOPE, header
 * fields), else whole; proto/mime gives its structure. Maildir files may
 * have bare LF line ends: what is sent has CR LF everywhere, and the
 * sizes announced (RFC822.SIZE: the store's virtual size) count it so.
 * ENVELOPE and BODYSTRUCTURE go into the folder's cache once made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../proto/mime.h"
#include "../proto/mime_decode.h"
#include "imap_session.h"

/* What the items of one FETCH need of each message's text. */
enum need { NEED_NONE, NEED_HEADER, NEED_ALL };

static enum need
att_need(const struct imap_fetch_att *a)
{
	switch (a->kind) {
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_RFC822_HEADER:
		return NEED_HEADER;
	case IMAP_FETCH_BODY_SECTION:
		if (a->nparts == 0 && (a->text == IMAP_SEC_HEADER ||
		    a->text == IMAP_SEC_HEADER_FIELDS || a->text == IMAP_SEC_HEADER_FIELDS_NOT))
			return NEED_HEADER;
		return NEED_ALL;
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_TEXT:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return NEED_ALL;
	default:
		return NEED_NONE;
	}
}

/* A message's text, read for one FETCH response. */
struct msgtext {
	struct buf data;
	bool whole;            /* all of it, not only the header */
	bool parsed;
	struct mime_msg mime;
};

static void
msgtext_clear(struct msgtext *t)
{
	if (t->parsed)
		mime_free(&t->mime);
	t->parsed = false;
	buf_reset(&t->data);
	t->whole = false;
}

/* Reads message mi (its header only, or all of it). -1: gone (errno
 * ENOENT) or unreadable. */
static int
msgtext_read(struct imap_box *b, size_t mi, bool whole, struct msgtext *t)
{
	int fd = mbox_open_msg(&b->mb, mi);
	ssize_t r;

	if (fd == -1)
		return -1;
	for (;;) {
		if (buf_reserve(&t->data, 16384) == -1) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		r = read(fd, t->data.data + t->data.len, 16384);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		t->data.len += (size_t)r;
		if (!whole) {
			/* Enough once the empty line that ends the header is in. */
			size_t from = t->data.len > (size_t)r + 3 ? t->data.len - (size_t)r - 3 : 0;
			const char *p = t->data.data + from, *end = t->data.data + t->data.len;
			bool found = false;

			while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
				p++;
				if (p < end && *p == '\n') {
					found = true;
					break;
				}
				if (p + 1 < end && p[0] == '\r' && p[1] == '\n') {
					found = true;
					break;
				}
			}
			if (found)
				break;
		}
	}
	close(fd);
	t->whole = whole || r == 0;
	return 0;
}

static int
msgtext_parse(struct msgtext *t)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;

	if (t->parsed)
		return 0;
	if (mime_parse(&t->mime, t->data.data ? t->data.data : "", t->data.len, &lim) == -1)
		return -1;
	t->parsed = true;
	return 0;
}

/* [p, p+n) of msg (whose octets before p, if any, are at p[-1]) with
 * every line end CR LF: a bare LF or CR becomes CR LF, as the virtual
 * size counts them. */
static void
put_crlf(struct buf *out, const char *msg, size_t start, size_t end)
{
	size_t i, from = start;

	buf_reserve(out, end - start + (end - start) / 16 + 16);
	for (i = start; i < end; i++) {
		char ch = msg[i];

		if (ch == '\n' && (i == 0 || msg[i - 1] != '\r')) {
			buf_append(out, msg + from, i - from);
			buf_append(out, "\r\n", 2);
			from = i + 1;
		} else if (ch == '\r' && i + 1 < end && msg[i + 1] != '\n') {
			buf_append(out, msg + from, i - from);
			buf_append(out, "\r\n", 2);
			from = i + 1;
		}
	}
	buf_append(out, msg + from, end - from);
}

/* A literal of data (<partial> applied), "~{n}" when it holds a NUL. */
static void
put_literal(struct buf *out, const char *p, size_t n, const struct imap_fetch_att *a,
    bool binary)
{
	if (a->partial) {
		size_t off = a->offset < n ? a->offset : n;
		size_t cnt = n - off < a->count ? n - off : a->count;

		p += off;
		n = cnt;
	}
	buf_printf(out, "%s{%zu}\r\n", binary && memchr(p, '\0', n) ? "~" : "", n);
	buf_append(out, p, n);
}

/* "BODY[1.2.HEADER.FIELDS (A B)]<0>" as the client asked. */
static void
put_section_name(struct buf *out, const char *item, const struct imap_fetch_att *a)
{
	size_t i;

	buf_printf(out, "%s[", item);
	for (i = 0; i < a->nparts; i++)
		buf_printf(out, "%s%u", i ? "." : "", (unsigned)a->part[i]);
	if (a->text != IMAP_SEC_NONE && a->nparts)
		buf_append_char(out, '.');
	switch (a->text) {
	case IMAP_SEC_HEADER:            buf_append_str(out, "HEADER"); break;
	case IMAP_SEC_HEADER_FIELDS:     buf_append_str(out, "HEADER.FIELDS ("); break;
	case IMAP_SEC_HEADER_FIELDS_NOT: buf_append_str(out, "HEADER.FIELDS.NOT ("); break;
	case IMAP_SEC_TEXT:              buf_append_str(out, "TEXT"); break;
	case IMAP_SEC_MIME:              buf_append_str(out, "MIME"); break;
	case IMAP_SEC_NONE:              break;
	}
	if (a->text == IMAP_SEC_HEADER_FIELDS || a->text == IMAP_SEC_HEADER_FIELDS_NOT) {
		for (i = 0; i < a->nfields; i++) {
			const struct imap_str *f = &a->fields[i];
			size_t k;

			if (i)
				buf_append_char(out, ' ');
			/* As an atom when it is one, the way clients wrote it. */
			for (k = 0; k < f->len; k++) {
				unsigned char ch = (unsigned char)f->p[k];

				if (ch <= ' ' || ch >= 0x7f || strchr("(){%*\"\\]", ch))
					break;
			}
			if (k == f->len && k)
				buf_append(out, f->p, f->len);
			else
				imap_put_string(out, f->p, f->len);
		}
		buf_append_char(out, ')');
	}
	buf_append_char(out, ']');
	if (a->partial)
		buf_printf(out, "<%u>", (unsigned)a->offset);
	buf_append_char(out, ' ');
}

/* The octets of a section, CR LF line ends, into sec. -1: no memory. */
static int
section_text(struct msgtext *t, const struct imap_fetch_att *a, enum mime_sect_text text,
    struct buf *sec)
{
	const char *names[64];
	char *owned[64];
	struct mime_section ms = { .parts = a->part, .nparts = a->nparts, .text = text };
	size_t i, start = 0, end = 0, nf = a->nfields < 64 ? a->nfields : 64;
	enum mime_sect_res r;

	for (i = 0; i < nf; i++) {
		owned[i] = strndup(a->fields[i].p, a->fields[i].len);
		names[i] = owned[i] ? owned[i] : "";
	}
	ms.fields = names;
	ms.nfields = nf;
	r = mime_section(&t->mime, &ms, &start, &end, sec);
	for (i = 0; i < nf; i++)
		free(owned[i]);
	if (r == MIME_SECT_ERR)
		return -1;
	if (r == MIME_SECT_RANGE) {
		buf_reset(sec);
		put_crlf(sec, t->data.data, start, end);
	} else if (r == MIME_SECT_NONE)
		buf_reset(sec);
	return 0;
}

static enum mime_sect_text
sect_text(enum imap_section_text t)
{
	switch (t) {
	case IMAP_SEC_HEADER:            return MIME_SECT_HEADER;
	case IMAP_SEC_HEADER_FIELDS:     return MIME_SECT_FIELDS;
	case IMAP_SEC_HEADER_FIELDS_NOT: return MIME_SECT_FIELDS_NOT;
	case IMAP_SEC_TEXT:              return MIME_SECT_TEXT;
	case IMAP_SEC_MIME:              return MIME_SECT_MIME;
	default:                         return MIME_SECT_ALL;
	}
}

/* The part a BINARY section names, decoded from its transfer encoding.
 * -1: no such part or an encoding that cannot be decoded (RFC 3516 §4.3:
 * [UNKNOWN-CTE]). */
static int
binary_text(struct msgtext *t, const struct imap_fetch_att *a, struct buf *out)
{
	struct buf raw = BUF_INIT;
	size_t p = 0, k;
	const struct mime_part *part;
	const char *enc;
	size_t enclen;
	int rc = 0;

	/* Walk to the part: as mime_section does for numbers. */
	for (k = 0; k < a->nparts; k++) {
		const struct mime_part *cur = &t->mime.parts[p];
		size_t c, n;

		if (cur->message && cur->first_child != SIZE_MAX)
			cur = &t->mime.parts[p = cur->first_child];
		if (!cur->multipart) {
			if (a->part[k] == 1 && k == a->nparts - 1)
				break;
			return -1;
		}
		for (c = cur->first_child, n = 1; c != SIZE_MAX && n < a->part[k]; n++)
			c = t->mime.parts[c].next;
		if (c == SIZE_MAX)
			return -1;
		p = c;
	}
	part = &t->mime.parts[p];
	if (part->multipart || part->message)
		return -1;
	put_crlf(&raw, t->data.data, part->body_start, part->body_end);
	enc = mime_str_ptr(&t->mime, part->encoding);
	enclen = enc ? part->encoding.len : 0;
	if (enc && enclen == 6 && strncasecmp(enc, "base64", 6) == 0) {
		struct b64_dec d;

		b64_dec_init(&d);
		if (b64_dec_feed(&d, raw.data ? raw.data : "", raw.len, out) == -1)
			rc = -1;
	} else if (enc && enclen == 16 && strncasecmp(enc, "quoted-printable", 16) == 0) {
		struct qp_dec d;

		qp_dec_init(&d);
		if (qp_dec_feed(&d, raw.data ? raw.data : "", raw.len, out) == -1 ||
		    qp_dec_finish(&d, out) == -1)
			rc = -1;
	} else if (enc == NULL || (enclen == 4 && strncasecmp(enc, "7bit", 4) == 0) ||
	    (enclen == 4 && strncasecmp(enc, "8bit", 4) == 0) ||
	    (enclen == 6 && strncasecmp(enc, "binary", 6) == 0))
		buf_append(out, raw.data ? raw.data : "", raw.len);
	else
		rc = -2;
	buf_release(&raw);
	return rc;
}

/* ------------------------------------------------------------- FETCH -- */

struct fetch {
	struct imap_job *j;
	struct msgtext text;
	struct buf sec;
	enum need need;
	bool sets_seen;
	bool cte_error;
};

static int
item_with_text(struct fetch *f, size_t k, const struct imap_fetch_att *a)
{
	struct imap_box *b = f->j->box;
	struct buf *out = &f->j->out;
	struct msgtext *t = &f->text;
	size_t mi = b->view[k].mi;

	(void)mi;
	switch (a->kind) {
	case IMAP_FETCH_ENVELOPE:
		buf_append_str(out, "ENVELOPE ");
		if (!mbox_cache_get(&b->mb, mi, MBOX_CACHE_ENVELOPE, out)) {
			size_t at = out->len;

			if (msgtext_parse(t) == -1 || mime_write_envelope(&t->mime, 0, out) == -1)
				return -1;
			(void)mbox_cache_put(&b->mb, mi, MBOX_CACHE_ENVELOPE, out->data + at, out->len - at);
		}
		return 0;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE: {
		bool ext = a->kind == IMAP_FETCH_BODYSTRUCTURE;
		enum mbox_cache_field cf = ext ? MBOX_CACHE_BODYSTRUCTURE : MBOX_CACHE_BODY;

		buf_append_str(out, ext ? "BODYSTRUCTURE " : "BODY ");
		if (!mbox_cache_get(&b->mb, mi, cf, out)) {
			size_t at = out->len;

			if (msgtext_parse(t) == -1 || mime_write_body(&t->mime, 0, ext, out) == -1)
				return -1;
			(void)mbox_cache_put(&b->mb, mi, cf, out->data + at, out->len - at);
		}
		return 0;
	}
	case IMAP_FETCH_RFC822:
		buf_reset(&f->sec);
		put_crlf(&f->sec, t->data.data, 0, t->data.len);
		buf_append_str(out, "RFC822 ");
		put_literal(out, f->sec.data ? f->sec.data : "", f->sec.len, a, false);
		return 0;
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
		if (msgtext_parse(t) == -1)
			return -1;
		buf_reset(&f->sec);
		if (section_text(t, a, a->kind == IMAP_FETCH_RFC822_HEADER ? MIME_SECT_HEADER :
		    MIME_SECT_TEXT, &f->sec) == -1)
			return -1;
		buf_append_str(out, a->kind == IMAP_FETCH_RFC822_HEADER ? "RFC822.HEADER " : "RFC822.TEXT ");
		put_literal(out, f->sec.data ? f->sec.data : "", f->sec.len, a, false);
		return 0;
	case IMAP_FETCH_BODY_SECTION:
		if (msgtext_parse(t) == -1)
			return -1;
		buf_reset(&f->sec);
		if (a->nparts == 0 && a->text == IMAP_SEC_NONE)
			put_crlf(&f->sec, t->data.data, 0, t->data.len);
		else if (section_text(t, a, sect_text(a->text), &f->sec) == -1)
			return -1;
		put_section_name(out, "BODY", a);
		put_literal(out, f->sec.data ? f->sec.data : "", f->sec.len, a, false);
		return 0;
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE: {
		int r;

		if (msgtext_parse(t) == -1)
			return -1;
		buf_reset(&f->sec);
		if (a->nparts == 0) {
			put_crlf(&f->sec, t->data.data, 0, t->data.len);
			r = 0;
		} else
			r = binary_text(t, a, &f->sec);
		if (r == -2) {
			f->cte_error = true;
			buf_reset(&f->sec);
		}
		if (a->kind == IMAP_FETCH_BINARY_SIZE) {
			buf_append_str(out, "BINARY.SIZE[");
			for (size_t i = 0; i < a->nparts; i++)
				buf_printf(out, "%s%u", i ? "." : "", (unsigned)a->part[i]);
			buf_printf(out, "] %zu", f->sec.len);
			return 0;
		}
		put_section_name(out, "BINARY", a);
		put_literal(out, f->sec.data ? f->sec.data : "", f->sec.len, a, true);
		return 0;
	}
	default:
		return 0;
	}
}

static bool
sets_seen(const struct imap_cmd *c)
{
	size_t i;

	for (i = 0; i < c->fetch.n; i++) {
		const struct imap_fetch_att *a = &c->fetch.att[i];

		if (a->peek)
			continue;
		if (a->kind == IMAP_FETCH_RFC822 || a->kind == IMAP_FETCH_RFC822_TEXT ||
		    a->kind == IMAP_FETCH_BODY_SECTION || a->kind == IMAP_FETCH_BINARY)
			return true;
	}
	return false;
}

/* One message's FETCH response; -1 when it has gone. */
static int
fetch_one(struct fetch *f, size_t k)
{
	struct imap_job *j = f->j;
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	struct imap_seen *v = &b->view[k];
	struct mbox_msg *m;
	bool first = true, flags_done = false;
	size_t i, mi = v->mi, at = j->out.len;

	if (mi == SIZE_MAX)
		return -1;
	m = &b->mb.msgs[mi];
	if (c->fetch.changedsince_set && m->modseq <= c->fetch.changedsince)
		return 0;
	msgtext_clear(&f->text);
	if (f->need != NEED_NONE && msgtext_read(b, mi, f->need == NEED_ALL, &f->text) == -1) {
		if (errno == ENOENT)
			return -1;
		log_warn("event=imap-fetch-read user=%s folder=\"%s\" uid=%u", b->user, b->name,
		    (unsigned)m->uid);
		return -1;
	}
	if (f->sets_seen && !b->read_only && !(m->flags & MAILDIR_FLAG_SEEN)) {
		struct mbox_flag_change ch = { .add = MAILDIR_FLAG_SEEN };
		bool mod = false, gone = false;

		if (mbox_store(&b->mb, &mi, 1, &ch, 0, &mod, &gone) == MBOX_OK && !gone) {
			v->flags = m->flags;
			v->keywords = m->keywords;
			v->modseq = m->modseq;
			flags_done = true;   /* told below, whether asked or not */
		}
	}
	buf_printf(&j->out, "* %zu FETCH (", k + 1);
	if (c->uid) {
		buf_printf(&j->out, "UID %u", (unsigned)m->uid);
		first = false;
	}
	for (i = 0; i < c->fetch.n; i++) {
		const struct imap_fetch_att *a = &c->fetch.att[i];

		if (a->kind == IMAP_FETCH_UID && c->uid)
			continue;
		if (!first)
			buf_append_char(&j->out, ' ');
		first = false;
		switch (a->kind) {
		case IMAP_FETCH_UID:
			buf_printf(&j->out, "UID %u", (unsigned)m->uid);
			break;
		case IMAP_FETCH_FLAGS:
			buf_append_str(&j->out, "FLAGS ");
			imap_put_flags(&j->out, b, m->flags, m->keywords, v->recent);
			v->flags = m->flags;
			v->keywords = m->keywords;
			flags_done = false;
			break;
		case IMAP_FETCH_INTERNALDATE:
			buf_append_str(&j->out, "INTERNALDATE ");
			imap_put_date(&j->out, m->internal_date);
			break;
		case IMAP_FETCH_RFC822_SIZE: {
			uint64_t vs = m->vsize;

			if (vs == MBOX_VSIZE_UNKNOWN) {
				struct msgtext t = { 0 };

				vs = m->size;
				if (msgtext_read(b, mi, true, &t) == 0) {
					struct buf tmp = BUF_INIT;

					put_crlf(&tmp, t.data.data ? t.data.data : "", 0, t.data.len);
					vs = tmp.len;
					buf_release(&tmp);
				}
				buf_release(&t.data);
			}
			buf_printf(&j->out, "RFC822.SIZE %llu", (unsigned long long)vs);
			break;
		}
		case IMAP_FETCH_MODSEQ:
			buf_printf(&j->out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
			v->modseq = m->modseq;
			break;
		default:
			if (item_with_text(f, k, a) == -1) {
				j->out.len = at;
				return -1;
			}
			break;
		}
	}
	if (flags_done) {
		if (!first)
			buf_append_char(&j->out, ' ');
		buf_append_str(&j->out, "FLAGS ");
		imap_put_flags(&j->out, b, m->flags, m->keywords, v->recent);
		first = false;
	}
	if (b->condstore && !(c->fetch.n && c->fetch.att[0].kind == IMAP_FETCH_MODSEQ)) {
		bool asked = false;

		for (i = 0; i < c->fetch.n; i++)
			asked |= c->fetch.att[i].kind == IMAP_FETCH_MODSEQ;
		if (!asked) {
			if (!first)
				buf_append_char(&j->out, ' ');
			buf_printf(&j->out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
			v->modseq = m->modseq;
		}
	}
	buf_append_str(&j->out, ")\r\n");
	return 0;
}

void
imap_cmd_fetch(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	struct fetch f = { .j = j };
	size_t i;

	if (j->idx == NULL && j->cursor == 0) {
		int r = imap_seqset_resolve(b, &c->seq, c->uid, &j->idx, &j->nidx);

		if (r == -2) {
			imap_job_status(j, "BAD", "Invalid message sequence number");
			return;
		}
		if (r == -1) {
			imap_job_status(j, "NO", "[LIMIT] Out of memory");
			return;
		}
		if (c->fetch.vanished && !b->qresync) {
			imap_job_status(j, "BAD", "QRESYNC is not enabled");
			return;
		}
		for (i = 0; i < c->fetch.n; i++) {
			if (c->fetch.att[i].kind == IMAP_FETCH_MODSEQ)
				b->condstore = true;
		}
		if (c->fetch.changedsince_set)
			b->condstore = true;
		/* UID FETCH ... (CHANGEDSINCE n VANISHED), RFC 7162 §3.2.6 */
		if (c->fetch.vanished)
			imap_put_vanished(j, c->fetch.changedsince, &c->seq);
	}
	for (i = 0; i < c->fetch.n; i++) {
		enum need n = att_need(&c->fetch.att[i]);

		if (n > f.need)
			f.need = n;
	}
	f.sets_seen = sets_seen(c);
	while (j->cursor < j->nidx) {
		if (fetch_one(&f, j->idx[j->cursor++]) == -1)
			j->ghosts = true;
		if (j->out.len >= IMAP_OUT_PIECE && j->cursor < j->nidx) {
			j->more = true;
			break;
		}
	}
	msgtext_clear(&f.text);
	buf_release(&f.text.data);
	buf_release(&f.sec);
	mbox_cache_flush(&b->mb);
	if (j->more)
		return;
	if (f.cte_error)
		imap_job_status(j, "NO", "[UNKNOWN-CTE] Unknown content transfer encoding");
	else if (j->ghosts)
		imap_job_status(j, "NO", "[EXPUNGEISSUED] Some of the requested messages no longer exist");
	else
		imap_job_status(j, "OK", "Fetch completed");
}
