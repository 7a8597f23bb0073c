/*
 * test_dkim: DKIM signing (RFC 6376, RFC 8463). The relaxed
 * canonicalizations are checked against the example of RFC 6376 §3.4.5;
 * then messages are signed with freshly generated RSA and Ed25519 keys and
 * the signatures verified here, independently of the signer: the test
 * canonicalizes with its own simple code, picks the fields that h= names
 * (bottom-up, RFC 6376 §5.4.2), checks bh= and verifies b= with OpenSSL
 * against the public key taken from the DNS TXT record the signer makes.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "policy/dkim_sign.h"
#include "proto/rfc5322.h"

#define S(lit) lit, sizeof(lit) - 1
#define NOW 1764057992

static EVP_PKEY *rsa_key, *ed_key;

/* ----------------------------------------------- reference canonicalizer */

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6376 §3.4.4, written as the RFC says it, line by line. */
static void
ref_body(const char *b, size_t len, struct buf *out)
{
	struct buf all = BUF_INIT;
	size_t i = 0;

	while (i < len) {
		const char *e = NULL;
		size_t j, ll, k;
		struct buf line = BUF_INIT;

		for (j = i; j + 1 < len; j++) {
			if (b[j] == '\r' && b[j + 1] == '\n') {
				e = b + j;
				break;
			}
		}
		ll = e ? (size_t)(e - (b + i)) : len - i;
		/* reduce WSP runs to one SP */
		for (k = 0; k < ll; k++) {
			if (!wsp(b[i + k]))
				buf_append_char(&line, b[i + k]);
			else if (k == 0 || !wsp(b[i + k - 1]))
				buf_append_char(&line, ' ');
		}
		/* ignore WSP at the end of the line */
		while (line.len && line.data[line.len - 1] == ' ')
			line.len--;
		buf_append(&all, line.data ? line.data : "", line.len);
		buf_append(&all, "\r\n", 2);
		buf_release(&line);
		i += ll + (e ? 2 : 0);
	}
	/* ignore empty lines at the end of the body */
	while (all.len >= 4 && memcmp(all.data + all.len - 4, "\r\n\r\n", 4) == 0)
		all.len -= 2;
	if (all.len == 2)
		all.len = 0;
	buf_append(out, all.data ? all.data : "", all.len);
	buf_release(&all);
}

/* RFC 6376 §3.4.2 for one field (without its final CRLF). */
static void
ref_header(const char *f, size_t len, struct buf *out)
{
	const char *colon = memchr(f, ':', len);
	struct buf v = BUF_INIT;
	size_t nlen, i, s, e;

	assert_non_null(colon);
	nlen = (size_t)(colon - f);
	/* unfolded first: a folding CR LF before the colon goes too */
	while (nlen && (wsp(f[nlen - 1]) || f[nlen - 1] == '\r' || f[nlen - 1] == '\n'))
		nlen--;
	for (i = 0; i < nlen; i++)
		buf_append_char(out, (f[i] >= 'A' && f[i] <= 'Z') ? (char)(f[i] + 32) : f[i]);
	buf_append_char(out, ':');
	/* unfold: CRLF before WSP removed */
	for (i = (size_t)(colon - f) + 1; i < len; i++) {
		if (f[i] == '\r' && i + 1 < len && f[i + 1] == '\n') {
			i++;
			continue;
		}
		if (wsp(f[i])) {
			if (v.len == 0 || v.data[v.len - 1] != ' ')
				buf_append_char(&v, ' ');
		} else
			buf_append_char(&v, f[i]);
	}
	for (s = 0; s < v.len && v.data[s] == ' '; s++)
		;
	for (e = v.len; e > s && v.data[e - 1] == ' '; e--)
		;
	buf_append(out, v.data ? v.data + s : "", e - s);
	buf_append(out, "\r\n", 2);
	buf_release(&v);
}

struct hfield {
	const char *p;
	size_t len;       /* without the final CRLF */
	bool used;
};

