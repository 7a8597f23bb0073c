/*
 * conn: a client connection below its protocol session (see conn.h).
 *
 * The registry keeps every conn by id in one hash table, for async
 * completions of any protocol. Loop thread only.
 *
 * Input: conn_drive() frames lines (or passes raw octets) to the session's
 * handlers one at a time, as long as each returns CONN_DONE, the client's
 * replies are being read, and no async answer is awaited. Pipelined
 * commands (RFC 2920) are so handled in order, and nothing is read past a
 * command whose answer is pending (the reply to end-of-data stays ahead of
 * what the client pipelined behind it).
 *
 * Closing: after a handler's CONN_CLOSE reading stops, and the conn goes once the
 * output is on the socket. Under TLS the write callback only means "handed
 * to the TLS layer" (the socket below may still hold the last reply), and
 * close_notify (RFC 8446 §6.1) must follow that reply, not overtake it, so
 * a closing TLS conn polls its socket buffer for a bounded time (linger).
 *
 * Compression (conn_compress_start) stacks a filtering bufferevent over
 * the current one (the socket's, or TLS's), as STARTTLS stacks TLS over
 * the socket's: the rest of this file sees inflated input and writes
 * plain output, on c->bev as before. Below the filter, compressed output
 * waits under a write high watermark, so plain output backs up in the
 * filter where the back-pressure check sees it and on_write comes only
 * once it has all gone down. The filter runs its callbacks deferred: it
 * deflates inside conn_write() and inflates while a handler drains the
 * input, and the conn's callbacks must not run from there.
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
#include "../common/sockaddr.h"
#include "../common/str.h"
#include "../metrics/metrics.h"
#include "../proto/line.h"
#include "../tls/tls_bev.h"
#include "deflate.h"
#include "listener.h"

#define REG_BUCKETS 4096
/* Stop reading while this much waits unprocessed (e.g. during a commit). */
#define INPUT_HIGH (256 * 1024)
/* Closing under TLS: poll the socket buffer every 20 ms, 250 times (5 s:
 * the client does not read). */
#define LINGER_USEC 20000
#define LINGER_TICKS 250
/* Output waiting in a layer below the top one (TLS's, compression's):
 * above the high mark the layer above hands down no more; below the low
 * one it is asked for more. */
#define BELOW_HIGH (64 * 1024)
#define BELOW_LOW (16 * 1024)

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
	bool implicit_tls;           /* RFC 8314: TLS from the first octet */
	bool tls_closed;             /* close_notify sent */
	char tls_info[96];           /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	int timeout;                 /* idle seconds, reapplied after STARTTLS */
	bool closing;
	bool pending;                /* a handler awaits its async answer */
	bool raw;                    /* raw mode (counted: framer.raw_left) */
	bool raw_counted;
	size_t line_max;             /* the longest line, LF included */
	struct line_framer framer;
	struct buf line;             /* the line being handled */
	struct event *linger;
	int linger_ticks;
	struct event *deadline;
	int64_t session_end, data_end;  /* monotonic milliseconds; 0 = none */
	struct deflate_stream *zs;   /* COMPRESS: the filter's (it frees it) */
	struct event *zev;           /* COMPRESS: flush, or close on bad input */
	enum metrics_service svc;    /* the listener's, for the session counts */
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
static void compress_flush(struct conn *c);
static size_t output_waiting(struct conn *c);
static void conn_drive(struct conn *c);
static void conn_close_after_flush(struct conn *c);

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
	if (c->zs) {
		struct deflate_stats st;

		deflate_stream_stats(c->zs, &st);
		log_info("sid=%llu event=compress client=%s in=%llu in_plain=%llu "
		    "out_plain=%llu out=%llu", (unsigned long long)c->id, c->peer.ip,
		    (unsigned long long)st.in, (unsigned long long)st.in_plain,
		    (unsigned long long)st.out_plain, (unsigned long long)st.out);
		/* The filter (and the stream) may outlive c by a loop turn. */
		deflate_stream_notify(c->zs, NULL, NULL);
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	}
	if (c->ctx)
		c->proto->closed(c->ctx, reason);
	conn_unlink(c);
	listener_release(c->limit_key);
	reg.n--;
	metrics_session_close(c->svc);
	if (c->linger)
		event_free(c->linger);
	if (c->deadline)
		event_free(c->deadline);
	if (c->zev)
		event_free(c->zev);
	bufferevent_free(c->bev);
	buf_release(&c->line);
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

