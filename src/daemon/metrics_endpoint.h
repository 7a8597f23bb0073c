/*
 * metrics_endpoint: ternd's Prometheus endpoint (metrics_listen,
 * docs/metrics.md): net/http_serve serving GET /metrics, the page made
 * of src/metrics/'s registry and the queue's summary at scrape time.
 */
#ifndef TERN_DAEMON_METRICS_ENDPOINT_H
#define TERN_DAEMON_METRICS_ENDPOINT_H

struct config;
struct event_base;
struct http_serve;
struct metrics_process;
struct queue;

/*
 * Binds metrics_listen when it is configured (before the sandbox, with
 * the other listeners), not yet accepting; *out stays NULL when it is
 * not. queue points to where the queue will be once it is open (the
 * page leaves the queue's gauges out until then). -1: cannot bind
 * (logged). Also marks the process start for tern_start_time_seconds.
 */
int metrics_endpoint_bind(struct event_base *base, const struct config *cfg,
    struct queue *const *queue, struct http_serve **out);


/* This process now: memory, CPU, descriptors, the allocator's heap
 * (the metrics page and ternctl status). */
void metrics_endpoint_process(struct metrics_process *p);

#endif