/* Splits the header; returns the body offset. */
static size_t
ref_fields(const char *m, size_t len, struct hfield *f, size_t *n, size_t max)
{
	size_t i = 0;

	*n = 0;
	while (i < len) {
		const char *e;
		size_t start = i;

		if (len - i >= 2 && m[i] == '\r' && m[i + 1] == '\n')
			return i + 2;
		for (;;) {
			e = NULL;
			for (; i + 1 < len; i++) {
				if (m[i] == '\r' && m[i + 1] == '\n') {
					e = m + i;
					break;
				}
			}
			if (e == NULL) {
				i = len;
				break;
			}
			if (i + 2 < len && wsp(m[i + 2])) {
				i += 2;
				continue;
			}
			break;
		}
		assert_true(*n < max);
		f[*n].p = m + start;
		f[*n].len = i - start;
		f[*n].used = false;
		(*n)++;
		i = i < len ? i + 2 : len;
	}
	return len;
}

static bool
field_named(const struct hfield *f, const char *name)
{
	const char *colon = memchr(f->p, ':', f->len);
	size_t n;

	if (colon == NULL)
		return false;
	n = (size_t)(colon - f->p);
	while (n && (wsp(f->p[n - 1]) || f->p[n - 1] == '\r' || f->p[n - 1] == '\n'))
		n--;
	return n == strlen(name) && strncasecmp(f->p, name, n) == 0;
}

/* ---------------------------------------------------------- signatures */

struct sig {
	char *field;            /* the whole DKIM-Signature field, no final CRLF */
	char v[16], a[32], c[32], d[256], s[64], t[32], h[1024], bh[128];
	unsigned char b[1024];
	size_t blen;
};

/* Tag value with folding whitespace removed. */
static void
tag(const char *list, const char *name, char *out, size_t outsize)
{
	const char *p = list;
	size_t o = 0, nl = strlen(name);

	out[0] = '\0';
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			for (p += nl + 1; *p && *p != ';'; p++) {
				if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
					continue;
				assert_true(o + 1 < outsize);
				out[o++] = *p;
			}
			out[o] = '\0';
			return;
		}
		p = strchr(p, ';');
		if (p == NULL)
			return;
		p++;
	}
}

