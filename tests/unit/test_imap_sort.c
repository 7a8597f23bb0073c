/*
 * test_imap_sort: RFC 5256 base subjects, the SORT program and SORT
 * itself (ties by sequence number, REVERSE, Unicode folding of
 * subjects), THREAD=ORDEREDSUBJECT and THREAD=REFERENCES: chains,
 * siblings, missing parents (dummies kept or pruned), grouping by
 * subject, cycles in References, duplicate Message-IDs, In-Reply-To.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_sort.h"

static void
test_base_subject(void **state)
{
	static const struct {
		const char *in, *want;
		bool reply;
	} t[] = {
		{ "Hello", "hello", false },
		{ "Re: Hello", "hello", true },
		{ "RE: re: Fwd: hello", "hello", true },
		{ "Fw: hello", "hello", true },
		{ "Re[2]: hello", "hello", true },
		{ "re  : hello", "hello", true },
		{ "[list] Re: hello", "hello", true },
		{ "[list] hello", "hello", false },
		{ "[a][b] Re: [c] hello", "hello", true },
		{ "[blob]", "[blob]", false },            /* nothing left: kept */
		{ "Hello (fwd)", "hello", true },
		{ "Hello (FWD) (fwd)  ", "hello", true },
		{ "[Fwd: Re: hello]", "hello", true },
		{ "[fwd: [fwd: hello (fwd)]]", "hello", true },
		{ "  hello \t\r\n  world  ", "hello world", false },
		{ "Re:", "", true },
		{ "", "", false },
		{ "Reply", "reply", false },
		{ "Ré: Grüße", "ré: grüsse", false },   /* not a Re: */
		{ "Re: GRÜSSE", "grüsse", true },
		{ "Re: Straße", "strasse", true },
		{ "[unclosed hello", "[unclosed hello", false },
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool reply = !t[i].reply;
		char *b = imap_base_subject(t[i].in, strlen(t[i].in), &len, &reply);

		assert_non_null(b);
		if (len != strlen(t[i].want) || memcmp(b, t[i].want, len) != 0 ||
		    reply != t[i].reply)
			fail_msg("%zu \"%s\": \"%.*s\" reply %d", i, t[i].in, (int)len, b, reply);
		free(b);
	}
}

static size_t
tokenize(const char *s, struct imap_tok *t, size_t max)
{
	size_t n = 0;

	while (*s != '\0' && n < max) {
		if (*s == ' ')
			s++;
		else if (*s == '(' || *s == ')') {
			t[n++] = (struct imap_tok){ *s == '(' ? IMAP_TOK_LPAREN : IMAP_TOK_RPAREN, s, 1 };
			s++;
		} else {
			size_t l = strcspn(s, " ()");

			t[n++] = (struct imap_tok){ IMAP_TOK_ATOM, s, l };
			s += l;
		}
	}
	return n;
}

static void
test_sort_parse(void **state)
{
	static const struct {
		const char *in;
		int n;
		size_t at;   /* consumed, or the token at fault */
	} t[] = {
		{ "(DATE)", 1, 3 },
		{ "(REVERSE arrival cc SUBJECT) UTF-8 ALL", 3, 6 },
		{ "(DISPLAYFROM DISPLAYTO FROM TO SIZE)", 5, 7 },
		{ "()", -1, 1 },
		{ "(REVERSE)", -1, 2 },
		{ "(REVERSE REVERSE DATE)", -1, 2 },
		{ "(BOGUS)", -1, 1 },
		{ "DATE", -1, 0 },
		{ "(DATE", -1, 2 },
		{ "(DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		  "DATE DATE DATE DATE DATE)", -1, 17 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_tok toks[32];
		struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT];
		size_t n = tokenize(t[i].in, toks, 32), consumed = 99, bad = 99;
		int r = imap_sort_parse(toks, n, crit, &consumed, &bad);

		if (r != t[i].n || (r >= 0 ? consumed : bad) != t[i].at)
			fail_msg("%zu \"%s\": %d at %zu/%zu", i, t[i].in, r, consumed, bad);
	}
	{
		struct imap_tok toks[8];
		struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT];
		size_t c, b;

		assert_int_equal(imap_sort_parse(toks, tokenize("(REVERSE SIZE DATE)", toks, 8),
		    crit, &c, &b), 2);
		assert_int_equal(crit[0].key, IMAP_SORT_SIZE);
		assert_true(crit[0].reverse);
		assert_int_equal(crit[1].key, IMAP_SORT_DATE);
		assert_false(crit[1].reverse);
	}
}

