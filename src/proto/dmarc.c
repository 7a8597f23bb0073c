/*
 * dmarc: the DMARC verdict for one From domain, and the From field's
 * domains (see the header).
 *
 * Discovery and organizational domains follow RFC 9989 §4.10: no public
 * suffix list, but a "tree walk" of TXT queries at _dmarc.NAME from a
 * name towards the root, at most eight per walk (a name of eight or more
 * labels jumps to its last seven after the first query), stopping at a
 * record with psd=y or psd=n. From the records found, longest name first,
 * the organizational domain is the one with psd=n; or the name one label
 * below a psd=y one (unless that is where the walk started); or else the
 * shortest name with a record; or, with none at all, the start itself.
 *
 * The policy record is the From domain's own, else its organizational
 * domain's, else that of the public suffix domain (psd=y) above it
 * (§4.10.1). Relaxed alignment is "same organizational domain": as the
 * organizational domain of a name is the name or one of its ancestors,
 * an identifier outside the From domain's organizational domain cannot
 * align, and only identifiers inside it cost a walk of their own.
 *
 * Every lookup goes through the dnsq cache: a missing answer returns
 * DNSQ_NEED at once, and the caller replays the whole evaluation when it
 * has it, so the code reads straight through.
 */
#include "dmarc.h"

#include <stdio.h>
#include <string.h>

#include "../common/str.h"

/* RFC 9989 §4.10: at most eight queries per walk; eight labels or more
 * jump to seven after the first query. */
#define WALK_MAX 8
#define WALK_JUMP 7
/* Identifier walks made per evaluation at most (each up to WALK_MAX
 * queries); a message with more passing signatures inside the From
 * domain's organization than this is not worth more DNS traffic. */
#define ID_WALKS_MAX 8
/* TXT text longer than this is dropped unread (no DMARC record is). */
#define TXT_MAX 4096

#define WALK_TEMP (-3)

/* The problem field is a diagnostic: cut short, it is still worth having. */
#define NOTE(out, ...) \
	((void)str_fmt((out)->problem, sizeof((out)->problem), __VA_ARGS__))

static const char *const result_names[] = {
	[DMARC_NONE] = "none",
	[DMARC_PASS] = "pass",
	[DMARC_FAIL] = "fail",
	[DMARC_TEMPERROR] = "temperror",
	[DMARC_PERMERROR] = "permerror",
};

const char *
dmarc_result_name(enum dmarc_result r)
{
	if ((size_t)r >= sizeof(result_names) / sizeof(result_names[0]))
		return "permerror";
	return result_names[r];
}

/* ---- domain names ---- */

/*
 * A domain as the walk compares it: lower case, without a final dot,
 * 1..253 octets, labels 1..63 of letters, digits, '-' and '_'. -1 for
 * anything else (a U-label, a domain-literal, garbage).
 */
