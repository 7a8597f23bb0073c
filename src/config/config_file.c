/*
 * config_file: the configuration's files: reading ternd.conf into
 * config_parse (pure, in config.c) and writing the first-run default.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
config_load(struct config *cfg, const char *path, struct buf *errs)
{
	FILE *f;
	int rc;

	if ((f = fopen(path, "r")) == NULL) {
		buf_printf(errs, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = config_load_stream(cfg, f, path, errs);
	fclose(f);
	return rc;
}

int
config_load_stream(struct config *cfg, FILE *f, const char *name, struct buf *errs)
{
	struct buf text = BUF_INIT;
	char chunk[8192];
	size_t n;
	int rc;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&text, chunk, n) == -1) {
			buf_printf(errs, "%s: out of memory\n", name);
			buf_release(&text);
			return -1;
		}
	}
	if (ferror(f)) {
		buf_printf(errs, "%s: %s\n", name, strerror(errno));
		buf_release(&text);
		return -1;
	}
	rc = config_parse(cfg, text.data ? text.data : "", text.len, name, errs);
	buf_release(&text);
	return rc;
}

int
config_write_default(const char *path, const char *data_dir)
{
	FILE *f;

	if ((f = fopen(path, "wx")) == NULL)
		return -1;
	fprintf(f,
	    "# tern configuration, written on first run. Every key is described\n"
	    "# in docs/configuration.md; check it with: ternctl check -c %s\n"
	    "\n"
	    "hostname     localhost\n"
	    "data_dir     %s\n"
	    "domains      localhost\n"
	    "users_file   users        # relative to data_dir\n"
	    "aliases_file aliases\n"
	    "\n"
	    "listen smtp       127.0.0.1:2525   # MX: mail from other servers\n"
	    "listen submission 127.0.0.1:2587   # users: STARTTLS, then AUTH\n"
	    "listen smtps      127.0.0.1:2465   # users: implicit TLS, then AUTH\n"
	    "listen pop3       127.0.0.1:2110   # mail clients: STLS, then login\n"
	    "listen pop3s      127.0.0.1:2995   # mail clients: implicit TLS\n"
	    "listen imap       127.0.0.1:2143   # mail clients: STARTTLS, then login\n"
	    "listen imaps      127.0.0.1:2993   # mail clients: implicit TLS\n"
	    "# tls_cert / tls_key: unset, so a self-signed pair is made in tls/\n"
	    "\n"
	    "max_message_size       35M\n"
	    "max_recipients         1000\n"
	    "max_connections        2000\n"
	    "max_connections_per_ip 50\n"
	    "idle_timeout           5m\n", path, data_dir);
	return fclose(f) == 0 ? 0 : -1;
}

int
config_write_production(FILE *f, const struct config_production *p)
{
	/* The standard ports (RFC 5321, 6409, 8314, 1939, 9051). */
	static const struct {
		const char *service;
		int port;
		const char *what;
	} ports[] = {
		{ "smtp", 25, "MX: mail from other servers" },
		{ "submission", 587, "mail clients sending: STARTTLS, then AUTH" },
		{ "smtps", 465, "the same with implicit TLS" },
		{ "pop3", 110, "POP3: STLS, then login" },
		{ "pop3s", 995, "POP3 with implicit TLS" },
		{ "imap", 143, "IMAP: STARTTLS, then login" },
		{ "imaps", 993, "IMAP with implicit TLS" },
	};
	size_t i;

	fprintf(f,
	    "# tern production configuration, written by ternd --init=production.\n"
	    "# Every key is described in ternd.conf(5) and docs/configuration.md.\n"
	    "# Check it with: ternctl -c %s check\n"
	    "# The users, aliases and TLS certificate are re-read on SIGHUP\n"
	    "# (systemctl reload ternd); any other change needs a restart.\n"
	    "\n"
	    "# The name in the greeting, in Received fields and on bounces: the name\n"
	    "# your MX record points to, with A/AAAA and a PTR record that match.\n"
	    "hostname     %s\n"
	    "# The domains whose mail is delivered here, separated by spaces.\n"
	    "domains      %s\n"
	    "\n"
	    "data_dir     %s   # queue/, mail/ (the Maildirs), dmarc/: back it up\n"
	    "users_file   %s   # ternctl user add|passwd|del; root, mode 0600\n"
	    "aliases_file %s\n"
	    "run_as       tern   # ternd starts as root and becomes this user\n"
	    "\n"
	    "# Every address: 0.0.0.0 is IPv4, [::] IPv6 (bound IPv6-only, so both fit).\n",
	    p->config_path, p->hostname, p->domains, p->data_dir, p->users_file,
	    p->aliases_file);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		fprintf(f, "listen %-10s 0.0.0.0:%-4d  # %s\n", ports[i].service, ports[i].port,
		    ports[i].what);
		fprintf(f, "%slisten %-10s [::]:%d%s\n", p->ipv6 ? "" : "# ", ports[i].service,
		    ports[i].port, p->ipv6 ? "" : "   (no IPv6 on this host)");
	}
	fprintf(f,
	    "\n"
	    "# TLS for every listener: the certificate chain (leaf first) and its key,\n"
	    "# PEM. ternd --init=production put a self-signed pair here so that the\n"
	    "# first start works; replace it with a certificate for the hostname,\n"
	    "# e.g. from an ACME client (certbot: /etc/letsencrypt/live/NAME/\n"
	    "# fullchain.pem and privkey.pem may be named here directly) and reload\n"
	    "# after each renewal. Keep the key root-owned, mode 0600: only ternd's\n"
	    "# keeper process reads it.\n"
	    "tls_cert     %s\n"
	    "tls_key      %s\n"
	    "\n"
	    "max_message_size       35M\n"
	    "max_recipients         1000\n"
	    "max_connections        2000\n"
	    "max_connections_per_ip 50\n"
	    "\n"
	    "# Signing outbound mail (ternctl dkim keygen DOMAIN SELECTOR prints the line):\n"
	    "# dkim_key example.org s1 %s/dkim/example.org.s1.key\n"
	    "# Checking inbound mail (docs/verify.md):\n"
	    "# check_spf   yes\n"
	    "# check_dkim  yes\n"
	    "# check_dmarc yes\n",
	    p->tls_cert, p->tls_key, p->data_dir);
	return ferror(f) ? -1 : 0;
}
