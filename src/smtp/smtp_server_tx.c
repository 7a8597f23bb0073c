/*
 * smtp_server_tx: one mail transaction's message, DATA or BDAT to the end
 * (MAIL and RCPT, which build the envelope, are smtp_server_envelope.c).
 * DATA and BDAT open the queue file, write the trace header and stream the
 * message into it through the strict DATA reader (proto/smtp_data.c); at
 * the end the message is refused with the reply its fault deserves, or
 * handed to the queue, whose commit callback sends the 250 (in LMTP:
 * delivered at once, a reply per recipient).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../common/log.h"
#include "../common/str.h"
#include "../common/timefmt.h"
#include "../maillog/maillog.h"
#include "../net/conn.h"
#include "../queue/bounce.h"
#include "../queue/queue.h"
#include "../policy/submission.h"
#include "../proto/authres.h"
#include "../verify/verify.h"
#include "smtp_reply.h"
#include "smtp_session.h"

static void tx_write(struct smtp_tx *tx, const char *p, size_t n);

/* Opens the queue file and writes the trace header. On failure err_reply
 * holds the reply to give. */
static bool
tx_open_queue(struct smtp_session *s, struct buf *err_reply)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->cfg;
	enum queue_err qe = QUEUE_EIO;
	char date[64], forward[SMTP_PATH_MAX + 16] = "";
	time_t now = time(NULL);

	tx->env.arrival = (int64_t)now;
	tx->env.body = (int)tx->mp.body;
	tx->env.ret = (int)tx->mp.ret;
	tx->env.smtputf8 = tx->mp.smtputf8;
	/* Mail of our own users, from our own domains, leaves signed. */
	{
		const char *at = strrchr(tx->env.sender, '@');

		tx->env.dkim = at && config_dkim_domain(cfg, at + 1) &&
		    (s->authed || smtp_session_relay_allowed(s));
	}
	/* Mail from outside that an alias sends on elsewhere leaves sealed
	 * (RFC 8617), so that the next hop can see our verdicts. */
	if (cfg->arc_seal[0] && !s->authed && !s->lmtp && !smtp_session_relay_allowed(s)) {
		size_t i;

		for (i = 0; i < tx->env.nrcpts; i++)
			tx->env.arc |= !tx->env.rcpts[i].local;
	}
	str_copy(tx->sender, sizeof(tx->sender), tx->env.sender);
	tx->nrcpt = tx->env.nrcpts;
	/* "for" only with a single recipient: more would disclose Bcc. */
	if (tx->rcpts_given == 1)
		snprintf(forward, sizeof(forward), "\r\n\tfor <%s>", tx->env.rcpts[0].orig);
	if (envelope_set(&tx->env.helo, s->helo) == -1 ||
	    envelope_set(&tx->env.client, conn_ip(s->conn)) == -1 ||
	    envelope_set(&tx->env.proto, smtp_session_proto(s, tx)) == -1 ||
	    (tx->qtx = (s->lmtp ? queue_tx_begin_spool : queue_tx_begin)(s->env->queue,
	    &tx->env, &qe)) == NULL) {
		if (qe == QUEUE_ENOSPC)
			smtp_reply_format(err_reply, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
		else
			smtp_reply_format(err_reply, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
		return false;
	}
	hdr_scan_init(&tx->hs);
	hdr_find_init(&tx->arf, "Authentication-Results");
	tx->holding = true;
	smtp_data_init(&tx->data, cfg->max_line_length);
	tx->submission = s->authed;
	tx->hostname = cfg->hostname;
	/* RFC 5321 §4.4 trace field. */
	rfc5322_date((int64_t)now, date, sizeof(date));
	/* Kept apart from the client's octets: the header scan (Received
	 * count, end of header) sees only what the client sent. */
	{
		struct buf *rcvd = &tx->trace;

		/* TCP-info is an address-literal: "[IPv6:...]" for IPv6
		 * (RFC 5321 §4.1.3, §4.4). */
		const char *ip = conn_ip(s->conn);
		bool tls = conn_tls(s->conn);

		if (strcmp(ip, "unix") == 0)
			buf_printf(rcvd, "Received: from %s (local socket)", s->helo);
		else
			buf_printf(rcvd, "Received: from %s ([%s%s])", s->helo,
			    strchr(ip, ':') ? "IPv6:" : "", ip);
		buf_printf(rcvd, "\r\n\tby %s (tern) with %s id %s%s%s%s%s;\r\n\t%s\r\n",
		    cfg->hostname,
		    smtp_session_proto(s, tx), queue_tx_id(tx->qtx),
		    tls ? "\r\n\t(" : "", tls ? conn_tls_info(s->conn) : "", tls ? ")" : "",
		    forward, date);
	}
	return true;
}

static void
tx_file_write(struct smtp_tx *tx, const char *p, size_t n)
{
	if (n > 0 && queue_tx_write(tx->qtx, p, n) != QUEUE_OK)
		tx->data.discard = true;   /* keep reading to the end, store nothing */
}

/* The message outgrew the hold: what was held goes to the file. */
static void
tx_release_hold(struct smtp_tx *tx)
{
	tx->holding = false;
	tx_file_write(tx, tx->trace.data, tx->trace.len);
	tx_file_write(tx, tx->held.data, tx->held.len);
	buf_release(&tx->held);
}

/* Message octets as they will be stored (the client's, and fields we add
 * at the end of the header). */
static void
tx_write(struct smtp_tx *tx, const char *p, size_t n)
{
	if (tx->too_big || n == 0)
		return;
	hdr_find_feed(&tx->arf, p, n);
	if (tx->holding) {
		if (tx->held.len + n <= HOLD_MAX && buf_append(&tx->held, p, n) == 0)
			return;
		tx_release_hold(tx);
	}
	tx_file_write(tx, p, n);
}

static void
tx_add_headers(struct smtp_tx *tx)
{
	struct buf h = BUF_INIT;

	submission_missing_fields(&tx->hs, queue_tx_id(tx->qtx), tx->hostname, time(NULL), &h);
	tx_write(tx, h.data, h.len);
	buf_release(&h);
}

static bool
tx_needs_headers(const struct smtp_tx *tx)
{
	return tx->submission && (!tx->hs.has_date || !tx->hs.has_message_id);
}

/*
 * Writes buffered message octets to the queue file. A submission lacking
 * Date or Message-ID gets them at the end of its header (RFC 6409 §8.2,
 * §8.3), before the empty line. That line may begin in one flush and end
 * in the next (a BDAT chunk may end between its CR and LF), so a CR that
 * may begin it is held back, unwritten, until the next octet tells; last
 * writes it whatever comes.
 */
static void
tx_flush(struct smtp_tx *tx, bool last)
{
	unsigned long long base = tx->hs.pos;   /* stream offset of chunk[0] */
	const char *p = tx->chunk.data;
	size_t n = tx->chunk.len, split = 0;
	bool add = false;

	if (tx->verify && n > 0)
		verify_feed(tx->verify, p, n);
	if (!tx->hs.done && n > 0) {
		hdr_scan_feed(&tx->hs, p, n);
		add = tx->hs.done && tx_needs_headers(tx);
	}
	if (tx->held_cr) {
		/* The held CR began the empty line: the fields go before it. */
		if (add && tx->hs.end_off + 1 == base) {
			tx_add_headers(tx);
			add = false;
		}
		if (n > 0 || last) {
			tx_write(tx, "\r", 1);
			tx->held_cr = false;
		}
	}
	/* With the CR held back the empty line starts in this chunk; never
	 * split outside it all the same. */
	if (add && tx->hs.end_off >= base && tx->hs.end_off - base < n) {
		split = (size_t)(tx->hs.end_off - base);
		tx_write(tx, p, split);
		tx_add_headers(tx);
	} else if (!last && n > 0 && hdr_scan_cr_pending(&tx->hs) && tx_needs_headers(tx)) {
		tx->held_cr = true;
		n--;   /* the CR is p[n - 1]: written by the next flush */
	}
	if (n > split)
		tx_write(tx, p + split, n - split);
	buf_reset(&tx->chunk);
}

/* Gives a refused transaction's reply, raw, and logs it. */
static void
reply_raw(struct smtp_session *s, const struct buf *r)
{
	char line[512];

	buf_append(&s->out, r->data, r->len);
	/* The log line gets the reply without its CRLF. */
	str_copyn(line, sizeof(line), buf_cstr(r), r->len >= 2 ? r->len - 2 : r->len);
	maillog_reject(s->id, conn_ip(s->conn), s->cmdline ? s->cmdline : "",
	    s->cmdline ? s->cmdlen : 0, line);
}

/* The transaction is over, whatever its outcome: back to READY. */
static void
tx_end(struct smtp_session *s)
{
	s->cmdline = NULL;
	smtp_tx_free(&s->tx);
	smtp_session_enter(s, S_READY);
	smtp_session_idle_timeout(s);
}

/* The queued line, with the Message-ID: the message's own, or the one a
 * submission got from tx_add_headers. */
static void
log_queued(struct smtp_session *s, const struct smtp_tx *tx, const char *id)
{
	struct buf gen = BUF_INIT;
	const char *mid;
	size_t mlen = 0;

	if ((mid = hdr_scan_message_id(&tx->hs, &mlen)) == NULL &&
	    tx->submission && !tx->hs.has_message_id &&
	    buf_printf(&gen, "<%s@%s>", id, tx->hostname) == 0) {
		mid = gen.data;
		mlen = gen.len;
	}
	maillog_queued(id, s->id, conn_ip(s->conn), tx->sender, tx->size, tx->nrcpt,
	    smtp_session_proto(s, tx), mid, mlen);
	buf_release(&gen);
}

static void
on_commit(uint64_t cookie, enum queue_err err, const char *id)
{
	struct smtp_session *s = smtp_session_find(cookie);
	struct smtp_tx *tx;

	if (s == NULL)
		return;   /* client gone; a committed message is still delivered */
	tx = s->tx;
	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	if (err == QUEUE_OK) {
		s->nmsgs++;
		log_queued(s, tx, id);
		smtp_session_reply(s, 250, ESC_OK, "Ok: queued as %s", id);
	} else if (err == QUEUE_ENOSPC)
		smtp_session_reply(s, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
	else
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
	tx_end(s);
	smtp_session_flush(s);
	conn_resume(s->conn, CONN_DONE);
}

/* LMTP: the deliveries are done; one reply per accepted RCPT, in order
 * (RFC 2033 §4.2), each the worst outcome of the mailboxes it named. */
static void
on_delivered(uint64_t cookie, const char *id, const struct queue_now_result *res, size_t n)
{
	struct smtp_session *s = smtp_session_find(cookie);
	struct smtp_tx *tx;
	size_t i, k;

	if (s == NULL)
		return;   /* client gone: it will send again (a duplicate, not a loss) */
	tx = s->tx;
	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	s->nmsgs++;
	log_queued(s, tx, id);
	for (i = 0; i < tx->nlr; i++) {
		const struct lmtp_rcpt *lr = &tx->lr[i];
		const struct queue_now_result *worst = NULL;
		enum queue_now_status st = QUEUE_NOW_OK;

		for (k = 0; k < lr->nidx; k++) {
			const struct queue_now_result *r = lr->idx[k] < n ? &res[lr->idx[k]] : NULL;
			enum queue_now_status rs = r ? r->status : QUEUE_NOW_TEMP;

			if (worst == NULL || rs > st) {
				st = rs;
				worst = r;
			}
		}
		if (st == QUEUE_NOW_OK)
			smtp_session_reply(s, 250, ESC_OK, "<%s> delivered as %s", lr->orig, id);
		else if (worst && strcmp(worst->dsn, "5.2.2") == 0)
			/* RFC 3463: the mailbox is full for this message, for good. */
			smtp_session_reply(s, 552, "5.2.2", "<%s> %s", lr->orig, worst->detail);
		else if (worst && strcmp(worst->dsn, "4.2.2") == 0)
			smtp_session_reply(s, 452, "4.2.2", "<%s> %s, try again later", lr->orig,
			    worst->detail);
		else if (st == QUEUE_NOW_PERM)
			smtp_session_reply(s, 550, "5.3.0", "<%s> %s", lr->orig,
			    worst ? worst->detail : "delivery failed");
		else
			smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "<%s> %s, try again later",
			    lr->orig, worst ? worst->detail : "local error");
	}
	tx_end(s);
	smtp_session_flush(s);
	conn_resume(s->conn, CONN_DONE);
}

/* LMTP: the refusal just given (from start in s->out) is every
 * recipient's (RFC 2033 §4.2). */
static void
lmtp_repeat_reply(struct smtp_session *s, size_t start)
{
	struct smtp_tx *tx = s->tx;
	struct buf one = BUF_INIT;
	size_t i;

	if (!s->lmtp || tx->nlr < 2)
		return;
	buf_append(&one, s->out.data + start, s->out.len - start);
	for (i = 1; i < tx->nlr; i++)
		buf_append(&s->out, one.data, one.len);
	buf_release(&one);
}

/*
 * The message's final form: fields on top (the checks'), and no
 * Authentication-Results field that claims to be ours (RFC 8601 §5: a
 * forgery; one too long to read to its id counts as one). Held messages
 * are written whole now; a longer one is rewritten in the queue.
 */
static enum queue_err
tx_finish_file(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->cfg;
	const char *id = cfg->authserv_id[0] ? cfg->authserv_id : cfg->hostname;
	const struct buf *top = tx->verify ? verify_fields(tx->verify) : NULL;
	uint64_t (*drop)[2] = NULL;
	size_t ndrop = 0, i;
	enum queue_err qe = QUEUE_OK;

	hdr_find_end(&tx->arf);
	if (tx->arf.nfound > 0 && (drop = calloc(tx->arf.nfound, sizeof(*drop))) == NULL)
		return QUEUE_EIO;
	for (i = 0; i < tx->arf.nfound; i++) {
		const struct hdr_found *h = &tx->arf.found[i];

		if (h->cut || authres_id_is(h->value, h->vlen, id)) {
			drop[ndrop][0] = h->off;
			drop[ndrop++][1] = h->len;
		}
	}
	if (tx->arf.nomem)
		qe = QUEUE_EIO;   /* a forgery might have gone unseen */
	else if (tx->holding) {
		/* Back to front, so the offsets before each stay true. */
		for (i = ndrop; i-- > 0;)
			buf_cut(&tx->held, (size_t)drop[i][0], (size_t)drop[i][1]);
		tx->holding = false;
		if (top)
			tx_file_write(tx, top->data, top->len);
		tx_file_write(tx, tx->trace.data, tx->trace.len);
		tx_file_write(tx, tx->held.data, tx->held.len);
		buf_release(&tx->held);
	} else if (ndrop > 0 || (top && top->len > 0)) {
		/* The file holds our Received field, then the message. */
		for (i = 0; i < ndrop; i++)
			drop[i][0] += tx->trace.len;
		qe = queue_tx_rewrite(tx->qtx, top ? top->data : "", top ? top->len : 0,
		    (const uint64_t (*)[2])drop, ndrop);
	}
	free(drop);
	if (ndrop > 0)
		log_info("id=%s event=forged-authres removed=%zu", queue_tx_id(tx->qtx), ndrop);
	return qe != QUEUE_OK ? qe : queue_tx_write(tx->qtx, "", 0);
}

/* Every check has passed: to the queue (PENDING until on_commit; in
 * LMTP, delivered now, PENDING until on_delivered). */
static enum conn_step
tx_commit(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct queue_tx *qtx;
	size_t start = s->out.len;
	enum queue_err qe = tx_finish_file(s);

	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	if (qe == QUEUE_ENOSPC)
		smtp_session_reply(s, 452, ESC_SYSTEM_FULL, "Insufficient system storage");
	else if (qe != QUEUE_OK)
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Local error in processing, try again later");
	else {
		qtx = tx->qtx;
		tx->qtx = NULL;
		s->cmdline = NULL;
		if (s->lmtp)
			queue_tx_deliver_now(qtx, on_delivered, s->id);
		else
			queue_tx_commit(qtx, on_commit, s->id);
		return CONN_PENDING;
	}
	lmtp_repeat_reply(s, start);
	tx_end(s);
	return CONN_DONE;
}

/* The checks have answered: refuse the message, or on to the queue. */
static void
on_verified(void *arg)
{
	struct smtp_session *s = arg;
	struct smtp_tx *tx = s->tx;
	const char *why = "";
	enum config_action act = verify_action(tx->verify, &why);
	enum conn_step step;

	maillog_check(queue_tx_id(tx->qtx), s->id, conn_ip(s->conn), "message",
	    verify_summary(tx->verify), act == ACTION_REJECT ? "reject" :
	    act == ACTION_QUARANTINE ? "quarantine" : "none");
	if (act == ACTION_REJECT) {
		s->cmdline = "(end of message)";
		s->cmdlen = 16;
		smtp_session_reply(s, 550, "5.7.1", "%s", why);
		tx_end(s);
		step = CONN_DONE;
	} else {
		/* Quarantined: into the recipient's Junk folder, when it has
		 * one (a queued delivery reads X-Tern-Quarantine instead). */
		if (act == ACTION_QUARANTINE)
			queue_tx_set_folder(tx->qtx, ".Junk");
		step = tx_commit(s);
	}
	if (step == CONN_PENDING)
		return;
	smtp_session_flush(s);
	conn_resume(s->conn, step);
}

/* The whole message is in: refuse it, have it checked, or commit it. */
static enum conn_step
end_of_message(struct smtp_session *s)
{
	const struct config *cfg = s->cfg;
	struct smtp_tx *tx = s->tx;
	size_t start = s->out.len;

	tx_flush(tx, true);
	/* A message that is all header (RFC 5322 §3.5: the body is optional)
	 * gets its missing fields at its end, which is its header's end. */
	if (tx->submission && !tx->hs.done && !tx->too_big &&
	    (!tx->hs.has_date || !tx->hs.has_message_id)) {
		if (!hdr_scan_at_line_start(&tx->hs))
			tx_write(tx, "\r\n", 2);
		tx_add_headers(tx);
	}
	s->cmdline = "(end of message)";
	s->cmdlen = 16;
	if (tx->too_big)
		smtp_session_reply(s, 552, ESC_MSG_TOO_BIG, "Message size exceeds fixed maximum message size");
	else if (tx->data.bare_eol)
		/* RFC 5321 §2.3.8: lines end with CRLF. Refusing (not repairing)
		 * keeps SMTP smuggling impossible through tern. */
		smtp_session_reply(s, 550, ESC_SYNTAX, "Message contains bare CR or LF; lines must end with CRLF");
	else if (s->authed && cfg->submission_check_from && !smtp_auth_from_owned(s, &tx->hs))
		/* RFC 6409 §8: the MSA may check the From: field too. */
		smtp_session_reply(s, 550, ESC_NOT_ALLOWED, "From: header address not owned by user %s",
		    s->auth_user);
	else if (tx->hs.received > cfg->max_received_headers)
		/* RFC 5321 §6.3: too many hops means a loop. */
		smtp_session_reply(s, 554, ESC_LOOP, "Too many Received headers (%zu): mail loop",
		    tx->hs.received);
	else if (tx->data.long_line)
		smtp_session_reply(s, 500, ESC_SYNTAX, "Message contains a line longer than %zu octets",
		    cfg->max_line_length);
	else if (tx->verify) {
		s->cmdline = NULL;
		verify_finish(tx->verify, &tx->hs, on_verified, s);
		return CONN_PENDING;
	} else
		return tx_commit(s);
	lmtp_repeat_reply(s, start);
	tx_end(s);
	return CONN_DONE;
}

/* DATA body octets, dot-stuffed, up to the lone dot. */
enum conn_step
smtp_tx_feed_data(struct smtp_session *s, const char *p, size_t n, size_t *used_r)
{
	struct smtp_tx *tx = s->tx;
	size_t used = smtp_data_feed(&tx->data, p, n, &tx->chunk);

	if (used == (size_t)-1) {
		*used_r = 0;
		smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory");
		return CONN_CLOSE;
	}
	*used_r = used;
	if (!tx->too_big && tx->data.size > s->cfg->max_message_size) {
		/* RFC 1870 §6.2: read to the end, then 552. */
		tx->too_big = true;
		tx->data.discard = true;
		buf_reset(&tx->chunk);
	}
	if (tx->chunk.len >= FLUSH_AT)
		tx_flush(tx, false);
	if (!tx->data.done)
		return CONN_DONE;
	conn_raw_end(s->conn);
	tx->size = tx->data.size;
	return end_of_message(s);
}

/* BDAT chunk octets (RFC 3030): stored as they are, no dot-stuffing;
 * n == 0 when the chunk is complete. */
enum conn_step
smtp_tx_feed_bdat(struct smtp_session *s, const char *p, size_t n, size_t *used_r)
{
	struct smtp_tx *tx = s->tx;
	bool discard = s->bdat_reply.len > 0;

	*used_r = n;
	if (n > 0) {
		if (discard)
			return CONN_DONE;
		if (buf_append(&tx->chunk, p, n) == -1) {
			*used_r = 0;
			smtp_session_reply(s, 451, ESC_SYSTEM_ERROR, "Out of memory");
			return CONN_CLOSE;
		}
		/* Not dot-stuffed, but held to DATA's rules all the same
		 * (RFC 5321 §2.3.8, §4.5.3.1.6): a bare CR or LF or an
		 * over-long line refuses the message at its end, so
		 * nothing tern accepts can be read two ways further on. */
		smtp_data_check_raw(&tx->data, tx->chunk.data + tx->chunk.len - n, n);
		tx->size += n;
		if (tx->chunk.len >= FLUSH_AT)
			tx_flush(tx, false);
		return CONN_DONE;
	}
	s->cmdline = "(end of chunk)";
	s->cmdlen = 14;
	smtp_session_idle_timeout(s);
	if (discard) {
		reply_raw(s, &s->bdat_reply);
		buf_reset(&s->bdat_reply);
		if (s->bdat_last && s->tx) {
			smtp_tx_free(&s->tx);
			smtp_session_enter(s, S_READY);
		} else
			smtp_session_enter(s, s->bdat_return);
	} else if (!s->bdat_last) {
		tx_flush(tx, false);
		smtp_session_enter(s, S_RCPT);
		smtp_session_reply(s, 250, ESC_OK, "%llu octets received", (unsigned long long)tx->size);
	} else {
		smtp_data_raw_end(&tx->data);
		return end_of_message(s);
	}
	s->cmdline = NULL;
	return CONN_DONE;
}

enum conn_step
smtp_tx_cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	struct buf err = BUF_INIT;

	(void)arg;
	if (len != 0)
		return smtp_session_refuse(s, 501, ESC_BAD_ARGS, "Syntax: DATA");
	if (s->state == S_MAIL) {
		/* RFC 2033 §4.2: 503 in LMTP. */
		smtp_session_reply(s, s->lmtp ? 503 : 554, ESC_INVALID_CMD, "No valid recipients");
		return CONN_DONE;
	}
	if (s->state != S_RCPT || s->tx->chunking)
		return smtp_session_refuse(s, 503, ESC_INVALID_CMD, "%s", s->state == S_RCPT ?
		    "DATA not allowed after BDAT" : "Need RCPT before DATA");
	if (!tx_open_queue(s, &err)) {
		reply_raw(s, &err);
		buf_release(&err);
		smtp_tx_free(&s->tx);
		smtp_session_enter(s, S_READY);
		return CONN_DONE;
	}
	smtp_session_enter(s, S_DATA);
	smtp_session_reply(s, 354, "", "End data with <CR><LF>.<CR><LF>");
	conn_set_timeout(s->conn, s->cfg->data_timeout);
	conn_raw_begin(s->conn);
	return CONN_DONE;
}

