/*
 * test_envelope: the queue file's envelope block and trailer. Encoding then
 * decoding must give back every field; anything short of a whole, well-formed
 * block must be refused, since recovery trusts what decodes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(x) ((x) ? (x) : "")

static const char golden[] =
    "tern-queue 1\n"
    "id 0005F3A2B1C4D000\n"
    "arrival 1764057302\n"
    "from alice@example.org\n"
    "helo mail.example.org\n"
    "client 192.0.2.1\n"
    "proto ESMTP\n"
    "envid -\n"
    "body 0\n"
    "ret 0\n"
    "smtputf8 0\n"
    "rcpt bob@example.net bob@example.net - 6 1\n"
    "end\n";

static void
make_simple(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	memcpy(env->id, "0005F3A2B1C4D000", QUEUE_ID_LEN + 1);
	env->arrival = 1764057302;
	assert_int_equal(envelope_set(&env->sender, "alice@example.org"), 0);
	assert_int_equal(envelope_set(&env->helo, "mail.example.org"), 0);
	assert_int_equal(envelope_set(&env->client, "192.0.2.1"), 0);
	assert_int_equal(envelope_set(&env->proto, "ESMTP"), 0);
	assert_int_equal(envelope_set(&env->envid, ""), 0);
	assert_int_equal(envelope_add_rcpt(env, "bob@example.net",
	    "bob@example.net", "", 6, true), 0);
}

static void
assert_env_equal(const struct envelope *a, const struct envelope *b)
{
	size_t i;

	assert_string_equal(a->id, b->id);
	assert_true(a->arrival == b->arrival);
	assert_string_equal(S(a->sender), S(b->sender));
	assert_string_equal(S(a->helo), S(b->helo));
	assert_string_equal(S(a->client), S(b->client));
	assert_string_equal(S(a->proto), S(b->proto));
	assert_string_equal(S(a->envid), S(b->envid));
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->dkim, b->dkim);
	assert_int_equal(a->arc, b->arc);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (i = 0; i < a->nrcpts; i++) {
		assert_string_equal(a->rcpts[i].addr, b->rcpts[i].addr);
		assert_string_equal(a->rcpts[i].orig, b->rcpts[i].orig);
		assert_string_equal(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
		assert_int_equal(a->rcpts[i].notify, b->rcpts[i].notify);
		assert_int_equal(a->rcpts[i].local, b->rcpts[i].local);
	}
}

/* Encodes env, decodes it back (with trailing message data after the block)
 * and compares. */
static void
round_trip(const struct envelope *env)
{
	struct buf b = BUF_INIT;
	struct envelope back;
	size_t hdrlen = 0, blen;

	assert_int_equal(envelope_encode(env, &b), 0);
	blen = b.len;
	assert_int_equal(buf_append_str(&b, "Subject: x\r\n\r\nbody\r\n"), 0);
	memset(&back, 0, sizeof(back));
	if (envelope_decode(b.data, b.len, &back, &hdrlen) != 0)
		fail_msg("decode failed:\n%s", b.data);
	assert_int_equal(hdrlen, blen);
	assert_env_equal(env, &back);
	envelope_clear(&back);
	buf_release(&b);
}

static void
test_golden(void **state)
{
	struct envelope env, back;
	struct buf b = BUF_INIT;
	size_t hdrlen;

	(void)state;
	make_simple(&env);
	assert_int_equal(envelope_encode(&env, &b), 0);
	assert_string_equal(buf_cstr(&b), golden);

	memset(&back, 0, sizeof(back));
	assert_int_equal(envelope_decode(golden, sizeof(golden) - 1, &back,
	    &hdrlen), 0);
	assert_int_equal(hdrlen, sizeof(golden) - 1);
	assert_env_equal(&env, &back);
	assert_int_equal(back.rcpts[0].state, RCPT_PENDING);
	envelope_clear(&back);
	envelope_clear(&env);
	buf_release(&b);
}

