/*
 * smtp_client_tx: one transaction on an established outbound connection
 * (smtp_client_send): the checks before anything is sent (SIZE, SMTPUTF8,
 * 8BITMIME), the command list, the replies matched to it, the body and
 * the final reply. The connection itself is smtp_client.c's.
 *
 * Commands of a transaction form one list: MAIL, RCPT 1..n, DATA. With
 * PIPELINING (RFC 2920) the whole list goes out in one write and the
 * replies are matched in order; without it each command waits for the
 * previous reply. Either way one reply handler walks the list, so the two
 * modes share all their logic (after Postfix smtp_proto.c's separate send
 * and receive positions).
 *
 * The body is read from the queue file in pieces as the socket drains and
 * dot-stuffed on the way (RFC 5321 §4.5.2).
 *
 * LMTP (RFC 2033 §4.2) changes only the end: the "." gets one reply per
 * recipient whose RCPT was accepted, in RCPT order, and each becomes that
 * recipient's own result. Should the connection break half way, the
 * replies already read stand and the rest are deferred.
 */
#include "smtp_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/smtp_cmd.h"
#include "smtp_client_int.h"
#include "smtp_client_msg.h"

/* RCPT accepted, its verdict on the message not yet read. */
static bool
awaits_reply(const struct smtp_client_tx *tx, size_t k)
{
	return tx->res[k].status == DELIVER_OK && tx->res[k].dsn[0] == '\0';
}

/* Turns a reply into a result: the remote's enhanced code when it sent
 * one, else one derived from the basic code. */
static void
result_from_reply(struct smtp_client *c, struct courier_result *r)
{
	int code = c->rp.code;

	r->remote_code = code;
	r->peer_dsn = c->dsn;
	r->final_hop = c->lmtp;
	str_copy(r->tls, sizeof(r->tls), c->tls_info);
	r->status = code < 400 ? DELIVER_OK : code < 500 ? DELIVER_TEMP : DELIVER_PERM;
	if (c->rp.esc[0])
		str_copy(r->dsn, sizeof(r->dsn), c->rp.esc);
	else
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	str_copy(r->relay, sizeof(r->relay), c->relay);
	snprintf(r->detail, sizeof(r->detail), "%d %s%s%s", code, c->rp.esc,
	    c->rp.esc[0] ? " " : "", buf_cstr(&c->rp.text));
	smtp_client_one_line(r->detail);
}

static size_t
ncommands(const struct smtp_client *c)
{
	return c->tx->nrcpt + 2;   /* MAIL, RCPTs, DATA */
}

/* xtext (RFC 3461 §4): ENVID and ORCPT are kept as received, already
 * xtext; addresses put into ORCPT here are encoded. */
static void
append_xtext(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			evbuffer_add_printf(out, "+%02X", ch);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
send_command(struct smtp_client *c, size_t i)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct smtp_client_tx *tx = c->tx;

	if (i == 0) {
		evbuffer_add_printf(out, "MAIL FROM:<%s>", tx->sender);
		/* RFC 1870 §5: the parameter only to a server that offered
		 * SIZE; others may refuse it (Dovecot's LMTP says 555). */
		if (c->size)
			evbuffer_add_printf(out, " SIZE=%llu",
			    (unsigned long long)(tx->len + tx->prefix_len));
		if (tx->body == SMTP_BODY_8BITMIME && c->eightbit)
			evbuffer_add_printf(out, " BODY=8BITMIME");
		if (tx->smtputf8 && c->smtputf8)
			evbuffer_add_printf(out, " SMTPUTF8");
		if (c->dsn && tx->ret)
			evbuffer_add_printf(out, " RET=%s", tx->ret == SMTP_RET_HDRS ? "HDRS" : "FULL");
		if (c->dsn && tx->envid[0])
			evbuffer_add_printf(out, " ENVID=%s", tx->envid);
	} else if (i <= tx->nrcpt) {
		size_t r = i - 1;
		unsigned nf = tx->notify[r];

		evbuffer_add_printf(out, "RCPT TO:<%s>", tx->rcpt[r]);
		if (c->dsn && nf) {
			evbuffer_add_printf(out, " NOTIFY=%s", (nf & SMTP_NOTIFY_NEVER) ? "NEVER" : "");
			if (!(nf & SMTP_NOTIFY_NEVER)) {
				const char *sep = "";

				if (nf & SMTP_NOTIFY_SUCCESS) { evbuffer_add_printf(out, "SUCCESS"); sep = ","; }
				if (nf & SMTP_NOTIFY_FAILURE) { evbuffer_add_printf(out, "%sFAILURE", sep); sep = ","; }
				if (nf & SMTP_NOTIFY_DELAY) evbuffer_add_printf(out, "%sDELAY", sep);
			}
		}
		if (c->dsn && tx->orcpt[r][0])
			evbuffer_add_printf(out, " ORCPT=%s", tx->orcpt[r]);
		else if (c->dsn) {
			evbuffer_add_printf(out, " ORCPT=rfc822;");
			append_xtext(out, tx->rcpt[r]);
		}
	} else
		evbuffer_add_printf(out, "DATA");
	evbuffer_add(out, "\r\n", 2);
}

