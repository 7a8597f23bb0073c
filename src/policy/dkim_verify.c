/*
 * dkim_verify: DKIM verification as the message streams in (see the
 * header).
 *
 * The header is kept until its empty line. Then every DKIM-Signature
 * field is parsed, the SHA-256 of its signed header data computed
 * (RFC 6376 §3.7), and a body canonicalizer with its own digest started;
 * the header text is dropped, and the body only flows through the
 * canonicalizers. A signature's result is settled in the order of §6.1:
 * the field itself, then its key, then the body hash, then the signature.
 * Keys are looked up at most once each and kept with their signature, so
 * a replay only walks the list to the first key still missing.
 */
#include "dkim_verify.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "dkim_tags.h"
#include "../proto/rfc5322.h"
#include "dkim_canon.h"
#include "hdr_stream.h"

/* RFC 8301 §3.2: shorter RSA keys are not accepted. The upper bound
 * keeps one signature's cost bounded. */
#define RSA_BITS_MIN 1024
#define RSA_BITS_MAX 8192
/* A key record's text, its TXT strings joined. */
#define KEY_TXT_MAX 4096

enum key_state { KEY_UNKNOWN, KEY_OK, KEY_BAD };

struct sig {
	struct dkim_result res;
	bool bad;                   /* result final from the field alone */
	bool settled;
	struct dkim_sig tags;
	uint8_t hdigest[DKIM_DIGEST_LEN]; /* SHA-256 of the signed header data */
	struct dkim_body_hash body;
	char qname[DNSQ_NAME_MAX];  /* SELECTOR._domainkey.DOMAIN */
	enum key_state key;
	EVP_PKEY *pkey;
};

struct dkim_verify {
	size_t max;
	int64_t now;
	struct hdr_stream hs;
	/* DKIM-Signature names seen by the scan, for a header too large */
	size_t nscan;
	bool ended;
	struct sig *sigs;
	size_t nsigs;
};

static const char sig_name[] = "dkim-signature";

/* The scan's view of a field name, for counting the signatures of a
 * header too large to keep. */
static void
name_seen(void *arg, const char *name, size_t len)
{
	struct dkim_verify *v = arg;

	if (str_ieqn(name, len, sig_name))
		v->nscan++;
}

const char *
dkim_result_name(enum dkim_res r)
{
	switch (r) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_POLICY:
		return "policy";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	case DKIM_NONE:
	default:
		return "none";
	}
}

struct dkim_verify *
dkim_verify_new(size_t max_sigs, int64_t now)
{
	struct dkim_verify *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->max = max_sigs;
	v->now = now;
	hdr_stream_init(&v->hs, DKIM_VERIFY_HEADER_MAX, name_seen, v);
	if (max_sigs > 0 && (v->sigs = calloc(max_sigs, sizeof(*v->sigs))) == NULL) {
		free(v);
		return NULL;
	}
	return v;
}

void
dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nsigs; i++) {
		dkim_body_hash_release(&v->sigs[i].body);
		EVP_PKEY_free(v->sigs[i].pkey);
	}
	free(v->sigs);
	hdr_stream_release(&v->hs);
	free(v);
	*vp = NULL;
}

static void
set_result(struct sig *s, enum dkim_res r, const char *why)
{
	s->res.result = r;
	str_copy(s->res.reason, sizeof(s->res.reason), why);
}

static void
fail_now(struct sig *s, enum dkim_res r, const char *why)
{
	set_result(s, r, why);
	s->bad = true;
	s->settled = true;
}

/* ------------------------------------------------------------ header -- */

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static uint32_t
name_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)lower(p[i])) * 16777619u;
	return h;
}

