/*
 * envelope: the queue file's envelope block, encoded and decoded. Pure: no
 * I/O, so unit tests and the fuzzer link it directly. The format is in
 * docs/queue.md.
 */
#ifndef TERN_ENVELOPE_H
#define TERN_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/ids.h"

#define ENVELOPE_VERSION 1
/* "\nTERN-END " + 16 hex digits of the message length + "\n" */
#define ENVELOPE_TRAILER_LEN 27

enum rcpt_state { RCPT_PENDING = 0, RCPT_DELIVERED, RCPT_FAILED };

struct envelope_rcpt {
	char *addr;          /* final mailbox, "local@domain" */
	char *orig;          /* as the client gave it in RCPT TO */
	char *orcpt;         /* DSN ORCPT parameter, "" if none */
	unsigned notify;     /* SMTP_NOTIFY_* */
	bool local;
	enum rcpt_state state;  /* from the state file, not the envelope */
};

struct envelope {
	char id[QUEUE_ID_LEN + 1];
	int64_t arrival;     /* unix seconds */
	char *sender;        /* "" for the null sender <> */
	char *helo;
	char *client;        /* IP address */
	char *proto;         /* ESMTP, ESMTPS, ... */
	char *envid;         /* DSN ENVID, "" if none */
	int body;            /* enum smtp_body */
	int ret;             /* enum smtp_ret */
	bool smtputf8;
	bool dkim;           /* sign when it leaves (local origin, own domain) */
	bool arc;            /* seal when it leaves (forwarded from outside) */
	struct envelope_rcpt *rcpts;
	size_t nrcpts;
	size_t rcpt_cap;
};

/* Appends the encoded block ("tern-queue 1\n" ... "end\n") to out. */
int envelope_encode(const struct envelope *env, struct buf *out);

/*
 * Decodes the block at the start of data. On success fills env (which
 * must be zeroed or cleared) and sets *hdrlen_r to the block's length.
 * Returns -1 on any malformation.
 */
int envelope_decode(const char *data, size_t len, struct envelope *env,
    size_t *hdrlen_r);

/* Formats the trailer for a message of msglen octets into out. */
void envelope_trailer(uint64_t msglen, char out[ENVELOPE_TRAILER_LEN + 1]);
/* Checks a trailer; returns the message length or -1. */
int64_t envelope_trailer_parse(const char *p, size_t len);

/* Adds a recipient; strings are copied. */
int envelope_add_rcpt(struct envelope *env, const char *addr,
    const char *orig, const char *orcpt, unsigned notify, bool local);
/* Sets a string field (copied). */
int envelope_set(char **field, const char *value);
void envelope_clear(struct envelope *env);

#endif
