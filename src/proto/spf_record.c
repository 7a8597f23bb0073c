/*
 * spf_record: SPF record terms and macros (see the header).
 *
 * The record is never copied into a term list: spf_record_next() walks it
 * in place, so the evaluator makes one pass to check the whole record
 * (RFC 7208 §4.6: a syntax error anywhere is a permerror, even after a
 * match) and a second to evaluate. Macro expansion writes through a small
 * sink that keeps either the head (explanation text) or the tail (target
 * names, which §7.3 truncates from the left), so no expansion, however
 * long, needs more than the caller's fixed buffer.
 */
#include "spf_record.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../common/str.h"

#define SPF_NAME_MAX 253          /* a domain name in dotted form, no root dot */
#define SPF_LABEL_MAX 63
/* A transformer's digit count beyond any part count a value can have. */
#define SPF_DIGITS_CAP 100000

static const char *const mech_names[] = {
	[SPF_T_ALL] = "all",
	[SPF_T_INCLUDE] = "include",
	[SPF_T_A] = "a",
	[SPF_T_MX] = "mx",
	[SPF_T_PTR] = "ptr",
	[SPF_T_IP4] = "ip4",
	[SPF_T_IP6] = "ip6",
	[SPF_T_EXISTS] = "exists",
};

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* A short reason naming the term, printable whatever the record holds. */
static void
why_set(char *why, size_t whysize, const char *msg, const char *term, size_t termlen)
{
	char shown[48];
	size_t i, n = termlen < sizeof(shown) - 1 ? termlen : sizeof(shown) - 1;

	if (why == NULL || whysize == 0)
		return;
	for (i = 0; i < n; i++)
		shown[i] = (term[i] >= 0x21 && term[i] <= 0x7e && term[i] != '"') ? term[i] : '?';
	shown[n] = '\0';
	/* Truncation is fine: the reason is for people. */
	(void)str_fmt(why, whysize, "%s: \"%s%s\"", msg, shown, termlen > n ? "..." : "");
}

bool
spf_record_is_spf(const char *txt, size_t len)
{
	static const char version[] = "v=spf1";
	size_t i;

	if (len < sizeof(version) - 1)
		return false;
	for (i = 0; i < sizeof(version) - 1; i++) {
		if (to_lower(txt[i]) != version[i])
			return false;
	}
	return len == i || txt[i] == ' ';
}

/* macro-letter = s l o d i p h c r t v; c r t only in explanations (§7.1). */
static bool
letter_ok(char c, int flags)
{
	c = to_lower(c);
	if (c != '\0' && strchr("slodiphv", c) != NULL)
		return true;
	return (flags & SPF_MACRO_EXP) && c != '\0' && strchr("crt", c) != NULL;
}

static bool
is_delimiter(char c)
{
	/* delimiter = "." / "-" / "+" / "," / "/" / "_" / "=" */
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/*
 * One macro-expand at s[i] (s[i] == '%'). Returns its length, or 0 if it
 * is not valid. §7.1:
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   transformers = *DIGIT [ "r" ]
 */
static size_t
macro_len(const char *s, size_t n, size_t i, int flags)
{
	size_t j;
	unsigned long digits = 0;
	bool have_digits = false;

	if (i + 1 >= n)
		return 0;
	if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-')
		return 2;
	if (s[i + 1] != '{' || i + 2 >= n || !letter_ok(s[i + 2], flags))
		return 0;
	for (j = i + 3; j < n && is_digit(s[j]); j++) {
		have_digits = true;
		if (digits < SPF_DIGITS_CAP)
			digits = digits * 10 + (unsigned long)(s[j] - '0');
	}
	/* "If a DIGIT is specified, the value MUST be nonzero." */
	if (have_digits && digits == 0)
		return 0;
	if (j < n && to_lower(s[j]) == 'r')
		j++;
	while (j < n && is_delimiter(s[j]))
		j++;
	if (j >= n || s[j] != '}')
		return 0;
	return j + 1 - i;
}

/*
 * macro-string = *( macro-expand / macro-literal ), macro-literal =
 * %x21-24 / %x26-7E; explain-string also allows SP. *tail_r is where the
 * literal text after the last macro-expand starts.
 */
static int
macro_scan(const char *s, size_t n, int flags, size_t *tail_r)
{
	size_t i = 0, tail = 0, l;

	while (i < n) {
		if (s[i] == '%') {
			if ((l = macro_len(s, n, i, flags)) == 0)
				return -1;
			i += l;
			tail = i;
		} else if ((s[i] >= 0x21 && s[i] <= 0x7e) ||
		    (s[i] == ' ' && (flags & SPF_MACRO_EXP)))
			i++;
		else
			return -1;
	}
	if (tail_r)
		*tail_r = tail;
	return 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool
toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, dash = false;
	size_t i;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '-')
			dash = true;
		else if (is_alpha(s[i]))
			alpha = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return alpha || dash;
}

