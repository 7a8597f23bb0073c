/*
 * dns_cache: a direct-mapped table of policy answers (see dns_cache.h).
 */
#include "dns_cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/str.h"

struct slot {
	struct dnsq_answer *a;    /* owned, rdata in one block after it */
	int64_t expires;
};

struct dns_cache {
	struct slot slot[DNS_CACHE_SLOTS];
};

/* FNV-1a over the name without case and final dot, and the type. */
static size_t
slot_of(const char *name, int type)
{
	uint32_t h = 2166136261u;
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		h = (h ^ ch) * 16777619u;
	}
	h = (h ^ (uint32_t)type) * 16777619u;
	return h % DNS_CACHE_SLOTS;
}

static bool
same_name(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na > 0 && a[na - 1] == '.')
		na--;
	if (nb > 0 && b[nb - 1] == '.')
		nb--;
	return na == nb && strncasecmp(a, b, na) == 0;
}

struct dns_cache *
dns_cache_new(void)
{
	return calloc(1, sizeof(struct dns_cache));
}

void
dns_cache_free(struct dns_cache **cp)
{
	struct dns_cache *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < DNS_CACHE_SLOTS; i++)
		free(c->slot[i].a);
	free(c);
	*cp = NULL;
}

const struct dnsq_answer *
dns_cache_get(struct dns_cache *c, const char *name, int type, int64_t now)
{
	struct slot *s = &c->slot[slot_of(name, type)];

	if (s->a == NULL || s->a->type != type || !same_name(s->a->name, name))
		return NULL;
	if (now >= s->expires) {
		free(s->a);
		s->a = NULL;
		return NULL;
	}
	return s->a;
}

void
dns_cache_put(struct dns_cache *c, const char *name, int type,
    enum dnsq_status st, const uint8_t *const *rr, const size_t *rrlen,
    size_t n, unsigned ttl, int64_t now)
{
	struct slot *s = &c->slot[slot_of(name, type)];
	struct dnsq_answer *a;
	size_t total = sizeof(*a), i;
	uint8_t *p;

	if (ttl == 0 || st == DNSQ_TEMP || strlen(name) >= sizeof(a->name))
		return;
	if (n > DNSQ_MAX_RR)
		n = DNSQ_MAX_RR;
	for (i = 0; i < n; i++) {
		if (rrlen[i] > SIZE_MAX - total)
			return;
		total += rrlen[i];
	}
	/* One block: the answer, then its records' octets. */
	if ((a = calloc(1, total)) == NULL)
		return;
	str_copy(a->name, sizeof(a->name), name);
	a->type = type;
	a->st = st;
	a->n = n;
	p = (uint8_t *)(a + 1);
	for (i = 0; i < n; i++) {
		if (rrlen[i] > 0)
			memcpy(p, rr[i], rrlen[i]);
		a->rr[i] = p;
		a->rrlen[i] = rrlen[i];
		p += rrlen[i];
	}
	free(s->a);
	s->a = a;
	s->expires = now + (ttl > DNS_CACHE_TTL_MAX ? DNS_CACHE_TTL_MAX : ttl);
}
