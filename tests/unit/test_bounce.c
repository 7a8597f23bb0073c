/*
 * test_bounce: delivery status notifications (RFC 3464, RFC 3462
 * multipart/report). The result is taken apart with plain string checks:
 * the header, the three parts between the boundaries, the per-message and
 * per-recipient fields, the returned original (all of it, or only its
 * header for RET=HDRS and for every report without a failure), which
 * NOTIFY conditions are honoured for which clients, xtext decoding of ENVID and ORCPT, and when the
 * notification needs 8BITMIME.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_cmd.h"
#include "queue/bounce.h"

#define NOW     1764057992      /* 2025-11-25 08:06:32 UTC */
#define ARRIVAL 1764050000

static const char original[] =
    "Received: from client.example (client.example [192.0.2.9])\r\n"
    "\tby mx.example.org with ESMTP id 661154E0EFD7F000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "The body of the message.\r\n"
    "Second line.\r\n";

struct fixture {
	struct envelope env;
	struct courier_result res[4];
	struct bounce_item items[4];
	size_t n;
};

static void
fixture_init(struct fixture *f, int ret)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->env.id, "661154E0EFD7F000", QUEUE_ID_LEN + 1);
	f->env.arrival = ARRIVAL;
	f->env.ret = ret;
	assert_int_equal(envelope_set(&f->env.sender, "alice@example.org"), 0);
	assert_int_equal(envelope_set(&f->env.helo, "client.example"), 0);
	assert_int_equal(envelope_set(&f->env.client, "192.0.2.9"), 0);
	assert_int_equal(envelope_set(&f->env.proto, "ESMTP"), 0);
	assert_int_equal(envelope_set(&f->env.envid, "QQ+2B1+3Dx"), 0);
	/* 0: failed at a remote server, ORCPT in xtext */
	assert_int_equal(envelope_add_rcpt(&f->env, "bob@example.net",
	    "bob@example.net", "rfc822;bob+2Bext@example.net",
	    SMTP_NOTIFY_FAILURE, false), 0);
	/* 1: delayed, no remote reply; rewritten by an alias */
	assert_int_equal(envelope_add_rcpt(&f->env, "carol@example.org",
	    "info@example.org", "", 0, true), 0);
	/* 2: delivered locally */
	assert_int_equal(envelope_add_rcpt(&f->env, "dave@example.org",
	    "dave@example.org", "", SMTP_NOTIFY_SUCCESS, true), 0);

	f->res[0].status = DELIVER_PERM;
	strcpy(f->res[0].dsn, "5.1.1");
	strcpy(f->res[0].relay, "mx.example.net[198.51.100.7]:25");
	strcpy(f->res[0].detail, "550 5.1.1 <bob@example.net>: user unknown");
	f->res[0].remote_code = 550;

	f->res[1].status = DELIVER_TEMP;
	strcpy(f->res[1].dsn, "4.2.2");
	strcpy(f->res[1].relay, "local");
	strcpy(f->res[1].detail, "mailbox full");

	f->res[2].status = DELIVER_OK;
	strcpy(f->res[2].dsn, "2.0.0");
	strcpy(f->res[2].relay, "local");
	strcpy(f->res[2].detail, "delivered to maildir");
}

static void
fixture_item(struct fixture *f, size_t rcpt, enum dsn_action a)
{
	f->items[f->n].rcpt = &f->env.rcpts[rcpt];
	f->items[f->n].res = &f->res[rcpt];
	f->items[f->n].action = a;
	f->n++;
}

static void
fixture_clear(struct fixture *f)
{
	envelope_clear(&f->env);
}

/* A notification split into its parts. */
struct dsn {
	char *all;              /* NUL-terminated copy */
	size_t len;
	char *header;           /* the top-level header, up to its empty line */
	char boundary[128];
	char *part[3];          /* each part: its header, empty line, content */
	size_t npart;
	bool eightbit;
};

static char *
dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
dsn_free(struct dsn *d)
{
	size_t i;

	free(d->all);
	free(d->header);
	for (i = 0; i < d->npart; i++)
		free(d->part[i]);
	memset(d, 0, sizeof(*d));
}

