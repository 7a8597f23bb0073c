/*
 * log: the mechanics of logging. One line per call on stderr (or syslog),
 * prefixed with a timestamp. Mail events are formatted in maillog/, not here.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stddef.h>

#include "buf.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

void log_init(const char *ident, enum log_level min, int use_syslog);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* As log_msg at WARN, with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Startup errors and broken invariants only; never for a session's error. */
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)

/*
 * Appends s (n bytes) as a log value: bare when it is plain printable ASCII
 * without spaces, quotes or '=', otherwise in double quotes with \" \\ and
 * \xNN escapes. Peer-supplied strings go through here, never raw.
 */
int log_append_value(struct buf *out, const char *s, size_t n);

#endif
