/*
 * ctl_spf: "ternctl spf", an SPF check (proto/spf.c) from the shell with
 * a synchronous resolver, one query or a batch from stdin.
 */
#ifndef TERN_CTL_SPF_H
#define TERN_CTL_SPF_H

#include <stdbool.h>

/* argv[0] is the first argument after "spf". config_given: -c was on the
 * command line (else the default configuration is read only if present).
 * Returns the exit status. */
int ctl_spf(const char *config, bool config_given, int argc, char **argv);

#endif
