/*
 * test_auth_limits: what a login attempt gets from its failure counts
 * (auth/auth_limits.c): the step before and after the password check, and
 * the refusal delay once a failure is counted. Limits of 10 per network
 * and 5 per account from it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "auth/auth_limits.h"

static const struct auth_limits lim = { .max_network = 10, .max_account = 5 };

static void
test_step(void **state)
{
	static const struct {
		unsigned net, acct;
		enum auth_password pw;
		enum auth_step want;
	} cases[] = {
		/* Before the check: a lock costs no hash. */
		{ 0, 0, AUTH_PASSWORD_UNCHECKED, AUTH_STEP_ASK },
		{ 9, 4, AUTH_PASSWORD_UNCHECKED, AUTH_STEP_ASK },
		{ 10, 0, AUTH_PASSWORD_UNCHECKED, AUTH_STEP_NETWORK_LOCKED },
		{ 0, 5, AUTH_PASSWORD_UNCHECKED, AUTH_STEP_ACCOUNT_LOCKED },
		/* Both over: the network's 421 wins over the account's 535. */
		{ 12, 7, AUTH_PASSWORD_UNCHECKED, AUTH_STEP_NETWORK_LOCKED },
		/* After it: a good password in a locked network or account is
		 * still refused (others failed while it was checked). */
		{ 9, 4, AUTH_PASSWORD_GOOD, AUTH_STEP_OK },
		{ 10, 0, AUTH_PASSWORD_GOOD, AUTH_STEP_NETWORK_LOCKED },
		{ 0, 5, AUTH_PASSWORD_GOOD, AUTH_STEP_ACCOUNT_LOCKED },
		{ 0, 0, AUTH_PASSWORD_BAD, AUTH_STEP_REFUSE },
		{ 9, 4, AUTH_PASSWORD_BAD, AUTH_STEP_REFUSE },
		{ 10, 4, AUTH_PASSWORD_BAD, AUTH_STEP_NETWORK_LOCKED },
		{ 3, 6, AUTH_PASSWORD_BAD, AUTH_STEP_ACCOUNT_LOCKED },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(auth_limits_step(&lim, cases[i].net, cases[i].acct, cases[i].pw),
		    cases[i].want);
	}
}

static void
test_delay(void **state)
{
	static const struct auth_limits big = { .max_network = 100, .max_account = 5 };
	static const struct { const struct auth_limits *l; unsigned net; int want; } cases[] = {
		/* One second per failure of the network... */
		{ &lim, 1, 1 },
		{ &lim, 2, 2 },
		{ &lim, 8, 8 },
		{ &lim, 9, 8 },
		/* ...until the failure that locks it: refused now. */
		{ &lim, 10, -1 },
		{ &lim, 11, -1 },
		/* At most AUTH_DELAY_MAX seconds. */
		{ &big, 50, AUTH_DELAY_MAX },
		{ &big, 99, AUTH_DELAY_MAX },
		{ &big, 100, -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(auth_limits_delay(cases[i].l, cases[i].net), cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_delay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
