/*
 * verify: one message's SPF, DKIM and DMARC (see verify.h).
 *
 * SPF starts when the transaction does and runs while the client sends
 * its recipients and data. DKIM signatures are hashed as the message
 * streams through verify_feed; their keys are asked for as soon as the
 * header has ended, so the lookups overlap the body. At the end, once
 * both have answered, DMARC of the From domain runs, and the fields and
 * the action are settled. Each lookup chain is one dns_eval; verify_free
 * cancels them all, so no callback outlives the transaction.
 */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "../common/log.h"

#include "../common/str.h"
#include "../dns/dns.h"
#include "../policy/arc.h"
#include "../policy/dkim_verify.h"
#include "../proto/authres.h"
#include "../proto/dmarc.h"
#include "../proto/dnsq.h"
#include "../proto/rfc5322.h"
#include "../proto/spf.h"
#include "dmarc_log.h"

#define MAX_SIGNATURES 8
#define MAX_FROM_DOMAINS 4

/* One lookup chain: its answers, its run, whether it has answered. */
struct chain {
	struct dnsq_cache cache;
	struct dns_eval *eval;
	bool running, done;
	bool settled;           /* key chains: the run after the end is made */
	int rc;
};

struct verify {
	const struct config *cfg;
	struct dns *dns;
	char ip[64], helo[256], auth_user[256];
	int family;
	uint8_t addr[16];
	char sender[512];
	bool authed;

	/* SPF of MAIL FROM, or of HELO for the null sender */
	struct spf_query spf_q;
	char spf_sender[512], spf_domain[256];
	bool spf_helo;               /* the identity checked is HELO's */
	struct spf_verdict spf;
	struct chain spf_chain;
	/* SPF of the HELO name as well (RFC 7208 §2.3), when MAIL FROM's
	 * is the main one: recorded, not used by DMARC. */
	struct spf_query helo_q;
	char helo_sender[512];
	struct spf_verdict helo_spf;
	struct chain helo_chain;

	/* DKIM: hashed as the message streams in; keys once the header ends */
	struct dkim_verify *dkim;
	struct chain dkim_chain;

	/* ARC (RFC 8617): the chain of earlier hops, hashed the same way */
	struct arc_verify *arc;
	struct chain arc_chain;
	bool arc_override;           /* a trusted sealer's pass lifted DMARC's action */
	struct hdr_scan hs;          /* the session's, copied at the end: From */

	/* DMARC of the From domain */
	/* One From field may hold several addresses: each domain is checked
	 * and the strictest policy among those failing applies (RFC 7489
	 * §6.6.1). */
	char from_doms[MAX_FROM_DOMAINS][DMARC_DOMAIN_MAX];
	size_t nfrom_doms;
	struct dmarc_verdict dmarc[MAX_FROM_DOMAINS];
	const char *from_bad;        /* why From cannot be checked, or NULL */
	bool from_reject;            /* several From fields: refused */
	unsigned sample;             /* 0..99: where this message falls for pct= */
	struct chain dmarc_chain;

	bool ended;
	struct event *kick;          /* verify_finish's step, from the loop */
	void (*done)(void *arg);
	void *done_arg;

	struct buf fields;
	enum config_action action;
	char why[400];
	char quarantine_dom[DMARC_DOMAIN_MAX];
	char summary[160];
};

static void advance(struct verify *v);

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	advance(arg);
}

static bool
any_check(const struct config *cfg)
{
	return cfg->check_spf || cfg->check_dkim || cfg->check_dmarc || cfg->check_arc;
}

/* The SPF identity (RFC 7208 §2.4): MAIL FROM's domain; for the null
 * sender, postmaster at the HELO name. An address literal has none. */
static void
spf_setup(struct verify *v)
{
	const char *at = strrchr(v->sender, '@');

	if (at) {
		str_copy(v->spf_sender, sizeof(v->spf_sender), v->sender);
		str_copy(v->spf_domain, sizeof(v->spf_domain), at + 1);
	} else {
		v->spf_helo = true;
		snprintf(v->spf_sender, sizeof(v->spf_sender), "postmaster@%s", v->helo);
		str_copy(v->spf_domain, sizeof(v->spf_domain), v->helo);
	}
	v->spf_q.family = v->family;
	memcpy(v->spf_q.ip, v->addr, sizeof(v->spf_q.ip));
	v->spf_q.helo = v->helo;
	v->spf_q.sender = v->spf_sender;
	v->spf_q.domain = v->spf_domain;
	v->spf_q.receiver = v->cfg->hostname;
	v->spf_q.now = (int64_t)time(NULL);
}