static int
domain_norm(const char *in, char *out, size_t outsize)
{
	size_t n = strlen(in), i, label = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n >= outsize)
		return -1;
	for (i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_') {
			label++;
		} else if (ch >= 'A' && ch <= 'Z') {
			ch = (char)(ch + 32);
			label++;
		} else
			return -1;
		if (label > 63)
			return -1;
		out[i] = ch;
	}
	if (label == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

static size_t
labels(const char *d)
{
	size_t n = 1;

	for (; *d; d++)
		if (*d == '.')
			n++;
	return n;
}

/* The last k labels of d (k no more than labels(d)), a pointer into d. */
static const char *
last_labels(const char *d, size_t k)
{
	const char *p = d + strlen(d);

	while (p > d) {
		if (p[-1] == '.' && --k == 0)
			return p;
		p--;
	}
	return d;
}

/* d is a or a subdomain of a (both normalized). */
static bool
at_or_below(const char *d, const char *a)
{
	size_t dn = strlen(d), an = strlen(a);

	if (dn == an)
		return strcmp(d, a) == 0;
	return dn > an && d[dn - an - 1] == '.' && strcmp(d + dn - an, a) == 0;
}

/* ---- record lookup and the tree walk ---- */

enum look {
	LOOK_NONE,       /* no DMARC record (none, or several: ignored) */
	LOOK_ONE,
	LOOK_TEMP,
};

/*
 * The DMARC record at _dmarc.DOMAIN: LOOK_* or DNSQ_NEED. TXT records not
 * starting with v=DMARC1 are not DMARC records; two or more DMARC
 * records at one name are all discarded (RFC 9989 §4.10 step 2), and
 * *several says so.
 */
static int
lookup(struct dnsq_cache *c, const char *domain, struct dmarc_record *r,
    bool *several)
{
	char q[DNSQ_NAME_MAX], txt[TXT_MAX];
	const struct dnsq_answer *a;
	struct dmarc_record tmp;
	size_t i, found = 0;

	*several = false;
	/* a name too long to query cannot exist, nor its record */
	if (str_fmt(q, sizeof(q), "_dmarc.%s", domain) != 0 || !dnsq_name_ok(q))
		return LOOK_NONE;
	if ((a = dnsq_get(c, q, DNSQ_TXT)) == NULL)
		return DNSQ_NEED;
	if (a->st == DNSQ_TEMP)
		return LOOK_TEMP;
	if (a->st != DNSQ_OK)
		return LOOK_NONE;
	for (i = 0; i < a->n; i++) {
		int len = dnsq_txt(a->rr[i], a->rrlen[i], txt, sizeof(txt));

		if (len < 0 || dmarc_record_parse(txt, (size_t)len, &tmp) != 0)
			continue;
		if (found++ == 0)
			*r = tmp;
	}
	if (found > 1) {
		*several = true;
		return LOOK_NONE;
	}
	return found == 1 ? LOOK_ONE : LOOK_NONE;
}

/* What one tree walk found: records by name, longest name first. */
struct walk {
	const char *start;
	size_t n;
	const char *at[WALK_MAX];    /* suffixes of start */
	int psd[WALK_MAX];
	const char *several;         /* a name whose records were discarded */
	const char *temp;            /* the name whose lookup failed */
};

/*
 * RFC 9989 §4.10: query start, then its parent (or, from eight labels
 * up, its last seven labels), and so on to the last label, stopping at a
 * record with a psd= tag. 0, DNSQ_NEED, or WALK_TEMP (w->temp says where).
 */
static int
walk(struct dnsq_cache *c, const char *start, struct walk *w)
{
	const char *name = start;
	struct dmarc_record r;
	bool several;

	memset(w, 0, sizeof(*w));
	w->start = start;
	for (;;) {
		size_t x;
		int rc = lookup(c, name, &r, &several);

		if (rc == DNSQ_NEED)
			return DNSQ_NEED;
		if (rc == LOOK_TEMP) {
			w->temp = name;
			return WALK_TEMP;
		}
		if (several && w->several == NULL)
			w->several = name;
		if (rc == LOOK_ONE) {
			w->at[w->n] = name;
			w->psd[w->n++] = r.psd;
			if (r.psd != 0)
				break;
		}
		if ((x = labels(name)) <= 1 || w->n == WALK_MAX)
			break;
		name = last_labels(start, x < WALK_JUMP + 1 ? x - 1 : WALK_JUMP);
	}
	return 0;
}

/* RFC 9989 §4.10.2: the organizational domain from a walk's records. */
static const char *
walk_org(const struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (w->psd[i] == 'n')
			return w->at[i];
		if (w->psd[i] == 'y' && w->at[i] != w->start)
			return last_labels(w->start, labels(w->at[i]) + 1);
	}
	return w->n > 0 ? w->at[w->n - 1] : w->start;
}

static bool
walk_has(const struct walk *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->at[i] == name)
			return true;
	return false;
}

/* ---- the evaluation ---- */

