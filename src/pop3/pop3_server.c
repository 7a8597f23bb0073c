/*
 * pop3_server: the POP3 session (see pop3_server.h).
 *
 * States (RFC 1939 §3): AUTHORIZATION until a login succeeds and the
 * maildrop is open, then TRANSACTION; QUIT there is the UPDATE state,
 * which applies the deletions in one step (mailbox/store.c journals them)
 * and only then says +OK. A session that ends any other way deletes
 * nothing.
 *
 * Everything that touches the disk is a job on the I/O pool
 * (pop3_drop.c): opening the maildrop, each piece of a RETR/TOP, and the
 * UPDATE. A job
 * owns the maildrop while it runs (the session's pointer is NULL) and
 * gives it back by connection id: a client gone meanwhile is harmless,
 * and a QUIT's deletions happen whether or not the client waits for the
 * +OK. While a job runs the handler has returned CONN_PENDING, so
 * pipelined commands (RFC 2449 PIPELINING) wait their turn.
 */
#include "pop3_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../auth/authsvc.h"
#include "../common/buf.h"
#include "../config/config.h"
#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../maillog/maillog.h"
#include "../net/conn.h"
#include "../net/listener.h"
#include "../proto/line.h"
#include "../proto/maildir_name.h"
#include "../proto/pop3_cmd.h"
#include "../proto/pop3_out.h"
#include "../proto/sasl.h"

#include "pop3_session.h"

struct pop3_session *
pop3_session_find(uint64_t id)
{
	return conn_ctx(conn_find(id), &pop3_server_proto);
}

/* ------------------------------------------------------------ replies -- */

