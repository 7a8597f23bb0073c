/*
 * test_hdr_stream: the streaming header scan shared by DKIM and ARC
 * verification. A table of messages, each fed at once, octet by octet
 * and split at every point: where the header ends, the header kept, the
 * field names reported; then the bound, and a message that is all header.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/buf.h"
#include "policy/hdr_stream.h"

/* The names reported, "|" after each. */
static void
names(void *arg, const char *name, size_t len)
{
	struct buf *b = arg;

	buf_append(b, name, len);
	buf_append_char(b, '|');
}

/* msg fed in the pieces cuts says; the header's length is returned. */
static size_t
feed(struct hdr_stream *hs, const char *msg, size_t len, const size_t *cuts,
    size_t ncuts)
{
	size_t at = 0, i, used = 0;

	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		used += hdr_stream_feed(hs, msg + at, end - at);
		at = end;
	}
	return used;
}

static void
test_table(void **state)
{
	static const struct {
		const char *msg;
		size_t hlen;                /* SIZE_MAX: no end of header */
		const char *names;
	} t[] = {
		{ "A: 1\r\nB: 2\r\n\r\nbody\r\n", 14, "A|B|" },
		{ "\r\nbody", 2, "" },
		{ "Subject: x\r\n folded: no\r\n\r\n", 27, "Subject|" },
		{ "DKIM-Signature  : a\r\nX:\r\n\r\n\r\n", 27, "DKIM-Signature|X|" },
		/* a bare CR or LF is content: no line end */
		{ "A: 1\n\nB: 2\r\r\n\r\n", 15, "A|" },
		{ "A: 1\r\n\r\r\nB: 2\r\n\r\n", 17, "A|B|" },
		{ "A\r\nB:\r\n\r\n", 9, "B|" },
		{ "a-name-that-is-longer-than-32-octets: x\r\nC: y\r\n\r\n", 49, "C|" },
		{ "A: 1\r\n", SIZE_MAX, "A|" },
		{ "", SIZE_MAX, "" },
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = strlen(t[i].msg);

		/* k == len + 1: octet by octet */
		for (k = 0; k <= len + 1; k++) {
			struct hdr_stream hs;
			struct buf nm = BUF_INIT;
			size_t cuts[256], n = 0, used, j;

			if (k == len + 1)
				for (j = 1; j < len; j++)
					cuts[n++] = j;
			else if (k > 0 && k < len)
				cuts[n++] = k;
			hdr_stream_init(&hs, 1024, names, &nm);
			used = feed(&hs, t[i].msg, len, cuts, n);
			if (t[i].hlen == SIZE_MAX) {
				assert_false(hs.done);
				assert_int_equal(used, len);
				hdr_stream_end(&hs);
				assert_true(hs.done);
			} else {
				assert_true(hs.done);
				assert_int_equal(used, t[i].hlen);
			}
			assert_false(hs.too_large);
			assert_int_equal(hs.hdr.len, used);
			assert_memory_equal(hs.hdr.len ? hs.hdr.data : "", t[i].msg, used);
			assert_string_equal(buf_cstr(&nm), t[i].names);
			/* input after the end is the caller's */
			assert_int_equal(hdr_stream_feed(&hs, "X: y\r\n", 6), 0);
			hdr_stream_release(&hs);
			buf_release(&nm);
		}
	}
}

/* Past the bound nothing is kept, but the names still come. */
static void
test_too_large(void **state)
{
	static const char msg[] = "A: 1\r\nB: 2\r\nARC-Seal: i=1\r\n\r\nbody";
	struct hdr_stream hs;
	struct buf nm = BUF_INIT;
	size_t i, used = 0;

	(void)state;
	hdr_stream_init(&hs, 10, names, &nm);
	for (i = 0; i < sizeof(msg) - 1; i += 4)
		used += hdr_stream_feed(&hs, msg + i,
		    sizeof(msg) - 1 - i < 4 ? sizeof(msg) - 1 - i : 4);
	assert_true(hs.done);
	assert_true(hs.too_large);
	assert_int_equal(used, 29);
	assert_int_equal(hs.hdr.len, 0);
	assert_string_equal(buf_cstr(&nm), "A|B|ARC-Seal|");
	hdr_stream_release(&hs);
	buf_release(&nm);

	/* exactly the bound is kept; no callback is fine */
	hdr_stream_init(&hs, 8, NULL, NULL);
	assert_int_equal(hdr_stream_feed(&hs, "A: 1\r\n\r\nbody", 12), 8);
	assert_false(hs.too_large);
	assert_int_equal(hs.hdr.len, 8);
	hdr_stream_release(&hs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
