/*
 * dns: libunbound on the loop.
 *
 * libunbound runs its queries on a worker thread of its own (ub_ctx_async)
 * and signals results through a file descriptor; the loop watches that fd
 * and calls ub_process(), which runs our callbacks on the loop thread. We
 * use this mode rather than ub_ctx_create_event() because the latter hands
 * back raw DNS packets, and parsing those would add a DNS message parser
 * of our own to the attack surface; here libunbound parses and validates,
 * and we interpret only rdata (proto/dns_rdata.c, fuzzed).
 */
#include "dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../proto/dns_rdata.h"
#include "../proto/dnsq.h"
#include "dns_cache.h"

#define MAX_MX    32
#define MAX_ADDRS 32
#define RR_A      1
#define RR_MX     15
#define RR_AAAA   28

struct dns {
	struct ub_ctx *ctx;
	struct dns_cache *cache;     /* policy answers, for their TTL */
	struct event *ev;
	struct event_base *base;
};

/* Each question notes when it was asked (metrics_now) for the latency
 * histogram; libunbound's callbacks run on the loop, in ub_process. */
struct mx_req {
	dns_mx_cb cb;
	void *arg;
	double asked;
};

struct addr_req {
	struct dns *d;
	dns_addr_cb cb;
	void *arg;
	int port;
	int pending;
	double asked;
	int nx, temp;
	struct sockaddr_storage v6[MAX_ADDRS], v4[MAX_ADDRS];
	size_t n6, n4;
};

static void
on_ub_fd(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	(void)fd;
	(void)what;
	if (ub_process(d->ctx) != 0)
		log_warnx("dns: ub_process failed");
}

struct dns *
dns_new(struct event_base *base, const struct config *cfg, struct buf *errs)
{
	struct dns *d = calloc(1, sizeof(*d));
	int rc;

	if (d == NULL || (d->ctx = ub_ctx_create()) == NULL) {
		free(d);
		buf_printf(errs, "dns: cannot create the resolver\n");
		return NULL;
	}
	d->base = base;
	d->cache = dns_cache_new();   /* none: every question goes to libunbound */
	/* A forwarder on loopback is what tests and local caches use. */
	ub_ctx_set_option(d->ctx, "do-not-query-localhost:", "no");
	if (cfg->resolver[0])
		rc = ub_ctx_set_fwd(d->ctx, cfg->resolver);
	else
		rc = ub_ctx_resolvconf(d->ctx, NULL);
	if (rc != 0 || (rc = ub_ctx_async(d->ctx, 1)) != 0) {
		buf_printf(errs, "dns: resolver %s: %s\n",
		    cfg->resolver[0] ? cfg->resolver : "/etc/resolv.conf", ub_strerror(rc));
		dns_free(&d);
		return NULL;
	}
	if ((d->ev = event_new(base, ub_fd(d->ctx), EV_READ | EV_PERSIST, on_ub_fd, d)) == NULL ||
	    event_add(d->ev, NULL) == -1) {
		buf_printf(errs, "dns: cannot watch the resolver\n");
		dns_free(&d);
		return NULL;
	}
	return d;
}

void
dns_free(struct dns **dp)
{
	struct dns *d = *dp;

	if (d == NULL)
		return;
	if (d->ev)
		event_free(d->ev);
	if (d->ctx)
		ub_ctx_delete(d->ctx);
	dns_cache_free(&d->cache);
	free(d);
	*dp = NULL;
}

static int
cmp_mx(const void *a, const void *b)
{
	return ((const struct dns_mx *)a)->pref - ((const struct dns_mx *)b)->pref;
}

