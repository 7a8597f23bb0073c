/*
 * uidlist: dovecot-uidlist read and written (see uidlist.h).
 *
 * The reader is as strict as Dovecot 2.3 where Dovecot calls the file
 * broken (and unlinks it, renumbering what follows): a header that is
 * not "<digit> ", a version other than 1 and 3, uidvalidity or next UID
 * missing or 0, a G that is not 32 hex digits, a record that is not
 * "<uid> " with 0 < uid < 2^32-1, uids not ascending, a version 1 uid at
 * or above the header's next UID, a record without a name, a '/' in a
 * name. It is as lenient where Dovecot is: a version 3 uid at or above N
 * (appends leave N behind), record fields whose key is not A-Z (dropped,
 * counted), a last line without its LF (ignored, flagged torn: Dovecot's
 * next append would glue its line onto it, so the store rewrites).
 * Stricter than Dovecot, which reads these with strtoul and gives up on
 * nothing: V and N must be all digits; NUL and CR are refused; a name
 * must have a base before any ':'.
 */
#include "uidlist.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/str.h"

static const char HEX[] = "0123456789abcdef";

/* Decimal digits at s[*i..n) into a uint32; advances *i. False without a
 * digit or when the value passes 2^32-1. */
static bool
take_u32(const char *s, size_t n, size_t *i, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX)
			return false;
		(*i)++;
	}
	*v_r = (uint32_t)v;
	return *i > start;
}

static bool
rec_key(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* A name as a record may hold it: not empty, a base before any ':', no
 * octet that would end or break the line, no '/'. */
static bool
valid_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || name[0] == ':')
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] == '/' || name[i] == '\n' || name[i] == '\r' ||
		    name[i] == '\0')
			return false;
	}
	return true;
}

/* Space-separated fields as we write them: single spaces, none at the
 * ends; a record's keys are A-Z, a header's are anything but V, N, G. */
static bool
valid_fields(const char *s, bool header)
{
	size_t i, len = strlen(s);

	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '\n' || s[i] == '\r' || (s[i] == ' ' && s[i + 1] == ' '))
			return false;
		if (i == 0 || s[i - 1] == ' ') {
			if (header ? (s[i] == 'V' || s[i] == 'N' || s[i] == 'G') :
			    !rec_key(s[i]))
				return false;
		}
	}
	return true;
}

