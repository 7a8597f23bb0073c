/*
 * pop3_cmd: split a POP3 command line and parse its arguments.
 *
 * RFC 1939 §3: a case-insensitive keyword of three or four characters,
 * then arguments, each after a single SP. RFC 2449 §4 bounds the line
 * (255 octets with CRLF) and each argument (40). By verb:
 *
 *   QUIT STAT NOOP RSET CAPA STLS UTF8      no argument
 *   LIST [msg]   UIDL [msg]   RETR msg   DELE msg   TOP msg n
 *   USER name    PASS string (the rest of the line)   APOP name digest
 *   AUTH [mechanism [initial-response]]               (RFC 5034 §4)
 *   LANG [lang-range]                                 (RFC 6856 §3)
 *
 * A bare AUTH is not in RFC 5034's grammar, but clients send it to list
 * the mechanisms (as RFC 1734's servers answered); the session decides.
 */
#include "pop3_cmd.h"

#include <string.h>

#include "../common/str.h"

enum args {
	A_NONE, A_MSG_OPT, A_MSG, A_TOP, A_USER, A_PASS, A_APOP, A_AUTH, A_LANG,
};

static const struct {
	const char *name;
	enum pop3_verb verb;
	enum args args;
} verbs[] = {
	{ "USER", POP3_CMD_USER, A_USER }, { "PASS", POP3_CMD_PASS, A_PASS },
	{ "QUIT", POP3_CMD_QUIT, A_NONE }, { "STAT", POP3_CMD_STAT, A_NONE },
	{ "LIST", POP3_CMD_LIST, A_MSG_OPT }, { "RETR", POP3_CMD_RETR, A_MSG },
	{ "DELE", POP3_CMD_DELE, A_MSG }, { "NOOP", POP3_CMD_NOOP, A_NONE },
	{ "RSET", POP3_CMD_RSET, A_NONE }, { "TOP", POP3_CMD_TOP, A_TOP },
	{ "UIDL", POP3_CMD_UIDL, A_MSG_OPT }, { "CAPA", POP3_CMD_CAPA, A_NONE },
	{ "STLS", POP3_CMD_STLS, A_NONE }, { "AUTH", POP3_CMD_AUTH, A_AUTH },
	{ "UTF8", POP3_CMD_UTF8, A_NONE }, { "APOP", POP3_CMD_APOP, A_APOP },
	{ "LANG", POP3_CMD_LANG, A_LANG },
};

/* The most arguments any verb takes. */
#define MAX_ARGS 2

struct tok {
	const char *p;
	size_t len;
};

