/*
 * metrics: the registry and its exposition (see metrics.h, docs/metrics.md).
 *
 * One static struct holds every value; the label sets are fixed arrays
 * indexed by small enums, so a bump is an index and an increment and a
 * scrape walks the arrays. Only the TLS table has names from outside
 * (OpenSSL's version and cipher names), bounded by TLS_SLOTS.
 */
#include "metrics.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "../common/buf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Histogram upper bounds, as numbers and as the le="" text. */
#define HIST_MAX 16

struct hist {
	size_t n;
	double bound[HIST_MAX];
	const char *le[HIST_MAX];
	uint64_t bucket[HIST_MAX + 1];  /* not cumulative; [n] is past the last */
	uint64_t count;
	double sum;
};

/* A group commit is one or two syncfs/fsync calls: from sub-millisecond
 * on tmpfs and NVMe to seconds on a busy disk. */
#define COMMIT_BUCKETS { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, \
	0.25, 0.5, 1, 2.5, 5, 10 }
#define COMMIT_LE { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", \
	"0.1", "0.25", "0.5", "1", "2.5", "5", "10" }
/* A DNS answer: a cache hit in the local resolver to a slow recursion. */
#define DNS_BUCKETS { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, \
	2.5, 5, 10, 30 }
#define DNS_LE { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", \
	"0.25", "0.5", "1", "2.5", "5", "10", "30" }

#define TLS_SLOTS 32
#define TLS_NAME_MAX 64

struct tls_slot {
	bool outbound;
	char version[16];
	char cipher[TLS_NAME_MAX];
	uint64_t n;
};

enum { DEL_SENT, DEL_DEFERRED, DEL_BOUNCED, DEL_EXPIRED, DEL_NSTATUS };
enum { RELAY_LOCAL, RELAY_LMTP, RELAY_SMTP, RELAY_NTYPES };
enum { AUTH_PASSWORD, AUTH_CLIENT_LOCKED, AUTH_ACCOUNT_LOCKED, AUTH_NREASONS };
/* RFC 3463 §3.1 ... §3.8: the subject digit of an enhanced code. */
#define REJ_NSUBJECTS 8

static const char *const service_names[METRICS_NSERVICES] = {
	"smtp", "submission", "smtps", "lmtp", "pop3", "pop3s", "imap", "imaps", "control",
	"other",
};
static const char *const delivery_status_names[DEL_NSTATUS] = {
	"sent", "deferred", "bounced", "expired",
};
static const char *const relay_names[RELAY_NTYPES] = { "local", "lmtp", "smtp" };
static const char *const auth_reason_names[AUTH_NREASONS] = {
	"password", "client_locked", "account_locked",
};
static const char *const subject_names[REJ_NSUBJECTS] = {
	"other", "address", "mailbox", "system", "network", "protocol", "content", "policy",
};
static const char *const class_names[2] = { "transient", "permanent" };
static const char *const direction_names[2] = { "in", "out" };

static struct {
	double start_mono;
	double start_real;
	uint64_t sessions_active[METRICS_NSERVICES];
	uint64_t sessions[METRICS_NSERVICES];
	uint64_t refused;
	uint64_t accepted;
	uint64_t rejected[2][REJ_NSUBJECTS];
	uint64_t deliveries[DEL_NSTATUS][RELAY_NTYPES];
	uint64_t dsn_queued, dsn_failed;
	uint64_t auth_failures[AUTH_NREASONS];
	struct tls_slot tls[TLS_SLOTS];
	size_t ntls;
	uint64_t tls_other[2];          /* handshakes past TLS_SLOTS names */
	uint64_t tls_failures[2];
	struct hist commit;
	struct hist dns;
} m;

static void ready(void);

/* ------------------------------------------------------------ clocks ---- */

