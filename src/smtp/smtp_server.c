/*
 * smtp_server: the server session state machine.
 *
 * A session reads CRLF-terminated command lines from its bufferevent and
 * dispatches them through commands[]; each handler checks the state,
 * replies and moves the state. Replies are appended to the output buffer
 * and libevent writes them when the loop turns, so pipelined commands
 * (RFC 2920) get their replies in order and in few packets. While a commit
 * is on the I/O pool the session reads nothing further, which keeps the
 * reply to end-of-data ahead of any pipelined command after it.
 *
 * Sessions are freed only from libevent callbacks, never from inside a
 * command handler: a handler that wants to end the session sets
 * S_CLOSING and the write callback frees it once the reply is out.
 */
#include "smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../maillog/maillog.h"
#include "../proto/smtp_addr.h"
#include "../proto/smtp_cmd.h"
#include "../proto/smtp_data.h"
#include "../proto/rfc5322.h"
#include "../queue/queue.h"
#include "../route/router.h"
#include "../auth/auth.h"
#include "../daemon/iopool.h"
#include "../proto/sasl.h"
#include "../tls/tls.h"
#include "smtp_reply.h"
#include "smtp_session.h"

struct smtp_command {
	enum smtp_verb verb;
	void (*handler)(struct smtp_session *, const char *, size_t);
};

/* ------------------------------------------------------------ registry --
 * Sessions by id, for completions that arrive after the session may be gone
 * (practice: async completions carry ids, not pointers); and connection
 * counts per client address. Loop thread only.
 */
#define REG_BUCKETS 4096

/* Replies waiting to be written above which a session stops reading. */
#define OUTPUT_HIGH (64 * 1024)

struct ip_count {
	char ip[INET6_ADDRSTRLEN + 4];   /* address, or IPv6 prefix "…/64" */
	int n;
	struct ip_count *next;
};

static struct {
	struct smtp_session *by_id[REG_BUCKETS];
	struct ip_count *by_ip[REG_BUCKETS];
	uint64_t next_id;
	unsigned nsessions;
	struct buf line;             /* the command being handled */
} reg;

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 2166136261u;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % REG_BUCKETS;
}

