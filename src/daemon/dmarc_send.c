/*
 * dmarc_send: a finished day of DMARC results becomes aggregate reports in
 * the queue (see dmarc_send.h).
 *
 * One day file at a time: the pool reads, aggregates and composes every
 * message (whole-file work), the loop then checks external destinations
 * (RFC 9990: the rua host must publish "POLICY._report._dmarc.HOST" when
 * it is outside the policy domain) and queues each report; when the last
 * is committed the file becomes .sent and the next day, if any, follows.
 */
#include "dmarc_send.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/iopool.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../dns/dns.h"
#include "../proto/dmarc_report.h"
#include "../proto/dnsq.h"
#include "../queue/queue.h"

#define FIRST_RUN_S 2           /* after the start: yesterday's, at once */
#define PERIOD_S 3600
#define MAX_URIS 8              /* rua destinations per domain */
#define MAX_OUT 10000           /* report messages from one day */
#define AGG_DOMAINS 10000
#define AGG_ROWS 200000
#define EXT_TIMEOUT_MS 20000

struct batch;

/* One report to one address. */
struct out {
	struct batch *b;
	size_t index;
	char to[DMARC_REPORT_ADDR_MAX];
	char domain[DMARC_DOMAIN_MAX];
	char ext[DNSQ_NAME_MAX];     /* the authorization to look up; "" if internal */
	bool authorized;
	struct buf msg;
	struct dnsq_cache cache;
	struct dns_eval *eval;
};

/* One day file, from the pool to the last commit. */
struct batch {
	struct dmarc_sender *s;
	uint32_t gen;
	/* copied from the config when the job starts: a reload may come */
	char data_dir[CONFIG_PATH_MAX], hostname[256], org[256], from[512];
	/* what the pool found and made */
	bool found;
	char path[CONFIG_PATH_MAX + 64], day[32];
	size_t lines, bad, skipped;
	uint64_t dropped;
	struct out *out;
	size_t nout, cap;
	/* on the loop */
	size_t pending;
	bool failed;
};

struct dmarc_sender {
	struct event_base *base;
	struct iopool *pool;
	struct queue *q;
	struct dns *dns;
	const struct config *cfg;
	struct event *timer;
	struct batch *batch;         /* in flight */
	uint32_t gen;
};

/* The one sender: commit callbacks find it by their cookie's generation. */
static struct dmarc_sender *live;

static void
schedule(struct dmarc_sender *s, int seconds)
{
	const struct timeval tv = { seconds, 0 };

	evtimer_add(s->timer, &tv);
}

static void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nout; i++) {
		dns_eval_cancel(&b->out[i].eval);
		dnsq_release(&b->out[i].cache);
		buf_release(&b->out[i].msg);
	}
	free(b->out);
	free(b);
}

/* ---------------------------------------------------------- the pool -- */

static void
day_of(int64_t t, char *out, size_t outsize)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, outsize, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* "YYYY-MM-DD.log" */
static bool
day_file(const char *name)
{
	static const char pat[] = "dddd-dd-dd.log";
	size_t i;

	if (strlen(name) != sizeof(pat) - 1)
		return false;
	for (i = 0; i < sizeof(pat) - 1; i++)
		if (pat[i] == 'd' ? !(name[i] >= '0' && name[i] <= '9') : name[i] != pat[i])
			return false;
	return true;
}

/* The oldest finished day not yet reported, into b->day; false if none. */
static bool
find_day(struct batch *b)
{
	char dir[CONFIG_PATH_MAX + 16], today[32];
	struct dirent *de;
	DIR *d;

	day_of((int64_t)time(NULL), today, sizeof(today));
	snprintf(dir, sizeof(dir), "%s/dmarc", b->data_dir);
	if ((d = opendir(dir)) == NULL)
		return false;
	b->day[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (!day_file(de->d_name) || strncmp(de->d_name, today, 10) >= 0)
			continue;
		if (b->day[0] == '\0' || strncmp(de->d_name, b->day, 10) < 0)
			str_copyn(b->day, sizeof(b->day), de->d_name, 10);
	}
	closedir(d);
	if (b->day[0] == '\0')
		return false;
	snprintf(b->path, sizeof(b->path), "%s/%s.log", dir, b->day);
	return true;
}

static int64_t
day_begin(const char *day)
{
	struct tm tm = { 0 };

	tm.tm_year = atoi(day) - 1900;
	tm.tm_mon = atoi(day + 5) - 1;
	tm.tm_mday = atoi(day + 8);
	return (int64_t)timegm(&tm);
}

/* The rua host is within the policy domain's organization, as far as
 * names show it: the same name, or one under the other. */
static bool
internal(const char *policy, const char *host)
{
	size_t np = strlen(policy), nh = strlen(host);

	if (np == nh)
		return strcasecmp(policy, host) == 0;
	if (np < nh)
		return host[nh - np - 1] == '.' && strcasecmp(host + nh - np, policy) == 0;
	return policy[np - nh - 1] == '.' && strcasecmp(policy + np - nh, host) == 0;
}

