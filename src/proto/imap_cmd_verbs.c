/*
 * imap_cmd_verbs: each command's arguments (RFC 9051, RFC 3501 and the
 * extensions tern serves), read from the tree with imap_cmd_args.c, and
 * the table of commands imap_cmd_parse looks them up in.
 */
#include "imap_cmd.h"

#include <stdlib.h>
#include <string.h>

#include "imap_cmd_int.h"
#include "imap_mutf7.h"

/* ---- commands ---- */


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
	if (a == NULL || ic_next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return ic_seqset(ps, a, &ps->c->seq);
}

/* RFC 4422 §3.1 mechanism names: 1*20 of A-Z 0-9 - _ (any case). */
static bool
sasl_mech(const struct imap_node *n)
{
	size_t i;

	if (n == NULL || n->type != IMAP_NODE_ATOM || n->s.len == 0 || n->s.len > 20)
		return false;
	for (i = 0; i < n->s.len; i++) {
		char c = ic_upper(n->s.p[i]);

		if (!((c >= 'A' && c <= 'Z') || ic_is_digit(c) || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* AUTHENTICATE mech [initial-response] (RFC 4959: "=" for an empty one) */
static enum imap_cmd_err
h_authenticate(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *ir = ic_next(ps, a);

	if (!sasl_mech(a) || (ir != NULL && (ir->type != IMAP_NODE_ATOM ||
	    ic_next(ps, ir) != NULL)))
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
	const struct imap_node *b = ic_next(ps, a);

	if (!ic_astring(a, &ps->c->arg1) || !ic_astring(b, &ps->c->arg2) ||
	    ic_next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* One or more atoms, left in the tree (ENABLE). */
static enum imap_cmd_err
h_atoms(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL)
		return IMAP_CMD_E_SYNTAX;
	for (; a != NULL; a = ic_next(ps, a))
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
	n = ic_node(ps, l->child);
	if (!ic_number_node(n, UINT32_MAX, &v) || v == 0)
		return IMAP_CMD_E_NUMBER;
	ps->c->select.uidvalidity = (uint32_t)v;
	n = ic_next(ps, n);
	if (!ic_number_node(n, MODSEQ_MAX, &ps->c->select.modseq) ||
	    ps->c->select.modseq == 0)
		return IMAP_CMD_E_NUMBER;
	if ((n = ic_next(ps, n)) == NULL)
		return IMAP_CMD_OK;
	if (n->type == IMAP_NODE_ATOM) {
		if ((e = ic_seqset(ps, n, &ps->c->select.known_uids)) != IMAP_CMD_OK)
			return e;
		n = ic_next(ps, n);
	}
	if (n == NULL)
		return IMAP_CMD_OK;
	if (n->type != IMAP_NODE_LIST || n->count != 2 || ic_next(ps, n) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = ic_seqset(ps, ic_node(ps, n->child), &ps->c->select.match_seq)) != IMAP_CMD_OK)
		return e;
	return ic_seqset(ps, ic_next(ps, ic_node(ps, n->child)), &ps->c->select.match_uids);
}

/* SELECT/EXAMINE mailbox [(CONDSTORE / QRESYNC (...))] (RFC 7162) */
static enum imap_cmd_err
h_select(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = ic_next(ps, a), *p;
	enum imap_cmd_err e;

	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if (l == NULL)
		return IMAP_CMD_OK;
	if (l->type != IMAP_NODE_LIST || l->count == 0 || ic_next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (p = ic_node(ps, l->child); p != NULL; p = ic_next(ps, p)) {
		if (ic_is_atom(p, "CONDSTORE") && !ps->c->select.condstore) {
			ps->c->select.condstore = true;
		} else if (ic_is_atom(p, "QRESYNC") && !ps->c->select.qresync) {
			ps->c->select.qresync = true;
			p = ic_next(ps, p);
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
	const struct imap_node *l = ic_next(ps, a);
	enum imap_cmd_err e;

	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if (l != NULL && (l->type != IMAP_NODE_LIST || ic_next(ps, l) != NULL))
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_mailbox(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL || ic_next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return ic_mailbox(ps, a, &ps->c->mailbox);
}

static enum imap_cmd_err
h_rename(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *b = ic_next(ps, a);
	enum imap_cmd_err e;

	if (b == NULL || ic_next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	return ic_mailbox(ps, b, &ps->c->mailbox2);
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
	for (n = ic_node(ps, l->child); n != NULL; n = ic_next(ps, n)) {
		for (k = 0; k < sizeof(status_items) / sizeof(status_items[0]); k++)
			if (ic_is_atom(n, status_items[k].name))
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
	const struct imap_node *l = ic_next(ps, a);
	enum imap_cmd_err e;

	if (l == NULL || ic_next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
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

	for (n = ic_node(ps, l->child); n != NULL; n = ic_next(ps, n)) {
		for (k = 0; k < nt; k++)
			if (ic_is_atom(n, ret ? list_ret[k].name : list_opts[k].name))
				break;
		if (k == nt)
			return IMAP_CMD_E_SYNTAX;
		ps->c->list.opts |= ret ? list_ret[k].bit : list_opts[k].bit;
		if (ret && list_ret[k].bit == IMAP_LIST_RET_STATUS) {
			n = ic_next(ps, n);
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
		a = ic_next(ps, a);
	}
	/* The reference may be "" (ic_astring() refuses only an empty atom). */
	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	if ((pat = ic_next(ps, a)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	if (pat->type == IMAP_NODE_LIST) {
		if (!extended || pat->count == 0)
			return IMAP_CMD_E_SYNTAX;
		np = pat->count;
		p = ic_node(ps, pat->child);
	} else {
		np = 1;
		p = pat;
	}
	if ((pats = ic_alloc_n(ps->c, np, sizeof(*pats))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	for (i = 0; i < np; i++, p = ic_next(ps, p))
		if ((e = ic_mailbox(ps, p, &pats[i])) != IMAP_CMD_OK)
			return e;
	ps->c->list.patterns = pats;
	ps->c->list.npatterns = np;
	if ((p = ic_next(ps, pat)) == NULL)
		return IMAP_CMD_OK;
	if (!extended || !ic_is_atom(p, "RETURN"))
		return IMAP_CMD_E_SYNTAX;
	p = ic_next(ps, p);
	if (p == NULL || p->type != IMAP_NODE_LIST || ic_next(ps, p) != NULL)
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
	if (!(p[0] == ' ' || ic_is_digit(p[0])) || !ic_is_digit(p[1]) || p[2] != '-' ||
	    p[6] != '-' || p[11] != ' ' || p[14] != ':' || p[17] != ':' ||
	    p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
		return false;
	for (i = 0; i < 36; i += 3)
		if (ic_upper(p[3]) == months[i] && ic_upper(p[4]) == months[i + 1] &&
		    ic_upper(p[5]) == months[i + 2])
			break;
	if (i == 36)
		return false;
	for (i = 7; i < 26; i++) {
		if (i == 11 || i == 14 || i == 17 || i == 20 || i == 21)
			continue;
		if (!ic_is_digit(p[i]))
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

	if ((e = ic_mailbox(ps, a, &ps->c->mailbox)) != IMAP_CMD_OK)
		return e;
	for (n = ic_next(ps, a); n != NULL; n = ic_next(ps, n))
		if (n->type == IMAP_NODE_LITERAL)
			count++;
	if (count == 0)
		return IMAP_CMD_E_SYNTAX;
	if ((msgs = ic_alloc_n(ps->c, count, sizeof(*msgs))) == NULL)
		return IMAP_CMD_E_TOO_MANY;
	ps->c->append = msgs;
	for (n = ic_next(ps, a); n != NULL; n = ic_next(ps, n)) {
		struct imap_append_msg *m;

		/* flags or a date after the last literal */
		if (ps->c->nappend == count)
			return IMAP_CMD_E_SYNTAX;
		m = &msgs[ps->c->nappend];

		if (n->type == IMAP_NODE_LIST) {
			if ((e = ic_flags(ps, ic_node(ps, n->child), n->count, &m->flags)) != IMAP_CMD_OK)
				return e;
			n = ic_next(ps, n);
		}
		if (n != NULL && n->type == IMAP_NODE_QUOTED) {
			if (!date_time(&n->s))
				return IMAP_CMD_E_SYNTAX;
			m->date = n->s;
			n = ic_next(ps, n);
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

	for (; a != NULL; a = ic_next(ps, a))
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
	const struct imap_node *items = ic_next(ps, a);
	enum imap_cmd_err e;

	if ((e = ic_seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK ||
	    (e = ic_fetch_items(ps, items)) != IMAP_CMD_OK)
		return e;
	return ic_fetch_mods(ps, ic_next(ps, items));
}

/* STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags (RFC 7162 §3.1.3) */
static enum imap_cmd_err
h_store(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *n = ic_next(ps, a), *f;
	struct imap_str op;
	size_t count;
	enum imap_cmd_err e;

	if ((e = ic_seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK)
		return e;
	if (n != NULL && n->type == IMAP_NODE_LIST) {
		const struct imap_node *m = ic_node(ps, n->child);

		if (n->count != 2 || !ic_is_atom(m, "UNCHANGEDSINCE"))
			return IMAP_CMD_E_SYNTAX;
		if (!ic_number_node(ic_next(ps, m), MODSEQ_MAX, &ps->c->store.unchangedsince))
			return IMAP_CMD_E_NUMBER;
		ps->c->store.unchangedsince_set = true;
		n = ic_next(ps, n);
	}
	if (n == NULL || n->type != IMAP_NODE_ATOM)
		return IMAP_CMD_E_SYNTAX;
	op = n->s;
	if (op.len > 0 && (op.p[0] == '+' || op.p[0] == '-')) {
		ps->c->store.op = op.p[0] == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		op.p++;
		op.len--;
	}
	if (ic_ieq(&op, "FLAGS.SILENT"))
		ps->c->store.silent = true;
	else if (!ic_ieq(&op, "FLAGS"))
		return IMAP_CMD_E_SYNTAX;
	if ((f = ic_next(ps, n)) == NULL)
		return IMAP_CMD_E_SYNTAX;
	if (f->type == IMAP_NODE_LIST) {
		if (ic_next(ps, f) != NULL)
			return IMAP_CMD_E_SYNTAX;
		return ic_flags(ps, ic_node(ps, f->child), f->count, &ps->c->store.flags);
	}
	for (count = 0, n = f; n != NULL; n = ic_next(ps, n))
		count++;
	return ic_flags(ps, f, count, &ps->c->store.flags);
}

static enum imap_cmd_err
h_copy(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *b = ic_next(ps, a);
	enum imap_cmd_err e;

	if (b == NULL || ic_next(ps, b) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if ((e = ic_seqset(ps, a, &ps->c->seq)) != IMAP_CMD_OK)
		return e;
	return ic_mailbox(ps, b, &ps->c->mailbox);
}

/* ID NIL / ID (field value ...), values strings or NIL (RFC 2971 §3.1) */
static enum imap_cmd_err
h_id(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *n;

	if (a == NULL || ic_next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	if (ic_is_atom(a, "NIL"))
		return IMAP_CMD_OK;
	if (a->type != IMAP_NODE_LIST || a->count % 2 != 0 || a->count > 60)
		return IMAP_CMD_E_SYNTAX;
	for (n = ic_node(ps, a->child); n != NULL; n = ic_next(ps, n))
		if (n->type == IMAP_NODE_LIST ||
		    (n->type == IMAP_NODE_ATOM && !ic_ieq(&n->s, "NIL")))
			return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_compress(struct parser *ps, const struct imap_node *a)
{
	if (a == NULL || a->type != IMAP_NODE_ATOM || ic_next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	ps->c->arg1 = a->s;
	return IMAP_CMD_OK;
}

static enum imap_cmd_err
h_getquota(struct parser *ps, const struct imap_node *a)
{
	if (!ic_astring(a, &ps->c->arg1) || ic_next(ps, a) != NULL)
		return IMAP_CMD_E_SYNTAX;
	return IMAP_CMD_OK;
}

/* SETQUOTA root (resource limit ...) (RFC 9208 §4.3) */
static enum imap_cmd_err
h_setquota(struct parser *ps, const struct imap_node *a)
{
	const struct imap_node *l = ic_next(ps, a), *n;
	uint64_t v;

	if (!ic_astring(a, &ps->c->arg1) || l == NULL || l->type != IMAP_NODE_LIST ||
	    l->count % 2 != 0 || ic_next(ps, l) != NULL)
		return IMAP_CMD_E_SYNTAX;
	for (n = ic_node(ps, l->child); n != NULL; n = ic_next(ps, ic_next(ps, n))) {
		if (n->type != IMAP_NODE_ATOM || n->s.len == 0)
			return IMAP_CMD_E_SYNTAX;
		if (!ic_number_node(ic_next(ps, n), MODSEQ_MAX, &v))
			return IMAP_CMD_E_NUMBER;
	}
	return IMAP_CMD_OK;
}

const struct ic_verb ic_verbs[] = {
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

const size_t ic_nverbs = sizeof(ic_verbs) / sizeof(ic_verbs[0]);
