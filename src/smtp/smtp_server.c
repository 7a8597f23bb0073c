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

/* Buffered message octets are written to the queue file in pieces of this. */
#define FLUSH_AT (64 * 1024)

enum smtp_state {
	S_CONNECTED,   /* greeting sent; no HELO/EHLO yet */
	S_READY,       /* HELO/EHLO done, no transaction */
	S_MAIL,        /* MAIL accepted */
	S_RCPT,        /* at least one RCPT accepted */
	S_DATA,        /* reading the DATA body */
	S_BDAT,        /* reading a BDAT chunk */
	S_COMMIT,      /* end of message: waiting for the queue */
	S_CLOSING,     /* final reply queued; freed once it is written */
	S_AUTH,        /* AUTH: the next line is a SASL response */
	S_AUTHWAIT,    /* AUTH: checking the password, or delaying a refusal */
};

static const char *const state_names[] = {
	"CONNECTED", "READY", "MAIL", "RCPT", "DATA", "BDAT", "COMMIT", "CLOSING",
	"AUTH", "AUTHWAIT",
};

/* One mail transaction: MAIL .. end of data. RSET frees it. */
struct smtp_tx {
	struct smtp_mail_params mp;
	struct envelope env;         /* until the queue takes it at DATA/BDAT */
	size_t rcpts_given;          /* accepted RCPT commands */
	struct queue_tx *qtx;        /* the queue file once DATA/BDAT began */
	struct smtp_data data;
	struct buf chunk;            /* message octets not yet written */
	uint64_t size;               /* octets received so far */
	bool too_big;
	bool chunking;               /* BDAT used: DATA is no longer allowed */
	struct buf bdat_error;       /* set: the transaction failed; this reply */
	struct hdr_scan hs;          /* Received count for loop detection */
	bool submission;             /* authenticated: add Date/Message-ID */
	const char *hostname;
	char sender[SMTP_PATH_MAX + 8];  /* copies for the log after the */
	size_t nrcpt;                    /* envelope moved to the queue */
};

struct smtp_session {
	uint64_t id;
	struct smtp_server_env *env;
	struct bufferevent *bev;
	enum smtp_state state;
	enum listener_kind kind;
	char ip[INET6_ADDRSTRLEN];
	int port;
	int family;                  /* of the client address, for relay checks */
	unsigned char addr[16];
	char helo[256];
	bool esmtp;
	bool tls;                    /* the connection is encrypted */
	char tls_info[96];           /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	bool skip_line;              /* discarding the rest of a too-long line */
	uint64_t bdat_left;          /* chunk octets still to read */
	bool bdat_last;
	enum smtp_state bdat_return; /* state after the chunk */
	struct buf bdat_reply;       /* set: discard the chunk, then send this */
	unsigned errors, ncmds, nmsgs;
	struct smtp_tx *tx;
	struct buf out;              /* reply being built */
	const char *cmdline;         /* current command, for reject logs */
	size_t cmdlen;
	struct smtp_session *hnext;  /* registry chain */
	struct event *linger;        /* closing: wait for TLS's socket buffer */
	int linger_ticks;

	/* SMTP AUTH (RFC 4954) */
	bool authed;
	char auth_user[SMTP_PATH_MAX + 1];
	int auth_step;               /* AUTH_STEP_* while in S_AUTH */
	enum smtp_state auth_return; /* state to go back to */
	struct event *auth_timer;    /* delays a refusal */
	struct buf auth_delayed;     /* the refusal to give when it fires */
};

enum { AUTH_STEP_PLAIN = 1, AUTH_STEP_LOGIN_USER, AUTH_STEP_LOGIN_PASS };

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

/* A count within a time window, for AUTH failures and sending rates. */
struct counter {
	char key[SMTP_PATH_MAX + 8];
	unsigned n;
	time_t since;
	struct counter *next;
};

struct ip_count {
	char ip[INET6_ADDRSTRLEN];
	int n;
	struct ip_count *next;
};

