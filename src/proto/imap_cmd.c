/*
 * imap_cmd: tokenize an IMAP command into a tree, then read each
 * command's arguments from it.
 *
 * RFC 9051 §9 (and RFC 3501 §9): tag SP command [SP arguments]. Arguments
 * are atoms, quoted strings (only \" and \\ escaped), literals
 * ({n}, {n+} of RFC 7888, ~{n} of RFC 3516) and parenthesized lists.
 * FETCH's BODY[section]<partial> keeps its brackets (which may hold a
 * header list with spaces) in one atom, as Dovecot's parser does.
 * More than one SP between arguments and trailing SPs are taken: some
 * clients send them, and nothing else could be meant.
 */
#include "imap_cmd.h"

#include <stdlib.h>
#include <string.h>

#include "imap_mutf7.h"

/* One malloc'd block per allocation, chained so imap_cmd_free can walk
 * them; a command makes a few dozen at most. */
struct block {
	struct block *next;
	max_align_t data[];
};

struct parser {
	const char *s, *end;   /* the whole command */
	const char *p;
	const char *line;      /* where the current line began */
	const struct imap_cmd_limits *lim;
	struct imap_cmd *c;
	struct imap_node *nodes;
	size_t nnodes, cap;
};

static void *
alloc(struct imap_cmd *c, size_t n)
{
	struct block *b;

	if (n > SIZE_MAX - sizeof(*b))
		return NULL;
	if ((b = calloc(1, sizeof(*b) + n)) == NULL)
		return NULL;
	b->next = c->arena_;
	c->arena_ = b;
	return b->data;
}

/* Allocation failure is reported as E_TOO_MANY: the limits should keep
 * it from happening, and the session answers BAD either way. */
static void *
alloc_n(struct imap_cmd *c, size_t n, size_t size)
{
	if (n != 0 && size > SIZE_MAX / n)
		return NULL;
	n *= size;
	return alloc(c, n > 0 ? n : 1);
}

void
imap_cmd_free(struct imap_cmd *c)
{
	struct block *b = c->arena_, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	c->arena_ = NULL;
}

bool
imap_cmd_err_is_no(enum imap_cmd_err e)
{
	return e == IMAP_CMD_E_LITERAL_TOO_BIG || e == IMAP_CMD_E_MAILBOX;
}

void
imap_cmd_limits_default(struct imap_cmd_limits *lim)
{
	lim->max_line = 8192;
	lim->max_command = 64u << 20;
	lim->max_literal = 64u << 20;
	lim->max_nonsync = UINT64_MAX;
	lim->max_depth = 16;
	lim->max_nodes = 100000;
	lim->max_ranges = 100000;
	lim->utf8 = false;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool
ieq(const struct imap_str *s, const char *kw)
{
	size_t i, n = strlen(kw);

	if (s->len != n)
		return false;
	for (i = 0; i < n; i++)
		if (upper(s->p[i]) != kw[i])
			return false;
	return true;
}

/* Does s start with kw (any case)? */
static bool
iprefix(const char *s, size_t len, const char *kw)
{
	size_t i, n = strlen(kw);

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
		if (upper(s[i]) != kw[i])
			return false;
	return true;
}

/* ATOM-CHAR plus what astrings, list patterns, flags and sequence sets
 * add ("]", "%", "*", "\"); '[' is handled by the caller. */
static bool
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool
is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\'
	    && c != '[';
}

bool
imap_cmd_tag(const char *line, size_t len, const char **tag, size_t *taglen)
{
	size_t i;

	for (i = 0; i < len && is_tag_char((unsigned char)line[i]); i++)
		;
	if (i == 0 || i == len || line[i] != ' ')
		return false;
	*tag = line;
	*taglen = i;
	return true;
}

bool
imap_cmd_is_done(const char *line, size_t len)
{
	return len == 4 && iprefix(line, len, "DONE");
}

