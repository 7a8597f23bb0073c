/*
 * test_config: the configuration file, the users and aliases files, and
 * recipient routing over them. Files are written to mkstemp(3) temporaries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "route/directory.h"
#include "route/router.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define BASE "domains example.org\nlisten smtp 127.0.0.1:2525\n"

/* Temporary files, removed after each test. */
static char tmp_paths[8][64];
static size_t ntmp;

static const char *
write_tmp(const char *content)
{
	char *path;
	size_t n = strlen(content);
	int fd;

	assert_true(ntmp < NELEM(tmp_paths));
	path = tmp_paths[ntmp++];
	snprintf(path, sizeof(tmp_paths[0]), "/tmp/tern-unit-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, content, n) == (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return path;
}

static int
teardown_tmp(void **state)
{
	(void)state;
	while (ntmp > 0)
		unlink(tmp_paths[--ntmp]);
	return 0;
}

/* Loads content as a config file; errs gets the messages. */
static int
load(const char *content, struct config *cfg, struct buf *errs, const char **pathp)
{
	const char *path = write_tmp(content);

	if (pathp)
		*pathp = path;
	config_defaults(cfg);
	buf_reset(errs);
	return config_load(cfg, path, errs);
}

static void
test_minimal(void **state)
{
	struct config cfg;
	struct buf errs = BUF_INIT;

	(void)state;
	if (load(BASE, &cfg, &errs, NULL) != 0)
		fail_msg("errors: %s", buf_cstr(&errs));
	assert_int_equal(errs.len, 0);
	assert_int_equal(cfg.ndomains, 1);
	assert_string_equal(cfg.domains[0], "example.org");
	assert_string_equal(cfg.postmaster, "postmaster@example.org");
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].kind, LISTEN_SMTP);
	assert_string_equal(cfg.listeners[0].host, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].port, 2525);
	/* defaults */
	assert_true(cfg.max_message_size == 35u << 20);
	assert_int_equal(cfg.max_line_length, 1000);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.queue_lifetime, 5 * 86400);
	assert_string_equal(cfg.data_dir, "./var");
	assert_true(cfg.quota_default == 0);
	buf_release(&errs);
}

static void
test_full(void **state)
{
	struct config cfg;
	struct buf errs = BUF_INIT;
	const char *text =
	    "# a full configuration\n"
	    "\n"
	    "hostname\tmx.example.org\n"
	    "data_dir /var/lib/tern   # trailing comment\n"
	    "users_file /etc/tern/users\n"
	    "aliases_file aliases\n"
	    "domains example.org Example.NET\n"
	    "domains third.example\n"
	    "postmaster root@example.org\n"
	    "listen smtp 0.0.0.0:25\n"
	    "listen submission [::1]:587\n"
	    "listen smtps mx.example.org:465\r\n"
	    "listen imap 127.0.0.1:143\n"
	    "listen imaps 127.0.0.1:993\n"
	    "imap_max_user_sessions 7\n"
	    "   max_message_size 50M\n"
	    "max_recipients 50\n"
	    "max_line_length 2000\n"
	    "max_command_length 1024\n"
	    "max_received_headers 30\n"
	    "max_connections 100\n"
	    "max_connections_per_ip 5\n"
	    "idle_timeout 5m\n"
	    "data_timeout 30s\n"
	    "max_errors 3\n"
	    "io_threads 2\n"
	    "retry_initial 15m\n"
	    "retry_max 4h\n"
	    "queue_lifetime 5d\n"
	    "log_syslog yes\n"
	    "log_debug false\n";

	(void)state;
	if (load(text, &cfg, &errs, NULL) != 0)
		fail_msg("errors: %s", buf_cstr(&errs));
	assert_string_equal(cfg.hostname, "mx.example.org");
	assert_string_equal(cfg.data_dir, "/var/lib/tern");
	assert_string_equal(cfg.users_file, "/etc/tern/users");
	assert_string_equal(cfg.aliases_file, "aliases");
	assert_int_equal(cfg.ndomains, 3);
	assert_string_equal(cfg.domains[1], "example.net");
	assert_string_equal(cfg.domains[2], "third.example");
	assert_string_equal(cfg.postmaster, "root@example.org");
	assert_int_equal(cfg.nlisteners, 5);
	assert_int_equal(cfg.listeners[3].kind, LISTEN_IMAP);
	assert_int_equal(cfg.listeners[3].port, 143);
	assert_int_equal(cfg.listeners[4].kind, LISTEN_IMAPS);
	assert_int_equal(cfg.imap_max_user_sessions, 7);
	assert_int_equal(cfg.listeners[0].kind, LISTEN_SMTP);
	assert_string_equal(cfg.listeners[0].host, "0.0.0.0");
	assert_int_equal(cfg.listeners[0].port, 25);
	assert_int_equal(cfg.listeners[1].kind, LISTEN_SUBMISSION);
	assert_string_equal(cfg.listeners[1].host, "::1");
	assert_int_equal(cfg.listeners[1].port, 587);
	assert_int_equal(cfg.listeners[2].kind, LISTEN_SMTPS);
	assert_string_equal(cfg.listeners[2].host, "mx.example.org");
	assert_int_equal(cfg.listeners[2].port, 465);
	assert_true(cfg.max_message_size == 50u << 20);
	assert_int_equal(cfg.max_recipients, 50);
	assert_int_equal(cfg.max_line_length, 2000);
	assert_int_equal(cfg.max_command_length, 1024);
	assert_int_equal(cfg.max_received_headers, 30);
	assert_int_equal(cfg.max_connections, 100);
	assert_int_equal(cfg.max_connections_per_ip, 5);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.data_timeout, 30);
	assert_int_equal(cfg.max_errors, 3);
	assert_int_equal(cfg.io_threads, 2);
	assert_int_equal(cfg.retry_initial, 900);
	assert_int_equal(cfg.retry_max, 4 * 3600);
	assert_int_equal(cfg.queue_lifetime, 5 * 86400);
	assert_true(cfg.log_syslog);
	assert_false(cfg.log_debug);
	assert_true(config_is_local_domain(&cfg, "EXAMPLE.net"));
	assert_true(config_is_local_domain(&cfg, "third.example"));
	assert_false(config_is_local_domain(&cfg, "example.com"));
	assert_false(config_is_local_domain(&cfg, "sub.example.org"));
	buf_release(&errs);
}