struct eval {
	struct dnsq_cache *c;
	char from[DMARC_DOMAIN_MAX];
	struct walk fw;              /* the walk from the From domain */
	bool walked;
	const char *org;             /* the From domain's, in from[] */
	size_t id_walks;
	bool walks_cut;              /* ID_WALKS_MAX reached */
	bool temp;                   /* some DMARC lookup failed ... */
	char temp_at[DMARC_DOMAIN_MAX];   /* ... the first at _dmarc.THIS */
};

/* Records a failed DMARC lookup; the verdict waits until alignment is known. */
static void
temp_seen(struct eval *e, const char *where)
{
	if (!e->temp)
		(void)str_copy(e->temp_at, sizeof(e->temp_at), where);
	e->temp = true;
}

/* Walks from the From domain once: 0, DNSQ_NEED or WALK_TEMP. */
static int
from_walk(struct eval *e)
{
	int rc;

	if (e->walked)
		return 0;
	if ((rc = walk(e->c, e->from, &e->fw)) != 0) {
		if (rc == WALK_TEMP)
			temp_seen(e, e->fw.temp);
		return rc;
	}
	e->walked = true;
	e->org = walk_org(&e->fw);
	return 0;
}

enum align { ALIGN_NO, ALIGN_YES };

/*
 * Is identifier id aligned with the From domain? ALIGN_*, DNSQ_NEED, or
 * WALK_TEMP. Strict: the same name. Relaxed: the same organizational
 * domain, which needs a walk from each unless they are the same name.
 */
static int
aligned(struct eval *e, const char *id, bool strict)
{
	char d[DMARC_DOMAIN_MAX];
	struct walk w;
	int rc;

	if (id == NULL || domain_norm(id, d, sizeof(d)) != 0)
		return ALIGN_NO;
	if (strcmp(d, e->from) == 0)
		return ALIGN_YES;
	if (strict)
		return ALIGN_NO;
	if ((rc = from_walk(e)) != 0)
		return rc;
	if (!at_or_below(d, e->org))
		return ALIGN_NO;
	if (e->id_walks == ID_WALKS_MAX) {
		e->walks_cut = true;
		return ALIGN_NO;
	}
	e->id_walks++;
	if ((rc = walk(e->c, d, &w)) != 0) {
		if (rc == WALK_TEMP)
			temp_seen(e, w.temp);
		return rc;
	}
	return strcmp(walk_org(&w), e->org) == 0 ? ALIGN_YES : ALIGN_NO;
}

/*
 * Does the From domain exist (RFC 9989 §3.2.13, A.4)? Only an NXDOMAIN
 * says no, for any query type (RFC 8020), so one A query answers it; and
 * when _dmarc.FROM was not NXDOMAIN, FROM has a child, so it exists.
 * 1, 0, DNSQ_NEED or WALK_TEMP.
 */
static int
from_exists(struct eval *e)
{
	char q[DNSQ_NAME_MAX];
	const struct dnsq_answer *a;

	if (str_fmt(q, sizeof(q), "_dmarc.%s", e->from) == 0 && dnsq_name_ok(q)) {
		if ((a = dnsq_get(e->c, q, DNSQ_TXT)) == NULL)
			return DNSQ_NEED;
		if (a->st == DNSQ_OK || a->st == DNSQ_NODATA)
			return 1;
	}
	if ((a = dnsq_get(e->c, e->from, DNSQ_A)) == NULL)
		return DNSQ_NEED;
	if (a->st == DNSQ_TEMP)
		return WALK_TEMP;
	return a->st != DNSQ_NXDOMAIN;
}

static enum dmarc_policy
one_lower(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
}

/*
 * The policy for a failed message: p at the From domain itself; for a
 * subdomain of the policy domain, np if the From domain does not exist,
 * else sp, else p (RFC 9989 §4.7, §4.10.1). Then t=y or pct= may lower it
 * one step. 0, DNSQ_NEED or WALK_TEMP.
 */
