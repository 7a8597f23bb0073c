/*
 * smtp_addr: parse RFC 5321 paths.
 *
 *   Path          = "<" [ A-d-l ":" ] Mailbox ">"
 *   Mailbox       = Local-part "@" ( Domain / address-literal )
 *   Local-part    = Dot-string / Quoted-string
 *   Dot-string    = Atom *("." Atom)
 *   Quoted-string = DQUOTE *QcontentSMTP DQUOTE
 *   Domain        = sub-domain *("." sub-domain)
 *   sub-domain    = Let-dig [Ldh-str]
 *
 * RFC 6531 §3.3 adds UTF8-non-ascii to atext, qtextSMTP and sub-domain
 * (U-labels). The parser works on the wire form and never allocates.
 */
#include "smtp_addr.h"

#include <string.h>

#include "../common/str.h"

static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

bool
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, k;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Length of the UTF-8 sequence at s (validated), or 0. */
static size_t
utf8_seq(const char *s, size_t len)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

	if (n == 0 || n > len || !smtp_utf8_valid(s, n))
		return 0;
	return n;
}

/* Local-part at s; returns its length or 0 on a syntax error. */
static size_t
parse_local(const char *s, size_t len, bool *utf8)
{
	size_t i = 0, n;

	if (len > 0 && s[0] == '"') {
		/* qtextSMTP = %d32-33 / %d35-91 / %d93-126; quoted-pairSMTP =
		 * %d92 %d32-126 */
		for (i = 1; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '"')
				return i + 1;
			if (c == '\\') {
				if (i + 1 >= len || s[i + 1] < 32 || s[i + 1] > 126)
					return 0;
				i++;
			} else if (c >= 0x80) {
				if ((n = utf8_seq(s + i, len - i)) == 0)
					return 0;
				*utf8 = true;
				i += n - 1;
			} else if (c < 32 || c > 126)
				return 0;
		}
		return 0;
	}
	/* Dot-string: no leading, trailing or doubled dots. */
	for (;;) {
		size_t start = i;

		while (i < len) {
			unsigned char c = (unsigned char)s[i];

			if (is_atext(c))
				i++;
			else if (c >= 0x80 && (n = utf8_seq(s + i, len - i)) > 0) {
				*utf8 = true;
				i += n;
			} else
				break;
		}
		if (i == start)
			return 0;
		if (i < len && s[i] == '.')
			i++;
		else
			return i;
	}
}

/* Domain or address-literal at s; returns its length or 0. */
static size_t
parse_domain(const char *s, size_t len, bool *utf8)
{
	size_t i = 0, n;

	if (len > 0 && s[0] == '[') {
		/* address-literal: the content is checked loosely (dcontent). */
		for (i = 1; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == ']')
				return i > 1 ? i + 1 : 0;
			if (c < 33 || c > 126 || c == '[' || c == '\\')
				return 0;
		}
		return 0;
	}
	for (;;) {
		size_t start = i;

		while (i < len) {
			unsigned char c = (unsigned char)s[i];

			if (is_letdig(c) || (c == '-' && i > start))
				i++;
			else if (c >= 0x80 && (n = utf8_seq(s + i, len - i)) > 0) {
				*utf8 = true;
				i += n;
			} else
				break;
		}
		if (i == start || s[i - 1] == '-')
			return 0;
		if (i + 1 < len && s[i] == '.' && s[i + 1] != '.')
			i++;
		else
			return i;
	}
}

/* Mailbox: Local-part "@" Domain. Fills out; returns consumed length. */
static enum smtp_addr_err
parse_mailbox(const char *s, size_t len, bool allow_utf8,
    struct smtp_path *out, size_t *consumed_r)
{
	size_t ll, dl;
	bool utf8 = false;

	if ((ll = parse_local(s, len, &utf8)) == 0)
		return SMTP_ADDR_SYNTAX;
	if (ll >= len || s[ll] != '@')
		return SMTP_ADDR_SYNTAX;
	if ((dl = parse_domain(s + ll + 1, len - ll - 1, &utf8)) == 0)
		return SMTP_ADDR_SYNTAX;
	if (ll > SMTP_LOCAL_MAX)
		return SMTP_ADDR_LOCAL_LONG;
	if (dl > SMTP_DOMAIN_MAX)
		return SMTP_ADDR_DOMAIN_LONG;
	if (utf8 && !allow_utf8)
		return SMTP_ADDR_NEED_UTF8;
	memcpy(out->local, s, ll);
	out->local[ll] = '\0';
	memcpy(out->domain, s + ll + 1, dl);
	out->domain[dl] = '\0';
	out->utf8 = utf8;
	*consumed_r = ll + 1 + dl;
	return SMTP_ADDR_OK;
}

