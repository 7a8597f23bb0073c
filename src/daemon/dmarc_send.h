/*
 * dmarc_send: the daily DMARC aggregate reports (RFC 9990). With
 * dmarc_reports on, verify/dmarc_log.c appends a line per checked message
 * to DATA_DIR/dmarc/YYYY-MM-DD.log; a few seconds after the start and
 * every hour after, each finished day's file (before today, UTC) is read
 * on the I/O pool, aggregated per policy domain, and every domain's report
 * is queued to each mailto: of its rua=. Once all are queued the file is
 * renamed to .sent, so a day is reported once; a crash before that sends
 * it again with the same report ids, which RFC 9990 allows.
 */
#ifndef TERN_DMARC_SEND_H
#define TERN_DMARC_SEND_H

struct config;
struct dns;
struct event_base;
struct iopool;
struct queue;

struct dmarc_sender;

/* NULL when dmarc_reports is off (or out of memory: logged). */
struct dmarc_sender *dmarc_sender_new(struct event_base *base, struct iopool *pool,
    struct queue *q, struct dns *dns, const struct config *cfg);
/* A reload's configuration, for the reports made from now on (s may be
 * NULL: reports off). */
void dmarc_sender_set_config(struct dmarc_sender *s, const struct config *cfg);
/* After the I/O pool has drained: cancels the lookups, frees. */
void dmarc_sender_free(struct dmarc_sender **sp);

#endif
