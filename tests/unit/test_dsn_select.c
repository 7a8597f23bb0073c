/*
 * test_dsn_select: which notices an attempt owes (RFC 3461 §4.1 NOTIFY).
 * A table of one-recipient cases (its state after the attempt, NOTIFY,
 * local or relayed, whether the next hop took the DSN request over, the
 * message's age and whether a delay warning already went out, a bounce
 * or not) and the notice expected, then several recipients at once for
 * the order and the list of failures reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto/smtp_cmd.h"
#include "queue/dsn.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NOW 1764057992
#define POSTMASTER "postmaster@example.org"
#define NONE (-1)

#define S SMTP_NOTIFY_SUCCESS
#define F SMTP_NOTIFY_FAILURE
#define D SMTP_NOTIFY_DELAY
#define N SMTP_NOTIFY_NEVER

struct scase {
	const char *name;
	const char *sender;
	const char *addr, *orig;
	enum rcpt_state state;
	unsigned notify;
	bool local, tried, peer_dsn, warned;
	int delay_warning;
	int64_t age;
	int action;             /* enum dsn_action, or NONE */
	bool final_hop;         /* delivered by an LMTP server */
};

static const struct scase cases[] = {
	{ "failed, NOTIFY unset", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_FAILED, 0, false, true, false, false, 3600, 10, DSN_FAILED, false },
	{ "failed, NOTIFY=FAILURE", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_FAILED, F, false, true, false, false, 3600, 10, DSN_FAILED, false },
	{ "failed, NOTIFY=SUCCESS,DELAY", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_FAILED, S | D, false, true, false, false, 3600, 10, NONE, false },
	{ "failed, NOTIFY=NEVER", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_FAILED, N, false, true, false, false, 3600, 10, NONE, false },
	{ "failed earlier, not this attempt", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_FAILED, 0, false, false, false, false, 3600, 10, NONE, false },
	{ "delivered locally, SUCCESS", "a@b.example", "u@example.org", "u@example.org",
	  RCPT_DELIVERED, S, true, true, false, false, 3600, 10, DSN_DELIVERED, false },
	{ "relayed, SUCCESS", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_DELIVERED, S | F, false, true, false, false, 3600, 10, DSN_RELAYED, false },
	{ "relayed, the next hop reports", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_DELIVERED, S, false, true, true, false, 3600, 10, NONE, false },
	{ "delivered by an LMTP route, SUCCESS", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_DELIVERED, S, false, true, false, false, 3600, 10,
	  DSN_DELIVERED, true },
	{ "local, delivered over LMTP, SUCCESS", "a@b.example", "u@example.org",
	  "u@example.org", RCPT_DELIVERED, S, true, true, false, false, 3600, 10,
	  DSN_DELIVERED, true },
	{ "delivered by an LMTP route, NOTIFY=FAILURE", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_DELIVERED, F, false, true, false, false, 3600, 10,
	  NONE, true },
	{ "delivered, NOTIFY unset", "a@b.example", "u@example.org", "u@example.org",
	  RCPT_DELIVERED, 0, true, true, false, false, 3600, 10, NONE, false },
	{ "delivered, NOTIFY=FAILURE", "a@b.example", "u@example.org", "u@example.org",
	  RCPT_DELIVERED, F, true, true, false, false, 3600, 10, NONE, false },
	{ "pending past the warning time", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_PENDING, D, false, true, false, false, 3600, 5000,
	  DSN_DELAYED, false },
	{ "pending at the warning time", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_PENDING, D | F, false, true, false, false, 3600, 3600,
	  DSN_DELAYED, false },
	{ "pending before the warning time", "a@b.example", "r@example.net",
	  "r@example.net", RCPT_PENDING, D, false, true, false, false, 3600, 3599, NONE, false },
	{ "pending, warned before", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_PENDING, D, false, true, false, true, 3600, 5000, NONE, false },
	{ "pending, warnings off", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_PENDING, D, false, true, false, false, 0, 5000, NONE, false },
	{ "pending, NOTIFY unset", "a@b.example", "r@example.net", "r@example.net",
	  RCPT_PENDING, 0, false, true, false, false, 3600, 5000, NONE, false },
	{ "bounce failed: to the postmaster", "", "r@example.net", "r@example.net",
	  RCPT_FAILED, 0, false, true, false, false, 3600, 10, DSN_FAILED, false },
	{ "bounce to the postmaster failed", "", "Postmaster@Example.org",
	  "x@example.org", RCPT_FAILED, 0, true, true, false, false, 3600, 10, NONE, false },
	{ "bounce to an alias of the postmaster failed", "", "root@example.org",
	  POSTMASTER, RCPT_FAILED, 0, true, true, false, false, 3600, 10, NONE, false },
	{ "bounce delivered: no success notice", "", "u@example.org", "u@example.org",
	  RCPT_DELIVERED, S, true, true, false, false, 3600, 10, NONE, false },
	{ "bounce pending: no delay notice", "", "r@example.net", "r@example.net",
	  RCPT_PENDING, D, false, true, false, false, 3600, 5000, NONE, false },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		const struct scase *c = &cases[i];
		struct envelope env = { 0 };
		struct courier_result res = { 0 };
		struct bounce_item items[1];
		size_t failed[1], n;
		bool tried = c->tried;
		struct dsn_selection sel = { .items = items, .failed = failed };
		struct dsn_input in = { .env = &env, .tried = &tried, .res = &res,
		    .warned = c->warned, .postmaster = POSTMASTER,
		    .delay_warning = c->delay_warning, .now = NOW };

		env.arrival = NOW - c->age;
		assert_int_equal(envelope_set(&env.sender, c->sender), 0);
		assert_int_equal(envelope_add_rcpt(&env, c->addr, c->orig, "",
		    c->notify, c->local), 0);
		env.rcpts[0].state = c->state;
		res.peer_dsn = c->peer_dsn;
		res.final_hop = c->final_hop;
		n = dsn_select(&in, &sel);
		if (c->action == NONE) {
			if (n != 0)
				fail_msg("%s: a notice of kind %d", c->name, items[0].action);
		} else {
			if (n != 1 || (int)items[0].action != c->action)
				fail_msg("%s: %zu notices, kind %d", c->name, n,
				    n ? (int)items[0].action : NONE);
			assert_ptr_equal(items[0].rcpt, &env.rcpts[0]);
			assert_ptr_equal(items[0].res, &res);
		}
		assert_int_equal(sel.n, n);
		assert_int_equal(sel.nfailed, n && c->action == DSN_FAILED);
		assert_int_equal(sel.delay_warning, n && c->action == DSN_DELAYED);
		assert_string_equal(sel.to, c->sender[0] ? c->sender : POSTMASTER);
		envelope_clear(&env);
	}
}

