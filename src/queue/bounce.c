/*
 * bounce: compose DSNs (see bounce.h).
 */
#include "bounce.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/timefmt.h"
#include "../proto/smtp_cmd.h"

static int
hexv(char c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

int
bounce_xtext_decode(const char *in, struct buf *out)
{
	for (; *in; in++) {
		if (*in == '+' && hexv(in[1]) >= 0 && hexv(in[2]) >= 0) {
			char c = (char)(hexv(in[1]) << 4 | hexv(in[2]));

			/* Never let a decoded CR or LF break a header line, nor a
			 * NUL or other control reach the message. */
			buf_append_char(out, ((unsigned char)c < 0x20 || c == 0x7f) ? ' ' : c);
			in += 2;
		} else
			buf_append_char(out, *in);
	}
	return 0;
}

unsigned
bounce_notify_honoured(unsigned notify, bool trusted)
{
	unsigned kept;

	if (trusted || notify == 0 || (notify & SMTP_NOTIFY_NEVER))
		return notify;
	kept = notify & ~(unsigned)(SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	return kept ? kept : SMTP_NOTIFY_NEVER;
}

/*
 * Remote-MTA (RFC 3464 §2.3.5) from a result's relay: the host of
 * "host[ip]:port" or "lmtp:host[ip]:port"; an LMTP server on a unix
 * socket ("lmtp:unix:PATH") has no name to give, and gets no field.
 */
static void
remote_mta(struct buf *out, const char *relay)
{
	if (strncmp(relay, "lmtp:", 5) == 0)
		relay += 5;
	if (strncmp(relay, "unix:", 5) == 0)
		return;
	buf_printf(out, "Remote-MTA: dns; %.*s\r\n", (int)strcspn(relay, "["), relay);
}

static const char *
action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:    return "failed";
	case DSN_DELAYED:   return "delayed";
	case DSN_DELIVERED: return "delivered";
	case DSN_RELAYED:   return "relayed";
	}
	return "failed";
}

/* Where the message body starts (after the blank line), or len. */
static size_t
header_len(const char *m, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++) {
		if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' && m[i + 3] == '\n')
			return i + 2;
	}
	return len;
}

static bool
all_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

int
bounce_compose(const char *hostname, const char *queue_id,
    const struct envelope *env, const struct bounce_item *items, size_t n,
    const char *to, const char *original, size_t original_len, int64_t now,
    struct buf *out, bool *eightbit_r)
{
	char date[64], arrival[64], boundary[80];
	enum dsn_action worst = DSN_DELIVERED;
	bool hdrs_only;
	size_t i, orig_hdr = header_len(original, original_len);
	const char *subject;

