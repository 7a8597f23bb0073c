/*
 * ctl_trace: "ternctl trace" (see the header).
 *
 *   ternctl [-c CONFIG] trace ID|ADDRESS|@DOMAIN|<MESSAGE-ID>
 *       [--since TIME] [--log FILE|-] [--journal] [--json]
 *
 * The log is read three times, keeping only what matches: a message's
 * recipients are known only from its delivery lines, which come after its
 * session's lines, so one pass finds the messages, the next the sessions
 * that submitted them, the last prints. A source that cannot be read
 * again (a pipe, journalctl) is copied to a temporary file first.
 *
 * Messages: by ID the one message; by ADDRESS (or @DOMAIN) every message
 * whose sender (queued from=) or a recipient (delivery to= or orig_to=)
 * is it (in it); by <MESSAGE-ID> the queued msgid=. Then every
 * notification they caused (event=dsn dsn_id=), and its own, and so on.
 * Sessions: the sid= of each of those messages' queued line, as numbered
 * by the ternd that logged it (the numbers start again at each
 * event=started); their lines without an id (connect, tls, auth, checks,
 * rejects, disconnect) are shown with the message's.
 */
#include "ctl_trace.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/logline.h"

#define QUERY_MAX 1024

/* A set of strings: open addressing, grown at half full. */
struct strset {
	char **slot;
	size_t cap, n;
};

enum qkind { Q_ID, Q_ADDR, Q_DOMAIN, Q_MSGID };

struct link {
	char *orig, *dsn;
};

struct out_line {
	int64_t ms;
	size_t seq;
	char *text;
};

struct trace {
	enum qkind kind;
	char q[QUERY_MAX];       /* the id, address, domain, or Message-ID
	                          * without its angle brackets */
	size_t qlen;
	bool json;
	bool have_since;
	int64_t since_ms;
	int64_t now_ms;
	struct strset ids;       /* the messages traced */
	struct strset sessions;  /* "EPOCH:SID" of their sessions */
	struct link *links;      /* every notification: which message made it */
	size_t nlinks;
	struct out_line *out;
	size_t nout, capout;
	bool all_timed;          /* every line shown has a time: sort by it */
	size_t unparsed;
	struct logline l;
};

static int
usage(void)
{
	fprintf(stderr, "usage: ternctl [-c FILE] trace ID|ADDRESS|@DOMAIN|<MESSAGE-ID> "
	    "[--since TIME] [--log FILE|-] [--journal] [--json]\n");
	return 2;
}