static void
test_round_trip_values(void **state)
{
	static const char *values[] = {
		"", "-", "--", "-a", "a-", "a b", "  ", " lead", "trail ", "%",
		"%%", "%41", "100%", "a\tb", "a\rb", "a\nb", "\x01\x1f\x7f",
		"\xc3\xbc@\xe4\xbe\x8b.example", "\"quoted local\"@x", "a%2Db",
		"end", "rcpt", "tern-queue 1", "=", "\xff\xfe",
	};
	struct envelope env;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(values); i++) {
		make_simple(&env);
		assert_int_equal(envelope_set(&env.helo, values[i]), 0);
		assert_int_equal(envelope_set(&env.client, values[i]), 0);
		assert_int_equal(envelope_set(&env.proto, values[i]), 0);
		assert_int_equal(envelope_set(&env.envid, values[i]), 0);
		assert_int_equal(envelope_set(&env.sender, values[i]), 0);
		if (values[i][0] != '\0')
			assert_int_equal(envelope_add_rcpt(&env, values[i],
			    values[i], values[i], 15, false), 0);
		assert_int_equal(envelope_add_rcpt(&env, "x@y", values[i],
		    values[i], 0, true), 0);
		round_trip(&env);
		envelope_clear(&env);
	}
}

static void
test_round_trip_fields(void **state)
{
	struct envelope env;

	(void)state;
	make_simple(&env);
	/* null sender, no helo/client/proto/envid at all */
	assert_int_equal(envelope_set(&env.sender, ""), 0);
	free(env.helo);
	env.helo = NULL;
	free(env.client);
	env.client = NULL;
	free(env.proto);
	env.proto = NULL;
	free(env.envid);
	env.envid = NULL;
	env.body = 2;
	env.ret = 2;
	env.smtputf8 = true;
	env.dkim = true;
	env.arc = true;
	env.arrival = 0;
	round_trip(&env);
	env.dkim = false;
	env.body = 1;
	env.ret = 1;
	env.arrival = 1LL << 40;
	memcpy(env.id, "FFFFFFFFFFFFFFFF", QUEUE_ID_LEN + 1);
	round_trip(&env);
	envelope_clear(&env);
}

static void
test_many_rcpts(void **state)
{
	struct envelope env;
	char addr[64], orig[64];
	size_t i;

	(void)state;
	make_simple(&env);
	for (i = 0; i < 2000; i++) {
		snprintf(addr, sizeof(addr), "user%zu@example.org", i);
		snprintf(orig, sizeof(orig), "User%zu+Tag@Example.ORG", i);
		assert_int_equal(envelope_add_rcpt(&env, addr, orig,
		    i % 3 ? "rfc822;u+40x" : "", (unsigned)(i % 16), i % 2), 0);
	}
	assert_int_equal(env.nrcpts, 2001);
	round_trip(&env);
	envelope_clear(&env);
}

/* Every proper prefix of a valid block is refused. */
static void
test_truncation(void **state)
{
	struct envelope env, back;
	struct buf b = BUF_INIT;
	size_t n, hdrlen;

	(void)state;
	make_simple(&env);
	assert_int_equal(envelope_add_rcpt(&env, "carol@example.org",
	    "carol+x@example.org", "rfc822;carol+2Bx+40example.org", 2, true), 0);
	assert_int_equal(envelope_set(&env.envid, "QQ314159"), 0);
	assert_int_equal(envelope_encode(&env, &b), 0);
	for (n = 0; n < b.len; n++) {
		char *copy = malloc(n ? n : 1);   /* exact size: ASan sees overreads */

		assert_non_null(copy);
		memcpy(copy, b.data, n);
		memset(&back, 0, sizeof(back));
		if (envelope_decode(copy, n, &back, &hdrlen) != -1)
			fail_msg("prefix of %zu/%zu octets decoded", n, b.len);
		envelope_clear(&back);
		free(copy);
	}
	memset(&back, 0, sizeof(back));
	assert_int_equal(envelope_decode(b.data, b.len, &back, &hdrlen), 0);
	assert_int_equal(hdrlen, b.len);
	envelope_clear(&back);
	envelope_clear(&env);
	buf_release(&b);
}

/* Replaces the first occurrence of from with to in golden and decodes. */
static int
decode_edited(const char *from, const char *to)
{
	const char *p = strstr(golden, from);
	struct envelope env;
	size_t hdrlen, n;
	char *text;
	int rc;

	assert_non_null(p);
	n = sizeof(golden) + strlen(to);
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "%.*s%s%s", (int)(p - golden), golden, to,
	    p + strlen(from));
	memset(&env, 0, sizeof(env));
	rc = envelope_decode(text, strlen(text), &env, &hdrlen);
	envelope_clear(&env);
	free(text);
	return rc;
}

