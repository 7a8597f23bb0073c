/*
 * mime_write: the IMAP forms of a parsed message (see mime.h): BODY and
 * BODYSTRUCTURE with their extension data, and ENVELOPE with its address
 * lists, written as Dovecot 2.3 writes them for the same message.
 */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_int.h"

#define NONE MIME_NONE

/* ---- IMAP forms ---- */

int
mime_write_string(struct buf *out, const char *s, size_t len)
{
	size_t i;
	bool quoted = true;

	if (s == NULL)
		return buf_append_str(out, "NIL");
	for (i = 0; i < len && quoted; i++) {
		unsigned char c = (unsigned char)s[i];

		/* RFC 9051 §4.3: a quoted string holds no CR, LF, NUL or
		 * 8-bit octet; those go in a literal. A quote or a backslash
		 * could be escaped, but Dovecot sends a literal for them too,
		 * which no client misreads. */
		if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80 ||
		    c == '"' || c == '\\')
			quoted = false;
	}
	if (!quoted) {
		if (buf_printf(out, "{%zu}\r\n", len) < 0)
			return -1;
		return buf_append(out, s, len);
	}
	if (buf_append_char(out, '"') < 0)
		return -1;
	for (i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') && buf_append_char(out, '\\') < 0)
			return -1;
		if (buf_append_char(out, s[i]) < 0)
			return -1;
	}
	return buf_append_char(out, '"');
}

static int
write_str(struct buf *out, const struct mime_msg *m, struct mime_str s)
{
	return mime_write_string(out, mime_str_ptr(m, s), s.len);
}

static int
write_lit(struct buf *out, const char *s)
{
	return mime_write_string(out, s, strlen(s));
}

/* ("name" "value" ...) or NIL; extra_charset: a text part without a
 * charset parameter gets charset us-ascii, its RFC 2045 §5.2 default. */
static int
write_params(struct buf *out, const struct mime_msg *m, size_t first,
    size_t n, bool extra_charset)
{
	size_t i;

	if (n == 0 && !extra_charset)
		return buf_append_str(out, "NIL");
	if (buf_append_char(out, '(') < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((i > 0 && buf_append_char(out, ' ') < 0) ||
		    write_str(out, m, m->params[first + i].name) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    write_str(out, m, m->params[first + i].value) < 0)
			return -1;
	}
	if (extra_charset && buf_append_str(out, n ? " " : "") < 0)
		return -1;
	if (extra_charset && buf_append_str(out, "\"charset\" \"us-ascii\"") < 0)
		return -1;
	return buf_append_char(out, ')');
}

static int
write_disposition(struct buf *out, const struct mime_msg *m,
    const struct mime_part *p)
{
	if (p->disposition.len == NONE)
		return buf_append_str(out, "NIL");
	if (buf_append_char(out, '(') < 0 ||
	    write_str(out, m, p->disposition) < 0 ||
	    buf_append_char(out, ' ') < 0 ||
	    write_params(out, m, p->dparams_first, p->ndparams, false) < 0)
		return -1;
	return buf_append_char(out, ')');
}

/* Content-Language: a list of tags ("en" or ("en" "de")), NIL if none. */
static int
write_language(struct buf *out, const struct mime_msg *m, struct mime_str s)
{
	const char *v = mime_str_ptr(m, s);
	size_t i = 0, n = s.len, count = 0, start = out->len;

	if (v == NULL)
		return buf_append_str(out, "NIL");
	if (buf_append_char(out, '(') < 0)
		return -1;
	for (;;) {
		size_t ts;

		i = mime_skip_cfws(v, n, i);
		while (i < n && v[i] == ',')
			i = mime_skip_cfws(v, n, i + 1);
		ts = i;
		while (i < n && mime_is_token(v[i]) && v[i] != ',')
			i++;
		if (i == ts)
			break;
		if ((count++ && buf_append_char(out, ' ') < 0) ||
		    mime_write_string(out, v + ts, i - ts) < 0)
			return -1;
	}
	if (count == 0) {
		out->len = start;
		return buf_append_str(out, "NIL");
	}
	return buf_append_char(out, ')');
}

