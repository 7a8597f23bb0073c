/*
 * config: parse the configuration file.
 *
 * Grammar: one setting per line, "key value [value...]", '#' starts a
 * comment, blank lines are ignored. Every key is in the table below with its
 * type and bounds; docs/configuration.md documents each one and a test
 * checks that it lists them all.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/str.h"

enum ctype { C_STR, C_TEXT, C_INT, C_SIZE, C_BOOL, C_DOMAINS, C_LISTEN, C_DURATION,
	C_NETWORKS, C_ROUTE, C_DKIM, C_SYNC, C_QUOTA, C_TRANSPORT, C_ACTION,
	C_ZONES, C_HOSTPORT };

struct ckey {
	const char *name;
	enum ctype type;
	size_t off;
	size_t size;        /* for C_STR: array size */
	long long min, max; /* for numbers */
};

#define OFF(f) offsetof(struct config, f)
#define STR(f) OFF(f), sizeof(((struct config *)0)->f)

static const struct ckey keys[] = {
	{ "hostname", C_STR, STR(hostname), 0, 0 },
	{ "data_dir", C_STR, STR(data_dir), 0, 0 },
	{ "users_file", C_STR, STR(users_file), 0, 0 },
	{ "aliases_file", C_STR, STR(aliases_file), 0, 0 },
	{ "control_socket", C_STR, STR(control_socket), 0, 0 },
	{ "run_as", C_STR, STR(run_as), 0, 0 },
	{ "sandbox", C_BOOL, OFF(sandbox), 0, 0, 0 },
	{ "postmaster", C_STR, STR(postmaster), 0, 0 },
	{ "domains", C_DOMAINS, 0, 0, 0, 0 },
	{ "listen", C_LISTEN, 0, 0, 0, 0 },
	{ "max_message_size", C_SIZE, OFF(max_message_size), 0, 1024, 1LL << 40 },
	{ "max_recipients", C_INT, OFF(max_recipients), sizeof(size_t), 1, 100000 },
	{ "max_line_length", C_INT, OFF(max_line_length), sizeof(size_t), 0, 1 << 24 },
	{ "max_command_length", C_INT, OFF(max_command_length), sizeof(size_t), 512, 65536 },
	{ "max_received_headers", C_INT, OFF(max_received_headers), sizeof(size_t), 1, 10000 },
	{ "max_connections", C_INT, OFF(max_connections), sizeof(int), 1, 1000000 },
	{ "max_connections_per_ip", C_INT, OFF(max_connections_per_ip), sizeof(int), 1, 1000000 },
	{ "idle_timeout", C_DURATION, OFF(idle_timeout), 0, 1, 86400 },
	{ "data_timeout", C_DURATION, OFF(data_timeout), 0, 1, 86400 },
	{ "max_errors", C_INT, OFF(max_errors), sizeof(int), 1, 1000 },
	{ "max_junk_commands", C_INT, OFF(max_junk_commands), sizeof(int), 1, 100000 },
	{ "session_deadline", C_DURATION, OFF(session_deadline), 0, 0, 7 * 86400 },
	{ "data_deadline", C_DURATION, OFF(data_deadline), 0, 0, 7 * 86400 },
	{ "io_threads", C_INT, OFF(io_threads), sizeof(int), 1, 64 },
	{ "retry_initial", C_DURATION, OFF(retry_initial), 0, 1, 86400 },
	{ "retry_max", C_DURATION, OFF(retry_max), 0, 1, 7 * 86400 },
	{ "queue_lifetime", C_DURATION, OFF(queue_lifetime), 0, 1, 60 * 86400 },
	{ "log_syslog", C_BOOL, OFF(log_syslog), 0, 0, 0 },
	{ "log_debug", C_BOOL, OFF(log_debug), 0, 0, 0 },
	{ "direct_delivery", C_BOOL, OFF(direct_delivery), 0, 0, 0 },
	{ "tls_cert", C_STR, STR(tls_cert), 0, 0 },
	{ "tls_key", C_STR, STR(tls_key), 0, 0 },
	{ "smtp_tls", C_BOOL, OFF(smtp_tls), 0, 0, 0 },
	{ "auth_cleartext_loopback", C_BOOL, OFF(auth_cleartext_loopback), 0, 0, 0 },
	{ "auth_max_failures", C_INT, OFF(auth_max_failures), sizeof(int), 1, 100000 },
	{ "auth_max_account_failures", C_INT, OFF(auth_max_account_failures), sizeof(int), 1, 100000 },
	{ "auth_fail_table_size", C_INT, OFF(auth_fail_table_size), sizeof(int), 16, 1 << 22 },
	{ "reject_own_domain_sender", C_BOOL, OFF(reject_own_domain_sender), 0, 0, 0 },
	{ "submission_rate_limit", C_INT, OFF(submission_rate_limit), sizeof(int), 0, 10000000 },
	{ "submission_check_from", C_BOOL, OFF(submission_check_from), 0, 0, 0 },
	{ "submission_max_recipients", C_INT, OFF(submission_max_recipients), sizeof(size_t), 0, 100000 },
	{ "relay_networks", C_NETWORKS, 0, 0, 0, 0 },
	{ "route", C_ROUTE, 0, 0, 0, 0 },
	{ "local_transport", C_TRANSPORT, 0, 0, 0, 0 },
	{ "dkim_key", C_DKIM, 0, 0, 0, 0 },
	{ "commit_sync", C_SYNC, 0, 0, 0, 0 },
	{ "resolver", C_STR, STR(resolver), 0, 0 },
	{ "smtp_port", C_INT, OFF(smtp_port), sizeof(int), 1, 65535 },
	{ "smtp_connect_timeout", C_DURATION, OFF(smtp_connect_timeout), 0, 1, 600 },
	{ "smtp_idle_timeout", C_DURATION, OFF(smtp_idle_timeout), 0, 1, 3600 },
	{ "max_outbound", C_INT, OFF(max_outbound), sizeof(int), 1, 100000 },
	{ "delay_warning", C_DURATION, OFF(delay_warning), 0, 0, 60 * 86400 },
	{ "max_outbound_per_dest", C_INT, OFF(max_outbound_per_dest), sizeof(int), 1, 10000 },
	{ "imap_max_user_sessions", C_INT, OFF(imap_max_user_sessions), sizeof(int), 1, 100000 },
	{ "quota_default", C_QUOTA, OFF(quota_default), 0, 0, INT64_MAX },
	{ "check_spf", C_BOOL, OFF(check_spf), 0, 0, 0 },
	{ "check_dkim", C_BOOL, OFF(check_dkim), 0, 0, 0 },
	{ "check_dmarc", C_BOOL, OFF(check_dmarc), 0, 0, 0 },
	{ "check_sender_domain", C_BOOL, OFF(check_sender_domain), 0, 0, 0 },
	{ "authserv_id", C_STR, STR(authserv_id), 0, 0 },
	{ "verify_timeout", C_DURATION, OFF(verify_timeout), 0, 1, 300 },
	{ "dmarc_reject", C_ACTION, OFF(dmarc_reject), 0, 0, 0 },
	{ "dmarc_quarantine", C_ACTION, OFF(dmarc_quarantine), 0, 0, 0 },
	{ "dmarc_reports", C_BOOL, OFF(dmarc_reports), 0, 0, 0 },
	{ "dmarc_report_from", C_STR, STR(dmarc_report_from), 0, 0 },
	{ "dmarc_report_org", C_TEXT, STR(dmarc_report_org), 0, 0 },
	{ "check_arc", C_BOOL, OFF(check_arc), 0, 0, 0 },
	{ "arc_trusted_sealer", C_ZONES, OFF(arc_trusted), 0, 0, 0 },
	{ "arc_seal", C_STR, STR(arc_seal), 0, 0 },
	{ "dnsbl", C_ZONES, OFF(dnsbl), 0, 0, 0 },
	{ "dnsbl_domain", C_ZONES, OFF(dnsbl_domain), 0, 0, 0 },
	{ "metrics_listen", C_HOSTPORT, 0, 0, 0, 0 },
	{ "metrics_listen_any", C_BOOL, OFF(metrics_listen_any), 0, 0, 0 },
};

