/*
 * smtp_cmd: split command lines and parse ESMTP parameters.
 *
 *   Mail-parameters = esmtp-param *(SP esmtp-param)
 *   esmtp-param     = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value     = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
 *
 * Unknown keywords are refused with 555 (RFC 5321 §4.1.1.11); a keyword
 * given twice is a syntax error.
 */
#include "smtp_cmd.h"

#include <string.h>

#include "../common/str.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO },
	{ "LHLO", SMTP_CMD_LHLO }, { "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT }, { "DATA", SMTP_CMD_DATA },
	{ "BDAT", SMTP_CMD_BDAT }, { "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP }, { "QUIT", SMTP_CMD_QUIT },
	{ "VRFY", SMTP_CMD_VRFY }, { "EXPN", SMTP_CMD_EXPN },
	{ "HELP", SMTP_CMD_HELP }, { "STARTTLS", SMTP_CMD_STARTTLS },
	{ "AUTH", SMTP_CMD_AUTH },
};

enum smtp_cmd_err
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
	size_t i, vlen;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < len; i++) {
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return SMTP_CMD_E_BAD_CHAR;
	}
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (str_ieqn(line, vlen, verbs[i].name)) {
			out->verb = verbs[i].verb;
			break;
		}
	}
	if (out->verb == SMTP_CMD_UNKNOWN)
		return SMTP_CMD_E_VERB;
	if (vlen < len) {
		out->arg = line + vlen + 1;
		out->arglen = len - vlen - 1;
		/* Trailing spaces are common from clients; drop them. */
		while (out->arglen > 0 && out->arg[out->arglen - 1] == ' ')
			out->arglen--;
	} else {
		out->arg = line + len;
		out->arglen = 0;
	}
	return SMTP_CMD_OK;
}

static bool
is_xhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool
smtp_xtext_valid(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (i + 2 >= len || !is_xhex(s[i + 1]) ||
			    !is_xhex(s[i + 2]))
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

/* Next "KEY[=VALUE]" from s; advances *pos past it and one SP. */
static enum smtp_cmd_err
next_param(const char *s, size_t len, size_t *pos, const char **key,
    size_t *keylen, const char **val, size_t *vallen)
{
	size_t i = *pos, start = i;

	if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
	    (s[i] >= '0' && s[i] <= '9')))
		return SMTP_CMD_E_PARAM_SYNTAX;
	while (i < len && s[i] != '=' && s[i] != ' ') {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return SMTP_CMD_E_PARAM_SYNTAX;
		i++;
	}
	*key = s + start;
	*keylen = i - start;
	*val = NULL;
	*vallen = 0;
	if (i < len && s[i] == '=') {
		start = ++i;
		while (i < len && s[i] != ' ') {
			unsigned char c = (unsigned char)s[i];

			if (c < 33 || c == '=')
				return SMTP_CMD_E_PARAM_SYNTAX;
			i++;
		}
		if (i == start)
			return SMTP_CMD_E_PARAM_SYNTAX;
		*val = s + start;
		*vallen = i - start;
	}
	if (i < len) {
		i++;  /* the SP */
		if (i == len)
			return SMTP_CMD_E_PARAM_SYNTAX;
	}
	*pos = i;
	return SMTP_CMD_OK;
}

static bool
parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(s[i] - '0'), &n))
			return false;
	}
	*v = n;
	return true;
}

/* "FROM:" or "TO:" then the path; returns where the parameters start. */
static enum smtp_cmd_err
parse_prefix_path(const char *arg, size_t len, const char *prefix,
    enum smtp_path_kind kind, bool allow_utf8, struct smtp_path *path,
    enum smtp_addr_err *perr, size_t *pos_r)
{
	size_t plen = strlen(prefix), i, used;

	if (len < plen || !str_ieqn(arg, plen, prefix))
		return SMTP_CMD_E_SYNTAX;
	i = plen;
	if (i < len && arg[i] == ' ')
		i++;
	if ((*perr = smtp_addr_parse_path(arg + i, len - i, kind,
	    allow_utf8, path, &used)) != SMTP_ADDR_OK)
		return SMTP_CMD_E_PATH;
	i += used;
	if (i < len) {
		if (arg[i] != ' ' || i + 1 == len)
			return SMTP_CMD_E_SYNTAX;
		i++;
	}
	*pos_r = i;
	return SMTP_CMD_OK;
}

enum smtp_cmd_err
smtp_cmd_parse_mail(const char *arg, size_t len, struct smtp_path *from,
    struct smtp_mail_params *p, enum smtp_addr_err *path_err_r)
{
	enum smtp_cmd_err e;
	const char *k, *v;
	size_t pos, kl, vl;
	bool seen_body = false;

