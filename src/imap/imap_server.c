/*
 * imap_server: the IMAP session on the loop (see imap_session.h).
 *
 * States (RFC 9051 §3): not authenticated until LOGIN or AUTHENTICATE
 * succeeds and the user's Maildir is open, then authenticated, and
 * selected while a folder is. Reading a command: a line, and when it
 * ends in a literal "{n}" (after "+ " for a synchronizing one) n raw
 * octets and the next line, until a line ends without one
 * (proto/imap_cmd: imap_cmd_literal, then imap_cmd_parse on the whole).
 * A literal over the limits is refused before its octets come when the
 * client waits for "+ " ([TOOBIG]), and read and dropped when it does
 * not, so the session goes on either way.
 *
 * What needs the disk runs on the I/O pool (imap_job.c); the rest --
 * CAPABILITY, logging in, STARTTLS, ENABLE, ID, NAMESPACE, IDLE, LOGOUT
 * -- here.
 */
#include "imap_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/authsvc.h"
#include "../common/log.h"
#include "../config/config.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../mailbox/watch.h"
#include "../maillog/maillog.h"
#include "../net/listener.h"
#include "../proto/line.h"
#include "../route/directory.h"
#include "imap_session.h"

struct imap_session *
imap_session_find(uint64_t id)
{
	return conn_ctx(conn_find(id), &imap_server_proto);
}

