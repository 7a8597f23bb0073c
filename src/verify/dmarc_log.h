/*
 * dmarc_log: the daily DMARC results file (docs/dmarc-reports.md), one
 * line appended per message whose From domain publishes a policy, for the
 * aggregate reports sent the next day (daemon/dmarc_send.c).
 */
#ifndef TERN_DMARC_LOG_H
#define TERN_DMARC_LOG_H

#include "../proto/dmarc_report.h"

/* DATA_DIR/dmarc/YYYY-MM-DD.log of the UTC day of unix time t. */
int dmarc_log_path(const char *data_dir, int64_t t, char *out, size_t outsize);

/*
 * Appends r's line to its day's file with one write(2) on an O_APPEND
 * descriptor, so lines of concurrent writers never interleave and a crash
 * leaves at most one torn last line, which the reader skips. Not synced:
 * the reports are statistics, not mail. 0, or -1 with errno.
 */
int dmarc_log_append(const char *data_dir, const struct dmarc_report_result *r);

#endif