static void
on_mx(void *arg, int err, struct ub_result *res)
{
	struct mx_req *r = arg;
	struct dns_mx hosts[MAX_MX];
	size_t n = 0, i, j;

	metrics_dns_observe(metrics_now() - r->asked);
	if (err != 0 || res == NULL || (res->rcode != 0 && res->rcode != 3)) {
		r->cb(r->arg, DNS_TEMP, NULL, 0);
		goto out;
	}
	if (res->nxdomain) {
		r->cb(r->arg, DNS_NXDOMAIN, NULL, 0);
		goto out;
	}
	for (i = 0; res->havedata && res->data[i] && n < MAX_MX; i++) {
		if (dns_rdata_mx((const unsigned char *)res->data[i], (size_t)res->len[i],
		    &hosts[n].pref, hosts[n].host, sizeof(hosts[n].host)) == 0)
			n++;
	}
	if (n == 0) {
		r->cb(r->arg, res->havedata ? DNS_TEMP : DNS_NODATA, NULL, 0);
		goto out;
	}
	/* RFC 7505: a single MX "." means the domain takes no mail. */
	if (n == 1 && hosts[0].host[0] == '\0') {
		r->cb(r->arg, DNS_NULLMX, NULL, 0);
		goto out;
	}
	/* RFC 5321 §5.1: by preference, equal preferences in random order. */
	for (i = n; i > 1; i--) {
		j = (size_t)arc4random_uniform((uint32_t)i);
		struct dns_mx t = hosts[i - 1];
		hosts[i - 1] = hosts[j];
		hosts[j] = t;
	}
	/* A stable sort keeps the shuffle within each preference. */
	for (i = 1; i < n; i++) {
		struct dns_mx t = hosts[i];

		for (j = i; j > 0 && cmp_mx(&hosts[j - 1], &t) > 0; j--)
			hosts[j] = hosts[j - 1];
		hosts[j] = t;
	}
	/* Drop root names left among real hosts. */
	for (i = j = 0; i < n; i++) {
		if (hosts[i].host[0])
			hosts[j++] = hosts[i];
	}
	r->cb(r->arg, j ? DNS_OK : DNS_NULLMX, hosts, j);
out:
	if (res)
		ub_resolve_free(res);
	free(r);
}

int
dns_lookup_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg)
{
	struct mx_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->cb = cb;
	r->arg = arg;
	r->asked = metrics_now();
	if (ub_resolve_async(d->ctx, domain, RR_MX, 1, r, on_mx, NULL) != 0) {
		free(r);
		return -1;
	}
	return 0;
}

static void
addr_finish(struct addr_req *r)
{
	struct sockaddr_storage all[2 * MAX_ADDRS];
	size_t n = 0, i;
	enum dns_status st;

	for (i = 0; i < r->n6; i++)
		all[n++] = r->v6[i];
	for (i = 0; i < r->n4; i++)
		all[n++] = r->v4[i];
	if (n > 0)
		st = DNS_OK;
	else if (r->temp)
		st = DNS_TEMP;
	else if (r->nx)
		st = DNS_NXDOMAIN;
	else
		st = DNS_NODATA;
	r->cb(r->arg, st, all, n);
	free(r);
}

static void
on_addr(void *arg, int err, struct ub_result *res)
{
	struct addr_req *r = arg;
	size_t i;

	metrics_dns_observe(metrics_now() - r->asked);
	if (err != 0 || res == NULL || (res->rcode != 0 && res->rcode != 3))
		r->temp = 1;
	else if (res->nxdomain)
		r->nx = 1;
	else if (res->havedata) {
		for (i = 0; res->data[i]; i++) {
			if (res->qtype == RR_A && res->len[i] == 4 && r->n4 < MAX_ADDRS) {
				struct sockaddr_in *sin = (struct sockaddr_in *)&r->v4[r->n4++];

				memset(sin, 0, sizeof(r->v4[0]));
				sin->sin_family = AF_INET;
				sin->sin_port = htons((uint16_t)r->port);
				memcpy(&sin->sin_addr, res->data[i], 4);
			} else if (res->qtype == RR_AAAA && res->len[i] == 16 && r->n6 < MAX_ADDRS) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->v6[r->n6++];

				memset(sin6, 0, sizeof(r->v6[0]));
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons((uint16_t)r->port);
				memcpy(&sin6->sin6_addr, res->data[i], 16);
			}
		}
	}
	if (res)
		ub_resolve_free(res);
	if (--r->pending == 0)
		addr_finish(r);
}

static void
on_literal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	addr_finish(arg);
}