#define S(x) x, sizeof(x) - 1

static const struct imap_msgdesc sortme[] = {
	{ .id = 1, .arrival = 50, .date = 300, .size = 10, .subject = S("Re: beta"),
	  .from = S("zed@x"), .display_from = S("Ärger") },
	{ .id = 2, .arrival = 40, .date = 100, .size = 30, .subject = S("ALPHA"),
	  .from = S("Amy@x"), .display_from = S("bob") },
	{ .id = 3, .arrival = 30, .date = 100, .size = 20, .subject = S("Beta"),
	  .from = S("amy@x"), .display_from = S("ärger") },
	{ .id = 4, .arrival = 20, .date = 200, .size = 10 },
};

static void
test_sort(void **state)
{
	static const struct {
		const char *prog, *want;
	} t[] = {
		{ "(ARRIVAL)", "4 3 2 1" },
		{ "(REVERSE ARRIVAL)", "1 2 3 4" },
		{ "(DATE)", "2 3 4 1" },                  /* 2 and 3 tie: by seq */
		{ "(REVERSE DATE)", "1 4 2 3" },
		{ "(SIZE)", "1 4 3 2" },
		{ "(SIZE REVERSE DATE)", "1 4 3 2" },
		{ "(SUBJECT)", "4 2 1 3" },               /* "" alpha beta beta */
		{ "(SUBJECT REVERSE DATE)", "4 2 1 3" },
		{ "(SUBJECT DATE)", "4 2 3 1" },
		{ "(FROM)", "4 2 3 1" },                  /* ascii-casemap: Amy = amy */
		{ "(DISPLAYFROM)", "4 2 1 3" },           /* "" bob ärger ärger */
		{ "(TO CC)", "1 2 3 4" },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_tok toks[16];
		struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT];
		size_t c, b, order[4], len = 0;
		int n = imap_sort_parse(toks, tokenize(t[i].prog, toks, 16), crit, &c, &b);
		char got[32];

		assert_true(n > 0);
		assert_int_equal(imap_sort(sortme, 4, crit, (size_t)n, order), 0);
		for (j = 0; j < 4; j++)
			len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%u",
			    j ? " " : "", sortme[order[j]].id);
		if (strcmp(got, t[i].want) != 0)
			fail_msg("%zu %s: %s, want %s", i, t[i].prog, got, t[i].want);
	}
}

/* A mailbox for THREAD: id = index + 1, dates in order unless given. */
struct tm_msg {
	const char *subject, *mid, *refs, *irt;
	int64_t date;
};

static void
check_thread(const char *name, const struct tm_msg *m, size_t n,
    enum imap_thread_alg alg, const char *want)
{
	struct imap_msgdesc d[16];
	struct buf out = BUF_INIT;
	size_t i;

	assert_true(n <= 16);
	memset(d, 0, sizeof(d));
	for (i = 0; i < n; i++) {
		d[i].id = (uint32_t)i + 1;
		d[i].date = m[i].date ? m[i].date : (int64_t)i * 10;
		d[i].subject = m[i].subject;
		d[i].subject_len = m[i].subject ? strlen(m[i].subject) : 0;
		d[i].message_id = m[i].mid;
		d[i].message_id_len = m[i].mid ? strlen(m[i].mid) : 0;
		d[i].references = m[i].refs;
		d[i].references_len = m[i].refs ? strlen(m[i].refs) : 0;
		d[i].in_reply_to = m[i].irt;
		d[i].in_reply_to_len = m[i].irt ? strlen(m[i].irt) : 0;
	}
	assert_int_equal(imap_thread(d, n, alg, &out), 0);
	if (strcmp(buf_cstr(&out), want) != 0)
		fail_msg("%s: %s, want %s", name, buf_cstr(&out), want);
	buf_release(&out);
}