/* The extension data both kinds of part end with: " disposition
 * language location". */
static int
write_ext_tail(struct buf *out, const struct mime_msg *m,
    const struct mime_part *p)
{
	if (buf_append_char(out, ' ') < 0 || write_disposition(out, m, p) < 0 ||
	    buf_append_char(out, ' ') < 0 ||
	    write_language(out, m, p->language) < 0 ||
	    buf_append_char(out, ' ') < 0)
		return -1;
	return write_str(out, m, p->location);
}

static int write_part(const struct mime_msg *m, size_t pi, bool ext,
    struct buf *out);

static int
write_multipart(const struct mime_msg *m, size_t pi, bool ext,
    struct buf *out)
{
	const struct mime_part *p = &m->parts[pi];
	size_t c;

	if (buf_append_char(out, '(') < 0)
		return -1;
	if (p->first_child == NONE) {
		/* A multipart needs a part (RFC 9051 body-type-mpart): an
		 * empty text/plain stands for the missing ones. */
		if (buf_append_str(out, "(\"text\" \"plain\" (\"charset\" "
		    "\"us-ascii\") NIL NIL \"7bit\" 0 0") < 0 ||
		    (ext && buf_append_str(out, " NIL NIL NIL NIL") < 0) ||
		    buf_append_char(out, ')') < 0)
			return -1;
	}
	for (c = p->first_child; c != NONE; c = m->parts[c].next)
		if (write_part(m, c, ext, out) < 0)
			return -1;
	if (buf_append_char(out, ' ') < 0 || write_str(out, m, p->subtype) < 0)
		return -1;
	if (ext && (buf_append_char(out, ' ') < 0 ||
	    write_params(out, m, p->params_first, p->nparams, false) < 0 ||
	    write_ext_tail(out, m, p) < 0))
		return -1;
	return buf_append_char(out, ')');
}

static int
write_part(const struct mime_msg *m, size_t pi, bool ext, struct buf *out)
{
	const struct mime_part *p = &m->parts[pi];
	bool text = mime_str_is(m, p->type, "text");
	bool charset = text &&
	    mime_param(m, p->params_first, p->nparams, "charset").len == NONE;

	if (p->multipart)
		return write_multipart(m, pi, ext, out);
	if (buf_append_char(out, '(') < 0 ||
	    write_str(out, m, p->type) < 0 || buf_append_char(out, ' ') < 0 ||
	    write_str(out, m, p->subtype) < 0 || buf_append_char(out, ' ') < 0 ||
	    write_params(out, m, p->params_first, p->nparams, charset) < 0 ||
	    buf_append_char(out, ' ') < 0 ||
	    write_str(out, m, p->id) < 0 || buf_append_char(out, ' ') < 0 ||
	    write_str(out, m, p->description) < 0 ||
	    buf_append_char(out, ' ') < 0)
		return -1;
	if (p->encoding.len == NONE ? write_lit(out, "7bit") < 0 :
	    write_str(out, m, p->encoding) < 0)
		return -1;
	if (buf_printf(out, " %llu", (unsigned long long)p->body_vsize) < 0)
		return -1;
	/* message/global is parsed as a message (its parts have numbers)
	 * but written as a basic part, as Dovecot 2.3 does: IMAP4rev1's
	 * grammar has the envelope form for message/rfc822 alone. */
	if (p->message && p->first_child != NONE &&
	    mime_str_is(m, p->subtype, "rfc822")) {
		/* The lines are those of the whole enclosed message: this
		 * part's body. */
		if (buf_append_char(out, ' ') < 0 ||
		    mime_write_envelope(m, p->first_child, out) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    write_part(m, p->first_child, ext, out) < 0 ||
		    buf_printf(out, " %llu", (unsigned long long)p->body_lines) < 0)
			return -1;
	} else if (text &&
	    buf_printf(out, " %llu", (unsigned long long)p->body_lines) < 0)
		return -1;
	if (ext && (buf_append_char(out, ' ') < 0 ||
	    write_str(out, m, p->md5) < 0 || write_ext_tail(out, m, p) < 0))
		return -1;
	return buf_append_char(out, ')');
}

