/*
 * arc: ARC chain verification as the message streams in (see the header).
 *
 * When the header ends, the ARC fields are collected by instance and the
 * chain's structure checked (RFC 8617 §5.2): a broken chain fails there,
 * before any key is asked for. Otherwise every ARC-Seal is parsed and its
 * signed data hashed (the sets 1..i in order, each AAR, AMS, AS, relaxed:
 * §5.1.1), every ARC-Message-Signature's header data is hashed as a DKIM
 * signature's (RFC 6376 §3.7), and one body hash is started for each
 * distinct (canonicalization, l=) the AMSs ask for; then the header text
 * is dropped.
 *
 * Keys are fetched in the order the result is decided: the newest AMS,
 * the seals from i=n down to 1, then the older AMSs for oldest-pass. A
 * signature is checked as soon as its key is in (the header digest is
 * known by then; only an AMS's body hash waits for the end). A key or a
 * signature that fails stops the fetching of what comes after it, which
 * could not change the outcome; so the result is the same whenever check
 * is called.
 */
#include "arc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "dkim_canon.h"
#include "dkim_tags.h"
#include "hdr_stream.h"

/* The header kept, as for DKIM. */
#define ARC_HEADER_MAX DKIM_VERIFY_HEADER_MAX

static const char *const kind_name[ARC_KINDS] = {
	"ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal",
};

enum key_state { KEY_UNKNOWN, KEY_OK, KEY_BAD };

/* One signature to check: an AMS or an AS. */
struct asig {
	bool live;                  /* parsed and hashed: to be checked */
	struct dkim_sig tags;
	uint8_t hdigest[DKIM_DIGEST_LEN];
	char qname[DNSQ_NAME_MAX];
	enum key_state key;
	bool temp;                  /* the key lookup failed for now */
	bool sig_ok;                /* b= verified, once the key is in */
	size_t body;                /* an AMS's body hash */
	char why[96];               /* why not valid */
};

/* A body hash shared by the AMSs asking for the same one. */
struct body {
	enum dkim_canon canon;
	bool has_l;
	uint64_t l;
	struct dkim_body_hash h;
};

struct arc_verify {
	int64_t now;
	struct hdr_stream hs;
	bool arc_seen;              /* the scan saw an ARC field's name */
	bool ended;
	bool decided;               /* res final before any key */
	bool settled;
	bool stop;                  /* a decisive key or seal failed */
	struct arc_result res;
	unsigned n;
	struct asig *ams, *as;      /* [n]: instance i at [i-1] */
	struct body *bodies;        /* [n] at most */
	size_t nbodies;
};

/* The scan's view of a field name, to know whether a header too large to
 * keep held an ARC field. */
static void
name_seen(void *arg, const char *name, size_t len)
{
	struct arc_verify *v = arg;
	unsigned k;

	for (k = 0; k < ARC_KINDS; k++)
		if (str_ieqn(name, len, kind_name[k]))
			v->arc_seen = true;
}

const char *
arc_cv_name(enum arc_cv cv)
{
	switch (cv) {
	case ARC_PASS:
		return "pass";
	case ARC_FAIL:
		return "fail";
	case ARC_NONE:
	default:
		return "none";
	}
}

struct arc_verify *
arc_verify_new(int64_t now)
{
	struct arc_verify *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->now = now;
	hdr_stream_init(&v->hs, ARC_HEADER_MAX, name_seen, v);
	v->res.cv = ARC_FAIL;
	str_copy(v->res.reason, sizeof(v->res.reason), "not verified");
	return v;
}

void
arc_verify_free(struct arc_verify **vp)
{
	struct arc_verify *v = *vp;
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nbodies; i++)
		dkim_body_hash_release(&v->bodies[i].h);
	free(v->bodies);
	free(v->ams);
	free(v->as);
	hdr_stream_release(&v->hs);
	free(v);
	*vp = NULL;
}

/* The result is cv, final. */
static void
decide(struct arc_verify *v, enum arc_cv cv)
{
	v->res.cv = cv;
	v->res.temperror = false;
	v->res.reason[0] = '\0';
	v->decided = true;
}

/* The result is fail, for the reason given (cut to fit). */
static void fail(struct arc_verify *v, bool temp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct arc_verify *v, bool temp, const char *fmt, ...)
{
	va_list ap;

	decide(v, ARC_FAIL);
	v->res.temperror = temp;
	va_start(ap, fmt);
	if (vsnprintf(v->res.reason, sizeof(v->res.reason), fmt, ap) < 0)
		str_copy(v->res.reason, sizeof(v->res.reason), "fail");
	va_end(ap);
}

