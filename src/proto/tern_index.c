/*
 * tern_index: the tern-index file read and written (see tern_index.h).
 *
 * The file is text, one record a line, so that a person can read it, and
 * the numbers are read and written by hand here because a folder of
 * 100,000 messages is a file of 9 MB that a login reads. It ends with a
 * checksum of everything before its last line: the store writes it with
 * a rename and no fsync, so a power cut can leave a torn or zeroed file,
 * which must be told from a good one.
 */
#include "tern_index.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "maildir_name.h"

/* ------------------------------------------------------------ checksum -- */

static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

uint64_t
tern_index_sum(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n, w;
	size_t i;

	/* Eight octets a step: a multiply and a shift, enough to tell a
	 * torn or zeroed file at a few GB/s. */
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ le64toh(w)) * 0x9fb21c651e98df25ull;
		h ^= h >> 31;
	}
	for (w = 0, i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return mix(h ^ w);
}

/* -------------------------------------------------------------- reading -- */

struct cursor {
	const char *p;        /* the line, without its LF */
	size_t n;
	size_t i;
};

static bool
take_u64(struct cursor *c, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t start = c->i;

	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(c->p[c->i] - '0'), &v))
			return false;
		c->i++;
	}
	/* Digits, no leading zero but for 0 itself: one way to write a number. */
	if (c->i == start || (c->p[start] == '0' && c->i - start > 1))
		return false;
	*v_r = v;
	return true;
}

static bool
take_u32(struct cursor *c, uint32_t *v_r)
{
	uint64_t v;

	if (!take_u64(c, &v) || v > UINT32_MAX)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

static bool
take_i64(struct cursor *c, int64_t *v_r)
{
	bool neg = c->i < c->n && c->p[c->i] == '-';
	uint64_t v;

	if (neg)
		c->i++;
	if (!take_u64(c, &v) || v > (uint64_t)INT64_MAX || (neg && v == 0))
		return false;
	*v_r = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/* The octet ch, then nothing else is asked of the position. */
static bool
take_char(struct cursor *c, char ch)
{
	if (c->i >= c->n || c->p[c->i] != ch)
		return false;
	c->i++;
	return true;
}

static bool
take_word(struct cursor *c, const char *w)
{
	size_t n = strlen(w);

	if (c->n - c->i < n || memcmp(c->p + c->i, w, n) != 0)
		return false;
	c->i += n;
	return true;
}

/* "<key><u64> " */
static bool
take_field(struct cursor *c, char key, uint64_t *v_r, bool last)
{
	return take_char(c, key) && take_u64(c, v_r) && (last ? c->i == c->n : take_char(c, ' '));
}

bool
tern_index_uidl_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 70)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
	}
	return true;
}

/* The next line at *pos (its LF excluded); false at the end. A last
 * line without its LF is one too: the end line is checked apart. */
static bool
next_line(const char *data, size_t len, size_t *pos, struct cursor *c)
{
	const char *lf;

	if (*pos >= len)
		return false;
	c->p = data + *pos;
	lf = memchr(c->p, '\n', len - *pos);
	c->n = lf ? (size_t)(lf - c->p) : len - *pos;
	c->i = 0;
	*pos += c->n + 1;
	return true;
}

static bool
read_stat(struct cursor *c, const char *name, struct tern_index_stat *st)
{
	uint64_t valid;

	if (!take_word(c, name) || !take_char(c, ' ') || !take_u64(c, &valid) || valid > 1 ||
	    !take_char(c, ' ') || !take_u64(c, &st->ino) || !take_char(c, ' ') ||
	    !take_u64(c, &st->size) || !take_char(c, ' ') || !take_i64(c, &st->mtime_ns) ||
	    !take_char(c, ' ') || !take_i64(c, &st->check_ns) || c->i != c->n)
		return false;
	st->valid = valid == 1;
	return true;
}

/* "n" or "c" (new/ or cur/). */
static bool
take_place(struct cursor *c, bool *in_new)
{
	*in_new = take_char(c, 'n');
	return *in_new || take_char(c, 'c');
}

/* The rest of the line as a file name, and what it says. */
static bool
take_name(struct cursor *c, const char **name, size_t *len, size_t *base_len, unsigned *flags,
    uint32_t *keywords)
{
	struct maildir_name mn;

	*name = c->p + c->i;
	*len = c->n - c->i;
	c->i = c->n;
	if (maildir_name_parse(*name, *len, &mn) != MAILDIR_NAME_OK)
		return false;
	*base_len = mn.base_len;
	*flags = mn.info == MAILDIR_INFO_2 ? mn.flags : 0;
	*keywords = mn.info == MAILDIR_INFO_2 ? mn.keywords : 0;
	return true;
}

