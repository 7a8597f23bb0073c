/*
 * maildrop: the file tern-sendmail leaves in data_dir/maildrop for ternd's
 * pickup (docs/sendmail.md): a short header of escaped words (sender,
 * recipients, the DSN options, the flags the program was given), the
 * message's length, then the message itself with CRLF line ends. Also the
 * two jobs tern-sendmail does on its input before it writes one: the
 * conversion of what a script pipes in (LF or CRLF lines, the lone dot)
 * and the recipients of -t (To, Cc, Bcc; Bcc removed). Pure.
 *
 * The file is written by whoever runs the program, so the pickup trusts
 * nothing in it but its own shape: who wrote it is the file's owner (fstat),
 * never a field.
 */
#ifndef TERN_MAILDROP_H
#define TERN_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

#define MAILDROP_VERSION 1
#define MAILDROP_RCPT_MAX 1000       /* recipients one file may name */
#define MAILDROP_VALUE_MAX 512       /* a decoded value (an address, the name) */
#define MAILDROP_HDR_LINE_MAX 2048   /* a header line of the file, with its LF */
#define MAILDROP_ENVID_MAX 100       /* RFC 3461 §4.4 */

#define MAILDROP_F_T 0x1             /* -t: recipients taken from the header */
#define MAILDROP_F_I 0x2             /* -i: a lone dot did not end the input */

enum maildrop_err {
	MAILDROP_OK = 0,
	MAILDROP_EMAGIC,      /* not a maildrop file, or another version */
	MAILDROP_ESYNTAX,     /* a header line out of shape, order or range */
	MAILDROP_ERCPTS,      /* no recipient, or more than MAILDROP_RCPT_MAX */
	MAILDROP_ESIZE,       /* the message is not the length the header says,
	                       * or longer than allowed */
	MAILDROP_EEOL,        /* a bare CR or LF in the message */
	MAILDROP_ELONG,       /* a message line longer than allowed */
	MAILDROP_ENOMEM,
};

const char *maildrop_strerror(enum maildrop_err e);

/* One file. Decoded strings point into the caller's buffer; rcpts is the
 * struct's own (maildrop_clear). */
struct maildrop {
	const char *sender;   /* "" for the null sender <> */
	const char *fullname; /* "" when not given (-F) */
	unsigned flags;       /* MAILDROP_F_* */
	unsigned notify;      /* SMTP_NOTIFY_*, 0 when not given (-N) */
	int ret;              /* enum smtp_ret (-R) */
	const char *envid;    /* "" when not given (-V) */
	const char **rcpts;
	size_t nrcpts, rcpt_cap;
	const char *msg;      /* CRLF lines */
	size_t msglen;
};

/* Adds a recipient (not copied: it must outlive md). */
int maildrop_add_rcpt(struct maildrop *md, const char *addr);
void maildrop_clear(struct maildrop *md);

/* Appends the whole file (header and message) to out. -1 when out of
 * memory or a value cannot be written (too long; a name or ENVID with
 * control octets). */
int maildrop_encode(const struct maildrop *md, struct buf *out);

/*
 * Reads a whole file, data[0 .. len), decoding it in place (data is
 * changed). max_size bounds the message (0: no bound), max_line its lines
 * with their CRLF (0: no bound). md must be zeroed; clear it after, also
 * on an error.
 */
enum maildrop_err maildrop_decode(char *data, size_t len, uint64_t max_size,
    size_t max_line, struct maildrop *md);

/*
 * What a script pipes in, made into a message with CRLF lines: a line ends
 * at LF, CRLF or a CR not followed by LF; without -i (dot_ends) a line
 * holding a single "." ends the input (sendmail(1): no dot-unstuffing is
 * done, a leading dot stays). A last line without an end gets a CRLF.
 */
struct maildrop_input {
	bool dot_ends;
	bool done;            /* the lone dot was seen: ignore the rest */
	bool cr;              /* the last octet was a CR (its LF may follow) */
	bool dot;             /* the line so far is a single "." */
	size_t linelen;       /* octets of the line so far */
	size_t max_line;      /* with the CRLF; 0: no bound */
	bool long_line;       /* a line was longer */
	uint64_t size;        /* octets written to out */
};
void maildrop_input_init(struct maildrop_input *in, bool dot_ends, size_t max_line);
/* 0, or -1 when out of memory. */
int maildrop_input_feed(struct maildrop_input *in, const char *p, size_t n,
    struct buf *out);
int maildrop_input_end(struct maildrop_input *in, struct buf *out);

/*
 * -t: calls rcpt(arg, address) for every address of the header's To, Cc
 * and Bcc fields (groups opened up, display names and comments skipped,
 * a bare name without '@' passed as it is), and appends the message
 * without its Bcc fields to out. msg has CRLF lines. rcpt returns 0 to go
 * on, anything else stops with MAILDROP_ERCPTS (too many). An address
 * longer than MAILDROP_VALUE_MAX is MAILDROP_ESYNTAX.
 */
enum maildrop_err maildrop_header_rcpts(const char *msg, size_t len, struct buf *out,
    int (*rcpt)(void *arg, const char *addr), void *arg);

#endif
