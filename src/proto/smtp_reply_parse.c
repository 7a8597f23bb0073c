/*
 * smtp_reply_parse: parse remote replies (see the header).
 */
#include "smtp_reply_parse.h"

#include <string.h>

#include "../common/str.h"

void
smtp_reply_parser_reset(struct smtp_reply_parser *p)
{
	p->code = 0;
	p->lines = 0;
	p->esc[0] = '\0';
	buf_reset(&p->text);
}

void
smtp_reply_parser_release(struct smtp_reply_parser *p)
{
	buf_release(&p->text);
	p->code = 0;
	p->lines = 0;
}

/* RFC 3463: class "." subject "." detail, with 1-3 digit subject/detail. */
static size_t
parse_esc(const char *s, size_t len, int cls)
{
	size_t i = 0, n;
	int part;

	if (len < 5 || s[0] - '0' != cls || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && s[i] >= '0' && s[i] <= '9' && n < 3; n++)
			i++;
		if (n == 0)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/*
 * Appends reply text made safe to repeat. The text ends up in logs, in DSNs
 * tern relays and in its own error lines, so a hostile next hop must not
 * be able to put a line break there ("550 x\r.\rMAIL FROM:..."): every
 * control octet (CR, NUL, HT, ESC, ...) and DEL becomes a space. RFC 5321
 * §4.2 textstring is printable US-ASCII; an 8-bit octet (GBK, Latin-1 or
 * UTF-8 from servers that ignore that) becomes '?', so a DSN quoting the
 * reply stays 7-bit and truncation can never split a UTF-8 sequence.
 */
static void
append_text(struct buf *b, const char *text, size_t len)
{
	size_t i, start;

	for (i = start = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch >= 0x20 && ch < 0x7f)
			continue;
		buf_append(b, text + start, i - start);
		buf_append_char(b, ch >= 0x80 ? '?' : ' ');
		start = i + 1;
	}
	buf_append(b, text + start, len - start);
}

enum smtp_reply_status
smtp_reply_parser_feed(struct smtp_reply_parser *p, const char *line,
    size_t len)
{
	int code;
	const char *text;
	size_t tlen, e;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9')
		return SMTP_REPLY_BAD;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return SMTP_REPLY_BAD;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->lines > 0 && code != p->code)
		return SMTP_REPLY_BAD;
	if (++p->lines > SMTP_REPLY_MAX_LINES)
		return SMTP_REPLY_BAD;
	p->code = code;
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	if (p->lines == 1 && (e = parse_esc(text, tlen, line[0] - '0')) > 0) {
		str_copyn(p->esc, sizeof(p->esc), text, e);
		text += e;
		tlen -= e;
		if (tlen && *text == ' ') {
			text++;
			tlen--;
		}
	}
	if (p->lines > 1)
		buf_append_char(&p->text, '\n');
	append_text(&p->text, text, tlen);
	return (len > 3 && line[3] == '-') ? SMTP_REPLY_MORE : SMTP_REPLY_DONE;
}

bool
smtp_reply_ehlo_has(const struct smtp_reply_parser *p, const char *keyword,
    const char **param_r)
{
	const char *s = buf_cstr(&p->text), *nl;
	size_t klen = strlen(keyword);

	/* The first line is the greeting, not a keyword. */
	if ((nl = strchr(s, '\n')) == NULL)
		return false;
	for (s = nl + 1; *s; s = nl + 1) {
		size_t n;

		nl = strchr(s, '\n');
		n = nl ? (size_t)(nl - s) : strlen(s);
		if (n >= klen && (n == klen || s[klen] == ' ') && str_ieqn(s, klen, keyword)) {
			if (param_r)
				*param_r = n > klen ? s + klen + 1 : "";
			return true;
		}
		if (nl == NULL)
			break;
	}
	return false;
}
