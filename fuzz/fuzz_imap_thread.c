/*
 * fuzz_imap_thread: THREAD and SORT on message sets drawn from the
 * input. Each message takes a few octets: its Message-ID, References and
 * In-Reply-To from a pool of eight ids (so that duplicates, cycles and
 * missing parents are common), a subject from a small pool or the
 * input's own bytes, a date. Both algorithms must list every message
 * exactly once with balanced parentheses; SORT must give a permutation
 * (its order is left to the unit test); the base subject of the raw
 * input is taken too, for the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/imap_sort.h"

#define MAXMSG 64

static const char *const ids[8] = {
	"<a@x>", "<b@x>", "<c@x>", "<d@x>", "<e@x>", "<f@x>", "<g@x>", "<h@x>",
};
static const char *const subjects[8] = {
	"hello", "Re: hello", "[list] Re: Hello (fwd)", "[fwd: hello]",
	"other", "", "Re:", "Fwd: other",
};

static void
check_output(const struct buf *b, size_t n)
{
	unsigned char seen[MAXMSG + 1] = { 0 };
	const char *s = buf_cstr(b);
	size_t i = 0, depth = 0;

	while (s[i] != '\0') {
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')') {
			CHECK(depth > 0);
			depth--;
		} else if (s[i] >= '1' && s[i] <= '9') {
			unsigned long v = strtoul(s + i, NULL, 10);

			CHECK(v >= 1 && v <= n && !seen[v]);
			seen[v] = 1;
			while (s[i + 1] >= '0' && s[i + 1] <= '9')
				i++;
		} else
			CHECK(s[i] == ' ' && depth > 0);
		i++;
	}
	CHECK(depth == 0);
	for (i = 1; i <= n; i++)
		CHECK(seen[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_sort_crit crit[] = {
		{ IMAP_SORT_SUBJECT, false }, { IMAP_SORT_DATE, true },
		{ IMAP_SORT_DISPLAYFROM, false },
	};
	struct imap_msgdesc m[MAXMSG];
	char refs[MAXMSG][48];
	size_t n = 0, i, order[MAXMSG], blen;
	struct buf out = BUF_INIT;
	char *base;

	memset(m, 0, sizeof(m));
	for (i = 0; i + 4 <= size && n < MAXMSG; i += 4, n++) {
		uint8_t a = data[i], b = data[i + 1], c = data[i + 2];
		size_t r, len = 0;

		m[n].id = (uint32_t)n + 1;
		m[n].date = data[i + 3] & 0x0f;
		m[n].arrival = data[i + 3] >> 4;
		if (a & 0x80) {
			m[n].message_id = ids[a & 7];
			m[n].message_id_len = strlen(ids[a & 7]);
		}
		if (a & 0x40) {
			m[n].in_reply_to = ids[(a >> 3) & 7];
			m[n].in_reply_to_len = strlen(m[n].in_reply_to);
		}
		/* up to four references, b's bits in pairs of picks */
		for (r = 0; r < (size_t)(c & 3) + ((c >> 2) & 1); r++) {
			const char *id = ids[(b >> (r * 2)) & 7];

			memcpy(refs[n] + len, id, strlen(id));
			len += strlen(id);
			refs[n][len++] = ' ';
		}
		m[n].references = refs[n];
		m[n].references_len = len;
		m[n].subject = subjects[(c >> 3) & 7];
		m[n].subject_len = strlen(m[n].subject);
		m[n].display_from = (const char *)data + i;   /* any bytes */
		m[n].display_from_len = c >> 6;
	}
	CHECK(imap_thread(m, n, IMAP_THREAD_REFERENCES, &out) == 0);
	check_output(&out, n);
	buf_reset(&out);
	CHECK(imap_thread(m, n, IMAP_THREAD_ORDEREDSUBJECT, &out) == 0);
	check_output(&out, n);
	buf_release(&out);

	CHECK(imap_sort(m, n, crit, 3, order) == 0);
	{
		unsigned char seen[MAXMSG] = { 0 };

		for (i = 0; i < n; i++) {
			CHECK(order[i] < n && !seen[order[i]]);
			seen[order[i]] = 1;
		}
	}
	base = imap_base_subject((const char *)data, size, &blen, NULL);
	CHECK(base != NULL);
	free(base);
	return 0;
}