/* Hands the text of b to the caller (NULL when empty). */
static char *
take_text(struct buf *b)
{
	char *s = b->len ? b->data : NULL;

	if (s == NULL)
		buf_release(b);
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

static enum uidlist_err
add_rec(struct uidlist *ul, uint32_t uid, char *ext, const char *name,
    size_t name_len)
{
	struct uidlist_rec *r;

	if (ul->nrecs == ul->cap) {
		size_t cap = ul->cap ? ul->cap : 64;

		if (ul->cap && __builtin_mul_overflow(cap, 2, &cap))
			goto nomem;
		r = reallocarray(ul->recs, cap, sizeof(*r));
		if (r == NULL)
			goto nomem;
		ul->recs = r;
		ul->cap = cap;
	}
	r = &ul->recs[ul->nrecs];
	if ((r->name = str_dupn(name, name_len)) == NULL)
		goto nomem;
	r->uid = uid;
	r->ext = ext;
	ul->nrecs++;
	if (uid >= ul->next_uid)
		ul->next_uid = uid + 1;
	return UIDLIST_OK;
nomem:
	free(ext);
	return UIDLIST_ERR_NOMEM;
}

/* "1 <uidvalidity> <next uid>" */
static enum uidlist_err
header_v1(const char *l, size_t n, struct uidlist *ul)
{
	size_t i = 2;

	if (!take_u32(l, n, &i, &ul->uidvalidity) || i >= n || l[i++] != ' ' ||
	    !take_u32(l, n, &i, &ul->hdr_next_uid) || i != n)
		return UIDLIST_ERR_HEADER;
	return UIDLIST_OK;
}

/* "3 V<uidvalidity> N<next uid> G<guid> ...", in any order. */
static enum uidlist_err
header_v3(const char *l, size_t n, struct uidlist *ul)
{
	struct buf other = BUF_INIT;
	size_t i = 2, start, end, j;

	while (i < n) {
		if (l[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		end = start;
		while (end < n && l[end] != ' ')
			end++;
		j = start + 1;
		switch (l[start]) {
		case 'V':
			if (!take_u32(l, end, &j, &ul->uidvalidity) || j != end)
				goto bad;
			break;
		case 'N':
			if (!take_u32(l, end, &j, &ul->hdr_next_uid) || j != end)
				goto bad;
			break;
		case 'G':
			if (end - j != 2 * UIDLIST_GUID_LEN)
				goto bad;
			for (size_t k = 0; k < UIDLIST_GUID_LEN; k++) {
				int hi = str_hexval(l[j + 2 * k]), lo = str_hexval(l[j + 2 * k + 1]);

				if (hi < 0 || lo < 0)
					goto bad;
				ul->guid[k] = (uint8_t)(hi << 4 | lo);
			}
			ul->has_guid = true;
			break;
		default:
			/* Fields we do not know are written back as they were. */
			if ((other.len && buf_append_char(&other, ' ') == -1) ||
			    buf_append(&other, l + start, end - start) == -1) {
				buf_release(&other);
				return UIDLIST_ERR_NOMEM;
			}
		}
		i = end;
	}
	ul->hdr_ext = take_text(&other);
	return UIDLIST_OK;
bad:
	buf_release(&other);
	return UIDLIST_ERR_HEADER;
}

static enum uidlist_err
record(const char *l, size_t n, const struct uidlist_limits *lim,
    struct uidlist *ul)
{
	struct buf ext = BUF_INIT;
	size_t i = 0, start;
	uint32_t uid;

	if (!take_u32(l, n, &i, &uid) || i >= n || l[i] != ' ' || uid == 0 ||
	    uid == UINT32_MAX)
		return UIDLIST_ERR_UID;
	if (ul->nrecs > 0 && uid <= ul->recs[ul->nrecs - 1].uid)
		return UIDLIST_ERR_ORDER;
	if (ul->version == 1 && uid >= ul->hdr_next_uid)
		return UIDLIST_ERR_NEXT_UID;
	if (ul->nrecs >= lim->records_max)
		return UIDLIST_ERR_TOO_MANY;
	while (i < n && l[i] == ' ')
		i++;
	if (ul->version == 3) {
		/* Fields up to the ':' that starts the name. */
		while (i < n && l[i] != ':') {
			start = i;
			while (i < n && l[i] != ' ')
				i++;
			if (!rec_key(l[start])) {
				ul->dropped_ext++;
			} else if ((ext.len && buf_append_char(&ext, ' ') == -1) ||
			    buf_append(&ext, l + start, i - start) == -1) {
				buf_release(&ext);
				return UIDLIST_ERR_NOMEM;
			}
			while (i < n && l[i] == ' ')
				i++;
		}
		if (i < n)
			i++;   /* the ':' */
	}
	if (!valid_name(l + i, n - i)) {
		buf_release(&ext);
		return UIDLIST_ERR_NAME;
	}
	return add_rec(ul, uid, take_text(&ext), l + i, n - i);
}

enum uidlist_err
uidlist_parse(const char *data, size_t len, const struct uidlist_limits *lim,
    struct uidlist *ul, size_t *line_r)
{
	enum uidlist_err err = UIDLIST_OK;
	size_t pos = 0, lineno = 0;

	memset(ul, 0, sizeof(*ul));
	while (pos < len) {
		const char *l = data + pos, *lf = memchr(l, '\n', len - pos);
		size_t n = lf ? (size_t)(lf - l) : len - pos;

		lineno++;
		*line_r = lineno;
		if (lf == NULL && lineno > 1) {
			/* A crash during an append: the record never was. */
			ul->torn = true;
			break;
		}
		if (n > lim->line_max)
			return UIDLIST_ERR_LONG;
		if (memchr(l, '\0', n) != NULL || memchr(l, '\r', n) != NULL)
			return UIDLIST_ERR_BYTES;
		if (lf == NULL)
			return UIDLIST_ERR_HEADER;
		pos += n + 1;
		if (lineno > 1) {
			if ((err = record(l, n, lim, ul)) != UIDLIST_OK)
				return err;
			continue;
		}
		if (n < 2 || l[0] < '0' || l[0] > '9' || l[1] != ' ')
			return UIDLIST_ERR_HEADER;
		ul->version = (unsigned)(l[0] - '0');
		if (ul->version == 1)
			err = header_v1(l, n, ul);
		else if (ul->version == 3)
			err = header_v3(l, n, ul);
		else
			err = UIDLIST_ERR_VERSION;
		if (err == UIDLIST_OK && (ul->uidvalidity == 0 || ul->hdr_next_uid == 0))
			err = UIDLIST_ERR_HEADER;
		if (err != UIDLIST_OK)
			return err;
		ul->next_uid = ul->hdr_next_uid;
	}
	if (lineno == 0) {
		*line_r = 1;
		return UIDLIST_ERR_HEADER;
	}
	*line_r = 0;
	return UIDLIST_OK;
}

int
uidlist_encode_rec(const struct uidlist_rec *r, struct buf *out)
{
	const char *colon = strchr(r->name, ':');
	size_t n = colon ? (size_t)(colon - r->name) : strlen(r->name);
	int rc = 0;

	if (r->uid == 0 || r->uid == UINT32_MAX || !valid_name(r->name, n) ||
	    (r->ext != NULL && r->ext[0] != '\0' && !valid_fields(r->ext, false)))
		return -1;
	rc |= buf_printf(out, "%" PRIu32, r->uid);
	if (r->ext != NULL && r->ext[0] != '\0')
		rc |= buf_printf(out, " %s", r->ext);
	rc |= buf_append(out, " :", 2);
	rc |= buf_append(out, r->name, n);
	rc |= buf_append_char(out, '\n');
	return rc == 0 ? 0 : -1;
}

int
uidlist_encode(const struct uidlist *ul, struct buf *out)
{
	char guid[2 * UIDLIST_GUID_LEN + 1];
	size_t i;
	int rc = 0;

	if (ul->uidvalidity == 0 || ul->next_uid == 0 ||
	    (ul->hdr_ext != NULL && ul->hdr_ext[0] != '\0' &&
	    !valid_fields(ul->hdr_ext, true)))
		return -1;
	for (i = 0; i < ul->nrecs; i++) {
		if ((i > 0 && ul->recs[i].uid <= ul->recs[i - 1].uid) ||
		    ul->recs[i].uid >= ul->next_uid)
			return -1;
	}
	rc |= buf_printf(out, "3 V%" PRIu32 " N%" PRIu32, ul->uidvalidity,
	    ul->next_uid);
	if (ul->has_guid) {
		for (i = 0; i < UIDLIST_GUID_LEN; i++) {
			guid[2 * i] = HEX[ul->guid[i] >> 4];
			guid[2 * i + 1] = HEX[ul->guid[i] & 15];
		}
		guid[sizeof(guid) - 1] = '\0';
		rc |= buf_printf(out, " G%s", guid);
	}
	if (ul->hdr_ext != NULL && ul->hdr_ext[0] != '\0')
		rc |= buf_printf(out, " %s", ul->hdr_ext);
	rc |= buf_append_char(out, '\n');
	for (i = 0; i < ul->nrecs && rc == 0; i++)
		rc |= uidlist_encode_rec(&ul->recs[i], out);
	return rc == 0 ? 0 : -1;
}

int
uidlist_append(struct uidlist *ul, uint32_t uid, const char *ext,
    const char *name, size_t name_len)
{
	char *ext_copy = NULL;

	if (uid == 0 || uid == UINT32_MAX ||
	    (ul->nrecs > 0 && uid <= ul->recs[ul->nrecs - 1].uid) ||
	    !valid_name(name, name_len) ||
	    (ext != NULL && ext[0] != '\0' && !valid_fields(ext, false)))
		return -1;
	if (ext != NULL && ext[0] != '\0' && (ext_copy = str_dup(ext)) == NULL)
		return -1;
	return add_rec(ul, uid, ext_copy, name, name_len) == UIDLIST_OK ? 0 : -1;
}

static size_t
find_index(const struct uidlist *ul, uint32_t uid)
{
	size_t lo = 0, hi = ul->nrecs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ul->recs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < ul->nrecs && ul->recs[lo].uid == uid) ? lo : SIZE_MAX;
}

struct uidlist_rec *
uidlist_find(struct uidlist *ul, uint32_t uid)
{
	size_t i = find_index(ul, uid);

	return i == SIZE_MAX ? NULL : &ul->recs[i];
}

bool
uidlist_remove(struct uidlist *ul, uint32_t uid)
{
	size_t i = find_index(ul, uid);

	if (i == SIZE_MAX)
		return false;
	free(ul->recs[i].ext);
	free(ul->recs[i].name);
	memmove(&ul->recs[i], &ul->recs[i + 1],
	    (ul->nrecs - i - 1) * sizeof(ul->recs[0]));
	ul->nrecs--;
	return true;
}

bool
uidlist_rec_ext(const struct uidlist_rec *r, char key, const char **val_r,
    size_t *len_r)
{
	const char *p = r->ext;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");

		if (p[0] == key) {
			*val_r = p + 1;
			*len_r = n - 1;
			return true;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

void
uidlist_clear(struct uidlist *ul)
{
	size_t i;

	for (i = 0; i < ul->nrecs; i++) {
		free(ul->recs[i].ext);
		free(ul->recs[i].name);
	}
	free(ul->recs);
	free(ul->hdr_ext);
	memset(ul, 0, sizeof(*ul));
}