static struct {
	struct smtp_session *by_id[REG_BUCKETS];
	struct ip_count *by_ip[REG_BUCKETS];
	uint64_t next_id;
	unsigned nsessions;
	struct buf line;             /* the command being handled */
	struct counter *fails;       /* failed AUTH per "ip:..." and "user:..." */
	struct counter *rates;       /* messages per user in the current hour */
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

static struct smtp_session *
session_find(uint64_t id)
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

static void process_input(struct smtp_session *s);
static void finish_close(struct smtp_session *s);
static bool auth_allowed(const struct smtp_session *s);

static void
enter_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state != st)
		log_debug("sid=%llu state %s -> %s", (unsigned long long)s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
flush_out(struct smtp_session *s)
{
	if (s->out.len) {
		bufferevent_write(s->bev, s->out.data, s->out.len);
		buf_reset(&s->out);
	}
}

/* The one way a session replies; refusals are logged with the command. */
static void reply(struct smtp_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
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

static void
tx_free(struct smtp_tx **txp)
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
	ip_release(s->ip);
	reg.nsessions--;
	tx_free(&s->tx);
	buf_release(&s->out);
	buf_release(&s->bdat_reply);
	if (s->linger)
		event_free(s->linger);
	if (s->auth_timer)
		event_free(s->auth_timer);
	buf_release(&s->auth_delayed);
	bufferevent_free(s->bev);
	free(s);
}

/* Queues a final reply and ends the session once it is written. */
static void
close_after_reply(struct smtp_session *s)
{
	enter_state(s, S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
}

static void
count_error(struct smtp_session *s)
{
	if (++s->errors >= (unsigned)s->env->cfg->max_errors) {
		reply(s, 421, ESC_POLICY_TEMP, "%s Error: too many errors",
		    s->env->cfg->hostname);
		close_after_reply(s);
	}
}

static const char *
proto_name(const struct smtp_session *s, const struct smtp_tx *tx)
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

static bool
in_transaction(const struct smtp_session *s)
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
		reply(s, 501, ESC_BAD_ARGS, "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		count_error(s);
		return;
	}
	/* Kept for the Received header: printable, without comment syntax. */
	for (i = 0; i < len && i < sizeof(s->helo) - 1; i++) {
		unsigned char c = (unsigned char)arg[i];

		s->helo[i] = (c < 33 || c > 126 || c == '(' || c == ')' || c == '\\') ? '?' : (char)c;
	}
	s->helo[i] = '\0';
	s->esmtp = esmtp;
	tx_free(&s->tx);
	enter_state(s, S_READY);
	if (!esmtp) {
		reply(s, 250, ESC_OK, "%s", cfg->hostname);
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
		if (auth_allowed(s) && !s->authed)
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

static void
path_error(struct smtp_session *s, enum smtp_addr_err e, bool sender)
{
	const char *esc = sender ? ESC_BAD_SENDER_SYNTAX : ESC_BAD_DEST_SYNTAX;

	switch (e) {
	case SMTP_ADDR_NEED_UTF8:
		reply(s, 553, ESC_UTF8_REQUIRED, "Non-ASCII address requires SMTPUTF8");
		break;
	case SMTP_ADDR_LOCAL_LONG:
	case SMTP_ADDR_DOMAIN_LONG:
	case SMTP_ADDR_PATH_LONG:
		reply(s, 553, esc, "Address rejected: %s", smtp_addr_strerror(e));
		break;
	default:
		reply(s, 501, esc, "Bad %s address syntax", sender ? "sender" : "recipient");
		break;
	}
	count_error(s);
}

static void
cmd_error(struct smtp_session *s, enum smtp_cmd_err e, enum smtp_addr_err pe,
    bool sender, const char *usage)
{
	switch (e) {
	case SMTP_CMD_E_PATH:
		path_error(s, pe, sender);
		return;
	case SMTP_CMD_E_PARAM_UNKNOWN:
		reply(s, 555, ESC_BAD_ARGS, "Unsupported parameter");
		break;
	case SMTP_CMD_E_PARAM_SYNTAX:
		reply(s, 501, ESC_BAD_ARGS, "Bad parameter syntax");
		break;
	default:
		reply(s, 501, ESC_BAD_ARGS, "Syntax: %s", usage);
		break;
	}
	count_error(s);
}

/* ------------------------------------------------------------- AUTH ---- */

#define AUTH_WINDOW 900    /* failures are remembered 15 minutes */

/* The counter for key in list, reset when older than window; NULL on ENOMEM. */
static struct counter *
counter_get(struct counter **list, const char *key, time_t window)
{
	time_t now = time(NULL);
	struct counter **pp = list, *c;

	while ((c = *pp) != NULL) {
		if (now - c->since >= window) {
			*pp = c->next;   /* expired: forget it */
			free(c);
			continue;
		}
		if (strcmp(c->key, key) == 0)
			return c;
		pp = &c->next;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	str_copy(c->key, sizeof(c->key), key);
	c->since = now;
	c->next = *list;
	*list = c;
	return c;
}

static bool
is_loopback(const struct smtp_session *s)
{
	static const unsigned char v6lo[16] = { [15] = 1 };

	return (s->family == AF_INET && s->addr[0] == 127) ||
	    (s->family == AF_INET6 && memcmp(s->addr, v6lo, 16) == 0);
}

/* RFC 4954 §4: no passwords in the clear (except loopback, if allowed). */
static bool
auth_allowed(const struct smtp_session *s)
{
	return s->tls || (s->env->cfg->auth_cleartext_loopback && is_loopback(s));
}

/*
 * RFC 6409 §6.1: the envelope sender must belong to the login: the login
 * itself, its +tag forms, or an alias that delivers to it.
 */
static bool
sender_owned(const struct smtp_session *s, const struct smtp_path *from)
{
	struct route_list rl = { 0 };
	char local[SMTP_LOCAL_MAX + 1];
	bool owned = false;
	size_t i;

	if (smtp_addr_unquote_local(from->local, local, sizeof(local)) == -1)
		return false;
	if (router_expand(s->env->cfg, s->env->dir, local, from->domain, &rl) == ROUTE_OK) {
		for (i = 0; i < rl.n && !owned; i++)
			owned = rl.dests[i].local && str_ieq(rl.dests[i].address, s->auth_user);
	}
	route_list_clear(&rl);
	return owned;
}

/* Every address in the one From: field must belong to the login. */
static bool
from_owned(const struct smtp_session *s, const struct hdr_scan *hs)
{
	char addr[SMTP_PATH_MAX + 1];
	size_t pos = 0;
	bool any = false;

	if (hs->nfrom != 1)
		return false;
	while (rfc5322_next_address(hs->from, hs->from_len, &pos, addr, sizeof(addr))) {
		struct smtp_path p;

		any = true;
		if (smtp_addr_parse_mailbox(addr, strlen(addr), true, &p) != SMTP_ADDR_OK ||
		    !sender_owned(s, &p))
			return false;
	}
	return any;
}

/* Per-user messages per hour (submission_rate_limit; 0 = no limit). */
static bool
rate_allow(struct smtp_session *s)
{
	unsigned limit = (unsigned)s->env->cfg->submission_rate_limit;
	struct counter *c;

	if (limit == 0 || (c = counter_get(&reg.rates, s->auth_user, 3600)) == NULL)
		return true;
	if (c->n >= limit) {
		log_info("sid=%llu event=rate-limited user=%s client=%s limit=%u/h",
		    (unsigned long long)s->id, s->auth_user, s->ip, limit);
		return false;
	}
	c->n++;
	return true;
}

struct auth_job {
	uint64_t sid;
	char user[SMTP_PATH_MAX + 1];
	char pass[512];
	char *stored;
	bool ok;
};

static void
auth_job_work(void *arg)
{
	struct auth_job *j = arg;

	j->ok = j->stored != NULL && auth_verify(j->stored, j->pass);
	explicit_bzero(j->pass, sizeof(j->pass));
}

static void
on_auth_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	buf_append(&s->out, s->auth_delayed.data, s->auth_delayed.len);
	buf_reset(&s->auth_delayed);
	enter_state(s, s->auth_return);
	process_input(s);
	if (s->state == S_CLOSING)
		finish_close(s);
}

static void
auth_job_done(void *arg)
{
	struct auth_job *j = arg;
	struct smtp_session *s = session_find(j->sid);
	struct counter *ipc, *uc;
	char key[SMTP_PATH_MAX + 16];
	struct timeval tv = { 0, 0 };
	unsigned max;

	free(j->stored);
	if (s == NULL) {
		free(j);
		return;
	}
	max = (unsigned)s->env->cfg->auth_max_failures;
	snprintf(key, sizeof(key), "ip:%s", s->ip);
	ipc = counter_get(&reg.fails, key, AUTH_WINDOW);
	snprintf(key, sizeof(key), "user:%s", j->user);
	uc = counter_get(&reg.fails, key, AUTH_WINDOW);
	s->cmdline = "AUTH";
	s->cmdlen = 4;
	if (j->ok && !(uc && uc->n >= max)) {
		s->authed = true;
		str_copy(s->auth_user, sizeof(s->auth_user), j->user);
		log_info("sid=%llu event=auth client=%s user=%s", (unsigned long long)s->id,
		    s->ip, j->user);
		reply(s, 235, "2.7.0", "Authentication successful");
		enter_state(s, s->auth_return);
		free(j);
		s->cmdline = NULL;
		process_input(s);
		return;
	}
	/* fail2ban: "event=auth-failed client=IP user=NAME" */
	log_info("sid=%llu event=auth-failed client=%s user=%s%s", (unsigned long long)s->id,
	    s->ip, j->user, (uc && uc->n >= max) ? " reason=account-locked" : "");
	if (ipc)
		ipc->n++;
	if (uc)
		uc->n++;
	free(j);
	if (ipc && ipc->n >= max) {
		reply(s, 421, ESC_POLICY_TEMP, "%s Too many failed logins from your address",
		    s->env->cfg->hostname);
		close_after_reply(s);
		s->cmdline = NULL;
		flush_out(s);
		return;
	}
	/* The delay grows with each failure from this address. */
	tv.tv_sec = ipc ? (ipc->n < 8 ? ipc->n : 8) : 1;
	buf_reset(&s->auth_delayed);
	smtp_reply_format(&s->auth_delayed, 535, "5.7.8", "Authentication credentials invalid");
	maillog_reject(s->id, s->ip, "AUTH", 4, "535 5.7.8 Authentication credentials invalid");
	s->cmdline = NULL;
	if (s->auth_timer == NULL &&
	    (s->auth_timer = evtimer_new(s->env->base, on_auth_delay, s)) == NULL) {
		on_auth_delay(-1, 0, s);
		return;
	}
	evtimer_add(s->auth_timer, &tv);
}

/* Hands user and password to the pool; the reply comes from auth_job_done. */
static void
auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	struct auth_job *j = calloc(1, sizeof(*j));
	const char *stored;
	char lower[SMTP_PATH_MAX + 1];

	enter_state(s, S_AUTHWAIT);
	if (j == NULL || str_copy(j->user, sizeof(j->user), user) == -1 ||
	    str_copy(j->pass, sizeof(j->pass), pass) == -1) {
		free(j);
		reply(s, 454, "4.7.0", "Temporary authentication failure");
		enter_state(s, s->auth_return);
		return;
	}
	str_copy(lower, sizeof(lower), user);
	str_lower(lower);
	str_copy(j->user, sizeof(j->user), lower);
	j->sid = s->id;
	stored = directory_password(s->env->dir, lower);
	j->stored = stored ? str_dup(stored) : NULL;
	if (iopool_submit(s->env->pool, auth_job_work, auth_job_done, j) == -1) {
		explicit_bzero(j->pass, sizeof(j->pass));
		free(j->stored);
		free(j);
		reply(s, 454, "4.7.0", "Temporary authentication failure");
		enter_state(s, s->auth_return);
	}
}

/* A decoded PLAIN message, or the LOGIN password. */
static void
auth_plain_message(struct smtp_session *s, const char *b64, size_t len)
{
	struct buf msg = BUF_INIT;
	char user[SMTP_PATH_MAX + 1], pass[512];

	if (sasl_base64_decode(b64, len, &msg) == -1) {
		reply(s, 501, "5.5.2", "Cannot decode response");
		enter_state(s, s->auth_return);
	} else if (sasl_plain_split(msg.data ? msg.data : "", msg.len, user, sizeof(user),
	    pass, sizeof(pass)) == -1) {
		reply(s, 501, "5.5.2", "Malformed PLAIN response");
		enter_state(s, s->auth_return);
	} else
		auth_check(s, user, pass);
	if (msg.data)
		explicit_bzero(msg.data, msg.cap);
	buf_release(&msg);
	explicit_bzero(pass, sizeof(pass));
}

/* A line read in S_AUTH: the client's answer to our 334. */
static void
auth_response(struct smtp_session *s, const char *line, size_t len)
{
	struct buf dec = BUF_INIT;

	if (len == 1 && line[0] == '*') {
		reply(s, 501, "5.0.0", "Authentication cancelled");
		enter_state(s, s->auth_return);
		return;
	}
	switch (s->auth_step) {
	case AUTH_STEP_PLAIN:
		auth_plain_message(s, line, len);
		return;
	case AUTH_STEP_LOGIN_USER:
		if (sasl_base64_decode(line, len, &dec) == -1 || dec.len == 0 ||
		    dec.len > SMTP_PATH_MAX || memchr(dec.data, '\0', dec.len)) {
			reply(s, 501, "5.5.2", "Cannot decode response");
			enter_state(s, s->auth_return);
			break;
		}
		str_copy(s->auth_user, sizeof(s->auth_user), dec.data);
		s->auth_step = AUTH_STEP_LOGIN_PASS;
		reply(s, 334, "", "UGFzc3dvcmQ6");   /* "Password:" */
		break;
	case AUTH_STEP_LOGIN_PASS:
		if (sasl_base64_decode(line, len, &dec) == -1 ||
		    memchr(dec.data ? dec.data : "", '\0', dec.len)) {
			reply(s, 501, "5.5.2", "Cannot decode response");
			enter_state(s, s->auth_return);
			s->auth_user[0] = '\0';
			break;
		}
		{
			char user[SMTP_PATH_MAX + 1];

			str_copy(user, sizeof(user), s->auth_user);
			s->auth_user[0] = '\0';
			auth_check(s, user, dec.data ? dec.data : "");
		}
		break;
	}
	if (dec.data)
		explicit_bzero(dec.data, dec.cap);
	buf_release(&dec);
}

static void
cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	size_t mlen = 0;

	s->cmdline = "AUTH (arguments not logged)";
	s->cmdlen = strlen(s->cmdline);
	if (!s->esmtp) {
		reply(s, 503, ESC_INVALID_CMD, "Send EHLO first");
		count_error(s);
		return;
	}
	if (s->authed) {
		reply(s, 503, ESC_INVALID_CMD, "Already authenticated");
		count_error(s);
		return;
	}
	if (in_transaction(s)) {
		reply(s, 503, ESC_INVALID_CMD, "AUTH not allowed during a mail transaction");
		count_error(s);
		return;
	}
	if (!auth_allowed(s)) {
		reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		count_error(s);
		return;
	}
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	s->auth_return = s->state;
	if (str_ieqn(arg, mlen, "PLAIN")) {
		if (mlen < len) {
			/* Initial response (RFC 4954 §4); "=" means empty. */
			auth_plain_message(s, arg + mlen + 1, len - mlen - 1);
			return;
		}
		s->auth_step = AUTH_STEP_PLAIN;
		enter_state(s, S_AUTH);
		reply(s, 334, "", " ");
	} else if (str_ieqn(arg, mlen, "LOGIN")) {
		struct buf dec = BUF_INIT;

		if (mlen < len) {
			if (sasl_base64_decode(arg + mlen + 1, len - mlen - 1, &dec) == -1 ||
			    dec.len == 0 || dec.len > SMTP_PATH_MAX || memchr(dec.data, '\0', dec.len)) {
				buf_release(&dec);
				reply(s, 501, "5.5.2", "Cannot decode response");
				return;
			}
			str_copy(s->auth_user, sizeof(s->auth_user), dec.data);
			buf_release(&dec);
			s->auth_step = AUTH_STEP_LOGIN_PASS;
			enter_state(s, S_AUTH);
			reply(s, 334, "", "UGFzc3dvcmQ6");
			return;
		}
		s->auth_step = AUTH_STEP_LOGIN_USER;
		enter_state(s, S_AUTH);
		reply(s, 334, "", "VXNlcm5hbWU6");   /* "Username:" */
	} else {
		reply(s, 504, "5.5.4", "Unrecognized authentication type");
		count_error(s);
	}
}

static void
cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_mail_params mp;
	struct smtp_path from;
	enum smtp_addr_err pe;
	enum smtp_cmd_err e;
	struct smtp_tx *tx;
	char sender[SMTP_PATH_MAX + 8];

	if (s->state == S_CONNECTED) {
		reply(s, 503, ESC_INVALID_CMD, "Send HELO/EHLO first");
		count_error(s);
		return;
	}
	if (s->tx) {
		reply(s, 503, ESC_INVALID_CMD, "Nested MAIL command");
		count_error(s);
		return;
	}
	/* RFC 6409 §4.3: submission is for authenticated users only. */
	if (s->kind != LISTEN_SMTP && !s->authed) {
		reply(s, 530, "5.7.0", "Authentication required");
		count_error(s);
		return;
	}
	if ((e = smtp_cmd_parse_mail(arg, len, &from, &mp, &pe)) != SMTP_CMD_OK) {
		cmd_error(s, e, pe, true, "MAIL FROM:<address> [parameters]");
		return;
	}
	if (s->authed && !from.null && !sender_owned(s, &from)) {
		reply(s, 553, ESC_NOT_ALLOWED, "<%s@%s>: Sender address rejected: not owned by user %s",
		    from.local, from.domain, s->auth_user);
		return;
	}
	if (s->authed && !rate_allow(s)) {
		reply(s, 450, "4.7.1", "Sending rate limit exceeded for %s; try again later",
		    s->auth_user);
		return;
	}
	if (!s->esmtp && (mp.has_size || mp.body || mp.smtputf8 || mp.ret ||
	    mp.envid[0] || mp.auth[0])) {
		reply(s, 555, ESC_BAD_ARGS, "Parameters need EHLO");
		count_error(s);
		return;
	}
	if (mp.body == SMTP_BODY_BINARYMIME) {
		reply(s, 555, ESC_BAD_ARGS, "BINARYMIME is not supported");
		count_error(s);
		return;
	}
	/* RFC 1870 §6.2: the declared size is over our fixed limit. */
	if (mp.has_size && mp.size > cfg->max_message_size) {
		reply(s, 552, ESC_MSG_TOO_BIG, "Message size exceeds fixed maximum message size");
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		return;
	}
	tx->mp = mp;
	if (from.null)
		sender[0] = '\0';
	else
		snprintf(sender, sizeof(sender), "%s@%s", from.local, from.domain);
	if (envelope_set(&tx->env.sender, sender) == -1 ||
	    envelope_set(&tx->env.envid, mp.envid) == -1) {
		tx_free(&tx);
		reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		return;
	}
	s->tx = tx;
	enter_state(s, S_MAIL);
	reply(s, 250, ESC_SENDER_OK, "Ok");
}