	for (i = 0; i < n; i++) {
		if (items[i].action == DSN_FAILED)
			worst = DSN_FAILED;
		else if (items[i].action == DSN_DELAYED && worst != DSN_FAILED)
			worst = DSN_DELAYED;
	}
	/* RET chooses what a failure report returns (RFC 3461 §4.3). A
	 * report of success or delay identifies the message by its header
	 * alone: the body would make it a carrier for whatever was sent. */
	hdrs_only = env->ret == SMTP_RET_HDRS || worst != DSN_FAILED;
	subject = worst == DSN_FAILED ? "Undelivered Mail Returned to Sender" :
	    worst == DSN_DELAYED ? "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report";
	rfc5322_date(now, date, sizeof(date));
	rfc5322_date(env->arrival, arrival, sizeof(arrival));
	snprintf(boundary, sizeof(boundary), "%s/%s.%lld", queue_id, hostname, (long long)now);

	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname);
	buf_printf(out, "To: <%s>\r\n", to);
	buf_printf(out, "Subject: %s\r\n", subject);
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%s.%lld.dsn@%s>\r\n", queue_id, (long long)now, hostname);
	/* RFC 3834: never answered by autoresponders. */
	buf_printf(out, "Auto-Submitted: auto-replied\r\n");
	buf_printf(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_printf(out, "This is a MIME-encapsulated delivery status notification.\r\n\r\n");

	/* Part 1: for a person. */
	buf_printf(out, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
	buf_printf(out, "This is the mail system at %s.\r\n\r\n", hostname);
	if (worst == DSN_FAILED)
		buf_printf(out, "I'm sorry to have to tell you that your message could not\r\n"
		    "be delivered to one or more recipients. It is attached below.\r\n\r\n"
		    "For further help, send mail to <postmaster@%s>, and include\r\n"
		    "this report.\r\n\r\n", hostname);
	else if (worst == DSN_DELAYED)
		buf_printf(out, "Your message could not be delivered yet. It will be retried\r\n"
		    "until it is %s old; you do not need to send it again.\r\n\r\n",
		    "the queue lifetime");
	else
		buf_printf(out, "Your message was delivered successfully as you asked.\r\n\r\n");
	for (i = 0; i < n; i++) {
		const struct courier_result *r = items[i].res;

		buf_printf(out, "<%s>: ", items[i].rcpt->addr);
		if (items[i].action == DSN_DELIVERED)
			buf_printf(out, "delivered");
		else if (items[i].action == DSN_RELAYED)
			buf_printf(out, "relayed to %s", r->relay);
		else if (r->remote_code)
			buf_printf(out, "host %s said: %s", r->relay, r->detail);
		else
			buf_printf(out, "%s", r->detail);
		buf_printf(out, "\r\n\r\n");
	}

	/* Part 2: for programs (RFC 3464 §2). */
	buf_printf(out, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", hostname);
	buf_printf(out, "X-Tern-Queue-ID: %s\r\n", queue_id);
	if (env->envid && env->envid[0]) {
		buf_printf(out, "Original-Envelope-Id: ");
		bounce_xtext_decode(env->envid, out);
		buf_printf(out, "\r\n");
	}
	buf_printf(out, "Arrival-Date: %s\r\n", arrival);
	for (i = 0; i < n; i++) {
		const struct envelope_rcpt *rc = items[i].rcpt;
		const struct courier_result *r = items[i].res;

		buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\n", rc->addr);
		if (rc->orcpt && rc->orcpt[0]) {
			const char *semi = strchr(rc->orcpt, ';');

			buf_printf(out, "Original-Recipient: %.*s; ",
			    semi ? (int)(semi - rc->orcpt) : 6, semi ? rc->orcpt : "rfc822");
			bounce_xtext_decode(semi ? semi + 1 : rc->orcpt, out);
			buf_printf(out, "\r\n");
		} else if (rc->orig && strcmp(rc->orig, rc->addr) != 0)
			buf_printf(out, "Original-Recipient: rfc822; %s\r\n", rc->orig);
		buf_printf(out, "Action: %s\r\n", action_name(items[i].action));
		buf_printf(out, "Status: %s\r\n", r->dsn[0] ? r->dsn :
		    items[i].action == DSN_FAILED ? "5.0.0" :
		    items[i].action == DSN_DELAYED ? "4.0.0" : "2.0.0");
		if (r->remote_code) {
			remote_mta(out, r->relay);
			/* An LMTP reply is an SMTP reply (RFC 2033 §4.2). */
			buf_printf(out, "Diagnostic-Code: smtp; %s\r\n", r->detail);
		} else if (r->detail[0] && items[i].action != DSN_DELIVERED)
			buf_printf(out, "Diagnostic-Code: X-tern; %s\r\n", r->detail);
		buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
	}
	buf_printf(out, "\r\n");

	/* Part 3: what was sent. */
	*eightbit_r = !all_ascii(out->data, out->len);
	if (hdrs_only) {
		buf_printf(out, "--%s\r\nContent-Description: %s\r\n"
		    "Content-Type: text/rfc822-headers\r\n\r\n", boundary,
		    worst == DSN_FAILED ? "Undelivered Message Headers" : "Message Headers");
		buf_append(out, original, orig_hdr);
	} else {
		buf_printf(out, "--%s\r\nContent-Description: Undelivered Message\r\n"
		    "Content-Type: message/rfc822\r\n\r\n", boundary);
		buf_append(out, original, original_len);
		if (original_len < 2 || memcmp(original + original_len - 2, "\r\n", 2) != 0)
			buf_printf(out, "\r\n");
	}
	buf_printf(out, "\r\n--%s--\r\n", boundary);
	/* An 8-bit original makes the notification 8BITMIME too. */
	if (!*eightbit_r)
		*eightbit_r = !all_ascii(original, hdrs_only ? orig_hdr : original_len);
	return out->data ? 0 : -1;
}
