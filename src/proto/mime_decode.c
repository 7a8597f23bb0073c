/*
 * mime_decode: base64, quoted-printable and RFC 2047 (see the header).
 */
#include "mime_decode.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "../common/str.h"

/* ---- base64 ---- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
b64_dec_init(struct b64_dec *d)
{
	memset(d, 0, sizeof(*d));
}

int
b64_dec_feed(struct b64_dec *d, const char *in, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n && !d->ended; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (in[i] == '=') {
			d->ended = true;
			break;
		}
		if (v < 0) {
			d->skipped++;
			continue;
		}
		d->acc = (d->acc << 6) | (uint32_t)v;
		d->nbits += 6;
		if (d->nbits >= 8) {
			d->nbits -= 8;
			if (buf_append_char(out, (char)((d->acc >> d->nbits) & 0xff)) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- quoted-printable ---- */

enum { Q_TEXT, Q_EQ, Q_EQ1, Q_EQ_WSP };

void
qp_dec_init(struct qp_dec *d)
{
	memset(d, 0, sizeof(*d));
}

/* What is held goes out as it stood: the line goes on. */
static int
qp_flush(struct qp_dec *d, struct buf *out)
{
	int rc = 0;

	if (d->state == Q_EQ || d->state == Q_EQ_WSP)
		rc = buf_append_char(out, '=');
	else if (d->state == Q_EQ1)
		rc = buf_append_char(out, '=') < 0 ? -1 :
		    buf_append_char(out, d->hex);
	if (rc == 0 && d->nwsp)
		rc = buf_append(out, d->wsp, d->nwsp);
	d->state = Q_TEXT;
	d->nwsp = 0;
	return rc;
}

/* A line ends: WSP before it dropped; after "=" a soft break. */
static int
qp_line_end(struct qp_dec *d, const char *eol, size_t eollen,
    struct buf *out)
{
	int st = d->state;

	d->nwsp = 0;
	d->state = Q_TEXT;
	if (st == Q_EQ || st == Q_EQ_WSP)
		return 0;
	if (st == Q_EQ1 && (buf_append_char(out, '=') < 0 ||
	    buf_append_char(out, d->hex) < 0))
		return -1;
	return buf_append(out, eol, eollen);
}

static int
qp_char(struct qp_dec *d, char c, struct buf *out)
{
	bool wsp = c == ' ' || c == '\t';

	switch (d->state) {
	case Q_EQ:
		if (str_hexval(c) >= 0) {
			d->hex = c;
			d->state = Q_EQ1;
			return 0;
		}
		if (wsp) {
			d->state = Q_EQ_WSP;
			d->wsp[d->nwsp++] = c;
			return 0;
		}
		if (qp_flush(d, out) < 0)
			return -1;
		break;
	case Q_EQ1:
		if (str_hexval(c) >= 0) {
			d->state = Q_TEXT;
			return buf_append_char(out,
			    (char)(str_hexval(d->hex) * 16 + str_hexval(c)));
		}
		if (qp_flush(d, out) < 0)
			return -1;
		break;
	case Q_EQ_WSP:
		if (wsp && d->nwsp < QP_WSP_MAX) {
			d->wsp[d->nwsp++] = c;
			return 0;
		}
		if (qp_flush(d, out) < 0)
			return -1;
		break;
	}
	/* Q_TEXT */
	if (wsp) {
		if (d->nwsp == QP_WSP_MAX && qp_flush(d, out) < 0)
			return -1;
		d->wsp[d->nwsp++] = c;
		return 0;
	}
	if (qp_flush(d, out) < 0)
		return -1;
	if (c == '=') {
		d->state = Q_EQ;
		return 0;
	}
	return buf_append_char(out, c);
}

int
qp_dec_feed(struct qp_dec *d, const char *in, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (d->cr) {
			d->cr = false;
			if (c == '\n') {
				if (qp_line_end(d, "\r\n", 2, out) < 0)
					return -1;
				continue;
			}
			/* a bare CR is no line end: text */
			if (qp_flush(d, out) < 0 || buf_append_char(out, '\r') < 0)
				return -1;
		}
		if (c == '\r') {
			d->cr = true;
			continue;
		}
		if (c == '\n') {
			if (qp_line_end(d, "\n", 1, out) < 0)
				return -1;
			continue;
		}
		if (qp_char(d, c, out) < 0)
			return -1;
	}
	return 0;
}

int
qp_dec_finish(struct qp_dec *d, struct buf *out)
{
	int rc;

	if (d->cr) {
		d->cr = false;
		if (qp_flush(d, out) < 0)
			return -1;
		return buf_append_char(out, '\r');
	}
	/* the end of the data ends the last line too */
	rc = qp_line_end(d, "", 0, out);
	return rc;
}

/* ---- RFC 2047 ---- */

/* Octets of adjacent encoded words in one charset, not yet converted. */
struct words {
	struct buf raw;
	char charset[64];
	iconv_t cd;
};

static int
append_replacement(struct buf *out)
{
	return buf_append(out, "\xef\xbf\xbd", 3);   /* U+FFFD */
}