static int
fail_policy(struct eval *e, const struct dmarc_input *in,
    struct dmarc_verdict *out)
{
	const struct dmarc_record *r = &out->rec;
	enum dmarc_policy p = r->p, sub;
	int rc;

	if (strcmp(out->policy_domain, e->from) != 0) {
		sub = r->sp != DMARC_P_UNSET ? r->sp : r->p;
		p = sub;
		/* the A query only when the answer changes the policy */
		if (r->np != DMARC_P_UNSET && r->np != sub) {
			if ((rc = from_exists(e)) < 0)
				return rc;
			if (rc == 0)
				p = r->np;
		}
	}
	if (p == DMARC_P_UNSET)
		p = DMARC_P_NONE;
	out->policy = p;
	if (p == DMARC_P_NONE)
		return 0;
	/* t=y is RFC 9989's pct=0; either lowers one step, never two */
	if (r->testing) {
		out->policy = one_lower(p);
		(void)str_fmt(out->problem, sizeof(out->problem),
		    "t=y: policy lowered to %s", dmarc_policy_name(out->policy));
	} else if (r->pct < 100 && in->sample >= (unsigned)r->pct) {
		out->policy = one_lower(p);
		(void)str_fmt(out->problem, sizeof(out->problem),
		    "pct=%d, not sampled: policy lowered to %s", r->pct,
		    dmarc_policy_name(out->policy));
	}
	return 0;
}


int
dmarc_check(const struct dmarc_input *in, struct dnsq_cache *c,
    struct dmarc_verdict *out)
{
	struct eval e;
	const char *pol = NULL;
	bool several;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&e, 0, sizeof(e));
	out->result = DMARC_NONE;
	out->policy = DMARC_P_NONE;
	e.c = c;
	if (in->from_domain == NULL ||
	    domain_norm(in->from_domain, e.from, sizeof(e.from)) != 0) {
		out->result = DMARC_PERMERROR;
		NOTE(out, "the From domain is not a domain name");
		return 0;
	}

	/* Policy discovery (§4.10.1): the From domain, else walk up. */
	rc = lookup(c, e.from, &out->rec, &several);
	if (rc == DNSQ_NEED)
		return DNSQ_NEED;
	if (rc == LOOK_TEMP) {
		out->result = DMARC_TEMPERROR;
		NOTE(out, "DNS failure looking up _dmarc.%s", e.from);
		return 0;
	}
	if (rc == LOOK_ONE)
		pol = e.from;
	else {
		if ((rc = from_walk(&e)) == DNSQ_NEED)
			return DNSQ_NEED;
		if (rc == WALK_TEMP) {
			out->result = DMARC_TEMPERROR;
			NOTE(out, "DNS failure looking up _dmarc.%s", e.temp_at);
			return 0;
		}
		if (e.fw.several != NULL)
			NOTE(out, "several DMARC records at _dmarc.%s: ignored",
			    e.fw.several);
		if (walk_has(&e.fw, e.org))
			pol = e.org;
		else if (e.fw.n > 0 && e.fw.psd[e.fw.n - 1] == 'y')
			pol = e.fw.at[e.fw.n - 1];
		if (pol != NULL) {
			if ((rc = lookup(c, pol, &out->rec, &several)) < 0)
				return rc;               /* not after a walk, but safe */
			if (rc != LOOK_ONE) {
				out->result = DMARC_TEMPERROR;
				NOTE(out, "DNS failure looking up _dmarc.%s", pol);
				return 0;
			}
		}
		(void)str_copy(out->org_domain, sizeof(out->org_domain), e.org);
	}
	if (pol == NULL) {
		memset(&out->rec, 0, sizeof(out->rec));
		if (e.fw.several == NULL)
			NOTE(out, "no DMARC record");
		return 0;
	}
	(void)str_copy(out->policy_domain, sizeof(out->policy_domain), pol);
	if (out->rec.unusable) {
		NOTE(out, "the record at _dmarc.%s has an invalid policy and no "
		    "valid rua=: ignored", pol);
		return 0;
	}

	/* Alignment (§4.4, §4.10.2): any aligned identifier passes. */
	if (in->spf_pass) {
		rc = aligned(&e, in->spf_domain, out->rec.aspf_strict);
		if (rc == DNSQ_NEED)
			return DNSQ_NEED;
		out->spf_aligned = rc == ALIGN_YES;
	}
	for (i = 0; i < in->ndkim && !out->dkim_aligned; i++) {
		rc = aligned(&e, in->dkim_pass_domains[i], out->rec.adkim_strict);
		if (rc == DNSQ_NEED)
			return DNSQ_NEED;
		out->dkim_aligned = rc == ALIGN_YES;
	}
	if (e.walked)
		(void)str_copy(out->org_domain, sizeof(out->org_domain), e.org);
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_PASS;
		return 0;
	}
	if (e.temp) {
		out->result = DMARC_TEMPERROR;
		NOTE(out, "DNS failure looking up _dmarc.%s", e.temp_at);
		return 0;
	}
	if (in->auth_temperror) {
		out->result = DMARC_TEMPERROR;
		NOTE(out, "SPF or DKIM had a temporary error and nothing aligned");
		return 0;
	}
	out->result = DMARC_FAIL;
	if (e.walks_cut)
		NOTE(out, "too many DKIM domains: not all were checked");
	rc = fail_policy(&e, in, out);
	if (rc == DNSQ_NEED)
		return DNSQ_NEED;
	if (rc == WALK_TEMP) {
		out->result = DMARC_TEMPERROR;
		out->policy = DMARC_P_NONE;
		NOTE(out, "DNS failure looking up %s (for np=)", e.from);
	}
	return 0;
}

