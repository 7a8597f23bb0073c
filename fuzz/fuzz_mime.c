/*
 * fuzz_mime: the MIME part tree and its IMAP forms.
 *
 * Byte 0 picks the limits (depth 1-8, parts 1-32, so that both are
 * reached); the rest is the message. Every part's ranges must lie in the
 * message in order (header, then body) and inside its parent's body, the
 * tree's links must agree with the counts, and BODY, BODYSTRUCTURE and
 * (for every message) ENVELOPE must come out with their parentheses
 * balanced once quoted strings and literals are skipped. Every section
 * kind of the part paths up to two numbers deep (1-3 each) must give a
 * range inside the message or built header lines with CR LF line ends.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/mime.h"

/* Walks an IMAP form: strings and literals skipped, parentheses
 * counted; they must balance and never go below zero. */
static void
balanced(const struct buf *b)
{
	size_t i = 0;
	long depth = 0;

	while (i < b->len) {
		char c = b->data[i];

		if (c == '"') {
			for (i++; i < b->len && b->data[i] != '"'; i++)
				if (b->data[i] == '\\')
					i++;
			CHECK(i < b->len);
			i++;
		} else if (c == '{') {
			char *end;
			unsigned long long n = strtoull(b->data + i + 1, &end, 10);

			CHECK(end[0] == '}' && end[1] == '\r' && end[2] == '\n');
			i = (size_t)(end - b->data) + 3;
			CHECK(n <= b->len - i);
			i += n;
		} else {
			if (c == '(')
				depth++;
			else if (c == ')')
				CHECK(--depth >= 0);
			i++;
		}
	}
	CHECK(depth == 0);
	CHECK(b->len > 0);
}

static void
sections(const struct mime_msg *m)
{
	static const char *const fields[] = { "from", "subject", "content-type" };
	uint32_t nums[2];
	size_t path, k, i;

	for (path = 0; path < 13; path++) {
		struct mime_section sec = { nums, 0, MIME_SECT_ALL, fields, 3 };

		if (path >= 1)
			nums[sec.nparts++] = 1 + (path - 1) % 3;
		if (path >= 4)
			nums[sec.nparts++] = 1 + (path - 4) / 3 % 3;
		for (k = MIME_SECT_ALL; k <= MIME_SECT_MIME; k++) {
			struct buf out = BUF_INIT;
			size_t s = SIZE_MAX, e = SIZE_MAX;

			sec.text = (enum mime_sect_text)k;
			switch (mime_section(m, &sec, &s, &e, &out)) {
			case MIME_SECT_RANGE:
				CHECK(s <= e && e <= m->len);
				CHECK(out.len == 0);
				break;
			case MIME_SECT_BUILT:
				CHECK(k == MIME_SECT_FIELDS || k == MIME_SECT_FIELDS_NOT);
				for (i = 0; i < out.len; i++)
					if (out.data[i] == '\n')
						CHECK(i > 0 && out.data[i - 1] == '\r');
				break;
			case MIME_SECT_NONE:
				CHECK(out.len == 0);
				break;
			default:
				CHECK(0);
			}
			buf_release(&out);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	struct mime_msg m;
	struct buf out = BUF_INIT;
	const char *msg;
	size_t n, i, c, seen;

	if (size < 1)
		return 0;
	lim.max_depth = 1 + (data[0] & 7);
	lim.max_parts = 1 + (data[0] >> 3);
	msg = (const char *)data + 1;
	n = size - 1;
	if (mime_parse(&m, msg, n, &lim) < 0)
		return 0;
	CHECK(m.nparts >= 1 && m.nparts <= lim.max_parts + 1);
	for (i = 0; i < m.nparts; i++) {
		const struct mime_part *p = &m.parts[i];

		CHECK(p->hdr_start <= p->hdr_end && p->hdr_end <= n);
		CHECK(p->hdr_end == p->body_start);
		CHECK(p->body_start <= p->body_end && p->body_end <= n);
		CHECK(p->body_vsize >= p->body_end - p->body_start);
		CHECK(p->body_vsize <= 2 * (uint64_t)(p->body_end - p->body_start));
		if (p->parent != SIZE_MAX) {
			const struct mime_part *pp = &m.parts[p->parent];

			CHECK(p->parent < i);
			CHECK(pp->multipart || pp->message);
			CHECK(p->hdr_start >= pp->body_start);
			CHECK(p->body_end <= pp->body_end);
		} else
			CHECK(i == 0);
		seen = 0;
		for (c = p->first_child; c != SIZE_MAX; c = m.parts[c].next) {
			CHECK(c < m.nparts && m.parts[c].parent == i);
			CHECK(++seen <= m.nparts);
		}
		CHECK(seen == p->nchildren);
		if (p->message)
			CHECK(seen == 1);
		if (!p->multipart && !p->message)
			CHECK(seen == 0);

		CHECK(mime_write_body(&m, i, true, &out) == 0);
		balanced(&out);
		buf_reset(&out);
		CHECK(mime_write_body(&m, i, false, &out) == 0);
		balanced(&out);
		buf_reset(&out);
		if (i == 0 || m.parts[p->parent].message) {
			CHECK(mime_write_envelope(&m, i, &out) == 0);
			balanced(&out);
			buf_reset(&out);
		}
	}
	sections(&m);
	buf_release(&out);
	mime_free(&m);
	return 0;
}