static void
test_decode_rejects(void **state)
{
	static const struct {
		const char *from, *to;
	} bad[] = {
		/* version line */
		{ "tern-queue 1\n", "tern-queue 2\n" },
		{ "tern-queue 1\n", "tern-queue 0\n" },
		{ "tern-queue 1\n", "tern-queue\n" },
		{ "tern-queue 1\n", "tern-queue 1 x\n" },
		{ "tern-queue 1\n", "TERN-QUEUE 1\n" },
		{ "tern-queue 1\n", "tern-queue 01\n" },
		{ "tern-queue 1\n", "" },
		{ "tern-queue 1\n", "\ntern-queue 1\n" },
		/* unknown keys, blank lines, stray spaces */
		{ "end\n", "color blue\nend\n" },
		{ "end\n", "\nend\n" },
		{ "end\n", "end \n" },
		{ "end\n", " end\n" },
		{ "end\n", "END\n" },
		{ "from alice", "from  alice" },
		{ "from alice@example.org\n", "from alice@example.org \n" },
		{ "from alice@example.org\n", "from alice@example.org x\n" },
		{ "helo mail.example.org\n", "helo\n" },
		{ "helo mail.example.org\n", " helo mail.example.org\n" },
		{ " - 6 1\n", "  6 1\n" },
		{ " - 6 1\n", " - 6 1 \n" },
		{ " - 6 1\n", " - 6  1\n" },
		/* missing required keys */
		{ "id 0005F3A2B1C4D000\n", "" },
		{ "arrival 1764057302\n", "" },
		{ "from alice@example.org\n", "" },
		{ "rcpt bob@example.net bob@example.net - 6 1\n", "" },
		{ "end\n", "" },
		/* bad %XX escapes */
		{ "from alice", "from a%4" },
		{ "from alice", "from a%zz" },
		{ "from alice", "from a%4G" },
		{ "from alice", "from a%4a" },
		{ "from alice", "from a%00b" },
		{ "from alice@example.org", "from alice%" },
		{ "from alice@example.org", "from %" },
		{ "helo mail", "helo %G0mail" },
		{ "rcpt bob", "rcpt %0" },
		/* bad values */
		{ "id 0005F3A2B1C4D000", "id 0005f3a2b1c4d000" },
		{ "id 0005F3A2B1C4D000", "id 0005F3A2B1C4D00" },
		{ "id 0005F3A2B1C4D000", "id 0005F3A2B1C4D0000" },
		{ "id 0005F3A2B1C4D000", "id -" },
		{ "arrival 1764057302", "arrival x" },
		{ "arrival 1764057302", "arrival -1" },
		{ "arrival 1764057302", "arrival 1764057302x" },
		{ "arrival 1764057302", "arrival 99999999999999999999999" },
		{ "arrival 1764057302", "arrival -" },
		{ "body 0", "body 3" },
		{ "body 0", "body -1" },
		{ "body 0", "body x" },
		{ "ret 0", "ret 3" },
		{ "smtputf8 0", "smtputf8 2" },
		{ "smtputf8 0", "smtputf8 yes" },
		{ "smtputf8 0", "smtputf8 0\narc 2" },
		{ "smtputf8 0", "smtputf8 0\narc -" },
		/* recipient lines */
		{ " - 6 1\n", " - 16 1\n" },
		{ " - 6 1\n", " - 6 2\n" },
		{ " - 6 1\n", " - -1 1\n" },
		{ " - 6 1\n", " - 6\n" },
		{ " - 6 1\n", " - 6 1 x\n" },
		{ " - 6 1\n", " - x 1\n" },
		{ "rcpt bob@example.net", "rcpt -" },
		{ "rcpt bob@example.net bob@example.net", "rcpt bob@example.net" },
	};
	size_t i;

	(void)state;
	assert_int_equal(decode_edited("end\n", "end\n"), 0);
	for (i = 0; i < NELEM(bad); i++) {
		if (decode_edited(bad[i].from, bad[i].to) != -1)
			fail_msg("case %zu (\"%s\" -> \"%s\") decoded", i,
			    bad[i].from, bad[i].to);
	}
}