int
spf_macro_check(const char *s, size_t n, int flags)
{
	size_t tail, lit, dot;

	if (macro_scan(s, n, flags, &tail) == -1)
		return -1;
	if (!(flags & SPF_MACRO_DOMAIN))
		return 0;
	/* domain-spec = macro-string domain-end
	 * domain-end  = ( "." toplabel [ "." ] ) / macro-expand
	 * checked on the text as written, never after expansion (§7.1). */
	if (n == 0)
		return -1;
	if (tail == n)
		return 0;
	lit = n;
	if (s[lit - 1] == '.')
		lit--;
	for (dot = lit; dot > tail && s[dot - 1] != '.'; dot--)
		;
	if (dot == tail)
		return -1;   /* no "." in the literal tail: no domain-end */
	return toplabel_ok(s + dot, lit - dot) ? 0 : -1;
}

bool
spf_macro_uses(const char *s, size_t n, char letter)
{
	size_t i = 0, l;

	while (i < n) {
		if (s[i] == '%' && (l = macro_len(s, n, i, SPF_MACRO_EXP)) > 0) {
			if (l > 2 && to_lower(s[i + 2]) == letter)
				return true;
			i += l;
		} else
			i++;
	}
	return false;
}

/* Where expanded text goes: the head, or the tail, of out[cap + 1]. */
struct sink {
	char *out;
	size_t cap;
	size_t len;
	bool tail;      /* keep the tail: drop the older half when full */
	bool esc;       /* URL-escape (an uppercase macro letter) */
};

static void
sink_byte(struct sink *k, char c)
{
	if (k->len == k->cap) {
		size_t drop = k->cap / 2;

		if (!k->tail || drop == 0)
			return;
		memmove(k->out, k->out + drop, k->len - drop);
		k->len -= drop;
	}
	k->out[k->len++] = c;
}

/* unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986); §7.3 says
 * uppercase macros escape everything else. */
static void
sink_put(struct sink *k, char c)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char u = (unsigned char)c;

	if (!k->esc || is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
		sink_byte(k, c);
		return;
	}
	sink_byte(k, '%');
	sink_byte(k, hex[u >> 4]);
	sink_byte(k, hex[u & 0xf]);
}

static bool
in_set(char c, const char *set, size_t setlen)
{
	return setlen == 0 ? c == '.' : memchr(set, c, setlen) != NULL;
}

/*
 * §7.3: split the value at the delimiters (default "."), reverse the parts
 * if asked, keep the rightmost `keep` (0: all), join them with ".".
 * Reversed, the rightmost parts are the first ones of the value, last
 * first, so both cases are one scan without a parts array.
 */
static void
put_value(struct sink *k, const char *v, size_t vlen, size_t keep, bool rev,
    const char *delims, size_t ndelims)
{
	size_t parts = 1, i, skip, end, e, s, j;

	for (i = 0; i < vlen; i++) {
		if (in_set(v[i], delims, ndelims))
			parts++;
	}
	if (keep == 0 || keep > parts)
		keep = parts;
	if (!rev) {
		skip = parts - keep;
		for (i = 0; i < vlen && skip > 0; i++) {
			if (in_set(v[i], delims, ndelims))
				skip--;
		}
		for (; i < vlen; i++)
			sink_put(k, in_set(v[i], delims, ndelims) ? '.' : v[i]);
		return;
	}
	/* The first `keep` parts end at the keep-th delimiter. */
	end = vlen;
	for (i = 0, skip = 0; i < vlen; i++) {
		if (in_set(v[i], delims, ndelims) && ++skip == keep) {
			end = i;
			break;
		}
	}
	e = end;
	for (;;) {
		for (s = e; s > 0 && !in_set(v[s - 1], delims, ndelims); s--)
			;
		for (j = s; j < e; j++)
			sink_put(k, v[j]);
		if (s == 0)
			break;
		sink_put(k, '.');
		e = s - 1;
	}
}

/* §7.3: drop a trailing dot; over 253 octets, drop labels from the left. */
static void
target_finish(char *out, size_t *len)
{
	size_t n = *len, i;

	if (n > 0 && out[n - 1] == '.')
		n--;
	if (n > SPF_NAME_MAX) {
		for (i = 1; i < n; i++) {
			if (out[i - 1] == '.' && n - i <= SPF_NAME_MAX)
				break;
		}
		if (i < n) {
			memmove(out, out + i, n - i);
			n -= i;
		}
	}
	out[n] = '\0';
	*len = n;
}