static bool
read_msg(struct cursor *c, const struct tern_index *ix, struct tern_index_msg *m)
{
	if (!take_word(c, "m ") || !take_u32(c, &m->uid) || !take_char(c, ' ') ||
	    !take_u64(c, &m->modseq) || !take_char(c, ' ') || !take_u64(c, &m->size) ||
	    !take_char(c, ' '))
		return false;
	if (take_char(c, '-'))
		m->vsize = TERN_INDEX_VSIZE_UNKNOWN;
	else if (!take_u64(c, &m->vsize) || m->vsize == TERN_INDEX_VSIZE_UNKNOWN)
		return false;
	if (!take_char(c, ' ') || !take_i64(c, &m->date) || !take_char(c, ' ') ||
	    !take_place(c, &m->in_new) || !take_char(c, ' '))
		return false;
	if (take_char(c, '-')) {
		m->uidl = NULL;
		m->uidl_len = 0;
	} else {
		const char *sp;

		if (!take_char(c, 'P') ||
		    (sp = memchr(c->p + c->i, ' ', c->n - c->i)) == NULL)
			return false;
		m->uidl = c->p + c->i;
		m->uidl_len = (size_t)(sp - m->uidl);
		c->i += m->uidl_len;
		if (!tern_index_uidl_ok(m->uidl, m->uidl_len))
			return false;
	}
	if (!take_char(c, ' ') ||
	    !take_name(c, &m->name, &m->name_len, &m->base_len, &m->flags, &m->keywords))
		return false;
	return m->uid != 0 && m->uid < ix->uidnext && m->modseq >= 1 &&
	    m->modseq <= ix->highestmodseq;
}

static bool
read_range(struct cursor *c, const struct tern_index *ix, struct tern_index_range *r)
{
	return take_word(c, "x ") && take_u32(c, &r->lo) && take_char(c, ' ') &&
	    take_u32(c, &r->hi) && take_char(c, ' ') && take_u64(c, &r->modseq) &&
	    c->i == c->n && r->lo != 0 && r->lo <= r->hi && r->hi < ix->uidnext &&
	    r->modseq >= 1 && r->modseq <= ix->highestmodseq;
}

static int hex_val(char ch);

static bool
boot_ok(const char *p, size_t n)
{
	size_t i;

	if (n != TERN_INDEX_BOOT_LEN)
		return false;
	for (i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	}
	return true;
}

/* "B<32 hex>" or "B-", then a space. */
static bool
read_boot(struct cursor *c, char *boot)
{
	const char *sp;
	size_t n;

	if (!take_char(c, 'B') || (sp = memchr(c->p + c->i, ' ', c->n - c->i)) == NULL)
		return false;
	n = (size_t)(sp - (c->p + c->i));
	if (n == 1 && c->p[c->i] == '-')
		boot[0] = '\0';
	else if (boot_ok(c->p + c->i, n)) {
		memcpy(boot, c->p + c->i, TERN_INDEX_BOOT_LEN);
		boot[TERN_INDEX_BOOT_LEN] = '\0';
	} else
		return false;
	c->i += n + 1;
	return true;
}

/* "G<16 hex>": an index's generation, which its log names. */
static bool
read_gen(struct cursor *c, uint64_t *gen)
{
	size_t k;

	if (!take_char(c, 'G') || c->n - c->i < 16)
		return false;
	for (*gen = 0, k = 0; k < 16; k++) {
		int v = hex_val(c->p[c->i + k]);

		if (v < 0)
			return false;
		*gen = *gen << 4 | (uint64_t)v;
	}
	c->i += 16;
	return true;
}