static void
cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_tx *tx = s->tx;
	struct smtp_rcpt_params rp;
	struct route_list dests = { 0 };
	struct smtp_path to;
	enum smtp_addr_err pe;
	enum smtp_cmd_err e;
	enum route_status rs;
	char local[SMTP_LOCAL_MAX + 1], orig[SMTP_PATH_MAX + 8];
	size_t i, k;

	if (!in_transaction(s)) {
		reply(s, 503, ESC_INVALID_CMD, "Need MAIL before RCPT");
		count_error(s);
		return;
	}
	if (tx->rcpts_given >= cfg->max_recipients ||
	    (s->authed && cfg->submission_max_recipients &&
	    tx->rcpts_given >= cfg->submission_max_recipients)) {
		/* RFC 5321 §4.5.3.1.8: 452, and the client sends the rest later. */
		reply(s, 452, ESC_TOO_MANY_RCPTS, "Too many recipients");
		return;
	}
	if ((e = smtp_cmd_parse_rcpt(arg, len, tx->mp.smtputf8, &to, &rp, &pe)) != SMTP_CMD_OK) {
		cmd_error(s, e, pe, false, "RCPT TO:<address> [parameters]");
		return;
	}
	if (!s->esmtp && (rp.notify || rp.orcpt[0])) {
		reply(s, 555, ESC_BAD_ARGS, "Parameters need EHLO");
		count_error(s);
		return;
	}
	if (smtp_addr_unquote_local(to.local, local, sizeof(local)) == -1) {
		path_error(s, SMTP_ADDR_SYNTAX, false);
		return;
	}
	if (to.domain[0])
		snprintf(orig, sizeof(orig), "%s@%s", to.local, to.domain);
	else
		snprintf(orig, sizeof(orig), "%s", to.local);
	rs = router_expand(cfg, s->env->dir, local, to.domain, &dests);
	switch (rs) {
	case ROUTE_OK:
		break;
	case ROUTE_NOT_LOCAL:
		/* Never an open relay: only trusted networks may send onwards. */
		if (to.domain[0] && (s->authed || config_relay_allowed(cfg, s->family, s->addr))) {
			char dest[SMTP_PATH_MAX + 8];

			snprintf(dest, sizeof(dest), "%s@%s", to.local, to.domain);
			str_lower(strrchr(dest, '@'));
			if (route_list_add(&dests, dest, false) == ROUTE_OK)
				break;
			reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
			goto out;
		}
		reply(s, 550, ESC_NOT_ALLOWED, "<%s>: Relay access denied", orig);
		goto out;
	case ROUTE_UNKNOWN_USER:
		reply(s, 550, ESC_BAD_DEST, "<%s>: Recipient address rejected: User unknown", orig);
		goto out;
	case ROUTE_LOOP:
		reply(s, 550, ESC_LOOP, "<%s>: Alias expansion loops", orig);
		goto out;
	case ROUTE_TOO_MANY:
		reply(s, 452, ESC_TOO_MANY_RCPTS, "<%s>: Alias expands to too many recipients", orig);
		goto out;
	case ROUTE_NOMEM:
		reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		goto out;
	}
	for (i = 0; i < dests.n; i++) {
		for (k = 0; k < tx->env.nrcpts; k++) {
			if (strcmp(tx->env.rcpts[k].addr, dests.dests[i].address) == 0)
				break;
		}
		if (k < tx->env.nrcpts)
			continue;   /* the same mailbox twice gets one copy */
		if (envelope_add_rcpt(&tx->env, dests.dests[i].address, orig,
		    rp.orcpt, rp.notify, dests.dests[i].local) == -1) {
			reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
			goto out;
		}
	}
	tx->rcpts_given++;
	enter_state(s, S_RCPT);
	reply(s, 250, ESC_RCPT_OK, "Ok");