/* --------------------------------------------------------- instances -- */

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An instance value (RFC 8617 §4.2.1: 1*2DIGIT, 1..50): the number, 0
 * if it is none, ARC_MAX_SETS + 1 for one that is too high. */
static unsigned
instance_value(const char *v, size_t len)
{
	unsigned x = 0;
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (!digit(v[i]))
			return 0;
		if (x <= ARC_MAX_SETS)
			x = x * 10 + (unsigned)(v[i] - '0');
	}
	return x > ARC_MAX_SETS ? ARC_MAX_SETS + 1 : x;
}

/*
 * The AAR's instance (RFC 8617 §4.1.1):
 *   arc-info = instance [CFWS] ";"   instance = [CFWS] "i" [CFWS] "=" [CFWS] 1*2DIGIT
 * Comments are not taken (none are seen); *rest is past the ";".
 */
static unsigned
aar_instance(const char *v, size_t len, size_t *rest)
{
	size_t i = dkim_tags_skip_fws(v, len, 0), d;
	unsigned x;

	if (i == len || v[i] != 'i')
		return 0;
	i = dkim_tags_skip_fws(v, len, i + 1);
	if (i == len || v[i] != '=')
		return 0;
	i = dkim_tags_skip_fws(v, len, i + 1);
	for (d = i; i < len && digit(v[i]); i++)
		;
	x = instance_value(v + d, i - d);
	i = dkim_tags_skip_fws(v, len, i);
	if (i == len || v[i] != ';')
		return 0;
	*rest = i + 1;
	return x;
}

/* The value of tag name in an AMS or AS (no value: NULL). */
static const struct dkim_tag *
tag_find(const char *text, size_t len, struct dkim_tag *tags, const char *name)
{
	size_t n;

	if (dkim_tags_parse(text, len, tags, DKIM_TAGS_MAX, &n) != DKIM_TAGS_OK)
		return NULL;
	return dkim_tags_find(tags, n, name);
}

static unsigned
sig_instance(const char *text, size_t len)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	const struct dkim_tag *t = tag_find(text, len, tags, "i");

	return t == NULL ? 0 : instance_value(t->val, t->vlen);
}

static const char *
value(const char *h, const struct dkim_hfield *f, size_t *len)
{
	*len = f->len - f->colon - 1;
	return h + f->off + f->colon + 1;
}

void
arc_chain_collect(const char *h, const struct dkim_hfield *f, size_t nf,
    struct arc_chain *c)
{
	size_t i, vlen, rest;
	const char *val;
	unsigned k, x;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < nf; i++) {
		for (k = 0; k < ARC_KINDS; k++)
			if (dkim_hfield_is(h, &f[i], kind_name[k]))
				break;
		if (k == ARC_KINDS)
			continue;
		c->nfields++;
		val = value(h, &f[i], &vlen);
		x = k == ARC_AAR ? aar_instance(val, vlen, &rest) : sig_instance(val, vlen);
		if (x == 0) {
			c->bad = true;
			continue;
		}
		if (x > ARC_MAX_SETS) {
			c->over = true;
			continue;
		}
		if (c->count[x - 1][k]++ == 0)
			c->f[x - 1][k] = i;
		if (x > c->n)
			c->n = x;
	}
}

int
arc_chain_structure(const struct arc_chain *c, char *why, size_t whysize)
{
	unsigned i, k;

	if (c->over)
		return str_fmt(why, whysize, "more than %d ARC sets", ARC_MAX_SETS), -1;
	if (c->bad)
		return str_copy(why, whysize, "ARC field without a valid i="), -1;
	for (i = 0; i < c->n; i++)
		for (k = 0; k < ARC_KINDS; k++) {
			if (c->count[i][k] == 0)
				return str_fmt(why, whysize, "ARC set i=%u lacks its %s",
				    i + 1, kind_name[k]), -1;
			if (c->count[i][k] > 1)
				return str_fmt(why, whysize, "ARC set i=%u has %u %s fields",
				    i + 1, c->count[i][k], kind_name[k]), -1;
		}
	return 0;
}

/* ------------------------------------------------------------ header -- */

/* A signature's key name, or why not in s->why. */
static bool
key_name(struct asig *s)
{
	if (dkim_key_qname(&s->tags, s->qname))
		return true;
	str_copy(s->why, sizeof(s->why), "key name too long");
	return false;
}

