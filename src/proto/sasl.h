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

#endif
