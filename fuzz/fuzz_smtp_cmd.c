/*
 * fuzz_smtp_cmd: command lines and the MAIL/RCPT/BDAT argument parsers.
 * The input is one line without CRLF, never NUL-terminated, so any read
 * past its end is an ASan report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/smtp_cmd.h"

static void
check_path(const struct smtp_path *p, bool allow_utf8)
{
	size_t ll = strnlen(p->local, sizeof(p->local));
	size_t dl = strnlen(p->domain, sizeof(p->domain));

	CHECK(ll <= SMTP_LOCAL_MAX);
	CHECK(dl <= SMTP_DOMAIN_MAX);
	if (p->null)
		CHECK(ll == 0 && dl == 0);
	else
		CHECK(ll > 0);
	if (!allow_utf8)
		CHECK(!p->utf8);
	CHECK(smtp_utf8_valid(p->local, ll));
	CHECK(smtp_utf8_valid(p->domain, dl));
}

static void
mail(const char *s, size_t n)
{
	struct smtp_path from;
	struct smtp_mail_params p;
	enum smtp_addr_err pe = SMTP_ADDR_OK;
	enum smtp_cmd_err e;

	e = smtp_cmd_parse_mail(s, n, &from, &p, &pe);
	if (e == SMTP_CMD_E_PATH)
		CHECK(pe != SMTP_ADDR_OK);
	if (e != SMTP_CMD_OK)
		return;
	CHECK(pe == SMTP_ADDR_OK);
	check_path(&from, p.smtputf8);
	CHECK(strlen(p.envid) <= SMTP_ENVID_MAX);
	CHECK(smtp_xtext_valid(p.envid, strlen(p.envid)));
	CHECK(smtp_xtext_valid(p.auth, strlen(p.auth)));
	CHECK(p.body <= SMTP_BODY_BINARYMIME && p.ret <= SMTP_RET_HDRS);
	if (!p.has_size)
		CHECK(p.size == 0);
}

static void
rcpt(const char *s, size_t n, bool allow_utf8)
{
	struct smtp_path to;
	struct smtp_rcpt_params p;
	enum smtp_addr_err pe = SMTP_ADDR_OK;
	enum smtp_cmd_err e;

	e = smtp_cmd_parse_rcpt(s, n, allow_utf8, &to, &p, &pe);
	if (e == SMTP_CMD_E_PATH)
		CHECK(pe != SMTP_ADDR_OK);
	if (e != SMTP_CMD_OK)
		return;
	check_path(&to, allow_utf8);
	CHECK(!to.null);
	CHECK(strlen(p.orcpt) <= SMTP_ORCPT_MAX);
	CHECK(p.orcpt[0] == '\0' || strchr(p.orcpt, ';') != NULL);
	/* NEVER excludes the others; 0 means not given */
	CHECK(p.notify == 0 || p.notify == SMTP_NOTIFY_NEVER ||
	    (p.notify & ~7u) == 0);
}

static void
bdat(const char *s, size_t n)
{
	uint64_t size = 0;
	bool last = true;

	if (smtp_cmd_parse_bdat(s, n, &size, &last) == SMTP_CMD_OK)
		CHECK(n > 0 && s[0] >= '0' && s[0] <= '9');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_cmd cmd;
	size_t i;

	if (smtp_cmd_parse(s, size, &cmd) == SMTP_CMD_OK) {
		CHECK(cmd.verb != SMTP_CMD_UNKNOWN);
		CHECK(cmd.arg >= s && cmd.arglen <= size &&
		    cmd.arg + cmd.arglen <= s + size);
		for (i = 0; i < size; i++)
			CHECK(s[i] != '\0' && s[i] != '\r' && s[i] != '\n');
		switch (cmd.verb) {
		case SMTP_CMD_MAIL:
			mail(cmd.arg, cmd.arglen);
			break;
		case SMTP_CMD_RCPT:
			rcpt(cmd.arg, cmd.arglen, false);
			rcpt(cmd.arg, cmd.arglen, true);
			break;
		case SMTP_CMD_BDAT:
			bdat(cmd.arg, cmd.arglen);
			break;
		default:
			break;
		}
	}
	/* The argument parsers on the raw input too: more of it reaches them. */
	mail(s, size);
	rcpt(s, size, size > 0 && (data[0] & 1));
	bdat(s, size);
	smtp_xtext_valid(s, size);
	return 0;
}