	memset(p, 0, sizeof(*p));
	*path_err_r = SMTP_ADDR_OK;
	/* The address may be UTF-8 only if SMTPUTF8 follows; checked below. */
	if ((e = parse_prefix_path(arg, len, "FROM:", SMTP_PATH_REVERSE, true, from,
	    path_err_r, &pos)) != SMTP_CMD_OK)
		return e;
	while (pos < len) {
		if ((e = next_param(arg, len, &pos, &k, &kl, &v, &vl)) != SMTP_CMD_OK)
			return e;
		if (str_ieqn(k, kl, "SIZE")) {
			if (p->has_size || !v || !parse_u64(v, vl, &p->size))
				return SMTP_CMD_E_PARAM_SYNTAX;
			p->has_size = true;
		} else if (str_ieqn(k, kl, "BODY")) {
			if (seen_body || !v)
				return SMTP_CMD_E_PARAM_SYNTAX;
			seen_body = true;
			if (str_ieqn(v, vl, "7BIT"))
				p->body = SMTP_BODY_7BIT;
			else if (str_ieqn(v, vl, "8BITMIME"))
				p->body = SMTP_BODY_8BITMIME;
			else if (str_ieqn(v, vl, "BINARYMIME"))
				p->body = SMTP_BODY_BINARYMIME;
			else
				return SMTP_CMD_E_PARAM_SYNTAX;
		} else if (str_ieqn(k, kl, "SMTPUTF8")) {
			if (p->smtputf8 || v)
				return SMTP_CMD_E_PARAM_SYNTAX;
			p->smtputf8 = true;
		} else if (str_ieqn(k, kl, "RET")) {
			if (p->ret != SMTP_RET_UNSET || !v)
				return SMTP_CMD_E_PARAM_SYNTAX;
			if (str_ieqn(v, vl, "FULL"))
				p->ret = SMTP_RET_FULL;
			else if (str_ieqn(v, vl, "HDRS"))
				p->ret = SMTP_RET_HDRS;
			else
				return SMTP_CMD_E_PARAM_SYNTAX;
		} else if (str_ieqn(k, kl, "ENVID")) {
			if (p->envid[0] || !v || vl > SMTP_ENVID_MAX ||
			    !smtp_xtext_valid(v, vl))
				return SMTP_CMD_E_PARAM_SYNTAX;
			memcpy(p->envid, v, vl);
			p->envid[vl] = '\0';
		} else if (str_ieqn(k, kl, "AUTH")) {
			if (p->auth[0] || !v || vl >= sizeof(p->auth) ||
			    !smtp_xtext_valid(v, vl))
				return SMTP_CMD_E_PARAM_SYNTAX;
			memcpy(p->auth, v, vl);
			p->auth[vl] = '\0';
		} else
			return SMTP_CMD_E_PARAM_UNKNOWN;
	}
	if (from->utf8 && !p->smtputf8) {
		*path_err_r = SMTP_ADDR_NEED_UTF8;
		return SMTP_CMD_E_PATH;
	}
	return SMTP_CMD_OK;
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) */
static bool
parse_notify(const char *v, size_t vl, unsigned *out)
{
	size_t i = 0;

	*out = 0;
	if (str_ieqn(v, vl, "NEVER")) {
		*out = SMTP_NOTIFY_NEVER;
		return true;
	}
	while (i < vl) {
		size_t j = i;
		unsigned bit;

		while (j < vl && v[j] != ',')
			j++;
		if (str_ieqn(v + i, j - i, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (str_ieqn(v + i, j - i, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (str_ieqn(v + i, j - i, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return false;
		if (*out & bit)
			return false;
		*out |= bit;
		if (j == vl)
			break;
		i = j + 1;
		if (i == vl)
			return false;
	}
	return *out != 0;
}

enum smtp_cmd_err
smtp_cmd_parse_rcpt(const char *arg, size_t len, bool allow_utf8,
    struct smtp_path *to, struct smtp_rcpt_params *p,
    enum smtp_addr_err *path_err_r)
{
	enum smtp_cmd_err e;
	const char *k, *v;
	size_t pos, kl, vl, semi;

	memset(p, 0, sizeof(*p));
	*path_err_r = SMTP_ADDR_OK;
	if ((e = parse_prefix_path(arg, len, "TO:", SMTP_PATH_FORWARD, allow_utf8, to,
	    path_err_r, &pos)) != SMTP_CMD_OK)
		return e;
	while (pos < len) {
		if ((e = next_param(arg, len, &pos, &k, &kl, &v, &vl)) != SMTP_CMD_OK)
			return e;
		if (str_ieqn(k, kl, "NOTIFY")) {
			if (p->notify || !v || !parse_notify(v, vl, &p->notify))
				return SMTP_CMD_E_PARAM_SYNTAX;
		} else if (str_ieqn(k, kl, "ORCPT")) {
			/* ORCPT = addr-type ";" xtext (RFC 3461 §4.2) */
			if (p->orcpt[0] || !v || vl > SMTP_ORCPT_MAX)
				return SMTP_CMD_E_PARAM_SYNTAX;
			for (semi = 0; semi < vl && v[semi] != ';'; semi++)
				;
			if (semi == 0 || semi + 1 >= vl ||
			    !smtp_xtext_valid(v + semi + 1, vl - semi - 1))
				return SMTP_CMD_E_PARAM_SYNTAX;
			memcpy(p->orcpt, v, vl);
			p->orcpt[vl] = '\0';
		} else
			return SMTP_CMD_E_PARAM_UNKNOWN;
	}
	return SMTP_CMD_OK;
}

enum smtp_cmd_err
smtp_cmd_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
    bool *last_r)
{
	size_t i = 0;

	*last_r = false;
	while (i < len && arg[i] != ' ')
		i++;
	if (!parse_u64(arg, i, size_r))
		return SMTP_CMD_E_SYNTAX;
	if (i < len) {
		if (!str_ieqn(arg + i + 1, len - i - 1, "LAST"))
			return SMTP_CMD_E_SYNTAX;
		*last_r = true;
	}
	return SMTP_CMD_OK;
}
