/*
 * fuzz_keeper_msg: the keeper's request decoder, fed what a compromised
 * network process could send. What decodes must be of its type's form
 * (strings inside the packet and NUL-terminated, exact sizes) and must
 * encode back to the same packet.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/keeper_msg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[KEEPER_MSG_MAX];
	struct keeper_msg m;
	size_t n;

	if (keeper_msg_decode_request(data, size, &m) == 0) {
		CHECK(m.payload == data + KEEPER_HDR_LEN);
		CHECK(m.payload_len == size - KEEPER_HDR_LEN);
		switch (m.type) {
		case KEEPER_AUTH:
			CHECK(strlen(m.user) >= 1 && strlen(m.user) <= KEEPER_USER_MAX);
			CHECK(strlen(m.pass) <= KEEPER_PASS_MAX);
			CHECK((const uint8_t *)m.pass + strlen(m.pass) + 1 == data + size);
			break;
		case KEEPER_SIGN:
			CHECK(m.payload_len == 4 + KEEPER_DIGEST_LEN);
			CHECK(m.digest + KEEPER_DIGEST_LEN == data + size);
			break;
		case KEEPER_LOAD:
			CHECK(m.payload_len == 0);
			break;
		default:
			CHECK(0);
		}
		n = keeper_msg_encode(again, m.type, m.status, m.id, m.payload, m.payload_len);
		CHECK(n == size && memcmp(again, data, size) == 0);
	}
	if (keeper_msg_decode_reply(data, size, &m) == 0)
		CHECK(m.status <= KEEPER_TEMP && m.payload_len + KEEPER_HDR_LEN == size);
	return 0;
}
