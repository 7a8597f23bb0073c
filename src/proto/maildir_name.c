/*
 * maildir_name: Maildir file names (see maildir_name.h).
 *
 * What Dovecot 2.3 does with a name, and so what we must agree with:
 * the base ends at the first ':'; ",S=" and ",W=" are the first such
 * fields in the base, digits up to a ',' or the end, and a malformed one
 * means "no size" (stat instead), not a broken name; the flags of a
 * ":2," info end at the next ','; octets among them that it does not
 * know are kept where they are on a flag change, and so is everything
 * from that ','. A file whose name has a CR or LF is ignored, and names
 * starting with '.' are not messages.
 *
 * Where we differ: a name whose info holds a second ':' is kept as an
 * unknown info here (Dovecot reads its flags after the last ':'); neither
 * Dovecot nor tern writes one, hosts being refused or escaped.
 */
#include "maildir_name.h"

#include <string.h>

/* The flag letters in ASCII order; bit i of enum maildir_flag is FLAGS[i]. */
static const char FLAGS[] = "DFPRST";

static bool
bad_octet(unsigned char c)
{
	return c == '\0' || c == '/' || c == '\r' || c == '\n';
}

static int
flag_bit(unsigned char c)
{
	const char *p = c ? strchr(FLAGS, c) : NULL;

	return p ? (int)(p - FLAGS) : -1;
}

/* The first ",<key>=" in the base, digits to a ',' or the end. */
static bool
base_number(const char *base, size_t len, char key, uint64_t *v_r)
{
	size_t i, j;
	uint64_t v = 0;

	for (i = 0; i + 3 <= len; i++) {
		if (base[i] == ',' && base[i + 1] == key && base[i + 2] == '=')
			break;
	}
	if (i + 3 > len)
		return false;
	for (j = i + 3; j < len && base[j] >= '0' && base[j] <= '9'; j++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(base[j] - '0'), &v))
			return false;
	}
	if (j == i + 3 || (j < len && base[j] != ','))
		return false;
	*v_r = v;
	return true;
}

/* What the text after the ':' is. */
static enum maildir_info
classify(const char *info, size_t len)
{
	if (memchr(info, ':', len) != NULL)
		return MAILDIR_INFO_OTHER;
	if (len >= 2 && info[0] == '2' && info[1] == ',')
		return MAILDIR_INFO_2;
	if (len >= 2 && info[0] == '1' && info[1] == ',')
		return MAILDIR_INFO_1;
	return MAILDIR_INFO_OTHER;
}

enum maildir_name_err
maildir_name_parse(const char *name, size_t len, struct maildir_name *out)
{
	const char *colon, *info, *comma;
	size_t i, info_len, field_len;

	memset(out, 0, sizeof(*out));
	out->base = out->flag_text = out->tail = out->raw = "";
	if (len == 0)
		return MAILDIR_NAME_EMPTY;
	if (len > MAILDIR_NAME_MAX)
		return MAILDIR_NAME_TOO_LONG;
	for (i = 0; i < len; i++) {
		if (bad_octet((unsigned char)name[i]))
			return MAILDIR_NAME_BAD_OCTET;
	}
	if (name[0] == '.')
		return MAILDIR_NAME_HIDDEN;
	if (name[0] == ':')
		return MAILDIR_NAME_NO_BASE;
	colon = memchr(name, ':', len);
	out->base = name;
	out->base_len = colon ? (size_t)(colon - name) : len;
	out->has_size = base_number(name, out->base_len, 'S', &out->size);
	out->has_vsize = base_number(name, out->base_len, 'W', &out->vsize);
	if (colon == NULL) {
		out->info = MAILDIR_INFO_NONE;
		return MAILDIR_NAME_OK;
	}
	info = colon + 1;
	info_len = len - out->base_len - 1;
	out->info = classify(info, info_len);
	if (out->info != MAILDIR_INFO_2) {
		out->raw = info;
		out->raw_len = info_len;
		return MAILDIR_NAME_OK;
	}
	/* "2," flags [ "," tail ] */
	comma = memchr(info + 2, ',', info_len - 2);
	field_len = comma ? (size_t)(comma - (info + 2)) : info_len - 2;
	out->flag_text = info + 2;
	out->flag_text_len = field_len;
	for (i = 0; i < field_len; i++) {
		unsigned char c = (unsigned char)info[2 + i];
		int bit = flag_bit(c);

		if (bit >= 0)
			out->flags |= 1u << bit;
		else if (c >= 'a' && c <= 'z')
			out->keywords |= UINT32_C(1) << (c - 'a');
	}
	if (comma != NULL) {
		out->tail = comma;
		out->tail_len = info_len - 2 - field_len;
	}
	return MAILDIR_NAME_OK;
}