static void
test_durations_sizes(void **state)
{
	static const struct {
		const char *line;
		long long want;
	} dur[] = {
		{ "queue_lifetime 30", 30 }, { "queue_lifetime 30s", 30 },
		{ "queue_lifetime 5m", 300 }, { "queue_lifetime 4h", 14400 },
		{ "queue_lifetime 5d", 432000 }, { "queue_lifetime 60d", 60 * 86400 },
		{ "queue_lifetime 1", 1 },
	}, sizes[] = {
		{ "max_message_size 35M", 35LL << 20 },
		{ "max_message_size 35m", 35LL << 20 },
		{ "max_message_size 1024", 1024 },
		{ "max_message_size 1k", 1024 },
		{ "max_message_size 64K", 64LL << 10 },
		{ "max_message_size 2G", 2LL << 30 },
		{ "max_message_size 1024G", 1LL << 40 },
	}, quotas[] = {
		{ "quota_default 1G", 1LL << 30 },
		{ "quota_default 100M", 100LL << 20 },
		{ "quota_default 1024", 1024 },
		{ "quota_default 0", 0 },
		{ "quota_default none", 0 },
		{ "quota_default 8589934591G", 8589934591LL << 30 },
	};
	struct config cfg;
	struct buf errs = BUF_INIT;
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(dur); i++) {
		snprintf(text, sizeof(text), BASE "%s\n", dur[i].line);
		if (load(text, &cfg, &errs, NULL) != 0)
			fail_msg("\"%s\": %s", dur[i].line, buf_cstr(&errs));
		assert_int_equal(cfg.queue_lifetime, dur[i].want);
		teardown_tmp(NULL);
	}
	for (i = 0; i < NELEM(sizes); i++) {
		snprintf(text, sizeof(text), BASE "%s\n", sizes[i].line);
		if (load(text, &cfg, &errs, NULL) != 0)
			fail_msg("\"%s\": %s", sizes[i].line, buf_cstr(&errs));
		assert_true(cfg.max_message_size == (uint64_t)sizes[i].want);
		teardown_tmp(NULL);
	}
	for (i = 0; i < NELEM(quotas); i++) {
		snprintf(text, sizeof(text), BASE "%s\n", quotas[i].line);
		if (load(text, &cfg, &errs, NULL) != 0)
			fail_msg("\"%s\": %s", quotas[i].line, buf_cstr(&errs));
		assert_true(cfg.quota_default == (uint64_t)quotas[i].want);
		teardown_tmp(NULL);
	}
	buf_release(&errs);
}

/* Each bad line, put on line 3, must fail with "path:3: ". */
static void
test_bad_lines(void **state)
{
	static const char *bad[] = {
		"bogus_key 1",
		"Hostname x",
		"hostname",
		"hostname a b",
		"max_recipients abc",
		"max_recipients 10x",
		"max_recipients 0",
		"max_recipients 100001",
		"max_recipients -1",
		"max_recipients 99999999999999999999",
		"max_recipients 0x10",
		"max_recipients 1 2",
		"max_command_length 511",
		"io_threads 65",
		"max_connections 1.5",
		"max_message_size 1023",
		"max_message_size 35X",
		"max_message_size 35MB",
		"max_message_size 2T",
		"max_message_size 2000G",
		"max_message_size -1M",
		"max_message_size M",
		"max_message_size 9999999999G",
		"max_message_size 9223372036854775807K",
		"max_message_size 99999999999999999999",
		"quota_default -1",
		"quota_default lots",
		"quota_default 1T",
		"quota_default 1G 2G",
		"quota_default None",
		"quota_default 8589934592G",
		"idle_timeout 0",
		"idle_timeout 2d",
		"idle_timeout 5x",
		"idle_timeout 5mm",
		"idle_timeout -5",
		"idle_timeout m",
		"idle_timeout 5 m",
		"idle_timeout 99999999999999d",
		"idle_timeout 9223372036854775807d",
		"idle_timeout 4294967296",
		"retry_max 8d",
		"queue_lifetime 61d",
		"log_syslog maybe",
		"log_syslog 1",
		"log_debug",
		"listen smtp 127.0.0.1",
		"listen smtp 127.0.0.1:",
		"listen smtp 127.0.0.1:0",
		"listen smtp 127.0.0.1:65536",
		"listen smtp 127.0.0.1:-25",
		"listen smtp 127.0.0.1:25x",
		"listen smtp 127.0.0.1:x",
		"listen imap4 127.0.0.1:143",
		"listen SMTP 127.0.0.1:25",
		"listen smtp",
		"listen smtp a:1 b:2",
		"listen smtp aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:25",
	};
	struct config cfg;
	struct buf errs = BUF_INIT;
	char text[512], want[96];
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(text, sizeof(text), BASE "%s\n# after\n", bad[i]);
		if (load(text, &cfg, &errs, &path) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		snprintf(want, sizeof(want), "%s:3: ", path);
		if (strncmp(buf_cstr(&errs), want, strlen(want)) != 0)
			fail_msg("\"%s\": errors \"%s\", want prefix \"%s\"", bad[i],
			    buf_cstr(&errs), want);
		/* one error, one line */
		assert_non_null(strchr(buf_cstr(&errs), '\n'));
		assert_int_equal(strchr(buf_cstr(&errs), '\n')[1], '\0');
		teardown_tmp(NULL);
	}
	buf_release(&errs);
}