static void
test_references(void **state)
{
	(void)state;
	{
		const struct tm_msg m[] = {
			{ "a", "<1@x>", NULL, NULL, 0 },
			{ "Re: a", "<2@x>", "<1@x>", NULL, 0 },
			{ "Re: a", "<3@x>", "<1@x> <2@x>", NULL, 0 },
		};
		check_thread("chain", m, 3, IMAP_THREAD_REFERENCES, "(1 2 3)");
	}
	{
		const struct tm_msg m[] = {
			{ "a", "<1@x>", NULL, NULL, 0 },
			{ "b", "<2@x>", "<1@x>", NULL, 0 },
			{ "c", "<3@x>", NULL, "<1@x> <9@x>", 0 },
		};
		check_thread("siblings, In-Reply-To", m, 3, IMAP_THREAD_REFERENCES, "(1 (2)(3))");
	}
	{
		/* the parent is not in the mailbox: a dummy root with two
		 * children stays, with one child it goes */
		const struct tm_msg m[] = {
			{ "x", "<2@x>", "<1@x>", NULL, 0 },
			{ "y", "<3@x>", "<1@x>", NULL, 0 },
			{ "z", "<4@x>", "<8@x> <9@x>", NULL, 0 },
		};
		check_thread("missing parents", m, 3, IMAP_THREAD_REFERENCES, "((1)(2))(3)");
	}
	{
		/* a dummy in the middle is spliced out */
		const struct tm_msg m[] = {
			{ "x", "<1@x>", NULL, NULL, 0 },
			{ "y", "<3@x>", "<1@x> <2@x>", NULL, 0 },
			{ "z", "<4@x>", "<1@x> <2@x>", NULL, 0 },
		};
		check_thread("dummy in between", m, 3, IMAP_THREAD_REFERENCES, "(1 (2)(3))");
	}
	{
		/* References that loop */
		const struct tm_msg m[] = {
			{ "p", "<1@x>", "<2@x>", NULL, 0 },
			{ "q", "<2@x>", "<1@x>", NULL, 0 },
			{ "r", "<3@x>", "<3@x> <1@x> <3@x>", NULL, 0 },
		};
		check_thread("cycle", m, 3, IMAP_THREAD_REFERENCES, "(2 1 3)");
	}
	{
		/* the second <1@x> is a message of its own */
		const struct tm_msg m[] = {
			{ "p", "<1@x>", NULL, NULL, 0 },
			{ "q", "<1@x>", NULL, NULL, 0 },
			{ "r", "<3@x>", "<1@x>", NULL, 0 },
		};
		check_thread("duplicate ids", m, 3, IMAP_THREAD_REFERENCES, "(1 3)(2)");
	}
	{
		/* grouped by subject: a reply under the original, two
		 * originals under a dummy, dates order the roots */
		const struct tm_msg m[] = {
			{ "Re: hello", "<1@x>", NULL, NULL, 50 },
			{ "hello", "<2@x>", NULL, NULL, 40 },
			{ "other", "<3@x>", NULL, NULL, 10 },
			{ "Other", "<4@x>", NULL, NULL, 20 },
			{ NULL, NULL, NULL, NULL, 5 },
			{ "", NULL, NULL, NULL, 6 },
		};
		check_thread("subjects", m, 6, IMAP_THREAD_REFERENCES,
		    "(5)(6)((3)(4))(2 1)");
	}
	{
		/* no Message-ID at all, and a reply to a message we have by
		 * both References and In-Reply-To */
		const struct tm_msg m[] = {
			{ "a", NULL, NULL, NULL, 0 },
			{ "b", "<2@x>", NULL, NULL, 0 },
			{ "c", "<3@x>", "<2@x>", "<1@x>", 0 },
		};
		check_thread("no ids", m, 3, IMAP_THREAD_REFERENCES, "(1)(2 3)");
	}
	check_thread("empty", NULL, 0, IMAP_THREAD_REFERENCES, "");
}

