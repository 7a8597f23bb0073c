/*
 * config_reload: what a reload may not change. Pure: ternd calls it on
 * the configuration it just parsed, before anything is switched.
 */
#include "config.h"

#include <string.h>

/*
 * Why each is fixed at start:
 * - data_dir, run_as, sandbox, control_socket: the directories given to
 *   run_as, the Landlock rules and the control socket were set up as root,
 *   before privileges were dropped.
 * - users_file, aliases_file, tls_cert, tls_key, dkim_key: the keeper got
 *   these paths (and loaded the DKIM keys) when it was forked; it re-reads
 *   the same files on every reload.
 * - io_threads, commit_sync, auth_fail_table_size, dmarc_reports: the I/O
 *   pool, the commit mode of commits in flight, the counter tables and the
 *   report sender are made once.
 * - resolver: libunbound's context is made once.
 * - log_syslog, log_debug: the log's settings are read by every thread
 *   without a lock.
 * - metrics_listen, metrics_listen_any: the endpoint is bound once, with
 *   the mail listeners, before the sandbox.
 */
#define KEEP_STR(field, key) do { \
	if (strcmp(run->field, next->field) != 0) { \
		memcpy(next->field, run->field, sizeof(next->field)); \
		kept++; \
		buf_printf(notes, "%s: needs a restart, unchanged\n", key); \
	} \
} while (0)
#define KEEP_VAL(field, key) do { \
	if (run->field != next->field) { \
		next->field = run->field; \
		kept++; \
		buf_printf(notes, "%s: needs a restart, unchanged\n", key); \
	} \
} while (0)

static bool
same_dkim(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->ndkim != b->ndkim)
		return false;
	for (i = 0; i < a->ndkim; i++) {
		if (strcmp(a->dkim[i].domain, b->dkim[i].domain) != 0 ||
		    strcmp(a->dkim[i].selector, b->dkim[i].selector) != 0 ||
		    strcmp(a->dkim[i].path, b->dkim[i].path) != 0)
			return false;
	}
	return true;
}

size_t
config_keep_fixed(const struct config *run, struct config *next, struct buf *notes)
{
	size_t kept = 0;

	KEEP_STR(data_dir, "data_dir");
	KEEP_STR(run_as, "run_as");
	KEEP_VAL(sandbox, "sandbox");
	KEEP_STR(control_socket, "control_socket");
	KEEP_STR(users_file, "users_file");
	KEEP_STR(aliases_file, "aliases_file");
	KEEP_STR(tls_cert, "tls_cert");
	KEEP_STR(tls_key, "tls_key");
	KEEP_VAL(io_threads, "io_threads");
	KEEP_VAL(commit_syncfs, "commit_sync");
	KEEP_VAL(auth_fail_table_size, "auth_fail_table_size");
	KEEP_VAL(dmarc_reports, "dmarc_reports");
	KEEP_STR(resolver, "resolver");
	KEEP_VAL(log_syslog, "log_syslog");
	KEEP_VAL(log_debug, "log_debug");
	KEEP_STR(metrics_host, "metrics_listen");
	KEEP_VAL(metrics_port, "metrics_listen");
	KEEP_VAL(metrics_listen_any, "metrics_listen_any");
	if (!same_dkim(run, next)) {
		memcpy(next->dkim, run->dkim, sizeof(next->dkim));
		next->ndkim = run->ndkim;
		kept++;
		buf_printf(notes, "dkim_key: needs a restart, unchanged\n");
	}
	return kept;
}