static int
hex_val(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* "end <16 hex>\n" closing data[0..len): the checksum of what is before
 * it; *body_len_r is where that line starts. */
static bool
check_end(const char *data, size_t len, size_t *body_len_r)
{
	static const size_t endlen = 4 + 16 + 1;
	const char *e;
	uint64_t want = 0;
	size_t i;

	if (len < endlen || data[len - 1] != '\n')
		return false;
	e = data + len - endlen;
	if (memcmp(e, "end ", 4) != 0 || (len > endlen && e[-1] != '\n'))
		return false;
	for (i = 0; i < 16; i++) {
		int v = hex_val(e[4 + i]);

		if (v < 0)
			return false;
		want = want << 4 | (uint64_t)v;
	}
	*body_len_r = len - endlen;
	return tern_index_sum(data, len - endlen) == want;
}

enum tern_index_err
tern_index_parse(const char *data, size_t len, const struct tern_index_limits *lim,
    struct tern_index *ix)
{
	static const char *const stat_names[TERN_INDEX_NSTAT] = { "new", "cur", "uidlist" };
	struct cursor c;
	size_t pos = 0, body, k;
	uint64_t version, uidvalidity, uidnext, nmsgs, nvanished;

	memset(ix, 0, sizeof(*ix));
	/* Whose file, which version: told before the checksum, so that the
	 * store can say why it rebuilds. */
	if (!next_line(data, len, &pos, &c) || !take_word(&c, TERN_INDEX_MAGIC " "))
		return TERN_INDEX_ERR_FOREIGN;
	if (!take_u64(&c, &version) || c.i != c.n)
		return TERN_INDEX_ERR_HEADER;
	if (version != TERN_INDEX_VERSION)
		return TERN_INDEX_ERR_VERSION;
	if (!check_end(data, len, &body))
		return TERN_INDEX_ERR_TORN;
	len = body;
	if (!next_line(data, len, &pos, &c) ||
	    !take_field(&c, 'V', &uidvalidity, false) || !take_field(&c, 'N', &uidnext, false) ||
	    !take_field(&c, 'M', &ix->highestmodseq, false) ||
	    !take_field(&c, 'F', &ix->vanished_floor, false) ||
	    !take_field(&c, 'C', &nmsgs, false) || !take_field(&c, 'X', &nvanished, false) ||
	    !read_boot(&c, ix->boot) || !read_gen(&c, &ix->gen) || c.i != c.n ||
	    uidvalidity == 0 || uidvalidity > UINT32_MAX || uidnext == 0 ||
	    uidnext > UINT32_MAX || ix->highestmodseq == 0 ||
	    ix->vanished_floor > ix->highestmodseq)
		return TERN_INDEX_ERR_HEADER;
	ix->uidvalidity = (uint32_t)uidvalidity;
	ix->uidnext = (uint32_t)uidnext;
	for (k = 0; k < TERN_INDEX_NSTAT; k++) {
		if (!next_line(data, len, &pos, &c) || !read_stat(&c, stat_names[k], &ix->st[k]))
			return TERN_INDEX_ERR_HEADER;
	}
	if (nmsgs > lim->msgs_max || nvanished > lim->vanished_max)
		return TERN_INDEX_ERR_TOO_MANY;
	/* A message line is at least 18 octets, a range 8: a count the file cannot hold is a
	 * lie, not an allocation to make. */
	if (nmsgs > len / 16 || nvanished > len / 8)
		return TERN_INDEX_ERR_COUNT;
	if ((nmsgs && (ix->msgs = calloc(nmsgs, sizeof(*ix->msgs))) == NULL) ||
	    (nvanished && (ix->vanished = calloc(nvanished, sizeof(*ix->vanished))) == NULL))
		return TERN_INDEX_ERR_NOMEM;
	for (k = 0; k < nmsgs; k++) {
		struct tern_index_msg *m = &ix->msgs[k];

		if (!next_line(data, len, &pos, &c))
			return TERN_INDEX_ERR_COUNT;
		if (!read_msg(&c, ix, m) || (k > 0 && m->uid <= ix->msgs[k - 1].uid))
			return TERN_INDEX_ERR_MSG;
		ix->nmsgs++;
	}
	for (k = 0; k < nvanished; k++) {
		struct tern_index_range *r = &ix->vanished[k];

		if (!next_line(data, len, &pos, &c))
			return TERN_INDEX_ERR_COUNT;
		if (!read_range(&c, ix, r) || (k > 0 && r->lo <= ix->vanished[k - 1].hi))
			return TERN_INDEX_ERR_RANGE;
		ix->nvanished++;
	}
	if (pos < len)
		return TERN_INDEX_ERR_COUNT;
	return TERN_INDEX_OK;
}

/* -------------------------------------------------------------- writing -- */

/* v in decimal at p; returns the octets written (at most 20). */
static size_t
put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static size_t
put_i64(char *p, int64_t v)
{
	if (v >= 0)
		return put_u64(p, (uint64_t)v);
	p[0] = '-';
	return 1 + put_u64(p + 1, (uint64_t)0 - (uint64_t)v);
}

static bool
msg_ok(const struct tern_index *ix, const struct tern_index_msg *m, const struct tern_index_msg *prev)
{
	struct maildir_name mn;

	return m->uid != 0 && m->uid < ix->uidnext && (prev == NULL || m->uid > prev->uid) &&
	    m->modseq >= 1 && m->modseq <= ix->highestmodseq &&
	    (m->uidl == NULL || tern_index_uidl_ok(m->uidl, m->uidl_len)) &&
	    maildir_name_parse(m->name, m->name_len, &mn) == MAILDIR_NAME_OK;
}

static bool
range_ok(const struct tern_index *ix, const struct tern_index_range *r,
    const struct tern_index_range *prev)
{
	return r->lo != 0 && r->lo <= r->hi && r->hi < ix->uidnext && r->modseq >= 1 &&
	    r->modseq <= ix->highestmodseq && (prev == NULL || r->lo > prev->hi);
}

/* The longest line but for the name and UIDL: "m " and eight numbers. */
#define LINE_MAX_FIXED (2 + 8 * 21 + 4)

static int
encode(const struct tern_index *ix, struct buf *out)
{
	static const char *const stat_names[TERN_INDEX_NSTAT] = { "new", "cur", "uidlist" };
	size_t start = out->len, k;
	char *p;

	if (ix->uidvalidity == 0 || ix->uidnext == 0 || ix->highestmodseq == 0 ||
	    ix->vanished_floor > ix->highestmodseq ||
	    (ix->boot[0] != '\0' && !boot_ok(ix->boot, strnlen(ix->boot, sizeof(ix->boot)))))
		return -1;
	if (buf_printf(out, TERN_INDEX_MAGIC " %d\nV%lu N%lu M%llu F%llu C%zu X%zu B%s G%016llx\n",
	    TERN_INDEX_VERSION, (unsigned long)ix->uidvalidity, (unsigned long)ix->uidnext,
	    (unsigned long long)ix->highestmodseq, (unsigned long long)ix->vanished_floor,
	    ix->nmsgs, ix->nvanished, ix->boot[0] ? ix->boot : "-",
	    (unsigned long long)ix->gen) == -1)
		return -1;
	for (k = 0; k < TERN_INDEX_NSTAT; k++) {
		const struct tern_index_stat *st = &ix->st[k];

		if (buf_printf(out, "%s %d %llu %llu %lld %lld\n", stat_names[k], st->valid ? 1 : 0,
		    (unsigned long long)st->ino, (unsigned long long)st->size,
		    (long long)st->mtime_ns, (long long)st->check_ns) == -1)
			return -1;
	}
	for (k = 0; k < ix->nmsgs; k++) {
		const struct tern_index_msg *m = &ix->msgs[k];

		if (!msg_ok(ix, m, k ? &ix->msgs[k - 1] : NULL) ||
		    buf_reserve(out, LINE_MAX_FIXED + m->uidl_len + m->name_len) == -1)
			return -1;
		p = out->data + out->len;
		*p++ = 'm';
		*p++ = ' ';
		p += put_u64(p, m->uid);
		*p++ = ' ';
		p += put_u64(p, m->modseq);
		*p++ = ' ';
		p += put_u64(p, m->size);
		*p++ = ' ';
		if (m->vsize == TERN_INDEX_VSIZE_UNKNOWN)
			*p++ = '-';
		else
			p += put_u64(p, m->vsize);
		*p++ = ' ';
		p += put_i64(p, m->date);
		*p++ = ' ';
		*p++ = m->in_new ? 'n' : 'c';
		*p++ = ' ';
		if (m->uidl == NULL)
			*p++ = '-';
		else {
			*p++ = 'P';
			memcpy(p, m->uidl, m->uidl_len);
			p += m->uidl_len;
		}
		*p++ = ' ';
		memcpy(p, m->name, m->name_len);
		p += m->name_len;
		*p++ = '\n';
		out->len = (size_t)(p - out->data);
	}
	for (k = 0; k < ix->nvanished; k++) {
		const struct tern_index_range *r = &ix->vanished[k];

		if (!range_ok(ix, r, k ? &ix->vanished[k - 1] : NULL) ||
		    buf_printf(out, "x %lu %lu %llu\n", (unsigned long)r->lo, (unsigned long)r->hi,
		    (unsigned long long)r->modseq) == -1)
			return -1;
	}
	if (out->data == NULL)
		return -1;
	return buf_printf(out, "end %016llx\n",
	    (unsigned long long)tern_index_sum(out->data + start, out->len - start));
}

int
tern_index_encode(const struct tern_index *ix, struct buf *out)
{
	size_t start = out->len;

	if (encode(ix, out) == 0)
		return 0;
	out->len = start;   /* nothing half-written is left to use */
	return -1;
}

void
tern_index_clear(struct tern_index *ix)
{
	free(ix->msgs);
	free(ix->vanished);
	memset(ix, 0, sizeof(*ix));
}

/* ------------------------------------------------------------------ log -- */

int
tern_index_log_header(uint64_t gen, struct buf *out)
{
	return buf_printf(out, TERN_INDEX_LOG_MAGIC " %d G%016llx\n", TERN_INDEX_VERSION,
	    (unsigned long long)gen);
}

int
tern_index_log_encode(const struct tern_index_logrec *r, struct buf *out)
{
	struct maildir_name mn;

	if (r->kind == 's') {
		if (r->uid == 0 || r->modseq == 0 ||
		    maildir_name_parse(r->name, r->name_len, &mn) != MAILDIR_NAME_OK)
			return -1;
		return buf_printf(out, "s %lu %llu %c %.*s\n", (unsigned long)r->uid,
		    (unsigned long long)r->modseq, r->in_new ? 'n' : 'c', (int)r->name_len, r->name);
	}
	if (r->kind != 'x' || r->uid == 0 || r->hi < r->uid || r->modseq == 0)
		return -1;
	return buf_printf(out, "x %lu %lu %llu\n", (unsigned long)r->uid, (unsigned long)r->hi,
	    (unsigned long long)r->modseq);
}

static bool
read_logrec(struct cursor *c, struct tern_index_logrec *r)
{
	memset(r, 0, sizeof(*r));
	if (take_word(c, "s ")) {
		r->kind = 's';
		return take_u32(c, &r->uid) && take_char(c, ' ') && take_u64(c, &r->modseq) &&
		    take_char(c, ' ') && take_place(c, &r->in_new) && take_char(c, ' ') &&
		    take_name(c, &r->name, &r->name_len, &r->base_len, &r->flags, &r->keywords) &&
		    r->uid != 0 && r->modseq != 0;
	}
	r->kind = 'x';
	return take_word(c, "x ") && take_u32(c, &r->uid) && take_char(c, ' ') &&
	    take_u32(c, &r->hi) && take_char(c, ' ') && take_u64(c, &r->modseq) && c->i == c->n &&
	    r->uid != 0 && r->uid <= r->hi && r->modseq != 0;
}

enum tern_index_err
tern_index_log_parse(const char *data, size_t len, uint64_t gen, size_t max,
    struct tern_index_logrec **recs_r, size_t *n_r)
{
	struct tern_index_logrec *recs = NULL;
	struct cursor c;
	size_t pos = 0, n = 0, cap = 0;
	uint64_t version, g;

	*recs_r = NULL;
	*n_r = 0;
	if (!next_line(data, len, &pos, &c) || pos > len || !take_word(&c, TERN_INDEX_LOG_MAGIC " ") ||
	    !take_u64(&c, &version) || version != TERN_INDEX_VERSION || !take_char(&c, ' ') ||
	    !read_gen(&c, &g) || c.i != c.n || g != gen)
		return TERN_INDEX_ERR_FOREIGN;   /* another index's, or not a log */
	while (next_line(data, len, &pos, &c)) {
		if (pos > len)
			break;   /* a last line without its LF: an append cut short */
		if (n == max) {
			free(recs);
			return TERN_INDEX_ERR_TOO_MANY;
		}
		if (n == cap) {
			struct tern_index_logrec *nr;

			cap = cap ? cap * 2 : 16;
			if ((nr = reallocarray(recs, cap, sizeof(*nr))) == NULL) {
				free(recs);
				return TERN_INDEX_ERR_NOMEM;
			}
			recs = nr;
		}
		if (!read_logrec(&c, &recs[n])) {
			free(recs);
			return TERN_INDEX_ERR_MSG;
		}
		n++;
	}
	*recs_r = recs;
	*n_r = n;
	return TERN_INDEX_OK;
}
