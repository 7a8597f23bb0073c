/*
 * http_req: the head of an HTTP/1.0 or HTTP/1.1 request (RFC 9112 §2-§5,
 * RFC 9110 §5.6.2 for the tokens): the request line and the header
 * fields up to the empty line, strictly. Pure: bytes and limits in, a
 * struct or the status to refuse with out; no libevent, no logging.
 * ternd's metrics endpoint is its one user, so it reads what a scraper
 * sends and refuses what a body or a proxy would need:
 *
 *   - every line ends in CRLF (a bare LF or CR is 400); no empty line
 *     before the request line;
 *   - request line: method (a token) SP target SP HTTP/1.x, single
 *     spaces; the target is visible ASCII, origin-form ("/path?query")
 *     or absolute-form ("http://host/path"), "*" or authority-form only
 *     with a method other than GET and HEAD (which are then refused
 *     with 405 anyway);
 *   - another HTTP version (HTTP/2.0, HTTP/0.9 ...) is 505;
 *   - field lines: a token, ':' with no space before it (RFC 9112 §5.1),
 *     a value of visible ASCII, obs-text, SP and HTAB; a line folded
 *     onto the one before (obs-fold) is 400;
 *   - Host: exactly one in HTTP/1.1, at most one in HTTP/1.0 (RFC 9112
 *     §3.2); a body is refused: Transfer-Encoding at all, or a
 *     Content-Length other than 0, is 400;
 *   - the request line longer than max_line is 414; the head longer than
 *     max_head, or more fields than max_fields, is 431.
 *
 * The input need not be complete: HTTP_REQ_MORE asks for more octets,
 * and is never the answer once a limit is passed, so a caller that reads
 * until it gets something else buffers at most max_head octets.
 */
#ifndef TERN_PROTO_HTTP_REQ_H
#define TERN_PROTO_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

struct http_req_limits {
	size_t max_line;        /* the request line, CRLF included */
	size_t max_head;        /* the whole head, the empty line included */
	size_t max_fields;      /* header field lines */
};

/* 2 KiB line, 8 KiB head, 64 fields: what a scraper needs, with room. */
void http_req_limits_default(struct http_req_limits *lim);

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_OTHER,
};

/* The result: OK, MORE, or the HTTP status code to refuse with. */
enum http_req_status {
	HTTP_REQ_OK = 0,
	HTTP_REQ_MORE = 1,
	HTTP_REQ_BAD = 400,
	HTTP_REQ_URI_TOO_LONG = 414,
	HTTP_REQ_FIELDS_TOO_LARGE = 431,
	HTTP_REQ_VERSION = 505,
};

struct http_req {
	enum http_method method;
	int minor;              /* HTTP/1.<minor>: 0 or 1 */
	/* The path of the target without its query, pointing into the input
	 * (a static "/" for "http://host" with no path); the query, after
	 * '?', likewise (NULL when there is none). */
	const char *path;
	size_t pathlen;
	const char *query;
	size_t querylen;
	size_t nfields;
	size_t head_len;        /* octets of the head, its empty line included */
};

/* Parses the head at the start of p[0..n). Only HTTP_REQ_OK fills r
 * whole; on anything else r is zeroed. */
enum http_req_status http_req_parse(const char *p, size_t n,
    const struct http_req_limits *lim, struct http_req *r);

#endif
