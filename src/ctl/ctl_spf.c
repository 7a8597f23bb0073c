/*
 * ctl_spf: "ternctl spf" (see the header).
 *
 *   ternctl [-c CONFIG] spf [--resolver IP@PORT] [--timeout SEC]
 *           [--test-zones] IP HELO MAILFROM
 *   ternctl [-c CONFIG] spf [options] --batch  < lines of IP HELO MAILFROM
 *
 * The check is the daemon's own (proto/spf.c over the dnsq cache); only
 * the driver differs: where ternd fetches a missing answer on the loop,
 * this one asks libunbound and waits for it, the whole check bounded by
 * --timeout (20 s by default, the least RFC 7208 §4.6.4 allows). A query
 * still unanswered at the deadline is a DNS error, so the check ends in
 * temperror rather than hanging.
 *
 * libunbound answers the special-use and AS112 zones itself (test.,
 * invalid., the private and documentation reverse zones...). --test-zones
 * makes those zones transparent (a local zone without data: the query goes
 * on to the forwarder; "nodefault" set through ub_ctx_set_option does not
 * take effect), so that a test server can serve them: the RFC
 * 7208 suite uses 192.168.0.0/16, 192.0.2.0/24 and 2001:db8::/32 clients,
 * whose PTR lookups must reach it. Never needed against real DNS.
 */
#include "ctl_spf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/dnsq.h"
#include "../proto/spf.h"

#define SPF_CTL_LINE_MAX 4096
#define SPF_CTL_TIMEOUT_DEFAULT 20
/* Replays of one check: each adds an answer, and the limits keep a check
 * to a few dozen; this only stops a bug from looping. */
#define SPF_CTL_REPLAYS_MAX 1000

/* The zones libunbound answers by default that --test-zones hands on to
 * the forwarder (unbound.conf(5), "local-zone"; localhost and the
 * loopback reverse zones stay). */
static const char *const test_zones[] = {
	"test.", "invalid.", "onion.", "home.arpa.",
	"10.in-addr.arpa.", "168.192.in-addr.arpa.",
	"0.in-addr.arpa.", "254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
	"b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
};

struct ctl_opts {
	char resolver[256];
	char receiver[256];
	int timeout_s;
	bool batch;
	bool test_zones;
};

static int
usage(void)
{
	fprintf(stderr, "usage: ternctl [-c FILE] spf [--resolver IP@PORT] [--timeout SEC] "
	    "[--test-zones] IP HELO MAILFROM\n"
	    "       ternctl [-c FILE] spf [options] --batch   (lines: IP HELO MAILFROM, "
	    "<> for the null sender)\n");
	return 2;
}

