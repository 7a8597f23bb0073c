/*
 * dsn: which delivery status notifications an attempt owes (RFC 3461 §4.1
 * NOTIFY). dsn_select() is pure: the envelope, the attempt's results and
 * the time in, the notices out; unit tests link it alone. Composing and
 * queueing them is dsn.c's, inside the queue (queue_int.h).
 */
#ifndef TERN_DSN_H
#define TERN_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../deliver/courier.h"
#include "bounce.h"
#include "../proto/envelope.h"

struct dsn_input {
	const struct envelope *env;         /* recipients' states after the attempt */
	const bool *tried;                  /* per recipient: the attempt covered it */
	const struct courier_result *res;   /* per recipient */
	bool warned;                        /* a delay warning went out before */
	const char *postmaster;             /* who hears of a bounce that bounced */
	int64_t delay_warning;              /* seconds queued before one; 0 never */
	int64_t now;
};

struct dsn_selection {
	/* Both arrays are the caller's, env->nrcpts entries long. */
	struct bounce_item *items;          /* the notification's recipients */
	size_t n;
	size_t *failed;                     /* recipients whose failure it reports */
	size_t nfailed;
	const char *to;                     /* the sender, or the postmaster */
	bool delay_warning;                 /* it carries the delay warning */
};

/*
 * Fills sel (its arrays given) with the notices owed: a failure where
 * NOTIFY is unset or has FAILURE; a success (delivered locally or by an
 * LMTP server, courier_result.final_hop; or relayed to a hop that did not
 * take the DSN request over) where it has SUCCESS; a delay where it has
 * DELAY, once, after delay_warning seconds. NEVER
 * silences them all. A message from the null sender (a bounce) gets
 * neither success nor delay notices, its failure goes to the postmaster,
 * and one to the postmaster that fails is only logged. Returns sel->n.
 */
size_t dsn_select(const struct dsn_input *in, struct dsn_selection *sel);

#endif
