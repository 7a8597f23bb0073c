/*
 * auth_limits: the AUTH failure limits as pure decisions (see the header).
 */
#include "auth_limits.h"

enum auth_step
auth_limits_step(const struct auth_limits *l, unsigned net, unsigned acct,
    enum auth_password pw)
{
	if (net >= l->max_network)
		return AUTH_STEP_NETWORK_LOCKED;
	if (acct >= l->max_account)
		return AUTH_STEP_ACCOUNT_LOCKED;
	switch (pw) {
	case AUTH_PASSWORD_UNCHECKED:
		return AUTH_STEP_ASK;
	case AUTH_PASSWORD_GOOD:
		return AUTH_STEP_OK;
	case AUTH_PASSWORD_BAD:
		break;
	}
	return AUTH_STEP_REFUSE;
}

int
auth_limits_delay(const struct auth_limits *l, unsigned net)
{
	if (net >= l->max_network)
		return -1;
	return net < AUTH_DELAY_MAX ? (int)net : AUTH_DELAY_MAX;
}
