/*
 * ctl_queue: "ternctl queue ...", the administrator's view of the queue
 * and actions on it, through the running daemon (it alone knows which
 * message is being delivered; acting on files behind its back would race
 * it). Only "show" reads a file itself: the message, for its headers and
 * body, which the daemon never keeps in memory.
 *
 *   queue list [--json | --ids] [--from A] [--to A] [--domain D]
 *              [--older-than DUR] [--state S]
 *   queue show ID [--body]
 *   queue hold|release|delete|bounce|requeue ID... | -
 *   queue flush [ID... | - | --domain D]
 *
 * "-" reads the ids from stdin (what "list --ids" prints), sent 1000 to a
 * request. Text from the queue (addresses, replies of remote servers) is
 * printed with control characters escaped, so nothing reaches the
 * terminal raw.
 */
#include "ctl_queue.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "../proto/envelope.h"
#include "ctl_control.h"

#define IDS_PER_REQUEST 1000

struct lrcpt {
	char *addr, *orig, *state, *error;
};

struct lmsg {
	char *id, *state, *sender, *client, *proto;
	unsigned long long size;
	long long arrival, next;
	unsigned attempts;
	struct lrcpt *r;
	size_t nr;
};

struct listing {
	struct lmsg *m;
	size_t n, cap;
};

struct filter {
	const char *from, *to, *domain, *state;
	long long older_than;       /* seconds; -1: any age */
};

static int
usage(void)
{
	fprintf(stderr,
	    "usage: ternctl [-c FILE] queue list [--json | --ids] [--from ADDR] [--to ADDR]\n"
	    "                 [--domain DOMAIN] [--older-than DURATION] [--state STATE]\n"
	    "       ternctl [-c FILE] queue show ID [--body]\n"
	    "       ternctl [-c FILE] queue hold|release|delete|bounce|requeue ID... | -\n"
	    "       ternctl [-c FILE] queue flush [ID... | - | --domain DOMAIN]\n"
	    "('-' reads the ids from stdin, e.g. from 'queue list --ids ...')\n");
	return 2;
}

/* ------------------------------------------------------------ output --- */

/* Text from the network, safe for a terminal: control octets as \xHH. */
static void
put_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(f, "\\x%02X", c);
		else
			fputc(c, f);
	}
}

static void
put_json(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);    /* UTF-8 passes as it is */
	}
	fputc('"', f);
}

static const char *
fmt_time(long long t, char *out, size_t outsize)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsize, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		str_copy(out, outsize, "-");
	return out;
}

/* ------------------------------------------------------------ listing -- */

static void
listing_free(struct listing *l)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		struct lmsg *m = &l->m[i];

		free(m->id);
		free(m->state);
		free(m->sender);
		free(m->client);
		free(m->proto);
		for (j = 0; j < m->nr; j++) {
			free(m->r[j].addr);
			free(m->r[j].orig);
			free(m->r[j].state);
			free(m->r[j].error);
		}
		free(m->r);
	}
	free(l->m);
	memset(l, 0, sizeof(*l));
}

static int
take_msg(struct listing *l, char **w)
{
	struct lmsg *m;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct lmsg *p = reallocarray(l->m, cap, sizeof(*p));

		if (p == NULL)
			return -1;
		l->m = p;
		l->cap = cap;
	}
	m = &l->m[l->n++];
	memset(m, 0, sizeof(*m));
	m->id = strdup(w[1]);
	m->size = strtoull(w[2], NULL, 10);
	m->arrival = atoll(w[3]);
	m->state = strdup(w[4]);
	m->next = atoll(w[5]);
	m->attempts = (unsigned)strtoul(w[6], NULL, 10);
	m->sender = strdup(w[7]);
	m->client = strdup(w[8]);
	m->proto = strdup(w[9]);
	return m->id && m->state && m->sender && m->client && m->proto ? 0 : -1;
}

static int
take_rcpt(struct listing *l, char **w)
{
	struct lmsg *m;
	struct lrcpt *r;

	if (l->n == 0)
		return -1;
	m = &l->m[l->n - 1];
	if ((r = reallocarray(m->r, m->nr + 1, sizeof(*r))) == NULL)
		return -1;
	m->r = r;
	r = &m->r[m->nr++];
	r->addr = strdup(w[1]);
	r->orig = strdup(w[2]);
	r->state = strdup(w[3]);
	r->error = strdup(w[4]);
	return r->addr && r->orig && r->state && r->error ? 0 : -1;
}

