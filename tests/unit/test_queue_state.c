/*
 * test_queue_state: the state file state/<id> (docs/queue.md). A table of
 * files, as tern writes them and as a crash or a hand may leave them, each
 * with what it must read as: the recipients' outcomes, the schedule, the
 * delay warning, the version. The reader keeps what the sscanf reader of
 * earlier versions accepted (blanks optional, "t"/"w" take trailing
 * junk), so those cases are here too. Then the encoder's exact bytes, and
 * encoding then decoding gives the same state back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_state.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NRCPTS 4

struct dcase {
	const char *name;
	const char *data;
	size_t len;             /* 0: strlen(data) */
	int rc;
	unsigned version;
	const char *states;     /* per recipient: P pending, D delivered, F failed */
	long long next_try;
	unsigned attempts;
	bool warned;
};

static const struct dcase dcases[] = {
	{ "empty", "", 0, 0, 1, "PPPP", 0, 0, false },
	{ "version 2", "tern-state 2\nd 0\nf 2\nt 1764057992 3\n", 0, 0, 2,
	  "DPFP", 1764057992, 3, false },
	{ "version 1, no version line", "d 1\nt 100 1\n", 0, 0, 1,
	  "PDPP", 100, 1, false },
	{ "delay warning", "tern-state 2\nt 5 1\nw 1764000000\n", 0, 0, 2,
	  "PPPP", 5, 1, true },
	{ "appended attempts", "tern-state 2\nd 3\nt 5 1\nf 0\nt 9 2\n", 0, 0, 2,
	  "FPPD", 9, 2, false },
	{ "torn last line", "d 0\nd 1", 0, 0, 1, "DPPP", 0, 0, false },
	{ "torn number", "d 0\nt 100 2\nd 2", 0, 0, 1, "DPPP", 100, 2, false },
	{ "index past the recipients", "d 12\nd 4\n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "negative index wraps", "d -1\nf -3\n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "later version", "tern-state 3\nd 0\n", 0, -1, 3, "DPPP", 0, 0, false },
	{ "later version, junk after it", "tern-state 3x\n", 0, -1, 3,
	  "PPPP", 0, 0, false },
	{ "version 2, blank after it", "tern-state 2 \nd 1\n", 0, 0, 2,
	  "PDPP", 0, 0, false },
	{ "version line not first", "d 0\ntern-state 3\n", 0, 0, 1,
	  "DPPP", 0, 0, false },
	{ "version 1 said", "tern-state 1\nd 2\n", 0, 0, 1, "PPDP", 0, 0, false },
	{ "line too long stops", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nd 0\n",
	  0, 0, 1, "PPPP", 0, 0, false },
	{ "127 octets is a line", "d                                                  "
	  "                                                                          1\n",
	  0, 0, 1, "PDPP", 0, 0, false },
	{ "128 octets is torn", "d                                                   "
	  "                                                                          1\nd 2\n",
	  0, 0, 1, "PPPP", 0, 0, false },
	{ "NUL stops", "d 0\nd 1\0\nd 2\n", 13, 0, 1, "DPPP", 0, 0, false },
	{ "last t wins", "t 5 6\nt 7 8\n", 0, 0, 1, "PPPP", 7, 8, false },
	{ "blanks optional", "d0\nf\t1\nt7 8\n", 0, 0, 1, "DFPP", 7, 8, false },
	{ "blank after index", "d 1 \n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "junk after index", "d 1x\n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "t without attempts", "t 5\n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "t takes trailing junk", "t 5 6 junk\n", 0, 0, 1, "PPPP", 5, 6, false },
	{ "negative t", "t -5 1\n", 0, 0, 1, "PPPP", -5, 1, false },
	{ "w without a time", "w x\n", 0, 0, 1, "PPPP", 0, 0, false },
	{ "w takes trailing junk", "w 5junk\n", 0, 0, 1, "PPPP", 0, 0, true },
	{ "unknown lines skipped", "q 1\n\nd 2\n", 0, 0, 1, "PPDP", 0, 0, false },
	{ "signed index", "d +2\n", 0, 0, 1, "PPDP", 0, 0, false },
	{ "later record overrides", "d 1\nf 1\n", 0, 0, 1, "PFPP", 0, 0, false },
};

static void
make_env(struct envelope *env)
{
	size_t i;

	memset(env, 0, sizeof(*env));
	for (i = 0; i < NRCPTS; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "r%zu@example.org", i);
		assert_int_equal(envelope_add_rcpt(env, addr, addr, "", 0, true), 0);
	}
}