/* ---------------------------------------------------------------- sets */

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool
set_has(const struct strset *s, const char *k)
{
	size_t i;

	if (s->cap == 0)
		return false;
	for (i = hash(k) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (strcmp(s->slot[i], k) == 0)
			return true;
	return false;
}

/* 1 added, 0 already there, -1 out of memory. */
static int
set_add(struct strset *s, const char *k)
{
	size_t i;

	if (set_has(s, k))
		return 0;
	if (2 * (s->n + 1) > s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 64, j;
		char **ns = calloc(ncap, sizeof(*ns));

		if (ns == NULL)
			return -1;
		for (j = 0; j < s->cap; j++) {
			if (s->slot[j] == NULL)
				continue;
			for (i = hash(s->slot[j]) & (ncap - 1); ns[i]; i = (i + 1) & (ncap - 1))
				;
			ns[i] = s->slot[j];
		}
		free(s->slot);
		s->slot = ns;
		s->cap = ncap;
	}
	for (i = hash(k) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		;
	if ((s->slot[i] = str_dup(k)) == NULL)
		return -1;
	s->n++;
	return 1;
}

static void
set_free(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

/* ------------------------------------------------------------ matching */

/* v without the angle brackets around it (addresses, Message-IDs). */
static void
unbracket(const char **v, size_t *n)
{
	if (*n >= 2 && (*v)[0] == '<' && (*v)[*n - 1] == '>') {
		(*v)++;
		*n -= 2;
	}
}

/* Does the address value v (as logged: <a@b>) match the query? */
static bool
addr_matches(const struct trace *t, const char *v, size_t n)
{
	const char *at;

	if (v == NULL)
		return false;
	unbracket(&v, &n);
	if (t->kind == Q_ADDR)
		return n == t->qlen && strncasecmp(v, t->q, n) == 0;
	at = memrchr(v, '@', n);
	return at && (size_t)(v + n - at - 1) == t->qlen &&
	    strncasecmp(at + 1, t->q, t->qlen) == 0;
}

/* Does this line make its message one of those traced? */
static bool
line_matches(const struct trace *t, const struct logline *l, const char *ev)
{
	const char *v;
	size_t n = 0;

	switch (t->kind) {
	case Q_ID:
		v = logline_get(l, "id", &n);
		return v && n == t->qlen && strncasecmp(v, t->q, n) == 0;
	case Q_MSGID:
		if (strcmp(ev, "queued") != 0 || (v = logline_get(l, "msgid", &n)) == NULL)
			return false;
		unbracket(&v, &n);
		return n == t->qlen && memcmp(v, t->q, n) == 0;
	case Q_ADDR:
	case Q_DOMAIN:
		if (strcmp(ev, "queued") == 0) {
			v = logline_get(l, "from", &n);
			return addr_matches(t, v, n);
		}
		if (strcmp(ev, "delivery") != 0)
			return false;
		v = logline_get(l, "to", &n);
		if (addr_matches(t, v, n))
			return true;
		v = logline_get(l, "orig_to", &n);
		return addr_matches(t, v, n);
	}
	return false;
}

/* ------------------------------------------------------------ the time */

/* A line's time in ms since the epoch; false when it has none. A syslog
 * time has no year (this one, or last year's if that puts it in the
 * future) and no zone (local time), and neither has a zone-less ISO one. */
static bool
line_ms(const struct trace *t, const struct logline_time *lt, int64_t *ms)
{
	struct tm tm;
	time_t s;
	int pass;

	if (!lt->have)
		return false;
	if (logline_time_ms(lt, ms))
		return true;
	for (pass = 0; pass < 2; pass++) {
		memset(&tm, 0, sizeof(tm));
		if (lt->have_year)
			tm.tm_year = lt->year - 1900;
		else {
			time_t now = (time_t)(t->now_ms / 1000);
			struct tm nt;

			localtime_r(&now, &nt);
			tm.tm_year = nt.tm_year - pass;
		}
		tm.tm_mon = lt->mon - 1;
		tm.tm_mday = lt->day;
		tm.tm_hour = lt->hour;
		tm.tm_min = lt->min;
		tm.tm_sec = lt->sec;
		tm.tm_isdst = -1;
		if ((s = mktime(&tm)) == (time_t)-1)
			return false;
		if (lt->have_zone) {
			/* a zone but no year cannot be written; be exact anyway */
			s = timegm(&tm) - (time_t)lt->zone_min * 60;
		}
		*ms = (int64_t)s * 1000 + lt->msec;
		if (lt->have_year || *ms <= t->now_ms + 86400 * 1000LL)
			return true;
	}
	return true;
}

/*
 * --since: "2h" (also s, m, d) ago, a date "YYYY-MM-DD" (its midnight,
 * local time), "YYYY-MM-DD HH:MM:SS" (local), or ISO 8601 with Z or an
 * offset.
 */
static int
since_parse(struct trace *t, const char *s)
{
	struct logline_time lt;
	char full[64];
	size_t n = strlen(s), used;
	char *end;
	long long v;

	if (n > 0 && strchr("smhd", s[n - 1]) && s[0] != '-') {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && end == s + n - 1 && end != s && v >= 0 && v < 100000000) {
			long long unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 :
			    s[n - 1] == 'h' ? 3600 : 86400;

			t->since_ms = t->now_ms - v * unit * 1000;
			return 0;
		}
	}
	if (n == 10 && str_fmt(full, sizeof(full), "%s 00:00:00", s) == 0)
		s = full;
	n = strlen(s);
	used = logline_parse_time(s, n, &lt);
	if (used != n || !lt.have_year)
		return -1;
	return line_ms(t, &lt, &t->since_ms) ? 0 : -1;
}

/* ------------------------------------------------------------- output */

/* Terminal-safe: ternd's free text, control octets as \xHH. */
static void
append_text(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < ' ' || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_append_char(b, (char)c);
	}
}

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;

	while (i < n) {
		unsigned char c = s[i];
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* A JSON string; octets of a value that is not UTF-8 as U+0080..U+00FF. */
static void
append_json(struct buf *b, const char *s, size_t n)
{
	bool utf8 = utf8_valid((const unsigned char *)s, n);
	size_t i;

	buf_append_char(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf_append_char(b, '\\');
			buf_append_char(b, (char)c);
		} else if (c < ' ' || c == 0x7f || (c >= 0x80 && !utf8))
			buf_printf(b, "\\u%04x", c);
		else
			buf_append_char(b, (char)c);
	}
	buf_append_char(b, '"');
}

/* One event: "TIME  EVENT  key=value ..." or a JSON object. */
static int
format_line(const struct trace *t, const struct logline *l, const char *ev,
    struct buf *b)
{
	size_t i;

	if (t->json) {
		buf_append_str(b, "{\"time\":");
		append_json(b, l->stamp ? l->stamp : "", l->stamp_len);
		buf_append_str(b, ",\"event\":");
		append_json(b, ev, strlen(ev));
		for (i = 0; i < l->nfields; i++) {
			if (strcmp(l->f[i].key, "event") == 0)
				continue;
			buf_append_char(b, ',');
			append_json(b, l->f[i].key, l->f[i].klen);
			buf_append_char(b, ':');
			append_json(b, l->f[i].val, l->f[i].vlen);
		}
		if (l->rest_len) {
			buf_append_str(b, ",\"text\":");
			append_json(b, l->rest, l->rest_len);
		}
		buf_append_char(b, '}');
	} else {
		if (l->stamp_len)
			append_text(b, l->stamp, l->stamp_len);
		else
			buf_append_char(b, '-');
		buf_printf(b, "  %-10s ", ev);
		for (i = 0; i < l->nfields; i++) {
			if (strcmp(l->f[i].key, "event") == 0)
				continue;
			buf_printf(b, " %s=", l->f[i].key);
			/* the log's own escaping, so nothing reaches the terminal raw */
			log_append_value(b, l->f[i].val, l->f[i].vlen);
		}
		if (l->rest_len) {
			buf_append_char(b, ' ');
			append_text(b, l->rest, l->rest_len);
		}
	}
	return buf_append_char(b, '\n');
}

static int
keep_line(struct trace *t, const struct logline *l, const char *ev, size_t seq)
{
	struct buf b = BUF_INIT;
	struct out_line *o;
	int64_t ms = 0;
	bool timed = line_ms(t, &l->t, &ms);

	if (t->have_since && timed && ms < t->since_ms)
		return 0;
	if (t->nout == t->capout) {
		size_t ncap = t->capout ? 2 * t->capout : 64;
		struct out_line *no = realloc(t->out, ncap * sizeof(*no));

		if (no == NULL)
			return -1;
		t->out = no;
		t->capout = ncap;
	}
	if (format_line(t, l, ev, &b) == -1) {
		buf_release(&b);
		return -1;
	}
	if (!timed)
		t->all_timed = false;
	o = &t->out[t->nout++];
	o->ms = ms;
	o->seq = seq;
	o->text = b.data;
	return 0;
}

static int
out_cmp(const void *a, const void *b)
{
	const struct out_line *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* -------------------------------------------------------------- passes */

enum pass { P_MATCH, P_SESSIONS, P_PRINT };

static int
add_link(struct trace *t, const char *orig, const char *dsn)
{
	struct link *nl = realloc(t->links, (t->nlinks + 1) * sizeof(*nl));

	if (nl == NULL)
		return -1;
	t->links = nl;
	nl[t->nlinks].orig = str_dup(orig);
	nl[t->nlinks].dsn = str_dup(dsn);
	if (nl[t->nlinks].orig == NULL || nl[t->nlinks].dsn == NULL) {
		free(nl[t->nlinks].orig);
		free(nl[t->nlinks].dsn);
		return -1;
	}
	t->nlinks++;
	return 0;
}

/* The notifications of the messages traced, and theirs, are traced too. */
static int
follow_links(struct trace *t)
{
	bool grew = true;
	size_t i;
	int rc;

	while (grew) {
		grew = false;
		for (i = 0; i < t->nlinks; i++) {
			if (!set_has(&t->ids, t->links[i].orig))
				continue;
			if ((rc = set_add(&t->ids, t->links[i].dsn)) == -1)
				return -1;
			grew |= rc == 1;
		}
	}
	return 0;
}

/* One line in one pass; epoch counts the ternd starts seen so far. */
static int
one_line(struct trace *t, enum pass p, const char *line, size_t len,
    unsigned *epoch, size_t seq)
{
	struct logline *l = &t->l;
	const char *id, *ev, *sid, *dsn;
	char key[64];
	size_t n;

	if (logline_parse(line, len, l) != LOGLINE_OK) {
		if (p == P_MATCH)
			t->unparsed++;
		return 0;
	}
	if (l->prog_len && !(l->prog_len == 5 && memcmp(l->prog, "ternd", 5) == 0))
		return 0;
	id = logline_get(l, "id", &n);
	if (id && strlen(id) != n)
		id = NULL;   /* a NUL in it: no id of ours */
	ev = logline_get(l, "event", NULL);
	sid = logline_get(l, "sid", NULL);
	dsn = logline_get(l, "dsn_id", NULL);
	if (ev && strcmp(ev, "started") == 0)
		(*epoch)++;
	if (sid && str_fmt(key, sizeof(key), "%u:%s", *epoch, sid) == -1)
		sid = NULL;
	switch (p) {
	case P_MATCH:
		if (id && ev && dsn && strcmp(ev, "dsn") == 0 && add_link(t, id, dsn) == -1)
			return -1;
		if (id && line_matches(t, l, ev ? ev : "") && set_add(&t->ids, id) == -1)
			return -1;
		return 0;
	case P_SESSIONS:
		if (id && sid && ev && strcmp(ev, "queued") == 0 && strcmp(sid, "0") != 0 &&
		    set_has(&t->ids, id))
			return set_add(&t->sessions, key) == -1 ? -1 : 0;
		return 0;
	case P_PRINT:
		if ((id && set_has(&t->ids, id)) || (dsn && set_has(&t->ids, dsn)) ||
		    (id == NULL && sid && set_has(&t->sessions, key)))
			return keep_line(t, l, ev ? ev : "-", seq);
		return 0;
	}
	return 0;
}

static int
run_pass(struct trace *t, enum pass p, FILE *f)
{
	char *line = NULL;
	size_t cap = 0, seq = 0;
	unsigned epoch = 0;
	ssize_t n;
	int rc = 0;

	rewind(f);
	while (rc == 0 && (n = getline(&line, &cap, f)) != -1)
		rc = one_line(t, p, line, (size_t)n, &epoch, seq++);
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "ternctl: reading the log: %s\n", strerror(errno));
		rc = -1;
	}
	free(line);
	return rc;
}