void
pop3_cmd_limits_default(struct pop3_cmd_limits *lim)
{
	lim->max_line = POP3_CMD_LINE_MAX;
	lim->max_arg = POP3_CMD_ARG_MAX;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Decimal digits only: no sign, no space, nothing after; leading zeros
 * are still decimal. */
static enum pop3_cmd_err
parse_number(const struct tok *t, uint32_t min, uint32_t *v)
{
	uint64_t n = 0;
	size_t i;

	if (t->len == 0)
		return POP3_CMD_E_NUMBER;
	for (i = 0; i < t->len; i++) {
		if (!is_digit(t->p[i]))
			return POP3_CMD_E_NUMBER;
		/* n stays at most POP3_MSG_MAX here, so this cannot wrap. */
		n = n * 10 + (uint64_t)(t->p[i] - '0');
		if (n > POP3_MSG_MAX)
			return POP3_CMD_E_NUMBER;
	}
	if (n < min)
		return POP3_CMD_E_NUMBER;
	*v = (uint32_t)n;
	return POP3_CMD_OK;
}

/*
 * RFC 4422 §3.1: sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA /
 * DIGIT / HYPHEN / UNDERSCORE. Lower case is taken too: clients send it
 * and sasl_server_start() compares without case.
 */
static bool
is_sasl_mech(const struct tok *t)
{
	size_t i;

	if (t->len == 0 || t->len > 20)
		return false;
	for (i = 0; i < t->len; i++) {
		char c = t->p[i];

		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
	}
	return true;
}

/* RFC 4647 §2.1: language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*" */
static bool
is_lang_range(const struct tok *t)
{
	size_t i, sub = 0;
	bool first = true;   /* in the first subtag: letters only */

	if (t->len == 1 && t->p[0] == '*')
		return true;
	for (i = 0; i < t->len; i++) {
		char c = t->p[i];

		if (c == '-') {
			if (sub == 0)
				return false;
			sub = 0;
			first = false;
		} else if (sub < 8 && (is_alpha(c) || (!first && is_digit(c))))
			sub++;
		else
			return false;
	}
	return sub > 0;
}

/* RFC 1939 §7: the APOP digest is 16 octets as 32 hex digits. */
static bool
is_apop_digest(const struct tok *t)
{
	size_t i;

	if (t->len != 32)
		return false;
	for (i = 0; i < t->len; i++) {
		if (!is_hex(t->p[i]))
			return false;
	}
	return true;
}

/* Splits what follows the verb (from its SP on) into at most MAX_ARGS
 * arguments, one SP before each; an empty one means two SPs in a row. */
static enum pop3_cmd_err
split_args(const char *s, size_t len, struct tok *tok, size_t *ntok_r)
{
	size_t i = 0, start, ntok = 0;

	while (i < len) {
		start = ++i;  /* past the SP */
		while (i < len && s[i] != ' ')
			i++;
		if (i == start || ntok == MAX_ARGS)
			return POP3_CMD_E_SYNTAX;
		tok[ntok].p = s + start;
		tok[ntok].len = i - start;
		ntok++;
	}
	*ntok_r = ntok;
	return POP3_CMD_OK;
}

static void
set_arg(struct pop3_cmd *out, const struct tok *t)
{
	out->arg = t->p;
	out->arglen = t->len;
}

static void
set_arg2(struct pop3_cmd *out, const struct tok *t)
{
	out->arg2 = t->p;
	out->arg2len = t->len;
}

/* The arguments of each verb, once the count is known to be at most
 * MAX_ARGS and each is within max_arg (AUTH's second aside). */
static enum pop3_cmd_err
parse_args(enum args args, const struct tok *tok, size_t ntok,
    struct pop3_cmd *out)
{
	enum pop3_cmd_err e;

	switch (args) {
	case A_NONE:
		return ntok == 0 ? POP3_CMD_OK : POP3_CMD_E_SYNTAX;
	case A_MSG_OPT:
	case A_MSG:
		if (ntok == 0 && args == A_MSG_OPT)
			return POP3_CMD_OK;
		if (ntok != 1)
			return POP3_CMD_E_SYNTAX;
		if ((e = parse_number(&tok[0], 1, &out->msg)) != POP3_CMD_OK)
			return e;
		out->has_msg = true;
		return POP3_CMD_OK;
	case A_TOP:
		if (ntok != 2)
			return POP3_CMD_E_SYNTAX;
		if ((e = parse_number(&tok[0], 1, &out->msg)) != POP3_CMD_OK ||
		    (e = parse_number(&tok[1], 0, &out->top_lines)) != POP3_CMD_OK)
			return e;
		out->has_msg = true;
		return POP3_CMD_OK;
	case A_USER:
		if (ntok != 1)
			return POP3_CMD_E_SYNTAX;
		set_arg(out, &tok[0]);
		return POP3_CMD_OK;
	case A_APOP:
		if (ntok != 2 || !is_apop_digest(&tok[1]))
			return POP3_CMD_E_SYNTAX;
		set_arg(out, &tok[0]);
		set_arg2(out, &tok[1]);
		return POP3_CMD_OK;
	case A_AUTH:
		if (ntok == 0)
			return POP3_CMD_OK;
		if (!is_sasl_mech(&tok[0]))
			return POP3_CMD_E_SYNTAX;
		set_arg(out, &tok[0]);
		if (ntok == 2) {
			set_arg2(out, &tok[1]);
			/* RFC 5034 §4: "=" is an initial response of zero length. */
			if (tok[1].len == 1 && tok[1].p[0] == '=')
				out->arg2len = 0;
		}
		return POP3_CMD_OK;
	case A_LANG:
		if (ntok == 0)
			return POP3_CMD_OK;
		if (ntok != 1 || !is_lang_range(&tok[0]))
			return POP3_CMD_E_SYNTAX;
		set_arg(out, &tok[0]);
		return POP3_CMD_OK;
	case A_PASS:
		break;
	}
	return POP3_CMD_E_SYNTAX;
}

enum pop3_cmd_err
pop3_cmd_parse(const char *line, size_t len, const struct pop3_cmd_limits *lim,
    struct pop3_cmd *out)
{
	struct tok tok[MAX_ARGS];
	enum args args = A_NONE;
	enum pop3_cmd_err e;
	size_t i, vlen, ntok;

	memset(out, 0, sizeof(*out));
	/* max_line counts the CRLF, which the caller has taken off. */
	if (lim->max_line < 2 || len > lim->max_line - 2)
		return POP3_CMD_E_TOO_LONG;
	for (i = 0; i < len; i++) {
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return POP3_CMD_E_BAD_CHAR;
	}
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (str_ieqn(line, vlen, verbs[i].name)) {
			out->verb = verbs[i].verb;
			args = verbs[i].args;
			break;
		}
	}
	if (out->verb == POP3_CMD_UNKNOWN)
		return POP3_CMD_E_UNKNOWN;

	if (args == A_PASS) {
		/* RFC 1939 §7: the password is the rest of the line, spaces and
		 * all; it is bounded by the line alone. */
		if (len - vlen < 2)
			return POP3_CMD_E_SYNTAX;
		out->arg = line + vlen + 1;
		out->arglen = len - vlen - 1;
		return POP3_CMD_OK;
	}
	/* Trailing spaces are common from clients; drop them. */
	while (len > vlen && line[len - 1] == ' ')
		len--;
	if ((e = split_args(line + vlen, len - vlen, tok, &ntok)) != POP3_CMD_OK)
		return e;
	for (i = 0; i < ntok; i++) {
		/* AUTH's initial response is bounded by the line alone. */
		if (args == A_AUTH && i == 1)
			continue;
		if (tok[i].len > lim->max_arg)
			return POP3_CMD_E_TOO_LONG;
	}
	if ((e = parse_args(args, tok, ntok, out)) != POP3_CMD_OK) {
		/* Nothing half-parsed for the session to trust: the verb only. */
		enum pop3_verb verb = out->verb;

		memset(out, 0, sizeof(*out));
		out->verb = verb;
	}
	return e;
}