static struct ip_count **
ip_slot(const char *ip)
{
	struct ip_count **pp = &reg.by_ip[ip_hash(ip)];

	while (*pp && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
ip_release(const char *ip)
{
	struct ip_count **pp = ip_slot(ip), *c = *pp;

	if (c && --c->n == 0) {
		*pp = c->next;
		free(c);
	}
}

struct smtp_session *
smtp_session_find(uint64_t id)
{
	struct smtp_session *s = reg.by_id[id % REG_BUCKETS];

	while (s && s->id != id)
		s = s->hnext;
	return s;
}

static void
session_unlink(struct smtp_session *s)
{
	struct smtp_session **pp = &reg.by_id[s->id % REG_BUCKETS];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
}

unsigned
smtp_server_sessions(void)
{
	return reg.nsessions;
}

/* ------------------------------------------------------------- helpers -- */

static void on_deadline(evutil_socket_t fd, short what, void *arg);

static int64_t
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/*
 * The idle timeouts are per read: a client sending one octet a minute
 * would never meet them. So a session also has a deadline (its whole
 * length), and a message one from DATA or its first BDAT to its end. One
 * timer serves both: it fires at the earlier.
 */
static void
deadline_arm(struct smtp_session *s)
{
	int64_t end = s->session_end;
	struct timeval tv = { 0, 0 };

	if (s->data_end && (end == 0 || s->data_end < end))
		end = s->data_end;
	if (end == 0) {
		if (s->deadline)
			evtimer_del(s->deadline);
		return;
	}
	if (s->deadline == NULL &&
	    (s->deadline = evtimer_new(s->env->base, on_deadline, s)) == NULL)
		return;   /* out of memory: the idle timeouts still hold */
	tv.tv_sec = end > now_mono() ? (time_t)(end - now_mono()) : 0;
	evtimer_add(s->deadline, &tv);
}

void
smtp_session_enter(struct smtp_session *s, enum smtp_state st)
{
	int data_deadline = s->env->cfg->data_deadline;

	if (s->state != st)
		log_debug("sid=%llu state %s -> %s", (unsigned long long)s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
	/* The message deadline runs from DATA or the first BDAT chunk until
	 * the transaction is over (BDAT goes back to RCPT between chunks). */
	if ((st == S_DATA || st == S_BDAT) && s->data_end == 0 && data_deadline) {
		s->data_end = now_mono() + data_deadline;
		deadline_arm(s);
	} else if ((st == S_READY || st == S_CONNECTED) && s->data_end) {
		s->data_end = 0;
		deadline_arm(s);
	}
}

void
smtp_session_flush(struct smtp_session *s)
{
	if (s->out.len) {
		bufferevent_write(s->bev, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

/* The one way a session replies; refusals are logged with the command. */
void
smtp_session_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	size_t start = s->out.len;
	va_list ap;

	if (*esc)
		buf_printf(&s->out, "%03d %s ", code, esc);
	else
		buf_printf(&s->out, "%03d ", code);   /* 354: no enhanced code */
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
	if (code >= 400) {
		char line[512];

		str_copyn(line, sizeof(line), s->out.data + start, s->out.len - start - 2);
		maillog_reject(s->id, s->ip, s->cmdline ? s->cmdline : "",
		    s->cmdline ? s->cmdlen : 0, line);
	}
}

void
smtp_tx_free(struct smtp_tx **txp)
{
	struct smtp_tx *tx = *txp;

	if (tx == NULL)
		return;
	queue_tx_abort(&tx->qtx);
	envelope_clear(&tx->env);
	buf_release(&tx->chunk);
	buf_release(&tx->bdat_error);
	free(tx);
	*txp = NULL;
}

static void
session_free(struct smtp_session *s, const char *reason)
{
	maillog_disconnect(s->id, s->ip, s->nmsgs, s->ncmds, reason);
	session_unlink(s);
	ip_release(s->limit_key);
	reg.nsessions--;
	smtp_tx_free(&s->tx);
	buf_release(&s->out);
	buf_release(&s->bdat_reply);
	if (s->linger)
		event_free(s->linger);
	if (s->auth_timer)
		event_free(s->auth_timer);
	if (s->deadline)
		event_free(s->deadline);
	buf_release(&s->auth_delayed);
	bufferevent_free(s->bev);
	free(s);
}

/* Queues a final reply and ends the session once it is written. */
void
smtp_session_close_after_reply(struct smtp_session *s)
{
	smtp_session_enter(s, S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
}

void
smtp_session_count_error(struct smtp_session *s)
{
	if (++s->errors >= (unsigned)s->env->cfg->max_errors) {
		smtp_session_reply(s, 421, ESC_POLICY_TEMP, "%s Error: too many errors",
		    s->env->cfg->hostname);
		smtp_session_close_after_reply(s);
	}
}

const char *
smtp_session_proto(const struct smtp_session *s, const struct smtp_tx *tx)
{
	/* RFC 3848 and RFC 6531 §3.7.3 "with" protocol names. */
	static const char *const names[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!s->esmtp)
		return "SMTP";
	return names[tx && tx->mp.smtputf8][s->tls][s->authed];
}

bool
smtp_session_in_tx(const struct smtp_session *s)
{
	return s->state == S_MAIL || s->state == S_RCPT;
}

/* --------------------------------------------------------- commands ---- */

static void
cmd_helo_common(struct smtp_session *s, const char *arg, size_t len, bool esmtp)
{
	const struct config *cfg = s->env->cfg;
	size_t i;

	if (len == 0) {
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		smtp_session_count_error(s);
		return;
	}
	/* Kept for the Received header: printable, without comment syntax. */
	for (i = 0; i < len && i < sizeof(s->helo) - 1; i++) {
		unsigned char c = (unsigned char)arg[i];

		s->helo[i] = (c < 33 || c > 126 || c == '(' || c == ')' || c == '\\') ? '?' : (char)c;
	}
	s->helo[i] = '\0';
	s->esmtp = esmtp;
	smtp_tx_free(&s->tx);
	smtp_session_enter(s, S_READY);
	if (!esmtp) {
		smtp_session_reply(s, 250, ESC_OK, "%s", cfg->hostname);
		return;
	}
	{
		char line[600];

		snprintf(line, sizeof(line), "%s Hello %s [%s]", cfg->hostname, s->helo, s->ip);
		smtp_reply_line(&s->out, 250, 0, line);
		smtp_reply_line(&s->out, 250, 0, "PIPELINING");
		snprintf(line, sizeof(line), "SIZE %llu", (unsigned long long)cfg->max_message_size);
		smtp_reply_line(&s->out, 250, 0, line);
		smtp_reply_line(&s->out, 250, 0, "8BITMIME");
		smtp_reply_line(&s->out, 250, 0, "SMTPUTF8");
		smtp_reply_line(&s->out, 250, 0, "ENHANCEDSTATUSCODES");
		smtp_reply_line(&s->out, 250, 0, "DSN");
		if (s->env->tls && !s->tls)
			smtp_reply_line(&s->out, 250, 0, "STARTTLS");
		if (smtp_auth_allowed(s) && !s->authed)
			smtp_reply_line(&s->out, 250, 0, "AUTH PLAIN LOGIN");
		smtp_reply_line(&s->out, 250, 1, "CHUNKING");
	}
}

static void
cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	cmd_helo_common(s, arg, len, false);
}

static void
cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	cmd_helo_common(s, arg, len, true);
}



















void
smtp_session_idle_timeout(struct smtp_session *s)
{
	struct timeval tv = { s->env->cfg->idle_timeout, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}







/*
 * NOOP, RSET, VRFY, EXPN and HELP cost a client nothing and move no mail:
 * past max_junk_commands of them since the last message was accepted,
 * each one counts as an error, so that max_errors ends the session
 * (Postfix's smtpd_junk_command_limit).
 */
static void
count_junk(struct smtp_session *s)
{
	if (s->nmsgs != s->junk_nmsgs) {
		s->junk = 0;
		s->junk_nmsgs = s->nmsgs;
	}
	if (++s->junk > (unsigned)s->env->cfg->max_junk_commands)
		smtp_session_count_error(s);
}

static void
cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: RSET");
		smtp_session_count_error(s);
		return;
	}
	smtp_tx_free(&s->tx);
	if (s->state != S_CONNECTED)
		smtp_session_enter(s, S_READY);
	smtp_session_reply(s, 250, ESC_OK, "Ok");
	count_junk(s);
}

static void
cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 250, ESC_OK, "Ok");
	count_junk(s);
}

static void
cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 221, ESC_OK, "Bye");
	smtp_session_close_after_reply(s);
}