/* Composes and checks the framing every notification must have. */
static void
compose(struct fixture *f, const char *orig, size_t orig_len, struct dsn *d)
{
	struct buf out = BUF_INIT;
	char delim[160], close_delim[160];
	const char *p, *b, *body, *end;
	size_t i;

	memset(d, 0, sizeof(*d));
	assert_int_equal(bounce_compose("mx.example.org", f->env.id, &f->env,
	    f->items, f->n, "alice@example.org", orig, orig_len, NOW, &out,
	    &d->eightbit), 0);
	d->all = dupn(out.data, out.len);
	d->len = out.len;
	buf_release(&out);

	/* CRLF line ends only, no line over 998 octets (RFC 5322 §2.1.1),
	 * no NUL (RFC 5321 §4.5.2 forbids it in DATA) */
	for (i = 0, p = d->all; i < d->len; i++) {
		if (d->all[i] == '\n') {
			assert_true(i > 0 && d->all[i - 1] == '\r');
			assert_true((size_t)(d->all + i - p) <= 999);
			p = d->all + i + 1;
		} else if (d->all[i] == '\r')
			assert_true(i + 1 < d->len && d->all[i + 1] == '\n');
		assert_true(d->all[i] != '\0');
	}
	assert_true(d->len >= 2 && memcmp(d->all + d->len - 2, "\r\n", 2) == 0);

	/* the top-level header */
	body = strstr(d->all, "\r\n\r\n");
	assert_non_null(body);
	d->header = dupn(d->all, (size_t)(body - d->all) + 2);
	body += 4;
	assert_non_null(strstr(d->header, "Content-Type: multipart/report; report-type=delivery-status;"));
	b = strstr(d->header, "boundary=\"");
	assert_non_null(b);
	b += strlen("boundary=\"");
	assert_non_null(strchr(b, '"'));
	assert_true((size_t)(strchr(b, '"') - b) < sizeof(d->boundary));
	memcpy(d->boundary, b, (size_t)(strchr(b, '"') - b));
	d->boundary[strchr(b, '"') - b] = '\0';
	/* RFC 2046 §5.1.1: 1 to 70 characters */
	assert_true(strlen(d->boundary) >= 1 && strlen(d->boundary) <= 70);

	/* the body: preamble, then exactly three parts, then the close
	 * delimiter as the very last line */
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", d->boundary);
	snprintf(close_delim, sizeof(close_delim), "\r\n--%s--\r\n", d->boundary);
	assert_true(d->len > strlen(close_delim));
	end = d->all + d->len - strlen(close_delim);
	assert_memory_equal(end, close_delim, strlen(close_delim));
	/* the preamble ends with CRLF, so the first delimiter is found with it */
	p = strstr(body - 2, delim);
	assert_non_null(p);
	while (p != NULL && p < end) {
		const char *start = p + strlen(delim), *next = strstr(start, delim);

		if (next == NULL || next > end)
			next = end;
		assert_true(d->npart < 3);
		d->part[d->npart++] = dupn(start, (size_t)(next - start));
		p = next < end ? next : NULL;
	}
	assert_int_equal(d->npart, 3);
	/* the close delimiter occurs once */
	assert_true(strstr(d->all, close_delim) == end);
}

/* The value of field name in text (a header or a delivery-status group),
 * copied into out; NULL if absent. */
static const char *
field(const char *text, const char *name, char *out, size_t outsize)
{
	const char *p = text;
	size_t nl = strlen(name);

	for (;;) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			assert_non_null(e);
			assert_true((size_t)(e - v) < outsize);
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return out;
		}
		if ((p = strstr(p, "\r\n")) == NULL)
			return NULL;
		p += 2;
	}
}

/* The n-th (0-based) per-recipient group of the delivery-status part. */
static char *
recipient_group(const struct dsn *d, size_t n)
{
	const char *p = strstr(d->part[1], "\r\n\r\n");   /* end of the part header */
	size_t i;

	assert_non_null(p);
	p += 4;
	/* the per-message group comes first */
	for (i = 0; i <= n; i++) {
		p = strstr(p, "\r\n\r\n");
		if (p == NULL)
			return NULL;
		p += 4;
	}
	if (*p == '\0')
		return NULL;
	{
		const char *e = strstr(p, "\r\n\r\n");

		return dupn(p, e ? (size_t)(e - p) + 2 : strlen(p));
	}
}

