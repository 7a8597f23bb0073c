/*
 * dkim_tags: DKIM tag lists, signatures and key records (see the header).
 *
 * The list parser only splits and checks the grammar of §3.2; each
 * decoder then checks the values it reads against their own ABNF (§3.5,
 * §3.6.1), so that an odd value in a tag nobody reads never fails a
 * signature, as the RFC asks for unknown tags.
 */
#include "dkim_tags.h"

#include <string.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "../proto/sasl.h"

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

static bool
valchar(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x21 && u <= 0x7e && u != ';';
}

/* A CRLF not followed by WSP is left for the caller to refuse. */
size_t
dkim_tags_skip_fws(const char *s, size_t len, size_t i)
{
	for (;;) {
		if (i < len && wsp(s[i]))
			i++;
		else if (i + 2 < len && s[i] == '\r' && s[i + 1] == '\n' && wsp(s[i + 2]))
			i += 3;
		else
			return i;
	}
}

enum dkim_tags_err
dkim_tags_parse(const char *text, size_t len, struct dkim_tag *tags, size_t max,
    size_t *n)
{
	size_t i = 0, j;

	*n = 0;
	for (;;) {
		struct dkim_tag t;
		size_t last;

		i = dkim_tags_skip_fws(text, len, i);
		if (i == len)
			break;     /* empty list, or FWS after the final ";" */
		memset(&t, 0, sizeof(t));
		if (!alpha(text[i]))
			return DKIM_TAGS_SYNTAX;
		t.name = text + i;
		while (i < len && (alpha(text[i]) || digit(text[i]) || text[i] == '_'))
			i++;
		t.nlen = (size_t)(text + i - t.name);
		i = dkim_tags_skip_fws(text, len, i);
		if (i == len || text[i] != '=')
			return DKIM_TAGS_SYNTAX;
		i++;
		t.raw_off = i;
		i = dkim_tags_skip_fws(text, len, i);
		t.val = text + i;
		last = i;
		/* tvals separated by FWS, up to ";" or the end */
		while (i < len && text[i] != ';') {
			size_t k = dkim_tags_skip_fws(text, len, i);

			if (k > i) {
				i = k;
				continue;
			}
			if (!valchar(text[i]))
				return DKIM_TAGS_SYNTAX;
			last = ++i;
		}
		t.vlen = (size_t)(text + last - t.val);
		t.raw_len = i - t.raw_off;
		for (j = 0; j < *n; j++)
			if (tags[j].nlen == t.nlen && memcmp(tags[j].name, t.name, t.nlen) == 0)
				return DKIM_TAGS_DUP;
		if (*n == max)
			return DKIM_TAGS_TOO_MANY;
		tags[(*n)++] = t;
		if (i == len)
			break;
		i++;       /* the ";" */
	}
	return DKIM_TAGS_OK;
}

const struct dkim_tag *
dkim_tags_find(const struct dkim_tag *tags, size_t n, const char *name)
{
	size_t i, l = strlen(name);

	for (i = 0; i < n; i++)
		if (tags[i].nlen == l && memcmp(tags[i].name, name, l) == 0)
			return &tags[i];
	return NULL;
}

/* ------------------------------------------------------------- values -- */

static void
reason(char *why, size_t whysize, const char *r)
{
	if (whysize > 0)
		str_copy(why, whysize, r);
}

static const char *
tags_error(enum dkim_tags_err e)
{
	switch (e) {
	case DKIM_TAGS_DUP:
		return "duplicate tag";
	case DKIM_TAGS_TOO_MANY:
		return "too many tags";
	default:
		return "tag syntax error";
	}
}

/* The next item of a ":"-separated list with FWS around the colons;
 * false at the end. An empty item is returned as such. */