static void
cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0) {
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: VRFY address");
		smtp_session_count_error(s);
		return;
	}
	/* RFC 5321 §3.5.3: 252 rather than reveal who exists. */
	smtp_session_reply(s, 252, ESC_VRFY_CANNOT, "Cannot VRFY user, but will accept message and attempt delivery");
	count_junk(s);
}

static void
cmd_expn(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 502, ESC_INVALID_CMD, "EXPN is not available");
	count_junk(s);
}

static void
cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply_line(&s->out, 214, 0, "2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT");
	smtp_reply_line(&s->out, 214, 1, "2.0.0 RSET NOOP QUIT VRFY HELP; see RFC 5321");
	count_junk(s);
}

static void on_read(struct bufferevent *, void *);
static void on_write(struct bufferevent *, void *);
static void on_event(struct bufferevent *, short, void *);

/* RFC 3207. */
static void
cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	struct bufferevent *tbev;
	struct evbuffer *in;
	SSL *ssl;

	(void)arg;
	if (s->env->tls == NULL) {
		smtp_session_reply(s, 502, ESC_INVALID_CMD, "STARTTLS not available");
		smtp_session_count_error(s);
		return;
	}
	if (s->tls) {
		smtp_session_reply(s, 503, ESC_INVALID_CMD, "TLS already active");
		smtp_session_count_error(s);
		return;
	}
	if (len != 0) {
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: STARTTLS");
		smtp_session_count_error(s);
		return;
	}
	if ((ssl = tls_server_ssl(s->env->tls)) == NULL) {
		smtp_session_reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return;
	}
	smtp_session_reply(s, 220, ESC_OK, "Ready to start TLS");
	smtp_session_flush(s);
	/* Anything the client sent behind STARTTLS arrived in the clear and
	 * is thrown away, never executed (CVE-2011-0411). */
	in = bufferevent_get_input(s->bev);
	if (evbuffer_get_length(in) > 0) {
		log_info("sid=%llu event=starttls-discard octets=%zu",
		    (unsigned long long)s->id, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	tbev = bufferevent_openssl_filter_new(s->env->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		SSL_free(ssl);
		smtp_session_close_after_reply(s);
		return;
	}
	s->bev = tbev;
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 256 * 1024);
	smtp_session_idle_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	/* RFC 3207 §4.2: forget everything learned before TLS. */
	smtp_tx_free(&s->tx);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authed = false;
	s->auth_user[0] = '\0';
	smtp_session_enter(s, S_CONNECTED);
}