enum smtp_addr_err
smtp_addr_parse_mailbox(const char *s, size_t len, bool allow_utf8,
    struct smtp_path *out)
{
	enum smtp_addr_err e;
	size_t used;

	memset(out, 0, sizeof(*out));
	if ((e = parse_mailbox(s, len, allow_utf8, out, &used)) != SMTP_ADDR_OK)
		return e;
	return used == len ? SMTP_ADDR_OK : SMTP_ADDR_SYNTAX;
}

enum smtp_addr_err
smtp_addr_parse_path(const char *s, size_t len, enum smtp_path_kind kind,
    bool allow_utf8, struct smtp_path *out, size_t *consumed_r)
{
	enum smtp_addr_err e;
	size_t i = 1, end, used;

	memset(out, 0, sizeof(*out));
	if (len < 2 || s[0] != '<')
		return SMTP_ADDR_SYNTAX;
	/* Find the closing '>' outside a quoted string to apply the path limit
	 * before anything else. */
	{
		bool q = false;

		for (end = 1; end < len; end++) {
			if (q && s[end] == '\\' && end + 1 < len)
				end++;
			else if (s[end] == '"')
				q = !q;
			else if (!q && s[end] == '>')
				break;
		}
		if (end == len)
			return SMTP_ADDR_SYNTAX;
		if (end + 1 > SMTP_PATH_MAX)
			return SMTP_ADDR_PATH_LONG;
	}
	if (end == 1) {
		if (kind != SMTP_PATH_REVERSE)
			return SMTP_ADDR_SYNTAX;
		out->null = true;
		*consumed_r = 2;
		return SMTP_ADDR_OK;
	}
	/* A-d-l = At-domain *( "," At-domain ); ignored (RFC 5321 §4.1.2). */
	if (s[i] == '@') {
		for (;;) {
			bool u = false;
			size_t dl = parse_domain(s + i + 1, end - i - 1, &u);

			if (dl == 0)
				return SMTP_ADDR_SYNTAX;
			i += 1 + dl;
			if (s[i] == ':') {
				i++;
				break;
			}
			if (s[i] != ',' || s[i + 1] != '@')
				return SMTP_ADDR_SYNTAX;
			i++;
		}
	}
	/* "<Postmaster>" is RCPT's alone: as a sender it would be
	 * "postmaster@", which nobody can answer. */
	if (kind == SMTP_PATH_FORWARD && i == 1 && str_ieqn(s + i, end - i, "postmaster")) {
		memcpy(out->local, s + i, end - i);
		out->local[end - i] = '\0';
		*consumed_r = end + 1;
		return SMTP_ADDR_OK;
	}
	if ((e = parse_mailbox(s + i, end - i, allow_utf8, out, &used)) != SMTP_ADDR_OK)
		return e;
	if (i + used != end)
		return SMTP_ADDR_SYNTAX;
	*consumed_r = end + 1;
	return SMTP_ADDR_OK;
}

int
smtp_addr_unquote_local(const char *local, char *out, size_t outsize)
{
	size_t n = strlen(local), i, o = 0;

	if (n < 2 || local[0] != '"')
		return str_copy(out, outsize, local);
	for (i = 1; i + 1 < n; i++) {
		if (local[i] == '\\')
			i++;
		if (o + 1 >= outsize)
			return -1;
		out[o++] = local[i];
	}
	out[o] = '\0';
	return 0;
}

const char *
smtp_addr_strerror(enum smtp_addr_err e)
{
	switch (e) {
	case SMTP_ADDR_OK:          return "ok";
	case SMTP_ADDR_SYNTAX:      return "address syntax error";
	case SMTP_ADDR_LOCAL_LONG:  return "local part longer than 64 octets";
	case SMTP_ADDR_DOMAIN_LONG: return "domain longer than 255 octets";
	case SMTP_ADDR_PATH_LONG:   return "path longer than 256 octets";
	case SMTP_ADDR_NEED_UTF8:   return "non-ASCII address without SMTPUTF8";
	}
	return "address error";
}