int
conn_peer_uid(const struct conn *c, uid_t *uid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (c->peer.family != AF_UNIX ||
	    getsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	*uid_r = cred.uid;
	return 0;
}

bool
conn_tls(const struct conn *c)
{
	return c->tls;
}

bool
conn_tls_possible(const struct conn *c)
{
	return c->tls_ctx != NULL && !c->implicit_tls;
}

const char *
conn_tls_info(const struct conn *c)
{
	return c->tls_info;
}

bool
conn_password_ok(const struct conn *c, bool cleartext_loopback)
{
	static const unsigned char v6lo[16] = { [15] = 1 };
	bool loopback = (c->peer.family == AF_INET && c->peer.addr[0] == 127) ||
	    (c->peer.family == AF_INET6 && memcmp(c->peer.addr, v6lo, 16) == 0);

	/* Implicit TLS: nothing crosses before the handshake, even while it
	 * is still going on (an IMAP greeting names the capabilities). */
	return c->tls || c->implicit_tls || (cleartext_loopback && loopback);
}

bool
conn_closing(const struct conn *c)
{
	return c->closing;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (len)
		bufferevent_write(c->bev, data, len);
}

bool
conn_input_pending(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
}

const char *
conn_long_line(const struct conn *c, size_t *len_r)
{
	*len_r = c->line.len;
	return c->line.data ? c->line.data : "";
}

void
conn_set_line_max(struct conn *c, size_t max)
{
	c->line_max = max ? max : 1;
}

void
conn_raw_begin(struct conn *c)
{
	c->raw = true;
	c->raw_counted = false;
}

void
conn_raw_count(struct conn *c, uint64_t n)
{
	c->raw = true;
	c->raw_counted = true;
	line_raw_begin(&c->framer, n);
}

void
conn_raw_end(struct conn *c)
{
	c->raw = false;
	c->raw_counted = false;
	line_raw_begin(&c->framer, 0);
}

/*
 * One bufferevent (cleartext, implicit TLS) has both timeouts. A filter
 * (STARTTLS's, COMPRESS's) runs its write timeout whether or not output
 * waits (libevent's generic timeouts): armed by the last reply, it fired
 * before (or in the same turn as) the read timeout, and the connection
 * ended as a "write timeout" without the session's 421 or BYE. So the
 * filter on top keeps the read timeout, the socket's bufferevent at the
 * bottom, which has a write timeout only while output waits, keeps that
 * one, and the layers between have none (a read timeout there would stop
 * reading where the conn never turns it on again).
 */
void
conn_set_timeout(struct conn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };
	struct bufferevent *bottom = c->bev, *b;

	c->timeout = seconds;
	for (b = bufferevent_get_underlying(c->bev); b; b = bufferevent_get_underlying(b)) {
		bufferevent_set_timeouts(b, NULL, NULL);
		bottom = b;
	}
	if (bottom == c->bev) {
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		return;
	}
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_set_timeouts(bottom, NULL, &tv);
}

/* --------------------------------------------------------- deadlines ---- */

/* Milliseconds: in whole seconds a deadline rearmed later (DATA's beside
 * the session's) was off by the two fractions, up to a second early. */
static int64_t
now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	int64_t end = c->session_end, left;
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
	left = end - now_mono_ms();
	if (left > 0) {
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	evtimer_add(c->deadline, &tv);
}

