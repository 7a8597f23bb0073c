/*
 * envelope: text encoding of the envelope block.
 *
 *   tern-queue 1
 *   id 0005F3A2B1C4D000
 *   arrival 1764057302
 *   from alice@example.org
 *   ...
 *   rcpt bob@example.net bob@example.net - 6 0
 *   end
 *
 * Values are escaped: octets below 0x21, 0x7f, '%' and a leading '-' become
 * %XX, and an empty value is written "-". So every field is one token and
 * the block is readable with less(1).
 */
#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/str.h"
#include "word.h"

/* Longest line decode reads, newline excluded, plus one. */
#define LINE_MAX_DECODE 8192

int
envelope_set(char **field, const char *value)
{
	char *p = str_dup(value);

	if (p == NULL)
		return -1;
	free(*field);
	*field = p;
	return 0;
}

int
envelope_add_rcpt(struct envelope *env, const char *addr, const char *orig,
    const char *orcpt, unsigned notify, bool local)
{
	struct envelope_rcpt *r;

	if (env->nrcpts == env->rcpt_cap) {
		size_t cap = env->rcpt_cap ? env->rcpt_cap * 2 : 4;

		if ((r = realloc(env->rcpts, cap * sizeof(*r))) == NULL)
			return -1;
		env->rcpts = r;
		env->rcpt_cap = cap;
	}
	r = &env->rcpts[env->nrcpts];
	memset(r, 0, sizeof(*r));
	r->addr = str_dup(addr);
	r->orig = str_dup(orig);
	r->orcpt = str_dup(orcpt);
	if (!r->addr || !r->orig || !r->orcpt) {
		free(r->addr);
		free(r->orig);
		free(r->orcpt);
		return -1;
	}
	r->notify = notify;
	r->local = local;
	env->nrcpts++;
	return 0;
}

void
envelope_clear(struct envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->helo);
	free(env->client);
	free(env->proto);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}

#define S(x) ((x) ? (x) : "")

int
envelope_encode(const struct envelope *env, struct buf *out)
{
	size_t i, ll, start = out->len;
	int rc = 0;

	rc |= buf_printf(out, "tern-queue %d\nid %s\narrival %lld\n",
	    ENVELOPE_VERSION, env->id, (long long)env->arrival);
	rc |= buf_append_str(out, "from ");
	rc |= word_put(out, S(env->sender));
	rc |= buf_append_str(out, "\nhelo ");
	rc |= word_put(out, S(env->helo));
	rc |= buf_append_str(out, "\nclient ");
	rc |= word_put(out, S(env->client));
	rc |= buf_append_str(out, "\nproto ");
	rc |= word_put(out, S(env->proto));
	rc |= buf_append_str(out, "\nenvid ");
	rc |= word_put(out, S(env->envid));
	rc |= buf_printf(out, "\nbody %d\nret %d\nsmtputf8 %d\n", env->body,
	    env->ret, env->smtputf8 ? 1 : 0);
	if (env->dkim)
		rc |= buf_append_str(out, "dkim 1\n");
	if (env->arc)
		rc |= buf_append_str(out, "arc 1\n");
	for (i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		rc |= buf_append_str(out, "rcpt ");
		rc |= word_put(out, r->addr);
		rc |= buf_append_char(out, ' ');
		rc |= word_put(out, r->orig);
		rc |= buf_append_char(out, ' ');
		rc |= word_put(out, r->orcpt);
		rc |= buf_printf(out, " %u %d\n", r->notify, r->local ? 1 : 0);
	}
	rc |= buf_append_str(out, "end\n");
	/* Escaping can triple a value: refuse a block decode could not read
	 * back, rather than queue a message that recovery would drop. */
	for (i = start, ll = 0; rc == 0 && i < out->len; i++) {
		ll = out->data[i] == '\n' ? 0 : ll + 1;
		if (ll >= LINE_MAX_DECODE)
			rc = -1;
	}
	return rc ? -1 : 0;
}

static int
get_int(const char *s, long long min, long long max, long long *v)
{
	char *end;

	if (*s == '\0')
		return -1;
	*v = strtoll(s, &end, 10);
	return (*end || *v < min || *v > max) ? -1 : 0;
}

