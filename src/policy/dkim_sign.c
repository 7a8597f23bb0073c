/*
 * dkim_sign: compute DKIM-Signature fields (see the header).
 *
 * The message is signed as it is stored and sent: the canonical forms are
 * computed here, hashed with OpenSSL, and signed with the key. For
 * ed25519-sha256 the Ed25519 signature is over the SHA-256 digest of the
 * header data (RFC 8463 §3), for rsa-sha256 over the data itself.
 */
#include "dkim_sign.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "../common/str.h"
#include "../proto/rfc5322.h"
#include "../proto/sasl.h"

static const char *const sign_fields[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to",
	"mime-version", "content-type", "content-transfer-encoding",
	"in-reply-to", "references",
};

/* A header with more fields than this is not signed (a verifier could pick
 * a field instance we never saw). */
#define MAX_FIELDS 1000
/* Instances of one field name signed at most (bottom-up), so h= stays short. */
#define MAX_INSTANCES DKIM_SIGN_INSTANCES

struct field {
	const char *p;           /* the whole field, CRLFs of folding included */
	size_t len;              /* without the final CRLF */
	size_t namelen;          /* rfc5322_field_name(): the name is p[0..namelen) */
};


void
dkim_key_release(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits the header section into fields; returns the body offset. A
 * field is what rfc5322_field_name() says is one, as for the submission
 * From: check: anything else is not signed. */
static size_t
split_fields(const char *msg, size_t len, struct field *f, size_t *n)
{
	size_t i = 0;

	*n = 0;
	while (i < len) {
		size_t start = i;

		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			return i + 2;   /* the empty line */
		/* A field runs until a CRLF not followed by WSP. */
		for (;;) {
			while (i < len && !(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
				i++;
			if (i >= len || i + 2 >= len || !wsp(msg[i + 2]))
				break;
			i += 2;
		}
		if (*n <= MAX_FIELDS) {
			size_t colon;

			if (*n == MAX_FIELDS) {
				(*n)++;   /* too many: the caller refuses */
				return len;
			}
			f[*n].p = msg + start;
			f[*n].len = i - start;
			f[*n].namelen = rfc5322_field_name(msg + start, i - start, &colon);
			if (f[*n].namelen)
				(*n)++;
		}
		i = i < len ? i + 2 : len;
	}
	return len;
}

static bool
name_is(const struct field *f, const char *name)
{
	return str_ieqn(f->p, f->namelen, name);
}

/* One name of the list: its instances, bottom-up, up to MAX_INSTANCES. */
static void
sign_name(const struct field *fields, size_t nf, bool *used, const char *name,
    struct buf *hlist, struct buf *hdata)
{
	size_t j;
	int taken = 0;

	for (j = nf; j-- > 0 && taken < MAX_INSTANCES;) {
		if (!used[j] && name_is(&fields[j], name)) {
			taken++;
			used[j] = true;
			dkim_canon_header_relaxed(fields[j].p, fields[j].len, hdata);
			buf_printf(hlist, "%s%s", hlist->len ? ":" : "", name);
		}
	}
}

int
dkim_sign_headers(const char *msg, size_t len, const char *const *extra,
    size_t nextra, struct buf *hlist, struct buf *hdata, size_t *body_r)
{
	static __thread struct field fields[MAX_FIELDS + 1];
	bool used[MAX_FIELDS + 1] = { false };
	size_t nf, i;

	*body_r = split_fields(msg, len, fields, &nf);
	if (nf > MAX_FIELDS)
		return -1;
	buf_reset(hlist);
	/* h=: each present field, bottom-up for repeats; "from" once more
	 * so that no From can be added without breaking the signature. */
	for (i = 0; i < sizeof(sign_fields) / sizeof(sign_fields[0]); i++)
		sign_name(fields, nf, used, sign_fields[i], hlist, hdata);
	for (i = 0; i < nextra; i++)
		sign_name(fields, nf, used, extra[i], hlist, hdata);
	buf_printf(hlist, "%sfrom", hlist->len ? ":" : "");
	return 0;
}

int
dkim_sign_body_hash(const char *body, size_t len, struct buf *b64)
{
	struct dkim_body_hash bh;
	int rc = -1;

	if (dkim_body_hash_start(&bh, DKIM_CANON_RELAXED, NULL) != 0)
		return -1;
	dkim_body_hash_feed(&bh, body, len);
	dkim_body_hash_end(&bh);
	if (bh.ok) {
		sasl_base64_encode((const char *)bh.digest, sizeof(bh.digest), b64);
		rc = 0;
	}
	dkim_body_hash_release(&bh);
	return rc;
}

void
dkim_sign_self(const char *name, const struct buf *tags, struct buf *hdata)
{
	struct buf f = BUF_INIT;

	buf_printf(&f, "%s: %s", name, buf_cstr(tags));
	(void)dkim_canon_header_self(DKIM_CANON_RELAXED, f.data, f.len, hdata);
	buf_release(&f);
}

int
dkim_sign_prepare(const char *domain, const char *selector, bool ed,
    const char *msg, size_t len, int64_t now, struct dkim_pending *p)
{
	struct buf hdata = BUF_INIT, b64 = BUF_INIT, hlist = BUF_INIT;
	size_t body;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (dkim_sign_headers(msg, len, NULL, 0, &hlist, &hdata, &body) == -1 ||
	    dkim_sign_body_hash(msg + body, len - body, &b64) == -1)
		goto out;
	/* Folded at "; " (FWS): relaxed canonicalization reads the fold as the
	 * single space it replaces, so the signed form is the same. */
	buf_printf(&p->tags, "v=1; a=%s; c=relaxed/relaxed;\r\n\td=%s; s=%s; t=%lld;\r\n\th=%s;\r\n\tbh=%s;\r\n\tb=",
	    ed ? "ed25519-sha256" : "rsa-sha256", domain, selector, (long long)now,
	    buf_cstr(&hlist), buf_cstr(&b64));
	/* The signature field itself, b= empty, without its final CRLF. */
	dkim_sign_self("DKIM-Signature", &p->tags, &hdata);
	SHA256((const unsigned char *)(hdata.data ? hdata.data : ""), hdata.len, p->digest);
	rc = 0;
out:
	buf_release(&hdata);
	buf_release(&hlist);
	buf_release(&b64);
	return rc;
}

int
dkim_sign_digest(EVP_PKEY *pkey, const uint8_t digest[DKIM_DIGEST_LEN],
    uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pc = NULL;
	int rc = -1;

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		/* RFC 8463 §3: PureEdDSA over the SHA-256 of the header data. */
		if ((md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestSign(md, sig, siglen, digest, DKIM_DIGEST_LEN) == 1)
			rc = 0;
	} else {
		/* RSASSA-PKCS1-v1_5 of a SHA-256 digest: the same bytes as
		 * EVP_DigestSign with SHA-256 over the data. */
		if ((pc = EVP_PKEY_CTX_new(pkey, NULL)) != NULL &&
		    EVP_PKEY_sign_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_sign(pc, sig, siglen, digest, DKIM_DIGEST_LEN) == 1)
			rc = 0;
	}
	if (rc == -1)
		ERR_clear_error();
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pc);
	return rc;
}

void
dkim_sign_finish(const struct dkim_pending *p, const uint8_t *sig, size_t siglen,
    struct buf *out)
{
	dkim_sign_field("DKIM-Signature", &p->tags, sig, siglen, out);
}

void
dkim_sign_field(const char *name, const struct buf *tags, const uint8_t *sig,
    size_t siglen, struct buf *out)
{
	struct buf b64 = BUF_INIT;
	size_t i;

	sasl_base64_encode((const char *)sig, siglen, &b64);
	/* Fold: tags on the first lines, b= in pieces of 72. */
	buf_printf(out, "%s: ", name);
	buf_append(out, tags->data, tags->len);
	for (i = 0; i < b64.len; i += 72) {
		buf_append(out, "\r\n\t", 3);
		buf_append(out, b64.data + i, b64.len - i < 72 ? b64.len - i : 72);
	}
	buf_append(out, "\r\n", 2);
	buf_release(&b64);
}

void
dkim_pending_release(struct dkim_pending *p)
{
	buf_release(&p->tags);
}

int
dkim_sign(const struct dkim_key *k, const char *msg, size_t len, int64_t now,
    struct buf *out)
{
	struct dkim_pending p;
	uint8_t sig[DKIM_SIG_MAX];
	size_t siglen = sizeof(sig);
	int rc = -1;

	if (dkim_sign_prepare(k->domain, k->selector,
	    EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519, msg, len, now, &p) == -1)
		return -1;
	if (dkim_sign_digest(k->pkey, p.digest, sig, &siglen) == 0) {
		dkim_sign_finish(&p, sig, siglen, out);
		rc = 0;
	}
	dkim_pending_release(&p);
	return rc;
}

int
dkim_txt_record(EVP_PKEY *pkey, struct buf *out)
{
	unsigned char *der = NULL, raw[64];
	size_t rawlen = sizeof(raw);
	struct buf b64 = BUF_INIT;
	int n;

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
		/* RFC 8463 §4: p= is the raw 32-octet public key. */
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return -1;
		sasl_base64_encode((const char *)raw, rawlen, &b64);
		buf_printf(out, "v=DKIM1; k=ed25519; p=%s", buf_cstr(&b64));
	} else {
		if ((n = i2d_PUBKEY(pkey, &der)) <= 0)
			return -1;
		sasl_base64_encode((const char *)der, (size_t)n, &b64);
		OPENSSL_free(der);
		buf_printf(out, "v=DKIM1; k=rsa; p=%s", buf_cstr(&b64));
	}
	buf_release(&b64);
	return 0;
}
