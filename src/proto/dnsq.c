/*
 * dnsq: the answer cache of the replay model (see the header). A linear
 * list: an evaluation sees a few dozen answers at most (SPF stops at 10
 * lookups plus their address queries), so a hash would cost more than it
 * saves.
 */
#include "dnsq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
dnsq_init(struct dnsq_cache *c)
{
	memset(c, 0, sizeof(*c));
}

static void
answer_free(struct dnsq_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->rr[i]);
	free(a);
}

void
dnsq_release(struct dnsq_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		answer_free(c->a[i]);
	free(c->a);
	dnsq_init(c);
}

/* Length of name without one final dot. */
static size_t
name_len(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[n - 1] == '.' ? n - 1 : n;
}

bool
dnsq_name_ok(const char *name)
{
	size_t n = name_len(name), label = 0, i;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63)
			return false;
	}
	return label > 0;
}

const struct dnsq_answer *
dnsq_get(struct dnsq_cache *c, const char *name, int type)
{
	size_t n = name_len(name), i;

	for (i = 0; i < c->n; i++) {
		const struct dnsq_answer *a = c->a[i];

		if (a->type == type && strlen(a->name) == n &&
		    strncasecmp(a->name, name, n) == 0)
			return a;
	}
	if (!c->need) {
		c->need = true;
		if (n >= sizeof(c->need_name))
			n = sizeof(c->need_name) - 1;
		memcpy(c->need_name, name, n);
		c->need_name[n] = '\0';
		c->need_type = type;
	}
	return NULL;
}

int
dnsq_put(struct dnsq_cache *c, const char *name, int type,
    enum dnsq_status st, const uint8_t *const *rr, const size_t *rrlen, size_t n)
{
	struct dnsq_answer *a;
	size_t len = name_len(name), i;

	if (len >= sizeof(a->name))
		len = sizeof(a->name) - 1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct dnsq_answer **na = realloc(c->a, cap * sizeof(*na));

		if (na == NULL)
			return -1;
		c->a = na;
		c->cap = cap;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -1;
	memcpy(a->name, name, len);
	a->name[len] = '\0';
	a->type = type;
	a->st = st;
	for (i = 0; st == DNSQ_OK && i < n && a->n < DNSQ_MAX_RR; i++) {
		if ((a->rr[a->n] = malloc(rrlen[i] ? rrlen[i] : 1)) == NULL) {
			answer_free(a);
			return -1;
		}
		memcpy(a->rr[a->n], rr[i], rrlen[i]);
		a->rrlen[a->n++] = rrlen[i];
	}
	/* "OK" with nothing usable is what the RFCs call no data. */
	if (st == DNSQ_OK && a->n == 0)
		a->st = DNSQ_NODATA;
	c->a[c->n++] = a;
	c->need = false;
	return 0;
}

int
dnsq_txt(const uint8_t *rd, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0;

	if (outsize == 0)
		return -1;
	while (i < len) {
		size_t l = rd[i++];

		if (i + l > len || o + l >= outsize)
			return -1;
		memcpy(out + o, rd + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	/* A NUL inside would cut the record short where the parser reads it. */
	return memchr(out, '\0', o) ? -1 : (int)o;
}

int
dnsq_qname_escape(const char *name, char *out, size_t outsize)
{
	size_t o = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++) {
		if (o + 5 >= outsize)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outsize - o, "\\%03u", *p);
	}
	out[o] = '\0';
	return 0;
}
