/*
 * test_imap_mutf7: IMAP modified UTF-7 mailbox names (RFC 3501 §5.1.3).
 * Table driven: pairs that must convert both ways, wire names decode must
 * refuse, UTF-8 encode must refuse, and output buffers one octet short.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/imap_mutf7.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct pair {
	const char *wire;  /* mUTF-7 */
	const char *utf8;
};

static const struct pair pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "INBOX/Sent Items", "INBOX/Sent Items" },
	/* RFC 3501 §5.1.3's example */
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "&-", "&" },
	{ "a&-b", "a&b" },
	{ "&-&-", "&&" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },              /* Thunderbird, German */
	{ "Gel&APY-schte Elemente", "Gel\xc3\xb6schte Elemente" },
	{ "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-",            /* Russian "Sent" */
	  "\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5"
	  "\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5" },
	{ "&AOkA6QDp-", "\xc3\xa9\xc3\xa9\xc3\xa9" },
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },                 /* a surrogate pair */
	{ "&APHYPd4AAPE-", "\xc3\xb1\xf0\x9f\x98\x80\xc3\xb1" },
	{ "&AAE-", "\x01" },                                /* controls are encoded */
	{ "&AOk-&-", "\xc3\xa9&" },
	{ "&AOk- &AOk-", "\xc3\xa9 \xc3\xa9" },
};

/* Wire names decode refuses. */
static const char *const bad_wire[] = {
	"&",              /* unclosed */
	"&AOk",           /* unclosed run */
	"&AOk-&AOk-",     /* two runs back to back */
	"&AGE-",          /* "a" encoded */
	"&ACY-",          /* "&" encoded */
	"&AO-",           /* 12 bits: half a unit */
	"&AOl-",          /* padding bits set */
	"&AOkA-",         /* a whole base64 digit left over */
	"&2D0-",          /* a lone high surrogate */
	"&3gA-",          /* a lone low surrogate */
	"&2D3YPQ-",       /* high then high */
	"&AO/-",          /* '/' is not modified base64 */
	"&AO=-",
	"a\tb",           /* control characters stand for nothing */
	"caf\xc3\xa9",    /* 8-bit: that is UTF-8, not mUTF-7 */
	"\x7f",
};

/* UTF-8 encode refuses. */
static const char *const bad_utf8[] = {
	"\x80",
	"\xc3",
	"\xc0\x80",           /* overlong NUL */
	"\xc1\xbf",
	"\xe0\x80\xaf",       /* overlong */
	"\xed\xa0\x80",       /* a surrogate */
	"\xf4\x90\x80\x80",   /* past U+10FFFF */
	"\xf5\x80\x80\x80",
	"\xe6\x97",           /* cut short */
	"a\xc3(",
};

static void
test_pairs(void **state)
{
	char buf[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(pairs); i++) {
		const char *w = pairs[i].wire, *u = pairs[i].utf8;

		assert_int_equal(imap_mutf7_decode(w, strlen(w), buf, sizeof(buf), &n),
		    IMAP_MUTF7_OK);
		assert_int_equal(n, strlen(u));
		assert_memory_equal(buf, u, n);
		assert_int_equal(imap_mutf7_encode(u, strlen(u), buf, sizeof(buf), &n),
		    IMAP_MUTF7_OK);
		assert_int_equal(n, strlen(w));
		assert_memory_equal(buf, w, n);
	}
}

static void
test_bad(void **state)
{
	char buf[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(bad_wire); i++) {
		n = 99;
		assert_int_equal(imap_mutf7_decode(bad_wire[i], strlen(bad_wire[i]),
		    buf, sizeof(buf), &n), IMAP_MUTF7_E_SYNTAX);
		assert_int_equal(n, 0);
	}
	for (i = 0; i < NELEM(bad_utf8); i++)
		assert_int_equal(imap_mutf7_encode(bad_utf8[i], strlen(bad_utf8[i]),
		    buf, sizeof(buf), &n), IMAP_MUTF7_E_SYNTAX);
}

/* Exactly the room needed works; one octet less is E_SPACE, never a
 * write past outcap. */
static void
test_space(void **state)
{
	char buf[256];
	size_t i, n, need;

	(void)state;
	for (i = 0; i < NELEM(pairs); i++) {
		const char *w = pairs[i].wire, *u = pairs[i].utf8;

		need = strlen(u);
		if (need > 0) {
			memset(buf, 'Z', sizeof(buf));
			assert_int_equal(imap_mutf7_decode(w, strlen(w), buf, need - 1, &n),
			    IMAP_MUTF7_E_SPACE);
			assert_int_equal(buf[need - 1], 'Z');
		}
		assert_int_equal(imap_mutf7_decode(w, strlen(w), buf, need, &n),
		    IMAP_MUTF7_OK);
		assert_true(need <= IMAP_MUTF7_DECODED_MAX(strlen(w)));
		need = strlen(w);
		if (need > 0) {
			memset(buf, 'Z', sizeof(buf));
			assert_int_equal(imap_mutf7_encode(u, strlen(u), buf, need - 1, &n),
			    IMAP_MUTF7_E_SPACE);
			assert_int_equal(buf[need - 1], 'Z');
		}
		assert_int_equal(imap_mutf7_encode(u, strlen(u), buf, need, &n),
		    IMAP_MUTF7_OK);
		assert_true(need <= IMAP_MUTF7_ENCODED_MAX(strlen(u)));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
