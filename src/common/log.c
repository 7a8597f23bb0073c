/*
 * log: timestamps, levels, stderr/syslog, and the escaping of peer data.
 * The configuration is set once at startup; after that this module is only
 * read, so threads may log.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *ident;
	enum log_level min;
	int use_syslog;
} log_cfg = { "tern", LOG_LVL_INFO, 0 };

void
log_init(const char *ident, enum log_level min, int use_syslog)
{
	log_cfg.ident = ident;
	log_cfg.min = min;
	log_cfg.use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static void
log_vemit(enum log_level lvl, const char *fmt, va_list ap, int err)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[4096], ts[64];
	struct timespec now;
	struct tm tm;
	int n;

	if (lvl < log_cfg.min)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	if (log_cfg.use_syslog) {
		syslog(prio[lvl], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so lines never mix. */
	fprintf(stderr, "%s.%03ldZ %s[%ld]: %s\n", ts, now.tv_nsec / 1000000,
	    log_cfg.ident, (long)getpid(), msg);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(lvl, fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_WARN, fmt, ap, err);
	va_end(ap);
	errno = err;   /* the caller may report it too */
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

int
log_append_value(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	int plain = n > 0;

	for (i = 0; i < n && plain; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			plain = 0;
	}
	if (plain)
		return buf_append(out, s, n);
	if (buf_append_char(out, '"') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
		int rc;

		if (c == '"' || c == '\\') {
			char pair[2] = { '\\', (char)c };
			rc = buf_append(out, pair, 2);
		} else if (c < ' ' || c == 0x7f)
			rc = buf_append(out, esc, 4);
		else
			rc = buf_append_char(out, (char)c);  /* UTF-8 passes */
		if (rc == -1)
			return -1;
	}
	return buf_append_char(out, '"');
}