static int
spf_eval(void *arg, struct dnsq_cache *c)
{
	struct verify *v = arg;

	return spf_check(&v->spf_q, c, &v->spf);
}

/* The HELO identity is checked on its own only when it is a domain name
 * and MAIL FROM's check is not already about it. */
static bool
helo_setup(struct verify *v)
{
	if (v->spf_helo || strchr(v->helo, '.') == NULL || v->helo[0] == '[')
		return false;
	snprintf(v->helo_sender, sizeof(v->helo_sender), "postmaster@%s", v->helo);
	v->helo_q = v->spf_q;
	v->helo_q.sender = v->helo_sender;
	v->helo_q.domain = v->helo;
	return true;
}

static int
helo_eval(void *arg, struct dnsq_cache *c)
{
	struct verify *v = arg;

	return spf_check(&v->helo_q, c, &v->helo_spf);
}

static void
chain_done(struct chain *ch, int rc)
{
	ch->done = true;
	ch->running = false;
	ch->rc = rc;
}

static void
spf_done(void *arg, int rc)
{
	struct verify *v = arg;

	chain_done(&v->spf_chain, rc);
	if (rc < 0) {
		memset(&v->spf, 0, sizeof(v->spf));
		v->spf.result = SPF_TEMPERROR;
	}
	advance(v);
}

static void
helo_done(void *arg, int rc)
{
	struct verify *v = arg;

	chain_done(&v->helo_chain, rc);
	if (rc < 0) {
		memset(&v->helo_spf, 0, sizeof(v->helo_spf));
		v->helo_spf.result = SPF_TEMPERROR;
	}
	advance(v);
}

static void
chain_start(struct verify *v, struct chain *ch, dns_eval_fn fn, dns_eval_done_fn done)
{
	dns_eval_cancel(&ch->eval);      /* an earlier run's, done */
	ch->running = true;
	ch->eval = dns_eval_start(v->dns, &ch->cache, (unsigned)v->cfg->verify_timeout * 1000,
	    fn, done, v);
	if (ch->eval == NULL) {
		ch->running = false;
		ch->done = true;
		ch->rc = -1;
	}
}

static void
chain_free(struct chain *ch)
{
	dns_eval_cancel(&ch->eval);
	dnsq_release(&ch->cache);
}

struct verify *
verify_new(const struct verify_env *ve, const struct verify_client *cl,
    const char *sender)
{
	struct verify *v;

	if (!any_check(ve->cfg) || ve->dns == NULL)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	if ((v->kick = evtimer_new(ve->base, on_kick, v)) == NULL) {
		free(v);
		return NULL;
	}
	v->cfg = config_ref(ve->cfg);   /* the session's; held in case v outlives it */
	v->dns = ve->dns;
	str_copy(v->ip, sizeof(v->ip), cl->ip);
	str_copy(v->helo, sizeof(v->helo), cl->helo);
	str_copy(v->auth_user, sizeof(v->auth_user), cl->auth_user);
	str_copy(v->sender, sizeof(v->sender), sender);
	v->family = cl->family;
	memcpy(v->addr, cl->addr, sizeof(v->addr));
	v->authed = cl->auth_user[0] != '\0';
	arc4random_buf(&v->sample, sizeof(v->sample));
	v->sample %= 100;
	dnsq_init(&v->spf_chain.cache);
	dnsq_init(&v->helo_chain.cache);
	dnsq_init(&v->dkim_chain.cache);
	dnsq_init(&v->arc_chain.cache);
	dnsq_init(&v->dmarc_chain.cache);
	/* A user who logged in is who the message is from (auth=pass): the
	 * checks are for mail from strangers. */
	if (v->authed)
		return v;
	if ((v->cfg->check_spf || v->cfg->check_dmarc) &&
	    (v->family == AF_INET || v->family == AF_INET6)) {
		spf_setup(v);
		chain_start(v, &v->spf_chain, spf_eval, spf_done);
		if (v->cfg->check_spf && helo_setup(v))
			chain_start(v, &v->helo_chain, helo_eval, helo_done);
	}
	if (v->cfg->check_dkim || v->cfg->check_dmarc)
		v->dkim = dkim_verify_new(MAX_SIGNATURES, (int64_t)time(NULL));
	if (v->cfg->check_arc)
		v->arc = arc_verify_new((int64_t)time(NULL));
	return v;
}

