/*
 * test_http_req: the head of an HTTP/1.x request. Table driven: each row
 * is a whole input and what the parser must make of it with the default
 * limits (2 KiB line, 8 KiB head, 64 fields); then the limits, every
 * prefix of a good head (always MORE), and reads past the length.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_req.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct req_case {
	const char *in;
	enum http_req_status st;
	enum http_method method;     /* when OK */
	int minor;
	const char *path, *query;    /* query NULL: none */
	size_t nfields;
};

#define H11 "Host: 127.0.0.1:9100\r\n"

static const struct req_case cases[] = {
	/* what scrapers and curl send */
	{ "GET /metrics HTTP/1.1\r\n" H11 "User-Agent: Prometheus/2.45.0\r\n"
	  "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
	  "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
	  HTTP_REQ_OK, HTTP_METHOD_GET, 1, "/metrics", NULL, 5 },
	{ "GET /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/metrics", NULL, 0 },
	{ "HEAD /metrics HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_HEAD, 1, "/metrics", NULL, 1 },
	{ "GET /metrics?name[]=x HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 1,
	  "/metrics", "name[]=x", 1 },
	{ "GET /? HTTP/1.0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", "", 0 },
	{ "GET / HTTP/1.0\r\nHost:\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", NULL, 1 },
	{ "GET / HTTP/1.0\r\nX:  \t a b\t \r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", NULL, 1 },
	{ "GET / HTTP/1.0\r\nX: caf\xc3\xa9\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", NULL, 1 },
	{ "GET /metrics HTTP/1.1\r\nhOsT: x\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 1, "/metrics", NULL, 1 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: 0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET,
	  1, "/metrics", NULL, 2 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: 000\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET,
	  1, "/metrics", NULL, 2 },
	/* absolute-form (RFC 9112 §3.2.2) */
	{ "GET http://127.0.0.1:9100/metrics HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_GET,
	  1, "/metrics", NULL, 1 },
	{ "GET HTTPS://h/metrics?a HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_GET,
	  1, "/metrics", "a", 1 },
	{ "GET http://h HTTP/1.0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", NULL, 0 },
	{ "GET http://h?q HTTP/1.0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_GET, 0, "/", "q", 0 },
	{ "GET http:///metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* other methods: parsed, for a 405 */
	{ "POST /metrics HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_OTHER, 1, "/metrics", NULL, 1 },
	{ "get /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_OK, HTTP_METHOD_OTHER, 0, "/metrics", NULL, 0 },
	{ "OPTIONS * HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_OTHER, 1, "*", NULL, 1 },
	{ "CONNECT h:443 HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_OK, HTTP_METHOD_OTHER, 1, "h:443", NULL, 1 },
	{ "GET * HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET metrics HTTP/1.1\r\n" H11 "\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* versions */
	{ "GET / HTTP/2.0\r\n\r\n", HTTP_REQ_VERSION, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/0.9\r\n\r\n", HTTP_REQ_VERSION, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.2\r\n\r\n", HTTP_REQ_VERSION, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.10\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / http/1.1\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* the request line's shape */
	{ "GET  /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics  HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.0 \r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ " GET /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET\t/metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "G(T /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /met\x7frics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /m\xc3\xa9trics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "\r\nGET /metrics HTTP/1.0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* line ends */
	{ "GET /metrics HTTP/1.0\n\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.0\r\n\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.0\r\nX: y\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.0\r\nX: a\rb\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* field lines */
	{ "GET / HTTP/1.0\r\nX : y\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\n: y\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX y\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX: y\r\n z\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX: y\r\n\tz\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX: a\x01z\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX: a\x7fz\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET / HTTP/1.0\r\nX\x80: y\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* Host (RFC 9112 §3.2) */
	{ "GET /metrics HTTP/1.1\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 H11 "\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* no body */
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: 5\r\n\r\nhello", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: \r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: -0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Content-Length: 0, 0\r\n\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	  HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	/* incomplete */
	{ "", HTTP_REQ_MORE, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1", HTTP_REQ_MORE, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11, HTTP_REQ_MORE, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\n" H11 "\r", HTTP_REQ_MORE, 0, 0, NULL, NULL, 0 },
	/* errors in complete lines do not wait for the rest */
	{ "GET /metrics HTTP/3.0\r\n", HTTP_REQ_VERSION, 0, 0, NULL, NULL, 0 },
	{ "GET /metrics HTTP/1.1\r\nBad Field\r\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
	{ "\x16\x03\x01\x02\xfc\x01\x03\x03\n", HTTP_REQ_BAD, 0, 0, NULL, NULL, 0 },
};

static void
test_table(void **state)
{
	struct http_req_limits lim;
	size_t i;

	(void)state;
	http_req_limits_default(&lim);
	for (i = 0; i < NELEM(cases); i++) {
		const struct req_case *c = &cases[i];
		size_t n = strlen(c->in);
		/* A heap copy of exactly n octets: ASan sees a read past it. */
		char *in = malloc(n ? n : 1);
		struct http_req r;
		enum http_req_status st;

		assert_non_null(in);
		memcpy(in, c->in, n);
		st = http_req_parse(in, n, &lim, &r);
		if (st != c->st)
			fail_msg("case %zu %.40s: status %d, expected %d", i, c->in, (int)st, (int)c->st);
		if (st == HTTP_REQ_OK) {
			assert_int_equal(r.method, c->method);
			assert_int_equal(r.minor, c->minor);
			assert_int_equal(r.pathlen, strlen(c->path));
			assert_memory_equal(r.path, c->path, r.pathlen);
			if (c->query == NULL)
				assert_null(r.query);
			else {
				assert_non_null(r.query);
				assert_int_equal(r.querylen, strlen(c->query));
				assert_memory_equal(r.query, c->query, r.querylen);
			}
			assert_int_equal(r.nfields, c->nfields);
			/* The head ends at its empty line; a body, if any, is not ours. */
			assert_true(r.head_len >= 4 && r.head_len <= n);
			assert_memory_equal(in + r.head_len - 4, "\r\n\r\n", 4);
		} else
			assert_int_equal(r.head_len, 0);
		free(in);
	}
}

/* Every proper prefix of a good head asks for more. */
static void
test_prefixes(void **state)
{
	static const char head[] = "GET /metrics HTTP/1.1\r\n" H11 "Accept: */*\r\n\r\n";
	struct http_req_limits lim;
	struct http_req r;
	size_t k;

	(void)state;
	http_req_limits_default(&lim);
	for (k = 0; k < sizeof(head) - 1; k++)
		assert_int_equal(http_req_parse(head, k, &lim, &r), HTTP_REQ_MORE);
	assert_int_equal(http_req_parse(head, sizeof(head) - 1, &lim, &r), HTTP_REQ_OK);
	assert_int_equal(r.head_len, sizeof(head) - 1);
}

static void
test_limits(void **state)
{
	static const char head[] = "GET /metrics HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n";
	struct http_req_limits lim;
	struct http_req r;
	char *big;
	size_t n;

	(void)state;
	/* Exactly at each limit, then one past it. */
	lim.max_line = strlen("GET /metrics HTTP/1.0\r\n");
	lim.max_head = sizeof(head) - 1;
	lim.max_fields = 2;
	assert_int_equal(http_req_parse(head, sizeof(head) - 1, &lim, &r), HTTP_REQ_OK);
	lim.max_line--;
	assert_int_equal(http_req_parse(head, sizeof(head) - 1, &lim, &r), HTTP_REQ_URI_TOO_LONG);
	lim.max_line++;
	lim.max_head--;
	assert_int_equal(http_req_parse(head, sizeof(head) - 1, &lim, &r), HTTP_REQ_FIELDS_TOO_LARGE);
	lim.max_head++;
	lim.max_fields--;
	assert_int_equal(http_req_parse(head, sizeof(head) - 1, &lim, &r), HTTP_REQ_FIELDS_TOO_LARGE);

	/* Endless input: refused once a limit is reached, never MORE. */
	http_req_limits_default(&lim);
	n = lim.max_head + 100;
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, "GET /", 5);
	assert_int_equal(http_req_parse(big, lim.max_line - 1, &lim, &r), HTTP_REQ_MORE);
	assert_int_equal(http_req_parse(big, lim.max_line, &lim, &r), HTTP_REQ_URI_TOO_LONG);
	assert_int_equal(http_req_parse(big, n, &lim, &r), HTTP_REQ_URI_TOO_LONG);
	/* A field without end. */
	memcpy(big, "GET / HTTP/1.0\r\nX: ", 19);
	assert_int_equal(http_req_parse(big, lim.max_head - 1, &lim, &r), HTTP_REQ_MORE);
	assert_int_equal(http_req_parse(big, lim.max_head, &lim, &r), HTTP_REQ_FIELDS_TOO_LARGE);
	assert_int_equal(http_req_parse(big, n, &lim, &r), HTTP_REQ_FIELDS_TOO_LARGE);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
