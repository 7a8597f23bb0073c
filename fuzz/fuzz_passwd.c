/*
 * fuzz_passwd: passwd-file lines, and whole files as passwd_file_each
 * walks them. An entry's spans lie inside its line, the user is
 * local@domain without blanks or a second '@', and walking the extra
 * field ends within it, every pair inside it. The walk hands over lines
 * in order, each inside the text, without a LF in it or a CR at its end,
 * never more lines than the text has, and nothing it parsed as a blank
 * or comment line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/passwd.h"

static int
inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

static void
check_entry(const char *line, size_t size, const struct passwd_entry *e)
{
	const char *k, *v, *at;
	size_t kl, vl, pos = 0, pairs = 0;

	CHECK(e->user_len > 0 && inside(e->user, e->user_len, line, size));
	CHECK(e->pass_len == 0 || inside(e->pass, e->pass_len, line, size));
	CHECK(e->extra_len == 0 || inside(e->extra, e->extra_len, line, size));
	at = memchr(e->user, '@', e->user_len);
	CHECK(at != NULL && at != e->user && at != e->user + e->user_len - 1);
	CHECK(memchr(at + 1, '@', e->user_len - (size_t)(at + 1 - e->user)) == NULL);
	CHECK(memchr(e->user, ' ', e->user_len) == NULL && memchr(e->user, ':', e->user_len) == NULL);
	while (passwd_next_extra(e->extra, e->extra_len, &pos, &k, &kl, &v, &vl)) {
		CHECK(kl + vl <= e->extra_len && inside(k, kl, e->extra, e->extra_len));
		CHECK(vl == 0 || inside(v, vl, e->extra, e->extra_len));
		CHECK(pos <= e->extra_len);
		CHECK(++pairs <= e->extra_len);
	}
}

struct walk {
	const char *text;
	size_t len;
	size_t lines;          /* the text's lines: LFs, +1 if it does not end in one */
	size_t last_lineno;
	const char *last_end;  /* where the previous line handed over ended */
};

static int
on_line(void *arg, size_t lineno, const char *line, size_t len,
    enum passwd_line kind, const struct passwd_entry *e)
{
	struct walk *w = arg;
	struct passwd_entry again;

	CHECK(lineno > w->last_lineno && lineno <= w->lines);
	CHECK(inside(line, len, w->text, w->len) && line >= w->last_end);
	CHECK(memchr(line, '\n', len) == NULL && (len == 0 || line[len - 1] != '\r'));
	CHECK(kind != PASSWD_SKIP && passwd_parse_line(line, len, &again) == kind);
	if (kind == PASSWD_ENTRY)
		check_entry(line, len, e);
	w->last_lineno = lineno;
	w->last_end = line + len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct passwd_entry e;
	struct walk w = { .text = text, .len = size };
	size_t i;

	if (passwd_parse_line(text, size, &e) == PASSWD_ENTRY)
		check_entry(text, size, &e);
	for (i = 0; i < size; i++)
		w.lines += text[i] == '\n';
	if (size > 0 && text[size - 1] != '\n')
		w.lines++;
	w.last_end = text;
	CHECK(passwd_file_each(text, size, on_line, &w) == 0);
	return 0;
}