static double
clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
metrics_now(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

void
metrics_started(void)
{
	ready();
	m.start_mono = metrics_now();
	m.start_real = clock_seconds(CLOCK_REALTIME);
}

/* ------------------------------------------------------------ updates --- */

static void
hist_init(struct hist *h, const double *bound, const char *const *le, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->n = n < HIST_MAX ? n : HIST_MAX;
	memcpy(h->bound, bound, h->n * sizeof(*bound));
	memcpy(h->le, le, h->n * sizeof(*le));
}

static void
hist_observe(struct hist *h, double v)
{
	size_t i;

	/* A clock that stepped, or a NaN: counted as no time at all. */
	if (!(v >= 0))
		v = 0;
	for (i = 0; i < h->n && v > h->bound[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_reset(void)
{
	memset(&m, 0, sizeof(m));
	ready();
}

/* The registry starts zeroed; the histograms need their bounds, and
 * the clock a start (metrics_started, at startup, sets the real one). */
static void
ready(void)
{
	static const double cb[] = COMMIT_BUCKETS, db[] = DNS_BUCKETS;
	static const char *const cl[] = COMMIT_LE, *const dl[] = DNS_LE;

	if (m.commit.n != 0)
		return;
	hist_init(&m.commit, cb, cl, NELEM(cb));
	hist_init(&m.dns, db, dl, NELEM(db));
	m.start_mono = metrics_now();
	m.start_real = clock_seconds(CLOCK_REALTIME);
}

enum metrics_service
metrics_service_of(const char *name)
{
	size_t i;

	for (i = 0; name && i < METRICS_OTHER; i++) {
		if (strcmp(name, service_names[i]) == 0)
			return (enum metrics_service)i;
	}
	return METRICS_OTHER;
}

const char *
metrics_service_name(enum metrics_service svc)
{
	return service_names[svc];
}

uint64_t
metrics_sessions_active(enum metrics_service svc)
{
	return m.sessions_active[svc];
}

void
metrics_session_open(enum metrics_service svc)
{
	ready();
	m.sessions_active[svc]++;
	m.sessions[svc]++;
}

void
metrics_session_close(enum metrics_service svc)
{
	if (m.sessions_active[svc] > 0)
		m.sessions_active[svc]--;
}

void
metrics_connection_refused(void)
{
	ready();
	m.refused++;
}

void
metrics_message_accepted(void)
{
	ready();
	m.accepted++;
}

void
metrics_rejection(const char *reply)
{
	int subject = 0;

	ready();
	/* "550 5.1.1 ..." or "550-5.1.1 ...": the class from the reply code,
	 * the subject from the enhanced code when there is one. */
	if (reply == NULL || (reply[0] != '4' && reply[0] != '5') || strlen(reply) < 3)
		return;
	if ((reply[3] == ' ' || reply[3] == '-') && reply[4] == reply[0] &&
	    reply[5] == '.' && reply[6] >= '0' && reply[6] < '0' + REJ_NSUBJECTS &&
	    reply[7] == '.')
		subject = reply[6] - '0';
	m.rejected[reply[0] == '5'][subject]++;
}

void
metrics_delivery(const char *status, const char *dsn, const char *relay)
{
	int st, rt;

	ready();
	if (strcmp(status, "sent") == 0)
		st = DEL_SENT;
	else if (strcmp(status, "deferred") == 0)
		st = DEL_DEFERRED;
	else if (strcmp(status, "bounced") == 0)
		/* RFC 3463 4.4.7, given up at queue_lifetime: an expiry. */
		st = dsn && strcmp(dsn, "4.4.7") == 0 ? DEL_EXPIRED : DEL_BOUNCED;
	else
		return;
	if (relay && strcmp(relay, "local") == 0)
		rt = RELAY_LOCAL;
	else if (relay && strncmp(relay, "lmtp:", 5) == 0)
		rt = RELAY_LMTP;
	else
		rt = RELAY_SMTP;
	m.deliveries[st][rt]++;
}

void
metrics_dsn(bool queued)
{
	ready();
	if (queued)
		m.dsn_queued++;
	else
		m.dsn_failed++;
}

void
metrics_auth_failure(const char *reason)
{
	ready();
	if (reason && strcmp(reason, "client-locked") == 0)
		m.auth_failures[AUTH_CLIENT_LOCKED]++;
	else if (reason && strcmp(reason, "account-locked") == 0)
		m.auth_failures[AUTH_ACCOUNT_LOCKED]++;
	else
		m.auth_failures[AUTH_PASSWORD]++;
}

/* The next space-delimited word of *pp into out, kept to the octets a
 * label value may hold unescaped ([A-Za-z0-9_.-]; others become '_'),
 * at most outsize - 1 of them. */
static void
take_word(const char **pp, char *out, size_t outsize)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p == ' ')
		p++;
	for (; *p && *p != ' '; p++) {
		char ch = *p;

		if (n + 1 >= outsize)
			continue;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			ch = '_';
		out[n++] = ch;
	}
	out[n] = '\0';
	if (n == 0 && outsize > 7)
		memcpy(out, "unknown", 8);
	*pp = p;
}

void
metrics_tls_handshake(bool outbound, const char *info)
{
	struct tls_slot s = { .outbound = outbound };
	const char *p = info ? info : "";
	size_t i;

	ready();
	take_word(&p, s.version, sizeof(s.version));
	take_word(&p, s.cipher, sizeof(s.cipher));
	for (i = 0; i < m.ntls; i++) {
		struct tls_slot *t = &m.tls[i];

		if (t->outbound == outbound && strcmp(t->version, s.version) == 0 &&
		    strcmp(t->cipher, s.cipher) == 0) {
			t->n++;
			return;
		}
	}
	if (m.ntls == TLS_SLOTS) {
		m.tls_other[outbound]++;
		return;
	}
	s.n = 1;
	m.tls[m.ntls++] = s;
}

void
metrics_tls_failure(bool outbound)
{
	ready();
	m.tls_failures[outbound]++;
}

void
metrics_commit_observe(double seconds)
{
	ready();
	hist_observe(&m.commit, seconds);
}

void
metrics_dns_observe(double seconds)
{
	ready();
	hist_observe(&m.dns, seconds);
}

/* ------------------------------------------------------------ exposition */

/* The page being written; err once any append ran out of memory. */
struct out {
	struct buf *b;
	int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(o->b, fmt, ap) == -1)
		o->err = -1;
	va_end(ap);
}

static void
family(struct out *out, const char *name, const char *type, const char *help)
{
	put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
hist_render(struct out *out, const char *name, const char *help, const struct hist *h)
{
	uint64_t cum = 0;
	size_t i;

	family(out, name, "histogram", help);
	for (i = 0; i < h->n; i++) {
		cum += h->bucket[i];
		put(out, "%s_bucket{le=\"%s\"} %llu\n", name, h->le[i],
		    (unsigned long long)cum);
	}
	cum += h->bucket[h->n];
	put(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	put(out, "%s_sum %.9f\n", name, h->sum);
	put(out, "%s_count %llu\n", name, (unsigned long long)h->count);
}

/* A counter or gauge with one label over a fixed set of values. */
static void
by_label(struct out *out, const char *name, const char *label,
    const char *const *values, const uint64_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		put(out, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
		    (unsigned long long)v[i]);
}

static void
render_tls(struct out *out)
{
	size_t i;
	int d;

	family(out, "tern_tls_handshakes_total", "counter",
	    "TLS handshakes completed, by direction (in: our clients; out: our SMTP and LMTP client), protocol version and cipher.");
	for (i = 0; i < m.ntls; i++)
		put(out, "tern_tls_handshakes_total{direction=\"%s\",version=\"%s\",cipher=\"%s\"} %llu\n",
		    direction_names[m.tls[i].outbound], m.tls[i].version, m.tls[i].cipher,
		    (unsigned long long)m.tls[i].n);
	for (d = 0; d < 2; d++) {
		if (m.tls_other[d])
			put(out, "tern_tls_handshakes_total{direction=\"%s\",version=\"other\",cipher=\"other\"} %llu\n",
			    direction_names[d], (unsigned long long)m.tls_other[d]);
	}
	family(out, "tern_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed, by direction.");
	by_label(out, "tern_tls_handshake_failures_total", "direction", direction_names,
	    m.tls_failures, 2);
}

static void
render_queue(struct out *out, const struct metrics_queue *q)
{
	if (q == NULL || !q->known)
		return;
	family(out, "tern_queue_messages", "gauge",
	    "Messages in the queue (not counting direct deliveries in progress).");
	put(out, "tern_queue_messages %llu\n", (unsigned long long)q->messages);
	family(out, "tern_queue_deferred_messages", "gauge",
	    "Queued messages that have had a failed attempt and wait for a retry.");
	put(out, "tern_queue_deferred_messages %llu\n", (unsigned long long)q->deferred);
	family(out, "tern_queue_held_messages", "gauge", "Queued messages on hold.");
	put(out, "tern_queue_held_messages %llu\n", (unsigned long long)q->held);
	family(out, "tern_queue_size_bytes", "gauge", "Octets of the queued messages.");
	put(out, "tern_queue_size_bytes %llu\n", (unsigned long long)q->octets);
	family(out, "tern_queue_oldest_message_age_seconds", "gauge",
	    "Age of the oldest queued message; 0 when the queue is empty.");
	put(out, "tern_queue_oldest_message_age_seconds %.3f\n",
	    q->oldest_age > 0 ? q->oldest_age : 0.0);
}

static void
render_process(struct out *out, const struct metrics_process *p)
{
	if (p == NULL || !p->known)
		return;
	/* The names and meanings of Prometheus's own process collectors. */
	family(out, "process_resident_memory_bytes", "gauge",
	    "Resident memory of ternd's network process, in bytes.");
	put(out, "process_resident_memory_bytes %llu\n", (unsigned long long)p->rss);
	family(out, "process_cpu_seconds_total", "counter",
	    "User and system CPU time of ternd's network process, in seconds.");
	put(out, "process_cpu_seconds_total %.3f\n", p->cpu_seconds);
	family(out, "process_open_fds", "gauge", "Open file descriptors of the network process.");
	put(out, "process_open_fds %llu\n", (unsigned long long)p->open_fds);
	family(out, "process_max_fds", "gauge", "The network process's descriptor limit.");
	put(out, "process_max_fds %llu\n", (unsigned long long)p->max_fds);
	family(out, "tern_heap_in_use_bytes", "gauge",
	    "Octets the allocator has handed out in the network process.");
	put(out, "tern_heap_in_use_bytes %llu\n", (unsigned long long)p->heap_in_use);
	family(out, "tern_heap_free_bytes", "gauge",
	    "Octets the allocator holds free in its arenas (fragmentation, or room to reuse).");
	put(out, "tern_heap_free_bytes %llu\n", (unsigned long long)p->heap_free);
}

int
metrics_render(struct buf *page, const struct metrics_queue *q,
    const struct metrics_process *p)
{
	struct out o = { page, 0 }, *out = &o;
	int c, s, r;

	ready();
	family(out, "tern_start_time_seconds", "gauge",
	    "When ternd started, in seconds since the Unix epoch.");
	put(out, "tern_start_time_seconds %.3f\n", m.start_real);
	family(out, "tern_uptime_seconds", "gauge", "Seconds since ternd started.");
	put(out, "tern_uptime_seconds %.3f\n", metrics_now() - m.start_mono);

	family(out, "tern_sessions_active", "gauge", "Open client connections, by service.");
	by_label(out, "tern_sessions_active", "service", service_names, m.sessions_active,
	    METRICS_NSERVICES);
	family(out, "tern_sessions_total", "counter", "Client connections accepted, by service.");
	by_label(out, "tern_sessions_total", "service", service_names, m.sessions,
	    METRICS_NSERVICES);
	family(out, "tern_connections_refused_total", "counter",
	    "Connections refused by max_connections or max_connections_per_ip.");
	put(out, "tern_connections_refused_total %llu\n", (unsigned long long)m.refused);

	family(out, "tern_messages_accepted_total", "counter",
	    "Messages accepted (durable, the client got 250) over SMTP, submission and LMTP.");
	put(out, "tern_messages_accepted_total %llu\n", (unsigned long long)m.accepted);
	family(out, "tern_smtp_rejections_total", "counter",
	    "SMTP and LMTP commands refused with a 4xx (transient) or 5xx (permanent) reply, by the subject of the enhanced status code (RFC 3463).");
	for (c = 0; c < 2; c++) {
		for (s = 0; s < REJ_NSUBJECTS; s++)
			put(out, "tern_smtp_rejections_total{class=\"%s\",reason=\"%s\"} %llu\n",
			    class_names[c], subject_names[s], (unsigned long long)m.rejected[c][s]);
	}
	family(out, "tern_deliveries_total", "counter",
	    "Delivery attempts per recipient, by outcome and by relay type.");
	for (s = 0; s < DEL_NSTATUS; s++) {
		for (r = 0; r < RELAY_NTYPES; r++)
			put(out, "tern_deliveries_total{status=\"%s\",relay=\"%s\"} %llu\n",
			    delivery_status_names[s], relay_names[r],
			    (unsigned long long)m.deliveries[s][r]);
	}
	family(out, "tern_dsns_total", "counter",
	    "Delivery status notifications: queued, or failed to be queued.");
	put(out, "tern_dsns_total{result=\"queued\"} %llu\n", (unsigned long long)m.dsn_queued);
	put(out, "tern_dsns_total{result=\"failed\"} %llu\n", (unsigned long long)m.dsn_failed);
	family(out, "tern_auth_failures_total", "counter",
	    "Logins refused (SMTP AUTH, POP3, IMAP), by reason.");
	by_label(out, "tern_auth_failures_total", "reason", auth_reason_names, m.auth_failures,
	    AUTH_NREASONS);
	render_tls(out);
	render_queue(out, q);
	render_process(out, p);
	hist_render(out, "tern_queue_commit_duration_seconds",
	    "Time one group commit batch spent on its syncs and renames (I/O pool).", &m.commit);
	hist_render(out, "tern_dns_query_duration_seconds",
	    "Time from a DNS question to its answer (or failure).", &m.dns);
	return o.err;
}
