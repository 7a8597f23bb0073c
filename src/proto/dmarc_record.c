/*
 * dmarc_record: parse a DMARC policy record (see the header).
 *
 * RFC 9989 §4.8:
 *   dmarc-record  = dmarc-version *(dmarc-sep dmarc-tag) [dmarc-sep]
 *   dmarc-version = "v" equals %s"DMARC1"
 *   dmarc-sep     = *WSP ";" *WSP
 *   equals        = *WSP "=" *WSP
 *   dmarc-tag     = 1*ALPHA equals 1*dmarc-value
 *   dmarc-value   = %x20-3A / %x3C-7E      ; printing characters but ";"
 *
 * So the record is split at every ";" and each piece read as one tag. A
 * piece that is no tag, an unknown tag, or a known tag with a bad value is
 * a syntax error that "MUST be discarded in favor of default values (if
 * any) or ignored outright": the rest of the record still counts. Only p,
 * sp and np have their own rule (§4.10.1): bad ones make the record
 * p=none if it has a usable rua=, and unusable otherwise.
 *
 * Tag names and the keyword values are matched without case, as ABNF
 * strings are; only "DMARC1" is case-sensitive (%s). Spaces before v= are
 * skipped, since nothing is gained by ignoring a policy over them.
 */
#include "dmarc_record.h"

#include <string.h>

#include "../common/str.h"

/* Tags seen once already (a repeat is ignored: the first one counts). */
enum {
	SEEN_P = 1 << 0, SEEN_SP = 1 << 1, SEEN_NP = 1 << 2,
	SEEN_ADKIM = 1 << 3, SEEN_ASPF = 1 << 4, SEEN_PCT = 1 << 5,
	SEEN_T = 1 << 6, SEEN_PSD = 1 << 7, SEEN_RUA = 1 << 8,
	SEEN_RUF = 1 << 9, SEEN_FO = 1 << 10, SEEN_RI = 1 << 11,
	SEEN_RF = 1 << 12,
};

static const struct {
	const char *name;
	unsigned bit;
} known_tags[] = {
	{ "p", SEEN_P }, { "sp", SEEN_SP }, { "np", SEEN_NP },
	{ "adkim", SEEN_ADKIM }, { "aspf", SEEN_ASPF }, { "pct", SEEN_PCT },
	{ "t", SEEN_T }, { "psd", SEEN_PSD }, { "rua", SEEN_RUA },
	{ "ruf", SEEN_RUF }, { "fo", SEEN_FO }, { "ri", SEEN_RI },
	{ "rf", SEEN_RF },
};

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_QUARANTINE:
		return "quarantine";
	case DMARC_P_REJECT:
		return "reject";
	case DMARC_P_UNSET:
	case DMARC_P_NONE:
		break;
	}
	return "none";
}

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One lower-case letter value: "y", "n", "r", "s", "u". */
static int
letter(const char *v, size_t n)
{
	if (n != 1 || !alpha(v[0]))
		return -1;
	return v[0] | 0x20;
}

/* dmarc-request = "none" / "quarantine" / "reject"; -1 if none of them. */
static int
request(const char *v, size_t n)
{
	if (str_ieqn(v, n, "none"))
		return DMARC_P_NONE;
	if (str_ieqn(v, n, "quarantine"))
		return DMARC_P_QUARANTINE;
	if (str_ieqn(v, n, "reject"))
		return DMARC_P_REJECT;
	return -1;
}

/* 1*DIGIT up to max; -1 if not a number or above max. */
static long
number(const char *v, size_t n, long max)
{
	long x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!digit(v[i]) || x > (max - (v[i] - '0')) / 10)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/*
 * dmarc-fo = ("0" / "1") *(":" dmarc-afrf) / dmarc-afrf [":" ("0" / "1")]
 *            [":" dmarc-afrf] / *(dmarc-afrf ":") ("0" / "1")
 * In short: 0, 1, d, s separated by colons, each at most once, not both 0
 * and 1. Returns the DMARC_FO_* bits, or 0 if invalid.
 */
static unsigned
fo_parse(const char *v, size_t n)
{
	unsigned bits = 0, b;
	size_t i;

	if (n % 2 == 0)
		return 0;                    /* one character, then ":x" pairs */
	for (i = 0; i < n; i += 2) {
		if (i > 0 && v[i - 1] != ':')
			return 0;
		switch (v[i] | 0x20) {
		case '0': b = DMARC_FO_0; break;
		case '1': b = DMARC_FO_1; break;
		case 'd': b = DMARC_FO_D; break;
		case 's': b = DMARC_FO_S; break;
		default: return 0;
		}
		if ((bits & b) != 0)
			return 0;
		bits |= b;
	}
	if ((bits & DMARC_FO_0) && (bits & DMARC_FO_1))
		return 0;
	return bits;
}

