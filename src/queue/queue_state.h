/*
 * queue_state: the state file state/<id> (docs/queue.md), encoded and
 * decoded. Pure: bytes in, fields out; the queue does the file I/O
 * (attempt.c appends after an attempt, recover.c reads at startup), and
 * unit tests and the fuzzer link this directly.
 *
 * Version 2, one record a line:
 *
 *     tern-state 2        the version; first line of a file made by tern 2
 *     d N                 recipient N delivered
 *     f N                 recipient N failed, its DSN already queued
 *     t WHEN ATTEMPTS     the next attempt (unix seconds), attempts so far
 *     w WHEN              the delay warning was queued at WHEN
 *
 * A file without the version line is version 1 (before "w" existed) and
 * reads the same way.
 */
#ifndef TERN_QUEUE_STATE_H
#define TERN_QUEUE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../proto/envelope.h"

#define QUEUE_STATE_VERSION 2
/* A line of more octets (its "\n" included) counts as torn. */
#define QUEUE_STATE_LINE_MAX 127

/* What a state file says besides the recipients' outcomes. */
struct queue_state {
	unsigned version;       /* 1 when the file has no version line */
	int64_t next_try;       /* the last "t" record's; 0 without one */
	unsigned attempts;
	bool warned;            /* a "w" record: no second delay warning */
};

/* The records one attempt appends. */
struct queue_state_update {
	bool new_file;              /* the version line goes first */
	const struct envelope *env; /* recipients' states after the attempt */
	const bool *tried;          /* per recipient: this attempt covered it */
	int64_t next_try;
	unsigned attempts;
	bool warned;                /* this attempt queued the delay warning */
	int64_t now;                /* ... at this time */
};

/* Appends the attempt's lines to out: a "d"/"f" line for each recipient
 * it covered that is no longer pending, its "t", and its "w". 0 or -1
 * when out of memory. */
int queue_state_encode(const struct queue_state_update *u, struct buf *out);

/*
 * Reads a state file's bytes: each "d N" / "f N" with N < env->nrcpts
 * sets env->rcpts[N].state, the rest fills *st. Reading stops at the
 * first line without its "\n" (torn by a crash: "d 1" may be the start
 * of "d 12"), one longer than QUEUE_STATE_LINE_MAX or one holding a NUL.
 * Unknown lines are skipped. Returns 0, or -1 for a file of a later
 * version than QUEUE_STATE_VERSION, whose records are not guessed at.
 */
int queue_state_decode(const char *data, size_t len, struct envelope *env,
    struct queue_state *st);

#endif
