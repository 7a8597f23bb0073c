/*
 * smtp_server_auth: SMTP AUTH (RFC 4954) with PLAIN and LOGIN, and the
 * submission rules of RFC 6409: who may send as whom, and how often.
 *
 * Passwords are checked on the auth pool (libxcrypt is slow on purpose);
 * the result comes back by session id. Unknown users are checked too,
 * against a dummy hash (auth.c), so they cost what known ones cost.
 *
 * Failed logins are counted in one bounded table (common/limtab.c): per
 * client network (IPv4 /32, IPv6 /64), and per account from that network
 * only, so nobody can lock an account for everyone. The limits are looked
 * up before a check is started: a locked network gets its 421 at once,
 * without a hash, and a locked account its 535 without one. A refusal
 * comes after a delay that grows with the network's failures. Credentials
 * are never logged and are wiped once used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../privsep/keeper_client.h"
#include "../maillog/maillog.h"
#include "../net/conn.h"
#include "../policy/submission.h"
#include "../proto/sasl.h"
#include "smtp_reply.h"
#include "smtp_session.h"

#define AUTH_WINDOW 900    /* failures are remembered 15 minutes */
#define RATE_WINDOW 3600   /* submission_rate_limit is per hour */
#define FULL_LOG_EVERY 60  /* seconds between two auth-table-full lines */

/* Key types in the tables: the first octet of every key. */
enum { KEY_NET = 'N', KEY_ACCOUNT = 'A' };   /* policy/submission has 'R' */

/* Loop thread only. Made at the first use, with the configured size. */
static struct {
	struct limtab *fails;        /* failed AUTH per network, per account+network */
	struct limtab *rates;        /* messages per user in the current hour */
	uint64_t evicted_logged;     /* fails' eviction count when last logged */
	time_t full_logged;
} auth_reg;

struct auth_job {
	uint64_t sid;
	char user[SMTP_PATH_MAX + 1];
};

/* A key for a failure counter: type, client network, then the account (for
 * KEY_ACCOUNT). Returns its length. */
static size_t
fail_key(const struct smtp_session *s, int type, const char *user,
    unsigned char key[LIMTAB_KEY_MAX])
{
	size_t n = 1, ulen;

	key[0] = (unsigned char)type;
	n += limtab_addr_prefix(conn_family(s->conn), conn_addr(s->conn), key + 1);
	if (type == KEY_ACCOUNT) {
		ulen = strlen(user);
		if (ulen > LIMTAB_KEY_MAX - n)
			ulen = LIMTAB_KEY_MAX - n;
		memcpy(key + n, user, ulen);
		n += ulen;
	}
	return n;
}

static struct limtab *
fails_table(const struct smtp_session *s)
{
	if (auth_reg.fails == NULL)
		auth_reg.fails = limtab_new((size_t)s->env->cfg->auth_fail_table_size, AUTH_WINDOW);
	return auth_reg.fails;
}

/* Failures of the client's network, and of user from it, in this window. */
static void
fail_counts(const struct smtp_session *s, const char *user, unsigned *net, unsigned *acct)
{
	unsigned char key[LIMTAB_KEY_MAX];
	time_t now = time(NULL);
	size_t n;

	n = fail_key(s, KEY_NET, user, key);
	*net = limtab_count(auth_reg.fails, key, n, now);
	n = fail_key(s, KEY_ACCOUNT, user, key);
	*acct = limtab_count(auth_reg.fails, key, n, now);
}

/* Counts one failure; returns the network's count. Says so in the log,
 * once a minute at most, when the table is full and counters are lost. */
static unsigned
fail_record(const struct smtp_session *s, const char *user)
{
	unsigned char key[LIMTAB_KEY_MAX];
	struct limtab_stats st;
	time_t now = time(NULL);
	unsigned net;
	size_t n;

	n = fail_key(s, KEY_ACCOUNT, user, key);
	limtab_add(auth_reg.fails, key, n, now);
	n = fail_key(s, KEY_NET, user, key);
	net = limtab_add(auth_reg.fails, key, n, now);
	limtab_stats(auth_reg.fails, &st);
	if (st.evicted != auth_reg.evicted_logged && now - auth_reg.full_logged >= FULL_LOG_EVERY) {
		log_info("event=auth-table-full capacity=%zu used=%zu evicted=%llu",
		    st.capacity, st.used, (unsigned long long)st.evicted);
		auth_reg.evicted_logged = st.evicted;
		auth_reg.full_logged = now;
	}
	return net;
}

void
smtp_auth_shutdown(void)
{
	limtab_free(&auth_reg.fails);
	limtab_free(&auth_reg.rates);
}

static bool
is_loopback(const struct smtp_session *s)
{
	static const unsigned char v6lo[16] = { [15] = 1 };

	return (conn_family(s->conn) == AF_INET && conn_addr(s->conn)[0] == 127) ||
	    (conn_family(s->conn) == AF_INET6 && memcmp(conn_addr(s->conn), v6lo, 16) == 0);
}

