/*
 * ctl_dmarc: "ternctl dmarc report" (see the header).
 *
 *   ternctl [-c CONFIG] dmarc report [--day YYYY-MM-DD] [--domain D] [--xml]
 *
 * The day is a UTC day, today's by default; its file is read line by
 * line with the daemon's own parser (proto/dmarc_report.c), so what this
 * shows is what the daily report would hold. A last line without its
 * newline was torn by a crash while it was written and is skipped, as
 * is a malformed line; both are counted on stderr. Text from the file
 * (it comes from DNS and from messages) is shown with the same \xHH
 * escapes as in the file, so nothing reaches the terminal raw.
 */
#include "ctl_dmarc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/dmarc_report.h"

#define DAY_SECONDS 86400

struct opts {
	char day[16];            /* YYYY-MM-DD */
	const char *domain;      /* NULL: all */
	bool xml;
	int64_t begin;
};

static int
usage(void)
{
	fprintf(stderr, "usage: ternctl [-c FILE] dmarc report [--day YYYY-MM-DD] "
	    "[--domain DOMAIN] [--xml]\n");
	return 2;
}

/* YYYY-MM-DD, a real date: its first second (UTC) in *begin. */
static int
day_parse(const char *s, int64_t *begin)
{
	struct tm tm, back;
	time_t t;
	size_t i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
		return -1;
	back = tm;
	/* timegm normalizes: 02-30 comes back as March, and is refused */
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != back.tm_mday ||
	    tm.tm_mon != back.tm_mon || tm.tm_year != back.tm_year)
		return -1;
	*begin = (int64_t)t;
	return 0;
}

static void
show(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
}

static const char *
pf(bool pass)
{
	return pass ? "pass" : "fail";
}

static void
summary(const struct dmarc_report_agg *a, const struct dmarc_report_domain *d)
{
	const struct dmarc_report_result *p = &d->policy;
	size_t i;

	show(d->domain);
	printf(": %llu message%s in %zu row%s\n", (unsigned long long)d->messages,
	    d->messages == 1 ? "" : "s", d->nrows, d->nrows == 1 ? "" : "s");
	printf("  policy: p=%s sp=%s np=%s adkim=%c aspf=%c pct=%d t=%c\n",
	    dmarc_policy_name(p->p),
	    p->sp == DMARC_P_UNSET ? "-" : dmarc_policy_name(p->sp),
	    p->np == DMARC_P_UNSET ? "-" : dmarc_policy_name(p->np),
	    p->adkim_strict ? 's' : 'r', p->aspf_strict ? 's' : 'r', p->pct,
	    p->testing ? 'y' : 'n');
	printf("  rua: ");
	show(p->rua[0] ? p->rua : "-");
	printf("\n  %-39s %7s  %-11s %-4s  %-4s  %s\n", "source IP", "count",
	    "disposition", "dkim", "spf", "header_from");
	for (i = 0; i < d->nrows; i++) {
		const struct dmarc_report_row *row = &a->rows[d->rows[i]];

		printf("  %-39s %7llu  %-11s %-4s  %-4s  ", row->r.source_ip,
		    (unsigned long long)row->count, dmarc_policy_name(row->r.disposition),
		    pf(row->r.dkim_aligned), pf(row->r.spf_aligned));
		show(row->r.header_from);
		putchar('\n');
	}
}

static int
print_xml(const struct config *cfg, const struct opts *o,
    const struct dmarc_report_agg *a, const struct dmarc_report_domain *d)
{
	char id[DMARC_REPORT_ID_MAX], email[sizeof(cfg->postmaster)];
	struct dmarc_report_meta m;
	struct buf x = BUF_INIT;

	if (dmarc_report_id(cfg->hostname, d->domain, o->begin, id, sizeof(id)) == -1)
		return -1;
	if (cfg->postmaster[0])
		(void)str_copy(email, sizeof(email), cfg->postmaster);
	else if (str_fmt(email, sizeof(email), "postmaster@%s", cfg->hostname) == -1)
		return -1;
	m.org_name = cfg->hostname;
	m.email = email;
	m.receiver = cfg->hostname;
	m.report_id = id;
	m.begin = o->begin;
	m.end = o->begin + DAY_SECONDS - 1;
	m.generator = "tern";
	if (dmarc_report_xml(&m, a, d, &x) == -1) {
		buf_release(&x);
		return -1;
	}
	fwrite(x.data, 1, x.len, stdout);
	buf_release(&x);
	return 0;
}

