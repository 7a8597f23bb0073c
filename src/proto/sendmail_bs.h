/*
 * sendmail_bs: the SMTP dialogue of `sendmail -bs` (SMTP on stdin and
 * stdout), as PHP's Symfony Mailer and SwiftMailer speak it by default.
 * Pure: fed the caller's bytes in any chunking, it appends the replies to
 * out and hands back each complete message; tern-sendmail does the I/O and
 * writes each message as a maildrop file (docs/sendmail.md).
 *
 * The peer is the local user who ran the program, who could as well have
 * written the file with plain sendmail, so the rules are a local pipe's,
 * not the network's: a line ends at LF (a CR before it is dropped), the
 * data ends at a line holding a lone ".", and a leading dot is removed
 * (RFC 5321 §4.5.2). Everything inside the message becomes CRLF lines as
 * plain sendmail's input does (maildrop_input).
 */
#ifndef TERN_SENDMAIL_BS_H
#define TERN_SENDMAIL_BS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "maildrop.h"
#include "smtp_addr.h"

/* RFC 5321 §4.5.3.1.4: a command line, CRLF included. */
#define SENDMAIL_BS_LINE_MAX 512

enum sendmail_bs_event {
	SENDMAIL_BS_MORE,      /* all input used: write out, read more */
	SENDMAIL_BS_MESSAGE,   /* a message is complete: store it, then
	                        * sendmail_bs_stored() */
	SENDMAIL_BS_QUIT,      /* QUIT answered: write out, exit */
};

struct sendmail_bs {
	const char *hostname;
	const char *postmaster; /* for RCPT <postmaster>; "": postmaster@hostname */
	uint64_t max_size;      /* 0: no limit */
	size_t max_line;        /* a message line with its CRLF; 0: no limit */

	int state;              /* command, data, quit */
	bool greeted;           /* HELO or EHLO seen */
	bool in_tx;             /* MAIL accepted */
	bool skip;              /* an over-long command line: drop to its LF */
	char line[SENDMAIL_BS_LINE_MAX + 1];
	size_t linelen;

	/* The transaction; sender "" is the null sender. */
	char sender[SMTP_PATH_MAX + 1];
	char **rcpts;           /* owned, each one's string too */
	size_t nrcpts;

	/* DATA: where a line starts, its dot and CR are held back. */
	int dstate;
	bool too_big;
	struct maildrop_input in;
	struct buf msg;         /* the message, CRLF lines */

	struct buf out;         /* replies not yet written */
	bool oom;               /* a reply could not be added */
};

/* Sets the session up and puts the greeting in out. */
void sendmail_bs_init(struct sendmail_bs *s, const char *hostname,
    const char *postmaster, uint64_t max_size, size_t max_line);
void sendmail_bs_clear(struct sendmail_bs *s);

/*
 * Consumes in[0 .. n): *used_r octets of it. Stops early only for
 * SENDMAIL_BS_MESSAGE and SENDMAIL_BS_QUIT; the rest is to be fed again
 * after. -1 when out of memory (the session cannot go on).
 */
int sendmail_bs_feed(struct sendmail_bs *s, const char *in, size_t n,
    size_t *used_r);

/*
 * The message handed back (s->sender, s->rcpts, s->msg) was stored as id,
 * or not (id NULL): code, enhanced code and text say why (4xx or 5xx).
 * Puts the reply in out and ends the transaction.
 */
void sendmail_bs_stored(struct sendmail_bs *s, const char *id, int code,
    const char *esc, const char *why);

/* The input ended in the middle of a message (nothing was stored). */
bool sendmail_bs_in_data(const struct sendmail_bs *s);

#endif