out:
	route_list_clear(&dests);
}

/* Opens the queue file and writes the trace header. On failure err_reply
 * holds the reply to give. */
static bool
tx_open_queue(struct smtp_session *s, struct buf *err_reply)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->env->cfg;
	enum queue_err qe = QUEUE_EIO;
	char date[64], forward[SMTP_PATH_MAX + 16] = "";
	struct tm tm;
	time_t now = time(NULL);

	tx->env.arrival = (int64_t)now;
	tx->env.body = (int)tx->mp.body;
	tx->env.ret = (int)tx->mp.ret;
	tx->env.smtputf8 = tx->mp.smtputf8;
	/* Mail of our own users, from our own domains, leaves signed. */
	{
		const char *at = strrchr(tx->env.sender, '@');

		tx->env.dkim = at && config_dkim_domain(cfg, at + 1) &&
		    (s->authed || config_relay_allowed(cfg, s->family, s->addr));
	}
	str_copy(tx->sender, sizeof(tx->sender), tx->env.sender);
	tx->nrcpt = tx->env.nrcpts;
	/* "for" only with a single recipient: more would disclose Bcc. */
	if (tx->rcpts_given == 1)
		snprintf(forward, sizeof(forward), "\r\n\tfor <%s>", tx->env.rcpts[0].orig);
	if (envelope_set(&tx->env.helo, s->helo) == -1 ||
	    envelope_set(&tx->env.client, s->ip) == -1 ||
	    envelope_set(&tx->env.proto, proto_name(s, tx)) == -1 ||
	    (tx->qtx = queue_tx_begin(s->env->queue, &tx->env, &qe)) == NULL) {
		if (qe == QUEUE_ENOSPC)
			smtp_reply_format(err_reply, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
		else
			smtp_reply_format(err_reply, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
		return false;
	}
	hdr_scan_init(&tx->hs);
	tx->submission = s->authed;
	tx->hostname = cfg->hostname;
	/* RFC 5321 §4.4 trace field. */
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(&tx->chunk, "Received: from %s ([%s])\r\n\tby %s (tern) with %s id %s%s%s%s%s;\r\n\t%s\r\n",
	    s->helo, s->ip, cfg->hostname, proto_name(s, tx), queue_tx_id(tx->qtx),
	    s->tls ? "\r\n\t(" : "", s->tls ? s->tls_info : "", s->tls ? ")" : "",
	    forward, date);
	return true;
}

static void
tx_write(struct smtp_tx *tx, const char *p, size_t n)
{
	if (!tx->too_big && n > 0 && queue_tx_write(tx->qtx, p, n) != QUEUE_OK)
		tx->data.discard = true;   /* keep reading to the end, store nothing */
}

static void
tx_add_headers(struct smtp_tx *tx)
{
	struct buf h = BUF_INIT;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (!tx->hs.has_date) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		buf_printf(&h, "Date: %s\r\n", date);
	}
	if (!tx->hs.has_message_id)
		buf_printf(&h, "Message-ID: <%s@%s>\r\n", queue_tx_id(tx->qtx), tx->hostname);
	tx_write(tx, h.data, h.len);
	buf_release(&h);
}

