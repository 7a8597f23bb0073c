/*
 * dmarc_report: DMARC aggregate reports (RFC 9990). The daemon appends one
 * result line per DMARC-checked message to a daily file; at the end of
 * the day the lines are read back, aggregated per policy domain, and each
 * domain gets an XML report, gzipped into a MIME message for each mailto:
 * URI of its rua=. Pure: lines, structs, XML and message text in memory;
 * reading and writing the files, DNS and sending are the caller's.
 */
#ifndef TERN_DMARC_REPORT_H
#define TERN_DMARC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "dmarc.h"
#include "dmarc_record.h"

/* The first field of every line; a later format gets a new tag. */
#define DMARC_REPORT_TAG "tern-dmarc-1"

#define DMARC_REPORT_DKIM_MAX     8    /* signatures kept per message */
#define DMARC_REPORT_IP_MAX       46   /* INET6_ADDRSTRLEN */
#define DMARC_REPORT_SELECTOR_MAX 64
#define DMARC_REPORT_RESULT_MAX   16   /* "temperror" and its NUL */
#define DMARC_REPORT_ADDR_MAX     320  /* a mailbox: 64 + "@" + 255, quotes */
#define DMARC_REPORT_ID_MAX       64

/*
 * Why the disposition is not what the record asks for: the <reason> of
 * policy_evaluated, which RFC 9990 requires whenever the two differ.
 */
enum dmarc_report_reason {
	DMARC_REASON_NONE,
	DMARC_REASON_LOCAL_POLICY,   /* our configuration (dmarc_reject ...) */
	DMARC_REASON_TEST_MODE,      /* t=y: "policy_test_mode" */
	DMARC_REASON_SAMPLED_OUT,    /* pct= (RFC 7489): "other", say so */
	DMARC_REASON_OTHER,
};

struct dmarc_report_dkim {
	char domain[DMARC_DOMAIN_MAX];          /* d= */
	char selector[DMARC_REPORT_SELECTOR_MAX]; /* s= */
	char result[DMARC_REPORT_RESULT_MAX];   /* RFC 8601 §2.7.1 name */
};

/* One checked message: one line of the results file. */
struct dmarc_report_result {
	int64_t time;                            /* unix seconds */
	char source_ip[DMARC_REPORT_IP_MAX];     /* as inet_ntop writes it */
	char header_from[DMARC_DOMAIN_MAX];
	char envelope_from[DMARC_DOMAIN_MAX];    /* "" for the null reverse-path */
	char policy_domain[DMARC_DOMAIN_MAX];
	/* The record as published: p, sp, np DMARC_P_UNSET when absent. */
	enum dmarc_policy p, sp, np;
	bool adkim_strict, aspf_strict;
	int pct;                                 /* 0..100 */
	bool testing;                            /* t=y */
	/* What was done: DMARC_P_NONE, _QUARANTINE or _REJECT. */
	enum dmarc_policy disposition;
	enum dmarc_report_reason reason;
	enum dmarc_result dmarc;
	bool dkim_aligned, spf_aligned;          /* an aligned pass of each */
	char spf_domain[DMARC_DOMAIN_MAX];       /* "" when SPF was not checked */
	bool spf_helo;                           /* scope "helo", else "mfrom" */
	char spf_result[DMARC_REPORT_RESULT_MAX]; /* RFC 8601 §2.7.2 name */
	char rua[DMARC_URILIST_MAX];             /* the record's rua=, as written */
	struct dmarc_report_dkim dkim[DMARC_REPORT_DKIM_MAX];
	size_t ndkim;
};

/*
 * Fills the policy part of r from a DMARC verdict: policy_domain, the
 * record's tags and rua, the result, the aligned flags, and the
 * disposition DMARC asks for (v->policy on a fail, none otherwise). The
 * caller sets the rest, and disposition and reason when it applied
 * something else. A verdict without a policy domain (no record: DMARC
 * none) has nobody to report to; such a result is not written.
 */
