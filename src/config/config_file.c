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
