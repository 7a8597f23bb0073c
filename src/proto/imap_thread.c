/*
 * imap_thread: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (see
 * imap_sort.h).
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

#include "imap_sort_int.h"
/* ------------------------------------------------------------------ */
/* THREAD */

bool
imap_thread_alg_parse(const char *s, size_t len, enum imap_thread_alg *r)
{
	if (len == 14 && imap_sort_ieq_prefix(s, len, "orderedsubject"))
		*r = IMAP_THREAD_ORDEREDSUBJECT;
	else if (len == 10 && imap_sort_ieq_prefix(s, len, "references"))
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

/*
 * After step 1: no thread deeper than THREAD_DEPTH_MAX. The containers
 * below that depth are cut off as threads of their own, so that the
 * recursive steps after (prune, sort, write) need little stack whatever
 * a mailbox's References say (a chain of 100,000 replies is one APPEND
 * loop away). Breadth first from the roots, with a queue, not recursion.
 */
#define THREAD_DEPTH_MAX 1000

static int
cap_depth(struct thr *t)
{
	long *queue = calloc(t->nc ? t->nc : 1, sizeof(*queue));
	unsigned *depth = calloc(t->nc ? t->nc : 1, sizeof(*depth));
	size_t head = 0, tail = 0, k;

	if (queue == NULL || depth == NULL) {
		free(queue);
		free(depth);
		return -1;
	}
	for (k = 0; k < t->nc; k++)
		if (t->c[k].parent < 0)
			queue[tail++] = (long)k;
	while (head < tail) {
		long p = queue[head++], *pp = &t->c[p].child;

		while (*pp >= 0) {
			long ch = *pp;

			if (depth[p] + 1 > THREAD_DEPTH_MAX) {
				/* a thread of its own from here */
				*pp = t->c[ch].next;
				t->c[ch].next = -1;
				t->c[ch].parent = -1;
				depth[ch] = 0;
			} else {
				depth[ch] = depth[p] + 1;
				pp = &t->c[ch].next;
			}
			if (tail < t->nc)
				queue[tail++] = ch;
		}
	}
	free(queue);
	free(depth);
	return 0;
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
		if (link_refs(&t) < 0 || cap_depth(&t) < 0)
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
