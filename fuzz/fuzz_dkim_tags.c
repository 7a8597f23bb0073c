/*
 * fuzz_dkim_tags: the DKIM tag-list grammar (RFC 6376 §3.2) and the
 * DKIM-Signature and key record decoders over arbitrary text. Checked:
 * every tag lies inside the input, its name is ALPHA *(ALPHA / DIGIT /
 * "_"), no name repeats, its value lies inside its raw span right after
 * "=", holds no ";" and has no FWS at either end; what the decoders give
 * is NUL-terminated within its array, lengths within their bounds, the
 * h= names inside the input, and a reason exactly when they fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "policy/dkim_tags.h"

static int
alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
check_str(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

static void
check_tags(const char *in, size_t size)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	size_t n, i, j;

	if (dkim_tags_parse(in, size, tags, DKIM_TAGS_MAX, &n) != DKIM_TAGS_OK)
		return;
	CHECK(n <= DKIM_TAGS_MAX);
	for (i = 0; i < n; i++) {
		const struct dkim_tag *t = &tags[i];

		CHECK(t->name >= in && t->name + t->nlen <= in + size);
		CHECK(t->nlen > 0 && alpha(t->name[0]));
		for (j = 1; j < t->nlen; j++)
			CHECK(alpha(t->name[j]) || (t->name[j] >= '0' && t->name[j] <= '9') ||
			    t->name[j] == '_');
		CHECK(t->raw_off > 0 && t->raw_off + t->raw_len <= size);
		CHECK(in[t->raw_off - 1] == '=');
		CHECK(t->val >= in + t->raw_off);
		CHECK(t->val + t->vlen <= in + t->raw_off + t->raw_len);
		CHECK(memchr(in + t->raw_off, ';', t->raw_len) == NULL);
		CHECK(t->raw_off + t->raw_len == size || in[t->raw_off + t->raw_len] == ';');
		if (t->vlen > 0)
			CHECK(!fws(t->val[0]) && !fws(t->val[t->vlen - 1]));
		for (j = 0; j < i; j++)
			CHECK(tags[j].nlen != t->nlen || memcmp(tags[j].name, t->name, t->nlen) != 0);
		CHECK(dkim_tags_find(tags, n, "") == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	static struct dkim_sig sig;
	static struct dkim_keyrec k;
	char why[64];
	size_t i;

	check_tags(in, size);

	if (dkim_sig_parse(in, size, &sig, why, sizeof(why)) == 0) {
		CHECK(why[0] == '\0');
		CHECK(sig.d[0] != '\0' && sig.s[0] != '\0');
		CHECK(sig.nh >= 1 && sig.nh <= DKIM_SIG_H_MAX);
		for (i = 0; i < sig.nh; i++)
			CHECK(sig.h[i].len > 0 && sig.h[i].off + sig.h[i].len <= size);
		CHECK(sig.bhlen <= DKIM_SIG_BH_MAX && sig.blen <= DKIM_SIG_B_MAX);
		CHECK(sig.b_raw_off + sig.b_raw_len <= size);
		CHECK(strchr(sig.i, '@') != NULL);
		for (i = 0; sig.d[i]; i++)
			CHECK(!(sig.d[i] >= 'A' && sig.d[i] <= 'Z'));
	} else
		CHECK(why[0] != '\0');
	check_str(sig.a, sizeof(sig.a));
	check_str(sig.d, sizeof(sig.d));
	check_str(sig.s, sizeof(sig.s));
	check_str(sig.i, sizeof(sig.i));
	check_str(sig.b_prefix, sizeof(sig.b_prefix));
	CHECK(strlen(sig.b_prefix) <= 8);

	if (dkim_keyrec_parse(in, size, &k, why, sizeof(why)) == 0) {
		CHECK(why[0] == '\0');
		CHECK(k.plen <= DKIM_KEY_P_MAX);
		CHECK(!k.revoked || k.plen == 0);
	} else
		CHECK(why[0] != '\0');
	return 0;
}
