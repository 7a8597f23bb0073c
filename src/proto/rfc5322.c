/*
 * rfc5322: header-section scanner (see the header). A field starts at the
 * beginning of a line that is not folded (does not start with WSP); its
 * name is read by name_step(), the one definition of a field name, which
 * rfc5322_field_name() applies to a whole field. A line whose start is
 * not a name and a colon is no field, and is skipped. The header ends at
 * the first empty line.
 */
#include "rfc5322.h"

#include <string.h>
#include <strings.h>

enum { H_BOL, H_NAME, H_REST, H_CR_EMPTY };

/* Inside a field name: the name, WSP after it, a folding CR LF there. */
enum { N_NAME, N_WSP, N_CR, N_LF };

enum name_res {
	NAME_CHAR,    /* c is an octet of the name */
	NAME_MORE,    /* c is allowed between the name and the colon */
	NAME_FIELD,   /* c is the colon: the line is a field */
	NAME_BAD,     /* c cannot be there: the line is not a field */
	NAME_ENDED,   /* the line ended before a colon; c starts the next */
};

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One octet of a line's start. *st starts at N_NAME; nlen is the number
 * of name octets before c. field-name = 1*ftext (ftext: %d33-57 /
 * %d59-126), then obs-optional's *WSP, in which unfolding (RFC 5322
 * §2.2.3) lets a CR LF stand before more WSP, then ":".
 */
static enum name_res
name_step(int *st, size_t nlen, unsigned char c)
{
	switch (*st) {
	case N_NAME:
		if (c >= 33 && c <= 126 && c != ':')
			return NAME_CHAR;
		if (nlen == 0)
			return NAME_BAD;
		break;
	case N_CR:
		if (c != '\n')
			return NAME_BAD;
		*st = N_LF;
		return NAME_MORE;
	case N_LF:
		if (!is_wsp(c))
			return NAME_ENDED;
		*st = N_WSP;
		return NAME_MORE;
	}
	/* After the name (N_NAME with nlen > 0, or N_WSP). */
	if (c == ':')
		return NAME_FIELD;
	if (is_wsp(c)) {
		*st = N_WSP;
		return NAME_MORE;
	}
	if (c == '\r') {
		*st = N_CR;
		return NAME_MORE;
	}
	return NAME_BAD;
}

size_t
rfc5322_field_name(const char *field, size_t len, size_t *colon_r)
{
	int st = N_NAME;
	size_t i, nlen = 0;

	for (i = 0; i < len; i++) {
		switch (name_step(&st, nlen, (unsigned char)field[i])) {
		case NAME_CHAR:
			nlen++;
			break;
		case NAME_MORE:
			break;
		case NAME_FIELD:
			*colon_r = i;
			return nlen;
		case NAME_BAD:
		case NAME_ENDED:
			return 0;
		}
	}
	return 0;
}

void
hdr_scan_init(struct hdr_scan *h)
{
	memset(h, 0, sizeof(*h));
	h->state = H_BOL;
}

static void
field_done(struct hdr_scan *h)
{
	if (h->nlen >= sizeof(h->name))
		return;   /* longer than any name we look for */
	h->name[h->nlen] = '\0';
	if (strcmp(h->name, "received") == 0)
		h->received++;
	else if (strcmp(h->name, "message-id") == 0) {
		h->in_msgid = !h->has_message_id;
		h->has_message_id = true;
	}
	else if (strcmp(h->name, "date") == 0)
		h->has_date = true;
	else if (strcmp(h->name, "from") == 0)
		h->in_from = h->nfrom++ == 0;
}

