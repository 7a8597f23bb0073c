/*
 * imap_search_eval: a parsed SEARCH (see imap_search.h) evaluated against
 * one message, the case-insensitive UTF-8 matching the text keys use, and
 * IMAP dates (d-Mon-yyyy) as days since 1970.
 */
#include "imap_search.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unistr.h>

#include "imap_search_int.h"

static bool
in_set(const struct imap_search *s, const struct imap_search_node *n,
    uint32_t v, uint32_t max)
{
	size_t i;

	for (i = n->range; i < n->range + n->nrange; i++) {
		uint32_t lo = s->ranges[i].lo, hi = s->ranges[i].hi, t;

		if (lo == IMAP_SEQ_STAR)
			lo = max;
		if (hi == IMAP_SEQ_STAR)
			hi = max;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

static bool
has_keyword(const struct imap_search_msg *m, const char *k, size_t len)
{
	size_t i;

	for (i = 0; i < m->nkeywords; i++)
		if (imap_search_ieq(m->keywords[i].s, m->keywords[i].len, k, len))
			return true;
	return false;
}

static bool
eval(const struct imap_search *s, int32_t idx, const struct imap_search_msg *m)
{
	const struct imap_search_node *n = &s->nodes[idx];
	int32_t c;

	switch (n->kind) {
	case IMAP_SK_ALL:
		return true;
	case IMAP_SK_AND:
		for (c = n->child; c >= 0; c = s->nodes[c].next)
			if (!eval(s, c, m))
				return false;
		return true;
	case IMAP_SK_OR:
		return eval(s, n->child, m) || eval(s, s->nodes[n->child].next, m);
	case IMAP_SK_NOT:
		return !eval(s, n->child, m);
	case IMAP_SK_FLAG_SET:
		return (m->flags & n->flag) == n->flag;
	case IMAP_SK_FLAG_CLEAR:
		return (m->flags & n->flag) == 0;
	case IMAP_SK_NEW:
		return (m->flags & (IMAP_FLAG_RECENT | IMAP_FLAG_SEEN)) == IMAP_FLAG_RECENT;
	case IMAP_SK_KEYWORD:
		return has_keyword(m, n->str, n->str_len);
	case IMAP_SK_UNKEYWORD:
		return !has_keyword(m, n->str, n->str_len);
	case IMAP_SK_BEFORE:
		return m->internal_day < n->day;
	case IMAP_SK_ON:
		return m->internal_day == n->day;
	case IMAP_SK_SINCE:
		return m->internal_day >= n->day;
	case IMAP_SK_SENTBEFORE:
		return m->sent_day < n->day;
	case IMAP_SK_SENTON:
		return m->sent_day == n->day;
	case IMAP_SK_SENTSINCE:
		return m->sent_day >= n->day;
	case IMAP_SK_LARGER:
		return m->size > n->num;
	case IMAP_SK_SMALLER:
		return m->size < n->num;
	case IMAP_SK_SEQ:
		return in_set(s, n, m->seq, m->max_seq);
	case IMAP_SK_UID:
		return in_set(s, n, m->uid, m->max_uid);
	case IMAP_SK_SAVED:
		return m->in_saved;
	case IMAP_SK_MODSEQ:
		return m->modseq >= n->num;
	case IMAP_SK_HEADER:
		return m->header_contains != NULL &&
		    m->header_contains(m->ctx, n->str, n->str_len, n->needle, n->needle_len);
	case IMAP_SK_BODY:
		return m->body_contains != NULL &&
		    m->body_contains(m->ctx, n->needle, n->needle_len);
	case IMAP_SK_TEXT:
		return m->text_contains != NULL &&
		    m->text_contains(m->ctx, n->needle, n->needle_len);
	}
	return false;
}

bool
imap_search_eval(const struct imap_search *s, const struct imap_search_msg *m)
{
	return s->nnodes > 0 && eval(s, 0, m);
}

char *
imap_search_fold(const char *s, size_t len, size_t *out_len)
{
	uint8_t *f;

	if (len == 0) {
		*out_len = 0;
		return calloc(1, 1);
	}
	if (u8_check((const uint8_t *)s, len) != NULL)
		return NULL;
	f = u8_casefold((const uint8_t *)s, len, NULL, NULL, NULL, out_len);
	return (char *)f;
}

/* Text that is not UTF-8: ASCII case only (the needle is folded, and
 * folding takes ASCII to lower case). */
static bool
ascii_contains(const char *needle, size_t nlen, const char *text, size_t tlen)
{
	char first = needle[0];
	char upper = first >= 'a' && first <= 'z' ? (char)(first - 'a' + 'A') : first;
	const char *p = text, *last, *lo, *up;
	size_t j;

	if (tlen < nlen)
		return false;
	last = text + tlen - nlen + 1;     /* candidates start before this */
	/* The next place of the first octet in each case, each kept until
	 * passed: the text is scanned once, not once per candidate. */
	lo = memchr(p, first, (size_t)(last - p));
	up = upper != first ? memchr(p, upper, (size_t)(last - p)) : NULL;
	while (lo || up) {
		const char *q = lo && (!up || lo < up) ? lo : up;

		for (j = 1; j < nlen && imap_search_lower(q[j]) == needle[j]; j++)
			;
		if (j == nlen)
			return true;
		p = q + 1;
		if (q == lo)
			lo = p < last ? memchr(p, first, (size_t)(last - p)) : NULL;
		else
			up = p < last ? memchr(p, upper, (size_t)(last - p)) : NULL;
	}
	return false;
}

static bool
all_ascii(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80)
			return false;
	}
	return true;
}