/* Appends to a caller's array; ok turns false once something did not fit. */
struct out {
	char *p;
	size_t size, len;
	bool ok;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (!o->ok || n > o->size - o->len) {
		o->ok = false;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
put_c(struct out *o, char c)
{
	put(o, &c, 1);
}

static void
put_u64(struct out *o, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	put(o, d + sizeof(d) - n, n);
}

/* Room for the NUL and within MAILDIR_NAME_MAX: the length, or 0. */
static size_t
finish(struct out *o)
{
	if (!o->ok || o->len > MAILDIR_NAME_MAX || o->len >= o->size)
		return 0;
	o->p[o->len] = '\0';
	return o->len;
}

static bool
valid_base(const char *base, size_t len)
{
	size_t i;

	if (len == 0 || base[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (bad_octet((unsigned char)base[i]) || base[i] == ':')
			return false;
	}
	return true;
}

/* No octet that would end the name's part early or break the name. */
static bool
valid_text(const char *s, size_t len, bool colon_ok, bool comma_ok)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (bad_octet((unsigned char)s[i]) || (!colon_ok && s[i] == ':') ||
		    (!comma_ok && s[i] == ','))
			return false;
	}
	return true;
}

size_t
maildir_name_build(const struct maildir_name *n, char *out, size_t outsize)
{
	struct out o = { out, outsize, 0, true };
	bool set[256] = { false };
	size_t i;

	if (!valid_base(n->base, n->base_len))
		return 0;
	put(&o, n->base, n->base_len);
	switch (n->info) {
	case MAILDIR_INFO_NONE:
		if (n->flags || n->keywords || n->flag_text_len || n->tail_len)
			return 0;
		break;
	case MAILDIR_INFO_1:
	case MAILDIR_INFO_OTHER:
		if (n->flags || n->keywords || n->flag_text_len || n->tail_len ||
		    !valid_text(n->raw, n->raw_len, true, true) ||
		    classify(n->raw, n->raw_len) != n->info)
			return 0;
		put_c(&o, ':');
		put(&o, n->raw, n->raw_len);
		break;
	case MAILDIR_INFO_2:
		if (!valid_text(n->flag_text, n->flag_text_len, false, false) ||
		    (n->tail_len && n->tail[0] != ',') ||
		    !valid_text(n->tail, n->tail_len, false, true) ||
		    (n->flags & ~((1u << (sizeof(FLAGS) - 1)) - 1)) != 0 ||
		    (n->keywords >> 26) != 0)
			return 0;
		for (i = 0; FLAGS[i]; i++) {
			if (n->flags & (1u << i))
				set[(unsigned char)FLAGS[i]] = true;
		}
		for (i = 0; i < 26; i++) {
			if (n->keywords & (UINT32_C(1) << i))
				set['a' + i] = true;
		}
		/* Octets we do not know stay, as Dovecot keeps them. */
		for (i = 0; i < n->flag_text_len; i++) {
			unsigned char c = (unsigned char)n->flag_text[i];

			if (flag_bit(c) < 0 && !(c >= 'a' && c <= 'z'))
				set[c] = true;
		}
		put(&o, ":2,", 3);
		for (i = 0; i < 256; i++) {
			if (set[i])
				put_c(&o, (char)i);
		}
		put(&o, n->tail, n->tail_len);
		break;
	default:
		return 0;
	}
	return finish(&o);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The digit run at s + *i: advances *i past it, gives where its
 * significant digits start and how many there are. */
static void
digit_run(const char *s, size_t len, size_t *i, size_t *sig_r, size_t *n_r)
{
	while (*i < len && s[*i] == '0')
		(*i)++;
	*sig_r = *i;
	while (*i < len && is_digit(s[*i]))
		(*i)++;
	*n_r = *i - *sig_r;
}

int
maildir_name_arrival_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0, m;
	int c;

	while (i < alen && j < blen) {
		if (is_digit(a[i]) && is_digit(b[j])) {
			size_t as, an, bs, bn;

			digit_run(a, alen, &i, &as, &an);
			digit_run(b, blen, &j, &bs, &bn);
			/* the longer number (without its zeros) is the larger */
			if (an != bn)
				return an < bn ? -1 : 1;
			if ((c = memcmp(a + as, b + bs, an)) != 0)
				return c < 0 ? -1 : 1;
			continue;
		}
		if (a[i] != b[j])
			return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
		i++;
		j++;
	}
	if (i < alen || j < blen)
		return i < alen ? 1 : -1;
	/* the same but for leading zeros */
	m = alen < blen ? alen : blen;
	if ((c = memcmp(a, b, m)) != 0)
		return c < 0 ? -1 : 1;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

size_t
maildir_name_new_base(const struct maildir_uniq *u, char *out, size_t outsize)
{
	static const char oct[] = "01234567";
	struct out o = { out, outsize, 0, true };
	size_t i;

	if (u->host_len == 0 || u->usecs > 999999 || u->secs < 0)
		return 0;
	put_u64(&o, (uint64_t)u->secs);
	put(&o, ".M", 2);
	put_u64(&o, u->usecs);
	put_c(&o, 'P');
	put_u64(&o, u->pid);
	if (u->with_seq) {
		put_c(&o, 'Q');
		put_u64(&o, u->seq);
	}
	put_c(&o, '.');
	for (i = 0; i < u->host_len; i++) {
		unsigned char c = (unsigned char)u->host[i];

		if (c == '/' || c == ':' || c == ',' || c < 0x21 || c > 0x7e) {
			char esc[4] = { '\\', oct[c >> 6], oct[(c >> 3) & 7], oct[c & 7] };

			put(&o, esc, sizeof(esc));
		} else {
			put_c(&o, (char)c);
		}
	}
	if (u->with_size) {
		put(&o, ",S=", 3);
		put_u64(&o, u->size);
	}
	if (u->with_vsize) {
		put(&o, ",W=", 3);
		put_u64(&o, u->vsize);
	}
	return finish(&o);
}