static void
client_send_next(struct smtp_client *c)
{
	size_t n = ncommands(c);

	if (c->pipelining) {
		while (c->next_send < n)
			send_command(c, c->next_send++);
	} else if (c->next_send == c->next_reply && c->next_send < n)
		send_command(c, c->next_send++);
}

/* Ends a transaction: results are final; the connection stays usable. */
static void
tx_done(struct smtp_client *c)
{
	c->state = C_READY;
	smtp_client_set_timeout(c, c->cfg->smtp_idle_timeout);
	smtp_client_finish(c);
}

void
smtp_client_tx_reply(struct smtp_client *c)
{
	struct smtp_client_tx *tx = c->tx;
	size_t i = c->next_reply++, k;
	int code = c->rp.code;

	if (i == 0) {
		if (code / 100 != 2) {
			/* Every recipient shares the sender's fate. */
			c->mail_failed = true;
			for (k = 0; k < tx->nrcpt; k++)
				result_from_reply(c, &tx->res[k]);
		}
	} else if (i <= tx->nrcpt) {
		if (!c->mail_failed) {
			result_from_reply(c, &tx->res[i - 1]);
			if (code / 100 == 2) {
				/* Accepted for now; final after the "." reply. */
				c->accepted++;
				tx->res[i - 1].dsn[0] = '\0';
			}
		}
	} else {
		if (code == 354 && c->accepted > 0) {
			c->state = C_BODY;
			c->body_sent = 0;
			c->at_bol = true;
			c->last2[0] = c->last2[1] = 0;
			if (tx->prefix_len)
				smtp_client_stuff(bufferevent_get_output(c->bev), &c->at_bol, tx->prefix,
				    tx->prefix_len);
			smtp_client_set_timeout(c, T_BLOCK);
			smtp_client_body_pump(c);
			return;
		}
		if (code == 354) {
			/* Nobody to send to, yet the server wants data: end it
			 * empty and ignore the verdict. */
			c->state = C_DOT;
			smtp_client_set_timeout(c, T_DOT);
			smtp_client_send_line(c, ".");
			return;
		}
		for (k = 0; k < tx->nrcpt; k++) {
			if (awaits_reply(tx, k))
				result_from_reply(c, &tx->res[k]);
		}
		if (code / 100 == 2)
			smtp_client_broken(c, "4.5.0", false, "%s accepted DATA without 354",
			    c->relay);
		else
			tx_done(c);
		return;
	}
	/* Without pipelining, nothing more to say once MAIL failed or no RCPT
	 * was accepted: RSET keeps the connection for the next message. */
	if (!c->pipelining && (c->mail_failed ||
	    (i == tx->nrcpt && c->accepted == 0))) {
		c->next_send = c->next_reply = ncommands(c);
		smtp_client_send_line(c, "RSET");
		c->state = C_DOT;   /* the RSET reply ends the transaction */
		smtp_client_set_timeout(c, T_COMMAND);
		return;
	}
	client_send_next(c);
}

