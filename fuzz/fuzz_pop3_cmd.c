/*
 * fuzz_pop3_cmd: POP3 command lines. The input is one line without CRLF,
 * never NUL-terminated, so any read past its end is an ASan report. It is
 * parsed with the RFC 2449 limits and with limits that never bind, and
 * the two must agree wherever the first accepts; the verb in the other
 * case gives the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/pop3_cmd.h"

static bool
inside(const char *p, size_t n, const char *s, size_t size)
{
	return p >= s && n <= size && p + n <= s + size;
}

static void
check(const char *s, size_t size, const struct pop3_cmd_limits *lim,
    enum pop3_cmd_err e, const struct pop3_cmd *c)
{
	size_t i;

	if (e != POP3_CMD_OK) {
		CHECK(!c->has_msg && c->arg == NULL && c->arg2 == NULL);
		CHECK(c->msg == 0 && c->top_lines == 0);
		if (e == POP3_CMD_E_UNKNOWN || e == POP3_CMD_E_BAD_CHAR)
			CHECK(c->verb == POP3_CMD_UNKNOWN);
		return;
	}
	CHECK(c->verb != POP3_CMD_UNKNOWN);
	CHECK(size + 2 <= lim->max_line);
	for (i = 0; i < size; i++)
		CHECK(s[i] != '\0' && s[i] != '\r' && s[i] != '\n');
	if (c->has_msg)
		CHECK(c->msg >= 1 && c->msg <= POP3_MSG_MAX);
	else
		CHECK(c->msg == 0);
	CHECK(c->top_lines <= POP3_MSG_MAX);
	if (c->verb != POP3_CMD_TOP)
		CHECK(c->top_lines == 0);
	if (c->arg) {
		CHECK(inside(c->arg, c->arglen, s, size));
		if (c->verb != POP3_CMD_PASS)
			CHECK(c->arglen > 0 && c->arglen <= lim->max_arg);
	}
	if (c->arg2) {
		CHECK(inside(c->arg2, c->arg2len, s, size));
		CHECK(c->arg != NULL && c->arg2 > c->arg + c->arglen);
		if (c->verb == POP3_CMD_AUTH && c->arg2len == 0)
			CHECK(c->arg2[0] == '=');
	}
	switch (c->verb) {
	case POP3_CMD_QUIT: case POP3_CMD_STAT: case POP3_CMD_NOOP:
	case POP3_CMD_RSET: case POP3_CMD_CAPA: case POP3_CMD_STLS:
	case POP3_CMD_UTF8:
		CHECK(!c->has_msg && c->arg == NULL && c->arg2 == NULL);
		break;
	case POP3_CMD_RETR: case POP3_CMD_DELE: case POP3_CMD_TOP:
		CHECK(c->has_msg && c->arg == NULL && c->arg2 == NULL);
		break;
	case POP3_CMD_LIST: case POP3_CMD_UIDL:
		CHECK(c->arg == NULL && c->arg2 == NULL);
		break;
	case POP3_CMD_USER: case POP3_CMD_PASS:
		CHECK(c->arg != NULL && c->arg2 == NULL && !c->has_msg);
		/* PASS: the rest of the line, whatever it holds */
		if (c->verb == POP3_CMD_PASS)
			CHECK(c->arg == s + 5 && c->arglen == size - 5);
		else
			CHECK(memchr(c->arg, ' ', c->arglen) == NULL);
		break;
	case POP3_CMD_APOP:
		CHECK(c->arg != NULL && c->arg2 != NULL && c->arg2len == 32);
		break;
	case POP3_CMD_AUTH:
		if (c->arg == NULL)
			CHECK(c->arg2 == NULL);
		else
			CHECK(c->arglen <= 20);
		break;
	case POP3_CMD_LANG:
		CHECK(c->arg2 == NULL && !c->has_msg);
		break;
	case POP3_CMD_UNKNOWN:
		CHECK(0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct pop3_cmd_limits rfc, open, tight;
	struct pop3_cmd a, b, c;
	enum pop3_cmd_err ea, eb, ec;
	char *flip;
	size_t i;

	pop3_cmd_limits_default(&rfc);
	ea = pop3_cmd_parse(s, size, &rfc, &a);
	check(s, size, &rfc, ea, &a);

	open.max_line = size + 2;
	open.max_arg = SIZE_MAX;
	eb = pop3_cmd_parse(s, size, &open, &b);
	check(s, size, &open, eb, &b);
	CHECK(eb != POP3_CMD_E_TOO_LONG);
	/* What fits the RFC's limits means the same without them. */
	if (ea != POP3_CMD_E_TOO_LONG)
		CHECK(ea == eb && memcmp(&a, &b, sizeof(a)) == 0);

	/* One octet short of room for the line and its CRLF. */
	tight.max_line = size + 1;
	tight.max_arg = SIZE_MAX;
	CHECK(pop3_cmd_parse(s, size, &tight, &c) == POP3_CMD_E_TOO_LONG);

	/* The verb in the other case: the same answer. */
	if ((flip = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(flip, s, size);
	for (i = 0; i < size && flip[i] != ' '; i++) {
		if ((flip[i] >= 'a' && flip[i] <= 'z') ||
		    (flip[i] >= 'A' && flip[i] <= 'Z'))
			flip[i] ^= 0x20;
	}
	ec = pop3_cmd_parse(flip, size, &open, &c);
	CHECK(ec == eb && c.verb == b.verb && c.has_msg == b.has_msg &&
	    c.msg == b.msg && c.top_lines == b.top_lines &&
	    c.arglen == b.arglen && c.arg2len == b.arg2len);
	free(flip);
	return 0;
}
