/*
 * conn: a client connection below its protocol session (see conn.h).
 *
 * The registry keeps every conn by id in one hash table, for async
 * completions of any protocol. Loop thread only.
 *
 * Closing: a session that has said its last word calls
 * conn_close_after_flush(); reading stops, and the conn goes once the
 * output is on the socket. Under TLS the write callback only means "handed
 * to the TLS layer" (the socket below may still hold the last reply), and
 * close_notify (RFC 8446 §6.1) must follow that reply, not overtake it, so
 * a closing TLS conn polls its socket buffer for a bounded time (linger).
 */
#include "conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../tls/tls_bev.h"
#include "listener.h"

#define REG_BUCKETS 4096
/* Stop reading while this much waits unprocessed (e.g. during a commit). */
#define INPUT_HIGH (256 * 1024)
/* Closing under TLS: poll the socket buffer every 20 ms, 250 times (5 s:
 * the client does not read). */
#define LINGER_USEC 20000
#define LINGER_TICKS 250

struct conn {
	uint64_t id;
	const struct conn_proto *proto;
	void *ctx;                   /* the session */
	struct event_base *base;
	struct bufferevent *bev;
	struct tls *tls_ctx;         /* NULL: no TLS possible */
	struct conn_peer peer;
	char limit_key[LISTENER_KEY_MAX];
	bool tls;                    /* the handshake is over */
	bool tls_closed;             /* close_notify sent */
	char tls_info[96];           /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	int timeout;                 /* idle seconds, reapplied after STARTTLS */
	bool closing;
	struct event *linger;
	int linger_ticks;
	struct event *deadline;
	int64_t session_end, data_end;  /* monotonic seconds; 0 = none */
	struct conn *hnext;          /* registry chain */
};

static struct {
	struct conn *by_id[REG_BUCKETS];
	uint64_t next_id;
	unsigned n;
} reg;

static void on_read(struct bufferevent *, void *);
static void on_write(struct bufferevent *, void *);
static void on_event(struct bufferevent *, short, void *);
static void on_deadline(evutil_socket_t, short, void *);
static void finish_close(struct conn *c);

/* ------------------------------------------------------------ registry -- */

struct conn *
conn_find(uint64_t id)
{
	struct conn *c = reg.by_id[id % REG_BUCKETS];

	while (c && c->id != id)
		c = c->hnext;
	return c;
}

void *
conn_ctx(const struct conn *c, const struct conn_proto *proto)
{
	return c && c->proto == proto ? c->ctx : NULL;
}

unsigned
conn_count(void)
{
	return reg.n;
}