static struct ub_ctx *
resolver_new(const struct ctl_opts *o)
{
	struct ub_ctx *ctx = ub_ctx_create();
	char zone[128];
	size_t i;
	int rc;

	if (ctx == NULL) {
		fprintf(stderr, "ternctl: cannot create the resolver\n");
		return NULL;
	}
	/* A forwarder on loopback is what tests and local caches use. */
	ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
	for (i = 0; o->test_zones && i < sizeof(test_zones) / sizeof(test_zones[0]); i++) {
		(void)str_fmt(zone, sizeof(zone), "%s transparent", test_zones[i]);
		ub_ctx_set_option(ctx, "local-zone:", zone);
	}
	if (o->resolver[0])
		rc = ub_ctx_set_fwd(ctx, o->resolver);
	else
		rc = ub_ctx_resolvconf(ctx, NULL);
	if (rc != 0 || (rc = ub_ctx_async(ctx, 1)) != 0) {
		fprintf(stderr, "ternctl: resolver %s: %s\n",
		    o->resolver[0] ? o->resolver : "/etc/resolv.conf", ub_strerror(rc));
		ub_ctx_delete(ctx);
		return NULL;
	}
	return ctx;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One lookup's result, filled in by the callback. */
struct slot {
	struct dnsq_cache *c;
	bool done;
};

static void
on_answer(void *arg, int err, struct ub_result *res)
{
	struct slot *s = arg;
	const uint8_t *rr[DNSQ_MAX_RR] = { NULL };
	size_t len[DNSQ_MAX_RR] = { 0 }, n = 0;
	enum dnsq_status st;

	if (err != 0 || res == NULL || (res->rcode != 0 && res->rcode != 3))
		st = DNSQ_TEMP;
	else if (res->nxdomain || res->rcode == 3)
		st = DNSQ_NXDOMAIN;
	else {
		for (; res->havedata && res->data[n] && n < DNSQ_MAX_RR; n++) {
			rr[n] = (const uint8_t *)res->data[n];
			len[n] = (size_t)res->len[n];
		}
		st = n > 0 ? DNSQ_OK : DNSQ_NODATA;
	}
	if (dnsq_put(s->c, s->c->need_name, s->c->need_type, st, rr, len, n) == -1)
		(void)dnsq_put(s->c, s->c->need_name, s->c->need_type, DNSQ_TEMP, NULL, NULL, 0);
	if (res)
		ub_resolve_free(res);
	s->done = true;
}

/* Asks for c->need_name/need_type and waits until the deadline; what
 * does not come in time goes into the cache as a DNS error. */
static void
fetch(struct ub_ctx *ctx, struct dnsq_cache *c, int64_t deadline)
{
	struct slot s = { c, false };
	char qname[DNSQ_QNAME_MAX];
	struct pollfd pfd;
	int id, left;

	if (dnsq_qname_escape(c->need_name, qname, sizeof(qname)) == -1 ||
	    ub_resolve_async(ctx, qname, c->need_type, 1, &s, on_answer, &id) != 0) {
		(void)dnsq_put(c, c->need_name, c->need_type, DNSQ_TEMP, NULL, NULL, 0);
		return;
	}
	pfd.fd = ub_fd(ctx);
	pfd.events = POLLIN;
	while (!s.done && (left = (int)(deadline - now_ms())) > 0) {
		if (poll(&pfd, 1, left) == -1 && errno != EINTR)
			break;
		if (ub_process(ctx) != 0)
			break;
	}
	if (!s.done) {
		ub_cancel(ctx, id);
		(void)dnsq_put(c, c->need_name, c->need_type, DNSQ_TEMP, NULL, NULL, 0);
	}
}

/* The replay loop of the daemon's dns_eval, synchronously. */
static void
check(struct ub_ctx *ctx, const struct ctl_opts *o, const struct spf_query *q,
    struct spf_verdict *v)
{
	struct dnsq_cache c;
	int64_t deadline = now_ms() + (int64_t)o->timeout_s * 1000;
	int i, r = DNSQ_NEED;

	dnsq_init(&c);
	for (i = 0; i < SPF_CTL_REPLAYS_MAX; i++) {
		c.need = false;
		if ((r = spf_check(q, &c, v)) != DNSQ_NEED || !c.need)
			break;
		if (now_ms() >= deadline || !dnsq_name_ok(c.need_name))
			(void)dnsq_put(&c, c.need_name, c.need_type,
			    now_ms() >= deadline ? DNSQ_TEMP : DNSQ_NXDOMAIN, NULL, NULL, 0);
		else
			fetch(ctx, &c, deadline);
	}
	if (r == DNSQ_NEED) {
		memset(v, 0, sizeof(*v));
		v->result = SPF_TEMPERROR;
		(void)str_copy(v->problem, sizeof(v->problem), "the check did not finish");
	}
	dnsq_release(&c);
}

/*
 * The query for IP HELO MAILFROM. The null sender (MAILFROM "" or "<>")
 * is checked as postmaster@HELO from the HELO domain (RFC 7208 §2.4);
 * otherwise the domain is what follows the last '@'.
 */
static int
query_of(const char *ip, const char *helo, const char *mailfrom,
    const char *receiver, char *sender, size_t sendersize, struct spf_query *q)
{
	const char *at;
	size_t n = strlen(mailfrom);

	memset(q, 0, sizeof(*q));
	if (inet_pton(AF_INET, ip, q->ip) == 1)
		q->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, q->ip) == 1)
		q->family = AF_INET6;
	else
		return -1;
	if (n >= 2 && mailfrom[0] == '<' && mailfrom[n - 1] == '>') {
		mailfrom++;
		n -= 2;
	}
	if (n == 0) {
		if (str_fmt(sender, sendersize, "postmaster@%s", helo) == -1)
			return -1;
	} else if (str_copyn(sender, sendersize, mailfrom, n) == -1)
		return -1;
	at = strrchr(sender, '@');
	q->helo = helo;
	q->sender = sender;
	q->domain = at ? at + 1 : sender;
	q->receiver = receiver;
	q->now = (int64_t)time(NULL);
	return 0;
}

