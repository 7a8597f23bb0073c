/*
 * http_serve: a tiny HTTP/1.0 and 1.1 server for one read-only page (the
 * metrics endpoint): GET or HEAD of one path, one request per connection
 * (Connection: close), the head read strictly by proto/http_req, and
 * anything else refused with 400, 404, 405, 414, 431 or 505. A small
 * limit on simultaneous clients (a client past it is closed at once) and
 * one deadline for the whole exchange keep a stuck scraper from holding
 * anything. Loop thread only.
 */
#ifndef TERN_NET_HTTP_SERVE_H
#define TERN_NET_HTTP_SERVE_H

struct buf;
struct event_base;
struct http_serve;

/* Appends the page to body; -1 (out of memory): 500. */
typedef int (*http_serve_page_fn)(void *arg, struct buf *body);

struct http_serve_conf {
	const char *service;        /* for the logs: "metrics" */
	const char *host;           /* numeric address */
	int port;
	const char *path;           /* the one page: "/metrics" */
	const char *content_type;
	http_serve_page_fn page;
	void *arg;
	int max_clients;            /* at once */
	int deadline;               /* seconds a connection may last */
};

/* Binds (before the sandbox), not yet accepting. The strings of hc must
 * outlive the server. NULL on error (logged). */
struct http_serve *http_serve_new(struct event_base *base, const struct http_serve_conf *hc);
void http_serve_enable(struct http_serve *h);
/* Closes the listener and every connection. */
void http_serve_free(struct http_serve **hp);

#endif