static size_t
b64dec(const char *in, unsigned char *out, size_t outsize)
{
	size_t len = strlen(in), pad = 0;
	int n;

	assert_true(len % 4 == 0 && len / 4 * 3 <= outsize);
	if (len && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	assert_true(n >= 0 && (size_t)n >= pad);
	return (size_t)n - pad;
}

static void
b64enc(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static void
parse_sig(const char *text, size_t len, struct sig *sg)
{
	char b64[2048];
	const char *v;

	memset(sg, 0, sizeof(*sg));
	assert_true(len > 2 && memcmp(text + len - 2, "\r\n", 2) == 0);
	assert_true(strncmp(text, "DKIM-Signature:", 15) == 0);
	/* one field: every CRLF but the last is folding */
	for (size_t i = 0; i + 2 < len; i++) {
		if (text[i] == '\r') {
			assert_true(text[i + 1] == '\n' && wsp(text[i + 2]));
		}
		assert_true(text[i] != '\n' || text[i - 1] == '\r');
	}
	sg->field = strndup(text, len - 2);
	assert_non_null(sg->field);
	v = sg->field + 15;
	tag(v, "v", sg->v, sizeof(sg->v));
	tag(v, "a", sg->a, sizeof(sg->a));
	tag(v, "c", sg->c, sizeof(sg->c));
	tag(v, "d", sg->d, sizeof(sg->d));
	tag(v, "s", sg->s, sizeof(sg->s));
	tag(v, "t", sg->t, sizeof(sg->t));
	tag(v, "h", sg->h, sizeof(sg->h));
	tag(v, "bh", sg->bh, sizeof(sg->bh));
	tag(v, "b", b64, sizeof(b64));
	sg->blen = b64dec(b64, sg->b, sizeof(sg->b));
}

/* The signature field with b='s value removed (RFC 6376 §3.7). */
static char *
without_b(const char *field)
{
	const char *p = field;
	char *r;

	/* find the tag b= (not bh=) */
	for (;;) {
		p = strstr(p, "b=");
		assert_non_null(p);
		if (p[-1] == ' ' || p[-1] == ';' || p[-1] == '\t' || p[-1] == '\n')
			break;
		p += 2;
	}
	{
		const char *e = strchr(p, ';');
		size_t head = (size_t)(p - field) + 2;

		r = malloc(strlen(field) + 1);
		assert_non_null(r);
		memcpy(r, field, head);
		r[head] = '\0';
		if (e)
			strcat(r, e);
	}
	return r;
}

/* Verifies sg over msg the way a verifier would; returns 1 if the
 * signature is good, 0 if not, and checks bh= on the way (bh_ok). */
static int
verify(const char *msg, size_t len, const struct sig *sg, EVP_PKEY *pub,
    bool *bh_ok)
{
	struct hfield f[300];
	struct buf body = BUF_INIT, hdata = BUF_INIT;
	unsigned char bh[SHA256_DIGEST_LENGTH], hh[SHA256_DIGEST_LENGTH];
	char bh64[64], h[1024], *name, *save = NULL, *nob;
	size_t nf, off, i;
	EVP_MD_CTX *md;
	int ok;

	off = ref_fields(msg, len, f, &nf, 300);
	ref_body(msg + off, len - off, &body);
	SHA256((const unsigned char *)(body.data ? body.data : ""), body.len, bh);
	b64enc(bh, sizeof(bh), bh64);
	*bh_ok = strcmp(bh64, sg->bh) == 0;
	buf_release(&body);

	strcpy(h, sg->h);
	for (name = strtok_r(h, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
		for (i = nf; i-- > 0;) {
			if (!f[i].used && field_named(&f[i], name)) {
				f[i].used = true;
				ref_header(f[i].p, f[i].len, &hdata);
				break;
			}
		}
	}
	nob = without_b(sg->field);
	ref_header(nob, strlen(nob), &hdata);
	hdata.len -= 2;                 /* without its CRLF */
	free(nob);

	md = EVP_MD_CTX_new();
	assert_non_null(md);
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519) {
		SHA256((const unsigned char *)hdata.data, hdata.len, hh);
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub), 1);
		ok = EVP_DigestVerify(md, sg->b, sg->blen, hh, sizeof(hh));
	} else {
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
		ok = EVP_DigestVerify(md, sg->b, sg->blen,
		    (const unsigned char *)hdata.data, hdata.len);
	}
	EVP_MD_CTX_free(md);
	buf_release(&hdata);
	ERR_clear_error();
	return ok == 1;
}

/* The public key from the TXT record dkim_txt_record makes. */
static EVP_PKEY *
pub_from_txt(EVP_PKEY *priv)
{
	struct buf txt = BUF_INIT;
	char p[2048];
	unsigned char der[1024];
	const unsigned char *dp = der;
	size_t n;
	EVP_PKEY *pub;

	assert_int_equal(dkim_txt_record(priv, &txt), 0);
	assert_true(strncmp(buf_cstr(&txt), "v=DKIM1; k=", 11) == 0);
	tag(buf_cstr(&txt), "p", p, sizeof(p));
	n = b64dec(p, der, sizeof(der));
	if (EVP_PKEY_get_base_id(priv) == EVP_PKEY_ED25519) {
		char k[32];

		tag(buf_cstr(&txt), "k", k, sizeof(k));
		assert_string_equal(k, "ed25519");
		assert_int_equal(n, 32);
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, n);
	} else {
		char k[32];

		tag(buf_cstr(&txt), "k", k, sizeof(k));
		assert_string_equal(k, "rsa");
		pub = d2i_PUBKEY(NULL, &dp, (long)n);
		assert_true(dp == der + n);
	}
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
	buf_release(&txt);
	return pub;
}