void
verify_free(struct verify **vp)
{
	struct verify *v = *vp;

	if (v == NULL)
		return;
	chain_free(&v->spf_chain);
	chain_free(&v->helo_chain);
	chain_free(&v->dkim_chain);
	chain_free(&v->arc_chain);
	chain_free(&v->dmarc_chain);
	event_free(v->kick);
	dkim_verify_free(&v->dkim);
	arc_verify_free(&v->arc);
	buf_release(&v->fields);
	config_unref(v->cfg);
	free(v);
	*vp = NULL;
}

static int
dkim_eval(void *arg, struct dnsq_cache *c)
{
	struct verify *v = arg;

	return dkim_verify_check(v->dkim, c);
}

static void
dkim_done(void *arg, int rc)
{
	struct verify *v = arg;

	chain_done(&v->dkim_chain, rc);
	advance(v);
}

static int
arc_eval(void *arg, struct dnsq_cache *c)
{
	struct verify *v = arg;

	return arc_verify_check(v->arc, c);
}

static void
arc_done(void *arg, int rc)
{
	struct verify *v = arg;

	chain_done(&v->arc_chain, rc);
	advance(v);
}

void
verify_feed(struct verify *v, const char *p, size_t n)
{
	if (v->arc) {
		arc_verify_feed(v->arc, p, n);
		if (arc_verify_header_done(v->arc) && !v->arc_chain.running && !v->arc_chain.done)
			chain_start(v, &v->arc_chain, arc_eval, arc_done);
	}
	if (v->dkim == NULL)
		return;
	dkim_verify_feed(v->dkim, p, n);
	/* The keys are asked for while the body comes. */
	if (dkim_verify_header_done(v->dkim) && !v->dkim_chain.running && !v->dkim_chain.done)
		chain_start(v, &v->dkim_chain, dkim_eval, dkim_done);
}

/* The RFC5322.From domains DMARC is about. Several From fields are
 * refused (RFC 5322 §3.6 allows one; two are how a forger shows one
 * address and has another checked); no From means no author domain. */
static void
from_setup(struct verify *v)
{
	if (v->hs.nfrom == 0)
		v->from_bad = "no From field";
	else if (v->hs.nfrom > 1) {
		v->from_bad = "several From fields";
		v->from_reject = true;
	} else if (v->hs.from_long ||
	    dmarc_from_domains(v->hs.from, v->hs.from_len, v->from_doms,
	    MAX_FROM_DOMAINS, &v->nfrom_doms) != 0 || v->nfrom_doms == 0)
		v->from_bad = "From field unreadable";
}

static int
dmarc_eval(void *arg, struct dnsq_cache *c)
{
	struct verify *v = arg;
	const char *pass[MAX_SIGNATURES];
	struct dmarc_input in;
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; v->dkim && i < dkim_verify_count(v->dkim) && n < MAX_SIGNATURES; i++) {
		const struct dkim_result *r = dkim_verify_result(v->dkim, i);

		if (r->result == DKIM_PASS)
			pass[n++] = r->domain;
	}
	memset(&in, 0, sizeof(in));
	in.spf_pass = v->spf_chain.done && v->spf.result == SPF_PASS;
	in.auth_temperror = v->spf_chain.done && v->spf.result == SPF_TEMPERROR;
	for (i = 0; v->dkim && i < dkim_verify_count(v->dkim); i++)
		in.auth_temperror |= dkim_verify_result(v->dkim, i)->result == DKIM_TEMPERROR;
	in.spf_domain = v->spf_domain;
	in.dkim_pass_domains = pass;
	in.ndkim = n;
	in.sample = v->sample;
	/* Every domain asks its questions in one replay. */
	for (i = 0; i < v->nfrom_doms; i++) {
		in.from_domain = v->from_doms[i];
		if (dmarc_check(&in, c, &v->dmarc[i]) == DNSQ_NEED)
			rc = DNSQ_NEED;
	}
	return rc;
}

