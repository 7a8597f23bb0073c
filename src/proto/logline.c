/*
 * logline: tern's log lines read back (see the header). The prefix is
 * recognised by shape: a timestamp, then a "prog[pid]:" token, maybe
 * after a host name; anything else is the body. The body's fields are
 * read up to the first word that is no key=value.
 */
#include "logline.h"

#include <string.h>

#include "../common/str.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n digits at s: their value in *v. */
static bool
num(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* "HH:MM:SS" at s (8 octets available). */
static bool
clock_part(const char *s, struct logline_time *t)
{
	return num(s, 2, &t->hour) && s[2] == ':' && num(s + 3, 2, &t->min) &&
	    s[5] == ':' && num(s + 6, 2, &t->sec) && t->hour < 24 && t->min < 60 &&
	    t->sec <= 60;
}

/* ".123456" or ",123": the milliseconds of a fraction; octets taken. */
static size_t
fraction(const char *s, size_t len, struct logline_time *t)
{
	size_t i, n = 0;

	if (len < 2 || (s[0] != '.' && s[0] != ',') || !is_digit(s[1]))
		return 0;
	for (i = 1; i < len && is_digit(s[i]) && i <= 9; i++) {
		if (n < 3) {
			t->msec = t->msec * 10 + (s[i] - '0');
			n++;
		}
	}
	for (; n < 3; n++)
		t->msec *= 10;
	return i;
}

/* "Z", "+HH:MM", "+HHMM" or "+HH"; octets taken. */
static size_t
zone(const char *s, size_t len, struct logline_time *t)
{
	int h, m = 0;
	size_t used;

	if (len >= 1 && s[0] == 'Z') {
		t->have_zone = true;
		return 1;
	}
	if (len < 3 || (s[0] != '+' && s[0] != '-') || !num(s + 1, 2, &h))
		return 0;
	used = 3;
	if (len >= 6 && s[3] == ':' && num(s + 4, 2, &m))
		used = 6;
	else if (len >= 5 && num(s + 3, 2, &m))
		used = 5;
	if (h > 23 || m > 59)
		return 0;
	t->have_zone = true;
	t->zone_min = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
	return used;
}

static size_t
iso_time(const char *s, size_t len, struct logline_time *t)
{
	size_t n;

	if (len < 19 || !num(s, 4, &t->year) || s[4] != '-' || !num(s + 5, 2, &t->mon) ||
	    s[7] != '-' || !num(s + 8, 2, &t->day) || (s[10] != 'T' && s[10] != ' ') ||
	    !clock_part(s + 11, t) || t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > 31)
		return 0;
	n = 19;
	n += fraction(s + n, len - n, t);
	n += zone(s + n, len - n, t);
	t->have_year = true;
	return n;
}

static size_t
syslog_time(const char *s, size_t len, struct logline_time *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	size_t i;

	/* "Mmm dd HH:MM:SS", the day's first digit a blank below 10 */
	if (len < 15 || s[3] != ' ' || s[6] != ' ')
		return 0;
	for (i = 0; i < 12; i++)
		if (memcmp(s, months + 3 * i, 3) == 0)
			break;
	if (i == 12)
		return 0;
	t->mon = (int)i + 1;
	if (s[4] == ' ') {
		if (!num(s + 5, 1, &t->day))
			return 0;
	} else if (!num(s + 4, 2, &t->day))
		return 0;
	if (t->day < 1 || t->day > 31 || !clock_part(s + 7, t))
		return 0;
	return 15;
}

size_t
logline_parse_time(const char *s, size_t len, struct logline_time *t)
{
	size_t n;

	memset(t, 0, sizeof(*t));
	if ((n = iso_time(s, len, t)) == 0) {
		memset(t, 0, sizeof(*t));
		n = syslog_time(s, len, t);
	}
	if (n == 0)
		memset(t, 0, sizeof(*t));
	t->have = n > 0;
	return n;
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
logline_time_ms(const struct logline_time *t, int64_t *ms_r)
{
	int64_t s;

	if (!t->have || !t->have_year || !t->have_zone)
		return false;
	s = days_from_civil(t->year, t->mon, t->day) * 86400 +
	    t->hour * 3600 + t->min * 60 + t->sec - (int64_t)t->zone_min * 60;
	*ms_r = s * 1000 + t->msec;
	return true;
}

/* The length of the word at s (up to a blank or the end). */
static size_t
word(const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);

	return sp ? (size_t)(sp - s) : len;
}

static bool
is_prog_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	    c == '_' || c == '-' || c == '.' || c == '/';
}

