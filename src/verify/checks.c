/*
 * checks: the verdicts given while the client waits, at MAIL and RCPT —
 * does the sender domain exist and take mail, is it or the client on a
 * blocklist. Each is a replay evaluation (proto/dnsq.h) run by dns_eval.
 */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/str.h"
#include "../dns/dns.h"
#include "../proto/dns_rdata.h"
#include "../proto/dnsq.h"

struct check_job {
	const struct config *cfg;
	struct dnsq_cache cache;
	struct dns_eval *eval;
	verify_check_cb cb;
	uint64_t cookie;
	char domain[256];          /* sender domain */
	int family;                /* client address */
	uint8_t addr[16];
	char text[256];            /* a listing's reply */
};

int
verify_dnsbl_name(int family, const uint8_t *addr, const char *zone, char *out,
    size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	char name[128];
	size_t o = 0;
	int i;

	if (family == AF_INET)
		o = (size_t)snprintf(name, sizeof(name), "%u.%u.%u.%u",
		    addr[3], addr[2], addr[1], addr[0]);
	else if (family == AF_INET6) {
		for (i = 15; i >= 0; i--) {
			name[o++] = hex[addr[i] & 15];
			name[o++] = '.';
			name[o++] = hex[addr[i] >> 4];
			name[o++] = i ? '.' : '\0';
		}
	} else
		return -1;
	return str_fmt(out, outsize, "%s.%s", name, zone);
}

/* A listing is an A record in 127.0.0.0/8 (RFC 5782 §2.3); 127.255.255.x
 * are the lists' own error codes ("you may not query us"), not listings. */
static bool
listed(const struct dnsq_answer *a)
{
	size_t i;

	if (a->st != DNSQ_OK)
		return false;
	for (i = 0; i < a->n; i++) {
		const uint8_t *ip = a->rr[i];

		if (a->rrlen[i] == 4 && ip[0] == 127 &&
		    !(ip[1] == 255 && ip[2] == 255))
			return true;
	}
	return false;
}

/* The list's TXT reply, reduced to printable ASCII for our reply line. */
static void
listing_text(const struct dnsq_answer *t, char *out, size_t outsize)
{
	char raw[512];
	size_t i, o = 0;

	out[0] = '\0';
	if (t == NULL || t->st != DNSQ_OK || t->n == 0 ||
	    dnsq_txt(t->rr[0], t->rrlen[0], raw, sizeof(raw)) < 0)
		return;
	for (i = 0; raw[i] && o + 1 < outsize && o < 200; i++)
		out[o++] = raw[i] >= 0x20 && raw[i] < 0x7f ? raw[i] : '?';
	out[o] = '\0';
}

/* Looks name up in a list: 1 listed (text set), 0 not, DNSQ_NEED. A list
 * that fails to answer is passed over: an outage of a blocklist must not
 * stop the mail. */
static int
ask_list(struct check_job *j, struct dnsq_cache *c, const char *name, const char *zone)
{
	const struct dnsq_answer *a, *t;

	if ((a = dnsq_get(c, name, DNSQ_A)) == NULL)
		return DNSQ_NEED;
	if (!listed(a))
		return 0;
	if ((t = dnsq_get(c, name, DNSQ_TXT)) == NULL)
		return DNSQ_NEED;
	listing_text(t, j->text, sizeof(j->text));
	if (j->text[0] == '\0')
		snprintf(j->text, sizeof(j->text), "listed by %s", zone);
	return 1;
}

static int
eval_sender(void *arg, struct dnsq_cache *c)
{
	struct check_job *j = arg;
	const struct dnsq_answer *mx;
	char name[512];
	size_t i;
	int rc;

	if ((mx = dnsq_get(c, j->domain, DNSQ_MX)) == NULL)
		return DNSQ_NEED;
	if (mx->st == DNSQ_NXDOMAIN)
		return VERIFY_NXDOMAIN;
	if (mx->st == DNSQ_TEMP)
		return VERIFY_TEMP;
	if (mx->st == DNSQ_OK && mx->n == 1) {
		char host[DNS_NAME_MAX + 1];
		int pref;

		/* RFC 7505: the only MX is the root, "." */
		if (dns_rdata_mx(mx->rr[0], mx->rrlen[0], &pref, host, sizeof(host)) == 0 &&
		    host[0] == '\0')
			return VERIFY_NULLMX;
	}
	for (i = 0; i < j->cfg->ndnsbl_domain; i++) {
		if (str_fmt(name, sizeof(name), "%s.%s", j->domain, j->cfg->dnsbl_domain[i]) == -1 ||
		    !dnsq_name_ok(name))
			continue;
		if ((rc = ask_list(j, c, name, j->cfg->dnsbl_domain[i])) != 0)
			return rc == 1 ? VERIFY_LISTED : rc;
	}
	return VERIFY_OK;
}

static int
eval_dnsbl(void *arg, struct dnsq_cache *c)
{
	struct check_job *j = arg;
	char name[512];
	size_t i;
	int rc;

	for (i = 0; i < j->cfg->ndnsbl; i++) {
		if (verify_dnsbl_name(j->family, j->addr, j->cfg->dnsbl[i], name, sizeof(name)) == -1)
			continue;
		if ((rc = ask_list(j, c, name, j->cfg->dnsbl[i])) != 0)
			return rc == 1 ? VERIFY_LISTED : rc;
	}
	return VERIFY_OK;
}

static void
check_done(void *arg, int rc)
{
	struct check_job *j = arg;

	j->cb(j->cookie, rc < 0 ? VERIFY_TEMP : (enum verify_check)rc, j->text);
	dns_eval_cancel(&j->eval);
	dnsq_release(&j->cache);
	config_unref(j->cfg);
	free(j);
}

static int
check_start(const struct verify_env *ve, struct check_job *j, dns_eval_fn fn)
{
	dnsq_init(&j->cache);
	/* The lookups may outlive the session that asked (the answer then
	 * finds no session): the job holds its configuration. */
	j->cfg = config_ref(ve->cfg);
	j->eval = dns_eval_start(ve->dns, &j->cache, (unsigned)ve->cfg->verify_timeout * 1000,
	    fn, check_done, j);
	if (j->eval == NULL) {
		config_unref(j->cfg);
		free(j);
		return -1;
	}
	return 0;
}

int
verify_sender_domain(const struct verify_env *ve, const char *domain,
    verify_check_cb cb, uint64_t cookie)
{
	struct check_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->cb = cb;
	j->cookie = cookie;
	str_copy(j->domain, sizeof(j->domain), domain);
	return check_start(ve, j, eval_sender);
}

int
verify_dnsbl(const struct verify_env *ve, int family, const uint8_t *addr,
    verify_check_cb cb, uint64_t cookie)
{
	struct check_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->cb = cb;
	j->cookie = cookie;
	j->family = family;
	memcpy(j->addr, addr, family == AF_INET ? 4 : 16);
	return check_start(ve, j, eval_dnsbl);
}
