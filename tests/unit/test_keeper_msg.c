/*
 * test_keeper_msg: the packets between the network process and the keeper.
 * The keeper decodes requests strictly (the sender may be compromised):
 * exact sizes, known types, NUL-terminated strings of bounded length, no
 * trailing bytes, a zero status.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/keeper_msg.h"

static size_t
req(uint8_t *out, uint32_t type, const void *payload, size_t len)
{
	return keeper_msg_encode(out, type, 0, 42, payload, len);
}

static void
test_auth(void **state)
{
	uint8_t pkt[KEEPER_MSG_MAX];
	char big[KEEPER_USER_MAX + 3];
	struct keeper_msg m;
	size_t n;

	(void)state;
	n = req(pkt, KEEPER_AUTH, "alice@example.test\0s3cret", 26);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), 0);
	assert_int_equal(m.type, KEEPER_AUTH);
	assert_true(m.id == 42);
	assert_string_equal(m.user, "alice@example.test");
	assert_string_equal(m.pass, "s3cret");
	/* empty password: allowed (it will not match) */
	n = req(pkt, KEEPER_AUTH, "a\0", 3);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), 0);
	assert_string_equal(m.pass, "");
	/* refused: empty user, missing NUL, trailing bytes, one string */
	n = req(pkt, KEEPER_AUTH, "\0pw", 4);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = req(pkt, KEEPER_AUTH, "a\0pw", 4);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = req(pkt, KEEPER_AUTH, "a\0pw\0x", 7);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = req(pkt, KEEPER_AUTH, "a", 2);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	/* a user over the limit */
	memset(big, 'u', sizeof(big));
	big[KEEPER_USER_MAX + 1] = '\0';
	big[KEEPER_USER_MAX + 2] = '\0';
	n = req(pkt, KEEPER_AUTH, big, sizeof(big));
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	big[KEEPER_USER_MAX] = '\0';
	n = req(pkt, KEEPER_AUTH, big, KEEPER_USER_MAX + 2);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), 0);
}

static void
test_sign_and_load(void **state)
{
	uint8_t pkt[KEEPER_MSG_MAX], payload[4 + KEEPER_DIGEST_LEN + 1];
	struct keeper_msg m;
	uint32_t key = 7;
	size_t n;

	(void)state;
	memcpy(payload, &key, 4);
	memset(payload + 4, 0xab, KEEPER_DIGEST_LEN + 1);
	n = req(pkt, KEEPER_SIGN, payload, 4 + KEEPER_DIGEST_LEN);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), 0);
	assert_int_equal(m.key, 7);
	assert_int_equal(m.digest[0], 0xab);
	n = req(pkt, KEEPER_SIGN, payload, 4 + KEEPER_DIGEST_LEN + 1);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = req(pkt, KEEPER_SIGN, payload, 4 + KEEPER_DIGEST_LEN - 1);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = req(pkt, KEEPER_LOAD, NULL, 0);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), 0);
	n = req(pkt, KEEPER_LOAD, "x", 1);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
}

static void
test_header(void **state)
{
	uint8_t pkt[KEEPER_MSG_MAX + 16] = { 0 };
	struct keeper_msg m;
	size_t n;

	(void)state;
	/* short, unknown types, a status on a request */
	assert_int_equal(keeper_msg_decode_request(pkt, 0, &m), -1);
	n = keeper_msg_encode(pkt, KEEPER_LOAD, 0, 1, NULL, 0);
	assert_int_equal(keeper_msg_decode_request(pkt, n - 1, &m), -1);
	n = keeper_msg_encode(pkt, 0, 0, 1, NULL, 0);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = keeper_msg_encode(pkt, 4, 0, 1, NULL, 0);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	n = keeper_msg_encode(pkt, KEEPER_LOAD, 1, 1, NULL, 0);
	assert_int_equal(keeper_msg_decode_request(pkt, n, &m), -1);
	/* replies: status within the enum, payload handed back */
	assert_int_equal(keeper_msg_decode_reply(pkt, n, &m), 0);
	assert_int_equal(m.status, KEEPER_FAIL);
	n = keeper_msg_encode(pkt, KEEPER_SIGN, 3, 1, NULL, 0);
	assert_int_equal(keeper_msg_decode_reply(pkt, n, &m), -1);
	n = keeper_msg_encode(pkt, KEEPER_SIGN, KEEPER_OK, 9, "sig", 3);
	assert_int_equal(keeper_msg_decode_reply(pkt, n, &m), 0);
	assert_int_equal(m.payload_len, 3);
	assert_memory_equal(m.payload, "sig", 3);
	/* too big to encode, too big to decode */
	assert_int_equal(keeper_msg_encode(pkt, KEEPER_SIGN, 0, 1, pkt,
	    KEEPER_MSG_MAX - KEEPER_HDR_LEN + 1), 0);
	assert_int_equal(keeper_msg_decode_reply(pkt, KEEPER_MSG_MAX + 1, &m), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_sign_and_load),
		cmocka_unit_test(test_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
