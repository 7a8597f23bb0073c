/*
 * imap_search: SEARCH keys into a tree, and the tree against a message
 * (see imap_search.h).
 *
 * The tree lives in one array of nodes: a key consumes at least one
 * token and a group two, so ntoks + 1 nodes always suffice and the array
 * is sized once. Children are linked by index (child, next).
 *
 * Search strings are case-folded once here, with libunistring's full
 * Unicode fold and no locale (RFC 9051 §6.4.4: matching is
 * case-insensitive; a server-specific fold is allowed, and a locale
 * would make the answer depend on where the server runs).
 */
#include "imap_search.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>
#include "imap_search_int.h"

const struct imap_search_limits imap_search_default_limits = {
	.max_depth = 32,
	.max_nodes = 1000,
	.max_ranges = 10000,
};

struct parser {
	const struct imap_tok *toks;
	size_t ntoks, pos;
	const struct imap_search_limits *lim;
	struct imap_search *out;
	size_t cap_nodes, cap_ranges;
	enum imap_search_err err;
	size_t err_tok;
};

static int32_t key(struct parser *p, size_t depth);

char
imap_search_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool
atom_is(const struct imap_tok *t, const char *lit)
{
	size_t i, n = strlen(lit);

	if (t->type != IMAP_TOK_ATOM || t->len != n)
		return false;
	for (i = 0; i < n; i++)
		if (imap_search_lower(t->s[i]) != imap_search_lower(lit[i]))
			return false;
	return true;
}

bool
imap_search_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (imap_search_lower(a[i]) != imap_search_lower(b[i]))
			return false;
	return true;
}

/* Fails the parse at the current token; -1 for the callers to return. */
static int32_t
fail(struct parser *p, enum imap_search_err e)
{
	if (p->err == IMAP_SEARCH_OK) {
		p->err = e;
		p->err_tok = p->pos;
	}
	return -1;
}

static const struct imap_tok *
next_tok(struct parser *p)
{
	if (p->pos >= p->ntoks) {
		fail(p, IMAP_SEARCH_SYNTAX);
		return NULL;
	}
	return &p->toks[p->pos++];
}

