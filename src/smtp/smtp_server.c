/*
 * smtp_server: the server session state machine.
 *
 * The connection below (src/net/conn.c) owns the socket, TLS, timeouts,
 * line framing and the registry by id, and hands the session one command
 * line (or, in DATA and BDAT, raw octets) at a time. commands[] says per
 * command the states it may come in and its flags; the handler replies
 * and returns what the conn does next: read on, wait for an async answer
 * (the queue's commit, the auth service's verdict: PENDING, then
 * conn_resume), or close once the reply is out. Replies go to the conn at
 * the end of each line; libevent writes them when the loop turns, so
 * pipelined commands (RFC 2920) get their replies in order and in few
 * packets. Sessions are freed only when their conn goes.
 */
#include "smtp_server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../config/config.h"
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
#include "../verify/verify.h"
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
	enum conn_step (*handler)(struct smtp_session *, const char *, size_t);
	unsigned states;
	const char *refusal;
	unsigned flags;
};

/* RFC 6409 §4.3: on a listener for logged-in users only, refused with 530
 * until AUTH has succeeded. */
#define F_NEEDS_AUTH  0x1u
/* RFC 2920 §3.1: the last command of a pipelined group; a client must wait
 * for its reply before sending more. One that does not (spam engines
 * writing blind) is logged once per session, as Postfix does. */
#define F_GROUP_END   0x2u
/* Only in SMTP, or only in LMTP (RFC 2033 §4.1: LHLO, never HELO/EHLO). */
#define F_SMTP_ONLY   0x4u
#define F_LMTP_ONLY   0x8u

#define ST(x) (1u << (x))
/* The states in which the session reads commands at all. */
#define ST_ANY (ST(S_CONNECTED) | ST(S_READY) | ST(S_MAIL) | ST(S_RCPT))

struct smtp_session *
smtp_session_find(uint64_t id)
{
	struct conn *c = conn_find(id);
	struct smtp_session *s = conn_ctx(c, &smtp_server_proto);

	return s ? s : conn_ctx(c, &lmtp_server_proto);
}

/* ------------------------------------------------------------- helpers -- */

void
smtp_session_enter(struct smtp_session *s, enum smtp_state st)
{
	int data_deadline = s->cfg->data_deadline;

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
	while (tx->nlr > 0)
		free(tx->lr[--tx->nlr].idx);
	free(tx->lr);
	buf_release(&tx->chunk);
	buf_release(&tx->bdat_error);
	verify_free(&tx->verify);
	buf_release(&tx->trace);
	buf_release(&tx->held);
	hdr_find_release(&tx->arf);
	free(tx);
	*txp = NULL;
}

/* The conn is going away (reason NULL: the session ended it). */
static void
session_closed(void *ctx, const char *reason)
{
	struct smtp_session *s = ctx;
	const char *why = reason ? reason : s->close_reason ? s->close_reason :
	    s->errors >= (unsigned)s->cfg->max_errors ? "too many errors" : "quit";

	maillog_disconnect(s->id, conn_ip(s->conn), s->nmsgs, s->ncmds, why);
	smtp_tx_free(&s->tx);
	buf_release(&s->out);
	buf_release(&s->bdat_reply);
	buf_release(&s->rcpt_wait);
	config_unref(s->cfg);
	free(s);
}

enum conn_step
smtp_session_count_error(struct smtp_session *s)
{
	if (++s->errors < (unsigned)s->cfg->max_errors)
		return CONN_DONE;
	smtp_session_reply(s, 421, ESC_POLICY_TEMP, "%s Error: too many errors",
	    s->cfg->hostname);
	return CONN_CLOSE;
}

enum conn_step
smtp_session_refuse(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_session_reply(s, code, esc, "%s", text);
	return smtp_session_count_error(s);
}

const char *
smtp_session_proto(const struct smtp_session *s, const struct smtp_tx *tx)
{
	/* RFC 3848 and RFC 6531 §3.7.3 "with" protocol names. */
	static const char *const names[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (s->lmtp)
		return "LMTP";
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

static enum conn_step
cmd_helo_common(struct smtp_session *s, const char *arg, size_t len, bool esmtp)
{
	const struct config *cfg = s->cfg;
	char line[600];
	size_t i;

	if (len == 0)
		return smtp_session_refuse(s, 501, ESC_BAD_ARGS, "Syntax: %s hostname",
		    s->lmtp ? "LHLO" : esmtp ? "EHLO" : "HELO");
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
		return CONN_DONE;
	}
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
	if (smtp_auth_allowed(s) && !s->authed && !s->lmtp)
		smtp_reply_line(&s->out, 250, 0, "AUTH PLAIN LOGIN");
	smtp_reply_line(&s->out, 250, 1, "CHUNKING");
	return CONN_DONE;
}

static enum conn_step
cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	return cmd_helo_common(s, arg, len, false);
}