static void
dmarc_done(void *arg, int rc)
{
	struct verify *v = arg;

	size_t i;

	chain_done(&v->dmarc_chain, rc);
	for (i = 0; rc < 0 && i < v->nfrom_doms; i++) {
		memset(&v->dmarc[i], 0, sizeof(v->dmarc[i]));
		v->dmarc[i].result = DMARC_TEMPERROR;
	}
	advance(v);
}

/* ----------------------------------------------------------- results -- */

static void
add_auth(struct verify *v, struct authres *ar)
{
	struct authres_prop p = { "smtp", "auth", v->auth_user };

	authres_add(ar, "auth", "pass", NULL, NULL, &p, 1);
}

static void
add_spf(struct verify *v, struct authres *ar)
{
	struct authres_prop p = { "smtp", v->spf_helo ? "helo" : "mailfrom", v->spf_domain };
	const char *why = v->spf.problem[0] ? v->spf.problem : NULL;

	authres_add(ar, "spf", spf_result_name(v->spf.result), NULL, why, &p, 1);
	if (v->helo_chain.done) {
		struct authres_prop h = { "smtp", "helo", v->helo };

		why = v->helo_spf.problem[0] ? v->helo_spf.problem : NULL;
		authres_add(ar, "spf", spf_result_name(v->helo_spf.result), NULL, why, &h, 1);
	}
}

static void
add_dkim(struct verify *v, struct authres *ar)
{
	size_t i, n = dkim_verify_count(v->dkim);

	if (n == 0) {
		authres_add(ar, "dkim", "none", NULL, NULL, NULL, 0);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct dkim_result *r = dkim_verify_result(v->dkim, i);
		struct authres_prop p[] = {
			{ "header", "d", r->domain },
			{ "header", "s", r->selector },
			{ "header", "b", r->b_prefix },
		};

		/* l= (RFC 6376 §8.2): content can follow the signed part. */
		authres_add(ar, "dkim", dkim_result_name(r->result),
		    r->l_used ? "l= used: the body is signed only in part" : NULL,
		    r->reason[0] ? r->reason : NULL, p, 3);
	}
}

static void
add_arc(struct verify *v, struct authres *ar)
{
	const struct arc_result *r = arc_verify_result(v->arc);
	char comment[320] = "", oldest[16] = "";
	struct authres_prop p[] = {
		{ "header", "oldest-pass", oldest },
		{ "smtp", "remote-ip", v->ip },
	};

	if (r->cv == ARC_PASS)
		snprintf(comment, sizeof(comment), "i=%u sealer=%s", r->n, r->sealer_domain);
	if (r->oldest_pass > 0)
		snprintf(oldest, sizeof(oldest), "%u", r->oldest_pass);
	authres_add(ar, "arc", arc_cv_name(r->cv), comment[0] ? comment : NULL,
	    r->reason[0] ? r->reason : NULL, p, 2);
}

static void
add_dmarc(struct verify *v, struct authres *ar)
{
	char comment[80];
	size_t i;

	if (v->from_bad) {
		authres_add(ar, "dmarc", v->from_reject ? "fail" : "none", NULL, v->from_bad, NULL, 0);
		return;
	}
	for (i = 0; i < v->nfrom_doms; i++) {
		const struct dmarc_verdict *d = &v->dmarc[i];
		struct authres_prop p = { "header", "from", v->from_doms[i] };

		snprintf(comment, sizeof(comment), "p=%s dis=%s%s", dmarc_policy_name(d->rec.p),
		    d->result != DMARC_FAIL || v->arc_override ? "none" : dmarc_policy_name(d->policy),
		    d->result == DMARC_FAIL && v->arc_override ? " arc-override" : "");
		authres_add(ar, "dmarc", dmarc_result_name(d->result),
		    d->policy_domain[0] ? comment : NULL, d->problem[0] ? d->problem : NULL, &p, 1);
	}
}

static bool
arc_trusted(const struct verify *v)
{
	const struct arc_result *r;
	size_t i;

	if (v->arc == NULL || (r = arc_verify_result(v->arc))->cv != ARC_PASS)
		return false;
	for (i = 0; i < v->cfg->narc_trusted; i++)
		if (strcasecmp(v->cfg->arc_trusted[i], r->sealer_domain) == 0)
			return true;
	return false;
}

/* DMARC's verdicts as our action: the strictest policy among the From
 * domains that fail, mapped by the site's settings. */