/* A field runs to a CRLF not followed by WSP. */
size_t
dkim_hfields_split(const char *m, size_t len, struct dkim_hfield **fp)
{
	size_t i = 0, n = 0, cap = 0;
	struct dkim_hfield *f = NULL;

	*fp = NULL;
	while (i < len) {
		size_t start = i;

		if (m[i] == '\r' && i + 1 < len && m[i + 1] == '\n')
			break;      /* the empty line */
		for (;;) {
			while (i < len && !(m[i] == '\r' && i + 1 < len && m[i + 1] == '\n'))
				i++;
			if (i + 2 >= len || !wsp(m[i + 2]))
				break;
			i += 2;
		}
		if (n == DKIM_VERIFY_FIELDS_MAX) {
			free(f);
			return SIZE_MAX;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct dkim_hfield *nf;

			if ((nf = realloc(f, nc * sizeof(*nf))) == NULL) {
				free(f);
				return SIZE_MAX;
			}
			f = nf;
			cap = nc;
		}
		f[n].off = start;
		f[n].len = i - start;
		f[n].namelen = rfc5322_field_name(m + start, i - start, &f[n].colon);
		f[n].hash = name_hash(m + start, f[n].namelen);
		n++;
		i = i < len ? i + 2 : len;
	}
	*fp = f;
	return n;
}

bool
dkim_hfield_is(const char *h, const struct dkim_hfield *f, const char *name)
{
	return f->namelen > 0 && str_ieqn(h + f->off, f->namelen, name);
}

/* Copies what the report shows from the parsed tags. */
static void
report_tags(struct sig *s)
{
	str_copy(s->res.domain, sizeof(s->res.domain), s->tags.d);
	str_copy(s->res.selector, sizeof(s->res.selector), s->tags.s);
	str_copy(s->res.identity, sizeof(s->res.identity), s->tags.i);
	str_copy(s->res.algorithm, sizeof(s->res.algorithm), s->tags.a);
	str_copy(s->res.b_prefix, sizeof(s->res.b_prefix), s->tags.b_prefix);
	s->res.l_used = s->tags.has_l;
}

const char *
dkim_sig_refused(const struct dkim_sig *sig, int64_t now)
{
	switch (sig->alg) {
	case DKIM_ALG_RSA_SHA256:
	case DKIM_ALG_ED25519_SHA256:
		break;
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1 not accepted (RFC 8301)";
	default:
		return "unknown algorithm";
	}
	if (sig->has_x && sig->has_t && sig->x < sig->t)
		return "x= before t=";
	if (sig->has_x && sig->x < now)
		return "signature expired";
	return NULL;
}

bool
dkim_key_qname(const struct dkim_sig *sig, char qname[DNSQ_NAME_MAX])
{
	return str_fmt(qname, DNSQ_NAME_MAX, "%s._domainkey.%s", sig->s,
	    sig->d) == 0 && dnsq_name_ok(qname);
}

static bool
ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

bool
dkim_self_form(const char *h, const struct dkim_hfield *self,
    const struct dkim_sig *sig, struct buf *out)
{
	struct buf me = BUF_INIT;
	size_t cut = self->colon + 1 + sig->b_raw_off;
	bool ok;

	ok = buf_append(&me, h + self->off, cut) == 0 &&
	    buf_append(&me, h + self->off + cut + sig->b_raw_len,
	    self->len - cut - sig->b_raw_len) == 0;
	ok = ok && dkim_canon_header_self(sig->hcanon, me.data, me.len, out);
	buf_release(&me);
	return ok;
}

/*
 * Each name of h= takes its instances from the bottom up (a name listed
 * more often than it occurs adds nothing: §5.4.2).
 */
