/*
 * dns: asynchronous lookups through libunbound, for routing mail (MX with
 * implicit-MX and null-MX handling, A/AAAA). Results are classified as the
 * queue needs them: found, permanent (NXDOMAIN, null MX) or temporary.
 */
#ifndef TERN_DNS_H
#define TERN_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "../common/buf.h"

struct config;
struct event_base;
struct dns;

enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN,   /* 5.1.2 */
	DNS_NODATA,     /* the name exists, without records of that type */
	DNS_NULLMX,     /* RFC 7505: 5.1.10 */
	DNS_TEMP,       /* SERVFAIL, timeout: try later */
};

struct dns_mx {
	char host[256];
	int pref;
};

/* hosts are sorted by preference, equal preferences shuffled. */
typedef void (*dns_mx_cb)(void *arg, enum dns_status st,
    const struct dns_mx *hosts, size_t n);
/* addrs carry the given port; IPv6 first, then IPv4. */
typedef void (*dns_addr_cb)(void *arg, enum dns_status st,
    const struct sockaddr_storage *addrs, size_t n);

struct dns *dns_new(struct event_base *base, const struct config *cfg,
    struct buf *errs);
void dns_free(struct dns **dp);

/* The callback always runs later, from the loop. Returns -1 on ENOMEM. */
int dns_lookup_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg);
int dns_lookup_addrs(struct dns *d, const char *host, int port,
    dns_addr_cb cb, void *arg);

/*
 * Any record type, for the policy checks: each record's rdata as libunbound
 * gives it (wire form). st is DNS_OK (n >= 1), DNS_NXDOMAIN, DNS_NODATA
 * or DNS_TEMP. rr and rrlen are valid only during the callback.
 */
typedef void (*dns_raw_cb)(void *arg, enum dns_status st,
    const unsigned char *const *rr, const size_t *rrlen, size_t n);
/* 0 or -1 (ENOMEM). The callback always runs, later, from the loop. */
int dns_lookup_raw(struct dns *d, const char *name, int type, dns_raw_cb cb,
    void *arg);

/*
 * The replay model (proto/dnsq.h) on the loop: runs eval(arg, cache) and,
 * while it returns DNSQ_NEED, fetches the answer it asked for, stores it
 * and runs eval again. Past timeout_ms every further query is answered
 * DNSQ_TEMP without asking, so the evaluation ends with its temporary
 * error. done(arg, rc) gets eval's final result, always from the loop,
 * never from within dns_eval_start. The cache is the caller's and must
 * live until done or dns_eval_cancel.
 */
struct dnsq_cache;
struct dns_eval;
typedef int (*dns_eval_fn)(void *arg, struct dnsq_cache *c);
typedef void (*dns_eval_done_fn)(void *arg, int rc);
struct dns_eval *dns_eval_start(struct dns *d, struct dnsq_cache *c,
    unsigned timeout_ms, dns_eval_fn eval, dns_eval_done_fn done, void *arg);
/* Frees an evaluation, stopping it if done has not run yet (done may
 * call this); *ep becomes NULL. */
void dns_eval_cancel(struct dns_eval **ep);

#endif