static void
test_failed_full(void **state)
{
	struct fixture f;
	struct dsn d;
	char v[1024], *g;

	(void)state;
	fixture_init(&f, SMTP_RET_UNSET);
	fixture_item(&f, 0, DSN_FAILED);
	compose(&f, original, sizeof(original) - 1, &d);

	/* the header */
	assert_non_null(field(d.header, "From", v, sizeof(v)));
	assert_string_equal(v, "Mail Delivery System <MAILER-DAEMON@mx.example.org>");
	assert_non_null(field(d.header, "To", v, sizeof(v)));
	assert_string_equal(v, "<alice@example.org>");
	assert_non_null(field(d.header, "Subject", v, sizeof(v)));
	assert_string_equal(v, "Undelivered Mail Returned to Sender");
	assert_non_null(field(d.header, "Date", v, sizeof(v)));
	assert_string_equal(v, "Tue, 25 Nov 2025 08:06:32 +0000");
	assert_non_null(field(d.header, "Message-ID", v, sizeof(v)));
	assert_true(v[0] == '<' && strchr(v, '@') && v[strlen(v) - 1] == '>');
	assert_non_null(field(d.header, "Auto-Submitted", v, sizeof(v)));
	assert_string_equal(v, "auto-replied");
	assert_non_null(field(d.header, "MIME-Version", v, sizeof(v)));
	assert_string_equal(v, "1.0");

	/* part 1: for a person, with the remote's own words */
	assert_non_null(strstr(d.part[0], "Content-Type: text/plain"));
	assert_non_null(strstr(d.part[0], "<bob@example.net>: host mx.example.net[198.51.100.7]:25 said: "
	    "550 5.1.1 <bob@example.net>: user unknown"));
	assert_non_null(strstr(d.part[0], "postmaster@mx.example.org"));

	/* part 2: RFC 3464 fields */
	assert_non_null(strstr(d.part[1], "Content-Type: message/delivery-status\r\n\r\n"));
	assert_non_null(field(d.part[1], "Reporting-MTA", v, sizeof(v)));
	assert_string_equal(v, "dns; mx.example.org");
	assert_non_null(field(d.part[1], "Original-Envelope-Id", v, sizeof(v)));
	assert_string_equal(v, "QQ+1=x");
	assert_non_null(field(d.part[1], "Arrival-Date", v, sizeof(v)));
	assert_string_equal(v, "Tue, 25 Nov 2025 05:53:20 +0000");
	g = recipient_group(&d, 0);
	assert_non_null(g);
	assert_non_null(field(g, "Final-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; bob@example.net");
	assert_non_null(field(g, "Original-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; bob+ext@example.net");
	assert_non_null(field(g, "Action", v, sizeof(v)));
	assert_string_equal(v, "failed");
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "5.1.1");
	assert_non_null(field(g, "Remote-MTA", v, sizeof(v)));
	assert_string_equal(v, "dns; mx.example.net");
	assert_non_null(field(g, "Diagnostic-Code", v, sizeof(v)));
	assert_string_equal(v, "smtp; 550 5.1.1 <bob@example.net>: user unknown");
	assert_non_null(field(g, "Last-Attempt-Date", v, sizeof(v)));
	assert_string_equal(v, "Tue, 25 Nov 2025 08:06:32 +0000");
	free(g);
	assert_null(recipient_group(&d, 1));

	/* part 3: the whole original (RET unset means FULL) */
	assert_non_null(strstr(d.part[2], "Content-Type: message/rfc822\r\n\r\n"));
	{
		const char *o = strstr(d.part[2], "\r\n\r\n") + 4;

		assert_string_equal(o, original);
	}
	assert_false(d.eightbit);
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_mixed_actions(void **state)
{
	struct fixture f;
	struct dsn d;
	char v[1024], *g;

	(void)state;
	fixture_init(&f, SMTP_RET_FULL);
	fixture_item(&f, 2, DSN_DELIVERED);
	fixture_item(&f, 1, DSN_DELAYED);
	compose(&f, original, sizeof(original) - 1, &d);
	/* the worst outcome names the notification */
	assert_non_null(field(d.header, "Subject", v, sizeof(v)));
	assert_string_equal(v, "Delayed Mail (still being retried)");
	assert_non_null(strstr(d.part[0], "<dave@example.org>: delivered\r\n"));
	assert_non_null(strstr(d.part[0], "<carol@example.org>: mailbox full\r\n"));

	g = recipient_group(&d, 0);
	assert_non_null(g);
	assert_non_null(field(g, "Final-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; dave@example.org");
	assert_null(field(g, "Original-Recipient", v, sizeof(v)));
	assert_non_null(field(g, "Action", v, sizeof(v)));
	assert_string_equal(v, "delivered");
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "2.0.0");
	assert_null(field(g, "Diagnostic-Code", v, sizeof(v)));
	assert_null(field(g, "Remote-MTA", v, sizeof(v)));
	free(g);

	g = recipient_group(&d, 1);
	assert_non_null(g);
	assert_non_null(field(g, "Final-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; carol@example.org");
	/* an alias rewrote it: the address the client gave */
	assert_non_null(field(g, "Original-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; info@example.org");
	assert_non_null(field(g, "Action", v, sizeof(v)));
	assert_string_equal(v, "delayed");
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "4.2.2");
	assert_non_null(field(g, "Diagnostic-Code", v, sizeof(v)));
	assert_string_equal(v, "X-tern; mailbox full");
	free(g);
	assert_null(recipient_group(&d, 2));
	dsn_free(&d);

	/* all delivered: a success report */
	f.n = 0;
	fixture_item(&f, 2, DSN_DELIVERED);
	compose(&f, original, sizeof(original) - 1, &d);
	assert_non_null(field(d.header, "Subject", v, sizeof(v)));
	assert_string_equal(v, "Successful Mail Delivery Report");
	dsn_free(&d);

	/* a failure anywhere makes it a failure report */
	f.n = 0;
	fixture_item(&f, 2, DSN_DELIVERED);
	fixture_item(&f, 1, DSN_DELAYED);
	fixture_item(&f, 0, DSN_FAILED);
	compose(&f, original, sizeof(original) - 1, &d);
	assert_non_null(field(d.header, "Subject", v, sizeof(v)));
	assert_string_equal(v, "Undelivered Mail Returned to Sender");
	g = recipient_group(&d, 2);
	assert_non_null(g);
	assert_non_null(field(g, "Action", v, sizeof(v)));
	assert_string_equal(v, "failed");
	free(g);

	/* a missing status code is filled in per action */
	dsn_free(&d);
	f.res[0].dsn[0] = '\0';
	f.res[1].dsn[0] = '\0';
	f.res[2].dsn[0] = '\0';
	compose(&f, original, sizeof(original) - 1, &d);
	g = recipient_group(&d, 0);
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "2.0.0");
	free(g);
	g = recipient_group(&d, 1);
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "4.0.0");
	free(g);
	g = recipient_group(&d, 2);
	assert_non_null(field(g, "Status", v, sizeof(v)));
	assert_string_equal(v, "5.0.0");
	free(g);
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_ret_hdrs(void **state)
{
	struct fixture f;
	struct dsn d;
	const char *o;
	size_t hl = (size_t)(strstr(original, "\r\n\r\n") - original) + 2;

	(void)state;
	fixture_init(&f, SMTP_RET_HDRS);
	fixture_item(&f, 0, DSN_FAILED);
	compose(&f, original, sizeof(original) - 1, &d);
	assert_non_null(strstr(d.part[2], "Content-Type: text/rfc822-headers\r\n\r\n"));
	assert_null(strstr(d.part[2], "message/rfc822"));
	o = strstr(d.part[2], "\r\n\r\n") + 4;
	/* the header, up to and including its last CRLF, and nothing else */
	assert_int_equal(strlen(o), hl);
	assert_memory_equal(o, original, hl);
	assert_null(strstr(d.all, "The body of the message."));
	assert_null(strstr(d.all, "Second line."));
	dsn_free(&d);

	/* a message without a body at all: the whole of it is the header */
	compose(&f, "Subject: x\r\n", 12, &d);
	o = strstr(d.part[2], "\r\n\r\n") + 4;
	assert_string_equal(o, "Subject: x\r\n");
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_original_without_final_crlf(void **state)
{
	static const char orig[] = "Subject: x\r\n\r\nno newline at the end";
	struct fixture f;
	struct dsn d;
	const char *o;

	(void)state;
	fixture_init(&f, SMTP_RET_FULL);
	fixture_item(&f, 0, DSN_FAILED);
	/* compose() checks that the close delimiter is on a line of its own */
	compose(&f, orig, sizeof(orig) - 1, &d);
	o = strstr(d.part[2], "\r\n\r\n") + 4;
	assert_string_equal(o, "Subject: x\r\n\r\nno newline at the end\r\n");
	dsn_free(&d);
	/* an empty original */
	compose(&f, "", 0, &d);
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_xtext(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "a+2Bb", "a+b" },
		{ "+2B+3D+2B", "+=+" },
		{ "+41+42", "AB" },
		/* lower-case hex is not xtext: left alone */
		{ "a+2bb", "a+2bb" },
		/* incomplete or bad escapes are copied */
		{ "a+", "a+" },
		{ "a+2", "a+2" },
		{ "a+G0", "a+G0" },
		{ "a+0", "a+0" },
		/* CR, LF, NUL and other controls never reach the header */
		{ "a+0D+0Ab", "a  b" },
		{ "a+00b", "a b" },
		{ "a+09b+7F", "a b " },
		/* 8-bit octets decode as they are */
		{ "+C3+A9", "\xc3\xa9" },
	};
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(bounce_xtext_decode(cases[i].in, &b), 0);
		assert_int_equal(b.len, strlen(cases[i].out));
		assert_string_equal(buf_cstr(&b), cases[i].out);
	}
	buf_release(&b);
}

static void
test_orcpt_and_envid(void **state)
{
	struct fixture f;
	struct dsn d;
	char v[1024], *g;

	(void)state;
	fixture_init(&f, SMTP_RET_HDRS);
	/* ORCPT without a type: rfc822 assumed; a NUL and a CRLF in it */
	free(f.env.rcpts[0].orcpt);
	f.env.rcpts[0].orcpt = strdup("bob+00x+0D+0AX-Evil:+20y@example.net");
	/* another address type is kept */
	free(f.env.rcpts[1].orcpt);
	f.env.rcpts[1].orcpt = strdup("utf-8;caf+C3+A9@example.org");
	assert_int_equal(envelope_set(&f.env.envid, "id+0D+0ABcc:+20x"), 0);
	fixture_item(&f, 0, DSN_FAILED);
	fixture_item(&f, 1, DSN_FAILED);
	compose(&f, original, sizeof(original) - 1, &d);

	assert_non_null(field(d.part[1], "Original-Envelope-Id", v, sizeof(v)));
	assert_string_equal(v, "id  Bcc: x");
	/* no header field was injected */
	assert_null(strstr(d.all, "\r\nBcc:"));
	assert_null(strstr(d.all, "\r\nX-Evil:"));
	g = recipient_group(&d, 0);
	assert_non_null(field(g, "Original-Recipient", v, sizeof(v)));
	assert_string_equal(v, "rfc822; bob x  X-Evil: y@example.net");
	free(g);
	g = recipient_group(&d, 1);
	assert_non_null(field(g, "Original-Recipient", v, sizeof(v)));
	assert_string_equal(v, "utf-8; caf\xc3\xa9@example.org");
	free(g);
	/* the decoded UTF-8 makes the notification 8-bit */
	assert_true(d.eightbit);
	dsn_free(&d);

	/* no ENVID: no field */
	assert_int_equal(envelope_set(&f.env.envid, ""), 0);
	free(f.env.rcpts[1].orcpt);
	f.env.rcpts[1].orcpt = strdup("");
	compose(&f, original, sizeof(original) - 1, &d);
	assert_null(field(d.part[1], "Original-Envelope-Id", v, sizeof(v)));
	assert_false(d.eightbit);
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_eightbit(void **state)
{
	static const char hdr8[] = "Subject: caf\xc3\xa9\r\n\r\nplain body\r\n";
	static const char body8[] = "Subject: plain\r\n\r\nna\xc3\xafve body\r\n";
	struct fixture f;
	struct dsn d;

	(void)state;
	fixture_init(&f, SMTP_RET_FULL);
	fixture_item(&f, 0, DSN_FAILED);
	compose(&f, original, sizeof(original) - 1, &d);
	assert_false(d.eightbit);
	dsn_free(&d);
	compose(&f, body8, sizeof(body8) - 1, &d);
	assert_true(d.eightbit);
	dsn_free(&d);
	compose(&f, hdr8, sizeof(hdr8) - 1, &d);
	assert_true(d.eightbit);
	dsn_free(&d);
	fixture_clear(&f);

	/* RET=HDRS: only the returned header counts */
	fixture_init(&f, SMTP_RET_HDRS);
	fixture_item(&f, 0, DSN_FAILED);
	compose(&f, body8, sizeof(body8) - 1, &d);
	assert_false(d.eightbit);
	dsn_free(&d);
	compose(&f, hdr8, sizeof(hdr8) - 1, &d);
	assert_true(d.eightbit);
	dsn_free(&d);

	/* 8-bit text in the remote's reply */
	strcpy(f.res[0].detail, "550 5.1.1 Empf\xc3\xa4nger unbekannt");
	compose(&f, original, sizeof(original) - 1, &d);
	assert_true(d.eightbit);
	dsn_free(&d);
	fixture_clear(&f);
}

static void
test_relayed(void **state)
{
	struct fixture f;
	struct dsn d;
	char v[1024], *g;

	(void)state;
	fixture_init(&f, SMTP_RET_HDRS);
	f.res[0].status = DELIVER_OK;
	strcpy(f.res[0].dsn, "2.0.0");
	strcpy(f.res[0].detail, "250 2.0.0 queued as 1234");
	f.res[0].remote_code = 250;
	fixture_item(&f, 0, DSN_RELAYED);
	compose(&f, original, sizeof(original) - 1, &d);
	assert_non_null(field(d.header, "Subject", v, sizeof(v)));
	assert_string_equal(v, "Successful Mail Delivery Report");
	assert_non_null(strstr(d.part[0], "<bob@example.net>: relayed to mx.example.net[198.51.100.7]:25\r\n"));
	g = recipient_group(&d, 0);
	assert_non_null(field(g, "Action", v, sizeof(v)));
	assert_string_equal(v, "relayed");
	assert_non_null(field(g, "Remote-MTA", v, sizeof(v)));
	assert_string_equal(v, "dns; mx.example.net");
	free(g);
	dsn_free(&d);
	fixture_clear(&f);
}

/* A failure an LMTP server reported: its reply is the diagnostic; the
 * host is the Remote-MTA over TCP, and a unix socket names none. */
static void
test_lmtp_failed(void **state)
{
	static const struct {
		const char *relay, *mta;
	} cases[] = {
		{ "lmtp:dovecot.example.org[192.0.2.24]:24", "dns; dovecot.example.org" },
		{ "lmtp:unix:/run/dovecot/lmtp", NULL },
	};
	struct fixture f;
	struct dsn d;
	char v[1024], *g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_init(&f, SMTP_RET_HDRS);
		strcpy(f.res[0].relay, cases[i].relay);
		strcpy(f.res[0].dsn, "5.2.2");
		strcpy(f.res[0].detail, "552 5.2.2 <bob@example.net> Quota exceeded");
		f.res[0].remote_code = 552;
		f.res[0].final_hop = true;
		fixture_item(&f, 0, DSN_FAILED);
		compose(&f, original, sizeof(original) - 1, &d);
		g = recipient_group(&d, 0);
		assert_non_null(g);
		assert_non_null(field(g, "Status", v, sizeof(v)));
		assert_string_equal(v, "5.2.2");
		assert_non_null(field(g, "Diagnostic-Code", v, sizeof(v)));
		assert_string_equal(v, "smtp; 552 5.2.2 <bob@example.net> Quota exceeded");
		if (cases[i].mta) {
			assert_non_null(field(g, "Remote-MTA", v, sizeof(v)));
			assert_string_equal(v, cases[i].mta);
		} else
			assert_null(field(g, "Remote-MTA", v, sizeof(v)));
		free(g);
		dsn_free(&d);
		fixture_clear(&f);
	}
}

/*
 * What the third part returns, for every RET and every kind of report:
 * RET decides only for a failure report; success, relay and delay reports
 * return the header whatever RET says (a success notice with the body
 * would carry spam to a forged sender). A report with a failure anywhere
 * is a failure report.
 */
static void
test_returned_part_by_action(void **state)
{
	static const struct {
		enum dsn_action a1, a2;     /* a2 == a1: one item only */
		int ret;
		bool full;
	} cases[] = {
		{ DSN_FAILED, DSN_FAILED, SMTP_RET_UNSET, true },
		{ DSN_FAILED, DSN_FAILED, SMTP_RET_FULL, true },
		{ DSN_FAILED, DSN_FAILED, SMTP_RET_HDRS, false },
		{ DSN_DELIVERED, DSN_DELIVERED, SMTP_RET_UNSET, false },
		{ DSN_DELIVERED, DSN_DELIVERED, SMTP_RET_FULL, false },
		{ DSN_DELIVERED, DSN_DELIVERED, SMTP_RET_HDRS, false },
		{ DSN_RELAYED, DSN_RELAYED, SMTP_RET_FULL, false },
		{ DSN_DELAYED, DSN_DELAYED, SMTP_RET_UNSET, false },
		{ DSN_DELAYED, DSN_DELAYED, SMTP_RET_FULL, false },
		{ DSN_DELAYED, DSN_DELAYED, SMTP_RET_HDRS, false },
		{ DSN_DELIVERED, DSN_DELAYED, SMTP_RET_FULL, false },
		{ DSN_DELIVERED, DSN_FAILED, SMTP_RET_FULL, true },
		{ DSN_DELAYED, DSN_FAILED, SMTP_RET_UNSET, true },
		{ DSN_DELAYED, DSN_FAILED, SMTP_RET_HDRS, false },
	};
	size_t hl = (size_t)(strstr(original, "\r\n\r\n") - original) + 2, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture f;
		struct dsn d;
		const char *o;

		fixture_init(&f, cases[i].ret);
		/* recipient 0 for a failure, 1 for a delay, 2 otherwise */
		fixture_item(&f, cases[i].a1 == DSN_FAILED ? 0 : cases[i].a1 == DSN_DELAYED ? 1 : 2,
		    cases[i].a1);
		if (cases[i].a2 != cases[i].a1)
			fixture_item(&f, cases[i].a2 == DSN_FAILED ? 0 : 1, cases[i].a2);
		compose(&f, original, sizeof(original) - 1, &d);
		o = strstr(d.part[2], "\r\n\r\n") + 4;
		if (cases[i].full) {
			assert_non_null(strstr(d.part[2], "Content-Type: message/rfc822\r\n\r\n"));
			assert_string_equal(o, original);
		} else {
			assert_non_null(strstr(d.part[2], "Content-Type: text/rfc822-headers\r\n\r\n"));
			assert_null(strstr(d.part[2], "message/rfc822"));
			assert_int_equal(strlen(o), hl);
			assert_memory_equal(o, original, hl);
			assert_null(strstr(d.all, "The body of the message."));
			/* only a failure report speaks of undelivered mail */
			assert_true((strstr(d.part[2], "Undelivered") != NULL) ==
			    (cases[i].a1 == DSN_FAILED || cases[i].a2 == DSN_FAILED));
		}
		dsn_free(&d);
		fixture_clear(&f);
	}
}