/* Writes buffered message octets to the queue file. */
static void
tx_flush(struct smtp_tx *tx)
{
	if (tx->chunk.len == 0)
		return;
	if (!tx->hs.done) {
		unsigned long long before = tx->hs.pos;

		hdr_scan_feed(&tx->hs, tx->chunk.data, tx->chunk.len);
		/* RFC 6409 §8.2, §8.3: a submission gets Date and Message-ID
		 * when it lacks them, at the end of its header. */
		if (tx->hs.done && tx->submission &&
		    (!tx->hs.has_date || !tx->hs.has_message_id)) {
			size_t split = (size_t)(tx->hs.end_off - before);

			tx_write(tx, tx->chunk.data, split);
			tx_add_headers(tx);
			tx_write(tx, tx->chunk.data + split, tx->chunk.len - split);
			buf_reset(&tx->chunk);
			return;
		}
	}
	tx_write(tx, tx->chunk.data, tx->chunk.len);
	buf_reset(&tx->chunk);
}

/* Gives a refused transaction's reply, raw, and logs it. */
static void
reply_raw(struct smtp_session *s, const struct buf *r)
{
	buf_append(&s->out, r->data, r->len);
	maillog_reject(s->id, s->ip, s->cmdline ? s->cmdline : "",
	    s->cmdline ? s->cmdlen : 0, buf_cstr(r));
}

