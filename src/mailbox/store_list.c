/*
 * store_list: what a full sync finds in new/ and cur/ (store.c), by base
 * name (the part before ':', a message's identity whatever its flags).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../proto/maildir_name.h"
#include "../proto/tern_index.h"
#include "store_int.h"

void
store_listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->f[i].name);
	free(l->f);
	free(l->slots);
	memset(l, 0, sizeof(*l));
}

static struct found *
listing_new(struct listing *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct found *nf = reallocarray(l->f, cap, sizeof(*nf));

		if (nf == NULL)
			return NULL;
		l->f = nf;
		l->cap = cap;
	}
	memset(&l->f[l->n], 0, sizeof(l->f[0]));
	return &l->f[l->n];
}

int
store_listing_read(struct listing *l, const char *dir, const char *sub)
{
	char path[MBOX_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int dfd;

	if (store_path(path, sizeof(path), dir, sub, NULL) == -1)
		return -1;
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		struct maildir_name mn;
		struct found *f;
		size_t len = strlen(de->d_name);

		if (maildir_name_parse(de->d_name, len, &mn) != MAILDIR_NAME_OK)
			continue;   /* ".", "..", dot files, junk */
		if ((f = listing_new(l)) == NULL || (f->name = malloc(len + 1)) == NULL)
			goto fail;
		memcpy(f->name, de->d_name, len + 1);
		f->base_len = mn.base_len;
		f->in_new = sub[0] == 'n';
		f->flags = mn.info == MAILDIR_INFO_2 ? mn.flags : 0;
		f->keywords = mn.info == MAILDIR_INFO_2 ? mn.keywords : 0;
		f->vsize = mn.has_vsize ? mn.vsize : MBOX_VSIZE_UNKNOWN;
		if (mn.has_size)
			f->size = mn.size;
		else {
			struct stat st;

			if (fstatat(dfd, de->d_name, &st, 0) == -1) {
				free(f->name);
				continue;   /* gone meanwhile */
			}
			f->size = (uint64_t)st.st_size;
			f->date = (int64_t)st.st_mtime;
			f->has_date = true;
		}
		l->n++;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	errno = ENOMEM;
	return -1;
}

/* The names of one folder share most of their octets (the time, the
 * host): the hash must mix them well before its low bits pick a slot. */
static size_t
slot_of(const struct listing *l, const char *base, size_t len)
{
	return (size_t)tern_index_sum(base, len) & (l->nslots - 1);
}

static void
slot_put(struct listing *l, size_t i)
{
	size_t s = slot_of(l, l->f[i].name, l->f[i].base_len);

	while (l->slots[s])
		s = (s + 1) & (l->nslots - 1);
	l->slots[s] = i + 1;
}

int
store_listing_index(struct listing *l)
{
	size_t i, nslots = 16, *slots;

	while (nslots < l->n * 2)
		nslots *= 2;
	if ((slots = calloc(nslots, sizeof(*slots))) == NULL)
		return -1;
	free(l->slots);
	l->slots = slots;
	l->nslots = nslots;
	for (i = 0; i < l->n; i++)
		slot_put(l, i);
	return 0;
}

/* A base in both new/ and cur/ (a crash between link and unlink
 * elsewhere) matches the first. */
struct found *
store_listing_find(struct listing *l, const char *base, size_t len)
{
	size_t s = slot_of(l, base, len);

	for (; l->slots[s]; s = (s + 1) & (l->nslots - 1)) {
		struct found *f = &l->f[l->slots[s] - 1];

		if (f->base_len == len && !f->matched && memcmp(f->name, base, len) == 0)
			return f;
	}
	return NULL;
}

struct found *
store_listing_take(struct listing *l, struct found *f)
{
	struct found *nf;

	if (l->n + 1 >= l->nslots || (nf = listing_new(l)) == NULL)
		return NULL;
	*nf = *f;
	f->name = NULL;
	l->n++;
	/* Half full at most, or as full as memory allows. */
	if (l->n * 2 <= l->nslots || store_listing_index(l) == -1)
		slot_put(l, l->n - 1);
	return nf;
}