static void
decide(struct verify *v)
{
	enum dmarc_policy worst = DMARC_P_NONE;
	const char *dom = "";
	size_t i;

	v->action = ACTION_NONE;
	if (!v->cfg->check_dmarc)
		return;
	if (v->from_reject) {
		v->action = ACTION_REJECT;
		snprintf(v->why, sizeof(v->why),
		    "Message rejected: it has several From fields (RFC 5322 allows one)");
		return;
	}
	for (i = 0; !v->from_bad && i < v->nfrom_doms; i++) {
		if (v->dmarc[i].result != DMARC_FAIL || v->dmarc[i].policy <= worst)
			continue;
		worst = v->dmarc[i].policy;
		dom = v->from_doms[i];
	}
	if (worst == DMARC_P_REJECT)
		v->action = v->cfg->dmarc_reject;
	else if (worst == DMARC_P_QUARANTINE)
		v->action = v->cfg->dmarc_quarantine;
	else
		return;
	/* Forwarded by a sealer we trust, whose chain holds: what failed
	 * here passed there (RFC 8617 §7.2, a local policy). */
	if (v->action != ACTION_NONE && arc_trusted(v)) {
		v->action = ACTION_NONE;
		v->arc_override = true;
		return;
	}
	str_copy(v->quarantine_dom, sizeof(v->quarantine_dom), dom);
	snprintf(v->why, sizeof(v->why),
	    "Message rejected: the domain %s asks (DMARC p=%s) that mail failing SPF and DKIM alignment be refused",
	    dom, dmarc_policy_name(worst));
}

/* What this message adds to the aggregate reports (RFC 9990): one line
 * per From domain that publishes a policy. */
static void
record_results(struct verify *v)
{
	struct dmarc_report_result r;
	const char *at = strrchr(v->sender, '@');
	size_t i, k;

	for (i = 0; i < v->nfrom_doms; i++) {
		const struct dmarc_verdict *d = &v->dmarc[i];

		if (d->policy_domain[0] == '\0')
			continue;
		memset(&r, 0, sizeof(r));
		r.time = (int64_t)time(NULL);
		str_copy(r.source_ip, sizeof(r.source_ip), v->ip);
		str_copy(r.header_from, sizeof(r.header_from), v->from_doms[i]);
		str_copy(r.envelope_from, sizeof(r.envelope_from), at ? at + 1 : "");
		dmarc_report_set_verdict(&r, d);
		if (d->result == DMARC_FAIL) {
			enum dmarc_policy applied = v->action == ACTION_REJECT ? DMARC_P_REJECT :
			    v->action == ACTION_QUARANTINE ? DMARC_P_QUARANTINE : DMARC_P_NONE;

			if (d->rec.testing && d->policy != d->rec.p)
				r.reason = DMARC_REASON_TEST_MODE;
			else if (d->rec.pct < 100 && d->policy != d->rec.p)
				r.reason = DMARC_REASON_SAMPLED_OUT;
			if (applied != r.disposition) {
				r.disposition = applied;
				r.reason = DMARC_REASON_LOCAL_POLICY;
			}
		}
		if (v->spf_chain.done) {
			str_copy(r.spf_domain, sizeof(r.spf_domain), v->spf_domain);
			r.spf_helo = v->spf_helo;
			str_copy(r.spf_result, sizeof(r.spf_result), spf_result_name(v->spf.result));
		}
		for (k = 0; v->dkim && k < dkim_verify_count(v->dkim) && k < DMARC_REPORT_DKIM_MAX; k++) {
			const struct dkim_result *dr = dkim_verify_result(v->dkim, k);

			str_copy(r.dkim[k].domain, sizeof(r.dkim[k].domain), dr->domain);
			str_copy(r.dkim[k].selector, sizeof(r.dkim[k].selector), dr->selector);
			str_copy(r.dkim[k].result, sizeof(r.dkim[k].result), dkim_result_name(dr->result));
			r.ndkim++;
		}
		if (dmarc_log_append(v->cfg->data_dir, &r) == -1)
			log_warn("dmarc: results of %s not recorded", v->from_doms[i]);
	}
}

/* The worst DMARC result, for the log line. */
static const char *
dmarc_summary(const struct verify *v)
{
	size_t i;
	enum dmarc_result r = DMARC_PASS;

	if (v->from_bad)
		return v->from_reject ? "fail" : "none";
	for (i = 0; i < v->nfrom_doms; i++)
		if (v->dmarc[i].result != DMARC_PASS && (r == DMARC_PASS || v->dmarc[i].result == DMARC_FAIL))
			r = v->dmarc[i].result;
	return dmarc_result_name(r);
}

