/*
 * smtp_server_auth: SMTP AUTH (RFC 4954) with PLAIN and LOGIN, and the
 * submission rules of RFC 6409: who may send as whom, and how often.
 *
 * This file is only the SMTP of it: the command's checks, the SASL
 * exchange (proto/sasl, shared by every protocol) driven with 334 lines,
 * and the replies. The login check itself, with its failure counters,
 * lockouts, delays and log lines, is the daemon's auth service
 * (auth/authsvc.c); its verdict comes back by session id.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../auth/authsvc.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../net/conn.h"
#include "../policy/submission.h"
#include "../proto/sasl.h"
#include "smtp_reply.h"
#include "smtp_session.h"

/* RFC 4954 §4: no passwords in the clear (except loopback, if allowed). */
bool
smtp_auth_allowed(const struct smtp_session *s)
{
	return conn_password_ok(s->conn, s->cfg->auth_cleartext_loopback);
}

/* The submission rules (policy/submission.c) for this session's login. */
bool
smtp_auth_sender_owned(const struct smtp_session *s, const struct smtp_path *from)
{
	return submission_sender_owned(s->cfg, s->env->dir, s->auth_user, from);
}

bool
smtp_auth_from_owned(const struct smtp_session *s, const struct hdr_scan *hs)
{
	return submission_from_owned(s->cfg, s->env->dir, s->auth_user, hs);
}

/* Per-user messages per hour (submission_rate_limit; 0 = no limit). */
bool
smtp_auth_rate_allow(struct smtp_session *s)
{
	unsigned limit = (unsigned)s->cfg->submission_rate_limit;

	if (limit == 0 || s->env->rates == NULL)
		return true;
	if (!submission_rate_allow(s->env->rates, s->auth_user, limit, time(NULL))) {
		log_info("sid=%llu event=rate-limited user=%s client=%s limit=%u/h",
		    (unsigned long long)s->id, s->auth_user, conn_ip(s->conn), limit);
		return false;
	}
	return true;
}

/* A reply to the whole AUTH command, logged (when a refusal) as "AUTH". */
static void
auth_say(struct smtp_session *s, int code, const char *esc, const char *text)
{
	s->cmdline = "AUTH";
	s->cmdlen = 4;
	smtp_session_reply(s, code, esc, "%s", text);
	s->cmdline = NULL;
}

/* A verdict as SMTP says it (PENDING: the auth service answers later,
 * through auth_done). */
static enum conn_step
auth_reply(struct smtp_session *s, enum authsvc_verdict v, const char *user)
{
	char locked[512];

	switch (v) {
	case AUTHSVC_OK:
		s->authed = true;
		str_copy(s->auth_user, sizeof(s->auth_user), user);
		auth_say(s, 235, "2.7.0", "Authentication successful");
		smtp_session_enter(s, s->auth_return);
		break;
	case AUTHSVC_FAILED:
		auth_say(s, 535, "5.7.8", "Authentication credentials invalid");
		smtp_session_enter(s, s->auth_return);
		break;
	case AUTHSVC_NETWORK_LOCKED:
		/* Over auth_max_failures: 421 and close. */
		snprintf(locked, sizeof(locked), "%s Too many failed logins from your address",
		    s->cfg->hostname);
		auth_say(s, 421, ESC_POLICY_TEMP, locked);
		return CONN_CLOSE;
	case AUTHSVC_TEMPFAIL:
		smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		smtp_session_enter(s, s->auth_return);
		break;
	case AUTHSVC_PENDING:
		return CONN_PENDING;
	}
	return CONN_DONE;
}

/* The auth service's verdict, on the loop (after any refusal delay). */
static void
auth_done(uint64_t sid, enum authsvc_verdict v, const char *user)
{
	struct smtp_session *s = smtp_session_find(sid);
	enum conn_step step;

	if (s == NULL)
		return;   /* the client went away meanwhile */
	step = auth_reply(s, v, user);
	smtp_session_flush(s);
	conn_resume(s->conn, step);
}

/* Hands the credentials to the auth service (which asks the keeper, the
 * only holder of the hashes, unless a limit refuses them first). */
static enum conn_step
auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	struct authsvc_peer peer = {
		.family = conn_family(s->conn),
		.addr = conn_addr(s->conn),
		.ip = conn_ip(s->conn),
	};

	return auth_reply(s, authsvc_check(s->env->auth, &peer, user, pass, auth_done, s->id), user);
}

/*
 * Where the SASL exchange (proto/sasl, the same for every protocol) goes
 * next: a 334 challenge, the password check, or the end of the command.
 */
static enum conn_step
auth_sasl_next(struct smtp_session *s, enum sasl_result r)
{
	enum conn_step step = CONN_DONE;

	switch (r) {
	case SASL_CHALLENGE:
		smtp_session_enter(s, S_AUTH);
		smtp_session_reply(s, 334, "", "%s", s->sasl.challenge[0] ? s->sasl.challenge : " ");
		return CONN_DONE;   /* the exchange goes on: keep what it holds */
	case SASL_DONE:
		step = auth_check(s, s->sasl.user, s->sasl.pass);
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
		step = smtp_session_refuse(s, 504, "5.5.4", "Unrecognized authentication type");
		break;
	}
	sasl_server_clear(&s->sasl);
	return step;
}

/* A line read in S_AUTH: the client's answer to our 334. */
enum conn_step
smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	return auth_sasl_next(s, sasl_server_step(&s->sasl, line, len));
}

enum conn_step
smtp_auth_cmd(struct smtp_session *s, const char *arg, size_t len)
{
	size_t mlen = 0;

	s->cmdline = "AUTH (arguments not logged)";
	s->cmdlen = strlen(s->cmdline);
	if (!s->esmtp)
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "Send EHLO first");
	if (s->authed)
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "Already authenticated");
	if (smtp_session_in_tx(s))
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "AUTH not allowed during a mail transaction");
	if (!smtp_auth_allowed(s))
		return smtp_session_refuse(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	s->auth_return = s->state;
	/* An initial response follows the mechanism (RFC 4954 §4). */
	return auth_sasl_next(s, sasl_server_start(&s->sasl, arg, mlen,
	    mlen < len ? arg + mlen + 1 : NULL, mlen < len ? len - mlen - 1 : 0));
}
