/*
 * smtp_server_envelope: MAIL and RCPT, which build a transaction's
 * envelope. Recipients are expanded by the router at RCPT time, so unknown
 * users are refused while the client is there; a mailbox with a quota is
 * asked on the I/O pool whether the message fits (452 4.2.2 / 552 5.2.2
 * then, not a bounce later); in LMTP each accepted RCPT remembers the
 * envelope recipients it became, for its reply after the message.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../deliver/maildir.h"
#include "../mailbox/quota.h"
#include "../maillog/maillog.h"
#include "../net/conn.h"
#include "../queue/bounce.h"
#include "../route/directory.h"
#include "../route/router.h"
#include "../verify/verify.h"
#include "smtp_reply.h"
#include "smtp_session.h"

bool
smtp_session_relay_allowed(const struct smtp_session *s)
{
	return config_relay_allowed(s->cfg, conn_family(s->conn), conn_addr(s->conn));
}

static enum conn_step
path_error(struct smtp_session *s, enum smtp_addr_err e, bool sender)
{
	const char *esc = sender ? ESC_BAD_SENDER_SYNTAX : ESC_BAD_DEST_SYNTAX;

	switch (e) {
	case SMTP_ADDR_NEED_UTF8:
		smtp_session_reply(s, 553, ESC_UTF8_REQUIRED, "Non-ASCII address requires SMTPUTF8");
		break;
	case SMTP_ADDR_LOCAL_LONG:
	case SMTP_ADDR_DOMAIN_LONG:
	case SMTP_ADDR_PATH_LONG:
		smtp_session_reply(s, 553, esc, "Address rejected: %s", smtp_addr_strerror(e));
		break;
	default:
		smtp_session_reply(s, 501, esc, "Bad %s address syntax", sender ? "sender" : "recipient");
		break;
	}
	return smtp_session_count_error(s);
}

static enum conn_step
cmd_error(struct smtp_session *s, enum smtp_cmd_err e, enum smtp_addr_err pe,
    bool sender, const char *usage)
{
	switch (e) {
	case SMTP_CMD_E_PATH:
		return path_error(s, pe, sender);
	case SMTP_CMD_E_PARAM_UNKNOWN:
		smtp_session_reply(s, 555, ESC_BAD_ARGS, "Unsupported parameter");
		break;
	case SMTP_CMD_E_PARAM_SYNTAX:
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Bad parameter syntax");
		break;
	default:
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: %s", usage);
		break;
	}
	return smtp_session_count_error(s);
}

/* MAIL passed every check: the transaction begins. */
static enum conn_step
mail_accept(struct smtp_session *s, const struct smtp_path *fromp,
    const struct smtp_mail_params *mpp)
{
	const struct smtp_path from = *fromp;
	const struct smtp_mail_params mp = *mpp;
	struct smtp_tx *tx;
	char sender[SMTP_PATH_MAX + 8];

	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		return CONN_DONE;
	}
	tx->mp = mp;
	if (from.null)
		sender[0] = '\0';
	else if (str_fmt(sender, sizeof(sender), "%s@%s", from.local, from.domain) == -1) {
		smtp_tx_free(&tx);
		return path_error(s, SMTP_ADDR_PATH_LONG, true);
	}
	if (envelope_set(&tx->env.sender, sender) == -1 ||
	    envelope_set(&tx->env.envid, mp.envid) == -1) {
		smtp_tx_free(&tx);
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		return CONN_DONE;
	}
	s->tx = tx;
	{
		struct verify_env ve;
		struct verify_client cl = {
			.family = conn_family(s->conn), .ip = conn_ip(s->conn),
			.helo = s->helo, .auth_user = s->authed ? s->auth_user : "",
		};

		/* Checked: mail from outside, and (for its
		 * Authentication-Results) mail of users who logged in. */
		memcpy(cl.addr, conn_addr(s->conn), 16);
		smtp_session_verify_env(s, &ve);
		if (s->authed || (!s->lmtp && !smtp_session_relay_allowed(s)))
			tx->verify = verify_new(&ve, &cl, sender);
	}
	smtp_session_enter(s, S_MAIL);
	smtp_session_reply(s, 250, ESC_SENDER_OK, "Ok");
	return CONN_DONE;
}

