/*
 * limtab: a fixed-capacity table of counters that live for a time window,
 * keyed by short byte strings (a client's address prefix, an account name
 * with that prefix). Made for counting failures that clients can cause at
 * line rate: the table never grows after limtab_new(); when it is full the
 * least recently touched counter makes room. No libevent, no logging; the
 * caller passes the time, so tests can too.
 */
#ifndef TERN_LIMTAB_H
#define TERN_LIMTAB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest key: a type byte, an address prefix and an SMTP path. */
#define LIMTAB_KEY_MAX 288

struct limtab;

struct limtab_stats {
	size_t capacity;    /* entries, fixed */
	size_t used;        /* entries in use now */
	uint64_t evicted;   /* live counters dropped to make room, ever */
};

/* A table of capacity counters (>= 1) that reset window seconds after their
 * first count; NULL on ENOMEM. */
struct limtab *limtab_new(size_t capacity, time_t window);
void limtab_free(struct limtab **tp);

/* The count for key now (0 when unknown or expired). Does not add an
 * entry, but marks a found one as used: a counter that is looked at often
 * (a locked client that keeps trying) is the last to be evicted. */
unsigned limtab_count(struct limtab *t, const void *key, size_t keylen, time_t now);
/* Adds one to key's count (making its entry, evicting the least recently
 * touched one when full) and returns the new count. A key longer than
 * LIMTAB_KEY_MAX is cut, which only merges counters of absurd keys. */
unsigned limtab_add(struct limtab *t, const void *key, size_t keylen, time_t now);
void limtab_stats(const struct limtab *t, struct limtab_stats *st);

/*
 * The network a client address is counted under: IPv4 /32 and IPv6 /64
 * (one customer's allocation: an attacker with a /64 has 2^64 addresses).
 * Writes the family byte and the prefix octets into out; returns the
 * length (5 or 9), or 0 for another family.
 */
size_t limtab_addr_prefix(int family, const unsigned char addr[16], unsigned char out[9]);

#endif
