/*
 * dns_cache: the policy checks' answers kept in the loop's own memory for
 * their TTL. libunbound caches too, but every question to it is a round
 * trip to its worker thread (a pipe write, a wake-up, locks); the checks
 * ask the same five or so names for every message of a busy sender, so a
 * small table in front of it saves most of their DNS cost. Direct-mapped
 * and bounded: a collision replaces the older entry.
 */
#ifndef TERN_DNS_CACHE_H
#define TERN_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/dnsq.h"

#define DNS_CACHE_SLOTS 1024
#define DNS_CACHE_TTL_MAX 3600   /* seconds, whatever the record says */

struct dns_cache;

struct dns_cache *dns_cache_new(void);
void dns_cache_free(struct dns_cache **cp);

/* The answer for (name, type) if held and not expired at now (monotonic
 * seconds), else NULL. Valid until the next dns_cache_put. */
const struct dnsq_answer *dns_cache_get(struct dns_cache *c, const char *name,
    int type, int64_t now);

/* Keeps an answer for ttl seconds (0: not kept; DNSQ_TEMP is never kept). */
void dns_cache_put(struct dns_cache *c, const char *name, int type,
    enum dnsq_status st, const uint8_t *const *rr, const size_t *rrlen,
    size_t n, unsigned ttl, int64_t now);

#endif
