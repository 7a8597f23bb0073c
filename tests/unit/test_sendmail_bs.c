/*
 * test_sendmail_bs: the dialogue of sendmail -bs as a table: what the
 * caller writes, the replies it must get and the messages handed back,
 * fed whole and in pieces of every size from 1 to 13 octets (a reply or
 * a message must not depend on where the reads split the input).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sendmail_bs.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define GREET "220 host.test ESMTP tern (sendmail -bs)\r\n"
#define EHLO_REPLY "250-host.test\r\n250-PIPELINING\r\n250-SIZE 200\r\n" \
	"250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define QUEUED "250 2.0.0 Ok: queued as ID\r\n"

struct dialogue {
	const char *name;
	const char *in;
	const char *replies;    /* after the greeting */
	const char *messages;   /* "<from> to,to\n" then the message, each */
	int last;               /* the last event: QUIT or MORE */
};

static const struct dialogue table[] = {
	{ "one message, CRLF",
	  "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
	  "Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	  EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	  "354 End data with <CR><LF>.<CR><LF>\r\n" QUEUED "221 2.0.0 Bye\r\n",
	  "<a@x.test> b@y.test\nSubject: s\r\n\r\nbody\r\n", SENDMAIL_BS_QUIT },
	{ "LF lines (Symfony), a dot unstuffed, the lone dot ends",
	  "HELO c\nMAIL FROM:<a@x.test>\nRCPT TO:<b@y.test>\nRCPT TO:<Postmaster>\nDATA\n"
	  "..one\n.two\n.\nNOOP\n",
	  "250 host.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	  "354 End data with <CR><LF>.<CR><LF>\r\n" QUEUED "250 2.0.0 Ok\r\n",
	  "<a@x.test> b@y.test,pm@host.test\n.one\r\ntwo\r\n", SENDMAIL_BS_MORE },
	{ "two messages, the null sender, after RSET",
	  "EHLO c\r\nMAIL FROM:<> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n"
	  "RSET\r\nMAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\ny\r\n.\r\n",
	  EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	  QUEUED "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	  "354 End data with <CR><LF>.<CR><LF>\r\n" QUEUED,
	  "<> b@y.test\nx\r\n<c@x.test> d@y.test\ny\r\n", SENDMAIL_BS_MORE },
	{ "order: HELO first, MAIL before RCPT, RCPT before DATA, no nesting",
	  "MAIL FROM:<a@x.test>\r\nEHLO c\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
	  "MAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\nDATA\r\n",
	  "503 5.5.1 Send HELO or EHLO first\r\n" EHLO_REPLY
	  "503 5.5.1 Need MAIL before RCPT\r\n503 5.5.1 Need MAIL command\r\n"
	  "250 2.1.0 Ok\r\n503 5.5.1 Nested MAIL command\r\n554 5.5.1 No valid recipients\r\n",
	  "", SENDMAIL_BS_MORE },
	{ "what is not offered",
	  "EHLO c\r\nMAIL FROM:<a@x.test> RET=FULL\r\nMAIL FROM:<a@x.test> ENVID=x\r\n"
	  "MAIL FROM:<a@x.test> SMTPUTF8\r\nMAIL FROM:<a@x.test> BODY=BINARYMIME\r\n"
	  "MAIL FROM:<a@x.test> AUTH=<>\r\nMAIL FROM:<a@x.test> FOO=1\r\n"
	  "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test> NOTIFY=NEVER\r\n"
	  "RCPT TO:<b@y.test> ORCPT=rfc822;b@y.test\r\nSTARTTLS\r\nAUTH PLAIN\r\n"
	  "BDAT 1 LAST\r\nEXPN x\r\nVRFY x\r\nHELP\r\nFROB\r\n",
	  EHLO_REPLY "555 5.5.4 Unsupported parameter\r\n555 5.5.4 Unsupported parameter\r\n"
	  "555 5.5.4 Unsupported parameter\r\n555 5.5.4 Unsupported parameter\r\n"
	  "555 5.5.4 Unsupported parameter\r\n555 5.5.4 Unsupported parameter\r\n"
	  "250 2.1.0 Ok\r\n"
	  "555 5.5.4 Unsupported parameter (DSN is not offered here)\r\n"
	  "555 5.5.4 Unsupported parameter (DSN is not offered here)\r\n"
	  "502 5.5.1 Command not implemented\r\n502 5.5.1 Command not implemented\r\n"
	  "502 5.5.1 Command not implemented\r\n502 5.5.1 Command not implemented\r\n"
	  "252 2.5.0 Cannot VRFY user; try RCPT\r\n214 2.0.0 See sendmail(1) and RFC 5321\r\n"
	  "500 5.5.1 Command unrecognized\r\n",
	  "", SENDMAIL_BS_MORE },
	{ "syntax",
	  "EHLO\r\nHELO\r\nEHLO c\r\nMAIL TO:<a@x.test>\r\nMAIL FROM:<a b>\r\n"
	  "MAIL FROM:<a@x.test>\r\nRCPT TO:<>\r\nRCPT TO:<b@y.test> NOTIFY\r\n"
	  "RCPT TO:<j\xc3\xb6@y.test>\r\nDATA x\r\nNO\0OP\r\n",
	  "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: HELO hostname\r\n" EHLO_REPLY
	  "501 5.5.4 Syntax: MAIL FROM:<address>\r\n501 5.1.7 Bad sender address syntax\r\n"
	  "250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n"
	  "501 5.5.4 Syntax error in parameters\r\n"
	  "553 5.6.7 Non-ASCII address: SMTPUTF8 is not offered here\r\n"
	  "501 5.5.4 Syntax: DATA\r\n500 5.5.2 Syntax error: NUL or bare CR in the command\r\n",
	  "", SENDMAIL_BS_MORE },
	{ "a command line too long, the next one read",
	  "EHLO c\r\nNOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
	  "NOOP\r\n",
	  EHLO_REPLY "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n", "", SENDMAIL_BS_MORE },
	{ "too big: SIZE, then the data itself; the session goes on",
	  "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=201\r\nMAIL FROM:<a@x.test>\r\n"
	  "RCPT TO:<b@y.test>\r\nDATA\r\n"
	  "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	  "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	  "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
	  ".\r\nRCPT TO:<b@y.test>\r\n",
	  EHLO_REPLY "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	  "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	  "503 5.5.1 Need MAIL before RCPT\r\n",
	  "", SENDMAIL_BS_MORE },
	{ "a message line too long",
	  "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
	  "0123456789012345678901234567890123456789012345678901234567890123456789\r\n.\r\n",
	  EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	  "500 5.5.2 Message contains a line longer than 64 octets\r\n", "", SENDMAIL_BS_MORE },
	{ "lone CRs in the message become line ends; \".\\r\" then text is a stuffed line",
	  "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
	  "a\rb\r\n.\rc\r\n.x\r\n.\r\n",
	  EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	  QUEUED, "<a@x.test> b@y.test\na\r\nb\r\n\r\nc\r\nx\r\n", SENDMAIL_BS_MORE },
	{ "EHLO ends a transaction; after QUIT nothing is read",
	  "EHLO c\r\nMAIL FROM:<a@x.test>\r\nEHLO c\r\nRCPT TO:<b@y.test>\r\nQUIT\r\nNOOP\r\n",
	  EHLO_REPLY "250 2.1.0 Ok\r\n" EHLO_REPLY "503 5.5.1 Need MAIL before RCPT\r\n"
	  "221 2.0.0 Bye\r\n", "", SENDMAIL_BS_QUIT },
};