/* route and local_transport: each form, its parse and its text (what
 * ternctl check shows), which reads back the same. */
static void
test_transports(void **state)
{
	static const struct {
		const char *line;
		int kind;               /* enum config_transport_kind */
		const char *host, *path;
		int port;
		const char *text;
	} good[] = {
		{ "route example.net mx.example.net", TRANSPORT_SMTP, "mx.example.net", "", 25,
		  "mx.example.net:25" },
		{ "route example.net 192.0.2.1:2525", TRANSPORT_SMTP, "192.0.2.1", "", 2525,
		  "192.0.2.1:2525" },
		{ "route example.net [2001:db8::1]:26", TRANSPORT_SMTP, "2001:db8::1", "", 26,
		  "[2001:db8::1]:26" },
		{ "route example.net lmtp:127.0.0.1:2424", TRANSPORT_LMTP, "127.0.0.1", "", 2424,
		  "lmtp:127.0.0.1:2424" },
		{ "route example.net lmtp:dovecot.example.net", TRANSPORT_LMTP,
		  "dovecot.example.net", "", 24, "lmtp:dovecot.example.net:24" },
		{ "route example.net lmtp:[::1]:24", TRANSPORT_LMTP, "::1", "", 24,
		  "lmtp:[::1]:24" },
		{ "route example.net lmtp:unix:/run/dovecot/lmtp", TRANSPORT_LMTP_UNIX, "",
		  "/run/dovecot/lmtp", 0, "lmtp:unix:/run/dovecot/lmtp" },
		{ "local_transport lmtp:127.0.0.1:24", TRANSPORT_LMTP, "127.0.0.1", "", 24,
		  "lmtp:127.0.0.1:24" },
		{ "local_transport lmtp:unix:/var/run/dovecot/lmtp", TRANSPORT_LMTP_UNIX, "",
		  "/var/run/dovecot/lmtp", 0, "lmtp:unix:/var/run/dovecot/lmtp" },
		{ "local_transport maildir", TRANSPORT_MAILDIR, "", "", 0, "maildir" },
	};
	static const char *bad[] = {
		"route example.net lmtp:unix:relative/lmtp",
		"route example.net lmtp:unix:",
		"route example.net lmtp:",
		"route example.net lmtp:127.0.0.1:0",
		"route example.net lmtp:127.0.0.1:65536",
		"route example.net lmtp:127.0.0.1:24x",
		"route example.net lmtp:[::1",
		"route example.net [::1]x",
		"route example.net host:",
		"route example.net",
		"route example.net a b",
		"route example.net lmtp:unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"local_transport maildir:x",
		"local_transport 127.0.0.1:24",
		"local_transport smtp:127.0.0.1:25",
		"local_transport lmtp:unix:lmtp",
		"local_transport lmtp:unix:/a b",
	};
	struct config cfg;
	struct buf errs = BUF_INIT;
	char text[512], shown[300];
	size_t i;

	(void)state;
	/* The default: tern writes the Maildirs itself. */
	assert_int_equal(load(BASE, &cfg, &errs, NULL), 0);
	assert_int_equal(cfg.local_transport.kind, TRANSPORT_MAILDIR);
	assert_false(config_transport_is_lmtp(&cfg.local_transport));
	teardown_tmp(NULL);
	for (i = 0; i < NELEM(good); i++) {
		const struct config_transport *t;

		snprintf(text, sizeof(text), BASE "%s\n", good[i].line);
		if (load(text, &cfg, &errs, NULL) != 0)
			fail_msg("\"%s\": %s", good[i].line, buf_cstr(&errs));
		if (strncmp(good[i].line, "route", 5) == 0) {
			assert_int_equal(cfg.nroutes, 1);
			assert_string_equal(cfg.routes[0].domain, "example.net");
			assert_ptr_equal(config_route_for(&cfg, "Example.NET"), &cfg.routes[0]);
			t = &cfg.routes[0].hop;
		} else
			t = &cfg.local_transport;
		assert_int_equal(t->kind, good[i].kind);
		assert_string_equal(t->host, good[i].host);
		assert_string_equal(t->path, good[i].path);
		assert_int_equal(t->port, good[i].port);
		assert_int_equal(config_transport_is_lmtp(t), good[i].kind == TRANSPORT_LMTP ||
		    good[i].kind == TRANSPORT_LMTP_UNIX);
		assert_int_equal(config_transport_text(t, shown, sizeof(shown)), 0);
		assert_string_equal(shown, good[i].text);
		teardown_tmp(NULL);
	}
	for (i = 0; i < NELEM(bad); i++) {
		snprintf(text, sizeof(text), BASE "%s\n", bad[i]);
		if (load(text, &cfg, &errs, NULL) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(buf_cstr(&errs), ":3: "));
		teardown_tmp(NULL);
	}
	/* tern as the mailbox server and another server as it: one or the
	 * other. (A route to LMTP beside an LMTP listener is fine.) */
	assert_int_equal(load(BASE "listen lmtp unix:/run/tern/lmtp\n"
	    "local_transport lmtp:127.0.0.1:24\n", &cfg, &errs, NULL), -1);
	assert_non_null(strstr(buf_cstr(&errs), "exclude each other"));
	teardown_tmp(NULL);
	assert_int_equal(load(BASE "listen lmtp unix:/run/tern/lmtp\n"
	    "route example.net lmtp:127.0.0.1:24\n", &cfg, &errs, NULL), 0);
	teardown_tmp(NULL);
	/* The text is bounded like every fixed array. */
	assert_int_equal(load(BASE "local_transport lmtp:unix:/run/dovecot/lmtp\n", &cfg,
	    &errs, NULL), 0);
	assert_int_equal(config_transport_text(&cfg.local_transport, shown, 12), -1);
	teardown_tmp(NULL);
	buf_release(&errs);
}

