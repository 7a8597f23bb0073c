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
 * The connection below (src/net/conn.c) owns the socket, TLS, timeouts
 * and the registry by id; a session is its protocol context. Sessions are
 * freed only when their conn goes, never from inside a command handler: a
 * handler that wants to end the session sets S_CLOSING and the conn frees
 * it once the reply is out.
 */
#include "smtp_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../maillog/maillog.h"
#include "../proto/line.h"
#include "../proto/smtp_addr.h"
#include "../proto/smtp_cmd.h"
#include "../proto/smtp_data.h"
#include "../proto/rfc5322.h"
#include "../queue/queue.h"
#include "../route/router.h"
#include "../common/iopool.h"
#include "../proto/sasl.h"
#include "../net/conn.h"
#include "../net/listener.h"
#include "smtp_reply.h"
#include "smtp_session.h"

/*
 * A row of the command table: the states a command may come in (a bit per
 * enum smtp_state), and the refusal otherwise (503, counted as an error).
 * A command whose handler must look at its arguments before it may refuse
 * by state (DATA: 501 first) keeps that check in the handler and allows
 * every state here.
 */
struct smtp_command {
	enum smtp_verb verb;
	void (*handler)(struct smtp_session *, const char *, size_t);
	unsigned states;
	const char *refusal;
};

#define ST(x) (1u << (x))
/* The states in which the session reads commands at all. */
#define ST_ANY (ST(S_CONNECTED) | ST(S_READY) | ST(S_MAIL) | ST(S_RCPT))

struct smtp_session *
smtp_session_find(uint64_t id)
{
	return conn_ctx(conn_find(id), &smtp_server_proto);
}

/* ------------------------------------------------------------- helpers -- */

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
	if ((st == S_DATA || st == S_BDAT) && data_deadline &&
	    !conn_has_deadline(s->conn, CONN_TIMER_DATA))
		conn_set_deadline(s->conn, CONN_TIMER_DATA, data_deadline);
	else if ((st == S_READY || st == S_CONNECTED) &&
	    conn_has_deadline(s->conn, CONN_TIMER_DATA))
		conn_set_deadline(s->conn, CONN_TIMER_DATA, 0);
}

