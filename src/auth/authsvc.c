/*
 * authsvc: login checks with failure counters, delays and lockouts, for
 * every protocol (see the header).
 *
 * The limits are looked up before a check is started: a locked network is
 * refused at once, without a hash, and a locked account after the delay,
 * without one: the lock is what makes guessing slow, not the hash. They
 * are looked up again when the backend answers, as other sessions may
 * have failed meanwhile. The decisions themselves are auth_limits.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "../common/buf.h"
#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "auth_limits.h"
#include "authsvc.h"

#define AUTH_WINDOW 900    /* failures are remembered 15 minutes */
#define FULL_LOG_EVERY 60  /* seconds between two auth-table-full lines */

/* Key types in the table: the first octet of every key. */
enum { KEY_NET = 'N', KEY_ACCOUNT = 'A' };

/* One login attempt, from authsvc_check to its callback. */
struct authsvc_job {
	struct authsvc *svc;
	struct authsvc_job *prev, *next;   /* svc->jobs */
	uint64_t conn_id;
	authsvc_cb cb;
	int family;
	unsigned char addr[16];
	char ip[64];
	char user[SASL_USER_MAX + 1];
	struct event *delay;               /* a refusal waiting to be given */
};

struct authsvc {
	struct event_base *base;
	const struct config *cfg;
	struct authsvc_backend backend;
	struct limtab *fails;        /* failed logins per network, per account+network */
	uint64_t evicted_logged;     /* fails' eviction count when last logged */
	time_t full_logged;
	struct authsvc_job *jobs;    /* every attempt not yet answered */
};

struct authsvc *
authsvc_new(struct event_base *base, const struct config *cfg,
    const struct authsvc_backend *backend)
{
	struct authsvc *svc = calloc(1, sizeof(*svc));

	if (svc == NULL)
		return NULL;
	svc->base = base;
	svc->cfg = cfg;
	svc->backend = *backend;
	/* calloc'd inside: pages of entries not used yet cost nothing. */
	if ((svc->fails = limtab_new((size_t)cfg->auth_fail_table_size, AUTH_WINDOW)) == NULL) {
		free(svc);
		return NULL;
	}
	return svc;
}

static void
job_free(struct authsvc_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		j->svc->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	if (j->delay)
		event_free(j->delay);
	explicit_bzero(j->user, sizeof(j->user));
	free(j);
}

void
authsvc_set_config(struct authsvc *svc, const struct config *cfg)
{
	svc->cfg = cfg;
}

void
authsvc_free(struct authsvc **svcp)
{
	struct authsvc *svc = *svcp;

	if (svc == NULL)
		return;
	while (svc->jobs)
		job_free(svc->jobs);
	limtab_free(&svc->fails);
	free(svc);
	*svcp = NULL;
}

static struct auth_limits
limits(const struct authsvc *svc)
{
	return (struct auth_limits){
		.max_network = (unsigned)svc->cfg->auth_max_failures,
		.max_account = (unsigned)svc->cfg->auth_max_account_failures,
	};
}

/* A key for a failure counter: type, client network, then the account (for
 * KEY_ACCOUNT). Returns its length. */
static size_t
fail_key(const struct authsvc_job *j, int type, unsigned char key[LIMTAB_KEY_MAX])
{
	size_t n = 1, ulen;

	key[0] = (unsigned char)type;
	n += limtab_addr_prefix(j->family, j->addr, key + 1);
	if (type == KEY_ACCOUNT) {
		ulen = strlen(j->user);
		if (ulen > LIMTAB_KEY_MAX - n)
			ulen = LIMTAB_KEY_MAX - n;
		memcpy(key + n, j->user, ulen);
		n += ulen;
	}
	return n;
}

/* The step for j now: its network's and account's failures in this window,
 * with the password's verdict. */
static enum auth_step
step(const struct authsvc_job *j, enum auth_password pw)
{
	struct authsvc *svc = j->svc;
	struct auth_limits l = limits(svc);
	unsigned char key[LIMTAB_KEY_MAX];
	time_t now = time(NULL);
	unsigned net, acct;
	size_t n;

	n = fail_key(j, KEY_NET, key);
	net = limtab_count(svc->fails, key, n, now);
	n = fail_key(j, KEY_ACCOUNT, key);
	acct = limtab_count(svc->fails, key, n, now);
	return auth_limits_step(&l, net, acct, pw);
}

/* Counts one failure; returns the network's count. Says so in the log,
 * once a minute at most, when the table is full and counters are lost. */
static unsigned
fail_record(const struct authsvc_job *j)
{
	struct authsvc *svc = j->svc;
	unsigned char key[LIMTAB_KEY_MAX];
	struct limtab_stats st;
	time_t now = time(NULL);
	unsigned net;
	size_t n;

	n = fail_key(j, KEY_ACCOUNT, key);
	limtab_add(svc->fails, key, n, now);
	n = fail_key(j, KEY_NET, key);
	net = limtab_add(svc->fails, key, n, now);
	limtab_stats(svc->fails, &st);
	if (st.evicted != svc->evicted_logged && now - svc->full_logged >= FULL_LOG_EVERY) {
		log_info("event=auth-table-full capacity=%zu used=%zu evicted=%llu",
		    st.capacity, st.used, (unsigned long long)st.evicted);
		svc->evicted_logged = st.evicted;
		svc->full_logged = now;
	}
	return net;
}

