/*
 * fuzz_rfc5322: the streaming header scanner, and the From address list.
 *
 * Bytes 0 and 1 pick two split points; the rest is the message. It is fed
 * whole, in up to three pieces at those points, one octet at a time, and
 * (when short) split in two at every position: every way must find the
 * same (end of header, field counts, the From value and whether it was too
 * long, the line state). When the header is done, end_off lies before pos
 * and points at the empty line (CR LF or a bare LF). Where the message
 * has no bare CR or LF, the scan must agree with the header split into
 * fields the way the DKIM signer splits it, each named by
 * rfc5322_field_name(): the same counts, the same From value. Last, the
 * From value's address list is walked to its end, and the whole input is
 * read as a Date: value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "proto/rfc5322.h"

/* Inputs up to this long are also split at every position. */
#define EVERY_SPLIT_MAX 256

static void
same(const struct hdr_scan *a, const struct hdr_scan *b)
{
	CHECK(a->received == b->received);
	CHECK(a->has_message_id == b->has_message_id);
	CHECK(a->has_date == b->has_date);
	CHECK(a->nfrom == b->nfrom);
	CHECK(a->from_len == b->from_len);
	CHECK(memcmp(a->from, b->from, a->from_len) == 0);
	CHECK(a->from_long == b->from_long);
	CHECK(a->done == b->done);
	CHECK(a->pos == b->pos);
	if (a->done)
		CHECK(a->end_off == b->end_off);
	CHECK(hdr_scan_at_line_start(a) == hdr_scan_at_line_start(b));
	CHECK(hdr_scan_cr_pending(a) == hdr_scan_cr_pending(b));
}

static void
feed_checked(struct hdr_scan *h, const char *p, size_t n)
{
	hdr_scan_feed(h, p, n);
	CHECK(h->end_off <= h->pos);
	CHECK(h->from_len <= RFC5322_FROM_MAX && h->from[h->from_len] == '\0');
	if (hdr_scan_cr_pending(h))
		CHECK(n == 0 || p[n - 1] == '\r');
}

static bool
no_bare_eol(const char *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n'))
			return false;
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			return false;
	}
	return true;
}

static bool
named(const char *f, size_t nl, const char *name)
{
	return nl == strlen(name) && strncasecmp(f, name, nl) == 0;
}

/* The reference: fields as the signer splits them, named by the shared
 * definition; the first From's value unfolded. */
static void
reference(const char *m, size_t n, const struct hdr_scan *h)
{
	size_t i = 0, start, colon, nl, received = 0;
	unsigned nfrom = 0;
	bool date = false, mid = false;
	char *from = NULL;
	size_t from_len = 0;

	while (i < n) {
		if (n - i >= 2 && m[i] == '\r' && m[i + 1] == '\n')
			break;
		start = i;
		for (;;) {
			while (i < n && !(m[i] == '\r' && i + 1 < n && m[i + 1] == '\n'))
				i++;
			if (i + 2 < n && (m[i + 2] == ' ' || m[i + 2] == '\t')) {
				i += 2;
				continue;
			}
			break;
		}
		nl = rfc5322_field_name(m + start, i - start, &colon);
		if (nl)
			CHECK(colon >= nl && m[start + colon] == ':');
		if (named(m + start, nl, "received"))
			received++;
		else if (named(m + start, nl, "date"))
			date = true;
		else if (named(m + start, nl, "message-id"))
			mid = true;
		else if (named(m + start, nl, "from") && nfrom++ == 0) {
			size_t k;

			from = malloc(i - start + 1);
			CHECK(from != NULL);
			for (k = start + colon + 1; k < i; k++) {
				if (m[k] == '\r' && k + 1 < i && m[k + 1] == '\n') {
					k++;   /* unfolding: CR LF goes, the WSP stays */
					continue;
				}
				from[from_len++] = m[k] == '\t' ? ' ' : m[k];
			}
		}
		i = i < n ? i + 2 : n;
	}
	CHECK(h->received == received);
	CHECK(h->has_date == date);
	CHECK(h->has_message_id == mid);
	CHECK(h->nfrom == nfrom);
	if (nfrom) {
		CHECK(h->from_long == (from_len > RFC5322_FROM_MAX));
		CHECK(h->from_len == (h->from_long ? RFC5322_FROM_MAX : from_len));
		CHECK(memcmp(h->from, from, h->from_len) == 0);
	}
	free(from);
}

static void
addresses(const struct hdr_scan *h, size_t outsize)
{
	char out[300];
	size_t pos = 0, last = 0, n = 0;
	enum rfc5322_addr r;

	while ((r = rfc5322_next_address(h->from, h->from_len, &pos, out,
	    outsize)) == RFC5322_ADDR_OK) {
		CHECK(strlen(out) < outsize);
		CHECK(pos > last && pos <= h->from_len);
		last = pos;
		CHECK(++n <= h->from_len);
	}
	CHECK(pos == h->from_len);
	CHECK(rfc5322_next_address(h->from, h->from_len, &pos, out, outsize) ==
	    RFC5322_ADDR_END);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_scan whole, three, bytes, two;
	const char *m;
	size_t n, cut1, cut2, i;

	if (size < 2)
		return 0;
	m = (const char *)data + 2;
	n = size - 2;
	{
		/* The whole input as a Date: value: a date or not, never more
		 * than the input read. */
		int64_t t;

		if (rfc5322_date_parse(m, n, &t))
			CHECK(t > -62135596800LL * 2 && t < 253402300800LL + 86400);
	}
	cut1 = n ? data[0] % (n + 1) : 0;
	cut2 = n ? data[1] % (n + 1) : 0;
	if (cut2 < cut1) {
		size_t t = cut1;

		cut1 = cut2;
		cut2 = t;
	}

	hdr_scan_init(&whole);
	feed_checked(&whole, m, n);
	CHECK(whole.pos == n);
	if (whole.done) {
		CHECK(whole.end_off < whole.pos);
		CHECK(m[whole.end_off] == '\r' || m[whole.end_off] == '\n');
		/* at the start of a line */
		CHECK(whole.end_off == 0 || m[whole.end_off - 1] == '\n');
		CHECK(!hdr_scan_cr_pending(&whole));
		/* no more fields than lines before it */
		{
			size_t lines = 0;

			for (i = 0; i < whole.end_off; i++)
				lines += m[i] == '\n';
			CHECK(whole.received + whole.nfrom <= lines);
		}
	}

	hdr_scan_init(&three);
	feed_checked(&three, m, cut1);
	feed_checked(&three, m + cut1, cut2 - cut1);
	feed_checked(&three, m + cut2, n - cut2);
	same(&whole, &three);

	hdr_scan_init(&bytes);
	for (i = 0; i < n; i++)
		feed_checked(&bytes, m + i, 1);
	same(&whole, &bytes);

	if (n <= EVERY_SPLIT_MAX) {
		for (i = 0; i <= n; i++) {
			hdr_scan_init(&two);
			feed_checked(&two, m, i);
			feed_checked(&two, m + i, n - i);
			same(&whole, &two);
		}
	}

	if (no_bare_eol(m, n))
		reference(m, n, &whole);

	addresses(&whole, 257);
	addresses(&whole, 8);
	return 0;
}