static void
sign(EVP_PKEY *pkey, const char *msg, size_t len, struct sig *sg)
{
	struct dkim_key k;
	struct buf out = BUF_INIT;

	memset(&k, 0, sizeof(k));
	strcpy(k.domain, "example.org");
	strcpy(k.selector, "sel2025");
	k.pkey = pkey;
	assert_int_equal(dkim_sign(&k, msg, len, NOW, &out), 0);
	parse_sig(out.data, out.len, sg);
	buf_release(&out);
	assert_string_equal(sg->v, "1");
	assert_string_equal(sg->c, "relaxed/relaxed");
	assert_string_equal(sg->d, "example.org");
	assert_string_equal(sg->s, "sel2025");
	assert_string_equal(sg->t, "1764057992");
	assert_string_equal(sg->a, EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 ?
	    "ed25519-sha256" : "rsa-sha256");
}

/* ---------------------------------------------------------------- tests */

static int
setup(void **state)
{
	(void)state;
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return rsa_key && ed_key ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

/* RFC 6376 §3.4.5 */
static void
test_rfc_example(void **state)
{
	struct buf out = BUF_INIT, ref = BUF_INIT;

	(void)state;
	dkim_canon_header_relaxed(S("A: X"), &out);
	dkim_canon_header_relaxed(S("B : Y\t\r\n\tZ  "), &out);
	assert_string_equal(buf_cstr(&out), "a:X\r\nb:Y Z\r\n");
	buf_reset(&out);
	dkim_canon_body_relaxed(S(" C \r\nD \t E\r\n\r\n\r\n"), &out);
	assert_string_equal(buf_cstr(&out), " C\r\nD E\r\n");
	/* the reference agrees */
	ref_header(S("A: X"), &ref);
	ref_header(S("B : Y\t\r\n\tZ  "), &ref);
	assert_string_equal(buf_cstr(&ref), "a:X\r\nb:Y Z\r\n");
	buf_reset(&ref);
	ref_body(S(" C \r\nD \t E\r\n\r\n\r\n"), &ref);
	assert_string_equal(buf_cstr(&ref), " C\r\nD E\r\n");
	buf_release(&out);
	buf_release(&ref);
}

static void
check_body(const char *in, size_t len, const char *want)
{
	struct buf out = BUF_INIT, ref = BUF_INIT;

	dkim_canon_body_relaxed(in, len, &out);
	ref_body(in, len, &ref);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data ? out.data : "", want, out.len);
	assert_int_equal(ref.len, out.len);
	assert_memory_equal(ref.data ? ref.data : "", want, ref.len);
	buf_release(&out);
	buf_release(&ref);
}

static void
test_body_relaxed(void **state)
{
	(void)state;
	/* RFC 6376 §3.4.4: an empty body is empty; a missing final CRLF is
	 * added; trailing empty lines and line-end WSP go */
	check_body(S(""), "");
	check_body(S("\r\n"), "");
	check_body(S("\r\n\r\n\r\n"), "");
	check_body(S(" \t \r\n\t\r\n"), "");
	check_body(S("abc"), "abc\r\n");
	check_body(S("abc \t"), "abc\r\n");
	check_body(S("abc\r\n"), "abc\r\n");
	check_body(S("a\r\n\r\nb\r\n\r\n"), "a\r\n\r\nb\r\n");
	check_body(S("\r\n\r\na"), "\r\n\r\na\r\n");
	check_body(S("a  \t b\t\tc\r\n"), "a b c\r\n");
	check_body(S("\tx\r\n"), " x\r\n");
	/* a whitespace-only line inside the body is an empty line */
	check_body(S("a\r\n \t\r\nb"), "a\r\n\r\nb\r\n");
	/* bare CR and LF are line content, not line ends */
	check_body(S("a\nb\r\n"), "a\nb\r\n");
	check_body(S("a\rb\r\n"), "a\rb\r\n");
	check_body(S("a\r"), "a\r\r\n");
	/* appends to what is there */
	{
		struct buf out = BUF_INIT;

		buf_append_str(&out, "X");
		dkim_canon_body_relaxed(S("y\r\n"), &out);
		assert_string_equal(buf_cstr(&out), "Xy\r\n");
		buf_release(&out);
	}
}

