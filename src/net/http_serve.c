/*
 * http_serve: one read-only page over HTTP/1.x (see http_serve.h).
 *
 * A client's life: read until proto/http_req has the whole head (or a
 * refusal), write the one response, then close gracefully: shut our
 * side for writing and read (and drop) whatever the client still sends
 * until it closes too, so that unread input does not make the kernel
 * reset the connection before the client has read the response. The
 * deadline ends every state.
 */
#include "http_serve.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../proto/http_req.h"
#include "conn.h"
#include "listener.h"

struct http_client {
	struct http_serve *srv;
	struct bufferevent *bev;
	struct event *deadline;
	bool answered;               /* the response is queued: closing */
	bool client_done;            /* the client shut its side (EOF) */
	char ip[INET6_ADDRSTRLEN];
	LIST_ENTRY(http_client) link;
};

struct http_serve {
	struct http_serve_conf conf;
	struct event_base *base;
	struct evconnlistener *evl;
	struct http_req_limits lim;
	LIST_HEAD(, http_client) clients;
	int nclients;
};

static void
client_free(struct http_client *c)
{
	LIST_REMOVE(c, link);
	c->srv->nclients--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

static const char *
reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* The status for a complete, well-formed head; body gets the page. */
static int
answer_request(struct http_serve *h, const struct http_req *r, struct buf *body)
{
	if (r->pathlen != strlen(h->conf.path) ||
	    memcmp(r->path, h->conf.path, r->pathlen) != 0)
		return 404;
	if (r->method == HTTP_METHOD_OTHER)
		return 405;
	return h->conf.page(h->conf.arg, body) == -1 ? 500 : 200;
}

static void
respond(struct http_client *c, int status, bool head_only, const struct buf *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *text = status == 200 ? buf_cstr(body) : reason_of(status);
	size_t len = status == 200 ? body->len : strlen(text) + 1;

	/* HTTP/1.1 in the status line for 1.0 clients too (RFC 9110 §6.2:
	 * the highest version we support). */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n",
	    status, reason_of(status), status == 200 ? c->srv->conf.content_type :
	    "text/plain; charset=utf-8", len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only) {
		evbuffer_add(out, text, status == 200 ? len : len - 1);
		if (status != 200)
			evbuffer_add(out, "\n", 1);
	}
	c->answered = true;
	if (status != 200)
		log_debug("event=http-refused service=%s client=%s status=%d",
		    c->srv->conf.service, c->ip, status);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct http_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct buf body = BUF_INIT;
	struct http_req r;
	size_t n = evbuffer_get_length(in);
	enum http_req_status st;
	int status;

	if (c->answered) {
		/* Closing: what the client still sends is dropped. */
		evbuffer_drain(in, n);
		return;
	}
	/* The parser never asks for more than max_head octets. */
	if (n > c->srv->lim.max_head)
		n = c->srv->lim.max_head;
	st = http_req_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n,
	    &c->srv->lim, &r);
	if (st == HTTP_REQ_MORE)
		return;
	status = st == HTTP_REQ_OK ? answer_request(c->srv, &r, &body) : (int)st;
	respond(c, status, st == HTTP_REQ_OK && r.method == HTTP_METHOD_HEAD, &body);
	buf_release(&body);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* Everything written: shut our side, and wait for the client's close
 * (or, when it has shut its side already, that was all). */
static void
on_write(struct bufferevent *bev, void *arg)
{
	struct http_client *c = arg;

	if (!c->answered)
		return;
	if (c->client_done) {
		client_free(c);
		return;
	}
	(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_client *c = arg;

	/* A client that shut its side after the request (nc, printf | ...)
	 * still gets the response that is waiting to go out. */
	if ((what & BEV_EVENT_EOF) && c->answered &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->client_done = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	/* EOF, an error: either way this client is done. */
	client_free(c);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_free(arg);
}

static void
on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct http_serve *h = arg;
	struct timeval tv = { h->conf.deadline, 0 };
	struct conn_peer peer;
	struct http_client *c;

	(void)evl;
	(void)salen;
	conn_peer_from(sa, &peer);
	if (h->nclients >= h->conf.max_clients || (c = calloc(1, sizeof(*c))) == NULL) {
		log_debug("event=refused service=%s client=%s reason=\"too many connections\"",
		    h->conf.service, peer.ip);
		evutil_closesocket(fd);
		return;
	}
	snprintf(c->ip, sizeof(c->ip), "%s", peer.ip);
	c->srv = h;
	c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(h->base, on_deadline, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->deadline)
			event_free(c->deadline);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&h->clients, c, link);
	h->nclients++;
	evtimer_add(c->deadline, &tv);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct http_serve *
http_serve_new(struct event_base *base, const struct http_serve_conf *hc)
{
	struct http_serve *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		log_warnx("listen %s:%d: out of memory", hc->host, hc->port);
		return NULL;
	}
	h->conf = *hc;
	h->base = base;
	http_req_limits_default(&h->lim);
	LIST_INIT(&h->clients);
	if ((h->evl = listener_bind_tcp(base, hc->host, hc->port, on_accept, h)) == NULL) {
		free(h);
		return NULL;
	}
	log_info("event=listening service=%s address=%s:%d", hc->service, hc->host, hc->port);
	return h;
}

void
http_serve_enable(struct http_serve *h)
{
	evconnlistener_enable(h->evl);
}

void
http_serve_free(struct http_serve **hp)
{
	struct http_serve *h = *hp;

	if (h == NULL)
		return;
	evconnlistener_free(h->evl);
	while (!LIST_EMPTY(&h->clients))
		client_free(LIST_FIRST(&h->clients));
	free(h);
	*hp = NULL;
}