/* One octet of a kept value, unfolded; never cut short without saying so. */
static void
keep_char(char *dst, size_t *len, size_t max, bool *too_long, char c)
{
	if (*len == max) {
		*too_long = true;
		return;
	}
	dst[(*len)++] = (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
	dst[*len] = '\0';
}

/* An octet of a field's value: kept when it is the first From or the
 * first Message-ID. */
static void
value_char(struct hdr_scan *h, char c)
{
	if (h->in_from)
		keep_char(h->from, &h->from_len, RFC5322_FROM_MAX, &h->from_long, c);
	else if (h->in_msgid)
		keep_char(h->msgid, &h->msgid_len, RFC5322_MSGID_MAX, &h->msgid_long, c);
}

const char *
hdr_scan_message_id(const struct hdr_scan *h, size_t *len_r)
{
	size_t b = 0, e = h->msgid_len;

	while (b < e && h->msgid[b] == ' ')
		b++;
	while (e > b && h->msgid[e - 1] == ' ')
		e--;
	if (h->msgid_long || b == e)
		return NULL;
	*len_r = e - b;
	return h->msgid + b;
}

void
hdr_scan_feed(struct hdr_scan *h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !h->done; i++) {
		char c = p[i];

		switch (h->state) {
		case H_BOL:
			if (c == '\r') {
				h->end_off = h->pos + i;
				h->state = H_CR_EMPTY;
			} else if (c == '\n') {
				h->end_off = h->pos + i;
				h->done = true;
			} else if (c == ' ' || c == '\t') {
				h->state = H_REST;     /* folded continuation */
				value_char(h, ' ');
			} else {
				h->in_from = h->in_msgid = false;
				h->nlen = 0;
				h->nstate = N_NAME;
				h->state = H_NAME;
				i--;                   /* reread as a name octet */
			}
			break;
		case H_NAME:
			switch (name_step(&h->nstate, h->nlen, (unsigned char)c)) {
			case NAME_CHAR:
				if (h->nlen < sizeof(h->name))
					h->name[h->nlen] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
				h->nlen++;
				break;
			case NAME_MORE:
				break;
			case NAME_FIELD:
				field_done(h);
				h->state = H_REST;
				break;
			case NAME_BAD:
				h->state = H_REST;     /* not a field; skip the line */
				i--;
				break;
			case NAME_ENDED:
				h->state = H_BOL;      /* not a field; c starts a line */
				i--;
				break;
			}
			break;
		case H_REST:
			if (c == '\n')
				h->state = H_BOL;
			else if (c != '\r')
				value_char(h, c);
			break;
		case H_CR_EMPTY:
			h->in_from = h->in_msgid = false;
			if (c == '\n')
				h->done = true;
			else
				h->state = H_REST;
			break;
		}
	}
	h->pos += n;
}

/* v[start .. end) is the address; the next one is looked for at next. */
static enum rfc5322_addr
take(const char *v, size_t len, size_t start, size_t end, size_t next,
    size_t *pos, char *out, size_t outsize)
{
	if (end - start >= outsize) {
		*pos = len;   /* nothing after it was read */
		return RFC5322_ADDR_BAD;
	}
	memcpy(out, v + start, end - start);
	out[end - start] = '\0';
	*pos = next;
	return RFC5322_ADDR_OK;
}

enum rfc5322_addr
rfc5322_next_address(const char *v, size_t len, size_t *pos, char *out,
    size_t outsize)
{
	size_t i = *pos, start, depth;

	while (i < len) {
		/* Skip what cannot be the address: quoted strings, comments. */
		if (v[i] == '"') {
			for (i++; i < len && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
			if (i >= len)
				goto bad;
			i++;
			continue;
		}
		if (v[i] == '(') {
			for (depth = 1, i++; i < len && depth; i++) {
				if (v[i] == '\\')
					i++;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')')
					depth--;
			}
			if (depth)
				goto bad;
			continue;
		}
		if (v[i] == '<') {
			start = ++i;
			while (i < len && v[i] != '>')
				i++;
			if (i >= len)
				goto bad;
			return take(v, len, start, i, i + 1, pos, out, outsize);
		}
		if (v[i] == ',' || v[i] == ' ' || v[i] == ';' || v[i] == ':') {
			i++;
			continue;
		}
		/* A bare addr-spec: up to a separator. A display name without
		 * angle brackets is not an address; it has no '@'. */
		start = i;
		while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '(' && v[i] != '<' &&
		    v[i] != ';')
			i++;
		if (i < len && v[i] == '<')
			continue;   /* it was a display name word */
		if (memchr(v + start, '@', i - start) != NULL)
			return take(v, len, start, i, i, pos, out, outsize);
	}
	*pos = len;
	return RFC5322_ADDR_END;
bad:
	*pos = len;
	return RFC5322_ADDR_BAD;
}