static void
check_header(const char *in, size_t len, const char *want)
{
	struct buf out = BUF_INIT, ref = BUF_INIT;

	dkim_canon_header_relaxed(in, len, &out);
	ref_header(in, len, &ref);
	assert_string_equal(buf_cstr(&out), want);
	assert_string_equal(buf_cstr(&ref), want);
	buf_release(&out);
	buf_release(&ref);
}

static void
test_header_relaxed(void **state)
{
	(void)state;
	check_header(S("Subject: Hello"), "subject:Hello\r\n");
	check_header(S("SUBJECT:Hello"), "subject:Hello\r\n");
	check_header(S("Subject \t :  \t Hello  World \t "), "subject:Hello World\r\n");
	check_header(S("Subject:"), "subject:\r\n");
	check_header(S("Subject:   "), "subject:\r\n");
	check_header(S("Subject: a\r\n b\r\n\tc"), "subject:a b c\r\n");
	check_header(S("Subject:\r\n b"), "subject:b\r\n");
	check_header(S("Subject: a\r\n "), "subject:a\r\n");
	/* WSP before the colon, folded too (obsolete syntax, RFC 5322 §4.5) */
	check_header(S("From\r\n : a"), "from:a\r\n");
	check_header(S("From \r\n\t: a"), "from:a\r\n");
	/* the value's case is kept */
	check_header(S("From: Alice <ALICE@Example.ORG>"), "from:Alice <ALICE@Example.ORG>\r\n");
	/* 8-bit octets pass through */
	check_header(S("Subject: caf\xc3\xa9"), "subject:caf\xc3\xa9\r\n");
	/* no colon: nothing (the signer never passes one) */
	{
		struct buf out = BUF_INIT;

		dkim_canon_header_relaxed(S("no colon here"), &out);
		assert_int_equal(out.len, 0);
		buf_release(&out);
	}
}

static const char message[] =
    "Received: from client by mx; Tue, 25 Nov 2025 08:06:32 +0000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net,\r\n"
    "\tcarol@example.net\r\n"
    "Subject:   A   folded\r\n"
    "   subject line  \r\n"
    "Date: Tue, 25 Nov 2025 08:06:00 +0000\r\n"
    "X-Mailer: not signed\r\n"
    "Message-ID: <abc@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "to: dave@example.net\r\n"
    "\r\n"
    "Hello Bob,  \r\n"
    "\r\n"
    "  this is\t\tthe body.\r\n"
    "\r\n"
    "\r\n";

