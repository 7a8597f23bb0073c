/*
 * smtp_client: the outbound connection (see smtp_client.h): connecting,
 * the greeting, EHLO/HELO, opportunistic STARTTLS, reading replies and
 * dispatching them by state, errors and timeouts, QUIT. One transaction
 * on an established connection (the command list and the body) is
 * smtp_client_tx.c's; smtp_client_int.h is what the two share.
 *
 * Reply text reaches results and error lines on one line: the reply
 * parser already turned control octets into spaces, and the "\n" between
 * the lines of a multi-line reply becomes a space (smtp_client_one_line).
 *
 * The peer's EHLO keywords are kept from the first EHLO when STARTTLS is
 * then refused, and forgotten when TLS starts (RFC 3207 §4.2).
 *
 * LMTP (RFC 2033) is this client with c->lmtp: LHLO where EHLO goes (and
 * no HELO to fall back to), and the differences listed in smtp_client.h.
 */
#include "smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/sockaddr.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../tls/tls_bev.h"
#include "smtp_client_int.h"

void
smtp_client_set_timeout(struct smtp_client *c, int secs)
{
	struct timeval tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void
smtp_client_one_line(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	}
}

void
smtp_client_result_set(struct smtp_client *c, struct courier_result *r,
    enum deliver_status st, const char *dsn, const char *detail)
{
	r->status = st;
	r->remote_code = 0;
	str_copy(r->tls, sizeof(r->tls), c->tls_info);
	str_copy(r->dsn, sizeof(r->dsn), dsn);
	str_copy(r->relay, sizeof(r->relay), c->relay);
	str_copy(r->detail, sizeof(r->detail), detail);
}

/* The connection broke: every recipient without a final answer gets err. */
static void
fail_open_recipients(struct smtp_client *c, const char *dsn, const char *detail)
{
	size_t i;

	if (c->tx == NULL)
		return;
	for (i = 0; i < c->tx->nrcpt; i++) {
		/* LMTP: the recipients before lmtp_next have their own reply
		 * to the data, which stands (RFC 2033 §4.2). */
		if (c->lmtp && c->state == C_DOT && i < c->lmtp_next)
			continue;
		/* DELIVER_OK before the final "." reply only means "RCPT
		 * accepted"; it is not final until then. */
		if (c->tx->res[i].status == DELIVER_OK || c->tx->res[i].dsn[0] == '\0')
			smtp_client_result_set(c, &c->tx->res[i], DELIVER_TEMP, dsn,
			    detail);
	}
}

static void
on_done_ev(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	smtp_client_cb cb = c->cb;

	(void)fd;
	(void)what;
	c->cb = NULL;
	c->tx = NULL;
	if (cb)
		cb(c, c->cb_arg);
}

void
smtp_client_finish(struct smtp_client *c)
{
	event_active(c->done_ev, EV_TIMEOUT, 0);
}

void
smtp_client_broken(struct smtp_client *c, const char *dsn, bool perm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	/* A multi-line greeting or HELO reply quoted here ends up in a DSN. */
	smtp_client_one_line(c->error);
	str_copy(c->error_dsn, sizeof(c->error_dsn), dsn);
	c->error_perm = perm;
	if (c->state == C_TX || c->state == C_BODY || c->state == C_DOT)
		fail_open_recipients(c, dsn, c->error);
	c->state = C_BROKEN;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	smtp_client_finish(c);
}

