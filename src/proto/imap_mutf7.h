/*
 * imap_mutf7: IMAP mailbox names in modified UTF-7 (RFC 3501 §5.1.3) to
 * UTF-8 and back. Pure: bytes in, bytes out, no allocation.
 * RFC 9051 clients that ENABLE UTF8=ACCEPT send UTF-8 instead; older ones
 * (and IMAP4rev1 sessions) use this encoding on the wire.
 */
#ifndef TERN_IMAP_MUTF7_H
#define TERN_IMAP_MUTF7_H

#include <stddef.h>

enum imap_mutf7_err {
	IMAP_MUTF7_OK = 0,
	IMAP_MUTF7_E_SYNTAX,  /* not valid input for the direction asked */
	IMAP_MUTF7_E_SPACE,   /* out is too small */
};

/* Room that always suffices for n input octets (a NUL is not written). */
#define IMAP_MUTF7_DECODED_MAX(n) (2 * (n))
#define IMAP_MUTF7_ENCODED_MAX(n) (5 * (n))

/*
 * mUTF-7 to UTF-8. Strict, as the RFC asks a server to be with names it
 * creates: only printable US-ASCII; "&-" for "&"; base64 runs (',' for '/')
 * of UTF-16BE, closed by '-', with no padding bits set, that neither
 * encode printable ASCII nor follow another run directly, and surrogates
 * only in pairs.
 */
enum imap_mutf7_err imap_mutf7_decode(const char *in, size_t inlen,
    char *out, size_t outcap, size_t *outlen);

/* UTF-8 (strict: no overlongs, surrogates or code points past U+10FFFF)
 * to mUTF-7, in the one form decode accepts. */
enum imap_mutf7_err imap_mutf7_encode(const char *in, size_t inlen,
    char *out, size_t outcap, size_t *outlen);

#endif