static bool
hexdig(char c)
{
	return digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/*
 * One URI of a dmarc-urilist: an RFC 3986 URI (scheme ":" and then URI
 * characters), "," and "!" percent-encoded, optionally followed by the
 * obsolete size limit "!" 1*DIGIT ["k"/"m"/"g"/"t"], which is ignored.
 * Checked only as far as "syntactically valid" needs.
 */
static bool
uri_ok(const char *u, size_t n)
{
	size_t i, bang;

	for (bang = n; bang > 0 && u[bang - 1] != '!'; bang--)
		;
	if (bang > 0) {
		size_t end = n;

		if (end > bang && strchr("kmgtKMGT", u[end - 1]) != NULL)
			end--;
		if (end == bang)
			return false;
		for (i = bang; i < end; i++)
			if (!digit(u[i]))
				return false;
		n = bang - 1;
	}
	if (n == 0 || !alpha(u[0]))
		return false;
	for (i = 1; i < n && u[i] != ':'; i++)
		if (!alpha(u[i]) && !digit(u[i]) && u[i] != '+' && u[i] != '-' &&
		    u[i] != '.')
			return false;
	if (i + 1 >= n)
		return false;                /* no ":" or nothing after it */
	for (i++; i < n; i++) {
		char c = u[i];

		if (c == '%') {
			if (i + 2 >= n || !hexdig(u[i + 1]) ||
			    !hexdig(u[i + 2]))
				return false;
			i += 2;
		} else if (!alpha(c) && !digit(c) &&
		    (c == '\0' || strchr("-._~$&'()*+;=:@/?#[]", c) == NULL))
			return false;
	}
	return true;
}

/* True when the comma-separated list has at least one valid URI. */
static bool
urilist_ok(const char *v, size_t n)
{
	size_t i = 0;

	while (i <= n) {
		size_t s, e;

		for (s = i; s < n && wsp(v[s]); s++)
			;
		for (e = s; e < n && v[e] != ','; e++)
			;
		i = e + 1;
		while (e > s && wsp(v[e - 1]))
			e--;
		if (uri_ok(v + s, e - s))
			return true;
	}
	return false;
}

/*
 * Keeps a URI list in out[DMARC_URILIST_MAX]; one too long loses the URIs
 * that do not fit whole, so no half address is ever kept. Returns true if
 * something was cut.
 */
static bool
urilist_keep(char *out, const char *v, size_t n)
{
	size_t k;

	if (str_copyn(out, DMARC_URILIST_MAX, v, n) == 0)
		return false;
	for (k = DMARC_URILIST_MAX - 1; k > 0 && v[k] != ','; k--)
		;
	while (k > 0 && wsp(v[k - 1]))
		k--;
	(void)str_copyn(out, DMARC_URILIST_MAX, v, k);
	return true;
}

/* rf= (RFC 7489): Ftype *(*WSP "," *WSP Ftype); does it list "afrf"? */
static bool
rf_has_afrf(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		for (s = i; s < n && wsp(v[s]); s++)
			;
		for (e = s; e < n && v[e] != ','; e++)
			;
		i = e + 1;
		while (e > s && wsp(v[e - 1]))
			e--;
		if (str_ieqn(v + s, e - s, "afrf"))
			return true;
	}
	return false;
}

/*
 * Splits one piece between separators into name and value: 1*ALPHA
 * equals 1*dmarc-value, spaces around it already trimmed. False if it is
 * not a tag at all; a tag whose value is empty or has a character no
 * value may have is one, with *val_ok false.
 */
static bool
split_tag(const char *s, size_t n, size_t *namelen, const char **val,
    size_t *vallen, bool *val_ok)
{
	size_t i = 0, k;

	while (i < n && alpha(s[i]))
		i++;
	if (i == 0)
		return false;
	*namelen = i;
	while (i < n && wsp(s[i]))
		i++;
	if (i == n || s[i] != '=')
		return false;
	for (i++; i < n && wsp(s[i]); i++)
		;
	*val = s + i;
	*vallen = n - i;
	*val_ok = i < n;
	/* HTAB too: the URI list grammar allows WSP around its commas */
	for (k = i; k < n; k++)
		if (((unsigned char)s[k] < 0x20 && s[k] != '\t') ||
		    (unsigned char)s[k] > 0x7e)
			*val_ok = false;
	return true;
}