/* Feeds in in pieces of size step (0: whole); returns the last event. */
static int
run(const struct dialogue *d, size_t step, struct buf *replies, struct buf *msgs)
{
	struct sendmail_bs s;
	size_t len = strlen(d->in), off = 0;
	int ev = SENDMAIL_BS_MORE;

	/* The NUL of the "syntax" row is part of the input. */
	if (strcmp(d->name, "syntax") == 0)
		len += strlen(d->in + len + 1) + 1;
	sendmail_bs_init(&s, "host.test", "pm@host.test", 200, 64);
	while (off < len && ev != SENDMAIL_BS_QUIT) {
		size_t n = step && len - off > step ? step : len - off, used, k = 0;

		while (k < n) {
			ev = sendmail_bs_feed(&s, d->in + off + k, n - k, &used);
			assert_int_not_equal(ev, -1);
			if (ev == SENDMAIL_BS_MORE)
				assert_int_equal(used, n - k);    /* all of it */
			k += used;
			if (ev == SENDMAIL_BS_MESSAGE) {
				buf_printf(msgs, "<%s> ", s.sender);
				for (size_t r = 0; r < s.nrcpts; r++)
					buf_printf(msgs, "%s%s", r ? "," : "", s.rcpts[r]);
				buf_append(msgs, "\n", 1);
				buf_append(msgs, s.msg.data, s.msg.len);
				sendmail_bs_stored(&s, "ID", 0, NULL, NULL);
				ev = SENDMAIL_BS_MORE;     /* the caller reads on */
			} else if (ev == SENDMAIL_BS_QUIT)
				break;
		}
		off += k;
	}
	buf_append(replies, s.out.data, s.out.len);
	sendmail_bs_clear(&s);
	return ev;
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < NELEM(table); k++) {
		const struct dialogue *d = &table[k];

		for (size_t step = 0; step <= 13; step++) {
			struct buf replies = BUF_INIT, msgs = BUF_INIT;
			int ev = run(d, step, &replies, &msgs);

			if (strncmp(buf_cstr(&replies), GREET, strlen(GREET)) != 0 ||
			    strcmp(buf_cstr(&replies) + strlen(GREET), d->replies) != 0 ||
			    strcmp(buf_cstr(&msgs), d->messages) != 0 || ev != d->last) {
				print_error("%s (pieces of %zu):\nreplies:\n%s\nmessages:\n%s\n",
				    d->name, step, buf_cstr(&replies), buf_cstr(&msgs));
				fail();
			}
			buf_release(&replies);
			buf_release(&msgs);
		}
	}
}

