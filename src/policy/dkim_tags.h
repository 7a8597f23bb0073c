/*
 * dkim_tags: the tag=value lists of DKIM (RFC 6376 §3.2) and the two
 * records written in them: the DKIM-Signature field (§3.5) and the key
 * record published in DNS (§3.6.1). Pure: text in, struct or reason out.
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *ALNUMPUNC
 *   tag-value = [ tval *( 1*(WSP / FWS) tval ) ]
 *   tval      = 1*VALCHAR            VALCHAR = %x21-3A / %x3C-7E
 *
 * Tag names are case-sensitive; a name given twice makes the list
 * invalid; unknown tags are kept (and ignored by the decoders). FWS may
 * follow the final ";" (real records end "...; ").
 */
#ifndef TERN_DKIM_TAGS_H
#define TERN_DKIM_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dkim_canon.h"

/* Tags in one list; a longer list is refused. */
#define DKIM_TAGS_MAX 64

struct dkim_tag {
	const char *name;
	size_t nlen;
	const char *val;            /* FWS at both ends trimmed; may be empty */
	size_t vlen;
	size_t raw_off, raw_len;    /* the value as written: after "=" to the
	                             * ";" or the end, FWS included */
};

enum dkim_tags_err {
	DKIM_TAGS_OK = 0,
	DKIM_TAGS_SYNTAX = -1,
	DKIM_TAGS_DUP = -2,
	DKIM_TAGS_TOO_MANY = -3,
};

/* Parses text[0..len) into tags[max]; *n is set. */
enum dkim_tags_err dkim_tags_parse(const char *text, size_t len,
    struct dkim_tag *tags, size_t max, size_t *n);
/* The tag named name (exact case), or NULL. */
const struct dkim_tag *dkim_tags_find(const struct dkim_tag *tags, size_t n,
    const char *name);
/* Past the FWS (or plain WSP) at s[i]: WSP, or CRLF followed by WSP. */
size_t dkim_tags_skip_fws(const char *s, size_t len, size_t i);

/* -------------------------------------------------- DKIM-Signature (§3.5) */

enum dkim_alg {
	DKIM_ALG_UNKNOWN,
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,
};

#define DKIM_SIG_H_MAX 128      /* names in h= */
#define DKIM_SIG_B_MAX 1024     /* b= octets: an 8192-bit RSA signature */
#define DKIM_SIG_BH_MAX 64
#define DKIM_DOMAIN_MAX 256
#define DKIM_SELECTOR_MAX 64    /* 63 octets and the NUL */

struct dkim_hname {
	size_t off, len;            /* in the parsed text */
};

struct dkim_sig {
	enum dkim_alg alg;
	char a[32];                          /* a= as written (cut if longer) */
	enum dkim_canon hcanon, bcanon;
	char d[DKIM_DOMAIN_MAX];             /* lower-cased */
	char s[DKIM_SELECTOR_MAX];
	char i[256];                         /* i=, or "@" d; a longer local part is cut */
	bool has_i;
	bool has_l;
	uint64_t l;                          /* saturates at UINT64_MAX */
	bool has_t, has_x;
	int64_t t, x;
	size_t nh;
	struct dkim_hname h[DKIM_SIG_H_MAX]; /* h= names, in the text */
	uint8_t bh[DKIM_SIG_BH_MAX];
	size_t bhlen;
	uint8_t b[DKIM_SIG_B_MAX];
	size_t blen;
	char b_prefix[16];                   /* the first 8 characters of b= */
	size_t b_raw_off, b_raw_len;         /* b='s value in the text, FWS included */
};

/*
 * The value of a DKIM-Signature field (what follows its colon, folding
 * included). Checks the syntax of every tag it uses (§3.5), the required
 * ones (v=1 a b bh d h s), h= naming From, i= within d=, q= offering
 * dns/txt. Returns 0, or -1 with a short reason in why; the tags read
 * before the failure (d, s, a, i, b_prefix) are kept for the report.
 * Which algorithms are accepted, and x=, are the verifier's business.
 */
int dkim_sig_parse(const char *text, size_t len, struct dkim_sig *sig,
    char *why, size_t whysize);

/*
 * The same for the two signatures of ARC (RFC 8617), which borrow the
 * DKIM-Signature's tags: the ARC-Message-Signature (§4.1.2) has no v=,
 * and its i= is the instance, not an AUID (i is then "@" d); the
 * ARC-Seal (§4.1.3) has neither v=, h= (present: invalid), bh= nor c=
 * (relaxed header canonicalization is set). The instance and the seal's
 * cv= are read by the ARC code itself.
 */
enum dkim_sig_kind { DKIM_SIG_DKIM, DKIM_SIG_ARC_MSG, DKIM_SIG_ARC_SEAL };
int dkim_sig_parse_kind(const char *text, size_t len, enum dkim_sig_kind kind,
    struct dkim_sig *sig, char *why, size_t whysize);

/* ------------------------------------------------------ key record (§3.6.1) */

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519, DKIM_KEY_UNKNOWN };

#define DKIM_KEY_P_MAX 2048     /* p= octets: an 8192-bit RSA key is ~1100 */

struct dkim_keyrec {
	enum dkim_key_type k;
	bool sha256_ok;             /* h= absent, or lists sha256 */
	bool email_ok;              /* s= absent, or lists email or * */
	bool testing;               /* t=y */
	bool strict;                /* t=s: i= must be in d= itself */
	bool revoked;               /* p= empty */
	uint8_t p[DKIM_KEY_P_MAX];
	size_t plen;
};

/*
 * A key record's text (TXT strings already joined). 0, or -1 with a
 * reason when it is no key record: v= present but not first or not DKIM1
 * (the RFC says to discard such records), a syntax error, no p=, p= not
 * base64 or too long.
 */
int dkim_keyrec_parse(const char *text, size_t len, struct dkim_keyrec *k,
    char *why, size_t whysize);

#endif
