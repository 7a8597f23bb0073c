/*
 * auth: password checks against the passwd-file (Dovecot's format,
 * "{SCHEME}hash"), through libxcrypt: yescrypt ({CRYPT}$y$...) is what
 * tern writes; bcrypt ($2y$), SHA-512-crypt ($6$) and SHA-256-crypt ($5$)
 * are read, as is {PLAIN} for tests and migrations. Slow by design: call
 * auth_verify on the I/O pool, never on the loop.
 */
#ifndef TERN_AUTH_H
#define TERN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* True when password matches stored. stored NULL or "" (no such user, no
 * password) is false after a check of the same cost against a fixed hash,
 * so that a refusal takes the same time whether the user exists or not. */
bool auth_verify(const char *stored, const char *password);
/* Writes "{CRYPT}$y$..." for password into out; 0 or -1. */
int auth_hash(const char *password, char *out, size_t outsize);

#endif
