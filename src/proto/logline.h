/*
 * logline: one line of tern's own log read back (docs/logging.md), for
 * `ternctl trace`. Pure: bytes in, a struct out; no I/O, no libc state.
 *
 * A line is an optional prefix and a body of key=value fields:
 *
 *   2026-12-02T10:00:00.123Z ternd[42]: id=X event=queued sid=1 ...
 *       (ternd on stderr)
 *   2026-12-02T10:00:00.123456+0100 host ternd[42]: id=X ...
 *       (journalctl -o short-iso-precise; rsyslog's RFC 3339 files)
 *   Dec  2 10:00:00 host ternd[42]: id=X ...
 *       (traditional syslog files: no year, no zone)
 *   id=X event=queued ...
 *       (journalctl -o cat: the body alone)
 *
 * A value is bare (no blank, quote or backslash in it) or in double
 * quotes with the escapes log_append_value() writes (\" \\ \xHH), which
 * are undone here. What follows the last field and is not key=value (a
 * log_warn's "queue: write: No space left on device") is kept raw as the
 * line's rest.
 */
#ifndef TERN_LOGLINE_H
#define TERN_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ternd's lines are under 4.2 KiB (a 4 KiB message and its prefix); a
 * syslog prefix adds a host name. */
#define LOGLINE_MAX 8192
#define LOGLINE_MAX_FIELDS 64

enum logline_err {
	LOGLINE_OK = 0,
	LOGLINE_E_TOO_LONG,   /* longer than LOGLINE_MAX */
	LOGLINE_E_FIELDS,     /* more than LOGLINE_MAX_FIELDS fields */
	LOGLINE_E_QUOTE,      /* a quoted value without its closing quote, or
	                         something other than a blank right after it */
	LOGLINE_E_ESCAPE,     /* a backslash not followed by ", \ or xHH */
};

/* A timestamp as written: what the line says, nothing assumed. */
struct logline_time {
	bool have;          /* the line has a timestamp */
	bool have_year;     /* traditional syslog has none */
	bool have_zone;     /* Z or an offset; else it is local time */
	int year, mon, day; /* mon 1..12, day 1..31 */
	int hour, min, sec; /* sec 0..60 */
	int msec;           /* 0..999, from any fraction */
	int zone_min;       /* offset east of UTC, minutes */
};

struct logline_field {
	const char *key;    /* NUL-terminated, in the struct's own storage */
	size_t klen;
	const char *val;    /* unescaped, NUL-terminated (may hold NULs: vlen) */
	size_t vlen;
};

struct logline {
	struct logline_time t;
	/* These point into the line given, not terminated; length 0: none. */
	const char *stamp;  /* the timestamp's text */
	size_t stamp_len;
	const char *host;
	size_t host_len;
	const char *prog;   /* "ternd" */
	size_t prog_len;
	long pid;           /* -1: none */
	const char *rest;   /* the body after the fields, raw */
	size_t rest_len;
	size_t nfields;
	struct logline_field f[LOGLINE_MAX_FIELDS];
	/* keys and values, unescaped: never longer than the line, plus a NUL
	 * after each */
	char store[LOGLINE_MAX + 2 * LOGLINE_MAX_FIELDS];
};

/*
 * Parses line (len octets; a trailing CR or LF is ignored). On an error
 * out holds nothing usable.
 */
enum logline_err logline_parse(const char *line, size_t len, struct logline *out);

/* The value of the first field named key, or NULL (*vlen_r: its length). */
const char *logline_get(const struct logline *l, const char *key, size_t *vlen_r);

/*
 * A timestamp at the start of s: ISO 8601 "YYYY-MM-DD[T ]HH:MM:SS[.frac]
 * [Z|+HH:MM|+HHMM]" or syslog's "Mmm dd HH:MM:SS". Returns the octets it
 * took, 0 when s does not start with one (t->have is then false).
 */
size_t logline_parse_time(const char *s, size_t len, struct logline_time *t);

/*
 * Milliseconds since the epoch of a timestamp that has its year and zone;
 * false otherwise (the caller supplies them from the local clock).
 */
bool logline_time_ms(const struct logline_time *t, int64_t *ms_r);

#endif