static int32_t
new_node(struct parser *p, enum imap_search_kind kind)
{
	struct imap_search_node *n;

	if (p->out->nnodes >= p->cap_nodes || p->out->nnodes >= p->lim->max_nodes)
		return fail(p, IMAP_SEARCH_TOO_BIG);
	n = &p->out->nodes[p->out->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->child = n->next = -1;
	return (int32_t)p->out->nnodes++;
}

/* Digits into v, at most max; leading zeros only for "0" when zero_ok. */
static bool
parse_num(const char *s, size_t len, uint64_t max, bool zero_ok, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || (s[0] == '0' && (len > 1 || !zero_ok)))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    __builtin_mul_overflow(x, 10, &x) ||
		    __builtin_add_overflow(x, (uint64_t)(s[i] - '0'), &x))
			return false;
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static bool
seq_num(const char *s, size_t len, uint32_t *v)
{
	uint64_t x;

	if (len == 1 && s[0] == '*') {
		*v = IMAP_SEQ_STAR;
		return true;
	}
	if (!parse_num(s, len, UINT32_MAX, false, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

static int
add_range(struct parser *p, uint32_t lo, uint32_t hi)
{
	struct imap_search *o = p->out;

	if (o->nranges >= p->lim->max_ranges)
		return fail(p, IMAP_SEARCH_TOO_BIG);
	if (o->nranges == p->cap_ranges) {
		size_t cap = p->cap_ranges ? p->cap_ranges * 2 : 8;
		struct imap_seq_range *r;

		if (cap > p->lim->max_ranges)
			cap = p->lim->max_ranges;
		r = realloc(o->ranges, cap * sizeof(*r));
		if (r == NULL)
			return fail(p, IMAP_SEARCH_NOMEM);
		o->ranges = r;
		p->cap_ranges = cap;
	}
	o->ranges[o->nranges].lo = lo;
	o->ranges[o->nranges].hi = hi;
	o->nranges++;
	return 0;
}

/* The token just read (a set) is wrong. */
static int32_t
bad_set(struct parser *p)
{
	p->pos--;
	return fail(p, IMAP_SEARCH_SYNTAX);
}

/* A sequence set (or "$") into a SEQ/UID node. */
static int32_t
seq_set(struct parser *p, const struct imap_tok *t, enum imap_search_kind kind)
{
	size_t i = 0, start;
	int32_t n;

	if (t->len == 1 && t->s[0] == '$')
		return new_node(p, IMAP_SK_SAVED);
	if ((n = new_node(p, kind)) < 0)
		return -1;
	p->out->nodes[n].range = p->out->nranges;
	while (i <= t->len) {
		const char *colon;
		uint32_t lo, hi;
		size_t elen;

		start = i;
		while (i < t->len && t->s[i] != ',')
			i++;
		elen = i - start;
		colon = memchr(t->s + start, ':', elen);
		if (colon == NULL) {
			if (!seq_num(t->s + start, elen, &lo))
				return bad_set(p);
			hi = lo;
		} else {
			size_t l1 = (size_t)(colon - (t->s + start));

			if (!seq_num(t->s + start, l1, &lo) ||
			    !seq_num(colon + 1, elen - l1 - 1, &hi))
				return bad_set(p);
		}
		if (add_range(p, lo, hi) < 0)
			return -1;
		i++;   /* past the ',' (or the end) */
	}
	p->out->nodes[n].nrange = p->out->nranges - p->out->nodes[n].range;
	return n;
}

static bool
is_seq_set(const struct imap_tok *t)
{
	size_t i;

	if (t->type != IMAP_TOK_ATOM || t->len == 0)
		return false;
	if (t->len == 1 && t->s[0] == '$')
		return true;
	for (i = 0; i < t->len; i++)
		if (!((t->s[i] >= '0' && t->s[i] <= '9') || t->s[i] == '*' ||
		    t->s[i] == ':' || t->s[i] == ','))
			return false;
	return true;
}

/* An astring argument: an atom or a string. */
static const struct imap_tok *
astring(struct parser *p)
{
	const struct imap_tok *t = next_tok(p);

	if (t != NULL && t->type != IMAP_TOK_ATOM && t->type != IMAP_TOK_STRING) {
		p->pos--;
		fail(p, IMAP_SEARCH_SYNTAX);
		return NULL;
	}
	return t;
}

static int32_t
with_str(struct parser *p, int32_t n, const struct imap_tok *t)
{
	struct imap_search_node *node = &p->out->nodes[n];

	node->str = malloc(t->len + 1);
	if (node->str == NULL)
		return fail(p, IMAP_SEARCH_NOMEM);
	memcpy(node->str, t->s, t->len);
	node->str[t->len] = '\0';
	node->str_len = t->len;
	return n;
}

static int32_t
with_needle(struct parser *p, int32_t n, const struct imap_tok *t)
{
	struct imap_search_node *node = &p->out->nodes[n];

	if (u8_check((const uint8_t *)t->s, t->len) != NULL) {
		p->pos--;
		return fail(p, IMAP_SEARCH_BAD_UTF8);
	}
	node->needle = imap_search_fold(t->s, t->len, &node->needle_len);
	if (node->needle == NULL)
		return fail(p, IMAP_SEARCH_NOMEM);
	return n;
}

/* A key naming a header field: FROM, TO, ... */
static int32_t
header_key(struct parser *p, const char *field)
{
	struct imap_tok f = { IMAP_TOK_ATOM, field, strlen(field) };
	const struct imap_tok *v;
	int32_t n;

	if ((v = astring(p)) == NULL || (n = new_node(p, IMAP_SK_HEADER)) < 0 ||
	    with_str(p, n, &f) < 0)
		return -1;
	return with_needle(p, n, v);
}

static int32_t
date_key(struct parser *p, enum imap_search_kind kind)
{
	const struct imap_tok *t = astring(p);
	int32_t n, day;

	if (t == NULL)
		return -1;
	if (!imap_date_parse(t->s, t->len, &day)) {
		p->pos--;
		return fail(p, IMAP_SEARCH_SYNTAX);
	}
	if ((n = new_node(p, kind)) >= 0)
		p->out->nodes[n].day = day;
	return n;
}

static int32_t
num_key(struct parser *p, enum imap_search_kind kind)
{
	const struct imap_tok *t = next_tok(p);
	uint64_t v;
	int32_t n;

	if (t == NULL)
		return -1;
	/* RFC 9051 number64 and RFC 7162 mod-sequence-valzer: 0..2^63-1 */
	if (t->type != IMAP_TOK_ATOM || !parse_num(t->s, t->len, INT64_MAX, true, &v)) {
		p->pos--;
		return fail(p, IMAP_SEARCH_SYNTAX);
	}
	if ((n = new_node(p, kind)) >= 0)
		p->out->nodes[n].num = v;
	return n;
}

static int32_t
keyword_key(struct parser *p, enum imap_search_kind kind)
{
	const struct imap_tok *t = next_tok(p);
	int32_t n;

	if (t == NULL)
		return -1;
	if (t->type != IMAP_TOK_ATOM) {
		p->pos--;
		return fail(p, IMAP_SEARCH_SYNTAX);
	}
	if ((n = new_node(p, kind)) < 0)
		return -1;
	return with_str(p, n, t);
}

/* "(" key *(SP key) ")", or the whole command's keys (close false):
 * an AND node over them. */
static int32_t
key_list(struct parser *p, size_t depth, bool close)
{
	int32_t n, c, last = -1;

	if ((n = new_node(p, IMAP_SK_AND)) < 0)
		return -1;
	for (;;) {
		if (p->pos >= p->ntoks) {
			if (close || last < 0)
				return fail(p, IMAP_SEARCH_SYNTAX);
			return n;
		}
		if (p->toks[p->pos].type == IMAP_TOK_RPAREN) {
			if (!close || last < 0)
				return fail(p, IMAP_SEARCH_SYNTAX);
			p->pos++;
			return n;
		}
		if ((c = key(p, depth)) < 0)
			return -1;
		if (last < 0)
			p->out->nodes[n].child = c;
		else
			p->out->nodes[last].next = c;
		last = c;
	}
}

static const struct {
	const char *name;
	enum imap_search_kind kind;
	uint32_t flag;
} simple_keys[] = {
	{ "ALL", IMAP_SK_ALL, 0 },
	{ "ANSWERED", IMAP_SK_FLAG_SET, IMAP_FLAG_ANSWERED },
	{ "DELETED", IMAP_SK_FLAG_SET, IMAP_FLAG_DELETED },
	{ "DRAFT", IMAP_SK_FLAG_SET, IMAP_FLAG_DRAFT },
	{ "FLAGGED", IMAP_SK_FLAG_SET, IMAP_FLAG_FLAGGED },
	{ "RECENT", IMAP_SK_FLAG_SET, IMAP_FLAG_RECENT },
	{ "SEEN", IMAP_SK_FLAG_SET, IMAP_FLAG_SEEN },
	{ "UNANSWERED", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_ANSWERED },
	{ "UNDELETED", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_DELETED },
	{ "UNDRAFT", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_DRAFT },
	{ "UNFLAGGED", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_FLAGGED },
	{ "UNSEEN", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_SEEN },
	{ "OLD", IMAP_SK_FLAG_CLEAR, IMAP_FLAG_RECENT },
	{ "NEW", IMAP_SK_NEW, 0 },
};

static const struct {
	const char *name;
	enum imap_search_kind kind;
} date_keys[] = {
	{ "BEFORE", IMAP_SK_BEFORE }, { "ON", IMAP_SK_ON }, { "SINCE", IMAP_SK_SINCE },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE }, { "SENTON", IMAP_SK_SENTON },
	{ "SENTSINCE", IMAP_SK_SENTSINCE },
};

static const char *const header_keys[] = { "BCC", "CC", "FROM", "SUBJECT", "TO" };

static int32_t
key(struct parser *p, size_t depth)
{
	const struct imap_tok *t;
	int32_t n, c;
	size_t i;

	if (depth >= p->lim->max_depth)
		return fail(p, IMAP_SEARCH_TOO_DEEP);
	if ((t = next_tok(p)) == NULL)
		return -1;
	if (t->type == IMAP_TOK_LPAREN)
		return key_list(p, depth + 1, true);
	if (t->type != IMAP_TOK_ATOM) {
		p->pos--;
		return fail(p, IMAP_SEARCH_SYNTAX);
	}
	if (is_seq_set(t))
		return seq_set(p, t, IMAP_SK_SEQ);
	for (i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]); i++)
		if (atom_is(t, simple_keys[i].name)) {
			if ((n = new_node(p, simple_keys[i].kind)) >= 0)
				p->out->nodes[n].flag = simple_keys[i].flag;
			return n;
		}
	for (i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++)
		if (atom_is(t, date_keys[i].name))
			return date_key(p, date_keys[i].kind);
	for (i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++)
		if (atom_is(t, header_keys[i]))
			return header_key(p, header_keys[i]);
	if (atom_is(t, "HEADER")) {
		const struct imap_tok *f, *v;

		/* RFC 5322: a field name has one character at least */
		if ((f = astring(p)) != NULL && f->len == 0) {
			p->pos--;
			return fail(p, IMAP_SEARCH_SYNTAX);
		}
		if (f == NULL || (v = astring(p)) == NULL ||
		    (n = new_node(p, IMAP_SK_HEADER)) < 0 || with_str(p, n, f) < 0)
			return -1;
		return with_needle(p, n, v);
	}
	if (atom_is(t, "BODY") || atom_is(t, "TEXT")) {
		const struct imap_tok *v;

		if ((v = astring(p)) == NULL ||
		    (n = new_node(p, atom_is(t, "BODY") ? IMAP_SK_BODY : IMAP_SK_TEXT)) < 0)
			return -1;
		return with_needle(p, n, v);
	}
	if (atom_is(t, "KEYWORD"))
		return keyword_key(p, IMAP_SK_KEYWORD);
	if (atom_is(t, "UNKEYWORD"))
		return keyword_key(p, IMAP_SK_UNKEYWORD);
	if (atom_is(t, "LARGER"))
		return num_key(p, IMAP_SK_LARGER);
	if (atom_is(t, "SMALLER"))
		return num_key(p, IMAP_SK_SMALLER);
	if (atom_is(t, "UID")) {
		if ((t = next_tok(p)) == NULL)
			return -1;
		if (!is_seq_set(t)) {
			p->pos--;
			return fail(p, IMAP_SEARCH_SYNTAX);
		}
		return seq_set(p, t, IMAP_SK_UID);
	}
	if (atom_is(t, "MODSEQ")) {
		/* [entry-name entry-type-req]: the per-flag metadata is not
		 * kept apart; the message's modseq answers for all of it */
		if (p->pos < p->ntoks && p->toks[p->pos].type == IMAP_TOK_STRING) {
			p->pos++;
			if ((t = next_tok(p)) == NULL)
				return -1;
			if (!atom_is(t, "priv") && !atom_is(t, "shared") && !atom_is(t, "all")) {
				p->pos--;
				return fail(p, IMAP_SEARCH_SYNTAX);
			}
		}
		p->out->has_modseq = true;
		return num_key(p, IMAP_SK_MODSEQ);
	}
	if (atom_is(t, "NOT")) {
		if ((n = new_node(p, IMAP_SK_NOT)) < 0 || (c = key(p, depth + 1)) < 0)
			return -1;
		p->out->nodes[n].child = c;
		return n;
	}
	if (atom_is(t, "OR")) {
		int32_t c2;

		if ((n = new_node(p, IMAP_SK_OR)) < 0 || (c = key(p, depth + 1)) < 0 ||
		    (c2 = key(p, depth + 1)) < 0)
			return -1;
		p->out->nodes[n].child = c;
		p->out->nodes[c].next = c2;
		return n;
	}
	p->pos--;
	return fail(p, IMAP_SEARCH_SYNTAX);
}