int
spf_macro_expand(const char *s, size_t n, const struct spf_macros *m,
    int flags, char *out, size_t outsize)
{
	struct sink k = { out, outsize - 1, 0, (flags & SPF_MACRO_DOMAIN) != 0, false };
	size_t i = 0, l, j, keep;
	const char *v;
	bool rev;

	if (outsize == 0)
		return -1;
	/* The tail kept must hold a whole 253-octet name and its dot. */
	if (k.tail && outsize < SPF_TARGET_MAX)
		return -1;
	while (i < n) {
		if (s[i] != '%') {
			sink_put(&k, s[i++]);
			continue;
		}
		if ((l = macro_len(s, n, i, flags | SPF_MACRO_EXP)) == 0)
			return -1;
		if (l == 2) {
			/* "%%" a percent, "%_" a space, "%-" an escaped space */
			if (s[i + 1] == '%')
				sink_put(&k, '%');
			else if (s[i + 1] == '_')
				sink_put(&k, ' ');
			else {
				sink_put(&k, '%');
				sink_put(&k, '2');
				sink_put(&k, '0');
			}
			i += 2;
			continue;
		}
		if ((v = m->val[to_lower(s[i + 2]) - 'a']) == NULL)
			return -1;
		keep = 0;
		for (j = i + 3; is_digit(s[j]); j++) {
			if (keep < SPF_DIGITS_CAP)
				keep = keep * 10 + (size_t)(s[j] - '0');
		}
		rev = to_lower(s[j]) == 'r';
		if (rev)
			j++;
		k.esc = s[i + 2] >= 'A' && s[i + 2] <= 'Z';
		put_value(&k, v, strlen(v), keep, rev, s + j, i + l - 1 - j);
		k.esc = false;
		i += l;
	}
	if (k.tail)
		target_finish(out, &k.len);
	out[k.len] = '\0';
	return 0;
}

bool
spf_target_ok(const char *name)
{
	size_t n = strlen(name), label = 0, i;

	if (n == 0 || n > SPF_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > SPF_LABEL_MAX)
			return false;
	}
	return label > 0;
}

bool
spf_domain_ok(const char *name)
{
	const char *last = strrchr(name, '.');

	return spf_target_ok(name) && last != NULL &&
	    toplabel_ok(last + 1, strlen(last + 1));
}

/* ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT), at most 32;
 * ip6-cidr-length = "/" ("0" / %x31-39 0*2DIGIT), at most 128. */
static int
cidr_value(const char *s, size_t n, int max)
{
	int v = 0;
	size_t i;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Splits "/DIGITS" off the end of s[0..*n): the digits' offset, or 0. */
static size_t
cidr_suffix(const char *s, size_t n)
{
	size_t j = n;

	while (j > 0 && is_digit(s[j - 1]))
		j--;
	return (j < n && j > 0 && s[j - 1] == '/') ? j : 0;
}

/* ip4-network = qnum "." qnum "." qnum "." qnum, qnum 0..255 without
 * leading zeros (§5.6). */
static int
ip4_parse(const char *s, size_t n, uint8_t out[4])
{
	size_t i = 0, part;

	for (part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;

		while (i < n && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return -1;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= n || s[i] != '.')
				return -1;
			i++;
		}
	}
	return i == n ? 0 : -1;
}

/* ip6-network: the RFC 4291 text forms; inet_pton is exactly that. */
static int
ip6_parse(const char *s, size_t n, uint8_t out[16])
{
	char buf[64];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

static enum spf_kind
mech_kind(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++) {
		if (str_ieqn(name, n, mech_names[i]))
			return (enum spf_kind)i;
	}
	return SPF_T_UNKNOWN_MOD;   /* no such mechanism */
}

/* A mechanism's domain-spec after ":" (required non-empty when present). */
static int
take_spec(struct spf_term *t, const char *s, size_t n)
{
	if (n == 0 || spf_macro_check(s, n, SPF_MACRO_DOMAIN) == -1)
		return -1;
	t->spec = s;
	t->speclen = n;
	return 0;
}

