/*
 * bounce: delivery status notifications (RFC 3464) with RFC 3463 status
 * codes: a multipart/report whose first part tells a person, in plain
 * words and with the remote server's own reply, what happened; whose
 * second part is the machine-readable message/delivery-status; and whose
 * third part returns the original: a failure report returns the whole
 * message (RET=FULL, the default) or its header (RET=HDRS); a report of
 * success or delay only ever returns the header. Pure: the caller supplies
 * the original octets.
 */
#ifndef TERN_BOUNCE_H
#define TERN_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../deliver/courier.h"
#include "../proto/envelope.h"

enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED };

struct bounce_item {
	const struct envelope_rcpt *rcpt;
	const struct courier_result *res;
	enum dsn_action action;
};

/*
 * Writes the whole notification (header and body, CRLF line ends) to out.
 * original is the queued message (its Received header first). to is the
 * notification's recipient (the original sender, or the postmaster).
 * *eightbit_r tells whether the result needs BODY=8BITMIME.
 */
int bounce_compose(const char *hostname, const char *queue_id,
    const struct envelope *env, const struct bounce_item *items, size_t n,
    const char *to, const char *original, size_t original_len,
    int64_t now, struct buf *out, bool *eightbit_r);

/*
 * The NOTIFY conditions (SMTP_NOTIFY_*) of one RCPT that tern honours.
 * trusted: the client authenticated or is in relay_networks. For anyone
 * else the sender address is unverified, so SUCCESS and DELAY are dropped
 * (a notice to a forged sender is reflected spam); FAILURE stays. A list
 * left empty becomes NEVER: the client did not ask to hear of failures,
 * and 0 would mean "the default", which reports them.
 */
unsigned bounce_notify_honoured(unsigned notify, bool trusted);

/* RFC 3461 §4.2: decodes xtext ("+2B" -> "+") into out. */
int bounce_xtext_decode(const char *in, struct buf *out);

#endif