void
pop3_flush(struct pop3_session *s)
{
	if (s->out.len) {
		conn_write(s->conn, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
}

enum conn_step
pop3_refuse(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_append_str(&s->out, "-ERR ");
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
	if (++s->errors < (unsigned)s->cfg->max_errors)
		return CONN_DONE;
	pop3_reply(s, "-ERR Too many bad commands");
	s->close_reason = "too many errors";
	return CONN_CLOSE;
}

static bool
auth_allowed(const struct pop3_session *s)
{
	return conn_password_ok(s->conn, s->cfg->auth_cleartext_loopback);
}

/* ----------------------------------------------------------- logging in -- */

static enum conn_step
verdict(struct pop3_session *s, enum authsvc_verdict v, const char *user)
{
	switch (v) {
	case AUTHSVC_OK:
		return pop3_drop_open(s, user);
	case AUTHSVC_FAILED:
		return pop3_refuse(s, "[AUTH] Authentication failed");
	case AUTHSVC_NETWORK_LOCKED:
		pop3_reply(s, "-ERR [AUTH] Too many failed logins from your address");
		s->close_reason = "auth locked";
		return CONN_CLOSE;
	case AUTHSVC_TEMPFAIL:
		pop3_reply(s, "-ERR [SYS/TEMP] Temporary authentication failure");
		return CONN_DONE;
	case AUTHSVC_PENDING:
		return CONN_PENDING;
	}
	return CONN_DONE;
}

static void
auth_done(uint64_t sid, enum authsvc_verdict v, const char *user)
{
	struct pop3_session *s = pop3_session_find(sid);
	enum conn_step step;

	if (s == NULL)
		return;
	step = verdict(s, v, user);
	pop3_flush(s);
	if (step != CONN_PENDING)
		conn_resume(s->conn, step);
}

static enum conn_step
check_login(struct pop3_session *s, const char *user, const char *pass)
{
	struct authsvc_peer peer = {
		.family = conn_family(s->conn),
		.addr = conn_addr(s->conn),
		.ip = conn_ip(s->conn),
	};

	return verdict(s, authsvc_check(s->env->auth, &peer, user, pass, auth_done, s->id), user);
}

static enum conn_step
sasl_next(struct pop3_session *s, enum sasl_result r)
{
	enum conn_step step = CONN_DONE;

	s->in_sasl = false;
	switch (r) {
	case SASL_CHALLENGE:
		s->in_sasl = true;
		pop3_reply(s, "+ %s", s->sasl.challenge);
		return CONN_DONE;
	case SASL_DONE:
		step = check_login(s, s->sasl.user, s->sasl.pass);
		break;
	case SASL_CANCELLED:
		pop3_reply(s, "-ERR Authentication cancelled");
		break;
	case SASL_BAD:
	case SASL_MALFORMED:
		step = pop3_refuse(s, "[AUTH] Invalid authentication response");
		break;
	case SASL_UNKNOWN_MECH:
		step = pop3_refuse(s, "Unsupported authentication mechanism");
		break;
	}
	sasl_server_clear(&s->sasl);
	return step;
}

/* ------------------------------------------------------------ commands -- */

/* Message n (1-based) that is there and not deleted, or -1 with the -ERR. */
static long
msg_index(struct pop3_session *s, uint32_t n)
{
	if (n == 0 || n > s->mb->n) {
		pop3_reply(s, "-ERR There is no message %u", n);
		return -1;
	}
	if (s->deleted[n - 1]) {
		pop3_reply(s, "-ERR Message %u is deleted", n);
		return -1;
	}
	return (long)n - 1;
}

static void
uidl_line(struct pop3_session *s, size_t i, bool multi)
{
	const struct mbox_msg *m = &s->mb->msgs[i];

	/* A UIDL kept from a migration, else Dovecot's default
	 * pop3_uidl_format, %08Xu%08Xv, as Dovecot writes it: its %X is
	 * lower-case hex (2.3.19: "000000016b0e5044"). Clients compare
	 * UIDLs as strings, so a switch between the two servers must not
	 * change a letter's case. */
	if (m->pop3_uidl)
		buf_printf(&s->out, "%s%zu %s\r\n", multi ? "" : "+OK ", i + 1, m->pop3_uidl);
	else
		buf_printf(&s->out, "%s%zu %08x%08x\r\n", multi ? "" : "+OK ", i + 1,
		    (unsigned)m->uid, (unsigned)s->mb->uidvalidity);
}

static enum conn_step
cmd_capa(struct pop3_session *s)
{
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "CAPA");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	if (s->state == P_AUTHORIZATION && conn_tls_possible(s->conn) && !conn_tls(s->conn))
		pop3_reply(s, "STLS");
	if (s->state == P_AUTHORIZATION && auth_allowed(s)) {
		pop3_reply(s, "USER");
		pop3_reply(s, "SASL PLAIN LOGIN");
	}
	pop3_reply(s, "UTF8");
	pop3_reply(s, "IMPLEMENTATION tern");
	pop3_reply(s, ".");
	return CONN_DONE;
}

static enum conn_step
cmd_stls(struct pop3_session *s)
{
	struct buf ready = BUF_INIT;
	enum conn_starttls r;

	if (conn_tls(s->conn))
		return pop3_refuse(s, "TLS already active");
	if (!conn_tls_possible(s->conn))
		return pop3_refuse(s, "STLS not available");
	buf_append_str(&ready, "+OK Begin TLS negotiation now\r\n");
	pop3_flush(s);
	r = conn_starttls(s->conn, &s->out, ready.data, ready.len);
	buf_release(&ready);
	if (r == CONN_STARTTLS_UNAVAILABLE) {
		pop3_reply(s, "-ERR [SYS/TEMP] TLS not available now");
		return CONN_DONE;
	}
	if (r == CONN_STARTTLS_BROKEN)
		return CONN_CLOSE;
	/* RFC 2595 §4: nothing learned before TLS counts after it. */
	s->user_given = false;
	s->user[0] = '\0';
	return CONN_DONE;
}

static enum conn_step
authorization(struct pop3_session *s, const struct pop3_cmd *c)
{
	switch (c->verb) {
	case POP3_CMD_CAPA:
		return cmd_capa(s);
	case POP3_CMD_QUIT:
		pop3_reply(s, "+OK Bye");
		return CONN_CLOSE;
	case POP3_CMD_NOOP:
		pop3_reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_STLS:
		return cmd_stls(s);
	case POP3_CMD_UTF8:
		/* RFC 6856 §2: user names and passwords may be UTF-8 now. */
		s->utf8 = true;
		pop3_reply(s, "+OK UTF8 enabled");
		return CONN_DONE;
	case POP3_CMD_USER:
		if (!auth_allowed(s))
			return pop3_refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		if (c->arglen > SASL_USER_MAX)
			return pop3_refuse(s, "User name too long");
		str_copyn(s->user, sizeof(s->user), c->arg, c->arglen);
		s->user_given = true;
		pop3_reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_PASS: {
		char pass[SASL_PASS_MAX + 1];
		enum conn_step step;

		if (!auth_allowed(s))
			return pop3_refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		if (!s->user_given)
			return pop3_refuse(s, "No USER given");
		s->user_given = false;
		if (c->arglen > SASL_PASS_MAX)
			return pop3_refuse(s, "[AUTH] Authentication failed");
		str_copyn(pass, sizeof(pass), c->arg, c->arglen);
		step = check_login(s, s->user, pass);
		explicit_bzero(pass, sizeof(pass));
		return step;
	}
	case POP3_CMD_AUTH:
		if (c->arg == NULL) {
			/* RFC 1734's listing, which clients still probe with. */
			pop3_reply(s, "+OK");
			if (auth_allowed(s)) {
				pop3_reply(s, "PLAIN");
				pop3_reply(s, "LOGIN");
			}
			pop3_reply(s, ".");
			return CONN_DONE;
		}
		if (!auth_allowed(s))
			return pop3_refuse(s, "[AUTH] Plaintext authentication disallowed on non-secure connections");
		return sasl_next(s, sasl_server_start(&s->sasl, c->arg, c->arglen, c->arg2, c->arg2len));
	default:
		return pop3_refuse(s, "Not allowed before a login");
	}
}

static enum conn_step
transaction(struct pop3_session *s, const struct pop3_cmd *c)
{
	uint64_t total = 0;
	size_t i, n = 0;
	long k;

	switch (c->verb) {
	case POP3_CMD_CAPA:
		return cmd_capa(s);
	case POP3_CMD_NOOP:
		pop3_reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_QUIT:
		return pop3_drop_update(s);
	case POP3_CMD_STAT:
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i]) {
				n++;
				total += s->wire[i];
			}
		}
		pop3_reply(s, "+OK %zu %llu", n, (unsigned long long)total);
		return CONN_DONE;
	case POP3_CMD_LIST:
		if (c->has_msg) {
			if ((k = msg_index(s, c->msg)) < 0)
				return CONN_DONE;
			pop3_reply(s, "+OK %ld %llu", k + 1, (unsigned long long)s->wire[k]);
			return CONN_DONE;
		}
		pop3_reply(s, "+OK %zu messages", s->mb->n - s->ndeleted);
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i])
				buf_printf(&s->out, "%zu %llu\r\n", i + 1, (unsigned long long)s->wire[i]);
		}
		pop3_reply(s, ".");
		return CONN_DONE;
	case POP3_CMD_UIDL:
		if (c->has_msg) {
			if ((k = msg_index(s, c->msg)) >= 0)
				uidl_line(s, (size_t)k, false);
			return CONN_DONE;
		}
		pop3_reply(s, "+OK");
		for (i = 0; i < s->mb->n; i++) {
			if (!s->deleted[i])
				uidl_line(s, i, true);
		}
		pop3_reply(s, ".");
		return CONN_DONE;
	case POP3_CMD_DELE:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		s->deleted[k] = true;
		s->ndeleted++;
		pop3_reply(s, "+OK Marked to be deleted");
		return CONN_DONE;
	case POP3_CMD_RSET:
		memset(s->deleted, 0, s->mb->n * sizeof(bool));
		s->ndeleted = 0;
		pop3_reply(s, "+OK");
		return CONN_DONE;
	case POP3_CMD_RETR:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		return pop3_drop_retr(s, (size_t)k, false, 0);
	case POP3_CMD_TOP:
		if ((k = msg_index(s, c->msg)) < 0)
			return CONN_DONE;
		return pop3_drop_retr(s, (size_t)k, true, c->top_lines);
	default:
		return pop3_refuse(s, "Not allowed after login");
	}
}