int
mime_write_body(const struct mime_msg *m, size_t part, bool extended,
    struct buf *out)
{
	if (part >= m->nparts)
		return buf_append_str(out, "NIL");
	return write_part(m, part, extended, out);
}

/* ---- ENVELOPE ---- */

/*
 * A string for humans (the subject, a display name), as Dovecot sends
 * it: line ends dropped, each run of WSP made one space, the ends
 * trimmed; when that changed anything, a literal, as Dovecot does.
 */
static int
write_human(struct buf *out, const char *s, size_t len)
{
	struct buf t = BUF_INIT;
	size_t i;
	bool sp = false;
	int rc;

	if (s == NULL)
		return buf_append_str(out, "NIL");
	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (mime_is_wsp(s[i])) {
			sp = t.len > 0;
			continue;
		}
		if ((sp && buf_append_char(&t, ' ') < 0) ||
		    buf_append_char(&t, s[i]) < 0) {
			buf_release(&t);
			return -1;
		}
		sp = false;
	}
	if (t.len == len && (len == 0 || memcmp(t.data, s, len) == 0))
		rc = mime_write_string(out, s, len);
	else if ((rc = buf_printf(out, "{%zu}\r\n", t.len)) == 0)
		rc = buf_append(out, t.data ? t.data : "", t.len);
	buf_release(&t);
	return rc;
}

/* One address being read: display name, route, local part, domain. */
struct addr {
	struct buf name, route, local, domain, spec;
	struct buf comment;  /* the last comment after the addr-spec began:
	                        Dovecot's name for an address without <> */
	bool angle;      /* a <route-addr> was seen */
	bool space;      /* WSP since the last word of the name */
};

static void
addr_reset(struct addr *a)
{
	buf_reset(&a->name);
	buf_reset(&a->route);
	buf_reset(&a->local);
	buf_reset(&a->domain);
	buf_reset(&a->spec);
	buf_reset(&a->comment);
	a->angle = a->space = false;
}

static void
addr_release(struct addr *a)
{
	buf_release(&a->name);
	buf_release(&a->route);
	buf_release(&a->local);
	buf_release(&a->domain);
	buf_release(&a->spec);
	buf_release(&a->comment);
}

static int
write_buf_nstr(struct buf *out, const struct buf *b)
{
	return mime_write_string(out, b->len ? b->data : NULL, b->len);
}

/* (name adl mailbox host); an empty mailbox or host is not NIL but a
 * marker, as Dovecot writes it, since NIL there means a group. */
static int
write_addr(struct buf *out, const struct addr *a)
{
	const struct buf *local = a->angle ? &a->local : &a->spec;
	const struct buf *domain = a->angle ? &a->domain : NULL;
	const char *at = NULL;
	size_t llen = local->len;

	const struct buf *name = a->angle ? &a->name : &a->comment;

	if (!a->angle && local->len) {
		at = memrchr(local->data, '@', local->len);
		if (at)
			llen = (size_t)(at - local->data);
		else if (memchr(a->name.data, ' ', a->name.len)) {
			/* Words and no address: Dovecot takes them for a
			 * name whose address is missing. */
			name = &a->name;
			llen = 0;
		}
	}
	/* Without <>, the words were the address itself, not a name. */
	if (buf_append_char(out, '(') < 0 ||
	    write_human(out, name->len ? name->data : NULL, name->len) < 0 ||
	    buf_append_char(out, ' ') < 0 || write_buf_nstr(out, &a->route) < 0 ||
	    buf_append_char(out, ' ') < 0)
		return -1;
	if (llen ? mime_write_string(out, local->data, llen) < 0 :
	    write_lit(out, "MISSING_MAILBOX") < 0)
		return -1;
	if (buf_append_char(out, ' ') < 0)
		return -1;
	if (domain && domain->len) {
		if (mime_write_string(out, domain->data, domain->len) < 0)
			return -1;
	} else if (at && (size_t)(at - local->data) + 1 < local->len) {
		if (mime_write_string(out, at + 1,
		    local->len - (size_t)(at - local->data) - 1) < 0)
			return -1;
	} else if (write_lit(out, "MISSING_DOMAIN") < 0)
		return -1;
	return buf_append_char(out, ')');
}

