/*
 * router: alias and subaddress expansion for local domains.
 *
 * Lookup order for local@domain (local domain): the alias "local@domain",
 * the alias "local", the user "local@domain"; then the same for the part
 * before '+' (subaddressing); then postmaster and abuse fall back to the
 * configured postmaster (RFC 5321 §4.5.1, RFC 2142).
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/str.h"

static enum route_status expand(const struct config *, const struct directory *,
    const char *, int, struct route_list *);

void
route_list_clear(struct route_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->dests[i].address);
	free(l->dests);
	memset(l, 0, sizeof(*l));
}

enum route_status
route_list_add(struct route_list *l, const char *address, bool local)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->dests[i].address, address) == 0)
			return ROUTE_OK;
	}
	if (l->n >= ROUTE_MAX_EXPANSION)
		return ROUTE_TOO_MANY;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct route_dest *p = realloc(l->dests, cap * sizeof(*p));

		if (p == NULL)
			return ROUTE_NOMEM;
		l->dests = p;
		l->cap = cap;
	}
	if ((l->dests[l->n].address = str_dup(address)) == NULL)
		return ROUTE_NOMEM;
	l->dests[l->n++].local = local;
	return ROUTE_OK;
}

/* Tries aliases and the user table for local@domain (no '+' handling). */
static enum route_status
lookup(const struct config *cfg, const struct directory *dir,
    const char *local, const char *domain, int depth, struct route_list *out,
    bool *found)
{
	char key[600], target[600];
	const char *const *t;
	size_t n, i;
	enum route_status st;

	*found = false;
	snprintf(key, sizeof(key), "%s@%s", local, domain);
	if ((t = directory_alias(dir, key, &n)) == NULL)
		t = directory_alias(dir, local, &n);
	if (t != NULL) {
		*found = true;
		for (i = 0; i < n; i++) {
			if (strchr(t[i], '@'))
				snprintf(target, sizeof(target), "%s", t[i]);
			else
				snprintf(target, sizeof(target), "%s@%s", t[i], domain);
			/* "bob: bob, alice" keeps a copy in bob's own mailbox. */
			if (strcmp(target, key) == 0 && directory_has_user(dir, key))
				st = route_list_add(out, key, true);
			else
				st = expand(cfg, dir, target, depth + 1, out);
			if (st != ROUTE_OK)
				return st;
		}
		return ROUTE_OK;
	}
	if (directory_has_user(dir, key)) {
		*found = true;
		return route_list_add(out, key, true);
	}
	return ROUTE_OK;
}

static enum route_status
expand(const struct config *cfg, const struct directory *dir,
    const char *address, int depth, struct route_list *out)
{
	char local[512], domain[300], *at, *plus;
	enum route_status st;
	bool found;

	if (depth > ROUTE_MAX_DEPTH)
		return ROUTE_LOOP;
	if ((at = strrchr(address, '@')) == NULL ||
	    str_copyn(local, sizeof(local), address, (size_t)(at - address)) == -1 ||
	    str_copy(domain, sizeof(domain), at + 1) == -1)
		return ROUTE_UNKNOWN_USER;
	str_lower(local);
	str_lower(domain);
	if (!config_is_local_domain(cfg, domain)) {
		if (depth == 0)
			return ROUTE_NOT_LOCAL;
		snprintf(local + strlen(local), sizeof(local) - strlen(local), "@%s", domain);
		return route_list_add(out, local, false);
	}
	if ((st = lookup(cfg, dir, local, domain, depth, out, &found)) != ROUTE_OK || found)
		return st;
	if ((plus = strchr(local, '+')) != NULL && plus != local) {
		*plus = '\0';
		if ((st = lookup(cfg, dir, local, domain, depth, out, &found)) != ROUTE_OK || found)
			return st;
	}
	if ((strcmp(local, "postmaster") == 0 || strcmp(local, "abuse") == 0)) {
		char self[600];

		/* Too long to be the configured postmaster: not it. */
		if (str_fmt(self, sizeof(self), "%s@%s", local, domain) == -1 ||
		    !str_ieq(cfg->postmaster, self))
			return expand(cfg, dir, cfg->postmaster, depth + 1, out);
	}
	return ROUTE_UNKNOWN_USER;
}

enum route_status
router_expand(const struct config *cfg, const struct directory *dir,
    const char *local, const char *domain, struct route_list *out)
{
	char address[600];

	if (domain[0] == '\0')   /* <postmaster> without a domain */
		return expand(cfg, dir, cfg->postmaster, 1, out);
	if (snprintf(address, sizeof(address), "%s@%s", local, domain) >= (int)sizeof(address))
		return ROUTE_UNKNOWN_USER;
	return expand(cfg, dir, address, 0, out);
}