static void
check_h(const struct sig *sg)
{
	char h[1024], *p, *save = NULL;
	int from = 0, to = 0;

	/* every present signed field, From once more than present, nothing
	 * unsigned */
	strcpy(h, sg->h);
	for (p = strtok_r(h, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		from += strcmp(p, "from") == 0;
		to += strcmp(p, "to") == 0;
		assert_true(strcmp(p, "received") != 0);
		assert_true(strcmp(p, "x-mailer") != 0);
		assert_true(strcmp(p, "dkim-signature") != 0);
	}
	assert_int_equal(from, 2);
	assert_int_equal(to, 2);
	assert_non_null(strstr(sg->h, "subject"));
	assert_non_null(strstr(sg->h, "date"));
	assert_non_null(strstr(sg->h, "message-id"));
	assert_non_null(strstr(sg->h, "mime-version"));
	assert_non_null(strstr(sg->h, "content-type"));
	assert_null(strstr(sg->h, "cc"));
	assert_null(strstr(sg->h, "references"));
}

static void
sign_and_verify(EVP_PKEY *key)
{
	struct sig sg;
	EVP_PKEY *pub = pub_from_txt(key);
	bool bh_ok = false;
	char *m;
	size_t len = sizeof(message) - 1;

	sign(key, message, len, &sg);
	check_h(&sg);
	/* bh= is base64(SHA-256(canonical body)) */
	{
		struct buf body = BUF_INIT;
		unsigned char d[SHA256_DIGEST_LENGTH];
		char d64[64];
		const char *b = strstr(message, "\r\n\r\n") + 4;

		dkim_canon_body_relaxed(b, len - (size_t)(b - message), &body);
		assert_string_equal(buf_cstr(&body), "Hello Bob,\r\n\r\n this is the body.\r\n");
		SHA256((const unsigned char *)body.data, body.len, d);
		b64enc(d, sizeof(d), d64);
		assert_string_equal(sg.bh, d64);
		buf_release(&body);
	}
	assert_int_equal(verify(message, len, &sg, pub, &bh_ok), 1);
	assert_true(bh_ok);

	/* relaxed: whitespace changes and refolding still verify */
	m = strdup(message);
	assert_non_null(m);
	memcpy(strstr(m, "Hello Bob,  "), "Hello\tBob,\t ", 12);
	assert_int_equal(verify(m, len, &sg, pub, &bh_ok), 1);
	assert_true(bh_ok);
	/* a changed body breaks bh= */
	memcpy(strstr(m, "the body"), "The body", 8);
	verify(m, len, &sg, pub, &bh_ok);
	assert_false(bh_ok);
	free(m);
	/* a changed signed field breaks b= */
	m = strdup(message);
	memcpy(strstr(m, "folded"), "FOLDED", 6);
	assert_int_equal(verify(m, len, &sg, pub, &bh_ok), 0);
	assert_true(bh_ok);
	free(m);
	/* an unsigned field may change */
	m = strdup(message);
	memcpy(strstr(m, "not signed"), "NOT SIGNED", 10);
	assert_int_equal(verify(m, len, &sg, pub, &bh_ok), 1);
	free(m);
	/* a second From added on top breaks it (over-signing) */
	{
		struct buf m2 = BUF_INIT;

		buf_append_str(&m2, "From: Mallory <m@evil.example>\r\n");
		buf_append(&m2, message, len);
		assert_int_equal(verify(m2.data, m2.len, &sg, pub, &bh_ok), 0);
		buf_release(&m2);
	}
	/* the wrong key */
	{
		EVP_PKEY *other = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ?
		    EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
		    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);

		assert_non_null(other);
		assert_int_equal(verify(message, len, &sg, other, &bh_ok), 0);
		EVP_PKEY_free(other);
	}
	free(sg.field);
	EVP_PKEY_free(pub);
}

static void
test_sign_rsa(void **state)
{
	(void)state;
	sign_and_verify(rsa_key);
}

static void
test_sign_ed25519(void **state)
{
	(void)state;
	sign_and_verify(ed_key);
}