/* RETURN ( [opt *(SP opt)] ): RFC 4731 §3.1, SAVE from RFC 5182. */
static int
return_opts(struct parser *p)
{
	static const struct { const char *name; uint32_t bit; } opts[] = {
		{ "MIN", IMAP_RET_MIN }, { "MAX", IMAP_RET_MAX },
		{ "ALL", IMAP_RET_ALL }, { "COUNT", IMAP_RET_COUNT },
		{ "SAVE", IMAP_RET_SAVE },
	};
	const struct imap_tok *t = next_tok(p);
	size_t i;

	if (t == NULL)
		return -1;
	if (t->type != IMAP_TOK_LPAREN) {
		p->pos--;
		return fail(p, IMAP_SEARCH_SYNTAX);
	}
	p->out->esearch = true;
	for (;;) {
		if ((t = next_tok(p)) == NULL)
			return -1;
		if (t->type == IMAP_TOK_RPAREN)
			break;
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (atom_is(t, opts[i].name))
				break;
		if (i == sizeof(opts) / sizeof(opts[0])) {
			p->pos--;
			return fail(p, IMAP_SEARCH_SYNTAX);
		}
		p->out->ret |= opts[i].bit;
	}
	/* RFC 4731: "RETURN ()" is RETURN (ALL) */
	if (p->out->ret == 0)
		p->out->ret = IMAP_RET_ALL;
	return 0;
}

