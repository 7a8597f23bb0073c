/*
 * fuzz_smtp_reply: a remote server's replies. The input is split at CRLF
 * and each line fed to the parser; after DONE or BAD it starts a new
 * reply. Checked: the status agrees with a plain reading of the line, the
 * code and lines stay in range, the enhanced code is well formed and of
 * the reply's class, the text is the lines' texts joined (control octets
 * and DEL as spaces, 8-bit octets as '?'), the text holds nothing but
 * printable ASCII, spaces and one "\n" between lines, and EHLO keyword
 * lookups point inside the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/smtp_reply_parse.h"

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "x.y.z": class digit, 1-3 digits, 1-3 digits. */
static int
esc_ok(const char *e, int cls)
{
	size_t i = 2, n;
	int part;

	if (e[0] - '0' != cls || e[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (n = 0; digit(e[i]); n++)
			i++;
		if (n < 1 || n > 3)
			return 0;
		if (part == 0 && e[i++] != '.')
			return 0;
	}
	return e[i] == '\0';
}

/* The model of the text's cleaning, octet by octet. */
static void
model_append(struct buf *b, const char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];

		buf_append_char(b, ch >= 0x80 ? '?' : (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch);
	}
}

/* Nothing in the text can break a line or carry 8 bits. */
static void
check_clean(const struct smtp_reply_parser *p)
{
	size_t i;
	int nl = 0;

	for (i = 0; i < p->text.len; i++) {
		unsigned char ch = (unsigned char)p->text.data[i];

		if (ch == '\n')
			nl++;
		else
			CHECK(ch >= 0x20 && ch < 0x7f);
	}
	CHECK(nl == p->lines - 1);
}

static void
check_ehlo(const struct smtp_reply_parser *p, const char *kw)
{
	const char *param = NULL, *text = buf_cstr(&p->text);
	size_t tl = strlen(text), kl = strlen(kw);

	if (smtp_reply_ehlo_has(p, kw, &param)) {
		CHECK(param != NULL);
		/* inside the text (or the constant "") */
		CHECK((param >= text && param <= text + tl) || *param == '\0');
		/* the keyword starts a line other than the first */
		if (*param != '\0') {
			const char *k = param - 1 - kl;

			CHECK(k > text && k[-1] == '\n');
			CHECK(strncasecmp(k, kw, kl) == 0 && k[kl] == ' ');
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser p = { 0 };
	struct buf model = BUF_INIT;
	const char *s = (const char *)data, *end = s + size;
	int mcode = 0, mlines = 0;

	smtp_reply_parser_reset(&p);
	while (s < end) {
		const char *nl = NULL, *q;
		size_t len;
		enum smtp_reply_status st;
		int bad;

		for (q = s; q + 1 < end; q++) {
			if (q[0] == '\r' && q[1] == '\n') {
				nl = q;
				break;
			}
		}
		len = nl ? (size_t)(nl - s) : (size_t)(end - s);

		/* what the line should give */
		bad = len < 3 || s[0] < '2' || s[0] > '5' || !digit(s[1]) || !digit(s[2]) ||
		    (len > 3 && s[3] != ' ' && s[3] != '-');
		if (!bad) {
			int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');

			bad = (mlines > 0 && code != mcode) || mlines + 1 > SMTP_REPLY_MAX_LINES;
			mcode = code;
		}

		st = smtp_reply_parser_feed(&p, s, len);
		if (bad) {
			CHECK(st == SMTP_REPLY_BAD);
		} else {
			mlines++;
			CHECK(st == ((len > 3 && s[3] == '-') ? SMTP_REPLY_MORE : SMTP_REPLY_DONE));
			CHECK(p.code == mcode && p.lines == mlines);
			CHECK(p.code >= 200 && p.code <= 599);
			CHECK(p.esc[0] == '\0' || esc_ok(p.esc, p.code / 100));
			/* the text: each line's text after the code (and on the
			 * first line after the enhanced code) */
			if (mlines > 1)
				buf_append_char(&model, '\n');
			{
				const char *t = len > 4 ? s + 4 : "";
				size_t tl = len > 4 ? len - 4 : 0;

				if (mlines == 1 && p.esc[0]) {
					size_t el = strlen(p.esc);

					CHECK(tl >= el && memcmp(t, p.esc, el) == 0);
					t += el;
					tl -= el;
					if (tl && *t == ' ') {
						t++;
						tl--;
					}
				}
				model_append(&model, t, tl);
			}
			CHECK(p.text.len == model.len);
			CHECK(model.len == 0 || memcmp(p.text.data, model.data, model.len) == 0);
			check_clean(&p);
			check_ehlo(&p, "SIZE");
			check_ehlo(&p, "PIPELINING");
			check_ehlo(&p, "8BITMIME");
			check_ehlo(&p, "A");
		}
		if (st != SMTP_REPLY_MORE) {
			smtp_reply_parser_reset(&p);
			buf_reset(&model);
			mcode = 0;
			mlines = 0;
		}
		s = nl ? nl + 2 : end;
	}
	smtp_reply_parser_release(&p);
	buf_release(&model);
	return 0;
}
