/*
 * ctl_control: the control socket's client (see the header). The answer
 * is read with stdio: lines are short except a list's, and getline grows
 * its buffer to the longest.
 */
#include "ctl_control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/sockaddr.h"
#include "../common/str.h"
#include "../proto/word.h"

/* Longer than any answer the daemon takes to start (a reload waits for
 * the keeper, which re-reads every file). */
#define CTL_TIMEOUT 120

int
ctl_load_config(const char *path, struct config *cfg)
{
	struct buf errs = BUF_INIT;

	config_defaults(cfg);
	if (config_load(cfg, path, &errs) == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		return -1;
	}
	buf_release(&errs);
	return 0;
}

int
ctl_connect(const struct config *cfg, struct ctl_conn *cc)
{
	struct sockaddr_un sun;
	struct timeval tv = { .tv_sec = CTL_TIMEOUT };
	char path[CONFIG_PATH_MAX];
	int dirfd, rc;

	memset(cc, 0, sizeof(*cc));
	cc->fd = -1;
	if (config_path(cfg, cfg->control_socket, path, sizeof(path)) == -1) {
		fprintf(stderr, "ternctl: control_socket: path too long\n");
		return -1;
	}
	if (sockaddr_unix(&sun, path, &dirfd) == -1) {
		fprintf(stderr, "ternctl: cannot reach ternd at %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = (cc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(cc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(cc->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ? -1 : 0;
	if (dirfd != -1) {
		int err = errno;

		close(dirfd);
		errno = err;
	}
	if (rc == -1) {
		int err = errno;

		fprintf(stderr, "ternctl: cannot reach ternd at %s: %s%s\n", path, strerror(err),
		    err == ENOENT || err == ECONNREFUSED ? " (is ternd running?)" :
		    err == EACCES ? " (only root and ternd's user may)" : "");
		ctl_close(cc);
		return -1;
	}
	if ((cc->in = fdopen(cc->fd, "r")) == NULL) {
		ctl_close(cc);
		return -1;
	}
	return 0;
}

int
ctl_send(struct ctl_conn *cc, const char *verb, char *const *args, size_t nargs)
{
	struct buf b = BUF_INIT;
	size_t i;
	int rc = -1;

	if (buf_printf(&b, "%s", verb) == -1)
		goto out;
	for (i = 0; i < nargs; i++) {
		if (buf_append_char(&b, ' ') == -1 || word_put(&b, args[i]) == -1)
			goto out;
	}
	if (buf_append_char(&b, '\n') == -1)
		goto out;
	rc = fileio_write_all(cc->fd, b.data, b.len);
	if (rc == -1)
		fprintf(stderr, "ternctl: writing to ternd: %s\n", strerror(errno));
out:
	buf_release(&b);
	return rc;
}

int
ctl_next(struct ctl_conn *cc)
{
	ssize_t n;
	int i;

	errno = 0;
	if ((n = getline(&cc->line, &cc->linecap, cc->in)) <= 0 || cc->line[n - 1] != '\n') {
		fprintf(stderr, "ternctl: ternd closed the connection%s%s\n",
		    errno ? ": " : "", errno == EAGAIN ? "no answer in time" :
		    errno ? strerror(errno) : "");
		return -1;
	}
	cc->line[n - 1] = '\0';
	if ((cc->nw = word_split(cc->line, cc->w, CTL_MAX_WORDS)) <= 0)
		goto bad;
	for (i = 0; i < cc->nw; i++) {
		if (word_get(cc->w[i]) == NULL)
			goto bad;
	}
	if (strcmp(cc->w[0], "ok") == 0)
		return 0;
	if (strcmp(cc->w[0], "err") == 0) {
		fprintf(stderr, "ternctl: ternd: %s\n", cc->nw > 1 ? cc->w[1] : "error");
		return -1;
	}
	return 1;
bad:
	fprintf(stderr, "ternctl: a malformed answer from ternd\n");
	return -1;
}

void
ctl_close(struct ctl_conn *cc)
{
	if (cc->in)
		fclose(cc->in);
	else if (cc->fd != -1)
		close(cc->fd);
	free(cc->line);
	memset(cc, 0, sizeof(*cc));
	cc->fd = -1;
}

/* ------------------------------------------------------------ status --- */

static void
print_time(const char *label, long long t)
{
	char text[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(text, sizeof(text), "-");
	printf("%-18s %s\n", label, text);
}

static void
print_uptime(long long s)
{
	printf("%-18s %lldd %02lld:%02lld:%02lld\n", "uptime", s / 86400, s / 3600 % 24,
	    s / 60 % 60, s % 60);
}

int
ctl_status(const char *config, int argc, char **argv)
{
	struct config cfg;
	struct ctl_conn cc;
	int rc;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: ternctl [-c FILE] status\n");
		return 2;
	}
	if (ctl_load_config(config, &cfg) == -1 || ctl_connect(&cfg, &cc) == -1)
		return 1;
	if (ctl_send(&cc, "status", NULL, 0) == -1) {
		ctl_close(&cc);
		return 1;
	}
	while ((rc = ctl_next(&cc)) == 1) {
		if (strcmp(cc.w[0], "listener") == 0 && cc.nw == 3)
			printf("%-18s %-11s %s\n", "listening", cc.w[1], cc.w[2]);
		else if (strcmp(cc.w[0], "status") != 0 || cc.nw != 3)
			continue;       /* a newer daemon's line */
		else if (strcmp(cc.w[1], "started") == 0 || strcmp(cc.w[1], "queue-oldest") == 0)
			print_time(cc.w[1], atoll(cc.w[2]));
		else if (strcmp(cc.w[1], "uptime") == 0)
			print_uptime(atoll(cc.w[2]));
		else
			printf("%-18s %s\n", cc.w[1], cc.w[2]);
	}
	ctl_close(&cc);
	return rc == 0 ? 0 : 1;
}

int
ctl_reload(const char *config, int argc, char **argv)
{
	struct config cfg;
	struct ctl_conn cc;
	struct buf errs = BUF_INIT;
	int rc, bad;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: ternctl [-c FILE] reload\n");
		return 2;
	}
	/* A file with errors is still ternd's to refuse (it logs and answers
	 * them, and keeps running as it was); the errors are printed here only
	 * when ternd cannot be asked. */
	config_defaults(&cfg);
	bad = config_load(&cfg, config, &errs) == -1;
	if (ctl_connect(&cfg, &cc) == -1) {
		fprintf(stderr, "%s", bad ? buf_cstr(&errs) : "");
		buf_release(&errs);
		return 1;
	}
	buf_release(&errs);
	if (ctl_send(&cc, "reload", NULL, 0) == -1) {
		ctl_close(&cc);
		return 1;
	}
	while ((rc = ctl_next(&cc)) == 1)
		;
	if (rc == 0)
		printf("ternd: %s\n", cc.nw > 1 ? cc.w[1] : "reloaded");
	ctl_close(&cc);
	return rc == 0 ? 0 : 1;
}