static enum conn_step
cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	return cmd_helo_common(s, arg, len, true);
}

/* RFC 2033 §4.1: LHLO is EHLO for LMTP. */
static enum conn_step
cmd_lhlo(struct smtp_session *s, const char *arg, size_t len)
{
	return cmd_helo_common(s, arg, len, true);
}

void
smtp_session_idle_timeout(struct smtp_session *s)
{
	conn_set_timeout(s->conn, s->cfg->idle_timeout);
}

/*
 * NOOP, RSET, VRFY, EXPN and HELP cost a client nothing and move no mail:
 * past max_junk_commands of them since the last message was accepted,
 * each one counts as an error, so that max_errors ends the session
 * (Postfix's smtpd_junk_command_limit).
 */
static enum conn_step
count_junk(struct smtp_session *s)
{
	if (s->nmsgs != s->junk_nmsgs) {
		s->junk = 0;
		s->junk_nmsgs = s->nmsgs;
	}
	if (++s->junk > (unsigned)s->cfg->max_junk_commands)
		return smtp_session_count_error(s);
	return CONN_DONE;
}

static enum conn_step
cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0)
		return smtp_session_refuse(s, 501, ESC_BAD_ARGS, "Syntax: RSET");
	smtp_tx_free(&s->tx);
	if (s->state != S_CONNECTED)
		smtp_session_enter(s, S_READY);
	smtp_session_reply(s, 250, ESC_OK, "Ok");
	return count_junk(s);
}

static enum conn_step
cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 250, ESC_OK, "Ok");
	return count_junk(s);
}

static enum conn_step
cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 221, ESC_OK, "Bye");
	return CONN_CLOSE;
}

static enum conn_step
cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0)
		return smtp_session_refuse(s, 501, ESC_BAD_ARGS, "Syntax: VRFY address");
	/* RFC 5321 §3.5.3: 252 rather than reveal who exists. */
	smtp_session_reply(s, 252, ESC_VRFY_CANNOT, "Cannot VRFY user, but will accept message and attempt delivery");
	return count_junk(s);
}

static enum conn_step
cmd_expn(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_session_reply(s, 502, ESC_INVALID_CMD, "EXPN is not available");
	return count_junk(s);
}

static enum conn_step
cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply_line(&s->out, 214, 0, "2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT");
	smtp_reply_line(&s->out, 214, 1, "2.0.0 RSET NOOP QUIT VRFY HELP; see RFC 5321");
	return count_junk(s);
}

/* RFC 3207. */
static enum conn_step
cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	struct buf ready = BUF_INIT;
	enum conn_starttls r;

	(void)arg;
	if (conn_tls(s->conn))
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "TLS already active");
	if (!conn_tls_possible(s->conn))
		return smtp_session_refuse(s, 502, ESC_INVALID_CMD, "STARTTLS not available");
	if (len != 0)
		return smtp_session_refuse(s, 501, ESC_BAD_ARGS, "Syntax: STARTTLS");
	smtp_reply_format(&ready, 220, ESC_OK, "Ready to start TLS");
	r = conn_starttls(s->conn, &s->out, ready.data, ready.len);
	buf_release(&ready);
	if (r == CONN_STARTTLS_UNAVAILABLE) {
		smtp_session_reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return CONN_DONE;
	}
	if (r == CONN_STARTTLS_BROKEN)
		return CONN_CLOSE;
	smtp_session_idle_timeout(s);
	/* RFC 3207 §4.2: forget everything learned before TLS. */
	smtp_tx_free(&s->tx);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authed = false;
	s->auth_user[0] = '\0';
	smtp_session_enter(s, S_CONNECTED);
	return CONN_DONE;
}

/*
 * The sequencing rules of SMTP in one place. A state not listed for a
 * command gets its 503; F_NEEDS_AUTH and F_GROUP_END are above.
 */