static const char *
cv_of(const char *text, size_t len, enum arc_cv *cv)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	const struct dkim_tag *t = tag_find(text, len, tags, "cv");

	if (t == NULL)
		return "missing cv=";
	if (str_ieqn(t->val, t->vlen, "none"))
		*cv = ARC_NONE;
	else if (str_ieqn(t->val, t->vlen, "pass"))
		*cv = ARC_PASS;
	else if (str_ieqn(t->val, t->vlen, "fail"))
		*cv = ARC_FAIL;
	else
		return "bad cv=";
	return NULL;
}

/*
 * The seals, i=n first for its cv= (§5.2: a chain its newest set calls
 * failed is failed); then each seal's signed data: the sets 1..i, each
 * AAR, AMS, AS in relaxed form, this seal with b= empty and no CRLF.
 * Sets 1..i-1 are hashed once into chain, and copied for every seal.
 * false when the chain failed (v decided).
 */
static bool
seals_start(struct arc_verify *v, const char *h, const struct dkim_hfield *f,
    const struct arc_chain *c)
{
	EVP_MD_CTX *chain = NULL, *md = NULL;
	struct buf data = BUF_INIT;
	unsigned i = 0, j;
	bool ok = false;

	for (j = v->n; j >= 1; j--) {
		struct asig *s = &v->as[j - 1];
		const struct dkim_hfield *self = &f[c->f[j - 1][ARC_AS]];
		const char *text, *bad;
		size_t tlen;
		enum arc_cv cv = ARC_NONE;
		char why[64];

		text = value(h, self, &tlen);
		if (dkim_sig_parse_kind(text, tlen, DKIM_SIG_ARC_SEAL, &s->tags, why,
		    sizeof(why)) != 0)
			bad = why;
		else if ((bad = cv_of(text, tlen, &cv)) == NULL)
			bad = dkim_sig_refused(&s->tags, v->now);  /* no x= */
		if (j == v->n)
			str_copy(v->res.sealer_domain, sizeof(v->res.sealer_domain), s->tags.d);
		if (bad != NULL) {
			fail(v, false, "ARC-Seal i=%u: %s", j, bad);
			return false;
		}
		if (j == v->n && cv == ARC_FAIL) {
			fail(v, false, "ARC-Seal i=%u says cv=fail", j);
			return false;
		}
		if (cv != (j == 1 ? ARC_NONE : ARC_PASS)) {
			fail(v, false, "ARC-Seal i=%u: cv=%s", j, arc_cv_name(cv));
			return false;
		}
		if (!key_name(s)) {
			fail(v, false, "ARC-Seal i=%u: %s", j, s->why);
			return false;
		}
	}
	if ((chain = EVP_MD_CTX_new()) == NULL || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(chain, EVP_sha256(), NULL) != 1)
		goto out;
	for (i = 1; i <= v->n; i++) {
		const struct dkim_hfield *aar = &f[c->f[i - 1][ARC_AAR]];
		const struct dkim_hfield *ams = &f[c->f[i - 1][ARC_AMS]];
		const struct dkim_hfield *as = &f[c->f[i - 1][ARC_AS]];

		buf_reset(&data);
		dkim_canon_header_relaxed(h + aar->off, aar->len, &data);
		dkim_canon_header_relaxed(h + ams->off, ams->len, &data);
		if (EVP_DigestUpdate(chain, data.data, data.len) != 1)
			goto out;
		buf_reset(&data);
		if (!dkim_self_form(h, as, &v->as[i - 1].tags, &data) ||
		    EVP_MD_CTX_copy_ex(md, chain) != 1 ||
		    EVP_DigestUpdate(md, data.data, data.len) != 1 ||
		    EVP_DigestFinal_ex(md, v->as[i - 1].hdigest, NULL) != 1)
			goto out;
		v->as[i - 1].live = true;
		buf_reset(&data);
		dkim_canon_header_relaxed(h + as->off, as->len, &data);
		if (EVP_DigestUpdate(chain, data.data, data.len) != 1)
			goto out;
	}
	ok = true;
out:
	if (!ok)
		fail(v, true, "out of memory");
	EVP_MD_CTX_free(chain);
	EVP_MD_CTX_free(md);
	buf_release(&data);
	return ok;
}

/* The body hash an AMS asks for: one already started, or a new one. */
static bool
body_for(struct arc_verify *v, struct asig *s)
{
	struct body *b;
	size_t i;

	for (i = 0; i < v->nbodies; i++) {
		b = &v->bodies[i];
		if (b->canon == s->tags.bcanon && b->has_l == s->tags.has_l &&
		    (!b->has_l || b->l == s->tags.l)) {
			s->body = i;
			return true;
		}
	}
	b = &v->bodies[v->nbodies];
	b->canon = s->tags.bcanon;
	b->has_l = s->tags.has_l;
	b->l = s->tags.l;
	if (dkim_body_hash_start(&b->h, b->canon, b->has_l ? &b->l : NULL) != 0)
		return false;
	s->body = v->nbodies++;
	return true;
}