static const struct smtp_command commands[] = {
	{ SMTP_CMD_HELO, cmd_helo },
	{ SMTP_CMD_EHLO, cmd_ehlo },
	{ SMTP_CMD_MAIL, smtp_tx_cmd_mail },
	{ SMTP_CMD_RCPT, smtp_tx_cmd_rcpt },
	{ SMTP_CMD_DATA, smtp_tx_cmd_data },
	{ SMTP_CMD_BDAT, smtp_tx_cmd_bdat },
	{ SMTP_CMD_RSET, cmd_rset },
	{ SMTP_CMD_NOOP, cmd_noop },
	{ SMTP_CMD_QUIT, cmd_quit },
	{ SMTP_CMD_VRFY, cmd_vrfy },
	{ SMTP_CMD_EXPN, cmd_expn },
	{ SMTP_CMD_HELP, cmd_help },
	{ SMTP_CMD_STARTTLS, cmd_starttls },
	{ SMTP_CMD_AUTH, smtp_auth_cmd },
	{ SMTP_CMD_LHLO, NULL },
};

/* ------------------------------------------------------------ input ---- */

/* An AUTH command carries credentials in its arguments (RFC 4954 §4). */
static bool
is_auth_line(const char *line, size_t len)
{
	return len >= 4 && str_ieqn(line, 4, "AUTH") &&
	    (len == 4 || line[4] == ' ' || line[4] == '\r' || line[4] == '\0');
}