void
conn_set_deadline(struct conn *c, enum conn_timer which, int seconds)
{
	int64_t end = seconds ? now_mono_ms() + (int64_t)seconds * 1000 : 0;

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
	if (c->pending) {
		/* An async answer goes first: a 421 before a 250 would make
		 * the client send the message again. */
		evtimer_add(c->deadline, &again);
		return;
	}
	/* The earlier one fired (the loop's clock may run a little ahead of
	 * ours, so not "the one that has passed"). */
	which = c->data_end && (c->session_end == 0 || c->data_end <= c->session_end) ?
	    CONN_TIMER_DATA : CONN_TIMER_SESSION;
	if (c->proto->timer(c->ctx, which) == CONN_CLOSE)
		conn_close_after_flush(c);
	bufferevent_enable(c->bev, EV_WRITE);
	if (c->closing)
		finish_close(c);
}

/* --------------------------------------------------------------- TLS ---- */

/* The TLS bufferevent: c->bev, or below compression; NULL without TLS. */
static struct bufferevent *
tls_layer(struct conn *c)
{
	struct bufferevent *b;

	for (b = c->bev; b; b = bufferevent_get_underlying(b))
		if (tls_bev_is_tls(b))
			return b;
	return NULL;
}

/*
 * The TLS handshake is over: note it, once. Called for BEV_EVENT_CONNECTED
 * and before reading: libevent enables reading when the handshake ends and
 * may hand us the client's first command (sent along with its Finished)
 * before it reports CONNECTED.
 */