bool
imap_search_match(const char *needle, size_t needle_len, const char *text,
    size_t text_len)
{
	size_t flen;
	char *folded;
	bool found;

	if (needle_len == 0)
		return true;
	/* ASCII text folds to its lower case: no need to build the fold. */
	if (all_ascii(text, text_len) || u8_check((const uint8_t *)text, text_len) != NULL)
		return ascii_contains(needle, needle_len, text, text_len);
	folded = imap_search_fold(text, text_len, &flen);
	if (folded == NULL)   /* out of memory: still an answer */
		return ascii_contains(needle, needle_len, text, text_len);
	found = memmem(folded, flen, needle, needle_len) != NULL;
	free(folded);
	return found;
}

int32_t
imap_days_from_civil(int y, unsigned m, unsigned d)
{
	/* the proleptic Gregorian calendar, in eras of 400 years */
	int era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + (int)doe - 719468);
}

bool
imap_date_parse(const char *s, size_t len, int32_t *day_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned day = 0, mon, year = 0;
	size_t i = 0, j;

	while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
		day = day * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || len != i + 1 + 3 + 1 + 4 || s[i] != '-' || s[i + 4] != '-')
		return false;
	for (mon = 0; mon < 12; mon++) {
		for (j = 0; j < 3 && imap_search_lower(s[i + 1 + j]) == months[mon * 3 + j]; j++)
			;
		if (j == 3)
			break;
	}
	if (mon == 12)
		return false;
	for (j = i + 5; j < len; j++) {
		if (s[j] < '0' || s[j] > '9')
			return false;
		year = year * 10 + (unsigned)(s[j] - '0');
	}
	if (day == 0 || day > mdays[mon] ||
	    (mon == 1 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
		return false;
	*day_r = imap_days_from_civil((int)year, mon + 1, day);
	return true;
}

const char *
imap_search_strerror(enum imap_search_err e)
{
	switch (e) {
	case IMAP_SEARCH_OK: return "ok";
	case IMAP_SEARCH_SYNTAX: return "syntax error in search keys";
	case IMAP_SEARCH_BADCHARSET: return "charset not supported";
	case IMAP_SEARCH_BAD_UTF8: return "search string is not UTF-8";
	case IMAP_SEARCH_TOO_DEEP: return "search keys nested too deep";
	case IMAP_SEARCH_TOO_BIG: return "too many search keys";
	case IMAP_SEARCH_NOMEM: return "out of memory";
	}
	return "unknown error";
}