/* fail2ban: "event=auth-failed client=IP user=NAME". The name is the
 * client's: quoted and escaped, or it could forge log lines. */
static void
log_failed(const struct authsvc_job *j, const char *reason)
{
	struct buf u = BUF_INIT;

	log_append_value(&u, j->user, strlen(j->user));
	log_info("sid=%llu event=auth-failed client=%s user=%s%s%s", (unsigned long long)j->conn_id,
	    j->ip, buf_cstr(&u), reason ? " reason=" : "", reason ? reason : "");
	buf_release(&u);
	metrics_auth_failure(reason);
}

/* Gives j's verdict and forgets j. */
static void
answer(struct authsvc_job *j, enum authsvc_verdict v)
{
	j->cb(j->conn_id, v, j->user);
	job_free(j);
}

static void on_password(void *arg, enum authsvc_password pw);

static void
on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	answer(arg, AUTHSVC_FAILED);
}

/*
 * A failed login: counted, logged, and NETWORK_LOCKED when it takes the
 * network to its limit; else FAILED, given after a delay that grows with
 * the network's failures. Returns PENDING while the delay runs, or the
 * verdict now (FAILED too when no timer could be made), j then unanswered.
 */
static enum authsvc_verdict
refuse(struct authsvc_job *j, const char *reason)
{
	struct auth_limits l = limits(j->svc);
	struct timeval tv = { 0, 0 };
	int delay = auth_limits_delay(&l, fail_record(j));

	if (delay < 0) {
		log_failed(j, "client-locked");
		return AUTHSVC_NETWORK_LOCKED;
	}
	log_failed(j, reason);
	if ((j->delay = evtimer_new(j->svc->base, on_delay, j)) == NULL)
		return AUTHSVC_FAILED;
	tv.tv_sec = delay;
	evtimer_add(j->delay, &tv);
	return AUTHSVC_PENDING;
}

/*
 * What j gets now that its counts are looked at, with the password's
 * verdict (UNCHECKED: pass is to be checked, else it is NULL). Returns
 * PENDING while the backend or a delay runs, or the verdict now, j then
 * unanswered.
 */
static enum authsvc_verdict
proceed(struct authsvc_job *j, enum auth_password pw, const char *pass)
{
	struct authsvc *svc = j->svc;

	switch (step(j, pw)) {
	case AUTH_STEP_ASK:
		log_debug("sid=%llu auth-check queued", (unsigned long long)j->conn_id);
		return svc->backend.check(svc->backend.ctx, j->user, pass, on_password, j) == 0 ?
		    AUTHSVC_PENDING : AUTHSVC_TEMPFAIL;
	case AUTH_STEP_OK:
		log_info("sid=%llu event=auth client=%s user=%s", (unsigned long long)j->conn_id,
		    j->ip, j->user);
		return AUTHSVC_OK;
	case AUTH_STEP_NETWORK_LOCKED:
		log_failed(j, "client-locked");
		return AUTHSVC_NETWORK_LOCKED;
	case AUTH_STEP_ACCOUNT_LOCKED:
		return refuse(j, "account-locked");
	case AUTH_STEP_REFUSE:
		break;
	}
	return refuse(j, NULL);
}

/* The backend's answer, on the loop. */
static void
on_password(void *arg, enum authsvc_password pw)
{
	struct authsvc_job *j = arg;
	enum authsvc_verdict v;

	if (pw == AUTHSVC_PASSWORD_TEMP)
		v = AUTHSVC_TEMPFAIL;
	else
		v = proceed(j, pw == AUTHSVC_PASSWORD_GOOD ? AUTH_PASSWORD_GOOD : AUTH_PASSWORD_BAD,
		    NULL);
	if (v != AUTHSVC_PENDING)
		answer(j, v);
}

enum authsvc_verdict
authsvc_check(struct authsvc *svc, const struct authsvc_peer *peer, const char *user,
    const char *pass, authsvc_cb cb, uint64_t conn_id)
{
	struct authsvc_job *j = calloc(1, sizeof(*j));
	enum authsvc_verdict v;

	if (j == NULL)
		return AUTHSVC_TEMPFAIL;
	j->svc = svc;
	if ((j->next = svc->jobs) != NULL)
		j->next->prev = j;
	svc->jobs = j;
	j->conn_id = conn_id;
	j->cb = cb;
	j->family = peer->family;
	memcpy(j->addr, peer->addr, sizeof(j->addr));
	if (str_copy(j->user, sizeof(j->user), user) == -1 ||
	    str_copy(j->ip, sizeof(j->ip), peer->ip) == -1) {
		job_free(j);
		return AUTHSVC_TEMPFAIL;
	}
	str_lower(j->user);
	if ((v = proceed(j, AUTH_PASSWORD_UNCHECKED, pass)) != AUTHSVC_PENDING)
		job_free(j);
	return v;
}
