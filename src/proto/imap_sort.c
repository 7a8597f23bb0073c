/*
 * imap_sort: SORT, base subjects and THREAD (see imap_sort.h).
 *
 * THREAD=REFERENCES follows RFC 5256 §2's steps in order; the step
 * numbers are in the comments. Containers (messages and the dummies
 * that stand for referenced messages we do not have) live in one
 * growable array and are linked by index: parent, first child, next
 * sibling. The recursion over a thread is as deep as its longest reply
 * chain.
 */
#include "imap_sort.h"

#include <stdlib.h>
#include <string.h>

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool
ieq_prefix(const char *s, size_t len, const char *lit)
{
	size_t i, n = strlen(lit);

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
		if (lower(s[i]) != lit[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* base subject, RFC 5256 §2.1 */

/* A subj-blob at s: "[" *BLOBCHAR "]" *WSP; its length or 0. */
static size_t
blob(const char *s, size_t len)
{
	size_t i = 1;

	if (len == 0 || s[0] != '[')
		return 0;
	while (i < len && s[i] != '[' && s[i] != ']')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	for (i++; i < len && s[i] == ' '; i++)
		;
	return i;
}

/* A subj-leader's *subj-blob subj-refwd at s; its length or 0. */
static size_t
refwd_leader(const char *s, size_t len)
{
	size_t i = 0, b;

	while ((b = blob(s + i, len - i)) > 0)
		i += b;
	if (ieq_prefix(s + i, len - i, "re"))
		i += 2;
	else if (ieq_prefix(s + i, len - i, "fwd"))
		i += 3;
	else if (ieq_prefix(s + i, len - i, "fw"))
		i += 2;
	else
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	i += blob(s + i, len - i);
	return i < len && s[i] == ':' ? i + 1 : 0;
}

char *
imap_base_subject(const char *subj, size_t len, size_t *len_r, bool *reply_r)
{
	char *w, *folded;
	size_t i, n = 0, start = 0, b;
	bool reply = false, again;

	if ((w = malloc(len + 1)) == NULL)
		return NULL;
	/* (1) every run of whitespace one space */
	for (i = 0; i < len; i++) {
		char c = subj[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && n > 0 && w[n - 1] == ' ')
			continue;
		w[n++] = c;
	}
	do {
		/* (2) trailers: "(fwd)" and whitespace */
		for (;;) {
			if (n > start && w[n - 1] == ' ')
				n--;
			else if (n - start >= 5 && ieq_prefix(w + n - 5, 5, "(fwd)")) {
				n -= 5;
				reply = true;
			} else
				break;
		}
		/* (3), (4), (5): leaders, then a blob if something is left */
		do {
			again = false;
			while (start < n && w[start] == ' ') {
				start++;
				again = true;
			}
			if ((b = refwd_leader(w + start, n - start)) > 0) {
				start += b;
				reply = again = true;
			} else if ((b = blob(w + start, n - start)) > 0 && start + b < n) {
				start += b;
				again = true;
			}
		} while (again);
		/* (6) a "[fwd: ...]" wrapper */
		again = n - start >= 6 && ieq_prefix(w + start, n - start, "[fwd:") &&
		    w[n - 1] == ']';
		if (again) {
			start += 5;
			n--;
			reply = true;
		}
	} while (again);
	folded = imap_search_fold(w + start, n - start, len_r);
	if (folded == NULL && n > start) {
		/* not UTF-8: compared as it is, with ASCII case folded */
		folded = malloc(n - start + 1);
		if (folded != NULL) {
			for (i = start; i < n; i++)
				folded[i - start] = lower(w[i]);
			folded[n - start] = '\0';
			*len_r = n - start;
		}
	}
	free(w);
	if (reply_r != NULL)
		*reply_r = reply;
	return folded;
}

/* ------------------------------------------------------------------ */
/* SORT */

int
imap_sort_parse(const struct imap_tok *toks, size_t ntoks,
    struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT], size_t *consumed_r,
    size_t *err_tok_r)
{
	static const struct { const char *name; enum imap_sort_key key; } keys[] = {
		{ "arrival", IMAP_SORT_ARRIVAL }, { "cc", IMAP_SORT_CC },
		{ "date", IMAP_SORT_DATE }, { "from", IMAP_SORT_FROM },
		{ "size", IMAP_SORT_SIZE }, { "subject", IMAP_SORT_SUBJECT },
		{ "to", IMAP_SORT_TO }, { "displayfrom", IMAP_SORT_DISPLAYFROM },
		{ "displayto", IMAP_SORT_DISPLAYTO },
	};
	size_t i = 0, k, n = 0;
	bool rev = false;

	if (ntoks == 0 || toks[0].type != IMAP_TOK_LPAREN)
		goto bad;
	for (i = 1; i < ntoks; i++) {
		const struct imap_tok *t = &toks[i];

		if (t->type == IMAP_TOK_RPAREN) {
			if (n == 0 || rev)
				goto bad;
			*consumed_r = i + 1;
			return (int)n;
		}
		if (t->type != IMAP_TOK_ATOM)
			goto bad;
		if (t->len == 7 && ieq_prefix(t->s, t->len, "reverse")) {
			if (rev)
				goto bad;
			rev = true;
			continue;
		}
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (t->len == strlen(keys[k].name) && ieq_prefix(t->s, t->len, keys[k].name))
				break;
		if (k == sizeof(keys) / sizeof(keys[0]) || n == IMAP_SORT_MAX_CRIT)
			goto bad;
		crit[n].key = keys[k].key;
		crit[n++].reverse = rev;
		rev = false;
	}
bad:
	*err_tok_r = i;
	return -1;
}

struct sort_ctx {
	const struct imap_msgdesc *msgs;
	const struct imap_sort_crit *crit;
	size_t ncrit;
	char **subj, **dfrom, **dto;    /* folded, per message */
	size_t *subj_len, *dfrom_len, *dto_len;
};

static int
cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* i;ascii-casemap */
static int
cmp_ascii(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	for (i = 0; i < alen && i < blen; i++)
		if (lower(a[i]) != lower(b[i]))
			return (unsigned char)lower(a[i]) - (unsigned char)lower(b[i]);
	return (alen > blen) - (alen < blen);
}

static int
cmp_num(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int
cmp_crit(const struct sort_ctx *c, size_t x, size_t y)
{
	const struct imap_msgdesc *a = &c->msgs[x], *b = &c->msgs[y];
	size_t i;
	int r = 0;

	for (i = 0; i < c->ncrit && r == 0; i++) {
		switch (c->crit[i].key) {
		case IMAP_SORT_ARRIVAL: r = cmp_num(a->arrival, b->arrival); break;
		case IMAP_SORT_DATE: r = cmp_num(a->date, b->date); break;
		case IMAP_SORT_SIZE: r = (a->size > b->size) - (a->size < b->size); break;
		case IMAP_SORT_CC: r = cmp_ascii(a->cc, a->cc_len, b->cc, b->cc_len); break;
		case IMAP_SORT_FROM: r = cmp_ascii(a->from, a->from_len, b->from, b->from_len); break;
		case IMAP_SORT_TO: r = cmp_ascii(a->to, a->to_len, b->to, b->to_len); break;
		case IMAP_SORT_SUBJECT:
			r = cmp_bytes(c->subj[x], c->subj_len[x], c->subj[y], c->subj_len[y]);
			break;
		case IMAP_SORT_DISPLAYFROM:
			r = cmp_bytes(c->dfrom[x], c->dfrom_len[x], c->dfrom[y], c->dfrom_len[y]);
			break;
		case IMAP_SORT_DISPLAYTO:
			r = cmp_bytes(c->dto[x], c->dto_len[x], c->dto[y], c->dto_len[y]);
			break;
		}
		if (c->crit[i].reverse)
			r = -r;
	}
	/* RFC 5256 §3: an exact tie goes by sequence number */
	return r != 0 ? r : (x > y) - (x < y);
}

/* qsort has no context argument: a merge sort of indexes instead, which
 * is stable, so the tie-break above costs nothing extra. */
static void
merge_sort(const struct sort_ctx *c, size_t *v, size_t *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	merge_sort(c, v, tmp, mid);
	merge_sort(c, v + mid, tmp, n - mid);
	while (i < mid && j < n)
		tmp[k++] = cmp_crit(c, v[i], v[j]) <= 0 ? v[i++] : v[j++];
	while (i < mid)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

/* Folded copies of one string of every message; a NULL string is "". */
static int
fold_all(const struct imap_msgdesc *msgs, size_t n, size_t field,
    char ***out, size_t **lens)
{
	size_t i;

	*out = calloc(n ? n : 1, sizeof(**out));
	*lens = calloc(n ? n : 1, sizeof(**lens));
	if (*out == NULL || *lens == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const struct imap_msgdesc *m = &msgs[i];
		const char *s;
		size_t len;

		switch (field) {
		case 0: s = m->subject; len = m->subject_len; break;
		case 1: s = m->display_from; len = m->display_from_len; break;
		default: s = m->display_to; len = m->display_to_len; break;
		}
		if (s == NULL)
			len = 0;
		if (field == 0)
			(*out)[i] = imap_base_subject(s ? s : "", len, &(*lens)[i], NULL);
		else {
			(*out)[i] = imap_search_fold(s ? s : "", len, &(*lens)[i]);
			if ((*out)[i] == NULL)   /* not UTF-8: the base subject's fallback */
				(*out)[i] = imap_base_subject(s, len, &(*lens)[i], NULL);
		}
		if ((*out)[i] == NULL)
			return -1;
	}
	return 0;
}

static void
free_all(char **v, size_t *lens, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
	free(lens);
}

int
imap_sort(const struct imap_msgdesc *msgs, size_t n,
    const struct imap_sort_crit *crit, size_t ncrit, size_t *order_r)
{
	struct sort_ctx c = { .msgs = msgs, .crit = crit, .ncrit = ncrit };
	size_t i, *tmp = calloc(n ? n : 1, sizeof(*tmp));
	int rc = -1;

	if (tmp == NULL)
		return -1;
	for (i = 0; i < n; i++)
		order_r[i] = i;
	for (i = 0; i < ncrit; i++) {
		if (crit[i].key == IMAP_SORT_SUBJECT && c.subj == NULL &&
		    fold_all(msgs, n, 0, &c.subj, &c.subj_len) < 0)
			goto out;
		if (crit[i].key == IMAP_SORT_DISPLAYFROM && c.dfrom == NULL &&
		    fold_all(msgs, n, 1, &c.dfrom, &c.dfrom_len) < 0)
			goto out;
		if (crit[i].key == IMAP_SORT_DISPLAYTO && c.dto == NULL &&
		    fold_all(msgs, n, 2, &c.dto, &c.dto_len) < 0)
			goto out;
	}
	merge_sort(&c, order_r, tmp, n);
	rc = 0;
out:
	free_all(c.subj, c.subj_len, n);
	free_all(c.dfrom, c.dfrom_len, n);
	free_all(c.dto, c.dto_len, n);
	free(tmp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* THREAD */

bool
imap_thread_alg_parse(const char *s, size_t len, enum imap_thread_alg *r)
{
	if (len == 14 && ieq_prefix(s, len, "orderedsubject"))
		*r = IMAP_THREAD_ORDEREDSUBJECT;
	else if (len == 10 && ieq_prefix(s, len, "references"))
		*r = IMAP_THREAD_REFERENCES;
	else
		return false;
	return true;
}

struct cont {
	long msg;             /* index into msgs; -1 for a dummy */
	long parent, child, next;
	const char *id;       /* Message-ID, borrowed */
	size_t id_len;
};

struct thr {
	const struct imap_msgdesc *msgs;
	size_t n;
	struct cont *c;
	size_t nc, capc;
	long *hash;           /* id_table: open addressing, -1 free */
	size_t hcap;
	char **subj;          /* base subjects, folded */
	size_t *subj_len;
	bool *reply;
};

/* Room for extra containers more, so that pointers into the array stay
 * good while they are made. */
static int
cont_reserve(struct thr *t, size_t extra)
{
	struct cont *c;

	if (t->capc >= t->nc + extra)
		return 0;
	if ((c = realloc(t->c, (t->nc + extra) * sizeof(*c))) == NULL)
		return -1;
	t->c = c;
	t->capc = t->nc + extra;
	return 0;
}

static long
cont_new(struct thr *t, long msg)
{
	struct cont *c;

	if (t->nc == t->capc) {
		size_t cap = t->capc ? t->capc * 2 : 16;

		if ((c = realloc(t->c, cap * sizeof(*c))) == NULL)
			return -1;
		t->c = c;
		t->capc = cap;
	}
	c = &t->c[t->nc];
	c->msg = msg;
	c->parent = c->child = c->next = -1;
	c->id = NULL;
	c->id_len = 0;
	return (long)t->nc++;
}

static size_t
hash_id(const char *s, size_t len)
{
	size_t h = 14695981039346656037ull;

	while (len-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* The slot of id in the table: its container, or -1 where it would go. */
static long *
id_slot(struct thr *t, const char *id, size_t len)
{
	size_t h = hash_id(id, len) & (t->hcap - 1);

	for (;; h = (h + 1) & (t->hcap - 1)) {
		long k = t->hash[h];

		if (k < 0 || (t->c[k].id_len == len && memcmp(t->c[k].id, id, len) == 0))
			return &t->hash[h];
	}
}

/* The container for id, a new dummy when there is none. */
static long
id_get(struct thr *t, const char *id, size_t len)
{
	long *slot = id_slot(t, id, len), k;

	if (*slot >= 0)
		return *slot;
	if ((k = cont_new(t, -1)) < 0)
		return -1;
	t->c[k].id = id;
	t->c[k].id_len = len;
	*slot = k;
	return k;
}

/* The next "<...>" of s from *pos, without checking it further. */
static bool
next_msgid(const char *s, size_t len, size_t *pos, const char **id, size_t *idlen)
{
	const char *lt, *gt;

	if (s == NULL || *pos >= len)
		return false;
	lt = memchr(s + *pos, '<', len - *pos);
	if (lt == NULL)
		return false;
	gt = memchr(lt, '>', len - (size_t)(lt - s));
	if (gt == NULL)
		return false;
	*id = lt;
	*idlen = (size_t)(gt - lt) + 1;
	*pos = (size_t)(gt - s) + 1;
	return true;
}

static bool
is_ancestor(const struct thr *t, long anc, long k)
{
	for (; k >= 0; k = t->c[k].parent)
		if (k == anc)
			return true;
	return false;
}

static void
unlink_cont(struct thr *t, long k)
{
	long p = t->c[k].parent, *pp;

	if (p < 0)
		return;
	for (pp = &t->c[p].child; *pp != k; pp = &t->c[*pp].next)
		;
	*pp = t->c[k].next;
	t->c[k].parent = t->c[k].next = -1;
}

static void
add_child(struct thr *t, long p, long k)
{
	long *pp;

	for (pp = &t->c[p].child; *pp >= 0; pp = &t->c[*pp].next)
		;
	*pp = k;
	t->c[k].parent = p;
	t->c[k].next = -1;
}

/* (1) id_table, links from References / In-Reply-To. */
static int
link_refs(struct thr *t)
{
	size_t i, refs = 0, pos;
	const char *id;
	size_t idlen;

	for (i = 0; i < t->n; i++) {
		const struct imap_msgdesc *m = &t->msgs[i];

		for (pos = 0; next_msgid(m->references, m->references_len, &pos, &id, &idlen); )
			refs++;
		refs += 2;   /* its own id, one In-Reply-To */
	}
	for (t->hcap = 16; t->hcap < refs * 2; t->hcap *= 2)
		;
	if ((t->hash = malloc(t->hcap * sizeof(*t->hash))) == NULL)
		return -1;
	memset(t->hash, 0xff, t->hcap * sizeof(*t->hash));   /* all -1 */
	for (i = 0; i < t->n; i++) {
		const struct imap_msgdesc *m = &t->msgs[i];
		long k = -1, prev = -1, r;
		bool any = false;

		/* (1A) a message's own container: the dummy its id already
		 * has, or a new one; no id, or one taken, gets none */
		pos = 0;
		if (next_msgid(m->message_id, m->message_id_len, &pos, &id, &idlen)) {
			long *slot = id_slot(t, id, idlen);

			if (*slot >= 0 && t->c[*slot].msg < 0) {
				k = *slot;
				t->c[k].msg = (long)i;
			} else if (*slot < 0) {
				if ((k = cont_new(t, (long)i)) < 0)
					return -1;
				t->c[k].id = id;
				t->c[k].id_len = idlen;
				*id_slot(t, id, idlen) = k;
			}
		}
		if (k < 0 && (k = cont_new(t, (long)i)) < 0)
			return -1;
		/* References, or else the first id of In-Reply-To; each
		 * linked to the one before unless either has a parent
		 * already or a loop would come of it */
		pos = 0;
		while (next_msgid(m->references, m->references_len, &pos, &id, &idlen)) {
			any = true;
			if ((r = id_get(t, id, idlen)) < 0)
				return -1;
			if (prev >= 0 && prev != r && t->c[r].parent < 0 && !is_ancestor(t, r, prev))
				add_child(t, prev, r);
			prev = r;
		}
		pos = 0;
		if (!any && next_msgid(m->in_reply_to, m->in_reply_to_len, &pos, &id, &idlen) &&
		    (prev = id_get(t, id, idlen)) < 0)
			return -1;
		/* (1B) the last reference is the parent, replacing any */
		if (prev >= 0 && (prev == k || is_ancestor(t, k, prev)))
			continue;
		unlink_cont(t, k);
		if (prev >= 0)
			add_child(t, prev, k);
	}
	return 0;
}

/* (4) prune the list at *head (children of parent). */
static void
prune(struct thr *t, long *head, long parent)
{
	long *pp = head;

	while (*pp >= 0) {
		long k = *pp, ch, last, cnt = 0;

		prune(t, &t->c[k].child, k);
		if (t->c[k].msg >= 0) {
			pp = &t->c[k].next;
			continue;
		}
		for (ch = t->c[k].child; ch >= 0; ch = t->c[ch].next)
			cnt++;
		if (cnt == 0) {
			*pp = t->c[k].next;
			continue;
		}
		if (parent < 0 && cnt > 1) {
			pp = &t->c[k].next;
			continue;
		}
		/* splice the children in where the dummy was; look at them
		 * again, as they are now at this level */
		for (ch = t->c[k].child, last = -1; ch >= 0; last = ch, ch = t->c[ch].next)
			t->c[ch].parent = parent;
		t->c[last].next = t->c[k].next;
		*pp = t->c[k].child;
		t->c[k].child = -1;
		pp = &t->c[last].next;
	}
}

/* The message whose subject and date a container stands for. */
static long
first_msg(const struct thr *t, long k)
{
	while (t->c[k].msg < 0 && t->c[k].child >= 0)
		k = t->c[k].child;
	return t->c[k].msg;
}

static int
cmp_date(const struct thr *t, long a, long b)
{
	long ma = first_msg(t, a), mb = first_msg(t, b);
	int64_t da = t->msgs[ma].date, db = t->msgs[mb].date;

	if (da != db)
		return da < db ? -1 : 1;
	return (ma > mb) - (ma < mb);
}

/* Siblings by date: a merge sort of the linked list. */
static long
sort_siblings(struct thr *t, long head)
{
	long a = -1, b = -1, *tail, k, nxt;
	bool to_a = true;

	if (head < 0 || t->c[head].next < 0)
		return head;
	for (k = head; k >= 0; k = nxt, to_a = !to_a) {
		nxt = t->c[k].next;
		t->c[k].next = to_a ? a : b;
		if (to_a)
			a = k;
		else
			b = k;
	}
	a = sort_siblings(t, a);
	b = sort_siblings(t, b);
	tail = &head;
	while (a >= 0 && b >= 0) {
		if (cmp_date(t, a, b) <= 0) {
			*tail = a;
			a = t->c[a].next;
		} else {
			*tail = b;
			b = t->c[b].next;
		}
		tail = &t->c[*tail].next;
	}
	*tail = a >= 0 ? a : b;
	return head;
}

/* (6) children first, so that a dummy's first child is its earliest. */
static long
sort_tree(struct thr *t, long head)
{
	long k;

	for (k = head; k >= 0; k = t->c[k].next)
		t->c[k].child = sort_tree(t, t->c[k].child);
	return sort_siblings(t, head);
}

static int
base_subjects(struct thr *t)
{
	size_t i;

	t->subj = calloc(t->n, sizeof(*t->subj));
	t->subj_len = calloc(t->n, sizeof(*t->subj_len));
	t->reply = calloc(t->n, sizeof(*t->reply));
	if (t->subj == NULL || t->subj_len == NULL || t->reply == NULL)
		return -1;
	for (i = 0; i < t->n; i++) {
		const struct imap_msgdesc *m = &t->msgs[i];

		t->subj[i] = imap_base_subject(m->subject ? m->subject : "",
		    m->subject ? m->subject_len : 0, &t->subj_len[i], &t->reply[i]);
		if (t->subj[i] == NULL)
			return -1;
	}
	return 0;
}

/* (5) the root set (a list from *roots) grouped by base subject. The
 * subject table is a hash of message indexes to root containers. */
static int
group_subjects(struct thr *t, long *roots)
{
	size_t cap, h, mi;
	long *tab, k, *pp;

	/* each merge makes at most one dummy: room for them now, as pp
	 * below points into the array and must not move */
	if (cont_reserve(t, t->n) < 0)
		return -1;
	for (cap = 16; cap < t->n * 2; cap *= 2)
		;
	if ((tab = malloc(cap * sizeof(*tab))) == NULL)
		return -1;
	memset(tab, 0xff, cap * sizeof(*tab));
#define SLOT(m) do { \
	for (h = hash_id(t->subj[m], t->subj_len[m]) & (cap - 1); tab[h] >= 0; \
	    h = (h + 1) & (cap - 1)) { \
		long o = first_msg(t, tab[h]); \
		if (t->subj_len[o] == t->subj_len[m] && \
		    memcmp(t->subj[o], t->subj[m], t->subj_len[m]) == 0) \
			break; \
	} \
} while (0)
	/* (5B, C) one root per subject: a dummy before a message, a
	 * message that is no reply before one that is */
	for (k = *roots; k >= 0; k = t->c[k].next) {
		mi = (size_t)first_msg(t, k);
		if (t->subj_len[mi] == 0)
			continue;
		SLOT(mi);
		if (tab[h] < 0 ||
		    (t->c[k].msg < 0 && t->c[tab[h]].msg >= 0) ||
		    (t->c[tab[h]].msg >= 0 && t->c[k].msg >= 0 &&
		    t->reply[t->c[tab[h]].msg] && !t->reply[mi]))
			tab[h] = k;
	}
	/* (5E) the other roots of a subject merged into the table's */
	for (pp = roots; *pp >= 0; ) {
		long o, d, ch;

		k = *pp;
		mi = (size_t)first_msg(t, k);
		if (t->subj_len[mi] == 0)
			goto keep;
		SLOT(mi);
		o = tab[h];
		if (o == k)
			goto keep;
		*pp = t->c[k].next;    /* k leaves the root set */
		t->c[k].next = -1;
		if (t->c[o].msg < 0 && t->c[k].msg < 0) {
			while ((ch = t->c[k].child) >= 0) {
				t->c[k].child = t->c[ch].next;
				add_child(t, o, ch);
			}
		} else if (t->c[o].msg < 0) {
			add_child(t, o, k);
		} else if (t->c[k].msg >= 0 && !t->reply[t->c[o].msg] && t->reply[mi]) {
			add_child(t, o, k);
		} else {
			/* a new dummy in o's place, o and k its children */
			long *op;

			if ((d = cont_new(t, -1)) < 0) {
				free(tab);
				return -1;
			}
			for (op = roots; *op != o; op = &t->c[*op].next)
				;
			*op = d;
			t->c[d].next = t->c[o].next;
			t->c[o].next = -1;
			add_child(t, d, o);
			add_child(t, d, k);
			tab[h] = d;
			/* pp may have pointed into o's next: walk again from d */
			if (pp == &t->c[o].next)
				pp = &t->c[d].next;
		}
		continue;
keep:
		pp = &t->c[k].next;
	}
#undef SLOT
	free(tab);
	return 0;
}

static int
write_node(const struct thr *t, long k, struct buf *out)
{
	long ch = t->c[k].child;
	bool dummy = t->c[k].msg < 0;

	if (!dummy && buf_printf(out, "%u", (unsigned)t->msgs[t->c[k].msg].id) < 0)
		return -1;
	if (ch < 0)
		return 0;
	if (!dummy && buf_append_char(out, ' ') < 0)
		return -1;
	if (t->c[ch].next < 0 && !dummy)
		return write_node(t, ch, out);
	for (; ch >= 0; ch = t->c[ch].next)
		if (buf_append_char(out, '(') < 0 || write_node(t, ch, out) < 0 ||
		    buf_append_char(out, ')') < 0)
			return -1;
	return 0;
}

/* ORDEREDSUBJECT: by base subject, then date; each subject's first
 * message the parent of the rest, threads by their first's date. */
static int
ordered_subject(struct thr *t, long *roots)
{
	struct imap_sort_crit crit[2] = {
		{ IMAP_SORT_SUBJECT, false }, { IMAP_SORT_DATE, false },
	};
	size_t *order = calloc(t->n, sizeof(*order)), i;
	long parent = -1, *tail = roots, k;

	/* tail points into the array: all of it made now */
	if (order == NULL || cont_reserve(t, t->n) < 0 ||
	    imap_sort(t->msgs, t->n, crit, 2, order) < 0) {
		free(order);
		return -1;
	}
	for (i = 0; i < t->n; i++) {
		size_t m = order[i];

		if ((k = cont_new(t, (long)m)) < 0) {
			free(order);
			return -1;
		}
		if (parent >= 0 && t->subj_len[m] == t->subj_len[t->c[parent].msg] &&
		    memcmp(t->subj[m], t->subj[t->c[parent].msg], t->subj_len[m]) == 0)
			add_child(t, parent, k);
		else {
			*tail = k;
			tail = &t->c[k].next;
			parent = k;
		}
	}
	free(order);
	return 0;
}

int
imap_thread(const struct imap_msgdesc *msgs, size_t n,
    enum imap_thread_alg alg, struct buf *out)
{
	struct thr t = { .msgs = msgs, .n = n };
	long roots = -1, *tail, k;
	size_t i;
	int rc = -1;

	if (n == 0)
		return 0;
	if (base_subjects(&t) < 0)
		goto out;
	if (alg == IMAP_THREAD_ORDEREDSUBJECT) {
		if (ordered_subject(&t, &roots) < 0)
			goto out;
	} else {
		if (link_refs(&t) < 0)
			goto out;
		/* (2) the root set; (3) the id_table is done with */
		for (k = 0, tail = &roots; k < (long)t.nc; k++)
			if (t.c[k].parent < 0) {
				*tail = k;
				tail = &t.c[k].next;
			}
		*tail = -1;
		prune(&t, &roots, -1);
		if (group_subjects(&t, &roots) < 0)
			goto out;
	}
	roots = sort_tree(&t, roots);
	for (k = roots; k >= 0; k = t.c[k].next)
		if (buf_append_char(out, '(') < 0 || write_node(&t, k, out) < 0 ||
		    buf_append_char(out, ')') < 0)
			goto out;
	rc = 0;
out:
	for (i = 0; t.subj != NULL && i < n; i++)
		free(t.subj[i]);
	free(t.subj);
	free(t.subj_len);
	free(t.reply);
	free(t.c);
	free(t.hash);
	return rc;
}
