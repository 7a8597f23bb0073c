/*
 * http_req: the head of an HTTP/1.x request (see http_req.h).
 *
 * The head is taken line by line from the start of the input each time;
 * a line without its LF yet means MORE unless a limit is already passed.
 * Errors in complete lines are reported as soon as the line is complete,
 * so a client is refused without waiting for the rest of its head.
 */
#include "http_req.h"

#include <string.h>
#include <strings.h>

void
http_req_limits_default(struct http_req_limits *lim)
{
	lim->max_line = 2048;
	lim->max_head = 8192;
	lim->max_fields = 64;
}

/* RFC 9110 §5.6.2 tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* The length of the token at p (up to n octets). */
static size_t
token_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	return i;
}

static bool
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Splits the target: path and query for origin- and absolute-form. */
static enum http_req_status
parse_target(const char *t, size_t n, struct http_req *r)
{
	const char *path = t, *q;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_vchar((unsigned char)t[i]))
			return HTTP_REQ_BAD;
	}
	if (n >= 7 && (strncasecmp(t, "http://", 7) == 0 ||
	    (n >= 8 && strncasecmp(t, "https://", 8) == 0))) {
		const char *auth = t + (t[4] == ':' ? 7 : 8);
		const char *end = t + n;

		/* The authority runs to the path, the query or the end. */
		for (path = auth; path < end && *path != '/' && *path != '?'; path++)
			;
		if (path == auth)
			return HTTP_REQ_BAD;
		if (path == end || *path == '?') {
			r->path = "/";
			r->pathlen = 1;
			if (path < end) {
				r->query = path + 1;
				r->querylen = (size_t)(end - path - 1);
			}
			return HTTP_REQ_OK;
		}
		n -= (size_t)(path - t);
	} else if (t[0] != '/') {
		/* "*" (OPTIONS) or authority-form (CONNECT): not for us, but
		 * well-formed; GET and HEAD must name a resource. */
		if (r->method != HTTP_METHOD_OTHER)
			return HTTP_REQ_BAD;
		r->path = t;
		r->pathlen = n;
		return HTTP_REQ_OK;
	}
	if ((q = memchr(path, '?', n)) != NULL) {
		r->query = q + 1;
		r->querylen = n - (size_t)(q - path) - 1;
		n = (size_t)(q - path);
	}
	r->path = path;
	r->pathlen = n;
	return HTTP_REQ_OK;
}

/* method SP request-target SP HTTP-version, without its CRLF. */
static enum http_req_status
parse_request_line(const char *p, size_t n, struct http_req *r)
{
	size_t m = token_len(p, n), t;
	const char *target, *v;
	enum http_req_status st;

	if (m == 0 || m >= n || p[m] != ' ')
		return HTTP_REQ_BAD;
	if (m == 3 && memcmp(p, "GET", 3) == 0)
		r->method = HTTP_METHOD_GET;
	else if (m == 4 && memcmp(p, "HEAD", 4) == 0)
		r->method = HTTP_METHOD_HEAD;
	else
		r->method = HTTP_METHOD_OTHER;
	target = p + m + 1;
	for (t = 0; target + t < p + n && target[t] != ' '; t++)
		;
	if (t == 0 || target + t == p + n)
		return HTTP_REQ_BAD;
	v = target + t + 1;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, and nothing after it. */
	if ((size_t)(p + n - v) != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return HTTP_REQ_BAD;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return HTTP_REQ_VERSION;
	r->minor = v[7] - '0';
	if ((st = parse_target(target, t, r)) != HTTP_REQ_OK)
		return st;
	return HTTP_REQ_OK;
}

struct field_state {
	size_t hosts;
	bool body;              /* Transfer-Encoding, or Content-Length > 0 */
};

/* One field line, without its CRLF. */
static enum http_req_status
parse_field(const char *p, size_t n, struct field_state *fs)
{
	size_t nl = token_len(p, n), i, vs, ve;

	/* No name, a space before the colon, or obs-fold: all 400. */
	if (nl == 0 || nl == n || p[nl] != ':')
		return HTTP_REQ_BAD;
	for (i = nl + 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 ? c != '\t' : c == 0x7f)
			return HTTP_REQ_BAD;
	}
	/* The value without the optional whitespace around it. */
	for (vs = nl + 1; vs < n && (p[vs] == ' ' || p[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'); ve--)
		;
	if (name_is(p, nl, "Host"))
		fs->hosts++;
	else if (name_is(p, nl, "Transfer-Encoding"))
		fs->body = true;
	else if (name_is(p, nl, "Content-Length")) {
		/* Only "0" (in any number of digits): we take no body. */
		if (ve == vs)
			return HTTP_REQ_BAD;
		for (i = vs; i < ve; i++) {
			if (p[i] < '0' || p[i] > '9')
				return HTTP_REQ_BAD;
			if (p[i] != '0')
				fs->body = true;
		}
	}
	return HTTP_REQ_OK;
}

enum http_req_status
http_req_parse(const char *p, size_t n, const struct http_req_limits *lim,
    struct http_req *r)
{
	struct field_state fs = { 0, false };
	struct http_req req;
	enum http_req_status st;
	size_t pos = 0, nfields = 0;
	bool first = true;

	memset(r, 0, sizeof(*r));
	memset(&req, 0, sizeof(req));
	for (;;) {
		size_t avail = n - pos, room, len;
		const char *lf;

		/* A line may not take the head past max_head, nor the request
		 * line past max_line. */
		room = pos < lim->max_head ? lim->max_head - pos : 0;
		if (first && lim->max_line < room)
			room = lim->max_line;
		lf = memchr(p + pos, '\n', avail < room ? avail : room);
		if (lf == NULL) {
			if (avail < room)
				return HTTP_REQ_MORE;
			return first ? HTTP_REQ_URI_TOO_LONG : HTTP_REQ_FIELDS_TOO_LARGE;
		}
		len = (size_t)(lf - (p + pos)) + 1;
		if (len < 2 || p[pos + len - 2] != '\r')
			return HTTP_REQ_BAD;
		if (first) {
			if ((st = parse_request_line(p + pos, len - 2, &req)) != HTTP_REQ_OK)
				return st;
			first = false;
		} else if (len == 2) {
			pos += len;
			break;
		} else {
			if (++nfields > lim->max_fields)
				return HTTP_REQ_FIELDS_TOO_LARGE;
			if ((st = parse_field(p + pos, len - 2, &fs)) != HTTP_REQ_OK)
				return st;
		}
		pos += len;
	}
	if (fs.hosts > 1 || (req.minor == 1 && fs.hosts == 0) || fs.body)
		return HTTP_REQ_BAD;
	req.nfields = nfields;
	req.head_len = pos;
	*r = req;
	return HTTP_REQ_OK;
}
