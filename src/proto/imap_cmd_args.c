/*
 * imap_cmd_args: the typed arguments of IMAP commands, read from the
 * tree (see imap_cmd.c): mailbox names (mUTF-7 or, with UTF8=ACCEPT,
 * UTF-8), sequence sets sorted and merged, flag lists, and FETCH's items
 * and modifiers (BODY[section]<partial>, BINARY, macros, CHANGEDSINCE).
 */
#include "imap_cmd.h"

#include <stdlib.h>
#include <string.h>

#include "imap_cmd_int.h"
#include "imap_mutf7.h"

/* ---- typed arguments ---- */

const struct imap_node *
ic_node(const struct parser *ps, size_t idx)
{
	return idx == IMAP_NODE_NONE ? NULL : &ps->nodes[idx];
}

const struct imap_node *
ic_next(const struct parser *ps, const struct imap_node *n)
{
	return n == NULL ? NULL : ic_node(ps, n->next);
}

bool
ic_is_atom(const struct imap_node *n, const char *kw)
{
	return n != NULL && n->type == IMAP_NODE_ATOM && ic_ieq(&n->s, kw);
}

/* astring: an atom, a quoted string or a (non-binary) literal. */
bool
ic_astring(const struct imap_node *n, struct imap_str *out)
{
	if (n == NULL || n->type == IMAP_NODE_LIST || n->literal8)
		return false;
	*out = n->s;
	return n->type != IMAP_NODE_ATOM || n->s.len > 0;
}

/* nz-number (RFC 9051 §9): no leading zero, fits 32 bits. */
static bool
ic_nz_number(const char *p, size_t len, uint32_t *v)
{
	uint64_t n;

	if (len == 0 || p[0] == '0' || !ic_parse_u64(p, len, UINT32_MAX, &n))
		return false;
	*v = (uint32_t)n;
	return true;
}

bool
ic_number_node(const struct imap_node *n, uint64_t max, uint64_t *v)
{
	return n != NULL && n->type == IMAP_NODE_ATOM &&
	    ic_parse_u64(n->s.p, n->s.len, max, v);
}


