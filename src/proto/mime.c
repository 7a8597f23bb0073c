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
#include "mime_int.h"

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

bool
mime_is_wsp(char c)
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
int
mime_unfold(const char *v, size_t n, struct buf *out)
{
	size_t i, start = 0, end = n;

	while (start < end && mime_is_wsp(v[start]))
		start++;
	while (end > start && (mime_is_wsp(v[end - 1]) || v[end - 1] == '\r' ||
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
size_t
mime_field_at(const char *d, size_t end, size_t pos, size_t *nlen,
    size_t *vstart, size_t *vend)
{
	size_t i = pos, next;

	while (i < end && (unsigned char)d[i] > 32 && (unsigned char)d[i] < 127 &&
	    d[i] != ':')
		i++;
	*nlen = i - pos;
	while (i < end && mime_is_wsp(d[i]))
		i++;
	if (i >= end || d[i] != ':' || *nlen == 0)
		*nlen = 0;
	else
		i++;
	*vstart = i;
	next = next_line(d, end, pos);
	while (next < end && mime_is_wsp(d[next]))
		next = next_line(d, end, next);
	*vend = next;
	return next;
}

bool
mime_is_empty_line(const char *d, size_t len, size_t pos)
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

bool
mime_is_token(char c)
{
	return (unsigned char)c > 32 && (unsigned char)c < 127 && !is_tspecial(c);
}

/* Skips WSP and comments (nested, with quoted pairs). */
size_t
mime_skip_cfws(const char *v, size_t n, size_t i)
{
	for (;;) {
		while (i < n && (mime_is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
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
	while (i < n && mime_is_token(v[i]))
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

		i = mime_skip_cfws(v, n, i);
		if (i >= n || v[i] != ';')
			break;
		i = mime_skip_cfws(v, n, i + 1);
		ns = i;
		ne = i = token(v, n, i);
		if (ne == ns)
			break;
		i = mime_skip_cfws(v, n, i);
		if (i >= n || v[i] != '=')
			break;
		i = mime_skip_cfws(v, n, i + 1);
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

bool
mime_str_is(const struct mime_msg *m, struct mime_str s, const char *lit)
{
	return s.len == strlen(lit) &&
	    strncasecmp(mime_str_ptr(m, s), lit, s.len) == 0;
}

static void
content_type(struct walk *w, size_t pi, const char *v, size_t n,
    struct buf *tmp)
{
	struct mime_part *p = &w->m->parts[pi];
	size_t i = mime_skip_cfws(v, n, 0), ts, te, ss, se;

	ts = i;
	te = i = token(v, n, i);
	i = mime_skip_cfws(v, n, i);
	if (te == ts || i >= n || v[i] != '/')
		return;   /* invalid: the default stands (RFC 2045 §5.2) */
	ss = i = mime_skip_cfws(v, n, i + 1);
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
	size_t i = mime_skip_cfws(v, n, 0), ts = i;

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
	size_t i = mime_skip_cfws(v, n, 0), s = i;

	i = token(v, n, i);
	return i == s ? ABSENT : arena_add(w, v + s, i - s);
}

bool
mime_named(const char *d, size_t nlen, const char *name)
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
	if (mime_unfold(v, n, val) < 0) {
		w->oom = true;
		return;
	}
	v = val->data ? val->data : "";
	n = val->len;
	name += 8;
	nlen -= 8;
	p = &w->m->parts[pi];
	/* The first of each field counts, as Dovecot reads them. */
	if (mime_named(name, nlen, "type") && p->nparams == NONE)
		content_type(w, pi, v, n, tmp);
	else if (mime_named(name, nlen, "transfer-encoding") && p->encoding.len == NONE)
		p->encoding = token_value(w, v, n);
	else if (mime_named(name, nlen, "id") && p->id.len == NONE)
		p->id = arena_add(w, v, n);
	else if (mime_named(name, nlen, "description") && p->description.len == NONE)
		p->description = arena_add(w, v, n);
	else if (mime_named(name, nlen, "disposition") && p->disposition.len == NONE)
		disposition(w, pi, v, n, tmp);
	else if (mime_named(name, nlen, "language") && p->language.len == NONE)
		p->language = arena_add(w, v, n);
	else if (mime_named(name, nlen, "location") && p->location.len == NONE)
		p->location = arena_add(w, v, n);
	else if (mime_named(name, nlen, "md5") && p->md5.len == NONE)
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

struct mime_str
mime_param(const struct mime_msg *m, size_t first, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (mime_str_is(m, m->params[first + i].name, name))
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
		if (mime_is_empty_line(d, m->len, pos)) {
			pos = next_line(d, m->len, pos);
			break;
		}
		next = mime_field_at(d, m->len, pos, &nlen, &vs, &ve);
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

	if (mime_str_is(m, p->type, "multipart"))
		bstr = mime_param(m, p->params_first, p->nparams, "boundary");
	if (ended) {
		/* A boundary inside the header: no body. */
	} else if (depth >= w->lim->max_depth || m->nparts >= w->lim->max_parts) {
		if (bstr.len != NONE || mime_str_is(m, p->type, "message")) {
			/* Past the limits: the rest is opaque. */
			set_type(w, pi, "application", "octet-stream");
			m->truncated = true;
		}
		h = scan(w, pos);
	} else if (bstr.len != NONE && bstr.len > 0) {
		size_t own = w->nstack;
		bool digest = mime_str_is(m, p->subtype, "digest");

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
	} else if (mime_str_is(m, p->type, "message") &&
	    (mime_str_is(m, p->subtype, "rfc822") || mime_str_is(m, p->subtype, "global"))) {
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