static bool
list_next(const char *v, size_t len, size_t *pos, const char **item, size_t *ilen)
{
	size_t i = *pos, e;

	if (i > len)
		return false;
	i = dkim_tags_skip_fws(v, len, i);
	*item = v + i;
	while (i < len && v[i] != ':')
		i++;
	e = i;
	while (e > (size_t)(*item - v) && (wsp(v[e - 1]) || v[e - 1] == '\n' || v[e - 1] == '\r'))
		e--;
	*ilen = (size_t)(v + e - *item);
	*pos = i + 1;      /* past the ":"; past len when it was the last */
	return true;
}

/* 1*max DIGIT into *out (saturating at UINT64_MAX). */
static bool
decimal(const char *v, size_t len, size_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++) {
		if (!digit(v[i]))
			return false;
		if (x > (UINT64_MAX - 9) / 10)
			x = UINT64_MAX;
		else
			x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/* base64 with FWS anywhere (§2.11 base64string) into out[max]. */
static bool
base64(const char *v, size_t len, uint8_t *out, size_t max, size_t *olen)
{
	struct buf clean = BUF_INIT, dec = BUF_INIT;
	bool ok = false;
	size_t i;

	for (i = 0; i < len; i++)
		if (!wsp(v[i]) && v[i] != '\r' && v[i] != '\n')
			buf_append_char(&clean, v[i]);
	if (clean.len > 0 && sasl_base64_decode(clean.data, clean.len, &dec) == 0 &&
	    dec.len <= max) {
		if (dec.len > 0)
			memcpy(out, dec.data, dec.len);
		*olen = dec.len;
		ok = true;
	}
	buf_release(&clean);
	buf_release(&dec);
	return ok;
}

/* A domain name as d= and i= take it: labels of letters, digits, "-" and
 * "_" (seen in the wild), 1..63 octets, no "-" at either end; with
 * two_labels at least two of them (§3.5 d=). */
static bool
domain_ok(const char *v, size_t len, bool two_labels)
{
	size_t i, label = 0, labels = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || v[i] == '.') {
			if (label == 0 || v[i - 1] == '-')
				return false;
			labels++;
			label = 0;
			continue;
		}
		if (!(alpha(v[i]) || digit(v[i]) || v[i] == '-' || v[i] == '_'))
			return false;
		if (label == 0 && v[i] == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return labels >= (two_labels ? 2u : 1u);
}

static void
copy_lower(char *dst, size_t dstsize, const char *v, size_t len)
{
	str_copyn(dst, dstsize, v, len);
	str_lower(dst);
}

static bool
canon_name(const char *v, size_t len, enum dkim_canon *c)
{
	if (str_ieqn(v, len, "simple"))
		*c = DKIM_CANON_SIMPLE;
	else if (str_ieqn(v, len, "relaxed"))
		*c = DKIM_CANON_RELAXED;
	else
		return false;
	return true;
}

/* c=header[/body]; body defaults to simple (§3.5). */
static bool
canon_tag(const char *v, size_t len, struct dkim_sig *sig)
{
	const char *slash = memchr(v, '/', len);

	sig->bcanon = DKIM_CANON_SIMPLE;
	if (slash == NULL)
		return canon_name(v, len, &sig->hcanon);
	return canon_name(v, (size_t)(slash - v), &sig->hcanon) &&
	    canon_name(slash + 1, len - (size_t)(slash - v) - 1, &sig->bcanon);
}

/* ftext (RFC 5322 §3.6.8): printable ASCII but ":". */
static bool
field_name_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* i= ([local-part] "@" domain) within d=: the same domain or below it. */
static bool
identity_ok(const char *v, size_t len, const char *d)
{
	const char *at = memrchr(v, '@', len);
	size_t dl = strlen(d), il;

	if (at == NULL)
		return false;
	il = len - (size_t)(at + 1 - v);
	if (!domain_ok(at + 1, il, false) || il < dl)
		return false;
	if (!str_ieqn(at + 1 + il - dl, dl, d))
		return false;
	return il == dl || at[il - dl] == '.';
}

/*
 * i= as kept: the verifier wants its domain (a key's t=s compares it with
 * d=), so a value too long for dst loses the end of its local part, never
 * the "@" and domain (at most 253 octets when the signature parses; one
 * without "@" or with a longer domain fails identity_ok and is cut).
 */
static void
auid_copy(char *dst, size_t dstsize, const char *v, size_t len)
{
	const char *at = memrchr(v, '@', len);
	size_t dl, keep;

	if (len < dstsize || at == NULL || (dl = len - (size_t)(at - v)) >= dstsize) {
		str_copyn(dst, dstsize, v, len);
		return;
	}
	keep = dstsize - 1 - dl;
	memcpy(dst, v, keep);
	memcpy(dst + keep, at, dl);
	dst[keep + dl] = '\0';
}

/* t= or x= (§3.5: 1*12DIGIT), when given; false when it is bad. */
static bool
time_tag(const struct dkim_tag *tags, size_t n, const char *name, bool *has,
    int64_t *val)
{
	const struct dkim_tag *t = dkim_tags_find(tags, n, name);
	uint64_t x;

	if (t == NULL)
		return true;
	if (!decimal(t->val, t->vlen, 12, &x))
		return false;
	*has = true;
	*val = (int64_t)x;
	return true;
}

/* b=, the last tag checked. */
static int
sig_b(const struct dkim_tag *tags, size_t n, struct dkim_sig *sig, char *why,
    size_t whysize)
{
	const struct dkim_tag *t;

	if ((t = dkim_tags_find(tags, n, "b")) == NULL) {
		reason(why, whysize, "missing b=");
		return -1;
	}
	if (!base64(t->val, t->vlen, sig->b, sizeof(sig->b), &sig->blen)) {
		reason(why, whysize, "bad b=");
		return -1;
	}
	return 0;
}

int
dkim_sig_parse(const char *text, size_t len, struct dkim_sig *sig, char *why,
    size_t whysize)
{
	return dkim_sig_parse_kind(text, len, DKIM_SIG_DKIM, sig, why, whysize);
}

int
dkim_sig_parse_kind(const char *text, size_t len, enum dkim_sig_kind kind,
    struct dkim_sig *sig, char *why, size_t whysize)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	const struct dkim_tag *t;
	enum dkim_tags_err e;
	size_t n, i;

	memset(sig, 0, sizeof(*sig));
	reason(why, whysize, "");
	if ((e = dkim_tags_parse(text, len, tags, DKIM_TAGS_MAX, &n)) != DKIM_TAGS_OK) {
		reason(why, whysize, tags_error(e));
		return -1;
	}
	/* First what the report shows, so a later error still names them. */
	if ((t = dkim_tags_find(tags, n, "d")) != NULL)
		copy_lower(sig->d, sizeof(sig->d), t->val, t->vlen);
	if ((t = dkim_tags_find(tags, n, "s")) != NULL)
		str_copyn(sig->s, sizeof(sig->s), t->val, t->vlen);
	if ((t = dkim_tags_find(tags, n, "a")) != NULL)
		str_copyn(sig->a, sizeof(sig->a), t->val, t->vlen);
	if ((t = dkim_tags_find(tags, n, "b")) != NULL) {
		size_t k = 0;

		for (i = 0; i < t->vlen && k + 1 < sizeof(sig->b_prefix) && k < 8; i++)
			if (!wsp(t->val[i]) && t->val[i] != '\r' && t->val[i] != '\n')
				sig->b_prefix[k++] = t->val[i];
		sig->b_prefix[k] = '\0';
		sig->b_raw_off = t->raw_off;
		sig->b_raw_len = t->raw_len;
	}
	if (sig->d[0] != '\0') {
		/* ARC's i= is the instance (RFC 8617 §4.2.1): the AUID is
		 * "@" d, as for a DKIM signature without i=. */
		if (kind == DKIM_SIG_DKIM && (t = dkim_tags_find(tags, n, "i")) != NULL)
			auid_copy(sig->i, sizeof(sig->i), t->val, t->vlen);
		else
			str_fmt(sig->i, sizeof(sig->i), "@%s", sig->d);
	}

	/* ARC defines no v= (a v= there is an unknown tag, ignored). */
	if (kind == DKIM_SIG_DKIM) {
		if ((t = dkim_tags_find(tags, n, "v")) == NULL) {
			reason(why, whysize, "missing v=");
			return -1;
		}
		if (!(t->vlen == 1 && t->val[0] == '1')) {
			reason(why, whysize, "v= is not 1");
			return -1;
		}
	}
	/* a= : sig-a-tag-k "-" sig-a-tag-h; which ones we take is checked
	 * by the verifier. */
	if ((t = dkim_tags_find(tags, n, "a")) == NULL) {
		reason(why, whysize, "missing a=");
		return -1;
	}
	if (str_ieqn(t->val, t->vlen, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (str_ieqn(t->val, t->vlen, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else if (str_ieqn(t->val, t->vlen, "rsa-sha1"))
		sig->alg = DKIM_ALG_RSA_SHA1;
	else
		sig->alg = DKIM_ALG_UNKNOWN;

	if ((t = dkim_tags_find(tags, n, "d")) == NULL) {
		reason(why, whysize, "missing d=");
		return -1;
	}
	if (!domain_ok(t->val, t->vlen, true)) {
		reason(why, whysize, "bad d=");
		return -1;
	}
	if ((t = dkim_tags_find(tags, n, "s")) == NULL) {
		reason(why, whysize, "missing s=");
		return -1;
	}
	if (t->vlen >= DKIM_SELECTOR_MAX) {
		reason(why, whysize, "s= too long");
		return -1;
	}
	if (!domain_ok(t->val, t->vlen, false)) {
		reason(why, whysize, "bad s=");
		return -1;
	}

	if (kind == DKIM_SIG_ARC_SEAL) {
		/* RFC 8617 §4.1.3: no h=, no bh=; the header canonicalization
		 * is always relaxed, the body is not signed. */
		if (dkim_tags_find(tags, n, "h") != NULL) {
			reason(why, whysize, "h= in ARC-Seal");
			return -1;
		}
		sig->hcanon = sig->bcanon = DKIM_CANON_RELAXED;
		if (!time_tag(tags, n, "t", &sig->has_t, &sig->t)) {
			reason(why, whysize, "bad t=");
			return -1;
		}
		return sig_b(tags, n, sig, why, whysize);
	}
	if ((t = dkim_tags_find(tags, n, "h")) == NULL) {
		reason(why, whysize, "missing h=");
		return -1;
	}
	{
		size_t pos = 0, il;
		const char *item;
		bool from = false;

		while (list_next(t->val, t->vlen, &pos, &item, &il)) {
			if (!field_name_ok(item, il)) {
				reason(why, whysize, "bad h=");
				return -1;
			}
			if (sig->nh == DKIM_SIG_H_MAX) {
				reason(why, whysize, "h= too long");
				return -1;
			}
			sig->h[sig->nh].off = (size_t)(item - text);
			sig->h[sig->nh].len = il;
			sig->nh++;
			from |= str_ieqn(item, il, "from");
		}
		if (!from) {
			reason(why, whysize, "h= does not sign From");
			return -1;
		}
	}

	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	if ((t = dkim_tags_find(tags, n, "c")) != NULL && !canon_tag(t->val, t->vlen, sig)) {
		reason(why, whysize, "bad c=");
		return -1;
	}
	if (kind == DKIM_SIG_DKIM && (t = dkim_tags_find(tags, n, "i")) != NULL) {
		sig->has_i = true;
		if (!identity_ok(t->val, t->vlen, sig->d)) {
			reason(why, whysize, "i= not within d=");
			return -1;
		}
	}
	if ((t = dkim_tags_find(tags, n, "l")) != NULL) {
		sig->has_l = true;
		if (!decimal(t->val, t->vlen, 76, &sig->l)) {
			reason(why, whysize, "bad l=");
			return -1;
		}
	}
	if ((t = dkim_tags_find(tags, n, "q")) != NULL) {
		size_t pos = 0, il;
		const char *item;
		bool dns = false;

		while (list_next(t->val, t->vlen, &pos, &item, &il))
			dns |= str_ieqn(item, il, "dns/txt");
		if (!dns) {
			reason(why, whysize, "q= lacks dns/txt");
			return -1;
		}
	}
	if (!time_tag(tags, n, "t", &sig->has_t, &sig->t)) {
		reason(why, whysize, "bad t=");
		return -1;
	}
	if (!time_tag(tags, n, "x", &sig->has_x, &sig->x)) {
		reason(why, whysize, "bad x=");
		return -1;
	}
	if ((t = dkim_tags_find(tags, n, "bh")) == NULL) {
		reason(why, whysize, "missing bh=");
		return -1;
	}
	if (!base64(t->val, t->vlen, sig->bh, sizeof(sig->bh), &sig->bhlen)) {
		reason(why, whysize, "bad bh=");
		return -1;
	}
	return sig_b(tags, n, sig, why, whysize);
}

int
dkim_keyrec_parse(const char *text, size_t len, struct dkim_keyrec *k, char *why,
    size_t whysize)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	const struct dkim_tag *t;
	enum dkim_tags_err e;
	size_t n, pos, il;
	const char *item;

	memset(k, 0, sizeof(*k));
	reason(why, whysize, "");
	if ((e = dkim_tags_parse(text, len, tags, DKIM_TAGS_MAX, &n)) != DKIM_TAGS_OK) {
		reason(why, whysize, tags_error(e));
		return -1;
	}
	if ((t = dkim_tags_find(tags, n, "v")) != NULL &&
	    (t != &tags[0] || !(t->vlen == 5 && memcmp(t->val, "DKIM1", 5) == 0))) {
		reason(why, whysize, "not a DKIM1 key record");
		return -1;
	}
	k->k = DKIM_KEY_RSA;
	if ((t = dkim_tags_find(tags, n, "k")) != NULL) {
		if (str_ieqn(t->val, t->vlen, "rsa"))
			k->k = DKIM_KEY_RSA;
		else if (str_ieqn(t->val, t->vlen, "ed25519"))
			k->k = DKIM_KEY_ED25519;
		else
			k->k = DKIM_KEY_UNKNOWN;
	}
	k->sha256_ok = true;
	if ((t = dkim_tags_find(tags, n, "h")) != NULL) {
		k->sha256_ok = false;
		for (pos = 0; list_next(t->val, t->vlen, &pos, &item, &il);)
			k->sha256_ok |= str_ieqn(item, il, "sha256");
	}
	k->email_ok = true;
	if ((t = dkim_tags_find(tags, n, "s")) != NULL) {
		k->email_ok = false;
		for (pos = 0; list_next(t->val, t->vlen, &pos, &item, &il);)
			k->email_ok |= str_ieqn(item, il, "email") || (il == 1 && *item == '*');
	}
	if ((t = dkim_tags_find(tags, n, "t")) != NULL) {
		for (pos = 0; list_next(t->val, t->vlen, &pos, &item, &il);) {
			k->testing |= il == 1 && (*item == 'y' || *item == 'Y');
			k->strict |= il == 1 && (*item == 's' || *item == 'S');
		}
	}
	if ((t = dkim_tags_find(tags, n, "p")) == NULL) {
		reason(why, whysize, "key record without p=");
		return -1;
	}
	if (t->vlen == 0) {
		k->revoked = true;
		return 0;
	}
	if (!base64(t->val, t->vlen, k->p, sizeof(k->p), &k->plen)) {
		reason(why, whysize, "bad p=");
		return -1;
	}
	return 0;
}
