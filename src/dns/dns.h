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

#endif