/* ---- the From field's domains (RFC 5322 §3.4, §4.4; RFC 6854) ---- */

/*
 *   address-list = address *("," address) / obs-addr-list
 *   address      = mailbox / group
 *   mailbox      = name-addr / addr-spec
 *   name-addr    = [display-name] angle-addr
 *   angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
 *   group        = display-name ":" [group-list] ";" [CFWS]
 *   display-name = phrase = word *(word / "." / CFWS)      ; with obs-phrase
 *   addr-spec    = local-part "@" domain
 *   local-part   = word *("." word)                       ; obs-local-part
 *   domain       = atom *("." atom) / domain-literal       ; obs-domain
 *
 * CFWS may stand between any two tokens, so a small lexer that drops it
 * turns the field into words (atoms and quoted strings), domain-literals
 * and the specials, and the parser looks one token ahead. Empty list
 * elements (obs-addr-list: "a@b, , c@d") are allowed; UTF-8 is taken as
 * atext, qtext and ctext (RFC 6532).
 */

enum tok_kind {
	TK_END,
	TK_ATOM,
	TK_QSTR,
	TK_DLIT,
	TK_SPECIAL,          /* one of < > : ; @ , . in tok.c */
	TK_ERR,
};

struct tok {
	enum tok_kind k;
	const char *p;       /* the token's text, for atoms and literals */
	size_t n;
	char c;
};

struct lex {
	const char *s;
	size_t len, pos;
};