/* Asks the daemon for its queue (or only ids); 0 and l filled, or -1. */
static int
fetch(const char *config, char **ids, size_t nids, struct listing *l)
{
	struct config cfg;
	struct ctl_conn cc;
	int rc;

	memset(l, 0, sizeof(*l));
	if (ctl_load_config(config, &cfg) == -1 || ctl_connect(&cfg, &cc) == -1)
		return -1;
	if (ctl_send(&cc, "list", ids, nids) == -1) {
		ctl_close(&cc);
		return -1;
	}
	while ((rc = ctl_next(&cc)) == 1) {
		if (strcmp(cc.w[0], "msg") == 0 && cc.nw == 10)
			rc = take_msg(l, cc.w);
		else if (strcmp(cc.w[0], "rcpt") == 0 && cc.nw == 5)
			rc = take_rcpt(l, cc.w);
		if (rc == -1) {
			fprintf(stderr, "ternctl: out of memory\n");
			break;
		}
	}
	ctl_close(&cc);
	if (rc != 0)
		listing_free(l);
	return rc == 0 ? 0 : -1;
}

static bool
addr_in_domain(const char *addr, const char *domain)
{
	const char *at = strrchr(addr, '@');

	return at && strcasecmp(at + 1, domain) == 0;
}

static bool
matches(const struct lmsg *m, const struct filter *f, long long now)
{
	bool to = f->to == NULL, dom = f->domain == NULL;
	size_t i;

	if (f->from && strcasecmp(m->sender, f->from) != 0)
		return false;
	if (f->state && strcmp(m->state, f->state) != 0)
		return false;
	if (f->older_than >= 0 && now - m->arrival < f->older_than)
		return false;
	for (i = 0; i < m->nr; i++) {
		to = to || strcasecmp(m->r[i].addr, f->to) == 0 ||
		    strcasecmp(m->r[i].orig, f->to) == 0;
		dom = dom || addr_in_domain(m->r[i].addr, f->domain);
	}
	return to && dom;
}

static void
print_human(const struct lmsg *m)
{
	char at[32], next[32];
	size_t i;

	printf("%-16s %9llu  %s  %-10s", m->id, m->size, fmt_time(m->arrival, at, sizeof(at)),
	    m->state);
	if (m->attempts)
		printf("  %u attempt%s", m->attempts, m->attempts == 1 ? "" : "s");
	if (strcmp(m->state, "deferred") == 0 || strcmp(m->state, "waiting") == 0)
		printf(", next %s", fmt_time(m->next, next, sizeof(next)));
	printf("\n    from <");
	put_text(stdout, m->sender);
	printf(">");
	if (m->client[0]) {
		printf(" (");
		put_text(stdout, m->client);
		printf(" %s)", m->proto);
	}
	printf("\n");
	for (i = 0; i < m->nr; i++) {
		const struct lrcpt *r = &m->r[i];

		printf("    to <");
		put_text(stdout, r->addr);
		printf("> %s", r->state);
		if (strcasecmp(r->orig, r->addr) != 0 && r->orig[0]) {
			printf(" (for <");
			put_text(stdout, r->orig);
			printf(">)");
		}
		if (r->error[0] && strcmp(r->state, "pending") == 0) {
			printf("\n        last error: ");
			put_text(stdout, r->error);
		}
		printf("\n");
	}
}

static void
print_json(const struct lmsg *m, bool first)
{
	size_t i;

	printf("%s{\"id\":", first ? "" : ",\n");
	put_json(stdout, m->id);
	printf(",\"size\":%llu,\"arrival\":%lld,\"state\":", m->size, m->arrival);
	put_json(stdout, m->state);
	printf(",\"next_attempt\":%lld,\"attempts\":%u,\"sender\":", m->next, m->attempts);
	put_json(stdout, m->sender);
	printf(",\"client\":");
	put_json(stdout, m->client);
	printf(",\"protocol\":");
	put_json(stdout, m->proto);
	printf(",\"recipients\":[");
	for (i = 0; i < m->nr; i++) {
		printf("%s{\"address\":", i ? "," : "");
		put_json(stdout, m->r[i].addr);
		printf(",\"original\":");
		put_json(stdout, m->r[i].orig);
		printf(",\"state\":");
		put_json(stdout, m->r[i].state);
		printf(",\"last_error\":");
		put_json(stdout, m->r[i].error);
		printf("}");
	}
	printf("]}");
}