static void
conn_unlink(struct conn *c)
{
	struct conn **pp = &reg.by_id[c->id % REG_BUCKETS];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

/* reason: NULL when the session closed on purpose (it names the reason). */
static void
conn_free(struct conn *c, const char *reason)
{
	if (c->ctx)
		c->proto->closed(c->ctx, reason);
	conn_unlink(c);
	listener_release(c->limit_key);
	reg.n--;
	if (c->linger)
		event_free(c->linger);
	if (c->deadline)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

void
conn_close_all(void)
{
	size_t i;

	for (i = 0; i < REG_BUCKETS; i++) {
		while (reg.by_id[i])
			conn_free(reg.by_id[i], "shutdown");
	}
}

/* ----------------------------------------------------------- accessors -- */

uint64_t
conn_id(const struct conn *c)
{
	return c->id;
}

const char *
conn_ip(const struct conn *c)
{
	return c->peer.ip;
}

int
conn_port(const struct conn *c)
{
	return c->peer.port;
}

int
conn_family(const struct conn *c)
{
	return c->peer.family;
}

const unsigned char *
conn_addr(const struct conn *c)
{
	return c->peer.addr;
}

bool
conn_tls(const struct conn *c)
{
	return c->tls;
}

bool
conn_tls_possible(const struct conn *c)
{
	return c->tls_ctx != NULL;
}

const char *
conn_tls_info(const struct conn *c)
{
	return c->tls_info;
}

bool
conn_closing(const struct conn *c)
{
	return c->closing;
}

struct evbuffer *
conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (len)
		bufferevent_write(c->bev, data, len);
}

bool
conn_output_full(struct conn *c, size_t unflushed)
{
	return unflushed + evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    CONN_OUTPUT_HIGH;
}

void
conn_set_timeout(struct conn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	c->timeout = seconds;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* --------------------------------------------------------- deadlines ---- */

static int64_t
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/*
 * The idle timeouts are per read: a client sending one octet a minute
 * would never meet them. So a conn also has deadlines (the session's whole
 * length, and a message's); one timer serves both and fires at the
 * earlier.
 */
static void
deadline_arm(struct conn *c)
{
	int64_t end = c->session_end;
	struct timeval tv = { 0, 0 };

	if (c->data_end && (end == 0 || c->data_end < end))
		end = c->data_end;
	if (end == 0) {
		if (c->deadline)
			evtimer_del(c->deadline);
		return;
	}
	if (c->deadline == NULL &&
	    (c->deadline = evtimer_new(c->base, on_deadline, c)) == NULL)
		return;   /* out of memory: the idle timeouts still hold */
	tv.tv_sec = end > now_mono() ? (time_t)(end - now_mono()) : 0;
	evtimer_add(c->deadline, &tv);
}

void
conn_set_deadline(struct conn *c, enum conn_timer which, int seconds)
{
	int64_t end = seconds ? now_mono() + seconds : 0;

	if (which == CONN_TIMER_SESSION)
		c->session_end = end;
	else if (which == CONN_TIMER_DATA)
		c->data_end = end;
	deadline_arm(c);
}

bool
conn_has_deadline(const struct conn *c, enum conn_timer which)
{
	return which == CONN_TIMER_SESSION ? c->session_end != 0 :
	    which == CONN_TIMER_DATA ? c->data_end != 0 : false;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval again = { 1, 0 };
	enum conn_timer which;

	(void)fd;
	(void)what;
	if (c->closing)
		return;
	which = c->data_end && now_mono() >= c->data_end ? CONN_TIMER_DATA :
	    CONN_TIMER_SESSION;
	if (c->proto->timer(c->ctx, which) == CONN_TIMER_LATER) {
		/* An async answer goes first: a 421 before a 250 would make
		 * the client send the message again. */
		evtimer_add(c->deadline, &again);
		return;
	}
	bufferevent_enable(c->bev, EV_WRITE);
}

/* --------------------------------------------------------------- TLS ---- */

/*
 * The TLS handshake is over: note it, once. Called for BEV_EVENT_CONNECTED
 * and before reading: libevent enables reading when the handshake ends and
 * may hand us the client's first command (sent along with its Finished)
 * before it reports CONNECTED.
 */
static void
tls_established(struct conn *c)
{
	if (c->tls || !tls_bev_established(c->bev))
		return;
	c->tls = true;
	tls_bev_describe(c->bev, false, c->tls_info, sizeof(c->tls_info));
	log_info("sid=%llu event=tls client=%s tls=\"%s\"",
	    (unsigned long long)c->id, c->peer.ip, c->tls_info);
	if (c->proto->tls_ready)
		c->proto->tls_ready(c->ctx);
}

static void
bev_setup(struct conn *c)
{
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_HIGH);
}

enum conn_starttls
conn_starttls(struct conn *c, struct buf *pending, const char *ready, size_t readylen)
{
	struct tls_pending *p = tls_bev_prepare(c->tls_ctx, true, NULL);
	struct bufferevent *tbev;
	struct evbuffer *in;

	if (p == NULL)
		return CONN_STARTTLS_UNAVAILABLE;
	buf_append(pending, ready, readylen);
	conn_write(c, pending->data, pending->len);
	buf_reset(pending);
	/* Anything the client sent behind STARTTLS arrived in the clear and
	 * is thrown away, never executed (CVE-2011-0411). */
	in = bufferevent_get_input(c->bev);
	if (evbuffer_get_length(in) > 0) {
		log_info("sid=%llu event=starttls-discard octets=%zu",
		    (unsigned long long)c->id, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if ((tbev = tls_bev_starttls(&p, c->bev)) == NULL)
		return CONN_STARTTLS_BROKEN;
	c->bev = tbev;
	bev_setup(c);
	conn_set_timeout(c, c->timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return CONN_STARTTLS_OK;
}

/* ------------------------------------------------------------ closing --- */

void
conn_close_after_flush(struct conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
}

static bool
output_pending(struct conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);

	return evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
	    (under && evbuffer_get_length(bufferevent_get_output(under)) > 0);
}

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (++c->linger_ticks >= LINGER_TICKS) {
		conn_free(c, "close timeout");
		return;
	}
	finish_close(c);
}

/* A TLS filter's socket below does not tell us when it drained: poll. */
static bool
arm_linger(struct conn *c)
{
	struct timeval tv = { 0, LINGER_USEC };

	if (bufferevent_get_underlying(c->bev) == NULL)
		return true;   /* a plain socket bufferevent calls on_write */
	if (c->linger == NULL &&
	    (c->linger = evtimer_new(c->base, on_linger, c)) == NULL)
		return false;
	if (!evtimer_pending(c->linger, NULL))
		evtimer_add(c->linger, &tv);
	return true;
}

/* The last reply is on the socket: close_notify, then free. */
static void
finish_close(struct conn *c)
{
	if (output_pending(c)) {
		if (!arm_linger(c))
			conn_free(c, NULL);
		return;
	}
	if (c->tls && !c->tls_closed) {
		c->tls_closed = true;
		tls_bev_close_notify(c->bev);
		if (output_pending(c)) {
			if (!arm_linger(c))
				conn_free(c, NULL);
			return;
		}
	}
	conn_free(c, NULL);
}

void
conn_resume(struct conn *c)
{
	c->proto->input(c->ctx);
	if (c->closing)
		finish_close(c);
}

/* ----------------------------------------------------------- callbacks -- */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	tls_established(c);
	c->proto->input(c->ctx);
	if (c->closing)
		finish_close(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing)
		finish_close(c);
	else if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		c->proto->input(c->ctx);   /* paused above CONN_OUTPUT_HIGH: go on */
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(c);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && tls_bev_is_tls(c->bev) && !c->tls) {
		char msg[200];

		tls_bev_error(c->bev, msg, sizeof(msg));
		log_info("sid=%llu event=tls-failed client=%s reason=\"%s\"",
		    (unsigned long long)c->id, c->peer.ip, msg);
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing && (what & BEV_EVENT_READING)) {
		/* The client went quiet: the session says so and closes. */
		c->proto->timer(c->ctx, CONN_TIMER_IDLE);
		bufferevent_enable(c->bev, EV_WRITE);
		return;
	}
	conn_free(c, (what & BEV_EVENT_TIMEOUT) ? "write timeout" :
	    (what & BEV_EVENT_EOF) ? "client closed" : "connection error");
}