/* A chain of replies 20,000 deep, threaded on a thread with a 512 KiB
 * stack: the recursive steps must not go as deep as the chain. */
#define CHAIN 20000

struct chain_job {
	struct imap_msgdesc *d;
	struct buf out;
	int rc;
};

static void *
chain_thread(void *arg)
{
	struct chain_job *j = arg;

	j->rc = imap_thread(j->d, CHAIN, IMAP_THREAD_REFERENCES, &j->out);
	return NULL;
}

static void
test_deep_chain(void **state)
{
	static char ids[CHAIN][24];
	struct chain_job j = { 0 };
	pthread_attr_t attr;
	pthread_t th;
	size_t i, count = 0;
	const char *p;

	(void)state;
	assert_non_null(j.d = calloc(CHAIN, sizeof(*j.d)));
	for (i = 0; i < CHAIN; i++) {
		snprintf(ids[i], sizeof(ids[i]), "<%zu@x>", i);
		j.d[i].id = (uint32_t)i + 1;
		j.d[i].date = (int64_t)i;
		j.d[i].subject = i ? "Re: deep" : "deep";
		j.d[i].subject_len = strlen(j.d[i].subject);
		j.d[i].message_id = ids[i];
		j.d[i].message_id_len = strlen(ids[i]);
		if (i) {
			j.d[i].in_reply_to = ids[i - 1];
			j.d[i].in_reply_to_len = strlen(ids[i - 1]);
		}
	}
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, 512 * 1024), 0);
	assert_int_equal(pthread_create(&th, &attr, chain_thread, &j), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(j.rc, 0);
	/* every message once */
	for (p = buf_cstr(&j.out); *p; p++)
		if (*p >= '0' && *p <= '9' && (p == buf_cstr(&j.out) || p[-1] < '0' || p[-1] > '9'))
			count++;
	assert_int_equal(count, CHAIN);
	/* cut into threads of 1,000, grouped again by their subject */
	assert_true(strncmp(buf_cstr(&j.out), "(1 (2 3 4 ", 10) == 0);
	pthread_attr_destroy(&attr);
	buf_release(&j.out);
	free(j.d);
}

static void
test_orderedsubject(void **state)
{
	/* RFC 5256 §2.1's rule: base subject, then date; the first of a
	 * subject is the parent of the rest; threads by their first date */
	const struct tm_msg m[] = {
		{ "b", NULL, NULL, NULL, 30 },
		{ "Re: a", NULL, NULL, NULL, 20 },
		{ "A", NULL, NULL, NULL, 10 },
		{ "re: b", NULL, NULL, NULL, 40 },
		{ "[fwd: a]", NULL, NULL, NULL, 50 },
		{ "c", NULL, NULL, NULL, 5 },
		{ "b", NULL, NULL, NULL, 35 },
	};
	enum imap_thread_alg alg;

	(void)state;
	check_thread("orderedsubject", m, 7, IMAP_THREAD_ORDEREDSUBJECT,
	    "(6)(3 (2)(5))(1 (7)(4))");
	check_thread("orderedsubject one", m, 2, IMAP_THREAD_ORDEREDSUBJECT, "(2)(1)");
	check_thread("orderedsubject pair", m + 1, 2, IMAP_THREAD_ORDEREDSUBJECT, "(2 1)");
	assert_true(imap_thread_alg_parse("references", 10, &alg));
	assert_int_equal(alg, IMAP_THREAD_REFERENCES);
	assert_true(imap_thread_alg_parse("OrderedSubject", 14, &alg));
	assert_int_equal(alg, IMAP_THREAD_ORDEREDSUBJECT);
	assert_false(imap_thread_alg_parse("REFS", 4, &alg));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_sort_parse),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_deep_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
