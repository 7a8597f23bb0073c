/*
 * mime: the part tree (see the header). One recursive walk: a part's
 * header is read line by line up to its empty line, then its body is
 * scanned for boundary lines. The boundaries of every open multipart
 * are on a stack and each line start is checked against all of them,
 * innermost first, so a boundary of an outer multipart ends every part
 * inside it, whether or not the inner ones were closed (RFC 2046 §5.1.2
 * asks for that; broken mail relies on it).
 */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONE SIZE_MAX

/* What ended a scan: the line start of a boundary line (or the end of
 * the message), which boundary of the stack (NONE: the end), whether it
 * was a close delimiter, and where the line after it starts. */
struct hit {
	size_t at;
	size_t which;
	bool close;
	size_t after;
};

/* A boundary: its place in the arena, which may move as it grows. */
struct bnd {
	size_t off;
	size_t len;
};

struct walk {
	struct mime_msg *m;
	const struct mime_limits *lim;
	struct bnd *stack;     /* owned by mime_parse */
	size_t nstack;
	bool oom;
};

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The start of the line after the one at pos (len when it is the last). */
static size_t
next_line(const char *d, size_t len, size_t pos)
{
	const char *nl = memchr(d + pos, '\n', len - pos);

	return nl ? (size_t)(nl - d) + 1 : len;
}

static bool
boundary_at(const struct walk *w, size_t pos, struct hit *h)
{
	const char *d = w->m->data;
	size_t len = w->m->len, i;

	if (len - pos < 2 || d[pos] != '-' || d[pos + 1] != '-')
		return false;
	for (i = w->nstack; i-- > 0;) {
		const struct bnd *b = &w->stack[i];
		size_t e = pos + 2 + b->len;

		if (len - pos - 2 < b->len ||
		    memcmp(d + pos + 2, w->m->arena.data + b->off, b->len))
			continue;
		h->at = pos;
		h->which = i;
		h->close = len - e >= 2 && d[e] == '-' && d[e + 1] == '-';
		h->after = next_line(d, len, pos);
		return true;
	}
	return false;
}

/* The first boundary line at or after the line start pos. */
static struct hit
scan(const struct walk *w, size_t pos)
{
	struct hit h;

	while (pos < w->m->len) {
		if (boundary_at(w, pos, &h))
			return h;
		pos = next_line(w->m->data, w->m->len, pos);
	}
	h.at = h.after = w->m->len;
	h.which = NONE;
	h.close = false;
	return h;
}

static struct mime_str
arena_add(struct walk *w, const char *p, size_t n)
{
	struct mime_str s = { w->m->arena.len, n };

	if (buf_append(&w->m->arena, p, n) < 0) {
		w->oom = true;
		s.len = NONE;
	}
	return s;
}

static const struct mime_str ABSENT = { 0, NONE };

const char *
mime_str_ptr(const struct mime_msg *m, struct mime_str s)
{
	if (s.len == NONE)
		return NULL;
	return m->arena.data ? m->arena.data + s.off : "";
}

/* A field's value unfolded into out: the line ends of folding dropped,
 * leading and trailing WSP trimmed. */
static int
unfold(const char *v, size_t n, struct buf *out)
{
	size_t i, start = 0, end = n;

	while (start < end && is_wsp(v[start]))
		start++;
	while (end > start && (is_wsp(v[end - 1]) || v[end - 1] == '\r' ||
	    v[end - 1] == '\n'))
		end--;
	buf_reset(out);
	for (i = start; i < end; i++) {
		if (v[i] == '\r' && i + 1 < end && v[i + 1] == '\n')
			continue;
		if (v[i] == '\n')
			continue;
		if (buf_append_char(out, v[i]) < 0)
			return -1;
	}
	return 0;
}

/*
 * The header field at the line start pos of [pos, end): its name
 * [pos, pos + *nlen), its raw value [*vstart, *vend) with the folding
 * line ends in it. Returns the start of the next line after the field.
 * *nlen is 0 for a line that is no field (no name and colon).
 */