static struct out *
out_add(struct batch *b)
{
	struct out *o;

	if (b->nout == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 8;
		struct out *n = realloc(b->out, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		b->out = n;
		b->cap = cap;
	}
	o = &b->out[b->nout];
	memset(o, 0, sizeof(*o));
	o->b = b;
	o->index = b->nout++;
	dnsq_init(&o->cache);
	return o;
}

/* The reports of one policy domain, one message per rua address. */
static void
compose_domain(struct batch *b, const struct dmarc_report_agg *agg,
    const struct dmarc_report_domain *d, int64_t begin)
{
	struct dmarc_report_uri uri[MAX_URIS];
	size_t n = 0, skipped = 0, i;
	struct buf xml = BUF_INIT;
	char id[DMARC_REPORT_ID_MAX];
	struct dmarc_report_meta meta = {
		.org_name = b->org, .email = b->from, .receiver = b->hostname,
		.report_id = id, .begin = begin, .end = begin + 86399, .generator = "tern",
	};

	dmarc_report_rua_parse(d->policy.rua, uri, MAX_URIS, &n, &skipped);
	b->skipped += skipped;
	if (n == 0 || dmarc_report_id(b->hostname, d->domain, begin, id, sizeof(id)) == -1 ||
	    dmarc_report_xml(&meta, agg, d, &xml) == -1) {
		buf_release(&xml);
		return;
	}
	for (i = 0; i < n && b->nout < MAX_OUT; i++) {
		const char *host = strrchr(uri[i].addr, '@');
		struct dmarc_report_mail m = {
			.meta = &meta, .policy_domain = d->domain, .from = b->from,
			.to = uri[i].addr, .now = (int64_t)time(NULL), .xml = xml.data,
			.xml_len = xml.len,
		};
		struct out *o;

		if (host == NULL || (o = out_add(b)) == NULL) {
			b->skipped++;
			continue;
		}
		str_copy(o->to, sizeof(o->to), uri[i].addr);
		str_copy(o->domain, sizeof(o->domain), d->domain);
		if (dmarc_report_message(&m, &o->msg) == -1 || !dmarc_report_uri_fits(&uri[i], o->msg.len) ||
		    (!internal(d->domain, host + 1) &&
		    dmarc_report_ext_name(d->domain, host + 1, o->ext, sizeof(o->ext)) == -1)) {
			buf_release(&o->msg);
			b->nout--;
			b->skipped++;
		}
	}
	buf_release(&xml);
}

static void
batch_work(void *arg)
{
	struct batch *b = arg;
	struct dmarc_report_agg agg;
	struct dmarc_report_result r;
	struct buf text = BUF_INIT;
	size_t i, start = 0;
	int64_t begin;
	int fd;

	if (!(b->found = find_day(b)))
		return;
	if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) == -1 || fileio_read_all(fd, &text) == -1) {
		if (fd != -1)
			close(fd);
		buf_release(&text);
		b->failed = true;
		return;
	}
	close(fd);
	dmarc_report_agg_init(&agg, AGG_DOMAINS, AGG_ROWS);
	/* A torn last line (a crash while appending) parses as bad: skipped. */
	for (i = 0; i <= text.len; i++) {
		if (i < text.len && text.data[i] != '\n')
			continue;
		if (i > start) {
			b->lines++;
			if (dmarc_report_line_parse(text.data + start, i - start, &r) == -1)
				b->bad++;
			else if (dmarc_report_agg_add(&agg, &r) == -1)
				b->failed = true;
		}
		start = i + 1;
	}
	buf_release(&text);
	b->dropped = agg.dropped;
	begin = day_begin(b->day);
	if (!b->failed && dmarc_report_agg_sort(&agg) == 0)
		for (i = 0; i < agg.ndoms; i++)
			compose_domain(b, &agg, &agg.doms[i], begin);
	dmarc_report_agg_release(&agg);
}

/* ---------------------------------------------------------- the loop -- */

static void
batch_end(struct batch *b)
{
	struct dmarc_sender *s = b->s;
	char sent[sizeof(b->path) + 8];

	if (!b->failed) {
		snprintf(sent, sizeof(sent), "%.*s.sent", (int)(strlen(b->path) - 4), b->path);
		if (rename(b->path, sent) == -1) {
			log_warn("dmarc: rename %s", b->path);
			b->failed = true;
		}
	}
	log_info("event=dmarc-reports day=%s lines=%zu bad=%zu dropped=%llu reports=%zu skipped=%zu%s",
	    b->day, b->lines, b->bad, (unsigned long long)b->dropped, b->nout, b->skipped,
	    b->failed ? " note=\"kept, tried again in an hour\"" : "");
	s->batch = NULL;
	/* Another finished day may wait; a failure waits for the next round. */
	schedule(s, b->failed ? PERIOD_S : 1);
	batch_free(b);
}

static void
out_done(struct out *o)
{
	struct batch *b = o->b;

	if (--b->pending == 0)
		batch_end(b);
}