static int
one(struct ub_ctx *ctx, const struct ctl_opts *o, const char *ip,
    const char *helo, const char *mailfrom)
{
	struct spf_query q;
	struct spf_verdict v;
	struct buf field = BUF_INIT;
	char sender[1024];

	if (query_of(ip, helo, mailfrom, o->receiver, sender, sizeof(sender), &q) == -1) {
		fprintf(stderr, "ternctl: bad address or sender: %s %s\n", ip, mailfrom);
		return 2;
	}
	check(ctx, o, &q, &v);
	printf("%s\n", spf_result_name(v.result));
	if (v.explanation[0])
		printf("explanation: %s\n", v.explanation);
	if (v.problem[0])
		printf("problem: %s\n", v.problem);
	if (v.mechanism[0])
		printf("mechanism: %s\n", v.mechanism);
	spf_received_field(&q, &v, mailfrom[0] == '\0' || strcmp(mailfrom, "<>") == 0, &field);
	fwrite(field.data, 1, field.len, stdout);
	buf_release(&field);
	return 0;
}

/*
 * --batch: one query per line, "RESULT<TAB>explanation" back per line. The
 * fields are separated by spaces; a line holding a TAB is split at TABs
 * instead, for a HELO or MAILFROM with spaces in it.
 */
static int
batch(struct ub_ctx *ctx, const struct ctl_opts *o)
{
	char line[SPF_CTL_LINE_MAX], sender[1024];
	struct spf_query q;
	struct spf_verdict v;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *f[3], *p = line, *sep;
		const char *delims;
		size_t n = strlen(line), k;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		delims = strchr(line, '\t') ? "\t" : " ";
		for (k = 0; k < 3; k++) {
			if (delims[0] == ' ')
				p += strspn(p, " ");
			f[k] = p;
			if (k < 2) {
				if ((sep = strpbrk(p, delims)) == NULL)
					break;
				*sep = '\0';
				p = sep + 1;
			}
		}
		if (k < 3 || query_of(f[0], f[1], f[2], o->receiver, sender,
		    sizeof(sender), &q) == -1) {
			printf("permerror\tbad input line\n");
			fflush(stdout);
			continue;
		}
		check(ctx, o, &q, &v);
		printf("%s\t%s\n", spf_result_name(v.result), v.explanation);
		fflush(stdout);
	}
	return 0;
}

int
ctl_spf(const char *config, bool config_given, int argc, char **argv)
{
	struct ctl_opts o;
	struct config cfg;
	struct buf errs = BUF_INIT;
	struct ub_ctx *ctx;
	int i, rc;

	memset(&o, 0, sizeof(o));
	o.timeout_s = SPF_CTL_TIMEOUT_DEFAULT;
	config_defaults(&cfg);
	if (config_given || access(config, R_OK) == 0) {
		if (config_load(&cfg, config, &errs) == -1) {
			fprintf(stderr, "%s", buf_cstr(&errs));
			buf_release(&errs);
			return 1;
		}
	}
	buf_release(&errs);
	(void)str_copy(o.resolver, sizeof(o.resolver), cfg.resolver);
	(void)str_copy(o.receiver, sizeof(o.receiver), cfg.hostname);
	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--batch") == 0)
			o.batch = true;
		else if (strcmp(argv[i], "--test-zones") == 0)
			o.test_zones = true;
		else if (strcmp(argv[i], "--resolver") == 0 && i + 1 < argc) {
			if (str_copy(o.resolver, sizeof(o.resolver), argv[++i]) == -1)
				return usage();
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			o.timeout_s = atoi(argv[++i]);
			if (o.timeout_s <= 0)
				return usage();
		} else
			return usage();
	}
	if (o.batch ? argc - i != 0 : argc - i != 3)
		return usage();
	if ((ctx = resolver_new(&o)) == NULL)
		return 1;
	rc = o.batch ? batch(ctx, &o) : one(ctx, &o, argv[i], argv[i + 1], argv[i + 2]);
	ub_ctx_delete(ctx);
	return rc;
}
