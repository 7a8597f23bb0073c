/*
 * init_production: `ternd --init=production` (see init_production.c) and
 * the sample configuration `make install` ships.
 */
#ifndef TERN_INIT_PRODUCTION_H
#define TERN_INIT_PRODUCTION_H

#include <stdio.h>

/* Writes a production configuration at config_path, and the users file,
 * aliases file and a self-signed certificate beside it, each unless it
 * exists. Reports on stderr; 0, or -1 on an error. */
int init_production(const char *config_path);

/* The same configuration with example names, to f (no file touched). */
int init_production_sample(FILE *f);

#endif