void dmarc_report_set_verdict(struct dmarc_report_result *r,
    const struct dmarc_verdict *v);

/*
 * Appends r as one line, its '\n' included: tab-separated fields, the
 * first DMARC_REPORT_TAG, each value escaped so that no octet below 0x21
 * or above 0x7e and no '\' appears raw (they become "\xHH"). -1 if r is
 * something the parser would refuse (ndkim, an enum or a number out of
 * range, an array without its NUL, an unknown result name, no IP, an
 * empty header_from or policy_domain) or memory runs out; out is then as
 * it was.
 */
int dmarc_report_line_write(const struct dmarc_report_result *r,
    struct buf *out);

/*
 * Parses one line (its '\n' may be there or not). 0 with *r filled, or -1
 * for anything malformed: another tag, a field count that does not add
 * up, a bad escape, a raw control octet, an unknown keyword, a number out
 * of range, a value too long for its field, an IP that is no address.
 * The IP comes out in inet_ntop's form.
 */
int dmarc_report_line_parse(const char *line, size_t len,
    struct dmarc_report_result *r);

/*
 * The aggregation of one report period. Rows group the messages of one
 * policy domain by source IP, disposition, reason, the aligned DKIM and
 * SPF results, header_from, envelope_from and the authentication results
 * (SPF's domain, scope and result; the DKIM signatures, in the order the
 * report gives them: RFC 9990, "DKIM Signatures in Aggregate Reports"). The domain's policy is that of its
 * latest line ("the final configuration observed").
 */
struct dmarc_report_row {
	struct dmarc_report_result r;   /* the first line of the row */
	uint64_t count;
};

struct dmarc_report_domain {
	char domain[DMARC_DOMAIN_MAX];
	struct dmarc_report_result policy; /* the latest line (time) */
	uint64_t messages;
	size_t *rows;                      /* indexes into agg->rows, first seen first */
	size_t nrows, rcap;
};

struct dmarc_report_agg {
	struct dmarc_report_domain *doms;  /* sorted by name after _sort */
	size_t ndoms, dcap;
	struct dmarc_report_row *rows;
	size_t nrows, rcap;
	size_t max_domains, max_rows;      /* 0: no limit */
	uint64_t dropped;                  /* lines past a limit, not counted */
	/* open-addressing indexes (slot: index + 1, 0 empty) */
	uint32_t *dtab, *rtab;
	size_t dtab_size, rtab_size;
};

void dmarc_report_agg_init(struct dmarc_report_agg *a, size_t max_domains,
    size_t max_rows);
/* 0, 1 if a limit dropped the line (a->dropped counts it), -1 on ENOMEM
 * or for an r that dmarc_report_line_write would refuse. */
int dmarc_report_agg_add(struct dmarc_report_agg *a,
    const struct dmarc_report_result *r);
/* Sorts the domains by name (adding after it stays possible). -1 ENOMEM. */
int dmarc_report_agg_sort(struct dmarc_report_agg *a);
/* The domain, or NULL; ASCII case-insensitive. */
const struct dmarc_report_domain *dmarc_report_agg_find(
    const struct dmarc_report_agg *a, const char *domain);
void dmarc_report_agg_release(struct dmarc_report_agg *a);

/* What the report says about its sender and period. */
struct dmarc_report_meta {
	const char *org_name;      /* the reporting organization */
	const char *email;         /* its contact address */
	const char *receiver;      /* our domain: filename and "Submitter:" */
	const char *report_id;     /* 1*(ALPHA / DIGIT), dmarc_report_id() */
	int64_t begin, end;        /* the period, unix seconds, both included */
	const char *generator;     /* "tern 0.1.0"; NULL: left out */
};

/*
 * A report id fit for the Subject, the Message-ID and the filename's
 * unique-id (1*(ALPHA / DIGIT)): the period's begin and a hash of
 * receiver and policy domain, so that a report sent again has the same
 * id and filename, as RFC 9990 requires. -1 if out is too small.
 */