static void
tls_established(struct conn *c)
{
	struct bufferevent *t;

	if (c->tls || (t = tls_layer(c)) == NULL || !tls_bev_established(t))
		return;
	c->tls = true;
	tls_bev_describe(t, false, c->tls_info, sizeof(c->tls_info));
	log_info("sid=%llu event=tls client=%s tls=\"%s\"",
	    (unsigned long long)c->id, c->peer.ip, c->tls_info);
	metrics_tls_handshake(false, c->tls_info);
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
	struct tls_pending *p;
	struct bufferevent *tbev;
	struct evbuffer *in;

	/* Compressed data is what TLS carries, never the other way round:
	 * no STARTTLS after COMPRESS. */
	if (c->zs || (p = tls_bev_prepare(c->tls_ctx, true, NULL)) == NULL)
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
	/* TLS hands its records to the socket's bufferevent below, at once
	 * and without a bound: a streamed response (writable) would pile up
	 * there whole. With a high watermark TLS keeps them back, and
	 * on_write means again that little waits below. */
	bufferevent_setwatermark(c->bev, EV_WRITE, BELOW_LOW, BELOW_HIGH);
	c->bev = tbev;
	bev_setup(c);
	conn_set_timeout(c, c->timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return CONN_STARTTLS_OK;
}

/* -------------------------------------------------------- compression --- */

/* From inside a filter callback: work to do once it has returned. */
static void
compress_notify(void *arg)
{
	struct conn *c = arg;

	event_active(c->zev, EV_TIMEOUT, 1);
}

/*
 * The end of a burst of output: what the deflater holds goes out with a
 * sync flush, so the client can read each response without waiting for
 * more (RFC 4978 §4). Not while plain output still waits in the filter
 * (the layer below is full): it will be deflated as that drains, and
 * flushed after.
 */
static void
compress_flush(struct conn *c)
{
	if (c->zs && deflate_stream_unflushed(c->zs) &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
}

static void
on_compress(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (deflate_stream_failed(c->zs)) {
		/* Nothing the client sends from here on can be read. */
		log_info("sid=%llu event=compress-failed client=%s",
		    (unsigned long long)c->id, c->peer.ip);
		conn_free(c, "compression error");
		return;
	}
	compress_flush(c);
}

int
conn_compress_start(struct conn *c)
{
	struct bufferevent *under = c->bev, *top, *b;
	struct deflate_stream *zs;
	struct event *zev;

	if (c->zs || c->closing)
		return -1;
	if ((zs = deflate_stream_new(compress_notify, c)) == NULL)
		return -1;
	if ((zev = event_new(c->base, -1, 0, on_compress, c)) == NULL) {
		deflate_stream_free(&zs);
		return -1;
	}
	top = bufferevent_filter_new(under, deflate_filter_in, deflate_filter_out,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, deflate_stream_free_ctx, zs);
	if (top == NULL) {
		event_free(zev);
		deflate_stream_free(&zs);
		return -1;
	}
	/* Below the filter, a bound on output waiting in every layer (see
	 * the top of this file); conn_set_timeout moves the timeouts. */
	for (b = under; b; b = bufferevent_get_underlying(b))
		bufferevent_setwatermark(b, EV_WRITE, BELOW_LOW, BELOW_HIGH);
	c->bev = top;
	c->zs = zs;
	c->zev = zev;
	bev_setup(c);
	conn_set_timeout(c, c->timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	/* What the client sent behind the command is already below, and
	 * compressed: no read event will come for it. */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

bool
conn_compressed(const struct conn *c)
{
	return c->zs != NULL;
}

void
conn_buffered(struct conn *c, size_t *in_r, size_t *out_r)
{
	struct bufferevent *b;

	*in_r = 0;
	for (b = c->bev; b; b = bufferevent_get_underlying(b))
		*in_r += evbuffer_get_length(bufferevent_get_input(b));
	*out_r = output_waiting(c);
}

/* ------------------------------------------------------------ closing --- */

static void
conn_close_after_flush(struct conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* Octets waiting to be written, every layer down to the socket. */
static size_t
output_waiting(struct conn *c)
{
	struct bufferevent *b;
	size_t n = 0;

	for (b = c->bev; b; b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

size_t
conn_output_waiting(struct conn *c)
{
	return output_waiting(c);
}

static bool
output_pending(struct conn *c)
{
	return output_waiting(c) > 0 || (c->zs && deflate_stream_unflushed(c->zs));
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
	compress_flush(c);
	if (output_pending(c)) {
		if (!arm_linger(c))
			conn_free(c, NULL);
		return;
	}
	if (c->tls && !c->tls_closed) {
		c->tls_closed = true;
		tls_bev_close_notify(tls_layer(c));
		if (output_pending(c)) {
			if (!arm_linger(c))
				conn_free(c, NULL);
			return;
		}
	}
	conn_free(c, NULL);
}

/* ------------------------------------------------------------- input ---- */

/* One line to the session; CONN_WAIT when none is complete yet. */
static enum conn_step
drive_line(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr p;
	size_t eol_len, n;
	enum line_event ev;
	enum conn_step st;

	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	ev = line_frame(&c->framer, (ssize_t)p.pos, evbuffer_get_length(in), c->line_max, &n);
	switch (ev) {
	case LINE_NEED_MORE:
		return CONN_WAIT;
	case LINE_SKIP:
	case LINE_TOO_LONG:
		if (ev == LINE_TOO_LONG) {
			/* Its start stays readable (conn_long_line) while the
			 * session is told: IMAP answers with the line's tag. */
			size_t keep = n < CONN_LONG_LINE_KEEP ? n : CONN_LONG_LINE_KEEP;

			buf_reset(&c->line);
			if (buf_reserve(&c->line, keep + 1) == 0) {
				evbuffer_copyout(in, c->line.data, keep);
				c->line.len = keep;
				c->line.data[keep] = '\0';
			}
		}
		/* The rest of it, up to the LF, is dropped unread. */
		evbuffer_drain(in, n);
		st = ev == LINE_TOO_LONG ? c->proto->line(c->ctx, NULL, 0) : CONN_DONE;
		return st == CONN_DONE && p.pos == -1 ? CONN_WAIT : st;
	case LINE_READY:
		break;
	}
	buf_reset(&c->line);
	if (buf_reserve(&c->line, n + 1) == -1) {
		log_warnx("sid=%llu out of memory reading a line", (unsigned long long)c->id);
		return CONN_CLOSE;
	}
	evbuffer_remove(in, c->line.data, n + 1);
	c->line.len = n;
	c->line.data[n] = '\0';
	return c->proto->line(c->ctx, c->line.data, n);
}

/* Raw octets to the session, in the pieces the buffer holds them in. */
static enum conn_step
drive_raw(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	size_t n, used = 0;
	enum conn_step st;

	if (c->raw_counted && !line_raw_active(&c->framer)) {
		c->raw = c->raw_counted = false;
		return c->proto->raw(c->ctx, NULL, 0, &used);
	}
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return CONN_WAIT;
	n = c->raw_counted ? line_raw_take(&c->framer, v.iov_len) : v.iov_len;
	st = c->proto->raw(c->ctx, v.iov_base, n, &used);
	if (used > n)
		used = n;
	evbuffer_drain(in, used);
	if (c->raw_counted && used < n)
		/* Give back what the session left: it comes again. */
		line_raw_begin(&c->framer, c->framer.raw_left + (n - used));
	if (st == CONN_DONE && used == 0 && c->raw)
		return CONN_WAIT;   /* no progress: never spin */
	return st;
}

/*
 * Hands what the client sent to the session, one line or raw piece at a
 * time, until the session waits for more, for an async answer, or ends.
 * A client that pipelines without reading the replies is not served
 * further until they drain (on_write comes back here). c may be freed.
 */
static void
conn_drive(struct conn *c)
{
	enum conn_step st = CONN_DONE;

	while (st == CONN_DONE && !c->closing && !c->pending) {
		/* Fetched each time: STARTTLS puts a new bufferevent on top. */
		struct evbuffer *in = bufferevent_get_input(c->bev);

		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > CONN_OUTPUT_HIGH)
			break;
		st = c->raw ? drive_raw(c, in) : drive_line(c, in);
	}
	if (st == CONN_PENDING)
		c->pending = true;
	else if (st == CONN_CLOSE)
		conn_close_after_flush(c);
	if (c->closing)
		finish_close(c);
}

void
conn_resume(struct conn *c, enum conn_step step)
{
	c->pending = false;
	if (step == CONN_PENDING)
		c->pending = true;
	else if (step == CONN_CLOSE)
		conn_close_after_flush(c);
	conn_drive(c);
}

/* ----------------------------------------------------------- callbacks -- */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	tls_established(c);
	conn_drive(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing) {
		finish_close(c);
		return;
	}
	if (c->proto->writable && c->proto->writable(c->ctx) == CONN_CLOSE)
		conn_close_after_flush(c);
	if (!c->closing && !c->pending &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		conn_drive(c);   /* paused above CONN_OUTPUT_HIGH: go on */
	else if (c->closing)
		finish_close(c);
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
	if ((what & BEV_EVENT_ERROR) && tls_layer(c) && !c->tls) {
		char msg[200];

		tls_bev_error(tls_layer(c), msg, sizeof(msg));
		log_info("sid=%llu event=tls-failed client=%s reason=\"%s\"",
		    (unsigned long long)c->id, c->peer.ip, msg);
		metrics_tls_failure(false);
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing && (what & BEV_EVENT_READING)) {
		if (c->pending) {
			/* Not the client's silence: we owe it an answer. */
			bufferevent_enable(c->bev, EV_READ);
			return;
		}
		/* The client went quiet: the session says so and closes. */
		if (c->proto->timer(c->ctx, CONN_TIMER_IDLE) == CONN_CLOSE)
			conn_close_after_flush(c);
		else
			bufferevent_enable(c->bev, EV_READ);
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
		p->port = sockaddr_text(sa, p->ip, sizeof(p->ip));
		memcpy(p->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		p->port = sockaddr_text(sa, p->ip, sizeof(p->ip));
		memcpy(p->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_UNIX)
		str_copy(p->ip, sizeof(p->ip), "unix");
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
	c->implicit_tls = lc->tls_mode == LISTENER_TLS_IMPLICIT;
	c->peer = *peer;
	c->line_max = 512;
	str_copy(c->limit_key, sizeof(c->limit_key), limit_key);
	c->id = ++reg.next_id;
	c->hnext = reg.by_id[c->id % REG_BUCKETS];
	reg.by_id[c->id % REG_BUCKETS] = c;
	reg.n++;
	c->svc = metrics_service_of(lc->service);
	metrics_session_open(c->svc);
	bev_setup(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if ((c->ctx = proto->greet(c, lc)) == NULL) {
		conn_free(c, NULL);
		return NULL;
	}
	return c;
}
