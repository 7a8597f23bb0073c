/*
 * imap_sort: SORT and RFC 5256 base subjects (see imap_sort.h; THREAD is
 * imap_thread.c).
 */
#include "imap_sort.h"
#include "imap_sort_int.h"

#include <stdlib.h>
#include <string.h>

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool
imap_sort_ieq_prefix(const char *s, size_t len, const char *lit)
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
	if (imap_sort_ieq_prefix(s + i, len - i, "re"))
		i += 2;
	else if (imap_sort_ieq_prefix(s + i, len - i, "fwd"))
		i += 3;
	else if (imap_sort_ieq_prefix(s + i, len - i, "fw"))
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
			else if (n - start >= 5 && imap_sort_ieq_prefix(w + n - 5, 5, "(fwd)")) {
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
		again = n - start >= 6 && imap_sort_ieq_prefix(w + start, n - start, "[fwd:") &&
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
		if (t->len == 7 && imap_sort_ieq_prefix(t->s, t->len, "reverse")) {
			if (rev)
				goto bad;
			rev = true;
			continue;
		}
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (t->len == strlen(keys[k].name) && imap_sort_ieq_prefix(t->s, t->len, keys[k].name))
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