int dmarc_report_id(const char *receiver, const char *policy_domain,
    int64_t begin, char *out, size_t outsize);

/*
 * Appends the XML aggregate report of domain d (one of a's) to out: the
 * <feedback> of RFC 9990 in the urn:ietf:params:xml:ns:dmarc-2.0
 * namespace, every text escaped (octets that are no valid XML character
 * in UTF-8 become U+FFFD). -1 on ENOMEM.
 */
int dmarc_report_xml(const struct dmarc_report_meta *m,
    const struct dmarc_report_agg *a, const struct dmarc_report_domain *d,
    struct buf *out);

/* gzip (RFC 1952) of in, appended to out; -1 on a zlib error or ENOMEM. */
int dmarc_report_gzip(const char *in, size_t len, struct buf *out);

/*
 * The attachment's name: "receiver!policy-domain!begin!end!id.xml.gz".
 * -1 if out is too small.
 */
int dmarc_report_filename(const struct dmarc_report_meta *m,
    const char *policy_domain, char *out, size_t outsize);

/* One report message. */
struct dmarc_report_mail {
	const struct dmarc_report_meta *meta;
	const char *policy_domain;
	const char *from;          /* the reporter's address (addr-spec) */
	const char *to;            /* a mailto: URI's address */
	int64_t now;               /* Date */
	const char *xml;           /* dmarc_report_xml()'s output */
	size_t xml_len;
};

/*
 * Appends the whole message (CRLF line ends, RFC 5322 + MIME): From, To,
 * Subject "Report Domain: D Submitter: S Report-ID: <ID>" (folded when
 * long), Date, Message-ID <ID@receiver>, Auto-Submitted, and a
 * multipart/mixed of a short text/plain part and the gzipped report as
 * application/gzip, base64 in lines of 76. -1 if a value that goes into
 * a header is not printable ASCII (or has a space, quote or backslash,
 * addresses excepted), or on ENOMEM.
 */
int dmarc_report_message(const struct dmarc_report_mail *m, struct buf *out);

/* A rua= destination. */
struct dmarc_report_uri {
	char addr[DMARC_REPORT_ADDR_MAX];   /* the mailbox, %-decoded */
	bool has_limit;
	uint64_t limit;                     /* octets, when has_limit */
};

/*
 * Splits rua ("mailto:addr[!size[k|m|g|t]]", comma-separated) into at
 * most max mailto destinations, in order. URIs of another scheme, with a
 * malformed size, or whose address is no plain ASCII mailbox are skipped
 * (*skipped counts them, if not NULL). A query part ("?subject=...") is
 * ignored.
 */
void dmarc_report_rua_parse(const char *rua, struct dmarc_report_uri *out,
    size_t max, size_t *n, size_t *skipped);

/* True when a message of size octets may go to u (no limit, or within).
 * The size compared is the whole message's, which is more than RFC 9990
 * asks (the encoded report), so a report never goes past a limit. */
bool dmarc_report_uri_fits(const struct dmarc_report_uri *u, size_t size);

/*
 * External destinations (RFC 9990, "Verifying External Destinations"):
 * when the rua host is outside the
 * policy domain's organization, the name to query for TXT is
 * "POLICY._report._dmarc.RUAHOST". 0, or -1 when a name is empty, a
 * label is too long or the name is past DNS limits (then no
 * authorization can be found: do not send), or out is too small.
 */
int dmarc_report_ext_name(const char *policy_dom, const char *rua_dom,
    char *out, size_t n);

/* True when one TXT record's text there authorizes: it starts with the
 * v=DMARC1 tag (the policy record's syntax). */
bool dmarc_report_ext_ok(const char *txt);

/* "none", "local_policy", "policy_test_mode", "sampled_out", "other". */
const char *dmarc_report_reason_name(enum dmarc_report_reason r);

#endif
