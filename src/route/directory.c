/*
 * directory: users and aliases, as sorted arrays searched with bsearch.
 */
#include "directory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/str.h"
#include "../proto/passwd.h"
#include "../proto/quota_rule.h"

struct alias {
	char *key;
	char **targets;
	size_t ntargets;
};

struct user {
	char *address;           /* lower case */
	bool has_quota;          /* the users file gave one (quota=none too) */
	struct quota_rule quota;
};

struct directory {
	struct user *users;      /* sorted by address */
	size_t nusers;
	uint64_t quota_default;  /* octets, for users without a quota of their own */
	struct alias *aliases;
	size_t naliases;
};

static int
cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct user *)a)->address, ((const struct user *)b)->address);
}

static int
cmp_alias(const void *a, const void *b)
{
	return strcmp(((const struct alias *)a)->key, ((const struct alias *)b)->key);
}

static int
push(void **arr, size_t *n, size_t size)
{
	void *p;

	/* Capacity is 8, then doubles: full when n is 8 or a larger power of 2. */
	if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
		size_t cap = *n ? *n * 2 : 8, bytes;

		if (__builtin_mul_overflow(cap, size, &bytes) ||
		    (p = realloc(*arr, bytes)) == NULL)
			return -1;
		*arr = p;
	}
	return 0;
}

/* What load_users's walk needs to hand on. */
struct users_load {
	struct directory *d;
	const char *path;
	struct buf *errs;
	bool bad;
};

/* The length of the user field of a line that is not an entry, as the
 * error names it: up to a ':', a CR or a NUL. */
static size_t
user_field_len(const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && line[n] != ':' && line[n] != '\r' && line[n] != '\0')
		n++;
	return n;
}

/* passwd_file_each's callback: one user, or one line to complain about.
 * -1 (out of memory) stops the walk. */
static int
users_line(void *arg, size_t lineno, const char *line, size_t len,
    enum passwd_line kind, const struct passwd_entry *e)
{
	struct users_load *ul = arg;
	struct directory *d = ul->d;
	struct user u = { 0 };
	enum quota_rule_err qe;
	const char *bad = "";
	size_t badlen = 0;

	switch (kind) {
	case PASSWD_SKIP:   /* never handed over */
		return 0;
	case PASSWD_BAD_USER:
	case PASSWD_BAD_BYTES:
		buf_printf(ul->errs, "%s:%zu: user '%.*s' is not user@domain\n", ul->path,
		    lineno, (int)user_field_len(line, len), line);
		ul->bad = true;
		return 0;
	case PASSWD_ENTRY:
		break;
	}
	qe = quota_rule_from_extra(e->extra, e->extra_len, &u.quota, &u.has_quota, &bad,
	    &badlen);
	if (qe != QUOTA_RULE_OK) {
		buf_printf(ul->errs, "%s:%zu: '%.*s': %s\n", ul->path, lineno, (int)badlen, bad,
		    quota_rule_strerror(qe));
		ul->bad = true;
		return 0;
	}
	if ((u.address = str_dupn(e->user, e->user_len)) == NULL ||
	    push((void **)&d->users, &d->nusers, sizeof(struct user)) == -1) {
		free(u.address);
		return -1;
	}
	str_lower(u.address);
	d->users[d->nusers++] = u;
	return 0;
}

/* Reads users from f (named path in errors); f stays open. Only the user
 * names and quotas are kept: passwords are the keeper's (auth/passwd_table). */
static int
load_users(struct directory *d, FILE *f, const char *path, struct buf *errs)
{
	struct users_load ul = { .d = d, .path = path, .errs = errs };
	struct buf text = BUF_INIT;
	int rc;

	if ((rc = buf_append_stream(&text, f)) == -1)
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
	else
		rc = passwd_file_each(text.data, text.len, users_line, &ul);
	buf_wipe(&text);   /* it may hold password hashes */
	if (d->nusers)
		qsort(d->users, d->nusers, sizeof(struct user), cmp_user);
	return (ul.bad || rc) ? -1 : 0;
}

