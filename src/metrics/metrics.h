/*
 * metrics: the counters, gauges and histograms ternd exposes to
 * Prometheus (docs/metrics.md), and their text exposition. This module
 * owns them: one file-static registry, bumped through the functions
 * below by whoever sees the event (maillog for mail events, net/conn for
 * sessions and TLS, dns, queue/commit, authsvc).
 *
 * Loop thread only: every bump is a plain increment, so a call from an
 * I/O thread would be a data race. Work measured on the I/O pool (the
 * group commit's syncs) is timed there and observed from its completion
 * on the loop.
 *
 * Every label value comes from a fixed set (services, statuses, reasons)
 * or, for TLS, from OpenSSL's names, kept to [A-Za-z0-9_.-] in a table of
 * bounded size: no client can make a series of its own.
 */
#ifndef TERN_METRICS_H
#define TERN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* The services sessions are counted under (listener_conf.service). */
enum metrics_service {
	METRICS_SMTP, METRICS_SUBMISSION, METRICS_SMTPS, METRICS_LMTP,
	METRICS_POP3, METRICS_POP3S, METRICS_IMAP, METRICS_IMAPS,
	METRICS_CONTROL,            /* ternctl on the control socket */
	METRICS_OTHER,
	METRICS_NSERVICES
};

/* The service of a listener's name ("smtp", ...); METRICS_OTHER if none. */
enum metrics_service metrics_service_of(const char *name);

const char *metrics_service_name(enum metrics_service svc);
/* Sessions open now under svc (ternctl status). */
uint64_t metrics_sessions_active(enum metrics_service svc);

/* Monotonic seconds, for timing what a histogram observes. */
double metrics_now(void);
/* The process started now (uptime and start time are measured from here). */
void metrics_started(void);

void metrics_session_open(enum metrics_service svc);
void metrics_session_close(enum metrics_service svc);
/* A connection refused by max_connections or max_connections_per_ip. */
void metrics_connection_refused(void);
/* A message was queued (or delivered directly) and the client got 250. */
void metrics_message_accepted(void);
/* An SMTP/LMTP command refused: reply is the reply line ("550 5.1.1 ..."). */
void metrics_rejection(const char *reply);
/* One recipient's delivery attempt: status "sent", "deferred", "bounced";
 * dsn its enhanced code (4.4.7 on a bounce: expired); relay as the
 * delivery line logs it ("local", "lmtp:...", else SMTP). */
void metrics_delivery(const char *status, const char *dsn, const char *relay);
/* A delivery status notification queued (queued) or not (failed). */
void metrics_dsn(bool queued);
/* A login refused: reason NULL (wrong password or unknown user),
 * "client-locked" or "account-locked". */
void metrics_auth_failure(const char *reason);
/* A TLS handshake done, inbound (a client of ours) or outbound (our SMTP
 * or LMTP client); info is "VERSION CIPHER[ ...]" as tls_bev_describe
 * writes it. */
void metrics_tls_handshake(bool outbound, const char *info);
void metrics_tls_failure(bool outbound);
/* Seconds one group commit batch spent on its syncs and renames. */
void metrics_commit_observe(double seconds);
/* Seconds one DNS question took to be answered (or to fail). */
void metrics_dns_observe(double seconds);

/* What the queue says at scrape time (queue_summarize). */
struct metrics_queue {
	bool known;                 /* false: no queue (yet) */
	uint64_t messages, deferred, held, octets;
	double oldest_age;          /* seconds; 0 when empty */
};

/* What the network process says of itself at scrape time (/proc, the
 * allocator): the standard process_* metrics and the heap. */
struct metrics_process {
	bool known;
	uint64_t rss;               /* octets resident */
	uint64_t open_fds, max_fds;
	uint64_t heap_in_use;       /* octets the allocator handed out */
	uint64_t heap_free;         /* octets it holds free in its arenas */
	double cpu_seconds;         /* user and system */
};

/* Appends the whole exposition (text format 0.0.4) to out; q and p may be
 * NULL. -1: out of memory (out then holds part of it). */
int metrics_render(struct buf *out, const struct metrics_queue *q,
    const struct metrics_process *p);

/* Back to zero, as at startup (unit tests). */
void metrics_reset(void);

#endif
