/*
 * arc_seal: adds an ARC set (RFC 8617 §5.1) to a message tern passes on:
 * the ARC-Authentication-Results of this hop, an ARC-Message-Signature
 * over the message as it leaves, and the ARC-Seal over the whole chain.
 * rsa-sha256 or ed25519-sha256, relaxed/relaxed. The private key may live
 * in another process: the two signatures are made by a callback the
 * caller gives, over a SHA-256 digest, as dkim_sign_digest does.
 */
#ifndef TERN_ARC_SEAL_H
#define TERN_ARC_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "arc.h"
#include "dkim_sign.h"

/* Signs digest into sig[*siglen] (*siglen in: room, DKIM_SIG_MAX; out:
 * the signature's length); 0 or -1. Called twice per seal: the AS signs
 * the AMS's signature. */
typedef int (*arc_sign_fn)(void *arg, const uint8_t digest[DKIM_DIGEST_LEN],
    uint8_t *sig, size_t *siglen);

/* An arc_sign_fn for a key in this process: arg is its EVP_PKEY. */
int arc_sign_pkey(void *arg, const uint8_t digest[DKIM_DIGEST_LEN],
    uint8_t *sig, size_t *siglen);

/*
 * Appends the new set to out, "ARC-Seal", "ARC-Message-Signature" and
 * "ARC-Authentication-Results" fields in that order, CRLF-ended, to be
 * put on top of the message.
 *
 * msg: the whole message (header, empty line, body; CRLF) as it will
 * leave, with any DKIM-Signature of ours already on it (the AMS signs
 * the DKIM-Signature fields). cv: the chain's status as arc_verify found
 * it on arrival (ARC_NONE when it had none). authres: the payload of the
 * new AAR, "authserv-id; results" as in an Authentication-Results field
 * (RFC 8601), printable, folded only as CRLF WSP. now: t=.
 *
 * The new instance is the highest found plus one. Returns -1, sealing
 * nothing, when it would be over 50 (§4.2.1), when cv does not fit the
 * message (none with ARC fields in it; pass or fail with none; pass with
 * a chain that is not well-formed), on a bad argument (a message that
 * starts with WSP among them: it would continue the AAR), with more From
 * fields than the AMS can sign (DKIM_SIGN_INSTANCES), or when sign
 * fails. With cv fail the seal covers its own set only (§5.1.2).
 */
int arc_seal(const char *domain, const char *selector, bool ed25519,
    const char *msg, size_t len, enum arc_cv cv, const char *authres,
    int64_t now, arc_sign_fn sign, void *sign_arg, struct buf *out);

#endif