/* Applies one known tag; false if its value is malformed. */
static bool
apply_tag(struct dmarc_record *r, unsigned tag, const char *v, size_t n,
    unsigned *badpol)
{
	long x;
	int c;

	switch (tag) {
	case SEEN_P:
	case SEEN_SP:
	case SEEN_NP:
		if ((x = request(v, n)) < 0) {
			*badpol |= tag;
			return false;
		}
		if (tag == SEEN_P)
			r->p = (enum dmarc_policy)x;
		else if (tag == SEEN_SP)
			r->sp = (enum dmarc_policy)x;
		else
			r->np = (enum dmarc_policy)x;
		return true;
	case SEEN_ADKIM:
	case SEEN_ASPF:
		if ((c = letter(v, n)) != 'r' && c != 's')
			return false;
		if (tag == SEEN_ADKIM)
			r->adkim_strict = c == 's';
		else
			r->aspf_strict = c == 's';
		return true;
	case SEEN_PCT:
		if ((x = number(v, n, 100)) < 0)
			return false;
		r->pct = (int)x;
		return true;
	case SEEN_T:
		if ((c = letter(v, n)) != 'y' && c != 'n')
			return false;
		r->testing = c == 'y';
		return true;
	case SEEN_PSD:
		if ((c = letter(v, n)) != 'y' && c != 'n' && c != 'u')
			return false;
		r->psd = c == 'u' ? 0 : c;
		return true;
	case SEEN_RUA:
		r->rua_cut = urilist_keep(r->rua, v, n);
		r->rua_valid = urilist_ok(v, n);
		return true;
	case SEEN_RUF:
		r->ruf_cut = urilist_keep(r->ruf, v, n);
		return true;
	case SEEN_FO:
		if ((r->fo = fo_parse(v, n)) == 0) {
			r->fo = DMARC_FO_0;
			return false;
		}
		return true;
	case SEEN_RI:
		if ((x = number(v, n, 0x7fffffffL)) < 0)
			return false;
		r->ri = (unsigned long)x;
		return true;
	case SEEN_RF:
		r->rf_afrf = rf_has_afrf(v, n);
		return true;
	}
	return false;
}

int
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r)
{
	size_t i = 0, namelen, vallen;
	unsigned seen = 0, badpol = 0;
	const char *val;
	bool first = true, val_ok;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->fo = DMARC_FO_0;
	r->ri = 86400;
	r->rf_afrf = true;

	while (i < len && wsp(txt[i]))
		i++;
	while (i <= len) {
		size_t s = i, e, k;

		for (e = s; e < len && txt[e] != ';'; e++)
			;
		i = e + 1;
		while (s < e && wsp(txt[s]))
			s++;
		while (e > s && wsp(txt[e - 1]))
			e--;
		if (first) {
			/* v=DMARC1 first, or this is no DMARC record */
			if (!split_tag(txt + s, e - s, &namelen, &val, &vallen,
			    &val_ok) || !str_ieqn(txt + s, namelen, "v") || vallen != 6 ||
			    memcmp(val, "DMARC1", 6) != 0)
				return -1;
			first = false;
			continue;
		}
		if (s == e)
			continue;                /* ";;" or the final ";" */
		if (!split_tag(txt + s, e - s, &namelen, &val, &vallen, &val_ok)) {
			r->bad_tags = true;
			continue;
		}
		for (k = 0; k < sizeof(known_tags) / sizeof(known_tags[0]); k++)
			if (str_ieqn(txt + s, namelen, known_tags[k].name))
				break;
		if (k == sizeof(known_tags) / sizeof(known_tags[0]) ||
		    (seen & known_tags[k].bit) != 0)
			continue;                /* unknown or repeated: ignored */
		seen |= known_tags[k].bit;
		if (!val_ok) {
			r->bad_tags = true;
			if (known_tags[k].bit & (SEEN_P | SEEN_SP | SEEN_NP))
				badpol |= known_tags[k].bit;
		} else if (!apply_tag(r, known_tags[k].bit, val, vallen, &badpol))
			r->bad_tags = true;
	}
	if (badpol != 0) {
		/* RFC 9989 §4.10.1: p=none if rua= is usable, else no DMARC */
		if (r->rua_valid) {
			r->p = DMARC_P_NONE;
			r->sp = r->np = DMARC_P_UNSET;
		} else
			r->unusable = true;
	}
	return 0;
}
