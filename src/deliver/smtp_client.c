/*
 * smtp_client: the outbound session state machine.
 *
 * Commands of a transaction form one list: MAIL, RCPT 1..n, DATA. With
 * PIPELINING (RFC 2920) the whole list goes out in one write and the
 * replies are matched in order; without it each command waits for the
 * previous reply. Either way one reply handler walks the list, so the two
 * modes share all their logic (after Postfix smtp_proto.c's separate send
 * and receive positions).
 *
 * The body is read from the queue file in pieces as the socket drains and
 * dot-stuffed on the way (RFC 5321 §4.5.2).
 *
 * Reply text reaches results and error lines on one line: the reply
 * parser already turned control octets into spaces, and the "\n" between
 * the lines of a multi-line reply becomes a space here.
 *
 * The peer's EHLO keywords are kept from the first EHLO when STARTTLS is
 * then refused, and forgotten when TLS starts (RFC 3207 §4.2).
 */
#include "smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/smtp_cmd.h"
#include "../proto/smtp_reply_parse.h"
#include "../tls/tls_bev.h"
#include "smtp_client_msg.h"

/* RFC 5321 §4.5.3.2 timeouts, in seconds. */
#define T_GREETING  300
#define T_COMMAND   300
#define T_DATA_INIT 120
#define T_BLOCK     180
#define T_DOT       600

#define BODY_PIECE (64 * 1024)

enum client_state {
	C_CONNECTING,
	C_GREETING,
	C_EHLO,
	C_HELO,
	C_STARTTLS,   /* STARTTLS sent, waiting for 220 */
	C_TLS,        /* handshake running */
	C_READY,      /* between transactions: usable */
	C_TX,         /* commands of a transaction sent, replies pending */
	C_BODY,       /* writing the message */
	C_DOT,        /* waiting for the reply to the final "." */
	C_QUIT,
	C_BROKEN,     /* unusable; error says why */
};

struct smtp_client {
	struct event_base *base;
	const struct config *cfg;
	struct bufferevent *bev;
	enum client_state state;
	char host[256];
	char relay[320];
	struct tls *tls_ctx;          /* NULL: plain SMTP only */
	bool tls;
	char tls_info[128];           /* "TLSv1.3 CIPHER verified=yes" or "none" */
	struct smtp_reply_parser rp;

	/* what the peer offers */
	bool esmtp, pipelining, dsn, eightbit, smtputf8;
	uint64_t size_limit;          /* 0 = not announced */

	/* the current transaction */
	struct smtp_client_tx *tx;
	size_t next_send;             /* command index: 0 MAIL, 1..n RCPT, n+1 DATA */
	size_t next_reply;
	size_t accepted;
	bool mail_failed;
	uint64_t body_sent;
	bool at_bol;                  /* body: the next octet starts a line */
	char last2[2];                /* body: last two octets sent */

	char error[600];
	char error_dsn[16];
	bool error_perm;

	smtp_client_cb cb;
	void *cb_arg;
	/* Callbacks run from this event, never from inside our own libevent
	 * callbacks, so the owner may free the client in them. */
	struct event *done_ev;
};

static void client_send_next(struct smtp_client *c);
static void body_pump(struct smtp_client *c);

static void
set_timeout(struct smtp_client *c, int secs)
{
	struct timeval tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* Puts text made of reply lines on one line: for logs, DSN fields and
 * error lines, where a line break would start a new field or command. */
static void
one_line(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	}
}

/* Turns a reply into a result: the remote's enhanced code when it sent
 * one, else one derived from the basic code. */
static void
result_from_reply(struct smtp_client *c, struct courier_result *r)
{
	int code = c->rp.code;

	r->remote_code = code;
	r->peer_dsn = c->dsn;
	str_copy(r->tls, sizeof(r->tls), c->tls_info);
	r->status = code < 400 ? DELIVER_OK : code < 500 ? DELIVER_TEMP : DELIVER_PERM;
	if (c->rp.esc[0])
		str_copy(r->dsn, sizeof(r->dsn), c->rp.esc);
	else
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	str_copy(r->relay, sizeof(r->relay), c->relay);
	snprintf(r->detail, sizeof(r->detail), "%d %s%s%s", code, c->rp.esc,
	    c->rp.esc[0] ? " " : "", buf_cstr(&c->rp.text));
	one_line(r->detail);
}