/* ---------------------------------------------------------------- input -- */

static enum conn_step
command_line(struct pop3_session *s, char *line, size_t len)
{
	struct pop3_cmd_limits lim = { .max_line = POP3_LINE_MAX, .max_arg = SASL_USER_MAX };
	struct pop3_cmd c;
	enum pop3_cmd_err e;

	if (line == NULL)
		return pop3_refuse(s, "Line too long");
	s->ncmds++;
	if (s->in_sasl) {
		size_t n = len;
		enum conn_step step;

		/* A SASL response: never logged, wiped after use. */
		if (line_check(line, &n, LINE_REJECT_NUL) != LINE_OK) {
			s->in_sasl = false;
			sasl_server_clear(&s->sasl);
			step = pop3_refuse(s, "[AUTH] Invalid authentication response");
		} else
			step = sasl_next(s, sasl_server_step(&s->sasl, line, n));
		explicit_bzero(line, len);
		return step;
	}
	/* Bare LF ends a line too: POP3 clients are not held to CRLF as
	 * SMTP's are, there is nothing to smuggle into. */
	if (len && line[len - 1] == '\r')
		len--;
	e = pop3_cmd_parse(line, len, &lim, &c);
	if (c.verb == POP3_CMD_PASS || c.verb == POP3_CMD_AUTH) {
		enum conn_step step;

		if (e != POP3_CMD_OK)
			step = pop3_refuse(s, "Syntax error");
		else if (s->state != P_AUTHORIZATION)
			step = pop3_refuse(s, "Already logged in");
		else
			step = authorization(s, &c);
		explicit_bzero(line, len);
		return step;
	}
	switch (e) {
	case POP3_CMD_OK:
		break;
	case POP3_CMD_E_UNKNOWN:
		return pop3_refuse(s, "Unknown command");
	case POP3_CMD_E_NUMBER:
		return pop3_refuse(s, "Invalid message number");
	case POP3_CMD_E_TOO_LONG:
		return pop3_refuse(s, "Argument too long");
	case POP3_CMD_E_BAD_CHAR:
		return pop3_refuse(s, "Bad character in command");
	default:
		return pop3_refuse(s, "Syntax error");
	}
	if (c.verb == POP3_CMD_APOP || c.verb == POP3_CMD_LANG)
		return pop3_refuse(s, "Unknown command");
	return s->state == P_AUTHORIZATION ? authorization(s, &c) : transaction(s, &c);
}