void
smtp_session_flush(struct smtp_session *s)
{
	if (s->out.len) {
		conn_write(s->conn, s->out.data, s->out.len);
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
		maillog_reject(s->id, conn_ip(s->conn), s->cmdline ? s->cmdline : "",
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

/* The conn is going away (reason NULL: the session ended it). */
static void
session_closed(void *ctx, const char *reason)
{
	struct smtp_session *s = ctx;
	const char *why = reason ? reason : s->close_reason ? s->close_reason :
	    s->errors >= (unsigned)s->env->cfg->max_errors ? "too many errors" : "quit";

	maillog_disconnect(s->id, conn_ip(s->conn), s->nmsgs, s->ncmds, why);
	smtp_tx_free(&s->tx);
	buf_release(&s->out);
	buf_release(&s->bdat_reply);
	buf_release(&s->cmd_line);
	free(s);
}

/* Queues a final reply and ends the session once it is written. */
void
smtp_session_close_after_reply(struct smtp_session *s)
{
	smtp_session_enter(s, S_CLOSING);
	conn_close_after_flush(s->conn);
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
	return names[tx && tx->mp.smtputf8][conn_tls(s->conn)][s->authed];
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

		snprintf(line, sizeof(line), "%s Hello %s [%s]", cfg->hostname, s->helo,
		    conn_ip(s->conn));
		smtp_reply_line(&s->out, 250, 0, line);
		smtp_reply_line(&s->out, 250, 0, "PIPELINING");
		snprintf(line, sizeof(line), "SIZE %llu", (unsigned long long)cfg->max_message_size);
		smtp_reply_line(&s->out, 250, 0, line);
		smtp_reply_line(&s->out, 250, 0, "8BITMIME");
		smtp_reply_line(&s->out, 250, 0, "SMTPUTF8");
		smtp_reply_line(&s->out, 250, 0, "ENHANCEDSTATUSCODES");
		smtp_reply_line(&s->out, 250, 0, "DSN");
		if (conn_tls_possible(s->conn) && !conn_tls(s->conn))
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
	conn_set_timeout(s->conn, s->env->cfg->idle_timeout);
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

/* RFC 3207. */
static void
cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	struct buf ready = BUF_INIT;
	enum conn_starttls r;

	(void)arg;
	if (!conn_tls_possible(s->conn)) {
		smtp_session_reply(s, 502, ESC_INVALID_CMD, "STARTTLS not available");
		smtp_session_count_error(s);
		return;
	}
	if (conn_tls(s->conn)) {
		smtp_session_reply(s, 503, ESC_INVALID_CMD, "TLS already active");
		smtp_session_count_error(s);
		return;
	}
	if (len != 0) {
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: STARTTLS");
		smtp_session_count_error(s);
		return;
	}
	smtp_reply_format(&ready, 220, ESC_OK, "Ready to start TLS");
	r = conn_starttls(s->conn, &s->out, ready.data, ready.len);
	buf_release(&ready);
	if (r == CONN_STARTTLS_UNAVAILABLE) {
		smtp_session_reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return;
	}
	if (r == CONN_STARTTLS_BROKEN) {
		smtp_session_close_after_reply(s);
		return;
	}
	smtp_session_idle_timeout(s);
	/* RFC 3207 §4.2: forget everything learned before TLS. */
	smtp_tx_free(&s->tx);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authed = false;
	s->auth_user[0] = '\0';
	smtp_session_enter(s, S_CONNECTED);
}


static const struct smtp_command commands[] = {
	{ SMTP_CMD_HELO, cmd_helo, ST_ANY, NULL },
	{ SMTP_CMD_EHLO, cmd_ehlo, ST_ANY, NULL },
	{ SMTP_CMD_MAIL, smtp_tx_cmd_mail, ST(S_READY) | ST(S_MAIL) | ST(S_RCPT),
	    "Send HELO/EHLO first" },
	{ SMTP_CMD_RCPT, smtp_tx_cmd_rcpt, ST(S_MAIL) | ST(S_RCPT), "Need MAIL before RCPT" },
	{ SMTP_CMD_DATA, smtp_tx_cmd_data, ST_ANY, NULL },
	{ SMTP_CMD_BDAT, smtp_tx_cmd_bdat, ST_ANY, NULL },
	{ SMTP_CMD_RSET, cmd_rset, ST_ANY, NULL },
	{ SMTP_CMD_NOOP, cmd_noop, ST_ANY, NULL },
	{ SMTP_CMD_QUIT, cmd_quit, ST_ANY, NULL },
	{ SMTP_CMD_VRFY, cmd_vrfy, ST_ANY, NULL },
	{ SMTP_CMD_EXPN, cmd_expn, ST_ANY, NULL },
	{ SMTP_CMD_HELP, cmd_help, ST_ANY, NULL },
	/* RFC 3207 leaves STARTTLS inside a transaction to the server;
	 * tern accepts it and forgets the transaction with the rest (§4.2). */
	{ SMTP_CMD_STARTTLS, cmd_starttls, ST_ANY, NULL },
	{ SMTP_CMD_AUTH, smtp_auth_cmd, ST_ANY, NULL },
	{ SMTP_CMD_LHLO, NULL, 0, NULL },
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
	struct evbuffer *in = conn_input(s->conn);
	size_t max = s->env->cfg->max_command_length, linelen, eol_len, i;
	enum line_event ev;
	struct evbuffer_ptr p;
	struct smtp_cmd cmd;
	enum smtp_cmd_err e;
	char *line;
	bool after_auth;

	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	ev = line_frame(&s->lines, (ssize_t)p.pos, evbuffer_get_length(in), max, &linelen);
	if (ev != LINE_READY) {
		/* RFC 5321 §4.5.3.1.4: 500 for a line over the limit. The
		 * rest of it, up to the LF, is discarded unread. */
		evbuffer_drain(in, linelen);
		if (ev == LINE_TOO_LONG) {
			s->cmdline = NULL;
			smtp_session_reply(s, 500, ESC_SYNTAX, "Line too long");
			smtp_session_count_error(s);
		}
		return p.pos != -1;   /* progress only at an LF */
	}
	buf_reset(&s->cmd_line);
	if (buf_reserve(&s->cmd_line, linelen + 1) == -1) {
		smtp_session_reply(s, 421, ESC_POLICY_TEMP, "Out of memory");
		smtp_session_close_after_reply(s);
		return false;
	}
	evbuffer_remove(in, s->cmd_line.data, linelen + 1);
	s->cmd_line.len = linelen;
	s->cmd_line.data[linelen] = '\0';
	line = s->cmd_line.data;
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
		size_t resp_len = linelen;

		/* A SASL response: never logged, wiped after use. */
		s->cmdline = "(AUTH response)";
		s->cmdlen = 15;
		if (line_check(line, &resp_len, 0) != LINE_OK) {
			smtp_session_reply(s, 501, "5.5.2", "Bare LF in response");
			smtp_session_enter(s, s->auth_return);
		} else
			smtp_auth_response(s, line, resp_len);
		explicit_bzero(s->cmd_line.data, linelen);
		goto out;
	}
	/* RFC 5321 §2.3.8: a bare LF does not end a command. */
	if (line_check(line, &linelen, 0) != LINE_OK) {
		smtp_session_reply(s, 500, ESC_SYNTAX, "Bare LF in command; lines must end with CRLF");
		smtp_session_count_error(s);
		goto out;
	}
	line[linelen] = '\0';
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
		const struct smtp_command *c = &commands[i];

		if (c->verb != cmd.verb || c->handler == NULL)
			continue;
		if (!(c->states & ST(s->state))) {
			smtp_session_reply(s, 503, ESC_INVALID_CMD, "%s", c->refusal);
			smtp_session_count_error(s);
		} else
			c->handler(s, cmd.arg, cmd.arglen);
		goto out;
	}
	smtp_session_reply(s, 500, ESC_INVALID_CMD, "Command unrecognized");
	smtp_session_count_error(s);
out:
	if (s->after_auth || after_auth)
		explicit_bzero(s->cmd_line.data, s->cmd_line.len + 1);
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
		if (conn_output_full(s->conn, s->out.len))
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

/* A timer of the conn: the idle timeout or a deadline. */
static enum conn_timer_verdict
session_timer(void *ctx, enum conn_timer which)
{
	struct smtp_session *s = ctx;
	bool data = which == CONN_TIMER_DATA;

	if (which == CONN_TIMER_IDLE) {
		/* RFC 5321 §4.5.3.2: the client went quiet. */
		s->cmdline = NULL;
		s->close_reason = "idle timeout";
		smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: timeout exceeded", s->env->cfg->hostname);
		smtp_session_close_after_reply(s);
		smtp_session_flush(s);
		return CONN_TIMER_DONE;
	}
	if (s->state == S_COMMIT || s->state == S_AUTHWAIT)
		/* Let the queue's or the password check's answer go first. */
		return CONN_TIMER_LATER;
	s->close_reason = data ? "data deadline" : "session deadline";
	s->cmdline = NULL;
	smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: %s exceeded", s->env->cfg->hostname,
	    data ? "message time limit" : "session time limit");
	smtp_session_close_after_reply(s);
	smtp_session_flush(s);
	return CONN_TIMER_DONE;
}

static void
session_input(void *ctx)
{
	smtp_session_input(ctx);
}

/* A new connection: the session and its greeting. */
static void *
session_greet(struct conn *c, const struct listener_conf *lc)
{
	struct smtp_server_env *env = lc->env;
	const struct config *cfg = env->cfg;
	struct smtp_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("smtp: out of memory accepting a connection");
		return NULL;
	}
	s->conn = c;
	s->id = conn_id(c);
	s->env = env;
	s->auth_required = lc->auth_required;
	s->state = S_CONNECTED;
	maillog_connect(s->id, conn_ip(c), conn_port(c), lc->service);
	smtp_session_idle_timeout(s);
	if (cfg->session_deadline)
		conn_set_deadline(c, CONN_TIMER_SESSION, cfg->session_deadline);
	smtp_session_reply(s, 220, "", "%s ESMTP tern", cfg->hostname);
	smtp_session_flush(s);
	return s;
}

static int
session_busy(const struct listener_conf *lc, bool per_ip, char *out, size_t outsize)
{
	const struct smtp_server_env *env = lc->env;

	return snprintf(out, outsize, "421 4.7.0 %s Error: too many connections%s\r\n",
	    env->cfg->hostname, per_ip ? " from your address" : "");
}

const struct conn_proto smtp_server_proto = {
	.name = "smtp",
	.greet = session_greet,
	.input = session_input,
	.tls_ready = NULL,
	.timer = session_timer,
	.closed = session_closed,
	.busy = session_busy,
};

void
smtp_server_close_all(void)
{
	conn_close_all();
}