/* AMS i: parsed, checked as far as no key is needed, its header data
 * hashed and its body hash found. false with s->why when it fails. */
static bool
ams_start(struct arc_verify *v, const char *h, const struct dkim_hfield *f,
    size_t nf, const struct dkim_hfield *self, struct asig *s)
{
	const char *text, *bad;
	size_t tlen, j;
	char why[64];

	text = value(h, self, &tlen);
	if (dkim_sig_parse_kind(text, tlen, DKIM_SIG_ARC_MSG, &s->tags, why,
	    sizeof(why)) != 0) {
		str_copy(s->why, sizeof(s->why), why);
		return false;
	}
	/* §4.1.2: the seals are not the AMS's to sign. */
	for (j = 0; j < s->tags.nh; j++)
		if (str_ieqn(text + s->tags.h[j].off, s->tags.h[j].len, "arc-seal")) {
			str_copy(s->why, sizeof(s->why), "h= names ARC-Seal");
			return false;
		}
	if ((bad = dkim_sig_refused(&s->tags, v->now)) != NULL) {
		str_copy(s->why, sizeof(s->why), bad);
		return false;
	}
	if (!key_name(s))
		return false;
	if (!dkim_header_digest(h, f, nf, self, &s->tags, s->hdigest) ||
	    !body_for(v, s)) {
		str_copy(s->why, sizeof(s->why), "out of memory");
		s->temp = true;
		return false;
	}
	s->live = true;
	return true;
}

/* The payload of AAR i=n after "i=n;", unfolded and trimmed. */
static void
aar_payload(struct arc_verify *v, const char *h, const struct dkim_hfield *f)
{
	size_t vlen, rest = 0, i, o = 0;
	const char *val = value(h, f, &vlen);

	(void)aar_instance(val, vlen, &rest);
	for (i = rest; i < vlen && o + 1 < sizeof(v->res.aar); i++) {
		if (val[i] == '\r' || val[i] == '\n' || (o == 0 && wsp(val[i])))
			continue;
		v->res.aar[o++] = val[i];
	}
	while (o > 0 && wsp(v->res.aar[o - 1]))
		o--;
	v->res.aar[o] = '\0';
}

static void
header_end(struct arc_verify *v)
{
	struct dkim_hfield *f = NULL;
	struct arc_chain c;
	size_t nf = 0;
	unsigned i;
	char why[128];
	bool too_large = v->hs.too_large;

	if (!too_large &&
	    (nf = dkim_hfields_split(v->hs.hdr.data, v->hs.hdr.len, &f)) == SIZE_MAX)
		too_large = true;
	if (too_large) {
		/* The sets may lie beyond what was kept: none can be checked. */
		if (v->arc_seen)
			fail(v, false, "header too large");
		else
			decide(v, ARC_NONE);
		goto out;
	}
	arc_chain_collect(v->hs.hdr.data, f, nf, &c);
	v->res.n = v->n = c.n;
	if (c.nfields == 0) {
		decide(v, ARC_NONE);
		goto out;
	}
	if (arc_chain_structure(&c, why, sizeof(why)) != 0) {
		fail(v, false, "%s", why);
		goto out;
	}
	if ((v->ams = calloc(v->n, sizeof(*v->ams))) == NULL ||
	    (v->as = calloc(v->n, sizeof(*v->as))) == NULL ||
	    (v->bodies = calloc(v->n, sizeof(*v->bodies))) == NULL) {
		fail(v, true, "out of memory");
		goto out;
	}
	aar_payload(v, v->hs.hdr.data, &f[c.f[v->n - 1][ARC_AAR]]);
	if (!seals_start(v, v->hs.hdr.data, f, &c))
		goto out;
	for (i = v->n; i >= 1; i--) {
		struct asig *s = &v->ams[i - 1];

		if (!ams_start(v, v->hs.hdr.data, f, nf, &f[c.f[i - 1][ARC_AMS]], s)) {
			if (i == v->n) {
				fail(v, s->temp, "ARC-Message-Signature i=%u: %s", i, s->why);
				goto out;
			}
			break;   /* older ones do not matter to oldest-pass */
		}
	}
out:
	free(f);
	hdr_stream_release(&v->hs);
}

/* -------------------------------------------------------------- input -- */

void
arc_verify_feed(struct arc_verify *v, const char *p, size_t n)
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
	if (!v->hs.done || n == 0 || v->decided)
		return;
	for (i = 0; i < v->nbodies; i++)
		dkim_body_hash_feed(&v->bodies[i].h, p, n);
}

