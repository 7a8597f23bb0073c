/*
 * test_sasl: AUTH responses. Base64 is strict (RFC 4648 §4: alphabet,
 * length a multiple of 4, padding only at the end), and the PLAIN message
 * (RFC 4616) is [authzid] NUL authcid NUL passwd, where an authzid other
 * than empty or the authcid itself is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sasl.h"

#define S(lit) lit, sizeof(lit) - 1

static int
dec(const char *in, struct buf *out)
{
	buf_reset(out);
	return sasl_base64_decode(in, strlen(in), out);
}

static void
test_base64_valid(void **state)
{
	static const struct { const char *in, *out; size_t len; } ok[] = {
		{ "", "", 0 },
		{ "Zg==", "f", 1 },
		{ "Zm8=", "fo", 2 },
		{ "Zm9v", "foo", 3 },
		{ "Zm9vYg==", "foob", 4 },
		{ "Zm9vYmE=", "fooba", 5 },
		{ "Zm9vYmFy", "foobar", 6 },
		{ "AGFsaWNlAHNlY3JldA==", "\0alice\0secret", 13 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
		{ "AAAA", "\0\0\0", 3 },
	};
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(dec(ok[i].in, &b), 0);
		assert_int_equal(b.len, ok[i].len);
		if (ok[i].len)
			assert_memory_equal(b.data, ok[i].out, ok[i].len);
		assert_int_equal(b.data[b.len], '\0');
	}
	/* decoding appends */
	buf_reset(&b);
	buf_append_str(&b, "x");
	assert_int_equal(sasl_base64_decode(S("Zm9v"), &b), 0);
	assert_string_equal(buf_cstr(&b), "xfoo");
	buf_release(&b);
}

static void
test_base64_round_trip(void **state)
{
	struct buf e = BUF_INIT, d = BUF_INIT;
	char in[300];
	size_t n, i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + 3);
	for (n = 0; n < sizeof(in); n++) {
		buf_reset(&e);
		buf_reset(&d);
		sasl_base64_encode(in, n, &e);
		assert_int_equal(e.len, (n + 2) / 3 * 4);
		assert_int_equal(sasl_base64_decode(e.data ? e.data : "", e.len, &d), 0);
		assert_int_equal(d.len, n);
		if (n)
			assert_memory_equal(d.data, in, n);
	}
	buf_release(&e);
	buf_release(&d);
}

static void
test_base64_bad(void **state)
{
	static const char *const bad[] = {
		/* length not a multiple of 4 */
		"Z", "Zg", "Zg=", "Zm9", "Zm9vY", "Zm9vYg=", "Zm9vYg===",
		/* characters outside the alphabet */
		"Zm9v!A==", "Zm 9v", "Zm9v\n", "Zm-_", "Zm9v YmFy", " Zm9v",
		"Zm9v\t", "Zm9\x80", "Zm\r\n", "Zm.v",
		/* padding in the wrong place or too much of it */
		"=Zm9", "Z=m9", "Zm=9", "====", "Z===", "Zg==Zg==", "Zm8=Zm9v",
		"Zg=A", "Zm9v====", "A===",
	};
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dec(bad[i], &b) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* a NUL inside */
	buf_reset(&b);
	assert_int_equal(sasl_base64_decode(S("Zm\0v"), &b), -1);
	/* too long */
	{
		size_t n = 65536 + 4;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, 'A', n);
		buf_reset(&b);
		assert_int_equal(sasl_base64_decode(big, n, &b), -1);
		buf_reset(&b);
		assert_int_equal(sasl_base64_decode(big, 65536, &b), 0);
		assert_int_equal(b.len, 65536 / 4 * 3);
		free(big);
	}
	buf_release(&b);
}

static int
split(const char *msg, size_t len, char *user, char *pass)
{
	return sasl_plain_split(msg, len, user, 64, pass, 64);
}