struct config *
config_new(void)
{
	struct config *cfg = malloc(sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	config_defaults(cfg);
	cfg->refs = 1;
	return cfg;
}

void
config_free(struct config **cfgp)
{
	free(*cfgp);
	*cfgp = NULL;
}

/* The count is the one field that changes after parsing; the holders see
 * a const configuration, so the cast is confined here. */
const struct config *
config_ref(const struct config *cfg)
{
	if (cfg != NULL)
		((struct config *)cfg)->refs++;
	return cfg;
}

void
config_unref(const struct config *cfg)
{
	if (cfg != NULL && cfg->refs > 0)
		((struct config *)cfg)->refs--;
}

unsigned
config_refs(const struct config *cfg)
{
	return cfg->refs;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(cfg->hostname, sizeof(cfg->hostname)) != 0 ||
	    cfg->hostname[0] == '\0')
		str_copy(cfg->hostname, sizeof(cfg->hostname), "localhost");
	cfg->hostname[sizeof(cfg->hostname) - 1] = '\0';
	str_copy(cfg->data_dir, sizeof(cfg->data_dir), "./var");
	str_copy(cfg->users_file, sizeof(cfg->users_file), "users");
	str_copy(cfg->aliases_file, sizeof(cfg->aliases_file), "aliases");
	str_copy(cfg->control_socket, sizeof(cfg->control_socket), "control.sock");
	str_copy(cfg->run_as, sizeof(cfg->run_as), "tern");
	cfg->sandbox = true;
	cfg->max_message_size = 35u << 20;
	cfg->max_recipients = 1000;
	cfg->max_line_length = 1000;      /* RFC 5321 §4.5.3.1.6 */
	cfg->max_command_length = 4096;   /* 512 + room for ESMTP parameters */
	cfg->max_received_headers = 100;  /* RFC 5321 §6.3 */
	cfg->max_connections = 2000;
	cfg->max_connections_per_ip = 50;
	cfg->idle_timeout = 300;          /* RFC 5321 §4.5.3.2.7 */
	cfg->data_timeout = 600;
	cfg->max_errors = 20;             /* Postfix smtpd_hard_error_limit */
	cfg->imap_max_user_sessions = 20; /* a phone, a laptop, a desktop, each with a few folders open */
	cfg->max_junk_commands = 100;     /* Postfix smtpd_junk_command_limit */
	cfg->session_deadline = 3600;
	cfg->data_deadline = 1800;
	cfg->io_threads = 8;
	cfg->retry_initial = 300;
	cfg->retry_max = 4 * 3600;
	cfg->queue_lifetime = 5 * 86400;
	cfg->smtp_port = 25;
	cfg->direct_delivery = true;
	cfg->commit_syncfs = true;
	cfg->smtp_tls = true;
	cfg->auth_max_failures = 10;
	cfg->auth_max_account_failures = 5;
	cfg->auth_fail_table_size = 16384;  /* about 5 MB when all used */
	cfg->submission_max_recipients = 100;
	cfg->submission_check_from = true;
	cfg->reject_own_domain_sender = true;
	cfg->smtp_connect_timeout = 30;
	cfg->smtp_idle_timeout = 10;
	cfg->max_outbound = 200;
	cfg->max_outbound_per_dest = 20;
	cfg->delay_warning = 4 * 3600;
	cfg->verify_timeout = 20;         /* RFC 7208 §4.6.4: at least 20 seconds */
	cfg->dmarc_reject = ACTION_REJECT;
	cfg->dmarc_quarantine = ACTION_QUARANTINE;
}