static void
restore_idle_timeout(struct smtp_session *s)
{
	struct timeval tv = { s->env->cfg->idle_timeout, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
on_commit(uint64_t cookie, enum queue_err err, const char *id)
{
	struct smtp_session *s = session_find(cookie);
	struct smtp_tx *tx;

	if (s == NULL)
		return;   /* client gone; a committed message is still delivered */
	tx = s->tx;
	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	if (err == QUEUE_OK) {
		s->nmsgs++;
		maillog_queued(id, s->id, s->ip, tx->sender, tx->size, tx->nrcpt,
		    proto_name(s, tx));
		reply(s, 250, ESC_OK, "Ok: queued as %s", id);
	} else if (err == QUEUE_ENOSPC)
		reply(s, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
	else
		reply(s, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
	s->cmdline = NULL;
	tx_free(&s->tx);
	enter_state(s, S_READY);
	restore_idle_timeout(s);
	process_input(s);
}

/* The whole message is in: refuse it, or hand it to the queue. */
static void
end_of_message(struct smtp_session *s)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_tx *tx = s->tx;
	struct queue_tx *qtx;
	enum queue_err qe;

	tx_flush(tx);
	qe = queue_tx_write(tx->qtx, "", 0);
	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	if (tx->too_big)
		reply(s, 552, ESC_MSG_TOO_BIG, "Message size exceeds fixed maximum message size");
	else if (tx->data.bare_eol)
		/* RFC 5321 §2.3.8: lines end with CRLF. Refusing (not repairing)
		 * keeps SMTP smuggling impossible through tern. */
		reply(s, 550, ESC_SYNTAX, "Message contains bare CR or LF; lines must end with CRLF");
	else if (s->authed && cfg->submission_check_from && !from_owned(s, &tx->hs))
		/* RFC 6409 §8: the MSA may check the From: field too. */
		reply(s, 550, ESC_NOT_ALLOWED, "From: header address not owned by user %s",
		    s->auth_user);
	else if (tx->hs.received > cfg->max_received_headers)
		/* RFC 5321 §6.3: too many hops means a loop. */
		reply(s, 554, ESC_LOOP, "Too many Received headers (%zu): mail loop",
		    tx->hs.received);
	else if (tx->data.long_line)
		reply(s, 500, ESC_SYNTAX, "Message contains a line longer than %zu octets",
		    cfg->max_line_length);
	else if (qe == QUEUE_ENOSPC)
		reply(s, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
	else if (qe != QUEUE_OK)
		reply(s, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
	else {
		enter_state(s, S_COMMIT);
		qtx = tx->qtx;
		tx->qtx = NULL;
		s->cmdline = NULL;
		queue_tx_commit(qtx, on_commit, s->id);
		return;
	}
	s->cmdline = NULL;
	tx_free(&s->tx);
	enter_state(s, S_READY);
	restore_idle_timeout(s);
}

/* DATA body: returns true when it made progress that may allow more. */
static bool
feed_data(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct smtp_tx *tx = s->tx;
	struct evbuffer_iovec v;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		size_t used = smtp_data_feed(&tx->data, v.iov_base, v.iov_len, &tx->chunk);

		if (used == (size_t)-1) {
			reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory");
			close_after_reply(s);
			return false;
		}
		evbuffer_drain(in, used);
		if (!tx->too_big && tx->data.size > s->env->cfg->max_message_size) {
			/* RFC 1870 §6.2: read to the end, then 552. */
			tx->too_big = true;
			tx->data.discard = true;
			buf_reset(&tx->chunk);
		}
		if (tx->chunk.len >= FLUSH_AT)
			tx_flush(tx);
		if (tx->data.done) {
			tx->size = tx->data.size;
			end_of_message(s);
			return true;
		}
	}
	return false;
}

/* BDAT chunk octets (RFC 3030): taken as they are, no dot-stuffing. */
static bool
feed_bdat(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct smtp_tx *tx = s->tx;
	bool discard = s->bdat_reply.len > 0;

	while (s->bdat_left > 0) {
		size_t avail = evbuffer_get_length(in), n;

		if (avail == 0)
			return false;
		n = avail < s->bdat_left ? avail : (size_t)s->bdat_left;
		if (discard)
			evbuffer_drain(in, n);
		else {
			if (buf_reserve(&tx->chunk, n) == -1 ||
			    evbuffer_remove(in, tx->chunk.data + tx->chunk.len, n) != (int)n) {
				reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory");
				close_after_reply(s);
				return false;
			}
			tx->chunk.len += n;
			tx->size += n;
			if (tx->chunk.len >= FLUSH_AT)
				tx_flush(tx);
		}
		s->bdat_left -= n;
	}
	s->cmdline = "(end of chunk)";
	s->cmdlen = 14;
	restore_idle_timeout(s);
	if (discard) {
		reply_raw(s, &s->bdat_reply);
		buf_reset(&s->bdat_reply);
		if (s->bdat_last && s->tx) {
			tx_free(&s->tx);
			enter_state(s, S_READY);
		} else
			enter_state(s, s->bdat_return);
	} else if (!s->bdat_last) {
		tx_flush(tx);
		enter_state(s, S_RCPT);
		reply(s, 250, ESC_OK, "%llu octets received", (unsigned long long)tx->size);
	} else {
		end_of_message(s);
	}
	s->cmdline = NULL;
	return true;
}

static void
cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	struct buf err = BUF_INIT;
	struct timeval tv = { s->env->cfg->data_timeout, 0 };

	(void)arg;
	if (len != 0) {
		reply(s, 501, ESC_BAD_ARGS, "Syntax: DATA");
		count_error(s);
		return;
	}
	if (s->state == S_MAIL) {
		reply(s, 554, ESC_INVALID_CMD, "No valid recipients");
		return;
	}
	if (s->state != S_RCPT || s->tx->chunking) {
		reply(s, 503, ESC_INVALID_CMD, "%s", s->state == S_RCPT ?
		    "DATA not allowed after BDAT" : "Need RCPT before DATA");
		count_error(s);
		return;
	}
	if (!tx_open_queue(s, &err)) {
		reply_raw(s, &err);
		buf_release(&err);
		tx_free(&s->tx);
		enter_state(s, S_READY);
		return;
	}
	smtp_data_init(&s->tx->data, s->env->cfg->max_line_length);
	enter_state(s, S_DATA);
	reply(s, 354, "", "End data with <CR><LF>.<CR><LF>");
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
cmd_bdat(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_tx *tx = s->tx;
	uint64_t size;
	bool last;

	if (smtp_cmd_parse_bdat(arg, len, &size, &last) != SMTP_CMD_OK) {
		/* Without a size we cannot find the next command. */
		reply(s, 501, ESC_BAD_ARGS, "Syntax: BDAT size [LAST]");
		close_after_reply(s);
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_return = s->state;
	buf_reset(&s->bdat_reply);
	if (s->state == S_MAIL)
		smtp_reply_format(&s->bdat_reply, 554, ESC_INVALID_CMD, "No valid recipients");
	else if (s->state != S_RCPT)
		smtp_reply_format(&s->bdat_reply, 503, ESC_INVALID_CMD, "Need RCPT before BDAT");
	else if (tx->bdat_error.len)
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	else if (!tx->chunking && !tx_open_queue(s, &tx->bdat_error))
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	else if (tx->size + size > cfg->max_message_size) {
		smtp_reply_format(&tx->bdat_error, 552, ESC_MSG_TOO_BIG,
		    "Message size exceeds fixed maximum message size");
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	}
	if (tx && s->state == S_RCPT)
		tx->chunking = true;
	enter_state(s, S_BDAT);
	{
		struct timeval tv = { cfg->data_timeout, 0 };

		bufferevent_set_timeouts(s->bev, &tv, &tv);
	}
}

static void
cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len != 0) {
		reply(s, 501, ESC_BAD_ARGS, "Syntax: RSET");
		count_error(s);
		return;
	}
	tx_free(&s->tx);
	if (s->state != S_CONNECTED)
		enter_state(s, S_READY);
	reply(s, 250, ESC_OK, "Ok");
}

static void
cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	reply(s, 250, ESC_OK, "Ok");
}

static void
cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	reply(s, 221, ESC_OK, "Bye");
	close_after_reply(s);
}

static void
cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len == 0) {
		reply(s, 501, ESC_BAD_ARGS, "Syntax: VRFY address");
		count_error(s);
		return;
	}
	/* RFC 5321 §3.5.3: 252 rather than reveal who exists. */
	reply(s, 252, ESC_VRFY_CANNOT, "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_expn(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	reply(s, 502, ESC_INVALID_CMD, "EXPN is not available");
}