static int
cmd_list(const char *config, int argc, char **argv)
{
	struct filter f = { .older_than = -1 };
	struct listing l;
	unsigned long long octets = 0;
	bool json = false, ids = false, first = true;
	long long now = (long long)time(NULL);
	size_t i, shown = 0;
	int a;

	for (a = 0; a < argc; a++) {
		const char *opt = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(opt, "--json") == 0)
			json = true;
		else if (strcmp(opt, "--ids") == 0)
			ids = true;
		else if (val == NULL)
			return usage();
		else if (strcmp(opt, "--from") == 0)
			f.from = val, a++;
		else if (strcmp(opt, "--to") == 0)
			f.to = val, a++;
		else if (strcmp(opt, "--domain") == 0)
			f.domain = val, a++;
		else if (strcmp(opt, "--state") == 0)
			f.state = val, a++;
		else if (strcmp(opt, "--older-than") == 0) {
			if (config_parse_duration(val, &f.older_than) == -1) {
				fprintf(stderr, "ternctl: --older-than %s: not a duration "
				    "(30s, 5m, 4h, 2d)\n", val);
				return 2;
			}
			a++;
		} else
			return usage();
	}
	if (fetch(config, NULL, 0, &l) == -1)
		return 1;
	if (json)
		printf("[");
	for (i = 0; i < l.n; i++) {
		if (!matches(&l.m[i], &f, now))
			continue;
		shown++;
		octets += l.m[i].size;
		if (ids)
			printf("%s\n", l.m[i].id);
		else if (json)
			print_json(&l.m[i], first);
		else
			print_human(&l.m[i]);
		first = false;
	}
	if (json)
		printf("]\n");
	else if (!ids)
		printf("-- %zu message%s, %llu octets%s\n", shown, shown == 1 ? "" : "s", octets,
		    shown < l.n ? " (filtered)" : "");
	listing_free(&l);
	return 0;
}

/* ------------------------------------------------------------ show ----- */

/* The message as stored: the envelope block, the message, the trailer
 * (docs/queue.md); prints the message's header, or all of it. */
