/*
 * submission: the rules of the message submission service (RFC 6409) that
 * do not depend on the protocol a message came in by: the envelope sender
 * and every From: address must belong to the login, and a login may send
 * so many messages an hour. No sessions, no logging: the caller asks, and
 * says what it refused.
 */
#ifndef TERN_SUBMISSION_H
#define TERN_SUBMISSION_H

#include <stdbool.h>
#include <time.h>

#include "../common/buf.h"

struct config;
struct directory;
struct hdr_scan;
struct limtab;
struct smtp_path;

/* RFC 6409 §6.1: from is the login itself, one of its +tag forms, or an
 * alias that delivers to it. */
bool submission_sender_owned(const struct config *cfg, const struct directory *dir,
    const char *login, const struct smtp_path *from);

/* The header's one From: field (RFC 5322 §3.6) and its every address
 * belong to the login. What cannot be read in full is refused, not read in
 * part: a value longer than the scan keeps, an address too long for a
 * path, an unterminated quoted string, comment or angle address. */
bool submission_from_owned(const struct config *cfg, const struct directory *dir,
    const char *login, const struct hdr_scan *hs);

/* RFC 6409 §8.2, §8.3: the Date and Message-ID fields a submitted message
 * lacks (hs: the scan of its header), appended to out as lines for the
 * end of its header; the Message-ID is <id@hostname>. The SMTP submission
 * service and the pickup of tern-sendmail's files add the same. */
int submission_missing_fields(const struct hdr_scan *hs, const char *id,
    const char *hostname, time_t now, struct buf *out);

/* The window of the rates table. */
#define SUBMISSION_RATE_WINDOW 3600

/* Counts one message for login in rates (a limtab with a one-hour window)
 * and says whether it is within limit (0 = no limit; then nothing is
 * counted). */
bool submission_rate_allow(struct limtab *rates, const char *login, unsigned limit,
    time_t now);

#endif