void
smtp_client_send_line(struct smtp_client *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* ----------------------------------------------------- the handshake -- */

/* What the peer offers, from its EHLO reply (in c->rp). */
static void
caps_from_ehlo(struct smtp_client *c)
{
	const char *param;

	c->esmtp = true;
	c->pipelining = smtp_reply_ehlo_has(&c->rp, "PIPELINING", NULL);
	/* An LMTP server is the mailbox: tern reports what it says itself
	 * (a success is "delivered"), so it hands no DSN request on. */
	c->dsn = !c->lmtp && smtp_reply_ehlo_has(&c->rp, "DSN", NULL);
	c->eightbit = smtp_reply_ehlo_has(&c->rp, "8BITMIME", NULL);
	c->smtputf8 = smtp_reply_ehlo_has(&c->rp, "SMTPUTF8", NULL);
	c->size_limit = 0;
	if ((c->size = smtp_reply_ehlo_has(&c->rp, "SIZE", &param)))
		c->size_limit = strtoull(param, NULL, 10);
}

/* RFC 3207 §4.2: after the handshake, nothing learnt before it counts. */
static void
caps_forget(struct smtp_client *c)
{
	c->esmtp = c->pipelining = c->dsn = c->eightbit = c->smtputf8 = c->size = false;
	c->size_limit = 0;
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* EHLO, or LHLO (RFC 2033 §4.1), after the greeting and after TLS. */
static void
send_hello(struct smtp_client *c)
{
	c->state = C_EHLO;
	smtp_client_send_line(c, "%s %s", c->lmtp ? "LHLO" : "EHLO", c->cfg->hostname);
}

static void
on_starttls_reply(struct smtp_client *c)
{
	struct bufferevent *tbev;
	struct tls_pending *p;

	if (c->rp.code != 220) {
		/* Opportunistic: carry on in the clear, with what the EHLO
		 * before STARTTLS offered (RFC 3207 §4: 454 or 501 leave the
		 * session as it was). */
		c->state = C_READY;
		smtp_client_set_timeout(c, c->cfg->smtp_idle_timeout);
		smtp_client_finish(c);
		return;
	}
	caps_forget(c);
	p = tls_bev_prepare(c->tls_ctx, false, c->host);
	if ((tbev = tls_bev_starttls(&p, c->bev)) == NULL) {
		smtp_client_broken(c, "4.7.0", false, "cannot start TLS with %s", c->relay);
		return;
	}
	c->bev = tbev;
	c->state = C_TLS;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_PIECE / 2, 0);
	smtp_client_set_timeout(c, T_COMMAND);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_ehlo_reply(struct smtp_client *c)
{
	if (c->rp.code / 100 != 2) {
		if (c->state == C_EHLO && !c->lmtp) {
			/* RFC 5321 §3.2: fall back to HELO. */
			c->state = C_HELO;
			smtp_client_send_line(c, "HELO %s", c->cfg->hostname);
			return;
		}
		smtp_client_broken(c, c->rp.code >= 500 ? "5.5.0" : "4.5.0", false,
		    "%s refused by %s: %d %s", c->lmtp ? "LHLO" : "HELO", c->relay,
		    c->rp.code, buf_cstr(&c->rp.text));
		return;
	}
	/* Recorded before STARTTLS too: a refused STARTTLS (454) leaves
	 * the session in the clear with these keywords. */
	if (c->state == C_EHLO)
		caps_from_ehlo(c);
	if (c->state == C_EHLO && !c->tls && c->tls_ctx && c->cfg->smtp_tls &&
	    !c->local_socket && smtp_reply_ehlo_has(&c->rp, "STARTTLS", NULL)) {
		c->state = C_STARTTLS;
		smtp_client_send_line(c, "STARTTLS");
		return;
	}
	c->state = C_READY;
	smtp_client_set_timeout(c, c->cfg->smtp_idle_timeout);
	smtp_client_finish(c);
}

static void
on_greeting(struct smtp_client *c)
{
	const char *text = buf_cstr(&c->rp.text);
	size_t n = strcspn(text, " \n");

	if (c->rp.code != 220) {
		/* A 554 greeting means "no service here": try another host. */
		smtp_client_broken(c, c->rp.code >= 500 ? "5.0.0" : "4.0.0", false,
		    "%s greeted with %d %s", c->relay, c->rp.code, text);
		return;
	}
	/* RFC 5321 §5.1: an MX that is this host would loop. Not so an LMTP
	 * server, which is the mailbox store and often shares our name. */
	if (!c->lmtp && n > 0 && str_ieqn(text, n, c->cfg->hostname)) {
		smtp_client_broken(c, "5.4.6", true, "mail loops back to myself (%s)",
		    c->relay);
		return;
	}
	smtp_client_set_timeout(c, T_COMMAND);
	send_hello(c);
}

/* ------------------------------------------------------ libevent glue -- */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while (c->state != C_BROKEN &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		enum smtp_reply_status st = smtp_reply_parser_feed(&c->rp, line, len);

		free(line);
		if (st == SMTP_REPLY_BAD) {
			smtp_client_broken(c, "4.5.0", false, "%s sent a malformed reply",
			    c->relay);
			return;
		}
		if (st == SMTP_REPLY_MORE)
			continue;
		switch (c->state) {
		case C_GREETING:
			on_greeting(c);
			break;
		case C_EHLO:
		case C_HELO:
			on_ehlo_reply(c);
			break;
		case C_STARTTLS:
			on_starttls_reply(c);
			smtp_reply_parser_reset(&c->rp);
			return;   /* input from here on belongs to the TLS layer */
		case C_TX:
			smtp_client_tx_reply(c);
			break;
		case C_DOT:
			smtp_client_dot_reply(c);
			break;
		case C_QUIT:
			c->state = C_BROKEN;
			break;
		default:
			smtp_client_broken(c, "4.5.0", false, "%s sent an unexpected reply",
			    c->relay);
			return;
		}
		smtp_reply_parser_reset(&c->rp);
	}
	if (evbuffer_get_length(in) > 65536)
		smtp_client_broken(c, "4.5.0", false, "%s sent an overlong reply line",
		    c->relay);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	(void)bev;
	if (c->state == C_BODY)
		smtp_client_body_pump(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && c->state == C_TLS) {
		tls_bev_describe(c->bev, true, c->tls_info, sizeof(c->tls_info));
		c->tls = true;
		metrics_tls_handshake(true, c->tls_info);
		/* RFC 3207 §4.2: start over with EHLO (LHLO). */
		send_hello(c);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		c->state = C_GREETING;
		smtp_client_set_timeout(c, T_GREETING);
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	if (c->state == C_QUIT || c->state == C_BROKEN) {
		c->state = C_BROKEN;
		return;
	}
	if (c->state == C_READY) {
		/* An idle connection timed out or was closed: just unusable. */
		c->state = C_BROKEN;
		snprintf(c->error, sizeof(c->error), "%s: idle connection closed", c->relay);
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	if (c->state == C_TLS) {
		metrics_tls_failure(true);
		smtp_client_broken(c, "4.7.5", false, "TLS handshake with %s failed",
		    c->relay);
	}
	else if (what & BEV_EVENT_TIMEOUT)
		smtp_client_broken(c, "4.4.2", false, "timeout talking to %s", c->relay);
	else if (c->state == C_CONNECTING)
		smtp_client_broken(c, "4.4.1", false, "connect to %s: %s", c->relay,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		smtp_client_broken(c, "4.4.2", false, "%s closed the connection", c->relay);
}

struct smtp_client *
smtp_client_connect(struct event_base *base, const struct config *cfg,
    struct tls *tls, const struct sockaddr *sa, socklen_t salen,
    const char *host, bool lmtp, smtp_client_cb on_ready, void *arg)
{
	struct smtp_client *c = calloc(1, sizeof(*c));
	char ip[INET6_ADDRSTRLEN];
	int port;
	struct timeval tv = { cfg->smtp_connect_timeout, 0 };

	if (c == NULL)
		return NULL;
	c->base = base;
	/* Held while the connection lives (kept idle, it may outlast a
	 * reload): its EHLO name and timeouts stay the ones it opened with. */
	c->cfg = config_ref(cfg);
	c->cb = on_ready;
	c->cb_arg = arg;
	c->tls_ctx = tls;
	str_copy(c->tls_info, sizeof(c->tls_info), "none");
	str_copy(c->host, sizeof(c->host), host);
	c->lmtp = lmtp;
	if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)(uintptr_t)sa;

		c->local_socket = true;
		snprintf(c->relay, sizeof(c->relay), "lmtp:unix:%.*s",
		    (int)sizeof(sun->sun_path), sun->sun_path);
	} else {
		port = sockaddr_text(sa, ip, sizeof(ip));
		snprintf(c->relay, sizeof(c->relay), "%s%s[%s]:%d", lmtp ? "lmtp:" : "",
		    host, ip, port);
	}
	if ((c->done_ev = event_new(base, -1, 0, on_done_ev, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (c->done_ev)
			event_free(c->done_ev);
		config_unref(c->cfg);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_PIECE / 2, 0);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	c->state = C_CONNECTING;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)(uintptr_t)sa, (int)salen) == -1) {
		snprintf(c->error, sizeof(c->error), "connect to %s: %s", c->relay,
		    strerror(errno));
		str_copy(c->error_dsn, sizeof(c->error_dsn), "4.4.1");
		c->state = C_BROKEN;
		smtp_client_finish(c);   /* on_ready runs from the loop, as always */
	}
	return c;
}

bool
smtp_client_usable(const struct smtp_client *c)
{
	return c->state == C_READY;
}

const char *
smtp_client_error(const struct smtp_client *c)
{
	return c->error;
}

const char *
smtp_client_error_dsn(const struct smtp_client *c)
{
	return c->error_dsn[0] ? c->error_dsn : "4.4.0";
}

bool
smtp_client_error_is_perm(const struct smtp_client *c)
{
	return c->error_perm;
}

const char *
smtp_client_relay(const struct smtp_client *c)
{
	return c->relay;
}

const char *
smtp_client_host(const struct smtp_client *c)
{
	return c->host;
}

static void
client_free(struct smtp_client *c)
{
	event_free(c->done_ev);
	smtp_reply_parser_release(&c->rp);
	bufferevent_free(c->bev);
	config_unref(c->cfg);
	free(c);
}

void
smtp_client_close(struct smtp_client **cp)
{
	if (*cp) {
		client_free(*cp);
		*cp = NULL;
	}
}

void
smtp_client_quit(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	/* QUIT (RFC 5321 §4.1.1.10) straight to the socket: an idle
	 * connection has nothing queued, six octets fit, and the reply is not
	 * worth waiting for. */
	if (c->state == C_READY &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	    send(bufferevent_getfd(c->bev), "QUIT\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;   /* the peer sees the close either way */
	client_free(c);
}