/* RFC 4954 §4: no passwords in the clear (except loopback, if allowed). */
bool
smtp_auth_allowed(const struct smtp_session *s)
{
	return conn_tls(s->conn) || (s->env->cfg->auth_cleartext_loopback && is_loopback(s));
}

/* The submission rules (policy/submission.c) for this session's login. */
bool
smtp_auth_sender_owned(const struct smtp_session *s, const struct smtp_path *from)
{
	return submission_sender_owned(s->env->cfg, s->env->dir, s->auth_user, from);
}

bool
smtp_auth_from_owned(const struct smtp_session *s, const struct hdr_scan *hs)
{
	return submission_from_owned(s->env->cfg, s->env->dir, s->auth_user, hs);
}

/* Per-user messages per hour (submission_rate_limit; 0 = no limit). */
bool
smtp_auth_rate_allow(struct smtp_session *s)
{
	unsigned limit = (unsigned)s->env->cfg->submission_rate_limit;

	if (limit == 0)
		return true;
	if (auth_reg.rates == NULL &&
	    (auth_reg.rates = limtab_new((size_t)s->env->cfg->auth_fail_table_size, RATE_WINDOW)) == NULL)
		return true;
	if (!submission_rate_allow(auth_reg.rates, s->auth_user, limit, time(NULL))) {
		log_info("sid=%llu event=rate-limited user=%s client=%s limit=%u/h",
		    (unsigned long long)s->id, s->auth_user, conn_ip(s->conn), limit);
		return false;
	}
	return true;
}

static void
on_auth_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	buf_append(&s->out, s->auth_delayed.data, s->auth_delayed.len);
	buf_reset(&s->auth_delayed);
	smtp_session_enter(s, s->auth_return);
	conn_resume(s->conn);
}

/* fail2ban: "event=auth-failed client=IP user=NAME". The name is the
 * client's: quoted and escaped, or it could forge log lines. */
static void
log_auth_failed(const struct smtp_session *s, const char *user, const char *reason)
{
	struct buf u = BUF_INIT;

	log_append_value(&u, user, strlen(user));
	log_info("sid=%llu event=auth-failed client=%s user=%s%s%s", (unsigned long long)s->id,
	    conn_ip(s->conn), buf_cstr(&u), reason ? " reason=" : "", reason ? reason : "");
	buf_release(&u);
}

/* The client's network is over auth_max_failures: 421 and close. */
static void
auth_network_locked(struct smtp_session *s, const char *user)
{
	log_auth_failed(s, user, "client-locked");
	s->cmdline = "AUTH";
	s->cmdlen = 4;
	smtp_session_reply(s, 421, ESC_POLICY_TEMP, "%s Too many failed logins from your address",
	    s->env->cfg->hostname);
	s->cmdline = NULL;
	smtp_session_close_after_reply(s);
}

/*
 * A failed login: counted, logged, and answered with 421 when it takes the
 * network to its limit, else with a 535 after a delay that grows with the
 * network's failures. The session stays in S_AUTHWAIT until the 535 is
 * given, unless no timer could be made: then it is given now.
 */
static void
auth_refuse(struct smtp_session *s, const char *user, const char *reason)
{
	struct timeval tv = { 0, 0 };
	unsigned net = fail_record(s, user);

	if (net >= (unsigned)s->env->cfg->auth_max_failures) {
		auth_network_locked(s, user);
		return;
	}
	log_auth_failed(s, user, reason);
	tv.tv_sec = net < 8 ? net : 8;
	buf_reset(&s->auth_delayed);
	smtp_reply_format(&s->auth_delayed, 535, "5.7.8", "Authentication credentials invalid");
	maillog_reject(s->id, conn_ip(s->conn), "AUTH", 4, "535 5.7.8 Authentication credentials invalid");
	if (s->auth_timer == NULL &&
	    (s->auth_timer = evtimer_new(s->env->base, on_auth_delay, s)) == NULL) {
		buf_append(&s->out, s->auth_delayed.data, s->auth_delayed.len);
		buf_reset(&s->auth_delayed);
		smtp_session_enter(s, s->auth_return);
		return;
	}
	evtimer_add(s->auth_timer, &tv);
}