void
arc_verify_end(struct arc_verify *v)
{
	size_t i;

	if (v->ended)
		return;
	if (!v->hs.done) {
		hdr_stream_end(&v->hs);
		header_end(v);
	}
	v->ended = true;
	if (v->decided)
		return;
	for (i = 0; i < v->nbodies; i++)
		dkim_body_hash_end(&v->bodies[i].h);
}

bool
arc_verify_header_done(const struct arc_verify *v)
{
	return v->hs.done;
}

/* ------------------------------------------------------------ results -- */

/* The key and the signature of s; false when either failed. */
static bool
key_take(struct asig *s, const struct dnsq_answer *a)
{
	struct dkim_pubkey key;
	enum dkim_res r;

	if (dkim_key_from_answer(a, &s->tags, &key, &r, s->why, sizeof(s->why)) != 0) {
		s->key = KEY_BAD;
		s->temp = r == DKIM_TEMPERROR;
		return false;
	}
	s->key = KEY_OK;
	s->sig_ok = dkim_sig_check(key.pkey, &s->tags, s->hdigest);
	EVP_PKEY_free(key.pkey);
	if (!s->sig_ok)
		str_copy(s->why, sizeof(s->why), "signature did not verify");
	return s->sig_ok;
}

/* The next signature to fetch a key for, in the order of the decision;
 * NULL when none is left. */
static struct asig *
next_sig(struct arc_verify *v)
{
	unsigned i;

	if (v->stop)
		return NULL;
	if (v->ams[v->n - 1].key == KEY_UNKNOWN)
		return &v->ams[v->n - 1];
	for (i = v->n; i >= 1; i--)
		if (v->as[i - 1].key == KEY_UNKNOWN)
			return &v->as[i - 1];
	/* oldest-pass: down to the first AMS that fails */
	for (i = v->n - 1; i >= 1; i--) {
		struct asig *s = &v->ams[i - 1];

		if (!s->live || s->key == KEY_BAD || (s->key == KEY_OK && !s->sig_ok))
			return NULL;
		if (s->key == KEY_UNKNOWN)
			return s;
	}
	return NULL;
}

static bool
ams_valid(const struct arc_verify *v, const struct asig *s)
{
	const struct dkim_body_hash *b = &v->bodies[s->body].h;

	return s->live && s->key == KEY_OK && s->sig_ok && b->ok && !b->cut &&
	    s->tags.bhlen == DKIM_DIGEST_LEN &&
	    memcmp(s->tags.bh, b->digest, DKIM_DIGEST_LEN) == 0;
}

/* The result, everything needed being in: §5.2 steps 4-7. */
static void
settle(struct arc_verify *v)
{
	struct asig *s = &v->ams[v->n - 1];
	const struct dkim_body_hash *b = &v->bodies[s->body].h;
	unsigned i;

	v->settled = true;
	if (s->key == KEY_BAD || !s->sig_ok) {
		fail(v, s->temp, "ARC-Message-Signature i=%u: %s", v->n, s->why);
		return;
	}
	if (!ams_valid(v, s)) {
		fail(v, !b->ok, "ARC-Message-Signature i=%u: %s", v->n,
		    !b->ok ? "out of memory" : b->cut ? "body shorter than l=" :
		    "body hash mismatch");
		return;
	}
	for (i = v->n; i >= 1; i--) {
		s = &v->as[i - 1];
		if (s->key != KEY_OK || !s->sig_ok) {
			fail(v, s->temp, "ARC-Seal i=%u: %s", i, s->why);
			return;
		}
	}
	decide(v, ARC_PASS);
	for (i = v->n - 1; i >= 1; i--)
		if (!ams_valid(v, &v->ams[i - 1])) {
			v->res.oldest_pass = i + 1;
			break;
		}
}

int
arc_verify_check(struct arc_verify *v, struct dnsq_cache *c)
{
	struct asig *s;

	if (!v->hs.done || v->decided || v->settled)
		return 0;
	while ((s = next_sig(v)) != NULL) {
		const struct dnsq_answer *a;

		if ((a = dnsq_get(c, s->qname, DNSQ_TXT)) == NULL)
			return DNSQ_NEED;
		/* A failure of the newest AMS or of a seal decides. */
		if (!key_take(s, a) && (s == &v->ams[v->n - 1] ||
		    (s >= v->as && s < v->as + v->n)))
			v->stop = true;
	}
	if (v->ended)
		settle(v);
	return 0;
}

const struct arc_result *
arc_verify_result(const struct arc_verify *v)
{
	return &v->res;
}
