/*
 * maildirsize: the Maildir++ quota file (see maildirsize.h).
 *
 * Dovecot 2.3 reads a line after the header with sscanf("%lld %d"), so
 * it also takes leading blanks, a '+', and anything after the second
 * number. We take only what the writers write, "-?digits -?digits" with
 * one space, and anything else sends the file to recalculation: that
 * costs a directory scan, never a wrong quota. Also unlike Dovecot, a
 * file with no line after the header is recalculated (Dovecot reads its
 * usage as 0 and 0, though its code means to rebuild it). A header part
 * that does not read is ignored, as in Dovecot, and header_ok says so.
 */
#include "maildirsize.h"

#include <inttypes.h>
#include <string.h>

#include "../common/str.h"

/* "-?digits" at s[*i..n) within [min, max]; advances *i. */
static bool
take_int(const char *s, size_t n, size_t *i, int64_t min, int64_t max,
    int64_t *v_r)
{
	bool neg = false;
	int64_t v = 0;
	size_t start;

	if (*i < n && s[*i] == '-') {
		neg = true;
		(*i)++;
	}
	start = *i;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		int d = s[*i] - '0';

		/* Accumulated negatively, so that INT64_MIN reads too. */
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_sub_overflow(v, d, &v))
			return false;
		(*i)++;
	}
	if (*i == start)
		return false;
	if (!neg) {
		if (v == INT64_MIN)
			return false;
		v = -v;
	}
	if (v < min || v > max)
		return false;
	*v_r = v;
	return true;
}

/* "<n>S,<n>C" in any order, parts optional, 0 meaning no limit. */
static void
header(const char *l, size_t n, struct maildirsize *m)
{
	size_t i = 0;

	m->header_ok = n > 0;
	while (i <= n) {
		size_t end = i;
		uint64_t v = 0;
		bool ok = true;

		while (end < n && l[end] != ',')
			end++;
		if (end - i < 2 || (l[end - 1] != 'S' && l[end - 1] != 'C'))
			ok = false;
		for (size_t j = i; ok && j < end - 1; j++) {
			if (l[j] < '0' || l[j] > '9' ||
			    __builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, (uint64_t)(l[j] - '0'), &v))
				ok = false;
		}
		if (!ok) {
			m->header_ok = false;
		} else {
			/* Dovecot keeps limits in a signed 64-bit int. */
			if (v > INT64_MAX)
				v = INT64_MAX;
			if (l[end - 1] == 'S')
				m->bytes_limit = v;
			else
				m->count_limit = v;
		}
		i = end + 1;
	}
}

unsigned
maildirsize_parse(const char *data, size_t len, struct maildirsize *out)
{
	size_t used = len, pos, n;
	const char *lf;

	memset(out, 0, sizeof(*out));
	if (len >= MAILDIRSIZE_RECALC_SIZE)
		out->recalc |= MAILDIRSIZE_RECALC_SIZE_REACHED;
	/* Only whole lines count. */
	while (used > 0 && data[used - 1] != '\n')
		used--;
	if (memchr(data, '\0', used) != NULL) {
		out->recalc |= MAILDIRSIZE_RECALC_MALFORMED;
		return out->recalc;
	}
	if (used == 0) {
		out->recalc |= MAILDIRSIZE_RECALC_EMPTY;
		return out->recalc;
	}
	lf = memchr(data, '\n', used);
	header(data, (size_t)(lf - data), out);
	for (pos = (size_t)(lf - data) + 1; pos < used; pos += n + 1) {
		const char *l = data + pos;
		int64_t b, c;
		size_t i = 0;

		n = (size_t)((const char *)memchr(l, '\n', used - pos) - l);
		if (!take_int(l, n, &i, INT64_MIN, INT64_MAX, &b) ||
		    i >= n || l[i++] != ' ' ||
		    !take_int(l, n, &i, INT32_MIN, INT32_MAX, &c) || i != n ||
		    __builtin_add_overflow(out->bytes, b, &out->bytes) ||
		    __builtin_add_overflow(out->count, c, &out->count)) {
			out->recalc |= MAILDIRSIZE_RECALC_MALFORMED;
			return out->recalc;
		}
		out->lines++;
	}
	if (out->lines == 0)
		out->recalc |= MAILDIRSIZE_RECALC_EMPTY;
	if (out->bytes < 0 || out->count < 0)
		out->recalc |= MAILDIRSIZE_RECALC_NEGATIVE;
	return out->recalc;
}

bool
maildirsize_over_quota_stale(const struct maildirsize *m, uint64_t bytes_limit,
    uint64_t count_limit, int64_t mtime, int64_t now)
{
	bool over = (bytes_limit != 0 && m->bytes > 0 &&
	    (uint64_t)m->bytes > bytes_limit) ||
	    (count_limit != 0 && m->count > 0 && (uint64_t)m->count > count_limit);

	return over && (m->lines > 1 || mtime < now - MAILDIRSIZE_STALE_SECS);
}

size_t
maildirsize_header(uint64_t bytes_limit, uint64_t count_limit, char *out,
    size_t outsize)
{
	int rc;

	if (count_limit == 0)
		rc = str_fmt(out, outsize, "%" PRIu64 "S\n", bytes_limit);
	else if (bytes_limit == 0)
		rc = str_fmt(out, outsize, "%" PRIu64 "C\n", count_limit);
	else
		rc = str_fmt(out, outsize, "%" PRIu64 "S,%" PRIu64 "C\n",
		    bytes_limit, count_limit);
	return rc == 0 ? strlen(out) : 0;
}

size_t
maildirsize_delta(int64_t bytes, int64_t count, char *out, size_t outsize)
{
	if (count < INT32_MIN || count > INT32_MAX ||
	    str_fmt(out, outsize, "%" PRId64 " %" PRId64 "\n", bytes, count) != 0)
		return 0;
	return strlen(out);
}