static void
test_sign_edge_messages(void **state)
{
	static const struct { const char *m; const char *bh; } cases[] = {
		/* no body at all, an empty body: bh of the empty string */
		{ "From: a@example.org\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		{ "From: a@example.org\r\n\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		{ "From: a@example.org\r\n\r\n\r\n\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		/* no From: only the over-signing entry */
		{ "Subject: x\r\n\r\nbody", NULL },
		/* nothing to sign at all */
		{ "X-A: 1\r\n\r\nbody\r\n", NULL },
		/* no header */
		{ "\r\nbody\r\n", NULL },
		{ "", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
	};
	EVP_PKEY *keys[2] = { rsa_key, ed_key };
	size_t i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		EVP_PKEY *pub = pub_from_txt(keys[k]);

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct sig sg;
			bool bh_ok = false;
			size_t len = strlen(cases[i].m);

			sign(keys[k], cases[i].m, len, &sg);
			assert_int_equal(verify(cases[i].m, len, &sg, pub, &bh_ok), 1);
			assert_true(bh_ok);
			if (cases[i].bh)
				assert_string_equal(sg.bh, cases[i].bh);
			/* h= always ends with the extra from */
			assert_true(strlen(sg.h) >= 4 &&
			    strcmp(sg.h + strlen(sg.h) - 4, "from") == 0);
			free(sg.field);
		}
		EVP_PKEY_free(pub);
	}
}


/*
 * The signer and the submission From: check read a header the same way:
 * the From fields the signer signs (h= names "from" once per signed
 * instance, at most 4, and once more) are those the scanner counts.
 */
static void
test_sign_agrees_with_from_check(void **state)
{
	static const char *const cases[] = {
		"From: <a@example.org>\r\n\r\nhi\r\n",
		"From : \"CEO\" <ceo@example.org>\r\nFrom: <a@example.org>\r\n\r\nhi\r\n",
		"From: <a@example.org>\r\nFROM\t:<ceo@example.org>\r\n\r\nhi\r\n",
		"From\r\n : <ceo@example.org>\r\nSubject: x\r\n\r\nhi\r\n",
		"From \r\n\t: <ceo@example.org>\r\n\r\n",
		"From <x@example.org>\r\nFrom x: y\r\nFr\x01om: z\r\nX-From: w\r\n\r\n",
		"From\x01: <ceo@example.org>\r\nFrom: <a@example.org>\r\n\r\nhi\r\n",
		":From: <ceo@example.org>\r\nFrom: <a@example.org>\r\n\r\nhi\r\n",
		"Subject: s\r\n From: folded\r\n\r\nFrom: body\r\n",
		"From: 1\r\nFrom : 2\r\nfrom:3\r\nFROM  :4\r\nFrom\r\n :5\r\n\r\nhi\r\n",
	};
	size_t i;
	EVP_PKEY *pub = pub_from_txt(ed_key);

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *m = cases[i];
		struct hdr_scan hs;
		struct sig sg;
		char h[1024], *p, *save = NULL;
		unsigned signed_from = 0, want;
		bool bh_ok = false;

		hdr_scan_init(&hs);
		hdr_scan_feed(&hs, m, strlen(m));
		sign(ed_key, m, strlen(m), &sg);
		strcpy(h, sg.h);
		for (p = strtok_r(h, ":", &save); p; p = strtok_r(NULL, ":", &save))
			signed_from += strcmp(p, "from") == 0;
		want = (hs.nfrom < 4 ? hs.nfrom : 4) + 1;
		if (signed_from != want)
			fail_msg("case %zu: h=%s, the scan saw %u From", i, sg.h, hs.nfrom);
		/* (past 4 instances the extra "from" names a field that is
		 * there, and the signature fails: closed, not open) */
		if (hs.nfrom <= 4 && verify(m, strlen(m), &sg, pub, &bh_ok) != 1)
			fail_msg("case %zu: does not verify; h=%s", i, sg.h);
		free(sg.field);
	}
	EVP_PKEY_free(pub);
}

static void
test_key_load(void **state)
{
	char dir[] = "/tmp/test_dkim.XXXXXX", path[256];
	struct dkim_key k;
	struct buf errs = BUF_INIT;
	FILE *f;
	EVP_PKEY *ec;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ed.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, ed_key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	assert_int_equal(dkim_key_load(&k, "Example.ORG", "s1", path, &errs), 0);
	assert_string_equal(k.domain, "example.org");
	assert_string_equal(k.selector, "s1");
	assert_int_equal(EVP_PKEY_eq(k.pkey, ed_key), 1);
	dkim_key_release(&k);
	assert_null(k.pkey);
	unlink(path);

	/* not RSA or Ed25519 */
	snprintf(path, sizeof(path), "%s/ec.pem", dir);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(ec);
	assert_int_equal(dkim_key_load(&k, "example.org", "s1", path, &errs), -1);
	assert_null(k.pkey);
	assert_non_null(strstr(buf_cstr(&errs), "not an RSA or Ed25519"));
	unlink(path);

	/* garbage, missing file */
	snprintf(path, sizeof(path), "%s/junk.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	assert_int_equal(dkim_key_load(&k, "example.org", "s1", path, &errs), -1);
	unlink(path);
	assert_int_equal(dkim_key_load(&k, "example.org", "s1", path, &errs), -1);
	assert_non_null(strstr(buf_cstr(&errs), "cannot open"));
	rmdir(dir);
	buf_release(&errs);
	ERR_clear_error();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_body_relaxed),
		cmocka_unit_test(test_header_relaxed),
		cmocka_unit_test(test_sign_rsa),
		cmocka_unit_test(test_sign_ed25519),
		cmocka_unit_test(test_sign_edge_messages),
		cmocka_unit_test(test_sign_agrees_with_from_check),
		cmocka_unit_test(test_key_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