enum conn_step
smtp_tx_cmd_bdat(struct smtp_session *s, const char *arg, size_t len)
{
	const struct config *cfg = s->cfg;
	struct smtp_tx *tx = s->tx;
	uint64_t size;
	bool last;

	if (smtp_cmd_parse_bdat(arg, len, &size, &last) != SMTP_CMD_OK) {
		/* Without a size we cannot find the next command. */
		smtp_session_reply(s, 501, ESC_BAD_ARGS, "Syntax: BDAT size [LAST]");
		return CONN_CLOSE;
	}
	s->bdat_last = last;
	s->bdat_return = s->state;
	buf_reset(&s->bdat_reply);
	if (s->state == S_MAIL)
		smtp_reply_format(&s->bdat_reply, 554, ESC_INVALID_CMD, "No valid recipients");
	else if (s->state != S_RCPT)
		smtp_reply_format(&s->bdat_reply, 503, ESC_INVALID_CMD, "Need RCPT before BDAT");
	else if (tx->bdat_error.len)
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	else if (!tx->chunking && !tx_open_queue(s, &tx->bdat_error))
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	else if (size > cfg->max_message_size - tx->size) {
		/* Not tx->size + size: that wraps for a size near 2^64. (tx->size
		 * never exceeds the limit: a chunk over it is not stored.) */
		smtp_reply_format(&tx->bdat_error, 552, ESC_MSG_TOO_BIG,
		    "Message size exceeds fixed maximum message size");
		buf_append(&s->bdat_reply, tx->bdat_error.data, tx->bdat_error.len);
	}
	if (tx && s->state == S_RCPT)
		tx->chunking = true;
	smtp_session_enter(s, S_BDAT);
	conn_set_timeout(s->conn, cfg->data_timeout);
	conn_raw_count(s->conn, size);
	return CONN_DONE;
}
