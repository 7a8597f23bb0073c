/*
 * smtp_reply_parse: replies from a remote SMTP/LMTP server (RFC 5321
 * §4.2), one line at a time, multi-line replies joined. Pure.
 *
 *   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                Reply-code [ SP textstring ] CRLF
 */
#ifndef TERN_SMTP_REPLY_PARSE_H
#define TERN_SMTP_REPLY_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"

#define SMTP_REPLY_MAX_LINES 100

struct smtp_reply_parser {
	int code;              /* 0 until the first line */
	int lines;
	char esc[16];          /* "x.y.z" from the first line, "" if none */
	/* Lines' text joined with "\n", codes removed. Only printable ASCII,
	 * spaces and those "\n": control octets and DEL became spaces, 8-bit
	 * octets '?' (see append_text). */
	struct buf text;
};

enum smtp_reply_status {
	SMTP_REPLY_MORE,       /* a continuation line: feed the next one */
	SMTP_REPLY_DONE,       /* the last line: code, esc and text are set */
	SMTP_REPLY_BAD,        /* not a reply line, or codes differ */
};

void smtp_reply_parser_reset(struct smtp_reply_parser *p);
void smtp_reply_parser_release(struct smtp_reply_parser *p);
/* line excludes the CRLF. */
enum smtp_reply_status smtp_reply_parser_feed(struct smtp_reply_parser *p,
    const char *line, size_t len);

/* Scans EHLO reply text (one keyword line per "\n") for a keyword; on a hit
 * *param_r points at its parameters (or "") within the text. */
bool smtp_reply_ehlo_has(const struct smtp_reply_parser *p,
    const char *keyword, const char **param_r);

#endif
