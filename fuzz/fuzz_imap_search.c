/*
 * fuzz_imap_search: SEARCH arguments from bytes. The input is cut into
 * tokens (space between them; "(" and ")" alone; a '"' starts a string
 * running to the next '"'), parsed with small limits, and a parse that
 * succeeds is evaluated against messages drawn from the input's first
 * bytes. A parse stays within its limits, names a token inside the line
 * when it fails and leaves nothing to free; an IMAP date that parses
 * reads back the same; matching folded text never fails on bytes that
 * are not UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "proto/imap_search.h"

#define MAX_TOKS 512

static bool
contains(void *ctx, const char *needle, size_t nlen)
{
	const struct imap_tok *text = ctx;

	return imap_search_match(needle, nlen, text->s, text->len);
}

static bool
header(void *ctx, const char *field, size_t flen, const char *needle, size_t nlen)
{
	CHECK(field != NULL && flen > 0);
	return contains(ctx, needle, nlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_search_limits lim = { 8, 64, 32 };
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *s = (const char *)data;
	struct imap_tok toks[MAX_TOKS], text = { IMAP_TOK_STRING, s, size };
	struct imap_search srch;
	size_t n = 0, i = 0, bad = 0;
	enum imap_search_err e;
	int32_t day;

	while (i < size && n < MAX_TOKS) {
		if (s[i] == ' ') {
			i++;
		} else if (s[i] == '(' || s[i] == ')') {
			toks[n++] = (struct imap_tok){ s[i] == '(' ? IMAP_TOK_LPAREN :
			    IMAP_TOK_RPAREN, s + i, 1 };
			i++;
		} else if (s[i] == '"') {
			const char *q = memchr(s + i + 1, '"', size - i - 1);
			size_t end = q ? (size_t)(q - s) : size;

			toks[n++] = (struct imap_tok){ IMAP_TOK_STRING, s + i + 1, end - i - 1 };
			i = end + 1;
		} else {
			size_t st = i;

			while (i < size && s[i] != ' ' && s[i] != '(' && s[i] != ')')
				i++;
			toks[n++] = (struct imap_tok){ IMAP_TOK_ATOM, s + st, i - st };
		}
	}
	e = imap_search_parse(toks, n, &lim, &srch, &bad);
	if (e == IMAP_SEARCH_OK) {
		struct imap_search_msg m = { 0 };

		CHECK(srch.nnodes > 0 && srch.nnodes <= lim.max_nodes);
		CHECK(srch.nranges <= lim.max_ranges);
		m.ctx = &text;
		m.header_contains = header;
		m.body_contains = contains;
		m.text_contains = contains;
		for (i = 0; i < 4; i++) {
			uint8_t b = size > i ? data[i] : 0;

			m.seq = b % 7;
			m.uid = b;
			m.max_seq = 5;
			m.max_uid = 200;
			m.flags = b & 0x3f;
			m.size = (uint64_t)b * 997;
			m.internal_day = m.sent_day = 19000 + b * 3;
			m.modseq = b;
			m.in_saved = b & 1;
			m.keywords = n > 0 ? toks : NULL;
			m.nkeywords = n > 0 ? 1 : 0;
			(void)imap_search_eval(&srch, &m);
		}
		imap_search_free(&srch);
	} else {
		CHECK(bad <= n);
		CHECK(srch.nodes == NULL && srch.ranges == NULL && srch.nnodes == 0);
	}
	if (imap_date_parse(s, size, &day)) {
		/* d-Mon-yyyy or dd-Mon-yyyy, or it would not parse */
		const char *yr = s + size - 4, *mo = s + size - 8;
		int y = (yr[0] - '0') * 1000 + (yr[1] - '0') * 100 + (yr[2] - '0') * 10 + (yr[3] - '0');
		int d = size == 11 ? (s[0] - '0') * 10 + (s[1] - '0') : s[0] - '0';
		int mon = 0, l;
		char back[32];
		int32_t again;

		while (mon < 12 && strncasecmp(months + mon * 3, mo, 3) != 0)
			mon++;
		CHECK(mon < 12 && d >= 1 && d <= 31);
		CHECK(day == imap_days_from_civil(y, (unsigned)mon + 1, (unsigned)d));
		l = snprintf(back, sizeof(back), "%d-%.3s-%04d", d, months + mon * 3, y);
		CHECK(imap_date_parse(back, (size_t)l, &again) && again == day);
	}
	if (size > 0) {
		size_t half = data[0] % size, flen;
		char *f = imap_search_fold(s, half, &flen);

		if (f != NULL) {
			(void)imap_search_match(f, flen, s + half, size - half);
			CHECK(imap_search_match(f, flen, f, flen));
			free(f);
		}
	}
	return 0;
}
