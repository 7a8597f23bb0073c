/*
 * remote: next hops and host fallback (see remote.h).
 *
 * RFC 5321 §5.1: MX hosts in preference order, every address of each; a
 * failure to connect or a refused greeting moves on to the next address.
 * Once a server has answered the transaction, its verdicts stand (a 4xx
 * recipient is retried later, not at another MX), as in Postfix.
 *
 * An LMTP transport (a route's, or the job's own for local_transport) is
 * one next hop: a host whose addresses are looked up, no MX, or a unix
 * socket, which is its own address. Its connections are kept apart from
 * SMTP ones to the same address (the key starts "lmtp:").
 */
#include "remote.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <event2/event.h>

#include "../common/log.h"
#include "../common/sockaddr.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../dns/dns.h"
#include "smtp_client.h"

#define MAX_HOPS 32
#define MAX_ADDRS_PER_HOP 16
/* "lmtp:unix:" and a sun_path, or "lmtp:" and "ip:port". */
#define KEY_MAX 128

struct idle_conn {
	char key[KEY_MAX];             /* [lmtp:]ip:port, lmtp:unix:PATH */
	struct smtp_client *c;
	struct idle_conn *next;
};

/* Open connections (active or idle) per destination address. */
struct dest_count {
	char key[KEY_MAX];
	int n;
	struct dest_count *next;
};

struct remote {
	struct event_base *base;
	const struct config *cfg;
	struct dns *dns;
	struct tls *tls;
	struct idle_conn *idle;
	int nconn;
	struct dest_count *dests;
	struct rjob *waiters, *waiters_tail;   /* over a limit; FIFO */
	struct rjob *jobs;                     /* every running job */
	struct event *reaper;                  /* drops dead idle connections */
};

struct rjob {
	struct remote *r;
	struct remote_job *job;
	struct dns_mx hops[MAX_HOPS];
	size_t nhops, hop;
	int port;
	struct sockaddr_storage addrs[MAX_ADDRS_PER_HOP];
	size_t naddrs, addr;
	bool lmtp;                     /* the hop speaks LMTP */
	char label[300];               /* LMTP: "lmtp:..." for results without a
	                                * connection; "": the hop's host name */
	char key[KEY_MAX];
	struct smtp_client *c;
	struct smtp_client_tx tx;
	const char **rcpt;
	const char **orcpt;
	unsigned *notify;
	struct courier_result *tres;
	char error[600];
	char error_dsn[16];
	bool error_perm;
	bool attempted;                /* some server was reached */
	struct rjob *wnext;
	struct rjob *prev, *next;      /* r->jobs */
};

static void next_hop(struct rjob *j);
static void next_addr(struct rjob *j);

