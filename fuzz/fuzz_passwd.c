/*
 * fuzz_passwd: passwd-file lines. An entry's spans lie inside the line,
 * the user is local@domain without blanks or a second '@', and walking
 * the extra field ends within it, every pair inside it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/passwd.h"

#define CHECK(x) do { \
	if (!(x)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

static int
inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data, *at;
	struct passwd_entry e;
	const char *k, *v;
	size_t kl, vl, pos = 0, pairs = 0;

	if (passwd_parse_line(line, size, &e) != PASSWD_ENTRY)
		return 0;
	CHECK(e.user_len > 0 && inside(e.user, e.user_len, line, size));
	CHECK(e.pass_len == 0 || inside(e.pass, e.pass_len, line, size));
	CHECK(e.extra_len == 0 || inside(e.extra, e.extra_len, line, size));
	at = memchr(e.user, '@', e.user_len);
	CHECK(at != NULL && at != e.user && at != e.user + e.user_len - 1);
	CHECK(memchr(at + 1, '@', e.user_len - (size_t)(at + 1 - e.user)) == NULL);
	CHECK(memchr(e.user, ' ', e.user_len) == NULL && memchr(e.user, ':', e.user_len) == NULL);
	while (passwd_next_extra(e.extra, e.extra_len, &pos, &k, &kl, &v, &vl)) {
		CHECK(kl + vl <= e.extra_len && inside(k, kl, e.extra, e.extra_len));
		CHECK(vl == 0 || inside(v, vl, e.extra, e.extra_len));
		CHECK(pos <= e.extra_len);
		CHECK(++pairs <= e.extra_len);
	}
	return 0;
}
