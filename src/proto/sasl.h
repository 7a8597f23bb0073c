/*
 * sasl: the client responses of SMTP AUTH (RFC 4954) for the PLAIN
 * (RFC 4616) and LOGIN mechanisms: base64, then the PLAIN message
 * [authzid] NUL authcid NUL passwd. Pure.
 */
#ifndef TERN_SASL_H
#define TERN_SASL_H

#include <stddef.h>

#include "../common/buf.h"

/* Strict base64 (RFC 4648 §4, padding required): 0 or -1. out gets the
 * octets; the caller wipes it when it held a secret. */
int sasl_base64_decode(const char *in, size_t len, struct buf *out);
void sasl_base64_encode(const char *in, size_t len, struct buf *out);

/*
 * Splits a decoded PLAIN message. An authzid other than empty or the
 * authcid (acting for someone else) is refused. Returns 0 or -1.
 */
int sasl_plain_split(const char *msg, size_t len, char *user, size_t usize,
    char *pass, size_t psize);

/*
 * The server side of an exchange, for any protocol: SMTP AUTH answers a
 * challenge with "334 <text>", IMAP AUTHENTICATE with "+ <text>", POP3
 * AUTH with "+ <text>"; the client's lines come back to sasl_server_step.
 * PLAIN (RFC 4616) takes one message, LOGIN asks for the user name, then
 * the password. An initial response (RFC 4954 §4, RFC 4959) may come with
 * the start; "=" is an empty one. "*" cancels (RFC 4954 §4).
 */
enum sasl_mech { SASL_MECH_PLAIN = 1, SASL_MECH_LOGIN };

enum sasl_result {
	SASL_CHALLENGE,     /* send challenge (base64, may be "") and wait */
	SASL_DONE,          /* user and pass are set: check them */
	SASL_CANCELLED,     /* the client sent "*" */
	SASL_BAD,           /* not base64, or a LOGIN answer that is no string */
	SASL_MALFORMED,     /* base64, but not a PLAIN message (RFC 4616) */
	SASL_UNKNOWN_MECH,  /* sasl_server_start only */
};

#define SASL_USER_MAX 256
#define SASL_PASS_MAX 511

struct sasl_server {
	enum sasl_mech mech;
	int step;                       /* PLAIN: 0; LOGIN: 0 user, 1 password */
	const char *challenge;          /* with SASL_CHALLENGE: a constant */
	char user[SASL_USER_MAX + 1];
	char pass[SASL_PASS_MAX + 1];
};

/* initial is NULL when the client sent none. */
enum sasl_result sasl_server_start(struct sasl_server *ss, const char *mech,
    size_t mech_len, const char *initial, size_t initial_len);
enum sasl_result sasl_server_step(struct sasl_server *ss, const char *line,
    size_t len);
/* Wipes the password (and the rest); call when the exchange is over. */
void sasl_server_clear(struct sasl_server *ss);

#endif