/* Success and delay notices only for clients that can vouch for the
 * sender; failure reports as asked. */
static void
test_notify_honoured(void **state)
{
	enum { S = SMTP_NOTIFY_SUCCESS, F = SMTP_NOTIFY_FAILURE,
	    D = SMTP_NOTIFY_DELAY, N = SMTP_NOTIFY_NEVER };
	static const struct { unsigned in; unsigned anon, trusted; } cases[] = {
		{ 0, 0, 0 },                    /* unset: the default (failures) */
		{ N, N, N },
		{ F, F, F },
		{ S, N, S },                    /* not FAILURE either: nothing */
		{ D, N, D },
		{ S | D, N, S | D },
		{ S | F, F, S | F },
		{ D | F, F, D | F },
		{ S | D | F, F, S | D | F },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(bounce_notify_honoured(cases[i].in, false), cases[i].anon);
		assert_int_equal(bounce_notify_honoured(cases[i].in, true), cases[i].trusted);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_full),
		cmocka_unit_test(test_mixed_actions),
		cmocka_unit_test(test_ret_hdrs),
		cmocka_unit_test(test_original_without_final_crlf),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_orcpt_and_envid),
		cmocka_unit_test(test_eightbit),
		cmocka_unit_test(test_relayed),
		cmocka_unit_test(test_lmtp_failed),
		cmocka_unit_test(test_returned_part_by_action),
		cmocka_unit_test(test_notify_honoured),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
