/*
 * maillog: one function per mail event; the only place that formats the
 * lines administrators grep. key=value, queue id first when there is one,
 * every peer-supplied value escaped (log_append_value). docs/logging.md
 * lists the events and their fields.
 */
#ifndef TERN_MAILLOG_H
#define TERN_MAILLOG_H

#include <stddef.h>
#include <stdint.h>

void maillog_connect(uint64_t sid, const char *ip, int port,
    const char *service);
void maillog_refused(const char *ip, const char *reason);
void maillog_disconnect(uint64_t sid, const char *ip, unsigned msgs,
    unsigned cmds, const char *reason);
/* A command refused with a 4xx/5xx reply; cmd is the client's line. */
void maillog_reject(uint64_t sid, const char *ip, const char *cmd,
    size_t cmdlen, const char *reply);
/* A client sent more behind a command that ends a pipelined group
 * (RFC 2920 §3.1) without waiting for its reply. */
void maillog_improper_pipelining(uint64_t sid, const char *ip, const char *cmd,
    size_t cmdlen);
/* msgid: the message's Message-ID (msgid_len octets, not terminated;
 * NULL when it has none), so that `ternctl trace <msgid>` finds it. */
void maillog_queued(const char *id, uint64_t sid, const char *ip,
    const char *from, uint64_t size, size_t nrcpt, const char *proto,
    const char *msgid, size_t msgid_len);
/* status: sent, deferred, bounced, expired */
void maillog_delivery(const char *id, const char *to, const char *orig_to,
    const char *relay, const char *tls, double delay, const char *dsn,
    const char *status, const char *detail);
/* An inbound check's outcome (verify/): check "dnsbl", "sender-domain" or
 * "message" (SPF, DKIM, DMARC: result "spf=pass dkim=none ..."); id "" when
 * no queue id exists yet. */
void maillog_check(const char *id, uint64_t sid, const char *ip,
    const char *check, const char *result, const char *action);
void maillog_removed(const char *id);
/* An administrator's action on a queued message (by: the uid that asked,
 * as digits, logged as uid=N; NULL when the queue carries out one asked
 * for earlier). */
void maillog_admin(const char *id, const char *action, const char *by);
void maillog_flush(const char *domain, size_t messages, const char *by);
void maillog_recovered(size_t messages, size_t removed_tmp, size_t corrupt);
void maillog_corrupt(const char *file, const char *why);

#endif
