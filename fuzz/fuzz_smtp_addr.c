/*
 * fuzz_smtp_addr: paths, mailboxes and local-part unquoting. Whatever the
 * path parser accepts must also be a valid bare mailbox with the same
 * parts, and stay within the RFC 5321 limits; "<>" only as MAIL's path,
 * a bare "<postmaster>" only as RCPT's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/smtp_addr.h"

static bool
ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

static void
check_unquote(const char *local)
{
	char out[SMTP_LOCAL_MAX + 1];

	/* unquoting never grows the local part, so it always fits */
	CHECK(smtp_addr_unquote_local(local, out, sizeof(out)) == 0);
	CHECK(strlen(out) <= strlen(local));
}

static void
path(const char *s, size_t n, enum smtp_path_kind kind, bool allow_utf8)
{
	struct smtp_path p, m;
	size_t used = 0, ll, dl;
	enum smtp_addr_err e;
	char mbox[SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1];

	e = smtp_addr_parse_path(s, n, kind, allow_utf8, &p, &used);
	if (e != SMTP_ADDR_OK) {
		if (e == SMTP_ADDR_NEED_UTF8)
			CHECK(!allow_utf8);
		return;
	}
	CHECK(used >= 2 && used <= n && used <= SMTP_PATH_MAX);
	CHECK(s[0] == '<' && s[used - 1] == '>');
	ll = strlen(p.local);
	dl = strlen(p.domain);
	CHECK(ll <= SMTP_LOCAL_MAX && dl <= SMTP_DOMAIN_MAX);
	if (p.null) {
		CHECK(kind == SMTP_PATH_REVERSE && used == 2 && ll == 0 && dl == 0);
		return;
	}
	CHECK(ll > 0);
	CHECK(p.utf8 == !(ascii(p.local) && ascii(p.domain)));
	if (!allow_utf8)
		CHECK(!p.utf8);
	CHECK(smtp_utf8_valid(p.local, ll) && smtp_utf8_valid(p.domain, dl));
	check_unquote(p.local);
	if (dl == 0) {
		CHECK(strcasecmp(p.local, "postmaster") == 0);
		CHECK(kind == SMTP_PATH_FORWARD && used == 12);
		return;
	}
	/* the same mailbox, bare, parses to the same parts */
	memcpy(mbox, p.local, ll);
	mbox[ll] = '@';
	memcpy(mbox + ll + 1, p.domain, dl);
	CHECK(smtp_addr_parse_mailbox(mbox, ll + 1 + dl, allow_utf8, &m) ==
	    SMTP_ADDR_OK);
	CHECK(strcmp(m.local, p.local) == 0 && strcmp(m.domain, p.domain) == 0);
	CHECK(m.utf8 == p.utf8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_path m;
	char *z;

	path(s, size, SMTP_PATH_REVERSE, true);
	path(s, size, SMTP_PATH_FORWARD, false);
	if (smtp_addr_parse_mailbox(s, size, true, &m) == SMTP_ADDR_OK) {
		CHECK(strlen(m.local) + 1 + strlen(m.domain) == size);
		CHECK(strlen(m.domain) > 0 && !m.null);
		check_unquote(m.local);
		CHECK(smtp_utf8_valid(s, size));
	}
	smtp_addr_parse_mailbox(s, size, false, &m);
	smtp_utf8_valid(s, size);

	/* unquote on anything, within a small output */
	if ((z = malloc(size + 1)) != NULL) {
		char out[16];

		memcpy(z, data, size);
		z[size] = '\0';
		if (smtp_addr_unquote_local(z, out, sizeof(out)) == 0)
			CHECK(strlen(out) < sizeof(out));
		free(z);
	}
	return 0;
}
