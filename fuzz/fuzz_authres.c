/*
 * fuzz_authres: the Authentication-Results writer and the authserv-id
 * reader. The input, split at NUL octets, gives an authserv-id, then
 * method, result, comment, reason and property values. Whatever they
 * hold, the field written must be one header field: printable ASCII or
 * TAB, CRLF only before a TAB and at the end; and reading it back must
 * find its own authserv-id. The whole input is also read as a field value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "common/buf.h"
#include "proto/authres.h"

#define NPART 9

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *part[NPART];
	struct buf b = BUF_INIT;
	struct authres ar;
	struct authres_prop p[3];
	const char *s, *colon;
	size_t i, off = 0;

	(void)authres_id_is((const char *)data, size, "mx.tern.test");
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (i = 0; i < NPART; i++) {
		part[i] = copy + off;
		off += strlen(copy + off);
		if (off < size)
			off++;
	}
	/* The authserv-id is ours (a host name): printable, no specials. */
	for (i = 0; part[0][i]; i++)
		if (part[0][i] <= ' ' || part[0][i] >= 0x7f || strchr("()<>@,;:\\\"/[]?=", part[0][i]))
			part[0][i] = 'x';
	if (part[0][0] == '\0')
		part[0] = "mx";
	for (i = 0; i < 3; i++) {
		p[i].ptype = "header";
		p[i].property = "d";
		p[i].value = part[6 + i];
	}
	/* method and result are ours too: words. */
	authres_begin(&ar, &b, part[0]);
	authres_add(&ar, "dkim", part[2][0] ? "pass" : "fail",
	    part[3][0] ? part[3] : NULL, part[4][0] ? part[4] : NULL, p, 3);
	authres_add(&ar, "spf", "none", NULL, part[5], p, (unsigned char)part[1][0] % 4);
	authres_end(&ar);
	s = buf_cstr(&b);
	CHECK(b.len >= 2 && s[b.len - 2] == '\r' && s[b.len - 1] == '\n');
	for (i = 0; i < b.len - 2; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			CHECK(s[i + 1] == '\n' && s[i + 2] == '\t');
		else if (c == '\n')
			CHECK(i > 0 && s[i - 1] == '\r');
		else
			CHECK(c == '\t' || (c >= ' ' && c < 0x7f));
	}
	colon = strchr(s, ':');
	CHECK(colon != NULL);
	CHECK(authres_id_is(colon + 1, b.len - (size_t)(colon + 1 - s), part[0]));
	buf_release(&b);
	free(copy);
	return 0;
}