static int
print_message(const struct config *cfg, const char *id, bool body)
{
	char rel[64], path[CONFIG_PATH_MAX], trailer[ENVELOPE_TRAILER_LEN];
	struct stat st;
	int64_t blen;
	FILE *f;
	int c, prev = '\n', prev2 = 0;
	uint64_t left;

	snprintf(rel, sizeof(rel), "queue/msg/%s", id);
	if (config_path(cfg, rel, path, sizeof(path)) == -1 ||
	    (f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ternctl: %s: %s\n", rel, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == -1 || st.st_size < ENVELOPE_TRAILER_LEN ||
	    pread(fileno(f), trailer, sizeof(trailer), st.st_size - ENVELOPE_TRAILER_LEN) !=
	    ENVELOPE_TRAILER_LEN || (blen = envelope_trailer_parse(trailer, sizeof(trailer))) < 0 ||
	    (uint64_t)blen + ENVELOPE_TRAILER_LEN > (uint64_t)st.st_size ||
	    fseeko(f, st.st_size - ENVELOPE_TRAILER_LEN - blen, SEEK_SET) == -1) {
		fprintf(stderr, "ternctl: %s: not a complete queue file\n", rel);
		fclose(f);
		return -1;
	}
	printf("\n");
	for (left = (uint64_t)blen; left > 0 && (c = getc(f)) != EOF; left--) {
		if (!body && c == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n')))
			break;          /* the empty line: the header is over */
		if (c == '\r')
			;               /* CRLF on disk, LF on the terminal */
		else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
			putchar(c);
		else
			printf("\\x%02X", (unsigned)c);
		prev2 = prev;
		prev = c;
	}
	if (!body)
		printf("\n(header only; --body shows the whole message)\n");
	fclose(f);
	return 0;
}

static int
cmd_show(const char *config, int argc, char **argv)
{
	struct config cfg;
	struct listing l;
	bool body = argc == 2 && strcmp(argv[1], "--body") == 0;
	int rc;

	if (argc != 1 && !body)
		return usage();
	if (fetch(config, argv, 1, &l) == -1)
		return 1;
	if (l.n == 0) {
		fprintf(stderr, "ternctl: %s: not in the queue\n", argv[0]);
		listing_free(&l);
		return 1;
	}
	print_human(&l.m[0]);
	listing_free(&l);
	rc = ctl_load_config(config, &cfg) == -1 || print_message(&cfg, argv[0], body) == -1;
	return rc;
}

/* ------------------------------------------------------------ actions -- */

static const struct {
	const char *verb;
	const char *done;
} verbs[] = {
	{ "hold", "held" }, { "release", "released" }, { "delete", "deleted" },
	{ "bounce", "returned to the sender" }, { "requeue", "requeued, due now" },
	{ "flush", "due now" },
};

/* Words from stdin: ids, one or more to a line. */
static int
read_ids(char ***ids_r, size_t *n_r)
{
	char word[128], **ids = NULL, **p;
	size_t n = 0, cap = 0;

	while (scanf("%127s", word) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			if ((p = reallocarray(ids, cap, sizeof(*p))) == NULL)
				goto oom;
			ids = p;
		}
		if ((ids[n] = strdup(word)) == NULL)
			goto oom;
		n++;
	}
	*ids_r = ids;
	*n_r = n;
	return 0;
oom:
	while (n > 0)
		free(ids[--n]);
	free(ids);
	fprintf(stderr, "ternctl: out of memory\n");
	return -1;
}

/* Sends ids in requests of at most IDS_PER_REQUEST; prints each outcome.
 * 0 when every message was found and acted on. */
static int
act(const char *config, const char *verb, const char *done, char **ids, size_t nids)
{
	struct config cfg;
	struct ctl_conn cc;
	size_t off, bad = 0;
	int rc = 0;

	if (ctl_load_config(config, &cfg) == -1)
		return 1;
	for (off = 0; off < nids && rc == 0; off += IDS_PER_REQUEST) {
		size_t n = nids - off < IDS_PER_REQUEST ? nids - off : IDS_PER_REQUEST;

		if (ctl_connect(&cfg, &cc) == -1)
			return 1;
		if (ctl_send(&cc, verb, ids + off, n) == -1) {
			ctl_close(&cc);
			return 1;
		}
		while ((rc = ctl_next(&cc)) == 1) {
			const char *o = cc.nw == 3 ? cc.w[2] : "?";

			if (strcmp(cc.w[0], "result") != 0 || cc.nw != 3)
				continue;
			printf("%s: ", cc.w[1]);
			if (strcmp(o, "done") == 0)
				printf("%s\n", done);
			else if (strcmp(o, "later") == 0)
				printf("being delivered: %s when this attempt ends\n", done);
			else if (strcmp(o, "noop") == 0)
				printf("nothing to do (already so)\n");
			else if (strcmp(o, "held") == 0)
				printf("on hold: release it first\n");
			else if (strcmp(o, "busy") == 0)
				printf("a delete or bounce is already under way\n"), bad++;
			else if (strcmp(o, "notfound") == 0)
				printf("not in the queue\n"), bad++;
			else
				printf("failed (see ternd's log)\n"), bad++;
		}
		ctl_close(&cc);
	}
	return rc != 0 || bad > 0;
}

static int
cmd_action(const char *config, const char *verb, const char *done, int argc, char **argv)
{
	char **ids = argv;
	size_t n = (size_t)argc;
	int rc;

	if (argc == 0)
		return usage();
	if (argc == 1 && strcmp(argv[0], "-") == 0 && read_ids(&ids, &n) == -1)
		return 1;
	rc = n ? act(config, verb, done, ids, n) : 0;
	if (ids != argv) {
		while (n > 0)
			free(ids[--n]);
		free(ids);
	}
	return rc;
}

/* queue flush: everything, a domain's, or the ids given. */
static int
cmd_flush(const char *config, int argc, char **argv)
{
	struct config cfg;
	struct ctl_conn cc;
	int rc;

	if (argc > 0 && strcmp(argv[0], "--domain") != 0)
		return cmd_action(config, "flush", "due now", argc, argv);
	if (argc != 0 && argc != 2)
		return usage();
	if (ctl_load_config(config, &cfg) == -1 || ctl_connect(&cfg, &cc) == -1)
		return 1;
	if (ctl_send(&cc, "flush-all", argv + 1, argc ? 1 : 0) == -1) {
		ctl_close(&cc);
		return 1;
	}
	while ((rc = ctl_next(&cc)) == 1)
		;
	if (rc == 0)
		printf("%s message%s due now\n", cc.nw > 1 ? cc.w[1] : "?",
		    cc.nw > 1 && strcmp(cc.w[1], "1") == 0 ? "" : "s");
	ctl_close(&cc);
	return rc == 0 ? 0 : 1;
}

int
ctl_queue(const char *config, int argc, char **argv)
{
	size_t i;

	if (argc < 1)
		return usage();
	if (strcmp(argv[0], "list") == 0)
		return cmd_list(config, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0 && argc >= 2)
		return cmd_show(config, argc - 1, argv + 1);
	if (strcmp(argv[0], "flush") == 0)
		return cmd_flush(config, argc - 1, argv + 1);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[0], verbs[i].verb) == 0)
			return cmd_action(config, verbs[i].verb, verbs[i].done, argc - 1, argv + 1);
	}
	return usage();
}
