/*
 * fuzz_http_req: the head of an HTTP/1.x request (the metrics endpoint's
 * input). The input is never NUL-terminated, so any read past its end is
 * an ASan report. Checked: what OK gives lies inside the input and ends
 * at an empty line within the limits; the head alone parses the same;
 * every proper prefix of a good head asks for more; MORE never comes
 * once the input has reached the head limit (the caller's buffer bound);
 * and with tighter limits a good head stays good or is refused for a
 * limit, never for its syntax.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/http_req.h"

static bool
inside(const char *p, size_t n, const char *s, size_t size)
{
	return p >= s && n <= size && p + n <= s + size;
}

static void
check_ok(const char *s, size_t size, const struct http_req_limits *lim,
    const struct http_req *r)
{
	size_t i;

	CHECK(r->head_len >= 4 && r->head_len <= size && r->head_len <= lim->max_head);
	CHECK(memcmp(s + r->head_len - 4, "\r\n\r\n", 4) == 0);
	CHECK(r->minor == 0 || r->minor == 1);
	CHECK(r->nfields <= lim->max_fields);
	CHECK(r->pathlen > 0);
	CHECK(inside(r->path, r->pathlen, s, r->head_len) ||
	    (r->pathlen == 1 && r->path[0] == '/'));
	/* Visible ASCII; a path has its query split off ("*" and
	 * authority-form, for other methods, are kept whole). */
	for (i = 0; i < r->pathlen; i++)
		CHECK(r->path[i] > 0x20 && r->path[i] < 0x7f &&
		    (r->path[0] != '/' || r->path[i] != '?'));
	if (r->method != HTTP_METHOD_OTHER)
		CHECK(r->path[0] == '/');
	if (r->query)
		CHECK(inside(r->query, r->querylen, s, r->head_len));
	else
		CHECK(r->querylen == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct http_req_limits lim, tight;
	struct http_req r, r2;
	enum http_req_status st, st2;

	http_req_limits_default(&lim);
	st = http_req_parse(s, size, &lim, &r);
	CHECK(st == HTTP_REQ_OK || st == HTTP_REQ_MORE || st == HTTP_REQ_BAD ||
	    st == HTTP_REQ_URI_TOO_LONG || st == HTTP_REQ_FIELDS_TOO_LARGE ||
	    st == HTTP_REQ_VERSION);
	if (st == HTTP_REQ_MORE)
		CHECK(size < lim.max_head);
	if (st != HTTP_REQ_OK) {
		CHECK(r.head_len == 0 && r.path == NULL);
		return 0;
	}
	check_ok(s, size, &lim, &r);

	/* The head alone: the same answer. */
	st2 = http_req_parse(s, r.head_len, &lim, &r2);
	CHECK(st2 == HTTP_REQ_OK && memcmp(&r, &r2, sizeof(r)) == 0);
	/* Proper prefixes: more, please. */
	CHECK(http_req_parse(s, r.head_len - 1, &lim, &r2) == HTTP_REQ_MORE);
	CHECK(http_req_parse(s, r.head_len / 2, &lim, &r2) == HTTP_REQ_MORE);

	/* Limits just below what this head needs: a limit's refusal. */
	tight = lim;
	tight.max_head = r.head_len - 1;
	st2 = http_req_parse(s, size, &tight, &r2);
	CHECK(st2 == HTTP_REQ_FIELDS_TOO_LARGE || st2 == HTTP_REQ_URI_TOO_LONG);
	if (r.nfields > 0) {
		tight = lim;
		tight.max_fields = r.nfields - 1;
		CHECK(http_req_parse(s, size, &tight, &r2) == HTTP_REQ_FIELDS_TOO_LARGE);
	}
	return 0;
}
