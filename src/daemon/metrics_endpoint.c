/*
 * metrics_endpoint: the metrics page and its listener (see
 * metrics_endpoint.h). The endpoint is the one place that joins the
 * registry (src/metrics/) and the queue, which the registry's layer may
 * not see.
 */
#include "metrics_endpoint.h"

#include <dirent.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../config/config.h"
#include "../metrics/metrics.h"
#include "../net/http_serve.h"
#include "../queue/queue.h"

/* Prometheus keeps a scrape to 10 s; one that takes longer is dropped. */
#define METRICS_DEADLINE 10
/* A scraper or two, and a person with curl. */
#define METRICS_MAX_CLIENTS 4

/* Resident memory from /proc/self/statm, CPU from getrusage, descriptors
 * from /proc/self/fd, as Prometheus's process collector reads them. */
void
metrics_endpoint_process(struct metrics_process *p)
{
	struct rusage ru;
	struct rlimit rl;
	struct mallinfo2 mi = mallinfo2();
	unsigned long long size, resident;
	FILE *f;
	DIR *d;

	memset(p, 0, sizeof(*p));
	p->known = true;
	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(f, "%llu %llu", &size, &resident) == 2)
			p->rss = resident * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		p->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		const struct dirent *e;

		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				p->open_fds++;
		p->open_fds--;     /* the listing's own */
		closedir(d);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		p->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
	p->heap_in_use = mi.uordblks + mi.hblkhd;
	p->heap_free = mi.fordblks;
}

static int
metrics_page(void *arg, struct buf *body)
{
	struct queue *const *qp = arg;
	struct metrics_queue mq = { .known = false };
	struct metrics_process mp;

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
	metrics_endpoint_process(&mp);
	return metrics_render(body, &mq, &mp);
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