int
dns_lookup_addrs(struct dns *d, const char *host, int port, dns_addr_cb cb,
    void *arg)
{
	struct addr_req *r = calloc(1, sizeof(*r));
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	char lit[256];
	size_t n;

	if (r == NULL)
		return -1;
	r->d = d;
	r->cb = cb;
	r->arg = arg;
	r->port = port;
	/* An address literal needs no lookup: "192.0.2.1", "[2001:db8::1]". */
	n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		/* RFC 5321 §4.1.3: "[192.0.2.1]", "[IPv6:2001:db8::1]" */
		if (n > 7 && strncasecmp(host + 1, "IPv6:", 5) == 0)
			str_copyn(lit, sizeof(lit), host + 6, n - 7);
		else
			str_copyn(lit, sizeof(lit), host + 1, n - 2);
	} else
		str_copy(lit, sizeof(lit), host);
	sin = (struct sockaddr_in *)&r->v4[0];
	sin6 = (struct sockaddr_in6 *)&r->v6[0];
	if (inet_pton(AF_INET, lit, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		r->n4 = 1;
	} else if (inet_pton(AF_INET6, lit, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		r->n6 = 1;
	}
	if (r->n4 || r->n6) {
		if (event_base_once(d->base, -1, EV_TIMEOUT, on_literal, r, NULL) == -1) {
			free(r);
			return -1;
		}
		return 0;
	}
	memset(r->v4, 0, sizeof(r->v4[0]));
	memset(r->v6, 0, sizeof(r->v6[0]));
	r->pending = 2;
	r->asked = metrics_now();
	if (ub_resolve_async(d->ctx, host, RR_AAAA, 1, r, on_addr, NULL) != 0) {
		free(r);
		return -1;
	}
	if (ub_resolve_async(d->ctx, host, RR_A, 1, r, on_addr, NULL) != 0) {
		/* The AAAA query is in flight and owns r now. */
		r->temp = 1;
		r->pending--;
	}
	return 0;
}

/* Raw lookups, for the policy checks. */

static enum dnsq_status dnsq_status_of(enum dns_status st);

struct raw_req {
	struct dns *d;
	char name[DNSQ_NAME_MAX];
	int type;
	int id;                 /* libunbound's, for ub_cancel */
	double asked;
	dns_raw_cb cb;          /* NULL: given up, the answer is dropped */
	void *arg;
};

static int64_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void
on_raw(void *arg, int err, struct ub_result *res)
{
	struct raw_req *r = arg;
	const unsigned char *rr[DNSQ_MAX_RR] = { NULL };
	size_t len[DNSQ_MAX_RR] = { 0 }, n = 0;
	enum dns_status st;

	metrics_dns_observe(metrics_now() - r->asked);
	if (err != 0 || res == NULL || (res->rcode != 0 && res->rcode != 3))
		st = DNS_TEMP;
	else if (res->nxdomain)
		st = DNS_NXDOMAIN;
	else {
		for (; res->havedata && res->data[n] && n < DNSQ_MAX_RR; n++) {
			rr[n] = (const unsigned char *)res->data[n];
			len[n] = (size_t)res->len[n];
		}
		st = n > 0 ? DNS_OK : DNS_NODATA;
	}
	if (st != DNS_TEMP && r->d->cache && res->ttl > 0)
		dns_cache_put(r->d->cache, r->name, r->type, dnsq_status_of(st),
		    (const uint8_t *const *)rr, len, n, (unsigned)res->ttl, mono_seconds());
	if (r->cb)
		r->cb(r->arg, st, rr, len, n);
	if (res)
		ub_resolve_free(res);
	free(r);
}

static struct raw_req *
raw_start(struct dns *d, const char *name, int type, dns_raw_cb cb, void *arg)
{
	struct raw_req *r;
	char qname[DNSQ_QNAME_MAX];

	/* Policy names come from the network (SPF macros): escaped, so
	 * that libunbound asks for exactly the octets given. */
	if (dnsq_qname_escape(name, qname, sizeof(qname)) == -1 ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->d = d;
	str_copy(r->name, sizeof(r->name), name);
	r->type = type;
	r->cb = cb;
	r->arg = arg;
	r->asked = metrics_now();
	if (ub_resolve_async(d->ctx, qname, type, 1, r, on_raw, &r->id) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* A question nobody waits for any more: libunbound forgets it (so that
 * nothing is left in flight at shutdown); if it cannot, the answer is
 * dropped when it comes. */
static void
raw_cancel(struct raw_req *r)
{
	if (ub_cancel(r->d->ctx, r->id) == 0)
		free(r);
	else
		r->cb = NULL;
}

int
dns_lookup_raw(struct dns *d, const char *name, int type, dns_raw_cb cb,
    void *arg)
{
	return raw_start(d, name, type, cb, arg) ? 0 : -1;
}

/* The replay driver (see dns.h). */

struct dns_eval {
	struct dns *d;
	struct dnsq_cache *c;
	dns_eval_fn eval;
	dns_eval_done_fn done;
	void *arg;
	struct event *ev;       /* the next step, run from the loop */
	struct event *timer;    /* the deadline, for an answer that never comes */
	struct timeval deadline;
	struct raw_req *q;      /* the question in flight, if any */
	int rc;
};

static void eval_step(evutil_socket_t fd, short what, void *arg);

static void
eval_schedule(struct dns_eval *e)
{
	static const struct timeval now = { 0, 0 };

	event_add(e->ev, &now);
}

static enum dnsq_status
dnsq_status_of(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return DNSQ_OK;
	case DNS_NXDOMAIN:
		return DNSQ_NXDOMAIN;
	case DNS_NODATA:
	case DNS_NULLMX:
		return DNSQ_NODATA;
	default:
		return DNSQ_TEMP;
	}
}

static void
on_eval_answer(void *arg, enum dns_status st, const unsigned char *const *rr,
    const size_t *rrlen, size_t n)
{
	struct dns_eval *e = arg;

	e->q = NULL;   /* on_raw frees it */
	if (dnsq_put(e->c, e->c->need_name, e->c->need_type, dnsq_status_of(st),
	    (const uint8_t *const *)rr, rrlen, n) == -1)
		dnsq_put(e->c, e->c->need_name, e->c->need_type, DNSQ_TEMP, NULL, NULL, 0);
	eval_schedule(e);
}

/* The deadline passed with a query in flight: abandon it, as timed out. */
static void
on_eval_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct dns_eval *e = arg;

	(void)fd;
	(void)what;
	if (e->q == NULL)
		return;
	raw_cancel(e->q);
	e->q = NULL;
	if (dnsq_put(e->c, e->c->need_name, e->c->need_type, DNSQ_TEMP, NULL, NULL, 0) == -1)
		e->c->need = false;
	eval_schedule(e);
}

static void
eval_step(evutil_socket_t fd, short what, void *arg)
{
	struct dns_eval *e = arg;
	struct timeval now;

	(void)fd;
	(void)what;
	for (;;) {
		e->c->need = false;
		e->rc = e->eval(e->arg, e->c);
		if (e->rc != DNSQ_NEED || !e->c->need)
			break;
		gettimeofday(&now, NULL);
		/* Past the deadline, or a name no query can carry: a
		 * temporary error without asking. */
		if (!timercmp(&now, &e->deadline, <) || !dnsq_name_ok(e->c->need_name)) {
			if (dnsq_put(e->c, e->c->need_name, e->c->need_type,
			    timercmp(&now, &e->deadline, <) ? DNSQ_NXDOMAIN : DNSQ_TEMP,
			    NULL, NULL, 0) == -1)
				break;
			continue;
		}
		/* Held here from an earlier message: no round trip. */
		if (e->d->cache) {
			const struct dnsq_answer *a = dns_cache_get(e->d->cache,
			    e->c->need_name, e->c->need_type, mono_seconds());

			if (a != NULL) {
				if (dnsq_put(e->c, e->c->need_name, e->c->need_type, a->st,
				    (const uint8_t *const *)a->rr, a->rrlen, a->n) == -1)
					break;
				continue;
			}
		}
		if ((e->q = raw_start(e->d, e->c->need_name, e->c->need_type,
		    on_eval_answer, e)) == NULL)
			break;
		return;   /* on_eval_answer schedules the next step */
	}
	if (e->rc == DNSQ_NEED)
		e->rc = -1;   /* out of memory: the caller's temporary error */
	event_del(e->timer);
	e->done(e->arg, e->rc);
}

struct dns_eval *
dns_eval_start(struct dns *d, struct dnsq_cache *c, unsigned timeout_ms,
    dns_eval_fn eval, dns_eval_done_fn done, void *arg)
{
	struct dns_eval *e = calloc(1, sizeof(*e));
	struct timeval now, span = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (e == NULL)
		return NULL;
	e->d = d;
	e->c = c;
	e->eval = eval;
	e->done = done;
	e->arg = arg;
	gettimeofday(&now, NULL);
	timeradd(&now, &span, &e->deadline);
	if ((e->ev = evtimer_new(d->base, eval_step, e)) == NULL ||
	    (e->timer = evtimer_new(d->base, on_eval_deadline, e)) == NULL ||
	    evtimer_add(e->timer, &span) == -1) {
		if (e->ev)
			event_free(e->ev);
		if (e->timer)
			event_free(e->timer);
		free(e);
		return NULL;
	}
	eval_schedule(e);
	return e;
}

void
dns_eval_cancel(struct dns_eval **ep)
{
	struct dns_eval *e = *ep;

	if (e == NULL)
		return;
	if (e->q)
		raw_cancel(e->q);
	event_free(e->ev);
	event_free(e->timer);
	free(e);
	*ep = NULL;
}
