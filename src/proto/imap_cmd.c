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

#include "imap_cmd_int.h"
#include "imap_mutf7.h"


void *
ic_alloc(struct imap_cmd *c, size_t n)
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
void *
ic_alloc_n(struct imap_cmd *c, size_t n, size_t size)
{
	if (n != 0 && size > SIZE_MAX / n)
		return NULL;
	n *= size;
	return ic_alloc(c, n > 0 ? n : 1);
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

bool
ic_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

char
ic_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

bool
ic_ieq(const struct imap_str *s, const char *kw)
{
	size_t i, n = strlen(kw);

	if (s->len != n)
		return false;
	for (i = 0; i < n; i++)
		if (ic_upper(s->p[i]) != kw[i])
			return false;
	return true;
}

/* Does s start with kw (any case)? */
bool
ic_iprefix(const char *s, size_t len, const char *kw)
{
	size_t i, n = strlen(kw);

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
		if (ic_upper(s[i]) != kw[i])
			return false;
	return true;
}

/* ATOM-CHAR plus what astrings, list patterns, flags and sequence sets
 * add ("]", "%", "*", "\"); '[' is handled by the caller. */
bool
ic_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool
is_tag_char(unsigned char c)
{
	return ic_is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\'
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
	return len == 4 && ic_iprefix(line, len, "DONE");
}

bool
ic_parse_u64(const char *p, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!ic_is_digit(p[i]))
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
	if (!ic_parse_u64(&line[open + 1], i - open - 1, UINT64_MAX, &n))
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
		if ((n = ic_alloc_n(ps->c, cap, sizeof(*n))) == NULL)
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
	if ((out = ic_alloc(ps->c, n + 1)) == NULL)
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
	while (ps->p < ps->end && ic_is_digit(*ps->p))
		ps->p++;
	if (!ic_parse_u64(d, (size_t)(ps->p - d), UINT64_MAX, &n))
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
		if (!ic_is_atom_char(c))
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


/* The command name: letters only, then SP or the end. */
static bool
read_name(struct parser *ps, struct imap_str *name)
{
	name->p = ps->p;
	while (ps->p < ps->end && ((ic_upper(*ps->p) >= 'A' && ic_upper(*ps->p) <= 'Z')))
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
	if (ic_ieq(&name, "UID")) {
		out->uid = true;
		ps.p++;
		if (!read_name(&ps, &name))
			return IMAP_CMD_E_UNKNOWN;
	}
	for (k = 0; k < ic_nverbs; k++)
		if (ic_ieq(&name, ic_verbs[k].name))
			break;
	if (k == ic_nverbs || (out->uid && !ic_verbs[k].uid))
		return IMAP_CMD_E_UNKNOWN;
	out->verb = ic_verbs[k].verb;
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
	if ((e = ic_verbs[k].h(&ps, ic_node(&ps, first))) != IMAP_CMD_OK)
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