static bool
parse_u64(const char *p, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return false;
		if (n > (max - (uint64_t)(p[i] - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	*v = n;
	return true;
}

enum imap_cmd_err
imap_cmd_literal(const char *line, size_t len, size_t so_far,
    const struct imap_cmd_limits *lim, struct imap_literal *out)
{
	bool quoted = false;
	size_t i, open, close;
	uint64_t n;

	memset(out, 0, sizeof(*out));
	if (len > lim->max_line)
		return IMAP_CMD_E_TOO_LONG;
	/* A quoted string cannot span lines, so each line starts outside one. */
	for (i = 0; i < len; i++) {
		if (quoted && line[i] == '\\' && i + 1 < len)
			i++;
		else if (line[i] == '"')
			quoted = !quoted;
	}
	if (quoted || len < 3 || line[len - 1] != '}')
		return IMAP_CMD_OK;
	close = len - 1;
	for (open = close; open > 0 && line[open - 1] != '{'; open--)
		;
	if (open == 0)
		return IMAP_CMD_OK;
	open--;
	i = close;
	if (line[i - 1] == '+')
		i--;
	if (!parse_u64(&line[open + 1], i - open - 1, UINT64_MAX, &n))
		return IMAP_CMD_OK;
	bool sync = i == close, lit8 = false;

	if (open > 0 && line[open - 1] == '~') {
		lit8 = true;
		open--;
	}
	if (open > 0 && line[open - 1] != ' ' && line[open - 1] != '(')
		return IMAP_CMD_OK;
	out->present = true;
	out->sync = sync;
	out->literal8 = lit8;
	out->size = n;
	if (n > lim->max_literal || (!out->sync && n > lim->max_nonsync))
		return IMAP_CMD_E_LITERAL_TOO_BIG;
	if (so_far > lim->max_command || len + 2 > lim->max_command - so_far ||
	    n > lim->max_command - so_far - len - 2)
		return IMAP_CMD_E_TOO_LONG;
	return IMAP_CMD_OK;
}

/* ---- the tree ---- */

static enum imap_cmd_err
new_node(struct parser *ps, enum imap_node_type t, size_t *idx)
{
	if (ps->nnodes == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct imap_node *n;

		if (ps->nnodes >= ps->lim->max_nodes)
			return IMAP_CMD_E_TOO_MANY;
		if (cap > ps->lim->max_nodes)
			cap = ps->lim->max_nodes;
		if ((n = alloc_n(ps->c, cap, sizeof(*n))) == NULL)
			return IMAP_CMD_E_TOO_MANY;
		if (ps->nnodes)
			memcpy(n, ps->nodes, ps->nnodes * sizeof(*n));
		ps->nodes = n;   /* the old block stays in the arena until free */
		ps->cap = cap;
	}
	*idx = ps->nnodes++;
	memset(&ps->nodes[*idx], 0, sizeof(ps->nodes[*idx]));
	ps->nodes[*idx].type = t;
	ps->nodes[*idx].child = IMAP_NODE_NONE;
	ps->nodes[*idx].next = IMAP_NODE_NONE;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
bad_octet(unsigned char c)
{
	return c >= 0x80 ? IMAP_CMD_E_8BIT : IMAP_CMD_E_BAD_CHAR;
}

static enum imap_cmd_err
read_quoted(struct parser *ps, size_t idx)
{
	const char *start = ++ps->p;
	char *out;
	size_t n = 0;

	/* first pass: find the end */
	for (; ps->p < ps->end && *ps->p != '"'; ps->p++) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\\') {
			if (ps->p + 1 == ps->end ||
			    (ps->p[1] != '\\' && ps->p[1] != '"'))
				return IMAP_CMD_E_SYNTAX;
			ps->p++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return IMAP_CMD_E_BAD_CHAR;
		}
		n++;
	}
	if (ps->p == ps->end)
		return IMAP_CMD_E_SYNTAX;
	if ((out = alloc(ps->c, n + 1)) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (n = 0; start < ps->p; start++) {
		if (*start == '\\')
			start++;
		out[n++] = *start;
	}
	ps->p++;
	ps->nodes[idx].s.p = out;
	ps->nodes[idx].s.len = n;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
read_literal(struct parser *ps, size_t idx)
{
	struct imap_node *nd = &ps->nodes[idx];
	const char *d;
	uint64_t n;

	if (*ps->p == '~') {
		nd->literal8 = true;
		ps->p++;
	}
	if (ps->p == ps->end || *ps->p != '{')
		return IMAP_CMD_E_SYNTAX;
	d = ++ps->p;
	while (ps->p < ps->end && is_digit(*ps->p))
		ps->p++;
	if (!parse_u64(d, (size_t)(ps->p - d), UINT64_MAX, &n))
		return IMAP_CMD_E_SYNTAX;
	if (ps->p < ps->end && *ps->p == '+') {
		nd->nonsync = true;
		ps->p++;
	}
	if (ps->end - ps->p < 3 || memcmp(ps->p, "}\r\n", 3) != 0)
		return IMAP_CMD_E_SYNTAX;
	ps->p += 3;
	if ((size_t)(ps->p - 3 - ps->line) > ps->lim->max_line)
		return IMAP_CMD_E_TOO_LONG;
	if (n > ps->lim->max_literal || (nd->nonsync && n > ps->lim->max_nonsync))
		return IMAP_CMD_E_LITERAL_TOO_BIG;
	if (n > (uint64_t)(ps->end - ps->p))
		return IMAP_CMD_E_SYNTAX;
	nd->s.p = ps->p;
	nd->s.len = (size_t)n;
	ps->p += n;
	ps->line = ps->p;
	return IMAP_CMD_OK;
}

/* An atom; a '[' starts a section that runs to its ']' (spaces, a
 * parenthesized header list and quoted names allowed inside). */
static enum imap_cmd_err
read_atom(struct parser *ps, size_t idx)
{
	const char *start = ps->p;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '[') {
			bool q = false;

			for (ps->p++; ps->p < ps->end; ps->p++) {
				c = (unsigned char)*ps->p;
				if (q && c == '\\' && ps->p + 1 < ps->end)
					ps->p++;
				else if (c == '"')
					q = !q;
				else if (!q && c == ']')
					break;
				else if (c < 0x20 || c >= 0x7f)
					return bad_octet(c);
			}
			if (ps->p == ps->end)
				return IMAP_CMD_E_SYNTAX;
			ps->p++;
			continue;
		}
		if (c == ' ' || c == ')')
			break;
		if (!is_atom_char(c))
			return c == '(' || c == '{' || c == '"' ?
			    IMAP_CMD_E_SYNTAX : bad_octet(c);
		ps->p++;
	}
	ps->nodes[idx].s.p = start;
	ps->nodes[idx].s.len = (size_t)(ps->p - start);
	return IMAP_CMD_OK;
}

/* Arguments up to ')' (depth > 0) or the end, as siblings. */
static enum imap_cmd_err
read_args(struct parser *ps, unsigned depth, size_t *first, size_t *count)
{
	size_t prev = IMAP_NODE_NONE, idx;
	enum imap_cmd_err e;

	*first = IMAP_NODE_NONE;
	*count = 0;
	for (;;) {
		while (ps->p < ps->end && *ps->p == ' ')
			ps->p++;
		if (ps->p == ps->end)
			return depth ? IMAP_CMD_E_SYNTAX : IMAP_CMD_OK;
		if (*ps->p == ')') {
			if (!depth)
				return IMAP_CMD_E_SYNTAX;
			ps->p++;
			return IMAP_CMD_OK;
		}
		if (*ps->p == '(') {
			if (depth >= ps->lim->max_depth)
				return IMAP_CMD_E_DEPTH;
			if ((e = new_node(ps, IMAP_NODE_LIST, &idx)) != IMAP_CMD_OK)
				return e;
			ps->p++;
			size_t ch, cnt;

			if ((e = read_args(ps, depth + 1, &ch, &cnt)) != IMAP_CMD_OK)
				return e;
			ps->nodes[idx].child = ch;
			ps->nodes[idx].count = cnt;
		} else if (*ps->p == '"') {
			if ((e = new_node(ps, IMAP_NODE_QUOTED, &idx)) != IMAP_CMD_OK ||
			    (e = read_quoted(ps, idx)) != IMAP_CMD_OK)
				return e;
		} else if (*ps->p == '{' || (*ps->p == '~' && ps->p + 1 < ps->end &&
		    ps->p[1] == '{')) {
			if ((e = new_node(ps, IMAP_NODE_LITERAL, &idx)) != IMAP_CMD_OK ||
			    (e = read_literal(ps, idx)) != IMAP_CMD_OK)
				return e;
		} else {
			if ((e = new_node(ps, IMAP_NODE_ATOM, &idx)) != IMAP_CMD_OK ||
			    (e = read_atom(ps, idx)) != IMAP_CMD_OK)
				return e;
		}
		if (prev == IMAP_NODE_NONE)
			*first = idx;
		else
			ps->nodes[prev].next = idx;
		prev = idx;
		(*count)++;
		/* After an argument: a space, ')' or the end. */
		if (ps->p < ps->end && *ps->p != ' ' && *ps->p != ')')
			return *ps->p == '\r' || *ps->p == '\n' || *ps->p == '\0' ?
			    IMAP_CMD_E_BAD_CHAR : IMAP_CMD_E_SYNTAX;
	}
}

/* ---- typed arguments ---- */

static const struct imap_node *
node(const struct parser *ps, size_t idx)
{
	return idx == IMAP_NODE_NONE ? NULL : &ps->nodes[idx];
}

static const struct imap_node *
next(const struct parser *ps, const struct imap_node *n)
{
	return n == NULL ? NULL : node(ps, n->next);
}

static bool
is_atom(const struct imap_node *n, const char *kw)
{
	return n != NULL && n->type == IMAP_NODE_ATOM && ieq(&n->s, kw);
}

/* astring: an atom, a quoted string or a (non-binary) literal. */
static bool
astring(const struct imap_node *n, struct imap_str *out)
{
	if (n == NULL || n->type == IMAP_NODE_LIST || n->literal8)
		return false;
	*out = n->s;
	return n->type != IMAP_NODE_ATOM || n->s.len > 0;
}

/* nz-number (RFC 9051 §9): no leading zero, fits 32 bits. */
static bool
nz_number(const char *p, size_t len, uint32_t *v)
{
	uint64_t n;

	if (len == 0 || p[0] == '0' || !parse_u64(p, len, UINT32_MAX, &n))
		return false;
	*v = (uint32_t)n;
	return true;
}

static bool
number_node(const struct imap_node *n, uint64_t max, uint64_t *v)
{
	return n != NULL && n->type == IMAP_NODE_ATOM &&
	    parse_u64(n->s.p, n->s.len, max, v);
}

/* mod-sequence-value (RFC 7162 §7): 1..2^63-1; 0 where valzer is allowed. */
#define MODSEQ_MAX ((uint64_t)INT64_MAX)

static enum imap_cmd_err
mailbox(struct parser *ps, const struct imap_node *n, struct imap_str *out)
{
	struct imap_str raw;
	size_t cap, len, i;
	char *buf;

	if (!astring(n, &raw))
		return IMAP_CMD_E_SYNTAX;
	if (ieq(&raw, "INBOX")) {
		out->p = "INBOX";
		out->len = 5;
		return IMAP_CMD_OK;
	}
	for (i = 0; i < raw.len; i++)
		if ((unsigned char)raw.p[i] < 0x20 || raw.p[i] == 0x7f)
			return IMAP_CMD_E_MAILBOX;
	if (ps->lim->utf8) {
		/* Checked as strict UTF-8 by encoding it. */
		cap = IMAP_MUTF7_ENCODED_MAX(raw.len);
		if ((buf = alloc(ps->c, cap + 1)) == NULL)
			return IMAP_CMD_E_TOO_MANY;
		if (imap_mutf7_encode(raw.p, raw.len, buf, cap, &len) != IMAP_MUTF7_OK)
			return IMAP_CMD_E_MAILBOX;
		memcpy(buf, raw.p, raw.len);
		buf[raw.len] = '\0';
		out->p = buf;
		out->len = raw.len;
		return IMAP_CMD_OK;
	}
	cap = IMAP_MUTF7_DECODED_MAX(raw.len);
	if ((buf = alloc(ps->c, cap + 1)) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	if (imap_mutf7_decode(raw.p, raw.len, buf, cap, &len) != IMAP_MUTF7_OK)
		return IMAP_CMD_E_MAILBOX;
	buf[len] = '\0';
	out->p = buf;
	out->len = len;
	return IMAP_CMD_OK;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

static bool
seq_number(const char *p, size_t len, uint32_t *v)
{
	if (len == 1 && p[0] == '*') {
		*v = IMAP_SEQ_STAR;
		return true;
	}
	return nz_number(p, len, v);
}

static enum imap_cmd_err
seqset(struct parser *ps, const struct imap_node *n, struct imap_seqset *out)
{
	struct imap_range *r;
	size_t count = 1, i, k, m;
	const char *p, *e, *colon;

	memset(out, 0, sizeof(*out));
	if (n == NULL || n->type != IMAP_NODE_ATOM || n->s.len == 0)
		return IMAP_CMD_E_SEQSET;
	if (n->s.len == 1 && n->s.p[0] == '$') {
		out->saved = true;
		return IMAP_CMD_OK;
	}
	for (i = 0; i < n->s.len; i++)
		if (n->s.p[i] == ',')
			count++;
	if (count > ps->lim->max_ranges)
		return IMAP_CMD_E_TOO_MANY;
	if ((r = alloc_n(ps->c, count, sizeof(*r))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	p = n->s.p;
	for (k = 0; k < count; k++) {
		uint32_t a, b;

		e = memchr(p, ',', (size_t)(n->s.p + n->s.len - p));
		if (e == NULL)
			e = n->s.p + n->s.len;
		colon = memchr(p, ':', (size_t)(e - p));
		if (colon == NULL) {
			if (!seq_number(p, (size_t)(e - p), &a))
				return IMAP_CMD_E_SEQSET;
			b = a;
		} else if (!seq_number(p, (size_t)(colon - p), &a) ||
		    !seq_number(colon + 1, (size_t)(e - colon - 1), &b)) {
			return IMAP_CMD_E_SEQSET;
		}
		/* RFC 9051 §9: "2:4" and "4:2" are the same. */
		r[k].lo = a < b ? a : b;
		r[k].hi = a < b ? b : a;
		p = e + 1;
	}
	qsort(r, count, sizeof(*r), range_cmp);
	for (m = 0, k = 1; k < count; k++) {
		if (r[m].hi == IMAP_SEQ_STAR || r[k].lo <= r[m].hi + 1) {
			if (r[k].hi > r[m].hi)
				r[m].hi = r[k].hi;
		} else {
			r[++m] = r[k];
		}
	}
	out->r = r;
	out->n = m + 1;
	return IMAP_CMD_OK;
}

static const struct {
	const char *name;
	unsigned bit;
} sysflags[] = {
	{ "\\SEEN", IMAP_FLAG_SEEN }, { "\\ANSWERED", IMAP_FLAG_ANSWERED },
	{ "\\FLAGGED", IMAP_FLAG_FLAGGED }, { "\\DELETED", IMAP_FLAG_DELETED },
	{ "\\DRAFT", IMAP_FLAG_DRAFT }, { "\\RECENT", IMAP_FLAG_RECENT },
};

/* flag = system flag / keyword (an atom) / "\" atom; never "\*". */
static bool
flag_ok(const struct imap_str *s)
{
	size_t i;

	if (s->len == 0)
		return false;
	for (i = s->p[0] == '\\' ? 1 : 0; i < s->len; i++) {
		char c = s->p[i];

		if (c == '%' || c == '*' || c == ']' || c == '\\' || c == '[')
			return false;
	}
	return s->p[0] != '\\' || s->len > 1;
}

/* Flags: the children of a list, or from n on its siblings (STORE's
 * form without parentheses). */
static enum imap_cmd_err
flags(struct parser *ps, const struct imap_node *n, size_t count,
    struct imap_flags *out)
{
	struct imap_str *kw;
	size_t i, k;

	memset(out, 0, sizeof(*out));
	if ((kw = alloc_n(ps->c, count, sizeof(*kw))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (i = 0; i < count; i++, n = next(ps, n)) {
		if (n == NULL || n->type != IMAP_NODE_ATOM || !flag_ok(&n->s))
			return IMAP_CMD_E_SYNTAX;
		for (k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]); k++)
			if (ieq(&n->s, sysflags[k].name))
				break;
		if (k < sizeof(sysflags) / sizeof(sysflags[0]))
			out->sys |= sysflags[k].bit;
		else
			kw[out->nkw++] = n->s;
	}
	out->kw = kw;
	return IMAP_CMD_OK;
}

/* ---- FETCH ---- */

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
} fetch_simple[] = {
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE }, { "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE }, { "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT }, { "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE }, { "UID", IMAP_FETCH_UID },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
};

/* header-list: "(" astring *(SP astring) ")", in s[0..len) with the
 * parentheses; names point into the command (quoted names may not hold
 * escapes: no header field name needs one). */
static enum imap_cmd_err
header_list(struct parser *ps, const char *s, size_t len,
    struct imap_fetch_att *a)
{
	struct imap_str *f;
	size_t i, n = 0;

	if (len < 3 || s[0] != '(' || s[len - 1] != ')')
		return IMAP_CMD_E_SYNTAX;
	if ((f = alloc_n(ps->c, len, sizeof(*f))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (i = 1; i < len - 1;) {
		size_t st;

		if (n > 0) {
			if (s[i] != ' ')
				return IMAP_CMD_E_SYNTAX;
			i++;
		}
		if (s[i] == '"') {
			st = ++i;
			while (i < len - 1 && s[i] != '"' && s[i] != '\\')
				i++;
			if (i == len - 1 || s[i] != '"')
				return IMAP_CMD_E_SYNTAX;
			f[n].p = s + st;
			f[n++].len = i++ - st;
		} else {
			st = i;
			while (i < len - 1 && s[i] != ' ' &&
			    is_atom_char((unsigned char)s[i]) && s[i] != '[' && s[i] != ']')
				i++;
			if (i == st || (i < len - 1 && s[i] != ' '))
				return IMAP_CMD_E_SYNTAX;
			f[n].p = s + st;
			f[n++].len = i - st;
		}
	}
	a->fields = f;
	a->nfields = n;
	return IMAP_CMD_OK;
}

/* section-spec between the brackets. binary: section-binary, numbers only. */
static enum imap_cmd_err
section(struct parser *ps, const char *s, size_t len, bool binary,
    struct imap_fetch_att *a)
{
	uint32_t *parts;
	size_t i = 0, st;

	if ((parts = alloc_n(ps->c, len / 2 + 1, sizeof(*parts))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	a->part = parts;
	while (i < len && is_digit(s[i])) {
		for (st = i; i < len && is_digit(s[i]); i++)
			;
		if (!nz_number(s + st, i - st, &parts[a->nparts++]))
			return IMAP_CMD_E_NUMBER;
		if (i == len)
			return IMAP_CMD_OK;
		if (s[i] != '.')
			return IMAP_CMD_E_SYNTAX;
		i++;
		if (i == len)
			return IMAP_CMD_E_SYNTAX;
	}
	if (i == len)
		return IMAP_CMD_OK;
	if (binary)
		return IMAP_CMD_E_SYNTAX;
	s += i;
	len -= i;
	if (len == 4 && iprefix(s, len, "TEXT"))
		a->text = IMAP_SEC_TEXT;
	else if (len == 6 && iprefix(s, len, "HEADER"))
		a->text = IMAP_SEC_HEADER;
	else if (len == 4 && iprefix(s, len, "MIME") && a->nparts > 0)
		a->text = IMAP_SEC_MIME;
	else if (iprefix(s, len, "HEADER.FIELDS.NOT ")) {
		a->text = IMAP_SEC_HEADER_FIELDS_NOT;
		return header_list(ps, s + 18, len - 18, a);
	} else if (iprefix(s, len, "HEADER.FIELDS ")) {
		a->text = IMAP_SEC_HEADER_FIELDS;
		return header_list(ps, s + 14, len - 14, a);
	} else
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
fetch_att(struct parser *ps, const struct imap_node *n, struct imap_fetch_att *a)
{
	const char *s, *br, *close;
	size_t len, k;
	bool binary = false;

	memset(a, 0, sizeof(*a));
	if (n == NULL || n->type != IMAP_NODE_ATOM)
		return IMAP_CMD_E_SYNTAX;
	s = n->s.p;
	len = n->s.len;
	for (k = 0; k < sizeof(fetch_simple) / sizeof(fetch_simple[0]); k++) {
		if (ieq(&n->s, fetch_simple[k].name)) {
			a->kind = fetch_simple[k].kind;
			return IMAP_CMD_OK;
		}
	}
	if ((br = memchr(s, '[', len)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	struct imap_str name = { s, (size_t)(br - s) };

	if (ieq(&name, "BODY"))
		a->kind = IMAP_FETCH_BODY_SECTION;
	else if (ieq(&name, "BODY.PEEK"))
		a->kind = IMAP_FETCH_BODY_SECTION, a->peek = true;
	else if (ieq(&name, "BINARY"))
		a->kind = IMAP_FETCH_BINARY, binary = true;
	else if (ieq(&name, "BINARY.PEEK"))
		a->kind = IMAP_FETCH_BINARY, a->peek = true, binary = true;
	else if (ieq(&name, "BINARY.SIZE"))
		a->kind = IMAP_FETCH_BINARY_SIZE, binary = true;
	else
		return IMAP_CMD_E_SYNTAX;
	/* The first ']' outside quotes, where read_atom ended the brackets. */
	bool q = false;

	for (close = br + 1; close < s + len; close++) {
		if (q && *close == '\\' && close + 1 < s + len)
			close++;
		else if (*close == '"')
			q = !q;
		else if (!q && *close == ']')
			break;
	}
	if (close == s + len)
		close = NULL;
	if (close == NULL)
		return IMAP_CMD_E_SYNTAX;
	enum imap_cmd_err e = section(ps, br + 1, (size_t)(close - br - 1), binary, a);

	if (e != IMAP_CMD_OK)
		return e;
	s = close + 1;
	len = (size_t)(n->s.p + n->s.len - s);
	if (len == 0)
		return IMAP_CMD_OK;
	/* partial = "<" number "." nz-number ">"; not for BINARY.SIZE */
	const char *dot = memchr(s, '.', len);
	uint64_t off;

	if (a->kind == IMAP_FETCH_BINARY_SIZE || s[0] != '<' || s[len - 1] != '>' ||
	    dot == NULL || !parse_u64(s + 1, (size_t)(dot - s - 1), UINT32_MAX, &off) ||
	    !nz_number(dot + 1, (size_t)(s + len - 1 - dot - 1), &a->count))
		return IMAP_CMD_E_SYNTAX;
	a->partial = true;
	a->offset = (uint32_t)off;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
add_att(struct imap_fetch_att *att, size_t *n, enum imap_fetch_kind k)
{
	memset(&att[*n], 0, sizeof(att[*n]));
	att[(*n)++].kind = k;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
fetch_items(struct parser *ps, const struct imap_node *n)
{
	struct imap_fetch_att *att;
	const struct imap_node *it;
	size_t count, i;
	enum imap_cmd_err e;

	if (n == NULL)
		return IMAP_CMD_E_SYNTAX;
	count = n->type == IMAP_NODE_LIST ? n->count : 1;
	if (count == 0)
		return IMAP_CMD_E_SYNTAX;
	if ((att = alloc_n(ps->c, count + 4, sizeof(*att))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	ps->c->fetch.att = att;
	ps->c->fetch.n = 0;
	if (n->type == IMAP_NODE_ATOM) {
		/* The macros stand alone (RFC 9051 §6.4.5). */
		bool all = ieq(&n->s, "ALL"), full = ieq(&n->s, "FULL");

		if (all || full || ieq(&n->s, "FAST")) {
			add_att(att, &ps->c->fetch.n, IMAP_FETCH_FLAGS);
			add_att(att, &ps->c->fetch.n, IMAP_FETCH_INTERNALDATE);
			add_att(att, &ps->c->fetch.n, IMAP_FETCH_RFC822_SIZE);
			if (all || full)
				add_att(att, &ps->c->fetch.n, IMAP_FETCH_ENVELOPE);
			if (full)
				add_att(att, &ps->c->fetch.n, IMAP_FETCH_BODY);
			return IMAP_CMD_OK;
		}
		it = n;
	} else if (n->type == IMAP_NODE_LIST) {
		it = node(ps, n->child);
	} else {
		return IMAP_CMD_E_SYNTAX;
	}
	for (i = 0; i < count; i++, it = next(ps, it)) {
		if ((e = fetch_att(ps, it, &att[i])) != IMAP_CMD_OK)
			return e;
	}
	ps->c->fetch.n = count;
	return IMAP_CMD_OK;
}

/* fetch-modifiers (RFC 7162 §3.1.4.1, §3.2.6): (CHANGEDSINCE n [VANISHED]) */
static enum imap_cmd_err
fetch_mods(struct parser *ps, const struct imap_node *n)
{
	const struct imap_node *m;

	if (n == NULL)
		return IMAP_CMD_OK;
	if (n->type != IMAP_NODE_LIST || n->count == 0 || next(ps, n) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (m = node(ps, n->child); m != NULL; m = next(ps, m)) {
		if (is_atom(m, "CHANGEDSINCE") && !ps->c->fetch.changedsince_set) {
			m = next(ps, m);
			if (!number_node(m, MODSEQ_MAX, &ps->c->fetch.changedsince))
				return IMAP_CMD_E_NUMBER;
			ps->c->fetch.changedsince_set = true;
		} else if (is_atom(m, "VANISHED") && !ps->c->fetch.vanished) {
			ps->c->fetch.vanished = true;
		} else {
			return IMAP_CMD_E_SYNTAX;
		}
	}
	/* VANISHED only with CHANGEDSINCE and UID FETCH (RFC 7162 §3.2.6). */
	if (ps->c->fetch.vanished &&
	    (!ps->c->fetch.changedsince_set || !ps->c->uid))
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* ---- commands ---- */

typedef enum imap_cmd_err (*handler)(struct parser *, const struct imap_node *);

static enum imap_cmd_err
h_none(struct parser *ps, const struct imap_node *a)
{
	(void)ps;
	return a == NULL ? IMAP_CMD_OK : IMAP_CMD_E_SYNTAX;
}

/* EXPUNGE, and UID EXPUNGE with its UID set (RFC 4315 §2.1). */
static enum imap_cmd_err
h_expunge(struct parser *ps, const struct imap_node *a)
{
	if (!ps->c->uid)
		return h_none(ps, a);
	if (a == NULL || next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return seqset(ps, a, &ps->c->seq);
}

/* RFC 4422 §3.1 mechanism names: 1*20 of A-Z 0-9 - _ (any case). */
static bool
sasl_mech(const struct imap_node *n)
{
	size_t i;

	if (n == NULL || n->type != IMAP_NODE_ATOM || n->s.len == 0 || n->s.len > 20)
		return false;
	for (i = 0; i < n->s.len; i++) {
		char c = upper(n->s.p[i]);

		if (!((c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* AUTHENTICATE mech [initial-response] (RFC 4959: "=" for an empty one) */
static enum imap_cmd_err
h_authenticate(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *ir = next(ps, a);

	if (!sasl_mech(a) || (ir != NULL && (ir->type != IMAP_NODE_ATOM ||
	    next(ps, ir) != NULL)))
		return IMAP_CMD_E_SYNTAX;
	ps->c->arg1 = a->s;
	if (ir != NULL) {
		ps->c->arg2 = ir->s;
		if (ir->s.len == 1 && ir->s.p[0] == '=')
			ps->c->arg2.len = 0;
	}
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_login(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *b = next(ps, a);

	if (!astring(a, &ps->c->arg1) || !astring(b, &ps->c->arg2) ||
	    next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* One or more atoms, left in the tree (ENABLE). */
static enum imap_cmd_err
h_atoms(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL)
		return IMAP_CMD_E_SYNTAX;
	for (; a != NULL; a = next(ps, a))
		if (a->type != IMAP_NODE_ATOM || a->s.len == 0)
			return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* QRESYNC (uidvalidity modseq [known-uids [(seq-set uid-set)]]), RFC 7162 §3.2.5 */
static enum imap_cmd_err
qresync(struct parser *ps, const struct imap_node *l)
{
	const struct imap_node *n;
	uint64_t v;
	enum imap_cmd_err e;

	if (l == NULL || l->type != IMAP_NODE_LIST || l->count < 2 || l->count > 4)
		return IMAP_CMD_E_SYNTAX;
	n = node(ps, l->child);
	if (!number_node(n, UINT32_MAX, &v) || v == 0)
		return IMAP_CMD_E_NUMBER;
	ps->c->select.uidvalidity = (uint32_t)v;
	n = next(ps, n);
	if (!number_node(n, MODSEQ_MAX, &ps->c->select.modseq) ||
	    ps->c->select.modseq == 0)
		return IMAP_CMD_E_NUMBER;
	if ((n = next(ps, n)) == NULL)
		return IMAP_CMD_OK;
	if (n->type == IMAP_NODE_ATOM) {
		if ((e = seqset(ps, n, &ps->c->select.known_uids)) != IMAP_CMD_OK)
			return e;
		n = next(ps, n);
	}
	if (n == NULL)
		return IMAP_CMD_OK;
	if (n->type != IMAP_NODE_LIST || n->count != 2 || next(ps, n) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = seqset(ps, node(ps, n->child), &ps->c->select.match_seq)) != IMAP_CMD_OK)
		return e;
	return seqset(ps, next(ps, node(ps, n->child)), &ps->c->select.match_uids);
}

/* SELECT/EXAMINE mailbox [(CONDSTORE / QRESYNC (...))] (RFC 7162) */
static enum imap_cmd_err
h_select(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = next(ps, a), *p;
	enum imap_cmd_err e;

	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if (l == NULL)
		return IMAP_CMD_OK;
	if (l->type != IMAP_NODE_LIST || l->count == 0 || next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (p = node(ps, l->child); p != NULL; p = next(ps, p)) {
		if (is_atom(p, "CONDSTORE") && !ps->c->select.condstore) {
			ps->c->select.condstore = true;
		} else if (is_atom(p, "QRESYNC") && !ps->c->select.qresync) {
			ps->c->select.qresync = true;
			p = next(ps, p);
			if ((e = qresync(ps, p)) != IMAP_CMD_OK)
				return e;
		} else {
			return IMAP_CMD_E_SYNTAX;
		}
	}
	return IMAP_CMD_OK;
}

/* CREATE mailbox [(USE (...))]: the parameters (RFC 6154 §3) stay in the tree. */
static enum imap_cmd_err
h_create(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = next(ps, a);
	enum imap_cmd_err e;

	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if (l != NULL && (l->type != IMAP_NODE_LIST || next(ps, l) != NULL))
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_mailbox(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL || next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return mailbox(ps, a, &ps->c->mailbox);
}

static enum imap_cmd_err
h_rename(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *b = next(ps, a);
	enum imap_cmd_err e;

	if (b == NULL || next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	return mailbox(ps, b, &ps->c->mailbox2);
}

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES }, { "RECENT", IMAP_STATUS_RECENT },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT }, { "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN }, { "DELETED", IMAP_STATUS_DELETED },
	{ "SIZE", IMAP_STATUS_SIZE }, { "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
};

static enum imap_cmd_err
status_list(struct parser *ps, const struct imap_node *l)
{
	const struct imap_node *n;
	size_t k;

	if (l == NULL || l->type != IMAP_NODE_LIST || l->count == 0)
		return IMAP_CMD_E_SYNTAX;
	for (n = node(ps, l->child); n != NULL; n = next(ps, n)) {
		for (k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++)
			if (is_atom(n, status_items[k].name))
				break;
		if (k == sizeof(status_items) / sizeof(status_items[0]))
			return IMAP_CMD_E_SYNTAX;
		ps->c->status |= status_items[k].bit;
	}
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_status(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = next(ps, a);
	enum imap_cmd_err e;

	if (l == NULL || next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	return status_list(ps, l);
}

static const struct {
	const char *name;
	unsigned bit;
} list_opts[] = {
	{ "SUBSCRIBED", IMAP_LIST_SEL_SUBSCRIBED }, { "REMOTE", IMAP_LIST_SEL_REMOTE },
	{ "RECURSIVEMATCH", IMAP_LIST_SEL_RECURSIVEMATCH },
	{ "SPECIAL-USE", IMAP_LIST_SEL_SPECIAL_USE },
}, list_ret[] = {
	{ "SUBSCRIBED", IMAP_LIST_RET_SUBSCRIBED }, { "CHILDREN", IMAP_LIST_RET_CHILDREN },
	{ "SPECIAL-USE", IMAP_LIST_RET_SPECIAL_USE }, { "STATUS", IMAP_LIST_RET_STATUS },
};

/* A list of option atoms from table t; STATUS in RETURN takes its items. */
static enum imap_cmd_err
list_options(struct parser *ps, const struct imap_node *l, bool ret)
{
	const struct imap_node *n;
	size_t k, nt = ret ? sizeof(list_ret) / sizeof(list_ret[0]) :
	    sizeof(list_opts) / sizeof(list_opts[0]);
	enum imap_cmd_err e;

	for (n = node(ps, l->child); n != NULL; n = next(ps, n)) {
		for (k = 0; k < nt; k++)
			if (is_atom(n, ret ? list_ret[k].name : list_opts[k].name))
				break;
		if (k == nt)
			return IMAP_CMD_E_SYNTAX;
		ps->c->list.opts |= ret ? list_ret[k].bit : list_opts[k].bit;
		if (ret && list_ret[k].bit == IMAP_LIST_RET_STATUS) {
			n = next(ps, n);
			if ((e = status_list(ps, n)) != IMAP_CMD_OK)
				return e;
		}
	}
	return IMAP_CMD_OK;
}

/* LIST [(selection)] reference (pattern / (patterns)) [RETURN (options)]
 * (RFC 5258); LSUB reference pattern. */
static enum imap_cmd_err
list_cmd(struct parser *ps, const struct imap_node *a, bool extended)
{
	const struct imap_node *pat, *p;
	struct imap_str *pats;
	size_t np, i;
	enum imap_cmd_err e;

	if (extended && a != NULL && a->type == IMAP_NODE_LIST) {
		if ((e = list_options(ps, a, false)) != IMAP_CMD_OK)
			return e;
		/* RECURSIVEMATCH needs another selection option (§3.1). */
		if ((ps->c->list.opts & 0xff) == IMAP_LIST_SEL_RECURSIVEMATCH)
			return IMAP_CMD_E_SYNTAX;
		a = next(ps, a);
	}
	/* The reference may be "" (astring() refuses only an empty atom). */
	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if ((pat = next(ps, a)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	if (pat->type == IMAP_NODE_LIST) {
		if (!extended || pat->count == 0)
			return IMAP_CMD_E_SYNTAX;
		np = pat->count;
		p = node(ps, pat->child);
	} else {
		np = 1;
		p = pat;
	}
	if ((pats = alloc_n(ps->c, np, sizeof(*pats))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (i = 0; i < np; i++, p = next(ps, p))
		if ((e = mailbox(ps, p, &pats[i])) != IMAP_CMD_OK)
			return e;
	ps->c->list.patterns = pats;
	ps->c->list.npatterns = np;
	if ((p = next(ps, pat)) == NULL)
		return IMAP_CMD_OK;
	if (!extended || !is_atom(p, "RETURN"))
		return IMAP_CMD_E_SYNTAX;
	p = next(ps, p);
	if (p == NULL || p->type != IMAP_NODE_LIST || next(ps, p) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return list_options(ps, p, true);
}

static enum imap_cmd_err
h_list(struct parser *ps, const struct imap_node *a)
{
	return list_cmd(ps, a, true);
}

static enum imap_cmd_err
h_lsub(struct parser *ps, const struct imap_node *a)
{
	return list_cmd(ps, a, false);
}

/* date-time (RFC 9051 §9): "dd-Mon-yyyy hh:mm:ss +zzzz", the day may
 * start with a space. */
static bool
date_time(const struct imap_str *s)
{
	static const char months[] = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC";
	const char *p = s->p;
	size_t i;

	if (s->len != 26)
		return false;
	if (!(p[0] == ' ' || is_digit(p[0])) || !is_digit(p[1]) || p[2] != '-' ||
	    p[6] != '-' || p[11] != ' ' || p[14] != ':' || p[17] != ':' ||
	    p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
		return false;
	for (i = 0; i < 36; i += 3)
		if (upper(p[3]) == months[i] && upper(p[4]) == months[i + 1] &&
		    upper(p[5]) == months[i + 2])
			break;
	if (i == 36)
		return false;
	for (i = 7; i < 26; i++) {
		if (i == 11 || i == 14 || i == 17 || i == 20 || i == 21)
			continue;
		if (!is_digit(p[i]))
			return false;
	}
	return true;
}

/* APPEND mailbox 1*([flags] [date-time] literal) (RFC 3502 MULTIAPPEND) */
static enum imap_cmd_err
h_append(struct parser *ps, const struct imap_node *a)
{
	struct imap_append_msg *msgs;
	const struct imap_node *n;
	size_t count = 0;
	enum imap_cmd_err e;

	if ((e = mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	for (n = next(ps, a); n != NULL; n = next(ps, n))
		if (n->type == IMAP_NODE_LITERAL)
			count++;
	if (count == 0)
		return IMAP_CMD_E_SYNTAX;
	if ((msgs = alloc_n(ps->c, count, sizeof(*msgs))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	ps->c->append = msgs;
	for (n = next(ps, a); n != NULL; n = next(ps, n)) {
		struct imap_append_msg *m;

		/* flags or a date after the last literal */
		if (ps->c->nappend == count)
			return IMAP_CMD_E_SYNTAX;
		m = &msgs[ps->c->nappend];

		if (n->type == IMAP_NODE_LIST) {
			if ((e = flags(ps, node(ps, n->child), n->count, &m->flags)) != IMAP_CMD_OK)
				return e;
			n = next(ps, n);
		}
		if (n != NULL && n->type == IMAP_NODE_QUOTED) {
			if (!date_time(&n->s))
				return IMAP_CMD_E_SYNTAX;
			m->date = n->s;
			n = next(ps, n);
		}
		if (n == NULL || n->type != IMAP_NODE_LITERAL)
			return IMAP_CMD_E_SYNTAX;
		m->data = n->s;
		m->literal8 = n->literal8;
		ps->c->nappend++;
	}
	return IMAP_CMD_OK;
}

/* SEARCH/SORT/THREAD: at least min arguments, left to their own parser. */
static enum imap_cmd_err
some_args(struct parser *ps, const struct imap_node *a, size_t min)
{
	size_t n = 0;

	for (; a != NULL; a = next(ps, a))
		n++;
	return n >= min ? IMAP_CMD_OK : IMAP_CMD_E_SYNTAX;
}

static enum imap_cmd_err
h_search(struct parser *ps, const struct imap_node *a)
{
	return some_args(ps, a, 1);
}

/* SORT (criteria) charset key...; THREAD algorithm charset key... */
static enum imap_cmd_err
h_sort(struct parser *ps, const struct imap_node *a)
{
	return some_args(ps, a, 3);
}

static enum imap_cmd_err
h_fetch(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *items = next(ps, a);
	enum imap_cmd_err e;

	if ((e = seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK ||
	    (e = fetch_items(ps, items)) != IMAP_CMD_OK)
		return e;
	return fetch_mods(ps, next(ps, items));
}

/* STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags (RFC 7162 §3.1.3) */
static enum imap_cmd_err
h_store(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *n = next(ps, a), *f;
	struct imap_str op;
	size_t count;
	enum imap_cmd_err e;

	if ((e = seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK)
		return e;
	if (n != NULL && n->type == IMAP_NODE_LIST) {
		const struct imap_node *m = node(ps, n->child);

		if (n->count != 2 || !is_atom(m, "UNCHANGEDSINCE"))
			return IMAP_CMD_E_SYNTAX;
		if (!number_node(next(ps, m), MODSEQ_MAX, &ps->c->store.unchangedsince))
			return IMAP_CMD_E_NUMBER;
		ps->c->store.unchangedsince_set = true;
		n = next(ps, n);
	}
	if (n == NULL || n->type != IMAP_NODE_ATOM)
		return IMAP_CMD_E_SYNTAX;
	op = n->s;
	if (op.len > 0 && (op.p[0] == '+' || op.p[0] == '-')) {
		ps->c->store.op = op.p[0] == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		op.p++;
		op.len--;
	}
	if (ieq(&op, "FLAGS.SILENT"))
		ps->c->store.silent = true;
	else if (!ieq(&op, "FLAGS"))
		return IMAP_CMD_E_SYNTAX;
	if ((f = next(ps, n)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	if (f->type == IMAP_NODE_LIST) {
		if (next(ps, f) != NULL)
			return IMAP_CMD_E_SYNTAX;
		return flags(ps, node(ps, f->child), f->count, &ps->c->store.flags);
	}
	for (count = 0, n = f; n != NULL; n = next(ps, n))
		count++;
	return flags(ps, f, count, &ps->c->store.flags);
}

static enum imap_cmd_err
h_copy(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *b = next(ps, a);
	enum imap_cmd_err e;

	if (b == NULL || next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK)
		return e;
	return mailbox(ps, b, &ps->c->mailbox);
}

/* ID NIL / ID (field value ...), values strings or NIL (RFC 2971 §3.1) */
static enum imap_cmd_err
h_id(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *n;

	if (a == NULL || next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if (is_atom(a, "NIL"))
		return IMAP_CMD_OK;
	if (a->type != IMAP_NODE_LIST || a->count % 2 != 0 || a->count > 60)
		return IMAP_CMD_E_SYNTAX;
	for (n = node(ps, a->child); n != NULL; n = next(ps, n))
		if (n->type == IMAP_NODE_LIST ||
		    (n->type == IMAP_NODE_ATOM && !ieq(&n->s, "NIL")))
			return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_compress(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL || a->type != IMAP_NODE_ATOM || next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	ps->c->arg1 = a->s;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_getquota(struct parser *ps, const struct imap_node *a)
{
	if (!astring(a, &ps->c->arg1) || next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* SETQUOTA root (resource limit ...) (RFC 9208 §4.3) */
static enum imap_cmd_err
h_setquota(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = next(ps, a), *n;
	uint64_t v;

	if (!astring(a, &ps->c->arg1) || l == NULL || l->type != IMAP_NODE_LIST ||
	    l->count % 2 != 0 || next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (n = node(ps, l->child); n != NULL; n = next(ps, next(ps, n))) {
		if (n->type != IMAP_NODE_ATOM || n->s.len == 0)
			return IMAP_CMD_E_SYNTAX;
		if (!number_node(next(ps, n), MODSEQ_MAX, &v))
			return IMAP_CMD_E_NUMBER;
	}
	return IMAP_CMD_OK;
}

static const struct {
	const char *name;
	enum imap_verb verb;
	bool uid;          /* may follow UID */
	handler h;
} verbs[] = {
	{ "CAPABILITY", IMAP_CMD_CAPABILITY, false, h_none },
	{ "NOOP", IMAP_CMD_NOOP, false, h_none },
	{ "LOGOUT", IMAP_CMD_LOGOUT, false, h_none },
	{ "STARTTLS", IMAP_CMD_STARTTLS, false, h_none },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, false, h_authenticate },
	{ "LOGIN", IMAP_CMD_LOGIN, false, h_login },
	{ "ENABLE", IMAP_CMD_ENABLE, false, h_atoms },
	{ "SELECT", IMAP_CMD_SELECT, false, h_select },
	{ "EXAMINE", IMAP_CMD_EXAMINE, false, h_select },
	{ "CREATE", IMAP_CMD_CREATE, false, h_create },
	{ "DELETE", IMAP_CMD_DELETE, false, h_mailbox },
	{ "RENAME", IMAP_CMD_RENAME, false, h_rename },
	{ "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, false, h_mailbox },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, false, h_mailbox },
	{ "LIST", IMAP_CMD_LIST, false, h_list },
	{ "LSUB", IMAP_CMD_LSUB, false, h_lsub },
	{ "NAMESPACE", IMAP_CMD_NAMESPACE, false, h_none },
	{ "STATUS", IMAP_CMD_STATUS, false, h_status },
	{ "APPEND", IMAP_CMD_APPEND, false, h_append },
	{ "IDLE", IMAP_CMD_IDLE, false, h_none },
	{ "CHECK", IMAP_CMD_CHECK, false, h_none },
	{ "CLOSE", IMAP_CMD_CLOSE, false, h_none },
	{ "UNSELECT", IMAP_CMD_UNSELECT, false, h_none },
	{ "EXPUNGE", IMAP_CMD_EXPUNGE, true, h_expunge },
	{ "SEARCH", IMAP_CMD_SEARCH, true, h_search },
	{ "FETCH", IMAP_CMD_FETCH, true, h_fetch },
	{ "STORE", IMAP_CMD_STORE, true, h_store },
	{ "COPY", IMAP_CMD_COPY, true, h_copy },
	{ "MOVE", IMAP_CMD_MOVE, true, h_copy },
	{ "ID", IMAP_CMD_ID, false, h_id },
	{ "SORT", IMAP_CMD_SORT, true, h_sort },
	{ "THREAD", IMAP_CMD_THREAD, true, h_sort },
	{ "COMPRESS", IMAP_CMD_COMPRESS, false, h_compress },
	{ "GETQUOTA", IMAP_CMD_GETQUOTA, false, h_getquota },
	{ "GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT, false, h_mailbox },
	{ "SETQUOTA", IMAP_CMD_SETQUOTA, false, h_setquota },
};

/* The command name: letters only, then SP or the end. */
static bool
read_name(struct parser *ps, struct imap_str *name)
{
	name->p = ps->p;
	while (ps->p < ps->end && ((upper(*ps->p) >= 'A' && upper(*ps->p) <= 'Z')))
		ps->p++;
	name->len = (size_t)(ps->p - name->p);
	return name->len > 0 && (ps->p == ps->end || *ps->p == ' ');
}

enum imap_cmd_err
imap_cmd_parse(const char *cmd, size_t len, const struct imap_cmd_limits *lim,
    struct imap_cmd *out)
{
	struct parser ps;
	struct imap_str name;
	size_t k, first, count;
	enum imap_cmd_err e;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.s = ps.p = ps.line = cmd;
	ps.end = cmd + len;
	ps.lim = lim;
	ps.c = out;
	if (!imap_cmd_tag(cmd, len, &out->tag.p, &out->tag.len)) {
		out->tag.p = NULL;
		return IMAP_CMD_E_NO_TAG;
	}
	if (len > lim->max_command)
		return IMAP_CMD_E_TOO_LONG;
	ps.p += out->tag.len + 1;
	if (!read_name(&ps, &name))
		return IMAP_CMD_E_UNKNOWN;
	if (ieq(&name, "UID")) {
		out->uid = true;
		ps.p++;
		if (!read_name(&ps, &name))
			return IMAP_CMD_E_UNKNOWN;
	}
	for (k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (ieq(&name, verbs[k].name))
			break;
	if (k == sizeof(verbs) / sizeof(verbs[0]) || (out->uid && !verbs[k].uid))
		return IMAP_CMD_E_UNKNOWN;
	out->verb = verbs[k].verb;
	if ((e = read_args(&ps, 0, &first, &count)) != IMAP_CMD_OK)
		goto fail;
	if ((size_t)(ps.end - ps.line) > lim->max_line) {
		e = IMAP_CMD_E_TOO_LONG;
		goto fail;
	}
	out->nodes = ps.nodes;
	out->nnodes = ps.nnodes;
	out->first = first;
	out->nargs = count;
	if ((e = verbs[k].h(&ps, node(&ps, first))) != IMAP_CMD_OK)
		goto fail;
	return IMAP_CMD_OK;
fail:
	/* Only the tag and the verb survive an error. */
	{
		struct imap_str tag = out->tag;
		enum imap_verb verb = out->verb;
		bool uid = out->uid;
		void *arena = out->arena_;

		memset(out, 0, sizeof(*out));
		out->tag = tag;
		out->verb = verb;
		out->uid = uid;
		out->arena_ = arena;
	}
	return e;
}
