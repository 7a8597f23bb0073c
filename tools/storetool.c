/*
 * tern-storetool: the mailbox store (src/mailbox/store.h) from a shell,
 * for tests and for looking at a folder the way ternd does. Each command
 * syncs the folder first (as a session's login would), then:
 *
 *   tern-storetool sync [-r] [-q] DIR       the folder as JSON (-r read-only,
 *                                           -q without the messages)
 *   tern-storetool time DIR [N]             a cold sync, then N warm ones:
 *                                           milliseconds and which were fast
 *   tern-storetool store [-u MODSEQ] DIR UIDS OP FLAG...
 *                                           STORE: UIDS "1,3,5" or "*", OP one
 *                                           of + - =, FLAG \Seen ... or a keyword
 *   tern-storetool expunge DIR UID...
 *   tern-storetool keyword DIR NAME         the keyword's bit (made if new)
 *   tern-storetool cache-put DIR UID FIELD TEXT
 *   tern-storetool cache-get DIR UID FIELD  (FIELD 0-3: envelope,
 *                                           bodystructure, body, headers)
 *
 * JSON goes to stdout; the exit status is 0, or 1 with the store's error
 * on stderr. It runs as whoever starts it: start it as the mail's owner.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "mailbox/store.h"
#include "proto/maildir_name.h"

static const struct {
	const char *name;
	unsigned bit;
} sysflags[] = {
	{ "\\Draft", MAILDIR_FLAG_DRAFT }, { "\\Flagged", MAILDIR_FLAG_FLAGGED },
	{ "$Passed", MAILDIR_FLAG_PASSED }, { "\\Answered", MAILDIR_FLAG_REPLIED },
	{ "\\Seen", MAILDIR_FLAG_SEEN }, { "\\Deleted", MAILDIR_FLAG_TRASHED },
};

static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int
fail(const char *what, enum mbox_err e)
{
	fprintf(stderr, "tern-storetool: %s: %s\n", what, mbox_strerror(e));
	return 1;
}

static void
print_box(const struct mbox *mb, bool msgs)
{
	size_t i, k;

	printf("{\"uidvalidity\": %lu, \"uidnext\": %lu, \"highestmodseq\": %llu, "
	    "\"vanished_floor\": %llu, \"fast\": %s, \"messages\": %zu, \"new_uids\": %zu, "
	    "\"moved\": %zu, \"keywords\": [", (unsigned long)mb->uidvalidity,
	    (unsigned long)mb->uidnext, (unsigned long long)mb->highestmodseq,
	    (unsigned long long)mb->vanished_floor, mb->fast ? "true" : "false", mb->n,
	    mb->new_uids, mb->moved);
	for (i = 0; i < MBOX_KEYWORDS_MAX; i++) {
		if (i)
			fputs(", ", stdout);
		if (mb->keywords[i])
			json_str(stdout, mb->keywords[i]);
		else
			fputs("null", stdout);
	}
	fputs("], \"vanished\": [", stdout);
	for (i = 0; i < mb->nvanished; i++)
		printf("%s[%lu, %lu, %llu]", i ? ", " : "", (unsigned long)mb->vanished[i].lo,
		    (unsigned long)mb->vanished[i].hi, (unsigned long long)mb->vanished[i].modseq);
	fputs("]", stdout);
	if (msgs) {
		fputs(", \"msgs\": [", stdout);
		for (i = 0; i < mb->n; i++) {
			const struct mbox_msg *m = &mb->msgs[i];
			bool first = true;

			printf("%s\n {\"uid\": %lu, \"modseq\": %llu, \"size\": %llu, \"vsize\": %lld, "
			    "\"date\": %lld, \"recent\": %s, \"in_new\": %s, \"name\": ", i ? "," : "",
			    (unsigned long)m->uid, (unsigned long long)m->modseq,
			    (unsigned long long)m->size,
			    m->vsize == MBOX_VSIZE_UNKNOWN ? -1LL : (long long)m->vsize,
			    (long long)m->internal_date, m->recent ? "true" : "false",
			    m->in_new ? "true" : "false");
			json_str(stdout, m->name);
			fputs(", \"flags\": [", stdout);
			for (k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]); k++) {
				if (m->flags & sysflags[k].bit) {
					printf("%s", first ? "" : ", ");
					json_str(stdout, sysflags[k].name);
					first = false;
				}
			}
			for (k = 0; k < MBOX_KEYWORDS_MAX; k++) {
				if (m->keywords & (1u << k)) {
					char unk[16];

					snprintf(unk, sizeof(unk), "?%c", (char)('a' + k));
					printf("%s", first ? "" : ", ");
					json_str(stdout, mb->keywords[k] ? mb->keywords[k] : unk);
					first = false;
				}
			}
			fputs("]}", stdout);
		}
		fputs("]", stdout);
	}
	puts("}");
}

static size_t
index_of(const struct mbox *mb, uint32_t uid)
{
	size_t i;

	for (i = 0; i < mb->n; i++) {
		if (mb->msgs[i].uid == uid)
			return i;
	}
	return SIZE_MAX;
}

static int
cmd_store(struct mbox *mb, uint64_t unchangedsince, const char *uids, const char *op,
    char **flags, int nflags)
{
	struct mbox_flag_change ch = { .replace = op[0] == '=' };
	size_t *idx = calloc(mb->n + 1, sizeof(size_t)), n = 0, k;
	bool *modified = calloc(mb->n + 1, 1), *gone = calloc(mb->n + 1, 1);
	unsigned fl = 0;
	uint32_t kw = 0;
	enum mbox_err e;
	int i;

	if (idx == NULL || modified == NULL || gone == NULL)
		return fail("store", MBOX_NOMEM);
	for (i = 0; i < nflags; i++) {
		size_t s;
		int bit;

		for (s = 0; s < sizeof(sysflags) / sizeof(sysflags[0]); s++) {
			if (strcasecmp(flags[i], sysflags[s].name) == 0)
				break;
		}
		if (s < sizeof(sysflags) / sizeof(sysflags[0]))
			fl |= sysflags[s].bit;
		else if ((bit = mbox_keyword(mb, flags[i], strlen(flags[i]), op[0] != '-')) >= 0)
			kw |= 1u << bit;
		else if (op[0] != '-') {
			fprintf(stderr, "tern-storetool: keyword %s: no room\n", flags[i]);
			return 1;
		}
	}
	if (op[0] == '-') {
		ch.clear = fl;
		ch.kw_clear = kw;
	} else {
		ch.add = fl;
		ch.kw_add = kw;
	}
	if (strcmp(uids, "*") == 0) {
		for (k = 0; k < mb->n; k++)
			idx[n++] = k;
	} else {
		char *copy = strdup(uids), *tok, *save = NULL;

		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			size_t at = index_of(mb, (uint32_t)strtoul(tok, NULL, 10));

			if (at != SIZE_MAX)
				idx[n++] = at;
		}
		free(copy);
	}
	if ((e = mbox_store(mb, idx, n, &ch, unchangedsince, modified, gone)) != MBOX_OK)
		return fail("store", e);
	printf("{\"highestmodseq\": %llu, \"results\": [", (unsigned long long)mb->highestmodseq);
	for (k = 0; k < n; k++)
		printf("%s{\"uid\": %lu, \"modseq\": %llu, \"modified\": %s, \"gone\": %s}",
		    k ? ", " : "", (unsigned long)mb->msgs[idx[k]].uid,
		    (unsigned long long)mb->msgs[idx[k]].modseq, modified[k] ? "true" : "false",
		    gone[k] ? "true" : "false");
	puts("]}");
	free(idx);
	free(modified);
	free(gone);
	return 0;
}

static int
usage(void)
{
	fputs("usage: tern-storetool sync [-r] [-q] DIR | time DIR [N] |\n"
	    "       store [-u MODSEQ] DIR UIDS +|-|= FLAG... | expunge DIR UID... |\n"
	    "       keyword DIR NAME | cache-put DIR UID FIELD TEXT | cache-get DIR UID FIELD\n",
	    stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	struct mbox_conf conf = { .hostname = "storetool", .lock_timeout = 10 };
	struct mbox mb = { 0 };
	char host[256];
	const char *cmd, *dir;
	bool read_only = false, quiet = false;
	uint64_t unchangedsince = 0;
	enum mbox_err e;
	int a = 2, rc = 0;

	if (argc < 3)
		return usage();
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		conf.hostname = host;
	}
	log_init("tern-storetool", LOG_LVL_INFO, 0);
	cmd = argv[1];
	for (; a < argc && argv[a][0] == '-' && argv[a][1] != '\0'; a++) {
		if (strcmp(argv[a], "-r") == 0)
			read_only = true;
		else if (strcmp(argv[a], "-q") == 0)
			quiet = true;
		else if (strcmp(argv[a], "-u") == 0 && a + 1 < argc)
			unchangedsince = strtoull(argv[++a], NULL, 10);
		else
			return usage();
	}
	if (a >= argc)
		return usage();
	dir = argv[a++];
	if (strcmp(cmd, "time") == 0) {
		int n = a < argc ? atoi(argv[a]) : 3, i;
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((e = mbox_sync(&mb, dir, false, &conf)) != MBOX_OK)
			return fail("sync", e);
		printf("{\"messages\": %zu, \"cold_ms\": %.3f, \"cold_fast\": %s, \"warm\": [",
		    mb.n, ms_since(&t0), mb.fast ? "true" : "false");
		for (i = 0; i < n; i++) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if ((e = mbox_sync(&mb, dir, false, &conf)) != MBOX_OK)
				return fail("sync", e);
			printf("%s{\"ms\": %.3f, \"fast\": %s}", i ? ", " : "", ms_since(&t0),
			    mb.fast ? "true" : "false");
		}
		puts("]}");
		mbox_free(&mb);
		return 0;
	}
	if ((e = mbox_sync(&mb, dir, read_only, &conf)) != MBOX_OK)
		return fail("sync", e);
	if (strcmp(cmd, "sync") == 0)
		print_box(&mb, !quiet);
	else if (strcmp(cmd, "store") == 0 && argc - a >= 2)
		rc = cmd_store(&mb, unchangedsince, argv[a], argv[a + 1], argv + a + 2, argc - a - 2);
	else if (strcmp(cmd, "expunge") == 0) {
		size_t *del = calloc(mb.n + 1, sizeof(size_t)), n = 0, at;

		for (; a < argc; a++) {
			if ((at = index_of(&mb, (uint32_t)strtoul(argv[a], NULL, 10))) != SIZE_MAX)
				del[n++] = at;
		}
		if ((e = mbox_expunge(&mb, del, n, NULL, 0, 0, &conf)) != MBOX_OK)
			rc = fail("expunge", e);
		else
			printf("{\"highestmodseq\": %llu, \"expunged\": %zu}\n",
			    (unsigned long long)mb.highestmodseq, n);
		free(del);
	} else if (strcmp(cmd, "keyword") == 0 && a < argc) {
		printf("{\"bit\": %d}\n", mbox_keyword(&mb, argv[a], strlen(argv[a]), true));
	} else if (strcmp(cmd, "cache-put") == 0 && argc - a == 3) {
		size_t at = index_of(&mb, (uint32_t)strtoul(argv[a], NULL, 10));

		if (at == SIZE_MAX ||
		    mbox_cache_put(&mb, at, (enum mbox_cache_field)atoi(argv[a + 1]), argv[a + 2],
		    strlen(argv[a + 2])) == -1)
			rc = 1;
		mbox_cache_flush(&mb);
	} else if (strcmp(cmd, "cache-get") == 0 && argc - a == 2) {
		size_t at = index_of(&mb, (uint32_t)strtoul(argv[a], NULL, 10));
		struct buf b = BUF_INIT;

		if (at != SIZE_MAX && mbox_cache_get(&mb, at, (enum mbox_cache_field)atoi(argv[a + 1]), &b)) {
			fputs("{\"found\": true, \"text\": ", stdout);
			json_str(stdout, buf_cstr(&b));
			puts("}");
		} else
			puts("{\"found\": false}");
		buf_release(&b);
	} else
		rc = usage();
	mbox_free(&mb);
	return rc;
}
