/*
 * keeper_msg: encoding and strict decoding of keeper packets (keeper_msg.h).
 * Integers are in host order: both ends are the same binary on one host.
 */
#include "keeper_msg.h"

#include <string.h>

size_t
keeper_msg_encode(uint8_t *out, uint32_t type, uint32_t status, uint64_t id,
    const void *payload, size_t len)
{
	if (len > KEEPER_MSG_MAX - KEEPER_HDR_LEN)
		return 0;
	memcpy(out, &type, 4);
	memcpy(out + 4, &status, 4);
	memcpy(out + 8, &id, 8);
	if (len)
		memcpy(out + KEEPER_HDR_LEN, payload, len);
	return KEEPER_HDR_LEN + len;
}

static int
decode_header(const uint8_t *p, size_t n, struct keeper_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (n < KEEPER_HDR_LEN || n > KEEPER_MSG_MAX)
		return -1;
	memcpy(&m->type, p, 4);
	memcpy(&m->status, p + 4, 4);
	memcpy(&m->id, p + 8, 8);
	m->payload = p + KEEPER_HDR_LEN;
	m->payload_len = n - KEEPER_HDR_LEN;
	if (m->type < KEEPER_AUTH || m->type > KEEPER_LOAD)
		return -1;
	return 0;
}

/* A NUL-terminated string of 1..max bytes at p[*off]; advances *off. */
static const char *
take_string(const uint8_t *p, size_t n, size_t *off, size_t max, size_t min)
{
	const uint8_t *nul;
	size_t len;

	if (*off >= n || (nul = memchr(p + *off, '\0', n - *off)) == NULL)
		return NULL;
	len = (size_t)(nul - (p + *off));
	if (len < min || len > max)
		return NULL;
	*off += len + 1;
	return (const char *)p + *off - len - 1;
}

int
keeper_msg_decode_request(const uint8_t *p, size_t n, struct keeper_msg *m)
{
	size_t off = 0;

	if (decode_header(p, n, m) == -1 || m->status != 0)
		return -1;
	switch (m->type) {
	case KEEPER_AUTH:
		if ((m->user = take_string(m->payload, m->payload_len, &off, KEEPER_USER_MAX, 1)) == NULL ||
		    (m->pass = take_string(m->payload, m->payload_len, &off, KEEPER_PASS_MAX, 0)) == NULL ||
		    off != m->payload_len)
			return -1;
		return 0;
	case KEEPER_SIGN:
		if (m->payload_len != 4 + KEEPER_DIGEST_LEN)
			return -1;
		memcpy(&m->key, m->payload, 4);
		m->digest = m->payload + 4;
		return 0;
	case KEEPER_LOAD:
		return m->payload_len == 0 ? 0 : -1;
	}
	return -1;
}

int
keeper_msg_decode_reply(const uint8_t *p, size_t n, struct keeper_msg *m)
{
	if (decode_header(p, n, m) == -1 || m->status > KEEPER_TEMP)
		return -1;
	return 0;
}