static const struct smtp_command commands[] = {
	{ SMTP_CMD_HELO, cmd_helo, ST_ANY, NULL, F_GROUP_END | F_SMTP_ONLY },
	{ SMTP_CMD_EHLO, cmd_ehlo, ST_ANY, NULL, F_GROUP_END | F_SMTP_ONLY },
	{ SMTP_CMD_LHLO, cmd_lhlo, ST_ANY, NULL, F_GROUP_END | F_LMTP_ONLY },
	{ SMTP_CMD_MAIL, smtp_tx_cmd_mail, ST(S_READY) | ST(S_MAIL) | ST(S_RCPT),
	    "Send HELO/EHLO first", F_NEEDS_AUTH },
	{ SMTP_CMD_RCPT, smtp_tx_cmd_rcpt, ST(S_MAIL) | ST(S_RCPT), "Need MAIL before RCPT", 0 },
	{ SMTP_CMD_DATA, smtp_tx_cmd_data, ST_ANY, NULL, F_GROUP_END },
	/* A chunk's octets follow BDAT itself: RFC 3030 lets BDAT be
	 * pipelined, the last one included. */
	{ SMTP_CMD_BDAT, smtp_tx_cmd_bdat, ST_ANY, NULL, 0 },
	{ SMTP_CMD_RSET, cmd_rset, ST_ANY, NULL, 0 },
	{ SMTP_CMD_NOOP, cmd_noop, ST_ANY, NULL, F_GROUP_END },
	{ SMTP_CMD_QUIT, cmd_quit, ST_ANY, NULL, F_GROUP_END },
	{ SMTP_CMD_VRFY, cmd_vrfy, ST_ANY, NULL, F_GROUP_END },
	{ SMTP_CMD_EXPN, cmd_expn, ST_ANY, NULL, F_GROUP_END },
	{ SMTP_CMD_HELP, cmd_help, ST_ANY, NULL, F_GROUP_END },
	/* RFC 3207 leaves STARTTLS inside a transaction to the server;
	 * tern accepts it and forgets the transaction with the rest (§4.2).
	 * What was pipelined behind it is discarded by the conn. */
	{ SMTP_CMD_STARTTLS, cmd_starttls, ST_ANY, NULL, F_GROUP_END },
	{ SMTP_CMD_AUTH, smtp_auth_cmd, ST_ANY, NULL, F_GROUP_END | F_SMTP_ONLY },
};

/* ------------------------------------------------------------ input ---- */

/* An AUTH command carries credentials in its arguments (RFC 4954 §4). */
static bool
is_auth_line(const char *line, size_t len)
{
	return len >= 4 && str_ieqn(line, 4, "AUTH") &&
	    (len == 4 || line[4] == ' ' || line[4] == '\r' || line[4] == '\0');
}

/* A parsed command through the table. */
static enum conn_step
dispatch(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct smtp_command *c = &commands[i];

		if (c->verb != cmd->verb)
			continue;
		if ((c->flags & (s->lmtp ? F_SMTP_ONLY : F_LMTP_ONLY)))
			break;   /* the other protocol's: unrecognized here */
		if (!(c->states & ST(s->state)))
			return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "%s", c->refusal);
		if ((c->flags & F_NEEDS_AUTH) && s->auth_required && !s->authed)
			return smtp_session_refuse(s, 530, "5.7.0", "Authentication required");
		if ((c->flags & F_GROUP_END) && !s->authed && !s->pipelining_logged &&
		    conn_input_pending(s->conn)) {
			s->pipelining_logged = true;
			maillog_improper_pipelining(s->id, conn_ip(s->conn), s->cmdline, s->cmdlen);
		}
		return c->handler(s, cmd->arg, cmd->arglen);
	}
	return smtp_session_refuse(s, 500, ESC_INVALID_CMD, "Command unrecognized");
}