static void
test_plain_split(void **state)
{
	char user[64], pass[64];

	(void)state;
	/* empty authzid */
	assert_int_equal(split(S("\0alice@example.org\0secret"), user, pass), 0);
	assert_string_equal(user, "alice@example.org");
	assert_string_equal(pass, "secret");
	/* authzid equal to authcid */
	assert_int_equal(split(S("alice\0alice\0pw with spaces"), user, pass), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "pw with spaces");
	/* a different authzid: acting for someone else */
	assert_int_equal(split(S("bob\0alice\0secret"), user, pass), -1);
	assert_int_equal(split(S("alicex\0alice\0secret"), user, pass), -1);
	assert_int_equal(split(S("alic\0alice\0secret"), user, pass), -1);
	assert_int_equal(split(S("ALICE\0alice\0secret"), user, pass), -1);
	/* missing NULs */
	assert_int_equal(split(S("alicesecret"), user, pass), -1);
	assert_int_equal(split(S("\0alicesecret"), user, pass), -1);
	assert_int_equal(split(S(""), user, pass), -1);
	assert_int_equal(split(S("\0"), user, pass), -1);
	/* a NUL too many */
	assert_int_equal(split(S("\0alice\0sec\0ret"), user, pass), -1);
	assert_int_equal(split(S("\0alice\0secret\0"), user, pass), -1);
	/* empty password, empty user */
	assert_int_equal(split(S("\0alice\0"), user, pass), -1);
	assert_int_equal(split(S("\0\0secret"), user, pass), -1);
	assert_int_equal(split(S("\0\0"), user, pass), -1);
	assert_int_equal(split(S("alice\0alice\0"), user, pass), -1);
	/* one-character fields are fine */
	assert_int_equal(split(S("\0a\0b"), user, pass), 0);
	assert_string_equal(user, "a");
	assert_string_equal(pass, "b");
}

static void
test_plain_sizes(void **state)
{
	char user[8], pass[8];

	(void)state;
	assert_int_equal(sasl_plain_split(S("\0abcdefg\0hijklmn"), user, sizeof(user),
	    pass, sizeof(pass)), 0);
	assert_string_equal(user, "abcdefg");
	assert_string_equal(pass, "hijklmn");
	/* one octet more than fits */
	assert_int_equal(sasl_plain_split(S("\0abcdefgh\0x"), user, sizeof(user),
	    pass, sizeof(pass)), -1);
	assert_int_equal(sasl_plain_split(S("\0x\0abcdefgh"), user, sizeof(user),
	    pass, sizeof(pass)), -1);
}

static void
test_plain_from_base64(void **state)
{
	struct buf b = BUF_INIT;
	char user[64], pass[64];

	(void)state;
	/* "\0tim\0tanstaaftanstaaf" from RFC 4616 §4 */
	assert_int_equal(dec("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", &b), 0);
	assert_int_equal(split(b.data, b.len, user, pass), 0);
	assert_string_equal(user, "tim");
	assert_string_equal(pass, "tanstaaftanstaaf");
	/* "Ursel\0Kurt\0xipj3plmq": authzid differs, refused */
	assert_int_equal(dec("VXJzZWwAS3VydAB4aXBqM3BsbXE=", &b), 0);
	assert_int_equal(split(b.data, b.len, user, pass), -1);
	buf_release(&b);
}

static const char *
b64(const char *raw, size_t n, struct buf *out)
{
	buf_reset(out);
	sasl_base64_encode(raw, n, out);
	return buf_cstr(out);
}