static struct dest_count *
dest_find(struct remote *r, const char *key, bool create)
{
	struct dest_count *d;

	for (d = r->dests; d; d = d->next) {
		if (strcmp(d->key, key) == 0)
			return d;
	}
	if (!create || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	str_copy(d->key, sizeof(d->key), key);
	d->next = r->dests;
	r->dests = d;
	return d;
}

static void
conn_opened(struct remote *r, const char *key)
{
	struct dest_count *d = dest_find(r, key, true);

	r->nconn++;
	if (d)
		d->n++;
}

/* A connection is gone from the counts (overall and per destination). */
static void
conn_uncount(struct remote *r, const char *key)
{
	struct dest_count *d = dest_find(r, key, false), **pp;

	r->nconn--;
	if (d && --d->n == 0) {
		for (pp = &r->dests; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		free(d);
	}
}

/* A connection closed: a waiting delivery may go now. */
static void
conn_closed(struct remote *r, const char *key)
{
	struct rjob *w;

	conn_uncount(r, key);
	if ((w = r->waiters) != NULL) {
		if ((r->waiters = w->wnext) == NULL)
			r->waiters_tail = NULL;
		next_addr(w);
	}
}

/* Closes idle connections that died (timed out, closed by the peer). */
static void
idle_reap(struct remote *r)
{
	struct idle_conn **pp = &r->idle, *ic;

	while ((ic = *pp) != NULL) {
		if (!smtp_client_usable(ic->c)) {
			*pp = ic->next;
			smtp_client_quit(&ic->c);
			conn_uncount(r, ic->key);
			free(ic);
			continue;
		}
		pp = &ic->next;
	}
}

/* Closes the idle connection unused longest (the list's tail). */
static bool
idle_evict_one(struct remote *r)
{
	struct idle_conn **pp = &r->idle, *ic;

	if (*pp == NULL)
		return false;
	while ((*pp)->next)
		pp = &(*pp)->next;
	ic = *pp;
	*pp = NULL;
	smtp_client_quit(&ic->c);
	conn_uncount(r, ic->key);
	free(ic);
	return true;
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct remote *r = arg;
	struct timeval tv = { 5, 0 };

	(void)fd;
	(void)what;
	idle_reap(r);
	evtimer_add(r->reaper, &tv);
}

/*
 * Whether a new connection to key must wait. Idle connections make way:
 * dead ones are dropped, and at the global limit the oldest idle one is
 * closed, so idle connections never starve another destination.
 */
static bool
over_limit(struct remote *r, const char *key)
{
	struct dest_count *d;

	idle_reap(r);
	while (r->nconn >= r->cfg->max_outbound && idle_evict_one(r))
		;
	d = dest_find(r, key, false);
	return r->nconn >= r->cfg->max_outbound ||
	    (d && d->n >= r->cfg->max_outbound_per_dest);
}

struct remote *
remote_new(struct event_base *base, const struct config *cfg, struct dns *dns,
    struct tls *tls)
{
	struct remote *r = calloc(1, sizeof(*r));

	struct timeval tv = { 5, 0 };

	if (r == NULL)
		return NULL;
	r->base = base;
	r->cfg = cfg;
	r->dns = dns;
	r->tls = tls;
	if ((r->reaper = evtimer_new(base, on_reap, r)) == NULL) {
		free(r);
		return NULL;
	}
	evtimer_add(r->reaper, &tv);
	return r;
}

void
remote_set_config(struct remote *r, const struct config *cfg)
{
	r->cfg = cfg;
}

void
remote_free(struct remote **rp)
{
	struct remote *r = *rp;
	struct idle_conn *ic, *next;

	if (r == NULL)
		return;
	struct dest_count *d, *dn;

	for (ic = r->idle; ic; ic = next) {
		next = ic->next;
		smtp_client_close(&ic->c);
		free(ic);
	}
	/* Shutdown: jobs still running are dropped without callbacks; the
	 * queue frees their messages. */
	while (r->jobs) {
		struct rjob *j = r->jobs;

		r->jobs = j->next;
		smtp_client_close(&j->c);
		free(j->rcpt);
		free(j->orcpt);
		free(j->notify);
		free(j->tres);
		free(j);
	}
	if (r->reaper)
		event_free(r->reaper);
	for (d = r->dests; d; d = dn) {
		dn = d->next;
		free(d);
	}
	free(r);
	*rp = NULL;
}

bool
remote_domain_saturated(const struct remote *r, const char *domain)
{
	const struct rjob *j;
	int n = 0;

	for (j = r->jobs; j; j = j->next) {
		if (str_ieq(j->job->domain, domain) && ++n >= r->cfg->max_outbound_per_dest)
			return true;
	}
	return false;
}

int
remote_connections(const struct remote *r)
{
	return r->nconn;
}

static void
addr_key(const struct sockaddr_storage *ss, bool lmtp, char *out, size_t outsize)
{
	char ip[INET6_ADDRSTRLEN];
	int port;

	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;

		snprintf(out, outsize, "lmtp:unix:%.*s", (int)sizeof(sun->sun_path),
		    sun->sun_path);
		return;
	}
	port = sockaddr_text((const struct sockaddr *)ss, ip, sizeof(ip));
	snprintf(out, outsize, "%s%s:%d", lmtp ? "lmtp:" : "", ip, port);
}

/* The name results carry when no server gave one: hop i's host, or the
 * LMTP transport as configured. */
static const char *
hop_name(const struct rjob *j, size_t i)
{
	return j->label[0] ? j->label : j->hops[i].host;
}

/* An idle, still usable connection to key; unusable ones are dropped. */
static struct smtp_client *
idle_take(struct remote *r, const char *key)
{
	struct idle_conn **pp = &r->idle, *ic;
	struct smtp_client *found = NULL;

	while ((ic = *pp) != NULL) {
		if (!smtp_client_usable(ic->c)) {
			char key[KEY_MAX];

			*pp = ic->next;
			str_copy(key, sizeof(key), ic->key);
			smtp_client_quit(&ic->c);
			free(ic);
			conn_closed(r, key);
			pp = &r->idle;   /* conn_closed may have changed the list */
			continue;
		}
		if (found == NULL && strcmp(ic->key, key) == 0) {
			*pp = ic->next;
			found = ic->c;
			free(ic);
			continue;
		}
		pp = &ic->next;
	}
	return found;
}

static void
release_conn(struct rjob *j)
{
	struct remote *r = j->r;
	struct idle_conn *ic;

	if (j->c == NULL)
		return;
	if (smtp_client_usable(j->c) && (ic = calloc(1, sizeof(*ic))) != NULL) {
		struct rjob *w;

		str_copy(ic->key, sizeof(ic->key), j->key);
		ic->c = j->c;
		ic->next = r->idle;
		r->idle = ic;
		j->c = NULL;
		/* A delivery waiting for this destination can take it. */
		for (w = r->waiters; w; w = w->wnext) {
			if (strcmp(w->key, ic->key) == 0)
				break;
		}
		if (w != NULL) {
			struct rjob **pp;

			for (pp = &r->waiters; *pp != w; pp = &(*pp)->wnext)
				;
			*pp = w->wnext;
			if (r->waiters_tail == w) {
				struct rjob *t = r->waiters;

				while (t && t->wnext)
					t = t->wnext;
				r->waiters_tail = t;
			}
			next_addr(w);
		}
	} else {
		smtp_client_quit(&j->c);
		conn_closed(r, j->key);
	}
	j->c = NULL;
}

static void
job_finish(struct rjob *j)
{
	struct remote_job *job = j->job;

	if (j->prev)
		j->prev->next = j->next;
	else
		j->r->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	release_conn(j);
	free(j->rcpt);
	free(j->orcpt);
	free(j->notify);
	free(j->tres);
	free(j);
	job->done(job->arg);
}

/* No server took the message: every recipient gets the last error. */
static void
fail_all(struct rjob *j, enum deliver_status st, const char *dsn,
    const char *relay, const char *detail)
{
	size_t i;

	for (i = 0; i < j->job->n; i++) {
		struct courier_result *res = &j->job->res[j->job->idx[i]];

		res->status = st;
		res->remote_code = 0;
		str_copy(res->dsn, sizeof(res->dsn), dsn);
		str_copy(res->relay, sizeof(res->relay), relay);
		str_copy(res->detail, sizeof(res->detail), detail);
	}
	job_finish(j);
}

static void
on_sent(struct smtp_client *c, void *arg)
{
	struct rjob *j = arg;
	size_t i;

	(void)c;
	for (i = 0; i < j->job->n; i++)
		j->job->res[j->job->idx[i]] = j->tres[i];
	job_finish(j);
}

static void
on_ready(struct smtp_client *c, void *arg)
{
	struct rjob *j = arg;

	if (!smtp_client_usable(c)) {
		snprintf(j->error, sizeof(j->error), "%s", smtp_client_error(c));
		str_copy(j->error_dsn, sizeof(j->error_dsn), smtp_client_error_dsn(c));
		j->error_perm = smtp_client_error_is_perm(c);
		smtp_client_quit(&j->c);
		conn_closed(j->r, j->key);
		if (j->error_perm) {
			fail_all(j, DELIVER_PERM, j->error_dsn, hop_name(j, j->hop), j->error);
			return;
		}
		j->addr++;
		next_addr(j);
		return;
	}
	j->attempted = true;
	smtp_client_send(c, &j->tx, on_sent, j);
}

/* RFC 5321 §5.1: an MX that is one of our own listeners is a loop. */
static bool
is_self(const struct remote *r, const char *key)
{
	char mine[KEY_MAX];
	size_t i;

	for (i = 0; i < r->cfg->nlisteners; i++) {
		const struct config_listener *l = &r->cfg->listeners[i];

		snprintf(mine, sizeof(mine), "%s:%d", l->host, l->port);
		if (strcmp(mine, key) == 0)
			return true;
	}
	return false;
}

static void
next_addr(struct rjob *j)
{
	struct smtp_client *c;

	if (j->addr >= j->naddrs) {
		j->hop++;
		next_hop(j);
		return;
	}
	addr_key(&j->addrs[j->addr], j->lmtp, j->key, sizeof(j->key));
	/* (An LMTP hop on one of our SMTP listeners fails at LHLO.) */
	if (!j->lmtp && is_self(j->r, j->key)) {
		char why[400];

		/* A reason cut short is still the reason. */
		(void)str_fmt(why, sizeof(why), "mail for %s loops back to myself (%s is %s)",
		    j->job->domain, j->hops[j->hop].host, j->key);
		fail_all(j, DELIVER_PERM, "5.4.6", j->hops[j->hop].host, why);
		return;
	}
	if ((c = idle_take(j->r, j->key)) != NULL) {
		j->c = c;
		j->attempted = true;
		smtp_client_send(c, &j->tx, on_sent, j);
		return;
	}
	if (over_limit(j->r, j->key)) {
		/* Wait for a connection to close or fall idle. */
		j->wnext = NULL;
		if (j->r->waiters_tail)
			j->r->waiters_tail->wnext = j;
		else
			j->r->waiters = j;
		j->r->waiters_tail = j;
		return;
	}
	j->c = smtp_client_connect(j->r->base, j->r->cfg, j->r->tls,
	    (const struct sockaddr *)&j->addrs[j->addr],
	    j->addrs[j->addr].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    j->addrs[j->addr].ss_family == AF_UNIX ? sizeof(struct sockaddr_un) :
	    sizeof(struct sockaddr_in), j->hops[j->hop].host, j->lmtp, on_ready, j);
	if (j->c == NULL) {
		fail_all(j, DELIVER_TEMP, "4.3.0", "none", "out of memory");
		return;
	}
	conn_opened(j->r, j->key);
}

static void
on_addrs(void *arg, enum dns_status st, const struct sockaddr_storage *addrs,
    size_t n)
{
	struct rjob *j = arg;

	if (st != DNS_OK || n == 0) {
		snprintf(j->error, sizeof(j->error), "%s: %s", j->hops[j->hop].host,
		    st == DNS_TEMP ? "temporary DNS failure looking up its address" :
		    "host has no address");
		str_copy(j->error_dsn, sizeof(j->error_dsn), st == DNS_TEMP ? "4.4.3" : "4.4.4");
		j->hop++;
		next_hop(j);
		return;
	}
	j->naddrs = n < MAX_ADDRS_PER_HOP ? n : MAX_ADDRS_PER_HOP;
	memcpy(j->addrs, addrs, j->naddrs * sizeof(addrs[0]));
	j->addr = 0;
	next_addr(j);
}

static void
next_hop(struct rjob *j)
{
	if (j->hop >= j->nhops) {
		/* Every host failed. Permanent only if DNS said so for all. */
		if (j->error[0] == '\0')
			snprintf(j->error, sizeof(j->error), "no usable next hop");
		fail_all(j, DELIVER_TEMP, j->error_dsn[0] ? j->error_dsn : "4.4.1",
		    j->nhops ? hop_name(j, j->nhops - 1) : "none", j->error);
		return;
	}
	if (dns_lookup_addrs(j->r->dns, j->hops[j->hop].host, j->port, on_addrs, j) == -1)
		fail_all(j, DELIVER_TEMP, "4.3.0", "none", "out of memory");
}

static void
on_mx(void *arg, enum dns_status st, const struct dns_mx *hosts, size_t n)
{
	struct rjob *j = arg;
	const char *dom = j->job->domain;
	char why[400];

	switch (st) {
	case DNS_OK:
		j->nhops = n < MAX_HOPS ? n : MAX_HOPS;
		memcpy(j->hops, hosts, j->nhops * sizeof(hosts[0]));
		break;
	case DNS_NODATA:
		/* RFC 5321 §5.1: no MX, the domain itself is the implicit MX. */
		str_copy(j->hops[0].host, sizeof(j->hops[0].host), dom);
		j->nhops = 1;
		break;
	case DNS_NULLMX:
		snprintf(why, sizeof(why), "domain %s accepts no mail (null MX, RFC 7505)", dom);
		fail_all(j, DELIVER_PERM, "5.1.10", dom, why);
		return;
	case DNS_NXDOMAIN:
		snprintf(why, sizeof(why), "domain %s does not exist (NXDOMAIN)", dom);
		fail_all(j, DELIVER_PERM, "5.1.2", dom, why);
		return;
	case DNS_TEMP:
		snprintf(why, sizeof(why), "temporary DNS failure looking up MX for %s", dom);
		fail_all(j, DELIVER_TEMP, "4.4.3", dom, why);
		return;
	}
	j->hop = 0;
	next_hop(j);
}

void
remote_deliver(struct remote *r, struct remote_job *job)
{
	const struct envelope *env = job->env;
	const struct config_route *route;
	const struct config_transport *t = job->transport;
	struct rjob *j = calloc(1, sizeof(*j));
	size_t i;

	if (j == NULL || (j->rcpt = calloc(job->n, sizeof(char *))) == NULL ||
	    (j->orcpt = calloc(job->n, sizeof(char *))) == NULL ||
	    (j->notify = calloc(job->n, sizeof(unsigned))) == NULL ||
	    (j->tres = calloc(job->n, sizeof(*j->tres))) == NULL) {
		if (j) {
			free(j->rcpt);
			free(j->orcpt);
			free(j->notify);
			free(j);
		}
		for (i = 0; i < job->n; i++) {
			job->res[job->idx[i]].status = DELIVER_TEMP;
			str_copy(job->res[job->idx[i]].detail, sizeof(job->res[0].detail), "out of memory");
		}
		job->done(job->arg);
		return;
	}
	j->r = r;
	j->job = job;
	if ((j->next = r->jobs) != NULL)
		j->next->prev = j;
	r->jobs = j;
	for (i = 0; i < job->n; i++) {
		j->rcpt[i] = env->rcpts[job->idx[i]].addr;
		j->orcpt[i] = env->rcpts[job->idx[i]].orcpt;
		j->notify[i] = env->rcpts[job->idx[i]].notify;
	}
	j->tx.sender = env->sender;
	j->tx.envid = env->envid ? env->envid : "";
	j->tx.ret = env->ret;
	j->tx.body = env->body;
	j->tx.smtputf8 = env->smtputf8;
	j->tx.nrcpt = job->n;
	j->tx.rcpt = j->rcpt;
	j->tx.orcpt = j->orcpt;
	j->tx.notify = j->notify;
	j->tx.res = j->tres;
	j->tx.fd = job->fd;
	j->tx.off = job->off;
	j->tx.len = job->len;
	j->tx.prefix = job->prefix;
	j->tx.prefix_len = job->prefix_len;
	if (t == NULL && (route = config_route_for(r->cfg, job->domain)) != NULL)
		t = &route->hop;
	if (t != NULL && t->kind == TRANSPORT_LMTP_UNIX) {
		/* No name to look up: the socket is the one address. The
		 * path fits sun_path (config.c checks). */
		struct sockaddr_un *sun = (struct sockaddr_un *)&j->addrs[0];

		j->lmtp = true;
		config_transport_text(t, j->label, sizeof(j->label));
		sun->sun_family = AF_UNIX;
		str_copy(sun->sun_path, sizeof(sun->sun_path), t->path);
		str_copy(j->hops[0].host, sizeof(j->hops[0].host), t->path);
		j->nhops = 1;
		j->naddrs = 1;
		next_addr(j);
		return;
	}
	if (t != NULL) {
		if ((j->lmtp = t->kind == TRANSPORT_LMTP))
			config_transport_text(t, j->label, sizeof(j->label));
		str_copy(j->hops[0].host, sizeof(j->hops[0].host), t->host);
		j->nhops = 1;
		j->port = t->port;
		next_hop(j);
		return;
	}
	j->port = r->cfg->smtp_port;
	/* An address literal names its host: no MX lookup (RFC 5321 §5.1). */
	if (job->domain[0] == '[') {
		str_copy(j->hops[0].host, sizeof(j->hops[0].host), job->domain);
		j->nhops = 1;
		next_hop(j);
		return;
	}
	if (dns_lookup_mx(r->dns, job->domain, on_mx, j) == -1)
		fail_all(j, DELIVER_TEMP, "4.3.0", "none", "out of memory");
}
