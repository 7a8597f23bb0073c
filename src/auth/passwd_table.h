/*
 * passwd_table: the users file as the keeper holds it: every user with its
 * password field, sorted, for the AUTH check. Only the keeper process
 * loads one; the network process gets the users without their passwords
 * (passwd_table_write_public) and builds its route/directory from that.
 */
#ifndef TERN_PASSWD_TABLE_H
#define TERN_PASSWD_TABLE_H

#include <stdio.h>

#include "../common/buf.h"

struct passwd_table;

/* Problems are appended to errs as "file:line: text\n" and make it return
 * NULL (so a reload with a broken file keeps the old table). */
struct passwd_table *passwd_table_load(const char *path, struct buf *errs);
void passwd_table_free(struct passwd_table **tp);

/* The password field of user (lower case), "" if it has none, NULL when
 * there is no such user. */
const char *passwd_table_password(const struct passwd_table *t, const char *user);

/* The same file without the password field: "user:::::::extra" lines. */
int passwd_table_write_public(const struct passwd_table *t, FILE *f);

#endif