/* -------------------------------------------------------------- source */

static bool
have_journalctl(void)
{
	return access("/usr/bin/journalctl", X_OK) == 0 || access("/bin/journalctl", X_OK) == 0;
}

/* A copy of what f holds that can be read again. */
static FILE *
spool(FILE *f)
{
	FILE *tmp = tmpfile();
	char chunk[65536];
	size_t n;

	if (tmp == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (fwrite(chunk, 1, n, tmp) != n) {
			fclose(tmp);
			return NULL;
		}
	}
	if (ferror(f) || fflush(tmp) != 0) {
		fclose(tmp);
		return NULL;
	}
	return tmp;
}

/* journalctl's lines of ternd, with their full time (docs/trace.md). */
static FILE *
open_journal(const struct trace *t)
{
	char cmd[160];
	FILE *p, *f;
	int st;

	if (t->have_since)
		str_fmt(cmd, sizeof(cmd), "journalctl -q --no-pager -t ternd "
		    "-o short-iso-precise --since=@%lld", (long long)(t->since_ms / 1000));
	else
		str_fmt(cmd, sizeof(cmd), "journalctl -q --no-pager -t ternd -o short-iso-precise");
	if ((p = popen(cmd, "r")) == NULL) {
		fprintf(stderr, "ternctl: cannot run journalctl: %s\n", strerror(errno));
		return NULL;
	}
	f = spool(p);
	st = pclose(p);
	if (f == NULL || st != 0) {
		fprintf(stderr, "ternctl: journalctl failed (exit %d)\n",
		    st == -1 ? -1 : WEXITSTATUS(st));
		if (f)
			fclose(f);
		return NULL;
	}
	return f;
}