enum imap_cmd_err
ic_mailbox(struct parser *ps, const struct imap_node *n, struct imap_str *out)
{
	struct imap_str raw;
	size_t cap, len, i;
	char *buf;

	if (!ic_astring(n, &raw))
		return IMAP_CMD_E_SYNTAX;
	if (ic_ieq(&raw, "INBOX")) {
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
		if ((buf = ic_alloc(ps->c, cap + 1)) == NULL)
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
	if ((buf = ic_alloc(ps->c, cap + 1)) == NULL)
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
	return ic_nz_number(p, len, v);
}

enum imap_cmd_err
ic_seqset(struct parser *ps, const struct imap_node *n, struct imap_seqset *out)
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
	if ((r = ic_alloc_n(ps->c, count, sizeof(*r))) == NULL)
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
enum imap_cmd_err
ic_flags(struct parser *ps, const struct imap_node *n, size_t count,
    struct imap_flags *out)
{
	struct imap_str *kw;
	size_t i, k;

	memset(out, 0, sizeof(*out));
	if ((kw = ic_alloc_n(ps->c, count, sizeof(*kw))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (i = 0; i < count; i++, n = ic_next(ps, n)) {
		if (n == NULL || n->type != IMAP_NODE_ATOM || !flag_ok(&n->s))
			return IMAP_CMD_E_SYNTAX;
		for (k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]); k++)
			if (ic_ieq(&n->s, sysflags[k].name))
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
	if ((f = ic_alloc_n(ps->c, len, sizeof(*f))) == NULL)
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
			    ic_is_atom_char((unsigned char)s[i]) && s[i] != '[' && s[i] != ']')
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

	if ((parts = ic_alloc_n(ps->c, len / 2 + 1, sizeof(*parts))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	a->part = parts;
	while (i < len && ic_is_digit(s[i])) {
		for (st = i; i < len && ic_is_digit(s[i]); i++)
			;
		if (!ic_nz_number(s + st, i - st, &parts[a->nparts++]))
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
	if (len == 4 && ic_iprefix(s, len, "TEXT"))
		a->text = IMAP_SEC_TEXT;
	else if (len == 6 && ic_iprefix(s, len, "HEADER"))
		a->text = IMAP_SEC_HEADER;
	else if (len == 4 && ic_iprefix(s, len, "MIME") && a->nparts > 0)
		a->text = IMAP_SEC_MIME;
	else if (ic_iprefix(s, len, "HEADER.FIELDS.NOT ")) {
		a->text = IMAP_SEC_HEADER_FIELDS_NOT;
		return header_list(ps, s + 18, len - 18, a);
	} else if (ic_iprefix(s, len, "HEADER.FIELDS ")) {
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
		if (ic_ieq(&n->s, fetch_simple[k].name)) {
			a->kind = fetch_simple[k].kind;
			return IMAP_CMD_OK;
		}
	}
	if ((br = memchr(s, '[', len)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	struct imap_str name = { s, (size_t)(br - s) };

	if (ic_ieq(&name, "BODY"))
		a->kind = IMAP_FETCH_BODY_SECTION;
	else if (ic_ieq(&name, "BODY.PEEK"))
		a->kind = IMAP_FETCH_BODY_SECTION, a->peek = true;
	else if (ic_ieq(&name, "BINARY"))
		a->kind = IMAP_FETCH_BINARY, binary = true;
	else if (ic_ieq(&name, "BINARY.PEEK"))
		a->kind = IMAP_FETCH_BINARY, a->peek = true, binary = true;
	else if (ic_ieq(&name, "BINARY.SIZE"))
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
	    dot == NULL || !ic_parse_u64(s + 1, (size_t)(dot - s - 1), UINT32_MAX, &off) ||
	    !ic_nz_number(dot + 1, (size_t)(s + len - 1 - dot - 1), &a->count))
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

enum imap_cmd_err
ic_fetch_items(struct parser *ps, const struct imap_node *n)
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
	if ((att = ic_alloc_n(ps->c, count + 4, sizeof(*att))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	ps->c->fetch.att = att;
	ps->c->fetch.n = 0;
	if (n->type == IMAP_NODE_ATOM) {
		/* The macros stand alone (RFC 9051 §6.4.5). */
		bool all = ic_ieq(&n->s, "ALL"), full = ic_ieq(&n->s, "FULL");

		if (all || full || ic_ieq(&n->s, "FAST")) {
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
		it = ic_node(ps, n->child);
	} else {
		return IMAP_CMD_E_SYNTAX;
	}
	for (i = 0; i < count; i++, it = ic_next(ps, it)) {
		if ((e = fetch_att(ps, it, &att[i])) != IMAP_CMD_OK)
			return e;
	}
	ps->c->fetch.n = count;
	return IMAP_CMD_OK;
}

/* fetch-modifiers (RFC 7162 §3.1.4.1, §3.2.6): (CHANGEDSINCE n [VANISHED]) */
enum imap_cmd_err
ic_fetch_mods(struct parser *ps, const struct imap_node *n)
{
	const struct imap_node *m;

	if (n == NULL)
		return IMAP_CMD_OK;
	if (n->type != IMAP_NODE_LIST || n->count == 0 || ic_next(ps, n) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (m = ic_node(ps, n->child); m != NULL; m = ic_next(ps, m)) {
		if (ic_is_atom(m, "CHANGEDSINCE") && !ps->c->fetch.changedsince_set) {
			m = ic_next(ps, m);
			if (!ic_number_node(m, MODSEQ_MAX, &ps->c->fetch.changedsince))
				return IMAP_CMD_E_NUMBER;
			ps->c->fetch.changedsince_set = true;
		} else if (ic_is_atom(m, "VANISHED") && !ps->c->fetch.vanished) {
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
