/*
 * directory: who lives here. The users file (Dovecot-compatible passwd-file,
 * "user@domain:{SCHEME}hash:...", read by proto/passwd; only the user
 * names and their quotas are kept here, the passwords are the keeper's
 * auth/passwd_table) and the aliases file ("name: target, target").
 * Loaded once, read-only afterwards; a reload builds a new one.
 */
#ifndef TERN_DIRECTORY_H
#define TERN_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/buf.h"

struct directory;

/* Loads both files; a missing aliases file is not an error. Problems are
 * appended to errs as "file:line: text\n" and make it return NULL. */
struct directory *directory_load(const char *users_path,
    const char *aliases_path, struct buf *errs);
/* The same from open streams (aliases may be NULL: none); names are for
 * the errors. The streams stay open. */
struct directory *directory_load_files(FILE *users, const char *users_name,
    FILE *aliases, const char *aliases_name, struct buf *errs);
void directory_free(struct directory **dp);


/* address is "local@domain", lower case. */
bool directory_has_user(const struct directory *d, const char *address);

/* The quota of users whose line gives none (config's quota_default);
 * octets, 0 for none. Set after each load. */
void directory_set_quota_default(struct directory *d, uint64_t bytes);
/*
 * A user's mail quota: the one their line in the users file gives
 * (proto/quota_rule: quota=, quota_rule=, userdb_quota_rule=), else the
 * default. *bytes_r and *messages_r are the limits, 0 for none of that
 * kind. True when there is a limit; false for no quota or no such user.
 */
bool directory_quota(const struct directory *d, const char *address,
    uint64_t *bytes_r, uint64_t *messages_r);

/* Returns the alias targets for key ("local@domain" or "local"), or NULL.
 * *n_r is their count. */
const char *const *directory_alias(const struct directory *d,
    const char *key, size_t *n_r);


size_t directory_user_count(const struct directory *d);

#endif