static char
state_char(enum rcpt_state s)
{
	return s == RCPT_DELIVERED ? 'D' : s == RCPT_FAILED ? 'F' : 'P';
}

static void
test_decode_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < NELEM(dcases); i++) {
		const struct dcase *c = &dcases[i];
		size_t len = c->len ? c->len : strlen(c->data);
		struct envelope env;
		struct queue_state st;
		char got[NRCPTS + 1];
		int rc;

		make_env(&env);
		rc = queue_state_decode(c->data, len, &env, &st);
		for (k = 0; k < NRCPTS; k++)
			got[k] = state_char(env.rcpts[k].state);
		got[NRCPTS] = '\0';
		if (rc != c->rc || st.version != c->version ||
		    strcmp(got, c->states) != 0 || st.next_try != c->next_try ||
		    st.attempts != c->attempts || st.warned != c->warned)
			fail_msg("%s: rc %d version %u states %s t %lld %u w %d",
			    c->name, rc, st.version, got, (long long)st.next_try,
			    st.attempts, st.warned);
		envelope_clear(&env);
	}
}

static void
set_states(struct envelope *env, const char *states)
{
	size_t k;

	for (k = 0; k < NRCPTS; k++)
		env->rcpts[k].state = states[k] == 'D' ? RCPT_DELIVERED :
		    states[k] == 'F' ? RCPT_FAILED : RCPT_PENDING;
}

static void
test_encode(void **state)
{
	struct envelope env;
	struct buf out = BUF_INIT;
	bool tried[NRCPTS] = { true, true, true, false };
	struct queue_state_update u = { .new_file = true, .env = &env,
	    .tried = tried, .next_try = 200, .attempts = 2, .warned = true,
	    .now = 150 };

	(void)state;
	make_env(&env);
	/* recipient 3 was delivered by an earlier attempt: not written again */
	set_states(&env, "DFPD");
	assert_int_equal(queue_state_encode(&u, &out), 0);
	assert_string_equal(buf_cstr(&out),
	    "tern-state 2\nd 0\nf 1\nt 200 2\nw 150\n");

	/* appended to an existing file, nothing finished, no warning */
	buf_reset(&out);
	u.new_file = false;
	u.warned = false;
	set_states(&env, "PPPD");
	assert_int_equal(queue_state_encode(&u, &out), 0);
	assert_string_equal(buf_cstr(&out), "t 200 2\n");

	buf_release(&out);
	envelope_clear(&env);
}

static void
test_round_trip(void **state)
{
	static const char *const table[] = { "PPPP", "DPFP", "FFFF", "DDDD", "PDFD" };
	bool tried[NRCPTS] = { true, true, true, true };
	size_t i, k;

	(void)state;
	for (i = 0; i < NELEM(table); i++) {
		struct envelope a, b;
		struct buf out = BUF_INIT;
		struct queue_state st;
		struct queue_state_update u = { .new_file = true, .env = &a,
		    .tried = tried, .next_try = -1 - (int64_t)i * 1000000007,
		    .attempts = 4294967295u - (unsigned)i, .warned = i % 2,
		    .now = 1764057992 };

		make_env(&a);
		make_env(&b);
		set_states(&a, table[i]);
		assert_int_equal(queue_state_encode(&u, &out), 0);
		assert_int_equal(queue_state_decode(out.data, out.len, &b, &st), 0);
		assert_int_equal(st.version, QUEUE_STATE_VERSION);
		assert_true(st.next_try == u.next_try);
		assert_int_equal(st.attempts, u.attempts);
		assert_int_equal(st.warned, u.warned);
		for (k = 0; k < NRCPTS; k++)
			assert_int_equal(a.rcpts[k].state, b.rcpts[k].state);
		buf_release(&out);
		envelope_clear(&a);
		envelope_clear(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
