/*
 * imap_out: the small pieces of IMAP data every command writes (see
 * imap_session.h): strings, mailbox names, flags, UID sets and dates.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../proto/imap_mutf7.h"
#include "../proto/maildir_name.h"
#include "../proto/mime.h"
#include "imap_session.h"

void
imap_put_string(struct buf *out, const char *s, size_t len)
{
	(void)mime_write_string(out, s, len);
}

/* An astring (RFC 9051 §9): an atom when it can be one (ASTRING-CHARs,
 * not empty, not NIL), as Dovecot writes names, else a string. */
static void
put_astring(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch >= 0x7f || strchr("(){%*\"\\", ch))
			break;
	}
	if (i == n && n && !(n == 3 && strncasecmp(s, "NIL", 3) == 0))
		buf_append(out, s, n);
	else
		imap_put_string(out, s, n);
}

void
imap_put_mailbox(struct buf *out, const char *name, bool utf8)
{
	char enc[IMAP_MUTF7_ENCODED_MAX(IMAP_NAME_MAX)];
	size_t n = strlen(name), elen;

	if (!utf8 && imap_mutf7_encode(name, n, enc, sizeof(enc), &elen) == IMAP_MUTF7_OK)
		put_astring(out, enc, elen);
	else
		put_astring(out, name, n);
}

unsigned
imap_flags_to_maildir(unsigned imap)
{
	return (imap & IMAP_FLAG_SEEN ? MAILDIR_FLAG_SEEN : 0) |
	    (imap & IMAP_FLAG_ANSWERED ? MAILDIR_FLAG_REPLIED : 0) |
	    (imap & IMAP_FLAG_FLAGGED ? MAILDIR_FLAG_FLAGGED : 0) |
	    (imap & IMAP_FLAG_DELETED ? MAILDIR_FLAG_TRASHED : 0) |
	    (imap & IMAP_FLAG_DRAFT ? MAILDIR_FLAG_DRAFT : 0);
}

unsigned
imap_flags_from_maildir(unsigned md)
{
	return (md & MAILDIR_FLAG_SEEN ? IMAP_FLAG_SEEN : 0) |
	    (md & MAILDIR_FLAG_REPLIED ? IMAP_FLAG_ANSWERED : 0) |
	    (md & MAILDIR_FLAG_FLAGGED ? IMAP_FLAG_FLAGGED : 0) |
	    (md & MAILDIR_FLAG_TRASHED ? IMAP_FLAG_DELETED : 0) |
	    (md & MAILDIR_FLAG_DRAFT ? IMAP_FLAG_DRAFT : 0);
}

void
imap_put_flags(struct buf *out, const struct imap_box *b, unsigned flags,
    uint32_t keywords, bool recent)
{
	static const struct { unsigned bit; const char *name; } sys[] = {
		{ MAILDIR_FLAG_REPLIED, "\\Answered" }, { MAILDIR_FLAG_FLAGGED, "\\Flagged" },
		{ MAILDIR_FLAG_TRASHED, "\\Deleted" }, { MAILDIR_FLAG_SEEN, "\\Seen" },
		{ MAILDIR_FLAG_DRAFT, "\\Draft" },
	};
	bool first = true;
	size_t i;

	buf_append_char(out, '(');
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (flags & sys[i].bit) {
			if (!first)
				buf_append_char(out, ' ');
			buf_append_str(out, sys[i].name);
			first = false;
		}
	}
	for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
		if ((keywords & (1u << i)) && b->mb.keywords[i]) {
			if (!first)
				buf_append_char(out, ' ');
			buf_append_str(out, b->mb.keywords[i]);
			first = false;
		}
	}
	if (recent && !b->rev2) {
		if (!first)
			buf_append_char(out, ' ');
		buf_append_str(out, "\\Recent");
	}
	buf_append_char(out, ')');
}

void
imap_put_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = i;

		while (k + 1 < n && uids[k + 1] == uids[k] + 1)
			k++;
		if (i)
			buf_append_char(out, ',');
		if (k == i)
			buf_printf(out, "%u", (unsigned)uids[i]);
		else
			buf_printf(out, "%u:%u", (unsigned)uids[i], (unsigned)uids[k]);
		i = k + 1;
	}
}

void
imap_put_date(struct buf *out, int64_t t)
{
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	long off;

	if (localtime_r(&tt, &tm) == NULL) {
		buf_append_str(out, "\"01-Jan-1970 00:00:00 +0000\"");
		return;
	}
	off = tm.tm_gmtoff / 60;
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"", tm.tm_mday,
	    mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}