void
smtp_client_dot_reply(struct smtp_client *c)
{
	struct smtp_client_tx *tx = c->tx;
	size_t k;

	/* LMTP: this reply is the next accepted recipient's alone; the
	 * transaction ends with the last one. (Without an accepted RCPT,
	 * as after RSET, the one reply ends it as in SMTP.) */
	if (c->lmtp && c->accepted > 0) {
		while (c->lmtp_next < tx->nrcpt && !awaits_reply(tx, c->lmtp_next))
			c->lmtp_next++;
		if (c->lmtp_next < tx->nrcpt)
			result_from_reply(c, &tx->res[c->lmtp_next++]);
		while (c->lmtp_next < tx->nrcpt && !awaits_reply(tx, c->lmtp_next))
			c->lmtp_next++;
		if (c->lmtp_next < tx->nrcpt) {
			smtp_client_set_timeout(c, T_DOT);
			return;
		}
		tx_done(c);
		return;
	}
	for (k = 0; k < tx->nrcpt; k++) {
		if (awaits_reply(tx, k))
			result_from_reply(c, &tx->res[k]);
	}
	tx_done(c);
}

/* Writes the next piece of the body, dot-stuffed, then the final ".". */
void
smtp_client_body_pump(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct smtp_client_tx *tx = c->tx;
	char in[BODY_PIECE];

	while (evbuffer_get_length(out) < BODY_PIECE && c->body_sent < tx->len) {
		uint64_t left = tx->len - c->body_sent;
		size_t want = left < sizeof(in) ? (size_t)left : sizeof(in);
		ssize_t n = pread(tx->fd, in, want, (off_t)(tx->off + c->body_sent));

		if (n <= 0) {
			smtp_client_broken(c, "4.3.0", false, "reading the queue file: %s",
			    n == 0 ? "short file" : strerror(errno));
			return;
		}
		smtp_client_stuff(out, &c->at_bol, in, (size_t)n);
		if (n >= 2) {
			c->last2[0] = in[n - 2];
			c->last2[1] = in[n - 1];
		} else {
			c->last2[0] = c->last2[1];
			c->last2[1] = in[0];
		}
		c->body_sent += (uint64_t)n;
	}
	if (c->body_sent == tx->len) {
		/* A BDAT-received message may lack the final CRLF. */
		if (tx->len > 0 && !(c->last2[0] == '\r' && c->last2[1] == '\n'))
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
		c->state = C_DOT;
		smtp_client_set_timeout(c, T_DOT);
	}
}

void
smtp_client_send(struct smtp_client *c, struct smtp_client_tx *tx,
    smtp_client_cb on_done, void *arg)
{
	size_t i;

	c->tx = tx;
	c->cb = on_done;
	c->cb_arg = arg;
	c->next_send = c->next_reply = 0;
	c->accepted = 0;
	c->lmtp_next = 0;
	c->mail_failed = false;
	for (i = 0; i < tx->nrcpt; i++)
		memset(&tx->res[i], 0, sizeof(tx->res[i]));
	/* RFC 1870: do not send what the peer said it will refuse. */
	if (c->size_limit && tx->len + tx->prefix_len > c->size_limit) {
		for (i = 0; i < tx->nrcpt; i++)
			smtp_client_result_set(c, &tx->res[i], DELIVER_PERM, "5.3.4",
			    "message is larger than the remote server accepts");
		smtp_client_finish(c);
		return;
	}
	/* RFC 6531 §3.2: no SMTPUTF8 at the peer, no UTF-8 envelope or
	 * header. A message that merely came with SMTPUTF8 goes without it
	 * (send_command leaves the parameter out). */
	if (tx->smtputf8 && !c->smtputf8) {
		int need = smtp_client_needs_smtputf8(tx);

		if (need != 0) {
			for (i = 0; i < tx->nrcpt; i++) {
				if (need == 1)
					smtp_client_result_set(c, &tx->res[i], DELIVER_PERM,
					    "5.6.7", "the remote server does not support SMTPUTF8");
				else
					smtp_client_result_set(c, &tx->res[i], DELIVER_TEMP,
					    "4.3.0", "reading the queue file failed");
			}
			smtp_client_finish(c);
			return;
		}
	}
	/* RFC 6152 §3: tern does not downgrade 8-bit bodies; such a message
	 * fails with 5.6.3 rather than being damaged. */
	if (tx->body == SMTP_BODY_8BITMIME && !c->eightbit) {
		for (i = 0; i < tx->nrcpt; i++)
			smtp_client_result_set(c, &tx->res[i], DELIVER_PERM, "5.6.3",
			    "the remote server does not support 8BITMIME");
		smtp_client_finish(c);
		return;
	}
	c->state = C_TX;
	smtp_client_set_timeout(c, T_COMMAND);
	bufferevent_enable(c->bev, EV_READ);
	client_send_next(c);
}