/* The keeper's answer (KEEPER_TEMP if it is gone), on the loop. */
static void
auth_job_done(void *arg, const struct keeper_reply *r)
{
	struct auth_job *j = arg;
	struct smtp_session *s = smtp_session_find(j->sid);
	const struct config *cfg;
	unsigned net, acct;

	if (s == NULL) {
		free(j);
		return;
	}
	if (r->status == KEEPER_TEMP) {
		free(j);
		smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		smtp_session_enter(s, s->auth_return);
		conn_resume(s->conn);
		return;
	}
	cfg = s->env->cfg;
	/* Other sessions may have failed meanwhile: look again. A locked
	 * network or account is refused whatever the password. */
	fail_counts(s, j->user, &net, &acct);
	if (r->status == KEEPER_OK && net < (unsigned)cfg->auth_max_failures &&
	    acct < (unsigned)cfg->auth_max_account_failures) {
		s->authed = true;
		str_copy(s->auth_user, sizeof(s->auth_user), j->user);
		log_info("sid=%llu event=auth client=%s user=%s", (unsigned long long)s->id,
		    conn_ip(s->conn), j->user);
		s->cmdline = "AUTH";
		s->cmdlen = 4;
		smtp_session_reply(s, 235, "2.7.0", "Authentication successful");
		s->cmdline = NULL;
		smtp_session_enter(s, s->auth_return);
	} else if (net >= (unsigned)cfg->auth_max_failures)
		auth_network_locked(s, j->user);
	else
		auth_refuse(s, j->user, acct >= (unsigned)cfg->auth_max_account_failures ?
		    "account-locked" : NULL);
	free(j);
	if (s->state == S_CLOSING)
		smtp_session_flush(s);   /* the conn ends the session once written */
	else if (s->state != S_AUTHWAIT)
		conn_resume(s->conn);
}

/*
 * Hands user and password to the keeper (which alone has the hashes); the
 * reply comes to auth_job_done. The limits are looked at first, so a
 * locked network or account costs no hash: the lock is what makes
 * guessing slow, not the hash.
 */
static void
auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	const struct config *cfg = s->env->cfg;
	struct auth_job *j = calloc(1, sizeof(*j));
	unsigned net, acct;

	smtp_session_enter(s, S_AUTHWAIT);
	if (j == NULL || fails_table(s) == NULL ||
	    str_copy(j->user, sizeof(j->user), user) == -1) {
		free(j);
		smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		smtp_session_enter(s, s->auth_return);
		return;
	}
	str_lower(j->user);
	j->sid = s->id;
	fail_counts(s, j->user, &net, &acct);
	if (net >= (unsigned)cfg->auth_max_failures ||
	    acct >= (unsigned)cfg->auth_max_account_failures) {
		if (net >= (unsigned)cfg->auth_max_failures)
			auth_network_locked(s, j->user);
		else
			auth_refuse(s, j->user, "account-locked");
		free(j);
		return;
	}
	log_debug("sid=%llu auth-check queued", (unsigned long long)s->id);
	if (keeper_auth(s->env->keeper, j->user, pass, auth_job_done, j) == -1) {
		free(j);
		smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		smtp_session_enter(s, s->auth_return);
	}
}

/*
 * Where the SASL exchange (proto/sasl, the same for every protocol) goes
 * next: a 334 challenge, the password check, or the end of the command.
 */
static void
auth_sasl_next(struct smtp_session *s, enum sasl_result r)
{
	switch (r) {
	case SASL_CHALLENGE:
		smtp_session_enter(s, S_AUTH);
		smtp_session_reply(s, 334, "", "%s", s->sasl.challenge[0] ? s->sasl.challenge : " ");
		return;   /* the exchange goes on: keep what it holds */
	case SASL_DONE:
		auth_check(s, s->sasl.user, s->sasl.pass);
		break;
	case SASL_CANCELLED:
		smtp_session_reply(s, 501, "5.0.0", "Authentication cancelled");
		smtp_session_enter(s, s->auth_return);
		break;
	case SASL_BAD:
		smtp_session_reply(s, 501, "5.5.2", "Cannot decode response");
		smtp_session_enter(s, s->auth_return);
		break;
	case SASL_MALFORMED:
		smtp_session_reply(s, 501, "5.5.2", "Malformed PLAIN response");
		smtp_session_enter(s, s->auth_return);
		break;
	case SASL_UNKNOWN_MECH:
		smtp_session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
		smtp_session_count_error(s);
		break;
	}
	sasl_server_clear(&s->sasl);
}

/* A line read in S_AUTH: the client's answer to our 334. */
void
smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	auth_sasl_next(s, sasl_server_step(&s->sasl, line, len));
}

void
smtp_auth_cmd(struct smtp_session *s, const char *arg, size_t len)
{
	size_t mlen = 0;

	s->cmdline = "AUTH (arguments not logged)";
	s->cmdlen = strlen(s->cmdline);
	if (!s->esmtp) {
		smtp_session_reply(s, 503, ESC_INVALID_CMD, "Send EHLO first");
		smtp_session_count_error(s);
		return;
	}
	if (s->authed) {
		smtp_session_reply(s, 503, ESC_INVALID_CMD, "Already authenticated");
		smtp_session_count_error(s);
		return;
	}
	if (smtp_session_in_tx(s)) {
		smtp_session_reply(s, 503, ESC_INVALID_CMD, "AUTH not allowed during a mail transaction");
		smtp_session_count_error(s);
		return;
	}
	if (!smtp_auth_allowed(s)) {
		smtp_session_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		smtp_session_count_error(s);
		return;
	}
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	s->auth_return = s->state;
	/* An initial response follows the mechanism (RFC 4954 §4). */
	auth_sasl_next(s, sasl_server_start(&s->sasl, arg, mlen,
	    mlen < len ? arg + mlen + 1 : NULL, mlen < len ? len - mlen - 1 : 0));
}
