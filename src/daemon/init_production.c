/*
 * init_production: `ternd --init=production`, the first step of an
 * installation. It asks nothing: the host's name, whether it has IPv6,
 * and the build's paths give a configuration for the standard ports on
 * every address; beside it go a users file, an aliases file and a
 * self-signed certificate, each only if missing. An existing
 * configuration is never touched.
 */
#include "init_production.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../tls/tls.h"

/* The host's name, fully qualified when the resolver (usually /etc/hosts)
 * knows the long form of a short one; "localhost" when it has none. */
static void
system_hostname(char *out, size_t outsize)
{
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *ai = NULL;

	if (gethostname(out, outsize) != 0 || out[0] == '\0') {
		str_copy(out, outsize, "localhost");
		return;
	}
	out[outsize - 1] = '\0';
	if (strchr(out, '.') != NULL || getaddrinfo(out, NULL, &hints, &ai) != 0)
		return;
	if (ai->ai_canonname && strchr(ai->ai_canonname, '.'))
		str_copy(out, outsize, ai->ai_canonname);
	freeaddrinfo(ai);
}

/* A kernel without IPv6 (or with it compiled out) cannot bind [::]. */
static bool
host_has_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return false;
	close(fd);
	return true;
}

/* Creates path with text unless it exists; 1 written, 0 there, -1 error. */
static int
write_new(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd == -1)
		return errno == EEXIST ? 0 : -1;
	if (fileio_write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	return close(fd) == 0 ? 1 : -1;
}

/* A directory this makes is 0755: the configuration is no secret (the
 * users file and the key inside are 0600); one that exists is left as it
 * is. */
static int
mkdir_public(const char *path)
{
	if (access(path, F_OK) == 0)
		return 0;
	if (fileio_mkdirs(path) == -1 || chmod(path, 0755) == -1) {
		fprintf(stderr, "ternd: mkdir %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The configuration's directory, absolute: the files beside it are named
 * by absolute paths (a relative one would be relative to data_dir). */
static int
production_paths(const char *config_path, char *dir, size_t dirsize)
{
	char cwd[CONFIG_PATH_MAX], *slash;
	int rc;

	if (config_path[0] == '/')
		rc = str_copy(dir, dirsize, config_path);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		rc = str_fmt(dir, dirsize, "%s/%s", cwd, config_path);
	else
		rc = -1;
	if (rc == -1) {
		fprintf(stderr, "ternd: %s: path too long\n", config_path);
		return -1;
	}
	slash = strrchr(dir, '/');   /* there is one: the path is absolute */
	if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

int
init_production_sample(FILE *f)
{
	const char *conf = CONFIG_DEFAULT_PATH;
	char dir[CONFIG_PATH_MAX], users[CONFIG_PATH_MAX + 16], aliases[CONFIG_PATH_MAX + 16];
	char cert[CONFIG_PATH_MAX + 32], key[CONFIG_PATH_MAX + 32];
	struct config_production p = {
		.config_path = conf, .hostname = "mail.example.org",
		.domains = "example.org", .data_dir = CONFIG_PRODUCTION_DATA_DIR,
		.users_file = users, .aliases_file = aliases, .tls_cert = cert,
		.tls_key = key, .ipv6 = true,
	};

	if (production_paths(conf, dir, sizeof(dir)) == -1)
		return -1;
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(aliases, sizeof(aliases), "%s/aliases", dir);
	snprintf(cert, sizeof(cert), "%s/tls/fullchain.pem", dir);
	snprintf(key, sizeof(key), "%s/tls/privkey.pem", dir);
	return config_write_production(f, &p);
}

int
init_production(const char *config_path)
{
	char dir[CONFIG_PATH_MAX], host[256], text[1024];
	char users[CONFIG_PATH_MAX + 16], aliases[CONFIG_PATH_MAX + 16];
	char tlsdir[CONFIG_PATH_MAX + 8], cert[CONFIG_PATH_MAX + 32], key[CONFIG_PATH_MAX + 32];
	struct config_production p = {
		.config_path = config_path, .hostname = host, .domains = host,
		.data_dir = CONFIG_PRODUCTION_DATA_DIR, .users_file = users,
		.aliases_file = aliases, .tls_cert = cert, .tls_key = key,
	};
	struct buf errs = BUF_INIT;
	FILE *f;
	int fd;

	if (production_paths(config_path, dir, sizeof(dir)) == -1)
		return -1;
	if (access(config_path, F_OK) == 0) {
		fprintf(stderr, "ternd: %s exists; left as it is\n", config_path);
		return 0;
	}
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(aliases, sizeof(aliases), "%s/aliases", dir);
	snprintf(tlsdir, sizeof(tlsdir), "%s/tls", dir);
	snprintf(cert, sizeof(cert), "%s/fullchain.pem", tlsdir);
	snprintf(key, sizeof(key), "%s/privkey.pem", tlsdir);
	system_hostname(host, sizeof(host));
	p.ipv6 = host_has_ipv6();
	if (mkdir_public(dir) == -1 || mkdir_public(tlsdir) == -1)
		return -1;
	/* Password hashes go in the users file: owner only. */
	snprintf(text, sizeof(text),
	    "# One mailbox per line: user@domain[:{SCHEME}hash] (Dovecot passwd-file).\n"
	    "# Manage it with: ternctl -c %s user add|passwd|del ADDRESS\n"
	    "postmaster@%s\n", config_path, host);
	if (write_new(users, 0600, text) == -1) {
		fprintf(stderr, "ternd: write %s: %s\n", users, strerror(errno));
		return -1;
	}
	if (write_new(aliases, 0644,
	    "# name: target, target   (a name without @ applies to every local domain)\n"
	    "abuse: postmaster\nroot: postmaster\n") == -1) {
		fprintf(stderr, "ternd: write %s: %s\n", aliases, strerror(errno));
		return -1;
	}
	if (access(cert, F_OK) != 0 && access(key, F_OK) != 0) {
		if (tls_make_self_signed(host, cert, key, &errs) == -1) {
			fprintf(stderr, "ternd: %s", buf_cstr(&errs));
			buf_release(&errs);
			return -1;
		}
		fprintf(stderr, "ternd: wrote a self-signed certificate for %s to %s "
		    "(replace it: docs/operations.md)\n", host, cert);
	}
	buf_release(&errs);
	if ((fd = open(config_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "ternd: write %s: %s\n", config_path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (config_write_production(f, &p) == -1 || fflush(f) != 0 || fsync(fd) != 0) {
		fprintf(stderr, "ternd: write %s: %s\n", config_path, strerror(errno));
		fclose(f);
		unlink(config_path);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "ternd: wrote %s for %s (data in %s, users in %s)\n"
	    "ternd: check the hostname and domains, then: ternctl -c %s check; "
	    "systemctl enable --now ternd\n",
	    config_path, host, CONFIG_PRODUCTION_DATA_DIR, users, config_path);
	return 0;
}