/* metrics_listen: HOST:PORT, loopback unless metrics_listen_any. */
static void
test_metrics_listen(void **state)
{
	static const struct {
		const char *lines;
		const char *host;       /* NULL: refused */
		int port;
	} cases[] = {
		{ "", "", 0 },
		{ "metrics_listen 127.0.0.1:9100\n", "127.0.0.1", 9100 },
		{ "metrics_listen 127.1.2.3:1\n", "127.1.2.3", 1 },
		{ "metrics_listen [::1]:9100\n", "::1", 9100 },
		{ "metrics_listen [::ffff:127.0.0.1]:9100\n", "::ffff:127.0.0.1", 9100 },
		{ "metrics_listen 0.0.0.0:9100\nmetrics_listen_any yes\n", "0.0.0.0", 9100 },
		{ "metrics_listen_any yes\nmetrics_listen [2001:db8::1]:9100\n", "2001:db8::1", 9100 },
		{ "metrics_listen 0.0.0.0:9100\n", NULL, 0 },
		{ "metrics_listen 192.0.2.1:9100\nmetrics_listen_any no\n", NULL, 0 },
		{ "metrics_listen [::]:9100\n", NULL, 0 },
		{ "metrics_listen [::ffff:192.0.2.1]:9100\n", NULL, 0 },
		{ "metrics_listen localhost:9100\n", NULL, 0 },
		{ "metrics_listen 127.0.0.1\n", NULL, 0 },
		{ "metrics_listen 127.0.0.1:0\n", NULL, 0 },
		{ "metrics_listen 127.0.0.1:65536\n", NULL, 0 },
		{ "metrics_listen 127.0.0.1:9100 x\n", NULL, 0 },
		{ "metrics_listen [::1:9100\n", NULL, 0 },
		{ "metrics_listen_any maybe\n", NULL, 0 },
	};
	struct buf errs = BUF_INIT, text = BUF_INIT;
	struct config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		int rc;

		buf_reset(&text);
		buf_printf(&text, BASE "%s", cases[i].lines);
		config_defaults(&cfg);
		buf_reset(&errs);
		rc = config_parse(&cfg, text.data, text.len, "t.conf", &errs);
		if (cases[i].host == NULL) {
			if (rc != -1)
				fail_msg("case %zu accepted: %s", i, cases[i].lines);
			assert_non_null(strstr(buf_cstr(&errs), "metrics_listen"));
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: %s", i, buf_cstr(&errs));
		assert_string_equal(cfg.metrics_host, cases[i].host);
		assert_int_equal(cfg.metrics_port, cases[i].port);
	}
	buf_release(&errs);
	buf_release(&text);
}