bool
dkim_header_digest(const char *h, const struct dkim_hfield *f, size_t nf,
    const struct dkim_hfield *self, const struct dkim_sig *sig,
    uint8_t digest[DKIM_DIGEST_LEN])
{
	const char *text = h + self->off + self->colon + 1;
	struct buf data = BUF_INIT;
	size_t j, k, i;
	bool ok;

	for (j = 0; j < sig->nh; j++) {
		const char *name = text + sig->h[j].off;
		size_t nlen = sig->h[j].len, skip = 0;
		uint32_t hash = name_hash(name, nlen);

		/* Listed before: those instances are taken already. */
		for (k = 0; k < j; k++)
			if (ieq(text + sig->h[k].off, sig->h[k].len, name, nlen))
				skip++;
		for (i = nf; i-- > 0;) {
			if (f[i].hash != hash ||
			    !ieq(h + f[i].off, f[i].namelen, name, nlen))
				continue;
			if (skip == 0) {
				dkim_canon_header(sig->hcanon, h + f[i].off,
				    f[i].len, &data);
				break;
			}
			skip--;
		}
	}
	/* The field itself, the value of b= (FWS around it too) taken out. */
	ok = dkim_self_form(h, self, sig, &data);
	ok = ok && EVP_Digest(data.data ? data.data : "", data.len, digest,
	    NULL, EVP_sha256(), NULL) == 1;
	buf_release(&data);
	return ok;
}

/* One DKIM-Signature field: parsed, checked, its header hashed and its
 * body hash started. */
static void
sig_start(struct dkim_verify *v, const struct dkim_hfield *f, size_t nf,
    const struct dkim_hfield *self, struct sig *s)
{
	const char *text = v->hs.hdr.data + self->off + self->colon + 1;
	size_t tlen = self->len - self->colon - 1;
	const char *bad;
	char why[64];

	set_result(s, DKIM_TEMPERROR, "not verified");
	if (dkim_sig_parse(text, tlen, &s->tags, why, sizeof(why)) != 0) {
		report_tags(s);
		fail_now(s, DKIM_PERMERROR, why);
		return;
	}
	report_tags(s);
	if ((bad = dkim_sig_refused(&s->tags, v->now)) != NULL) {
		fail_now(s, DKIM_PERMERROR, bad);
		return;
	}
	if (!dkim_key_qname(&s->tags, s->qname)) {
		fail_now(s, DKIM_PERMERROR, "key name too long");
		return;
	}
	if (!dkim_header_digest(v->hs.hdr.data, f, nf, self, &s->tags, s->hdigest) ||
	    dkim_body_hash_start(&s->body, s->tags.bcanon,
	    s->tags.has_l ? &s->tags.l : NULL) != 0)
		fail_now(s, DKIM_TEMPERROR, "out of memory");
}

static void
header_end(struct dkim_verify *v)
{
	struct dkim_hfield *f = NULL;
	size_t nf = 0, i;
	bool too_large = v->hs.too_large;

	if (!too_large &&
	    (nf = dkim_hfields_split(v->hs.hdr.data, v->hs.hdr.len, &f)) == SIZE_MAX)
		too_large = true;
	if (too_large) {
		/* The fields a signature covers may lie beyond what was kept:
		 * none can be checked. */
		v->nsigs = v->nscan < v->max ? v->nscan : v->max;
		for (i = 0; i < v->nsigs; i++)
			fail_now(&v->sigs[i], DKIM_PERMERROR, "header too large");
	} else {
		for (i = 0; i < nf && v->nsigs < v->max; i++)
			if (dkim_hfield_is(v->hs.hdr.data, &f[i], sig_name))
				sig_start(v, f, nf, &f[i], &v->sigs[v->nsigs++]);
	}
	free(f);
	hdr_stream_release(&v->hs);
}

/* -------------------------------------------------------------- input -- */

void
dkim_verify_feed(struct dkim_verify *v, const char *p, size_t n)
{
	size_t i;

	if (v->ended || n == 0)
		return;
	if (!v->hs.done) {
		size_t used = hdr_stream_feed(&v->hs, p, n);

		if (v->hs.done)
			header_end(v);
		p += used;
		n -= used;
	}
	if (!v->hs.done || n == 0)
		return;
	for (i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].bad)
			dkim_body_hash_feed(&v->sigs[i].body, p, n);
}

/* ------------------------------------------------------------ results -- */