/* Reads the day's file into a; 1 when there is none. */
static int
load(const char *path, struct dmarc_report_agg *a)
{
	struct dmarc_report_result r;
	unsigned long long bad = 0, torn = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 1;
		fprintf(stderr, "ternctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n') {
			torn++;
			continue;
		}
		if (dmarc_report_line_parse(line, (size_t)n, &r) == -1) {
			bad++;
			continue;
		}
		if (dmarc_report_agg_add(a, &r) == -1) {
			fprintf(stderr, "ternctl: out of memory\n");
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "ternctl: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	if (bad)
		fprintf(stderr, "ternctl: %s: %llu malformed line%s skipped\n", path, bad,
		    bad == 1 ? "" : "s");
	if (torn)
		fprintf(stderr, "ternctl: %s: an incomplete last line skipped\n", path);
	return rc;
}

int
ctl_dmarc(const char *config, int argc, char **argv)
{
	struct opts o;
	struct config cfg;
	struct buf errs = BUF_INIT;
	struct dmarc_report_agg a;
	char rel[64], path[CONFIG_PATH_MAX];
	const struct dmarc_report_domain *d;
	size_t i;
	int k, rc = 0;

	memset(&o, 0, sizeof(o));
	if (argc < 1 || strcmp(argv[0], "report") != 0)
		return usage();
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--xml") == 0)
			o.xml = true;
		else if (strcmp(argv[k], "--day") == 0 && k + 1 < argc) {
			if (str_copy(o.day, sizeof(o.day), argv[++k]) == -1 ||
			    day_parse(o.day, &o.begin) == -1) {
				fprintf(stderr, "ternctl: bad day %s (YYYY-MM-DD)\n", argv[k]);
				return 2;
			}
		} else if (strcmp(argv[k], "--domain") == 0 && k + 1 < argc)
			o.domain = argv[++k];
		else
			return usage();
	}
	if (o.day[0] == '\0') {
		time_t now = time(NULL);
		struct tm tm;

		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(o.day, sizeof(o.day), "%Y-%m-%d", &tm) == 0 ||
		    day_parse(o.day, &o.begin) == -1)
			return 1;
	}
	config_defaults(&cfg);
	if (config_load(&cfg, config, &errs) == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		return 1;
	}
	buf_release(&errs);
	if (str_fmt(rel, sizeof(rel), "dmarc/%s.log", o.day) == -1 ||
	    config_path(&cfg, rel, path, sizeof(path)) == -1) {
		fprintf(stderr, "ternctl: data_dir path too long\n");
		return 1;
	}
	dmarc_report_agg_init(&a, 0, 0);
	if ((k = load(path, &a)) != 0 || dmarc_report_agg_sort(&a) == -1) {
		dmarc_report_agg_release(&a);
		if (k == 1) {
			printf("no DMARC results for %s\n", o.day);
			return 0;
		}
		return 1;
	}
	if (o.domain) {
		if ((d = dmarc_report_agg_find(&a, o.domain)) == NULL) {
			printf("no DMARC results for ");
			show(o.domain);
			printf(" on %s\n", o.day);
		} else if (o.xml)
			rc = print_xml(&cfg, &o, &a, d);
		else
			summary(&a, d);
	} else if (a.ndoms == 0)
		printf("no DMARC results for %s\n", o.day);
	for (i = 0; o.domain == NULL && i < a.ndoms && rc == 0; i++) {
		if (o.xml)
			rc = print_xml(&cfg, &o, &a, &a.doms[i]);
		else
			summary(&a, &a.doms[i]);
	}
	dmarc_report_agg_release(&a);
	if (rc == -1) {
		fprintf(stderr, "ternctl: cannot make the report\n");
		return 1;
	}
	return 0;
}
