/*
 * imap_query: SEARCH (RFC 9051 §6.4.4; ESEARCH RFC 4731, SEARCHRES RFC
 * 5182, MODSEQ RFC 7162), SORT and THREAD (RFC 5256) on the pool. The
 * grammar and the evaluation are proto/imap_search and proto/imap_sort;
 * here each message is described to them, its text read only when a key
 * asks for it (header fields decoded from RFC 2047, bodies from their
 * transfer encoding and charset to UTF-8).
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../proto/imap_search.h"
#include "../proto/imap_sort.h"
#include "../proto/mime.h"
#include "../proto/mime_decode.h"
#include "../proto/rfc5322.h"
#include "imap_session.h"

/* ---------------------------------------------------------- tokens ---- */

struct toks {
	struct imap_tok *t;
	size_t n, cap;
};

static int
tok_add(struct toks *ts, enum imap_tok_type type, const char *s, size_t len)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 32;
		struct imap_tok *nt = reallocarray(ts->t, cap, sizeof(*nt));

		if (nt == NULL)
			return -1;
		ts->t = nt;
		ts->cap = cap;
	}
	ts->t[ts->n++] = (struct imap_tok){ .type = type, .s = s, .len = len };
	return 0;
}

/* The command's nodes from i on (count of them), flattened. */
static int
flatten(const struct imap_cmd *c, size_t i, size_t count, struct toks *ts)
{
	size_t k;

	for (k = 0; k < count && i != IMAP_NODE_NONE; k++, i = c->nodes[i].next) {
		const struct imap_node *n = &c->nodes[i];

		switch (n->type) {
		case IMAP_NODE_ATOM:
			if (tok_add(ts, IMAP_TOK_ATOM, n->s.p, n->s.len) == -1)
				return -1;
			break;
		case IMAP_NODE_QUOTED:
		case IMAP_NODE_LITERAL:
			if (tok_add(ts, IMAP_TOK_STRING, n->s.p ? n->s.p : "", n->s.len) == -1)
				return -1;
			break;
		case IMAP_NODE_LIST:
			if (tok_add(ts, IMAP_TOK_LPAREN, NULL, 0) == -1 ||
			    flatten(c, n->child, n->count, ts) == -1 ||
			    tok_add(ts, IMAP_TOK_RPAREN, NULL, 0) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

/* ------------------------------------------------ a message's text ---- */

struct qmsg {
	struct imap_box *b;
	size_t mi;
	struct buf data;
	bool loaded, whole, failed;
	size_t hdr_end;             /* end of the header block in data */
	struct buf body_utf8;       /* the decoded text parts, built once */
	bool body_done;
	struct buf scratch;
};

static void
qmsg_reset(struct qmsg *q, size_t mi)
{
	q->mi = mi;
	buf_reset(&q->data);
	buf_reset(&q->body_utf8);
	q->loaded = q->whole = q->failed = q->body_done = false;
	q->hdr_end = 0;
}

static void
qmsg_free(struct qmsg *q)
{
	buf_release(&q->data);
	buf_release(&q->body_utf8);
	buf_release(&q->scratch);
}

static size_t
header_end(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return n;
}

/* Reads the message (whole or its header); false when it cannot be. */
static bool
qmsg_load(struct qmsg *q, bool whole)
{
	int fd;
	ssize_t r;

	if (q->failed)
		return false;
	if (q->loaded && (q->whole || !whole))
		return true;
	buf_reset(&q->data);
	if ((fd = mbox_open_msg(&q->b->mb, q->mi)) == -1) {
		q->failed = true;
		return false;
	}
	for (;;) {
		if (buf_reserve(&q->data, 65536) == -1)
			break;
		r = read(fd, q->data.data + q->data.len, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		q->data.len += (size_t)r;
		if (!whole && header_end(q->data.data, q->data.len) < q->data.len)
			break;
	}
	close(fd);
	q->loaded = true;
	q->whole = whole;
	q->hdr_end = header_end(q->data.data ? q->data.data : "", q->data.len);
	return true;
}

/* Calls fn for each field of the header block named name (any case),
 * its value unfolded and decoded to UTF-8; stops when fn says true. */
static bool
each_field(struct qmsg *q, const char *name, size_t nlen,
    bool (*fn)(void *arg, const char *v, size_t n), void *arg)
{
	const char *p = q->data.data, *end = p + q->hdr_end;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *fend;
		size_t colon;

		/* The field runs to the first line that does not start with WSP. */
		fend = eol ? eol + 1 : end;
		while (fend < end && (*fend == ' ' || *fend == '\t')) {
			const char *e2 = memchr(fend, '\n', (size_t)(end - fend));

			fend = e2 ? e2 + 1 : end;
		}
		if (rfc5322_field_name(p, (size_t)(fend - p), &colon) == nlen &&
		    strncasecmp(p, name, nlen) == 0) {
			const char *v = p + colon + 1;
			size_t i;
			bool r;

			buf_reset(&q->scratch);
			struct buf raw = BUF_INIT;

			for (i = 0; v + i < fend; i++) {
				if (v[i] != '\r' && v[i] != '\n')
					buf_append_char(&raw, v[i]);
			}
			while (raw.len && (raw.data[0] == ' ' || raw.data[0] == '\t')) {
				memmove(raw.data, raw.data + 1, raw.len - 1);
				raw.len--;
			}
			if (mime_decode_words(raw.data ? raw.data : "", raw.len, &q->scratch) == -1)
				buf_append(&q->scratch, raw.data ? raw.data : "", raw.len);
			buf_release(&raw);
			r = fn(arg, q->scratch.data ? q->scratch.data : "", q->scratch.len);
			if (r)
				return true;
		}
		p = fend;
	}
	return false;
}

struct needle { const char *s; size_t n; bool any; };

static bool
field_has(void *arg, const char *v, size_t n)
{
	struct needle *nd = arg;

	return nd->any || nd->n == 0 || imap_search_match(nd->s, nd->n, v, n);
}

static bool
cb_header(void *ctx, const char *field, size_t flen, const char *needle, size_t nlen)
{
	struct qmsg *q = ctx;
	struct needle nd = { needle, nlen, false };

	if (!qmsg_load(q, false))
		return false;
	return each_field(q, field, flen, field_has, &nd);
}

/* Text of a part into out as UTF-8: decoded from its transfer encoding,
 * converted from its charset (unknown ones kept as they are). */
static void
part_text(const struct mime_msg *m, const struct mime_part *pt, const char *data, struct buf *out)
{
	const char *enc = mime_str_ptr(m, pt->encoding);
	size_t enclen = enc ? pt->encoding.len : 0;
	const char *body = data + pt->body_start;
	size_t blen = pt->body_end - pt->body_start, i;
	struct buf dec = BUF_INIT;
	const char *cs = NULL;
	size_t cslen = 0;

	if (enc && enclen == 6 && strncasecmp(enc, "base64", 6) == 0) {
		struct b64_dec d;

		b64_dec_init(&d);
		(void)b64_dec_feed(&d, body, blen, &dec);
	} else if (enc && enclen == 16 && strncasecmp(enc, "quoted-printable", 16) == 0) {
		struct qp_dec d;

		qp_dec_init(&d);
		(void)qp_dec_feed(&d, body, blen, &dec);
		(void)qp_dec_finish(&d, &dec);
	} else
		buf_append(&dec, body, blen);
	for (i = 0; i < pt->nparams; i++) {
		const struct mime_param *pa = &m->params[pt->params_first + i];
		const char *nm = mime_str_ptr(m, pa->name);

		if (nm && pa->name.len == 7 && strncasecmp(nm, "charset", 7) == 0) {
			cs = mime_str_ptr(m, pa->value);
			cslen = cs ? pa->value.len : 0;
		}
	}
	if (cs && cslen && cslen < 64 && !(cslen == 5 && strncasecmp(cs, "utf-8", 5) == 0) &&
	    !(cslen == 8 && strncasecmp(cs, "us-ascii", 8) == 0)) {
		char name[64];
		iconv_t cd;

		memcpy(name, cs, cslen);
		name[cslen] = '\0';
		if ((cd = iconv_open("UTF-8", name)) != (iconv_t)-1) {
			char *in = dec.data, tmp[4096];
			size_t inleft = dec.len;

			while (inleft) {
				char *o = tmp;
				size_t oleft = sizeof(tmp);

				if (iconv(cd, &in, &inleft, &o, &oleft) == (size_t)-1 && errno != E2BIG) {
					buf_append(out, tmp, sizeof(tmp) - oleft);
					in++;       /* an octet the charset does not have */
					inleft--;
					continue;
				}
				buf_append(out, tmp, sizeof(tmp) - oleft);
			}
			iconv_close(cd);
			buf_release(&dec);
			return;
		}
	}
	buf_append(out, dec.data ? dec.data : "", dec.len);
	buf_release(&dec);
}

static bool
qmsg_body(struct qmsg *q)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	struct mime_msg m;
	size_t i;

	if (q->body_done)
		return true;
	if (!qmsg_load(q, true))
		return false;
	q->body_done = true;
	if (mime_parse(&m, q->data.data ? q->data.data : "", q->data.len, &lim) == -1)
		return false;
	for (i = 0; i < m.nparts; i++) {
		const struct mime_part *pt = &m.parts[i];
		const char *type = mime_str_ptr(&m, pt->type);

		if (pt->multipart || pt->message)
			continue;
		/* Text parts are searched; others (images, archives) are not
		 * text a person wrote. */
		if (type && pt->type.len == 4 && strncmp(type, "text", 4) == 0) {
			part_text(&m, pt, q->data.data, &q->body_utf8);
			buf_append_char(&q->body_utf8, '\n');
		}
	}
	mime_free(&m);
	return true;
}

static bool
cb_body(void *ctx, const char *needle, size_t nlen)
{
	struct qmsg *q = ctx;

	if (!qmsg_body(q))
		return false;
	return imap_search_match(needle, nlen, q->body_utf8.data ? q->body_utf8.data : "",
	    q->body_utf8.len);
}

static bool
cb_text(void *ctx, const char *needle, size_t nlen)
{
	struct qmsg *q = ctx;
	struct buf hdr = BUF_INIT;
	bool r;

	if (cb_body(ctx, needle, nlen))
		return true;
	if (!qmsg_load(q, false))
		return false;
	/* The header, encoded words decoded. */
	if (mime_decode_words(q->data.data ? q->data.data : "", q->hdr_end, &hdr) == -1) {
		buf_release(&hdr);
		return false;
	}
	r = imap_search_match(needle, nlen, hdr.data ? hdr.data : "", hdr.len);
	buf_release(&hdr);
	return r;
}

/* ---------------------------------------------------- field values ---- */

struct first { struct buf *out; };

static bool
take_first(void *arg, const char *v, size_t n)
{
	struct first *f = arg;

	buf_append(f->out, v, n);
	return true;
}

/* The first field named name, decoded, into out (empty when none). */
static void
field_value(struct qmsg *q, const char *name, struct buf *out)
{
	struct first f = { out };

	buf_reset(out);
	if (qmsg_load(q, false))
		(void)each_field(q, name, strlen(name), take_first, &f);
}

static int32_t
day_of(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return (int32_t)(t / 86400);
	return imap_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

static bool
tree_has(const struct imap_search *s, enum imap_search_kind k1, enum imap_search_kind k2,
    enum imap_search_kind k3)
{
	size_t i;

	for (i = 0; i < s->nnodes; i++) {
		if (s->nodes[i].kind == k1 || s->nodes[i].kind == k2 || s->nodes[i].kind == k3)
			return true;
	}
	return false;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------ SORT, THREAD -- */

/* The first address of a field: its mailbox (local part) and display name. */
static void
first_address(struct qmsg *q, const char *name, struct buf *val, char **mbox_r, size_t *mlen_r,
    char **disp_r, size_t *dlen_r)
{
	char addr[512];
	size_t pos = 0;
	const char *lt;

	*mbox_r = *disp_r = NULL;
	*mlen_r = *dlen_r = 0;
	field_value(q, name, val);
	if (val->len == 0)
		return;
	if (rfc5322_next_address(val->data, val->len, &pos, addr, sizeof(addr)) == RFC5322_ADDR_OK) {
		char *at = strrchr(addr, '@');

		*mlen_r = at ? (size_t)(at - addr) : strlen(addr);
		*mbox_r = strndup(addr, *mlen_r);
	}
	if ((lt = memchr(val->data, '<', val->len)) != NULL) {
		const char *s = val->data, *e = lt;

		while (s < e && (*s == ' ' || *s == '"'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '"'))
			e--;
		if (e > s) {
			*dlen_r = (size_t)(e - s);
			*disp_r = strndup(s, *dlen_r);
			return;
		}
	}
	if (*mbox_r) {
		/* RFC 5957 §3: no display name, the address itself. */
		*dlen_r = strlen(addr);
		*disp_r = strdup(addr);
	}
}

struct desc_owned {
	char *subject, *mid, *refs, *irt, *from, *to, *cc, *dfrom, *dto, *dcc;
};

static void
desc_fill(struct qmsg *q, const struct imap_seen *v, const struct mbox_msg *m, uint32_t id,
    struct imap_msgdesc *d, struct desc_owned *o)
{
	struct buf val = BUF_INIT;
	size_t dummy;
	int64_t t;

	memset(d, 0, sizeof(*d));
	memset(o, 0, sizeof(*o));
	(void)v;
	d->id = id;
	d->arrival = m->internal_date;
	d->size = m->vsize != MBOX_VSIZE_UNKNOWN ? m->vsize : m->size;
#define TAKE(field, name) do { field_value(q, name, &val); \
	o->field = val.len ? strndup(val.data, val.len) : NULL; } while (0)
	TAKE(subject, "Subject");
	TAKE(mid, "Message-ID");
	TAKE(refs, "References");
	TAKE(irt, "In-Reply-To");
#undef TAKE
	field_value(q, "Date", &val);
	d->date = val.len && rfc5322_date_parse(val.data, val.len, &t) ? t : m->internal_date;
	first_address(q, "From", &val, &o->from, &d->from_len, &o->dfrom, &d->display_from_len);
	first_address(q, "To", &val, &o->to, &d->to_len, &o->dto, &d->display_to_len);
	first_address(q, "Cc", &val, &o->cc, &d->cc_len, &o->dcc, &dummy);
	buf_release(&val);
	d->subject = o->subject; d->subject_len = o->subject ? strlen(o->subject) : 0;
	d->message_id = o->mid; d->message_id_len = o->mid ? strlen(o->mid) : 0;
	d->references = o->refs; d->references_len = o->refs ? strlen(o->refs) : 0;
	d->in_reply_to = o->irt; d->in_reply_to_len = o->irt ? strlen(o->irt) : 0;
	d->from = o->from;
	d->to = o->to;
	d->cc = o->cc;
	d->display_from = o->dfrom;
	d->display_to = o->dto;
}

static void
desc_free(struct desc_owned *o)
{
	free(o->subject); free(o->mid); free(o->refs); free(o->irt);
	free(o->from); free(o->to); free(o->cc); free(o->dfrom); free(o->dto); free(o->dcc);
}

/* -------------------------------------------------------------- SEARCH -- */

void
imap_cmd_search(struct imap_job *j)
{
	struct imap_box *b = j->box;
	const struct imap_cmd *c = &j->cmd;
	struct toks ts = { 0 }, keys = { 0 };
	struct imap_search s;
	struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT];
	enum imap_thread_alg alg = IMAP_THREAD_REFERENCES;
	struct qmsg q = { .b = b };
	size_t ncrit = 0, consumed = 0, errtok, i, k, nmatch = 0;
	size_t *match = NULL;
	uint64_t maxmod = 0;
	bool need_sent;
	enum imap_search_err e;
	uint32_t max_uid = b->nview ? b->view[b->nview - 1].uid : 0;
	struct imap_tok *kwt = NULL;

	if (flatten(c, c->first, c->nargs, &ts) == -1)
		goto nomem;
	/* SORT (crit) charset keys / THREAD alg charset keys: the charset
	 * becomes SEARCH's CHARSET. */
	if (c->verb == IMAP_CMD_SORT) {
		int nc = imap_sort_parse(ts.t, ts.n, crit, &consumed, &errtok);

		if (nc < 0 || consumed >= ts.n) {
			imap_job_status(j, "BAD", "Invalid sort criteria");
			goto out;
		}
		ncrit = (size_t)nc;
	} else if (c->verb == IMAP_CMD_THREAD) {
		if (ts.n < 2 || ts.t[0].type != IMAP_TOK_ATOM ||
		    !imap_thread_alg_parse(ts.t[0].s, ts.t[0].len, &alg)) {
			imap_job_status(j, "BAD", "Unknown threading algorithm");
			goto out;
		}
		consumed = 1;
	}
	if (c->verb != IMAP_CMD_SEARCH) {
		if (tok_add(&keys, IMAP_TOK_ATOM, "CHARSET", 7) == -1)
			goto nomem;
	}
	for (i = consumed; i < ts.n; i++) {
		if (tok_add(&keys, ts.t[i].type, ts.t[i].s, ts.t[i].len) == -1)
			goto nomem;
	}
	e = imap_search_parse(keys.t, keys.n, &imap_search_default_limits, &s, &errtok);
	if (e != IMAP_SEARCH_OK) {
		if (e == IMAP_SEARCH_BADCHARSET)
			imap_job_status(j, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unknown charset");
		else if (e == IMAP_SEARCH_NOMEM)
			imap_job_status(j, "NO", "[LIMIT] Out of memory");
		else
			imap_job_status(j, "BAD", "Invalid search: %s", imap_search_strerror(e));
		goto out;
	}
	if (s.has_modseq)
		b->condstore = true;
	need_sent = tree_has(&s, IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE);
	if (b->nview && ((match = malloc(b->nview * sizeof(*match))) == NULL ||
	    (kwt = calloc(MBOX_KEYWORDS_MAX, sizeof(*kwt))) == NULL)) {
		imap_search_free(&s);
		goto nomem;
	}
	for (k = 0; k < b->nview; k++) {
		const struct imap_seen *v = &b->view[k];
		const struct mbox_msg *m;
		struct imap_search_msg sm;
		size_t nkw = 0;

		if (v->mi == SIZE_MAX)
			continue;
		m = &b->mb.msgs[v->mi];
		qmsg_reset(&q, v->mi);
		for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
			if ((m->keywords & (1u << i)) && b->mb.keywords[i])
				kwt[nkw++] = (struct imap_tok){ IMAP_TOK_ATOM, b->mb.keywords[i],
				    strlen(b->mb.keywords[i]) };
		}
		memset(&sm, 0, sizeof(sm));
		sm.seq = (uint32_t)(k + 1);
		sm.uid = v->uid;
		sm.max_seq = (uint32_t)b->nview;
		sm.max_uid = max_uid;
		sm.flags = imap_flags_from_maildir(m->flags) | (v->recent ? IMAP_FLAG_RECENT : 0);
		sm.keywords = kwt;
		sm.nkeywords = nkw;
		sm.size = m->vsize != MBOX_VSIZE_UNKNOWN ? m->vsize : m->size;
		sm.internal_day = day_of(m->internal_date);
		sm.sent_day = sm.internal_day;
		if (need_sent) {
			struct buf val = BUF_INIT;
			int64_t t;

			field_value(&q, "Date", &val);
			if (val.len && rfc5322_date_parse(val.data, val.len, &t))
				sm.sent_day = (int32_t)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
			buf_release(&val);
		}
		sm.modseq = m->modseq;
		sm.in_saved = b->nsaved && bsearch(&v->uid, b->saved, b->nsaved, sizeof(uint32_t),
		    cmp_u32) != NULL;
		sm.ctx = &q;
		sm.header_contains = cb_header;
		sm.body_contains = cb_body;
		sm.text_contains = cb_text;
		if (imap_search_eval(&s, &sm)) {
			match[nmatch++] = k;
			if (m->modseq > maxmod)
				maxmod = m->modseq;
		}
	}

	if (c->verb == IMAP_CMD_SORT || c->verb == IMAP_CMD_THREAD) {
		struct imap_msgdesc *d = calloc(nmatch ? nmatch : 1, sizeof(*d));
		struct desc_owned *o = calloc(nmatch ? nmatch : 1, sizeof(*o));
		size_t *order = calloc(nmatch ? nmatch : 1, sizeof(*order));

		if (d == NULL || o == NULL || order == NULL) {
			free(d); free(o); free(order);
			imap_search_free(&s);
			goto nomem;
		}
		for (i = 0; i < nmatch; i++) {
			const struct imap_seen *v = &b->view[match[i]];

			qmsg_reset(&q, v->mi);
			desc_fill(&q, v, &b->mb.msgs[v->mi], c->uid ? v->uid : (uint32_t)(match[i] + 1),
			    &d[i], &o[i]);
		}
		if (c->verb == IMAP_CMD_SORT) {
			if (imap_sort(d, nmatch, crit, ncrit, order) == 0) {
				buf_append_str(&j->out, "* SORT");
				for (i = 0; i < nmatch; i++)
					buf_printf(&j->out, " %u", (unsigned)d[order[i]].id);
				buf_append_str(&j->out, "\r\n");
			}
		} else {
			buf_append_str(&j->out, "* THREAD ");
			(void)imap_thread(d, nmatch, alg, &j->out);
			buf_append_str(&j->out, "\r\n");
		}
		for (i = 0; i < nmatch; i++)
			desc_free(&o[i]);
		free(d); free(o); free(order);
		imap_job_status(j, "OK", "%s completed", c->verb == IMAP_CMD_SORT ? "Sort" : "Thread");
		imap_search_free(&s);
		goto out;
	}

	{
		uint32_t ret = s.ret;
		bool esearch = s.esearch || b->rev2;
		uint32_t *ids = calloc(nmatch ? nmatch : 1, sizeof(*ids));

		if (ids == NULL) {
			imap_search_free(&s);
			goto nomem;
		}
		for (i = 0; i < nmatch; i++)
			ids[i] = c->uid ? b->view[match[i]].uid : (uint32_t)(match[i] + 1);
		if (esearch && !s.esearch)
			ret = IMAP_RET_ALL;
		if (ret & IMAP_RET_SAVE) {
			/* RFC 5182: the result kept as UIDs, whatever was asked. */
			free(b->saved);
			b->saved = NULL;
			b->nsaved = 0;
			if (nmatch && (b->saved = malloc(nmatch * sizeof(uint32_t))) != NULL) {
				for (i = 0; i < nmatch; i++)
					b->saved[i] = b->view[match[i]].uid;
				b->nsaved = nmatch;
			}
			/* SAVE alone, or with MIN/MAX, saves what it says. */
			if ((ret & (IMAP_RET_MIN | IMAP_RET_MAX)) && !(ret & (IMAP_RET_ALL | IMAP_RET_COUNT)) &&
			    nmatch && b->saved) {
				uint32_t lo = b->saved[0], hi = b->saved[nmatch - 1];

				b->nsaved = 0;
				if (ret & IMAP_RET_MIN)
					b->saved[b->nsaved++] = lo;
				if ((ret & IMAP_RET_MAX) && !(b->nsaved && hi == lo))
					b->saved[b->nsaved++] = hi;
			}
		}
		if (!esearch) {
			buf_append_str(&j->out, "* SEARCH");
			for (i = 0; i < nmatch; i++)
				buf_printf(&j->out, " %u", (unsigned)ids[i]);
			if (s.has_modseq && nmatch)
				buf_printf(&j->out, " (MODSEQ %llu)", (unsigned long long)maxmod);
			buf_append_str(&j->out, "\r\n");
		} else if (ret & ~IMAP_RET_SAVE) {
			buf_printf(&j->out, "* ESEARCH (TAG \"%s\")%s", j->tag, c->uid ? " UID" : "");
			if ((ret & IMAP_RET_MIN) && nmatch)
				buf_printf(&j->out, " MIN %u", (unsigned)ids[0]);
			if ((ret & IMAP_RET_MAX) && nmatch)
				buf_printf(&j->out, " MAX %u", (unsigned)ids[nmatch - 1]);
			if (ret & IMAP_RET_COUNT)
				buf_printf(&j->out, " COUNT %zu", nmatch);
			if ((ret & IMAP_RET_ALL) && nmatch) {
				buf_append_str(&j->out, " ALL ");
				imap_put_uidset(&j->out, ids, nmatch);
			}
			if (s.has_modseq && nmatch)
				buf_printf(&j->out, " MODSEQ %llu", (unsigned long long)maxmod);
			buf_append_str(&j->out, "\r\n");
		}
		free(ids);
	}
	imap_search_free(&s);
	imap_job_status(j, "OK", "Search completed");
	goto out;
nomem:
	imap_job_status(j, "NO", "[LIMIT] Out of memory");
out:
	free(ts.t);
	free(keys.t);
	free(match);
	free(kwt);
	qmsg_free(&q);
}