/* One command line; returns true when it consumed something. */
static bool
next_command(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t max = s->env->cfg->max_command_length, linelen, eol_len, i;
	struct evbuffer_ptr p;
	struct smtp_cmd cmd;
	enum smtp_cmd_err e;
	char *line;
	bool after_auth;

	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos == -1) {
		size_t avail = evbuffer_get_length(in);

		/* RFC 5321 §4.5.3.1.4: 500 for a line over the limit. The
		 * rest of it, up to the LF, is discarded unread. */
		if (avail > max) {
			evbuffer_drain(in, avail);
			if (!s->skip_line) {
				s->skip_line = true;
				s->cmdline = NULL;
				smtp_session_reply(s, 500, ESC_SYNTAX, "Line too long");
				smtp_session_count_error(s);
			}
		}
		return false;
	}
	linelen = (size_t)p.pos;
	if (s->skip_line || linelen + 1 > max) {
		evbuffer_drain(in, linelen + 1);
		if (!s->skip_line) {
			s->cmdline = NULL;
			smtp_session_reply(s, 500, ESC_SYNTAX, "Line too long");
			smtp_session_count_error(s);
		}
		s->skip_line = false;
		return true;
	}
	buf_reset(&reg.line);
	if (buf_reserve(&reg.line, linelen + 1) == -1) {
		smtp_session_reply(s, 421, ESC_POLICY_TEMP, "Out of memory");
		smtp_session_close_after_reply(s);
		return false;
	}
	evbuffer_remove(in, reg.line.data, linelen + 1);
	reg.line.len = linelen;
	reg.line.data[linelen] = '\0';
	line = reg.line.data;
	s->ncmds++;
	s->cmdline = line;
	s->cmdlen = linelen;
	/* A refused AUTH line, and the line after an AUTH (which may be a
	 * SASL response the client sent although AUTH was refused), are
	 * never logged as they came: they may hold a password. */
	after_auth = s->after_auth;
	s->after_auth = is_auth_line(line, linelen);
	if (s->after_auth || after_auth) {
		s->cmdline = s->after_auth ? "AUTH (arguments not logged)" : "(line after AUTH, not logged)";
		s->cmdlen = strlen(s->cmdline);
	}
	if (s->state == S_AUTH) {
		/* A SASL response: never logged, wiped after use. */
		s->cmdline = "(AUTH response)";
		s->cmdlen = 15;
		if (linelen == 0 || line[linelen - 1] != '\r') {
			smtp_session_reply(s, 501, "5.5.2", "Bare LF in response");
			smtp_session_enter(s, s->auth_return);
		} else
			smtp_auth_response(s, line, linelen - 1);
		explicit_bzero(reg.line.data, linelen);
		goto out;
	}
	/* RFC 5321 §2.3.8: a bare LF does not end a command. */
	if (linelen == 0 || line[linelen - 1] != '\r') {
		smtp_session_reply(s, 500, ESC_SYNTAX, "Bare LF in command; lines must end with CRLF");
		smtp_session_count_error(s);
		goto out;
	}
	line[--linelen] = '\0';
	if (s->cmdline == line)
		s->cmdlen = linelen;
	e = smtp_cmd_parse(line, linelen, &cmd);
	if (after_auth && !s->after_auth && e == SMTP_CMD_OK && cmd.verb != SMTP_CMD_UNKNOWN) {
		/* A real command after all: log it as it is. */
		s->cmdline = line;
		s->cmdlen = linelen;
	}
	if (e == SMTP_CMD_E_BAD_CHAR) {
		smtp_session_reply(s, 500, ESC_SYNTAX, "Bad character (NUL, CR or LF) in command");
		smtp_session_count_error(s);
		goto out;
	}
	for (i = 0; e == SMTP_CMD_OK && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].verb == cmd.verb && commands[i].handler) {
			commands[i].handler(s, cmd.arg, cmd.arglen);
			goto out;
		}
	}
	smtp_session_reply(s, 500, ESC_INVALID_CMD, "Command unrecognized");
	smtp_session_count_error(s);
out:
	if (s->after_auth || after_auth)
		explicit_bzero(reg.line.data, reg.line.len + 1);
	s->cmdline = NULL;
	return true;
}

void
smtp_session_input(struct smtp_session *s)
{
	bool progressed = true;

	while (progressed) {
		/* A client that pipelines without reading our replies is not
		 * served further until they drain (on_write resumes us). */
		if (s->out.len + evbuffer_get_length(bufferevent_get_output(s->bev)) > OUTPUT_HIGH)
			break;
		switch (s->state) {
		case S_DATA:
			progressed = smtp_tx_feed_data(s);
			break;
		case S_BDAT:
			progressed = smtp_tx_feed_bdat(s);
			break;
		case S_COMMIT:
		case S_AUTHWAIT:
		case S_CLOSING:
			progressed = false;
			break;
		default:
			progressed = next_command(s);
			break;
		}
	}
	smtp_session_flush(s);
}

/* Under TLS the write callback means "handed to the TLS layer"; the
 * socket below may still hold the last reply. Wait for it (bounded). */
static bool
output_pending(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	return evbuffer_get_length(bufferevent_get_output(s->bev)) > 0 ||
	    (under && evbuffer_get_length(bufferevent_get_output(under)) > 0);
}

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	if (++s->linger_ticks >= 250) {   /* 5 s: the client does not read */
		session_free(s, "close timeout");
		return;
	}
	smtp_session_finish_close(s);
}