static enum conn_step
session_line(void *ctx, char *line, size_t len)
{
	struct pop3_session *s = ctx;
	enum conn_step step = command_line(s, line, len);

	pop3_flush(s);
	return step;
}

static enum conn_step
session_timer(void *ctx, enum conn_timer which)
{
	struct pop3_session *s = ctx;

	(void)which;
	/* RFC 1939 §3: an autologout ends the session without UPDATE. */
	s->close_reason = which == CONN_TIMER_IDLE ? "idle timeout" : "session deadline";
	pop3_reply(s, "-ERR Disconnected for inactivity");
	pop3_flush(s);
	return CONN_CLOSE;
}

static void
session_closed(void *ctx, const char *reason)
{
	struct pop3_session *s = ctx;

	log_info("event=disconnect sid=%llu client=%s service=pop3 user=%s commands=%u reason=\"%s\"",
	    (unsigned long long)s->id, conn_ip(s->conn), s->login[0] ? s->login : "-",
	    s->ncmds, reason ? reason : s->close_reason ? s->close_reason : "quit");
	if (s->drop_locked)
		pop3_drop_release(s->login);
	pop3_drop_close(s);
	free(s->wire);
	free(s->deleted);
	free(s->retrieved);
	sasl_server_clear(&s->sasl);
	buf_release(&s->out);
	config_unref(s->cfg);
	free(s);
}

static void *
session_greet(struct conn *c, const struct listener_conf *lc)
{
	struct pop3_server_env *env = lc->env;
	struct pop3_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conn = c;
	s->id = conn_id(c);
	s->env = env;
	s->cfg = config_ref(env->cfg);
	s->state = P_AUTHORIZATION;
	maillog_connect(s->id, conn_ip(c), conn_port(c), lc->service);
	conn_set_timeout(c, POP3_IDLE_TIMEOUT);
	conn_set_line_max(c, POP3_LINE_MAX);
	pop3_reply(s, "+OK %s POP3 ready", s->cfg->hostname);
	pop3_flush(s);
	return s;
}

static int
session_busy(const struct listener_conf *lc, bool per_ip, char *out, size_t outsize)
{
	(void)lc;
	return snprintf(out, outsize, "-ERR [SYS/TEMP] Too many connections%s\r\n",
	    per_ip ? " from your address" : "");
}

const struct conn_proto pop3_server_proto = {
	.name = "pop3",
	.greet = session_greet,
	.line = session_line,
	.raw = NULL,
	.tls_ready = NULL,
	.writable = pop3_drop_writable,
	.timer = session_timer,
	.closed = session_closed,
	.busy = session_busy,
};