static void
cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply_line(&s->out, 214, 0, "2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT");
	smtp_reply_line(&s->out, 214, 1, "2.0.0 RSET NOOP QUIT VRFY HELP; see RFC 5321");
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
		reply(s, 502, ESC_INVALID_CMD, "STARTTLS not available");
		count_error(s);
		return;
	}
	if (s->tls) {
		reply(s, 503, ESC_INVALID_CMD, "TLS already active");
		count_error(s);
		return;
	}
	if (len != 0) {
		reply(s, 501, ESC_BAD_ARGS, "Syntax: STARTTLS");
		count_error(s);
		return;
	}
	if ((ssl = tls_server_ssl(s->env->tls)) == NULL) {
		reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return;
	}
	reply(s, 220, ESC_OK, "Ready to start TLS");
	flush_out(s);
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
		close_after_reply(s);
		return;
	}
	s->bev = tbev;
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 256 * 1024);
	restore_idle_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	/* RFC 3207 §4.2: forget everything learned before TLS. */
	tx_free(&s->tx);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authed = false;
	s->auth_user[0] = '\0';
	enter_state(s, S_CONNECTED);
}


static const struct smtp_command commands[] = {
	{ SMTP_CMD_HELO, cmd_helo },
	{ SMTP_CMD_EHLO, cmd_ehlo },
	{ SMTP_CMD_MAIL, cmd_mail },
	{ SMTP_CMD_RCPT, cmd_rcpt },
	{ SMTP_CMD_DATA, cmd_data },
	{ SMTP_CMD_BDAT, cmd_bdat },
	{ SMTP_CMD_RSET, cmd_rset },
	{ SMTP_CMD_NOOP, cmd_noop },
	{ SMTP_CMD_QUIT, cmd_quit },
	{ SMTP_CMD_VRFY, cmd_vrfy },
	{ SMTP_CMD_EXPN, cmd_expn },
	{ SMTP_CMD_HELP, cmd_help },
	{ SMTP_CMD_STARTTLS, cmd_starttls },
	{ SMTP_CMD_AUTH, cmd_auth },
	{ SMTP_CMD_LHLO, NULL },
};