bool
dkim_sig_check(EVP_PKEY *pkey, const struct dkim_sig *sig,
    const uint8_t digest[DKIM_DIGEST_LEN])
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pc = NULL;
	bool ok;

	if (sig->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 §3: PureEdDSA over the SHA-256 of the header data. */
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestVerify(md, sig->b, sig->blen, digest,
		    DKIM_DIGEST_LEN) == 1;
	} else {
		ok = (pc = EVP_PKEY_CTX_new(pkey, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pc, sig->b, sig->blen, digest,
		    DKIM_DIGEST_LEN) == 1;
	}
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pc);
	return ok;
}

/* The result once the key is known and the body is over (§6.1.3). */
static void
settle(struct dkim_verify *v, struct sig *s)
{
	if (s->settled)
		return;
	if (s->key == KEY_UNKNOWN) {
		set_result(s, DKIM_TEMPERROR, "key not fetched");
		return;
	}
	if (!v->ended)
		return;
	s->settled = true;
	if (s->body.cut)
		set_result(s, DKIM_FAIL, "body shorter than l=");
	else if (s->tags.bhlen != DKIM_DIGEST_LEN ||
	    memcmp(s->tags.bh, s->body.digest, DKIM_DIGEST_LEN) != 0)
		set_result(s, DKIM_FAIL, "body hash mismatch");
	else if (!dkim_sig_check(s->pkey, &s->tags, s->hdigest))
		set_result(s, DKIM_FAIL, "signature did not verify");
	else
		set_result(s, DKIM_PASS, "");
}

void
dkim_verify_end(struct dkim_verify *v)
{
	size_t i;

	if (v->ended)
		return;
	if (!v->hs.done) {
		/* All header: no body, which canonicalizes like an empty one. */
		hdr_stream_end(&v->hs);
		header_end(v);
	}
	v->ended = true;
	for (i = 0; i < v->nsigs; i++) {
		struct sig *s = &v->sigs[i];

		if (s->bad)
			continue;
		dkim_body_hash_end(&s->body);
		if (!s->body.ok)
			fail_now(s, DKIM_TEMPERROR, "out of memory");
		else
			settle(v, s);
	}
}

/* ---------------------------------------------------------------- keys -- */

/* The domain part of i= is d= itself (key flag t=s). */
static bool
identity_is_d(const struct dkim_sig *sig)
{
	const char *at = strrchr(sig->i, '@');

	return at != NULL && str_ieq(at + 1, sig->d);
}