static size_t
field_at(const char *d, size_t end, size_t pos, size_t *nlen,
    size_t *vstart, size_t *vend)
{
	size_t i = pos, next;

	while (i < end && (unsigned char)d[i] > 32 && (unsigned char)d[i] < 127 &&
	    d[i] != ':')
		i++;
	*nlen = i - pos;
	while (i < end && is_wsp(d[i]))
		i++;
	if (i >= end || d[i] != ':' || *nlen == 0)
		*nlen = 0;
	else
		i++;
	*vstart = i;
	next = next_line(d, end, pos);
	while (next < end && is_wsp(d[next]))
		next = next_line(d, end, next);
	*vend = next;
	return next;
}

static bool
is_empty_line(const char *d, size_t len, size_t pos)
{
	return pos < len && (d[pos] == '\n' ||
	    (d[pos] == '\r' && pos + 1 < len && d[pos + 1] == '\n'));
}

/* RFC 2045 §5.1 token characters. */
static bool
is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool
is_token(char c)
{
	return (unsigned char)c > 32 && (unsigned char)c < 127 && !is_tspecial(c);
}

/* Skips WSP and comments (nested, with quoted pairs). */
static size_t
skip_cfws(const char *v, size_t n, size_t i)
{
	for (;;) {
		while (i < n && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
			i++;
		if (i >= n || v[i] != '(')
			return i;
		{
			unsigned depth = 0;

			for (; i < n; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		}
	}
}

static size_t
token(const char *v, size_t n, size_t i)
{
	while (i < n && is_token(v[i]))
		i++;
	return i;
}

/*
 * The parameters of a Content-Type or Content-Disposition value from i:
 * ;name=value pairs, value a token or a quoted string (unquoted here).
 * A pair that cannot be read ends the list, as in Dovecot: what came
 * before it is kept. Returns the number added to m->params.
 */
static size_t
parse_params(struct walk *w, const char *v, size_t n, size_t i,
    struct buf *tmp)
{
	size_t count = 0;

	for (;;) {
		size_t ns, ne;
		struct mime_param *p;

		i = skip_cfws(v, n, i);
		if (i >= n || v[i] != ';')
			break;
		i = skip_cfws(v, n, i + 1);
		ns = i;
		ne = i = token(v, n, i);
		if (ne == ns)
			break;
		i = skip_cfws(v, n, i);
		if (i >= n || v[i] != '=')
			break;
		i = skip_cfws(v, n, i + 1);
		buf_reset(tmp);
		if (i < n && v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				if (buf_append_char(tmp, v[i]) < 0)
					return w->oom = true, count;
			}
			if (i < n)
				i++;
		} else {
			size_t vs = i;

			i = token(v, n, i);
			if (buf_append(tmp, v + vs, i - vs) < 0)
				return w->oom = true, count;
		}
		if (w->m->nparams == w->m->pcap) {
			size_t cap = w->m->pcap ? w->m->pcap * 2 : 16;
			struct mime_param *np = reallocarray(w->m->params, cap,
			    sizeof(*np));

			if (np == NULL)
				return w->oom = true, count;
			w->m->params = np;
			w->m->pcap = cap;
		}
		p = &w->m->params[w->m->nparams++];
		p->name = arena_add(w, v + ns, ne - ns);
		p->value = arena_add(w, tmp->data ? tmp->data : "", tmp->len);
		count++;
	}
	return count;
}

/* name*N or name*N*: the base length and N, or false. */
static bool
section_of(const char *nm, size_t len, size_t *base, unsigned long *num,
    bool *ext)
{
	const char *star = memchr(nm, '*', len);
	size_t i;
	unsigned long v = 0;

	if (star == NULL || star == nm)
		return false;
	i = (size_t)(star - nm) + 1;
	if (i >= len || nm[i] < '0' || nm[i] > '9')
		return false;
	for (; i < len && nm[i] >= '0' && nm[i] <= '9'; i++) {
		if (v > 100000)
			return false;
		v = v * 10 + (unsigned long)(nm[i] - '0');
	}
	*ext = i + 1 == len && nm[i] == '*';
	if (i != len && !*ext)
		return false;
	*base = (size_t)(star - nm);
	*num = v;
	return true;
}

/*
 * RFC 2231 §3 continuations: name*0, name*1, ... joined into one "name"
 * (or "name*" when the first section is extended, its value left
 * encoded, as Dovecot shows it). Sections without a *0 stay as they are.
 * Returns the new count of the params from first.
 */
static size_t
join_sections(struct walk *w, size_t first, size_t count, struct buf *tmp)
{
	struct mime_param *ps, *joined;
	size_t i, j, out = 0, njoined = 0;

	if (count == 0)
		return 0;
	ps = w->m->params + first;
	joined = calloc(count, sizeof(*joined));
	if (joined == NULL) {
		w->oom = true;
		return 0;
	}

	for (i = 0; i < count; i++) {
		const char *nm = mime_str_ptr(w->m, ps[i].name);
		size_t base, blen;
		unsigned long num, want;
		bool ext, ext0;
		size_t joined_at = NONE;

		if (ps[i].name.len == NONE)
			continue;   /* joined into an earlier one */
		if (section_of(nm, ps[i].name.len, &base, &num, &ext0) &&
		    num == 0) {
			struct mime_str name0 = ps[i].name;

			buf_reset(tmp);
			for (want = 0;; want++) {
				for (j = i; j < count; j++) {
					const char *mj = mime_str_ptr(w->m, ps[j].name);

					if (ps[j].name.len != NONE &&
					    section_of(mj, ps[j].name.len, &blen, &num,
					    &ext) && blen == base && num == want &&
					    strncasecmp(mj, mime_str_ptr(w->m, name0),
					    base) == 0)
						break;
				}
				if (j == count)
					break;
				if (buf_append(tmp, mime_str_ptr(w->m, ps[j].value),
				    ps[j].value.len) < 0) {
					w->oom = true;
					free(joined);
					return 0;
				}
				if (j != i)
					ps[j].name.len = NONE;
			}
			ps[i].value = arena_add(w, tmp->data ? tmp->data : "",
			    tmp->len);
			/* the name: the base, and its star when extended */
			ps[i].name.len = base + (ext0 ? 1 : 0);
			if (ext0) {
				struct buf nb = BUF_INIT;

				if (buf_append(&nb, mime_str_ptr(w->m, name0), base) < 0 ||
				    buf_append_char(&nb, '*') < 0)
					w->oom = true;
				else
					ps[i].name = arena_add(w, nb.data, nb.len);
				buf_release(&nb);
			}
			joined_at = i;
		}
		if (joined_at != NONE && i == joined_at)
			joined[njoined++] = ps[i];
		else
			ps[out++] = ps[i];
	}
	/* Dovecot lists the joined ones after the others. */
	for (j = 0; j < njoined; j++)
		ps[out++] = joined[j];
	free(joined);
	w->m->nparams = first + out;
	return out;
}

static bool
str_is(const struct mime_msg *m, struct mime_str s, const char *lit)
{
	return s.len == strlen(lit) &&
	    strncasecmp(mime_str_ptr(m, s), lit, s.len) == 0;
}

static void
content_type(struct walk *w, size_t pi, const char *v, size_t n,
    struct buf *tmp)
{
	struct mime_part *p = &w->m->parts[pi];
	size_t i = skip_cfws(v, n, 0), ts, te, ss, se;

	ts = i;
	te = i = token(v, n, i);
	i = skip_cfws(v, n, i);
	if (te == ts || i >= n || v[i] != '/')
		return;   /* invalid: the default stands (RFC 2045 §5.2) */
	ss = i = skip_cfws(v, n, i + 1);
	se = i = token(v, n, i);
	if (se == ss)
		return;
	p->type = arena_add(w, v + ts, te - ts);
	p->subtype = arena_add(w, v + ss, se - ss);
	p->params_first = w->m->nparams;
	p->nparams = parse_params(w, v, n, i, tmp);
	p->nparams = join_sections(w, p->params_first, p->nparams, tmp);
}

static void
disposition(struct walk *w, size_t pi, const char *v, size_t n,
    struct buf *tmp)
{
	struct mime_part *p = &w->m->parts[pi];
	size_t i = skip_cfws(v, n, 0), ts = i;

	i = token(v, n, i);
	if (i == ts)
		return;
	p->disposition = arena_add(w, v + ts, i - ts);
	p->dparams_first = w->m->nparams;
	p->ndparams = parse_params(w, v, n, i, tmp);
	p->ndparams = join_sections(w, p->dparams_first, p->ndparams, tmp);
}

/* A token value (Content-Transfer-Encoding): the token, no comments. */
static struct mime_str
token_value(struct walk *w, const char *v, size_t n)
{
	size_t i = skip_cfws(v, n, 0), s = i;

	i = token(v, n, i);
	return i == s ? ABSENT : arena_add(w, v + s, i - s);
}

static bool
named(const char *d, size_t nlen, const char *name)
{
	return nlen == strlen(name) && strncasecmp(d, name, nlen) == 0;
}

static void
header_field(struct walk *w, size_t pi, const char *name, size_t nlen,
    const char *v, size_t n, struct buf *val, struct buf *tmp)
{
	struct mime_part *p;

	if (nlen < 8 || strncasecmp(name, "content-", 8) != 0)
		return;
	if (unfold(v, n, val) < 0) {
		w->oom = true;
		return;
	}
	v = val->data ? val->data : "";
	n = val->len;
	name += 8;
	nlen -= 8;
	p = &w->m->parts[pi];
	/* The first of each field counts, as Dovecot reads them. */
	if (named(name, nlen, "type") && p->nparams == NONE)
		content_type(w, pi, v, n, tmp);
	else if (named(name, nlen, "transfer-encoding") && p->encoding.len == NONE)
		p->encoding = token_value(w, v, n);
	else if (named(name, nlen, "id") && p->id.len == NONE)
		p->id = arena_add(w, v, n);
	else if (named(name, nlen, "description") && p->description.len == NONE)
		p->description = arena_add(w, v, n);
	else if (named(name, nlen, "disposition") && p->disposition.len == NONE)
		disposition(w, pi, v, n, tmp);
	else if (named(name, nlen, "language") && p->language.len == NONE)
		p->language = arena_add(w, v, n);
	else if (named(name, nlen, "location") && p->location.len == NONE)
		p->location = arena_add(w, v, n);
	else if (named(name, nlen, "md5") && p->md5.len == NONE)
		p->md5 = arena_add(w, v, n);
}

static uint64_t
vsize(const char *d, size_t s, size_t e)
{
	uint64_t v = e - s;
	size_t i;

	for (i = s; i < e; i++)
		if (d[i] == '\n' && (i == s || d[i - 1] != '\r'))
			v++;
	return v;
}

static size_t
new_part(struct walk *w, size_t parent)
{
	struct mime_msg *m = w->m;
	struct mime_part *p;

	if (m->nparts == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct mime_part *np = reallocarray(m->parts, cap, sizeof(*np));

		if (np == NULL) {
			w->oom = true;
			return NONE;
		}
		m->parts = np;
		m->cap = cap;
	}
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->type = p->subtype = ABSENT;
	p->id = p->description = p->encoding = p->md5 = ABSENT;
	p->language = p->location = p->disposition = ABSENT;
	p->nparams = NONE;   /* until a Content-Type is read: see below */
	p->parent = parent;
	p->first_child = p->next = NONE;
	if (parent != NONE) {
		struct mime_part *pp = &m->parts[parent];

		if (pp->first_child == NONE)
			pp->first_child = m->nparts;
		else {
			size_t c = pp->first_child;

			while (m->parts[c].next != NONE)
				c = m->parts[c].next;
			m->parts[c].next = m->nparts;
		}
		pp->nchildren++;
	}
	return m->nparts++;
}

/* The body ends before the line end that belongs to the boundary line. */
static size_t
body_end_before(const char *d, size_t body_start, const struct hit *h)
{
	size_t e = h->at;

	if (h->which == NONE)
		return e;
	if (e > body_start && d[e - 1] == '\n')
		e--;
	if (e > body_start && d[e - 1] == '\r')
		e--;
	return e;
}

static void
set_type(struct walk *w, size_t pi, const char *t, const char *s)
{
	w->m->parts[pi].type = arena_add(w, t, strlen(t));
	w->m->parts[pi].subtype = arena_add(w, s, strlen(s));
	w->m->parts[pi].params_first = w->m->nparams;
	w->m->parts[pi].nparams = 0;
}

static struct mime_str
param(const struct mime_msg *m, size_t first, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (str_is(m, m->params[first + i].name, name))
			return m->params[first + i].value;
	return ABSENT;
}

/* The sizes of a part from its offsets. Dovecot counts LFs: a last line
 * without one is not counted. */
static void
sizes(const char *d, struct mime_part *p)
{
	size_t i;
	uint64_t lines = 0;

	for (i = p->body_start; i < p->body_end; i++)
		lines += d[i] == '\n';
	p->body_lines = lines;
	p->hdr_vsize = vsize(d, p->hdr_start, p->hdr_end);
	p->body_vsize = vsize(d, p->body_start, p->body_end);
}

/*
 * A part's line end just before a boundary is the boundary's, so a part
 * can end an octet or two before what is inside it: an enclosed message
 * whose header's empty line is the last line before the boundary. What
 * is inside is cut back to its container's end (parents come first in
 * the array).
 */
static void
clamp_to_parents(struct mime_msg *m)
{
	size_t i;

	for (i = 1; i < m->nparts; i++) {
		struct mime_part *p = &m->parts[i];
		size_t end = m->parts[p->parent].body_end;
		size_t *o[4] = { &p->hdr_start, &p->hdr_end, &p->body_start,
		    &p->body_end };
		bool cut = false;
		size_t k;

		for (k = 0; k < 4; k++)
			if (*o[k] > end) {
				*o[k] = end;
				cut = true;
			}
		if (cut)
			sizes(m->data, p);
	}
}

/*
 * One part from its header's start pos: returns what ended it. in_digest:
 * the parent is a multipart/digest, whose parts default to message/rfc822
 * (RFC 2046 §5.1.5).
 */
static struct hit
entity(struct walk *w, size_t pi, size_t pos, unsigned depth, bool in_digest,
    struct buf *val, struct buf *tmp)
{
	struct mime_msg *m = w->m;
	const char *d = m->data;
	struct mime_part *p;
	struct hit h;
	bool ended = false;
	struct mime_str bstr = ABSENT;

	m->parts[pi].hdr_start = pos;
	while (pos < m->len) {
		size_t nlen, vs, ve, next;

		if (boundary_at(w, pos, &h)) {
			ended = true;
			break;
		}
		if (is_empty_line(d, m->len, pos)) {
			pos = next_line(d, m->len, pos);
			break;
		}
		next = field_at(d, m->len, pos, &nlen, &vs, &ve);
		if (nlen)
			header_field(w, pi, d + pos, nlen, d + vs, ve - vs, val, tmp);
		pos = next;
	}
	p = &m->parts[pi];
	/* A boundary inside the header ends it, and the line end before
	 * the boundary is the boundary's, as after a body. */
	if (ended)
		pos = body_end_before(d, p->hdr_start, &h);
	p->hdr_end = p->body_start = pos;
	if (p->nparams == NONE) {
		if (in_digest)
			set_type(w, pi, "message", "rfc822");
		else
			set_type(w, pi, "text", "plain");
	}
	if (w->oom)
		return scan(w, m->len);
	p = &m->parts[pi];

	if (str_is(m, p->type, "multipart"))
		bstr = param(m, p->params_first, p->nparams, "boundary");
	if (ended) {
		/* A boundary inside the header: no body. */
	} else if (depth >= w->lim->max_depth || m->nparts >= w->lim->max_parts) {
		if (bstr.len != NONE || str_is(m, p->type, "message")) {
			/* Past the limits: the rest is opaque. */
			set_type(w, pi, "application", "octet-stream");
			m->truncated = true;
		}
		h = scan(w, pos);
	} else if (bstr.len != NONE && bstr.len > 0) {
		size_t own = w->nstack;
		bool digest = str_is(m, p->subtype, "digest");

		p->multipart = true;
		w->stack[w->nstack].off = bstr.off;
		w->stack[w->nstack].len = bstr.len;
		w->nstack++;
		h = scan(w, pos);   /* the preamble */
		while (h.which == own && !h.close) {
			size_t c;

			if (m->nparts >= w->lim->max_parts) {
				m->truncated = true;
				break;
			}
			c = new_part(w, pi);
			if (c == NONE)
				break;
			h = entity(w, c, h.after, depth + 1, digest, val, tmp);
			if (w->oom)
				break;
		}
		w->nstack = own;
		if (w->oom)
			return scan(w, m->len);
		if (h.which == own)
			h = scan(w, h.after);   /* the epilogue, or opaque rest */
	} else if (str_is(m, p->type, "message") &&
	    (str_is(m, p->subtype, "rfc822") || str_is(m, p->subtype, "global"))) {
		size_t c = new_part(w, pi);

		if (c == NONE)
			return scan(w, m->len);
		m->parts[pi].message = true;
		h = entity(w, c, pos, depth + 1, false, val, tmp);
		if (w->oom)
			return h;
	} else {
		h = scan(w, pos);
	}
	p = &m->parts[pi];
	p->body_end = body_end_before(d, p->body_start, &h);
	if (p->body_end < p->body_start)
		p->body_end = p->body_start;
	sizes(d, p);
	/* An enclosed message ends where its container does. */
	if (p->message && p->first_child != NONE) {
		struct mime_part *c = &m->parts[p->first_child];

		c->body_end = p->body_end;
		if (c->body_end < c->body_start)
			c->body_end = c->body_start;
		sizes(d, c);
	}
	return h;
}

int
mime_parse(struct mime_msg *m, const char *msg, size_t len,
    const struct mime_limits *lim)
{
	struct mime_limits def = MIME_LIMITS_DEFAULT;
	struct buf val = BUF_INIT, tmp = BUF_INIT;
	struct walk w;
	size_t root;

	memset(m, 0, sizeof(*m));
	m->data = msg;
	m->len = len;
	if (lim == NULL)
		lim = &def;
	memset(&w, 0, sizeof(w));
	w.m = m;
	w.lim = lim;
	w.stack = calloc((size_t)lim->max_depth + 1, sizeof(*w.stack));
	if (w.stack == NULL)
		return -1;
	root = new_part(&w, NONE);
	if (root != NONE) {
		(void)entity(&w, root, 0, 0, false, &val, &tmp);
		clamp_to_parents(m);
	}
	free(w.stack);
	buf_release(&val);
	buf_release(&tmp);
	if (w.oom) {
		mime_free(m);
		return -1;
	}
	return 0;
}

void
mime_free(struct mime_msg *m)
{
	free(m->parts);
	free(m->params);
	buf_release(&m->arena);
	m->parts = NULL;
	m->params = NULL;
	m->nparts = m->cap = m->nparams = m->pcap = 0;
}

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

		i = skip_cfws(v, n, i);
		while (i < n && v[i] == ',')
			i = skip_cfws(v, n, i + 1);
		ts = i;
		while (i < n && is_token(v[i]) && v[i] != ',')
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
	bool text = str_is(m, p->type, "text");
	bool charset = text &&
	    param(m, p->params_first, p->nparams, "charset").len == NONE;

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
	    str_is(m, p->subtype, "rfc822")) {
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
		if (is_wsp(s[i])) {
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
	size_t end = skip_cfws(v, n, i), e = end;

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
	if (colon != NONE && skip_cfws(v, n, i + 1) < n &&
	    v[skip_cfws(v, n, i + 1)] == '@') {
		for (k = i + 1; k < colon; k++)
			if (!is_wsp(v[k]) && buf_append_char(&a->route, v[k]) < 0)
				*err = -1;
		i = colon;
	}
	for (i++; i < n && v[i] != '>';) {
		if (v[i] == '"') {
			i = quoted(v, n, i, cur, NULL, err);
			continue;
		}
		if (v[i] == '(' || is_wsp(v[i])) {
			i = skip_cfws(v, n, i);
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
			i = skip_cfws(v, n, i);
			a.space = a.name.len > 0;
		} else if (is_wsp(c) || c == '\r' || c == '\n') {
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
	for (k = 0; k < E_N; k++)
		vs[k] = NONE;
	pos = m->parts[part].hdr_start;
	while (pos < m->parts[part].hdr_end &&
	    !is_empty_line(d, m->parts[part].hdr_end, pos)) {
		size_t nlen, s, e, next;

		next = field_at(d, m->parts[part].hdr_end, pos, &nlen, &s, &e);
		for (k = 0; nlen && k < E_N; k++)
			if (vs[k] == NONE && named(d + pos, nlen, env_names[k])) {
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

			while (s < e && is_wsp(d[s]))
				s++;
			while (e > s && (d[e - 1] == '\n' || d[e - 1] == '\r'))
				e--;
			rc = write_human(out, d + s, e - s);
			continue;
		}
		if ((rc = unfold(d + vs[k], ve[k] - vs[k], &val)) < 0)
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
		if (named(name, nlen, sec->fields[i]))
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
	while (pos < p->hdr_end && !is_empty_line(d, p->hdr_end, pos)) {
		size_t nlen, vs, ve, next;
		bool listed;

		next = field_at(d, p->hdr_end, pos, &nlen, &vs, &ve);
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
	if (is_empty_line(d, p->hdr_end, pos) && buf_append_str(out, "\r\n") < 0)
		return MIME_SECT_ERR;
	return MIME_SECT_BUILT;
}