/* Where ternd's log is when --log and --journal are not given. */
static FILE *
open_default(const struct trace *t, const char *config)
{
	struct config cfg;
	struct buf errs = BUF_INIT;
	bool syslog;
	FILE *f;

	config_defaults(&cfg);
	syslog = config_load(&cfg, config, &errs) == 0 && cfg.log_syslog;
	buf_release(&errs);
	if (syslog) {
		if (have_journalctl())
			return open_journal(t);
		if ((f = fopen("/var/log/mail.log", "r")) == NULL)
			fprintf(stderr, "ternctl: /var/log/mail.log: %s\n", strerror(errno));
		return f;
	}
	if (!isatty(STDIN_FILENO))
		return spool(stdin);
	fprintf(stderr, "ternctl: ternd logs to its standard error here (log_syslog is "
	    "off in %s): name the file it goes to with --log FILE, or pipe it in\n", config);
	return NULL;
}

static FILE *
open_source(const struct trace *t, const char *config, const char *log, bool journal)
{
	FILE *f;

	if (journal)
		return open_journal(t);
	if (log == NULL)
		return open_default(t, config);
	if (strcmp(log, "-") == 0)
		return spool(stdin);
	if ((f = fopen(log, "r")) == NULL) {
		fprintf(stderr, "ternctl: %s: %s\n", log, strerror(errno));
		return NULL;
	}
	/* a FIFO or /dev/stdin cannot be read three times */
	if (fseeko(f, 0, SEEK_END) == -1 || fseeko(f, 0, SEEK_SET) == -1) {
		FILE *tmp = spool(f);

		fclose(f);
		return tmp;
	}
	return f;
}