static void
err_at(struct buf *errs, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
err_at(struct buf *errs, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	buf_printf(errs, "%s:%d: ", file, line);
	va_start(ap, fmt);
	buf_vprintf(errs, fmt, ap);
	va_end(ap);
	buf_append_char(errs, '\n');
}

int
config_parse_duration(const char *s, long long *out)
{
	char *end;
	long long v, mult = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	/* "99999999999999999d" must be an error, not an overflow. */
	if ((*end && end[1]) || __builtin_mul_overflow(v, mult, &v))
		return -1;
	*out = v;
	return 0;
}

/* "35M", "1024", "2G" -> bytes */
static int
parse_size(const char *s, long long *out)
{
	char *end;
	long long v, mult = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1LL << 10; break;
	case 'm': case 'M': mult = 1LL << 20; break;
	case 'g': case 'G': mult = 1LL << 30; break;
	default: return -1;
	}
	if ((*end && end[1]) || __builtin_mul_overflow(v, mult, &v))
		return -1;
	*out = v;
	return 0;
}

static int
parse_listen(struct config *cfg, char **argv, int argc, struct buf *errs,
    const char *file, int line)
{
	struct config_listener *l;
	char *colon, *end;
	long port;

	if (argc != 2) {
		err_at(errs, file, line, "listen: expected 'listen smtp|submission|smtps|pop3|pop3s|imap|imaps|lmtp HOST:PORT' or 'listen lmtp unix:PATH'");
		return -1;
	}
	if (cfg->nlisteners == CONFIG_MAX_LISTENERS) {
		err_at(errs, file, line, "listen: at most %d listeners", CONFIG_MAX_LISTENERS);
		return -1;
	}
	l = &cfg->listeners[cfg->nlisteners];
	if (strcmp(argv[0], "smtp") == 0)
		l->kind = LISTEN_SMTP;
	else if (strcmp(argv[0], "submission") == 0)
		l->kind = LISTEN_SUBMISSION;
	else if (strcmp(argv[0], "smtps") == 0)
		l->kind = LISTEN_SMTPS;
	else if (strcmp(argv[0], "pop3") == 0)
		l->kind = LISTEN_POP3;
	else if (strcmp(argv[0], "pop3s") == 0)
		l->kind = LISTEN_POP3S;
	else if (strcmp(argv[0], "imap") == 0)
		l->kind = LISTEN_IMAP;
	else if (strcmp(argv[0], "imaps") == 0)
		l->kind = LISTEN_IMAPS;
	else if (strcmp(argv[0], "lmtp") == 0)
		l->kind = LISTEN_LMTP;
	else {
		err_at(errs, file, line, "listen: unknown service '%s' (smtp, submission, smtps, pop3, pop3s, imap, imaps, lmtp)", argv[0]);
		return -1;
	}
	if (strncmp(argv[1], "unix:", 5) == 0) {
		if (l->kind != LISTEN_LMTP) {
			err_at(errs, file, line, "listen: only lmtp listens on a unix socket");
			return -1;
		}
		if (argv[1][5] != '/' || str_copy(l->path, sizeof(l->path), argv[1] + 5) == -1) {
			err_at(errs, file, line, "listen: '%s': the socket needs an absolute path of at most %zu octets",
			    argv[1], sizeof(l->path) - 1);
			return -1;
		}
		str_copy(l->host, sizeof(l->host), "unix");
		cfg->nlisteners++;
		return 0;
	}
	if ((colon = strrchr(argv[1], ':')) == NULL) {
		err_at(errs, file, line, "listen: '%s' is not HOST:PORT", argv[1]);
		return -1;
	}
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	/* "25x" is a typo, not port 25. */
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
		err_at(errs, file, line, "listen: bad port '%s'", colon + 1);
		return -1;
	}
	/* "[::1]" -> "::1" */
	if (argv[1][0] == '[' && colon > argv[1] + 1 && colon[-1] == ']') {
		colon[-1] = '\0';
		argv[1]++;
	}
	if (str_copy(l->host, sizeof(l->host), argv[1]) == -1) {
		err_at(errs, file, line, "listen: host too long");
		return -1;
	}
	l->port = (int)port;
	cfg->nlisteners++;
	return 0;
}