static void
settle(struct verify *v)
{
	const char *id = v->cfg->authserv_id[0] ? v->cfg->authserv_id : v->cfg->hostname;
	bool spf = v->spf_chain.done, dkim = v->dkim != NULL;
	bool dmarc = v->cfg->check_dmarc && !v->authed;

	struct authres ar;

	decide(v);
	if (dmarc && v->cfg->dmarc_reports && !v->from_bad)
		record_results(v);
	authres_begin(&ar, &v->fields, id);
	if (v->authed)
		add_auth(v, &ar);
	if (spf)
		add_spf(v, &ar);
	if (dkim)
		add_dkim(v, &ar);
	if (v->arc)
		add_arc(v, &ar);
	if (dmarc)
		add_dmarc(v, &ar);
	authres_end(&ar);
	if (spf)
		spf_received_field(&v->spf_q, &v->spf, v->spf_helo, &v->fields);
	if (v->action == ACTION_QUARANTINE)
		buf_printf(&v->fields, "X-Tern-Quarantine: DMARC policy of %s (p=quarantine or stricter)\r\n",
		    v->quarantine_dom);
	snprintf(v->summary, sizeof(v->summary), "%s%s%s%s%s%s%s%s%s",
	    v->authed ? "auth=pass " : "",
	    spf ? "spf=" : "", spf ? spf_result_name(v->spf.result) : "",
	    dkim ? (dkim_verify_count(v->dkim) ? " dkim=" : " dkim=none") : "",
	    dkim && dkim_verify_count(v->dkim) ?
	    dkim_result_name(dkim_verify_result(v->dkim, 0)->result) : "",
	    v->arc ? " arc=" : "", v->arc ? arc_cv_name(arc_verify_result(v->arc)->cv) : "",
	    dmarc ? " dmarc=" : "",
	    dmarc ? dmarc_summary(v) : "");
}

/* After the end, a key chain (DKIM, ARC) runs once more when its keys
 * were not asked for yet (a message all header) or are not all there;
 * that run, after the end, also settles every result. True while it
 * runs. */
static bool
settle_keys(struct verify *v, struct chain *ch, dns_eval_fn fn, dns_eval_done_fn done)
{
	if (ch->settled)
		return false;
	ch->settled = true;
	if (ch->done && fn(v, &ch->cache) == 0)
		return false;
	ch->done = false;
	chain_start(v, ch, fn, done);
	return ch->running;
}

/* Moves on as far as the answers so far allow; at the end calls done,
 * which may free v: nothing may touch v after it. */
static void
advance(struct verify *v)
{
	if (!v->ended || v->spf_chain.running || v->helo_chain.running ||
	    v->dkim_chain.running || v->arc_chain.running ||
	    v->dmarc_chain.running)
		return;
	if (v->dkim && settle_keys(v, &v->dkim_chain, dkim_eval, dkim_done))
		return;
	if (v->arc && settle_keys(v, &v->arc_chain, arc_eval, arc_done))
		return;
	if (v->cfg->check_dmarc && !v->authed && !v->dmarc_chain.done) {
		from_setup(v);
		if (!v->from_bad) {
			chain_start(v, &v->dmarc_chain, dmarc_eval, dmarc_done);
			if (v->dmarc_chain.running)
				return;
		}
		v->dmarc_chain.done = true;
	}
	settle(v);
	v->ended = false;   /* done runs once */
	v->done(v->done_arg);
}

void
verify_finish(struct verify *v, const struct hdr_scan *hs, void (*done)(void *arg),
    void *arg)
{
	v->hs = *hs;
	v->done = done;
	v->done_arg = arg;
	v->ended = true;
	if (v->dkim)
		dkim_verify_end(v->dkim);
	if (v->arc)
		arc_verify_end(v->arc);
	/* done runs from the loop, never from within this call. */
	{
		const struct timeval now = { 0, 0 };

		evtimer_add(v->kick, &now);
	}
}

const struct buf *
verify_fields(const struct verify *v)
{
	return &v->fields;
}

enum config_action
verify_action(const struct verify *v, const char **why)
{
	*why = v->why;
	return v->action;
}

const char *
verify_summary(const struct verify *v)
{
	return v->summary;
}