/* A TLS filter's socket below does not tell us when it drained: poll. */
static bool
arm_linger(struct smtp_session *s)
{
	struct timeval tv = { 0, 20000 };

	if (bufferevent_get_underlying(s->bev) == NULL)
		return true;   /* a plain socket bufferevent calls on_write */
	if (s->linger == NULL &&
	    (s->linger = evtimer_new(s->env->base, on_linger, s)) == NULL)
		return false;
	if (!evtimer_pending(s->linger, NULL))
		evtimer_add(s->linger, &tv);
	return true;
}

/*
 * A closing session goes once its last reply is on the socket; under TLS
 * after that the close_notify alert (RFC 8446 §6.1), which must follow
 * the reply, not overtake it.
 */
void
smtp_session_finish_close(struct smtp_session *s)
{
	const char *why = s->close_reason ? s->close_reason :
	    s->errors >= (unsigned)s->env->cfg->max_errors ? "too many errors" : "quit";

	if (output_pending(s)) {
		if (!arm_linger(s))
			session_free(s, why);
		return;
	}
	if (s->tls && !s->tls_closed) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		s->tls_closed = true;
		if (ssl)
			SSL_shutdown(ssl);
		if (output_pending(s)) {
			if (!arm_linger(s))
				session_free(s, why);
			return;
		}
	}
	session_free(s, why);
}

/*
 * The TLS handshake is over: note it, once. Called for BEV_EVENT_CONNECTED
 * and before reading: libevent enables reading when the handshake ends and
 * may hand us the client's first command (sent along with its Finished)
 * before it reports CONNECTED.
 */
static void
tls_established(struct smtp_session *s)
{
	SSL *ssl;

	if (s->tls || (ssl = bufferevent_openssl_get_ssl(s->bev)) == NULL ||
	    !SSL_is_init_finished(ssl))
		return;
	s->tls = true;
	tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
	log_info("sid=%llu event=tls client=%s tls=\"%s\"",
	    (unsigned long long)s->id, s->ip, s->tls_info);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	tls_established(s);
	smtp_session_input(s);
	if (s->state == S_CLOSING)
		smtp_session_finish_close(s);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == S_CLOSING)
		smtp_session_finish_close(s);
	else if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		smtp_session_input(s);   /* paused above OUTPUT_HIGH: go on */
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval again = { 1, 0 };
	bool data;

	(void)fd;
	(void)what;
	if (s->state == S_CLOSING)
		return;
	if (s->state == S_COMMIT || s->state == S_AUTHWAIT) {
		/* Let the queue's or the password check's answer go first: a
		 * 421 before a 250 would make the client send it again. */
		evtimer_add(s->deadline, &again);
		return;
	}
	data = s->data_end && now_mono() >= s->data_end;
	s->close_reason = data ? "data deadline" : "session deadline";
	s->cmdline = NULL;
	smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: %s exceeded", s->env->cfg->hostname,
	    data ? "message time limit" : "session time limit");
	smtp_session_close_after_reply(s);
	smtp_session_flush(s);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && bufferevent_openssl_get_ssl(s->bev) && !s->tls) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);
		char msg[200] = "handshake failed";

		if (e)
			ERR_error_string_n(e, msg, sizeof(msg));
		log_info("sid=%llu event=tls-failed client=%s reason=\"%s\"",
		    (unsigned long long)s->id, s->ip, msg);
	}
	if ((what & BEV_EVENT_TIMEOUT) && s->state != S_CLOSING &&
	    (what & BEV_EVENT_READING)) {
		/* RFC 5321 §4.5.3.2: the client went quiet. */
		s->cmdline = NULL;
		s->close_reason = "idle timeout";
		smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: timeout exceeded", s->env->cfg->hostname);
		smtp_session_close_after_reply(s);
		smtp_session_flush(s);
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	session_free(s, (what & BEV_EVENT_TIMEOUT) ? "write timeout" :
	    (what & BEV_EVENT_EOF) ? "client closed" : "connection error");
}

/*
 * The key connections are counted under for max_connections_per_ip: the
 * address for IPv4, the /64 for IPv6, where one client holds the whole
 * /64 and could otherwise open max_connections_per_ip from each address.
 */