bool
hdr_scan_at_line_start(const struct hdr_scan *h)
{
	/* A "name" line that ended without a colon ended all the same. */
	return h->state == H_BOL || (h->state == H_NAME && h->nstate == N_LF);
}

bool
hdr_scan_cr_pending(const struct hdr_scan *h)
{
	return !h->done && h->state == H_CR_EMPTY;
}

/* ------------------------------------------------------------- dates -- */

static const char *
date_skip_cfws(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth)
			depth--;
		else if (depth == 0 && !is_wsp((unsigned char)*p) && *p != '\r' && *p != '\n')
			break;
	}
	return p;
}

/* Digits at p (at most max), their value in *v; how many were read. */
static size_t
date_num(const char *p, const char *end, size_t max, int *v)
{
	size_t n = 0;

	*v = 0;
	while (p + n < end && n < max && p[n] >= '0' && p[n] <= '9')
		*v = *v * 10 + (p[n++] - '0');
	return n;
}

static int64_t
date_days(int y, int m, int d)
{
	/* Days since 1970-01-01 of a proleptic Gregorian date. */
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
rfc5322_date_parse(const char *s, size_t len, int64_t *t_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	static const struct { const char *name; int off; } zones[] = {
		{ "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "EST", -5 * 60 }, { "EDT", -4 * 60 },
		{ "CST", -6 * 60 }, { "CDT", -5 * 60 }, { "MST", -7 * 60 }, { "MDT", -6 * 60 },
		{ "PST", -8 * 60 }, { "PDT", -7 * 60 },
	};
	const char *p = s, *end = s + len;
	int day, mon = 0, year, hh, mm, ss = 0, off = 0, v;
	size_t n, i;

	p = date_skip_cfws(p, end);
	/* [day-of-week ","] */
	if (end - p >= 4 && ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z')) {
		const char *comma = memchr(p, ',', (size_t)(end - p));

		if (comma == NULL || comma - p > 12)
			return false;
		p = date_skip_cfws(comma + 1, end);
	}
	if ((n = date_num(p, end, 2, &day)) == 0)
		return false;
	p = date_skip_cfws(p + n, end);
	if (end - p < 3)
		return false;
	for (i = 0; i < 36; i += 3) {
		if ((p[0] | 0x20) == months[i] && (p[1] | 0x20) == months[i + 1] &&
		    (p[2] | 0x20) == months[i + 2])
			mon = (int)i / 3 + 1;
	}
	if (mon == 0)
		return false;
	p += 3;
	while (p < end && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
		p++;   /* "June", "Sept" in the wild */
	p = date_skip_cfws(p, end);
	if ((n = date_num(p, end, 4, &year)) < 2)
		return false;
	/* RFC 5322 §4.3: two-digit years are 19xx from 50, 20xx below. */
	if (n == 2)
		year += year < 50 ? 2000 : 1900;
	else if (n == 3)
		year += 1900;
	p = date_skip_cfws(p + n, end);
	if ((n = date_num(p, end, 2, &hh)) == 0 || hh > 23)
		return false;
	p = date_skip_cfws(p + n, end);
	if (p >= end || *p != ':')
		return false;
	p = date_skip_cfws(p + 1, end);
	if ((n = date_num(p, end, 2, &mm)) == 0 || mm > 59)
		return false;
	p = date_skip_cfws(p + n, end);
	if (p < end && *p == ':') {
		p = date_skip_cfws(p + 1, end);
		if ((n = date_num(p, end, 2, &ss)) == 0 || ss > 60)
			return false;
		p = date_skip_cfws(p + n, end);
	}
	if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p == '-' ? -1 : 1;

		if (date_num(p + 1, end, 4, &v) != 4)
			return false;
		off = sign * ((v / 100) * 60 + v % 100);
	} else if (p < end) {
		for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
			size_t zl = strlen(zones[i].name);

			if ((size_t)(end - p) >= zl && strncasecmp(p, zones[i].name, zl) == 0) {
				off = zones[i].off;
				break;
			}
		}
		/* Other obsolete zones are -0000: UTC, time zone unknown. */
	}
	if (day < 1 || day > 31 || year > 9999)
		return false;
	*t_r = date_days(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)off * 60;
	return true;
}