/* "prog[pid]:" or "prog:" (the whole word w of n octets). */
static bool
prog_word(const char *w, size_t n, struct logline *l)
{
	size_t i = 0, name;
	long pid = -1;

	while (i < n && is_prog_char(w[i]))
		i++;
	name = i;
	if (name == 0)
		return false;
	if (i < n && w[i] == '[') {
		pid = 0;
		for (i++; i < n && is_digit(w[i]) && pid < 100000000; i++)
			pid = pid * 10 + (w[i] - '0');
		if (i == name + 1 || i >= n || w[i] != ']')
			return false;
		i++;
	}
	if (i + 1 != n || w[i] != ':')
		return false;
	l->prog = w;
	l->prog_len = name;
	l->pid = pid;
	return true;
}

/* Skips the prefix; returns where the body starts. */
static size_t
prefix(const char *s, size_t len, struct logline *l)
{
	size_t pos = 0, a, b;

	pos = logline_parse_time(s, len, &l->t);
	if (pos > 0 && pos < len && s[pos] != ' ') {
		memset(&l->t, 0, sizeof(l->t));   /* "2026-...Tfoo": no stamp */
		pos = 0;
	}
	if (pos > 0) {
		l->stamp = s;
		l->stamp_len = pos;
	}
	while (pos < len && s[pos] == ' ')
		pos++;
	a = word(s + pos, len - pos);
	if (a > 0 && prog_word(s + pos, a, l))
		return pos + a;
	/* A host name comes between a timestamp and the program only. */
	if (l->stamp_len == 0 || a == 0 || memchr(s + pos, '=', a) != NULL ||
	    pos + a == len)
		return pos;
	b = word(s + pos + a + 1, len - pos - a - 1);
	if (b > 0 && prog_word(s + pos + a + 1, b, l)) {
		l->host = s + pos;
		l->host_len = a;
		return pos + a + 1 + b;
	}
	return pos;
}

static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	    c == '_' || c == '-' || c == '.';
}

/* A quoted value from s[*pos] (just after its quote) into dst. */
static enum logline_err
quoted(const char *s, size_t len, size_t *pos, char *dst, size_t *n)
{
	size_t i = *pos;

	for (;;) {
		if (i >= len)
			return LOGLINE_E_QUOTE;
		if (s[i] == '"')
			break;
		if (s[i] != '\\') {
			dst[(*n)++] = s[i++];
			continue;
		}
		if (i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
			dst[(*n)++] = s[i + 1];
			i += 2;
		} else if (i + 3 < len && s[i + 1] == 'x' && str_hexval(s[i + 2]) >= 0 &&
		    str_hexval(s[i + 3]) >= 0) {
			dst[(*n)++] = (char)(str_hexval(s[i + 2]) * 16 + str_hexval(s[i + 3]));
			i += 4;
		} else
			return LOGLINE_E_ESCAPE;
	}
	i++;   /* the closing quote */
	if (i < len && s[i] != ' ')
		return LOGLINE_E_QUOTE;
	*pos = i;
	return LOGLINE_OK;
}

enum logline_err
logline_parse(const char *s, size_t len, struct logline *l)
{
	size_t pos, used = 0;
	enum logline_err e;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	memset(l, 0, offsetof(struct logline, store));
	l->pid = -1;
	if (len > LOGLINE_MAX)
		return LOGLINE_E_TOO_LONG;
	pos = prefix(s, len, l);
	for (;;) {
		struct logline_field *f;
		size_t k;

		while (pos < len && s[pos] == ' ')
			pos++;
		if (pos == len)
			break;
		for (k = pos; pos < len && is_key_char(s[pos]); pos++)
			;
		if (pos == k || pos == len || s[pos] != '=') {
			l->rest = s + k;
			l->rest_len = len - k;
			break;
		}
		if (l->nfields == LOGLINE_MAX_FIELDS)
			return LOGLINE_E_FIELDS;
		/* Keys and values never outgrow the octets they came from, so
		 * the store (LOGLINE_MAX and a NUL after each) holds them. */
		f = &l->f[l->nfields++];
		f->key = l->store + used;
		f->klen = pos - k;
		memcpy(l->store + used, s + k, f->klen);
		used += f->klen;
		l->store[used++] = '\0';
		pos++;   /* '=' */
		f->val = l->store + used;
		if (pos < len && s[pos] == '"') {
			pos++;
			if ((e = quoted(s, len, &pos, l->store, &used)) != LOGLINE_OK)
				return e;
		} else {
			size_t v = word(s + pos, len - pos);

			memcpy(l->store + used, s + pos, v);
			used += v;
			pos += v;
		}
		f->vlen = (size_t)(l->store + used - f->val);
		l->store[used++] = '\0';
	}
	return LOGLINE_OK;
}

const char *
logline_get(const struct logline *l, const char *key, size_t *vlen_r)
{
	size_t i, n = strlen(key);

	for (i = 0; i < l->nfields; i++) {
		if (l->f[i].klen == n && memcmp(l->f[i].key, key, n) == 0) {
			if (vlen_r)
				*vlen_r = l->f[i].vlen;
			return l->f[i].val;
		}
	}
	return NULL;
}