/* The server side, as SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH drive it. */
static void
test_server_plain(void **state)
{
	struct sasl_server ss;
	struct buf b = BUF_INIT;
	const char *r;

	(void)state;
	/* no initial response: an empty challenge, then the message */
	assert_int_equal(sasl_server_start(&ss, S("plain"), NULL, 0), SASL_CHALLENGE);
	assert_string_equal(ss.challenge, "");
	r = b64("\0alice@example.test\0secret", 26, &b);
	assert_int_equal(sasl_server_step(&ss, r, strlen(r)), SASL_DONE);
	assert_string_equal(ss.user, "alice@example.test");
	assert_string_equal(ss.pass, "secret");
	sasl_server_clear(&ss);
	assert_int_equal(ss.pass[0], '\0');
	/* initial response, with an authzid equal to the user */
	r = b64("bob\0bob\0pw", 10, &b);
	assert_int_equal(sasl_server_start(&ss, S("PLAIN"), r, strlen(r)), SASL_DONE);
	assert_string_equal(ss.user, "bob");
	/* another authzid, "=" (empty), bad base64, cancel */
	r = b64("eve\0bob\0pw", 10, &b);
	assert_int_equal(sasl_server_start(&ss, S("PLAIN"), r, strlen(r)), SASL_MALFORMED);
	assert_int_equal(sasl_server_start(&ss, S("PLAIN"), S("=")), SASL_MALFORMED);
	assert_int_equal(sasl_server_start(&ss, S("PLAIN"), S("!!!!")), SASL_BAD);
	assert_int_equal(sasl_server_start(&ss, S("PLAIN"), NULL, 0), SASL_CHALLENGE);
	assert_int_equal(sasl_server_step(&ss, S("*")), SASL_CANCELLED);
	assert_int_equal(sasl_server_start(&ss, S("CRAM-MD5"), NULL, 0), SASL_UNKNOWN_MECH);
	assert_int_equal(sasl_server_start(&ss, S("PLAINX"), NULL, 0), SASL_UNKNOWN_MECH);
	buf_release(&b);
}

static void
test_server_login(void **state)
{
	struct sasl_server ss;
	struct buf b = BUF_INIT;
	char big[SASL_USER_MAX + 2];
	const char *r;

	(void)state;
	assert_int_equal(sasl_server_start(&ss, S("Login"), NULL, 0), SASL_CHALLENGE);
	assert_string_equal(ss.challenge, "VXNlcm5hbWU6");
	r = b64("alice@example.test", 18, &b);
	assert_int_equal(sasl_server_step(&ss, r, strlen(r)), SASL_CHALLENGE);
	assert_string_equal(ss.challenge, "UGFzc3dvcmQ6");
	r = b64("secret", 6, &b);
	assert_int_equal(sasl_server_step(&ss, r, strlen(r)), SASL_DONE);
	assert_string_equal(ss.user, "alice@example.test");
	assert_string_equal(ss.pass, "secret");
	/* the user name with the command; an empty password is a password */
	r = b64("bob", 3, &b);
	assert_int_equal(sasl_server_start(&ss, S("LOGIN"), r, strlen(r)), SASL_CHALLENGE);
	assert_string_equal(ss.challenge, "UGFzc3dvcmQ6");
	assert_int_equal(sasl_server_step(&ss, "", 0), SASL_DONE);
	assert_string_equal(ss.pass, "");
	/* refused: an empty user, a NUL, a user over the limit, "*" */
	assert_int_equal(sasl_server_start(&ss, S("LOGIN"), NULL, 0), SASL_CHALLENGE);
	assert_int_equal(sasl_server_step(&ss, "", 0), SASL_BAD);
	r = b64("a\0b", 3, &b);
	assert_int_equal(sasl_server_start(&ss, S("LOGIN"), NULL, 0), SASL_CHALLENGE);
	assert_int_equal(sasl_server_step(&ss, r, strlen(r)), SASL_BAD);
	memset(big, 'u', sizeof(big));
	r = b64(big, SASL_USER_MAX + 1, &b);
	assert_int_equal(sasl_server_start(&ss, S("LOGIN"), r, strlen(r)), SASL_BAD);
	r = b64(big, SASL_USER_MAX, &b);
	assert_int_equal(sasl_server_start(&ss, S("LOGIN"), r, strlen(r)), SASL_CHALLENGE);
	assert_int_equal(sasl_server_step(&ss, S("*")), SASL_CANCELLED);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_valid),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test(test_plain_split),
		cmocka_unit_test(test_plain_sizes),
		cmocka_unit_test(test_plain_from_base64),
		cmocka_unit_test(test_server_plain),
		cmocka_unit_test(test_server_login),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