static void
on_blocklist(uint64_t cookie, enum verify_check v, const char *text)
{
	struct smtp_session *s = smtp_session_find(cookie);
	enum conn_step step;

	if (s == NULL)
		return;
	/* A list that cannot be asked passes the client (checks.c). */
	s->bl = v == VERIFY_LISTED ? BL_LISTED : BL_CLEAN;
	str_copy(s->bl_text, sizeof(s->bl_text), text);
	if (v == VERIFY_LISTED)
		maillog_check("", s->id, conn_ip(s->conn), "dnsbl", text, "reject-rcpt");
	if (!s->rcpt_waiting)
		return;
	s->rcpt_waiting = false;
	s->cmdline = buf_cstr(&s->rcpt_wait);
	s->cmdlen = s->rcpt_wait.len;
	step = smtp_tx_cmd_rcpt(s, s->rcpt_wait.data, s->rcpt_wait.len);
	if (step == CONN_PENDING)
		return;   /* the quota job resumes the session */
	s->cmdline = NULL;
	smtp_session_flush(s);
	conn_resume(s->conn, step);
}

void
smtp_session_start_checks(struct smtp_session *s)
{
	struct verify_env ve;
	int family = conn_family(s->conn);

	if (s->cfg->ndnsbl == 0 || s->env->dns == NULL || s->lmtp ||
	    (family != AF_INET && family != AF_INET6) || smtp_session_relay_allowed(s))
		return;
	smtp_session_verify_env(s, &ve);
	if (verify_dnsbl(&ve, family, conn_addr(s->conn), on_blocklist, s->id) == 0)
		s->bl = BL_PENDING;
}

void
smtp_session_verify_env(const struct smtp_session *s, struct verify_env *ve)
{
	ve->base = s->env->base;
	ve->dns = s->env->dns;
	ve->cfg = s->cfg;
}

/* The sender-domain check applies: mail from outside, a domain name. */
static bool
sender_checked(const struct smtp_session *s, const struct smtp_path *from)
{
	const struct config *cfg = s->cfg;

	return (cfg->check_sender_domain || cfg->ndnsbl_domain > 0) && s->env->dns &&
	    !from->null && !s->authed && !s->lmtp && from->domain[0] != '[' &&
	    !smtp_session_relay_allowed(s);
}

/* MAIL waiting for the sender-domain lookups. */
struct mail_job {
	uint64_t sid;
	struct smtp_path from;
	struct smtp_mail_params mp;
};

static void
mail_checked(uint64_t cookie, enum verify_check v, const char *text)
{
	struct mail_job *j = (struct mail_job *)(uintptr_t)cookie;
	struct smtp_session *s = smtp_session_find(j->sid);
	const struct config *cfg;
	enum conn_step step = CONN_DONE;

	if (s == NULL) {
		free(j);
		return;
	}
	cfg = s->cfg;
	s->cmdline = "MAIL (sender domain)";
	s->cmdlen = 20;
	if (v == VERIFY_NXDOMAIN && cfg->check_sender_domain)
		smtp_session_reply(s, 550, "5.1.8", "<%s@%s>: Sender address rejected: Domain not found",
		    j->from.local, j->from.domain);
	else if (v == VERIFY_NULLMX && cfg->check_sender_domain)
		smtp_session_reply(s, 550, "5.7.27", "<%s@%s>: Sender address rejected: Domain does not accept mail (null MX)",
		    j->from.local, j->from.domain);
	else if (v == VERIFY_TEMP && cfg->check_sender_domain)
		smtp_session_reply(s, 451, "4.4.3", "<%s@%s>: Sender address rejected: Domain lookup failed, try again later",
		    j->from.local, j->from.domain);
	else if (v == VERIFY_LISTED)
		smtp_session_reply(s, 554, "5.7.1", "<%s@%s>: Sender address rejected: %s",
		    j->from.local, j->from.domain, text);
	else
		step = mail_accept(s, &j->from, &j->mp);
	s->cmdline = NULL;
	free(j);
	smtp_session_flush(s);
	conn_resume(s->conn, step);
}

static enum conn_step
mail_check(struct smtp_session *s, const struct smtp_path *from,
    const struct smtp_mail_params *mp)
{
	struct verify_env ve;
	struct mail_job *j = calloc(1, sizeof(*j));

	smtp_session_verify_env(s, &ve);
	if (j == NULL)
		return mail_accept(s, from, mp);
	j->sid = s->id;
	j->from = *from;
	j->mp = *mp;
	if (verify_sender_domain(&ve, from->domain, mail_checked, (uint64_t)(uintptr_t)j) == -1) {
		free(j);
		return mail_accept(s, from, mp);
	}
	return CONN_PENDING;
}