/* Reads aliases from f (named path in errors); f stays open. */
static int
load_aliases(struct directory *d, FILE *f, const char *path, struct buf *errs)
{
	char line[8192];
	int lineno = 0, bad = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s = str_trim(line), *colon, *t;
		struct alias a = { 0 };

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		if ((colon = strchr(s, ':')) == NULL || colon == s) {
			buf_printf(errs, "%s:%d: expected 'name: target, ...'\n", path, lineno);
			bad = 1;
			continue;
		}
		*colon = '\0';
		if ((a.key = str_dup(str_trim(s))) == NULL)
			goto nomem;
		str_lower(a.key);
		for (t = strtok(colon + 1, ", \t"); t; t = strtok(NULL, ", \t")) {
			char *dup = str_dup(t);

			if (dup == NULL || push((void **)&a.targets, &a.ntargets, sizeof(char *)) == -1) {
				free(dup);
				goto nomem_alias;
			}
			str_lower(dup);
			a.targets[a.ntargets++] = dup;
		}
		if (a.ntargets == 0) {
			buf_printf(errs, "%s:%d: alias '%s' has no targets\n", path, lineno, a.key);
			bad = 1;
			free(a.key);
			continue;
		}
		if (push((void **)&d->aliases, &d->naliases, sizeof(struct alias)) == -1)
			goto nomem_alias;
		d->aliases[d->naliases++] = a;
		continue;
nomem_alias:
		while (a.ntargets)
			free(a.targets[--a.ntargets]);
		free(a.targets);
		free(a.key);
nomem:
		return -1;
	}
	if (d->naliases)
		qsort(d->aliases, d->naliases, sizeof(struct alias), cmp_alias);
	return bad ? -1 : 0;
}

struct directory *
directory_load_files(FILE *users, const char *users_name, FILE *aliases,
    const char *aliases_name, struct buf *errs)
{
	struct directory *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (load_users(d, users, users_name, errs) == -1 ||
	    (aliases && load_aliases(d, aliases, aliases_name, errs) == -1)) {
		directory_free(&d);
		return NULL;
	}
	return d;
}

void
directory_free(struct directory **dp)
{
	struct directory *d = *dp;
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nusers; i++)
		free(d->users[i].address);
	free(d->users);
	for (i = 0; i < d->naliases; i++) {
		while (d->aliases[i].ntargets)
			free(d->aliases[i].targets[--d->aliases[i].ntargets]);
		free(d->aliases[i].targets);
		free(d->aliases[i].key);
	}
	free(d->aliases);
	free(d);
	*dp = NULL;
}

static const struct user *
find_user(const struct directory *d, const char *address)
{
	struct user key = { .address = (char *)address };

	if (d->nusers == 0)
		return NULL;
	return bsearch(&key, d->users, d->nusers, sizeof(key), cmp_user);
}

bool
directory_has_user(const struct directory *d, const char *address)
{
	return find_user(d, address) != NULL;
}

void
directory_set_quota_default(struct directory *d, uint64_t bytes)
{
	d->quota_default = bytes;
}

bool
directory_quota(const struct directory *d, const char *address, uint64_t *bytes_r,
    uint64_t *messages_r)
{
	const struct user *u = find_user(d, address);

	*bytes_r = *messages_r = 0;
	if (u == NULL)
		return false;
	if (u->has_quota) {
		*bytes_r = u->quota.bytes;
		*messages_r = u->quota.messages;
	} else
		*bytes_r = d->quota_default;
	return *bytes_r != 0 || *messages_r != 0;
}

const char *const *
directory_alias(const struct directory *d, const char *key, size_t *n_r)
{
	struct alias k = { .key = (char *)key }, *a;

	if (d->naliases == 0 ||
	    (a = bsearch(&k, d->aliases, d->naliases, sizeof(k), cmp_alias)) == NULL)
		return NULL;
	*n_r = a->ntargets;
	return (const char *const *)a->targets;
}

size_t
directory_user_count(const struct directory *d)
{
	return d->nusers;
}