/* "10.0.0.0/8", "::1", "192.0.2.7/32" */
static int
parse_network(const char *s, struct config_network *n)
{
	char addr[INET6_ADDRSTRLEN + 1], *slash;
	long prefix = -1;

	if (str_copy(addr, sizeof(addr), s) == -1)
		return -1;
	if ((slash = strchr(addr, '/')) != NULL) {
		char *end;

		*slash = '\0';
		prefix = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			return -1;
	}
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		n->prefix = prefix < 0 ? 32 : (int)prefix;
		return n->prefix > 32 ? -1 : 0;
	}
	if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		n->prefix = prefix < 0 ? 128 : (int)prefix;
		return n->prefix > 128 ? -1 : 0;
	}
	return -1;
}

bool
config_relay_allowed(const struct config *cfg, int family, const void *addr)
{
	const unsigned char *a = addr;
	size_t i;

	for (i = 0; i < cfg->nrelay_networks; i++) {
		const struct config_network *n = &cfg->relay_networks[i];
		int full = n->prefix / 8, rest = n->prefix % 8;

		if (n->family != family || memcmp(a, n->addr, (size_t)full) != 0)
			continue;
		if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff))
			continue;
		return true;
	}
	return false;
}

const struct config_route *
config_route_for(const struct config *cfg, const char *domain)
{
	const struct config_route *any = NULL;
	size_t i;

	for (i = 0; i < cfg->nroutes; i++) {
		if (str_ieq(cfg->routes[i].domain, domain))
			return &cfg->routes[i];
		if (strcmp(cfg->routes[i].domain, "*") == 0 && any == NULL)
			any = &cfg->routes[i];
	}
	return any;
}

