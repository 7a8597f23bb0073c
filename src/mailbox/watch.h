/*
 * watch: telling sessions that a folder changed (IMAP IDLE and the
 * untagged EXISTS/EXPUNGE/FETCH updates a selected folder owes its
 * client). One inotify descriptor on the event loop watches new/ and
 * cur/ of every folder some session watches, so a change made by anyone
 * — ternd's own deliveries, another session, Dovecot, a shell — is seen
 * at once, without polling. Watchers are called back by cookie (a
 * connection id), never by pointer: a session gone meanwhile is simply
 * not found. Loop thread only.
 */
#ifndef TERN_MAILBOX_WATCH_H
#define TERN_MAILBOX_WATCH_H

#include <stdint.h>

struct event_base;
struct mbox_watch;

/* The folder of watch w changed; cookie is what mbox_watch_add was given. */
typedef void (*mbox_watch_cb)(uint64_t cookie);

/* The service, once per process; -1 when inotify is not available (then
 * no one is told, and sessions see changes at their next command). */
int mbox_watch_init(struct event_base *base);
void mbox_watch_shutdown(void);

/* Watches the folder at dir (its new/ and cur/): cb(cookie) after each
 * burst of changes, once per loop turn at most. NULL when out of memory
 * or the folder cannot be watched. */
struct mbox_watch *mbox_watch_add(const char *dir, mbox_watch_cb cb, uint64_t cookie);
void mbox_watch_remove(struct mbox_watch **wp);

#endif