/* A quoted string from v[i] == '"': its content, unescaped, appended to
 * b and, when not NULL, to b2 (Dovecot gives a quoted local part without
 * its quotes). */
static size_t
quoted(const char *v, size_t n, size_t i, struct buf *b, struct buf *b2,
    int *err)
{
	for (i++; i < n && v[i] != '"'; i++) {
		if (v[i] == '\\' && i + 1 < n)
			i++;
		if (buf_append_char(b, v[i]) < 0 ||
		    (b2 && buf_append_char(b2, v[i]) < 0))
			*err = -1;
	}
	return i < n ? i + 1 : n;
}

/* The content of the comment at v[i] == '(' to b (replacing what was
 * there), nested parentheses kept. Returns the offset after it. */
static size_t
comment(const char *v, size_t n, size_t i, struct buf *b, int *err)
{
	size_t end = mime_skip_cfws(v, n, i), e = end;

	buf_reset(b);
	if (e > i + 1 && v[e - 1] == ')')
		e--;
	if (buf_append(b, v + i + 1, e - i - 1) < 0)
		*err = -1;
	return end;
}

/* <[@route,@route:]local@domain>: from v[i] == '<'. */
static size_t
route_addr(const char *v, size_t n, size_t i, struct addr *a, int *err)
{
	struct buf *cur = &a->local;
	size_t colon = NONE, k;

	a->angle = true;
	for (k = i + 1; k < n && v[k] != '>' && v[k] != '"'; k++)
		if (v[k] == ':') {
			colon = k;
			break;
		}
	if (colon != NONE && mime_skip_cfws(v, n, i + 1) < n &&
	    v[mime_skip_cfws(v, n, i + 1)] == '@') {
		for (k = i + 1; k < colon; k++)
			if (!mime_is_wsp(v[k]) && buf_append_char(&a->route, v[k]) < 0)
				*err = -1;
		i = colon;
	}
	for (i++; i < n && v[i] != '>';) {
		if (v[i] == '"') {
			i = quoted(v, n, i, cur, NULL, err);
			continue;
		}
		if (v[i] == '(' || mime_is_wsp(v[i])) {
			i = mime_skip_cfws(v, n, i);
			continue;
		}
		if (v[i] == '@' && cur == &a->local) {
			cur = &a->domain;
			i++;
			continue;
		}
		if (buf_append_char(cur, v[i]) < 0)
			*err = -1;
		i++;
	}
	return i < n ? i + 1 : n;
}

/* The address list of an unfolded value, as an IMAP list or NIL. */
static int
write_addresses(struct buf *out, const char *v, size_t n)
{
	struct addr a;
	size_t i = 0, start = out->len, count = 0;
	bool group = false;
	int err = 0;

	memset(&a, 0, sizeof(a));
	if (buf_append_char(out, '(') < 0)
		return -1;
	while (i <= n && err == 0) {
		char c = i < n ? v[i] : ',';

		if (c == ',' || c == ';' || (i == n)) {
			if (a.angle || a.spec.len) {
				if (write_addr(out, &a) < 0)
					err = -1;
				count++;
			}
			addr_reset(&a);
			if (c == ';' && group) {
				if (buf_append_str(out, "(NIL NIL NIL NIL)") < 0)
					err = -1;
				group = false;
			}
			if (i == n && group) {
				/* an unterminated group: closed here */
				if (buf_append_str(out, "(NIL NIL NIL NIL)") < 0)
					err = -1;
				group = false;
			}
			i++;
		} else if (c == ':' && !a.angle && !group) {
			if (buf_append_str(out, "(NIL NIL ") < 0 ||
			    mime_write_string(out, a.name.len ? a.name.data : "",
			    a.name.len) < 0 ||
			    buf_append_str(out, " NIL)") < 0)
				err = -1;
			count++;
			group = true;
			addr_reset(&a);
			i++;
		} else if (c == '<') {
			i = route_addr(v, n, i, &a, &err);
		} else if (c == '(' && a.spec.len && !a.angle) {
			i = comment(v, n, i, &a.comment, &err);
			a.space = a.name.len > 0;
		} else if (c == '(') {
			i = mime_skip_cfws(v, n, i);
			a.space = a.name.len > 0;
		} else if (mime_is_wsp(c) || c == '\r' || c == '\n') {
			i++;
			a.space = a.name.len > 0;
		} else if (c == '"') {
			if (a.space && buf_append_char(&a.name, ' ') < 0)
				err = -1;
			a.space = false;
			i = quoted(v, n, i, &a.name, &a.spec, &err);
		} else {
			if (a.space && buf_append_char(&a.name, ' ') < 0)
				err = -1;
			a.space = false;
			if (buf_append_char(&a.name, c) < 0 ||
			    buf_append_char(&a.spec, c) < 0)
				err = -1;
			i++;
		}
	}
	addr_release(&a);
	if (err)
		return -1;
	if (count == 0) {
		out->len = start;
		return buf_append_str(out, "NIL");
	}
	return buf_append_char(out, ')');
}