/* One command line from the conn (NULL: one over the limit). */
static enum conn_step
command_line(struct smtp_session *s, char *line, size_t linelen)
{
	struct smtp_cmd cmd;
	enum smtp_cmd_err e;
	enum conn_step step;
	bool after_auth;

	if (line == NULL) {
		/* RFC 5321 §4.5.3.1.4: 500 for a line over the limit. */
		s->cmdline = NULL;
		return smtp_session_refuse(s, 500, ESC_SYNTAX, "Line too long");
	}
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
			step = CONN_DONE;
		} else
			step = smtp_auth_response(s, line, resp_len);
		explicit_bzero(line, linelen);
		s->cmdline = NULL;
		return step;
	}
	/* RFC 5321 §2.3.8: a bare LF does not end a command. */
	if (line_check(line, &linelen, 0) != LINE_OK) {
		step = smtp_session_refuse(s, 500, ESC_SYNTAX,
		    "Bare LF in command; lines must end with CRLF");
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
	if (e == SMTP_CMD_E_BAD_CHAR)
		step = smtp_session_refuse(s, 500, ESC_SYNTAX, "Bad character (NUL, CR or LF) in command");
	else if (e != SMTP_CMD_OK)
		step = smtp_session_refuse(s, 500, ESC_INVALID_CMD, "Command unrecognized");
	else
		step = dispatch(s, &cmd);
out:
	if (s->after_auth || after_auth)
		explicit_bzero(line, linelen);
	s->cmdline = NULL;
	return step;
}

static enum conn_step
session_line(void *ctx, char *line, size_t len)
{
	struct smtp_session *s = ctx;
	enum conn_step step = command_line(s, line, len);

	smtp_session_flush(s);
	return step;
}

static enum conn_step
session_raw(void *ctx, const char *p, size_t n, size_t *used_r)
{
	struct smtp_session *s = ctx;
	enum conn_step step = s->state == S_BDAT ? smtp_tx_feed_bdat(s, p, n, used_r) :
	    smtp_tx_feed_data(s, p, n, used_r);

	smtp_session_flush(s);
	return step;
}

/* A timer of the conn: the idle timeout or a deadline. */
static enum conn_step
session_timer(void *ctx, enum conn_timer which)
{
	struct smtp_session *s = ctx;
	bool data = which == CONN_TIMER_DATA;

	s->cmdline = NULL;
	if (which == CONN_TIMER_IDLE) {
		/* RFC 5321 §4.5.3.2: the client went quiet. */
		s->close_reason = "idle timeout";
		smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: timeout exceeded", s->cfg->hostname);
	} else {
		s->close_reason = data ? "data deadline" : "session deadline";
		smtp_session_reply(s, 421, ESC_TIMEOUT, "%s Error: %s exceeded", s->cfg->hostname,
		    data ? "message time limit" : "session time limit");
	}
	smtp_session_flush(s);
	return CONN_CLOSE;
}

/* A new connection: the session and its greeting. */
static void *
session_start(struct conn *c, const struct listener_conf *lc, bool lmtp)
{
	struct smtp_server_env *env = lc->env;
	const struct config *cfg = env->cfg;
	struct smtp_session *s;

	/* Settings do not change under a session: a reload's apply to the
	 * sessions that start after it. */
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("smtp: out of memory accepting a connection");
		return NULL;
	}
	s->conn = c;
	s->id = conn_id(c);
	s->env = env;
	s->cfg = config_ref(cfg);
	s->auth_required = lc->auth_required;
	s->lmtp = lmtp;
	s->state = S_CONNECTED;
	maillog_connect(s->id, conn_ip(c), conn_port(c), lc->service);
	smtp_session_idle_timeout(s);
	conn_set_line_max(c, cfg->max_command_length);
	if (cfg->session_deadline)
		conn_set_deadline(c, CONN_TIMER_SESSION, cfg->session_deadline);
	smtp_session_reply(s, 220, "", "%s %s tern", cfg->hostname, lmtp ? "LMTP" : "ESMTP");
	smtp_session_flush(s);
	smtp_session_start_checks(s);
	return s;
}

static void *
session_greet(struct conn *c, const struct listener_conf *lc)
{
	return session_start(c, lc, false);
}

static void *
session_greet_lmtp(struct conn *c, const struct listener_conf *lc)
{
	return session_start(c, lc, true);
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
	.line = session_line,
	.raw = session_raw,
	.tls_ready = NULL,
	.timer = session_timer,
	.closed = session_closed,
	.busy = session_busy,
};

/* LMTP is SMTP's session with LHLO and a reply per recipient: the same
 * code, another greeting. */
const struct conn_proto lmtp_server_proto = {
	.name = "lmtp",
	.greet = session_greet_lmtp,
	.line = session_line,
	.raw = session_raw,
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