static EVP_PKEY *
rsa_key(const uint8_t *p, size_t len)
{
	const unsigned char *q = p;
	EVP_PKEY *k;

	/* SubjectPublicKeyInfo as RFC 6376 means; a bare RSAPublicKey is
	 * published by some and read too. */
	if ((k = d2i_PUBKEY(NULL, &q, (long)len)) == NULL) {
		q = p;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
	}
	ERR_clear_error();
	if (k != NULL && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

static int
key_bad(enum dkim_res *r, char *why, size_t whysize, enum dkim_res res,
    const char *text)
{
	*r = res;
	str_copy(why, whysize, text);
	return -1;
}

/* The key record at the signature's name, its checks (§3.6.1, §6.1.2)
 * and the key. */
int
dkim_key_from_answer(const struct dnsq_answer *a, const struct dkim_sig *sig,
    struct dkim_pubkey *key, enum dkim_res *r, char *why, size_t whysize)
{
	struct dkim_keyrec k, tmp;
	char txt[KEY_TXT_MAX], w0[64], msg[128];
	size_t i, found = 0;
	int bits;

	memset(key, 0, sizeof(*key));
	if (a->st == DNSQ_TEMP)
		return key_bad(r, why, whysize, DKIM_TEMPERROR, "key lookup failed");
	if (a->st != DNSQ_OK || a->n == 0)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "no key");
	/* Records that are no key records (another v=) are passed over;
	 * two key records at one name leave the key undefined (§3.6.2.2). */
	w0[0] = '\0';
	for (i = 0; i < a->n; i++) {
		char w[64];
		int len = dnsq_txt(a->rr[i], a->rrlen[i], txt, sizeof(txt));

		if (len < 0) {
			str_copy(w0, sizeof(w0), "key record unreadable");
			continue;
		}
		if (dkim_keyrec_parse(txt, (size_t)len, found ? &tmp : &k, w, sizeof(w)) != 0) {
			if (w0[0] == '\0')
				str_copy(w0, sizeof(w0), w);
			continue;
		}
		found++;
	}
	if (found > 1)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "several key records");
	if (found == 0) {
		str_fmt(msg, sizeof(msg), "bad key record: %s", w0);
		return key_bad(r, why, whysize, DKIM_PERMERROR, msg);
	}
	key->testing = k.testing;
	if (k.revoked)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "key revoked");
	if (!k.sha256_ok)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "key does not allow sha256");
	if (!k.email_ok)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "key not for email");
	if (k.strict && !identity_is_d(sig))
		return key_bad(r, why, whysize, DKIM_PERMERROR, "key t=s: i= domain must be d=");
	if (k.k == DKIM_KEY_UNKNOWN)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "unknown key type");
	if ((k.k == DKIM_KEY_ED25519) != (sig->alg == DKIM_ALG_ED25519_SHA256))
		return key_bad(r, why, whysize, DKIM_PERMERROR, "key type does not match a=");
	if (k.k == DKIM_KEY_ED25519) {
		/* RFC 8463 §4: p= is the raw 32-octet public key. */
		if (k.plen != 32 || (key->pkey = EVP_PKEY_new_raw_public_key(
		    EVP_PKEY_ED25519, NULL, k.p, k.plen)) == NULL) {
			ERR_clear_error();
			return key_bad(r, why, whysize, DKIM_PERMERROR, "bad ed25519 key");
		}
		key->bits = 256;
		return 0;
	}
	if ((key->pkey = rsa_key(k.p, k.plen)) == NULL)
		return key_bad(r, why, whysize, DKIM_PERMERROR, "bad RSA key");
	bits = EVP_PKEY_get_bits(key->pkey);
	key->bits = bits > 0 ? (unsigned)bits : 0;
	if (bits >= RSA_BITS_MIN && bits <= RSA_BITS_MAX)
		return 0;
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
	return key_bad(r, why, whysize, DKIM_PERMERROR, bits < RSA_BITS_MIN ?
	    "RSA key under 1024 bits (RFC 8301)" : "RSA key over 8192 bits");
}

/* The key for one signature, from its answer. */
static void
key_take(struct sig *s, const struct dnsq_answer *a)
{
	struct dkim_pubkey key;
	enum dkim_res r;
	char why[128];

	if (dkim_key_from_answer(a, &s->tags, &key, &r, why, sizeof(why)) != 0) {
		s->res.testing = key.testing;
		s->res.key_bits = key.bits;
		s->key = KEY_BAD;
		fail_now(s, r, why);
		return;
	}
	s->res.testing = key.testing;
	s->res.key_bits = key.bits;
	s->pkey = key.pkey;
	s->key = KEY_OK;
}

int
dkim_verify_check(struct dkim_verify *v, struct dnsq_cache *c)
{
	size_t i;

	if (!v->hs.done)
		return 0;
	for (i = 0; i < v->nsigs; i++) {
		struct sig *s = &v->sigs[i];
		const struct dnsq_answer *a;

		if (s->bad || s->key != KEY_UNKNOWN)
			continue;
		if ((a = dnsq_get(c, s->qname, DNSQ_TXT)) == NULL)
			return DNSQ_NEED;
		key_take(s, a);
	}
	if (v->ended)
		for (i = 0; i < v->nsigs; i++)
			settle(v, &v->sigs[i]);
	return 0;
}

bool
dkim_verify_header_done(const struct dkim_verify *v)
{
	return v->hs.done;
}

size_t
dkim_verify_count(const struct dkim_verify *v)
{
	return v->nsigs;
}

const struct dkim_result *
dkim_verify_result(const struct dkim_verify *v, size_t i)
{
	return i < v->nsigs ? &v->sigs[i].res : NULL;
}