static bool
atext(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch >= 0x80 ||
	    (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* At a CR: a folding CRLF WSP, or the CRLF ending the value, is space. */
static bool
fold_at(const struct lex *l, size_t i)
{
	if (i + 1 >= l->len || l->s[i] != '\r' || l->s[i + 1] != '\n')
		return false;
	return i + 2 == l->len || l->s[i + 2] == ' ' || l->s[i + 2] == '\t';
}

/* Skips CFWS; false on an unterminated comment or a stray line end. */
static bool
skip_cfws(struct lex *l)
{
	size_t depth = 0;

	while (l->pos < l->len) {
		char ch = l->s[l->pos];

		if (ch == ' ' || ch == '\t') {
			l->pos++;
		} else if (ch == '\r' || ch == '\n') {
			if (!fold_at(l, l->pos))
				return false;
			l->pos += 2;
		} else if (ch == '(') {
			depth++;
			l->pos++;
		} else if (depth == 0) {
			return true;
		} else if (ch == ')') {
			depth--;
			l->pos++;
		} else if (ch == '\\') {
			/* quoted-pair; a line end cannot be quoted */
			if (l->pos + 1 >= l->len || l->s[l->pos + 1] == '\r' ||
			    l->s[l->pos + 1] == '\n' || l->s[l->pos + 1] == '\0')
				return false;
			l->pos += 2;
		} else if (ch == '\0') {
			return false;
		} else
			l->pos++;
	}
	return depth == 0;
}

/* Runs to the closing quote (or "]"): quoted-pairs and folding allowed. */
static bool
skip_quoted(struct lex *l, char close)
{
	while (l->pos < l->len) {
		char ch = l->s[l->pos];

		if (ch == close) {
			l->pos++;
			return true;
		}
		if (ch == '\\') {
			if (l->pos + 1 >= l->len || l->s[l->pos + 1] == '\r' ||
			    l->s[l->pos + 1] == '\n' || l->s[l->pos + 1] == '\0')
				return false;
			l->pos += 2;
		} else if (ch == '\r' || ch == '\n') {
			if (!fold_at(l, l->pos) || l->pos + 2 == l->len)
				return false;
			l->pos += 2;
		} else if (ch == '\0' || (close == ']' && ch == '['))
			return false;
		else
			l->pos++;
	}
	return false;
}

static struct tok
lex_next(struct lex *l)
{
	struct tok t = { TK_ERR, NULL, 0, 0 };
	size_t start;
	char ch;

	if (!skip_cfws(l))
		return t;
	if (l->pos == l->len) {
		t.k = TK_END;
		return t;
	}
	start = l->pos;
	ch = l->s[l->pos];
	t.p = l->s + start;
	if (ch == '"' || ch == '[') {
		l->pos++;
		if (!skip_quoted(l, ch == '"' ? '"' : ']'))
			return t;
		t.k = ch == '"' ? TK_QSTR : TK_DLIT;
	} else if (strchr("<>:;@,.", ch) != NULL && ch != '\0') {
		l->pos++;
		t.k = TK_SPECIAL;
		t.c = ch;
	} else if (atext((unsigned char)ch)) {
		while (l->pos < l->len && atext((unsigned char)l->s[l->pos]))
			l->pos++;
		t.k = TK_ATOM;
	} else
		return t;        /* ")", "]", "\", a control character */
	t.n = l->pos - start;
	return t;
}

static struct tok
lex_peek(const struct lex *l)
{
	struct lex copy = *l;

	return lex_next(&copy);
}

static bool
is_special(struct tok t, char c)
{
	return t.k == TK_SPECIAL && t.c == c;
}

struct domains {
	char (*out)[DMARC_DOMAIN_MAX];
	size_t max, n;
};

/* Appends text to d[*len], lower-cased; false if it does not fit. */
static bool
append_lower(char *d, size_t *len, const char *p, size_t n)
{
	size_t i;

	if (n >= DMARC_DOMAIN_MAX - *len)
		return false;
	for (i = 0; i < n; i++) {
		char ch = p[i];

		d[(*len)++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	d[*len] = '\0';
	return true;
}

/* domain = dot-atom / domain-literal / obs-domain; kept if ds != NULL. */
static bool
parse_domain(struct lex *l, struct domains *ds)
{
	char d[DMARC_DOMAIN_MAX];
	size_t len = 0, i;
	struct tok t = lex_next(l);

	d[0] = '\0';
	if (t.k == TK_DLIT) {
		if (!append_lower(d, &len, t.p, t.n))
			return false;
	} else if (t.k == TK_ATOM) {
		if (!append_lower(d, &len, t.p, t.n))
			return false;
		while (is_special(lex_peek(l), '.')) {
			(void)lex_next(l);
			t = lex_next(l);
			if (t.k != TK_ATOM || !append_lower(d, &len, ".", 1) ||
			    !append_lower(d, &len, t.p, t.n))
				return false;
		}
	} else
		return false;
	if (ds == NULL)
		return true;
	for (i = 0; i < ds->n; i++)
		if (strcmp(ds->out[i], d) == 0)
			return true;
	if (ds->n == ds->max)
		return false;
	memcpy(ds->out[ds->n++], d, len + 1);
	return true;
}

/*
 * Reads words and dots up to the next other token. *local: they make a
 * local-part (word *("." word)); *phrase: a display name (word *(word /
 * ".")). Returns how many tokens were read.
 */
static size_t
parse_words(struct lex *l, bool *local, bool *phrase)
{
	size_t n = 0;
	bool last_word = false;

	*local = *phrase = true;
	for (;;) {
		struct tok t = lex_peek(l);
		bool word = t.k == TK_ATOM || t.k == TK_QSTR;

		if (!word && !is_special(t, '.'))
			break;
		(void)lex_next(l);
		if (n == 0 && !word)
			*local = *phrase = false;
		if (n > 0 && word == last_word)
			*local = false;          /* two words, or two dots, in a row */
		last_word = word;
		n++;
	}
	if (n == 0 || !last_word)
		*local = false;
	if (n == 0)
		*phrase = false;
	return n;
}

/* After "<": [obs-route] addr-spec ">". */
static bool
parse_angle(struct lex *l, struct domains *ds)
{
	struct tok t = lex_peek(l);
	bool local, phrase, route = false;

	if (is_special(t, '@') || is_special(t, ',')) {
		/* obs-route: *(CFWS / ",") "@" domain *("," ["@" domain]) ":" */
		for (;;) {
			t = lex_next(l);
			if (is_special(t, ':'))
				break;
			if (is_special(t, '@')) {
				if (!parse_domain(l, NULL))
					return false;
				route = true;
			} else if (!is_special(t, ','))
				return false;
		}
		if (!route)
			return false;
	}
	if (parse_words(l, &local, &phrase) == 0 || !local ||
	    !is_special(lex_next(l), '@') || !parse_domain(l, ds))
		return false;
	return is_special(lex_next(l), '>');
}

/* One mailbox, or (outside a group) a group. */
static bool
parse_address(struct lex *l, struct domains *ds, bool in_group)
{
	bool local, phrase;
	size_t n = parse_words(l, &local, &phrase);
	struct tok t = lex_next(l);

	if (is_special(t, '@'))
		return local && parse_domain(l, ds);
	if (is_special(t, '<'))
		return (n == 0 || phrase) && parse_angle(l, ds);
	if (!is_special(t, ':') || !phrase || in_group)
		return false;
	/* group-list = mailbox-list / CFWS / obs-group-list, then ";" */
	for (;;) {
		t = lex_peek(l);
		if (is_special(t, ';')) {
			(void)lex_next(l);
			return true;
		}
		if (is_special(t, ',')) {
			(void)lex_next(l);
			continue;
		}
		if (!parse_address(l, ds, true))
			return false;
		t = lex_peek(l);
		if (!is_special(t, ',') && !is_special(t, ';'))
			return false;
	}
}

int
dmarc_from_domains(const char *value, size_t len,
    char out[][DMARC_DOMAIN_MAX], size_t max, size_t *n)
{
	struct lex l = { value, len, 0 };
	struct domains ds = { out, max, 0 };
	bool any = false;

	*n = 0;
	for (;;) {
		struct tok t = lex_peek(&l);

		if (t.k == TK_END)
			break;
		if (is_special(t, ',')) {
			(void)lex_next(&l);
			continue;
		}
		if (!parse_address(&l, &ds, false))
			return -1;
		any = true;
		t = lex_peek(&l);
		if (t.k != TK_END && !is_special(t, ','))
			return -1;
	}
	if (!any)
		return -1;
	*n = ds.n;
	return 0;
}
