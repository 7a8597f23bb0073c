/*
 * ctl_control: ternctl's end of ternd's control socket (daemon/control.c
 * has the protocol): connect, send one request, read the answer line by
 * line as words. Also "ternctl status" and "ternctl reload".
 */
#ifndef TERN_CTL_CONTROL_H
#define TERN_CTL_CONTROL_H

#include <stdio.h>

#include "../config/config.h"

#define CTL_MAX_WORDS 16

struct ctl_conn {
	int fd;
	FILE *in;
	char *line;             /* the last line read (getline's) */
	size_t linecap;
	char *w[CTL_MAX_WORDS]; /* its words, decoded, pointing into line */
	int nw;
};

/* Connects to the control socket the configuration names; on failure
 * says why on stderr ("is ternd running?") and returns -1. */
int ctl_connect(const struct config *cfg, struct ctl_conn *cc);
/* Sends verb and args as one request line of words. */
int ctl_send(struct ctl_conn *cc, const char *verb, char *const *args, size_t nargs);
/* Reads the next answer line into cc->w: 1 for a data line, 0 for the
 * final "ok" (cc->w[1] its text), -1 for "err" (printed on stderr) or a
 * broken answer. */
int ctl_next(struct ctl_conn *cc);
void ctl_close(struct ctl_conn *cc);

/* Loads the configuration at path for a command that only needs to find
 * the daemon; -1 (printed) on errors. */
int ctl_load_config(const char *path, struct config *cfg);

int ctl_status(const char *config, int argc, char **argv);
int ctl_reload(const char *config, int argc, char **argv);

#endif
