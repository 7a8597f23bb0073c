/*
 * queue_state: the state file's records (see queue_state.h).
 *
 * The decoder accepts what the sscanf-based reader of earlier versions
 * accepted, so files already on disk read the same: after the record's
 * letter, blanks are optional; numbers are decimal with an optional sign,
 * converted as strtoul/strtoll do (a negative index wraps and so names no
 * recipient); "d"/"f" and the version line need their "\n" right after
 * the number, "t" and "w" take whatever follows it.
 */
#include "queue_state.h"

#include <stdlib.h>
#include <string.h>

int
queue_state_encode(const struct queue_state_update *u, struct buf *out)
{
	const struct envelope *env = u->env;
	size_t i;
	int rc = 0;

	if (u->new_file)
		rc |= buf_printf(out, "tern-state %d\n", QUEUE_STATE_VERSION);
	for (i = 0; i < env->nrcpts; i++) {
		if (!u->tried[i] || env->rcpts[i].state == RCPT_PENDING)
			continue;
		rc |= buf_printf(out, "%c %zu\n",
		    env->rcpts[i].state == RCPT_DELIVERED ? 'd' : 'f', i);
	}
	/* When to try next and how often it was tried, so a restart keeps
	 * the schedule instead of retrying the whole queue at once. */
	rc |= buf_printf(out, "t %lld %u\n", (long long)u->next_try, u->attempts);
	/* The delay warning went out: a restart must not send another. */
	if (u->warned)
		rc |= buf_printf(out, "w %lld\n", (long long)u->now);
	return rc == 0 ? 0 : -1;
}

/* An optionally signed decimal after optional blanks, as strtoul reads
 * it; *end_r is where it stopped. False when there is no digit. */
static bool
scan_ulong(const char *p, unsigned long *v_r, const char **end_r)
{
	char *end;

	*v_r = strtoul(p, &end, 10);
	*end_r = end;
	return end != p;
}

static bool
scan_llong(const char *p, long long *v_r, const char **end_r)
{
	char *end;

	*v_r = strtoll(p, &end, 10);
	*end_r = end;
	return end != p;
}

/* "tern-state V\n"; *version_r is set once V reads, even when something
 * else than "\n" follows it (then the line is no version line, but the
 * version stands, as before). */
static bool
version_line(const char *line, unsigned *version_r)
{
	static const char tag[] = "tern-state";
	unsigned long v;
	const char *end;

	if (strncmp(line, tag, sizeof(tag) - 1) != 0 ||
	    !scan_ulong(line + sizeof(tag) - 1, &v, &end))
		return false;
	*version_r = (unsigned)v;
	return *end == '\n';
}

static void
record_line(const char *line, struct envelope *env, struct queue_state *st)
{
	const char *end;
	unsigned long idx, att;
	long long when;

	switch (line[0]) {
	case 'd':
	case 'f':
		if (scan_ulong(line + 1, &idx, &end) && *end == '\n' &&
		    idx < env->nrcpts)
			env->rcpts[idx].state = line[0] == 'd' ? RCPT_DELIVERED :
			    RCPT_FAILED;
		break;
	case 't':
		if (scan_llong(line + 1, &when, &end) && scan_ulong(end, &att, &end)) {
			st->next_try = (int64_t)when;
			st->attempts = (unsigned)att;
		}
		break;
	case 'w':
		if (scan_llong(line + 1, &when, &end))
			st->warned = true;
		break;
	default:
		break;
	}
}

int
queue_state_decode(const char *data, size_t len, struct envelope *env,
    struct queue_state *st)
{
	char line[QUEUE_STATE_LINE_MAX + 1];
	size_t off = 0;
	bool first = true;

	memset(st, 0, sizeof(*st));
	st->version = 1;
	while (off < len) {
		size_t avail = len - off, n;
		const char *nl = memchr(data + off, '\n',
		    avail < QUEUE_STATE_LINE_MAX ? avail : QUEUE_STATE_LINE_MAX);

		if (nl == NULL)
			break;
		n = (size_t)(nl - (data + off)) + 1;
		if (memchr(data + off, '\0', n) != NULL)
			break;
		memcpy(line, data + off, n);
		line[n] = '\0';
		off += n;
		if (first) {
			first = false;
			if (version_line(line, &st->version))
				continue;
		}
		record_line(line, env, st);
	}
	/* Records of a later version are not guessed at. */
	return st->version > QUEUE_STATE_VERSION ? -1 : 0;
}
