/*
 * passwd_table: load and search the users file with its passwords (see
 * passwd_table.h). The file is walked, and its lines parsed, by
 * proto/passwd (passwd_file_each).
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

/* What passwd_table_load's walk needs to hand on. */
struct load {
	struct passwd_table *t;
	size_t cap;
	const char *path;
	struct buf *errs;
	bool bad;
};

/* passwd_file_each's callback: one user, or one line to complain about.
 * -1 (out of memory) stops the walk. */
static int
load_line(void *arg, size_t lineno, const char *line, size_t len,
    enum passwd_line kind, const struct passwd_entry *e)
{
	struct load *ld = arg;
	struct passwd_table *t = ld->t;
	struct passwd_user *u;

	(void)line;
	(void)len;
	switch (kind) {
	case PASSWD_BAD_USER:
		buf_printf(ld->errs, "%s:%zu: the first field is not user@domain\n",
		    ld->path, lineno);
		ld->bad = true;
		return 0;
	case PASSWD_BAD_BYTES:
		buf_printf(ld->errs, "%s:%zu: control characters\n", ld->path, lineno);
		ld->bad = true;
		return 0;
	case PASSWD_SKIP:   /* never handed over */
		return 0;
	case PASSWD_ENTRY:
		break;
	}
	if (t->n == ld->cap) {
		size_t ncap = ld->cap ? ld->cap * 2 : 64;
		struct passwd_user *nu = reallocarray(t->u, ncap, sizeof(*nu));

		if (nu == NULL)
			return -1;
		t->u = nu;
		ld->cap = ncap;
	}
	u = &t->u[t->n];
	u->user = dup_span(e->user, e->user_len);
	u->pass = dup_span(e->pass, e->pass_len);
	u->extra = dup_span(e->extra, e->extra_len);
	if (!u->user || !u->pass || !u->extra) {
		user_clear(u);
		return -1;
	}
	str_lower(u->user);
	t->n++;
	return 0;
}

struct passwd_table *
passwd_table_load(const char *path, struct buf *errs)
{
	struct load ld = { .path = path, .errs = errs };
	struct buf text = BUF_INIT;
	bool ok = false;
	FILE *f;

	if ((ld.t = calloc(1, sizeof(*ld.t))) == NULL)
		return NULL;
	if ((f = fopen(path, "r")) == NULL) {
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
		free(ld.t);
		return NULL;
	}
	if (buf_append_stream(&text, f) == -1)
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
	else if (passwd_file_each(text.data, text.len, load_line, &ld) == -1)
		buf_printf(errs, "%s: out of memory\n", path);
	else
		ok = !ld.bad;
	fclose(f);
	buf_wipe(&text);   /* it held the password hashes */
	if (!ok) {
		passwd_table_free(&ld.t);
		return NULL;
	}
	if (ld.t->n)
		qsort(ld.t->u, ld.t->n, sizeof(ld.t->u[0]), cmp_user);
	return ld.t;
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