/*
 * HOST[:PORT] into t->host and t->port (which keeps its default when no
 * port is given); "[IPv6]:PORT" and "[host]" in brackets. s is modified.
 */
static int
parse_hostport(char *s, struct config_transport *t, struct buf *errs,
    const char *file, int line, const char *key)
{
	char *colon, *host = s;

	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			err_at(errs, file, line, "%s: '%s': unbalanced '[' or text after ']'",
			    key, s);
			return -1;
		}
		*close = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
		host++;
	} else
		colon = strrchr(host, ':');
	if (colon) {
		char *end;
		long port;

		*colon = '\0';
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
			err_at(errs, file, line, "%s: bad port '%s'", key, colon + 1);
			return -1;
		}
		t->port = (int)port;
	}
	if (host[0] == '\0' || str_copy(t->host, sizeof(t->host), host) == -1) {
		err_at(errs, file, line, "%s: host too long or empty", key);
		return -1;
	}
	return 0;
}

/*
 * A next hop: "lmtp:unix:PATH", "lmtp:HOST[:PORT]" (port 24 unless
 * given, as Postfix's lmtp), and for a route "HOST[:PORT]" (SMTP, port
 * 25), for local_transport "maildir". s is modified.
 */
static int
parse_transport(char *s, bool local, struct config_transport *t, struct buf *errs,
    const char *file, int line, const char *key)
{
	memset(t, 0, sizeof(*t));
	if (local && strcmp(s, "maildir") == 0) {
		t->kind = TRANSPORT_MAILDIR;
		return 0;
	}
	if (strncmp(s, "lmtp:unix:", 10) == 0) {
		t->kind = TRANSPORT_LMTP_UNIX;
		/* Relative to what? ternd's working directory is nobody's
		 * business: the path is absolute, and fits in sun_path. */
		if (s[10] != '/' || str_copy(t->path, sizeof(t->path), s + 10) == -1) {
			err_at(errs, file, line, "%s: '%s': the socket path must be absolute "
			    "and at most %d octets", key, s + 10, CONFIG_UNIX_PATH_MAX - 1);
			return -1;
		}
		return 0;
	}
	if (strncmp(s, "lmtp:", 5) == 0) {
		t->kind = TRANSPORT_LMTP;
		t->port = 24;
		return parse_hostport(s + 5, t, errs, file, line, key);
	}
	if (local) {
		err_at(errs, file, line, "%s: '%s': expected maildir, lmtp:HOST:PORT or "
		    "lmtp:unix:PATH", key, s);
		return -1;
	}
	t->kind = TRANSPORT_SMTP;
	t->port = 25;
	return parse_hostport(s, t, errs, file, line, key);
}

bool
config_transport_is_lmtp(const struct config_transport *t)
{
	return t->kind == TRANSPORT_LMTP || t->kind == TRANSPORT_LMTP_UNIX;
}

int
config_transport_text(const struct config_transport *t, char *out, size_t outsize)
{
	bool v6 = strchr(t->host, ':') != NULL;

	switch (t->kind) {
	case TRANSPORT_MAILDIR:
		return str_copy(out, outsize, "maildir");
	case TRANSPORT_LMTP_UNIX:
		return str_fmt(out, outsize, "lmtp:unix:%s", t->path);
	case TRANSPORT_LMTP:
	case TRANSPORT_SMTP:
		return str_fmt(out, outsize, "%s%s%s%s:%d", t->kind == TRANSPORT_LMTP ?
		    "lmtp:" : "", v6 ? "[" : "", t->host, v6 ? "]" : "", t->port);
	}
	return -1;
}

static int
parse_route(struct config *cfg, char **argv, int argc, struct buf *errs,
    const char *file, int line)
{
	struct config_route *r;

	if (argc != 2) {
		err_at(errs, file, line, "route: expected 'route DOMAIN|* HOST[:PORT]|"
		    "lmtp:HOST[:PORT]|lmtp:unix:PATH'");
		return -1;
	}
	if (cfg->nroutes == CONFIG_MAX_ROUTES) {
		err_at(errs, file, line, "route: at most %d routes", CONFIG_MAX_ROUTES);
		return -1;
	}
	r = &cfg->routes[cfg->nroutes];
	if (str_copy(r->domain, sizeof(r->domain), argv[0]) == -1) {
		err_at(errs, file, line, "route: domain too long");
		return -1;
	}
	if (parse_transport(argv[1], false, &r->hop, errs, file, line, "route") == -1)
		return -1;
	str_lower(r->domain);
	cfg->nroutes++;
	return 0;
}

