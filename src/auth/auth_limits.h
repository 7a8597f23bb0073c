/*
 * auth_limits: what a login attempt gets, from the failure counts alone:
 * the decisions of the AUTH failure limits, pure (no table, no clock, no
 * libevent), so that a table test can hold every case. authsvc.c does the
 * counting and the timing.
 */
#ifndef TERN_AUTH_LIMITS_H
#define TERN_AUTH_LIMITS_H

/* The longest refusal delay, in seconds. */
#define AUTH_DELAY_MAX 8

struct auth_limits {
	unsigned max_network;   /* failures per client network (/32, /64) */
	unsigned max_account;   /* failures per account from one network */
};

/* What the password check said, or that it has not run yet. */
enum auth_password {
	AUTH_PASSWORD_UNCHECKED,
	AUTH_PASSWORD_GOOD,
	AUTH_PASSWORD_BAD,
};

enum auth_step {
	AUTH_STEP_ASK,               /* not locked: check the password */
	AUTH_STEP_OK,                /* a good password, nothing locked */
	AUTH_STEP_REFUSE,            /* a bad password: count it, refuse */
	AUTH_STEP_ACCOUNT_LOCKED,    /* count it, refuse, whatever the password */
	AUTH_STEP_NETWORK_LOCKED,    /* refuse now, no count, no delay */
};

/* The step for an attempt whose network has net failures and whose
 * account (from that network) acct, with the password's verdict. The
 * counts are looked at before the check (UNCHECKED: a lock costs no hash)
 * and again after it (other sessions may have failed meanwhile): a locked
 * network or account is refused whatever the password. */
enum auth_step auth_limits_step(const struct auth_limits *l, unsigned net, unsigned acct,
    enum auth_password pw);

/* Once a failure is counted and the network has net failures: -1 when
 * that locks the network (refuse now), else the seconds to wait before
 * the refusal, growing with net up to AUTH_DELAY_MAX. */
int auth_limits_delay(const struct auth_limits *l, unsigned net);

#endif