void
imap_flush(struct imap_session *s)
{
	if (s->out.len) {
		conn_write(s->conn, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

/* A tagged answer: tag is the command's (NUL-terminated). */
static void
tagged(struct imap_session *s, const char *tag, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
tagged(struct imap_session *s, const char *tag, const char *status, const char *fmt, ...)
{
	va_list ap;

	buf_printf(&s->out, "%s %s ", tag, status);
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_append(&s->out, "\r\n", 2);
}

/* A BAD counts; too many end the session. */
static enum conn_step
bad(struct imap_session *s, const char *tag, const char *text)
{
	tagged(s, tag, "BAD", "%s", text);
	if (++s->errors < (unsigned)s->cfg->max_errors)
		return CONN_DONE;
	buf_append_str(&s->out, "* BYE Too many invalid commands\r\n");
	s->close_reason = "too many errors";
	return CONN_CLOSE;
}

static bool
password_ok(const struct imap_session *s)
{
	return conn_password_ok(s->conn, s->cfg->auth_cleartext_loopback);
}

/* ------------------------------------------------------ capabilities -- */

static void
put_capabilities(struct imap_session *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE");
	if (s->state == I_NOT_AUTH) {
		if (conn_tls_possible(s->conn) && !conn_tls(s->conn))
			buf_append_str(out, " STARTTLS");
		if (password_ok(s))
			buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN");
		else
			buf_append_str(out, " LOGINDISABLED");
		return;
	}
	buf_printf(out, " UIDPLUS MOVE UNSELECT CHILDREN NAMESPACE CONDSTORE QRESYNC"
	    " SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE UTF8=ACCEPT"
	    " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE ESEARCH SEARCHRES"
	    " SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT"
	    " MULTIAPPEND BINARY COMPRESS=DEFLATE APPENDLIMIT=%llu",
	    (unsigned long long)s->cfg->max_message_size);
}

/* ---------------------------------------------------- per-user limit -- */

/* Sessions open per login, on this process (loop thread only). */
struct user_count {
	char login[SASL_USER_MAX + 1];
	unsigned n;
	struct user_count *next;
};
static struct user_count *user_counts;

static bool
user_count_take(const char *login, unsigned max)
{
	struct user_count *u;

	for (u = user_counts; u; u = u->next) {
		if (strcmp(u->login, login) == 0) {
			if (u->n >= max)
				return false;
			u->n++;
			return true;
		}
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return false;
	str_copy(u->login, sizeof(u->login), login);
	u->n = 1;
	u->next = user_counts;
	user_counts = u;
	return true;
}

static void
user_count_drop(const char *login)
{
	struct user_count **pp, *u;

	for (pp = &user_counts; (u = *pp) != NULL; pp = &u->next) {
		if (strcmp(u->login, login) == 0) {
			if (--u->n == 0) {
				*pp = u->next;
				free(u);
			}
			return;
		}
	}
}

/* -------------------------------------------------------- logging in -- */

static enum conn_step
logged_in(struct imap_session *s, const char *user)
{
	struct imap_box *b;

	if (!user_count_take(user, (unsigned)s->cfg->imap_max_user_sessions)) {
		log_info("event=imap-user-limit sid=%llu user=%s", (unsigned long long)s->id, user);
		tagged(s, s->sasl_tag, "NO", "[LIMIT] Too many sessions for this user");
		return CONN_DONE;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    maildir_path(s->env->mailroot, user, b->root, sizeof(b->root)) == -1) {
		free(b);
		user_count_drop(user);
		tagged(s, s->sasl_tag, "NO", "[UNAVAILABLE] Cannot open the mailbox");
		return CONN_DONE;
	}
	s->counted = true;
	b->env = s->env;
	b->max_message_size = s->cfg->max_message_size;
	str_copy(b->user, sizeof(b->user), user);
	str_copy(s->login, sizeof(s->login), user);
	if (s->env->dir)
		(void)directory_quota(s->env->dir, user, &b->quota.bytes, &b->quota.messages);
	s->box = b;
	return imap_job_start(s, s->sasl_tag, NULL, NULL, imap_cmd_open, U_NONE);
}

static enum conn_step
verdict(struct imap_session *s, enum authsvc_verdict v, const char *user)
{
	switch (v) {
	case AUTHSVC_OK:
		return logged_in(s, user);
	case AUTHSVC_FAILED: {
		struct buf u = BUF_INIT;

		/* The name is the client's: escaped, or it could forge lines. */
		log_append_value(&u, user, strlen(user));
		log_info("event=imap-auth-failed sid=%llu client=%s user=%s",
		    (unsigned long long)s->id, conn_ip(s->conn), buf_cstr(&u));
		buf_release(&u);
		tagged(s, s->sasl_tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
		if (++s->errors >= (unsigned)s->cfg->max_errors) {
			s->close_reason = "too many errors";
			return CONN_CLOSE;
		}
		return CONN_DONE;
	}
	case AUTHSVC_NETWORK_LOCKED:
		buf_append_str(&s->out, "* BYE Too many failed logins from your address\r\n");
		tagged(s, s->sasl_tag, "NO", "[AUTHENTICATIONFAILED] Too many failed logins");
		s->close_reason = "auth locked";
		return CONN_CLOSE;
	case AUTHSVC_TEMPFAIL:
		tagged(s, s->sasl_tag, "NO", "[UNAVAILABLE] Temporary authentication failure");
		return CONN_DONE;
	case AUTHSVC_PENDING:
		return CONN_PENDING;
	}
	return CONN_DONE;
}

static void
auth_done(uint64_t sid, enum authsvc_verdict v, const char *user)
{
	struct imap_session *s = imap_session_find(sid);
	enum conn_step step;

	if (s == NULL)
		return;
	step = verdict(s, v, user);
	imap_flush(s);
	if (step != CONN_PENDING)
		conn_resume(s->conn, step);
}

static enum conn_step
check_login(struct imap_session *s, const char *user, const char *pass)
{
	struct authsvc_peer peer = {
		.family = conn_family(s->conn),
		.addr = conn_addr(s->conn),
		.ip = conn_ip(s->conn),
	};

	return verdict(s, authsvc_check(s->env->auth, &peer, user, pass, auth_done, s->id), user);
}

static enum conn_step
sasl_next(struct imap_session *s, enum sasl_result r)
{
	enum conn_step step = CONN_DONE;

	s->in_sasl = false;
	switch (r) {
	case SASL_CHALLENGE:
		s->in_sasl = true;
		buf_printf(&s->out, "+ %s\r\n", s->sasl.challenge);
		return CONN_DONE;
	case SASL_DONE:
		step = check_login(s, s->sasl.user, s->sasl.pass);
		break;
	case SASL_CANCELLED:
		step = bad(s, s->sasl_tag, "Authentication cancelled");
		break;
	case SASL_BAD:
	case SASL_MALFORMED:
		step = bad(s, s->sasl_tag, "Invalid authentication response");
		break;
	case SASL_UNKNOWN_MECH:
		tagged(s, s->sasl_tag, "NO", "Unsupported authentication mechanism");
		break;
	}
	sasl_server_clear(&s->sasl);
	return step;
}

/* ----------------------------------------------------- jobs and boxes -- */

static void
on_folder_change(uint64_t cookie)
{
	struct imap_session *s = imap_session_find(cookie);

	if (s == NULL || !s->idling)
		return;
	if (s->lent) {
		s->wake_pending = true;
		return;
	}
	(void)imap_job_start(s, NULL, NULL, NULL, imap_cmd_noop, U_ALL);
}

void
imap_session_box_back(struct imap_session *s, struct imap_job *j)
{
	s->lent = false;
	if (j->fn == imap_cmd_open && j->status && strcmp(j->status, "OK") == 0) {
		s->state = I_AUTH;
		conn_set_timeout(s->conn, IMAP_IDLE_TIMEOUT);
		buf_reset(&j->status_text);
		buf_append_str(&j->status_text, "[CAPABILITY ");
		put_capabilities(s, &j->status_text);
		buf_append_str(&j->status_text, "] Logged in");
		log_info("event=imap-login sid=%llu client=%s user=%s tls=%s",
		    (unsigned long long)s->id, conn_ip(s->conn), s->login,
		    conn_tls(s->conn) ? "yes" : "no");
	}
	if (j->want_select || j->want_unselect)
		mbox_watch_remove(&s->watch);
	if (j->want_select) {
		s->state = I_SELECTED;
		s->watch = mbox_watch_add(s->box->dir, on_folder_change, s->id);
	} else if (j->want_unselect)
		s->state = I_AUTH;
}

static enum conn_step end_idle(struct imap_session *s);

void
imap_session_job_end(struct imap_session *s, struct imap_job *j)
{
	bool wake = j->tag[0] == '\0';
	bool close = j->close;
	bool opened = j->fn == imap_cmd_open;
	bool failed = j->status && strcmp(j->status, "OK") != 0;

	imap_job_free(j);
	if (opened && failed) {
		user_count_drop(s->login);
		s->counted = false;
		s->login[0] = '\0';
		imap_box_free(s->box);
		s->box = NULL;
	}
	if (close) {
		imap_flush(s);
		if (!wake)
			conn_resume(s->conn, CONN_CLOSE);
		return;
	}
	if (s->idle_done) {
		/* DONE came while a wake-up ran: the command is still pending. */
		s->idle_done = false;
		imap_flush(s);
		if (end_idle(s) != CONN_PENDING) {
			imap_flush(s);
			conn_resume(s->conn, CONN_DONE);
		}
		return;
	}
	if (s->wake_pending && s->idling) {
		s->wake_pending = false;
		imap_flush(s);
		(void)imap_job_start(s, NULL, NULL, NULL, imap_cmd_noop, U_ALL);
		if (!wake)
			conn_resume(s->conn, CONN_DONE);
		return;
	}
	imap_flush(s);
	if (!wake)
		conn_resume(s->conn, CONN_DONE);
}

/* ----------------------------------------------------------- commands -- */

static enum conn_step
cmd_enable(struct imap_session *s, const char *tag, const struct imap_cmd *c)
{
	struct imap_box *b = s->box;
	struct buf on = BUF_INIT;
	size_t k, i;

	for (k = 0, i = c->first; k < c->nargs; k++, i = c->nodes[i].next) {
		const struct imap_str *a = &c->nodes[i].s;
		bool *flag = NULL;
		const char *name = NULL;

		if (c->nodes[i].type != IMAP_NODE_ATOM)
			continue;
		if (a->len == 9 && strncasecmp(a->p, "IMAP4rev2", 9) == 0)
			flag = &b->rev2, name = "IMAP4rev2";
		else if (a->len == 9 && strncasecmp(a->p, "CONDSTORE", 9) == 0)
			flag = &b->condstore, name = "CONDSTORE";
		else if (a->len == 7 && strncasecmp(a->p, "QRESYNC", 7) == 0)
			flag = &b->qresync, name = "QRESYNC";
		else if (a->len == 11 && strncasecmp(a->p, "UTF8=ACCEPT", 11) == 0)
			flag = &b->utf8, name = "UTF8=ACCEPT";
		if (flag == NULL || *flag)
			continue;
		*flag = true;
		buf_printf(&on, " %s", name);
		/* RFC 7162 §3.2.3: QRESYNC implies CONDSTORE. */
		if (flag == &b->qresync && !b->condstore) {
			b->condstore = true;
			buf_append_str(&on, " CONDSTORE");
		}
	}
	buf_printf(&s->out, "* ENABLED%s\r\n", buf_cstr(&on));
	buf_release(&on);
	tagged(s, tag, "OK", "Enabled");
	return CONN_DONE;
}

static enum conn_step
cmd_id(struct imap_session *s, const char *tag)
{
	/* RFC 2971: what the client sent is only for its log. */
	buf_append_str(&s->out, "* ID (\"name\" \"tern\" \"vendor\" \"tern\")\r\n");
	tagged(s, tag, "OK", "ID completed");
	return CONN_DONE;
}

static enum conn_step
cmd_starttls(struct imap_session *s, const char *tag)
{
	struct buf ready = BUF_INIT;
	enum conn_starttls r;

	if (!conn_tls_possible(s->conn) || conn_tls(s->conn))
		return bad(s, tag, conn_tls(s->conn) ? "TLS is already active" : "STARTTLS is not available");
	buf_printf(&ready, "%s OK Begin TLS negotiation now\r\n", tag);
	imap_flush(s);
	r = conn_starttls(s->conn, &s->out, ready.data, ready.len);
	buf_release(&ready);
	if (r == CONN_STARTTLS_UNAVAILABLE) {
		tagged(s, tag, "NO", "[UNAVAILABLE] TLS is not available now");
		return CONN_DONE;
	}
	return r == CONN_STARTTLS_BROKEN ? CONN_CLOSE : CONN_DONE;
}

/* COMPRESS DEFLATE (RFC 4978): the OK goes out as it is, and everything
 * after it is compressed both ways (net/conn). */
static enum conn_step
cmd_compress(struct imap_session *s, const char *tag, const struct imap_cmd *c)
{
	if (conn_compressed(s->conn)) {
		tagged(s, tag, "NO", "[COMPRESSIONACTIVE] DEFLATE is active already");
		return CONN_DONE;
	}
	if (c->arg1.len != 7 || strncasecmp(c->arg1.p, "DEFLATE", 7) != 0) {
		tagged(s, tag, "NO", "Unknown compression mechanism");
		return CONN_DONE;
	}
	tagged(s, tag, "OK", "DEFLATE active");
	imap_flush(s);
	if (conn_compress_start(s->conn) == -1) {
		/* The client has the OK and compresses: no way back. */
		s->close_reason = "out of memory";
		return CONN_CLOSE;
	}
	return CONN_DONE;
}

static enum conn_step
cmd_idle(struct imap_session *s, const char *tag)
{
	str_copy(s->idle_tag, sizeof(s->idle_tag), tag);
	s->idling = true;
	buf_append_str(&s->out, "+ idling\r\n");
	/* What changed before the IDLE is told at once. */
	if (s->state == I_SELECTED) {
		imap_flush(s);
		(void)imap_job_start(s, NULL, NULL, NULL, imap_cmd_noop, U_ALL);
	}
	return CONN_DONE;
}

static enum conn_step
end_idle(struct imap_session *s)
{
	char tag[IMAP_TAG_MAX + 1];

	s->idling = false;
	s->wake_pending = false;
	str_copy(tag, sizeof(tag), s->idle_tag);
	if (s->state == I_SELECTED)
		return imap_job_start(s, tag, NULL, NULL, imap_cmd_idle_done, U_ALL);
	tagged(s, tag, "OK", "IDLE terminated");
	return CONN_DONE;
}

/* A command that runs on the pool: fn, and its updates. */
static enum conn_step
to_pool(struct imap_session *s, const char *tag, struct imap_cmd *c, imap_exec_fn fn,
    enum imap_updates updates)
{
	return imap_job_start(s, tag, &s->cmd, c, fn, updates);
}

static enum conn_step
dispatch(struct imap_session *s, const char *tag, struct imap_cmd *c)
{
	bool authed = s->state != I_NOT_AUTH;
	bool selected = s->state == I_SELECTED;
	/* FETCH, STORE, SEARCH and COPY answer from the folder as last
	 * synced (a STORE updates it in place) and leave the sync, and what
	 * others changed, to the next NOOP, IDLE, CHECK, EXPUNGE or APPEND
	 * (RFC 9051 §5.2 lets a server choose when): a sync after a change
	 * rescans the directory, and a client storing flags one message at a
	 * time would pay that each time. */
	enum imap_updates by_seq = U_NONE;

	switch (c->verb) {
	case IMAP_CMD_CAPABILITY:
		buf_append_str(&s->out, "* CAPABILITY ");
		put_capabilities(s, &s->out);
		buf_append_str(&s->out, "\r\n");
		tagged(s, tag, "OK", "Capability completed");
		return CONN_DONE;
	case IMAP_CMD_LOGOUT:
		buf_append_str(&s->out, "* BYE Logging out\r\n");
		tagged(s, tag, "OK", "Logout completed");
		s->close_reason = "logout";
		/* The client may log in again before this conn is freed. */
		if (s->counted) {
			user_count_drop(s->login);
			s->counted = false;
		}
		return CONN_CLOSE;
	case IMAP_CMD_ID:
		return cmd_id(s, tag);
	case IMAP_CMD_NOOP:
		if (selected)
			return to_pool(s, tag, c, imap_cmd_noop, U_ALL);
		tagged(s, tag, "OK", "NOOP completed");
		return CONN_DONE;
	case IMAP_CMD_STARTTLS:
		if (authed)
			return bad(s, tag, "Already logged in");
		return cmd_starttls(s, tag);
	case IMAP_CMD_LOGIN: {
		char user[SASL_USER_MAX + 1], pass[SASL_PASS_MAX + 1];
		enum conn_step step;

		if (authed)
			return bad(s, tag, "Already logged in");
		if (!password_ok(s)) {
			buf_append_str(&s->out, "* BAD [ALERT] Plaintext authentication is not allowed without TLS\r\n");
			tagged(s, tag, "NO", "[PRIVACYREQUIRED] Plaintext authentication is not allowed without TLS");
			return CONN_DONE;
		}
		if (c->arg1.len > SASL_USER_MAX || c->arg2.len > SASL_PASS_MAX ||
		    memchr(c->arg1.p, '\0', c->arg1.len) || memchr(c->arg2.p, '\0', c->arg2.len)) {
			tagged(s, tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
			return CONN_DONE;
		}
		str_copyn(user, sizeof(user), c->arg1.p, c->arg1.len);
		str_copyn(pass, sizeof(pass), c->arg2.p, c->arg2.len);
		str_copy(s->sasl_tag, sizeof(s->sasl_tag), tag);
		step = check_login(s, user, pass);
		explicit_bzero(pass, sizeof(pass));
		return step;
	}
	case IMAP_CMD_AUTHENTICATE:
		if (authed)
			return bad(s, tag, "Already logged in");
		if (!password_ok(s)) {
			tagged(s, tag, "NO", "[PRIVACYREQUIRED] Authentication is not allowed without TLS");
			return CONN_DONE;
		}
		str_copy(s->sasl_tag, sizeof(s->sasl_tag), tag);
		return sasl_next(s, sasl_server_start(&s->sasl, c->arg1.p, c->arg1.len,
		    c->arg2.p, c->arg2.len));
	default:
		break;
	}
	if (!authed)
		return bad(s, tag, "Log in first");
	switch (c->verb) {
	case IMAP_CMD_ENABLE:
		return cmd_enable(s, tag, c);
	case IMAP_CMD_IDLE:
		return cmd_idle(s, tag);
	case IMAP_CMD_COMPRESS:
		return cmd_compress(s, tag, c);
	case IMAP_CMD_NAMESPACE:
		buf_append_str(&s->out, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
		tagged(s, tag, "OK", "Namespace completed");
		return CONN_DONE;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		return to_pool(s, tag, c, imap_cmd_select, U_NONE);
	case IMAP_CMD_CREATE:
		return to_pool(s, tag, c, imap_cmd_create, U_ALL);
	case IMAP_CMD_DELETE:
		return to_pool(s, tag, c, imap_cmd_delete, U_ALL);
	case IMAP_CMD_RENAME:
		return to_pool(s, tag, c, imap_cmd_rename, U_ALL);
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		return to_pool(s, tag, c, imap_cmd_subscribe, U_ALL);
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		return to_pool(s, tag, c, imap_cmd_list, U_ALL);
	case IMAP_CMD_STATUS:
		return to_pool(s, tag, c, imap_cmd_status, U_ALL);
	case IMAP_CMD_APPEND:
		return to_pool(s, tag, c, imap_cmd_append, U_ALL);
	case IMAP_CMD_GETQUOTA:
	case IMAP_CMD_GETQUOTAROOT:
	case IMAP_CMD_SETQUOTA:
		return to_pool(s, tag, c, imap_cmd_quota, U_ALL);
	default:
		break;
	}
	if (!selected)
		return bad(s, tag, "No mailbox selected");
	switch (c->verb) {
	case IMAP_CMD_CHECK:
		return to_pool(s, tag, c, imap_cmd_noop, U_ALL);
	case IMAP_CMD_CLOSE:
	case IMAP_CMD_UNSELECT:
		return to_pool(s, tag, c, imap_cmd_close, U_NONE);
	case IMAP_CMD_EXPUNGE:
		return to_pool(s, tag, c, imap_cmd_expunge, U_ALL);
	case IMAP_CMD_FETCH:
		return to_pool(s, tag, c, imap_cmd_fetch, by_seq);
	case IMAP_CMD_STORE:
		return to_pool(s, tag, c, imap_cmd_store, by_seq);
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		return to_pool(s, tag, c, imap_cmd_copy, c->verb == IMAP_CMD_MOVE ? U_ALL : by_seq);
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		return to_pool(s, tag, c, imap_cmd_search, by_seq);
	default:
		return bad(s, tag, "Command not supported");
	}
}

static const char *
parse_error_text(enum imap_cmd_err e)
{
	switch (e) {
	case IMAP_CMD_E_UNKNOWN:   return "Unknown command";
	case IMAP_CMD_E_BAD_CHAR:  return "Invalid characters in command";
	case IMAP_CMD_E_8BIT:      return "8-bit octets are not allowed here";
	case IMAP_CMD_E_DEPTH:     return "Lists are nested too deeply";
	case IMAP_CMD_E_SEQSET:    return "Invalid sequence set";
	case IMAP_CMD_E_NUMBER:    return "Number out of range";
	case IMAP_CMD_E_TOO_MANY:  return "Too many arguments";
	case IMAP_CMD_E_TOO_LONG:  return "[TOOBIG] Command too long";
	case IMAP_CMD_E_LITERAL_TOO_BIG: return "[TOOBIG] Literal too big";
	case IMAP_CMD_E_MAILBOX:   return "Invalid mailbox name";
	default:                   return "Invalid arguments";
	}
}

static void
limits(const struct imap_session *s, struct imap_cmd_limits *lim)
{
	imap_cmd_limits_default(lim);
	lim->max_literal = s->cfg->max_message_size;
	/* A command is held whole in memory: one message's worth (a
	 * MULTIAPPEND's messages together) and its lines, no more. */
	lim->max_command = lim->max_literal + 65536;
	lim->utf8 = s->box && s->box->utf8;
}

/* The tag of the command in s->cmd, NUL-terminated into tag ("*" when it
 * has none). */
static void
cmd_tag(const struct imap_session *s, char *tag, size_t tagsize)
{
	const char *t;
	size_t n;

	if (s->cmd.len && imap_cmd_tag(s->cmd.data, s->cmd.len, &t, &n) && n < tagsize)
		str_copyn(tag, tagsize, t, n);
	else
		str_copy(tag, tagsize, "*");
}

/* The whole command is in s->cmd. */
static enum conn_step
command(struct imap_session *s)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	enum imap_cmd_err e;
	char tag[IMAP_TAG_MAX + 1];
	enum conn_step step;

	s->ncmds++;
	cmd_tag(s, tag, sizeof(tag));
	if (s->skip != IMAP_CMD_OK) {
		e = s->skip;
		s->skip = IMAP_CMD_OK;
		buf_reset(&s->cmd);
		if (imap_cmd_err_is_no(e)) {
			tagged(s, tag, "NO", "%s", parse_error_text(e));
			return CONN_DONE;
		}
		return bad(s, tag, parse_error_text(e));
	}
	limits(s, &lim);
	e = imap_cmd_parse(s->cmd.data, s->cmd.len, &lim, &c);
	if (e == IMAP_CMD_OK && c.tag.len > IMAP_TAG_MAX)
		e = IMAP_CMD_E_TOO_LONG;
	if (e != IMAP_CMD_OK) {
		imap_cmd_free(&c);
		buf_wipe(&s->cmd);
		if (e == IMAP_CMD_E_NO_TAG)
			return bad(s, "*", "Error in IMAP command: no tag");
		if (imap_cmd_err_is_no(e)) {
			tagged(s, tag, "NO", "%s", parse_error_text(e));
			return CONN_DONE;
		}
		return bad(s, tag, parse_error_text(e));
	}
	str_copyn(tag, sizeof(tag), c.tag.p, c.tag.len);
	step = dispatch(s, tag, &c);
	/* A job took the command (and s->cmd) when it went to the pool. */
	imap_cmd_free(&c);
	buf_wipe(&s->cmd);
	return step;
}

static enum conn_step
sasl_line(struct imap_session *s, char *line, size_t len)
{
	enum conn_step step;
	size_t n = len;

	if (line == NULL) {
		s->in_sasl = false;
		sasl_server_clear(&s->sasl);
		return bad(s, s->sasl_tag, "Authentication response too long");
	}
	/* A SASL response: never logged, wiped after use. */
	if (line_check(line, &n, LINE_REJECT_NUL) != LINE_OK) {
		s->in_sasl = false;
		sasl_server_clear(&s->sasl);
		step = bad(s, s->sasl_tag, "Invalid authentication response");
	} else
		step = sasl_next(s, sasl_server_step(&s->sasl, line, n));
	explicit_bzero(line, len);
	return step;
}

static enum conn_step
idle_line(struct imap_session *s, char *line, size_t len)
{
	if (line && len && line[len - 1] == '\r')
		len--;
	if (line == NULL || !imap_cmd_is_done(line, len)) {
		/* RFC 2177: only DONE ends an IDLE; anything else is an error
		 * that ends it too. */
		s->idling = false;
		return bad(s, s->idle_tag, "Expected DONE");
	}
	if (s->lent) {
		/* A wake-up is on the pool: finish after it. */
		s->idle_done = true;
		return CONN_PENDING;
	}
	return end_idle(s);
}

static enum conn_step
command_line(struct imap_session *s, char *line, size_t len)
{
	struct imap_cmd_limits lim;
	struct imap_literal lit;
	enum imap_cmd_err e;
	size_t so_far = s->cmd.len;

	if (s->in_sasl)
		return sasl_line(s, line, len);
	if (s->idling)
		return idle_line(s, line, len);
	if (line == NULL) {
		char tag[IMAP_TAG_MAX + 1];

		/* The command's tag: from its first line, which may be this
		 * one (its start is kept by the conn). */
		if (s->cmd.len == 0) {
			size_t n;
			const char *p = conn_long_line(s->conn, &n);

			buf_append(&s->cmd, p, n);
		}
		cmd_tag(s, tag, sizeof(tag));
		buf_wipe(&s->cmd);
		s->skip = IMAP_CMD_OK;
		return bad(s, tag, "[TOOBIG] Line too long");
	}
	if (len && line[len - 1] == '\r')
		len--;
	limits(s, &lim);
	e = imap_cmd_literal(line, len, so_far, &lim, &lit);
	if (s->skip == IMAP_CMD_OK && e == IMAP_CMD_OK)
		buf_append(&s->cmd, line, len);
	else if (s->skip == IMAP_CMD_OK) {
		/* The tag is in what came so far, or in this line. */
		if (so_far == 0)
			buf_append(&s->cmd, line, len);
		s->skip = e;
	}
	if (!lit.present)
		return command(s);
	if (s->skip != IMAP_CMD_OK && lit.sync) {
		/* The client waits for "+ ": it sends nothing more of this
		 * command when refused. */
		return command(s);
	}
	if (s->skip == IMAP_CMD_OK)
		buf_append(&s->cmd, "\r\n", 2);
	if (lit.sync)
		buf_append_str(&s->out, "+ OK\r\n");
	if (lit.size > 0)
		conn_raw_count(s->conn, lit.size);
	return CONN_DONE;
}

static enum conn_step
session_line(void *ctx, char *line, size_t len)
{
	struct imap_session *s = ctx;
	enum conn_step step = command_line(s, line, len);

	if (step != CONN_PENDING || s->out.len)
		imap_flush(s);
	return step;
}

static enum conn_step
session_raw(void *ctx, const char *p, size_t n, size_t *used_r)
{
	struct imap_session *s = ctx;

	*used_r = n;
	if (n && s->skip == IMAP_CMD_OK && buf_append(&s->cmd, p, n) == -1) {
		buf_wipe(&s->cmd);
		s->skip = IMAP_CMD_E_TOO_LONG;
	}
	return CONN_DONE;
}

static enum conn_step
session_writable(void *ctx)
{
	struct imap_session *s = ctx;

	return imap_job_writable(s);
}

static enum conn_step
session_timer(void *ctx, enum conn_timer which)
{
	struct imap_session *s = ctx;

	s->close_reason = which == CONN_TIMER_IDLE ? "idle timeout" : "session deadline";
	buf_append_str(&s->out, "* BYE Disconnected for inactivity\r\n");
	imap_flush(s);
	return CONN_CLOSE;
}

static void
session_closed(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;

	log_info("event=disconnect sid=%llu client=%s service=imap user=%s commands=%u reason=\"%s\"",
	    (unsigned long long)s->id, conn_ip(s->conn), s->login[0] ? s->login : "-",
	    s->ncmds, reason ? reason : s->close_reason ? s->close_reason : "closed");
	mbox_watch_remove(&s->watch);
	if (s->counted)
		user_count_drop(s->login);
	if (s->next_piece)
		imap_job_abandon(s);
	else if (!s->lent)
		imap_box_free(s->box);
	/* else a job on the pool has the box and frees it when it ends. */
	sasl_server_clear(&s->sasl);
	buf_wipe(&s->cmd);
	buf_release(&s->out);
	config_unref(s->cfg);
	free(s);
}

static void *
session_greet(struct conn *c, const struct listener_conf *lc)
{
	const struct imap_server_env *env = lc->env;
	struct imap_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conn = c;
	s->id = conn_id(c);
	s->env = env;
	s->cfg = config_ref(env->cfg);
	s->state = I_NOT_AUTH;
	maillog_connect(s->id, conn_ip(c), conn_port(c), lc->service);
	conn_set_timeout(c, IMAP_PREAUTH_TIMEOUT);
	conn_set_line_max(c, IMAP_LINE_MAX);
	buf_append_str(&s->out, "* OK [CAPABILITY ");
	put_capabilities(s, &s->out);
	buf_printf(&s->out, "] %s IMAP ready\r\n", s->cfg->hostname);
	imap_flush(s);
	return s;
}

static int
session_busy(const struct listener_conf *lc, bool per_ip, char *out, size_t outsize)
{
	(void)lc;
	return snprintf(out, outsize, "* BYE [UNAVAILABLE] Too many connections%s\r\n",
	    per_ip ? " from your address" : "");
}

static void
session_tls_ready(void *ctx)
{
	(void)ctx;
}

const struct conn_proto imap_server_proto = {
	.name = "imap",
	.greet = session_greet,
	.line = session_line,
	.raw = session_raw,
	.tls_ready = session_tls_ready,
	.writable = session_writable,
	.timer = session_timer,
	.closed = session_closed,
	.busy = session_busy,
};