enum conn_step
smtp_tx_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->cfg;
	struct smtp_mail_params mp;
	struct smtp_path from;
	enum smtp_addr_err pe;
	enum smtp_cmd_err e;

	if (s->tx)
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "Nested MAIL command");
	if ((e = smtp_cmd_parse_mail(arg, len, &from, &mp, &pe)) != SMTP_CMD_OK)
		return cmd_error(s, e, pe, true, "MAIL FROM:<address> [parameters]");
	if (s->authed && !from.null && !smtp_auth_sender_owned(s, &from)) {
		smtp_session_reply(s, 553, ESC_NOT_ALLOWED, "<%s@%s>: Sender address rejected: not owned by user %s",
		    from.local, from.domain, s->auth_user);
		return CONN_DONE;
	}
	if (s->authed && !smtp_auth_rate_allow(s)) {
		smtp_session_reply(s, 450, "4.7.1", "Sending rate limit exceeded for %s; try again later",
		    s->auth_user);
		return CONN_DONE;
	}
	if (!s->esmtp && (mp.has_size || mp.body || mp.smtputf8 || mp.ret ||
	    mp.envid[0] || mp.auth[0]))
		return smtp_session_refuse(s, 555, ESC_BAD_ARGS, "Parameters need EHLO");
	if (mp.body == SMTP_BODY_BINARYMIME)
		return smtp_session_refuse(s, 555, ESC_BAD_ARGS, "BINARYMIME is not supported");
	/* RFC 1870 §6.2: the declared size is over our fixed limit. */
	if (mp.has_size && mp.size > cfg->max_message_size) {
		smtp_session_reply(s, 552, ESC_MSG_TOO_BIG, "Message size exceeds fixed maximum message size");
		return CONN_DONE;
	}
	/* Our own domains send through submission, or from relay_networks;
	 * anyone else using them on port 25 is forging them. */
	if (cfg->reject_own_domain_sender && !s->authed && !s->lmtp && !from.null &&
	    config_is_local_domain(cfg, from.domain) &&
	    !smtp_session_relay_allowed(s)) {
		smtp_session_reply(s, 550, ESC_NOT_ALLOWED,
		    "<%s@%s>: Sender address rejected: log in to send as a local domain",
		    from.local, from.domain);
		return CONN_DONE;
	}
	/* Mail from outside: does the sender domain exist and take mail? */
	if (sender_checked(s, &from))
		return mail_check(s, &from, &mp);
	return mail_accept(s, &from, &mp);
}

/* LMTP: a new accepted-RCPT entry with room for n recipient indexes. */
static int
lmtp_rcpt_begin(struct smtp_tx *tx, const char *orig, size_t n)
{
	struct lmtp_rcpt *nl = reallocarray(tx->lr, tx->nlr + 1, sizeof(*nl));

	if (nl == NULL)
		return -1;
	tx->lr = nl;
	memset(&nl[tx->nlr], 0, sizeof(nl[0]));
	if ((nl[tx->nlr].idx = calloc(n ? n : 1, sizeof(size_t))) == NULL)
		return -1;
	str_copy(nl[tx->nlr].orig, sizeof(nl[0].orig), orig);
	tx->nlr++;
	return 0;
}

static void
lmtp_rcpt_cancel(struct smtp_tx *tx)
{
	free(tx->lr[--tx->nlr].idx);
}

/* The RCPT's mailboxes join the envelope (and, in LMTP, the list of
 * accepted RCPTs); the reply. */
static void
rcpt_accept(struct smtp_session *s, struct route_list *dests, const char *orig,
    const struct smtp_rcpt_params *rp)
{
	struct smtp_tx *tx = s->tx;
	size_t i, k;

	if (s->lmtp && lmtp_rcpt_begin(tx, orig, dests->n) == -1) {
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		return;
	}
	for (i = 0; i < dests->n; i++) {
		for (k = 0; k < tx->env.nrcpts; k++) {
			if (strcmp(tx->env.rcpts[k].addr, dests->dests[i].address) == 0)
				break;
		}
		if (k == tx->env.nrcpts && envelope_add_rcpt(&tx->env, dests->dests[i].address,
		    orig, rp->orcpt, rp->notify, dests->dests[i].local) == -1) {
			if (s->lmtp)
				lmtp_rcpt_cancel(tx);
			smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
			return;
		}
		/* The same mailbox twice gets one copy (k: the earlier one). */
		if (s->lmtp)
			tx->lr[tx->nlr - 1].idx[tx->lr[tx->nlr - 1].nidx++] = k;
	}
	tx->rcpts_given++;
	smtp_session_enter(s, S_RCPT);
	smtp_session_reply(s, 250, ESC_RCPT_OK, "Ok");
}

/* ------------------------------------------------------- RCPT quota ---- */

