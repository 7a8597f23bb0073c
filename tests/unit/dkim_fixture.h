/*
 * dkim_fixture: what the DKIM and ARC verification tests
 * (test_dkim_verify.c, test_arc.c) share: key records put into a dnsq
 * cache as TXT answers, and the files make.py wrote for them (messages
 * signed by dkimpy, keys.txt), found through an environment variable
 * that meson sets. Included by a test file only, after cmocka.h (static
 * functions).
 */
#ifndef TERN_TEST_DKIM_FIXTURE_H
#define TERN_TEST_DKIM_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proto/dnsq.h"

/* One TXT answer of n records, each text cut into character-strings of
 * at most 255. */
static void
dkim_fixture_put_txt(struct dnsq_cache *c, const char *name,
    const char *const *txt, size_t n)
{
	uint8_t *rr[8];
	size_t rrlen[8], i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		size_t len = strlen(txt[i]), o = 0, k = 0;

		rr[i] = malloc(len + len / 255 + 2);
		assert_non_null(rr[i]);
		do {
			size_t l = len - k > 255 ? 255 : len - k;

			rr[i][o++] = (uint8_t)l;
			memcpy(rr[i] + o, txt[i] + k, l);
			o += l;
			k += l;
		} while (k < len);
		rrlen[i] = o;
	}
	assert_int_equal(dnsq_put(c, name, DNSQ_TXT, DNSQ_OK,
	    (const uint8_t *const *)rr, rrlen, n), 0);
	for (i = 0; i < n; i++)
		free(rr[i]);
}

static void
dkim_fixture_put_key(struct dnsq_cache *c, const char *name, const char *txt)
{
	dkim_fixture_put_txt(c, name, &txt, 1);
}

/* An answer without records: NXDOMAIN, NODATA, TEMP. */
static void
dkim_fixture_put_status(struct dnsq_cache *c, const char *name,
    enum dnsq_status st)
{
	assert_int_equal(dnsq_put(c, name, DNSQ_TXT, st, NULL, NULL, 0), 0);
}

/* The file name in $env, else in dir (a run from the source tree); the
 * caller frees it. */
static char *
dkim_fixture_read(const char *env, const char *dir, const char *name,
    size_t *len)
{
	const char *d = getenv(env);
	char path[1024];
	struct buf b = BUF_INIT;
	FILE *f;

	if (d == NULL)
		d = dir;
	snprintf(path, sizeof(path), "%s/%s", d, name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: cannot open (%s?)", path, env);
	assert_int_equal(buf_append_stream(&b, f), 0);
	fclose(f);
	*len = b.len;
	return b.data;
}

/* keys.txt: "NAME<TAB>RECORD" lines, into the cache. */
static void
dkim_fixture_load_keys(struct dnsq_cache *c, const char *env, const char *dir)
{
	size_t len, i = 0;
	char *k = dkim_fixture_read(env, dir, "keys.txt", &len);

	while (i < len) {
		char *nl = memchr(k + i, '\n', len - i), *tab;

		assert_non_null(nl);
		*nl = '\0';
		tab = strchr(k + i, '\t');
		assert_non_null(tab);
		*tab = '\0';
		dkim_fixture_put_key(c, k + i, tab + 1);
		i = (size_t)(nl - k) + 1;
	}
	free(k);
}

#endif