enum { E_DATE, E_SUBJECT, E_FROM, E_SENDER, E_REPLY_TO, E_TO, E_CC, E_BCC,
	E_IN_REPLY_TO, E_MESSAGE_ID, E_N };

static const char *const env_names[E_N] = {
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id",
};

int
mime_write_envelope(const struct mime_msg *m, size_t part, struct buf *out)
{
	size_t vs[E_N], ve[E_N], pos, k;
	struct buf val = BUF_INIT;
	const char *d = m->data;
	int rc = 0;

	if (part >= m->nparts)
		return buf_append_str(out, "NIL");
	/* ve too: a missing From is copied to Sender and Reply-To whole. */
	for (k = 0; k < E_N; k++)
		vs[k] = ve[k] = NONE;
	pos = m->parts[part].hdr_start;
	while (pos < m->parts[part].hdr_end &&
	    !mime_is_empty_line(d, m->parts[part].hdr_end, pos)) {
		size_t nlen, s, e, next;

		next = mime_field_at(d, m->parts[part].hdr_end, pos, &nlen, &s, &e);
		for (k = 0; nlen && k < E_N; k++)
			if (vs[k] == NONE && mime_named(d + pos, nlen, env_names[k])) {
				vs[k] = s;
				ve[k] = e;
			}
		pos = next;
	}
	/* sender and reply-to default to from (RFC 9051 §7.5.2) */
	if (vs[E_SENDER] == NONE) {
		vs[E_SENDER] = vs[E_FROM];
		ve[E_SENDER] = ve[E_FROM];
	}
	if (vs[E_REPLY_TO] == NONE) {
		vs[E_REPLY_TO] = vs[E_FROM];
		ve[E_REPLY_TO] = ve[E_FROM];
	}
	rc = buf_append_char(out, '(');
	for (k = 0; k < E_N && rc == 0; k++) {
		bool addrs = k >= E_FROM && k <= E_BCC;

		if (k > 0 && (rc = buf_append_char(out, ' ')) < 0)
			break;
		if (vs[k] == NONE) {
			rc = buf_append_str(out, "NIL");
			continue;
		}
		if (k == E_SUBJECT) {
			size_t s = vs[k], e = ve[k];

			while (s < e && mime_is_wsp(d[s]))
				s++;
			while (e > s && (d[e - 1] == '\n' || d[e - 1] == '\r'))
				e--;
			rc = write_human(out, d + s, e - s);
			continue;
		}
		if ((rc = mime_unfold(d + vs[k], ve[k] - vs[k], &val)) < 0)
			break;
		if (addrs)
			rc = write_addresses(out, val.data ? val.data : "", val.len);
		else
			rc = mime_write_string(out, val.data ? val.data : "",
			    val.len);
	}
	buf_release(&val);
	if (rc < 0)
		return -1;
	return buf_append_char(out, ')');
}