int
envelope_decode(const char *data, size_t len, struct envelope *env,
    size_t *hdrlen_r)
{
	size_t pos = 0;
	int lineno = 0, seen_end = 0;
	unsigned seen = 0;
	char line[LINE_MAX_DECODE];

	while (pos < len && !seen_end) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t ll;
		char *tok[6], *v;
		int n;
		long long iv;

		if (nl == NULL)
			return -1;
		ll = (size_t)(nl - (data + pos));
		if (ll >= sizeof(line) || memchr(data + pos, '\0', ll))
			return -1;
		memcpy(line, data + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;
		if ((n = word_split(line, tok, 6)) < 1)
			return -1;
		if (lineno++ == 0) {
			if (n != 2 || strcmp(tok[0], "tern-queue") != 0 ||
			    strcmp(tok[1], "1") != 0)
				return -1;
			continue;
		}
		if (strcmp(tok[0], "end") == 0 && n == 1) {
			seen_end = 1;
			continue;
		}
		if (strcmp(tok[0], "rcpt") == 0) {
			char *addr, *orig, *orcpt;
			long long notify, local;

			if (n != 6 || !(addr = word_get(tok[1])) ||
			    !(orig = word_get(tok[2])) || !(orcpt = word_get(tok[3])) ||
			    get_int(tok[4], 0, 15, &notify) || get_int(tok[5], 0, 1, &local) ||
			    *addr == '\0' ||
			    envelope_add_rcpt(env, addr, orig, orcpt, (unsigned)notify, local))
				return -1;
			continue;
		}
		if (n != 2 || (v = word_get(tok[1])) == NULL)
			return -1;
		if (strcmp(tok[0], "id") == 0) {
			if (!ids_valid_queue_id(v))
				return -1;
			memcpy(env->id, v, QUEUE_ID_LEN + 1);
			seen |= 1;
		} else if (strcmp(tok[0], "arrival") == 0) {
			if (get_int(v, 0, 1LL << 40, &iv))
				return -1;
			env->arrival = iv;
			seen |= 2;
		} else if (strcmp(tok[0], "from") == 0) {
			if (envelope_set(&env->sender, v))
				return -1;
			seen |= 4;
		} else if (strcmp(tok[0], "helo") == 0) {
			if (envelope_set(&env->helo, v))
				return -1;
		} else if (strcmp(tok[0], "client") == 0) {
			if (envelope_set(&env->client, v))
				return -1;
		} else if (strcmp(tok[0], "proto") == 0) {
			if (envelope_set(&env->proto, v))
				return -1;
		} else if (strcmp(tok[0], "envid") == 0) {
			if (envelope_set(&env->envid, v))
				return -1;
		} else if (strcmp(tok[0], "body") == 0) {
			if (get_int(v, 0, 2, &iv))
				return -1;
			env->body = (int)iv;
		} else if (strcmp(tok[0], "ret") == 0) {
			if (get_int(v, 0, 2, &iv))
				return -1;
			env->ret = (int)iv;
		} else if (strcmp(tok[0], "dkim") == 0) {
			if (get_int(v, 0, 1, &iv))
				return -1;
			env->dkim = iv == 1;
		} else if (strcmp(tok[0], "arc") == 0) {
			if (get_int(v, 0, 1, &iv))
				return -1;
			env->arc = iv == 1;
		} else if (strcmp(tok[0], "smtputf8") == 0) {
			if (get_int(v, 0, 1, &iv))
				return -1;
			env->smtputf8 = iv == 1;
		} else
			return -1;
	}
	if (!seen_end || seen != 7 || env->nrcpts == 0)
		return -1;
	*hdrlen_r = pos;
	return 0;
}

void
envelope_trailer(uint64_t msglen, char out[ENVELOPE_TRAILER_LEN + 1])
{
	snprintf(out, ENVELOPE_TRAILER_LEN + 1, "\nTERN-END %016llX\n",
	    (unsigned long long)msglen);
}

int64_t
envelope_trailer_parse(const char *p, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len != ENVELOPE_TRAILER_LEN || memcmp(p, "\nTERN-END ", 10) != 0 ||
	    p[ENVELOPE_TRAILER_LEN - 1] != '\n')
		return -1;
	for (i = 10; i < ENVELOPE_TRAILER_LEN - 1; i++) {
		int h = word_hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint64_t)h;
	}
	return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}
