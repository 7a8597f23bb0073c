/*
 * quota_rule: a user's quota from the users file (see quota_rule.h).
 *
 * Dovecot (2.3, quota-util.c) reads a number with an optional sign and
 * then looks only at the first octet after it for the unit, so it also
 * takes "100MB" or "100Mx" as 100M. We take digits and one unit letter,
 * nothing after: a users file that says something else is refused at
 * load, with its line, rather than read as something it may not mean.
 * The relative forms (+, -, %) exist only for folder rules in Dovecot,
 * which refuses them on the "*" rule too.
 */
#include "quota_rule.h"

#include <string.h>

#include "passwd.h"

static bool
span_is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

bool
quota_size_parse(const char *s, size_t len, uint64_t unit, uint64_t *out)
{
	uint64_t v = 0, mult = unit;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return false;
		i++;
	}
	if (i == 0)
		return false;
	if (i < len) {
		switch (s[i] | 0x20) {
		case 'b': mult = 1; break;
		case 'k': mult = 1ull << 10; break;
		case 'm': mult = 1ull << 20; break;
		case 'g': mult = 1ull << 30; break;
		case 't': mult = 1ull << 40; break;
		default: return false;
		}
		if (++i != len)
			return false;
	}
	if (__builtin_mul_overflow(v, mult, &v) || v > QUOTA_RULE_MAX)
		return false;
	*out = v;
	return true;
}

/* One "<name>=<value>" of a rule into r. */
static enum quota_rule_err
limit(const char *s, size_t len, struct quota_rule *r)
{
	const char *eq = memchr(s, '=', len), *v;
	size_t nlen, vlen;
	uint64_t unit, *dst;

	/* "storage" alone is a storage limit without its value, as Dovecot
	 * reads it. */
	nlen = eq ? (size_t)(eq - s) : len;
	v = eq ? eq + 1 : s + len;
	vlen = eq ? len - nlen - 1 : 0;
	if (span_is(s, nlen, "storage")) {
		unit = 1024;   /* Dovecot: storage without a unit is kilobytes */
		dst = &r->bytes;
	} else if (span_is(s, nlen, "bytes")) {
		unit = 1;
		dst = &r->bytes;
	} else if (span_is(s, nlen, "messages")) {
		unit = 1;
		dst = &r->messages;
	} else
		return QUOTA_RULE_BAD_NAME;
	if (vlen > 0 && (v[0] == '+' || v[0] == '-' || v[vlen - 1] == '%'))
		return QUOTA_RULE_UNSUPPORTED;
	return quota_size_parse(v, vlen, unit, dst) ? QUOTA_RULE_OK : QUOTA_RULE_BAD_VALUE;
}

enum quota_rule_err
quota_rule_parse(const char *s, size_t len, struct quota_rule *out)
{
	const char *colon = memchr(s, ':', len), *p, *end = s + len;
	enum quota_rule_err e = QUOTA_RULE_OK;
	struct quota_rule r = { 0, 0 };

	memset(out, 0, sizeof(*out));
	if (colon == NULL)
		return QUOTA_RULE_SYNTAX;
	/* "*" is the whole mailbox, forced; "?" the same, unforced (Dovecot
	 * then lets a maildirsize header override it; tern has no such
	 * header of its own to defer to). Other masks name folders. */
	if (!span_is(s, (size_t)(colon - s), "*") && !span_is(s, (size_t)(colon - s), "?"))
		return QUOTA_RULE_NOT_OURS;
	p = colon + 1;
	if (span_is(p, (size_t)(end - p), "ignore") ||
	    ((size_t)(end - p) >= 8 && memcmp(p, "backend=", 8) == 0))
		return QUOTA_RULE_UNSUPPORTED;
	for (;;) {
		const char *next = memchr(p, ':', (size_t)(end - p));
		size_t n = next ? (size_t)(next - p) : (size_t)(end - p);

		if ((e = limit(p, n, &r)) != QUOTA_RULE_OK)
			return e;
		if (next == NULL)
			break;
		p = next + 1;
	}
	*out = r;
	return QUOTA_RULE_OK;
}

enum quota_rule_err
quota_rule_parse_short(const char *s, size_t len, struct quota_rule *out)
{
	memset(out, 0, sizeof(*out));
	if (span_is(s, len, "none"))
		return QUOTA_RULE_OK;
	if (memchr(s, ':', len) != NULL)
		return QUOTA_RULE_NOT_OURS;
	return quota_size_parse(s, len, 1, &out->bytes) ? QUOTA_RULE_OK : QUOTA_RULE_BAD_VALUE;
}

enum quota_rule_err
quota_rule_from_extra(const char *extra, size_t len, struct quota_rule *out,
    bool *found_r, const char **bad_r, size_t *bad_len_r)
{
	const char *k, *v;
	size_t kl, vl, pos = 0;

	memset(out, 0, sizeof(*out));
	*found_r = false;
	while (passwd_next_extra(extra, len, &pos, &k, &kl, &v, &vl)) {
		struct quota_rule r;
		enum quota_rule_err e;

		if (span_is(k, kl, "quota_rule") || span_is(k, kl, "userdb_quota_rule"))
			e = quota_rule_parse(v, vl, &r);
		else if (span_is(k, kl, "quota"))
			e = quota_rule_parse_short(v, vl, &r);
		else
			continue;
		if (e == QUOTA_RULE_NOT_OURS)
			continue;
		if (e != QUOTA_RULE_OK) {
			memset(out, 0, sizeof(*out));
			*found_r = false;
			*bad_r = k;
			*bad_len_r = (size_t)(extra + pos - k);
			return e;
		}
		*out = r;
		*found_r = true;
	}
	return QUOTA_RULE_OK;
}

const char *
quota_rule_strerror(enum quota_rule_err e)
{
	switch (e) {
	case QUOTA_RULE_OK:          return "ok";
	case QUOTA_RULE_NOT_OURS:    return "not a rule for the whole mailbox";
	case QUOTA_RULE_SYNTAX:      return "expected <mask>:<limit>=<value>[:...]";
	case QUOTA_RULE_BAD_NAME:    return "a limit is storage, bytes or messages";
	case QUOTA_RULE_BAD_VALUE:   return "expected a size: digits and one of b k m g t";
	case QUOTA_RULE_UNSUPPORTED: return "relative limits, ignore and backend= are not supported";
	}
	return "?";
}
