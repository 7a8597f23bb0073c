/*
 * authres: writing Authentication-Results (RFC 8601 §2.2) and reading the
 * authserv-id of one (see authres.h).
 */
#include "authres.h"

#include <string.h>
#include <strings.h>

#define FOLD_AT 78            /* RFC 5322 §2.1.1: lines of 78 or fewer */

/* RFC 2045 tspecials: a token is anything printable but these and SP. */
static bool
tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool
printable(char c)
{
	return c > ' ' && c < 0x7f;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!printable(*s) || tspecial(*s))
			return false;
	return true;
}

static bool
atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* dot-atom-text over s[0..n): atoms separated by single dots. */
static bool
dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!(atext(s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

/* pvalue (§2.2) may be written bare as a token or [local-part] "@" domain. */
static bool
bare_pvalue(const char *s)
{
	const char *at = strchr(s, '@');

	if (is_token(s))
		return true;
	if (at == NULL || strchr(at + 1, '@'))
		return false;
	return (at == s || dot_atom(s, (size_t)(at - s))) &&
	    dot_atom(at + 1, strlen(at + 1));
}

static void
put(struct authres *ar, const char *s, size_t n)
{
	buf_append(ar->out, s, n);
	ar->col += n;
}

static void
put_str(struct authres *ar, const char *s)
{
	put(ar, s, strlen(s));
}

/* Printable ASCII or '?', with the given octets backslash-escaped. */
static void
put_escaped(struct authres *ar, const char *s, const char *esc)
{
	for (; *s; s++) {
		char c = (*s >= ' ' && *s < 0x7f) ? *s : '?';

		if (strchr(esc, c))
			put(ar, "\\", 1);
		put(ar, &c, 1);
	}
}

static void
put_value(struct authres *ar, const char *s, bool pvalue)
{
	if (pvalue ? bare_pvalue(s) : is_token(s)) {
		put_str(ar, s);
		return;
	}
	put(ar, "\"", 1);
	put_escaped(ar, s, "\"\\");
	put(ar, "\"", 1);
}

/* A space, or a fold when the next piece of about want octets would pass
 * the line length. */
static void
gap(struct authres *ar, size_t want)
{
	if (ar->col + 1 + want > FOLD_AT) {
		buf_append_str(ar->out, "\r\n\t");
		ar->col = 1;
	} else {
		put(ar, " ", 1);
	}
}

void
authres_begin(struct authres *ar, struct buf *out, const char *authserv_id)
{
	ar->out = out;
	ar->nresults = 0;
	ar->col = 0;
	put_str(ar, "Authentication-Results: ");
	put_value(ar, authserv_id, false);
}

void
authres_add(struct authres *ar, const char *method, const char *result,
    const char *comment, const char *reason, const struct authres_prop *props,
    size_t nprops)
{
	size_t i;

	/* Each result starts a line of its own: readable, and short. */
	put(ar, ";", 1);
	buf_append_str(ar->out, "\r\n\t");
	ar->col = 1;
	put_str(ar, method);
	put(ar, "=", 1);
	put_str(ar, result);
	if (comment) {
		gap(ar, strlen(comment) + 2);
		put(ar, "(", 1);
		put_escaped(ar, comment, "()\\");
		put(ar, ")", 1);
	}
	if (reason) {
		gap(ar, strlen(reason) + 9);
		put_str(ar, "reason=");
		put_value(ar, reason, false);
	}
	for (i = 0; i < nprops; i++) {
		const struct authres_prop *p = &props[i];

		if (p->value == NULL || p->value[0] == '\0')
			continue;
		gap(ar, strlen(p->ptype) + strlen(p->property) + strlen(p->value) + 2);
		put_str(ar, p->ptype);
		put(ar, ".", 1);
		put_str(ar, p->property);
		put(ar, "=", 1);
		put_value(ar, p->value, true);
	}
	ar->nresults++;
}

void
authres_end(struct authres *ar)
{
	if (ar->nresults == 0)
		put_str(ar, "; none");
	buf_append_str(ar->out, "\r\n");
	ar->col = 0;
}

/* ------------------------------------------------------------ reading -- */

/* Skips FWS and comments (nested, with quoted-pairs); false if a comment
 * does not close within the value. */
static bool
skip_cfws(const char *s, size_t len, size_t *i)
{
	while (*i < len) {
		char c = s[*i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			(*i)++;
		} else if (c == '(') {
			int depth = 0;

			do {
				if (s[*i] == '\\' && *i + 1 < len)
					(*i)++;
				else if (s[*i] == '(')
					depth++;
				else if (s[*i] == ')')
					depth--;
				(*i)++;
			} while (depth > 0 && *i < len);
			if (depth > 0)
				return false;
		} else {
			break;
		}
	}
	return true;
}

static bool
same_char(char a, char b)
{
	if (a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b;
}

bool
authres_id_is(const char *value, size_t len, const char *id)
{
	size_t i = 0, idlen = strlen(id), k = 0, start;

	if (!skip_cfws(value, len, &i) || i >= len || idlen == 0)
		return false;
	if (value[i] == '"') {
		/* quoted-string: compare the content, quoted-pairs undone */
		for (i++; i < len && value[i] != '"'; i++) {
			char c = value[i];

			if (c == '\r' || c == '\n')
				continue;        /* a fold inside the quotes */
			if (c == '\\' && i + 1 < len)
				c = value[++i];
			if (k >= idlen || !same_char(c, id[k]))
				return false;
			k++;
		}
		return i < len && k == idlen;
	}
	/* token: ends at a space, a comment, ';' or the end */
	start = i;
	while (i < len && printable(value[i]) && !tspecial(value[i]))
		i++;
	if (i - start != idlen)
		return false;
	for (k = 0; k < idlen; k++)
		if (!same_char(value[start + k], id[k]))
			return false;
	return true;
}
