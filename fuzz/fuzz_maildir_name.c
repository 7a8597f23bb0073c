/*
 * fuzz_maildir_name: Maildir file names. A name that parses has its
 * spans inside it and builds back; the built name parses to the same
 * fields and builds to itself (parse -> build -> parse), and equals the
 * input when the input's flags were already sorted and single. The input
 * is also a host name for a new base, which must parse as a base of its
 * own with the sizes it was given and no '/' or ':' from the host. Cut
 * in three, it checks that the arrival order is a total order (equal
 * only when equal, antisymmetric, transitive).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/maildir_name.h"

static int
inside(const char *p, size_t n, const char *base, size_t len)
{
	return n == 0 || (p >= base && p + n <= base + len);
}

static int
span_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* The flags as found are in ASCII order, each once. */
static int
canonical(const struct maildir_name *n)
{
	size_t i;

	for (i = 1; i < n->flag_text_len; i++) {
		if ((unsigned char)n->flag_text[i - 1] >= (unsigned char)n->flag_text[i])
			return 0;
	}
	return 1;
}

static void
names(const char *in, size_t size)
{
	struct maildir_name n, m;
	char out[MAILDIR_NAME_MAX + 1], again[MAILDIR_NAME_MAX + 1];
	size_t len, len2;

	if (maildir_name_parse(in, size, &n) != MAILDIR_NAME_OK)
		return;
	CHECK(size <= MAILDIR_NAME_MAX && n.base_len > 0);
	CHECK(n.base == in && n.base_len <= size);
	CHECK(memchr(n.base, ':', n.base_len) == NULL);
	CHECK(inside(n.flag_text, n.flag_text_len, in, size));
	CHECK(inside(n.tail, n.tail_len, in, size));
	CHECK(inside(n.raw, n.raw_len, in, size));
	CHECK(n.info == MAILDIR_INFO_2 || (n.flags == 0 && n.keywords == 0 &&
	    n.flag_text_len == 0 && n.tail_len == 0));
	CHECK((n.info == MAILDIR_INFO_NONE) == (n.base_len == size));

	len = maildir_name_build(&n, out, sizeof(out));
	CHECK(len > 0 && len <= size);
	CHECK(maildir_name_parse(out, len, &m) == MAILDIR_NAME_OK);
	CHECK(span_eq(m.base, m.base_len, n.base, n.base_len));
	CHECK(m.has_size == n.has_size && (!n.has_size || m.size == n.size));
	CHECK(m.has_vsize == n.has_vsize && (!n.has_vsize || m.vsize == n.vsize));
	CHECK(m.info == n.info && m.flags == n.flags && m.keywords == n.keywords);
	CHECK(span_eq(m.tail, m.tail_len, n.tail, n.tail_len));
	CHECK(span_eq(m.raw, m.raw_len, n.raw, n.raw_len));
	CHECK(canonical(&m));
	len2 = maildir_name_build(&m, again, sizeof(again));
	CHECK(len2 == len && memcmp(again, out, len) == 0);
	if (canonical(&n))
		CHECK(len == size && memcmp(out, in, size) == 0);
}

static void
new_base(const uint8_t *data, size_t size)
{
	struct maildir_uniq u;
	struct maildir_name n;
	char out[MAILDIR_NAME_MAX + 1];
	size_t len;
	uint64_t k = 0;

	memcpy(&k, data, size < sizeof(k) ? size : sizeof(k));
	u.secs = (int64_t)(k >> 1);
	u.usecs = (uint32_t)(k % 1000000);
	u.pid = k;
	u.with_seq = k & 1;
	u.seq = k >> 7;
	u.host = (const char *)data;
	u.host_len = size;
	u.with_size = k & 2;
	u.size = k * 3;
	u.with_vsize = k & 4;
	u.vsize = ~k;
	len = maildir_name_new_base(&u, out, sizeof(out));
	if (len == 0)
		return;
	CHECK(size > 0 && len == strlen(out));
	CHECK(maildir_name_parse(out, len, &n) == MAILDIR_NAME_OK);
	CHECK(n.info == MAILDIR_INFO_NONE && n.base_len == len);
	CHECK(n.has_size == u.with_size && (!u.with_size || n.size == u.size));
	CHECK(n.has_vsize == u.with_vsize && (!u.with_vsize || n.vsize == u.vsize));
	CHECK(memchr(out, '/', len) == NULL && memchr(out, ':', len) == NULL);
}

static int
sign(int x)
{
	return (x > 0) - (x < 0);
}

/* The input cut in three: the arrival order is a total order on them. */
static void
arrival(const char *in, size_t size)
{
	const char *a = in, *b = in + size / 3, *c = in + 2 * (size / 3);
	size_t al = size / 3, bl = size / 3, cl = size - 2 * (size / 3);
	int ab = sign(maildir_name_arrival_cmp(a, al, b, bl));
	int bc = sign(maildir_name_arrival_cmp(b, bl, c, cl));
	int ac = sign(maildir_name_arrival_cmp(a, al, c, cl));

	CHECK(maildir_name_arrival_cmp(a, al, a, al) == 0);
	CHECK(sign(maildir_name_arrival_cmp(b, bl, a, al)) == -ab);
	CHECK((ab == 0) == (al == bl && memcmp(a, b, al) == 0));
	if (ab <= 0 && bc <= 0)
		CHECK(ac <= 0);
	if (ab >= 0 && bc >= 0)
		CHECK(ac >= 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	names((const char *)data, size);
	new_base(data, size);
	arrival((const char *)data, size);
	return 0;
}
