/*
 * fuzz_sendmail_bs: the dialogue of sendmail -bs, fed the input whole and
 * again in pieces whose sizes the first octets pick. The replies and the
 * messages must be the same both ways; every reply line is "NNN" then a
 * space or '-' and ends in CRLF; every message handed back is within the
 * limits, made of CRLF lines, and writes as a maildrop file that reads
 * back (or is refused as unwritable, never half-written).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/sendmail_bs.h"

#define MAX_SIZE 4096
#define MAX_LINE 80

static void
check_message(const struct sendmail_bs *s, struct buf *trace)
{
	struct maildrop md = { 0 }, back = { 0 };
	struct buf file = BUF_INIT;
	const char *m = s->msg.data ? s->msg.data : "";
	size_t len = s->msg.len;

	CHECK(len <= MAX_SIZE && s->nrcpts > 0 && s->nrcpts <= MAILDROP_RCPT_MAX);
	for (size_t i = 0; i < len; i++)
		if (m[i] == '\r' || m[i] == '\n')
			CHECK(m[i] == '\r' ? i + 1 < len && m[i + 1] == '\n' :
			    i > 0 && m[i - 1] == '\r');
	CHECK(len == 0 || (len >= 2 && m[len - 1] == '\n'));
	buf_printf(trace, "<%s>", s->sender);
	md.sender = s->sender;
	md.fullname = md.envid = "";
	md.msg = m;
	md.msglen = len;
	for (size_t r = 0; r < s->nrcpts; r++) {
		buf_printf(trace, " %s", s->rcpts[r]);
		CHECK(maildrop_add_rcpt(&md, s->rcpts[r]) == 0);
	}
	buf_append(trace, "\n", 1);
	buf_append(trace, m, len);
	if (maildrop_encode(&md, &file) == 0) {
		char *copy = malloc(file.len + 1);

		CHECK(copy != NULL);
		memcpy(copy, file.data, file.len);
		CHECK(maildrop_decode(copy, file.len, MAX_SIZE, MAX_LINE, &back) == MAILDROP_OK);
		CHECK(back.nrcpts == s->nrcpts && back.msglen == len);
		maildrop_clear(&back);
		free(copy);
	}
	maildrop_clear(&md);
	buf_release(&file);
}

/* Runs the whole input; pieces sized by seed (0: whole). The replies and
 * the messages go to trace. */
static void
run(const uint8_t *data, size_t size, const uint8_t *seed, size_t nseed, struct buf *trace)
{
	struct sendmail_bs s;
	size_t off = 0, turn = 0;
	int ev = SENDMAIL_BS_MORE;

	sendmail_bs_init(&s, "host.test", "pm@host.test", MAX_SIZE, MAX_LINE);
	while (off < size && ev != SENDMAIL_BS_QUIT) {
		size_t n = size - off, k = 0, used;

		if (nseed) {
			size_t piece = 1 + seed[turn++ % nseed] % 64;

			if (piece < n)
				n = piece;
		}
		while (k < n) {
			ev = sendmail_bs_feed(&s, (const char *)data + off + k, n - k, &used);
			CHECK(ev != -1 && used <= n - k);
			k += used;
			if (ev == SENDMAIL_BS_MESSAGE) {
				check_message(&s, trace);
				/* Every third message is refused, as a full disk would. */
				if (s.msg.len % 3 == 2)
					sendmail_bs_stored(&s, NULL, 452, "4.3.1", "full");
				else
					sendmail_bs_stored(&s, "ID", 0, NULL, NULL);
				CHECK(s.nrcpts == 0 && !s.in_tx);
			} else if (ev == SENDMAIL_BS_QUIT)
				break;
			else
				CHECK(k == n);
		}
		off += k;
	}
	/* Each reply line: three digits, ' ' or '-', text, CRLF. */
	for (size_t i = 0; i < s.out.len; ) {
		const char *l = s.out.data + i, *lf = memchr(l, '\n', s.out.len - i);

		CHECK(lf != NULL && lf - l >= 5 && lf[-1] == '\r');
		CHECK(l[0] >= '2' && l[0] <= '5' && (l[3] == ' ' || l[3] == '-'));
		i += (size_t)(lf - l) + 1;
	}
	buf_append(trace, "--\n", 3);
	buf_append(trace, s.out.data, s.out.len);
	sendmail_bs_clear(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, pieces = BUF_INIT;
	size_t nseed = size < 4 ? size : 4;

	run(data, size, NULL, 0, &whole);
	run(data, size, data, nseed, &pieces);
	CHECK(whole.len == pieces.len && memcmp(whole.data, pieces.data, whole.len) == 0);
	buf_release(&whole);
	buf_release(&pieces);
	return 0;
}