/* ------------------------------------------------------------- start ---- */

void
conn_peer_from(const struct sockaddr *sa, struct conn_peer *p)
{
	memset(p, 0, sizeof(*p));
	str_copy(p->ip, sizeof(p->ip), "unknown");
	p->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, p->ip, sizeof(p->ip));
		p->port = ntohs(in4->sin_port);
		memcpy(p->addr, &in4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, p->ip, sizeof(p->ip));
		p->port = ntohs(in6->sin6_port);
		memcpy(p->addr, &in6->sin6_addr, 16);
	}
}

struct conn *
conn_start(struct event_base *base, evutil_socket_t fd, const struct conn_peer *peer,
    const struct listener_conf *lc, struct tls *tls, const char *limit_key)
{
	const struct conn_proto *proto = lc->proto;
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		listener_release(limit_key);
		close(fd);
		log_warnx("%s: out of memory accepting a connection", proto->name);
		return NULL;
	}
	if (lc->tls_mode == LISTENER_TLS_IMPLICIT)
		/* RFC 8314: TLS from the first octet. */
		c->bev = tls_bev_accept(tls, base, fd);
	else
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		listener_release(limit_key);
		free(c);
		close(fd);
		log_warnx("%s: cannot set up a connection", proto->name);
		return NULL;
	}
	c->base = base;
	c->proto = proto;
	c->tls_ctx = lc->tls_mode == LISTENER_TLS_NONE ? NULL : tls;
	c->peer = *peer;
	str_copy(c->limit_key, sizeof(c->limit_key), limit_key);
	c->id = ++reg.next_id;
	c->hnext = reg.by_id[c->id % REG_BUCKETS];
	reg.by_id[c->id % REG_BUCKETS] = c;
	reg.n++;
	bev_setup(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if ((c->ctx = proto->greet(c, lc)) == NULL) {
		conn_free(c, NULL);
		return NULL;
	}
	return c;
}