static void
on_committed(uint64_t cookie, enum queue_err err, const char *id)
{
	struct batch *b = live ? live->batch : NULL;
	size_t index = (size_t)(cookie & 0xffffffffu);
	struct out *o;

	if (b == NULL || (uint32_t)(cookie >> 32) != b->gen || index >= b->nout)
		return;
	o = &b->out[index];
	if (err != QUEUE_OK) {
		b->failed = true;
		log_warnx("event=dmarc-report-failed domain=%s to=%s", o->domain, o->to);
	} else
		log_info("id=%s event=dmarc-report domain=%s to=%s", id, o->domain, o->to);
	out_done(o);
}

static void
inject(struct out *o)
{
	struct batch *b = o->b;
	struct dmarc_sender *s = b->s;

	if (queue_inject(s->q, b->from, o->to, o->msg.data, o->msg.len, on_committed,
	    ((uint64_t)b->gen << 32) | o->index) == -1) {
		b->failed = true;
		log_warnx("event=dmarc-report-failed domain=%s to=%s reason=\"cannot queue\"",
		    o->domain, o->to);
		out_done(o);
	}
}

/* RFC 9990: an outside destination agrees with a "v=DMARC1" record. */
static int
ext_eval(void *arg, struct dnsq_cache *c)
{
	struct out *o = arg;
	const struct dnsq_answer *a = dnsq_get(c, o->ext, DNSQ_TXT);
	char txt[512];
	size_t i;

	if (a == NULL)
		return DNSQ_NEED;
	o->authorized = false;
	for (i = 0; a->st == DNSQ_OK && i < a->n; i++)
		if (dnsq_txt(a->rr[i], a->rrlen[i], txt, sizeof(txt)) >= 0 && dmarc_report_ext_ok(txt))
			o->authorized = true;
	return 0;
}

static void
ext_done(void *arg, int rc)
{
	struct out *o = arg;

	if (rc == 0 && o->authorized) {
		inject(o);
		return;
	}
	o->b->skipped++;
	log_info("event=dmarc-report-skipped domain=%s to=%s reason=\"no authorization at %s\"",
	    o->domain, o->to, o->ext);
	out_done(o);
}

static void
batch_done(void *arg)
{
	struct batch *b = arg;
	struct dmarc_sender *s = b->s;
	size_t i, n;

	if (!b->found) {
		s->batch = NULL;
		batch_free(b);
		schedule(s, PERIOD_S);
		return;
	}
	if (b->nout == 0 || b->failed) {
		batch_end(b);
		return;
	}
	/* Every report counts until it is queued or given up; the count is
	 * set first, as a commit may come back before the loop ends. */
	n = b->pending = b->nout;
	for (i = 0; i < n; i++) {
		struct out *o = &b->out[i];

		if (o->ext[0] == '\0') {
			inject(o);
			continue;
		}
		o->eval = dns_eval_start(s->dns, &o->cache, EXT_TIMEOUT_MS, ext_eval, ext_done, o);
		if (o->eval == NULL) {
			b->skipped++;
			out_done(o);
		}
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_sender *s = arg;
	struct batch *b;

	(void)fd;
	(void)what;
	if (s->batch != NULL)
		return;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		schedule(s, PERIOD_S);
		return;
	}
	b->s = s;
	b->gen = ++s->gen;
	str_copy(b->data_dir, sizeof(b->data_dir), s->cfg->data_dir);
	str_copy(b->hostname, sizeof(b->hostname), s->cfg->hostname);
	str_copy(b->org, sizeof(b->org), s->cfg->dmarc_report_org);
	str_copy(b->from, sizeof(b->from), s->cfg->dmarc_report_from);
	if (iopool_submit(s->pool, batch_work, batch_done, b) == -1) {
		free(b);
		schedule(s, PERIOD_S);
		return;
	}
	s->batch = b;
}

struct dmarc_sender *
dmarc_sender_new(struct event_base *base, struct iopool *pool, struct queue *q,
    struct dns *dns, const struct config *cfg)
{
	struct dmarc_sender *s;

	if (!cfg->dmarc_reports || dns == NULL)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->timer = evtimer_new(base, on_timer, s)) == NULL) {
		free(s);
		log_warnx("dmarc: out of memory: no aggregate reports");
		return NULL;
	}
	s->base = base;
	s->pool = pool;
	s->q = q;
	s->dns = dns;
	s->cfg = cfg;
	live = s;
	schedule(s, FIRST_RUN_S);
	return s;
}

void
dmarc_sender_set_config(struct dmarc_sender *s, const struct config *cfg)
{
	if (s != NULL)
		s->cfg = cfg;
}

void
dmarc_sender_free(struct dmarc_sender **sp)
{
	struct dmarc_sender *s = *sp;

	if (s == NULL)
		return;
	event_free(s->timer);
	batch_free(s->batch);
	if (live == s)
		live = NULL;
	free(s);
	*sp = NULL;
}
