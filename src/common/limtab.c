/*
 * limtab: bounded, expiring counters (see limtab.h).
 *
 * Design: every entry is allocated once, in one array of `capacity`
 * entries; buckets and entries are linked by 32-bit indexes. Each entry is
 * on one bucket chain and on one LRU list (head = touched last). A new key
 * takes an entry never used yet, else the LRU tail, which is unlinked from
 * its chain first: so the table costs the same whatever the clients send,
 * and a lookup walks one chain. The hash is seeded at random per table, so
 * a client cannot aim its keys at one chain; even then a chain cannot
 * be longer than the capacity.
 */
#include "limtab.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NIL UINT32_MAX

struct entry {
	uint32_t hnext;            /* bucket chain */
	uint32_t prev, next;       /* LRU list */
	uint16_t keylen;
	unsigned n;
	time_t since;              /* first count of this window */
	unsigned char key[LIMTAB_KEY_MAX];
};

struct limtab {
	size_t cap, unused;        /* entries [unused, cap) never used yet */
	size_t nbuckets;           /* a power of two */
	uint32_t *buckets;
	struct entry *e;
	uint32_t head, tail;
	size_t used;
	uint64_t evicted;
	time_t window;
	uint64_t seed;
};

struct limtab *
limtab_new(size_t capacity, time_t window)
{
	struct limtab *t;
	size_t i;

	if (capacity == 0 || capacity >= NIL)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->cap = capacity;
	t->window = window;
	t->nbuckets = 1;
	while (t->nbuckets < capacity)
		t->nbuckets <<= 1;
	/* calloc: pages of entries not used yet are never touched. */
	t->e = calloc(capacity, sizeof(*t->e));
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	if (t->e == NULL || t->buckets == NULL) {
		limtab_free(&t);
		return NULL;
	}
	for (i = 0; i < t->nbuckets; i++)
		t->buckets[i] = NIL;
	t->head = t->tail = NIL;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
	return t;
}

void
limtab_free(struct limtab **tp)
{
	struct limtab *t = *tp;

	if (t == NULL)
		return;
	free(t->e);
	free(t->buckets);
	free(t);
	*tp = NULL;
}

/* FNV-1a from a secret starting point, then a finalizer that spreads the
 * low bits the bucket index uses. */
static size_t
bucket_of(const struct limtab *t, const unsigned char *k, size_t len)
{
	uint64_t h = t->seed ^ 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ k[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)(h & (t->nbuckets - 1));
}

static void
lru_unlink(struct limtab *t, uint32_t i)
{
	struct entry *x = &t->e[i];

	if (x->prev != NIL)
		t->e[x->prev].next = x->next;
	else
		t->head = x->next;
	if (x->next != NIL)
		t->e[x->next].prev = x->prev;
	else
		t->tail = x->prev;
}

static void
lru_push_head(struct limtab *t, uint32_t i)
{
	struct entry *x = &t->e[i];

	x->prev = NIL;
	x->next = t->head;
	if (t->head != NIL)
		t->e[t->head].prev = i;
	t->head = i;
	if (t->tail == NIL)
		t->tail = i;
}

static uint32_t
find(const struct limtab *t, size_t b, const unsigned char *k, size_t len)
{
	uint32_t i;

	for (i = t->buckets[b]; i != NIL; i = t->e[i].hnext) {
		if (t->e[i].keylen == len && memcmp(t->e[i].key, k, len) == 0)
			return i;
	}
	return NIL;
}

static bool
expired(const struct limtab *t, const struct entry *x, time_t now)
{
	return now - x->since >= t->window || now < x->since;
}

unsigned
limtab_count(struct limtab *t, const void *key, size_t keylen, time_t now)
{
	uint32_t i;

	if (keylen > LIMTAB_KEY_MAX)
		keylen = LIMTAB_KEY_MAX;
	i = find(t, bucket_of(t, key, keylen), key, keylen);
	if (i == NIL || expired(t, &t->e[i], now))
		return 0;
	lru_unlink(t, i);
	lru_push_head(t, i);
	return t->e[i].n;
}

/* An entry for a new key: a fresh one, else the least recently touched. */
static uint32_t
take_entry(struct limtab *t, time_t now)
{
	uint32_t i, *pp;
	struct entry *x;

	if (t->unused < t->cap) {
		t->used++;
		return (uint32_t)t->unused++;
	}
	i = t->tail;
	x = &t->e[i];
	lru_unlink(t, i);
	pp = &t->buckets[bucket_of(t, x->key, x->keylen)];
	while (*pp != i)
		pp = &t->e[*pp].hnext;
	*pp = x->hnext;
	if (!expired(t, x, now))
		t->evicted++;
	return i;
}

unsigned
limtab_add(struct limtab *t, const void *key, size_t keylen, time_t now)
{
	size_t b;
	uint32_t i;
	struct entry *x;

	if (keylen > LIMTAB_KEY_MAX)
		keylen = LIMTAB_KEY_MAX;
	b = bucket_of(t, key, keylen);
	if ((i = find(t, b, key, keylen)) != NIL) {
		x = &t->e[i];
		lru_unlink(t, i);
		if (expired(t, x, now)) {
			x->n = 0;
			x->since = now;
		}
	} else {
		i = take_entry(t, now);
		x = &t->e[i];
		memcpy(x->key, key, keylen);
		x->keylen = (uint16_t)keylen;
		x->n = 0;
		x->since = now;
		x->hnext = t->buckets[b];
		t->buckets[b] = i;
	}
	lru_push_head(t, i);
	if (x->n < UINT_MAX)
		x->n++;
	return x->n;
}

void
limtab_stats(const struct limtab *t, struct limtab_stats *st)
{
	st->capacity = t->cap;
	st->used = t->used;
	st->evicted = t->evicted;
}

size_t
limtab_addr_prefix(int family, const unsigned char addr[16], unsigned char out[9])
{
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		/* ::ffff:a.b.c.d on a dual-stack socket is an IPv4 client. */
		out[0] = 4;
		memcpy(out + 1, addr + 12, 4);
		return 5;
	}
	if (family == AF_INET) {
		out[0] = 4;
		memcpy(out + 1, addr, 4);
		return 5;
	}
	if (family == AF_INET6) {
		out[0] = 6;
		memcpy(out + 1, addr, 8);
		return 9;
	}
	return 0;
}