/* ------------------------------------------------------------ input ---- */

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
				reply(s, 500, ESC_SYNTAX, "Line too long");
				count_error(s);
			}
		}
		return false;
	}
	linelen = (size_t)p.pos;
	if (s->skip_line || linelen + 1 > max) {
		evbuffer_drain(in, linelen + 1);
		if (!s->skip_line) {
			s->cmdline = NULL;
			reply(s, 500, ESC_SYNTAX, "Line too long");
			count_error(s);
		}
		s->skip_line = false;
		return true;
	}
	buf_reset(&reg.line);
	if (buf_reserve(&reg.line, linelen + 1) == -1) {
		reply(s, 421, ESC_POLICY_TEMP, "Out of memory");
		close_after_reply(s);
		return false;
	}
	evbuffer_remove(in, reg.line.data, linelen + 1);
	reg.line.len = linelen;
	reg.line.data[linelen] = '\0';
	line = reg.line.data;
	s->ncmds++;
	s->cmdline = line;
	s->cmdlen = linelen;
	if (s->state == S_AUTH) {
		/* A SASL response: never logged, wiped after use. */
		s->cmdline = "(AUTH response)";
		s->cmdlen = 15;
		if (linelen == 0 || line[linelen - 1] != '\r') {
			reply(s, 501, "5.5.2", "Bare LF in response");
			enter_state(s, s->auth_return);
		} else
			auth_response(s, line, linelen - 1);
		explicit_bzero(reg.line.data, linelen);
		goto out;
	}
	/* RFC 5321 §2.3.8: a bare LF does not end a command. */
	if (linelen == 0 || line[linelen - 1] != '\r') {
		reply(s, 500, ESC_SYNTAX, "Bare LF in command; lines must end with CRLF");
		count_error(s);
		goto out;
	}
	line[--linelen] = '\0';
	s->cmdlen = linelen;
	e = smtp_cmd_parse(line, linelen, &cmd);
	if (e == SMTP_CMD_E_BAD_CHAR) {
		reply(s, 500, ESC_SYNTAX, "Bad character (NUL, CR or LF) in command");
		count_error(s);
		goto out;
	}
	for (i = 0; e == SMTP_CMD_OK && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].verb == cmd.verb && commands[i].handler) {
			commands[i].handler(s, cmd.arg, cmd.arglen);
			if (cmd.verb == SMTP_CMD_AUTH)
				explicit_bzero(reg.line.data, reg.line.len);
			goto out;
		}
	}
	reply(s, 500, ESC_INVALID_CMD, "Command unrecognized");
	count_error(s);
out:
	s->cmdline = NULL;
	return true;
}

static void
process_input(struct smtp_session *s)
{
	bool progressed = true;

	while (progressed) {
		switch (s->state) {
		case S_DATA:
			progressed = feed_data(s);
			break;
		case S_BDAT:
			progressed = feed_bdat(s);
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
	flush_out(s);
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
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	if (output_pending(s) && ++s->linger_ticks < 250) {
		evtimer_add(s->linger, &tv);
		return;
	}
	session_free(s, s->errors >= (unsigned)s->env->cfg->max_errors ?
	    "too many errors" : "quit");
}

/* A closing session goes once its last reply is on the socket. */
static void
finish_close(struct smtp_session *s)
{
	if (s->linger != NULL)
		return;   /* already waiting */
	if (!output_pending(s)) {
		session_free(s, s->errors >= (unsigned)s->env->cfg->max_errors ?
		    "too many errors" : "quit");
		return;
	}
	/* A plain socket bufferevent calls on_write when drained; a TLS
	 * filter's socket below does not tell us, so poll it. */
	if (bufferevent_get_underlying(s->bev) &&
	    (s->linger = evtimer_new(s->env->base, on_linger, s)) != NULL)
		on_linger(-1, 0, s);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	process_input(s);
	if (s->state == S_CLOSING)
		finish_close(s);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == S_CLOSING)
		finish_close(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		if (ssl) {
			s->tls = true;
			tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
			log_info("sid=%llu event=tls client=%s tls=\"%s\"",
			    (unsigned long long)s->id, s->ip, s->tls_info);
		}
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
		reply(s, 421, ESC_TIMEOUT, "%s Error: timeout exceeded", s->env->cfg->hostname);
		close_after_reply(s);
		flush_out(s);
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	session_free(s, (what & BEV_EVENT_TIMEOUT) ? "write timeout" :
	    (what & BEV_EVENT_EOF) ? "client closed" : "connection error");
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
	char ip[INET6_ADDRSTRLEN] = "unknown";
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
	slot = ip_slot(ip);
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
		str_copy(c->ip, sizeof(c->ip), ip);
		*slot = c;
	}
	(*slot)->n++;
	s->id = ++reg.next_id;
	s->env = env;
	s->kind = kind;
	s->state = S_CONNECTED;
	str_copy(s->ip, sizeof(s->ip), ip);
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
	restore_idle_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	reply(s, 220, "", "%s ESMTP tern", cfg->hostname);
	flush_out(s);
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
}