/* Several recipients: items in recipient order, the failures listed by
 * index, the delay flag set by the one delayed recipient. */
static void
test_several(void **state)
{
	struct envelope env = { 0 };
	struct courier_result res[5] = { 0 };
	struct bounce_item items[5];
	size_t failed[5];
	bool tried[5] = { true, true, false, true, true };
	struct dsn_selection sel = { .items = items, .failed = failed };
	struct dsn_input in = { .env = &env, .tried = tried, .res = res,
	    .postmaster = POSTMASTER, .delay_warning = 60, .now = NOW };

	(void)state;
	env.arrival = NOW - 120;
	assert_int_equal(envelope_set(&env.sender, "a@b.example"), 0);
	assert_int_equal(envelope_add_rcpt(&env, "r0@x.example", "r0@x.example", "", 0, false), 0);
	assert_int_equal(envelope_add_rcpt(&env, "r1@x.example", "r1@x.example", "", D, false), 0);
	assert_int_equal(envelope_add_rcpt(&env, "r2@x.example", "r2@x.example", "", 0, false), 0);
	assert_int_equal(envelope_add_rcpt(&env, "u3@example.org", "u3@example.org", "", S, true), 0);
	assert_int_equal(envelope_add_rcpt(&env, "r4@x.example", "r4@x.example", "", F, false), 0);
	env.rcpts[0].state = RCPT_FAILED;
	env.rcpts[1].state = RCPT_PENDING;
	env.rcpts[2].state = RCPT_FAILED;      /* not tried: reported before */
	env.rcpts[3].state = RCPT_DELIVERED;
	env.rcpts[4].state = RCPT_FAILED;

	assert_int_equal(dsn_select(&in, &sel), 4);
	assert_ptr_equal(items[0].rcpt, &env.rcpts[0]);
	assert_int_equal(items[0].action, DSN_FAILED);
	assert_ptr_equal(items[1].rcpt, &env.rcpts[1]);
	assert_int_equal(items[1].action, DSN_DELAYED);
	assert_ptr_equal(items[2].rcpt, &env.rcpts[3]);
	assert_int_equal(items[2].action, DSN_DELIVERED);
	assert_ptr_equal(items[3].rcpt, &env.rcpts[4]);
	assert_ptr_equal(items[3].res, &res[4]);
	assert_int_equal(items[3].action, DSN_FAILED);
	assert_int_equal(sel.nfailed, 2);
	assert_int_equal(failed[0], 0);
	assert_int_equal(failed[1], 4);
	assert_true(sel.delay_warning);
	assert_string_equal(sel.to, "a@b.example");

	/* the same after the warning went out: no delay notice */
	in.warned = true;
	assert_int_equal(dsn_select(&in, &sel), 3);
	assert_false(sel.delay_warning);
	envelope_clear(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_several),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
