/*
 * fuzz_logline: tern's log lines read back (proto/logline.c). The input
 * is one line, never NUL-terminated, so any read past its end is an ASan
 * report. What the parser hands back must lie inside the line or its own
 * store; and a line made again from the fields it found, each value
 * written by log_append_value, must parse to the same fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "common/buf.h"
#include "common/log.h"
#include "proto/logline.h"

static struct logline A, B;

static int
inside(const char *p, size_t n, const char *s, size_t size)
{
	return n == 0 || (p >= s && n <= size && p + n <= s + size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct logline_time t;
	struct buf b = BUF_INIT;
	int64_t ms;
	size_t i, used;

	used = logline_parse_time(s, size, &t);
	CHECK(used <= size && t.have == (used > 0));
	if (logline_time_ms(&t, &ms))
		CHECK(t.have && t.have_year && t.have_zone);

	if (logline_parse(s, size, &A) != LOGLINE_OK)
		return 0;
	CHECK(inside(A.stamp, A.stamp_len, s, size));
	CHECK(inside(A.host, A.host_len, s, size));
	CHECK(inside(A.prog, A.prog_len, s, size));
	CHECK(inside(A.rest, A.rest_len, s, size));
	CHECK(A.nfields <= LOGLINE_MAX_FIELDS);
	for (i = 0; i < A.nfields; i++) {
		const struct logline_field *f = &A.f[i];

		CHECK(f->klen > 0 && inside(f->key, f->klen + 1, A.store, sizeof(A.store)));
		CHECK(inside(f->val, f->vlen + 1, A.store, sizeof(A.store)));
		CHECK(f->key[f->klen] == '\0' && f->val[f->vlen] == '\0');
		CHECK(memchr(f->key, '=', f->klen) == NULL && memchr(f->key, ' ', f->klen) == NULL);
	}

	/* The fields again, as maillog writes them: the same fields. */
	for (i = 0; i < A.nfields; i++) {
		if (i)
			buf_append_char(&b, ' ');
		buf_append(&b, A.f[i].key, A.f[i].klen);
		buf_append_char(&b, '=');
		if (A.f[i].vlen == 0)
			buf_append_str(&b, "\"\"");
		else
			log_append_value(&b, A.f[i].val, A.f[i].vlen);
	}
	if (b.len <= LOGLINE_MAX) {
		CHECK(logline_parse(b.data ? b.data : "", b.len, &B) == LOGLINE_OK);
		/* a first key that looks like "prog:" is a prefix: not here, as
		 * keys never end in ':' */
		CHECK(B.nfields == A.nfields && B.rest_len == 0);
		for (i = 0; i < A.nfields; i++) {
			CHECK(B.f[i].klen == A.f[i].klen &&
			    memcmp(B.f[i].key, A.f[i].key, A.f[i].klen) == 0);
			CHECK(B.f[i].vlen == A.f[i].vlen &&
			    memcmp(B.f[i].val, A.f[i].val, A.f[i].vlen) == 0);
		}
	}
	buf_release(&b);
	return 0;
}