enum imap_search_err
imap_search_parse(const struct imap_tok *toks, size_t ntoks,
    const struct imap_search_limits *lim, struct imap_search *out,
    size_t *err_tok_r)
{
	struct parser p = { .toks = toks, .ntoks = ntoks, .lim = lim, .out = out };

	memset(out, 0, sizeof(*out));
	if (lim == NULL)
		p.lim = &imap_search_default_limits;
	if (ntoks >= SIZE_MAX / sizeof(*out->nodes) - 1)
		fail(&p, IMAP_SEARCH_TOO_BIG);
	else {
		p.cap_nodes = ntoks + 1;
		if (p.cap_nodes > p.lim->max_nodes)
			p.cap_nodes = p.lim->max_nodes;
		out->nodes = calloc(p.cap_nodes ? p.cap_nodes : 1, sizeof(*out->nodes));
		if (out->nodes == NULL)
			fail(&p, IMAP_SEARCH_NOMEM);
	}
	if (p.err == IMAP_SEARCH_OK && p.pos < ntoks && atom_is(&toks[p.pos], "RETURN")) {
		p.pos++;
		return_opts(&p);
	}
	if (p.err == IMAP_SEARCH_OK && p.pos < ntoks && atom_is(&toks[p.pos], "CHARSET")) {
		const struct imap_tok *cs;

		p.pos++;
		if ((cs = astring(&p)) != NULL && !imap_search_ieq(cs->s, cs->len, "UTF-8", 5) &&
		    !imap_search_ieq(cs->s, cs->len, "US-ASCII", 8)) {
			p.pos--;
			fail(&p, IMAP_SEARCH_BADCHARSET);
		}
	}
	if (p.err == IMAP_SEARCH_OK)
		key_list(&p, 0, false);
	if (p.err != IMAP_SEARCH_OK) {
		imap_search_free(out);
		if (err_tok_r != NULL)
			*err_tok_r = p.err_tok;
		return p.err;
	}
	return IMAP_SEARCH_OK;
}

void
imap_search_free(struct imap_search *s)
{
	size_t i;

	for (i = 0; i < s->nnodes; i++) {
		free(s->nodes[i].str);
		free(s->nodes[i].needle);
	}
	free(s->nodes);
	free(s->ranges);
	memset(s, 0, sizeof(*s));
}
