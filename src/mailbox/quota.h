/*
 * quota: a user's mail quota, kept the Maildir++ way: the usage is in the
 * `maildirsize` file at the root of the user's Maildir (its format is
 * proto/maildirsize.h), which Dovecot's quota plugin (backend "maildir")
 * reads and writes too, so either server can deliver and expunge and the
 * other still counts right (docs/mailbox.md, Quota).
 *
 * The file is a cache: when it says nothing trustworthy it is made again
 * from the Maildir itself (new/ and cur/ of the INBOX and every Maildir++
 * folder). quota_usage, quota_add and quota_expunged block on the disk:
 * call them on the I/O pool, never on the loop. quota_check is pure.
 */
#ifndef TERN_MAILBOX_QUOTA_H
#define TERN_MAILBOX_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

struct quota_limits {
	uint64_t bytes;      /* 0: no limit */
	uint64_t messages;   /* 0: no limit */
};

struct quota_usage {
	uint64_t bytes;
	uint64_t messages;
	bool recalculated;   /* counted from the Maildir, not read from the file */
	bool fresh;          /* counted now, or read from a file that is one
	                      * count made less than 15 minutes ago */
};

enum quota_verdict {
	QUOTA_OK = 0,       /* the message fits */
	QUOTA_OVER_TEMP,    /* not now; it may once mail is removed (452 4.2.2) */
	QUOTA_NEVER,        /* bigger than the whole quota (552 5.2.2) */
};

/* True when l limits anything. */
bool quota_limited(const struct quota_limits *l);

/*
 * Whether one more message of msg_size octets fits: its size plus the
 * usage at most the byte limit, and one more message within the count
 * limit (Dovecot's rule: a mailbox exactly full is within its quota).
 */
enum quota_verdict quota_check(const struct quota_limits *l,
    const struct quota_usage *u, uint64_t msg_size);

/*
 * The usage of the Maildir at root (its INBOX): the sums of its
 * maildirsize, or, when the file is missing, says it must be
 * (proto/maildirsize: 5120 octets or more, a line that is not two
 * numbers, a negative sum, no usage line), has other limits in its
 * header than l, or is over a limit in a way Dovecot distrusts, a count
 * of new/ and cur/ of the INBOX and its folders (sizes from ",S=" or
 * stat), written back as Dovecot does: a file in tmp/ with the header
 * for l and one totals line, renamed over maildirsize (not fsync'd: it
 * is a cache). The file is not written when a directory changed during
 * the count. A root that does not exist has no mail: 0 and 0. Returns
 * 0, or -1 with errno when the Maildir could not be read.
 */
int quota_usage(const char *root, const struct quota_limits *l,
    struct quota_usage *u);

/*
 * A delivery's question: quota_usage and quota_check, and when the
 * answer is QUOTA_OVER_TEMP on a usage that is not fresh, the same on a
 * new count (written back), since the file may say more than there is
 * and a deferral on it would last until the message bounced. (Not on a
 * fresh one: a full mailbox sent a flood of mail is counted once per 15
 * minutes, or after each change, not once per message.) *v_r gets the
 * verdict (QUOTA_OK when the Maildir cannot be read: -1 with errno).
 */
int quota_check_maildir(const char *root, const struct quota_limits *l,
    uint64_t msg_size, struct quota_usage *u, enum quota_verdict *v_r);

/*
 * Appends "<bytes> <count>" to root's maildirsize with one O_APPEND
 * write: after a delivery (positive) or an expunge (negative). A root
 * without maildirsize is left alone (no quota there, as in Dovecot; the
 * next quota_usage with limits makes the file). Returns 0, or -1 with
 * errno.
 */
int quota_add(const char *root, int64_t bytes, int64_t count);

/* quota_add of the removal of count messages of bytes octets from the
 * folder at dir: the INBOX (the root) or a Maildir++ folder ".<name>",
 * whose maildirsize is its parent's. */
int quota_expunged(const char *dir, uint64_t bytes, uint64_t count);

#endif