static int
apply(struct config *cfg, const struct ckey *k, char **argv, int argc,
    struct buf *errs, const char *file, int line)
{
	char *base = (char *)cfg;
	long long v;
	int i;

	if (k->type == C_ROUTE)
		return parse_route(cfg, argv, argc, errs, file, line);
	if (k->type == C_TRANSPORT) {
		if (argc != 1) {
			err_at(errs, file, line, "%s: expected one value", k->name);
			return -1;
		}
		return parse_transport(argv[0], true, &cfg->local_transport, errs, file,
		    line, k->name);
	}
	if (k->type == C_SYNC) {
		if (argc == 1 && strcmp(argv[0], "syncfs") == 0)
			cfg->commit_syncfs = true;
		else if (argc == 1 && strcmp(argv[0], "fsync") == 0)
			cfg->commit_syncfs = false;
		else {
			err_at(errs, file, line, "commit_sync: expected syncfs or fsync");
			return -1;
		}
		return 0;
	}
	if (k->type == C_DKIM) {
		struct config_dkim *d = &cfg->dkim[cfg->ndkim];

		if (argc != 3 || cfg->ndkim == CONFIG_MAX_DKIM ||
		    str_copy(d->domain, sizeof(d->domain), argv[0]) == -1 ||
		    str_copy(d->selector, sizeof(d->selector), argv[1]) == -1 ||
		    str_copy(d->path, sizeof(d->path), argv[2]) == -1) {
			err_at(errs, file, line, "dkim_key: expected 'dkim_key DOMAIN SELECTOR KEYFILE' (at most %d)",
			    CONFIG_MAX_DKIM);
			return -1;
		}
		str_lower(d->domain);
		cfg->ndkim++;
		return 0;
	}
	if (k->type == C_NETWORKS) {
		for (i = 0; i < argc; i++) {
			if (cfg->nrelay_networks == CONFIG_MAX_NETWORKS ||
			    parse_network(argv[i], &cfg->relay_networks[cfg->nrelay_networks]) == -1) {
				err_at(errs, file, line, "relay_networks: '%s' is not an address or network (or too many)", argv[i]);
				return -1;
			}
			cfg->nrelay_networks++;
		}
		return 0;
	}
	if (k->type == C_LISTEN)
		return parse_listen(cfg, argv, argc, errs, file, line);
	if (k->type == C_HOSTPORT) {
		/* metrics_listen HOST:PORT, [V6]:PORT; the address is checked
		 * (numeric, loopback) once metrics_listen_any is known. */
		struct config_transport t = { .port = 0 };

		if (argc != 1) {
			err_at(errs, file, line, "%s: expected HOST:PORT", k->name);
			return -1;
		}
		if (parse_hostport(argv[0], &t, errs, file, line, k->name) == -1)
			return -1;
		if (t.port == 0 || str_copy(cfg->metrics_host, sizeof(cfg->metrics_host), t.host) == -1) {
			err_at(errs, file, line, "%s: expected HOST:PORT with a numeric address", k->name);
			return -1;
		}
		cfg->metrics_port = t.port;
		return 0;
	}
	if (k->type == C_ACTION) {
		enum config_action *a = (enum config_action *)(base + k->off);

		if (argc == 1 && strcmp(argv[0], "none") == 0)
			*a = ACTION_NONE;
		else if (argc == 1 && strcmp(argv[0], "quarantine") == 0)
			*a = ACTION_QUARANTINE;
		else if (argc == 1 && strcmp(argv[0], "reject") == 0)
			*a = ACTION_REJECT;
		else {
			err_at(errs, file, line, "%s: expected reject, quarantine or none", k->name);
			return -1;
		}
		return 0;
	}
	if (k->type == C_ZONES) {
		/* dnsbl, dnsbl_domain, arc_trusted_sealer: one name a line,
		 * repeatable. */
		char (*zones)[256] = (char (*)[256])(base + k->off);
		size_t *n = k->off == OFF(dnsbl) ? &cfg->ndnsbl :
		    k->off == OFF(arc_trusted) ? &cfg->narc_trusted : &cfg->ndnsbl_domain;

		if (argc != 1 || *n == CONFIG_MAX_DNSBL ||
		    str_copy(zones[*n], 256, argv[0]) == -1 || argv[0][0] == '.' ||
		    strchr(argv[0], '.') == NULL) {
			err_at(errs, file, line, "%s: expected one domain name (at most %d lines)",
			    k->name, CONFIG_MAX_DNSBL);
			return -1;
		}
		str_lower(zones[(*n)++]);
		return 0;
	}
	if (k->type == C_DOMAINS) {
		for (i = 0; i < argc; i++) {
			if (cfg->ndomains == CONFIG_MAX_DOMAINS ||
			    str_copy(cfg->domains[cfg->ndomains], 256, argv[i]) == -1) {
				err_at(errs, file, line, "domains: too many or too long");
				return -1;
			}
			str_lower(cfg->domains[cfg->ndomains++]);
		}
		return 0;
	}
	if (k->type == C_TEXT && argc >= 1) {
		/* Words, as a name has them: joined by single spaces. */
		char *out = base + k->off;
		size_t used = 0;

		for (int i = 0; i < argc; i++) {
			int n = snprintf(out + used, k->size - used, "%s%s", i ? " " : "", argv[i]);

			if (n < 0 || (size_t)n >= k->size - used) {
				err_at(errs, file, line, "%s: value too long", k->name);
				return -1;
			}
			used += (size_t)n;
		}
		return 0;
	}
	if (argc != 1) {
		err_at(errs, file, line, "%s: expected one value", k->name);
		return -1;
	}
	switch (k->type) {
	case C_STR:
		if (str_copy(base + k->off, k->size, argv[0]) == -1) {
			err_at(errs, file, line, "%s: value too long", k->name);
			return -1;
		}
		return 0;
	case C_BOOL:
		if (strcmp(argv[0], "yes") == 0 || strcmp(argv[0], "true") == 0)
			*(bool *)(base + k->off) = true;
		else if (strcmp(argv[0], "no") == 0 || strcmp(argv[0], "false") == 0)
			*(bool *)(base + k->off) = false;
		else {
			err_at(errs, file, line, "%s: expected yes or no", k->name);
			return -1;
		}
		return 0;
	case C_INT:
	case C_SIZE:
	case C_QUOTA:
	case C_DURATION: {
		int rc;

		if (k->type == C_DURATION)
			rc = config_parse_duration(argv[0], &v);
		else if (k->type == C_QUOTA && strcmp(argv[0], "none") == 0) {
			v = 0;
			rc = 0;
		} else if (k->type == C_SIZE || k->type == C_QUOTA)
			rc = parse_size(argv[0], &v);
		else {
			char *end;

			errno = 0;
			v = strtoll(argv[0], &end, 10);
			rc = (errno || *end || end == argv[0]) ? -1 : 0;
		}
		if (rc == -1 || v < k->min || v > k->max) {
			err_at(errs, file, line, "%s: '%s' is not a valid value (%lld..%lld)",
			    k->name, argv[0], k->min, k->max);
			return -1;
		}
		if (k->type == C_SIZE || k->type == C_QUOTA)
			*(uint64_t *)(base + k->off) = (uint64_t)v;
		else if (k->type == C_DURATION || k->size == sizeof(int))
			*(int *)(base + k->off) = (int)v;
		else
			*(size_t *)(base + k->off) = (size_t)v;
		return 0;
	}
	default:
		return -1;
	}
}