static void
limit_key(int family, const unsigned char raw[16], const char *ip, char *out, size_t outsize)
{
	unsigned char pfx[9], a6[16] = { 0 };
	char text[INET6_ADDRSTRLEN];

	if (limtab_addr_prefix(family, raw, pfx) != 9) {
		if (family == AF_INET6 && inet_ntop(AF_INET, raw + 12, text, sizeof(text)))
			str_copy(out, outsize, text);   /* IPv4-mapped */
		else
			str_copy(out, outsize, ip);
		return;
	}
	memcpy(a6, pfx + 1, 8);
	if (inet_ntop(AF_INET6, a6, text, sizeof(text)) == NULL)
		str_copy(out, outsize, ip);
	else
		snprintf(out, outsize, "%s/64", text);
}

static const char *
service_name(enum listener_kind k)
{
	return k == LISTEN_SUBMISSION ? "submission" : k == LISTEN_SMTPS ? "smtps" : "smtp";
}

void
smtp_server_accept(struct smtp_server_env *env, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, enum listener_kind kind)
{
	const struct config *cfg = env->cfg;
	struct smtp_session *s;
	struct ip_count **slot, *c;
	char ip[INET6_ADDRSTRLEN] = "unknown", key[INET6_ADDRSTRLEN + 4];
	unsigned char raw[16] = { 0 };
	int port = 0;

	(void)salen;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
		port = ntohs(in4->sin_port);
		memcpy(raw, &in4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		memcpy(raw, &in6->sin6_addr, 16);
	}
	limit_key(sa->sa_family, raw, ip, key, sizeof(key));
	slot = ip_slot(key);
	if (reg.nsessions >= (unsigned)cfg->max_connections ||
	    (*slot && (*slot)->n >= cfg->max_connections_per_ip)) {
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "421 4.7.0 %s Error: too many connections%s\r\n",
		    cfg->hostname, reg.nsessions >= (unsigned)cfg->max_connections ? "" : " from your address");

		if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			(void)0;   /* the client will see the close */
		close(fd);
		maillog_refused(ip, reg.nsessions >= (unsigned)cfg->max_connections ?
		    "too many connections" : "too many connections from this address");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		log_warnx("smtp: out of memory accepting a connection");
		return;
	}
	if (kind == LISTEN_SMTPS) {
		/* RFC 8314: TLS from the first octet. */
		SSL *ssl = env->tls ? tls_server_ssl(env->tls) : NULL;

		if (ssl && (s->bev = bufferevent_openssl_socket_new(env->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
			SSL_free(ssl);
	} else
		s->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		free(s);
		close(fd);
		log_warnx("smtp: cannot set up a connection");
		return;
	}
	if (*slot == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			bufferevent_free(s->bev);
			free(s);
			return;
		}
		str_copy(c->ip, sizeof(c->ip), key);
		*slot = c;
	}
	(*slot)->n++;
	s->id = ++reg.next_id;
	s->env = env;
	s->kind = kind;
	s->state = S_CONNECTED;
	str_copy(s->ip, sizeof(s->ip), ip);
	str_copy(s->limit_key, sizeof(s->limit_key), key);
	s->port = port;
	s->family = sa->sa_family;
	memcpy(s->addr, raw, sizeof(raw));
	s->hnext = reg.by_id[s->id % REG_BUCKETS];
	reg.by_id[s->id % REG_BUCKETS] = s;
	reg.nsessions++;
	maillog_connect(s->id, ip, port, service_name(kind));

	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	/* Stop reading while 256 KiB wait unprocessed (e.g. during a commit). */
	bufferevent_setwatermark(s->bev, EV_READ, 0, 256 * 1024);
	smtp_session_idle_timeout(s);
	if (cfg->session_deadline) {
		s->session_end = now_mono() + cfg->session_deadline;
		deadline_arm(s);
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtp_session_reply(s, 220, "", "%s ESMTP tern", cfg->hostname);
	smtp_session_flush(s);
}

void
smtp_server_close_all(void)
{
	size_t i;

	for (i = 0; i < REG_BUCKETS; i++) {
		while (reg.by_id[i])
			session_free(reg.by_id[i], "shutdown");
	}
	buf_release(&reg.line);
	smtp_auth_shutdown();
}
