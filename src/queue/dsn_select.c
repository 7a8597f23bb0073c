/*
 * dsn_select: the notices an attempt owes (see dsn.h). Pure.
 */
#include "dsn.h"

#include "../common/str.h"
#include "../proto/smtp_cmd.h"

size_t
dsn_select(const struct dsn_input *in, struct dsn_selection *sel)
{
	const struct envelope *env = in->env;
	bool is_bounce = env->sender[0] == '\0';
	const char *to = is_bounce ? in->postmaster : env->sender;
	size_t i;

	sel->n = sel->nfailed = 0;
	sel->to = to;
	sel->delay_warning = false;
	for (i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];
		const struct courier_result *res = &in->res[i];
		unsigned nf = r->notify;

		if (!in->tried[i] || (nf & SMTP_NOTIFY_NEVER))
			continue;
		if (r->state == RCPT_FAILED && (nf == 0 || (nf & SMTP_NOTIFY_FAILURE))) {
			/* A bounce to the postmaster that fails is only logged. */
			if (is_bounce && (str_ieq(r->addr, to) || str_ieq(r->orig, to)))
				continue;
			sel->items[sel->n++] = (struct bounce_item){ r, res, DSN_FAILED };
			sel->failed[sel->nfailed++] = i;
		} else if (r->state == RCPT_DELIVERED && (nf & SMTP_NOTIFY_SUCCESS) &&
		    !is_bounce) {
			/* Delivered: by us, or by the LMTP server that is the
			 * mailbox (its 250 is final, RFC 2033 §4.2). */
			if (r->local || res->final_hop)
				sel->items[sel->n++] = (struct bounce_item){ r, res, DSN_DELIVERED };
			else if (!res->peer_dsn)
				sel->items[sel->n++] = (struct bounce_item){ r, res, DSN_RELAYED };
		} else if (r->state == RCPT_PENDING && (nf & SMTP_NOTIFY_DELAY) &&
		    !is_bounce && !in->warned && in->delay_warning > 0 &&
		    in->now - env->arrival >= in->delay_warning) {
			sel->items[sel->n++] = (struct bounce_item){ r, res, DSN_DELAYED };
			sel->delay_warning = true;
		}
	}
	return sel->n;
}