/* ---------------------------------------------------------------- main */

static int
query_parse(struct trace *t, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(t->q))
		return -1;
	if (s[0] == '<') {
		t->kind = Q_MSGID;
		unbracket(&s, &n);
	} else if (s[0] == '@') {
		t->kind = Q_DOMAIN;
		s++;
		n--;
	} else if (strchr(s, '@'))
		t->kind = Q_ADDR;
	else
		t->kind = Q_ID;
	if (n == 0)
		return -1;
	memcpy(t->q, s, n);
	t->q[n] = '\0';
	t->qlen = n;
	return 0;
}

static void
trace_free(struct trace *t)
{
	size_t i;

	set_free(&t->ids);
	set_free(&t->sessions);
	for (i = 0; i < t->nlinks; i++) {
		free(t->links[i].orig);
		free(t->links[i].dsn);
	}
	free(t->links);
	for (i = 0; i < t->nout; i++)
		free(t->out[i].text);
	free(t->out);
	free(t);
}

int
ctl_trace(const char *config, int argc, char **argv)
{
	struct trace *t;
	const char *log = NULL, *what = NULL, *since = NULL;
	bool journal = false;
	struct timespec now;
	FILE *f = NULL;
	size_t i;
	int k, rc = 2;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return 2;
	clock_gettime(CLOCK_REALTIME, &now);
	t->now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	t->all_timed = true;
	for (k = 0; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			t->json = true;
		else if (strcmp(argv[k], "--journal") == 0)
			journal = true;
		else if (strcmp(argv[k], "--log") == 0 && k + 1 < argc)
			log = argv[++k];
		else if (strcmp(argv[k], "--since") == 0 && k + 1 < argc)
			since = argv[++k];
		else if (what == NULL && (argv[k][0] != '-' || argv[k][1] == '\0'))
			what = argv[k];
		else
			goto usage;
	}
	if (what == NULL || (journal && log) || query_parse(t, what) == -1)
		goto usage;
	if (since) {
		if (since_parse(t, since) == -1) {
			fprintf(stderr, "ternctl: bad --since %s (2h, 30m, 1d, YYYY-MM-DD, "
			    "YYYY-MM-DD HH:MM:SS, or ISO 8601 with a zone)\n", since);
			goto out;
		}
		t->have_since = true;
	}
	if ((f = open_source(t, config, log, journal)) == NULL)
		goto out;
	if (run_pass(t, P_MATCH, f) == -1 || follow_links(t) == -1 ||
	    run_pass(t, P_SESSIONS, f) == -1 || run_pass(t, P_PRINT, f) == -1)
		goto out;
	/* One source is in time order already; sorting by the time keeps it
	 * when clocks or threads interleave lines of the same millisecond. */
	if (t->all_timed)
		qsort(t->out, t->nout, sizeof(*t->out), out_cmp);
	for (i = 0; i < t->nout; i++)
		fputs(t->out[i].text, stdout);
	if (t->unparsed)
		fprintf(stderr, "ternctl: %zu line(s) of the log not understood, skipped\n",
		    t->unparsed);
	if (t->nout == 0)
		fprintf(stderr, "ternctl: nothing in the log for %s\n", what);
	rc = t->nout > 0 ? 0 : 1;
	goto out;
usage:
	rc = usage();
out:
	if (f)
		fclose(f);
	trace_free(t);
	return rc;
}