/* metrics_listen: a numeric address, and loopback (127/8, ::1, or
 * IPv4-mapped 127/8) unless metrics_listen_any says otherwise: the page
 * tells anyone who can reach it how much mail flows and from where it is
 * refused, and it has no authentication. */
static void
metrics_check(const struct config *cfg, const char *name, struct buf *errs)
{
	static const unsigned char v6lo[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	unsigned char a[16];
	bool loopback;

	if (cfg->metrics_port == 0)
		return;
	if (inet_pton(AF_INET, cfg->metrics_host, a) == 1)
		loopback = a[0] == 127;
	else if (inet_pton(AF_INET6, cfg->metrics_host, a) == 1)
		loopback = memcmp(a, v6lo, 16) == 0 ||
		    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	else {
		buf_printf(errs, "%s: metrics_listen %s: not a numeric address\n", name,
		    cfg->metrics_host);
		return;
	}
	if (!loopback && !cfg->metrics_listen_any)
		buf_printf(errs, "%s: metrics_listen %s: not a loopback address "
		    "(set metrics_listen_any yes to serve metrics beyond this host)\n", name,
		    cfg->metrics_host);
}

/* Longest line: as the file reader always allowed (a 4 KiB line buffer). */
#define CONFIG_LINE_MAX 4095

int
config_parse(struct config *cfg, const char *text, size_t len, const char *name,
    struct buf *errs)
{
	char line[CONFIG_LINE_MAX + 1];
	size_t before = errs->len, pos = 0;
	int lineno = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *argv[CONFIG_MAX_DOMAINS + 1], *p, *hash, *save = NULL;
		int argc = 0;
		size_t i;

		lineno++;
		if (llen >= CONFIG_LINE_MAX) {
			err_at(errs, name, lineno, "line too long");
			pos += llen + (nl ? 1 : 0);
			continue;
		}
		memcpy(line, text + pos, llen);
		line[llen] = '\0';
		pos += llen + (nl ? 1 : 0);
		if (memchr(line, '\0', llen) != NULL) {
			err_at(errs, name, lineno, "NUL in line");
			continue;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		for (p = strtok_r(line, " \t\r\n", &save); p; p = strtok_r(NULL, " \t\r\n", &save)) {
			if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
				err_at(errs, name, lineno, "too many values");
				break;
			}
			argv[argc++] = p;
		}
		if (argc == 0)
			continue;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(keys[i].name, argv[0]) == 0)
				break;
		}
		if (i == sizeof(keys) / sizeof(keys[0])) {
			err_at(errs, name, lineno, "unknown key '%s'", argv[0]);
			continue;
		}
		if (argc < 2) {
			err_at(errs, name, lineno, "%s: missing value", argv[0]);
			continue;
		}
		apply(cfg, &keys[i], argv + 1, argc - 1, errs, name, lineno);
	}
	if (cfg->ndomains == 0)
		buf_printf(errs, "%s: no 'domains' configured\n", name);
	if (cfg->nlisteners == 0)
		buf_printf(errs, "%s: no 'listen' configured\n", name);
	if (cfg->retry_max < cfg->retry_initial)
		buf_printf(errs, "%s: retry_max is below retry_initial\n", name);
	/* tern's LMTP server writes tern's Maildirs, which nobody reads once
	 * local mail goes to another mailbox server. */
	for (size_t k = 0; k < cfg->nlisteners; k++) {
		if (config_transport_is_lmtp(&cfg->local_transport) &&
		    cfg->listeners[k].kind == LISTEN_LMTP) {
			buf_printf(errs, "%s: listen lmtp (tern is the mailbox server) and "
			    "local_transport lmtp: (another server is) exclude each other\n", name);
			break;
		}
	}
	metrics_check(cfg, name, errs);
	if (cfg->dmarc_report_org[0] == '\0')
		str_copy(cfg->dmarc_report_org, sizeof(cfg->dmarc_report_org), cfg->hostname);
	if (cfg->postmaster[0] == '\0' && cfg->ndomains > 0)
		snprintf(cfg->postmaster, sizeof(cfg->postmaster), "postmaster@%s",
		    cfg->domains[0]);
	if (cfg->dmarc_report_from[0] == '\0')
		str_copy(cfg->dmarc_report_from, sizeof(cfg->dmarc_report_from), cfg->postmaster);
	if (cfg->arc_seal[0] && !config_dkim_domain(cfg, cfg->arc_seal))
		buf_printf(errs, "%s: arc_seal %s: no dkim_key of that domain to seal with\n", name,
		    cfg->arc_seal);
	if (cfg->dmarc_reports && strchr(cfg->dmarc_report_from, '@') == NULL)
		buf_printf(errs, "%s: dmarc_reports needs dmarc_report_from (or a domain for postmaster)\n", name);
	return errs->len == before ? 0 : -1;
}

int
config_path(const struct config *cfg, const char *rel, char *out,
    size_t outsize)
{
	int n;

	if (rel[0] == '/')
		return str_copy(out, outsize, rel);
	n = snprintf(out, outsize, "%s/%s", cfg->data_dir, rel);
	return (n < 0 || (size_t)n >= outsize) ? -1 : 0;
}

bool
config_dkim_domain(const struct config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->ndkim; i++) {
		if (str_ieq(cfg->dkim[i].domain, domain))
			return true;
	}
	return false;
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->ndomains; i++) {
		if (str_ieq(cfg->domains[i], domain))
			return true;
	}
	return false;
}
