/*
 * ternctl: the administrator's command. "check" validates a configuration
 * and the users and aliases files it names, reporting file:line, and shows
 * where mail goes (routes, local_transport); "user" manages the
 * passwd-file; "spf" runs an SPF check (ctl_spf.c); "dmarc report" shows a
 * day's DMARC results (ctl_dmarc.c). Passwords are read
 * from the terminal (echo off) or from stdin, never from the command
 * line, where ps(1) would show them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../auth/auth.h"
#include "../common/fileio.h"
#include "../policy/dkim_sign.h"
#include "../common/buf.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../route/directory.h"
#include "ctl_control.h"
#include "ctl_dmarc.h"
#include "ctl_queue.h"
#include "ctl_spf.h"
#include "ctl_trace.h"

static int
usage(void)
{
	fprintf(stderr, "usage: ternctl [-c FILE] check [FILE]\n"
	    "       ternctl [-c FILE] user add|passwd ADDRESS   (password from the terminal or stdin)\n"
	    "       ternctl [-c FILE] user del ADDRESS\n"
	    "       ternctl [-c FILE] user list\n"
	    "       ternctl [-c FILE] dkim keygen DOMAIN SELECTOR [rsa|ed25519]\n"
	    "       ternctl [-c FILE] spf [--resolver IP@PORT] [--timeout SEC] IP HELO MAILFROM\n"
	    "       ternctl [-c FILE] spf [options] --batch   (IP HELO MAILFROM lines on stdin)\n"
	    "       ternctl [-c FILE] dmarc report [--day YYYY-MM-DD] [--domain DOMAIN] [--xml]\n"
	    "       ternctl [-c FILE] queue list|show|hold|release|delete|bounce|requeue|flush ...\n"
	    "       ternctl [-c FILE] status\n"
	    "       ternctl [-c FILE] reload   (users, aliases, TLS certificate)\n"
	    "       ternctl [-c FILE] trace ID|ADDRESS|@DOMAIN|<MESSAGE-ID> [--since TIME] [--log FILE|-] [--journal] [--json]\n"
	    "FILE defaults to " CONFIG_DEFAULT_PATH ".\n"
	    "After changing users, run ternctl reload (or send ternd SIGHUP).\n");
	return 2;
}

/* One line from the terminal with echo off, or from stdin. */
static int
read_password(const char *prompt, char *out, size_t outsize)
{
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	if (fgets(out, (int)outsize, stdin) == NULL)
		out[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return n > 0 ? 0 : -1;
}

/* Rewrites the users file with address's line replaced (hash != NULL),
 * added, or removed (hash == NULL): temp file, fsync, rename. */
static int
users_update(const char *path, const char *address, const char *hash, int mode)
{
	char tmp[CONFIG_PATH_MAX + 8], line[4096];
	FILE *in, *out;
	int found = 0, fd;
	size_t alen = strlen(address);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (out = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "ternctl: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	if ((in = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), in)) {
			if (strncasecmp(line, address, alen) == 0 &&
			    (line[alen] == ':' || line[alen] == '\n' || line[alen] == '\0')) {
				found = 1;
				if (hash != NULL)
					fprintf(out, "%s:%s\n", address, hash);
				continue;
			}
			fputs(line, out);
		}
		fclose(in);
	}
	if (mode == 'a' && found) {
		fclose(out);
		unlink(tmp);
		fprintf(stderr, "ternctl: %s already exists (use user passwd)\n", address);
		return 1;
	}
	if ((mode == 'p' || mode == 'd') && !found) {
		fclose(out);
		unlink(tmp);
		fprintf(stderr, "ternctl: no user %s\n", address);
		return 1;
	}
	if (mode == 'a')
		fprintf(out, "%s:%s\n", address, hash);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "ternctl: writing %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}

static int
cmd_user(const char *config, int argc, char **argv)
{
	struct config cfg;
	struct buf errs = BUF_INIT;
	char users[CONFIG_PATH_MAX], pass[512], again[512], hash[256], addr[512];
	int rc;

	config_defaults(&cfg);
	if (config_load(&cfg, config, &errs) == -1 ||
	    config_path(&cfg, cfg.users_file, users, sizeof(users)) == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		return 1;
	}
	buf_release(&errs);
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		FILE *f = fopen(users, "r");
		char line[4096];

		if (f == NULL) {
			fprintf(stderr, "ternctl: %s: %s\n", users, strerror(errno));
			return 1;
		}
		while (fgets(line, sizeof(line), f)) {
			char *s = str_trim(line);

			if (*s == '\0' || *s == '#')
				continue;
			s[strcspn(s, ":")] = '\0';
			printf("%s\n", s);
		}
		fclose(f);
		return 0;
	}
	if (argc != 2 || str_copy(addr, sizeof(addr), argv[1]) == -1 ||
	    strchr(addr, '@') == NULL || strchr(addr, ':') != NULL)
		return usage();
	str_lower(addr);
	if (strcmp(argv[0], "del") == 0)
		return users_update(users, addr, NULL, 'd');
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "passwd") != 0)
		return usage();
	if (read_password("Password: ", pass, sizeof(pass)) == -1) {
		fprintf(stderr, "ternctl: empty password\n");
		return 1;
	}
	if (isatty(STDIN_FILENO) &&
	    (read_password("Again: ", again, sizeof(again)) == -1 || strcmp(pass, again) != 0)) {
		explicit_bzero(pass, sizeof(pass));
		explicit_bzero(again, sizeof(again));
		fprintf(stderr, "ternctl: passwords differ\n");
		return 1;
	}
	rc = auth_hash(pass, hash, sizeof(hash));
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(again, sizeof(again));
	if (rc == -1) {
		fprintf(stderr, "ternctl: hashing failed\n");
		return 1;
	}
	return users_update(users, addr, hash, argv[0][0] == 'a' ? 'a' : 'p');
}