static void
test_errors_file_line(void **state)
{
	struct config cfg;
	struct buf errs = BUF_INIT;
	const char *path;
	char want[128];

	(void)state;
	/* every problem is reported, each with its own line */
	assert_int_equal(load("domains example.org\n"
	    "unknown_one 1\n"
	    "listen smtp 127.0.0.1:25\n"
	    "\n"
	    "max_recipients lots\n", &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s:2: unknown key 'unknown_one'\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:5: max_recipients", path);
	assert_non_null(strstr(buf_cstr(&errs), want));

	/* whole-file problems name the file */
	assert_int_equal(load("hostname x\n", &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s: no 'domains' configured\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s: no 'listen' configured\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));

	assert_int_equal(load(BASE "retry_initial 2h\nretry_max 1h\n", &cfg,
	    &errs, &path), -1);
	assert_non_null(strstr(buf_cstr(&errs), "retry_max"));

	/* a missing file */
	config_defaults(&cfg);
	buf_reset(&errs);
	assert_int_equal(config_load(&cfg, "/nonexistent/tern.conf", &errs), -1);
	assert_non_null(strstr(buf_cstr(&errs), "/nonexistent/tern.conf: "));

	/* errors are appended, not replacing what was there */
	config_defaults(&cfg);
	buf_reset(&errs);
	buf_append_str(&errs, "earlier\n");
	assert_int_equal(config_load(&cfg, write_tmp(BASE), &errs), 0);
	assert_string_equal(buf_cstr(&errs), "earlier\n");
	buf_release(&errs);
}

static void
test_long_lines(void **state)
{
	struct config cfg;
	struct buf errs = BUF_INIT, text = BUF_INIT;
	const char *path;
	char want[128];
	size_t i;

	(void)state;
	/* a line longer than the reader's buffer is one error on its line, and
	 * the next line is still read */
	buf_append_str(&text, BASE "hostname ");
	for (i = 0; i < 5000; i++)
		buf_append_char(&text, 'h');
	buf_append_str(&text, "\nbogus 1\n");
	assert_int_equal(load(buf_cstr(&text), &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s:3: line too long\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:4: unknown key 'bogus'\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	teardown_tmp(NULL);

	/* a value longer than its field */
	buf_reset(&text);
	buf_append_str(&text, BASE "hostname ");
	for (i = 0; i < 300; i++)
		buf_append_char(&text, 'h');
	buf_append_char(&text, '\n');
	assert_int_equal(load(buf_cstr(&text), &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s:3: hostname: value too long\n", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	teardown_tmp(NULL);

	/* too many listeners */
	buf_reset(&text);
	buf_append_str(&text, "domains example.org\n");
	for (i = 0; i < CONFIG_MAX_LISTENERS + 1; i++)
		buf_printf(&text, "listen smtp 127.0.0.1:%zu\n", 1000 + i);
	assert_int_equal(load(buf_cstr(&text), &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s:%d: listen", path, CONFIG_MAX_LISTENERS + 2);
	assert_non_null(strstr(buf_cstr(&errs), want));
	assert_int_equal(cfg.nlisteners, CONFIG_MAX_LISTENERS);
	teardown_tmp(NULL);

	/* too many domains */
	buf_reset(&text);
	buf_append_str(&text, "listen smtp 127.0.0.1:25\ndomains");
	for (i = 0; i < CONFIG_MAX_DOMAINS; i++)
		buf_printf(&text, " d%zu.example", i);
	buf_append_str(&text, "\ndomains one.more.example\n");
	assert_int_equal(load(buf_cstr(&text), &cfg, &errs, &path), -1);
	snprintf(want, sizeof(want), "%s:3: domains", path);
	assert_non_null(strstr(buf_cstr(&errs), want));
	teardown_tmp(NULL);

	buf_release(&text);
	buf_release(&errs);
}

static void
test_write_default(void **state)
{
	struct config cfg;
	struct buf errs = BUF_INIT;
	char path[64];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/tern-unit-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	/* it refuses to overwrite */
	assert_int_equal(config_write_default(path, "/srv/tern"), -1);
	unlink(path);
	assert_int_equal(config_write_default(path, "/srv/tern"), 0);
	config_defaults(&cfg);
	if (config_load(&cfg, path, &errs) != 0)
		fail_msg("default config does not load: %s", buf_cstr(&errs));
	assert_string_equal(cfg.data_dir, "/srv/tern");
	assert_true(config_is_local_domain(&cfg, "localhost"));
	unlink(path);
	buf_release(&errs);
}

static void
test_config_path(void **state)
{
	struct config cfg;
	char out[64];

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "/var/tern");
	assert_int_equal(config_path(&cfg, "users", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/tern/users");
	assert_int_equal(config_path(&cfg, "/etc/users", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/users");
	assert_int_equal(config_path(&cfg, "users", out, 10), -1);
	assert_int_equal(config_path(&cfg, "/etc/users", out, 5), -1);
}

/* directory and router */

static const char users_text[] =
    "# user@domain:{scheme}hash:uid:gid::home\n"
    "bob@example.org:{BLF-CRYPT}$2y$05$abc::::\n"
    "Alice@Example.ORG:{PLAIN}secret\n"
    "  dave@example.org  \n"
    "\n"
    "carol@example.net\n"
    "postmaster@example.org:{PLAIN}x\n";

static const char aliases_text[] =
    "# name: target, target\n"
    "info: bob, alice\n"
    "sales@example.org: alice\n"
    "fwd: bob, someone@remote.example\n"
    "loop1: loop2\n"
    "loop2: loop1\n"
    "selfish: selfish\n"
    "dave: dave, bob\n"
    "dup: bob, BOB, bob@example.org\n"
    "Team: info, carol@example.net\n"
    "c0: c1\nc1: c2\nc2: c3\nc3: c4\nc4: c5\nc5: c6\nc6: c7\nc7: bob\n"
    "d0: d1\nd1: d2\nd2: d3\nd3: d4\nd4: d5\nd5: d6\nd6: d7\nd7: d8\nd8: bob\n";

struct route_env {
	struct config cfg;
	struct directory *dir;
};

static int
setup_route(void **state)
{
	static struct route_env env;
	struct buf errs = BUF_INIT;

	config_defaults(&env.cfg);
	snprintf(env.cfg.domains[0], 256, "example.org");
	snprintf(env.cfg.domains[1], 256, "example.net");
	env.cfg.ndomains = 2;
	snprintf(env.cfg.postmaster, sizeof(env.cfg.postmaster),
	    "postmaster@example.org");
	env.dir = directory_load(write_tmp(users_text), write_tmp(aliases_text),
	    &errs);
	if (env.dir == NULL) {
		fprintf(stderr, "directory_load: %s\n", buf_cstr(&errs));
		buf_release(&errs);
		return -1;
	}
	buf_release(&errs);
	*state = &env;
	return 0;
}

static int
teardown_route(void **state)
{
	struct route_env *env = *state;

	directory_free(&env->dir);
	assert_null(env->dir);
	return teardown_tmp(state);
}

/* Expands local@domain; want is a space-separated list, '!' marking a
 * non-local destination, or NULL for an error status. */
static void
check_route(const struct route_env *env, const char *local, const char *domain,
    enum route_status want_st, const char *want)
{
	struct route_list l = { 0 };
	struct buf got = BUF_INIT;
	enum route_status st;
	size_t i;

	st = router_expand(&env->cfg, env->dir, local, domain, &l);
	for (i = 0; i < l.n; i++)
		buf_printf(&got, "%s%s%s", i ? " " : "", l.dests[i].local ? "" : "!",
		    l.dests[i].address);
	if (st != want_st)
		fail_msg("%s@%s: status %d, want %d (got \"%s\")", local, domain, st,
		    want_st, buf_cstr(&got));
	if (want_st == ROUTE_OK && strcmp(buf_cstr(&got), want) != 0)
		fail_msg("%s@%s: \"%s\", want \"%s\"", local, domain, buf_cstr(&got),
		    want);
	route_list_clear(&l);
	assert_null(l.dests);
	buf_release(&got);
}

static void
test_directory(void **state)
{
	struct route_env *env = *state;
	const char *const *t;
	size_t n;

	assert_int_equal(directory_user_count(env->dir), 5);
	assert_true(directory_has_user(env->dir, "bob@example.org"));
	assert_true(directory_has_user(env->dir, "alice@example.org"));
	assert_true(directory_has_user(env->dir, "dave@example.org"));
	assert_true(directory_has_user(env->dir, "carol@example.net"));
	assert_false(directory_has_user(env->dir, "bob@example.net"));
	assert_false(directory_has_user(env->dir, "bob"));
	t = directory_alias(env->dir, "info", &n);
	assert_non_null(t);
	assert_int_equal(n, 2);
	assert_string_equal(t[0], "bob");
	assert_string_equal(t[1], "alice");
	assert_non_null(directory_alias(env->dir, "sales@example.org", &n));
	assert_non_null(directory_alias(env->dir, "team", &n));
	assert_null(directory_alias(env->dir, "sales", &n));
	assert_null(directory_alias(env->dir, "nobody", &n));
}

static void
test_route(void **state)
{
	struct route_env *env = *state;

	/* users */
	check_route(env, "bob", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "BOB", "Example.ORG", ROUTE_OK, "bob@example.org");
	check_route(env, "alice", "example.org", ROUTE_OK, "alice@example.org");
	check_route(env, "carol", "example.net", ROUTE_OK, "carol@example.net");
	/* +tag subaddressing */
	check_route(env, "bob+tag", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "bob+a+b", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "bob+", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "+tag", "example.org", ROUTE_UNKNOWN_USER, NULL);
	check_route(env, "nobody+bob", "example.org", ROUTE_UNKNOWN_USER, NULL);
	/* aliases */
	check_route(env, "info", "example.org", ROUTE_OK,
	    "bob@example.org alice@example.org");
	check_route(env, "info+x", "example.org", ROUTE_OK,
	    "bob@example.org alice@example.org");
	check_route(env, "info", "example.net", ROUTE_UNKNOWN_USER, NULL);
	check_route(env, "sales", "example.org", ROUTE_OK, "alice@example.org");
	check_route(env, "sales", "example.net", ROUTE_UNKNOWN_USER, NULL);
	check_route(env, "fwd", "example.org", ROUTE_OK,
	    "bob@example.org !someone@remote.example");
	check_route(env, "dave", "example.org", ROUTE_OK,
	    "dave@example.org bob@example.org");
	check_route(env, "dup", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "team", "example.org", ROUTE_OK,
	    "bob@example.org alice@example.org carol@example.net");
	/* loops and depth */
	check_route(env, "loop1", "example.org", ROUTE_LOOP, NULL);
	check_route(env, "selfish", "example.org", ROUTE_LOOP, NULL);
	check_route(env, "c0", "example.org", ROUTE_OK, "bob@example.org");
	check_route(env, "d0", "example.org", ROUTE_LOOP, NULL);
	/* unknown and non-local */
	check_route(env, "nobody", "example.org", ROUTE_UNKNOWN_USER, NULL);
	check_route(env, "bob", "remote.example", ROUTE_NOT_LOCAL, NULL);
	check_route(env, "bob", "sub.example.org", ROUTE_NOT_LOCAL, NULL);
	/* postmaster: the user itself, the fallback, and <postmaster> */
	check_route(env, "postmaster", "example.org", ROUTE_OK,
	    "postmaster@example.org");
	check_route(env, "Postmaster", "example.net", ROUTE_OK,
	    "postmaster@example.org");
	check_route(env, "abuse", "example.org", ROUTE_OK, "postmaster@example.org");
	check_route(env, "postmaster", "", ROUTE_OK, "postmaster@example.org");
}

/* The postmaster fallback when the postmaster address itself is unknown:
 * no loop, just unknown. */
static void
test_route_postmaster_unknown(void **state)
{
	struct route_env *env = *state;
	struct route_env e2 = *env;

	snprintf(e2.cfg.postmaster, sizeof(e2.cfg.postmaster),
	    "postmaster@example.net");
	check_route(&e2, "postmaster", "example.net", ROUTE_UNKNOWN_USER, NULL);
	check_route(&e2, "abuse", "example.net", ROUTE_UNKNOWN_USER, NULL);
	snprintf(e2.cfg.postmaster, sizeof(e2.cfg.postmaster), "info@example.org");
	check_route(&e2, "postmaster", "example.net", ROUTE_OK,
	    "bob@example.org alice@example.org");
	snprintf(e2.cfg.postmaster, sizeof(e2.cfg.postmaster), "admin@remote.example");
	check_route(&e2, "postmaster", "", ROUTE_OK, "!admin@remote.example");
}

static void
test_route_too_many(void **state)
{
	struct buf aliases = BUF_INIT;
	struct route_env env;
	struct buf errs = BUF_INIT;
	size_t i, j;

	(void)state;
	config_defaults(&env.cfg);
	snprintf(env.cfg.domains[0], 256, "example.org");
	env.cfg.ndomains = 1;
	/* big0..big3: 300 remote targets each, all: the four lists */
	for (j = 0; j < 4; j++) {
		buf_printf(&aliases, "big%zu:", j);
		for (i = 0; i < 300; i++)
			buf_printf(&aliases, " u%zu.%zu@r.example", j, i);
		buf_append_char(&aliases, '\n');
	}
	buf_append_str(&aliases, "three: big0, big1, big2\nall: big0, big1, big2, big3\n");
	env.dir = directory_load(write_tmp("bob@example.org\n"),
	    write_tmp(buf_cstr(&aliases)), &errs);
	if (env.dir == NULL)
		fail_msg("%s", buf_cstr(&errs));
	{
		struct route_list l = { 0 };

		assert_int_equal(router_expand(&env.cfg, env.dir, "three",
		    "example.org", &l), ROUTE_OK);
		assert_int_equal(l.n, 900);
		route_list_clear(&l);
		assert_int_equal(router_expand(&env.cfg, env.dir, "all",
		    "example.org", &l), ROUTE_TOO_MANY);
		route_list_clear(&l);
	}
	directory_free(&env.dir);
	buf_release(&aliases);
	buf_release(&errs);
	teardown_tmp(NULL);
}

static void
test_directory_errors(void **state)
{
	struct buf errs = BUF_INIT;
	struct directory *d;
	const char *users, *aliases;
	char want[128];

	(void)state;
	/* a users line without a domain */
	users = write_tmp("bob@example.org\nalice:{PLAIN}x\n");
	aliases = write_tmp("");
	assert_null(directory_load(users, aliases, &errs));
	snprintf(want, sizeof(want), "%s:2: ", users);
	assert_non_null(strstr(buf_cstr(&errs), want));
	buf_reset(&errs);

	users = write_tmp("@example.org\nbob@\n");
	assert_null(directory_load(users, aliases, &errs));
	snprintf(want, sizeof(want), "%s:1: ", users);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:2: ", users);
	assert_non_null(strstr(buf_cstr(&errs), want));
	buf_reset(&errs);
	teardown_tmp(NULL);

	/* alias lines: no colon, no name, no targets */
	users = write_tmp("bob@example.org\n");
	aliases = write_tmp("ok: bob\nnocolon bob\n: bob\nempty:\nempty2: , ,\n");
	assert_null(directory_load(users, aliases, &errs));
	snprintf(want, sizeof(want), "%s:2: ", aliases);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:3: ", aliases);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:4: ", aliases);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:5: ", aliases);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:1: ", aliases);
	assert_null(strstr(buf_cstr(&errs), want));
	buf_reset(&errs);

	/* a missing aliases file is fine; a missing users file is not */
	d = directory_load(users, "/nonexistent/aliases", &errs);
	assert_non_null(d);
	assert_int_equal(errs.len, 0);
	directory_free(&d);
	assert_null(directory_load("/nonexistent/users", aliases, &errs));
	assert_non_null(strstr(buf_cstr(&errs), "/nonexistent/users"));

	/* empty files: no users, no aliases, lookups still work */
	buf_reset(&errs);
	d = directory_load(write_tmp(""), "/nonexistent/aliases", &errs);
	assert_non_null(d);
	assert_int_equal(directory_user_count(d), 0);
	assert_false(directory_has_user(d, "bob@example.org"));
	{
		size_t n;

		assert_null(directory_alias(d, "bob", &n));
	}
	directory_free(&d);
	directory_free(&d);   /* idempotent on NULL */
	buf_release(&errs);
}

/* Quotas from the users file's extra fields, the default for the rest,
 * and a bad quota field refused with its file and line. */
static void
test_directory_quota(void **state)
{
	static const struct {
		const char *user;
		bool limited;
		uint64_t bytes, messages;
	} t[] = {
		{ "own@example.org", true, 1024, 0 },
		{ "rule@example.org", true, 100u << 20, 0 },
		{ "both@example.org", true, 1u << 30, 50 },
		{ "count@example.org", true, 0, 10 },
		{ "none@example.org", false, 0, 0 },       /* quota=none beats the default */
		{ "plain@example.org", true, 5u << 20, 0 },  /* the default */
		{ "folder@example.org", true, 5u << 20, 0 }, /* a folder rule is not one */
		{ "nobody@example.org", false, 0, 0 },
	};
	struct buf errs = BUF_INIT;
	struct directory *d;
	const char *users;
	char want[160];
	uint64_t b, m;
	size_t i;

	(void)state;
	users = write_tmp(
	    "own@example.org:{PLAIN}x::::::quota=1K\n"
	    "rule@example.org:{PLAIN}x:1000:1000::/home/r::userdb_quota_rule=*:storage=100M\n"
	    "both@example.org::::::: quota_rule=*:storage=1G:messages=50 home=/x\n"
	    "count@example.org:::::::quota_rule=*:messages=10\n"
	    "none@example.org:::::::quota=none\n"
	    "plain@example.org:{PLAIN}x\n"
	    "folder@example.org:::::::quota_rule2=Trash:storage=+1M quota_rule=INBOX:storage=1M\n");
	d = directory_load(users, "/nonexistent", &errs);
	if (d == NULL)
		fail_msg("%s", buf_cstr(&errs));
	/* Before the default is set, only users' own quotas count. */
	assert_false(directory_quota(d, "plain@example.org", &b, &m));
	directory_set_quota_default(d, 5u << 20);
	for (i = 0; i < NELEM(t); i++) {
		bool got = directory_quota(d, t[i].user, &b, &m);

		if (got != t[i].limited || b != t[i].bytes || m != t[i].messages)
			fail_msg("%s: %d %llu %llu", t[i].user, got, (unsigned long long)b,
			    (unsigned long long)m);
	}
	directory_free(&d);

	users = write_tmp("ok@example.org:::::::quota=1M\n"
	    "bad@example.org:{PLAIN}x::::::quota=lots\n"
	    "bad2@example.org:::::::userdb_quota_rule=*:storage=10%\n");
	assert_null(directory_load(users, "/nonexistent", &errs));
	snprintf(want, sizeof(want), "%s:2: 'quota=lots': ", users);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:3: 'userdb_quota_rule=*:storage=10%%': ", users);
	assert_non_null(strstr(buf_cstr(&errs), want));
	snprintf(want, sizeof(want), "%s:1: ", users);
	assert_null(strstr(buf_cstr(&errs), want));
	buf_release(&errs);
}

/* Many users: the arrays grow past their first capacity and stay sorted. */
static void
test_directory_many(void **state)
{
	struct buf users = BUF_INIT, errs = BUF_INIT;
	struct directory *d;
	char addr[64];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		buf_printf(&users, "user%zu@example.org:{PLAIN}x\n", (i * 7919) % 1000);
	d = directory_load(write_tmp(buf_cstr(&users)), "/nonexistent", &errs);
	assert_non_null(d);
	assert_int_equal(directory_user_count(d), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "user%zu@example.org", i);
		assert_true(directory_has_user(d, addr));
	}
	assert_false(directory_has_user(d, "user1000@example.org"));
	directory_free(&d);
	buf_release(&users);
	buf_release(&errs);
}

/* A reload keeps what a running ternd cannot change, and names it; the
 * rest comes from the new file. The reference count survives parsing. */
static void
test_keep_fixed(void **state)
{
	static const char run_text[] =
	    "domains example.org\ndata_dir /srv/mail\nio_threads 4\nresolver 127.0.0.1@5353\n"
	    "dkim_key example.org s1 /k1\nmax_message_size 1M\nlisten smtp 127.0.0.1:25\n";
	static const char next_text[] =
	    "domains example.org\ndata_dir /elsewhere\nio_threads 8\nresolver 127.0.0.1@5353\n"
	    "dkim_key example.org s2 /k2\nmax_message_size 2M\nlisten smtp 127.0.0.1:26\n"
	    "commit_sync fsync\n";
	struct config *run = config_new(), *next = config_new();
	struct buf errs = BUF_INIT, notes = BUF_INIT;

	(void)state;
	assert_non_null(run);
	assert_non_null(next);
	if (config_parse(run, run_text, sizeof(run_text) - 1, "run", &errs) != 0)
		fail_msg("%s", buf_cstr(&errs));
	if (config_parse(next, next_text, sizeof(next_text) - 1, "next", &errs) != 0)
		fail_msg("%s", buf_cstr(&errs));
	assert_int_equal(config_refs(next), 1);
	assert_int_equal(config_keep_fixed(run, next, &notes), 4);
	assert_string_equal(buf_cstr(&notes),
	    "data_dir: needs a restart, unchanged\n"
	    "io_threads: needs a restart, unchanged\n"
	    "commit_sync: needs a restart, unchanged\n"
	    "dkim_key: needs a restart, unchanged\n");
	assert_string_equal(next->data_dir, "/srv/mail");
	assert_int_equal(next->io_threads, 4);
	assert_true(next->commit_syncfs == run->commit_syncfs);
	assert_string_equal(next->dkim[0].selector, "s1");
	/* What may change did. */
	assert_true(next->max_message_size == 2u << 20);
	assert_int_equal(next->listeners[0].port, 26);
	/* Nothing differs the second time. */
	buf_reset(&notes);
	assert_int_equal(config_keep_fixed(run, next, &notes), 0);
	assert_int_equal(notes.len, 0);
	config_ref(next);
	config_unref(next);
	config_unref(next);
	assert_int_equal(config_refs(next), 0);
	config_unref(next);   /* never below zero */
	assert_int_equal(config_refs(next), 0);
	config_free(&run);
	config_free(&next);
	assert_null(next);
	buf_release(&errs);
	buf_release(&notes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_minimal, teardown_tmp),
		cmocka_unit_test_teardown(test_full, teardown_tmp),
		cmocka_unit_test_teardown(test_durations_sizes, teardown_tmp),
		cmocka_unit_test_teardown(test_bad_lines, teardown_tmp),
		cmocka_unit_test_teardown(test_transports, teardown_tmp),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test_teardown(test_errors_file_line, teardown_tmp),
		cmocka_unit_test_teardown(test_long_lines, teardown_tmp),
		cmocka_unit_test(test_write_default),
		cmocka_unit_test(test_keep_fixed),
		cmocka_unit_test(test_config_path),
		cmocka_unit_test_setup_teardown(test_directory, setup_route,
		    teardown_route),
		cmocka_unit_test_setup_teardown(test_route, setup_route,
		    teardown_route),
		cmocka_unit_test_setup_teardown(test_route_postmaster_unknown,
		    setup_route, teardown_route),
		cmocka_unit_test_teardown(test_route_too_many, teardown_tmp),
		cmocka_unit_test_teardown(test_directory_errors, teardown_tmp),
		cmocka_unit_test_teardown(test_directory_many, teardown_tmp),
		cmocka_unit_test_teardown(test_directory_quota, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
