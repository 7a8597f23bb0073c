/*
 * arc_seal: make the ARC set of this hop (see the header).
 *
 * The AMS is a DKIM signature in all but its name and tags (§4.1.2): it
 * signs the fields tern's DKIM signer signs, and the DKIM-Signature
 * fields, whose survival a later hop may want to judge; never an ARC or
 * Authentication-Results field, which hops add and remove. The AS
 * (§4.1.3, §5.1.1) signs, in relaxed form, the sets 1..n-1 found in the
 * message (each AAR, AMS, AS), then the new AAR and AMS, and itself with
 * b= empty and no final CRLF; so the AMS is signed first and its
 * signature is part of what the AS signs.
 */
#include "arc_seal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "../common/str.h"
#include "dkim_canon.h"

/* The fields the AMS signs besides those of dkim_sign. */
static const char *const ams_extra[] = { "dkim-signature" };

int
arc_sign_pkey(void *arg, const uint8_t digest[DKIM_DIGEST_LEN], uint8_t *sig,
    size_t *siglen)
{
	return dkim_sign_digest(arg, digest, sig, siglen);
}

/* A domain or selector as it can go into a tag: letters, digits, "-",
 * "_" and dots. */
static bool
name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		    s[i] == '.'))
			return false;
	return i > 0 && i < DKIM_DOMAIN_MAX;
}

/* Printable ASCII (or UTF-8), tabs, and CRLF only before WSP. */
static bool
authres_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r') {
			if (s[i + 1] != '\n' || (s[i + 2] != ' ' && s[i + 2] != '\t'))
				return false;
			i++;
		} else if (c < 0x20 && c != '\t')
			return false;
		else if (c == 0x7f)
			return false;
	}
	return i > 0;
}

/* The digest of data, signed, into sig[*siglen]. */
static int
sign_data(const struct buf *data, arc_sign_fn sign, void *arg, uint8_t *sig,
    size_t *siglen)
{
	uint8_t digest[DKIM_DIGEST_LEN];

	SHA256((const unsigned char *)(data->data ? data->data : ""), data->len, digest);
	*siglen = DKIM_SIG_MAX;
	return sign(arg, digest, sig, siglen) == 0 && *siglen > 0 &&
	    *siglen <= DKIM_SIG_MAX ? 0 : -1;
}

/* One whole field of the message, relaxed, into data. */
static void
relaxed(const char *msg, const struct dkim_hfield *f, struct buf *data)
{
	dkim_canon_header_relaxed(msg + f->off, f->len, data);
}

int
arc_seal(const char *domain, const char *selector, bool ed, const char *msg,
    size_t len, enum arc_cv cv, const char *authres, int64_t now, arc_sign_fn sign,
    void *sign_arg, struct buf *out)
{
	struct dkim_hfield *f = NULL;
	struct arc_chain c;
	struct buf hlist = BUF_INIT, hdata = BUF_INIT, bh = BUF_INIT;
	struct buf tags = BUF_INIT, aar = BUF_INIT, ams = BUF_INIT, as = BUF_INIT;
	const char *alg = ed ? "ed25519-sha256" : "rsa-sha256";
	uint8_t sig[DKIM_SIG_MAX];
	size_t nf, body, siglen, nfrom;
	unsigned i, k;
	char why[128];
	int rc = -1;

	if (!name_ok(domain) || !name_ok(selector) || !authres_ok(authres))
		return -1;
	/* A first line that begins with WSP would continue our AAR. */
	if (len > 0 && (msg[0] == ' ' || msg[0] == '\t'))
		return -1;
	if ((nf = dkim_hfields_split(msg, len, &f)) == SIZE_MAX)
		return -1;
	arc_chain_collect(msg, f, nf, &c);
	if (c.over || c.n + 1 > ARC_MAX_SETS)
		goto out;
	if (cv == ARC_NONE ? c.nfields > 0 : c.n == 0)
		goto out;
	if (cv == ARC_PASS && arc_chain_structure(&c, why, sizeof(why)) != 0)
		goto out;
	/* With more From fields than dkim_sign_headers signs, the AMS's
	 * over-signing "from" would take one of them: it could not verify,
	 * and a broken AMS fails the whole chain downstream. */
	for (k = 0, nfrom = 0; k < nf; k++)
		nfrom += dkim_hfield_is(msg, &f[k], "from");
	if (nfrom > DKIM_SIGN_INSTANCES)
		goto out;
	i = c.n + 1;

	buf_printf(&aar, "ARC-Authentication-Results: i=%u; %s\r\n", i, authres);

	/* The AMS, as dkim_sign_prepare makes a DKIM-Signature. */
	if (dkim_sign_headers(msg, len, ams_extra,
	    sizeof(ams_extra) / sizeof(ams_extra[0]), &hlist, &hdata, &body) != 0 ||
	    dkim_sign_body_hash(msg + body, len - body, &bh) != 0)
		goto out;
	buf_printf(&tags, "i=%u; a=%s; c=relaxed/relaxed;\r\n\td=%s; s=%s; t=%lld;\r\n\th=%s;\r\n\tbh=%s;\r\n\tb=",
	    i, alg, domain, selector, (long long)now, buf_cstr(&hlist), buf_cstr(&bh));
	dkim_sign_self("ARC-Message-Signature", &tags, &hdata);
	if (sign_data(&hdata, sign, sign_arg, sig, &siglen) != 0)
		goto out;
	dkim_sign_field("ARC-Message-Signature", &tags, sig, siglen, &ams);

	/* The AS: the chain as it was, unless it failed (§5.1.2), then the
	 * new set. */
	buf_reset(&hdata);
	if (cv == ARC_PASS)
		for (k = 0; k < c.n; k++) {
			relaxed(msg, &f[c.f[k][ARC_AAR]], &hdata);
			relaxed(msg, &f[c.f[k][ARC_AMS]], &hdata);
			relaxed(msg, &f[c.f[k][ARC_AS]], &hdata);
		}
	dkim_canon_header_relaxed(aar.data, aar.len - 2, &hdata);
	dkim_canon_header_relaxed(ams.data, ams.len - 2, &hdata);
	buf_reset(&tags);
	buf_printf(&tags, "i=%u; cv=%s; a=%s; d=%s; s=%s;\r\n\tt=%lld; b=", i,
	    arc_cv_name(cv), alg, domain, selector, (long long)now);
	dkim_sign_self("ARC-Seal", &tags, &hdata);
	if (sign_data(&hdata, sign, sign_arg, sig, &siglen) != 0)
		goto out;
	dkim_sign_field("ARC-Seal", &tags, sig, siglen, &as);

	if (buf_append(out, as.data, as.len) == 0 &&
	    buf_append(out, ams.data, ams.len) == 0 &&
	    buf_append(out, aar.data, aar.len) == 0)
		rc = 0;
out:
	free(f);
	buf_release(&hlist);
	buf_release(&hdata);
	buf_release(&bh);
	buf_release(&tags);
	buf_release(&aar);
	buf_release(&ams);
	buf_release(&as);
	return rc;
}
