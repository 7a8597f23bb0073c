/*
 * keeper_msg: the messages between the network process and the keeper
 * (src/privsep/), one per SOCK_SEQPACKET packet: a fixed header
 * {type, status, id} and a payload whose form the type decides. Pure: the
 * keeper decodes what a possibly compromised network process sent it, so
 * this is fuzzed like any parser of network input.
 */
#ifndef TERN_KEEPER_MSG_H
#define TERN_KEEPER_MSG_H

#include <stddef.h>
#include <stdint.h>

enum keeper_type {
	KEEPER_AUTH = 1,   /* req: user NUL password NUL; reply: status */
	KEEPER_SIGN = 2,   /* req: u32 key, 32-byte SHA-256; reply: signature */
	KEEPER_LOAD = 3,   /* req: empty; reply: key kinds or error text, fds */
};

enum keeper_status {
	KEEPER_OK = 0,
	KEEPER_FAIL = 1,   /* wrong password, unknown key, reload errors */
	KEEPER_TEMP = 2,   /* could not answer now */
};

/* DKIM key kinds in a LOAD reply, one byte per configured key. */
enum keeper_key_kind { KEEPER_KEY_RSA = 1, KEEPER_KEY_ED25519 = 2 };

#define KEEPER_HDR_LEN     16
#define KEEPER_MSG_MAX     8192   /* a packet, header included */
#define KEEPER_USER_MAX    512
#define KEEPER_PASS_MAX    512
#define KEEPER_DIGEST_LEN  32
#define KEEPER_LOAD_FDS    5      /* users (stripped), aliases, cert, key, ternd.conf */

struct keeper_msg {
	uint32_t type;
	uint32_t status;
	uint64_t id;
	const uint8_t *payload;        /* points into the packet */
	size_t payload_len;
	/* KEEPER_AUTH request, decoded */
	const char *user, *pass;
	/* KEEPER_SIGN request, decoded */
	uint32_t key;
	const uint8_t *digest;
};

/* Encodes a header and payload into out (KEEPER_MSG_MAX); returns the
 * packet length or 0 when it does not fit. */
size_t keeper_msg_encode(uint8_t *out, uint32_t type, uint32_t status,
    uint64_t id, const void *payload, size_t len);

/* Decodes a request (as the keeper receives it): 0, or -1 for a packet of
 * the wrong size, an unknown type, or a payload not of its type's form. */
int keeper_msg_decode_request(const uint8_t *p, size_t n, struct keeper_msg *m);
/* Decodes a reply's header; the payload is left to the caller. 0 or -1. */
int keeper_msg_decode_reply(const uint8_t *p, size_t n, struct keeper_msg *m);

#endif