static int
words_flush(struct words *w, struct buf *out)
{
	char *in = w->raw.data;
	size_t inleft = w->raw.len;
	char tmp[256];

	if (inleft == 0)
		return 0;
	iconv(w->cd, NULL, NULL, NULL, NULL);
	while (inleft > 0) {
		char *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(w->cd, &in, &inleft, &o, &oleft);
		int e = errno;

		if (buf_append(out, tmp, sizeof(tmp) - oleft) < 0)
			return -1;
		if (r != (size_t)-1)
			break;
		if (e == E2BIG)
			continue;
		/* EILSEQ, or EINVAL at the end: one octet replaced */
		if (append_replacement(out) < 0)
			return -1;
		in++;
		inleft--;
	}
	{
		char *o = tmp;
		size_t oleft = sizeof(tmp);

		iconv(w->cd, NULL, NULL, &o, &oleft);
		if (buf_append(out, tmp, sizeof(tmp) - oleft) < 0)
			return -1;
	}
	buf_reset(&w->raw);
	return 0;
}

/* The charset of the words held, switched to cs (len n, "*lang" cut
 * already). False when iconv does not know cs. */
static bool
words_charset(struct words *w, const char *cs, size_t n, struct buf *out,
    int *err)
{
	iconv_t cd;

	if (w->cd != (iconv_t)-1 && strlen(w->charset) == n &&
	    strncasecmp(w->charset, cs, n) == 0)
		return true;
	if (n >= sizeof(w->charset))
		return false;
	if (words_flush(w, out) < 0)
		*err = -1;
	memcpy(w->charset, cs, n);
	w->charset[n] = '\0';
	cd = iconv_open("UTF-8", w->charset);
	if (w->cd != (iconv_t)-1)
		iconv_close(w->cd);
	w->cd = cd;
	if (cd == (iconv_t)-1) {
		w->charset[0] = '\0';
		return false;
	}
	return true;
}

/* An encoded word at in[i] ("=?"): its parts, and the offset after it;
 * 0 when there is none. */
static size_t
encoded_word(const char *in, size_t n, size_t i, size_t *cs, size_t *cslen,
    char *enc, size_t *ts, size_t *tlen)
{
	size_t k = i + 2, q;

	if (n - i < 2 || in[i] != '=' || in[i + 1] != '?')
		return 0;
	for (*cs = k; k < n && in[k] != '?'; k++)
		if ((unsigned char)in[k] <= ' ')
			return 0;
	if (k == *cs || k + 2 >= n || in[k + 2] != '?')
		return 0;
	*cslen = k - *cs;
	/* RFC 2231 §5: charset*language */
	{
		const char *star = memchr(in + *cs, '*', *cslen);

		if (star)
			*cslen = (size_t)(star - (in + *cs));
	}
	*enc = in[k + 1];
	if (*enc != 'B' && *enc != 'b' && *enc != 'Q' && *enc != 'q')
		return 0;
	*ts = k + 3;
	for (q = *ts; q + 1 < n; q++) {
		if ((unsigned char)in[q] <= ' ')
			return 0;
		if (in[q] == '?' && in[q + 1] == '=') {
			*tlen = q - *ts;
			return q + 2;
		}
	}
	return 0;
}

static int
decode_q(const char *t, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = t[i];

		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < n && str_hexval(t[i + 1]) >= 0 &&
		    str_hexval(t[i + 2]) >= 0) {
			c = (char)(str_hexval(t[i + 1]) * 16 + str_hexval(t[i + 2]));
			i += 2;
		}
		if (buf_append_char(out, c) < 0)
			return -1;
	}
	return 0;
}

int
mime_decode_words(const char *in, size_t n, struct buf *out)
{
	struct words w;
	size_t i = 0, ws_start = 0;
	bool after_word = false;
	int err = 0;

	memset(&w, 0, sizeof(w));
	w.cd = (iconv_t)-1;
	while (i < n && err == 0) {
		size_t cs, cslen, ts, tlen, end;
		char enc;

		end = encoded_word(in, n, i, &cs, &cslen, &enc, &ts, &tlen);
		if (end && words_charset(&w, in + cs, cslen, out, &err)) {
			/* WSP between two encoded words goes (RFC 2047 §6.2) */
			if (!after_word && ws_start < i) {
				if (words_flush(&w, out) < 0 ||
				    buf_append(out, in + ws_start, i - ws_start) < 0)
					err = -1;
			}
			if (enc == 'B' || enc == 'b') {
				struct b64_dec d;

				b64_dec_init(&d);
				if (b64_dec_feed(&d, in + ts, tlen, &w.raw) < 0)
					err = -1;
			} else if (decode_q(in + ts, tlen, &w.raw) < 0)
				err = -1;
			i = ws_start = end;
			after_word = true;
			continue;
		}
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n') {
			i++;   /* held in [ws_start, i) */
			continue;
		}
		/* text: what is held goes out, then the text up to the next
		 * WSP or possible word */
		if (words_flush(&w, out) < 0 ||
		    buf_append(out, in + ws_start, i - ws_start) < 0) {
			err = -1;
			break;
		}
		after_word = false;
		do {
			if (buf_append_char(out, in[i]) < 0)
				err = -1;
			i++;
		} while (i < n && in[i] != ' ' && in[i] != '\t' && in[i] != '\r' &&
		    in[i] != '\n' && in[i] != '=');
		ws_start = i;
	}
	if (err == 0 && (words_flush(&w, out) < 0 ||
	    buf_append(out, in + ws_start, i - ws_start) < 0))
		err = -1;
	if (w.cd != (iconv_t)-1)
		iconv_close(w.cd);
	buf_release(&w.raw);
	return err;
}
