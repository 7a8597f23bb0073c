/*
 * dkim_sign: DKIM signatures (RFC 6376) with rsa-sha256 and ed25519-sha256
 * (RFC 8463), relaxed/relaxed canonicalization, for mail leaving tern from
 * its own domains. Keys are PEM files made by `ternctl dkim keygen`.
 */
#ifndef TERN_DKIM_SIGN_H
#define TERN_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../common/buf.h"
#include "dkim_canon.h"

struct dkim_key {
	char domain[256];
	char selector[64];
	EVP_PKEY *pkey;          /* RSA or Ed25519 */
};

/* Loads a PEM private key; 0 or -1 with a reason in errs. */
int dkim_key_load(struct dkim_key *k, const char *domain, const char *selector,
    const char *path, struct buf *errs);
void dkim_key_release(struct dkim_key *k);

/*
 * Appends a complete "DKIM-Signature: ...\r\n" field for the message
 * (header and body, CRLF line ends) to out. Signs From (over-signed, so no
 * second From can be added), To, Cc, Subject, Date, Message-ID, Reply-To,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, In-Reply-To,
 * References — those present, up to DKIM_SIGN_INSTANCES of each from
 * the bottom (with more From fields than that, the over-signing "from"
 * takes one that is there: such a signature fails). Returns 0 or -1.
 */
#define DKIM_SIGN_INSTANCES 4
int dkim_sign(const struct dkim_key *k, const char *msg, size_t len,
    int64_t now, struct buf *out);

/*
 * The same in three steps, so that the key can live in another process:
 * prepare canonicalizes and hashes the message (tags holds the field up to
 * "b=", digest the SHA-256 of the signed header data); sign_digest makes
 * the signature with the key; finish appends the folded field to out.
 */
#define DKIM_SIG_MAX 1024
struct dkim_pending {
	struct buf tags;
	uint8_t digest[DKIM_DIGEST_LEN];
};
int dkim_sign_prepare(const char *domain, const char *selector, bool ed,
    const char *msg, size_t len, int64_t now, struct dkim_pending *p);
int dkim_sign_digest(EVP_PKEY *pkey, const uint8_t digest[DKIM_DIGEST_LEN],
    uint8_t *sig, size_t *siglen);
void dkim_sign_finish(const struct dkim_pending *p, const uint8_t *sig,
    size_t siglen, struct buf *out);
void dkim_pending_release(struct dkim_pending *p);

/*
 * The steps of dkim_sign_prepare, shared with the ARC-Message-Signature
 * (arc_seal.c), which signs the same fields. dkim_sign_headers: the h=
 * list (names joined by ":", From over-signed) into hlist, and the
 * relaxed canonical forms of the fields it names appended to hdata: the
 * fields listed above and then those named in extra (lower case), each
 * from the bottom up; *body_r is where the body starts; -1 when the
 * header has too many fields. dkim_sign_body_hash: the base64 of the
 * SHA-256 of the relaxed canonical body, appended to b64.
 * dkim_sign_self: the field "NAME: tags" (b= empty, at the end) in
 * relaxed form without its final CRLF, appended to hdata.
 * dkim_sign_field: the field "NAME: tags" with the signature in base64
 * after them, folded, and its CRLF, appended to out.
 */
int dkim_sign_headers(const char *msg, size_t len, const char *const *extra,
    size_t nextra, struct buf *hlist, struct buf *hdata, size_t *body_r);
int dkim_sign_body_hash(const char *body, size_t len, struct buf *b64);
void dkim_sign_self(const char *name, const struct buf *tags, struct buf *hdata);
void dkim_sign_field(const char *name, const struct buf *tags, const uint8_t *sig,
    size_t siglen, struct buf *out);

/* The relaxed canonicalizations it uses, dkim_canon_body_relaxed and
 * dkim_canon_header_relaxed, are declared in dkim_canon.h. */

/* The DNS TXT record for the key's public half: "v=DKIM1; k=...; p=...". */
int dkim_txt_record(EVP_PKEY *pkey, struct buf *out);

#endif