struct quota_job {
	uint64_t sid;
	struct route_list dests;        /* moved from the RCPT */
	char orig[SMTP_PATH_MAX + 8];
	struct smtp_rcpt_params rp;
	uint64_t size;                  /* MAIL's SIZE=, else 0 */
	size_t n;                       /* the mailboxes with a quota */
	char (*box)[SMTP_PATH_MAX + 64];
	struct quota_limits *lim;
	enum quota_verdict verdict;     /* the worst */
	char detail[128];
};

static void
quota_job_free(struct quota_job *j)
{
	route_list_clear(&j->dests);
	free(j->box);
	free(j->lim);
	free(j);
}

static void
rcpt_quota_work(void *arg)
{
	struct quota_job *j = arg;
	size_t i;

	for (i = 0; i < j->n; i++) {
		struct quota_usage u;
		enum quota_verdict v;

		if (quota_check_maildir(j->box[i], &j->lim[i], j->size, &u, &v) == -1)
			continue;   /* unreadable: not held back here (delivery decides) */
		if (v > j->verdict) {
			j->verdict = v;
			snprintf(j->detail, sizeof(j->detail), v == QUOTA_NEVER ?
			    "message larger than the mailbox quota" : "mailbox full");
		}
	}
}

static void
rcpt_quota_done(void *arg)
{
	struct quota_job *j = arg;
	struct smtp_session *s = smtp_session_find(j->sid);

	if (s != NULL && s->tx != NULL) {
		s->cmdline = "RCPT (quota)";
		s->cmdlen = 12;
		if (j->verdict == QUOTA_NEVER)
			smtp_session_reply(s, 552, "5.2.2", "<%s>: %s", j->orig, j->detail);
		else if (j->verdict == QUOTA_OVER_TEMP)
			smtp_session_reply(s, 452, "4.2.2", "<%s>: %s, try again later", j->orig,
			    j->detail);
		else
			rcpt_accept(s, &j->dests, j->orig, &j->rp);
		s->cmdline = NULL;
		smtp_session_flush(s);
		conn_resume(s->conn, CONN_DONE);
	}
	quota_job_free(j);
}

/*
 * CONN_PENDING when some of dests has a quota and the pool will say
 * whether the message fits (dests then moved into the job); CONN_DONE
 * when there is nothing to ask.
 */