static void
test_decode_misc(void **state)
{
	struct envelope env;
	char text[sizeof(golden) + 16], *big;
	size_t hdrlen;
	int n;

	(void)state;
	/* a NUL inside the block */
	memcpy(text, golden, sizeof(golden));
	text[30] = '\0';
	memset(&env, 0, sizeof(env));
	assert_int_equal(envelope_decode(text, sizeof(golden) - 1, &env, &hdrlen), -1);
	envelope_clear(&env);

	/* a line longer than the decoder's limit; one just under it is fine */
	big = malloc(10000);
	assert_non_null(big);
	memcpy(big, "helo ", 5);
	memset(big + 5, 'x', 9000);
	big[9005] = '\0';
	assert_int_equal(decode_edited("helo mail.example.org", big), -1);
	big[8000] = '\0';
	assert_int_equal(decode_edited("helo mail.example.org", big), 0);
	free(big);

	/* data after the block is not looked at */
	n = snprintf(text, sizeof(text), "%sgarbage\n", golden);
	memset(&env, 0, sizeof(env));
	assert_int_equal(envelope_decode(text, (size_t)n, &env, &hdrlen), 0);
	assert_int_equal(hdrlen, sizeof(golden) - 1);
	envelope_clear(&env);

	/* the percent escapes decode */
	memset(&env, 0, sizeof(env));
	assert_int_equal(decode_edited("helo mail.example.org",
	    "helo a%20b%25c%2D"), 0);
	envelope_clear(&env);
}

/* Whatever encode produces, decode must read back: a queue file that cannot
 * be decoded is a lost message. */
static void
test_encode_decodable(void **state)
{
	static const size_t lens[] = { 100, 2000, 2700, 3000, 10000 };
	struct envelope env;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(lens); i++) {
		struct buf b = BUF_INIT;
		struct envelope back;
		char *v = malloc(lens[i] + 1);
		size_t hdrlen;

		assert_non_null(v);
		memset(v, ' ', lens[i]);     /* each becomes "%20" */
		v[lens[i]] = '\0';
		make_simple(&env);
		assert_int_equal(envelope_set(&env.helo, v), 0);
		memset(&back, 0, sizeof(back));
		if (envelope_encode(&env, &b) == 0) {
			if (envelope_decode(b.data, b.len, &back, &hdrlen) != 0)
				fail_msg("helo of %zu spaces: encoded but not decodable",
				    lens[i]);
			assert_env_equal(&env, &back);
		} else
			assert_true(5 + lens[i] * 3 > 8191);   /* "helo " + value */
		envelope_clear(&back);
		envelope_clear(&env);
		buf_release(&b);
		free(v);
	}
}

static void
test_trailer(void **state)
{
	static const struct {
		uint64_t len;
		const char *text;
	} ok[] = {
		{ 0, "\nTERN-END 0000000000000000\n" },
		{ 1, "\nTERN-END 0000000000000001\n" },
		{ 0x123456789ABCDEFULL, "\nTERN-END 0123456789ABCDEF\n" },
		{ INT64_MAX, "\nTERN-END 7FFFFFFFFFFFFFFF\n" },
	};
	static const char *bad[] = {
		"\nTERN-END 0000000000000000",
		"\nTERN-END 0000000000000000\n\n",
		"\nTERN-END 000000000000000\n",
		"TERN-END 0000000000000000\n\n",
		"\ntern-end 0000000000000000\n",
		"\nTERN-END 00000000000000ab\n",
		"\nTERN-END 000000000000000G\n",
		"\nTERN-END  000000000000000\n",
		"\nTERN-END 0000000000000000\r",
		"\nTERN-END 8000000000000000\n",
		"\nTERN-END FFFFFFFFFFFFFFFF\n",
		"\nTERN-END -000000000000001\n",
		"",
	};
	char out[ENVELOPE_TRAILER_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		envelope_trailer(ok[i].len, out);
		assert_string_equal(out, ok[i].text);
		assert_int_equal(strlen(out), ENVELOPE_TRAILER_LEN);
		assert_true(envelope_trailer_parse(out, ENVELOPE_TRAILER_LEN) ==
		    (int64_t)ok[i].len);
	}
	for (i = 0; i < NELEM(bad); i++) {
		if (envelope_trailer_parse(bad[i], strlen(bad[i])) != -1)
			fail_msg("trailer bad[%zu] parsed", i);
	}
	/* length is authoritative */
	assert_int_equal(envelope_trailer_parse(ok[0].text,
	    ENVELOPE_TRAILER_LEN - 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_round_trip_values),
		cmocka_unit_test(test_round_trip_fields),
		cmocka_unit_test(test_many_rcpts),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_decode_misc),
		cmocka_unit_test(test_encode_decodable),
		cmocka_unit_test(test_trailer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
