/*
 * dkim_canon: DKIM canonicalization (see the header).
 *
 * The body canonicalizer is a small state machine over octets: a line
 * ends at CR LF only (a bare CR or LF is content), so a CR is held until
 * the next octet says what it was. Empty lines are only counted: they go
 * out when a line with content follows, and are dropped at the end. Output
 * collects in a small buffer so the digest is fed in runs, not octets.
 */
#include "dkim_canon.h"

#include <string.h>

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

void
dkim_canon_body_init(struct dkim_canon_body *bc, enum dkim_canon alg,
    const uint64_t *limit, EVP_MD_CTX *md, dkim_canon_sink sink, void *arg)
{
	memset(bc, 0, sizeof(*bc));
	bc->alg = alg;
	bc->md = md;
	bc->sink = sink;
	bc->arg = arg;
	if (limit != NULL) {
		bc->limited = true;
		bc->limit = *limit;
	}
}

static void
flush(struct dkim_canon_body *bc)
{
	if (bc->olen == 0)
		return;
	if (bc->md != NULL)
		EVP_DigestUpdate(bc->md, bc->obuf, bc->olen);
	else if (bc->sink != NULL)
		bc->sink(bc->arg, bc->obuf, bc->olen);
	bc->olen = 0;
}

/* One canonical octet: counted always, written while under l=. */
static void
put(struct dkim_canon_body *bc, char c)
{
	uint64_t at = bc->total;

	if (bc->total != UINT64_MAX)
		bc->total++;
	if (bc->limited && at >= bc->limit)
		return;
	if (bc->olen == sizeof(bc->obuf))
		flush(bc);
	bc->obuf[bc->olen++] = c;
}

static void
put_crlf(struct dkim_canon_body *bc)
{
	put(bc, '\r');
	put(bc, '\n');
}

/* An octet of line content (not a line end, not relaxed WSP). */
static void
content(struct dkim_canon_body *bc, char c)
{
	if (!bc->in_line) {
		/* Not trailing after all: the held empty lines go out. */
		for (; bc->blank > 0; bc->blank--) {
			if (bc->limited && bc->total >= bc->limit) {
				/* Past l=: only the count matters now. */
				if (bc->blank <= (UINT64_MAX - bc->total) / 2)
					bc->total += 2 * bc->blank;
				else
					bc->total = UINT64_MAX;
				bc->blank = 0;
				break;
			}
			put_crlf(bc);
		}
		bc->in_line = true;
		bc->any = true;
	}
	if (bc->ws) {
		put(bc, ' ');
		bc->ws = false;
	}
	put(bc, c);
}

static void
line_end(struct dkim_canon_body *bc)
{
	/* Relaxed: WSP at the end of a line is dropped. */
	bc->ws = false;
	if (bc->in_line) {
		put_crlf(bc);
		bc->in_line = false;
	} else if (bc->blank != UINT64_MAX)
		bc->blank++;
}

void
dkim_canon_body_feed(struct dkim_canon_body *bc, const char *p, size_t n)
{
	bool relaxed = bc->alg == DKIM_CANON_RELAXED;
	size_t i;

	if (bc->ended)
		return;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (bc->cr) {
			bc->cr = false;
			if (c == '\n') {
				line_end(bc);
				continue;
			}
			content(bc, '\r');
		}
		if (c == '\r')
			bc->cr = true;
		else if (relaxed && wsp(c))
			bc->ws = true;
		else
			content(bc, c);
	}
}

void
dkim_canon_body_end(struct dkim_canon_body *bc)
{
	if (bc->ended)
		return;
	if (bc->cr) {
		bc->cr = false;
		content(bc, '\r');
	}
	/* A last line without its CRLF gets one (§3.4.3, §3.4.4). */
	if (bc->in_line)
		line_end(bc);
	bc->blank = 0;
	/* Simple: an empty body (or only empty lines) is one CRLF. */
	if (bc->alg == DKIM_CANON_SIMPLE && !bc->any)
		put_crlf(bc);
	flush(bc);
	bc->ended = true;
}

int
dkim_body_hash_start(struct dkim_body_hash *bh, enum dkim_canon alg,
    const uint64_t *limit)
{
	memset(bh, 0, sizeof(*bh));
	if ((bh->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(bh->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(bh->md);
		bh->md = NULL;
		return -1;
	}
	dkim_canon_body_init(&bh->bc, alg, limit, bh->md, NULL, NULL);
	return 0;
}

void
dkim_body_hash_feed(struct dkim_body_hash *bh, const char *p, size_t n)
{
	dkim_canon_body_feed(&bh->bc, p, n);
}

void
dkim_body_hash_end(struct dkim_body_hash *bh)
{
	if (bh->md == NULL || bh->bc.ended)
		return;
	dkim_canon_body_end(&bh->bc);
	bh->ok = EVP_DigestFinal_ex(bh->md, bh->digest, NULL) == 1;
	bh->cut = bh->bc.limited && bh->bc.total < bh->bc.limit;
}

void
dkim_body_hash_release(struct dkim_body_hash *bh)
{
	EVP_MD_CTX_free(bh->md);
	bh->md = NULL;
}

static void
to_buf(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

static void
body_once(enum dkim_canon alg, const char *body, size_t len, struct buf *out)
{
	struct dkim_canon_body bc;

	dkim_canon_body_init(&bc, alg, NULL, NULL, to_buf, out);
	dkim_canon_body_feed(&bc, body, len);
	dkim_canon_body_end(&bc);
}

void
dkim_canon_body_simple(const char *body, size_t len, struct buf *out)
{
	body_once(DKIM_CANON_SIMPLE, body, len, out);
}

void
dkim_canon_body_relaxed(const char *body, size_t len, struct buf *out)
{
	body_once(DKIM_CANON_RELAXED, body, len, out);
}

void
dkim_canon_header_simple(const char *field, size_t len, struct buf *out)
{
	buf_append(out, field, len);
	buf_append(out, "\r\n", 2);
}

void
dkim_canon_header_relaxed(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t nlen, i;
	bool in_ws = false, started = false;

	if (colon == NULL)
		return;
	nlen = (size_t)(colon - field);
	/* Unfolded first, so a folding CRLF before the colon goes with the
	 * WSP around it. */
	while (nlen > 0 && (wsp(field[nlen - 1]) || field[nlen - 1] == '\r' ||
	    field[nlen - 1] == '\n'))
		nlen--;
	for (i = 0; i < nlen; i++) {
		char c = field[i];

		buf_append_char(out, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
	}
	buf_append_char(out, ':');
	for (i = (size_t)(colon - field) + 1; i < len; i++) {
		char c = field[i];

		if (c == '\r' || c == '\n' || wsp(c)) {
			in_ws = true;     /* unfolding: CRLF counts as whitespace */
			continue;
		}
		if (in_ws && started)
			buf_append_char(out, ' ');
		in_ws = false;
		started = true;
		buf_append_char(out, c);
	}
	buf_append(out, "\r\n", 2);
}

void
dkim_canon_header(enum dkim_canon alg, const char *field, size_t len,
    struct buf *out)
{
	if (alg == DKIM_CANON_SIMPLE)
		dkim_canon_header_simple(field, len, out);
	else
		dkim_canon_header_relaxed(field, len, out);
}

bool
dkim_canon_header_self(enum dkim_canon alg, const char *field, size_t len,
    struct buf *out)
{
	size_t before = out->len;

	dkim_canon_header(alg, field, len, out);
	if (out->len < before + 2)
		return false;
	out->len -= 2;
	out->data[out->len] = '\0';
	return true;
}