static enum conn_step
rcpt_quota_check(struct smtp_session *s, struct route_list *dests, const char *orig,
    const struct smtp_rcpt_params *rp)
{
	struct quota_job *j;
	size_t i, n = 0;

	/* Mailboxes on another server (local_transport LMTP) are its to count. */
	if (s->cfg->local_transport.kind != TRANSPORT_MAILDIR)
		return CONN_DONE;
	for (i = 0; i < dests->n; i++)
		n += dests->dests[i].local &&
		    directory_quota(s->env->dir, dests->dests[i].address, &(uint64_t){ 0 },
		    &(uint64_t){ 0 });
	if (n == 0 || s->env->pool == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return CONN_DONE;
	if ((j->box = calloc(n, sizeof(*j->box))) == NULL ||
	    (j->lim = calloc(n, sizeof(*j->lim))) == NULL) {
		quota_job_free(j);
		return CONN_DONE;
	}
	for (i = 0; i < dests->n; i++) {
		struct quota_limits *l = &j->lim[j->n];

		if (!dests->dests[i].local ||
		    !directory_quota(s->env->dir, dests->dests[i].address, &l->bytes, &l->messages) ||
		    maildir_path(s->env->mailroot, dests->dests[i].address, j->box[j->n],
		    sizeof(j->box[0])) == -1)
			continue;
		j->n++;
	}
	j->sid = s->id;
	j->size = s->tx->mp.has_size ? s->tx->mp.size : 0;
	str_copy(j->orig, sizeof(j->orig), orig);
	j->rp = *rp;
	j->dests = *dests;
	if (iopool_submit(s->env->pool, rcpt_quota_work, rcpt_quota_done, j) == -1) {
		memset(&j->dests, 0, sizeof(j->dests));
		quota_job_free(j);
		return CONN_DONE;
	}
	memset(dests, 0, sizeof(*dests));
	return CONN_PENDING;
}

enum conn_step
smtp_tx_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->cfg;
	struct smtp_tx *tx = s->tx;
	struct smtp_rcpt_params rp;
	struct route_list dests = { 0 };
	struct smtp_path to;
	enum smtp_addr_err pe;
	enum smtp_cmd_err e;
	enum route_status rs;
	char local[SMTP_LOCAL_MAX + 1], orig[SMTP_PATH_MAX + 8];
	enum conn_step step = CONN_DONE;
	size_t i;

	/* The client's blocklist answer, asked when it connected; logged-in
	 * users are not held to it. */
	if (s->bl == BL_PENDING && !s->authed) {
		buf_reset(&s->rcpt_wait);
		if (buf_append(&s->rcpt_wait, arg, len) == 0) {
			s->rcpt_waiting = true;
			return CONN_PENDING;
		}
	}
	if (s->bl == BL_LISTED && !s->authed) {
		smtp_session_reply(s, 554, "5.7.1", "Service unavailable; client [%s] blocked: %s",
		    conn_ip(s->conn), s->bl_text);
		return CONN_DONE;
	}
	if (tx->rcpts_given >= cfg->max_recipients ||
	    (s->authed && cfg->submission_max_recipients &&
	    tx->rcpts_given >= cfg->submission_max_recipients)) {
		/* RFC 5321 §4.5.3.1.8: 452, and the client sends the rest later. */
		smtp_session_reply(s, 452, ESC_TOO_MANY_RCPTS, "Too many recipients");
		return CONN_DONE;
	}
	if ((e = smtp_cmd_parse_rcpt(arg, len, tx->mp.smtputf8, &to, &rp, &pe)) != SMTP_CMD_OK)
		return cmd_error(s, e, pe, false, "RCPT TO:<address> [parameters]");
	if (!s->esmtp && (rp.notify || rp.orcpt[0]))
		return smtp_session_refuse(s, 555, ESC_BAD_ARGS, "Parameters need EHLO");
	/* No success or delay notices to an unverified sender (bounce.h). */
	rp.notify = bounce_notify_honoured(rp.notify,
	    s->authed || smtp_session_relay_allowed(s));
	if (smtp_addr_unquote_local(to.local, local, sizeof(local)) == -1)
		return path_error(s, SMTP_ADDR_SYNTAX, false);
	if ((to.domain[0] ? str_fmt(orig, sizeof(orig), "%s@%s", to.local, to.domain) :
	    str_copy(orig, sizeof(orig), to.local)) == -1)
		return path_error(s, SMTP_ADDR_PATH_LONG, false);
	rs = router_expand(cfg, s->env->dir, local, to.domain, &dests);
	switch (rs) {
	case ROUTE_OK:
		break;
	case ROUTE_NOT_LOCAL:
		/* LMTP delivers to this server's mailboxes, and nowhere else. */
		if (s->lmtp) {
			step = smtp_session_refuse(s, 550, ESC_BAD_DEST, "<%s>: not a local mailbox", orig);
			goto out;
		}
		/* Never an open relay: only trusted networks may send onwards. */
		if (to.domain[0] && (s->authed || smtp_session_relay_allowed(s))) {
			char dest[SMTP_PATH_MAX + 8];

			if (str_fmt(dest, sizeof(dest), "%s@%s", to.local, to.domain) == -1) {
				route_list_clear(&dests);
				return path_error(s, SMTP_ADDR_PATH_LONG, false);
			}
			str_lower(strrchr(dest, '@'));
			if (route_list_add(&dests, dest, false) == ROUTE_OK)
				break;
			smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
			goto out;
		}
		step = smtp_session_refuse(s, 550, ESC_NOT_ALLOWED, "<%s>: Relay access denied", orig);
		goto out;
	case ROUTE_UNKNOWN_USER:
		/* An error like any other: else a client could try addresses at
		 * line rate, max_errors never ending its session. */
		step = smtp_session_refuse(s, 550, ESC_BAD_DEST, "<%s>: Recipient address rejected: User unknown", orig);
		goto out;
	case ROUTE_LOOP:
		smtp_session_reply(s, 550, ESC_LOOP, "<%s>: Alias expansion loops", orig);
		goto out;
	case ROUTE_TOO_MANY:
		smtp_session_reply(s, 452, ESC_TOO_MANY_RCPTS, "<%s>: Alias expands to too many recipients", orig);
		goto out;
	case ROUTE_NOMEM:
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory, try again later");
		goto out;
	}
	if (s->lmtp) {
		for (i = 0; i < dests.n; i++) {
			if (!dests.dests[i].local) {
				step = smtp_session_refuse(s, 550, ESC_BAD_DEST,
				    "<%s>: alias to other servers: not delivered over LMTP", orig);
				goto out;
			}
		}
	}
	/* A mailbox with a quota is asked on the pool whether the message
	 * fits (RFC 3463 4.2.2 / 5.2.2 now, not a bounce later). */
	if ((step = rcpt_quota_check(s, &dests, orig, &rp)) == CONN_PENDING)
		return CONN_PENDING;   /* the job owns dests now */
	rcpt_accept(s, &dests, orig, &rp);
	step = CONN_DONE;
out:
	route_list_clear(&dests);
	return step;
}