static int
cmd_check(const char *path)
{
	char users[CONFIG_PATH_MAX], aliases[CONFIG_PATH_MAX], hop[300];
	struct config cfg;
	struct buf errs = BUF_INIT;
	struct directory *dir = NULL;
	size_t i;
	int rc;

	config_defaults(&cfg);
	rc = config_load(&cfg, path, &errs);
	if (config_path(&cfg, cfg.users_file, users, sizeof(users)) == -1 ||
	    config_path(&cfg, cfg.aliases_file, aliases, sizeof(aliases)) == -1) {
		buf_printf(&errs, "%s: users_file or aliases_file path too long\n", path);
		rc = -1;
	} else if ((dir = directory_load(users, aliases, &errs)) == NULL)
		rc = -1;
	if (rc == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		directory_free(&dir);
		return 1;
	}
	printf("%s: ok (%zu domains, %zu users, %zu listeners)\n", path,
	    cfg.ndomains, directory_user_count(dir), cfg.nlisteners);
	/* Where mail goes, as ternd reads it (defaults filled in). */
	for (i = 0; i < cfg.nroutes; i++) {
		config_transport_text(&cfg.routes[i].hop, hop, sizeof(hop));
		printf("route %s %s\n", cfg.routes[i].domain, hop);
	}
	config_transport_text(&cfg.local_transport, hop, sizeof(hop));
	printf("local_transport %s\n", hop);
	directory_free(&dir);
	buf_release(&errs);
	return 0;
}

/* Writes data_dir/dkim/DOMAIN.SELECTOR.key and prints the DNS record. */
static int
cmd_dkim_keygen(const char *config, const char *domain, const char *selector,
    const char *type)
{
	struct config cfg;
	struct buf errs = BUF_INIT, txt = BUF_INIT;
	char dir[CONFIG_PATH_MAX + 8], path[CONFIG_PATH_MAX + 600];
	EVP_PKEY *key;
	FILE *f;
	int fd;

	config_defaults(&cfg);
	if (config_load(&cfg, config, &errs) == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		return 1;
	}
	buf_release(&errs);
	if (strchr(domain, '/') || strchr(selector, '/') || domain[0] == '.') {
		fprintf(stderr, "ternctl: bad domain or selector\n");
		return 1;
	}
	key = strcmp(type, "ed25519") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
	    EVP_RSA_gen(2048);
	snprintf(dir, sizeof(dir), "%s/dkim", cfg.data_dir);
	snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain, selector);
	if (key == NULL || fileio_mkdirs(dir) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0 ||
	    dkim_txt_record(key, &txt) == -1) {
		fprintf(stderr, "ternctl: writing %s: %s\n", path, strerror(errno));
		EVP_PKEY_free(key);
		return 1;
	}
	EVP_PKEY_free(key);
	printf("Wrote %s. Add to %s:\n\n    dkim_key %s %s %s\n\n"
	    "and publish in DNS:\n\n    %s._domainkey.%s. IN TXT \"%s\"\n",
	    path, config, domain, selector, path, selector, domain, buf_cstr(&txt));
	buf_release(&txt);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH;
	bool path_given = false;

	argv++;
	argc--;
	if (argc >= 2 && strcmp(argv[0], "-c") == 0) {
		path = argv[1];
		path_given = true;
		argv += 2;
		argc -= 2;
	}
	if (argc < 1)
		return usage();
	if (strcmp(argv[0], "check") == 0) {
		if (argc == 3 && strcmp(argv[1], "-c") == 0)
			path = argv[2];
		else if (argc == 2)
			path = argv[1];
		else if (argc != 1)
			return usage();
		return cmd_check(path);
	}
	if (strcmp(argv[0], "user") == 0 && argc >= 2)
		return cmd_user(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "dkim") == 0 && (argc == 4 || argc == 5) &&
	    strcmp(argv[1], "keygen") == 0)
		return cmd_dkim_keygen(path, argv[2], argv[3], argc == 5 ? argv[4] : "rsa");
	if (strcmp(argv[0], "spf") == 0)
		return ctl_spf(path, path_given, argc - 1, argv + 1);
	if (strcmp(argv[0], "dmarc") == 0)
		return ctl_dmarc(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "queue") == 0)
		return ctl_queue(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "status") == 0)
		return ctl_status(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "reload") == 0)
		return ctl_reload(path, argc - 1, argv + 1);
	if (strcmp(argv[0], "trace") == 0)
		return ctl_trace(path, argc - 1, argv + 1);
	return usage();
}