/* A refused store: its reply, and the next transaction starts clean. */
static void
test_store_refused(void **state)
{
	struct sendmail_bs s;
	static const char in[] = "HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
	    "DATA\r\nx\r\n.\r\nRCPT TO:<b@y.test>\r\n";
	size_t used, off;

	(void)state;
	sendmail_bs_init(&s, "host.test", "", 0, 0);
	assert_int_equal(sendmail_bs_feed(&s, in, sizeof(in) - 1, &used), SENDMAIL_BS_MESSAGE);
	assert_true(used < sizeof(in) - 1);
	assert_false(sendmail_bs_in_data(&s));
	sendmail_bs_stored(&s, NULL, 452, "4.3.1", "Insufficient system storage");
	off = used;
	assert_int_equal(sendmail_bs_feed(&s, in + off, sizeof(in) - 1 - off, &used),
	    SENDMAIL_BS_MORE);
	assert_int_equal(off + used, sizeof(in) - 1);
	assert_non_null(strstr(buf_cstr(&s.out), "452 4.3.1 Insufficient system storage\r\n"
	    "503 5.5.1 Need MAIL before RCPT\r\n"));
	assert_int_equal(s.nrcpts, 0);
	sendmail_bs_clear(&s);
}

/* Input that stops inside DATA: the caller sees it and sends nothing. */
static void
test_cut_off(void **state)
{
	struct sendmail_bs s;
	static const char in[] = "HELO c\nMAIL FROM:<a@x.test>\nRCPT TO:<postmaster>\n"
	    "DATA\nhalf";
	size_t used;

	(void)state;
	sendmail_bs_init(&s, "host.test", "", 0, 0);
	assert_int_equal(sendmail_bs_feed(&s, in, sizeof(in) - 1, &used), SENDMAIL_BS_MORE);
	assert_int_equal(used, sizeof(in) - 1);
	assert_true(sendmail_bs_in_data(&s));
	assert_string_equal(s.rcpts[0], "postmaster@host.test");
	sendmail_bs_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_store_refused),
		cmocka_unit_test(test_cut_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
