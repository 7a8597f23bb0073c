/*
 * passwd_table: load and search the users file with its passwords (see
 * passwd_table.h). Lines are parsed by proto/passwd.
 */
#include "passwd_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../common/str.h"
#include "../proto/passwd.h"

struct passwd_user {
	char *user;        /* lower case */
	char *pass;        /* "{SCHEME}hash" or "" */
	char *extra;       /* the extra fields, or "" */
};

struct passwd_table {
	struct passwd_user *u;
	size_t n;
};

static int
cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct passwd_user *)a)->user, ((const struct passwd_user *)b)->user);
}

static char *
dup_span(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void
user_clear(struct passwd_user *u)
{
	if (u->pass) {
		OPENSSL_cleanse(u->pass, strlen(u->pass));
		free(u->pass);
	}
	free(u->user);
	free(u->extra);
}

void
passwd_table_free(struct passwd_table **tp)
{
	struct passwd_table *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		user_clear(&t->u[i]);
	free(t->u);
	free(t);
	*tp = NULL;
}

struct passwd_table *
passwd_table_load(const char *path, struct buf *errs)
{
	struct passwd_table *t = calloc(1, sizeof(*t));
	size_t cap = 0, lineno = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t got;
	bool bad = false;
	FILE *f;

	if (t == NULL)
		return NULL;
	if ((f = fopen(path, "r")) == NULL) {
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
		free(t);
		return NULL;
	}
	while ((got = getline(&line, &linecap, f)) != -1) {
		size_t len = (size_t)got;
		struct passwd_entry e;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		switch (passwd_parse_line(line, len, &e)) {
		case PASSWD_SKIP:
			continue;
		case PASSWD_BAD_USER:
			buf_printf(errs, "%s:%zu: the first field is not user@domain\n", path, lineno);
			bad = true;
			continue;
		case PASSWD_BAD_BYTES:
			buf_printf(errs, "%s:%zu: control characters\n", path, lineno);
			bad = true;
			continue;
		case PASSWD_ENTRY:
			break;
		}
		if (t->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct passwd_user *nu = reallocarray(t->u, ncap, sizeof(*nu));

			if (nu == NULL)
				goto nomem;
			t->u = nu;
			cap = ncap;
		}
		t->u[t->n].user = dup_span(e.user, e.user_len);
		t->u[t->n].pass = dup_span(e.pass, e.pass_len);
		t->u[t->n].extra = dup_span(e.extra, e.extra_len);
		if (!t->u[t->n].user || !t->u[t->n].pass || !t->u[t->n].extra) {
			user_clear(&t->u[t->n]);
			goto nomem;
		}
		str_lower(t->u[t->n].user);
		t->n++;
	}
	if (line) {
		OPENSSL_cleanse(line, linecap);
		free(line);
	}
	fclose(f);
	if (bad) {
		passwd_table_free(&t);
		return NULL;
	}
	if (t->n)
		qsort(t->u, t->n, sizeof(t->u[0]), cmp_user);
	return t;
nomem:
	buf_printf(errs, "%s: out of memory\n", path);
	if (line) {
		OPENSSL_cleanse(line, linecap);
		free(line);
	}
	fclose(f);
	passwd_table_free(&t);
	return NULL;
}

const char *
passwd_table_password(const struct passwd_table *t, const char *user)
{
	struct passwd_user key = { .user = (char *)user }, *u;

	if (t->n == 0 || (u = bsearch(&key, t->u, t->n, sizeof(key), cmp_user)) == NULL)
		return NULL;
	return u->pass;
}

int
passwd_table_write_public(const struct passwd_table *t, FILE *f)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if ((t->u[i].extra[0] ? fprintf(f, "%s:::::::%s\n", t->u[i].user, t->u[i].extra) :
		    fprintf(f, "%s\n", t->u[i].user)) < 0)
			return -1;
	}
	return fflush(f) == 0 ? 0 : -1;
}