static int
parse_mechanism(struct spf_term *t, const char *s, size_t n)
{
	size_t name = 0, j, rn;

	/* directive = [ qualifier ] mechanism (no strchr: a NUL would match) */
	if (n > 0 && (s[0] == '+' || s[0] == '-' || s[0] == '~' || s[0] == '?')) {
		t->qual = s[0];
		s++;
		n--;
	}
	while (name < n && s[name] != ':' && s[name] != '/')
		name++;
	t->kind = mech_kind(s, name);
	s += name;
	n -= name;
	switch (t->kind) {
	case SPF_T_ALL:
		return n == 0 ? 0 : -1;
	case SPF_T_INCLUDE:
	case SPF_T_EXISTS:
		/* include = "include" ":" domain-spec; exists likewise */
		return (n > 0 && s[0] == ':') ? take_spec(t, s + 1, n - 1) : -1;
	case SPF_T_PTR:
		if (n == 0)
			return 0;
		return s[0] == ':' ? take_spec(t, s + 1, n - 1) : -1;
	case SPF_T_A:
	case SPF_T_MX:
		/* [ ":" domain-spec ] [ ip4-cidr-length ] [ "/" ip6-cidr-length ],
		 * taken from the end: a domain-spec may itself hold "/". */
		rn = n;
		if ((j = cidr_suffix(s, rn)) > 0 && j >= 2 && s[j - 2] == '/') {
			if ((t->cidr6 = cidr_value(s + j, rn - j, 128)) < 0)
				return -1;
			rn = j - 2;
			j = cidr_suffix(s, rn);
		}
		if (j > 0) {
			if ((t->cidr4 = cidr_value(s + j, rn - j, 32)) < 0)
				return -1;
			rn = j - 1;
		}
		if (rn == 0)
			return 0;
		return s[0] == ':' ? take_spec(t, s + 1, rn - 1) : -1;
	case SPF_T_IP4:
	case SPF_T_IP6:
		if (n == 0 || s[0] != ':')
			return -1;
		s++;
		n--;
		rn = n;
		if ((j = cidr_suffix(s, n)) > 0) {
			int max = t->kind == SPF_T_IP4 ? 32 : 128;
			int v = cidr_value(s + j, n - j, max);

			if (v < 0)
				return -1;
			if (t->kind == SPF_T_IP4)
				t->cidr4 = v;
			else
				t->cidr6 = v;
			rn = j - 1;
		}
		if (t->kind == SPF_T_IP4)
			return ip4_parse(s, rn, t->net);
		return ip6_parse(s, rn, t->net);
	default:
		return -1;
	}
}

int
spf_record_next(const char *rec, size_t len, size_t *pos,
    struct spf_term *t, char *why, size_t whysize)
{
	size_t p = *pos, start, n, name = 0;
	const char *s;

	if (p == 0) {
		if (!spf_record_is_spf(rec, len)) {
			why_set(why, whysize, "not an SPF record", rec, len);
			return -1;
		}
		p = 6;
	}
	/* terms = *( 1*SP ( directive / modifier ) ); record ends *SP */
	while (p < len && rec[p] == ' ')
		p++;
	if (p >= len) {
		*pos = p;
		return 0;
	}
	start = p;
	while (p < len && rec[p] != ' ')
		p++;
	*pos = p;
	s = rec + start;
	n = p - start;
	memset(t, 0, sizeof(*t));
	t->text = s;
	t->textlen = n;
	t->qual = '+';
	t->cidr4 = t->cidr6 = -1;

	/* modifier: name "=" ..., name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	if (is_alpha(s[0])) {
		while (name < n && (is_alnum(s[name]) || s[name] == '-' ||
		    s[name] == '_' || s[name] == '.'))
			name++;
	}
	if (name > 0 && name < n && s[name] == '=') {
		const char *v = s + name + 1;
		size_t vn = n - name - 1;

		t->spec = v;
		t->speclen = vn;
		/* redirect and exp are never unknown-modifiers, so a bad
		 * domain-spec in them is an error, not an ignored term. */
		if (str_ieqn(s, name, "redirect"))
			t->kind = SPF_T_REDIRECT;
		else if (str_ieqn(s, name, "exp"))
			t->kind = SPF_T_EXP;
		else {
			t->kind = SPF_T_UNKNOWN_MOD;
			if (spf_macro_check(v, vn, 0) == -1) {
				why_set(why, whysize, "bad macro in modifier", s, n);
				return -1;
			}
			return 1;
		}
		if (spf_macro_check(v, vn, SPF_MACRO_DOMAIN) == -1) {
			why_set(why, whysize, "bad domain-spec", s, n);
			return -1;
		}
		return 1;
	}
	if (parse_mechanism(t, s, n) == -1) {
		why_set(why, whysize, t->kind == SPF_T_UNKNOWN_MOD ?
		    "unknown mechanism" : "syntax error", s, n);
		return -1;
	}
	return 1;
}