static void
result_set(struct smtp_client *c, struct courier_result *r,
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
		/* DELIVER_OK before the final "." reply only means "RCPT
		 * accepted"; it is not final until then. */
		if (c->tx->res[i].status == DELIVER_OK || c->tx->res[i].dsn[0] == '\0')
			result_set(c, &c->tx->res[i], DELIVER_TEMP, dsn, detail);
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

static void
finish(struct smtp_client *c)
{
	event_active(c->done_ev, EV_TIMEOUT, 0);
}

static void
broken(struct smtp_client *c, const char *dsn, bool perm, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
broken(struct smtp_client *c, const char *dsn, bool perm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	/* A multi-line greeting or HELO reply quoted here ends up in a DSN. */
	one_line(c->error);
	str_copy(c->error_dsn, sizeof(c->error_dsn), dsn);
	c->error_perm = perm;
	if (c->state == C_TX || c->state == C_BODY || c->state == C_DOT)
		fail_open_recipients(c, dsn, c->error);
	c->state = C_BROKEN;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	finish(c);
}

static void
send_line(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
send_line(struct smtp_client *c, const char *fmt, ...)
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
	c->dsn = smtp_reply_ehlo_has(&c->rp, "DSN", NULL);
	c->eightbit = smtp_reply_ehlo_has(&c->rp, "8BITMIME", NULL);
	c->smtputf8 = smtp_reply_ehlo_has(&c->rp, "SMTPUTF8", NULL);
	c->size_limit = 0;
	if (smtp_reply_ehlo_has(&c->rp, "SIZE", &param))
		c->size_limit = strtoull(param, NULL, 10);
}

/* RFC 3207 §4.2: after the handshake, nothing learnt before it counts. */
static void
caps_forget(struct smtp_client *c)
{
	c->esmtp = c->pipelining = c->dsn = c->eightbit = c->smtputf8 = false;
	c->size_limit = 0;
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

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
		set_timeout(c, c->cfg->smtp_idle_timeout);
		finish(c);
		return;
	}
	caps_forget(c);
	p = tls_bev_prepare(c->tls_ctx, false, c->host);
	if ((tbev = tls_bev_starttls(&p, c->bev)) == NULL) {
		broken(c, "4.7.0", false, "cannot start TLS with %s", c->relay);
		return;
	}
	c->bev = tbev;
	c->state = C_TLS;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_PIECE / 2, 0);
	set_timeout(c, T_COMMAND);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_ehlo_reply(struct smtp_client *c)
{
	if (c->rp.code / 100 != 2) {
		if (c->state == C_EHLO) {
			/* RFC 5321 §3.2: fall back to HELO. */
			c->state = C_HELO;
			send_line(c, "HELO %s", c->cfg->hostname);
			return;
		}
		broken(c, c->rp.code >= 500 ? "5.5.0" : "4.5.0", false,
		    "HELO refused by %s: %d %s", c->relay, c->rp.code, buf_cstr(&c->rp.text));
		return;
	}
	/* Recorded before STARTTLS too: a refused STARTTLS (454) leaves
	 * the session in the clear with these keywords. */
	if (c->state == C_EHLO)
		caps_from_ehlo(c);
	if (c->state == C_EHLO && !c->tls && c->tls_ctx && c->cfg->smtp_tls &&
	    smtp_reply_ehlo_has(&c->rp, "STARTTLS", NULL)) {
		c->state = C_STARTTLS;
		send_line(c, "STARTTLS");
		return;
	}
	c->state = C_READY;
	set_timeout(c, c->cfg->smtp_idle_timeout);
	finish(c);
}

static void
on_greeting(struct smtp_client *c)
{
	const char *text = buf_cstr(&c->rp.text);
	size_t n = strcspn(text, " \n");

	if (c->rp.code != 220) {
		/* A 554 greeting means "no service here": try another host. */
		broken(c, c->rp.code >= 500 ? "5.0.0" : "4.0.0", false,
		    "%s greeted with %d %s", c->relay, c->rp.code, text);
		return;
	}
	/* RFC 5321 §5.1: an MX that is this host would loop. */
	if (n > 0 && str_ieqn(text, n, c->cfg->hostname)) {
		broken(c, "5.4.6", true, "mail loops back to myself (%s)", c->relay);
		return;
	}
	c->state = C_EHLO;
	set_timeout(c, T_COMMAND);
	send_line(c, "EHLO %s", c->cfg->hostname);
}

/* --------------------------------------------------- the transaction -- */

static size_t
ncommands(const struct smtp_client *c)
{
	return c->tx->nrcpt + 2;   /* MAIL, RCPTs, DATA */
}

/* xtext (RFC 3461 §4): ENVID and ORCPT are kept as received, already
 * xtext; addresses put into ORCPT here are encoded. */
static void
append_xtext(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			evbuffer_add_printf(out, "+%02X", ch);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
send_command(struct smtp_client *c, size_t i)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct smtp_client_tx *tx = c->tx;

	if (i == 0) {
		evbuffer_add_printf(out, "MAIL FROM:<%s>", tx->sender);
		if (c->size_limit || c->esmtp)
			evbuffer_add_printf(out, " SIZE=%llu",
			    (unsigned long long)(tx->len + tx->prefix_len));
		if (tx->body == SMTP_BODY_8BITMIME && c->eightbit)
			evbuffer_add_printf(out, " BODY=8BITMIME");
		if (tx->smtputf8 && c->smtputf8)
			evbuffer_add_printf(out, " SMTPUTF8");
		if (c->dsn && tx->ret)
			evbuffer_add_printf(out, " RET=%s", tx->ret == SMTP_RET_HDRS ? "HDRS" : "FULL");
		if (c->dsn && tx->envid[0])
			evbuffer_add_printf(out, " ENVID=%s", tx->envid);
	} else if (i <= tx->nrcpt) {
		size_t r = i - 1;
		unsigned nf = tx->notify[r];

		evbuffer_add_printf(out, "RCPT TO:<%s>", tx->rcpt[r]);
		if (c->dsn && nf) {
			evbuffer_add_printf(out, " NOTIFY=%s", (nf & SMTP_NOTIFY_NEVER) ? "NEVER" : "");
			if (!(nf & SMTP_NOTIFY_NEVER)) {
				const char *sep = "";

				if (nf & SMTP_NOTIFY_SUCCESS) { evbuffer_add_printf(out, "SUCCESS"); sep = ","; }
				if (nf & SMTP_NOTIFY_FAILURE) { evbuffer_add_printf(out, "%sFAILURE", sep); sep = ","; }
				if (nf & SMTP_NOTIFY_DELAY) evbuffer_add_printf(out, "%sDELAY", sep);
			}
		}
		if (c->dsn && tx->orcpt[r][0])
			evbuffer_add_printf(out, " ORCPT=%s", tx->orcpt[r]);
		else if (c->dsn) {
			evbuffer_add_printf(out, " ORCPT=rfc822;");
			append_xtext(out, tx->rcpt[r]);
		}
	} else
		evbuffer_add_printf(out, "DATA");
	evbuffer_add(out, "\r\n", 2);
}

static void
client_send_next(struct smtp_client *c)
{
	size_t n = ncommands(c);

	if (c->pipelining) {
		while (c->next_send < n)
			send_command(c, c->next_send++);
	} else if (c->next_send == c->next_reply && c->next_send < n)
		send_command(c, c->next_send++);
}

/* Ends a transaction: results are final; the connection stays usable. */
static void
tx_done(struct smtp_client *c)
{
	c->state = C_READY;
	set_timeout(c, c->cfg->smtp_idle_timeout);
	finish(c);
}

static void
on_tx_reply(struct smtp_client *c)
{
	struct smtp_client_tx *tx = c->tx;
	size_t i = c->next_reply++, k;
	int code = c->rp.code;

	if (i == 0) {
		if (code / 100 != 2) {
			/* Every recipient shares the sender's fate. */
			c->mail_failed = true;
			for (k = 0; k < tx->nrcpt; k++)
				result_from_reply(c, &tx->res[k]);
		}
	} else if (i <= tx->nrcpt) {
		if (!c->mail_failed) {
			result_from_reply(c, &tx->res[i - 1]);
			if (code / 100 == 2) {
				/* Accepted for now; final after the "." reply. */
				c->accepted++;
				tx->res[i - 1].dsn[0] = '\0';
			}
		}
	} else {
		if (code == 354 && c->accepted > 0) {
			c->state = C_BODY;
			c->body_sent = 0;
			c->at_bol = true;
			c->last2[0] = c->last2[1] = 0;
			if (tx->prefix_len)
				smtp_client_stuff(bufferevent_get_output(c->bev), &c->at_bol, tx->prefix,
				    tx->prefix_len);
			set_timeout(c, T_BLOCK);
			body_pump(c);
			return;
		}
		if (code == 354) {
			/* Nobody to send to, yet the server wants data: end it
			 * empty and ignore the verdict. */
			c->state = C_DOT;
			set_timeout(c, T_DOT);
			send_line(c, ".");
			return;
		}
		for (k = 0; k < tx->nrcpt; k++) {
			if (tx->res[k].status == DELIVER_OK && tx->res[k].dsn[0] == '\0')
				result_from_reply(c, &tx->res[k]);
		}
		if (code / 100 == 2)
			broken(c, "4.5.0", false, "%s accepted DATA without 354", c->relay);
		else
			tx_done(c);
		return;
	}
	/* Without pipelining, nothing more to say once MAIL failed or no RCPT
	 * was accepted: RSET keeps the connection for the next message. */
	if (!c->pipelining && (c->mail_failed ||
	    (i == tx->nrcpt && c->accepted == 0))) {
		c->next_send = c->next_reply = ncommands(c);
		send_line(c, "RSET");
		c->state = C_DOT;   /* the RSET reply ends the transaction */
		set_timeout(c, T_COMMAND);
		return;
	}
	client_send_next(c);
}

static void
on_dot_reply(struct smtp_client *c)
{
	struct smtp_client_tx *tx = c->tx;
	size_t k;

	for (k = 0; k < tx->nrcpt; k++) {
		if (tx->res[k].status == DELIVER_OK && tx->res[k].dsn[0] == '\0')
			result_from_reply(c, &tx->res[k]);
	}
	tx_done(c);
}

/* Writes the next piece of the body, dot-stuffed, then the final ".". */
static void
body_pump(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct smtp_client_tx *tx = c->tx;
	char in[BODY_PIECE];

	while (evbuffer_get_length(out) < BODY_PIECE && c->body_sent < tx->len) {
		uint64_t left = tx->len - c->body_sent;
		size_t want = left < sizeof(in) ? (size_t)left : sizeof(in);
		ssize_t n = pread(tx->fd, in, want, (off_t)(tx->off + c->body_sent));

		if (n <= 0) {
			broken(c, "4.3.0", false, "reading the queue file: %s",
			    n == 0 ? "short file" : strerror(errno));
			return;
		}
		smtp_client_stuff(out, &c->at_bol, in, (size_t)n);
		if (n >= 2) {
			c->last2[0] = in[n - 2];
			c->last2[1] = in[n - 1];
		} else {
			c->last2[0] = c->last2[1];
			c->last2[1] = in[0];
		}
		c->body_sent += (uint64_t)n;
	}
	if (c->body_sent == tx->len) {
		/* A BDAT-received message may lack the final CRLF. */
		if (tx->len > 0 && !(c->last2[0] == '\r' && c->last2[1] == '\n'))
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
		c->state = C_DOT;
		set_timeout(c, T_DOT);
	}
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
			broken(c, "4.5.0", false, "%s sent a malformed reply", c->relay);
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
			on_tx_reply(c);
			break;
		case C_DOT:
			on_dot_reply(c);
			break;
		case C_QUIT:
			c->state = C_BROKEN;
			break;
		default:
			broken(c, "4.5.0", false, "%s sent an unexpected reply", c->relay);
			return;
		}
		smtp_reply_parser_reset(&c->rp);
	}
	if (evbuffer_get_length(in) > 65536)
		broken(c, "4.5.0", false, "%s sent an overlong reply line", c->relay);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	(void)bev;
	if (c->state == C_BODY)
		body_pump(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && c->state == C_TLS) {
		tls_bev_describe(c->bev, true, c->tls_info, sizeof(c->tls_info));
		c->tls = true;
		/* RFC 3207 §4.2: start over with EHLO. */
		c->state = C_EHLO;
		send_line(c, "EHLO %s", c->cfg->hostname);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		c->state = C_GREETING;
		set_timeout(c, T_GREETING);
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
	if (c->state == C_TLS)
		broken(c, "4.7.5", false, "TLS handshake with %s failed", c->relay);
	else if (what & BEV_EVENT_TIMEOUT)
		broken(c, "4.4.2", false, "timeout talking to %s", c->relay);
	else if (c->state == C_CONNECTING)
		broken(c, "4.4.1", false, "connect to %s: %s", c->relay,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		broken(c, "4.4.2", false, "%s closed the connection", c->relay);
}

struct smtp_client *
smtp_client_connect(struct event_base *base, const struct config *cfg,
    struct tls *tls, const struct sockaddr *sa, socklen_t salen,
    const char *host, smtp_client_cb on_ready, void *arg)
{
	struct smtp_client *c = calloc(1, sizeof(*c));
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	struct timeval tv = { cfg->smtp_connect_timeout, 0 };

	if (c == NULL)
		return NULL;
	c->base = base;
	c->cfg = cfg;
	c->cb = on_ready;
	c->cb_arg = arg;
	c->tls_ctx = tls;
	str_copy(c->tls_info, sizeof(c->tls_info), "none");
	str_copy(c->host, sizeof(c->host), host);
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", host, ip, port);
	if ((c->done_ev = event_new(base, -1, 0, on_done_ev, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (c->done_ev)
			event_free(c->done_ev);
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
		finish(c);   /* on_ready runs from the loop, as always */
	}
	return c;
}

void
smtp_client_send(struct smtp_client *c, struct smtp_client_tx *tx,
    smtp_client_cb on_done, void *arg)
{
	size_t i;

	c->tx = tx;
	c->cb = on_done;
	c->cb_arg = arg;
	c->next_send = c->next_reply = 0;
	c->accepted = 0;
	c->mail_failed = false;
	for (i = 0; i < tx->nrcpt; i++)
		memset(&tx->res[i], 0, sizeof(tx->res[i]));
	/* RFC 1870: do not send what the peer said it will refuse. */
	if (c->size_limit && tx->len + tx->prefix_len > c->size_limit) {
		for (i = 0; i < tx->nrcpt; i++)
			result_set(c, &tx->res[i], DELIVER_PERM, "5.3.4",
			    "message is larger than the remote server accepts");
		finish(c);
		return;
	}
	/* RFC 6531 §3.2: no SMTPUTF8 at the peer, no UTF-8 envelope or
	 * header. A message that merely came with SMTPUTF8 goes without it
	 * (send_command leaves the parameter out). */
	if (tx->smtputf8 && !c->smtputf8) {
		int need = smtp_client_needs_smtputf8(tx);

		if (need != 0) {
			for (i = 0; i < tx->nrcpt; i++) {
				if (need == 1)
					result_set(c, &tx->res[i], DELIVER_PERM, "5.6.7",
					    "the remote server does not support SMTPUTF8");
				else
					result_set(c, &tx->res[i], DELIVER_TEMP, "4.3.0",
					    "reading the queue file failed");
			}
			finish(c);
			return;
		}
	}
	/* RFC 6152 §3: tern does not downgrade 8-bit bodies; such a message
	 * fails with 5.6.3 rather than being damaged. */
	if (tx->body == SMTP_BODY_8BITMIME && !c->eightbit) {
		for (i = 0; i < tx->nrcpt; i++)
			result_set(c, &tx->res[i], DELIVER_PERM, "5.6.3",
			    "the remote server does not support 8BITMIME");
		finish(c);
		return;
	}
	c->state = C_TX;
	set_timeout(c, T_COMMAND);
	bufferevent_enable(c->bev, EV_READ);
	client_send_next(c);
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
