/*
 * metrics_endpoint: the metrics page and its listener (see
 * metrics_endpoint.h). The endpoint is the one place that joins the
 * registry (src/metrics/) and the queue, which the registry's layer may
 * not see.
 */
#include "metrics_endpoint.h"

#include <stddef.h>
#include <time.h>

#include "../common/buf.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../net/http_serve.h"
#include "../queue/queue.h"

/* Prometheus keeps a scrape to 10 s; one that takes longer is dropped. */
#define METRICS_DEADLINE 10
/* A scraper or two, and a person with curl. */
#define METRICS_MAX_CLIENTS 4

static int
metrics_page(void *arg, struct buf *body)
{
	struct queue *const *qp = arg;
	struct metrics_queue mq = { .known = false };

	if (*qp) {
		struct queue_summary s;

		queue_summarize(*qp, &s);
		mq.known = true;
		mq.messages = s.messages;
		mq.deferred = s.deferred;
		mq.held = s.on_hold;
		mq.octets = s.octets;
		mq.oldest_age = s.oldest ? difftime(time(NULL), (time_t)s.oldest) : 0;
	}
	return metrics_render(body, &mq);
}

int
metrics_endpoint_bind(struct event_base *base, const struct config *cfg,
    struct queue *const *queue, struct http_serve **out)
{
	struct http_serve_conf hc = {
		.service = "metrics",
		.host = cfg->metrics_host,
		.port = cfg->metrics_port,
		.path = "/metrics",
		.content_type = "text/plain; version=0.0.4; charset=utf-8",
		.page = metrics_page,
		.arg = (void *)queue,
		.max_clients = METRICS_MAX_CLIENTS,
		.deadline = METRICS_DEADLINE,
	};

	metrics_started();
	*out = NULL;
	if (cfg->metrics_port == 0)
		return 0;
	return (*out = http_serve_new(base, &hc)) ? 0 : -1;
}
